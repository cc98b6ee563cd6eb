/*
 * llmstatus: lease-based refresh of the shared LLM host status in Redis.
 */
#include "llmstatus.h"
#include "app.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "kv.h"
#include "live.h"
#include "llm.h"
#include "log.h"
#include "models.h"
#include "notify.h"
#include "server.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LLMSTATUS_LEASE "pc:llm:lease"

/*
 * Tells admins about every model whose health changed. SET ... GET swaps each
 * model's last reported state atomically, so a transition is reported once
 * whatever the number of workers and hosts (even if two refreshes overlap).
 */
static void llmstatus_transitions(struct app *app, struct json_object *st)
{
	for (int i = 0; app->models != NULL && i < models_count(app->models); i++) {
		const struct model *m = models_at(app->models, i);
		if (m->provider != PROVIDER_OLLAMA)
			continue;
		bool healthy = llmstatus_has_tag(st, m->tag);
		char key[128], *old = NULL;
		snprintf(key, sizeof(key), "pc:health:model:%s", m->name);
		if (kv_swap(app->kv, key, healthy ? "1" : "0", &old) != 1)
			continue; /* first report, or Redis down */
		bool was = strcmp(old, "1") == 0;
		free(old);
		if (was == healthy)
			continue;
		log_msg(LOG_WARN, "model_health_changed", "model %s is now %s", m->name,
			healthy ? "healthy" : "unhealthy");
		struct json_object *data = json_object_new_object();
		json_object_object_add(data, "model", json_object_new_string(m->name));
		json_object_object_add(data, "healthy", json_object_new_boolean(healthy));
		live_publish(app, LIVE_ANALYTICS, "model_health_changed", data);
		char title[160], message[256], meta[160];
		snprintf(title, sizeof(title), "Model %s is %s", m->name,
			 healthy ? "available again" : "unavailable");
		snprintf(message, sizeof(message),
			 healthy ? "%s (%s) answers again and is back in the rotation."
				 : "%s (%s) does not answer or is not installed on the LLM host; chat "
				   "falls back to the other models.",
			 m->name, m->tag);
		snprintf(meta, sizeof(meta), "{\"model\":\"%s\",\"healthy\":%s}", m->name,
			 healthy ? "true" : "false");
		struct db_new_notification n = {
			.type = "system",
			.severity = healthy ? "success" : "warning",
			.title = title,
			.message = message,
			.action_url = "/dashboard/models",
			.metadata = meta,
		};
		notify(app, NULL, &n);
	}
}

/* The transitions of a stored status (its JSON text), after the response. */
static void llmstatus_transitions_deferred(struct app *app, void *arg)
{
	struct json_object *st = json_tokener_parse(arg);

	if (st != NULL)
		llmstatus_transitions(app, st);
	json_object_put(st);
}

/* Checks the host now and stores the result; returns it (caller puts). */
static struct json_object *llmstatus_refresh(struct app *app)
{
	struct json_object *st = json_object_new_object(), *tags = NULL;
	int64_t t0 = clock_mono_us(), now = clock_wall_ms();
	char iso[32], lat[32], err[256] = "";
	int rc = llm_ollama_tags(app->llm, app->cfg->health_timeout_ms, &tags, err, sizeof(err));

	snprintf(lat, sizeof(lat), "%.3f", (double)(clock_mono_us() - t0) / 1000.0);
	json_object_object_add(st, "status",
			       json_object_new_string(rc == 0 ? "healthy" : "unhealthy"));
	json_object_object_add(st, "latency_ms", json_object_new_double_s(atof(lat), lat));
	json_object_object_add(st, "checked_at",
			       json_object_new_string(clock_iso8601(now, iso, sizeof(iso))));
	json_object_object_add(st, "checked_at_ms", json_object_new_int64(now));
	json_object_object_add(st, "tags", rc == 0 ? tags : json_object_new_array());
	if (rc != 0)
		json_object_object_add(st, "error", json_object_new_string(err));
	const char *text = json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN);
	kv_set(app->kv, LLMSTATUS_KEY, text, app->cfg->model_health_interval * 10);
	/* notifications write to Postgres: never in the middle of a request (the
	 * /health check may have its Postgres ping in flight) */
	char *copy = strdup(text);
	if (copy != NULL)
		server_defer(llmstatus_transitions_deferred, copy);
	struct log_line l;
	log_begin(&l, rc == 0 ? LOG_DEBUG : LOG_WARN, "llm_health_checked");
	log_str(&l, "status", rc == 0 ? "healthy" : "unhealthy");
	log_str(&l, "error", rc == 0 ? NULL : err);
	log_end(&l);
	return st;
}

static void llmstatus_deferred(struct app *app, void *arg)
{
	(void)arg;
	json_object_put(llmstatus_refresh(app));
}

static struct json_object *llmstatus_unknown(const char *why)
{
	struct json_object *st = json_object_new_object();

	json_object_object_add(st, "status", json_object_new_string("unknown"));
	json_object_object_add(st, "error", json_object_new_string(why));
	return st;
}

struct json_object *llmstatus_interpret(struct app *app, const char *raw)
{
	struct json_object *st = raw ? json_tokener_parse(raw) : NULL, *at;
	int64_t interval_ms = (int64_t)app->cfg->model_health_interval * 1000;

	bool fresh = st != NULL && json_object_object_get_ex(st, "checked_at_ms", &at) &&
		     clock_wall_ms() - json_object_get_int64(at) < interval_ms;
	if (!fresh) {
		char owner[16];
		snprintf(owner, sizeof(owner), "%d", (int)getpid());
		if (kv_set_nx(app->kv, LLMSTATUS_LEASE, owner, app->cfg->model_health_interval) ==
		    1) {
			if (st == NULL)
				st = llmstatus_refresh(app);
			else
				server_defer(llmstatus_deferred, NULL);
		}
	}
	return st != NULL ? st : llmstatus_unknown("first check in progress");
}

int llmstatus_host(struct app *app, struct json_object **status, int64_t *redis_us)
{
	char *raw = NULL;
	int64_t t0 = clock_mono_us();
	int got = kv_get(app->kv, LLMSTATUS_KEY, &raw);

	*redis_us = clock_mono_us() - t0;
	if (got < 0) {
		*status = llmstatus_unknown("shared status unavailable (Redis)");
		return -1;
	}
	*status = llmstatus_interpret(app, raw);
	free(raw);
	return 0;
}

int llmstatus_has_tag(struct json_object *status, const char *tag)
{
	struct json_object *st, *tags;

	if (!json_object_object_get_ex(status, "status", &st) ||
	    strcmp(json_object_get_string(st), "healthy") != 0 ||
	    !json_object_object_get_ex(status, "tags", &tags))
		return 0;
	for (size_t i = 0; i < json_object_array_length(tags); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(tags, i)), tag) == 0)
			return 1;
	return 0;
}
