/*
 * livesub: a minimal live-update subscriber (WebSocket or EventSource over
 * plain sockets) for the integration tests and the 10,000-client load tool.
 * Test code only; never linked into the product.
 */
#ifndef PIXELCRAFT_TEST_LIVESUB_H
#define PIXELCRAFT_TEST_LIVESUB_H

#include <stdbool.h>
#include <stddef.h>

enum livesub_kind { LIVESUB_WS, LIVESUB_SSE };

struct livesub;

/*
 * Starts a subscription to http://127.0.0.1:port + target (path and query).
 * With block, waits for the handshake: returns the subscriber, or NULL with
 * the HTTP status of the refusal in *status (0: no answer). Without block,
 * the connection is non-blocking and the handshake completes in
 * livesub_pump(). last_event_id (SSE) may be NULL.
 */
struct livesub *livesub_open(int port, const char *target, enum livesub_kind kind,
			     const char *last_event_id, bool block, int *status);

/* The socket, for poll/epoll. */
int livesub_fd(const struct livesub *s);

/* True once the server accepted the subscription (101 or 200). */
bool livesub_ready(const struct livesub *s);

/*
 * Reads what is available (non-blocking) and calls on_message(arg, data, id)
 * for each complete message (id: the SSE event id, "" for WebSocket).
 * Returns 0, or -1 when the connection is closed or was refused.
 */
int livesub_pump(struct livesub *s, void (*on_message)(void *arg, const char *data, const char *id),
		 void *arg);

/*
 * Blocking: the next message within timeout_ms. Returns 1 (*data malloc'd,
 * id copied), 0 on timeout, -1 when closed.
 */
int livesub_next(struct livesub *s, int timeout_ms, char **data, char *id, size_t idlen);

void livesub_close(struct livesub *s);

#endif
