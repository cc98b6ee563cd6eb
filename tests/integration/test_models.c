/*
 * Integration: the model routes, shared health and metrics, circuit breaker.
 * The stub LLM (tests/stub-ollama.c) stands in for Ollama.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* All three models healthy in the shared status (refreshed every second in tests). */
static bool all_healthy(void)
{
	struct http *r = http_get("/api/models/tasks/chat");
	bool ok = r->status == 200 &&
		  json_object_array_length(json_at(r->json, "recommended_models")) == 3;
	http_free(r);
	return ok;
}

static void stub_reset(void)
{
	stack("stub-start", NULL);
	stub_control("/_stub/reset", "{}");
	stub_control("/_stub/tags", "{\"fail\":false,\"hide\":[]}");
	wait_until(all_healthy, 5000);
}

TestSuite(models, .init = stub_reset, .fini = stub_reset, .timeout = 90);

Test(models, list_shape)
{
	struct http *r = http_get("/api/models");
	cr_assert_eq(r->status, 200, "%s", r->body);
	struct json_object *list = json_at(r->json, "models");
	cr_assert_eq(json_object_array_length(list), 3);
	const char *names[] = {"tinyllama", "mistral", "glm4"};
	const char *tags[] = {"tinyllama:1.1b", "mistral:7b", "glm4:9b"};
	for (int i = 0; i < 3; i++) {
		struct json_object *m = json_object_array_get_idx(list, (size_t)i);
		cr_assert_str_eq(json_str(m, "name"), names[i], "file order");
		cr_assert_str_eq(json_str(m, "provider"), "ollama");
		cr_assert_str_eq(json_str(m, "model"), tags[i]);
		cr_assert(json_object_get_boolean(json_at(m, "healthy")), "%s", r->body);
		cr_assert(strlen(json_str(m, "checked_at")) > 0);
		cr_assert(json_object_get_boolean(json_at(m, "capabilities.chat")));
		cr_assert_gt(json_object_get_int(json_at(m, "context_window")), 0);
		const char *metric[] = {"total_requests", "success_rate", "avg_latency_ms",
					"p95_latency_ms", "total_tokens"};
		for (int k = 0; k < 5; k++) {
			char path[64];
			snprintf(path, sizeof(path), "metrics.%s", metric[k]);
			cr_assert_not_null(json_at(m, path), "%s missing", path);
		}
	}
	http_free(r);
}

Test(models, one_model_and_404)
{
	struct http *r = http_get("/api/models/mistral");
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_str(r->json, "name"), "mistral");
	cr_assert_not_null(json_at(r->json, "options.top_p"), "options are listed");
	cr_assert_not_null(json_at(r->json, "options.num_ctx"));
	cr_assert_gt(json_object_array_length(json_at(r->json, "tasks")), 0);
	cr_assert_str_eq(json_str(r->json, "tasks.0.task_type"), "chat");
	cr_assert_eq(json_object_get_int(json_at(r->json, "tasks.0.rank")), 2);
	http_free(r);
	r = http_get("/api/models/gpt-5");
	cr_assert_eq(r->status, 404);
	cr_assert_str_eq(json_str(r->json, "detail"), "Model 'gpt-5' not found");
	http_free(r);
}

Test(models, metrics_route_is_not_shadowed_by_name)
{
	struct http *r = http_get("/api/models/metrics");
	cr_assert_eq(r->status, 200, "literal beats {name}: %s", r->body);
	cr_assert_str_eq(json_str(r->json, "source"), "live");
	cr_assert_eq(json_object_array_length(json_at(r->json, "metrics")), 3);
	http_free(r);
}

Test(models, metrics_history_and_bad_dates)
{
	struct http *r = http_get("/api/models/metrics?start_date=2020-01-01&end_date=2030-01-01");
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_str(r->json, "source"), "history");
	cr_assert(json_object_is_type(json_at(r->json, "metrics"), json_type_array));
	http_free(r);
	const char *bad[] = {"/api/models/metrics?start_date=yesterday",
			     "/api/models/metrics?end_date=2026-02-30",
			     "/api/models/metrics?start_date=2026-05-01&end_date=2026-04-01"};
	for (int i = 0; i < 3; i++) {
		r = http_get(bad[i]);
		cr_assert_eq(r->status, 422, "%s: %ld", bad[i], r->status);
		cr_assert_not_null(json_at(r->json, "errors.0.field"), "%s", r->body);
		http_free(r);
	}
}

Test(models, task_routing)
{
	struct http *r = http_get("/api/models/tasks/chat");
	cr_assert_eq(r->status, 200);
	cr_assert_str_eq(json_str(r->json, "task_type"), "chat");
	struct json_object *list = json_at(r->json, "recommended_models");
	cr_assert_eq(json_object_array_length(list), 3, "each model once: %s", r->body);
	cr_assert_str_eq(json_str(r->json, "recommended_models.0"), "tinyllama");
	http_free(r);
	r = http_get("/api/models/tasks/astrology");
	cr_assert_eq(r->status, 404);
	http_free(r);
}

Test(models, warmup_is_for_admins)
{
	struct http *r = http_do("POST", "/api/models/warmup", "{}", NULL);
	cr_assert_eq(r->status, 401);
	http_free(r);
	char *user = user_token(NULL, NULL, 600);
	const char *hu[] = {bearer(0, user), NULL};
	r = http_do("POST", "/api/models/warmup", "{}", hu);
	cr_assert_eq(r->status, 403, "%s", r->body);
	http_free(r);

	char sub[37];
	char *admin = user_token(NULL, sub, 600);
	free(sql("INSERT INTO user_profiles (user_id, role) VALUES ('%s', 'admin')", sub));
	const char *ha[] = {bearer(1, admin), NULL};
	r = http_do("POST", "/api/models/warmup", "{\"model_names\":[\"mistral\"]}", ha);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_str(r->json, "results.0.model"), "mistral");
	cr_assert_str_eq(json_str(r->json, "results.0.status"), "ok");
	cr_assert_str_eq(json_str(r->json, "warmed_up.0"), "mistral");
	http_free(r);
	r = http_do("POST", "/api/models/warmup", "{\"model_names\":[\"nope\"]}", ha);
	cr_assert_eq(r->status, 422);
	cr_assert_str_eq(json_str(r->json, "errors.0.field"), "model_names[0]");
	http_free(r);
	r = http_do("POST", "/api/models/warmup", "{\"model_names\":\"mistral\"}", ha);
	cr_assert_eq(r->status, 422, "a string is not a list");
	http_free(r);
	free(user);
	free(admin);
}

static long total_requests(const char *model)
{
	struct http *r = http_get("/api/models/metrics");
	cr_assert_eq(r->status, 200);
	long n = -1;
	struct json_object *list = json_at(r->json, "metrics");
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *m = json_object_array_get_idx(list, i);
		if (strcmp(json_str(m, "model_name"), model) == 0)
			n = json_object_get_int64(json_at(m, "total_requests"));
	}
	http_free(r);
	return n;
}

Test(models, metrics_are_the_same_on_every_worker)
{
	long before = total_requests("tinyllama");
	char *t = user_token(NULL, NULL, 600);
	for (int i = 0; i < 20; i++) {
		struct http *r = chat_post(t, NULL, "{\"message\":\"count me %d\"}", i);
		cr_assert_eq(r->status, 200, "%s", r->body);
		http_free(r);
	}
	usleep(200000); /* the records are written after each response */
	/* 12 reads land on different workers: all must agree */
	for (int i = 0; i < 12; i++)
		cr_assert_eq(total_requests("tinyllama"), before + 20, "read %d", i);
	/* and every call is a row of model_metrics (each worker writes its rows
	 * in a batch within about a second), and every answer an agent_logs row */
	char *n = NULL;
	for (int i = 0; i < 50; i++) {
		free(n);
		n = sql("SELECT count(*) FROM model_metrics WHERE model_name = 'tinyllama'"
			" AND status = 'success' AND created_at > now() - interval '1 minute'");
		if (atoi(n) >= 20)
			break;
		usleep(100000);
	}
	cr_assert_geq(atoi(n), 20, "model_metrics rows: %s", n);
	free(n);
	n = sql("SELECT count(*) FROM agent_logs a JOIN messages m ON m.conversation_id ="
		" a.conversation_id WHERE m.role = 'user' AND m.content LIKE 'count me %%'"
		" AND a.status = 'success'");
	cr_assert_geq(atoi(n), 20, "agent_logs rows: %s", n);
	free(n);
	free(t);
}

static bool model_healthy(const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "/api/models/%s", name);
	struct http *r = http_get(path);
	bool h = r->status == 200 && json_object_get_boolean(json_at(r->json, "healthy"));
	http_free(r);
	return h;
}

static bool tinyllama_down(void)
{
	return !model_healthy("tinyllama");
}

static bool tinyllama_up(void)
{
	return model_healthy("tinyllama");
}

Test(models, health_follows_the_provider_without_restarts)
{
	char *before = run_capture("cat $STACK_DIR/run/chat-pool.pid; "
				   "pgrep -P $(cat $STACK_DIR/run/api-pool.pid) | sort",
				   NULL);
	char admin[37];
	char *at = user_token(NULL, admin, 600);
	free(sql("INSERT INTO user_profiles (user_id, role) VALUES ('%s', 'admin')", admin));
	stack("stub-stop", NULL);
	cr_assert(wait_until(tinyllama_down, 5000), "health did not flip when the stub stopped");
	struct http *r = http_get("/api/models/tasks/chat");
	cr_assert_eq(json_object_array_length(json_at(r->json, "recommended_models")), 0);
	http_free(r);
	stack("stub-start", NULL);
	cr_assert(wait_until(tinyllama_up, 5000), "health did not recover");
	/* a model the host no longer lists is unhealthy, the others are not */
	stub_control("/_stub/tags", "{\"hide\":[\"glm4:9b\"]}");
	cr_assert(wait_until(tinyllama_up, 3000));
	usleep(1200000);
	http_free(http_get("/api/models")); /* triggers the refresh */
	usleep(300000);
	cr_assert_not(model_healthy("glm4"), "glm4 hidden but healthy");
	cr_assert(model_healthy("mistral"));
	char *after = run_capture("cat $STACK_DIR/run/chat-pool.pid; "
				  "pgrep -P $(cat $STACK_DIR/run/api-pool.pid) | sort",
				  NULL);
	cr_assert_str_eq(before, after, "workers were restarted");
	free(before);
	free(after);
	/* each admin was told once per transition, whatever the number of workers */
	usleep(300000);
	char *down = sql("SELECT count(*) FROM notifications WHERE recipient_id = '%s'"
			 " AND notification_type = 'system' AND metadata->>'model' = 'tinyllama'"
			 " AND metadata->>'healthy' = 'false'", admin);
	char *up = sql("SELECT count(*) FROM notifications WHERE recipient_id = '%s'"
		       " AND notification_type = 'system' AND metadata->>'model' = 'tinyllama'"
		       " AND metadata->>'healthy' = 'true'", admin);
	cr_assert_str_eq(down, "1", "model down notifications: %s", down);
	cr_assert_str_eq(up, "1", "model up notifications: %s", up);
	free(down);
	free(up);
	free(at);
}
