#!/usr/bin/env bash
# smoke-test.sh [BASE_URL]: checks a running PixelCraft API end to end, by
# status code and JSON shape, one line per check, then "N passed, N failed".
# Exit status 0 only when every check passed.
#
#   BASE_URL       default http://127.0.0.1:8080 (make run)
#   SMOKE_TOKEN    an access token: adds the /api/me check and chats as that user
#   SMOKE_TIMEOUT  seconds per request (default 30: a chat waits for the model)
#
# The chat check writes one short conversation, deleted again at the end.
set -uo pipefail
BASE=${1:-${BASE_URL:-http://127.0.0.1:8080}}
BASE=${BASE%/}
TOKEN=${SMOKE_TOKEN:-}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
command -v jq >/dev/null || { echo "smoke-test: jq is needed (scripts/install-deps.sh)" >&2; exit 2; }

passed=0 failed=0 code=000

# call METHOD PATH [JSON]: the response lands in $TMP/body and $TMP/head, the status in $code
call() {
	local args=(-sS -m "${SMOKE_TIMEOUT:-30}" -o "$TMP/body" -D "$TMP/head" -w '%{http_code}'
		-X "$1" -H 'Accept: application/json')
	[[ -n ${3:-} ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	[[ -n $TOKEN ]] && args+=(-H "Authorization: Bearer $TOKEN")
	: >"$TMP/body"
	: >"$TMP/head"
	code=$(curl "${args[@]}" "$BASE$2" 2>"$TMP/err") || code=000
}

# expect NAME STATUS JQ_FILTER [jq args...]: one check of the last call
# (filter "" for a response without a body)
expect() {
	local name=$1 want=$2 filter=$3 why=""
	shift 3
	if [[ $code == 000 ]]; then
		why="no answer: $(head -c 200 "$TMP/err")"
	elif [[ $code != "$want" ]]; then
		why="status $code, expected $want: $(head -c 200 "$TMP/body")"
	elif [[ -n $filter ]] && ! jq -e "$@" "$filter" "$TMP/body" >/dev/null 2>&1; then
		why="unexpected body: $(head -c 200 "$TMP/body")"
	fi
	if [[ -z $why ]]; then
		passed=$((passed + 1))
		echo "ok    $name"
	else
		failed=$((failed + 1))
		echo "FAIL  $name: $why"
	fi
}

# header_present NAME HEADER: a check on the last call's headers
header_present() {
	if grep -qi "^$2:" "$TMP/head"; then
		passed=$((passed + 1))
		echo "ok    $1"
	else
		failed=$((failed + 1))
		echo "FAIL  $1: no $2 header"
	fi
}

echo "smoke test of $BASE"

call GET /health
expect "GET /health is healthy" 200 \
	'.status == "healthy" and .services.postgres.status == "up" and .services.redis.status == "up"'

call GET /health/ready
expect "GET /health/ready" 200 '.status == "ready"'

call GET /api/models
expect "GET /api/models lists models" 200 \
	'(.models | length > 0) and all(.models[]; (.name | type == "string") and (.healthy | type == "boolean"))'
header_present "rate-limit headers on /api/models" X-RateLimit-Limit
model=$(jq -r '[.models[] | select(.healthy)][0].name // .models[0].name // "none"' "$TMP/body" 2>/dev/null)

call GET "/api/models/$model"
expect "GET /api/models/{name} ($model)" 200 '.name == $m and (.capabilities | type == "object")' \
	--arg m "$model"

call GET /api/models/metrics
expect "GET /api/models/metrics" 200 \
	'(.metrics | type == "array") and all(.metrics[]; has("model_name") and has("success_rate"))'

call POST /api/chat/message '{"message":"Smoke test: please answer with one word.","metadata":{"source":"smoke-test"}}'
expect "POST /api/chat/message replies" 200 \
	'(.response | type == "string" and length > 0) and (.conversation_id | test("^[0-9a-f-]{36}$"))'
conversation=$(jq -r '.conversation_id // empty' "$TMP/body" 2>/dev/null)

if [[ -n $conversation ]]; then
	call GET "/api/chat/history/$conversation"
	expect "GET /api/chat/history/{id} has both messages" 200 \
		'length >= 2 and .[0].role == "user" and .[1].role == "assistant"'
	call DELETE "/api/chat/history/$conversation"
	expect "DELETE /api/chat/history/{id} (clean-up)" 204 ""
fi

if [[ -n $TOKEN ]]; then
	call GET /api/me
	expect "GET /api/me with SMOKE_TOKEN" 200 '(.user_id | type == "string") and (.role | type == "string")'
fi

call GET /openapi.json
expect "GET /openapi.json" 200 '(.openapi | startswith("3.")) and (.paths | length > 0)'

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
