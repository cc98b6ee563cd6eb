#!/usr/bin/env bash
# stack.sh: starts and stops a complete private PixelCraft stack in one
# directory: PostgreSQL, Redis, the stub LLM (when asked), the two worker
# pools (spawn-fcgi + multiwatch) and a front end (nginx or lighttpd).
# `make run`, the tests and the benchmarks all use it.
#
#   stack.sh up DIR [options]     start everything, write DIR/stack.env
#   stack.sh down DIR             stop everything started in DIR
#   stack.sh COMPONENT-ACTION DIR start/stop/restart one piece:
#       pg-start pg-stop pg-restart  redis-start redis-stop
#       pool-start pool-stop  front-start front-stop  stub-start stub-stop
#   stack.sh pool-pids DIR [api|chat]   pids of the live workers
#
# Options for `up` (also read from the environment of the same name):
#   --front nginx|lighttpd   (FRONT, default nginx)
#   --port N                 (PORT, default: a free port)
#   --workers N              (WORKERS, default 4)
#   --chat-workers N         (CHAT_WORKERS, default 32)
#   --stub                   (STUB=1) start the stub LLM and point OLLAMA_HOST at it
#   --shared STACK_DIR       another application host (pools + front end) using
#                            the PostgreSQL, Redis and LLM of the stack in STACK_DIR
# Options for `up` given on the command line only (kept in DIR/stack.env for
# the COMPONENT-ACTION commands; nothing changes when they are not given):
#   --listen ADDR            the front end's public listen address (IPv4,
#                            default 127.0.0.1; BASE_URL uses it)
#   --wrap "CMD ARGS"        prefix for the processes started for the pools and
#                            the front end, and for the front end's readiness
#                            probe, e.g. "ip netns exec NAME" to run the host in
#                            a network namespace
#   --database-url URL       with --shared: the workers' DATABASE_URL (e.g.
#   --redis-url URL          through PgBouncer) and REDIS_URL, instead of the
#                            shared stack's
#   --nchan-redis URL        nginx only: nchan keeps the live-update channels in
#                            this Redis (redis://[:PASSWORD@]HOST:PORT[/DB])
#                            instead of its memory, as several hosts sharing
#                            live updates do (fcgi-conf/nginx-live-redis.conf)
#
# DIR/stack.env lists what the tests need: BASE_URL, ports, URLs, secrets,
# the paths of the sockets and pid files. DIR/pixelcraft.env is the workers'
# configuration in systemd EnvironmentFile= syntax.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${PIXELCRAFT_BIN:-$ROOT/build/pixelcraft-api}
STUB_BIN=${STUB_BIN:-$ROOT/build/stub-ollama}
# servers started from here may hold many connections
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

USED_PORTS=""
die() { echo "stack: $*" >&2; exit 1; }
log() { [[ -n ${STACK_QUIET:-} ]] || echo "stack: $*" >&2; }

# Runs a command as another user when we are root (servers refuse root).
as_user() {
	local user=$1; shift
	if [[ $(id -u) -eq 0 ]]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

# A port nobody listens on and no connection uses (outgoing connections take
# ephemeral ports, so candidates come from below the ephemeral range).
port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null &&
		[[ -z $(ss -Htan "( sport = :$1 or dport = :$1 )" 2>/dev/null) ]]
}

free_port() {
	local p lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
	for _ in $(seq 1 200); do
		p=$((10000 + RANDOM % (lo - 10000)))
		[[ " $USED_PORTS " == *" $p "* ]] && continue
		port_free "$p" && { echo "$p"; return 0; }
	done
	die "no free port found"
}

# Waits until "$@" succeeds, up to $1 tenths of a second.
wait_for() {
	local tries=$1; shift
	for _ in $(seq 1 "$tries"); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

secret() { openssl rand -hex "$1"; }

load_env() {
	[[ -f $DIR/stack.env ]] || die "$DIR/stack.env missing: run 'stack.sh up $DIR' first"
	set -a
	# shellcheck disable=SC1091
	. "$DIR/stack.env"
	set +a
	wrap_init
}

# --listen, --wrap and --nchan-redis (FRONT_LISTEN, STACK_WRAP,
# NCHAN_REDIS_URL in stack.env): defaults when unset.
wrap_init() {
	FRONT_LISTEN=${FRONT_LISTEN:-127.0.0.1}
	NCHAN_REDIS_URL=${NCHAN_REDIS_URL:-}
	read -ra WRAP <<<"${STACK_WRAP:-}"
}

# ---------------------------------------------------------------- PostgreSQL

pg_init() {
	local pw=$1
	mkdir -p "$DIR/pg" "$DIR/pgsock"
	[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$DIR/pg" "$DIR/pgsock"
	chmod 700 "$DIR/pg"
	echo "$pw" >"$DIR/pg.pw"
	[[ $(id -u) -eq 0 ]] && chown postgres "$DIR/pg.pw"
	as_user postgres "$PGBIN/initdb" -D "$DIR/pg" -U postgres --auth-local=trust \
		--auth-host=scram-sha-256 --pwfile="$DIR/pg.pw" -E UTF8 --locale=C.UTF-8 \
		>"$DIR/log/initdb.log" 2>&1 || die "initdb failed: see $DIR/log/initdb.log"
	rm -f "$DIR/pg.pw"
	cat >>"$DIR/pg/postgresql.conf" <<-EOF
		listen_addresses = '127.0.0.1'
		max_connections = ${PG_MAX_CONNECTIONS:-300}
		shared_buffers = 128MB
		unix_socket_directories = '$DIR/pgsock'
		log_min_messages = warning
		${PG_EXTRA_CONF:-}
	EOF
	# Local connections use peer authentication (no password in the
	# workers' configuration): the pixelcraft OS user is the pixelcraft role;
	# root and postgres may connect as anyone for administration.
	if [[ $(id -u) -eq 0 ]]; then
		cat >"$DIR/pg/pg_ident.conf" <<-EOF
			pixelcraft pixelcraft pixelcraft
			pixelcraft root       pixelcraft
			pixelcraft root       postgres
			pixelcraft postgres   postgres
		EOF
		sed -i 's/^local\(.*\)trust$/local\1peer map=pixelcraft/' "$DIR/pg/pg_hba.conf"
	fi
}

pg_start() {
	as_user postgres "$PGBIN/pg_ctl" -D "$DIR/pg" status >/dev/null 2>&1 && return 0
	touch "$DIR/log/postgres.log"
	[[ $(id -u) -eq 0 ]] && chown postgres "$DIR/log/postgres.log"
	as_user postgres "$PGBIN/pg_ctl" -D "$DIR/pg" -l "$DIR/log/postgres.log" \
		-o "-p $PG_PORT" -w -t 30 start >/dev/null || die "postgres did not start"
}

pg_stop() {
	[[ -f $DIR/pg/postmaster.pid ]] || return 0
	as_user postgres "$PGBIN/pg_ctl" -D "$DIR/pg" -m "${1:-fast}" -w -t 30 stop >/dev/null ||
		true
}

pg_psql() {
	as_user postgres "$PGBIN/psql" -h "$DIR/pgsock" -p "$PG_PORT" -U postgres -X -q \
		-v ON_ERROR_STOP=1 "$@"
}

pg_setup() {
	pg_psql -d postgres <<-EOF
		CREATE ROLE pixelcraft LOGIN PASSWORD '$PG_APP_PASSWORD';
		CREATE DATABASE pixelcraft OWNER pixelcraft;
	EOF
}

# --------------------------------------------------------------------- Redis

redis_start() {
	[[ -f $DIR/redis/redis.pid ]] && kill -0 "$(cat "$DIR/redis/redis.pid")" 2>/dev/null && return 0
	mkdir -p "$DIR/redis"
	local as=()
	# a private Redis owned by the service user: its socket (0700) is then
	# reachable by the workers and root only
	if [[ $(id -u) -eq 0 ]]; then
		chown pixelcraft "$DIR/redis"
		touch "$DIR/log/redis.log" && chown pixelcraft "$DIR/log/redis.log"
		as=(runuser -u pixelcraft --)
	fi
	"${as[@]}" redis-server --unixsocket "$DIR/redis/redis.sock" --unixsocketperm 700 \
		--pidfile "$DIR/redis/redis.pid" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR/redis" \
		--requirepass "$REDIS_PASSWORD" --daemonize yes \
		--logfile "$DIR/log/redis.log" \
		--save "${REDIS_SAVE:-}" --appendonly no --protected-mode yes >/dev/null
	wait_for 50 redis-cli -p "$REDIS_PORT" -a "$REDIS_PASSWORD" --no-auth-warning ping ||
		die "redis did not start"
}

redis_stop() {
	local pid
	[[ -f $DIR/redis/redis.pid ]] || return 0
	pid=$(cat "$DIR/redis/redis.pid")
	kill -CONT "$pid" 2>/dev/null || true
	kill "$pid" 2>/dev/null || true
	wait_for 50 bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
	rm -f "$DIR/redis/redis.pid"
}

# ------------------------------------------------------------------ stub LLM

stub_start() {
	[[ -f $DIR/run/stub.pid ]] && kill -0 "$(cat "$DIR/run/stub.pid")" 2>/dev/null && return 0
	setsid "$STUB_BIN" "$STUB_PORT" >>"$DIR/log/stub-ollama.log" 2>&1 &
	echo $! >"$DIR/run/stub.pid"
	wait_for 50 curl -sf "http://127.0.0.1:$STUB_PORT/api/tags" || die "stub LLM did not start"
}

stub_stop() {
	[[ -f $DIR/run/stub.pid ]] || return 0
	kill -9 "$(cat "$DIR/run/stub.pid")" 2>/dev/null || true
	rm -f "$DIR/run/stub.pid"
}

# -------------------------------------------------------------- worker pools

# One pool: spawn-fcgi creates the socket (0660, group www-data) and execs
# multiwatch, which keeps N workers alive. -r/-t: a slot is only given up
# after 100 deaths each within 1 s of its start (then multiwatch exits and
# systemd restarts the chain); ordinary crashes are always replaced.
# The workers' configuration comes from pixelcraft.env alone, as under
# systemd: they start with an empty environment but for PATH and the
# sanitizers' options, so a caller's variables (another stack's secret, say)
# cannot override the file.
worker_env() {
	local v
	WORKER_ENV=(env -i "PATH=$PATH")
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
		[[ -z ${!v:-} ]] || WORKER_ENV+=("$v=${!v}")
	done
}

pool_start_one() {
	local name=$1 n=$2 sock=$DIR/run/$1.sock
	local owner=() group=www-data
	[[ $(id -u) -eq 0 ]] && owner=(-u pixelcraft -g pixelcraft -U pixelcraft -G "$group")
	[[ $(id -u) -eq 0 ]] || group=$(id -gn)
	rm -f "$sock"
	"${WRAP[@]}" "${WORKER_ENV[@]}" WORKERS="$n" LIBFCGI_OS_CLOSE_POLL_TIMEOUT=0 GNUTLS_NO_IMPLICIT_INIT=1 \
		setsid spawn-fcgi -n -s "$sock" -M 0660 \
		"${owner[@]}" -- /usr/bin/multiwatch -f "$n" -r 100 -t 1000 -- \
		"$BIN" --env-file "$DIR/pixelcraft.env" \
		>>"$DIR/log/$name-pool.out" 2>>"$DIR/log/api.log" &
	echo $! >"$DIR/run/$name-pool.pid"
	wait_for 50 test -S "$sock" || die "$name pool did not create $sock"
	wait_for 50 bash -c "[[ \$(pgrep -c -P $(cat "$DIR/run/$name-pool.pid")) -ge $n ]]" ||
		die "$name pool did not start $n workers (see $DIR/log/api.log)"
}

pool_start() {
	worker_env
	"${WORKER_ENV[@]}" "$BIN" --env-file "$DIR/pixelcraft.env" --validate-config ||
		die "invalid configuration in $DIR/pixelcraft.env"
	pool_start_one api "$WORKERS"
	pool_start_one chat "$CHAT_WORKERS"
}

pool_stop() {
	local f pid
	for f in "$DIR"/run/api-pool.pid "$DIR"/run/chat-pool.pid; do
		[[ -f $f ]] || continue
		pid=$(cat "$f")
		kill -TERM "$pid" 2>/dev/null || true
		wait_for 100 bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
		rm -f "$f"
	done
	pkill -9 -f -- "--env-file $DIR/pixelcraft.env" 2>/dev/null || true
}

# pids of the live workers of one pool (children of its multiwatch)
pool_pids() {
	local f=$DIR/run/${1:-api}-pool.pid
	[[ -f $f ]] && pgrep -P "$(cat "$f")" || true
}

# ---------------------------------------------------------------- front ends

# The shipped site files use production paths; the stack rewrites them.
# With --nchan-redis, nchan's locations get their nchan_redis_pass line
# uncommented, as fcgi-conf/nginx-live-redis.conf tells administrators to.
render() {
	local live=()
	[[ -z $NCHAN_REDIS_URL ]] ||
		live=(-e 's/^\( *\)#nchan_redis_pass pixelcraft_live;/\1nchan_redis_pass pixelcraft_live;/')
	sed "${live[@]}" -e "s#/run/pixelcraft/#$DIR/run/#g" \
		-e "s#/usr/share/pixelcraft/docs#$DIR/docs-site#g" \
		-e "s#/etc/lighttpd/pixelcraft-errors/#$ROOT/fcgi-conf/lighttpd-errors/#g" \
		-e "s#/etc/nginx/pixelcraft-#$DIR/nginx/pixelcraft-#g" \
		-e "s#127.0.0.1:8081#127.0.0.1:$INTERNAL_PORT#g" \
		-e "s#listen 80;#listen $FRONT_LISTEN:$PORT;#" \
		-e "s#client_max_body_size 64k;#client_max_body_size $((MAX_BODY_BYTES / 1024))k;#" \
		-e "s#client_body_buffer_size 64k;#client_body_buffer_size $((MAX_BODY_BYTES / 1024))k;#" \
		"$1"
}

# the documentation site (make docs-site), copied so a rebuild cannot change
# it under the front end
docs_site() {
	if [[ -f $ROOT/build/docs-site/openapi.json ]]; then
		rm -rf "$DIR/docs-site"
		cp -r "$ROOT/build/docs-site" "$DIR/docs-site"
	else
		log "no build/docs-site (make docs-site): /docs, /redoc and /openapi.json will be 404"
	fi
}

nginx_conf() {
	local user="" modules=""
	[[ $(id -u) -eq 0 ]] && user="user www-data;"
	for m in /usr/lib/nginx/modules/ngx_nchan_module.so; do
		[[ -f $m ]] && modules+="load_module $m;"
	done
	mkdir -p "$DIR/nginx/tmp" "$DIR/nginx/conf.d"
	docs_site
	for f in "$ROOT"/fcgi-conf/pixelcraft-*.conf; do
		render "$f" >"$DIR/nginx/$(basename "$f")"
	done
	render "$ROOT/fcgi-conf/nginx.conf" >"$DIR/nginx/site.conf"
	nchan_redis_conf
	cat >"$DIR/nginx/nginx.conf" <<-EOF
		$modules
		$user
		worker_processes ${NGINX_WORKERS:-2};
		pid $DIR/run/nginx.pid;
		error_log $DIR/log/nginx-error.log warn;
		events { worker_connections ${NGINX_CONNECTIONS:-16384}; }
		worker_rlimit_nofile $(ulimit -Hn);
		http {
		    access_log ${NGINX_ACCESS_LOG:-off};
		    variables_hash_max_size 2048;
		    variables_hash_bucket_size 128;
		    default_type application/octet-stream;
		    client_body_temp_path $DIR/nginx/tmp/body;
		    fastcgi_temp_path $DIR/nginx/tmp/fastcgi;
		    proxy_temp_path $DIR/nginx/tmp/proxy;
		    uwsgi_temp_path $DIR/nginx/tmp/uwsgi;
		    scgi_temp_path $DIR/nginx/tmp/scgi;
		    include $DIR/nginx/site.conf;
		    include $DIR/nginx/conf.d/*.conf;
		}
	EOF
}

# --nchan-redis URL: the shipped fcgi-conf/nginx-live-redis.conf with the
# URL's address and password, in conf.d; the three nchan locations use it.
nchan_redis_conf() {
	local f=$DIR/nginx/conf.d/live-redis.conf n pw server
	local re='^redis://(:([A-Za-z0-9._~+=-]*)@)?([^/@]+)(/([0-9]+))?$'
	rm -f "$f"
	[[ -n $NCHAN_REDIS_URL ]] || return 0
	[[ $NCHAN_REDIS_URL =~ $re ]] ||
		die "--nchan-redis: not redis://[:PASSWORD@]HOST:PORT[/DB] (password of [A-Za-z0-9._~+=-])"
	pw=${BASH_REMATCH[2]} server="redis://${BASH_REMATCH[3]}/${BASH_REMATCH[5]:-0}"
	umask 077
	if [[ -n $pw ]]; then
		sed -e "s#^\( *nchan_redis_server \).*;#\1$server;#" \
			-e "s#^\( *nchan_redis_password \).*;#\1$pw;#" \
			"$ROOT/fcgi-conf/nginx-live-redis.conf" >"$f"
	else
		sed -e "s#^\( *nchan_redis_server \).*;#\1$server;#" -e '/^ *nchan_redis_password /d' \
			"$ROOT/fcgi-conf/nginx-live-redis.conf" >"$f"
	fi
	umask 022
	n=$(cat "$DIR/nginx/pixelcraft-app.conf" "$DIR/nginx/pixelcraft-common.conf" |
		grep -c '^ *nchan_redis_pass pixelcraft_live;')
	[[ $n == 3 && $(grep -c "^ *nchan_redis_server $server;" "$f") == 1 &&
		$(grep -c "^ *nchan_redis_password $pw;" "$f") == $((${#pw} ? 1 : 0)) ]] ||
		die "fcgi-conf/nginx-live-redis.conf or nchan's locations changed: rendering failed"
}

lighttpd_conf() {
	mkdir -p "$DIR/lighttpd/www" "$DIR/lighttpd/tmp"
	docs_site
	render "$ROOT/fcgi-conf/lighttpd.conf" >"$DIR/lighttpd/site.conf"
	local user=""
	[[ $(id -u) -eq 0 ]] && user='server.username = "www-data"
server.groupname = "www-data"'
	touch "$DIR/log/lighttpd-error.log"
	[[ $(id -u) -eq 0 ]] && chown www-data "$DIR/lighttpd/tmp" "$DIR/log/lighttpd-error.log"
	cat >"$DIR/lighttpd/lighttpd.conf" <<-EOF
		server.document-root = "$DIR/lighttpd/www"
		server.bind = "$FRONT_LISTEN"
		server.port = $PORT
		server.pid-file = "$DIR/run/lighttpd.pid"
		server.errorlog = "$DIR/log/lighttpd-error.log"
		server.upload-dirs = ( "$DIR/lighttpd/tmp" )
		server.max-fds = 16384
		$user
		include "$DIR/lighttpd/site.conf"
	EOF
}

front_start() {
	case $FRONT in
	nginx)
		nginx_conf
		"${WRAP[@]}" nginx -t -q -c "$DIR/nginx/nginx.conf" -e "$DIR/log/nginx-error.log" ||
			die "nginx -t failed"
		"${WRAP[@]}" nginx -c "$DIR/nginx/nginx.conf" -e "$DIR/log/nginx-error.log"
		;;
	lighttpd)
		lighttpd_conf
		"${WRAP[@]}" lighttpd -tt -f "$DIR/lighttpd/lighttpd.conf" >/dev/null || die "lighttpd -tt failed"
		"${WRAP[@]}" lighttpd -f "$DIR/lighttpd/lighttpd.conf"
		;;
	*) die "unknown front end $FRONT" ;;
	esac
	wait_for 50 "${WRAP[@]}" curl -s -o /dev/null "http://$FRONT_LISTEN:$PORT/health/live" ||
		die "$FRONT did not answer on $FRONT_LISTEN:$PORT"
}

front_stop() {
	local f pid
	for f in "$DIR"/run/nginx.pid "$DIR"/run/lighttpd.pid; do
		[[ -f $f ]] || continue
		pid=$(cat "$f")
		kill -TERM "$pid" 2>/dev/null || true
		wait_for 50 bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
		rm -f "$f"
	done
}

# ------------------------------------------------------------------- up/down

write_env() {
	local jwt_secret=$1
	umask 027
	cat >"$DIR/pixelcraft.env" <<-EOF
		# Generated by scripts/stack.sh for this private stack (systemd EnvironmentFile syntax).
		APP_ENV=${APP_ENV:-development}
		DATABASE_URL=$APP_DATABASE_URL
		REDIS_URL=$APP_REDIS_URL
		SUPABASE_JWT_SECRET=$jwt_secret
		OLLAMA_HOST=$OLLAMA_HOST
		CORS_ORIGINS=${CORS_ORIGINS:-http://localhost:5173}
		LOG_LEVEL=${LOG_LEVEL:-info}
		MAX_BODY_BYTES=$MAX_BODY_BYTES
		LIVE_PUBLISH_URL=$([[ $FRONT == nginx ]] && echo "http://127.0.0.1:$INTERNAL_PORT/pub")
		MIGRATIONS_DIR=$ROOT/ops/sql
		MODELS_FILE=${MODELS_FILE:-$ROOT/ops/models.json}
		SYSTEM_PROMPT_FILE=$ROOT/ops/system-prompt.txt
	EOF
	# EXTRA_ENV: space-separated NAME=value pairs, one line each (appended: a
	# name set above takes this later value, as under systemd)
	for kv in ${EXTRA_ENV:-}; do echo "$kv"; done >>"$DIR/pixelcraft.env"
	umask 022
	[[ $(id -u) -eq 0 ]] && chgrp pixelcraft "$DIR/pixelcraft.env"
	cat >"$DIR/stack.env" <<-EOF
		STACK_DIR=$DIR
		FRONT=$FRONT
		PORT=$PORT
		BASE_URL=http://$FRONT_LISTEN:$PORT
		INTERNAL_PORT=$INTERNAL_PORT
		PG_PORT=$PG_PORT
		PG_APP_PASSWORD=$PG_APP_PASSWORD
		DATABASE_URL=postgresql://pixelcraft:$PG_APP_PASSWORD@127.0.0.1:$PG_PORT/pixelcraft
		REDIS_PORT=$REDIS_PORT
		REDIS_PASSWORD=$REDIS_PASSWORD
		STUB=$STUB
		STUB_PORT=$STUB_PORT
		OLLAMA_HOST=$OLLAMA_HOST
		WORKERS=$WORKERS
		CHAT_WORKERS=$CHAT_WORKERS
		MAX_BODY_BYTES=$MAX_BODY_BYTES
		SUPABASE_JWT_SECRET=$jwt_secret
		PIXELCRAFT_BIN=$BIN
	EOF
	[[ $FRONT_LISTEN == 127.0.0.1 ]] || echo "FRONT_LISTEN=$FRONT_LISTEN" >>"$DIR/stack.env"
	[[ -z $STACK_WRAP ]] || echo "STACK_WRAP='$STACK_WRAP'" >>"$DIR/stack.env"
	[[ -z $NCHAN_REDIS_URL ]] || printf 'NCHAN_REDIS_URL=%q\n' "$NCHAN_REDIS_URL" >>"$DIR/stack.env"
	chmod 600 "$DIR/stack.env"
}

up() {
	FRONT=${FRONT:-nginx} WORKERS=${WORKERS:-4} CHAT_WORKERS=${CHAT_WORKERS:-32}
	STUB=${STUB:-0} PORT=${PORT:-} SHARED=""
	FRONT_LISTEN=127.0.0.1 STACK_WRAP="" OPT_DATABASE_URL="" OPT_REDIS_URL="" NCHAN_REDIS_URL=""
	while (($#)); do
		case $1 in
		--listen) FRONT_LISTEN=$2; shift ;;
		--wrap) STACK_WRAP=$2; shift ;;
		--database-url) OPT_DATABASE_URL=$2; shift ;;
		--redis-url) OPT_REDIS_URL=$2; shift ;;
		--nchan-redis) NCHAN_REDIS_URL=$2; shift ;;
		--front) FRONT=$2; shift ;;
		--port) PORT=$2; shift ;;
		--workers) WORKERS=$2; shift ;;
		--chat-workers) CHAT_WORKERS=$2; shift ;;
		--stub) STUB=1 ;;
		--shared) SHARED=$(cd "$2" && pwd); shift ;;
		*) die "unknown option $1" ;;
		esac
		shift
	done
	wrap_init
	[[ -z $OPT_DATABASE_URL$OPT_REDIS_URL || -n $SHARED ]] ||
		die "--database-url and --redis-url need --shared"
	[[ -z $NCHAN_REDIS_URL || $FRONT == nginx ]] || die "--nchan-redis needs --front nginx"
	[[ -x $BIN ]] || die "$BIN not built (make all)"
	mkdir -p "$DIR/log" "$DIR/run"
	chmod 755 "$DIR"
	[[ -n $PORT ]] || PORT=$(free_port)
	port_free "$PORT" || die "port $PORT is in use (set PORT=...)"
	USED_PORTS="$PORT"
	INTERNAL_PORT=${INTERNAL_PORT:-$(free_port)}
	USED_PORTS+=" $INTERNAL_PORT"
	if [[ -n $SHARED ]]; then
		shared_up
		return
	fi
	PG_PORT=${PG_PORT:-$(free_port)}
	USED_PORTS+=" $PG_PORT"
	REDIS_PORT=${REDIS_PORT:-$(free_port)}
	USED_PORTS+=" $REDIS_PORT"
	STUB_PORT=${STUB_PORT:-$(free_port)}
	PG_APP_PASSWORD=$(secret 16) REDIS_PASSWORD=$(secret 16)
	MAX_BODY_BYTES=${MAX_BODY_BYTES:-65536}
	if [[ $STUB == 1 ]]; then
		OLLAMA_HOST=http://127.0.0.1:$STUB_PORT
	else
		OLLAMA_HOST=${OLLAMA_HOST:-http://127.0.0.1:11434}
	fi
	# Workers reach Postgres and Redis over Unix sockets when we are root
	# (peer authentication, socket permissions); otherwise over TCP with
	# passwords. TCP is open in both cases for tools and tests.
	if [[ $(id -u) -eq 0 ]]; then
		APP_DATABASE_URL="postgresql:///pixelcraft?host=$DIR/pgsock&port=$PG_PORT&user=pixelcraft"
		APP_REDIS_URL="unix://$DIR/redis/redis.sock?db=0&password=$REDIS_PASSWORD"
	else
		APP_DATABASE_URL="postgresql://pixelcraft:$PG_APP_PASSWORD@127.0.0.1:$PG_PORT/pixelcraft"
		APP_REDIS_URL="redis://:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0"
	fi
	write_env "$(secret 32)"
	log "postgres on 127.0.0.1:$PG_PORT"
	pg_init "$(secret 16)"
	pg_start
	pg_setup
	log "redis on 127.0.0.1:$REDIS_PORT"
	redis_start
	if [[ $STUB == 1 ]]; then
		log "stub LLM on 127.0.0.1:$STUB_PORT"
		stub_start
	fi
	"$BIN" --env-file "$DIR/pixelcraft.env" migrate >"$DIR/log/migrate.log" 2>&1 ||
		die "migrations failed: $(tail -n 3 "$DIR/log/migrate.log")"
	log "worker pools: $WORKERS api + $CHAT_WORKERS chat"
	pool_start
	log "$FRONT on $FRONT_LISTEN:$PORT"
	front_start
}

# Another "application host": its own pools and front end, using the
# PostgreSQL, Redis and LLM of the stack in $SHARED (same JWT secret).
shared_up() {
	local main_env=$SHARED/stack.env
	[[ -f $main_env ]] || die "$SHARED is not a running stack"
	PG_PORT=$(sed -n 's/^PG_PORT=//p' "$main_env")
	REDIS_PORT=$(sed -n 's/^REDIS_PORT=//p' "$main_env")
	STUB_PORT=$(sed -n 's/^STUB_PORT=//p' "$main_env")
	STUB=$(sed -n 's/^STUB=//p' "$main_env")
	OLLAMA_HOST=$(sed -n 's/^OLLAMA_HOST=//p' "$main_env")
	PG_APP_PASSWORD=$(sed -n 's/^PG_APP_PASSWORD=//p' "$main_env")
	REDIS_PASSWORD=$(sed -n 's/^REDIS_PASSWORD=//p' "$main_env")
	MAX_BODY_BYTES=${MAX_BODY_BYTES:-65536}
	APP_DATABASE_URL=${OPT_DATABASE_URL:-$(sed -n 's/^DATABASE_URL=//p' "$SHARED/pixelcraft.env")}
	APP_REDIS_URL=${OPT_REDIS_URL:-$(sed -n 's/^REDIS_URL=//p' "$SHARED/pixelcraft.env")}
	write_env "$(sed -n 's/^SUPABASE_JWT_SECRET=//p' "$main_env")"
	echo "SHARED_FROM=$SHARED" >>"$DIR/stack.env"
	log "host sharing $SHARED: $WORKERS api + $CHAT_WORKERS chat workers, $FRONT on $FRONT_LISTEN:$PORT"
	pool_start
	front_start
}

down() {
	[[ -d $DIR ]] || return 0
	front_stop
	pool_stop
	stub_stop
	redis_stop
	pg_stop immediate
}

cmd=${1:-}
DIR=${2:-}
[[ -n $cmd && -n $DIR ]] || die "usage: stack.sh up|down|COMPONENT-ACTION DIR [options]"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
shift 2
case $cmd in
up) up "$@" ;;
down) down ;;
*)
	load_env
	case $cmd in
	pg-start) pg_start ;;
	pg-stop) pg_stop "${1:-fast}" ;;
	pg-restart) as_user postgres "$PGBIN/pg_ctl" -D "$DIR/pg" -m "${1:-fast}" -w -t 30 \
		-o "-p $PG_PORT" restart >/dev/null ;;
	psql) pg_psql -d pixelcraft "$@" ;;
	redis-start) redis_start ;;
	redis-stop) redis_stop ;;
	stub-start) stub_start ;;
	stub-stop) stub_stop ;;
	pool-start) pool_start ;;
	pool-stop) pool_stop ;;
	pool-pids) pool_pids "${1:-api}" ;;
	front-start) front_start ;;
	front-stop) front_stop ;;
	*) die "unknown command $cmd" ;;
	esac
	;;
esac
