# Bench rows for chat (sourced by bench.sh): the stub LLM answers at once, so
# the figures measure our code; the stub's own ceiling is measured too, and
# the chat floor (scripts/bench/chat-floor.c: the same requests doing only
# what the issue prescribes, at its cheapest) is the ceiling of any chat
# route on this machine.
build/pc-token --many 5000 "$SUPABASE_JWT_SECRET" >"$DIR/tokens-chat.txt"
ALL_ROWS+=(
	"stub|http://127.0.0.1:$STUB_PORT/api/chat|scripts/bench/stub.lua|the stub LLM alone (its ceiling)"
	"chat|$BASE_URL/api/chat/message|scripts/bench/chat.lua|POST /api/chat/message, 5000 users, stub answering at once|TOKENS=$DIR/tokens-chat.txt"
	"chat-floor|$BENCH_URL/api/chat/message|scripts/bench/chat.lua|the same on scripts/bench/chat-floor.c, the least a message can cost|TOKENS=$DIR/tokens-chat.txt"
)
