/*
 * db: one PostgreSQL connection of the worker: the primary (DATABASE_URL),
 * and, when DATABASE_READ_URL is set, a second handle on the read replica
 * used by the analytics reports.
 *
 * The connection is opened at start-up (a failure is not fatal), kept for
 * DB_RECYCLE_SECONDS, and re-opened after it breaks: at once the first time,
 * then on the backoff schedule (DB_RETRY_*). Every query runs with a deadline
 * (DB_QUERY_TIMEOUT_MS, enforced on the client with the async API and on the
 * server with statement_timeout); a query that overruns it drops the
 * connection so the worker is never left blocked.
 *
 * Queries live in the db module (db_*.c) and return plain C values or
 * json_object trees; no libpq type crosses this header.
 */
#ifndef PIXELCRAFT_DB_H
#define PIXELCRAFT_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct config;
struct db;
struct json_object;

/* Why the last operation failed. */
enum db_fail {
	DB_OK,
	DB_DOWN,     /* no connection (or it broke): 503 */
	DB_TIMEOUT,  /* deadline passed: 503 */
	DB_CONFLICT, /* unique violation: 409 */
	DB_INVALID,  /* the server refused a value (bad uuid, check constraint): 422 */
	DB_FAILED,   /* anything else: 500 */
	DB__MAX
};

/*
 * Allocates a handle for the connection URI url (borrowed: it must outlive
 * the handle, e.g. cfg->database_url) and, unless lazy, tries to connect
 * once; a lazy handle connects on its first use (so a worker that never uses
 * it holds no connection). NULL only when out of memory. Every handle has
 * the same deadlines, backoff and reconnects (cfg's DB_*). name labels the
 * handle's log lines ("db": name); NULL for the primary connection. A worker
 * may hold several handles (the primary and the analytics replica); a
 * prepared statement (struct db_stmt) must always be run on the same one.
 */
struct db *db_open(const struct config *cfg, const char *url, const char *name, bool lazy);

/* Closes the connection and frees the handle; accepts NULL. */
void db_close(struct db *db);

/*
 * Makes sure a connection is usable: connects when there is none and the
 * backoff allows it, recycles an old one, checks one that saw an error.
 * Returns 0 when ready, -1 when Postgres is unavailable (see db_retry_after).
 */
int db_ready(struct db *db);

/* True when the last known state is connected (no I/O). */
bool db_up(const struct db *db);

/* Seconds a client should wait before retrying, for Retry-After. */
int db_retry_after(const struct db *db);

/* The kind of the last failure. */
enum db_fail db_last_fail(const struct db *db);

/* Text of the last failure (borrowed, valid until the next call). */
const char *db_last_error(const struct db *db);

/* Round trip to the server; 0 and the latency in microseconds, or -1. */
int db_ping(struct db *db, int64_t *latency_us);

/*
 * db_ping in two halves, so a caller can overlap it with other I/O: start
 * sends the ping (0 / -1), finish waits for the answer (0 and the latency
 * since start / -1). finish must follow a successful start.
 */
int db_ping_start(struct db *db);
int db_ping_finish(struct db *db, int64_t *latency_us);

/* Maintenance after a response is sent: recycles an old connection. */
void db_idle(struct db *db);

/* Connection events since start (for metrics). */
int64_t db_reconnects(const struct db *db);

/*
 * Shares "the database is back" between workers and hosts. While the handle
 * waits out its reconnect backoff, seen() (called at most every 100 ms)
 * returns the wall-clock ms of the latest successful reconnect any worker
 * announced, 0 if unknown; one after our last failed attempt ends the wait at
 * once. announce() is called when this handle reconnects after a failure.
 * The backoff still protects a server that is down; a server that is back
 * gets every worker within about 100 ms instead of up to DB_RETRY_MAX_MS.
 */
void db_set_peers(struct db *db, int64_t (*seen)(void *arg, const char *name),
		  void (*announce)(void *arg, const char *name), void *arg);

/*
 * Applies the numbered migrations (NNN_name.sql) in dir that are not yet
 * recorded in schema_migrations, each in its own transaction, under an
 * advisory lock so concurrent runs serialise. An applied file whose content
 * changed is an error. Progress lines go to out. 0 / -1.
 */
int db_migrate(struct db *db, const char *dir, FILE *out);

/* ---- db_auth.c ---- */

/*
 * The application role of user_id ("user" or "admin") into role. Returns 1
 * when the user has a profile row, 0 when not (role is then "user"), -1 on
 * error.
 */
int db_user_role(struct db *db, const char *user_id, char *role, size_t len);

/* ---- db_chat.c ---- */

/* A conversation as the chat needs it. */
struct db_conversation {
	char user_id[40]; /* owner, "" for an anonymous conversation */
	bool deleted;
};

/*
 * Conversation id: 1 found (out set), 0 not found, -1 error. With
 * history_turns > 0, also its last history_turns turns (oldest first) as a
 * JSON array of {"role", "content"} in *history (caller puts).
 */
int db_conversation_get(struct db *db, const char *id, int history_turns,
			struct db_conversation *out, struct json_object **history);

/*
 * The message stored under an idempotency key: 1 found, 0 not, -1 error.
 * *found (caller puts) is {"user_message_id", "conversation_id", "answer":
 * null | {"id", "content", "model", "tokens_in", "tokens_out", "latency_ms",
 * "created_at", "status"}}.
 */
int db_message_by_key(struct db *db, const char *scope, const char *key,
		      struct json_object **found);

struct db_user_message {
	const char *conversation_id;
	bool create;	     /* create the conversation in the same statement */
	const char *user_id; /* owner of a new conversation; NULL: anonymous */
	const char *title;
	const char *metadata; /* JSON object text */
	const char *content;
	const char *idem_key; /* NULL: none */
	const char *idem_scope;
	/* with create and a user_id: this notification for the owner, stored in
	 * the same statement (only when the message is stored); NULL: none */
	const struct db_new_notification *notification;
	bool async_commit; /* commit without waiting for the WAL flush */
};

/*
 * Stores a user message. Returns 1 (its id in id; *notification, when asked
 * for, the stored notification as the notifications API renders it, or
 * NULL; caller puts), 0 when the idempotency key was already used (nothing
 * stored), -1 on error. notification may be NULL.
 *
 * async_commit: the commit returns before its WAL record is flushed, so the
 * message is visible at once but would vanish in a Postgres crash within
 * the next few hundred milliseconds. Use it only when a later synchronous
 * commit of this connection (which flushes all earlier WAL) comes before
 * anything tells the client the message is stored; see chat.c.
 */
int db_message_add_user(struct db *db, const struct db_user_message *in, char id[40],
			struct json_object **notification);

struct db_answer {
	const char *conversation_id;
	const char *reply_to; /* the user message */
	const char *content;
	const char *model;
	int tokens_in, tokens_out, latency_ms;
	bool partial;
};

/*
 * Stores the answer to a user message, touches the conversation and writes
 * the agent_logs row, in one statement. Returns 1 (id and created_at set),
 * 0 when an answer already exists, -1 on error.
 */
int db_message_add_answer(struct db *db, const struct db_answer *a, char id[40],
			  char created_at[48]);

/*
 * The agent_logs row of a message no model answered (status "error"),
 * committed synchronously: written before the 503 that says the message is
 * stored, its commit also flushes the message's asynchronous commit. 0 / -1.
 */
int db_chat_failed(struct db *db, const char *conversation_id, int latency_ms, const char *error);

/*
 * After the response: a model_metrics row per model call (calls: JSON array
 * of {"model_name", "status", "latency_ms", "tokens_in", "tokens_out",
 * "error", "created_at"}, created_at ISO 8601 or absent for now) and, for a
 * message no model answered (status not NULL), its agent_logs row (then
 * conversation_id, latency_ms and error are that message's). Committed
 * asynchronously. 0 / -1.
 */
int db_chat_log(struct db *db, const char *conversation_id, const char *status, int latency_ms,
		const char *error, const char *task, const char *calls);

/*
 * A page of a conversation's messages, oldest first, as a JSON array of
 * {"id", "role", "content", "model", "status", "timestamp"}; *total is the
 * number of messages. 1, 0 (no such conversation, or deleted), -1.
 */
int db_history(struct db *db, const char *conversation_id, int limit, int offset,
	       struct json_object **messages, int *total);

/* Soft-deletes a conversation: 1 done, 0 not found (or already deleted), -1. */
int db_conversation_delete(struct db *db, const char *id);

/*
 * The conversations of user_id, newest first, with message
 * counts: JSON array in *items, their number in *total. 0 / -1.
 */
int db_conversations_of(struct db *db, const char *user_id, int limit, int offset,
			struct json_object **items, int *total);

/*
 * Model call history aggregated per model between two ISO 8601 instants:
 * JSON array of {"model_name", "total_requests", "successes", "failures",
 * "success_rate", "avg_latency_ms", "p50_latency_ms", "p95_latency_ms",
 * "p99_latency_ms", "tokens_in", "tokens_out", "total_tokens"}. 0 / -1.
 */
int db_model_history(struct db *db, const char *start, const char *end, struct json_object **rows);

/* ---- db_notifications.c ---- */

/* A filter of a user's notification list. */
struct db_notification_query {
	const char *recipient_id;
	int limit, offset;
	bool unread_only;
	const char *type; /* NULL: any */
};

/*
 * The caller's notifications, newest first, deleted and expired ones
 * excluded: {"notifications": [...], "total", "unread_count"} in *out
 * (caller puts). Each notification is {"id", "recipient_id",
 * "notification_type", "severity", "title", "message", "action_url",
 * "metadata", "expires_at", "read_at", "created_at"}. 0 / -1.
 */
int db_notifications_list(struct db *db, const struct db_notification_query *q,
			  struct json_object **out);

/* The number of unread (not deleted, not expired) notifications. 0 / -1. */
int db_notifications_unread(struct db *db, const char *recipient_id, int *count);

/* One notification of recipient_id: 1 found (*out, caller puts), 0 not, -1. */
int db_notification_get(struct db *db, const char *recipient_id, const char *id,
			struct json_object **out);

/* Soft-deletes one: 1 done, 0 not found (or not the recipient's), -1. */
int db_notification_delete(struct db *db, const char *recipient_id, const char *id);

/*
 * Marks the recipient's unread notifications among ids (a JSON array text of
 * UUIDs; NULL: all of them) as read. *ids_out receives the JSON array of the
 * ids actually marked (caller puts). Returns the count, or -1.
 */
int db_notifications_mark_read(struct db *db, const char *recipient_id, const char *ids,
			       struct json_object **ids_out);

/* A new notification: its fields. */
struct db_new_notification {
	const char *type, *severity, *title, *message, *action_url;
	const char *metadata; /* JSON object text */
};

/*
 * Creates the notification for recipient_id, or (recipient_id NULL) one for
 * every admin. *created receives the JSON array of the created notification
 * objects (caller puts). 0 / -1.
 */
int db_notifications_create(struct db *db, const char *recipient_id,
			    const struct db_new_notification *n, struct json_object **created);

/* ---- db_analytics.c ---- */

/* The reports of the analytics API, one prepared statement each. */
enum db_analytics_report {
	DB_AN_LEADS_SUMMARY,
	DB_AN_LEADS_TRENDS,
	DB_AN_REVENUE_SUMMARY,
	DB_AN_REVENUE_BY_PACKAGE,
	DB_AN_SUBSCRIPTION_TRENDS,
	DB_AN_CUSTOMER_LTV,
	DB_AN_SUBSCRIPTIONS_LIST,
	DB_AN_CONVERSATIONS_SUMMARY,
	DB_AN_CONVERSATIONS_TRENDS,
	DB_AN_CONVERSATIONS_LIST,
	DB_AN_MODELS_METRICS,
	DB_AN_AGENTS_SUMMARY,
	DB_AN_AGENTS_TRENDS,
	DB_AN_AGENTS_LOGS,
	DB_AN_SERVICES_RECOMMENDATIONS,
	DB_AN__MAX
};

/*
 * What a report is asked for. Rows count when start <= time < end (ISO 8601
 * instants). A report uses the fields it needs and ignores the others.
 */
struct db_analytics_query {
	const char *start, *end;
	const char *user_id;	 /* NULL: every row (an admin); else only this user's */
	const char *aggregation; /* "daily" or "weekly" */
	int limit, offset;	 /* paginated lists */
	const char *status;	 /* filters; NULL: any */
	const char *package_id;
	const char *channel;
	const char *agent_type;
};

/*
 * Runs one report; Postgres builds the whole answer, whose JSON text (an
 * object or an array) goes to *json (caller frees). The lists (customer
 * LTV, subscriptions, conversations, agent logs) come as {"total",
 * "items"}. 0 / -1.
 */
int db_analytics(struct db *db, enum db_analytics_report report, const struct db_analytics_query *q,
		 char **json);

#endif
