/*
 * tests/collar-fw/journal_crash_tool.c — the journal in a real process on the host board's file flash, for
 * the SIGKILL power-cut test (journal_crash_test.py drives it).
 *
 *   journal_crash_tool FLASH [--min-boot B] [--min-next N] [--expect FILE] [--verify-only]
 *
 * First it mounts the journal in FLASH (created erased if missing) and verifies what a previous, killed,
 * instance left: every stored record is intact (type, length and body are functions of rec_seq, so no
 * ledger is needed for that) and stored once; every rec_seq listed in FILE (the driver's list of printed,
 * never-acked records) is present; boot_id > B; next_seq > N; nothing was thinned (the workload acks fast
 * enough that the ring never fills). Then it prints "boot <boot_id> <next_seq>" and appends forever:
 *   "a <seq>"        after cf_journal_append returned 0 (the record is durable from here on)
 *   "K <cum> <sack>" BEFORE calling cf_journal_ack (from here on those records may be reclaimed)
 *   "b <boot_id>"    after cf_journal_bump_boot returned
 * Each line is one write(2) to stdout, flushed at once, so a line the driver reads is a fact.
 * Exit: 0 verify-only passed, 2 usage or I/O, 3 verification failed (reason on stderr).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cf/journal.h"
#include "hal/flash_file.h"
#include "proto/frame.h"

#define PAGE_SIZE 1024u
#define N_PAGES 16u
#define PROG_UNIT 8u
#define SEEN_BITS (1u << 24)

static uint8_t seen[SEEN_BITS / 8];
static struct cf_journal jr;

static uint32_t mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

static uint8_t type_of(uint32_t seq)
{
	return mix32(seq ^ 0xA5A5u) % 10 == 0 ? (uint8_t)PROTO_T_IND : (uint8_t)PROTO_T_FIX;
}

static size_t len_of(uint32_t seq)
{
	return seq % 50 == 0 ? CF_JOURNAL_BODY_MAX : 8 + mix32(seq) % 60;
}

static void body_of(uint32_t seq, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)mix32(seq * 0x9E3779B9u + (uint32_t)i);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "journal_crash_tool: VERIFY FAILED: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	return 3;
}

struct check {
	uint32_t next_seq;
	uint32_t bad_seq;
	const char *why;
};

static int check_fn(void *ctx, uint32_t seq, uint8_t type, const uint8_t *body, size_t len)
{
	struct check *c = ctx;
	uint8_t want[CF_JOURNAL_BODY_MAX];

	c->bad_seq = seq;
	if (seq >= c->next_seq || seq >= SEEN_BITS) {
		c->why = "record beyond next_seq";
		return 1;
	}
	if (type != type_of(seq) || len != len_of(seq)) {
		c->why = "record with the wrong type or length";
		return 1;
	}
	body_of(seq, want, len);
	if (memcmp(want, body, len) != 0) {
		c->why = "record body corrupted";
		return 1;
	}
	if (seen[seq / 8] & (1u << (seq % 8))) {
		c->why = "record stored twice";
		return 1;
	}
	seen[seq / 8] = (uint8_t)(seen[seq / 8] | (1u << (seq % 8)));
	return 0;
}

static int verify(unsigned long min_boot, unsigned long min_next, const char *expect)
{
	struct cf_journal_stats st;
	struct check c = {.next_seq = cf_journal_next_seq(&jr)};
	uint8_t buf[CF_JOURNAL_BODY_MAX];
	unsigned long s;
	int err;

	if (cf_journal_boot_id(&jr) <= min_boot)
		return fail("boot_id %u not above the last one printed (%lu)", cf_journal_boot_id(&jr), min_boot);
	if (c.next_seq <= min_next)
		return fail("next_seq %" PRIu32 " would repeat a printed rec_seq (%lu)", c.next_seq, min_next);
	err = cf_journal_foreach(&jr, check_fn, &c);
	if (err > 0)
		return fail("%s: rec_seq %" PRIu32, c.why, c.bad_seq);
	if (err < 0)
		return fail("walk failed near rec_seq %" PRIu32 ": %d", c.bad_seq, err);
	if (expect != NULL) {
		FILE *f = fopen(expect, "r");
		if (f == NULL) {
			fprintf(stderr, "journal_crash_tool: %s: %s\n", expect, strerror(errno));
			return 2;
		}
		while (fscanf(f, "%lu", &s) == 1) {
			size_t len = 0;
			uint8_t t = 0, want[CF_JOURNAL_BODY_MAX];
			err = cf_journal_read(&jr, (uint32_t)s, buf, sizeof buf, &len, &t);
			if (err < 0) {
				fclose(f);
				return fail("printed, un-acked rec_seq %lu is gone (%d)", s, err);
			}
			body_of((uint32_t)s, want, len);
			if (t != type_of((uint32_t)s) || len != len_of((uint32_t)s) || memcmp(want, buf, len) != 0) {
				fclose(f);
				return fail("rec_seq %lu read back differently", s);
			}
		}
		fclose(f);
	}
	err = cf_journal_stats(&jr, &st);
	if (err < 0)
		return fail("stats failed: %d", err);
	if (st.thinned != 0 || st.ind_dropped != 0)
		return fail("records were thinned (%" PRIu32 ") or dropped (%" PRIu32 ") though acks kept up",
			    st.thinned, st.ind_dropped);
	return 0;
}

static void say(const char *line)
{
	/* one write per line: the driver never sees half a fact */
	fputs(line, stdout);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct hal_flash dev;
	struct hal_flash_file ff;
	unsigned long min_boot = 0, min_next = 0;
	const char *path = NULL, *expect = NULL;
	int verify_only = 0, err;
	char line[96];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--min-boot") == 0 && i + 1 < argc)
			min_boot = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--min-next") == 0 && i + 1 < argc)
			min_next = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc)
			expect = argv[++i];
		else if (strcmp(argv[i], "--verify-only") == 0)
			verify_only = 1;
		else if (argv[i][0] != '-' && path == NULL)
			path = argv[i];
		else {
			fprintf(stderr, "usage: journal_crash_tool FLASH [--min-boot B] [--min-next N] [--expect FILE] "
					"[--verify-only]\n");
			return 2;
		}
	}
	if (path == NULL) {
		fprintf(stderr, "journal_crash_tool: no flash file\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOFBF, BUFSIZ);
	err = hal_flash_file_open(&dev, &ff, path, PAGE_SIZE, N_PAGES, PROG_UNIT, 0);
	if (err < 0) {
		fprintf(stderr, "journal_crash_tool: %s: %s\n", path, strerror(-err));
		return 2;
	}
	err = cf_journal_mount(&jr, &dev);
	if (err < 0)
		return fail("mount failed: %d", err);
	err = verify(min_boot, min_next, expect);
	if (err != 0 || verify_only)
		return err;
	snprintf(line, sizeof line, "boot %u %" PRIu32 "\n", cf_journal_boot_id(&jr), cf_journal_next_seq(&jr));
	say(line);
	for (uint32_t n = 1;; n++) {
		uint8_t body[CF_JOURNAL_BODY_MAX];
		uint32_t seq = cf_journal_next_seq(&jr), got;
		size_t len = len_of(seq);
		body_of(seq, body, len);
		err = cf_journal_append(&jr, type_of(seq), body, len, &got);
		if (err < 0 || got != seq)
			return fail("append of %" PRIu32 " failed: %d", seq, err);
		snprintf(line, sizeof line, "a %" PRIu32 "\n", got);
		say(line);
		if (n % 8 == 0 && got > 24) {
			/* lag 24 behind, and sack a few above cum as a gateway with a gap would */
			uint32_t cum = got - 24;
			uint64_t sack = (uint64_t)(mix32(got) & 0x00FF00FFu);
			snprintf(line, sizeof line, "K %" PRIu32 " %" PRIu64 "\n", cum, sack);
			say(line);
			err = cf_journal_ack(&jr, cum, sack);
			if (err < 0)
				return fail("ack %" PRIu32 " failed: %d", cum, err);
		}
		if (n % 500 == 0) {
			uint16_t b;
			err = cf_journal_bump_boot(&jr, &b);
			if (err < 0)
				return fail("bump_boot failed: %d", err);
			snprintf(line, sizeof line, "b %u\n", b);
			say(line);
		}
	}
}
