/*
 * Integration: error reporting to Sentry. A host of its own runs with
 * SENTRY_DSN pointing at the stub LLM server, which also stands in for
 * Sentry's envelope endpoint and keeps what it receives; the main test stack
 * runs without SENTRY_DSN (off).
 *
 * Each test starts a fresh host (a worker remembers what it sent for 60 s)
 * with one worker per pool, so "one event per (route, status) per worker"
 * is "one event" here.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const char *const tags[] = {"tinyllama:1.1b", "mistral:7b", "glm4:9b"};

static void stub_clean(void)
{
	stack("stub-start", NULL);
	stub_control("/_stub/reset", "{}");
	stub_control("/_stub/tags", "{\"fail\":false,\"hide\":[]}");
	/* no circuit left open (the failing models open theirs) */
	free(run_capture("redis-cli -p $REDIS_PORT -a $REDIS_PASSWORD --no-auth-warning "
			 "--scan --pattern 'pc:cb:*' | xargs -r redis-cli -p $REDIS_PORT -a "
			 "$REDIS_PASSWORD --no-auth-warning del",
			 NULL));
}

TestSuite(sentry, .init = stub_clean, .fini = stub_clean, .timeout = 120);

/* A host sharing the stack's Postgres, Redis and stub, reporting to the stub,
 * with one worker per pool so per-worker limits are exact. */
static const char *sentry_host(char *dir, size_t dirlen)
{
	char env[256];

	snprintf(env, sizeof(env), "SENTRY_DSN=http://testkey@127.0.0.1:%s/42 SENTRY_ENVIRONMENT=test",
		 need_env("STUB_PORT"));
	return host_up(3, env, 1, 1, dir, dirlen);
}

/* The envelopes the stub has received since the last reset (caller puts). */
static struct json_object *envelopes(void)
{
	char base[128];
	snprintf(base, sizeof(base), "http://127.0.0.1:%s", need_env("STUB_PORT"));
	struct http *r = http_do_at(base, "GET", "/_stub/envelopes", NULL, NULL);
	cr_assert_eq(r->status, 200);
	struct json_object *o = NULL;
	cr_assert(json_object_object_get_ex(r->json, "envelopes", &o), "%s", r->body);
	o = json_object_get(o);
	http_free(r);
	return o;
}

static size_t envelope_count(void)
{
	struct json_object *e = envelopes();
	size_t n = json_object_array_length(e);
	json_object_put(e);
	return n;
}

/* Waits up to timeout_ms for at least n envelopes, then a little for more. */
static size_t wait_envelopes(size_t n, int timeout_ms)
{
	double end = now_ms() + timeout_ms;
	while (envelope_count() < n && now_ms() < end)
		usleep(20000);
	usleep(300000); /* anything else already on its way */
	return envelope_count();
}

static void models_fail(void)
{
	for (int i = 0; i < 3; i++)
		stub_control("/_stub/model", "{\"model\":\"%s\",\"mode\":\"fail\"}", tags[i]);
}

/* A chat message to host with a token and a request id; the response. */
static struct http *chat_at(const char *host, const char *token, const char *request_id,
			    const char *body)
{
	char rid[128];
	const char *h[3] = {bearer(0, token), rid, NULL};
	snprintf(rid, sizeof(rid), "X-Request-ID: %s", request_id);
	return http_do_at(host, "POST", "/api/chat/message", body, h);
}

/* Splits an envelope body into its three lines, parsed; fails unless exactly three. */
static void envelope_lines(const char *body, struct json_object *line[3])
{
	const char *p = body;
	for (int i = 0; i < 3; i++) {
		const char *nl = strchr(p, '\n');
		cr_assert_not_null(nl, "line %d has no newline: %s", i + 1, body);
		char *copy = strndup(p, (size_t)(nl - p));
		line[i] = json_tokener_parse(copy);
		cr_assert_not_null(line[i], "line %d is not JSON: %s", i + 1, copy);
		cr_assert(json_object_is_type(line[i], json_type_object));
		free(copy);
		p = nl + 1;
	}
	cr_assert_str_eq(p, "", "more than three lines: %s", body);
}

Test(sentry, a_5xx_sends_one_event_without_personal_data)
{
	char dir[256], sub[37], cid[64], rid[64];
	const char *host = sentry_host(dir, sizeof(dir));
	char *token = user_token(NULL, sub, 600);
	const char *secret_text = "my private plan zebra-7731";

	/* a conversation that exists, so its id is sent with the failing message */
	struct http *r = chat_at(host, token, "sentry-first", "{\"message\":\"hello\"}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	snprintf(cid, sizeof(cid), "%s", json_str(r->json, "conversation_id"));
	http_free(r);
	cr_assert_eq(wait_envelopes(1, 300), 0, "a 200 sends nothing");

	models_fail();
	snprintf(rid, sizeof(rid), "sentry-test-%d", (int)getpid());
	char body[512];
	snprintf(body, sizeof(body), "{\"message\":\"%s\",\"conversation_id\":\"%s\"}", secret_text,
		 cid);
	r = chat_at(host, token, rid, body);
	cr_assert_eq(r->status, 503, "%s", r->body);
	cr_assert_lt(r->seconds, 1.0, "the answer does not wait for Sentry");
	http_free(r);

	cr_assert_eq(wait_envelopes(1, 3000), 1, "exactly one envelope");
	struct json_object *all = envelopes(), *e = json_object_array_get_idx(all, 0);
	const char *env = json_str(e, "body");
	cr_log_info("envelope: %s", env);
	cr_assert_str_eq(json_str(e, "url"), "/api/42/envelope/");
	cr_assert_str_eq(json_str(e, "content_type"), "application/x-sentry-envelope");
	const char *auth = json_str(e, "auth");
	const char *prefix = "Sentry sentry_version=7, sentry_key=testkey, "
			     "sentry_client=pixelcraft-api/";
	cr_assert(strncmp(auth, prefix, strlen(prefix)) == 0, "auth: %s", auth);

	struct json_object *line[3];
	envelope_lines(env, line);
	const char *event_id = json_str(line[0], "event_id");
	cr_assert_eq(strlen(event_id), 32, "event_id: %s", event_id);
	cr_assert_eq(strspn(event_id, "0123456789abcdef"), 32, "event_id: %s", event_id);
	cr_assert_gt(strlen(json_str(line[0], "sent_at")), 0);
	cr_assert_str_eq(json_str(line[1], "type"), "event");
	cr_assert_str_eq(json_str(line[2], "event_id"), event_id);
	cr_assert_str_eq(json_str(line[2], "level"), "error");
	cr_assert_str_eq(json_str(line[2], "platform"), "c");
	cr_assert_str_eq(json_str(line[2], "logger"), "pixelcraft-api");
	cr_assert_str_eq(json_str(line[2], "environment"), "test");
	cr_assert_str_eq(auth + strlen(prefix), json_str(line[2], "release"));
	cr_assert_str_eq(json_str(line[2], "tags.route"), "/api/chat/message");
	cr_assert_str_eq(json_str(line[2], "tags.status"), "503");
	cr_assert_str_eq(json_str(line[2], "tags.method"), "POST");
	cr_assert_str_eq(json_str(line[2], "tags.request_id"), rid);
	cr_assert_str_eq(json_str(line[2], "request.url"), "/api/chat/message");
	cr_assert_str_eq(json_str(line[2], "request.method"), "POST");
	const char *msg = json_str(line[2], "message.formatted");
	cr_assert(strncmp(msg, "POST /api/chat/message -> 503: No model", 39) == 0, "%s", msg);
	cr_assert_eq(json_object_get_int(json_at(line[2], "extra.suppressed")), 0);

	/* nothing the client sent, nor who the client is */
	const char *never[] = {secret_text, "zebra", token, cid, sub, "Bearer"};
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		cr_assert_null(strstr(env, never[i]), "\"%s\" is in the envelope", never[i]);
	cr_assert_null(json_at(line[2], "user"));
	for (int i = 0; i < 3; i++)
		json_object_put(line[i]);
	json_object_put(all);
	free(token);
	host_down(dir);
}

Test(sentry, client_errors_send_nothing)
{
	char dir[256];
	const char *host = sentry_host(dir, sizeof(dir));
	char *token = user_token(NULL, NULL, 600);
	const char *bad_token[] = {"Authorization: Bearer not.a.token", NULL};

	struct http *r = chat_at(host, token, "sentry-422", "{\"message\":12}");
	cr_assert_eq(r->status, 422, "%s", r->body);
	http_free(r);
	r = chat_at(host, token, "sentry-400", "{\"message\":");
	cr_assert_eq(r->status, 400, "%s", r->body);
	http_free(r);
	r = http_do_at(host, "GET", "/api/no/such/route", NULL, NULL);
	cr_assert_eq(r->status, 404);
	http_free(r);
	r = http_do_at(host, "GET", "/api/me", NULL, bad_token);
	cr_assert_eq(r->status, 401);
	http_free(r);
	r = http_do_at(host, "DELETE", "/health/live", NULL, NULL);
	cr_assert_eq(r->status, 405);
	http_free(r);
	cr_assert_eq(wait_envelopes(1, 1000), 0, "4xx answers are not reported");
	free(token);
	host_down(dir);
}

Test(sentry, repeated_5xx_within_a_minute_send_one)
{
	char dir[256];
	const char *host = sentry_host(dir, sizeof(dir));
	char *token = user_token(NULL, NULL, 600);

	models_fail();
	for (int i = 0; i < 6; i++) {
		char rid[32];
		snprintf(rid, sizeof(rid), "sentry-repeat-%d", i);
		struct http *r = chat_at(host, token, rid, "{\"message\":\"again\"}");
		cr_assert_eq(r->status, 503, "%s", r->body);
		http_free(r);
	}
	cr_assert_eq(wait_envelopes(2, 1500), 1, "one event for six identical 5xx");
	struct json_object *all = envelopes(), *line[3];
	envelope_lines(json_str(json_object_array_get_idx(all, 0), "body"), line);
	cr_assert_str_eq(json_str(line[2], "tags.request_id"), "sentry-repeat-0", "the first");
	for (int i = 0; i < 3; i++)
		json_object_put(line[i]);
	json_object_put(all);
	free(token);
	host_down(dir);
}

/* A failing or silent Sentry costs the client nothing and is logged once. */
Test(sentry, a_dead_sentry_is_logged_and_costs_little)
{
	char dir[256], cmd[512];
	const char *host = sentry_host(dir, sizeof(dir));
	char *token = user_token(NULL, NULL, 600);

	stub_control("/_stub/sentry", "{\"mode\":\"hang\"}");
	models_fail();
	struct http *r = chat_at(host, token, "sentry-hang", "{\"message\":\"anyone?\"}");
	cr_assert_eq(r->status, 503, "%s", r->body);
	/* waiting for Sentry would cost its send timeout (1 s) */
	cr_assert_lt(r->seconds, 1.0,
		     "answered in %.2f s although Sentry hangs", r->seconds);
	http_free(r);
	/* the single chat worker gives up on Sentry after 1 s, then serves again */
	double t0 = now_ms();
	r = chat_at(host, token, "sentry-after", "{\"message\":12}");
	cr_assert_eq(r->status, 422, "%s", r->body);
	http_free(r);
	double waited = (now_ms() - t0) / 1000.0;
	cr_log_info("next request on the same worker after %.2f s (Sentry deadline 1 s)", waited);
	cr_assert_lt(waited, 5.0, "the worker still waits for the hanging Sentry");
	snprintf(cmd, sizeof(cmd),
		 "grep '\"event\":\"sentry_send_failed\"' %s/log/api.log | grep -c "
		 "'\"request_id\":\"sentry-hang\"'",
		 dir);
	char *n = run_capture(cmd, NULL);
	cr_assert_eq(atoi(n), 1, "the failed send is logged once: %s", n);
	free(n);
	cr_assert_eq(envelope_count(), 1, "and not retried");
	stub_control("/_stub/sentry", "{\"mode\":\"ok\"}");
	free(token);
	host_down(dir);
}
