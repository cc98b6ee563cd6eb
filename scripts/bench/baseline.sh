# baseline.sh (sourced by bench.sh and load-test.sh, with a stack's stack.env
# loaded and DIR set): starts the baselines next to the stack and sets
# BENCH_URL, where nginx answers
#   /static  a static `return 200` (S: the web server's ceiling)
#   /hello   scripts/bench/hello.c, a minimal C FastCGI responder started
#            exactly like our pool (spawn-fcgi + multiwatch, $WORKERS workers,
#            same environment) (H: the ceiling of this architecture)
#   /floor   scripts/bench/floor.c, one call of each of our libraries per
#            request and nothing else, started the same way (one worker,
#            the stack's Postgres and Redis): the memory floor of a worker
#   /api/chat/message  scripts/bench/chat-floor.c, the least a chat message
#            can cost (what issue 4 prescribes, each step at its cheapest, on
#            minimal tables in schema bench_floor), started like the chat
#            pool ($CHAT_WORKERS workers): the ceiling of any chat route here.
#            Every other path is H, so scripts/bench/mixed.lua against
#            BENCH_URL is the ceiling of the mixed workload.
# baseline_stop stops both pools.
baseline_pool() { # NAME N [VAR=value...]: build/bench-NAME like our pool, on run/NAME.sock
	local name=$1 n=$2 owner=()
	shift 2
	[[ $(id -u) -eq 0 ]] && owner=(-u pixelcraft -g pixelcraft -U pixelcraft -G www-data)
	env -i PATH="$PATH" WORKERS="$n" LIBFCGI_OS_CLOSE_POLL_TIMEOUT=0 GNUTLS_NO_IMPLICIT_INIT=1 "$@" \
		setsid spawn-fcgi -n -s "$DIR/run/$name.sock" -M 0660 "${owner[@]}" -- \
		/usr/bin/multiwatch -f "$n" -r 100 -t 1000 -- "$ROOT/build/bench-$name" >/dev/null 2>&1 &
	echo $! >"$DIR/run/$name-pool.pid"
	disown
	for _ in $(seq 50); do [[ -S $DIR/run/$name.sock ]] && break; sleep 0.1; done
}

baseline_start() {
	local redis_url floor_env
	redis_url=$(sed -n 's/^REDIS_URL=//p' "$DIR/pixelcraft.env")
	floor_env=(FLOOR_PG="$(sed -n 's/^DATABASE_URL=//p' "$DIR/pixelcraft.env")"
		FLOOR_SECRET="$SUPABASE_JWT_SECRET"
		FLOOR_REDIS="$(sed 's|^unix://||; s|?.*||' <<<"$redis_url")"
		FLOOR_REDIS_PASSWORD="$(sed -n 's/.*[?&]password=\([^&]*\).*/\1/p' <<<"$redis_url")")
	baseline_pool hello "$WORKERS"
	baseline_pool floor 1 "${floor_env[@]}" FLOOR_URL="$OLLAMA_HOST/api/tags"
	# the chat floor's tables: primary keys and the history index only
	STACK_QUIET=1 scripts/stack.sh psql "$DIR" <<-SQL
		SET ROLE pixelcraft;
		CREATE SCHEMA IF NOT EXISTS bench_floor;
		CREATE TABLE IF NOT EXISTS bench_floor.conversations (id uuid PRIMARY KEY,
		    user_id uuid, created_at timestamptz NOT NULL DEFAULT now());
		CREATE TABLE IF NOT EXISTS bench_floor.messages (
		    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), conversation_id uuid NOT NULL,
		    role text NOT NULL, content text NOT NULL, reply_to uuid,
		    created_at timestamptz NOT NULL DEFAULT now());
		CREATE INDEX IF NOT EXISTS messages_conversation
		    ON bench_floor.messages (conversation_id, created_at);
		CREATE TABLE IF NOT EXISTS bench_floor.agent_logs (id bigserial PRIMARY KEY,
		    conversation_id uuid, status text NOT NULL,
		    created_at timestamptz NOT NULL DEFAULT now());
		CREATE TABLE IF NOT EXISTS bench_floor.model_metrics (id bigserial PRIMARY KEY,
		    model_name text NOT NULL, status text NOT NULL, tokens_in int, tokens_out int,
		    created_at timestamptz NOT NULL DEFAULT now());
	SQL
	baseline_pool chat-floor "$CHAT_WORKERS" "${floor_env[@]}" FLOOR_URL="$OLLAMA_HOST" \
		FLOOR_PROMPT="$ROOT/ops/system-prompt.txt"
	cat >"$DIR/nginx/conf.d/bench.conf" <<-CONF
		server {
		    listen 127.0.0.1:$((PORT + 1));
		    location = /static { default_type application/json; return 200 '{"status":"alive"}'; }
		    location = /floor { include $DIR/nginx/pixelcraft-fastcgi.conf; fastcgi_pass unix:$DIR/run/floor.sock; }
		    location = /api/chat/message { include $DIR/nginx/pixelcraft-fastcgi.conf; fastcgi_pass unix:$DIR/run/chat-floor.sock; }
		    location / { include $DIR/nginx/pixelcraft-fastcgi.conf; fastcgi_pass unix:$DIR/run/hello.sock; }
		}
	CONF
	nginx -c "$DIR/nginx/nginx.conf" -s reload
	sleep 0.5
	BENCH_URL=http://127.0.0.1:$((PORT + 1))
}

baseline_stop() {
	local name
	for name in hello floor chat-floor; do
		kill -9 "$(cat "$DIR/run/$name-pool.pid" 2>/dev/null)" 2>/dev/null || true
		pkill -9 -f -- "$ROOT/build/bench-$name" 2>/dev/null || true
	done
}
