/*
 * live: publishing events to nchan over HTTP.
 *
 * Events of one request are queued and sent together after the response, in
 * one batch: for an http:// publisher (the internal listener) over one
 * kept-alive connection of this worker, all requests written at once
 * (HTTP/1.1 pipelining, which nginx serves in order) and their answers read
 * back, so a chat message's four events cost one round trip instead of four.
 * Any other URL (https) goes through libcurl, one POST per event.
 */
#include "live.h"
#include "app.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "server.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Events queued by one request (more are sent in further batches). */
#define LIVE_BATCH 64

struct live_event {
	char channel[96];
	char event_type[48];
	char *body;
	int status; /* the publisher's HTTP status, 0 while unanswered */
};

struct live {
	const struct config *cfg;
	CURL *curl; /* publishers the raw client does not speak to (https) */
	/* the raw HTTP/1.1 client: the publisher's address, parsed once */
	int raw;    /* 1 usable, 0 not yet parsed, -1 not an http:// URL */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char host[300];  /* Host header: host[:port] as in the URL */
	char path[512];  /* path prefix of the URL, without trailing slash */
	int fd;          /* the kept-alive connection, -1 when none */
	/* the queue of this request's events */
	struct live_event queue[LIVE_BATCH];
	int nqueued;
	bool flush_pending;
	/* reply bytes read but not yet consumed */
	char rbuf[8192];
	size_t rlen;
};

struct live *live_open(const struct config *cfg)
{
	struct live *l = calloc(1, sizeof(*l));

	if (l != NULL) {
		l->cfg = cfg;
		l->fd = -1;
	}
	return l;
}

static void live_disconnect(struct live *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->rlen = 0;
}

void live_close(struct live *l)
{
	if (l == NULL)
		return;
	if (l->curl != NULL)
		curl_easy_cleanup(l->curl);
	live_disconnect(l);
	for (int i = 0; i < l->nqueued; i++)
		free(l->queue[i].body);
	free(l);
}

void live_user_channel(const char *user_id, char *out, size_t len)
{
	snprintf(out, len, "notifications:%s", user_id);
}

static void live_failed(const struct live_event *ev, const char *error, long status)
{
	struct log_line line;

	log_begin(&line, LOG_WARN, "live_publish_failed");
	log_str(&line, "channel", ev->channel);
	log_str(&line, "event_type", ev->event_type);
	log_str(&line, "error", error);
	log_int(&line, "http_status", status);
	log_end(&line);
}

/* ---- libcurl: one POST per event ------------------------------------------ */

static size_t live_discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

static void live_send_curl(struct live *l, struct live_event *ev)
{
	struct curl_slist *h = NULL;
	char url[512], hdr[96];
	long code = 0;

	if (l->curl == NULL && (l->curl = curl_easy_init()) == NULL) {
		live_failed(ev, "cannot initialise libcurl", 0);
		return;
	}
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
	if (rc != CURLE_OK || code < 200 || code >= 300)
		live_failed(ev, rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP error", code);
	curl_slist_free_all(h);
}

/* ---- the raw HTTP/1.1 client ------------------------------------------------ */

/*
 * Parses LIVE_PUBLISH_URL once: http://host[:port][/path]. Sets l->raw to 1
 * when the raw client can use it, -1 otherwise (libcurl then sends).
 */
static void live_parse_url(struct live *l)
{
	const char *url = l->cfg->live_publish_url, *p, *slash, *colon;
	char host[256], port[8] = "80";
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;

	l->raw = -1;
	if (strncmp(url, "http://", 7) != 0)
		return;
	p = url + 7;
	slash = strchr(p, '/');
	size_t hostlen = slash ? (size_t)(slash - p) : strlen(p);
	if (hostlen == 0 || hostlen >= sizeof(l->host) || memchr(p, '@', hostlen) != NULL ||
	    *p == '[') /* credentials or IPv6 literals: leave them to libcurl */
		return;
	memcpy(l->host, p, hostlen);
	l->host[hostlen] = '\0';
	colon = strchr(l->host, ':');
	size_t namelen = colon ? (size_t)(colon - l->host) : hostlen;
	if (namelen == 0 || namelen >= sizeof(host))
		return;
	memcpy(host, l->host, namelen);
	host[namelen] = '\0';
	if (colon != NULL) {
		if (strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(port) ||
		    strspn(colon + 1, "0123456789") != strlen(colon + 1))
			return;
		snprintf(port, sizeof(port), "%s", colon + 1);
	}
	snprintf(l->path, sizeof(l->path), "%s", slash ? slash : "");
	size_t n = strlen(l->path);
	while (n > 0 && l->path[n - 1] == '/')
		l->path[--n] = '\0';
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL ||
	    ai->ai_addrlen > sizeof(l->addr)) {
		if (ai != NULL)
			freeaddrinfo(ai);
		return;
	}
	memcpy(&l->addr, ai->ai_addr, ai->ai_addrlen);
	l->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	l->raw = 1;
}

/* Waits for events on the connection until the deadline: >0 ready, 0 timeout, -1 error. */
static int live_wait(struct live *l, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = l->fd, .events = events};

	for (;;) {
		int64_t left = deadline - clock_mono_ms();
		if (left <= 0)
			return 0;
		int rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		return rc;
	}
}

/* Opens the connection (non-blocking) within the deadline. 0 / -1 with *why. */
static int live_connect(struct live *l, int64_t deadline, const char **why)
{
	int one = 1;

	l->fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		*why = "cannot create a socket";
		return -1;
	}
	setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(l->fd, (struct sockaddr *)&l->addr, l->addrlen) < 0) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (errno != EINPROGRESS) {
			*why = "cannot connect";
			goto fail;
		}
		if (live_wait(l, POLLOUT, deadline) <= 0) {
			*why = "connect timed out";
			goto fail;
		}
		if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
			*why = "cannot connect";
			goto fail;
		}
	}
	l->rlen = 0;
	return 0;
fail:
	live_disconnect(l);
	return -1;
}

/* Writes all of buf within the deadline. 0 / -1. */
static int live_write_all(struct live *l, const char *buf, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(l->fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    live_wait(l, POLLOUT, deadline) > 0)
			continue;
		return -1;
	}
	return 0;
}

/* Reads more reply bytes into rbuf. >0 read, 0 peer closed, -1 error or timeout. */
static int live_fill(struct live *l, int64_t deadline)
{
	if (l->rlen == sizeof(l->rbuf))
		return -1; /* a header block larger than the buffer */
	for (;;) {
		ssize_t n = recv(l->fd, l->rbuf + l->rlen, sizeof(l->rbuf) - l->rlen, 0);
		if (n > 0) {
			l->rlen += (size_t)n;
			return 1;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if ((errno == EAGAIN || errno == EWOULDBLOCK) && live_wait(l, POLLIN, deadline) > 0)
			continue;
		return -1;
	}
}

static void live_consume(struct live *l, size_t n)
{
	memmove(l->rbuf, l->rbuf + n, l->rlen - n);
	l->rlen -= n;
}

/* Skips n body bytes. 0 / -1. */
static int live_skip(struct live *l, size_t n, int64_t deadline)
{
	while (n > 0) {
		if (l->rlen == 0 && live_fill(l, deadline) <= 0)
			return -1;
		size_t k = n < l->rlen ? n : l->rlen;
		live_consume(l, k);
		n -= k;
	}
	return 0;
}

/* One CRLF-terminated line of a chunked body into line. 0 / -1. */
static int live_line(struct live *l, char *line, size_t len, int64_t deadline)
{
	char *eol;

	while ((eol = memchr(l->rbuf, '\n', l->rlen)) == NULL)
		if (live_fill(l, deadline) <= 0)
			return -1;
	size_t n = (size_t)(eol - l->rbuf) + 1;
	snprintf(line, len, "%.*s", (int)(n < len ? n : len - 1), l->rbuf);
	live_consume(l, n);
	return 0;
}

/*
 * Reads one response: its status in *status, *close when the server ends the
 * connection after it. 0 / -1 (connection unusable; nothing of this
 * response is known).
 */
static int live_response(struct live *l, int *status, bool *close_after, int64_t deadline)
{
	char *end;

	while ((end = memmem(l->rbuf, l->rlen, "\r\n\r\n", 4)) == NULL)
		if (live_fill(l, deadline) <= 0)
			return -1;
	size_t head = (size_t)(end - l->rbuf) + 4;
	*end = '\0';
	int minor = 0, code = 0;
	if (sscanf(l->rbuf, "HTTP/1.%d %3d", &minor, &code) != 2 || code < 100)
		return -1;
	long long clen = -1;
	bool chunked = false;
	*close_after = minor == 0;
	for (char *h = strstr(l->rbuf, "\r\n"); h != NULL && h < end; h = strstr(h + 2, "\r\n")) {
		const char *v = h + 2;
		if (strncasecmp(v, "Content-Length:", 15) == 0)
			clen = strtoll(v + 15, NULL, 10);
		else if (strncasecmp(v, "Transfer-Encoding:", 18) == 0)
			chunked = strcasestr(v, "chunked") != NULL;
		else if (strncasecmp(v, "Connection:", 11) == 0) {
			const char *e = strstr(v, "\r\n");
			size_t vl = e ? (size_t)(e - v) : strlen(v);
			char val[64];
			snprintf(val, sizeof(val), "%.*s", (int)(vl < sizeof(val) ? vl : sizeof(val) - 1), v);
			if (strcasestr(val, "close") != NULL)
				*close_after = true;
			else if (strcasestr(val, "keep-alive") != NULL)
				*close_after = false;
		}
	}
	live_consume(l, head);
	if (code < 200) /* an interim answer: the real one follows */
		return live_response(l, status, close_after, deadline);
	*status = code;
	if (code == 204 || code == 304)
		return 0;
	if (chunked) {
		char line[64];
		for (;;) {
			if (live_line(l, line, sizeof(line), deadline) < 0)
				return -1;
			long long size = strtoll(line, NULL, 16);
			if (size < 0)
				return -1;
			if (size == 0)
				break;
			if (live_skip(l, (size_t)size + 2, deadline) < 0)
				return -1;
		}
		do { /* trailers up to the empty line */
			if (live_line(l, line, sizeof(line), deadline) < 0)
				return -1;
		} while (strcmp(line, "\r\n") != 0 && strcmp(line, "\n") != 0);
		return 0;
	}
	if (clen < 0) { /* delimited by the end of the connection */
		*close_after = true;
		while (live_fill(l, deadline) > 0)
			l->rlen = 0;
		return 0;
	}
	return live_skip(l, (size_t)clen, deadline);
}

/* The requests of events from..n-1, in one buffer (caller frees). */
static char *live_requests(struct live *l, int from, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (f == NULL)
		return NULL;
	for (int i = from; i < l->nqueued; i++) {
		const struct live_event *ev = &l->queue[i];
		fprintf(f,
			"POST %s/%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
			"X-EventSource-Event: %s\r\nContent-Length: %zu\r\n\r\n%s",
			l->path, ev->channel, l->host, ev->event_type, strlen(ev->body), ev->body);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * Sends the queued events from `from` on on one connection and reads the
 * answers. Returns the number of events answered; when it stops early, *why
 * says why and *retry whether the rest may be sent again on a new
 * connection: only when the server closed this one (an idle kept-alive
 * connection closed as we wrote, or its request limit reached). A server
 * that closes a connection does not serve the requests it has not answered,
 * so none is published twice.
 */
static int live_batch(struct live *l, int from, const char **why, bool *retry)
{
	int64_t step = l->cfg->live_publish_timeout_ms, deadline = clock_mono_ms() + step;
	size_t len = 0;
	int done = 0;

	*retry = false;
	/* a kept-alive connection the server has closed is readable: replace it */
	if (l->fd >= 0) {
		struct pollfd pfd = {.fd = l->fd, .events = POLLIN};
		if (poll(&pfd, 1, 0) != 0)
			live_disconnect(l);
	}
	if (l->fd < 0 && live_connect(l, deadline, why) < 0)
		return 0;
	char *req = live_requests(l, from, &len);
	if (req == NULL) {
		*why = "out of memory";
		return 0;
	}
	int rc = live_write_all(l, req, len, deadline);
	free(req);
	if (rc < 0) {
		*why = "cannot send";
		*retry = clock_mono_ms() < deadline;
		live_disconnect(l);
		return 0;
	}
	for (int i = from; i < l->nqueued; i++) {
		bool close_after = false;
		if (live_response(l, &l->queue[i].status, &close_after, deadline) < 0) {
			bool late = clock_mono_ms() >= deadline;
			*why = late ? "no answer in time" : "connection lost";
			*retry = !late;
			live_disconnect(l);
			return done;
		}
		done++;
		deadline = clock_mono_ms() + step; /* each answer within the timeout */
		if (close_after) {
			*why = "connection closed by the publisher";
			*retry = true;
			live_disconnect(l);
			return done;
		}
	}
	return done;
}

/* Runs after the response: sends every queued event. */
static void live_flush(struct app *app, void *arg)
{
	struct live *l = app->live;
	(void)arg;

	l->flush_pending = false;
	if (l->raw == 0)
		live_parse_url(l);
	if (l->raw < 0) {
		for (int i = 0; i < l->nqueued; i++)
			live_send_curl(l, &l->queue[i]);
	} else {
		/* whatever a closed connection left unanswered is sent once more on a
		 * new one; a request nginx answered is never repeated */
		int sent = 0, fresh = 0;
		const char *why = "";
		bool retry = true;
		/* progress, or one new connection, before giving up on the rest */
		while (sent < l->nqueued && retry) {
			bool had_connection = l->fd >= 0;
			int got = live_batch(l, sent, &why, &retry);
			sent += got;
			if (got == 0 && (!had_connection || ++fresh > 1))
				break;
		}
		for (int i = 0; i < l->nqueued; i++) {
			const struct live_event *ev = &l->queue[i];
			if (i >= sent)
				live_failed(ev, why, 0);
			else if (ev->status < 200 || ev->status >= 300)
				live_failed(ev, "HTTP error", ev->status);
		}
	}
	for (int i = 0; i < l->nqueued; i++)
		free(l->queue[i].body);
	l->nqueued = 0;
}

void live_publish(struct app *app, const char *channel, const char *event_type,
		  struct json_object *data)
{
	struct live *l = app->live;
	struct json_object *o;
	char iso[32];

	if (app->cfg->live_publish_url == NULL || l == NULL) {
		json_object_put(data);
		return;
	}
	if (l->nqueued == LIVE_BATCH)
		live_flush(app, NULL); /* a full queue goes at once */
	o = json_object_new_object();
	json_object_object_add(o, "event_type", json_object_new_string(event_type));
	json_object_object_add(o, "data", data);
	json_object_object_add(o, "timestamp",
			       json_object_new_string(clock_iso8601(clock_wall_ms(), iso, sizeof(iso))));
	struct live_event *ev = &l->queue[l->nqueued];
	memset(ev, 0, sizeof(*ev));
	snprintf(ev->channel, sizeof(ev->channel), "%s", channel);
	snprintf(ev->event_type, sizeof(ev->event_type), "%s", event_type);
	ev->body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	if (ev->body == NULL)
		return;
	l->nqueued++;
	if (!l->flush_pending) {
		l->flush_pending = true;
		server_defer(live_flush, NULL);
	}
}
