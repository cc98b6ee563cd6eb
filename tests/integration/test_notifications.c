/*
 * Integration: the notification routes (both front ends). Notifications are
 * inserted with SQL so every case (types, expiry, deletion, other users) is
 * controlled; the producers are tested in test_live.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* A user with n notifications (newest last inserted), returns the token. */
static char *user_with(int n, char sub[37], char ids[][40])
{
	char *t = user_token(NULL, sub, 600);
	for (int i = 0; i < n; i++) {
		char *id = sql("INSERT INTO notifications (recipient_id, notification_type, severity,"
			       " title, message, created_at) VALUES ('%s', '%s', 'info', 'title %d',"
			       " 'message %d', now() - interval '%d minutes') RETURNING id",
			       sub, i % 2 ? "lead" : "system", i, i, n - i);
		snprintf(ids[i], 40, "%s", id);
		free(id);
	}
	return t;
}

Test(notifications, list_scoped_newest_first_with_counts)
{
	char sub[37], other[37], ids[5][40], oids[2][40];
	char *t = user_with(5, sub, ids), *o = user_with(2, other, oids);
	/* one expired and one deleted: never listed */
	free(sql("INSERT INTO notifications (recipient_id, notification_type, title, message,"
		 " expires_at) VALUES ('%s', 'system', 'old', 'gone', now() - interval '1 hour')",
		 sub));
	free(sql("UPDATE notifications SET deleted_at = now() WHERE id = '%s'", ids[0]));
	const char *h[] = {bearer(0, t), NULL};
	struct http *r = http_do("GET", "/api/notifications", NULL, h);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_object_get_int(json_at(r->json, "total")), 4);
	cr_assert_eq(json_object_get_int(json_at(r->json, "unread_count")), 4);
	cr_assert_str_eq(json_str(r->json, "notifications.0.id"), ids[4], "newest first");
	cr_assert_str_eq(json_str(r->json, "notifications.3.id"), ids[1]);
	const char *fields[] = {"id", "recipient_id", "notification_type", "severity", "title",
				"message", "action_url", "metadata", "expires_at", "read_at",
				"created_at"};
	for (int i = 0; i < 11; i++) {
		char p[64];
		snprintf(p, sizeof(p), "notifications.0.%s", fields[i]);
		struct json_object *x;
		cr_assert(json_object_object_get_ex(json_at(r->json, "notifications.0"), fields[i], &x),
			  "%s missing", p);
	}
	http_free(r);
	/* the trailing-slash form of the old frontend works too */
	r = http_do("GET", "/api/notifications/?limit=2&offset=1", NULL, h);
	cr_assert_eq(json_object_array_length(json_at(r->json, "notifications")), 2);
	cr_assert_str_eq(json_str(r->json, "notifications.0.id"), ids[3]);
	http_free(r);
	r = http_do("GET", "/api/notifications?type=lead", NULL, h);
	cr_assert_eq(json_object_get_int(json_at(r->json, "total")), 2);
	http_free(r);
	const char *bad[] = {"limit=0", "limit=201", "offset=-3", "type=appointment", "unread_only=maybe"};
	for (int i = 0; i < 5; i++) {
		char path[128];
		snprintf(path, sizeof(path), "/api/notifications?%s", bad[i]);
		r = http_do("GET", path, NULL, h);
		cr_assert_eq(r->status, 422, "%s: %ld", bad[i], r->status);
		http_free(r);
	}
	r = http_get("/api/notifications");
	cr_assert_eq(r->status, 401);
	http_free(r);
	free(t);
	free(o);
}

Test(notifications, unread_count_route_is_not_an_id)
{
	char sub[37], ids[3][40];
	char *t = user_with(3, sub, ids);
	const char *h[] = {bearer(0, t), NULL};
	struct http *r = http_do("GET", "/api/notifications/unread-count", NULL, h);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_object_get_int(json_at(r->json, "unread_count")), 3);
	http_free(r);
	free(t);
}

Test(notifications, one_and_other_users)
{
	char sub[37], other[37], ids[1][40], oids[1][40];
	char *t = user_with(1, sub, ids), *o = user_with(1, other, oids);
	const char *h[] = {bearer(0, t), NULL};
	char path[128];
	snprintf(path, sizeof(path), "/api/notifications/%s", ids[0]);
	struct http *r = http_do("GET", path, NULL, h);
	cr_assert_eq(r->status, 200);
	cr_assert_str_eq(json_str(r->json, "id"), ids[0]);
	http_free(r);
	snprintf(path, sizeof(path), "/api/notifications/%s", oids[0]);
	r = http_do("GET", path, NULL, h);
	cr_assert_eq(r->status, 404, "another user's id");
	http_free(r);
	r = http_do("DELETE", path, NULL, h);
	cr_assert_eq(r->status, 404);
	http_free(r);
	r = http_do("GET", "/api/notifications/not-a-uuid", NULL, h);
	cr_assert_eq(r->status, 422);
	http_free(r);
	r = http_do("GET", "/api/notifications/00000000-0000-4000-8000-000000000000", NULL, h);
	cr_assert_eq(r->status, 404);
	http_free(r);
	free(t);
	free(o);
}

Test(notifications, soft_delete)
{
	char sub[37], ids[2][40];
	char *t = user_with(2, sub, ids);
	const char *h[] = {bearer(0, t), NULL};
	char path[128];
	snprintf(path, sizeof(path), "/api/notifications/%s", ids[0]);
	struct http *r = http_do("DELETE", path, NULL, h);
	cr_assert_eq(r->status, 204);
	cr_assert_eq(r->len, 0);
	http_free(r);
	r = http_do("GET", path, NULL, h);
	cr_assert_eq(r->status, 404);
	http_free(r);
	r = http_do("DELETE", path, NULL, h);
	cr_assert_eq(r->status, 404, "deleting twice");
	http_free(r);
	char *kept = sql("SELECT count(*) FROM notifications WHERE id = '%s' AND deleted_at IS NOT NULL",
			 ids[0]);
	cr_assert_str_eq(kept, "1", "soft: the row stays");
	free(kept);
	r = http_do("GET", "/api/notifications", NULL, h);
	cr_assert_eq(json_object_get_int(json_at(r->json, "total")), 1);
	http_free(r);
	free(t);
}

Test(notifications, mark_read_counts_only_the_callers)
{
	char sub[37], other[37], ids[3][40], oids[1][40], body[512];
	char *t = user_with(3, sub, ids), *o = user_with(1, other, oids);
	const char *h[] = {bearer(0, t), NULL};
	snprintf(body, sizeof(body), "{\"notification_ids\":[\"%s\",\"%s\",\"%s\"]}", ids[0], ids[1],
		 oids[0]);
	struct http *r = http_do("POST", "/api/notifications/mark-read", body, h);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_object_get_int(json_at(r->json, "marked_read_count")), 2,
		     "someone else's id is not counted");
	http_free(r);
	r = http_do("POST", "/api/notifications/mark-read", body, h);
	cr_assert_eq(json_object_get_int(json_at(r->json, "marked_read_count")), 0, "already read");
	http_free(r);
	char *other_read = sql("SELECT count(*) FROM notifications WHERE id = '%s' AND read_at IS NULL",
			       oids[0]);
	cr_assert_str_eq(other_read, "1");
	free(other_read);
	r = http_do("GET", "/api/notifications?unread_only=true", NULL, h);
	cr_assert_eq(json_object_get_int(json_at(r->json, "total")), 1);
	cr_assert_str_eq(json_str(r->json, "notifications.0.id"), ids[2]);
	http_free(r);
	r = http_do("POST", "/api/notifications/mark-all-read", NULL, h);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_object_get_int(json_at(r->json, "marked_read_count")), 1);
	http_free(r);
	r = http_do("GET", "/api/notifications/unread-count", NULL, h);
	cr_assert_eq(json_object_get_int(json_at(r->json, "unread_count")), 0);
	http_free(r);
	free(t);
	free(o);
}

Test(notifications, mark_read_validation)
{
	char *t = user_token(NULL, NULL, 600);
	const char *h[] = {bearer(0, t), NULL};
	static const struct {
		const char *body;
		long status;
	} cases[] = {
		{"{}", 422},
		{"{\"notification_ids\":[]}", 422},
		{"{\"notification_ids\":\"abc\"}", 422},
		{"{\"notification_ids\":[\"nope\"]}", 422},
		{"{\"notification_ids\":[12]}", 422},
		{"{\"notification_ids\":[\"a\",}", 400},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http *r = http_do("POST", "/api/notifications/mark-read", cases[i].body, h);
		cr_assert_eq(r->status, cases[i].status, "%s: %ld %s", cases[i].body, r->status,
			     r->body);
		http_free(r);
	}
	/* more than 500 ids */
	char *big = malloc(501 * 40 + 64);
	size_t n = (size_t)sprintf(big, "{\"notification_ids\":[");
	for (int i = 0; i < 501; i++)
		n += (size_t)sprintf(big + n, "%s\"00000000-0000-4000-8000-%012d\"", i ? "," : "", i);
	strcpy(big + n, "]}");
	struct http *r = http_do("POST", "/api/notifications/mark-read", big, h);
	cr_assert_eq(r->status, 422);
	cr_assert_str_eq(json_str(r->json, "errors.0.field"), "notification_ids");
	http_free(r);
	free(big);
	free(t);
}
