/* proto/src/sha256_internal.h — the seam between portable SHA-256 and a CPU-specific compression
 * (proto/arch/<arch>/sha256_accel.c, chosen by CMake). Not part of the public API. */
#ifndef PROTO_SHA256_INTERNAL_H
#define PROTO_SHA256_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Compress nblocks consecutive 64-byte blocks into h. */
typedef void (*proto__sha256_blocks_fn)(uint32_t h[8], const uint8_t *p, size_t nblocks);

/* The accelerated compression for this CPU, or NULL. Called once; the answer is cached. */
proto__sha256_blocks_fn proto__sha256_accel(void);

/* Tests: 1 = use the portable compression even where acceleration exists (compare the two). */
void proto__sha256_force_portable(int on);

#endif
