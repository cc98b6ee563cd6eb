/*
 * Integration: the worker pool spoken to in raw FastCGI records, straight on
 * the main pool's socket ($STACK_DIR/run/api.sock), as a broken or hostile
 * web server would: wrong version, unknown record type and role, a second
 * request id on one connection, truncated headers, wrong padding,
 * unterminated parameters, FCGI_ABORT_REQUEST in the middle of the body,
 * stdin longer or shorter than CONTENT_LENGTH, huge lengths.
 *
 * Each case must end in a clean protocol reply (a response with a Status
 * and FCGI_END_REQUEST, or an FCGI_END_REQUEST/FCGI_UNKNOWN_TYPE record) or
 * the worker closing the connection, never in a hang (every socket has a 3 s
 * timeout). Afterwards the pool must be back to WORKERS workers within 2 s
 * and answer through the front end. Only where libfcgi itself cannot survive
 * the input (Debian's libfcgi has only part of the CVE-2025-23016 fix) is a
 * supervised restart of the worker accepted; everywhere else the workers
 * must be the same processes as before.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

enum {
	FCGI_BEGIN_REQUEST = 1,
	FCGI_ABORT_REQUEST = 2,
	FCGI_END_REQUEST = 3,
	FCGI_PARAMS = 4,
	FCGI_STDIN = 5,
	FCGI_STDOUT = 6,
	FCGI_STDERR = 7,
	FCGI_GET_VALUES = 9,
	FCGI_UNKNOWN_TYPE = 11,
};

#define FCGI_RESPONDER 1
#define FCGI_KEEP_CONN 1
#define FCGI_CANT_MPX_CONN 1
#define TIMEOUT_S 3

/* ---- building records ------------------------------------------------- */

struct out {
	unsigned char *p;
	size_t len, cap;
};

static void put(struct out *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		cr_assert_not_null(b->p);
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

/* A record header as given (declared lengths need not match what follows). */
static void header(struct out *b, int version, int type, int id, size_t clen, int pad)
{
	unsigned char h[8] = {(unsigned char)version,  (unsigned char)type,
			      (unsigned char)(id >> 8), (unsigned char)id,
			      (unsigned char)(clen >> 8), (unsigned char)clen,
			      (unsigned char)pad,       0};
	put(b, h, sizeof(h));
}

/* A well-formed record: header, content, pad zero bytes. */
static void record(struct out *b, int type, int id, const void *content, size_t clen, int pad)
{
	static const unsigned char zeros[256];

	header(b, 1, type, id, clen, pad);
	if (clen > 0)
		put(b, content, clen);
	put(b, zeros, (size_t)pad);
}

static void begin(struct out *b, int id, int role, int flags)
{
	unsigned char body[8] = {(unsigned char)(role >> 8), (unsigned char)role,
				 (unsigned char)flags};
	record(b, FCGI_BEGIN_REQUEST, id, body, sizeof(body), 0);
}

/* One name-value pair with explicit (possibly lying) lengths. */
static void pair_len(struct out *b, uint32_t nlen, uint32_t vlen)
{
	unsigned char l[8];
	size_t n = 0;

	if (nlen < 128) {
		l[n++] = (unsigned char)nlen;
	} else {
		l[n++] = (unsigned char)(0x80 | nlen >> 24);
		l[n++] = (unsigned char)(nlen >> 16);
		l[n++] = (unsigned char)(nlen >> 8);
		l[n++] = (unsigned char)nlen;
	}
	if (vlen < 128) {
		l[n++] = (unsigned char)vlen;
	} else {
		l[n++] = (unsigned char)(0x80 | vlen >> 24);
		l[n++] = (unsigned char)(vlen >> 16);
		l[n++] = (unsigned char)(vlen >> 8);
		l[n++] = (unsigned char)vlen;
	}
	put(b, l, n);
}

static void pair(struct out *b, const char *name, const char *value)
{
	pair_len(b, (uint32_t)strlen(name), (uint32_t)strlen(value));
	put(b, name, strlen(name));
	put(b, value, strlen(value));
}

/* PARAMS records for name/value strings (NULL-terminated list), and the
 * empty record that ends them when `end`. */
static void params(struct out *b, int id, const char *const *kv, bool end)
{
	struct out p = {0};

	for (int i = 0; kv[i] != NULL; i += 2)
		pair(&p, kv[i], kv[i + 1]);
	for (size_t off = 0; off < p.len; off += 0xffff) {
		size_t n = p.len - off > 0xffff ? 0xffff : p.len - off;
		record(b, FCGI_PARAMS, id, p.p + off, n, (int)((8 - n % 8) % 8));
	}
	if (end)
		record(b, FCGI_PARAMS, id, NULL, 0, 0);
	free(p.p);
}

/* STDIN records carrying n bytes of 'x' (in records of at most 0xffff), and
 * the empty record that ends the stream when `end`. */
static void body(struct out *b, int id, size_t n, bool end)
{
	static char chunk[0xffff];

	memset(chunk, 'x', sizeof(chunk));
	while (n > 0) {
		size_t k = n > sizeof(chunk) ? sizeof(chunk) : n;
		record(b, FCGI_STDIN, id, chunk, k, 0);
		n -= k;
	}
	if (end)
		record(b, FCGI_STDIN, id, NULL, 0, 0);
}

static const char *const get_live[] = {
	"REQUEST_METHOD", "GET", "REQUEST_URI", "/health/live", "REMOTE_ADDR", "127.0.0.1",
	"SERVER_PROTOCOL", "HTTP/1.1", NULL};

/* ---- talking to the pool -------------------------------------------------- */

struct reply {
	unsigned char *p;
	size_t len;
	bool closed;  /* EOF or reset: the worker ended the connection */
	bool timeout; /* nothing more within TIMEOUT_S */
	/* parsed */
	char out[8192]; /* FCGI_STDOUT content of request 1 (start of it) */
	size_t outlen;
	int ends;       /* FCGI_END_REQUEST records */
	int end_id[8], end_proto[8];
	int unknown;    /* FCGI_UNKNOWN_TYPE records */
	int unknown_type;
	bool garbage;   /* a reply record that is not FastCGI */
};

static int pool_connect(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct timeval tv = {TIMEOUT_S, 0};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/run/api.sock", need_env("STACK_DIR"));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect %s: %s",
		     a.sun_path, strerror(errno));
	return fd;
}

static void parse(struct reply *r)
{
	size_t off = 0;

	while (off + 8 <= r->len) {
		const unsigned char *h = r->p + off;
		size_t clen = (size_t)h[4] << 8 | h[5], pad = h[6];
		int id = h[2] << 8 | h[3];
		if (h[0] != 1 || off + 8 + clen + pad > r->len) {
			r->garbage = true;
			return;
		}
		const unsigned char *c = h + 8;
		if (h[1] == FCGI_STDOUT && id == 1 && r->outlen + clen < sizeof(r->out)) {
			memcpy(r->out + r->outlen, c, clen);
			r->outlen += clen;
		} else if (h[1] == FCGI_END_REQUEST && clen == 8 && r->ends < 8) {
			r->end_id[r->ends] = id;
			r->end_proto[r->ends++] = c[4];
		} else if (h[1] == FCGI_UNKNOWN_TYPE && clen == 8) {
			r->unknown++;
			r->unknown_type = c[0];
		} else if (h[1] != FCGI_STDOUT && h[1] != FCGI_STDERR &&
			   h[1] != FCGI_GET_VALUES + 1) {
			r->garbage = true;
		}
		off += 8 + clen + pad;
	}
	r->out[r->outlen] = '\0';
	if (off != r->len)
		r->garbage = !r->closed; /* a torn record is fine only if the worker died */
}

/* Receives into r until the worker closes, TIMEOUT_S passes without data,
 * or (ends > 0) r holds that many FCGI_END_REQUEST records. */
static void receive(int fd, struct reply *r, int ends)
{
	for (;;) {
		unsigned char buf[65536];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0) {
			r->p = realloc(r->p, r->len + (size_t)n);
			cr_assert_not_null(r->p);
			memcpy(r->p + r->len, buf, (size_t)n);
			r->len += (size_t)n;
			if (ends > 0) {
				struct reply t = {.p = r->p, .len = r->len};
				parse(&t);
				if (t.ends >= ends)
					return;
			}
			continue;
		}
		if (n == 0 || errno == ECONNRESET || errno == EPIPE)
			r->closed = true;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			r->timeout = true;
		else
			r->closed = true;
		return;
	}
}

/*
 * Sends each step in turn on one connection, waiting for the answer to the
 * previous step (its FCGI_END_REQUEST) before sending the next; then (when
 * shut) ends our side of the stream and reads until the worker closes or
 * TIMEOUT_S passes without data. A worker that closes while we still send
 * (EPIPE, ECONNRESET) counts as closed.
 */
static struct reply *exchange_steps(const struct out *const *steps, int nsteps, bool shut)
{
	struct reply *r = calloc(1, sizeof(*r));
	int fd = pool_connect();

	cr_assert_not_null(r);
	for (int i = 0; i < nsteps && !r->closed && !r->timeout; i++) {
		if (i > 0)
			receive(fd, r, i);
		size_t off = 0;
		while (off < steps[i]->len) {
			ssize_t n = send(fd, steps[i]->p + off, steps[i]->len - off, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					r->timeout = true; /* the worker stopped reading */
				break;
			}
			off += (size_t)n;
		}
	}
	if (shut)
		shutdown(fd, SHUT_WR);
	if (!r->closed && !r->timeout)
		receive(fd, r, 0);
	close(fd);
	parse(r);
	return r;
}

static struct reply *exchange(const struct out *what, bool shut)
{
	return exchange_steps(&what, 1, shut);
}

static void reply_free(struct reply *r)
{
	free(r->p);
	free(r);
}

/* The HTTP status in a FastCGI response ("Status: 400 ..."), or 0. */
static int status_of(const struct reply *r)
{
	const char *s = strstr(r->out, "Status: ");
	return s ? atoi(s + 8) : 0;
}

/* A complete response to request 1 ended by FCGI_END_REQUEST(REQUEST_COMPLETE). */
static bool answered(const struct reply *r, int status)
{
	bool end = false;

	for (int i = 0; i < r->ends; i++)
		end |= r->end_id[i] == 1 && r->end_proto[i] == 0;
	return end && status_of(r) == status && !r->garbage;
}

/* ---- the pool ------------------------------------------------------------ */

static int pool_pids(pid_t *out, int max)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "%s/scripts/stack.sh pool-pids %s api", need_env("PROJECT_ROOT"),
		 need_env("STACK_DIR"));
	char *s = run_capture(cmd, NULL);
	int n = 0;
	for (char *p = strtok(s, "\n"); p && n < max; p = strtok(NULL, "\n"))
		out[n++] = atoi(p);
	free(s);
	return n;
}

static bool pool_full(void)
{
	pid_t p[256];

	return pool_pids(p, 256) == atoi(need_env("WORKERS"));
}

static bool same_pids(const pid_t *a, int n, const pid_t *b, int m)
{
	if (n != m)
		return false;
	for (int i = 0; i < n; i++) {
		bool found = false;
		for (int j = 0; j < m; j++)
			found |= a[i] == b[j];
		if (!found)
			return false;
	}
	return true;
}

struct pool_state {
	pid_t pids[256];
	int n;
};

static struct pool_state before(void)
{
	struct pool_state s;

	cr_assert(wait_until(pool_full, 5000), "the pool is not complete before the case");
	s.n = pool_pids(s.pids, 256);
	return s;
}

/*
 * After a case: WORKERS workers again within 5 s (a replacement takes well
 * under 1 s; make faults checks that), and the front end answers.
 * may_restart: libfcgi cannot survive this input, so a replaced worker is
 * acceptable; otherwise the workers must be the very same processes.
 */
static void after(const struct pool_state *s, const char *what, bool may_restart)
{
	double t0 = now_ms();
	cr_assert(wait_until(pool_full, 5000), "%s: the pool is not back to %s workers in 5 s",
		  what, need_env("WORKERS"));
	pid_t now[256];
	int n = pool_pids(now, 256);
	bool same = same_pids(s->pids, s->n, now, n);
	if (!same)
		cr_log_info("%s: a worker was restarted by the supervisor (pool complete after %.0f ms)",
			    what, now_ms() - t0);
	if (!may_restart)
		cr_assert(same, "%s: a worker died (it must answer or close the connection)", what);
	struct http *h = http_get("/health/live");
	cr_assert_eq(h->status, 200, "%s: /health/live answered %ld afterwards", what, h->status);
	http_free(h);
}

/* ---- the cases -------------------------------------------------------------- */

/* Sends b and shuts down the writing side: the worker must end the
 * connection (an answer or a close) without hanging or sending garbage. */
static void closes_cleanly(const struct out *b)
{
	struct reply *r = exchange(b, true);

	cr_assert(r->closed && !r->timeout);
	cr_assert(!r->garbage);
	reply_free(r);
}

TestSuite(fcgi, .timeout = 60);

Test(fcgi, well_formed_request_is_answered)
{
	struct pool_state s = before();
	struct out b = {0};

	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, get_live, true);
	body(&b, 1, 0, true);
	struct reply *r = exchange(&b, false);
	cr_assert(answered(r, 200), "no clean 200 (%zu bytes: %.200s)", r->len, r->out);
	cr_assert(r->closed && !r->timeout, "the worker keeps a connection without FCGI_KEEP_CONN");
	reply_free(r);
	free(b.p);
	after(&s, "well-formed request", false);
}

/* The other side of http::proxy_header_never_reaches_the_workers: an
 * HTTP_PROXY parameter that does arrive is flagged in the access log. */
Test(fcgi, http_proxy_parameter_is_flagged)
{
	struct out b = {0};
	char id[64];

	snprintf(id, sizeof(id), "fcgi-httpoxy-%d", (int)getpid());
	const char *kv[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/health/live", "REMOTE_ADDR",
			    "127.0.0.1", "HTTP_PROXY", "http://127.0.0.1:9/", "HTTP_X_REQUEST_ID",
			    id, NULL};
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, kv, true);
	body(&b, 1, 0, true);
	struct reply *r = exchange(&b, false);
	cr_assert(answered(r, 200), "no clean 200 (%zu bytes: %.200s)", r->len, r->out);
	reply_free(r);
	free(b.p);
	char *line = access_log_line(id);
	cr_assert_not_null(strstr(line, "\"httpoxy\""), "not flagged: %s", line);
	free(line);
}

Test(fcgi, keep_conn_serves_two_requests_on_one_connection)
{
	struct pool_state s = before();
	struct out b = {0};

	/* the second request after the first is answered (libfcgi drops what
	 * arrived beyond the current request: no pipelining, as nginx does not) */
	begin(&b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
	params(&b, 1, get_live, true);
	body(&b, 1, 0, true);
	const struct out *steps[] = {&b, &b};
	struct reply *r = exchange_steps(steps, 2, true);
	cr_assert_eq(r->ends, 2, "two requests, %d FCGI_END_REQUEST", r->ends);
	cr_assert(answered(r, 200));
	cr_assert(r->closed && !r->timeout);
	reply_free(r);
	free(b.p);
	after(&s, "FCGI_KEEP_CONN", false);
}

Test(fcgi, wrong_version_is_closed)
{
	struct pool_state s = before();
	struct out b = {0};
	unsigned char role[8] = {0, FCGI_RESPONDER};

	header(&b, 2, FCGI_BEGIN_REQUEST, 1, 8, 0);
	put(&b, role, sizeof(role));
	params(&b, 1, get_live, true);
	struct reply *r = exchange(&b, false);
	cr_assert(r->closed && !r->timeout, "version 2: connection not closed (timeout %d)",
		  r->timeout);
	cr_assert_eq(r->outlen, 0, "version 2 was answered: %.200s", r->out);
	reply_free(r);
	free(b.p);
	after(&s, "wrong version", false);
}

Test(fcgi, unknown_management_record_gets_unknown_type)
{
	struct pool_state s = before();
	struct out b = {0};

	/* an unknown management record (request id 0), then a normal request */
	record(&b, 99, 0, NULL, 0, 0);
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, get_live, true);
	body(&b, 1, 0, true);
	struct reply *r = exchange(&b, false);
	cr_assert_eq(r->unknown, 1, "no FCGI_UNKNOWN_TYPE record");
	cr_assert_eq(r->unknown_type, 99);
	cr_assert(answered(r, 200), "the request after it was not answered");
	reply_free(r);

	/* with content: libfcgi answers FCGI_UNKNOWN_TYPE, then takes the content
	 * for request data and gives up the connection */
	b.len = 0;
	record(&b, 99, 0, "abcdefgh", 8, 0);
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, get_live, true);
	body(&b, 1, 0, true);
	r = exchange(&b, false);
	cr_assert_eq(r->unknown, 1, "no FCGI_UNKNOWN_TYPE record");
	cr_assert(r->closed && !r->timeout);
	cr_assert(!r->garbage);
	if (r->outlen > 0)
		cr_assert(answered(r, 200), "%.200s", r->out);
	reply_free(r);
	free(b.p);
	after(&s, "unknown management record", false);
}

Test(fcgi, unknown_record_type_in_a_request_is_closed)
{
	struct pool_state s = before();
	struct out b = {0};

	begin(&b, 1, FCGI_RESPONDER, 0);
	record(&b, 99, 1, "abcdefgh", 8, 0); /* where PARAMS are expected */
	params(&b, 1, get_live, true);
	body(&b, 1, 0, true);
	struct reply *r = exchange(&b, false);
	cr_assert(r->closed && !r->timeout);
	cr_assert(!r->garbage);
	reply_free(r);
	free(b.p);
	after(&s, "unknown record type", false);
}

Test(fcgi, unknown_role_is_closed)
{
	struct pool_state s = before();
	struct out b = {0};

	begin(&b, 1, 7, 0);
	params(&b, 1, get_live, true);
	body(&b, 1, 0, true);
	struct reply *r = exchange(&b, false);
	cr_assert(r->closed && !r->timeout);
	cr_assert_eq(r->outlen, 0, "role 7 was answered: %.200s", r->out);
	reply_free(r);
	free(b.p);
	after(&s, "unknown role", false);
}

Test(fcgi, second_request_id_gets_cant_mpx_conn)
{
	struct pool_state s = before();
	struct out b = {0};

	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, get_live, true);
	begin(&b, 2, FCGI_RESPONDER, 0); /* multiplexing: not supported */
	params(&b, 2, get_live, true);
	body(&b, 2, 10, true);
	body(&b, 1, 0, true);
	struct reply *r = exchange(&b, false);
	bool refused = false;
	for (int i = 0; i < r->ends; i++)
		refused |= r->end_id[i] == 2 && r->end_proto[i] == FCGI_CANT_MPX_CONN;
	cr_assert(refused, "request id 2 not refused with FCGI_CANT_MPX_CONN");
	cr_assert(answered(r, 200), "request 1 not answered: %.200s", r->out);
	reply_free(r);
	free(b.p);
	after(&s, "second request id", false);
}

Test(fcgi, truncated_header_is_closed)
{
	struct pool_state s = before();
	struct out b = {0};

	begin(&b, 1, FCGI_RESPONDER, 0);
	b.len = 5; /* five bytes of an eight-byte header, then end of stream */
	struct reply *r = exchange(&b, true);
	cr_assert(r->closed && !r->timeout);
	cr_assert_eq(r->len, 0);
	reply_free(r);

	/* the same inside the parameters */
	b.len = 0;
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, get_live, false);
	header(&b, 1, FCGI_PARAMS, 1, 0, 0);
	b.len -= 3;
	closes_cleanly(&b);
	free(b.p);
	after(&s, "truncated header", false);
}

Test(fcgi, padding_mismatch_is_closed)
{
	struct pool_state s = before();
	struct out b = {0};

	/* PARAMS declares 5 padding bytes but sends none: the next header is read
	 * five bytes late (version 0) */
	begin(&b, 1, FCGI_RESPONDER, 0);
	struct out p = {0};
	pair(&p, "REQUEST_URI", "/health/live");
	header(&b, 1, FCGI_PARAMS, 1, p.len, 5);
	put(&b, p.p, p.len);
	record(&b, FCGI_PARAMS, 1, NULL, 0, 0);
	body(&b, 1, 0, true);
	closes_cleanly(&b);

	/* padding declared (255) and never sent: the stream ends inside it */
	b.len = 0;
	begin(&b, 1, FCGI_RESPONDER, 0);
	header(&b, 1, FCGI_PARAMS, 1, p.len, 255);
	put(&b, p.p, p.len);
	closes_cleanly(&b);

	/* more padding than declared: the extra bytes become a bad header */
	b.len = 0;
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, get_live, true);
	record(&b, FCGI_STDIN, 1, "abc", 3, 0);
	put(&b, "\0\0\0\0\0\0\0\0\0\0\0", 11);
	body(&b, 1, 0, true);
	closes_cleanly(&b);
	free(p.p);
	free(b.p);
	after(&s, "padding mismatch", false);
}

Test(fcgi, unterminated_params_end_cleanly)
{
	struct pool_state s = before();
	struct out b = {0};

	/* parameters without their empty record, then stdin: a protocol error
	 * that libfcgi takes for the end of the parameters; the worker then
	 * waits for stdin as long as the connection is open (the web server's
	 * timeout bounds that), and answers or closes at its end */
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, get_live, false);
	body(&b, 1, 0, true);
	closes_cleanly(&b);

	/* parameters without their empty record, then end of stream: libfcgi
	 * takes what it has as the request; an answer or a close is fine */
	b.len = 0;
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, get_live, false);
	struct reply *r = exchange(&b, true);
	cr_assert(r->closed && !r->timeout);
	cr_assert(!r->garbage);
	if (r->outlen > 0)
		cr_assert(answered(r, 200) || answered(r, 400), "%.200s", r->out);
	reply_free(r);

	/* a name-value pair cut in the middle of its value */
	b.len = 0;
	begin(&b, 1, FCGI_RESPONDER, 0);
	struct out p = {0};
	pair_len(&p, 11, 100);
	put(&p, "REQUEST_URIabc", 14);
	record(&b, FCGI_PARAMS, 1, p.p, p.len, 0);
	record(&b, FCGI_PARAMS, 1, NULL, 0, 0);
	body(&b, 1, 0, true);
	closes_cleanly(&b);
	free(p.p);
	free(b.p);
	after(&s, "unterminated params", false);
}

Test(fcgi, abort_request_mid_body)
{
	struct pool_state s = before();
	struct out b = {0};
	static const char *const post[] = {
		"REQUEST_METHOD", "POST", "REQUEST_URI", "/health/live", "REMOTE_ADDR",
		"127.0.0.1",      "CONTENT_LENGTH", "1000", "CONTENT_TYPE", "application/json", NULL};

	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, post, true);
	body(&b, 1, 400, false);
	record(&b, FCGI_ABORT_REQUEST, 1, NULL, 0, 0);
	struct reply *r = exchange(&b, false);
	cr_assert(!r->timeout, "the worker hangs after FCGI_ABORT_REQUEST");
	cr_assert(!r->garbage);
	/* libfcgi has no abort: the body ends short, which is a 400, or the
	 * connection is closed */
	if (r->outlen > 0)
		cr_assert(answered(r, 400), "%.200s", r->out);
	else
		cr_assert(r->closed);
	reply_free(r);
	free(b.p);
	after(&s, "FCGI_ABORT_REQUEST", false);
}

Test(fcgi, stdin_longer_or_shorter_than_content_length)
{
	struct pool_state s = before();
	struct out b = {0};
	static const char *const cl10[] = {
		"REQUEST_METHOD", "POST", "REQUEST_URI", "/health/live", "REMOTE_ADDR",
		"127.0.0.1",      "CONTENT_LENGTH", "10", NULL};
	static const char *const cl20[] = {
		"REQUEST_METHOD", "POST", "REQUEST_URI", "/health/live", "REMOTE_ADDR",
		"127.0.0.1",      "CONTENT_LENGTH", "20", NULL};

	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, cl10, true);
	body(&b, 1, 20, true);
	struct reply *r = exchange(&b, false);
	cr_assert(answered(r, 400), "longer body: %.300s", r->out);
	cr_assert(strstr(r->out, "longer than Content-Length") != NULL, "%.300s", r->out);
	reply_free(r);

	b.len = 0;
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, cl20, true);
	body(&b, 1, 10, true);
	r = exchange(&b, false);
	cr_assert(answered(r, 400), "shorter body: %.300s", r->out);
	cr_assert(strstr(r->out, "shorter than Content-Length") != NULL, "%.300s", r->out);
	reply_free(r);

	/* stdin never ended: the worker waits for it; our end of stream ends it */
	b.len = 0;
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, cl20, true);
	body(&b, 1, 10, false);
	r = exchange(&b, true);
	cr_assert(!r->timeout && r->closed);
	cr_assert(!r->garbage);
	reply_free(r);
	free(b.p);
	after(&s, "stdin longer or shorter", false);
}

Test(fcgi, huge_lengths)
{
	struct pool_state s = before();
	struct out b = {0};
	static const char *const huge_cl[] = {
		"REQUEST_METHOD", "POST", "REQUEST_URI", "/health/live", "REMOTE_ADDR", "127.0.0.1",
		"CONTENT_LENGTH", "99999999999999999999999", NULL};
	static const char *const max_cl[] = {
		"REQUEST_METHOD", "POST", "REQUEST_URI", "/health/live", "REMOTE_ADDR", "127.0.0.1",
		"CONTENT_LENGTH", "65535", NULL};

	/* an absurd CONTENT_LENGTH with two full 64 KiB stdin records: 413 */
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, huge_cl, true);
	body(&b, 1, 2 * 0xffff, true);
	struct reply *r = exchange(&b, false);
	cr_assert(answered(r, 413), "huge CONTENT_LENGTH: %.300s", r->out);
	reply_free(r);

	/* one record of the largest size with the largest padding */
	b.len = 0;
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, max_cl, true);
	static char big[0xffff];
	memset(big, '{', sizeof(big));
	record(&b, FCGI_STDIN, 1, big, sizeof(big), 255);
	record(&b, FCGI_STDIN, 1, NULL, 0, 0);
	r = exchange(&b, false);
	cr_assert(answered(r, 405), "65535-byte record: %.300s", r->out);
	reply_free(r);

	/* a 1 MiB parameter value: libfcgi reads it; the worker answers */
	b.len = 0;
	begin(&b, 1, FCGI_RESPONDER, 0);
	struct out p = {0};
	static const char *const rest[] = {"REQUEST_METHOD", "GET", "REQUEST_URI", "/health/live",
					   NULL};
	for (int i = 0; rest[i]; i += 2)
		pair(&p, rest[i], rest[i + 1]);
	pair_len(&p, 11, 1 << 20);
	put(&p, "HTTP_X_HUGE", 11);
	for (int i = 0; i < 16; i++)
		put(&p, big, 1 << 16);
	for (size_t off = 0; off < p.len; off += 0xffff) {
		size_t n = p.len - off > 0xffff ? 0xffff : p.len - off;
		record(&b, FCGI_PARAMS, 1, p.p + off, n, 0);
	}
	record(&b, FCGI_PARAMS, 1, NULL, 0, 0);
	body(&b, 1, 0, true);
	r = exchange(&b, false);
	cr_assert(answered(r, 200), "1 MiB parameter: %.300s", r->out);
	reply_free(r);
	free(p.p);
	free(b.p);
	after(&s, "huge CONTENT_LENGTH and records", false);
}

Test(fcgi, parameter_lengths_near_2_31)
{
	struct pool_state s = before();
	struct out b = {0}, p = {0};

	/* name and value lengths of 2^31 - 2: their sum overflows libfcgi's int
	 * (the rest of CVE-2025-23016); libfcgi cannot survive it, so the
	 * supervisor's restart is the expected outcome */
	begin(&b, 1, FCGI_RESPONDER, 0);
	pair_len(&p, 0x7ffffffe, 0x7ffffffe);
	put(&p, "REQUEST_URI", 11);
	record(&b, FCGI_PARAMS, 1, p.p, p.len, 0);
	struct reply *r = exchange(&b, true);
	cr_assert(!r->timeout, "the worker hangs on a 2^31 parameter length");
	cr_assert(r->closed);
	reply_free(r);
	after(&s, "parameter lengths 2^31 - 2", true);

	/* 2^31 - 1: refused by the partial fix */
	s = before();
	b.len = p.len = 0;
	begin(&b, 1, FCGI_RESPONDER, 0);
	pair_len(&p, 0x7fffffff, 1);
	put(&p, "REQUEST_URI", 11);
	record(&b, FCGI_PARAMS, 1, p.p, p.len, 0);
	r = exchange(&b, true);
	cr_assert(!r->timeout && r->closed);
	reply_free(r);
	after(&s, "parameter length 2^31 - 1", true);

	/* a 1 GiB name announced and never sent: the worker waits for it until
	 * our end of stream, then closes */
	s = before();
	b.len = p.len = 0;
	begin(&b, 1, FCGI_RESPONDER, 0);
	pair_len(&p, 1u << 30, 1);
	put(&p, "REQUEST_URI", 11);
	record(&b, FCGI_PARAMS, 1, p.p, p.len, 0);
	r = exchange(&b, true);
	cr_assert(!r->timeout && r->closed);
	reply_free(r);
	free(p.p);
	free(b.p);
	after(&s, "1 GiB parameter name", true);
}

Test(fcgi, get_values_with_many_names)
{
	struct pool_state s = before();
	struct out b = {0}, p = {0};

	/* FCGI_GET_VALUES is answered; libfcgi writes the answer into a 64-byte
	 * buffer, so many repeated names overflow it: a restart is accepted */
	pair(&p, "FCGI_MAX_CONNS", "");
	record(&b, FCGI_GET_VALUES, 0, p.p, p.len, (int)((8 - p.len % 8) % 8));
	struct reply *r = exchange(&b, true);
	cr_assert(!r->timeout && r->closed);
	cr_assert(!r->garbage);
	reply_free(r);
	after(&s, "FCGI_GET_VALUES", false);

	s = before();
	b.len = p.len = 0;
	for (int i = 0; i < 20; i++)
		pair(&p, "FCGI_MPXS_CONNS", "");
	record(&b, FCGI_GET_VALUES, 0, p.p, p.len, (int)((8 - p.len % 8) % 8));
	r = exchange(&b, true);
	cr_assert(!r->timeout);
	reply_free(r);
	free(p.p);
	free(b.p);
	after(&s, "FCGI_GET_VALUES with 20 names", true);
}
