/*
 * cors: preflight answers and response headers for browser clients.
 */
#include "cors.h"
#include "app.h"
#include "config.h"
#include "request.h"
#include "response.h"
#include "router.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Request headers a browser may send cross-origin. */
static const char *const cors_headers[] = {"authorization", "content-type", "x-request-id",
					   "x-correlation-id", "idempotency-key", "last-event-id",
					   "accept"};

#define CORS_ALLOW_HEADERS                                                                       \
	"Authorization, Content-Type, X-Request-ID, X-Correlation-ID, Idempotency-Key, "         \
	"Last-Event-ID, Accept"
#define CORS_EXPOSE_HEADERS                                                                      \
	"X-Request-ID, Retry-After, RateLimit, RateLimit-Policy, X-RateLimit-Limit, "            \
	"X-RateLimit-Remaining, X-RateLimit-Reset"

static bool cors_header_ok(const char *h, size_t len)
{
	for (size_t i = 0; i < sizeof(cors_headers) / sizeof(cors_headers[0]); i++)
		if (strlen(cors_headers[i]) == len && strncasecmp(cors_headers[i], h, len) == 0)
			return true;
	return false;
}

/* Sets Access-Control-Allow-Origin (and credentials); false if not allowed. */
static bool cors_origin(const struct request *req, struct response *res, const char *origin)
{
	const struct config *cfg = req->app->cfg;

	if (cfg->cors_any) {
		response_header(res, "Access-Control-Allow-Origin", "*");
		return true;
	}
	if (!config_origin_allowed(cfg, origin))
		return false;
	response_header(res, "Access-Control-Allow-Origin", "%s", origin);
	response_header(res, "Access-Control-Allow-Credentials", "true");
	return true;
}

int cors_preflight(struct request *req, struct response *res)
{
	const char *origin = request_header(req, "Origin");
	const char *want = request_header(req, "Access-Control-Request-Method");
	const char *hdrs = request_header(req, "Access-Control-Request-Headers");
	const struct route *route = NULL;
	char allow[128];

	if (req->method != HTTP_OPTIONS || origin == NULL || want == NULL)
		return 0;
	response_header(res, "Vary",
			"Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
	if (!cors_origin(req, res, origin))
		return response_error(res, 403, "Origin %s is not allowed", origin);
	/* the methods this path accepts, as the router knows them */
	enum http_method saved = req->method;
	req->method = HTTP_OTHER;
	int st = router_match(req, &route, allow, sizeof(allow));
	req->method = saved;
	if (st == 404)
		return response_error(res, 404, "Not Found");
	if (strstr(allow, want) == NULL)
		return response_error(res, 403, "Method %s is not allowed here", want);
	for (const char *p = hdrs ? hdrs : ""; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, " ,");
		if (len > 0 && !cors_header_ok(p, len))
			return response_error(res, 403, "Header %.*s is not allowed", (int)len, p);
		p += len;
	}
	response_header(res, "Access-Control-Allow-Methods", "%s", allow);
	response_header(res, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
	response_header(res, "Access-Control-Max-Age", "600");
	return 204;
}

void cors_apply(const struct request *req, struct response *res)
{
	const char *origin = request_header(req, "Origin");

	if (origin == NULL)
		return;
	response_header(res, "Vary", "Origin");
	if (cors_origin(req, res, origin))
		response_header(res, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
}
