/*
 * Integration: the binary's command line (configuration errors,
 * --check-config) and the validators of the shipped deployment files.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char *run(const char *env, const char *args, int *status)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "env -i PATH=/usr/bin:/bin %s %s %s 2>&1", env,
		 need_env("PIXELCRAFT_BIN"), args);
	return run_capture(cmd, status);
}

#define GOOD_ENV                                                                                 \
	"DATABASE_URL=postgresql://u:p@127.0.0.1:1/db REDIS_URL=redis://127.0.0.1:1 "            \
	"SUPABASE_JWT_SECRET=0123456789abcdef0123456789abcdef "

Test(cli, bad_value_stops_startup_naming_the_variable)
{
	int st;
	char *out = run(GOOD_ENV "MAX_BODY_BYTES=lots LOG_LEVEL=chatty", "", &st);
	cr_assert_eq(st, 2, "exit %d: %s", st, out);
	cr_assert(strstr(out, "MAX_BODY_BYTES") != NULL, "%s", out);
	cr_assert(strstr(out, "lots") != NULL, "the given value is shown: %s", out);
	cr_assert(strstr(out, "LOG_LEVEL") != NULL, "%s", out);
	free(out);

	out = run(GOOD_ENV "SUPABASE_JWT_SECRET=tooshort", "--validate-config", &st);
	cr_assert_eq(st, 2);
	cr_assert(strstr(out, "SUPABASE_JWT_SECRET") != NULL, "%s", out);
	cr_assert(strstr(out, "tooshort") == NULL, "secret printed: %s", out);
	free(out);

	out = run("", "--validate-config", &st);
	cr_assert_eq(st, 2);
	cr_assert(strstr(out, "DATABASE_URL") && strstr(out, "REDIS_URL") &&
			  strstr(out, "SUPABASE_JWT_SECRET"),
		  "every missing variable named: %s", out);
	free(out);
}

Test(cli, check_config_reports_each_dependency)
{
	int st;
	char env[2048];

	snprintf(env, sizeof(env), "PIXELCRAFT_ENV_FILE=%s/pixelcraft.env", need_env("STACK_DIR"));
	char *out = run(env, "--check-config", &st);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "postgres: ok") != NULL, "%s", out);
	cr_assert(strstr(out, "redis: ok") != NULL, "%s", out);
	cr_assert(strstr(out, "llm host: ok") != NULL, "%s", out);
	cr_assert(strstr(out, need_env("SUPABASE_JWT_SECRET")) == NULL, "secret printed");
	cr_assert(strstr(out, need_env("PG_APP_PASSWORD")) == NULL, "password printed");
	free(out);

	out = run(GOOD_ENV "OLLAMA_HOST=http://127.0.0.1:1 DB_CONNECT_TIMEOUT_MS=200",
		  "--check-config", &st);
	cr_assert_eq(st, 1, "%s", out);
	cr_assert(strstr(out, "postgres: FAILED") != NULL, "%s", out);
	cr_assert(strstr(out, "redis: FAILED") != NULL, "%s", out);
	cr_assert(strstr(out, "llm host: FAILED") != NULL, "%s", out);
	free(out);
}

Test(cli, env_file_with_hash_in_value)
{
	char path[] = "/tmp/pc-env-XXXXXX";
	int fd = mkstemp(path);
	dprintf(fd, "# systemd EnvironmentFile syntax\n"
		    "DATABASE_URL=postgresql://u:p#1@127.0.0.1:1/db\n"
		    "REDIS_URL=redis://127.0.0.1:1\n"
		    "SUPABASE_JWT_SECRET=0123456789abcdef#0123456789abcdef\n"
		    "CORS_ORIGINS=https://a.example.com\n");
	close(fd);
	char args[256];
	int st;
	snprintf(args, sizeof(args), "--env-file %s --validate-config", path);
	char *out = run("", args, &st);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
	unlink(path);
}

Test(cli, deployment_files_pass_their_validators)
{
	int st;
	char cmd[2048];
	const char *dir = need_env("STACK_DIR"), *root = need_env("PROJECT_ROOT");

	if (strcmp(need_env("FRONT"), "nginx") == 0) {
		snprintf(cmd, sizeof(cmd), "nginx -t -c %s/nginx/nginx.conf -e /dev/stderr 2>&1", dir);
	} else {
		snprintf(cmd, sizeof(cmd), "lighttpd -tt -f %s/lighttpd/lighttpd.conf 2>&1", dir);
	}
	char *out = run_capture(cmd, &st);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
	snprintf(cmd, sizeof(cmd), "%s/scripts/verify-units.sh 2>&1", root);
	out = run_capture(cmd, &st);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
}

Test(cli, generated_docs_are_current)
{
	int st;
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "%s/scripts/docs.sh --check 2>&1", need_env("PROJECT_ROOT"));
	char *out = run_capture(cmd, &st);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
}
