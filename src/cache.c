/*
 * cache: JSON answers in Redis (see cache.h). A thin layer over kv: it
 * builds the keys and turns every Redis problem into a miss (logged at
 * debug level; kv logs the outage itself), so an outage costs nothing but
 * the cache.
 */
#include "cache.h"
#include "kv.h"
#include "log.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Longest parameter text kept verbatim in a key. */
#define CACHE_PARAMS_VERBATIM 96

void cache_key(char *buf, size_t len, const char *endpoint, const char *scope,
	       const char *params)
{
	size_t n = strlen(params);

	if (n <= CACHE_PARAMS_VERBATIM) {
		snprintf(buf, len, "pc:cache:%s:%s:%s", endpoint, scope, params);
		return;
	}
	uint64_t h = 14695981039346656037ULL; /* FNV-1a, 64 bits */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)params[i]) * 1099511628211ULL;
	snprintf(buf, len, "pc:cache:%s:%s:#%016" PRIx64, endpoint, scope, h);
}

int cache_get(struct kv *kv, const char *key, char **json)
{
	int rc = kv_get(kv, key, json);

	if (rc < 0)
		log_msg(LOG_DEBUG, "cache_skipped", "%s: get %s: %s", __func__, key,
			kv_last_error(kv));
	return rc;
}

int cache_put(struct kv *kv, const char *key, const char *json, int ttl_seconds)
{
	if (ttl_seconds <= 0)
		return 0;
	if (kv_set(kv, key, json, ttl_seconds) < 0) {
		log_msg(LOG_DEBUG, "cache_skipped", "%s: set %s: %s", __func__, key,
			kv_last_error(kv));
		return -1;
	}
	return 0;
}
