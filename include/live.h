/*
 * live: events for browsers, published to nginx's nchan module, which holds
 * the WebSocket and EventSource connections (never a worker).
 *
 * An event is {"event_type", "data", "timestamp"}, POSTed to
 * LIVE_PUBLISH_URL/<channel> (nchan's publisher location on the internal
 * listener) after the response has been sent, with LIVE_PUBLISH_TIMEOUT_MS as
 * deadline. A failed publish is logged and never fails the request: the
 * state is in Postgres, and clients that missed an event can reload it (or
 * resume from nchan's buffer with their last event id).
 *
 * Channels: "notifications:<user id>" for one user; "analytics" for admins.
 */
#ifndef PIXELCRAFT_LIVE_H
#define PIXELCRAFT_LIVE_H

#include <stddef.h>

struct app;
struct config;
struct json_object;
struct live;

#define LIVE_ANALYTICS "analytics"

/* Allocates the publisher; NULL when out of memory. */
struct live *live_open(const struct config *cfg);

/* Frees it; accepts NULL. */
void live_close(struct live *l);

/* The private channel of a user. */
void live_user_channel(const char *user_id, char *out, size_t len);

/*
 * Queues event_type with data (ownership taken) for channel; it is sent after
 * the response. Does nothing when LIVE_PUBLISH_URL is empty.
 */
void live_publish(struct app *app, const char *channel, const char *event_type,
		  struct json_object *data);

#endif
