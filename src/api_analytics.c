/*
 * api_analytics: the dashboard's reports under /api/analytics. Every route
 * takes the same parameters, parsed and validated in one place
 * (api_analytics_input): start_date and end_date (default the last 30 days
 * up to now, start before end, at most 366 days apart), aggregation (daily
 * or weekly), limit (1-100) and offset, plus the filters of its report. All
 * problems are reported together as one 422.
 *
 * The work is one statement in db_analytics.c; this file decides the scope
 * (a user sees their own rows, an admin everything) and, for the summaries,
 * answers from the Redis cache (cache.c) when it can.
 *
 * The reports read from the replica connection (app->db_read,
 * DATABASE_READ_URL) when there is one, else from the primary. A replica that
 * is down is a 503 like any dependency: no fallback to the primary, whose
 * capacity the replica is there to protect. The caller's role stays a primary
 * read (auth.c).
 */
#include "api.h"
#include "app.h"
#include "auth.h"
#include "cache.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "kv.h"
#include "query.h"
#include "request.h"
#include "response.h"

#include <ctype.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_AN_DAY_MS	    (86400LL * 1000)
#define API_AN_MAX_DAYS	    366
#define API_AN_DEFAULT_DAYS 30

/* The optional inputs of a report (bits of api_analytics_route.uses). */
#define AN_AGG	   0x01 /* aggregation shapes the answer */
#define AN_PAGE	   0x02 /* limit and offset shape the answer */
#define AN_STATUS  0x04 /* filter `status`, one of .statuses */
#define AN_PACKAGE 0x08 /* filter `package_id`, a UUID */
#define AN_CHANNEL 0x10 /* filter `channel`, a name */
#define AN_AGENT   0x20 /* filter `agent_type`, a name */

static const char *const api_an_aggregations[] = {"daily", "weekly", NULL};
static const char *const api_an_subscription_statuses[] = {"active",  "cancelled", "expired",
							   "pending", "paused",	   NULL};
static const char *const api_an_conversation_statuses[] = {"active", "completed", "archived", NULL};

/* How a route answers. */
struct api_analytics_route {
	const char *cache; /* endpoint name in the cache key; NULL: never cached */
	unsigned uses;	   /* AN_* */
	const char *const *statuses;
	bool items_as_array; /* {"total","items"} goes out as the items with X-Total-Count */
};

static const struct api_analytics_route api_an_routes[DB_AN__MAX] = {
    [DB_AN_LEADS_SUMMARY] = {"leads/summary", 0, NULL, false},
    [DB_AN_LEADS_TRENDS] = {NULL, AN_AGG, NULL, false},
    [DB_AN_REVENUE_SUMMARY] = {"revenue/summary", 0, NULL, false},
    [DB_AN_REVENUE_BY_PACKAGE] = {NULL, 0, NULL, false},
    [DB_AN_SUBSCRIPTION_TRENDS] = {NULL, AN_AGG, NULL, false},
    [DB_AN_CUSTOMER_LTV] = {NULL, AN_PAGE, NULL, true},
    [DB_AN_SUBSCRIPTIONS_LIST] = {NULL, AN_PAGE | AN_STATUS | AN_PACKAGE,
				  api_an_subscription_statuses, false},
    [DB_AN_CONVERSATIONS_SUMMARY] = {"conversations/summary", 0, NULL, false},
    [DB_AN_CONVERSATIONS_TRENDS] = {NULL, AN_AGG | AN_STATUS | AN_CHANNEL,
				    api_an_conversation_statuses, false},
    [DB_AN_CONVERSATIONS_LIST] = {NULL, AN_PAGE | AN_STATUS | AN_CHANNEL,
				  api_an_conversation_statuses, false},
    [DB_AN_MODELS_METRICS] = {NULL, 0, NULL, false},
    [DB_AN_AGENTS_SUMMARY] = {"agents/summary", 0, NULL, false},
    [DB_AN_AGENTS_TRENDS] = {NULL, AN_AGG | AN_AGENT, NULL, false},
    [DB_AN_AGENTS_LOGS] = {NULL, AN_PAGE | AN_AGENT, NULL, false},
    [DB_AN_SERVICES_RECOMMENDATIONS] = {NULL, 0, NULL, false},
};

/* A request's validated inputs. */
struct api_analytics_input {
	struct db_analytics_query q;
	int64_t start_ms, end_ms;
	char start[32], end[32]; /* ISO 8601 for Postgres */
};

/* A filter naming something (channel, agent type): 1..max of [A-Za-z0-9_.-]. */
static bool api_analytics_name(struct request *req, struct response *res, const char *name,
			       size_t max, const char **out)
{
	const char *v;
	char msg[96];
	int rc = request_query(req, name, &v);
	size_t n = 0;

	*out = NULL;
	if (rc == 0)
		return true;
	if (rc < 0) {
		response_field_error(res, name, "is malformed or given more than once");
		return false;
	}
	for (; v[n] && n <= max; n++)
		if (!(isalnum((unsigned char)v[n]) || strchr("_.-", v[n])))
			break;
	if (n >= 1 && n <= max && v[n] == '\0') {
		*out = v;
		return true;
	}
	snprintf(msg, sizeof(msg), "must be 1 to %zu letters, digits or _.-", max);
	response_field_error(res, name, msg);
	return false;
}

/* True when the raw parameter is a date without a time ("2026-11-28"). */
static bool api_analytics_date_only(struct request *req, const char *name)
{
	const char *v;

	return request_query(req, name, &v) == 1 && strlen(v) == 10;
}

/*
 * Parses and validates every input of route rt into in. Returns 0, or 422
 * with every problem listed.
 */
static int api_analytics_input(struct request *req, struct response *res,
			       const struct api_analytics_route *rt, struct api_analytics_input *in)
{
	bool has_start, has_end;
	long limit, offset;
	const char *v;
	bool dates = query_time(req, res, "start_date", &in->start_ms, &has_start);

	dates = query_time(req, res, "end_date", &in->end_ms, &has_end) && dates;
	bool ok =
	    query_enum(req, res, "aggregation", api_an_aggregations, "daily", &in->q.aggregation);
	ok = query_int(req, res, "limit", 50, 1, 100, &limit) && ok;
	ok = query_int(req, res, "offset", 0, 0, 1000000, &offset) && ok;
	if (rt->uses & AN_STATUS)
		ok = query_enum(req, res, "status", rt->statuses, NULL, &in->q.status) && ok;
	if (rt->uses & AN_PACKAGE) {
		int rc = request_query(req, "package_id", &v);
		if (rc < 0 || (rc == 1 && !query_uuid(res, "package_id", v))) {
			if (rc < 0)
				response_field_error(res, "package_id",
						     "is malformed or given more than once");
			ok = false;
		} else if (rc == 1) {
			in->q.package_id = v;
		}
	}
	if (rt->uses & AN_CHANNEL)
		ok = api_analytics_name(req, res, "channel", 32, &in->q.channel) && ok;
	if (rt->uses & AN_AGENT)
		ok = api_analytics_name(req, res, "agent_type", 64, &in->q.agent_type) && ok;

	if (dates) {
		/* a date alone as end_date means the whole of that day */
		if (has_end && api_analytics_date_only(req, "end_date"))
			in->end_ms += API_AN_DAY_MS;
		/* the default end is now, rounded up to the minute: repeated
		 * requests without dates within a minute ask the same question
		 * (and hit the cache) */
		if (!has_end)
			in->end_ms = (clock_wall_ms() / 60000 + 1) * 60000;
		if (!has_start)
			in->start_ms = in->end_ms - API_AN_DEFAULT_DAYS * API_AN_DAY_MS;
		if (in->start_ms >= in->end_ms) {
			response_field_error(res, "start_date", "must be before end_date");
			dates = false;
		} else if (in->end_ms - in->start_ms > API_AN_MAX_DAYS * API_AN_DAY_MS) {
			response_field_error(res, "end_date",
					     "must be at most 366 days after start_date");
			dates = false;
		}
	}
	if (!dates || !ok)
		return response_error(res, 422, "Request validation failed");
	clock_iso8601(in->start_ms, in->start, sizeof(in->start));
	clock_iso8601(in->end_ms, in->end, sizeof(in->end));
	in->q.start = in->start;
	in->q.end = in->end;
	in->q.limit = (int)limit;
	in->q.offset = (int)offset;
	return 0;
}

/* The inputs that shape rt's answer, as the text of its cache key. */
static void api_analytics_norm(const struct api_analytics_route *rt,
			       const struct api_analytics_input *in, char *buf, size_t len)
{
	const struct db_analytics_query *q = &in->q;
	int n = snprintf(buf, len, "%" PRId64 "-%" PRId64, in->start_ms, in->end_ms);

#define API_AN_ADD(...)                                                                            \
	do {                                                                                       \
		if (n >= 0 && (size_t)n < len)                                                     \
			n += snprintf(buf + n, len - (size_t)n, __VA_ARGS__);                      \
	} while (0)
	if (rt->uses & AN_AGG)
		API_AN_ADD("|a=%s", q->aggregation);
	if (rt->uses & AN_PAGE)
		API_AN_ADD("|l=%d|o=%d", q->limit, q->offset);
	if (q->status != NULL)
		API_AN_ADD("|s=%s", q->status);
	if (q->package_id != NULL)
		API_AN_ADD("|p=%s", q->package_id);
	if (q->channel != NULL)
		API_AN_ADD("|c=%s", q->channel);
	if (q->agent_type != NULL)
		API_AN_ADD("|g=%s", q->agent_type);
#undef API_AN_ADD
}

/* Sends JSON text as the body (copied into the request). 200, or 500. */
static int api_analytics_raw(struct request *req, struct response *res, const char *json)
{
	res->raw = request_strdup(req, json);
	if (res->raw == NULL)
		return response_error(res, 500, "Out of memory");
	res->raw_len = strlen(res->raw);
	return 200;
}

/* Runs report for the caller: scope, cache, query, answer. */
static int api_analytics_answer(struct request *req, struct response *res,
				enum db_analytics_report report)
{
	const struct api_analytics_route *rt = &api_an_routes[report];
	struct db *db = req->app->db_read != NULL ? req->app->db_read : req->app->db;
	struct api_analytics_input in = {0};
	struct json_object *list = NULL, *v;
	char scope[80], norm[512], key[CACHE_KEY_MAX], *json = NULL;
	int ttl = req->app->cfg->analytics_cache_seconds;
	bool cacheable = false;
	int st = api_analytics_input(req, res, rt, &in);

	if (st != 0)
		return st;
	const char *role = auth_role(req);
	if (role == NULL)
		return response_unavailable(res, "Postgres", db_retry_after(req->app->db));
	if (strcmp(role, "admin") == 0) {
		snprintf(scope, sizeof(scope), "admin");
	} else {
		snprintf(scope, sizeof(scope), "u:%s", req->user.id);
		in.q.user_id = req->user.id;
	}

	if (rt->cache != NULL && ttl > 0) {
		api_analytics_norm(rt, &in, norm, sizeof(norm));
		cache_key(key, sizeof(key), rt->cache, scope, norm);
		int rc = cache_get(req->app->kv, key, &json);
		if (rc == 1) {
			response_header(res, "X-Cache", "hit");
			st = api_analytics_raw(req, res, json);
			goto out;
		}
		cacheable = rc == 0; /* Redis failed: go on without the cache */
	}

	if (db_analytics(db, report, &in.q, &json) < 0) {
		enum db_fail f = db_last_fail(db);
		if (f == DB_DOWN || f == DB_TIMEOUT)
			st = response_unavailable(
			    res, db == req->app->db ? "Postgres" : "Postgres read replica",
			    db_retry_after(db));
		else
			st = response_error(res, 500, "Analytics query failed");
		goto out;
	}
	if (rt->cache != NULL) {
		if (cacheable)
			cache_put(req->app->kv, key, json, ttl);
		response_header(res, "X-Cache", "miss");
	}
	if (!rt->items_as_array) {
		st = api_analytics_raw(req, res, json);
		goto out;
	}
	/* {"total", "items"}: the items, and the total in a header */
	list = json_tokener_parse(json);
	if (!json_object_object_get_ex(list, "items", &v)) {
		st = response_error(res, 500, "Analytics query failed");
		goto out;
	}
	res->body = json_object_get(v);
	json_object_object_get_ex(list, "total", &v);
	response_header(res, "X-Total-Count", "%d", json_object_get_int(v));
	st = 200;
out:
	json_object_put(list);
	free(json);
	return st;
}

int api_analytics_leads_summary(struct request *req, struct response *res)
{
	return api_analytics_answer(req, res, DB_AN_LEADS_SUMMARY);
}

int api_analytics_leads_trends(struct request *req, struct response *res)
{
	return api_analytics_answer(req, res, DB_AN_LEADS_TRENDS);
}

int api_analytics_revenue_summary(struct request *req, struct response *res)
{
	return api_analytics_answer(req, res, DB_AN_REVENUE_SUMMARY);
}

int api_analytics_revenue_by_package(struct request *req, struct response *res)
{
	return api_analytics_answer(req, res, DB_AN_REVENUE_BY_PACKAGE);
}

int api_analytics_subscription_trends(struct request *req, struct response *res)
{
	return api_analytics_answer(req, res, DB_AN_SUBSCRIPTION_TRENDS);
}

int api_analytics_customer_ltv(struct request *req, struct response *res)
{
	return api_analytics_answer(req, res, DB_AN_CUSTOMER_LTV);
}

int api_analytics_subscriptions_list(struct request *req, struct response *res)
{
	return api_analytics_answer(req, res, DB_AN_SUBSCRIPTIONS_LIST);
}

int api_analytics_conversations_summary(struct request *req, struct response *res)
{
	return api_analytics_answer(req, res, DB_AN_CONVERSATIONS_SUMMARY);
}

int api_analytics_conversations_trends(struct request *req, struct response *res)
{
	return api_analytics_answer(req, res, DB_AN_CONVERSATIONS_TRENDS);
}

int api_analytics_conversations_list(struct request *req, struct response *res)
{
	return api_analytics_answer(req, res, DB_AN_CONVERSATIONS_LIST);
}

int api_analytics_models_metrics(struct request *req, struct response *res)
{
	return api_analytics_answer(req, res, DB_AN_MODELS_METRICS);
}

int api_analytics_agents_summary(struct request *req, struct response *res)
{
	return api_analytics_answer(req, res, DB_AN_AGENTS_SUMMARY);
}

int api_analytics_agents_trends(struct request *req, struct response *res)
{
	return api_analytics_answer(req, res, DB_AN_AGENTS_TRENDS);
}

int api_analytics_agents_logs(struct request *req, struct response *res)
{
	return api_analytics_answer(req, res, DB_AN_AGENTS_LOGS);
}

int api_analytics_services_recommendations(struct request *req, struct response *res)
{
	return api_analytics_answer(req, res, DB_AN_SERVICES_RECOMMENDATIONS);
}
