/*
 * config: a table of every environment variable the worker reads, with its
 * type, default and bounds, and one loader that validates all of them and
 * reports every problem at once ("NAME: expected ..., got ...").
 *
 * Values are parsed into struct config through offsetof(), so adding a
 * variable is one line in the table plus one field in the struct.
 */
#include "config.h"
#include "log.h"
#include "sentry.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

const char *const app_env_names[APP_ENV__MAX] = {"development", "test", "staging", "production"};
const char *const rl_fallback_names[RL_FALLBACK__MAX] = {"local", "open", "closed"};

enum config_kind {
	CK_STRING,   /* free text */
	CK_SECRET,   /* free text, never printed */
	CK_INT,      /* integer within [min, max] */
	CK_ENUM,     /* one of choices[], stored as its index */
	CK_PG_URL,   /* postgres:// or postgresql:// URI */
	CK_REDIS_URL,/* redis://[[user]:password@]host[:port][/db] or unix:///path[?db=N] */
	CK_HTTP_URL, /* http:// or https:// base URL */
	CK_ORIGINS,  /* comma-separated CORS origins or "*" */
	CK_RATE,     /* N/second|minute|hour|day */
	CK_CIDRS,    /* comma-separated addresses or networks */
	CK_SENTRY_DSN, /* empty, or scheme://PUBLIC_KEY@HOST[:PORT]/PROJECT_ID */
};

struct config_var {
	const char *name;
	enum config_kind kind;
	const char *def; /* NULL: required */
	long min, max;
	const char *const *choices;
	int nchoices;
	size_t off;
	const char *doc;
};

#define F(field) offsetof(struct config, field)
#define CHOICES(a) a, (int)(sizeof(a) / sizeof(a[0]))

static const struct config_var config_vars[] = {
	{"DATABASE_URL", CK_PG_URL, NULL, 0, 0, NULL, 0, F(database_url),
	 "PostgreSQL URI (postgresql://user:pass@host:port/db)"},
	{"DATABASE_READ_URL", CK_PG_URL, "", 0, 0, NULL, 0, F(database_read_url),
	 "PostgreSQL URI of a streaming replica for the analytics reports (a second connection "
	 "per worker; while it is down analytics answer 503); empty: analytics read from "
	 "DATABASE_URL"},
	{"REDIS_URL", CK_REDIS_URL, NULL, 0, 0, NULL, 0, F(redis_url),
	 "Redis URL (redis://[:pass@]host[:port][/db] or unix:///path[?db=N][&password=P])"},
	{"SUPABASE_JWT_SECRET", CK_SECRET, NULL, 32, 4096, NULL, 0, F(jwt_secret),
	 "HS256 secret of the Supabase project (at least 32 characters)"},
	{"JWT_AUDIENCE", CK_STRING, "authenticated", 1, 256, NULL, 0, F(jwt_audience),
	 "required `aud` of access tokens"},
	{"JWT_ISSUER", CK_STRING, "", 0, 512, NULL, 0, F(jwt_issuer),
	 "required `iss` of access tokens; empty: not checked"},
	{"JWT_LEEWAY_SECONDS", CK_INT, "30", 0, 300, NULL, 0, F(jwt_leeway_seconds),
	 "clock skew allowed on exp/nbf/iat"},
	{"AUTH_ROLE_CACHE_SECONDS", CK_INT, "30", 0, 3600, NULL, 0, F(auth_role_cache_seconds),
	 "how long a worker caches a user's role"},
	{"OLLAMA_HOST", CK_HTTP_URL, "http://127.0.0.1:11434", 0, 0, NULL, 0, F(ollama_host),
	 "base URL of the Ollama server"},
	{"CORS_ORIGINS", CK_ORIGINS, "", 0, 0, NULL, 0, F(cors_origins),
	 "comma-separated allowed browser origins (https://app.example.com); `*` allows any "
	 "origin without credentials; empty: no cross-origin access"},
	{"TRUSTED_PROXIES", CK_CIDRS, "", 0, 0, NULL, 0, F(trusted_proxies),
	 "comma-separated proxy addresses/networks whose X-Forwarded-For is believed"},
	{"RATE_LIMIT_CHAT", CK_RATE, "100/minute", 1, 1000000, NULL, 0, F(rate_chat),
	 "per-caller budget of the chat message and stream routes"},
	{"RATE_LIMIT_DEFAULT", CK_RATE, "600/minute", 1, 1000000, NULL, 0, F(rate_default),
	 "per-caller budget of every other /api/ route"},
	{"RATE_LIMIT_FALLBACK", CK_ENUM, "local", 0, 0, CHOICES(rl_fallback_names),
	 F(rate_fallback),
	 "while Redis is down: `local` (per-worker window, limit / WORKERS), `open` (no limit) or "
	 "`closed` (503)"},
	{"MAX_BODY_BYTES", CK_INT, "65536", 1024, 16777216, NULL, 0, F(max_body_bytes),
	 "largest accepted request body (413 above); keep nginx client_max_body_size equal"},
	{"LOG_LEVEL", CK_ENUM, "info", 0, 0, CHOICES(log_level_names), F(log_level),
	 "debug, info (one line per request), warn or error"},
	{"LOG_FILE", CK_STRING, "", 0, 4096, NULL, 0, F(log_file),
	 "append JSON log lines to this file; empty: standard error (journald under systemd)"},
	{"APP_ENV", CK_ENUM, "production", 0, 0, CHOICES(app_env_names), F(app_env),
	 "development, test, staging or production"},
	{"WORKERS", CK_INT, "4", 1, 1024, NULL, 0, F(workers),
	 "number of workers in this worker's pool (set by the launcher)"},
	{"MIGRATIONS_DIR", CK_STRING, "ops/sql", 1, 4096, NULL, 0, F(migrations_dir),
	 "directory of the numbered SQL migrations"},
	{"DB_CONNECT_TIMEOUT_MS", CK_INT, "2000", 50, 60000, NULL, 0, F(db_connect_timeout_ms),
	 "deadline to open a Postgres connection"},
	{"DB_QUERY_TIMEOUT_MS", CK_INT, "2000", 50, 600000, NULL, 0, F(db_query_timeout_ms),
	 "deadline of one query (client side, and statement_timeout on the server)"},
	{"DB_RECYCLE_SECONDS", CK_INT, "300", 0, 86400, NULL, 0, F(db_recycle_seconds),
	 "reopen the Postgres connection after this age (0: never)"},
	{"DB_RETRY_BASE_MS", CK_INT, "2000", 10, 600000, NULL, 0, F(db_retry.base_ms),
	 "wait after the first failed Postgres reconnect; doubles each failure"},
	{"DB_RETRY_MAX_MS", CK_INT, "10000", 10, 600000, NULL, 0, F(db_retry.max_ms),
	 "cap of the Postgres reconnect wait"},
	{"DB_RETRY_ATTEMPTS", CK_INT, "5", 1, 100, NULL, 0, F(db_retry.attempts),
	 "Postgres reconnects on the doubling schedule before staying at the cap"},
	{"REDIS_CONNECT_TIMEOUT_MS", CK_INT, "250", 10, 60000, NULL, 0,
	 F(redis_connect_timeout_ms), "deadline to open the Redis connection"},
	{"REDIS_TIMEOUT_MS", CK_INT, "250", 10, 60000, NULL, 0, F(redis_timeout_ms),
	 "deadline of one Redis command"},
	{"REDIS_RETRY_BASE_MS", CK_INT, "100", 10, 600000, NULL, 0, F(redis_retry.base_ms),
	 "wait after the first failed Redis reconnect; doubles each failure"},
	{"REDIS_RETRY_MAX_MS", CK_INT, "1000", 10, 600000, NULL, 0, F(redis_retry.max_ms),
	 "cap of the Redis reconnect wait (keep it at 1 s or less so shared limiting resumes "
	 "within a second)"},
	{"REDIS_RETRY_ATTEMPTS", CK_INT, "5", 1, 100, NULL, 0, F(redis_retry.attempts),
	 "Redis reconnects on the doubling schedule before staying at the cap"},
	{"MODELS_FILE", CK_STRING, "ops/models.json", 1, 4096, NULL, 0, F(models_file),
	 "the model registry: models, options, capabilities, task routing"},
	{"SYSTEM_PROMPT_FILE", CK_STRING, "ops/system-prompt.txt", 1, 4096, NULL, 0,
	 F(system_prompt_file), "the assistant's system prompt sent before every conversation"},
	{"CHAT_HISTORY_TURNS", CK_INT, "10", 0, 100, NULL, 0, F(chat_history_turns),
	 "earlier turns (a user message and its answer) sent to the model with a new message"},
	{"CHAT_DEADLINE_SECONDS", CK_INT, "60", 1, 600, NULL, 0, F(chat_deadline_seconds),
	 "overall deadline of one chat message, all fallback attempts included"},
	{"LLM_CONNECT_TIMEOUT_MS", CK_INT, "2000", 50, 60000, NULL, 0, F(llm_connect_timeout_ms),
	 "deadline to connect to an LLM provider"},
	{"CIRCUIT_FAILURES", CK_INT, "3", 1, 1000, NULL, 0, F(circuit_failures),
	 "consecutive failed calls after which a model is skipped for CIRCUIT_COOLDOWN_SECONDS"},
	{"CIRCUIT_COOLDOWN_SECONDS", CK_INT, "30", 1, 3600, NULL, 0, F(circuit_cooldown_seconds),
	 "how long a failing model is skipped before it is tried again"},
	{"HUGGINGFACE_API_KEY", CK_SECRET, "", 0, 4096, NULL, 0, F(huggingface_api_key),
	 "API token for models with provider huggingface (empty: those models are unavailable)"},
	{"HUGGINGFACE_URL", CK_HTTP_URL, "https://api-inference.huggingface.co", 0, 0, NULL, 0,
	 F(huggingface_url), "base URL of the Hugging Face text-generation API"},
	{"LIVE_PUBLISH_URL", CK_STRING, "http://127.0.0.1:8081/pub", 0, 1024, NULL, 0,
	 F(live_publish_url),
	 "nchan's publisher location on the internal listener (events go to URL/<channel>); "
	 "empty: live updates off (lighttpd)"},
	{"LIVE_PUBLISH_TIMEOUT_MS", CK_INT, "500", 10, 10000, NULL, 0, F(live_publish_timeout_ms),
	 "deadline of one publish (after the response; a failure is only logged)"},
	{"MODEL_HEALTH_INTERVAL", CK_INT, "30", 1, 3600, NULL, 0, F(model_health_interval),
	 "seconds between checks of the LLM host and models (one worker checks, under a Redis "
	 "lease; all read the shared result)"},
	{"HEALTH_CACHE_MS", CK_INT, "250", 0, 10000, NULL, 0, F(health_cache_ms),
	 "a worker reuses its last successful dependency check for this long, so health probes "
	 "cannot hammer Postgres and Redis (0: check on every request; failures are never "
	 "reused)"},
	{"HEALTH_TIMEOUT_MS", CK_INT, "1000", 50, 30000, NULL, 0, F(health_timeout_ms),
	 "deadline of the LLM host check in /health"},
	{"ANALYTICS_CACHE_SECONDS", CK_INT, "60", 0, 86400, NULL, 0, F(analytics_cache_seconds),
	 "how long analytics summaries are cached in Redis, per caller scope and parameters "
	 "(0: not cached)"},
	{"SENTRY_DSN", CK_SENTRY_DSN, "", 0, 0, NULL, 0, F(sentry_dsn),
	 "Sentry DSN (scheme://PUBLIC_KEY@HOST[:PORT]/PROJECT_ID): every 5xx answer is reported "
	 "to its envelope endpoint after the response (method, route pattern, status, detail, "
	 "request id; never bodies, tokens or personal data), at most one per route and status a "
	 "minute and 10 a minute per worker; empty: off"},
	{"SENTRY_ENVIRONMENT", CK_STRING, "production", 1, 64, NULL, 0, F(sentry_environment),
	 "the `environment` of the events sent to Sentry"},
};

#define CONFIG_NVARS (sizeof(config_vars) / sizeof(config_vars[0]))

/* ---- error list ---------------------------------------------------- */

struct config_errlist {
	struct config_error *v;
	int n;
};

static void config_fail(struct config_errlist *el, const char *name, const char *expected,
			const char *got)
{
	char msg[768];
	size_t len = 0;
	char shown[256];

	/* show what was given, escaped and shortened, so the line stays one line */
	shown[0] = '\0';
	log_escape(shown, &len, 200, got);
	shown[len] = '\0'; /* log_escape does not terminate */
	if (strlen(got) > len)
		strcpy(shown + (len < 200 ? len : 200), "...");
	snprintf(msg, sizeof(msg), "expected %s, got \"%s\"", expected, shown);
	struct config_error *v = realloc(el->v, (size_t)(el->n + 1) * sizeof(*v));
	if (v == NULL)
		return;
	el->v = v;
	el->v[el->n].name = name;
	el->v[el->n].message = strdup(msg);
	el->n++;
}

void config_errors_free(struct config_error *errs, int nerrs)
{
	for (int i = 0; i < nerrs; i++)
		free(errs[i].message);
	free(errs);
}

/* ---- parsers --------------------------------------------------------- */

static int config_parse_long(const char *s, long *out)
{
	char *end;

	if (*s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

char *config_mask_url(const char *url)
{
	char *copy = strdup(url ? url : "");
	if (copy == NULL)
		return NULL;
	char *scheme = strstr(copy, "://");
	if (scheme != NULL) {
		char *auth = scheme + 3;
		char *at = strchr(auth, '@');
		char *slash = strchr(auth, '/');
		if (at != NULL && (slash == NULL || at < slash)) {
			char *colon = memchr(auth, ':', (size_t)(at - auth));
			if (colon != NULL) {
				char *masked = NULL;
				if (asprintf(&masked, "%.*s***%s", (int)(colon + 1 - copy), copy,
					     at) < 0)
					masked = NULL;
				free(copy);
				copy = masked;
			}
		}
	}
	/* ?password=... in a query string */
	char *pw = copy ? strstr(copy, "password=") : NULL;
	if (pw != NULL) {
		char *end = strchr(pw, '&');
		char *masked = NULL;
		if (asprintf(&masked, "%.*spassword=***%s", (int)(pw - copy), copy,
			     end ? end : "") < 0)
			masked = NULL;
		free(copy);
		copy = masked;
	}
	return copy;
}

/* A Sentry DSN with its key replaced by "***" (the key lets anyone send events). */
static void config_mask_dsn(const char *v, char *out, size_t len)
{
	const char *scheme = strstr(v, "://");
	const char *at = scheme ? strchr(scheme + 3, '@') : NULL;

	if (at == NULL)
		snprintf(out, len, "%s", v);
	else
		snprintf(out, len, "%.*s***%s", (int)(scheme + 3 - v), v, at);
}

static int config_parse_pg(const char *v)
{
	char *err = NULL;

	if (strncmp(v, "postgresql://", 13) != 0 && strncmp(v, "postgres://", 11) != 0)
		return -1;
	PQconninfoOption *opts = PQconninfoParse(v, &err);
	PQfreemem(err);
	if (opts == NULL)
		return -1;
	PQconninfoFree(opts);
	return 0;
}

/* Percent-decodes s in place (for URL user and password parts). */
static void config_urldecode(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
			char hex[3] = {s[1], s[2], 0};
			*w++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

static int config_parse_redis(struct config *cfg, const char *v)
{
	CURLU *u = NULL;
	char *host = NULL, *port = NULL, *path = NULL, *user = NULL, *pass = NULL;
	long db = 0;
	int rc = -1;

	if (strncmp(v, "unix://", 7) == 0) {
		/* unix:///path/to/redis.sock[?db=N][&password=P]: no host part */
		const char *p = v + 7, *q = strchr(p, '?');
		size_t len = q ? (size_t)(q - p) : strlen(p);
		if (len < 2 || p[0] != '/')
			return -1;
		for (const char *opt = q; opt != NULL && *opt != '\0';) {
			opt++; /* '?' or '&' */
			size_t olen = strcspn(opt, "&");
			if (strncmp(opt, "db=", 3) == 0) {
				char num[16];
				snprintf(num, sizeof(num), "%.*s", (int)(olen - 3), opt + 3);
				if (olen - 3 >= sizeof(num) || config_parse_long(num, &db) < 0 ||
				    db < 0 || db > 1000)
					return -1;
			} else if (strncmp(opt, "password=", 9) == 0 && olen > 9) {
				free(cfg->redis_password);
				cfg->redis_password = strndup(opt + 9, olen - 9);
				config_urldecode(cfg->redis_password);
			} else {
				return -1;
			}
			opt += olen;
		}
		cfg->redis_path = strndup(p, len);
		config_urldecode(cfg->redis_path);
		cfg->redis_db = (int)db;
		return 0;
	}
	if (strncmp(v, "redis://", 8) != 0)
		return -1;
	u = curl_url();
	if (u == NULL || curl_url_set(u, CURLUPART_URL, v, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
		goto out;
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, CURLU_URLDECODE);
	if (host == NULL || *host == '\0')
		goto out;
	long p = 6379;
	if (port != NULL && (config_parse_long(port, &p) < 0 || p < 1 || p > 65535))
		goto out;
	if (path != NULL && strcmp(path, "/") != 0 && strcmp(path, "") != 0 &&
	    (config_parse_long(path + 1, &db) < 0 || db < 0 || db > 1000))
		goto out;
	cfg->redis_host = strdup(host);
	cfg->redis_port = (int)p;
	cfg->redis_db = (int)db;
	if (user != NULL && *user != '\0')
		cfg->redis_username = strdup(user);
	if (pass != NULL && *pass != '\0')
		cfg->redis_password = strdup(pass);
	rc = 0;
out:
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(user);
	curl_free(pass);
	curl_url_cleanup(u);
	return rc;
}

static int config_parse_http(const char *v)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *query = NULL;
	int rc = -1;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, v, 0) != CURLUE_OK)
		goto out;
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	if (scheme == NULL || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		goto out;
	if (host == NULL || *host == '\0' || query != NULL)
		goto out;
	if (strncmp(v, scheme, strlen(scheme)) != 0) /* curl guessed a scheme */
		goto out;
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(query);
	curl_url_cleanup(u);
	return rc;
}

/* An origin as browsers send it: scheme://host[:port], nothing else. */
static bool config_origin_ok(const char *o)
{
	const char *host;

	if (strncmp(o, "https://", 8) == 0)
		host = o + 8;
	else if (strncmp(o, "http://", 7) == 0)
		host = o + 7;
	else
		return false;
	if (*host == '\0')
		return false;
	for (const char *p = host; *p; p++)
		if (!(isalnum((unsigned char)*p) || strchr(".-:[]", *p)))
			return false;
	return true;
}

/* Splits a comma-separated list into trimmed, non-empty items; caller frees. */
static char **config_split(const char *v, int *n)
{
	char *copy = strdup(v), *save = NULL;
	char **items = NULL;
	int count = 0;

	if (copy == NULL)
		return NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*tok))
			tok++;
		size_t len = strlen(tok);
		while (len > 0 && isspace((unsigned char)tok[len - 1]))
			tok[--len] = '\0';
		if (len == 0)
			continue;
		char **grown = realloc(items, (size_t)(count + 1) * sizeof(*items));
		if (grown == NULL)
			break;
		items = grown;
		items[count++] = strdup(tok);
	}
	free(copy);
	*n = count;
	return items;
}

static void config_free_list(char **items, int n)
{
	for (int i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

static int config_parse_origins(struct config *cfg, const char *v, char *bad, size_t badlen)
{
	int n = 0;
	char **items = config_split(v, &n);

	for (int i = 0; i < n; i++) {
		if (strcmp(items[i], "*") == 0) {
			cfg->cors_any = true;
		} else if (!config_origin_ok(items[i])) {
			snprintf(bad, badlen, "%s", items[i]);
			config_free_list(items, n);
			return -1;
		}
	}
	cfg->cors_origins = items;
	cfg->cors_count = n;
	return 0;
}

static int config_parse_cidr(const char *s, struct config_cidr *c)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);

	if (len == 0 || len >= sizeof(addr))
		return -1;
	memcpy(addr, s, len);
	addr[len] = '\0';
	if (inet_pton(AF_INET, addr, c->addr) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, c->addr) == 1)
		c->family = AF_INET6;
	else
		return -1;
	long bits = c->family == AF_INET ? 32 : 128;
	long max = bits;
	if (slash != NULL && (config_parse_long(slash + 1, &bits) < 0 || bits < 0 || bits > max))
		return -1;
	c->prefix = (int)bits;
	return 0;
}

static int config_parse_cidrs(struct config *cfg, const char *v, char *bad, size_t badlen)
{
	int n = 0;
	char **items = config_split(v, &n);
	struct config_cidr *cidrs = calloc((size_t)n + 1, sizeof(*cidrs));
	int rc = 0;

	for (int i = 0; i < n && cidrs; i++) {
		if (config_parse_cidr(items[i], &cidrs[i]) < 0) {
			snprintf(bad, badlen, "%s", items[i]);
			rc = -1;
			break;
		}
	}
	config_free_list(items, n);
	if (rc < 0 || cidrs == NULL) {
		free(cidrs);
		return -1;
	}
	cfg->trusted_proxies = cidrs;
	cfg->trusted_proxy_count = n;
	return 0;
}

static int config_parse_rate(const char *v, struct config_rate *r, long min, long max)
{
	static const struct {
		const char *unit;
		int seconds;
	} units[] = {{"second", 1}, {"minute", 60}, {"hour", 3600}, {"day", 86400}};
	const char *slash = strchr(v, '/');
	char num[16];
	long limit;

	if (slash == NULL || slash == v || (size_t)(slash - v) >= sizeof(num))
		return -1;
	memcpy(num, v, (size_t)(slash - v));
	num[slash - v] = '\0';
	if (config_parse_long(num, &limit) < 0 || limit < min || limit > max)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t ul = strlen(units[i].unit);
		if (strncmp(slash + 1, units[i].unit, ul) == 0 &&
		    (slash[1 + ul] == '\0' || (slash[1 + ul] == 's' && slash[2 + ul] == '\0'))) {
			r->limit = (int)limit;
			r->window_seconds = units[i].seconds;
			return 0;
		}
	}
	return -1;
}

/* ---- loader ---------------------------------------------------------- */

static void config_load_var(struct config *cfg, const struct config_var *var,
			    struct config_errlist *el)
{
	const char *v = getenv(var->name);
	char *base = (char *)cfg;
	char expected[512], bad[256];

	if (v == NULL) {
		if (var->def == NULL) {
			config_fail(el, var->name, "a value (this variable is required)", "");
			return;
		}
		v = var->def;
	}
	switch (var->kind) {
	case CK_STRING:
	case CK_SECRET: {
		size_t len = strlen(v);
		if ((long)len < var->min || (long)len > var->max) {
			snprintf(expected, sizeof(expected), "%s%ld to %ld characters",
				 var->kind == CK_SECRET ? "a secret of " : "", var->min, var->max);
			if (var->kind == CK_SECRET) {
				char shown[64];
				snprintf(shown, sizeof(shown), "<%zu characters>", len);
				config_fail(el, var->name, expected, shown);
			} else {
				config_fail(el, var->name, expected, v);
			}
			return;
		}
		*(char **)(base + var->off) = len ? strdup(v) : NULL;
		return;
	}
	case CK_INT: {
		long n;
		if (config_parse_long(v, &n) < 0 || n < var->min || n > var->max) {
			snprintf(expected, sizeof(expected), "an integer from %ld to %ld", var->min,
				 var->max);
			config_fail(el, var->name, expected, v);
			return;
		}
		*(int *)(base + var->off) = (int)n;
		return;
	}
	case CK_ENUM:
		for (int i = 0; i < var->nchoices; i++) {
			if (strcasecmp(v, var->choices[i]) == 0) {
				*(int *)(base + var->off) = i;
				return;
			}
		}
		size_t len = 0;
		len += (size_t)snprintf(expected, sizeof(expected), "one of");
		for (int i = 0; i < var->nchoices && len < sizeof(expected); i++)
			len += (size_t)snprintf(expected + len, sizeof(expected) - len, "%s %s",
						i ? "," : "", var->choices[i]);
		config_fail(el, var->name, expected, v);
		return;
	case CK_PG_URL:
		/* an optional URL (default ""): empty means not set */
		if (*v == '\0' && var->def != NULL) {
			*(char **)(base + var->off) = NULL;
			return;
		}
		if (config_parse_pg(v) < 0) {
			char *masked = config_mask_url(v);
			config_fail(el, var->name, "a postgresql://user:password@host:port/db URI",
				    masked ? masked : "");
			free(masked);
			return;
		}
		*(char **)(base + var->off) = strdup(v);
		return;
	case CK_REDIS_URL:
		if (config_parse_redis(cfg, v) < 0) {
			char *masked = config_mask_url(v);
			config_fail(el, var->name,
				    "redis://[:password@]host[:port][/db] or "
				    "unix:///path[?db=N][&password=P]",
				    masked ? masked : "");
			free(masked);
			return;
		}
		*(char **)(base + var->off) = strdup(v);
		return;
	case CK_HTTP_URL:
		if (config_parse_http(v) < 0) {
			config_fail(el, var->name, "an http:// or https:// URL with a host", v);
			return;
		}
		*(char **)(base + var->off) = strdup(v);
		/* drop a trailing slash so paths can be appended */
		char *s = *(char **)(base + var->off);
		size_t sl = strlen(s);
		while (sl > 0 && s[sl - 1] == '/')
			s[--sl] = '\0';
		return;
	case CK_ORIGINS:
		if (config_parse_origins(cfg, v, bad, sizeof(bad)) < 0)
			config_fail(el, var->name,
				    "comma-separated origins like https://app.example.com (no path), "
				    "or *",
				    bad);
		return;
	case CK_CIDRS:
		if (config_parse_cidrs(cfg, v, bad, sizeof(bad)) < 0)
			config_fail(el, var->name,
				    "comma-separated IP addresses or networks (10.0.0.0/8, ::1)", bad);
		return;
	case CK_SENTRY_DSN: {
		static const char form[] = "empty, or http[s]://PUBLIC_KEY@HOST[:PORT]/PROJECT_ID";
		struct sentry_dsn dsn;
		if (*v != '\0' && sentry_dsn_parse(v, &dsn) < 0) {
			char masked[1024];
			config_mask_dsn(v, masked, sizeof(masked));
			config_fail(el, var->name, form, masked);
			return;
		}
		*(char **)(base + var->off) = *v ? strdup(v) : NULL;
		return;
	}
	case CK_RATE:
		if (config_parse_rate(v, (struct config_rate *)(void *)(base + var->off), var->min,
				      var->max) < 0) {
			snprintf(expected, sizeof(expected),
				 "N/second, N/minute, N/hour or N/day with N from %ld to %ld",
				 var->min, var->max);
			config_fail(el, var->name, expected, v);
		}
		return;
	}
}

int config_load(struct config *cfg, struct config_error **errs, int *nerrs)
{
	struct config_errlist el = {NULL, 0};

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < CONFIG_NVARS; i++)
		config_load_var(cfg, &config_vars[i], &el);

	/* relations between variables */
	if (cfg->db_retry.base_ms > cfg->db_retry.max_ms)
		config_fail(&el, "DB_RETRY_MAX_MS", "a value not below DB_RETRY_BASE_MS",
			    getenv("DB_RETRY_MAX_MS") ? getenv("DB_RETRY_MAX_MS") : "10000");
	if (cfg->redis_retry.base_ms > cfg->redis_retry.max_ms)
		config_fail(&el, "REDIS_RETRY_MAX_MS", "a value not below REDIS_RETRY_BASE_MS",
			    getenv("REDIS_RETRY_MAX_MS") ? getenv("REDIS_RETRY_MAX_MS") : "1000");
	if (cfg->cors_any && cfg->cors_count > 1)
		config_fail(&el, "CORS_ORIGINS", "either * alone or a list of origins",
			    getenv("CORS_ORIGINS"));

	*errs = el.v;
	*nerrs = el.n;
	return el.n == 0 ? 0 : -1;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < CONFIG_NVARS; i++) {
		const struct config_var *var = &config_vars[i];
		if (var->kind == CK_STRING || var->kind == CK_SECRET || var->kind == CK_PG_URL ||
		    var->kind == CK_REDIS_URL || var->kind == CK_HTTP_URL ||
		    var->kind == CK_SENTRY_DSN)
			free(*(char **)((char *)cfg + var->off));
	}
	free(cfg->redis_host);
	free(cfg->redis_path);
	free(cfg->redis_username);
	free(cfg->redis_password);
	config_free_list(cfg->cors_origins, cfg->cors_count);
	free(cfg->trusted_proxies);
	memset(cfg, 0, sizeof(*cfg));
}

bool config_origin_allowed(const struct config *cfg, const char *origin)
{
	for (int i = 0; i < cfg->cors_count; i++)
		if (strcmp(cfg->cors_origins[i], origin) == 0)
			return true;
	return false;
}

void config_print(const struct config *cfg, FILE *out)
{
	(void)cfg;
	for (size_t i = 0; i < CONFIG_NVARS; i++) {
		const struct config_var *var = &config_vars[i];
		const char *v = getenv(var->name);
		const char *source = v ? "" : " (default)";
		if (v == NULL)
			v = var->def ? var->def : "";
		if (var->kind == CK_SECRET) {
			fprintf(out, "  %-26s <%zu characters, hidden>%s\n", var->name, strlen(v),
				source);
		} else if (var->kind == CK_PG_URL || var->kind == CK_REDIS_URL) {
			char *masked = config_mask_url(v);
			fprintf(out, "  %-26s %s%s\n", var->name, masked ? masked : "", source);
			free(masked);
		} else if (var->kind == CK_SENTRY_DSN) {
			char masked[1024];
			config_mask_dsn(v, masked, sizeof(masked));
			fprintf(out, "  %-26s %s%s\n", var->name, masked, source);
		} else {
			fprintf(out, "  %-26s %s%s\n", var->name, v, source);
		}
	}
}

void config_doc(FILE *out)
{
	fprintf(out, "| Variable | Default | Meaning |\n|---|---|---|\n");
	for (size_t i = 0; i < CONFIG_NVARS; i++) {
		const struct config_var *var = &config_vars[i];
		const char *def = var->def == NULL ? "**required**" : var->def;
		fprintf(out, "| `%s` | %s%s%s | %s |\n", var->name, *def && var->def ? "`" : "",
			*def ? def : "(empty)", *def && var->def ? "`" : "", var->doc);
	}
}

void config_env_example(FILE *out)
{
	fprintf(out, "# PixelCraft API configuration, in systemd EnvironmentFile= syntax:\n"
		     "# KEY=VALUE lines, comments only on their own lines (a '#' after a value\n"
		     "# is part of the value). Generated by `pixelcraft-api --config-env`.\n"
		     "# Install as /etc/pixelcraft/pixelcraft.env, mode 0640, group pixelcraft.\n");
	for (size_t i = 0; i < CONFIG_NVARS; i++) {
		const struct config_var *var = &config_vars[i];
		fprintf(out, "\n# %s\n", var->doc);
		if (var->def == NULL)
			fprintf(out, "%s=\n", var->name);
		else
			fprintf(out, "#%s=%s\n", var->name, var->def);
	}
}
