/*
 * api_me: who the caller is, as the API sees them (GET /api/me).
 */
#include "api.h"
#include "request.h"
#include "response.h"

#include <json-c/json.h>

int api_me(struct request *req, struct response *res)
{
	res->body = json_object_new_object();
	json_object_object_add(res->body, "user_id", json_object_new_string(req->user.id));
	json_object_object_add(res->body, "role", json_object_new_string(req->user.role));
	if (req->user.email[0] != '\0')
		json_object_object_add(res->body, "email",
				       json_object_new_string(req->user.email));
	return 200;
}
