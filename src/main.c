/*
 * main: command line of the pixelcraft-api binary.
 *
 *   pixelcraft-api [--env-file FILE]              serve FastCGI on fd 0
 *   pixelcraft-api [--env-file FILE] --check-config   print config, test dependencies
 *   pixelcraft-api [--env-file FILE] --validate-config  validate only (no I/O)
 *   pixelcraft-api [--env-file FILE] migrate      apply ops/sql migrations
 *   pixelcraft-api --config-doc                   Markdown table of variables
 *   pixelcraft-api --config-env                   example env file
 *   pixelcraft-api --version
 *
 * The env file (also PIXELCRAFT_ENV_FILE) uses systemd EnvironmentFile=
 * syntax; variables already in the environment take precedence.
 */
#include "app.h"
#include "chat.h"
#include "config.h"
#include "db.h"
#include "envfile.h"
#include "kv.h"
#include "log.h"
#include "llm.h"
#include "models.h"
#include "router.h"
#include "server.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PIXELCRAFT_VERSION
#define PIXELCRAFT_VERSION "dev"
#endif

static void main_usage(FILE *out)
{
	fprintf(out,
		"usage: pixelcraft-api [--env-file FILE] "
		"[--check-config | --validate-config | migrate | --config-doc | --config-env | "
		"--routes | --version]\n");
}

/* Loads and validates; prints problems as text or JSON lines. 0 / -1. */
static int main_config(struct config *cfg, bool json_errors)
{
	struct config_error *errs = NULL;
	int nerrs = 0;

	if (config_load(cfg, &errs, &nerrs) == 0)
		return 0;
	for (int i = 0; i < nerrs; i++) {
		if (json_errors) {
			struct log_line l;
			log_begin(&l, LOG_ERROR, "config_invalid");
			log_str(&l, "variable", errs[i].name);
			log_str(&l, "msg", errs[i].message);
			log_end(&l);
		} else {
			fprintf(stderr, "config error: %s: %s\n", errs[i].name, errs[i].message);
		}
	}
	if (!json_errors)
		fprintf(stderr, "%d configuration problem%s; not starting\n", nerrs,
			nerrs == 1 ? "" : "s");
	config_errors_free(errs, nerrs);
	return -1;
}

/* --check-config: configuration, then one line per dependency. */
static int main_check(const struct config *cfg, struct models *models)
{
	struct app app;
	int64_t us;
	struct json_object *tags = NULL;
	char err[256];
	int failed = 0;

	printf("configuration (valid):\n");
	config_print(cfg, stdout);
	printf("models: %d in %s\n", models_count(models), cfg->models_file);
	log_open(LOG_ERROR, NULL); /* keep reconnect chatter out of the report */
	if (app_open(&app, cfg, models) < 0) {
		printf("out of memory\n");
		return 1;
	}
	if (db_ping(app.db, &us) == 0) {
		printf("postgres: ok (%.3f ms)\n", (double)us / 1000.0);
	} else {
		printf("postgres: FAILED: %s\n", db_last_error(app.db));
		failed++;
	}
	if (app.db_read != NULL && db_ping(app.db_read, &us) == 0) {
		printf("postgres read replica: ok (%.3f ms)\n", (double)us / 1000.0);
	} else if (app.db_read != NULL) {
		printf("postgres read replica: FAILED: %s\n", db_last_error(app.db_read));
		failed++;
	}
	if (kv_ping(app.kv, &us) == 0) {
		printf("redis: ok (%.3f ms)\n", (double)us / 1000.0);
	} else {
		printf("redis: FAILED: %s\n", kv_last_error(app.kv));
		failed++;
	}
	if (llm_ollama_tags(app.llm, cfg->health_timeout_ms, &tags, err, sizeof(err)) == 0) {
		printf("llm host: ok (%s), models: %s\n", cfg->ollama_host,
		       json_object_to_json_string_ext(tags, JSON_C_TO_STRING_PLAIN));
		json_object_put(tags);
	} else {
		printf("llm host: FAILED (%s): %s\n", cfg->ollama_host, err);
		failed++;
	}
	app_close(&app);
	printf("%s\n", failed ? "check failed" : "all dependencies reachable");
	return failed ? 1 : 0;
}

/* --routes: the route table as JSON, for the documentation checks. */
static int main_routes(void)
{
	static const char *const limits[ROUTE_LIMIT__MAX] = {"none", "default", "chat"};
	size_t n;
	const struct route *r = router_routes(&n);
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "method",
				       json_object_new_string(http_method_names[r[i].method]));
		json_object_object_add(o, "path", json_object_new_string(r[i].pattern));
		json_object_object_add(o, "auth",
				       json_object_new_string(route_auth_names[r[i].auth]));
		json_object_object_add(o, "limit", json_object_new_string(limits[r[i].limit]));
		json_object_array_add(arr, o);
	}
	puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
	return 0;
}

static int main_migrate(const struct config *cfg)
{
	struct db *db = db_open(cfg, cfg->database_url, NULL, false);
	int rc;

	if (db == NULL)
		return 1;
	rc = db_migrate(db, cfg->migrations_dir, stdout);
	db_close(db);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *env_file = getenv("PIXELCRAFT_ENV_FILE");
	const char *mode = "serve";
	struct config cfg;
	char err[512];
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
			env_file = argv[++i];
		} else if (strcmp(argv[i], "--check-config") == 0 ||
			   strcmp(argv[i], "--validate-config") == 0 ||
			   strcmp(argv[i], "--config-doc") == 0 ||
			   strcmp(argv[i], "--config-env") == 0 ||
			   strcmp(argv[i], "--routes") == 0 || strcmp(argv[i], "migrate") == 0) {
			mode = argv[i];
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("pixelcraft-api %s\n", PIXELCRAFT_VERSION);
			return 0;
		} else {
			main_usage(stderr);
			return 2;
		}
	}
	if (strcmp(mode, "--config-doc") == 0) {
		config_doc(stdout);
		return 0;
	}
	if (strcmp(mode, "--config-env") == 0) {
		config_env_example(stdout);
		return 0;
	}
	if (strcmp(mode, "--routes") == 0)
		return main_routes();
	if (env_file != NULL && *env_file != '\0' && envfile_load(env_file, err, sizeof(err)) < 0) {
		fprintf(stderr, "config error: env file %s\n", err);
		return 2;
	}
	bool serving = strcmp(mode, "serve") == 0;
	if (main_config(&cfg, serving) < 0) {
		config_free(&cfg);
		return 2;
	}
	/* the model registry and the system prompt are configuration too */
	struct models *models = NULL;
	char *prompt = NULL;
	if (strcmp(mode, "migrate") != 0 &&
	    ((models = models_load(cfg.models_file, stderr)) == NULL ||
	     (prompt = chat_load_system_prompt(cfg.system_prompt_file, stderr)) == NULL)) {
		models_free(models);
		config_free(&cfg);
		return 2;
	}
	/* libcurl initialises itself (and OpenSSL) on the first easy handle */
	if (log_open((enum log_level)cfg.log_level, cfg.log_file) < 0)
		fprintf(stderr, "cannot open LOG_FILE %s; logging to stderr\n", cfg.log_file);
	if (strcmp(mode, "--validate-config") == 0) {
		rc = 0;
	} else if (strcmp(mode, "--check-config") == 0) {
		rc = main_check(&cfg, models);
	} else if (strcmp(mode, "migrate") == 0) {
		rc = main_migrate(&cfg);
	} else {
		struct app app;
		if (app_open(&app, &cfg, models) == 0) {
			app.system_prompt = prompt;
			rc = server_run(&app);
			app_close(&app);
		}
	}
	log_close();
	models_free(models);
	free(prompt);
	config_free(&cfg);
	return rc;
}
