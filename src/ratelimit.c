/*
 * ratelimit: fixed-window counting in Redis with a local fallback, and the
 * response headers (the IETF draft's RateLimit/RateLimit-Policy plus the
 * older X-RateLimit-*).
 */
#include "ratelimit.h"
#include "app.h"
#include "clock.h"
#include "config.h"
#include "kv.h"
#include "log.h"
#include "request.h"
#include "response.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

/* KEYS[1] the window's counter, ARGV[1] its lifetime in seconds. */
static const char ratelimit_script[] =
	"local n = redis.call('INCR', KEYS[1])\n"
	"if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end\n"
	"return {n}\n";

/* ---- local fallback -------------------------------------------------------- */

#define RATELIMIT_LOCAL_SLOTS 4096

struct ratelimit_local {
	char key[192];
	int64_t window_start;
	int count;
};

static struct ratelimit_local ratelimit_local[RATELIMIT_LOCAL_SLOTS];
static bool ratelimit_degraded;

static int ratelimit_local_count(const char *key, int64_t window_start)
{
	uint32_t h = 2166136261u;

	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	struct ratelimit_local *s = &ratelimit_local[h % RATELIMIT_LOCAL_SLOTS];
	if (strcmp(s->key, key) != 0 || s->window_start != window_start) {
		snprintf(s->key, sizeof(s->key), "%s", key);
		s->window_start = window_start;
		s->count = 0;
	}
	return ++s->count;
}

/*
 * Windows this worker has seen exhausted: within one window the shared count
 * only grows, so once Redis said "over", the answer stays 429 until the
 * window ends and Redis need not be asked again.
 */
#define RATELIMIT_OVER_SLOTS 1024

struct ratelimit_over {
	char key[192]; /* the window's Redis key, which names the window */
	int limit;
};

static struct ratelimit_over ratelimit_over[RATELIMIT_OVER_SLOTS];

static struct ratelimit_over *ratelimit_over_slot(const char *key)
{
	uint32_t h = 2166136261u;

	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return &ratelimit_over[h % RATELIMIT_OVER_SLOTS];
}

static void ratelimit_switch(bool degraded, const char *why)
{
	if (degraded == ratelimit_degraded)
		return;
	ratelimit_degraded = degraded;
	if (degraded)
		log_msg(LOG_WARN, "rate_limit_fallback",
			"Redis unavailable (%s): counting locally per worker", why);
	else
		log_msg(LOG_WARN, "rate_limit_shared", "Redis is back: shared counting resumed");
}

int ratelimit_count(struct request *req, const char *policy, const struct config_rate *rate,
		    const char *key, int64_t now_s, struct ratelimit_result *out)
{
	const struct config *cfg = req->app->cfg;
	int64_t start = now_s - now_s % rate->window_seconds;
	long long n = 0;
	char rkey[192], ttl[16];

	out->policy = policy;
	out->limit = rate->limit;
	out->window = rate->window_seconds;
	out->reset = (int)(start + rate->window_seconds - now_s);
	snprintf(rkey, sizeof(rkey), "rl:%s:%s:%lld", policy, key, (long long)start);
	snprintf(ttl, sizeof(ttl), "%d", rate->window_seconds + 1);
	const char *keys[] = {rkey}, *args[] = {ttl};
	struct ratelimit_over *over = ratelimit_over_slot(rkey);
	if (strcmp(over->key, rkey) == 0 && over->limit == rate->limit) {
		out->shared = true;
		out->limited = true;
		out->remaining = 0;
		return 0;
	}
	out->shared = kv_eval_ints(req->app->kv, ratelimit_script, 1, keys, 1, args, &n, 1) == 1;
	if (out->shared) {
		ratelimit_switch(false, NULL);
	} else {
		ratelimit_switch(true, kv_last_error(req->app->kv));
		if (cfg->rate_fallback == RL_FALLBACK_CLOSED)
			return -1;
		if (cfg->rate_fallback == RL_FALLBACK_OPEN) {
			out->limited = false;
			out->remaining = out->limit;
			return 0;
		}
		/* this worker's share of the budget, at least one request */
		out->limit = (rate->limit + cfg->workers - 1) / cfg->workers;
		n = ratelimit_local_count(rkey, start);
	}
	out->limited = n > out->limit;
	out->remaining = out->limited ? 0 : out->limit - (int)n;
	if (out->limited && out->shared) {
		snprintf(over->key, sizeof(over->key), "%s", rkey);
		over->limit = rate->limit;
	}
	return 0;
}

static const char *const ratelimit_units[] = {"second", "minute", "hour", "day"};

static const char *ratelimit_unit(int window)
{
	switch (window) {
	case 1: return ratelimit_units[0];
	case 60: return ratelimit_units[1];
	case 3600: return ratelimit_units[2];
	default: return ratelimit_units[3];
	}
}

int ratelimit_request(struct request *req, struct response *res, const struct route *route)
{
	const struct config *cfg = req->app->cfg;
	struct ratelimit_result r;
	char key[128];

	if (route->limit == ROUTE_LIMIT_NONE)
		return 0;
	const struct config_rate *rate =
		route->rate.limit > 0 ? &route->rate
		: route->limit == ROUTE_LIMIT_CHAT ? &cfg->rate_chat
						   : &cfg->rate_default;
	const char *policy = route->limit == ROUTE_LIMIT_CHAT ? "chat" : "default";
	if (req->user.known)
		snprintf(key, sizeof(key), "u:%s", req->user.id);
	else
		snprintf(key, sizeof(key), "ip:%s", req->client_ip);
	if (ratelimit_count(req, policy, rate, key, clock_wall_ms() / 1000, &r) < 0)
		return response_unavailable(res, "Rate limiting (Redis)", kv_retry_after(req->app->kv));

	/* draft-ietf-httpapi-ratelimit-headers: the policy and the current state */
	response_header(res, "RateLimit-Policy", "\"%s\";q=%d;w=%d", r.policy, r.limit, r.window);
	response_header(res, "RateLimit", "\"%s\";r=%d;t=%d", r.policy, r.remaining, r.reset);
	response_header(res, "X-RateLimit-Limit", "%d", r.limit);
	response_header(res, "X-RateLimit-Remaining", "%d", r.remaining);
	response_header(res, "X-RateLimit-Reset", "%d", r.reset);
	if (!r.limited)
		return 0;
	res->retry_after = r.reset;
	res->body = json_object_new_object();
	json_object_object_add(res->body, "limit", json_object_new_int(r.limit));
	json_object_object_add(res->body, "retry_after", json_object_new_int(r.reset));
	return response_error(res, 429, "Rate limit exceeded: %d per %s", r.limit,
			      ratelimit_unit(r.window));
}
