/*
 * server: the worker's request loop and the fixed pipeline every request goes
 * through. Handlers only see struct request / struct response; everything
 * FastCGI-specific stays in this file.
 */
#include "server.h"
#include "app.h"
#include "auth.h"
#include "chat.h"
#include "clock.h"
#include "config.h"
#include "cors.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "request.h"
#include "response.h"
#include "router.h"
#include "sentry.h"

#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* spawn-fcgi passes the listening socket as fd 0 (FCGI_LISTENSOCK_FILENO) */
#define SERVER_LISTEN_FD 0

static volatile sig_atomic_t server_stopping;

/*
 * SIGTERM/SIGINT/SIGUSR1: only delivered while the worker waits for a
 * connection in FCGX_Accept_r (blocked during a request). Closing the
 * listening socket (fd 0) makes the pending or next accept() fail at once,
 * so the loop ends without taking a new request; the request in flight, if
 * any, has already been served.
 */
static void server_on_term(int sig)
{
	(void)sig;
	server_stopping = 1;
	FCGX_ShutdownPending();
	close(SERVER_LISTEN_FD);
}

struct server_task {
	void (*fn)(struct app *app, void *arg);
	void *arg;
};

#define SERVER_MAX_TASKS 16
static struct server_task server_tasks[SERVER_MAX_TASKS];
static int server_ntasks;
static struct app *server_app;

int server_defer(void (*fn)(struct app *app, void *arg), void *arg)
{
	if (server_ntasks == SERVER_MAX_TASKS) {
		fn(server_app, arg);
		free(arg);
		return -1;
	}
	server_tasks[server_ntasks++] = (struct server_task){fn, arg};
	return 0;
}

static void server_run_tasks(struct app *app)
{
	for (int i = 0; i < server_ntasks; i++) {
		server_tasks[i].fn(app, server_tasks[i].arg);
		free(server_tasks[i].arg);
	}
	server_ntasks = 0;
}

int server_dispatch(struct request *req, struct response *res)
{
	const struct route *route = NULL;
	char allow[128];
	int st;

	st = cors_preflight(req, res);
	if (st != 0)
		return st;
	cors_apply(req, res);
	st = router_match(req, &route, allow, sizeof(allow));
	if (st == 405 || st == 204) {
		response_header(res, "Allow", "%s", allow);
		if (st == 405)
			return response_error(res, 405, "Method %s not allowed; allowed: %s",
					      req->method_name, allow);
		return 204;
	}
	if (st != 0)
		return response_error(res, 404, "Not Found");
	req->route = route;
	st = auth_request(req, res, route->auth);
	if (st != 0)
		return st;
	st = ratelimit_request(req, res, route);
	if (st != 0) {
		req->rate_limited = st == 429;
		return st;
	}
	return route->handler(req, res);
}

/* request->stream_write: put and flush; -1 once the web server has gone. */
static int server_stream(void *ctx, const char *data, size_t len)
{
	FCGX_Stream *out = ctx;

	if (FCGX_PutStr(data, (int)len, out) != (int)len || FCGX_FFlush(out) != 0)
		return -1;
	return FCGX_GetError(out) == 0 ? 0 : -1;
}

static int server_read(void *src, char *buf, int n)
{
	return FCGX_GetStr(buf, n, (FCGX_Stream *)src);
}

static void server_access_log(const struct request *req, int status)
{
	struct log_line l;

	log_begin(&l, status >= 500 ? LOG_ERROR : LOG_INFO, "request");
	if (!l.on)
		return;
	log_str(&l, "request_id", req->id);
	log_str(&l, "method", req->method_name);
	log_str(&l, "path", req->raw_path);
	log_int(&l, "status", status);
	log_int(&l, "duration_us", clock_mono_us() - req->start_us);
	log_str(&l, "client", req->client_ip);
	if (req->user.known)
		log_str(&l, "user_id", req->user.id);
	if (req->httpoxy)
		log_str(&l, "httpoxy", "HTTP_PROXY parameter received");
	log_end(&l);
}

/* Parses, dispatches and answers one accepted request. */
static void server_handle(struct app *app, FCGX_Request *fr)
{
	struct request req = {0};
	struct response res = {0};
	const char *why = NULL;
	size_t len = 0;
	int st;

	req.start_us = clock_mono_us();
	req.stream_write = server_stream;
	req.stream_ctx = fr->out;
	st = request_parse(&req, app, fr->envp);
	if (st != 0)
		response_error(&res, st, st == 400 ? "Malformed request path" : "Not Found");
	/* the whole body is read before answering, even an error (see README) */
	int bst =
	    request_read_body(&req, (size_t)app->cfg->max_body_bytes, server_read, fr->in, &why);
	if (st == 0 && bst != 0)
		st = response_error(&res, bst, "%s", why);
	if (st == 0)
		st = server_dispatch(&req, &res);
	if (!res.sent) {
		char *out = response_render(&res, &req, st, req.method == HTTP_HEAD, &len);
		if (out == NULL) {
			/* the error shape without allocating (req.id is always valid JSON text) */
			FCGX_FPrintF(fr->out,
				     "Status: 500 Internal Server Error\r\n"
				     "Content-Type: application/json\r\nX-Request-ID: %s\r\n\r\n"
				     "{\"detail\":\"out of memory\",\"request_id\":\"%s\"}",
				     req.id, req.id);
			st = 500;
		} else {
			FCGX_PutStr(out, (int)len, fr->out);
			free(out);
		}
	}
	FCGX_Finish_r(fr);
	server_run_tasks(app);
	metrics_request(req.route, (int)req.method, st, clock_mono_us() - req.start_us,
			req.rate_limited);
	server_access_log(&req, st);
	sentry_report(app->sentry, &req, st, res.detail); /* 5xx; after the log's duration */
	response_free(&res);
	request_free(&req);
}

int server_run(struct app *app)
{
	FCGX_Request fr;
	sigset_t term;
	struct sigaction sa;
	const struct timeval idle_wait = {1, 0}, no_timeout = {0, 0};
	struct sockaddr_storage addr;
	socklen_t addr_len = sizeof(addr);

	server_app = app;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = server_on_term;
	sa.sa_flags = SA_RESTART; /* see server_on_term */
	sigemptyset(&sa.sa_mask);
	/* multiwatch asks for a graceful stop with SIGUSR1 (libfcgi's own
	 * convention); systemd and operators send SIGTERM: all mean drain */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	sigaddset(&term, SIGUSR1);
	sigprocmask(SIG_BLOCK, &term, NULL);

	/*
	 * The listening socket gets a 1-s receive timeout, which also bounds
	 * accept(2): FCGX_Accept_r returns -EAGAIN after a second without a
	 * connection, and the worker flushes its counters when idle. A blocking
	 * accept wakes one waiting worker per connection; polling the shared
	 * socket instead woke every idle worker for each one (/health/live fell
	 * from 0.85 H to 0.65 H). No timer signal: one arriving while
	 * FCGX_Accept_r reads the params interrupts that read, and libfcgi drops
	 * the connection (nginx answered 502 for about one request in 20,000).
	 * A TCP listener passes the timeout on to accepted connections, so it is
	 * cleared on each of them (Unix sockets, ours, do not inherit it).
	 */
	bool tcp = getsockname(SERVER_LISTEN_FD, (struct sockaddr *)&addr, &addr_len) == 0 &&
		   addr.ss_family != AF_UNIX;
	if (setsockopt(SERVER_LISTEN_FD, SOL_SOCKET, SO_RCVTIMEO, &idle_wait, sizeof(idle_wait)) <
		    0 ||
	    metrics_init() < 0 || FCGX_Init() != 0 ||
	    FCGX_InitRequest(&fr, SERVER_LISTEN_FD, 0) != 0) {
		log_msg(LOG_ERROR, "fcgi_init_failed", "cannot initialise libfcgi: %s",
			strerror(errno));
		return 1;
	}
	log_msg(LOG_INFO, "worker_started", "serving on the FastCGI socket");
	while (!server_stopping) {
		sigprocmask(SIG_UNBLOCK, &term, NULL);
		int rc = server_stopping ? -1 : FCGX_Accept_r(&fr);
		sigprocmask(SIG_BLOCK, &term, NULL);
		if ((rc == -EAGAIN || rc == -EWOULDBLOCK || rc == -EINTR) && !server_stopping) {
			metrics_flush(app, false);
			chat_flush_records(app, false);
			continue;
		}
		if (rc < 0)
			break;
		if (tcp)
			setsockopt(fr.ipcFd, SOL_SOCKET, SO_RCVTIMEO, &no_timeout, sizeof(no_timeout));
		server_handle(app, &fr);
		db_idle(app->db);
		if (app->db_read != NULL)
			db_idle(app->db_read);
		metrics_flush(app, false);
		chat_flush_records(app, false);
	}
	FCGX_Free(&fr, 1);
	metrics_flush(app, true); /* what this worker counted is not lost */
	chat_flush_records(app, true);
	metrics_free();
	log_msg(LOG_INFO, "worker_stopped", "%s",
		server_stopping ? "stop signal: drained and exiting" : "accept failed, exiting");
	return 0;
}
