/*
 * proto/err.h — error codes of the wire layer.
 *
 * Every proto_ function returns 0 (or a documented positive count) on success and one of these negative
 * codes on failure. Each distinct failure has its own code so that the gateway can count them separately
 * ("CRC failures" and "unknown message type" are different problems in the field) and tests can assert the
 * exact reason a hostile input was refused. proto_strerror() gives a one-line English explanation.
 *
 * Ranges: -1..-39 framing and crypto, -40..-99 msgpack pre-validation and message decoding.
 */
#ifndef PROTO_ERR_H
#define PROTO_ERR_H

enum proto_err {
	PROTO_OK = 0,

	/* buffers and arguments */
	PROTO_ENOBUFS = -1,         /* caller's output buffer is too small */
	PROTO_EINVAL = -2,          /* caller passed an impossible argument (programming error) */

	/* framing (deframer, COBS, header, CRC, tag) */
	PROTO_EFRAME_EMPTY = -10,   /* two delimiters with nothing between (not an error on the wire; never counted) */
	PROTO_EFRAME_LONG = -11,    /* more bytes than the largest frame before the next delimiter */
	PROTO_EFRAME_COBS = -12,    /* COBS code byte points past the end of the frame */
	PROTO_EFRAME_SHORT = -13,   /* unstuffed frame shorter than header + CRC */
	PROTO_EFRAME_CRC = -14,     /* CRC-32C mismatch: line noise or a truncated frame */
	PROTO_EFRAME_VERSION = -15, /* protocol version in ver_flags is not 1 */
	PROTO_EFRAME_FLAGS = -16,   /* reserved ver_flags bit set */
	PROTO_EFRAME_TYPE = -17,    /* message type unknown to this build */
	PROTO_EFRAME_NOAUTH = -18,  /* AUTH flag missing where a tag is required */
	PROTO_EFRAME_TAG = -19,     /* HMAC tag mismatch: wrong key or forged/altered frame */
	PROTO_EFRAME_BODY = -20,    /* body length out of range for the frame */

	/* msgpack pre-validation (before any decoding, proto/mp.h) */
	PROTO_EMP_TRUNC = -40,      /* object ends past the end of the body */
	PROTO_EMP_COUNT = -41,      /* array/map count larger than the bytes left could hold */
	PROTO_EMP_DEPTH = -42,      /* containers nested deeper than allowed */
	PROTO_EMP_TYPE = -43,       /* a msgpack type the protocol never uses (float, ext, reserved 0xc1) */
	PROTO_EMP_TRAILING = -44,   /* bytes after the single top-level object */
	PROTO_EMP_LEN = -45,        /* str/bin longer than the protocol allows */

	/* message decoding (proto/msg.h) */
	PROTO_EMSG_NOTMAP = -50,    /* body (or a nested record) is not a map */
	PROTO_EMSG_KEY = -51,       /* key unknown for this message type */
	PROTO_EMSG_DUPKEY = -52,    /* the same key twice in one map */
	PROTO_EMSG_MISSING = -53,   /* a required key is absent */
	PROTO_EMSG_WTYPE = -54,     /* value has the wrong msgpack type for its key */
	PROTO_EMSG_RANGE = -55,     /* integer outside the field's range */
	PROTO_EMSG_LAT = -56,       /* latitude outside ±90° */
	PROTO_EMSG_LON = -57,       /* longitude outside ±180° */
	PROTO_EMSG_ENUM = -58,      /* value not in the field's enumeration */
	PROTO_EMSG_SIZE = -59,      /* array/str/bin size outside the field's limits */
	PROTO_EMSG_TIME = -60,      /* neither UTC time nor monotonic time, or both inconsistent */
	PROTO_EMSG_SEQ = -61,       /* sequence numbers inconsistent (e.g. FIXB rec_seq not increasing) */
	PROTO_EMSG_BITS = -62,      /* a flags field has a bit this schema does not define */
	PROTO_EMSG_REF = -63,       /* a reference inside the message points nowhere (BATCH raw_ref) */
	PROTO_EMSG_EXCL = -64,      /* key not allowed together with another key or value (e.g. CMD param the opcode does not take) */
};

/* One line, no trailing newline, never NULL (unknown codes give "unknown proto error"). */
const char *proto_strerror(int err);

/* The enumerator's name ("PROTO_EFRAME_CRC"), for logs and JSON counters. */
const char *proto_errname(int err);

#endif
