/*
 * app: opening and closing the worker's process-lifetime resources.
 */
#include "app.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "kv.h"
#include "live.h"
#include "llm.h"
#include "sentry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PIXELCRAFT_VERSION
#define PIXELCRAFT_VERSION "dev"
#endif

/* db_set_peers: "Postgres is back", shared through Redis (pc:up:db:<name>). */
static int64_t app_db_seen(void *arg, const char *name)
{
	struct app *app = arg;
	char key[64], *v = NULL;

	snprintf(key, sizeof(key), "pc:up:db:%s", name);
	if (kv_get(app->kv, key, &v) != 1)
		return 0;
	int64_t at = strtoll(v, NULL, 10);
	free(v);
	return at;
}

static void app_db_announce(void *arg, const char *name)
{
	struct app *app = arg;
	char key[64], at[24];

	snprintf(key, sizeof(key), "pc:up:db:%s", name);
	snprintf(at, sizeof(at), "%lld", (long long)clock_wall_ms());
	kv_set(app->kv, key, at, 60);
}

int app_open(struct app *app, const struct config *cfg, struct models *models)
{
	memset(app, 0, sizeof(*app));
	app->cfg = cfg;
	app->models = models;
	app->version = PIXELCRAFT_VERSION;
	app->started_wall_ms = clock_wall_ms();
	app->started_mono_ms = clock_mono_ms();
	app->db = db_open(cfg, cfg->database_url, NULL, false);
	/* the analytics replica: its own connection with the same rules, opened
	 * on first use (the chat pool never serves analytics); NULL when unset */
	if (cfg->database_read_url != NULL &&
	    (app->db_read = db_open(cfg, cfg->database_read_url, "read", true)) == NULL) {
		app_close(app);
		return -1;
	}
	app->kv = kv_open(cfg);
	app->llm = llm_open(cfg);
	app->live = live_open(cfg);
	app->sentry = sentry_open(cfg, app->version); /* NULL: off (never fatal) */
	if (app->db == NULL || app->kv == NULL || app->llm == NULL || app->live == NULL) {
		app_close(app);
		return -1;
	}
	db_set_peers(app->db, app_db_seen, app_db_announce, app);
	if (app->db_read != NULL)
		db_set_peers(app->db_read, app_db_seen, app_db_announce, app);
	return 0;
}

void app_close(struct app *app)
{
	db_close(app->db);
	db_close(app->db_read);
	kv_close(app->kv);
	llm_close(app->llm);
	live_close(app->live);
	sentry_close(app->sentry);
	memset(app, 0, sizeof(*app));
}
