/*
 * core/journal.c — the collar's append-only flash journal (cf/journal.h has the guarantees and the policy).
 *
 * The one idea everything rests on: flash is only ever appended to, and every piece of state is
 * recomputed at mount from what is on flash, so a power cut between (or in the middle of) any two flash
 * operations leaves something a scan can explain:
 *
 *   what the cut hit             what mount sees                          what mount does
 *   a record program             a slot whose CRC fails                   skip it, resync, append after it
 *   an ACK/BOOT marker program   the same (the ack/boot simply did not    nothing else: acks are resent,
 *                                happen)                                  an unpersisted boot_id unused
 *   erase of the next head page  no header with a window page_seq, or a   it is free: erased again when
 *                                stale page_seq named by an EVAC marker   the head reaches it
 *   a page header program        no valid header: the old head is head    same
 *   a reclaim (copies + EVAC)    tail still live, some movers copied      finish it, skipping the copies
 *
 * Invariant that keeps a reclaim from ever being stuck: after every write other than an EVAC marker the
 * head page has room for one EVAC marker, or a free page exists (so "drop the tail" can always be recorded).
 */
#include "cf/journal.h"

#include <errno.h>
#include <string.h>

#include "proto/crc32c.h"
#include "proto/frame.h"

#define PAGE_MAGIC 0x4A474150u /* bytes "PAGJ" */
#define REC_MAGIC 0x524Au      /* bytes "JR" */
#define T_DATA_MAX 0x7Fu
#define T_BOOT 0x81u           /* body: u16 boot_id */
#define T_ACK 0x82u            /* body: u32 cum, u64 sack */
#define T_EVAC 0x83u           /* body: u32 page_seq, u32 thinned, u32 ind_dropped */
#define T_APP 0x84u            /* body: CF_JOURNAL_APP_STATE bytes */
#define HDR_CRC (CF_JOURNAL_PAGE_HDR - 4u) /* offset of the header's crc32c */
#define MARK_MAX CF_JOURNAL_MARK_MAX
#define REC_MIN (CF_JOURNAL_REC_HDR + 4u)
#define REC_BLANK 1            /* rec_load: the slot's header is erased */
#define CHUNK 64u              /* bytes read at a time when checking a CRC (stack, not a page buffer) */

struct rec {
	uint32_t off;  /* in the page */
	uint32_t size; /* padded */
	uint32_t seq;
	uint16_t len;
	uint8_t type;
	uint8_t gen;
};

struct scan {
	uint32_t p;
	uint32_t off;
	uint32_t end;  /* every byte at or after end is 0xFF (UINT32_MAX: not known yet) */
	uint32_t bad;  /* runs of invalid slots skipped */
	int in_bad;
};

struct page_hdr {
	uint32_t seq;
	uint32_t next_seq;
	uint32_t ack_cum;
	uint64_t ack_sack;
	uint32_t thinned;
	uint32_t ind_dropped;
	uint16_t boot_id;
	uint8_t app[CF_JOURNAL_APP_STATE];
};

/* ---- little-endian fields (never cast structs over flash bytes) ---- */

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] | (b[1] << 8));
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

static uint64_t get64(const uint8_t *b)
{
	return (uint64_t)get32(b) | ((uint64_t)get32(b + 4) << 32);
}

/* ---- geometry ---- */

static uint32_t align_up(const struct cf_journal *j, uint32_t x)
{
	return (x + j->prog_unit - 1u) & ~(j->prog_unit - 1u);
}

static uint32_t rec_size(const struct cf_journal *j, uint32_t len)
{
	return align_up(j, CF_JOURNAL_REC_HDR + len + 4u);
}

static uint32_t phys(const struct cf_journal *j, uint32_t page_seq)
{
	return page_seq % j->n_pages;
}

static uint32_t page_base(const struct cf_journal *j, uint32_t p)
{
	return p * j->page_size;
}

static uint32_t free_pages(const struct cf_journal *j)
{
	return j->n_pages - (j->head_seq - j->tail_seq + 1u);
}

static void page_clear(struct cf_journal *j, uint32_t p)
{
	j->page[p].lo = UINT32_MAX;
	j->page[p].hi = 0;
}

static void page_note(struct cf_journal *j, uint32_t p, uint32_t seq)
{
	if (seq < j->page[p].lo)
		j->page[p].lo = seq;
	if (seq > j->page[p].hi)
		j->page[p].hi = seq;
}

/* ---- RAM index ---- */

#define IDX_WORDS (CF_JOURNAL_IDX_WIN / 32u)

static void loc_put(struct cf_journal *j, uint32_t seq, uint32_t p, uint32_t off)
{
	struct cf_journal_loc *l = &j->loc[seq % CF_JOURNAL_LOC_CACHE];
	l->seq = seq;
	l->page = p;
	l->off = off;
}

/* Slide the window up so that seq fits; stored records shifted out may still be un-acked (idx_below). */
static void idx_slide(struct cf_journal *j, uint32_t seq)
{
	uint32_t nb = (seq - CF_JOURNAL_IDX_WIN + 1u + 31u) & ~31u, sh = (nb - j->idx_base) / 32u;

	for (uint32_t w = 0; w < IDX_WORDS; w++) {
		if (w < sh && j->idx_stored[w])
			j->idx_below = 1;
		j->idx_stored[w] = w + sh < IDX_WORDS ? j->idx_stored[w + sh] : 0;
		j->idx_fix[w] = w + sh < IDX_WORDS ? j->idx_fix[w + sh] : 0;
	}
	j->idx_base = nb;
}

static void idx_set(struct cf_journal *j, uint32_t seq, uint8_t type)
{
	uint32_t k;

	if (!j->idx_ready)
		return;
	if (seq < j->idx_base) {
		j->idx_below = 1;
		return;
	}
	if (seq - j->idx_base >= CF_JOURNAL_IDX_WIN)
		idx_slide(j, seq);
	k = seq - j->idx_base;
	j->idx_stored[k / 32u] |= 1u << (k % 32u);
	if (type == PROTO_T_FIX)
		j->idx_fix[k / 32u] |= 1u << (k % 32u);
	else
		j->idx_fix[k / 32u] &= ~(1u << (k % 32u));
}

static int idx_bit(const uint32_t *bm, uint32_t k);

/* A record dropped by a reclaim (its other copies, if any, were not made: a dropped record has none). */
static void idx_clear(struct cf_journal *j, uint32_t seq)
{
	uint32_t k = seq - j->idx_base;

	if (!j->idx_ready || seq < j->idx_base || k >= CF_JOURNAL_IDX_WIN)
		return;
	j->idx_stored[k / 32u] &= ~(1u << (k % 32u));
}

/* ---- flash access: any failure leaves RAM possibly ahead of flash, so writes stop until a remount ---- */

static int fl_read(struct cf_journal *j, uint32_t off, void *buf, uint32_t len)
{
	int err = hal_flash_read(j->flash, off, buf, len);
	if (err < 0)
		j->broken = 1;
	return err;
}

static int fl_program(struct cf_journal *j, uint32_t off, const void *buf, uint32_t len)
{
	int err = hal_flash_program(j->flash, off, buf, len);
	if (err < 0)
		j->broken = 1;
	return err;
}

static int fl_erase(struct cf_journal *j, uint32_t p)
{
	int err = hal_flash_erase_page(j->flash, p);
	if (err < 0)
		j->broken = 1;
	return err;
}

/* ---- acks ---- */

static int acked(uint32_t cum, uint64_t sack, uint32_t seq)
{
	uint32_t d;

	if (seq <= cum)
		return 1;
	d = seq - cum - 1u;
	return d < 64u && ((sack >> d) & 1u);
}

/* Merge (c2, s2) into (*cum, *sack). Acks only add: the result acks everything either side acked (within
 * 64 above the resulting cum), then cum absorbs any run of sack bits just above it. */
static void ack_merge(uint32_t *cum, uint64_t *sack, uint32_t c2, uint64_t s2)
{
	uint32_t delta;

	if (c2 > *cum) {
		uint32_t sh = c2 - *cum;
		*sack = sh >= 64u ? 0 : *sack >> sh;
		*cum = c2;
	}
	delta = *cum - c2;
	if (delta < 64u)
		*sack |= s2 >> delta;
	while (*sack & 1u) {
		(*cum)++;
		*sack >>= 1;
	}
}

/* ---- the thinning lattice ---- */

/* An un-acked FIX moved `gen` times before survives this reclaim iff K^(gen+1) divides its rec_seq. */
static int fix_survives(uint32_t seq, uint8_t gen)
{
	uint64_t m = 1;

	for (unsigned i = 0; i <= gen; i++) {
		m *= CF_JOURNAL_THIN_KEEP;
		if (m > UINT32_MAX)
			return 0;
	}
	return seq % (uint32_t)m == 0;
}

static int is_fix(uint8_t type)
{
	return type == PROTO_T_FIX;
}

/* ---- reading records ---- */

/* Offset just past the last non-0xFF byte of page p in [from, page_size), or from if all erased. */
static int last_nonblank(struct cf_journal *j, uint32_t p, uint32_t from, uint32_t *end)
{
	uint8_t chunk[CHUNK];
	uint32_t off = from;
	int err;

	*end = from;
	while (off < j->page_size) {
		uint32_t n = j->page_size - off < CHUNK ? j->page_size - off : CHUNK;
		err = fl_read(j, page_base(j, p) + off, chunk, n);
		if (err < 0)
			return err;
		for (uint32_t i = 0; i < n; i++)
			if (chunk[i] != 0xFF)
				*end = off + i + 1u;
		off += n;
	}
	return 0;
}

/*
 * Validate the record slot at (p, off): 0 and *r filled if its header is sane and its CRC matches,
 * REC_BLANK if the header bytes are erased, -EBADMSG if anything else (torn, corrupt), <0 flash error.
 */
static int rec_load(struct cf_journal *j, uint32_t p, uint32_t off, struct rec *r)
{
	uint8_t h[CF_JOURNAL_REC_HDR];
	uint8_t chunk[CHUNK];
	uint32_t base = page_base(j, p) + off, crc, len, size;
	int err, blank = 1;

	if (off + REC_MIN > j->page_size)
		return -EBADMSG;
	err = fl_read(j, base, h, sizeof h);
	if (err < 0)
		return err;
	if (get16(h) != REC_MAGIC) {
		for (size_t i = 0; i < sizeof h; i++)
			blank &= h[i] == 0xFF;
		return blank ? REC_BLANK : -EBADMSG;
	}
	len = get16(h + 4);
	if (len > CF_JOURNAL_BODY_MAX || get16(h + 6) != (uint16_t)~len)
		return -EBADMSG;
	if (h[2] == 0 || (h[2] > T_DATA_MAX && h[2] != T_BOOT && h[2] != T_ACK && h[2] != T_EVAC &&
			    h[2] != T_APP))
		return -EBADMSG;
	size = rec_size(j, len);
	if (off + size > j->page_size)
		return -EBADMSG;
	crc = proto_crc32c(0, h, sizeof h);
	for (uint32_t done = 0; done < len;) {
		uint32_t n = len - done < CHUNK ? len - done : CHUNK;
		err = fl_read(j, base + CF_JOURNAL_REC_HDR + done, chunk, n);
		if (err < 0)
			return err;
		crc = proto_crc32c(crc, chunk, n);
		done += n;
	}
	err = fl_read(j, base + CF_JOURNAL_REC_HDR + len, chunk, 4);
	if (err < 0)
		return err;
	if (get32(chunk) != crc)
		return -EBADMSG;
	r->off = off;
	r->size = size;
	r->seq = get32(h + 8);
	r->len = (uint16_t)len;
	r->type = h[2];
	r->gen = h[3];
	if (r->type <= T_DATA_MAX && r->seq == 0)
		return -EBADMSG;
	return 0;
}

/* Read a validated record's body into buf and check the CRC again over exactly the bytes handed out, so
 * nothing returned can differ from what was appended even if the flash changed since the scan. */
static int rec_read_body(struct cf_journal *j, uint32_t p, const struct rec *r, void *buf)
{
	uint8_t h[CF_JOURNAL_REC_HDR], c[4];
	uint32_t base = page_base(j, p) + r->off, crc;
	int err;

	err = fl_read(j, base, h, sizeof h);
	if (err < 0)
		return err;
	err = fl_read(j, base + CF_JOURNAL_REC_HDR, buf, r->len);
	if (err < 0)
		return err;
	err = fl_read(j, base + CF_JOURNAL_REC_HDR + r->len, c, sizeof c);
	if (err < 0)
		return err;
	crc = proto_crc32c(proto_crc32c(0, h, sizeof h), buf, r->len);
	if (crc != get32(c) || get32(h + 8) != r->seq || h[2] != r->type || get16(h + 4) != r->len)
		return -EBADMSG;
	return 0;
}

static void scan_init(const struct cf_journal *j, struct scan *sc, uint32_t p)
{
	sc->p = p;
	sc->off = j->rec_start;
	sc->end = UINT32_MAX;
	sc->bad = 0;
	sc->in_bad = 0;
}

/* Next valid record of the page: 0 (*r set), 1 at the end, <0 flash error. Invalid slots (a torn write,
 * the garbage after it) are stepped over one prog unit at a time: a record appended after a torn one
 * starts at a prog unit boundary, and only a full CRC match is believed. */
static int scan_next(struct cf_journal *j, struct scan *sc, struct rec *r)
{
	int err;

	while (sc->off + REC_MIN <= j->page_size) {
		if (sc->end != UINT32_MAX && sc->off >= sc->end)
			return 1;
		err = rec_load(j, sc->p, sc->off, r);
		if (err == 0) {
			sc->off += r->size;
			sc->in_bad = 0;
			return 0;
		}
		if (err == REC_BLANK) {
			if (sc->end == UINT32_MAX) {
				err = last_nonblank(j, sc->p, sc->off, &sc->end);
				if (err < 0)
					return err;
				if (sc->off >= sc->end)
					return 1;
			}
		} else if (err == -EBADMSG) {
			if (!sc->in_bad)
				sc->bad++;
			sc->in_bad = 1;
		} else {
			return err;
		}
		sc->off += j->prog_unit;
	}
	return 1;
}

/* Find data record seq in the live pages (not page skip_p): 0 (*rp, *r set), -ENOENT, <0 flash error. */
static int find_rec(struct cf_journal *j, uint32_t seq, uint32_t skip_p, uint32_t *rp, struct rec *r)
{
	struct scan sc;
	int err;

	for (uint32_t s = j->head_seq;; s--) {
		uint32_t p = phys(j, s);
		if (p != skip_p && j->page[p].lo <= seq && seq <= j->page[p].hi) {
			scan_init(j, &sc, p);
			while ((err = scan_next(j, &sc, r)) == 0) {
				if (r->type <= T_DATA_MAX && r->seq == seq) {
					*rp = p;
					return 0;
				}
			}
			if (err < 0)
				return err;
		}
		if (s == j->tail_seq)
			break;
	}
	return -ENOENT;
}

/* ---- page headers ---- */

static int hdr_load(struct cf_journal *j, uint32_t p, struct page_hdr *ph)
{
	uint8_t h[CF_JOURNAL_PAGE_HDR];
	int err = fl_read(j, page_base(j, p), h, sizeof h);

	if (err < 0)
		return err;
	if (get32(h) != PAGE_MAGIC || get32(h + HDR_CRC) != proto_crc32c(0, h, HDR_CRC) || get16(h + 34) != j->n_pages)
		return -EBADMSG;
	ph->seq = get32(h + 4);
	ph->next_seq = get32(h + 8);
	ph->ack_cum = get32(h + 12);
	ph->ack_sack = get64(h + 16);
	ph->thinned = get32(h + 24);
	ph->ind_dropped = get32(h + 28);
	ph->boot_id = get16(h + 32);
	memcpy(ph->app, h + 36, CF_JOURNAL_APP_STATE);
	if (ph->seq == 0 || phys(j, ph->seq) != p || ph->next_seq == 0)
		return -EBADMSG;
	return 0;
}

static int hdr_write(struct cf_journal *j, uint32_t p, uint32_t seq)
{
	uint8_t h[2u * CF_JOURNAL_MAX_PROG_UNIT];

	memset(h, 0xFF, sizeof h);
	put32(h, PAGE_MAGIC);
	put32(h + 4, seq);
	put32(h + 8, j->next_seq);
	put32(h + 12, j->ack_cum);
	put64(h + 16, j->ack_sack);
	put32(h + 24, j->thinned_total);
	put32(h + 28, j->ind_dropped_total);
	put16(h + 32, j->boot_id);
	put16(h + 34, (uint16_t)j->n_pages);
	memcpy(h + 36, j->app_state, CF_JOURNAL_APP_STATE);
	put32(h + HDR_CRC, proto_crc32c(0, h, HDR_CRC));
	return fl_program(j, page_base(j, p), h, j->rec_start);
}

/* ---- writing ---- */

static int open_page(struct cf_journal *j);

/* Make the head page hold `need` more bytes, moving to new pages as required. */
static int ensure_room(struct cf_journal *j, uint32_t need)
{
	for (uint32_t tries = 0; j->head_off + need > j->page_size; tries++) {
		int err;
		if (tries > j->n_pages)
			return -ENOSPC;
		err = open_page(j);
		if (err < 0)
			return err;
	}
	return 0;
}

/* Write one record at the head (room already ensured). body may already sit in j->buf at its place. */
static int put_record(struct cf_journal *j, uint8_t type, uint8_t gen, uint32_t seq, const void *body,
		      uint32_t len)
{
	uint8_t *b = j->buf;
	uint32_t size = rec_size(j, len), p = phys(j, j->head_seq);
	int err;

	if (len > 0 && body != b + CF_JOURNAL_REC_HDR)
		memmove(b + CF_JOURNAL_REC_HDR, body, len);
	put16(b, REC_MAGIC);
	b[2] = type;
	b[3] = gen;
	put16(b + 4, (uint16_t)len);
	put16(b + 6, (uint16_t)~len);
	put32(b + 8, seq);
	put32(b + CF_JOURNAL_REC_HDR + len, proto_crc32c(0, b, CF_JOURNAL_REC_HDR + len));
	/* padding stays erased: those bytes are never programmed, so they never need an erase either */
	memset(b + CF_JOURNAL_REC_HDR + len + 4u, 0xFF, size - (CF_JOURNAL_REC_HDR + len + 4u));
	err = fl_program(j, page_base(j, p) + j->head_off, b, size);
	if (err < 0)
		return err;
	if (type <= T_DATA_MAX) {
		page_note(j, p, seq);
		idx_set(j, seq, type);
		loc_put(j, seq, p, j->head_off);
	}
	j->head_off += size;
	return 0;
}

/* A marker (or any non-data record) written through the normal room rule. */
static int put_marker(struct cf_journal *j, uint8_t type, const uint8_t *body, uint32_t len)
{
	int err = ensure_room(j, rec_size(j, len) + (type == T_EVAC ? 0u : MARK_MAX));

	if (err < 0)
		return err;
	return put_record(j, type, 0, 0, body, len);
}

/* Copy record r of page p to the head with its move count bumped. -ENOSPC: no room anywhere (dropped). */
static int move_record(struct cf_journal *j, uint32_t p, const struct rec *r)
{
	int err = ensure_room(j, r->size + MARK_MAX);

	if (err < 0)
		return err;
	err = rec_read_body(j, p, r, j->buf + CF_JOURNAL_REC_HDR);
	if (err == -EBADMSG)
		return 0; /* changed under us since the scan: nothing trustworthy to copy */
	if (err < 0)
		return err;
	return put_record(j, r->type, r->gen == UINT8_MAX ? r->gen : (uint8_t)(r->gen + 1u), r->seq,
			  j->buf + CF_JOURNAL_REC_HDR, r->len);
}

/*
 * Reclaim the tail page (policy in cf/journal.h): move the survivors to the head, then write the EVAC
 * marker that makes the page dead. Two passes over the page: the first sizes the survivors so the policy
 * level is decided before anything is written, which keeps an interrupted-and-resumed reclaim making the
 * same decisions.
 */
static int evac_tail(struct cf_journal *j)
{
	uint32_t x = j->tail_seq, p = phys(j, x);
	uint32_t fix_bytes = 0, other_bytes = 0, excess = 0, dropped_bytes = 0;
	uint32_t thinned = 0, ind_dropped = 0, found_p, budget = CF_JOURNAL_MOVE_BUDGET(j->page_size);
	uint8_t body[12];
	struct page_hdr ph;
	struct scan sc;
	struct rec r, dup;
	int err, drop_fix = 0;

	err = hdr_load(j, p, &ph);
	if (err < 0 && err != -EBADMSG)
		return err;
	if (err == 0 && ph.seq == x) {
		scan_init(j, &sc, p);
		while ((err = scan_next(j, &sc, &r)) == 0) {
			if (r.type > T_DATA_MAX || acked(j->ack_cum, j->ack_sack, r.seq))
				continue;
			if (!is_fix(r.type))
				other_bytes += r.size;
			else if (fix_survives(r.seq, r.gen))
				fix_bytes += r.size;
		}
		if (err < 0)
			return err;
		if (fix_bytes + other_bytes > budget) {
			drop_fix = 1;
			excess = other_bytes > budget ? other_bytes - budget : 0;
		}
		scan_init(j, &sc, p);
		while ((err = scan_next(j, &sc, &r)) == 0) {
			int keep;
			if (r.type > T_DATA_MAX || acked(j->ack_cum, j->ack_sack, r.seq))
				continue;
			if (is_fix(r.type)) {
				keep = !drop_fix && fix_survives(r.seq, r.gen);
			} else {
				keep = dropped_bytes >= excess; /* the oldest go first */
				if (!keep)
					dropped_bytes += r.size;
			}
			if (keep && j->resume) {
				err = find_rec(j, r.seq, p, &found_p, &dup);
				if (err == 0)
					continue; /* copied before the power cut */
				if (err != -ENOENT)
					return err;
			}
			if (keep) {
				err = move_record(j, p, &r);
				if (err == -ENOSPC)
					keep = 0;
				else if (err < 0)
					return err;
			}
			if (!keep) {
				if (is_fix(r.type))
					thinned++;
				else
					ind_dropped++;
				if (r.seq > j->gone_max)
					j->gone_max = r.seq;
				idx_clear(j, r.seq);
			}
		}
		if (err < 0)
			return err;
	}
	put32(body, x);
	put32(body + 4, thinned);
	put32(body + 8, ind_dropped);
	err = put_marker(j, T_EVAC, body, sizeof body);
	if (err < 0)
		return err;
	j->thinned_total += thinned;
	j->ind_dropped_total += ind_dropped;
	page_clear(j, p);
	j->tail_seq = x + 1u;
	return 0;
}

/* Reclaim tail pages until the reserve is back. -ENOSPC (room exhausted mid-way) is not an error here:
 * the reserve is short for now and the next page change tries again. */
static int keep_reserve(struct cf_journal *j)
{
	int err = 0;

	j->evacuating = 1;
	for (uint32_t i = 0; i < j->n_pages && free_pages(j) < CF_JOURNAL_RESERVE_PAGES &&
			     j->tail_seq != j->head_seq; i++) {
		err = evac_tail(j);
		if (err < 0)
			break;
	}
	j->evacuating = 0;
	return err == -ENOSPC ? 0 : err;
}

/*
 * Last resort, only when no page is free at a page change (a reclaim could not keep its reserve): the
 * tail is given up without a marker — the erase that follows removes it; should that erase be torn the
 * page reappears intact-but-old at the next mount and is dropped again. Counted, never silent.
 */
static int drop_tail(struct cf_journal *j)
{
	uint32_t p = phys(j, j->tail_seq);
	struct page_hdr ph;
	struct scan sc;
	struct rec r;
	int err = hdr_load(j, p, &ph);

	if (err < 0 && err != -EBADMSG)
		return err;
	if (err == 0 && ph.seq == j->tail_seq) {
		scan_init(j, &sc, p);
		while ((err = scan_next(j, &sc, &r)) == 0) {
			if (r.type > T_DATA_MAX || acked(j->ack_cum, j->ack_sack, r.seq))
				continue;
			if (is_fix(r.type))
				j->thinned_total++;
			else
				j->ind_dropped_total++;
			if (r.seq > j->gone_max)
				j->gone_max = r.seq;
			idx_clear(j, r.seq);
		}
		if (err < 0)
			return err;
	}
	page_clear(j, p);
	j->tail_seq++;
	return 0;
}

/* Move the head to the next page: erase it, write its header, then restore the reserve. */
static int open_page(struct cf_journal *j)
{
	uint32_t s = j->head_seq + 1u, p;
	int err;

	if (s == 0)
		return -EOVERFLOW;
	if (free_pages(j) == 0) {
		if (j->evacuating)
			return -ENOSPC;
		err = drop_tail(j);
		if (err < 0)
			return err;
	}
	p = phys(j, s);
	err = fl_erase(j, p);
	if (err < 0)
		return err;
	page_clear(j, p);
	err = hdr_write(j, p, s);
	if (err < 0)
		return err;
	j->head_seq = s;
	j->head_off = j->rec_start;
	if (j->evacuating)
		return 0;
	return keep_reserve(j);
}

static int write_boot(struct cf_journal *j, uint16_t boot_id)
{
	uint8_t body[2];
	int err;

	put16(body, boot_id);
	err = put_marker(j, T_BOOT, body, sizeof body);
	if (err < 0)
		return err;
	j->boot_id = boot_id;
	return 0;
}

/* ---- mount ---- */

static int geometry_ok(const struct hal_flash *f)
{
	return f != NULL && f->api != NULL && f->n_pages >= CF_JOURNAL_MIN_PAGES &&
	       f->n_pages <= CF_JOURNAL_MAX_PAGES && f->page_size >= CF_JOURNAL_MIN_PAGE_SIZE &&
	       f->prog_unit >= 1 && f->prog_unit <= CF_JOURNAL_MAX_PROG_UNIT &&
	       (f->prog_unit & (f->prog_unit - 1u)) == 0 && f->page_size % f->prog_unit == 0 &&
	       (uint64_t)f->page_size * f->n_pages <= UINT32_MAX;
}

/* Replay one live page: its header snapshot, then its records in order. */
static int mount_replay_page(struct cf_journal *j, uint32_t s, uint32_t win_lo, uint32_t *dead_max,
			     uint32_t *end_valid)
{
	uint32_t p = phys(j, s);
	struct page_hdr ph;
	struct scan sc;
	struct rec r;
	uint8_t body[CF_JOURNAL_APP_STATE];
	int err = hdr_load(j, p, &ph);

	if (err < 0)
		return err;
	memcpy(j->app_state, ph.app, sizeof j->app_state); /* a snapshot: replaces, like the counters */
	if (ph.boot_id > j->boot_id)
		j->boot_id = ph.boot_id;
	if (ph.next_seq > j->next_seq)
		j->next_seq = ph.next_seq;
	ack_merge(&j->ack_cum, &j->ack_sack, ph.ack_cum, ph.ack_sack);
	/* the header is a snapshot taken after every EVAC of older pages: it replaces, not adds */
	j->thinned_total = ph.thinned;
	j->ind_dropped_total = ph.ind_dropped;
	*end_valid = j->rec_start;
	scan_init(j, &sc, p);
	while ((err = scan_next(j, &sc, &r)) == 0) {
		*end_valid = r.off + r.size;
		if (r.type <= T_DATA_MAX) {
			page_note(j, p, r.seq);
			if (r.seq >= j->next_seq)
				j->next_seq = r.seq + 1u;
			continue;
		}
		if (r.len > sizeof body)
			continue;
		err = rec_read_body(j, p, &r, body);
		if (err == -EBADMSG)
			continue;
		if (err < 0)
			return err;
		if (r.type == T_BOOT && r.len >= 2 && get16(body) > j->boot_id) {
			j->boot_id = get16(body);
		} else if (r.type == T_ACK && r.len >= 12) {
			ack_merge(&j->ack_cum, &j->ack_sack, get32(body), get64(body + 4));
		} else if (r.type == T_APP && r.len == CF_JOURNAL_APP_STATE) {
			memcpy(j->app_state, body, sizeof j->app_state);
		} else if (r.type == T_EVAC && r.len >= 12) {
			uint32_t x = get32(body);
			if (x >= win_lo && x < s) {
				if (x > *dead_max)
					*dead_max = x;
				page_clear(j, phys(j, x));
			}
			j->thinned_total += get32(body + 4);
			j->ind_dropped_total += get32(body + 8);
		}
	}
	if (err < 0)
		return err;
	j->mount_bad += sc.bad;
	return 0;
}

/* Build the RAM index over the newest CF_JOURNAL_IDX_WIN rec_seqs from one pass over the live pages. */
static int idx_build(struct cf_journal *j)
{
	struct scan sc;
	struct rec r;
	int err;

	j->idx_base = j->next_seq > CF_JOURNAL_IDX_WIN ? (j->next_seq - CF_JOURNAL_IDX_WIN + 31u) & ~31u : 0u;
	j->idx_below = 0;
	memset(j->idx_stored, 0, sizeof j->idx_stored);
	memset(j->idx_fix, 0, sizeof j->idx_fix);
	memset(j->loc, 0, sizeof j->loc);
	j->idx_ready = 1;
	for (uint32_t s = j->tail_seq;; s++) {
		uint32_t p = phys(j, s);
		if (j->page[p].lo <= j->page[p].hi) {
			scan_init(j, &sc, p);
			while ((err = scan_next(j, &sc, &r)) == 0) {
				if (r.type > T_DATA_MAX)
					continue;
				idx_set(j, r.seq, r.type);
				loc_put(j, r.seq, p, r.off);
			}
			if (err < 0)
				return err;
		}
		if (s == j->head_seq)
			break;
	}
	return 0;
}

int cf_journal_mount(struct cf_journal *j, const struct hal_flash *flash)
{
	uint8_t live[CF_JOURNAL_MAX_PAGES / 8u];
	uint32_t win_lo, dead_max = 0, end_valid = 0, hp, hwm;
	struct page_hdr ph;
	int err, any = 0;

	if (j == NULL || !geometry_ok(flash))
		return -EINVAL;
	memset(j, 0, sizeof *j);
	j->flash = flash;
	j->n_pages = flash->n_pages;
	j->page_size = flash->page_size;
	j->prog_unit = flash->prog_unit;
	j->rec_start = align_up(j, CF_JOURNAL_PAGE_HDR);
	j->next_seq = 1;
	for (uint32_t p = 0; p < j->n_pages; p++)
		page_clear(j, p);

	/* 1: the head is the valid header with the highest page_seq */
	for (uint32_t p = 0; p < j->n_pages; p++) {
		err = hdr_load(j, p, &ph);
		if (err == -EBADMSG)
			continue;
		if (err < 0)
			return err;
		if (!any || ph.seq > j->head_seq)
			j->head_seq = ph.seq;
		any = 1;
	}
	if (!any) {
		/* blank (or foreign) flash: format by opening page_seq 1 */
		j->head_seq = 0;
		j->tail_seq = 1;
		err = open_page(j);
		if (err < 0)
			return err;
		goto bump_boot;
	}

	/* 2: the window of page_seqs that can be live; a page is live if its header carries its window seq */
	win_lo = j->head_seq >= j->n_pages ? j->head_seq - j->n_pages + 1u : 1u;
	memset(live, 0, sizeof live);
	for (uint32_t s = win_lo; s <= j->head_seq; s++) {
		uint32_t p = phys(j, s);
		err = hdr_load(j, p, &ph);
		if (err < 0 && err != -EBADMSG)
			return err;
		if (err == 0 && ph.seq == s)
			live[p / 8u] = (uint8_t)(live[p / 8u] | (1u << (p % 8u)));
	}

	/* 3: replay oldest to newest: counters, acks, boot ids, rec_seq ranges, and EVAC markers that kill
	 * older pages (their contents may survive a torn erase but are never to be read again) */
	for (uint32_t s = win_lo; s <= j->head_seq; s++) {
		uint32_t p = phys(j, s);
		if (!(live[p / 8u] & (1u << (p % 8u))))
			continue;
		err = mount_replay_page(j, s, win_lo, &dead_max, &end_valid);
		if (err < 0)
			return err;
	}
	j->tail_seq = dead_max >= win_lo ? dead_max + 1u : win_lo;
	for (uint32_t s = win_lo; s < j->tail_seq; s++)
		page_clear(j, phys(j, s));

	/* 4: append after the last byte anything ever programmed in the head page: past a torn record */
	hp = phys(j, j->head_seq);
	err = last_nonblank(j, hp, end_valid, &hwm);
	if (err < 0)
		return err;
	j->head_off = align_up(j, hwm);
	if (j->head_off > j->page_size)
		j->head_off = j->page_size;

	/* 5: finish a reclaim the power cut interrupted (the reserve is short only then) */
	j->resume = 1;
	err = keep_reserve(j);
	j->resume = 0;
	if (err < 0)
		return err;

bump_boot:
	/* what this boot cannot know (drops before it, appends a power cut tore) may lie anywhere below */
	if (j->next_seq - 1u > j->gone_max)
		j->gone_max = j->next_seq - 1u;
	if (j->boot_id == UINT16_MAX)
		return -EOVERFLOW;
	err = write_boot(j, (uint16_t)(j->boot_id + 1u));
	if (err < 0)
		return err;
	j->mounted = 1;
	return idx_build(j);
}

/* ---- public operations ---- */

static int writable(const struct cf_journal *j)
{
	if (j == NULL || !j->mounted)
		return -EINVAL;
	return j->broken ? -EIO : 0;
}

int cf_journal_append(struct cf_journal *j, uint8_t type, const void *body, size_t len, uint32_t *rec_seq)
{
	uint32_t seq;
	int err = writable(j);

	if (err < 0)
		return err;
	if (type == 0 || type > T_DATA_MAX || len > CF_JOURNAL_BODY_MAX || (len > 0 && body == NULL))
		return -EINVAL;
	if (j->next_seq == UINT32_MAX)
		return -EOVERFLOW;
	err = ensure_room(j, rec_size(j, (uint32_t)len) + MARK_MAX);
	if (err < 0)
		return err;
	seq = j->next_seq;
	err = put_record(j, type, 0, seq, body, (uint32_t)len);
	if (err < 0)
		return err;
	j->next_seq = seq + 1u;
	if (rec_seq != NULL)
		*rec_seq = seq;
	return 0;
}

int cf_journal_read(struct cf_journal *j, uint32_t rec_seq, void *buf, size_t cap, size_t *len, uint8_t *type)
{
	struct rec r;
	uint32_t p;
	int err;

	if (j == NULL || !j->mounted || (cap > 0 && buf == NULL))
		return -EINVAL;
	const struct cf_journal_loc *l = &j->loc[rec_seq % CF_JOURNAL_LOC_CACHE];
	p = l->page;
	/* the cached location is believed only if its page is live and the record there is this one */
	if (!(l->seq == rec_seq && rec_seq != 0 && p < j->n_pages && j->page[p].lo <= rec_seq &&
	      rec_seq <= j->page[p].hi && rec_load(j, p, l->off, &r) == 0 && r.type <= T_DATA_MAX &&
	      r.seq == rec_seq)) {
		err = find_rec(j, rec_seq, UINT32_MAX, &p, &r);
		if (err < 0)
			return err;
		loc_put(j, rec_seq, p, r.off);
	}
	if (len != NULL)
		*len = r.len;
	if (type != NULL)
		*type = r.type;
	if (cap < r.len)
		return -ENOBUFS;
	return rec_read_body(j, p, &r, buf);
}

static int scan_next_unacked(struct cf_journal *j, uint32_t after, uint32_t *rec_seq, uint8_t *type)
{
	uint32_t best = 0;
	uint8_t best_type = 0;
	struct scan sc;
	struct rec r;
	int err, found = 0;

	if (j == NULL || !j->mounted || rec_seq == NULL)
		return -EINVAL;
	for (uint32_t s = j->tail_seq;; s++) {
		const struct cf_journal_page *pg = &j->page[phys(j, s)];
		if (pg->lo <= pg->hi && pg->hi > after && !(found && pg->lo >= best)) {
			scan_init(j, &sc, phys(j, s));
			while ((err = scan_next(j, &sc, &r)) == 0) {
				if (r.type > T_DATA_MAX || r.seq <= after || (found && r.seq >= best) ||
				    acked(j->ack_cum, j->ack_sack, r.seq))
					continue;
				best = r.seq;
				best_type = r.type;
				found = 1;
			}
			if (err < 0)
				return err;
		}
		if (s == j->head_seq)
			break;
	}
	if (!found)
		return -ENOENT;
	*rec_seq = best;
	if (type != NULL)
		*type = best_type;
	return 0;
}

static int scan_prev_unacked(struct cf_journal *j, uint32_t before, uint32_t *rec_seq, uint8_t *type)
{
	uint32_t best = 0;
	uint8_t best_type = 0;
	struct scan sc;
	struct rec r;
	int err, found = 0;

	if (j == NULL || !j->mounted || rec_seq == NULL)
		return -EINVAL;
	for (uint32_t s = j->head_seq;; s--) {
		const struct cf_journal_page *pg = &j->page[phys(j, s)];
		if (pg->lo <= pg->hi && pg->lo < before && !(found && pg->hi <= best)) {
			scan_init(j, &sc, phys(j, s));
			while ((err = scan_next(j, &sc, &r)) == 0) {
				if (r.type > T_DATA_MAX || r.seq >= before || (found && r.seq <= best) ||
				    acked(j->ack_cum, j->ack_sack, r.seq))
					continue;
				best = r.seq;
				best_type = r.type;
				found = 1;
			}
			if (err < 0)
				return err;
		}
		if (s == j->tail_seq)
			break;
	}
	if (!found)
		return -ENOENT;
	*rec_seq = best;
	if (type != NULL)
		*type = best_type;
	return 0;
}

/* An un-acked stored record may lie below the window (a backlog longer than it): queries that reach there
 * must scan the pages. */
static int idx_unacked_below(const struct cf_journal *j)
{
	return j->idx_below && j->ack_cum + 1u < j->idx_base;
}

static int idx_bit(const uint32_t *bm, uint32_t k)
{
	return (int)(bm[k / 32u] >> (k % 32u) & 1u);
}

/* The type of an indexed record: FIX from the index, anything else from the record itself (INDs are few). */
static int idx_type(struct cf_journal *j, uint32_t seq, uint8_t *type)
{
	struct rec r;
	uint32_t p;
	int err;

	if (type == NULL)
		return 0;
	if (idx_bit(j->idx_fix, seq - j->idx_base)) {
		*type = PROTO_T_FIX;
		return 0;
	}
	err = find_rec(j, seq, UINT32_MAX, &p, &r);
	if (err < 0)
		return err;
	*type = r.type;
	return 0;
}

int cf_journal_next_unacked(struct cf_journal *j, uint32_t after, uint32_t *rec_seq, uint8_t *type)
{
	uint32_t s, top;

	if (j == NULL || !j->mounted || rec_seq == NULL)
		return -EINVAL;
	if (after + 1u < j->idx_base && idx_unacked_below(j))
		return scan_next_unacked(j, after, rec_seq, type);
	top = j->next_seq; /* exclusive */
	s = after >= j->ack_cum ? after + 1u : j->ack_cum + 1u; /* everything <= ack_cum is acked */
	if (after >= top || s >= top)
		return -ENOENT;
	if (s < j->idx_base)
		s = j->idx_base;
	while (s < top) {
		uint32_t k = s - j->idx_base, bits = j->idx_stored[k / 32u] >> (k % 32u);
		if (bits == 0) {
			s += 32u - k % 32u;
			continue;
		}
		s += (uint32_t)__builtin_ctz(bits);
		if (s >= top)
			break;
		if (!acked(j->ack_cum, j->ack_sack, s)) {
			*rec_seq = s;
			return idx_type(j, s, type);
		}
		s++;
	}
	return -ENOENT;
}

int cf_journal_prev_unacked(struct cf_journal *j, uint32_t before, uint32_t *rec_seq, uint8_t *type)
{
	uint32_t s, lo;

	if (j == NULL || !j->mounted || rec_seq == NULL)
		return -EINVAL;
	s = before < j->next_seq ? before : j->next_seq; /* exclusive */
	lo = j->ack_cum + 1u > j->idx_base ? j->ack_cum + 1u : j->idx_base;
	while (s > lo) {
		uint32_t k = s - 1u - j->idx_base, bits = j->idx_stored[k / 32u] << (31u - k % 32u);
		if (bits == 0) {
			s -= k % 32u + 1u;
			continue;
		}
		s -= (uint32_t)__builtin_clz(bits);
		if (s <= lo)
			break;
		if (!acked(j->ack_cum, j->ack_sack, s - 1u)) {
			*rec_seq = s - 1u;
			return idx_type(j, s - 1u, type);
		}
		s--;
	}
	if (idx_unacked_below(j))
		return scan_prev_unacked(j, before < j->idx_base ? before : j->idx_base, rec_seq, type);
	return -ENOENT;
}

int cf_journal_foreach(struct cf_journal *j, cf_journal_visit_fn fn, void *ctx)
{
	struct page_hdr ph;
	struct scan sc;
	struct rec r;
	int err;

	if (j == NULL || !j->mounted || fn == NULL)
		return -EINVAL;
	for (uint32_t s = j->tail_seq;; s++) {
		uint32_t p = phys(j, s);
		err = hdr_load(j, p, &ph);
		if (err < 0 && err != -EBADMSG)
			return err;
		if (err == 0 && ph.seq == s) {
			scan_init(j, &sc, p);
			while ((err = scan_next(j, &sc, &r)) == 0) {
				if (r.type > T_DATA_MAX)
					continue;
				err = rec_read_body(j, p, &r, j->buf);
				if (err == -EBADMSG)
					continue;
				if (err < 0)
					return err;
				err = fn(ctx, r.seq, r.type, j->buf, r.len);
				if (err != 0)
					return err;
			}
			if (err < 0)
				return err;
		}
		if (s == j->head_seq)
			break;
	}
	return 0;
}

int cf_journal_ack(struct cf_journal *j, uint32_t cum, uint64_t sack)
{
	uint32_t new_cum;
	uint64_t new_sack;
	uint8_t body[12];
	int err = writable(j);

	if (err < 0)
		return err;
	/* An ack for a record never issued would make the collar forget one it has not sent yet. */
	if (cum >= j->next_seq)
		return -ERANGE;
	if (sack != 0) {
		unsigned top = 63u - (unsigned)__builtin_clzll(sack);
		if ((uint64_t)cum + 1u + top >= j->next_seq)
			return -ERANGE;
	}
	new_cum = j->ack_cum;
	new_sack = j->ack_sack;
	ack_merge(&new_cum, &new_sack, cum, sack);
	if (new_cum == j->ack_cum && new_sack == j->ack_sack)
		return 0;
	put32(body, new_cum);
	put64(body + 4, new_sack);
	err = put_marker(j, T_ACK, body, sizeof body);
	if (err < 0)
		return err;
	j->ack_cum = new_cum;
	j->ack_sack = new_sack;
	return 0;
}

int cf_journal_is_acked(const struct cf_journal *j, uint32_t rec_seq)
{
	return acked(j->ack_cum, j->ack_sack, rec_seq);
}

int cf_journal_bump_boot(struct cf_journal *j, uint16_t *boot_id)
{
	int err = writable(j);

	if (err < 0)
		return err;
	if (j->boot_id == UINT16_MAX)
		return -EOVERFLOW;
	err = write_boot(j, (uint16_t)(j->boot_id + 1u));
	if (err < 0)
		return err;
	if (boot_id != NULL)
		*boot_id = j->boot_id;
	return 0;
}

uint16_t cf_journal_boot_id(const struct cf_journal *j)
{
	return j->boot_id;
}

uint32_t cf_journal_next_seq(const struct cf_journal *j)
{
	return j->next_seq;
}

int cf_journal_stats(struct cf_journal *j, struct cf_journal_stats *st)
{
	struct scan sc;
	struct rec r;
	int err;

	if (j == NULL || !j->mounted || st == NULL)
		return -EINVAL;
	memset(st, 0, sizeof *st);
	for (uint32_t s = j->tail_seq;; s++) {
		uint32_t p = phys(j, s), end = j->rec_start;
		struct page_hdr ph;
		err = hdr_load(j, p, &ph);
		if (err < 0 && err != -EBADMSG)
			return err;
		if (err == 0 && ph.seq == s) {
			scan_init(j, &sc, p);
			while ((err = scan_next(j, &sc, &r)) == 0) {
				end = r.off + r.size;
				if (r.type > T_DATA_MAX)
					continue;
				st->n_records++;
				if (st->oldest_seq == 0 || r.seq < st->oldest_seq)
					st->oldest_seq = r.seq;
				if (r.seq > st->newest_seq)
					st->newest_seq = r.seq;
				if (acked(j->ack_cum, j->ack_sack, r.seq))
					continue;
				st->backlog++;
				st->backlog_bytes += r.size;
				if (!is_fix(r.type))
					st->backlog_ind++;
				if (st->oldest_unacked_seq == 0 || r.seq < st->oldest_unacked_seq)
					st->oldest_unacked_seq = r.seq;
			}
			if (err < 0)
				return err;
		}
		st->used_bytes += s == j->head_seq ? j->head_off : end;
		if (s == j->head_seq)
			break;
	}
	st->capacity_bytes = (j->n_pages - CF_JOURNAL_RESERVE_PAGES) * j->page_size;
	st->free_bytes = st->capacity_bytes > st->used_bytes ? st->capacity_bytes - st->used_bytes : 0;
	st->next_seq = j->next_seq;
	st->thinned = j->thinned_total;
	st->ind_dropped = j->ind_dropped_total;
	st->ack_cum = j->ack_cum;
	st->ack_sack = j->ack_sack;
	st->mount_bad = j->mount_bad;
	st->boot_id = j->boot_id;
	return 0;
}

uint32_t cf_journal_gone_max(const struct cf_journal *j)
{
	return j->gone_max;
}

uint32_t cf_journal_ack_cum(const struct cf_journal *j)
{
	return j->ack_cum;
}

uint32_t cf_journal_oldest_seq(const struct cf_journal *j)
{
	uint32_t best = 0;

	for (uint32_t s = j->tail_seq;; s++) {
		const struct cf_journal_page *pg = &j->page[phys(j, s)];
		if (pg->lo <= pg->hi && (best == 0 || pg->lo < best))
			best = pg->lo;
		if (s == j->head_seq)
			break;
	}
	return best;
}

int cf_journal_gone(struct cf_journal *j, uint32_t after, uint32_t *first, uint32_t *last, uint64_t *map)
{
	uint8_t held[CF_JOURNAL_GONE_WIN / 8u]; /* bit k: after + 1 + k is stored (acked or not) */
	uint32_t top, n, k, f;
	struct scan sc;
	struct rec r;
	int err;

	if (j == NULL || !j->mounted || first == NULL || last == NULL || map == NULL)
		return -EINVAL;
	if (after >= j->next_seq - 1u)
		return -ENOENT;
	n = j->next_seq - 1u - after; /* rec_seqs after + 1 .. next_seq - 1 were issued */
	if (n > CF_JOURNAL_GONE_WIN)
		n = CF_JOURNAL_GONE_WIN;
	top = after + n;
	memset(held, 0, sizeof held);
	if (after + 1u >= j->idx_base || !j->idx_below) {
		/* the RAM index knows every stored record of the window (none below idx_base when !idx_below) */
		for (k = 0; k < n; k++) {
			uint32_t s = after + 1u + k;
			if (s >= j->idx_base && idx_bit(j->idx_stored, s - j->idx_base))
				held[k / 8u] = (uint8_t)(held[k / 8u] | (1u << (k % 8u)));
		}
		goto judge;
	}
	for (uint32_t s = j->tail_seq;; s++) {
		uint32_t p = phys(j, s);
		const struct cf_journal_page *pg = &j->page[p];
		if (pg->lo <= pg->hi && pg->hi > after && pg->lo <= top) {
			scan_init(j, &sc, p);
			while ((err = scan_next(j, &sc, &r)) == 0) {
				if (r.type > T_DATA_MAX || r.seq <= after || r.seq > top)
					continue;
				k = r.seq - after - 1u;
				held[k / 8u] = (uint8_t)(held[k / 8u] | (1u << (k % 8u)));
			}
			if (err < 0)
				return err;
		}
		if (s == j->head_seq)
			break;
	}
judge:
#define GONE_AT(k_) (!acked(j->ack_cum, j->ack_sack, after + 1u + (k_)) && !((unsigned)held[(k_) / 8u] >> ((k_) % 8u) & 1u))
	for (f = 0; f < n && !GONE_AT(f); f++)
		;
	if (f == n)
		return -ENOENT;
	for (k = f; k + 1u < n && GONE_AT(k + 1u); k++)
		;
	*first = after + 1u + f;
	*last = after + 1u + k;
	*map = 0;
	for (uint32_t i = 0; i < 64u && k + 2u + i < n; i++)
		if (GONE_AT(k + 2u + i))
			*map |= 1ull << i;
#undef GONE_AT
	return 0;
}

int cf_journal_app_state_set(struct cf_journal *j, const uint8_t state[CF_JOURNAL_APP_STATE])
{
	int err = writable(j);

	if (err < 0)
		return err;
	if (memcmp(j->app_state, state, CF_JOURNAL_APP_STATE) == 0)
		return 0;
	err = put_marker(j, T_APP, state, CF_JOURNAL_APP_STATE);
	if (err < 0)
		return err;
	memcpy(j->app_state, state, CF_JOURNAL_APP_STATE);
	return 0;
}

void cf_journal_app_state(const struct cf_journal *j, uint8_t state[CF_JOURNAL_APP_STATE])
{
	memcpy(state, j->app_state, CF_JOURNAL_APP_STATE);
}
