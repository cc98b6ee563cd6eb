#!/usr/bin/env bash
# ws-load.sh: live updates at scale. Starts a private stack (nginx with nchan),
# opens USERS authenticated subscribers (default 10,000), each on its own
# user's channel (half WebSocket, half EventSource), plus ADMINS (100) on the
# analytics stream; creates one notification for every user (stored in
# Postgres, then published to each user's channel as the workers do) and
# ANALYTICS (100) analytics events; reports how many were delivered, the
# publish-to-receive latency (p50/p99) and nginx's memory per connection.
# Exits non-zero unless every message was delivered.
#
#   scripts/ws-load.sh            USERS=1000 scripts/ws-load.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# a caller's stack (load-test.sh's, the tests') must not leak into ours
[[ -f ${STACK_DIR:-}/stack.env ]] && unset $(sed -n 's/=.*//p' "$STACK_DIR/stack.env")
USERS=${USERS:-10000}
ADMINS=${ADMINS:-100}
ANALYTICS=${ANALYTICS:-100}
DIR=$(mktemp -d /tmp/pixelcraft-wsload.XXXXXX)
trap 'STACK_QUIET=1 scripts/stack.sh down "$DIR" >/dev/null 2>&1; rm -rf "$DIR"' EXIT

make -s all
ulimit -n "$(ulimit -Hn)"
STACK_QUIET=1 scripts/stack.sh up "$DIR" --stub --workers 4 --chat-workers 4
set -a
. "$DIR/stack.env"
set +a

build/pc-token --many-with-ids "$USERS" "$SUPABASE_JWT_SECRET" >"$DIR/users.txt"
build/pc-token --many-with-ids "$ADMINS" "$SUPABASE_JWT_SECRET" >"$DIR/admins.txt"
# the admins are admins; every user gets a notification row (the events
# published below carry what the workers would publish for them)
awk '{print $1 "\tadmin"}' "$DIR/admins.txt" >"$DIR/admins.tsv"
awk '{print $1}' "$DIR/users.txt" >"$DIR/users.ids"
chmod 644 "$DIR"/*.tsv "$DIR"/*.ids
scripts/stack.sh psql "$DIR" -q -c "\\copy user_profiles (user_id, role) FROM '$DIR/admins.tsv'"
scripts/stack.sh psql "$DIR" -q <<SQL
CREATE TEMP TABLE u (id uuid);
\\copy u FROM '$DIR/users.ids'
INSERT INTO notifications (recipient_id, notification_type, severity, title, message)
SELECT id, 'system', 'info', 'Load test', 'One notification per user' FROM u;
SQL

pids=$(pgrep -d, -P "$(cat "$DIR/run/nginx.pid")"),$(cat "$DIR/run/nginx.pid")
echo "ws-load: $USERS users + $ADMINS admins through nginx on $BASE_URL"
build/live-load --port "$PORT" --internal-port "$INTERNAL_PORT" --users "$DIR/users.txt" \
	--admins "$DIR/admins.txt" --analytics "$ANALYTICS" --nginx-pids "$pids" --timeout 120
