/*
 * api_health: liveness, readiness and the detailed health report.
 *
 * /health/live touches nothing; /health/ready pings Postgres and Redis;
 * /health adds measured latencies, the shared LLM host status, version and
 * uptime. Postgres and Redis are critical (down: "unhealthy", 503); the LLM
 * host is not (down: "degraded", 200), nor is the analytics read replica
 * (DATABASE_READ_URL; "postgres_read", only in /health and only when
 * configured): every host shares it, so failing readiness for it would take
 * every host out of the balancer for the sake of the analytics alone, which
 * answer 503 by themselves while it is down.
 */
#include "api.h"
#include "app.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "kv.h"
#include "llmstatus.h"
#include "metrics.h"
#include "request.h"
#include "response.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_health_live(struct request *req, struct response *res)
{
	(void)req;
	static const char alive[] = "{\"status\":\"alive\"}";
	res->raw = alive;
	res->raw_len = sizeof(alive) - 1;
	return 200;
}

/* A latency in ms with microsecond precision, printed as such. */
static struct json_object *api_health_ms(int64_t us)
{
	char s[32];

	snprintf(s, sizeof(s), "%.3f", (double)us / 1000.0);
	return json_object_new_double_s((double)us / 1000.0, s);
}

/* {"status":"up|down", "latency_ms"?, "error"?} for Postgres or Redis. */
static struct json_object *api_health_dep(bool up, int64_t us, const char *error)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "status", json_object_new_string(up ? "up" : "down"));
	if (up)
		json_object_object_add(o, "latency_ms", api_health_ms(us));
	else
		json_object_object_add(
		    o, "error", json_object_new_string(error && *error ? error : "unavailable"));
	return o;
}

/*
 * The last dependency check of this worker. A successful check is reused for
 * HEALTH_CACHE_MS so a probe storm on /health cannot turn into a query storm
 * on Postgres and Redis; a failed one is never reused, so an outage shows at
 * once and a recovery on the next request.
 */
struct api_health_check {
	int64_t at_ms; /* monotonic time of the check; 0: none */
	int64_t pg_us, rd_us;
	int64_t read_at_ms; /* the read replica's last successful check; 0: none */
	int64_t read_us;
	char *llm;	   /* the shared LLM status as JSON text, read by /health */
	int64_t llm_at_ms; /* when llm was read */
};

static struct api_health_check api_health_last;

/*
 * Checks both critical dependencies with the Postgres round trip overlapping
 * the Redis one (redis_check does the Redis part); fills services and
 * returns how many are down. With with_read and a read replica configured,
 * its round trip overlaps too and "postgres_read" is added (not counted:
 * it is not critical).
 */
static int api_health_critical(struct app *app, struct json_object *services,
			       int (*redis_check)(struct app *app, int64_t *us, void *arg),
			       void *arg, bool with_read, struct response *res, char *down,
			       size_t downlen)
{
	int64_t pg_us = 0, rd_us = 0, read_us = 0;
	struct db *rdb = with_read ? app->db_read : NULL;
	/* the replica's first: a lazy first connect there must not count in the
	 * primary's round trip */
	bool rp = rdb != NULL && db_ping_start(rdb) == 0;
	bool pg = db_ping_start(app->db) == 0;
	bool rd = redis_check(app, &rd_us, arg) == 0;
	pg = pg && db_ping_finish(app->db, &pg_us) == 0;
	rp = rp && db_ping_finish(rdb, &read_us) == 0;

	json_object_object_add(services, "postgres",
			       api_health_dep(pg, pg_us, db_last_error(app->db)));
	json_object_object_add(services, "redis",
			       api_health_dep(rd, rd_us, kv_last_error(app->kv)));
	if (rdb != NULL) {
		json_object_object_add(services, "postgres_read",
				       api_health_dep(rp, read_us, db_last_error(rdb)));
		api_health_last.read_at_ms = rp ? clock_mono_ms() : 0;
		api_health_last.read_us = read_us;
	}
	res->retry_after = 0;
	if (!pg)
		res->retry_after = db_retry_after(app->db);
	if (!rd && kv_retry_after(app->kv) > res->retry_after)
		res->retry_after = kv_retry_after(app->kv);
	snprintf(down, downlen, "%s%s%s", pg ? "" : "Postgres", !pg && !rd ? " and " : "",
		 rd ? "" : "Redis");
	api_health_last.at_ms = pg && rd ? clock_mono_ms() : 0;
	api_health_last.pg_us = pg_us;
	api_health_last.rd_us = rd_us;
	return !pg + !rd;
}

/*
 * The services of a recent successful check, or NULL when there is none
 * (need_llm: /health, which also needs the LLM status and, when configured,
 * the read replica's).
 */
static struct json_object *api_health_recent(const struct app *app, bool need_llm)
{
	int64_t now = clock_mono_ms(), ttl = app->cfg->health_cache_ms;
	bool with_read = need_llm && app->db_read != NULL;

	if (api_health_last.at_ms == 0 || now - api_health_last.at_ms >= ttl)
		return NULL;
	if (need_llm && (api_health_last.llm == NULL || now - api_health_last.llm_at_ms >= ttl))
		return NULL;
	if (with_read &&
	    (api_health_last.read_at_ms == 0 || now - api_health_last.read_at_ms >= ttl))
		return NULL;
	struct json_object *services = json_object_new_object();
	json_object_object_add(services, "postgres",
			       api_health_dep(true, api_health_last.pg_us, NULL));
	json_object_object_add(services, "redis",
			       api_health_dep(true, api_health_last.rd_us, NULL));
	if (with_read)
		json_object_object_add(services, "postgres_read",
				       api_health_dep(true, api_health_last.read_us, NULL));
	return services;
}

static int api_health_ping(struct app *app, int64_t *us, void *arg)
{
	(void)arg;
	return kv_ping(app->kv, us);
}

int api_health_ready(struct request *req, struct response *res)
{
	struct json_object *services = api_health_recent(req->app, false);
	char down[64];
	int ndown = 0;

	if (services == NULL) {
		services = json_object_new_object();
		ndown = api_health_critical(req->app, services, api_health_ping, NULL, false, res,
					    down, sizeof(down));
	}
	res->body = json_object_new_object();
	json_object_object_add(res->body, "status",
			       json_object_new_string(ndown ? "not_ready" : "ready"));
	json_object_object_add(res->body, "services", services);
	if (ndown == 0)
		return 200;
	return response_error(res, 503, "%s %s unavailable", down, ndown > 1 ? "are" : "is");
}

/* The Redis check of /health: reading the shared LLM status (one round trip). */
static int api_health_llm(struct app *app, int64_t *us, void *arg)
{
	struct json_object **llm = arg;
	int rc = llmstatus_host(app, llm, us);

	json_object_object_del(*llm, "checked_at_ms");
	json_object_object_del(*llm, "tags");
	free(api_health_last.llm);
	api_health_last.llm =
	    rc == 0 ? strdup(json_object_to_json_string_ext(*llm, JSON_C_TO_STRING_PLAIN)) : NULL;
	api_health_last.llm_at_ms = clock_mono_ms();
	return rc;
}

int api_health(struct request *req, struct response *res)
{
	struct app *app = req->app;
	struct json_object *services = api_health_recent(app, true), *llm = NULL, *st;
	char down[64], iso[32];
	int ndown = 0;

	if (services != NULL) {
		llm = json_tokener_parse(api_health_last.llm);
	} else {
		services = json_object_new_object();
		ndown = api_health_critical(app, services, api_health_llm, &llm, true, res, down,
					    sizeof(down));
	}
	json_object_object_add(services, "ollama", llm);
	bool llm_ok = json_object_object_get_ex(llm, "status", &st) &&
		      strcmp(json_object_get_string(st), "healthy") == 0;
	struct json_object *rst = NULL;
	bool read_ok = !json_object_object_get_ex(services, "postgres_read", &rst) ||
		       (json_object_object_get_ex(rst, "status", &st) &&
			strcmp(json_object_get_string(st), "up") == 0);
	const char *status = ndown ? "unhealthy" : llm_ok && read_ok ? "healthy" : "degraded";

	res->body = json_object_new_object();
	json_object_object_add(res->body, "status", json_object_new_string(status));
	json_object_object_add(res->body, "version", json_object_new_string(app->version));
	json_object_object_add(
	    res->body, "uptime_seconds",
	    json_object_new_int64((clock_mono_ms() - app->started_mono_ms) / 1000));
	json_object_object_add(
	    res->body, "timestamp",
	    json_object_new_string(clock_iso8601(clock_wall_ms(), iso, sizeof(iso))));
	json_object_object_add(res->body, "services", services);
	if (ndown == 0)
		return 200;
	return response_error(res, 503, "%s %s unavailable", down, ndown > 1 ? "are" : "is");
}

int api_metrics(struct request *req, struct response *res)
{
	size_t len = 0;
	const char *text = metrics_render(req->app, &len);

	if (text == NULL)
		return response_error(res, 500, "out of memory");
	res->raw = text;
	res->raw_len = len;
	res->content_type = "text/plain; version=0.0.4; charset=utf-8";
	return 200;
}
