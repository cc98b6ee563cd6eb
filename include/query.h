/*
 * query: typed, validated query-string parameters for handlers. Each getter
 * records a 422 field error in the response when the value is malformed or
 * out of bounds and returns false; a handler checks all its parameters, then
 * answers 422 once with every problem listed.
 */
#ifndef PIXELCRAFT_QUERY_H
#define PIXELCRAFT_QUERY_H

#include <stdbool.h>
#include <stdint.h>

struct request;
struct response;

/* An integer in [min, max]; def when absent. */
bool query_int(struct request *req, struct response *res, const char *name, long def, long min,
	       long max, long *out);

/* A boolean: true/false/1/0 (case-insensitive); def when absent. */
bool query_bool(struct request *req, struct response *res, const char *name, bool def,
		bool *out);

/* One of choices (NULL-terminated); def (may be NULL) when absent. */
bool query_enum(struct request *req, struct response *res, const char *name,
		const char *const *choices, const char *def, const char **out);

/*
 * An instant in ISO 8601: "2026-11-28", "2026-11-28T10:00:00",
 * "2026-11-28T10:00:00Z", with optional fraction and offset ("+02:00").
 * Without a zone it is UTC. *out is Unix milliseconds; *present tells
 * whether the parameter was given.
 */
bool query_time(struct request *req, struct response *res, const char *name, int64_t *out,
		bool *present);

/* Parses an ISO 8601 instant as query_time does. 0 / -1. */
int query_parse_time(const char *s, int64_t *ms);

/* Checks a value is a UUID, recording a field error otherwise. */
bool query_uuid(struct response *res, const char *field, const char *value);

#endif
