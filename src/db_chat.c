/*
 * db_chat: the SQL of conversations and messages.
 *
 * Statements that return structured data build it with json_build_object /
 * json_agg in Postgres, so one round trip returns the whole answer and
 * timestamps come out as ISO 8601 with zone (the session runs in UTC).
 */
#include "db_priv.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

int db_conversation_get(struct db *db, const char *id, int history_turns,
			struct db_conversation *out, struct json_object **history)
{
	/* the last N turns = the last 2N messages, returned oldest first */
	static struct db_stmt st = {
		"conversation_get",
		"SELECT json_build_object("
		" 'user_id', c.user_id, 'deleted', c.deleted_at IS NOT NULL,"
		" 'history', COALESCE((SELECT json_agg(json_build_object('role', h.role,"
		"   'content', h.content) ORDER BY h.created_at, h.id) FROM ("
		"   SELECT m.role, m.content, m.created_at, m.id FROM messages m"
		"   WHERE m.conversation_id = c.id AND m.role IN ('user', 'assistant')"
		"   ORDER BY m.created_at DESC, m.id DESC LIMIT $2) h), '[]'::json))"
		" FROM conversations c WHERE c.id = $1::uuid",
		0};
	char limit[16];
	struct json_object *o = NULL, *v;

	snprintf(limit, sizeof(limit), "%d", history_turns * 2);
	const char *params[] = {id, limit};
	int rc = db_exec_json(db, &st, 2, params, &o);
	if (rc != 1)
		return rc;
	json_object_object_get_ex(o, "user_id", &v);
	snprintf(out->user_id, sizeof(out->user_id), "%s", v ? json_object_get_string(v) : "");
	json_object_object_get_ex(o, "deleted", &v);
	out->deleted = json_object_get_boolean(v);
	if (history != NULL) {
		json_object_object_get_ex(o, "history", &v);
		*history = json_object_get(v);
	}
	json_object_put(o);
	return 1;
}

int db_message_by_key(struct db *db, const char *scope, const char *key,
		      struct json_object **found)
{
	static struct db_stmt st = {
		"message_by_key",
		"SELECT json_build_object('user_message_id', u.id,"
		" 'conversation_id', u.conversation_id,"
		" 'answer', (SELECT json_build_object('id', a.id, 'content', a.content,"
		"   'model', a.model, 'tokens_in', a.tokens_in, 'tokens_out', a.tokens_out,"
		"   'latency_ms', a.latency_ms, 'created_at', a.created_at, 'status', a.status)"
		"   FROM messages a WHERE a.reply_to = u.id))"
		" FROM messages u WHERE u.idempotency_scope = $1 AND u.idempotency_key = $2",
		0};
	const char *params[] = {scope, key};

	return db_exec_json(db, &st, 2, params, found);
}

/*
 * The JSON of a stored notification, as db_notifications.c renders it (the
 * notifications API's shape; keep the two equal).
 */
#define DB_CHAT_NOTIFICATION_JSON                                                                \
	"json_build_object('id', n.id, 'recipient_id', n.recipient_id,"                          \
	" 'notification_type', n.notification_type, 'severity', n.severity, 'title', n.title,"    \
	" 'message', n.message, 'action_url', n.action_url, 'metadata', n.metadata,"              \
	" 'expires_at', n.expires_at, 'read_at', n.read_at, 'created_at', n.created_at)"

/*
 * Commits the statement's transaction without waiting for the WAL flush when
 * $N is 'off' (NULL leaves the setting as it is): set_config(..., true) lasts
 * until this statement's own commit. The CTE is joined so that it runs.
 */
#define DB_CHAT_COMMIT_MODE(n)                                                                   \
	"mode AS (SELECT set_config('synchronous_commit',"                                       \
	" COALESCE($" n "::text, current_setting('synchronous_commit')), true)),"

int db_message_add_user(struct db *db, const struct db_user_message *in, char id[40],
			struct json_object **notification)
{
	/* a new conversation, its first message and the owner's "new
	 * conversation" notification (only if the message is stored) in one
	 * statement */
	static struct db_stmt create = {
		"message_add_user_new",
		"WITH " DB_CHAT_COMMIT_MODE("14")
		" c AS (INSERT INTO conversations (id, user_id, title, metadata)"
		" SELECT $1::uuid, $2::uuid, $3, $4::jsonb FROM mode RETURNING id),"
		" m AS (INSERT INTO messages (conversation_id, role, content, idempotency_key,"
		" idempotency_scope) SELECT c.id, 'user', $5, $6, $7 FROM c"
		" ON CONFLICT (idempotency_scope, idempotency_key)"
		" WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id),"
		" n AS (INSERT INTO notifications (recipient_id, notification_type, severity, title,"
		" message, action_url, metadata)"
		" SELECT $2::uuid, $8::text, $9, $10, $11, $12, $13::jsonb FROM m"
		" WHERE $2::uuid IS NOT NULL AND $8::text IS NOT NULL RETURNING *)"
		" SELECT m.id, (SELECT " DB_CHAT_NOTIFICATION_JSON " FROM n) FROM m",
		0};
	static struct db_stmt add = {
		"message_add_user",
		"WITH " DB_CHAT_COMMIT_MODE("5")
		" m AS (INSERT INTO messages (conversation_id, role, content, idempotency_key,"
		" idempotency_scope) SELECT $1::uuid, 'user', $2, $3, $4 FROM mode"
		" ON CONFLICT (idempotency_scope, idempotency_key)"
		" WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id)"
		" SELECT id FROM m",
		0};
	/* a lost idempotency race leaves the new conversation empty: remove it */
	static struct db_stmt orphan = {
		"conversation_drop_empty",
		"DELETE FROM conversations c WHERE c.id = $1::uuid"
		" AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id)",
		0};
	const char *commit = in->async_commit ? "off" : NULL;
	PGresult *res;
	int rc = -1;

	if (notification != NULL)
		*notification = NULL;
	if (in->create) {
		const struct db_new_notification *n = in->user_id ? in->notification : NULL;
		const char *p[] = {in->conversation_id,
				   in->user_id,
				   in->title,
				   in->metadata,
				   in->content,
				   in->idem_key,
				   in->idem_scope,
				   n ? n->type : NULL,
				   n ? n->severity : NULL,
				   n ? n->title : NULL,
				   n ? n->message : NULL,
				   n ? n->action_url : NULL,
				   n ? (n->metadata ? n->metadata : "{}") : NULL,
				   commit};
		res = db_exec(db, &create, 14, p);
	} else {
		const char *p[] = {in->conversation_id, in->content, in->idem_key, in->idem_scope,
				   commit};
		res = db_exec(db, &add, 5, p);
	}
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		snprintf(id, 40, "%s", PQgetvalue(res, 0, 0));
		if (notification != NULL && PQnfields(res) > 1 && !PQgetisnull(res, 0, 1))
			*notification = json_tokener_parse(PQgetvalue(res, 0, 1));
		rc = 1;
	} else {
		rc = 0;
		if (in->create) {
			const char *p[] = {in->conversation_id};
			PGresult *d = db_exec(db, &orphan, 1, p);
			PQclear(d);
		}
	}
	PQclear(res);
	return rc;
}

int db_message_add_answer(struct db *db, const struct db_answer *a, char id[40],
			  char created_at[48])
{
	/* the answer, the conversation's activity time and the assistant's log
	 * row, in one statement */
	static struct db_stmt st = {
		"message_add_answer",
		"WITH a AS (INSERT INTO messages (conversation_id, role, content, model, tokens_in,"
		" tokens_out, latency_ms, reply_to, status)"
		" VALUES ($1::uuid, 'assistant', $2, $3, $4, $5, $6, $7::uuid, $8)"
		" ON CONFLICT (reply_to) WHERE reply_to IS NOT NULL DO NOTHING"
		" RETURNING id, created_at),"
		" t AS (UPDATE conversations SET updated_at = now() WHERE id = $1::uuid"
		" AND EXISTS (SELECT 1 FROM a)),"
		" l AS (INSERT INTO agent_logs (agent_type, conversation_id, action, status,"
		" latency_ms) SELECT 'chat', $1::uuid, 'process_message',"
		" CASE WHEN $8 = 'partial' THEN 'partial' ELSE 'success' END, $6 FROM a)"
		" SELECT id, to_json(created_at) #>> '{}' FROM a",
		0};
	char tin[16], tout[16], lat[16];
	int rc = -1;

	snprintf(tin, sizeof(tin), "%d", a->tokens_in);
	snprintf(tout, sizeof(tout), "%d", a->tokens_out);
	snprintf(lat, sizeof(lat), "%d", a->latency_ms);
	const char *p[] = {a->conversation_id, a->content, a->model, tin, tout, lat, a->reply_to,
			   a->partial ? "partial" : "complete"};
	PGresult *res = db_exec(db, &st, 8, p);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		snprintf(id, 40, "%s", PQgetvalue(res, 0, 0));
		snprintf(created_at, 48, "%s", PQgetvalue(res, 0, 1));
		rc = 1;
	} else {
		rc = 0;
	}
	PQclear(res);
	return rc;
}

int db_chat_failed(struct db *db, const char *conversation_id, int latency_ms, const char *error)
{
	static struct db_stmt st = {
		"chat_failed",
		"INSERT INTO agent_logs (agent_type, conversation_id, action, status, latency_ms,"
		" error) VALUES ('chat', $1::uuid, 'process_message', 'error', $2::int, $3::text)",
		0};
	char lat[16];

	snprintf(lat, sizeof(lat), "%d", latency_ms);
	const char *p[] = {conversation_id, lat, error};
	PGresult *res = db_exec(db, &st, 3, p);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

int db_chat_log(struct db *db, const char *conversation_id, const char *status, int latency_ms,
		const char *error, const char *task, const char *calls)
{
	/* These records are written after the response and lose nothing a user
	 * sees if the last of them vanish in a crash, so they are committed
	 * asynchronously: set_config(..., true) lasts until this statement's
	 * own commit (the "async" CTE is joined so that it runs). The
	 * agent_logs row is only written here for a failed message (status not
	 * NULL); an answered one got it with the answer. */
#define DB_CHAT_METRICS_INSERT(task, calls)                                                      \
	"INSERT INTO model_metrics (model_name, task_type, status, latency_ms, tokens_in,"       \
	" tokens_out, error, created_at)"                                                        \
	" SELECT c.model_name, $" task "::text, c.status, c.latency_ms, c.tokens_in,"            \
	" c.tokens_out, c.error, COALESCE(c.created_at, now())"                                  \
	" FROM async, json_to_recordset($" calls "::json) AS c(model_name text, status text,"    \
	" latency_ms int, tokens_in int, tokens_out int, error text, created_at timestamptz)"
	static struct db_stmt st = {
		"chat_log",
		"WITH async AS (SELECT set_config('synchronous_commit', 'off', true)),"
		" l AS (INSERT INTO agent_logs (agent_type, conversation_id, action, status,"
		" latency_ms, error) SELECT 'chat', $1::uuid, 'process_message', $2::text, $3::int,"
		" $4::text FROM async WHERE $2::text IS NOT NULL) " DB_CHAT_METRICS_INSERT("5", "6"),
		0};
	/* the usual case, a batch of model calls (a CTE that inserts no row
	 * still opens agent_logs and its indexes) */
	static struct db_stmt metrics = {
		"chat_metrics",
		"WITH async AS (SELECT set_config('synchronous_commit', 'off', true)) "
		DB_CHAT_METRICS_INSERT("1", "2"),
		0};
#undef DB_CHAT_METRICS_INSERT
	char lat[16];
	PGresult *res;

	if (status == NULL) {
		const char *p[] = {task, calls};
		res = db_exec(db, &metrics, 2, p);
	} else {
		snprintf(lat, sizeof(lat), "%d", latency_ms);
		const char *p[] = {conversation_id, status, lat, error, task, calls};
		res = db_exec(db, &st, 6, p);
	}
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

int db_history(struct db *db, const char *conversation_id, int limit, int offset,
	       struct json_object **messages, int *total)
{
	static struct db_stmt st = {
		"history",
		"SELECT json_build_object('total', (SELECT count(*) FROM messages"
		"  WHERE conversation_id = c.id),"
		" 'messages', COALESCE((SELECT json_agg(json_build_object('id', m.id,"
		"  'role', m.role, 'content', m.content, 'model', m.model, 'status', m.status,"
		"  'timestamp', m.created_at) ORDER BY m.created_at, m.id) FROM ("
		"  SELECT * FROM messages WHERE conversation_id = c.id"
		"  ORDER BY created_at, id LIMIT $2 OFFSET $3) m), '[]'::json))"
		" FROM conversations c WHERE c.id = $1::uuid AND c.deleted_at IS NULL",
		0};
	char l[16], o[16];
	struct json_object *r = NULL, *v;

	snprintf(l, sizeof(l), "%d", limit);
	snprintf(o, sizeof(o), "%d", offset);
	const char *p[] = {conversation_id, l, o};
	int rc = db_exec_json(db, &st, 3, p, &r);
	if (rc != 1)
		return rc;
	json_object_object_get_ex(r, "total", &v);
	*total = json_object_get_int(v);
	json_object_object_get_ex(r, "messages", &v);
	*messages = json_object_get(v);
	json_object_put(r);
	return 1;
}

int db_conversation_delete(struct db *db, const char *id)
{
	static struct db_stmt st = {"conversation_delete",
				    "UPDATE conversations SET deleted_at = now()"
				    " WHERE id = $1::uuid AND deleted_at IS NULL",
				    0};
	const char *p[] = {id};
	PGresult *res = db_exec(db, &st, 1, p);

	if (res == NULL)
		return -1;
	int rc = strcmp(PQcmdTuples(res), "1") == 0 ? 1 : 0;
	PQclear(res);
	return rc;
}

int db_conversations_of(struct db *db, const char *user_id, int limit, int offset,
			struct json_object **items, int *total)
{
	static struct db_stmt st = {
		"conversations_of",
		"SELECT json_build_object('total', (SELECT count(*) FROM conversations"
		"  WHERE user_id = $1::uuid AND deleted_at IS NULL),"
		" 'items', COALESCE((SELECT json_agg(json_build_object('id', c.id,"
		"  'title', c.title, 'channel', c.channel, 'status', c.status,"
		"  'created_at', c.created_at, 'updated_at', c.updated_at,"
		"  'message_count', (SELECT count(*) FROM messages m"
		"   WHERE m.conversation_id = c.id)) ORDER BY c.created_at DESC, c.id) FROM ("
		"  SELECT * FROM conversations WHERE user_id = $1::uuid AND deleted_at IS NULL"
		"  ORDER BY created_at DESC, id LIMIT $2 OFFSET $3) c), '[]'::json))",
		0};
	char l[16], o[16];
	struct json_object *r = NULL, *v;

	snprintf(l, sizeof(l), "%d", limit);
	snprintf(o, sizeof(o), "%d", offset);
	const char *p[] = {user_id, l, o};
	if (db_exec_json(db, &st, 3, p, &r) != 1)
		return -1;
	json_object_object_get_ex(r, "total", &v);
	*total = json_object_get_int(v);
	json_object_object_get_ex(r, "items", &v);
	*items = json_object_get(v);
	json_object_put(r);
	return 0;
}

int db_model_history(struct db *db, const char *start, const char *end,
		     struct json_object **rows)
{
	static struct db_stmt st = {
		"model_history",
		"SELECT COALESCE(json_agg(r ORDER BY r.model_name), '[]'::json) FROM ("
		" SELECT model_name, count(*) AS total_requests,"
		"  count(*) FILTER (WHERE status = 'success') AS successes,"
		"  count(*) FILTER (WHERE status = 'error') AS failures,"
		"  round(100.0 * count(*) FILTER (WHERE status = 'success') / count(*), 2)"
		"   AS success_rate,"
		"  round(avg(latency_ms), 2) AS avg_latency_ms,"
		"  percentile_disc(0.50) WITHIN GROUP (ORDER BY latency_ms) AS p50_latency_ms,"
		"  percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_latency_ms,"
		"  percentile_disc(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99_latency_ms,"
		"  sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,"
		"  sum(tokens_in + tokens_out) AS total_tokens"
		" FROM model_metrics WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz"
		" GROUP BY model_name) r",
		0};
	const char *p[] = {start, end};

	return db_exec_json(db, &st, 2, p, rows) < 0 ? -1 : 0;
}
