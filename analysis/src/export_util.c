/*
 * analysis/src/export_util.c — exact number/time text and the JSON/XML/CSV escapers (export_internal.h).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_internal.h"

void an_exp__e7(char out[AN_EXP_E7_LEN], int64_t v)
{
	uint64_t a = v < 0 ? (uint64_t)(-(v + 1)) + 1u : (uint64_t)v;
	snprintf(out, AN_EXP_E7_LEN, "%s%" PRIu64 ".%07" PRIu64, v < 0 ? "-" : "", a / 10000000u, a % 10000000u);
}

void an_exp__mm(char out[32], int64_t v)
{
	uint64_t a = v < 0 ? (uint64_t)(-(v + 1)) + 1u : (uint64_t)v;
	snprintf(out, 32, "%s%" PRIu64 ".%03" PRIu64, v < 0 ? "-" : "", a / 1000u, a % 1000u);
}

int64_t an_exp__days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t mp = (int64_t)((m + 9) % 12);
	int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

void an_exp__time(char out[AN_EXP_TIME_LEN], int64_t t)
{
	int64_t days = t >= 0 ? t / 86400000 : -((-t + 86399999) / 86400000);
	int64_t rem = t - days * 86400000;
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	snprintf(out, AN_EXP_TIME_LEN, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03uZ", y, m, d,
	         (unsigned)(rem / 3600000), (unsigned)(rem / 60000 % 60), (unsigned)(rem / 1000 % 60),
	         (unsigned)(rem % 1000));
}

static int digits(const char **p, int n, long *out)
{
	long v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int an_exp__parse_time(const char *s, int64_t *t_ms, const char **why)
{
	const char *p = s;
	long y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
	*why = "expected an ISO 8601 UTC time such as 2024-05-01 or 2024-05-01T09:30:00Z";
	if (s == NULL || digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 || *p++ != '-' ||
	    digits(&p, 2, &d) < 0)
		return -EINVAL;
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo < 1 || mo > 12 || d < 1 || (unsigned long)d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap)) {
		*why = "no such calendar date";
		return -EINVAL;
	}
	int64_t off_min = 0;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, &mi) < 0)
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &sec) < 0)
				return -EINVAL;
			if (*p == '.' || *p == ',') {
				p++;
				int n = 0;
				long frac = 0;
				while (isdigit((unsigned char)*p)) {
					if (n < 3) {
						frac = frac * 10 + (*p - '0');
						n++;
					}
					p++;
				}
				if (n == 0)
					return -EINVAL;
				while (n++ < 3)
					frac *= 10;
				ms = frac; /* truncated to ms: the store keeps ms */
			}
		}
		if (h > 23 || mi > 59 || sec > 59) {
			*why = "hour, minute or second out of range (leap seconds are not accepted)";
			return -EINVAL;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1;
			long oh, om = 0;
			if (digits(&p, 2, &oh) < 0)
				return -EINVAL;
			if (*p == ':')
				p++;
			if (*p != '\0' && digits(&p, 2, &om) < 0)
				return -EINVAL;
			if (oh > 18 || om > 59) {
				*why = "time-zone offset out of range";
				return -EINVAL;
			}
			off_min = sign * (oh * 60 + om);
		} else {
			*why = "a time of day needs a zone ('Z' for UTC, or an offset like +02:00): without one it "
			       "could be local time";
			return -EINVAL;
		}
	}
	if (*p != '\0') {
		*why = "unexpected characters after the time";
		return -EINVAL;
	}
	int64_t days = an_exp__days_from_civil(y, (unsigned)mo, (unsigned)d);
	*t_ms = ((days * 24 + h) * 60 + mi - off_min) * 60000 + (int64_t)sec * 1000 + ms;
	*why = NULL;
	return 0;
}

/* Length of the valid UTF-8 sequence at p (1..4), 0 if the byte starts none (overlong forms, surrogates
 * and code points above U+10FFFF are invalid, per RFC 3629). */
static size_t utf8_len(const unsigned char *p)
{
	unsigned c = p[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
			return 0;
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

void an_exp__json_str(FILE *f, const char *s)
{
	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned c = *p;
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc((int)c, f);
			p++;
		} else if (c < 0x20) {
			switch (c) {
			case '\n': fputs("\\n", f); break;
			case '\r': fputs("\\r", f); break;
			case '\t': fputs("\\t", f); break;
			default: fprintf(f, "\\u%04x", c); break;
			}
			p++;
		} else {
			size_t n = utf8_len(p);
			if (n == 0) {
				fputs(REPLACEMENT, f);
				p++;
			} else {
				fwrite(p, 1, n, f);
				p += n;
			}
		}
	}
	fputc('"', f);
}

void an_exp__xml_text(FILE *f, const char *s)
{
	if (s == NULL)
		return;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned c = *p;
		switch (c) {
		case '&': fputs("&amp;", f); p++; continue;
		case '<': fputs("&lt;", f); p++; continue;
		case '>': fputs("&gt;", f); p++; continue;
		case '"': fputs("&quot;", f); p++; continue;
		case '\'': fputs("&apos;", f); p++; continue;
		default: break;
		}
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
			fputs(REPLACEMENT, f); /* not allowed in XML 1.0, not even as a character reference */
			p++;
			continue;
		}
		size_t n = utf8_len(p);
		if (n == 0) {
			fputs(REPLACEMENT, f);
			p++;
		} else {
			fwrite(p, 1, n, f);
			p += n;
		}
	}
}

void an_exp__csv_field(FILE *f, const char *s)
{
	if (s == NULL)
		return; /* empty field = absent */
	size_t len = strlen(s);
	bool quote = len > 0 && (s[0] == ' ' || s[len - 1] == ' ');
	for (size_t i = 0; i < len && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
	if (quote)
		fputc('"', f);
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (*p == '"') {
			fputs("\"\"", f);
			p++;
			continue;
		}
		size_t n = utf8_len(p);
		if (n == 0) {
			fputs(REPLACEMENT, f);
			p++;
		} else {
			fwrite(p, 1, n, f);
			p += n;
		}
	}
	if (quote)
		fputc('"', f);
}

void an_exp__utf8_clean(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	if (cap == 0)
		return;
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	while (*p) {
		size_t n = utf8_len(p);
		const char *src = n ? (const char *)p : REPLACEMENT;
		size_t w = n ? n : 3;
		if (o + w + 1 > cap)
			break;
		memcpy(out + o, src, w);
		o += w;
		p += n ? n : 1;
	}
	out[o] = '\0';
}

void an_exp__norm_token(char *s)
{
	for (; *s; s++) {
		if (*s == ' ' || *s == '-')
			*s = '_';
		else
			*s = (char)tolower((unsigned char)*s);
	}
}
