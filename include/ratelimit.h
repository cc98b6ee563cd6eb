/*
 * ratelimit: per-caller fixed windows, shared by every worker and host
 * through Redis.
 *
 * The caller is the user id when a valid token was sent, else the client
 * address; the two are counted separately. One Redis round trip per request
 * (a Lua script: INCR, and EXPIRE on the first hit of a window). While Redis
 * is unreachable each worker keeps its own window with the limit divided by
 * the pool size (RATE_LIMIT_FALLBACK=local), or lets everything through
 * (open), or answers 503 (closed); the switch is logged once each way.
 */
#ifndef PIXELCRAFT_RATELIMIT_H
#define PIXELCRAFT_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "router.h"

struct config_rate;
struct request;
struct response;

/* The outcome of counting one request. */
struct ratelimit_result {
	const char *policy; /* "chat", "default" */
	int limit;
	int window;    /* seconds */
	int remaining; /* after this request, >= 0 */
	int reset;     /* seconds until the window ends, >= 1 */
	bool limited;
	bool shared;   /* counted in Redis (false: the local fallback) */
};

/*
 * Counts one request of caller `key` ("u:<id>" or "ip:<addr>") against
 * `rate` under `policy`, at Unix time now_s. Returns 0 and *out, or -1 when
 * the request must be refused because Redis is down and the fallback is
 * "closed".
 */
int ratelimit_count(struct request *req, const char *policy, const struct config_rate *rate,
		    const char *key, int64_t now_s, struct ratelimit_result *out);

/*
 * The rate-limit step of the pipeline: picks the policy of the route's
 * group, counts the request and sets the RateLimit-* headers. Returns 0 to
 * go on, 429 (with Retry-After and the JSON body) or 503.
 */
int ratelimit_request(struct request *req, struct response *res, const struct route *route);

#endif
