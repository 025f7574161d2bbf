/*
 * proto/msg.h — message bodies: one msgpack map per body, heap-free encode and safe decode.
 *
 * Wire rules (every type):
 *  - The body is ONE msgpack map. Keys are small non-negative integers (positive fixint, 1..31), encoded in
 *    ascending order; the decoder accepts any order but refuses unknown keys (PROTO_EMSG_KEY) and repeated
 *    keys (PROTO_EMSG_DUPKEY).
 *  - Units are explicit and integer (degE7, mm, ms, cm/s, centi-degrees...). No floats anywhere.
 *  - A value that is not known is an omitted key, never 0. In the C structs, `has` has bit (1u << key) set
 *    for every OPTIONAL key present (required keys have no has bit; their members are always valid).
 *  - Integers use msgpack's smallest encoding (msgpack-c's packer picks it); the decoder accepts any integer
 *    encoding of a value in range, so other encoders (python-msgpack, CMP, MPack) interoperate.
 *  - Enumerations start at 1 where the protocol defines them, so a zeroed struct never encodes silently
 *    as a meaningful value (GGA quality 0..8 and the FAA mode letter follow NMEA instead).
 *
 * The single source of truth for keys, names, units and ranges is the field table: proto_msg_fields()
 * returns it for each type, the codec itself is driven by it, and docs/protocol.md tables are generated
 * from it. The comments below give the same information for readers of this header.
 *
 * Ownership on decode: structs are caller-owned; decoding allocates nothing. str fields (HELLO fw) and the
 * PROVISION key are COPIED into fixed arrays in the struct. Variable bin fields (LOG_DATA records, BATCH raw
 * frames) are BORROWED: pointers into the caller's input buffer, valid only while that buffer is.
 *
 * Decoding order: length bound for the type → proto_mp_validate (depth per type) → schema reader → field
 * ranges → cross-field rules. Encoding runs the same field and cross-field checks first, so the collar can
 * never put on the air what the gateway would refuse.
 */
#ifndef PROTO_MSG_H
#define PROTO_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"

/* ---- limits ------------------------------------------------------------------------------------------ */

#define PROTO_FIXB_MAX 16u           /* fixes per FIXB (also bounded by PROTO_BODY_MAX) */
#define PROTO_LOG_DATA_RECS_MAX 16u  /* journal records per LOG_DATA */
#define PROTO_LOG_READ_MAX 4096u     /* records one LOG_READ may ask for (answered by several LOG_DATA) */
#define PROTO_BATCH_RECS_MAX 64u     /* records per BATCH */
#define PROTO_HELLO_FW_MAX 31u       /* firmware version string, bytes (without NUL) */
#define PROTO_RAW_MIN (PROTO_HDR_LEN + PROTO_CRC_LEN) /* shortest unstuffed frame */

/* Largest bodies: radio messages fit one frame; LOG_DATA travels fragmented over USB (FRAG); BATCH travels
 * as a ZeroMQ frame. Bounds computed from the worst case of every field (tests assert them). */
#define PROTO_LOG_DATA_BODY_MAX (16u + PROTO_LOG_DATA_RECS_MAX * (3u + PROTO_BODY_MAX))
#define PROTO_BATCH_REC_MAX 384u     /* one record map, worst case incl. a 255-byte raw frame */
#define PROTO_BATCH_BODY_MAX (32u + PROTO_BATCH_RECS_MAX * PROTO_BATCH_REC_MAX) /* 24608 */

/* Nominal time range accepted for UTC ms fields: 2000-01-01 .. 2100-01-01. A receiver date 1024 weeks
 * early (un-corrected week rollover) is refused rather than stored as a 1999 position. */
#define PROTO_UTC_MS_MIN 946684800000ull
#define PROTO_UTC_MS_MAX 4102444800000ull

/* ---- collar → gateway ------------------------------------------------------------------------------ */

/* HELLO (0x01): on boot and on every reconnect. */
enum {
	PROTO_HELLO_K_FW = 1,     /* str 1..31 B, required: firmware version ("1.4.2-g1a2b3c") */
	PROTO_HELLO_K_SCHEMA = 2, /* u16 >= 1, required: message schema version (PROTO_SCHEMA_VERSION) */
	PROTO_HELLO_K_BOOT = 3,   /* u16, required: boot_id of this boot */
	PROTO_HELLO_K_OLDEST = 4, /* u32, required: oldest rec_seq still in the journal */
	PROTO_HELLO_K_NEXT = 5,   /* u32, required: rec_seq the next record will get (>= oldest) */
	PROTO_HELLO_K_CAPS = 6,   /* flags u32, required: PROTO_CAP_* */
	PROTO_HELLO_K_BATT = 7,   /* u16 mV, optional */
	PROTO_HELLO_K_ACKCUM = 8, /* u32, optional: the collar's own ack point (every rec_seq <= it was acked by
	                           * some gateway); a gateway starts its cumulative ack there. Absent = 0 */
};
/* 2: FIXB may carry its deltas packed (keys 5 bits + 6 pk); a schema-1 decoder refuses such a body
 * (PROTO_EMSG_KEY), every schema-1 body decodes unchanged. */
#define PROTO_SCHEMA_VERSION 2u
#define PROTO_CAP_HACC 0x01u       /* receiver gives GST sigma: FIX h_acc */
#define PROTO_CAP_FIXB 0x02u       /* sends FIXB batches */
#define PROTO_CAP_CLASSIFIER 0x04u /* on-collar indication classifier */
#define PROTO_CAP_BUTTON 0x08u     /* handler button */
#define PROTO_CAP_TEMP 0x10u       /* temperature sensor */
#define PROTO_CAP_KNOWN 0x1fu
#define PROTO_HELLO_HAS_BATT (1u << PROTO_HELLO_K_BATT)
#define PROTO_HELLO_HAS_ACKCUM (1u << PROTO_HELLO_K_ACKCUM)
struct proto_hello {
	uint32_t has;
	char fw[PROTO_HELLO_FW_MAX + 1]; /* NUL-terminated, copied */
	uint16_t schema;
	uint16_t boot_id;
	uint32_t oldest_seq;
	uint32_t next_seq;
	uint32_t caps;
	uint16_t batt_mv;
	uint32_t ack_cum;
};

/* FIX (0x02): one GNSS fix, journaled. Exactly one of t / t_mono. */
enum {
	PROTO_FIX_K_SEQ = 1,   /* u32, required: rec_seq (per collar, persistent, shared with IND) */
	PROTO_FIX_K_T = 2,     /* u64 UTC ms since 1970, optional (PROTO_UTC_MS_MIN..MAX) */
	PROTO_FIX_K_TMONO = 3, /* u32 ms since boot, present iff t is absent (no valid time) */
	PROTO_FIX_K_LAT = 4,   /* i32 degE7, required, -900000000..900000000 */
	PROTO_FIX_K_LON = 5,   /* i32 degE7, required, -1800000000..1800000000 */
	PROTO_FIX_K_ALT = 6,   /* i32 mm above MSL, optional, -1000000..20000000 */
	PROTO_FIX_K_HDOP = 7,  /* u16 HDOP x100, optional, 0..9999 */
	PROTO_FIX_K_HACC = 8,  /* u32 mm, horizontal accuracy (GST sigma), optional, 0..100000000 */
	PROTO_FIX_K_Q = 9,     /* enum GGA quality 0..8, optional */
	PROTO_FIX_K_MODE = 10, /* enum FAA mode letter as ASCII: 'A' 'D' 'E' 'F' 'M' 'N' 'P' 'R' 'S', optional */
	PROTO_FIX_K_DIM = 11,  /* enum GSA fix dimension 1..3, optional */
	PROTO_FIX_K_NSAT = 12, /* u8 satellites used, optional */
	PROTO_FIX_K_SOG = 13,  /* u16 cm/s speed over ground, optional */
	PROTO_FIX_K_COG = 14,  /* u16 centi-degrees course over ground 0..35999, optional */
	PROTO_FIX_K_TQ = 15,   /* flags time quality PROTO_TQ_*, optional (only with t) */
};
#define PROTO_TQ_ROLLOVER 0x01u /* week-rollover corrected against the gateway's time */
#define PROTO_TQ_LEAP 0x02u     /* leap seconds not yet known: UTC may be off by whole seconds */
#define PROTO_TQ_KNOWN 0x03u
#define PROTO_FIX_HAS_T (1u << PROTO_FIX_K_T)
#define PROTO_FIX_HAS_TMONO (1u << PROTO_FIX_K_TMONO)
#define PROTO_FIX_HAS_ALT (1u << PROTO_FIX_K_ALT)
#define PROTO_FIX_HAS_HDOP (1u << PROTO_FIX_K_HDOP)
#define PROTO_FIX_HAS_HACC (1u << PROTO_FIX_K_HACC)
#define PROTO_FIX_HAS_Q (1u << PROTO_FIX_K_Q)
#define PROTO_FIX_HAS_MODE (1u << PROTO_FIX_K_MODE)
#define PROTO_FIX_HAS_DIM (1u << PROTO_FIX_K_DIM)
#define PROTO_FIX_HAS_NSAT (1u << PROTO_FIX_K_NSAT)
#define PROTO_FIX_HAS_SOG (1u << PROTO_FIX_K_SOG)
#define PROTO_FIX_HAS_COG (1u << PROTO_FIX_K_COG)
#define PROTO_FIX_HAS_TQ (1u << PROTO_FIX_K_TQ)
struct proto_fix {
	uint32_t has;
	uint32_t rec_seq;
	uint64_t t_ms;
	uint32_t t_mono_ms;
	int32_t lat_e7;
	int32_t lon_e7;
	int32_t alt_mm;
	uint32_t h_acc_mm;
	uint16_t hdop_c;
	uint16_t sog_cms;
	uint16_t cog_cdeg;
	uint8_t gga_q;
	uint8_t faa_mode;
	uint8_t fix_dim;
	uint8_t nsat;
	uint8_t tq;
};

/*
 * FIXB (0x03): 1..PROTO_FIXB_MAX fixes in one body, the airtime saver.
 *   key 1 base: map, required — the first fix, a complete FIX map.
 *   key 2 n:    u8, required — number of fixes, base included (1..PROTO_FIXB_MAX).
 *   key 3 cols: array of FIX keys, required — the fields that vary after the base (written ascending; any
 *               order is accepted, a repeated key is PROTO_EMSG_DUPKEY).
 *               A FIX field not listed has the base's value (or absence) in every fix, except rec_seq,
 *               which then grows by exactly 1 per fix.
 *   key 4 vals: array — (n - 1) * len(cols) values, row-major: for fix 1..n-1, one value per
 *               column: nil = field absent in this fix, else an integer delta from a prediction.
 *   key 5 bits, key 6 pk: the packed form of the same deltas, sent instead of vals (exactly one of vals
 *               or bits + pk). bits: 2 * len(cols) widths (0..64): first one per column for fix 1 (its
 *               prediction has only the base, so t and position deltas are large there), then one per
 *               column for fixes 2..n-1. pk: bin, the deltas row-major, each zigzag-coded (z = 2d for
 *               d >= 0, -2d - 1 for d < 0) in its width, least significant bit first, packed LSB-first into
 *               bytes; exactly ceil(sum of the widths used / 8) bytes, the padding bits 0. It cannot say
 *               "absent", so the encoder uses it only when every field of every fix is present in its
 *               column, and only when the whole body is strictly shorter than with vals (each width = bit
 *               length of the largest z it covers). Decoders accept either form. Why: a msgpack integer
 *               costs at least a byte, while the deltas of a walking animal need 0 (t) to ~11 (cog) bits.
 * Prediction per field, from the field's previous PRESENT values p1 (latest) and p2 in this batch (base
 * included): t, t_mono, lat, lon, alt use 2*p1 - p2 (second differences: a steady walk costs ~0); with one
 * previous value, p1; with none, 0. cog uses p1 and the delta is taken modulo 36000 into -18000..17999.
 * All other fields use p1 (first differences). rec_seq deltas must be >= 1. Every reconstructed fix is then
 * validated exactly like a FIX.
 */
enum {
	PROTO_FIXB_K_BASE = 1,
	PROTO_FIXB_K_N = 2,
	PROTO_FIXB_K_COLS = 3,
	PROTO_FIXB_K_VALS = 4,
	PROTO_FIXB_K_BITS = 5,
	PROTO_FIXB_K_PK = 6,
};
struct proto_fixb {
	uint32_t has; /* always 0: FIXB has no optional keys (kept so every message struct starts alike) */
	uint8_t n;    /* fixes in fix[] */
	struct proto_fix fix[PROTO_FIXB_MAX];
};

/* IND (0x04): an indication (the animal signals a possible mine), journaled, highest priority. */
enum {
	PROTO_IND_K_SEQ = 1,    /* u32, required: rec_seq */
	PROTO_IND_K_T = 2,      /* u64 UTC ms of onset; exactly one of t / t_mono */
	PROTO_IND_K_TMONO = 3,  /* u32 ms since boot of onset */
	PROTO_IND_K_KIND = 4,   /* enum PROTO_IND_*, required */
	PROTO_IND_K_DUR = 5,    /* u32 ms duration, optional */
	PROTO_IND_K_CONF = 6,   /* u8 % confidence 0..100, optional */
	PROTO_IND_K_SRC = 7,    /* enum PROTO_SRC_*, required */
	PROTO_IND_K_LAT = 8,    /* i32 degE7, optional (with lon) */
	PROTO_IND_K_LON = 9,    /* i32 degE7, optional (with lat) */
	PROTO_IND_K_HACC = 10,  /* u32 mm, optional (only with lat/lon) */
	PROTO_IND_K_FIXREF = 11, /* u32 rec_seq of the FIX the position came from, optional, < rec_seq */
	PROTO_IND_K_COMPLETES = 12, /* u32 rec_seq of an earlier IND this record completes, optional, < rec_seq:
	                             * an indication longer than the collar's hold is sent while it lasts; when
	                             * it ends, a completion IND (same kind/src/onset) carries the final dur */
	PROTO_IND_K_VERDICT = 13   /* enum PROTO_VERDICT_*, optional: the handler's verdict (short press confirms,
	                            * long press rejects). On an onset IND it is the verdict on that indication;
	                            * on a completion (with completes) the verdict on the indication it completes.
	                            * A completion may carry only a verdict: the handler lifted the finger after
	                            * the final dur was sent; it then repeats the newest dur/conf already sent */
};
enum { PROTO_IND_SIT = 1, PROTO_IND_SCRATCH = 2, PROTO_IND_MARK = 3 /* handler mark */ };
enum { PROTO_VERDICT_CONFIRMED = 1, PROTO_VERDICT_REJECTED = 2 };
enum { PROTO_SRC_CLASSIFIER = 1, PROTO_SRC_BUTTON = 2, PROTO_SRC_BOTH = 3 };
#define PROTO_IND_HAS_T (1u << PROTO_IND_K_T)
#define PROTO_IND_HAS_TMONO (1u << PROTO_IND_K_TMONO)
#define PROTO_IND_HAS_DUR (1u << PROTO_IND_K_DUR)
#define PROTO_IND_HAS_CONF (1u << PROTO_IND_K_CONF)
#define PROTO_IND_HAS_LAT (1u << PROTO_IND_K_LAT)
#define PROTO_IND_HAS_LON (1u << PROTO_IND_K_LON)
#define PROTO_IND_HAS_POS (PROTO_IND_HAS_LAT | PROTO_IND_HAS_LON)
#define PROTO_IND_HAS_HACC (1u << PROTO_IND_K_HACC)
#define PROTO_IND_HAS_FIXREF (1u << PROTO_IND_K_FIXREF)
#define PROTO_IND_HAS_COMPLETES (1u << PROTO_IND_K_COMPLETES)
#define PROTO_IND_HAS_VERDICT (1u << PROTO_IND_K_VERDICT)
struct proto_ind {
	uint32_t has;
	uint32_t rec_seq;
	uint64_t t_ms;
	uint32_t t_mono_ms;
	uint32_t dur_ms;
	int32_t lat_e7;
	int32_t lon_e7;
	uint32_t h_acc_mm;
	uint32_t fix_ref;
	uint32_t completes;
	uint8_t kind;
	uint8_t conf_pct;
	uint8_t src;
	uint8_t verdict; /* enum PROTO_VERDICT_*, with PROTO_IND_HAS_VERDICT */
};

/* STATUS (0x05): periodic health, not journaled. */
enum {
	PROTO_STATUS_K_BATT = 1,    /* u16 mV, optional */
	PROTO_STATUS_K_BATTPCT = 2, /* u8 % 0..100, optional */
	PROTO_STATUS_K_TEMP = 3,    /* i16 deci-degC -550..1250, optional */
	PROTO_STATUS_K_BACKLOG = 4, /* u32 journal records not yet acked, required */
	PROTO_STATUS_K_TX = 5,      /* u32 frames sent since boot (retransmits included), required */
	PROTO_STATUS_K_RETX = 6,    /* u32 retransmissions since boot, required */
	PROTO_STATUS_K_ACKS = 7,    /* u32 ACKs received since boot, required */
	PROTO_STATUS_K_RSSI = 8,    /* i16 dBm of the last ACK, -200..20, optional */
	PROTO_STATUS_K_SNR = 9,     /* i16 dB x10 of the last ACK, -500..500, optional */
};
#define PROTO_STATUS_HAS_BATT (1u << PROTO_STATUS_K_BATT)
#define PROTO_STATUS_HAS_BATTPCT (1u << PROTO_STATUS_K_BATTPCT)
#define PROTO_STATUS_HAS_TEMP (1u << PROTO_STATUS_K_TEMP)
#define PROTO_STATUS_HAS_RSSI (1u << PROTO_STATUS_K_RSSI)
#define PROTO_STATUS_HAS_SNR (1u << PROTO_STATUS_K_SNR)
struct proto_status {
	uint32_t has;
	uint32_t backlog;
	uint32_t tx_frames;
	uint32_t retx;
	uint32_t acks;
	uint16_t batt_mv;
	int16_t temp_dc;
	int16_t rssi_dbm;
	int16_t snr_db10;
	uint8_t batt_pct;
};

/* CMD_ACK (0x06): answer to a CMD (MAVLink COMMAND_ACK style). */
enum {
	PROTO_CMD_ACK_K_ID = 1,       /* u32 cmd_id, required */
	PROTO_CMD_ACK_K_RESULT = 2,   /* enum PROTO_RES_*, required */
	PROTO_CMD_ACK_K_PROGRESS = 3, /* u8 % 0..100, optional, only with PROTO_RES_IN_PROGRESS */
};
enum {
	PROTO_RES_DONE = 1,
	PROTO_RES_IN_PROGRESS = 2,
	PROTO_RES_REJECTED = 3,    /* parameters refused */
	PROTO_RES_UNSUPPORTED = 4, /* opcode unknown to this firmware */
	PROTO_RES_FAILED = 5,
};
#define PROTO_CMD_ACK_HAS_PROGRESS (1u << PROTO_CMD_ACK_K_PROGRESS)
struct proto_cmd_ack {
	uint32_t has;
	uint32_t cmd_id;
	uint8_t result;
	uint8_t progress_pct;
};

/*
 * GONE (0x07): "these rec_seqs will never be sent": records the collar issued but no longer holds un-acked
 * (thinned by the storage-full policy, INDs dropped from a flash full of indications, a torn append). Not
 * journaled: it is derived from the journal and recomputed whenever needed. The collar sends it when the
 * gateway's cumulative ACK stalls just below such a record (and after every link-up), so the gateway can
 * settle the gap instead of waiting for it forever. Gone = first..last, plus bit i of map = last + 2 + i.
 * A gateway treats a gone rec_seq as settled (its cum may pass it) and counts it as thinned, never as
 * received; a record it already stored stays stored.
 */
enum {
	PROTO_GONE_K_FIRST = 1, /* u32 >= 1, required: first gone rec_seq of a run */
	PROTO_GONE_K_LAST = 2,  /* u32, required: last of the run (>= first) */
	PROTO_GONE_K_MAP = 3,   /* u64 bitmap, optional: bit i set = rec_seq last + 2 + i is gone too */
};
#define PROTO_GONE_HAS_MAP (1u << PROTO_GONE_K_MAP)
struct proto_gone {
	uint32_t has;
	uint32_t first;
	uint32_t last;
	uint64_t map;
};

/* ---- gateway → collar ------------------------------------------------------------------------------ */

/* ACK (0x10): "stored durably", cumulative + selective. rec_seq numbering starts at 1, so cum 0 = none. */
enum {
	PROTO_ACK_K_CUM = 1,    /* u32, required: every rec_seq <= cum is stored */
	PROTO_ACK_K_SACK = 2,   /* u64 bitmap, required: bit i set = rec_seq cum+1+i is stored */
	PROTO_ACK_K_GWT = 3,    /* u64 gateway UTC ms, optional (absent when the gateway has no valid time) */
	PROTO_ACK_K_CREDIT = 4, /* u8 frames the collar may have in flight, 1..64, optional */
};
#define PROTO_ACK_HAS_GWT (1u << PROTO_ACK_K_GWT)
#define PROTO_ACK_HAS_CREDIT (1u << PROTO_ACK_K_CREDIT)
struct proto_ack {
	uint32_t has;
	uint32_t cum;
	uint64_t sack;
	uint64_t gw_ms;
	uint8_t credit;
};

/* CMD (0x11): idempotent by cmd_id; each opcode takes exactly the params listed, no others. */
enum {
	PROTO_CMD_K_ID = 1,     /* u32 cmd_id, required */
	PROTO_CMD_K_RETRY = 2,  /* u8 resend count (0 = first send), required */
	PROTO_CMD_K_OP = 3,     /* enum PROTO_OP_*, required */
	PROTO_CMD_K_PERIOD = 4, /* u32 ms 100..86400000: SET_RATE */
	PROTO_CMD_K_MODE = 5,   /* enum PROTO_MODE_*: SET_MODE */
	PROTO_CMD_K_UTC = 6,    /* u64 UTC ms: TIME_SET */
	PROTO_CMD_K_UPTO = 7,   /* u32 rec_seq: ERASE_ACKED erases records <= upto */
};
enum {
	PROTO_OP_SET_RATE = 1,    /* period */
	PROTO_OP_SET_MODE = 2,    /* mode */
	PROTO_OP_TIME_SET = 3,    /* utc */
	PROTO_OP_ERASE_ACKED = 4, /* upto */
	PROTO_OP_REBOOT = 5,      /* none */
	PROTO_OP_STATUS_NOW = 6,  /* none: send a STATUS now */
};
enum { PROTO_MODE_STANDBY = 1, PROTO_MODE_SEARCH = 2, PROTO_MODE_TRANSIT = 3 };
#define PROTO_CMD_HAS_PERIOD (1u << PROTO_CMD_K_PERIOD)
#define PROTO_CMD_HAS_MODE (1u << PROTO_CMD_K_MODE)
#define PROTO_CMD_HAS_UTC (1u << PROTO_CMD_K_UTC)
#define PROTO_CMD_HAS_UPTO (1u << PROTO_CMD_K_UPTO)
struct proto_cmd {
	uint32_t has;
	uint32_t cmd_id;
	uint32_t period_ms;
	uint64_t utc_ms;
	uint32_t upto_seq;
	uint8_t retry;
	uint8_t op;
	uint8_t mode;
};

/* ---- dock (USB) ------------------------------------------------------------------------------------ */

/* LOG_LIST (0x20): request = empty map (has == 0); reply = all four keys. */
enum {
	PROTO_LOG_LIST_K_OLDEST = 1, /* u32 oldest rec_seq in the journal */
	PROTO_LOG_LIST_K_NEXT = 2,   /* u32 next rec_seq (>= oldest) */
	PROTO_LOG_LIST_K_COUNT = 3,  /* u32 records held (<= next - oldest: old FIXes may be thinned) */
	PROTO_LOG_LIST_K_BOOT = 4,   /* u16 current boot_id */
};
#define PROTO_LOG_LIST_HAS_REPLY 0x1eu /* all four has bits */
struct proto_log_list {
	uint32_t has;
	uint32_t oldest_seq;
	uint32_t next_seq;
	uint32_t count;
	uint16_t boot_id;
};

/* LOG_READ (0x21): ask for up to count records starting at first_seq. */
enum {
	PROTO_LOG_READ_K_FIRST = 1, /* u32, required */
	PROTO_LOG_READ_K_COUNT = 2, /* u16 1..PROTO_LOG_READ_MAX, required */
};
struct proto_log_read {
	uint32_t has;
	uint32_t first_seq;
	uint16_t count;
};

/* LOG_DATA (0x22): raw journal record bodies (each a FIX/FIXB/IND msgpack body). Zero records = nothing
 * at or after seq. Records carry their own rec_seq; seq only says where this answer starts. */
enum {
	PROTO_LOG_DATA_K_SEQ = 1,  /* u32 rec_seq of the first record, required */
	PROTO_LOG_DATA_K_RECS = 2, /* array of bin (1..PROTO_BODY_MAX B each), 0..PROTO_LOG_DATA_RECS_MAX */
};
struct proto_bytes {
	const uint8_t *p; /* borrowed (decode: into the input body) */
	uint16_t len;
};
struct proto_log_data {
	uint32_t has;
	uint32_t seq;
	uint8_t n;
	struct proto_bytes rec[PROTO_LOG_DATA_RECS_MAX];
};

/* LOG_TRIM (0x23): the gateway has stored everything <= upto_seq; the collar may drop it. */
enum { PROTO_LOG_TRIM_K_UPTO = 1 /* u32, required */ };
struct proto_log_trim {
	uint32_t has;
	uint32_t upto_seq;
};

/* PROVISION (0x24): USB only, never radio. The key is copied, never logged. */
enum {
	PROTO_PROV_K_ID = 1,      /* u16 collar_id 1..65535, required */
	PROTO_PROV_K_KEY = 2,     /* bin exactly 32 B, required: HMAC key */
	PROTO_PROV_K_SPECIES = 3, /* enum PROTO_SPECIES_*, required */
	PROTO_PROV_K_REPORT = 4,  /* u32 ms between FIX reports 200..3600000, required */
	PROTO_PROV_K_STATUS = 5,  /* u32 ms between STATUS 1000..86400000, optional */
	PROTO_PROV_K_UTC = 6,     /* u64 UTC ms at provisioning (seeds the clock), optional */
};
enum { PROTO_SPECIES_RAT = 1, PROTO_SPECIES_DOG = 2 };
#define PROTO_PROV_HAS_STATUS (1u << PROTO_PROV_K_STATUS)
#define PROTO_PROV_HAS_UTC (1u << PROTO_PROV_K_UTC)
struct proto_provision {
	uint32_t has;
	uint16_t collar_id;
	uint8_t key[PROTO_KEY_LEN];
	uint8_t species;
	uint32_t report_ms;
	uint32_t status_ms;
	uint64_t utc_ms;
};

/* ---- gateway ↔ core (ZeroMQ) ----------------------------------------------------------------------- */

/*
 * BATCH (0x30): records the gateway stored, in reception order.
 * Each record carries the decoded message as a nested map with the SAME keys as the collar's message.
 * A FIXB frame becomes n FIX records. The raw frame (unstuffed, header..CRC, so the core can re-verify
 * the tag) is sent once: the first record of that frame carries it in `raw`, the others name that record's
 * index in `raw_ref`. A record with neither did not arrive in a frame (dock LOG_DATA).
 */
enum {
	PROTO_BATCH_K_GW = 1,   /* u16 gateway id 1..65535, required */
	PROTO_BATCH_K_SEQ = 2,  /* u64 gw_seq, persistent per gateway, required */
	PROTO_BATCH_K_RECS = 3, /* array of record maps 0..PROTO_BATCH_RECS_MAX, required */
};
enum {
	PROTO_REC_K_COLLAR = 1, /* u16 collar_id 1..65535, required */
	PROTO_REC_K_TYPE = 2,   /* enum: FIX, IND, STATUS, HELLO, CMD_ACK, required */
	PROTO_REC_K_SEQ = 3,    /* u32 rec_seq: required for FIX/IND (= the message's), absent otherwise */
	PROTO_REC_K_RX = 4,     /* u64 gateway UTC ms at reception, required */
	PROTO_REC_K_LINK = 5,   /* u8 gateway link (radio/dock port index), required */
	PROTO_REC_K_RSSI = 6,   /* i16 dBm, optional */
	PROTO_REC_K_SNR = 7,    /* i16 dB x10, optional */
	PROTO_REC_K_RAW = 8,    /* bin 12..255 B unstuffed frame, optional, borrowed */
	PROTO_REC_K_RAWREF = 9, /* u8 index of an earlier record of this batch that carries raw, optional */
	PROTO_REC_K_MSG = 10,   /* map: the decoded message, required */
};
#define PROTO_REC_HAS_SEQ (1u << PROTO_REC_K_SEQ)
#define PROTO_REC_HAS_RSSI (1u << PROTO_REC_K_RSSI)
#define PROTO_REC_HAS_SNR (1u << PROTO_REC_K_SNR)
#define PROTO_REC_HAS_RAW (1u << PROTO_REC_K_RAW)
#define PROTO_REC_HAS_RAWREF (1u << PROTO_REC_K_RAWREF)
struct proto_batch_rec {
	uint32_t has;
	uint16_t collar_id;
	uint8_t type; /* selects the member of m */
	uint8_t link;
	uint32_t rec_seq;
	uint64_t rx_ms;
	int16_t rssi_dbm;
	int16_t snr_db10;
	uint8_t raw_ref;
	struct proto_bytes raw;
	union {
		struct proto_fix fix;
		struct proto_ind ind;
		struct proto_status status;
		struct proto_hello hello;
		struct proto_cmd_ack cmd_ack;
	} m;
};
struct proto_batch {
	uint32_t has;
	uint16_t gw_id;
	uint64_t gw_seq;
	uint8_t n;
	struct proto_batch_rec rec[PROTO_BATCH_RECS_MAX];
};

/* BATCH_ACK (0x31): sent by the core after its store commit. */
enum {
	PROTO_BATCH_ACK_K_SEQ = 1,    /* u64 every gw_seq <= this is stored, required */
	PROTO_BATCH_ACK_K_STORED = 2, /* u16 new records stored from the last batch, optional */
	PROTO_BATCH_ACK_K_DUP = 3,    /* u16 records dropped as duplicates, optional */
};
#define PROTO_BATCH_ACK_HAS_STORED (1u << PROTO_BATCH_ACK_K_STORED)
#define PROTO_BATCH_ACK_HAS_DUP (1u << PROTO_BATCH_ACK_K_DUP)
struct proto_batch_ack {
	uint32_t has;
	uint64_t gw_seq;
	uint16_t stored;
	uint16_t dup;
};

/* CREDIT (0x32): the gateway may have up to n unacked batches in flight. */
enum { PROTO_CREDIT_K_N = 1 /* u16 1..1024, required */ };
struct proto_credit {
	uint32_t has;
	uint16_t n;
};

/* ---- generic API ----------------------------------------------------------------------------------- */

struct proto_msg {
	uint8_t type; /* enum proto_type */
	union {
		struct proto_hello hello;
		struct proto_fix fix;
		struct proto_fixb fixb;
		struct proto_ind ind;
		struct proto_status status;
		struct proto_cmd_ack cmd_ack;
		struct proto_gone gone;
		struct proto_ack ack;
		struct proto_cmd cmd;
		struct proto_log_list log_list;
		struct proto_log_read log_read;
		struct proto_log_data log_data;
		struct proto_log_trim log_trim;
		struct proto_provision provision;
		struct proto_batch batch;
		struct proto_batch_ack batch_ack;
		struct proto_credit credit;
	} u;
};
/* Note: sizeof(struct proto_msg) is dominated by BATCH (several KB). The collar, which only needs a few
 * types, should use the per-type functions below with the small structs. */

/* Where decoding (or encode-side validation) failed, for logs like "FIX: key 4 (lat) = 950000000 ...". */
struct proto_msg_err {
	int code;             /* same as the return value */
	uint8_t type;         /* message type being decoded */
	uint8_t inner_type;   /* BATCH: type of the record's nested message when the error is inside it, else 0 */
	int16_t index;        /* FIXB fix, LOG_DATA record or BATCH record index; -1 when not in one */
	int64_t key;          /* innermost key concerned; -1 when the error is not about one key */
	const char *name;     /* that key's field name, NULL if unknown */
	uint8_t has_value;    /* value holds the offending integer */
	int64_t value;        /* (values above INT64_MAX are reported as INT64_MAX) */
	size_t offset;        /* byte offset in the body where reading stopped */
};

/* Encode m into buf[0..cap). *len gets the body length.
 * @retval PROTO_ENOBUFS cap too small
 * @retval PROTO_EINVAL unknown type, or has bits that are not optional keys of the type
 * @retval PROTO_EMSG_* the struct breaks a field or cross-field rule (same codes as decoding) */
int proto_msg_encode(const struct proto_msg *m, uint8_t *buf, size_t cap, size_t *len)
	__attribute__((warn_unused_result));

/* Decode a body of the given type into *out (zeroed first). where may be NULL.
 * @retval PROTO_EFRAME_TYPE unknown type
 * @retval PROTO_EMSG_SIZE body longer than the type allows
 * @retval PROTO_EMP_* from the pre-validator, PROTO_EMSG_* from the schema */
int proto_msg_decode(unsigned type, const uint8_t *buf, size_t len, struct proto_msg *out,
                     struct proto_msg_err *where) __attribute__((warn_unused_result));

/* Per-type codecs (same contracts), for callers that must not hold a whole struct proto_msg. */
#define PROTO_MSG_CODEC(name)                                                                                \
	int proto_##name##_encode(const struct proto_##name *in, uint8_t *buf, size_t cap, size_t *len)     \
		__attribute__((warn_unused_result));                                                          \
	int proto_##name##_decode(const uint8_t *buf, size_t len, struct proto_##name *out,                   \
	                          struct proto_msg_err *where) __attribute__((warn_unused_result));
PROTO_MSG_CODEC(hello)
PROTO_MSG_CODEC(fix)
PROTO_MSG_CODEC(fixb)
PROTO_MSG_CODEC(ind)
PROTO_MSG_CODEC(status)
PROTO_MSG_CODEC(cmd_ack)
PROTO_MSG_CODEC(gone)
PROTO_MSG_CODEC(ack)
PROTO_MSG_CODEC(cmd)
PROTO_MSG_CODEC(log_list)
PROTO_MSG_CODEC(log_read)
PROTO_MSG_CODEC(log_data)
PROTO_MSG_CODEC(log_trim)
PROTO_MSG_CODEC(provision)
PROTO_MSG_CODEC(batch)
PROTO_MSG_CODEC(batch_ack)
PROTO_MSG_CODEC(credit)
#undef PROTO_MSG_CODEC

/*
 * Encode the longest prefix of fixes[0..n) that fits in cap bytes as one FIXB (the collar fills a frame).
 * *used gets the number of fixes encoded (>= 1 on success).
 * @retval PROTO_ENOBUFS not even one fix fits
 * @retval PROTO_EINVAL n == 0; PROTO_EMSG_* as proto_fixb_encode
 */
int proto_fixb_encode_fit(const struct proto_fix *fixes, size_t n, uint8_t *buf, size_t cap, size_t *len,
                          size_t *used) __attribute__((warn_unused_result));

/* ---- field table (docs, test vectors, error messages) ------------------------------------------------ */

enum proto_field_kind {
	PROTO_FK_UINT = 1, /* unsigned integer in [min, max] */
	PROTO_FK_INT,      /* signed integer in [min, max] */
	PROTO_FK_ENUM,     /* unsigned, one of enums[] */
	PROTO_FK_FLAGS,    /* unsigned bit set, no bit outside max */
	PROTO_FK_STR,      /* str, length in [min, max] bytes (copied) */
	PROTO_FK_BIN,      /* bin, length in [min, max] bytes (fixed: copied; variable: borrowed) */
	PROTO_FK_MAP,      /* nested map (described in the header comment of the type) */
	PROTO_FK_ARRAY,    /* array (ditto) */
};

struct proto_enum_desc {
	uint32_t value;
	const char *name;
};

struct proto_field_desc {
	uint8_t key;
	uint8_t kind;     /* enum proto_field_kind */
	uint8_t required; /* 1: key must be present (subject to the type's cross-field rules) */
	uint8_t size;     /* codec: bytes of the C member (integers), capacity (str, fixed bin; 0 = borrowed bin) */
	const char *name; /* wire name, as in docs and logs */
	const char *unit; /* "degE7", "mm", "ms", "%", "" for counts and enums */
	const char *doc;  /* one line */
	int64_t min;      /* integers: smallest value; str/bin/array: fewest bytes/elements */
	uint64_t max;     /* integers: largest value (FLAGS: mask of known bits); str/bin/array: most */
	const struct proto_enum_desc *enums; /* FK_ENUM (and FLAGS bit names): {0, NULL}-terminated */
	int range_err;    /* code when out of range: PROTO_EMSG_RANGE, _LAT or _LON */
	uint16_t off;     /* codec: offsetof the member (variable bin: a struct proto_bytes) */
};

/* The field table of a message type, sorted by key; NULL (and *n = 0) for an unknown type.
 * For BATCH records use PROTO_T_BATCH_REC (not a wire type). */
#define PROTO_T_BATCH_REC 0x130u
const struct proto_field_desc *proto_msg_fields(unsigned type, size_t *n);
/* The table entry for one key of a type, or NULL. */
const struct proto_field_desc *proto_msg_field(unsigned type, int64_t key);

/* Maximum body length a type allows (PROTO_BODY_MAX for radio types); 0 for an unknown type. */
size_t proto_msg_body_max(unsigned type);

/* Human-readable error, e.g. "FIX key 4 (lat) = 950000000: latitude outside ±90° [PROTO_EMSG_LAT] at byte 9".
 * Always NUL-terminates when cap > 0; returns the length it wanted (like snprintf), no heap, no stdio. */
size_t proto_msg_err_format(const struct proto_msg_err *e, char *buf, size_t cap);

#endif
