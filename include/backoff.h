/*
 * backoff: when to try a failed dependency again.
 *
 * A dependency (Postgres, Redis) that was working and breaks may be retried at
 * once; each further consecutive failure doubles the wait from `base_ms` up to
 * `max_ms`, where it stays (attempts never stop). Success resets the schedule.
 */
#ifndef PIXELCRAFT_BACKOFF_H
#define PIXELCRAFT_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

struct backoff_policy {
	int base_ms;  /* wait after the first failed reconnect attempt */
	int max_ms;   /* cap of the doubling */
	int attempts; /* attempts on the doubling schedule before settling at the cap */
};

struct backoff {
	struct backoff_policy policy;
	int failures;     /* consecutive failed attempts */
	int64_t next_ms;  /* monotonic ms before which no attempt is made */
};

/* Initialises b with policy p; the first attempt is allowed at once. */
void backoff_init(struct backoff *b, const struct backoff_policy *p);

/* True when an attempt may be made at monotonic time now_ms. */
bool backoff_ready(const struct backoff *b, int64_t now_ms);

/* Records a failed attempt at now_ms and schedules the next one. */
void backoff_failed(struct backoff *b, int64_t now_ms);

/* Records a success: the next failure may be retried at once. */
void backoff_reset(struct backoff *b);

/* Whole seconds (at least 1) until the next attempt, for Retry-After. */
int backoff_retry_after(const struct backoff *b, int64_t now_ms);

#endif
