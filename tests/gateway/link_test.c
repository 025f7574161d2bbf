/*
 * tests/gateway/link_test.c — the link backends that work without privileges: fd (socketpair), tty
 * (openpty: termios raw mode, hang-up on master close), unix socket, and libserialport's refusal of an
 * unknown port / absent USB ids; back-off and the bounded write queue. The real libserialport path over a
 * pty needs a mount namespace and is exercised by the process tests (tests/gateway/pty/).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "gw/link.h"
#include "gw/loop.h"
#include "gw_testutil.h"

TestSuite(gw_link, .init = tu_mkdir, .fini = tu_rmdir);

static int wait_in(int fd, int ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	return poll(&p, 1, ms) == 1 ? p.revents : 0;
}

Test(gw_link, fd_backend_moves_bytes_and_reports_eof)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct gw_link_cfg cfg = {.name = "t", .kind = GW_LINK_FD, .fd = sv[0]};
	struct gw_link l;
	cr_assert_eq(gw_link_init(&l, 3, &cfg), 0);
	cr_assert_eq(gw_link_open(&l, 0), 0);
	uint8_t buf[16];
	cr_assert_eq(gw_link_read(&l, buf, sizeof buf), 0, "nothing yet: 0, not an error");
	cr_assert_eq(write(sv[1], "abc", 3), 3);
	cr_assert(wait_in(l.fd, 1000) & POLLIN);
	cr_assert_eq(gw_link_read(&l, buf, sizeof buf), 3);
	cr_assert_eq(gw_link_send(&l, (const uint8_t *)"xy", 2), 0);
	cr_assert_eq(read(sv[1], buf, sizeof buf), 2);
	close(sv[1]);
	cr_assert_eq(gw_link_read(&l, buf, sizeof buf), -EPIPE);
	gw_link_close(&l, 0, 1, "test");
	cr_assert_eq(l.stats.losses, 1);
	cr_assert_eq(l.next_open_ms, UINT64_MAX, "a borrowed fd is never reopened");
}

Test(gw_link, tty_backend_is_raw_and_sees_the_hangup)
{
	int m, s;
	char name[64];
	cr_assert_eq(openpty(&m, &s, name, NULL, NULL), 0);
	struct gw_link_cfg cfg = {.name = "pty", .kind = GW_LINK_TTY, .baud = 115200};
	snprintf(cfg.path, sizeof cfg.path, "%s", name);
	struct gw_link l;
	cr_assert_eq(gw_link_init(&l, 0, &cfg), 0);
	cr_assert_eq(gw_link_open(&l, 0), 0);
	struct termios t;
	cr_assert_eq(tcgetattr(l.fd, &t), 0);
	cr_assert_eq(t.c_lflag & (ICANON | ECHO | ISIG), 0u, "raw mode");
	cr_assert_eq(cfgetospeed(&t), B115200);
	/* Bytes a cooked tty would mangle: 0x00, CR, ^C, ^D. */
	const uint8_t pat[] = {0x00, 0x0d, 0x03, 0x04, 0x11, 0x13, 0xff};
	cr_assert_eq(write(m, pat, sizeof pat), (ssize_t)sizeof pat);
	uint8_t buf[32];
	size_t got = 0;
	while (got < sizeof pat && (wait_in(l.fd, 1000) & POLLIN)) {
		ssize_t n = gw_link_read(&l, buf + got, sizeof buf - got);
		cr_assert_geq(n, 0);
		got += (size_t)n;
	}
	cr_assert_eq(got, sizeof pat);
	cr_assert_eq(memcmp(buf, pat, sizeof pat), 0, "8-bit clean");
	cr_assert_eq(gw_link_send(&l, pat, sizeof pat), 0);
	cr_assert(wait_in(m, 1000) & POLLIN);
	cr_assert_eq(read(m, buf, sizeof buf), (ssize_t)sizeof pat);
	cr_assert_eq(memcmp(buf, pat, sizeof pat), 0);
	close(s);
	close(m); /* "unplug" */
	int ev = wait_in(l.fd, 1000);
	cr_assert(ev & (POLLHUP | POLLERR | POLLIN), "revents %x", ev);
	cr_assert_lt(gw_link_read(&l, buf, sizeof buf), 0, "the device is gone");
	gw_link_close(&l, 1000, 1, "hang-up");
	cr_assert_eq(l.next_open_ms, 1000 + 100);
	/* Reopening a pty whose master is gone fails and backs off, doubling to the cap. */
	uint64_t now = 1100;
	unsigned expect[] = {200, 400, 800, 1600, 3200, 6400, 10000, 10000};
	for (unsigned i = 0; i < 8; i++) {
		cr_assert_lt(gw_link_open(&l, now), 0);
		cr_assert_eq(l.backoff_ms, expect[i]);
		now = l.next_open_ms;
	}
	gw_link_shutdown(&l);
}

Test(gw_link, unix_backend_connects_and_reconnects)
{
	const char *path = tu_path("sim.sock");
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	struct gw_link_cfg cfg = {.name = "u", .kind = GW_LINK_UNIX};
	snprintf(cfg.path, sizeof cfg.path, "%s", path);
	struct gw_link l;
	cr_assert_eq(gw_link_init(&l, 1, &cfg), 0);
	cr_assert_lt(gw_link_open(&l, 0), 0, "nobody listens yet");
	cr_assert_eq(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(listen(ls, 4), 0);
	cr_assert_eq(gw_link_open(&l, 0), 0);
	int peer = accept(ls, NULL, NULL);
	cr_assert_geq(peer, 0);
	cr_assert_eq(write(peer, "\0hi\0", 4), 4);
	cr_assert(wait_in(l.fd, 1000) & POLLIN);
	uint8_t buf[8];
	cr_assert_eq(gw_link_read(&l, buf, sizeof buf), 4);
	close(peer);
	cr_assert(wait_in(l.fd, 1000));
	cr_assert_eq(gw_link_read(&l, buf, sizeof buf), -EPIPE);
	gw_link_close(&l, 0, 1, "peer gone");
	cr_assert_eq(gw_link_open(&l, 200), 0, "back after the simulator accepts again");
	cr_assert_eq(l.stats.opens, 2);
	gw_link_shutdown(&l);
	close(ls);
}

Test(gw_link, write_queue_is_bounded_and_drops_whole_frames)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	int small = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	struct gw_link_cfg cfg = {.name = "q", .kind = GW_LINK_FD, .fd = sv[0]};
	struct gw_link l;
	cr_assert_eq(gw_link_init(&l, 0, &cfg), 0);
	cr_assert_eq(gw_link_open(&l, 0), 0);
	uint8_t frame[200];
	memset(frame, 0x42, sizeof frame);
	unsigned dropped = 0;
	for (int i = 0; i < 2000; i++)
		if (gw_link_send(&l, frame, sizeof frame) == -ENOBUFS)
			dropped++;
	cr_assert_gt(dropped, 0, "nobody reads: the queue fills");
	cr_assert_eq(l.stats.tx_dropped, dropped);
	cr_assert_leq(l.txq_len, GW_LINK_TXQ);
	cr_assert_eq(l.txq_len % sizeof frame, 0, "only whole frames are queued");
	gw_link_shutdown(&l);
	close(sv[1]);
}

Test(gw_link, serial_backend_refuses_what_is_not_a_serial_port)
{
	struct gw_link_cfg cfg = {.name = "s", .kind = GW_LINK_SERIAL};
	snprintf(cfg.path, sizeof cfg.path, "/dev/ttyNOPE9");
	struct gw_link l;
	cr_assert_eq(gw_link_init(&l, 0, &cfg), 0);
	cr_assert_lt(gw_link_open(&l, 0), 0);
	cr_assert(strstr(l.last_err, "lookup"), "%s", l.last_err);
	char name[64];
	cr_assert_eq(gw_link_serial_find(0xdead, 0xbeef, NULL, name, sizeof name), -ENODEV);
	struct gw_link_cfg u = {.name = "u", .kind = GW_LINK_SERIAL, .has_usb = 1, .usb_vid = 0xdead, .usb_pid = 0xbeef};
	cr_assert_eq(gw_link_init(&l, 0, &u), 0);
	cr_assert_eq(gw_link_open(&l, 0), -ENODEV);
	cr_assert(strstr(l.last_err, "dead:beef"), "%s", l.last_err);
}

static int fired[4];
static void on_t(struct gw_loop *l, int id, void *arg)
{
	(void)l;
	(void)id;
	fired[(intptr_t)arg]++;
}

Test(gw_link, loop_timers_and_fds)
{
	struct gw_loop *l;
	cr_assert_eq(gw_loop_new(&l), 0);
	int once = gw_loop_timer_add(l, 0, 0, on_t, (void *)0);
	int per = gw_loop_timer_add(l, 0, 5, on_t, (void *)1);
	cr_assert_geq(once, 0);
	cr_assert_geq(per, 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(gw_loop_run_once(l, 50), 0);
	cr_assert_eq(fired[0], 1, "one-shot fires once");
	cr_assert_geq(fired[1], 3, "periodic keeps firing (every 5 ms, the loop waits for it)");
	cr_assert_eq(gw_loop_timer_del(l, once), -ENOENT, "a fired one-shot is gone");
	cr_assert_eq(gw_loop_timer_del(l, per), 0);
	gw_loop_free(l);
}
