/*
 * auth: verification of Supabase access tokens and the role lookup.
 *
 * Order of checks in auth_verify: size, shape and alphabet, header (alg
 * exactly "HS256", typ "JWT" if present), signature (libjwt), then the
 * claims from the payload decoded here with json-c so their JSON types can
 * be checked (a string "exp" is malformed, not a date).
 */
#include "auth.h"
#include "app.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "request.h"
#include "response.h"

#include <ctype.h>
#include <json-c/json.h>
#include <jwt.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const auth_fail_text[AUTH__MAX] = {
	"valid",
	"no bearer token",
	"token too large",
	"malformed token",
	"unsupported algorithm (HS256 required)",
	"invalid signature",
	"token expired",
	"token not yet valid",
	"wrong audience",
	"wrong issuer",
	"not a user token",
};

/* Decodes one base64url segment into a NUL-terminated buffer (caller frees). */
static char *auth_b64url(const char *seg, size_t len)
{
	size_t padded = (len + 3) / 4 * 4;
	unsigned char *in = malloc(padded + 1), *out = malloc(padded / 4 * 3 + 1);
	char *result = NULL;

	if (in == NULL || out == NULL)
		goto out;
	for (size_t i = 0; i < len; i++)
		in[i] = seg[i] == '-' ? '+' : seg[i] == '_' ? '/' : (unsigned char)seg[i];
	for (size_t i = len; i < padded; i++)
		in[i] = '=';
	if (len % 4 == 1)
		goto out;
	int n = EVP_DecodeBlock(out, in, (int)padded);
	if (n < 0)
		goto out;
	n -= (int)(padded - len); /* EVP_DecodeBlock counts the padding bytes */
	out[n] = '\0';
	if (memchr(out, '\0', (size_t)n) != NULL)
		goto out;
	result = (char *)out;
	out = NULL;
out:
	free(in);
	free(out);
	return result;
}

/* Parses a segment as a JSON object (strict), or NULL. */
static struct json_object *auth_segment_json(const char *seg, size_t len)
{
	char *text = auth_b64url(seg, len);
	struct json_object *o = NULL;

	if (text == NULL)
		return NULL;
	struct json_tokener *tok = json_tokener_new_ex(8);
	if (tok != NULL) {
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
		o = json_tokener_parse_ex(tok, text, (int)strlen(text));
		if (json_tokener_get_error(tok) != json_tokener_success ||
		    !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			o = NULL;
		}
		json_tokener_free(tok);
	}
	free(text);
	return o;
}

/* A NumericDate claim: absent (1), a finite number (0, *v set), or wrong (-1). */
static int auth_date(struct json_object *claims, const char *name, double *v)
{
	struct json_object *o;

	if (!json_object_object_get_ex(claims, name, &o))
		return 1;
	enum json_type t = json_object_get_type(o);
	if (t != json_type_int && t != json_type_double)
		return -1;
	*v = json_object_get_double(o);
	return isfinite(*v) ? 0 : -1;
}

static bool auth_is_uuid(const char *s)
{
	static const char form[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	for (size_t i = 0; i < sizeof(form) - 1; i++)
		if (form[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	return s[sizeof(form) - 1] == '\0';
}

/* Checks the claims of a token whose signature verified. */
static enum auth_fail auth_claims(const struct config *cfg, struct json_object *c, int64_t now,
				  struct auth_claims *out)
{
	struct json_object *o;
	double exp, nbf, iat;
	double leeway = cfg->jwt_leeway_seconds;

	int st = auth_date(c, "exp", &exp);
	if (st != 0)
		return AUTH_MALFORMED; /* exp is required, and must be a number */
	if (auth_date(c, "nbf", &nbf) < 0 || auth_date(c, "iat", &iat) < 0)
		return AUTH_MALFORMED;
	if ((double)now > exp + leeway)
		return AUTH_EXPIRED;
	if (auth_date(c, "nbf", &nbf) == 0 && nbf - leeway > (double)now)
		return AUTH_NOT_YET_VALID;
	if (auth_date(c, "iat", &iat) == 0 && iat - leeway > (double)now)
		return AUTH_NOT_YET_VALID;

	/* aud: a string equal to JWT_AUDIENCE, or an array containing it */
	bool aud_ok = false;
	if (json_object_object_get_ex(c, "aud", &o)) {
		if (json_object_is_type(o, json_type_string)) {
			aud_ok = strcmp(json_object_get_string(o), cfg->jwt_audience) == 0;
		} else if (json_object_is_type(o, json_type_array)) {
			for (size_t i = 0; i < json_object_array_length(o); i++) {
				struct json_object *a = json_object_array_get_idx(o, i);
				if (json_object_is_type(a, json_type_string) &&
				    strcmp(json_object_get_string(a), cfg->jwt_audience) == 0)
					aud_ok = true;
			}
		} else {
			return AUTH_MALFORMED;
		}
	}
	if (!aud_ok)
		return AUTH_AUDIENCE;
	if (cfg->jwt_issuer != NULL &&
	    (!json_object_object_get_ex(c, "iss", &o) || !json_object_is_type(o, json_type_string) ||
	     strcmp(json_object_get_string(o), cfg->jwt_issuer) != 0))
		return AUTH_ISSUER;

	/* Supabase: user tokens carry role "authenticated"; anon and
	 * service_role keys are valid HS256 tokens without a user */
	if (json_object_object_get_ex(c, "role", &o) &&
	    (!json_object_is_type(o, json_type_string) ||
	     strcmp(json_object_get_string(o), "authenticated") != 0))
		return AUTH_NOT_USER;
	if (!json_object_object_get_ex(c, "sub", &o) || !json_object_is_type(o, json_type_string) ||
	    !auth_is_uuid(json_object_get_string(o)))
		return AUTH_NOT_USER;
	snprintf(out->sub, sizeof(out->sub), "%s", json_object_get_string(o));
	out->email[0] = '\0';
	if (json_object_object_get_ex(c, "email", &o) && json_object_is_type(o, json_type_string))
		snprintf(out->email, sizeof(out->email), "%s", json_object_get_string(o));
	out->exp = (int64_t)exp;
	return AUTH_OK;
}

enum auth_fail auth_verify(const struct config *cfg, const char *token, int64_t now,
			   struct auth_claims *out)
{
	struct json_object *header = NULL, *claims = NULL, *o;
	jwt_t *jwt = NULL;
	const char *dot1, *dot2;
	enum auth_fail rc = AUTH_MALFORMED;

	if (token == NULL || *token == '\0')
		return AUTH_MISSING;
	size_t len = strnlen(token, AUTH_MAX_TOKEN + 1);
	if (len > AUTH_MAX_TOKEN)
		return AUTH_TOO_LARGE;
	/* exactly three base64url segments; the signature must not be empty */
	for (size_t i = 0; i < len; i++)
		if (!(isalnum((unsigned char)token[i]) || token[i] == '-' || token[i] == '_' ||
		      token[i] == '.'))
			return AUTH_MALFORMED;
	dot1 = strchr(token, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL || dot1 == token ||
	    dot2 == dot1 + 1 || dot2[1] == '\0')
		return AUTH_MALFORMED;

	header = auth_segment_json(token, (size_t)(dot1 - token));
	if (header == NULL)
		goto out;
	if (!json_object_object_get_ex(header, "alg", &o) ||
	    !json_object_is_type(o, json_type_string) ||
	    strcmp(json_object_get_string(o), "HS256") != 0) {
		rc = AUTH_ALGORITHM;
		goto out;
	}
	if (json_object_object_get_ex(header, "typ", &o) &&
	    (!json_object_is_type(o, json_type_string) ||
	     strcasecmp(json_object_get_string(o), "JWT") != 0)) {
		rc = AUTH_ALGORITHM;
		goto out;
	}
	claims = auth_segment_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (claims == NULL)
		goto out;
	/* the signature, by libjwt with the (never empty) secret */
	if (jwt_decode(&jwt, token, (const unsigned char *)cfg->jwt_secret,
		       (int)strlen(cfg->jwt_secret)) != 0 ||
	    jwt_get_alg(jwt) != JWT_ALG_HS256) {
		rc = AUTH_SIGNATURE;
		goto out;
	}
	rc = auth_claims(cfg, claims, now, out);
out:
	jwt_free(jwt);
	json_object_put(header);
	json_object_put(claims);
	return rc;
}

/* ---- verified-token cache ----------------------------------------------------
 *
 * A worker remembers tokens it verified (by SHA-256 of the token) for up to
 * AUTH_TOKEN_CACHE_SECONDS and never past their exp, so a client sending the
 * same token again costs a hash instead of a full verification. Failures
 * are not cached.
 */

#define AUTH_TOKEN_SLOTS 4096
#define AUTH_TOKEN_CACHE_SECONDS 60

struct auth_cached_token {
	unsigned char digest[SHA256_DIGEST_LENGTH];
	char sub[37];
	char email[64]; /* tokens with longer addresses are not cached */
	int64_t exp;
	int64_t until; /* Unix seconds */
};

static struct auth_cached_token auth_tokens[AUTH_TOKEN_SLOTS];

static enum auth_fail auth_verify_cached(const struct config *cfg, const char *token,
					 int64_t now, struct auth_claims *out)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];
	size_t len = strnlen(token, AUTH_MAX_TOKEN + 1);

	if (len == 0 || len > AUTH_MAX_TOKEN)
		return auth_verify(cfg, token, now, out);
	SHA256((const unsigned char *)token, len, digest);
	struct auth_cached_token *slot =
		&auth_tokens[(digest[0] | (unsigned)digest[1] << 8 | (unsigned)digest[2] << 16) %
			     AUTH_TOKEN_SLOTS];
	if (memcmp(slot->digest, digest, sizeof(digest)) == 0 && now < slot->until &&
	    now <= slot->exp + cfg->jwt_leeway_seconds) {
		snprintf(out->sub, sizeof(out->sub), "%s", slot->sub);
		snprintf(out->email, sizeof(out->email), "%s", slot->email);
		out->exp = slot->exp;
		return AUTH_OK;
	}
	enum auth_fail rc = auth_verify(cfg, token, now, out);
	if (rc == AUTH_OK && strlen(out->sub) < sizeof(slot->sub) &&
	    strlen(out->email) < sizeof(slot->email)) {
		memcpy(slot->digest, digest, sizeof(digest));
		memcpy(slot->sub, out->sub, strlen(out->sub) + 1);
		memcpy(slot->email, out->email, strlen(out->email) + 1);
		slot->exp = out->exp;
		slot->until = now + AUTH_TOKEN_CACHE_SECONDS;
	}
	return rc;
}

/* ---- role cache ---------------------------------------------------------- */

#define AUTH_CACHE_SLOTS 4096

struct auth_cached_role {
	char sub[64];
	char role[16];
	int64_t until_ms;
};

static struct auth_cached_role auth_cache[AUTH_CACHE_SLOTS];

static struct auth_cached_role *auth_cache_slot(const char *sub)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const char *p = sub; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return &auth_cache[h % AUTH_CACHE_SLOTS];
}

/* The role of sub: from the per-worker cache, else from Postgres. 0 / -1. */
static int auth_role_lookup(struct app *app, const char *sub, char *role, size_t len)
{
	struct auth_cached_role *slot = auth_cache_slot(sub);
	int64_t now = clock_mono_ms();

	if (strcmp(slot->sub, sub) == 0 && now < slot->until_ms) {
		snprintf(role, len, "%s", slot->role);
		return 0;
	}
	if (db_user_role(app->db, sub, role, len) < 0)
		return -1;
	snprintf(slot->sub, sizeof(slot->sub), "%s", sub);
	snprintf(slot->role, sizeof(slot->role), "%s", role);
	slot->until_ms = now + (int64_t)app->cfg->auth_role_cache_seconds * 1000;
	return 0;
}

/* ---- the pipeline step ----------------------------------------------------- */

static int auth_refuse(struct response *res, enum auth_fail why)
{
	if (why == AUTH_MISSING) {
		response_header(res, "WWW-Authenticate", "Bearer realm=\"pixelcraft\"");
		return response_error(res, 401, "Not authenticated");
	}
	response_header(res, "WWW-Authenticate",
			"Bearer realm=\"pixelcraft\", error=\"invalid_token\", "
			"error_description=\"%s\"",
			auth_fail_text[why]);
	return response_error(res, 401, "Invalid token: %s", auth_fail_text[why]);
}

/* The token of "Authorization: Bearer <token>" (scheme case-insensitive). */
static const char *auth_bearer(const struct request *req, bool *present)
{
	const char *h = request_header(req, "Authorization");

	*present = h != NULL;
	if (h == NULL)
		return NULL;
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return "";
	h += 7;
	while (*h == ' ')
		h++;
	return h;
}

int auth_token(struct request *req, struct response *res, const char *token)
{
	struct auth_claims claims;
	enum auth_fail why =
		auth_verify_cached(req->app->cfg, token, clock_wall_ms() / 1000, &claims);

	if (why != AUTH_OK) {
		struct log_line l;
		log_begin(&l, LOG_INFO, "auth_refused");
		log_str(&l, "request_id", req->id);
		log_str(&l, "reason", auth_fail_text[why]);
		log_end(&l);
		return auth_refuse(res, why == AUTH_MISSING ? AUTH_MALFORMED : why);
	}
	req->user.known = true;
	snprintf(req->user.id, sizeof(req->user.id), "%s", claims.sub);
	snprintf(req->user.email, sizeof(req->user.email), "%s", claims.email);
	return 0;
}

int auth_request(struct request *req, struct response *res, enum route_auth need)
{
	bool present;

	if (need == ROUTE_PUBLIC || need == ROUTE_INTERNAL)
		return 0;
	const char *token = auth_bearer(req, &present);
	if (!present) {
		if (need == ROUTE_AUTH_OPTIONAL)
			return 0;
		return auth_refuse(res, AUTH_MISSING);
	}
	int st = auth_token(req, res, token);
	if (st != 0)
		return st;
	return need == ROUTE_ADMIN ? auth_require_admin(req, res) : 0;
}

int auth_require_admin(struct request *req, struct response *res)
{
	const char *role = auth_role(req);

	if (role == NULL)
		return response_unavailable(res, "Postgres", db_retry_after(req->app->db));
	if (strcmp(role, "admin") != 0)
		return response_error(res, 403, "Admin access required");
	return 0;
}

const char *auth_role(struct request *req)
{
	if (!req->user.known)
		return NULL;
	if (req->user.role[0] == '\0' &&
	    auth_role_lookup(req->app, req->user.id, req->user.role, sizeof(req->user.role)) < 0)
		return NULL;
	return req->user.role;
}

bool auth_is_admin(struct request *req)
{
	const char *role = auth_role(req);
	return role != NULL && strcmp(role, "admin") == 0;
}
