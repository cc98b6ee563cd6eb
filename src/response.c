/*
 * response: header bookkeeping and rendering. The whole response (headers and
 * body) is rendered into one buffer so the worker hands it to libfcgi in a
 * single call.
 */
#include "response.h"
#include "request.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void response_header(struct response *res, const char *name, const char *fmt, ...)
{
	char value[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	/* header injection: values never carry line breaks */
	for (char *c = value; *c; c++)
		if (*c == '\r' || *c == '\n')
			*c = ' ';
	int n = snprintf(res->headers + res->hlen, sizeof(res->headers) - res->hlen, "%s: %s\r\n",
			 name, value);
	if (n > 0 && res->hlen + (size_t)n < sizeof(res->headers))
		res->hlen += (size_t)n;
	else
		res->headers[res->hlen] = '\0';
}

int response_error(struct response *res, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
	return status;
}

void response_field_error(struct response *res, const char *field, const char *message)
{
	struct json_object *e = json_object_new_object();

	if (res->errors == NULL)
		res->errors = json_object_new_array();
	json_object_object_add(e, "field", json_object_new_string(field));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_array_add(res->errors, e);
}

int response_unavailable(struct response *res, const char *what, int retry_after)
{
	res->retry_after = retry_after > 0 ? retry_after : 1;
	return response_error(res, 503, "%s is unavailable, retry later", what);
}

const char *response_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}

/* Fills the error shape into body: detail, request_id, errors. */
static void response_error_body(struct response *res, const struct request *req, int status)
{
	if (res->body == NULL)
		res->body = json_object_new_object();
	if (!json_object_object_get_ex(res->body, "detail", NULL))
		json_object_object_add(
			res->body, "detail",
			json_object_new_string(res->detail[0] ? res->detail : response_reason(status)));
	if (!json_object_object_get_ex(res->body, "request_id", NULL))
		json_object_object_add(res->body, "request_id", json_object_new_string(req->id));
	if (res->errors != NULL) {
		json_object_object_add(res->body, "errors", res->errors);
		res->errors = NULL;
	}
}

char *response_render(struct response *res, const struct request *req, int status,
		      bool head_only, size_t *len)
{
	const char *body = NULL;
	size_t blen = 0;
	char *out = NULL;

	if (status >= 400 && res->raw == NULL)
		response_error_body(res, req, status);
	if (res->raw != NULL) {
		body = res->raw;
		blen = res->raw_len;
	} else if (res->body != NULL) {
		body = json_object_to_json_string_ext(
			res->body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		blen = strlen(body);
	}
	if (status == 204 || status == 304)
		blen = 0;
	char retry[48] = "";
	if (res->retry_after > 0)
		snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", res->retry_after);
	const char *ctype = res->content_type ? res->content_type : "application/json";
	size_t cap = res->hlen + blen + 1024;
	out = malloc(cap);
	if (out == NULL)
		return NULL;
	int n = snprintf(out, cap,
			 "Status: %d %s\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %zu\r\n"
			 "X-Request-ID: %s\r\n"
			 "X-Content-Type-Options: nosniff\r\n"
			 "X-Frame-Options: DENY\r\n"
			 "Referrer-Policy: no-referrer\r\n"
			 "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
			 "Cache-Control: no-store\r\n"
			 "%s%.*s\r\n",
			 status, response_reason(status), ctype, blen, req->id, retry,
			 (int)res->hlen, res->headers);
	if (n < 0 || (size_t)n >= cap) {
		free(out);
		return NULL;
	}
	*len = (size_t)n;
	if (!head_only && blen > 0) {
		memcpy(out + *len, body, blen);
		*len += blen;
	}
	return out;
}

char *response_render_head(struct response *res, const struct request *req, int status,
			   const char *content_type, size_t *len)
{
	size_t cap = res->hlen + 1024;
	char *out = malloc(cap);

	if (out == NULL)
		return NULL;
	int n = snprintf(out, cap,
			 "Status: %d %s\r\n"
			 "Content-Type: %s\r\n"
			 "X-Request-ID: %s\r\n"
			 "X-Content-Type-Options: nosniff\r\n"
			 "Cache-Control: no-store\r\n"
			 "X-Accel-Buffering: no\r\n"
			 "%.*s\r\n",
			 status, response_reason(status), content_type, req->id, (int)res->hlen,
			 res->headers);
	if (n < 0 || (size_t)n >= cap) {
		free(out);
		return NULL;
	}
	*len = (size_t)n;
	return out;
}

void response_free(struct response *res)
{
	json_object_put(res->body);
	json_object_put(res->errors);
	memset(res, 0, sizeof(*res));
}
