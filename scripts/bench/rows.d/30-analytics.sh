# Bench rows for the analytics API (sourced by bench.sh with the stack's
# stack.env loaded): the demo data set (ops/sql/demo-data.sql) and 1000
# admins (each user has its own rate-limit budget), then a cached summary
# (the default window: the cache answers), the same summary uncached (every
# request another start_date) and a time series (never cached).
STACK_QUIET=1 scripts/stack.sh psql "$DIR" -q -f ops/sql/demo-data.sql
build/pc-token --many 1000 "$SUPABASE_JWT_SECRET" >"$DIR/tokens-admins.txt"
# the tokens' subjects become admins (sub read from each token's payload)
STACK_QUIET=1 scripts/stack.sh psql "$DIR" -q <<SQL
CREATE TEMP TABLE bench_tokens (token text);
\copy bench_tokens FROM '$DIR/tokens-admins.txt'
INSERT INTO user_profiles (user_id, role)
SELECT (convert_from(decode(rpad(p, (length(p) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::json
        ->> 'sub')::uuid, 'admin'
FROM (SELECT translate(split_part(token, '.', 2), '-_', '+/') AS p FROM bench_tokens) t
ON CONFLICT (user_id) DO UPDATE SET role = 'admin';
SQL
ALL_ROWS+=(
	"an-cached|$BASE_URL/api/analytics/conversations/summary|scripts/bench/analytics.lua|GET /api/analytics/conversations/summary, 30 days, cached (X-Cache: hit)|TOKENS=$DIR/tokens-admins.txt"
	"an-uncached|$BASE_URL/api/analytics/conversations/summary|scripts/bench/analytics.lua|GET /api/analytics/conversations/summary, 30 days, another start_date each time (uncached)|TOKENS=$DIR/tokens-admins.txt VARY=start_date"
	"an-trends|$BASE_URL/api/analytics/leads/trends|scripts/bench/analytics.lua|GET /api/analytics/leads/trends, 30 days daily (not cached)|TOKENS=$DIR/tokens-admins.txt"
)
