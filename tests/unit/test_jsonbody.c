/* Unit tests for jsonbody: strict parsing and explicit field checks. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <string.h>

#include "jsonbody.h"
#include "response.h"

static int parse(const char *text, struct response *res)
{
	struct json_object *o = NULL;
	int st = jsonbody_parse(text, strlen(text), &o, res);
	json_object_put(o);
	return st;
}

Test(jsonbody, malformed_is_400)
{
	static const char *const bad[] = {
		"",          "{",          "[1,2]",         "\"str\"",      "{\"a\":1,}",
		"{'a':1}",   "{\"a\":NaN}", "{\"a\":-Infinity}", "{\"a\":Infinity}", "{\"a\":1e999}",
		"{\"a\":01}", "{\"a\":1} x", "{\"a\":1}{}",   "{\"a\":tru}",  "{\"a\":\"\xff\"}",
		"{\"a\":1,\"a\":2}", "{\"x\":{\"k\":1,\"k\":1}}", "{\"\\u0061\":1,\"a\":2}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct response res = {0};
		cr_assert_eq(parse(bad[i], &res), 400, "accepted: %s", bad[i]);
		cr_assert(res.detail[0] != '\0');
		response_free(&res);
	}
}

Test(jsonbody, duplicate_key_is_named)
{
	struct response res = {0};
	cr_assert_eq(parse("{\"message\":\"a\",\"message\":\"b\"}", &res), 400);
	cr_assert(strstr(res.detail, "duplicate key \"message\"") != NULL, "%s", res.detail);
	response_free(&res);
}

Test(jsonbody, depth_is_limited)
{
	char deep[256] = ""; /* 40 * 5 + 1 + 40 + 1 bytes */
	for (int i = 0; i < 40; i++)
		strcat(deep, "{\"a\":");
	strcat(deep, "1");
	for (int i = 0; i < 40; i++)
		strcat(deep, "}");
	struct response res = {0};
	cr_assert_eq(parse(deep, &res), 400);
	response_free(&res);
}

Test(jsonbody, valid_objects_parse)
{
	struct response res = {0};
	cr_assert_eq(parse(" {\"a\": [1, 2.5, \"x\", null, true], \"b\": {\"c\": {}}}\n", &res), 0);
	cr_assert_eq(parse("{\"a\":\"\\u00e9\\ud83d\\ude00\"}", &res), 0);
	response_free(&res);
}

static const struct jsonbody_field fields[] = {
	{"message", JB_STRING, true, false, 1, 10},
	{"count", JB_INT, false, false, 1, 100},
	{"ratio", JB_NUMBER, false, false, 0, 1},
	{"flag", JB_BOOL, false, false, 0, 0},
	{"context", JB_OBJECT, false, true, 0, 32},
	{"ids", JB_ARRAY, false, false, 1, 2},
	{"conversation_id", JB_UUID, false, true, 0, 0},
};

/* Checks text and returns the number of field errors (0 when valid). */
static int check(const char *text, const char *field, const char *message)
{
	struct response res = {0};
	struct json_object *o = NULL;
	int n = 0;

	cr_assert_eq(jsonbody_parse(text, strlen(text), &o, &res), 0, "%s", res.detail);
	int st = jsonbody_check(o, fields, sizeof(fields) / sizeof(fields[0]), &res);
	if (st != 0) {
		cr_assert_eq(st, 422);
		n = (int)json_object_array_length(res.errors);
		if (field != NULL) {
			bool seen = false;
			for (int i = 0; i < n; i++) {
				struct json_object *e = json_object_array_get_idx(res.errors, i), *f, *m;
				json_object_object_get_ex(e, "field", &f);
				json_object_object_get_ex(e, "message", &m);
				if (strcmp(json_object_get_string(f), field) == 0 &&
				    strstr(json_object_get_string(m), message) != NULL)
					seen = true;
			}
			cr_assert(seen, "%s: no error %s/%s in %s", text, field, message,
				  json_object_to_json_string(res.errors));
		}
	}
	json_object_put(o);
	response_free(&res);
	return n;
}

Test(jsonbody, field_types_are_explicit)
{
	cr_assert_eq(check("{\"message\":\"hi\"}", NULL, NULL), 0);
	cr_assert_eq(check("{\"message\":\"hi\",\"count\":\"12\"}", "count", "integer"), 1);
	cr_assert_eq(check("{\"message\":\"hi\",\"count\":1.5}", "count", "integer"), 1);
	cr_assert_eq(check("{\"message\":\"hi\",\"count\":0}", "count", "between"), 1);
	cr_assert_eq(check("{\"message\":12}", "message", "string"), 1);
	cr_assert_eq(check("{\"message\":\"hi\",\"ratio\":\"0.5\"}", "ratio", "number"), 1);
	cr_assert_eq(check("{\"message\":\"hi\",\"ratio\":0.5,\"flag\":1}", "flag", "boolean"), 1);
	cr_assert_eq(check("{\"message\":\"hi\",\"ids\":[]}", "ids", "items"), 1);
	cr_assert_eq(check("{\"message\":\"hi\",\"conversation_id\":\"nope\"}", "conversation_id",
			   "UUID"),
		     1);
	cr_assert_eq(check("{\"message\":\"hi\",\"conversation_id\":null}", NULL, NULL), 0);
	cr_assert_eq(check("{\"message\":\"hi\",\"context\":{\"k\":\"0123456789012345678901234\"}}",
			   "context", "bytes"),
		     1);
	cr_assert_eq(check("{\"message\":null}", "message", "null"), 1);
}

Test(jsonbody, required_and_length_after_trim)
{
	cr_assert_eq(check("{}", "message", "required"), 1);
	cr_assert_eq(check("{\"message\":\"   \"}", "message", "empty"), 1);
	cr_assert_eq(check("{\"message\":\"  0123456789  \"}", NULL, NULL), 0);
	cr_assert_eq(check("{\"message\":\"01234567890\"}", "message", "characters"), 1);
	/* ten characters, twenty bytes */
	cr_assert_eq(check("{\"message\":\"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\"}",
			   NULL, NULL),
		     0);
	cr_assert_eq(check("{\"count\":\"x\",\"flag\":\"y\"}", NULL, NULL), 3, "all problems listed");
}

Test(jsonbody, utf8_and_uuid)
{
	cr_assert(jsonbody_utf8_ok("caf\xc3\xa9", 5));
	cr_assert_not(jsonbody_utf8_ok("\xc3", 1));
	cr_assert_not(jsonbody_utf8_ok("\xed\xa0\x80", 3), "surrogates are not UTF-8");
	cr_assert_not(jsonbody_utf8_ok("\xc0\xaf", 2), "overlong");
	/* a character cut by truncation, a stray byte: replaced, the rest kept */
	char cut[] = "HTTP 502 caf\xc3\xa9 \xff ok \xe2\x82";
	jsonbody_utf8_scrub(cut);
	cr_assert_str_eq(cut, "HTTP 502 caf\xc3\xa9 ? ok ??");
	cr_assert(jsonbody_utf8_ok(cut, strlen(cut)));
	cr_assert(jsonbody_is_uuid("123e4567-e89b-12d3-a456-426614174000"));
	cr_assert_not(jsonbody_is_uuid("123e4567e89b12d3a456426614174000"));
	cr_assert_not(jsonbody_is_uuid("123e4567-e89b-12d3-a456-4266141740000"));
}
