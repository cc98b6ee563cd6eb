# Bench rows for authentication and rate limiting (sourced by bench.sh with
# the stack's stack.env loaded).
build/pc-token --many 1000 "$SUPABASE_JWT_SECRET" >"$DIR/tokens-many.txt"
build/pc-token "$SUPABASE_JWT_SECRET" >"$DIR/tokens-one.txt"
# the single user is far over the limit before the first round
TOKENS=$DIR/tokens-one.txt wrk -t1 -c4 -d2s -s scripts/bench/tokens.lua "$BASE_URL/api/me" \
	>/dev/null 2>&1
ALL_ROWS+=(
	"me|$BASE_URL/api/me|scripts/bench/tokens.lua|GET /api/me, 1000 users (JWT, role, rate limit)|TOKENS=$DIR/tokens-many.txt"
	"limited|$BASE_URL/api/me|scripts/bench/tokens.lua|GET /api/me, one user over the limit (429)|TOKENS=$DIR/tokens-one.txt"
)
