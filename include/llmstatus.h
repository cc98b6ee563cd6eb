/*
 * llmstatus: the LLM host's health, shared by every worker through Redis.
 *
 * One worker at a time refreshes it (whoever takes the lease
 * "pc:llm:lease" with SET NX EX MODEL_HEALTH_INTERVAL); the others read the
 * stored result, so all workers and hosts answer the same.
 */
#ifndef PIXELCRAFT_LLMSTATUS_H
#define PIXELCRAFT_LLMSTATUS_H

#include <stdint.h>

struct app;
struct json_object;

/*
 * The shared status in *status: {"status": "healthy"|"unhealthy"|"unknown",
 * "latency_ms", "checked_at", "tags": [...], "error"?} (caller
 * json_object_put()s it). When the stored result is older than
 * MODEL_HEALTH_INTERVAL and this worker takes the lease, a refresh runs
 * after the response is sent (or at once when there is no result at all).
 * Reading it is one Redis round trip, which /health also uses as its Redis
 * check: returns 0 and the round trip time in *redis_us when Redis answered,
 * -1 when it did not (status "unknown").
 */
int llmstatus_host(struct app *app, struct json_object **status, int64_t *redis_us);

#endif
