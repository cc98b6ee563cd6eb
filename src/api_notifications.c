/*
 * api_notifications: the caller's notifications. Every query is scoped to
 * the caller; another user's notification is 404. Changes are also pushed to
 * the caller's live channel (notification_read, notification_deleted).
 */
#include "api.h"
#include "app.h"
#include "db.h"
#include "jsonbody.h"
#include "live.h"
#include "query.h"
#include "request.h"
#include "response.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

static const char *const api_notification_types[] = {"conversation", "lead", "agent",
						     "workflow", "system", NULL};

int api_notifications_list(struct request *req, struct response *res)
{
	struct db_notification_query q = {.recipient_id = req->user.id};
	long limit, offset;
	const char *type = NULL, *old_type = NULL;
	bool ok = query_int(req, res, "limit", 50, 1, 200, &limit);

	ok = query_int(req, res, "offset", 0, 0, 1000000, &offset) && ok;
	ok = query_bool(req, res, "unread_only", false, &q.unread_only) && ok;
	ok = query_enum(req, res, "type", api_notification_types, NULL, &type) && ok;
	/* the old frontend's name for the same filter */
	ok = query_enum(req, res, "notification_type", api_notification_types, NULL, &old_type) &&
	     ok;
	if (!ok)
		return response_error(res, 422, "Request validation failed");
	q.limit = (int)limit;
	q.offset = (int)offset;
	q.type = type ? type : old_type;
	if (db_notifications_list(req->app->db, &q, &res->body) < 0)
		return response_unavailable(res, "Postgres", db_retry_after(req->app->db));
	return 200;
}

int api_notifications_unread(struct request *req, struct response *res)
{
	int n = 0;

	if (db_notifications_unread(req->app->db, req->user.id, &n) < 0)
		return response_unavailable(res, "Postgres", db_retry_after(req->app->db));
	res->body = json_object_new_object();
	json_object_object_add(res->body, "unread_count", json_object_new_int(n));
	return 200;
}

/* The {id} of the path, checked; NULL after recording a 422 field error. */
static const char *api_notification_id(struct request *req, struct response *res)
{
	const char *id = request_path_param(req, 0);
	return query_uuid(res, "id", id) ? id : NULL;
}

int api_notifications_get(struct request *req, struct response *res)
{
	const char *id = api_notification_id(req, res);

	if (id == NULL)
		return response_error(res, 422, "Request validation failed");
	int rc = db_notification_get(req->app->db, req->user.id, id, &res->body);
	if (rc < 0)
		return response_unavailable(res, "Postgres", db_retry_after(req->app->db));
	return rc == 1 ? 200 : response_error(res, 404, "Notification not found");
}

int api_notifications_delete(struct request *req, struct response *res)
{
	const char *id = api_notification_id(req, res);
	char channel[96];

	if (id == NULL)
		return response_error(res, 422, "Request validation failed");
	int rc = db_notification_delete(req->app->db, req->user.id, id);
	if (rc < 0)
		return response_unavailable(res, "Postgres", db_retry_after(req->app->db));
	if (rc == 0)
		return response_error(res, 404, "Notification not found");
	struct json_object *data = json_object_new_object();
	json_object_object_add(data, "notification_id", json_object_new_string(id));
	live_user_channel(req->user.id, channel, sizeof(channel));
	live_publish(req->app, channel, "notification_deleted", data);
	return 204;
}

/* Marks ids (JSON array text, NULL: all) read, answers and publishes. */
static int api_notifications_marked(struct request *req, struct response *res, const char *ids)
{
	struct json_object *marked = NULL;
	char channel[96];
	int n = db_notifications_mark_read(req->app->db, req->user.id, ids, &marked);

	if (n < 0)
		return response_unavailable(res, "Postgres", db_retry_after(req->app->db));
	res->body = json_object_new_object();
	json_object_object_add(res->body, "marked_read_count", json_object_new_int(n));
	if (n > 0) {
		struct json_object *data = json_object_new_object();
		json_object_object_add(data, "notification_ids", marked);
		marked = NULL;
		live_user_channel(req->user.id, channel, sizeof(channel));
		live_publish(req->app, channel, "notification_read", data);
	}
	json_object_put(marked);
	return 200;
}

static const struct jsonbody_field api_mark_read_fields[] = {
	{"notification_ids", JB_ARRAY, true, false, 1, 500},
};

int api_notifications_mark_read(struct request *req, struct response *res)
{
	struct json_object *body = NULL, *ids;
	int st = jsonbody_parse(req->body, req->body_len, &body, res);

	if (st == 0)
		st = jsonbody_check(body, api_mark_read_fields, 1, res);
	if (st != 0)
		goto out;
	json_object_object_get_ex(body, "notification_ids", &ids);
	for (size_t i = 0; i < json_object_array_length(ids); i++) {
		struct json_object *v = json_object_array_get_idx(ids, i);
		if (!json_object_is_type(v, json_type_string) ||
		    !jsonbody_is_uuid(json_object_get_string(v))) {
			char field[48];
			snprintf(field, sizeof(field), "notification_ids[%zu]", i);
			response_field_error(res, field, "must be a UUID");
		}
	}
	if (res->errors != NULL) {
		st = response_error(res, 422, "Request validation failed");
		goto out;
	}
	st = api_notifications_marked(req, res,
				      json_object_to_json_string_ext(ids, JSON_C_TO_STRING_PLAIN));
out:
	json_object_put(body);
	return st;
}

int api_notifications_mark_all_read(struct request *req, struct response *res)
{
	return api_notifications_marked(req, res, NULL);
}
