/*
 * gw/src/link_serial.c — the production link: a serial port (USB radio modem) through libserialport.
 *
 * Why libserialport and its fd: the library does the port lookup (sysfs metadata, USB ids) and the
 * termios set-up portably; reading happens in our poll loop on sp_get_port_handle()'s fd with
 * sp_nonblocking_read, never sp_blocking_* (which retry EINTR and cannot be interrupted, protocol.md §5.1).
 * sp_nonblocking_read returns 0 for "no data" AND for EOF (a vanished USB device), so a POLLIN that yields 0
 * bytes is treated as the device gone by the caller (gw/link.h).
 */
#define _GNU_SOURCE
#include "gw/link.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libserialport.h>

/* Copy libserialport's last error into l->last_err and map it to an errno. */
static int sp_fail(struct gw_link *l, const char *what, enum sp_return r)
{
	int e = errno ? errno : EIO;
	if (r == SP_ERR_FAIL) {
		char *m = sp_last_error_message();
		snprintf(l->last_err, sizeof l->last_err, "%s: %s", what, m ? m : "?");
		sp_free_error_message(m);
		e = sp_last_error_code();
		if (e <= 0)
			e = EIO;
	} else {
		snprintf(l->last_err, sizeof l->last_err, "%s: %s", what,
		         r == SP_ERR_ARG ? "no such port (no /sys/class/tty entry)" : r == SP_ERR_MEM ? "out of memory"
		                                                                     : "not supported");
		e = r == SP_ERR_ARG ? ENODEV : r == SP_ERR_MEM ? ENOMEM : ENOTSUP;
	}
	return -e;
}

int gw_link_serial_find(uint16_t vid, uint16_t pid, const char *serial, char *name, size_t cap)
{
	struct sp_port **ports;
	if (sp_list_ports(&ports) != SP_OK)
		return -EIO;
	int err = -ENODEV;
	for (size_t i = 0; ports[i]; i++) {
		int v, p;
		if (sp_get_port_transport(ports[i]) != SP_TRANSPORT_USB ||
		    sp_get_port_usb_vid_pid(ports[i], &v, &p) != SP_OK || v != vid || p != pid)
			continue;
		const char *sn = sp_get_port_usb_serial(ports[i]);
		if (serial && serial[0] && (!sn || strcmp(sn, serial)))
			continue;
		snprintf(name, cap, "%s", sp_get_port_name(ports[i]));
		err = 0;
		break;
	}
	sp_free_port_list(ports);
	return err;
}

static int serial_open(struct gw_link *l)
{
	struct sp_port *port = NULL;
	enum sp_return r;
	int err;
	errno = 0;
	if (l->cfg.has_usb) {
		err = gw_link_serial_find(l->cfg.usb_vid, l->cfg.usb_pid, l->cfg.usb_serial, l->dev, sizeof l->dev);
		if (err < 0) {
			snprintf(l->last_err, sizeof l->last_err, "no USB serial port %04x:%04x%s%s is plugged in",
			         l->cfg.usb_vid, l->cfg.usb_pid, l->cfg.usb_serial[0] ? " serial " : "", l->cfg.usb_serial);
			return err;
		}
	} else {
		snprintf(l->dev, sizeof l->dev, "%s", l->cfg.path);
	}
	if ((r = sp_get_port_by_name(l->dev, &port)) != SP_OK)
		return sp_fail(l, "lookup", r);
	if ((r = sp_open(port, SP_MODE_READ_WRITE)) != SP_OK) {
		err = sp_fail(l, "open", r);
		goto out_free_port;
	}
	/* 8N1, no flow control: radio modems are 3-wire serial. */
	if ((r = sp_set_baudrate(port, (int)l->cfg.baud)) != SP_OK || (r = sp_set_bits(port, 8)) != SP_OK ||
	    (r = sp_set_parity(port, SP_PARITY_NONE)) != SP_OK || (r = sp_set_stopbits(port, 1)) != SP_OK ||
	    (r = sp_set_flowcontrol(port, SP_FLOWCONTROL_NONE)) != SP_OK) {
		err = sp_fail(l, "configure 8N1", r);
		goto out_close_port;
	}
	int fd;
	if ((r = sp_get_port_handle(port, &fd)) != SP_OK) {
		err = sp_fail(l, "handle", r);
		goto out_close_port;
	}
	/* Whatever the modem buffered while nobody listened belongs to an old session: the deframer resyncs
	 * anyway, but flushing keeps stale half-frames out of the counters. */
	sp_flush(port, SP_BUF_BOTH);
	l->port = port;
	l->fd = fd;
	return 0;

out_close_port:
	sp_close(port);
out_free_port:
	sp_free_port(port);
	return err;
}

static ssize_t serial_read(struct gw_link *l, uint8_t *buf, size_t cap)
{
	errno = 0;
	enum sp_return r = sp_nonblocking_read(l->port, buf, cap);
	if (r >= 0)
		return r;
	return errno ? -errno : -EIO;
}

static ssize_t serial_write(struct gw_link *l, const uint8_t *buf, size_t len)
{
	errno = 0;
	enum sp_return r = sp_nonblocking_write(l->port, buf, len);
	if (r >= 0)
		return r;
	/* libserialport 0.1.1 reports EAGAIN as a failure (fixed in 0.1.2): it only means "full right now". */
	if (errno == EAGAIN)
		return 0;
	return errno ? -errno : -EIO;
}

static void serial_close(struct gw_link *l)
{
	sp_close(l->port);
	sp_free_port(l->port);
	l->port = NULL;
}

const struct gw_link_ops gw_link_serial_ops = {
	.kind = "serial",
	.open = serial_open,
	.read = serial_read,
	.write = serial_write,
	.close = serial_close,
};
