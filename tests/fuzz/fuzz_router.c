/*
 * fuzz_router: route matching (router_match over the real table), fed two
 * ways:
 *   - byte 0 even: the rest is REQUEST_URI, parsed by request_parse as for a
 *     real request, then matched;
 *   - byte 0 odd: the rest is split on '/' straight into the request's
 *     segments (no decoding), so the matcher also sees what decoding produces:
 *     empty segments, '/', '{', '%' inside a segment, 16 segments and more.
 * Byte 0 also chooses the method (bits 1-3) and the internal listener (bit 4).
 *
 * Checked: the outcome is 0, 204 (OPTIONS), 404 or 405; a match binds exactly
 * the parameters of its pattern; 405 lists the allowed methods.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "fuzz.h"
#include "request.h"
#include "router.h"

static int pattern_params(const char *p)
{
	int n = 0;

	for (; *p; p++)
		n += *p == '{';
	return n > REQUEST_MAX_PARAMS ? REQUEST_MAX_PARAMS : n;
}

static void match(struct request *req)
{
	const struct route *route = NULL;
	char allow[128];

	memset(allow, 'x', sizeof(allow));
	int st = router_match(req, &route, allow, sizeof(allow));
	switch (st) {
	case 0:
		if (route == NULL || req->nparams != pattern_params(route->pattern))
			abort();
		for (int i = 0; i < req->nparams; i++)
			if (req->params[i] == NULL || req->params[i][0] == '\0')
				abort();
		if (route->method != (req->method == HTTP_HEAD ? HTTP_GET : req->method))
			abort();
		break;
	case 204:
	case 405:
		if (memchr(allow, '\0', sizeof(allow)) == NULL || strstr(allow, "OPTIONS") == NULL)
			abort();
		break;
	case 404:
		break;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct app app;
	struct request req;

	if (size < 1)
		return 0;
	app.cfg = fuzz_config();
	uint8_t mode = data[0];
	enum http_method method = (enum http_method)((mode >> 1) % HTTP__MAX);
	bool internal = mode & 16;
	data++;
	size--;
	memset(&req, 0, sizeof(req));

	if ((mode & 1) == 0) {
		char *env[4];
		env[0] = malloc(size + 13);
		if (env[0] == NULL)
			abort();
		memcpy(env[0], "REQUEST_URI=", 12);
		memcpy(env[0] + 12, data, size);
		env[0][12 + size] = '\0';
		char m[32];
		snprintf(m, sizeof(m), "REQUEST_METHOD=%s", http_method_names[method]);
		env[1] = m;
		env[2] = internal ? "PIXELCRAFT_INTERNAL=1" : NULL;
		env[3] = NULL;
		if (request_parse(&req, &app, env) == 0)
			match(&req);
		request_free(&req);
		free(env[0]);
		return 0;
	}

	/* segments as the matcher receives them after decoding: parse "/" (with
	 * the method and listener), then replace the segments */
	char *copy = fuzz_strndup(data, size);
	char m[32];
	snprintf(m, sizeof(m), "REQUEST_METHOD=%s", http_method_names[method]);
	char *env[] = {"REQUEST_URI=/", m, internal ? "PIXELCRAFT_INTERNAL=1" : NULL, NULL};
	if (request_parse(&req, &app, env) != 0 || req.nsegs != 0)
		abort();
	char *p = copy;
	while (req.nsegs < REQUEST_MAX_SEGS) {
		char *slash = strchr(p, '/');
		req.segs[req.nsegs++] = p;
		if (slash == NULL)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	match(&req);
	request_free(&req);
	free(copy);
	return 0;
}
