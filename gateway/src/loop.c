/*
 * gw/src/loop.c — poll(2) event loop with timers and prepare hooks (see gw/loop.h).
 *
 * Why poll and not epoll: the gateway watches a handful of fds (a few serial ports, a status socket, a
 * signalfd, ZeroMQ's fd); poll's O(n) is nothing at that size and poll is what zmq_poll and libserialport's
 * sp_wait are built on, so the semantics (POLLHUP on an unplugged tty) are the ones they document.
 */
#define _GNU_SOURCE
#include "gw/loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "gw/log.h"

struct loop_fd {
	int fd;               /* -1: free slot */
	short events;
	gw_loop_fd_cb cb;
	void *arg;
	uint32_t gen;         /* bumped on delete, so a slot reused mid-iteration is not dispatched stale */
};

struct loop_timer {
	int used;
	uint64_t due_ms;
	uint64_t period_ms;
	gw_loop_timer_cb cb;
	void *arg;
};

struct loop_prepare {
	gw_loop_prepare_cb cb;
	void *arg;
};

struct gw_loop {
	struct loop_fd fds[GW_LOOP_FDS_MAX];
	struct loop_timer timers[GW_LOOP_TIMERS_MAX];
	struct loop_prepare prep[GW_LOOP_PREPARE_MAX];
	unsigned n_prep;
	uint64_t now_ms;
	int stop;
};

uint64_t gw_clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t gw_clock_utc_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int gw_loop_new(struct gw_loop **out)
{
	struct gw_loop *l = calloc(1, sizeof *l);
	*out = NULL;
	if (!l)
		return -ENOMEM;
	for (unsigned i = 0; i < GW_LOOP_FDS_MAX; i++)
		l->fds[i].fd = -1;
	l->now_ms = gw_clock_mono_ms();
	*out = l;
	return 0;
}

void gw_loop_free(struct gw_loop *l)
{
	free(l);
}

static struct loop_fd *find_fd(struct gw_loop *l, int fd)
{
	for (unsigned i = 0; i < GW_LOOP_FDS_MAX; i++)
		if (l->fds[i].fd == fd)
			return &l->fds[i];
	return NULL;
}

int gw_loop_fd_add(struct gw_loop *l, int fd, short events, gw_loop_fd_cb cb, void *arg)
{
	if (fd < 0 || !cb)
		return -EINVAL;
	if (find_fd(l, fd))
		return -EEXIST;
	struct loop_fd *f = find_fd(l, -1);
	if (!f)
		return -ENOSPC;
	f->fd = fd;
	f->events = events;
	f->cb = cb;
	f->arg = arg;
	return 0;
}

int gw_loop_fd_events(struct gw_loop *l, int fd, short events)
{
	struct loop_fd *f = fd >= 0 ? find_fd(l, fd) : NULL;
	if (!f)
		return -ENOENT;
	f->events = events;
	return 0;
}

int gw_loop_fd_del(struct gw_loop *l, int fd)
{
	struct loop_fd *f = fd >= 0 ? find_fd(l, fd) : NULL;
	if (!f)
		return -ENOENT;
	f->fd = -1;
	f->gen++;
	return 0;
}

int gw_loop_timer_add(struct gw_loop *l, uint64_t due_ms, uint64_t period_ms, gw_loop_timer_cb cb, void *arg)
{
	if (!cb)
		return -EINVAL;
	for (unsigned i = 0; i < GW_LOOP_TIMERS_MAX; i++) {
		struct loop_timer *t = &l->timers[i];
		if (t->used)
			continue;
		t->used = 1;
		t->due_ms = gw_clock_mono_ms() + due_ms;
		t->period_ms = period_ms;
		t->cb = cb;
		t->arg = arg;
		return (int)i;
	}
	return -ENOSPC;
}

int gw_loop_timer_rearm(struct gw_loop *l, int id, uint64_t due_ms)
{
	if (id < 0 || (unsigned)id >= GW_LOOP_TIMERS_MAX || !l->timers[id].used)
		return -ENOENT;
	l->timers[id].due_ms = gw_clock_mono_ms() + due_ms;
	return 0;
}

int gw_loop_timer_del(struct gw_loop *l, int id)
{
	if (id < 0 || (unsigned)id >= GW_LOOP_TIMERS_MAX || !l->timers[id].used)
		return -ENOENT;
	l->timers[id].used = 0;
	return 0;
}

int gw_loop_prepare_add(struct gw_loop *l, gw_loop_prepare_cb cb, void *arg)
{
	if (l->n_prep >= GW_LOOP_PREPARE_MAX)
		return -ENOSPC;
	l->prep[l->n_prep].cb = cb;
	l->prep[l->n_prep].arg = arg;
	l->n_prep++;
	return 0;
}

uint64_t gw_loop_now_ms(const struct gw_loop *l)
{
	return l->now_ms;
}

void gw_loop_stop(struct gw_loop *l)
{
	l->stop = 1;
}

static void run_timers(struct gw_loop *l)
{
	for (unsigned i = 0; i < GW_LOOP_TIMERS_MAX; i++) {
		struct loop_timer *t = &l->timers[i];
		if (!t->used || t->due_ms > l->now_ms)
			continue;
		if (t->period_ms) {
			/* Skip missed periods rather than firing a burst after a long stall. */
			t->due_ms += t->period_ms;
			if (t->due_ms <= l->now_ms)
				t->due_ms = l->now_ms + t->period_ms;
		} else {
			t->used = 0;
		}
		t->cb(l, (int)i, t->arg);
	}
}

int gw_loop_run_once(struct gw_loop *l, int max_wait_ms)
{
	struct pollfd pfd[GW_LOOP_FDS_MAX];
	unsigned slot[GW_LOOP_FDS_MAX];
	uint32_t gen[GW_LOOP_FDS_MAX];
	int busy = 0;

	for (unsigned i = 0; i < l->n_prep; i++)
		busy |= l->prep[i].cb(l, l->prep[i].arg);

	l->now_ms = gw_clock_mono_ms();
	int64_t timeout = max_wait_ms;
	for (unsigned i = 0; i < GW_LOOP_TIMERS_MAX; i++) {
		const struct loop_timer *t = &l->timers[i];
		if (!t->used)
			continue;
		int64_t d = t->due_ms > l->now_ms ? (int64_t)(t->due_ms - l->now_ms) : 0;
		if (timeout < 0 || d < timeout)
			timeout = d;
	}
	if (busy)
		timeout = 0;
	if (timeout > 60000)
		timeout = 60000;

	nfds_t n = 0;
	for (unsigned i = 0; i < GW_LOOP_FDS_MAX; i++) {
		if (l->fds[i].fd < 0)
			continue;
		pfd[n].fd = l->fds[i].fd;
		pfd[n].events = l->fds[i].events;
		pfd[n].revents = 0;
		slot[n] = i;
		gen[n] = l->fds[i].gen;
		n++;
	}
	int r = poll(pfd, n, (int)timeout);
	if (r < 0 && errno != EINTR)
		return -errno;
	l->now_ms = gw_clock_mono_ms();
	for (nfds_t k = 0; r > 0 && k < n; k++) {
		if (!pfd[k].revents)
			continue;
		struct loop_fd *f = &l->fds[slot[k]];
		/* Removed (or removed and reused) by an earlier callback of this iteration: skip. */
		if (f->fd != pfd[k].fd || f->gen != gen[k])
			continue;
		f->cb(l, f->fd, pfd[k].revents, f->arg);
	}
	run_timers(l);
	return 0;
}

int gw_loop_run(struct gw_loop *l)
{
	l->stop = 0;
	while (!l->stop) {
		int err = gw_loop_run_once(l, -1);
		if (err < 0)
			return err;
	}
	return 0;
}

int gw_unix_listen(const char *path, mode_t mode, int backlog, const char *who)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	if (n >= sizeof a.sun_path)
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, n + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a stale socket from a crashed run */
	mode_t old = mode ? umask((mode_t)(~mode & 0777)) : 0;
	int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
	if (mode)
		umask(old);
	int err = 0;
	if (rc < 0)
		err = -errno;
	else if ((mode && chmod(path, mode) < 0) || listen(fd, backlog) < 0) {
		err = -errno;
		unlink(path);
	}
	if (err) {
		gw_log(GW_LOG_ERR, who, "%s: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}
