/*
 * analysis/daemon/web.c — scentrack-core's HTTP server (see web.h): libmicrohttpd without a thread of its
 * own (MHD_USE_EPOLL, no internal polling thread): core_main's zmq_poll watches the epoll fd and calls
 * core_web_service(). Routing, static files, the MBTiles tiles, token checks and the [web] config keys.
 *
 * Why libmicrohttpd and not civetweb: civetweb serves every connection from a worker thread of its pool;
 * the core has ONE event loop (the store connection and the live state are single-threaded), so every
 * request would have to be handed back to the loop through a queue. libmicrohttpd runs inside our loop
 * (external epoll), and suspends/resumes connections, which is exactly what an SSE stream that waits for
 * the next commit needs. Both are Debian packages; libmicrohttpd is GNU's and has no dependency we lack.
 *
 * Static files: only regular files under root (realpath of the result must be inside realpath(root)), names
 * of [A-Za-z0-9._-/] without "..", a dot-segment or "//"; MIME type by extension; ETag = size + mtime,
 * If-None-Match → 304; "Cache-Control: no-cache" (always revalidated: the page must never run stale JS
 * against a newer server, and the ETag makes revalidation cheap).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core.h"
#include "proto/hmac.h"
#include "web_internal.h"

#ifndef SCENTRACK_WEB_ROOT
#define SCENTRACK_WEB_ROOT "/usr/share/scentrack/web"
#endif

void web_log(int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	core_log(level, "web", "%s", msg);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	core_log(CORE_LOG_INFO, "web", "libmicrohttpd: %s", msg);
}

void web_error(struct wb *b, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	b->len = 0;
	wb_puts(b, "{\"error\":");
	wb_str(b, msg);
	wb_puts(b, "}");
}

/* ---- config ------------------------------------------------------------------------------------------ */

void core_web_config_defaults(struct core_web_config *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->root, sizeof c->root, "%s", SCENTRACK_WEB_ROOT);
	c->replay = 4096;
	c->max_clients = 256;
	c->heartbeat_s = 15;
	c->alert_link_lost_s = 60;
	c->alert_gps_lost_s = 45; /* > a stationary collar's 10 s fix period + the 15 s FIXB hold */
	c->alert_battery_pct = 20;
	c->alert_heat_c = 32;
	c->alert_outside_box_cm = 100;
	c->alert_stationary_s = 60;
	c->alert_stationary_cm = 200;
	c->alert_bout_rat_s = 30 * 60;
	c->alert_bout_dog_s = 20 * 60;
	c->alert_bout_gap_s = 10 * 60;
}

static int kv_num(const char *v, unsigned long lo, unsigned long hi, unsigned *out)
{
	char *end;
	errno = 0;
	if (!*v || *v == '-')
		return -1;
	unsigned long x = strtoul(v, &end, 10);
	if (*end || errno || x < lo || x > hi)
		return -1;
	*out = (unsigned)x;
	return 0;
}

static int kv_str(char *dst, size_t cap, const char *v, char *why, size_t wcap)
{
	if (strlen(v) >= cap) {
		snprintf(why, wcap, "value longer than %zu bytes", cap - 1);
		return -1;
	}
	snprintf(dst, cap, "%s", v);
	return 0;
}

int core_web_config_kv(struct core_web_config *c, const char *name, const char *v, char *why, size_t cap)
{
	if (!strcmp(name, "listen"))
		return kv_str(c->listen, sizeof c->listen, v, why, cap);
	if (!strcmp(name, "root")) {
		if (!*v) {
			snprintf(why, cap, "must not be empty");
			return -1;
		}
		return kv_str(c->root, sizeof c->root, v, why, cap);
	}
	if (!strcmp(name, "token_file"))
		return kv_str(c->token_file, sizeof c->token_file, v, why, cap);
	if (!strcmp(name, "mbtiles"))
		return kv_str(c->mbtiles, sizeof c->mbtiles, v, why, cap);
	struct {
		const char *name;
		unsigned *dst;
		unsigned long lo, hi;
	} nums[] = {{"replay", &c->replay, 16, 1u << 20}, {"max_clients", &c->max_clients, 1, 10000},
	            {"heartbeat_s", &c->heartbeat_s, 1, 3600},
	            {"alert_link_lost_s", &c->alert_link_lost_s, 0, 86400},
	            {"alert_gps_lost_s", &c->alert_gps_lost_s, 0, 86400},
	            {"alert_battery_pct", &c->alert_battery_pct, 0, 100},
	            {"alert_heat_c", &c->alert_heat_c, 0, 125},
	            {"alert_outside_box_cm", &c->alert_outside_box_cm, 0, 100000},
	            {"alert_stationary_s", &c->alert_stationary_s, 0, 86400},
	            {"alert_stationary_cm", &c->alert_stationary_cm, 1, 100000},
	            {"alert_bout_rat_s", &c->alert_bout_rat_s, 0, 86400},
	            {"alert_bout_dog_s", &c->alert_bout_dog_s, 0, 86400},
	            {"alert_bout_gap_s", &c->alert_bout_gap_s, 1, 86400}};
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
		if (!strcmp(name, nums[i].name)) {
			if (kv_num(v, nums[i].lo, nums[i].hi, nums[i].dst)) {
				snprintf(why, cap, "\"%s\": expected %lu..%lu", v, nums[i].lo, nums[i].hi);
				return -1;
			}
			return 0;
		}
	snprintf(why, cap, "unknown key");
	return -1;
}

/* ---- auth ------------------------------------------------------------------------------------------------ */

static int read_token(struct core_web *w, char *err, size_t cap)
{
	if (!w->cfg.token_file[0])
		return 0;
	FILE *f = fopen(w->cfg.token_file, "re");
	if (!f) {
		snprintf(err, cap, "[web] token_file %s: %s", w->cfg.token_file, strerror(errno));
		return -EINVAL;
	}
	char line[sizeof w->token + 2];
	if (!fgets(line, sizeof line, f))
		line[0] = 0;
	fclose(f);
	size_t n = strcspn(line, "\r\n");
	line[n] = 0;
	if (n < 16 || n >= sizeof w->token) {
		snprintf(err, cap, "[web] token_file %s: the first line must be a token of 16..%zu characters", w->cfg.token_file,
		         sizeof w->token - 1);
		explicit_bzero(line, sizeof line);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] <= 0x20 || (unsigned char)line[i] >= 0x7f) {
			snprintf(err, cap, "[web] token_file %s: the token must be printable ASCII without spaces",
			         w->cfg.token_file);
			explicit_bzero(line, sizeof line);
			return -EINVAL;
		}
	memcpy(w->token, line, n + 1);
	explicit_bzero(line, sizeof line);
	w->has_token = true;
	struct proto_sha256 h;
	uint8_t d[PROTO_SHA256_LEN];
	proto_sha256_init(&h);
	proto_sha256_update(&h, w->token, n);
	proto_sha256_final(&h, d);
	for (int i = 0; i < 8; i++)
		snprintf(w->token_fp + 2 * i, 3, "%02x", d[i]);
	return 0;
}

/* @retval 0 ok; 401 no/wrong credentials; 403 writes are not configured */
int web_auth(struct core_web *w, struct MHD_Connection *c)
{
	if (!w->has_token)
		return 403;
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (!h || strncmp(h, "Bearer ", 7))
		return 401;
	h += 7;
	size_t n = strlen(w->token), m = strlen(h);
	unsigned diff = (unsigned)(n != m);
	for (size_t i = 0; i < n; i++) /* constant time over the secret's length */
		diff |= (unsigned)(unsigned char)w->token[i] ^ (unsigned)(unsigned char)(i < m ? h[i] : 0);
	return diff ? 401 : 0;
}

#define WEB_CSP                                                                                              \
	"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "    \
	"media-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "  \
	"frame-ancestors 'none'; form-action 'self'"

/* ---- static files --------------------------------------------------------------------------------------- */

static const char *mime_of(const char *path)
{
	static const struct {
		const char *ext, *type;
	} t[] = {{".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
	         {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
	         {".json", "application/json"}, {".map", "application/json"}, {".svg", "image/svg+xml"},
	         {".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".gif", "image/gif"},
	         {".ico", "image/x-icon"}, {".webp", "image/webp"}, {".woff2", "font/woff2"}, {".woff", "font/woff"},
	         {".txt", "text/plain; charset=utf-8"}, {".webmanifest", "application/manifest+json"},
	         {".wav", "audio/wav"}, {".mp3", "audio/mpeg"}, {".ogg", "audio/ogg"}};
	const char *dot = strrchr(path, '.');
	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
			if (!strcasecmp(dot, t[i].ext))
				return t[i].type;
	return "application/octet-stream";
}

static bool safe_path(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *s = p; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-' || c == '/'))
			return false;
		if (c == '/' && (s[1] == '/' || s[1] == '.'))
			return false; /* "//", "/.", "/..", hidden files */
	}
	return strlen(p) < 256;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, struct wb *b, const char *ctype)
{
	if (b->oom) {
		wb_free(b);
		status = 500;
		wb_puts(b, "{\"error\":\"out of memory\"}");
		ctype = "application/json";
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(b->len, b->p ? b->p : (void *)"", b->p ? MHD_RESPMEM_MUST_FREE
	                                                                                               : MHD_RESPMEM_PERSISTENT);
	b->p = NULL;
	b->len = b->cap = 0;
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", ctype);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (status == 401)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"scentrack\"");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result json_error(struct MHD_Connection *c, unsigned status, const char *fmt, const char *arg)
{
	struct wb b = {0};
	web_error(&b, fmt, arg);
	return answer(c, status, &b, "application/json");
}

static enum MHD_Result serve_static(struct core_web *w, struct MHD_Connection *c, const char *url)
{
	const char *rel = !strcmp(url, "/") ? "/index.html" : url;
	if (!safe_path(rel))
		return json_error(c, 404, "%s: no such file (names are [A-Za-z0-9._-/], no dot segments)", "path");
	char path[PATH_MAX], real[PATH_MAX], rootreal[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s%s", w->cfg.root, rel) >= sizeof path || !realpath(w->cfg.root, rootreal) ||
	    !realpath(path, real))
		return json_error(c, 404, "%s: no such file", "path");
	size_t rl = strlen(rootreal);
	if (strncmp(real, rootreal, rl) || real[rl] != '/')
		return json_error(c, 404, "%s: no such file", "path"); /* a symlink out of root */
	int fd = open(real, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return json_error(c, 404, "%s: no such file", "path");
	}
	char etag[64];
	snprintf(etag, sizeof etag, "\"%" PRIx64 "-%" PRIx64 "\"", (uint64_t)st.st_size,
	         (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec);
	const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
	struct MHD_Response *r;
	unsigned status = 200;
	if (inm && strstr(inm, etag)) {
		close(fd);
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		status = 304;
	} else {
		r = MHD_create_response_from_fd((uint64_t)st.st_size, fd); /* owns fd */
	}
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", mime_of(real));
	if (!strncmp(mime_of(real), "text/html", 9))
		/* the page may talk to this server only: nothing leaves the machine, no injected script runs */
		MHD_add_response_header(r, "Content-Security-Policy", WEB_CSP);
	MHD_add_response_header(r, "ETag", etag);
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- MBTiles ---------------------------------------------------------------------------------------------- */

static enum MHD_Result serve_tile(struct core_web *w, struct MHD_Connection *c, const char *url)
{
	unsigned z, x, y;
	char ext[8], tail;
	if (!w->tiles)
		return json_error(c, 404, "%s: no tiles configured ([web] mbtiles)", "tiles");
	if (sscanf(url, "/tiles/%u/%u/%u.%7[a-z]%c", &z, &x, &y, ext, &tail) != 4 || z > 24 || x >= (1u << z) ||
	    y >= (1u << z))
		return json_error(c, 404, "%s: expected /tiles/Z/X/Y.png with 0 <= X, Y < 2^Z, Z <= 24", "tile");
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(w->tiles, "SELECT tile_data FROM tiles WHERE zoom_level = ?1 AND tile_column = ?2 AND "
	                                 "tile_row = ?3", -1, &q, NULL) != SQLITE_OK)
		return json_error(c, 500, "tiles: %s", sqlite3_errmsg(w->tiles));
	sqlite3_bind_int(q, 1, (int)z);
	sqlite3_bind_int(q, 2, (int)x);
	sqlite3_bind_int(q, 3, (int)((1u << z) - 1u - y)); /* MBTiles rows are TMS: y grows north */
	if (sqlite3_step(q) != SQLITE_ROW) {
		sqlite3_finalize(q);
		return json_error(c, 404, "%s: not in the MBTiles file", "tile");
	}
	const void *blob = sqlite3_column_blob(q, 0);
	size_t n = (size_t)sqlite3_column_bytes(q, 0);
	const unsigned char *u = blob;
	const char *type = n >= 3 && u[0] == 0xff && u[1] == 0xd8 ? "image/jpeg"
	                 : n >= 12 && !memcmp(u + 8, "WEBP", 4) ? "image/webp" : "image/png";
	struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)(uintptr_t)blob, MHD_RESPMEM_MUST_COPY);
	sqlite3_finalize(q);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "max-age=86400");
	enum MHD_Result ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

/* What the page needs to decide between tiles and a metric grid: format, zoom range, bounds. */
static void tiles_metadata(struct core_web *w)
{
	sqlite3_stmt *q;
	w->tiles_minzoom = w->tiles_maxzoom = -1;
	snprintf(w->tiles_format, sizeof w->tiles_format, "png");
	if (sqlite3_prepare_v2(w->tiles, "SELECT name, value FROM metadata", -1, &q, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(q, 0), *v = (const char *)sqlite3_column_text(q, 1);
		if (!k || !v)
			continue;
		if (!strcmp(k, "format") && (!strcmp(v, "png") || !strcmp(v, "jpg") || !strcmp(v, "webp")))
			snprintf(w->tiles_format, sizeof w->tiles_format, "%s", v);
		else if (!strcmp(k, "minzoom"))
			w->tiles_minzoom = atoi(v);
		else if (!strcmp(k, "maxzoom"))
			w->tiles_maxzoom = atoi(v);
		else if (!strcmp(k, "bounds"))
			w->tiles_has_bounds = sscanf(v, "%lf,%lf,%lf,%lf", &w->tiles_bounds[0], &w->tiles_bounds[1],
			                             &w->tiles_bounds[2], &w->tiles_bounds[3]) == 4;
	}
	sqlite3_finalize(q);
}

void web_tiles_json(struct core_web *w, struct wb *b)
{
	if (!w->tiles) {
		wb_puts(b, "null");
		return;
	}
	wb_printf(b, "{\"format\":\"%s\",\"minzoom\":", w->tiles_format);
	wb_printf(b, w->tiles_minzoom >= 0 ? "%d" : "null", w->tiles_minzoom);
	wb_puts(b, ",\"maxzoom\":");
	wb_printf(b, w->tiles_maxzoom >= 0 ? "%d" : "null", w->tiles_maxzoom);
	if (w->tiles_has_bounds)
		wb_printf(b, ",\"bounds\":[%.7f,%.7f,%.7f,%.7f]}", w->tiles_bounds[0], w->tiles_bounds[1], w->tiles_bounds[2],
		          w->tiles_bounds[3]);
	else
		wb_puts(b, ",\"bounds\":null}");
}

/* ---- requests --------------------------------------------------------------------------------------------- */

struct req {
	struct wb body;
	bool too_big;
};

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct req *rq = *con_cls;
	if (rq) {
		wb_free(&rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)version;
	struct core_web *w = cls;
	struct req *rq = *con_cls;
	if (!rq) {
		rq = calloc(1, sizeof *rq);
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size) {
		if (rq->body.len + *upload_size > WEB_BODY_MAX)
			rq->too_big = true;
		else
			wb_raw(&rq->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	w->requests++;
	bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	if (rq->too_big && !(!strcmp(method, "POST") && !strncmp(url, "/api/", 5))) /* API writes: audited below */
		return json_error(c, 413, "%s: request body larger than 64 KiB", "body");
	if (!strcmp(url, "/api/events")) {
		if (!get)
			return json_error(c, 405, "%s: /api/events is GET only", "method");
		return web_sse_start(w, c);
	}
	if (!strcmp(url, "/api/snapshot")) {
		if (!get)
			return json_error(c, 405, "%s: /api/snapshot is GET only", "method");
		struct wb b = {0};
		web_snapshot(w, &b);
		return answer(c, 200, &b, "application/json");
	}
	if (!strncmp(url, "/api/", 5) || !strcmp(url, "/api")) {
		struct wb b = {0};
		const char *ctype = "application/json";
		char disp[160] = "";
		int status = web_api(w, c, method, url, rq->too_big ? NULL : rq->body.p ? rq->body.p : "", rq->body.len, &b,
		                     &ctype, disp, sizeof disp);
		if (status < 0)
			return MHD_NO;
		if (disp[0]) {
			struct MHD_Response *r = MHD_create_response_from_buffer(b.len, b.p ? b.p : (void *)"",
			                                                         b.p ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
			b.p = NULL;
			if (!r)
				return MHD_NO;
			MHD_add_response_header(r, "Content-Type", ctype);
			MHD_add_response_header(r, "Content-Disposition", disp);
			MHD_add_response_header(r, "Cache-Control", "no-store");
			enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
			MHD_destroy_response(r);
			return ret;
		}
		return answer(c, (unsigned)status, &b, ctype);
	}
	if (!get)
		return json_error(c, 405, "%s: only GET outside /api/", "method");
	if (!strncmp(url, "/tiles/", 7))
		return serve_tile(w, c, url);
	return serve_static(w, c, url);
}

/* %XX decoding of the path and the query, in place, except %00: a NUL would cut the C string MHD hands us
 * ("/app.js%00.png" would serve app.js), so it stays "%00", which no route or file name accepts. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	char *w = s;
	for (const char *r = s; *r; r++) {
		int hi, lo;
		if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 && (hi | lo)) {
			*w++ = (char)(hi << 4 | lo);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
	return (size_t)(w - s);
}

/* ---- life cycle ------------------------------------------------------------------------------------------- */

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, bool *v6, char *err, size_t cap)
{
	char host[CORE_WEB_LISTEN_MAX];
	const char *port;
	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof host)
			goto bad;
		memcpy(host, s + 1, (size_t)(e - s - 1));
		host[e - s - 1] = 0;
		port = e + 2;
	} else {
		const char *e = strrchr(s, ':');
		if (!e || (size_t)(e - s) >= sizeof host)
			goto bad;
		memcpy(host, s, (size_t)(e - s));
		host[e - s] = 0;
		port = e + 1;
	}
	unsigned p;
	if (kv_num(port, 0, 65535, &p))
		goto bad;
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai;
	if (getaddrinfo(host, port, &hints, &ai))
		goto bad;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	*v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	return 0;
bad:
	snprintf(err, cap, "[web] listen \"%s\": expected IPV4:PORT or [IPV6]:PORT (numeric; port 0 = any free port)", s);
	return -EINVAL;
}

int core_web_open(const struct core_web_config *cfg, struct an_store *s, struct an_pub *p, struct core_web **out,
                  char *err, size_t errcap)
{
	*out = NULL;
	if (!cfg->listen[0])
		return 0;
	struct core_web *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->cfg = *cfg;
	w->store = s;
	w->pub = p;
	w->epfd = -1;
	int rc;
	struct sockaddr_storage ss;
	socklen_t sl;
	bool v6;
	if ((rc = parse_listen(cfg->listen, &ss, &sl, &v6, err, errcap)) || (rc = read_token(w, err, errcap)))
		goto out_free;
	if (cfg->mbtiles[0] &&
	    sqlite3_open_v2(cfg->mbtiles, &w->tiles, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errcap, "[web] mbtiles %s: %s", cfg->mbtiles, w->tiles ? sqlite3_errmsg(w->tiles) : "cannot open");
		rc = -EINVAL;
		goto out_free;
	}
	if (w->tiles)
		tiles_metadata(w);
	if ((rc = web_sse_open(w, err, errcap)))
		goto out_free;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
	w->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handler, w, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	                          MHD_OPTION_CONNECTION_LIMIT, cfg->max_clients, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
	                          MHD_OPTION_NOTIFY_COMPLETED, completed, w, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, w,
	                          MHD_OPTION_LISTEN_BACKLOG_SIZE, 128u, MHD_OPTION_UNESCAPE_CALLBACK, unescape, w,
	                          MHD_OPTION_END);
	if (!w->mhd) {
		snprintf(err, errcap, "[web] listen %s: cannot start the HTTP server (address in use or not local?)",
		         cfg->listen);
		rc = -EADDRINUSE;
		goto out_sse;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	const union MHD_DaemonInfo *pi = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_BIND_PORT);
	if (!di || !pi) {
		snprintf(err, errcap, "[web] libmicrohttpd gave no epoll fd or port");
		rc = -EIO;
		goto out_mhd;
	}
	w->epfd = di->epoll_fd;
	char host[INET6_ADDRSTRLEN] = "?";
	if (v6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
	snprintf(w->url, sizeof w->url, v6 ? "http://[%s]:%u/" : "http://%s:%u/", host, (unsigned)pi->port);
	w->next_ping_ms = core_mono_ms() + cfg->heartbeat_s * 1000ull;
	an_pub_set_tap(p, web_tap, w);
	core_log(CORE_LOG_NOTE, "web", "serving %s from %s; writes %s%s%s", w->url, cfg->root,
	         w->has_token ? "need the token (fingerprint " : "refused (no [web] token_file)",
	         w->has_token ? w->token_fp : "", w->has_token ? ")" : "");
	*out = w;
	return 0;
out_mhd:
	MHD_stop_daemon(w->mhd);
out_sse:
	w->ids_ok = false; /* nothing issued: leave the store's ids as they were */
	web_sse_close(w);
out_free:
	if (w->tiles)
		sqlite3_close(w->tiles);
	explicit_bzero(w->token, sizeof w->token);
	free(w);
	return rc;
}

void core_web_close(struct core_web *w)
{
	if (!w)
		return;
	an_pub_set_tap(w->pub, NULL, NULL);
	/* Streams end cleanly (the page reconnects with Last-Event-ID to the next process). */
	w->stopping = true;
	web_sse_pump(w, core_mono_ms());
	MHD_run(w->mhd);
	MHD_stop_daemon(w->mhd);
	web_sse_close(w);
	if (w->tiles)
		sqlite3_close(w->tiles);
	explicit_bzero(w->token, sizeof w->token);
	free(w);
}

int core_web_fd(const struct core_web *w)
{
	return w ? w->epfd : -1;
}

uint64_t core_web_timeout(struct core_web *w, uint64_t max)
{
	if (!w)
		return max;
	MHD_UNSIGNED_LONG_LONG t;
	if (w->wake)
		return 0;
	if (MHD_get_timeout(w->mhd, &t) == MHD_YES && t < max)
		max = t;
	uint64_t now = core_mono_ms();
	uint64_t ping = w->next_ping_ms > now ? w->next_ping_ms - now : 0;
	uint64_t alert = w->next_alert_ms > now ? w->next_alert_ms - now : 0;
	if (alert < ping)
		ping = alert;
	return ping < max ? ping : max;
}

void core_web_service(struct core_web *w)
{
	if (!w)
		return;
	uint64_t now = core_mono_ms();
	web_alerts_tick(w, now);
	web_sse_pump(w, now);
	MHD_run(w->mhd);
}

void core_web_set_clearance_hook(struct core_web *w, core_web_clearance_fn fn, void *ctx)
{
	if (!w)
		return;
	w->on_clearance = fn;
	w->on_clearance_ctx = ctx;
}

void core_web_set_boxpos_hook(struct core_web *w, core_web_clearance_fn fn, void *ctx)
{
	if (!w)
		return;
	w->on_boxpos = fn;
	w->on_boxpos_ctx = ctx;
}

void core_web_set_review_hook(struct core_web *w, core_web_clearance_fn fn, void *ctx)
{
	if (!w)
		return;
	w->on_review = fn;
	w->on_review_ctx = ctx;
}

void core_web_status(const struct core_web *w, FILE *f)
{
	if (!w)
		return;
	fprintf(f, ",\"web\":{\"url\":\"%s\",\"requests\":%" PRIu64 ",\"sse_streams\":%zu,\"sse_opened\":%" PRIu64
	        ",\"sse_resets\":%" PRIu64 ",\"events\":%" PRIu64 ",\"events_dropped\":%" PRIu64 ",\"last_event_id\":%" PRIu64
	        ",\"writes_ok\":%" PRIu64 ",\"writes_refused\":%" PRIu64 "}",
	        w->url, w->requests, w->n_clients, w->sse_opened, w->sse_resets, w->events, w->ev_dropped, w->next_id - 1,
	        w->writes_ok, w->writes_refused);
}

const char *core_web_url(const struct core_web *w)
{
	return w ? w->url : "";
}
