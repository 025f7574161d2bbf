/*
 * tests/web/web_simfeed.c — a simulated field day (`scentrack sim ... --out DIR`) played into scentrack-core
 * through its real ingest, for the web map's demo test: realistic boxes, lanes, search tracks and
 * indications on simulated time, compressed so a window of the day plays in seconds.
 *
 *   web_simfeed setup DB SIMDIR --wall0 MS --win0 MS --speed S
 *       the store: the day's task (origin from manifest.txt), every box (boxes.csv), every animal
 *       (animals.csv) wearing collar 1..N in file order, and one session per pass (passes.csv).
 *   web_simfeed run SIMDIR --endpoint EP --gw-id N --server-key FILE --secret FILE --wall0 MS --win0 MS
 *                   --win1 MS --speed S [--every-s 2] [--per 32]
 *       the gateway: track_<animal>.csv (one fix every --every-s simulated seconds) and indications.csv
 *       between win0 and win1, as FIX/IND records of BATCHes over CURVE (gw/upstream.h), each sent when
 *       the wall clock reaches its time.
 *
 * Simulated time t maps to wall0 + (t - win0) / speed everywhere (record stamps, sessions), so the page sees
 * a live day whose clock runs `speed` times faster. Positions are the simulator's true track (its NMEA with
 * GNSS error is the collar's business, not the web map's); h_acc is the animal's receiver CEP (animals.csv);
 * indications carry the simulator's located position. No battery or link figures are invented.
 *
 * stdout: setup prints "SETUP task=<id> boxes=<n> animals=<n> sessions=<n>"; run prints "READY records=<n>
 * batches=<n>", "SENT <gw_seq> <CLOCK_MONOTONIC ns>", "IND <collar> <rec_seq>" as each indication's batch is
 * handed over, "DONE" when the core acked the last batch; SIGTERM ends it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "an/geo.h"
#include "an/store.h"
#include "gw/upstream.h"
#include "proto/msg.h"

#define SF_ANIMALS_MAX 64
#define SF_FIELD_MAX 40
#define SF_BATCH_SLOT_NS 50000000ull /* records due within 50 ms share a batch */

struct sf_map {
	int64_t wall0_ms, win0_ms, win1_ms;
	double speed;
};

static int64_t sf_map_t(const struct sf_map *m, int64_t t_ms)
{
	return m->wall0_ms + (int64_t)llround((double)(t_ms - m->win0_ms) / m->speed);
}

/* One CSV line split in place on commas (the simulator writes no quoted fields). @retval number of fields */
static int sf_split(char *line, char **f, int max)
{
	int n = 0;
	line[strcspn(line, "\r\n")] = '\0';
	for (char *p = line; n < max;) {
		f[n++] = p;
		char *c = strchr(p, ',');
		if (!c)
			break;
		*c = '\0';
		p = c + 1;
	}
	return n;
}

/* Index of a column by its header name. @retval index or -1 */
static int sf_col(char **hdr, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(hdr[i], name))
			return i;
	return -1;
}

struct sf_csv {
	FILE *f;
	char line[4096], hline[4096];
	char *hdr[SF_FIELD_MAX], *row[SF_FIELD_MAX];
	int nh;
};

static int sf_csv_open(struct sf_csv *c, const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	c->f = fopen(path, "r");
	if (!c->f || !fgets(c->hline, sizeof c->hline, c->f)) {
		fprintf(stderr, "web_simfeed: %s: %s\n", path, c->f ? "empty" : strerror(errno));
		if (c->f)
			fclose(c->f);
		return -ENOENT;
	}
	c->nh = sf_split(c->hline, c->hdr, SF_FIELD_MAX);
	return 0;
}

/* Next row; the needed columns looked up by name once per file by the caller. @retval 1 row, 0 end */
static int sf_csv_next(struct sf_csv *c)
{
	if (!fgets(c->line, sizeof c->line, c->f))
		return 0;
	return sf_split(c->line, c->row, SF_FIELD_MAX) == c->nh ? 1 : -EBADMSG;
}

static int sf_need(struct sf_csv *c, const char *name, const char *file)
{
	int i = sf_col(c->hdr, c->nh, name);
	if (i < 0)
		fprintf(stderr, "web_simfeed: %s: no column %s\n", file, name);
	return i;
}

struct sf_animal {
	char name[16];
	enum an_species species;
	uint32_t h_acc_mm;
};

static int sf_animals(const char *dir, struct sf_animal *a, size_t *n)
{
	struct sf_csv c;
	int rc = sf_csv_open(&c, dir, "animals.csv");
	if (rc)
		return rc;
	int ia = sf_need(&c, "animal", "animals.csv"), is = sf_need(&c, "species", "animals.csv"),
	    ic = sf_need(&c, "gnss_cep_m", "animals.csv");
	*n = 0;
	if (ia < 0 || is < 0 || ic < 0)
		rc = -EBADMSG;
	while (!rc && (rc = sf_csv_next(&c)) == 1) {
		if (*n == SF_ANIMALS_MAX) {
			rc = -E2BIG;
			break;
		}
		snprintf(a[*n].name, sizeof a[*n].name, "%s", c.row[ia]);
		a[*n].species = !strcmp(c.row[is], "dog") ? AN_SPECIES_DOG : AN_SPECIES_RAT;
		a[*n].h_acc_mm = (uint32_t)llround(strtod(c.row[ic], NULL) * 1000.0);
		(*n)++;
		rc = 0;
	}
	fclose(c.f);
	return rc < 0 ? rc : 0;
}

static int sf_manifest_origin(const char *dir, int32_t *lat, int32_t *lon, int64_t *day0)
{
	char path[4096], line[512];
	snprintf(path, sizeof path, "%s/manifest.txt", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return -ENOENT;
	int got = 0;
	while (fgets(line, sizeof line, f)) {
		long long v;
		if (sscanf(line, "origin_lat_e7: %lld", &v) == 1)
			*lat = (int32_t)v, got |= 1;
		else if (sscanf(line, "origin_lon_e7: %lld", &v) == 1)
			*lon = (int32_t)v, got |= 2;
		else if (sscanf(line, "day0_utc_ms: %lld", &v) == 1)
			*day0 = v, got |= 4;
	}
	fclose(f);
	return got == 7 ? 0 : -EBADMSG;
}

/* ---- setup ------------------------------------------------------------------------------------------------ */

static int sf_setup(const char *db, const char *dir, const struct sf_map *m)
{
	struct sf_animal an[SF_ANIMALS_MAX];
	size_t n_an;
	int32_t olat = 0, olon = 0;
	int64_t day0 = 0;
	int rc = sf_animals(dir, an, &n_an);
	if (!rc)
		rc = sf_manifest_origin(dir, &olat, &olon, &day0);
	if (rc)
		return rc;
	struct an_store *s;
	char err[512];
	if (an_store_open(db, AN_STORE_CREATE, &s, err, sizeof err)) {
		fprintf(stderr, "web_simfeed: %s\n", err);
		return -EIO;
	}
	struct an_geo_origin o;
	int64_t prog, task, animal_ids[SF_ANIMALS_MAX];
	struct an_store_task t = {.name = "simulated field day", .origin_lat_e7 = olat, .origin_lon_e7 = olon};
	rc = an_store_programme_add(s, "simulated programme", NULL, &prog);
	t.programme_id = prog;
	if (!rc)
		rc = an_store_task_add(s, &t, &task);
	if (!rc)
		rc = an_geo_origin_init(&o, olat, olon, AN_GEO_ALT_UNKNOWN);
	for (size_t i = 0; i < n_an && !rc; i++) {
		rc = an_store_animal_add(s, an[i].species, an[i].name, NULL, &animal_ids[i]);
		if (!rc)
			rc = an_store_collar_assign(s, (uint16_t)(i + 1), animal_ids[i], sf_map_t(m, day0));
	}
	/* boxes: p0 and the unit vectors along and across the lanes in the task's ENU frame */
	char box_names[128][16];
	int64_t box_ids[128];
	size_t n_box = 0;
	struct sf_csv c;
	if (!rc)
		rc = sf_csv_open(&c, dir, "boxes.csv");
	if (!rc) {
		int ib = sf_need(&c, "box", "boxes.csv"), ik = sf_need(&c, "kind", "boxes.csv"),
		    iw = sf_need(&c, "lane_width_mm", "boxes.csv"), in = sf_need(&c, "lane_count", "boxes.csv"),
		    il = sf_need(&c, "lane_len_mm", "boxes.csv"), ie = sf_need(&c, "p0_e_mm", "boxes.csv"),
		    ino = sf_need(&c, "p0_n_mm", "boxes.csv"), iae = sf_need(&c, "along_e", "boxes.csv"),
		    ian = sf_need(&c, "along_n", "boxes.csv"), ice = sf_need(&c, "across_e", "boxes.csv"),
		    icn = sf_need(&c, "across_n", "boxes.csv");
		if (ib < 0 || ik < 0 || iw < 0 || in < 0 || il < 0 || ie < 0 || ino < 0 || iae < 0 || ian < 0 || ice < 0 ||
		    icn < 0)
			rc = -EBADMSG;
		int r;
		while (!rc && (r = sf_csv_next(&c)) == 1 && n_box < 128) {
			double w = strtod(c.row[iw], NULL), lanes = strtod(c.row[in], NULL), len = strtod(c.row[il], NULL);
			double e0 = strtod(c.row[ie], NULL), n0 = strtod(c.row[ino], NULL);
			double ae = strtod(c.row[iae], NULL), anv = strtod(c.row[ian], NULL);
			double ce = strtod(c.row[ice], NULL), cn = strtod(c.row[icn], NULL);
			struct an_geo_enu p0 = {llround(e0), llround(n0), 0};
			struct an_geo_enu pa = {llround(e0 + ae * len), llround(n0 + anv * len), 0};
			struct an_geo_enu pc = {llround(e0 + ce * w * lanes), llround(n0 + cn * w * lanes), 0};
			snprintf(box_names[n_box], sizeof box_names[n_box], "%s", c.row[ib]);
			struct an_store_box b = {.task_id = task, .name = box_names[n_box], .lane_width_mm = (uint32_t)w,
			                         .lane_count = (uint32_t)lanes,
			                         .species = !strcmp(c.row[ik], "dog") ? AN_SPECIES_DOG : AN_SPECIES_RAT,
			                         .blind = !strcmp(c.row[ik], "blind")};
			int32_t alt;
			rc = an_geo_enu_to_e7(&o, &p0, &b.p0_lat_e7, &b.p0_lon_e7, &alt);
			if (!rc)
				rc = an_geo_enu_to_e7(&o, &pa, &b.along_lat_e7, &b.along_lon_e7, &alt);
			if (!rc)
				rc = an_geo_enu_to_e7(&o, &pc, &b.across_lat_e7, &b.across_lon_e7, &alt);
			if (!rc)
				rc = an_store_box_add(s, &b, &box_ids[n_box]);
			n_box++;
		}
		fclose(c.f);
	}
	/* one session per pass, on the compressed clock */
	size_t n_sess = 0;
	if (!rc)
		rc = sf_csv_open(&c, dir, "passes.csv");
	if (!rc) {
		int ia = sf_need(&c, "animal", "passes.csv"), ib = sf_need(&c, "box", "passes.csv"),
		    ik = sf_need(&c, "kind", "passes.csv"), i0 = sf_need(&c, "t0_utc_ms", "passes.csv"),
		    i1 = sf_need(&c, "t1_utc_ms", "passes.csv"), it = sf_need(&c, "temp_c", "passes.csv"),
		    ih = sf_need(&c, "hum_pct", "passes.csv");
		if (ia < 0 || ib < 0 || ik < 0 || i0 < 0 || i1 < 0 || it < 0 || ih < 0)
			rc = -EBADMSG;
		while (!rc && sf_csv_next(&c) == 1) {
			size_t a = 0, b = 0;
			while (a < n_an && strcmp(an[a].name, c.row[ia]))
				a++;
			while (b < n_box && strcmp(box_names[b], c.row[ib]))
				b++;
			if (a == n_an || b == n_box) {
				fprintf(stderr, "web_simfeed: passes.csv: unknown animal %s or box %s\n", c.row[ia], c.row[ib]);
				rc = -EBADMSG;
				break;
			}
			int64_t sid;
			struct an_store_session ss = {
				.box_id = box_ids[b], .animal_id = animal_ids[a],
				.mode = !strcmp(c.row[ik], "blind") ? AN_MODE_ACCREDITATION
				        : !strcmp(c.row[ik], "qc") ? AN_MODE_QC : AN_MODE_OPERATIONAL,
				.start_ms = sf_map_t(m, strtoll(c.row[i0], NULL, 10)), .has_end = true,
				.end_ms = sf_map_t(m, strtoll(c.row[i1], NULL, 10)), .has_temp = true, .has_humidity = true,
				.temp_dc = (int16_t)lround(strtod(c.row[it], NULL) * 10.0),
				.humidity_pct = (uint8_t)lround(strtod(c.row[ih], NULL))};
			rc = an_store_session_add(s, &ss, &sid);
			n_sess++;
		}
		fclose(c.f);
	}
	if (rc)
		fprintf(stderr, "web_simfeed: setup: %s (%s)\n", an_store_errmsg(s), strerror(-rc));
	else
		printf("SETUP task=%" PRId64 " boxes=%zu animals=%zu sessions=%zu\n", task, n_box, n_an, n_sess);
	an_store_close(s);
	return rc;
}

/* ---- run -------------------------------------------------------------------------------------------------- */

struct sf_rec {
	int64_t t_ms; /* simulated */
	uint16_t collar;
	uint8_t kind; /* 0 = fix, else PROTO_IND_* */
	int32_t lat_e7, lon_e7;
	uint32_t h_acc_mm, dur_ms;
	uint16_t sog_cms, cog_cdeg;
	uint8_t has_cog;
};

struct sf_feed {
	struct sf_map m;
	struct sf_rec *r;
	size_t n, cap;
	size_t *bstart; /* batch k = records bstart[k] .. bstart[k+1]-1 */
	uint64_t nb;
	uint64_t avail; /* batches due so far (the clock only moves forward) */
	uint64_t acked;
	uint32_t seq[SF_ANIMALS_MAX + 1];
	uint32_t *rec_seq; /* per record, assigned in time order */
	uint8_t *sent;
	uint16_t gw_id;
	struct proto_batch b;
};

static volatile sig_atomic_t g_stop;
static void on_term(int sig)
{
	(void)sig;
	g_stop = 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int sf_push(struct sf_feed *f, const struct sf_rec *r)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 4096;
		struct sf_rec *nr = realloc(f->r, cap * sizeof *nr);
		if (!nr)
			return -ENOMEM;
		f->r = nr;
		f->cap = cap;
	}
	f->r[f->n++] = *r;
	return 0;
}

static int sf_cmp(const void *a, const void *b)
{
	const struct sf_rec *x = a, *y = b;
	if (x->t_ms != y->t_ms)
		return x->t_ms < y->t_ms ? -1 : 1;
	return x->collar != y->collar ? (x->collar < y->collar ? -1 : 1) : (int)x->kind - (int)y->kind;
}

static int sf_load(struct sf_feed *f, const char *dir, int every_s)
{
	struct sf_animal an[SF_ANIMALS_MAX];
	size_t n_an;
	int rc = sf_animals(dir, an, &n_an);
	for (size_t i = 0; i < n_an && !rc; i++) {
		char name[64];
		if ((size_t)snprintf(name, sizeof name, "track_%s.csv", an[i].name) >= sizeof name) {
			rc = -ENAMETOOLONG;
			break;
		}
		struct sf_csv c;
		if ((rc = sf_csv_open(&c, dir, name)))
			break;
		int it = sf_need(&c, "t_utc_ms", name), ila = sf_need(&c, "lat", name), ilo = sf_need(&c, "lon", name),
		    ix = sf_need(&c, "x_mm", name), iy = sf_need(&c, "y_mm", name);
		if (it < 0 || ila < 0 || ilo < 0 || ix < 0 || iy < 0)
			rc = -EBADMSG;
		int64_t last = INT64_MIN;
		double px = 0, py = 0;
		while (!rc && sf_csv_next(&c) == 1) {
			int64_t t = strtoll(c.row[it], NULL, 10);
			if (t < f->m.win0_ms || t >= f->m.win1_ms || (last != INT64_MIN && t - last < every_s * 1000))
				continue;
			double x = strtod(c.row[ix], NULL), y = strtod(c.row[iy], NULL);
			struct sf_rec r = {.t_ms = t, .collar = (uint16_t)(i + 1),
			                   .lat_e7 = (int32_t)llround(strtod(c.row[ila], NULL) * 1e7),
			                   .lon_e7 = (int32_t)llround(strtod(c.row[ilo], NULL) * 1e7), .h_acc_mm = an[i].h_acc_mm};
			if (last != INT64_MIN) {
				/* speed and course from the previous kept point, in the simulated time the collar lives in */
				double dx = x - px, dy = y - py, d = sqrt(dx * dx + dy * dy), dt = (double)(t - last) / 1000.0;
				r.sog_cms = (uint16_t)fmin(65535.0, d / dt / 10.0);
				if (d > 50) {
					double cog = atan2(dx, dy) * 180.0 / M_PI;
					r.cog_cdeg = (uint16_t)((int)lround((cog < 0 ? cog + 360.0 : cog) * 100.0) % 36000);
					r.has_cog = 1;
				}
			}
			last = t;
			px = x;
			py = y;
			rc = sf_push(f, &r);
		}
		fclose(c.f);
	}
	struct sf_csv c;
	if (!rc && !(rc = sf_csv_open(&c, dir, "indications.csv"))) {
		int it = sf_need(&c, "t_utc_ms", "indications.csv"), ia = sf_need(&c, "animal", "indications.csv"),
		    ik = sf_need(&c, "kind", "indications.csv"), ila = sf_need(&c, "lat", "indications.csv"),
		    ilo = sf_need(&c, "lon", "indications.csv"), id = sf_need(&c, "dur_ms", "indications.csv");
		if (it < 0 || ia < 0 || ik < 0 || ila < 0 || ilo < 0 || id < 0)
			rc = -EBADMSG;
		while (!rc && sf_csv_next(&c) == 1) {
			int64_t t = strtoll(c.row[it], NULL, 10);
			if (t < f->m.win0_ms || t >= f->m.win1_ms)
				continue;
			size_t a = 0;
			while (a < n_an && strcmp(an[a].name, c.row[ia]))
				a++;
			if (a == n_an)
				continue;
			struct sf_rec r = {.t_ms = t, .collar = (uint16_t)(a + 1),
			                   .kind = !strcmp(c.row[ik], "sit") ? PROTO_IND_SIT : PROTO_IND_SCRATCH,
			                   .lat_e7 = (int32_t)llround(strtod(c.row[ila], NULL) * 1e7),
			                   .lon_e7 = (int32_t)llround(strtod(c.row[ilo], NULL) * 1e7), .h_acc_mm = an[a].h_acc_mm,
			                   .dur_ms = (uint32_t)strtoul(c.row[id], NULL, 10)};
			rc = sf_push(f, &r);
		}
		fclose(c.f);
	}
	if (rc)
		return rc;
	qsort(f->r, f->n, sizeof *f->r, sf_cmp);
	/* rec_seq per collar in time order; batches: at most `per` records due within one 50 ms slot */
	f->rec_seq = calloc(f->n ? f->n : 1, sizeof *f->rec_seq);
	f->bstart = calloc(f->n + 2, sizeof *f->bstart);
	if (!f->rec_seq || !f->bstart)
		return -ENOMEM;
	return 0;
}

static void sf_batches(struct sf_feed *f, unsigned per)
{
	f->nb = 0;
	for (size_t i = 0; i < f->n; i++) {
		f->rec_seq[i] = f->seq[f->r[i].collar]++;
		size_t first = f->nb ? f->bstart[f->nb - 1] : 0;
		int64_t due = sf_map_t(&f->m, f->r[i].t_ms), due0 = sf_map_t(&f->m, f->r[first].t_ms);
		if (f->nb == 0 || i - first >= per || (uint64_t)(due - due0) * 1000000u >= SF_BATCH_SLOT_NS)
			f->bstart[f->nb++] = i;
	}
	f->bstart[f->nb] = f->n;
}

/* batches whose last record is due by now */
static uint64_t sf_available(struct sf_feed *f)
{
	int64_t now = wall_ms();
	while (f->avail < f->nb && sf_map_t(&f->m, f->r[f->bstart[f->avail + 1] - 1].t_ms) <= now)
		f->avail++;
	return f->avail;
}

static int sf_gen_batch(void *ctx, uint64_t after, uint8_t *body, size_t cap, size_t *len, uint64_t *gw_seq)
{
	struct sf_feed *f = ctx;
	if (after < f->acked)
		after = f->acked;
	if (after >= sf_available(f))
		return 0;
	uint64_t seq = after + 1;
	*gw_seq = seq;
	memset(&f->b, 0, sizeof f->b);
	f->b.gw_id = f->gw_id;
	f->b.gw_seq = seq;
	size_t i0 = f->bstart[seq - 1], i1 = f->bstart[seq];
	f->b.n = (uint8_t)(i1 - i0);
	for (size_t i = i0; i < i1; i++) {
		const struct sf_rec *s = &f->r[i];
		struct proto_batch_rec *r = &f->b.rec[i - i0];
		uint64_t t = (uint64_t)sf_map_t(&f->m, s->t_ms);
		r->collar_id = s->collar;
		r->rec_seq = f->rec_seq[i];
		r->has = PROTO_REC_HAS_SEQ;
		r->rx_ms = t + 40u;
		if (s->kind) {
			struct proto_ind *in = &r->m.ind;
			r->type = PROTO_T_IND;
			in->has = PROTO_IND_HAS_T | PROTO_IND_HAS_POS | PROTO_IND_HAS_HACC | PROTO_IND_HAS_CONF |
			          PROTO_IND_HAS_DUR;
			in->rec_seq = r->rec_seq;
			in->t_ms = t;
			in->kind = s->kind;
			in->src = PROTO_SRC_CLASSIFIER;
			in->conf_pct = 90;
			in->dur_ms = (uint32_t)((double)s->dur_ms / f->m.speed);
			in->lat_e7 = s->lat_e7;
			in->lon_e7 = s->lon_e7;
			in->h_acc_mm = s->h_acc_mm;
		} else {
			struct proto_fix *x = &r->m.fix;
			r->type = PROTO_T_FIX;
			x->has = PROTO_FIX_HAS_T | PROTO_FIX_HAS_HACC | PROTO_FIX_HAS_Q | PROTO_FIX_HAS_SOG |
			         (s->has_cog ? PROTO_FIX_HAS_COG : 0);
			x->rec_seq = r->rec_seq;
			x->t_ms = t;
			x->lat_e7 = s->lat_e7;
			x->lon_e7 = s->lon_e7;
			x->h_acc_mm = s->h_acc_mm;
			x->gga_q = s->h_acc_mm < 100 ? 4 : 1;
			x->sog_cms = s->sog_cms;
			x->cog_cdeg = s->cog_cdeg;
		}
	}
	if (proto_batch_encode(&f->b, body, cap, len))
		return -EIO;
	if (!f->sent[seq - 1]) {
		f->sent[seq - 1] = 1;
		printf("SENT %" PRIu64 " %" PRIu64 "\n", seq, mono_ns());
		for (size_t i = i0; i < i1; i++)
			if (f->r[i].kind)
				printf("IND %u %" PRIu32 "\n", f->r[i].collar, f->rec_seq[i]);
	}
	return 1;
}

static int sf_acked(void *ctx, uint64_t s)
{
	((struct sf_feed *)ctx)->acked = s;
	return 0;
}

static int sf_acked_seq(void *ctx, uint64_t *s)
{
	*s = ((struct sf_feed *)ctx)->acked;
	return 0;
}

static int sf_pending(void *ctx, uint64_t after, uint64_t *n)
{
	uint64_t a = sf_available(ctx);
	*n = a > after ? a - after : 0;
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: web_simfeed setup DB SIMDIR --wall0 MS --win0 MS --speed S\n"
	                "       web_simfeed run SIMDIR --endpoint EP --gw-id N --server-key FILE --secret FILE\n"
	                "                       --wall0 MS --win0 MS --win1 MS --speed S [--every-s 2] [--per 32]\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	const bool setup = !strcmp(argv[1], "setup");
	if (!setup && strcmp(argv[1], "run"))
		return usage();
	int first = setup ? 4 : 3;
	if (argc < first)
		return usage();
	const char *ep = NULL, *server_key = NULL, *secret = NULL;
	unsigned long gw_id = 0, per = 32, every_s = 2;
	struct sf_map m = {0, 0, INT64_MAX, 0};
	for (int i = first; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return usage();
		if (!strcmp(a, "--wall0")) m.wall0_ms = strtoll(v, NULL, 10);
		else if (!strcmp(a, "--win0")) m.win0_ms = strtoll(v, NULL, 10);
		else if (!strcmp(a, "--win1")) m.win1_ms = strtoll(v, NULL, 10);
		else if (!strcmp(a, "--speed")) m.speed = strtod(v, NULL);
		else if (!strcmp(a, "--endpoint")) ep = v;
		else if (!strcmp(a, "--gw-id")) gw_id = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--server-key")) server_key = v;
		else if (!strcmp(a, "--secret")) secret = v;
		else if (!strcmp(a, "--every-s")) every_s = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--per")) per = strtoul(v, NULL, 10);
		else return usage();
	}
	if (!(m.speed > 0) || !m.wall0_ms || !m.win0_ms)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (setup)
		return sf_setup(argv[2], argv[3], &m) ? 1 : 0;
	if (!ep || !server_key || !secret || gw_id < 1 || gw_id > 65535 || per < 1 || per > PROTO_BATCH_RECS_MAX ||
	    every_s < 1 || m.win1_ms <= m.win0_ms)
		return usage();
	struct gw_up_config cfg = {.gw_id = (uint16_t)gw_id, .endpoint = ep, .backoff_min_ms = 100,
	                           .backoff_max_ms = 1000};
	char err[512];
	if (gw_up_key_read(server_key, cfg.server_public, err, sizeof err) ||
	    gw_up_key_read(secret, cfg.secret, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct sf_feed *f = calloc(1, sizeof *f);
	if (!f)
		return 1;
	f->m = m;
	f->gw_id = (uint16_t)gw_id;
	int rc = sf_load(f, argv[2], (int)every_s);
	if (rc) {
		fprintf(stderr, "web_simfeed: cannot read %s: %s\n", argv[2], strerror(-rc));
		return 1;
	}
	sf_batches(f, (unsigned)per);
	if (!(f->sent = calloc(f->nb ? f->nb : 1, 1)))
		return 1;
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	struct gw_up_source src = {f, sf_gen_batch, sf_acked, sf_acked_seq, sf_pending};
	struct gw_up *up;
	uint64_t t0 = mono_ns() / 1000000u;
	if (gw_up_open(&up, &cfg, &src, t0)) {
		fprintf(stderr, "gw_up_open failed\n");
		return 1;
	}
	printf("READY records=%zu batches=%" PRIu64 "\n", f->n, f->nb);
	int done = 0;
	while (!g_stop) {
		uint64_t now = mono_ns() / 1000000u;
		if (gw_up_service(up, now)) {
			fprintf(stderr, "gw_up_service failed: %s\n", gw_up_last_error(up));
			break;
		}
		if (!done && f->acked >= f->nb) {
			done = 1;
			printf("DONE\n");
		}
		zmq_pollitem_t it[GW_UP_POLLITEMS];
		size_t n = gw_up_pollitems(up, it, GW_UP_POLLITEMS);
		uint64_t dl = gw_up_next_deadline(up);
		/* wake when the next batch falls due */
		uint64_t k = sf_available(f);
		if (k < f->nb) {
			int64_t due = sf_map_t(&f->m, f->r[f->bstart[k + 1] - 1].t_ms) - wall_ms();
			uint64_t at = now + (uint64_t)(due > 0 ? due : 0);
			if (at < dl)
				dl = at;
		}
		now = mono_ns() / 1000000u;
		zmq_poll(it, (int)n, dl > now ? (long)(dl - now) : 0);
	}
	gw_up_close(up);
	free(f->sent);
	free(f->bstart);
	free(f->rec_seq);
	free(f->r);
	free(f);
	return 0;
}
