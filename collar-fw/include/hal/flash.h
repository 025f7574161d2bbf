/*
 * hal/flash.h — the collar's data flash, as NOR pages (device-class API in the Zephyr style).
 *
 * The semantics every implementation provides and every user (cf/journal.h) must live with:
 *
 *   - The device is n_pages pages of page_size bytes. Offsets are absolute byte offsets from the start.
 *   - erase_page sets every byte of one page to 0xFF.
 *   - program can only clear bits: the result is old AND new, as on real NOR. Asking to turn a 0 bit back
 *     into 1 is a caller bug: implementations refuse it with -EPERM and count it (never silently AND).
 *     Callers should also program each prog_unit at most once between erases, because ECC flashes
 *     (e.g. STM32L4 double words) refuse a second write even when it only clears bits.
 *   - program offsets and lengths are multiples of prog_unit; read has no alignment rule.
 *   - Power can fail between any two program/erase operations, and during one: a torn program leaves an
 *     unknown prefix of the target programmed (the last byte possibly half-way); a torn erase leaves the
 *     page in an arbitrary mix of old and erased bits. Only an operation that returned 0 is complete.
 *
 * Implementations: boards/host/flash_file.c (a file, so kill -9 of the collar process is a power cut) and
 * boards/host/flash_emul.c (in memory, with fault injection for tests: hal/flash_emul.h).
 */
#ifndef HAL_FLASH_H
#define HAL_FLASH_H

#include <stdint.h>

struct hal_flash;

/* Every function returns 0 or a negative errno: -EINVAL (out of range or misaligned), -EPERM (program would
 * set a 0 bit to 1), -EIO (device failure, or the power is off). */
struct hal_flash_api {
	int (*read)(const struct hal_flash *dev, uint32_t off, void *buf, uint32_t len);
	int (*program)(const struct hal_flash *dev, uint32_t off, const void *buf, uint32_t len);
	int (*erase_page)(const struct hal_flash *dev, uint32_t page);
};

/* One flash device: the api table, the implementation's state, and the geometry (read-only after init). */
struct hal_flash {
	const struct hal_flash_api *api;
	void *ctx;
	uint32_t page_size; /* bytes per erasable page */
	uint32_t n_pages;
	uint32_t prog_unit; /* bytes per program unit (power of two); program offsets/lengths are multiples */
};

static inline int hal_flash_read(const struct hal_flash *dev, uint32_t off, void *buf, uint32_t len)
{
	return dev->api->read(dev, off, buf, len);
}

static inline int hal_flash_program(const struct hal_flash *dev, uint32_t off, const void *buf, uint32_t len)
{
	return dev->api->program(dev, off, buf, len);
}

static inline int hal_flash_erase_page(const struct hal_flash *dev, uint32_t page)
{
	return dev->api->erase_page(dev, page);
}

#endif
