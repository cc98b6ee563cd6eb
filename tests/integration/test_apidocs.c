/*
 * Integration: the API documentation as the front end serves it:
 * /openapi.json is ops/openapi.json, /docs (Swagger UI) and /redoc (ReDoc)
 * come with a Content-Security-Policy that keeps them on this origin, and
 * headless Chromium renders every operation from them without any outside
 * request (tests/docs/browser.sh; in the nginx pass only, the pages being
 * the same files).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void nginx_only(void)
{
	if (strcmp(need_env("FRONT"), "nginx") != 0)
		cr_skip_test("the same pages are rendered in the nginx pass");
}

TestSuite(apidocs, .timeout = 180);

Test(apidocs, openapi_json_is_the_shipped_document)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/ops/openapi.json", need_env("PROJECT_ROOT"));
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	char *want = calloc(1, 4 << 20);
	size_t n = fread(want, 1, (4 << 20) - 1, f);
	fclose(f);
	struct http *r = http_get("/openapi.json");
	cr_assert_eq(r->status, 200);
	cr_assert(strncmp(http_header(r, "Content-Type"), "application/json", 16) == 0);
	cr_assert_eq(r->len, n);
	cr_assert(memcmp(r->body, want, n) == 0, "served document differs from ops/openapi.json");
	http_free(r);
	free(want);
}

Test(apidocs, pages_stay_on_this_origin)
{
	const char *pages[] = {"/docs", "/docs/", "/redoc", "/redoc/"};
	for (int i = 0; i < 4; i++) {
		struct http *r = http_get(pages[i]);
		cr_assert_eq(r->status, 200, "%s", pages[i]);
		cr_assert(strncmp(http_header(r, "Content-Type"), "text/html", 9) == 0);
		const char *csp = http_header(r, "Content-Security-Policy");
		cr_assert_not_null(csp, "%s", pages[i]);
		cr_assert_not_null(strstr(csp, "default-src 'self'"), "%s", csp);
		cr_assert_null(strstr(r->body, "://"), "%s links outside: %s", pages[i], r->body);
		http_free(r);
	}
	struct http *r = http_get("/docs/swagger-ui-bundle.js");
	cr_assert_eq(r->status, 200);
	cr_assert(strncmp(http_header(r, "Content-Type"), "text/javascript", 15) == 0);
	http_free(r);
}

Test(apidocs, chromium_renders_every_operation_offline)
{
	nginx_only();
	char cmd[1024];
	int st;
	snprintf(cmd, sizeof(cmd), "%s/tests/docs/browser.sh %s 2>&1", need_env("PROJECT_ROOT"),
		 need_env("BASE_URL"));
	char *out = run_capture(cmd, &st);
	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n"))
		cr_log_info("%s", line);
	cr_assert_eq(st, 0, "browser check failed (see the lines above)");
	free(out);
}
