/*
 * llm: the provider-independent part: the libcurl transport (one reused
 * easy handle, line splitting for streamed replies, failure classification)
 * and dispatch to the provider of a model.
 */
#include "llm_priv.h"
#include "config.h"
#include "models.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LLM_MAX_REPLY (8 << 20)

const char *const llm_fail_names[LLM__MAX] = {"ok",        "connect", "timeout",    "http_error",
					      "malformed", "aborted", "unavailable"};

struct llm {
	const struct config *cfg;
	CURL *curl;
	char *buf; /* reply body, or the unfinished line of a stream */
	size_t len, cap;
	const struct llm_http *req; /* the request in progress */
	int aborted;
};

struct llm *llm_open(const struct config *cfg)
{
	struct llm *llm = calloc(1, sizeof(*llm));

	if (llm != NULL)
		llm->cfg = cfg;
	return llm;
}

void llm_close(struct llm *llm)
{
	if (llm == NULL)
		return;
	if (llm->curl != NULL)
		curl_easy_cleanup(llm->curl);
	free(llm->buf);
	free(llm);
}

const struct config *llm_config(const struct llm *llm)
{
	return llm->cfg;
}

void llm_reply_free(struct llm_reply *r)
{
	free(r->text);
	r->text = NULL;
}

int llm_fail(struct llm_reply *r, enum llm_fail fail, const char *fmt, ...)
{
	va_list ap;

	r->fail = fail;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	return -1;
}

int llm_reply_append(struct llm_reply *r, const char *text, size_t len)
{
	size_t old = r->text ? strlen(r->text) : 0;
	char *t = realloc(r->text, old + len + 1);

	if (t == NULL)
		return -1;
	memcpy(t + old, text, len);
	t[old + len] = '\0';
	r->text = t;
	return 0;
}

static int llm_buffer(struct llm *llm, const char *data, size_t add)
{
	if (llm->len + add + 1 > LLM_MAX_REPLY)
		return -1;
	if (llm->len + add + 1 > llm->cap) {
		size_t cap = llm->cap ? llm->cap : 8192;
		while (cap < llm->len + add + 1)
			cap *= 2;
		char *b = realloc(llm->buf, cap);
		if (b == NULL)
			return -1;
		llm->buf = b;
		llm->cap = cap;
	}
	memcpy(llm->buf + llm->len, data, add);
	llm->len += add;
	llm->buf[llm->len] = '\0';
	return 0;
}

/* libcurl write callback: whole body, or complete lines to on_line. */
static size_t llm_write(char *data, size_t size, size_t n, void *arg)
{
	struct llm *llm = arg;
	size_t add = size * n;

	if (llm_buffer(llm, data, add) < 0)
		return 0;
	if (llm->req->on_line == NULL)
		return add;
	char *start = llm->buf, *nl;
	while ((nl = memchr(start, '\n', llm->len - (size_t)(start - llm->buf))) != NULL) {
		*nl = '\0';
		if (nl > start && llm->req->on_line(llm->req->arg, start, (size_t)(nl - start))) {
			llm->aborted = 1;
			return 0;
		}
		start = nl + 1;
	}
	llm->len -= (size_t)(start - llm->buf);
	memmove(llm->buf, start, llm->len + 1);
	return add;
}

int llm_http(struct llm *llm, const struct llm_http *req, const char **body,
	     struct llm_reply *out)
{
	struct curl_slist *hdrs = NULL;
	char auth[4200];
	long code = 0;

	if (llm->curl == NULL && (llm->curl = curl_easy_init()) == NULL)
		return llm_fail(out, LLM_UNAVAILABLE, "cannot initialise libcurl");
	CURL *c = llm->curl;
	curl_easy_reset(c);
	llm->len = 0;
	llm->req = req;
	llm->aborted = 0;
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
	long connect = llm->cfg->llm_connect_timeout_ms;
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 connect < req->timeout_ms ? connect : (long)req->timeout_ms);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, llm_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, llm);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	if (req->body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (req->bearer != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", req->bearer);
		hdrs = curl_slist_append(hdrs, auth);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hdrs);
	out->http_status = code;
	if (llm->aborted)
		return llm_fail(out, LLM_ABORTED, "stopped by the caller");
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return llm_fail(out, LLM_TIMEOUT, "no complete answer within %d ms",
				req->timeout_ms);
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
		return llm_fail(out, LLM_CONNECT, "%s", curl_easy_strerror(rc));
	if (rc != CURLE_OK && code == 0)
		return llm_fail(out, LLM_CONNECT, "%s", curl_easy_strerror(rc));
	if (code < 200 || code >= 300) {
		/* providers explain errors as {"error": "..."} */
		struct json_object *e = llm->buf ? json_tokener_parse(llm->buf) : NULL, *msg;
		const char *why = e && json_object_object_get_ex(e, "error", &msg)
					  ? json_object_get_string(msg)
					  : "";
		llm_fail(out, LLM_HTTP, "HTTP %ld %s", code, why);
		json_object_put(e);
		return -1;
	}
	if (rc != CURLE_OK)
		return llm_fail(out, LLM_MALFORMED, "%s", curl_easy_strerror(rc));
	/* a stream may end with a last line without newline */
	if (req->on_line != NULL && llm->len > 0 &&
	    req->on_line(req->arg, llm->buf, llm->len) != 0)
		return llm_fail(out, LLM_ABORTED, "stopped by the caller");
	if (body != NULL)
		*body = llm->buf ? llm->buf : "";
	return 0;
}

int llm_chat(struct llm *llm, const struct model *m, const struct llm_message *msgs, int n,
	     int timeout_ms, llm_token_fn on_token, void *arg, struct llm_reply *out)
{
	memset(out, 0, sizeof(*out));
	if (timeout_ms <= 0)
		return llm_fail(out, LLM_TIMEOUT, "no time left for this model");
	switch (m->provider) {
	case PROVIDER_OLLAMA:
		return ollama_chat(llm, llm->cfg, m, msgs, n, timeout_ms, on_token, arg, out);
	case PROVIDER_HUGGINGFACE:
		return hf_chat(llm, llm->cfg, m, msgs, n, timeout_ms, on_token, arg, out);
	case PROVIDER__MAX:
		break;
	}
	return llm_fail(out, LLM_UNAVAILABLE, "unknown provider");
}
