/* proto/src/err.c — names and explanations of enum proto_err (proto/err.h). Keep in step with the enum. */
#include "proto/err.h"

#include <stddef.h>

struct err_entry {
	int code;
	const char *name;
	const char *text;
};

static const struct err_entry err_table[] = {
	{PROTO_OK, "PROTO_OK", "success"},
	{PROTO_ENOBUFS, "PROTO_ENOBUFS", "caller's output buffer is too small"},
	{PROTO_EINVAL, "PROTO_EINVAL", "caller passed an impossible argument (programming error)"},
	{PROTO_EFRAME_EMPTY, "PROTO_EFRAME_EMPTY", "two delimiters with nothing between (not an error on the wire; never counted)"},
	{PROTO_EFRAME_LONG, "PROTO_EFRAME_LONG", "more bytes than the largest frame before the next delimiter"},
	{PROTO_EFRAME_COBS, "PROTO_EFRAME_COBS", "COBS code byte points past the end of the frame"},
	{PROTO_EFRAME_SHORT, "PROTO_EFRAME_SHORT", "unstuffed frame shorter than header + CRC"},
	{PROTO_EFRAME_CRC, "PROTO_EFRAME_CRC", "CRC-32C mismatch: line noise or a truncated frame"},
	{PROTO_EFRAME_VERSION, "PROTO_EFRAME_VERSION", "protocol version in ver_flags is not 1"},
	{PROTO_EFRAME_FLAGS, "PROTO_EFRAME_FLAGS", "reserved ver_flags bit set"},
	{PROTO_EFRAME_TYPE, "PROTO_EFRAME_TYPE", "message type unknown to this build"},
	{PROTO_EFRAME_NOAUTH, "PROTO_EFRAME_NOAUTH", "AUTH flag missing where a tag is required"},
	{PROTO_EFRAME_TAG, "PROTO_EFRAME_TAG", "HMAC tag mismatch: wrong key or forged/altered frame"},
	{PROTO_EFRAME_BODY, "PROTO_EFRAME_BODY", "body length out of range for the frame"},
	{PROTO_EMP_TRUNC, "PROTO_EMP_TRUNC", "object ends past the end of the body"},
	{PROTO_EMP_COUNT, "PROTO_EMP_COUNT", "array/map count larger than the bytes left could hold"},
	{PROTO_EMP_DEPTH, "PROTO_EMP_DEPTH", "containers nested deeper than allowed"},
	{PROTO_EMP_TYPE, "PROTO_EMP_TYPE", "a msgpack type the protocol never uses (float, ext, reserved 0xc1)"},
	{PROTO_EMP_TRAILING, "PROTO_EMP_TRAILING", "bytes after the single top-level object"},
	{PROTO_EMP_LEN, "PROTO_EMP_LEN", "str/bin longer than the protocol allows"},
	{PROTO_EMSG_NOTMAP, "PROTO_EMSG_NOTMAP", "body (or a nested record) is not a map"},
	{PROTO_EMSG_KEY, "PROTO_EMSG_KEY", "key unknown for this message type"},
	{PROTO_EMSG_DUPKEY, "PROTO_EMSG_DUPKEY", "the same key twice in one map"},
	{PROTO_EMSG_MISSING, "PROTO_EMSG_MISSING", "a required key is absent"},
	{PROTO_EMSG_WTYPE, "PROTO_EMSG_WTYPE", "value has the wrong msgpack type for its key"},
	{PROTO_EMSG_RANGE, "PROTO_EMSG_RANGE", "integer outside the field's range"},
	{PROTO_EMSG_LAT, "PROTO_EMSG_LAT", "latitude outside ±90°"},
	{PROTO_EMSG_LON, "PROTO_EMSG_LON", "longitude outside ±180°"},
	{PROTO_EMSG_ENUM, "PROTO_EMSG_ENUM", "value not in the field's enumeration"},
	{PROTO_EMSG_SIZE, "PROTO_EMSG_SIZE", "array/str/bin size outside the field's limits"},
	{PROTO_EMSG_TIME, "PROTO_EMSG_TIME", "neither UTC time nor monotonic time, or both inconsistent"},
	{PROTO_EMSG_SEQ, "PROTO_EMSG_SEQ", "sequence numbers inconsistent (e.g. FIXB rec_seq not increasing)"},
	{PROTO_EMSG_BITS, "PROTO_EMSG_BITS", "a flags field has a bit this schema does not define"},
	{PROTO_EMSG_REF, "PROTO_EMSG_REF", "a reference inside the message points nowhere (BATCH raw_ref)"},
	{PROTO_EMSG_EXCL, "PROTO_EMSG_EXCL", "key not allowed together with another key or value (e.g. CMD param the opcode does not take)"},
};

static const struct err_entry *err_find(int err)
{
	for (size_t i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
		if (err_table[i].code == err)
			return &err_table[i];
	return NULL;
}

const char *proto_strerror(int err)
{
	const struct err_entry *e = err_find(err);
	return e ? e->text : "unknown proto error";
}

const char *proto_errname(int err)
{
	const struct err_entry *e = err_find(err);
	return e ? e->name : "PROTO_E?";
}
