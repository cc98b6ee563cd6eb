/*
 * Integration: the analytics API against a small fixture with hand-computed
 * answers. The fixture lives in two weeks of 2024 that no other suite
 * touches (Monday 2024-01-29 to Sunday 2024-02-11: a month boundary and two
 * ISO weeks), so even an admin's view of "everything" in that range is
 * exactly the fixture. Users A and B own some rows each; some rows belong to
 * nobody (admins only), one lead and one conversation are deleted, and a few
 * rows lie just outside the range. Every expected number below is worked out
 * by hand from the rows in an_fixture().
 *
 * The test that stops Redis checks the cache first, so no other test of
 * this suite depends on Redis.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define UA "aaaaaaaa-0000-4000-8000-000000000001"
#define UB "bbbbbbbb-0000-4000-8000-000000000002"
#define UADM "adadadad-0000-4000-8000-000000000003"
#define ID(n) "a0000000-0000-4000-8000-000000000" #n
#define P1 ID(101)
#define P2 ID(102)

/* the fixture's range: 14 days, the end date inclusive */
#define RANGE "start_date=2024-01-29&end_date=2024-02-11"

static const char *const an_days[14] = {
	"2024-01-29", "2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02",
	"2024-02-03", "2024-02-04", "2024-02-05", "2024-02-06", "2024-02-07",
	"2024-02-08", "2024-02-09", "2024-02-10", "2024-02-11"};
static const char *const an_weeks[2] = {"2024-01-29", "2024-02-05"};

/* ---- the fixture ---------------------------------------------------------- */

static const char an_fixture_people[] =
	"BEGIN;"
	"INSERT INTO user_profiles (user_id, role) VALUES ('" UADM "', 'admin')"
	" ON CONFLICT (user_id) DO UPDATE SET role = 'admin';"
	"INSERT INTO pricing_packages (id, name, price_monthly, price_yearly) VALUES"
	" ('" P1 "', 'Analytics test Starter', 99, 990), ('" P2 "', 'Analytics test Pro', 299, 2990)"
	" ON CONFLICT DO NOTHING;"
	/* L1-L7 in range (L8 deleted, L9 and L10 just outside) */
	"INSERT INTO leads (id, user_id, email, lead_status, lead_score, created_at, deleted_at)"
	" VALUES"
	" ('" ID(201) "', '" UA "', 'l1@an.test', 'new', 10, '2024-01-29T10:00:00Z', NULL),"
	" ('" ID(202) "', '" UA "', 'l2@an.test', 'qualified', 80, '2024-01-31T23:59:59Z', NULL),"
	" ('" ID(203) "', '" UA "', 'l3@an.test', 'customer', 90, '2024-02-01T00:00:00Z', NULL),"
	" ('" ID(204) "', '" UB "', 'l4@an.test', 'contacted', 40, '2024-02-01T00:30:00+01:00', NULL),"
	" ('" ID(205) "', '" UB "', 'l5@an.test', 'opportunity', NULL, '2024-02-04T23:59:59Z', NULL),"
	" ('" ID(206) "', '" UB "', 'l6@an.test', 'lost', 20, '2024-02-05T00:00:00Z', NULL),"
	" ('" ID(207) "', NULL, 'l7@an.test', 'qualified', 60, '2024-02-10T12:00:00Z', NULL),"
	" ('" ID(208) "', '" UA "', 'l8@an.test', 'qualified', 70, '2024-02-06T09:00:00Z',"
	"  '2024-02-07T00:00:00Z'),"
	" ('" ID(209) "', '" UA "', 'l9@an.test', 'new', 50, '2024-02-12T00:00:00Z', NULL),"
	" ('" ID(210) "', '" UA "', 'l10@an.test', 'new', 30, '2024-01-28T23:59:59Z', NULL)"
	" ON CONFLICT DO NOTHING;"
	/* S6 and S7 were created before the range */
	"INSERT INTO user_subscriptions (id, user_id, package_id, status, billing_cycle,"
	" original_price, discount_amount, final_price, start_date, end_date, created_at,"
	" updated_at) VALUES"
	" ('" ID(301) "', '" UA "', '" P1 "', 'active', 'monthly', 99, 0, 99,"
	"  '2024-01-29T12:00Z', NULL, '2024-01-29T12:00Z', '2024-01-29T12:00Z'),"
	" ('" ID(302) "', '" UA "', '" P2 "', 'active', 'yearly', 2990, 299, 2691,"
	"  '2024-02-01T08:00Z', NULL, '2024-02-01T08:00Z', '2024-02-01T08:00Z'),"
	" ('" ID(303) "', '" UB "', '" P1 "', 'cancelled', 'monthly', 99, 0, 99,"
	"  '2024-01-30T00:00Z', '2024-02-06T10:00Z', '2024-01-30T00:00Z', '2024-02-06T10:00Z'),"
	" ('" ID(304) "', '" UB "', '" P2 "', 'pending', 'monthly', 299, 0, 299,"
	"  '2024-02-07T10:00Z', NULL, '2024-02-07T10:00Z', '2024-02-07T10:00Z'),"
	" ('" ID(305) "', '" UB "', '" P2 "', 'active', 'monthly', 299, 29.90, 269.10,"
	"  '2024-02-05T00:00Z', NULL, '2024-02-05T00:00Z', '2024-02-05T00:00Z'),"
	" ('" ID(306) "', '" UA "', '" P1 "', 'cancelled', 'monthly', 99, 0, 99,"
	"  '2024-01-15T00:00Z', '2024-01-31T12:00Z', '2024-01-15T00:00Z', '2024-01-31T12:00Z'),"
	" ('" ID(307) "', '" UB "', '" P2 "', 'active', 'monthly', 299, 0, 299,"
	"  '2024-01-10T00:00Z', NULL, '2024-01-10T00:00Z', '2024-01-10T00:00Z'),"
	" ('" ID(308) "', '" UA "', '" P1 "', 'expired', 'monthly', 99, 0, 99,"
	"  '2024-02-08T00:00Z', '2024-02-10T00:00Z', '2024-02-08T00:00Z', '2024-02-10T00:00Z')"
	" ON CONFLICT DO NOTHING;"
	"COMMIT;";

static const char an_fixture_chat[] =
	"BEGIN;"
	/* C1-C5 in range (C5 anonymous), C6 deleted, C7 just outside */
	"INSERT INTO conversations (id, user_id, title, channel, status, created_at, updated_at,"
	" deleted_at) SELECT id::uuid, user_id::uuid, title, channel, status, t::timestamptz,"
	" t::timestamptz, deleted_at::timestamptz FROM (VALUES"
	" ('" ID(401) "', '" UA "', 'c1', 'chat', 'active', '2024-01-29T10:00Z', NULL),"
	" ('" ID(402) "', '" UA "', 'c2', 'chat', 'completed', '2024-01-31T23:00Z', NULL),"
	" ('" ID(403) "', '" UB "', 'c3', 'widget', 'completed', '2024-02-01T01:00Z', NULL),"
	" ('" ID(404) "', '" UB "', 'c4', 'chat', 'archived', '2024-02-05T00:00Z', NULL),"
	" ('" ID(405) "', NULL, 'c5', 'widget', 'active', '2024-02-09T00:00Z', NULL),"
	" ('" ID(406) "', '" UA "', 'c6', 'chat', 'completed', '2024-02-06T00:00Z', '2024-02-07Z'),"
	" ('" ID(407) "', '" UA "', 'c7', 'chat', 'active', '2024-02-12T00:00Z', NULL))"
	" AS v(id, user_id, title, channel, status, t, deleted_at)"
	" ON CONFLICT DO NOTHING;"
	/* messages: C1 2, C2 4, C3 3, C4 2, C5 none, C6 2, C7 1 */
	"INSERT INTO messages (id, conversation_id, role, content, created_at)"
	" SELECT md5('analytics-test-message-' || v.id || '-' || k)::uuid, c.id,"
	" CASE k % 2 WHEN 1 THEN 'user' ELSE 'assistant' END, 'message ' || k,"
	" c.created_at + k * interval '1 second'"
	" FROM (VALUES ('" ID(401) "', 2), ('" ID(402) "', 4), ('" ID(403) "', 3),"
	"  ('" ID(404) "', 2), ('" ID(406) "', 2), ('" ID(407) "', 1)) AS v(id, n)"
	" JOIN conversations c ON c.id = v.id::uuid, generate_series(1, v.n) AS k"
	" ON CONFLICT DO NOTHING;"
	/* R1-R8 in range (R6's lead is deleted; R8 is A's lead and B's
	 * conversation), R9 just outside */
	"INSERT INTO service_recommendations (id, lead_id, conversation_id, service_name,"
	" confidence, status, created_at) VALUES"
	" ('" ID(601) "', '" ID(201) "', NULL, 'Web Development', 0.90, 'accepted', '2024-01-30Z'),"
	" ('" ID(602) "', '" ID(202) "', NULL, 'Web Development', 0.70, 'suggested', '2024-02-02Z'),"
	" ('" ID(603) "', '" ID(204) "', NULL, 'SEO Optimization', 0.80, 'accepted', '2024-02-03Z'),"
	" ('" ID(604) "', NULL, '" ID(403) "', 'Web Development', 0.50, 'rejected', '2024-02-06Z'),"
	" ('" ID(605) "', NULL, '" ID(401) "', 'SEO Optimization', 0.65, 'accepted', '2024-02-07Z'),"
	" ('" ID(606) "', '" ID(208) "', NULL, 'Web Development', 1.00, 'accepted', '2024-02-07Z'),"
	" ('" ID(607) "', '" ID(207) "', NULL, 'Brand Design', 0.55, 'accepted', '2024-02-08Z'),"
	" ('" ID(608) "', '" ID(203) "', '" ID(403) "', 'Brand Design', 0.35, 'suggested',"
	"  '2024-02-09Z'),"
	" ('" ID(609) "', '" ID(201) "', NULL, 'Web Development', 0.99, 'accepted',"
	"  '2024-02-12T00:00:00Z')"
	" ON CONFLICT DO NOTHING;"
	"COMMIT;";

/* identity-keyed tables: once, under a lock (the last step: its rows mark
 * the fixture as loaded) */
static const char an_fixture_logs[] =
	"BEGIN; SELECT pg_advisory_xact_lock(60061);"
	"INSERT INTO agent_logs (agent_type, action, status, latency_ms, created_at)"
	" SELECT * FROM (VALUES"
	" ('chat', 'analytics-fixture', 'success', 100, '2024-01-29T10:00Z'::timestamptz),"
	" ('chat', 'analytics-fixture', 'error', 300, '2024-01-29T11:00Z'),"
	" ('chat', 'analytics-fixture', 'success', 200, '2024-02-05T10:00Z'),"
	" ('lead_qualifier', 'analytics-fixture', 'success', 400, '2024-02-01T00:00Z'),"
	" ('lead_qualifier', 'analytics-fixture', 'partial', 600, '2024-02-10T00:00Z'),"
	" ('recommender', 'analytics-fixture', 'error', 1000, '2024-02-11T23:59:59Z'),"
	" ('chat', 'analytics-fixture', 'success', 50, '2024-02-12T00:00:00Z')) AS v"
	" WHERE NOT EXISTS (SELECT 1 FROM agent_logs WHERE action = 'analytics-fixture');"
	"INSERT INTO model_metrics (model_name, task_type, status, latency_ms, tokens_in, tokens_out,"
	" error, created_at) SELECT * FROM (VALUES"
	" ('tinyllama', 'analytics-fixture', 'success', 100, 10, 20, NULL, '2024-01-30Z'::timestamptz),"
	" ('tinyllama', 'analytics-fixture', 'success', 200, 5, 5, NULL, '2024-02-02Z'),"
	" ('tinyllama', 'analytics-fixture', 'error', 1000, 0, 0, 'timeout', '2024-02-03Z'),"
	" ('mistral', 'analytics-fixture', 'success', 500, 100, 200, NULL, '2024-02-10Z'),"
	" ('mistral', 'analytics-fixture', 'success', 700, 1, 1, NULL, '2024-02-12T00:00:00Z')) AS v"
	" WHERE NOT EXISTS (SELECT 1 FROM model_metrics WHERE task_type = 'analytics-fixture');"
	"COMMIT;";

/* Runs SQL as the superuser through a file of its own (sql() shares one
 * file between tests, which parallel tests must not). */
static void an_psql(const char *stmt)
{
	char file[] = "/tmp/pixelcraft-analytics.XXXXXX", cmd[1024];
	int st, fd = mkstemp(file);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, stmt, strlen(stmt)), (ssize_t)strlen(stmt));
	close(fd);
	snprintf(cmd, sizeof(cmd), "%s/scripts/stack.sh psql %s -At -f - < %s 2>&1",
		 need_env("PROJECT_ROOT"), need_env("STACK_DIR"), file);
	char *out = run_capture(cmd, &st);
	unlink(file);
	cr_assert_eq(st, 0, "psql failed: %s", out);
	free(out);
}

/* Loads the fixture unless a previous test (or run) did. */
static void an_fixture(void)
{
	char *n = sql("SELECT count(*) FROM model_metrics WHERE task_type = 'analytics-fixture'");
	bool loaded = strcmp(n, "5") == 0;

	free(n);
	if (loaded)
		return;
	an_psql(an_fixture_people);
	an_psql(an_fixture_chat);
	an_psql(an_fixture_logs);
}

TestSuite(analytics, .init = an_fixture, .timeout = 120);

/* ---- helpers -------------------------------------------------------------- */

/* GET /api/analytics/<path> with token (NULL: none). */
static struct http *an_get(const char *token, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static struct http *an_get(const char *token, const char *fmt, ...)
{
	char path[2048];
	const char *h[] = {token ? bearer(0, token) : NULL, NULL};
	va_list ap;
	int n = snprintf(path, sizeof(path), "/api/analytics/");

	va_start(ap, fmt);
	vsnprintf(path + n, sizeof(path) - (size_t)n, fmt, ap);
	va_end(ap);
	return http_do("GET", path, NULL, h);
}

/* Asserts a 200 whose body is exactly `want`. */
static void an_expect(const char *token, const char *want, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void an_expect(const char *token, const char *want, const char *fmt, ...)
{
	char path[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	struct http *r = an_get(token, "%s", path);
	cr_assert_eq(r->status, 200, "%s: %ld %s", path, r->status, r->body);
	cr_assert_str_eq(r->body, want, "%s:\n got  %s\n want %s", path, r->body, want);
	http_free(r);
}

/* JSON text of a value, compact (number texts are kept as sent). */
static const char *an_text(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* A {"date","value","label"} series: n periods with values (as JSON text). */
static char *an_series(const char *const *dates, int n, const char *const *values)
{
	static char buf[8192];
	size_t len = (size_t)snprintf(buf, sizeof(buf), "[");

	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
					"%s{\"date\":\"%s\",\"value\":%s,\"label\":null}", i ? "," : "",
					dates[i], values[i]);
	snprintf(buf + len, sizeof(buf) - len, "]");
	return buf;
}

/* The series object of a trends route. */
static char *an_trend(const char *metric, const char *aggregation, const char *const *dates,
		      int n, const char *const *values)
{
	static char buf[9000];
	snprintf(buf, sizeof(buf), "{\"metric_name\":\"%s\",\"aggregation\":\"%s\",\"data\":%s}",
		 metric, aggregation, an_series(dates, n, values));
	return buf;
}

/* Subscription trend rows: n periods, each "new,cancelled,cumulative". */
static char *an_subs(const char *aggregation, const char *const *dates, int n,
		     const int (*rows)[3])
{
	static char buf[8192];
	size_t len = (size_t)snprintf(buf, sizeof(buf), "{\"aggregation\":\"%s\",\"data\":[",
				      aggregation);

	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
					"%s{\"period\":\"%s\",\"new_subscriptions\":%d,"
					"\"cancelled_subscriptions\":%d,\"net_change\":%d,"
					"\"cumulative_active\":%d}",
					i ? "," : "", dates[i], rows[i][0], rows[i][1],
					rows[i][0] - rows[i][1], rows[i][2]);
	snprintf(buf + len, sizeof(buf) - len, "]}");
	return buf;
}

struct an_tokens {
	char *admin, *a, *b;
};

static struct an_tokens an_tokens(void)
{
	struct an_tokens t = {user_token(UADM, NULL, 600), user_token(UA, NULL, 600),
			      user_token(UB, NULL, 600)};
	return t;
}

static void an_tokens_free(struct an_tokens *t)
{
	free(t->admin);
	free(t->a);
	free(t->b);
}

/* ---- summaries -------------------------------------------------------------- */

Test(analytics, summaries_for_an_admin_and_for_each_user)
{
	struct an_tokens t = an_tokens();

	/* leads: 7 in range (deleted L8 and L9/L10 outside are not), qualified =
	 * qualified, opportunity or customer; L5 has no score */
	an_expect(t.admin,
		  "{\"total_leads\":7,\"qualified_leads\":4,\"conversion_rate\":57.14,"
		  "\"avg_lead_score\":50.00}",
		  "leads/summary?" RANGE);
	an_expect(t.a,
		  "{\"total_leads\":3,\"qualified_leads\":2,\"conversion_rate\":66.67,"
		  "\"avg_lead_score\":60.00}",
		  "leads/summary?" RANGE);
	an_expect(t.b,
		  "{\"total_leads\":3,\"qualified_leads\":1,\"conversion_rate\":33.33,"
		  "\"avg_lead_score\":30.00}",
		  "leads/summary?" RANGE);

	/* revenue: S1 S2 S3 S4 S5 S8 created in range; mrr = 99 + 2691/12 +
	 * 269.10; pending S4 is not revenue */
	an_expect(t.admin,
		  "{\"mrr\":\"592.35\",\"arr\":\"7108.20\",\"total_revenue\":\"3257.10\","
		  "\"active_subscriptions\":3,\"cancelled_subscriptions\":1,\"churn_rate\":25.00}",
		  "revenue/summary?" RANGE);
	an_expect(t.a,
		  "{\"mrr\":\"323.25\",\"arr\":\"3879.00\",\"total_revenue\":\"2889.00\","
		  "\"active_subscriptions\":2,\"cancelled_subscriptions\":0,\"churn_rate\":0.00}",
		  "revenue/summary?" RANGE);
	an_expect(t.b,
		  "{\"mrr\":\"269.10\",\"arr\":\"3229.20\",\"total_revenue\":\"368.10\","
		  "\"active_subscriptions\":1,\"cancelled_subscriptions\":1,\"churn_rate\":50.00}",
		  "revenue/summary?" RANGE);

	/* conversations: C1-C5 with 2+4+3+2+0 messages */
	an_expect(t.admin,
		  "{\"total_conversations\":5,\"avg_messages_per_conversation\":2.20,"
		  "\"active_conversations\":2,\"completed_conversations\":2}",
		  "conversations/summary?" RANGE);
	an_expect(t.a,
		  "{\"total_conversations\":2,\"avg_messages_per_conversation\":3.00,"
		  "\"active_conversations\":1,\"completed_conversations\":1}",
		  "conversations/summary?" RANGE);
	an_expect(t.b,
		  "{\"total_conversations\":2,\"avg_messages_per_conversation\":2.50,"
		  "\"active_conversations\":0,\"completed_conversations\":1}",
		  "conversations/summary?" RANGE);

	/* agents and models: admins only */
	an_expect(t.admin,
		  "[{\"agent_type\":\"chat\",\"total_actions\":3,\"success_rate\":66.67,"
		  "\"avg_execution_time\":200.00,\"error_rate\":33.33},"
		  "{\"agent_type\":\"lead_qualifier\",\"total_actions\":2,\"success_rate\":50.00,"
		  "\"avg_execution_time\":500.00,\"error_rate\":0.00},"
		  "{\"agent_type\":\"recommender\",\"total_actions\":1,\"success_rate\":0.00,"
		  "\"avg_execution_time\":1000.00,\"error_rate\":100.00}]",
		  "agents/summary?" RANGE);
	an_expect(t.admin,
		  "[{\"model_name\":\"mistral\",\"total_requests\":1,\"success_rate\":100.00,"
		  "\"avg_latency_ms\":500.00,\"p95_latency_ms\":500,\"total_tokens\":300,"
		  "\"error_count\":0},"
		  "{\"model_name\":\"tinyllama\",\"total_requests\":3,\"success_rate\":66.67,"
		  "\"avg_latency_ms\":433.33,\"p95_latency_ms\":1000,\"total_tokens\":40,"
		  "\"error_count\":1}]",
		  "models/metrics?" RANGE);
	an_tokens_free(&t);
}

Test(analytics, service_recommendations_belong_to_lead_or_conversation_owners)
{
	struct an_tokens t = an_tokens();

	an_expect(t.admin,
		  "[{\"service_name\":\"Web Development\",\"total_recommendations\":3,"
		  "\"accepted_count\":1,\"acceptance_rate\":33.33,\"avg_confidence\":0.70},"
		  "{\"service_name\":\"Brand Design\",\"total_recommendations\":2,"
		  "\"accepted_count\":1,\"acceptance_rate\":50.00,\"avg_confidence\":0.45},"
		  "{\"service_name\":\"SEO Optimization\",\"total_recommendations\":2,"
		  "\"accepted_count\":2,\"acceptance_rate\":100.00,\"avg_confidence\":0.73}]",
		  "services/recommendations?" RANGE);
	/* A: R1 R2 (A's leads), R5 (A's conversation), R8 (A's lead) */
	an_expect(t.a,
		  "[{\"service_name\":\"Web Development\",\"total_recommendations\":2,"
		  "\"accepted_count\":1,\"acceptance_rate\":50.00,\"avg_confidence\":0.80},"
		  "{\"service_name\":\"Brand Design\",\"total_recommendations\":1,"
		  "\"accepted_count\":0,\"acceptance_rate\":0.00,\"avg_confidence\":0.35},"
		  "{\"service_name\":\"SEO Optimization\",\"total_recommendations\":1,"
		  "\"accepted_count\":1,\"acceptance_rate\":100.00,\"avg_confidence\":0.65}]",
		  "services/recommendations?" RANGE);
	/* B: R3 (B's lead), R4 and R8 (B's conversation) */
	an_expect(t.b,
		  "[{\"service_name\":\"Brand Design\",\"total_recommendations\":1,"
		  "\"accepted_count\":0,\"acceptance_rate\":0.00,\"avg_confidence\":0.35},"
		  "{\"service_name\":\"SEO Optimization\",\"total_recommendations\":1,"
		  "\"accepted_count\":1,\"acceptance_rate\":100.00,\"avg_confidence\":0.80},"
		  "{\"service_name\":\"Web Development\",\"total_recommendations\":1,"
		  "\"accepted_count\":0,\"acceptance_rate\":0.00,\"avg_confidence\":0.50}]",
		  "services/recommendations?" RANGE);
	an_tokens_free(&t);
}

/* ---- time series ------------------------------------------------------------ */

Test(analytics, daily_series_across_a_month_boundary)
{
	struct an_tokens t = an_tokens();

	/* Jan 31 23:59:59 and Feb 1 00:30+01:00 are Jan 31 in UTC; Feb 1
	 * 00:00:00 is Feb 1; Feb 11 23:59:59 is in (the end date is a whole
	 * day), Feb 12 00:00 is not */
	const char *all[14] = {"1", "0", "2", "1", "0", "0", "1", "1", "0", "0", "0", "0", "1", "0"};
	an_expect(t.admin, an_trend("lead_creation_trends", "daily", an_days, 14, all),
		  "leads/trends?" RANGE "&aggregation=daily");
	const char *a[14] = {"1", "0", "1", "1", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0"};
	an_expect(t.a, an_trend("lead_creation_trends", "daily", an_days, 14, a),
		  "leads/trends?" RANGE);
	const char *b[14] = {"0", "0", "1", "0", "0", "0", "1", "1", "0", "0", "0", "0", "0", "0"};
	an_expect(t.b, an_trend("lead_creation_trends", "daily", an_days, 14, b),
		  "leads/trends?" RANGE);

	const char *conv[14] = {"1", "0", "1", "1", "0", "0", "0", "1", "0", "0", "0", "1", "0", "0"};
	an_expect(t.admin, an_trend("conversation_trends", "daily", an_days, 14, conv),
		  "conversations/trends?" RANGE);
	const char *widget[14] = {"0", "0", "0", "1", "0", "0", "0", "0", "0", "0", "0", "1", "0", "0"};
	an_expect(t.admin, an_trend("conversation_trends", "daily", an_days, 14, widget),
		  "conversations/trends?" RANGE "&channel=widget");
	const char *conv_a[14] = {"1", "0", "1", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0"};
	an_expect(t.a, an_trend("conversation_trends", "daily", an_days, 14, conv_a),
		  "conversations/trends?" RANGE);

	/* success rate per day; days without actions are 0.00 */
	const char *ag[14] = {"50.00", "0.00", "0.00", "100.00", "0.00", "0.00", "0.00",
			      "100.00", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"};
	an_expect(t.admin, an_trend("agent_success_rate_trends", "daily", an_days, 14, ag),
		  "agents/trends?" RANGE);

	/* subscriptions: 2 before the range (S6 cancelled on Jan 31, S7) */
	static const int subs[14][3] = {{1, 0, 3}, {1, 0, 4}, {0, 1, 3}, {1, 0, 4}, {0, 0, 4},
					{0, 0, 4}, {0, 0, 4}, {1, 0, 5}, {0, 1, 4}, {1, 0, 5},
					{1, 0, 6}, {0, 0, 6}, {0, 0, 6}, {0, 0, 6}};
	an_expect(t.admin, an_subs("daily", an_days, 14, subs),
		  "revenue/subscription-trends?" RANGE);
	an_tokens_free(&t);
}

Test(analytics, weekly_series_are_iso_weeks_from_monday)
{
	struct an_tokens t = an_tokens();

	/* Sunday Feb 4 23:59:59 is the first week, Monday Feb 5 00:00 the second */
	const char *all[2] = {"5", "2"};
	an_expect(t.admin, an_trend("lead_creation_trends", "weekly", an_weeks, 2, all),
		  "leads/trends?" RANGE "&aggregation=weekly");
	const char *a[2] = {"3", "0"}, *b[2] = {"2", "1"};
	an_expect(t.a, an_trend("lead_creation_trends", "weekly", an_weeks, 2, a),
		  "leads/trends?" RANGE "&aggregation=weekly");
	an_expect(t.b, an_trend("lead_creation_trends", "weekly", an_weeks, 2, b),
		  "leads/trends?" RANGE "&aggregation=weekly");
	/* a range starting on a Wednesday: its first week is still labelled by
	 * its Monday, and counts from the start only */
	const char *mid[2] = {"4", "1"};
	an_expect(t.admin, an_trend("lead_creation_trends", "weekly", an_weeks, 2, mid),
		  "leads/trends?start_date=2024-01-31&end_date=2024-02-06&aggregation=weekly");

	const char *conv[2] = {"3", "2"}, *completed[2] = {"2", "0"};
	an_expect(t.admin, an_trend("conversation_trends", "weekly", an_weeks, 2, conv),
		  "conversations/trends?" RANGE "&aggregation=weekly");
	an_expect(t.admin, an_trend("conversation_trends", "weekly", an_weeks, 2, completed),
		  "conversations/trends?" RANGE "&aggregation=weekly&status=completed");

	const char *ag[2] = {"66.67", "33.33"}, *chat[2] = {"50.00", "100.00"};
	an_expect(t.admin, an_trend("agent_success_rate_trends", "weekly", an_weeks, 2, ag),
		  "agents/trends?" RANGE "&aggregation=weekly");
	an_expect(t.admin, an_trend("agent_success_rate_trends", "weekly", an_weeks, 2, chat),
		  "agents/trends?" RANGE "&aggregation=weekly&agent_type=chat");

	static const int subs[2][3] = {{3, 1, 4}, {3, 1, 6}};
	an_expect(t.admin, an_subs("weekly", an_weeks, 2, subs),
		  "revenue/subscription-trends?" RANGE "&aggregation=weekly");
	static const int subs_a[2][3] = {{2, 1, 2}, {1, 0, 3}};
	an_expect(t.a, an_subs("weekly", an_weeks, 2, subs_a),
		  "revenue/subscription-trends?" RANGE "&aggregation=weekly");
	static const int subs_b[2][3] = {{1, 0, 2}, {2, 1, 3}};
	an_expect(t.b, an_subs("weekly", an_weeks, 2, subs_b),
		  "revenue/subscription-trends?" RANGE "&aggregation=weekly");
	an_tokens_free(&t);
}

/* ---- revenue per package and customer ---------------------------------------- */

/* The entry of package id in a by-package answer, or NULL. */
static struct json_object *an_package(struct json_object *list, const char *id, int *index)
{
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *p = json_object_array_get_idx(list, i);
		if (strcmp(json_str(p, "package_id"), id) == 0) {
			*index = (int)i;
			return p;
		}
	}
	return NULL;
}

static void an_by_package(const char *token, const char *p1, const char *p2, bool p2_first)
{
	struct http *r = an_get(token, "revenue/by-package?" RANGE);
	int i1 = -1, i2 = -1;

	cr_assert_eq(r->status, 200, "%s", r->body);
	struct json_object *a = an_package(r->json, P1, &i1), *b = an_package(r->json, P2, &i2);
	cr_assert_not_null(a, "%s", r->body);
	cr_assert_not_null(b, "%s", r->body);
	cr_assert_str_eq(an_text(a), p1);
	cr_assert_str_eq(an_text(b), p2);
	cr_assert_eq(i2 < i1, p2_first, "ordered by revenue: %s", r->body);
	/* any other (active) package has nothing in this range */
	for (size_t i = 0; i < json_object_array_length(r->json); i++) {
		if ((int)i == i1 || (int)i == i2)
			continue;
		struct json_object *o = json_object_array_get_idx(r->json, i);
		cr_assert_str_eq(json_str(o, "total_revenue"), "0.00", "%s", r->body);
	}
	http_free(r);
}

Test(analytics, revenue_by_package_and_customer_ltv)
{
	struct an_tokens t = an_tokens();

	an_by_package(t.admin,
		      "{\"package_id\":\"" P1 "\",\"package_name\":\"Analytics test Starter\","
		      "\"subscription_count\":3,\"total_revenue\":\"297.00\","
		      "\"avg_revenue_per_subscription\":\"99.00\"}",
		      "{\"package_id\":\"" P2 "\",\"package_name\":\"Analytics test Pro\","
		      "\"subscription_count\":2,\"total_revenue\":\"2960.10\","
		      "\"avg_revenue_per_subscription\":\"1480.05\"}",
		      true);
	an_by_package(t.a,
		      "{\"package_id\":\"" P1 "\",\"package_name\":\"Analytics test Starter\","
		      "\"subscription_count\":2,\"total_revenue\":\"198.00\","
		      "\"avg_revenue_per_subscription\":\"99.00\"}",
		      "{\"package_id\":\"" P2 "\",\"package_name\":\"Analytics test Pro\","
		      "\"subscription_count\":1,\"total_revenue\":\"2691.00\","
		      "\"avg_revenue_per_subscription\":\"2691.00\"}",
		      true);
	an_by_package(t.b,
		      "{\"package_id\":\"" P1 "\",\"package_name\":\"Analytics test Starter\","
		      "\"subscription_count\":1,\"total_revenue\":\"99.00\","
		      "\"avg_revenue_per_subscription\":\"99.00\"}",
		      "{\"package_id\":\"" P2 "\",\"package_name\":\"Analytics test Pro\","
		      "\"subscription_count\":1,\"total_revenue\":\"269.10\","
		      "\"avg_revenue_per_subscription\":\"269.10\"}",
		      true);

	/* LTV: lifetime from the first start to the last end (an open one
	 * counts up to the range's end, Feb 12 00:00) in 30-day months;
	 * estimated = spent + 12 x the active subscriptions' monthly value */
#define LTV_A                                                                                      \
	"{\"user_id\":\"" UA "\",\"total_spent\":\"2889.00\",\"subscription_count\":3,"             \
	"\"avg_subscription_value\":\"963.00\",\"lifetime_months\":0.45,"                           \
	"\"estimated_ltv\":\"6768.00\"}"
#define LTV_B                                                                                      \
	"{\"user_id\":\"" UB "\",\"total_spent\":\"368.10\",\"subscription_count\":2,"              \
	"\"avg_subscription_value\":\"184.05\",\"lifetime_months\":0.43,"                           \
	"\"estimated_ltv\":\"3597.30\"}"
	struct http *r = an_get(t.admin, "revenue/customer-ltv?" RANGE);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(r->body, "[" LTV_A "," LTV_B "]");
	cr_assert_str_eq(http_header(r, "X-Total-Count"), "2");
	http_free(r);
	r = an_get(t.admin, "revenue/customer-ltv?" RANGE "&limit=1&offset=1");
	cr_assert_str_eq(r->body, "[" LTV_B "]");
	cr_assert_str_eq(http_header(r, "X-Total-Count"), "2");
	http_free(r);
	r = an_get(t.admin, "revenue/customer-ltv?" RANGE "&offset=5");
	cr_assert_eq(r->status, 200, "an offset past the end is an empty page, not an error");
	cr_assert_str_eq(r->body, "[]");
	http_free(r);
	an_expect(t.a, "[" LTV_A "]", "revenue/customer-ltv?" RANGE);
	an_expect(t.b, "[" LTV_B "]", "revenue/customer-ltv?" RANGE);
	an_tokens_free(&t);
}

/* ---- lists ------------------------------------------------------------------ */

/* Asserts the list's total and the ids of its items in order. */
static void an_list(const char *token, const char *path, int total, const char *const *ids,
		    int n)
{
	struct http *r = an_get(token, "%s", path);

	cr_assert_eq(r->status, 200, "%s: %s", path, r->body);
	cr_assert_eq(json_object_get_int(json_at(r->json, "total")), total, "%s: %s", path, r->body);
	struct json_object *items = json_at(r->json, "items");
	cr_assert_eq((int)json_object_array_length(items), n, "%s: %s", path, r->body);
	for (int i = 0; i < n; i++) {
		char p[32];
		snprintf(p, sizeof(p), "%d.id", i);
		cr_assert_str_eq(json_str(items, p), ids[i], "%s item %d: %s", path, i, r->body);
	}
	http_free(r);
}

Test(analytics, lists_with_filters_and_pages)
{
	struct an_tokens t = an_tokens();

	/* subscriptions created in range, newest first */
	const char *subs[] = {ID(308), ID(304), ID(305), ID(302), ID(303), ID(301)};
	an_list(t.admin, "revenue/subscriptions/list?" RANGE, 6, subs, 6);
	an_list(t.admin, "revenue/subscriptions/list?" RANGE "&limit=2&offset=1", 6, subs + 1, 2);
	const char *active[] = {ID(305), ID(302), ID(301)};
	an_list(t.admin, "revenue/subscriptions/list?" RANGE "&status=active", 3, active, 3);
	const char *pro[] = {ID(304), ID(305), ID(302)};
	an_list(t.admin, "revenue/subscriptions/list?" RANGE "&package_id=" P2, 3, pro, 3);
	const char *of_b[] = {ID(304), ID(305), ID(303)};
	an_list(t.b, "revenue/subscriptions/list?" RANGE, 3, of_b, 3);
	an_list(t.b, "revenue/subscriptions/list?" RANGE "&status=cancelled", 1, of_b + 2, 1);
	/* one item in full: money as strings, timestamps with zone */
	struct http *r = an_get(t.b, "revenue/subscriptions/list?" RANGE "&limit=1&offset=1");
	cr_assert_str_eq(an_text(json_at(r->json, "items.0")),
			 "{\"id\":\"" ID(305) "\",\"user_id\":\"" UB "\",\"package_id\":\"" P2 "\","
			 "\"package_name\":\"Analytics test Pro\",\"status\":\"active\","
			 "\"billing_cycle\":\"monthly\",\"original_price\":\"299.00\","
			 "\"discount_amount\":\"29.90\",\"final_price\":\"269.10\","
			 "\"start_date\":\"2024-02-05T00:00:00+00:00\",\"end_date\":null,"
			 "\"created_at\":\"2024-02-05T00:00:00+00:00\","
			 "\"updated_at\":\"2024-02-05T00:00:00+00:00\"}");
	http_free(r);

	/* conversations: not the deleted one, newest first */
	const char *conv[] = {ID(405), ID(404), ID(403), ID(402), ID(401)};
	an_list(t.admin, "conversations/list?" RANGE, 5, conv, 5);
	an_list(t.a, "conversations/list?" RANGE, 2, conv + 3, 2);
	an_list(t.admin, "conversations/list?" RANGE "&status=active&channel=chat", 1, conv + 4, 1);
	r = an_get(t.a, "conversations/list?" RANGE "&limit=1");
	cr_assert_str_eq(an_text(json_at(r->json, "items.0")),
			 "{\"id\":\"" ID(402) "\",\"user_id\":\"" UA "\",\"title\":\"c2\","
			 "\"channel\":\"chat\",\"status\":\"completed\","
			 "\"created_at\":\"2024-01-31T23:00:00+00:00\","
			 "\"updated_at\":\"2024-01-31T23:00:00+00:00\",\"message_count\":4}");
	http_free(r);

	/* agent logs, newest first (their ids are generated: check latencies) */
	r = an_get(t.admin, "agents/logs?" RANGE);
	cr_assert_eq(json_object_get_int(json_at(r->json, "total")), 6, "%s", r->body);
	const int lat[] = {1000, 600, 200, 400, 300, 100};
	for (int i = 0; i < 6; i++) {
		char p[32];
		snprintf(p, sizeof(p), "items.%d.latency_ms", i);
		cr_assert_eq(json_object_get_int(json_at(r->json, p)), lat[i], "%s", r->body);
	}
	cr_assert_str_eq(json_str(r->json, "items.0.created_at"), "2024-02-11T23:59:59+00:00");
	http_free(r);
	r = an_get(t.admin, "agents/logs?" RANGE "&agent_type=lead_qualifier&limit=1&offset=1");
	cr_assert_eq(json_object_get_int(json_at(r->json, "total")), 2, "%s", r->body);
	cr_assert_eq(json_object_get_int(json_at(r->json, "items.0.latency_ms")), 400, "%s",
		     r->body);
	cr_assert_eq(json_object_array_length(json_at(r->json, "items")), 1);
	http_free(r);
	an_tokens_free(&t);
}

/* ---- empty data -------------------------------------------------------------- */

Test(analytics, empty_data_is_zeros_and_empty_lists)
{
	char *u = user_token(NULL, NULL, 600), *admin = user_token(UADM, NULL, 600);

	/* a user with no rows at all, in the fixture's range */
	an_expect(u,
		  "{\"total_leads\":0,\"qualified_leads\":0,\"conversion_rate\":0.00,"
		  "\"avg_lead_score\":0.00}",
		  "leads/summary?" RANGE);
	an_expect(u,
		  "{\"mrr\":\"0.00\",\"arr\":\"0.00\",\"total_revenue\":\"0.00\","
		  "\"active_subscriptions\":0,\"cancelled_subscriptions\":0,\"churn_rate\":0.00}",
		  "revenue/summary?" RANGE);
	an_expect(u,
		  "{\"total_conversations\":0,\"avg_messages_per_conversation\":0.00,"
		  "\"active_conversations\":0,\"completed_conversations\":0}",
		  "conversations/summary?" RANGE);
	const char *zero[14] = {"0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0"};
	an_expect(u, an_trend("lead_creation_trends", "daily", an_days, 14, zero),
		  "leads/trends?" RANGE);
	an_expect(u, an_trend("conversation_trends", "weekly", an_weeks, 2, zero),
		  "conversations/trends?" RANGE "&aggregation=weekly");
	static const int none[2][3] = {{0, 0, 0}, {0, 0, 0}};
	an_expect(u, an_subs("weekly", an_weeks, 2, none),
		  "revenue/subscription-trends?" RANGE "&aggregation=weekly");
	an_expect(u, "[]", "revenue/customer-ltv?" RANGE);
	an_expect(u, "{\"total\":0,\"items\":[]}", "revenue/subscriptions/list?" RANGE);
	an_expect(u, "{\"total\":0,\"items\":[]}", "conversations/list?" RANGE);
	an_expect(u, "[]", "services/recommendations?" RANGE);
	/* the packages are there, with nothing sold */
	struct http *r = an_get(u, "revenue/by-package?" RANGE);
	cr_assert_eq(r->status, 200);
	cr_assert_geq(json_object_array_length(r->json), 2);
	for (size_t i = 0; i < json_object_array_length(r->json); i++) {
		struct json_object *o = json_object_array_get_idx(r->json, i);
		cr_assert_eq(json_object_get_int(json_at(o, "subscription_count")), 0);
		cr_assert_str_eq(json_str(o, "total_revenue"), "0.00");
		cr_assert_str_eq(json_str(o, "avg_revenue_per_subscription"), "0.00");
	}
	http_free(r);

	/* an admin in a month where nothing exists */
#define EMPTY "start_date=2001-02-01&end_date=2001-02-28"
	an_expect(admin, "[]", "models/metrics?" EMPTY);
	an_expect(admin, "[]", "agents/summary?" EMPTY);
	an_expect(admin, "{\"total\":0,\"items\":[]}", "agents/logs?" EMPTY);
	an_expect(admin, "[]", "services/recommendations?" EMPTY);
	an_expect(admin,
		  "{\"total_leads\":0,\"qualified_leads\":0,\"conversion_rate\":0.00,"
		  "\"avg_lead_score\":0.00}",
		  "leads/summary?" EMPTY);
	const char *feb[4] = {"2001-01-29", "2001-02-05", "2001-02-12", "2001-02-19"};
	const char *zeros[4] = {"0.00", "0.00", "0.00", "0.00"};
	an_expect(admin, an_trend("agent_success_rate_trends", "weekly", feb, 4, zeros),
		  "agents/trends?start_date=2001-02-01&end_date=2001-02-25&aggregation=weekly");
	free(u);
	free(admin);
}

/* ---- validation and access --------------------------------------------------- */

Test(analytics, invalid_parameters_are_422_naming_the_field)
{
	static const struct {
		const char *path, *field;
	} cases[] = {
		{"leads/summary?start_date=2024-02-30", "start_date"},
		{"leads/summary?start_date=yesterday", "start_date"},
		{"leads/summary?end_date=2024-13-01", "end_date"},
		{"leads/summary?start_date=2024-02-10&end_date=2024-02-01", "start_date"},
		{"leads/summary?start_date=2024-02-10T10:00:00Z&end_date=2024-02-10T10:00:00Z",
		 "start_date"},
		{"leads/summary?start_date=2023-01-01&end_date=2024-01-02", "end_date"},
		{"leads/trends?aggregation=monthly", "aggregation"},
		{"leads/trends?aggregation=", "aggregation"},
		{"revenue/customer-ltv?limit=0", "limit"},
		{"revenue/customer-ltv?limit=101", "limit"},
		{"revenue/customer-ltv?limit=ten", "limit"},
		{"revenue/customer-ltv?limit=1&limit=2", "limit"},
		{"revenue/customer-ltv?offset=-1", "offset"},
		{"revenue/subscriptions/list?package_id=not-a-uuid", "package_id"},
		{"revenue/subscriptions/list?status=refunded", "status"},
		{"conversations/trends?status=closed", "status"},
		{"conversations/list?status=open", "status"},
		{"conversations/trends?channel=a%20b", "channel"},
		{"conversations/trends?channel=", "channel"},
		{"agents/logs?agent_type=x%27%3Bdrop", "agent_type"},
		{"agents/trends?aggregation=hourly", "aggregation"},
	};
	char *admin = user_token(UADM, NULL, 600);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http *r = an_get(admin, "%s", cases[i].path);
		cr_assert_eq(r->status, 422, "%s: %ld %s", cases[i].path, r->status, r->body);
		cr_assert_str_eq(json_str(r->json, "errors.0.field"), cases[i].field, "%s: %s",
				 cases[i].path, r->body);
		cr_assert_eq(json_object_array_length(json_at(r->json, "errors")), 1, "%s: %s",
			     cases[i].path, r->body);
		cr_assert(strlen(json_str(r->json, "request_id")) > 0);
		http_free(r);
	}
	/* every problem at once */
	struct http *r = an_get(admin, "revenue/subscriptions/list?start_date=x&end_date=y"
				       "&aggregation=monthly&limit=0&offset=-1&status=z&package_id=1");
	cr_assert_eq(r->status, 422);
	cr_assert_eq(json_object_array_length(json_at(r->json, "errors")), 7, "%s", r->body);
	http_free(r);
	r = an_get(admin, "leads/trends?start_date=2024-02-10&end_date=2024-02-01&limit=0");
	cr_assert_eq(r->status, 422);
	cr_assert_eq(json_object_array_length(json_at(r->json, "errors")), 2, "%s", r->body);
	cr_assert_str_eq(json_str(r->json, "errors.0.field"), "limit", "%s", r->body);
	cr_assert_str_eq(json_str(r->json, "errors.1.field"), "start_date", "%s", r->body);
	http_free(r);
	/* exactly 366 days is allowed */
	r = an_get(admin, "leads/summary?start_date=2023-01-01&end_date=2024-01-01");
	cr_assert_eq(r->status, 200, "%s", r->body);
	http_free(r);
	free(admin);
}

Test(analytics, tokens_and_roles)
{
	static const char *const user_routes[] = {
		"leads/summary", "leads/trends", "revenue/summary", "revenue/by-package",
		"revenue/subscription-trends", "revenue/customer-ltv", "revenue/subscriptions/list",
		"conversations/summary", "conversations/trends", "conversations/list",
		"services/recommendations"};
	static const char *const admin_routes[] = {"models/metrics", "agents/summary",
						   "agents/trends", "agents/logs"};
	char *u = user_token(NULL, NULL, 600);

	for (size_t i = 0; i < sizeof(user_routes) / sizeof(user_routes[0]); i++) {
		struct http *r = an_get(NULL, "%s", user_routes[i]);
		cr_assert_eq(r->status, 401, "%s: %ld", user_routes[i], r->status);
		http_free(r);
		r = an_get(u, "%s", user_routes[i]);
		cr_assert_eq(r->status, 200, "%s: %ld %s", user_routes[i], r->status, r->body);
		http_free(r);
	}
	for (size_t i = 0; i < sizeof(admin_routes) / sizeof(admin_routes[0]); i++) {
		struct http *r = an_get(NULL, "%s", admin_routes[i]);
		cr_assert_eq(r->status, 401, "%s: %ld", admin_routes[i], r->status);
		http_free(r);
		r = an_get(u, "%s", admin_routes[i]);
		cr_assert_eq(r->status, 403, "%s: %ld", admin_routes[i], r->status);
		cr_assert_str_eq(json_str(r->json, "detail"), "Admin access required");
		http_free(r);
	}
	struct http *r = an_get("not.a.token", "leads/summary");
	cr_assert_eq(r->status, 401);
	http_free(r);
	free(u);
}

/* ---- cache --------------------------------------------------------------------- */

/* The X-Cache header of r, "" when absent. */
static const char *an_cache(const struct http *r)
{
	const char *h = http_header(r, "X-Cache");
	return h ? h : "";
}

/*
 * Repeats a request until the cache answers it (at most 3 s: a worker that
 * lost Redis when an earlier test stopped it reconnects within a second).
 */
static struct http *an_get_hit(const char *token, const char *path)
{
	struct http *r = an_get(token, "%s", path);

	for (int i = 0; i < 30 && strcmp(an_cache(r), "hit") != 0; i++) {
		http_free(r);
		usleep(100000);
		r = an_get(token, "%s", path);
	}
	return r;
}

/* A start within the fixture's first morning, different in every run
 * (nothing in the fixture is earlier than 10:00 on Jan 29). */
static const char *an_fresh_start(void)
{
	static char buf[64];
	long x = (long)now_ms() ^ ((long)getpid() << 10);
	snprintf(buf, sizeof(buf), "2024-01-29T0%ld:%02ld:%02ld.%03ldZ", x % 10, (x / 10) % 60,
		 (x / 600) % 60, (x / 36000) % 1000);
	return buf;
}

static void an_redis_back(void)
{
	stack("redis-start", NULL);
}

/* The cache, then the same requests with Redis down. */
Test(analytics, summaries_are_cached_per_caller_and_redis_is_optional, .fini = an_redis_back)
{
	struct an_tokens t = an_tokens();
	char path[256];
	snprintf(path, sizeof(path), "revenue/summary?start_date=%s&end_date=2024-02-11",
		 an_fresh_start());

	struct http *r1 = an_get(t.a, "%s", path), *r2 = an_get_hit(t.a, path);
	cr_assert_eq(r1->status, 200, "%s", r1->body);
	cr_assert_str_eq(an_cache(r1), "miss");
	cr_assert_str_eq(an_cache(r2), "hit");
	cr_assert_str_eq(r1->body, r2->body);
	cr_log_info("revenue/summary for a user: miss %.1f ms, hit %.1f ms", r1->seconds * 1000,
		    r2->seconds * 1000);
	/* the same question from B: B's own answer, never A's */
	struct http *b1 = an_get(t.b, "%s", path), *b2 = an_get_hit(t.b, path);
	cr_assert_str_eq(an_cache(b1), "miss");
	cr_assert_str_eq(an_cache(b2), "hit");
	cr_assert_str_eq(json_str(b2->json, "mrr"), "269.10", "%s", b2->body);
	cr_assert_str_eq(json_str(r2->json, "mrr"), "323.25", "%s", r2->body);
	/* an admin's answer is everyone's */
	struct http *a1 = an_get(t.admin, "%s", path);
	cr_assert_str_eq(json_str(a1->json, "mrr"), "592.35", "%s", a1->body);
	http_free(r1);
	http_free(r2);
	http_free(b1);
	http_free(b2);
	http_free(a1);

	/* without dates: the last 30 days up to now, the end rounded up to
	 * the minute, so repeated requests ask the same question and hit */
	char *u = user_token(NULL, NULL, 600);
	struct http *d1 = an_get(u, "conversations/summary");
	struct http *d2 = an_get_hit(u, "conversations/summary");
	cr_assert_eq(d1->status, 200);
	cr_assert_str_eq(an_cache(d2), "hit", "repeated default-window requests must hit");
	http_free(d1);
	http_free(d2);
	/* trends and lists are not cached */
	struct http *n = an_get(u, "leads/trends");
	cr_assert_str_eq(an_cache(n), "");
	http_free(n);
	free(u);

	/* Redis down: the cache is skipped, the answers are the same */
	snprintf(path, sizeof(path), "leads/summary?start_date=%s&end_date=2024-02-11",
		 an_fresh_start());
	cr_assert_eq(stack("redis-stop", NULL), 0);
	for (int i = 0; i < 3; i++) {
		struct http *r = an_get(t.a, "%s", path);
		cr_log_info("Redis down, request %d: %ld (X-Cache: %s) in %.1f ms", i + 1,
			    r->status, an_cache(r), r->seconds * 1000);
		cr_assert_eq(r->status, 200, "Redis down: %ld %s", r->status, r->body);
		cr_assert_str_eq(r->body,
				 "{\"total_leads\":3,\"qualified_leads\":2,\"conversion_rate\":66.67,"
				 "\"avg_lead_score\":60.00}");
		http_free(r);
	}
	struct http *r = an_get(t.admin, "conversations/summary?" RANGE);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_str(r->json, "total_conversations"), "5");
	http_free(r);
	cr_assert_eq(stack("redis-start", NULL), 0);
	an_tokens_free(&t);
}


/* conversation rows Postgres has read: index entries (index-only scans
 * included) and sequential scans */
static long an_conversation_reads(void)
{
	char *n = sql("SELECT (SELECT COALESCE(sum(idx_tup_read), 0) FROM pg_stat_user_indexes"
		      " WHERE relname = 'conversations') + (SELECT seq_tup_read"
		      " FROM pg_stat_user_tables WHERE relname = 'conversations')");
	long v = atol(n);
	free(n);
	return v;
}

/* the reads once the workers' backends have reported theirs: a backend
 * that flushed its counters less than a second ago flushes the next ones
 * when it has been idle for 10 s (PGSTAT_IDLE_INTERVAL) */
static long an_settled_reads(void)
{
	sleep(11);
	return an_conversation_reads();
}

/*
 * A user's report reads the user's rows, not the whole period, on every run.
 * A prepared statement's generic plan (Postgres's choice after five runs)
 * went wrong twice: `($3 IS NULL OR user_id = $3)` cannot use the user
 * index, and with `user_id = $3` alone it guessed a range keeps 0.5% of the
 * rows, so an index-only scan of the period looked cheaper than the user's
 * 20 rows (load test: an uncached summary 4 times slower once a cached run
 * had fixed the plan). 22,000 conversations of 1,000 other users in June
 * 2023 (no other test uses that month), 20 of the user's, as in the load
 * test; 40 uncached summaries spread over the api workers.
 */
Test(analytics, a_users_report_reads_only_their_rows_on_every_run, .timeout = 120)
{
	if (strcmp(need_env("FRONT"), "nginx") != 0)
		cr_skip_test("front-end independent (and 25 s long): runs in the nginx pass");
	char sub[37];
	char *token = user_token(NULL, sub, 600);
	char *done = sql("INSERT INTO conversations (user_id, created_at)"
			 " SELECT CASE WHEN i <= 20 THEN '%s'::uuid ELSE md5((i %% 1000)::text)::uuid END,"
			 " '2023-06-01'::timestamptz + (i %% 28) * interval '1 day'"
			 " FROM generate_series(1, 22020) i RETURNING 1",
			 sub);
	free(done);
	/* as autovacuum leaves a table after many inserts: index-only scans */
	free(sql("VACUUM (ANALYZE) conversations"));

	long before = an_settled_reads();
	for (int i = 0; i < 40; i++) {
		/* another window each time: no answer comes from a cache */
		struct http *r = an_get(token,
					"conversations/summary?start_date=2023-06-%02d&end_date=2023-06-%02d",
					1 + i % 2, 10 + i / 2);
		cr_assert_eq(r->status, 200, "%s", r->body);
		cr_assert_gt(json_object_get_int(json_at(r->json, "total_conversations")), 0);
		http_free(r);
	}
	long reads = an_settled_reads() - before;
	cr_log_info("40 summaries of a user with 20 of 22,020 conversations read %ld rows", reads);
	/* the user's rows: at most 40 x 20; the period's: up to 22,020 a run */
	cr_assert_leq(reads, 40 * 20 + 5000, "%ld conversation rows read", reads);
	free(token);
}
