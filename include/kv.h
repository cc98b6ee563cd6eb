/*
 * kv: the worker's one Redis connection (hiredis), where every piece of state
 * shared between workers and hosts lives.
 *
 * Every command has the REDIS_TIMEOUT_MS deadline. A failed command drops the
 * connection; the next call reconnects at once the first time, then on the
 * backoff schedule (REDIS_RETRY_*). Each new connection gets its command
 * timeout set explicitly (hiredis 0.14's redisReconnect would lose it, so it
 * is never used). No hiredis type crosses this header.
 */
#ifndef PIXELCRAFT_KV_H
#define PIXELCRAFT_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct json_object;
struct kv;

/* Allocates the handle and tries to connect once; NULL only when out of memory. */
struct kv *kv_open(const struct config *cfg);

/* Closes the connection and frees the handle; accepts NULL. */
void kv_close(struct kv *kv);

/* Connects when needed and allowed by the backoff. 0 ready, -1 unavailable. */
int kv_ready(struct kv *kv);

/* True when the last known state is connected (no I/O). */
bool kv_up(const struct kv *kv);

/* Seconds until the next reconnect attempt, for Retry-After. */
int kv_retry_after(const struct kv *kv);

/* Text of the last failure (borrowed). */
const char *kv_last_error(const struct kv *kv);

/* Round trip of a ROLE command; 0 and latency in microseconds, or -1 (also
 * when the server is a replica: the connection is dropped). */
int kv_ping(struct kv *kv, int64_t *latency_us);

/*
 * GET key. Returns 1 and a NUL-terminated copy in *out (caller frees), 0 when
 * the key does not exist, -1 on error.
 */
int kv_get(struct kv *kv, const char *key, char **out);

/* SET key value with a TTL in seconds (0: none). 0 / -1. */
int kv_set(struct kv *kv, const char *key, const char *value, int ttl_seconds);

/* SET key value NX EX ttl: 1 when set, 0 when the key existed, -1 on error. */
int kv_set_nx(struct kv *kv, const char *key, const char *value, int ttl_seconds);

/*
 * MGET: values[i] receives a NUL-terminated copy of keys[i]'s value, or NULL
 * when it does not exist (caller frees each). 0 / -1.
 */
int kv_mget(struct kv *kv, int n, const char *const *keys, char **values);

/*
 * HGETALL of n hashes in one round trip (pipelined): out receives a new
 * JSON array of n objects mapping each field to its integer value (fields
 * that are not integers are skipped). Caller puts it. 0 / -1.
 */
int kv_hgetall_ints(struct kv *kv, int n, const char *const *keys, struct json_object **out);

/*
 * SET key value GET (atomically replace and return the old value): 1 and a
 * copy of the old value in *old (caller frees), 0 when there was none, -1.
 */
int kv_swap(struct kv *kv, const char *key, const char *value, char **old);

/* DEL key. 0 / -1. */
int kv_del(struct kv *kv, const char *key);

/*
 * Runs a Lua script by EVALSHA; the script is loaded with SCRIPT LOAD on first
 * use and again after NOSCRIPT (Redis restarted). `script` must be a string
 * constant (its address identifies it). keys and args are NUL-terminated (any number). The script must return an array of
 * integers: up to `max` of them are stored in out and their count returned;
 * -1 on error.
 */
int kv_eval_ints(struct kv *kv, const char *script, int nkeys, const char *const *keys,
		 int nargs, const char *const *args, long long *out, int max);

/* Connection events since start (for metrics). */
int64_t kv_reconnects(const struct kv *kv);

#endif
