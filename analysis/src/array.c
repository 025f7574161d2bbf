/*
 * analysis/src/array.c — an_array_grow (an/array.h).
 */
#include "an/array.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

int an_array_grow(void **arr, size_t *cap, size_t n, size_t first, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap : first;
	if (nc == 0 || elem == 0)
		return -ENOMEM; /* a caller bug: nothing would ever fit */
	if (*cap) {
		if (nc > SIZE_MAX / 2)
			return -ENOMEM;
		nc *= 2;
	}
	if (nc > SIZE_MAX / elem)
		return -ENOMEM;
	void *p = realloc(*arr, nc * elem);
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}
