/*
 * log: JSON-lines logger. Lines are assembled in a fixed stack buffer and
 * written with one write(2) call; an overlong field is truncated rather than
 * splitting the line. The logger never allocates, so it is safe to use on
 * error paths after an allocation failure.
 */
#include "log.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *const log_level_names[LOG__MAX] = {"debug", "info", "warn", "error"};

static enum log_level log_min = LOG_INFO;
static int log_fd = STDERR_FILENO;
static int log_pid;

int log_open(enum log_level level, const char *path)
{
	log_min = level;
	log_pid = (int)getpid();
	if (path == NULL || *path == '\0')
		return 0;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	log_close();
	log_fd = fd;
	return 0;
}

void log_close(void)
{
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = STDERR_FILENO;
}

bool log_enabled(enum log_level level)
{
	return level >= log_min;
}

void log_escape(char *buf, size_t *len, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = *len;

	for (; *s != '\0' && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
		} else if (c == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(buf + n, "\\u00", 4);
			buf[n + 4] = hex[c >> 4];
			buf[n + 5] = hex[c & 15];
			n += 6;
		} else {
			buf[n++] = (char)c;
		}
	}
	*len = n;
}

static void log_raw(struct log_line *l, const char *s)
{
	size_t n = strlen(s);

	if (l->len + n + 3 >= sizeof(l->buf))
		n = sizeof(l->buf) - l->len - 3;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

void log_begin(struct log_line *l, enum log_level level, const char *event)
{
	char ts[32], head[96];

	l->on = log_enabled(level);
	l->len = 0;
	if (!l->on)
		return;
	clock_iso8601(clock_wall_ms(), ts, sizeof(ts));
	snprintf(head, sizeof(head), "{\"time\":\"%s\",\"level\":\"%s\",\"pid\":%d", ts,
		 log_level_names[level], log_pid ? log_pid : (int)getpid());
	log_raw(l, head);
	log_str(l, "event", event);
}

void log_str(struct log_line *l, const char *key, const char *value)
{
	if (!l->on || value == NULL)
		return;
	log_raw(l, ",\"");
	log_raw(l, key);
	log_raw(l, "\":\"");
	log_escape(l->buf, &l->len, sizeof(l->buf) - 8, value);
	log_raw(l, "\"");
}

void log_int(struct log_line *l, const char *key, int64_t value)
{
	char num[32];

	if (!l->on)
		return;
	snprintf(num, sizeof(num), "%lld", (long long)value);
	log_raw(l, ",\"");
	log_raw(l, key);
	log_raw(l, "\":");
	log_raw(l, num);
}

void log_end(struct log_line *l)
{
	if (!l->on)
		return;
	l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	for (size_t off = 0; off < l->len;) {
		ssize_t w = write(log_fd, l->buf + off, l->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

void log_msg(enum log_level level, const char *event, const char *fmt, ...)
{
	struct log_line l;
	char msg[1024];
	va_list ap;

	log_begin(&l, level, event);
	if (!l.on)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_str(&l, "msg", msg);
	log_end(&l);
}
