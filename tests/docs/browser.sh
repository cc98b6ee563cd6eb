#!/usr/bin/env bash
# browser.sh BASE_URL: loads BASE_URL/docs (Swagger UI) and BASE_URL/redoc
# (ReDoc) in headless Chromium and checks that every operation of
# BASE_URL/openapi.json is rendered, and that every request the pages made
# went to BASE_URL's host. Host names other than 127.0.0.1 do not resolve in
# this browser, so nothing can leave the machine in any case; Chromium's own
# background calls (updates, accounts) are listed, not counted against the
# pages. One line per check; exit status 1 on any failure.
set -uo pipefail
BASE=${1:?usage: browser.sh BASE_URL}
BASE=${BASE%/}
host=$(sed -E 's#^[a-z]+://([^/]+).*#\1#' <<<"$BASE")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

expected=$(curl -sf "$BASE/openapi.json" |
	jq '[.paths[] | to_entries[] | select(.key | IN("get","put","post","delete","patch"))] | length') ||
	{ echo "FAIL  $BASE/openapi.json: not served"; exit 1; }

render() { # NAME PATH: the DOM after scripts ran, and the network log
	timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$tmp/profile-$1" \
		--host-resolver-rules="MAP * ~NOTFOUND , EXCLUDE 127.0.0.1" \
		--virtual-time-budget=20000 --log-net-log="$tmp/$1.netlog" \
		--dump-dom "$BASE$2" >"$tmp/$1.html" 2>"$tmp/$1.err"
}

check() { # NAME COUNT
	local name=$1 count=$2
	if [[ $count -eq $expected ]]; then
		echo "ok    $name: $count of $expected operations rendered"
	else
		echo "FAIL  $name: $count of $expected operations rendered"
		failed=1
	fi
	# requests the page made (they name it as initiator) and the browser's own
	jq -r '.events[].params | select(.url? and .initiator?) | "\(.initiator) \(.url)"' \
		"$tmp/$name.netlog" 2>/dev/null | sort -u >"$tmp/$name.requests"
	local page others
	page=$(grep -v '^not an origin ' "$tmp/$name.requests" | awk '{print $2}' || true)
	others=$(grep -v "^[a-z]*://$host/\|^$" <<<"$page" || true)
	if [[ -z $page ]]; then
		echo "FAIL  $name: no network log"
		failed=1
	elif [[ -n $others ]]; then
		echo "FAIL  $name: the page requested outside $host: $others"
		failed=1
	else
		echo "ok    $name: all $(wc -l <<<"$page") page requests went to $host"
	fi
	local bg
	bg=$(grep -c '^not an origin [a-z]*://[^/]*google' "$tmp/$name.requests" || true)
	[[ $bg -gt 0 ]] && echo "      ($bg Chromium background requests, unresolvable here)"
}

render swagger /docs
check swagger "$(grep -o 'class="opblock-summary-path"' "$tmp/swagger.html" | wc -l)"
render redoc /redoc
check redoc "$(grep -o 'data-section-id="operation/' "$tmp/redoc.html" | wc -l)"
exit $failed
