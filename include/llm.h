/*
 * llm: talking to LLM providers (Ollama, Hugging Face) behind one interface.
 *
 * One libcurl easy handle per worker, created on first use and reused so
 * connections are kept alive. Every call has a connect timeout
 * (LLM_CONNECT_TIMEOUT_MS) and an overall deadline. Failures are told apart:
 * could not connect, deadline passed, HTTP error status, malformed reply,
 * aborted by the caller (streaming client gone), provider not configured.
 */
#ifndef PIXELCRAFT_LLM_H
#define PIXELCRAFT_LLM_H

#include <stddef.h>

struct config;
struct json_object;
struct llm;
struct model;

enum llm_fail {
	LLM_OK,
	LLM_CONNECT,     /* no connection to the provider */
	LLM_TIMEOUT,     /* the deadline passed */
	LLM_HTTP,        /* the provider answered an error status */
	LLM_MALFORMED,   /* the reply was not what the protocol says */
	LLM_ABORTED,     /* the token callback asked to stop */
	LLM_UNAVAILABLE, /* the provider is not configured */
	LLM__MAX
};

extern const char *const llm_fail_names[LLM__MAX];

/* One chat message. */
struct llm_message {
	const char *role; /* "system", "user", "assistant" */
	const char *content;
};

/* The outcome of one call; free with llm_reply_free. */
struct llm_reply {
	enum llm_fail fail;
	char *text;            /* the answer (partial when aborted) */
	int prompt_tokens;     /* as counted by the provider */
	int completion_tokens;
	long http_status;
	char error[256];
};

/*
 * Called with each piece of a streamed answer; return 0 to go on, non-zero
 * to stop the generation (the reply then fails with LLM_ABORTED and keeps the
 * text so far).
 */
typedef int (*llm_token_fn)(void *arg, const char *token, size_t len);

/* Allocates the client; NULL when out of memory. */
struct llm *llm_open(const struct config *cfg);

/* Frees the client; accepts NULL. */
void llm_close(struct llm *llm);

/*
 * Sends msgs to model m with the model's options, within timeout_ms. With
 * on_token the answer is streamed (on_token sees each piece); without, it
 * arrives whole. Returns 0 when out->fail is LLM_OK, else -1.
 */
int llm_chat(struct llm *llm, const struct model *m, const struct llm_message *msgs, int n,
	     int timeout_ms, llm_token_fn on_token, void *arg, struct llm_reply *out);

/*
 * The model tags an Ollama host lists (GET /api/tags) as a JSON array of
 * strings in *tags (caller puts). 0, or -1 with the reason in err.
 */
int llm_ollama_tags(struct llm *llm, int timeout_ms, struct json_object **tags, char *err,
		    size_t errlen);

/* Frees the text of a reply; the struct may be reused. */
void llm_reply_free(struct llm_reply *r);

#endif
