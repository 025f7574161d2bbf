/*
 * boards/host/uart_fd.c — byte streams over file descriptors (hal/uart_fd.h).
 */
#define _DEFAULT_SOURCE /* cfmakeraw */
#include "hal/uart_fd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

static int fd_read(const struct hal_uart *dev, void *buf, size_t cap)
{
	const struct hal_uart_fd *u = dev->ctx;
	for (;;) {
		ssize_t n = read(u->rfd, buf, cap);
		if (n > 0) {
			return (int)n;
		}
		if (n == 0) {
			return -EPIPE;
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return 0;
		}
		/* a pty whose other side closed reads EIO: that is a hang-up, not a device fault */
		return errno == EIO || errno == ECONNRESET ? -EPIPE : -EIO;
	}
}

static int fd_write(const struct hal_uart *dev, const void *buf, size_t len)
{
	const struct hal_uart_fd *u = dev->ctx;
	const unsigned char *p = buf;
	int timeout = u->write_timeout_ms ? (int)u->write_timeout_ms : 10000;
	while (len > 0) {
		ssize_t n = send(u->wfd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK) {
			n = write(u->wfd, p, len);
		}
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = {.fd = u->wfd, .events = POLLOUT};
			int r = poll(&pfd, 1, timeout);
			if (r == 0) {
				return -EIO;
			}
			if (r < 0 && errno != EINTR) {
				return -EIO;
			}
			continue;
		}
		return n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == EIO) ? -EPIPE : -EIO;
	}
	return 0;
}

static const struct hal_uart_api fd_api = {.read = fd_read, .write = fd_write};

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		return -errno;
	}
	return 0;
}

static int open_path(const char *path, char *err, size_t errcap, int *out)
{
	struct stat st;
	int fd;
	if (stat(path, &st) != 0) {
		int e = errno;
		snprintf(err, errcap, "%s: %s", path, strerror(e));
		return -e;
	}
	if (S_ISSOCK(st.st_mode)) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		if (strlen(path) >= sizeof sa.sun_path) {
			snprintf(err, errcap, "%s: socket path too long", path);
			return -EINVAL;
		}
		memcpy(sa.sun_path, path, strlen(path) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (const struct sockaddr *)&sa, sizeof sa) != 0) {
			int e = errno;
			snprintf(err, errcap, "%s: connect: %s", path, strerror(e));
			if (fd >= 0) {
				close(fd);
			}
			return -e;
		}
	} else if (S_ISCHR(st.st_mode)) {
		fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			snprintf(err, errcap, "%s: %s", path, strerror(e));
			return -e;
		}
		if (isatty(fd)) {
			/* raw: frames contain every byte value, and CR/LF translation or echo would corrupt them */
			struct termios tio;
			if (tcgetattr(fd, &tio) == 0) {
				cfmakeraw(&tio);
				tio.c_cc[VMIN] = 1;
				tio.c_cc[VTIME] = 0;
				(void)tcsetattr(fd, TCSANOW, &tio);
			}
		}
	} else {
		snprintf(err, errcap, "%s: not a serial device, pty or unix socket (use RX_FIFO,TX_FIFO for named pipes, "
		         "fd:N for an inherited descriptor)", path);
		return -EINVAL;
	}
	*out = fd;
	return 0;
}

int hal_uart_fd_open(struct hal_uart *dev, struct hal_uart_fd *u, const char *spec, char *err, size_t errcap)
{
	const char *comma = strchr(spec, ',');
	int r;

	memset(u, 0, sizeof *u);
	u->rfd = u->wfd = -1;
	if (strncmp(spec, "fd:", 3) == 0) {
		char *end;
		long fd = strtol(spec + 3, &end, 10);
		if (*end != '\0' || end == spec + 3 || fd < 0 || fd > 65535 || fcntl((int)fd, F_GETFD) < 0) {
			snprintf(err, errcap, "%s: not an open descriptor", spec);
			return -EINVAL;
		}
		u->rfd = u->wfd = (int)fd;
	} else if (comma != NULL) {
		char rx[4096];
		size_t n = (size_t)(comma - spec);
		if (n >= sizeof rx) {
			snprintf(err, errcap, "path too long");
			return -EINVAL;
		}
		memcpy(rx, spec, n);
		rx[n] = '\0';
		/* O_RDWR on the fifos: opening never blocks waiting for the peer, and the peer going away is not
		 * an end-of-stream (it may be restarted, like a modem power-cycling) */
		u->rfd = open(rx, O_RDWR | O_CLOEXEC);
		if (u->rfd < 0) {
			int e = errno;
			snprintf(err, errcap, "%s: %s", rx, strerror(e));
			return -e;
		}
		u->wfd = open(comma + 1, O_RDWR | O_CLOEXEC);
		if (u->wfd < 0) {
			int e = errno;
			snprintf(err, errcap, "%s: %s", comma + 1, strerror(e));
			close(u->rfd);
			return -e;
		}
	} else {
		r = open_path(spec, err, errcap, &u->rfd);
		if (r < 0) {
			return r;
		}
		u->wfd = u->rfd;
	}
	dev->api = &fd_api;
	dev->ctx = u;
	r = set_nonblock(u->rfd);
	if (r == 0 && u->wfd != u->rfd) {
		r = set_nonblock(u->wfd);
	}
	if (r < 0) {
		snprintf(err, errcap, "%s: fcntl: %s", spec, strerror(-r));
		hal_uart_fd_close(dev);
		return r;
	}
	return 0;
}

int hal_uart_fd_pollfd(const struct hal_uart *dev)
{
	const struct hal_uart_fd *u = dev->ctx;
	return u->rfd;
}

void hal_uart_fd_close(struct hal_uart *dev)
{
	struct hal_uart_fd *u = dev->ctx;
	if (u == NULL) {
		return;
	}
	if (u->wfd >= 0 && u->wfd != u->rfd) {
		close(u->wfd);
	}
	if (u->rfd >= 0) {
		close(u->rfd);
	}
	u->rfd = u->wfd = -1;
}
