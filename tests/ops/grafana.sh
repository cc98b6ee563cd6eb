#!/usr/bin/env bash
# grafana.sh: checks ops/grafana-dashboard.json against a live scrape of
# GET /metrics, one line per check:
#
#   the dashboard is valid JSON, importable (schemaVersion, a DS_PROMETHEUS
#   datasource input that every panel and query uses, unique panel ids, every
#   panel has queries); every metric name used in a panel's expr or a template
#   variable's query is one the scrape exposes (histogram names only with their
#   _bucket, _sum or _count suffix, as Prometheus stores them); every label
#   name used in a selector or in by/without/on/ignoring/group_left/group_right
#   appears in the scrape.
#
#   tests/ops/grafana.sh METRICS_URL      e.g. http://127.0.0.1:$INTERNAL_PORT/metrics
#   tests/ops/grafana.sh STACK_DIR        a scripts/stack.sh directory: its internal port
#                                         (after one request, so request series exist)
#
# The label checks need series: scrape a host that has answered requests.
# DASHBOARD=FILE checks another file. Exit status 0 only if every check passed.
# Needs jq and curl.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DASHBOARD=${DASHBOARD:-$ROOT/ops/grafana-dashboard.json}
[[ $# -eq 1 ]] || { echo "usage: $0 METRICS_URL|STACK_DIR" >&2; exit 2; }
WARM=""
if [[ -f $1/stack.env ]]; then
	port=$(sed -n 's/^INTERNAL_PORT=//p' "$1/stack.env")
	URL=http://127.0.0.1:$port/metrics
	# one request first, so a fresh stack has request series (and their labels)
	WARM=$(sed -n 's/^BASE_URL=//p' "$1/stack.env")/health/live
else
	URL=$1
fi

FAILED=0 CHECKS=0
ok() { CHECKS=$((CHECKS + 1)); printf 'ok   %2d - %s\n' "$CHECKS" "$*"; }
fail() { CHECKS=$((CHECKS + 1)) FAILED=$((FAILED + 1)); printf 'FAIL %2d - %s\n' "$CHECKS" "$*"; }
check() {
	local what=$1; shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}
abort() { echo "grafana: ABORT: $*" >&2; exit 1; }

for tool in jq curl; do
	command -v "$tool" >/dev/null || abort "$tool not found"
done
[[ -f $DASHBOARD ]] || abort "$DASHBOARD not found"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# ---------------------------------------------------------------- the file

if ! jq empty "$DASHBOARD" 2>"$TMP/jq.err"; then
	fail "$(basename "$DASHBOARD") is valid JSON: $(cat "$TMP/jq.err")"
	echo "grafana: $CHECKS checks, $FAILED failed"
	exit 1
fi
ok "$(basename "$DASHBOARD") is valid JSON"
D=$DASHBOARD
# jq -e: exit status from the result (jq 1.6 has no -q)
jqtrue() { jq -e "$1" "$D" >/dev/null 2>&1; }
check "a dashboard: title, uid, panels and schemaVersion >= 36 ($(jq -r .schemaVersion "$D"))" \
	jqtrue '(.title | type == "string") and (.uid | type == "string") and
		(.schemaVersion | type == "number" and . >= 36) and (.panels | length > 0)'
check "importable: __inputs declares DS_PROMETHEUS, a prometheus datasource" \
	jqtrue '[.__inputs[]? | select(.name == "DS_PROMETHEUS" and .type == "datasource"
		and .pluginId == "prometheus")] | length == 1'
# every datasource reference (panels, targets, variables) is the input, none hard-coded
bad_ds=$(jq -r '[.. | objects | select(has("datasource")) | .datasource
	| select(type != "object" or .uid != "${DS_PROMETHEUS}")
	| select(type == "object" and .uid == "-- Grafana --" | not)] | length' "$D")
check "every datasource reference is \${DS_PROMETHEUS} ($bad_ds others)" test "$bad_ds" = 0
dups=$(jq -r '[.. | objects | select(has("gridPos")) | .id] | group_by(.) | map(select(length > 1))
	| length' "$D")
check "panel ids are unique ($dups repeated)" test "$dups" = 0
empty=$(jq -r '[.. | objects | select(has("gridPos") and .type != "row")
	| select(([.targets[]? | .expr // "" | select(length > 0)] | length) == 0) | .title]
	| join(", ")' "$D")
check "every panel has a query${empty:+ (not: $empty)}" test -z "$empty"

# what the dashboard asks Prometheus: panel exprs and variable queries
jq -r '.. | objects | select(has("gridPos")) | .targets[]? | .expr // empty' "$D" >"$TMP/exprs"
jq -r '.templating.list[]? | select(.type == "query") | (.definition // .query.query // .query)
	| select(type == "string" and length > 0)' "$D" >"$TMP/varqueries"
check "$(wc -l <"$TMP/exprs") panel queries found" test -s "$TMP/exprs"

# ---------------------------------------------------------------- the scrape

if [[ -n $WARM ]]; then
	curl -fsS -o /dev/null --max-time 10 "$WARM" || true
	# the workers add their counts to the shared store about once a second
	for _ in $(seq 1 50); do
		curl -fsS --max-time 10 "$URL" 2>/dev/null | grep -q '^pixelcraft_http_requests_total{' &&
			break
		sleep 0.1
	done
fi
if ! curl -fsS --max-time 10 "$URL" >"$TMP/scrape" 2>"$TMP/curl.err"; then
	fail "GET $URL: $(cat "$TMP/curl.err")"
	echo "grafana: $CHECKS checks, $FAILED failed"
	exit 1
fi
check "GET $URL is a Prometheus exposition ($(grep -c '^# TYPE ' "$TMP/scrape") families)" \
	grep -q '^# TYPE pixelcraft_' "$TMP/scrape"
# series names, families with their type, label names
grep -v '^#' "$TMP/scrape" | sed -E 's/[{ ].*//' | grep . | sort -u >"$TMP/series" || true
awk '$1 == "#" && $2 == "TYPE" { print $3, $4 }' "$TMP/scrape" | sort -u >"$TMP/families"
grep -v '^#' "$TMP/scrape" | grep -oE '\{[^}]*\}' | grep -oE '[A-Za-z_][A-Za-z0-9_]*="' |
	tr -d '="' | sort -u >"$TMP/labels" || true

# A metric name Prometheus will have: a series seen in the scrape, a counter or
# gauge family (maybe without series yet), or a histogram's _bucket/_sum/_count
# (a summary's _sum/_count or the bare name); never a histogram's bare name.
exposed() {
	local name=$1 base suffix type
	grep -qxF "$name" "$TMP/series" && return 0
	type=$(awk -v n="$name" '$1 == n { print $2 }' "$TMP/families")
	[[ -n $type && $type != histogram ]] && return 0
	for suffix in _bucket _sum _count; do
		[[ $name == *"$suffix" ]] || continue
		base=${name%"$suffix"}
		type=$(awk -v n="$base" '$1 == n { print $2 }' "$TMP/families")
		[[ $type == histogram ]] && return 0
		[[ $type == summary && $suffix != _bucket ]] && return 0
	done
	return 1
}

# Metric names in PromQL: without string literals, label matchers, ranges,
# grouping clauses and dashboard variables, the identifiers that are not
# functions (followed by "("), keywords or parts of numbers and durations.
metric_names() {
	sed -E -e 's/"([^"\\]|\\.)*"//g' -e "s/'([^'\\\\]|\\\\.)*'//g" -e 's/\{[^}]*\}//g' \
		-e 's/\[[^]]*\]//g' \
		-e 's/(by|without|on|ignoring|group_left|group_right)[[:space:]]*\([^)]*\)//g' \
		-e 's/\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*//g' -e 's/\(/ ( /g' \
		-e 's/[^A-Za-z0-9_:.(]+/ /g' |
		tr -s ' ' '\n' |
		awk '{ tok[NR] = $0 } END {
			for (i = 1; i <= NR; i++)
				if (tok[i] ~ /^[A-Za-z_:][A-Za-z0-9_:]*$/ && tok[i + 1] != "(")
					print tok[i]
		}' |
		grep -vxE 'and|or|unless|bool|offset|by|without|on|ignoring|group_left|group_right|inf|nan|Inf|NaN' ||
		true
}

# Label names in PromQL: selector keys and grouping lists.
label_names() {
	sed -E 's/"([^"\\]|\\.)*"/""/g' >"$TMP/l.in"
	grep -oE '\{[^}]*\}' "$TMP/l.in" | grep -oE '[A-Za-z_][A-Za-z0-9_]*[[:space:]]*(=~|!~|!=|=)' |
		grep -oE '^[A-Za-z_][A-Za-z0-9_]*' || true
	grep -oE '(by|without|on|ignoring|group_left|group_right)[[:space:]]*\([^)]*\)' "$TMP/l.in" |
		sed -E 's/^[a-z_]+[[:space:]]*\(//; s/\)$//' | tr ',' '\n' | tr -d ' \t' | grep . || true
}

: >"$TMP/used" && : >"$TMP/used-labels"
while IFS= read -r expr; do
	printf '%s\n' "$expr" | metric_names >>"$TMP/used"
	printf '%s\n' "$expr" | label_names >>"$TMP/used-labels"
done <"$TMP/exprs"
# variable queries: label_values(METRIC_SELECTOR, LABEL), metrics(...), query_result(EXPR)
while IFS= read -r q; do
	if [[ $q =~ ^label_values\((.*),[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\)$ ]]; then
		printf '%s\n' "${BASH_REMATCH[1]}" | metric_names >>"$TMP/used"
		printf '%s\n' "${BASH_REMATCH[1]}" | label_names >>"$TMP/used-labels"
		echo "${BASH_REMATCH[2]}" >>"$TMP/used-labels"
	elif [[ $q =~ ^query_result\((.*)\)$ ]]; then
		printf '%s\n' "${BASH_REMATCH[1]}" | metric_names >>"$TMP/used"
		printf '%s\n' "${BASH_REMATCH[1]}" | label_names >>"$TMP/used-labels"
	elif [[ $q =~ ^label_values\(([A-Za-z_][A-Za-z0-9_]*)\)$ ]]; then
		echo "${BASH_REMATCH[1]}" >>"$TMP/used-labels"
	fi
done <"$TMP/varqueries"
sort -u -o "$TMP/used" "$TMP/used"
sort -u -o "$TMP/used-labels" "$TMP/used-labels"

check "the queries use $(wc -l <"$TMP/used") metric names" test -s "$TMP/used"
while IFS= read -r name; do
	n=$(grep -cwF "$name" "$TMP/exprs" "$TMP/varqueries" | awk -F: '{ s += $2 } END { print s }')
	if exposed "$name"; then
		ok "metric $name is exposed ($n queries)"
	else
		fail "metric $name is used in $n queries but $URL does not expose it"
	fi
done <"$TMP/used"
while IFS= read -r label; do
	if grep -qxF "$label" "$TMP/labels"; then
		ok "label $label appears in the scrape"
	else
		fail "label $label is used but no series in the scrape has it"
	fi
done <"$TMP/used-labels"

# for information: families the dashboard does not show
unused=""
while read -r family type; do
	[[ $family == pixelcraft_* ]] || continue
	grep -qE "^${family}(_bucket|_sum|_count)?\$" "$TMP/used" || unused+=" $family"
done <"$TMP/families"
echo "# families exposed but not on the dashboard:${unused:- none}"

echo "grafana: $CHECKS checks, $FAILED failed"
((FAILED == 0))
