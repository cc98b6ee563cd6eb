#!/usr/bin/env bash
# scale-out.sh: the scale-out topology of ops/SCALE_OUT.md, stood up in a
# temporary directory next to a running test stack, and checked:
#
#   two application hosts (each: nginx + both worker pools, scripts/stack.sh
#   up --shared) in their own network namespaces, joined to the root
#   namespace by a veth pair each (a /30 per host); an nginx load balancer in
#   the root namespace (fcgi-conf/nginx-lb.conf, round robin over the two);
#   PgBouncer in session mode in front of the stack's PostgreSQL; one Redis of
#   its own; a streaming replica of the stack's PostgreSQL (pg_basebackup -R,
#   hot standby) as both hosts' DATABASE_READ_URL. Both hosts' nchan keep the
#   live-update channels in that Redis too (stack.sh --nchan-redis, database 1:
#   fcgi-conf/nginx-live-redis.conf). The hosts reach PgBouncer, Redis and the
#   replica through their veth address. The stub LLM runs in
#   each namespace on its loopback, standing in for the LLM host. Without
#   network namespaces (not root, no `ip netns`, or SCALE_NO_NETNS=1) the
#   hosts listen on 127.0.0.2 and 127.0.0.3 instead, which the output says.
#
# One line per check ("ok   N - ..." or "FAIL N - ..."), then "N checks,
# M failed"; the exit status is 0 only if every check passed:
#
#   chat through the balancer, both hosts serving (their access logs);
#   one user's rate limit (RATE_LIMIT_DEFAULT=10/minute) is global: 10 answers,
#   then 429 from both hosts;
#   a conversation started on host A continues on host B;
#   live updates across hosts: a conversation started on host B notifies its
#   user's WebSocket and EventSource subscribers on host A (and the EventSource
#   on B), one started on host A those on B (and A); the admins' analytics
#   stream on both hosts gets both conversations' events; an EventSource
#   reconnecting to host B with the Last-Event-ID it got from host A receives
#   only what it missed; nchan's keys are in Redis and the hosts' nginx error
#   logs show no nchan Redis error (each event awaited at most 5 s);
#   analytics are read from the replica (its pg_stat_activity shows the
#   workers; /health reports postgres_read), chat writes land on the primary
#   and reach the replica; with the replica stopped analytics answer 503 with
#   Retry-After while chat, /health (degraded) and /health/ready still work;
#   host A stopped (nginx and pools) under a stream of chat messages: every
#   message is answered (clients retry with their Idempotency-Key), each
#   answered message is in Postgres exactly once with one answer, and the
#   balancer sends everything to host B.
#
#   tests/scale/scale-out.sh STACK_DIR
#
# Everything started here (namespaces, veths, processes, the directory) is
# removed by a trap, also on failure (KEEP_TMP=1 keeps the directory).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/scale/lib.sh
. "$ROOT/tests/scale/lib.sh"
stack_arg scale "$@"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

for tool in curl jq nginx pgbouncer redis-server ss "$PGBIN/pg_basebackup"; do
	command -v "$tool" >/dev/null || abort "$tool not found (scripts/install-deps.sh)"
done

make_tmp scale

as_user() { # USER CMD...: servers refuse to run as root
	local user=$1; shift
	if [[ $(id -u) -eq 0 ]]; then runuser -u "$user" -- "$@"; else "$@"; fi
}
own() { [[ $(id -u) -eq 0 ]] && chown "$@"; true; }

# ------------------------------------------------------------------ cleanup

REPLICA=""
cleanup() {
	cleanup_start
	pid=$(pidfile "$T/lb/nginx.pid") && kill "$pid" 2>/dev/null
	stop_hosts
	[[ -n $REPLICA && -f $REPLICA/postmaster.pid ]] &&
		as_user postgres "$PGBIN/pg_ctl" -D "$REPLICA" -m immediate -w -t 20 stop >/dev/null 2>&1
	teardown $(pidfile "$T/redis/redis.pid") $(pidfile "$T/pgbouncer/pgbouncer.pid")
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ------------------------------------------------------------------ helpers

# req METHOD URL [BODY [HEADER...]]: as lib.sh's http_req, and UP the
# balancer's upstream (X-Upstream, as host names)
req() {
	http_req "$@"
	UP=$(host_of "$(header x-upstream)")
}
# upstream address list ("a:p, b:p") to host names ("A,B")
host_of() {
	local s=${1// /} out="" a
	[[ -z $s ]] && { echo "-"; return; }
	IFS=, read -ra a <<<"$s"
	for x in "${a[@]}"; do
		case $x in "$A_ADDR:$A_PORT") out+=A, ;; "$B_ADDR:$B_PORT") out+=B, ;; *) out+="?$x," ;; esac
	done
	echo "${out%,}"
}
replica_sql() {
	as_user postgres "$PGBIN/psql" -h "$T/replica-sock" -p "$REPLICA_PORT" -U postgres \
		-d pixelcraft -X -At -c "$1" 2>&1
}
tally() { echo "$1" | grep -o . | sort | uniq -c | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }'; }
sorted() { echo $1 | tr ' ' '\n' | sort | paste -sd' '; }
count_posts() { awk '/"POST \/api\/chat\/message/ { n++ } END { print n + 0 }' "$1" 2>/dev/null; }

# ------------------------------------------------------------------ network

# Two namespaces, each with a veth pair to the root namespace:
#   host A: root side 10.231.N.1/30, namespace side 10.231.N.2/30
#   host B: root side 10.231.N.5/30, namespace side 10.231.N.6/30
# N is picked so that neither the names nor the subnet are in use.
netns_host() { # NS VETH ROOT_ADDR NS_ADDR
	ip link add "$2" type veth peer name "${2}p" || return 1
	LINKS+=("$2")
	ip link set "${2}p" netns "$1" &&
		ip addr add "$3/30" dev "$2" && ip link set "$2" up &&
		ip netns exec "$1" ip addr add "$4/30" dev "${2}p" &&
		ip netns exec "$1" ip link set "${2}p" up &&
		ip netns exec "$1" ip link set lo up
}
netns_setup() {
	local n
	WHY="SCALE_NO_NETNS is set"
	[[ -z ${SCALE_NO_NETNS:-} ]] || return 1
	WHY="not root"
	[[ $(id -u) -eq 0 ]] || return 1
	WHY="no ip command"
	command -v ip >/dev/null || return 1
	WHY="ip netns add failed"
	for _ in $(seq 1 20); do
		n=$((10 + RANDOM % 240))
		ip -4 -o addr show 2>/dev/null | grep -q " 10\.231\.$n\." && continue
		ip link show "pcs${n}a" >/dev/null 2>&1 && continue
		ip netns add "pcs${n}a" 2>/dev/null || continue
		NETNS+=("pcs${n}a")
		ip netns add "pcs${n}b" 2>/dev/null || return 1
		NETNS+=("pcs${n}b")
		WHY="veth setup failed"
		netns_host "pcs${n}a" "pcs${n}a" "10.231.$n.1" "10.231.$n.2" || return 1
		netns_host "pcs${n}b" "pcs${n}b" "10.231.$n.5" "10.231.$n.6" || return 1
		NS_A=pcs${n}a NS_B=pcs${n}b
		A_ADDR=10.231.$n.2 B_ADDR=10.231.$n.6 A_GW=10.231.$n.1 B_GW=10.231.$n.5
		NET=10.231.$n.0/24
		WHY="no connection through the veth pairs"
		poll 30 link_up "$NS_A" "$A_GW" && poll 30 link_up "$NS_B" "$B_GW"
		return
	done
	return 1
}
if netns_setup; then
	MODE=netns
	note "network namespaces: host A in $NS_A ($A_ADDR), host B in $NS_B ($B_ADDR);" \
		"veth pairs to the root namespace ($A_GW, $B_GW), where the balancer, PgBouncer," \
		"Redis and the replica listen"
else
	net_down
	MODE=loopback
	NS_A="" NS_B=""
	A_ADDR=127.0.0.2 B_ADDR=127.0.0.3 A_GW=127.0.0.1 B_GW=127.0.0.1 NET=127.0.0.1/32
	note "network namespaces unavailable ($WHY): FALLBACK to loopback addresses, host A on" \
		"$A_ADDR and host B on $B_ADDR, everything else on 127.0.0.1"
fi
LISTEN=127.0.0.1
[[ $MODE == netns ]] && LISTEN="127.0.0.1,$A_GW,$B_GW"

# -------------------------------------------------------------- data stores

# Redis of our own, on loopback and the root side of the veths.
REDIS_PORT=$(free_port) REDIS_PW=$(openssl rand -hex 16)
mkdir -p "$T/redis"
own pixelcraft "$T/redis"
as=()
[[ $(id -u) -eq 0 ]] && as=(runuser -u pixelcraft --)
"${as[@]}" redis-server --port "$REDIS_PORT" --bind "${LISTEN//,/ }" --requirepass "$REDIS_PW" \
	--dir "$T/redis" --pidfile "$T/redis/redis.pid" --logfile "" --daemonize yes --save "" \
	--appendonly no >/dev/null || abort "redis did not start"
poll 50 redis-cli -p "$REDIS_PORT" -a "$REDIS_PW" --no-auth-warning ping || abort "redis did not answer"

# PgBouncer, session mode, in front of the stack's PostgreSQL.
BOUNCER_PORT=$(free_port)
mkdir -p "$T/pgbouncer"
printf '"pixelcraft" "%s"\n' "$PG_APP_PASSWORD" >"$T/pgbouncer/userlist.txt"
cat >"$T/pgbouncer/pgbouncer.ini" <<EOF
[databases]
pixelcraft = host=127.0.0.1 port=$PG_PORT dbname=pixelcraft

[pgbouncer]
listen_addr = $LISTEN
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $T/pgbouncer/userlist.txt
; named prepared statements (src/db.c): session mode, one server
; connection per worker for as long as the worker is connected
pool_mode = session
server_reset_query = DISCARD ALL
; 2 hosts x (2 api + 3 chat workers) = 10 clients, all may be connected
default_pool_size = 12
max_client_conn = 50
ignore_startup_parameters = extra_float_digits
stats_users = pixelcraft
logfile = $T/log/pgbouncer.log
pidfile = $T/pgbouncer/pgbouncer.pid
EOF
touch "$T/log/pgbouncer.log"
chmod 600 "$T/pgbouncer/userlist.txt"
own -R postgres "$T/pgbouncer" "$T/log/pgbouncer.log"
as_user postgres pgbouncer -d -q "$T/pgbouncer/pgbouncer.ini" || abort "pgbouncer did not start"
bouncer_ok() {
	PGPASSWORD=$PG_APP_PASSWORD "$PGBIN/psql" -h 127.0.0.1 -p "$BOUNCER_PORT" -U pixelcraft \
		-d pixelcraft -X -At -c 'SELECT 1' | grep -qx 1
}
poll 50 bouncer_ok || abort "no query through pgbouncer: $(tail -n 3 "$T/log/pgbouncer.log")"

# A streaming replica of the stack's PostgreSQL (hot standby).
REPLICA=$T/replica REPLICA_PORT=$(free_port)
mkdir -p "$REPLICA" "$T/replica-sock"
chmod 700 "$REPLICA"
own postgres "$REPLICA" "$T/replica-sock"
as_user postgres "$PGBIN/pg_basebackup" -h "$STACK_DIR/pgsock" -p "$PG_PORT" -U postgres \
	-D "$REPLICA" -R -X stream -c fast >"$T/log/basebackup.log" 2>&1 ||
	abort "pg_basebackup failed: $(tail -n 3 "$T/log/basebackup.log")"
cat >>"$REPLICA/postgresql.conf" <<EOF
# scale-out test: the replica's own addresses
listen_addresses = '$LISTEN'
unix_socket_directories = '$T/replica-sock'
hot_standby = on
hot_standby_feedback = on
shared_buffers = 16MB
EOF
echo "host pixelcraft pixelcraft $NET scram-sha-256" >>"$REPLICA/pg_hba.conf"
touch "$T/log/replica.log"
own postgres "$T/log/replica.log"
as_user postgres "$PGBIN/pg_ctl" -D "$REPLICA" -l "$T/log/replica.log" -o "-p $REPLICA_PORT" \
	-w -t 30 start >/dev/null || abort "the replica did not start: $(tail -n 3 "$T/log/replica.log")"
[[ $(replica_sql 'SELECT pg_is_in_recovery()') == t ]] || abort "the replica is not in recovery"
note "postgres primary (the test stack's) 127.0.0.1:$PG_PORT; pgbouncer (session mode)" \
	":$BOUNCER_PORT; streaming replica :$REPLICA_PORT; redis :$REDIS_PORT; setup $(elapsed) s"

# ------------------------------------------------------------------ hosts

# A host: scripts/stack.sh up --shared, its own pools and nginx, Postgres
# through PgBouncer, analytics from the replica, Redis of this test.
host_up() { # NAME NS ADDR GW
	local name=$1 ns=$2 addr=$3 gw=$4 dir=$T/host$1 wrap=() stub_pid
	mkdir -p "$dir/log"
	HOSTS+=("$dir")
	if [[ -n $ns ]]; then
		wrap=(--wrap "ip netns exec $ns")
		# the stub LLM on the namespace's loopback, at the stack's OLLAMA_HOST
		ip netns exec "$ns" setsid "$ROOT/build/stub-ollama" "$STUB_PORT" \
			>>"$T/log/stub-$name.log" 2>&1 &
		stub_pid=$!
		disown "$stub_pid"
		PIDS+=("$stub_pid")
		poll 50 ip netns exec "$ns" curl -sf "http://127.0.0.1:$STUB_PORT/api/tags" ||
			abort "stub LLM in $ns did not start"
	fi
	# a clean environment: the workers prefer variables in their environment
	# (the test stack's DATABASE_URL, ...) to those of their env file; the
	# binary and sanitizer options of the run (scripts/sanitize.sh) pass
	env -i PATH="$PATH" ${PIXELCRAFT_BIN:+PIXELCRAFT_BIN="$PIXELCRAFT_BIN"} \
		${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} ${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"} \
		STACK_QUIET=1 FRONT=nginx NGINX_ACCESS_LOG="$dir/log/access.log" \
		EXTRA_ENV="MODEL_HEALTH_INTERVAL=1 RATE_LIMIT_DEFAULT=10/minute RATE_LIMIT_CHAT=100000/minute TRUSTED_PROXIES=$gw DATABASE_READ_URL=postgresql://pixelcraft:$PG_APP_PASSWORD@$gw:$REPLICA_PORT/pixelcraft" \
		"$STACK" up "$dir" --shared "$STACK_DIR" --listen "$addr" "${wrap[@]}" \
		--database-url "postgresql://pixelcraft:$PG_APP_PASSWORD@$gw:$BOUNCER_PORT/pixelcraft" \
		--redis-url "redis://:$REDIS_PW@$gw:$REDIS_PORT/0" \
		--nchan-redis "redis://:$REDIS_PW@$gw:$REDIS_PORT/1" \
		--workers 2 --chat-workers 3 >"$T/log/host$name-up.log" 2>&1 ||
		abort "host $name did not start: $(tail -n 5 "$T/log/host$name-up.log")"
}
host_up A "$NS_A" "$A_ADDR" "$A_GW"
host_up B "$NS_B" "$B_ADDR" "$B_GW"
A_PORT=$(sed -n 's/^PORT=//p' "$T/hostA/stack.env")
B_PORT=$(sed -n 's/^PORT=//p' "$T/hostB/stack.env")
HOST_A=http://$A_ADDR:$A_PORT HOST_B=http://$B_ADDR:$B_PORT

# The balancer: fcgi-conf/nginx-lb.conf with the two hosts, plus a header
# naming the host that answered (test only) and an access log.
LB_PORT=$(free_port)
mkdir -p "$T/lb/tmp"
sed -e "s#server 10.0.0.11:80 #server $A_ADDR:$A_PORT #" \
	-e "s#server 10.0.0.12:80 #server $B_ADDR:$B_PORT #" \
	-e "s#listen 80;#listen 127.0.0.1:$LB_PORT; add_header X-Upstream \$upstream_addr always;#" \
	"$ROOT/fcgi-conf/nginx-lb.conf" >"$T/lb/site.conf"
[[ $(grep -c "server $A_ADDR:$A_PORT \|server $B_ADDR:$B_PORT \|listen 127.0.0.1:$LB_PORT;" \
	"$T/lb/site.conf") == 3 ]] || abort "fcgi-conf/nginx-lb.conf changed: rendering failed"
user=""
[[ $(id -u) -eq 0 ]] && user="user www-data;"
cat >"$T/lb/nginx.conf" <<EOF
$user
worker_processes 1;
pid $T/lb/nginx.pid;
error_log $T/log/lb-error.log warn;
events { worker_connections 1024; }
http {
    log_format lb '\$msec \$request_method \$uri \$status upstream=\$upstream_addr';
    access_log $T/log/lb-access.log lb;
    client_body_temp_path $T/lb/tmp/body;
    proxy_temp_path $T/lb/tmp/proxy;
    fastcgi_temp_path $T/lb/tmp/fastcgi;
    uwsgi_temp_path $T/lb/tmp/uwsgi;
    scgi_temp_path $T/lb/tmp/scgi;
    include $T/lb/site.conf;
}
EOF
nginx -t -q -c "$T/lb/nginx.conf" -e "$T/log/lb-error.log" || abort "nginx -t of the balancer failed"
nginx -c "$T/lb/nginx.conf" -e "$T/log/lb-error.log" || abort "the balancer did not start"
LB=http://127.0.0.1:$LB_PORT
poll 50 curl -sf "$LB/health/live" || abort "the balancer does not answer"
note "hosts: A $HOST_A, B $HOST_B (2 api + 3 chat workers each); balancer $LB; up after $(elapsed) s"

# --------------------------------------------------------------- 1. chat

a0=$(count_posts "$T/hostA/log/access.log") b0=$(count_posts "$T/hostB/log/access.log")
okn=0 ups=""
for i in $(seq 1 10); do
	req POST "$LB/api/chat/message" "{\"message\":\"hello $i through the balancer\"}"
	[[ $ST == 200 && $(field .response) == "Echo: hello $i through the balancer" ]] && okn=$((okn + 1))
	ups+="$UP "
done
a1=$(count_posts "$T/hostA/log/access.log") b1=$(count_posts "$T/hostB/log/access.log")
check $((okn != 10 || a1 - a0 < 1 || b1 - b0 < 1)) \
	"chat through the balancer: $okn of 10 answered 200 with the model's reply; host A served $((a1 - a0)), host B $((b1 - b0)) (their nginx access logs; balancer order: ${ups% })"

# PgBouncer's clients: the workers of both hosts, by address
bouncer_clients=$(PGPASSWORD=$PG_APP_PASSWORD "$PGBIN/psql" -h 127.0.0.1 -p "$BOUNCER_PORT" \
	-U pixelcraft -d pgbouncer -X --csv -c 'SHOW CLIENTS' 2>&1 | awk -F, '
	NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "addr") c = i; if ($i == "database") d = i }; next }
	c && $d == "pixelcraft" { n[$c]++ } END { for (a in n) printf "%s=%d ", a, n[a] }' |
	tr ' ' '\n' | sort | paste -sd' ')
bouncer_servers=$(PGPASSWORD=$PG_APP_PASSWORD "$PGBIN/psql" -h 127.0.0.1 -p "$BOUNCER_PORT" \
	-U pixelcraft -d pgbouncer -X --csv -c 'SHOW SERVERS' 2>&1 | awk 'END { print NR - 1 }')
# every worker (2 hosts x 5) holds one client connection, and one server
# connection behind it in session mode
if [[ $MODE == netns ]]; then
	want="$A_ADDR=5 $B_ADDR=5"
else
	want="127.0.0.1=10"
fi
check "$([[ $bouncer_clients == "$want" && $bouncer_servers -ge 10 ]]; echo $?)" \
	"the hosts' workers reach Postgres through PgBouncer in session mode: its clients by address ${bouncer_clients:-none} (A is $A_ADDR, B is $B_ADDR: 2 api + 3 chat workers each), $bouncer_servers server connections"

# --------------------------------------------------------- 2. rate limit

# fixed windows on the minute: not within 4 s of a window's end
while (($(date +%s) % 60 > 55)); do sleep 0.2; done
tok=$(token "$(uuid)")
codes="" by200="" by429=""
for i in $(seq 1 14); do
	req GET "$LB/api/me" "" "Authorization: Bearer $tok"
	codes+="$ST "
	[[ $ST == 200 ]] && by200+="$UP"
	[[ $ST == 429 ]] && by429+="$UP"
done
want="200 200 200 200 200 200 200 200 200 200 429 429 429 429 "
check "$([[ $codes == "$want" && $by200 == *A* && $by200 == *B* && $by429 == *A* && $by429 == *B* ]]; echo $?)" \
	"rate limit is global (RATE_LIMIT_DEFAULT=10/minute, one user, GET /api/me through the balancer): ${codes% }; 200 from hosts $(tally "$by200"), 429 from $(tally "$by429")"

# ------------------------------------------- 3. conversation across hosts

uid=$(uuid) tok=$(token "$uid")
req POST "$HOST_A/api/chat/message" '{"message":"first, on host A"}' "Authorization: Bearer $tok"
conv=$(field .conversation_id) st1=$ST
req POST "$HOST_B/api/chat/message" "{\"message\":\"second, on host B\",\"conversation_id\":\"$conv\"}" \
	"Authorization: Bearer $tok"
st2=$ST conv2=$(field .conversation_id)
req GET "$LB/api/chat/history/$conv" "" "Authorization: Bearer $tok"
hist=$(jq -r '[.[] | .role + ":" + .content] | join(" | ")' "$T/resp" 2>/dev/null)
want="user:first, on host A | assistant:Echo: first, on host A | user:second, on host B | assistant:Echo: second, on host B"
check "$([[ $st1 == 200 && $st2 == 200 && -n $conv && $conv2 == "$conv" && $hist == "$want" ]]; echo $?)" \
	"conversation across hosts: started on A ($st1), continued on B ($st2, same conversation_id), history through the balancer ($ST): $hist"

# ------------------------------------------- 4. live updates across hosts

# Both hosts' nchan keep their channels in this test's Redis (database 1,
# stack.sh --nchan-redis: fcgi-conf/nginx-live-redis.conf, distributed mode).
# Subscribers connect straight to one host, as a browser's WebSocket or
# EventSource that the balancer sent there: EventSource with curl, WebSocket
# with the RFC 6455 handshake over bash's /dev/tcp (the server's frames are
# unmasked: read back from the raw stream). Each waits at most 5 s for an event.
sse_sub() { # NAME URL [LAST-EVENT-ID]
	curl -sN -m 30 -H 'Accept: text/event-stream' ${3:+-H "Last-Event-ID: $3"} "$2" \
		>"$T/live-$1.raw" 2>/dev/null &
	PIDS+=($!) LIVE_PIDS+=($!)
}
ws_sub() { # NAME ADDR PORT PATH
	(
		exec 3<>"/dev/tcp/$2/$3" || exit 1
		printf 'GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n' \
			"$4" "$2" "$3" "$(openssl rand -base64 16)" >&3
		exec cat <&3
	) >"$T/live-$1.raw" 2>/dev/null &
	PIDS+=($!) LIVE_PIDS+=($!)
}
sub_ready() { # NAME: the WebSocket handshake answered 101, or the EventSource stream began
	[[ $(head -c 12 "$T/live-$1.raw" 2>/dev/null) == "HTTP/1.1 101" ]] || grep -q '^: hi' "$T/live-$1.raw" 2>/dev/null
}
live_msgs() { # NAME: the messages received, one per line (WebSocket text frames, EventSource data)
	if [[ $(head -c 12 "$T/live-$1.raw") == "HTTP/1.1 101" ]]; then
		LC_ALL=C od -An -v -tu1 "$T/live-$1.raw" | LC_ALL=C awk '
			{ for (i = 1; i <= NF; i++) b[n++] = $i }
			END {
				for (p = 3; p < n && !(b[p - 3] == 13 && b[p - 2] == 10 && b[p - 1] == 13 && b[p] == 10); p++) ;
				for (p++; p + 1 < n; p += len) {
					op = b[p] % 16; len = b[p + 1] % 128; p += 2
					if (len == 126) { len = b[p] * 256 + b[p + 1]; p += 2 }
					else if (len == 127) { len = 0; for (k = 0; k < 8; k++) len = len * 256 + b[p + k]; p += 8 }
					if (p + len > n) break
					if (op != 1) continue
					s = ""; for (k = 0; k < len; k++) s = s sprintf("%c", b[p + k]); print s
				}
			}'
	else
		sed -n 's/^data: //p' "$T/live-$1.raw"
	fi
}
got() { # NAME EVENT_TYPE CONVERSATION: how many such events NAME received
	live_msgs "$1" | jq -R --arg t "$2" --arg c "$3" 'fromjson? | select(.event_type == $t and
		((.data.conversation_id // .data.action_url // "") | endswith($c)))' 2>/dev/null | grep -c '"event_type"'
}
all_got() { # EVENT_TYPE CONVERSATION MIN NAME...: each NAME got at least MIN
	local t=$1 c=$2 min=$3 n; shift 3
	for n in "$@"; do (($(got "$n" "$t" "$c") >= min)) || return 1; done
}
sse_id_of() { # NAME CONVERSATION: the EventSource id of the event about it
	awk -v c="$2" '/^id: / { id = $2 } /^data: / && index($0, c) { print id; exit }' "$T/live-$1.raw"
}
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
within() { # SECONDS CMD...: until CMD succeeds, for at most SECONDS of wall-clock time
	local end=$((${EPOCHREALTIME/./} + $1 * 1000000))
	shift
	until "$@" >/dev/null 2>&1; do
		((${EPOCHREALTIME/./} < end)) || return 1
		sleep 0.1
	done
}

LIVE_PIDS=()
uid=$(uuid) tok=$(token "$uid") adm=$(uuid)
atok=$(token "$adm")
primary_sql "INSERT INTO user_profiles (user_id, role) VALUES ('$adm', 'admin')" >/dev/null
ws_sub userA-ws "$A_ADDR" "$A_PORT" "/api/ws/notifications?token=$tok"
sse_sub userA-sse "$HOST_A/api/ws/notifications?token=$tok"
sse_sub userB-sse "$HOST_B/api/ws/notifications?token=$tok"
ws_sub adminA-ws "$A_ADDR" "$A_PORT" "/api/ws/analytics?token=$atok"
sse_sub adminB-sse "$HOST_B/api/ws/analytics?token=$atok"
subs_ready() { for n in userA-ws userA-sse userB-sse adminA-ws adminB-sse; do sub_ready "$n" || return 1; done; }
poll 50 subs_ready || abort "live subscribers not connected: $(for n in userA-ws userA-sse userB-sse adminA-ws adminB-sse; do printf '%s: %s; ' "$n" "$(head -n 1 "$T/live-$n.raw" | tr -d '\r')"; done)"

# live_from X: a user's new conversation on host X (A or B) notifies the user's
# subscribers on both hosts; sets CONV_X (its id)
live_from() {
	local x=$1 base t0 conv ok=1
	[[ $x == A ]] && base=$HOST_A || base=$HOST_B
	t0=$EPOCHREALTIME
	req POST "$base/api/chat/message" "{\"message\":\"live, on host $x\"}" "Authorization: Bearer $tok"
	conv=$(field .conversation_id)
	printf -v "CONV_$x" '%s' "$conv"
	within 5 all_got notification_created "${conv:-none}" 1 userA-ws userA-sse userB-sse && ok=0
	check $((ok || ST != 200)) \
		"live updates from host $x: a conversation started on host $x ($ST); its notification_created reached the user's WebSocket ($(got userA-ws notification_created "$conv")) and EventSource ($(got userA-sse notification_created "$conv")) on host A and EventSource ($(got userB-sse notification_created "$conv")) on host B, $(ms_since "$t0") ms after the request (limit 5 s)"
}
# one on host B (to subscribers on A), one on host A (to subscribers on B)
live_from B
live_from A
conv_b=$CONV_B conv_a=$CONV_A

# the admins' analytics stream: both conversations, whichever host served them
admin_all() {
	all_got conversation_started "$conv_b" 1 adminA-ws adminB-sse && all_got message_created "$conv_b" 2 adminA-ws adminB-sse &&
		all_got conversation_started "$conv_a" 1 adminA-ws adminB-sse && all_got message_created "$conv_a" 2 adminA-ws adminB-sse
}
within 5 admin_all && ok_an=0 || ok_an=1
an() { echo "$(got "$1" conversation_started "$2")+$(got "$1" message_created "$2")"; }
check "$ok_an" \
	"analytics stream (admins) across hosts: conversation_started + message_created (user, assistant) of the conversation on host B: WebSocket on host A $(an adminA-ws "$conv_b"), EventSource on host B $(an adminB-sse "$conv_b"); of the one on host A: $(an adminA-ws "$conv_a") and $(an adminB-sse "$conv_a") (want 1+2 each)"

# a client that reconnects through another host resumes from its last event
# id: the history is in Redis, not in the host that delivered the event
id_b=$(sse_id_of userA-sse "$conv_b")
sse_sub resumeB "$HOST_B/api/ws/notifications?token=$tok" "${id_b:-none}"
within 5 all_got notification_created "${conv_a:-none}" 1 resumeB && ok_r=0 || ok_r=1
check $((ok_r || $(got resumeB notification_created "$conv_b") != 0)) \
	"EventSource reconnecting to host B with Last-Event-ID ${id_b:-none} (received on host A): the later notification replayed ($(got resumeB notification_created "$conv_a")), the earlier one not again ($(got resumeB notification_created "$conv_b"))"
for pid in "${LIVE_PIDS[@]}"; do kill "$pid" 2>/dev/null; done

nkeys=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" -a "$REDIS_PW" --no-auth-warning -n 1 dbsize 2>&1)
nerr=$(cat "$T/hostA/log/nginx-error.log" "$T/hostB/log/nginx-error.log" 2>/dev/null | grep -c 'nchan: Redis')
check "$([[ $nkeys =~ ^[0-9]+$ && $nkeys -gt 0 && $nerr == 0 ]]; echo $?)" \
	"nchan's channels are in the shared Redis: $nkeys keys in database 1; nchan Redis errors in the hosts' nginx error logs: $nerr$( ((nerr)) && printf ' (%s)' "$(cat "$T/hostA/log/nginx-error.log" "$T/hostB/log/nginx-error.log" | grep -m 1 'nchan: Redis')")"

# ----------------------------------------------------------- 5. replica

tok=$(token "$(uuid)")
st_an=""
for i in 1 2 3 4; do
	req GET "$LB/api/analytics/conversations/list?limit=5" "" "Authorization: Bearer $tok"
	st_an+="$ST/$UP "
done
conns=$(replica_sql "SELECT a || '=' || count(*) FROM (SELECT coalesce(host(client_addr), 'local') a
	FROM pg_stat_activity WHERE datname = 'pixelcraft' AND usename = 'pixelcraft'
	AND application_name = 'pixelcraft-api') c GROUP BY a ORDER BY a" | tr '\n' ' ')
if [[ $MODE == netns ]]; then
	good=$([[ $conns == *"$A_ADDR="* && $conns == *"$B_ADDR="* ]]; echo $?)
else
	good=$([[ $conns == *"="* ]]; echo $?)
fi
check "$([[ $good == 0 && $(sorted "$st_an") == "200/A 200/A 200/B 200/B" ]]; echo $?)" \
	"analytics read from the replica: 4 reports through the balancer (${st_an% }); the replica's pg_stat_activity shows the workers' connections by address: ${conns% } (A is $A_ADDR, B is $B_ADDR)"

# /health names the replica (each host)
hs=""
for h in "$HOST_A" "$HOST_B"; do
	req GET "$h/health"
	hs+="$ST:$(field .status):postgres_read=$(field .services.postgres_read.status) "
done
check "$([[ $hs == "200:healthy:postgres_read=up 200:healthy:postgres_read=up " ]]; echo $?)" \
	"/health with the replica up, hosts A and B: ${hs% }"

req POST "$LB/api/chat/message" "{\"message\":\"write goes to the primary $RUN\"}"
mid=$(field .user_message_id) st_chat=$ST
on_primary=$(primary_sql "SELECT count(*) FROM messages WHERE id = '$mid'")
t_r=$EPOCHREALTIME
on_replica() { [[ $(replica_sql "SELECT count(*) FROM messages WHERE id = '$mid'") == 1 ]]; }
poll 100 on_replica && rep=1 || rep=0
lag=$(awk -v a="$t_r" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
recovery=$(replica_sql 'SELECT pg_is_in_recovery()')
check "$([[ $st_chat == 200 && -n $mid && $on_primary == 1 && $rep == 1 && $recovery == t ]]; echo $?)" \
	"chat writes go to the primary: message $mid ($st_chat) is on the primary ($on_primary row), on the replica after replication ($rep row, seen within ${lag} ms; pg_is_in_recovery() = $recovery there)"

# the replica stopped: analytics 503, chat and readiness unaffected
as_user postgres "$PGBIN/pg_ctl" -D "$REPLICA" -m fast -w -t 30 stop >/dev/null
st_an="" det="" ra=""
for i in 1 2; do
	req GET "$LB/api/analytics/conversations/list?limit=5" "" "Authorization: Bearer $tok"
	st_an+="$ST/$UP "
	det=$(field .detail) ra+="$(header retry-after) "
done
st_chat=""
for i in 1 2; do
	req POST "$LB/api/chat/message" "{\"message\":\"replica down $i\"}"
	st_chat+="$ST/$UP "
done
degraded() {
	req GET "$LB/health"
	[[ $ST == 200 && $(field .status) == degraded && $(field .services.postgres_read.status) == down ]]
}
poll 50 degraded
hs="$ST:$(field .status):postgres_read=$(field .services.postgres_read.status)"
req GET "$LB/health/ready"
check "$([[ $(sorted "$st_an") == "503/A 503/B" && $det == "Postgres read replica is unavailable, retry later" &&
	$ra =~ ^[0-9]+\ [0-9]+\ $ && $(sorted "$st_chat") == "200/A 200/B" && $hs == "200:degraded:postgres_read=down" &&
	$ST == 200 ]]; echo $?)" \
	"replica stopped: analytics ${st_an% } \"$det\" (Retry-After ${ra% }), chat ${st_chat% }, /health $hs, /health/ready $ST"

# ------------------------------------------------- 6. host A stops under load

# Four clients send chat messages through the balancer, each with its own
# Idempotency-Key, retrying a failed attempt (no answer, 502-504) with the
# same key. Host A is stopped (nginx, then its pools) once 40 messages are
# answered; the clients go on until 40 more are answered after that.
rm -f "$T/stop"
client() { # ID
	local id=$1 tok i=0 key st out up attempts t0 mid
	tok=$(token "$(uuid)")
	while [[ ! -e $T/stop ]]; do
		i=$((i + 1)) key="scale-$RUN-$id-$i" attempts=0
		while :; do
			attempts=$((attempts + 1)) t0=$EPOCHREALTIME
			: >"$T/load-$id.body"
			out=$(curl -s -m 15 -o "$T/load-$id.body" -w '%{http_code} %header{x-upstream}' \
				-X POST -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
				-H "Idempotency-Key: $key" --data-binary "{\"message\":\"load $id $i\"}" \
				"$LB/api/chat/message" 2>/dev/null)
			st=${out%% *} up=${out#* }
			[[ $st == 2?? ]] && break
			[[ ($st == 000 || $st == 502 || $st == 503 || $st == 504) && $attempts -lt 8 ]] || break
			sleep 0.1
		done
		mid=""
		[[ $(<"$T/load-$id.body") =~ \"user_message_id\":\"([0-9a-f-]{36})\" ]] && mid=${BASH_REMATCH[1]}
		echo "$t0 $id $key $st $attempts ${mid:--} ${up// /}" >>"$T/load-$id.txt"
	done
}
answered_after() { cat "$T"/load-*.txt 2>/dev/null | awk -v t="$1" '$1 > t && $4 ~ /^2/' | wc -l; }
enough() { (($(answered_after "$1") >= $2)); }
for c in 1 2 3 4; do
	client "$c" &
	loaders+=($!)
done
poll 150 enough 0 40
t_stop=$EPOCHREALTIME
STACK_QUIET=1 "$STACK" down "$T/hostA" >/dev/null 2>&1
t_down=$EPOCHREALTIME
poll 150 enough "$t_down" 40
touch "$T/stop"
wait "${loaders[@]}"
cat "$T"/load-*.txt >"$T/load.txt"
stop_ms=$(awk -v a="$t_stop" -v b="$t_down" 'BEGIN { printf "%.0f", (b - a) * 1000 }')

read -r sent ok2 retried <<<"$(awk '{ n++; if ($4 ~ /^2/) k++; if ($5 > 1) r++ } END { print n + 0, k + 0, r + 0 }' "$T/load.txt")"
check $((sent == 0 || ok2 != sent)) \
	"host A stopped under load (stack.sh down: nginx, then pools; ${stop_ms} ms): $ok2 of $sent messages answered 2xx, $retried of them after a client retry with the same Idempotency-Key"

# every answered message exactly once in Postgres, with exactly one answer
ids=$(awk '$6 != "-" { printf "%s('\''%s'\''::uuid)", n++ ? "," : "", $6 }' "$T/load.txt")
[[ -n $ids ]] || ids="(NULL::uuid)"
read -r missing noanswer dupkeys stored <<<"$(primary_sql "
	WITH a(id) AS (VALUES $ids)
	SELECT (SELECT count(*) FROM a WHERE NOT EXISTS
	          (SELECT 1 FROM messages m WHERE m.id = a.id AND m.role = 'user')),
	       (SELECT count(*) FROM a WHERE (SELECT count(*) FROM messages r
	          WHERE r.reply_to = a.id AND r.role = 'assistant') <> 1),
	       (SELECT count(*) FROM (SELECT 1 FROM messages WHERE idempotency_key LIKE 'scale-$RUN-%'
	          GROUP BY idempotency_scope, idempotency_key HAVING count(*) > 1) d),
	       (SELECT count(*) FROM messages WHERE idempotency_key LIKE 'scale-$RUN-%')" | tr '|' ' ')"
nids=$(awk '$6 != "-"' "$T/load.txt" | wc -l)
uniq_ids=$(awk '$6 != "-" { print $6 }' "$T/load.txt" | sort -u | wc -l)
check "$([[ $nids == "$ok2" && $uniq_ids == "$nids" && $missing == 0 && $noanswer == 0 &&
	$dupkeys == 0 && $stored == "$sent" ]]; echo $?)" \
	"nothing lost, nothing doubled: $nids answered message ids ($uniq_ids distinct), missing in Postgres ${missing:-?}, without exactly one answer ${noanswer:-?}, duplicate keys ${dupkeys:-?}; $stored user messages stored for $sent keys sent"

# the balancer: both hosts before the stop, only B after it
read -r beforeA beforeB duringA duringB passed afterA afterB <<<"$(awk -v t="$t_down" -v ts="$t_stop" \
	-v a="$A_ADDR:$A_PORT" -v b="$B_ADDR:$B_PORT" '
	$4 !~ /^2/ { next }
	{ n = split($7, u, ","); last = u[n] }
	$1 < ts { if (last == a) ba++; else if (last == b) bb++; next }
	n > 1 { p++ }
	$1 <= t { if (last == a) da++; else if (last == b) db++; next }
	{ if (last == a) aa++; else if (last == b) ab++ }
	END { print ba + 0, bb + 0, da + 0, db + 0, p + 0, aa + 0, ab + 0 }' "$T/load.txt")"
check $((beforeA == 0 || beforeB == 0 || afterA != 0 || afterB < 40)) \
	"the balancer moved the traffic: before the stop A answered $beforeA and B $beforeB; while A stopped A $duringA and B $duringB; after it A $afterA and B $afterB; $passed requests were passed on to B by the balancer after A refused them (nginx proxy_next_upstream error, max_fails=3)"

note "$(elapsed) s in all"
echo "$CHECKS checks, $FAILED failed"
[[ $FAILED -eq 0 ]]
