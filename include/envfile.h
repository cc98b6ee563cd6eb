/*
 * envfile: reads a file in systemd EnvironmentFile= syntax, so the same file
 * serves the systemd unit, `make run` and the tests.
 *
 * Syntax (as systemd): KEY=VALUE per line; blank lines and lines starting
 * with '#' or ';' are comments; '#' inside a value is part of the value;
 * single quotes are literal; in double quotes \" \\ \$ \` are escapes;
 * unquoted trailing whitespace is dropped; a trailing backslash continues
 * the line.
 */
#ifndef PIXELCRAFT_ENVFILE_H
#define PIXELCRAFT_ENVFILE_H

#include <stddef.h>

/*
 * Parses `text` and calls set(key, value, arg) for every assignment, in file
 * order. Returns 0, or -1 with a message naming the line in err (the callback
 * returning non-zero also stops with -1).
 */
int envfile_parse(const char *text, int (*set)(const char *key, const char *value, void *arg),
		  void *arg, char *err, size_t errlen);

/*
 * Reads the file at path and exports every variable that is not already set
 * in the process environment (the environment wins, so a test or an operator
 * can override one value). A key assigned twice in the file takes the later
 * value, as under systemd. Returns 0, or -1 with a message in err.
 */
int envfile_load(const char *path, char *err, size_t errlen);

#endif
