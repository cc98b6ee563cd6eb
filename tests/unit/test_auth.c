/*
 * Unit tests for auth: token verification. Tokens are made by
 * tests/unit/make-token.sh with the openssl command line, independently of
 * libjwt, with a secret generated for the run.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "auth.h"
#include "config.h"

static char secret[65];
static struct config cfg;
static const char *user = "8f14e45f-ceea-467f-a0b0-32c2b0e7c6a1";

static void setup(void)
{
	unsigned char b[32];
	cr_assert_eq(getrandom(b, sizeof(b), 0), (ssize_t)sizeof(b));
	for (int i = 0; i < 32; i++)
		snprintf(secret + 2 * i, 3, "%02x", b[i]);
	memset(&cfg, 0, sizeof(cfg));
	cfg.jwt_secret = secret;
	cfg.jwt_audience = "authenticated";
	cfg.jwt_leeway_seconds = 30;
}

/* A token from make-token.sh; header and payload are JSON texts. */
static char *token(const char *key, const char *header, const char *payload, const char *mode)
{
	char cmd[8192];
	static char out[65536];
	snprintf(cmd, sizeof(cmd), "tests/unit/make-token.sh '%s' '%s' '%s' %s", key, header,
		 payload, mode);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	cr_assert_eq(pclose(p), 0, "make-token.sh failed: %s", cmd);
	return out;
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* A Supabase-shaped payload with the given extra/overriding members. */
static const char *claims(const char *fmt, ...)
{
	static char buf[4096];
	char extra[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(extra, sizeof(extra), fmt, ap);
	va_end(ap);
	long now = (long)time(NULL);
	snprintf(buf, sizeof(buf),
		 "{%s%s\"iat\":%ld,\"role\":\"authenticated\",\"email\":\"ana@example.com\","
		 "\"session_id\":\"s1\",\"is_anonymous\":false}",
		 extra, *extra ? "," : "", now - 10);
	return buf;
}

static enum auth_fail verify(const char *tok)
{
	struct auth_claims c;
	return auth_verify(&cfg, tok, (int64_t)time(NULL), &c);
}

TestSuite(auth, .init = setup);

Test(auth, valid_supabase_token)
{
	long exp = (long)time(NULL) + 3600;
	struct auth_claims c;
	const char *t = token(secret, HS256,
			      claims("\"sub\":\"%s\",\"aud\":\"authenticated\",\"exp\":%ld,"
				     "\"iss\":\"https://x.supabase.co/auth/v1\"",
				     user, exp),
			      "hs256");
	cr_assert_eq(auth_verify(&cfg, t, (int64_t)time(NULL), &c), AUTH_OK);
	cr_assert_str_eq(c.sub, user);
	cr_assert_str_eq(c.email, "ana@example.com");
	cr_assert_eq(c.exp, exp);
}

Test(auth, audience_array_containing_it)
{
	const char *t = token(secret, HS256,
			      claims("\"sub\":\"%s\",\"aud\":[\"other\",\"authenticated\"],\"exp\":%ld",
				     user, (long)time(NULL) + 60),
			      "hs256");
	cr_assert_eq(verify(t), AUTH_OK);
}

Test(auth, time_claims)
{
	long now = (long)time(NULL);
	const char *base = "\"sub\":\"8f14e45f-ceea-467f-a0b0-32c2b0e7c6a1\",\"aud\":\"authenticated\"";
	cr_assert_eq(verify(token(secret, HS256, claims("%s,\"exp\":%ld", base, now - 60), "hs256")),
		     AUTH_EXPIRED);
	cr_assert_eq(verify(token(secret, HS256, claims("%s,\"exp\":%ld", base, now - 10), "hs256")),
		     AUTH_OK, "within the 30 s leeway");
	cr_assert_eq(verify(token(secret, HS256,
				  claims("%s,\"exp\":%ld,\"nbf\":%ld", base, now + 600, now + 300),
				  "hs256")),
		     AUTH_NOT_YET_VALID);
	cr_assert_eq(verify(token(secret, HS256, claims("%s", base), "hs256")), AUTH_MALFORMED,
		     "exp is required");
	cr_assert_eq(verify(token(secret, HS256,
				  claims("%s,\"exp\":\"%ld\"", base, now + 600), "hs256")),
		     AUTH_MALFORMED, "a string exp is not a date");
}

Test(auth, algorithms_other_than_hs256)
{
	const char *p = claims("\"sub\":\"%s\",\"aud\":\"authenticated\",\"exp\":%ld", user,
			       (long)time(NULL) + 600);
	cr_assert_eq(verify(token(secret, "{\"alg\":\"none\",\"typ\":\"JWT\"}", p, "none")),
		     AUTH_MALFORMED, "empty signature");
	cr_assert_eq(verify(token(secret, "{\"alg\":\"none\",\"typ\":\"JWT\"}", p, "hs256")),
		     AUTH_ALGORITHM);
	cr_assert_eq(verify(token(secret, "{\"alg\":\"None\",\"typ\":\"JWT\"}", p, "hs256")),
		     AUTH_ALGORITHM);
	cr_assert_eq(verify(token(secret, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", p, "hs512")),
		     AUTH_ALGORITHM, "HS512 with the same secret");
	cr_assert_eq(verify(token(secret, "{\"alg\":\"HS384\",\"typ\":\"JWT\"}", p, "hs384")),
		     AUTH_ALGORITHM);
	cr_assert_eq(verify(token(secret, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", p, "garbage")),
		     AUTH_ALGORITHM);
	cr_assert_eq(verify(token(secret, "{\"alg\":\"hs256\"}", p, "hs256")), AUTH_ALGORITHM);
	cr_assert_eq(verify(token(secret, "{\"alg\":\"HS256\",\"typ\":\"JWE\"}", p, "hs256")),
		     AUTH_ALGORITHM);
	cr_assert_eq(verify(token(secret, "{\"alg\":\"HS256\"}", p, "hs256")), AUTH_OK,
		     "typ is optional");
}

Test(auth, signatures)
{
	const char *p = claims("\"sub\":\"%s\",\"aud\":\"authenticated\",\"exp\":%ld", user,
			       (long)time(NULL) + 600);
	cr_assert_eq(verify(token("another-secret-0123456789abcdef0123", HS256, p, "hs256")),
		     AUTH_SIGNATURE);
	cr_assert_eq(verify(token(secret, HS256, p, "garbage")), AUTH_SIGNATURE);
	char *t = strdup(token(secret, HS256, p, "hs256"));
	*strrchr(t, '.') = '\0';
	strcat(t, ".");
	cr_assert_eq(verify(t), AUTH_MALFORMED, "empty signature");
	free(t);
	/* a changed payload under the old signature */
	t = strdup(token(secret, HS256, p, "hs256"));
	char *sig = strrchr(t, '.');
	char *other = token(secret, HS256,
			    claims("\"sub\":\"%s\",\"aud\":\"authenticated\",\"exp\":%ld", user,
				   (long)time(NULL) + 99999),
			    "hs256");
	char forged[8192];
	snprintf(forged, sizeof(forged), "%.*s%s", (int)(strrchr(other, '.') - other), other, sig);
	cr_assert_eq(verify(forged), AUTH_SIGNATURE);
	free(t);
}

Test(auth, shapes)
{
	const char *p = claims("\"sub\":\"%s\",\"aud\":\"authenticated\",\"exp\":%ld", user,
			       (long)time(NULL) + 600);
	char *t = strdup(token(secret, HS256, p, "hs256"));
	char buf[8192];

	cr_assert_eq(verify(""), AUTH_MISSING);
	snprintf(buf, sizeof(buf), "%.*s", (int)(strrchr(t, '.') - t), t);
	cr_assert_eq(verify(buf), AUTH_MALFORMED, "two segments");
	snprintf(buf, sizeof(buf), "%s.AAAA", t);
	cr_assert_eq(verify(buf), AUTH_MALFORMED, "four segments");
	snprintf(buf, sizeof(buf), "%s", t);
	buf[5] = '+';
	cr_assert_eq(verify(buf), AUTH_MALFORMED, "standard base64, not base64url");
	snprintf(buf, sizeof(buf), "%s=", t);
	cr_assert_eq(verify(buf), AUTH_MALFORMED, "padding");
	cr_assert_eq(verify("not a token"), AUTH_MALFORMED);
	cr_assert_eq(verify("e30.e30.e30"), AUTH_ALGORITHM, "{} header");
	cr_assert_eq(verify("bm90anNvbg.e30.AAAA"), AUTH_MALFORMED, "header not JSON");
	free(t);
}

Test(auth, audience_and_issuer)
{
	long exp = (long)time(NULL) + 600;
	cr_assert_eq(verify(token(secret, HS256,
				  claims("\"sub\":\"%s\",\"aud\":\"anon\",\"exp\":%ld", user, exp),
				  "hs256")),
		     AUTH_AUDIENCE);
	cr_assert_eq(verify(token(secret, HS256, claims("\"sub\":\"%s\",\"exp\":%ld", user, exp),
				  "hs256")),
		     AUTH_AUDIENCE, "aud missing");
	cfg.jwt_issuer = "https://good.supabase.co/auth/v1";
	cr_assert_eq(verify(token(secret, HS256,
				  claims("\"sub\":\"%s\",\"aud\":\"authenticated\",\"exp\":%ld,"
					 "\"iss\":\"https://evil.supabase.co/auth/v1\"",
					 user, exp),
				  "hs256")),
		     AUTH_ISSUER);
	cr_assert_eq(verify(token(secret, HS256,
				  claims("\"sub\":\"%s\",\"aud\":\"authenticated\",\"exp\":%ld,"
					 "\"iss\":\"https://good.supabase.co/auth/v1\"",
					 user, exp),
				  "hs256")),
		     AUTH_OK);
}

Test(auth, subject_required)
{
	long exp = (long)time(NULL) + 600;
	cr_assert_eq(verify(token(secret, HS256,
				  claims("\"aud\":\"authenticated\",\"exp\":%ld", exp), "hs256")),
		     AUTH_NOT_USER, "sub missing");
	cr_assert_eq(verify(token(secret, HS256,
				  claims("\"sub\":\"\",\"aud\":\"authenticated\",\"exp\":%ld", exp),
				  "hs256")),
		     AUTH_NOT_USER, "sub empty");
	/* Supabase project API keys: valid HS256 tokens, but no user */
	char anon[512], service[512];
	snprintf(anon, sizeof(anon),
		 "{\"iss\":\"supabase\",\"ref\":\"abcdefghijklmnop\",\"role\":\"anon\","
		 "\"iat\":1700000000,\"exp\":%ld}",
		 exp);
	snprintf(service, sizeof(service),
		 "{\"iss\":\"supabase\",\"ref\":\"abcdefghijklmnop\",\"role\":\"service_role\","
		 "\"iat\":1700000000,\"exp\":%ld,\"aud\":\"authenticated\"}",
		 exp);
	cr_assert_neq(verify(token(secret, HS256, anon, "hs256")), AUTH_OK, "anon key");
	cr_assert_eq(verify(token(secret, HS256, service, "hs256")), AUTH_NOT_USER,
		     "service_role key");
}

Test(auth, oversized_tokens_are_refused_before_parsing)
{
	size_t sizes[] = {9 * 1024, 8 * 1024 * 1024};
	for (size_t i = 0; i < 2; i++) {
		char *big = malloc(sizes[i] + 1);
		memset(big, 'A', sizes[i]);
		memcpy(big, "eyJhbGciOiJIUzI1NiJ9.", 21);
		big[sizes[i] - 10] = '.';
		big[sizes[i]] = '\0';
		cr_assert_eq(verify(big), AUTH_TOO_LARGE);
		free(big);
	}
}
