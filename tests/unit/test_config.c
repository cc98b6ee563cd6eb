/* Unit tests for config: validation of every kind of variable. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static void base_env(void)
{
	clearenv();
	setenv("DATABASE_URL", "postgresql://app:s3cret@127.0.0.1:5432/pixelcraft", 1);
	setenv("REDIS_URL", "redis://:pw@127.0.0.1:6379/2", 1);
	setenv("SUPABASE_JWT_SECRET", "0123456789abcdef0123456789abcdef", 1);
}

/* Loads and returns the message for `name`, or NULL when valid. */
static char *problem(const char *name)
{
	static char msg[1024];
	struct config cfg;
	struct config_error *errs = NULL;
	int n = 0;
	char *found = NULL;

	config_load(&cfg, &errs, &n);
	for (int i = 0; i < n; i++) {
		if (strcmp(errs[i].name, name) == 0) {
			snprintf(msg, sizeof(msg), "%s", errs[i].message);
			found = msg;
		}
	}
	config_errors_free(errs, n);
	config_free(&cfg);
	return found;
}

Test(config, defaults_are_valid)
{
	struct config cfg;
	struct config_error *errs = NULL;
	int n = 0;

	base_env();
	cr_assert_eq(config_load(&cfg, &errs, &n), 0, "%d errors: %s %s", n,
		     n ? errs[0].name : "", n ? errs[0].message : "");
	cr_assert_eq(cfg.max_body_bytes, 65536);
	cr_assert_eq(cfg.db_recycle_seconds, 300);
	cr_assert_eq(cfg.db_retry.base_ms, 2000);
	cr_assert_eq(cfg.db_retry.max_ms, 10000);
	cr_assert_eq(cfg.db_retry.attempts, 5);
	cr_assert_eq(cfg.redis_timeout_ms, 250);
	cr_assert_eq(cfg.db_query_timeout_ms, 2000);
	cr_assert_str_eq(cfg.jwt_audience, "authenticated");
	cr_assert_str_eq(cfg.redis_host, "127.0.0.1");
	cr_assert_eq(cfg.redis_port, 6379);
	cr_assert_eq(cfg.redis_db, 2);
	cr_assert_str_eq(cfg.redis_password, "pw");
	cr_assert_eq(cfg.rate_chat.limit, 100);
	cr_assert_eq(cfg.rate_chat.window_seconds, 60);
	cr_assert_eq(cfg.rate_fallback, RL_FALLBACK_LOCAL);
	cr_assert_null(cfg.database_read_url, "no read replica unless DATABASE_READ_URL is set");
	config_free(&cfg);
}

Test(config, read_replica_url)
{
	struct config cfg;
	struct config_error *errs = NULL;
	int n = 0;

	base_env();
	setenv("DATABASE_READ_URL", "", 1);
	cr_assert_eq(config_load(&cfg, &errs, &n), 0);
	cr_assert_null(cfg.database_read_url, "empty: analytics read from DATABASE_URL");
	config_free(&cfg);
	setenv("DATABASE_READ_URL", "postgresql://app:s3cret@10.0.0.21:5432/pixelcraft", 1);
	cr_assert_eq(config_load(&cfg, &errs, &n), 0);
	cr_assert_str_eq(cfg.database_read_url, "postgresql://app:s3cret@10.0.0.21:5432/pixelcraft");
	config_free(&cfg);
}

Test(config, required_values)
{
	base_env();
	unsetenv("DATABASE_URL");
	cr_assert_not_null(problem("DATABASE_URL"));
	cr_assert(strstr(problem("DATABASE_URL"), "required") != NULL);
}

Test(config, every_problem_is_named_with_expected_and_given)
{
	static const struct {
		const char *name, *value, *expect;
	} bad[] = {
		{"MAX_BODY_BYTES", "64k", "integer from 1024 to 16777216"},
		{"MAX_BODY_BYTES", "100", "integer"},
		{"DB_RECYCLE_SECONDS", "-1", "integer"},
		{"LOG_LEVEL", "verbose", "one of debug"},
		{"APP_ENV", "prod", "one of"},
		{"DATABASE_URL", "mysql://x", "postgresql://"},
		{"DATABASE_READ_URL", "mysql://x", "postgresql://"},
		{"REDIS_URL", "http://localhost", "redis://"},
		{"REDIS_URL", "redis://host:99999", "redis://"},
		{"OLLAMA_HOST", "localhost:11434", "http:// or https://"},
		{"OLLAMA_HOST", "ftp://x", "http:// or https://"},
		{"CORS_ORIGINS", "https://a.com/path", "origins"},
		{"CORS_ORIGINS", "*,https://a.com", "either * alone"},
		{"RATE_LIMIT_CHAT", "100/fortnight", "N/minute"},
		{"RATE_LIMIT_CHAT", "0/minute", "N/minute"},
		{"TRUSTED_PROXIES", "10.0.0.0/33", "networks"},
		{"RATE_LIMIT_FALLBACK", "maybe", "one of local"},
		{"JWT_LEEWAY_SECONDS", "1e3", "integer"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		base_env();
		setenv(bad[i].name, bad[i].value, 1);
		char *msg = problem(bad[i].name);
		cr_assert_not_null(msg, "%s=%s accepted", bad[i].name, bad[i].value);
		cr_assert(strstr(msg, bad[i].expect) != NULL, "%s: %s", bad[i].name, msg);
		cr_assert(strstr(msg, "got \"") != NULL, "%s: %s", bad[i].name, msg);
	}
}

Test(config, secrets_are_masked_in_errors)
{
	base_env();
	setenv("SUPABASE_JWT_SECRET", "short-secret", 1);
	char *msg = problem("SUPABASE_JWT_SECRET");
	cr_assert_not_null(msg);
	cr_assert(strstr(msg, "short-secret") == NULL, "%s", msg);
	cr_assert(strstr(msg, "12 characters") != NULL, "%s", msg);

	base_env();
	setenv("DATABASE_URL", "mysql://user:hunter2@db/x", 1);
	msg = problem("DATABASE_URL");
	cr_assert(strstr(msg, "hunter2") == NULL, "%s", msg);

	base_env();
	setenv("SUPABASE_JWT_SECRET", "", 1);
	cr_assert_not_null(problem("SUPABASE_JWT_SECRET"), "an empty secret is refused");
}

Test(config, mask_url)
{
	char *m = config_mask_url("postgresql://app:s3cret@h:5432/db?sslmode=require");
	cr_assert_str_eq(m, "postgresql://app:***@h:5432/db?sslmode=require");
	free(m);
	m = config_mask_url("redis://:pw@h:6379/0");
	cr_assert_str_eq(m, "redis://:***@h:6379/0");
	free(m);
	m = config_mask_url("postgresql:///db?host=/run&password=x&user=y");
	cr_assert_str_eq(m, "postgresql:///db?host=/run&password=***&user=y");
	free(m);
}

Test(config, lists_and_rates)
{
	struct config cfg;
	struct config_error *errs = NULL;
	int n = 0;

	base_env();
	setenv("CORS_ORIGINS", " https://app.example.com , http://localhost:5173 ", 1);
	setenv("TRUSTED_PROXIES", "10.0.0.0/8, ::1", 1);
	setenv("RATE_LIMIT_DEFAULT", "5/second", 1);
	setenv("REDIS_URL", "unix:///run/redis/redis.sock?db=3&password=p%40ss", 1);
	cr_assert_eq(config_load(&cfg, &errs, &n), 0);
	cr_assert_eq(cfg.cors_count, 2);
	cr_assert(config_origin_allowed(&cfg, "https://app.example.com"));
	cr_assert_not(config_origin_allowed(&cfg, "https://app.example.com.evil"));
	cr_assert_eq(cfg.trusted_proxy_count, 2);
	cr_assert_eq(cfg.trusted_proxies[0].prefix, 8);
	cr_assert_eq(cfg.rate_default.limit, 5);
	cr_assert_eq(cfg.rate_default.window_seconds, 1);
	cr_assert_str_eq(cfg.redis_path, "/run/redis/redis.sock");
	cr_assert_eq(cfg.redis_db, 3);
	cr_assert_str_eq(cfg.redis_password, "p@ss");
	config_free(&cfg);
}
