/*
 * boards/host/flash_file.c — hal_flash over a regular file (hal/flash_file.h explains the durability policy).
 */
#define _POSIX_C_SOURCE 200809L
#include "hal/flash_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* One page is the largest single operation; a program is at most one page too (the journal never crosses). */
#define FLASH_FILE_CHUNK 4096u

static int ff_pread_all(int fd, void *buf, uint32_t len, uint32_t off)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* file shorter than the geometry: truncated behind our back */
		p += n;
		off += (uint32_t)n;
		len -= (uint32_t)n;
	}
	return 0;
}

static int ff_pwrite_all(int fd, const void *buf, uint32_t len, uint32_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		off += (uint32_t)n;
		len -= (uint32_t)n;
	}
	return 0;
}

static int ff_sync(const struct hal_flash_file *ff)
{
	if ((ff->flags & HAL_FLASH_FILE_SYNC) && fdatasync(ff->fd) != 0)
		return -errno;
	return 0;
}

static int ff_read(const struct hal_flash *dev, uint32_t off, void *buf, uint32_t len)
{
	struct hal_flash_file *ff = dev->ctx;

	if (off > ff->size || len > ff->size - off)
		return -EINVAL;
	if (ff->map != NULL) {
		memcpy(buf, ff->map + off, len);
		return 0;
	}
	return ff_pread_all(ff->fd, buf, len, off);
}

static int ff_program(const struct hal_flash *dev, uint32_t off, const void *buf, uint32_t len)
{
	struct hal_flash_file *ff = dev->ctx;
	const uint8_t *src = buf;
	uint8_t cur[FLASH_FILE_CHUNK];
	int err;

	if (off > ff->size || len > ff->size - off || off % dev->prog_unit || len % dev->prog_unit)
		return -EINVAL;
	ff->n_ops++;
	/* Check the whole range before writing any of it, so a refused program changes nothing. */
	for (uint32_t done = 0; done < len;) {
		uint32_t n = len - done < FLASH_FILE_CHUNK ? len - done : FLASH_FILE_CHUNK;
		err = ff_read(dev, off + done, cur, n);
		if (err < 0)
			return err;
		for (uint32_t i = 0; i < n; i++) {
			if ((uint8_t)(src[done + i] & (uint8_t)~cur[i]) != 0) {
				ff->n_violations++;
				return -EPERM;
			}
		}
		done += n;
	}
	/* old AND new == new once the check passed, so write the caller's bytes as they are: one pwrite. */
	err = ff_pwrite_all(ff->fd, src, len, off);
	if (err < 0)
		return err;
	return ff_sync(ff);
}

static int ff_erase_page(const struct hal_flash *dev, uint32_t page)
{
	struct hal_flash_file *ff = dev->ctx;
	uint8_t ones[FLASH_FILE_CHUNK];
	int err;

	if (page >= dev->n_pages)
		return -EINVAL;
	ff->n_ops++;
	memset(ones, 0xFF, sizeof ones);
	for (uint32_t done = 0; done < dev->page_size;) {
		uint32_t n = dev->page_size - done < FLASH_FILE_CHUNK ? dev->page_size - done : FLASH_FILE_CHUNK;
		err = ff_pwrite_all(ff->fd, ones, n, page * dev->page_size + done);
		if (err < 0)
			return err;
		done += n;
	}
	return ff_sync(ff);
}

static const struct hal_flash_api ff_api = {
	.read = ff_read,
	.program = ff_program,
	.erase_page = ff_erase_page,
};

/* A new chip comes erased: build the erased image under a temporary name and rename it into place, so a
 * kill during creation never leaves a short file at path (which every later open would reject). */
static int ff_create_erased(const char *path, uint32_t size)
{
	char tmp[4096];
	uint8_t ones[FLASH_FILE_CHUNK];
	size_t plen = strlen(path);
	int fd, err = 0;

	if (plen + sizeof ".new" > sizeof tmp)
		return -ENAMETOOLONG;
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".new", sizeof ".new");
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	memset(ones, 0xFF, sizeof ones);
	for (uint32_t done = 0; done < size;) {
		uint32_t n = size - done < FLASH_FILE_CHUNK ? size - done : FLASH_FILE_CHUNK;
		err = ff_pwrite_all(fd, ones, n, done);
		if (err < 0)
			goto out_unlink;
		done += n;
	}
	if (fsync(fd) != 0 || rename(tmp, path) != 0) {
		err = -errno;
		goto out_unlink;
	}
	close(fd);
	return 0;

out_unlink:
	close(fd);
	unlink(tmp);
	return err;
}

int hal_flash_file_open(struct hal_flash *dev, struct hal_flash_file *ff, const char *path, uint32_t page_size,
			uint32_t n_pages, uint32_t prog_unit, unsigned flags)
{
	struct stat st;
	uint64_t size = (uint64_t)page_size * n_pages;
	int err;

	if (dev == NULL || ff == NULL || path == NULL || page_size == 0 || n_pages == 0 || prog_unit == 0 ||
	    (prog_unit & (prog_unit - 1)) != 0 || page_size % prog_unit != 0 || size > INT32_MAX)
		return -EINVAL;
	memset(ff, 0, sizeof *ff);
	ff->flags = flags;
	ff->size = (uint32_t)size;
	ff->fd = open(path, O_RDWR | O_CLOEXEC);
	if (ff->fd < 0 && errno == ENOENT) {
		err = ff_create_erased(path, ff->size);
		if (err < 0)
			return err;
		ff->fd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (ff->fd < 0)
		return -errno;
	if (fstat(ff->fd, &st) != 0) {
		err = -errno;
		goto out_close;
	}
	if ((uint64_t)st.st_size != size) {
		err = -EINVAL;
		goto out_close;
	}
	/* Reads go through a shared read-only mapping (the page cache pwrite fills, so always coherent), as
	 * the MCU reads its memory-mapped NOR: mounting scans many small slots and a syscall each is slow. */
	ff->map = mmap(NULL, ff->size, PROT_READ, MAP_SHARED, ff->fd, 0);
	if (ff->map == MAP_FAILED)
		ff->map = NULL; /* pread still works */
	dev->api = &ff_api;
	dev->ctx = ff;
	dev->page_size = page_size;
	dev->n_pages = n_pages;
	dev->prog_unit = prog_unit;
	return 0;

out_close:
	close(ff->fd);
	ff->fd = -1;
	return err;
}

int hal_flash_file_close(struct hal_flash *dev)
{
	struct hal_flash_file *ff = dev->ctx;
	int fd = ff->fd;

	if (ff->map != NULL)
		munmap((void *)ff->map, ff->size);
	ff->map = NULL;
	ff->fd = -1;
	if (fd >= 0 && close(fd) != 0)
		return -errno;
	return 0;
}
