/*
 * boards/host/flash_emul.c — in-memory NOR flash with power-cut and torn-write injection (hal/flash_emul.h).
 *
 * Strictness is the point: the journal above is only as trustworthy as this model is unforgiving, so every
 * rule of real NOR is checked and every breach counted, and tearing is random (seeded) rather than tidy.
 */
#include "hal/flash_emul.h"

#include <errno.h>
#include <string.h>

static uint64_t emul_rand(struct hal_flash_emul *em)
{
	/* xorshift64: deterministic per seed, good enough to scatter torn bits */
	uint64_t x = em->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	em->rng = x;
	return x;
}

static int emul_aligned(const struct hal_flash_emul *em, uint32_t off, uint32_t len)
{
	return (off % em->prog_unit) == 0 && (len % em->prog_unit) == 0;
}

static int emul_in_range(const struct hal_flash_emul *em, uint32_t off, uint32_t len)
{
	return off <= em->size && len <= em->size - off;
}

/*
 * Count the operation and decide its fate: 0 = run it normally, 1 = this is the cut operation (run it fully
 * and then the power is gone, or tear it), -EIO = the power is already off.
 */
static int emul_begin_op(struct hal_flash_emul *em)
{
	if (!em->powered)
		return -EIO;
	em->ops++;
	if (em->cut_at != 0 && em->ops == em->cut_at)
		return 1;
	return 0;
}

static int emul_read(const struct hal_flash *dev, uint32_t off, void *buf, uint32_t len)
{
	struct hal_flash_emul *em = dev->ctx;

	if (!em->powered)
		return -EIO;
	if (!emul_in_range(em, off, len)) {
		em->n_misuse++;
		return -EINVAL;
	}
	em->n_reads++;
	memcpy(buf, em->mem + off, len);
	return 0;
}

static void emul_mark_written(struct hal_flash_emul *em, uint32_t off, uint32_t len)
{
	if (em->written == NULL || len == 0)
		return;
	for (uint32_t u = off / em->prog_unit; u <= (off + len - 1) / em->prog_unit; u++) {
		uint8_t bit = (uint8_t)(1u << (u % 8));
		if (em->written[u / 8] & bit)
			em->n_reprograms++;
		em->written[u / 8] |= bit;
	}
}

static int emul_program(const struct hal_flash *dev, uint32_t off, const void *buf, uint32_t len)
{
	struct hal_flash_emul *em = dev->ctx;
	const uint8_t *src = buf;
	int fate;

	if (!emul_aligned(em, off, len) || !emul_in_range(em, off, len)) {
		em->n_misuse++;
		return -EINVAL;
	}
	fate = emul_begin_op(em);
	if (fate < 0)
		return fate;
	/* A 1 bit over a 0 bit: real NOR would silently keep the 0 and the caller would believe its data. */
	for (uint32_t i = 0; i < len; i++) {
		if ((uint8_t)(src[i] & (uint8_t)~em->mem[off + i]) != 0) {
			em->n_violations++;
			if (fate == 1)
				em->powered = 0;
			return -EPERM;
		}
	}
	em->n_programs++;
	if (fate == 1 && em->tear) {
		uint32_t done = len ? (uint32_t)(emul_rand(em) % len) : 0;
		for (uint32_t i = 0; i < done; i++)
			em->mem[off + i] &= src[i];
		if (done < len) /* the byte being programmed when the power went: some of its 0 bits made it */
			em->mem[off + done] &= (uint8_t)(src[done] | (uint8_t)emul_rand(em));
		emul_mark_written(em, off, done + 1 <= len ? done + 1 : len);
		em->n_torn++;
		em->powered = 0;
		return -EIO;
	}
	for (uint32_t i = 0; i < len; i++)
		em->mem[off + i] &= src[i];
	emul_mark_written(em, off, len);
	if (fate == 1)
		em->powered = 0;
	return 0;
}

static int emul_erase_page(const struct hal_flash *dev, uint32_t page)
{
	struct hal_flash_emul *em = dev->ctx;
	uint32_t off;
	int fate;

	if (page >= em->size / em->page_size) {
		em->n_misuse++;
		return -EINVAL;
	}
	fate = emul_begin_op(em);
	if (fate < 0)
		return fate;
	off = page * em->page_size;
	em->n_erases++;
	if (em->written != NULL)
		for (uint32_t u = off / em->prog_unit; u < (off + em->page_size) / em->prog_unit; u++)
			em->written[u / 8] &= (uint8_t)~(1u << (u % 8));
	if (fate == 1 && em->tear) {
		/* Erase pulses raise bits unevenly: per byte, left alone, fully erased, or some bits raised.
		 * The mix is chosen per operation so that "almost nothing" and "almost everything" both occur. */
		uint32_t p_erased = (uint32_t)(emul_rand(em) % 101);
		uint32_t p_kept = (uint32_t)(emul_rand(em) % (101 - p_erased));
		for (uint32_t i = 0; i < em->page_size; i++) {
			uint32_t r = (uint32_t)(emul_rand(em) % 100);
			if (r < p_erased)
				em->mem[off + i] = 0xFF;
			else if (r >= p_erased + p_kept)
				em->mem[off + i] |= (uint8_t)emul_rand(em);
		}
		em->n_torn++;
		em->powered = 0;
		return -EIO;
	}
	memset(em->mem + off, 0xFF, em->page_size);
	if (fate == 1)
		em->powered = 0;
	return 0;
}

static const struct hal_flash_api emul_api = {
	.read = emul_read,
	.program = emul_program,
	.erase_page = emul_erase_page,
};

int hal_flash_emul_init(struct hal_flash *dev, struct hal_flash_emul *em, uint8_t *mem, uint8_t *written,
			uint32_t page_size, uint32_t n_pages, uint32_t prog_unit)
{
	if (dev == NULL || em == NULL || mem == NULL || page_size == 0 || n_pages == 0 || prog_unit == 0 ||
	    (prog_unit & (prog_unit - 1)) != 0 || page_size % prog_unit != 0 ||
	    (uint64_t)page_size * n_pages > UINT32_MAX)
		return -EINVAL;
	memset(em, 0, sizeof *em);
	em->mem = mem;
	em->written = written;
	em->size = page_size * n_pages;
	em->page_size = page_size;
	em->prog_unit = prog_unit;
	em->powered = 1;
	em->rng = 0x9E3779B97F4A7C15ull;
	memset(mem, 0xFF, em->size);
	if (written != NULL)
		memset(written, 0, HAL_FLASH_EMUL_WRITTEN_BYTES(page_size, n_pages, prog_unit));
	dev->api = &emul_api;
	dev->ctx = em;
	dev->page_size = page_size;
	dev->n_pages = n_pages;
	dev->prog_unit = prog_unit;
	return 0;
}

void hal_flash_emul_cut_after(struct hal_flash_emul *em, uint32_t k, int tear, uint64_t seed)
{
	em->cut_at = em->ops + (k ? k : 1);
	em->tear = tear;
	em->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
}

void hal_flash_emul_power_on(struct hal_flash_emul *em)
{
	em->powered = 1;
	em->cut_at = 0;
	em->tear = 0;
}

int hal_flash_emul_is_off(const struct hal_flash_emul *em)
{
	return !em->powered;
}
