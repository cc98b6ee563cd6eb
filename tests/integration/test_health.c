/*
 * Integration: health endpoints, including Redis and Postgres outages and
 * recovery without restarting any worker.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

Test(health, live)
{
	struct http *r = http_get("/health/live");
	cr_assert_eq(r->status, 200);
	cr_assert_str_eq(json_str(r->json, "status"), "alive");
	http_free(r);
}

Test(health, ready_and_full_report_when_all_up)
{
	struct http *r = http_get("/health/ready");
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_str(r->json, "status"), "ready");
	http_free(r);

	r = http_get("/health");
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_str(r->json, "status"), "healthy", "%s", r->body);
	cr_assert(strlen(json_str(r->json, "version")) > 0);
	cr_assert_not_null(json_at(r->json, "uptime_seconds"));
	cr_assert_str_eq(json_str(r->json, "services.postgres.status"), "up");
	cr_assert_str_eq(json_str(r->json, "services.redis.status"), "up");
	cr_assert_str_eq(json_str(r->json, "services.ollama.status"), "healthy");
	double pg = json_object_get_double(json_at(r->json, "services.postgres.latency_ms"));
	cr_assert(pg > 0.0 && pg < 1000.0, "measured latency %f", pg);
	http_free(r);
}

static pid_t pids_before[256];
static int npids_before;

static int pool_pids(pid_t *out, int max)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s/scripts/stack.sh pool-pids %s api",
		 need_env("PROJECT_ROOT"), need_env("STACK_DIR"));
	char *s = run_capture(cmd, NULL);
	int n = 0;
	for (char *p = strtok(s, "\n"); p && n < max; p = strtok(NULL, "\n"))
		out[n++] = atoi(p);
	free(s);
	return n;
}

static void remember_workers(void)
{
	npids_before = pool_pids(pids_before, 256);
	cr_assert_gt(npids_before, 0);
}

static void assert_same_workers(void)
{
	pid_t now[256];
	int n = pool_pids(now, 256);
	cr_assert_eq(n, npids_before);
	for (int i = 0; i < n; i++)
		cr_assert_eq(now[i], pids_before[i], "worker %d was restarted", pids_before[i]);
}

static bool ready_ok(void)
{
	struct http *r = http_get("/health/ready");
	bool ok = r->status == 200;
	http_free(r);
	return ok;
}

/* Every worker must see the recovery, so require several answers in a row. */
static bool ready_ok_everywhere(void)
{
	for (int i = 0; i < 12; i++)
		if (!ready_ok())
			return false;
	return true;
}

static bool ready_fails(void)
{
	return !ready_ok();
}

static void assert_down(const char *which, const char *name)
{
	/* a worker may reuse a successful check for HEALTH_CACHE_MS (250 ms) */
	cr_assert(wait_until(ready_fails, 5000), "/health/ready never failed");
	usleep(300000);
	for (int i = 0; i < 8; i++) { /* reach several workers */
		struct http *r = http_get("/health/ready");
		cr_assert_eq(r->status, 503, "ready with %s down: %ld %s", which, r->status, r->body);
		cr_assert(strstr(json_str(r->json, "detail"), name) != NULL, "%s", r->body);
		cr_assert_str_eq(json_str(r->json, "status"), "not_ready");
		cr_assert_not_null(http_header(r, "Retry-After"));
		cr_assert(r->seconds < 5.0, "answered in %.3f s: it waited", r->seconds);
		http_free(r);
	}
	struct http *r = http_get("/health");
	cr_assert_eq(r->status, 503, "%s", r->body);
	cr_assert_str_eq(json_str(r->json, "status"), "unhealthy");
	char path[64];
	snprintf(path, sizeof(path), "services.%s.status", which);
	cr_assert_str_eq(json_str(r->json, path), "down", "%s", r->body);
	http_free(r);
}

static bool healthy(void)
{
	struct http *r = http_get("/health");
	bool ok = strcmp(json_str(r->json, "status"), "healthy") == 0;
	http_free(r);
	return ok;
}

/* Whatever a test did, the next one starts with everything running. */
static void restore(void)
{
	stack("pg-start", NULL);
	stack("redis-start", NULL);
	stack("stub-start", NULL);
	wait_until(healthy, 10000);
	wait_all_workers_ready();
}

Test(health, redis_outage_and_recovery, .timeout = 60, .fini = restore)
{
	remember_workers();
	cr_assert_eq(stack("redis-stop", NULL), 0);
	assert_down("redis", "Redis");
	cr_assert_eq(stack("redis-start", NULL), 0);
	cr_assert(wait_until(ready_ok_everywhere, 10000), "no recovery after Redis restart");
	assert_same_workers();
}

/* REPLICAOF ARGS on the stack's Redis */
static void redis_replicaof(const char *args)
{
	char cmd[256];
	int st;

	snprintf(cmd, sizeof(cmd),
		 "redis-cli -p $REDIS_PORT -a $REDIS_PASSWORD --no-auth-warning REPLICAOF %s 2>&1",
		 args);
	char *out = run_capture(cmd, &st);
	cr_assert(st == 0 && strncmp(out, "OK", 2) == 0, "REPLICAOF %s: %s", args, out);
	free(out);
}

static void primary_again(void)
{
	redis_replicaof("NO ONE");
	restore();
}

/*
 * Behind an address that moves with the Redis primary (ops/SCALE_OUT.md) a
 * worker may reach a replica: that is Redis down (writes would fail), not up
 * because it answers. Port 1: the replica never syncs, so it keeps its data.
 */
Test(health, redis_replica_counts_as_down, .timeout = 60, .fini = primary_again)
{
	remember_workers();
	redis_replicaof("127.0.0.1 1");
	assert_down("redis", "Redis");
	/* requests go on meanwhile, rate limits counted by each worker */
	char *t = user_token(NULL, NULL, 600);
	const char *h[] = {bearer(0, t), NULL};
	struct http *r = http_do("GET", "/api/me", NULL, h);
	cr_assert_eq(r->status, 200, "%s", r->body);
	http_free(r);
	free(t);
	redis_replicaof("NO ONE");
	cr_assert(wait_until(ready_ok_everywhere, 10000), "no recovery once Redis is a primary");
	assert_same_workers();
}

Test(health, postgres_outage_and_recovery, .timeout = 90, .fini = restore)
{
	remember_workers();
	cr_assert_eq(stack("pg-stop", "fast"), 0);
	assert_down("postgres", "Postgres");
	cr_assert_eq(stack("pg-start", NULL), 0);
	/* reconnects follow the backoff (2 s doubling): allow a few rounds */
	cr_assert(wait_until(ready_ok_everywhere, 30000), "no recovery after Postgres restart");
	assert_same_workers();
}

/*
 * A chat worker writes its model_metrics rows a second after the call, in
 * one statement. When Postgres goes away meanwhile, the worker keeps them and
 * writes them once Postgres is back: each exactly once.
 */
Test(health, model_metrics_rows_wait_for_postgres, .timeout = 90, .fini = restore)
{
	char *since = chat_once("kept while Postgres is down");
	/* at once: the write is due a second after the call, and fails */
	cr_assert_eq(stack("pg-stop", "fast"), 0);
	sleep(3);
	cr_assert_eq(stack("pg-start", NULL), 0);
	/* written within the workers' reconnect backoff */
	for (int i = 0; i < 300 && model_metrics_since(since) == 0; i++)
		usleep(100000);
	usleep(1500000); /* a second write would come within a second */
	int rows = model_metrics_since(since);
	cr_assert_eq(rows, 1, "model_metrics rows of the call: %d", rows);
	free(since);
}

Test(health, degraded_when_llm_host_down_but_not_unavailable, .timeout = 60, .fini = restore)
{
	cr_assert_str_eq(need_env("STUB"), "1", "the test stack runs the stub LLM");
	cr_assert_eq(stack("stub-stop", NULL), 0);
	/* the shared status is refreshed after MODEL_HEALTH_INTERVAL (set to 1 s in tests) */
	bool degraded = false;
	for (int i = 0; i < 100 && !degraded; i++) {
		struct http *r = http_get("/health");
		cr_assert_eq(r->status, 200, "LLM host is not critical: %s", r->body);
		degraded = strcmp(json_str(r->json, "status"), "degraded") == 0;
		http_free(r);
		usleep(50000);
	}
	cr_assert(degraded, "status never became degraded");
	cr_assert_eq(stack("stub-start", NULL), 0);
	bool healthy = false;
	for (int i = 0; i < 100 && !healthy; i++) {
		struct http *r = http_get("/health");
		healthy = strcmp(json_str(r->json, "status"), "healthy") == 0;
		http_free(r);
		usleep(50000);
	}
	cr_assert(healthy, "did not recover");
}

/*
 * An administrator (or a restore, or a failover) ends every backend while
 * the workers sit idle: the next request on every worker, whichever route
 * and pool, notices before its first statement and reconnects instead of
 * answering 503 for the dead connection.
 */
Test(health, connections_ended_by_the_server_are_replaced_silently, .timeout = 60,
     .fini = restore)
{
	char *token = user_token(NULL, NULL, 600);
	/* every worker connected (a worker whose first connection is ended
	 * backs off: not what this test is about) */
	wait_all_workers_ready();
	char *out = sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
			"WHERE usename = 'pixelcraft'");
	cr_assert_gt(atoi(out), 0, "no worker connection to end");
	free(out);
	usleep(200000); /* the termination messages reach the idle sockets */
	remember_workers();
	/* enough requests to reach every worker of both pools */
	const char *paths[] = {"/api/notifications/unread-count", "/api/chat/conversations"};
	for (int p = 0; p < 2; p++)
		for (int i = 0; i < 48; i++) {
			struct http *r = http_do("GET", paths[p], NULL,
						 (const char *[]){bearer(0, token), NULL});
			cr_assert_eq(r->status, 200, "%s after the backends were ended: %ld %s",
				     paths[p], r->status, r->body);
			http_free(r);
		}
	assert_same_workers();
	free(token);
}
