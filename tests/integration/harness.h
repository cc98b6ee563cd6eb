/*
 * harness: what the integration tests share. They run against a stack
 * started by scripts/stack.sh; its DIR/stack.env is in the environment
 * (BASE_URL, STACK_DIR, ports, secrets).
 */
#ifndef PIXELCRAFT_TEST_HARNESS_H
#define PIXELCRAFT_TEST_HARNESS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct http {
	long status;
	char *body;
	size_t len;
	char *headers; /* raw response headers */
	struct json_object *json; /* parsed body, or NULL */
	double seconds;
};

/*
 * One request to BASE_URL + path. headers is a NULL-terminated list of
 * "Name: value" strings (may be NULL). Never returns NULL.
 */
struct http *http_do(const char *method, const char *path, const char *body,
		     const char *const *headers);

/* http_do against another base URL (another host). */
struct http *http_do_at(const char *base, const char *method, const char *path, const char *body,
			const char *const *headers);

/* GET shorthand. */
struct http *http_get(const char *path);

void http_free(struct http *r);

/* Value of a response header (case-insensitive name) or NULL; static buffer. */
const char *http_header(const struct http *r, const char *name);

/* Dotted path into a JSON object ("services.redis.status"), or NULL. */
struct json_object *json_at(struct json_object *o, const char *path);

/* String at a dotted path, or "" */
const char *json_str(struct json_object *o, const char *path);

/* An environment variable that must be set (fails the test otherwise). */
const char *need_env(const char *name);

/* Runs `scripts/stack.sh CMD STACK_DIR ARGS`; returns its exit status. */
int stack(const char *cmd, const char *args);

/* Output of a shell command (first 64 KiB), caller frees. */
char *run_capture(const char *cmd, int *status);

/*
 * After a dependency was down: waits until 40 requests in a row to each pool
 * (/health/ready, a chat message) succeed, so no worker is still waiting out
 * its reconnect backoff when the next test starts. Fails the test after 30 s.
 */
void wait_all_workers_ready(void);

/* Polls pred every 20 ms up to timeout_ms; true when it held. */
bool wait_until(bool (*pred)(void), int timeout_ms);

/*
 * Sends n identical requests at once (curl multi) to base + path; stores
 * each status and Retry-After (0 when absent) and the slowest time in ms.
 */
void http_burst(const char *base, const char *method, const char *path,
		const char *const *headers, int n, long *status, int *retry_after,
		double *slowest_ms);

/* One request of http_many: filled by its build callback. */
struct many_req {
	char method[8];
	char path[512];
	char body[4096];
	char headers[4][8400]; /* "Name: value", empty when unused */
};

/*
 * Runs n requests against base, at most `concurrency` at a time (curl multi).
 * build(i, req, arg) describes request i; done(i, status, body, ms, arg) gets
 * each result (body NUL-terminated, borrowed).
 */
void http_many(const char *base, int n, int concurrency,
	       void (*build)(int i, struct many_req *req, void *arg),
	       void (*done)(int i, long status, const char *body, double ms, void *arg),
	       void *arg);

/* A token for user sub (a random user when sub is NULL; its id copied to
 * sub_out if given), valid for ttl seconds, signed with the stack's secret. */
char *user_token(const char *sub, char sub_out[37], long ttl);

/* "Authorization: Bearer <token>" in a static buffer per slot (0..3). */
const char *bearer(int slot, const char *token);

/* Runs SQL in the stack's database as the superuser; returns psql's output
 * (-At format), caller frees. Fails the test when psql fails. */
char *sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Starts another application host sharing this stack's Postgres, Redis and
 * LLM (scripts/stack.sh up --shared) with extra environment and the given
 * api and chat worker counts; returns its base URL (static per slot 0..3).
 * dir receives its directory. */
const char *host_up(int slot, const char *extra_env, int workers, int chat_workers, char *dir,
		    size_t dirlen);

/* Stops such a host and removes its directory. */
void host_down(const char *dir);

/* POSTs JSON to the stub LLM's control endpoint (path like "/_stub/model"). */
void stub_control(const char *path, const char *json_fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The stub's statistics ({"models": {tag: {"requests", ...}}}); caller puts. */
struct json_object *stub_stats(void);

/* Requests the stub has seen for a model tag. */
long stub_requests(const char *tag);

/* POST /api/chat/message with a body, optional bearer token and extra header. */
struct http *chat_post(const char *token, const char *extra_header, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sends one chat message (plain text, no quotes) as a new user and asserts
 * its 200; returns the database clock from just before it, for
 * model_metrics_since (caller frees). */
char *chat_once(const char *message);

/* Rows of model_metrics created at or after since (a database timestamp). */
int model_metrics_since(const char *since);

/* Milliseconds on a monotonic clock. */
double now_ms(void);

/* The workers' access-log line for a request id (from $STACK_DIR/log/api.log,
 * waiting up to 3 s for it to be written); caller frees. Fails the test when
 * no line comes. */
char *access_log_line(const char *request_id);

#endif
