/*
 * tests/gateway/pty/ioctl_shim.c — LD_PRELOAD shim that lets libserialport open a pty.
 *
 * libserialport's sp_open() reads and sets the modem-control lines (TIOCMGET, TIOCMBIS, TIOCMBIC; TIOCMSET
 * in some paths). A pty has no modem lines and the kernel answers ENOTTY, so sp_open fails
 * (reference/protocol.md §5.5). This shim forwards every ioctl to the real one and, only when one of those
 * four fails with ENOTTY on a pty (Unix98 pty slave majors 136..143), reports success — TIOCMGET returns
 * DTR|RTS|CTS|DSR|CD, i.e. a null-modem cable with everything asserted. Everything else libserialport does
 * (sysfs lookup, open, termios 8N1 + baud, TIOCEXCL, non-blocking read/write) runs for real.
 * Test-only: never installed, never linked into the gateway.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int ioctl(int fd, unsigned long req, ...);

int ioctl(int fd, unsigned long req, ...)
{
	static int (*real)(int, unsigned long, ...);
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (!real)
		real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	int r = real(fd, req, arg);
	if (r < 0 && errno == ENOTTY &&
	    (req == TIOCMGET || req == TIOCMBIS || req == TIOCMBIC || req == TIOCMSET)) {
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) >= 136 && major(st.st_rdev) <= 143) {
			if (req == TIOCMGET && arg)
				*(int *)arg = TIOCM_DTR | TIOCM_RTS | TIOCM_CTS | TIOCM_DSR | TIOCM_CD;
			errno = 0;
			return 0;
		}
	}
	return r;
}
