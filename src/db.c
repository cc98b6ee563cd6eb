/*
 * db: connection management and the query runner for PostgreSQL.
 *
 * All I/O uses libpq's asynchronous API on a non-blocking socket and poll(2)
 * with a deadline, so neither a dead server nor a frozen backend can hold a
 * worker past DB_CONNECT_TIMEOUT_MS / DB_QUERY_TIMEOUT_MS.
 */
#include "db_priv.h"
#include "clock.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void db_set_fail(struct db *db, enum db_fail fail, const char *msg)
{
	size_t n;

	db->fail = fail;
	snprintf(db->err, sizeof(db->err), "%s", msg ? msg : "");
	/* libpq messages end in a newline; the logs want one line */
	n = strlen(db->err);
	while (n > 0 && (db->err[n - 1] == '\n' || db->err[n - 1] == ' '))
		db->err[--n] = '\0';
}

/* Generation numbers of connections, unique across this process's handles. */
static uint64_t db_generation;

/*
 * A log line about this handle: event and msg, plus "db": name for a handle
 * other than the primary (whose lines stay as they always were).
 */
static void db_log(const struct db *db, enum log_level level, const char *event, const char *msg)
{
	struct log_line l;

	log_begin(&l, level, event);
	log_str(&l, "db", db->name);
	log_str(&l, "msg", msg);
	log_end(&l);
}

static void db_drop(struct db *db, const char *why)
{
	if (db->conn == NULL)
		return;
	PQfinish(db->conn);
	db->conn = NULL;
	db_log(db, LOG_WARN, "db_disconnected", why);
}

/* Waits until the socket is readable/writable or the deadline passes. */
static int db_poll(struct db *db, short events, int64_t deadline_ms)
{
	struct pollfd pfd = {.fd = PQsocket(db->conn), .events = events};

	for (;;) {
		int64_t left = deadline_ms - clock_mono_ms();
		if (left <= 0)
			return 0;
		int rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		return rc < 0 ? -1 : rc;
	}
}

/* One connection attempt within the connect deadline. 0 / -1. */
static int db_connect(struct db *db)
{
	/* gssencmode first so DATABASE_URL can still ask for it: without it libpq
	 * initialises Kerberos on every connect (time and ~1 MB per worker) */
	const char *keys[] = {"gssencmode", "dbname", "fallback_application_name", NULL};
	const char *vals[] = {"disable", db->url, "pixelcraft-api", NULL};
	int64_t deadline = clock_mono_ms() + db->cfg->db_connect_timeout_ms;
	PGconn *conn = PQconnectStartParams(keys, vals, 1);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if (conn == NULL || PQstatus(conn) == CONNECTION_BAD) {
		db_set_fail(db, DB_DOWN, conn ? PQerrorMessage(conn) : "out of memory");
		PQfinish(conn);
		return -1;
	}
	db->conn = conn;
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			db_set_fail(db, DB_DOWN, PQerrorMessage(conn));
			goto fail;
		}
		int rc = db_poll(db, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
		if (rc <= 0) {
			db_set_fail(db, DB_TIMEOUT, rc == 0 ? "connect timed out" : "poll failed");
			goto fail;
		}
		st = PQconnectPoll(conn);
	}
	if (PQsetnonblocking(conn, 1) != 0) {
		db_set_fail(db, DB_DOWN, PQerrorMessage(conn));
		goto fail;
	}
	db->gen = ++db_generation;
	db->connected_ms = clock_mono_ms();
	db->suspect = false;
	/* no JIT: compiling costs more than it saves on queries of our size
	 * (an admin's 30-day summary of 33,000 conversations spent 7 ms of its
	 * 124 ms compiling expressions, on every run) */
	char sql[128];
	snprintf(sql, sizeof(sql), "SET statement_timeout = %d; SET TIME ZONE 'UTC'; SET jit = off",
		 db->cfg->db_query_timeout_ms);
	PGresult *res = db_exec_sql(db, sql);
	if (res == NULL)
		goto fail;
	PQclear(res);
	return 0;
fail:
	PQfinish(db->conn);
	db->conn = NULL;
	return -1;
}

struct db *db_open(const struct config *cfg, const char *url, const char *name, bool lazy)
{
	struct db *db = calloc(1, sizeof(*db));
	char msg[320];

	if (db == NULL)
		return NULL;
	db->cfg = cfg;
	db->url = url;
	db->name = name;
	backoff_init(&db->backoff, &cfg->db_retry);
	if (!lazy && db_ready(db) < 0) {
		snprintf(msg, sizeof(msg), "starting without Postgres: %s", db->err);
		db_log(db, LOG_WARN, "db_unavailable", msg);
	}
	return db;
}

void db_close(struct db *db)
{
	if (db == NULL)
		return;
	PQfinish(db->conn);
	free(db);
}

/*
 * True when the server has closed an idle connection (restart, admin
 * termination): it then left the socket readable. Noticing it here lets the
 * request reconnect at once instead of failing on the dead connection.
 */
static bool db_closed_by_server(struct db *db)
{
	struct pollfd pfd = {.fd = PQsocket(db->conn), .events = POLLIN};

	if (poll(&pfd, 1, 0) <= 0)
		return false;
	/* An idle connection has nothing to read unless the server is ending it
	 * (pg_terminate_backend, a shutdown: a FATAL message, then EOF, which may
	 * not have arrived yet). We use no LISTEN, so any input means: reconnect
	 * now rather than fail the next query. */
	PQconsumeInput(db->conn);
	return true;
}

/* Drops an idle connection the server has ended (see db_closed_by_server). */
static void db_drop_if_closed(struct db *db)
{
	if (db->conn != NULL && PQtransactionStatus(db->conn) == PQTRANS_IDLE &&
	    db_closed_by_server(db)) {
		db_set_fail(db, DB_DOWN, PQerrorMessage(db->conn));
		db_drop(db, db->err);
	}
}

/* While backing off: has another worker reconnected since our last failure? */
static bool db_peer_back(struct db *db, int64_t now)
{
	if (db->peer_seen == NULL || now - db->peer_checked_ms < 100)
		return false;
	db->peer_checked_ms = now;
	return db->peer_seen(db->peer_arg, db->name ? db->name : "primary") > db->failed_wall_ms;
}

int db_ready(struct db *db)
{
	int64_t now = clock_mono_ms();

	db_drop_if_closed(db);
	if (db->conn != NULL && db->suspect) {
		if (PQstatus(db->conn) != CONNECTION_OK ||
		    PQtransactionStatus(db->conn) != PQTRANS_IDLE)
			db_drop(db, "connection not idle after an error");
		else
			db->suspect = false;
	}
	if (db->conn != NULL && db->cfg->db_recycle_seconds > 0 &&
	    now - db->connected_ms >= (int64_t)db->cfg->db_recycle_seconds * 1000) {
		PQfinish(db->conn); /* routine: not worth a warning */
		db->conn = NULL;
		db_log(db, LOG_DEBUG, "db_recycle", "connection reached DB_RECYCLE_SECONDS");
	}
	if (db->conn != NULL)
		return 0;
	if (!backoff_ready(&db->backoff, now) && !db_peer_back(db, now)) {
		db->fail = DB_DOWN;
		return -1;
	}
	bool was_down = db->backoff.failures > 0;
	if (db_connect(db) < 0) {
		backoff_failed(&db->backoff, clock_mono_ms());
		db->failed_wall_ms = clock_wall_ms();
		struct log_line l;
		log_begin(&l, LOG_WARN, "db_connect_failed");
		log_str(&l, "db", db->name);
		log_str(&l, "error", db->err);
		log_int(&l, "attempt", db->backoff.failures);
		log_int(&l, "retry_in_ms", db->backoff.next_ms - clock_mono_ms());
		log_end(&l);
		return -1;
	}
	db->reconnects++;
	if (was_down || db->reconnects > 1)
		db_log(db, was_down ? LOG_WARN : LOG_DEBUG, "db_connected",
		       "connection to Postgres (re)established");
	backoff_reset(&db->backoff);
	db->fail = DB_OK;
	if (was_down && db->peer_announce != NULL)
		db->peer_announce(db->peer_arg, db->name ? db->name : "primary");
	return 0;
}

void db_set_peers(struct db *db, int64_t (*seen)(void *arg, const char *name),
		  void (*announce)(void *arg, const char *name), void *arg)
{
	db->peer_seen = seen;
	db->peer_announce = announce;
	db->peer_arg = arg;
}

bool db_up(const struct db *db)
{
	return db->conn != NULL;
}

int db_retry_after(const struct db *db)
{
	return backoff_retry_after(&db->backoff, clock_mono_ms());
}

enum db_fail db_last_fail(const struct db *db)
{
	return db->fail;
}

const char *db_last_error(const struct db *db)
{
	return db->err;
}

int64_t db_reconnects(const struct db *db)
{
	return db->reconnects;
}

/* Flushes the output and waits for a complete result set within the deadline. */
static PGresult *db_collect(struct db *db, int64_t deadline)
{
	PGresult *last = NULL, *res;

	for (;;) {
		int f = PQflush(db->conn);
		if (f < 0)
			goto broken;
		if (f == 0)
			break;
		int rc = db_poll(db, POLLOUT | POLLIN, deadline);
		if (rc == 0)
			goto timeout;
		if (rc < 0 || PQconsumeInput(db->conn) == 0)
			goto broken;
	}
	for (;;) {
		while (PQisBusy(db->conn)) {
			int rc = db_poll(db, POLLIN, deadline);
			if (rc == 0)
				goto timeout;
			if (rc < 0 || PQconsumeInput(db->conn) == 0)
				goto broken;
		}
		res = PQgetResult(db->conn);
		if (res == NULL)
			break;
		/* keep the first error, else the last result */
		if (last != NULL && PQresultStatus(last) == PGRES_FATAL_ERROR) {
			PQclear(res);
			continue;
		}
		PQclear(last);
		last = res;
	}
	return last;
timeout:
	PQclear(last);
	db_set_fail(db, DB_TIMEOUT, "query deadline passed");
	db_drop(db, "query deadline passed; connection dropped");
	return NULL;
broken:
	PQclear(last);
	db_set_fail(db, DB_DOWN, PQerrorMessage(db->conn));
	db_drop(db, db->err);
	return NULL;
}

/* Maps a failed result to a failure kind; drops the connection when it is gone. */
static PGresult *db_check(struct db *db, PGresult *res)
{
	if (res == NULL)
		return NULL;
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY)
		return res;
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	enum db_fail fail = DB_FAILED;
	if (state == NULL || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
	    strncmp(state, "53", 2) == 0)
		fail = DB_DOWN;
	else if (strcmp(state, "57014") == 0)
		fail = DB_TIMEOUT;
	else if (strcmp(state, "23505") == 0)
		fail = DB_CONFLICT;
	else if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
		fail = DB_INVALID;
	db_set_fail(db, fail, PQresultErrorMessage(res));
	PQclear(res);
	db->suspect = true;
	if (PQstatus(db->conn) != CONNECTION_OK)
		db_drop(db, db->err);
	if (fail == DB_FAILED) {
		struct log_line l;
		log_begin(&l, LOG_ERROR, "db_query_failed");
		log_str(&l, "db", db->name);
		log_str(&l, "sqlstate", state);
		log_str(&l, "error", db->err);
		log_end(&l);
	}
	return NULL;
}

PGresult *db_exec_sql(struct db *db, const char *sql)
{
	int64_t deadline = clock_mono_ms() + db->cfg->db_query_timeout_ms;

	if (db->conn == NULL) {
		db_set_fail(db, DB_DOWN, "not connected");
		return NULL;
	}
	if (!PQsendQuery(db->conn, sql)) {
		db_set_fail(db, DB_DOWN, PQerrorMessage(db->conn));
		db_drop(db, db->err);
		return NULL;
	}
	return db_check(db, db_collect(db, deadline));
}

/* db_exec() and db_exec_replan(): st prepared, or run as the unnamed statement */
static PGresult *db_run(struct db *db, struct db_stmt *st, bool replan, int nparams,
			const char *const *params)
{
	int64_t deadline = clock_mono_ms() + db->cfg->db_query_timeout_ms;

	/* a connection the server ended while we were idle is replaced first,
	 * whichever statement comes first (outside a transaction: inside one,
	 * a new connection could not carry it on) */
	db_drop_if_closed(db);
	if (db->conn == NULL && db_ready(db) < 0) {
		if (db->fail == DB_OK)
			db_set_fail(db, DB_DOWN, "not connected");
		return NULL;
	}
	if (!replan && st->gen != db->gen) {
		if (!PQsendPrepare(db->conn, st->name, st->sql, nparams, NULL)) {
			db_set_fail(db, DB_DOWN, PQerrorMessage(db->conn));
			db_drop(db, db->err);
			return NULL;
		}
		PGresult *res = db_check(db, db_collect(db, deadline));
		if (res == NULL)
			return NULL;
		PQclear(res);
		st->gen = db->gen;
	}
	/* a replan statement goes as the unnamed one, planned with its values */
	int sent = replan
		       ? PQsendQueryParams(db->conn, st->sql, nparams, NULL, params, NULL, NULL, 0)
		       : PQsendQueryPrepared(db->conn, st->name, nparams, params, NULL, NULL, 0);
	if (!sent) {
		db_set_fail(db, DB_DOWN, PQerrorMessage(db->conn));
		db_drop(db, db->err);
		return NULL;
	}
	return db_check(db, db_collect(db, deadline));
}

PGresult *db_exec(struct db *db, struct db_stmt *st, int nparams, const char *const *params)
{
	return db_run(db, st, false, nparams, params);
}

PGresult *db_exec_replan(struct db *db, struct db_stmt *st, int nparams, const char *const *params)
{
	return db_run(db, st, true, nparams, params);
}

int db_exec_json(struct db *db, struct db_stmt *st, int nparams, const char *const *params,
		 struct json_object **out)
{
	PGresult *res = db_exec(db, st, nparams, params);
	int rc = -1;

	*out = NULL;
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
		rc = 0;
	} else if ((*out = json_tokener_parse(PQgetvalue(res, 0, 0))) != NULL) {
		rc = 1;
	} else {
		db_set_fail(db, DB_FAILED, "statement returned malformed JSON");
		log_msg(LOG_ERROR, "db_bad_json", "%s returned malformed JSON", st->name);
	}
	PQclear(res);
	return rc;
}

int db_ping_start(struct db *db)
{
	db->ping_us = clock_mono_us();
	if (db_ready(db) < 0)
		return -1;
	if (!PQsendQuery(db->conn, "")) {
		db_set_fail(db, DB_DOWN, PQerrorMessage(db->conn));
		db_drop(db, db->err);
		return -1;
	}
	return 0;
}

int db_ping_finish(struct db *db, int64_t *latency_us)
{
	int64_t deadline = db->ping_us / 1000 + db->cfg->db_query_timeout_ms;
	PGresult *res = db_check(db, db_collect(db, deadline));

	if (res == NULL)
		return -1;
	PQclear(res);
	*latency_us = clock_mono_us() - db->ping_us;
	return 0;
}

int db_ping(struct db *db, int64_t *latency_us)
{
	if (db_ping_start(db) < 0)
		return -1;
	return db_ping_finish(db, latency_us);
}

void db_idle(struct db *db)
{
	if (db->conn != NULL && db->cfg->db_recycle_seconds > 0 &&
	    clock_mono_ms() - db->connected_ms >= (int64_t)db->cfg->db_recycle_seconds * 1000)
		db_ready(db);
}
