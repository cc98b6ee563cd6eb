/*
 * Integration: the request layer through the front end (nginx or lighttpd):
 * errors, routing, body limits, request ids, CORS.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Every error is JSON with detail and request_id, and the id is the header's. */
static void assert_error_shape(const struct http *r, long status)
{
	cr_assert_eq(r->status, status, "status %ld, body %s", r->status, r->body);
	cr_assert_not_null(r->json, "not JSON: %s", r->body);
	cr_assert(strlen(json_str(r->json, "detail")) > 0, "%s", r->body);
	const char *hid = http_header(r, "X-Request-ID");
	cr_assert_not_null(hid, "X-Request-ID missing");
	cr_assert_str_eq(json_str(r->json, "request_id"), hid);
	const char *ct = http_header(r, "Content-Type");
	cr_assert(ct && strncmp(ct, "application/json", 16) == 0, "content type %s", ct);
}

Test(http, unknown_path_is_404)
{
	struct http *r = http_get("/api/does-not-exist");
	assert_error_shape(r, 404);
	http_free(r);
}

Test(http, wrong_method_is_405_with_allow)
{
	struct http *r = http_do("POST", "/health/live", "{}", NULL);
	assert_error_shape(r, 405);
	cr_assert_str_eq(http_header(r, "Allow"), "GET, HEAD, OPTIONS");
	http_free(r);
	r = http_do("DELETE", "/health", NULL, NULL);
	assert_error_shape(r, 405);
	http_free(r);
}

Test(http, head_has_no_body)
{
	struct http *r = http_do("HEAD", "/health/live", NULL, NULL);
	cr_assert_eq(r->status, 200);
	cr_assert_eq(r->len, 0);
	http_free(r);
}

Test(http, path_tricks_are_400)
{
	const char *bad[] = {"/health/%2e%2e/live", "/health/%2E%2E", "/api/a%zz"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct http *r = http_get(bad[i]);
		cr_assert_eq(r->status, 400, "%s gave %ld", bad[i], r->status);
		cr_assert_not_null(r->json, "%s: %s", bad[i], r->body);
		http_free(r);
	}
}

Test(http, oversized_body_is_413)
{
	size_t n = (size_t)atoi(need_env("MAX_BODY_BYTES")) + 1000;
	char *big = malloc(n + 1);
	memset(big, 'a', n);
	big[0] = '"';
	big[n - 1] = '"';
	big[n] = '\0';
	struct http *r = http_do("POST", "/health/live", big, NULL);
	assert_error_shape(r, 413);
	http_free(r);
	free(big);
	/* the pool still answers afterwards */
	r = http_get("/health/live");
	cr_assert_eq(r->status, 200);
	http_free(r);
}

Test(http, request_id_is_echoed_or_generated)
{
	const char *h1[] = {"X-Request-ID: client-id-42", NULL};
	struct http *r = http_do("GET", "/health/live", NULL, h1);
	cr_assert_str_eq(http_header(r, "X-Request-ID"), "client-id-42");
	http_free(r);

	const char *h2[] = {"X-Correlation-ID: corr.7", NULL};
	r = http_do("GET", "/health/live", NULL, h2);
	cr_assert_str_eq(http_header(r, "X-Request-ID"), "corr.7");
	http_free(r);

	r = http_get("/health/live");
	const char *a = http_header(r, "X-Request-ID");
	cr_assert(a && strlen(a) >= 16, "generated id %s", a);
	char first[128];
	snprintf(first, sizeof(first), "%s", a);
	http_free(r);
	r = http_get("/health/live");
	cr_assert_str_neq(http_header(r, "X-Request-ID"), first, "ids are unique");
	http_free(r);

	const char *h3[] = {"X-Request-ID: bad id\"<script>", NULL};
	r = http_do("GET", "/health/live", NULL, h3);
	cr_assert(strstr(http_header(r, "X-Request-ID"), "script") == NULL);
	http_free(r);
}

/* httpoxy: a client's Proxy header never reaches a worker (of either pool)
 * as HTTP_PROXY; the workers flag such a parameter in the request's log line
 * (test_fcgi.c shows the flag when the parameter does arrive). */
Test(http, proxy_header_never_reaches_the_workers)
{
	const char *paths[] = {"/api/models", "/api/chat/conversations"};
	for (int i = 0; i < 2; i++) {
		char id[64], hid[96];
		snprintf(id, sizeof(id), "httpoxy-%d-%d", (int)getpid(), i);
		snprintf(hid, sizeof(hid), "X-Request-ID: %s", id);
		const char *h[] = {"Proxy: http://127.0.0.1:9/", hid, NULL};
		struct http *r = http_do("GET", paths[i], NULL, h);
		cr_assert(r->status == 200 || r->status == 401, "%s: %ld", paths[i], r->status);
		http_free(r);
		char *line = access_log_line(id);
		cr_assert_null(strstr(line, "\"httpoxy\""), "%s reached the worker with HTTP_PROXY: %s",
			       paths[i], line);
		free(line);
	}
}

Test(http, security_headers)
{
	struct http *r = http_get("/health/live");
	cr_assert_str_eq(http_header(r, "X-Content-Type-Options"), "nosniff");
	cr_assert_str_eq(http_header(r, "X-Frame-Options"), "DENY");
	cr_assert_str_eq(http_header(r, "Cache-Control"), "no-store");
	cr_assert_not_null(http_header(r, "Content-Security-Policy"));
	http_free(r);
}

Test(http, cors_preflight_allowed_origin)
{
	const char *h[] = {"Origin: http://localhost:5173", "Access-Control-Request-Method: GET",
			   "Access-Control-Request-Headers: authorization, content-type", NULL};
	struct http *r = http_do("OPTIONS", "/health", NULL, h);
	cr_assert_eq(r->status, 204, "%s", r->body);
	cr_assert_str_eq(http_header(r, "Access-Control-Allow-Origin"), "http://localhost:5173");
	cr_assert_str_eq(http_header(r, "Access-Control-Allow-Credentials"), "true");
	cr_assert(strstr(http_header(r, "Access-Control-Allow-Methods"), "GET") != NULL);
	cr_assert(strstr(http_header(r, "Access-Control-Allow-Headers"), "Authorization") != NULL);
	cr_assert(strstr(http_header(r, "Vary"), "Origin") != NULL);
	http_free(r);

	/* the actual request carries the same origin back, never "*" */
	const char *h2[] = {"Origin: http://localhost:5173", NULL};
	r = http_do("GET", "/health/live", NULL, h2);
	cr_assert_str_eq(http_header(r, "Access-Control-Allow-Origin"), "http://localhost:5173");
	cr_assert(strstr(http_header(r, "Access-Control-Expose-Headers"), "X-Request-ID") != NULL);
	http_free(r);
}

Test(http, cors_preflight_denied)
{
	const char *h[] = {"Origin: https://evil.example", "Access-Control-Request-Method: GET", NULL};
	struct http *r = http_do("OPTIONS", "/health", NULL, h);
	assert_error_shape(r, 403);
	cr_assert_null(http_header(r, "Access-Control-Allow-Origin"));
	http_free(r);

	const char *h2[] = {"Origin: http://localhost:5173", "Access-Control-Request-Method: GET",
			    "Access-Control-Request-Headers: x-evil", NULL};
	r = http_do("OPTIONS", "/health", NULL, h2);
	cr_assert_eq(r->status, 403);
	http_free(r);

	const char *h3[] = {"Origin: https://evil.example", NULL};
	r = http_do("GET", "/health/live", NULL, h3);
	cr_assert_eq(r->status, 200);
	cr_assert_null(http_header(r, "Access-Control-Allow-Origin"));
	http_free(r);
}

Test(http, plain_options_lists_methods)
{
	struct http *r = http_do("OPTIONS", "/health/live", NULL, NULL);
	cr_assert_eq(r->status, 204);
	cr_assert_str_eq(http_header(r, "Allow"), "GET, HEAD, OPTIONS");
	http_free(r);
}
