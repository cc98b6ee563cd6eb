/* Unit tests for request: path decoding, query, ids, client address, body. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "request.h"

static struct config cfg;
static struct app app = {.cfg = &cfg};

static int parse(struct request *req, const char *uri, const char *extra)
{
	static char envbuf[8][256];
	static char *env[9];
	int n = 0;

	snprintf(envbuf[n], sizeof(envbuf[0]), "REQUEST_URI=%s", uri);
	env[n] = envbuf[n];
	n++;
	snprintf(envbuf[n], sizeof(envbuf[0]), "REQUEST_METHOD=GET");
	env[n] = envbuf[n];
	n++;
	snprintf(envbuf[n], sizeof(envbuf[0]), "REMOTE_ADDR=10.1.2.3");
	env[n] = envbuf[n];
	n++;
	if (extra != NULL) {
		snprintf(envbuf[n], sizeof(envbuf[0]), "%s", extra);
		env[n] = envbuf[n];
		n++;
	}
	env[n] = NULL;
	memset(req, 0, sizeof(*req));
	return request_parse(req, &app, env);
}

Test(request, paths_are_split_then_decoded)
{
	struct request req;

	cr_assert_eq(parse(&req, "/api/models/mis%74ral?x=1", NULL), 0);
	cr_assert_eq(req.nsegs, 3);
	cr_assert_str_eq(req.segs[2], "mistral");
	cr_assert_str_eq(req.query, "x=1");
	cr_assert_str_eq(req.raw_path, "/api/models/mis%74ral");
	request_free(&req);

	cr_assert_eq(parse(&req, "/api/a%2Fb", NULL), 0);
	cr_assert_eq(req.nsegs, 2, "an encoded slash stays inside its segment");
	cr_assert_str_eq(req.segs[1], "a/b");
	request_free(&req);

	cr_assert_eq(parse(&req, "/health/", NULL), 0);
	cr_assert_eq(req.nsegs, 1, "one trailing slash ignored");
	request_free(&req);
}

Test(request, tricks_are_refused)
{
	static const char *const bad[] = {"/a/../b", "/a/%2e%2e/b", "/a/%2E%2e", "/a/./b",
					  "/a%00b", "/a/%zz", "/a/%4", "relative"};
	struct request req;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(parse(&req, bad[i], NULL), 400, "%s accepted", bad[i]);
		request_free(&req);
	}
}

Test(request, query_parameters)
{
	struct request req;
	const char *v = NULL;

	parse(&req, "/x?limit=10&q=a+b%21&empty=&flag&dup=1&dup=2", NULL);
	cr_assert_eq(request_query(&req, "limit", &v), 1);
	cr_assert_str_eq(v, "10");
	cr_assert_eq(request_query(&req, "q", &v), 1);
	cr_assert_str_eq(v, "a b!");
	cr_assert_eq(request_query(&req, "empty", &v), 1);
	cr_assert_str_eq(v, "");
	cr_assert_eq(request_query(&req, "flag", &v), 1);
	cr_assert_eq(request_query(&req, "missing", &v), 0);
	cr_assert_eq(request_query(&req, "dup", &v), -1, "ambiguous");
	request_free(&req);
	parse(&req, "/x?a=%zz", NULL);
	cr_assert_eq(request_query(&req, "a", &v), -1);
	request_free(&req);
}

Test(request, request_id_echo_or_generate)
{
	struct request req;

	parse(&req, "/x", "HTTP_X_REQUEST_ID=abc-123.x");
	cr_assert_str_eq(req.id, "abc-123.x");
	request_free(&req);
	parse(&req, "/x", "HTTP_X_CORRELATION_ID=corr_1");
	cr_assert_str_eq(req.id, "corr_1");
	request_free(&req);
	parse(&req, "/x", "HTTP_X_REQUEST_ID=bad id<script>");
	cr_assert_eq(strlen(req.id), 36, "generated: %s", req.id);
	cr_assert_eq(req.id[14], '4', "version 4 UUID");
	request_free(&req);
}

Test(request, forwarded_for_only_from_trusted_proxies)
{
	struct request req;
	struct config_cidr proxies[1] = {{.family = AF_INET, .prefix = 8}};

	inet_pton(AF_INET, "10.0.0.0", proxies[0].addr);
	parse(&req, "/x", "HTTP_X_FORWARDED_FOR=1.2.3.4");
	cr_assert_str_eq(req.client_ip, "10.1.2.3", "untrusted peer: header ignored");
	request_free(&req);

	cfg.trusted_proxies = proxies;
	cfg.trusted_proxy_count = 1;
	parse(&req, "/x", "HTTP_X_FORWARDED_FOR=6.6.6.6, 1.2.3.4, 10.9.9.9");
	cr_assert_str_eq(req.client_ip, "1.2.3.4", "right-most untrusted hop");
	request_free(&req);
	parse(&req, "/x", "HTTP_X_FORWARDED_FOR=garbage");
	cr_assert_str_eq(req.client_ip, "10.1.2.3");
	request_free(&req);
	cfg.trusted_proxies = NULL;
	cfg.trusted_proxy_count = 0;
}

struct source {
	const char *data;
	size_t len, pos;
};

static int src_read(void *arg, char *buf, int n)
{
	struct source *s = arg;
	size_t left = s->len - s->pos;
	size_t take = left < (size_t)n ? left : (size_t)n;
	memcpy(buf, s->data + s->pos, take);
	s->pos += take;
	return (int)take;
}

static int body(const char *cl, const char *data, size_t max, struct request *req)
{
	char extra[64];
	const char *why = NULL;
	struct source s = {data, strlen(data), 0};

	snprintf(extra, sizeof(extra), "CONTENT_LENGTH=%s", cl);
	parse(req, "/x", cl ? extra : NULL);
	int st = request_read_body(req, max, src_read, &s, &why);
	cr_assert_eq(s.pos, s.len, "body fully read even when refused");
	return st;
}

Test(request, body_against_content_length)
{
	struct request req;

	cr_assert_eq(body("5", "hello", 100, &req), 0);
	cr_assert_str_eq(req.body, "hello");
	request_free(&req);
	cr_assert_eq(body("6", "hello", 100, &req), 400, "shorter than announced");
	request_free(&req);
	cr_assert_eq(body("4", "hello", 100, &req), 400, "longer than announced");
	request_free(&req);
	cr_assert_eq(body("abc", "", 100, &req), 400);
	request_free(&req);
	cr_assert_eq(body("200", "x", 100, &req), 413);
	request_free(&req);
	cr_assert_eq(body(NULL, "0123456789", 5, &req), 413, "no length, too much data");
	request_free(&req);
}
