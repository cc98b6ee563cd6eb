/*
 * notify: one place where notifications are made, so that every one is both
 * stored and published the same way.
 */
#include "notify.h"
#include "app.h"
#include "db.h"
#include "live.h"
#include "log.h"

#include <json-c/json.h>

int notify(struct app *app, const char *recipient_id, const struct db_new_notification *n)
{
	struct json_object *created = NULL;

	if (db_notifications_create(app->db, recipient_id, n, &created) < 0) {
		log_msg(LOG_WARN, "notification_failed", "%s notification not stored: %s", n->type,
			db_last_error(app->db));
		return -1;
	}
	notify_published(app, created);
	json_object_put(created);
	return 0;
}

/* One stored notification to its recipient's channel. */
static void notify_publish_one(struct app *app, struct json_object *one)
{
	struct json_object *v;
	char channel[96];

	if (!json_object_object_get_ex(one, "recipient_id", &v) || v == NULL)
		return;
	live_user_channel(json_object_get_string(v), channel, sizeof(channel));
	live_publish(app, channel, "notification_created", json_object_get(one));
}

void notify_published(struct app *app, struct json_object *created)
{
	if (json_object_is_type(created, json_type_object)) {
		notify_publish_one(app, created);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(created); i++)
		notify_publish_one(app, json_object_array_get_idx(created, i));
}
