/*
 * tests/analysis/web/web_json_test.c — the web server's JSON escaper and request-body parser
 * (analysis/daemon/web_json.c): exact escapes for hostile text, invalid UTF-8, and a round trip of
 * seeded random strings through the escaper and back through the parser; every malformed body refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "web_internal.h"

static char *esc(const char *s, size_t n)
{
	struct wb b = {0};
	wb_strn(&b, s, n);
	cr_assert(!b.oom);
	return b.p;
}

Test(web_json, escapes_hostile_text)
{
	static const char hostile[] = "</script><img onerror='x'>&\"\\\n\r\t\x01\x7f";
	char *e = esc(hostile, sizeof hostile - 1);
	cr_assert_str_eq(e, "\"\\u003c/script\\u003e\\u003cimg onerror=\\u0027x\\u0027\\u003e\\u0026\\\"\\\\\\n\\r\\t"
	                    "\\u0001\\u007f\"");
	free(e);
	e = esc("a\xe2\x80\xa8" "b\xe2\x80\xa9" "c", 9); /* U+2028/U+2029 end a JS line */
	cr_assert_str_eq(e, "\"a\\u2028b\\u2029c\"");
	free(e);
	e = esc("Zo\xc3\xab \xe6\x97\xa5 \xf0\x9f\x90\x80", 13); /* valid UTF-8 stays as is */
	cr_assert_str_eq(e, "\"Zo\xc3\xab \xe6\x97\xa5 \xf0\x9f\x90\x80\"");
	free(e);
}

Test(web_json, invalid_utf8_becomes_replacement_char)
{
	static const struct {
		const char *in;
		size_t n;
		const char *out;
	} t[] = {
		{"\xff", 1, "\"\\ufffd\""},
		{"\xc0\xaf", 2, "\"\\ufffd\\ufffd\""},              /* overlong '/' */
		{"\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""},   /* a surrogate */
		{"a\xe6\x97", 3, "\"a\\ufffd\\ufffd\""},            /* truncated */
		{"\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* > U+10FFFF */
		{"x\0y", 3, "\"x\\u0000y\""},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char *e = esc(t[i].in, t[i].n);
		cr_assert_str_eq(e, t[i].out, "case %zu", i);
		free(e);
	}
}

Test(web_json, times_and_degrees)
{
	struct wb b = {0};
	wb_iso(&b, 1700000000123);
	wb_puts(&b, " ");
	wb_deg(&b, -259000001);
	wb_puts(&b, " ");
	wb_deg(&b, -5);
	wb_puts(&b, " ");
	wb_deg(&b, 1800000000);
	cr_assert_str_eq(b.p, "\"2023-11-14T22:13:20.123Z\" -25.9000001 -0.0000005 180.0000000");
	wb_free(&b);
}

/* Seeded random printable UTF-8 strings: escape, wrap in an object, parse back: identical. */
Test(web_json, round_trip_random)
{
	unsigned seed = 20261207;
	for (int k = 0; k < 5000; k++) {
		char s[64];
		size_t n = 0, len = (size_t)(rand_r(&seed) % 20);
		for (size_t i = 0; i < len; i++) {
			unsigned r = (unsigned)rand_r(&seed) % 6;
			if (r == 0) {
				s[n++] = "\"\\/<>&'\n\t"[rand_r(&seed) % 9];
			} else if (r == 1) {
				memcpy(s + n, "\xc3\xab", 2);
				n += 2;
			} else if (r == 2) {
				memcpy(s + n, "\xe2\x80\xa8", 3);
				n += 3;
			} else {
				s[n++] = (char)(0x20 + rand_r(&seed) % 95);
			}
		}
		s[n] = 0;
		struct wb b = {0};
		wb_puts(&b, "{\"k\":");
		wb_strn(&b, s, n);
		wb_puts(&b, "}");
		struct wj_obj o;
		char why[128];
		cr_assert_eq(wj_parse(b.p, b.len, &o, why, sizeof why), 0, "%s: %s", b.p, why);
		const struct wj_field *f = wj_get(&o, "k");
		cr_assert(f && f->type == WJ_STR);
		cr_assert_str_eq(f->val, s);
		wj_free(&o);
		wb_free(&b);
	}
}

Test(web_json, parses_flat_objects)
{
	const char *in = " {\"a\": \"x\\u00e9\\ud83d\\udc00\", \"n\": -12.5e1, \"t\": true, \"f\": false, \"z\": null} ";
	struct wj_obj o;
	char why[128];
	cr_assert_eq(wj_parse(in, strlen(in), &o, why, sizeof why), 0, "%s", why);
	cr_assert_eq(o.n, 5);
	cr_assert_str_eq(wj_get(&o, "a")->val, "x\xc3\xa9\xf0\x9f\x90\x80");
	cr_assert_eq(wj_get(&o, "n")->type, WJ_NUM);
	cr_assert_str_eq(wj_get(&o, "n")->val, "-12.5e1");
	cr_assert_eq(wj_get(&o, "t")->type, WJ_BOOL);
	cr_assert_eq(wj_get(&o, "z")->type, WJ_NULL);
	cr_assert_null(wj_get(&o, "missing"));
	wj_free(&o);
	cr_assert_eq(wj_parse("{}", 2, &o, why, sizeof why), 0);
	cr_assert_eq(o.n, 0);
}

Test(web_json, refuses_malformed_bodies)
{
	static const char *const bad[] = {
		"", "[]", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1} x", "{\"a\":{\"b\":1}}", "{\"a\":[1]}",
		"{\"a\":1,\"a\":2}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00x\"}", "{\"a\":\"\\u0001\"}", "{\"a\":\"\x01\"}",
		"{\"a\":\"\\q\"}", "{\"a\":\"\xff\"}", "{\"a\":\"unterminated}", "{a:1}", "{\"a\":tru}", "{\"a\":'x'}",
		"{\"0123456789012345678901234567890123\":1}", "{\"a\":\"\\b\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct wj_obj o;
		char why[128] = "";
		cr_assert_eq(wj_parse(bad[i], strlen(bad[i]), &o, why, sizeof why), -EINVAL, "accepted: %s", bad[i]);
		cr_assert(why[0], "no reason for %s", bad[i]);
	}
	/* more than 32 fields */
	struct wb b = {0};
	wb_puts(&b, "{");
	for (int i = 0; i < 33; i++)
		wb_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
	wb_puts(&b, "}");
	struct wj_obj o;
	char why[128];
	cr_assert_eq(wj_parse(b.p, b.len, &o, why, sizeof why), -EINVAL);
	wb_free(&b);
}
