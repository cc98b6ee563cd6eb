/*
 * token: mints Supabase-shaped HS256 access tokens for tests, benchmarks and
 * smoke tests, with OpenSSL's HMAC, independently of libjwt. Never linked
 * into the product.
 */
#ifndef PIXELCRAFT_TEST_TOKEN_H
#define PIXELCRAFT_TEST_TOKEN_H

/*
 * A token for user `sub` (a UUID) valid for ttl seconds from now (negative:
 * already expired), signed with secret. extra is inserted into the payload
 * as JSON members ("\"email\":\"a@b.c\"") or NULL. Caller frees.
 */
char *token_mint(const char *secret, const char *sub, long ttl, const char *extra);

/* A random version 4 UUID (37 bytes with NUL). */
void token_uuid(char out[37]);

#endif
