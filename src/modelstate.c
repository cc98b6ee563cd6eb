/*
 * modelstate: shared per-model health view, circuit breaker and metrics.
 */
#include "modelstate.h"
#include "app.h"
#include "config.h"
#include "kv.h"
#include "llmstatus.h"
#include "log.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Upper bounds (ms) of the latency histogram's buckets. No call outlives
 * CHAT_DEADLINE_SECONDS (at most 600 s), so the last bucket holds the rest.
 */
static const int modelstate_buckets[] = {10,   25,    50,    100,   250,    500,   1000,
					 2500, 5000, 10000, 30000, 60000, 120000, 600000};
#define MODELSTATE_NBUCKETS (int)(sizeof(modelstate_buckets) / sizeof(modelstate_buckets[0]))

/*
 * One call: KEYS metrics hash, failure counter, open flag; ARGV ok (1/0),
 * latency ms, tokens in, tokens out, histogram field, failures to open,
 * cool-down seconds.
 */
static const char modelstate_script[] =
	"local m = KEYS[1]\n"
	"redis.call('HINCRBY', m, 'requests', 1)\n"
	"redis.call('HINCRBY', m, 'latency_sum_ms', ARGV[2])\n"
	"redis.call('HINCRBY', m, ARGV[5], 1)\n"
	"if ARGV[1] == '1' then\n"
	"  redis.call('HINCRBY', m, 'successes', 1)\n"
	"  redis.call('HINCRBY', m, 'tokens_in', ARGV[3])\n"
	"  redis.call('HINCRBY', m, 'tokens_out', ARGV[4])\n"
	"  redis.call('DEL', KEYS[2])\n"
	"  return {0}\n"
	"end\n"
	"redis.call('HINCRBY', m, 'failures', 1)\n"
	"local f = redis.call('INCR', KEYS[2])\n"
	"redis.call('EXPIRE', KEYS[2], 3600)\n"
	"if f >= tonumber(ARGV[6]) then\n"
	"  redis.call('SET', KEYS[3], '1', 'EX', ARGV[7])\n"
	"  redis.call('DEL', KEYS[2])\n"
	"  return {1}\n"
	"end\n"
	"return {0}\n";

void modelstate_record(struct app *app, const struct model *m, bool ok, int latency_ms,
		       int tokens_in, int tokens_out)
{
	char kmetrics[128], kfail[128], kopen[128], lat[16], tin[16], tout[16], bucket[24],
		fails[16], cool[16];
	long long opened = 0;
	int b = 0;

	while (b < MODELSTATE_NBUCKETS - 1 && latency_ms > modelstate_buckets[b])
		b++;
	snprintf(bucket, sizeof(bucket), "le_%d", modelstate_buckets[b]);
	snprintf(kmetrics, sizeof(kmetrics), "pc:metrics:%s", m->name);
	snprintf(kfail, sizeof(kfail), "pc:cb:fail:%s", m->name);
	snprintf(kopen, sizeof(kopen), "pc:cb:open:%s", m->name);
	snprintf(lat, sizeof(lat), "%d", latency_ms);
	snprintf(tin, sizeof(tin), "%d", tokens_in);
	snprintf(tout, sizeof(tout), "%d", tokens_out);
	snprintf(fails, sizeof(fails), "%d", app->cfg->circuit_failures);
	snprintf(cool, sizeof(cool), "%d", app->cfg->circuit_cooldown_seconds);
	const char *keys[] = {kmetrics, kfail, kopen};
	const char *args[] = {ok ? "1" : "0", lat, tin, tout, bucket, fails, cool};
	if (kv_eval_ints(app->kv, modelstate_script, 3, keys, 7, args, &opened, 1) == 1 && opened)
		log_msg(LOG_WARN, "circuit_opened", "model %s failed %d times in a row: skipped for %d s",
			m->name, app->cfg->circuit_failures, app->cfg->circuit_cooldown_seconds);
}

int modelstate_read(struct app *app, struct model_status *st, struct json_object **host)
{
	int n = models_count(app->models);
	const char *keys[1 + MODELS_MAX];
	char open_keys[MODELS_MAX][128], *values[1 + MODELS_MAX];

	keys[0] = LLMSTATUS_KEY;
	for (int i = 0; i < n; i++) {
		snprintf(open_keys[i], sizeof(open_keys[i]), "pc:cb:open:%s",
			 models_at(app->models, i)->name);
		keys[1 + i] = open_keys[i];
	}
	if (host != NULL)
		*host = NULL;
	if (kv_mget(app->kv, n + 1, keys, values) < 0) {
		for (int i = 0; i < n; i++)
			st[i] = (struct model_status){.known = false, .healthy = true};
		return -1;
	}
	struct json_object *hs = llmstatus_interpret(app, values[0]), *v;
	/* before the first check completes nothing is known: try the models */
	bool checked = json_object_object_get_ex(hs, "status", &v) &&
		       strcmp(json_object_get_string(v), "unknown") != 0;
	for (int i = 0; i < n; i++) {
		const struct model *m = models_at(app->models, i);
		st[i].known = true;
		st[i].circuit_open = values[1 + i] != NULL;
		if (m->provider == PROVIDER_OLLAMA)
			st[i].healthy = !checked || llmstatus_has_tag(hs, m->tag);
		else
			st[i].healthy = app->cfg->huggingface_api_key != NULL;
	}
	for (int i = 0; i < n + 1; i++)
		free(values[i]);
	if (host != NULL)
		*host = hs;
	else
		json_object_put(hs);
	return 0;
}

int modelstate_candidates(struct app *app, const char *task, const struct model **out, int max)
{
	const struct model *all[MODELS_MAX];
	struct model_status st[MODELS_MAX];
	int n = models_task(app->models, task, all, MODELS_MAX), k = 0;

	if (n < 0)
		return -1;
	modelstate_read(app, st, NULL);
	for (int i = 0; i < n && k < max; i++)
		if (st[all[i]->index].healthy && !st[all[i]->index].circuit_open)
			out[k++] = all[i];
	return k;
}

static long long modelstate_get(struct json_object *h, const char *field)
{
	struct json_object *v;
	return json_object_object_get_ex(h, field, &v) ? json_object_get_int64(v) : 0;
}

/* A number with two decimals, printed as such. */
static struct json_object *modelstate_2dp(double v)
{
	char s[32];
	snprintf(s, sizeof(s), "%.2f", v);
	return json_object_new_double_s(atof(s), s);
}

/* The upper bound of the bucket where the cumulative count reaches q. */
static int modelstate_quantile(struct json_object *h, long long total, double q)
{
	long long need = (long long)(q * (double)total + 0.999999), seen = 0;
	char field[24];

	if (total == 0)
		return 0;
	for (int b = 0; b < MODELSTATE_NBUCKETS; b++) {
		snprintf(field, sizeof(field), "le_%d", modelstate_buckets[b]);
		seen += modelstate_get(h, field);
		if (seen >= need)
			return modelstate_buckets[b];
	}
	return modelstate_buckets[MODELSTATE_NBUCKETS - 1];
}

int modelstate_metrics(struct app *app, struct json_object **out)
{
	int n = models_count(app->models);
	char kbuf[MODELS_MAX][128];
	const char *keys[MODELS_MAX];
	struct json_object *raw = NULL;

	for (int i = 0; i < n; i++) {
		snprintf(kbuf[i], sizeof(kbuf[i]), "pc:metrics:%s", models_at(app->models, i)->name);
		keys[i] = kbuf[i];
	}
	if (kv_hgetall_ints(app->kv, n, keys, &raw) < 0)
		return -1;
	*out = json_object_new_array();
	for (int i = 0; i < n; i++) {
		struct json_object *h = json_object_array_get_idx(raw, (size_t)i);
		struct json_object *o = json_object_new_object();
		long long req = modelstate_get(h, "requests"), ok = modelstate_get(h, "successes");
		long long tin = modelstate_get(h, "tokens_in"), tout = modelstate_get(h, "tokens_out");
		json_object_object_add(o, "total_requests", json_object_new_int64(req));
		json_object_object_add(o, "successes", json_object_new_int64(ok));
		json_object_object_add(o, "failures",
				       json_object_new_int64(modelstate_get(h, "failures")));
		json_object_object_add(o, "success_rate",
				       modelstate_2dp(req ? 100.0 * (double)ok / (double)req : 0));
		json_object_object_add(
			o, "avg_latency_ms",
			modelstate_2dp(req ? (double)modelstate_get(h, "latency_sum_ms") / (double)req
					   : 0));
		json_object_object_add(o, "p50_latency_ms",
				       json_object_new_int(modelstate_quantile(h, req, 0.50)));
		json_object_object_add(o, "p95_latency_ms",
				       json_object_new_int(modelstate_quantile(h, req, 0.95)));
		json_object_object_add(o, "p99_latency_ms",
				       json_object_new_int(modelstate_quantile(h, req, 0.99)));
		json_object_object_add(o, "tokens_in", json_object_new_int64(tin));
		json_object_object_add(o, "tokens_out", json_object_new_int64(tout));
		json_object_object_add(o, "total_tokens", json_object_new_int64(tin + tout));
		json_object_array_add(*out, o);
	}
	json_object_put(raw);
	return 0;
}
