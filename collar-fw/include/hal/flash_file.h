/*
 * hal/flash_file.h — host board: the collar's data flash is a file of n_pages * page_size bytes with the
 * same NOR rules as the chip (erase = write a page of 0xFF; program = read, check no 0→1, AND, write back).
 *
 * Durability policy (why `kill -9` of the collar process is a real power cut):
 *   Every program and every erase is ONE pwrite(2) into the file before the call returns. The kernel's page
 *   cache outlives the process, so after SIGKILL every operation that returned is in the file and one that
 *   did not return either happened or did not (a write of at most one page is never observed half-done by a
 *   later reader of a regular file on Linux). That is exactly the collar's power-cut model, minus tearing
 *   (hal/flash_emul.h injects torn operations for the unit tests).
 *   Reads use a read-only MAP_SHARED mapping of the file (coherent with pwrite through the page cache).
 *   HAL_FLASH_FILE_SYNC additionally fdatasync(2)s after every operation, for a host that may itself lose
 *   power (a gateway-side replay of a collar, a long field test). It costs a disk flush per journal record.
 */
#ifndef HAL_FLASH_FILE_H
#define HAL_FLASH_FILE_H

#include <stdint.h>

#include "hal/flash.h"

#define HAL_FLASH_FILE_SYNC 0x1u /* fdatasync after every program/erase */

struct hal_flash_file {
	int fd;
	const uint8_t *map;    /* read-only shared mapping of the file for reads (NULL: pread) */
	unsigned flags;
	uint32_t size;
	uint32_t n_violations; /* programs refused because they would set a 0 bit to 1 */
	uint32_t n_ops;        /* programs + erases */
};

/*
 * Open (or create, fully erased) the flash file at path and fill dev. An existing file must have exactly
 * page_size * n_pages bytes: a different size means a different geometry, and reading it would be nonsense.
 * @retval 0 ok
 * @retval -EINVAL bad geometry, or existing file of the wrong size
 * @retval -errno  open/read/write failure
 */
int hal_flash_file_open(struct hal_flash *dev, struct hal_flash_file *ff, const char *path, uint32_t page_size,
			uint32_t n_pages, uint32_t prog_unit, unsigned flags);

/* Close the file. @retval 0 or -errno from close(2). */
int hal_flash_file_close(struct hal_flash *dev);

#endif
