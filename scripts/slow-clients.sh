#!/usr/bin/env bash
# slow-clients.sh (make slow-clients; make test runs it in the ops suite):
# slow clients through nginx must not hurt the others. On a private nginx
# stack (stub LLM), normal clients run the mixed workload
# (scripts/bench/mixed.lua: chat, analytics, models, health; wrk -c8) for
# BASELINE seconds alone, then for DURATION seconds while slowhttptest holds
# SLOW_CONNS connections in each of three modes at once:
#   slowloris  headers trickled a few bytes every 5 s     (GET /api/models)
#   slow body  8 KiB announced, trickled every 5 s        (POST /api/chat/message)
#   slow read  the answer read 5 bytes a second           (GET /openapi.json, /api/models)
# Checks: the normal clients get no 5xx and no socket errors, both pools
# keep all their workers (nginx holds slow clients; it passes a request on
# only once it has all of it, and buffers answers), and, as timing targets,
# the normal clients' p99 stays under LIMIT_MS (100) and they keep at least
# half their throughput. With TIMES=report (make test, on a shared machine
# whose neighbours make timings noisy) the timing targets are only printed.
#
#   DURATION=30 BASELINE=10 SLOW_CONNS=1000 scripts/slow-clients.sh
# Prints one line per check with its figures; exit status 1 if any failed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# a caller's stack (the integration tests' environment) must not leak into ours
[[ -f ${STACK_DIR:-}/stack.env ]] && unset $(sed -n 's/=.*//p' "$STACK_DIR/stack.env")
DURATION=${DURATION:-30}
BASELINE=${BASELINE:-10}
SLOW_CONNS=${SLOW_CONNS:-1000}
LIMIT_MS=${LIMIT_MS:-100}
command -v slowhttptest >/dev/null || { echo "slow-clients: slowhttptest missing (scripts/install-deps.sh)" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
DIR=$(mktemp -d /tmp/pixelcraft-slow.XXXXXX)
SLOW_PIDS=()
cleanup() {
	for p in "${SLOW_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	STACK_QUIET=1 scripts/stack.sh down "$DIR" >/dev/null 2>&1
	if [[ $failed -ne 0 ]]; then
		echo "slow-clients: logs kept in $DIR/log"
	else
		rm -rf "$DIR"
	fi
}
failed=0
trap cleanup EXIT
check() { # CONDITION-EXIT-STATUS NAME FIGURES
	if [[ $1 -eq 0 ]]; then echo "ok    $2: $3"; else echo "FAIL  $2: $3"; failed=1; fi
}
timed() { # CONDITION-EXIT-STATUS NAME FIGURES: a timing target (see TIMES above)
	if [[ $1 -ne 0 && ${TIMES:-check} == report ]]; then
		echo "slow  $2: $3 (target missed; make slow-clients checks it)"
	else
		check "$@"
	fi
}

make -s all docs-site || exit 1
STACK_QUIET=1 EXTRA_ENV="RATE_LIMIT_DEFAULT=1000000/minute RATE_LIMIT_CHAT=1000000/minute" \
	scripts/stack.sh up "$DIR" --front nginx --stub --workers 4 --chat-workers 16 || {
	echo "FAIL  stack did not start"
	exit 1
}
# read, not exported: nothing here starts another stack
. "$DIR/stack.env"
build/pc-token --many 200 "$SUPABASE_JWT_SECRET" >"$DIR/users.txt"
cat scripts/bench/mixed.lua scripts/bench/load-done.lua >"$DIR/mixed.lua"

# normal NAME SECONDS: the mixed workload; sets P99_MS MAX_MS REQS ERRS BAD5
normal() {
	local raw=$DIR/$1.txt
	: >"$raw"
	SLICE_OUT=$raw TOKENS=$DIR/users.txt wrk -t2 -c8 -d"$2s" --timeout 10s -s "$DIR/mixed.lua" \
		"$BASE_URL" >/dev/null 2>&1 </dev/null
	read -r REQS ERRS P99_MS MAX_MS < <(awk '/^slice/ { printf "%d %d %.1f %.1f\n", $3,
		$4 + $5 + $6 + $7, $9 / 1000, $10 / 1000 }' "$raw")
	BAD5=$(awk '/^status/ && $2 >= 500 { n += $3 } END { print n + 0 }' "$raw")
	STATUSES=$(awk '/^status/ { printf "%s:%s ", $2, $3 }' "$raw")
}

workers() { # api and chat workers alive
	echo $(($(scripts/stack.sh pool-pids "$DIR" api | wc -l) + $(scripts/stack.sh pool-pids "$DIR" chat | wc -l)))
}

SLICE_OUT=/dev/null TOKENS=$DIR/users.txt wrk -t2 -c8 -d2s -s "$DIR/mixed.lua" "$BASE_URL" \
	>/dev/null 2>&1 </dev/null # warm-up
normal alone "$BASELINE"
base_p99=$P99_MS base_reqs=$REQS
echo "slow-clients: alone: $REQS requests in ${BASELINE} s, p99 ${P99_MS} ms, max ${MAX_MS} ms ($STATUSES)"

n_before=$(workers)
slow() { # MODE-ARGS...: one slowhttptest run in the background for the whole test
	slowhttptest "$@" -c "$SLOW_CONNS" -r 500 -l $((DURATION + 5)) -p 3 \
		>>"$DIR/slowhttptest.log" 2>&1 </dev/null &
	SLOW_PIDS+=($!)
}
slow -H -i 5 -x 10 -u "$BASE_URL/api/models"
slow -B -i 5 -x 10 -s 8192 -t POST -f application/json -u "$BASE_URL/api/chat/message"
slow -X -n 1 -z 5 -w 1 -y 64 -k 3 -u "$BASE_URL/openapi.json"
slow -X -n 1 -z 5 -w 1 -y 64 -k 3 -u "$BASE_URL/api/models"
sleep 3 # the slow connections are being opened (500 a second per mode)
held=$(ss -Htn state established "( dport = :$PORT or sport = :$PORT )" | wc -l)
normal slow "$DURATION"
echo "slow-clients: beside ~$held open connections to nginx: $REQS requests in ${DURATION} s, p99 ${P99_MS} ms, max ${MAX_MS} ms ($STATUSES)"
n_after=$(workers)
for p in "${SLOW_PIDS[@]}"; do kill "$p" 2>/dev/null; done
wait 2>/dev/null

check $((held < SLOW_CONNS)) "slow clients held" "~$held connections to nginx while the normal clients ran (4 modes x $SLOW_CONNS wanted)"
timed "$(awk -v p="$P99_MS" -v l="$LIMIT_MS" 'BEGIN { print (p < l) ? 0 : 1 }')" "others' p99" \
	"${P99_MS} ms with slow clients (limit ${LIMIT_MS} ms); ${base_p99} ms alone"
check $((BAD5 + ERRS)) "others' errors" "$BAD5 5xx, $ERRS socket errors or timeouts in $REQS requests"
timed $((REQS * 2 < base_reqs * DURATION / BASELINE)) "others' throughput" \
	"$((REQS / DURATION)) req/s with slow clients, $((base_reqs / BASELINE)) alone (at least half kept)"
check $((n_after != n_before)) "workers" "$n_after workers after, $n_before before"
[[ $failed -eq 0 ]] && echo "slow-clients: all checks passed" || echo "slow-clients: some checks FAILED"
exit $failed
