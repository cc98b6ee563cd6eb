/*
 * live: publishing events to nchan over HTTP (libcurl, one reused handle).
 */
#include "live.h"
#include "app.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "server.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct live {
	const struct config *cfg;
	CURL *curl;
};

struct live_event {
	char channel[96];
	char event_type[48];
	char *body;
};

struct live *live_open(const struct config *cfg)
{
	struct live *l = calloc(1, sizeof(*l));

	if (l != NULL)
		l->cfg = cfg;
	return l;
}

void live_close(struct live *l)
{
	if (l == NULL)
		return;
	if (l->curl != NULL)
		curl_easy_cleanup(l->curl);
	free(l);
}

void live_user_channel(const char *user_id, char *out, size_t len)
{
	snprintf(out, len, "notifications:%s", user_id);
}

static size_t live_discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

/* Runs after the response: one POST to nchan. */
static void live_send(struct app *app, void *arg)
{
	struct live_event *ev = arg;
	struct live *l = app->live;
	struct curl_slist *h = NULL;
	char url[512], hdr[96];
	long code = 0;

	if (l->curl == NULL && (l->curl = curl_easy_init()) == NULL)
		goto out;
	curl_easy_reset(l->curl);
	snprintf(url, sizeof(url), "%s/%s", l->cfg->live_publish_url, ev->channel);
	snprintf(hdr, sizeof(hdr), "X-EventSource-Event: %s", ev->event_type);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, hdr);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(l->curl, CURLOPT_URL, url);
	curl_easy_setopt(l->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(l->curl, CURLOPT_TIMEOUT_MS, (long)l->cfg->live_publish_timeout_ms);
	curl_easy_setopt(l->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)l->cfg->live_publish_timeout_ms);
	curl_easy_setopt(l->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(l->curl, CURLOPT_POSTFIELDS, ev->body);
	curl_easy_setopt(l->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(l->curl, CURLOPT_WRITEFUNCTION, live_discard);
	CURLcode rc = curl_easy_perform(l->curl);
	curl_easy_getinfo(l->curl, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK || code < 200 || code >= 300) {
		struct log_line line;
		log_begin(&line, LOG_WARN, "live_publish_failed");
		log_str(&line, "channel", ev->channel);
		log_str(&line, "event_type", ev->event_type);
		log_str(&line, "error", rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP error");
		log_int(&line, "http_status", code);
		log_end(&line);
	}
out:
	curl_slist_free_all(h);
	free(ev->body);
}

void live_publish(struct app *app, const char *channel, const char *event_type,
		  struct json_object *data)
{
	struct json_object *o;
	struct live_event *ev;
	char iso[32];

	if (app->cfg->live_publish_url == NULL) {
		json_object_put(data);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "event_type", json_object_new_string(event_type));
	json_object_object_add(o, "data", data);
	json_object_object_add(o, "timestamp",
			       json_object_new_string(clock_iso8601(clock_wall_ms(), iso, sizeof(iso))));
	ev = calloc(1, sizeof(*ev));
	if (ev != NULL) {
		snprintf(ev->channel, sizeof(ev->channel), "%s", channel);
		snprintf(ev->event_type, sizeof(ev->event_type), "%s", event_type);
		ev->body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								     JSON_C_TO_STRING_NOSLASHESCAPE));
		server_defer(live_send, ev);
	}
	json_object_put(o);
}
