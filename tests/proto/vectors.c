/*
 * proto_vectors — writes the generated part of docs/protocol.md: per message type, its field table (from
 * proto_msg_fields(), the codec's own table) and a hex test vector (body and complete wire frame) made by the
 * real encoder. The test proto_docs_vectors compares its output with the file, so the spec cannot drift.
 *
 * Usage: proto_vectors                print the generated markdown
 *        proto_vectors --corpus DIR   write fuzz seeds (tests/fuzz/corpora/frame): per type, the body prefixed
 *                                     by its type byte (decoder path) and the wire frame (deframer path)
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto/err.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "samples.h"

static const struct {
	unsigned type;
	const char *dir;
	const char *what;
	const char *variant; /* a second vector of a type already listed (no table): its heading */
} types[] = {
	{PROTO_T_HELLO, "collar → gateway", "on boot and on every reconnect"},
	{PROTO_T_FIX, "collar → gateway", "one GNSS fix; journaled before its first transmission"},
	{PROTO_T_FIXB, "collar → gateway", "a batch of fixes, first absolute then predicted deltas: the airtime saver"},
	{PROTO_T_IND, "collar → gateway", "an indication (the rat scratches, the dog sits); journaled, sent first"},
	{PROTO_T_STATUS, "collar → gateway", "periodic health; not journaled"},
	{PROTO_T_CMD_ACK, "collar → gateway", "answer to a CMD"},
	{PROTO_T_ACK, "gateway → collar", "records durably stored: cumulative + 64-bit selective"},
	{PROTO_T_CMD, "gateway → collar", "a command, idempotent by cmd_id"},
	{PROTO_T_LOG_LIST, "dock, both ways", "request: empty map; reply: the journal's extent"},
	{PROTO_T_LOG_READ, "dock, gateway → collar", "ask for journal records by sequence (resumable)"},
	{PROTO_T_LOG_DATA, "dock, collar → gateway", "journal records, raw bodies"},
	{PROTO_T_LOG_TRIM, "dock, gateway → collar", "the gateway has stored everything up to a sequence"},
	{PROTO_T_PROVISION, "dock, gateway → collar", "collar id, key and configuration: USB only, never radio"},
	{PROTO_T_BATCH, "gateway → core (ZeroMQ)", "stored records, at least once, in order"},
	{PROTO_T_BATCH_ACK, "core → gateway (ZeroMQ)", "sent after the core's commit"},
	{PROTO_T_CREDIT, "core → gateway (ZeroMQ)", "flow control: unacked batches allowed in flight"},
	/* added after the first release: last, so every earlier vector keeps its link_seq and bytes */
	{PROTO_T_GONE, "collar → gateway", "rec_seqs the collar can no longer send (thinned): the gateway settles them"},
	{PROTO_T_IND, "collar → gateway",
	 "a completion of the IND above (rec_seq 5330) journaled when the handler let go of a long press: the "
	 "verdict `rejected` on indication 5330, with the newest dur and conf already sent (§4b)",
	 "IND completion with the handler's verdict"},
};

static const char *kind_name(unsigned k)
{
	switch (k) {
	case PROTO_FK_UINT: return "uint";
	case PROTO_FK_INT: return "int";
	case PROTO_FK_ENUM: return "enum";
	case PROTO_FK_FLAGS: return "flags";
	case PROTO_FK_STR: return "str";
	case PROTO_FK_BIN: return "bin";
	case PROTO_FK_MAP: return "map";
	case PROTO_FK_ARRAY: return "array";
	}
	return "?";
}

static void range(const struct proto_field_desc *f)
{
	switch (f->kind) {
	case PROTO_FK_UINT:
	case PROTO_FK_INT:
		printf("%" PRId64 " … %" PRIu64, f->min, f->max);
		break;
	case PROTO_FK_ENUM:
	case PROTO_FK_FLAGS:
		if (f->enums)
			for (const struct proto_enum_desc *e = f->enums; e->name; e++) {
				if (f->kind == PROTO_FK_FLAGS)
					printf("%s%s 0x%" PRIx32, e == f->enums ? "" : ", ", e->name, e->value);
				else
					printf("%s%s = %" PRIu32, e == f->enums ? "" : ", ", e->name, e->value);
			}
		else
			printf("mask 0x%" PRIx64, f->max);
		break;
	case PROTO_FK_STR:
	case PROTO_FK_BIN:
		printf("%" PRId64 " … %" PRIu64 " bytes", f->min, f->max);
		break;
	default:
		if (f->max == 0)
			printf("–");
		else
			printf("%" PRId64 " … %" PRIu64 " elements", f->min, f->max);
	}
}

static void table(unsigned type)
{
	size_t n;
	const struct proto_field_desc *f = proto_msg_fields(type, &n);
	if (n == 0) {
		printf("Body: an empty map or the fields below.\n\n");
		return;
	}
	printf("| key | name | type | unit | range | req. | meaning |\n|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < n; i++) {
		printf("| %u | `%s` | %s | %s | ", f[i].key, f[i].name, kind_name(f[i].kind), f[i].unit[0] ? f[i].unit : "–");
		range(&f[i]);
		printf(" | %s | %s |\n", f[i].required ? "yes" : "no", f[i].doc);
	}
	printf("\n");
}

static void hex_block(const char *title, const uint8_t *p, size_t n)
{
	printf("%s (%zu bytes):\n\n```\n", title, n);
	for (size_t i = 0; i < n; i++)
		printf("%02x%s", p[i], (i % 32 == 31 || i + 1 == n) ? "\n" : " ");
	printf("```\n\n");
}

static int radio_type(unsigned t)
{
	return t < PROTO_T_BATCH;
}

static struct proto_msg m; /* large (BATCH): static */
static uint8_t body[PROTO_BATCH_BODY_MAX];
static struct proto_hmac_key key;

static int wire_of(unsigned type, const uint8_t *b, size_t bl, uint16_t link_seq, uint8_t *wire, size_t *wl)
{
	struct proto_hdr h = {.type = (uint8_t)type, .collar_id = SAMPLE_COLLAR, .link_seq = link_seq,
	                      .boot_id = SAMPLE_BOOT};
	return proto_frame_encode(&h, b, bl, &key, wire, PROTO_WIRE_MAX, wl);
}

static int write_file(const char *dir, const char *name, const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		return -1;
	}
	fwrite(a, 1, an, f);
	fwrite(b, 1, bn, f);
	return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *corpus = argc == 3 && strcmp(argv[1], "--corpus") == 0 ? argv[2] : NULL;
	if (argc > 1 && !corpus) {
		fprintf(stderr, "usage: proto_vectors [--corpus DIR]\n");
		return 2;
	}
	if (corpus)
		freopen("/dev/null", "w", stdout);
	uint8_t kb[32];
	sample_key(kb);
	proto_hmac_init(&key, kb, sizeof kb);
	uint16_t link_seq = 100;
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		unsigned t = types[i].type;
		if (types[i].variant)
			sample_ind_verdict(&m);
		else
			sample_msg(t, &m);
		uint8_t ind_frame[PROTO_FRAME_MAX];
		if (t == PROTO_T_BATCH) {
			/* The record carries the raw IND frame as the collar sent it (unstuffed). */
			struct proto_msg im;
			size_t il, fl;
			sample_msg(PROTO_T_IND, &im);
			struct proto_hdr h = {.type = PROTO_T_IND, .collar_id = SAMPLE_COLLAR, .link_seq = 109,
			                      .boot_id = SAMPLE_BOOT};
			if (proto_msg_encode(&im, ind_frame + PROTO_HDR_LEN, PROTO_BODY_MAX, &il) != 0 ||
			    proto_frame_seal(ind_frame, sizeof ind_frame, &h, il, &key, &fl) != 0)
				return 1;
			m.u.batch.rec[0].has |= PROTO_REC_HAS_RAW;
			m.u.batch.rec[0].raw.p = ind_frame;
			m.u.batch.rec[0].raw.len = (uint16_t)fl;
		}
		size_t bl;
		int err = proto_msg_encode(&m, body, sizeof body, &bl);
		if (err) {
			fprintf(stderr, "encode %s: %s\n", proto_type_name(t), proto_strerror(err));
			return 1;
		}
		if (types[i].variant) {
			printf("### 0x%02x %s — %s\n\n%s.\n\n", t, types[i].variant, types[i].dir, types[i].what);
		} else {
			printf("### 0x%02x %s — %s\n\n%s.\n\n", t, proto_type_name(t), types[i].dir, types[i].what);
			table(t);
		}
		if (t == PROTO_T_BATCH) {
			printf("Each element of `recs` is a record map:\n\n");
			table(PROTO_T_BATCH_REC);
		}
		hex_block("Body", body, bl);
		if (corpus) {
			char name[64];
			uint8_t tb = (uint8_t)t;
			snprintf(name, sizeof name, "body-%s%s", proto_type_name(t), types[i].variant ? "-variant" : "");
			if (write_file(corpus, name, &tb, 1, body, bl) < 0)
				return 1;
		}
		if (radio_type(t)) {
			uint8_t wire[PROTO_WIRE_MAX];
			size_t wl;
			if (wire_of(t, body, bl, link_seq++, wire, &wl) != 0)
				return 1;
			hex_block("Frame on the wire, delimiters included", wire, wl);
			if (corpus) {
				char name[64];
				snprintf(name, sizeof name, "wire-%s%s", proto_type_name(t), types[i].variant ? "-variant" : "");
				if (write_file(corpus, name, wire, wl, NULL, 0) < 0)
					return 1;
			}
			if (t == PROTO_T_FIXB)
				printf("%u fixes of a walking animal at 1 Hz: %zu bytes on the wire, %.1f bytes per fix, "
				       "tag and CRC included.\n\n", (unsigned)m.u.fixb.n, wl, (double)wl / m.u.fixb.n);
		} else {
			printf("On ZeroMQ this body is the second frame of the multipart message `[0x%02x][body]`.\n\n", t);
		}
	}
	return 0;
}
