/*
 * Integration: the supervised worker pool (spawn-fcgi + multiwatch): socket
 * permissions, replacement of a killed worker under load.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static int workers(pid_t *out, int max)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s/scripts/stack.sh pool-pids %s api",
		 need_env("PROJECT_ROOT"), need_env("STACK_DIR"));
	char *s = run_capture(cmd, NULL);
	int n = 0;
	for (char *p = strtok(s, "\n"); p && n < max; p = strtok(NULL, "\n"))
		out[n++] = atoi(p);
	free(s);
	return n;
}

Test(pool, socket_is_only_for_the_web_server_group)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/run/api.sock", need_env("STACK_DIR"));
	cr_assert_eq(stat(path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0660, "mode %o", st.st_mode & 0777);
	if (getuid() == 0) {
		struct group *g = getgrgid(st.st_gid);
		cr_assert_str_eq(g->gr_name, "www-data");
	}
}

Test(pool, killed_worker_is_replaced_under_load, .timeout = 60)
{
	pid_t before[256], after[256];
	int n = workers(before, 256);
	int expected = atoi(need_env("WORKERS"));
	cr_assert_eq(n, expected, "pool has %d workers, expected %d", n, expected);

	/* a stream of requests from a child process while a worker dies */
	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	pid_t child = fork();
	if (child == 0) {
		close(pipefd[0]);
		int ok = 0, bad = 0;
		double end = now_ms() + 2500;
		while (now_ms() < end) {
			struct http *r = http_get("/health/live");
			if (r->status == 200)
				ok++;
			else
				bad++;
			http_free(r);
		}
		dprintf(pipefd[1], "%d %d\n", ok, bad);
		_exit(0);
	}
	close(pipefd[1]);
	usleep(300000);
	double t0 = now_ms();
	cr_assert_eq(kill(before[0], SIGKILL), 0);
	/* back to N workers (the dead one replaced by a new pid) */
	double back = -1;
	while (now_ms() - t0 < 5000) {
		int m = workers(after, 256);
		bool replaced = m == expected;
		for (int i = 0; i < m; i++)
			if (after[i] == before[0])
				replaced = false;
		if (replaced) {
			back = now_ms() - t0;
			break;
		}
		usleep(10000);
	}
	cr_log_info("pool back to %d workers %.0f ms after SIGKILL", expected, back);
	cr_assert(back >= 0 && back <= 1000, "pool back after %.0f ms", back);

	char line[64] = "";
	cr_assert_gt(read(pipefd[0], line, sizeof(line) - 1), 0);
	waitpid(child, NULL, 0);
	int ok = 0, bad = 0;
	sscanf(line, "%d %d", &ok, &bad);
	cr_log_info("during the kill: %d ok, %d failed", ok, bad);
	cr_assert_gt(ok, 50);
	cr_assert_leq(bad, 1, "at most the killed worker's request fails (%d failed)", bad);

	for (int i = 0; i < 50; i++) {
		struct http *r = http_get("/health/live");
		cr_assert_eq(r->status, 200);
		http_free(r);
	}
}
