/*
 * analysis/src/sim_write.c — write a generated world and its streams into a directory (file list and columns:
 * an/sim.h). Rows are printed from integers or rounded decimals only, so same seed → same bytes.
 */
#define _POSIX_C_SOURCE 200809L

#include "sim_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wctx {
	const struct an_sim_world *w;
	const char *dir;
	char *err;
	size_t err_len;
	FILE *f, *f2;
	char name[512], name2[512];
	bool bin;
};

static int open_out(struct wctx *c, FILE **f, char *name, size_t name_len, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int open_out(struct wctx *c, FILE **f, char *name, size_t name_len, const char *fmt, ...)
{
	char base[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(base, sizeof base, fmt, ap);
	va_end(ap);
	int n = snprintf(name, name_len, "%s/%s", c->dir, base);
	if (n < 0 || (size_t)n >= name_len) {
		snprintf(c->err, c->err_len, "%s/%s: path too long", c->dir, base);
		return -ENAMETOOLONG;
	}
	*f = fopen(name, "wb");
	if (!*f) {
		int e = errno;
		snprintf(c->err, c->err_len, "%s: %s", name, strerror(e));
		return -e;
	}
	return 0;
}

static int close_out(struct wctx *c, FILE **f, const char *name)
{
	if (!*f)
		return 0;
	int bad = ferror(*f);
	int e = errno;
	if (fclose(*f) != 0 && !bad)
		bad = 1, e = errno;
	*f = NULL;
	if (bad) {
		snprintf(c->err, c->err_len, "%s: write error: %s", name, strerror(e ? e : EIO));
		return -(e ? e : EIO);
	}
	return 0;
}

static int latlon(const struct an_sim_world *w, int64_t e, int64_t n, double *lat, double *lon)
{
	struct an_geo_enu p = {e, n, 0};
	double h;
	return an_geo_enu_to_deg(&w->origin, &p, lat, lon, &h);
}

static int write_boxes(struct wctx *c)
{
	const struct an_sim_world *w = c->w;
	static const char *const kinds[] = {"rat", "dog", "blind"};
	int r = open_out(c, &c->f, c->name, sizeof c->name, "boxes.csv");
	if (r < 0)
		return r;
	fprintf(c->f, "box,kind,lane_width_mm,lane_count,lane_len_mm,p0_e_mm,p0_n_mm,along_e,along_n,across_e,"
		      "across_n,p0_lat,p0_lon,area_m2\n");
	for (uint32_t i = 0; i < w->n_boxes; i++) {
		const struct an_sim_box *b = &w->boxes[i];
		double lat, lon;
		if ((r = latlon(w, b->geo.p0_e_mm, b->geo.p0_n_mm, &lat, &lon)) < 0)
			break;
		fprintf(c->f, "%s,%s,%" PRIu32 ",%" PRIu32 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%.9f,%.9f,%.9f,%.9f,%.9f,%.9f,%.2f\n",
			b->id, kinds[b->kind], b->geo.lane_width_mm, b->geo.lane_count, b->geo.lane_len_mm, b->geo.p0_e_mm,
			b->geo.p0_n_mm, b->geo.ua_e, b->geo.ua_n, b->geo.uc_e, b->geo.uc_n, lat, lon, b->area_m2);
	}
	int r2 = close_out(c, &c->f, c->name);
	return r < 0 ? r : r2;
}

static int write_truth(struct wctx *c)
{
	const struct an_sim_world *w = c->w;
	int r = open_out(c, &c->f, c->name, sizeof c->name, "truth.csv");
	if (r < 0)
		return r;
	fprintf(c->f, "id,class,lat,lon,x_mm,y_mm,depth_mm,box,age_days,along_mm,across_mm\n");
	for (uint32_t i = 0; i < w->n_targets && r == 0; i++) {
		const struct an_sim_target *t = &w->targets[i];
		const struct an_sim_box *b = &w->boxes[t->box];
		double lat, lon;
		struct an_geo_box_pos bp;
		if ((r = latlon(w, t->e_mm, t->n_mm, &lat, &lon)) < 0 ||
		    (r = an_geo_box_locate(&b->geo, t->e_mm, t->n_mm, 0, &bp)) < 0)
			break;
		fprintf(c->f, "%" PRIu32 ",%s,%.9f,%.9f,%" PRId64 ",%" PRId64 ",%" PRId32 ",%s,%" PRIu32 ",%" PRId64 ",%" PRId64 "\n",
			t->id, an_sim_tclass_name(t->cls), lat, lon, t->e_mm, t->n_mm, t->depth_mm, b->id, t->age_days,
			bp.along_mm, bp.across_mm);
	}
	int r2 = close_out(c, &c->f, c->name);
	return r < 0 ? r : r2;
}

static int write_animals(struct wctx *c)
{
	const struct an_sim_world *w = c->w;
	int r = open_out(c, &c->f, c->name, sizeof c->name, "animals.csv");
	if (r < 0)
		return r;
	fprintf(c->f, "animal,species,rx,blind,sens_ap,sens_at,sens_uxo,sens_frag,sens_scrap,false_per_100m2,"
		      "loc_sigma_m,k_depth_per_100mm,k_temp_per_c,k_hum_per_10pct,k_fatigue_per_10min,fatigue_onset_min,"
		      "speed_m_s,ind_median_s,p_confirm_true,p_confirm_false,gnss_cep_m,gnss_tau_s,boot_utc_ms,on_utc_ms,"
		      "off_utc_ms,collar_roll_rad,accel_noise_mg,accel_bias_x_mg,accel_bias_y_mg,accel_bias_z_mg\n");
	for (uint32_t i = 0; i < w->n_animals; i++) {
		const struct an_sim_animal *a = &w->animals[i];
		const struct an_sim_animal_cfg *p = &a->p;
		fprintf(c->f,
			"%s,%s,%s,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.2f,%.4f,%.3f,%.4f,%.4f,%.4f,"
			"%.2f,%" PRId64 ",%" PRId64 ",%" PRId64 ",%.4f,%.3f,%.3f,%.3f,%.3f\n",
			p->name, p->species == AN_SIM_DOG ? "dog" : "rat", an_sim_rx_name(p->rx), p->blind ? 1 : 0,
			p->sens[0], p->sens[1], p->sens[2], p->sens[3], p->sens[4], p->false_per_100m2, p->loc_sigma_m,
			p->k_depth, p->k_temp, p->k_hum, p->k_fatigue, p->fatigue_onset_min, p->speed_m_s, p->ind_median_s,
			p->p_confirm_true, p->p_confirm_false, p->cep_m, p->tau_s, a->boot_utc_ms, a->on_utc_ms,
			a->off_utc_ms, a->roll_rad, a->accel_noise_mg, a->accel_bias_mg[0], a->accel_bias_mg[1],
			a->accel_bias_mg[2]);
	}
	return close_out(c, &c->f, c->name);
}

/* The trainers' records before the day (an/sim.h HISTORY): what `--run` stores as calibration records. */
static int write_history(struct wctx *c)
{
	const struct an_sim_world *w = c->w;
	int r = open_out(c, &c->f, c->name, sizeof c->name, "history.csv");
	if (r < 0)
		return r;
	fprintf(c->f, "animal,source,as_of_utc_ms,hits,misses,false_inds,area_m2,s_hist\n");
	for (uint32_t i = 0; i < w->n_hist; i++) {
		const struct an_sim_history *h = &w->hist[i];
		fprintf(c->f, "%s,%s,%" PRId64 ",%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",%.1f,%.4f\n",
			w->animals[h->animal].p.name, h->src == AN_SIM_HIST_ACCREDITATION ? "accreditation" : "training",
			h->as_of_ms, h->hits, h->misses, h->false_inds, h->area_m2, h->s_hist);
	}
	return close_out(c, &c->f, c->name);
}

int an_sim_write_history(const struct an_sim_world *w, const char *dir, char *err, size_t err_len)
{
	static char dummy[1];
	struct wctx c = {.w = w, .dir = dir, .err = err && err_len ? err : dummy, .err_len = err && err_len ? err_len : 1};
	if (!w || !dir)
		return -EINVAL;
	return write_history(&c);
}

static int write_passes(struct wctx *c)
{
	const struct an_sim_world *w = c->w;
	int r = open_out(c, &c->f, c->name, sizeof c->name, "passes.csv");
	if (r < 0)
		return r;
	fprintf(c->f, "pass,animal,box,kind,t0_utc_ms,t1_utc_ms,bout,area_m2,temp_c,hum_pct,n_true,n_false\n");
	for (uint32_t i = 0; i < w->n_passes; i++) {
		const struct an_sim_pass *p = &w->passes[i];
		fprintf(c->f, "%" PRIu32 ",%s,%s,%s,%" PRId64 ",%" PRId64 ",%" PRIu32 ",%.2f,%.2f,%.2f,%" PRIu32 ",%" PRIu32 "\n",
			p->id, w->animals[p->animal].p.name, w->boxes[p->box].id, an_sim_pass_kind_name(p->kind), p->t0_ms,
			p->t1_ms, p->bout, p->area_m2, p->temp_c, p->hum_pct, p->n_true, p->n_false);
	}
	if ((r = close_out(c, &c->f, c->name)) < 0)
		return r;
	if ((r = open_out(c, &c->f, c->name, sizeof c->name, "exposures.csv")) < 0)
		return r;
	fprintf(c->f, "target,pass,animal,t_utc_ms,p_detect,detected\n");
	for (uint32_t i = 0; i < w->n_exps; i++) {
		const struct an_sim_exposure *x = &w->exps[i];
		fprintf(c->f, "%" PRIu32 ",%" PRIu32 ",%s,%" PRId64 ",%.4f,%d\n", w->targets[x->target].id, x->pass,
			w->animals[x->animal].p.name, x->t_ms, x->p, x->hit ? 1 : 0);
	}
	return close_out(c, &c->f, c->name);
}

/* The confirmation passes' patches (box frame mm, an/geo.h), one row each, in pass order. */
static int write_patches(struct wctx *c)
{
	const struct an_sim_world *w = c->w;
	int r = open_out(c, &c->f, c->name, sizeof c->name, "patches.csv");
	if (r < 0)
		return r;
	fprintf(c->f, "pass,box,lane0,lanes,along0_mm,along1_mm,area_m2\n");
	for (uint32_t i = 0; i < w->n_patches; i++) {
		const struct an_sim_patch *p = &w->patches[i];
		double a = (double)p->lanes * (double)w->boxes[p->box].geo.lane_width_mm *
			   (double)(p->along1_mm - p->along0_mm) / 1e6;
		fprintf(c->f, "%" PRIu32 ",%s,%" PRIu32 ",%" PRIu32 ",%" PRId64 ",%" PRId64 ",%.2f\n", p->pass,
			w->boxes[p->box].id, p->lane0, p->lanes, p->along0_mm, p->along1_mm, a);
	}
	return close_out(c, &c->f, c->name);
}

static int write_inds(struct wctx *c)
{
	const struct an_sim_world *w = c->w;
	int r = open_out(c, &c->f, c->name, sizeof c->name, "indications.csv");
	if (r < 0)
		return r;
	fprintf(c->f, "id,t_utc_ms,dur_ms,animal,pass,box,kind,target,x_mm,y_mm,lat,lon,offset_mm,handler,press_utc_ms,"
		      "press_ms\n");
	for (uint32_t i = 0; i < w->n_inds && r == 0; i++) {
		const struct an_sim_ind *d = &w->inds[i];
		double lat, lon;
		if ((r = latlon(w, d->e_mm, d->n_mm, &lat, &lon)) < 0)
			break;
		long long tid = -1, off = -1;
		if (d->target >= 0) {
			const struct an_sim_target *t = &w->targets[d->target];
			tid = t->id;
			off = llround(hypot((double)(d->e_mm - t->e_mm), (double)(d->n_mm - t->n_mm)));
		}
		fprintf(c->f, "%" PRIu32 ",%" PRId64 ",%" PRIu32 ",%s,%" PRIu32 ",%s,%s,%lld,%" PRId64 ",%" PRId64 ",%.9f,%.9f,%lld,%s,%" PRId64 ",%" PRIu32 "\n",
			d->id, d->t_ms, d->dur_ms, w->animals[d->animal].p.name, d->pass, w->boxes[d->box].id,
			an_sim_beh_name(d->beh), tid, d->e_mm, d->n_mm, lat, lon, off, d->confirmed ? "confirm" : "reject",
			d->press_ms, d->press_len_ms);
	}
	int r2 = close_out(c, &c->f, c->name);
	return r < 0 ? r : r2;
}

/* The data recorder's sheet (an/sim.h RECORDER), one line per indication. */
static int write_boxpos(struct wctx *c)
{
	const struct an_sim_world *w = c->w;
	int r = open_out(c, &c->f, c->name, sizeof c->name, "boxpos.csv");
	if (r < 0)
		return r;
	fprintf(c->f, "id,animal,pass,box,lane,along_m,sd_m\n");
	for (uint32_t i = 0; i < w->n_rec; i++) {
		const struct an_sim_boxpos *b = &w->rec[i];
		const struct an_sim_ind *d = &w->inds[b->ind];
		fprintf(c->f, "%" PRIu32 ",%s,%" PRIu32 ",%s,%" PRIu32 ",%.3f,%.3f\n", d->id, w->animals[d->animal].p.name,
			d->pass, w->boxes[d->box].id, b->lane, (double)b->along_mm / 1000.0, (double)b->sd_mm / 1000.0);
	}
	return close_out(c, &c->f, c->name);
}

static int write_track(struct wctx *c, uint32_t a)
{
	const struct an_sim_world *w = c->w;
	const struct an_sim_animal *an = &w->animals[a];
	int r = open_out(c, &c->f, c->name, sizeof c->name, "track_%s.csv", an->p.name);
	if (r < 0)
		return r;
	fprintf(c->f, "t_utc_ms,x_mm,y_mm,lat,lon,behaviour\n");
	size_t hint = 0;
	for (int64_t t = (an->on_utc_ms + 999) / 1000 * 1000; t <= an->off_utc_ms && r == 0; t += 1000) {
		int64_t e, n;
		int beh;
		double lat, lon;
		if ((r = an_sim_track_at(&w->tracks[a], t, &hint, &e, &n, &beh)) < 0 || (r = latlon(w, e, n, &lat, &lon)) < 0)
			break;
		fprintf(c->f, "%" PRId64 ",%" PRId64 ",%" PRId64 ",%.9f,%.9f,%s\n", t, e, n, lat, lon, an_sim_beh_name(beh));
	}
	int r2 = close_out(c, &c->f, c->name);
	return r < 0 ? r : r2;
}

static int nmea_sink(void *ctx, const char *text, size_t len, const struct an_sim_epoch *ep)
{
	(void)ep;
	struct wctx *c = ctx;
	return fwrite(text, 1, len, c->f) == len ? 0 : -EIO;
}

static int accel_sink(void *ctx, const struct an_sim_accel *s)
{
	struct wctx *c = ctx;
	if (c->bin) {
		uint8_t b[10];
		uint16_t x = (uint16_t)s->x_mg, y = (uint16_t)s->y_mg, z = (uint16_t)s->z_mg;
		for (int i = 0; i < 4; i++)
			b[i] = (uint8_t)(s->t_ms >> (8 * i));
		b[4] = (uint8_t)x, b[5] = (uint8_t)(x >> 8), b[6] = (uint8_t)y, b[7] = (uint8_t)(y >> 8);
		b[8] = (uint8_t)z, b[9] = (uint8_t)(z >> 8);
		return fwrite(b, 1, sizeof b, c->f) == sizeof b ? 0 : -EIO;
	}
	return fprintf(c->f, "%" PRIu32 ",%d,%d,%d\n", s->t_ms, s->x_mg, s->y_mg, s->z_mg) > 0 ? 0 : -EIO;
}

static int label_sink(void *ctx, uint32_t t0, uint32_t t1, int beh)
{
	struct wctx *c = ctx;
	return fprintf(c->f2, "%" PRIu32 ",%" PRIu32 ",%s\n", t0, t1, an_sim_beh_name(beh)) > 0 ? 0 : -EIO;
}

int an_sim_button_edges(const struct an_sim_world *w, uint32_t a, an_sim_button_sink sink, void *ctx)
{
	const struct an_sim_animal *an = &w->animals[a];
	struct an_sim_rng r;
	an_sim_rng_init(&r, w->seed, SIM_STREAM_BUTTON(a));
	for (uint32_t i = 0; i < w->n_inds; i++) {
		const struct an_sim_ind *d = &w->inds[i];
		if (d->animal != a)
			continue;
		/* contact bounce: 0–3 extra edges within 1–8 ms after each transition (< the 20 ms debounce) */
		int64_t edges[2] = {d->press_ms - an->boot_utc_ms, d->press_ms + d->press_len_ms - an->boot_utc_ms};
		for (int k = 0; k < 2; k++) {
			int level = k == 0;
			int64_t t = edges[k];
			int rc = sink(ctx, t, level);
			uint32_t nb = an_sim_rng_u32(&r) % 4u;
			for (uint32_t b = 0; b < nb && rc == 0; b++) {
				t += 1 + an_sim_rng_u32(&r) % 3u;
				rc = sink(ctx, t, !level);
				t += 1 + an_sim_rng_u32(&r) % 2u;
				if (rc == 0)
					rc = sink(ctx, t, level);
			}
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int button_sink(void *ctx, int64_t t_ms, int level)
{
	struct wctx *c = ctx;
	return fprintf(c->f, "%" PRId64 ",%d\n", t_ms, level) > 0 ? 0 : -EIO;
}

static int write_button(struct wctx *c, uint32_t a)
{
	const struct an_sim_animal *an = &c->w->animals[a];
	int rc = open_out(c, &c->f, c->name, sizeof c->name, "collar_%s.button.csv", an->p.name);
	if (rc < 0)
		return rc;
	fprintf(c->f, "t_ms,level\n");
	rc = an_sim_button_edges(c->w, a, button_sink, c);
	if (rc) {
		fclose(c->f);
		c->f = NULL;
		return rc;
	}
	return close_out(c, &c->f, c->name);
}

static int write_manifest(struct wctx *c, const struct an_sim_write_opts *o)
{
	const struct an_sim_world *w = c->w;
	struct an_sim_summary s;
	an_sim_summarize(w, &s);
	int r = open_out(c, &c->f, c->name, sizeof c->name, "manifest.txt");
	if (r < 0)
		return r;
	fprintf(c->f, "scenario: %s\nseed: %" PRIu64 "\norigin_lat_e7: %" PRId32 "\norigin_lon_e7: %" PRId32
		      "\norigin_alt_mm: %" PRId32 "\nday0_utc_ms: %" PRId64 "\n",
		w->sc.name, w->seed, w->sc.origin_lat_e7, w->sc.origin_lon_e7, w->sc.origin_alt_mm, w->day0_utc_ms);
	fprintf(c->f, "animals: %" PRIu32 " (%" PRIu32 " rats, %" PRIu32 " dogs)\nboxes: %" PRIu32 "\npasses: %" PRIu32
		      "\ntargets: %" PRIu32 "\nindications: %" PRIu32 " (%" PRIu32 " true, %" PRIu32 " false)\n",
		w->n_animals, s.rats, s.dogs, w->n_boxes, w->n_passes, w->n_targets, w->n_inds, s.ind_true, s.ind_false);
	fprintf(c->f, "files: boxes.csv truth.csv animals.csv passes.csv exposures.csv indications.csv");
	if (w->sc.confirm) /* only then: a day with confirm = no writes the bytes it wrote before the key existed */
		fprintf(c->f, " patches.csv");
	for (uint32_t i = 0; i < w->n_animals; i++) {
		const char *n = w->animals[i].p.name;
		if (o->tracks)
			fprintf(c->f, " track_%s.csv", n);
		if (o->nmea)
			fprintf(c->f, " collar_%s.nmea", n);
		if (o->accel != AN_SIM_ACCEL_NONE)
			fprintf(c->f, " collar_%s.accel.%s collar_%s.labels.csv", n, o->accel == AN_SIM_ACCEL_BIN ? "bin" : "csv",
				n);
		fprintf(c->f, " collar_%s.button.csv", n);
	}
	fprintf(c->f, "\n");
	return close_out(c, &c->f, c->name);
}

int an_sim_write(const struct an_sim_world *w, const char *dir, const struct an_sim_write_opts *o, char *err,
		 size_t err_len)
{
	static char dummy[1];
	struct wctx c = {.w = w, .dir = dir, .err = err && err_len ? err : dummy, .err_len = err && err_len ? err_len : 1};
	if (!w || !dir || !o)
		return -EINVAL;
	int r;
	if ((r = write_manifest(&c, o)) < 0 || (r = write_boxes(&c)) < 0 || (r = write_truth(&c)) < 0 ||
	    (r = write_animals(&c)) < 0 || (r = write_passes(&c)) < 0 || (r = write_inds(&c)) < 0 ||
	    (r = write_history(&c)) < 0)
		return r;
	if (w->sc.confirm && (r = write_patches(&c)) < 0)
		return r;
	if (w->sc.recorder && (r = write_boxpos(&c)) < 0)
		return r;
	for (uint32_t a = 0; a < w->n_animals; a++) {
		const char *n = w->animals[a].p.name;
		if (o->tracks && (r = write_track(&c, a)) < 0)
			return r;
		if ((r = write_button(&c, a)) < 0)
			return r;
		if (o->nmea) {
			if ((r = open_out(&c, &c.f, c.name, sizeof c.name, "collar_%s.nmea", n)) < 0)
				return r;
			r = an_sim_nmea_collar(w, a, nmea_sink, &c);
			int r2 = close_out(&c, &c.f, c.name);
			if (r < 0) {
				snprintf(c.err, c.err_len, "%s: generating NMEA failed (%d)", c.name, r);
				return r;
			}
			if (r2 < 0)
				return r2;
		}
		if (o->accel != AN_SIM_ACCEL_NONE) {
			c.bin = o->accel == AN_SIM_ACCEL_BIN;
			if ((r = open_out(&c, &c.f, c.name, sizeof c.name, "collar_%s.accel.%s", n, c.bin ? "bin" : "csv")) < 0)
				return r;
			if ((r = open_out(&c, &c.f2, c.name2, sizeof c.name2, "collar_%s.labels.csv", n)) < 0) {
				fclose(c.f);
				c.f = NULL;
				return r;
			}
			if (!c.bin)
				fprintf(c.f, "t_ms,x_mg,y_mg,z_mg\n");
			fprintf(c.f2, "t0_ms,t1_ms,class\n");
			r = an_sim_motion_collar(w, a, accel_sink, label_sink, &c);
			int r2 = close_out(&c, &c.f, c.name);
			int r3 = close_out(&c, &c.f2, c.name2);
			if (r < 0) {
				snprintf(c.err, c.err_len, "%s: generating accelerometer data failed (%d)", c.name, r);
				return r;
			}
			if (r2 < 0)
				return r2;
			if (r3 < 0)
				return r3;
		}
	}
	return 0;
}
