/*
 * api: every HTTP handler, grouped by the file that implements it. A
 * handler fills the response and returns the HTTP status; errors go through
 * response_error() and are rendered by the server.
 */
#ifndef PIXELCRAFT_API_H
#define PIXELCRAFT_API_H

struct request;
struct response;

/* api_health.c */
int api_health_live(struct request *req, struct response *res);
int api_health_ready(struct request *req, struct response *res);
int api_health(struct request *req, struct response *res);
int api_metrics(struct request *req, struct response *res);

/* api_me.c */
int api_me(struct request *req, struct response *res);

/* api_models.c */
int api_models_list(struct request *req, struct response *res);
int api_models_get(struct request *req, struct response *res);
int api_models_metrics(struct request *req, struct response *res);
int api_models_task(struct request *req, struct response *res);
int api_models_warmup(struct request *req, struct response *res);

/* api_notifications.c */
int api_notifications_list(struct request *req, struct response *res);
int api_notifications_unread(struct request *req, struct response *res);
int api_notifications_get(struct request *req, struct response *res);
int api_notifications_delete(struct request *req, struct response *res);
int api_notifications_mark_read(struct request *req, struct response *res);
int api_notifications_mark_all_read(struct request *req, struct response *res);

/* api_live.c */
int api_live_auth(struct request *req, struct response *res);

/* api_chat.c */
int api_chat_message(struct request *req, struct response *res);
int api_chat_stream(struct request *req, struct response *res);
int api_chat_history(struct request *req, struct response *res);
int api_chat_delete(struct request *req, struct response *res);
int api_chat_conversations(struct request *req, struct response *res);

/* api_analytics.c */
int api_analytics_leads_summary(struct request *req, struct response *res);
int api_analytics_leads_trends(struct request *req, struct response *res);
int api_analytics_revenue_summary(struct request *req, struct response *res);
int api_analytics_revenue_by_package(struct request *req, struct response *res);
int api_analytics_subscription_trends(struct request *req, struct response *res);
int api_analytics_customer_ltv(struct request *req, struct response *res);
int api_analytics_subscriptions_list(struct request *req, struct response *res);
int api_analytics_conversations_summary(struct request *req, struct response *res);
int api_analytics_conversations_trends(struct request *req, struct response *res);
int api_analytics_conversations_list(struct request *req, struct response *res);
int api_analytics_models_metrics(struct request *req, struct response *res);
int api_analytics_agents_summary(struct request *req, struct response *res);
int api_analytics_agents_trends(struct request *req, struct response *res);
int api_analytics_agents_logs(struct request *req, struct response *res);
int api_analytics_services_recommendations(struct request *req, struct response *res);

#endif
