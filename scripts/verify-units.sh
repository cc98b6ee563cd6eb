#!/usr/bin/env bash
# Runs systemd-analyze verify on the shipped units; any message (an unknown
# key is only a warning to systemd) counts as a failure. The units name
# production paths (/usr/local/bin/pixelcraft-api); a temporary copy points
# them at the build so the check works on a development machine.
set -euo pipefail
shopt -s nullglob
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${PIXELCRAFT_BIN:-$ROOT/build/pixelcraft-api}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
units=()
for unit in "$ROOT"/fcgi-conf/*.service "$ROOT"/ops/*.service "$ROOT"/ops/*.timer; do
	sed -e "s#/usr/local/bin/pixelcraft-api#$BIN#g" \
	    -e "s#/usr/local/lib/pixelcraft/#$ROOT/ops/#g" "$unit" >"$tmp/$(basename "$unit")"
	units+=("./$(basename "$unit")")
done
cd "$tmp"
rc=0
out=$(systemd-analyze verify --man=no "${units[@]}" 2>&1) || rc=$?
[[ -z $out ]] || echo "$out"
echo "verify-units: ${#units[@]} units, exit $rc"
[[ $rc -eq 0 && -z $out ]]
