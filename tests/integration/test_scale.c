/*
 * Integration: scale-out beyond one machine (ops/SCALE_OUT.md), by the
 * scripts of tests/scale/ against the test stack. scale-out.sh: two
 * application hosts in their own network namespaces behind an nginx load
 * balancer, PgBouncer in session mode in front of the stack's Postgres, a
 * Redis of its own (also holding nchan's live-update channels) and a
 * streaming replica for the analytics. The scripts print one line per check;
 * they are logged here. They do not depend on the front end under test (the
 * hosts and the balancer are nginx), so they run in the nginx pass only.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Runs tests/scale/SCRIPT against the test stack, logs its check lines and
 * asserts that every check passed and the test stack still answers. */
static void run_scale_script(const char *script)
{
	char cmd[1024];
	int st;

	if (strcmp(need_env("FRONT"), "nginx") != 0)
		cr_skip_test("front-end independent: runs in the nginx pass");
	snprintf(cmd, sizeof(cmd), "%s/tests/scale/%s %s 2>&1", need_env("PROJECT_ROOT"), script,
		 need_env("STACK_DIR"));
	char *out = run_capture(cmd, &st);
	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n"))
		if (strncmp(line, "ok", 2) == 0 || strncmp(line, "#", 1) == 0 ||
		    strstr(line, "FAIL") != NULL || strstr(line, "checks,") != NULL)
			cr_log_info("%s", line);
	cr_assert_eq(st, 0, "tests/scale/%s failed (exit %d)", script, st);
	free(out);

	/* the test stack is untouched: its own host still answers */
	struct http *r = http_get("/health/ready");
	cr_assert_eq(r->status, 200);
	http_free(r);
}

Test(scale, two_hosts_pgbouncer_replica, .timeout = 240)
{
	run_scale_script("scale-out.sh");
}

/*
 * The Redis failover of ops/SCALE_OUT.md, section 3, by
 * tests/scale/redis-failover.sh: primary and replica in their own network
 * namespaces on a bridge, three Sentinels moving the virtual address with
 * ops/redis-failover-vip.sh, and an application host reaching Redis only
 * through that address. The primary is killed under load, then a switchover
 * back; nginx pass only, like the test above.
 */
Test(scale, redis_sentinel_failover, .timeout = 150)
{
	run_scale_script("redis-failover.sh");
}
