/*
 * tests/proto/interop/msgtool.c — the C side of the python-msgpack interop test (msgpack_peer.py).
 *
 *   msgtool encode SEED N   N seeded random messages of every type, one per line:
 *                           "<type hex> <body hex> <json>"   (json = the struct's values, see below)
 *   msgtool decode          reads "<type hex> <body hex>" lines on stdin, answers one line each:
 *                           "OK <json>" or "ERR <PROTO_E...> <key> <index>"
 *
 * The JSON is printed from the decoded/generated C struct by walking the field table, not by the encoder,
 * so the python side compares our bytes against values that did not come from our packer. Shape: an
 * object keyed by the wire key number ("4": -68235000); bin values are {"bin": "<hex>"}; a nested message
 * (BATCH record "10") is an object of the same form; LOG_DATA "2" is a list of bins; FIXB is given as its
 * meaning, {"fixes": [<FIX object>, ...]}, which python must rebuild from the columns and deltas itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg_gen.h"
#include "proto/err.h"
#include "proto/msg.h"

static void print_hex(const uint8_t *p, size_t n)
{
	for (size_t k = 0; k < n; k++)
		printf("%02x", p[k]);
}

static void print_bin(const uint8_t *p, size_t n)
{
	printf("{\"bin\": \"");
	print_hex(p, n);
	printf("\"}");
}

static void print_flat(unsigned type, const void *st);

static void print_field(unsigned type, const void *st, const struct proto_field_desc *d)
{
	const uint8_t *p = (const uint8_t *)st + d->off;
	switch (d->kind) {
	case PROTO_FK_INT:
		printf("%lld", (long long)(int64_t)gen_load(st, d));
		break;
	case PROTO_FK_UINT:
	case PROTO_FK_ENUM:
	case PROTO_FK_FLAGS:
		printf("%llu", (unsigned long long)gen_load(st, d));
		break;
	case PROTO_FK_STR:
		putchar('"');
		for (const char *s = (const char *)p; *s; s++) {
			if (*s == '"' || *s == '\\')
				putchar('\\');
			putchar(*s);
		}
		putchar('"');
		break;
	case PROTO_FK_BIN:
		if (d->size) {
			print_bin(p, d->size);
		} else {
			struct proto_bytes b;
			memcpy(&b, p, sizeof b);
			print_bin(b.p, b.len);
		}
		break;
	default:
		if (type == PROTO_T_LOG_DATA) {
			const struct proto_log_data *l = st;
			printf("[");
			for (size_t i = 0; i < l->n; i++) {
				printf(i ? ", " : "");
				print_bin(l->rec[i].p, l->rec[i].len);
			}
			printf("]");
		} else if (type == PROTO_T_BATCH) {
			const struct proto_batch *b = st;
			printf("[");
			for (size_t i = 0; i < b->n; i++) {
				printf(i ? ", " : "");
				print_flat(PROTO_T_BATCH_REC, &b->rec[i]);
			}
			printf("]");
		} else if (type == PROTO_T_BATCH_REC) {
			const struct proto_batch_rec *r = st;
			print_flat(r->type, &r->m);
		}
		break;
	}
}

static void print_flat(unsigned type, const void *st)
{
	size_t nf, printed = 0;
	const struct proto_field_desc *f = proto_msg_fields(type, &nf);
	uint32_t has;
	memcpy(&has, st, sizeof has);
	if (type == PROTO_T_FIXB) {
		const struct proto_fixb *fb = st;
		printf("{\"fixes\": [");
		for (size_t i = 0; i < fb->n; i++) {
			printf(i ? ", " : "");
			print_flat(PROTO_T_FIX, &fb->fix[i]);
		}
		printf("]}");
		return;
	}
	printf("{");
	for (size_t k = 0; k < nf; k++) {
		if (!f[k].required && !(has & (1u << f[k].key)))
			continue;
		printf("%s\"%u\": ", printed++ ? ", " : "", f[k].key);
		print_field(type, st, &f[k]);
	}
	printf("}");
}

static void *member(struct proto_msg *m)
{
	return &m->u; /* every member starts at the union's address */
}

static uint8_t body[PROTO_BATCH_BODY_MAX + 64];
static char line[2 * (PROTO_BATCH_BODY_MAX + 64) + 64];
static struct proto_msg msg;
static struct gen g;

static int cmd_encode(uint64_t seed, unsigned n)
{
	gen_init(&g, seed);
	for (size_t t = 0; t < GEN_NTYPES; t++) {
		unsigned type = gen_all_types[t];
		unsigned count = type == PROTO_T_BATCH ? (n + 9) / 10 : n;
		for (unsigned i = 0; i < count; i++) {
			size_t len;
			gen_msg(&g, type, &msg);
			int err = proto_msg_encode(&msg, body, sizeof body, &len);
			if (err) {
				fprintf(stderr, "msgtool: encode type 0x%02x: %s\n", type, proto_errname(err));
				return 1;
			}
			printf("%02x ", type);
			print_hex(body, len);
			putchar(' ');
			print_flat(type, member(&msg));
			putchar('\n');
		}
	}
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int cmd_decode(void)
{
	unsigned long lineno = 0;
	while (fgets(line, sizeof line, stdin)) {
		unsigned type;
		char *sp;
		size_t len = 0;
		lineno++;
		if (sscanf(line, "%x", &type) != 1 || !(sp = strchr(line, ' '))) {
			fprintf(stderr, "msgtool: line %lu: expected \"<type hex> <body hex>\"\n", lineno);
			return 2;
		}
		for (sp++; hexval(sp[0]) >= 0 && hexval(sp[1]) >= 0 && len < sizeof body; sp += 2)
			body[len++] = (uint8_t)(hexval(sp[0]) * 16 + hexval(sp[1]));
		struct proto_msg_err w;
		int err = proto_msg_decode(type, body, len, &msg, &w);
		if (err) {
			printf("ERR %s %lld %d\n", proto_errname(err), (long long)w.key, w.index);
			continue;
		}
		printf("OK ");
		print_flat(type, member(&msg));
		putchar('\n');
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "encode") == 0)
		return cmd_encode(strtoull(argv[2], NULL, 0), (unsigned)strtoul(argv[3], NULL, 0));
	if (argc == 2 && strcmp(argv[1], "decode") == 0)
		return cmd_decode();
	fprintf(stderr, "usage: msgtool encode SEED N | msgtool decode < lines\n");
	return 2;
}
