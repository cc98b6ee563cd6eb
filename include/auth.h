/*
 * auth: Supabase access tokens (HS256 JWTs) and the caller's role.
 *
 * libjwt 1.10 verifies the signature; everything it does not check, or
 * checks wrongly, is checked here first or after it: size (8 KiB), shape
 * (three base64url segments, non-empty signature), algorithm (exactly
 * HS256), typ, exp (required), nbf, iat, aud, iss, sub (a user id) and the
 * Supabase role (anon and service_role keys are not user tokens).
 */
#ifndef PIXELCRAFT_AUTH_H
#define PIXELCRAFT_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "router.h"

struct config;
struct request;
struct response;

#define AUTH_MAX_TOKEN 8192

/* Why a token was refused; the names go into WWW-Authenticate. */
enum auth_fail {
	AUTH_OK,
	AUTH_MISSING,       /* no bearer token */
	AUTH_TOO_LARGE,     /* over AUTH_MAX_TOKEN bytes */
	AUTH_MALFORMED,     /* not three base64url segments of JSON, or bad claim types */
	AUTH_ALGORITHM,     /* alg is not exactly HS256, or typ is not JWT */
	AUTH_SIGNATURE,     /* signature does not verify */
	AUTH_EXPIRED,       /* exp in the past (beyond the leeway) */
	AUTH_NOT_YET_VALID, /* nbf or iat in the future */
	AUTH_AUDIENCE,      /* aud does not contain JWT_AUDIENCE */
	AUTH_ISSUER,        /* iss is not JWT_ISSUER */
	AUTH_NOT_USER,      /* no user subject: anon or service_role key, or no/empty sub */
	AUTH__MAX
};

/* Human-readable reason for each failure ("token expired"). */
extern const char *const auth_fail_text[AUTH__MAX];

/* What a valid token says about its user. */
struct auth_claims {
	char sub[64];
	char email[256];
	int64_t exp;
};

/* Verifies token at time now (Unix seconds). AUTH_OK fills out. */
enum auth_fail auth_verify(const struct config *cfg, const char *token, int64_t now,
			   struct auth_claims *out);

/*
 * The authentication step of the pipeline for a route that needs `need`:
 * reads the bearer token, verifies it and fills req->user. Admin routes also
 * check the role. Returns 0 to go on, or the status to answer: 401 (with
 * WWW-Authenticate), 403, or 503 when the role cannot be read.
 */
int auth_request(struct request *req, struct response *res, enum route_auth need);

/*
 * Verifies token (through the per-worker cache) and fills req->user. 0, or
 * 401 with WWW-Authenticate saying why.
 */
int auth_token(struct request *req, struct response *res, const char *token);

/*
 * The caller's application role, "user" or "admin", from user_profiles
 * (cached per worker for AUTH_ROLE_CACHE_SECONDS). Looked up on first use,
 * so requests that never need it never pay for it. NULL when the caller is
 * anonymous or the role cannot be read (Postgres down).
 */
const char *auth_role(struct request *req);

/*
 * For a verified caller: 0 when an admin, 403 when not, 503 when the role
 * cannot be read (Postgres down), with the response filled.
 */
int auth_require_admin(struct request *req, struct response *res);

/* True when the caller is an admin (false when anonymous or unknown). */
bool auth_is_admin(struct request *req);

#endif
