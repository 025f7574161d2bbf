/*
 * proto/src/msg.c — field tables of every message type, the table-driven codec, flat message types and the
 * generic proto_msg_encode/decode dispatch. FIXB is in msg_fixb.c, LOG_DATA and BATCH in msg_batch.c.
 *
 * Nothing here allocates: encoding writes through msgpack-c's header-only packer into the caller's buffer,
 * decoding reads with the bounded reader of proto/mp.h into the caller's struct.
 */
#include "msg_internal.h"

#include "proto/err.h"

#include <string.h>

/* ---- field tables ------------------------------------------------------------------------------------ */

#define MEMBER_SIZE(st, mem) ((uint8_t)sizeof(((st *)0)->mem))
#define ROW(st, mem, k, kd, req, nm, un, mn, mx, en, rerr, dc)                                                 \
	{                                                                                                      \
		.key = (k), .kind = (kd), .required = (req), .size = MEMBER_SIZE(st, mem), .name = (nm),       \
		.unit = (un), .doc = (dc), .min = (mn), .max = (mx), .enums = (en), .range_err = (rerr),        \
		.off = (uint16_t)offsetof(st, mem)                                                              \
	}
#define U(st, mem, k, req, nm, un, mn, mx, dc) ROW(st, mem, k, PROTO_FK_UINT, req, nm, un, mn, mx, NULL, PROTO_EMSG_RANGE, dc)
#define I(st, mem, k, req, nm, un, mn, mx, dc) ROW(st, mem, k, PROTO_FK_INT, req, nm, un, mn, mx, NULL, PROTO_EMSG_RANGE, dc)
#define E(st, mem, k, req, nm, en, dc) ROW(st, mem, k, PROTO_FK_ENUM, req, nm, "", 0, 0, en, PROTO_EMSG_ENUM, dc)
#define FL(st, mem, k, req, nm, mask, en, dc) ROW(st, mem, k, PROTO_FK_FLAGS, req, nm, "", 0, mask, en, PROTO_EMSG_BITS, dc)
#define LAT(st, mem, k, req) ROW(st, mem, k, PROTO_FK_INT, req, "lat", "degE7", -900000000, 900000000, NULL, PROTO_EMSG_LAT, "latitude, WGS84")
#define LON(st, mem, k, req) ROW(st, mem, k, PROTO_FK_INT, req, "lon", "degE7", -1800000000, 1800000000, NULL, PROTO_EMSG_LON, "longitude, WGS84")
#define UTC(st, mem, k, req, nm, dc) U(st, mem, k, req, nm, "ms", (int64_t)PROTO_UTC_MS_MIN, PROTO_UTC_MS_MAX, dc)
/* variable-length bin, borrowed on decode: the member is a struct proto_bytes; size 0 marks it */
#define BINREF(st, mem, k, req, nm, mn, mx, dc)                                                                \
	{                                                                                                      \
		.key = (k), .kind = PROTO_FK_BIN, .required = (req), .size = 0, .name = (nm), .unit = "B",     \
		.doc = (dc), .min = (mn), .max = (mx), .enums = NULL, .range_err = PROTO_EMSG_SIZE,            \
		.off = (uint16_t)offsetof(st, mem)                                                              \
	}
/* map/array rows: no C member behind them (size 0) */
#define NOMEM(k, kd, req, nm, un, mn, mx, dc)                                                                   \
	{                                                                                                      \
		.key = (k), .kind = (kd), .required = (req), .size = 0, .name = (nm), .unit = (un), .doc = (dc), \
		.min = (mn), .max = (mx), .enums = NULL, .range_err = PROTO_EMSG_SIZE, .off = 0                 \
	}

static const struct proto_enum_desc gga_q_enum[] = {
	{0, "no_fix"}, {1, "gps"}, {2, "dgps"}, {3, "pps"}, {4, "rtk_fixed"}, {5, "rtk_float"},
	{6, "estimated"}, {7, "manual"}, {8, "simulation"}, {0, NULL},
};
static const struct proto_enum_desc faa_enum[] = {
	{'A', "A_autonomous"}, {'D', "D_differential"}, {'E', "E_estimated"}, {'F', "F_rtk_float"},
	{'M', "M_manual"}, {'N', "N_not_valid"}, {'P', "P_precise"}, {'R', "R_rtk_fixed"}, {'S', "S_simulator"},
	{0, NULL},
};
static const struct proto_enum_desc dim_enum[] = {{1, "none"}, {2, "2d"}, {3, "3d"}, {0, NULL}};
static const struct proto_enum_desc tq_bits[] = {{PROTO_TQ_ROLLOVER, "rollover_corrected"},
						 {PROTO_TQ_LEAP, "leap_unknown"}, {0, NULL}};
static const struct proto_enum_desc caps_bits[] = {
	{PROTO_CAP_HACC, "h_acc"}, {PROTO_CAP_FIXB, "fixb"}, {PROTO_CAP_CLASSIFIER, "classifier"},
	{PROTO_CAP_BUTTON, "button"}, {PROTO_CAP_TEMP, "temperature"}, {0, NULL},
};
static const struct proto_enum_desc ind_kind_enum[] = {
	{PROTO_IND_SIT, "sit"}, {PROTO_IND_SCRATCH, "scratch"}, {PROTO_IND_MARK, "handler_mark"}, {0, NULL}};
static const struct proto_enum_desc src_enum[] = {
	{PROTO_SRC_CLASSIFIER, "collar_classifier"}, {PROTO_SRC_BUTTON, "handler_button"}, {PROTO_SRC_BOTH, "both"},
	{0, NULL}};
static const struct proto_enum_desc verdict_enum[] = {
	{PROTO_VERDICT_CONFIRMED, "confirmed"}, {PROTO_VERDICT_REJECTED, "rejected"}, {0, NULL}};
static const struct proto_enum_desc result_enum[] = {
	{PROTO_RES_DONE, "done"}, {PROTO_RES_IN_PROGRESS, "in_progress"}, {PROTO_RES_REJECTED, "rejected"},
	{PROTO_RES_UNSUPPORTED, "unsupported"}, {PROTO_RES_FAILED, "failed"}, {0, NULL}};
static const struct proto_enum_desc op_enum[] = {
	{PROTO_OP_SET_RATE, "set_rate"}, {PROTO_OP_SET_MODE, "set_mode"}, {PROTO_OP_TIME_SET, "time_set"},
	{PROTO_OP_ERASE_ACKED, "erase_acked"}, {PROTO_OP_REBOOT, "reboot"}, {PROTO_OP_STATUS_NOW, "status_now"},
	{0, NULL}};
static const struct proto_enum_desc mode_enum[] = {
	{PROTO_MODE_STANDBY, "standby"}, {PROTO_MODE_SEARCH, "search"}, {PROTO_MODE_TRANSIT, "transit"}, {0, NULL}};
static const struct proto_enum_desc species_enum[] = {
	{PROTO_SPECIES_RAT, "rat"}, {PROTO_SPECIES_DOG, "dog"}, {0, NULL}};
static const struct proto_enum_desc rec_type_enum[] = {
	{PROTO_T_HELLO, "HELLO"}, {PROTO_T_FIX, "FIX"}, {PROTO_T_IND, "IND"}, {PROTO_T_STATUS, "STATUS"},
	{PROTO_T_CMD_ACK, "CMD_ACK"}, {0, NULL}};

#define S struct proto_hello
static const struct proto_field_desc hello_f[] = {
	ROW(S, fw, PROTO_HELLO_K_FW, PROTO_FK_STR, 1, "fw", "", 1, PROTO_HELLO_FW_MAX, NULL, PROTO_EMSG_SIZE,
	    "firmware version, printable ASCII"),
	U(S, schema, PROTO_HELLO_K_SCHEMA, 1, "schema", "", 1, UINT16_MAX, "message schema version"),
	U(S, boot_id, PROTO_HELLO_K_BOOT, 1, "boot_id", "", 0, UINT16_MAX, "boot epoch"),
	U(S, oldest_seq, PROTO_HELLO_K_OLDEST, 1, "oldest_seq", "", 0, UINT32_MAX, "oldest rec_seq in the journal"),
	U(S, next_seq, PROTO_HELLO_K_NEXT, 1, "next_seq", "", 0, UINT32_MAX, "rec_seq of the next record (>= oldest_seq)"),
	FL(S, caps, PROTO_HELLO_K_CAPS, 1, "caps", PROTO_CAP_KNOWN, caps_bits, "capability bits"),
	U(S, batt_mv, PROTO_HELLO_K_BATT, 0, "batt", "mV", 0, UINT16_MAX, "battery voltage"),
	U(S, ack_cum, PROTO_HELLO_K_ACKCUM, 0, "ack_cum", "", 1, UINT32_MAX, "collar's ack point: every rec_seq <= it was acked (< next_seq)"),
};
#undef S
#define S struct proto_fix
static const struct proto_field_desc fix_f[] = {
	U(S, rec_seq, PROTO_FIX_K_SEQ, 1, "rec_seq", "", 0, UINT32_MAX, "record sequence (shared with IND)"),
	UTC(S, t_ms, PROTO_FIX_K_T, 0, "t", "UTC ms since 1970; absent when there is no valid time"),
	U(S, t_mono_ms, PROTO_FIX_K_TMONO, 0, "t_mono", "ms", 0, UINT32_MAX, "ms since boot; present iff t is absent"),
	LAT(S, lat_e7, PROTO_FIX_K_LAT, 1),
	LON(S, lon_e7, PROTO_FIX_K_LON, 1),
	I(S, alt_mm, PROTO_FIX_K_ALT, 0, "alt", "mm", -1000000, 20000000, "altitude above mean sea level"),
	U(S, hdop_c, PROTO_FIX_K_HDOP, 0, "hdop", "x100", 0, 9999, "horizontal dilution of precision (unitless)"),
	U(S, h_acc_mm, PROTO_FIX_K_HACC, 0, "h_acc", "mm", 0, 100000000, "horizontal accuracy (GST sigma)"),
	E(S, gga_q, PROTO_FIX_K_Q, 0, "q", gga_q_enum, "GGA quality indicator"),
	E(S, faa_mode, PROTO_FIX_K_MODE, 0, "mode", faa_enum, "FAA mode letter (ASCII code)"),
	E(S, fix_dim, PROTO_FIX_K_DIM, 0, "fix", dim_enum, "GSA fix dimension"),
	U(S, nsat, PROTO_FIX_K_NSAT, 0, "nsat", "", 0, UINT8_MAX, "satellites used"),
	U(S, sog_cms, PROTO_FIX_K_SOG, 0, "sog", "cm/s", 0, UINT16_MAX, "speed over ground"),
	U(S, cog_cdeg, PROTO_FIX_K_COG, 0, "cog", "cdeg", 0, 35999, "course over ground, true"),
	FL(S, tq, PROTO_FIX_K_TQ, 0, "tq", PROTO_TQ_KNOWN, tq_bits, "time quality bits (only with t)"),
};
#undef S
#define S struct proto_ind
static const struct proto_field_desc ind_f[] = {
	U(S, rec_seq, PROTO_IND_K_SEQ, 1, "rec_seq", "", 0, UINT32_MAX, "record sequence (shared with FIX)"),
	UTC(S, t_ms, PROTO_IND_K_T, 0, "t", "onset, UTC ms since 1970; absent when there is no valid time"),
	U(S, t_mono_ms, PROTO_IND_K_TMONO, 0, "t_mono", "ms", 0, UINT32_MAX, "onset, ms since boot; present iff t is absent"),
	E(S, kind, PROTO_IND_K_KIND, 1, "kind", ind_kind_enum, "indication kind"),
	U(S, dur_ms, PROTO_IND_K_DUR, 0, "dur", "ms", 0, UINT32_MAX, "duration"),
	U(S, conf_pct, PROTO_IND_K_CONF, 0, "conf", "%", 0, 100, "confidence"),
	E(S, src, PROTO_IND_K_SRC, 1, "src", src_enum, "who detected it"),
	LAT(S, lat_e7, PROTO_IND_K_LAT, 0),
	LON(S, lon_e7, PROTO_IND_K_LON, 0),
	U(S, h_acc_mm, PROTO_IND_K_HACC, 0, "h_acc", "mm", 0, 100000000, "horizontal accuracy of lat/lon"),
	U(S, fix_ref, PROTO_IND_K_FIXREF, 0, "fix_ref", "", 0, UINT32_MAX, "rec_seq of the FIX used (< rec_seq)"),
	U(S, completes, PROTO_IND_K_COMPLETES, 0, "completes", "", 1, UINT32_MAX, "rec_seq of the earlier IND whose final dur this gives (< rec_seq)"),
	E(S, verdict, PROTO_IND_K_VERDICT, 0, "verdict", verdict_enum, "handler's verdict: on this indication, or with completes on the one it completes"),
};
#undef S
#define S struct proto_gone
static const struct proto_field_desc gone_f[] = {
	U(S, first, PROTO_GONE_K_FIRST, 1, "first", "", 1, UINT32_MAX, "first gone rec_seq of the run"),
	U(S, last, PROTO_GONE_K_LAST, 1, "last", "", 1, UINT32_MAX, "last gone rec_seq of the run (>= first)"),
	U(S, map, PROTO_GONE_K_MAP, 0, "map", "", 0, UINT64_MAX, "bit i: rec_seq last + 2 + i is gone too"),
};
#undef S
#define S struct proto_status
static const struct proto_field_desc status_f[] = {
	U(S, batt_mv, PROTO_STATUS_K_BATT, 0, "batt", "mV", 0, UINT16_MAX, "battery voltage"),
	U(S, batt_pct, PROTO_STATUS_K_BATTPCT, 0, "batt_pct", "%", 0, 100, "battery charge"),
	I(S, temp_dc, PROTO_STATUS_K_TEMP, 0, "temp", "0.1 degC", -550, 1250, "temperature"),
	U(S, backlog, PROTO_STATUS_K_BACKLOG, 1, "backlog", "", 0, UINT32_MAX, "journal records not yet acked"),
	U(S, tx_frames, PROTO_STATUS_K_TX, 1, "tx", "", 0, UINT32_MAX, "frames sent since boot"),
	U(S, retx, PROTO_STATUS_K_RETX, 1, "retx", "", 0, UINT32_MAX, "retransmissions since boot"),
	U(S, acks, PROTO_STATUS_K_ACKS, 1, "acks", "", 0, UINT32_MAX, "ACKs received since boot"),
	I(S, rssi_dbm, PROTO_STATUS_K_RSSI, 0, "rssi", "dBm", -200, 20, "RSSI of the last ACK"),
	I(S, snr_db10, PROTO_STATUS_K_SNR, 0, "snr", "0.1 dB", -500, 500, "SNR of the last ACK"),
};
#undef S
#define S struct proto_cmd_ack
static const struct proto_field_desc cmd_ack_f[] = {
	U(S, cmd_id, PROTO_CMD_ACK_K_ID, 1, "cmd_id", "", 0, UINT32_MAX, "the CMD answered"),
	E(S, result, PROTO_CMD_ACK_K_RESULT, 1, "result", result_enum, "outcome"),
	U(S, progress_pct, PROTO_CMD_ACK_K_PROGRESS, 0, "progress", "%", 0, 100, "only with result in_progress"),
};
#undef S
#define S struct proto_ack
static const struct proto_field_desc ack_f[] = {
	U(S, cum, PROTO_ACK_K_CUM, 1, "cum", "", 0, UINT32_MAX, "every rec_seq <= cum is stored (0: none)"),
	U(S, sack, PROTO_ACK_K_SACK, 1, "sack", "bitmap", 0, UINT64_MAX, "bit i: rec_seq cum+1+i is stored"),
	UTC(S, gw_ms, PROTO_ACK_K_GWT, 0, "gw_t", "gateway UTC ms since 1970"),
	U(S, credit, PROTO_ACK_K_CREDIT, 0, "credit", "frames", 1, 64, "frames the collar may have in flight"),
};
#undef S
#define S struct proto_cmd
static const struct proto_field_desc cmd_f[] = {
	U(S, cmd_id, PROTO_CMD_K_ID, 1, "cmd_id", "", 0, UINT32_MAX, "idempotent command id"),
	U(S, retry, PROTO_CMD_K_RETRY, 1, "retry", "", 0, UINT8_MAX, "resend count, 0 on first send"),
	E(S, op, PROTO_CMD_K_OP, 1, "op", op_enum, "opcode"),
	U(S, period_ms, PROTO_CMD_K_PERIOD, 0, "period", "ms", 100, 86400000, "set_rate: report period"),
	E(S, mode, PROTO_CMD_K_MODE, 0, "mode", mode_enum, "set_mode: operating mode"),
	UTC(S, utc_ms, PROTO_CMD_K_UTC, 0, "utc", "time_set: UTC ms since 1970"),
	U(S, upto_seq, PROTO_CMD_K_UPTO, 0, "upto", "", 0, UINT32_MAX, "erase_acked: erase records <= upto"),
};
#undef S
#define S struct proto_log_list
static const struct proto_field_desc log_list_f[] = {
	U(S, oldest_seq, PROTO_LOG_LIST_K_OLDEST, 0, "oldest_seq", "", 0, UINT32_MAX, "reply: oldest rec_seq held"),
	U(S, next_seq, PROTO_LOG_LIST_K_NEXT, 0, "next_seq", "", 0, UINT32_MAX, "reply: next rec_seq"),
	U(S, count, PROTO_LOG_LIST_K_COUNT, 0, "count", "", 0, UINT32_MAX, "reply: records held"),
	U(S, boot_id, PROTO_LOG_LIST_K_BOOT, 0, "boot_id", "", 0, UINT16_MAX, "reply: current boot_id"),
};
#undef S
#define S struct proto_log_read
static const struct proto_field_desc log_read_f[] = {
	U(S, first_seq, PROTO_LOG_READ_K_FIRST, 1, "first_seq", "", 0, UINT32_MAX, "first rec_seq wanted"),
	U(S, count, PROTO_LOG_READ_K_COUNT, 1, "count", "", 1, PROTO_LOG_READ_MAX, "records wanted"),
};
#undef S
#define S struct proto_log_data
static const struct proto_field_desc log_data_f[] = {
	U(S, seq, PROTO_LOG_DATA_K_SEQ, 1, "seq", "", 0, UINT32_MAX, "rec_seq of the first record"),
	NOMEM(PROTO_LOG_DATA_K_RECS, PROTO_FK_ARRAY, 1, "recs", "", 0, PROTO_LOG_DATA_RECS_MAX,
	      "array of bin: raw journal record bodies, 1..235 B each (borrowed on decode)"),
};
#undef S
#define S struct proto_log_trim
static const struct proto_field_desc log_trim_f[] = {
	U(S, upto_seq, PROTO_LOG_TRIM_K_UPTO, 1, "upto", "", 0, UINT32_MAX, "records <= upto are stored upstream"),
};
#undef S
#define S struct proto_provision
static const struct proto_field_desc provision_f[] = {
	U(S, collar_id, PROTO_PROV_K_ID, 1, "collar_id", "", 1, UINT16_MAX, "collar id (0 is never a collar)"),
	ROW(S, key, PROTO_PROV_K_KEY, PROTO_FK_BIN, 1, "key", "", PROTO_KEY_LEN, PROTO_KEY_LEN, NULL,
	    PROTO_EMSG_SIZE, "HMAC-SHA256 key, 32 bytes (copied, never logged)"),
	E(S, species, PROTO_PROV_K_SPECIES, 1, "species", species_enum, "animal"),
	U(S, report_ms, PROTO_PROV_K_REPORT, 1, "report", "ms", 200, 3600000, "FIX report period"),
	U(S, status_ms, PROTO_PROV_K_STATUS, 0, "status", "ms", 1000, 86400000, "STATUS period"),
	UTC(S, utc_ms, PROTO_PROV_K_UTC, 0, "utc", "UTC ms since 1970 at provisioning (clock seed)"),
};
#undef S
#define S struct proto_fixb
static const struct proto_field_desc fixb_f[] = {
	NOMEM(PROTO_FIXB_K_BASE, PROTO_FK_MAP, 1, "base", "", 0, 0, "first fix: a complete FIX map"),
	U(S, n, PROTO_FIXB_K_N, 1, "n", "", 1, PROTO_FIXB_MAX, "fixes in the batch, base included"),
	NOMEM(PROTO_FIXB_K_COLS, PROTO_FK_ARRAY, 1, "cols", "", 0, 15,
	      "FIX keys that vary after the base, strictly ascending"),
	NOMEM(PROTO_FIXB_K_VALS, PROTO_FK_ARRAY, 0, "vals", "", 0, (PROTO_FIXB_MAX - 1u) * 15u,
	      "(n-1)*len(cols) deltas row-major, nil = absent; or bits + pk (see proto/msg.h)"),
	NOMEM(PROTO_FIXB_K_BITS, PROTO_FK_ARRAY, 0, "bits", "bit", 0, 30,
	      "packed form: bits per zigzag delta (0 ... 64), per column for fix 1 then for fixes 2..n-1"),
	NOMEM(PROTO_FIXB_K_PK, PROTO_FK_BIN, 0, "pk", "B", 0, PROTO_BODY_MAX,
	      "packed form: the (n-1)*len(cols) zigzag deltas row-major, LSB first, zero-padded"),
};
#undef S
#define S struct proto_batch
static const struct proto_field_desc batch_f[] = {
	U(S, gw_id, PROTO_BATCH_K_GW, 1, "gw_id", "", 1, UINT16_MAX, "gateway id"),
	U(S, gw_seq, PROTO_BATCH_K_SEQ, 1, "gw_seq", "", 0, UINT64_MAX, "batch sequence, persistent per gateway"),
	NOMEM(PROTO_BATCH_K_RECS, PROTO_FK_ARRAY, 1, "recs", "", 0, PROTO_BATCH_RECS_MAX, "array of record maps"),
};
#undef S
#define S struct proto_batch_rec
static const struct proto_field_desc batch_rec_f[] = {
	U(S, collar_id, PROTO_REC_K_COLLAR, 1, "collar_id", "", 1, UINT16_MAX, "collar that sent it"),
	E(S, type, PROTO_REC_K_TYPE, 1, "type", rec_type_enum, "message type of msg"),
	U(S, rec_seq, PROTO_REC_K_SEQ, 0, "rec_seq", "", 0, UINT32_MAX, "FIX/IND: the message's rec_seq; else absent"),
	UTC(S, rx_ms, PROTO_REC_K_RX, 1, "rx_t", "gateway UTC ms at reception"),
	U(S, link, PROTO_REC_K_LINK, 1, "link", "", 0, UINT8_MAX, "gateway link it arrived on"),
	I(S, rssi_dbm, PROTO_REC_K_RSSI, 0, "rssi", "dBm", -200, 20, "received signal strength"),
	I(S, snr_db10, PROTO_REC_K_SNR, 0, "snr", "0.1 dB", -500, 500, "signal to noise ratio"),
	BINREF(S, raw, PROTO_REC_K_RAW, 0, "raw", PROTO_RAW_MIN, PROTO_FRAME_MAX,
	       "unstuffed frame, header to CRC (borrowed on decode)"),
	U(S, raw_ref, PROTO_REC_K_RAWREF, 0, "raw_ref", "", 0, PROTO_BATCH_RECS_MAX - 1u,
	  "index of the earlier record carrying this frame's raw"),
	NOMEM(PROTO_REC_K_MSG, PROTO_FK_MAP, 1, "msg", "", 0, 0, "the decoded message, same keys as on the radio"),
};
#undef S
#define S struct proto_batch_ack
static const struct proto_field_desc batch_ack_f[] = {
	U(S, gw_seq, PROTO_BATCH_ACK_K_SEQ, 1, "gw_seq", "", 0, UINT64_MAX, "every batch <= gw_seq is stored"),
	U(S, stored, PROTO_BATCH_ACK_K_STORED, 0, "stored", "", 0, UINT16_MAX, "new records from the last batch"),
	U(S, dup, PROTO_BATCH_ACK_K_DUP, 0, "dup", "", 0, UINT16_MAX, "duplicates dropped from the last batch"),
};
#undef S
#define S struct proto_credit
static const struct proto_field_desc credit_f[] = {
	U(S, n, PROTO_CREDIT_K_N, 1, "n", "batches", 1, 1024, "unacked batches allowed in flight"),
};
#undef S

_Static_assert((int)PROTO_FIX_K_T == (int)PROTO_IND_K_T && (int)PROTO_FIX_K_TMONO == (int)PROTO_IND_K_TMONO,
	       "time_rule reports FIX and IND time keys by the same numbers");

/* ---- cross-field rules ------------------------------------------------------------------------------- */

static int time_rule(const struct msg_schema *s, uint32_t has, uint32_t t_bit, uint32_t mono_bit,
		     struct proto_msg_err *w)
{
	/* Exactly one clock: UTC when valid, else monotonic. Both or neither means the sender lost track. */
	int t = (has & t_bit) != 0, m = (has & mono_bit) != 0;
	if (t == m)
		return proto__msg_err(w, PROTO_EMSG_TIME, s, t ? PROTO_FIX_K_TMONO : PROTO_FIX_K_T, 0);
	return 0;
}

static int fix_check(const void *p, struct proto_msg_err *w)
{
	const struct proto_fix *f = p;
	int err = time_rule(&proto__schema_fix, f->has, PROTO_FIX_HAS_T, PROTO_FIX_HAS_TMONO, w);
	if (err)
		return err;
	if ((f->has & PROTO_FIX_HAS_TQ) && !(f->has & PROTO_FIX_HAS_T))
		return proto__msg_err(w, PROTO_EMSG_TIME, &proto__schema_fix, PROTO_FIX_K_TQ, 0);
	return 0;
}

static int ind_check(const void *p, struct proto_msg_err *w)
{
	const struct proto_ind *e = p;
	const struct msg_schema *s = &proto__schema_ind;
	int err = time_rule(s, e->has, PROTO_IND_HAS_T, PROTO_IND_HAS_TMONO, w);
	if (err)
		return err;
	if ((e->has & PROTO_IND_HAS_POS) == PROTO_IND_HAS_LAT)
		return proto__msg_err(w, PROTO_EMSG_MISSING, s, PROTO_IND_K_LON, 0);
	if ((e->has & PROTO_IND_HAS_POS) == PROTO_IND_HAS_LON)
		return proto__msg_err(w, PROTO_EMSG_MISSING, s, PROTO_IND_K_LAT, 0);
	if ((e->has & PROTO_IND_HAS_HACC) && !(e->has & PROTO_IND_HAS_POS))
		return proto__msg_err(w, PROTO_EMSG_EXCL, s, PROTO_IND_K_HACC, 0);
	/* the FIX used was journaled before the indication, so its rec_seq is smaller */
	if ((e->has & PROTO_IND_HAS_FIXREF) && e->fix_ref >= e->rec_seq)
		return proto__msg_err_val(w, PROTO_EMSG_SEQ, s, PROTO_IND_K_FIXREF, 0, 0, e->fix_ref, 0);
	/* a completion names the IND it completes, journaled before it */
	if ((e->has & PROTO_IND_HAS_COMPLETES) && e->completes >= e->rec_seq)
		return proto__msg_err_val(w, PROTO_EMSG_SEQ, s, PROTO_IND_K_COMPLETES, 0, 0, e->completes, 0);
	return 0;
}

static int hello_check(const void *p, struct proto_msg_err *w)
{
	const struct proto_hello *h = p;
	if (h->oldest_seq > h->next_seq)
		return proto__msg_err_val(w, PROTO_EMSG_SEQ, &proto__schema_hello, PROTO_HELLO_K_NEXT, 0, 0,
					  h->next_seq, 0);
	/* the collar can only have been acked for records it issued */
	if ((h->has & PROTO_HELLO_HAS_ACKCUM) && h->ack_cum >= h->next_seq)
		return proto__msg_err_val(w, PROTO_EMSG_SEQ, &proto__schema_hello, PROTO_HELLO_K_ACKCUM, 0, 0,
					  h->ack_cum, 0);
	return 0;
}

static int gone_check(const void *p, struct proto_msg_err *w)
{
	const struct proto_gone *g = p;
	if (g->last < g->first)
		return proto__msg_err_val(w, PROTO_EMSG_SEQ, &proto__schema_gone, PROTO_GONE_K_LAST, 0, 0, g->last, 0);
	/* every rec_seq the map names must exist: last + 2 + 63 <= UINT32_MAX for the highest bit set */
	if ((g->has & PROTO_GONE_HAS_MAP) && g->map != 0 &&
	    (uint64_t)g->last + 2u + (63u - (unsigned)__builtin_clzll(g->map)) > UINT32_MAX)
		return proto__msg_err_val(w, PROTO_EMSG_SEQ, &proto__schema_gone, PROTO_GONE_K_MAP, 0, 0, g->map, 0);
	return 0;
}

static int cmd_ack_check(const void *p, struct proto_msg_err *w);
static int gone_check(const void *p, struct proto_msg_err *w);
static int cmd_check(const void *p, struct proto_msg_err *w);
static int log_list_check(const void *p, struct proto_msg_err *w);

#define SCHEMA(var, t, name, table, st, dep, bmax, chk)                                                       \
	const struct msg_schema var = {.type = (t), .tname = (name), .f = (table),                           \
				       .nf = sizeof(table) / sizeof((table)[0]), .size = sizeof(st),              \
				       .depth = (dep), .body_max = (bmax), .check = (chk)}

SCHEMA(proto__schema_hello, PROTO_T_HELLO, "HELLO", hello_f, struct proto_hello, 1, PROTO_BODY_MAX, hello_check);
SCHEMA(proto__schema_fix, PROTO_T_FIX, "FIX", fix_f, struct proto_fix, 1, PROTO_BODY_MAX, fix_check);
SCHEMA(proto__schema_fixb, PROTO_T_FIXB, "FIXB", fixb_f, struct proto_fixb, 2, PROTO_BODY_MAX, NULL);
SCHEMA(proto__schema_ind, PROTO_T_IND, "IND", ind_f, struct proto_ind, 1, PROTO_BODY_MAX, ind_check);
SCHEMA(proto__schema_status, PROTO_T_STATUS, "STATUS", status_f, struct proto_status, 1, PROTO_BODY_MAX, NULL);
SCHEMA(proto__schema_gone, PROTO_T_GONE, "GONE", gone_f, struct proto_gone, 1, PROTO_BODY_MAX, gone_check);
SCHEMA(proto__schema_cmd_ack, PROTO_T_CMD_ACK, "CMD_ACK", cmd_ack_f, struct proto_cmd_ack, 1, PROTO_BODY_MAX,
       cmd_ack_check);
static SCHEMA(schema_ack, PROTO_T_ACK, "ACK", ack_f, struct proto_ack, 1, PROTO_BODY_MAX, NULL);
static SCHEMA(schema_cmd, PROTO_T_CMD, "CMD", cmd_f, struct proto_cmd, 1, PROTO_BODY_MAX, cmd_check);
static SCHEMA(schema_log_list, PROTO_T_LOG_LIST, "LOG_LIST", log_list_f, struct proto_log_list, 1,
	      PROTO_BODY_MAX, log_list_check);
static SCHEMA(schema_log_read, PROTO_T_LOG_READ, "LOG_READ", log_read_f, struct proto_log_read, 1,
	      PROTO_BODY_MAX, NULL);
SCHEMA(proto__schema_log_data, PROTO_T_LOG_DATA, "LOG_DATA", log_data_f, struct proto_log_data, 2,
       PROTO_LOG_DATA_BODY_MAX, NULL);
static SCHEMA(schema_log_trim, PROTO_T_LOG_TRIM, "LOG_TRIM", log_trim_f, struct proto_log_trim, 1,
	      PROTO_BODY_MAX, NULL);
static SCHEMA(schema_provision, PROTO_T_PROVISION, "PROVISION", provision_f, struct proto_provision, 1,
	      PROTO_BODY_MAX, NULL);
SCHEMA(proto__schema_batch, PROTO_T_BATCH, "BATCH", batch_f, struct proto_batch, 4, PROTO_BATCH_BODY_MAX, NULL);
SCHEMA(proto__schema_batch_rec, PROTO_T_BATCH_REC, "BATCH record", batch_rec_f, struct proto_batch_rec, 2,
       PROTO_BATCH_REC_MAX, NULL);
static SCHEMA(schema_batch_ack, PROTO_T_BATCH_ACK, "BATCH_ACK", batch_ack_f, struct proto_batch_ack, 1,
	      PROTO_BODY_MAX, NULL);
static SCHEMA(schema_credit, PROTO_T_CREDIT, "CREDIT", credit_f, struct proto_credit, 1, PROTO_BODY_MAX, NULL);

static int cmd_ack_check(const void *p, struct proto_msg_err *w)
{
	const struct proto_cmd_ack *a = p;
	if ((a->has & PROTO_CMD_ACK_HAS_PROGRESS) && a->result != PROTO_RES_IN_PROGRESS)
		return proto__msg_err(w, PROTO_EMSG_EXCL, &proto__schema_cmd_ack, PROTO_CMD_ACK_K_PROGRESS, 0);
	return 0;
}

static int cmd_check(const void *p, struct proto_msg_err *w)
{
	const struct proto_cmd *c = p;
	uint32_t need = 0;
	switch (c->op) {
	case PROTO_OP_SET_RATE: need = PROTO_CMD_HAS_PERIOD; break;
	case PROTO_OP_SET_MODE: need = PROTO_CMD_HAS_MODE; break;
	case PROTO_OP_TIME_SET: need = PROTO_CMD_HAS_UTC; break;
	case PROTO_OP_ERASE_ACKED: need = PROTO_CMD_HAS_UPTO; break;
	default: need = 0; break;
	}
	/* each opcode takes exactly its parameters: a stray one means sender and receiver disagree on the op */
	for (unsigned k = PROTO_CMD_K_PERIOD; k <= PROTO_CMD_K_UPTO; k++) {
		uint32_t bit = 1u << k;
		if ((need & bit) && !(c->has & bit))
			return proto__msg_err(w, PROTO_EMSG_MISSING, &schema_cmd, k, 0);
		if (!(need & bit) && (c->has & bit))
			return proto__msg_err(w, PROTO_EMSG_EXCL, &schema_cmd, k, 0);
	}
	return 0;
}

static int log_list_check(const void *p, struct proto_msg_err *w)
{
	const struct proto_log_list *l = p;
	if (l->has == 0)
		return 0; /* the request */
	for (unsigned k = PROTO_LOG_LIST_K_OLDEST; k <= PROTO_LOG_LIST_K_BOOT; k++)
		if (!(l->has & (1u << k)))
			return proto__msg_err(w, PROTO_EMSG_MISSING, &schema_log_list, k, 0);
	if (l->oldest_seq > l->next_seq)
		return proto__msg_err_val(w, PROTO_EMSG_SEQ, &schema_log_list, PROTO_LOG_LIST_K_NEXT, 0, 0,
					  l->next_seq, 0);
	if (l->count > l->next_seq - l->oldest_seq)
		return proto__msg_err_val(w, PROTO_EMSG_SEQ, &schema_log_list, PROTO_LOG_LIST_K_COUNT, 0, 0,
					  l->count, 0);
	return 0;
}

/* ---- schema lookup ----------------------------------------------------------------------------------- */

static const struct msg_schema *const all_schemas[] = {
	&proto__schema_hello, &proto__schema_fix, &proto__schema_fixb, &proto__schema_ind,
	&proto__schema_status, &proto__schema_cmd_ack, &proto__schema_gone, &schema_ack, &schema_cmd, &schema_log_list,
	&schema_log_read, &proto__schema_log_data, &schema_log_trim, &schema_provision, &proto__schema_batch,
	&schema_batch_ack, &schema_credit, &proto__schema_batch_rec,
};

const struct msg_schema *proto__msg_schema(unsigned type)
{
	for (size_t k = 0; k < sizeof all_schemas / sizeof all_schemas[0]; k++)
		if (all_schemas[k]->type == type)
			return all_schemas[k];
	return NULL;
}

const struct proto_field_desc *proto_msg_fields(unsigned type, size_t *n)
{
	const struct msg_schema *s = proto__msg_schema(type);
	if (n)
		*n = s ? s->nf : 0;
	return s ? s->f : NULL;
}

const struct proto_field_desc *proto__msg_find(const struct msg_schema *s, int64_t key)
{
	for (size_t k = 0; k < s->nf; k++)
		if (s->f[k].key == key)
			return &s->f[k];
	return NULL;
}

const struct proto_field_desc *proto_msg_field(unsigned type, int64_t key)
{
	const struct msg_schema *s = proto__msg_schema(type);
	return s ? proto__msg_find(s, key) : NULL;
}

size_t proto_msg_body_max(unsigned type)
{
	const struct msg_schema *s = proto__msg_schema(type);
	return s && type != PROTO_T_BATCH_REC ? s->body_max : 0;
}

uint32_t proto__msg_optmask(const struct msg_schema *s)
{
	uint32_t m = 0;
	for (size_t k = 0; k < s->nf; k++)
		if (!s->f[k].required)
			m |= 1u << s->f[k].key;
	return m;
}

/* ---- errors ------------------------------------------------------------------------------------------ */

void proto__msg_err_init(struct proto_msg_err *w, unsigned type)
{
	if (!w)
		return;
	memset(w, 0, sizeof *w);
	w->type = (uint8_t)type;
	w->index = -1;
	w->key = -1;
}

int proto__msg_err(struct proto_msg_err *w, int code, const struct msg_schema *s, int64_t key, size_t offset)
{
	if (!w || w->code)
		return code;
	w->code = code;
	w->key = key;
	w->offset = offset;
	if (s && s->type != w->type && s->type != PROTO_T_BATCH_REC)
		w->inner_type = (uint8_t)s->type; /* a message nested in a BATCH record (or FIXB's base) */
	const struct proto_field_desc *d = s && key >= 0 ? proto__msg_find(s, key) : NULL;
	w->name = d ? d->name : NULL;
	return code;
}

int proto__msg_err_val(struct proto_msg_err *w, int code, const struct msg_schema *s, int64_t key,
		       size_t offset, int neg, uint64_t u, int64_t i)
{
	if (!w || w->code)
		return code;
	proto__msg_err(w, code, s, key, offset);
	w->has_value = 1;
	w->value = neg ? i : (u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u);
	return code;
}

/* ---- integer members --------------------------------------------------------------------------------- */

uint64_t proto__msg_load_u(const void *st, const struct proto_field_desc *d)
{
	const uint8_t *p = (const uint8_t *)st + d->off;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;
	switch (d->size) {
	case 1: memcpy(&v8, p, 1); return v8;
	case 2: memcpy(&v16, p, 2); return v16;
	case 4: memcpy(&v32, p, 4); return v32;
	default: memcpy(&v64, p, 8); return v64;
	}
}

int64_t proto__msg_load_i(const void *st, const struct proto_field_desc *d)
{
	const uint8_t *p = (const uint8_t *)st + d->off;
	int8_t v8;
	int16_t v16;
	int32_t v32;
	int64_t v64;
	switch (d->size) {
	case 1: memcpy(&v8, p, 1); return v8;
	case 2: memcpy(&v16, p, 2); return v16;
	case 4: memcpy(&v32, p, 4); return v32;
	default: memcpy(&v64, p, 8); return v64;
	}
}

void proto__msg_store(void *st, const struct proto_field_desc *d, uint64_t bits)
{
	uint8_t *p = (uint8_t *)st + d->off;
	/* the value passed its range check, so truncation to the member width loses nothing */
	uint8_t v8 = (uint8_t)bits;
	uint16_t v16 = (uint16_t)bits;
	uint32_t v32 = (uint32_t)bits;
	switch (d->size) {
	case 1: memcpy(p, &v8, 1); break;
	case 2: memcpy(p, &v16, 2); break;
	case 4: memcpy(p, &v32, 4); break;
	default: memcpy(p, &bits, 8); break;
	}
}

int proto__msg_int_ok(const struct proto_field_desc *d, int neg, uint64_t u, int64_t i)
{
	switch (d->kind) {
	case PROTO_FK_ENUM:
		if (neg)
			return PROTO_EMSG_ENUM;
		for (const struct proto_enum_desc *e = d->enums; e && e->name; e++)
			if (e->value == u)
				return 0;
		return PROTO_EMSG_ENUM;
	case PROTO_FK_FLAGS:
		return !neg && (u & ~d->max) == 0 ? 0 : PROTO_EMSG_BITS;
	case PROTO_FK_UINT:
	case PROTO_FK_INT:
		if (neg)
			return i >= d->min ? 0 : d->range_err;
		if (u > d->max || (d->min > 0 && u < (uint64_t)d->min))
			return d->range_err;
		return 0;
	default:
		return PROTO_EMSG_WTYPE;
	}
}

static int is_int_kind(uint8_t k)
{
	return k == PROTO_FK_UINT || k == PROTO_FK_INT || k == PROTO_FK_ENUM || k == PROTO_FK_FLAGS;
}

/* ---- encode ------------------------------------------------------------------------------------------ */

static int wbuf_write(void *data, const char *p, size_t n)
{
	struct msg_wbuf *wb = data;
	if (wb->overflow || n > wb->cap - wb->len) {
		wb->overflow = 1;
		return -1;
	}
	memcpy(wb->buf + wb->len, p, n);
	wb->len += n;
	return 0;
}

void proto__msg_packer_init(msgpack_packer *pk, struct msg_wbuf *wb, uint8_t *buf, size_t cap)
{
	wb->buf = buf;
	wb->cap = buf ? cap : 0;
	wb->len = 0;
	wb->overflow = 0;
	msgpack_packer_init(pk, wb, wbuf_write);
}

/* str fields are printable ASCII: they end up in logs and JSON unescaped, and an embedded NUL would
 * silently shorten the C string */
static int printable(const uint8_t *p, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (p[k] < 0x20 || p[k] > 0x7e)
			return 0;
	return 1;
}

static int present(const struct proto_field_desc *d, uint32_t has)
{
	return d->required || (has & (1u << d->key));
}

int proto__msg_flat_check(const struct msg_schema *s, const void *in, struct proto_msg_err *w)
{
	uint32_t has;
	memcpy(&has, in, sizeof has);
	if (has & ~proto__msg_optmask(s))
		return proto__msg_err(w, PROTO_EINVAL, s, -1, 0);
	for (size_t k = 0; k < s->nf; k++) {
		const struct proto_field_desc *d = &s->f[k];
		if (!present(d, has))
			continue;
		if (is_int_kind(d->kind)) {
			int neg = 0;
			uint64_t u = 0;
			int64_t i = 0;
			if (d->kind == PROTO_FK_INT) {
				i = proto__msg_load_i(in, d);
				neg = i < 0;
				u = neg ? 0 : (uint64_t)i;
			} else {
				u = proto__msg_load_u(in, d);
			}
			int err = proto__msg_int_ok(d, neg, u, i);
			if (err)
				return proto__msg_err_val(w, err, s, d->key, 0, neg, u, i);
		} else if (d->kind == PROTO_FK_STR) {
			const char *str = (const char *)in + d->off;
			size_t n = 0;
			while (n < d->size && str[n])
				n++;
			if (n == d->size || n < (uint64_t)d->min || n > d->max)
				return proto__msg_err(w, PROTO_EMSG_SIZE, s, d->key, 0);
			if (!printable((const uint8_t *)str, n))
				return proto__msg_err(w, PROTO_EMSG_RANGE, s, d->key, 0);
		} else if (d->kind == PROTO_FK_BIN && d->size == 0) {
			struct proto_bytes b;
			memcpy(&b, (const uint8_t *)in + d->off, sizeof b);
			if ((b.len && !b.p) || b.len < d->min || b.len > d->max)
				return proto__msg_err_val(w, PROTO_EMSG_SIZE, s, d->key, 0, 0, b.len, 0);
		}
	}
	return s->check ? s->check(in, w) : 0;
}

void proto__msg_flat_pack(msgpack_packer *pk, const struct msg_schema *s, const void *in, msg_emit_fn emit)
{
	uint32_t has;
	size_t n = 0;
	memcpy(&has, in, sizeof has);
	for (size_t k = 0; k < s->nf; k++)
		n += present(&s->f[k], has) ? 1u : 0u;
	msgpack_pack_map(pk, n);
	for (size_t k = 0; k < s->nf; k++) {
		const struct proto_field_desc *d = &s->f[k];
		if (!present(d, has))
			continue;
		msgpack_pack_uint8(pk, d->key);
		const uint8_t *p = (const uint8_t *)in + d->off;
		switch (d->kind) {
		case PROTO_FK_INT:
			msgpack_pack_int64(pk, proto__msg_load_i(in, d));
			break;
		case PROTO_FK_UINT:
		case PROTO_FK_ENUM:
		case PROTO_FK_FLAGS:
			msgpack_pack_uint64(pk, proto__msg_load_u(in, d));
			break;
		case PROTO_FK_STR:
			msgpack_pack_str_with_body(pk, p, strlen((const char *)p));
			break;
		case PROTO_FK_BIN:
			if (d->size) {
				msgpack_pack_bin_with_body(pk, p, d->size);
			} else {
				struct proto_bytes b;
				memcpy(&b, p, sizeof b);
				msgpack_pack_bin_with_body(pk, b.p, b.len);
			}
			break;
		default:
			emit(pk, d->key, in);
			break;
		}
	}
}

int proto__msg_encode_flat(const struct msg_schema *s, const void *in, uint8_t *buf, size_t cap, size_t *len)
{
	msgpack_packer pk;
	struct msg_wbuf wb;
	if (!in || !len)
		return PROTO_EINVAL;
	*len = 0;
	int err = proto__msg_flat_check(s, in, NULL);
	if (err)
		return err;
	proto__msg_packer_init(&pk, &wb, buf, cap);
	proto__msg_flat_pack(&pk, s, in, NULL);
	if (wb.overflow)
		return PROTO_ENOBUFS;
	*len = wb.len;
	return 0;
}

/* ---- decode ------------------------------------------------------------------------------------------ */

int proto__msg_decode_begin(const struct msg_schema *s, const uint8_t *buf, size_t len, void *out,
			    struct proto_msg_err *w, struct proto_mp_reader *r)
{
	proto__msg_err_init(w, s->type);
	if (!out || (!buf && len))
		return proto__msg_err(w, PROTO_EINVAL, s, -1, 0);
	memset(out, 0, s->size);
	if (len > s->body_max)
		return proto__msg_err_val(w, PROTO_EMSG_SIZE, s, -1, 0, 0, len, 0);
	int err = proto_mp_validate(buf, len, s->depth);
	if (err)
		return proto__msg_err(w, err, s, -1, 0);
	proto_mp_reader_init(r, buf, len);
	return 0;
}

int proto__msg_flat_read(struct proto_mp_reader *r, const struct msg_schema *s, void *out,
			 struct proto_mp_reader *deferred, struct proto_msg_err *w)
{
	struct proto_mp_obj o;
	size_t at = r->pos;
	uint32_t seen = 0, has = 0;
	int err;

	if (proto_mp_read(r, &o))
		return proto__msg_err(w, r->err, s, -1, at);
	if (o.kind != PROTO_MP_MAP)
		return proto__msg_err(w, PROTO_EMSG_NOTMAP, s, -1, at);
	for (uint32_t k = 0; k < o.n; k++) {
		struct proto_mp_obj ko, vo;
		at = r->pos;
		if (proto_mp_read(r, &ko))
			return proto__msg_err(w, r->err, s, -1, at);
		if (ko.kind != PROTO_MP_UINT)
			return proto__msg_err_val(w, PROTO_EMSG_KEY, s, -1, at, ko.kind == PROTO_MP_INT, 0, ko.i);
		const struct proto_field_desc *d = ko.u < MSG_KEYS ? proto__msg_find(s, (int64_t)ko.u) : NULL;
		if (!d)
			return proto__msg_err_val(w, PROTO_EMSG_KEY, s, -1, at, 0, ko.u, 0);
		uint32_t bit = 1u << d->key;
		if (seen & bit)
			return proto__msg_err(w, PROTO_EMSG_DUPKEY, s, d->key, at);
		seen |= bit;
		at = r->pos;

		/* deferred: maps, arrays, and bins without a C member (off 0 is always `has`, never a bin) */
		if (d->kind == PROTO_FK_MAP || d->kind == PROTO_FK_ARRAY || (d->kind == PROTO_FK_BIN && d->off == 0)) {
			struct proto_mp_reader peek = *r;
			if (proto_mp_read(&peek, &vo))
				return proto__msg_err(w, peek.err, s, d->key, at);
			if (vo.kind != (d->kind == PROTO_FK_MAP     ? PROTO_MP_MAP
					: d->kind == PROTO_FK_ARRAY ? PROTO_MP_ARRAY
								    : PROTO_MP_BIN))
				return proto__msg_err(w, PROTO_EMSG_WTYPE, s, d->key, at);
			if (d->kind != PROTO_FK_MAP && (vo.n < d->min || vo.n > d->max))
				return proto__msg_err_val(w, PROTO_EMSG_SIZE, s, d->key, at, 0, vo.n, 0);
			if (!deferred)
				return proto__msg_err(w, PROTO_EMSG_KEY, s, d->key, at);
			deferred[d->key] = *r;
			if (proto_mp_skip(r))
				return proto__msg_err(w, r->err, s, d->key, at);
			continue;
		}
		if (proto_mp_read(r, &vo))
			return proto__msg_err(w, r->err, s, d->key, at);
		uint8_t *p = (uint8_t *)out + d->off;
		switch (d->kind) {
		case PROTO_FK_STR:
			if (vo.kind != PROTO_MP_STR)
				return proto__msg_err(w, PROTO_EMSG_WTYPE, s, d->key, at);
			if (vo.n < d->min || vo.n > d->max)
				return proto__msg_err_val(w, PROTO_EMSG_SIZE, s, d->key, at, 0, vo.n, 0);
			if (!printable(vo.data, vo.n))
				return proto__msg_err(w, PROTO_EMSG_RANGE, s, d->key, at);
			memcpy(p, vo.data, vo.n);
			p[vo.n] = 0;
			break;
		case PROTO_FK_BIN:
			if (vo.kind != PROTO_MP_BIN)
				return proto__msg_err(w, PROTO_EMSG_WTYPE, s, d->key, at);
			if (vo.n < d->min || vo.n > d->max)
				return proto__msg_err_val(w, PROTO_EMSG_SIZE, s, d->key, at, 0, vo.n, 0);
			if (d->size) {
				memcpy(p, vo.data, vo.n);
			} else {
				struct proto_bytes b = {.p = vo.data, .len = (uint16_t)vo.n};
				memcpy(p, &b, sizeof b);
			}
			break;
		default:
			if (vo.kind != PROTO_MP_UINT && vo.kind != PROTO_MP_INT)
				return proto__msg_err(w, PROTO_EMSG_WTYPE, s, d->key, at);
			err = proto__msg_int_ok(d, vo.kind == PROTO_MP_INT, vo.u, vo.i);
			if (err)
				return proto__msg_err_val(w, err, s, d->key, at, vo.kind == PROTO_MP_INT, vo.u, vo.i);
			proto__msg_store(out, d, vo.kind == PROTO_MP_INT ? (uint64_t)vo.i : vo.u);
			break;
		}
		if (!d->required)
			has |= bit;
	}
	for (size_t k = 0; k < s->nf; k++)
		if (s->f[k].required && !(seen & (1u << s->f[k].key)))
			return proto__msg_err(w, PROTO_EMSG_MISSING, s, s->f[k].key, r->pos);
	memcpy(out, &has, sizeof has); /* every message struct starts with uint32_t has */
	if (s->check && (err = s->check(out, w)) != 0) {
		if (w && w->offset == 0)
			w->offset = r->pos;
		return err;
	}
	return 0;
}

int proto__msg_decode_flat(const struct msg_schema *s, const uint8_t *buf, size_t len, void *out,
			   struct proto_msg_err *w)
{
	struct proto_mp_reader r;
	int err = proto__msg_decode_begin(s, buf, len, out, w, &r);
	if (err)
		return err;
	err = proto__msg_flat_read(&r, s, out, NULL, w);
	if (err)
		memset(out, 0, s->size); /* nothing half-decoded is left for a careless caller to use */
	return err;
}

/* ---- per-type entry points (flat types) -------------------------------------------------------------- */

#define FLAT_CODEC(name, schema)                                                                               \
	int proto_##name##_encode(const struct proto_##name *in, uint8_t *buf, size_t cap, size_t *len)      \
	{                                                                                                    \
		return proto__msg_encode_flat(&(schema), in, buf, cap, len);                                 \
	}                                                                                                    \
	int proto_##name##_decode(const uint8_t *buf, size_t len, struct proto_##name *out,                  \
				  struct proto_msg_err *w)                                                   \
	{                                                                                                    \
		return proto__msg_decode_flat(&(schema), buf, len, out, w);                                  \
	}
FLAT_CODEC(hello, proto__schema_hello)
FLAT_CODEC(fix, proto__schema_fix)
FLAT_CODEC(ind, proto__schema_ind)
FLAT_CODEC(status, proto__schema_status)
FLAT_CODEC(cmd_ack, proto__schema_cmd_ack)
FLAT_CODEC(gone, proto__schema_gone)
FLAT_CODEC(ack, schema_ack)
FLAT_CODEC(cmd, schema_cmd)
FLAT_CODEC(log_list, schema_log_list)
FLAT_CODEC(log_read, schema_log_read)
FLAT_CODEC(log_trim, schema_log_trim)
FLAT_CODEC(provision, schema_provision)
FLAT_CODEC(batch_ack, schema_batch_ack)
FLAT_CODEC(credit, schema_credit)

/* ---- generic dispatch -------------------------------------------------------------------------------- */

int proto_msg_encode(const struct proto_msg *m, uint8_t *buf, size_t cap, size_t *len)
{
	if (!m || !len)
		return PROTO_EINVAL;
	switch (m->type) {
	case PROTO_T_HELLO: return proto_hello_encode(&m->u.hello, buf, cap, len);
	case PROTO_T_FIX: return proto_fix_encode(&m->u.fix, buf, cap, len);
	case PROTO_T_FIXB: return proto_fixb_encode(&m->u.fixb, buf, cap, len);
	case PROTO_T_IND: return proto_ind_encode(&m->u.ind, buf, cap, len);
	case PROTO_T_STATUS: return proto_status_encode(&m->u.status, buf, cap, len);
	case PROTO_T_CMD_ACK: return proto_cmd_ack_encode(&m->u.cmd_ack, buf, cap, len);
	case PROTO_T_GONE: return proto_gone_encode(&m->u.gone, buf, cap, len);
	case PROTO_T_ACK: return proto_ack_encode(&m->u.ack, buf, cap, len);
	case PROTO_T_CMD: return proto_cmd_encode(&m->u.cmd, buf, cap, len);
	case PROTO_T_LOG_LIST: return proto_log_list_encode(&m->u.log_list, buf, cap, len);
	case PROTO_T_LOG_READ: return proto_log_read_encode(&m->u.log_read, buf, cap, len);
	case PROTO_T_LOG_DATA: return proto_log_data_encode(&m->u.log_data, buf, cap, len);
	case PROTO_T_LOG_TRIM: return proto_log_trim_encode(&m->u.log_trim, buf, cap, len);
	case PROTO_T_PROVISION: return proto_provision_encode(&m->u.provision, buf, cap, len);
	case PROTO_T_BATCH: return proto_batch_encode(&m->u.batch, buf, cap, len);
	case PROTO_T_BATCH_ACK: return proto_batch_ack_encode(&m->u.batch_ack, buf, cap, len);
	case PROTO_T_CREDIT: return proto_credit_encode(&m->u.credit, buf, cap, len);
	default: *len = 0; return PROTO_EINVAL;
	}
}

int proto_msg_decode(unsigned type, const uint8_t *buf, size_t len, struct proto_msg *out,
		     struct proto_msg_err *where)
{
	if (!out)
		return PROTO_EINVAL;
	out->type = (uint8_t)type;
	switch (type) {
	case PROTO_T_HELLO: return proto_hello_decode(buf, len, &out->u.hello, where);
	case PROTO_T_FIX: return proto_fix_decode(buf, len, &out->u.fix, where);
	case PROTO_T_FIXB: return proto_fixb_decode(buf, len, &out->u.fixb, where);
	case PROTO_T_IND: return proto_ind_decode(buf, len, &out->u.ind, where);
	case PROTO_T_STATUS: return proto_status_decode(buf, len, &out->u.status, where);
	case PROTO_T_CMD_ACK: return proto_cmd_ack_decode(buf, len, &out->u.cmd_ack, where);
	case PROTO_T_GONE: return proto_gone_decode(buf, len, &out->u.gone, where);
	case PROTO_T_ACK: return proto_ack_decode(buf, len, &out->u.ack, where);
	case PROTO_T_CMD: return proto_cmd_decode(buf, len, &out->u.cmd, where);
	case PROTO_T_LOG_LIST: return proto_log_list_decode(buf, len, &out->u.log_list, where);
	case PROTO_T_LOG_READ: return proto_log_read_decode(buf, len, &out->u.log_read, where);
	case PROTO_T_LOG_DATA: return proto_log_data_decode(buf, len, &out->u.log_data, where);
	case PROTO_T_LOG_TRIM: return proto_log_trim_decode(buf, len, &out->u.log_trim, where);
	case PROTO_T_PROVISION: return proto_provision_decode(buf, len, &out->u.provision, where);
	case PROTO_T_BATCH: return proto_batch_decode(buf, len, &out->u.batch, where);
	case PROTO_T_BATCH_ACK: return proto_batch_ack_decode(buf, len, &out->u.batch_ack, where);
	case PROTO_T_CREDIT: return proto_credit_decode(buf, len, &out->u.credit, where);
	default:
		proto__msg_err_init(where, type);
		out->type = 0;
		return proto__msg_err(where, PROTO_EFRAME_TYPE, NULL, -1, 0);
	}
}

/* ---- error text (no stdio: usable on the collar) ------------------------------------------------------ */

struct sbuf {
	char *buf;
	size_t cap, n;
};

static void sb_str(struct sbuf *b, const char *s)
{
	for (; s && *s; s++, b->n++)
		if (b->n + 1 < b->cap)
			b->buf[b->n] = *s;
}

static void sb_int(struct sbuf *b, int64_t v)
{
	char tmp[24];
	size_t k = sizeof tmp;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	tmp[--k] = 0;
	do {
		tmp[--k] = (char)('0' + (char)(u % 10u));
		u /= 10u;
	} while (u);
	if (v < 0)
		tmp[--k] = '-';
	sb_str(b, tmp + k);
}

size_t proto_msg_err_format(const struct proto_msg_err *e, char *buf, size_t cap)
{
	struct sbuf b = {buf, buf ? cap : 0, 0};
	const struct msg_schema *s = e ? proto__msg_schema(e->type) : NULL;
	if (!e) {
		sb_str(&b, "no error");
	} else {
		sb_str(&b, s ? s->tname : "unknown type");
		if (e->index >= 0) {
			sb_str(&b, e->type == PROTO_T_FIXB ? " fix " : " record ");
			sb_int(&b, e->index);
		}
		if (e->inner_type) {
			const struct msg_schema *in = proto__msg_schema(e->inner_type);
			sb_str(&b, " ");
			sb_str(&b, in ? in->tname : "?");
		}
		if (e->key >= 0) {
			sb_str(&b, " key ");
			sb_int(&b, e->key);
			if (e->name) {
				sb_str(&b, " (");
				sb_str(&b, e->name);
				sb_str(&b, ")");
			}
		}
		if (e->has_value) {
			sb_str(&b, " = ");
			sb_int(&b, e->value);
		}
		sb_str(&b, ": ");
		sb_str(&b, proto_strerror(e->code));
		sb_str(&b, " [");
		sb_str(&b, proto_errname(e->code));
		sb_str(&b, "] at byte ");
		sb_int(&b, (int64_t)e->offset);
	}
	if (b.cap)
		b.buf[b.n < b.cap ? b.n : b.cap - 1] = 0;
	return b.n;
}
