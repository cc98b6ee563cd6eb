/*
 * notify: creating notifications (stored, then pushed live).
 */
#ifndef PIXELCRAFT_NOTIFY_H
#define PIXELCRAFT_NOTIFY_H

struct app;
struct db_new_notification;
struct json_object;

/*
 * Stores the notification for recipient_id, or for every admin when
 * recipient_id is NULL, and publishes "notification_created" to each
 * recipient's live channel. Meant to run after the response. 0 / -1.
 */
int notify(struct app *app, const char *recipient_id, const struct db_new_notification *n);

/*
 * Publishes "notification_created" for notifications already stored by
 * another statement (created: one notification object or an array of them,
 * as the notifications API renders them; borrowed).
 */
void notify_published(struct app *app, struct json_object *created);

#endif
