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
	struct json_object *created = NULL, *v;
	char channel[96];

	if (db_notifications_create(app->db, recipient_id, n, &created) < 0) {
		log_msg(LOG_WARN, "notification_failed", "%s notification not stored: %s", n->type,
			db_last_error(app->db));
		return -1;
	}
	for (size_t i = 0; i < json_object_array_length(created); i++) {
		struct json_object *one = json_object_array_get_idx(created, i);
		json_object_object_get_ex(one, "recipient_id", &v);
		live_user_channel(json_object_get_string(v), channel, sizeof(channel));
		live_publish(app, channel, "notification_created", json_object_get(one));
	}
	json_object_put(created);
	return 0;
}
