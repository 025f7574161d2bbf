/*
 * gw/config.h — scentrack-gateway's INI configuration (libinih), every key documented in
 * gateway/scentrack-gateway.ini.sample and in `scentrack-gateway --help`.
 *
 * Sections: [gateway] [spool] [ack] [link NAME]... (this module), [upstream] and [dock] (kept as raw
 * key/value pairs for the modules that own them: gw_config_get()). An unknown section or key, or a value
 * out of range, is an error naming file:line — a typo in a config file must not silently become a default.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "gw/link.h"
#include "gw/pipeline.h"

#define GW_CONFIG_PATH_MAX 512u
#define GW_CONFIG_EXT_MAX 64u
#define GW_CONFIG_DEFAULT_FILE "/etc/scentrack/gateway.ini"

struct gw_config_ext {
	char section[32];
	char key[64];
	char value[512];
	unsigned line;
};

struct gw_config {
	char file[GW_CONFIG_PATH_MAX];          /* the file read ("" = defaults only) */
	/* [gateway] */
	uint16_t gw_id;                         /* id = 1..65535 */
	char keys[GW_CONFIG_PATH_MAX];          /* keys = collar key file */
	char status_socket[GW_CONFIG_PATH_MAX]; /* status_socket = unix socket path ("" = none) */
	char status_zmq[GW_CONFIG_PATH_MAX];    /* status_zmq = ZeroMQ REP endpoint for the status ("" = none) */
	char control_socket[GW_CONFIG_PATH_MAX]; /* control_socket = unix socket for operator commands, mode
	                                            0600 ("" = none, the default; gw/control.h) */
	int log_level;                          /* log_level = err|warn|note|info|debug */
	unsigned stats_interval_s;              /* stats_interval_s = 60 (0 = never) */
	/* [spool] */
	char spool[GW_CONFIG_PATH_MAX];         /* path = SQLite file */
	uint64_t spool_max_bytes;               /* max_mb = 1024 (0 = unlimited) */
	/* [spool] commit_ms, commit_max and [ack] every, max_delay_ms, credit */
	struct gw_pipeline_opts pipe;
	/* [link NAME] */
	unsigned n_links;
	struct gw_link_cfg links[GW_LINKS_MAX];
	/* [upstream], [dock] */
	unsigned n_ext;
	struct gw_config_ext ext[GW_CONFIG_EXT_MAX];
};

/* Fill with the defaults (no links). */
void gw_config_defaults(struct gw_config *c);
/* Read path over the current values. Errors are logged as "file:line: ...".
 * @retval 0; -ENOENT/-EACCES cannot read; -EINVAL syntax, unknown key, bad value */
int gw_config_load(struct gw_config *c, const char *path) __attribute__((warn_unused_result));
/* A value of [upstream] or [dock], NULL if absent. */
const char *gw_config_get(const struct gw_config *c, const char *section, const char *key);
/* Every key of [section] must be one of known[0..n_known): the module that owns the section says which
 * (gw_config_load cannot). @retval 0; -EINVAL (logged as "file:line: unknown key ...") */
int gw_config_check_keys(const struct gw_config *c, const char *section, const char *const *known, size_t n_known)
	__attribute__((warn_unused_result));
/* An unsigned decimal value of [section] key in min..max into *out; *out is left alone when the key is absent.
 * @retval 0; -EINVAL (logged) not a number or out of range */
int gw_config_get_u32(const struct gw_config *c, const char *section, const char *key, uint32_t min, uint32_t max,
                      uint32_t *out) __attribute__((warn_unused_result));

/* "err" "warn" "note" "info" "debug" → GW_LOG_*; -1 if unknown. */
int gw_config_log_level(const char *s);

#endif
