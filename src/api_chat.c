/*
 * api_chat: the chat routes. The work is in chat.c; this file validates
 * input, checks conversation ownership for history routes, and renders the
 * answer as JSON or as Server-Sent Events.
 */
#include "api.h"
#include "app.h"
#include "auth.h"
#include "chat.h"
#include "clock.h"
#include "db.h"
#include "jsonbody.h"
#include "live.h"
#include "log.h"
#include "models.h"
#include "query.h"
#include "request.h"
#include "response.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct jsonbody_field api_chat_fields[] = {
	{"message", JB_STRING, true, false, 1, 10000},
	{"conversation_id", JB_UUID, false, true, 0, 0},
	{"model", JB_STRING, false, true, 1, 64},
	{"context", JB_OBJECT, false, true, 0, 8192},
};

/* An Idempotency-Key we accept: 1..128 of [A-Za-z0-9_.:-]. */
static bool api_chat_key_ok(const char *k)
{
	size_t n = 0;

	for (; k[n]; n++)
		if (!(isalnum((unsigned char)k[n]) || strchr("_.:-", k[n])))
			return false;
	return n >= 1 && n <= 128;
}

/* Copies s without leading and trailing white space into the request arena. */
static char *api_chat_trim(struct request *req, const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *t = request_strdup(req, s);
	size_t n = t ? strlen(t) : 0;
	while (n > 0 && isspace((unsigned char)t[n - 1]))
		t[--n] = '\0';
	return t;
}

/* Parses and validates the body and headers into in; 0 or an error status. */
static int api_chat_input(struct request *req, struct response *res, struct json_object **body,
			  struct chat_request *in)
{
	struct json_object *v;
	int st = jsonbody_parse(req->body, req->body_len, body, res);

	if (st != 0)
		return st;
	st = jsonbody_check(*body, api_chat_fields, 4, res);
	const char *key = request_header(req, "Idempotency-Key");
	if (key != NULL && !api_chat_key_ok(key)) {
		response_field_error(res, "Idempotency-Key",
				     "must be 1 to 128 characters of letters, digits and _.:-");
		st = response_error(res, 422, "Request validation failed");
	}
	if (json_object_object_get_ex(*body, "model", &v) && v != NULL &&
	    json_object_is_type(v, json_type_string) &&
	    models_find(req->app->models, json_object_get_string(v)) == NULL) {
		char msg[512];
		size_t len = (size_t)snprintf(msg, sizeof(msg), "unknown model; known:");
		for (int i = 0; i < models_count(req->app->models) && len < sizeof(msg); i++)
			len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s %s", i ? "," : "",
						models_at(req->app->models, i)->name);
		response_field_error(res, "model", msg);
		st = response_error(res, 422, "Request validation failed");
	}
	if (st != 0)
		return st;
	json_object_object_get_ex(*body, "message", &v);
	in->message = api_chat_trim(req, json_object_get_string(v));
	in->conversation_id = json_object_object_get_ex(*body, "conversation_id", &v) && v
				      ? json_object_get_string(v)
				      : NULL;
	in->model =
		json_object_object_get_ex(*body, "model", &v) && v ? json_object_get_string(v) : NULL;
	in->context = json_object_object_get_ex(*body, "context", &v) ? v : NULL;
	in->idempotency_key = key;
	return 0;
}

/* The success body of /api/chat/message, and the data of the stream's "done". */
static struct json_object *api_chat_answer(const struct chat_result *r, bool with_text)
{
	struct json_object *o = json_object_new_object(), *usage = json_object_new_object();
	char iso[48];

	if (with_text)
		json_object_object_add(o, "response", json_object_new_string(r->response));
	json_object_object_add(o, "conversation_id", json_object_new_string(r->conversation_id));
	json_object_object_add(o, "message_id", json_object_new_string(r->message_id));
	json_object_object_add(o, "user_message_id", json_object_new_string(r->user_message_id));
	json_object_object_add(o, "model_used", json_object_new_string(r->model_used));
	json_object_object_add(usage, "prompt_tokens", json_object_new_int(r->prompt_tokens));
	json_object_object_add(usage, "completion_tokens",
			       json_object_new_int(r->completion_tokens));
	json_object_object_add(o, "usage", usage);
	json_object_object_add(o, "latency_ms", json_object_new_int(r->latency_ms));
	json_object_object_add(o, "agent_type", json_object_new_string("chat"));
	json_object_object_add(
		o, "timestamp",
		json_object_new_string(r->created_at[0]
					       ? r->created_at
					       : clock_iso8601(clock_wall_ms(), iso, sizeof(iso))));
	if (r->replayed)
		json_object_object_add(o, "replayed", json_object_new_boolean(1));
	return o;
}

int api_chat_message(struct request *req, struct response *res)
{
	struct json_object *body = NULL;
	struct chat_request in = {0};
	struct chat_result out = {0};
	int st = api_chat_input(req, res, &body, &in);

	if (st == 0)
		st = chat_send(req, res, &in, NULL, &out);
	if (st == 200) {
		res->body = api_chat_answer(&out, true);
		if (out.replayed)
			response_header(res, "Idempotent-Replayed", "true");
	}
	chat_result_free(&out);
	json_object_put(body);
	return st;
}

/* ---- Server-Sent Events ---------------------------------------------------- */

struct api_chat_sse {
	struct request *req;
	struct response *res;
	struct chat_result *out;
	bool started;
	bool gone;
};

/* Writes one event; marks the client gone when the write fails. */
static void api_chat_event(struct api_chat_sse *s, const char *event, struct json_object *data)
{
	char *frame = NULL;

	if (s->gone)
		goto out;
	int n = asprintf(&frame, "event: %s\ndata: %s\n\n", event,
			 json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN |
								      JSON_C_TO_STRING_NOSLASHESCAPE));
	if (n < 0 || s->req->stream_write(s->req->stream_ctx, frame, (size_t)n) < 0)
		s->gone = true;
out:
	free(frame);
	json_object_put(data);
}

/* Sends the headers and the "start" event, once. */
static void api_chat_start(struct api_chat_sse *s, const char *model)
{
	size_t len;

	if (s->started)
		return;
	s->started = true;
	char *head = response_render_head(s->res, s->req, 200, "text/event-stream", &len);
	if (head == NULL || s->req->stream_write(s->req->stream_ctx, head, len) < 0)
		s->gone = true;
	free(head);
	struct json_object *d = json_object_new_object();
	json_object_object_add(d, "conversation_id",
			       json_object_new_string(s->out->conversation_id));
	json_object_object_add(d, "user_message_id",
			       json_object_new_string(s->out->user_message_id));
	json_object_object_add(d, "model", json_object_new_string(model));
	api_chat_event(s, "start", d);
}

static int api_chat_piece(void *arg, const char *model, const char *text, size_t len)
{
	struct api_chat_sse *s = arg;

	api_chat_start(s, model);
	struct json_object *d = json_object_new_object();
	json_object_object_add(d, "token", json_object_new_string_len(text, (int)len));
	api_chat_event(s, "token", d);
	return s->gone ? 1 : 0;
}

int api_chat_stream(struct request *req, struct response *res)
{
	struct json_object *body = NULL;
	struct chat_request in = {0};
	struct chat_result out = {0};
	struct api_chat_sse sse = {req, res, &out, false, false};
	struct chat_stream stream = {api_chat_piece, &sse};
	int st = api_chat_input(req, res, &body, &in);

	if (st == 0)
		st = chat_send(req, res, &in, &stream, &out);
	if (st == 200 && !out.streamed) {
		/* answered without streaming (a replay): the same events at once */
		api_chat_piece(&sse, out.model_used, out.response, strlen(out.response));
	}
	if (sse.started) {
		if (st == 200 && !out.partial)
			api_chat_event(&sse, "done", api_chat_answer(&out, false));
		else if (st != 200 || out.partial) {
			struct json_object *d = json_object_new_object();
			json_object_object_add(d, "detail",
					       json_object_new_string(st == 200 ? "generation stopped"
										: res->detail));
			json_object_object_add(d, "conversation_id",
					       json_object_new_string(out.conversation_id));
			json_object_object_add(d, "request_id", json_object_new_string(req->id));
			api_chat_event(&sse, "error", d);
		}
		res->sent = true;
		if (out.partial) {
			struct log_line l;
			log_begin(&l, LOG_INFO, "chat_stream_cut");
			log_str(&l, "request_id", req->id);
			log_str(&l, "message_id", out.message_id);
			log_end(&l);
		}
	}
	chat_result_free(&out);
	json_object_put(body);
	return st;
}

/* ---- history ------------------------------------------------------------- */

/*
 * The conversation in the path, if the caller may see it: anonymous
 * conversations are open to whoever has the id; others to their owner and
 * admins. 0 or an error status (404 also when not allowed: nothing leaks).
 */
static int api_chat_owned(struct request *req, struct response *res, const char **id)
{
	struct db_conversation conv;

	*id = request_path_param(req, 0);
	if (!query_uuid(res, "conversation_id", *id))
		return response_error(res, 422, "Request validation failed");
	int rc = db_conversation_get(req->app->db, *id, 0, &conv, NULL);
	if (rc < 0)
		return response_unavailable(res, "Postgres", db_retry_after(req->app->db));
	bool allowed = rc == 1 && !conv.deleted &&
		       (conv.user_id[0] == '\0' ||
			(req->user.known && strcmp(conv.user_id, req->user.id) == 0) ||
			auth_is_admin(req));
	return allowed ? 0 : response_error(res, 404, "Conversation not found");
}

int api_chat_history(struct request *req, struct response *res)
{
	const char *id;
	long limit, offset;
	int total = 0;
	bool ok = query_int(req, res, "limit", 50, 1, 200, &limit);

	ok = query_int(req, res, "offset", 0, 0, 1000000, &offset) && ok;
	if (!ok)
		return response_error(res, 422, "Request validation failed");
	int st = api_chat_owned(req, res, &id);
	if (st != 0)
		return st;
	int rc = db_history(req->app->db, id, (int)limit, (int)offset, &res->body, &total);
	if (rc < 0)
		return response_unavailable(res, "Postgres", db_retry_after(req->app->db));
	if (rc == 0)
		return response_error(res, 404, "Conversation not found");
	response_header(res, "X-Total-Count", "%d", total);
	return 200;
}

int api_chat_delete(struct request *req, struct response *res)
{
	const char *id;
	int st = api_chat_owned(req, res, &id);

	if (st != 0)
		return st;
	int rc = db_conversation_delete(req->app->db, id);
	if (rc < 0)
		return response_unavailable(res, "Postgres", db_retry_after(req->app->db));
	if (rc == 0)
		return response_error(res, 404, "Conversation not found");
	struct json_object *d = json_object_new_object();
	json_object_object_add(d, "conversation_id", json_object_new_string(id));
	live_publish(req->app, LIVE_ANALYTICS, "conversation_deleted", d);
	return 204;
}

int api_chat_conversations(struct request *req, struct response *res)
{
	struct json_object *items = NULL;
	long limit, offset;
	int total = 0;
	bool ok = query_int(req, res, "limit", 50, 1, 200, &limit);

	ok = query_int(req, res, "offset", 0, 0, 1000000, &offset) && ok;
	if (!ok)
		return response_error(res, 422, "Request validation failed");
	if (db_conversations_of(req->app->db, req->user.id, (int)limit, (int)offset, &items,
				&total) < 0)
		return response_unavailable(res, "Postgres", db_retry_after(req->app->db));
	res->body = json_object_new_object();
	json_object_object_add(res->body, "conversations", items);
	json_object_object_add(res->body, "total", json_object_new_int(total));
	json_object_object_add(res->body, "limit", json_object_new_int((int)limit));
	json_object_object_add(res->body, "offset", json_object_new_int((int)offset));
	return 200;
}
