/*
 * gw/src/log.c — stderr logging with levels and a per-source rate limiter (see gw/log.h).
 */
#include "gw/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static int log_level = GW_LOG_NOTE;
static int log_prefix = -1; /* -1: decide on first use */

static const char *const level_names[8] = {"EMERG", "ALERT", "CRIT", "ERROR", "WARN", "NOTE", "INFO", "DEBUG"};

void gw_log_set_level(int level)
{
	log_level = level;
}

int gw_log_level(void)
{
	return log_level;
}

void gw_log_set_prefix(int on)
{
	log_prefix = on;
}

static void log_v(int level, const char *subsys, const char *fmt, va_list ap)
{
	char line[1024];
	int n = 0;
	if (log_prefix < 0)
		log_prefix = !isatty(STDERR_FILENO);
	if (level < 0)
		level = 0;
	if (level > 7)
		level = 7;
	if (log_prefix)
		n = snprintf(line, sizeof line, "<%d>", level);
	n += snprintf(line + n, sizeof line - (size_t)n, "scentrack-gateway: %s %s: ", level_names[level], subsys);
	if (n < (int)sizeof line)
		n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	if (n >= (int)sizeof line - 1)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	/* One write() per line so lines from the daemon and a test harness sharing stderr never interleave. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

void gw_log(int level, const char *subsys, const char *fmt, ...)
{
	if (level > log_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_v(level, subsys, fmt, ap);
	va_end(ap);
}

void gw_log_limited(struct gw_log_limiter *lim, uint64_t now_ms, int level, const char *subsys, const char *fmt,
                    ...)
{
	if (level > log_level)
		return;
	if (now_ms - lim->window_ms >= 1000u || now_ms < lim->window_ms) {
		if (lim->suppressed)
			gw_log(level, subsys, "... %u similar lines suppressed in the last second(s)", lim->suppressed);
		lim->window_ms = now_ms;
		lim->in_window = 0;
		lim->suppressed = 0;
	}
	if (lim->in_window >= GW_LOG_BURST) {
		lim->suppressed++;
		return;
	}
	lim->in_window++;
	va_list ap;
	va_start(ap, fmt);
	log_v(level, subsys, fmt, ap);
	va_end(ap);
}
