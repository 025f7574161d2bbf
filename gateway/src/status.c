/*
 * gw/src/status.c — JSON writer and the status unix socket (see gw/status.h).
 */
#define _GNU_SOURCE
#include "gw/status.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "gw/log.h"
#include "gw/loop.h"

/* --- JSON writer ------------------------------------------------------------------------------------ */

void gw_json_init(struct gw_json *j, size_t max)
{
	memset(j, 0, sizeof *j);
	j->max = max;
	j->first[0] = 1;
}

void gw_json_free(struct gw_json *j)
{
	free(j->buf);
	j->buf = NULL;
	j->len = j->cap = 0;
}

static void put(struct gw_json *j, const char *s, size_t n)
{
	if (j->err)
		return;
	if (j->len + n + 1 > j->cap) {
		size_t cap = j->cap ? j->cap : 4096;
		while (cap < j->len + n + 1)
			cap *= 2;
		if (cap > j->max)
			cap = j->max;
		if (j->len + n + 1 > cap) {
			j->err = -E2BIG;
			return;
		}
		char *b = realloc(j->buf, cap);
		if (!b) {
			j->err = -ENOMEM;
			return;
		}
		j->buf = b;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = 0;
}

static void putf(struct gw_json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct gw_json *j, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n > 0)
		put(j, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void put_escaped(struct gw_json *j, const char *s)
{
	put(j, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			char e[2] = {'\\', (char)ch};
			put(j, e, 2);
		} else if (ch < 0x20) {
			putf(j, "\\u%04x", ch);
		} else {
			put(j, s, 1);
		}
	}
	put(j, "\"", 1);
}

static void member(struct gw_json *j, const char *key)
{
	if (!j->first[j->depth])
		put(j, ",", 1);
	j->first[j->depth] = 0;
	if (key) {
		put_escaped(j, key);
		put(j, ":", 1);
	}
}

static void open_(struct gw_json *j, const char *key, const char *br)
{
	if (j->depth + 1 >= GW_JSON_DEPTH) {
		j->err = -EINVAL;
		return;
	}
	if (j->len || key)
		member(j, key);
	put(j, br, 1);
	j->depth++;
	j->first[j->depth] = 1;
}

static void close_(struct gw_json *j, const char *br)
{
	if (!j->depth) {
		j->err = -EINVAL;
		return;
	}
	j->depth--;
	put(j, br, 1);
}

void gw_json_obj_begin(struct gw_json *j, const char *key) { open_(j, key, "{"); }
void gw_json_obj_end(struct gw_json *j) { close_(j, "}"); }
void gw_json_arr_begin(struct gw_json *j, const char *key) { open_(j, key, "["); }
void gw_json_arr_end(struct gw_json *j) { close_(j, "]"); }

void gw_json_u64(struct gw_json *j, const char *key, uint64_t v)
{
	member(j, key);
	putf(j, "%" PRIu64, v);
}

void gw_json_i64(struct gw_json *j, const char *key, int64_t v)
{
	member(j, key);
	putf(j, "%" PRId64, v);
}

void gw_json_bool(struct gw_json *j, const char *key, int v)
{
	member(j, key);
	put(j, v ? "true" : "false", v ? 4 : 5);
}

void gw_json_str(struct gw_json *j, const char *key, const char *s)
{
	member(j, key);
	put_escaped(j, s ? s : "");
}

/* --- server ----------------------------------------------------------------------------------------- */

struct client {
	int fd;            /* -1: free */
	char *doc;
	size_t len, off;
	uint64_t deadline; /* monotonic ms */
};

struct section {
	char name[32];
	gw_status_section_fn fn;
	void *arg;
};

struct gw_status_server {
	struct gw_loop *loop;
	int fd;
	int timer;
	char path[108];
	struct client cl[GW_STATUS_CLIENTS];
	struct section sec[GW_STATUS_SECTIONS];
	unsigned n_sec;
	uint64_t served, refused;
};

void gw_status_server_render(struct gw_status_server *s, struct gw_json *j)
{
	gw_json_obj_begin(j, NULL);
	for (unsigned i = 0; i < s->n_sec; i++) {
		size_t mark = j->len;
		unsigned depth = j->depth;
		uint8_t first = j->first[depth];
		gw_json_obj_begin(j, s->sec[i].name);
		s->sec[i].fn(s->sec[i].arg, j);
		gw_json_obj_end(j);
		if (j->err == -E2BIG) {
			/* Cut the section that did not fit; the document stays valid JSON. */
			j->err = 0;
			j->len = mark;
			j->depth = depth;
			j->first[depth] = first;
			gw_json_bool(j, "truncated", 1);
			break;
		}
	}
	gw_json_obj_end(j);
	put(j, "\n", 1);
}

static void client_drop(struct gw_status_server *s, struct client *c)
{
	gw_loop_fd_del(s->loop, c->fd);
	close(c->fd);
	free(c->doc);
	c->doc = NULL;
	c->fd = -1;
}

static void client_io(struct gw_loop *l, int fd, short revents, void *arg)
{
	struct gw_status_server *s = arg;
	(void)l;
	struct client *c = NULL;
	for (unsigned i = 0; i < GW_STATUS_CLIENTS; i++)
		if (s->cl[i].fd == fd)
			c = &s->cl[i];
	if (!c)
		return;
	if (revents & (POLLERR | POLLNVAL)) {
		client_drop(s, c);
		return;
	}
	while (c->off < c->len) {
		ssize_t w = send(fd, c->doc + c->off, c->len - c->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EAGAIN)
				return;
			break;
		}
		c->off += (size_t)w;
	}
	s->served++;
	client_drop(s, c);
}

static void on_accept(struct gw_loop *l, int fd, short revents, void *arg)
{
	struct gw_status_server *s = arg;
	(void)revents;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	struct client *c = NULL;
	for (unsigned i = 0; i < GW_STATUS_CLIENTS && !c; i++)
		if (s->cl[i].fd < 0)
			c = &s->cl[i];
	if (!c) {
		s->refused++;
		close(cfd);
		return;
	}
	struct gw_json j;
	gw_json_init(&j, GW_STATUS_MAX);
	gw_status_server_render(s, &j);
	if (j.err) {
		gw_json_free(&j);
		s->refused++;
		close(cfd);
		return;
	}
	c->fd = cfd;
	c->doc = j.buf;
	c->len = j.len;
	c->off = 0;
	c->deadline = gw_loop_now_ms(l) + GW_STATUS_TIMEOUT_MS;
	if (gw_loop_fd_add(l, cfd, POLLOUT, client_io, s) < 0) {
		free(c->doc);
		c->doc = NULL;
		c->fd = -1;
		close(cfd);
		return;
	}
}

static void on_timer(struct gw_loop *l, int id, void *arg)
{
	struct gw_status_server *s = arg;
	(void)id;
	for (unsigned i = 0; i < GW_STATUS_CLIENTS; i++)
		if (s->cl[i].fd >= 0 && gw_loop_now_ms(l) > s->cl[i].deadline)
			client_drop(s, &s->cl[i]);
}

static void status_self(void *arg, struct gw_json *j)
{
	struct gw_status_server *s = arg;
	gw_json_u64(j, "served", s->served);
	gw_json_u64(j, "refused", s->refused);
}

int gw_status_server_open(struct gw_status_server **out, struct gw_loop *l, const char *path)
{
	*out = NULL;
	if (strlen(path) >= sizeof((struct gw_status_server *)0)->path)
		return -ENAMETOOLONG;
	struct gw_status_server *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	int err;
	s->loop = l;
	s->timer = -1;
	for (unsigned i = 0; i < GW_STATUS_CLIENTS; i++)
		s->cl[i].fd = -1;
	memcpy(s->path, path, strlen(path) + 1);
	if ((s->fd = gw_unix_listen(path, 0, 8, "status")) < 0) {
		err = s->fd;
		goto out_free;
	}
	if ((err = gw_loop_fd_add(l, s->fd, POLLIN, on_accept, s)) < 0)
		goto out_unlink;
	if ((s->timer = gw_loop_timer_add(l, 500, 500, on_timer, s)) < 0) {
		err = s->timer;
		goto out_del;
	}
	gw_status_server_add(s, "status", status_self, s);
	*out = s;
	return 0;

out_del:
	gw_loop_fd_del(l, s->fd);
out_unlink:
	unlink(path);
	close(s->fd);
out_free:
	free(s);
	return err;
}

void gw_status_server_close(struct gw_status_server *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < GW_STATUS_CLIENTS; i++)
		if (s->cl[i].fd >= 0)
			client_drop(s, &s->cl[i]);
	gw_loop_timer_del(s->loop, s->timer);
	gw_loop_fd_del(s->loop, s->fd);
	close(s->fd);
	unlink(s->path);
	free(s);
}

int gw_status_server_add(struct gw_status_server *s, const char *name, gw_status_section_fn fn, void *arg)
{
	if (s->n_sec >= GW_STATUS_SECTIONS)
		return -ENOSPC;
	struct section *x = &s->sec[s->n_sec++];
	snprintf(x->name, sizeof x->name, "%s", name);
	x->fn = fn;
	x->arg = arg;
	return 0;
}

int gw_status_query(const char *path, int out_fd, int timeout_ms)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof a.sun_path)
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int err = 0;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		err = -errno;
		goto out_close;
	}
	uint64_t end = gw_clock_mono_ms() + (uint64_t)timeout_ms;
	char buf[8192];
	for (;;) {
		uint64_t now = gw_clock_mono_ms();
		if (now >= end) {
			err = -ETIMEDOUT;
			break;
		}
		struct pollfd p = {fd, POLLIN, 0};
		int r = poll(&p, 1, (int)(end - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? -errno : -ETIMEDOUT;
			break;
		}
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0)
			break;
		if (n < 0) {
			err = -errno;
			break;
		}
		for (ssize_t o = 0; o < n;) {
			ssize_t w = write(out_fd, buf + o, (size_t)(n - o));
			if (w < 0) {
				err = -errno;
				goto out_close;
			}
			o += w;
		}
	}
out_close:
	close(fd);
	return err;
}
