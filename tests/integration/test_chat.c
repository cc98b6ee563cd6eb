/*
 * Integration: the chat routes end to end through the front end, with the
 * stub LLM standing in for Ollama.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* All three models healthy in the shared status (refreshed every second in tests). */
static bool all_healthy(void)
{
	struct http *r = http_get("/api/models/tasks/chat");
	bool ok = r->status == 200 &&
		  json_object_array_length(json_at(r->json, "recommended_models")) == 3;
	http_free(r);
	return ok;
}

static void stub_reset(void)
{
	stack("stub-start", NULL);
	stub_control("/_stub/reset", "{}");
	stub_control("/_stub/tags", "{\"fail\":false,\"hide\":[]}");
	/* no circuit left open by an earlier test */
	free(run_capture("redis-cli -p $REDIS_PORT -a $REDIS_PASSWORD --no-auth-warning "
			 "--scan --pattern 'pc:cb:*' | xargs -r redis-cli -p $REDIS_PORT -a "
			 "$REDIS_PASSWORD --no-auth-warning del",
			 NULL));
	wait_until(all_healthy, 5000);
}

TestSuite(chat, .init = stub_reset, .fini = stub_reset, .timeout = 180);

static bool is_uuid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++)
		if ((i == 8 || i == 13 || i == 18 || i == 23) != (s[i] == '-'))
			return false;
	return true;
}

Test(chat, message_shape)
{
	struct http *r = chat_post(NULL, NULL, "{\"message\":\"  Hello, who are you?  \"}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_str(r->json, "response"), "Echo: Hello, who are you?",
			 "trimmed message sent to the model");
	cr_assert(is_uuid(json_str(r->json, "conversation_id")));
	cr_assert(is_uuid(json_str(r->json, "message_id")));
	cr_assert(is_uuid(json_str(r->json, "user_message_id")));
	cr_assert_str_eq(json_str(r->json, "model_used"), "tinyllama");
	cr_assert_gt(json_object_get_int(json_at(r->json, "usage.prompt_tokens")), 0,
		     "the provider's counts");
	cr_assert_eq(json_object_get_int(json_at(r->json, "usage.completion_tokens")), 5);
	cr_assert_geq(json_object_get_int(json_at(r->json, "latency_ms")), 0);
	const char *ts = json_str(r->json, "timestamp");
	cr_assert(strlen(ts) >= 25 && ts[10] == 'T' && strstr(ts, "+00:00") != NULL,
		  "ISO 8601 with zone: %s", ts);
	cr_assert_not_null(http_header(r, "X-RateLimit-Limit"));
	http_free(r);
}

Test(chat, bad_bodies)
{
	static const struct {
		const char *body;
		long status;
		const char *field;
	} cases[] = {
		{"{\"message\":", 400, NULL},
		{"{\"message\":\"a\",\"message\":\"b\"}", 400, NULL},
		{"{\"message\":\"a\",\"context\":{\"x\":NaN}}", 400, NULL},
		{"[\"message\"]", 400, NULL},
		{"{}", 422, "message"},
		{"{\"message\":12}", 422, "message"},
		{"{\"message\":\"   \"}", 422, "message"},
		{"{\"message\":\"hi\",\"conversation_id\":\"not-a-uuid\"}", 422, "conversation_id"},
		{"{\"message\":\"hi\",\"conversation_id\":12}", 422, "conversation_id"},
		{"{\"message\":\"hi\",\"model\":\"gpt-4\"}", 422, "model"},
		{"{\"message\":\"hi\",\"context\":\"page=/pricing\"}", 422, "context"},
	};
	char *t = user_token(NULL, NULL, 600); /* (anonymous calls share one address budget) */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http *r = chat_post(t, NULL, "%s", cases[i].body);
		cr_assert_eq(r->status, cases[i].status, "%s: %ld %s", cases[i].body, r->status,
			     r->body);
		cr_assert(strlen(json_str(r->json, "detail")) > 0);
		cr_assert(strlen(json_str(r->json, "request_id")) > 0);
		if (cases[i].field != NULL)
			cr_assert_str_eq(json_str(r->json, "errors.0.field"), cases[i].field, "%s",
					 r->body);
		http_free(r);
	}
	/* 10,000 characters pass, 10,001 do not (counted in characters, not bytes) */
	char *big = malloc(30100);
	size_t n = (size_t)sprintf(big, "{\"message\":\"");
	for (int i = 0; i < 10000; i++) {
		big[n++] = '\xc3';
		big[n++] = '\xa9';
	}
	strcpy(big + n, "\"}");
	struct http *r = chat_post(t, NULL, "%s", big);
	cr_assert_eq(r->status, 200, "10000 characters: %ld", r->status);
	http_free(r);
	strcpy(big + n, "x\"}");
	r = chat_post(t, NULL, "%s", big);
	cr_assert_eq(r->status, 422);
	http_free(r);
	free(big);
	r = chat_post(t, "Idempotency-Key: has spaces", "{\"message\":\"hi\"}");
	cr_assert_eq(r->status, 422);
	cr_assert_str_eq(json_str(r->json, "errors.0.field"), "Idempotency-Key");
	http_free(r);
	free(t);
}

Test(chat, the_model_remembers_the_conversation)
{
	char *t = user_token(NULL, NULL, 600);
	struct http *r = chat_post(t, NULL, "{\"message\":\"My name is Ana.\"}");
	cr_assert_eq(r->status, 200);
	char cid[64];
	snprintf(cid, sizeof(cid), "%s", json_str(r->json, "conversation_id"));
	http_free(r);
	r = chat_post(t, NULL, "{\"message\":\"What is my name?\",\"conversation_id\":\"%s\"}",
		      cid);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_str(r->json, "conversation_id"), cid);
	http_free(r);
	/* what the stub received: system prompt, the first exchange, the new message */
	struct json_object *st = stub_stats(), *models, *m, *msgs;
	json_object_object_get_ex(st, "models", &models);
	json_object_object_get_ex(models, "tinyllama:1.1b", &m);
	msgs = json_at(m, "last_request.messages");
	cr_assert_eq(json_object_array_length(msgs), 4, "%s", json_object_to_json_string(msgs));
	cr_assert_str_eq(json_str(msgs, "0.role"), "system");
	cr_assert(strstr(json_str(msgs, "0.content"), "PixelCraft") != NULL);
	cr_assert_str_eq(json_str(msgs, "1.content"), "My name is Ana.");
	cr_assert_str_eq(json_str(msgs, "2.role"), "assistant");
	cr_assert_str_eq(json_str(msgs, "2.content"), "Echo: My name is Ana.");
	cr_assert_str_eq(json_str(msgs, "3.content"), "What is my name?");
	/* and every option of the model went along */
	const char *opts[] = {"temperature", "top_p", "top_k", "repeat_penalty", "num_ctx",
			      "num_predict"};
	for (int i = 0; i < 6; i++) {
		char path[64];
		snprintf(path, sizeof(path), "last_request.options.%s", opts[i]);
		cr_assert_not_null(json_at(m, path), "option %s not sent", opts[i]);
	}
	json_object_put(st);
	free(t);
}

Test(chat, requested_model_first)
{
	struct http *r = chat_post(NULL, NULL, "{\"message\":\"hi\",\"model\":\"glm4\"}");
	cr_assert_eq(r->status, 200);
	cr_assert_str_eq(json_str(r->json, "model_used"), "glm4");
	http_free(r);
}

Test(chat, fallback_to_the_next_model)
{
	stub_control("/_stub/model", "{\"model\":\"tinyllama:1.1b\",\"mode\":\"fail\"}");
	long before = stub_requests("tinyllama:1.1b");
	struct http *r = chat_post(NULL, NULL, "{\"message\":\"fall back please\"}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_str(r->json, "model_used"), "mistral");
	cr_assert_eq(stub_requests("tinyllama:1.1b"), before + 1, "the first model was tried");
	http_free(r);
	/* malformed replies count as failures too */
	stub_control("/_stub/model", "{\"model\":\"tinyllama:1.1b\",\"mode\":\"bad\"}");
	r = chat_post(NULL, NULL, "{\"message\":\"fall back again\"}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_str(r->json, "model_used"), "mistral");
	http_free(r);
}

Test(chat, all_models_fail_is_503_and_the_message_is_kept)
{
	const char *tags[] = {"tinyllama:1.1b", "mistral:7b", "glm4:9b"};
	for (int i = 0; i < 3; i++)
		stub_control("/_stub/model", "{\"model\":\"%s\",\"mode\":\"fail\"}", tags[i]);
	struct http *r = chat_post(NULL, NULL, "{\"message\":\"is anyone there?\"}");
	cr_assert_eq(r->status, 503, "%s", r->body);
	cr_assert_not_null(http_header(r, "Retry-After"));
	const char *cid = json_str(r->json, "conversation_id");
	cr_assert(is_uuid(cid), "%s", r->body);
	cr_assert(strstr(json_str(r->json, "detail"), "saved") != NULL);
	char path[128];
	snprintf(path, sizeof(path), "/api/chat/history/%s", cid);
	struct http *h = http_get(path);
	cr_assert_eq(h->status, 200, "%s", h->body);
	cr_assert_eq(json_object_array_length(h->json), 1);
	cr_assert_str_eq(json_str(h->json, "0.content"), "is anyone there?");
	cr_assert_str_eq(json_str(h->json, "0.role"), "user");
	http_free(h);
	http_free(r);
	usleep(200000);
	char *n = sql("SELECT count(*) FROM agent_logs WHERE conversation_id = '%s'"
		      " AND status = 'error' AND error LIKE 'http_error%%'", cid);
	cr_assert_str_eq(n, "1", "the failure is logged");
	free(n);
}

Test(chat, the_deadline_holds_when_models_hang)
{
	char dir[256];
	const char *base = host_up(2, "CHAT_DEADLINE_SECONDS=3", 2, 2, dir, sizeof(dir));
	const char *tags[] = {"tinyllama:1.1b", "mistral:7b", "glm4:9b"};
	for (int i = 0; i < 3; i++)
		stub_control("/_stub/model", "{\"model\":\"%s\",\"mode\":\"hang\"}", tags[i]);
	struct http *r = http_do_at(base, "POST", "/api/chat/message",
				    "{\"message\":\"hello?\"}", NULL);
	cr_log_info("all models hanging: %ld after %.2f s (deadline 3 s)", r->status, r->seconds);
	cr_assert_eq(r->status, 503, "%s", r->body);
	/* the models hang until reset: an answer well past the deadline is a hang */
	cr_assert(r->seconds >= 2.9 && r->seconds < 3 * 2, "answered after %.2f s", r->seconds);
	http_free(r);
	stub_control("/_stub/reset", "{}");
	host_down(dir);
}

Test(chat, idempotent_replay)
{
	char *t = user_token(NULL, NULL, 600);
	char key[64];
	snprintf(key, sizeof(key), "Idempotency-Key: k-%d-%ld", getpid(), (long)now_ms());
	long before = stub_requests("tinyllama:1.1b");
	struct http *a = chat_post(t, key, "{\"message\":\"only once please\"}");
	struct http *b = chat_post(t, key, "{\"message\":\"only once please\"}");
	cr_assert_eq(a->status, 200, "%s", a->body);
	cr_assert_eq(b->status, 200, "%s", b->body);
	cr_assert_str_eq(json_str(a->json, "message_id"), json_str(b->json, "message_id"));
	cr_assert_str_eq(json_str(a->json, "user_message_id"), json_str(b->json, "user_message_id"));
	cr_assert_str_eq(json_str(a->json, "response"), json_str(b->json, "response"));
	cr_assert_str_eq(http_header(b, "Idempotent-Replayed"), "true");
	cr_assert_eq(stub_requests("tinyllama:1.1b"), before + 1, "the model was called once");
	http_free(a);
	http_free(b);
	/* the same key from another caller is another message */
	char *t2 = user_token(NULL, NULL, 600);
	struct http *c = chat_post(t2, key, "{\"message\":\"only once please\"}");
	cr_assert_eq(c->status, 200);
	cr_assert_null(http_header(c, "Idempotent-Replayed"));
	http_free(c);
	free(t);
	free(t2);
}

struct concurrent {
	char token[2048];
	char key[96];
	long status[8];
	char message_id[8][64];
};

static void conc_build(int i, struct many_req *r, void *arg)
{
	struct concurrent *c = arg;
	(void)i;
	strcpy(r->method, "POST");
	strcpy(r->path, "/api/chat/message");
	strcpy(r->body, "{\"message\":\"two at once\"}");
	snprintf(r->headers[0], sizeof(r->headers[0]), "Authorization: Bearer %s", c->token);
	snprintf(r->headers[1], sizeof(r->headers[1]), "%s", c->key);
}

static void conc_done(int i, long status, const char *body, double ms, void *arg)
{
	struct concurrent *c = arg;
	struct json_object *o = json_tokener_parse(body);
	(void)ms;
	c->status[i] = status;
	snprintf(c->message_id[i], sizeof(c->message_id[i]), "%s", json_str(o, "message_id"));
	json_object_put(o);
}

Test(chat, idempotent_when_concurrent)
{
	static struct concurrent c;
	char *t = user_token(NULL, NULL, 600);
	snprintf(c.token, sizeof(c.token), "%s", t);
	snprintf(c.key, sizeof(c.key), "Idempotency-Key: conc-%d-%ld", getpid(), (long)now_ms());
	/* a slow model, so the duplicates really overlap */
	stub_control("/_stub/model", "{\"model\":\"tinyllama:1.1b\",\"delay_ms\":500}");
	long before = stub_requests("tinyllama:1.1b");
	http_many(need_env("BASE_URL"), 4, 4, conc_build, conc_done, &c);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(c.status[i], 200, "request %d: %ld", i, c.status[i]);
		cr_assert_str_eq(c.message_id[i], c.message_id[0]);
	}
	cr_assert_eq(stub_requests("tinyllama:1.1b"), before + 1, "one model call for 4 requests");
	free(t);
}

Test(chat, conversations_belong_to_their_owner)
{
	char a_sub[37], admin_sub[37], path[160];
	char *a = user_token(NULL, a_sub, 600), *b = user_token(NULL, NULL, 600);
	char *admin = user_token(NULL, admin_sub, 600);
	free(sql("INSERT INTO user_profiles (user_id, role) VALUES ('%s', 'admin')", admin_sub));
	struct http *r = chat_post(a, NULL, "{\"message\":\"private\"}");
	char cid[64];
	snprintf(cid, sizeof(cid), "%s", json_str(r->json, "conversation_id"));
	http_free(r);
	snprintf(path, sizeof(path), "/api/chat/history/%s", cid);

	r = chat_post(b, NULL, "{\"message\":\"let me in\",\"conversation_id\":\"%s\"}", cid);
	cr_assert_eq(r->status, 404, "another user's conversation: %ld", r->status);
	http_free(r);
	r = chat_post(NULL, NULL, "{\"message\":\"let me in\",\"conversation_id\":\"%s\"}", cid);
	cr_assert_eq(r->status, 404);
	http_free(r);
	const char *hb[] = {bearer(0, b), NULL}, *ha[] = {bearer(1, a), NULL},
		   *hadm[] = {bearer(2, admin), NULL};
	r = http_do("GET", path, NULL, hb);
	cr_assert_eq(r->status, 404);
	http_free(r);
	r = http_get(path);
	cr_assert_eq(r->status, 404, "no token: not found either");
	http_free(r);
	r = http_do("DELETE", path, NULL, hb);
	cr_assert_eq(r->status, 404);
	http_free(r);
	r = http_do("GET", path, NULL, hadm);
	cr_assert_eq(r->status, 200, "admins may read any");
	http_free(r);
	r = http_do("GET", path, NULL, ha);
	cr_assert_eq(r->status, 200);
	cr_assert_eq(json_object_array_length(r->json), 2);
	http_free(r);
	r = http_do("DELETE", path, NULL, ha);
	cr_assert_eq(r->status, 204);
	cr_assert_eq(r->len, 0);
	http_free(r);
	r = http_do("GET", path, NULL, ha);
	cr_assert_eq(r->status, 404, "deleted");
	http_free(r);
	r = chat_post(a, NULL, "{\"message\":\"still there?\",\"conversation_id\":\"%s\"}", cid);
	cr_assert_eq(r->status, 404);
	http_free(r);
	r = http_get("/api/chat/history/not-a-uuid");
	cr_assert_eq(r->status, 422);
	http_free(r);
	r = http_get("/api/chat/history/00000000-0000-4000-8000-000000000000");
	cr_assert_eq(r->status, 404);
	http_free(r);
	free(a);
	free(b);
	free(admin);
}

Test(chat, anonymous_conversations_open_with_their_id)
{
	struct http *r = chat_post(NULL, NULL, "{\"message\":\"anonymous hello\"}");
	char path[160];
	snprintf(path, sizeof(path), "/api/chat/history/%s", json_str(r->json, "conversation_id"));
	http_free(r);
	char *t = user_token(NULL, NULL, 600);
	const char *h[] = {bearer(0, t), NULL};
	r = http_do("GET", path, NULL, h);
	cr_assert_eq(r->status, 200);
	http_free(r);
	r = http_get(path);
	cr_assert_eq(r->status, 200);
	cr_assert_str_eq(json_str(r->json, "0.content"), "anonymous hello");
	http_free(r);
	free(t);
}

Test(chat, history_order_and_paging)
{
	char *t = user_token(NULL, NULL, 600);
	struct http *r = chat_post(t, NULL, "{\"message\":\"m0\"}");
	char cid[64], path[256];
	snprintf(cid, sizeof(cid), "%s", json_str(r->json, "conversation_id"));
	http_free(r);
	for (int i = 1; i < 5; i++) {
		r = chat_post(t, NULL, "{\"message\":\"m%d\",\"conversation_id\":\"%s\"}", i, cid);
		cr_assert_eq(r->status, 200);
		http_free(r);
	}
	const char *h[] = {bearer(0, t), NULL};
	snprintf(path, sizeof(path), "/api/chat/history/%s", cid);
	r = http_do("GET", path, NULL, h);
	cr_assert_eq(json_object_array_length(r->json), 10);
	cr_assert_str_eq(http_header(r, "X-Total-Count"), "10");
	for (int i = 0; i < 5; i++) {
		char want[16], p[16];
		snprintf(want, sizeof(want), "m%d", i);
		snprintf(p, sizeof(p), "%d.content", 2 * i);
		cr_assert_str_eq(json_str(r->json, p), want, "in order");
		snprintf(p, sizeof(p), "%d.role", 2 * i + 1);
		cr_assert_str_eq(json_str(r->json, p), "assistant");
	}
	http_free(r);
	snprintf(path, sizeof(path), "/api/chat/history/%s?limit=3&offset=4", cid);
	r = http_do("GET", path, NULL, h);
	cr_assert_eq(json_object_array_length(r->json), 3);
	cr_assert_str_eq(json_str(r->json, "0.content"), "m2");
	http_free(r);
	const char *bad[] = {"limit=0", "limit=201", "offset=-1", "limit=abc", "limit=1&limit=2"};
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "/api/chat/history/%s?%s", cid, bad[i]);
		r = http_do("GET", path, NULL, h);
		cr_assert_eq(r->status, 422, "%s: %ld", bad[i], r->status);
		http_free(r);
	}
	snprintf(path, sizeof(path), "/api/chat/history/%s?limit=200&offset=100", cid);
	r = http_do("GET", path, NULL, h);
	cr_assert_eq(r->status, 200);
	cr_assert_eq(json_object_array_length(r->json), 0);
	http_free(r);
	free(t);
}

Test(chat, my_conversations)
{
	struct http *r = http_get("/api/chat/conversations");
	cr_assert_eq(r->status, 401);
	http_free(r);
	char *t = user_token(NULL, NULL, 600);
	char first[64];
	r = chat_post(t, NULL, "{\"message\":\"first conversation\"}");
	snprintf(first, sizeof(first), "%s", json_str(r->json, "conversation_id"));
	http_free(r);
	r = chat_post(t, NULL, "{\"message\":\"second conversation\"}");
	http_free(r);
	r = chat_post(t, NULL, "{\"message\":\"first again\",\"conversation_id\":\"%s\"}", first);
	http_free(r);
	const char *h[] = {bearer(0, t), NULL};
	r = http_do("GET", "/api/chat/conversations", NULL, h);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_object_get_int(json_at(r->json, "total")), 2);
	cr_assert_str_eq(json_str(r->json, "conversations.1.id"), first, "newest first");
	cr_assert_eq(json_object_get_int(json_at(r->json, "conversations.1.message_count")), 4);
	cr_assert_str_eq(json_str(r->json, "conversations.0.title"), "second conversation");
	http_free(r);
	free(t);
}

/* ---- streaming ------------------------------------------------------------ */

struct sse {
	struct buf_s {
		char *p;
		size_t len;
	} b;
	double t0, first_token, end;
	int tokens;
	int stop_after; /* abort after this many tokens (0: never) */
};

static size_t sse_collect(char *data, size_t size, size_t n, void *arg)
{
	struct sse *s = arg;
	size_t add = size * n;
	s->b.p = realloc(s->b.p, s->b.len + add + 1);
	memcpy(s->b.p + s->b.len, data, add);
	s->b.len += add;
	s->b.p[s->b.len] = '\0';
	int tokens = 0;
	for (char *p = s->b.p; (p = strstr(p, "event: token")) != NULL; p++)
		tokens++;
	if (tokens > 0 && s->first_token == 0)
		s->first_token = now_ms();
	s->tokens = tokens;
	if (s->stop_after > 0 && tokens >= s->stop_after)
		return 0; /* hang up */
	return add;
}

static void sse_run(struct sse *s, const char *body)
{
	char url[512];
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	snprintf(url, sizeof(url), "%s/api/chat/stream", need_env("BASE_URL"));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	s->t0 = now_ms();
	curl_easy_perform(c);
	s->end = now_ms();
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

Test(chat, streaming_tokens_arrive_before_the_answer_ends)
{
	struct sse s = {0};
	/* 12 words, 150 ms apart: about 1.7 s in all */
	stub_control("/_stub/model",
		     "{\"model\":\"tinyllama:1.1b\",\"words\":12,\"token_delay_ms\":150}");
	sse_run(&s, "{\"message\":\"tell me a story\"}");
	cr_log_info("first token after %.0f ms, stream ended after %.0f ms",
		    s.first_token - s.t0, s.end - s.t0);
	cr_assert_not_null(s.b.p);
	cr_assert(strstr(s.b.p, "event: start") == s.b.p, "%s", s.b.p);
	cr_assert_eq(s.tokens, 12);
	cr_assert(strstr(s.b.p, "event: done") != NULL);
	cr_assert(s.first_token > 0 && s.end - s.first_token > 1000,
		  "the first token came %.0f ms before the end", s.end - s.first_token);
	/* the stored answer is the whole text */
	char *done = strstr(s.b.p, "event: done\ndata: ");
	struct json_object *d = json_tokener_parse(done + 18);
	char path[160];
	snprintf(path, sizeof(path), "/api/chat/history/%s", json_str(d, "conversation_id"));
	struct http *r = http_get(path);
	cr_assert_str_eq(json_str(r->json, "1.status"), "complete");
	cr_assert(strncmp(json_str(r->json, "1.content"), "Echo: tell me a story", 21) == 0);
	http_free(r);
	json_object_put(d);
	free(s.b.p);
}

Test(chat, a_client_that_leaves_stops_the_generation)
{
	struct sse s = {.stop_after = 3};
	stub_control("/_stub/model",
		     "{\"model\":\"tinyllama:1.1b\",\"words\":40,\"token_delay_ms\":100}");
	sse_run(&s, "{\"message\":\"a long story\"}");
	cr_assert_eq(s.tokens, 3);
	char *start = strstr(s.b.p, "data: ");
	struct json_object *d = json_tokener_parse(start + 6);
	char path[160];
	snprintf(path, sizeof(path), "/api/chat/history/%s", json_str(d, "conversation_id"));
	json_object_put(d);
	/* the stub notices and counts an aborted stream; the partial answer is stored */
	bool stored = false;
	for (int i = 0; i < 50 && !stored; i++) {
		usleep(100000);
		struct http *r = http_get(path);
		stored = json_object_array_length(r->json) == 2 &&
			 strcmp(json_str(r->json, "1.status"), "partial") == 0;
		if (stored)
			cr_assert(strlen(json_str(r->json, "1.content")) < 100, "only the start");
		http_free(r);
	}
	cr_assert(stored, "no partial answer stored");
	int aborted = 0;
	for (int i = 0; i < 40 && aborted == 0; i++) {
		struct json_object *st = stub_stats(), *models, *m, *ab;
		json_object_object_get_ex(st, "models", &models);
		json_object_object_get_ex(models, "tinyllama:1.1b", &m);
		json_object_object_get_ex(m, "streams_aborted", &ab);
		aborted = json_object_get_int(ab);
		json_object_put(st);
		if (aborted == 0)
			usleep(50000);
	}
	cr_assert_eq(aborted, 1, "the generation was not stopped");
	free(s.b.p);
}

Test(chat, circuit_breaker_skips_a_failing_model_then_tries_again)
{
	char dir[256];
	const char *base = host_up(2, "CIRCUIT_COOLDOWN_SECONDS=2 CIRCUIT_FAILURES=3", 2, 2, dir,
				   sizeof(dir));
	free(run_capture("redis-cli -p $REDIS_PORT -a $REDIS_PASSWORD --no-auth-warning "
			 "del pc:cb:fail:tinyllama pc:cb:open:tinyllama",
			 NULL));
	stub_control("/_stub/model", "{\"model\":\"tinyllama:1.1b\",\"mode\":\"fail\"}");
	long before = stub_requests("tinyllama:1.1b");
	for (int i = 0; i < 3; i++) {
		struct http *r =
			http_do_at(base, "POST", "/api/chat/message", "{\"message\":\"x\"}", NULL);
		cr_assert_str_eq(json_str(r->json, "model_used"), "mistral");
		http_free(r);
		usleep(100000); /* the failure is recorded after the answer */
	}
	cr_assert_eq(stub_requests("tinyllama:1.1b"), before + 3);
	struct http *r = http_do_at(base, "GET", "/api/models/tinyllama", NULL, NULL);
	cr_assert_str_eq(json_str(r->json, "circuit"), "open", "%s", r->body);
	http_free(r);
	r = http_do_at(base, "POST", "/api/chat/message", "{\"message\":\"y\"}", NULL);
	cr_assert_str_eq(json_str(r->json, "model_used"), "mistral");
	http_free(r);
	cr_assert_eq(stub_requests("tinyllama:1.1b"), before + 3, "skipped while open");
	stub_control("/_stub/model", "{\"model\":\"tinyllama:1.1b\",\"mode\":\"ok\"}");
	usleep(2200000);
	r = http_do_at(base, "POST", "/api/chat/message", "{\"message\":\"z\"}", NULL);
	cr_assert_str_eq(json_str(r->json, "model_used"), "tinyllama", "tried again after the cool-down");
	http_free(r);
	host_down(dir);
}

/* ---- nothing lost under load ------------------------------------------------- */

#define LOST_USERS 100
#define LOST_MESSAGES 2000

struct lost {
	char *tokens[LOST_USERS];
	char run[32];
	int ok, other;
	FILE *answered; /* "key user_message_id message_id" of every 200 */
};

static void lost_build(int i, struct many_req *r, void *arg)
{
	struct lost *l = arg;
	strcpy(r->method, "POST");
	strcpy(r->path, "/api/chat/message");
	snprintf(r->body, sizeof(r->body), "{\"message\":\"load %s %d\"}", l->run, i);
	snprintf(r->headers[0], sizeof(r->headers[0]), "Authorization: Bearer %s",
		 l->tokens[i % LOST_USERS]);
	snprintf(r->headers[1], sizeof(r->headers[1]), "Idempotency-Key: %s-%d", l->run, i);
}

static void lost_done(int i, long status, const char *body, double ms, void *arg)
{
	struct lost *l = arg;
	(void)ms;
	if (status != 200) {
		l->other++;
		return;
	}
	struct json_object *o = json_tokener_parse(body);
	fprintf(l->answered, "%s-%d\t%s\t%s\n", l->run, i, json_str(o, "user_message_id"),
		json_str(o, "message_id"));
	json_object_put(o);
	l->ok++;
}

Test(chat, nothing_lost_under_32_concurrent_clients, .timeout = 300)
{
	static struct lost l;
	snprintf(l.run, sizeof(l.run), "r%d%ld", getpid(), (long)now_ms() % 100000);
	for (int u = 0; u < LOST_USERS; u++)
		l.tokens[u] = user_token(NULL, NULL, 3600);
	/* psql reads it as the postgres user: a readable file of this run's own */
	char path[] = "/tmp/pixelcraft-answered.XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	fchmod(fd, 0644);
	l.answered = fdopen(fd, "w");
	double t0 = now_ms();
	http_many(need_env("BASE_URL"), LOST_MESSAGES, 32, lost_build, lost_done, &l);
	fclose(l.answered);
	cr_log_info("%d messages from %d users, 32 at a time: %d answered 200, %d other, "
		    "%.0f messages/s",
		    LOST_MESSAGES, LOST_USERS, l.ok, l.other,
		    LOST_MESSAGES * 1000.0 / (now_ms() - t0));
	cr_assert_eq(l.ok, LOST_MESSAGES, "%d were not answered 200", l.other);
	/* every answered message: both rows, exactly once */
	char *out = sql("CREATE TEMP TABLE answered (k text, u uuid, a uuid);"
			"\\copy answered FROM '%s'\n"
			"SELECT count(*) FROM answered x"
			" WHERE (SELECT count(*) FROM messages m WHERE m.id = x.u AND m.role = 'user'"
			"  AND m.idempotency_key = x.k) <> 1"
			" OR (SELECT count(*) FROM messages m WHERE m.id = x.a AND m.role = 'assistant'"
			"  AND m.reply_to = x.u) <> 1;",
			path);
	unlink(path);
	cr_assert_str_eq(out, "0", "answered messages missing or duplicated");
	free(out);
	out = sql("SELECT count(*) FROM messages WHERE idempotency_key LIKE '%s-%%'", l.run);
	cr_assert_eq(atoi(out), LOST_MESSAGES, "user messages stored: %s", out);
	free(out);
	out = sql("SELECT count(*) FROM (SELECT content FROM messages WHERE role = 'user'"
		  " AND content LIKE 'load %s %%' GROUP BY content HAVING count(*) > 1) d",
		  l.run);
	cr_assert_str_eq(out, "0", "duplicate user messages");
	free(out);
	out = sql("SELECT count(*) FROM messages a JOIN messages u ON a.reply_to = u.id"
		  " WHERE u.idempotency_key LIKE '%s-%%'",
		  l.run);
	cr_assert_eq(atoi(out), LOST_MESSAGES, "answers stored: %s", out);
	free(out);
	for (int u = 0; u < LOST_USERS; u++)
		free(l.tokens[u]);
}

/* ---- long generations do not starve the rest ------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double p99_of(const char *path, const char *const *headers)
{
	static double ms[200];
	for (int i = 0; i < 200; i++) {
		struct http *r = http_do("GET", path, NULL, headers);
		cr_assert_eq(r->status, 200, "%s: %ld", path, r->status);
		ms[i] = r->seconds * 1000;
		http_free(r);
	}
	qsort(ms, 200, sizeof(ms[0]), cmp_double);
	return ms[197];
}

struct slow {
	char *tokens[32];
};

static void slow_build(int i, struct many_req *r, void *arg)
{
	struct slow *s = arg;
	strcpy(r->method, "POST");
	strcpy(r->path, "/api/chat/message");
	snprintf(r->body, sizeof(r->body), "{\"message\":\"take your time %d\"}", i);
	snprintf(r->headers[0], sizeof(r->headers[0]), "Authorization: Bearer %s", s->tokens[i]);
}

static void slow_done(int i, long status, const char *body, double ms, void *arg)
{
	(void)i, (void)status, (void)body, (void)ms, (void)arg;
}

Test(chat, slow_generations_do_not_slow_other_routes, .timeout = 120)
{
	static struct slow s;
	const char *tags[] = {"tinyllama:1.1b", "mistral:7b", "glm4:9b"};
	for (int i = 0; i < 3; i++)
		stub_control("/_stub/model", "{\"model\":\"%s\",\"delay_ms\":5000}", tags[i]);
	for (int i = 0; i < 32; i++)
		s.tokens[i] = user_token(NULL, NULL, 600);
	pid_t kid = fork();
	if (kid == 0) {
		http_many(need_env("BASE_URL"), 32, 32, slow_build, slow_done, &s);
		_exit(0);
	}
	usleep(500000); /* 32 generations in flight */
	char *t = user_token(NULL, NULL, 600);
	const char *h[] = {bearer(0, t), NULL};
	double live = p99_of("/health/live", NULL), me = p99_of("/api/me", h),
	       models = p99_of("/api/models", NULL);
	cr_log_info("with 32 slow generations in flight, p99: /health/live %.1f ms, /api/me %.1f ms, "
		    "/api/models %.1f ms",
		    live, me, models);
	/* the figures are printed (target: p99 under 20 ms on a quiet machine); what is
	 * asserted is the isolation: no request waited behind a 5-second generation */
	cr_assert(live < 1000 && me < 1000 && models < 1000,
		  "other routes waited for the chat pool's generations");
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	for (int i = 0; i < 32; i++)
		free(s.tokens[i]);
	free(t);
}
