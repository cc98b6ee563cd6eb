/*
 * router: the route table and the matcher. The table is the single list of
 * what the API serves; the OpenAPI document is checked against it.
 */
#include "router.h"
#include "api.h"

#include <stdio.h>
#include <string.h>

const char *const route_auth_names[ROUTE_AUTH__MAX] = {"public", "optional", "required", "admin",
							 "internal"};

static const struct route router_table[] = {
	ROUTE(HTTP_GET, "/health/live", api_health_live, ROUTE_PUBLIC, ROUTE_LIMIT_NONE),
	ROUTE(HTTP_GET, "/health/ready", api_health_ready, ROUTE_PUBLIC, ROUTE_LIMIT_NONE),
	ROUTE(HTTP_GET, "/health", api_health, ROUTE_PUBLIC, ROUTE_LIMIT_NONE),
	ROUTE(HTTP_GET, "/api/me", api_me, ROUTE_AUTH_REQUIRED, ROUTE_LIMIT_DEFAULT),

	ROUTE(HTTP_GET, "/api/models", api_models_list, ROUTE_PUBLIC, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/models/metrics", api_models_metrics, ROUTE_PUBLIC,
	      ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/models/{name}", api_models_get, ROUTE_PUBLIC, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/models/tasks/{task}", api_models_task, ROUTE_PUBLIC,
	      ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_POST, "/api/models/warmup", api_models_warmup, ROUTE_ADMIN, ROUTE_LIMIT_DEFAULT),

	ROUTE(HTTP_POST, "/api/chat/message", api_chat_message, ROUTE_AUTH_OPTIONAL,
	      ROUTE_LIMIT_CHAT),
	ROUTE(HTTP_POST, "/api/chat/stream", api_chat_stream, ROUTE_AUTH_OPTIONAL,
	      ROUTE_LIMIT_CHAT),
	ROUTE(HTTP_GET, "/api/chat/history/{conversation_id}", api_chat_history,
	      ROUTE_AUTH_OPTIONAL, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_DELETE, "/api/chat/history/{conversation_id}", api_chat_delete,
	      ROUTE_AUTH_OPTIONAL, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/chat/conversations", api_chat_conversations, ROUTE_AUTH_REQUIRED,
	      ROUTE_LIMIT_DEFAULT),

	ROUTE(HTTP_GET, "/api/analytics/leads/summary", api_analytics_leads_summary,
	      ROUTE_AUTH_REQUIRED, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/analytics/leads/trends", api_analytics_leads_trends,
	      ROUTE_AUTH_REQUIRED, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/analytics/revenue/summary", api_analytics_revenue_summary,
	      ROUTE_AUTH_REQUIRED, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/analytics/revenue/by-package", api_analytics_revenue_by_package,
	      ROUTE_AUTH_REQUIRED, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/analytics/revenue/subscription-trends",
	      api_analytics_subscription_trends, ROUTE_AUTH_REQUIRED, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/analytics/revenue/customer-ltv", api_analytics_customer_ltv,
	      ROUTE_AUTH_REQUIRED, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/analytics/revenue/subscriptions/list",
	      api_analytics_subscriptions_list, ROUTE_AUTH_REQUIRED, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/analytics/conversations/summary", api_analytics_conversations_summary,
	      ROUTE_AUTH_REQUIRED, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/analytics/conversations/trends", api_analytics_conversations_trends,
	      ROUTE_AUTH_REQUIRED, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/analytics/conversations/list", api_analytics_conversations_list,
	      ROUTE_AUTH_REQUIRED, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/analytics/models/metrics", api_analytics_models_metrics, ROUTE_ADMIN,
	      ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/analytics/agents/summary", api_analytics_agents_summary, ROUTE_ADMIN,
	      ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/analytics/agents/trends", api_analytics_agents_trends, ROUTE_ADMIN,
	      ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/analytics/agents/logs", api_analytics_agents_logs, ROUTE_ADMIN,
	      ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/analytics/services/recommendations",
	      api_analytics_services_recommendations, ROUTE_AUTH_REQUIRED, ROUTE_LIMIT_DEFAULT),

	ROUTE(HTTP_GET, "/api/notifications", api_notifications_list, ROUTE_AUTH_REQUIRED,
	      ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/notifications/unread-count", api_notifications_unread,
	      ROUTE_AUTH_REQUIRED, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_GET, "/api/notifications/{id}", api_notifications_get, ROUTE_AUTH_REQUIRED,
	      ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_DELETE, "/api/notifications/{id}", api_notifications_delete, ROUTE_AUTH_REQUIRED,
	      ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_POST, "/api/notifications/mark-read", api_notifications_mark_read,
	      ROUTE_AUTH_REQUIRED, ROUTE_LIMIT_DEFAULT),
	ROUTE(HTTP_POST, "/api/notifications/mark-all-read", api_notifications_mark_all_read,
	      ROUTE_AUTH_REQUIRED, ROUTE_LIMIT_DEFAULT),

	/* the internal listener only */
	ROUTE(HTTP_GET, "/internal/live-auth", api_live_auth, ROUTE_INTERNAL, ROUTE_LIMIT_NONE),
	ROUTE(HTTP_GET, "/metrics", api_metrics, ROUTE_INTERNAL, ROUTE_LIMIT_NONE),
};

#define ROUTER_N (sizeof(router_table) / sizeof(router_table[0]))

const struct route *router_routes(size_t *count)
{
	*count = ROUTER_N;
	return router_table;
}

/*
 * Matches pattern against the request's segments. Returns -1 when it does
 * not match, else a score in which a literal segment at position i weighs
 * more than every later position together, so the comparison of two scores
 * is the "first differing segment is literal" rule.
 */
static long router_score(const char *pattern, const struct request *req)
{
	const char *p = pattern;
	long score = 0;
	int i = 0;

	if (*p == '/')
		p++;
	while (*p != '\0') {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (i >= req->nsegs)
			return -1;
		if (p[0] == '{') {
			if (req->segs[i][0] == '\0')
				return -1;
		} else {
			if (strlen(req->segs[i]) != len || memcmp(req->segs[i], p, len) != 0)
				return -1;
			score |= 1L << (REQUEST_MAX_SEGS - i);
		}
		i++;
		p += len;
		if (*p == '/')
			p++;
	}
	return i == req->nsegs ? score : -1;
}

static void router_bind(struct request *req, const char *pattern)
{
	const char *p = pattern + 1;

	req->nparams = 0;
	for (int i = 0; *p != '\0'; i++) {
		if (*p == '{' && req->nparams < REQUEST_MAX_PARAMS)
			req->params[req->nparams++] = req->segs[i];
		const char *slash = strchr(p, '/');
		if (slash == NULL)
			break;
		p = slash + 1;
	}
}

int router_match_table(const struct route *table, size_t count, struct request *req,
		       const struct route **out, char *allow, size_t allowlen)
{
	const char *best = NULL;
	long best_score = -1;
	enum http_method m = req->method == HTTP_HEAD ? HTTP_GET : req->method;

	for (size_t i = 0; i < count; i++) {
		/* routes of the internal listener do not exist for anyone else */
		if (table[i].auth == ROUTE_INTERNAL && !req->internal)
			continue;
		long s = router_score(table[i].pattern, req);
		if (s > best_score) {
			best_score = s;
			best = table[i].pattern;
		}
	}
	if (best == NULL)
		return 404;
	size_t n = 0;
	allow[0] = '\0';
	for (size_t i = 0; i < count; i++) {
		const struct route *r = &table[i];
		if (strcmp(r->pattern, best) != 0 || (r->auth == ROUTE_INTERNAL && !req->internal))
			continue;
		if (r->method == m) {
			router_bind(req, best);
			*out = r;
			return 0;
		}
		n += (size_t)snprintf(allow + n, n < allowlen ? allowlen - n : 0, "%s%s",
				      n ? ", " : "", http_method_names[r->method]);
		if (r->method == HTTP_GET)
			n += (size_t)snprintf(allow + n, n < allowlen ? allowlen - n : 0, ", HEAD");
	}
	if (req->method == HTTP_OPTIONS) {
		/* a non-CORS OPTIONS: answered by the server with Allow */
		snprintf(allow + n, n < allowlen ? allowlen - n : 0, "%sOPTIONS", n ? ", " : "");
		return 204;
	}
	snprintf(allow + n, n < allowlen ? allowlen - n : 0, "%sOPTIONS", n ? ", " : "");
	return 405;
}

int router_match(struct request *req, const struct route **out, char *allow, size_t allowlen)
{
	return router_match_table(router_table, ROUTER_N, req, out, allow, allowlen);
}
