#!/usr/bin/env bash
# memcheck.sh: memory of long-running workers (make memcheck; not part of make test).
#
#   scripts/memcheck.sh rss        a stack with one api and one chat worker; after
#                                  a warm-up, MEMCHECK_REQUESTS (100,000) mixed
#                                  requests through nginx; the RSS (VmRSS) of each
#                                  worker before and after; fails above 10% growth
#   scripts/memcheck.sh valgrind   the same stack with both workers run under
#                                  valgrind --leak-check=full; MEMCHECK_VALGRIND_REQUESTS
#                                  (100,000) mixed requests; the workers are stopped
#                                  with SIGTERM so valgrind reports; fails on any
#                                  error or definitely/indirectly lost block
#   scripts/memcheck.sh all        both (default)
#
# The mix (tests the paths a worker takes every day, errors included): /health/live,
# /health, /api/models, /api/models/NAME, an unknown model, /api/me with a valid
# and a forged token, a 404, a 405, chat messages (new and existing conversations,
# a 422 and a malformed body), a conversation's history, /api/chat/conversations.
# KEEP_STACK=1 keeps the stack directory (logs, valgrind reports).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
what=${1:-all}
REQUESTS=${MEMCHECK_REQUESTS:-100000}
VG_REQUESTS=${MEMCHECK_VALGRIND_REQUESTS:-100000}
WARMUP=${MEMCHECK_WARMUP:-5000}
MAX_GROWTH_PCT=${MEMCHECK_MAX_GROWTH_PCT:-10}
CONNECTIONS=${MEMCHECK_CONNECTIONS:-8}
failed=0
dir=""

cleanup() {
	[[ -n $dir ]] || return 0
	stop_valgrind
	STACK_QUIET=1 scripts/stack.sh down "$dir" >/dev/null 2>&1
	[[ -n ${KEEP_STACK:-} ]] || rm -rf "$dir"
}
trap cleanup EXIT INT TERM

die() { echo "memcheck: $*" >&2; exit 1; }
section() { printf '\n==== %s\n' "$*"; }

# The wrk script: a rotating mix of requests; wrk runs one thread (-t1), which
# stops after MEMCHECK_LIMIT responses.
write_lua() {
	cat >"$dir/memcheck.lua" <<-'EOF'
		local token = os.getenv("MEMCHECK_TOKEN")
		local conv = os.getenv("MEMCHECK_CONVERSATION")
		local limit = tonumber(os.getenv("MEMCHECK_LIMIT"))
		local json = {["Content-Type"] = "application/json"}
		local auth = {["Authorization"] = "Bearer " .. token}
		local forged = {["Authorization"] = "Bearer " .. token:sub(1, -4) .. "abc"}
		local mix = {
			{"GET", "/health/live"},
			{"GET", "/health"},
			{"GET", "/api/models"},
			{"GET", "/api/models/mistral"},
			{"GET", "/api/models/no-such-model"},
			{"GET", "/api/me", auth},
			{"GET", "/api/me", forged},
			{"GET", "/api/chat/conversations?limit=5", auth},
			{"GET", "/nope/x"},
			{"DELETE", "/api/models"},
			{"GET", "/health/live?x=1", {["X-Request-ID"] = "memcheck-1"}},
			{"POST", "/api/chat/message", json, '{"message":"Hello, what do you offer?"}'},
			{"POST", "/api/chat/message", json,
			 '{"message":"And the price?","conversation_id":"' .. conv .. '","context":{"page":"/pricing"}}'},
			{"POST", "/api/chat/message", json, '{"message":"","model":"gpt-9"}'},
			{"POST", "/api/chat/message", json, '{"message":"x","message":"y"}'},
			{"GET", "/api/chat/history/" .. conv .. "?limit=5"},
		}
		local reqs = {}
		local threads = {}
		-- globals: done() reads them from the thread with thread:get()
		i, n, counts = 0, 0, {}
		function setup(thread)
			table.insert(threads, thread)
		end
		function init(args)
			for k, r in ipairs(mix) do
				reqs[k] = wrk.format(r[1], r[2], r[3], r[4])
			end
		end
		request = function()
			i = i + 1
			return reqs[(i % #reqs) + 1]
		end
		response = function(status, headers, body)
			n = n + 1
			local k = tostring(status)
			counts[k] = (counts[k] or 0) + 1
			if n == limit then
				-- wrk waits for its -d duration: the script then sends SIGINT
				local f = io.open(os.getenv("MEMCHECK_DONE_FILE"), "w")
				f:write("done\n")
				f:close()
				wrk.thread:stop()
			end
		end
		function done(summary, latency, requests)
			local total, byk = 0, {}
			for _, t in ipairs(threads) do
				local c = t:get("counts")
				for k, v in pairs(c) do
					byk[k] = (byk[k] or 0) + v
					total = total + v
				end
			end
			local line = ""
			for k, v in pairs(byk) do
				line = line .. " " .. k .. ":" .. v
			end
			io.write(string.format("responses %d errors %d statuses%s\n", total,
				summary.errors.connect + summary.errors.read + summary.errors.write +
				summary.errors.timeout, line))
		end
	EOF
}

# Runs n requests of the mix through the front end; prints wrk's summary line.
load() {
	local n=$1 out flag=$dir/wrk.done pid
	rm -f "$flag"
	MEMCHECK_TOKEN=$TOKEN MEMCHECK_CONVERSATION=$CONV MEMCHECK_LIMIT=$n MEMCHECK_DONE_FILE=$flag \
		wrk -t1 -c"$CONNECTIONS" -d3600s --timeout 120s -s "$dir/memcheck.lua" "$BASE_URL" \
		>"$dir/wrk.out" 2>&1 &
	pid=$!
	# wrk runs until its duration ends or SIGINT: stop it once the script
	# has seen n responses (or wrk ended by itself)
	while kill -0 "$pid" 2>/dev/null && [[ ! -f $flag ]]; do
		sleep 0.2
	done
	kill -INT "$pid" 2>/dev/null
	wait "$pid"
	out=$(cat "$dir/wrk.out")
	local line
	line=$(grep '^responses ' <<<"$out")
	[[ -n $line ]] || { echo "$out" >&2; die "wrk printed no summary"; }
	echo "$line"
	local total errors
	total=$(awk '{print $2}' <<<"$line")
	errors=$(awk '{print $4}' <<<"$line")
	if ((total < n * 99 / 100)); then
		echo "memcheck: only $total of $n requests answered" >&2
		failed=1
	fi
	if [[ $line =~ \ 5[0-9][0-9]: ]] || ((errors > 0)); then
		echo "memcheck: server errors or socket errors during the run: $line" >&2
		failed=1
	fi
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# stack_up [EXTRA_ENV...]
stack_up() {
	dir=$(mktemp -d /tmp/pixelcraft-memcheck.XXXXXX)
	EXTRA_ENV="RATE_LIMIT_DEFAULT=1000000/second RATE_LIMIT_CHAT=1000000/second $* ${MEMCHECK_EXTRA_ENV:-}" \
		STACK_QUIET=1 scripts/stack.sh up "$dir" --front nginx --stub --workers 1 --chat-workers 1 ||
		{ KEEP_STACK=1; die "stack did not start (logs in $dir/log)"; }
	set -a
	# shellcheck disable=SC1091
	. "$dir/stack.env"
	set +a
	TOKEN=$(build/pc-token "$SUPABASE_JWT_SECRET") || die "pc-token failed"
	# a conversation to continue and read back
	CONV=$(curl -s -H 'Content-Type: application/json' -d '{"message":"Hi"}' \
		"$BASE_URL/api/chat/message" | sed -n 's/.*"conversation_id":"\([0-9a-f-]*\)".*/\1/p')
	[[ -n $CONV ]] || die "could not create a conversation"
	write_lua
}

rss() {
	section "RSS of one api and one chat worker over $REQUESTS mixed requests"
	stack_up
	local api chat
	api=$(scripts/stack.sh pool-pids "$dir" api | head -n 1)
	chat=$(scripts/stack.sh pool-pids "$dir" chat | head -n 1)
	[[ -n $api && -n $chat ]] || die "no workers"
	echo "warm-up: $WARMUP requests"
	load "$WARMUP"
	local a0 c0 a1 c1 t0=$SECONDS
	a0=$(rss_kb "$api") c0=$(rss_kb "$chat")
	echo "run: $REQUESTS requests"
	load "$REQUESTS"
	a1=$(rss_kb "$api") c1=$(rss_kb "$chat")
	local now_api now_chat
	now_api=$(scripts/stack.sh pool-pids "$dir" api | head -n 1)
	now_chat=$(scripts/stack.sh pool-pids "$dir" chat | head -n 1)
	if [[ $now_api != "$api" || $now_chat != "$chat" ]]; then
		echo "memcheck: a worker was restarted during the run" >&2
		failed=1
	fi
	local name pid before after pct
	printf '%-6s %8s %12s %12s %8s\n' worker pid "RSS before" "RSS after" growth
	for name in api chat; do
		if [[ $name == api ]]; then pid=$api before=$a0 after=$a1; else pid=$chat before=$c0 after=$c1; fi
		pct=$(awk -v a="$before" -v b="$after" 'BEGIN {printf "%.1f", a ? (b - a) * 100 / a : 0}')
		printf '%-6s %8s %9s kB %9s kB %7s%%\n' "$name" "$pid" "$before" "$after" "$pct"
		if awk -v p="$pct" -v m="$MAX_GROWTH_PCT" 'BEGIN {exit !(p > m)}'; then
			echo "memcheck: $name worker grew by $pct% (limit $MAX_GROWTH_PCT%)" >&2
			failed=1
		fi
	done
	echo "($REQUESTS requests in $((SECONDS - t0)) s)"
	STACK_QUIET=1 scripts/stack.sh down "$dir" >/dev/null 2>&1
	[[ -n ${KEEP_STACK:-} ]] || rm -rf "$dir"
	dir=""
}

VG_PIDS=()

stop_valgrind() {
	local pid
	for pid in "${VG_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${VG_PIDS[@]}"; do
		for _ in $(seq 1 600); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
	done
	VG_PIDS=()
}

valgrind_run() {
	section "one api and one chat worker under valgrind, $VG_REQUESTS mixed requests"
	make -s all >&2 || die "build failed"
	# a worker under valgrind runs 20-50 times slower: dependency deadlines
	# meant for native speed (Redis 250 ms) would turn into 503s
	stack_up REDIS_TIMEOUT_MS=10000 REDIS_CONNECT_TIMEOUT_MS=10000 DB_QUERY_TIMEOUT_MS=30000 \
		DB_CONNECT_TIMEOUT_MS=30000 HEALTH_TIMEOUT_MS=10000 LLM_CONNECT_TIMEOUT_MS=10000
	# serve both pool slots by hand (README: "Debugging a worker"), on the
	# sockets the front end uses
	STACK_QUIET=1 scripts/stack.sh pool-stop "$dir" >/dev/null 2>&1
	local name sock supp=()
	[[ -f tests/valgrind.supp ]] && supp=(--suppressions="$ROOT/tests/valgrind.supp")
	for name in api chat; do
		sock=$dir/run/$name.sock
		rm -f "$sock"
		WORKERS=1 LIBFCGI_OS_CLOSE_POLL_TIMEOUT=0 GNUTLS_NO_IMPLICIT_INIT=1 spawn-fcgi -n -s "$sock" -M 0666 -- \
			/usr/bin/valgrind --leak-check=full --show-leak-kinds=definite,indirect \
			--errors-for-leak-kinds=definite,indirect --num-callers=30 "${supp[@]}" \
			--log-file="$dir/log/valgrind-$name.log" \
			"$ROOT/build/pixelcraft-api" --env-file "$dir/pixelcraft.env" \
			>>"$dir/log/$name-pool.out" 2>>"$dir/log/api.log" &
		VG_PIDS+=($!)
	done
	for _ in $(seq 1 300); do
		curl -sf "$BASE_URL/health/live" >/dev/null && break
		sleep 0.1
	done
	curl -sf "$BASE_URL/health/live" >/dev/null || die "valgrind workers do not answer"
	local t0=$SECONDS
	load "$VG_REQUESTS"
	echo "($VG_REQUESTS requests in $((SECONDS - t0)) s)"
	# SIGTERM: each worker returns from main and valgrind reports at exit
	stop_valgrind
	for name in api chat; do
		local f=$dir/log/valgrind-$name.log
		[[ -f $f ]] || { echo "memcheck: no valgrind report for $name" >&2; failed=1; continue; }
		echo "$name worker: $(grep -E 'ERROR SUMMARY' "$f" | sed 's/^==[0-9]*== //')"
		grep -E 'definitely lost:|indirectly lost:|possibly lost:|still reachable:' "$f" |
			sed 's/^==[0-9]*== */    /'
		if ! grep -q 'ERROR SUMMARY: 0 errors' "$f"; then
			echo "memcheck: valgrind found errors in the $name worker:" >&2
			grep -E -A25 'Invalid|uninitialised|definitely lost in|indirectly lost in' "$f" |
				head -n 80 >&2
			failed=1
			KEEP_STACK=1
		fi
		grep -q 'worker_stopped' "$dir/log/api.log" ||
			echo "memcheck: note: no worker_stopped line for $name" >&2
	done
	[[ -n ${KEEP_STACK:-} ]] && echo "(reports kept in $dir/log)"
	STACK_QUIET=1 scripts/stack.sh down "$dir" >/dev/null 2>&1
	[[ -n ${KEEP_STACK:-} ]] || rm -rf "$dir"
	dir=""
}

make -s all >&2 || die "build failed"
case $what in
rss) rss ;;
valgrind) valgrind_run ;;
all)
	rss
	valgrind_run
	;;
*) die "usage: memcheck.sh rss|valgrind|all" ;;
esac
if ((failed)); then
	echo "memcheck: FAILED"
else
	echo "memcheck: ok"
fi
exit $failed
