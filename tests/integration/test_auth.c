/* Integration: authentication through the front end (GET /api/me). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

Test(auth, me_with_a_valid_token)
{
	char sub[37];
	char *t = user_token(NULL, sub, 600);
	const char *h[] = {bearer(0, t), NULL};
	struct http *r = http_do("GET", "/api/me", NULL, h);

	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_str(r->json, "user_id"), sub);
	cr_assert_str_eq(json_str(r->json, "role"), "user", "no profile row: user");
	cr_assert_str_eq(json_str(r->json, "email"), "tester@example.com");
	http_free(r);
	free(t);
}

Test(auth, admin_role_comes_from_user_profiles)
{
	char sub[37];
	char *t = user_token(NULL, sub, 600);
	free(sql("INSERT INTO user_profiles (user_id, role) VALUES ('%s', 'admin')", sub));
	const char *h[] = {bearer(0, t), NULL};
	struct http *r = http_do("GET", "/api/me", NULL, h);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_str(r->json, "role"), "admin");
	http_free(r);
	free(t);
}

Test(auth, missing_token_is_401)
{
	struct http *r = http_get("/api/me");
	cr_assert_eq(r->status, 401, "%s", r->body);
	cr_assert_str_eq(http_header(r, "WWW-Authenticate"), "Bearer realm=\"pixelcraft\"");
	cr_assert_str_eq(json_str(r->json, "detail"), "Not authenticated");
	cr_assert(strlen(json_str(r->json, "request_id")) > 0);
	http_free(r);
}

static void assert_refused(const char *auth_header, const char *why)
{
	const char *h[] = {auth_header, NULL};
	struct http *r = http_do("GET", "/api/me", NULL, h);
	cr_assert_eq(r->status, 401, "%s: %ld %s", why, r->status, r->body);
	const char *www = http_header(r, "WWW-Authenticate");
	cr_assert_not_null(www);
	cr_assert(strstr(www, "error=\"invalid_token\"") != NULL, "%s", www);
	cr_assert(strstr(www, why) != NULL, "expected '%s' in %s", why, www);
	cr_assert(strstr(json_str(r->json, "detail"), why) != NULL, "%s", r->body);
	http_free(r);
}

Test(auth, invalid_tokens_say_why)
{
	char *expired = user_token(NULL, NULL, -120);
	assert_refused(bearer(0, expired), "token expired");
	free(expired);

	char *good = user_token(NULL, NULL, 600);
	char tampered[8300];
	snprintf(tampered, sizeof(tampered), "%s", good);
	size_t n = strlen(tampered);
	tampered[n - 2] = tampered[n - 2] == 'A' ? 'B' : 'A';
	assert_refused(bearer(0, tampered), "invalid signature");
	assert_refused("Authorization: Bearer abc.def", "malformed token");
	assert_refused("Authorization: Basic dXNlcjpwYXNz", "malformed token");
	free(good);
}

Test(auth, oversized_token_is_refused)
{
	char *big = malloc(9 * 1024 + 40);
	strcpy(big, "Authorization: Bearer ");
	size_t n = strlen(big);
	memset(big + n, 'A', 9 * 1024);
	big[n + 9 * 1024] = '\0';
	big[n + 100] = '.';
	big[n + 200] = '.';
	const char *h[] = {big, NULL};
	struct http *r = http_do("GET", "/api/me", NULL, h);
	cr_assert_eq(r->status, 401, "%ld %s", r->status, r->body);
	cr_assert(strstr(http_header(r, "WWW-Authenticate"), "token too large") != NULL);
	http_free(r);
	free(big);
}
