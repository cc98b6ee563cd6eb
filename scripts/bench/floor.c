/*
 * floor: the memory floor of our libraries. A FastCGI responder like
 * hello.c that also does, per request, one call of each library a worker
 * uses (libpq SELECT 1, hiredis PING, a libjwt HS256 verification, json-c
 * parse and print), and one libcurl GET at start-up (the LLM health
 * refresh), and nothing else. scripts/bench.sh prints its RSS beside our
 * workers': what is left between the two is our own code and data.
 *
 *   FLOOR_PG, FLOOR_REDIS, FLOOR_REDIS_PASSWORD  Postgres and Redis (floor.h)
 *   FLOOR_SECRET  the HS256 secret; FLOOR_URL the URL fetched at start-up
 */
#include <curl/curl.h>
#include <fcgiapp.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <jwt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "floor.h"

static size_t discard(char *p, size_t size, size_t n, void *u)
{
	(void)p;
	(void)u;
	return size * n;
}

int main(void)
{
	static const char head[] = "Status: 200 OK\r\nContent-Type: application/json\r\n\r\n";
	const char *secret = need("FLOOR_SECRET");
	FCGX_Request req;
	char drain[4096], *token = NULL;
	jwt_t *jwt = NULL;

	CURL *curl = curl_easy_init();
	curl_easy_setopt(curl, CURLOPT_URL, need("FLOOR_URL"));
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_perform(curl);

	PGconn *pg;
	redisContext *redis;
	if (floor_connect(&pg, &redis) != 0)
		return 1;

	if (jwt_new(&jwt) != 0 ||
	    jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret)) !=
		0 ||
	    jwt_add_grant(jwt, "sub", "00000000-0000-0000-0000-000000000001") != 0 ||
	    jwt_add_grant_int(jwt, "exp", time(NULL) + 3600) != 0 ||
	    (token = jwt_encode_str(jwt)) == NULL)
		return 1;
	jwt_free(jwt);

	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&req) >= 0) {
		while (FCGX_GetStr(drain, sizeof(drain), req.in) > 0)
			;
		PGresult *res = PQexec(pg, "SELECT json_build_object('pg', 1)");
		redisReply *pong = redisCommand(redis, "PING");
		int ok =
		    jwt_decode(&jwt, token, (const unsigned char *)secret, (int)strlen(secret));
		json_object *o = PQresultStatus(res) == PGRES_TUPLES_OK
				     ? json_tokener_parse(PQgetvalue(res, 0, 0))
				     : json_object_new_object();
		json_object_object_add(o, "redis", json_object_new_boolean(pong != NULL));
		json_object_object_add(o, "jwt", json_object_new_boolean(ok == 0));
		FCGX_PutS(head, req.out);
		FCGX_PutS(json_object_to_json_string(o), req.out);
		json_object_put(o);
		jwt_free(jwt);
		freeReplyObject(pong);
		PQclear(res);
		FCGX_Finish_r(&req);
	}
	return 0;
}
