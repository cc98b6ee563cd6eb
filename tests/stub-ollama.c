/*
 * stub-ollama: a stand-in for an Ollama server, for tests and benchmarks (no
 * model can run on the test machines). It speaks Ollama's wire format for
 * GET /api/tags and POST /api/chat (non-streaming JSON and streaming NDJSON,
 * with prompt_eval_count/eval_count), and can be told per model to fail,
 * hang, answer slowly or answer garbage, so the real client code is tested.
 *
 *   stub-ollama PORT [tag,tag,...]
 *
 * Control endpoints (tests only):
 *   POST /_stub/model  {"model":TAG, "mode":"ok|fail|hang|bad|slow",
 *                       "delay_ms":N, "token_delay_ms":N, "words":N}
 *   POST /_stub/tags   {"fail":bool, "hide":[TAG,...]}
 *   POST /_stub/reset  back to all-ok, counters cleared
 *   GET  /_stub/stats  {"models":{TAG:{"requests","streams_aborted","last_request"}}}
 *
 * It also stands in for Sentry's envelope endpoint (SENTRY_DSN
 * http://KEY@127.0.0.1:PORT/ID), keeping the last STUB_MAX_ENVELOPES:
 *   POST /api/<digits>/envelope/   stored (X-Sentry-Auth, Content-Type, body); 200
 *   GET  /_stub/envelopes          {"envelopes":[{"url","auth","content_type","body"}]},
 *                                  oldest first
 *   POST /_stub/sentry  {"mode":"ok|fail|hang|limit"}: answer 200, 500, nothing for
 *                       up to 10 s (a reset ends it), or 429 with Retry-After: 1
 *   POST /_stub/reset   also clears the envelopes and sets the mode back to ok
 *
 * The reply to a chat is "Echo: <last user message>", optionally padded to
 * `words` words, so tests can tell what the model was sent.
 */
#include <arpa/inet.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STUB_MAX_MODELS 32
#define STUB_MAX_BODY (1 << 20)

enum stub_mode { STUB_OK, STUB_FAIL, STUB_HANG, STUB_BAD, STUB_SLOW };

struct stub_model {
	char tag[128];
	enum stub_mode mode;
	int delay_ms, token_delay_ms, words;
	bool hidden;
	long requests, aborted;
	char *last_request;
};

static pthread_mutex_t stub_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stub_model stub_models[STUB_MAX_MODELS];
static int stub_nmodels;
static bool stub_tags_fail;
static volatile int stub_generation; /* bumped by reset: releases hangs */

/* Sentry envelopes received, a ring of the last ones. */
#define STUB_MAX_ENVELOPES 64
struct stub_envelope {
	char *url, *auth, *content_type, *body;
};
enum stub_sentry_mode { SENTRY_OK, SENTRY_FAIL, SENTRY_HANG, SENTRY_LIMIT };
static struct stub_envelope stub_envelopes[STUB_MAX_ENVELOPES];
static long stub_nenvelopes; /* received since the last reset */
static enum stub_sentry_mode stub_sentry_mode;

static struct stub_model *stub_find(const char *tag, bool create)
{
	for (int i = 0; i < stub_nmodels; i++)
		if (strcmp(stub_models[i].tag, tag) == 0)
			return &stub_models[i];
	if (!create || stub_nmodels == STUB_MAX_MODELS)
		return NULL;
	struct stub_model *m = &stub_models[stub_nmodels++];
	memset(m, 0, sizeof(*m));
	snprintf(m->tag, sizeof(m->tag), "%s", tag);
	return m;
}

static void stub_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static enum MHD_Result stub_send(struct MHD_Connection *c, unsigned code, const char *type,
				 const char *body)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", type);
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result stub_json(struct MHD_Connection *c, unsigned code, struct json_object *o)
{
	enum MHD_Result ret = stub_send(c, code, "application/json",
					json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return ret;
}

static void stub_now(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static enum MHD_Result stub_tags(struct MHD_Connection *c)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();

	pthread_mutex_lock(&stub_lock);
	bool fail = stub_tags_fail;
	for (int i = 0; i < stub_nmodels; i++) {
		if (stub_models[i].hidden)
			continue;
		struct json_object *m = json_object_new_object();
		json_object_object_add(m, "name", json_object_new_string(stub_models[i].tag));
		json_object_object_add(m, "model", json_object_new_string(stub_models[i].tag));
		json_object_object_add(m, "size", json_object_new_int64(637700138));
		json_object_array_add(arr, m);
	}
	pthread_mutex_unlock(&stub_lock);
	json_object_object_add(o, "models", arr);
	if (fail) {
		json_object_put(o);
		return stub_send(c, 500, "application/json", "{\"error\":\"tags failing\"}");
	}
	return stub_json(c, 200, o);
}

/* A streaming reply being produced. */
struct stub_stream {
	char model[128];
	char **words;
	int nwords, next, token_delay_ms, prompt_tokens;
	bool done;
};

static ssize_t stub_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stub_stream *s = cls;
	char ts[32], line[1024];
	(void)pos;

	if (s->done)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (s->next > 0 && s->token_delay_ms > 0)
		stub_sleep_ms(s->token_delay_ms);
	stub_now(ts, sizeof(ts));
	struct json_object *o = json_object_new_object(), *msg = json_object_new_object();
	json_object_object_add(o, "model", json_object_new_string(s->model));
	json_object_object_add(o, "created_at", json_object_new_string(ts));
	json_object_object_add(msg, "role", json_object_new_string("assistant"));
	if (s->next < s->nwords) {
		char tok[256];
		snprintf(tok, sizeof(tok), "%s%s", s->next ? " " : "", s->words[s->next]);
		json_object_object_add(msg, "content", json_object_new_string(tok));
		json_object_object_add(o, "message", msg);
		json_object_object_add(o, "done", json_object_new_boolean(0));
		s->next++;
	} else {
		json_object_object_add(msg, "content", json_object_new_string(""));
		json_object_object_add(o, "message", msg);
		json_object_object_add(o, "done", json_object_new_boolean(1));
		json_object_object_add(o, "done_reason", json_object_new_string("stop"));
		json_object_object_add(o, "prompt_eval_count", json_object_new_int(s->prompt_tokens));
		json_object_object_add(o, "eval_count", json_object_new_int(s->nwords));
		s->done = true;
	}
	int n = snprintf(line, sizeof(line), "%s\n",
			 json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	if (n < 0 || (size_t)n > max)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	memcpy(buf, line, (size_t)n);
	return n;
}

static void stub_stream_free(void *cls)
{
	struct stub_stream *s = cls;

	if (!s->done) {
		pthread_mutex_lock(&stub_lock);
		struct stub_model *m = stub_find(s->model, false);
		if (m != NULL)
			m->aborted++;
		pthread_mutex_unlock(&stub_lock);
	}
	for (int i = 0; i < s->nwords; i++)
		free(s->words[i]);
	free(s->words);
	free(s);
}

/* Splits the reply text into words. */
static char **stub_words(const char *text, int pad_to, int *n)
{
	char *copy = strdup(text), *save = NULL;
	char **w = NULL;
	int count = 0;

	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		w = realloc(w, (size_t)(count + 1) * sizeof(*w));
		w[count++] = strdup(t);
	}
	while (count < pad_to) {
		w = realloc(w, (size_t)(count + 1) * sizeof(*w));
		w[count++] = strdup("lorem");
	}
	free(copy);
	*n = count;
	return w;
}

static enum MHD_Result stub_chat(struct MHD_Connection *c, const char *body)
{
	struct json_object *req = json_tokener_parse(body), *v, *msgs;
	char model[128] = "", reply[4096], ts[32];
	bool stream = true; /* Ollama's default */
	int prompt_chars = 0;

	if (req == NULL)
		return stub_send(c, 400, "application/json", "{\"error\":\"invalid JSON\"}");
	if (json_object_object_get_ex(req, "model", &v))
		snprintf(model, sizeof(model), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(req, "stream", &v))
		stream = json_object_get_boolean(v);
	const char *last_user = "";
	if (json_object_object_get_ex(req, "messages", &msgs) &&
	    json_object_is_type(msgs, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(msgs); i++) {
			struct json_object *m = json_object_array_get_idx(msgs, i), *role, *content;
			if (json_object_object_get_ex(m, "content", &content))
				prompt_chars += json_object_get_string_len(content);
			if (json_object_object_get_ex(m, "role", &role) &&
			    strcmp(json_object_get_string(role), "user") == 0 && content != NULL)
				last_user = json_object_get_string(content);
		}
	}
	snprintf(reply, sizeof(reply), "Echo: %.2000s", last_user);

	pthread_mutex_lock(&stub_lock);
	struct stub_model *m = stub_find(model, false);
	struct stub_model cfg = {0};
	if (m != NULL) {
		m->requests++;
		free(m->last_request);
		m->last_request = strdup(body);
		cfg = *m;
	}
	pthread_mutex_unlock(&stub_lock);
	if (m == NULL || cfg.hidden) {
		json_object_put(req);
		char err[256];
		snprintf(err, sizeof(err), "{\"error\":\"model \\\"%s\\\" not found, try pulling it first\"}",
			 model);
		return stub_send(c, 404, "application/json", err);
	}
	int gen = stub_generation;
	if (cfg.mode == STUB_HANG) {
		for (int i = 0; i < 1200 && gen == stub_generation; i++)
			stub_sleep_ms(100);
	}
	/* a reset ends delays too, so one test's slow calls do not hold the next */
	for (int left = cfg.delay_ms; left > 0 && gen == stub_generation; left -= 50)
		stub_sleep_ms(left < 50 ? left : 50);
	if (cfg.mode == STUB_FAIL) {
		json_object_put(req);
		return stub_send(c, 500, "application/json", "{\"error\":\"model runner crashed\"}");
	}
	if (cfg.mode == STUB_BAD) {
		json_object_put(req);
		return stub_send(c, 200, "application/json", "{\"model\": \"garbage");
	}
	int nwords = 0;
	char **words = stub_words(reply, cfg.words, &nwords);
	int prompt_tokens = prompt_chars / 4 + 1;
	json_object_put(req);
	if (stream) {
		struct stub_stream *s = calloc(1, sizeof(*s));
		snprintf(s->model, sizeof(s->model), "%s", model);
		s->words = words;
		s->nwords = nwords;
		s->token_delay_ms = cfg.token_delay_ms;
		s->prompt_tokens = prompt_tokens;
		struct MHD_Response *r = MHD_create_response_from_callback(
			MHD_SIZE_UNKNOWN, 1024, stub_stream_read, s, stub_stream_free);
		MHD_add_response_header(r, "Content-Type", "application/x-ndjson");
		enum MHD_Result ret = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	/* non-streaming: the whole text at once */
	size_t len = 0;
	char *text = calloc(1, strlen(reply) + 8 * (size_t)nwords + 16);
	for (int i = 0; i < nwords; i++) {
		len += (size_t)sprintf(text + len, "%s%s", i ? " " : "", words[i]);
		free(words[i]);
	}
	free(words);
	stub_now(ts, sizeof(ts));
	struct json_object *o = json_object_new_object(), *msg = json_object_new_object();
	json_object_object_add(o, "model", json_object_new_string(model));
	json_object_object_add(o, "created_at", json_object_new_string(ts));
	json_object_object_add(msg, "role", json_object_new_string("assistant"));
	json_object_object_add(msg, "content", json_object_new_string(text));
	json_object_object_add(o, "message", msg);
	json_object_object_add(o, "done", json_object_new_boolean(1));
	json_object_object_add(o, "done_reason", json_object_new_string("stop"));
	json_object_object_add(o, "total_duration", json_object_new_int64(1000000));
	json_object_object_add(o, "prompt_eval_count", json_object_new_int(prompt_tokens));
	json_object_object_add(o, "eval_count", json_object_new_int(nwords));
	free(text);
	return stub_json(c, 200, o);
}

static void stub_envelopes_clear(void)
{
	for (int i = 0; i < STUB_MAX_ENVELOPES; i++) {
		struct stub_envelope *e = &stub_envelopes[i];
		free(e->url);
		free(e->auth);
		free(e->content_type);
		free(e->body);
		memset(e, 0, sizeof(*e));
	}
	stub_nenvelopes = 0;
}

/* POST /api/<digits>/envelope/ */
static bool stub_is_envelope_url(const char *url)
{
	const char *p = url + 5;

	if (strncmp(url, "/api/", 5) != 0 || *p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	return strcmp(p, "/envelope/") == 0;
}

static enum MHD_Result stub_envelope(struct MHD_Connection *c, const char *url, const char *body)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Sentry-Auth");
	const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");

	pthread_mutex_lock(&stub_lock);
	struct stub_envelope *e = &stub_envelopes[stub_nenvelopes % STUB_MAX_ENVELOPES];
	free(e->url);
	free(e->auth);
	free(e->content_type);
	free(e->body);
	e->url = strdup(url);
	e->auth = strdup(auth ? auth : "");
	e->content_type = strdup(type ? type : "");
	e->body = strdup(body);
	stub_nenvelopes++;
	enum stub_sentry_mode mode = stub_sentry_mode;
	int gen = stub_generation;
	pthread_mutex_unlock(&stub_lock);
	switch (mode) {
	case SENTRY_FAIL:
		return stub_send(c, 500, "application/json", "{\"detail\":\"internal error\"}");
	case SENTRY_HANG:
		for (int i = 0; i < 200 && gen == stub_generation; i++)
			stub_sleep_ms(50);
		return stub_send(c, 200, "application/json", "{}");
	case SENTRY_LIMIT: {
		struct MHD_Response *r =
		    MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(r, "Content-Type", "application/json");
		MHD_add_response_header(r, "Retry-After", "1");
		enum MHD_Result ret = MHD_queue_response(c, 429, r);
		MHD_destroy_response(r);
		return ret;
	}
	case SENTRY_OK:
		break;
	}
	return stub_send(c, 200, "application/json", "{}");
}

static struct json_object *stub_envelopes_json(void)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();

	pthread_mutex_lock(&stub_lock);
	long first =
	    stub_nenvelopes > STUB_MAX_ENVELOPES ? stub_nenvelopes - STUB_MAX_ENVELOPES : 0;
	for (long i = first; i < stub_nenvelopes; i++) {
		struct stub_envelope *e = &stub_envelopes[i % STUB_MAX_ENVELOPES];
		struct json_object *j = json_object_new_object();
		json_object_object_add(j, "url", json_object_new_string(e->url));
		json_object_object_add(j, "auth", json_object_new_string(e->auth));
		json_object_object_add(j, "content_type", json_object_new_string(e->content_type));
		json_object_object_add(j, "body", json_object_new_string(e->body));
		json_object_array_add(arr, j);
	}
	pthread_mutex_unlock(&stub_lock);
	json_object_object_add(o, "envelopes", arr);
	return o;
}

static enum MHD_Result stub_control(struct MHD_Connection *c, const char *url, const char *body)
{
	struct json_object *req = body && *body ? json_tokener_parse(body) : NULL, *v;

	if (strcmp(url, "/_stub/stats") == 0) {
		struct json_object *o = json_object_new_object(), *models = json_object_new_object();
		pthread_mutex_lock(&stub_lock);
		for (int i = 0; i < stub_nmodels; i++) {
			struct json_object *m = json_object_new_object();
			json_object_object_add(m, "requests",
					       json_object_new_int64(stub_models[i].requests));
			json_object_object_add(m, "streams_aborted",
					       json_object_new_int64(stub_models[i].aborted));
			json_object_object_add(
				m, "last_request",
				stub_models[i].last_request
					? json_tokener_parse(stub_models[i].last_request)
					: NULL);
			json_object_object_add(models, stub_models[i].tag, m);
		}
		pthread_mutex_unlock(&stub_lock);
		json_object_object_add(o, "models", models);
		json_object_put(req);
		return stub_json(c, 200, o);
	}
	if (strcmp(url, "/_stub/envelopes") == 0) {
		json_object_put(req);
		return stub_json(c, 200, stub_envelopes_json());
	}
	pthread_mutex_lock(&stub_lock);
	if (strcmp(url, "/_stub/reset") == 0) {
		for (int i = 0; i < stub_nmodels; i++) {
			struct stub_model *m = &stub_models[i];
			free(m->last_request);
			char tag[128];
			memcpy(tag, m->tag, sizeof(tag));
			memset(m, 0, sizeof(*m));
			memcpy(m->tag, tag, sizeof(tag));
		}
		stub_tags_fail = false;
		stub_envelopes_clear();
		stub_sentry_mode = SENTRY_OK;
		stub_generation++;
	} else if (strcmp(url, "/_stub/sentry") == 0 && req != NULL &&
		   json_object_object_get_ex(req, "mode", &v)) {
		static const char *const modes[] = {"ok", "fail", "hang", "limit"};
		for (int i = 0; i < 4; i++)
			if (strcmp(json_object_get_string(v), modes[i]) == 0)
				stub_sentry_mode = (enum stub_sentry_mode)i;
		stub_generation++;
	} else if (strcmp(url, "/_stub/tags") == 0 && req != NULL) {
		if (json_object_object_get_ex(req, "fail", &v))
			stub_tags_fail = json_object_get_boolean(v);
		if (json_object_object_get_ex(req, "hide", &v)) {
			for (int i = 0; i < stub_nmodels; i++)
				stub_models[i].hidden = false;
			for (size_t i = 0; i < json_object_array_length(v); i++) {
				struct stub_model *m = stub_find(
					json_object_get_string(json_object_array_get_idx(v, i)), false);
				if (m != NULL)
					m->hidden = true;
			}
		}
	} else if (strcmp(url, "/_stub/model") == 0 && req != NULL &&
		   json_object_object_get_ex(req, "model", &v)) {
		struct stub_model *m = stub_find(json_object_get_string(v), true);
		if (m != NULL) {
			static const char *const modes[] = {"ok", "fail", "hang", "bad", "slow"};
			if (json_object_object_get_ex(req, "mode", &v))
				for (int i = 0; i < 5; i++)
					if (strcmp(json_object_get_string(v), modes[i]) == 0)
						m->mode = (enum stub_mode)i;
			if (json_object_object_get_ex(req, "delay_ms", &v))
				m->delay_ms = json_object_get_int(v);
			if (json_object_object_get_ex(req, "token_delay_ms", &v))
				m->token_delay_ms = json_object_get_int(v);
			if (json_object_object_get_ex(req, "words", &v))
				m->words = json_object_get_int(v);
			if (m->mode != STUB_HANG)
				stub_generation++;
		}
	} else {
		pthread_mutex_unlock(&stub_lock);
		json_object_put(req);
		return stub_send(c, 404, "application/json", "{\"error\":\"unknown control\"}");
	}
	pthread_mutex_unlock(&stub_lock);
	json_object_put(req);
	return stub_send(c, 200, "application/json", "{\"ok\":true}");
}

struct stub_upload {
	char *buf;
	size_t len;
};

static enum MHD_Result stub_handler(void *cls, struct MHD_Connection *c, const char *url,
				    const char *method, const char *version, const char *data,
				    size_t *data_size, void **con_cls)
{
	struct stub_upload *up = *con_cls;
	(void)cls;
	(void)version;

	if (up == NULL) {
		up = calloc(1, sizeof(*up));
		*con_cls = up;
		return MHD_YES;
	}
	if (*data_size > 0) {
		if (up->len + *data_size < STUB_MAX_BODY) {
			up->buf = realloc(up->buf, up->len + *data_size + 1);
			memcpy(up->buf + up->len, data, *data_size);
			up->len += *data_size;
			up->buf[up->len] = '\0';
		}
		*data_size = 0;
		return MHD_YES;
	}
	const char *body = up->buf ? up->buf : "";
	if (strcmp(method, "GET") == 0 && strcmp(url, "/api/tags") == 0)
		return stub_tags(c);
	if (strcmp(method, "POST") == 0 && strcmp(url, "/api/chat") == 0)
		return stub_chat(c, body);
	if (strcmp(method, "POST") == 0 && stub_is_envelope_url(url))
		return stub_envelope(c, url, body);
	if (strncmp(url, "/_stub/", 7) == 0)
		return stub_control(c, url, body);
	if (strcmp(url, "/") == 0)
		return stub_send(c, 200, "text/plain", "Ollama is running");
	return stub_send(c, 404, "text/plain", "404 page not found");
}

static void stub_done(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct stub_upload *up = *con_cls;
	(void)cls;
	(void)c;
	(void)toe;
	if (up != NULL) {
		free(up->buf);
		free(up);
		*con_cls = NULL;
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: stub-ollama PORT [tag,tag,...]\n");
		return 2;
	}
	const char *tags = argc > 2 ? argv[2] : "tinyllama:1.1b,mistral:7b,glm4:9b";
	char *copy = strdup(tags), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		stub_find(t, true);
	free(copy);
	signal(SIGPIPE, SIG_IGN);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			MHD_USE_ERROR_LOG,
		(uint16_t)atoi(argv[1]), NULL, NULL, stub_handler, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, stub_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)600, MHD_OPTION_CONNECTION_LIMIT, (unsigned)2000,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_SOCK_ADDR, &sa,
		MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "stub-ollama: cannot listen on port %s\n", argv[1]);
		return 1;
	}
	fprintf(stderr, "stub-ollama: listening on %s with %s\n", argv[1], tags);
	for (;;)
		pause();
}
