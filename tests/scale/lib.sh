# lib.sh: what the scripts of tests/scale/ share, sourced after they set
# ROOT and before they make their directory T:
#   their argument, the stack (STACK_DIR, STACK, the stack's environment);
#   the check lines ("ok   N - ...", "FAIL N - ...", counted in CHECKS and
#   FAILED), notes, a setup failure, elapsed times; free ports, polling; one
#   HTTP request at a time with its status, headers and body; tokens, UUIDs
#   and SQL on the stack's Postgres; a namespace's link check; the temporary
#   directory and the teardown of what a script started.
# shellcheck shell=bash

T0=$EPOCHREALTIME
FAILED=0 CHECKS=0
ok() { CHECKS=$((CHECKS + 1)); printf 'ok   %2d - %s\n' "$CHECKS" "$*"; }
fail() { CHECKS=$((CHECKS + 1)) FAILED=$((FAILED + 1)); printf 'FAIL %2d - %s\n' "$CHECKS" "$*"; }
# check CONDITION-STATUS TEXT: 0 is ok
check() { if [[ $1 == 0 ]]; then ok "$2"; else fail "$2"; fi; }
note() { printf '# %s\n' "$*"; }
abort() { echo "FAIL - setup: $*"; exit 1; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; } # FROM TO
elapsed() { secs "$T0" "$EPOCHREALTIME"; }
pidfile() { [[ -s $1 ]] && cat "$1"; }

# stack_arg NAME ARG...: the script's one argument, a stack directory: sets
# STACK_DIR and STACK (scripts/stack.sh) and loads the stack's environment;
# a usage error exits 2
stack_arg() {
	local name=$1
	shift
	[[ $# -eq 1 ]] || { echo "usage: $0 STACK_DIR" >&2; exit 2; }
	STACK_DIR=$(cd "$1" && pwd) || exit 2
	[[ -f $STACK_DIR/stack.env ]] || { echo "$name: $STACK_DIR is not a stack" >&2; exit 2; }
	# shellcheck disable=SC1091
	. "$STACK_DIR/stack.env"
	STACK=$ROOT/scripts/stack.sh
}

# What a script starts, for its cleanup: network namespaces, links in the root
# namespace, processes, application hosts (stack directories), client loops.
NETNS=() LINKS=() PIDS=() HOSTS=() loaders=()

# make_tmp NAME: T, the script's directory (log/, run/), and RUN, a name
# derived from it for things that must not clash with another run
make_tmp() {
	T=$(mktemp -d "/tmp/pixelcraft-$1.XXXXXX")
	chmod 755 "$T"
	mkdir -p "$T/log" "$T/run"
	RUN=$(basename "$T" | tr -cd 'A-Za-z0-9')
}

# cleanup_start: the first steps of a script's cleanup: no signal may cut it
# short, the client loops stop ($T/stop and their pids)
cleanup_start() {
	local pid
	trap '' INT TERM
	touch "$T/stop"
	for pid in "${loaders[@]}"; do kill "$pid" 2>/dev/null; done
}

# stop_hosts: every application host started (HOSTS)
stop_hosts() {
	local h
	for h in "${HOSTS[@]}"; do STACK_QUIET=1 "$STACK" down "$h" >/dev/null 2>&1; done
}

# net_down: whatever still runs in our namespaces killed (it is ours), the
# links and the namespaces removed
net_down() {
	local pid h ns
	for ns in "${NETNS[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
	done
	for h in "${LINKS[@]}"; do ip link del "$h" 2>/dev/null; done
	for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	NETNS=() LINKS=()
}

# teardown [PID...]: the last steps of a cleanup: PIDS and the PIDs given
# killed, net_down, T removed (KEEP_TMP=1 keeps it)
teardown() {
	local pid
	for pid in "${PIDS[@]}" "$@"; do kill -9 "$pid" 2>/dev/null; done
	net_down
	[[ -n ${KEEP_TMP:-} ]] && echo "# kept $T" || rm -rf "$T"
}

# As scripts/stack.sh: a port below the ephemeral range that nobody uses.
# Each is taken by its server right after it is picked.
free_port() {
	local p lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
	for _ in $(seq 1 200); do
		p=$((10000 + RANDOM % (lo - 10000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
			[[ -z $(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null) ]]; then
			echo "$p"
			return 0
		fi
	done
	echo 0
}

# poll TENTHS CMD...: until CMD succeeds, up to TENTHS tenths of a second
poll() {
	local n=$1; shift
	for _ in $(seq 1 "$n"); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# http_req METHOD URL [BODY [HEADER...]]: ST status, body in $T/resp,
# headers in $T/hdr; req is the same unless a script adds to it
http_req() {
	local method=$1 url=$2 body=${3:-} h
	shift $(($# < 3 ? $# : 3))
	local args=(-s -m 15 -o "$T/resp" -D "$T/hdr" -w '%{http_code}' -X "$method")
	[[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
	for h in "$@"; do args+=(-H "$h"); done
	: >"$T/hdr"
	ST=$(curl "${args[@]}" "$url" 2>/dev/null) || true
}
header() { # NAME: a header of the last response
	awk -v n="$1" 'index(tolower($0), n ":") == 1 { sub(/^[^:]*: */, ""); sub(/\r$/, ""); print; exit }' "$T/hdr"
}
field() { jq -r "$1 // empty" "$T/resp" 2>/dev/null; }
req() { http_req "$@"; }

token() { "$ROOT/build/pc-token" "$SUPABASE_JWT_SECRET" "$1" 600; }
uuid() { cat /proc/sys/kernel/random/uuid; }
primary_sql() { "$STACK" psql "$STACK_DIR" -At -c "$1" 2>&1; }

link_up() { # NS ADDR: a connection from NS to ADDR is refused (the link works)
	[[ $(ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/1" 2>&1) == *refused* ]]
}
