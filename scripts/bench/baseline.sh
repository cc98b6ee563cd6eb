# baseline.sh (sourced by bench.sh and load-test.sh, with a stack's stack.env
# loaded and DIR set): starts the baselines next to the stack and sets
# BENCH_URL, where nginx answers
#   /static  a static `return 200` (S: the web server's ceiling)
#   /hello   scripts/bench/hello.c, a minimal C FastCGI responder started
#            exactly like our pool (spawn-fcgi + multiwatch, $WORKERS workers,
#            same environment) (H: the ceiling of this architecture)
# baseline_stop stops the H pool.
baseline_start() {
	local owner=()
	[[ $(id -u) -eq 0 ]] && owner=(-u pixelcraft -g pixelcraft -U pixelcraft -G www-data)
	env -i PATH="$PATH" WORKERS="$WORKERS" LIBFCGI_OS_CLOSE_POLL_TIMEOUT=0 setsid spawn-fcgi -n -s "$DIR/run/hello.sock" \
		-M 0660 "${owner[@]}" -- /usr/bin/multiwatch -f "$WORKERS" -r 100 -t 1000 -- \
		"$ROOT/build/bench-hello" >/dev/null 2>&1 &
	echo $! >"$DIR/run/hello-pool.pid"
	disown
	for _ in $(seq 50); do [[ -S $DIR/run/hello.sock ]] && break; sleep 0.1; done
	cat >"$DIR/nginx/conf.d/bench.conf" <<-CONF
		server {
		    listen 127.0.0.1:$((PORT + 1));
		    location = /static { default_type application/json; return 200 '{"status":"alive"}'; }
		    location / { include $DIR/nginx/pixelcraft-fastcgi.conf; fastcgi_pass unix:$DIR/run/hello.sock; }
		}
	CONF
	nginx -c "$DIR/nginx/nginx.conf" -s reload
	sleep 0.5
	BENCH_URL=http://127.0.0.1:$((PORT + 1))
}

baseline_stop() {
	kill -9 "$(cat "$DIR/run/hello-pool.pid" 2>/dev/null)" 2>/dev/null || true
	pkill -9 -f -- "$ROOT/build/bench-hello" 2>/dev/null || true
}
