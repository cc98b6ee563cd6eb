/* Unit tests for response: rendering and the one error shape. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "response.h"

static char *render(struct response *res, int status, size_t *len)
{
	struct request req = {0};
	strcpy(req.id, "rid-1");
	char *out = response_render(res, &req, status, false, len);
	/* the rendering is *len bytes, not a C string: terminate it for strstr */
	char *s = out ? realloc(out, *len + 1) : NULL;
	if (s != NULL)
		s[*len] = '\0';
	return s;
}

Test(response, error_body_shape)
{
	struct response res = {0};
	size_t len;

	int st = response_error(&res, 404, "Model '%s' not found", "x");
	char *out = render(&res, st, &len);
	cr_assert(strstr(out, "Status: 404 Not Found\r\n") == out);
	cr_assert(strstr(out, "X-Request-ID: rid-1\r\n") != NULL);
	cr_assert(strstr(out, "{\"detail\":\"Model 'x' not found\",\"request_id\":\"rid-1\"}") !=
		  NULL, "%s", out);
	free(out);
	response_free(&res);
}

Test(response, validation_errors_list)
{
	struct response res = {0};
	size_t len;

	response_field_error(&res, "message", "is required");
	response_field_error(&res, "limit", "must be between 1 and 100");
	char *out = render(&res, response_error(&res, 422, "Request validation failed"), &len);
	char *json = strstr(out, "\r\n\r\n") + 4;
	struct json_object *o = json_tokener_parse(json), *errs;
	cr_assert(json_object_object_get_ex(o, "errors", &errs));
	cr_assert_eq(json_object_array_length(errs), 2);
	json_object_put(o);
	free(out);
	response_free(&res);
}

Test(response, headers_retry_after_and_security)
{
	struct response res = {0};
	size_t len;

	response_unavailable(&res, "Postgres", 7);
	response_header(&res, "X-Test", "a\r\nInjected: yes");
	char *out = render(&res, 503, &len);
	cr_assert(strstr(out, "Retry-After: 7\r\n") != NULL);
	cr_assert(strstr(out, "\r\nInjected") == NULL, "no header injection");
	cr_assert(strstr(out, "X-Content-Type-Options: nosniff\r\n") != NULL);
	cr_assert(strstr(out, "Cache-Control: no-store\r\n") != NULL);
	free(out);
	response_free(&res);
}

Test(response, no_body_on_204_and_head)
{
	struct response res = {0};
	struct request req = {0};
	size_t len;

	res.body = json_object_new_object();
	char *out = response_render(&res, &req, 204, false, &len);
	cr_assert(strstr(out, "Content-Length: 0\r\n") != NULL);
	cr_assert_eq(out[len - 1], '\n');
	free(out);
	out = response_render(&res, &req, 200, true, &len);
	cr_assert(strstr(out, "Content-Length: 2\r\n") != NULL, "HEAD keeps the length");
	cr_assert(memcmp(out + len - 4, "\r\n\r\n", 4) == 0, "but sends no body");
	free(out);
	response_free(&res);
}
