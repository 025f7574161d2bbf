/*
 * gateway/src/control.c — operator commands over a mode-0600 unix socket, one line in, one line out
 * (see gw/control.h). Runs in the daemon's loop: accept, read the line without blocking, dispatch, send the
 * short reply, close.
 */
#define _GNU_SOURCE
#include "gw/control.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gw/log.h"

#define CONTROL_CLIENTS 4u
#define CONTROL_VERBS 8u

struct ctl_client {
	int fd; /* -1: free */
	char line[GW_CONTROL_LINE_MAX];
	size_t len;
	uint64_t deadline;
};

struct ctl_verb {
	char name[24];
	gw_control_fn fn;
	void *arg;
};

struct gw_control {
	struct gw_loop *loop;
	int fd;
	int timer;
	char path[108];
	struct ctl_client cl[CONTROL_CLIENTS];
	struct ctl_verb verb[CONTROL_VERBS];
	unsigned n_verb;
};

static void client_drop(struct gw_control *c, struct ctl_client *k)
{
	gw_loop_fd_del(c->loop, k->fd);
	close(k->fd);
	k->fd = -1;
	/* the line may name a collar, never a key; still, leave nothing of it behind */
	explicit_bzero(k->line, sizeof k->line);
	k->len = 0;
}

/* One reply line; the socket buffer of a fresh unix connection always takes a few hundred bytes. */
static void reply(struct gw_control *c, struct ctl_client *k, int ok, const char *text)
{
	char out[GW_CONTROL_LINE_MAX + 16];
	int n = snprintf(out, sizeof out, "%s %s\n", ok ? "ok" : "error", text);
	if (n > 0 && send(k->fd, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		gw_log(GW_LOG_WARN, "control", "reply not sent: %s", strerror(errno));
	client_drop(c, k);
}

static void dispatch(struct gw_control *c, struct ctl_client *k)
{
	char *argv[GW_CONTROL_ARGS_MAX];
	int argc = 0;
	char *save = NULL;
	for (char *w = strtok_r(k->line, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save)) {
		if (argc == (int)GW_CONTROL_ARGS_MAX) {
			reply(c, k, 0, "too many words");
			return;
		}
		argv[argc++] = w;
	}
	if (!argc) {
		reply(c, k, 0, "empty request");
		return;
	}
	for (unsigned i = 0; i < c->n_verb; i++) {
		if (!strcmp(c->verb[i].name, argv[0])) {
			char text[GW_CONTROL_LINE_MAX] = "";
			int err = c->verb[i].fn(c->verb[i].arg, argc, argv, text, sizeof text);
			reply(c, k, err == 0, text);
			return;
		}
	}
	char text[GW_CONTROL_LINE_MAX];
	snprintf(text, sizeof text, "unknown command \"%.32s\"", argv[0]);
	gw_log(GW_LOG_WARN, "control", "%s", text);
	reply(c, k, 0, text);
}

static void client_io(struct gw_loop *l, int fd, short revents, void *arg)
{
	struct gw_control *c = arg;
	(void)l;
	struct ctl_client *k = NULL;
	for (unsigned i = 0; i < CONTROL_CLIENTS; i++)
		if (c->cl[i].fd == fd)
			k = &c->cl[i];
	if (!k)
		return;
	if (revents & (POLLERR | POLLNVAL)) {
		client_drop(c, k);
		return;
	}
	for (;;) {
		ssize_t n = recv(fd, k->line + k->len, sizeof k->line - 1 - k->len, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) { /* closed before a full line, or an error */
			client_drop(c, k);
			return;
		}
		k->len += (size_t)n;
		char *nl = memchr(k->line, '\n', k->len);
		if (nl) {
			*nl = 0;
			dispatch(c, k);
			return;
		}
		if (k->len == sizeof k->line - 1) {
			reply(c, k, 0, "request line too long");
			return;
		}
	}
}

static void on_accept(struct gw_loop *l, int fd, short revents, void *arg)
{
	struct gw_control *c = arg;
	(void)revents;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	struct ctl_client *k = NULL;
	for (unsigned i = 0; i < CONTROL_CLIENTS && !k; i++)
		if (c->cl[i].fd < 0)
			k = &c->cl[i];
	if (!k || gw_loop_fd_add(l, cfd, POLLIN, client_io, c) < 0) {
		close(cfd);
		return;
	}
	k->fd = cfd;
	k->len = 0;
	k->deadline = gw_loop_now_ms(l) + GW_CONTROL_TIMEOUT_MS;
}

static void on_timer(struct gw_loop *l, int id, void *arg)
{
	struct gw_control *c = arg;
	(void)id;
	for (unsigned i = 0; i < CONTROL_CLIENTS; i++)
		if (c->cl[i].fd >= 0 && gw_loop_now_ms(l) > c->cl[i].deadline)
			client_drop(c, &c->cl[i]);
}

int gw_control_open(struct gw_control **out, struct gw_loop *l, const char *path)
{
	*out = NULL;
	if (strlen(path) >= sizeof((struct gw_control *)0)->path)
		return -ENAMETOOLONG;
	struct gw_control *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	int err;
	c->loop = l;
	c->timer = -1;
	for (unsigned i = 0; i < CONTROL_CLIENTS; i++)
		c->cl[i].fd = -1;
	memcpy(c->path, path, strlen(path) + 1);
	/* 0600: only the daemon's own user may queue a provisioning */
	if ((c->fd = gw_unix_listen(path, 0600, 4, "control")) < 0) {
		err = c->fd;
		goto out_free;
	}
	if ((err = gw_loop_fd_add(l, c->fd, POLLIN, on_accept, c)) < 0)
		goto out_unlink;
	if ((c->timer = gw_loop_timer_add(l, 500, 500, on_timer, c)) < 0) {
		err = c->timer;
		goto out_del;
	}
	*out = c;
	return 0;

out_del:
	gw_loop_fd_del(l, c->fd);
out_unlink:
	unlink(path);
	close(c->fd);
out_free:
	free(c);
	return err;
}

void gw_control_close(struct gw_control *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < CONTROL_CLIENTS; i++)
		if (c->cl[i].fd >= 0)
			client_drop(c, &c->cl[i]);
	gw_loop_timer_del(c->loop, c->timer);
	gw_loop_fd_del(c->loop, c->fd);
	close(c->fd);
	unlink(c->path);
	free(c);
}

int gw_control_add(struct gw_control *c, const char *verb, gw_control_fn fn, void *arg)
{
	if (!c || c->n_verb == CONTROL_VERBS || strlen(verb) >= sizeof c->verb[0].name)
		return -ENOSPC;
	struct ctl_verb *v = &c->verb[c->n_verb++];
	memcpy(v->name, verb, strlen(verb) + 1);
	v->fn = fn;
	v->arg = arg;
	return 0;
}

int gw_control_request(const char *path, const char *line, int out_fd, int timeout_ms)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof a.sun_path)
		return -ENAMETOOLONG;
	size_t ll = strlen(line);
	if (ll + 1 > GW_CONTROL_LINE_MAX || memchr(line, '\n', ll))
		return -EINVAL;
	memcpy(a.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int err = 0;
	char req[GW_CONTROL_LINE_MAX + 1], rep[GW_CONTROL_LINE_MAX + 16];
	size_t got = 0;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		err = -errno;
		goto out_close;
	}
	memcpy(req, line, ll);
	req[ll] = '\n';
	if (send(fd, req, ll + 1, MSG_NOSIGNAL) != (ssize_t)(ll + 1)) {
		err = -errno;
		goto out_close;
	}
	uint64_t end = gw_clock_mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		uint64_t now = gw_clock_mono_ms();
		if (now >= end) {
			err = -ETIMEDOUT;
			goto out_close;
		}
		struct pollfd p = {fd, POLLIN, 0};
		int r = poll(&p, 1, (int)(end - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? -errno : -ETIMEDOUT;
			goto out_close;
		}
		ssize_t n = read(fd, rep + got, sizeof rep - 1 - got);
		if (n < 0) {
			err = -errno;
			goto out_close;
		}
		if (n == 0 || (got += (size_t)n) == sizeof rep - 1)
			break;
	}
	if (!got) {
		err = -ECONNRESET;
		goto out_close;
	}
	if (write(out_fd, rep, got) < 0)
		err = -errno;
	else
		err = got >= 3 && !memcmp(rep, "ok ", 3) ? 0 : -EPROTO;
out_close:
	close(fd);
	return err;
}
