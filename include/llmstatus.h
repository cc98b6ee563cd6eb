/*
 * llmstatus: the LLM host's health, shared by every worker through Redis.
 *
 * One worker at a time refreshes it (whoever takes the lease
 * "pc:llm:lease" with SET NX EX MODEL_HEALTH_INTERVAL); the others read the
 * stored result, so all workers and hosts answer the same. The result also
 * lists the model tags the host has, from which each model's health follows.
 */
#ifndef PIXELCRAFT_LLMSTATUS_H
#define PIXELCRAFT_LLMSTATUS_H

#include <stdint.h>

struct app;
struct json_object;

/* The Redis key of the shared status. */
#define LLMSTATUS_KEY "pc:llm:host"

/*
 * The shared status in *status: {"status": "healthy"|"unhealthy"|"unknown",
 * "latency_ms", "checked_at", "checked_at_ms", "tags": [...], "error"?}
 * (caller json_object_put()s it). Reading it is one Redis round trip, which
 * /health also uses as its Redis check: returns 0 and the round trip time in
 * *redis_us when Redis answered, -1 when it did not (status "unknown").
 */
int llmstatus_host(struct app *app, struct json_object **status, int64_t *redis_us);

/*
 * The same from a value already read from LLMSTATUS_KEY (raw, NULL when the
 * key does not exist). When the stored result is older than
 * MODEL_HEALTH_INTERVAL and this worker takes the lease, a refresh runs after
 * the response is sent (or at once when there is no result at all).
 */
struct json_object *llmstatus_interpret(struct app *app, const char *raw);

/* True when tag is in the status's "tags" and the host is healthy. */
int llmstatus_has_tag(struct json_object *status, const char *tag);

#endif
