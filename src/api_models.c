/*
 * api_models: the model registry, its shared health and metrics, task
 * routing, and warm-up. Health, circuit state and metrics are read from
 * Redis, so every worker and host answers the same.
 */
#include "api.h"
#include "app.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "jsonbody.h"
#include "kv.h"
#include "llm.h"
#include "models.h"
#include "modelstate.h"
#include "query.h"
#include "request.h"
#include "response.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

/* The summary of live metrics shown in a model's entry. */
static struct json_object *api_models_summary(struct json_object *live)
{
	static const char *const keep[] = {"total_requests", "success_rate", "avg_latency_ms",
					   "p95_latency_ms", "total_tokens"};
	struct json_object *o = json_object_new_object(), *v;

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (live != NULL && json_object_object_get_ex(live, keep[i], &v))
			json_object_object_add(o, keep[i], json_object_get(v));
		else
			json_object_object_add(o, keep[i], json_object_new_int(0));
	return o;
}

/* One model's entry of /api/models. */
static struct json_object *api_models_entry(const struct model *m, const struct model_status *st,
					    struct json_object *host, struct json_object *live)
{
	struct json_object *o = json_object_new_object(), *v;

	json_object_object_add(o, "name", json_object_new_string(m->name));
	json_object_object_add(o, "provider", json_object_new_string(provider_names[m->provider]));
	json_object_object_add(o, "model", json_object_new_string(m->tag));
	json_object_object_add(o, "healthy", json_object_new_boolean(st->healthy));
	json_object_object_add(o, "circuit",
			       json_object_new_string(st->circuit_open ? "open" : "closed"));
	json_object_object_add(o, "checked_at",
			       m->provider == PROVIDER_OLLAMA && host != NULL &&
					       json_object_object_get_ex(host, "checked_at", &v)
				       ? json_object_get(v)
				       : NULL);
	json_object_object_add(o, "capabilities", json_object_get(m->capabilities));
	json_object_object_add(o, "context_window", json_object_new_int(m->context_window));
	json_object_object_add(o, "metrics", api_models_summary(live));
	return o;
}

/* Shared status and metrics of every model; 0 or 503. */
static int api_models_state(struct request *req, struct response *res, struct model_status *st,
			    struct json_object **host, struct json_object **live)
{
	if (modelstate_read(req->app, st, host) < 0 ||
	    modelstate_metrics(req->app, live) < 0) {
		json_object_put(*host);
		*host = NULL;
		return response_unavailable(res, "Redis", kv_retry_after(req->app->kv));
	}
	return 0;
}

int api_models_list(struct request *req, struct response *res)
{
	struct model_status st[MODELS_MAX];
	struct json_object *host = NULL, *live = NULL, *list;
	int rc = api_models_state(req, res, st, &host, &live);

	if (rc != 0)
		return rc;
	list = json_object_new_array();
	for (int i = 0; i < models_count(req->app->models); i++)
		json_object_array_add(list,
				      api_models_entry(models_at(req->app->models, i), &st[i], host,
						       json_object_array_get_idx(live, (size_t)i)));
	res->body = json_object_new_object();
	json_object_object_add(res->body, "models", list);
	json_object_put(host);
	json_object_put(live);
	return 200;
}

int api_models_get(struct request *req, struct response *res)
{
	const struct model *m = models_find(req->app->models, request_path_param(req, 0));
	struct model_status st[MODELS_MAX];
	struct json_object *host = NULL, *live = NULL, *tasks;

	if (m == NULL)
		return response_error(res, 404, "Model '%s' not found", request_path_param(req, 0));
	int rc = api_models_state(req, res, st, &host, &live);
	if (rc != 0)
		return rc;
	res->body = api_models_entry(m, &st[m->index], host,
				     json_object_array_get_idx(live, (size_t)m->index));
	json_object_object_add(res->body, "options", json_object_get(m->options));
	json_object_object_add(res->body, "timeout_seconds", json_object_new_int(m->timeout_seconds));
	/* the task types this model serves, with its rank in each */
	tasks = json_object_new_array();
	for (int t = 0; t < models_task_count(req->app->models); t++) {
		const struct model *cand[MODELS_MAX];
		const char *name = models_task_name(req->app->models, t);
		int n = models_task(req->app->models, name, cand, MODELS_MAX);
		for (int k = 0; k < n; k++) {
			if (cand[k] != m)
				continue;
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "task_type", json_object_new_string(name));
			json_object_object_add(o, "rank", json_object_new_int(k + 1));
			json_object_array_add(tasks, o);
		}
	}
	json_object_object_add(res->body, "tasks", tasks);
	json_object_put(host);
	json_object_put(live);
	return 200;
}

int api_models_metrics(struct request *req, struct response *res)
{
	int64_t start = 0, end = 0;
	bool has_start, has_end;
	char s_iso[32], e_iso[32];
	bool ok = query_time(req, res, "start_date", &start, &has_start);

	ok = query_time(req, res, "end_date", &end, &has_end) && ok;
	if (!ok)
		return response_error(res, 422, "Request validation failed");
	res->body = json_object_new_object();
	if (!has_start && !has_end) {
		struct json_object *live = NULL, *list = json_object_new_array();
		if (modelstate_metrics(req->app, &live) < 0)
			return response_unavailable(res, "Redis", kv_retry_after(req->app->kv));
		for (int i = 0; i < models_count(req->app->models); i++) {
			struct json_object *o = json_object_get(json_object_array_get_idx(live, (size_t)i));
			json_object_object_add(o, "model_name",
					       json_object_new_string(models_at(req->app->models, i)->name));
			json_object_array_add(list, o);
		}
		json_object_put(live);
		json_object_object_add(res->body, "metrics", list);
		json_object_object_add(res->body, "source", json_object_new_string("live"));
		return 200;
	}
	/* history from model_metrics: default the last 30 days up to now */
	if (!has_end)
		end = clock_wall_ms();
	if (!has_start)
		start = end - 30LL * 86400 * 1000;
	if (start >= end) {
		response_field_error(res, "start_date", "must be before end_date");
		return response_error(res, 422, "Request validation failed");
	}
	struct json_object *rows = NULL;
	clock_iso8601(start, s_iso, sizeof(s_iso));
	clock_iso8601(end, e_iso, sizeof(e_iso));
	if (db_model_history(req->app->db, s_iso, e_iso, &rows) < 0)
		return response_unavailable(res, "Postgres", db_retry_after(req->app->db));
	json_object_object_add(res->body, "metrics", rows ? rows : json_object_new_array());
	json_object_object_add(res->body, "source", json_object_new_string("history"));
	json_object_object_add(res->body, "start_date", json_object_new_string(s_iso));
	json_object_object_add(res->body, "end_date", json_object_new_string(e_iso));
	return 200;
}

int api_models_task(struct request *req, struct response *res)
{
	const struct model *cand[MODELS_MAX];
	const char *task = request_path_param(req, 0);
	int n = modelstate_candidates(req->app, task, cand, MODELS_MAX);

	if (n < 0)
		return response_error(res, 404, "Task type '%s' not found", task);
	struct json_object *list = json_object_new_array();
	for (int i = 0; i < n; i++)
		json_object_array_add(list, json_object_new_string(cand[i]->name));
	res->body = json_object_new_object();
	json_object_object_add(res->body, "task_type", json_object_new_string(task));
	json_object_object_add(res->body, "recommended_models", list);
	return 200;
}

static const struct jsonbody_field api_models_warmup_fields[] = {
	{"model_names", JB_ARRAY, false, true, 1, MODELS_MAX},
};

int api_models_warmup(struct request *req, struct response *res)
{
	struct json_object *body = NULL, *names = NULL;
	const struct model *todo[MODELS_MAX];
	int n = 0, st;

	if (req->body_len > 0) {
		st = jsonbody_parse(req->body, req->body_len, &body, res);
		if (st == 0)
			st = jsonbody_check(body, api_models_warmup_fields, 1, res);
		if (st != 0)
			goto out;
		json_object_object_get_ex(body, "model_names", &names);
	}
	for (size_t i = 0; names && i < json_object_array_length(names); i++) {
		struct json_object *v = json_object_array_get_idx(names, i);
		const struct model *m = json_object_is_type(v, json_type_string)
						? models_find(req->app->models, json_object_get_string(v))
						: NULL;
		if (m == NULL) {
			char field[48];
			snprintf(field, sizeof(field), "model_names[%zu]", i);
			response_field_error(res, field, "must be the name of a configured model");
		} else {
			todo[n++] = m;
		}
	}
	if (res->errors != NULL) {
		st = response_error(res, 422, "Request validation failed");
		goto out;
	}
	if (names == NULL)
		for (int i = 0; i < models_count(req->app->models); i++)
			todo[n++] = models_at(req->app->models, i);

	struct json_object *results = json_object_new_array(), *warmed = json_object_new_array();
	const struct llm_message hello[] = {{"user", "Reply with the single word OK."}};
	for (int i = 0; i < n; i++) {
		struct llm_reply r;
		int64_t t0 = clock_mono_ms();
		int rc = llm_chat(req->app->llm, todo[i], hello, 1, todo[i]->timeout_seconds * 1000,
				  NULL, NULL, &r);
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "model", json_object_new_string(todo[i]->name));
		json_object_object_add(o, "status", json_object_new_string(rc == 0 ? "ok" : "failed"));
		json_object_object_add(o, "latency_ms",
				       json_object_new_int64(clock_mono_ms() - t0));
		if (rc != 0)
			json_object_object_add(o, "error", json_object_new_string(r.error));
		else
			json_object_array_add(warmed, json_object_new_string(todo[i]->name));
		json_object_array_add(results, o);
		llm_reply_free(&r);
	}
	res->body = json_object_new_object();
	json_object_object_add(res->body, "results", results);
	json_object_object_add(res->body, "warmed_up", warmed);
	st = 200;
out:
	json_object_put(body);
	return st;
}
