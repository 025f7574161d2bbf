/*
 * gw/link.h — byte links between the gateway and the radio side, behind one method table.
 *
 * The rest of the gateway only sees bytes in and bytes out (like gpsd's struct gps_type_t drivers or Redis's
 * ConnectionType): the pipeline never knows whether frames came from a USB radio modem, a pty fed by the
 * collar simulator, or a unix socket. One serial port usually carries many collars (a radio modem); ACKs go
 * back on the link the collar was last heard on.
 *
 * Backends (src/link_<kind>.c):
 *   serial  libserialport: a named port ("/dev/ttyUSB0") or the first port whose USB VID:PID (and serial
 *           number, if given) match, found with sp_list_ports — names renumber after a replug, VID:PID do
 *           not. 8N1, no flow control, at the configured baud; non-blocking reads on the fd from
 *           sp_get_port_handle, polled by the gateway's one loop.
 *   tty     a path opened with open(2) and put in raw mode with termios: ptys from the simulator, or a
 *           serial device when libserialport is not wanted.
 *   unix    a SOCK_STREAM unix socket the gateway connects to (a simulator listening on it).
 *   fd      an fd the caller already has (socketpair in unit tests); never reopened.
 *
 * Link loss: a read error (EIO, ENXIO), POLLHUP/POLLERR, or POLLIN with zero bytes (EOF — libserialport's
 * sp_nonblocking_read returns 0 for both "no data" and EOF, so the caller must tell them apart by POLLIN) mean
 * the device went away: the link is closed and reopened from the cron with exponential back-off
 * (reopen_min_ms doubling up to reopen_max_ms, reset by a successful open).
 *
 * Writes never block the loop: what the device does not take at once waits in a bounded queue
 * (GW_LINK_TXQ bytes) drained on POLLOUT; a frame that does not fit is dropped whole and counted — ACKs are
 * regenerated from the spool state with the next record anyway.
 *
 * A new backend: copy src/link_unix.c (the smallest), fill a struct gw_link_ops, add its kind to
 * gw_link_kind_parse() in src/link.c and to the --help text, and give it a test in tests/gateway/link_test.c.
 */
#ifndef GW_LINK_H
#define GW_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GW_LINK_TXQ 4096u
#define GW_LINK_NAME_MAX 32u
#define GW_LINK_PATH_MAX 256u

enum gw_link_kind {
	GW_LINK_SERIAL = 1,
	GW_LINK_TTY,
	GW_LINK_UNIX,
	GW_LINK_FD,
};

struct gw_link_cfg {
	char name[GW_LINK_NAME_MAX];   /* the config section's name, for logs and status */
	int kind;                      /* enum gw_link_kind */
	char path[GW_LINK_PATH_MAX];   /* serial/tty: device; unix: socket path; may be empty for serial+usb */
	uint8_t has_usb;               /* serial: find the port by USB ids */
	uint16_t usb_vid, usb_pid;
	char usb_serial[64];           /* optional, "" = any */
	unsigned baud;                 /* serial/tty; default 57600 */
	unsigned reopen_min_ms;        /* default 100 */
	unsigned reopen_max_ms;        /* default 10000 */
	int fd;                        /* GW_LINK_FD only */
};

struct gw_link;

/* Method table of one backend. Every function returns 0 / a count, or a negative errno. */
struct gw_link_ops {
	const char *kind;
	/* Open the device; on success fd() is valid. */
	int (*open)(struct gw_link *l);
	/* Up to cap bytes: > 0 bytes read, 0 nothing now (would block), < 0 the link is gone (-EPIPE for EOF). */
	ssize_t (*read)(struct gw_link *l, uint8_t *buf, size_t cap);
	/* Bytes accepted (maybe fewer than len, 0 if it would block), < 0 the link is gone. */
	ssize_t (*write)(struct gw_link *l, const uint8_t *buf, size_t len);
	void (*close)(struct gw_link *l);
};

struct gw_link_stats {
	uint64_t opens;         /* successful opens */
	uint64_t open_fails;    /* failed attempts (logged once per outage, counted each time) */
	uint64_t losses;        /* the device went away while open */
	uint64_t rx_bytes, tx_bytes;
	uint64_t tx_dropped;    /* frames dropped because the queue was full or the link down */
};

struct gw_link {
	const struct gw_link_ops *ops;
	struct gw_link_cfg cfg;
	unsigned index;              /* position in the config, = BATCH `link` */
	int up;
	int fd;                      /* valid while up */
	void *port;                  /* serial: struct sp_port * */
	char dev[GW_LINK_PATH_MAX];  /* the device actually opened */
	unsigned backoff_ms;
	uint64_t next_open_ms;       /* monotonic; 0 = try now */
	int logged_down;             /* an open failure was logged for this outage */
	uint8_t txq[GW_LINK_TXQ];
	size_t txq_len;
	struct gw_link_stats stats;
	char last_err[GW_LINK_PATH_MAX + 160];
};

/* "serial", "tty", "unix", "fd" → enum gw_link_kind; 0 if unknown. */
int gw_link_kind_parse(const char *s);
const char *gw_link_kind_name(int kind);

/* Set up (does not open). @retval 0, -EINVAL */
int gw_link_init(struct gw_link *l, unsigned index, const struct gw_link_cfg *cfg) __attribute__((warn_unused_result));

/* Try to open now. On failure the back-off is advanced and next_open_ms set (now_ms = monotonic).
 * @retval 0 up; < 0 still down (last_err says why) */
int gw_link_open(struct gw_link *l, uint64_t now_ms);
/* Close (if up) and schedule a reopen after the back-off. why is logged. lost = 1 if the device went away. */
void gw_link_close(struct gw_link *l, uint64_t now_ms, int lost, const char *why);
/* Close for good (shutdown). */
void gw_link_shutdown(struct gw_link *l);

/* Read what is there. > 0 bytes, 0 nothing, < 0 gone (caller then calls gw_link_close with lost = 1). */
ssize_t gw_link_read(struct gw_link *l, uint8_t *buf, size_t cap);
/* Queue one frame and write as much as the device takes. @retval 0; -ENOBUFS dropped (queue full);
 * -ENOTCONN link down; < 0 other: gone */
int gw_link_send(struct gw_link *l, const uint8_t *buf, size_t len);
/* Write queued bytes. @retval bytes still queued (>= 0), < 0 gone */
ssize_t gw_link_flush(struct gw_link *l);

/* The backends (exposed for tests). */
extern const struct gw_link_ops gw_link_serial_ops;
extern const struct gw_link_ops gw_link_tty_ops;
extern const struct gw_link_ops gw_link_unix_ops;
extern const struct gw_link_ops gw_link_fd_ops;

/* serial: the name of the first port whose USB ids match (vid, pid, serial or NULL) into name.
 * @retval 0 found; -ENODEV none; -EIO enumeration failed */
int gw_link_serial_find(uint16_t vid, uint16_t pid, const char *serial, char *name, size_t cap);

#endif
