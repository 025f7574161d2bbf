/*
 * proto/crc32c.h — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as in iSCSI, ext4, SCTP.
 * Check value: proto_crc32c(0, "123456789", 9) == 0xE3069283.
 * Chosen over CRC-32 (IEEE) for its better Hamming distance at our frame sizes; it is only a noise check,
 * the HMAC tag is what authenticates.
 */
#ifndef PROTO_CRC32C_H
#define PROTO_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: start with crc = 0; proto_crc32c(proto_crc32c(0, a, n), b, m) == CRC of a‖b. */
uint32_t proto_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
