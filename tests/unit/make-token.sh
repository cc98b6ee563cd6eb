#!/usr/bin/env bash
# make-token.sh: builds a JWT with the openssl command line, independently of
# libjwt, for the unit tests of token verification.
#   make-token.sh SECRET HEADER_JSON PAYLOAD_JSON [hs256|hs384|hs512|none|garbage]
set -euo pipefail
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
h=$(printf '%s' "$2" | b64url)
p=$(printf '%s' "$3" | b64url)
case ${4:-hs256} in
hs256|hs384|hs512)
	sig=$(printf '%s.%s' "$h" "$p" | openssl dgst "-sha${4#hs}" -hmac "$1" -binary | b64url) ;;
none) sig="" ;;
garbage) sig=$(openssl rand 256 | b64url) ;;
*) echo "unknown signature mode $4" >&2; exit 2 ;;
esac
printf '%s.%s.%s' "$h" "$p" "$sig"
