/*
 * tests/analysis/core_web_load.c — many SSE clients in one epoll loop, for scentrack-core's web benchmark
 * (core_web_test.py bench): a Python reader of 50 streams measures itself, not the server.
 *
 *   an_core_web_load PORT N_CLIENTS LAST_EVENT_ID
 *
 * Opens N streams (HTTP/1.0: the body ends with the connection, no chunking), prints "READY" when every
 * response header arrived, then reads. For every event: latency = CLOCK_REALTIME at receipt - the event's
 * "server_ms" (the core's wall clock when it queued the event, right after the commit). Per stream the ids
 * must be LAST_EVENT_ID+1, +2, ... (gaps and duplicates are counted). On stdin "STOP <id>": wait until every
 * stream has seen <id> (deadline 120 s), print
 *   "IND events=.. p50_ms=.. p99_ms=.. max_ms=.." (indication events alone), then
 *   "RESULT clients=N events=E p50_ms=.. p99_ms=.. max_ms=.. gaps=G dups=D resets=R incomplete=I"
 * and exit 0 (1 on gaps, duplicates, resets or incomplete streams).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct cl {
	int fd;
	char *buf;
	size_t len, cap;
	bool head;
	uint64_t next; /* expected id */
	uint64_t last;
	bool closed;
};

static double *lat, *lat_ind;
static size_t n_lat, cap_lat, n_ind, cap_ind;
static uint64_t gaps, dups, resets;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void record(struct cl *c, char *rec, double t)
{
	char *id = strstr(rec, "id: ");
	if (strstr(rec, "event: reset"))
		resets++;
	if (!id || (id != rec && id[-1] != '\n'))
		return;
	uint64_t v = strtoull(id + 4, NULL, 10);
	if (v < c->next)
		dups++;
	else if (v > c->next)
		gaps++;
	c->next = v + 1;
	c->last = v;
	char *sm = strstr(rec, "\"server_ms\":");
	if (!sm)
		return;
	double s = strtod(sm + 12, NULL);
	if (strstr(rec, "event: ind\n")) { /* indications apart: the alert the handler waits for */
		if (n_ind == cap_ind) {
			cap_ind = cap_ind ? cap_ind * 2 : 1 << 12;
			lat_ind = realloc(lat_ind, cap_ind * sizeof *lat_ind);
			if (!lat_ind)
				exit(2);
		}
		lat_ind[n_ind++] = t - s;
	}
	if (n_lat == cap_lat) {
		cap_lat = cap_lat ? cap_lat * 2 : 1 << 16;
		lat = realloc(lat, cap_lat * sizeof *lat);
		if (!lat)
			exit(2);
	}
	lat[n_lat++] = t - s;
}

static void on_data(struct cl *c, double t)
{
	char *p = c->buf, *end = c->buf + c->len;
	if (!c->head) {
		char *h = memmem(p, c->len, "\r\n\r\n", 4);
		if (!h)
			return;
		p = h + 4;
		c->head = true;
	}
	for (;;) {
		char *e = memmem(p, (size_t)(end - p), "\n\n", 2);
		if (!e)
			break;
		*e = 0;
		record(c, p, t);
		p = e + 2;
	}
	c->len = (size_t)(end - p);
	memmove(c->buf, p, c->len);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: an_core_web_load PORT N_CLIENTS LAST_EVENT_ID\n");
		return 2;
	}
	int port = atoi(argv[1]), n = atoi(argv[2]);
	uint64_t from = strtoull(argv[3], NULL, 10), stop = UINT64_MAX;
	struct cl *cls = calloc((size_t)n, sizeof *cls);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!cls || ep < 0)
		return 2;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	char req[256];
	int rl = snprintf(req, sizeof req, "GET /api/events HTTP/1.0\r\nHost: 127.0.0.1\r\nLast-Event-ID: %" PRIu64 "\r\n\r\n",
	                  from);
	for (int i = 0; i < n; i++) {
		struct cl *c = &cls[i];
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) || write(c->fd, req, (size_t)rl) != rl) {
			perror("connect");
			return 2;
		}
		fcntl(c->fd, F_SETFL, O_NONBLOCK);
		c->cap = 1 << 20;
		c->buf = malloc(c->cap);
		c->next = from + 1;
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
	epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
	bool ready = false;
	double deadline = 0;
	char line[128];
	size_t ll = 0;
	for (;;) {
		struct epoll_event evs[64];
		int k = epoll_wait(ep, evs, 64, 1000);
		double t = now_ms();
		for (int j = 0; j < k; j++) {
			if (evs[j].data.u32 == UINT32_MAX) {
				ssize_t r = read(0, line + ll, sizeof line - 1 - ll);
				if (r <= 0) {
					epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
					continue;
				}
				ll += (size_t)r;
				line[ll] = 0;
				if (strchr(line, '\n') && sscanf(line, "STOP %" SCNu64, &stop) == 1)
					deadline = t + 120000.0;
				continue;
			}
			struct cl *c = &cls[evs[j].data.u32];
			for (;;) {
				if (c->len == c->cap)
					c->len = 0; /* a record over 1 MiB is not ours */
				ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
				if (r > 0) {
					c->len += (size_t)r;
					on_data(c, t);
					continue;
				}
				if (r == 0 || errno != EAGAIN) {
					c->closed = true;
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				}
				break;
			}
		}
		if (!ready) {
			int h = 0;
			for (int i = 0; i < n; i++)
				h += cls[i].head;
			if (h == n) {
				printf("READY\n");
				fflush(stdout);
				ready = true;
			}
		}
		if (stop != UINT64_MAX) {
			int done = 0;
			for (int i = 0; i < n; i++)
				done += cls[i].last >= stop;
			if (done == n || t > deadline) {
				qsort(lat, n_lat, sizeof *lat, cmp);
				qsort(lat_ind, n_ind, sizeof *lat_ind, cmp);
				if (n_ind)
					printf("IND events=%zu p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", n_ind, lat_ind[n_ind / 2],
					       lat_ind[n_ind * 99 / 100], lat_ind[n_ind - 1]);
				double p50 = n_lat ? lat[n_lat / 2] : 0, p99 = n_lat ? lat[n_lat * 99 / 100] : 0;
				printf("RESULT clients=%d events=%zu p50_ms=%.2f p99_ms=%.2f max_ms=%.2f gaps=%" PRIu64 " dups=%" PRIu64
				       " resets=%" PRIu64 " incomplete=%d\n",
				       n, n_lat, p50, p99, n_lat ? lat[n_lat - 1] : 0, gaps, dups, resets, n - done);
				return gaps || dups || resets || done != n;
			}
		}
	}
}
