/*
 * Integration: the supervised worker pool (spawn-fcgi + multiwatch): socket
 * permissions, replacement of a killed worker under load, stopping (requests
 * in flight answered, a chat worker's pending rows written).
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

/* The live workers of one pool ("api" or "chat"). */
static int pool_workers(const char *pool, pid_t *out, int max)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s/scripts/stack.sh pool-pids %s %s",
		 need_env("PROJECT_ROOT"), need_env("STACK_DIR"), pool);
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
	int n = pool_workers("api", before, 256);
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
		int m = pool_workers("api", after, 256);
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
	/* the 1-s target is checked by make faults (kill1): timings here are noisy */
	cr_log_info("pool back to %d workers %.0f ms after SIGKILL", expected, back);
	cr_assert(back >= 0, "the killed worker was not replaced within 5 s");

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

/* Sends a signal to every Postgres backend serving our workers. */
static void signal_backends(const char *sig)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "for p in $(%s/scripts/stack.sh psql %s -At -c \"select pid from pg_stat_activity "
		 "where application_name = 'pixelcraft-api'\"); do kill -%s $p; done",
		 need_env("PROJECT_ROOT"), need_env("STACK_DIR"), sig);
	free(run_capture(cmd, NULL));
}

/* SIGTERM to a pool's supervisor (multiwatch passes it on to the workers). */
static void stop_pool(const char *pool)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "cat %s/run/%s-pool.pid", need_env("STACK_DIR"), pool);
	char *pid = run_capture(cmd, NULL);
	cr_assert_eq(kill(atoi(pid), SIGTERM), 0);
	free(pid);
}

/* Whether every one of pids has exited within 5 s of t0. */
static bool all_gone(const pid_t *pids, int n, double t0)
{
	bool gone = false;
	while (!gone && now_ms() - t0 < 5000) {
		gone = true;
		for (int i = 0; i < n; i++)
			if (kill(pids[i], 0) == 0)
				gone = false;
		usleep(20000);
	}
	return gone;
}

static void restart_pool(void)
{
	signal_backends("CONT");
	stack("pool-stop", NULL);
	stack("pool-start", NULL);
}

Test(pool, stop_signal_drains_requests_in_flight, .timeout = 60, .fini = restart_pool)
{
	pid_t before[256], kids[4];
	int fds[4][2];
	int n = pool_workers("api", before, 256);
	cr_assert_gt(n, 0);

	/* Postgres backends frozen: readiness checks wait in the workers */
	signal_backends("STOP");
	usleep(400000); /* past HEALTH_CACHE_MS: every check really goes out */
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(pipe(fds[i]), 0);
		kids[i] = fork();
		if (kids[i] == 0) {
			struct http *r = http_get("/health/ready");
			dprintf(fds[i][1], "%ld\n", r->status);
			_exit(0);
		}
		close(fds[i][1]);
	}
	usleep(300000);
	double t0 = now_ms();
	stop_pool("api");
	usleep(300000);
	signal_backends("CONT");
	for (int i = 0; i < 4; i++) {
		char line[32] = "";
		cr_assert_gt(read(fds[i][0], line, sizeof(line) - 1), 0);
		waitpid(kids[i], NULL, 0);
		cr_assert_eq(atol(line), 200, "request in flight got %s", line);
	}
	cr_assert(all_gone(before, n, t0), "workers still running 5 s after SIGTERM");
	cr_log_info("pool stopped %.0f ms after SIGTERM", now_ms() - t0);
}

/*
 * A chat worker keeps its model calls' model_metrics rows for up to a second
 * and writes them in one statement; a worker told to stop writes what it
 * holds before it exits.
 */
Test(pool, stopping_chat_workers_write_their_pending_rows, .timeout = 60, .fini = restart_pool)
{
	pid_t before[256];
	int n = pool_workers("chat", before, 256);
	cr_assert_gt(n, 0);
	char *since = chat_once("written at exit");
	/* at once: the batch's second has not passed */
	double t0 = now_ms();
	stop_pool("chat");
	cr_assert(all_gone(before, n, t0), "chat workers still running 5 s after SIGTERM");
	int rows = model_metrics_since(since);
	cr_assert_eq(rows, 1, "model_metrics rows of the call: %d", rows);
	free(since);
}
