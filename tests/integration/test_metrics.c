/*
 * Integration: GET /metrics (Prometheus text) on the internal listener only,
 * with the counters of all the host's workers aggregated through Redis.
 * Workers flush at most a second after a request, so the tests poll until
 * the expected count shows, then check it is exact.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static char internal_url[96];

static void setup(void)
{
	snprintf(internal_url, sizeof(internal_url), "http://127.0.0.1:%s",
		 need_env("INTERNAL_PORT"));
}

TestSuite(metrics, .init = setup, .timeout = 90);

/* The text of one scrape; caller frees. */
static char *scrape(void)
{
	struct http *r = http_do_at(internal_url, "GET", "/metrics", NULL, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert(strncmp(http_header(r, "Content-Type"), "text/plain; version=0.0.4", 25) == 0);
	char *text = strdup(r->body);
	http_free(r);
	return text;
}

/* The value of one series ("name{labels}") in a scrape, -1 when absent. */
static long long value_in(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return atoll(p + n + 1);
	return -1;
}

static long long value(const char *series)
{
	char *text = scrape();
	long long v = value_in(text, series);
	free(text);
	return v;
}

static const char *poll_series;
static long long poll_want;
static bool poll_reached(void)
{
	return value(poll_series) >= poll_want;
}

/* Waits until series reaches want (a second behind, or a Redis reconnect), then returns it. */
static long long settle(const char *series, long long want)
{
	poll_series = series;
	poll_want = want;
	wait_until(poll_reached, 15000);
	return value(series);
}

#define MODEL_404 "pixelcraft_http_requests_total{method=\"GET\",route=\"/api/models/{name}\",status=\"404\"}"
#define MODEL_COUNT                                                                              \
	"pixelcraft_http_request_duration_seconds_count{method=\"GET\",route=\"/api/models/{name}\"}"
#define MODEL_INF                                                                                \
	"pixelcraft_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/models/"    \
	"{name}\",le=\"+Inf\"}"

Test(metrics, public_port_does_not_serve_it)
{
	struct http *r = http_get("/metrics");
	cr_assert_eq(r->status, 404, "%s", r->body);
	cr_assert_not_null(r->json, "a JSON error, not the metrics");
	cr_assert_null(strstr(r->body, "pixelcraft_"));
	http_free(r);
}

Test(metrics, counts_known_traffic_exactly)
{
	long long base = value(MODEL_404), base_count = value(MODEL_COUNT);
	if (base < 0)
		base = 0;
	if (base_count < 0)
		base_count = 0;
	for (int i = 0; i < 7; i++) {
		struct http *r = http_get("/api/models/no-such-model");
		cr_assert_eq(r->status, 404);
		http_free(r);
	}
	cr_assert_eq(settle(MODEL_404, base + 7), base + 7);
	char *text = scrape();
	cr_assert_eq(value_in(text, MODEL_COUNT), base_count + 7);
	cr_assert_eq(value_in(text, MODEL_INF), value_in(text, MODEL_COUNT));
	/* buckets are cumulative: never decreasing, the last equals the count */
	long long prev = 0;
	int buckets = 0;
	for (const char *p = strstr(text, "pixelcraft_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/models/{name}\"");
	     p != NULL; p = strstr(p + 1, "pixelcraft_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/models/{name}\"")) {
		long long v = atoll(strchr(p, ' ') + 1);
		cr_assert_geq(v, prev);
		prev = v;
		buckets++;
	}
	cr_assert_eq(buckets, 15, "14 bounds and +Inf");
	/* every family is declared once, with its type */
	cr_assert_not_null(strstr(text, "# TYPE pixelcraft_http_requests_total counter\n"));
	cr_assert_not_null(
		strstr(text, "# TYPE pixelcraft_http_request_duration_seconds histogram\n"));
	cr_assert_not_null(strstr(text, "# TYPE pixelcraft_rate_limited_total counter\n"));
	cr_assert_not_null(strstr(text, "# TYPE pixelcraft_worker_uptime_seconds gauge\n"));
	cr_assert_not_null(strstr(text, "pixelcraft_postgres_connects_total "));
	cr_assert_not_null(strstr(text, "pixelcraft_model_requests_total{model=\""));
	cr_assert_not_null(strstr(text, "pixelcraft_dependency_up{dependency=\"postgres\",pid=\""));
	cr_assert_eq(value_in(text, "pixelcraft_metrics_store_up"), 1);
	free(text);
}

Test(metrics, unmatched_paths_share_one_series)
{
	const char *series =
		"pixelcraft_http_requests_total{method=\"GET\",route=\"none\",status=\"404\"}";
	long long base = value(series);
	if (base < 0)
		base = 0;
	const char *paths[] = {"/nope/1", "/nope/2", "/api/nothing-here"};
	for (int i = 0; i < 3; i++)
		http_free(http_get(paths[i]));
	cr_assert_eq(settle(series, base + 3), base + 3);
	char *text = scrape();
	cr_assert_null(strstr(text, "/nope/"), "paths do not become labels");
	free(text);
}

Test(metrics, model_calls_counted)
{
	const char *series = "pixelcraft_model_requests_total{model=\"tinyllama\"}";
	long long base = value(series);
	struct http *r = chat_post(NULL, NULL, "{\"message\":\"metrics\"}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	http_free(r);
	cr_assert_geq(settle(series, base + 1), base + 1);
}

/* A host of its own with a tiny budget; it runs here, so its counts are this host's. */
Test(metrics, rate_limit_rejections_counted)
{
	const char *series =
		"pixelcraft_rate_limited_total{method=\"GET\",route=\"/api/models\"}";
	char dir[256];
	const char *host = host_up(0, "RATE_LIMIT_DEFAULT=2/minute", 1, 2, dir, sizeof(dir));
	long long base = value(series);
	int refused = 0;
	for (int i = 0; i < 6; i++) {
		struct http *r = http_do_at(host, "GET", "/api/models", NULL, NULL);
		refused += r->status == 429;
		http_free(r);
	}
	host_down(dir); /* a stopping worker flushes what it counted */
	cr_assert_geq(refused, 2, "a minute window holds at most 2 of 6");
	cr_assert_eq(settle(series, base + refused), base + refused);
}

/*
 * While Redis is down the scrape still answers, and nothing counted is lost.
 * The test stack's Redis keeps no data across a restart, so the counters
 * start again from what the workers held: exactly the requests made while
 * it was down.
 */
Test(metrics, redis_down_then_back)
{
	cr_assert_eq(stack("redis-stop", NULL), 0);
	for (int i = 0; i < 5; i++)
		http_free(http_get("/api/models/no-such-model"));
	char *text = scrape();
	cr_assert_eq(value_in(text, "pixelcraft_metrics_store_up"), 0, "%s", text);
	cr_assert_not_null(strstr(text, "pixelcraft_dependency_up{dependency=\"redis\",pid=\""));
	cr_assert_null(strstr(text, "pixelcraft_http_requests_total{"));
	free(text);
	cr_assert_eq(stack("redis-start", NULL), 0);
	cr_assert_eq(settle(MODEL_404, 5), 5);
}
