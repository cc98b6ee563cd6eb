/*
 * llm_priv: the HTTP transport the provider files (ollama.c, hf.c) share.
 */
#ifndef PIXELCRAFT_LLM_PRIV_H
#define PIXELCRAFT_LLM_PRIV_H

#include <stdbool.h>

#include "llm.h"

struct llm_http {
	const char *url;
	const char *body;          /* NULL: GET */
	const char *bearer;        /* Authorization: Bearer, or NULL */
	int timeout_ms;
	/* streamed replies: each complete line is passed here; return
	 * non-zero to abort the transfer */
	int (*on_line)(void *arg, char *line, size_t len);
	void *arg;
};

/*
 * Performs the request. Without on_line the whole body is returned in
 * *body (borrowed, valid until the next request). Fills out->fail,
 * out->http_status and out->error on failure. 0 / -1.
 */
int llm_http(struct llm *llm, const struct llm_http *req, const char **body,
	     struct llm_reply *out);

/* The configuration the client was opened with. */
const struct config *llm_config(const struct llm *llm);

/* Appends text to the reply's answer. 0 / -1 (out of memory). */
int llm_reply_append(struct llm_reply *r, const char *text, size_t len);

/* Sets a failure with a formatted reason; returns -1. */
int llm_fail(struct llm_reply *r, enum llm_fail fail, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Provider implementations. */
int ollama_chat(struct llm *llm, const struct config *cfg, const struct model *m,
		const struct llm_message *msgs, int n, int timeout_ms, llm_token_fn on_token,
		void *arg, struct llm_reply *out);
int hf_chat(struct llm *llm, const struct config *cfg, const struct model *m,
	    const struct llm_message *msgs, int n, int timeout_ms, llm_token_fn on_token,
	    void *arg, struct llm_reply *out);

#endif
