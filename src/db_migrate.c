/*
 * db_migrate: the schema migration runner (`pixelcraft-api migrate`).
 *
 * Files in MIGRATIONS_DIR named NNN_description.sql are applied in numeric
 * order, each in one transaction together with its row in
 * schema_migrations (version, name, sha256, applied_at). Files hold plain
 * DDL without BEGIN/COMMIT and are written to be re-runnable (IF NOT
 * EXISTS), so a half-applied history can always be completed.
 */
#include "db_priv.h"
#include "config.h"
#include "log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool db_migration_name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len < 9 || !isdigit((unsigned char)n[0]) || !isdigit((unsigned char)n[1]) ||
	    !isdigit((unsigned char)n[2]) || n[3] != '_' || strcmp(n + len - 4, ".sql") != 0)
		return false;
	for (size_t i = 4; i < len - 4; i++)
		if (!(isalnum((unsigned char)n[i]) || n[i] == '_' || n[i] == '-'))
			return false;
	return true;
}

static int db_migration_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *db_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
			*len = fread(buf, 1, (size_t)n, f);
			buf[*len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

/* Applies one file unless it is recorded; 0 / -1. */
static int db_migrate_one(struct db *db, const char *dir, const char *file, FILE *out)
{
	static struct db_stmt lookup = {"migrate_lookup",
					"SELECT checksum FROM schema_migrations WHERE version = $1",
					0};
	char path[4096], version[4], sha[2 * SHA256_DIGEST_LENGTH + 1];
	unsigned char digest[SHA256_DIGEST_LENGTH];
	size_t len = 0;
	char *sql = NULL, *script = NULL;
	PGresult *res = NULL;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	memcpy(version, file, 3);
	version[3] = '\0';
	sql = db_read_file(path, &len);
	if (sql == NULL) {
		fprintf(out, "migrate: cannot read %s: %s\n", path, strerror(errno));
		goto out;
	}
	SHA256((const unsigned char *)sql, len, digest);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(sha + 2 * i, 3, "%02x", digest[i]);
	const char *params[] = {version};
	res = db_exec(db, &lookup, 1, params);
	if (res == NULL)
		goto fail;
	if (PQntuples(res) == 1) {
		if (strcmp(PQgetvalue(res, 0, 0), sha) != 0) {
			fprintf(out,
				"migrate: %s was changed after it was applied (recorded sha256 %s, "
				"file %s); add a new migration instead\n",
				file, PQgetvalue(res, 0, 0), sha);
			goto out;
		}
		fprintf(out, "migrate: %s already applied\n", file);
		rc = 0;
		goto out;
	}
	PQclear(res);
	res = NULL;
	/* file name and checksum are [0-9a-z_-] by construction: safe to inline */
	if (asprintf(&script,
		     "BEGIN; SET LOCAL statement_timeout = 0;\n%s\n;"
		     "INSERT INTO schema_migrations (version, name, checksum) "
		     "VALUES ('%s', '%s', '%s'); COMMIT;",
		     sql, version, file, sha) < 0) {
		script = NULL;
		goto out;
	}
	res = db_exec_sql(db, script);
	if (res == NULL) {
		PGresult *rb = db_exec_sql(db, "ROLLBACK");
		PQclear(rb);
		goto fail;
	}
	fprintf(out, "migrate: applied %s\n", file);
	rc = 0;
	goto out;
fail:
	fprintf(out, "migrate: %s failed: %s\n", file, db->err);
out:
	PQclear(res);
	free(sql);
	free(script);
	return rc;
}

int db_migrate(struct db *db, const char *dir, FILE *out)
{
	DIR *d = NULL;
	char **files = NULL;
	size_t n = 0;
	PGresult *res = NULL;
	int rc = -1;

	if (db_ready(db) < 0) {
		fprintf(out, "migrate: Postgres unavailable: %s\n", db->err);
		return -1;
	}
	res = db_exec_sql(db, "SELECT pg_advisory_lock(7238100542);"
			      "CREATE TABLE IF NOT EXISTS schema_migrations ("
			      " version text PRIMARY KEY, name text NOT NULL,"
			      " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
	if (res == NULL) {
		fprintf(out, "migrate: cannot prepare: %s\n", db->err);
		return -1;
	}
	PQclear(res);
	d = opendir(dir);
	if (d == NULL) {
		fprintf(out, "migrate: cannot open %s: %s\n", dir, strerror(errno));
		goto out;
	}
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (!db_migration_name_ok(e->d_name))
			continue;
		char **grown = realloc(files, (n + 1) * sizeof(*files));
		if (grown == NULL)
			goto out;
		files = grown;
		files[n++] = strdup(e->d_name);
	}
	qsort(files, n, sizeof(*files), db_migration_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strncmp(files[i], files[i - 1], 3) == 0) {
			fprintf(out, "migrate: two migrations numbered %.3s\n", files[i]);
			goto out;
		}
		if (db_migrate_one(db, dir, files[i], out) < 0)
			goto out;
	}
	rc = 0;
out:
	res = db_exec_sql(db, "SELECT pg_advisory_unlock(7238100542)");
	PQclear(res);
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	if (d != NULL)
		closedir(d);
	return rc;
}
