/*
 * query: parsing and validation of query-string parameters (see query.h).
 */
#include "query.h"
#include "jsonbody.h"
#include "request.h"
#include "response.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The raw value: 1 present, 0 absent, -1 malformed (error recorded). */
static int query_raw(struct request *req, struct response *res, const char *name,
		     const char **value)
{
	int rc = request_query(req, name, value);

	if (rc < 0)
		response_field_error(res, name, "is malformed or given more than once");
	return rc;
}

bool query_int(struct request *req, struct response *res, const char *name, long def, long min,
	       long max, long *out)
{
	const char *v;
	char msg[96], *end;
	int rc = query_raw(req, res, name, &v);

	*out = def;
	if (rc <= 0)
		return rc == 0;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (*v == '\0' || isspace((unsigned char)*v) || *end != '\0' || errno != 0 || n < min ||
	    n > max) {
		snprintf(msg, sizeof(msg), "must be an integer from %ld to %ld", min, max);
		response_field_error(res, name, msg);
		return false;
	}
	*out = n;
	return true;
}

bool query_bool(struct request *req, struct response *res, const char *name, bool def,
		bool *out)
{
	const char *v;
	int rc = query_raw(req, res, name, &v);

	*out = def;
	if (rc <= 0)
		return rc == 0;
	if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0) {
		*out = true;
	} else if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0) {
		*out = false;
	} else {
		response_field_error(res, name, "must be true or false");
		return false;
	}
	return true;
}

bool query_enum(struct request *req, struct response *res, const char *name,
		const char *const *choices, const char *def, const char **out)
{
	const char *v;
	char msg[256];
	size_t len = 0;
	int rc = query_raw(req, res, name, &v);

	*out = def;
	if (rc <= 0)
		return rc == 0;
	for (const char *const *c = choices; *c; c++) {
		if (strcmp(v, *c) == 0) {
			*out = *c;
			return true;
		}
	}
	len += (size_t)snprintf(msg, sizeof(msg), "must be one of");
	for (const char *const *c = choices; *c && len < sizeof(msg); c++)
		len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s %s",
					c == choices ? "" : ",", *c);
	response_field_error(res, name, msg);
	return false;
}

/* Reads exactly n digits. */
static int query_digits(const char **p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
	}
	return v;
}

int query_parse_time(const char *s, int64_t *ms)
{
	struct tm tm = {0};
	const char *p = s;
	int frac_ms = 0, offset = 0;

	int y = query_digits(&p, 4);
	if (y < 1970 || *p++ != '-')
		return -1;
	int mo = query_digits(&p, 2);
	if (mo < 1 || mo > 12 || *p++ != '-')
		return -1;
	int d = query_digits(&p, 2);
	if (d < 1 || d > 31)
		return -1;
	int h = 0, mi = 0, se = 0;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		h = query_digits(&p, 2);
		if (h < 0 || h > 23 || *p++ != ':')
			return -1;
		mi = query_digits(&p, 2);
		if (mi < 0 || mi > 59)
			return -1;
		if (*p == ':') {
			p++;
			se = query_digits(&p, 2);
			if (se < 0 || se > 59)
				return -1;
			if (*p == '.') {
				p++;
				int digits = 0;
				while (isdigit((unsigned char)*p)) {
					if (digits < 3)
						frac_ms = frac_ms * 10 + (*p - '0');
					digits++;
					p++;
				}
				if (digits == 0)
					return -1;
				for (; digits < 3; digits++)
					frac_ms *= 10;
			}
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1;
			int oh = query_digits(&p, 2);
			if (oh < 0 || oh > 23)
				return -1;
			if (*p == ':')
				p++;
			int om = query_digits(&p, 2);
			if (om < 0 || om > 59)
				return -1;
			offset = sign * (oh * 60 + om);
		}
	}
	if (*p != '\0')
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	time_t t = timegm(&tm);
	/* reject dates timegm normalised (Feb 30 becomes Mar 2) */
	struct tm back;
	gmtime_r(&t, &back);
	if (back.tm_mday != d || back.tm_mon != mo - 1)
		return -1;
	*ms = ((int64_t)t - (int64_t)offset * 60) * 1000 + frac_ms;
	return 0;
}

bool query_time(struct request *req, struct response *res, const char *name, int64_t *out,
		bool *present)
{
	const char *v;
	int rc = query_raw(req, res, name, &v);

	*present = rc == 1;
	if (rc <= 0)
		return rc == 0;
	if (query_parse_time(v, out) < 0) {
		response_field_error(res, name,
				     "must be an ISO 8601 date or date-time, e.g. 2026-11-28 or "
				     "2026-11-28T10:00:00Z");
		return false;
	}
	return true;
}

bool query_uuid(struct response *res, const char *field, const char *value)
{
	if (value != NULL && jsonbody_is_uuid(value))
		return true;
	response_field_error(res, field, "must be a UUID");
	return false;
}
