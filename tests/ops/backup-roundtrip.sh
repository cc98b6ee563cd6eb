#!/usr/bin/env bash
# backup-roundtrip.sh: end-to-end test of ops/backup.sh and ops/restore.sh
# against a running private stack (scripts/stack.sh up DIR).
#
#   tests/ops/backup-roundtrip.sh STACK_DIR
#
# 1. fills every table in schema public (tests/ops/fixture.sql; a table left
#    empty fails the test) and writes Redis keys (strings, a binary value, a
#    hash, a list, a key with a TTL, a key in another db, ROWS/10 bulk keys);
# 2. records per table the row count and a content checksum, the schema, and
#    the Redis sample;
# 3. backs up with ops/backup.sh (generated passphrase, temporary BACKUP_DIR),
#    then writes a marker row and key (they must NOT come back: the recovery
#    point is the backup);
# 4. disaster: DROP DATABASE + CREATE DATABASE, FLUSHALL;
# 5. restores with ops/restore.sh and compares everything with step 2;
# 6. failure cases, each of which must fail with a clear message and leave
#    PostgreSQL and Redis untouched: no --yes, a corrupted file, a truncated
#    file, a wrong passphrase, a tampered file with a matching manifest, a
#    pg_restore error half-way (rolled back); and backup.sh must fail (and
#    leave no set) when PostgreSQL or Redis cannot be dumped;
# 7. the stack answers /health healthy again.
# One line per check, then the measured durations and sizes. Exit status 0
# only if every check passed. The stack is left running (Redis restarted with
# its own settings through scripts/stack.sh redis-stop/redis-start).
#
# Environment: ROWS (fixture rows per bulk table, default 10000),
# KEEP_TMP=1 (keep the temporary directory with the backup sets).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STACK=$ROOT/scripts/stack.sh
ROWS=${ROWS:-10000}
[[ $# -eq 1 ]] || { echo "usage: $0 STACK_DIR" >&2; exit 2; }
DIR=$(cd "$1" && pwd) || exit 2
[[ -f $DIR/stack.env ]] || { echo "roundtrip: $DIR/stack.env missing: not a stack directory" >&2; exit 2; }
[[ $ROWS =~ ^[0-9]+$ && $ROWS -ge 100 ]] || { echo "roundtrip: ROWS must be a number >= 100" >&2; exit 2; }
# shellcheck disable=SC1091
. "$DIR/stack.env" # not exported: the scripts under test get only what we pass

FAILED=0 CHECKS=0
ok() { CHECKS=$((CHECKS + 1)); printf 'ok   %2d - %s\n' "$CHECKS" "$*"; }
fail() { CHECKS=$((CHECKS + 1)) FAILED=$((FAILED + 1)); printf 'FAIL %2d - %s\n' "$CHECKS" "$*"; }
check() { # check "description" command...
	local what=$1; shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}
abort() { echo "roundtrip: ABORT: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

psql_su() { STACK_QUIET=1 "$STACK" psql "$DIR" -tA "$@"; }
rcli() { REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
redis_pid() { cat "$DIR/redis/redis.pid" 2>/dev/null || echo none; }

TMP=$(mktemp -d /tmp/pixelcraft-roundtrip.XXXXXX)
cleanup() {
	local rc=$?
	gpgconf --homedir "$TMP/gnupg" --kill gpg-agent 2>/dev/null || true
	if [[ -n ${KEEP_TMP:-} ]]; then echo "roundtrip: kept $TMP"; else rm -rf "$TMP"; fi
	# whatever happened, leave Redis and PostgreSQL running
	if ! rcli PING >/dev/null 2>&1; then STACK_QUIET=1 "$STACK" redis-start "$DIR" || true; fi
	STACK_QUIET=1 "$STACK" pg-start "$DIR" >/dev/null 2>&1 || true
	exit "$rc"
}
trap cleanup EXIT
chmod 711 "$TMP"
mkdir -m 700 "$TMP/gnupg"

# secrets of this run only
openssl rand -base64 48 >"$TMP/passphrase"
openssl rand -base64 48 >"$TMP/wrong-passphrase"
chmod 0400 "$TMP/passphrase" "$TMP/wrong-passphrase"

# the configuration the scripts get: as in /etc/pixelcraft/backup.env
BK_ENV=(
	BACKUP_DIR="$TMP/backups" BACKUP_PASSPHRASE_FILE="$TMP/passphrase" BACKUP_RETENTION_DAYS=30
	DATABASE_URL="$DATABASE_URL"
	REDIS_URL="redis://:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0"
)
RS_OPTS=(
	--redis-data-dir "$DIR/redis" --redis-rdb-name dump.rdb
	--redis-stop-cmd "STACK_QUIET=1 $STACK redis-stop $DIR"
	--redis-start-cmd "STACK_QUIET=1 $STACK redis-start $DIR"
)
RS_ENV=(
	BACKUP_PASSPHRASE_FILE="$TMP/passphrase" DATABASE_URL="$DATABASE_URL"
	REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT" REDISCLI_AUTH="$REDIS_PASSWORD"
)
backup() { env -i PATH="$PATH" "${BK_ENV[@]}" "$ROOT/ops/backup.sh"; }
restore() { env -i PATH="$PATH" "${RS_ENV[@]}" "$ROOT/ops/restore.sh" "$@"; }

healthy() { curl -sf -m 3 "$BASE_URL/health" | grep -q '"status":"healthy"'; }
wait_healthy() {
	for _ in $(seq 1 120); do healthy && return 0; sleep 0.25; done
	return 1
}

# ------------------------------------------------------------ the data

# "schema.table count md5" for every table in schema public, then
# "sequence:schema.name last_value -" for every sequence (identity columns)
TABLES_SQL="SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
table_state() {
	local t
	for t in $(psql_su -c "$TABLES_SQL"); do
		printf '%s %s\n' "$t" "$(psql_su -F ' ' -c \
			"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM $t x")"
	done
	psql_su -F ' ' -c "SELECT 'sequence:' || format('%I.%I', schemaname, sequencename),
		coalesce(last_value::text, 'unused'), '-' FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1"
}
schema_state() {
	# the whole schema as pg_dump sees it (tables, columns, constraints, indexes,
	# owners), without comments and the random \restrict key of newer pg_dumps
	runuser -u postgres -- pg_dump -s -h "$DIR/pgsock" -p "$PG_PORT" -U postgres pixelcraft |
		grep -v -e '^--' -e '^$' -e '^\\\(un\)\{0,1\}restrict ' | md5sum | cut -d' ' -f1
}

SAMPLE_KEYS=(string binary hash list ttl)
KP=pixelcraft:backup-test
redis_sample() { # one line per sample key: value digest (and TTL bucket)
	local ttl
	printf 'string %s\n' "$(rcli --raw GET $KP:string | md5sum | cut -c1-32)"
	printf 'binary %s\n' "$(rcli --raw GET $KP:binary | md5sum | cut -c1-32)"
	printf 'hash %s\n' "$(rcli --raw HGETALL $KP:hash | paste -sd' ' | md5sum | cut -c1-32)"
	printf 'list %s\n' "$(rcli --raw LRANGE $KP:list 0 -1 | paste -sd' ' | md5sum | cut -c1-32)"
	ttl=$(rcli TTL $KP:ttl)
	printf 'ttl %s %s\n' "$(rcli --raw GET $KP:ttl | md5sum | cut -c1-32)" \
		"$([[ $ttl -gt 0 && $ttl -le 3600 ]] && echo ttl-ok || echo "ttl=$ttl")"
	printf 'db5 %s\n' "$(rcli -n 5 --raw GET $KP:db5 | md5sum | cut -c1-32)"
	printf 'bulk %s\n' "$(rcli --scan --pattern "$KP:bulk:*" | wc -l)"
}

# ================================================================ 0. stack
echo "# backup round trip against $DIR ($BASE_URL), ROWS=$ROWS"
healthy || abort "the stack in $DIR is not healthy ($BASE_URL/health); start it with scripts/stack.sh up"
ok "stack is healthy before the test"

# ============================================================== 1. fill
psql_su -q -v rows="$ROWS" <"$ROOT/tests/ops/fixture.sql" >/dev/null || abort "tests/ops/fixture.sql failed"
table_state >"$TMP/tables.before"
[[ -s $TMP/tables.before ]] || abort "no tables in schema public"
empty=$(awk '$2 == 0 {print $1}' "$TMP/tables.before" | paste -sd' ')
check "fixture filled all $(grep -vc ^sequence: "$TMP/tables.before") tables in schema public${empty:+ (empty: $empty; add rows for them to tests/ops/fixture.sql)}" \
	test -z "$empty"
schema_state >"$TMP/schema.before"

# our keys only (a previous run may have left other bulk sizes)
rcli --scan --pattern "$KP:*" | while read -r k; do rcli DEL "$k" >/dev/null; done
rcli -n 5 DEL $KP:db5 >/dev/null
head -c 700 /dev/urandom >"$TMP/binary"
rcli SET $KP:string "plain ASCII and ünïcødé, \"quotes\" and spaces" >/dev/null
rcli -x SET $KP:binary <"$TMP/binary" >/dev/null
rcli HSET $KP:hash field1 value1 field2 "value 2" count 42 >/dev/null
rcli DEL $KP:list >/dev/null
rcli RPUSH $KP:list one two three >/dev/null
rcli SET $KP:ttl "expires in an hour" EX 3600 >/dev/null
rcli -n 5 SET $KP:db5 "a key in db 5" >/dev/null
awk -v n=$((ROWS / 10)) -v kp="$KP:bulk:" 'BEGIN {
	for (i = 1; i <= n; i++) {
		k = kp i; v = "value-" i "-" sprintf("%08x", i * 2654435761 % 4294967296)
		printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
	} }' | REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --pipe >/dev/null ||
	abort "could not write the bulk Redis keys"
redis_sample >"$TMP/redis.before"
check "redis sample written ($(wc -l <"$TMP/redis.before") checks, $((ROWS / 10)) bulk keys)" \
	grep -q "^bulk $((ROWS / 10))$" "$TMP/redis.before"
db_bytes=$(psql_su -c "SELECT pg_database_size('pixelcraft')")
redis_mem=$(rcli INFO memory | tr -d '\r' | sed -n 's/^used_memory_human://p')

# ============================================================= 2. backup
t0=$(now_ms)
if backup >"$TMP/backup.log" 2>&1; then ok "backup.sh exits 0"; else
	sed 's/^/    /' "$TMP/backup.log"; fail "backup.sh exits 0"; abort "no backup, cannot go on"
fi
backup_ms=$(($(now_ms) - t0))
SET=$(find "$TMP/backups" -mindepth 1 -maxdepth 1 -type d -name 'pixelcraft-*' | sort | tail -n 1)
check "backup set written: $(basename "${SET:-none}")" test -n "$SET" -a -f "$SET/manifest.txt"
files=$(cd "$SET" && find . -type f -printf '%f\n' | sort | paste -sd' ')
check "set holds exactly manifest.txt postgres.dump.gpg redis.rdb.gpg" \
	test "$files" = "manifest.txt postgres.dump.gpg redis.rdb.gpg"
modes=$(stat -c %a "$SET" "$SET"/* | sort -u | paste -sd' ')
check "set is readable by its owner only (modes: $modes)" test "$modes" = "600 700"
check "files are gpg-encrypted, not plaintext dumps" bash -c "
	! head -c 5 '$SET/postgres.dump.gpg' | grep -q PGDMP &&
	! head -c 5 '$SET/redis.rdb.gpg' | grep -q REDIS &&
	gpg --homedir '$TMP/gnupg' --list-packets --batch --pinentry-mode cancel '$SET/postgres.dump.gpg' 2>/dev/null |
		grep -q 'symkey enc packet: version 4, cipher 9'"
check "backup log has one timestamped line per step and no secrets" bash -c "
	grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z backup: complete' '$TMP/backup.log' &&
	! grep -qF -e '$REDIS_PASSWORD' -e '$PG_APP_PASSWORD' -e \"\$(cat '$TMP/passphrase')\" '$TMP/backup.log'"
out=$(env -i PATH="$PATH" BACKUP_DIR="$TMP/backups" "$ROOT/ops/monitor-backups.sh" --verify 2>&1) || true
check "monitor-backups.sh --verify is happy with the new set: $(cut -c1-90 <<<"$out")" grep -q '^monitor-backups: OK' <<<"$out"
pg_size=$(stat -c %s "$SET/postgres.dump.gpg") redis_size=$(stat -c %s "$SET/redis.rdb.gpg")
pg_plain=$(gpg --batch --quiet --pinentry-mode loopback --passphrase-file "$TMP/passphrase" \
	--homedir "$TMP/gnupg" -d "$SET/postgres.dump.gpg" 2>/dev/null | wc -c) || true

# the recovery point is the backup: what is written after it is lost
marker=ffffffff-0000-4000-8000-$(printf '%012d' $$)
psql_su -q -c "INSERT INTO user_profiles (user_id, metadata) VALUES ('$marker', '{\"after\":\"backup\"}')"
rcli SET $KP:after-backup 1 >/dev/null

# =========================================================== 3. disaster
psql_su -q -d postgres -c 'DROP DATABASE pixelcraft WITH (FORCE)' -c 'CREATE DATABASE pixelcraft OWNER pixelcraft' ||
	abort "could not drop and recreate the database"
rcli FLUSHALL >/dev/null
check "disaster: database recreated empty, Redis flushed" bash -c "
	[[ -z \$(STACK_QUIET=1 '$STACK' psql '$DIR' -tA -c \"$TABLES_SQL\") ]] &&
	[[ \$(REDISCLI_AUTH='$REDIS_PASSWORD' redis-cli -p $REDIS_PORT EXISTS $KP:string) == 0 ]]"

# ============================================================ 4. restore
t0=$(now_ms)
if restore --yes "${RS_OPTS[@]}" --health-url "$BASE_URL/health" "$SET" >"$TMP/restore.log" 2>&1; then
	ok "restore.sh exits 0"
else
	sed 's/^/    /' "$TMP/restore.log"; fail "restore.sh exits 0"
fi
restore_ms=$(($(now_ms) - t0))
table_state >"$TMP/tables.after"
while read -r t n sum; do
	read -r _ n2 sum2 < <(grep "^$t " "$TMP/tables.after" || echo "- missing missing")
	if [[ $t == sequence:* ]]; then
		check "${t#sequence:}: at $n (after restore: $n2)" test "$n" = "$n2"
	else
		check "table $t: $n rows, checksum ${sum:0:12}... (after restore: $n2 rows, ${sum2:0:12}...)" \
			test "$n $sum" = "$n2 $sum2"
	fi
done <"$TMP/tables.before"
check "no extra tables or sequences after restore" test "$(wc -l <"$TMP/tables.after")" = "$(wc -l <"$TMP/tables.before")"
check "schema identical (pg_dump --schema-only)" test "$(schema_state)" = "$(cat "$TMP/schema.before")"
check "row written after the backup is absent (recovery point = backup start)" \
	test "$(psql_su -c "SELECT count(*) FROM user_profiles WHERE user_id = '$marker'")" = 0
check "restore reported row counts per table" grep -q 'restore: rows: public.user_profiles' "$TMP/restore.log"
redis_sample >"$TMP/redis.after"
for k in "${SAMPLE_KEYS[@]}" db5 bulk; do
	check "redis $k: $(grep "^$k " "$TMP/redis.before" | cut -d' ' -f2- | cut -c1-20) restored" \
		test "$(grep "^$k " "$TMP/redis.before")" = "$(grep "^$k " "$TMP/redis.after")"
done
check "redis key written after the backup is absent" test "$(rcli EXISTS $KP:after-backup)" = 0
check "stack healthy after restore (workers reconnected to Postgres and Redis)" wait_healthy

# ==================================================== 5. failure cases
# Each must fail, say why, and leave both stores exactly as they are.
table_state >"$TMP/tables.ref"
redis_sample >"$TMP/redis.ref"
untouched() { # $1: what happened
	table_state >"$TMP/tables.now"
	redis_sample >"$TMP/redis.now"
	check "$1: database untouched (row counts and checksums unchanged)" cmp -s "$TMP/tables.ref" "$TMP/tables.now"
	check "$1: Redis untouched (sample unchanged, same process)" \
		bash -c "cmp -s '$TMP/redis.ref' '$TMP/redis.now' && [[ \$(cat '$DIR/redis/redis.pid') == $2 ]]"
}
expect_fail() { # $1 what, $2 message regex, rest: command
	local what=$1 re=$2 rc=0; shift 2
	"$@" >"$TMP/fail.log" 2>&1 || rc=$?
	check "$what: exit status non-zero (got $rc)" test "$rc" -ne 0
	if grep -qE "$re" "$TMP/fail.log"; then ok "$what: message: $(grep -E "$re" "$TMP/fail.log" | head -n 1 | cut -c22-)"
	else fail "$what: message matching /$re/ (got: $(tail -n 2 "$TMP/fail.log" | tr '\n' ' '))"; fi
}
copy_set() { rm -rf "${TMP:?}/$1"; cp -a "$SET" "$TMP/$1"; echo "$TMP/$1"; }
pid=$(redis_pid)

expect_fail "restore without --yes" 'refusing to restore without --yes' restore "${RS_OPTS[@]}" "$SET"
untouched "without --yes" "$pid"

bad=$(copy_set corrupted)
size=$(stat -c %s "$bad/postgres.dump.gpg")
printf '\xde\xad\xbe\xef' | dd of="$bad/postgres.dump.gpg" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect_fail "corrupted postgres.dump.gpg" 'manifest check: SHA-256 of postgres.dump.gpg' \
	restore --yes "${RS_OPTS[@]}" "$bad"
untouched "corrupted file" "$pid"

bad=$(copy_set truncated)
truncate -s -100 "$bad/redis.rdb.gpg"
expect_fail "truncated redis.rdb.gpg" 'manifest check: redis.rdb.gpg is [0-9]+ bytes' \
	restore --yes "${RS_OPTS[@]}" "$bad"
untouched "truncated file" "$pid"

expect_fail "wrong passphrase" 'cannot decrypt postgres.dump.gpg: wrong passphrase' \
	restore --yes "${RS_OPTS[@]}" --passphrase-file "$TMP/wrong-passphrase" "$SET"
untouched "wrong passphrase" "$pid"

# the manifest updated to match: gpg's integrity check must catch it
bad=$(copy_set tampered)
size=$(stat -c %s "$bad/postgres.dump.gpg")
printf '\x00\xff\x00\xff' | dd of="$bad/postgres.dump.gpg" bs=1 seek=$((size - 40)) conv=notrunc status=none
sed -i "s/^file postgres.dump.gpg .*/file postgres.dump.gpg $size $(sha256sum "$bad/postgres.dump.gpg" | cut -d' ' -f1)/" \
	"$bad/manifest.txt"
expect_fail "tampered file with matching manifest" 'cannot decrypt postgres.dump.gpg: the file is corrupted' \
	restore --yes "${RS_OPTS[@]}" "$bad"
untouched "tampered file" "$pid"

# pg_restore fails half-way (after its DROPs ran): the single transaction
# must roll everything back. A set whose dump has a table owned by a role
# that no longer exists: ALTER TABLE ... OWNER TO fails.
psql_su -q -c 'CREATE ROLE pixelcraft_roundtrip_ghost' \
	-c 'CREATE TABLE roundtrip_ghost (id int)' -c 'ALTER TABLE roundtrip_ghost OWNER TO pixelcraft_roundtrip_ghost' \
	-c 'GRANT SELECT ON roundtrip_ghost TO pixelcraft'
BK_ENV+=(BACKUP_NAME_PREFIX=ghost)
backup >"$TMP/ghost-backup.log" 2>&1 || { sed 's/^/    /' "$TMP/ghost-backup.log"; abort "ghost backup failed"; }
psql_su -q -c 'DROP TABLE roundtrip_ghost' -c 'DROP ROLE pixelcraft_roundtrip_ghost'
ghost=$(find "$TMP/backups" -mindepth 1 -maxdepth 1 -type d -name 'ghost-*' | head -n 1)
expect_fail "pg_restore error half-way" 'transaction was rolled back' \
	restore --yes --only postgres "$ghost"
untouched "pg_restore error half-way" "$pid"

# a dump that fails must fail the backup and leave no set behind
sets_before=$(find "$TMP/backups" -mindepth 1 -maxdepth 1 | sort)
BK_ENV+=(DATABASE_URL="postgresql://pixelcraft:$PG_APP_PASSWORD@127.0.0.1:1/pixelcraft")
expect_fail "backup with PostgreSQL unreachable" 'postgres dump failed' backup
BK_ENV+=(DATABASE_URL="$DATABASE_URL" REDIS_URL="redis://:wrong-password@127.0.0.1:$REDIS_PORT/0")
expect_fail "backup with a wrong Redis password" 'redis snapshot failed' backup
check "failed backups left no set and no partial directory" \
	test "$(find "$TMP/backups" -mindepth 1 -maxdepth 1 | sort)" = "$sets_before"
BK_ENV+=(REDIS_URL="redis://:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0")
chmod 0644 "$TMP/passphrase"
expect_fail "backup with a world-readable passphrase file" 'accessible by group/others' backup
chmod 0400 "$TMP/passphrase"

# ====================================================== 6. stack still works
check "stack healthy at the end ($BASE_URL/health)" wait_healthy
check "no gpg-agent left running for our temporary homes" \
	bash -c "! pgrep -f 'gpg-agent --homedir ${TMPDIR:-/tmp}/pixelcraft-(backup|restore)-gpg' >/dev/null"

restore_health=$(sed -n 's/.*health: .* answers 200 after \([0-9.]*\) s.*/\1/p' "$TMP/restore.log")
restore_pg=$(sed -n 's/.*postgres: restored in \([0-9.]*\) s/\1/p' "$TMP/restore.log")
restore_redis=$(sed -n 's/.*redis: restored and answering.* in \([0-9.]*\) s/\1/p' "$TMP/restore.log")
backup_pg=$(sed -n 's/.*postgres: done, .* in \([0-9.]*\) s/\1/p' "$TMP/backup.log")
backup_redis=$(sed -n 's/.*redis: done, .* in \([0-9.]*\) s/\1/p' "$TMP/backup.log")
cat <<EOF
# measured (ROWS=$ROWS; database $db_bytes bytes on disk, Redis used_memory $redis_mem)
#   backup:  $(secs "$backup_ms") s wall (pg_dump+gpg ${backup_pg:-?} s, redis --rdb+gpg ${backup_redis:-?} s)
#   set:     $((pg_size + redis_size)) bytes (postgres.dump.gpg $pg_size, plaintext dump $pg_plain; redis.rdb.gpg $redis_size)
#   restore: $(secs "$restore_ms") s wall, from start to /health 200 (pg_restore ${restore_pg:-?} s, redis stop/replace/start ${restore_redis:-?} s, health ${restore_health:-?} s after)
#   recovery point: the start of the backup (a row and a key written after it were absent after the restore)
EOF
echo "backup-roundtrip: $CHECKS checks, $FAILED failed"
((FAILED == 0))
