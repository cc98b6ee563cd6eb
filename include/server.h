/*
 * server: the FastCGI accept loop of one worker.
 *
 * One FCGX_Request, accepted with FCGX_Accept_r on the socket spawn-fcgi
 * passed as fd 0. For each request: parse, read the body, answer CORS
 * preflights, route, authenticate, rate-limit, run the handler, render, send,
 * FCGX_Finish_r, then run deferred work and write the access log line.
 * SIGTERM, SIGINT or SIGUSR1 (multiwatch's graceful stop) lets the request
 * in flight finish, then the loop ends.
 */
#ifndef PIXELCRAFT_SERVER_H
#define PIXELCRAFT_SERVER_H

struct app;
struct request;
struct response;

/* Serves requests until a stop signal. Returns the process exit status. */
int server_run(struct app *app);

/*
 * Handles one parsed request end to end (everything between accept and the
 * write), filling res; returns the status. Exposed for the unit tests.
 */
int server_dispatch(struct request *req, struct response *res);

/*
 * Queues fn(arg) to run after the response has been sent (FCGX_Finish_r):
 * for writes the answer does not depend on. arg is freed with free() after
 * fn runs. Returns 0, or -1 (then fn is run at once).
 */
int server_defer(void (*fn)(struct app *app, void *arg), void *arg);

#endif
