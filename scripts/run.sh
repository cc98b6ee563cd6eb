#!/usr/bin/env bash
# run.sh: `make run` and `make stop`. Starts a private stack in .run/ on
# 127.0.0.1 (PostgreSQL, Redis, both worker pools, nginx) with generated
# secrets and the schema applied, and prints the URL. If no Ollama answers at
# OLLAMA_HOST (default http://127.0.0.1:11434), the stub LLM from tests/ is
# started instead so chat works for a demo.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$ROOT/.run

case ${1:-start} in
start)
	if [[ -f $DIR/stack.env ]]; then
		echo "run: stopping the previous stack in $DIR"
		STACK_QUIET=1 "$ROOT/scripts/stack.sh" down "$DIR" || true
	fi
	rm -rf "$DIR"
	mkdir -p "$DIR"
	args=(--port "${PORT:-8080}")
	OLLAMA_HOST=${OLLAMA_HOST:-http://127.0.0.1:11434}
	if curl -sf -m 2 "$OLLAMA_HOST/api/tags" >/dev/null 2>&1; then
		llm="Ollama at $OLLAMA_HOST"
		export OLLAMA_HOST
	else
		llm="stub LLM (no Ollama answered at $OLLAMA_HOST)"
		args+=(--stub)
	fi
	"$ROOT/scripts/stack.sh" up "$DIR" "${args[@]}"
	# the demo data set for the analytics dashboard (this private database
	# only; production never loads it)
	"$ROOT/scripts/stack.sh" psql "$DIR" -q -f "$ROOT/ops/sql/demo-data.sql"
	# shellcheck disable=SC1091
	. "$DIR/stack.env"
	cat <<-EOF

		PixelCraft API is running: $BASE_URL
		  health:    curl -s $BASE_URL/health
		  API docs:  $BASE_URL/docs (Swagger UI), $BASE_URL/redoc, $BASE_URL/openapi.json
		  metrics:   curl -s http://127.0.0.1:$INTERNAL_PORT/metrics (internal listener)
		  smoke:     scripts/smoke-test.sh $BASE_URL
		  analytics: demo data loaded; a demo admin is de300000-0000-4000-8000-000000000001
		  LLM:       $llm
		  logs:      $DIR/log/api.log (JSON lines), $DIR/log/nginx-error.log
		  config:    $DIR/pixelcraft.env (generated secrets)
		  stop with: make stop
	EOF
	;;
stop)
	if [[ -d $DIR ]]; then
		"$ROOT/scripts/stack.sh" down "$DIR"
		echo "run: stopped the stack in $DIR"
	else
		echo "run: nothing is running"
	fi
	;;
*)
	echo "usage: run.sh start|stop" >&2
	exit 2
	;;
esac
