#!/usr/bin/env bash
# monitor-backups.sh (test): checks ops/monitor-backups.sh on made-up backup
# directories; needs no stack. Each case must give the expected exit status
# and message: OK for a fresh, complete set; an alert for a missing
# directory, no set, an old set, a file smaller than the minimum, a file
# that does not match its manifest (size; SHA-256 with --verify), a missing
# file; mail through `mail` when ALERT_EMAIL is set (a stand-in `mail`).
#
#   tests/ops/monitor-backups.sh
#
# One line per check; exit status 0 only if all passed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MON=$ROOT/ops/monitor-backups.sh
FAILED=0 CHECKS=0
ok() { CHECKS=$((CHECKS + 1)); printf 'ok   %2d - %s\n' "$CHECKS" "$*"; }
fail() { CHECKS=$((CHECKS + 1)) FAILED=$((FAILED + 1)); printf 'FAIL %2d - %s\n' "$CHECKS" "$*"; }

TMP=$(mktemp -d /tmp/pixelcraft-monitor-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# make_set NAME AGE_SECONDS PG_BYTES REDIS_BYTES: a set as backup.sh writes it
make_set() {
	local d=$TMP/backups/$1 created=$(($(date +%s) - $2)) f
	mkdir -p "$d"
	head -c "$3" /dev/urandom >"$d/postgres.dump.gpg"
	head -c "$4" /dev/urandom >"$d/redis.rdb.gpg"
	{
		echo "format=pixelcraft-backup-1"
		echo "name=$1"
		echo "created_epoch=$created"
		for f in postgres.dump.gpg redis.rdb.gpg; do
			echo "file $f $(stat -c %s "$d/$f") $(sha256sum "$d/$f" | cut -d' ' -f1)"
		done
	} >"$d/manifest.txt"
}
stamp() { date -u -d "@$(($(date +%s) - $1))" +%Y%m%dT%H%M%SZ; }

# expect WHAT STATUS REGEX [VAR=value... | NO_BACKUP_DIR] -- [args...]
expect() {
	local what=$1 want=$2 re=$3 rc=0 envs=(BACKUP_DIR="$TMP/backups") out
	shift 3
	while (($#)) && [[ $1 != -- ]]; do
		if [[ $1 == NO_BACKUP_DIR ]]; then envs=("${envs[@]:1}"); else envs+=("$1"); fi
		shift
	done
	shift
	out=$(env -i PATH="$PATH" "${envs[@]}" "$MON" "$@" 2>&1) || rc=$?
	if [[ $rc == "$want" ]] && grep -qE "$re" <<<"$out"; then
		ok "$what: exit $rc, $(grep -E "$re" <<<"$out" | head -n 1 | cut -c1-110)"
	else
		fail "$what: expected exit $want and /$re/, got exit $rc: $out"
	fi
}

expect "missing directory" 1 'backup directory .* is missing' --
mkdir -p "$TMP/backups/.partial-pixelcraft-x"
expect "only an incomplete (.partial) set" 1 'no backup set in' --

s25="pixelcraft-$(stamp 90000)"
make_set "$s25" 90000 20000 500
expect "newest set 25 h old" 0 'OK: newest set pixelcraft-.*, 1500 min old' --
make_set "pixelcraft-$(stamp 100000)" 100000 20000 500
expect "older sets do not matter" 0 'OK: newest set' --
rm -rf "${TMP:?}/backups/$s25"
expect "newest set 27 h old" 1 'is 27 h old \(limit 26 h\)' --
expect "BACKUP_MAX_AGE_HOURS=30 accepts it" 0 'OK' BACKUP_MAX_AGE_HOURS=30 --

new="pixelcraft-$(stamp 60)"
make_set "$new" 60 20000 500
expect "fresh complete set" 0 "OK: newest set $new, 1 min old, postgres 20000 bytes, redis 500 bytes" --
expect "fresh set, --verify" 0 'checksums verified' -- --verify
expect "postgres dump below BACKUP_MIN_POSTGRES_BYTES" 1 'postgres.dump.gpg is only 20000 bytes \(minimum 50000\)' \
	BACKUP_MIN_POSTGRES_BYTES=50000 --
expect "redis dump below BACKUP_MIN_REDIS_BYTES" 1 'redis.rdb.gpg is only 500 bytes \(minimum 1000\)' \
	BACKUP_MIN_REDIS_BYTES=1000 --

make_set "$new" 60 3000 500
expect "postgres dump below the default minimum (8192)" 1 'implausibly small' --
make_set "$new" 60 20000 500
printf 'x' | dd of="$TMP/backups/$new/redis.rdb.gpg" bs=1 seek=10 conv=notrunc status=none
expect "same size, other content: passes without --verify" 0 'OK' --
expect "same size, other content: --verify alerts" 1 'SHA-256 of redis.rdb.gpg does not match' -- --verify
truncate -s 10000 "$TMP/backups/$new/postgres.dump.gpg"
expect "truncated file" 1 'postgres.dump.gpg is 10000 bytes, the manifest says 20000' --
rm "$TMP/backups/$new/postgres.dump.gpg"
expect "missing file" 1 'postgres.dump.gpg is missing' --

mkdir -p "$TMP/bin"
printf '#!/bin/sh\n{ echo "to: $*"; cat; } >%s/mail.out\n' "$TMP" >"$TMP/bin/mail"
chmod +x "$TMP/bin/mail"
PATH=$TMP/bin:$PATH expect "ALERT_EMAIL set: alert on stderr" 1 'ALERT on' ALERT_EMAIL=ops@example.com --
if grep -q 'to: -s PixelCraft backup ALERT on .* ops@example.com' "$TMP/mail.out" 2>/dev/null &&
	grep -q 'postgres.dump.gpg is missing' "$TMP/mail.out"; then
	ok "ALERT_EMAIL set: the alert was mailed to ops@example.com"
else
	fail "ALERT_EMAIL set: no mail ($(cat "$TMP/mail.out" 2>/dev/null))"
fi

printf 'BACKUP_DIR=%s\nBACKUP_MAX_AGE_HOURS=1\n' "$TMP/none" >"$TMP/env"
expect "--env-file is read" 1 "backup directory $TMP/none is missing" NO_BACKUP_DIR -- --env-file "$TMP/env"
expect "bad setting is a usage error" 2 'BACKUP_MAX_AGE_HOURS must be a whole number' BACKUP_MAX_AGE_HOURS=soon --

echo "monitor-backups test: $CHECKS checks, $FAILED failed"
((FAILED == 0))
