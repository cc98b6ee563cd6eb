/*
 * sentry: optional error reporting to Sentry (SENTRY_DSN; off when empty).
 *
 * Every answer with a status of 500 or more becomes one Sentry event, POSTed
 * with libcurl to the project's envelope endpoint after the response has been
 * sent (connect and total deadline 1 s). An event names only the method, the
 * route PATTERN (never the raw path, which carries ids, nor the query), the
 * status, the error detail and the request id: never a request or response
 * body, a header, a token, a user id, an email or a client address.
 *
 * An outage cannot flood Sentry or stall a worker: each worker sends at most
 * one event per (route, status) in 60 s and at most 10 events a minute in
 * all, and waits out a 429's Retry-After; what was held back is counted and
 * the count is sent with the next event of that (route, status) as
 * extra.suppressed. A failed send is logged once (sentry_send_failed) and
 * dropped, never retried.
 */
#ifndef PIXELCRAFT_SENTRY_H
#define PIXELCRAFT_SENTRY_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct request;
struct sentry;

/* Per-worker limits of what is sent (see above). */
#define SENTRY_DEDUP_MS	       60000 /* one event per (route, status) in this long */
#define SENTRY_MAX_PER_MINUTE  10    /* events in any 60 s */
#define SENTRY_SEND_TIMEOUT_MS 1000  /* connect and total deadline of one send */

/* A parsed DSN: where envelopes go and the key that authenticates them. */
struct sentry_dsn {
	char url[512]; /* scheme://HOST[:PORT][/PREFIX]/api/PROJECT_ID/envelope/ */
	char key[128]; /* PUBLIC_KEY */
	char project[24];
};

/*
 * Parses scheme://PUBLIC_KEY@HOST[:PORT][/PREFIX]/PROJECT_ID (scheme http or
 * https, the key letters and digits, the project id digits, no secret, query
 * or fragment) into *out. 0, or -1 when malformed (config validation uses it).
 */
int sentry_dsn_parse(const char *dsn, struct sentry_dsn *out);

/*
 * The reporter for cfg (SENTRY_DSN, SENTRY_ENVIRONMENT) and release `version`
 * (borrowed; must outlive it). NULL when SENTRY_DSN is empty (reporting off)
 * or when out of memory (logged): every function accepts NULL.
 */
struct sentry *sentry_open(const struct config *cfg, const char *version);

/* Frees it; accepts NULL. */
void sentry_close(struct sentry *s);

/*
 * Reports the answered request req with `status` and the error `detail`
 * (may be NULL or empty) when status >= 500, subject to the limits above.
 * Sends at once, so call it only after the response has been sent. Never
 * fails: a send that fails is logged and dropped.
 */
void sentry_report(struct sentry *s, const struct request *req, int status, const char *detail);

/*
 * The envelope of one event, as sentry_report sends it: three lines (the
 * envelope header, the item header, the event), each ending in a newline.
 * wall_ms is the event time, suppressed the count sent as extra.suppressed.
 * Caller frees; NULL when out of memory. Exposed for the unit tests.
 */
char *sentry_envelope(struct sentry *s, const struct request *req, int status, const char *detail,
		      long suppressed, int64_t wall_ms);

#endif
