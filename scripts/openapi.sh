#!/usr/bin/env bash
# openapi.sh: the API documentation and the checks that keep it true.
#
#   scripts/openapi.sh site [DIR]          build the static docs (default build/docs-site):
#                                          openapi.json, docs/ (Swagger UI), redoc/ (ReDoc)
#   scripts/openapi.sh routes [DOC]        router table vs document: methods, paths, auth,
#                                          the 401/403/429 each route implies
#   scripts/openapi.sh lint [DOC]          @redocly/cli lint (errors fail; warnings shown)
#   scripts/openapi.sh validate LOG...     responses logged by the integration tests
#                                          (RESPONSE_LOG=FILE) against the schemas
#
# DOC defaults to ops/openapi.json (OPENAPI_DOC). The npm packages (pinned in
# ops/docs/package-lock.json) are installed into build/npm by `make npm`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NPM=$ROOT/build/npm/node_modules
DOC=${OPENAPI_DOC:-$ROOT/ops/openapi.json}
# the linter would otherwise report usage and look for updates on the Internet
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
export NODE_PATH=$NPM

need_npm() {
	[[ -d $NPM ]] || make -s -C "$ROOT" npm >&2
}

case ${1:-} in
site)
	need_npm
	out=${2:-$ROOT/build/docs-site}
	rm -rf "$out.tmp"
	mkdir -p "$out.tmp/docs" "$out.tmp/redoc"
	jq -e '.openapi' "$DOC" >/dev/null
	cp "$DOC" "$out.tmp/openapi.json"
	cp "$ROOT/ops/docs/swagger.html" "$out.tmp/docs/index.html"
	cp "$ROOT/ops/docs/swagger-init.js" "$out.tmp/docs/init.js"
	cp "$NPM"/swagger-ui-dist/{swagger-ui.css,swagger-ui-bundle.js,favicon-32x32.png} "$out.tmp/docs/"
	cp "$ROOT/ops/docs/redoc.html" "$out.tmp/redoc/index.html"
	cp "$NPM/redoc/bundles/redoc.standalone.js" "$out.tmp/redoc/"
	rm -rf "$out"
	mv "$out.tmp" "$out"
	;;
routes)
	need_npm
	routes=$(mktemp)
	trap 'rm -f "$routes"' EXIT
	"$ROOT/build/pixelcraft-api" --routes >"$routes"
	node "$ROOT/tests/docs/check-routes.js" "$routes" "${2:-$DOC}"
	;;
lint)
	need_npm
	"$NPM/.bin/redocly" lint --format=stylish "${2:-$DOC}"
	;;
validate)
	need_npm
	shift
	[[ $# -gt 0 ]] || { echo "usage: openapi.sh validate LOG..." >&2; exit 2; }
	node "$ROOT/tests/docs/validate-responses.js" "$DOC" "$@"
	;;
*)
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
