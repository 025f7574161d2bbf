/*
 * tests/collar-fw/arq/arq_sim.h — deterministic link simulator for the collar's ARQ (cf/link.h).
 *
 * Three parts, all test code (heap and doubles allowed here, never in collar-fw/):
 *   - a half-duplex radio CHANNEL with Bernoulli and Gilbert–Elliott loss, bit errors, duplication,
 *     reordering, latency, a bandwidth cap (bit rate, bits per byte, per-packet overhead) and outages;
 *   - a MODEL GATEWAY that deframes, checks CRC and tag, keeps a 64-frame replay window per boot_id,
 *     decodes FIX/FIXB/IND, stores each rec_seq once (duplicates counted, contents compared with what the
 *     collar journaled), acks after 4 records or 100 ms (cum + 64-bit sack + UTC + credit), answers HELLO
 *     at once and can send CMDs with retries until their CMD_ACK arrives;
 *   - a SCENARIO runner: the real cf_link over a real cf_journal on the NOR flash emulator, a collar
 *     "application" that journals 1 Hz fixes of a walking animal and indications, and an event loop with an
 *     injected clock that jumps from event to event (an hour-long outage costs no wall time).
 * Everything is driven by one seed: the same scenario gives the same bytes and figures every run.
 */
#ifndef ARQ_SIM_H
#define ARQ_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "cf/link.h"

#define ARQ_MAX_OUTAGES 4

struct arq_chan_cfg {
	uint32_t bps;            /* channel bit rate */
	uint8_t bits_per_byte;   /* 10 for a UART modem (8N1), 8 for a packet radio */
	uint16_t pkt_overhead;   /* airtime per packet in byte-equivalents (preamble, PHY header) */
	uint32_t latency_ms;     /* after the last bit, until the receiver has the bytes */
	double p_loss;           /* Bernoulli frame loss */
	double ge_p_gb;          /* Gilbert–Elliott: good→bad per frame (0 = off) */
	double ge_p_bg;          /* bad→good per frame */
	double ge_loss_bad;      /* loss in the bad state */
	double ber;              /* bit error rate (each bit of a delivered frame flips with this probability) */
	double p_dup;            /* a delivered frame is delivered twice */
	double p_reorder;        /* a delivered frame is held back by reorder_ms */
	uint32_t reorder_ms;
	unsigned n_outage;
	struct {
		uint32_t start_ms, end_ms; /* nothing sent in [start, end) arrives */
	} outage[ARQ_MAX_OUTAGES];
};

struct arq_chan_stats {
	uint64_t air_bytes[2];   /* [0] collar→gateway, [1] gateway→collar: wire bytes + per-packet overhead */
	uint64_t wire_bytes[2];
	uint32_t frames[2];
	uint32_t lost[2];        /* Bernoulli, Gilbert–Elliott or outage */
	uint32_t corrupted[2];   /* at least one bit flipped */
	uint32_t duplicated[2];
	uint32_t reordered[2];
	uint64_t busy_ms;        /* medium occupied */
};

struct arq_scn {
	const char *name;
	uint32_t seed;
	struct arq_chan_cfg ch;
	uint32_t duration_ms;    /* records are generated during [0, duration) */
	uint32_t fix_period_ms;  /* 1000 = 1 Hz */
	uint32_t ind_per_hour;   /* indications, spread evenly with jitter */
	uint32_t drain_limit_ms; /* after duration, the link must be fully acked within this */
	uint8_t credit;          /* gateway credit (1..64) */
	uint32_t journal_pages;  /* of 4 KiB; 0 = 256 (1 MiB) */
	struct cf_link_cfg link; /* overrides (collar_id/key/journal are set by the runner) */
	/* CMDs: the gateway sends one every cmd_every_ms (0 = none), SET_RATE with increasing cmd_id */
	uint32_t cmd_every_ms;
	/* inject garbage bytes into the collar's receiver every garbage_every_ms (0 = none) */
	uint32_t garbage_every_ms;
	/* indications outlast cf_app's 3 s hold: each IND goes with the duration so far (3 s) and a completion
	 * IND (completes = its rec_seq) follows when it ends, ind_complete_ms later (0 = one final IND) */
	uint32_t ind_complete_ms;
};

struct arq_result {
	uint32_t records, fixes, inds, completions;
	uint32_t stored;           /* distinct rec_seqs at the gateway store */
	uint32_t missing;          /* journaled, never stored */
	uint32_t dup_records;      /* records that reached the store again (retransmits, duplicates) */
	uint32_t mismatches;       /* stored content differs from what the collar journaled */
	uint32_t invented;         /* stored rec_seqs the collar never journaled */
	uint32_t replays;          /* frames dropped by the gateway's replay window (wire duplicates) */
	uint32_t gw_bad_crc, gw_bad_tag, gw_bad_msg;
	uint32_t acks_sent, hellos, statuses;
	uint32_t ind_order_violations; /* backlog FIXes stored before a backlog IND of the same link-up */
	uint32_t backlog_inds_checked, backlog_fixes_checked;
	uint32_t drain_ms;         /* last outage end → everything journaled before it is stored */
	uint32_t all_acked_ms;     /* when the journal became fully acked (after generation stopped) */
	uint32_t end_ms;
	bool journal_fully_acked;
	uint32_t thinned;
	uint32_t gw_gone;          /* rec_seqs the model gateway settled from GONE statements (never stored) */
	uint32_t gw_floor;         /* rec_seqs settled by a HELLO floor (below the journal's oldest) never stored */
	uint32_t gone_false;       /* ... of which the collar's journal still held one, or an IND: must be 0 */
	uint32_t gone_late;        /* stored after being declared gone (an older copy in the air): counted */
	uint32_t missing_not_gone; /* journaled, never stored and never declared gone: must be 0 */
	uint32_t tx_gone;
	uint32_t cmds_sent, cmds_executed, cmds_double_executed, cmd_acks_ok;
	uint32_t iterations;
	struct cf_link_stats link;
	struct arq_chan_stats ch;
	uint64_t fresh_latency_sum_ms; /* generation → first store, records generated while the link was up */
	uint32_t fresh_latency_n;
	uint32_t fresh_latency_max_ms;
};

/* Run a scenario. Returns 0 when it ran to the end (every record acked within drain_limit), -1 on timeout
 * or an internal error (r still holds the figures). */
int arq_run(const struct arq_scn *s, struct arq_result *r);

/* Defaults: 9600-baud UART modem, and a LoRa-like ~5 kbit/s packet radio (see arq_sim.c). */
struct arq_chan_cfg arq_chan_uart9600(void);
struct arq_chan_cfg arq_chan_lora5k(void);

/* Deterministic PRNG shared by the tests. */
uint64_t arq_rand(uint64_t *s);
double arq_uniform(uint64_t *s);

/* The collar key used by every scenario. */
extern const uint8_t arq_key[PROTO_KEY_LEN];
#define ARQ_COLLAR_ID 0x0105u

#endif
