/*
 * analysis/daemon/web_json.c — JSON for the web server: a growing output buffer with a strict string
 * escaper, and a parser for the small flat request bodies of the write API (an object of strings, numbers,
 * booleans and nulls; anything nested, duplicated, oversized or not UTF-8 is refused with the position).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "web_internal.h"

void wb_free(struct wb *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

static bool wb_grow(struct wb *b, size_t n)
{
	if (b->oom)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	size_t nc = b->cap ? b->cap : 1024;
	while (nc < b->len + n + 1)
		nc *= 2;
	char *np = realloc(b->p, nc);
	if (!np) {
		b->oom = true;
		return false;
	}
	b->p = np;
	b->cap = nc;
	return true;
}

void wb_raw(struct wb *b, const char *s, size_t n)
{
	if (!wb_grow(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void wb_puts(struct wb *b, const char *s)
{
	wb_raw(b, s, strlen(s));
}

void wb_printf(struct wb *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		wb_raw(b, tmp, (size_t)n);
		return;
	}
	if (!wb_grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 if invalid (overlongs and surrogates included). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t k;
	unsigned cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		k = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		k = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return k;
}

void wb_strn(struct wb *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	wb_raw(b, "\"", 1);
	size_t i = 0;
	while (i < n) {
		unsigned c = u[i];
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			wb_raw(b, e, 2);
			i++;
		} else if (c == '\n') {
			wb_raw(b, "\\n", 2);
			i++;
		} else if (c == '\t') {
			wb_raw(b, "\\t", 2);
			i++;
		} else if (c == '\r') {
			wb_raw(b, "\\r", 2);
			i++;
		} else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&' || c == '\'') {
			wb_printf(b, "\\u%04x", c);
			i++;
		} else if (c < 0x80) {
			wb_raw(b, s + i, 1);
			i++;
		} else {
			size_t k = utf8_len(u + i, n - i);
			if (!k) {
				wb_raw(b, "\\ufffd", 6);
				i++;
			} else if (k == 3 && u[i] == 0xe2 && u[i + 1] == 0x80 && (u[i + 2] == 0xa8 || u[i + 2] == 0xa9)) {
				wb_printf(b, "\\u%04x", u[i + 2] == 0xa8 ? 0x2028u : 0x2029u);
				i += 3;
			} else {
				wb_raw(b, s + i, k);
				i += k;
			}
		}
	}
	wb_raw(b, "\"", 1);
}

void wb_str(struct wb *b, const char *s)
{
	wb_strn(b, s ? s : "", s ? strlen(s) : 0);
}

void wb_iso(struct wb *b, int64_t t_ms)
{
	time_t t = (time_t)(t_ms >= 0 ? t_ms / 1000 : (t_ms - 999) / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		wb_puts(b, "null");
		return;
	}
	wb_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	          tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(((t_ms % 1000) + 1000) % 1000));
}

void wb_deg(struct wb *b, int32_t e7)
{
	int64_t v = e7;
	const char *sign = v < 0 ? "-" : "";
	if (v < 0)
		v = -v;
	wb_printf(b, "%s%" PRId64 ".%07" PRId64, sign, v / 10000000, v % 10000000);
}

/* ---- parser ----------------------------------------------------------------------------------------------- */

struct jp {
	const char *s;
	size_t n, i;
	char *why;
	size_t cap;
};

static int jp_fail(struct jp *p, const char *what)
{
	snprintf(p->why, p->cap, "body: byte %zu: %s", p->i, what);
	return -EINVAL;
}

static void jp_ws(struct jp *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

static int hex4(const char *s, unsigned *v)
{
	*v = 0;
	for (int k = 0; k < 4; k++) {
		char c = s[k];
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
		           : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
		if (d > 15)
			return -1;
		*v = *v << 4 | d;
	}
	return 0;
}

static void put_utf8(struct wb *o, unsigned cp)
{
	char u[4];
	size_t k;
	if (cp < 0x80) {
		u[0] = (char)cp;
		k = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	wb_raw(o, u, k);
}

/* A string at p->i (on the opening quote) into o (unescaped; NUL and other controls refused). */
static int jp_string(struct jp *p, struct wb *o, size_t max)
{
	p->i++;
	while (p->i < p->n) {
		unsigned char c = (unsigned char)p->s[p->i];
		if (o->len > max)
			return jp_fail(p, "string too long");
		if (c == '"') {
			p->i++;
			if (!o->p)
				wb_raw(o, "", 0);
			return o->oom ? -ENOMEM : 0;
		}
		if (c < 0x20)
			return jp_fail(p, "control character in a string");
		if (c == '\\') {
			if (p->i + 1 >= p->n)
				return jp_fail(p, "unterminated escape");
			char e = p->s[p->i + 1];
			p->i += 2;
			switch (e) {
			case '"': wb_raw(o, "\"", 1); break;
			case '\\': wb_raw(o, "\\", 1); break;
			case '/': wb_raw(o, "/", 1); break;
			case 'b': case 'f': return jp_fail(p, "control character in a string");
			case 'n': wb_raw(o, "\n", 1); break;
			case 'r': wb_raw(o, "\r", 1); break;
			case 't': wb_raw(o, "\t", 1); break;
			case 'u': {
				unsigned cp, lo;
				if (p->i + 4 > p->n || hex4(p->s + p->i, &cp))
					return jp_fail(p, "bad \\u escape");
				p->i += 4;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (p->i + 6 > p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' ||
					    hex4(p->s + p->i + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
						return jp_fail(p, "unpaired surrogate");
					p->i += 6;
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				} else if (cp >= 0xdc00 && cp <= 0xdfff) {
					return jp_fail(p, "unpaired surrogate");
				}
				if (cp < 0x20 && cp != '\n' && cp != '\r' && cp != '\t')
					return jp_fail(p, "control character in a string");
				put_utf8(o, cp);
				break;
			}
			default:
				return jp_fail(p, "bad escape");
			}
			continue;
		}
		size_t k = utf8_len((const unsigned char *)p->s + p->i, p->n - p->i);
		if (!k)
			return jp_fail(p, "invalid UTF-8");
		wb_raw(o, p->s + p->i, k);
		p->i += k;
	}
	return jp_fail(p, "unterminated string");
}

int wj_parse(const char *s, size_t len, struct wj_obj *o, char *why, size_t cap)
{
	struct jp p = {s, len, 0, why, cap};
	memset(o, 0, sizeof *o);
	jp_ws(&p);
	if (p.i >= p.n || s[p.i] != '{')
		return jp_fail(&p, "expected a JSON object");
	p.i++;
	jp_ws(&p);
	if (p.i < p.n && s[p.i] == '}') {
		p.i++;
		goto end;
	}
	for (;;) {
		jp_ws(&p);
		if (p.i >= p.n || s[p.i] != '"') {
			wj_free(o);
			return jp_fail(&p, "expected a key string");
		}
		struct wb k = {0};
		int rc = jp_string(&p, &k, 31);
		if (rc) {
			wb_free(&k);
			wj_free(o);
			return rc;
		}
		if (o->n == sizeof o->f / sizeof o->f[0] || k.len >= sizeof o->f[0].key) {
			wb_free(&k);
			wj_free(o);
			return jp_fail(&p, "too many or too long keys");
		}
		if (wj_get(o, k.p)) {
			snprintf(why, cap, "%s: field given twice", k.p);
			wb_free(&k);
			wj_free(o);
			return -EINVAL;
		}
		struct wj_field *f = &o->f[o->n];
		memcpy(f->key, k.p, k.len + 1);
		wb_free(&k);
		jp_ws(&p);
		if (p.i >= p.n || s[p.i] != ':') {
			wj_free(o);
			return jp_fail(&p, "expected ':'");
		}
		p.i++;
		jp_ws(&p);
		if (p.i >= p.n) {
			wj_free(o);
			return jp_fail(&p, "expected a value");
		}
		struct wb v = {0};
		char c = s[p.i];
		if (c == '"') {
			f->type = WJ_STR;
			rc = jp_string(&p, &v, 4096);
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			size_t st = p.i;
			while (p.i < p.n && strchr("+-0123456789.eE", s[p.i]))
				p.i++;
			if (p.i - st > 40)
				rc = jp_fail(&p, "number too long");
			else
				wb_raw(&v, s + st, p.i - st);
			f->type = WJ_NUM;
		} else if (p.n - p.i >= 4 && !memcmp(s + p.i, "true", 4)) {
			f->type = WJ_BOOL;
			wb_puts(&v, "true");
			p.i += 4;
		} else if (p.n - p.i >= 5 && !memcmp(s + p.i, "false", 5)) {
			f->type = WJ_BOOL;
			wb_puts(&v, "false");
			p.i += 5;
		} else if (p.n - p.i >= 4 && !memcmp(s + p.i, "null", 4)) {
			f->type = WJ_NULL;
			wb_puts(&v, "");
			p.i += 4;
		} else {
			snprintf(why, cap, "%s: expected a string, number, boolean or null (objects and arrays are not "
			         "accepted)", f->key);
			wj_free(o);
			return -EINVAL;
		}
		if (rc || v.oom) {
			wb_free(&v);
			wj_free(o);
			return rc ? rc : -ENOMEM;
		}
		f->val = v.p;
		o->n++;
		jp_ws(&p);
		if (p.i < p.n && s[p.i] == ',') {
			p.i++;
			continue;
		}
		if (p.i < p.n && s[p.i] == '}') {
			p.i++;
			break;
		}
		wj_free(o);
		return jp_fail(&p, "expected ',' or '}'");
	}
end:
	jp_ws(&p);
	if (p.i != p.n) {
		wj_free(o);
		return jp_fail(&p, "trailing bytes after the object");
	}
	return 0;
}

void wj_free(struct wj_obj *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->f[i].val);
	o->n = 0;
}

const struct wj_field *wj_get(const struct wj_obj *o, const char *key)
{
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->f[i].key, key))
			return &o->f[i];
	return NULL;
}
