/*
 * Documentation checks (build/docs-tests, the last suite of `make test`):
 * the OpenAPI document against the router table, the linter, and every
 * response the integration suites logged against the documented schemas.
 * The checkers themselves are shown to fail on drift.
 *
 * Runs from the project root. RESPONSE_LOGS: the integration suites' logs
 * (space-separated paths); without it the response check is skipped.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs a shell command; its output (first 256 KiB) in *out, exit status returned. */
static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p, "%s", cmd);
	size_t cap = 256 * 1024, n = 0;
	char *buf = malloc(cap + 1);
	while (n < cap) {
		size_t got = fread(buf + n, 1, cap - n, p);
		if (got == 0)
			break;
		n += got;
	}
	buf[n] = '\0';
	int st = pclose(p);
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Prints the checker's lines to the test log. */
static void show(const char *out)
{
	char *copy = strdup(out), *save = NULL;
	int lines = 0;
	for (char *l = strtok_r(copy, "\n", &save); l != NULL && lines < 60;
	     l = strtok_r(NULL, "\n", &save), lines++)
		cr_log_info("%s", l);
	free(copy);
}

TestSuite(docs, .timeout = 300);

/* A check that must pass; its lines go to the test log. */
static void must_pass(const char *cmd, const char *what)
{
	char *out;
	int st = run(&out, "%s 2>&1", cmd);
	show(out);
	cr_assert_eq(st, 0, "%s:\n%s", what, out);
	free(out);
}

/* A checker run on a drifted input: must exit 1 and name the drift. */
static void must_catch(const char *cmd, const char *expected)
{
	char *out;
	int st = run(&out, "%s", cmd);
	cr_assert_eq(st, 1, "the checker passed: %s\n%s", cmd, out);
	cr_assert_not_null(strstr(out, expected), "expected \"%s\" in:\n%s", expected, out);
	free(out);
}

Test(docs, routes_match_the_document)
{
	must_pass("scripts/openapi.sh routes", "the document and the router differ");
}

/* A copy of the document changed by a jq filter; the route checker must name the drift. */
static void drift(const char *filter, const char *expected)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "f=$(mktemp) && jq '%s' ops/openapi.json >$f && "
		 "scripts/openapi.sh routes $f 2>&1; st=$?; rm -f $f; exit $st",
		 filter);
	must_catch(cmd, expected);
}

Test(docs, route_checker_catches_drift)
{
	drift("del(.paths[\"/api/me\"].get)", "GET /api/me: in the router");
	drift(".paths[\"/api/extra\"] = {get: .paths[\"/api/me\"].get}",
	      "GET /api/extra: documented but not in the router");
	drift(".paths[\"/api/notifications\"].get[\"x-pixelcraft-auth\"] = \"public\"",
	      "GET /api/notifications: auth is required in the router, public in the document");
	drift(".paths[\"/api/notifications\"].get.security = []",
	      "GET /api/notifications: security [] does not match auth required");
	drift("del(.paths[\"/api/me\"].get.responses[\"429\"])",
	      "GET /api/me: no 429 response documented");
}

Test(docs, linter_finds_no_errors)
{
	must_pass("scripts/openapi.sh lint", "redocly lint reported errors");
}

/* One made-up logged response must be rejected with `expected` in the report. */
static void bad_response(const char *line, const char *expected)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
		 "f=$(mktemp) && printf '%%s\\n' '%s' >$f && scripts/openapi.sh validate $f 2>&1; "
		 "st=$?; rm -f $f; exit $st",
		 line);
	must_catch(cmd, expected);
}

Test(docs, response_validator_catches_drift)
{
	/* a field the document does not list */
	bad_response("{\"method\":\"GET\",\"url\":\"http://127.0.0.1/health/live\",\"status\":200,"
		     "\"content_type\":\"application/json\",\"body\":\"{\\\"status\\\":\\\"alive\\\","
		     "\\\"surprise\\\":1}\"}",
		     "surprise");
	/* a status the document does not list */
	bad_response("{\"method\":\"GET\",\"url\":\"http://127.0.0.1/health/live\",\"status\":418,"
		     "\"content_type\":\"application/json\",\"body\":\"{}\"}",
		     "GET /health/live 418: status not documented");
	/* an error body that is not the error shape */
	bad_response("{\"method\":\"GET\",\"url\":\"http://127.0.0.1/api/me\",\"status\":401,"
		     "\"content_type\":\"application/json\",\"body\":\"{\\\"error\\\":\\\"no\\\"}\"}",
		     "GET /api/me 401");
}

Test(docs, integration_responses_match_the_document)
{
	const char *logs = getenv("RESPONSE_LOGS");
	char cmd[2048];

	if (logs == NULL || *logs == '\0')
		cr_skip_test("RESPONSE_LOGS not set (scripts/test.sh sets it after the integration "
			     "suites)");
	snprintf(cmd, sizeof(cmd), "scripts/openapi.sh validate %s", logs);
	must_pass(cmd, "responses differ from the document");
}
