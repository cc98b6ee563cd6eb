/*
 * chat: one chat message end to end, independent of HTTP.
 *
 * Stores the user's message (creating the conversation when needed) before
 * any model is called, so an accepted message is never lost; sends the
 * system prompt, the last CHAT_HISTORY_TURNS turns and the message to the
 * healthy candidates of the chat task in order (an explicitly requested
 * model first), falling back on failure within CHAT_DEADLINE_SECONDS;
 * stores the answer; and after the response is sent records every model
 * call (shared metrics and circuit breaker in Redis, model_metrics and
 * agent_logs in Postgres).
 *
 * With an idempotency key, a repeated message from the same caller returns
 * the first answer without calling a model again, also when both arrive at
 * once (the second waits for the first's answer, which is guarded by a Redis
 * lease so it is generated only once).
 */
#ifndef PIXELCRAFT_CHAT_H
#define PIXELCRAFT_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct app;
struct json_object;
struct request;
struct response;

struct chat_request {
	const char *message;         /* trimmed, validated */
	const char *conversation_id; /* NULL: start a new conversation */
	const char *model;           /* NULL: route by task */
	struct json_object *context; /* NULL or a small object from the website */
	const char *idempotency_key; /* NULL: none */
};

/* Streaming: called with each piece of the answer; non-zero stops (client gone). */
struct chat_stream {
	int (*piece)(void *arg, const char *model, const char *text, size_t len);
	void *arg;
};

struct chat_result {
	char conversation_id[40];
	char user_message_id[40];
	char message_id[40];   /* the answer */
	char created_at[48];   /* of the answer, ISO 8601 */
	char *response;        /* the answer's text (owned) */
	char model_used[72];
	int prompt_tokens;
	int completion_tokens;
	int latency_ms;
	bool replayed;         /* returned from an earlier identical request */
	bool partial;          /* the stream was cut: partial answer stored */
	bool streamed;         /* at least one piece went to the stream */
};

/*
 * Runs one chat message for the caller of req. Returns the HTTP status: 200
 * with out filled; 404 (conversation not found or not the caller's); 503
 * (Postgres down, or no model could answer: out->conversation_id is set and
 * the message stays stored) with the details in res. stream may be NULL.
 */
int chat_send(struct request *req, struct response *res, const struct chat_request *in,
	      const struct chat_stream *stream, struct chat_result *out);

/*
 * Writes the model_metrics rows this worker has collected (see chat.c) when
 * enough are pending or the oldest has waited a second; force: now, if any.
 * Call after every request, when idle, and before exiting.
 */
void chat_flush_records(struct app *app, bool force);

/* Frees what chat_send allocated in out. */
void chat_result_free(struct chat_result *out);

/* Reads SYSTEM_PROMPT_FILE; NULL after printing a config error to err. Caller frees. */
char *chat_load_system_prompt(const char *path, FILE *err);

#endif
