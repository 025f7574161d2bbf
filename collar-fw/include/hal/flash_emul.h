/*
 * hal/flash_emul.h — an in-memory NOR flash with power-cut and torn-write injection (host board, tests,
 * simulator). Like Zephyr's gnss_emul: a real hal_flash implementation plus test-only "backdoors".
 *
 * Memory is caller-owned (no heap). The emulator enforces NOR rules strictly and counts every violation:
 *   - program that would set a 0 bit to 1: refused with -EPERM, counted in n_violations;
 *   - program of a prog unit already programmed since its last erase: performed (AND) but counted in
 *     n_reprograms, when the caller gave a `written` bitmap (one bit per prog unit) to track it;
 *   - misaligned or out-of-range calls: -EINVAL, counted in n_misuse.
 *
 * Power cuts: hal_flash_emul_cut_after(em, k, tear, seed) makes the k-th program/erase from now the last one
 * to run. With tear = 0 it completes (and returns 0: the caller may well see success), with tear = 1 it is
 * torn (returns -EIO) — a torn program leaves a random prefix of the target programmed and the next byte
 * with a random subset of its bits cleared; a torn erase leaves each byte old, erased, or old with random
 * bits set. After the cut every call (reads too) fails with -EIO until hal_flash_emul_power_on().
 */
#ifndef HAL_FLASH_EMUL_H
#define HAL_FLASH_EMUL_H

#include <stdint.h>

#include "hal/flash.h"

struct hal_flash_emul {
	uint8_t *mem;      /* n_pages * page_size bytes, caller-owned */
	uint8_t *written;  /* optional: (n_pages * page_size / prog_unit + 7) / 8 bytes, caller-owned, or NULL */
	uint32_t size;     /* bytes */
	uint32_t prog_unit;
	uint32_t page_size;

	/* fault injection */
	uint32_t cut_at;   /* ops value at which the power fails (0 = never) */
	int tear;          /* the cut operation is torn instead of completed */
	int powered;       /* 0 after a cut, until hal_flash_emul_power_on() */
	uint64_t rng;      /* xorshift64 state for tearing */

	/* counters (all since init) */
	uint32_t ops;            /* program + erase operations attempted while powered */
	uint32_t n_programs;
	uint32_t n_erases;
	uint32_t n_reads;
	uint32_t n_torn;
	uint32_t n_violations;   /* program asked to set a 0 bit to 1 (refused) */
	uint32_t n_reprograms;   /* program touched a unit already programmed since erase */
	uint32_t n_misuse;       /* misaligned / out of range */
};

/* Bytes of the optional write-once bitmap for a geometry. */
#define HAL_FLASH_EMUL_WRITTEN_BYTES(page_size, n_pages, prog_unit) \
	((((uint32_t)(page_size) * (uint32_t)(n_pages)) / (uint32_t)(prog_unit) + 7u) / 8u)

/*
 * Fill dev (api, ctx, geometry) and em; mem (page_size * n_pages bytes) is set to 0xFF (an erased chip).
 * written may be NULL. prog_unit must be a power of two dividing page_size.
 * @retval 0 ok   @retval -EINVAL bad geometry
 */
int hal_flash_emul_init(struct hal_flash *dev, struct hal_flash_emul *em, uint8_t *mem, uint8_t *written,
			uint32_t page_size, uint32_t n_pages, uint32_t prog_unit);

/* Arm a power cut: the k-th program/erase from now (k >= 1) is the last to run; torn if tear. */
void hal_flash_emul_cut_after(struct hal_flash_emul *em, uint32_t k, int tear, uint64_t seed);

/* Power back on (after a cut, or to disarm a pending one). Memory keeps whatever the cut left. */
void hal_flash_emul_power_on(struct hal_flash_emul *em);

/* 1 if the power has been cut. */
int hal_flash_emul_is_off(const struct hal_flash_emul *em);

#endif
