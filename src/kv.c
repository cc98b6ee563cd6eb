/*
 * kv: Redis access through a blocking hiredis context with socket timeouts.
 *
 * hiredis 0.14 has no per-command deadline; SO_RCVTIMEO/SO_SNDTIMEO set by
 * redisSetTimeout bound each read and write, which for our single-reply
 * commands bounds the whole command. A context that saw any error is freed,
 * never reused.
 *
 * Only a primary will do: behind an address that moves with the primary
 * (ops/SCALE_OUT.md) a connection may reach a replica, or outlive its
 * server's demotion. A new connection asks ROLE and refuses a replica; a
 * READONLY reply drops the connection; the health check asks ROLE too. Each
 * counts as Redis being down (workers count rate limits locally) until the
 * address reaches a primary again.
 */
#include "kv.h"
#include "backoff.h"
#include "clock.h"
#include "config.h"
#include "log.h"

#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kv {
	const struct config *cfg;
	redisContext *c;
	struct backoff backoff;
	char err[256];
	int64_t reconnects;
	bool ever_up;
};

static void kv_drop(struct kv *kv, const char *why)
{
	if (kv->c == NULL)
		return;
	redisFree(kv->c);
	kv->c = NULL;
	log_msg(LOG_WARN, "redis_disconnected", "%s", why);
}

/* What a connection to a replica is told (on connect and in the health check). */
#define KV_REPLICA "the server is a replica (ROLE), not the primary"

/*
 * A command failed on the connection: why becomes the error, the connection
 * is dropped, and the next attempt waits for the backoff (a timeout counts
 * too: a frozen Redis must not cost every request a full deadline).
 */
static void kv_fail(struct kv *kv, const char *why)
{
	if (why != kv->err)
		snprintf(kv->err, sizeof(kv->err), "%s", why);
	kv_drop(kv, kv->err);
	backoff_failed(&kv->backoff, clock_mono_ms());
}

/*
 * Whether r, a ROLE reply, comes from a usable primary: true for "master";
 * false for a replica (writes would fail) and for other errors (e.g.
 * LOADING); true when the user may not run ROLE (NOPERM: nothing to go by).
 */
static bool kv_role_primary(const redisReply *r)
{
	if (r->type == REDIS_REPLY_ERROR)
		return r->str != NULL && strncmp(r->str, "NOPERM", 6) == 0;
	if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 || r->element[0]->str == NULL)
		return false;
	return strcmp(r->element[0]->str, "master") == 0;
}

static struct timeval kv_tv(int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	return tv;
}

/* Sends one command and reads its reply; NULL (connection dropped) on error. */
static redisReply *kv_cmd(struct kv *kv, int argc, const char **argv, const size_t *lens)
{
	if (kv_ready(kv) < 0)
		return NULL;
	redisReply *r = redisCommandArgv(kv->c, argc, argv, lens);
	if (r == NULL) {
		kv_fail(kv, kv->c->errstr[0] ? kv->c->errstr : "no reply");
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR && r->str != NULL && strncmp(r->str, "READONLY", 8) == 0) {
		kv_fail(kv, r->str); /* a replica: the primary is elsewhere now */
		return r;
	}
	backoff_reset(&kv->backoff);
	return r;
}

static int kv_connect(struct kv *kv)
{
	const struct config *cfg = kv->cfg;
	struct timeval ctv = kv_tv(cfg->redis_connect_timeout_ms);
	redisContext *c = cfg->redis_path
			      ? redisConnectUnixWithTimeout(cfg->redis_path, ctv)
			      : redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, ctv);
	if (c == NULL || c->err) {
		snprintf(kv->err, sizeof(kv->err), "%s", c ? c->errstr : "out of memory");
		redisFree(c);
		return -1;
	}
	/* the command deadline: set on every new context (see the file comment) */
	if (redisSetTimeout(c, kv_tv(cfg->redis_timeout_ms)) != REDIS_OK) {
		snprintf(kv->err, sizeof(kv->err), "cannot set timeout: %s", c->errstr);
		redisFree(c);
		return -1;
	}
	kv->c = c;
	if (cfg->redis_password != NULL) {
		const char *argv[3] = {"AUTH", cfg->redis_username, cfg->redis_password};
		int argc = 3;
		if (cfg->redis_username == NULL) {
			argv[1] = cfg->redis_password;
			argc = 2;
		}
		redisReply *r = redisCommandArgv(c, argc, argv, NULL);
		bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
		snprintf(kv->err, sizeof(kv->err), "AUTH failed: %s",
			 r ? (r->str ? r->str : "?") : c->errstr);
		freeReplyObject(r);
		if (!ok)
			goto fail;
	}
	if (cfg->redis_db != 0) {
		redisReply *r = redisCommand(c, "SELECT %d", cfg->redis_db);
		bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
		snprintf(kv->err, sizeof(kv->err), "SELECT failed: %s",
			 r ? (r->str ? r->str : "?") : c->errstr);
		freeReplyObject(r);
		if (!ok)
			goto fail;
	}
	redisReply *r = redisCommand(c, "ROLE");
	bool ok = r != NULL && kv_role_primary(r);
	if (r == NULL)
		snprintf(kv->err, sizeof(kv->err), "ROLE failed: %s", c->errstr);
	else if (!ok && r->type == REDIS_REPLY_ERROR)
		snprintf(kv->err, sizeof(kv->err), "ROLE failed: %s", r->str ? r->str : "?");
	else if (!ok)
		snprintf(kv->err, sizeof(kv->err), KV_REPLICA);
	freeReplyObject(r);
	if (!ok)
		goto fail;
	return 0;
fail:
	redisFree(c);
	kv->c = NULL;
	return -1;
}

struct kv *kv_open(const struct config *cfg)
{
	struct kv *kv = calloc(1, sizeof(*kv));

	if (kv == NULL)
		return NULL;
	kv->cfg = cfg;
	backoff_init(&kv->backoff, &cfg->redis_retry);
	if (kv_ready(kv) < 0)
		log_msg(LOG_WARN, "redis_unavailable", "starting without Redis: %s", kv->err);
	return kv;
}

void kv_close(struct kv *kv)
{
	if (kv == NULL)
		return;
	redisFree(kv->c);
	free(kv);
}

int kv_ready(struct kv *kv)
{
	int64_t now = clock_mono_ms();

	if (kv->c != NULL) {
		/* between commands Redis never writes to us: a readable socket
		 * means it closed the connection (restart, timeout) */
		struct pollfd pfd = {.fd = kv->c->fd, .events = POLLIN};
		if (poll(&pfd, 1, 0) <= 0)
			return 0;
		kv_drop(kv, "connection closed by Redis");
	}
	if (!backoff_ready(&kv->backoff, now))
		return -1;
	bool was_down = kv->backoff.failures > 0 || kv->ever_up;
	if (kv_connect(kv) < 0) {
		backoff_failed(&kv->backoff, clock_mono_ms());
		/* log the first failure of an outage, then every tenth */
		if (kv->backoff.failures == 1 || kv->backoff.failures % 10 == 0) {
			struct log_line l;
			log_begin(&l, LOG_WARN, "redis_connect_failed");
			log_str(&l, "error", kv->err);
			log_int(&l, "attempt", kv->backoff.failures);
			log_end(&l);
		}
		return -1;
	}
	kv->reconnects++;
	if (was_down)
		log_msg(LOG_WARN, "redis_connected", "connection to Redis (re)established");
	kv->ever_up = true;
	return 0;
}

bool kv_up(const struct kv *kv)
{
	return kv->c != NULL;
}

int kv_retry_after(const struct kv *kv)
{
	return backoff_retry_after(&kv->backoff, clock_mono_ms());
}

const char *kv_last_error(const struct kv *kv)
{
	return kv->err;
}

int64_t kv_reconnects(const struct kv *kv)
{
	return kv->reconnects;
}

/* Replies of type ERROR are answers, not connection failures: keep the text. */
static bool kv_is_error(struct kv *kv, redisReply *r)
{
	if (r->type != REDIS_REPLY_ERROR)
		return false;
	snprintf(kv->err, sizeof(kv->err), "%s", r->str ? r->str : "error reply");
	return true;
}

int kv_ping(struct kv *kv, int64_t *latency_us)
{
	const char *argv[] = {"ROLE"};
	int64_t t0 = clock_mono_us();
	redisReply *r = kv_cmd(kv, 1, argv, NULL);

	if (r == NULL)
		return -1;
	bool ok = kv_role_primary(r);
	if (!ok && !kv_is_error(kv, r))
		kv_fail(kv, KV_REPLICA);
	freeReplyObject(r);
	*latency_us = clock_mono_us() - t0;
	return ok ? 0 : -1;
}

int kv_get(struct kv *kv, const char *key, char **out)
{
	const char *argv[] = {"GET", key};
	redisReply *r = kv_cmd(kv, 2, argv, NULL);
	int rc = -1;

	if (r == NULL || kv_is_error(kv, r))
		goto out;
	if (r->type == REDIS_REPLY_NIL) {
		rc = 0;
		goto out;
	}
	if (r->type != REDIS_REPLY_STRING)
		goto out;
	*out = malloc(r->len + 1);
	if (*out == NULL)
		goto out;
	memcpy(*out, r->str, r->len);
	(*out)[r->len] = '\0';
	rc = 1;
out:
	freeReplyObject(r);
	return rc;
}

int kv_set(struct kv *kv, const char *key, const char *value, int ttl_seconds)
{
	char ttl[16];
	const char *argv[] = {"SET", key, value, "EX", ttl};
	snprintf(ttl, sizeof(ttl), "%d", ttl_seconds);
	redisReply *r = kv_cmd(kv, ttl_seconds > 0 ? 5 : 3, argv, NULL);
	int rc = (r != NULL && !kv_is_error(kv, r)) ? 0 : -1;

	freeReplyObject(r);
	return rc;
}

int kv_set_nx(struct kv *kv, const char *key, const char *value, int ttl_seconds)
{
	char ttl[16];
	const char *argv[] = {"SET", key, value, "NX", "EX", ttl};
	snprintf(ttl, sizeof(ttl), "%d", ttl_seconds);
	redisReply *r = kv_cmd(kv, 6, argv, NULL);
	int rc = -1;

	if (r != NULL && !kv_is_error(kv, r))
		rc = r->type == REDIS_REPLY_STATUS ? 1 : 0;
	freeReplyObject(r);
	return rc;
}

int kv_mget(struct kv *kv, int n, const char *const *keys, char **values)
{
	const char *argv[1 + 64];
	int rc = -1;

	if (n > 64)
		return -1;
	argv[0] = "MGET";
	for (int i = 0; i < n; i++) {
		argv[1 + i] = keys[i];
		values[i] = NULL;
	}
	redisReply *r = kv_cmd(kv, n + 1, argv, NULL);
	if (r == NULL || kv_is_error(kv, r) || r->type != REDIS_REPLY_ARRAY ||
	    r->elements != (size_t)n)
		goto out;
	for (int i = 0; i < n; i++) {
		redisReply *e = r->element[i];
		if (e->type == REDIS_REPLY_STRING && (values[i] = malloc(e->len + 1)) != NULL) {
			memcpy(values[i], e->str, e->len);
			values[i][e->len] = '\0';
		}
	}
	rc = 0;
out:
	freeReplyObject(r);
	return rc;
}

int kv_hgetall_ints(struct kv *kv, int n, const char *const *keys, struct json_object **out)
{
	struct json_object *arr = NULL;
	int got = 0;

	if (kv_ready(kv) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		const char *argv[] = {"HGETALL", keys[i]};
		if (redisAppendCommandArgv(kv->c, 2, argv, NULL) != REDIS_OK)
			goto broken;
	}
	arr = json_object_new_array();
	for (; got < n; got++) {
		redisReply *r = NULL;
		if (redisGetReply(kv->c, (void **)&r) != REDIS_OK || r == NULL)
			goto broken;
		struct json_object *o = json_object_new_object();
		if (r->type == REDIS_REPLY_ARRAY) {
			for (size_t j = 0; j + 1 < r->elements; j += 2) {
				char *end;
				long long v = strtoll(r->element[j + 1]->str, &end, 10);
				if (*end == '\0')
					json_object_object_add(o, r->element[j]->str,
							       json_object_new_int64(v));
			}
		}
		json_object_array_add(arr, o);
		freeReplyObject(r);
	}
	backoff_reset(&kv->backoff);
	*out = arr;
	return 0;
broken:
	json_object_put(arr);
	kv_fail(kv, kv->c->errstr[0] ? kv->c->errstr : "no reply");
	return -1;
}

int kv_swap(struct kv *kv, const char *key, const char *value, char **old)
{
	const char *argv[] = {"SET", key, value, "GET"};
	redisReply *r = kv_cmd(kv, 4, argv, NULL);
	int rc = -1;

	if (r == NULL || kv_is_error(kv, r))
		goto out;
	if (r->type == REDIS_REPLY_NIL) {
		rc = 0;
	} else if (r->type == REDIS_REPLY_STRING && (*old = strdup(r->str)) != NULL) {
		rc = 1;
	}
out:
	freeReplyObject(r);
	return rc;
}

int kv_del(struct kv *kv, const char *key)
{
	const char *argv[] = {"DEL", key};
	redisReply *r = kv_cmd(kv, 2, argv, NULL);
	int rc = (r != NULL && !kv_is_error(kv, r)) ? 0 : -1;

	freeReplyObject(r);
	return rc;
}

/*
 * Script SHA1s as Redis computed them (SCRIPT LOAD), by script text pointer:
 * scripts are string constants, so the pointer identifies the script.
 */
#define KV_SCRIPTS 8
static struct {
	const char *script;
	char sha[48];
} kv_scripts[KV_SCRIPTS];

static const char *kv_script_load(struct kv *kv, const char *script, bool force)
{
	int slot = -1;

	for (int i = 0; i < KV_SCRIPTS; i++) {
		if (kv_scripts[i].script == script) {
			if (!force)
				return kv_scripts[i].sha;
			slot = i;
			break;
		}
		if (kv_scripts[i].script == NULL && slot < 0)
			slot = i;
	}
	if (slot < 0)
		return NULL;
	const char *argv[] = {"SCRIPT", "LOAD", script};
	redisReply *r = kv_cmd(kv, 3, argv, NULL);
	const char *sha = NULL;
	if (r != NULL && !kv_is_error(kv, r) && r->type == REDIS_REPLY_STRING &&
	    r->len < sizeof(kv_scripts[slot].sha)) {
		kv_scripts[slot].script = script;
		memcpy(kv_scripts[slot].sha, r->str, r->len);
		kv_scripts[slot].sha[r->len] = '\0';
		sha = kv_scripts[slot].sha;
	}
	freeReplyObject(r);
	return sha;
}

int kv_eval_ints(struct kv *kv, const char *script, int nkeys, const char *const *keys, int nargs,
		 const char *const *args, long long *out, int max)
{
	char nk[16];
	const char *small[3 + 32];
	const char **argv = small;
	int argc = 0, rc = -1;
	redisReply *r = NULL;

	if (nkeys + nargs > 32 &&
	    (argv = malloc(sizeof(*argv) * (size_t)(3 + nkeys + nargs))) == NULL)
		return -1;
	const char *sha = kv_script_load(kv, script, false);
	if (sha == NULL)
		goto out;
	snprintf(nk, sizeof(nk), "%d", nkeys);
	argv[argc++] = "EVALSHA";
	argv[argc++] = sha;
	argv[argc++] = nk;
	for (int i = 0; i < nkeys; i++)
		argv[argc++] = keys[i];
	for (int i = 0; i < nargs; i++)
		argv[argc++] = args[i];
	r = kv_cmd(kv, argc, argv, NULL);
	if (r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
	    strncmp(r->str, "NOSCRIPT", 8) == 0) {
		/* Redis restarted or flushed its scripts: load again, once */
		freeReplyObject(r);
		r = NULL;
		if ((argv[1] = kv_script_load(kv, script, true)) == NULL)
			goto out;
		r = kv_cmd(kv, argc, argv, NULL);
	}
	if (r == NULL || kv_is_error(kv, r) || r->type != REDIS_REPLY_ARRAY)
		goto out;
	rc = 0;
	for (size_t i = 0; i < r->elements && rc < max; i++) {
		if (r->element[i]->type != REDIS_REPLY_INTEGER) {
			rc = -1;
			goto out;
		}
		out[rc++] = r->element[i]->integer;
	}
out:
	freeReplyObject(r);
	if (argv != small)
		free(argv);
	return rc;
}
