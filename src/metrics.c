/*
 * metrics: per-worker counters, flushed to Redis, rendered for Prometheus.
 */
#include "metrics.h"
#include "app.h"
#include "clock.h"
#include "db.h"
#include "kv.h"
#include "log.h"
#include "models.h"
#include "modelstate.h"
#include "request.h"
#include "router.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Upper bounds (seconds) of the request latency histogram; one more for +Inf. */
static const char *const metrics_le[] = {"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
					 "0.25",  "0.5",    "1",     "2.5",  "5",     "10",   "30"};
static const int64_t metrics_le_us[] = {1000,	 2500,	  5000,	    10000,   25000,
					50000,	 100000,  250000,   500000,  1000000,
					2500000, 5000000, 10000000, 30000000};
#define METRICS_NB (int)(sizeof(metrics_le_us) / sizeof(metrics_le_us[0]))

#define METRICS_FLUSH_MS     1000  /* pending deltas wait at most this long */
#define METRICS_HEARTBEAT_MS 30000 /* gauges are refreshed at least this often */
#define METRICS_STALE_S	     90	   /* a worker silent this long has gone */
#define METRICS_PRUNE_MS     60000 /* how often a worker drops gone ones */
#define METRICS_XSTR(x)	     METRICS_STR(x)
#define METRICS_STR(x)	     #x

/* Requests of one route, method and status since the last flush. */
struct metrics_series {
	int route; /* index in the route table; nroutes: no route; -1: free slot */
	int method;
	int status;
	int64_t count;
};
#define METRICS_SLOTS 1024 /* open addressing; routes x methods x statuses fit */

/* Latency and rate-limit counts of one route since the last flush. */
struct metrics_route {
	int64_t buckets[METRICS_NB + 1];
	int64_t sum_us;
	int64_t limited;
};

static struct {
	const struct route *table;
	size_t nroutes;
	struct metrics_route *routes; /* nroutes + 1 (the last: no route) */
	struct metrics_series series[METRICS_SLOTS];
	bool dirty;
	int64_t db_connects_sent, kv_connects_sent;
	int64_t last_flush_ms, last_prune_ms;
	int64_t started_s;
	char key_counters[160], key_workers[176];
	char *text;
} metrics;

static void metrics_clear(void)
{
	for (int i = 0; i < METRICS_SLOTS; i++)
		metrics.series[i] = (struct metrics_series){.route = -1};
	memset(metrics.routes, 0, sizeof(*metrics.routes) * (metrics.nroutes + 1));
	metrics.dirty = false;
}

int metrics_init(void)
{
	char host[128] = "localhost";

	metrics.table = router_routes(&metrics.nroutes);
	metrics.routes = calloc(metrics.nroutes + 1, sizeof(*metrics.routes));
	if (metrics.routes == NULL)
		return -1;
	metrics_clear();
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "localhost");
	snprintf(metrics.key_counters, sizeof(metrics.key_counters), "pc:prom:%s", host);
	snprintf(metrics.key_workers, sizeof(metrics.key_workers), "pc:prom:%s:workers", host);
	metrics.started_s = clock_wall_ms() / 1000;
	metrics.last_flush_ms = clock_mono_ms();
	return 0;
}

void metrics_free(void)
{
	free(metrics.routes);
	free(metrics.text);
	memset(&metrics, 0, sizeof(metrics));
}

void metrics_request(const struct route *route, int method, int status, int64_t duration_us,
		     bool rate_limited)
{
	if (metrics.routes == NULL)
		return;
	int ri = route != NULL ? (int)(route - metrics.table) : (int)metrics.nroutes;
	unsigned h = ((unsigned)ri * 31u + (unsigned)method) * 1009u + (unsigned)status;
	for (int probe = 0; probe < METRICS_SLOTS; probe++) {
		struct metrics_series *s = &metrics.series[(h + (unsigned)probe) % METRICS_SLOTS];
		if (s->route == -1)
			*s = (struct metrics_series){ri, method, status, 0};
		if (s->route == ri && s->method == method && s->status == status) {
			s->count++;
			break;
		}
	}
	struct metrics_route *r = &metrics.routes[ri];
	int b = 0;
	while (b < METRICS_NB && duration_us > metrics_le_us[b])
		b++;
	r->buckets[b]++;
	r->sum_us += duration_us;
	if (rate_limited)
		r->limited++;
	metrics.dirty = true;
}

/* "GET|/api/models/{name}" for route ri; "*|none" for no route. */
static void metrics_route_key(size_t ri, char *buf, size_t len)
{
	if (ri < metrics.nroutes)
		snprintf(buf, len, "%s|%s", http_method_names[metrics.table[ri].method],
			 metrics.table[ri].pattern);
	else
		snprintf(buf, len, "*|none");
}

/*
 * One call per flush. KEYS: counters hash, workers hash. ARGV: pid, start
 * time, now, postgres up, redis up, prune (1/0), then field/delta pairs.
 */
static const char metrics_script[] =
    "local c, w, p, now = KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[3])\n"
    "redis.call('HSET', w, p..':started', ARGV[2], p..':seen', ARGV[3],\n"
    "           p..':postgres', ARGV[4], p..':redis', ARGV[5])\n"
    "if ARGV[6] == '1' then\n"
    "  local all = redis.call('HGETALL', w)\n"
    "  for i = 1, #all, 2 do\n"
    "    local f = all[i]\n"
    "    if string.sub(f, -5) == ':seen' and tonumber(all[i + 1]) < now - " METRICS_XSTR(
	METRICS_STALE_S) " then\n"
			 "      local q = string.sub(f, 1, -6)\n"
			 "      redis.call('HDEL', w, q..':started', q..':seen', q..':postgres', "
			 "q..':redis')\n"
			 "    end\n"
			 "  end\n"
			 "end\n"
			 "for i = 7, #ARGV, 2 do redis.call('HINCRBY', c, ARGV[i], ARGV[i + 1]) "
			 "end\n"
			 "return {1}\n";

/* Appends "field\0delta\0" to buf and both pointers to args. */
static void metrics_arg(char **buf, const char **args, int *n, const char *field, int64_t delta)
{
	int len = sprintf(*buf, "%s", field);
	args[(*n)++] = *buf;
	*buf += len + 1;
	len = sprintf(*buf, "%lld", (long long)delta);
	args[(*n)++] = *buf;
	*buf += len + 1;
}

void metrics_flush(struct app *app, bool force)
{
	int64_t now_ms = clock_mono_ms();
	int64_t dbrc = db_reconnects(app->db), kvrc = kv_reconnects(app->kv);
	bool pending =
	    metrics.dirty || dbrc != metrics.db_connects_sent || kvrc != metrics.kv_connects_sent;

	if (metrics.routes == NULL)
		return;
	if (!force &&
	    now_ms - metrics.last_flush_ms < (pending ? METRICS_FLUSH_MS : METRICS_HEARTBEAT_MS))
		return;
	/* fields to send: series, non-zero route counts, connects */
	size_t nfields = 2;
	for (int i = 0; i < METRICS_SLOTS; i++)
		nfields += metrics.series[i].count != 0;
	for (size_t ri = 0; ri <= metrics.nroutes; ri++) {
		const struct metrics_route *r = &metrics.routes[ri];
		for (int b = 0; b <= METRICS_NB; b++)
			nfields += r->buckets[b] != 0;
		nfields += (r->sum_us != 0) + (r->limited != 0);
	}
	const char **args = malloc(sizeof(*args) * (6 + 2 * nfields));
	char *strs = malloc((nfields + 2) * 224);
	char *p = strs, field[200];
	int n = 0;
	long long one;
	if (args == NULL || strs == NULL)
		goto out;
	bool prune = now_ms - metrics.last_prune_ms >= METRICS_PRUNE_MS;
	n = 6;
	args[0] = p;
	p += sprintf(p, "%d", (int)getpid()) + 1;
	args[1] = p;
	p += sprintf(p, "%lld", (long long)metrics.started_s) + 1;
	args[2] = p;
	p += sprintf(p, "%lld", (long long)(clock_wall_ms() / 1000)) + 1;
	args[3] = db_up(app->db) ? "1" : "0";
	args[4] = kv_up(app->kv) ? "1" : "0";
	args[5] = prune ? "1" : "0";
	for (int i = 0; i < METRICS_SLOTS; i++) {
		const struct metrics_series *s = &metrics.series[i];
		if (s->route < 0 || s->count == 0)
			continue;
		snprintf(field, sizeof(field), "r|%s|%s|%d", http_method_names[s->method],
			 (size_t)s->route < metrics.nroutes ? metrics.table[s->route].pattern
							    : "none",
			 s->status);
		metrics_arg(&p, args, &n, field, s->count);
	}
	for (size_t ri = 0; ri <= metrics.nroutes; ri++) {
		const struct metrics_route *r = &metrics.routes[ri];
		char name[180];
		metrics_route_key(ri, name, sizeof(name));
		for (int b = 0; b <= METRICS_NB; b++) {
			if (r->buckets[b] == 0)
				continue;
			snprintf(field, sizeof(field), "b|%s|%d", name, b);
			metrics_arg(&p, args, &n, field, r->buckets[b]);
		}
		if (r->sum_us != 0) {
			snprintf(field, sizeof(field), "s|%s", name);
			metrics_arg(&p, args, &n, field, r->sum_us);
		}
		if (r->limited != 0) {
			snprintf(field, sizeof(field), "l|%s", name);
			metrics_arg(&p, args, &n, field, r->limited);
		}
	}
	if (dbrc != metrics.db_connects_sent)
		metrics_arg(&p, args, &n, "postgres_connects", dbrc - metrics.db_connects_sent);
	if (kvrc != metrics.kv_connects_sent)
		metrics_arg(&p, args, &n, "redis_connects", kvrc - metrics.kv_connects_sent);
	const char *keys[] = {metrics.key_counters, metrics.key_workers};
	/* on failure the deltas stay for the next attempt; a reply lost after
	 * Redis ran the script would count them twice, which is the lesser harm */
	metrics.last_flush_ms = now_ms;
	if (kv_eval_ints(app->kv, metrics_script, 2, keys, n, args, &one, 1) != 1)
		goto out;
	metrics_clear();
	metrics.db_connects_sent = dbrc;
	metrics.kv_connects_sent = kvrc;
	if (prune)
		metrics.last_prune_ms = now_ms;
out:
	free(args);
	free(strs);
}

/* ------------------------------------------------------------------ render */

static long long metrics_get(struct json_object *h, const char *field)
{
	struct json_object *v;
	return json_object_object_get_ex(h, field, &v) ? (long long)json_object_get_int64(v) : 0;
}

/* A label value with \, " and newline escaped, as the text format requires. */
static void metrics_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void metrics_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_requests(FILE *f, struct json_object *c)
{
	metrics_family(f, "pixelcraft_http_requests_total", "counter",
		       "Requests answered by the workers of this host, by method, route "
		       "pattern (none: no route matched) and status.");
	json_object_object_foreach(c, field, v)
	{
		char method[16], route[160];
		int status;
		if (sscanf(field, "r|%15[^|]|%159[^|]|%d", method, route, &status) != 3)
			continue;
		fprintf(f, "pixelcraft_http_requests_total{method=\"%s\",route=\"", method);
		metrics_label(f, route);
		fprintf(f, "\",status=\"%d\"} %lld\n", status, (long long)json_object_get_int64(v));
	}
}

/* The labels of route ri: method="GET",route="/api/models/{name}". */
static void metrics_route_labels(FILE *f, size_t ri)
{
	fprintf(f, "method=\"%s\",route=\"",
		ri < metrics.nroutes ? http_method_names[metrics.table[ri].method] : "*");
	metrics_label(f, ri < metrics.nroutes ? metrics.table[ri].pattern : "none");
	fputc('"', f);
}

static void metrics_latency(FILE *f, struct json_object *c)
{
	char field[200], key[180];

	metrics_family(f, "pixelcraft_http_request_duration_seconds", "histogram",
		       "Time from accepting a request to sending its response, by route.");
	for (size_t ri = 0; ri <= metrics.nroutes; ri++) {
		long long cum = 0;
		bool any = false;
		metrics_route_key(ri, key, sizeof(key));
		for (int b = 0; b <= METRICS_NB && !any; b++) {
			snprintf(field, sizeof(field), "b|%s|%d", key, b);
			any = json_object_object_get_ex(c, field, NULL);
		}
		if (!any)
			continue;
		for (int b = 0; b <= METRICS_NB; b++) {
			snprintf(field, sizeof(field), "b|%s|%d", key, b);
			cum += metrics_get(c, field);
			fputs("pixelcraft_http_request_duration_seconds_bucket{", f);
			metrics_route_labels(f, ri);
			fprintf(f, ",le=\"%s\"} %lld\n", b < METRICS_NB ? metrics_le[b] : "+Inf",
				cum);
		}
		snprintf(field, sizeof(field), "s|%s", key);
		fputs("pixelcraft_http_request_duration_seconds_sum{", f);
		metrics_route_labels(f, ri);
		fprintf(f, "} %.6f\n", (double)metrics_get(c, field) / 1e6);
		fputs("pixelcraft_http_request_duration_seconds_count{", f);
		metrics_route_labels(f, ri);
		fprintf(f, "} %lld\n", cum);
	}
}

static void metrics_limited(FILE *f, struct json_object *c)
{
	char field[200], key[180];

	metrics_family(f, "pixelcraft_rate_limited_total", "counter",
		       "Requests refused with 429 by the per-caller rate limit, by route.");
	for (size_t ri = 0; ri < metrics.nroutes; ri++) {
		if (metrics.table[ri].limit == ROUTE_LIMIT_NONE)
			continue;
		metrics_route_key(ri, key, sizeof(key));
		snprintf(field, sizeof(field), "l|%s", key);
		fputs("pixelcraft_rate_limited_total{", f);
		metrics_route_labels(f, ri);
		fprintf(f, "} %lld\n", metrics_get(c, field));
	}
}

static void metrics_dependencies(FILE *f, struct app *app, struct json_object *c)
{
	metrics_family(f, "pixelcraft_postgres_connects_total", "counter",
		       "Connections opened to PostgreSQL: at start, after a failure, on recycle.");
	fprintf(f, "pixelcraft_postgres_connects_total %lld\n",
		metrics_get(c, "postgres_connects"));
	metrics_family(f, "pixelcraft_redis_connects_total", "counter",
		       "Connections opened to Redis: at start and after a failure.");
	fprintf(f, "pixelcraft_redis_connects_total %lld\n", metrics_get(c, "redis_connects"));

	struct json_object *models = NULL;
	if (modelstate_metrics(app, &models) == 0) {
		int n = models_count(app->models);
		metrics_family(f, "pixelcraft_model_requests_total", "counter",
			       "Calls to each model (all hosts sharing this Redis).");
		for (int i = 0; i < n; i++) {
			fputs("pixelcraft_model_requests_total{model=\"", f);
			metrics_label(f, models_at(app->models, i)->name);
			fprintf(f, "\"} %lld\n",
				metrics_get(json_object_array_get_idx(models, (size_t)i),
					    "total_requests"));
		}
		metrics_family(f, "pixelcraft_model_failures_total", "counter",
			       "Failed calls to each model (all hosts sharing this Redis).");
		for (int i = 0; i < n; i++) {
			fputs("pixelcraft_model_failures_total{model=\"", f);
			metrics_label(f, models_at(app->models, i)->name);
			fprintf(
			    f, "\"} %lld\n",
			    metrics_get(json_object_array_get_idx(models, (size_t)i), "failures"));
		}
		json_object_put(models);
	}
}

/* Gauges of one worker. */
static void metrics_worker(FILE *f, const char *metric, const char *pid, const char *dep,
			   long long value)
{
	if (dep != NULL)
		fprintf(f, "%s{dependency=\"%s\",pid=\"%s\"} %lld\n", metric, dep, pid, value);
	else
		fprintf(f, "%s{pid=\"%s\"} %lld\n", metric, pid, value);
}

/*
 * One line of `metric` per worker seen recently (from the workers hash w), or
 * for this worker alone when w is NULL; dep names the dependency, NULL for
 * the uptime.
 */
static void metrics_workers(FILE *f, struct app *app, struct json_object *w, const char *metric,
			    const char *dep)
{
	long long now = clock_wall_ms() / 1000;
	char self[16], field[48];

	snprintf(self, sizeof(self), "%d", (int)getpid());
	if (w == NULL) {
		long long v = dep == NULL		     ? now - metrics.started_s
			      : strcmp(dep, "postgres") == 0 ? db_up(app->db)
							     : kv_up(app->kv);
		metrics_worker(f, metric, self, dep, v);
		return;
	}
	json_object_object_foreach(w, key, val)
	{
		char pid[16];
		if (sscanf(key, "%15[0-9]:seen", pid) != 1 ||
		    strcmp(key + strlen(pid), ":seen") != 0)
			continue;
		if (json_object_get_int64(val) < now - METRICS_STALE_S)
			continue;
		snprintf(field, sizeof(field), "%s:%s", pid, dep != NULL ? dep : "started");
		long long v = metrics_get(w, field);
		metrics_worker(f, metric, pid, dep, dep != NULL ? v : now - v);
	}
}

const char *metrics_render(struct app *app, size_t *len)
{
	struct json_object *raw = NULL, *c = NULL, *w = NULL;
	const char *keys[] = {metrics.key_counters, metrics.key_workers};
	size_t size = 0;

	free(metrics.text);
	metrics.text = NULL;
	FILE *f = open_memstream(&metrics.text, &size);
	if (f == NULL)
		return NULL;
	metrics_flush(app, true);
	bool store = kv_hgetall_ints(app->kv, 2, keys, &raw) == 0;
	if (store) {
		c = json_object_array_get_idx(raw, 0);
		w = json_object_array_get_idx(raw, 1);
		metrics_requests(f, c);
		metrics_latency(f, c);
		metrics_limited(f, c);
		metrics_dependencies(f, app, c);
	}
	metrics_family(f, "pixelcraft_dependency_up", "gauge",
		       "1 when the worker's connection to the dependency is up.");
	metrics_workers(f, app, w, "pixelcraft_dependency_up", "postgres");
	metrics_workers(f, app, w, "pixelcraft_dependency_up", "redis");
	metrics_family(f, "pixelcraft_worker_uptime_seconds", "gauge",
		       "Seconds since each worker of this host started.");
	metrics_workers(f, app, w, "pixelcraft_worker_uptime_seconds", NULL);
	metrics_family(f, "pixelcraft_metrics_store_up", "gauge",
		       "1 when the shared counters could be read from Redis; 0: only this "
		       "worker's gauges are shown.");
	fprintf(f, "pixelcraft_metrics_store_up %d\n", store ? 1 : 0);
	json_object_put(raw);
	if (fclose(f) != 0)
		return NULL;
	*len = size;
	return metrics.text;
}
