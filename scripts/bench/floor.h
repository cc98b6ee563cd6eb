/*
 * floor.h: what the two floors (floor.c, chat-floor.c) share: their
 * environment and their Postgres and Redis connections, made as a worker
 * makes them (libpq with gssencmode=disable, as db.c; Redis on its Unix
 * socket with AUTH).
 *
 *   FLOOR_PG      libpq connection string
 *   FLOOR_REDIS   Redis's Unix socket; FLOOR_REDIS_PASSWORD its password
 */
#ifndef PIXELCRAFT_BENCH_FLOOR_H
#define PIXELCRAFT_BENCH_FLOOR_H

#include <errno.h> /* program_invocation_short_name */
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

/* The value of the environment variable name; exits if it is not set. */
static char *need(const char *name)
{
	char *v = getenv(name);

	if (v == NULL) {
		fprintf(stderr, "%s: %s is not set\n", program_invocation_short_name, name);
		exit(1);
	}
	return v;
}

/* Connects to Postgres and Redis from FLOOR_PG and FLOOR_REDIS; 0, or -1
 * after printing why. */
static int floor_connect(PGconn **pg, redisContext **redis)
{
	const char *keys[] = {"gssencmode", "dbname", NULL};
	const char *vals[] = {"disable", need("FLOOR_PG"), NULL};

	*pg = PQconnectdbParams(keys, vals, 1);
	*redis = redisConnectUnix(need("FLOOR_REDIS"));
	if (PQstatus(*pg) != CONNECTION_OK || *redis == NULL || (*redis)->err) {
		fprintf(stderr, "%s: cannot connect to Postgres or Redis\n",
			program_invocation_short_name);
		return -1;
	}
	freeReplyObject(redisCommand(*redis, "AUTH %s", need("FLOOR_REDIS_PASSWORD")));
	return 0;
}

#endif
