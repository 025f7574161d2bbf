/*
 * gw/src/link.c — what every link backend shares: back-off, the bounded write queue, statistics.
 */
#define _GNU_SOURCE
#include "gw/link.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gw/log.h"

int gw_link_kind_parse(const char *s)
{
	if (!strcmp(s, "serial"))
		return GW_LINK_SERIAL;
	if (!strcmp(s, "tty"))
		return GW_LINK_TTY;
	if (!strcmp(s, "unix"))
		return GW_LINK_UNIX;
	if (!strcmp(s, "fd"))
		return GW_LINK_FD;
	return 0;
}

const char *gw_link_kind_name(int kind)
{
	switch (kind) {
	case GW_LINK_SERIAL: return "serial";
	case GW_LINK_TTY: return "tty";
	case GW_LINK_UNIX: return "unix";
	case GW_LINK_FD: return "fd";
	default: return "?";
	}
}

int gw_link_init(struct gw_link *l, unsigned index, const struct gw_link_cfg *cfg)
{
	memset(l, 0, sizeof *l);
	l->cfg = *cfg;
	l->index = index;
	l->fd = -1;
	switch (cfg->kind) {
	case GW_LINK_SERIAL: l->ops = &gw_link_serial_ops; break;
	case GW_LINK_TTY: l->ops = &gw_link_tty_ops; break;
	case GW_LINK_UNIX: l->ops = &gw_link_unix_ops; break;
	case GW_LINK_FD: l->ops = &gw_link_fd_ops; break;
	default: return -EINVAL;
	}
	if (!l->cfg.baud)
		l->cfg.baud = 57600;
	if (!l->cfg.reopen_min_ms)
		l->cfg.reopen_min_ms = 100;
	if (l->cfg.reopen_max_ms < l->cfg.reopen_min_ms)
		l->cfg.reopen_max_ms = l->cfg.reopen_min_ms > 10000 ? l->cfg.reopen_min_ms : 10000;
	if (cfg->kind != GW_LINK_FD && !cfg->path[0] && !(cfg->kind == GW_LINK_SERIAL && cfg->has_usb))
		return -EINVAL;
	return 0;
}

static void schedule_reopen(struct gw_link *l, uint64_t now_ms)
{
	if (!l->backoff_ms)
		l->backoff_ms = l->cfg.reopen_min_ms;
	else if (l->backoff_ms < l->cfg.reopen_max_ms / 2u)
		l->backoff_ms *= 2u;
	else
		l->backoff_ms = l->cfg.reopen_max_ms;
	l->next_open_ms = now_ms + l->backoff_ms;
}

int gw_link_open(struct gw_link *l, uint64_t now_ms)
{
	if (l->up)
		return 0;
	l->last_err[0] = 0;
	int err = l->ops->open(l);
	if (err < 0) {
		l->stats.open_fails++;
		schedule_reopen(l, now_ms);
		if (!l->logged_down)
			gw_log(GW_LOG_WARN, "link", "%s (%s %s): cannot open: %s; retrying with back-off up to %u ms",
			       l->cfg.name, l->ops->kind, l->cfg.path[0] ? l->cfg.path : "(usb)",
			       l->last_err[0] ? l->last_err : strerror(-err), l->cfg.reopen_max_ms);
		l->logged_down = 1;
		return err;
	}
	l->up = 1;
	l->txq_len = 0; /* ACKs queued for the previous device are stale: the collars' state moved on */
	l->backoff_ms = 0;
	l->next_open_ms = 0;
	l->logged_down = 0;
	l->stats.opens++;
	gw_log(GW_LOG_NOTE, "link", "%s: %s %s open (fd %d%s)", l->cfg.name, l->ops->kind, l->dev, l->fd,
	       l->cfg.kind == GW_LINK_SERIAL || l->cfg.kind == GW_LINK_TTY ? ", 8N1" : "");
	return 0;
}

void gw_link_close(struct gw_link *l, uint64_t now_ms, int lost, const char *why)
{
	if (l->up) {
		l->ops->close(l);
		l->up = 0;
		l->fd = -1;
		if (lost)
			l->stats.losses++;
		gw_log(lost ? GW_LOG_WARN : GW_LOG_NOTE, "link", "%s: %s closed: %s", l->cfg.name, l->dev, why);
	}
	l->txq_len = 0;
	if (l->cfg.kind == GW_LINK_FD) {
		l->next_open_ms = UINT64_MAX; /* a borrowed fd cannot come back */
		return;
	}
	schedule_reopen(l, now_ms);
}

void gw_link_shutdown(struct gw_link *l)
{
	if (l->up) {
		l->ops->close(l);
		l->up = 0;
		l->fd = -1;
	}
}

ssize_t gw_link_read(struct gw_link *l, uint8_t *buf, size_t cap)
{
	if (!l->up)
		return -ENOTCONN;
	ssize_t n = l->ops->read(l, buf, cap);
	if (n > 0)
		l->stats.rx_bytes += (uint64_t)n;
	return n;
}

ssize_t gw_link_flush(struct gw_link *l)
{
	if (!l->up)
		return -ENOTCONN;
	while (l->txq_len) {
		ssize_t w = l->ops->write(l, l->txq, l->txq_len);
		if (w < 0)
			return w;
		if (w == 0)
			break;
		l->stats.tx_bytes += (uint64_t)w;
		memmove(l->txq, l->txq + w, l->txq_len - (size_t)w);
		l->txq_len -= (size_t)w;
	}
	return (ssize_t)l->txq_len;
}

int gw_link_send(struct gw_link *l, const uint8_t *buf, size_t len)
{
	if (!l->up) {
		l->stats.tx_dropped++;
		return -ENOTCONN;
	}
	if (len > GW_LINK_TXQ - l->txq_len) {
		l->stats.tx_dropped++;
		return -ENOBUFS;
	}
	memcpy(l->txq + l->txq_len, buf, len);
	l->txq_len += len;
	ssize_t r = gw_link_flush(l);
	return r < 0 ? (int)r : 0;
}
