/*
 * models: loading and validation of the model registry.
 *
 * The file is JSON, parsed strictly (jsonbody rules: no duplicate keys, no
 * NaN); every member is type-checked and unknown members are errors, so a
 * typo ("temprature") is reported instead of silently ignored.
 */
#include "models.h"
#include "jsonbody.h"
#include "response.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const char *const provider_names[PROVIDER__MAX] = {"ollama", "huggingface"};

struct task {
	char *name;
	int order[MODELS_MAX]; /* model indexes, candidates in order */
	int n;
};

struct models {
	struct model model[MODELS_MAX];
	int n;
	struct task *task;
	int ntasks;
};

/* Generation options: name, JSON type (int or number), bounds. */
static const struct {
	const char *name;
	bool integer;
	double min, max;
} models_options[] = {
	{"temperature", false, 0, 2},     {"top_p", false, 0, 1},
	{"top_k", true, 0, 1000},         {"repeat_penalty", false, 0, 5},
	{"num_ctx", true, 128, 1048576},  {"num_predict", true, -2, 1048576},
};

static const char *const models_capabilities[] = {"chat", "completion", "embedding",
						  "code_completion", "vision"};

struct models_errs {
	FILE *out;
	const char *path;
	int n;
};

static void models_fail(struct models_errs *e, const char *where, const char *expected,
			struct json_object *got)
{
	fprintf(e->out, "config error: MODELS_FILE %s: %s: expected %s, got %s\n", e->path, where,
		expected, got ? json_object_to_json_string_ext(got, JSON_C_TO_STRING_PLAIN) : "nothing");
	e->n++;
}

static bool models_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' ||
		      *s == '-' || *s == '.'))
			return false;
	return true;
}

static void models_load_options(struct model *m, struct json_object *opts,
				struct models_errs *e)
{
	char where[256];

	json_object_object_foreach(opts, key, val)
	{
		size_t i = 0, n = sizeof(models_options) / sizeof(models_options[0]);
		while (i < n && strcmp(models_options[i].name, key) != 0)
			i++;
		snprintf(where, sizeof(where), "models.%s.options.%s", m->name, key);
		if (i == n) {
			models_fail(e, where,
				    "one of temperature, top_p, top_k, repeat_penalty, num_ctx, "
				    "num_predict",
				    NULL);
			continue;
		}
		enum json_type t = json_object_get_type(val);
		bool type_ok = models_options[i].integer
				       ? t == json_type_int
				       : (t == json_type_int || t == json_type_double);
		double v = json_object_get_double(val);
		if (!type_ok || v < models_options[i].min || v > models_options[i].max) {
			char expected[128];
			snprintf(expected, sizeof(expected), "%s from %g to %g",
				 models_options[i].integer ? "an integer" : "a number",
				 models_options[i].min, models_options[i].max);
			models_fail(e, where, expected, val);
		}
	}
	m->options = json_object_get(opts);
	struct json_object *ctx;
	m->context_window = json_object_object_get_ex(opts, "num_ctx", &ctx)
				    ? json_object_get_int(ctx)
				    : 2048;
}

static void models_load_model(struct models *reg, const char *name, struct json_object *def,
			      struct models_errs *e)
{
	struct model *m = &reg->model[reg->n];
	struct json_object *v;
	char where[256];

	m->name = strdup(name);
	m->index = reg->n++;
	snprintf(where, sizeof(where), "models.%s", name);
	if (!models_name_ok(name))
		models_fail(e, where, "a name of lower-case letters, digits, '_', '-' or '.'",
			    NULL);
	if (!json_object_is_type(def, json_type_object)) {
		models_fail(e, where, "an object", def);
		return;
	}
	json_object_object_foreach(def, key, val)
	{
		static const char *const known[] = {"provider", "model", "options", "capabilities",
						    "timeout_seconds"};
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok = ok || strcmp(key, known[i]) == 0;
		if (!ok) {
			snprintf(where, sizeof(where), "models.%s.%s", name, key);
			models_fail(e, where,
				    "one of provider, model, options, capabilities, timeout_seconds",
				    val);
		}
	}
	snprintf(where, sizeof(where), "models.%s.provider", name);
	if (!json_object_object_get_ex(def, "provider", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		models_fail(e, where, "\"ollama\" or \"huggingface\"", v);
	} else if (strcmp(json_object_get_string(v), "ollama") == 0) {
		m->provider = PROVIDER_OLLAMA;
	} else if (strcmp(json_object_get_string(v), "huggingface") == 0) {
		m->provider = PROVIDER_HUGGINGFACE;
	} else {
		models_fail(e, where, "\"ollama\" or \"huggingface\"", v);
	}
	snprintf(where, sizeof(where), "models.%s.model", name);
	if (!json_object_object_get_ex(def, "model", &v) ||
	    !json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0 ||
	    json_object_get_string_len(v) > 200)
		models_fail(e, where, "the provider's model name, e.g. \"mistral:7b\"", v);
	else
		m->tag = strdup(json_object_get_string(v));
	snprintf(where, sizeof(where), "models.%s.timeout_seconds", name);
	m->timeout_seconds = 60;
	if (json_object_object_get_ex(def, "timeout_seconds", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int(v) < 1 ||
		    json_object_get_int(v) > 600)
			models_fail(e, where, "an integer from 1 to 600", v);
		else
			m->timeout_seconds = json_object_get_int(v);
	}
	snprintf(where, sizeof(where), "models.%s.options", name);
	if (!json_object_object_get_ex(def, "options", &v))
		v = NULL;
	if (v != NULL && !json_object_is_type(v, json_type_object)) {
		models_fail(e, where, "an object", v);
		v = NULL;
	}
	struct json_object *empty = v ? NULL : json_object_new_object();
	models_load_options(m, v ? v : empty, e);
	json_object_put(empty);

	m->capabilities = json_object_new_object();
	if (json_object_object_get_ex(def, "capabilities", &v) &&
	    !json_object_is_type(v, json_type_object)) {
		snprintf(where, sizeof(where), "models.%s.capabilities", name);
		models_fail(e, where, "an object", v);
		v = NULL;
	}
	for (size_t i = 0; i < sizeof(models_capabilities) / sizeof(models_capabilities[0]); i++) {
		struct json_object *c = NULL;
		bool on = false;
		if (v != NULL && json_object_object_get_ex(v, models_capabilities[i], &c)) {
			if (!json_object_is_type(c, json_type_boolean)) {
				snprintf(where, sizeof(where), "models.%s.capabilities.%s", name,
					 models_capabilities[i]);
				models_fail(e, where, "true or false", c);
			}
			on = json_object_get_boolean(c);
		}
		json_object_object_add(m->capabilities, models_capabilities[i],
				       json_object_new_boolean(on));
	}
}

static int models_index(const struct models *reg, const char *name)
{
	for (int i = 0; i < reg->n; i++)
		if (strcmp(reg->model[i].name, name) == 0)
			return i;
	return -1;
}

static void models_task_add(struct task *t, int idx)
{
	for (int i = 0; i < t->n; i++)
		if (t->order[i] == idx)
			return;
	t->order[t->n++] = idx;
}

static void models_load_task(struct models *reg, const char *name, struct json_object *def,
			     struct models_errs *e)
{
	struct task *t = &reg->task[reg->ntasks++];
	struct json_object *v;
	char where[256];

	t->name = strdup(name);
	snprintf(where, sizeof(where), "tasks.%s.priority", name);
	if (!json_object_is_type(def, json_type_object) ||
	    !json_object_object_get_ex(def, "priority", &v) ||
	    !json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0) {
		models_fail(e, where, "a non-empty list of model names", def);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		struct json_object *n = json_object_array_get_idx(v, i);
		int idx = json_object_is_type(n, json_type_string)
				  ? models_index(reg, json_object_get_string(n))
				  : -1;
		if (idx < 0)
			models_fail(e, where, "names of models defined under \"models\"", n);
		else
			models_task_add(t, idx);
	}
	snprintf(where, sizeof(where), "tasks.%s.fallback", name);
	if (json_object_object_get_ex(def, "fallback", &v)) {
		int idx = json_object_is_type(v, json_type_string)
				  ? models_index(reg, json_object_get_string(v))
				  : -1;
		if (idx < 0)
			models_fail(e, where, "the name of a model defined under \"models\"", v);
		else
			models_task_add(t, idx);
	}
}

struct models *models_load(const char *path, FILE *err)
{
	struct models_errs e = {err, path, 0};
	struct models *reg = calloc(1, sizeof(*reg));
	struct json_object *root = NULL, *v;
	struct response res = {0};
	char *text = NULL;
	FILE *f = fopen(path, "re");

	if (reg == NULL || f == NULL) {
		fprintf(err, "config error: MODELS_FILE: cannot read %s\n", path);
		goto fail;
	}
	text = calloc(1, 1 << 20);
	size_t len = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
	if (jsonbody_parse(text, len, &root, &res) != 0) {
		fprintf(err, "config error: MODELS_FILE %s: %s\n", path, res.detail);
		goto fail;
	}
	if (!json_object_object_get_ex(root, "models", &v) ||
	    !json_object_is_type(v, json_type_object) || json_object_object_length(v) == 0) {
		models_fail(&e, "models", "an object of at least one model", v);
		goto fail;
	}
	if (json_object_object_length(v) > MODELS_MAX) {
		models_fail(&e, "models", "at most 32 models", NULL);
		goto fail;
	}
	json_object_object_foreach(v, name, def)
		models_load_model(reg, name, def, &e);
	if (!json_object_object_get_ex(root, "tasks", &v) ||
	    !json_object_is_type(v, json_type_object)) {
		models_fail(&e, "tasks", "an object of task types", v);
		goto fail;
	}
	reg->task = calloc((size_t)json_object_object_length(v), sizeof(*reg->task));
	{
		json_object_object_foreach(v, tname, tdef)
			models_load_task(reg, tname, tdef, &e);
	}
	if (models_task(reg, "chat", NULL, 0) < 0)
		models_fail(&e, "tasks.chat", "a routing for the chat task", NULL);
	json_object_object_foreach(root, key, val)
	{
		if (strcmp(key, "models") != 0 && strcmp(key, "tasks") != 0)
			models_fail(&e, key, "only \"models\" and \"tasks\"", val);
	}
	if (e.n > 0)
		goto fail;
	json_object_put(root);
	free(text);
	fclose(f);
	response_free(&res);
	return reg;
fail:
	json_object_put(root);
	free(text);
	if (f != NULL)
		fclose(f);
	response_free(&res);
	models_free(reg);
	return NULL;
}

void models_free(struct models *reg)
{
	if (reg == NULL)
		return;
	for (int i = 0; i < reg->n; i++) {
		free(reg->model[i].name);
		free(reg->model[i].tag);
		json_object_put(reg->model[i].options);
		json_object_put(reg->model[i].capabilities);
	}
	for (int i = 0; i < reg->ntasks; i++)
		free(reg->task[i].name);
	free(reg->task);
	free(reg);
}

int models_count(const struct models *reg)
{
	return reg->n;
}

const struct model *models_at(const struct models *reg, int i)
{
	return i >= 0 && i < reg->n ? &reg->model[i] : NULL;
}

const struct model *models_find(const struct models *reg, const char *name)
{
	int i = models_index(reg, name);
	return i < 0 ? NULL : &reg->model[i];
}

int models_task(const struct models *reg, const char *task, const struct model **out, int max)
{
	for (int i = 0; i < reg->ntasks; i++) {
		if (strcmp(reg->task[i].name, task) != 0)
			continue;
		int n = 0;
		for (int j = 0; j < reg->task[i].n && n < max; j++)
			out[n++] = &reg->model[reg->task[i].order[j]];
		return out == NULL ? reg->task[i].n : n;
	}
	return -1;
}

int models_task_count(const struct models *reg)
{
	return reg->ntasks;
}

const char *models_task_name(const struct models *reg, int i)
{
	return i >= 0 && i < reg->ntasks ? reg->task[i].name : NULL;
}
