/*
 * an/array.h — the one "grow a caller-owned array by doubling" step that the library, the scentrack CLI
 * and scentrack-core all need (append-only buffers, sorted inserts), so each call site says what it
 * appends and not how the buffer is resized.
 */
#ifndef AN_ARRAY_H
#define AN_ARRAY_H

#include <stddef.h>

/* Make room for element n of *arr (capacity *cap elements of elem bytes): when n >= *cap, realloc to
 * twice *cap, or to first when *cap is 0. *arr and *cap are unchanged on failure (the caller still owns
 * and frees *arr). Call as an_array_grow((void **)&p, &cap, n, 64, sizeof *p).
 * @retval 0; -ENOMEM (out of memory, or the size would overflow size_t) */
int an_array_grow(void **arr, size_t *cap, size_t n, size_t first, size_t elem) __attribute__((warn_unused_result));

#endif
