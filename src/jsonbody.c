/*
 * jsonbody: strict parsing and field validation of JSON request bodies.
 *
 * Duplicate keys are found by a second pass over the raw text (already known
 * to be valid JSON, so the scanner can be simple): for each object the raw
 * key spans are collected, decoded when they contain escapes, sorted and
 * compared.
 */
#include "jsonbody.h"
#include "response.h"

#include <ctype.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- raw scan for duplicate keys ---------------------------------------- */

struct jsonbody_key {
	const char *s; /* decoded key (points into text, or into `own`) */
	size_t len;
	char *own;
};

struct jsonbody_scan {
	const char *p, *end;
	char dup[128]; /* first duplicate key found */
};

static void jsonbody_ws(struct jsonbody_scan *sc)
{
	while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' ||
				   *sc->p == '\r'))
		sc->p++;
}

/* Skips a string token; returns its raw span (without quotes). */
static void jsonbody_string(struct jsonbody_scan *sc, const char **s, size_t *len, bool *esc)
{
	const char *start = ++sc->p;

	*esc = false;
	while (sc->p < sc->end && *sc->p != '"') {
		if (*sc->p == '\\') {
			*esc = true;
			sc->p++;
		}
		sc->p++;
	}
	*s = start;
	*len = (size_t)(sc->p - start);
	sc->p++; /* closing quote */
}

static int jsonbody_keycmp(const void *a, const void *b)
{
	const struct jsonbody_key *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, n);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int jsonbody_value(struct jsonbody_scan *sc);

static int jsonbody_object(struct jsonbody_scan *sc)
{
	struct jsonbody_key *keys = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;

	sc->p++; /* { */
	for (;;) {
		jsonbody_ws(sc);
		if (sc->p >= sc->end)
			goto out;
		if (*sc->p == '}') {
			sc->p++;
			break;
		}
		if (*sc->p == ',') {
			sc->p++;
			continue;
		}
		const char *s;
		size_t len;
		bool esc;
		jsonbody_string(sc, &s, &len, &esc);
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			struct jsonbody_key *k = realloc(keys, cap * sizeof(*k));
			if (k == NULL)
				goto out;
			keys = k;
		}
		keys[n] = (struct jsonbody_key){s, len, NULL};
		if (esc) { /* let json-c decode the escapes */
			char *quoted = malloc(len + 3);
			if (quoted == NULL)
				goto out;
			quoted[0] = '"';
			memcpy(quoted + 1, s, len);
			quoted[len + 1] = '"';
			quoted[len + 2] = '\0';
			struct json_object *o = json_tokener_parse(quoted);
			free(quoted);
			if (o != NULL) {
				keys[n].len = (size_t)json_object_get_string_len(o);
				keys[n].own = malloc(keys[n].len + 1);
				if (keys[n].own != NULL)
					memcpy(keys[n].own, json_object_get_string(o), keys[n].len);
				keys[n].s = keys[n].own ? keys[n].own : s;
				json_object_put(o);
			}
		}
		n++;
		jsonbody_ws(sc);
		sc->p++; /* : */
		if (jsonbody_value(sc) < 0)
			goto out;
	}
	if (n > 1) /* keys is NULL for {}: qsort must not be given NULL */
		qsort(keys, n, sizeof(*keys), jsonbody_keycmp);
	for (size_t i = 1; i < n && sc->dup[0] == '\0'; i++)
		if (jsonbody_keycmp(&keys[i - 1], &keys[i]) == 0)
			snprintf(sc->dup, sizeof(sc->dup), "%.*s", (int)keys[i].len, keys[i].s);
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(keys[i].own);
	free(keys);
	return rc;
}

static int jsonbody_value(struct jsonbody_scan *sc)
{
	jsonbody_ws(sc);
	if (sc->p >= sc->end)
		return -1;
	if (*sc->p == '{')
		return jsonbody_object(sc);
	if (*sc->p == '[') {
		sc->p++;
		for (;;) {
			jsonbody_ws(sc);
			if (sc->p >= sc->end)
				return -1;
			if (*sc->p == ']') {
				sc->p++;
				return 0;
			}
			if (*sc->p == ',') {
				sc->p++;
				continue;
			}
			if (jsonbody_value(sc) < 0)
				return -1;
		}
	}
	if (*sc->p == '"') {
		const char *s;
		size_t len;
		bool esc;
		jsonbody_string(sc, &s, &len, &esc);
		return 0;
	}
	while (sc->p < sc->end && !strchr(",]} \t\r\n", *sc->p))
		sc->p++;
	return 0;
}

/* Rejects NaN and +-Infinity anywhere in the tree. */
static bool jsonbody_finite(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_double:
		return isfinite(json_object_get_double(o));
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (!jsonbody_finite(json_object_array_get_idx(o, i)))
				return false;
		return true;
	case json_type_object: {
		json_object_object_foreach(o, k, v)
		{
			(void)k;
			if (!jsonbody_finite(v))
				return false;
		}
		return true;
	}
	default:
		return true;
	}
}

int jsonbody_parse(const char *text, size_t len, struct json_object **out, struct response *res)
{
	struct json_tokener *tok = NULL;
	struct json_object *obj = NULL;
	int rc = 400;

	*out = NULL;
	if (text == NULL || len == 0) {
		response_error(res, 400, "Request body must be a JSON object");
		goto out;
	}
	if (!jsonbody_utf8_ok(text, len)) {
		response_error(res, 400, "Malformed JSON: invalid UTF-8");
		goto out;
	}
	tok = json_tokener_new_ex(JSONBODY_MAX_DEPTH);
	if (tok == NULL) {
		rc = response_error(res, 500, "out of memory");
		goto out;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	if (obj == NULL || jerr != json_tokener_success) {
		if (jerr == json_tokener_continue)
			response_error(res, 400, "Malformed JSON: unexpected end of input");
		else
			response_error(res, 400, "Malformed JSON at byte %zu: %s",
				       json_tokener_get_parse_end(tok),
				       json_tokener_error_desc(jerr));
		goto out;
	}
	/* only whitespace may follow the value */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
		if (!isspace((unsigned char)text[i])) {
			response_error(res, 400, "Malformed JSON: trailing characters at byte %zu",
				       i);
			goto out;
		}
	}
	if (!json_object_is_type(obj, json_type_object)) {
		response_error(res, 400, "Request body must be a JSON object");
		goto out;
	}
	if (!jsonbody_finite(obj)) {
		response_error(res, 400, "Malformed JSON: NaN and Infinity are not JSON numbers");
		goto out;
	}
	struct jsonbody_scan sc = {.p = text, .end = text + len};
	if (jsonbody_value(&sc) < 0) {
		response_error(res, 400, "Malformed JSON");
		goto out;
	}
	if (sc.dup[0] != '\0') {
		response_error(res, 400, "Malformed JSON: duplicate key \"%s\"", sc.dup);
		goto out;
	}
	*out = obj;
	obj = NULL;
	rc = 0;
out:
	json_object_put(obj);
	if (tok != NULL)
		json_tokener_free(tok);
	return rc;
}

/* Length of the valid UTF-8 sequence at p (before end), 0 if invalid. */
static size_t jsonbody_utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned c = *p;
	size_t n;
	unsigned min;

	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		n = 1, min = 0x80, c &= 0x1f;
	else if ((c & 0xf0) == 0xe0)
		n = 2, min = 0x800, c &= 0x0f;
	else if ((c & 0xf8) == 0xf0)
		n = 3, min = 0x10000, c &= 0x07;
	else
		return 0;
	if ((size_t)(end - p) <= n)
		return 0;
	for (size_t i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n + 1;
}

bool jsonbody_utf8_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		size_t n = jsonbody_utf8_seq(p, end);
		if (n == 0)
			return false;
		p += n;
	}
	return true;
}

void jsonbody_utf8_scrub(char *s)
{
	unsigned char *p = (unsigned char *)s, *end = p + strlen(s);

	while (p < end) {
		size_t n = jsonbody_utf8_seq(p, end);
		if (n == 0) {
			*p = '?';
			n = 1;
		}
		p += n;
	}
}

bool jsonbody_is_uuid(const char *s)
{
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return s[36] == '\0';
}

size_t jsonbody_trimmed_chars(const char *s, size_t len)
{
	while (len > 0 && isspace((unsigned char)*s))
		s++, len--;
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	size_t chars = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			chars++;
	return chars;
}

static const char *const jsonbody_type_names[JB__MAX] = {
	"a string", "an integer", "a number", "a boolean", "an object", "an array", "a UUID string"};

static void jsonbody_check_one(struct json_object *v, const struct jsonbody_field *f,
			       struct response *res)
{
	char msg[160];
	enum json_type t = json_object_get_type(v);

	switch (f->type) {
	case JB_STRING: {
		if (t != json_type_string)
			break;
		size_t n = jsonbody_trimmed_chars(json_object_get_string(v),
						  (size_t)json_object_get_string_len(v));
		if ((long long)n < f->min || (long long)n > f->max) {
			if (f->min > 0 && n == 0)
				snprintf(msg, sizeof(msg), "must not be empty");
			else
				snprintf(msg, sizeof(msg), "must be %lld to %lld characters",
					 f->min, f->max);
			response_field_error(res, f->name, msg);
		}
		return;
	}
	case JB_INT:
		if (t != json_type_int)
			break;
		if (json_object_get_int64(v) < f->min || json_object_get_int64(v) > f->max) {
			snprintf(msg, sizeof(msg), "must be between %lld and %lld", f->min, f->max);
			response_field_error(res, f->name, msg);
		}
		return;
	case JB_NUMBER:
		if (t != json_type_int && t != json_type_double)
			break;
		if (json_object_get_double(v) < (double)f->min ||
		    json_object_get_double(v) > (double)f->max) {
			snprintf(msg, sizeof(msg), "must be between %lld and %lld", f->min, f->max);
			response_field_error(res, f->name, msg);
		}
		return;
	case JB_BOOL:
		if (t != json_type_boolean)
			break;
		return;
	case JB_OBJECT:
		if (t != json_type_object)
			break;
		if (f->max > 0 && (long long)strlen(json_object_to_json_string_ext(
					  v, JSON_C_TO_STRING_PLAIN)) > f->max) {
			snprintf(msg, sizeof(msg), "must be at most %lld bytes of JSON", f->max);
			response_field_error(res, f->name, msg);
		}
		return;
	case JB_ARRAY:
		if (t != json_type_array)
			break;
		if ((long long)json_object_array_length(v) < f->min ||
		    (long long)json_object_array_length(v) > f->max) {
			snprintf(msg, sizeof(msg), "must have %lld to %lld items", f->min, f->max);
			response_field_error(res, f->name, msg);
		}
		return;
	case JB_UUID:
		if (t != json_type_string)
			break;
		if (!jsonbody_is_uuid(json_object_get_string(v)))
			response_field_error(res, f->name, "must be a UUID");
		return;
	case JB__MAX:
		return;
	}
	snprintf(msg, sizeof(msg), "must be %s", jsonbody_type_names[f->type]);
	response_field_error(res, f->name, msg);
}

int jsonbody_check(struct json_object *obj, const struct jsonbody_field *fields, int nfields,
		   struct response *res)
{
	bool bad = false;

	for (int i = 0; i < nfields; i++) {
		const struct jsonbody_field *f = &fields[i];
		struct json_object *v = NULL;
		bool present = json_object_object_get_ex(obj, f->name, &v);
		if (present && v == NULL && !f->nullable) {
			response_field_error(res, f->name, "must not be null");
			bad = true;
			continue;
		}
		if (!present || v == NULL) {
			if (f->required) {
				response_field_error(res, f->name, "is required");
				bad = true;
			}
			continue;
		}
		size_t before = res->errors ? json_object_array_length(res->errors) : 0;
		jsonbody_check_one(v, f, res);
		if (res->errors != NULL && json_object_array_length(res->errors) > before)
			bad = true;
	}
	if (!bad)
		return 0;
	return response_error(res, 422, "Request validation failed");
}
