/*
 * proto/src/msg_internal.h — the table-driven codec shared by msg.c, msg_fixb.c and msg_batch.c.
 *
 * A schema is a message type's field table (the public proto_field_desc rows, which also feed the docs)
 * plus its struct size, validator depth, body bound and cross-field rule. Integer, str and bin fields are
 * handled generically through offsetof; map/array fields (FIXB, LOG_DATA, BATCH) are "deferred": the flat
 * reader remembers where their value starts, skips it, and the type's own code reads it afterwards (so key
 * order on the wire never matters).
 */
#ifndef PROTO_MSG_INTERNAL_H
#define PROTO_MSG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack/pack.h>

#include "proto/mp.h"
#include "proto/msg.h"

#define MSG_KEYS 32u /* keys are 1..31: one has bit each */

struct msg_schema {
	unsigned type;
	const char *tname;
	const struct proto_field_desc *f;
	size_t nf;
	size_t size;     /* sizeof the struct */
	unsigned depth;  /* proto_mp_validate max_depth */
	size_t body_max; /* longest body accepted */
	/* Cross-field rules, run after every field passed its own check (decode) or before packing (encode). */
	int (*check)(const void *s, struct proto_msg_err *w);
};

/* Packing into a caller buffer: msgpack-c's packer writes through this callback; overflow is sticky. */
struct msg_wbuf {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int overflow;
};
void proto__msg_packer_init(msgpack_packer *pk, struct msg_wbuf *wb, uint8_t *buf, size_t cap);

/* Record the first error in w (if any) and return code. key -1 = not about one key. */
int proto__msg_err(struct proto_msg_err *w, int code, const struct msg_schema *s, int64_t key, size_t offset);
int proto__msg_err_val(struct proto_msg_err *w, int code, const struct msg_schema *s, int64_t key,
                       size_t offset, int neg, uint64_t u, int64_t i);
void proto__msg_err_init(struct proto_msg_err *w, unsigned type);

const struct proto_field_desc *proto__msg_find(const struct msg_schema *s, int64_t key);
uint32_t proto__msg_optmask(const struct msg_schema *s);

/* Integer member access by table row. */
uint64_t proto__msg_load_u(const void *st, const struct proto_field_desc *d);
int64_t proto__msg_load_i(const void *st, const struct proto_field_desc *d);
void proto__msg_store(void *st, const struct proto_field_desc *d, uint64_t bits);
/* 0 if the integer (neg ? i : u) is valid for the row, else its error code. */
int proto__msg_int_ok(const struct proto_field_desc *d, int neg, uint64_t u, int64_t i);

/* Validate a struct before encoding (has bits, every present field, cross-field rule). */
int proto__msg_flat_check(const struct msg_schema *s, const void *in, struct proto_msg_err *w);

/* Pack the map; emit() packs the value of map/array keys. Keys in ascending order. */
typedef int (*msg_emit_fn)(msgpack_packer *pk, unsigned key, const void *in);
void proto__msg_flat_pack(msgpack_packer *pk, const struct msg_schema *s, const void *in, msg_emit_fn emit);

/* Read one map per schema into out (already zeroed). deferred[key] gets a reader positioned at the value of
 * each map/array key (deferred[key].buf == NULL: key absent). Runs s->check when it is not NULL. */
int proto__msg_flat_read(struct proto_mp_reader *r, const struct msg_schema *s, void *out,
                         struct proto_mp_reader *deferred, struct proto_msg_err *w);

/* Length bound + pre-validation + reader setup, common to every decode. */
int proto__msg_decode_begin(const struct msg_schema *s, const uint8_t *buf, size_t len, void *out,
                            struct proto_msg_err *w, struct proto_mp_reader *r);
/* Encode a flat (no map/array key) message with checks. */
int proto__msg_encode_flat(const struct msg_schema *s, const void *in, uint8_t *buf, size_t cap, size_t *len);
int proto__msg_decode_flat(const struct msg_schema *s, const uint8_t *buf, size_t len, void *out,
                           struct proto_msg_err *w);

extern const struct msg_schema proto__schema_fix;
extern const struct msg_schema proto__schema_ind;
extern const struct msg_schema proto__schema_status;
extern const struct msg_schema proto__schema_hello;
extern const struct msg_schema proto__schema_cmd_ack;
extern const struct msg_schema proto__schema_gone;
extern const struct msg_schema proto__schema_fixb;
extern const struct msg_schema proto__schema_log_data;
extern const struct msg_schema proto__schema_batch;
extern const struct msg_schema proto__schema_batch_rec;
const struct msg_schema *proto__msg_schema(unsigned type);

#endif
