#!/usr/bin/env bash
# docs.sh: the parts of the documentation generated from the code.
#   scripts/docs.sh          rewrite them (make docs)
#   scripts/docs.sh --check  fail when they differ from what the code says
# Covered: the configuration table in README.md and ops/pixelcraft.env.example,
# both from the variable table in src/config.c.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${PIXELCRAFT_BIN:-$ROOT/build/pixelcraft-api}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$BIN" --config-env >"$tmp/env.example"
"$BIN" --config-doc >"$tmp/table.md"
awk -v table="$tmp/table.md" '
	/<!-- config-table:begin/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
	/<!-- config-table:end/ { skip = 0 }
	!skip { print }
' "$ROOT/README.md" >"$tmp/README.md"

if [[ ${1:-} == --check ]]; then
	rc=0
	diff -u "$ROOT/ops/pixelcraft.env.example" "$tmp/env.example" ||
		{ echo "docs: ops/pixelcraft.env.example is out of date (make docs)"; rc=1; }
	diff -u "$ROOT/README.md" "$tmp/README.md" ||
		{ echo "docs: README.md configuration table is out of date (make docs)"; rc=1; }
	exit $rc
fi
cp "$tmp/env.example" "$ROOT/ops/pixelcraft.env.example"
cp "$tmp/README.md" "$ROOT/README.md"
echo "docs: README.md and ops/pixelcraft.env.example regenerated"
