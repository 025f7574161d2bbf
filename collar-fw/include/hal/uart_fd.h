/*
 * hal/uart_fd.h — host board byte streams over file descriptors (the radio modem, a live GNSS receiver).
 *
 * hal_uart_fd_open(spec) accepts:
 *   /dev/ttyUSB0, /dev/pts/N    a serial device or pty: opened raw (cfmakeraw), non-blocking
 *   /run/x.sock                 a unix stream socket: connected to
 *   RX_FIFO,TX_FIFO             two named pipes, one per direction (a fifo alone carries one direction)
 *   fd:N                        an inherited descriptor (socketpair from a test or simulator), both ways
 * Anything else (a regular file, a directory) is refused with -EINVAL and a reason in err.
 */
#ifndef HAL_UART_FD_H
#define HAL_UART_FD_H

#include <stddef.h>

#include "hal/uart.h"

struct hal_uart_fd {
	int rfd;
	int wfd;
	unsigned write_timeout_ms; /* a write that cannot progress this long fails with -EIO (0: 10000) */
};

/* @retval 0 ok  @retval -EINVAL unusable spec (err says why)  @retval -errno open/connect failure */
int hal_uart_fd_open(struct hal_uart *dev, struct hal_uart_fd *u, const char *spec, char *err, size_t errcap);
/* The descriptor to poll for input. */
int hal_uart_fd_pollfd(const struct hal_uart *dev);
void hal_uart_fd_close(struct hal_uart *dev);

#endif
