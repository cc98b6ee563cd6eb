/*
 * cache: whole JSON answers kept in Redis for a short time, so that repeated
 * identical requests (a dashboard refreshing its summaries) skip Postgres.
 *
 * A key is "pc:cache:<endpoint>:<scope>:<params>": the endpoint, whose data
 * the answer shows ("admin" for everything, "u:<user id>" for one user's
 * rows, so one user's answer is never served to another), and the request's
 * normalised parameters (kept verbatim when short, else their 64-bit FNV-1a
 * hash). The value is the answer's expiry and the answer; each worker also
 * keeps its own copies of recent answers until that same expiry (see
 * cache.c). Redis is only an optimisation here: any Redis error means "no
 * cache" for this request, never a failed request.
 */
#ifndef PIXELCRAFT_CACHE_H
#define PIXELCRAFT_CACHE_H

#include <stddef.h>

struct kv;

/* Enough for any key cache_key() builds. */
#define CACHE_KEY_MAX 256

/*
 * Writes the key of (endpoint, scope, params) into buf (CACHE_KEY_MAX
 * bytes). params longer than 96 bytes are replaced by their hash.
 */
void cache_key(char *buf, size_t len, const char *endpoint, const char *scope, const char *params);

/*
 * The cached answer under key, from the worker's copies or Redis: 1 and a
 * NUL-terminated copy in *json (caller frees), 0 when there is none (or it
 * expired), -1 when Redis failed (the caller goes on without the cache).
 */
int cache_get(struct kv *kv, const char *key, char **json);

/*
 * Stores json under key for ttl_seconds (0: nothing is stored), in Redis and
 * in the worker's copies. 0 / -1 (Redis failed).
 */
int cache_put(struct kv *kv, const char *key, const char *json, int ttl_seconds);

#endif
