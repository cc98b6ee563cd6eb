/*
 * Integration: scale-out beyond one machine (ops/SCALE_OUT.md), by
 * tests/scale/scale-out.sh against the test stack: two application hosts in
 * their own network namespaces behind an nginx load balancer, PgBouncer in
 * session mode in front of the stack's Postgres, a Redis of its own and a
 * streaming replica for the analytics. The script prints one line per check;
 * they are logged here. It does not depend on the front end under test
 * (the hosts and the balancer are nginx), so it runs in the nginx pass only.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

Test(scale, two_hosts_pgbouncer_replica, .timeout = 240)
{
	char cmd[1024];
	int st;

	if (strcmp(need_env("FRONT"), "nginx") != 0)
		cr_skip_test("front-end independent: runs in the nginx pass");
	snprintf(cmd, sizeof(cmd), "%s/tests/scale/scale-out.sh %s 2>&1", need_env("PROJECT_ROOT"),
		 need_env("STACK_DIR"));
	char *out = run_capture(cmd, &st);
	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n"))
		if (strncmp(line, "ok", 2) == 0 || strncmp(line, "#", 1) == 0 ||
		    strstr(line, "FAIL") != NULL || strstr(line, "checks,") != NULL)
			cr_log_info("%s", line);
	cr_assert_eq(st, 0, "tests/scale/scale-out.sh failed (exit %d)", st);
	free(out);

	/* the test stack is untouched: its own host still answers */
	struct http *r = http_get("/health/ready");
	cr_assert_eq(r->status, 200);
	http_free(r);
}
