/*
 * gw/src/config.c — INI parsing with libinih into struct gw_config (keys in gw/config.h and the sample).
 */
#define _GNU_SOURCE
#include "gw/config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "gw/log.h"

void gw_config_defaults(struct gw_config *c)
{
	static const struct gw_pipeline_opts pipe = GW_PIPELINE_OPTS_INIT;
	memset(c, 0, sizeof *c);
	c->gw_id = 1;
	snprintf(c->keys, sizeof c->keys, "/etc/scentrack/collar-keys");
	snprintf(c->status_socket, sizeof c->status_socket, "/run/scentrack-gateway/status.sock");
	snprintf(c->spool, sizeof c->spool, "/var/lib/scentrack-gateway/spool.sqlite");
	c->spool_max_bytes = 1024ull << 20;
	c->log_level = GW_LOG_NOTE;
	c->stats_interval_s = 60;
	c->pipe = pipe;
}

int gw_config_log_level(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} t[] = {{"err", GW_LOG_ERR},   {"error", GW_LOG_ERR}, {"warn", GW_LOG_WARN},  {"warning", GW_LOG_WARN},
	         {"note", GW_LOG_NOTE}, {"info", GW_LOG_INFO}, {"debug", GW_LOG_DEBUG}};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (!strcasecmp(s, t[i].name))
			return t[i].level;
	return -1;
}

struct parse {
	struct gw_config *c;
	const char *file;
	int err;
	FILE *f;
	int line;     /* Debian's libinih is built without INI_HANDLER_LINENO: our reader counts lines */
};

static char *read_line(char *str, int num, void *stream)
{
	struct parse *st = stream;
	char *r = fgets(str, num, st->f);
	if (r)
		st->line++;
	return r;
}

/* Unsigned integer in [lo, hi]; the whole value must be a number. */
static int num(const char *v, unsigned long long lo, unsigned long long hi, unsigned long long *out)
{
	char *end;
	errno = 0;
	if (*v == '-')
		return -1;
	unsigned long long x = strtoull(v, &end, 0);
	if (end == v || *end || errno || x < lo || x > hi)
		return -1;
	*out = x;
	return 0;
}

static int path_value(char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

#define BAD(fmt, ...)                                                                                         \
	do {                                                                                                  \
		gw_log(GW_LOG_ERR, "config", "%s:%d: [%s] %s: " fmt, st->file, line, section, name, __VA_ARGS__); \
		st->err = -EINVAL;                                                                             \
		return 1;                                                                                     \
	} while (0)

static int on_link_key(struct parse *st, struct gw_link_cfg *lk, const char *section, const char *name,
                       const char *v, int line)
{
	unsigned long long x;
	if (!strcmp(name, "type")) {
		lk->kind = gw_link_kind_parse(v);
		if (!lk->kind || lk->kind == GW_LINK_FD)
			BAD("\"%s\": expected serial, tty or unix", v);
	} else if (!strcmp(name, "path")) {
		if (path_value(lk->path, sizeof lk->path, v) < 0)
			BAD("%s", "path too long");
	} else if (!strcmp(name, "usb")) {
		unsigned vid, pid;
		char extra;
		if (sscanf(v, "%4x:%4x%c", &vid, &pid, &extra) != 2)
			BAD("\"%s\": expected VID:PID in hex, e.g. 0403:6015", v);
		lk->has_usb = 1;
		lk->usb_vid = (uint16_t)vid;
		lk->usb_pid = (uint16_t)pid;
	} else if (!strcmp(name, "usb_serial")) {
		if (path_value(lk->usb_serial, sizeof lk->usb_serial, v) < 0)
			BAD("%s", "too long");
	} else if (!strcmp(name, "baud")) {
		if (num(v, 300, 4000000, &x) < 0)
			BAD("\"%s\": expected 300..4000000", v);
		lk->baud = (unsigned)x;
	} else if (!strcmp(name, "reopen_min_ms")) {
		if (num(v, 10, 600000, &x) < 0)
			BAD("\"%s\": expected 10..600000", v);
		lk->reopen_min_ms = (unsigned)x;
	} else if (!strcmp(name, "reopen_max_ms")) {
		if (num(v, 10, 3600000, &x) < 0)
			BAD("\"%s\": expected 10..3600000", v);
		lk->reopen_max_ms = (unsigned)x;
	} else {
		BAD("%s", "unknown key");
	}
	return 1;
}

static int on_kv(void *user, const char *section, const char *name, const char *v)
{
	struct parse *st = user;
	int line = st->line;
	struct gw_config *c = st->c;
	unsigned long long x;

	if (!name) /* a new section begins (INI_CALL_HANDLER_ON_NEW_SECTION builds) */
		return 1;
	if (!strncmp(section, "link ", 5) || !strcmp(section, "link")) {
		const char *lname = section[4] ? section + 5 : "";
		while (*lname == ' ')
			lname++;
		if (!*lname || strlen(lname) >= GW_LINK_NAME_MAX)
			BAD("%s", "a link section is [link NAME] with a name of 1..31 characters");
		int idx = -1;
		for (unsigned i = 0; i < c->n_links; i++)
			if (!strcmp(c->links[i].name, lname))
				idx = (int)i;
		if (idx < 0) {
			if (c->n_links >= GW_LINKS_MAX)
				BAD("more than %u links", GW_LINKS_MAX);
			idx = (int)c->n_links++;
			memset(&c->links[idx], 0, sizeof c->links[idx]);
			memcpy(c->links[idx].name, lname, strlen(lname) + 1);
			c->links[idx].kind = GW_LINK_SERIAL;
			c->links[idx].fd = -1;
		}
		return on_link_key(st, &c->links[idx], section, name, v, line);
	}
	if (!strcmp(section, "gateway")) {
		if (!strcmp(name, "id")) {
			if (num(v, 1, 65535, &x) < 0)
				BAD("\"%s\": expected 1..65535", v);
			c->gw_id = (uint16_t)x;
		} else if (!strcmp(name, "keys")) {
			if (path_value(c->keys, sizeof c->keys, v) < 0)
				BAD("%s", "path too long");
		} else if (!strcmp(name, "status_socket")) {
			if (path_value(c->status_socket, sizeof c->status_socket, v) < 0)
				BAD("%s", "path too long");
		} else if (!strcmp(name, "control_socket")) {
			if (path_value(c->control_socket, sizeof c->control_socket, v) < 0)
				BAD("%s", "path too long");
		} else if (!strcmp(name, "status_zmq")) {
			if (path_value(c->status_zmq, sizeof c->status_zmq, v) < 0)
				BAD("%s", "endpoint too long");
			if (c->status_zmq[0] && strncmp(c->status_zmq, "tcp://", 6) && strncmp(c->status_zmq, "ipc://", 6))
				BAD("\"%s\": expected tcp://HOST:PORT or ipc://PATH", v);
		} else if (!strcmp(name, "log_level")) {
			int lv = gw_config_log_level(v);
			if (lv < 0)
				BAD("\"%s\": expected err, warn, note, info or debug", v);
			c->log_level = lv;
		} else if (!strcmp(name, "stats_interval_s")) {
			if (num(v, 0, 86400, &x) < 0)
				BAD("\"%s\": expected 0..86400", v);
			c->stats_interval_s = (unsigned)x;
		} else {
			BAD("%s", "unknown key");
		}
	} else if (!strcmp(section, "spool")) {
		if (!strcmp(name, "path")) {
			if (path_value(c->spool, sizeof c->spool, v) < 0)
				BAD("%s", "path too long");
		} else if (!strcmp(name, "max_mb")) {
			if (num(v, 0, 1ull << 30, &x) < 0)
				BAD("\"%s\": expected 0 (unlimited) .. 1073741824", v);
			c->spool_max_bytes = x << 20;
		} else if (!strcmp(name, "max_bytes")) {
			if (num(v, 0, ULLONG_MAX >> 1, &x) < 0)
				BAD("\"%s\": expected a byte count", v);
			c->spool_max_bytes = x;
		} else if (!strcmp(name, "commit_ms")) {
			if (num(v, 1, 100, &x) < 0)
				BAD("\"%s\": expected 1..100 (fixes are committed within 100 ms)", v);
			c->pipe.commit_ms = (unsigned)x;
		} else if (!strcmp(name, "commit_gap_ms")) {
			if (num(v, 0, 100, &x) < 0)
				BAD("\"%s\": expected 0..100", v);
			c->pipe.commit_gap_ms = (unsigned)x;
		} else if (!strcmp(name, "early_commit")) {
			if (!strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "true"))
				c->pipe.early_commit = 1;
			else if (!strcmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "false"))
				c->pipe.early_commit = 0;
			else
				BAD("\"%s\": expected yes or no", v);
		} else if (!strcmp(name, "commit_max")) {
			if (num(v, 1, GW_PENDING_MAX, &x) < 0)
				BAD("\"%s\": expected 1..%u", v, GW_PENDING_MAX);
			c->pipe.commit_max = (unsigned)x;
		} else {
			BAD("%s", "unknown key");
		}
	} else if (!strcmp(section, "ack")) {
		if (!strcmp(name, "every")) {
			if (num(v, 1, 64, &x) < 0)
				BAD("\"%s\": expected 1..64", v);
			c->pipe.ack_every = (unsigned)x;
		} else if (!strcmp(name, "max_delay_ms")) {
			/* 0 = in the same loop turn (scentrack sim --fast: a real-time hold would be simulated seconds) */
			if (num(v, 0, 10000, &x) < 0)
				BAD("\"%s\": expected 0..10000", v);
			c->pipe.ack_ms = (unsigned)x;
		} else if (!strcmp(name, "credit")) {
			if (num(v, 0, 64, &x) < 0)
				BAD("\"%s\": expected 0 (omit) .. 64", v);
			c->pipe.credit = (uint8_t)x;
		} else {
			BAD("%s", "unknown key");
		}
	} else if (!strcmp(section, "upstream") || !strcmp(section, "dock")) {
		if (c->n_ext >= GW_CONFIG_EXT_MAX)
			BAD("more than %u [upstream]/[dock] keys", GW_CONFIG_EXT_MAX);
		struct gw_config_ext *e = &c->ext[c->n_ext];
		if (strlen(name) >= sizeof e->key || strlen(v) >= sizeof e->value)
			BAD("%s", "key or value too long");
		snprintf(e->section, sizeof e->section, "%s", section);
		memcpy(e->key, name, strlen(name) + 1);
		memcpy(e->value, v, strlen(v) + 1);
		e->line = (unsigned)line;
		c->n_ext++;
	} else {
		BAD("%s", "unknown section");
	}
	return 1;
}

int gw_config_load(struct gw_config *c, const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		gw_log(GW_LOG_ERR, "config", "%s: %s", path, strerror(e));
		return -e;
	}
	struct parse st = {c, path, 0, f, 0};
	int r = ini_parse_stream(read_line, &st, on_kv, &st);
	fclose(f);
	if (r > 0 && !st.err) {
		gw_log(GW_LOG_ERR, "config", "%s:%d: syntax error (expected [section] or key = value)", path, r);
		return -EINVAL;
	}
	if (r < 0 || st.err)
		return st.err ? st.err : -EIO;
	for (unsigned i = 0; i < c->n_links; i++) {
		struct gw_link_cfg *lk = &c->links[i];
		if (!lk->path[0] && !(lk->kind == GW_LINK_SERIAL && lk->has_usb)) {
			gw_log(GW_LOG_ERR, "config", "%s: [link %s]: needs path (or usb = VID:PID for type = serial)", path,
			       lk->name);
			return -EINVAL;
		}
	}
	snprintf(c->file, sizeof c->file, "%s", path);
	return 0;
}

const char *gw_config_get(const struct gw_config *c, const char *section, const char *key)
{
	for (unsigned i = c->n_ext; i-- > 0;)
		if (!strcmp(c->ext[i].section, section) && !strcmp(c->ext[i].key, key))
			return c->ext[i].value;
	return NULL;
}

int gw_config_check_keys(const struct gw_config *c, const char *section, const char *const *known, size_t n_known)
{
	for (unsigned i = 0; i < c->n_ext; i++) {
		if (strcmp(c->ext[i].section, section) != 0)
			continue;
		bool ok = false;
		for (size_t k = 0; k < n_known; k++)
			ok = ok || strcmp(c->ext[i].key, known[k]) == 0;
		if (!ok) {
			gw_log(GW_LOG_ERR, "config", "%s:%u: unknown key \"%s\" in [%s]", c->file, c->ext[i].line,
			       c->ext[i].key, section);
			return -EINVAL;
		}
	}
	return 0;
}

int gw_config_get_u32(const struct gw_config *c, const char *section, const char *key, uint32_t min, uint32_t max,
                      uint32_t *out)
{
	const char *v = gw_config_get(c, section, key);
	if (!v)
		return 0;
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (errno || end == v || *end || x < min || x > max) {
		gw_log(GW_LOG_ERR, "config", "%s: [%s] %s = \"%s\": expected %" PRIu32 "..%" PRIu32, c->file, section, key,
		       v, min, max);
		return -EINVAL;
	}
	*out = (uint32_t)x;
	return 0;
}
