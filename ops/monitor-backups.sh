#!/usr/bin/env bash
# monitor-backups.sh: alerts when PixelCraft's backups are not healthy.
# Installed as /usr/local/lib/pixelcraft/monitor-backups.sh; run hourly from
# cron (ops/backup.cron) or by any monitoring system (exit status 0 = OK,
# 1 = alert, 2 = usage error). See ops/BACKUP_RESTORE.md.
#
#   monitor-backups.sh [--env-file FILE] [--verify]
#
# Alerts when: BACKUP_DIR is missing or holds no complete set; the newest set
# is older than BACKUP_MAX_AGE_HOURS; its manifest is malformed or lacks a
# file; a file is missing, has another size than its manifest says, or is
# smaller than the configured minimum (an implausibly small dump means an
# empty or broken database). --verify also checks every file's SHA-256.
# An alert is one line per problem on stderr and exit status 1; if
# ALERT_EMAIL is set and `mail` exists, the same text is mailed. OK prints
# one line on stdout.
#
# Configuration (environment, or KEY=VALUE lines of --env-file; the
# environment wins):
#   BACKUP_DIR                 default /var/backups/pixelcraft
#   BACKUP_NAME_PREFIX         default pixelcraft
#   BACKUP_MAX_AGE_HOURS       default 26 (daily timer + random delay + slack)
#   BACKUP_MIN_POSTGRES_BYTES  default 8192 (an empty PixelCraft schema dumps to
#                              about 12 kB; set it to about half your usual size)
#   BACKUP_MIN_REDIS_BYTES     default 100
#   ALERT_EMAIL                mail alerts to this address (optional)
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
problems=()
alert() { problems+=("$*"); }

load_env_file() {
	local file=$1 line key value
	[[ -r $file ]] || { echo "monitor-backups: cannot read env file $file" >&2; exit 2; }
	while IFS= read -r line || [[ -n $line ]]; do
		line=${line#"${line%%[![:space:]]*}"}
		[[ -z $line || $line == \#* || $line == \;* || $line != *=* ]] && continue
		key=${line%%=*} value=${line#*=}
		key=${key%"${key##*[![:space:]]}"}
		[[ $key =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
		if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
		[[ -n ${!key+set} ]] || export "$key=$value"
	done <"$file"
}

VERIFY=""
while (($#)); do
	case $1 in
	--env-file) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; load_env_file "$2"; shift ;;
	--verify) VERIFY=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "monitor-backups: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

DIR=${BACKUP_DIR:-/var/backups/pixelcraft}
PREFIX=${BACKUP_NAME_PREFIX:-pixelcraft}
MAX_AGE_H=${BACKUP_MAX_AGE_HOURS:-26}
MIN_PG=${BACKUP_MIN_POSTGRES_BYTES:-8192}
MIN_REDIS=${BACKUP_MIN_REDIS_BYTES:-100}
whole() { [[ $2 =~ ^[0-9]+$ ]] || { echo "monitor-backups: $1 must be a whole number, got '$2'" >&2; exit 2; }; }
whole BACKUP_MAX_AGE_HOURS "$MAX_AGE_H"
whole BACKUP_MIN_POSTGRES_BYTES "$MIN_PG"
whole BACKUP_MIN_REDIS_BYTES "$MIN_REDIS"

newest="" summary=""
if [[ ! -d $DIR ]]; then
	alert "backup directory $DIR is missing"
else
	# complete sets only (backup.sh renames .partial-* into place when done)
	newest=$(find "$DIR" -mindepth 1 -maxdepth 1 -type d -name "$PREFIX-*" -printf '%f\n' 2>/dev/null |
		sort | tail -n 1)
	if [[ -z $newest ]]; then
		alert "no backup set in $DIR"
	else
		set_dir=$DIR/$newest
		manifest=$set_dir/manifest.txt
		if [[ ! -r $manifest ]]; then
			alert "newest set $newest has no readable manifest"
		else
			created=$(sed -n 's/^created_epoch=\([0-9]*\)$/\1/p' "$manifest")
			[[ -n $created ]] || created=$(stat -c %Y "$manifest")
			age_s=$(($(date +%s) - created))
			age_h=$((age_s / 3600))
			((age_s <= MAX_AGE_H * 3600)) ||
				alert "newest backup set $newest is ${age_h} h old (limit $MAX_AGE_H h): backups are not running"
			declare -A min=([postgres.dump.gpg]=$MIN_PG [redis.rdb.gpg]=$MIN_REDIS)
			sizes=""
			for f in postgres.dump.gpg redis.rdb.gpg; do
				line=$(grep "^file $f " "$manifest" || true)
				read -r _ _ bytes sum <<<"$line"
				if [[ -z $line || ! ${bytes:-} =~ ^[0-9]+$ ]]; then
					alert "$newest: manifest does not list $f"
					continue
				fi
				if [[ ! -f $set_dir/$f ]]; then
					alert "$newest: $f is missing"
					continue
				fi
				actual=$(stat -c %s "$set_dir/$f")
				[[ $actual == "$bytes" ]] ||
					alert "$newest: $f is $actual bytes, the manifest says $bytes (damaged)"
				((actual >= ${min[$f]})) ||
					alert "$newest: $f is only $actual bytes (minimum ${min[$f]}): implausibly small"
				if [[ -n $VERIFY ]] && [[ $(sha256sum "$set_dir/$f" | cut -d' ' -f1) != "$sum" ]]; then
					alert "$newest: SHA-256 of $f does not match the manifest (damaged)"
				fi
				sizes+=" ${f%%.*} $actual bytes,"
			done
			count=$(find "$DIR" -mindepth 1 -maxdepth 1 -type d -name "$PREFIX-*" | wc -l)
			summary="newest set $newest, $((age_s / 60)) min old,${sizes%,}; $count set(s) in $DIR${VERIFY:+; checksums verified}"
		fi
	fi
fi

if ((${#problems[@]} == 0)); then
	echo "monitor-backups: OK: $summary"
	exit 0
fi
text=$(printf 'monitor-backups: ALERT on %s: %s\n' "$(hostname)" "${problems[@]}")
echo "$text" >&2
if [[ -n ${ALERT_EMAIL:-} ]]; then
	if command -v mail >/dev/null; then
		mail -s "PixelCraft backup ALERT on $(hostname)" "$ALERT_EMAIL" <<<"$text" ||
			echo "monitor-backups: sending mail to $ALERT_EMAIL failed" >&2
	else
		echo "monitor-backups: ALERT_EMAIL is set but 'mail' is not installed (apt-get install bsd-mailx)" >&2
	fi
fi
exit 1
