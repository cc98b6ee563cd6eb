/*
 * chat: the chat pipeline (see chat.h). The order of writes is what makes
 * "nothing accepted is lost" hold: the user message is committed before a
 * model is called, the answer is committed before the response is sent, and
 * only records that the answer does not depend on are written afterwards.
 */
#include "chat.h"
#include "app.h"
#include "auth.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "jsonbody.h"
#include "kv.h"
#include "live.h"
#include "llm.h"
#include "log.h"
#include "models.h"
#include "modelstate.h"
#include "notify.h"
#include "request.h"
#include "response.h"
#include "server.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAT_MAX_MESSAGES 256

char *chat_load_system_prompt(const char *path, FILE *err)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;

	if (f == NULL) {
		fprintf(err, "config error: SYSTEM_PROMPT_FILE: cannot read %s\n", path);
		return NULL;
	}
	text = calloc(1, 65536);
	size_t n = text ? fread(text, 1, 65535, f) : 0;
	fclose(f);
	while (n > 0 && isspace((unsigned char)text[n - 1]))
		text[--n] = '\0';
	if (n == 0) {
		fprintf(err, "config error: SYSTEM_PROMPT_FILE: %s is empty\n", path);
		free(text);
		return NULL;
	}
	return text;
}

void chat_result_free(struct chat_result *out)
{
	free(out->response);
	out->response = NULL;
}

/* ---- records written after the response -------------------------------- */

struct chat_call {
	const struct model *model;
	bool ok;
	int64_t at_ms; /* wall clock, when the call ended */
	int latency_ms, tokens_in, tokens_out;
	char error[160];
};

struct chat_record {
	char conversation_id[40];
	char user_message_id[40];
	char answer_id[40];  /* "" when no model answered */
	char user_id[64];    /* the caller, "" when anonymous */
	bool new_conversation;
	bool failure_logged; /* the failure's agent_logs row is already stored */
	char notification[1024]; /* JSON of the stored "new conversation" notification */
	char status[16];
	char error[160];
	int latency_ms;
	int ncalls;
	struct chat_call calls[MODELS_MAX];
};

/* The live side of a message: admins' analytics events, and the "new
 * conversation" notification of a signed-in user. */
static void chat_publish(struct app *app, const struct chat_record *r)
{
	struct json_object *d;

	if (r->new_conversation) {
		d = json_object_new_object();
		json_object_object_add(d, "conversation_id", json_object_new_string(r->conversation_id));
		json_object_object_add(d, "user_id",
				       r->user_id[0] ? json_object_new_string(r->user_id) : NULL);
		live_publish(app, LIVE_ANALYTICS, "conversation_started", d);
		/* the owner's notification was stored with the conversation */
		struct json_object *n =
			r->notification[0] ? json_tokener_parse(r->notification) : NULL;
		if (n != NULL)
			notify_published(app, n);
		json_object_put(n);
	}
	const char *ids[2] = {r->user_message_id, r->answer_id};
	const char *roles[2] = {"user", "assistant"};
	for (int i = 0; i < 2; i++) {
		if (ids[i][0] == '\0')
			continue;
		d = json_object_new_object();
		json_object_object_add(d, "conversation_id", json_object_new_string(r->conversation_id));
		json_object_object_add(d, "message_id", json_object_new_string(ids[i]));
		json_object_object_add(d, "role", json_object_new_string(roles[i]));
		live_publish(app, LIVE_ANALYTICS, "message_created", d);
	}
}

/*
 * Model calls as model_metrics rows: no answer depends on them, so a worker
 * collects them and writes them in one statement when CHAT_ROWS_BATCH are
 * pending or the oldest has waited CHAT_ROWS_WAIT_MS (checked after every
 * request and once a second when idle), and when it stops: one transaction
 * per batch instead of one per message. A worker that is killed loses at
 * most that second of its rows (the shared metrics in Redis are written per
 * call); while Postgres is down up to CHAT_ROWS_MAX are kept.
 */
#define CHAT_ROWS_BATCH 64
#define CHAT_ROWS_WAIT_MS 1000
#define CHAT_ROWS_MAX 4096

static struct json_object *chat_rows; /* array of rows, NULL when none */
static int64_t chat_rows_since;       /* monotonic ms of the oldest, or of the last failure */
static bool chat_rows_failing;        /* the last write failed: wait before the next */

/* Appends r's model calls to rows (an array). */
static void chat_calls_rows(const struct chat_record *r, struct json_object *rows)
{
	char at[32];

	for (int i = 0; i < r->ncalls; i++) {
		const struct chat_call *c = &r->calls[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "model_name", json_object_new_string(c->model->name));
		json_object_object_add(o, "status", json_object_new_string(c->ok ? "success" : "error"));
		json_object_object_add(o, "latency_ms", json_object_new_int(c->latency_ms));
		json_object_object_add(o, "tokens_in", json_object_new_int(c->tokens_in));
		json_object_object_add(o, "tokens_out", json_object_new_int(c->tokens_out));
		json_object_object_add(o, "error", c->ok ? NULL : json_object_new_string(c->error));
		json_object_object_add(o, "created_at",
				       json_object_new_string(clock_iso8601(c->at_ms, at, sizeof(at))));
		json_object_array_add(rows, o);
	}
}

void chat_flush_records(struct app *app, bool force)
{
	size_t n = chat_rows ? json_object_array_length(chat_rows) : 0;

	bool due = force || (n >= CHAT_ROWS_BATCH && !chat_rows_failing) ||
		   clock_mono_ms() - chat_rows_since >= CHAT_ROWS_WAIT_MS;
	if (n == 0 || !due)
		return;
	int rc = db_chat_log(app->db, NULL, NULL, 0, NULL, "chat",
			     json_object_to_json_string_ext(chat_rows, JSON_C_TO_STRING_PLAIN));
	if (rc == 0 || n >= CHAT_ROWS_MAX) {
		if (rc != 0)
			log_msg(LOG_ERROR, "model_metrics_dropped",
				"%zu model_metrics rows not written: %s", n, db_last_error(app->db));
		json_object_put(chat_rows);
		chat_rows = NULL;
		chat_rows_failing = false;
		return;
	}
	/* kept for the next attempt, a second from now */
	chat_rows_failing = true;
	chat_rows_since = clock_mono_ms();
}

static void chat_write_records(struct app *app, void *arg)
{
	struct chat_record *r = arg;

	for (int i = 0; i < r->ncalls; i++) {
		const struct chat_call *c = &r->calls[i];
		modelstate_record(app, c->model, c->ok, c->latency_ms, c->tokens_in, c->tokens_out);
	}
	if (strcmp(r->status, "error") == 0 && !r->failure_logged) {
		/* a failed message whose agent_logs row is not stored yet: now,
		 * with its calls */
		struct json_object *rows = json_object_new_array();
		chat_calls_rows(r, rows);
		if (db_chat_log(app->db, r->conversation_id, r->status, r->latency_ms,
				r->error[0] ? r->error : NULL, "chat",
				json_object_to_json_string_ext(rows, JSON_C_TO_STRING_PLAIN)) < 0)
			log_msg(LOG_WARN, "chat_log_failed", "agent_logs/model_metrics not written: %s",
				db_last_error(app->db));
		json_object_put(rows);
	} else if (r->ncalls > 0) {
		if (chat_rows == NULL) {
			chat_rows = json_object_new_array();
			chat_rows_since = clock_mono_ms();
		}
		chat_calls_rows(r, chat_rows);
	}
	if (r->status[0] != '\0')
		chat_publish(app, r);
}

/* ---- idempotency -------------------------------------------------------- */

/* The caller's idempotency scope: the user, or the address of an anonymous caller. */
static void chat_scope(const struct request *req, char *scope, size_t len)
{
	if (req->user.known)
		snprintf(scope, len, "u:%s", req->user.id);
	else
		snprintf(scope, len, "ip:%s", req->client_ip);
}

/* Fills out from a stored answer ({"id", "content", ...}). */
static void chat_from_answer(struct json_object *a, struct chat_result *out)
{
	struct json_object *v;

	if (json_object_object_get_ex(a, "id", &v))
		snprintf(out->message_id, sizeof(out->message_id), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(a, "content", &v)) {
		free(out->response);
		out->response = strdup(json_object_get_string(v));
	}
	if (json_object_object_get_ex(a, "model", &v) && v != NULL)
		snprintf(out->model_used, sizeof(out->model_used), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(a, "tokens_in", &v))
		out->prompt_tokens = json_object_get_int(v);
	if (json_object_object_get_ex(a, "tokens_out", &v))
		out->completion_tokens = json_object_get_int(v);
	if (json_object_object_get_ex(a, "latency_ms", &v))
		out->latency_ms = json_object_get_int(v);
	if (json_object_object_get_ex(a, "created_at", &v))
		snprintf(out->created_at, sizeof(out->created_at), "%s", json_object_get_string(v));
	out->replayed = true;
}

/*
 * The message stored under the caller's key. Returns 200 when it has an
 * answer (out filled as a replay), 1 when it is stored without an answer
 * (ids set in out), 0 when there is none, or an error status.
 */
static int chat_by_key(struct request *req, struct response *res, const char *scope,
		       const char *key, struct chat_result *out)
{
	struct json_object *found = NULL, *v, *answer = NULL;
	int rc = db_message_by_key(req->app->db, scope, key, &found);

	if (rc < 0)
		return response_unavailable(res, "Postgres", db_retry_after(req->app->db));
	if (rc == 0)
		return 0;
	json_object_object_get_ex(found, "user_message_id", &v);
	snprintf(out->user_message_id, sizeof(out->user_message_id), "%s", json_object_get_string(v));
	json_object_object_get_ex(found, "conversation_id", &v);
	snprintf(out->conversation_id, sizeof(out->conversation_id), "%s", json_object_get_string(v));
	rc = 1;
	if (json_object_object_get_ex(found, "answer", &answer) && answer != NULL) {
		chat_from_answer(answer, out);
		rc = 200;
	}
	json_object_put(found);
	return rc;
}

/*
 * Makes this request the only one working on (scope, key): takes the lease
 * "pc:chat:lease:<scope>:<key>", or waits while another request holds it
 * and returns that request's answer once stored. Returns 0 (go on; *lease
 * tells whether the lease is held: not when Redis is down), 200 (answered by
 * the other request), or an error status.
 */
static int chat_claim(struct request *req, struct response *res, const char *scope,
		      const char *key, int64_t deadline_ms, char *lease_key, size_t lklen,
		      struct chat_result *out, bool *lease)
{
	struct app *app = req->app;

	snprintf(lease_key, lklen, "pc:chat:lease:%s:%s", scope, key);
	for (;;) {
		int got = kv_set_nx(app->kv, lease_key, req->id, app->cfg->chat_deadline_seconds + 5);
		if (got != 0) {
			*lease = got == 1;
			return 0;
		}
		int st = chat_by_key(req, res, scope, key, out);
		if (st == 200 || st > 1)
			return st;
		if (clock_mono_ms() >= deadline_ms) {
			res->retry_after = 2;
			return response_error(res, 503,
					      "The first request with this Idempotency-Key is "
					      "still being answered; retry later");
		}
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* ---- the model calls ------------------------------------------------------ */

struct chat_piece_ctx {
	const struct chat_stream *stream;
	const struct model *model;
	struct chat_result *out;
};

static int chat_piece(void *arg, const char *text, size_t len)
{
	struct chat_piece_ctx *c = arg;

	c->out->streamed = true;
	return c->stream->piece(c->stream->arg, c->model->name, text, len);
}

/* Candidates: the requested model first, then the chat task's healthy ones. */
static int chat_candidates(struct app *app, const char *requested, const struct model **out)
{
	const struct model *healthy[MODELS_MAX];
	int n = 0, k = modelstate_candidates(app, "chat", healthy, MODELS_MAX);

	if (requested != NULL)
		out[n++] = models_find(app->models, requested);
	for (int i = 0; i < k; i++)
		if (n == 0 || out[0] != healthy[i])
			out[n++] = healthy[i];
	return n;
}

/* Title of a new conversation: the first line of the message, cut at 80 characters. */
static void chat_title(const char *msg, char *title, size_t len)
{
	size_t n = 0, chars = 0;

	while (msg[n] != '\0' && msg[n] != '\n' && n + 4 < len) {
		if (((unsigned char)msg[n] & 0xc0) != 0x80 && ++chars > 80)
			break;
		n++;
	}
	memcpy(title, msg, n);
	title[n] = '\0';
}

/*
 * Durability. A JSON request's user message is committed asynchronously
 * (its commit does not wait for the WAL flush): it is committed, visible and
 * unique before any model is called, and nothing acknowledged can be lost.
 * Postgres writes and flushes WAL in order, so a synchronous commit returns
 * only once every commit record before it is on disk, and a synchronous
 * commit becomes visible to others only after that flush. Every answer that
 * tells a client a message is stored comes after such a commit:
 *   - 200: the answer's statement commits synchronously before the response
 *     (its commit record follows the message's, which it references); a
 *     replayed answer was committed synchronously by its own request, and
 *     was visible only once flushed;
 *   - 503 "your message was saved": the failure's agent_logs row is
 *     committed synchronously before it, also when the message was stored by
 *     an earlier request with the same key (if that commit fails and this
 *     request did not itself store the message synchronously, the answer is
 *     a plain "Postgres unavailable" 503, which claims nothing);
 *   - other errors (Postgres down, 404, 409) do not say the message is stored.
 * A Postgres crash in the few hundred milliseconds before the WAL writer
 * flushes can therefore only lose a message whose sender got no answer or an
 * error (another client may have seen it in the history meanwhile). A stream
 * tells the client the message's id in its first event, before the answer
 * is stored, so streamed messages commit synchronously.
 */
int chat_send(struct request *req, struct response *res, const struct chat_request *in,
	      const struct chat_stream *stream, struct chat_result *out)
{
	struct app *app = req->app;
	const struct config *cfg = app->cfg;
	int64_t t0 = clock_mono_ms(), deadline = t0 + (int64_t)cfg->chat_deadline_seconds * 1000;
	struct json_object *history = NULL, *notification = NULL;
	struct chat_record *rec = NULL;
	char scope[96], lease_key[320] = "";
	/* durable: this request stored the message with a synchronous commit */
	bool lease = false, new_conversation = false, durable = false;
	int st = 0;

	memset(out, 0, sizeof(*out));
	if (db_ready(app->db) < 0)
		return response_unavailable(res, "Postgres", db_retry_after(app->db));
	chat_scope(req, scope, sizeof(scope));

	/* 1. the user message: with an idempotency key, first become the one
	 * request working on it, then reuse what is stored under it */
	if (in->idempotency_key != NULL) {
		st = chat_claim(req, res, scope, in->idempotency_key, deadline, lease_key,
				sizeof(lease_key), out, &lease);
		if (st != 0)
			goto out;
		st = chat_by_key(req, res, scope, in->idempotency_key, out);
		if (st == 1) { /* stored, never answered: answer it now */
			struct db_conversation conv;
			if (db_conversation_get(app->db, out->conversation_id,
						cfg->chat_history_turns, &conv, &history) < 0) {
				st = response_unavailable(res, "Postgres", db_retry_after(app->db));
				goto out;
			}
			st = 0;
			goto prompt;
		}
		if (st != 0)
			goto out;
	}
	bool create = in->conversation_id == NULL;
	if (create) {
		request_uuid(out->conversation_id);
	} else {
		struct db_conversation conv;
		int rc = db_conversation_get(app->db, in->conversation_id, cfg->chat_history_turns,
					     &conv, &history);
		if (rc < 0) {
			st = response_unavailable(res, "Postgres", db_retry_after(app->db));
			goto out;
		}
		bool mine = rc == 1 && (conv.user_id[0] == '\0' ||
					(req->user.known && strcmp(conv.user_id, req->user.id) == 0) ||
					auth_is_admin(req));
		if (!mine || conv.deleted) {
			st = response_error(res, 404, "Conversation not found");
			goto out;
		}
		snprintf(out->conversation_id, sizeof(out->conversation_id), "%s",
			 in->conversation_id);
	}
	char title[400], url[96];
	chat_title(in->message, title, sizeof(title));
	snprintf(url, sizeof(url), "/dashboard/conversations/%s", out->conversation_id);
	/* a signed-in user's new conversation notifies them */
	const struct db_new_notification started = {
		.type = "conversation",
		.severity = "info",
		.title = "New Conversation Started",
		.message = "A new conversation with the PixelCraft assistant has started.",
		.action_url = url,
	};
	struct db_user_message um = {
		.conversation_id = out->conversation_id,
		.create = create,
		.user_id = req->user.known ? req->user.id : NULL,
		.title = title,
		.metadata = in->context
				    ? json_object_to_json_string_ext(in->context, JSON_C_TO_STRING_PLAIN)
				    : "{}",
		.content = in->message,
		.idem_key = in->idempotency_key,
		.idem_scope = in->idempotency_key ? scope : NULL,
		.notification = &started,
		/* see "durability" above chat_send: a JSON answer is only sent after
		 * a later synchronous commit; a stream tells the message's id early */
		.async_commit = stream == NULL,
	};
	int added = db_message_add_user(app->db, &um, out->user_message_id, &notification);
	durable = added == 1 && !um.async_commit;
	new_conversation = create && added == 1;
	if (added < 0) {
		st = response_unavailable(res, "Postgres", db_retry_after(app->db));
		goto out;
	}
	if (added == 0) {
		/* the key was used meanwhile (only possible while Redis is down) */
		json_object_put(history);
		history = NULL;
		st = chat_by_key(req, res, scope, in->idempotency_key, out);
		if (st != 1)
			goto out;
		struct db_conversation conv;
		if (db_conversation_get(app->db, out->conversation_id, cfg->chat_history_turns,
					&conv, &history) < 0) {
			st = response_unavailable(res, "Postgres", db_retry_after(app->db));
			goto out;
		}
		st = 0;
	}

prompt:;
	/* 2. the prompt: persona, context, history, the message */
	struct llm_message msgs[CHAT_MAX_MESSAGES];
	int n = 0;
	char context[9000];
	msgs[n++] = (struct llm_message){"system", app->system_prompt};
	if (in->context != NULL) {
		snprintf(context, sizeof(context), "Context from the website (JSON): %s",
			 json_object_to_json_string_ext(in->context, JSON_C_TO_STRING_PLAIN));
		msgs[n++] = (struct llm_message){"system", context};
	}
	for (size_t i = 0; history && i < json_object_array_length(history) &&
			   n < CHAT_MAX_MESSAGES - 1;
	     i++) {
		struct json_object *m = json_object_array_get_idx(history, i), *role, *content;
		json_object_object_get_ex(m, "role", &role);
		json_object_object_get_ex(m, "content", &content);
		msgs[n++] = (struct llm_message){json_object_get_string(role),
						 json_object_get_string(content)};
	}
	msgs[n++] = (struct llm_message){"user", in->message};

	/* 3. the models, in order, until one answers or time is up */
	const struct model *cand[MODELS_MAX + 1];
	int ncand = chat_candidates(app, in->model, cand);
	rec = calloc(1, sizeof(*rec));
	snprintf(rec->conversation_id, sizeof(rec->conversation_id), "%s", out->conversation_id);
	snprintf(rec->user_message_id, sizeof(rec->user_message_id), "%s", out->user_message_id);
	if (req->user.known)
		snprintf(rec->user_id, sizeof(rec->user_id), "%s", req->user.id);
	rec->new_conversation = new_conversation;
	if (notification != NULL)
		snprintf(rec->notification, sizeof(rec->notification), "%s",
			 json_object_to_json_string_ext(notification, JSON_C_TO_STRING_PLAIN));
	struct llm_reply reply = {0};
	const struct model *answered = NULL;
	for (int i = 0; i < ncand && !answered; i++) {
		int64_t left = deadline - clock_mono_ms();
		if (left <= 0)
			break;
		int timeout = cand[i]->timeout_seconds * 1000;
		if (timeout > left)
			timeout = (int)left;
		struct chat_piece_ctx pc = {stream, cand[i], out};
		int64_t c0 = clock_mono_ms();
		llm_reply_free(&reply);
		int rc = llm_chat(app->llm, cand[i], msgs, n, timeout, stream ? chat_piece : NULL,
				  &pc, &reply);
		struct chat_call *call = &rec->calls[rec->ncalls++];
		call->model = cand[i];
		call->latency_ms = (int)(clock_mono_ms() - c0);
		call->at_ms = clock_wall_ms();
		call->tokens_in = reply.prompt_tokens;
		call->tokens_out = reply.completion_tokens;
		if (rc == 0) {
			call->ok = true;
			answered = cand[i];
			break;
		}
		snprintf(call->error, sizeof(call->error), "%s: %.140s", llm_fail_names[reply.fail],
			 reply.error);
		jsonbody_utf8_scrub(call->error); /* the provider's text, cut anywhere */
		struct log_line l;
		log_begin(&l, reply.fail == LLM_ABORTED ? LOG_INFO : LOG_WARN, "model_call_failed");
		log_str(&l, "request_id", req->id);
		log_str(&l, "model", cand[i]->name);
		log_str(&l, "reason", llm_fail_names[reply.fail]);
		log_str(&l, "error", reply.error);
		log_int(&l, "latency_ms", call->latency_ms);
		log_end(&l);
		if (reply.fail == LLM_ABORTED || out->streamed) {
			/* the client is gone, or already saw part of this answer:
			 * keep what there is, mark it partial, do not start over */
			out->partial = true;
			answered = cand[i];
			call->ok = false;
			break;
		}
	}
	out->latency_ms = (int)(clock_mono_ms() - t0);
	if (answered == NULL) {
		snprintf(rec->status, sizeof(rec->status), "error");
		snprintf(rec->error, sizeof(rec->error), "%s",
			 ncand == 0 ? "no healthy model" : rec->calls[rec->ncalls - 1].error);
		rec->latency_ms = out->latency_ms;
		/* the 503 says the message is stored: unless this request stored it
		 * with a synchronous commit, the failure's synchronous commit must
		 * come first (its WAL flush covers the message's commit too) */
		if (db_chat_failed(app->db, out->conversation_id, rec->latency_ms, rec->error) == 0) {
			rec->failure_logged = true;
		} else if (!durable) {
			llm_reply_free(&reply);
			st = response_unavailable(res, "Postgres", db_retry_after(app->db));
			goto out;
		}
		res->body = json_object_new_object();
		json_object_object_add(res->body, "conversation_id",
				       json_object_new_string(out->conversation_id));
		res->retry_after = 5;
		st = response_error(res, 503,
				    ncand == 0 ? "No model is available right now; your message was "
						 "saved, retry later"
					       : "No model could answer in time; your message was "
						 "saved, retry later");
		llm_reply_free(&reply);
		goto out;
	}

	/* 4. the answer, committed before the response */
	snprintf(out->model_used, sizeof(out->model_used), "%s", answered->name);
	out->response = reply.text ? reply.text : strdup("");
	reply.text = NULL;
	out->prompt_tokens = reply.prompt_tokens;
	out->completion_tokens = reply.completion_tokens;
	struct db_answer a = {
		.conversation_id = out->conversation_id,
		.reply_to = out->user_message_id,
		.content = out->response,
		.model = answered->name,
		.tokens_in = out->prompt_tokens,
		.tokens_out = out->completion_tokens,
		.latency_ms = out->latency_ms,
		.partial = out->partial,
	};
	int rc = db_message_add_answer(app->db, &a, out->message_id, out->created_at);
	if (rc < 0) {
		st = response_unavailable(res, "Postgres", db_retry_after(app->db));
		goto out;
	}
	if (rc == 0) {
		/* answered meanwhile by another request (only while Redis is down):
		 * the stored answer is the answer */
		st = in->idempotency_key ? chat_by_key(req, res, scope, in->idempotency_key, out)
					 : 0;
		if (st != 200)
			st = response_error(res, 409, "This message was answered by another request");
		goto out;
	}
	snprintf(rec->status, sizeof(rec->status), "%s", out->partial ? "partial" : "success");
	snprintf(rec->answer_id, sizeof(rec->answer_id), "%s", out->message_id);
	rec->latency_ms = out->latency_ms;
	st = 200;
out:
	if (lease)
		kv_del(app->kv, lease_key);
	/* also the calls of a message answered meanwhile by another request */
	if (rec != NULL && (rec->status[0] != '\0' || rec->ncalls > 0)) {
		server_defer(chat_write_records, rec); /* the server frees it */
		rec = NULL;
	}
	free(rec);
	json_object_put(history);
	json_object_put(notification);
	return st;
}
