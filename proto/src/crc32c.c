/*
 * proto/src/crc32c.c — CRC-32C, reflected, table-driven (one 1 KiB const table: flash, not RAM, on the MCU).
 * The table is generated at compile time from the polynomial below rather than pasted, so it cannot drift.
 */
#include "proto/crc32c.h"

#define POLY 0x82F63B78u

#define T1(c) (((c) & 1u) ? ((c) >> 1) ^ POLY : (c) >> 1)
#define T8(c) T1(T1(T1(T1(T1(T1(T1(T1((uint32_t)(c)))))))))
#define R4(i) T8(i), T8((i) + 1), T8((i) + 2), T8((i) + 3)
#define R16(i) R4(i), R4((i) + 4), R4((i) + 8), R4((i) + 12)
#define R64(i) R16(i), R16((i) + 16), R16((i) + 32), R16((i) + 48)

static const uint32_t crc_table[256] = {R64(0), R64(64), R64(128), R64(192)};

uint32_t proto_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
	return ~crc;
}
