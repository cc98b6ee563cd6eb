/*
 * livesub: WebSocket (RFC 6455, text frames, answering pings) and
 * EventSource (HTTP/1.0 so the stream is not chunked) subscribers over raw
 * sockets. See livesub.h.
 */
#include "livesub.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct livesub {
	int fd;
	enum livesub_kind kind;
	char request[16384];
	size_t req_len, req_sent;
	bool ready, refused;
	int status;
	unsigned char *buf;
	size_t len, cap;
	/* SSE: the event being assembled */
	char id[128];
	char *data;
	size_t dlen;
	/* queue for livesub_next */
	char *q_data;
	char q_id[128];
	bool q_full;
};

static void livesub_b64(const unsigned char *in, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		out[o++] = t[(v >> 18) & 63];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
}

static int livesub_flush(struct livesub *s)
{
	while (s->req_sent < s->req_len) {
		ssize_t w = send(s->fd, s->request + s->req_sent, s->req_len - s->req_sent,
				 MSG_NOSIGNAL);
		if (w < 0)
			return errno == EAGAIN || errno == EINPROGRESS || errno == ENOTCONN ? 0 : -1;
		s->req_sent += (size_t)w;
	}
	return 0;
}

struct livesub *livesub_open(int port, const char *target, enum livesub_kind kind,
			     const char *last_event_id, bool block, int *status)
{
	struct livesub *s = calloc(1, sizeof(*s));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1;

	*status = 0;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->kind = kind;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto fail;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (kind == LIVESUB_WS) {
		unsigned char key[16];
		char key64[32];
		if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
			goto fail;
		livesub_b64(key, sizeof(key), key64);
		s->req_len = (size_t)snprintf(s->request, sizeof(s->request),
					      "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
					      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
					      "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
					      target, key64);
	} else {
		char lei[256] = "";
		if (last_event_id != NULL)
			snprintf(lei, sizeof(lei), "Last-Event-ID: %s\r\n", last_event_id);
		s->req_len = (size_t)snprintf(s->request, sizeof(s->request),
					      "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n"
					      "Accept: text/event-stream\r\n%s\r\n",
					      target, lei);
	}
	if (!block)
		fcntl(s->fd, F_SETFL, O_NONBLOCK);
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		goto fail;
	if (block) {
		if (livesub_flush(s) < 0)
			goto fail;
		/* read until the end of the response headers */
		double end = (double)time(NULL) + 5;
		while (!s->ready && !s->refused && (double)time(NULL) < end) {
			struct pollfd p = {s->fd, POLLIN, 0};
			if (poll(&p, 1, 200) <= 0)
				continue;
			if (livesub_pump(s, NULL, NULL) < 0)
				break;
		}
		*status = s->status;
		if (!s->ready)
			goto fail;
		fcntl(s->fd, F_SETFL, O_NONBLOCK);
	}
	return s;
fail:
	*status = s->status;
	livesub_close(s);
	return NULL;
}

int livesub_fd(const struct livesub *s)
{
	return s->fd;
}

bool livesub_ready(const struct livesub *s)
{
	return s->ready;
}

void livesub_close(struct livesub *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
	free(s->data);
	free(s->q_data);
	free(s);
}

/* Sends a masked control frame (pong) to the server. */
static void livesub_pong(struct livesub *s, const unsigned char *payload, size_t n)
{
	unsigned char f[2 + 4 + 125];
	if (n > 125)
		n = 125;
	f[0] = 0x8a;
	f[1] = (unsigned char)(0x80 | n);
	memset(f + 2, 0, 4); /* a zero mask is a valid mask */
	memcpy(f + 6, payload, n);
	if (send(s->fd, f, 6 + n, MSG_NOSIGNAL) < 0)
		s->refused = true;
}

static void livesub_emit(struct livesub *s, const char *data, const char *id,
			 void (*cb)(void *, const char *, const char *), void *arg)
{
	if (cb != NULL) {
		cb(arg, data, id);
	} else if (!s->q_full) {
		s->q_data = strdup(data);
		snprintf(s->q_id, sizeof(s->q_id), "%s", id);
		s->q_full = true;
	}
}

/* Consumes complete units from the buffer; returns bytes consumed. */
static size_t livesub_parse(struct livesub *s, void (*cb)(void *, const char *, const char *),
			    void *arg)
{
	unsigned char *b = s->buf;
	size_t n = s->len;

	if (!s->ready) {
		char *end = memmem(b, n, "\r\n\r\n", 4);
		if (end == NULL)
			return 0;
		int code = 0;
		sscanf((char *)b, "HTTP/%*s %d", &code);
		s->status = code;
		if (code == 101 || code == 200)
			s->ready = true;
		else
			s->refused = true;
		return (size_t)((unsigned char *)end + 4 - b);
	}
	if (s->kind == LIVESUB_WS) {
		if (n < 2)
			return 0;
		size_t len = b[1] & 0x7f, hdr = 2;
		if (len == 126) {
			if (n < 4)
				return 0;
			len = (size_t)b[2] << 8 | b[3];
			hdr = 4;
		} else if (len == 127) {
			if (n < 10)
				return 0;
			len = 0;
			for (int i = 2; i < 10; i++)
				len = len << 8 | b[i];
			hdr = 10;
		}
		if (n < hdr + len)
			return 0;
		int op = b[0] & 0x0f;
		if (op == 0x1 || op == 0x2) {
			char *msg = malloc(len + 1);
			memcpy(msg, b + hdr, len);
			msg[len] = '\0';
			livesub_emit(s, msg, "", cb, arg);
			free(msg);
		} else if (op == 0x9) {
			livesub_pong(s, b + hdr, len);
		} else if (op == 0x8) {
			s->refused = true;
		}
		return hdr + len;
	}
	/* SSE: one line at a time */
	unsigned char *nl = memchr(b, '\n', n);
	if (nl == NULL)
		return 0;
	size_t ll = (size_t)(nl - b);
	char *line = (char *)b;
	line[ll] = '\0';
	if (ll > 0 && line[ll - 1] == '\r')
		line[--ll] = '\0';
	if (ll == 0) {
		if (s->data != NULL) {
			livesub_emit(s, s->data, s->id, cb, arg);
			free(s->data);
			s->data = NULL;
			s->dlen = 0;
		}
	} else if (strncmp(line, "id:", 3) == 0) {
		snprintf(s->id, sizeof(s->id), "%s", line + 3 + (line[3] == ' '));
	} else if (strncmp(line, "data:", 5) == 0) {
		const char *d = line + 5 + (line[5] == ' ');
		size_t dl = strlen(d);
		s->data = realloc(s->data, s->dlen + dl + 2);
		if (s->dlen > 0)
			s->data[s->dlen++] = '\n';
		memcpy(s->data + s->dlen, d, dl + 1);
		s->dlen += dl;
	}
	return ll + 1 + (b[ll] == '\r');
}

int livesub_pump(struct livesub *s, void (*on_message)(void *arg, const char *data, const char *id),
		 void *arg)
{
	if (livesub_flush(s) < 0)
		return -1;
	for (;;) {
		if (s->len + 65536 > s->cap) {
			s->cap = s->len + 65536;
			s->buf = realloc(s->buf, s->cap);
		}
		ssize_t r = recv(s->fd, s->buf + s->len, s->cap - s->len - 1, 0);
		if (r == 0)
			return -1;
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN)
				break;
			return -1;
		}
		s->len += (size_t)r;
		size_t used;
		while (s->len > 0 && (used = livesub_parse(s, on_message, arg)) > 0) {
			memmove(s->buf, s->buf + used, s->len - used);
			s->len -= used;
			if (on_message == NULL && s->q_full)
				return 0;
		}
		if (s->refused)
			return -1;
		if (on_message == NULL && (s->ready || s->refused))
			break;
	}
	return s->refused ? -1 : 0;
}

int livesub_next(struct livesub *s, int timeout_ms, char **data, char *id, size_t idlen)
{
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		/* complete messages may already be buffered */
		size_t used;
		while (!s->q_full && s->len > 0 && (used = livesub_parse(s, NULL, NULL)) > 0) {
			memmove(s->buf, s->buf + used, s->len - used);
			s->len -= used;
		}
		if (s->q_full) {
			*data = s->q_data;
			snprintf(id, idlen, "%s", s->q_id);
			s->q_data = NULL;
			s->q_full = false;
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = timeout_ms - ((now.tv_sec - t0.tv_sec) * 1000 +
					  (now.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return 0;
		struct pollfd p = {s->fd, POLLIN, 0};
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		if (livesub_pump(s, NULL, NULL) < 0 && !s->q_full)
			return -1;
	}
}
