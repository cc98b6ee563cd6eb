/*
 * response: what a handler answers, and its rendering as a FastCGI response.
 *
 * A handler fills `body` (a JSON tree, owned by the response) and returns the
 * status; for errors it calls response_error(), and the server renders the
 * one error shape {"detail", "request_id"[, "errors"]}. Headers added with
 * response_header() are sent as given.
 */
#ifndef PIXELCRAFT_RESPONSE_H
#define PIXELCRAFT_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct request;

struct response {
	struct json_object *body;   /* JSON body, freed by response_free */
	const char *raw;            /* or a non-JSON body (borrowed) */
	size_t raw_len;
	const char *content_type;   /* default application/json */
	char headers[2048];         /* extra "Name: value\r\n" lines */
	size_t hlen;
	char detail[512];           /* error message for the rendered error body */
	struct json_object *errors; /* 422 field errors [{field, message}] */
	int retry_after;            /* > 0: Retry-After header */
	bool sent;                  /* the handler streamed the response itself */
};

/* Adds a header line; silently dropped if the header buffer is full. */
void response_header(struct response *res, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sets the error detail and returns status, for `return response_error(...)`. */
int response_error(struct response *res, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Adds one {field, message} to the 422 error list. */
void response_field_error(struct response *res, const char *field, const char *message);

/* 503 with Retry-After and a detail naming the dependency. */
int response_unavailable(struct response *res, const char *what, int retry_after);

/* The reason phrase of a status code ("Not Found"). */
const char *response_reason(int status);

/*
 * Serialises status line, standard and extra headers and body into one
 * buffer (caller frees) of *len bytes. head_only omits the body (HEAD).
 */
char *response_render(struct response *res, const struct request *req, int status,
		      bool head_only, size_t *len);

/*
 * The status line and headers (no Content-Length, no body) of a streamed
 * response with the given content type, into one buffer (caller frees).
 */
char *response_render_head(struct response *res, const struct request *req, int status,
			   const char *content_type, size_t *len);

/* Frees the body and the error list; the struct may be reused. */
void response_free(struct response *res);

#endif
