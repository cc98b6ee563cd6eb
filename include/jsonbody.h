/*
 * jsonbody: strict JSON request bodies.
 *
 * json-c alone is lenient in ways an API must not be: it accepts NaN and
 * Infinity, and keeps the last of duplicate keys. jsonbody_parse() uses
 * json-c's strict mode with a depth limit, then refuses non-finite numbers
 * and duplicate keys. jsonbody_check() type-checks fields explicitly against
 * a table (a string "12" is not a number, 1.5 is not an integer) and records
 * every problem as a 422 field error.
 */
#ifndef PIXELCRAFT_JSONBODY_H
#define PIXELCRAFT_JSONBODY_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct response;

#define JSONBODY_MAX_DEPTH 32

/*
 * Parses text[0..len) as one JSON object. Returns 0 and *out (caller
 * json_object_put()s it), or 400 with the reason in res->detail.
 */
int jsonbody_parse(const char *text, size_t len, struct json_object **out, struct response *res);

enum jsonbody_type {
	JB_STRING,  /* min/max: length in characters after trimming whitespace */
	JB_INT,     /* min/max: value */
	JB_NUMBER,  /* any finite number; min/max: value */
	JB_BOOL,
	JB_OBJECT,  /* max: size of its JSON text in bytes (0: unbounded) */
	JB_ARRAY,   /* min/max: number of items */
	JB_UUID,    /* a string in canonical UUID form */
	JB__MAX
};

struct jsonbody_field {
	const char *name;
	enum jsonbody_type type;
	bool required;
	bool nullable; /* JSON null accepted (treated as absent) */
	long long min, max;
};

/*
 * Checks obj against fields; every violation is added to res's field errors.
 * Unknown fields are ignored. Returns 0 when valid, else 422.
 */
int jsonbody_check(struct json_object *obj, const struct jsonbody_field *fields, int nfields,
		   struct response *res);

/* True when s is valid UTF-8. */
bool jsonbody_utf8_ok(const char *s, size_t len);

/* Replaces every byte of s that is not part of valid UTF-8 with '?' (e.g. a
 * character cut by truncation), so that Postgres and JSON accept the text. */
void jsonbody_utf8_scrub(char *s);

/* True when s is a UUID in canonical 8-4-4-4-12 hex form. */
bool jsonbody_is_uuid(const char *s);

/* Number of UTF-8 characters in s[0..len) after trimming whitespace. */
size_t jsonbody_trimmed_chars(const char *s, size_t len);

#endif
