/*
 * api_me: who the caller is, as the API sees them (GET /api/me).
 */
#include "api.h"
#include "app.h"
#include "auth.h"
#include "db.h"
#include "request.h"
#include "response.h"

#include <json-c/json.h>

int api_me(struct request *req, struct response *res)
{
	const char *role = auth_role(req);

	if (role == NULL)
		return response_unavailable(res, "Postgres", db_retry_after(req->app->db));
	res->body = json_object_new_object();
	json_object_object_add(res->body, "user_id", json_object_new_string(req->user.id));
	json_object_object_add(res->body, "role", json_object_new_string(role));
	if (req->user.email[0] != '\0')
		json_object_object_add(res->body, "email",
				       json_object_new_string(req->user.email));
	return 200;
}
