/*
 * console.c — line formatting for the console UART without printf.
 *
 * newlib's printf family costs ~10-20 KiB of flash and allocates (vfprintf's _malloc_r for wide/float
 * paths, stdio buffers), which the no-heap rule forbids. The console needs only integers, hex, fixed-point
 * decimals and UTC times, so those are formatted here into a bounded line buffer; a line that would not fit
 * is cut and marked with "~" rather than overflowing.
 */
#include <stdint.h>
#include <string.h>

#include "board.h"

void board_line_init(struct board_line *l)
{
	l->len = 0;
	l->truncated = 0;
}

static void put(struct board_line *l, const char *s, size_t n)
{
	size_t room = sizeof l->buf - 3u - l->len; /* keep room for "~\r\n" */
	if (n > room) {
		n = room;
		l->truncated = 1;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

void board_line_str(struct board_line *l, const char *s)
{
	put(l, s, strlen(s));
}

void board_line_u64(struct board_line *l, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof tmp;
	do {
		tmp[--i] = (char)('0' + (unsigned)(v % 10u));
		v /= 10u;
	} while (v != 0);
	put(l, tmp + i, sizeof tmp - i);
}

void board_line_u32(struct board_line *l, uint32_t v)
{
	char tmp[10];
	size_t i = sizeof tmp;
	do {
		tmp[--i] = (char)('0' + v % 10u);
		v /= 10u;
	} while (v != 0);
	put(l, tmp + i, sizeof tmp - i);
}

void board_line_i32(struct board_line *l, int32_t v)
{
	if (v < 0) {
		put(l, "-", 1);
		board_line_u32(l, (uint32_t)0 - (uint32_t)v);
	} else {
		board_line_u32(l, (uint32_t)v);
	}
}

void board_line_hex32(struct board_line *l, uint32_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[10] = {'0', 'x'};
	for (unsigned i = 0; i < 8u; i++) {
		tmp[2u + i] = digits[(v >> (28u - 4u * i)) & 0xFu];
	}
	put(l, tmp, sizeof tmp);
}

void board_line_fixed(struct board_line *l, int64_t v, unsigned decimals)
{
	uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	uint64_t scale = 1;
	for (unsigned i = 0; i < decimals; i++) {
		scale *= 10u;
	}
	if (v < 0) {
		put(l, "-", 1);
	}
	board_line_u64(l, a / scale);
	if (decimals == 0) {
		return;
	}
	char frac[20];
	uint64_t f = a % scale;
	for (unsigned i = decimals; i > 0; i--) {
		frac[i - 1u] = (char)('0' + (unsigned)(f % 10u));
		f /= 10u;
	}
	put(l, ".", 1);
	put(l, frac, decimals < sizeof frac ? decimals : sizeof frac);
}

static void put2(struct board_line *l, unsigned v, char after)
{
	char t[3] = {(char)('0' + v / 10u % 10u), (char)('0' + v % 10u), after};
	put(l, t, after ? 3u : 2u);
}

void board_line_utc(struct board_line *l, int64_t t_ms)
{
	int64_t days = t_ms / 86400000;
	uint32_t ms_of_day = (uint32_t)(t_ms % 86400000);
	/* civil_from_days (H. Hinnant), the inverse of cf_nmea_days_from_civil */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	uint32_t doe = (uint32_t)(z - era * 146097);
	uint32_t yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
	int64_t y = (int64_t)yoe + era * 400;
	uint32_t doy = doe - (365u * yoe + yoe / 4u - yoe / 100u);
	uint32_t mp = (5u * doy + 2u) / 153u;
	uint32_t d = doy - (153u * mp + 2u) / 5u + 1u;
	uint32_t m = mp < 10u ? mp + 3u : mp - 9u;
	if (m <= 2u) {
		y++;
	}
	board_line_u32(l, (uint32_t)y);
	put(l, "-", 1);
	put2(l, m, '-');
	put2(l, d, 'T');
	put2(l, ms_of_day / 3600000u, ':');
	put2(l, ms_of_day / 60000u % 60u, ':');
	put2(l, ms_of_day / 1000u % 60u, '.');
	char msd[3] = {(char)('0' + ms_of_day % 1000u / 100u), (char)('0' + ms_of_day % 100u / 10u),
		       (char)('0' + ms_of_day % 10u)};
	put(l, msd, 3);
	put(l, "Z", 1);
}

void board_line_emit(struct board_line *l)
{
	if (l->truncated) {
		l->buf[l->len++] = '~';
	}
	l->buf[l->len++] = '\r';
	l->buf[l->len++] = '\n';
	board_uart_write_all(BOARD_UART_CONSOLE, l->buf, l->len);
	board_line_init(l);
}
