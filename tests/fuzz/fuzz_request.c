/*
 * fuzz_request: request parsing as the worker does it for every request: the
 * FastCGI parameters (path, query, headers, CONTENT_LENGTH, REMOTE_ADDR and
 * X-Forwarded-For through TRUSTED_PROXIES) and the body, then what reads
 * them: the query accessors and typed query parameters, headers, CORS, the
 * router, and the rendering of an answer carrying the request id.
 *
 * Input layout (see the seeds in corpus/request/):
 *   byte 0: flags: 1 no CONTENT_LENGTH, 2 no REMOTE_ADDR, 4 no REQUEST_METHOD,
 *           8 PIXELCRAFT_INTERNAL=1; bits 4-7 choose the body reader's chunk size
 *   then NUL-separated: REQUEST_URI, REQUEST_METHOD, CONTENT_LENGTH, REMOTE_ADDR,
 *           any number of NAME=VALUE parameters (HTTP_X_REQUEST_ID=..., a piece
 *           without '=' becomes HTTP_X_FUZZ), an empty piece, then the body.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "cors.h"
#include "fuzz.h"
#include "query.h"
#include "request.h"
#include "response.h"
#include "router.h"

#define MAX_PARAMS 64

/* The FastCGI input stream, in chunks of a fixed size. */
struct body_src {
	const uint8_t *p;
	size_t left;
	size_t chunk;
};

static int body_read(void *src, char *buf, int n)
{
	struct body_src *b = src;
	size_t k = (size_t)n;

	if (n <= 0)
		abort(); /* the caller never asks for nothing */
	if (k > b->chunk)
		k = b->chunk;
	if (k > b->left)
		k = b->left;
	memcpy(buf, b->p, k);
	b->p += k;
	b->left -= k;
	return (int)k;
}

static char *param(const char *name, const char *value, size_t len)
{
	size_t n = strlen(name);
	char *s = malloc(n + 1 + len + 1);

	if (s == NULL)
		abort();
	memcpy(s, name, n);
	s[n] = '=';
	memcpy(s + n + 1, value, len);
	s[n + 1 + len] = '\0';
	return s;
}

static void use_request(struct request *req, struct response *res)
{
	static const char *const names[] = {"limit", "offset", "start_date", "end_date",
					    "unread", "status", "q", ""};
	static const char *const headers[] = {"Authorization", "X-Request-ID", "Origin",
					      "Idempotency-Key", "Content-Type",
					      "Content-Length", "Last-Event-ID", "X"};
	static const char *const choices[] = {"all", "read", "unread", NULL};
	const char *v;
	long l;
	bool b;
	int64_t t;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int rc = request_query(req, names[i], &v);
		if (rc == 1 && v == NULL)
			abort();
		if (rc < -1 || rc > 1)
			abort();
	}
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
		request_header(req, headers[i]);
	query_int(req, res, "limit", 50, 1, 200, &l);
	query_int(req, res, "offset", 0, 0, 1000000, &l);
	query_bool(req, res, "unread", false, &b);
	query_enum(req, res, "status", choices, "all", &v);
	query_time(req, res, "start_date", &t, &b);
	query_time(req, res, "end_date", &t, &b);
	if (request_query(req, "id", &v) == 1)
		query_uuid(res, "id", v);

	const struct route *route = NULL;
	char allow[128];
	int st = router_match(req, &route, allow, sizeof(allow));
	if (st == 0 && route == NULL)
		abort();
	for (int i = 0; i < req->nparams; i++)
		if (request_path_param(req, i) == NULL)
			abort();
	if (cors_preflight(req, res) == 0)
		cors_apply(req, res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct app app;
	char *env[MAX_PARAMS + 8];
	int n = 0;
	const char *piece;
	size_t len;

	if (size < 1)
		return 0;
	app.cfg = fuzz_config();
	uint8_t flags = data[0];
	data++;
	size--;

	static const char *const fixed[] = {"REQUEST_URI", "REQUEST_METHOD", "CONTENT_LENGTH",
					    "REMOTE_ADDR"};
	for (int i = 0; i < 4; i++) {
		if (!fuzz_next(&data, &size, 0, &piece, &len)) {
			piece = "";
			len = 0;
		}
		bool absent = (i == 1 && (flags & 4)) || (i == 2 && (flags & 1)) ||
			      (i == 3 && (flags & 2));
		if (!absent)
			env[n++] = param(fixed[i], piece, len);
	}
	if (flags & 8)
		env[n++] = param("PIXELCRAFT_INTERNAL", "1", 1);
	while (n < MAX_PARAMS && fuzz_next(&data, &size, 0, &piece, &len) && len > 0) {
		if (memchr(piece, '=', len) != NULL)
			env[n++] = fuzz_strndup(piece, len);
		else
			env[n++] = param("HTTP_X_FUZZ", piece, len);
	}
	env[n] = NULL;

	struct request req;
	struct response res;
	const char *why = NULL;
	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));

	int st = request_parse(&req, &app, env);
	if (st != 0 && st != 400 && st != 404 && st != 500)
		abort();
	struct body_src src = {data, size, 1 + (size_t)(flags >> 4) * 613};
	size_t max = (size_t)app.cfg->max_body_bytes;
	int bst = request_read_body(&req, max, body_read, &src, &why);
	if (bst != 0 && bst != 400 && bst != 413 && bst != 500)
		abort();
	if (bst != 0 && why == NULL)
		abort();
	if (bst == 0) {
		if (req.body_len > max || (req.body != NULL && req.body[req.body_len] != '\0'))
			abort();
		if (req.body_len > 0 && memcmp(req.body, data, req.body_len) != 0)
			abort(); /* the body is what was sent */
	}
	if (st == 0 && bst == 0)
		use_request(&req, &res);
	else
		response_error(&res, st ? st : bst, "%s", why ? why : "Malformed request path");

	size_t out_len = 0;
	int status = st ? st : bst ? bst : res.detail[0] ? 400 : 200;
	char *out = response_render(&res, &req, status, req.method == HTTP_HEAD, &out_len);
	if (out != NULL && (out_len == 0 || memchr(out, '\n', out_len) == NULL))
		abort();
	free(out);
	response_free(&res);
	request_free(&req);
	for (int i = 0; i < n; i++)
		free(env[i]);
	return 0;
}
