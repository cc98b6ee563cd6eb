/*
 * app: the worker's process-lifetime context, handed to every handler
 * through the request. It owns the configuration and the connections.
 */
#ifndef PIXELCRAFT_APP_H
#define PIXELCRAFT_APP_H

#include <stdint.h>

struct config;
struct db;
struct kv;
struct ollama;

struct app {
	const struct config *cfg;
	struct db *db;
	struct kv *kv;
	struct ollama *ollama;
	int64_t started_wall_ms;
	int64_t started_mono_ms;
	const char *version;
};

/* Opens the connections for cfg (failures are not fatal). 0 / -1 (out of memory). */
int app_open(struct app *app, const struct config *cfg);

/* Closes everything app_open opened; accepts a zeroed app. */
void app_close(struct app *app);

#endif
