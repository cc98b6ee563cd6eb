/*
 * api_live: authorisation of live subscribers (WebSocket and EventSource).
 *
 * nginx's nchan holds the connections. For each new subscriber nginx makes an
 * auth subrequest (auth_request) that reaches this handler through the
 * internal listener, with the subscriber's original URI in X-Original-URI.
 * The handler checks the access token (Authorization header, or the `token`
 * query parameter since browsers' WebSocket API cannot set headers) and
 * answers the channel in X-Pixelcraft-Channel: the caller's own
 * "notifications:<user id>", or "analytics" for admins. The client never
 * names a channel, so nobody can subscribe to someone else's.
 */
#include "api.h"
#include "app.h"
#include "auth.h"
#include "live.h"
#include "request.h"
#include "response.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The value of query parameter `name` in a raw URI, decoded; NULL if absent. */
static const char *api_live_param(struct request *req, const char *uri, const char *name)
{
	const char *q = strchr(uri, '?');
	size_t n = strlen(name);

	for (const char *p = q ? q + 1 : ""; *p;) {
		size_t len = strcspn(p, "&");
		if (len > n && strncmp(p, name, n) == 0 && p[n] == '=')
			return request_decode(req, p + n + 1, len - n - 1, true);
		p += len;
		if (*p == '&')
			p++;
	}
	return NULL;
}

int api_live_auth(struct request *req, struct response *res)
{
	const char *uri = request_header(req, "X-Original-URI");
	const char *h = request_header(req, "Authorization");
	const char *token = NULL;
	char channel[96];

	if (uri == NULL)
		return response_error(res, 400, "X-Original-URI missing");
	size_t plen = strcspn(uri, "?");
	bool analytics;
	if (plen == strlen("/api/ws/notifications") &&
	    strncmp(uri, "/api/ws/notifications", plen) == 0)
		analytics = false;
	else if (plen == strlen("/api/ws/analytics") && strncmp(uri, "/api/ws/analytics", plen) == 0)
		analytics = true;
	else
		return response_error(res, 404, "Not Found");
	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0)
		token = h + 7;
	else
		token = api_live_param(req, uri, "token");
	if (token == NULL || *token == '\0') {
		response_header(res, "WWW-Authenticate", "Bearer realm=\"pixelcraft\"");
		return response_error(res, 401, "Not authenticated");
	}
	int st = auth_token(req, res, token);
	if (st != 0)
		return st;
	if (analytics) {
		if ((st = auth_require_admin(req, res)) != 0)
			return st;
		snprintf(channel, sizeof(channel), "%s", LIVE_ANALYTICS);
	} else {
		live_user_channel(req->user.id, channel, sizeof(channel));
	}
	response_header(res, "X-Pixelcraft-Channel", "%s", channel);
	res->body = json_object_new_object();
	json_object_object_add(res->body, "channel", json_object_new_string(channel));
	return 200;
}
