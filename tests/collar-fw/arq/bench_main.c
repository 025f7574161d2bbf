/*
 * cf-link-bench — figures for the collar's ARQ link over the simulated channel (tests/collar-fw/arq).
 *
 *   cf-link-bench [--seed N] [--quick]
 *
 * Prints, per scenario: records, goodput, retransmissions, duplicates at the store, drain time after an
 * outage, bytes on air per animal-hour (both directions, ACKs included) and the implied number of collars
 * one 5 kbit/s channel carries. Deterministic: the same seed prints the same numbers.
 * Exit status 0 only if every scenario delivered every record exactly once and ended fully acked.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arq_sim.h"

static int failures;

static void report(const struct arq_scn *s, const struct arq_result *r, int rc)
{
	double hours = s->duration_ms / 3600000.0;
	uint64_t up = r->ch.air_bytes[0], down = r->ch.air_bytes[1];
	double secs = r->all_acked_ms / 1000.0;
	int ok = rc == 0 && r->missing == 0 && r->mismatches == 0 && r->invented == 0 && r->journal_fully_acked;

	if (!ok)
		failures++;
	printf("\n== %s (seed %" PRIu32 ")%s\n", s->name, s->seed, ok ? "" : "   *** FAILED ***");
	printf("   channel: %" PRIu32 " bit/s, %u bits/byte, %u B/packet overhead, latency %" PRIu32
	       " ms, loss %.3f, GE %.3f/%.3f/%.2f, BER %.0e, dup %.3f, reorder %.3f, outages %u\n",
	       s->ch.bps, s->ch.bits_per_byte, s->ch.pkt_overhead, s->ch.latency_ms, s->ch.p_loss, s->ch.ge_p_gb,
	       s->ch.ge_p_bg, s->ch.ge_loss_bad, s->ch.ber, s->ch.p_dup, s->ch.p_reorder, s->ch.n_outage);
	printf("   records %" PRIu32 " (FIX %" PRIu32 ", IND %" PRIu32 "): stored %" PRIu32 ", missing %" PRIu32
	       ", wrong %" PRIu32 ", invented %" PRIu32 ", duplicates at the store %" PRIu32
	       ", wire replays dropped %" PRIu32 "\n",
	       r->records, r->fixes, r->inds, r->stored, r->missing, r->mismatches, r->invented, r->dup_records,
	       r->replays);
	printf("   collar: %" PRIu32 " frames (%" PRIu32 " data, %" PRIu32 " records sent for %" PRIu32
	       " records = %.3f sends/record), %" PRIu32 " RTO retransmissions, %" PRIu32 " repairs, %" PRIu32
	       " backfill frames in %" PRIu32 " rounds, %" PRIu32 " released, %" PRIu32 " HELLO, %" PRIu32
	       " link losses; srtt %" PRIu32 " ms, rto %" PRIu32 " ms\n",
	       r->link.tx_frames, r->link.tx_data, r->link.tx_records, r->records,
	       r->records ? (double)r->link.tx_records / r->records : 0.0, r->link.retx, r->link.repairs,
	       r->link.backfill, r->link.rounds, r->link.released, r->link.tx_hello, r->link.link_losses,
	       r->link.srtt_ms, r->link.rto_ms);
	printf("   gateway: %" PRIu32 " ACKs; bad frames at gateway %" PRIu32 "/%" PRIu32 "/%" PRIu32
	       " (crc/tag/msg), at collar %" PRIu32 " (crc), %" PRIu32 " (tag)\n",
	       r->acks_sent, r->gw_bad_crc, r->gw_bad_tag, r->gw_bad_msg, r->link.rx_bad_frame, r->link.rx_bad_tag);
	printf("   air bytes: up %" PRIu64 " (%" PRIu32 " frames), down %" PRIu64 " (%" PRIu32 " frames); medium busy %.1f %%\n",
	       up, r->ch.frames[0], down, r->ch.frames[1],
	       secs > 0 ? 100.0 * (double)r->ch.busy_ms / (double)r->all_acked_ms : 0.0);
	printf("   bytes on air per animal-hour: %.0f (up %.0f + down %.0f) = %.1f B per record\n",
	       (double)(up + down) / hours, (double)up / hours, (double)down / hours,
	       r->records ? (double)(up + down) / r->records : 0.0);
	if (s->ch.n_outage)
		printf("   outage %" PRIu32 " s; drain: everything journaled before the outage ended was stored %.1f s"
		       " after it ended; all acked at t = %.1f s (generation stopped at %.1f s)\n",
		       (s->ch.outage[0].end_ms - s->ch.outage[0].start_ms) / 1000u, r->drain_ms / 1000.0,
		       r->all_acked_ms / 1000.0, s->duration_ms / 1000.0);
	if (r->backlog_inds_checked)
		printf("   backlog indications %" PRIu32 " vs backlog FIXes %" PRIu32 ": %" PRIu32
		       " FIXes stored before an indication\n",
		       r->backlog_inds_checked, r->backlog_fixes_checked, r->ind_order_violations);
	if (r->fresh_latency_n)
		printf("   live latency (generation -> stored): mean %.2f s, max %.2f s\n",
		       (double)r->fresh_latency_sum_ms / r->fresh_latency_n / 1000.0, r->fresh_latency_max_ms / 1000.0);
	if (r->cmds_sent)
		printf("   CMDs: %" PRIu32 " sent, %" PRIu32 " executed, %" PRIu32 " executed twice, %" PRIu32
		       " CMD_ACKs received\n",
		       r->cmds_sent, r->cmds_executed, r->cmds_double_executed, r->cmd_acks_ok);
}

static void capacity(const char *what, const struct arq_scn *s, const struct arq_result *r)
{
	double hours = s->duration_ms / 3600000.0;
	double per_h = (double)(r->ch.air_bytes[0] + r->ch.air_bytes[1]) / hours;
	double chan_h = 5000.0 / s->ch.bits_per_byte * 3600.0;
	printf("   %-34s %8.0f B/animal-hour -> %5.1f collars at 100 %% of a 5 kbit/s channel, %5.1f at 70 %%\n",
	       what, per_h, chan_h / per_h, 0.7 * chan_h / per_h);
}

int main(int argc, char **argv)
{
	uint32_t seed = 1;
	int quick = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else {
			fprintf(stderr, "usage: %s [--seed N] [--quick]\n", argv[0]);
			return 2;
		}
	}
	uint32_t hour = quick ? 600000u : 3600000u;
	struct arq_result r;
	int rc;

	printf("cf-link-bench: collar ARQ (cf/link.h) against a model gateway over a simulated half-duplex channel.\n"
	       "Airtime: a frame of w wire bytes (COBS + 2 delimiters) + per-packet overhead occupies the medium for\n"
	       "(w + overhead) * bits_per_byte / bit rate. Gateway ACKs after 4 records or 100 ms, answers HELLO at once;\n"
	       "ACK bytes are included in every figure. Fixes: 1 Hz, full FIX (t, lat, lon, alt, hdop, h_acc, q, mode,\n"
	       "dim, nsat, sog, cog) of a rat walking 0.3 m/s along 20 m lanes with AR(1) GNSS noise.\n");

	/* bytes per animal-hour: walking 1 Hz (no indications), searching with 6 indications per hour */
	struct arq_scn walk = {.name = "walking 1 Hz, LoRa-like 5 kbit/s, 1 % loss", .seed = seed,
	                       .ch = arq_chan_lora5k(), .duration_ms = hour, .fix_period_ms = 1000,
	                       .drain_limit_ms = 600000, .link = {.fix_hold_ms = 15000}};
	walk.ch.p_loss = 0.01;
	rc = arq_run(&walk, &r);
	report(&walk, &r, rc);
	struct arq_result r_walk = r;
	struct arq_scn search = walk;
	search.name = "searching 1 Hz + 6 indications/h, LoRa-like 5 kbit/s, 1 % loss";
	search.ind_per_hour = 6;
	rc = arq_run(&search, &r);
	report(&search, &r, rc);
	struct arq_result r_search = r;
	struct arq_scn search10 = search;
	search10.name = "searching, hold 10 s (lower latency)";
	search10.link.fix_hold_ms = 10000;
	rc = arq_run(&search10, &r);
	report(&search10, &r, rc);
	struct arq_result r_search10 = r;
	struct arq_scn search_c = search;
	search_c.name = "searching + 6 indications/h, each outlasting the 3 s hold (IND + completion 5 s later)";
	search_c.ind_complete_ms = 5000;
	rc = arq_run(&search_c, &r);
	report(&search_c, &r, rc);
	struct arq_result r_search_c = r;
	struct arq_scn search_u = search;
	search_u.name = "searching 1 Hz + 6 indications/h, 9600 baud UART modem, 1 % loss";
	search_u.ch = arq_chan_uart9600();
	search_u.ch.p_loss = 0.01;
	rc = arq_run(&search_u, &r);
	report(&search_u, &r, rc);

	printf("\n== capacity of one 5 kbit/s channel (LoRa-like model, ACKs and per-packet overhead included;\n"
	       "   100 %% = perfectly scheduled by the gateway, 70 %% leaves room for HELLO/STATUS/CMD and guard times;\n"
	       "   unscheduled ALOHA access would carry ~18 %% and is not a design option)\n");
	capacity("walking, FIXB hold 15 s", &walk, &r_walk);
	capacity("searching + 6 IND/h, hold 15 s", &search, &r_search);
	capacity("searching + 6 IND/h, hold 10 s", &search10, &r_search10);
	capacity("searching + 6 completed IND/h, 15 s", &search_c, &r_search_c);

	/* lossy channels */
	struct arq_scn lossy[] = {
		{.name = "Bernoulli 10 % loss, 9600 baud", .ch = arq_chan_uart9600()},
		{.name = "Gilbert-Elliott bursts, 9600 baud", .ch = arq_chan_uart9600()},
		{.name = "bit errors 1e-4 + duplication 5 % + reordering 5 %, LoRa-like", .ch = arq_chan_lora5k()},
		{.name = "30 % loss both ways, LoRa-like", .ch = arq_chan_lora5k()},
	};
	lossy[0].ch.p_loss = 0.10;
	lossy[1].ch.ge_p_gb = 0.02;
	lossy[1].ch.ge_p_bg = 0.2;
	lossy[1].ch.ge_loss_bad = 0.9;
	lossy[2].ch.ber = 1e-4;
	lossy[2].ch.p_dup = 0.05;
	lossy[2].ch.p_reorder = 0.05;
	lossy[2].ch.reorder_ms = 400;
	lossy[3].ch.p_loss = 0.30;
	for (unsigned i = 0; i < sizeof lossy / sizeof lossy[0]; i++) {
		lossy[i].seed = seed + i;
		lossy[i].duration_ms = hour;
		lossy[i].fix_period_ms = 1000;
		lossy[i].ind_per_hour = 6;
		lossy[i].drain_limit_ms = 1200000;
		lossy[i].cmd_every_ms = 120000;
		rc = arq_run(&lossy[i], &r);
		report(&lossy[i], &r, rc);
	}

	/* hour-long outage in the middle of two hours of searching: drain time */
	struct arq_chan_cfg chans[2] = {arq_chan_uart9600(), arq_chan_lora5k()};
	const char *names[2] = {"1 h outage, 9600 baud, 2 % loss", "1 h outage, LoRa-like 5 kbit/s, 2 % loss"};
	for (unsigned i = 0; i < 2; i++) {
		struct arq_scn o = {.name = names[i], .seed = seed + 10u + i, .ch = chans[i],
		                    .duration_ms = quick ? 2u * hour : 2u * 3600000u, .fix_period_ms = 1000,
		                    .ind_per_hour = 6, .drain_limit_ms = 3600000};
		o.ch.p_loss = 0.02;
		o.ch.n_outage = 1;
		o.ch.outage[0].start_ms = o.duration_ms / 4u;
		o.ch.outage[0].end_ms = o.duration_ms / 4u + hour;
		rc = arq_run(&o, &r);
		report(&o, &r, rc);
		double drain_s = r.drain_ms / 1000.0, backlog = hour / 1000.0 * (1.0 + 6.0 / 3600.0);
		printf("   goodput while draining: ~%.1f backlog records/s (%.0f records in %.1f s, live 1 Hz traffic on top)\n",
		       drain_s > 0 ? backlog / drain_s : 0.0, backlog, drain_s);
	}
	printf("\n%s\n", failures ? "SOME SCENARIOS FAILED" : "all scenarios: every record stored exactly once, journal fully acked");
	return failures ? 1 : 0;
}
