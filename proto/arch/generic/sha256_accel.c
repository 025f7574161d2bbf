/* proto/arch/generic/sha256_accel.c — no SHA-256 acceleration on this target: the portable C compression
 * in src/hmac.c is used (always the case for the collar firmware). */
#include <stddef.h>

#include "../../src/sha256_internal.h"

proto__sha256_blocks_fn proto__sha256_accel(void)
{
	return NULL;
}
