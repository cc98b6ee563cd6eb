# Bench rows for chat (sourced by bench.sh): the stub LLM answers at once, so
# the figures measure our code; the stub's own ceiling is measured too.
build/pc-token --many 5000 "$SUPABASE_JWT_SECRET" >"$DIR/tokens-chat.txt"
ALL_ROWS+=(
	"stub|http://127.0.0.1:$STUB_PORT/api/chat|scripts/bench/stub.lua|the stub LLM alone (its ceiling)"
	"chat|$BASE_URL/api/chat/message|scripts/bench/chat.lua|POST /api/chat/message, 5000 users, stub answering at once|TOKENS=$DIR/tokens-chat.txt"
)
