/*
 * analysis/daemon/core_config.c — scentrack-core's INI file (libinih) and its diagnostics.
 *
 * Every key is listed in analysis/scentrack-core.ini.sample and in `scentrack-core --help`. An unknown
 * section or key, or a value out of range, is an error naming file:line (a typo must not silently become a
 * default), exit 78. Same rules and line counting as the gateway's gw/config.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "core.h"

static int g_level = CORE_LOG_NOTE;
static int g_prefix = -1;

void core_log_set_level(int level)
{
	g_level = level;
}

/* "<N>scentrack-core: LEVEL subsys: message" on stderr; <N> (journald's priority) only when stderr is not
 * a terminal, as the gateway does. */
void core_log(int level, const char *subsys, const char *fmt, ...)
{
	static const char *const names[8] = {"", "", "", "error", "warning", "notice", "info", "debug"};
	if (level > g_level)
		return;
	if (g_prefix < 0)
		g_prefix = !isatty(STDERR_FILENO);
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (g_prefix)
		fprintf(stderr, "<%d>scentrack-core: %s %s: %s\n", level, names[level & 7], subsys, msg);
	else
		fprintf(stderr, "scentrack-core: %s %s: %s\n", names[level & 7], subsys, msg);
}

int core_log_level_parse(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} t[] = {{"err", CORE_LOG_ERR}, {"warn", CORE_LOG_WARN}, {"note", CORE_LOG_NOTE}, {"info", CORE_LOG_INFO},
	         {"debug", CORE_LOG_DEBUG}};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (!strcasecmp(s, t[i].name))
			return t[i].level;
	return -1;
}

void core_config_defaults(struct core_config *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->db, sizeof c->db, "/var/lib/scentrack-core/core.sqlite");
	snprintf(c->status_file, sizeof c->status_file, "/run/scentrack-core/status.json");
	c->log_level = CORE_LOG_NOTE;
	c->stats_interval_s = 60;
	snprintf(c->ingest_endpoint, sizeof c->ingest_endpoint, "%s", AN_INGEST_ENDPOINT_DEFAULT);
	snprintf(c->secret_key, sizeof c->secret_key, "/etc/scentrack/core.key");
	snprintf(c->allow, sizeof c->allow, "/etc/scentrack/gateways.allow");
	snprintf(c->zap_domain, sizeof c->zap_domain, "%s", AN_INGEST_ZAP_DOMAIN_DEFAULT);
	c->credit = 16;
	snprintf(c->pub_endpoint, sizeof c->pub_endpoint, "%s", AN_PUB_ENDPOINT_DEFAULT);
	c->pub_sndhwm = AN_PUB_SNDHWM;
	c->max_items = AN_PUB_MAX_ITEMS_DEFAULT;
	snprintf(c->snap_endpoint, sizeof c->snap_endpoint, "%s", AN_PUB_SNAPSHOT_ENDPOINT_DEFAULT);
	c->hazard = true;
	c->eps_mm = AN_HAZARD_EPS_DERIVED;
	c->p_excavate = 0.5;
	c->agree_animals = 2;
	{
		struct an_hazard_opts ho;
		an_hazard_opts_init(&ho);
		c->box_frame = ho.box_frame;
		c->pinpoint_rat_mm = ho.pinpoint_rat_mm;
		c->pinpoint_dog_mm = ho.pinpoint_dog_mm;
		c->handler_verdicts = ho.handler_verdicts;
		c->handler_confirm_true = ho.fusion.handler_confirm_true;
		c->handler_confirm_false = ho.fusion.handler_confirm_false;
	}
	core_web_config_defaults(&c->web);
}

struct parse {
	struct core_config *c;
	const char *file;
	int err;
	FILE *f;
	int line; /* Debian's libinih is built without INI_HANDLER_LINENO: our reader counts lines */
	bool lat_seen, lon_seen;
};

static char *read_line(char *str, int num, void *stream)
{
	struct parse *st = stream;
	char *r = fgets(str, num, st->f);
	if (r)
		st->line++;
	return r;
}

static int unum(const char *v, unsigned long long lo, unsigned long long hi, unsigned long long *out)
{
	char *end;
	errno = 0;
	if (*v == '-' || !*v)
		return -1;
	unsigned long long x = strtoull(v, &end, 10);
	if (*end || errno || x < lo || x > hi)
		return -1;
	*out = x;
	return 0;
}

static int snum(const char *v, long long lo, long long hi, long long *out)
{
	char *end;
	errno = 0;
	if (!*v)
		return -1;
	long long x = strtoll(v, &end, 10);
	if (*end || errno || x < lo || x > hi)
		return -1;
	*out = x;
	return 0;
}

static int str_value(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);
	if (n >= cap)
		return -1;
	memcpy(dst, v, n + 1);
	return 0;
}

/* yes/true or no/false. @return 0, or -1 for anything else (*out untouched) */
static int yes_no(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false"))
		*out = false;
	else
		return -1;
	return 0;
}

#define BAD(fmt, ...)                                                                                         \
	do {                                                                                                  \
		core_log(CORE_LOG_ERR, "config", "%s:%d: [%s] %s: " fmt, st->file, st->line, section, name,       \
		         __VA_ARGS__);                                                                        \
		if (!st->err)                                                                                 \
			st->err = -EINVAL;                                                                    \
		return 1;                                                                                     \
	} while (0)
#define STR(field)                                                                                            \
	do {                                                                                                  \
		if (str_value(c->field, sizeof c->field, v))                                                  \
			BAD("value longer than %zu bytes", sizeof c->field - 1);                             \
	} while (0)
#define ENDPOINT(field)                                                                                       \
	do {                                                                                                  \
		if (strncmp(v, "tcp://", 6) && strncmp(v, "ipc://", 6))                                       \
			BAD("\"%s\": expected tcp://HOST:PORT or ipc://PATH", v);                            \
		STR(field);                                                                                   \
	} while (0)

static int on_kv(void *user, const char *section, const char *name, const char *v)
{
	struct parse *st = user;
	struct core_config *c = st->c;
	unsigned long long u;
	long long s;

	if (!name)
		return 1;
	if (!strcmp(section, "core")) {
		if (!strcmp(name, "db")) {
			if (!*v)
				BAD("%s", "must not be empty");
			STR(db);
		} else if (!strcmp(name, "status_file")) {
			STR(status_file);
		} else if (!strcmp(name, "log_level")) {
			int l = core_log_level_parse(v);
			if (l < 0)
				BAD("\"%s\": expected err, warn, note, info or debug", v);
			c->log_level = l;
		} else if (!strcmp(name, "stats_interval_s")) {
			if (unum(v, 0, 86400, &u))
				BAD("\"%s\": expected 0..86400", v);
			c->stats_interval_s = (unsigned)u;
		} else {
			BAD("%s", "unknown key");
		}
	} else if (!strcmp(section, "ingest")) {
		if (!strcmp(name, "endpoint"))
			ENDPOINT(ingest_endpoint);
		else if (!strcmp(name, "secret_key"))
			STR(secret_key);
		else if (!strcmp(name, "allow"))
			STR(allow);
		else if (!strcmp(name, "zap_domain")) {
			if (!*v)
				BAD("%s", "must not be empty (an empty ZAP domain would accept any client key)");
			STR(zap_domain);
		} else if (!strcmp(name, "credit")) {
			if (unum(v, 1, 1024, &u))
				BAD("\"%s\": expected 1..1024", v);
			c->credit = (unsigned)u;
		} else {
			BAD("%s", "unknown key");
		}
	} else if (!strcmp(section, "pub")) {
		if (!strcmp(name, "endpoint"))
			ENDPOINT(pub_endpoint);
		else if (!strcmp(name, "sndhwm")) {
			if (unum(v, 1, 10000000, &u))
				BAD("\"%s\": expected 1..10000000", v);
			c->pub_sndhwm = (unsigned)u;
		} else if (!strcmp(name, "max_items")) {
			if (unum(v, 1, 100000000, &u))
				BAD("\"%s\": expected 1..100000000", v);
			c->max_items = (unsigned long)u;
		} else {
			BAD("%s", "unknown key");
		}
	} else if (!strcmp(section, "snapshot")) {
		if (!strcmp(name, "endpoint"))
			ENDPOINT(snap_endpoint);
		else
			BAD("%s", "unknown key");
	} else if (!strcmp(section, "clearance")) {
		if (!strcmp(name, "endpoint")) {
			if (*v)
				ENDPOINT(clr_endpoint);
		} else {
			BAD("%s", "unknown key");
		}
	} else if (!strcmp(section, "hazard")) {
		if (!strcmp(name, "enabled")) {
			if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
				c->hazard = true;
			else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
				c->hazard = false;
			else
				BAD("\"%s\": expected true or false", v);
		} else if (!strcmp(name, "origin_lat_e7")) {
			if (snum(v, -900000000, 900000000, &s))
				BAD("\"%s\": expected -900000000..900000000 (degrees x 1e7)", v);
			c->origin_lat_e7 = (int32_t)s;
			st->lat_seen = true;
		} else if (!strcmp(name, "origin_lon_e7")) {
			if (snum(v, -1800000000, 1800000000, &s))
				BAD("\"%s\": expected -1800000000..1800000000 (degrees x 1e7)", v);
			c->origin_lon_e7 = (int32_t)s;
			st->lon_seen = true;
		} else if (!strcmp(name, "eps_mm")) {
			if (!strcmp(v, "auto"))
				c->eps_mm = AN_HAZARD_EPS_DERIVED;
			else if (unum(v, 100, 100000, &u))
				BAD("\"%s\": expected auto or 100..100000", v);
			else
				c->eps_mm = (int64_t)u;
		} else if (!strcmp(name, "density_per_100m2")) {
			char *end;
			double d = strtod(v, &end);
			if (end == v || *end || !(d > 0.0 && d <= 1000.0))
				BAD("\"%s\": expected explosive items per 100 m2, > 0 and <= 1000", v);
			c->density_per_m2 = d / 100.0;
		} else if (!strcmp(name, "require_handler")) {
			if (yes_no(v, &c->require_handler))
				BAD("\"%s\": expected yes or no", v);
		} else if (!strcmp(name, "box_frame")) {
			if (yes_no(v, &c->box_frame))
				BAD("\"%s\": expected yes or no", v);
		} else if (!strcmp(name, "pinpoint_rat_mm") || !strcmp(name, "pinpoint_dog_mm")) {
			if (unum(v, 0, 10000, &u))
				BAD("\"%s\": expected 0..10000 (mm, DRMS)", v);
			*(!strcmp(name, "pinpoint_rat_mm") ? &c->pinpoint_rat_mm : &c->pinpoint_dog_mm) = (uint32_t)u;
		} else if (!strcmp(name, "handler_verdicts")) {
			if (yes_no(v, &c->handler_verdicts))
				BAD("\"%s\": expected yes or no", v);
		} else if (!strcmp(name, "handler_confirm_true") || !strcmp(name, "handler_confirm_false")) {
			char *end;
			double p = strtod(v, &end);
			if (end == v || *end || !(p > 0.0 && p < 1.0))
				BAD("\"%s\": expected a probability strictly between 0 and 1", v);
			*(!strcmp(name, "handler_confirm_true") ? &c->handler_confirm_true : &c->handler_confirm_false) = p;
		} else if (!strcmp(name, "p_excavate")) {
			char *end;
			double p = strtod(v, &end);
			if (end == v || *end || !(p > 0.0 && p < 1.0))
				BAD("\"%s\": expected a probability strictly between 0 and 1", v);
			c->p_excavate = p;
		} else if (!strcmp(name, "agree_animals")) {
			if (unum(v, 1, 100, &u))
				BAD("\"%s\": expected 1..100", v);
			c->agree_animals = (unsigned)u;
		} else {
			BAD("%s", "unknown key");
		}
	} else if (!strcmp(section, "web")) {
		char why[160];
		if (core_web_config_kv(&c->web, name, v, why, sizeof why))
			BAD("%s", why);
	} else {
		BAD("%s", "unknown section (expected core, ingest, pub, snapshot, hazard or web)");
	}
	return 1;
}

int core_config_load(struct core_config *c, const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		core_log(CORE_LOG_ERR, "config", "%s: %s", path, strerror(e));
		return -e;
	}
	struct parse st = {.c = c, .file = path, .f = f};
	int r = ini_parse_stream(read_line, &st, on_kv, &st);
	fclose(f);
	if (r > 0 && !st.err) {
		core_log(CORE_LOG_ERR, "config", "%s:%d: syntax error (expected [section] or key = value)", path, r);
		return -EINVAL;
	}
	if (r < 0 || st.err)
		return st.err ? st.err : -EIO;
	if (st.lat_seen != st.lon_seen) {
		core_log(CORE_LOG_ERR, "config", "%s: [hazard]: origin_lat_e7 and origin_lon_e7 go together", path);
		return -EINVAL;
	}
	/* checked after the file: the two keys may come in any order */
	if (!(c->handler_confirm_false < c->handler_confirm_true)) {
		core_log(CORE_LOG_ERR, "config", "%s: [hazard]: handler_confirm_false (%g) must be below handler_confirm_true "
		         "(%g): a confirmation must raise P and a rejection lower it", path, c->handler_confirm_false,
		         c->handler_confirm_true);
		return -EINVAL;
	}
	c->has_origin = st.lat_seen;
	snprintf(c->file, sizeof c->file, "%s", path);
	return 0;
}
