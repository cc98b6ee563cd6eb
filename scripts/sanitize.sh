#!/usr/bin/env bash
# sanitize.sh: the memory and undefined-behaviour checks of `make test`.
#
#   scripts/sanitize.sh unit          unit tests built with ASan+UBSan (build/asan)
#   scripts/sanitize.sh valgrind      unit tests (normal build) under valgrind
#   scripts/sanitize.sh integration   one integration pass through nginx against a
#                                     stack whose workers are the ASan+UBSan build
#   scripts/sanitize.sh all           the three, in that order
#
# Any sanitizer report (AddressSanitizer, LeakSanitizer, UndefinedBehaviorSanitizer)
# or valgrind error (invalid access, uninitialised value, definitely or
# indirectly lost memory) fails the run. Criterion runs each test in a child
# process and ignores how that child exits after its test, so the reports are
# read from the output and log files, not from exit codes.
#
# TEST_FILTER restricts the Criterion tests (as in scripts/test.sh);
# KEEP_STACK=1 keeps the integration stack's directory.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ASAN_BUILD=${ASAN_BUILD:-build/asan}
what=${1:-all}
failed=0
stack_dir=""

# halt at the first error; leaks are checked at every exit
export ASAN_OPTIONS=${SANITIZE_ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1:print_summary=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1}
export UBSAN_OPTIONS=${SANITIZE_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:print_summary=1}
# library leaks that are not ours, if any, are listed (with the reason) here
if [[ -f $ROOT/tests/lsan.supp ]]; then
	export LSAN_OPTIONS=${SANITIZE_LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}
fi
VG_SUPP=()
[[ -f $ROOT/tests/valgrind.supp ]] && VG_SUPP=(--suppressions="$ROOT/tests/valgrind.supp")

REPORT_RE='ERROR: AddressSanitizer|ERROR: LeakSanitizer|AddressSanitizer:DEADLYSIGNAL|runtime error:|SUMMARY: UndefinedBehaviorSanitizer|WARNING: AddressSanitizer failed'

section() { printf '\n==== %s\n' "$*"; }

cleanup() {
	if [[ -n $stack_dir ]]; then
		STACK_QUIET=1 scripts/stack.sh down "$stack_dir" >/dev/null 2>&1
		[[ -n ${KEEP_STACK:-} ]] || rm -rf "$stack_dir"
	fi
}
trap cleanup EXIT INT TERM

# clang with its sanitizer runtimes, llvm-symbolizer, valgrind: installed when
# missing and we are root (the same list as scripts/install-deps.sh should have)
deps() {
	local missing=() p status
	for p in clang libclang-rt-14-dev llvm valgrind; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[[ $status == "install ok installed" ]] || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	if [[ $(id -u) -ne 0 ]]; then
		echo "sanitize: missing packages: ${missing[*]} (run as root to install)" >&2
		exit 1
	fi
	echo "sanitize: installing ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >/dev/null || { echo "sanitize: install failed" >&2; exit 1; }
}

build_asan() {
	make -s asan ASAN_BUILD="$ASAN_BUILD" >&2 || { echo "sanitize: ASan build failed" >&2; exit 1; }
}

# True when every report in the file is libfcgi refusing an impossible
# allocation: Debian's libfcgi has only part of the CVE-2025-23016 fix, and a
# parameter whose name and value lengths add up past INT_MAX makes it ask
# malloc for (size_t)-2 bytes (test: fcgi::parameter_lengths_near_2_31). ASan
# reports that as allocation-size-too-big with libfcgi as frame #1; the worker
# dies and is replaced, as it would with glibc's malloc (NULL, then libfcgi's
# assertion). Anything else in the file is ours to look at.
known_libfcgi() {
	awk -v re="$REPORT_RE" '
		$0 ~ re { n++ }
		/ERROR: AddressSanitizer: requested allocation size/ { want = 1; next }
		want && /^ *#1 / { if ($0 ~ /libfcgi\.so/) k++; want = 0 }
		END { exit !(n > 0 && n == k) }' "$1"
}

# Prints the sanitizer reports found in the given files; true when there are none.
no_reports() {
	local f found=0
	for f in "$@"; do
		[[ -s $f ]] || continue
		grep -qE "$REPORT_RE" "$f" || continue
		if known_libfcgi "$f"; then
			echo "sanitize: known libfcgi defect (CVE-2025-23016 remainder) in $f:" \
				"$(grep -m1 -o 'requested allocation size [^ ]*' "$f")"
			continue
		fi
		found=1
		echo "sanitize: reports in $f:" >&2
		grep -E -A14 "$REPORT_RE" "$f" | head -n 60 >&2
	done
	return $found
}

unit() {
	section "unit tests with ASan+UBSan ($ASAN_BUILD/unit-tests)"
	build_asan
	local log start=$SECONDS
	log=$(mktemp /tmp/pixelcraft-asan-unit.XXXXXX)
	"$ASAN_BUILD"/unit-tests --jobs 2 ${TEST_FILTER:+--filter "$TEST_FILTER"} >"$log" 2>&1
	local rc=$?
	if ((rc != 0)) || ! no_reports "$log"; then
		grep -E '^\[FAIL\]' "$log" | head -n 40
		echo "sanitize: ASan unit tests FAILED (log: $log)"
		failed=1
	else
		echo "sanitize: ASan unit tests clean ($((SECONDS - start)) s)"
	fi
	tail -n 1 "$log" # Criterion's summary, last
	((failed)) || rm -f "$log"
}

valgrind_unit() {
	section "unit tests under valgrind (build/unit-tests)"
	make -s build/unit-tests >&2 || { echo "sanitize: build failed" >&2; exit 1; }
	local dir start=$SECONDS
	dir=$(mktemp -d /tmp/pixelcraft-valgrind-unit.XXXXXX)
	# Criterion forks and re-executes the runner for each test: follow those
	# (--trace-children), not the helpers tests run (openssl, shells). -q: a
	# log file stays empty unless valgrind found something.
	valgrind -q --trace-children=yes --trace-children-skip='/usr/*,/bin/*,*.sh' \
		--leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --error-exitcode=1 \
		"${VG_SUPP[@]}" --log-file="$dir/vg.%p.log" \
		build/unit-tests --jobs 1 ${TEST_FILTER:+--filter "$TEST_FILTER"} >"$dir/out.log" 2>&1
	local rc=$? bad=() f
	for f in "$dir"/vg.*.log; do
		[[ -s $f ]] && bad+=("$f")
	done
	if ((rc != 0 || ${#bad[@]})); then
		((${#bad[@]})) && head -n 60 "${bad[@]}"
		grep -E '^\[FAIL\]' "$dir/out.log" | head -n 40
		echo "sanitize: valgrind unit tests FAILED (logs: $dir)"
		failed=1
	else
		echo "sanitize: valgrind clean: $(ls "$dir"/vg.*.log | wc -l) processes," \
			"no error, no leak ($((SECONDS - start)) s)"
	fi
	tail -n 1 "$dir/out.log" # Criterion's summary, last
	((failed)) || rm -rf "$dir"
}

integration() {
	section "integration tests through nginx, workers built with ASan+UBSan"
	make -s all build/integration-tests >&2 || { echo "sanitize: build failed" >&2; exit 1; }
	build_asan
	local start=$SECONDS
	stack_dir=$(mktemp -d /tmp/pixelcraft-asan.XXXXXX)
	# Every instrumented process (the workers run as the pixelcraft user, the
	# command-line runs of the tests as root, other hosts the tests start)
	# writes its reports to its own file here rather than into the logs.
	local reports=$stack_dir/sanitizer
	mkdir -p "$reports" && chmod 1777 "$reports"
	export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$reports/report"
	export UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$reports/report"
	export PIXELCRAFT_BIN=$ROOT/$ASAN_BUILD/pixelcraft-api
	if ! EXTRA_ENV="MODEL_HEALTH_INTERVAL=1 RATE_LIMIT_DEFAULT=100000/minute" STACK_QUIET=1 \
		scripts/stack.sh up "$stack_dir" --front nginx --stub --workers 4 --chat-workers 32; then
		echo "sanitize: stack did not start; logs:" >&2
		tail -n 20 "$stack_dir"/log/*.log >&2
		KEEP_STACK=1
		failed=1
		return
	fi
	# the workers really are the instrumented build and see the options
	local pid
	pid=$(scripts/stack.sh pool-pids "$stack_dir" api | head -n 1)
	if [[ -z $pid || $(readlink "/proc/$pid/exe") != "$PIXELCRAFT_BIN" ]] ||
		! tr '\0' '\n' <"/proc/$pid/environ" | grep -q '^ASAN_OPTIONS=.*log_path='; then
		echo "sanitize: the workers are not $PIXELCRAFT_BIN with ASAN_OPTIONS" >&2
		failed=1
	fi
	(
		set -a
		. "$stack_dir/stack.env"
		PROJECT_ROOT=$ROOT
		set +a
		build/integration-tests --jobs 1 --verbose ${TEST_FILTER:+--filter "$TEST_FILTER"}
	) >"$stack_dir/log/integration.out" 2>&1
	local rc=$?
	# a graceful stop: each worker returns from main, so LeakSanitizer checks it
	STACK_QUIET=1 scripts/stack.sh pool-stop "$stack_dir" >/dev/null 2>&1
	if ((rc != 0)); then
		grep -E '^\[FAIL\]' "$stack_dir/log/integration.out" | head -n 40
		echo "sanitize: integration tests FAILED with the ASan workers" \
			"(output: $stack_dir/log/integration.out)"
		failed=1
		KEEP_STACK=1
	fi
	if ! no_reports "$reports"/* "$stack_dir"/log/api.log; then
		echo "sanitize: sanitizer reports from the workers (kept in $stack_dir)"
		failed=1
		KEEP_STACK=1
	else
		echo "sanitize: no sanitizer report from $(ls "$reports" | wc -l) report files and" \
			"$(grep -c '"event":"worker_stopped"' "$stack_dir/log/api.log") worker exits" \
			"($((SECONDS - start)) s)"
	fi
	[[ -n ${KEEP_STACK:-} ]] && echo "(stack kept in $stack_dir)"
	tail -n 1 "$stack_dir/log/integration.out" # Criterion's summary, last
}

deps
case $what in
unit) unit ;;
valgrind) valgrind_unit ;;
integration) integration ;;
all)
	unit
	valgrind_unit
	integration
	;;
*)
	echo "usage: sanitize.sh unit|valgrind|integration|all" >&2
	exit 2
	;;
esac
exit $failed
