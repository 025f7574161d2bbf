/*
 * gw/loop.h — the gateway's one event loop: poll(2) over registered fds, plus timers.
 *
 * Everything the daemon does happens in callbacks of this loop, on one thread: serial links, the status
 * socket, signals (signalfd), the periodic cron, and — through the same API — the ZeroMQ upstream
 * (register ZMQ_FD with POLLIN and drain the socket while ZMQ_EVENTS says so; because ZMQ_FD is
 * edge-triggered, also drain from a prepare hook, which runs before every poll).
 *
 * Lifetimes (libuv rules): a callback may add or remove any fd/timer, including its own; a removed entry's
 * callback is never called again, even later in the same iteration. Timers are checked against a monotonic
 * clock (CLOCK_MONOTONIC, ms); poll's timeout is the time to the earliest timer, so nothing busy-waits.
 *
 * Limits: GW_LOOP_FDS_MAX fds, GW_LOOP_TIMERS_MAX timers, GW_LOOP_PREPARE_MAX prepare hooks.
 */
#ifndef GW_LOOP_H
#define GW_LOOP_H

#include <stdint.h>
#include <sys/types.h>

#define GW_LOOP_FDS_MAX 64u
#define GW_LOOP_TIMERS_MAX 32u
#define GW_LOOP_PREPARE_MAX 8u

struct gw_loop;

/* revents as from poll(2): POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL. */
typedef void (*gw_loop_fd_cb)(struct gw_loop *l, int fd, short revents, void *arg);
typedef void (*gw_loop_timer_cb)(struct gw_loop *l, int timer_id, void *arg);
/* Runs before every poll. Return 1 if it still has work queued (poll then uses timeout 0), else 0. */
typedef int (*gw_loop_prepare_cb)(struct gw_loop *l, void *arg);

/* @retval 0, -ENOMEM */
int gw_loop_new(struct gw_loop **out) __attribute__((warn_unused_result));
/* NULL-safe. Does not close registered fds (their owners do). */
void gw_loop_free(struct gw_loop *l);

/* Watch fd for events (POLLIN and/or POLLOUT; POLLERR/POLLHUP are always reported).
 * @retval 0; -EEXIST fd already registered; -ENOSPC table full; -EINVAL */
int gw_loop_fd_add(struct gw_loop *l, int fd, short events, gw_loop_fd_cb cb, void *arg)
	__attribute__((warn_unused_result));
/* Change the events of a registered fd. @retval 0, -ENOENT */
int gw_loop_fd_events(struct gw_loop *l, int fd, short events);
/* @retval 0, -ENOENT */
int gw_loop_fd_del(struct gw_loop *l, int fd);

/* Timer: first fires after due_ms, then every period_ms (0 = one-shot, removed after it fires).
 * Returns the timer id (>= 0) or -ENOSPC / -EINVAL. */
int gw_loop_timer_add(struct gw_loop *l, uint64_t due_ms, uint64_t period_ms, gw_loop_timer_cb cb, void *arg)
	__attribute__((warn_unused_result));
/* Re-arm an existing timer to fire after due_ms (keeps its period). @retval 0, -ENOENT */
int gw_loop_timer_rearm(struct gw_loop *l, int timer_id, uint64_t due_ms);
/* @retval 0, -ENOENT */
int gw_loop_timer_del(struct gw_loop *l, int timer_id);

/* @retval 0, -ENOSPC */
int gw_loop_prepare_add(struct gw_loop *l, gw_loop_prepare_cb cb, void *arg) __attribute__((warn_unused_result));

/* Run until gw_loop_stop() is called from a callback. @retval 0, or -errno if poll(2) failed. */
int gw_loop_run(struct gw_loop *l);
/* Run one iteration waiting at most max_wait_ms (-1: until the next timer). For tests. */
int gw_loop_run_once(struct gw_loop *l, int max_wait_ms);
void gw_loop_stop(struct gw_loop *l);

/* A listening unix stream socket at path (non-blocking, close-on-exec; a stale socket file from a crashed
 * run is replaced). mode 0: as the umask gives; else created with exactly that mode (umask around bind), so
 * there is no moment at which others could connect. Logs the failure under `who`. Returns the fd or -errno. */
int gw_unix_listen(const char *path, mode_t mode, int backlog, const char *who) __attribute__((warn_unused_result));

/* Monotonic ms, refreshed once per iteration (cheap; what callbacks should use for deadlines). */
uint64_t gw_loop_now_ms(const struct gw_loop *l);
/* Read the monotonic clock now (ms). */
uint64_t gw_clock_mono_ms(void);
/* UTC ms since 1970 from CLOCK_REALTIME. */
uint64_t gw_clock_utc_ms(void);

#endif
