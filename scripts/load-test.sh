#!/usr/bin/env bash
# load-test.sh (make load-test): the load-test suite. Starts a private stack
# (stub LLM answering at once, so the figures measure our code) and the
# baselines S and H in the same run, runs every scenario with wrk for
# DURATION as consecutive slices of SLICE, and writes to OUT (default
# build/load-test):
#   report.md     a table per scenario: req/s, p50/p90/p99/max, count per
#                 status, errors, ratio to H; the targets checked
#   *.png         throughput and latency over time per scenario (gnuplot),
#                 the mixed workload against connections, the worker sweep
#   raw/          the slices (per-status counts, latency histograms)
#
# Scenarios: /health/live; /api/me for 1,000 users; chat from 1,000 users;
# one abusive user hammering chat beside normal users; analytics summary
# cached and uncached; the mixed workload (70% chat, 20% analytics, 10%
# models/health) at 8, 32, 128 and 512 connections; the chat and mixed
# floors (scripts/bench/baseline.sh); the mixed workload at 32
# connections with 1, 2, 4 and 8 workers; worker memory after warm-up and at
# the end; live subscribers (scripts/ws-load.sh, LIVE_USERS, 0 to skip).
#
#   DURATION=20 SLICE=2 WORKERS=4 CHAT_WORKERS=32 OUT=build/load-test scripts/load-test.sh
#   QUICK=1 scripts/load-test.sh      (4 s per scenario: a check of the script itself)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# a caller's stack (the integration tests' environment) must not leak into ours
[[ -f ${STACK_DIR:-}/stack.env ]] && unset $(sed -n 's/=.*//p' "$STACK_DIR/stack.env")
QUICK=${QUICK:-}
DURATION=${DURATION:-$([[ -n $QUICK ]] && echo 4 || echo 20)}
SLICE=${SLICE:-2}
WORKERS=${WORKERS:-4}
CHAT_WORKERS=${CHAT_WORKERS:-32}
CONNS=${CONNS:-32}
OUT=${OUT:-$ROOT/build/load-test}
LIVE_USERS=${LIVE_USERS:-$([[ -n $QUICK ]] && echo 0 || echo 2000)}
DIR=$(mktemp -d /tmp/pixelcraft-load.XXXXXX)
. scripts/bench/baseline.sh
trap 'baseline_stop; STACK_QUIET=1 scripts/stack.sh down "$DIR" >/dev/null 2>&1; rm -rf "$DIR"' EXIT

command -v gnuplot >/dev/null || { echo "load-test: gnuplot missing (scripts/install-deps.sh)" >&2; exit 1; }
make -s all
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
rm -rf "$OUT"
mkdir -p "$OUT/raw"
# per-user budgets above what one user sends here (1,000 users share the
# load); the abusive-user scenario has its own low chat budget below
STACK_QUIET=1 LOG_LEVEL=${LOG_LEVEL:-info} \
	EXTRA_ENV="RATE_LIMIT_DEFAULT=100000/minute RATE_LIMIT_CHAT=100000/minute" \
	scripts/stack.sh up "$DIR" --stub --workers "$WORKERS" --chat-workers "$CHAT_WORKERS"
set -a
. "$DIR/stack.env"
set +a
baseline_start
STACK_QUIET=1 scripts/stack.sh psql "$DIR" -q -f ops/sql/demo-data.sql
build/pc-token --many 1000 "$SUPABASE_JWT_SECRET" >"$DIR/users.txt"
build/pc-token --many 1000 "$SUPABASE_JWT_SECRET" >"$DIR/users-abuse.txt"
build/pc-token "$SUPABASE_JWT_SECRET" >"$DIR/abuser.txt"

log() { echo "load-test: $*" >&2; }

# scenario NAME URL CONNS LUA [VAR=value...]: DURATION seconds as SLICE-second wrk runs
scenario() {
	local name=$1 url=$2 conns=$3 lua=$4
	shift 4
	local script=$DIR/$name.lua raw=$OUT/raw/$name.txt t=0
	{ [[ -n $lua ]] && cat "$lua"; cat scripts/bench/load-done.lua; } >"$script"
	: >"$raw"
	wrk -t2 -c"$conns" -d1s -s "$script" "$url" >/dev/null 2>&1 </dev/null || true # warm-up
	: >"$raw"
	while ((t < DURATION)); do
		env SLICE_OUT="$raw" "$@" wrk -t2 -c"$conns" -d"${SLICE}s" --timeout 10s -s "$script" \
			"$url" >/dev/null 2>&1 </dev/null || log "  wrk failed in $name"
		t=$((t + SLICE))
	done
	summarize "$name"
}

# summarize NAME: one line "rps p50 p90 p99 max requests errors statuses" (ms), and NAME.tsv
# (seconds, req/s, p50, p99 per slice)
summarize() {
	local raw=$OUT/raw/$1.txt rps req err pct st
	awk -v slice="$SLICE" '/^slice/ { n++
		printf "%d\t%.1f\t%.2f\t%.2f\n", n * slice, $3 / ($2 / 1e6), $8 / 1000, $9 / 1000 }' \
		"$raw" >"$OUT/raw/$1.tsv"
	read -r rps req err < <(awk '/^slice/ { t += $2; req += $3; err += $4 + $5 + $6 + $7 }
		END { printf "%.0f %d %d\n", (t ? req / (t / 1e6) : 0), req, err }' "$raw")
	pct=$(awk '/^lat/ { print $2, $3 }' "$raw" | sort -n | awk '
		{ v[NR] = $1; c[NR] = $2; total += $2 }
		END { for (i = 1; i <= NR; i++) { cum += c[i]
				if (!p50 && cum >= total * 0.50) p50 = v[i]
				if (!p90 && cum >= total * 0.90) p90 = v[i]
				if (!p99 && cum >= total * 0.99) p99 = v[i] }
			printf "%.2f %.2f %.2f %.2f", p50 / 1000, p90 / 1000, p99 / 1000, v[NR] / 1000 }')
	st=$(awk '/^status/ { s[$2] += $3 } END { for (k in s) printf "%s:%s ", k, s[k] }' "$raw")
	echo "$rps $pct $req $err $st"
}

declare -A R D
run() { # NAME DESCRIPTION URL CONNS LUA [VAR=value...]
	local name=$1 desc=$2
	shift 2
	log "$name: $desc"
	R[$name]=$(scenario "$name" "$@")
	D[$name]=$desc
	log "  $name: ${R[$name]}"
}

mem() { # RSS of each api worker (or of PIDS), MB, space-separated
	for p in ${1:-$(scripts/stack.sh pool-pids "$DIR" api)}; do
		awk '/^VmRSS:/ {printf "%.1f\n", $2 / 1024}' "/proc/$p/status"
	done | paste -sd' ' -
}

run S "nginx static return 200 (baseline S)" "$BENCH_URL/static" "$CONNS" ""
run H "minimal C FastCGI responder (baseline H)" "$BENCH_URL/hello" "$CONNS" ""
run live "GET /health/live" "$BASE_URL/health/live" "$CONNS" ""
run me "GET /api/me, 1,000 users" "$BASE_URL/api/me" "$CONNS" scripts/bench/tokens.lua \
	TOKENS="$DIR/users.txt"
run chat "POST /api/chat/message, 1,000 users" "$BASE_URL/api/chat/message" "$CONNS" \
	scripts/bench/chat.lua TOKENS="$DIR/users.txt"
# the floors (scripts/bench/baseline.sh): chat on scripts/bench/chat-floor.c,
# the least a message can cost; the mixed workload with chat there and every
# other request on H: the ceilings of any implementation on this machine
run chat-floor "the same on scripts/bench/chat-floor.c (the least a message can cost)" \
	"$BENCH_URL/api/chat/message" "$CONNS" scripts/bench/chat.lua TOKENS="$DIR/users.txt"
run mixed-floor "the mixed workload at 32 connections with chat on the chat floor, the rest on H" \
	"$BENCH_URL" 32 scripts/bench/mixed.lua TOKENS="$DIR/users.txt"
run an-cached "GET /api/analytics/conversations/summary, cached" \
	"$BASE_URL/api/analytics/conversations/summary" "$CONNS" scripts/bench/analytics.lua \
	TOKENS="$DIR/users.txt"
run an-uncached "GET /api/analytics/conversations/summary, another window each time" \
	"$BASE_URL/api/analytics/conversations/summary" "$CONNS" scripts/bench/analytics.lua \
	TOKENS="$DIR/users.txt" VARY=start_date
for c in 8 32 128 512; do
	run "mixed-c$c" "mixed: 70% chat, 20% analytics, 10% models/health; $c connections" \
		"$BASE_URL" "$c" scripts/bench/mixed.lua TOKENS="$DIR/users.txt"
done

# One abusive user beside 1,000 other users (new ones, with fresh budgets), on
# a second host sharing the stack's Postgres and Redis with a chat budget of
# 60 messages a minute per user: the others stay well below it.
host=$(mktemp -d /tmp/pixelcraft-load-host.XXXXXX)
env -u PORT -u INTERNAL_PORT -u PG_PORT -u REDIS_PORT -u STUB_PORT -u WORKERS -u CHAT_WORKERS \
	STACK_QUIET=1 EXTRA_ENV="RATE_LIMIT_DEFAULT=100000/minute RATE_LIMIT_CHAT=60/minute" \
	scripts/stack.sh up "$host" --shared "$DIR" --workers "$WORKERS" --chat-workers "$CHAT_WORKERS"
host_url=$(sed -n 's/^BASE_URL=//p' "$host/stack.env")
log "abuse: one user with 8 connections beside 1,000 users with $CONNS"
(R_abuser=$(scenario abuse-abuser "$host_url/api/chat/message" 8 scripts/bench/chat.lua \
	TOKENS="$DIR/abuser.txt") && echo "$R_abuser" >"$DIR/abuser.result") &
R[abuse-users]=$(scenario abuse-users "$host_url/api/chat/message" "$CONNS" scripts/bench/chat.lua \
	TOKENS="$DIR/users-abuse.txt")
wait
R[abuse-abuser]=$(cat "$DIR/abuser.result")
D[abuse-users]="chat, 1,000 users while one user hammers (60 messages/minute each)"
D[abuse-abuser]="chat, the abusive user (8 connections): 429 expected"
STACK_QUIET=1 scripts/stack.sh down "$host" >/dev/null 2>&1
rm -rf "$host"

# The worker sweep: the mixed workload at CONNS connections with 1, 2, 4, 8 workers.
for w in 1 2 4 8; do
	STACK_QUIET=1 scripts/stack.sh pool-stop "$DIR"
	sed -i "s/^WORKERS=.*/WORKERS=$w/" "$DIR/stack.env"
	STACK_QUIET=1 scripts/stack.sh pool-start "$DIR"
	run "sweep-w$w" "mixed, $CONNS connections, $w api workers" "$BASE_URL" "$CONNS" \
		scripts/bench/mixed.lua TOKENS="$DIR/users.txt"
done
STACK_QUIET=1 scripts/stack.sh pool-stop "$DIR"
sed -i "s/^WORKERS=.*/WORKERS=$WORKERS/" "$DIR/stack.env"
STACK_QUIET=1 scripts/stack.sh pool-start "$DIR"
# memory: fresh workers; warmed by 30,000 mixed requests (every user's token
# and role cached, analytics answers, libcurl initialised by the LLM health
# refresh); then 100,000 more on the same workers
mem_fresh=$(mem)
cat scripts/bench/mixed.lua scripts/bench/load-done.lua >"$DIR/mem.lua"
mixed_until() { # TOTAL-REQUESTS FILE
	local total=0
	: >"$2"
	while ((total < $1)); do
		SLICE_OUT=$2 TOKENS=$DIR/users.txt wrk -t2 -c"$CONNS" -d5s -s "$DIR/mem.lua" \
			"$BASE_URL" >/dev/null 2>&1 </dev/null || true
		total=$(awk '/^slice/ {n += $3} END {print n + 0}' "$2")
	done
}
log "memory: 30,000 mixed requests to warm up, then 100,000"
mixed_until 30000 "$DIR/warm.txt"
mem_before=$(mem)
mixed_until 100000 "$DIR/mem.txt"
mem_after=$(mem)
# the memory floor of our libraries (scripts/bench/floor.c), warmed up too
wrk -t1 -c4 -d5s "$BENCH_URL/floor" >/dev/null 2>&1 </dev/null || true
mem_floor=$(mem "$(pgrep -P "$(cat "$DIR/run/floor-pool.pid")")")

live_line=""
if ((LIVE_USERS > 0)); then
	log "live subscribers: scripts/ws-load.sh with $LIVE_USERS users"
	live_line=$(USERS=$LIVE_USERS scripts/ws-load.sh 2>&1 | tail -n 6 || true)
fi

# ------------------------------------------------------------------ report
plot() { # NAME: throughput and latency over time
	gnuplot <<-GP
		set terminal pngcairo size 900,600 font ",10"
		set output "$OUT/$1.png"
		set multiplot layout 2,1 title "$1: ${D[$1]//\"/}"
		set xlabel "seconds"; set ylabel "requests/s"; set grid; set yrange [0:*]
		plot "$OUT/raw/$1.tsv" using 1:2 with linespoints title "throughput"
		set ylabel "ms"
		plot "$OUT/raw/$1.tsv" using 1:3 with linespoints title "p50", "" using 1:4 with linespoints title "p99"
		unset multiplot
	GP
}
H_RPS=$(awk '{print $1}' <<<"${R[H]}")
{
	echo "# Load test, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "$(nproc) cores; $WORKERS api workers, $CHAT_WORKERS chat workers; wrk -t2 for ${DURATION} s per"
	echo "scenario in ${SLICE}-s slices (percentiles from the merged latency histograms);"
	echo "stub LLM answering at once. H: a minimal C FastCGI responder behind the same nginx."
	echo "Load average (1 min, whole host) at the start $LOAD_START, at the end $(cut -d' ' -f1 /proc/loadavg)."
	echo
	echo "| Scenario | What | conns | req/s | ratio to H | p50 ms | p90 ms | p99 ms | max ms | requests | errors | per status |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for name in S H live me chat chat-floor an-cached an-uncached mixed-c8 mixed-c32 mixed-floor \
		mixed-c128 mixed-c512 abuse-users abuse-abuser sweep-w1 sweep-w2 sweep-w4 sweep-w8; do
		read -r rps p50 p90 p99 max req err st <<<"${R[$name]}"
		conns=$CONNS
		[[ $name == mixed-c* ]] && conns=${name#mixed-c}
		[[ $name == mixed-floor ]] && conns=32
		[[ $name == abuse-abuser ]] && conns=8
		printf '| %s | %s | %s | %s | %.3f | %s | %s | %s | %s | %s | %s | %s |\n' "$name" \
			"${D[$name]}" "$conns" "$rps" "$(bc -l <<<"$rps / $H_RPS")" "$p50" "$p90" "$p99" \
			"$max" "$req" "$err" "$st"
		plot "$name"
	done
	echo
	echo "Api worker RSS (MB): fresh $mem_fresh; after a warm-up of 30,000 mixed requests"
	echo "$mem_before; after 100,000 more $mem_after."
	growth=$(awk -v a="$mem_before" -v b="$mem_after" 'BEGIN { n = split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= n; i++) { g = (y[i] - x[i]) / x[i] * 100; if (g > m) m = g }
		printf "%.1f", m }')
	echo "Largest growth over the 100,000: ${growth}% (limit 10%). Our libraries alone, one"
	echo "call of each per request (scripts/bench/floor.c): $mem_floor MB."
	[[ -n $live_line ]] && { echo; echo '```'; echo "$live_line"; echo '```'; }
	echo
	echo "## Targets"
	read -r rps _ _ p99 max _ _ _ <<<"${R[mixed-c32]}"
	ratio=$(bc -l <<<"$rps / $H_RPS")
	verdict() { if [[ $1 == 1 ]]; then echo "met"; else echo "**missed**"; fi; }
	echo "* mixed at 32 connections: $(printf %.3f "$ratio") H (target 0.12 H):" \
		"$(verdict "$(bc -l <<<"$ratio >= 0.12")")"
	echo "* mixed at 32 connections: p99 $p99 ms (target < 50 ms): $(verdict "$(bc -l <<<"$p99 < 50")")"
	read -r rps _ _ p99 _ <<<"${R[mixed-floor]}"
	echo "* the ceiling here, the mixed floor at 32 connections: $(printf %.3f "$(bc -l <<<"$rps / $H_RPS")") H," \
		"p99 $p99 ms; our mixed workload is $(printf %.0f "$(bc -l <<<"100 * $ratio * $H_RPS / $rps")")% of it"
	bad=$(for name in "${!R[@]}"; do
		[[ $name == abuse-abuser ]] && continue
		read -r _ _ _ _ _ _ err st <<<"${R[$name]}"
		for kv in $st; do [[ ${kv%%:*} == 2* ]] || echo "$name ${kv}"; done
		((err == 0)) || echo "$name socket-errors:$err"
	done | paste -sd, - | sed 's/,/, /g')
	echo "* errors other than the abusive user's 429: ${bad:-none}: $(verdict "$([[ -z $bad ]] && echo 1)")"
	slow=$(for name in "${!R[@]}"; do
		read -r _ _ _ _ max _ <<<"${R[$name]}"
		if (($(bc -l <<<"$max >= 1000"))); then echo "$name ${max}ms"; fi
	done | paste -sd, - | sed 's/,/, /g')
	echo "* no request over 1 s: ${slow:-none over}: $(verdict "$([[ -z $slow ]] && echo 1)")"
	echo "* api worker RSS growth over 100,000 requests after warm-up: ${growth}% (target < 10%):" \
		"$(verdict "$(bc -l <<<"$growth < 10")")"
	read -r _ _ _ _ _ _ _ st <<<"${R[abuse-users]}"
	echo "* normal users beside the abusive one: $st"
	read -r _ _ _ _ _ _ _ st <<<"${R[abuse-abuser]}"
	echo "* the abusive user: $st"
} >"$OUT/report.md"

# the knee and the sweep
for c in 8 32 128 512; do echo "$c ${R[mixed-c$c]}"; done >"$OUT/raw/knee.dat"
for w in 1 2 4 8; do echo "$w ${R[sweep-w$w]}"; done >"$OUT/raw/sweep.dat"
gnuplot <<-GP
	set terminal pngcairo size 900,500 font ",10"
	set output "$OUT/mixed-knee.png"
	set title "mixed workload against connections ($WORKERS workers)"
	set logscale x 2; set xlabel "connections"; set ylabel "requests/s"; set y2label "p99 ms"
	set ytics nomirror; set y2tics; set grid; set yrange [0:*]; set y2range [0:*]
	plot "$OUT/raw/knee.dat" using 1:2 with linespoints title "req/s", "" using 1:5 axes x1y2 with linespoints title "p99 ms"
	set output "$OUT/mixed-workers.png"
	set title "mixed workload, $CONNS connections, against api workers"
	set xlabel "api workers"
	plot "$OUT/raw/sweep.dat" using 1:2 with linespoints title "req/s", "" using 1:5 axes x1y2 with linespoints title "p99 ms"
GP
cat "$OUT/report.md"
echo "load-test: report and plots in $OUT" >&2
