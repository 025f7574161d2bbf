/*
 * flash_ram.c — hal_flash over a region of RAM, with the NOR rules of hal/flash.h enforced: erase sets a
 * page to 0xFF, program only clears bits (a request to set a 0 bit to 1 is refused with -EPERM and counted,
 * never silently ANDed), offsets and lengths of programs are multiples of prog_unit.
 *
 * On this board the region is the PSRAM at 0x21000000 standing in for the collar's external SPI NOR: it
 * keeps its content across a warm reset (fault, watchdog, SYSRESETREQ), and across QEMU runs when QEMU
 * backs its machine RAM with a file (README.md). Operations are not torn here: a RAM store cannot be cut
 * half-way by an emulated power failure. The journal's proof against torn writes is the host board's
 * emulator and kill -9 tests (tests/collar-fw/journal_test.c, journal_crash_test.py).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "board.h"

static int fr_read(const struct hal_flash *dev, uint32_t off, void *buf, uint32_t len)
{
	struct hal_flash_ram *fr = dev->ctx;
	if (off > fr->size || len > fr->size - off) {
		fr->n_misuse++;
		return -EINVAL;
	}
	memcpy(buf, fr->mem + off, len);
	return 0;
}

static int fr_program(const struct hal_flash *dev, uint32_t off, const void *buf, uint32_t len)
{
	struct hal_flash_ram *fr = dev->ctx;
	const uint8_t *src = buf;
	if (off > fr->size || len > fr->size - off || off % dev->prog_unit != 0 || len % dev->prog_unit != 0) {
		fr->n_misuse++;
		return -EINVAL;
	}
	/* check everything first: a refused program changes nothing */
	for (uint32_t i = 0; i < len; i++) {
		if ((uint8_t)(src[i] & (uint8_t)~fr->mem[off + i]) != 0) {
			fr->n_violations++;
			return -EPERM;
		}
	}
	for (uint32_t i = 0; i < len; i++) {
		fr->mem[off + i] &= src[i];
	}
	fr->n_programs++;
	return 0;
}

static int fr_erase_page(const struct hal_flash *dev, uint32_t page)
{
	struct hal_flash_ram *fr = dev->ctx;
	if (page >= dev->n_pages) {
		fr->n_misuse++;
		return -EINVAL;
	}
	memset(fr->mem + page * dev->page_size, 0xFF, dev->page_size);
	fr->n_erases++;
	return 0;
}

static const struct hal_flash_api fr_api = {
	.read = fr_read,
	.program = fr_program,
	.erase_page = fr_erase_page,
};

int hal_flash_ram_init(struct hal_flash *dev, struct hal_flash_ram *fr, uint8_t *mem, uint32_t page_size,
		       uint32_t n_pages, uint32_t prog_unit)
{
	if (mem == NULL || page_size == 0 || n_pages == 0 || prog_unit == 0 || (prog_unit & (prog_unit - 1u)) != 0 ||
	    page_size % prog_unit != 0 || n_pages > UINT32_MAX / page_size) {
		return -EINVAL;
	}
	memset(fr, 0, sizeof *fr);
	fr->mem = mem;
	fr->size = page_size * n_pages;
	dev->api = &fr_api;
	dev->ctx = fr;
	dev->page_size = page_size;
	dev->n_pages = n_pages;
	dev->prog_unit = prog_unit;
	return 0;
}
