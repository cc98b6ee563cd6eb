/*
 * Integration: the operations scripts against the test stack: encrypted
 * backup and restore round trip (tests/ops/backup-roundtrip.sh), TLS
 * (tests/ops/tls.sh), the backup monitor (tests/ops/monitor-backups.sh),
 * and the scripts with stacks of their own (short faults, slow clients).
 * They do not depend on the front end under test, so they run in the
 * nginx pass only.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static void run_script(const char *script, bool with_stack)
{
	char cmd[1024];
	int st;

	if (strcmp(need_env("FRONT"), "nginx") != 0)
		cr_skip_test("front-end independent: runs in the nginx pass");
	snprintf(cmd, sizeof(cmd), "%s/tests/ops/%s %s 2>&1", need_env("PROJECT_ROOT"), script,
		 with_stack ? need_env("STACK_DIR") : "");
	char *out = run_capture(cmd, &st);
	/* the scripts print one line per check and their measurements */
	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n"))
		if (strncmp(line, "#", 1) == 0 || strstr(line, "FAIL") != NULL ||
		    strstr(line, "checks,") != NULL)
			cr_log_info("%s", line);
	cr_assert_eq(st, 0, "%s failed (exit %d)", script, st);
	free(out);
}

Test(ops, backup_restore_round_trip, .timeout = 300)
{
	run_script("backup-roundtrip.sh", true);
	/* the stack works again afterwards */
	struct http *r = http_get("/health/ready");
	for (int i = 0; i < 50 && r->status != 200; i++) {
		http_free(r);
		usleep(100000);
		r = http_get("/health/ready");
	}
	cr_assert_eq(r->status, 200);
	http_free(r);
}

Test(ops, tls, .timeout = 120)
{
	run_script("tls.sh", true);
}

Test(ops, grafana_dashboard, .timeout = 60)
{
	run_script("grafana.sh", true);
}

Test(ops, backup_monitor, .timeout = 60)
{
	run_script("monitor-backups.sh", false);
}

/* scripts/smoke-test.sh against the stack: passes; with Postgres stopped it
 * fails and names the check. (Runs in both passes: it goes through the front end.) */
Test(ops, smoke_test, .timeout = 120)
{
	char cmd[1024], *token = user_token(NULL, NULL, 600);
	int st;

	snprintf(cmd, sizeof(cmd), "SMOKE_TOKEN=%s %s/scripts/smoke-test.sh %s 2>&1", token,
		 need_env("PROJECT_ROOT"), need_env("BASE_URL"));
	char *out = run_capture(cmd, &st);
	cr_assert_eq(st, 0, "smoke test failed against a healthy stack:\n%s", out);
	cr_assert_not_null(strstr(out, "ok    GET /api/me with SMOKE_TOKEN"), "%s", out);
	cr_assert_not_null(strstr(out, " 0 failed"), "%s", out);
	free(out);

	cr_assert_eq(stack("pg-stop", "fast"), 0);
	out = run_capture(cmd, &st);
	stack("pg-start", NULL);
	cr_assert_neq(st, 0, "smoke test passed with Postgres stopped:\n%s", out);
	cr_assert_not_null(strstr(out, "FAIL  GET /health is healthy: status 503"), "%s", out);
	cr_assert_not_null(strstr(out, "FAIL  POST /api/chat/message replies"), "%s", out);
	free(out);
	free(token);
	wait_all_workers_ready();
}

/* A script of scripts/ that starts a stack of its own (nginx pass only);
 * its lines are logged but for per-second tables, and a failure names the
 * script's FAIL lines. */
static void run_own_stack(const char *script_and_args)
{
	char cmd[1024], fails[4096] = "";
	int st;

	if (strcmp(need_env("FRONT"), "nginx") != 0)
		cr_skip_test("front-end independent: runs in the nginx pass");
	snprintf(cmd, sizeof(cmd), "cd %s && %s 2>&1", need_env("PROJECT_ROOT"), script_and_args);
	char *out = run_capture(cmd, &st);
	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		if (strncmp(line, "      t=", 8) != 0)
			cr_log_info("%s", line);
		if (strncmp(line, "FAIL", 4) == 0 && strlen(fails) + strlen(line) + 2 < sizeof(fails))
			strcat(strcat(fails, "\n"), line);
	}
	cr_assert_eq(st, 0, "%s failed:%s", script_and_args, fails);
	free(out);
}

/* The short form of scripts/faults.sh (make faults runs all eight): kill -9
 * of one worker, a Postgres restart, Redis killed and back, each under chat
 * load on a stack of its own, with the nothing-lost checks. Timing targets
 * are printed; only five times a target (a hang) fails here. */
Test(ops, faults_short, .timeout = 600)
{
	run_own_stack("SHORT=1 TIMES=report scripts/faults.sh kill1 pgrestart redis");
}

/* Slow clients (slowhttptest, 30 s, three modes) beside normal ones: the
 * others get no errors, no worker is lost; their p99 and throughput are
 * printed (make slow-clients checks them as targets). */
Test(ops, slow_clients, .timeout = 300)
{
	run_own_stack("TIMES=report scripts/slow-clients.sh");
}
