/*
 * router: the static table of routes (method, path pattern, handler, flags)
 * and the matcher.
 *
 * Patterns are literal segments and {parameters}. When several patterns
 * match a path, the one whose first differing segment is literal wins,
 * whatever the order of the table ("/api/models/metrics" beats
 * "/api/models/{name}"). A path that matches no pattern is 404; a path whose
 * best pattern lacks the method is 405 with Allow.
 */
#ifndef PIXELCRAFT_ROUTER_H
#define PIXELCRAFT_ROUTER_H

#include <stddef.h>

#include "config.h"
#include "request.h"

struct response;

/* Who may call a route. */
enum route_auth {
	ROUTE_PUBLIC,        /* no token looked at */
	ROUTE_AUTH_OPTIONAL, /* a valid token identifies the caller; an invalid one is 401 */
	ROUTE_AUTH_REQUIRED, /* a valid user token is required */
	ROUTE_ADMIN,         /* a valid token of a user whose role is admin */
	ROUTE_INTERNAL,      /* only through the internal listener; the handler checks */
	ROUTE_AUTH__MAX
};

extern const char *const route_auth_names[ROUTE_AUTH__MAX];

/* Which rate-limit budget a route draws from. */
enum route_limit {
	ROUTE_LIMIT_NONE,    /* health, docs: never limited */
	ROUTE_LIMIT_DEFAULT, /* RATE_LIMIT_DEFAULT */
	ROUTE_LIMIT_CHAT,    /* RATE_LIMIT_CHAT */
	ROUTE_LIMIT__MAX
};

struct route {
	enum http_method method;
	const char *pattern;
	int (*handler)(struct request *req, struct response *res);
	enum route_auth auth;
	enum route_limit limit;
	struct config_rate rate; /* a stricter budget for this route; {0}: the group's */
};

/* A table entry drawing from its group's budget. */
#define ROUTE(method, pattern, handler, auth, limit)                                             \
	{ (method), (pattern), (handler), (auth), (limit), {0, 0} }

/* A table entry with its own, stricter budget of `n` requests per `window` seconds. */
#define ROUTE_LIMITED(method, pattern, handler, auth, limit, n, window)                          \
	{ (method), (pattern), (handler), (auth), (limit), {(n), (window)} }

/*
 * Finds the route for req's method and path and stores its parameters in
 * req->params. Returns 0 and *out, 404, or 405 (allow receives the methods
 * of the path, e.g. "GET, HEAD, OPTIONS").
 */
int router_match(struct request *req, const struct route **out, char *allow, size_t allowlen);

/* router_match over another table (the unit tests use their own). */
int router_match_table(const struct route *table, size_t count, struct request *req,
		       const struct route **out, char *allow, size_t allowlen);

/* The route table, for documentation checks. */
const struct route *router_routes(size_t *count);

#endif
