/*
 * chat-floor: the least work a chat message can cost in this architecture.
 * A FastCGI responder started like our chat pool that does, per POST, only
 * what issue 4 prescribes for a new conversation, each step in its cheapest
 * form, and nothing else:
 *   - verify the caller's HS256 token (libjwt), parse the JSON body (json-c);
 *   - one pipelined Redis round trip: the caller's rate-limit window (INCR,
 *     EXPIRE) and the model's circuit-breaker state (GET);
 *   - one Postgres statement storing the conversation and the user message
 *     before the model is called (asynchronous commit: the answer's commit
 *     flushes it);
 *   - one libcurl POST /api/chat to the LLM with the system prompt and the
 *     message, its JSON reply parsed;
 *   - one statement storing the answer and its agent_logs row (durable);
 *   - the JSON answer, then after FCGX_Finish_r one pipelined Redis round
 *     trip of shared metrics and, every 32 calls, one batched model_metrics
 *     insert (asynchronous commit).
 * Its tables (schema bench_floor, made by scripts/bench/baseline.sh) have a
 * primary key and the history index only: no foreign keys, no idempotency,
 * notifications or live events, no logging. scripts/bench.sh measures it
 * next to our chat route, in the same run, against the same stub LLM: the
 * ceiling any implementation of the issue could reach on this machine.
 *
 *   FLOOR_PG, FLOOR_REDIS, FLOOR_REDIS_PASSWORD  Postgres and Redis (floor.h)
 *   FLOOR_SECRET  the HS256 secret
 *   FLOOR_URL     the LLM's base URL; FLOOR_PROMPT the system prompt file
 */
#include <curl/curl.h>
#include <fcgiapp.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <jwt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floor.h"

#define BATCH 32

struct reply {
	char data[65536];
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *u)
{
	struct reply *r = u;
	size_t k = size * n;

	if (r->len + k >= sizeof(r->data))
		return 0;
	memcpy(r->data + r->len, p, k);
	r->len += k;
	r->data[r->len] = '\0';
	return k;
}

/* Reads the replies of n pipelined commands. */
static void redis_replies(redisContext *redis, int n)
{
	void *r;

	while (n-- > 0)
		if (redisGetReply(redis, &r) == REDIS_OK)
			freeReplyObject(r);
}

/* POSTs the system prompt and text to the LLM; its parsed reply or NULL. */
static json_object *ask_model(CURL *curl, struct reply *reply, const char *prompt,
			      json_object *text)
{
	json_object *q = json_object_new_object(), *msgs = json_object_new_array(), *m;

	json_object_object_add(q, "model", json_object_new_string("tinyllama:1.1b"));
	json_object_object_add(q, "stream", json_object_new_boolean(0));
	m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string("system"));
	json_object_object_add(m, "content", json_object_new_string(prompt));
	json_object_array_add(msgs, m);
	m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string("user"));
	json_object_object_add(m, "content", json_object_get(text));
	json_object_array_add(msgs, m);
	json_object_object_add(q, "messages", msgs);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json_object_to_json_string(q));
	reply->len = 0;
	reply->data[0] = '\0';
	CURLcode rc = curl_easy_perform(curl);
	json_object_put(q);
	return rc == CURLE_OK ? json_tokener_parse(reply->data) : NULL;
}

/* After the answer: one Redis round trip of shared metrics, and the call's
 * model_metrics row into *calls, written once BATCH rows are there. */
static void record_call(redisContext *redis, PGconn *pg, json_object **calls, json_object *ans)
{
	json_object *v, *m = json_object_new_object();
	int tin =
	    json_object_object_get_ex(ans, "prompt_eval_count", &v) ? json_object_get_int(v) : 0;
	int tout = json_object_object_get_ex(ans, "eval_count", &v) ? json_object_get_int(v) : 0;

	redisAppendCommand(redis, "HINCRBY floor:model:tinyllama requests 1");
	redisAppendCommand(redis, "HINCRBY floor:model:tinyllama tokens %d", tin + tout);
	redisAppendCommand(redis, "HINCRBY floor:model:tinyllama latency_bucket_1 1");
	redis_replies(redis, 3);
	json_object_object_add(m, "model_name", json_object_new_string("tinyllama"));
	json_object_object_add(m, "status", json_object_new_string("success"));
	json_object_object_add(m, "tokens_in", json_object_new_int(tin));
	json_object_object_add(m, "tokens_out", json_object_new_int(tout));
	json_object_array_add(*calls, m);
	if (json_object_array_length(*calls) >= BATCH) {
		const char *p[] = {json_object_to_json_string(*calls)};
		PQclear(PQexecPrepared(pg, "metrics", 1, p, NULL, NULL, 0));
		json_object_put(*calls);
		*calls = json_object_new_array();
	}
}

static void answer(FCGX_Request *req, const char *status, const char *json)
{
	FCGX_FPrintF(req->out, "Status: %s\r\nContent-Type: application/json\r\n\r\n%s", status,
		     json);
}

int main(void)
{
	static char body[65536], prompt[8192];
	static struct reply reply;
	const char *secret = need("FLOOR_SECRET");
	FCGX_Request req;
	char url[512];

	FILE *f = fopen(need("FLOOR_PROMPT"), "r");
	size_t plen = f ? fread(prompt, 1, sizeof(prompt) - 1, f) : 0;
	prompt[plen] = '\0';
	if (f != NULL)
		fclose(f);

	snprintf(url, sizeof(url), "%s/api/chat", need("FLOOR_URL"));
	CURL *curl = curl_easy_init();
	/* no "Expect: 100-continue" round trip before a body over 1 KiB */
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Expect:");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);

	PGconn *pg;
	redisContext *redis;
	if (floor_connect(&pg, &redis) != 0)
		return 1;
	PQclear(PQprepare(pg, "user_message",
			  "WITH mode AS (SELECT set_config('synchronous_commit', 'off', true)),"
			  " c AS (INSERT INTO bench_floor.conversations (id, user_id)"
			  " SELECT gen_random_uuid(), $1::uuid FROM mode RETURNING id),"
			  " m AS (INSERT INTO bench_floor.messages (conversation_id, role, content)"
			  " SELECT c.id, 'user', $2 FROM c RETURNING id, conversation_id)"
			  " SELECT id, conversation_id FROM m",
			  2, NULL));
	PQclear(
	    PQprepare(pg, "answer",
		      "WITH a AS (INSERT INTO bench_floor.messages (conversation_id, role, content,"
		      " reply_to) VALUES ($1::uuid, 'assistant', $2, $3::uuid)"
		      " RETURNING id, created_at),"
		      " l AS (INSERT INTO bench_floor.agent_logs (conversation_id, status)"
		      " SELECT $1::uuid, 'success' FROM a)"
		      " SELECT id, to_json(created_at) #>> '{}' FROM a",
		      3, NULL));
	PQclear(
	    PQprepare(pg, "metrics",
		      "WITH mode AS (SELECT set_config('synchronous_commit', 'off', true))"
		      " INSERT INTO bench_floor.model_metrics (model_name, status, tokens_in,"
		      " tokens_out) SELECT m.model_name, m.status, m.tokens_in, m.tokens_out"
		      " FROM mode, json_to_recordset($1::json) AS m(model_name text, status text,"
		      " tokens_in int, tokens_out int)",
		      1, NULL));
	json_object *calls = json_object_new_array();

	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&req) >= 0) {
		json_object *in = NULL, *out = NULL, *ans = NULL, *v, *text;
		PGresult *user = NULL, *stored = NULL;
		jwt_t *jwt = NULL;
		const char *sub = NULL;
		int n = FCGX_GetStr(body, sizeof(body) - 1, req.in);

		body[n > 0 ? n : 0] = '\0';
		const char *auth = FCGX_GetParam("HTTP_AUTHORIZATION", req.envp);
		if (auth != NULL && strncmp(auth, "Bearer ", 7) == 0 &&
		    jwt_decode(&jwt, auth + 7, (const unsigned char *)secret,
			       (int)strlen(secret)) == 0)
			sub = jwt_get_grant(jwt, "sub");
		in = json_tokener_parse(body);
		if (sub == NULL || !json_object_object_get_ex(in, "message", &text)) {
			answer(&req, "401 Unauthorized",
			       "{\"detail\":\"token and message needed\"}");
			goto done;
		}

		redisAppendCommand(redis, "INCR floor:rl:%s", sub);
		redisAppendCommand(redis, "EXPIRE floor:rl:%s 60", sub);
		redisAppendCommand(redis, "GET floor:breaker:tinyllama");
		redis_replies(redis, 3);

		const char *p1[] = {sub, json_object_get_string(text)};
		user = PQexecPrepared(pg, "user_message", 2, p1, NULL, NULL, 0);
		if (PQresultStatus(user) != PGRES_TUPLES_OK || PQntuples(user) != 1) {
			answer(&req, "503 Service Unavailable", "{\"detail\":\"database\"}");
			goto done;
		}

		ans = ask_model(curl, &reply, prompt, text);
		if (!json_object_object_get_ex(ans, "message", &v) ||
		    !json_object_object_get_ex(v, "content", &v)) {
			answer(&req, "503 Service Unavailable", "{\"detail\":\"model\"}");
			goto done;
		}

		const char *p2[] = {PQgetvalue(user, 0, 1), json_object_get_string(v),
				    PQgetvalue(user, 0, 0)};
		stored = PQexecPrepared(pg, "answer", 3, p2, NULL, NULL, 0);
		if (PQresultStatus(stored) != PGRES_TUPLES_OK || PQntuples(stored) != 1) {
			answer(&req, "503 Service Unavailable", "{\"detail\":\"database\"}");
			goto done;
		}
		out = json_object_new_object();
		json_object_object_add(out, "response", json_object_get(v));
		json_object_object_add(out, "conversation_id",
				       json_object_new_string(PQgetvalue(user, 0, 1)));
		json_object_object_add(out, "message_id",
				       json_object_new_string(PQgetvalue(stored, 0, 0)));
		json_object_object_add(out, "model_used", json_object_new_string("tinyllama"));
		json_object_object_add(out, "timestamp",
				       json_object_new_string(PQgetvalue(stored, 0, 1)));
		answer(&req, "200 OK", json_object_to_json_string(out));
		FCGX_Finish_r(&req);

		record_call(redis, pg, &calls, ans);
	done:
		if (out == NULL)
			FCGX_Finish_r(&req);
		PQclear(stored);
		PQclear(user);
		json_object_put(ans);
		json_object_put(out);
		json_object_put(in);
		jwt_free(jwt);
	}
	return 0;
}
