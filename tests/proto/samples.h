/*
 * Sample messages shared by the docs' test vectors and the benchmark: one realistic message per type, and a
 * walking animal's fixes for FIXB. Plain data, no randomness, so the vectors in docs/protocol.md are stable.
 */
#ifndef SCENTRACK_TESTS_PROTO_SAMPLES_H
#define SCENTRACK_TESTS_PROTO_SAMPLES_H

#include <math.h>
#include <string.h>

#include "proto/msg.h"

#define SAMPLE_PI 3.14159265358979323846

#define SAMPLE_COLLAR 0x0102u
#define SAMPLE_BOOT 7u
/* Test key 00 01 02 ... 1f. */
static inline void sample_key(uint8_t key[32])
{
	for (unsigned i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
}

/* A rat walking a lane near Mine Action Centre test fields in Tete, Mozambique (-16.16°, 33.58°), at
 * 1 Hz, 0.6 m/s with a slow turn, consumer receiver: GNSS noise of a few cm per second between fixes. */
static inline void sample_walk(struct proto_fix *f, size_t n, uint32_t first_seq)
{
	double lat = -16.1623451, lon = 33.5861234, heading = 0.3;
	uint32_t jitter = 12345u;
	for (size_t i = 0; i < n; i++) {
		memset(&f[i], 0, sizeof f[i]);
		jitter = jitter * 1103515245u + 12345u;
		double nlat = ((double)((jitter >> 16) % 41) - 20.0) * 0.01 / 111320.0; /* ±20 cm */
		double nlon = ((double)((jitter >> 8) % 41) - 20.0) * 0.01 / (111320.0 * cos(lat * SAMPLE_PI / 180));
		f[i].rec_seq = first_seq + (uint32_t)i;
		f[i].has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_ALT | PROTO_FIX_HAS_HDOP | PROTO_FIX_HAS_HACC |
		           PROTO_FIX_HAS_Q | PROTO_FIX_HAS_MODE | PROTO_FIX_HAS_DIM | PROTO_FIX_HAS_NSAT |
		           PROTO_FIX_HAS_SOG | PROTO_FIX_HAS_COG;
		f[i].t_ms = 1795521600000ull + 1000ull * i + (i % 3 == 2 ? 1 : 0); /* 2026-11-24 12:00 UTC */
		f[i].lat_e7 = (int32_t)lround((lat + nlat) * 1e7);
		f[i].lon_e7 = (int32_t)lround((lon + nlon) * 1e7);
		f[i].alt_mm = 412300 + (int32_t)(i * 7);
		f[i].hdop_c = (uint16_t)(92 + (i / 4));
		f[i].h_acc_mm = 2400 + (uint32_t)(i % 2) * 100;
		f[i].gga_q = 1;
		f[i].faa_mode = 'A';
		f[i].fix_dim = 3;
		f[i].nsat = 11;
		f[i].sog_cms = (uint16_t)(60 + i % 3);
		f[i].cog_cdeg = (uint16_t)lround(fmod(heading * 180 / SAMPLE_PI + 360, 360) * 100);
		lat += 0.6 * cos(heading) / 111320.0;
		lon += 0.6 * sin(heading) / (111320.0 * cos(lat * SAMPLE_PI / 180));
		heading += 0.02;
	}
}

static inline void sample_msg(unsigned type, struct proto_msg *m)
{
	memset(m, 0, sizeof *m);
	m->type = (uint8_t)type;
	switch (type) {
	case PROTO_T_HELLO:
		strcpy(m->u.hello.fw, "0.1.0");
		m->u.hello.schema = PROTO_SCHEMA_VERSION;
		m->u.hello.boot_id = SAMPLE_BOOT;
		m->u.hello.oldest_seq = 1;
		m->u.hello.next_seq = 5321;
		m->u.hello.caps = PROTO_CAP_HACC | PROTO_CAP_FIXB | PROTO_CAP_CLASSIFIER | PROTO_CAP_BUTTON;
		m->u.hello.has = PROTO_HELLO_HAS_BATT;
		m->u.hello.batt_mv = 3912;
		break;
	case PROTO_T_FIX:
		sample_walk(&m->u.fix, 1, 5321);
		break;
	case PROTO_T_FIXB:
		m->u.fixb.n = 8;
		sample_walk(m->u.fixb.fix, 8, 5322);
		break;
	case PROTO_T_IND:
		m->u.ind.rec_seq = 5330;
		m->u.ind.has = PROTO_IND_HAS_T | PROTO_IND_HAS_DUR | PROTO_IND_HAS_CONF | PROTO_IND_HAS_POS |
		               PROTO_IND_HAS_HACC | PROTO_IND_HAS_FIXREF;
		m->u.ind.t_ms = 1795521608250ull;
		m->u.ind.kind = PROTO_IND_SCRATCH;
		m->u.ind.dur_ms = 3400;
		m->u.ind.conf_pct = 87;
		m->u.ind.src = PROTO_SRC_BOTH;
		m->u.ind.lat_e7 = -161623001;
		m->u.ind.lon_e7 = 335861790;
		m->u.ind.h_acc_mm = 2500;
		m->u.ind.fix_ref = 5329;
		break;
	case PROTO_T_STATUS:
		m->u.status.has = PROTO_STATUS_HAS_BATT | PROTO_STATUS_HAS_BATTPCT | PROTO_STATUS_HAS_TEMP |
		                  PROTO_STATUS_HAS_RSSI | PROTO_STATUS_HAS_SNR;
		m->u.status.batt_mv = 3890;
		m->u.status.batt_pct = 71;
		m->u.status.temp_dc = 312;
		m->u.status.backlog = 3;
		m->u.status.tx_frames = 1022;
		m->u.status.retx = 17;
		m->u.status.acks = 260;
		m->u.status.rssi_dbm = -97;
		m->u.status.snr_db10 = 65;
		break;
	case PROTO_T_GONE:
		m->u.gone.first = 5101;
		m->u.gone.last = 5103;
		m->u.gone.has = PROTO_GONE_HAS_MAP;
		m->u.gone.map = 0x15; /* 5105, 5107, 5109: every other FIX after the run was thinned too */
		break;
	case PROTO_T_CMD_ACK:
		m->u.cmd_ack.cmd_id = 41;
		m->u.cmd_ack.result = PROTO_RES_DONE;
		break;
	case PROTO_T_ACK:
		m->u.ack.cum = 5321;
		m->u.ack.sack = 0x5; /* 5323 and 5325 stored, 5322 and 5324 missing */
		m->u.ack.has = PROTO_ACK_HAS_GWT | PROTO_ACK_HAS_CREDIT;
		m->u.ack.gw_ms = 1795521609120ull;
		m->u.ack.credit = 8;
		break;
	case PROTO_T_CMD:
		m->u.cmd.cmd_id = 41;
		m->u.cmd.retry = 0;
		m->u.cmd.op = PROTO_OP_SET_RATE;
		m->u.cmd.has = PROTO_CMD_HAS_PERIOD;
		m->u.cmd.period_ms = 5000;
		break;
	case PROTO_T_LOG_LIST:
		m->u.log_list.has = PROTO_LOG_LIST_HAS_REPLY;
		m->u.log_list.oldest_seq = 1;
		m->u.log_list.next_seq = 5331;
		m->u.log_list.count = 5330;
		m->u.log_list.boot_id = SAMPLE_BOOT;
		break;
	case PROTO_T_LOG_READ:
		m->u.log_read.first_seq = 5000;
		m->u.log_read.count = 200;
		break;
	case PROTO_T_LOG_DATA: {
		/* one journaled FIX body (from the FIX sample) */
		static uint8_t body[PROTO_BODY_MAX];
		static struct proto_msg fm;
		size_t n = 0;
		sample_msg(PROTO_T_FIX, &fm);
		if (proto_msg_encode(&fm, body, sizeof body, &n) != 0)
			n = 0;
		m->type = PROTO_T_LOG_DATA;
		m->u.log_data.seq = 5321;
		m->u.log_data.n = 1;
		m->u.log_data.rec[0].p = body;
		m->u.log_data.rec[0].len = (uint16_t)n;
		break;
	}
	case PROTO_T_LOG_TRIM:
		m->u.log_trim.upto_seq = 5200;
		break;
	case PROTO_T_PROVISION:
		m->u.provision.collar_id = SAMPLE_COLLAR;
		sample_key(m->u.provision.key);
		m->u.provision.species = PROTO_SPECIES_RAT;
		m->u.provision.report_ms = 1000;
		m->u.provision.has = PROTO_PROV_HAS_STATUS;
		m->u.provision.status_ms = 60000;
		break;
	case PROTO_T_BATCH: {
		struct proto_batch *b = &m->u.batch;
		b->gw_id = 3;
		b->gw_seq = 1042;
		b->n = 1;
		b->rec[0].collar_id = SAMPLE_COLLAR;
		b->rec[0].type = PROTO_T_IND;
		b->rec[0].has = PROTO_REC_HAS_SEQ | PROTO_REC_HAS_RSSI | PROTO_REC_HAS_SNR;
		b->rec[0].rec_seq = 5330;
		b->rec[0].rx_ms = 1795521608731ull;
		b->rec[0].link = 0;
		b->rec[0].rssi_dbm = -97;
		b->rec[0].snr_db10 = 65;
		struct proto_msg im;
		sample_msg(PROTO_T_IND, &im);
		b->rec[0].m.ind = im.u.ind;
		break;
	}
	case PROTO_T_BATCH_ACK:
		m->u.batch_ack.gw_seq = 1042;
		m->u.batch_ack.has = PROTO_BATCH_ACK_HAS_STORED | PROTO_BATCH_ACK_HAS_DUP;
		m->u.batch_ack.stored = 1;
		m->u.batch_ack.dup = 0;
		break;
	case PROTO_T_CREDIT:
		m->u.credit.n = 16;
		break;
	}
}

/* The completion of the IND sample (rec_seq 5330) journaled when the handler lifted the finger after a long
 * press: the dog sat 6.1 s, the handler rejected the indication (docs/protocol.md §4b). */
static inline void sample_ind_verdict(struct proto_msg *m)
{
	sample_msg(PROTO_T_IND, m);
	m->u.ind.rec_seq = 5338;
	m->u.ind.has |= PROTO_IND_HAS_COMPLETES | PROTO_IND_HAS_VERDICT;
	m->u.ind.completes = 5330;
	m->u.ind.dur_ms = 6120;
	m->u.ind.conf_pct = 91;
	m->u.ind.verdict = PROTO_VERDICT_REJECTED;
}

#endif
