#!/usr/bin/env bash
# fuzz.sh: the libFuzzer harnesses of tests/fuzz/ (make fuzz, make fuzz-replay).
#
#   scripts/fuzz.sh run [TARGET...]     fuzz each harness for FUZZ_SECONDS (300);
#                                       new inputs that add coverage are merged
#                                       into tests/fuzz/corpus/TARGET/, crashes are
#                                       written to tests/fuzz/crashes/TARGET/; a
#                                       summary table at the end; fails on a crash
#                                       or on coverage below the harness's floor
#   scripts/fuzz.sh replay [TARGET...]  every corpus input and saved crash once
#                                       (no fuzzing); fails on any crash (make test)
#   scripts/fuzz.sh minimize [TARGET...] re-minimise the corpus (same edges)
#   scripts/fuzz.sh json-c              fetch json-c's Debian source and build it
#                                       with the sanitizers into build/fuzz/json-c
#   scripts/fuzz.sh deps                check (as root: install) the packages
#
# Environment: FUZZ_SECONDS (300 per harness), FUZZ_PARALLEL (harnesses fuzzed
# at once, default the number of cores), FUZZ_BUILD (build/fuzz).
#
# The harnesses are built by the Makefile (make fuzz-build) with clang,
# -fsanitize=fuzzer,address,undefined, from the sources compiled again into
# build/fuzz/obj. json-c is built from Debian's source package with the same
# instrumentation: against the uninstrumented system library libFuzzer sees
# almost none of the JSON parser (coverage 5 instead of thousands).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
FUZZ_BUILD=${FUZZ_BUILD:-build/fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-300}
FUZZ_PARALLEL=${FUZZ_PARALLEL:-$(nproc)}
CORPUS=tests/fuzz/corpus
CRASHES=tests/fuzz/crashes
# at most this many inputs are kept per harness (re-minimised above it)
CORPUS_MAX=${CORPUS_MAX:-300}

# Coverage floors (libFuzzer's "cov:", edges reached) per harness, about 85%
# of what 5-minute runs reach (measured; see tests/fuzz/README.md) and far
# above what the JSON-reading harnesses reach when linked against the
# uninstrumented system json-c (jsonbody 225, models 278, auth 97): a build
# that lost its instrumentation, or a harness that no longer reaches its
# parser, fails here.
declare -A FLOOR=(
	[request]=600
	[jsonbody]=700
	[auth]=450
	[router]=200
	[config]=300
	[models]=700
)
# Largest input libFuzzer generates per harness.
declare -A MAXLEN=(
	[request]=16384
	[jsonbody]=16384
	[auth]=9000
	[router]=2048
	[config]=8192
	[models]=16384
)

# clang and its sanitizer/libFuzzer runtimes, llvm-symbolizer (readable
# reports), cmake and dpkg-dev (json-c from its Debian source package)
PACKAGES=(clang libclang-rt-14-dev llvm cmake dpkg-dev make pkg-config)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

die() { echo "fuzz: $*" >&2; exit 1; }

deps() {
	local missing=() p status
	for p in "${PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[[ $status == "install ok installed" ]] || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	[[ $(id -u) -eq 0 ]] || die "missing packages: ${missing[*]} (run as root to install)"
	echo "fuzz: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >/dev/null || die "cannot install ${missing[*]}"
}

# json-c from Debian's source package (the version the system library is
# built from), through a private apt configuration under build/ so the
# machine's apt sources and lists are left alone.
jsonc() {
	local top=$ROOT/$FUZZ_BUILD prefix=$ROOT/$FUZZ_BUILD/json-c
	[[ -f $prefix/lib/libjson-c.a ]] && return 0
	deps
	local apt=$top/apt src=$top/src
	local ver
	ver=$(dpkg-query -W -f='${source:Version}' libjson-c-dev 2>/dev/null || true)
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$src"
	cat >"$apt/sources.list" <<-EOF
		deb-src http://deb.debian.org/debian bookworm main
		deb-src http://deb.debian.org/debian bookworm-updates main
		deb-src http://deb.debian.org/debian-security bookworm-security main
	EOF
	local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
		-o "APT::Sandbox::User=root" -qq)
	if ! ls -d "$src"/json-c-*/ >/dev/null 2>&1; then
		echo "fuzz: fetching json-c ${ver:-} source (apt-get source)"
		apt-get "${opts[@]}" update || die "apt-get update (deb-src) failed"
		(cd "$src" && apt-get "${opts[@]}" source "json-c${ver:+=$ver}" >/dev/null 2>&1 ||
			apt-get "${opts[@]}" source json-c >/dev/null) || die "apt-get source json-c failed"
	fi
	local dir
	dir=$(ls -d "$src"/json-c-*/ | head -n 1)
	echo "fuzz: building instrumented json-c from ${dir#"$ROOT"/}"
	rm -rf "$top/json-c-build"
	mkdir -p "$top/json-c-build"
	(
		cd "$top/json-c-build" &&
			CC=clang CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
-fno-sanitize-recover=all -fsanitize=fuzzer-no-link" \
				cmake "$dir" -DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON \
				-DBUILD_TESTING=OFF -DBUILD_APPS=OFF -DDISABLE_WERROR=ON \
				-DCMAKE_BUILD_TYPE=None -DCMAKE_INSTALL_PREFIX="$prefix" \
				-DCMAKE_INSTALL_LIBDIR=lib >cmake.log 2>&1 &&
			make -j"$(nproc)" >make.log 2>&1 && make install >install.log 2>&1
	) || die "json-c build failed: see $top/json-c-build/*.log"
	[[ -f $prefix/lib/libjson-c.a ]] || die "json-c build produced no libjson-c.a"
}

build() {
	deps
	jsonc
	make -s fuzz-build >&2 || die "building the harnesses failed"
}

targets() {
	if (($#)); then
		echo "$@"
	else
		ls tests/fuzz/fuzz_*.c | sed 's#.*/fuzz_\(.*\)\.c#\1#' | tr '\n' ' '
	fi
}

count() { find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l; }

# Replaces a corpus by a minimal subset reaching the same edges.
minimize_one() {
	local t=$1 work=$2 bin=$FUZZ_BUILD/fuzz_$1
	local min=$work/$t.min
	rm -rf "$min"
	mkdir -p "$min"
	if "$bin" -merge=1 -use_counters=0 "$min" "$CORPUS/$t" -max_len="${MAXLEN[$t]:-8192}" \
		-timeout=10 >"$work/$t.min.log" 2>&1 && (($(count "$min") > 0)); then
		rm -f "$CORPUS/$t"/*
		cp "$min"/* "$CORPUS/$t"/
	fi
	rm -rf "$min"
}

minimize() {
	build
	local work list t
	work=$(mktemp -d /tmp/pixelcraft-fuzz-min.XXXXXX)
	read -ra list <<<"$(targets "$@")"
	for t in "${list[@]}"; do
		local before
		before=$(count "$CORPUS/$t")
		minimize_one "$t" "$work"
		echo "fuzz: $t: $before -> $(count "$CORPUS/$t") inputs"
	done
	rm -rf "$work"
}

# One harness for FUZZ_SECONDS; writes $work/T.{log,result}
fuzz_one() {
	local t=$1 work=$2 bin=$FUZZ_BUILD/fuzz_$1
	local new=$work/$t.new log=$work/$t.log
	mkdir -p "$new" "$CORPUS/$t" "$CRASHES/$t"
	local dict=()
	[[ -f tests/fuzz/$t.dict ]] && dict=(-dict="tests/fuzz/$t.dict")
	# new inputs go to $new; the corpus itself is only read here and merged below
	"$bin" "$new" "$CORPUS/$t" "${dict[@]}" -max_total_time="$FUZZ_SECONDS" \
		-max_len="${MAXLEN[$t]:-8192}" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$CRASHES/$t/" -print_final_stats=1 \
		-close_fd_mask=1 >"$log" 2>&1
	local rc=$?
	local runs cov crashes
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*')
	# keep the corpus small: merge what reaches new edges (hit counts are
	# ignored: -use_counters=0), re-minimise when it grows past CORPUS_MAX
	"$bin" -merge=1 -use_counters=0 "$CORPUS/$t" "$new" -max_len="${MAXLEN[$t]:-8192}" \
		-timeout=10 >"$work/$t.merge.log" 2>&1
	(($(count "$CORPUS/$t") > CORPUS_MAX)) && minimize_one "$t" "$work"
	crashes=$(count "$CRASHES/$t")
	echo "$t ${runs:-0} ${cov:-0} $(count "$CORPUS/$t") $crashes $rc" >"$work/$t.result"
}

run() {
	build
	local work
	work=$(mktemp -d /tmp/pixelcraft-fuzz.XXXXXX)
	local list
	read -ra list <<<"$(targets "$@")"
	echo "fuzz: ${list[*]}: ${FUZZ_SECONDS}s each, $FUZZ_PARALLEL at a time (logs in $work)"
	local running=0
	for t in "${list[@]}"; do
		[[ -x $FUZZ_BUILD/fuzz_$t ]] || die "no harness $t"
		fuzz_one "$t" "$work" &
		running=$((running + 1))
		if ((running >= FUZZ_PARALLEL)); then
			wait -n
			running=$((running - 1))
		fi
	done
	wait
	local failed=0
	printf '\n%-10s %12s %8s %8s %8s %8s  %s\n' target runs cov floor corpus crashes result
	for t in "${list[@]}"; do
		local name runs cov size crashes rc verdict=ok
		read -r name runs cov size crashes rc <"$work/$t.result"
		local floor=${FLOOR[$t]:-1}
		if ((rc != 0)); then
			verdict="FAILED (exit $rc: see $work/$t.log)"
			failed=1
		elif ((cov < floor)); then
			verdict="FAILED (coverage below the floor: instrumentation missing?)"
			failed=1
		fi
		printf '%-10s %12s %8s %8s %8s %8s  %s\n' "$t" "$runs" "$cov" "$floor" "$size" \
			"$crashes" "$verdict"
	done
	if ((failed)); then
		echo "fuzz: FAILED; crash inputs (if any) are in $CRASHES/<target>/" >&2
		grep -h -A3 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' \
			"$work"/*.log 2>/dev/null | head -n 40 >&2
		return 1
	fi
	rm -rf "$work"
	return 0
}

# Every corpus input and saved crash once through its harness.
replay() {
	build
	local failed=0 list t start=$SECONDS
	read -ra list <<<"$(targets "$@")"
	local tmp
	tmp=$(mktemp -d /tmp/pixelcraft-fuzz-replay.XXXXXX)
	for t in "${list[@]}"; do
		local bin=$FUZZ_BUILD/fuzz_$t dirs=()
		[[ -x $bin ]] || die "no harness $t"
		[[ -d $CORPUS/$t ]] && dirs+=("$CORPUS/$t")
		[[ -d $CRASHES/$t ]] && (($(count "$CRASHES/$t") > 0)) && dirs+=("$CRASHES/$t")
		((${#dirs[@]})) || continue
		local n=0 d
		for d in "${dirs[@]}"; do n=$((n + $(count "$d"))); done
		# -runs=0: execute the given inputs, no mutation; nothing is written
		if "$bin" "${dirs[@]}" -runs=0 -timeout=10 -rss_limit_mb=2048 \
			-max_len="${MAXLEN[$t]:-8192}" -artifact_prefix="$tmp/" >"$tmp/$t.log" 2>&1; then
			printf 'fuzz-replay: %-9s %4d inputs ok\n' "$t" "$n"
		else
			printf 'fuzz-replay: %-9s %4d inputs FAILED\n' "$t" "$n"
			grep -A12 -E 'ERROR: |runtime error:|Running:' "$tmp/$t.log" | head -n 40
			failed=1
		fi
	done
	echo "fuzz-replay: $((SECONDS - start)) s"
	((failed)) && echo "fuzz-replay: FAILED (logs in $tmp)" >&2 && return 1
	rm -rf "$tmp"
	return 0
}

cmd=${1:-run}
shift || true
case $cmd in
run) run "$@" ;;
replay) replay "$@" ;;
minimize) minimize "$@" ;;
json-c) jsonc ;;
deps) deps ;;
build) build ;;
*) die "usage: fuzz.sh run|replay|minimize|json-c|deps|build [TARGET...]" ;;
esac
