#!/usr/bin/env bash
# redis-failover.sh: the Redis failover of ops/SCALE_OUT.md (section 3),
# stood up in a temporary directory next to a running test stack, and
# exercised for real:
#
#   a Linux bridge in the root namespace (10.232.N.1/24) and two network
#   namespaces joined to it by veth pairs (eth0 inside): the Redis primary
#   (10.232.N.31) and its replica (10.232.N.32), requirepass and masterauth
#   as in SCALE_OUT.md, the virtual address 10.232.N.30 on the primary's
#   eth0; three Sentinels (redis-server --sentinel) rendered from
#   ops/redis-sentinel.conf.example: one in each Redis namespace and one in
#   the root namespace (the "third machine"), down-after-milliseconds 1000,
#   with ops/redis-failover-vip.sh, unchanged, as client-reconfig-script
#   (through a wrapper in the directory that sets its PIXELCRAFT_REDIS_*
#   variables and logs its runs); an application host (scripts/stack.sh up
#   --shared, 2 api + 2 chat workers, nginx on loopback) in the root
#   namespace whose workers reach Redis only through the virtual address.
#   Sentinel and the script run as root, so the script needs no sudo.
#
# One line per check ("ok   N - ..." or "FAIL N - ..."), then "N checks,
# M failed"; the exit status is 0 only if every check passed:
#
#   rate limiting through the virtual address (RATE_LIMIT_DEFAULT=10/minute):
#   10 answers, then 429, counted on the primary;
#   the primary's redis-server killed (-9) under a stream of chat messages
#   and GET /api/me: every request answered 2xx, some with local counting
#   (RateLimit-Policy shows the worker's share) while Redis is away;
#   Sentinel promotes the replica and the script moves the address to it
#   (ip addr in both namespaces, the root namespace's neighbour entry);
#   /health reports Redis up again within a bound (20 s; the figures are
#   printed, the check is the behaviour);
#   after the failover a caller who used its budget is limited again, at the
#   latest in the next window, counts go to the new primary (its keys);
#   every chat message answered during the failover is in Postgres once.
#
#   tests/scale/redis-failover.sh STACK_DIR
#
# Needs root (namespaces, a bridge, an address that moves); without it the
# setup fails loudly. Everything started here (namespaces, bridge, veths,
# processes, the directory) is removed by a trap, also on failure
# (KEEP_TMP=1 keeps the directory).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/scale/lib.sh
. "$ROOT/tests/scale/lib.sh"
stack_arg failover "$@"
VIP_SCRIPT=$ROOT/ops/redis-failover-vip.sh
BOUND=20 # seconds: the hang bound of every wait for the failover

[[ $(id -u) -eq 0 ]] || abort "needs root: network namespaces, a bridge and a moving address"
for tool in curl jq ip redis-server redis-cli arping ss runuser openssl; do
	command -v "$tool" >/dev/null || abort "$tool not found (scripts/install-deps.sh)"
done
[[ -x $VIP_SCRIPT ]] || abort "$VIP_SCRIPT is not executable"

make_tmp failover

# ------------------------------------------------------------------ cleanup

cleanup() {
	cleanup_start
	stop_hosts
	teardown $(pidfile "$T/run/sentinel-root.pid")
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ------------------------------------------------------------------ helpers

quota() { [[ $(header ratelimit-policy) =~ \;q=([0-9]+) ]] && echo "${BASH_REMATCH[1]}"; }
# rcli NS ARGS...: redis-cli to the Redis of a namespace
rcli() { local ns=$1; shift; REDISCLI_AUTH=$REDIS_PW ip netns exec "$ns" redis-cli -h 127.0.0.1 -p 6379 "$@" 2>/dev/null; }
# scli ADDR PORT ARGS...: redis-cli to a Sentinel
scli() { local a=$1 p=$2; shift 2; redis-cli -h "$a" -p "$p" "$@" 2>/dev/null; }
has_vip() { ip netns exec "$1" ip -4 -o addr show dev eth0 | grep -q " $VIP/"; }
window() { echo $(($1 - $1 % 60)); } # the start of the rate-limit window of a second
# fixed windows on the minute: not within 4 s of a window's end
mid_window() { while (($(date +%s) % 60 > 55)); do sleep 0.2; done; }
# burst USER_TOKEN N: N x GET /api/me; CODES statuses, QS RateLimit-Policy quotas
burst() {
	CODES="" QS=""
	for _ in $(seq 1 "$2"); do
		req GET "$HOST/api/me" "" "Authorization: Bearer $1"
		CODES+="$ST " QS+="$(quota) "
	done
	CODES=${CODES% } QS=${QS% }
}

# ------------------------------------------------------------------ network

# A bridge in the root namespace (the private network of SCALE_OUT.md) and
# two namespaces on it, each with its veth's inner end renamed eth0:
#   bridge 10.232.N.1/24 (the app host and the third Sentinel)
#   primary 10.232.N.31, replica 10.232.N.32, the virtual address 10.232.N.30
# N is picked so that neither the names nor the subnet are in use.
ns_join() { # NS VETH ADDR
	ip link add "$2" type veth peer name "${2}i" || return 1
	LINKS+=("$2")
	ip link set "$2" master "$BR" && ip link set "$2" up &&
		ip link set "${2}i" netns "$1" &&
		ip netns exec "$1" ip link set "${2}i" name eth0 &&
		ip netns exec "$1" ip addr add "$3/24" dev eth0 &&
		ip netns exec "$1" ip link set eth0 up &&
		ip netns exec "$1" ip link set lo up
}
net_setup() {
	local n
	for _ in $(seq 1 20); do
		n=$((10 + RANDOM % 240))
		ip -4 -o addr show 2>/dev/null | grep -q " 10\.232\.$n\." && continue
		ip link show "pcf${n}br" >/dev/null 2>&1 && continue
		ip netns add "pcf${n}p" 2>/dev/null || continue
		NETNS+=("pcf${n}p")
		ip netns add "pcf${n}r" 2>/dev/null || return 1
		NETNS+=("pcf${n}r")
		BR=pcf${n}br
		ip link add "$BR" type bridge || return 1
		LINKS+=("$BR")
		ip addr add "10.232.$n.1/24" dev "$BR" && ip link set "$BR" up || return 1
		NS_P=pcf${n}p NS_R=pcf${n}r
		GW=10.232.$n.1 P_ADDR=10.232.$n.31 R_ADDR=10.232.$n.32 VIP=10.232.$n.30
		ns_join "$NS_P" "pcf${n}p" "$P_ADDR" && ns_join "$NS_R" "pcf${n}r" "$R_ADDR" || return 1
		poll 50 link_up "$NS_P" "$GW" && poll 50 link_up "$NS_R" "$P_ADDR"
		return
	done
	return 1
}
net_setup || abort "network namespaces and bridge could not be set up"

# ------------------------------------------------------------------ Redis

# SCALE_OUT.md's redis.conf on both: bind 0.0.0.0 (the own address and the
# virtual one), requirepass and masterauth, save ""; the replica follows the
# primary. Diskless sync without its 5 s wait for more replicas (test only).
REDIS_PW=$(openssl rand -hex 16)
redis_up() { # NAME NS [--replicaof ADDR PORT]
	local name=$1 ns=$2
	shift 2
	mkdir -p "$T/redis-$name"
	touch "$T/log/redis-$name.log"
	chown pixelcraft "$T/redis-$name" "$T/log/redis-$name.log"
	ip netns exec "$ns" runuser -u pixelcraft -- redis-server --port 6379 --bind 0.0.0.0 \
		--requirepass "$REDIS_PW" --masterauth "$REDIS_PW" --save "" --appendonly no \
		--repl-diskless-sync-delay 0 --dir "$T/redis-$name" --pidfile "$T/redis-$name/redis.pid" \
		--logfile "$T/log/redis-$name.log" --daemonize yes "$@" >/dev/null ||
		abort "redis $name did not start"
	poll 50 rcli "$ns" ping || abort "redis $name did not answer: $(tail -n 3 "$T/log/redis-$name.log")"
}
redis_up primary "$NS_P"
redis_up replica "$NS_R" --replicaof "$P_ADDR" 6379
synced() { rcli "$1" info replication | grep -q '^master_link_status:up'; } # NS
poll 100 synced "$NS_R" || abort "the replica did not sync: $(tail -n 3 "$T/log/redis-replica.log")"
ip netns exec "$NS_P" ip addr add "$VIP/24" dev eth0 || abort "cannot add $VIP on the primary"
ip netns exec "$NS_P" arping -q -U -c 1 -I eth0 "$VIP"

# ------------------------------------------------------------------ Sentinel

# The script as Sentinel runs it: a wrapper that sets its variables (what an
# installation edits into the defaults), logs the run, and calls it unchanged.
echo "$REDIS_PW" >"$T/redis.pass"
chmod 600 "$T/redis.pass"
cat >"$T/failover-vip.sh" <<EOF
#!/bin/sh
export PIXELCRAFT_REDIS_VIP=$VIP PIXELCRAFT_REDIS_VIP_PREFIX=24 PIXELCRAFT_REDIS_VIP_DEV=eth0
export PIXELCRAFT_REDIS_PASSFILE=$T/redis.pass
t0=\$(date +%s.%N)
"$VIP_SCRIPT" "\$@"
rc=\$?
ns=\$(ip netns identify)
echo "\$t0 \$(date +%s.%N) \${ns:-root} rc=\$rc \$*" >>"$T/log/vip-script.log"
exit \$rc
EOF
chmod 755 "$T/failover-vip.sh"

# ops/redis-sentinel.conf.example with the test's addresses, paths, password,
# down-after-milliseconds 1000 and the wrapper; the third one in the root
# namespace on a free port of the bridge's address.
SENT_PORT=$(free_port)
sentinel_up() { # NAME NS ADDR PORT
	local name=$1 ns=$2 addr=$3 port=$4 wrap=() conf=$T/sentinel-$1.conf
	mkdir -p "$T/sentinel-$name"
	sed -e "s#^port 26379#port $port#" \
		-e "s#^bind 10.0.0.31 127.0.0.1#bind $addr 127.0.0.1#" \
		-e "s#^pidfile .*#pidfile $T/run/sentinel-$name.pid#" \
		-e "s#^logfile .*#logfile $T/log/sentinel-$name.log#" \
		-e "s#^dir .*#dir $T/sentinel-$name#" \
		-e "s#monitor pixelcraft 10.0.0.31 6379 2#monitor pixelcraft $P_ADDR 6379 2#" \
		-e "s#auth-pass pixelcraft CHANGE-ME#auth-pass pixelcraft $REDIS_PW#" \
		-e "s#down-after-milliseconds pixelcraft 5000#down-after-milliseconds pixelcraft 1000#" \
		-e "s#client-reconfig-script pixelcraft /etc/redis/pixelcraft-failover-vip.sh#client-reconfig-script pixelcraft $T/failover-vip.sh#" \
		"$ROOT/ops/redis-sentinel.conf.example" >"$conf"
	[[ $(grep -c "^port $port\$\|^bind $addr 127.0.0.1\$\|^pidfile $T/\|^logfile $T/\|^dir $T/\|monitor pixelcraft $P_ADDR 6379 2\$\|auth-pass pixelcraft $REDIS_PW\$\|down-after-milliseconds pixelcraft 1000\$\|client-reconfig-script pixelcraft $T/failover-vip.sh\$" \
		"$conf") == 9 ]] || abort "ops/redis-sentinel.conf.example changed: rendering failed"
	[[ -n $ns ]] && wrap=(ip netns exec "$ns")
	"${wrap[@]}" redis-server "$conf" --sentinel >/dev/null || abort "sentinel $name did not start"
	poll 50 scli "$addr" "$port" ping || abort "sentinel $name did not answer: $(tail -n 3 "$T/log/sentinel-$name.log")"
}
sentinel_up primary "$NS_P" "$P_ADDR" 26379
sentinel_up replica "$NS_R" "$R_ADDR" 26379
sentinel_up root "" "$GW" "$SENT_PORT"
SENTINELS=("$P_ADDR 26379" "$R_ADDR 26379" "$GW $SENT_PORT")
# every Sentinel knows the replica and the two others
sentinels_ready() {
	local s
	for s in "${SENTINELS[@]}"; do
		# shellcheck disable=SC2086
		scli $s sentinel ckquorum pixelcraft | grep -q '^OK 3 usable' || return 1
		# shellcheck disable=SC2086
		scli $s sentinel replicas pixelcraft | grep -qx "$R_ADDR" || return 1
	done
}
poll 200 sentinels_ready || abort "the Sentinels did not find each other and the replica: $(tail -n 3 "$T/log/sentinel-root.log")"
note "bridge $BR $GW/24; redis primary $P_ADDR (namespace $NS_P), replica $R_ADDR ($NS_R)," \
	"virtual address $VIP on the primary; sentinels on both and on $GW:$SENT_PORT; setup $(elapsed) s"

# ------------------------------------------------------------------ the host

# scripts/stack.sh up --shared in the root namespace: the stack's Postgres and
# stub LLM, Redis through the virtual address only.
HOST_DIR=$T/host
mkdir -p "$HOST_DIR/log"
HOSTS+=("$HOST_DIR")
env -i PATH="$PATH" ${PIXELCRAFT_BIN:+PIXELCRAFT_BIN="$PIXELCRAFT_BIN"} \
	${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} ${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"} \
	STACK_QUIET=1 FRONT=nginx \
	EXTRA_ENV="MODEL_HEALTH_INTERVAL=1 RATE_LIMIT_DEFAULT=10/minute RATE_LIMIT_CHAT=100000/minute" \
	"$STACK" up "$HOST_DIR" --shared "$STACK_DIR" --redis-url "redis://:$REDIS_PW@$VIP:6379/0" \
	--workers 2 --chat-workers 2 >"$T/log/host-up.log" 2>&1 ||
	abort "the host did not start: $(tail -n 5 "$T/log/host-up.log")"
HOST=$(sed -n 's/^BASE_URL=//p' "$HOST_DIR/stack.env")
health_redis() { req GET "$HOST/health"; field .services.redis.status; }
poll 50 bash -c "[[ \$(curl -s -m 2 $HOST/health | jq -r .services.redis.status) == up ]]" ||
	abort "the host does not reach Redis through $VIP"
note "host $HOST (2 api + 2 chat workers, REDIS_URL redis://...@$VIP:6379/0); up after $(elapsed) s"

# ------------------------------------------------- 1. rate limit, before

mid_window
X_ID=$(uuid)
X_TOK=$(token "$X_ID")
X_WIN=$(window "$(date +%s)")
burst "$X_TOK" 12
X_KEY="rl:default:u:$X_ID:$X_WIN"
x_on_primary=$(rcli "$NS_P" get "$X_KEY")
want="200 200 200 200 200 200 200 200 200 200 429 429"
check "$([[ $CODES == "$want" && $QS == "10 10 10 10 10 10 10 10 10 10 10 10" && ${x_on_primary:-0} -ge 11 ]]; echo $?)" \
	"before the failover, rate limiting through $VIP (RATE_LIMIT_DEFAULT=10/minute, one user, GET /api/me): $CODES; RateLimit-Policy q=${QS%% *} (shared, not the worker's 5); the window's key $X_KEY on the primary = ${x_on_primary:-none}"

# ------------------------------------------------- 2. the failover under load

# A stream: two clients send chat messages (each its own Idempotency-Key),
# one sends GET /api/me with a new user each time; no retries: every request
# must be answered. Lines in $T/load-PHASE.txt: time, client (chat-PHASE1,
# chat-PHASE2, me-PHASE), status, RateLimit-Policy quota, message id.
chat_client() { # ID
	local id=$1 tok i=0 out st q t0 mid
	tok=$(token "$(uuid)")
	while [[ ! -e $T/stop ]]; do
		i=$((i + 1)) t0=$EPOCHREALTIME
		: >"$T/c-$id.body"
		out=$(curl -s -m 15 -o "$T/c-$id.body" -w '%{http_code} %header{ratelimit-policy}' \
			-X POST -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
			-H "Idempotency-Key: failover-$RUN-$id-$i" --data-binary "{\"message\":\"failover $id $i\"}" \
			"$HOST/api/chat/message" 2>/dev/null)
		st=${out%% *} q=-
		[[ $out =~ \;q=([0-9]+) ]] && q=${BASH_REMATCH[1]}
		mid=""
		[[ $(<"$T/c-$id.body") =~ \"user_message_id\":\"([0-9a-f-]{36})\" ]] && mid=${BASH_REMATCH[1]}
		echo "$t0 chat-$id ${st:-000} $q ${mid:--}" >>"$T/c-$id.txt"
	done
}
me_client() { # ID
	local id=$1 out st q t0
	while [[ ! -e $T/stop ]]; do
		t0=$EPOCHREALTIME
		out=$(curl -s -m 15 -o /dev/null -w '%{http_code} %header{ratelimit-policy}' \
			-H "Authorization: Bearer $(token "$(uuid)")" "$HOST/api/me" 2>/dev/null)
		st=${out%% *} q=-
		[[ $out =~ \;q=([0-9]+) ]] && q=${BASH_REMATCH[1]}
		echo "$t0 me-$id ${st:-000} $q -" >>"$T/c-$id.txt"
	done
}
answered() { cat "$T"/c-"$1"*.txt 2>/dev/null | wc -l; }
enough() { (($(answered "$1") >= $2)); }
stream_start() { # PHASE: until 15 requests are answered
	rm -f "$T/stop"
	chat_client "${1}1" &
	loaders+=($!)
	chat_client "${1}2" &
	loaders+=($!)
	me_client "$1" &
	loaders+=($!)
	poll 100 enough "$1" 15
}
stream_stop() { # PHASE
	touch "$T/stop"
	wait "${loaders[@]}"
	loaders=()
	cat "$T"/c-"$1"*.txt | sort -n >"$T/load-$1.txt"
}
# stream_summary PHASE SINCE: TOTAL BAD LOCAL (answered with the worker's
# share of a limit, 2 workers: chat 50000 of 100000, default 5 of 10, after
# SINCE) LAST (the quota of each client's last answer) and STATUSES
stream_summary() {
	read -r TOTAL BAD LOCAL <<<"$(awk -v k="$2" '
		{ n++ } $3 !~ /^2/ { b++ } ($4 == 50000 || $4 == 5) && $1 >= k { l++ }
		END { print n + 0, b + 0, l + 0 }' "$T/load-$1.txt")"
	STATUSES=$(awk '{ print $3 }' "$T/load-$1.txt" | sort | uniq -c |
		awk '{ printf "%s%s x %s", (NR > 1 ? ", " : ""), $2, $1 }')
	LAST=$(for c in "chat-${1}1" "chat-${1}2" "me-$1"; do
		awk -v c="$c" '$2 == c { q = $4 } END { printf "%s=%s ", c, q }' "$T/load-$1.txt"
	done)
	LAST=${LAST% }
}
# chat_kept PHASE: every chat message answered 200 is in Postgres exactly
# once with exactly one answer; KEPT is the summary, its status 0 if so
chat_kept() {
	local f=$T/load-$1.txt ok_msgs ids nids missing noanswer dupkeys stored sent
	ok_msgs=$(awk '$2 ~ /^chat/ && $3 == 200' "$f" | wc -l)
	ids=$(awk '$2 ~ /^chat/ && $3 == 200 && $5 != "-" { printf "%s('\''%s'\''::uuid)", n++ ? "," : "", $5 }' "$f")
	[[ -n $ids ]] || ids="(NULL::uuid)"
	nids=$(awk '$2 ~ /^chat/ && $3 == 200 && $5 != "-"' "$f" | wc -l)
	read -r missing noanswer dupkeys stored <<<"$(primary_sql "
		WITH a(id) AS (VALUES $ids)
		SELECT (SELECT count(*) FROM a WHERE (SELECT count(*) FROM messages m
		          WHERE m.id = a.id AND m.role = 'user') <> 1),
		       (SELECT count(*) FROM a WHERE (SELECT count(*) FROM messages r
		          WHERE r.reply_to = a.id AND r.role = 'assistant') <> 1),
		       (SELECT count(*) FROM (SELECT 1 FROM messages WHERE idempotency_key LIKE 'failover-$RUN-$1%'
		          GROUP BY idempotency_scope, idempotency_key HAVING count(*) > 1) d),
		       (SELECT count(*) FROM messages WHERE idempotency_key LIKE 'failover-$RUN-$1%')" | tr '|' ' ')"
	sent=$(awk '$2 ~ /^chat/' "$f" | wc -l)
	KEPT="$ok_msgs answered 200 ($nids with an id), not exactly once in Postgres ${missing:-?}, without exactly one answer ${noanswer:-?}, duplicate keys ${dupkeys:-?}; $stored stored for $sent sent"
	[[ $ok_msgs -gt 0 && $nids == "$ok_msgs" && $missing == 0 && $noanswer == 0 && $dupkeys == 0 &&
		$stored == "$sent" ]]
}
stream_start a

# the replica's copy of the caller's count, as the primary dies
x_on_replica=$(rcli "$NS_R" get "$X_KEY")
P_PID=$(cat "$T/redis-primary/redis.pid")
t_kill=$EPOCHREALTIME
kill -9 "$P_PID"

# Until the Sentinels agree on the new primary, the address is on it and
# /health reports Redis up again (after having reported it down), or BOUND.
t_prom="" t_vip="" t_down="" t_up=""
promoted() { # ADDR: every Sentinel names it the primary
	local s
	for s in "${SENTINELS[@]}"; do
		# shellcheck disable=SC2086
		[[ $(scli $s sentinel get-master-addr-by-name pixelcraft | head -n 1) == "$1" ]] || return 1
	done
}
while :; do
	now=$EPOCHREALTIME
	[[ -z $t_prom ]] && promoted "$R_ADDR" && t_prom=$now
	[[ -z $t_vip ]] && has_vip "$NS_R" && ! has_vip "$NS_P" && t_vip=$now
	rs=$(health_redis)
	[[ -z $t_down && $rs == down ]] && t_down=$now
	[[ -n $t_down && -z $t_up && $rs == up ]] && t_up=$now
	[[ -n $t_prom && -n $t_vip && -n $t_up ]] && break
	awk -v a="$t_kill" -v b="$now" -v m="$BOUND" 'BEGIN { exit !(b - a > m) }' && break
	sleep 0.1
done
# the stream goes on 2 s after Redis is back, then stops
[[ -n $t_up ]] && sleep 2
stream_stop a
# since FROM T: seconds from FROM to T, T unset: beyond the bound
since() { if [[ -n $2 ]]; then secs "$1" "$2"; else echo "not within $BOUND"; fi; }
note "failover: primary killed; down seen by /health after $(since "$t_kill" "$t_down") s, Sentinels agree on $R_ADDR after $(since "$t_kill" "$t_prom") s," \
	"the address on the replica after $(since "$t_kill" "$t_vip") s, /health reports Redis up after $(since "$t_kill" "$t_up") s"

# the worker's share of a limit (2 workers): chat 50000 of 100000, default 5 of 10
stream_summary a "$t_kill"
during=$(awk -v k="$t_kill" -v u="${t_up:-9e18}" '$1 >= k && $1 <= u' "$T/load-a.txt" | wc -l)
check "$([[ $TOTAL -gt 0 && $BAD == 0 && $LOCAL -gt 0 && $LAST == "chat-a1=100000 chat-a2=100000 me-a=10" ]]; echo $?)" \
	"redis-server of the primary killed (-9) under a stream of chat messages and GET /api/me: $TOTAL requests, statuses $STATUSES ($during sent while Redis was away); $LOCAL answered with local counting (RateLimit-Policy q = the worker's share), the last of each client counted in Redis again: $LAST"

# ------------------------------------------------- 3. promotion and the address

# each Sentinel runs the script once (the wrapper logs it when it is done;
# the new primary's run takes about 2 s, arping -c 3)
script_runs() { (($(wc -l <"$T/log/vip-script.log") >= $1)); } # N
poll 100 script_runs 3
role=$(rcli "$NS_R" info replication | sed -n 's/^role:\([a-z]*\).*/\1/p')
vip_p=$(has_vip "$NS_P" && echo yes || echo no) vip_r=$(has_vip "$NS_R" && echo yes || echo no)
r_mac=$(ip netns exec "$NS_R" cat /sys/class/net/eth0/address)
neigh() { ip neigh show "$VIP" dev "$BR" | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }'; }
neigh=$(neigh)
runs=$(awk '{ printf "%s%s %s %s, %s->%s", (NR > 1 ? "; " : ""), $3, $4, $6, $8, $10 }' "$T/log/vip-script.log" 2>/dev/null)
masters=""
for s in "${SENTINELS[@]}"; do
	# shellcheck disable=SC2086
	masters+="$(scli $s sentinel get-master-addr-by-name pixelcraft | head -n 1) "
done
check "$([[ -n $t_prom && -n $t_vip && $role == master && $vip_p == no && $vip_r == yes && $neigh == "$r_mac" &&
	$(grep -c ' rc=0 ' "$T/log/vip-script.log" 2>/dev/null) == 3 ]]; echo $?)" \
	"Sentinel promoted the replica (the three say ${masters% }; role:$role there) and ops/redis-failover-vip.sh moved $VIP: on the replica $vip_r, on the old primary $vip_p; the root namespace's neighbour entry $neigh (the replica's eth0 $r_mac, gratuitous ARP); script runs: ${runs:-none}"

# ------------------------------------------------- 4. the workers reconnect

hs=""
for _ in 1 2 3 4; do hs+="$(health_redis) "; done
# the workers' connections to the Redis of NS (from the bridge's address, no
# Sentinel's name)
workers_on() { rcli "$1" client list | awk -v gw="$GW" '
	index($0, "addr=" gw ":") && $0 !~ /name=sentinel/ && $0 !~ /cmd=client/ { n++ } END { print n + 0 }'; }
clients=$(workers_on "$NS_R")
check "$([[ -n $t_up && $hs == "up up up up " && $clients -ge 1 ]]; echo $?)" \
	"the workers reconnect through $VIP: /health reported Redis down after $(since "$t_kill" "$t_down") s and up after $(since "$t_kill" "$t_up") s (bound $BOUND s; $(
		[[ -n $t_up && -n $t_vip ]] && secs "$t_vip" "$t_up") s after the address moved); now ${hs% }; $clients worker connections on the new primary"

# ------------------------------------------------- 5. rate limit, after

# The caller of check 1 again: in the same window at most one extra budget
# (what replication had not carried over), from the next window on exactly
# the budget. A new caller's counts are on the new primary.
mid_window
now_win=$(window "$(date +%s)")
burst "$X_TOK" 12
x_codes=$CODES x_qs=$QS
n200=$(grep -o 200 <<<"$x_codes" | wc -l)
if [[ $now_win == "$X_WIN" ]]; then
	which="the same window as check 1 (the replica had its count ${x_on_replica:-none} when the primary died)"
	good_x=$([[ $x_codes =~ ^(200\ )*429(\ 429)*$ && $n200 -le 10 ]]; echo $?)
else
	which="the next window"
	good_x=$([[ $x_codes == "$want" ]]; echo $?)
fi
x_new=$(rcli "$NS_R" get "rl:default:u:$X_ID:$now_win")
y_id=$(uuid)
y_tok=$(token "$y_id")
y_win=$(window "$(date +%s)")
burst "$y_tok" 3
y_codes=$CODES y_qs=$QS
y_new=$(rcli "$NS_R" get "rl:default:u:$y_id:$y_win")
check "$([[ $good_x == 0 && ${x_new:-0} -ge 11 && $x_qs == "10 10 10 10 10 10 10 10 10 10 10 10" &&
	$y_codes == "200 200 200" && $y_qs == "10 10 10" && $y_new == 3 ]]; echo $?)" \
	"after the failover, the caller of check 1 in $which: $x_codes ($n200 answered; q=${x_qs%% *}, shared), its key on the new primary = ${x_new:-none}; a new caller: $y_codes, its key on the new primary = ${y_new:-none}"

# ------------------------------------------------- 6. chat messages kept

chat_kept a
check $? "chat messages during the failover kept: $KEPT"

# ------------------------------------------------- 7. switchover back

# The old primary comes back as a replica of the new one; SENTINEL FAILOVER
# then promotes it again under a new stream. The demoted server is alive
# this time and stays a primary until Sentinel converts it: the script
# drops the address there and closes its clients' connections, so no
# worker goes on counting on it.
redis_up primary "$NS_P" --replicaof "$R_ADDR" 6379
poll 100 synced "$NS_P" || abort "the old primary did not sync as a replica: $(tail -n 3 "$T/log/redis-primary.log")"
replica_ok() { # every Sentinel sees the old primary as a healthy replica
	local s
	for s in "${SENTINELS[@]}"; do
		# shellcheck disable=SC2086
		scli $s sentinel replicas pixelcraft | awk -v ip="$P_ADDR" '
			NR % 2 { k = $0; next } { v[k] = $0 }
			END { exit !(v["ip"] == ip && v["flags"] == "slave" && v["master-link-status"] == "ok") }' ||
			return 1
	done
}
poll 200 replica_ok || abort "the Sentinels do not list the old primary as a replica"
stream_start b
t_sw=$EPOCHREALTIME
sw=$(scli "$GW" "$SENT_PORT" sentinel failover pixelcraft)
t_prom="" t_vip="" t_off=""
while :; do
	now=$EPOCHREALTIME
	[[ -z $t_prom ]] && promoted "$P_ADDR" && t_prom=$now
	[[ -z $t_vip ]] && has_vip "$NS_P" && ! has_vip "$NS_R" && t_vip=$now
	[[ -n $t_vip && -z $t_off && $(workers_on "$NS_R") == 0 ]] && t_off=$now
	[[ -n $t_prom && -n $t_vip && -n $t_off ]] && break
	awk -v a="$t_sw" -v b="$now" -v m="$BOUND" 'BEGIN { exit !(b - a > m) }' && break
	sleep 0.1
done
[[ -n $t_off ]] && sleep 2
stream_stop b
poll 100 script_runs 6
stream_summary b "$t_sw"
note "switchover ($sw): Sentinels agree on $P_ADDR after $(since "$t_sw" "$t_prom") s, the address on it after" \
	"$(since "$t_sw" "$t_vip") s, no worker connected to the demoted server after $(since "$t_sw" "$t_off") s"
hs=""
for _ in 1 2 3 4; do hs+="$(health_redis) "; done
z_id=$(uuid)
z_win=$(window "$(date +%s)")
burst "$(token "$z_id")" 3
z_codes=$CODES
z_p=$(rcli "$NS_P" get "rl:default:u:$z_id:$z_win") z_r=$(rcli "$NS_R" get "rl:default:u:$z_id:$z_win")
p_mac=$(ip netns exec "$NS_P" cat /sys/class/net/eth0/address)
neigh=$(neigh)
role_r=$(rcli "$NS_R" info replication | sed -n 's/^role:\([a-z]*\).*/\1/p')
readonly_errors=$(grep -c READONLY "$HOST_DIR/log/api.log")
check "$([[ $sw == OK && -n $t_prom && -n $t_vip && -n $t_off && $TOTAL -gt 0 && $BAD == 0 &&
	$LAST == "chat-b1=100000 chat-b2=100000 me-b=10" && $neigh == "$p_mac" && $hs == "up up up up " &&
	$z_codes == "200 200 200" && $z_p == 3 && -z $z_r && $(grep -c ' rc=0 ' "$T/log/vip-script.log") == 6 ]]; echo $?)" \
	"switchover back (SENTINEL FAILOVER) under a stream: $TOTAL requests, statuses $STATUSES, $LOCAL with local counting, the last in Redis again ($LAST); $VIP on the old primary again (neighbour entry $neigh), no worker on the demoted server (role:$role_r there), /health ${hs% }; a new caller $z_codes, its key on $P_ADDR = ${z_p:-none}, on $R_ADDR ${z_r:-none}; READONLY errors in the workers' log: $readonly_errors"
chat_kept b
check $? "chat messages during the switchover kept: $KEPT"

note "$(elapsed) s in all"
echo "$CHECKS checks, $FAILED failed"
[[ $FAILED -eq 0 ]]
