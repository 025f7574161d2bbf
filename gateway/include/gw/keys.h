/*
 * gw/keys.h — the collar key table: collar_id → 32-byte HMAC key.
 *
 * In production the keys come from the docking station (provisioning over USB writes this file); the
 * gateway reads it at start. File format, one collar per line, '#' starts a comment:
 *
 *     # collar_id   key (64 hex digits)
 *     258           000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
 *     0x0103        ...
 *
 * The file holds secrets: the gateway warns when it is readable by group or others, and never logs a key.
 */
#ifndef GW_KEYS_H
#define GW_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/hmac.h"

#define GW_KEYS_MAX 1024u

struct gw_key {
	uint16_t collar_id;
	uint8_t key[PROTO_KEY_LEN];
};

/*
 * Load up to cap keys. *n gets the count. Errors name the file and line on stderr.
 * @retval 0; -ENOENT/-EACCES cannot open; -EINVAL syntax error, collar 0, duplicate collar, bad hex;
 *         -E2BIG more than cap keys
 */
int gw_keys_load(const char *path, struct gw_key *keys, size_t cap, size_t *n) __attribute__((warn_unused_result));

#endif
