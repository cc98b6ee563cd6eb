#!/usr/bin/env bash
# bench.sh: throughput and latency of the API next to two baselines, all in
# one run on this machine with wrk (default -t2 -c64 -d10s, three interleaved
# rounds, medians reported):
#   S   nginx answering a static `return 200` (the web server's ceiling)
#   H   nginx passing to scripts/bench/hello.c, a minimal FastCGI responder
#       started exactly like our pool (spawn-fcgi + multiwatch, same worker
#       count and environment): the ceiling of this architecture
#   then our routes, each with its ratio to H.
# Every response is counted per status (scripts/bench/load-done.lua), so a
# figure built on errors shows up. Then the CPU time per request of each row
# by process (PostgreSQL, workers, nginx, Redis, stub LLM; from /proc), and
# worker RSS.
#
#   scripts/bench.sh                 all rows
#   ROWS="live health" scripts/bench.sh     a subset (S and H always run)
#   DURATION=5s CONNS=32 ROUNDS=1 WORKERS=4 scripts/bench.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-4}
DIR=$(mktemp -d /tmp/pixelcraft-bench.XXXXXX)
. scripts/bench/baseline.sh
trap 'baseline_stop; STACK_QUIET=1 scripts/stack.sh down "$DIR" >/dev/null 2>&1; rm -rf "$DIR"' EXIT

make -s all
STACK_QUIET=1 LOG_LEVEL=${LOG_LEVEL:-info} EXTRA_ENV="HEALTH_CACHE_MS=${HEALTH_CACHE_MS:-250}" \
	scripts/stack.sh up "$DIR" --stub --workers "$WORKERS" \
	--chat-workers "${CHAT_WORKERS:-32}"
set -a
. "$DIR/stack.env"
set +a

# The baselines S and H, started the same way as ours.
baseline_start

# name|url|lua script (empty: status counting only)|description[|VAR=value for wrk]
ALL_ROWS=(
	"S|$BENCH_URL/static||nginx static return 200 (baseline S)"
	"H|$BENCH_URL/hello||minimal C FastCGI responder (baseline H)"
	"live|$BASE_URL/health/live||GET /health/live"
	"health|$BASE_URL/health||GET /health (live Postgres and Redis checks)"
)
# rows added by later features are appended from scripts/bench/rows.d/*.sh
for f in scripts/bench/rows.d/*.sh; do [[ -f $f ]] && . "$f"; done

want=" S H ${ROWS:-} "
selected=()
for r in "${ALL_ROWS[@]}"; do
	name=${r%%|*}
	if [[ -z ${ROWS:-} || $want == *" $name "* ]]; then selected+=("$r"); fi
done

# CPU time (clock ticks, from /proc) of the stack's processes by component:
# "postgres workers nginx redis stub". Workers are every pool's (ours and the
# baselines'); each component is its root process and that root's children.
CPU_PARTS="postgres workers nginx redis stub"
stack_cpu() {
	local tree part roots
	tree=$(ps -e -o pid=,ppid=)
	for part in $CPU_PARTS; do
		# a missing pid file counts as no process
		case $part in
		postgres) roots=$(head -n 1 "$DIR/pg/postmaster.pid" 2>/dev/null || true) ;;
		workers) roots=$(cat "$DIR"/run/*-pool.pid 2>/dev/null || true) ;;
		nginx) roots=$(cat "$DIR/run/nginx.pid" 2>/dev/null || true) ;;
		redis) roots=$(cat "$DIR/redis/redis.pid" 2>/dev/null || true) ;;
		stub) roots=$(cat "$DIR/run/stub.pid" 2>/dev/null || true) ;;
		esac
		awk -v r=" $(echo $roots) " 'index(r, " " $1 " ") || index(r, " " $2 " ") {print $1}' <<<"$tree" |
			while read -r pid; do cat "/proc/$pid/stat" 2>/dev/null; done |
			awk '{sub(/.*\) /, ""); t += $12 + $13} END {printf "%d ", t}'
	done
}

# url lua [VAR=value] -> "rps p50 p99 max non2xx", CPU ms per request of each
# of CPU_PARTS, then the count per status
run_wrk() {
	local url=$1 lua=$2 envs=${3:-} script=$DIR/wrk-$RANDOM.lua out=$DIR/wrk-$RANDOM.txt
	local cpu0 cpu1 rps p50 p99 max n st bad
	{ [[ -n $lua ]] && cat "$lua"; cat scripts/bench/load-done.lua; } >"$script"
	: >"$out"
	cpu0=$(stack_cpu)
	env SLICE_OUT="$out" $envs wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$script" "$url" \
		>/dev/null 2>&1 || true
	cpu1=$(stack_cpu)
	read -r rps p50 p99 max n < <(awk '/^slice/ {printf "%.2f %d %d %d %d\n", $3 / ($2 / 1e6), $8, $9, $10, $3}' "$out")
	st=$(awk '/^status/ {printf "%s:%s ", $2, $3}' "$out")
	bad=$(awk '/^status/ && ($2 < 200 || $2 >= 300) {n += $3} END {print n + 0}' "$out")
	echo "${rps:-0} ${p50:-0} ${p99:-0} ${max:-0} $bad" \
		"$(awk -v a="$cpu0" -v b="$cpu1" -v n="${n:-0}" -v hz="$(getconf CLK_TCK)" 'BEGIN {
			k = split(a, x); split(b, y)
			for (i = 1; i <= k; i++) printf "%.3f ", (n > 0 ? (y[i] - x[i]) * 1000 / hz / n : 0)
		}')${st:-none}"
}

# HOLD_LIVE=N in a row: N subscribers (and 1% admins) stay connected through
# nginx/nchan while that row is measured.
start_live() {
	local n=$1
	[[ -f $DIR/live-users-$n.txt ]] ||
		build/pc-token --many-with-ids "$n" "$SUPABASE_JWT_SECRET" >"$DIR/live-users-$n.txt"
	: >"$DIR/live-admins.txt"
	build/live-load --port "$PORT" --internal-port "$INTERNAL_PORT" \
		--users "$DIR/live-users-$n.txt" --admins "$DIR/live-admins.txt" --hold 600 \
		>"$DIR/live-hold.log" 2>&1 &
	hold_pid=$!
	for _ in $(seq 1 600); do
		grep -q "connected" "$DIR/live-hold.log" 2>/dev/null && break
		sleep 0.1
	done
	echo "  ($(head -n 1 "$DIR/live-hold.log"))" >&2
}

declare -A results
echo "bench: $ROUNDS rounds of wrk -t$THREADS -c$CONNS -d$DURATION, $WORKERS workers, $(nproc) cores" >&2
for round in $(seq 1 "$ROUNDS"); do
	for r in "${selected[@]}"; do
		IFS='|' read -r name url lua desc envs <<<"$r"
		hold_pid=""
		if [[ $envs == *HOLD_LIVE=* ]]; then
			# the row runs while live subscribers are connected
			start_live "${envs##*HOLD_LIVE=}"
			envs=${envs%%HOLD_LIVE=*}
		fi
		# warm-up so connections and caches are set before measuring
		wrk -t1 -c4 -d1s "$url" >/dev/null 2>&1 || true
		line=$(run_wrk "$url" "$lua" "$envs")
		[[ -n $hold_pid ]] && { kill "$hold_pid" 2>/dev/null; wait "$hold_pid" 2>/dev/null || true; }
		results[$name]+="$line"$'\n'
		echo "  round $round $name: $line" >&2
	done
done

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { awk -v c="$2" '{print $c}' <<<"${results[$1]}" | sed '/^$/d' | median; }

H_RPS=$(col H 1)
printf '\n| Row | What | req/s | p50 ms | p99 ms | max ms | non-2xx | ratio to H |\n'
printf '|---|---|---:|---:|---:|---:|---:|---:|\n'
for r in "${selected[@]}"; do
	IFS='|' read -r name url lua desc envs <<<"$r"
	rps=$(col "$name" 1)
	printf '| %s | %s | %.0f | %.2f | %.2f | %.1f | %s | %.2f |\n' "$name" "$desc" "$rps" \
		"$(bc -l <<<"$(col "$name" 2) / 1000")" "$(bc -l <<<"$(col "$name" 3) / 1000")" \
		"$(bc -l <<<"$(col "$name" 4) / 1000")" "$(col "$name" 5)" \
		"$(bc -l <<<"$rps / $H_RPS")"
done
# Where each row's CPU went: the stack's processes only (wrk and anything
# else on the machine are not counted), in ms per request.
printf '\nCPU per request (ms), by process, medians of the rounds:\n\n'
printf '| Row | PostgreSQL | workers | nginx | Redis | stub LLM | all |\n'
printf '|---|---:|---:|---:|---:|---:|---:|\n'
for r in "${selected[@]}"; do
	name=${r%%|*}
	cpu=()
	for i in 6 7 8 9 10; do cpu+=("$(col "$name" $i)"); done
	printf '| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n' "$name" "${cpu[@]}" \
		"$(bc -l <<<"${cpu[0]} + ${cpu[1]} + ${cpu[2]} + ${cpu[3]} + ${cpu[4]}")"
done
# Memory: RSS counts every shared-library page a worker has touched (the same
# pages for all workers); PSS divides shared pages among the processes
# sharing them; Private is what each additional worker really costs. The
# floor (scripts/bench/floor.c) is what our libraries alone take, one call of
# each per request, after DURATION of requests on 4 connections.
memory() { # PID...: "RSS a/b MB, PSS a/b MB, private a/b MB"
	local mem
	mem=$(for p in "$@"; do
		awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} /^Private_(Clean|Dirty):/ {v+=$2} END {print r, p, v}' \
			"/proc/$p/smaps_rollup"
	done)
	printf 'RSS %s MB, PSS %s MB, private %s MB' \
		"$(awk '{printf "%s%.1f", (NR > 1 ? "/" : ""), $1 / 1024}' <<<"$mem")" \
		"$(awk '{printf "%s%.1f", (NR > 1 ? "/" : ""), $2 / 1024}' <<<"$mem")" \
		"$(awk '{printf "%s%.1f", (NR > 1 ? "/" : ""), $3 / 1024}' <<<"$mem")"
}
wrk -t1 -c4 -d"$DURATION" "$BENCH_URL/floor" >/dev/null 2>&1 || true
printf '\nworker memory after the run (%s api workers): %s\n' "$WORKERS" \
	"$(memory $(scripts/stack.sh pool-pids "$DIR" api))"
printf 'the libraries alone (scripts/bench/floor.c, 1 worker): %s\n' \
	"$(memory $(pgrep -P "$(cat "$DIR/run/floor-pool.pid")"))"
