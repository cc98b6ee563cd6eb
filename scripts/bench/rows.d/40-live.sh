# Bench rows for live updates (sourced by bench.sh): ordinary requests while
# 10,000 subscribers are held by nginx/nchan, next to the same rows without.
ulimit -n "$(ulimit -Hn)"
ALL_ROWS+=(
	"live-10k|$BASE_URL/health/live||GET /health/live with 10,000 live subscribers connected|HOLD_LIVE=10000"
	"me-10k|$BASE_URL/api/me|scripts/bench/tokens.lua|GET /api/me with 10,000 live subscribers connected|TOKENS=$DIR/tokens-many.txt HOLD_LIVE=10000"
)
