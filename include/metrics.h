/*
 * metrics: request, rate-limit and dependency counters for Prometheus.
 *
 * Each worker counts in memory and adds its deltas to one Redis hash per
 * host (pc:prom:<hostname>) at most once a second, after a response or when
 * idle; a per-host hash of worker gauges (start time, last flush, Postgres
 * and Redis state by pid) sits beside it. GET /metrics on the internal
 * listener renders the host's totals in the Prometheus text format, so any
 * worker answers for all of them. While Redis is down the deltas stay in the
 * worker and are added once it is back: nothing counted is dropped.
 */
#ifndef PIXELCRAFT_METRICS_H
#define PIXELCRAFT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct app;
struct route;

/* Sets up the counters for the route table; 0, or -1 when out of memory. */
int metrics_init(void);

/* Frees the counters. */
void metrics_free(void);

/*
 * Counts one answered request: route NULL for a path that matched none,
 * method an enum http_method, the status sent, the time taken, and whether
 * the rate limiter refused it.
 */
void metrics_request(const struct route *route, int method, int status, int64_t duration_us,
		     bool rate_limited);

/*
 * Adds pending deltas to Redis when a second has passed since the last
 * flush (or 30 s, as a heartbeat, with nothing pending); `force` flushes now.
 * On failure the deltas are kept for the next attempt.
 */
void metrics_flush(struct app *app, bool force);

/*
 * The host's metrics in the Prometheus text exposition format (0.0.4).
 * Returns a buffer valid until the next call, its length in *len; NULL when
 * out of memory. Without Redis only this worker's gauges are given, with
 * pixelcraft_metrics_store_up 0.
 */
const char *metrics_render(struct app *app, size_t *len);

#endif
