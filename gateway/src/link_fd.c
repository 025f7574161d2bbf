/*
 * gw/src/link_tty.c — plain-fd links: a tty/pty path in raw mode (termios), and a borrowed fd.
 */
#define _GNU_SOURCE
#include "gw/link.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static speed_t baud_const(unsigned baud)
{
	switch (baud) {
	case 9600: return B9600;
	case 19200: return B19200;
	case 38400: return B38400;
	case 57600: return B57600;
	case 115200: return B115200;
	case 230400: return B230400;
	case 460800: return B460800;
	case 921600: return B921600;
	default: return 0;
	}
}

static int tty_open(struct gw_link *l)
{
	snprintf(l->dev, sizeof l->dev, "%s", l->cfg.path);
	int fd = open(l->dev, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(l->last_err, sizeof l->last_err, "open %s: %s", l->dev, strerror(e));
		return -e;
	}
	if (isatty(fd)) {
		struct termios t;
		speed_t sp = baud_const(l->cfg.baud);
		if (tcgetattr(fd, &t) < 0 || !sp) {
			int e = sp ? errno : EINVAL;
			snprintf(l->last_err, sizeof l->last_err, "%s: %s", l->dev,
			         sp ? strerror(e) : "baud rate not supported by the tty backend");
			close(fd);
			return -e;
		}
		cfmakeraw(&t); /* 8 bits, no parity, no echo, no line editing */
		t.c_cflag &= (tcflag_t) ~(CSTOPB | CRTSCTS | HUPCL);
		t.c_cflag |= CLOCAL | CREAD;
		t.c_cc[VMIN] = 0;
		t.c_cc[VTIME] = 0;
		cfsetispeed(&t, sp);
		cfsetospeed(&t, sp);
		if (tcsetattr(fd, TCSANOW, &t) < 0) {
			int e = errno;
			snprintf(l->last_err, sizeof l->last_err, "%s: tcsetattr: %s", l->dev, strerror(e));
			close(fd);
			return -e;
		}
	}
	l->fd = fd;
	return 0;
}

static ssize_t fd_read(struct gw_link *l, uint8_t *buf, size_t cap)
{
	ssize_t n = read(l->fd, buf, cap);
	if (n > 0)
		return n;
	if (n == 0)
		return -EPIPE; /* EOF: the other end closed */
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	return -errno;
}

static ssize_t fd_write(struct gw_link *l, const uint8_t *buf, size_t len)
{
	ssize_t n = write(l->fd, buf, len);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	return -errno;
}

static void fd_close(struct gw_link *l)
{
	close(l->fd);
}

const struct gw_link_ops gw_link_tty_ops = {
	.kind = "tty",
	.open = tty_open,
	.read = fd_read,
	.write = fd_write,
	.close = fd_close,
};

static int borrowed_open(struct gw_link *l)
{
	if (l->cfg.fd < 0)
		return -EBADF;
	snprintf(l->dev, sizeof l->dev, "fd %d", l->cfg.fd);
	int fl = fcntl(l->cfg.fd, F_GETFL);
	if (fl < 0 || fcntl(l->cfg.fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	l->fd = l->cfg.fd;
	l->cfg.fd = -1; /* opened once: ours to close now */
	return 0;
}

const struct gw_link_ops gw_link_fd_ops = {
	.kind = "fd",
	.open = borrowed_open,
	.read = fd_read,
	.write = fd_write,
	.close = fd_close,
};

/* --- unix socket (the simulator listens, the gateway connects) ---------------------------------------- */
#include <sys/socket.h>
#include <sys/un.h>

static int unix_open(struct gw_link *l)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(l->cfg.path) >= sizeof a.sun_path) {
		snprintf(l->last_err, sizeof l->last_err, "socket path too long");
		return -ENAMETOOLONG;
	}
	memcpy(a.sun_path, l->cfg.path, strlen(l->cfg.path) + 1);
	snprintf(l->dev, sizeof l->dev, "%s", l->cfg.path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A blocking connect on a local socket returns at once (accepted into the backlog or refused). */
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		snprintf(l->last_err, sizeof l->last_err, "connect %s: %s", l->dev, strerror(e));
		close(fd);
		return -e;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	l->fd = fd;
	return 0;
}

const struct gw_link_ops gw_link_unix_ops = {
	.kind = "unix",
	.open = unix_open,
	.read = fd_read,
	.write = fd_write,
	.close = fd_close,
};
