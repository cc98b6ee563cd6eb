/*
 * cors: cross-origin rules from CORS_ORIGINS.
 *
 * Allowed origins get their exact origin echoed with credentials allowed;
 * "*" allows any origin but never with credentials; other origins get no
 * CORS headers (and a 403 on preflight).
 */
#ifndef PIXELCRAFT_CORS_H
#define PIXELCRAFT_CORS_H

struct request;
struct response;

/*
 * Answers a preflight (OPTIONS with Origin and Access-Control-Request-Method).
 * Returns 0 when req is not a preflight, else the status to send (204, 403,
 * 404) with the headers set in res.
 */
int cors_preflight(struct request *req, struct response *res);

/* Adds the CORS headers of an actual (non-preflight) request. */
void cors_apply(const struct request *req, struct response *res);

#endif
