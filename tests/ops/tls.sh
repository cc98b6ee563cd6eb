#!/usr/bin/env bash
# tls.sh: tests fcgi-conf/nginx-tls.conf against a running private stack
# (scripts/stack.sh up DIR): a throwaway CA and server certificate, the site
# file rendered for the stack (sockets in STACK_DIR/run/, free ports on
# 127.0.0.1, server_name localhost), a separate nginx instance with its own
# main configuration, pid file, logs and temp paths, then one line per check:
#
#   nginx -t passes; the TLS server block is the same as fcgi-conf/nginx.conf
#   from "Equal to MAX_BODY_BYTES" on (apart from HSTS on the error pages);
#   https /health/live is 200 with JSON through the worker pool; TLS 1.0 and
#   1.1 are refused by the server (a control server proves this client can
#   speak them); TLS 1.2 and 1.3 work; TLS 1.2 CBC (non-AEAD) suites are
#   refused; HTTP/2 is negotiated; sessions are resumed; HSTS is on answers
#   from the workers and on nginx's own JSON error pages; plain http on the
#   redirect port answers 301 to https, except ACME challenges.
#
#   tests/ops/tls.sh STACK_DIR
#
# The nginx instance is stopped and the temporary directory removed at the
# end, also on failure (KEEP_TMP=1 keeps the directory). Exit status 0 only if
# every check passed. Needs openssl, curl and nginx.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[[ $# -eq 1 ]] || { echo "usage: $0 STACK_DIR" >&2; exit 2; }
DIR=$(cd "$1" && pwd) || exit 2
[[ -f $DIR/stack.env ]] || { echo "tls: $DIR/stack.env missing: not a stack directory" >&2; exit 2; }
# shellcheck disable=SC1091
. "$DIR/stack.env"
SITE=$ROOT/fcgi-conf/nginx-tls.conf

FAILED=0 CHECKS=0
ok() { CHECKS=$((CHECKS + 1)); printf 'ok   %2d - %s\n' "$CHECKS" "$*"; }
fail() { CHECKS=$((CHECKS + 1)) FAILED=$((FAILED + 1)); printf 'FAIL %2d - %s\n' "$CHECKS" "$*"; }
check() {
	local what=$1; shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}
abort() { echo "tls: ABORT: $*" >&2; exit 1; }

for tool in openssl curl nginx ss; do
	command -v "$tool" >/dev/null || abort "$tool not found"
done
[[ -S $DIR/run/api.sock ]] || abort "$DIR/run/api.sock missing: is the stack's worker pool running?"

# a port nobody uses (below the ephemeral range, as scripts/stack.sh does)
USED=" ${PORT:-} "
free_port() {
	local p lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
	for _ in $(seq 1 200); do
		p=$((10000 + RANDOM % (lo - 10000)))
		[[ $USED == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
			[[ -z $(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null) ]]; then
			USED+="$p "
			echo "$p"
			return 0
		fi
	done
	abort "no free port found"
}

TMP=$(mktemp -d /tmp/pixelcraft-tls.XXXXXX)
CONTROL_PID=""
cleanup() {
	local rc=$? pid
	if [[ -f $TMP/nginx.pid ]]; then
		pid=$(cat "$TMP/nginx.pid")
		kill -QUIT "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	[[ -n $CONTROL_PID ]] && kill "$CONTROL_PID" 2>/dev/null && wait "$CONTROL_PID" 2>/dev/null
	if [[ -n ${KEEP_TMP:-} ]]; then echo "tls: kept $TMP"; else rm -rf "$TMP"; fi
	exit "$rc"
}
trap cleanup EXIT
chmod 755 "$TMP"
mkdir -p "$TMP/cert" "$TMP/acme/.well-known/acme-challenge" "$TMP/nginx/tmp" "$TMP/log"
HTTPS_PORT=$(free_port)
HTTP_PORT=$(free_port)
CONTROL_PORT=$(free_port)

# --------------------------------------------------- CA and certificates
(
	cd "$TMP/cert"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout ca.key -out ca.pem -days 2 -subj "/CN=PixelCraft throwaway test CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout privkey.pem -out server.csr -subj "/CN=localhost"
	printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" >server.ext
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
		-extfile server.ext -out cert.pem
	cat cert.pem >fullchain.pem # no intermediate: the CA signs directly
	cp ca.pem chain.pem
	chmod 600 ca.key privkey.pem
) >"$TMP/log/openssl.log" 2>&1 || abort "certificate generation failed: $(tail -n 3 "$TMP/log/openssl.log")"
echo "test-acme-token-$$" >"$TMP/acme/.well-known/acme-challenge/test-token"
chmod -R a+rX "$TMP/acme"

# ------------------------------------------------------------- render
body_k=$((${MAX_BODY_BYTES:-65536} / 1024))
INTERNAL=$(free_port)
render() {
	sed -e "s#/run/pixelcraft/#$DIR/run/#g" \
		-e "s#/etc/nginx/pixelcraft-#$TMP/nginx/pixelcraft-#g" \
		-e "s#127.0.0.1:8081#127.0.0.1:$INTERNAL#g" \
		-e '/listen \[::\]:/d' \
		-e "s#listen 80;#listen 127.0.0.1:$HTTP_PORT;#" \
		-e "s#listen 443 ssl http2;#listen 127.0.0.1:$HTTPS_PORT ssl http2;#" \
		-e "s#/etc/letsencrypt/live/api.example.com/#$TMP/cert/#g" \
		-e "s#server_name api.example.com;#server_name localhost;#" \
		-e "s#root /var/www/letsencrypt;#root $TMP/acme;#" \
		-e "s#client_max_body_size 64k;#client_max_body_size ${body_k}k;#" \
		-e "s#client_body_buffer_size 64k;#client_body_buffer_size ${body_k}k;#" \
		"$1"
}
render "$SITE" >"$TMP/nginx/site.conf"
for f in "$ROOT"/fcgi-conf/pixelcraft-*.conf; do
	render "$f" >"$TMP/nginx/$(basename "$f")"
done
# the rendering must have caught every production path and port
leftover=$(grep -nE '/run/pixelcraft/|/etc/letsencrypt|/etc/nginx/|/var/www|listen (80|443)[ ;]|api\.example\.com|:8081' \
	"$TMP"/nginx/*.conf | grep -vE '^[^:]*:[0-9]+:[[:space:]]*#' || true)
[[ -z $leftover ]] || abort "rendering left production values in the site file: $leftover"

user=""
[[ $(id -u) -eq 0 ]] && user="user www-data;" # workers must reach the 0660 www-data sockets
modules=""
for m in /usr/lib/nginx/modules/ngx_nchan_module.so; do
	[[ -f $m ]] && modules+="load_module $m;"
done
cat >"$TMP/nginx/nginx.conf" <<EOF
$modules
$user
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/log/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log $TMP/log/access.log;
    default_type application/octet-stream;
    client_body_temp_path $TMP/nginx/tmp/body;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    include $TMP/nginx/site.conf;
}
EOF

echo "# TLS site file $SITE against $DIR: https on 127.0.0.1:$HTTPS_PORT, http on 127.0.0.1:$HTTP_PORT"

# ------------------------------------------------------------- checks
if nginx -t -c "$TMP/nginx/nginx.conf" -e "$TMP/log/nginx-error.log" >"$TMP/log/nginx-t.log" 2>&1; then
	ok "nginx -t passes"
	grep -F '[warn]' "$TMP/log/nginx-t.log" | sed 's/^/#   (expected with a private CA) /' || true
else
	sed 's/^/    /' "$TMP/log/nginx-t.log"
	fail "nginx -t passes"
	abort "nginx -t failed"
fi

# the TLS server serves the API exactly like fcgi-conf/nginx.conf: both
# include the same shared server body
for f in "$ROOT/fcgi-conf/nginx.conf" "$SITE"; do
	check "$(basename "$f") includes the shared pixelcraft-app.conf and pixelcraft-common.conf" \
		bash -c "grep -q '^ *include /etc/nginx/pixelcraft-app.conf;' '$f' &&
			grep -q '^include /etc/nginx/pixelcraft-common.conf;' '$f'"
done

nginx -c "$TMP/nginx/nginx.conf" -e "$TMP/log/nginx-error.log" 2>"$TMP/log/nginx-start.log" ||
	abort "nginx did not start: $(cat "$TMP/log/nginx-start.log")"
for _ in $(seq 1 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$HTTPS_PORT") 2>/dev/null && break
	sleep 0.1
done

URL=https://localhost:$HTTPS_PORT
CURL=(curl -sS -m 10 --cacert "$TMP/cert/ca.pem" --resolve "localhost:$HTTPS_PORT:127.0.0.1"
	--resolve "localhost:$HTTP_PORT:127.0.0.1")

# 200 and JSON through the worker pool, certificate verified against our CA
out=$("${CURL[@]}" -o "$TMP/live.body" -D "$TMP/live.head" -w '%{http_code} %{content_type} %{ssl_verify_result}' \
	"$URL/health/live" 2>&1) || true
check "GET $URL/health/live: 200, JSON, certificate verified (got: $out; body $(head -c 60 "$TMP/live.body" 2>/dev/null))" \
	bash -c "[[ '$out' == '200 application/json 0' ]] && grep -q '\"status\":\"alive\"' '$TMP/live.body'"
check "answer comes from the worker (X-Request-ID and its security headers)" \
	bash -c "grep -qi '^x-request-id:' '$TMP/live.head' && grep -qi '^x-content-type-options: nosniff' '$TMP/live.head'"

# The client must be able to speak old protocols for a refusal to mean
# anything (OpenSSL 3 disables them at its default security level): prove it
# against a control server that accepts TLS 1.1 only.
OLD_CIPHERS='DEFAULT:@SECLEVEL=0'
openssl s_server -accept "127.0.0.1:$CONTROL_PORT" -cert "$TMP/cert/cert.pem" -key "$TMP/cert/privkey.pem" \
	-tls1_1 -cipher "$OLD_CIPHERS" -www -quiet >"$TMP/log/control.log" 2>&1 &
CONTROL_PID=$!
for _ in $(seq 1 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$CONTROL_PORT") 2>/dev/null && break
	sleep 0.1
done
code=$("${CURL[@]}" --resolve "localhost:$CONTROL_PORT:127.0.0.1" --tlsv1.1 --tls-max 1.1 --ciphers "$OLD_CIPHERS" \
	-o /dev/null -w '%{http_code}' "https://localhost:$CONTROL_PORT/" 2>"$TMP/log/control-curl.log") || true
check "control: this curl speaks TLS 1.1 to a server that allows it (HTTP $code)" test "$code" = 200
kill "$CONTROL_PID" 2>/dev/null || true
wait "$CONTROL_PID" 2>/dev/null || true
CONTROL_PID=""

for v in 1.0 1.1; do
	rc=0
	"${CURL[@]}" --tlsv"$v" --tls-max "$v" --ciphers "$OLD_CIPHERS" -o /dev/null "$URL/health/live" \
		2>"$TMP/log/tls$v.log" || rc=$?
	check "TLS $v refused by the server (curl exit $rc: $(tail -n 1 "$TMP/log/tls$v.log" | cut -c1-80))" \
		bash -c "[[ $rc -ne 0 ]] && grep -qiE 'protocol version|unsupported protocol|wrong version' '$TMP/log/tls$v.log'"
done

for v in 1.2 1.3; do
	code=$("${CURL[@]}" -v --tlsv"$v" --tls-max "$v" -o /dev/null -w '%{http_code}' "$URL/health/live" \
		2>"$TMP/log/tls$v.log") || true
	used=$(sed -n 's/.*SSL connection using \(TLSv[0-9.]*\) \/ \([A-Z0-9_-]*\).*/\1 \2/p' "$TMP/log/tls$v.log")
	check "TLS $v works: HTTP $code over $used" bash -c "[[ $code == 200 && '$used' == 'TLSv$v '* ]]"
done

rc=0
weak=ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384
"${CURL[@]}" --tls-max 1.2 --ciphers "$weak" -o /dev/null "$URL/health/live" 2>"$TMP/log/weak.log" || rc=$?
check "TLS 1.2 CBC (non-AEAD) suites refused: $weak (curl exit $rc)" \
	bash -c "[[ $rc -ne 0 ]] && grep -qiE 'handshake failure|no shared cipher' '$TMP/log/weak.log'"

ver=$("${CURL[@]}" --http2 -o /dev/null -w '%{http_version}' "$URL/health/live" 2>&1) || true
check "HTTP/2 negotiated by ALPN (http_version $ver)" test "$ver" = 2

resumed=$(openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -servername localhost -CAfile "$TMP/cert/ca.pem" \
	-tls1_2 -reconnect </dev/null 2>/dev/null | grep -c '^Reused, TLSv1.2' || true)
check "TLS 1.2 sessions resumed from the session cache ($resumed of 5 reconnects)" test "$resumed" -ge 4

hsts='strict-transport-security: max-age=31536000; includeSubDomains'
check "HSTS on a worker answer (200): $hsts" grep -qiF "$hsts" "$TMP/live.head"
"${CURL[@]}" -o /dev/null -D "$TMP/404.head" "$URL/no/such/route" 2>/dev/null || true
check "HSTS on a worker error answer ($(head -n 1 "$TMP/404.head" | tr -d '\r'))" grep -qiF "$hsts" "$TMP/404.head"
head -c $((${MAX_BODY_BYTES:-65536} + 1024)) /dev/zero | tr '\0' 'a' >"$TMP/big.body"
"${CURL[@]}" -o "$TMP/413.body" -D "$TMP/413.head" -H 'Content-Type: application/json' \
	--data-binary @"$TMP/big.body" "$URL/api/anything" 2>/dev/null || true
check "HSTS on nginx's own JSON error page ($(head -n 1 "$TMP/413.head" | tr -d '\r'), $(head -c 40 "$TMP/413.body"))" \
	bash -c "grep -q ' 413' '$TMP/413.head' && grep -qiF '$hsts' '$TMP/413.head' && grep -q '\"detail\"' '$TMP/413.body'"

"${CURL[@]}" -o /dev/null -D "$TMP/redirect.head" "http://localhost:$HTTP_PORT/health/live?x=1" 2>/dev/null || true
location=$(sed -n 's/^[Ll]ocation: *//p' "$TMP/redirect.head" | tr -d '\r')
check "http://localhost:$HTTP_PORT/health/live?x=1 answers 301 to $location" \
	bash -c "head -n 1 '$TMP/redirect.head' | grep -q ' 301' && [[ '$location' == 'https://localhost/health/live?x=1' ]]"
check "no HSTS on plain http (browsers ignore it there)" bash -c "! grep -qi '^strict-transport-security' '$TMP/redirect.head'"
acme=$("${CURL[@]}" -w ' %{http_code}' "http://localhost:$HTTP_PORT/.well-known/acme-challenge/test-token" 2>&1 |
	tr -d '\n') || true
check "ACME http-01 challenges are served on plain http, not redirected ($acme)" \
	test "$acme" = "test-acme-token-$$ 200"

errors=$(grep -E '\[(error|crit|alert|emerg)\]' "$TMP/log/nginx-error.log" |
	grep -vE 'SSL_do_handshake\(\) failed|unsupported protocol|no shared cipher|version too low|client intended to send too large body' ||
	true)
check "no unexpected errors in the nginx error log${errors:+: $errors}" test -z "$errors"

echo "tls: $CHECKS checks, $FAILED failed"
((FAILED == 0))
