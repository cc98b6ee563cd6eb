/*
 * db_notifications: the SQL of notifications. Every statement is scoped to
 * the recipient, so another user's notification is simply not found.
 */
#include "db_priv.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The JSON object of a notification row n (the SQL shared by the statements). */
#define DB_NOTIFICATION_JSON                                                                     \
	"json_build_object('id', n.id, 'recipient_id', n.recipient_id,"                          \
	" 'notification_type', n.notification_type, 'severity', n.severity, 'title', n.title,"    \
	" 'message', n.message, 'action_url', n.action_url, 'metadata', n.metadata,"              \
	" 'expires_at', n.expires_at, 'read_at', n.read_at, 'created_at', n.created_at)"

/* Visible: not deleted, not expired. */
#define DB_NOTIFICATION_VISIBLE "n.deleted_at IS NULL AND (n.expires_at IS NULL OR n.expires_at > now())"

int db_notifications_list(struct db *db, const struct db_notification_query *q,
			  struct json_object **out)
{
	static struct db_stmt st = {
		"notifications_list",
		"WITH v AS (SELECT * FROM notifications n WHERE n.recipient_id = $1::uuid AND "
		DB_NOTIFICATION_VISIBLE ")"
		" SELECT json_build_object("
		" 'notifications', COALESCE((SELECT json_agg(" DB_NOTIFICATION_JSON
		"  ORDER BY n.created_at DESC, n.id) FROM (SELECT * FROM v"
		"  WHERE ($4::bool IS NOT TRUE OR read_at IS NULL)"
		"  AND ($5::text IS NULL OR notification_type = $5::text)"
		"  ORDER BY created_at DESC, id LIMIT $2 OFFSET $3) n), '[]'::json),"
		" 'total', (SELECT count(*) FROM v WHERE ($4::bool IS NOT TRUE OR read_at IS NULL)"
		"  AND ($5::text IS NULL OR notification_type = $5::text)),"
		" 'unread_count', (SELECT count(*) FROM v WHERE read_at IS NULL))",
		0};
	char l[16], o[16];

	snprintf(l, sizeof(l), "%d", q->limit);
	snprintf(o, sizeof(o), "%d", q->offset);
	const char *p[] = {q->recipient_id, l, o, q->unread_only ? "true" : "false", q->type};
	return db_exec_json(db, &st, 5, p, out) == 1 ? 0 : -1;
}

int db_notifications_unread(struct db *db, const char *recipient_id, int *count)
{
	static struct db_stmt st = {"notifications_unread",
				    "SELECT count(*) FROM notifications n WHERE n.recipient_id ="
				    " $1::uuid AND n.read_at IS NULL AND " DB_NOTIFICATION_VISIBLE,
				    0};
	const char *p[] = {recipient_id};
	PGresult *res = db_exec(db, &st, 1, p);

	if (res == NULL)
		return -1;
	*count = PQntuples(res) == 1 ? (int)strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	return 0;
}

int db_notification_get(struct db *db, const char *recipient_id, const char *id,
			struct json_object **out)
{
	static struct db_stmt st = {"notification_get",
				    "SELECT " DB_NOTIFICATION_JSON " FROM notifications n"
				    " WHERE n.id = $2::uuid AND n.recipient_id = $1::uuid AND "
				    DB_NOTIFICATION_VISIBLE,
				    0};
	const char *p[] = {recipient_id, id};

	return db_exec_json(db, &st, 2, p, out);
}

int db_notification_delete(struct db *db, const char *recipient_id, const char *id)
{
	static struct db_stmt st = {"notification_delete",
				    "UPDATE notifications n SET deleted_at = now()"
				    " WHERE n.id = $2::uuid AND n.recipient_id = $1::uuid AND "
				    DB_NOTIFICATION_VISIBLE,
				    0};
	const char *p[] = {recipient_id, id};
	PGresult *res = db_exec(db, &st, 2, p);

	if (res == NULL)
		return -1;
	int rc = strcmp(PQcmdTuples(res), "1") == 0 ? 1 : 0;
	PQclear(res);
	return rc;
}

int db_notifications_mark_read(struct db *db, const char *recipient_id, const char *ids,
			       struct json_object **ids_out)
{
	static struct db_stmt st = {
		"notifications_mark_read",
		"WITH m AS (UPDATE notifications n SET read_at = now()"
		" WHERE n.recipient_id = $1::uuid AND n.read_at IS NULL AND " DB_NOTIFICATION_VISIBLE
		" AND ($2::json IS NULL OR n.id IN (SELECT value::uuid FROM"
		"  json_array_elements_text($2::json)))"
		" RETURNING n.id)"
		" SELECT COALESCE(json_agg(id), '[]'::json) FROM m",
		0};
	const char *p[] = {recipient_id, ids};

	if (db_exec_json(db, &st, 2, p, ids_out) != 1)
		return -1;
	return (int)json_object_array_length(*ids_out);
}

int db_notifications_create(struct db *db, const char *recipient_id,
			    const struct db_new_notification *n, struct json_object **created)
{
	/* one recipient, or every admin */
	static struct db_stmt st = {
		"notifications_create",
		"WITH r AS (SELECT $1::uuid AS id WHERE $1::uuid IS NOT NULL"
		"  UNION SELECT user_id FROM user_profiles WHERE $1::uuid IS NULL AND role = 'admin'),"
		" n AS (INSERT INTO notifications (recipient_id, notification_type, severity, title,"
		"  message, action_url, metadata)"
		"  SELECT r.id, $2, $3, $4, $5, $6, $7::jsonb FROM r RETURNING *)"
		" SELECT COALESCE(json_agg(" DB_NOTIFICATION_JSON "), '[]'::json) FROM n",
		0};
	const char *p[] = {recipient_id, n->type,       n->severity,
			   n->title,     n->message,    n->action_url,
			   n->metadata ? n->metadata : "{}"};

	return db_exec_json(db, &st, 7, p, created) == 1 ? 0 : -1;
}
