/*
 * db_auth: the queries behind authentication.
 */
#include "db_priv.h"

#include <stdio.h>
#include <string.h>

int db_user_role(struct db *db, const char *user_id, char *role, size_t len)
{
	static struct db_stmt st = {"user_role",
				    "SELECT role FROM user_profiles WHERE user_id = $1::uuid", 0};
	const char *params[] = {user_id};
	PGresult *res = db_exec(db, &st, 1, params);
	int rc = -1;

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		snprintf(role, len, "%s", PQgetvalue(res, 0, 0));
		rc = 1;
	} else {
		snprintf(role, len, "user");
		rc = 0;
	}
	PQclear(res);
	return rc;
}
