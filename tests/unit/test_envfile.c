/* Unit tests for envfile: systemd EnvironmentFile= syntax. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "envfile.h"

struct kvs {
	char k[16][64];
	char v[16][256];
	int n;
};

static int collect(const char *key, const char *value, void *arg)
{
	struct kvs *s = arg;
	snprintf(s->k[s->n], sizeof(s->k[0]), "%s", key);
	snprintf(s->v[s->n], sizeof(s->v[0]), "%s", value);
	s->n++;
	return 0;
}

Test(envfile, systemd_rules)
{
	const char *text = "# comment\n"
			   "; also a comment\n"
			   "\n"
			   "A=plain\n"
			   "  B = spaced value   \n"
			   "C=has#hash # not a comment\n"
			   "D=\"double \\\"quoted\\\" $x\"\n"
			   "E='single \\n kept'\n"
			   "F=line\\\n"
			   "continued\n"
			   "G=\n"
			   "H=postgresql://u:p#w@h/db\n";
	struct kvs s = {0};
	char err[128] = "";

	cr_assert_eq(envfile_parse(text, collect, &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.n, 8);
	cr_assert_str_eq(s.k[0], "A");
	cr_assert_str_eq(s.v[0], "plain");
	cr_assert_str_eq(s.k[1], "B");
	cr_assert_str_eq(s.v[1], "spaced value");
	cr_assert_str_eq(s.v[2], "has#hash # not a comment");
	cr_assert_str_eq(s.v[3], "double \"quoted\" $x");
	cr_assert_str_eq(s.v[4], "single \\n kept");
	cr_assert_str_eq(s.v[5], "linecontinued");
	cr_assert_str_eq(s.v[6], "");
	cr_assert_str_eq(s.v[7], "postgresql://u:p#w@h/db");
}

Test(envfile, errors_name_the_line)
{
	struct kvs s = {0};
	char err[128] = "";

	cr_assert_eq(envfile_parse("A=1\nnot an assignment\n", collect, &s, err, sizeof(err)), -1);
	cr_assert(strstr(err, "line 2") != NULL, "%s", err);
	cr_assert_eq(envfile_parse("A=\"open\n", collect, &s, err, sizeof(err)), -1);
	cr_assert(strstr(err, "unterminated") != NULL, "%s", err);
	cr_assert_eq(envfile_parse("1BAD=x\n", collect, &s, err, sizeof(err)), -1);
}

Test(envfile, load_keeps_the_environment_and_takes_the_last_assignment)
{
	char path[] = "/tmp/envfile-test-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	char err[128];

	/* a key assigned twice takes the later value, as under systemd (the
	 * units read this file with EnvironmentFile=) */
	fputs("PC_TEST_A=from-file\nPC_TEST_B=first\nPC_TEST_B=from-file#1\nPC_TEST_A=again\n", f);
	fclose(f);
	setenv("PC_TEST_A", "from-env", 1);
	unsetenv("PC_TEST_B");
	cr_assert_eq(envfile_load(path, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(getenv("PC_TEST_A"), "from-env");
	cr_assert_str_eq(getenv("PC_TEST_B"), "from-file#1");
	unlink(path);
	cr_assert_eq(envfile_load(path, err, sizeof(err)), -1);
}
