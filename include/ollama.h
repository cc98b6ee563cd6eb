/*
 * ollama: HTTP client for an Ollama server (libcurl, one easy handle per
 * worker so connections are reused).
 */
#ifndef PIXELCRAFT_OLLAMA_H
#define PIXELCRAFT_OLLAMA_H

struct config;
struct json_object;
struct ollama;

/* Allocates the client for cfg->ollama_host; NULL when out of memory. */
struct ollama *ollama_open(const struct config *cfg);

/* Frees the client; accepts NULL. */
void ollama_close(struct ollama *o);

/*
 * GET /api/tags within timeout_ms. Returns 0 and a JSON array of the model
 * tags the server lists in *tags (caller json_object_put()s it), or -1 with
 * the reason in ollama_last_error().
 */
int ollama_tags(struct ollama *o, int timeout_ms, struct json_object **tags);

/* Text of the last failure (borrowed). */
const char *ollama_last_error(const struct ollama *o);

#endif
