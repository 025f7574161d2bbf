/*
 * hal/uart.h — a byte stream both ways (GNSS receiver, radio modem): non-blocking read, complete write.
 *
 * read returns the bytes available now (0: none yet), -EPIPE at end of stream (the peer hung up: a host
 * pty/socket closed; on an MCU never), or -EIO. write returns only when every byte is handed to the device
 * (a radio frame is never half-sent by the HAL) or fails with -EPIPE / -EIO.
 * Host implementation: boards/host/uart_fd.c (tty/pty, unix socket, fifo pair, inherited fd).
 */
#ifndef HAL_UART_H
#define HAL_UART_H

#include <stddef.h>

struct hal_uart;

struct hal_uart_api {
	int (*read)(const struct hal_uart *dev, void *buf, size_t cap); /* >= 0 bytes, or -EPIPE / -EIO */
	int (*write)(const struct hal_uart *dev, const void *buf, size_t len); /* 0 or -EPIPE / -EIO */
};

struct hal_uart {
	const struct hal_uart_api *api;
	void *ctx;
};

static inline int hal_uart_read(const struct hal_uart *dev, void *buf, size_t cap)
{
	return dev->api->read(dev, buf, cap);
}

static inline int hal_uart_write(const struct hal_uart *dev, const void *buf, size_t len)
{
	return dev->api->write(dev, buf, len);
}

#endif
