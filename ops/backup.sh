#!/usr/bin/env bash
# backup.sh: one encrypted backup set of PixelCraft's PostgreSQL database and
# Redis data set. Installed as /usr/local/lib/pixelcraft/backup.sh and run
# daily by pixelcraft-backup.timer (or ops/backup.cron). See
# ops/BACKUP_RESTORE.md.
#
#   backup.sh [--env-file FILE]
#
# Writes BACKUP_DIR/pixelcraft-YYYYmmddTHHMMSSZ/ with
#   postgres.dump.gpg   pg_dump -Fc (one consistent snapshot), encrypted
#   redis.rdb.gpg       the RDB snapshot Redis sends a replica, encrypted
#   manifest.txt        names, sizes and SHA-256 of both files
# Both dumps are streamed straight into gpg (AES256, passphrase from a file),
# so no plaintext dump ever touches the disk. The set is written as
# BACKUP_DIR/.partial-NAME and renamed only when complete, so a failed run
# leaves no set behind. Then sets older than BACKUP_RETENTION_DAYS are deleted
# (the newest complete set is always kept). One timestamped log line per step
# on standard error; exit status 0 only if everything worked.
#
# Configuration (environment, or KEY=VALUE lines of --env-file in systemd
# EnvironmentFile= syntax; the environment wins):
#   BACKUP_DIR               where the sets go (default /var/backups/pixelcraft)
#   BACKUP_PASSPHRASE_FILE   file whose first line is the passphrase (required;
#                            owner-only, e.g. 0400 root)
#   BACKUP_RETENTION_DAYS    delete sets older than this (default 30)
#   BACKUP_NAME_PREFIX       set name prefix (default pixelcraft)
#   DATABASE_URL             postgresql://user[:password]@host[:port]/db; a
#                            password in it is moved to PGPASSWORD, never put
#                            on a command line. Unset: libpq's PGHOST, PGPORT,
#                            PGUSER, PGDATABASE, PGPASSFILE are used.
#   REDIS_URL                redis://[[user]:password@]host[:port][/db],
#                            rediss://... (TLS) or unix:///path[?password=P]
#   REDIS_HOST REDIS_PORT REDIS_SOCKET REDIS_USER
#                            override the parts of REDIS_URL
#   REDIS_PASSWORD, REDIS_PASSWORD_FILE
#                            the Redis password; passed to redis-cli through
#                            REDISCLI_AUTH (also honoured if set directly)
set -euo pipefail
umask 077

PROG=backup
log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$PROG" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ------------------------------------------------------------ configuration

# Reads KEY=VALUE lines (systemd EnvironmentFile= syntax: comments on their own
# lines, optional quotes) without evaluating them as shell code; variables
# already in the environment win.
load_env_file() {
	local file=$1 line key value
	[[ -r $file ]] || die "cannot read env file $file"
	while IFS= read -r line || [[ -n $line ]]; do
		line=${line#"${line%%[![:space:]]*}"}
		[[ -z $line || $line == \#* || $line == \;* ]] && continue
		[[ $line == *=* ]] || die "$file: not a KEY=VALUE line: ${line%%=*}"
		key=${line%%=*} value=${line#*=}
		key=${key%"${key##*[![:space:]]}"}
		[[ $key =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "$file: bad variable name '$key'"
		if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
		[[ -n ${!key+set} ]] || export "$key=$value"
	done <"$file"
}

urldecode() { local s=${1//+/ }; printf '%b' "${s//%/\\x}"; }

# DATABASE_URL -> PG_URL (no password) + PGPASSWORD
setup_postgres() {
	PG_ARGS=()
	local url=${DATABASE_URL:-}
	[[ -n $url ]] || { PG_DESC="libpq environment (PGHOST=${PGHOST:-default} PGDATABASE=${PGDATABASE:-default})"; return 0; }
	[[ $url =~ ^postgres(ql)?:// ]] || die "DATABASE_URL must start with postgresql://"
	if [[ $url =~ ^(postgres(ql)?://)([^:@/?]*):([^@/?]*)@(.*)$ ]]; then
		export PGPASSWORD
		PGPASSWORD=$(urldecode "${BASH_REMATCH[4]}")
		url=${BASH_REMATCH[1]}${BASH_REMATCH[3]}@${BASH_REMATCH[5]}
	fi
	PG_ARGS=(--dbname="$url")
	PG_DESC=$url
}

# REDIS_URL and REDIS_* -> REDIS_ARGS for redis-cli, password in REDISCLI_AUTH
setup_redis() {
	local url=${REDIS_URL:-} host="" port="" sock="" user="" pass="" tls=""
	if [[ $url =~ ^(redis|rediss)://(([^:@/]*)(:([^@/]*))?@)?([^:/?]*)(:([0-9]+))?(/([0-9]+))?(\?.*)?$ ]]; then
		[[ ${BASH_REMATCH[1]} == rediss ]] && tls=1
		user=$(urldecode "${BASH_REMATCH[3]}")
		pass=$(urldecode "${BASH_REMATCH[5]}")
		host=${BASH_REMATCH[6]} port=${BASH_REMATCH[8]}
	elif [[ $url =~ ^unix://([^?]+)(\?(.*))?$ ]]; then
		sock=${BASH_REMATCH[1]}
		local kv
		IFS='&' read -r -a kvs <<<"${BASH_REMATCH[3]}"
		for kv in "${kvs[@]}"; do
			[[ $kv == password=* ]] && pass=$(urldecode "${kv#password=}")
		done
	elif [[ -n $url ]]; then
		die "REDIS_URL: expected redis://, rediss:// or unix:///path"
	fi
	host=${REDIS_HOST:-$host} port=${REDIS_PORT:-$port} sock=${REDIS_SOCKET:-$sock}
	user=${REDIS_USER:-$user}
	[[ -n ${REDIS_PASSWORD:-} ]] && pass=$REDIS_PASSWORD
	if [[ -n ${REDIS_PASSWORD_FILE:-} ]]; then
		[[ -r $REDIS_PASSWORD_FILE ]] || die "cannot read REDIS_PASSWORD_FILE $REDIS_PASSWORD_FILE"
		pass=$(head -n 1 "$REDIS_PASSWORD_FILE")
	fi
	[[ -n $pass ]] && export REDISCLI_AUTH=$pass
	REDIS_ARGS=()
	if [[ -n $sock ]]; then
		REDIS_ARGS+=(-s "$sock") REDIS_DESC="unix:$sock"
	else
		REDIS_ARGS+=(-h "${host:-127.0.0.1}" -p "${port:-6379}")
		REDIS_DESC="${host:-127.0.0.1}:${port:-6379}"
	fi
	[[ -n $user ]] && REDIS_ARGS+=(--user "$user")
	[[ -n $tls ]] && REDIS_ARGS+=(--tls)
	return 0
}

# ------------------------------------------------------------------ helpers

gpg_encrypt() { # stdin -> $1
	gpg --batch --quiet --no-tty --yes --pinentry-mode loopback --no-symkey-cache \
		--passphrase-file "$BACKUP_PASSPHRASE_FILE" \
		--symmetric --cipher-algo AES256 --s2k-digest-algo SHA512 --s2k-count 65011712 \
		--compress-algo "${2:-none}" --output "$1"
}

fsize() { stat -c %s "$1"; }
now_ms() { date +%s%3N; }
since() { local ms=$(($(now_ms) - $1)); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }

# epoch seconds of a set from its name (PREFIX-YYYYmmddTHHMMSSZ); empty if malformed
set_epoch() {
	[[ $1 =~ -([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z$ ]] || return 0
	date -u -d "${BASH_REMATCH[1]}-${BASH_REMATCH[2]}-${BASH_REMATCH[3]} ${BASH_REMATCH[4]}:${BASH_REMATCH[5]}:${BASH_REMATCH[6]}" +%s
}

# ---------------------------------------------------------------------- main

while (($#)); do
	case $1 in
	--env-file) [[ $# -ge 2 ]] || die "--env-file needs a file"; load_env_file "$2"; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done

BACKUP_DIR=${BACKUP_DIR:-/var/backups/pixelcraft}
RETENTION=${BACKUP_RETENTION_DAYS:-30}
PREFIX=${BACKUP_NAME_PREFIX:-pixelcraft}
[[ $RETENTION =~ ^[0-9]+$ && $RETENTION -ge 1 ]] ||
	die "BACKUP_RETENTION_DAYS must be a whole number of days >= 1, got '$RETENTION'"
[[ -n ${BACKUP_PASSPHRASE_FILE:-} ]] || die "BACKUP_PASSPHRASE_FILE is not set"
[[ -f $BACKUP_PASSPHRASE_FILE && -r $BACKUP_PASSPHRASE_FILE ]] ||
	die "cannot read passphrase file $BACKUP_PASSPHRASE_FILE"
[[ -s $BACKUP_PASSPHRASE_FILE ]] || die "passphrase file $BACKUP_PASSPHRASE_FILE is empty"
mode=$(stat -c %a "$BACKUP_PASSPHRASE_FILE")
((8#$mode & 8#077)) &&
	die "passphrase file $BACKUP_PASSPHRASE_FILE is accessible by group/others (mode $mode): chmod 0400 it"
for tool in pg_dump redis-cli gpg gpgconf sha256sum flock; do
	command -v "$tool" >/dev/null || die "$tool not found (install it: see ops/BACKUP_RESTORE.md)"
done
setup_postgres
setup_redis

mkdir -p "$BACKUP_DIR" 2>/dev/null || die "cannot create BACKUP_DIR $BACKUP_DIR"
[[ -w $BACKUP_DIR ]] || die "BACKUP_DIR $BACKUP_DIR is not writable"
exec 9>"$BACKUP_DIR/.lock"
flock -n 9 || die "another backup is running in $BACKUP_DIR (lock $BACKUP_DIR/.lock)"

NAME=$PREFIX-$(date -u +%Y%m%dT%H%M%SZ)
FINAL=$BACKUP_DIR/$NAME
WORK=$BACKUP_DIR/.partial-$NAME
[[ ! -e $FINAL ]] || die "$FINAL already exists"
GNUPGHOME=$(mktemp -d "${TMPDIR:-/tmp}/pixelcraft-backup-gpg.XXXXXX")
export GNUPGHOME
cleanup() {
	local rc=$?
	gpgconf --homedir "$GNUPGHOME" --kill gpg-agent >/dev/null 2>&1 || true
	rm -rf "$GNUPGHOME"
	if [[ -d $WORK ]]; then
		rm -rf "$WORK"
		log "removed the incomplete set $WORK"
	fi
	if ((rc != 0)); then
		if [[ -d $FINAL ]]; then
			log "backup FAILED (exit $rc) after the set $FINAL was complete"
		else
			log "backup FAILED (exit $rc); no new backup set was written"
		fi
	fi
}
trap cleanup EXIT
# under the lock, any other .partial-* is the leftover of a crashed run
find "$BACKUP_DIR" -mindepth 1 -maxdepth 1 -type d -name '.partial-*' -exec rm -rf {} + ||
	die "cannot remove leftovers of earlier runs in $BACKUP_DIR"
mkdir "$WORK"
t_all=$(now_ms)
log "start: set $NAME in $BACKUP_DIR (retention $RETENTION days)"

# PostgreSQL: pg_dump runs in one repeatable-read transaction, so the dump is
# one consistent snapshot. Custom format is compressed already.
log "postgres: pg_dump -Fc from $PG_DESC"
t0=$(now_ms)
pg_dump -Fc --no-password "${PG_ARGS[@]}" | gpg_encrypt "$WORK/postgres.dump.gpg" none ||
	die "postgres dump failed (pg_dump or gpg, see the messages above)"
pg_bytes=$(fsize "$WORK/postgres.dump.gpg")
log "postgres: done, $pg_bytes bytes encrypted in $(since "$t0") s"

# Redis: redis-cli --rdb asks for the snapshot a replica would get (a fork of
# the server at one instant: consistent), written to stdout.
log "redis: RDB snapshot from $REDIS_DESC"
t0=$(now_ms)
redis-cli "${REDIS_ARGS[@]}" --rdb - 2>"$WORK/redis-cli.err" | gpg_encrypt "$WORK/redis.rdb.gpg" zlib || {
	log "redis-cli: $(tr '\n' ' ' <"$WORK/redis-cli.err")"
	die "redis snapshot failed (redis-cli --rdb or gpg)"
}
grep -q 'Transfer finished with success' "$WORK/redis-cli.err" ||
	die "redis snapshot incomplete: $(tr '\n' ' ' <"$WORK/redis-cli.err")"
rm -f "$WORK/redis-cli.err"
redis_bytes=$(fsize "$WORK/redis.rdb.gpg")
log "redis: done, $redis_bytes bytes encrypted in $(since "$t0") s"

# Manifest: plain KEY=VALUE lines plus one "file NAME BYTES SHA256" line per file.
log "manifest: sizes and SHA-256"
{
	echo "# PixelCraft backup set; restore with ops/restore.sh (see ops/BACKUP_RESTORE.md)"
	echo "format=pixelcraft-backup-1"
	echo "name=$NAME"
	echo "created=$(date -u -d "@$((t_all / 1000))" +%Y-%m-%dT%H:%M:%SZ)"
	echo "created_epoch=$((t_all / 1000))"
	echo "host=$(hostname)"
	echo "pg_dump_version=$(pg_dump --version)"
	echo "redis_version=$(redis-cli "${REDIS_ARGS[@]}" INFO server 2>/dev/null | tr -d '\r' |
		sed -n 's/^redis_version://p')"
	echo "encryption=gpg symmetric AES256"
	for f in postgres.dump.gpg redis.rdb.gpg; do
		echo "file $f $(fsize "$WORK/$f") $(sha256sum "$WORK/$f" | cut -d' ' -f1)"
	done
} >"$WORK/manifest.txt"
sync -f "$WORK/manifest.txt" 2>/dev/null || sync
mv "$WORK" "$FINAL"
log "complete: $FINAL ($((pg_bytes + redis_bytes)) bytes) in $(since "$t_all") s"

# Retention: complete sets whose timestamp (from the name) is older than
# RETENTION days; the newest set is never deleted, even if it is that old.
cutoff=$(($(date +%s) - RETENTION * 86400))
deleted=0 kept=0
while IFS= read -r set; do
	[[ $set == "$NAME" ]] && { kept=$((kept + 1)); continue; }
	epoch=$(set_epoch "$set")
	if [[ -n $epoch && $epoch -lt $cutoff ]]; then
		rm -rf -- "${BACKUP_DIR:?}/$set" || die "retention: cannot delete $BACKUP_DIR/$set"
		log "retention: deleted $set"
		deleted=$((deleted + 1))
	else
		kept=$((kept + 1))
	fi
done < <(find "$BACKUP_DIR" -mindepth 1 -maxdepth 1 -type d -name "$PREFIX-*" -printf '%f\n' | sort)
log "retention: $deleted set(s) older than $RETENTION days deleted, $kept kept"
