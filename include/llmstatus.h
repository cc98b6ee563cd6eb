/*
 * llmstatus: the LLM host's health, shared by every worker through Redis.
 *
 * One worker at a time refreshes it (whoever takes the lease
 * "pc:llm:lease" with SET NX EX MODEL_HEALTH_INTERVAL); the others read the
 * stored result, so all workers and hosts answer the same.
 */
#ifndef PIXELCRAFT_LLMSTATUS_H
#define PIXELCRAFT_LLMSTATUS_H

struct app;
struct json_object;

/*
 * The shared status: {"status": "healthy"|"unhealthy"|"unknown",
 * "latency_ms", "checked_at", "tags": [...], "error"?}. When the stored
 * result is older than MODEL_HEALTH_INTERVAL and this worker takes the lease,
 * a refresh runs after the response is sent (or at once when there is no
 * result at all). Caller json_object_put()s the result.
 */
struct json_object *llmstatus_host(struct app *app);

#endif
