/*
 * tests/analysis/array_test.c — an_array_grow: first size, doubling, no-op below capacity, the array's
 * contents kept, and an overflowing size refused with the caller's array untouched.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "an/array.h"

Test(an_array, grows_from_first_then_doubles_and_keeps_contents)
{
	uint64_t *a = NULL;
	size_t cap = 0, n = 0;
	for (uint64_t v = 0; v < 100; v++) {
		cr_assert_eq(an_array_grow((void **)&a, &cap, n, 8, sizeof *a), 0);
		a[n++] = v * 7;
	}
	cr_expect_eq(cap, 128); /* 8, 16, 32, 64, 128 */
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(a[i], i * 7);
	uint64_t *before = a;
	cr_expect_eq(an_array_grow((void **)&a, &cap, 99, 8, sizeof *a), 0);
	cr_expect(a == before && cap == 128, "below capacity: nothing moves");
	free(a);
}

Test(an_array, overflow_is_refused_and_leaves_the_array_alone)
{
	char *a = malloc(4);
	cr_assert_not_null(a);
	size_t cap = SIZE_MAX / 2 + 1;
	cr_expect_eq(an_array_grow((void **)&a, &cap, cap, 1, 1), -ENOMEM);
	cr_expect_eq(cap, SIZE_MAX / 2 + 1);
	size_t c2 = 0;
	char *b = NULL;
	cr_expect_eq(an_array_grow((void **)&b, &c2, 0, SIZE_MAX / 2, 4), -ENOMEM);
	cr_expect(b == NULL && c2 == 0);
	free(a);
}
