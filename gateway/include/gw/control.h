/*
 * gw/control.h — operator commands to the running daemon over a unix socket ([gateway] control_socket).
 *
 * Why a socket of its own: the status socket is read-only by design (anyone allowed to look may connect);
 * commands change what the daemon does (a PROVISION writes a key into a collar), so this socket is created
 * mode 0600 — only the daemon's own user (root, or the service user via sudo) can connect.
 *
 * Protocol: the client sends ONE line (at most GW_CONTROL_LINE_MAX bytes with its '\n'; words separated by
 * single spaces), the daemon answers one line starting with "ok" or "error" and closes. Requests are
 * handled inside the daemon's event loop, so a handler runs between frames like everything else; a client
 * that sends nothing within GW_CONTROL_TIMEOUT_MS is dropped. Secrets never travel on this socket: a
 * PROVISION names the collar, and the daemon takes the key from its key file.
 *
 * Commands (registered by modules):
 *   provision COLLAR_ID rat|dog REPORT_MS [STATUS_MS]    (dock_daemon.c)
 */
#ifndef GW_CONTROL_H
#define GW_CONTROL_H

#include <stddef.h>

#include "gw/loop.h"

#define GW_CONTROL_LINE_MAX 256u
#define GW_CONTROL_ARGS_MAX 8u
#define GW_CONTROL_TIMEOUT_MS 2000u

struct gw_control;

/* Handle argv[0..argc) (argv[0] = the verb). Write the reply (without "ok"/"error" and newline) into
 * reply[0..cap). Return 0 → "ok <reply>", < 0 → "error <reply>". */
typedef int (*gw_control_fn)(void *arg, int argc, char **argv, char *reply, size_t cap);

/* @retval 0; -ENAMETOOLONG; -errno from socket/bind/chmod/listen; -ENOMEM */
int gw_control_open(struct gw_control **out, struct gw_loop *l, const char *path) __attribute__((warn_unused_result));
/* Close and unlink the socket. NULL-safe. */
void gw_control_close(struct gw_control *c);
/* @retval 0; -ENOSPC (at most 8 verbs) */
int gw_control_add(struct gw_control *c, const char *verb, gw_control_fn fn, void *arg);

/* Client side: send `line` (no newline) to the daemon at path, copy its reply line to out_fd.
 * @retval 0 the reply starts with "ok"; -EPROTO it starts with "error"; -ECONNREFUSED/-ENOENT no daemon;
 *         -ETIMEDOUT; other -errno */
int gw_control_request(const char *path, const char *line, int out_fd, int timeout_ms);

#endif
