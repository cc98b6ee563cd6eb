/*
 * api: every HTTP handler, grouped by the file that implements it. A
 * handler fills the response and returns the HTTP status; errors go through
 * response_error() and are rendered by the server.
 */
#ifndef PIXELCRAFT_API_H
#define PIXELCRAFT_API_H

struct request;
struct response;

/* api_health.c */
int api_health_live(struct request *req, struct response *res);
int api_health_ready(struct request *req, struct response *res);
int api_health(struct request *req, struct response *res);

/* api_me.c */
int api_me(struct request *req, struct response *res);

#endif
