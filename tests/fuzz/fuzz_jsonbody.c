/*
 * fuzz_jsonbody: the strict JSON body parser (jsonbody_parse: UTF-8, json-c in
 * strict mode with a depth limit, NaN/Infinity, the duplicate-key scan) and
 * the table-driven validation of every POST route's body, with the checks
 * each handler adds after the table (items of arrays, model names).
 *
 * The field tables are copies (the handlers keep theirs static): keep them
 * equal to their sources named below.
 *
 * Input: the request body as sent.
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jsonbody.h"
#include "models.h"
#include "response.h"

/* src/api_chat.c api_chat_fields: POST /api/chat/message and /api/chat/stream */
static const struct jsonbody_field chat_fields[] = {
	{"message", JB_STRING, true, false, 1, 10000},
	{"conversation_id", JB_UUID, false, true, 0, 0},
	{"model", JB_STRING, false, true, 1, 64},
	{"context", JB_OBJECT, false, true, 0, 8192},
};

/* src/api_models.c api_models_warmup_fields: POST /api/models/warmup */
static const struct jsonbody_field warmup_fields[] = {
	{"model_names", JB_ARRAY, false, true, 1, MODELS_MAX},
};

/* src/api_notifications.c api_mark_read_fields: POST /api/notifications/mark-read */
static const struct jsonbody_field mark_read_fields[] = {
	{"notification_ids", JB_ARRAY, true, false, 1, 500},
};

/* Every type with every kind of bound, so each branch of the checker runs. */
static const struct jsonbody_field all_types[] = {
	{"s", JB_STRING, false, true, 0, 5},     {"i", JB_INT, false, false, -3, 3},
	{"n", JB_NUMBER, false, true, -1, 1},    {"b", JB_BOOL, true, false, 0, 0},
	{"o", JB_OBJECT, false, false, 0, 32},   {"a", JB_ARRAY, false, false, 0, 2},
	{"u", JB_UUID, false, false, 0, 0},      {"message", JB_INT, false, false, 0, 0},
	{"context", JB_STRING, false, true, 0, 0},
};

static struct models *registry;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* the shipped registry: the chat "model" and warmup names are checked against it */
	registry = models_load("ops/models.json", stderr);
	if (registry == NULL) {
		fprintf(stderr, "fuzz_jsonbody: run from the project root (ops/models.json)\n");
		abort();
	}
	return 0;
}

/* The checks api_chat_input() adds after the table. */
static void chat_extra(struct json_object *body, struct response *res)
{
	struct json_object *v;

	if (json_object_object_get_ex(body, "model", &v) && v != NULL &&
	    json_object_is_type(v, json_type_string) &&
	    models_find(registry, json_object_get_string(v)) == NULL)
		response_field_error(res, "model", "unknown model");
	if (json_object_object_get_ex(body, "message", &v) && v != NULL)
		jsonbody_trimmed_chars(json_object_get_string(v),
				       (size_t)json_object_get_string_len(v));
}

/* The item checks of api_models_warmup() and api_notifications_mark_read(). */
static void array_items(struct json_object *body, const char *name, bool uuids,
			struct response *res)
{
	struct json_object *a;

	if (!json_object_object_get_ex(body, name, &a) || !json_object_is_type(a, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *v = json_object_array_get_idx(a, i);
		bool ok = json_object_is_type(v, json_type_string) &&
			  (uuids ? jsonbody_is_uuid(json_object_get_string(v))
				 : models_find(registry, json_object_get_string(v)) != NULL);
		if (!ok) {
			char field[48];
			snprintf(field, sizeof(field), "%s[%zu]", name, i);
			response_field_error(res, field, "invalid");
		}
	}
}

static void check(struct json_object *body, const struct jsonbody_field *fields, int n,
		  int route)
{
	struct response res;

	memset(&res, 0, sizeof(res));
	int st = jsonbody_check(body, fields, n, &res);
	if (st != 0 && st != 422)
		abort();
	if ((st == 422) != (res.errors != NULL))
		abort(); /* 422 exactly when a field error was recorded */
	if (route == 0)
		chat_extra(body, &res);
	else if (route == 1)
		array_items(body, "model_names", false, &res);
	else if (route == 2)
		array_items(body, "notification_ids", true, &res);
	response_free(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct response res;
	struct json_object *body = NULL;

	memset(&res, 0, sizeof(res));
	int st = jsonbody_parse((const char *)data, size, &body, &res);
	if (st != 0 && st != 400)
		abort();
	if ((st == 0) != (body != NULL))
		abort();
	if (st == 400 && res.detail[0] == '\0')
		abort(); /* every refusal says why */
	if (st == 0) {
		if (!json_object_is_type(body, json_type_object))
			abort();
		/* accepted bodies are valid UTF-8 and serialise and re-parse */
		if (!jsonbody_utf8_ok((const char *)data, size))
			abort();
		const char *again = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
		struct response res2;
		struct json_object *body2 = NULL;
		memset(&res2, 0, sizeof(res2));
		if (jsonbody_parse(again, strlen(again), &body2, &res2) != 0)
			abort();
		json_object_put(body2);
		response_free(&res2);
		check(body, chat_fields, 4, 0);
		check(body, warmup_fields, 1, 1);
		check(body, mark_read_fields, 1, 2);
		check(body, all_types, (int)(sizeof(all_types) / sizeof(all_types[0])), 3);
	}
	json_object_put(body);
	response_free(&res);
	return 0;
}
