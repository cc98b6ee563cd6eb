/*
 * request: one HTTP request as the FastCGI worker sees it.
 *
 * request_parse() turns the FastCGI parameters into a method, a decoded and
 * checked path (split into segments), the raw query string, a request id and
 * the client address; request_read_body() reads the body within
 * MAX_BODY_BYTES and checks it against CONTENT_LENGTH. Memory handed out by
 * request_alloc() and every string returned by the accessors lives until
 * request_free().
 */
#ifndef PIXELCRAFT_REQUEST_H
#define PIXELCRAFT_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_method {
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_PATCH,
	HTTP_DELETE,
	HTTP_OPTIONS,
	HTTP_OTHER, /* anything else: answered 405 on known paths */
	HTTP__MAX
};

extern const char *const http_method_names[HTTP__MAX];

#define REQUEST_MAX_SEGS   16
#define REQUEST_MAX_PARAMS 4

struct app;
struct request_block;
struct route;

/* The caller's identity, filled by the auth layer for routes that use it. */
struct request_user {
	bool known;	 /* a valid token was presented */
	char id[64];	 /* the token's sub */
	char role[16];	 /* "user" or "admin"; "" until auth_role() looked it up */
	char email[256]; /* from the token, may be empty */
};

struct request {
	struct app *app; /* the worker (borrowed) */
	char **env;	 /* FastCGI parameters (borrowed) */
	enum http_method method;
	const char *method_name; /* as sent */
	const char *raw_path;	 /* path as sent, without the query (for logs) */
	const char *query; /* raw query string, "" when none (valid until the response is sent) */
	char *segs[REQUEST_MAX_SEGS]; /* decoded path segments */
	int nsegs;
	const char *params[REQUEST_MAX_PARAMS]; /* path parameters, set by the router */
	int nparams;
	char *body; /* NUL-terminated, may be NULL */
	size_t body_len;
	char id[72];	    /* X-Request-ID (echoed or generated) */
	char client_ip[64]; /* REMOTE_ADDR, or X-Forwarded-For via TRUSTED_PROXIES */
	int64_t start_us;
	bool internal;		   /* came through the internal listener (PIXELCRAFT_INTERNAL=1) */
	const struct route *route; /* the matched route, NULL if none (for metrics) */
	bool rate_limited;	   /* refused by the rate limiter (for metrics) */
	bool httpoxy;		   /* an HTTP_PROXY parameter came (logged: see request.c) */
	struct request_user user;
	/* the raw output, for handlers that stream their response (SSE):
	 * writes and flushes; -1 when the client has gone */
	int (*stream_write)(void *ctx, const char *data, size_t len);
	void *stream_ctx;
	struct request_block *blocks; /* request_alloc arena */
};

/* Outcome of parsing: 0 ok, else the HTTP status to answer with. */
int request_parse(struct request *req, struct app *app, char **env);

/*
 * Reads the body through `read` (the FastCGI input stream adapter), at most
 * max bytes. Returns 0, 413 when it is larger (the rest is drained up to a
 * bound so the connection finishes cleanly), or 400 when it disagrees with
 * CONTENT_LENGTH. `why` receives the reason for an error status.
 */
int request_read_body(struct request *req, size_t max, int (*read)(void *src, char *buf, int n),
		      void *src, const char **why);

/* Releases everything the request allocated; the struct may be reused. */
void request_free(struct request *req);

/* Request-lifetime allocation (zeroed); NULL when out of memory. */
void *request_alloc(struct request *req, size_t size);

/* Request-lifetime copy of s. */
char *request_strdup(struct request *req, const char *s);

/*
 * An HTTP header by name ("Authorization", "X-Request-ID"), or NULL.
 * Borrowed, valid until request_free.
 */
const char *request_header(const struct request *req, const char *name);

/* A FastCGI parameter by its CGI name ("REMOTE_ADDR"), or NULL. */
const char *request_param_env(const struct request *req, const char *name);

/*
 * Query parameter `name`, decoded. Returns 1 and *value (request lifetime),
 * 0 when absent, -1 when the query string is malformed or the parameter is
 * given twice.
 */
int request_query(struct request *req, const char *name, const char **value);

/* Path parameter i (0-based) as matched by the router. */
const char *request_path_param(const struct request *req, int i);

/* Decodes %XX (and '+' as space when plus is set) from src[0..len) into a
 * new request-lifetime string; NULL when malformed or it contains NUL. */
char *request_decode(struct request *req, const char *src, size_t len, bool plus);

/* Writes a random version 4 UUID (37 bytes with NUL) into out. */
void request_uuid(char out[37]);

#endif
