/*
 * Integration: live updates through nginx's nchan (WebSocket and
 * EventSource). lighttpd cannot host nchan, so these run in the nginx pass.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "livesub.h"

static void need_nginx(void)
{
	if (strcmp(need_env("FRONT"), "nginx") != 0)
		cr_skip_test("live updates need nginx's nchan (lighttpd cannot host it)");
}

static int port(void)
{
	return atoi(need_env("PORT"));
}

static struct livesub *subscribe(const char *path, const char *token, enum livesub_kind kind,
				 const char *last_id, int *status)
{
	char target[4096];
	snprintf(target, sizeof(target), "%s%s%s", path, token ? "?token=" : "", token ? token : "");
	return livesub_open(port(), target, kind, last_id, true, status);
}

/* Starts a new conversation as the token's user: the app notifies them. */
static void new_conversation(const char *token, const char *text)
{
	struct http *r = chat_post(token, NULL, "{\"message\":\"%s\"}", text);
	cr_assert_eq(r->status, 200, "%s", r->body);
	http_free(r);
}

/* The next event within ms; *type set; returns its parsed JSON (caller puts). */
static struct json_object *next_event(struct livesub *s, int ms, char *id, size_t idlen)
{
	char *data = NULL;
	int rc = livesub_next(s, ms, &data, id, idlen);
	if (rc != 1)
		return NULL;
	struct json_object *o = json_tokener_parse(data);
	cr_assert_not_null(o, "event is not JSON: %s", data);
	free(data);
	return o;
}

Test(live, own_notifications_in_order_over_websocket_and_eventsource, .timeout = 60)
{
	need_nginx();
	char a_sub[37], id[128];
	char *a = user_token(NULL, a_sub, 600), *b = user_token(NULL, NULL, 600);
	int st;
	struct livesub *ws = subscribe("/api/ws/notifications", a, LIVESUB_WS, NULL, &st);
	cr_assert_not_null(ws, "websocket refused: %d", st);
	cr_assert_eq(st, 101);
	struct livesub *sse = subscribe("/api/ws/notifications", a, LIVESUB_SSE, NULL, &st);
	cr_assert_not_null(sse, "eventsource refused: %d", st);

	new_conversation(b, "for B");
	double t0 = now_ms();
	new_conversation(a, "first for A");
	new_conversation(b, "for B again");
	new_conversation(a, "second for A");
	new_conversation(a, "third for A");
	struct livesub *subs[2] = {ws, sse};
	for (int k = 0; k < 2; k++) {
		char first_id[64] = "";
		for (int i = 0; i < 3; i++) {
			struct json_object *e = next_event(subs[k], 1000, id, sizeof(id));
			cr_assert_not_null(e, "%s: notification %d not received within 1 s",
					   k ? "eventsource" : "websocket", i + 1);
			cr_assert_str_eq(json_str(e, "event_type"), "notification_created");
			cr_assert_str_eq(json_str(e, "data.recipient_id"), a_sub, "only A's");
			cr_assert_str_eq(json_str(e, "data.notification_type"), "conversation");
			cr_assert(strlen(json_str(e, "timestamp")) > 0);
			if (i == 0)
				snprintf(first_id, sizeof(first_id), "%s", json_str(e, "data.id"));
			json_object_put(e);
		}
		/* in order: the first received is the oldest of A's three */
		char *oldest = sql("SELECT id FROM notifications WHERE recipient_id = '%s'"
				   " ORDER BY created_at LIMIT 1", a_sub);
		cr_assert_str_eq(first_id, oldest);
		free(oldest);
		cr_assert_null(next_event(subs[k], 300, id, sizeof(id)), "nothing else arrives");
	}
	cr_log_info("3 notifications of A received on both streams %.0f ms after the first was created",
		    now_ms() - t0);
	livesub_close(ws);
	livesub_close(sse);
	free(a);
	free(b);
}

Test(live, read_and_deleted_events)
{
	need_nginx();
	char sub[37], id[128];
	char *t = user_token(NULL, sub, 600);
	int st;
	struct livesub *ws = subscribe("/api/ws/notifications", t, LIVESUB_WS, NULL, &st);
	cr_assert_not_null(ws);
	new_conversation(t, "hello");
	struct json_object *e = next_event(ws, 1000, id, sizeof(id));
	cr_assert_not_null(e);
	char nid[64], body[128], path[128];
	snprintf(nid, sizeof(nid), "%s", json_str(e, "data.id"));
	json_object_put(e);
	const char *h[] = {bearer(0, t), NULL};
	snprintf(body, sizeof(body), "{\"notification_ids\":[\"%s\"]}", nid);
	http_free(http_do("POST", "/api/notifications/mark-read", body, h));
	e = next_event(ws, 1000, id, sizeof(id));
	cr_assert_str_eq(json_str(e, "event_type"), "notification_read");
	cr_assert_str_eq(json_str(e, "data.notification_ids.0"), nid);
	json_object_put(e);
	snprintf(path, sizeof(path), "/api/notifications/%s", nid);
	http_free(http_do("DELETE", path, NULL, h));
	e = next_event(ws, 1000, id, sizeof(id));
	cr_assert_str_eq(json_str(e, "event_type"), "notification_deleted");
	cr_assert_str_eq(json_str(e, "data.notification_id"), nid);
	json_object_put(e);
	livesub_close(ws);
	free(t);
}

Test(live, bad_tokens_are_refused_at_the_handshake)
{
	need_nginx();
	int st;
	char *expired = user_token(NULL, NULL, -120);
	cr_assert_null(subscribe("/api/ws/notifications", expired, LIVESUB_WS, NULL, &st));
	cr_assert_eq(st, 401);
	cr_assert_null(subscribe("/api/ws/notifications", "not.a.token", LIVESUB_SSE, NULL, &st));
	cr_assert_eq(st, 401);
	cr_assert_null(subscribe("/api/ws/notifications", NULL, LIVESUB_WS, NULL, &st));
	cr_assert_eq(st, 401);
	/* nobody reaches the internal routes or the publisher from outside */
	struct http *r = http_get("/internal/live-auth");
	cr_assert_eq(r->status, 404);
	http_free(r);
	r = http_do("POST", "/pub/analytics", "{}", NULL);
	cr_assert_neq(r->status, 200);
	cr_assert_neq(r->status, 201);
	cr_assert_neq(r->status, 202);
	http_free(r);
	free(expired);
}

Test(live, analytics_stream_is_for_admins, .timeout = 30)
{
	need_nginx();
	int st;
	char admin_sub[37], id[128];
	char *user = user_token(NULL, NULL, 600), *admin = user_token(NULL, admin_sub, 600);
	free(sql("INSERT INTO user_profiles (user_id, role) VALUES ('%s', 'admin')", admin_sub));
	cr_assert_null(subscribe("/api/ws/analytics", user, LIVESUB_WS, NULL, &st));
	cr_assert_eq(st, 403);
	struct livesub *ws = subscribe("/api/ws/analytics", admin, LIVESUB_WS, NULL, &st);
	cr_assert_not_null(ws, "admin refused: %d", st);
	new_conversation(user, "analytics please");
	bool started = false, message = false;
	struct json_object *e;
	while ((!started || !message) && (e = next_event(ws, 1000, id, sizeof(id))) != NULL) {
		const char *type = json_str(e, "event_type");
		started = started || strcmp(type, "conversation_started") == 0;
		message = message || strcmp(type, "message_created") == 0;
		json_object_put(e);
	}
	cr_assert(started && message, "conversation_started and message_created expected");
	livesub_close(ws);
	free(user);
	free(admin);
}

Test(live, eventsource_resumes_from_the_last_event_id)
{
	need_nginx();
	char id[128], last[128];
	int st;
	char *t = user_token(NULL, NULL, 600);
	struct livesub *sse = subscribe("/api/ws/notifications", t, LIVESUB_SSE, NULL, &st);
	cr_assert_not_null(sse);
	new_conversation(t, "one");
	struct json_object *e = next_event(sse, 1000, last, sizeof(last));
	cr_assert_not_null(e);
	cr_assert(strlen(last) > 0, "events carry an id");
	json_object_put(e);
	livesub_close(sse);
	/* missed while away */
	new_conversation(t, "two");
	new_conversation(t, "three");
	usleep(200000);
	sse = subscribe("/api/ws/notifications", t, LIVESUB_SSE, last, &st);
	cr_assert_not_null(sse);
	int got = 0;
	while ((e = next_event(sse, 1000, id, sizeof(id))) != NULL) {
		cr_assert_str_eq(json_str(e, "event_type"), "notification_created");
		got++;
		json_object_put(e);
	}
	cr_assert_eq(got, 2, "the two missed notifications are replayed");
	livesub_close(sse);
	free(t);
}
