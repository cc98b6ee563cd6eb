#!/usr/bin/env bash
# test.sh: the whole test run behind `make test`.
#   1. build everything with -Wall -Wextra -Werror (and the stricter warnings);
#   2. the Criterion unit tests;
#   3. for each front end (nginx, then lighttpd): a private stack in a
#      temporary directory (PostgreSQL, Redis, stub LLM, both worker pools,
#      the front end) and the Criterion integration suite against it, every
#      response logged;
#   4. the fuzz corpus and saved crashes replayed, the unit tests with
#      ASan+UBSan and under valgrind, and one integration pass through nginx
#      with ASan+UBSan workers (scripts/fuzz.sh, scripts/sanitize.sh);
#   5. the documentation checks (build/docs-tests): ops/openapi.json against
#      the router, the linter, and every logged response against its schema.
# Stacks are torn down by a trap, also when a test fails. The output ends with
# the failed tests and suites, if any, and one Criterion summary line for all
# suites together; the exit status is non-zero if any suite failed.
#
#   scripts/test.sh              everything
#   scripts/test.sh unit         unit tests only
#   scripts/test.sh integration  integration suites only
#   scripts/test.sh docs         documentation checks only (no response logs)
#   FRONTS=nginx scripts/test.sh integration     one front end
#   TEST_FILTER='health/*' ...   run only matching Criterion tests
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
what=${1:-all}
FRONTS=${FRONTS:-nginx lighttpd}
failed=0
failures=() # names of the suites that failed, repeated at the end
fail() { failed=1; failures+=("$1"); }
stacks=()
logs=$(mktemp -d /tmp/pixelcraft-responses.XXXXXX)
response_logs=()
# every Criterion suite's output is also kept here for the summary at the end
crit_out=$logs/criterion.txt
: >"$crit_out"
keep() { tee -a "$crit_out"; }

# summary: the failed tests and suites, then one Criterion summary line that
# adds up every suite's (the last lines CI shows)
summary() {
	section "summary of every suite"
	awk '/Assertion Failed|Unexpected signal/ { n = 12; print; next }
		n > 0 && /^\[----\]   / { n--; print; next } { n = 0 }
		/^\[(FAIL|ERR )\]/' "$crit_out"
	((${#failures[@]})) && echo "failed suites: $(IFS=,; echo "${failures[*]}" | sed 's/,/, /g')"
	awk -F'[:|]' '/^\[====\] Synthesis:/ { t += $3; p += $5; f += $7; c += $9 }
		END { printf "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d \n", t, p, f, c }' "$crit_out"
}

cleanup() {
	for d in "${stacks[@]}"; do
		STACK_QUIET=1 scripts/stack.sh down "$d" >/dev/null 2>&1
		[[ -n ${KEEP_STACK:-} ]] || rm -rf "$d"
	done
	rm -rf "$logs"
}
trap cleanup EXIT INT TERM

section() { printf '\n==== %s\n' "$*"; }

section "build"
make -s all build/unit-tests build/integration-tests build/docs-tests docs-site || exit 1

crit_args=(--jobs 1 --verbose)
[[ -n ${TEST_FILTER:-} ]] && crit_args+=(--filter "$TEST_FILTER")

if [[ $what == all || $what == unit ]]; then
	section "unit tests"
	build/unit-tests --jobs 2 ${TEST_FILTER:+--filter "$TEST_FILTER"} 2>&1 | keep || fail "unit tests"
	section "fuzz regressions (corpus and saved crashes, no fuzzing)"
	scripts/fuzz.sh replay || fail "fuzz replay"
	scripts/sanitize.sh unit 2>&1 | keep || fail "unit tests with ASan+UBSan"
	scripts/sanitize.sh valgrind 2>&1 | keep || fail "unit tests under valgrind"
fi

if [[ $what == all || $what == integration ]]; then
	for front in $FRONTS; do
		dir=$(mktemp -d /tmp/pixelcraft-test.XXXXXX)
		stacks+=("$dir")
		section "integration tests through $front (stack in $dir)"
		# MODEL_HEALTH_INTERVAL=1: health flips within a second. The main
		# stack's per-address default budget is raised because every test
		# calls from 127.0.0.1; limits are tested on their own hosts.
		if ! EXTRA_ENV="MODEL_HEALTH_INTERVAL=1 RATE_LIMIT_DEFAULT=100000/minute" STACK_QUIET=1 \
			scripts/stack.sh up "$dir" --front "$front" --stub --workers 4 --chat-workers 32; then
			echo "stack for $front did not start; logs:" >&2
			tail -n 20 "$dir"/log/*.log >&2
			echo "(logs kept in $dir/log)"
			KEEP_STACK=1
			fail "stack for $front"
			continue
		fi
		response_logs+=("$logs/$front.jsonl")
		(
			set -a
			. "$dir/stack.env"
			PROJECT_ROOT=$ROOT
			RESPONSE_LOG=$logs/$front.jsonl
			set +a
			build/integration-tests "${crit_args[@]}"
		) 2>&1 | keep || { fail "integration through $front"; echo "(logs kept in $dir/log)"; KEEP_STACK=1; }
		STACK_QUIET=1 scripts/stack.sh down "$dir" >/dev/null 2>&1
	done
	# once more through nginx with ASan+UBSan workers: any report fails the run
	scripts/sanitize.sh integration 2>&1 | keep || fail "integration with ASan+UBSan workers"
fi
if [[ $what == all || $what == docs ]]; then
	section "documentation checks"
	RESPONSE_LOGS="${response_logs[*]}" build/docs-tests --verbose \
		${TEST_FILTER:+--filter "$TEST_FILTER"} 2>&1 | keep || fail "documentation checks"
fi
summary
exit $failed
