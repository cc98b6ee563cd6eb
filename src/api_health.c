/*
 * api_health: liveness, readiness and the detailed health report.
 *
 * /health/live touches nothing; /health/ready pings Postgres and Redis;
 * /health adds measured latencies, the shared LLM host status, version and
 * uptime. Postgres and Redis are critical (down: "unhealthy", 503); the LLM
 * host is not (down: "degraded", 200).
 */
#include "api.h"
#include "app.h"
#include "clock.h"
#include "db.h"
#include "kv.h"
#include "llmstatus.h"
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
		json_object_object_add(o, "error",
				       json_object_new_string(error && *error ? error : "unavailable"));
	return o;
}

/* Pings both critical dependencies; fills services and returns how many are down. */
static int api_health_critical(struct app *app, struct json_object *services, int *retry,
			       char *down, size_t downlen)
{
	int64_t pg_us = 0, rd_us = 0;
	bool pg = db_ping(app->db, &pg_us) == 0;
	bool rd = kv_ping(app->kv, &rd_us) == 0;

	json_object_object_add(services, "postgres",
			       api_health_dep(pg, pg_us, db_last_error(app->db)));
	json_object_object_add(services, "redis", api_health_dep(rd, rd_us, kv_last_error(app->kv)));
	*retry = 0;
	if (!pg)
		*retry = db_retry_after(app->db);
	if (!rd && kv_retry_after(app->kv) > *retry)
		*retry = kv_retry_after(app->kv);
	snprintf(down, downlen, "%s%s%s", pg ? "" : "Postgres", !pg && !rd ? " and " : "",
		 rd ? "" : "Redis");
	return !pg + !rd;
}

int api_health_ready(struct request *req, struct response *res)
{
	struct json_object *services = json_object_new_object();
	char down[64];
	int retry;
	int ndown = api_health_critical(req->app, services, &retry, down, sizeof(down));

	res->body = json_object_new_object();
	json_object_object_add(res->body, "status",
			       json_object_new_string(ndown ? "not_ready" : "ready"));
	json_object_object_add(res->body, "services", services);
	if (ndown == 0)
		return 200;
	res->retry_after = retry;
	return response_error(res, 503, "%s %s unavailable", down, ndown > 1 ? "are" : "is");
}

int api_health(struct request *req, struct response *res)
{
	struct app *app = req->app;
	struct json_object *services = json_object_new_object(), *llm, *st;
	char down[64], iso[32];
	int retry;
	int ndown = api_health_critical(app, services, &retry, down, sizeof(down));

	llm = llmstatus_host(app);
	json_object_object_del(llm, "checked_at_ms");
	json_object_object_del(llm, "tags");
	json_object_object_add(services, "ollama", llm);
	bool llm_ok = json_object_object_get_ex(llm, "status", &st) &&
		      strcmp(json_object_get_string(st), "healthy") == 0;
	const char *status = ndown ? "unhealthy" : llm_ok ? "healthy" : "degraded";

	res->body = json_object_new_object();
	json_object_object_add(res->body, "status", json_object_new_string(status));
	json_object_object_add(res->body, "version", json_object_new_string(app->version));
	json_object_object_add(res->body, "uptime_seconds",
			       json_object_new_int64((clock_mono_ms() - app->started_mono_ms) /
						     1000));
	json_object_object_add(res->body, "timestamp",
			       json_object_new_string(clock_iso8601(clock_wall_ms(), iso, sizeof(iso))));
	json_object_object_add(res->body, "services", services);
	if (ndown == 0)
		return 200;
	res->retry_after = retry;
	return response_error(res, 503, "%s %s unavailable", down, ndown > 1 ? "are" : "is");
}
