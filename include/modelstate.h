/*
 * modelstate: what all workers and hosts know about each model, in Redis:
 * whether it is healthy (its provider answers and lists it), whether its
 * circuit breaker is open, and its call metrics.
 *
 * Keys: pc:cb:fail:<model> (consecutive failures), pc:cb:open:<model> (set,
 * with a TTL of CIRCUIT_COOLDOWN_SECONDS, when CIRCUIT_FAILURES calls failed
 * in a row: the model is skipped until it expires), pc:metrics:<model> (a
 * hash: requests, successes, failures, tokens_in, tokens_out,
 * latency_sum_ms, and a fixed-bucket latency histogram le_<ms>).
 */
#ifndef PIXELCRAFT_MODELSTATE_H
#define PIXELCRAFT_MODELSTATE_H

#include <stdbool.h>

#include "models.h"

struct app;
struct json_object;

struct model_status {
	bool known;        /* false when Redis could not be read */
	bool healthy;      /* provider answers and has the model */
	bool circuit_open; /* skipped until the cool-down ends */
};

/*
 * The status of every model of the registry (st has models_count entries),
 * and the shared host status in *host if host is not NULL (caller puts):
 * one Redis round trip. Returns 0, or -1 when Redis is unavailable (then
 * every model is reported healthy and closed, unknown, so that chat still
 * tries them).
 */
int modelstate_read(struct app *app, struct model_status *st, struct json_object **host);

/*
 * The healthy candidates of a task with a closed circuit, in order, into
 * out. Returns their number, or -1 for an unknown task.
 */
int modelstate_candidates(struct app *app, const char *task, const struct model **out, int max);

/* Records one call of m in the shared metrics and circuit breaker. */
void modelstate_record(struct app *app, const struct model *m, bool ok, int latency_ms,
		       int tokens_in, int tokens_out);

/*
 * Live metrics of every model: a JSON array in registry order of
 * {"total_requests", "successes", "failures", "success_rate",
 * "avg_latency_ms", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms",
 * "tokens_in", "tokens_out", "total_tokens"} (caller puts). 0 / -1.
 */
int modelstate_metrics(struct app *app, struct json_object **out);

#endif
