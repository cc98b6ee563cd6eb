#!/usr/bin/env bash
# restore.sh: restores one backup set written by ops/backup.sh into PostgreSQL
# and Redis. Non-interactive; refuses to run without --yes. See
# ops/BACKUP_RESTORE.md and ops/DISASTER_RECOVERY.md.
#
#   restore.sh --yes [options] SET_DIR|latest
#
# Steps, in this order (nothing is touched before step 4):
#   1. the manifest: every listed file exists with the listed size and SHA-256
#   2. test-decrypt every file (passphrase right, gpg integrity check passes,
#      plaintext is a pg_dump archive / an RDB file); the Redis RDB is
#      decrypted into the Redis data directory as a temporary file and
#      checked with redis-check-rdb
#   3. the database answers
#   4. PostgreSQL: gpg --decrypt | pg_restore --clean --if-exists
#      --single-transaction --exit-on-error (all or nothing)
#   5. Redis: stop, replace the RDB file (previous one kept as
#      dump.rdb.before-restore-TIME), start, wait until it has loaded
#   6. ANALYZE, then row counts per table; optionally wait for --health-url
# Any failure stops with a message naming the step and a non-zero exit.
#
# Options:
#   --yes                    required: confirms that data will be replaced
#   --env-file FILE          KEY=VALUE file (systemd EnvironmentFile= syntax),
#                            e.g. /etc/pixelcraft/backup.env
#   --passphrase-file FILE   (BACKUP_PASSPHRASE_FILE)
#   --only postgres|redis    restore just one of the two
#   --redis-data-dir DIR     (REDIS_DATA_DIR) default: CONFIG GET dir
#   --redis-rdb-name NAME    (REDIS_RDB_NAME) default: CONFIG GET dbfilename
#   --redis-owner USER:GROUP (REDIS_RDB_OWNER) default: owner of the data dir
#   --redis-stop-cmd CMD     (REDIS_STOP_CMD) default: systemctl stop redis-server
#   --redis-start-cmd CMD    (REDIS_START_CMD) default: systemctl start redis-server
#   --health-url URL         after the restore, wait until URL answers 200
#   --health-timeout SECONDS (default 60)
# Connections, as for backup.sh (passwords never on a command line):
#   RESTORE_DATABASE_URL (default DATABASE_URL) or libpq's PG* variables;
#   REDIS_URL / REDIS_HOST / REDIS_PORT / REDIS_SOCKET / REDIS_USER /
#   REDIS_PASSWORD / REDIS_PASSWORD_FILE / REDISCLI_AUTH.
# SET_DIR "latest" means the newest set in BACKUP_DIR (default
# /var/backups/pixelcraft).
set -euo pipefail
umask 077

PROG=restore
log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$PROG" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

# ------------------------------------------------------------ configuration

# Reads KEY=VALUE lines (systemd EnvironmentFile= syntax) without evaluating
# them as shell code; variables already in the environment win.
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

# RESTORE_DATABASE_URL/DATABASE_URL -> PG_ARGS (no password) + PGPASSWORD
setup_postgres() {
	PG_ARGS=()
	local url=${RESTORE_DATABASE_URL:-${DATABASE_URL:-}}
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

now_ms() { date +%s%3N; }
since() { local ms=$(($(now_ms) - $1)); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }

gpg_decrypt() { # $1 -> stdout
	gpg --batch --quiet --no-tty --pinentry-mode loopback --no-symkey-cache \
		--passphrase-file "$PASSPHRASE_FILE" --decrypt "$1" 2>>"$GPG_ERR"
}

gpg_reason() {
	if grep -q 'Bad session key' "$GPG_ERR"; then
		echo "wrong passphrase"
	elif grep -qiE 'manipulated|invalid packet|CRC error|unexpected EOF|decrypt_message failed|bad key' "$GPG_ERR"; then
		echo "the file is corrupted or was modified"
	else
		echo "gpg said: $(grep -v '^gpg: AES256' "$GPG_ERR" | tr '\n' ' ')"
	fi
}

# Decrypts all of $1 (so gpg checks its integrity code at the end) and checks
# that the plaintext starts with magic $2; the plaintext is discarded.
test_decrypt() {
	local file=$1 magic=$2 head rc=0
	: >"$GPG_ERR"
	head=$(gpg_decrypt "$file" | { head -c "${#magic}"; cat >/dev/null; }) || rc=$?
	((rc == 0)) || die "cannot decrypt $(basename "$file"): $(gpg_reason)"
	[[ $head == "$magic" ]] ||
		die "$(basename "$file") decrypts, but is not a $3 (starts with '${head//[^[:print:]]/?}')"
}

redis_cli() { redis-cli "${REDIS_ARGS[@]}" "$@"; }
redis_ready() { [[ $(redis_cli PING 2>/dev/null) == PONG ]]; }

# ---------------------------------------------------------------- arguments

YES="" ONLY="" SET="" HEALTH_URL="" HEALTH_TIMEOUT=60
while (($#)); do
	case $1 in
	--yes) YES=1 ;;
	--env-file) [[ $# -ge 2 ]] || die "--env-file needs a file"; load_env_file "$2"; shift ;;
	--passphrase-file) BACKUP_PASSPHRASE_FILE=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--redis-data-dir) REDIS_DATA_DIR=$2; shift ;;
	--redis-rdb-name) REDIS_RDB_NAME=$2; shift ;;
	--redis-owner) REDIS_RDB_OWNER=$2; shift ;;
	--redis-stop-cmd) REDIS_STOP_CMD=$2; shift ;;
	--redis-start-cmd) REDIS_START_CMD=$2; shift ;;
	--health-url) HEALTH_URL=$2; shift ;;
	--health-timeout) HEALTH_TIMEOUT=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	-*) die "unknown option '$1' (see --help)" ;;
	*) [[ -z $SET ]] || die "only one backup set, got '$SET' and '$1'"; SET=$1 ;;
	esac
	shift
done
[[ -n $YES ]] || die "refusing to restore without --yes: this REPLACES the PostgreSQL database and the Redis data set (see --help)"
[[ -n $SET ]] || die "no backup set given (a directory written by backup.sh, or 'latest')"
case $ONLY in "" | postgres | redis) ;; *) die "--only takes postgres or redis, got '$ONLY'" ;; esac
DO_PG=1 DO_REDIS=1
[[ $ONLY == redis ]] && DO_PG=""
[[ $ONLY == postgres ]] && DO_REDIS=""
[[ $HEALTH_TIMEOUT =~ ^[0-9]+$ ]] || die "--health-timeout takes seconds, got '$HEALTH_TIMEOUT'"

PASSPHRASE_FILE=${BACKUP_PASSPHRASE_FILE:-}
[[ -n $PASSPHRASE_FILE ]] || die "no passphrase file (--passphrase-file or BACKUP_PASSPHRASE_FILE)"
[[ -f $PASSPHRASE_FILE && -r $PASSPHRASE_FILE && -s $PASSPHRASE_FILE ]] ||
	die "cannot read passphrase file $PASSPHRASE_FILE (or it is empty)"
tools=(gpg gpgconf sha256sum)
[[ -n $DO_PG ]] && tools+=(pg_restore psql)
[[ -n $DO_REDIS ]] && tools+=(redis-cli)
[[ -n $HEALTH_URL ]] && tools+=(curl)
for tool in "${tools[@]}"; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

if [[ $SET == latest ]]; then
	dir=${BACKUP_DIR:-/var/backups/pixelcraft}
	[[ -d $dir ]] || die "'latest': BACKUP_DIR $dir does not exist (set BACKUP_DIR or give the set's directory)"
	SET=$(find "$dir" -mindepth 1 -maxdepth 1 -type d -name "${BACKUP_NAME_PREFIX:-pixelcraft}-*" |
		sort | tail -n 1) || die "cannot list $dir"
	[[ -n $SET ]] || die "'latest': no backup set in $dir"
	log "latest set in $dir is $(basename "$SET")"
fi
[[ -d $SET ]] || die "backup set $SET is not a directory"
SET=$(cd "$SET" && pwd)
MANIFEST=$SET/manifest.txt
[[ -r $MANIFEST ]] || die "no manifest in $SET (incomplete or not a backup set)"
setup_postgres
setup_redis

GNUPGHOME=$(mktemp -d "${TMPDIR:-/tmp}/pixelcraft-restore-gpg.XXXXXX")
export GNUPGHOME
GPG_ERR=$GNUPGHOME/gpg.err
RDB_TMP=""
cleanup() {
	local rc=$?
	gpgconf --homedir "$GNUPGHOME" --kill gpg-agent >/dev/null 2>&1 || true
	rm -rf "$GNUPGHOME"
	[[ -n $RDB_TMP ]] && rm -f "$RDB_TMP"
	((rc == 0)) || log "restore FAILED (exit $rc)"
}
trap cleanup EXIT
t_all=$(now_ms)
log "start: set $SET"

# ------------------------------------------------- 1. verify the manifest
grep -q '^format=pixelcraft-backup-1$' "$MANIFEST" ||
	die "manifest $MANIFEST: unknown format (expected format=pixelcraft-backup-1)"
declare -A SIZE=() SUM=()
while read -r kind name bytes sum extra; do
	[[ $kind == file ]] || continue
	[[ -n $sum && -z $extra && $bytes =~ ^[0-9]+$ && $sum =~ ^[0-9a-f]{64}$ && $name != */* ]] ||
		die "manifest $MANIFEST: malformed line 'file $name $bytes $sum $extra'"
	SIZE[$name]=$bytes SUM[$name]=$sum
done <"$MANIFEST"
need=()
[[ -n $DO_PG ]] && need+=(postgres.dump.gpg)
[[ -n $DO_REDIS ]] && need+=(redis.rdb.gpg)
for f in "${need[@]}"; do
	[[ -n ${SIZE[$f]:-} ]] || die "manifest $MANIFEST does not list $f"
done
for f in "${!SIZE[@]}"; do
	[[ -f $SET/$f ]] || die "manifest check: $f is listed but missing from $SET"
	actual=$(stat -c %s "$SET/$f")
	[[ $actual == "${SIZE[$f]}" ]] ||
		die "manifest check: $f is $actual bytes, the manifest says ${SIZE[$f]}: the file is damaged or truncated; nothing was restored"
	actual=$(sha256sum "$SET/$f" | cut -d' ' -f1)
	[[ $actual == "${SUM[$f]}" ]] ||
		die "manifest check: SHA-256 of $f is $actual, the manifest says ${SUM[$f]}: the file is damaged; nothing was restored"
	log "manifest: $f ok (${SIZE[$f]} bytes, sha256 ${SUM[$f]:0:16}...)"
done

# --------------------------------------------------------- 2. test-decrypt
if [[ -n $DO_PG ]]; then
	t0=$(now_ms)
	test_decrypt "$SET/postgres.dump.gpg" PGDMP "pg_dump custom-format archive"
	log "test-decrypt: postgres.dump.gpg ok ($(since "$t0") s)"
fi
if [[ -n $DO_REDIS ]]; then
	# where the RDB goes; ask the running server unless told
	if [[ -z ${REDIS_DATA_DIR:-} || -z ${REDIS_RDB_NAME:-} ]]; then
		redis_ready || die "Redis at $REDIS_DESC does not answer: give --redis-data-dir and --redis-rdb-name"
	fi
	if [[ -z ${REDIS_DATA_DIR:-} ]]; then
		REDIS_DATA_DIR=$(redis_cli --raw CONFIG GET dir | sed -n 2p)
		[[ -n $REDIS_DATA_DIR ]] || die "CONFIG GET dir failed on $REDIS_DESC: give --redis-data-dir"
	fi
	if [[ -z ${REDIS_RDB_NAME:-} ]]; then
		REDIS_RDB_NAME=$(redis_cli --raw CONFIG GET dbfilename | sed -n 2p)
		[[ -n $REDIS_RDB_NAME ]] || die "CONFIG GET dbfilename failed on $REDIS_DESC: give --redis-rdb-name"
	fi
	if redis_ready; then
		aof=$(redis_cli --raw CONFIG GET appendonly 2>/dev/null | sed -n 2p || true)
		[[ $aof != yes ]] ||
			die "Redis has appendonly yes: it would load its AOF and ignore the restored RDB (see 'Redis with AOF' in ops/BACKUP_RESTORE.md)"
		[[ -n $aof ]] || log "redis: CONFIG GET appendonly not answered; make sure AOF is off"
	fi
	[[ -d $REDIS_DATA_DIR ]] || die "Redis data directory $REDIS_DATA_DIR does not exist"
	REDIS_RDB_OWNER=${REDIS_RDB_OWNER:-$(stat -c %U:%G "$REDIS_DATA_DIR")}
	REDIS_STOP_CMD=${REDIS_STOP_CMD:-systemctl stop redis-server}
	REDIS_START_CMD=${REDIS_START_CMD:-systemctl start redis-server}
	t0=$(now_ms)
	RDB_TMP=$REDIS_DATA_DIR/.restore-$$.rdb
	: >"$GPG_ERR"
	gpg_decrypt "$SET/redis.rdb.gpg" >"$RDB_TMP" ||
		die "cannot decrypt redis.rdb.gpg: $(gpg_reason)"
	[[ $(head -c 5 "$RDB_TMP") == REDIS ]] || die "redis.rdb.gpg decrypts, but is not an RDB file"
	if command -v redis-check-rdb >/dev/null; then
		out=$(redis-check-rdb "$RDB_TMP" 2>&1) || die "redis-check-rdb rejects the RDB: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
	fi
	chown "$REDIS_RDB_OWNER" "$RDB_TMP" || die "cannot chown the RDB to $REDIS_RDB_OWNER"
	chmod 0640 "$RDB_TMP"
	log "test-decrypt: redis.rdb.gpg ok, RDB checked, staged in $REDIS_DATA_DIR ($(since "$t0") s)"
fi

# ------------------------------------------------------ 3. database answers
if [[ -n $DO_PG ]]; then
	out=$(psql -X -q -w -v ON_ERROR_STOP=1 "${PG_ARGS[@]}" -tAc 'select current_database()' 2>&1) ||
		die "cannot connect to PostgreSQL ($PG_DESC): $out"
	DB_NAME=$out
	log "postgres: target database '$DB_NAME' ($PG_DESC) answers"
fi

# ------------------------------------------------------------ 4. PostgreSQL
if [[ -n $DO_PG ]]; then
	t0=$(now_ms)
	log "postgres: pg_restore --clean --if-exists --single-transaction --exit-on-error into '$DB_NAME'"
	: >"$GPG_ERR"
	pg_err=$GNUPGHOME/pg_restore.err
	if ! gpg_decrypt "$SET/postgres.dump.gpg" |
		pg_restore --clean --if-exists --single-transaction --exit-on-error --no-password \
			"${PG_ARGS[@]}" 2>"$pg_err"; then
		[[ -s $pg_err ]] && log "pg_restore: $(head -c 2000 "$pg_err" | tr '\n' ' ')"
		[[ -s $GPG_ERR ]] && log "gpg: $(gpg_reason)"
		die "postgres restore failed; the transaction was rolled back, the database is as it was"
	fi
	log "postgres: restored in $(since "$t0") s"
fi

# ----------------------------------------------------------------- 5. Redis
if [[ -n $DO_REDIS ]]; then
	t0=$(now_ms)
	rdb=$REDIS_DATA_DIR/$REDIS_RDB_NAME
	log "redis: stopping ($REDIS_STOP_CMD)"
	bash -c "$REDIS_STOP_CMD" || die "redis stop command failed: $REDIS_STOP_CMD"
	for _ in $(seq 1 100); do redis_ready || break; sleep 0.1; done
	! redis_ready || die "Redis still answers after '$REDIS_STOP_CMD'; not replacing its data"
	if [[ -e $rdb ]]; then
		old=$rdb.before-restore-$(date -u +%Y%m%dT%H%M%SZ)
		mv -f "$rdb" "$old" || die "cannot move the current $rdb aside"
		log "redis: previous $REDIS_RDB_NAME kept as $old"
	fi
	mv -f "$RDB_TMP" "$rdb" || die "cannot move the restored RDB to $rdb"
	RDB_TMP=""
	log "redis: $rdb replaced (owner $REDIS_RDB_OWNER); starting ($REDIS_START_CMD)"
	bash -c "$REDIS_START_CMD" || die "redis start command failed: $REDIS_START_CMD"
	ok=""
	for _ in $(seq 1 600); do
		redis_ready && { ok=1; break; }
		sleep 0.1
	done
	[[ -n $ok ]] || die "Redis at $REDIS_DESC did not answer PING within 60 s after the start"
	keys=$(redis_cli INFO keyspace | tr -d '\r' | sed -n 's/^db[0-9]*:keys=\([0-9]*\).*/\1/p' |
		awk '{s += $1} END {print s + 0}')
	log "redis: restored and answering, $keys keys, in $(since "$t0") s"
fi

# ------------------------------------------------------------ 6. report
if [[ -n $DO_PG ]]; then
	psql -X -q -w -v ON_ERROR_STOP=1 "${PG_ARGS[@]}" -c 'ANALYZE' >/dev/null 2>&1 ||
		log "postgres: ANALYZE failed (not fatal; run it by hand)"
	counts=$(psql -X -q -w -v ON_ERROR_STOP=1 "${PG_ARGS[@]}" -tA -F "$(printf '\t')" -c "
		SELECT format('%I.%I', table_schema, table_name),
		       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I',
		            table_schema, table_name), false, true, '')))[1]::text
		FROM information_schema.tables
		WHERE table_type = 'BASE TABLE'
		  AND table_schema NOT IN ('pg_catalog', 'information_schema')
		ORDER BY 1" 2>&1) || die "row counts failed: $counts"
	while IFS=$'\t' read -r table n; do
		[[ -n $table ]] && log "rows: $table $n"
	done <<<"$counts"
fi
if [[ -n $HEALTH_URL ]]; then
	t0=$(now_ms) ok="" body=""
	for _ in $(seq 1 $((HEALTH_TIMEOUT * 4))); do
		if body=$(curl -sf -m 2 "$HEALTH_URL" 2>/dev/null); then ok=1; break; fi
		sleep 0.25
	done
	[[ -n $ok ]] || die "$HEALTH_URL did not answer 200 within $HEALTH_TIMEOUT s after the restore"
	log "health: $HEALTH_URL answers 200 after $(since "$t0") s: ${body:0:60}"
fi
log "complete: restored $SET in $(since "$t_all") s"
