/*
 * envfile: a parser for systemd's EnvironmentFile= format. It follows
 * systemd's rules rather than the shell's: notably a '#' after a value is
 * not a comment, which is what broke the old backend's .env under systemd.
 */
#include "envfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Growable buffer for one key or value. */
struct envfile_buf {
	char *s;
	size_t len, cap;
};

static int envfile_put(struct envfile_buf *b, char c)
{
	if (b->len + 1 >= b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		char *s = realloc(b->s, cap);
		if (s == NULL)
			return -1;
		b->s = s;
		b->cap = cap;
	}
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
	return 0;
}

static bool envfile_key_ok(const char *k)
{
	if (!(isalpha((unsigned char)*k) || *k == '_'))
		return false;
	for (; *k; k++)
		if (!(isalnum((unsigned char)*k) || *k == '_'))
			return false;
	return true;
}

int envfile_parse(const char *text, int (*set)(const char *key, const char *value, void *arg),
		  void *arg, char *err, size_t errlen)
{
	struct envfile_buf key = {0}, val = {0};
	const char *p = text;
	int line = 1, rc = -1;

	while (*p != '\0') {
		int start_line = line;
		key.len = val.len = 0;
		if (key.s != NULL)
			key.s[0] = '\0';
		if (val.s != NULL)
			val.s[0] = '\0';
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			if (*p == '\n')
				line++;
			p++;
		}
		if (*p == '\0')
			break;
		start_line = line;
		if (*p == '#' || *p == ';') {
			while (*p != '\0' && *p != '\n')
				p++;
			continue;
		}
		while (*p != '\0' && *p != '=' && *p != '\n')
			if (envfile_put(&key, *p++) < 0)
				goto oom;
		while (key.len > 0 && isspace((unsigned char)key.s[key.len - 1]))
			key.s[--key.len] = '\0';
		if (*p != '=' || key.len == 0 || !envfile_key_ok(key.s)) {
			snprintf(err, errlen, "line %d: expected KEY=VALUE", start_line);
			goto out;
		}
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		/* value: a sequence of quoted and unquoted pieces up to end of line */
		size_t keep = 0; /* length that trailing-whitespace trimming must not cut */
		while (*p != '\0' && *p != '\n') {
			if (*p == '\'') {
				for (p++; *p != '\''; p++) {
					if (*p == '\0') {
						snprintf(err, errlen, "line %d: unterminated quote",
							 start_line);
						goto out;
					}
					if (*p == '\n')
						line++;
					if (envfile_put(&val, *p) < 0)
						goto oom;
				}
				p++;
				keep = val.len;
			} else if (*p == '"') {
				for (p++; *p != '"'; p++) {
					if (*p == '\0') {
						snprintf(err, errlen, "line %d: unterminated quote",
							 start_line);
						goto out;
					}
					if (*p == '\\' && p[1] == '\n') {
						p++;
						line++;
						continue;
					}
					if (*p == '\\' && p[1] != '\0' && strchr("\"\\`$", p[1]))
						p++;
					if (*p == '\n')
						line++;
					if (envfile_put(&val, *p) < 0)
						goto oom;
				}
				p++;
				keep = val.len;
			} else if (*p == '\\') {
				p++;
				if (*p == '\n') { /* continuation */
					p++;
					line++;
					continue;
				}
				if (*p == '\0')
					break;
				if (envfile_put(&val, *p++) < 0)
					goto oom;
				keep = val.len;
			} else {
				if (envfile_put(&val, *p++) < 0)
					goto oom;
			}
		}
		while (val.len > keep && isspace((unsigned char)val.s[val.len - 1]))
			val.s[--val.len] = '\0';
		if (set(key.s, val.s ? val.s : "", arg) != 0) {
			snprintf(err, errlen, "line %d: cannot set %s", start_line, key.s);
			goto out;
		}
	}
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	free(key.s);
	free(val.s);
	return rc;
}

/* The keys envfile_load has set so far (a file has a few dozen). */
struct envfile_own {
	char **keys;
	size_t n, cap;
};

/*
 * Exports one assignment: a key from the process environment is left alone;
 * a key the file already set is overwritten (the last assignment wins, as
 * under systemd).
 */
static int envfile_setenv(const char *key, const char *value, void *arg)
{
	struct envfile_own *own = arg;

	for (size_t i = 0; i < own->n; i++)
		if (strcmp(own->keys[i], key) == 0)
			return setenv(key, value, 1);
	if (getenv(key) != NULL)
		return 0;
	if (own->n == own->cap) {
		size_t cap = own->cap ? own->cap * 2 : 32;
		char **keys = realloc(own->keys, cap * sizeof(*keys));
		if (keys == NULL)
			return -1;
		own->keys = keys;
		own->cap = cap;
	}
	if ((own->keys[own->n] = strdup(key)) == NULL)
		return -1;
	own->n++;
	return setenv(key, value, 1);
}

int envfile_load(const char *path, char *err, size_t errlen)
{
	FILE *f = NULL;
	char *text = NULL;
	size_t len = 0;
	struct envfile_own own = {0};
	int rc = -1;

	f = fopen(path, "re");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	text = malloc(1 << 20);
	if (text == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	len = fread(text, 1, (1 << 20) - 1, f);
	if (!feof(f)) {
		snprintf(err, errlen, "%s: larger than 1 MiB", path);
		goto out;
	}
	text[len] = '\0';
	char inner[200];
	if (envfile_parse(text, envfile_setenv, &own, inner, sizeof(inner)) < 0) {
		snprintf(err, errlen, "%s: %s", path, inner);
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < own.n; i++)
		free(own.keys[i]);
	free(own.keys);
	free(text);
	if (f != NULL)
		fclose(f);
	return rc;
}
