/*
 * fuzz.h: what the libFuzzer harnesses of tests/fuzz/ share: a worker
 * configuration loaded through config_load() from a fixed environment (so the
 * harnesses see the defaults and validation of the real worker), and a few
 * helpers to cut the fuzzer's bytes into pieces. Header-only: each harness is
 * one program (scripts/fuzz.sh, make fuzz-build).
 */
#ifndef PIXELCRAFT_FUZZ_H
#define PIXELCRAFT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

extern char **environ;

/* The HS256 secret of the fixed configuration (64 characters). */
#define FUZZ_SECRET "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The fixed environment of the harnesses' worker configuration. */
static char *fuzz_env[] = {
	"DATABASE_URL=postgresql://pixelcraft:secret@127.0.0.1:5432/pixelcraft",
	"REDIS_URL=redis://:secret@127.0.0.1:6379/0",
	"SUPABASE_JWT_SECRET=" FUZZ_SECRET,
	"JWT_ISSUER=https://fuzz.supabase.co/auth/v1",
	"TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1,::1,fd00::/8",
	"CORS_ORIGINS=https://app.example.com,http://localhost:5173",
	"MAX_BODY_BYTES=4096",
	"LOG_LEVEL=error",
	NULL,
};

/*
 * Runs config_load() with envp as the whole process environment (environ is
 * swapped, not modified, so nothing accumulates across runs). Returns what
 * config_load returns; errs as there.
 */
static inline int fuzz_config_load(char **envp, struct config *cfg, struct config_error **errs,
				   int *nerrs)
{
	char **saved = environ;

	environ = envp;
	int rc = config_load(cfg, errs, nerrs);
	environ = saved;
	return rc;
}

/* The fixed configuration, loaded once; aborts if it does not validate. */
static inline const struct config *fuzz_config(void)
{
	static struct config cfg;
	static int loaded;

	if (!loaded) {
		struct config_error *errs = NULL;
		int nerrs = 0;
		if (fuzz_config_load(fuzz_env, &cfg, &errs, &nerrs) != 0) {
			for (int i = 0; i < nerrs; i++)
				fprintf(stderr, "fuzz config: %s: %s\n", errs[i].name,
					errs[i].message);
			abort();
		}
		config_errors_free(errs, nerrs);
		loaded = 1;
	}
	return &cfg;
}

/* A sink for output the harnesses produce but do not check. */
static inline FILE *fuzz_devnull(void)
{
	static FILE *f;

	if (f == NULL)
		f = fopen("/dev/null", "w");
	return f;
}

/*
 * Cuts data at the next byte `sep`: *piece and *len get the part before it, and
 * data/size are advanced past the separator. Returns 0 when nothing is left.
 */
static inline int fuzz_next(const uint8_t **data, size_t *size, uint8_t sep, const char **piece,
			    size_t *len)
{
	if (*size == 0)
		return 0;
	const uint8_t *p = memchr(*data, sep, *size);
	size_t n = p ? (size_t)(p - *data) : *size;
	*piece = (const char *)*data;
	*len = n;
	*data += p ? n + 1 : n;
	*size -= p ? n + 1 : n;
	return 1;
}

/* A NUL-terminated heap copy of data[0..len) (the harness frees it). */
static inline char *fuzz_strndup(const void *data, size_t len)
{
	char *s = malloc(len + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

#endif
