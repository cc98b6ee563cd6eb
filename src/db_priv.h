/*
 * db_priv: what the db module's files (db.c, db_*.c) share and nobody else
 * sees: the connection struct, statements and the query runner.
 */
#ifndef PIXELCRAFT_DB_PRIV_H
#define PIXELCRAFT_DB_PRIV_H

#include <libpq-fe.h>
#include <stdint.h>

struct json_object;

#include "backoff.h"
#include "db.h"

struct config;

/*
 * A named SQL statement, prepared lazily on each new connection when
 * db_exec() runs it (db_exec_replan() runs it unprepared). Statements are
 * static objects in the db_*.c file that uses them; `gen` records the
 * connection generation on which the statement was prepared. Generations are
 * unique in the process, so a statement is never taken for prepared on
 * another handle's connection; a statement is always run on one handle
 * (analytics on the read handle, everything else on the primary).
 */
struct db_stmt {
	const char *name;
	const char *sql;
	uint64_t gen;
};

struct db {
	const struct config *cfg;
	const char *url;  /* connection URI (borrowed from cfg) */
	const char *name; /* "db" field of log lines; NULL: the primary */
	PGconn *conn;
	uint64_t gen;	      /* a new process-wide number on every new connection */
	int64_t connected_ms; /* monotonic time of the current connection */
	bool suspect;	      /* an error happened: check before reuse */
	struct backoff backoff;
	enum db_fail fail;
	char err[256];
	int64_t reconnects;
	int64_t ping_us; /* when the pending ping was sent */
	/* news from the other workers (db_set_peers) */
	int64_t (*peer_seen)(void *arg, const char *name);
	void (*peer_announce)(void *arg, const char *name);
	void *peer_arg;
	int64_t failed_wall_ms;	 /* the last failed connection attempt */
	int64_t peer_checked_ms; /* monotonic time of the last peer_seen call */
};

/*
 * Runs a prepared statement with text parameters (NULL = SQL NULL) within the
 * query deadline. Returns the result (caller PQclear()s it) or NULL with
 * db->fail and db->err set; a connection-level failure drops the connection.
 */
PGresult *db_exec(struct db *db, struct db_stmt *st, int nparams, const char *const *params);

/*
 * db_exec() for a run whose best plan depends on its parameters' values:
 * st's SQL goes as the unnamed statement, planned with the values, where a
 * prepared statement's generic plan (Postgres's choice after five runs) can
 * read the whole table. Costs the planning; st may also be run prepared by
 * db_exec() on the same connection.
 */
PGresult *db_exec_replan(struct db *db, struct db_stmt *st, int nparams, const char *const *params);

/*
 * Runs a statement whose first row's first column is JSON text and parses
 * it into *out (caller puts). 1 parsed, 0 no row or SQL NULL, -1 error.
 */
int db_exec_json(struct db *db, struct db_stmt *st, int nparams, const char *const *params,
		 struct json_object **out);

/* Runs a plain SQL string (simple protocol, may hold several statements). */
PGresult *db_exec_sql(struct db *db, const char *sql);

#endif
