/*
 * proto/src/msg_batch.c — the two container messages: LOG_DATA (dock: raw journal records) and BATCH
 * (gateway → core: records with link metadata, the decoded message nested, and the raw frame).
 *
 * Both keep variable-length bytes as borrowed pointers (struct proto_bytes) so that even a full BATCH
 * needs no copy of its up to 64 frames; decoded pointers point into the caller's body buffer.
 */
#include "msg_internal.h"

#include "proto/err.h"

#include <string.h>

static int set_index(struct proto_msg_err *w, int err, size_t i)
{
	if (err && w && w->index < 0)
		w->index = (int16_t)i;
	return err;
}

/* ---- LOG_DATA ---------------------------------------------------------------------------------------- */

static int log_data_check(const struct proto_log_data *in)
{
	int err = proto__msg_flat_check(&proto__schema_log_data, in, NULL);
	if (err)
		return err;
	if (in->n > PROTO_LOG_DATA_RECS_MAX)
		return PROTO_EMSG_SIZE;
	for (size_t i = 0; i < in->n; i++)
		if (!in->rec[i].p || in->rec[i].len == 0 || in->rec[i].len > PROTO_BODY_MAX)
			return PROTO_EMSG_SIZE;
	return 0;
}

static int log_data_emit(msgpack_packer *pk, unsigned key, const void *in)
{
	const struct proto_log_data *l = in;
	(void)key; /* only PROTO_LOG_DATA_K_RECS is deferred */
	msgpack_pack_array(pk, l->n);
	for (size_t i = 0; i < l->n; i++)
		msgpack_pack_bin_with_body(pk, l->rec[i].p, l->rec[i].len);
	return 0;
}

int proto_log_data_encode(const struct proto_log_data *in, uint8_t *buf, size_t cap, size_t *len)
{
	msgpack_packer pk;
	struct msg_wbuf wb;
	if (!in || !len)
		return PROTO_EINVAL;
	*len = 0;
	int err = log_data_check(in);
	if (err)
		return err;
	proto__msg_packer_init(&pk, &wb, buf, cap);
	proto__msg_flat_pack(&pk, &proto__schema_log_data, in, log_data_emit);
	if (wb.overflow)
		return PROTO_ENOBUFS;
	*len = wb.len;
	return 0;
}

int proto_log_data_decode(const uint8_t *buf, size_t len, struct proto_log_data *out, struct proto_msg_err *w)
{
	const struct msg_schema *s = &proto__schema_log_data;
	struct proto_mp_reader r, deferred[MSG_KEYS];
	struct proto_mp_obj o;
	int err;

	memset(deferred, 0, sizeof deferred);
	if ((err = proto__msg_decode_begin(s, buf, len, out, w, &r)) != 0)
		return err;
	if ((err = proto__msg_flat_read(&r, s, out, deferred, w)) != 0)
		goto out_clear;
	struct proto_mp_reader *ar = &deferred[PROTO_LOG_DATA_K_RECS];
	if (proto_mp_read(ar, &o)) {
		err = proto__msg_err(w, ar->err, s, PROTO_LOG_DATA_K_RECS, ar->pos);
		goto out_clear;
	}
	out->n = (uint8_t)o.n; /* flat_read checked n <= PROTO_LOG_DATA_RECS_MAX */
	for (size_t i = 0; i < out->n; i++) {
		size_t at = ar->pos;
		if (proto_mp_read(ar, &o)) {
			err = set_index(w, proto__msg_err(w, ar->err, s, PROTO_LOG_DATA_K_RECS, at), i);
			goto out_clear;
		}
		if (o.kind != PROTO_MP_BIN) {
			err = set_index(w, proto__msg_err(w, PROTO_EMSG_WTYPE, s, PROTO_LOG_DATA_K_RECS, at), i);
			goto out_clear;
		}
		if (o.n == 0 || o.n > PROTO_BODY_MAX) {
			err = set_index(w, proto__msg_err_val(w, PROTO_EMSG_SIZE, s, PROTO_LOG_DATA_K_RECS, at, 0,
							      o.n, 0), i);
			goto out_clear;
		}
		out->rec[i].p = o.data;
		out->rec[i].len = (uint16_t)o.n;
	}
	return 0;

out_clear:
	memset(out, 0, sizeof *out);
	return err;
}

/* ---- BATCH ------------------------------------------------------------------------------------------- */

static const struct msg_schema *rec_msg_schema(unsigned type)
{
	switch (type) {
	case PROTO_T_FIX: return &proto__schema_fix;
	case PROTO_T_IND: return &proto__schema_ind;
	case PROTO_T_STATUS: return &proto__schema_status;
	case PROTO_T_HELLO: return &proto__schema_hello;
	case PROTO_T_CMD_ACK: return &proto__schema_cmd_ack;
	default: return NULL;
	}
}

/* Rules between a record's own keys, its nested message and the records before it. */
static int rec_rules(const struct proto_batch *b, size_t i, struct proto_msg_err *w, size_t at)
{
	const struct msg_schema *rs = &proto__schema_batch_rec;
	const struct proto_batch_rec *rec = &b->rec[i];
	int journaled = rec->type == PROTO_T_FIX || rec->type == PROTO_T_IND;

	if (journaled) {
		uint32_t seq = rec->type == PROTO_T_FIX ? rec->m.fix.rec_seq : rec->m.ind.rec_seq;
		if (!(rec->has & PROTO_REC_HAS_SEQ))
			return proto__msg_err(w, PROTO_EMSG_MISSING, rs, PROTO_REC_K_SEQ, at);
		/* the core de-duplicates on (collar_id, rec_seq): the two copies must agree */
		if (rec->rec_seq != seq)
			return proto__msg_err_val(w, PROTO_EMSG_SEQ, rs, PROTO_REC_K_SEQ, at, 0, rec->rec_seq, 0);
	} else if (rec->has & PROTO_REC_HAS_SEQ) {
		return proto__msg_err(w, PROTO_EMSG_EXCL, rs, PROTO_REC_K_SEQ, at);
	}
	if ((rec->has & PROTO_REC_HAS_RAW) && (rec->has & PROTO_REC_HAS_RAWREF))
		return proto__msg_err(w, PROTO_EMSG_EXCL, rs, PROTO_REC_K_RAWREF, at);
	if (rec->has & PROTO_REC_HAS_RAWREF) {
		/* only backwards, and only to a record that carries the bytes itself: no chains, no cycles */
		if (rec->raw_ref >= i || !(b->rec[rec->raw_ref].has & PROTO_REC_HAS_RAW))
			return proto__msg_err_val(w, PROTO_EMSG_REF, rs, PROTO_REC_K_RAWREF, at, 0, rec->raw_ref, 0);
	}
	return 0;
}

static int batch_check(const struct proto_batch *b, struct proto_msg_err *w)
{
	int err = proto__msg_flat_check(&proto__schema_batch, b, w);
	if (err)
		return err;
	if (b->n > PROTO_BATCH_RECS_MAX)
		return proto__msg_err(w, PROTO_EMSG_SIZE, &proto__schema_batch, PROTO_BATCH_K_RECS, 0);
	for (size_t i = 0; i < b->n; i++) {
		const struct proto_batch_rec *rec = &b->rec[i];
		if ((err = proto__msg_flat_check(&proto__schema_batch_rec, rec, w)) != 0)
			return set_index(w, err, i);
		const struct msg_schema *ms = rec_msg_schema(rec->type);
		if ((err = proto__msg_flat_check(ms, &rec->m, w)) != 0)
			return set_index(w, err, i);
		if ((err = rec_rules(b, i, w, 0)) != 0)
			return set_index(w, err, i);
	}
	return 0;
}

static int rec_emit(msgpack_packer *pk, unsigned key, const void *in)
{
	const struct proto_batch_rec *rec = in;
	(void)key; /* only PROTO_REC_K_MSG is deferred */
	proto__msg_flat_pack(pk, rec_msg_schema(rec->type), &rec->m, NULL);
	return 0;
}

static int batch_emit(msgpack_packer *pk, unsigned key, const void *in)
{
	const struct proto_batch *b = in;
	(void)key; /* only PROTO_BATCH_K_RECS is deferred */
	msgpack_pack_array(pk, b->n);
	for (size_t i = 0; i < b->n; i++)
		proto__msg_flat_pack(pk, &proto__schema_batch_rec, &b->rec[i], rec_emit);
	return 0;
}

int proto_batch_encode(const struct proto_batch *in, uint8_t *buf, size_t cap, size_t *len)
{
	msgpack_packer pk;
	struct msg_wbuf wb;
	if (!in || !len)
		return PROTO_EINVAL;
	*len = 0;
	int err = batch_check(in, NULL);
	if (err)
		return err;
	proto__msg_packer_init(&pk, &wb, buf, cap);
	proto__msg_flat_pack(&pk, &proto__schema_batch, in, batch_emit);
	if (wb.overflow)
		return PROTO_ENOBUFS;
	*len = wb.len;
	return 0;
}

int proto_batch_decode(const uint8_t *buf, size_t len, struct proto_batch *out, struct proto_msg_err *w)
{
	const struct msg_schema *s = &proto__schema_batch;
	const struct msg_schema *rs = &proto__schema_batch_rec;
	struct proto_mp_reader r, deferred[MSG_KEYS], rdef[MSG_KEYS];
	struct proto_mp_obj o;
	int err;

	memset(deferred, 0, sizeof deferred);
	if ((err = proto__msg_decode_begin(s, buf, len, out, w, &r)) != 0)
		return err;
	if ((err = proto__msg_flat_read(&r, s, out, deferred, w)) != 0)
		goto out_clear;
	struct proto_mp_reader *ar = &deferred[PROTO_BATCH_K_RECS];
	if (proto_mp_read(ar, &o)) {
		err = proto__msg_err(w, ar->err, s, PROTO_BATCH_K_RECS, ar->pos);
		goto out_clear;
	}
	out->n = (uint8_t)o.n; /* flat_read checked n <= PROTO_BATCH_RECS_MAX */
	for (size_t i = 0; i < out->n; i++) {
		struct proto_batch_rec *rec = &out->rec[i];
		memset(rdef, 0, sizeof rdef);
		if ((err = proto__msg_flat_read(ar, rs, rec, rdef, w)) != 0) {
			set_index(w, err, i);
			goto out_clear;
		}
		/* the record's type is known only now (keys may come in any order): decode msg by it */
		struct proto_mp_reader *mr = &rdef[PROTO_REC_K_MSG];
		size_t at = mr->pos;
		if ((err = proto__msg_flat_read(mr, rec_msg_schema(rec->type), &rec->m, NULL, w)) != 0) {
			if (w && !w->inner_type)
				w->inner_type = rec->type;
			set_index(w, err, i);
			goto out_clear;
		}
		if ((err = rec_rules(out, i, w, at)) != 0) {
			set_index(w, err, i);
			goto out_clear;
		}
	}
	return 0;

out_clear:
	memset(out, 0, sizeof *out);
	return err;
}
