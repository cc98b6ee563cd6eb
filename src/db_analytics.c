/*
 * db_analytics: the SQL of the analytics API. One statement per report
 * does the whole aggregation in Postgres and builds the whole JSON answer
 * (json_build_object / json_agg), so a report is one round trip whatever the
 * size of the data.
 *
 * A user's runs are planned on every run with their values (db_exec_replan()
 * in db_priv.h), never prepared: the best plan depends on the user and the
 * period. After five runs Postgres gives a prepared statement a generic
 * plan, made without the values: for `($3 IS NULL OR user_id = $3)` it
 * cannot use the user index, and it guesses that a date range keeps 0.5% of
 * the rows, so scanning the whole period looked cheaper than a user's 20
 * rows. Both made a user's summary read every conversation of the period
 * (in load tests: 283 ms instead of 0.4 ms with 137,000 conversations, and
 * uncached summaries at a quarter of their speed). An admin's runs read the
 * whole period whatever the plan and keep the prepared statement: planning
 * every run doubled the Postgres CPU of an admin's trends (0.33 to 0.66 ms).
 * Answers are cached either way (cache.h).
 *
 * Conventions of every statement:
 *  - rows count when start <= t < end (t is created_at unless said);
 *  - the scope `($3::uuid IS NULL OR user_id = $3::uuid)`: NULL is an
 *    admin's view of everything, else one user's rows (planned with the
 *    value: the NULL branch falls away);
 *  - periods are date_trunc('day' | 'week', t, 'UTC') (ISO weeks start on
 *    Monday) and generate_series() lists every period of [start, end), so
 *    a series has no gaps: a period without rows is 0;
 *  - money (numeric) goes out as a string with two decimals
 *    (round(x, 2)::text: "299.00"), rates as percentages rounded to two
 *    decimals, and empty data as zeros and empty arrays (COALESCE), never
 *    as NULL.
 */
#include "db_priv.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The SQL is laid out as SQL, not as clang-format would. */
/* clang-format off */

/* The parts of the SQL every report repeats. */
#define AN_RANGE(col) " " col " >= $1::timestamptz AND " col " < $2::timestamptz"
#define AN_SCOPE(col, n) " ($" n "::uuid IS NULL OR " col " = $" n "::uuid)"
#define AN_UNIT(n) "(CASE $" n "::text WHEN 'weekly' THEN 'week' ELSE 'day' END)"
/* the periods of [start, end) as a set of timestamptz `d` */
#define AN_PERIODS(n)                                                                              \
	" generate_series(date_trunc(" AN_UNIT(n) ", $1::timestamptz, 'UTC'),"                     \
	" date_trunc(" AN_UNIT(n) ", $2::timestamptz - interval '1 microsecond', 'UTC'),"          \
	" ('1 ' || " AN_UNIT(n) ")::interval) AS p(d)"
#define AN_DAY(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
#define AN_RATE(part, whole)                                                                       \
	"CASE WHEN " whole " = 0 THEN 0.00 ELSE round(100.0 * " part " / " whole ", 2) END"
/* what an active subscription brings per month: a yearly price counts 1/12 */
#define AN_MONTHLY "CASE billing_cycle WHEN 'yearly' THEN final_price / 12 ELSE final_price END"
/* time series of {"date", "value", "label": null} from a CTE n(d, v); an
 * empty period's value is `zero` */
#define AN_SERIES(n, zero)                                                                         \
	"COALESCE(json_agg(json_build_object('date', " AN_DAY("p.d") ", 'value', COALESCE(n.v, "     \
	zero "), 'label', NULL) ORDER BY p.d), '[]'::json) FROM" AN_PERIODS(n)                     \
	" LEFT JOIN n ON n.d = p.d"

/*
 * A report's statement and the parameters it takes, in order ($1, $2, ...),
 * one letter each: S start, E end, U user, A aggregation, L limit,
 * O offset, T status, P package_id, C channel, G agent_type.
 */
struct db_analytics_stmt {
	struct db_stmt st;
	const char *params;
};

static struct db_analytics_stmt db_analytics_stmts[DB_AN__MAX] = {
	[DB_AN_LEADS_SUMMARY] = {{"an_leads_summary",
		"SELECT json_build_object('total_leads', count(*),"
		" 'qualified_leads', count(*) FILTER (WHERE q),"
		" 'conversion_rate', " AN_RATE("count(*) FILTER (WHERE q)", "count(*)") ","
		" 'avg_lead_score', COALESCE(round(avg(lead_score), 2), 0.00))"
		" FROM (SELECT lead_status IN ('qualified', 'opportunity', 'customer') AS q, lead_score"
		"  FROM leads WHERE deleted_at IS NULL AND" AN_RANGE("created_at")
		"  AND" AN_SCOPE("user_id", "3") ") l",
		0}, "SEU"},

	[DB_AN_LEADS_TRENDS] = {{"an_leads_trends",
		"WITH n AS (SELECT date_trunc(" AN_UNIT("4") ", created_at, 'UTC') AS d, count(*) AS v"
		"  FROM leads WHERE deleted_at IS NULL AND" AN_RANGE("created_at")
		"  AND" AN_SCOPE("user_id", "3") " GROUP BY 1)"
		" SELECT json_build_object('metric_name', 'lead_creation_trends',"
		" 'aggregation', $4::text, 'data', (SELECT " AN_SERIES("4", "0") "))",
		0}, "SEUA"},

	[DB_AN_REVENUE_SUMMARY] = {{"an_revenue_summary",
		"SELECT json_build_object('mrr', round(mrr, 2)::text, 'arr', round(mrr * 12, 2)::text,"
		" 'total_revenue', round(total, 2)::text, 'active_subscriptions', active,"
		" 'cancelled_subscriptions', cancelled,"
		" 'churn_rate', " AN_RATE("cancelled", "(active + cancelled)") ")"
		" FROM (SELECT COALESCE(sum(" AN_MONTHLY ") FILTER (WHERE status = 'active'), 0) AS mrr,"
		"  COALESCE(sum(final_price) FILTER (WHERE status <> 'pending'), 0) AS total,"
		"  count(*) FILTER (WHERE status = 'active') AS active,"
		"  count(*) FILTER (WHERE status = 'cancelled') AS cancelled"
		"  FROM user_subscriptions WHERE" AN_RANGE("created_at")
		"  AND" AN_SCOPE("user_id", "3") ") m",
		0}, "SEU"},

	[DB_AN_REVENUE_BY_PACKAGE] = {{"an_revenue_by_package",
		"SELECT COALESCE(json_agg(json_build_object('package_id', p.id, 'package_name', p.name,"
		" 'subscription_count', COALESCE(s.n, 0),"
		" 'total_revenue', round(COALESCE(s.total, 0), 2)::text,"
		" 'avg_revenue_per_subscription', round(COALESCE(s.total / s.n, 0), 2)::text)"
		" ORDER BY COALESCE(s.total, 0) DESC, p.priority, p.name), '[]'::json)"
		" FROM pricing_packages p LEFT JOIN (SELECT package_id, count(*) AS n,"
		"  sum(final_price) AS total FROM user_subscriptions"
		"  WHERE status <> 'pending' AND" AN_RANGE("created_at") " AND" AN_SCOPE("user_id", "3")
		"  GROUP BY package_id) s ON s.package_id = p.id"
		" WHERE p.is_active OR s.n IS NOT NULL",
		0}, "SEU"},

	/* cancellations are dated by updated_at; cumulative_active starts from
	 * every subscription created before the range minus those cancelled
	 * before it */
	[DB_AN_SUBSCRIPTION_TRENDS] = {{"an_subscription_trends",
		"WITH s AS (SELECT created_at, status, updated_at FROM user_subscriptions"
		"  WHERE created_at < $2::timestamptz AND" AN_SCOPE("user_id", "3") "),"
		" nw AS (SELECT date_trunc(" AN_UNIT("4") ", created_at, 'UTC') AS d, count(*) AS n"
		"  FROM s WHERE created_at >= $1::timestamptz GROUP BY 1),"
		" cx AS (SELECT date_trunc(" AN_UNIT("4") ", updated_at, 'UTC') AS d, count(*) AS n"
		"  FROM s WHERE status = 'cancelled' AND" AN_RANGE("updated_at") " GROUP BY 1),"
		" b AS (SELECT count(*) - count(*) FILTER (WHERE status = 'cancelled'"
		"  AND updated_at < $1::timestamptz) AS v FROM s WHERE created_at < $1::timestamptz),"
		" r AS (SELECT p.d, COALESCE(nw.n, 0) AS new, COALESCE(cx.n, 0) AS cancelled FROM"
		AN_PERIODS("4") " LEFT JOIN nw ON nw.d = p.d LEFT JOIN cx ON cx.d = p.d),"
		" w AS (SELECT d, new, cancelled,"
		"  (SELECT v FROM b) + sum(new - cancelled) OVER (ORDER BY d) AS cumulative FROM r)"
		" SELECT json_build_object('aggregation', $4::text, 'data', COALESCE(json_agg("
		" json_build_object('period', " AN_DAY("d") ", 'new_subscriptions', new,"
		" 'cancelled_subscriptions', cancelled, 'net_change', new - cancelled,"
		" 'cumulative_active', cumulative) ORDER BY d), '[]'::json)) FROM w",
		0}, "SEUA"},

	/* per customer over the subscriptions created in the range (pending ones
	 * are not revenue): lifetime from the first start to the last end, an
	 * open subscription counting up to the end of the range, in 30-day
	 * months; estimated_ltv adds a year of the active subscriptions */
	[DB_AN_CUSTOMER_LTV] = {{"an_customer_ltv",
		"WITH u AS (SELECT user_id, sum(final_price) AS total, count(*) AS n,"
		"  min(start_date) AS first_start,"
		"  max(least(COALESCE(end_date, $2::timestamptz), $2::timestamptz)) AS last_end,"
		"  COALESCE(sum(" AN_MONTHLY ") FILTER (WHERE status = 'active'), 0) AS mrr"
		"  FROM user_subscriptions WHERE status <> 'pending' AND" AN_RANGE("created_at")
		"  AND" AN_SCOPE("user_id", "3") " GROUP BY user_id)"
		" SELECT json_build_object('total', (SELECT count(*) FROM u),"
		" 'items', COALESCE((SELECT json_agg(json_build_object('user_id', user_id,"
		"  'total_spent', round(total, 2)::text, 'subscription_count', n,"
		"  'avg_subscription_value', round(total / n, 2)::text,"
		"  'lifetime_months', round(greatest(extract(epoch FROM last_end - first_start), 0)"
		"   / 2592000, 2),"
		"  'estimated_ltv', round(total + 12 * mrr, 2)::text) ORDER BY total DESC, user_id)"
		"  FROM (SELECT * FROM u ORDER BY total DESC, user_id LIMIT $4 OFFSET $5) x),"
		"  '[]'::json))",
		0}, "SEULO"},

	[DB_AN_SUBSCRIPTIONS_LIST] = {{"an_subscriptions_list",
		"WITH s AS (SELECT * FROM user_subscriptions WHERE" AN_RANGE("created_at")
		"  AND" AN_SCOPE("user_id", "3") " AND ($6::text IS NULL OR status = $6::text)"
		"  AND ($7::uuid IS NULL OR package_id = $7::uuid))"
		" SELECT json_build_object('total', (SELECT count(*) FROM s),"
		" 'items', COALESCE((SELECT json_agg(json_build_object('id', x.id,"
		"  'user_id', x.user_id, 'package_id', x.package_id, 'package_name', p.name,"
		"  'status', x.status, 'billing_cycle', x.billing_cycle,"
		"  'original_price', x.original_price::text, 'discount_amount', x.discount_amount::text,"
		"  'final_price', x.final_price::text, 'start_date', x.start_date,"
		"  'end_date', x.end_date, 'created_at', x.created_at, 'updated_at', x.updated_at)"
		"  ORDER BY x.created_at DESC, x.id)"
		"  FROM (SELECT * FROM s ORDER BY created_at DESC, id LIMIT $4 OFFSET $5) x"
		"  LEFT JOIN pricing_packages p ON p.id = x.package_id), '[]'::json))",
		0}, "SEULOTP"},

	[DB_AN_CONVERSATIONS_SUMMARY] = {{"an_conversations_summary",
		"SELECT json_build_object('total_conversations', count(*),"
		" 'avg_messages_per_conversation', CASE count(*) WHEN 0 THEN 0.00"
		"  ELSE round(sum(m.n)::numeric / count(*), 2) END,"
		" 'active_conversations', count(*) FILTER (WHERE c.status = 'active'),"
		" 'completed_conversations', count(*) FILTER (WHERE c.status = 'completed'))"
		" FROM conversations c CROSS JOIN LATERAL (SELECT count(*) AS n FROM messages"
		"  WHERE conversation_id = c.id) m"
		" WHERE c.deleted_at IS NULL AND" AN_RANGE("c.created_at") " AND" AN_SCOPE("c.user_id", "3"),
		0}, "SEU"},

	[DB_AN_CONVERSATIONS_TRENDS] = {{"an_conversations_trends",
		"WITH n AS (SELECT date_trunc(" AN_UNIT("4") ", created_at, 'UTC') AS d, count(*) AS v"
		"  FROM conversations WHERE deleted_at IS NULL AND" AN_RANGE("created_at")
		"  AND" AN_SCOPE("user_id", "3") " AND ($5::text IS NULL OR status = $5::text)"
		"  AND ($6::text IS NULL OR channel = $6::text) GROUP BY 1)"
		" SELECT json_build_object('metric_name', 'conversation_trends',"
		" 'aggregation', $4::text, 'data', (SELECT " AN_SERIES("4", "0") "))",
		0}, "SEUATC"},

	[DB_AN_CONVERSATIONS_LIST] = {{"an_conversations_list",
		"WITH c AS (SELECT * FROM conversations WHERE deleted_at IS NULL AND" AN_RANGE("created_at")
		"  AND" AN_SCOPE("user_id", "3") " AND ($6::text IS NULL OR status = $6::text)"
		"  AND ($7::text IS NULL OR channel = $7::text))"
		" SELECT json_build_object('total', (SELECT count(*) FROM c),"
		" 'items', COALESCE((SELECT json_agg(json_build_object('id', x.id, 'user_id', x.user_id,"
		"  'title', x.title, 'channel', x.channel, 'status', x.status,"
		"  'created_at', x.created_at, 'updated_at', x.updated_at,"
		"  'message_count', (SELECT count(*) FROM messages m WHERE m.conversation_id = x.id))"
		"  ORDER BY x.created_at DESC, x.id)"
		"  FROM (SELECT * FROM c ORDER BY created_at DESC, id LIMIT $4 OFFSET $5) x),"
		"  '[]'::json))",
		0}, "SEULOTC"},

	[DB_AN_MODELS_METRICS] = {{"an_models_metrics",
		"SELECT COALESCE(json_agg(r ORDER BY r.model_name), '[]'::json) FROM ("
		" SELECT model_name, count(*) AS total_requests,"
		"  " AN_RATE("count(*) FILTER (WHERE status = 'success')", "count(*)") " AS success_rate,"
		"  round(avg(latency_ms), 2) AS avg_latency_ms,"
		"  percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_latency_ms,"
		"  sum(tokens_in + tokens_out) AS total_tokens,"
		"  count(*) FILTER (WHERE status = 'error') AS error_count"
		" FROM model_metrics WHERE" AN_RANGE("created_at") " GROUP BY model_name) r",
		0}, "SE"},

	/* avg_execution_time is in milliseconds; "partial" is neither a success
	 * nor an error */
	[DB_AN_AGENTS_SUMMARY] = {{"an_agents_summary",
		"SELECT COALESCE(json_agg(r ORDER BY r.agent_type), '[]'::json) FROM ("
		" SELECT agent_type, count(*) AS total_actions,"
		"  " AN_RATE("count(*) FILTER (WHERE status = 'success')", "count(*)") " AS success_rate,"
		"  round(avg(latency_ms), 2) AS avg_execution_time,"
		"  " AN_RATE("count(*) FILTER (WHERE status = 'error')", "count(*)") " AS error_rate"
		" FROM agent_logs WHERE" AN_RANGE("created_at") " GROUP BY agent_type) r",
		0}, "SE"},

	/* value: the success rate of the period (0 when it had no actions) */
	[DB_AN_AGENTS_TRENDS] = {{"an_agents_trends",
		"WITH n AS (SELECT date_trunc(" AN_UNIT("3") ", created_at, 'UTC') AS d,"
		"  " AN_RATE("count(*) FILTER (WHERE status = 'success')", "count(*)") " AS v"
		"  FROM agent_logs WHERE" AN_RANGE("created_at")
		"  AND ($4::text IS NULL OR agent_type = $4::text) GROUP BY 1)"
		" SELECT json_build_object('metric_name', 'agent_success_rate_trends',"
		" 'aggregation', $3::text, 'data', (SELECT " AN_SERIES("3", "0.00") "))",
		0}, "SEAG"},

	[DB_AN_AGENTS_LOGS] = {{"an_agents_logs",
		"WITH a AS (SELECT * FROM agent_logs WHERE" AN_RANGE("created_at")
		"  AND ($5::text IS NULL OR agent_type = $5::text))"
		" SELECT json_build_object('total', (SELECT count(*) FROM a),"
		" 'items', COALESCE((SELECT json_agg(json_build_object('id', x.id,"
		"  'agent_type', x.agent_type, 'conversation_id', x.conversation_id,"
		"  'action', x.action, 'status', x.status, 'latency_ms', x.latency_ms,"
		"  'error', x.error, 'created_at', x.created_at) ORDER BY x.created_at DESC, x.id DESC)"
		"  FROM (SELECT * FROM a ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4) x),"
		"  '[]'::json))",
		0}, "SELOG"},

	/* a recommendation belongs to the owner of its lead and to the owner of
	 * its conversation; those of a deleted lead or conversation are gone */
	[DB_AN_SERVICES_RECOMMENDATIONS] = {{"an_services_recommendations",
		"SELECT COALESCE(json_agg(r ORDER BY r.total_recommendations DESC, r.service_name),"
		" '[]'::json) FROM ("
		" SELECT s.service_name, count(*) AS total_recommendations,"
		"  count(*) FILTER (WHERE s.status = 'accepted') AS accepted_count,"
		"  " AN_RATE("count(*) FILTER (WHERE s.status = 'accepted')", "count(*)")
		"   AS acceptance_rate,"
		"  round(avg(s.confidence), 2) AS avg_confidence"
		" FROM service_recommendations s"
		"  LEFT JOIN leads l ON l.id = s.lead_id"
		"  LEFT JOIN conversations c ON c.id = s.conversation_id"
		" WHERE" AN_RANGE("s.created_at") " AND l.deleted_at IS NULL AND c.deleted_at IS NULL"
		"  AND ($3::uuid IS NULL OR l.user_id = $3::uuid OR c.user_id = $3::uuid)"
		" GROUP BY s.service_name) r",
		0}, "SEU"},
};
/* clang-format on */

/*
 * Removes the white space json_build_object puts between tokens (outside
 * strings), in place, so answers go out as compact as the rest of the API.
 */
static void db_analytics_compact(char *s)
{
	char *out = s;
	bool in_string = false, escaped = false;

	for (; *s; s++) {
		if (in_string) {
			if (escaped)
				escaped = false;
			else if (*s == '\\')
				escaped = true;
			else if (*s == '"')
				in_string = false;
		} else if (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') {
			continue;
		} else if (*s == '"') {
			in_string = true;
		}
		*out++ = *s;
	}
	*out = '\0';
}

int db_analytics(struct db *db, enum db_analytics_report report, const struct db_analytics_query *q,
		 char **json)
{
	struct db_analytics_stmt *s;
	const char *params[16];
	char limit[16], offset[16];
	int n = 0, rc = -1;

	*json = NULL;
	if ((int)report < 0 || report >= DB_AN__MAX)
		return -1;
	s = &db_analytics_stmts[report];
	snprintf(limit, sizeof(limit), "%d", q->limit);
	snprintf(offset, sizeof(offset), "%d", q->offset);
	/* the letters of db_analytics_stmt.params and their values */
	static const char letters[] = "SEUALOTPCG";
	const char *values[] = {q->start, q->end,    q->user_id,    q->aggregation, limit,
				offset,	  q->status, q->package_id, q->channel,	    q->agent_type};
	for (const char *p = s->params; *p && n < 16; p++) {
		const char *at = strchr(letters, *p);
		if (at == NULL)
			return -1;
		params[n++] = values[at - letters];
	}
	/* one user's run is planned with its values (see the top of this file);
	 * an admin's reads the whole period whatever the plan, prepared */
	struct db_stmt *st = &s->st;
	PGresult *res = q->user_id != NULL && strchr(s->params, 'U') != NULL
			    ? db_exec_replan(db, st, n, params)
			    : db_exec(db, st, n, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		/* every statement returns one row: a broken invariant */
		db->fail = DB_FAILED;
		snprintf(db->err, sizeof(db->err), "%s returned no answer", st->name);
		log_msg(LOG_ERROR, "db_no_answer", "%s: %s", __func__, db->err);
	} else if ((*json = strdup(PQgetvalue(res, 0, 0))) != NULL) {
		db_analytics_compact(*json);
		rc = 0;
	}
	PQclear(res);
	return rc;
}
