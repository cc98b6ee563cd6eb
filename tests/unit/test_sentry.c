/* Unit tests for sentry: DSN parsing, its validation as configuration, the envelope. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "request.h"
#include "router.h"
#include "sentry.h"

Test(sentry, dsn_parse_valid)
{
	static const struct {
		const char *dsn, *url, *key, *project;
	} ok[] = {
	    {"https://abc123@o1.ingest.sentry.io/42",
	     "https://o1.ingest.sentry.io/api/42/envelope/", "abc123", "42"},
	    {"http://testkey@127.0.0.1:9000/42", "http://127.0.0.1:9000/api/42/envelope/",
	     "testkey", "42"},
	    {"https://0123456789abcdef0123456789abcdef@sentry.example.com/7",
	     "https://sentry.example.com/api/7/envelope/", "0123456789abcdef0123456789abcdef", "7"},
	    {"http://k@[::1]:8000/1", "http://[::1]:8000/api/1/envelope/", "k", "1"},
	    {"https://k@example.com/sentry/prefix/123",
	     "https://example.com/sentry/prefix/api/123/envelope/", "k", "123"},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct sentry_dsn d;
		cr_assert_eq(sentry_dsn_parse(ok[i].dsn, &d), 0, "%s", ok[i].dsn);
		cr_assert_str_eq(d.url, ok[i].url, "%s", ok[i].dsn);
		cr_assert_str_eq(d.key, ok[i].key, "%s", ok[i].dsn);
		cr_assert_str_eq(d.project, ok[i].project, "%s", ok[i].dsn);
	}
}

Test(sentry, dsn_parse_invalid)
{
	static const char *const bad[] = {
	    "",
	    "sentry.io/42",
	    "ftp://key@host/42",
	    "https://host/42",		  /* no key */
	    "https://@host/42",		  /* empty key */
	    "https://key:secret@host/42", /* legacy secret */
	    "https://ke y@host/42",
	    "https://key@/42",		/* no host */
	    "https://key@host",		/* no project */
	    "https://key@host/",	/* empty project */
	    "https://key@host/abc",	/* project not a number */
	    "https://key@host/42?x=1",	/* query */
	    "https://key@host/42#frag", /* fragment */
	    "https://key@host:0/42",	/* port out of range */
	    "https://key@host:65536/42",
	    "https://key@host:/42",
	    "https://key@host:8x/42",
	    "https://key@ho_st/42",
	    "https://key@host//42",
	    "https://key@[zz]/42",
	    "https://key@host/42/",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sentry_dsn d;
		cr_assert_eq(sentry_dsn_parse(bad[i], &d), -1, "accepted %s", bad[i]);
	}
	struct sentry_dsn d;
	cr_assert_eq(sentry_dsn_parse(NULL, &d), -1);
}

static void base_env(void)
{
	clearenv();
	setenv("DATABASE_URL", "postgresql://app:s3cret@127.0.0.1:5432/pixelcraft", 1);
	setenv("REDIS_URL", "redis://:pw@127.0.0.1:6379/2", 1);
	setenv("SUPABASE_JWT_SECRET", "0123456789abcdef0123456789abcdef", 1);
}

Test(sentry, config_validation)
{
	struct config cfg;
	struct config_error *errs = NULL;
	int n = 0;

	/* off by default */
	base_env();
	cr_assert_eq(config_load(&cfg, &errs, &n), 0);
	cr_assert_null(cfg.sentry_dsn);
	cr_assert_str_eq(cfg.sentry_environment, "production");
	cr_assert_null(sentry_open(&cfg, "v1"), "no DSN: reporting off");
	config_errors_free(errs, n);
	config_free(&cfg);

	/* a valid DSN and environment */
	setenv("SENTRY_DSN", "https://abc123@o1.ingest.sentry.io/42", 1);
	setenv("SENTRY_ENVIRONMENT", "staging", 1);
	cr_assert_eq(config_load(&cfg, &errs, &n), 0);
	cr_assert_str_eq(cfg.sentry_dsn, "https://abc123@o1.ingest.sentry.io/42");
	cr_assert_str_eq(cfg.sentry_environment, "staging");
	struct sentry *s = sentry_open(&cfg, "v1");
	cr_assert_not_null(s);
	sentry_close(s);
	config_errors_free(errs, n);
	config_free(&cfg);

	/* a malformed one stops the worker: one error naming the variable, key masked */
	setenv("SENTRY_DSN", "https://abc123:secret@o1.ingest.sentry.io/42", 1);
	unsetenv("SENTRY_ENVIRONMENT");
	cr_assert_eq(config_load(&cfg, &errs, &n), -1);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(errs[0].name, "SENTRY_DSN");
	cr_assert(strstr(errs[0].message, "PUBLIC_KEY@HOST") != NULL, "%s", errs[0].message);
	cr_assert(strstr(errs[0].message, "https://***@o1.ingest.sentry.io/42") != NULL, "%s",
		  errs[0].message);
	cr_assert(strstr(errs[0].message, "abc123") == NULL, "key shown: %s", errs[0].message);
	config_errors_free(errs, n);
	config_free(&cfg);

	/* an empty environment is not allowed */
	setenv("SENTRY_DSN", "", 1);
	setenv("SENTRY_ENVIRONMENT", "", 1);
	cr_assert_eq(config_load(&cfg, &errs, &n), -1);
	cr_assert_str_eq(errs[0].name, "SENTRY_ENVIRONMENT");
	config_errors_free(errs, n);
	config_free(&cfg);
}

static int no_handler(struct request *req, struct response *res)
{
	(void)req;
	(void)res;
	return 500;
}

static bool is_hex32(const char *s)
{
	if (strlen(s) != 32)
		return false;
	for (int i = 0; i < 32; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

static struct json_object *parse_n(const char *s, size_t n)
{
	char *copy = strndup(s, n);
	struct json_object *o = json_tokener_parse(copy);
	free(copy);
	return o;
}

static const char *str_at(struct json_object *o, const char *a, const char *b)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(o, a, &v))
		return NULL;
	if (b != NULL && !json_object_object_get_ex(v, b, &v))
		return NULL;
	return json_object_get_string(v);
}

Test(sentry, envelope_shape)
{
	struct config cfg;
	struct route route = ROUTE(HTTP_GET, "/api/chat/history/{conversation_id}", no_handler,
				   ROUTE_AUTH_OPTIONAL, ROUTE_LIMIT_DEFAULT);
	struct request req;

	memset(&cfg, 0, sizeof(cfg));
	cfg.sentry_dsn = "http://testkey@127.0.0.1:9/42";
	cfg.sentry_environment = "test";
	struct sentry *s = sentry_open(&cfg, "1.2.3");
	cr_assert_not_null(s);
	memset(&req, 0, sizeof(req));
	req.method = HTTP_GET;
	req.method_name = "GET";
	req.raw_path = "/api/chat/history/6b1c7a52-3a0f-4c43-9d0a-8f1f7b9d2e11";
	req.query = "token=secret";
	snprintf(req.id, sizeof(req.id), "req-123");
	snprintf(req.client_ip, sizeof(req.client_ip), "203.0.113.9");
	req.route = &route;
	req.user.known = true;
	snprintf(req.user.id, sizeof(req.user.id), "0f0e0d0c-0000-4000-8000-000000000001");
	snprintf(req.user.email, sizeof(req.user.email), "ana@example.com");

	char *env =
	    sentry_envelope(s, &req, 503, "Redis is unavailable, retry later", 4, 1700000000123LL);
	cr_assert_not_null(env);
	/* three lines, each JSON, each ending in a newline */
	char *l1 = env, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
	cr_assert_eq(env[strlen(env) - 1], '\n');
	cr_assert_eq(strchr(l3, '\n'), env + strlen(env) - 1, "exactly three lines");
	struct json_object *head = parse_n(l1, (size_t)(l2 - l1 - 1));
	struct json_object *item = parse_n(l2, (size_t)(l3 - l2 - 1));
	size_t plen = strlen(l3) - 1;
	struct json_object *ev = parse_n(l3, plen);
	cr_assert(head && item && ev, "%s", env);

	cr_assert(is_hex32(str_at(head, "event_id", NULL)));
	cr_assert_str_eq(str_at(head, "event_id", NULL), str_at(ev, "event_id", NULL));
	cr_assert_str_eq(str_at(head, "dsn", NULL), "http://testkey@127.0.0.1:9/42");
	cr_assert_not_null(str_at(head, "sent_at", NULL));
	cr_assert_str_eq(str_at(item, "type", NULL), "event");
	cr_assert_str_eq(str_at(item, "content_type", NULL), "application/json");
	struct json_object *len;
	cr_assert(json_object_object_get_ex(item, "length", &len));
	cr_assert_eq((size_t)json_object_get_int64(len), plen, "length is the payload's bytes");

	cr_assert_str_eq(str_at(ev, "timestamp", NULL), "2023-11-14T22:13:20.123Z");
	cr_assert_str_eq(str_at(ev, "platform", NULL), "c");
	cr_assert_str_eq(str_at(ev, "level", NULL), "error");
	cr_assert_str_eq(str_at(ev, "logger", NULL), "pixelcraft-api");
	cr_assert_str_eq(str_at(ev, "release", NULL), "1.2.3");
	cr_assert_str_eq(str_at(ev, "environment", NULL), "test");
	cr_assert_gt(strlen(str_at(ev, "server_name", NULL)), 0);
	cr_assert_str_eq(str_at(ev, "message", "formatted"),
			 "GET /api/chat/history/{conversation_id} -> 503: Redis is unavailable, "
			 "retry later");
	cr_assert_str_eq(str_at(ev, "tags", "route"), "/api/chat/history/{conversation_id}");
	cr_assert_str_eq(str_at(ev, "tags", "status"), "503");
	cr_assert_str_eq(str_at(ev, "tags", "method"), "GET");
	cr_assert_str_eq(str_at(ev, "tags", "request_id"), "req-123");
	cr_assert_str_eq(str_at(ev, "request", "method"), "GET");
	cr_assert_str_eq(str_at(ev, "request", "url"), "/api/chat/history/{conversation_id}");
	cr_assert_str_eq(str_at(ev, "extra", "suppressed"), "4");
	cr_assert_null(str_at(ev, "user", NULL));
	/* nothing of the request beyond the pattern, the method and the id */
	static const char *const never[] = {"6b1c7a52",	   "token",    "secret",
					    "203.0.113.9", "0f0e0d0c", "ana@example.com"};
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		cr_assert_null(strstr(env, never[i]), "%s in %s", never[i], env);

	/* no route, no detail: the reason phrase, and no url */
	req.route = NULL;
	req.method = HTTP_OTHER;
	req.method_name = "BREW";
	char *env2 = sentry_envelope(s, &req, 500, "", 0, 1700000000123LL);
	cr_assert(
	    strstr(env2, "\"formatted\":\"OTHER (no route) -> 500: Internal Server Error\"") !=
		NULL,
	    "%s", env2);
	cr_assert_null(strstr(env2, "\"url\""));
	cr_assert_null(strstr(env2, "BREW"));
	free(env2);
	free(env);
	json_object_put(head);
	json_object_put(item);
	json_object_put(ev);
	sentry_close(s);
}

Test(sentry, off_is_a_no_op)
{
	struct request req;

	memset(&req, 0, sizeof(req));
	sentry_report(NULL, &req, 500, "x");
	sentry_close(NULL);
	cr_assert_null(sentry_envelope(NULL, &req, 500, "x", 0, 0));
}
