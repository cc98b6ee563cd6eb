/*
 * fuzz_config: the configuration parser: an env file in systemd
 * EnvironmentFile= syntax (envfile_parse), whose assignments then become the
 * whole environment that config_load validates (URLs through libpq and
 * libcurl, Redis URLs, CIDR lists, CORS origins, rates, integers, enums), and
 * what is done with a loaded configuration (config_print, masking, origins).
 *
 * Input: the env file's text. The three required variables get valid
 * defaults unless the file sets them, so the other variables are reached.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "envfile.h"
#include "fuzz.h"

#define MAX_VARS 128

struct vars {
	char *kv[MAX_VARS + 4];
	int n;
	bool has_db, has_redis, has_secret;
};

static int collect(const char *key, const char *value, void *arg)
{
	struct vars *v = arg;

	if (key == NULL || value == NULL || key[0] == '\0')
		abort(); /* the parser hands out a key and a value, always */
	if (v->n == MAX_VARS)
		return 1; /* "cannot set": the parser must stop cleanly */
	size_t kl = strlen(key), vl = strlen(value);
	char *s = malloc(kl + vl + 2);
	if (s == NULL)
		abort();
	memcpy(s, key, kl);
	s[kl] = '=';
	memcpy(s + kl + 1, value, vl + 1);
	v->kv[v->n++] = s;
	v->has_db |= strcmp(key, "DATABASE_URL") == 0;
	v->has_redis |= strcmp(key, "REDIS_URL") == 0;
	v->has_secret |= strcmp(key, "SUPABASE_JWT_SECRET") == 0;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vars v;
	char err[200];

	memset(&v, 0, sizeof(v));
	char *text = fuzz_strndup(data, size);
	err[0] = '\0';
	int rc = envfile_parse(text, collect, &v, err, sizeof(err));
	if (rc != 0 && rc != -1)
		abort();
	if (rc == -1 && err[0] == '\0')
		abort(); /* a refusal names the line */
	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();

	/* the parsed variables (even of a refused file) as the whole environment */
	int n = v.n;
	if (!v.has_db)
		v.kv[n++] = fuzz_env[0];
	if (!v.has_redis)
		v.kv[n++] = fuzz_env[1];
	if (!v.has_secret)
		v.kv[n++] = fuzz_env[2];
	v.kv[n] = NULL;

	struct config cfg;
	struct config_error *errs = NULL;
	int nerrs = 0;
	rc = fuzz_config_load(v.kv, &cfg, &errs, &nerrs);
	if ((rc == 0) != (nerrs == 0))
		abort();
	for (int i = 0; i < nerrs; i++)
		if (errs[i].name == NULL || errs[i].message == NULL ||
		    strncmp(errs[i].message, "expected ", 9) != 0)
			abort();
	if (rc == 0) {
		config_print(&cfg, fuzz_devnull());
		char *masked = config_mask_url(cfg.database_url);
		free(masked);
		masked = config_mask_url(cfg.redis_url);
		free(masked);
		config_origin_allowed(&cfg, "https://app.example.com");
		if (cfg.cors_count < 0 || cfg.trusted_proxy_count < 0)
			abort();
	}
	config_errors_free(errs, nerrs);
	config_free(&cfg);
	for (int i = 0; i < v.n; i++)
		free(v.kv[i]);
	free(text);
	return 0;
}
