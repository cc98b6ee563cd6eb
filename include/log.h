/*
 * log: structured logging, one JSON object per line.
 *
 * Every line carries "time" (ISO 8601 UTC), "level", "pid" and "event"; other
 * fields are added with log_str/log_int. Lines go to LOG_FILE when set (opened
 * O_APPEND, so several workers can share it), else to stderr, and are written
 * with a single write(2) so lines from different workers never interleave.
 */
#ifndef PIXELCRAFT_LOG_H
#define PIXELCRAFT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG__MAX };

/* Names of the levels as they appear in LOG_LEVEL and in log lines. */
extern const char *const log_level_names[LOG__MAX];

/* Sets the minimum level and the destination (NULL path: stderr). 0 / -1. */
int log_open(enum log_level level, const char *path);

/* Closes a LOG_FILE opened by log_open; logging falls back to stderr. */
void log_close(void);

/* True when lines of this level are written. */
bool log_enabled(enum log_level level);

/* A line being built; lives on the caller's stack. */
struct log_line {
	char buf[4096];
	size_t len;
	bool on;
};

/* Starts a line (a no-op line when the level is disabled). */
void log_begin(struct log_line *l, enum log_level level, const char *event);

/* Adds a string field, JSON-escaped; NULL values are skipped. */
void log_str(struct log_line *l, const char *key, const char *value);

/* Adds an integer field. */
void log_int(struct log_line *l, const char *key, int64_t value);

/* Finishes the line and writes it. */
void log_end(struct log_line *l);

/* One-call form: an event with a printf-style "msg" field. */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Appends `s` JSON-escaped (without quotes) to buf at *len, never past cap-1;
 * used by log lines and by anything else that writes JSON strings by hand.
 */
void log_escape(char *buf, size_t *len, size_t cap, const char *s);

#endif
