/*
 * fuzz_auth: token verification (auth_verify) with the fixed configuration's
 * secret, audience and issuer.
 *
 * Two kinds of input, so that the claim checks behind the signature are
 * reached too:
 *   - starting with '{': "HEADER-JSON\nPAYLOAD-JSON"; the harness encodes both
 *     as base64url, signs them with HS256 and the configured secret, and
 *     verifies that token, then the same token with a wrong signature (which
 *     must never be accepted);
 *   - anything else: the bearer token as sent.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "fuzz.h"

/* A fixed "now" (2027-01-15) so that runs are reproducible. */
#define NOW 1800000000

static size_t b64url(const uint8_t *in, size_t len, char *out)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[n++] = abc[v >> 18 & 63];
		out[n++] = abc[v >> 12 & 63];
		if (i + 1 < len)
			out[n++] = abc[v >> 6 & 63];
		if (i + 2 < len)
			out[n++] = abc[v & 63];
	}
	out[n] = '\0';
	return n;
}

static void verify(const struct config *cfg, const char *token, bool may_pass)
{
	struct auth_claims claims;

	memset(&claims, 0, sizeof(claims));
	enum auth_fail rc = auth_verify(cfg, token, NOW, &claims);
	if ((int)rc < 0 || rc >= AUTH__MAX)
		abort();
	if (rc == AUTH_OK) {
		if (!may_pass)
			abort(); /* accepted with a wrong signature */
		/* a user token names its user and expires in the future (leeway) */
		if (strlen(claims.sub) != 36 || claims.exp + cfg->jwt_leeway_seconds < NOW)
			abort();
	}
	if (strlen(token) > AUTH_MAX_TOKEN && rc != AUTH_TOO_LARGE)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct config *cfg = fuzz_config();

	if (size > 0 && data[0] == '{') {
		const uint8_t *nl = memchr(data, '\n', size);
		size_t hlen = nl ? (size_t)(nl - data) : size;
		size_t plen = nl ? size - hlen - 1 : 0;
		char *tok = malloc((hlen + plen) * 4 / 3 + 80);
		if (tok == NULL)
			abort();
		size_t n = b64url(data, hlen, tok);
		tok[n++] = '.';
		n += b64url(nl ? nl + 1 : data, plen, tok + n);
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int maclen = 0;
		HMAC(EVP_sha256(), FUZZ_SECRET, (int)strlen(FUZZ_SECRET), (unsigned char *)tok, n,
		     mac, &maclen);
		tok[n++] = '.';
		size_t sig = n;
		n += b64url(mac, maclen, tok + n);
		verify(cfg, tok, true);
		tok[sig] = tok[sig] == 'A' ? 'B' : 'A'; /* a wrong signature */
		verify(cfg, tok, false);
		free(tok);
		return 0;
	}
	char *token = fuzz_strndup(data, size);
	verify(cfg, token, true);
	free(token);
	return 0;
}
