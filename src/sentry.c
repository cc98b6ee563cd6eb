/*
 * sentry: 5xx answers as Sentry events, one envelope per event POSTed with
 * libcurl (one reused handle per worker) after the response has been sent.
 *
 * The envelope is three lines of JSON built with json-c: the envelope header
 * {event_id, sent_at, dsn}, the item header {type: "event", content_type,
 * length} and the event itself. What an event may carry is fixed here and
 * nowhere else: method, route pattern, status, detail, request id, and the
 * worker's host name, release and environment.
 */
#include "sentry.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "request.h"
#include "response.h"
#include "router.h"

#include <ctype.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define SENTRY_SLOTS	       64   /* (route, status) keys remembered per worker */
#define SENTRY_MAX_BLOCK_S     3600 /* longest Retry-After honoured */
#define SENTRY_DEFAULT_BLOCK_S 60   /* a 429 without Retry-After */

/* One (route, status) key: when it was last sent and what was held back since. */
struct sentry_slot {
	const struct route *route; /* NULL: no route matched */
	int status;
	bool used;
	int64_t last_ms; /* monotonic time of the last send (attempted) */
	long suppressed;
};

struct sentry {
	struct sentry_dsn dsn;
	const char *dsn_text;	 /* SENTRY_DSN (borrowed from the config) */
	const char *environment; /* borrowed from the config */
	const char *version;	 /* borrowed */
	char server_name[256];
	char auth[320];	 /* the X-Sentry-Auth header line */
	char agent[128]; /* User-Agent */
	CURL *curl;	 /* created on first use */
	struct sentry_slot slots[SENTRY_SLOTS];
	int64_t sent_ms[SENTRY_MAX_PER_MINUTE]; /* ring: monotonic times of the last sends */
	int sent_next;				/* the oldest entry, overwritten next */
	int64_t blocked_until_ms;		/* after a 429: nothing is sent before this */
};

/* ---- DSN ------------------------------------------------------------- */

/* Host name, IPv4 address or [IPv6], then an optional :port (1-65535). */
static bool sentry_hostport_ok(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0)
		return false;
	if (s[0] == '[') {
		for (i = 1; i < len && s[i] != ']'; i++)
			if (!(isxdigit((unsigned char)s[i]) || s[i] == ':' || s[i] == '.'))
				return false;
		if (i == len || i == 1)
			return false;
		i++; /* past ']' */
	} else {
		for (; i < len && s[i] != ':'; i++)
			if (!(isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '-'))
				return false;
		if (i == 0)
			return false;
	}
	if (i == len)
		return true;
	if (s[i] != ':' || len - i < 2 || len - i > 6)
		return false;
	long port = 0;
	for (i++; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		port = port * 10 + (s[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

int sentry_dsn_parse(const char *dsn, struct sentry_dsn *out)
{
	const char *p, *at, *path, *last;
	size_t scheme_len, n;

	if (dsn == NULL)
		return -1;
	if (strncmp(dsn, "https://", 8) == 0)
		scheme_len = 8;
	else if (strncmp(dsn, "http://", 7) == 0)
		scheme_len = 7;
	else
		return -1;
	p = dsn + scheme_len;
	/* PUBLIC_KEY@: letters and digits only (a legacy KEY:SECRET is refused) */
	at = strchr(p, '@');
	if (at == NULL || at == p || (size_t)(at - p) >= sizeof(out->key))
		return -1;
	for (const char *k = p; k < at; k++)
		if (!isalnum((unsigned char)*k))
			return -1;
	/* HOST[:PORT] up to the path, which must be there */
	path = strchr(at + 1, '/');
	if (path == NULL || !sentry_hostport_ok(at + 1, (size_t)(path - at - 1)))
		return -1;
	/* [/PREFIX]/PROJECT_ID: the project id is the last segment, digits only */
	last = strrchr(path, '/');
	n = strlen(last + 1);
	if (n == 0 || n >= sizeof(out->project))
		return -1;
	for (const char *d = last + 1; *d; d++)
		if (!isdigit((unsigned char)*d))
			return -1;
	for (const char *c = path; c < last; c++)
		if (!(isalnum((unsigned char)*c) || strchr("/._~-", *c)) ||
		    (c[0] == '/' && c[1] == '/'))
			return -1;
	int len = snprintf(out->url, sizeof(out->url), "%.*s%.*s/api/%s/envelope/", (int)scheme_len,
			   dsn, (int)(last - at - 1), at + 1, last + 1);
	if (len < 0 || (size_t)len >= sizeof(out->url))
		return -1;
	snprintf(out->key, sizeof(out->key), "%.*s", (int)(at - p), p);
	snprintf(out->project, sizeof(out->project), "%s", last + 1);
	return 0;
}

/* ---- lifetime -------------------------------------------------------- */

struct sentry *sentry_open(const struct config *cfg, const char *version)
{
	struct sentry *s = NULL;

	if (cfg->sentry_dsn == NULL || cfg->sentry_dsn[0] == '\0')
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		log_msg(LOG_ERROR, "sentry_off", "%s: out of memory, error reporting off",
			__func__);
		return NULL;
	}
	if (sentry_dsn_parse(cfg->sentry_dsn, &s->dsn) < 0) {
		/* config_load refuses such a DSN; reached only with a hand-made config */
		log_msg(LOG_ERROR, "sentry_off", "%s: malformed SENTRY_DSN, error reporting off",
			__func__);
		free(s);
		return NULL;
	}
	s->dsn_text = cfg->sentry_dsn;
	s->environment = cfg->sentry_environment ? cfg->sentry_environment : "production";
	s->version = version ? version : "dev";
	if (gethostname(s->server_name, sizeof(s->server_name)) != 0)
		snprintf(s->server_name, sizeof(s->server_name), "unknown");
	s->server_name[sizeof(s->server_name) - 1] = '\0';
	snprintf(s->auth, sizeof(s->auth),
		 "X-Sentry-Auth: Sentry sentry_version=7, sentry_key=%s, "
		 "sentry_client=pixelcraft-api/%s",
		 s->dsn.key, s->version);
	snprintf(s->agent, sizeof(s->agent), "pixelcraft-api/%s", s->version);
	for (int i = 0; i < SENTRY_MAX_PER_MINUTE; i++)
		s->sent_ms[i] = INT64_MIN / 2; /* long ago: the first sends are free */
	return s;
}

void sentry_close(struct sentry *s)
{
	if (s == NULL)
		return;
	if (s->curl != NULL)
		curl_easy_cleanup(s->curl);
	free(s);
}

/* ---- the envelope ---------------------------------------------------- */

/* 32 lowercase hex digits from the kernel's random source. */
static void sentry_event_id(char out[33])
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		/* not reached on Linux once the pool is seeded */
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)rand();
	}
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void sentry_add_str(struct json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, json_object_new_string(value));
}

static const char *sentry_json(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
}

char *sentry_envelope(struct sentry *s, const struct request *req, int status, const char *detail,
		      long suppressed, int64_t wall_ms)
{
	struct json_object *head = NULL, *item = NULL, *ev = NULL, *o;
	char id[33], ts[40], sent_at[40], code[8], message[768];
	const char *method, *route, *payload;
	char *out = NULL;
	size_t plen;

	if (s == NULL)
		return NULL;
	sentry_event_id(id);
	clock_iso8601(wall_ms, ts, sizeof(ts));
	clock_iso8601(clock_wall_ms(), sent_at, sizeof(sent_at));
	snprintf(code, sizeof(code), "%d", status);
	/* the method as a known name (a client's own method is "OTHER"), the route as
	 * its pattern: never the path as sent, which carries ids and maybe a query */
	method = (unsigned)req->method < HTTP__MAX ? http_method_names[req->method] : "OTHER";
	route = req->route != NULL ? req->route->pattern : "(no route)";
	if (detail == NULL || detail[0] == '\0')
		detail = response_reason(status);
	snprintf(message, sizeof(message), "%s %s -> %d: %.500s", method, route, status, detail);

	ev = json_object_new_object();
	sentry_add_str(ev, "event_id", id);
	sentry_add_str(ev, "timestamp", ts);
	sentry_add_str(ev, "platform", "c");
	sentry_add_str(ev, "level", "error");
	sentry_add_str(ev, "logger", "pixelcraft-api");
	sentry_add_str(ev, "server_name", s->server_name);
	sentry_add_str(ev, "release", s->version);
	sentry_add_str(ev, "environment", s->environment);
	char transaction[300];
	snprintf(transaction, sizeof(transaction), "%s %s", method, route);
	sentry_add_str(ev, "transaction", transaction);
	o = json_object_new_object();
	sentry_add_str(o, "formatted", message);
	json_object_object_add(ev, "message", o);
	o = json_object_new_object();
	sentry_add_str(o, "route", route);
	sentry_add_str(o, "status", code);
	sentry_add_str(o, "method", method);
	sentry_add_str(o, "request_id", req->id);
	json_object_object_add(ev, "tags", o);
	o = json_object_new_object();
	sentry_add_str(o, "method", method);
	if (req->route != NULL)
		sentry_add_str(o, "url", route);
	json_object_object_add(ev, "request", o);
	o = json_object_new_object();
	json_object_object_add(o, "suppressed", json_object_new_int64(suppressed));
	json_object_object_add(ev, "extra", o);
	/* one issue per route and status, whatever the detail says */
	o = json_object_new_array();
	json_object_array_add(o, json_object_new_string(method));
	json_object_array_add(o, json_object_new_string(route));
	json_object_array_add(o, json_object_new_string(code));
	json_object_object_add(ev, "fingerprint", o);
	o = json_object_new_object();
	sentry_add_str(o, "name", "pixelcraft-api");
	sentry_add_str(o, "version", s->version);
	json_object_object_add(ev, "sdk", o);
	payload = sentry_json(ev);
	plen = strlen(payload);

	head = json_object_new_object();
	sentry_add_str(head, "event_id", id);
	sentry_add_str(head, "sent_at", sent_at);
	sentry_add_str(head, "dsn", s->dsn_text);
	item = json_object_new_object();
	sentry_add_str(item, "type", "event");
	sentry_add_str(item, "content_type", "application/json");
	json_object_object_add(item, "length", json_object_new_int64((int64_t)plen));
	if (asprintf(&out, "%s\n%s\n%s\n", sentry_json(head), sentry_json(item), payload) < 0)
		out = NULL;
	json_object_put(head);
	json_object_put(item);
	json_object_put(ev);
	return out;
}

/* ---- sending --------------------------------------------------------- */

static size_t sentry_discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

/* One POST; a failure is logged here, once, and the event dropped. */
static void sentry_send(struct sentry *s, const char *body, const struct request *req, int status,
			int64_t now_ms)
{
	struct curl_slist *h = NULL;
	CURLcode rc = CURLE_OK;
	long code = 0;

	if (s->curl == NULL && (s->curl = curl_easy_init()) == NULL) {
		rc = CURLE_FAILED_INIT;
		goto out;
	}
	curl_easy_reset(s->curl);
	h = curl_slist_append(h, "Content-Type: application/x-sentry-envelope");
	h = curl_slist_append(h, s->auth);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(s->curl, CURLOPT_URL, s->dsn.url);
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)SENTRY_SEND_TIMEOUT_MS);
	curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, (long)SENTRY_SEND_TIMEOUT_MS);
	curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(s->curl, CURLOPT_USERAGENT, s->agent);
	curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, sentry_discard);
	rc = curl_easy_perform(s->curl);
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OK && code == 429) {
		/* Sentry asks us to back off: nothing goes out until then */
		curl_off_t wait_s = 0;
		curl_easy_getinfo(s->curl, CURLINFO_RETRY_AFTER, &wait_s);
		if (wait_s <= 0)
			wait_s = SENTRY_DEFAULT_BLOCK_S;
		if (wait_s > SENTRY_MAX_BLOCK_S)
			wait_s = SENTRY_MAX_BLOCK_S;
		s->blocked_until_ms = now_ms + (int64_t)wait_s * 1000;
	}
out:
	if (rc != CURLE_OK || code < 200 || code >= 300) {
		struct log_line l;
		log_begin(&l, LOG_WARN, "sentry_send_failed");
		log_str(&l, "error", rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP error");
		log_int(&l, "http_status", code);
		log_str(&l, "route", req->route != NULL ? req->route->pattern : NULL);
		log_int(&l, "status", status);
		log_str(&l, "request_id", req->id);
		log_end(&l);
	}
	curl_slist_free_all(h);
}

/* The slot of (route, status): found, free, or the least recently sent one. */
static struct sentry_slot *sentry_slot(struct sentry *s, const struct route *route, int status)
{
	struct sentry_slot *free_slot = NULL, *oldest = NULL;

	for (int i = 0; i < SENTRY_SLOTS; i++) {
		struct sentry_slot *sl = &s->slots[i];
		if (!sl->used) {
			if (free_slot == NULL)
				free_slot = sl;
			continue;
		}
		if (sl->route == route && sl->status == status)
			return sl;
		if (oldest == NULL || sl->last_ms < oldest->last_ms)
			oldest = sl;
	}
	struct sentry_slot *sl = free_slot ? free_slot : oldest;
	*sl = (struct sentry_slot){route, status, true, INT64_MIN / 2, 0};
	return sl;
}

void sentry_report(struct sentry *s, const struct request *req, int status, const char *detail)
{
	if (s == NULL || status < 500)
		return;
	int64_t now = clock_mono_ms();
	struct sentry_slot *sl = sentry_slot(s, req->route, status);
	/* the same (route, status) within the minute, more than the budget of
	 * the last 60 s, or Sentry said wait: counted, not sent */
	if (now - sl->last_ms < SENTRY_DEDUP_MS || now - s->sent_ms[s->sent_next] < 60000 ||
	    now < s->blocked_until_ms) {
		sl->suppressed++;
		return;
	}
	char *body = sentry_envelope(s, req, status, detail, sl->suppressed, clock_wall_ms());
	if (body == NULL)
		return;
	sl->last_ms = now;
	sl->suppressed = 0;
	s->sent_ms[s->sent_next] = now;
	s->sent_next = (s->sent_next + 1) % SENTRY_MAX_PER_MINUTE;
	sentry_send(s, body, req, status, now);
	free(body);
}
