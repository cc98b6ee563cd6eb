/*
 * ollama: the Ollama wire protocol over libcurl.
 */
#include "ollama.h"
#include "config.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OLLAMA_MAX_REPLY (4 << 20)

struct ollama {
	const struct config *cfg;
	CURL *curl;
	char *buf;
	size_t len, cap;
	char err[256];
};

static size_t ollama_collect(char *data, size_t size, size_t n, void *arg)
{
	struct ollama *o = arg;
	size_t add = size * n;

	if (o->len + add + 1 > OLLAMA_MAX_REPLY)
		return 0; /* aborts the transfer */
	if (o->len + add + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap < o->len + add + 1)
			cap *= 2;
		char *b = realloc(o->buf, cap);
		if (b == NULL)
			return 0;
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, data, add);
	o->len += add;
	o->buf[o->len] = '\0';
	return add;
}

struct ollama *ollama_open(const struct config *cfg)
{
	struct ollama *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->cfg = cfg;
	return o;
}

void ollama_close(struct ollama *o)
{
	if (o == NULL)
		return;
	curl_easy_cleanup(o->curl);
	free(o->buf);
	free(o);
}

const char *ollama_last_error(const struct ollama *o)
{
	return o->err;
}

/*
 * Common options of every request. The easy handle (and with it libcurl and
 * OpenSSL) is created on first use: most workers of the main pool never talk
 * to the LLM and so never pay for it. 0 / -1.
 */
static int ollama_prepare(struct ollama *o, const char *path, int timeout_ms)
{
	char url[1024];

	if (o->curl == NULL && (o->curl = curl_easy_init()) == NULL) {
		snprintf(o->err, sizeof(o->err), "cannot initialise libcurl");
		return -1;
	}

	snprintf(url, sizeof(url), "%s%s", o->cfg->ollama_host, path);
	curl_easy_reset(o->curl);
	curl_easy_setopt(o->curl, CURLOPT_URL, url);
	curl_easy_setopt(o->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(o->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(o->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(o->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(o->curl, CURLOPT_WRITEFUNCTION, ollama_collect);
	curl_easy_setopt(o->curl, CURLOPT_WRITEDATA, o);
	o->len = 0;
	return 0;
}

/* Runs the prepared request; 0 and the parsed JSON reply, or -1. */
static int ollama_perform(struct ollama *o, struct json_object **reply)
{
	long code = 0;
	CURLcode rc = curl_easy_perform(o->curl);

	if (rc != CURLE_OK) {
		snprintf(o->err, sizeof(o->err), "%s", curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		snprintf(o->err, sizeof(o->err), "HTTP %ld", code);
		return -1;
	}
	*reply = o->buf ? json_tokener_parse(o->buf) : NULL;
	if (*reply == NULL) {
		snprintf(o->err, sizeof(o->err), "malformed JSON reply");
		return -1;
	}
	return 0;
}

int ollama_tags(struct ollama *o, int timeout_ms, struct json_object **tags)
{
	struct json_object *reply = NULL, *models;
	int rc = -1;

	if (ollama_prepare(o, "/api/tags", timeout_ms) < 0 || ollama_perform(o, &reply) < 0)
		goto out;
	if (!json_object_object_get_ex(reply, "models", &models) ||
	    !json_object_is_type(models, json_type_array)) {
		snprintf(o->err, sizeof(o->err), "reply has no models array");
		goto out;
	}
	*tags = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(models); i++) {
		struct json_object *name;
		if (json_object_object_get_ex(json_object_array_get_idx(models, i), "name",
					      &name) &&
		    json_object_is_type(name, json_type_string))
			json_object_array_add(*tags, json_object_get(name));
	}
	rc = 0;
out:
	json_object_put(reply);
	return rc;
}
