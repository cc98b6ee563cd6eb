/* token: test-only HS256 token minting (see token.h). */
#include "token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static void token_b64url(const unsigned char *in, size_t len, char *out)
{
	int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

char *token_mint(const char *secret, const char *sub, long ttl, const char *extra)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char payload[4096], h64[128], p64[6000], signing[6200], s64[64];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	long now = (long)time(NULL);

	snprintf(payload, sizeof(payload),
		 "{\"aud\":\"authenticated\",\"exp\":%ld,\"iat\":%ld,\"sub\":\"%s\","
		 "\"role\":\"authenticated\",\"aal\":\"aal1\",\"is_anonymous\":false%s%s}",
		 now + ttl, now - 5, sub, extra ? "," : "", extra ? extra : "");
	token_b64url((const unsigned char *)header, strlen(header), h64);
	token_b64url((const unsigned char *)payload, strlen(payload), p64);
	snprintf(signing, sizeof(signing), "%s.%s", h64, p64);
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signing,
	     strlen(signing), mac, &maclen);
	token_b64url(mac, maclen, s64);
	char *out = malloc(strlen(signing) + strlen(s64) + 2);
	sprintf(out, "%s.%s", signing, s64);
	return out;
}

void token_uuid(char out[37])
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		abort();
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}
