/* harness: HTTP and stack helpers for the integration tests. */
#include "harness.h"
#include "token.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

char *access_log_line(const char *request_id)
{
	char path[512], line[4096], needle[128];

	snprintf(path, sizeof(path), "%s/log/api.log", need_env("STACK_DIR"));
	snprintf(needle, sizeof(needle), "\"request_id\":\"%s\"", request_id);
	for (double end = now_ms() + 3000; now_ms() < end; usleep(20000)) {
		FILE *f = fopen(path, "r");
		cr_assert_not_null(f, "cannot read %s", path);
		while (fgets(line, sizeof(line), f) != NULL)
			if (strstr(line, needle) != NULL && strstr(line, "\"event\":\"request\"")) {
				fclose(f);
				return strdup(line);
			}
		fclose(f);
	}
	cr_assert_fail("no access-log line for request %s", request_id);
	return NULL;
}

const char *need_env(const char *name)
{
	const char *v = getenv(name);
	if (v == NULL || *v == '\0')
		cr_assert_fail("environment variable %s is not set (run through scripts/test.sh)",
			       name);
	return v;
}

struct buf {
	char *p;
	size_t len;
};

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t add = size * n;
	char *p = realloc(b->p, b->len + add + 1);
	if (p == NULL)
		return 0;
	memcpy(p + b->len, data, add);
	b->p = p;
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

struct http *http_do(const char *method, const char *path, const char *body,
		     const char *const *headers)
{
	return http_do_at(need_env("BASE_URL"), method, path, body, headers);
}

/*
 * RESPONSE_LOG=FILE: every response is appended as one JSON line (method,
 * url, status, content type, body), which scripts/openapi.sh validate checks
 * against the documented schema of its route and status.
 */
static void log_response(const char *method, const char *url, CURL *c, const struct http *r)
{
	const char *file = getenv("RESPONSE_LOG");
	char *ctype = NULL;

	if (file == NULL || *file == '\0' || r->status == 0)
		return;
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "method", json_object_new_string(method));
	json_object_object_add(o, "url", json_object_new_string(url));
	json_object_object_add(o, "status", json_object_new_int((int)r->status));
	json_object_object_add(o, "content_type", ctype ? json_object_new_string(ctype) : NULL);
	json_object_object_add(o, "body", json_object_new_string_len(r->body, (int)r->len));
	FILE *f = fopen(file, "a");
	if (f != NULL) {
		fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		fclose(f);
	}
	json_object_put(o);
}

struct http *http_do_at(const char *base, const char *method, const char *path, const char *body,
			const char *const *headers)
{
	struct http *r = calloc(1, sizeof(*r));
	struct buf b = {0}, h = {0};
	struct curl_slist *list = NULL;
	char url[4096];
	CURL *c = curl_easy_init();

	snprintf(url, sizeof(url), "%s%s", base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	/* a POST without a body still says Content-Length: 0, as browsers do */
	if (body == NULL && (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
			     strcmp(method, "PATCH") == 0))
		body = "";
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		list = curl_slist_append(list, "Content-Type: application/json");
	}
	list = curl_slist_append(list, "Expect:");
	for (const char *const *hd = headers; hd && *hd; hd++)
		list = curl_slist_append(list, *hd);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
	double t0 = now_ms();
	CURLcode rc = curl_easy_perform(c);
	r->seconds = (now_ms() - t0) / 1000.0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	r->body = b.p ? b.p : strdup("");
	r->len = b.len;
	r->headers = h.p ? h.p : strdup("");
	r->json = r->len ? json_tokener_parse(r->body) : NULL;
	log_response(method, url, c, r);
	curl_slist_free_all(list);
	curl_easy_cleanup(c);
	return r;
}

struct http *http_get(const char *path)
{
	return http_do("GET", path, NULL, NULL);
}

void http_free(struct http *r)
{
	if (r == NULL)
		return;
	free(r->body);
	free(r->headers);
	json_object_put(r->json);
	free(r);
}

const char *http_header(const struct http *r, const char *name)
{
	static char value[1024];
	size_t n = strlen(name);

	for (const char *line = r->headers; line && *line;) {
		const char *end = strstr(line, "\r\n");
		size_t len = end ? (size_t)(end - line) : strlen(line);
		if (len > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ')
				v++;
			snprintf(value, sizeof(value), "%.*s", (int)(line + len - v), v);
			return value;
		}
		line = end ? end + 2 : NULL;
	}
	return NULL;
}

struct json_object *json_at(struct json_object *o, const char *path)
{
	char key[256];

	while (o != NULL && *path) {
		size_t n = strcspn(path, ".");
		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		if (json_object_is_type(o, json_type_array) && isdigit((unsigned char)key[0]))
			o = json_object_array_get_idx(o, (size_t)atoi(key));
		else if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path += n;
		if (*path == '.')
			path++;
	}
	return o;
}

const char *json_str(struct json_object *o, const char *path)
{
	struct json_object *v = json_at(o, path);
	return v ? json_object_get_string(v) : "";
}

char *run_capture(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	char *out = calloc(1, 65536);
	size_t len = 0;

	if (p == NULL)
		return out;
	len = fread(out, 1, 65535, p);
	out[len] = '\0';
	int st = pclose(p);
	if (status != NULL)
		*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out;
}

int stack(const char *cmd, const char *args)
{
	char line[4096];
	int status;

	snprintf(line, sizeof(line), "STACK_QUIET=1 %s/scripts/stack.sh %s %s %s 2>&1",
		 need_env("PROJECT_ROOT"), cmd, need_env("STACK_DIR"), args ? args : "");
	char *out = run_capture(line, &status);
	if (status != 0)
		cr_log_warn("stack %s: %s", cmd, out);
	free(out);
	return status;
}

bool wait_until(bool (*pred)(void), int timeout_ms)
{
	double end = now_ms() + timeout_ms;
	do {
		if (pred())
			return true;
		usleep(20000);
	} while (now_ms() < end);
	return false;
}

static int ready_streak;
static bool all_workers_ready(void)
{
	/* a new user each time: an anonymous caller (the address) or one user
	 * would run out of chat budget (429) before the streak is complete */
	char *token = user_token(NULL, NULL, 600);
	struct http *r = http_get("/health/ready");
	struct http *c = chat_post(token, NULL, "{\"message\":\"ready?\"}");
	bool ok = r->status == 200 && c->status == 200;
	http_free(r);
	http_free(c);
	free(token);
	ready_streak = ok ? ready_streak + 1 : 0;
	return ready_streak >= 40;
}

void wait_all_workers_ready(void)
{
	ready_streak = 0;
	cr_assert(wait_until(all_workers_ready, 30000),
		  "the workers did not all serve again within 30 s");
}

struct burst_one {
	struct buf h;
	CURL *c;
};

void http_burst(const char *base, const char *method, const char *path,
		const char *const *headers, int n, long *status, int *retry_after,
		double *slowest_ms)
{
	CURLM *m = curl_multi_init();
	struct burst_one *one = calloc((size_t)n, sizeof(*one));
	struct curl_slist *list = curl_slist_append(NULL, "Expect:");
	char url[4096];

	snprintf(url, sizeof(url), "%s%s", base, path);
	for (const char *const *hd = headers; hd && *hd; hd++)
		list = curl_slist_append(list, *hd);
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)n);
	for (int i = 0; i < n; i++) {
		CURL *c = curl_easy_init();
		one[i].c = c;
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &one[i].h); /* body ignored, kept with headers */
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, &one[i].h);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
		curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
		curl_easy_setopt(c, CURLOPT_PRIVATE, (char *)&one[i]);
		curl_multi_add_handle(m, c);
	}
	int running = 1;
	while (running) {
		curl_multi_perform(m, &running);
		if (running)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	*slowest_ms = 0;
	for (int i = 0; i < n; i++) {
		double t = 0;
		curl_easy_getinfo(one[i].c, CURLINFO_RESPONSE_CODE, &status[i]);
		curl_easy_getinfo(one[i].c, CURLINFO_TOTAL_TIME, &t);
		if (t * 1000 > *slowest_ms)
			*slowest_ms = t * 1000;
		struct http tmp = {.headers = one[i].h.p};
		const char *ra = one[i].h.p ? http_header(&tmp, "Retry-After") : NULL;
		retry_after[i] = ra ? atoi(ra) : 0;
		curl_multi_remove_handle(m, one[i].c);
		curl_easy_cleanup(one[i].c);
		free(one[i].h.p);
	}
	curl_slist_free_all(list);
	curl_multi_cleanup(m);
	free(one);
}

char *user_token(const char *sub, char sub_out[37], long ttl)
{
	char id[37];
	if (sub == NULL)
		token_uuid(id);
	else
		snprintf(id, sizeof(id), "%s", sub);
	if (sub_out != NULL)
		memcpy(sub_out, id, 37);
	return token_mint(need_env("SUPABASE_JWT_SECRET"), id, ttl,
			  "\"email\":\"tester@example.com\"");
}

const char *bearer(int slot, const char *token)
{
	static char buf[4][8300];
	snprintf(buf[slot & 3], sizeof(buf[0]), "Authorization: Bearer %s", token);
	return buf[slot & 3];
}

char *sql(const char *fmt, ...)
{
	char stmt[8192], cmd[9000];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(stmt, sizeof(stmt), fmt, ap);
	va_end(ap);
	/* a file of its own: test runs on other stacks may be running too */
	char path[] = "/tmp/pixelcraft-test-sql.XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	FILE *f = fdopen(fd, "w");
	cr_assert_not_null(f);
	fputs(stmt, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s/scripts/stack.sh psql %s -At -f - < %s 2>&1",
		 need_env("PROJECT_ROOT"), need_env("STACK_DIR"), path);
	char *out = run_capture(cmd, &st);
	unlink(path);
	cr_assert_eq(st, 0, "psql failed: %s\n%s", stmt, out);
	size_t n = strlen(out);
	while (n > 0 && out[n - 1] == '\n')
		out[--n] = '\0';
	return out;
}

const char *host_up(int slot, const char *extra_env, int workers, int chat_workers, char *dir,
		    size_t dirlen)
{
	static char base[4][128];
	char cmd[2048], tmpl[] = "/tmp/pixelcraft-host.XXXXXX";
	int st;

	cr_assert_not_null(mkdtemp(tmpl));
	snprintf(dir, dirlen, "%s", tmpl);
	snprintf(cmd, sizeof(cmd),
		 "env -u PORT -u INTERNAL_PORT -u PG_PORT -u REDIS_PORT -u STUB_PORT -u WORKERS "
		 "-u CHAT_WORKERS "
		 "EXTRA_ENV='%s' STACK_QUIET=1 %s/scripts/stack.sh up %s --shared %s --front %s "
		 "--workers %d --chat-workers %d 2>&1 && sed -n 's/^BASE_URL=//p' %s/stack.env",
		 extra_env, need_env("PROJECT_ROOT"), dir, need_env("STACK_DIR"), need_env("FRONT"),
		 workers, chat_workers, dir);
	char *out = run_capture(cmd, &st);
	cr_assert_eq(st, 0, "second host did not start: %s", out);
	snprintf(base[slot & 3], sizeof(base[0]), "%s", out);
	char *nl = strchr(base[slot & 3], '\n');
	if (nl)
		*nl = '\0';
	free(out);
	return base[slot & 3];
}

void host_down(const char *dir)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "STACK_QUIET=1 %s/scripts/stack.sh down %s >/dev/null 2>&1; rm -rf %s",
		 need_env("PROJECT_ROOT"), dir, dir);
	free(run_capture(cmd, NULL));
}

void stub_control(const char *path, const char *json_fmt, ...)
{
	char body[2048], base[128];
	va_list ap;

	va_start(ap, json_fmt);
	vsnprintf(body, sizeof(body), json_fmt, ap);
	va_end(ap);
	snprintf(base, sizeof(base), "http://127.0.0.1:%s", need_env("STUB_PORT"));
	struct http *r = http_do_at(base, "POST", path, body, NULL);
	cr_assert_eq(r->status, 200, "stub control %s %s: %ld", path, body, r->status);
	http_free(r);
}

struct json_object *stub_stats(void)
{
	char base[128];
	snprintf(base, sizeof(base), "http://127.0.0.1:%s", need_env("STUB_PORT"));
	struct http *r = http_do_at(base, "GET", "/_stub/stats", NULL, NULL);
	cr_assert_eq(r->status, 200);
	struct json_object *o = json_object_get(r->json);
	http_free(r);
	return o;
}

long stub_requests(const char *tag)
{
	struct json_object *st = stub_stats(), *models, *m, *v;
	long n = 0;
	/* (tags contain '.', so no json_at here) */
	if (json_object_object_get_ex(st, "models", &models) &&
	    json_object_object_get_ex(models, tag, &m) &&
	    json_object_object_get_ex(m, "requests", &v))
		n = json_object_get_int64(v);
	json_object_put(st);
	return n;
}

struct http *chat_post(const char *token, const char *extra_header, const char *fmt, ...)
{
	static char body[65536];
	const char *h[3] = {NULL, NULL, NULL};
	int n = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (token != NULL)
		h[n++] = bearer(3, token);
	if (extra_header != NULL)
		h[n++] = extra_header;
	return http_do("POST", "/api/chat/message", body, h);
}

char *chat_once(const char *message)
{
	char *since = sql("SELECT clock_timestamp()");
	char *t = user_token(NULL, NULL, 600);
	struct http *r = chat_post(t, NULL, "{\"message\":\"%s\"}", message);
	cr_assert_eq(r->status, 200, "%s", r->body);
	http_free(r);
	free(t);
	return since;
}

int model_metrics_since(const char *since)
{
	char *n = sql("SELECT count(*) FROM model_metrics WHERE created_at >= '%s'", since);
	int rows = atoi(n);
	free(n);
	return rows;
}

struct many_slot {
	CURL *c;
	int i;
	struct buf b;
	struct curl_slist *h;
	struct many_req req;
};

static void many_start(CURLM *m, struct many_slot *s, const char *base, int i,
		       void (*build)(int, struct many_req *, void *), void *arg)
{
	char url[1024];

	memset(&s->req, 0, sizeof(s->req));
	snprintf(s->req.method, sizeof(s->req.method), "GET");
	build(i, &s->req, arg);
	s->i = i;
	s->b.len = 0;
	if (s->b.p)
		s->b.p[0] = '\0';
	s->c = curl_easy_init();
	s->h = curl_slist_append(NULL, "Expect:");
	if (s->req.body[0])
		s->h = curl_slist_append(s->h, "Content-Type: application/json");
	for (int k = 0; k < 4; k++)
		if (s->req.headers[k][0])
			s->h = curl_slist_append(s->h, s->req.headers[k]);
	snprintf(url, sizeof(url), "%s%s", base, s->req.path);
	curl_easy_setopt(s->c, CURLOPT_URL, url);
	curl_easy_setopt(s->c, CURLOPT_CUSTOMREQUEST, s->req.method);
	if (s->req.body[0])
		curl_easy_setopt(s->c, CURLOPT_POSTFIELDS, s->req.body);
	curl_easy_setopt(s->c, CURLOPT_HTTPHEADER, s->h);
	curl_easy_setopt(s->c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(s->c, CURLOPT_WRITEDATA, &s->b);
	curl_easy_setopt(s->c, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(s->c, CURLOPT_PRIVATE, (char *)s);
	curl_multi_add_handle(m, s->c);
}

void http_many(const char *base, int n, int concurrency,
	       void (*build)(int i, struct many_req *req, void *arg),
	       void (*done)(int i, long status, const char *body, double ms, void *arg),
	       void *arg)
{
	CURLM *m = curl_multi_init();
	struct many_slot *slots = calloc((size_t)concurrency, sizeof(*slots));
	int next = 0, active = 0;

	for (; next < n && next < concurrency; next++, active++)
		many_start(m, &slots[next], base, next, build, arg);
	while (active > 0) {
		int running;
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct many_slot *s;
			long status = 0;
			double t = 0;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_TOTAL_TIME, &t);
			done(s->i, status, s->b.p ? s->b.p : "", t * 1000, arg);
			curl_multi_remove_handle(m, s->c);
			curl_easy_cleanup(s->c);
			curl_slist_free_all(s->h);
			active--;
			if (next < n) {
				many_start(m, s, base, next++, build, arg);
				active++;
			}
		}
		if (active > 0)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	for (int i = 0; i < concurrency; i++)
		free(slots[i].b.p);
	free(slots);
	curl_multi_cleanup(m);
}
