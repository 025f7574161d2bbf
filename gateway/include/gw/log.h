/*
 * gw/log.h — the gateway's diagnostics: one line per event on stderr, with a level.
 *
 * Format: "<N>scentrack-gateway: LEVEL subsystem: message" where <N> is the syslog priority prefix that
 * journald understands (sd-daemon(3)) when stderr is the journal; on a terminal the prefix is left out.
 * Data never goes to stderr and diagnostics never go to stdout.
 *
 * Bad input arrives at line rate, so callers that log per bad frame use gw_log_limited(), which lets
 * GW_LOG_BURST lines per second through per limiter and then counts the rest ("... 1234 more suppressed").
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdint.h>

enum gw_log_level {
	GW_LOG_ERR = 3,   /* syslog LOG_ERR: something is broken and needs a human */
	GW_LOG_WARN = 4,  /* LOG_WARNING: bad input, a link went away, a retry */
	GW_LOG_NOTE = 5,  /* LOG_NOTICE: start, stop, link up */
	GW_LOG_INFO = 6,  /* LOG_INFO: periodic statistics */
	GW_LOG_DEBUG = 7, /* LOG_DEBUG: per frame */
};

#define GW_LOG_BURST 10u

/* Lines above this level are dropped. -D N on the command line: 0 → NOTE, 1 → INFO, 2+ → DEBUG. */
void gw_log_set_level(int level);
int gw_log_level(void);
/* Force or suppress the "<N>" prefix (default: prefix when stderr is not a tty). */
void gw_log_set_prefix(int on);

void gw_log(int level, const char *subsys, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A token bucket for one noisy source (a link, a collar). Zero-initialise it. */
struct gw_log_limiter {
	uint64_t window_ms;     /* start of the current one-second window */
	uint32_t in_window;     /* lines logged in it */
	uint32_t suppressed;    /* lines dropped since the last summary */
};

/* Log through the limiter; now_ms is a monotonic clock (callers inject it so tests stay deterministic). */
void gw_log_limited(struct gw_log_limiter *lim, uint64_t now_ms, int level, const char *subsys, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));

#endif
