/* Unit tests for router: literal segments win, 404/405 with Allow. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "request.h"
#include "router.h"

static int h_list(struct request *q, struct response *s) { (void)q; (void)s; return 1; }
static int h_metrics(struct request *q, struct response *s) { (void)q; (void)s; return 2; }
static int h_one(struct request *q, struct response *s) { (void)q; (void)s; return 3; }
static int h_warm(struct request *q, struct response *s) { (void)q; (void)s; return 4; }
static int h_del(struct request *q, struct response *s) { (void)q; (void)s; return 5; }
static int h_task(struct request *q, struct response *s) { (void)q; (void)s; return 6; }

/* the parameter route first, to show order does not matter */
static const struct route table[] = {
	ROUTE(HTTP_GET, "/api/models/{name}", h_one, ROUTE_PUBLIC, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_DELETE, "/api/models/{name}", h_del, ROUTE_PUBLIC, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/models", h_list, ROUTE_PUBLIC, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/models/metrics", h_metrics, ROUTE_PUBLIC, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_POST, "/api/models/warmup", h_warm, ROUTE_ADMIN, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/models/tasks/{task}", h_task, ROUTE_PUBLIC, ROUTE_LIMIT_DEFAULT),
};

static int match(enum http_method m, const char *path, const struct route **r, char *allow)
{
	static char segbuf[16][64];
	struct request req = {0};
	const char *p = path + 1;

	req.method = m;
	while (*p) {
		size_t n = strcspn(p, "/");
		snprintf(segbuf[req.nsegs], sizeof(segbuf[0]), "%.*s", (int)n, p);
		req.segs[req.nsegs] = segbuf[req.nsegs];
		req.nsegs++;
		p += n;
		if (*p == '/')
			p++;
	}
	int st = router_match_table(table, sizeof(table) / sizeof(table[0]), &req, r, allow, 128);
	if (st == 0 && req.nparams > 0)
		snprintf(allow, 128, "%s", req.params[0]);
	return st;
}

Test(router, literal_beats_parameter_whatever_the_order)
{
	const struct route *r = NULL;
	char allow[128];

	cr_assert_eq(match(HTTP_GET, "/api/models/metrics", &r, allow), 0);
	cr_assert_eq(r->handler, h_metrics);
	cr_assert_eq(match(HTTP_GET, "/api/models/mistral", &r, allow), 0);
	cr_assert_eq(r->handler, h_one);
	cr_assert_str_eq(allow, "mistral", "parameter bound");
	cr_assert_eq(match(HTTP_GET, "/api/models", &r, allow), 0);
	cr_assert_eq(r->handler, h_list);
	cr_assert_eq(match(HTTP_GET, "/api/models/tasks/chat", &r, allow), 0);
	cr_assert_eq(r->handler, h_task);
	cr_assert_eq(match(HTTP_HEAD, "/api/models/metrics", &r, allow), 0, "HEAD uses GET");
}

Test(router, not_found_and_method_not_allowed)
{
	const struct route *r = NULL;
	char allow[128];

	cr_assert_eq(match(HTTP_GET, "/api/nothing", &r, allow), 404);
	cr_assert_eq(match(HTTP_GET, "/api/models/a/b", &r, allow), 404);
	cr_assert_eq(match(HTTP_POST, "/api/models", &r, allow), 405);
	cr_assert_str_eq(allow, "GET, HEAD, OPTIONS");
	/* the literal path owns its methods: no fallback to {name} */
	cr_assert_eq(match(HTTP_GET, "/api/models/warmup", &r, allow), 405);
	cr_assert_str_eq(allow, "POST, OPTIONS");
	cr_assert_eq(match(HTTP_PUT, "/api/models/x", &r, allow), 405);
	cr_assert_str_eq(allow, "GET, HEAD, DELETE, OPTIONS");
	cr_assert_eq(match(HTTP_OPTIONS, "/api/models", &r, allow), 204);
}

Test(router, product_table_is_consistent)
{
	size_t n;
	const struct route *routes = router_routes(&n);

	cr_assert_gt(n, 0);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(routes[i].pattern[0], '/', "%s", routes[i].pattern);
		cr_assert_not_null(routes[i].handler);
		for (size_t j = i + 1; j < n; j++)
			cr_assert(routes[i].method != routes[j].method ||
					  strcmp(routes[i].pattern, routes[j].pattern) != 0,
				  "duplicate route %s", routes[i].pattern);
	}
}
