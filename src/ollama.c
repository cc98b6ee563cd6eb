/*
 * ollama: the Ollama wire protocol. GET /api/tags lists installed models;
 * POST /api/chat generates, either as one JSON reply or, with "stream": true,
 * as NDJSON: one {"message": {"content": piece}, "done": false} per piece,
 * then {"done": true, "prompt_eval_count", "eval_count"}.
 */
#include "llm_priv.h"
#include "config.h"
#include "models.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int llm_ollama_tags(struct llm *llm, int timeout_ms, struct json_object **tags, char *err,
		    size_t errlen)
{
	struct llm_reply r = {0};
	struct json_object *reply = NULL, *models;
	const char *body = NULL;
	char url[1024];
	int rc = -1;

	snprintf(url, sizeof(url), "%s/api/tags", llm_config(llm)->ollama_host);
	struct llm_http req = {.url = url, .timeout_ms = timeout_ms};
	if (llm_http(llm, &req, &body, &r) < 0) {
		snprintf(err, errlen, "%s", r.error);
		goto out;
	}
	reply = json_tokener_parse(body);
	if (!json_object_object_get_ex(reply, "models", &models) ||
	    !json_object_is_type(models, json_type_array)) {
		snprintf(err, errlen, "reply has no models array");
		goto out;
	}
	*tags = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(models); i++) {
		struct json_object *name;
		if (json_object_object_get_ex(json_object_array_get_idx(models, i), "name",
					      &name) &&
		    json_object_is_type(name, json_type_string))
			json_object_array_add(*tags, json_object_get(name));
	}
	rc = 0;
out:
	json_object_put(reply);
	llm_reply_free(&r);
	return rc;
}

/* State of one streamed answer. */
struct ollama_stream {
	struct llm_reply *out;
	llm_token_fn on_token;
	void *arg;
	int done;
	enum llm_fail fail; /* a bad line: why the stream was cut */
	char error[256];
};

/* Token counts and the content piece of one reply object. */
static int ollama_piece(struct json_object *o, struct llm_reply *out, const char **piece)
{
	struct json_object *msg, *content, *v;

	*piece = NULL;
	if (json_object_object_get_ex(o, "error", &v))
		return llm_fail(out, LLM_HTTP, "%s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "message", &msg) &&
	    json_object_object_get_ex(msg, "content", &content) &&
	    json_object_is_type(content, json_type_string))
		*piece = json_object_get_string(content);
	if (json_object_object_get_ex(o, "prompt_eval_count", &v))
		out->prompt_tokens = json_object_get_int(v);
	if (json_object_object_get_ex(o, "eval_count", &v))
		out->completion_tokens = json_object_get_int(v);
	return 0;
}

static int ollama_line(void *arg, char *line, size_t len)
{
	struct ollama_stream *s = arg;
	struct json_object *o = json_tokener_parse(line), *done;
	const char *piece;
	int stop = 0;
	(void)len;

	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		s->fail = LLM_MALFORMED;
		snprintf(s->error, sizeof(s->error), "malformed line in the stream");
		json_object_put(o);
		return 1;
	}
	if (ollama_piece(o, s->out, &piece) < 0) {
		s->fail = s->out->fail;
		snprintf(s->error, sizeof(s->error), "%s", s->out->error);
		json_object_put(o);
		return 1;
	}
	if (piece != NULL && *piece != '\0') {
		llm_reply_append(s->out, piece, strlen(piece));
		stop = s->on_token(s->arg, piece, strlen(piece));
	}
	if (json_object_object_get_ex(o, "done", &done) && json_object_get_boolean(done))
		s->done = 1;
	json_object_put(o);
	return stop;
}

int ollama_chat(struct llm *llm, const struct config *cfg, const struct model *m,
		const struct llm_message *msgs, int n, int timeout_ms, llm_token_fn on_token,
		void *arg, struct llm_reply *out)
{
	struct json_object *req = json_object_new_object(), *arr = json_object_new_array();
	struct json_object *reply = NULL;
	struct ollama_stream s = {out, on_token, arg, 0, LLM_OK, ""};
	const char *body = NULL;
	char url[1024];
	int rc = -1;

	snprintf(url, sizeof(url), "%s/api/chat", cfg->ollama_host);
	json_object_object_add(req, "model", json_object_new_string(m->tag));
	for (int i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "role", json_object_new_string(msgs[i].role));
		json_object_object_add(o, "content", json_object_new_string(msgs[i].content));
		json_object_array_add(arr, o);
	}
	json_object_object_add(req, "messages", arr);
	json_object_object_add(req, "stream", json_object_new_boolean(on_token != NULL));
	json_object_object_add(req, "options", json_object_get(m->options));
	json_object_object_add(req, "keep_alive", json_object_new_string("10m"));
	struct llm_http http = {
		.url = url,
		.body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
		.timeout_ms = timeout_ms,
		.on_line = on_token ? ollama_line : NULL,
		.arg = &s,
	};
	if (llm_http(llm, &http, &body, out) < 0) {
		if (s.fail != LLM_OK) /* cut by a bad line, not by the caller */
			llm_fail(out, s.fail, "%s", s.error);
		goto out;
	}
	if (on_token != NULL) {
		if (!s.done) {
			llm_fail(out, LLM_MALFORMED, "stream ended before \"done\"");
			goto out;
		}
	} else {
		const char *piece;
		reply = json_tokener_parse(body);
		if (reply == NULL || !json_object_is_type(reply, json_type_object)) {
			llm_fail(out, LLM_MALFORMED, "reply is not a JSON object");
			goto out;
		}
		if (ollama_piece(reply, out, &piece) < 0)
			goto out;
		if (piece == NULL) {
			llm_fail(out, LLM_MALFORMED, "reply has no message.content");
			goto out;
		}
		llm_reply_append(out, piece, strlen(piece));
	}
	if (out->text == NULL)
		llm_reply_append(out, "", 0);
	rc = 0;
out:
	json_object_put(req);
	json_object_put(reply);
	return rc;
}
