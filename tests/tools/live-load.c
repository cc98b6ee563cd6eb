/*
 * live-load: holds thousands of live subscribers (half WebSocket, half
 * EventSource) on nginx's nchan, publishes one event per user channel and a
 * number of analytics events to nchan's publisher, and reports delivery and
 * publish-to-receive latency, plus nginx memory per connection. Used by
 * scripts/ws-load.sh; test code, never part of the product.
 *
 *   live-load --port P --internal-port I --users FILE --admins FILE
 *             [--analytics N] [--nginx-pids PID,PID,...] [--timeout S] [--hold S]
 *
 * With --hold S it only connects the subscribers and keeps them (answering
 * pings) for S seconds: the benchmark measures other routes meanwhile.
 *
 * FILE lines are "<user id> <token>" (build/pc-token --many-with-ids).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "livesub.h"

struct sub {
	struct livesub *s;
	char uid[64];
	bool admin;
	int got;
};

static int opt_port, opt_internal, opt_analytics = 100, opt_timeout = 60, opt_hold;
static const char *opt_users, *opt_admins, *opt_pids;
static struct sub *subs;
static int nsubs, nusers;
static long *latencies; /* microseconds */
static long nlat, caplat;
static long delivered;

static long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

/* Sum of VmRSS (kB) of the listed processes. */
static long rss_kb(void)
{
	long total = 0;
	char list[4096], path[64], line[256];

	if (opt_pids == NULL)
		return 0;
	snprintf(list, sizeof(list), "%s", opt_pids);
	for (char *p = strtok(list, ","); p; p = strtok(NULL, ",")) {
		snprintf(path, sizeof(path), "/proc/%s/status", p);
		FILE *f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (strncmp(line, "VmRSS:", 6) == 0)
				total += atol(line + 6);
		if (f)
			fclose(f);
	}
	return total;
}

static void load(const char *file, bool admin)
{
	FILE *f = fopen(file, "r");
	char uid[64], token[4096];

	if (f == NULL) {
		perror(file);
		exit(2);
	}
	while (fscanf(f, "%63s %4095s", uid, token) == 2) {
		subs = realloc(subs, (size_t)(nsubs + 1) * sizeof(*subs));
		struct sub *s = &subs[nsubs];
		memset(s, 0, sizeof(*s));
		snprintf(s->uid, sizeof(s->uid), "%s", uid);
		s->admin = admin;
		char target[4400];
		snprintf(target, sizeof(target), "/api/ws/%s?token=%s",
			 admin ? "analytics" : "notifications", token);
		int st;
		s->s = livesub_open(opt_port, target, nsubs % 2 ? LIVESUB_SSE : LIVESUB_WS, NULL,
				    false, &st);
		if (s->s == NULL) {
			fprintf(stderr, "live-load: cannot open subscriber %d\n", nsubs);
			exit(1);
		}
		nsubs++;
		if (!admin)
			nusers++;
	}
	fclose(f);
}

static void on_message(void *arg, const char *data, const char *id)
{
	struct sub *s = arg;
	const char *p = strstr(data, "\"sent_us\":");
	(void)id;
	if (p == NULL)
		return;
	long lat = now_us() - atol(p + 10);
	s->got++;
	delivered++;
	if (nlat == caplat) {
		caplat = caplat ? caplat * 2 : 65536;
		latencies = realloc(latencies, (size_t)caplat * sizeof(*latencies));
	}
	latencies[nlat++] = lat;
}

/* ---- the publisher: keep-alive HTTP/1.1 POSTs to nchan ----------------- */

static int pub_connect(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_internal)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("live-load: publisher connect");
		exit(1);
	}
	return fd;
}

static int pub_post(int fd, const char *channel, const char *body)
{
	char req[2048], resp[4096];
	int n = snprintf(req, sizeof(req),
			 "POST /pub/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n%s",
			 channel, strlen(body), body);
	if (write(fd, req, (size_t)n) != n)
		return -1;
	/* read the whole answer: headers, then Content-Length bytes */
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, resp + len, sizeof(resp) - 1 - len);
		if (r <= 0)
			return -1;
		len += (size_t)r;
		resp[len] = '\0';
		char *end = strstr(resp, "\r\n\r\n");
		if (end == NULL)
			continue;
		char *cl = strcasestr(resp, "Content-Length:");
		size_t want = (size_t)(end + 4 - resp) + (cl && cl < end ? (size_t)atol(cl + 15) : 0);
		if (len >= want)
			break;
	}
	int code = 0;
	sscanf(resp, "HTTP/1.1 %d", &code);
	return code;
}

struct pub_job {
	int from, to; /* user subscriber indexes */
	int analytics;
	int failed;
};

/* Posts one event, reconnecting once when nginx closed the keep-alive
 * connection (it does after keepalive_requests). */
static int pub_send(int *fd, const char *channel, const char *body)
{
	int code = pub_post(*fd, channel, body);
	if (code < 0) {
		close(*fd);
		*fd = pub_connect();
		code = pub_post(*fd, channel, body);
	}
	return code;
}

static void *publisher(void *arg)
{
	struct pub_job *j = arg;
	int fd = pub_connect();
	char channel[96], body[512];

	for (int i = j->from; i < j->to; i++) {
		snprintf(channel, sizeof(channel), "notifications:%s", subs[i].uid);
		snprintf(body, sizeof(body),
			 "{\"event_type\":\"notification_created\",\"data\":{\"recipient_id\":\"%s\","
			 "\"notification_type\":\"system\",\"title\":\"Load test\",\"sent_us\":%ld}}",
			 subs[i].uid, now_us());
		int code = pub_send(&fd, channel, body);
		if (code < 200 || code >= 300)
			j->failed++;
	}
	for (int k = 0; k < j->analytics; k++) {
		snprintf(body, sizeof(body),
			 "{\"event_type\":\"message_created\",\"data\":{\"seq\":%d,\"sent_us\":%ld}}", k,
			 now_us());
		int code = pub_send(&fd, "analytics", body);
		if (code < 200 || code >= 300)
			j->failed++;
		usleep(10000); /* a realistic trickle, not a burst */
	}
	close(fd);
	return NULL;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			opt_port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--internal-port") == 0)
			opt_internal = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--users") == 0)
			opt_users = argv[i + 1];
		else if (strcmp(argv[i], "--admins") == 0)
			opt_admins = argv[i + 1];
		else if (strcmp(argv[i], "--analytics") == 0)
			opt_analytics = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--nginx-pids") == 0)
			opt_pids = argv[i + 1];
		else if (strcmp(argv[i], "--timeout") == 0)
			opt_timeout = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--hold") == 0)
			opt_hold = atoi(argv[i + 1]);
	}
	if (!opt_port || !opt_internal || !opt_users || !opt_admins) {
		fprintf(stderr, "usage: live-load --port P --internal-port I --users F --admins F "
				"[--analytics N] [--nginx-pids P,P] [--timeout S]\n");
		return 2;
	}
	long rss0 = rss_kb();
	long t0 = now_us();
	int ep = epoll_create1(0);
	load(opt_users, false);
	load(opt_admins, true);
	for (int i = 0; i < nsubs; i++) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
		epoll_ctl(ep, EPOLL_CTL_ADD, livesub_fd(subs[i].s), &ev);
	}
	/* handshakes */
	int ready = 0, failed = 0;
	struct epoll_event evs[1024];
	while (ready + failed < nsubs && now_us() - t0 < (long)opt_timeout * 1000000) {
		int n = epoll_wait(ep, evs, 1024, 1000);
		for (int k = 0; k < n; k++) {
			struct sub *s = &subs[evs[k].data.u32];
			bool was = livesub_ready(s->s);
			if (s->s == NULL || was)
				continue;
			if (livesub_pump(s->s, on_message, s) < 0) {
				failed++;
				epoll_ctl(ep, EPOLL_CTL_DEL, livesub_fd(s->s), NULL);
			} else if (livesub_ready(s->s)) {
				ready++;
				struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[k].data.u32};
				epoll_ctl(ep, EPOLL_CTL_MOD, livesub_fd(s->s), &ev);
			}
		}
	}
	long rss1 = rss_kb();
	printf("subscribers: %d connected (%d users, %d admins; half WebSocket, half EventSource), "
	       "%d refused, in %.1f s\n",
	       ready, nusers, nsubs - nusers, failed, (double)(now_us() - t0) / 1e6);
	if (opt_pids)
		printf("nginx memory: %.1f MB before, %.1f MB with the subscribers: %.1f KB per "
		       "connection\n",
		       (double)rss0 / 1024, (double)rss1 / 1024,
		       ready ? (double)(rss1 - rss0) / ready : 0.0);
	fflush(stdout);
	if (opt_hold > 0) {
		long until = now_us() + (long)opt_hold * 1000000;
		while (now_us() < until) {
			int n = epoll_wait(ep, evs, 1024, 1000);
			for (int k = 0; k < n; k++) {
				struct sub *s = &subs[evs[k].data.u32];
				if (livesub_pump(s->s, on_message, s) < 0)
					epoll_ctl(ep, EPOLL_CTL_DEL, livesub_fd(s->s), NULL);
			}
		}
		return failed == 0 ? 0 : 1;
	}
	sleep(1);

	/* publish from 4 threads: user channels split among them, analytics on one */
	pthread_t th[4];
	struct pub_job jobs[4];
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct pub_job){nusers * i / 4, nusers * (i + 1) / 4,
					   i == 0 ? opt_analytics : 0, 0};
		pthread_create(&th[i], NULL, publisher, &jobs[i]);
	}
	long expected = (long)nusers + (long)opt_analytics * (nsubs - nusers);
	long p0 = now_us();
	int pubfail = 0;
	while (delivered < expected && now_us() - p0 < (long)opt_timeout * 1000000) {
		int n = epoll_wait(ep, evs, 1024, 200);
		for (int k = 0; k < n; k++) {
			struct sub *s = &subs[evs[k].data.u32];
			if (livesub_pump(s->s, on_message, s) < 0)
				epoll_ctl(ep, EPOLL_CTL_DEL, livesub_fd(s->s), NULL);
		}
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		pubfail += jobs[i].failed;
	}
	long missing_users = 0, missing_admin = 0;
	for (int i = 0; i < nsubs; i++) {
		if (!subs[i].admin && subs[i].got < 1)
			missing_users++;
		if (subs[i].admin && subs[i].got < opt_analytics)
			missing_admin++;
	}
	qsort(latencies, (size_t)nlat, sizeof(*latencies), cmp_long);
	printf("published: %d notifications and %d analytics events (%d failed publishes)\n",
	       nusers, opt_analytics, pubfail);
	printf("delivered: %ld of %ld (users without their notification: %ld, admins missing "
	       "events: %ld)\n",
	       delivered, expected, missing_users, missing_admin);
	if (nlat > 0)
		printf("publish-to-receive latency: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		       (double)latencies[nlat / 2] / 1000, (double)latencies[nlat * 99 / 100] / 1000,
		       (double)latencies[nlat - 1] / 1000);
	for (int i = 0; i < nsubs; i++)
		livesub_close(subs[i].s);
	return delivered == expected && failed == 0 && pubfail == 0 ? 0 : 1;
}
