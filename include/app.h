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
struct live;
struct llm;
struct models;
struct sentry;

struct app {
	const struct config *cfg;
	struct db *db;
	/* the analytics reports' connection (DATABASE_READ_URL, a streaming
	 * replica); NULL when unset: analytics use db */
	struct db *db_read;
	struct kv *kv;
	struct llm *llm;
	struct live *live;
	/* error reporting; NULL when SENTRY_DSN is empty */
	struct sentry *sentry;
	struct models *models; /* the model registry (borrowed from main) */
	const char *system_prompt; /* SYSTEM_PROMPT_FILE's text (borrowed from main) */
	int64_t started_wall_ms;
	int64_t started_mono_ms;
	const char *version;
};

/*
 * Opens the connections for cfg (failures are not fatal). models may be
 * NULL for commands that do not need the registry. 0 / -1 (out of memory).
 */
int app_open(struct app *app, const struct config *cfg, struct models *models);

/* Closes everything app_open opened; accepts a zeroed app. */
void app_close(struct app *app);

#endif
