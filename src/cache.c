/*
 * cache: JSON answers in Redis (see cache.h).
 *
 * A value in Redis is "<expiry> <json>": the instant (Unix milliseconds)
 * the answer stops being valid, then the answer. A worker also keeps the
 * last answers it read or wrote in a small table of its own, each until
 * that same instant, so a popular answer costs one Redis round trip per
 * worker per TTL instead of one per request, and no answer is ever served
 * after its expiry, wherever it comes from.
 *
 * Every Redis problem is a miss (logged at debug level; kv logs the outage
 * itself), so an outage costs nothing but the cache.
 */
#include "cache.h"
#include "clock.h"
#include "kv.h"
#include "log.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest parameter text kept verbatim in a key. */
#define CACHE_PARAMS_VERBATIM 96
/* The worker's own copies: slots, and the largest answer kept there. */
#define CACHE_MEMO_SLOTS     64
#define CACHE_MEMO_MAX_BYTES 65536

struct cache_memo {
	char key[CACHE_KEY_MAX];
	char *json;
	int64_t expires_ms; /* wall clock */
};

static struct cache_memo cache_memo[CACHE_MEMO_SLOTS];

static uint64_t cache_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a, 64 bits */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

void cache_key(char *buf, size_t len, const char *endpoint, const char *scope, const char *params)
{
	if (strlen(params) <= CACHE_PARAMS_VERBATIM)
		snprintf(buf, len, "pc:cache:%s:%s:%s", endpoint, scope, params);
	else
		snprintf(buf, len, "pc:cache:%s:%s:#%016" PRIx64, endpoint, scope,
			 cache_hash(params));
}

/* Keeps a copy of json under key until expires_ms (too large: not kept). */
static void cache_memo_put(const char *key, const char *json, int64_t expires_ms)
{
	struct cache_memo *m = &cache_memo[cache_hash(key) % CACHE_MEMO_SLOTS];
	size_t n = strlen(json);

	if (n > CACHE_MEMO_MAX_BYTES || strlen(key) >= sizeof(m->key))
		return;
	char *copy = malloc(n + 1);
	if (copy == NULL)
		return;
	memcpy(copy, json, n + 1);
	free(m->json);
	m->json = copy;
	m->expires_ms = expires_ms;
	memcpy(m->key, key, strlen(key) + 1);
}

/* The worker's copy of key if still valid: a new copy (caller frees) or NULL. */
static char *cache_memo_get(const char *key, int64_t now)
{
	struct cache_memo *m = &cache_memo[cache_hash(key) % CACHE_MEMO_SLOTS];

	if (m->json == NULL || now >= m->expires_ms || strcmp(m->key, key) != 0)
		return NULL;
	return strdup(m->json);
}

int cache_get(struct kv *kv, const char *key, char **json)
{
	char *value = NULL, *end;
	int64_t now = clock_wall_ms();
	int rc;

	*json = cache_memo_get(key, now);
	if (*json != NULL)
		return 1;
	rc = kv_get(kv, key, &value);
	if (rc < 0) {
		log_msg(LOG_DEBUG, "cache_skipped", "%s: get %s: %s", __func__, key,
			kv_last_error(kv));
		return -1;
	}
	if (rc == 0)
		return 0;
	long long expires = strtoll(value, &end, 10);
	if (end == value || *end != ' ' || now >= expires) {
		/* expired (or not ours): a miss, overwritten by the next put */
		free(value);
		return 0;
	}
	cache_memo_put(key, end + 1, expires);
	memmove(value, end + 1, strlen(end + 1) + 1);
	*json = value;
	return 1;
}

int cache_put(struct kv *kv, const char *key, const char *json, int ttl_seconds)
{
	char *value = NULL;
	int64_t expires = clock_wall_ms() + (int64_t)ttl_seconds * 1000;
	int rc = -1;

	if (ttl_seconds <= 0)
		return 0;
	if (asprintf(&value, "%" PRId64 " %s", expires, json) < 0)
		return -1;
	cache_memo_put(key, json, expires);
	if (kv_set(kv, key, value, ttl_seconds) < 0)
		log_msg(LOG_DEBUG, "cache_skipped", "%s: set %s: %s", __func__, key,
			kv_last_error(kv));
	else
		rc = 0;
	free(value);
	return rc;
}
