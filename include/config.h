/*
 * config: the worker's configuration, read once from the environment at
 * start-up and validated as a whole. Every variable is declared once in the
 * table in config.c (name, type, default, bounds, documentation); the README's
 * configuration table and ops/pixelcraft.env.example follow that table, and
 * `pixelcraft-api --config-doc` prints it.
 */
#ifndef PIXELCRAFT_CONFIG_H
#define PIXELCRAFT_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "backoff.h"

enum app_env { APP_ENV_DEVELOPMENT, APP_ENV_TEST, APP_ENV_STAGING, APP_ENV_PRODUCTION, APP_ENV__MAX };

extern const char *const app_env_names[APP_ENV__MAX];

/* A request budget such as "100/minute". */
struct config_rate {
	int limit;
	int window_seconds;
};

/* What the rate limiter does while Redis is unreachable. */
enum rl_fallback { RL_FALLBACK_LOCAL, RL_FALLBACK_OPEN, RL_FALLBACK_CLOSED, RL_FALLBACK__MAX };

extern const char *const rl_fallback_names[RL_FALLBACK__MAX];

/* An IPv4 or IPv6 network in CIDR form. */
struct config_cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int prefix;
};

struct config {
	/* dependencies */
	char *database_url;
	char *database_read_url; /* the analytics replica; NULL: use database_url */
	char *redis_url;
	char *redis_host;     /* redis://host:port/db (NULL for unix://) */
	int redis_port;
	char *redis_path;     /* unix:///path (NULL for redis://) */
	char *redis_username; /* Redis 6 ACL user, or NULL */
	char *redis_password; /* or NULL */
	int redis_db;
	char *ollama_host;

	/* authentication */
	char *jwt_secret;
	char *jwt_audience;
	char *jwt_issuer; /* NULL: not checked */
	int jwt_leeway_seconds;
	int auth_role_cache_seconds;

	/* HTTP layer */
	char **cors_origins;
	int cors_count;
	bool cors_any; /* "*" was listed: any origin, never with credentials */
	int max_body_bytes;
	struct config_cidr *trusted_proxies;
	int trusted_proxy_count;

	/* rate limiting */
	struct config_rate rate_chat;
	struct config_rate rate_default;
	int rate_fallback; /* enum rl_fallback */

	/* process */
	int log_level; /* enum log_level */
	char *log_file;
	int app_env; /* enum app_env */
	int workers; /* size of the pool this worker belongs to */
	char *migrations_dir;

	/* deadlines and reconnects */
	int db_connect_timeout_ms;
	int db_query_timeout_ms;
	int db_recycle_seconds;
	struct backoff_policy db_retry;
	int redis_connect_timeout_ms;
	int redis_timeout_ms;
	struct backoff_policy redis_retry;
	int health_timeout_ms;
	int health_cache_ms;
	int model_health_interval;

	/* models and chat */
	char *models_file;
	char *system_prompt_file;
	int chat_history_turns;
	int chat_deadline_seconds;
	int llm_connect_timeout_ms;
	int circuit_failures;
	int circuit_cooldown_seconds;
	char *huggingface_api_key; /* NULL: not configured */
	char *huggingface_url;

	/* live updates */
	char *live_publish_url; /* NULL: off */
	int live_publish_timeout_ms;

	/* analytics */
	int analytics_cache_seconds; /* 0: no response cache */

	/* error reporting */
	char *sentry_dsn;	  /* NULL: off */
	char *sentry_environment; /* the events' environment */
};

/* One problem found while loading; the list is owned by the config. */
struct config_error {
	const char *name; /* the variable */
	char *message;    /* "expected ..., got ..." with secrets masked */
};

/*
 * Reads every variable from the process environment into cfg. Returns 0, or
 * -1 when any value is invalid; then errs (caller frees with
 * config_errors_free) lists every problem, one per variable.
 */
int config_load(struct config *cfg, struct config_error **errs, int *nerrs);

/* Frees what config_load allocated in cfg; accepts a zeroed config. */
void config_free(struct config *cfg);

/* Frees an error list from config_load. */
void config_errors_free(struct config_error *errs, int nerrs);

/* Prints every variable with its effective value, secrets masked. */
void config_print(const struct config *cfg, FILE *out);

/* Prints the documentation table (name, default, meaning) as Markdown. */
void config_doc(FILE *out);

/* Prints an example env file (systemd syntax) documenting every variable. */
void config_env_example(FILE *out);

/* Copies a URL with any password replaced by "***"; caller frees. */
char *config_mask_url(const char *url);

/* True when origin is in the CORS allowlist (exact match). */
bool config_origin_allowed(const struct config *cfg, const char *origin);

#endif
