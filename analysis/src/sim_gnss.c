/*
 * analysis/src/sim_gnss.c — GNSS error model (Gauss–Markov per axis, canopy, fix loss) and real NMEA 0183
 * output (RMC VTG GGA GSA GST) for each collar. Model and sources: an/sim.h.
 */
#include "sim_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* CEP of a circular normal with per-axis σ: P(r <= CEP) = 1/2 ⇒ CEP = σ √(2 ln 2). */
#define CEP_PER_SIGMA 1.1774100225154747
#define CANOPY_TAU_S 20.0   /* multipath under trees decorrelates faster than open-sky errors: ASSUMPTION */
#define CANOPY_RAMP_S 10.0  /* entering/leaving canopy: weight ramps linearly over this time */
#define VERT_PER_HORIZ 1.7  /* vertical σ / horizontal per-axis σ (typical VDOP/HDOP ≈ 1.5–2): ASSUMPTION */

double an_sim_rx_cep_m(int rx)
{
	/* domain.md §5.5 / analysis.md §1.4: autonomous 2.5 m CEP, SBAS ~1.0 m, RTK 1 cm + 1 ppm (2 km
	 * baseline assumed: 1.2 cm); float "decimetres" (no source figure: 0.25 m) */
	static const double cep[AN_SIM_RX_COUNT] = {2.5, 1.0, 0.25, 0.012};
	return rx >= 0 && rx < AN_SIM_RX_COUNT ? cep[rx] : NAN;
}

double an_sim_rx_tau_s(int rx)
{
	/* the brief's 30–120 s for autonomous errors (ionosphere, orbit/clock, slowly changing multipath);
	 * corrections remove the slow part, so corrected errors decorrelate faster: ASSUMPTION */
	static const double tau[AN_SIM_RX_COUNT] = {60.0, 90.0, 20.0, 10.0};
	return rx >= 0 && rx < AN_SIM_RX_COUNT ? tau[rx] : NAN;
}

static uint8_t rx_quality(int rx)
{
	static const uint8_t q[AN_SIM_RX_COUNT] = {1, 2, 5, 4};
	return q[rx];
}

int an_sim_gnss_init(struct an_sim_gnss *g, int rx, double cep_m, double tau_s, double canopy_cep_m,
		     double canopy_fix_loss, uint64_t seed, uint64_t stream)
{
	if (!g || rx < 0 || rx >= AN_SIM_RX_COUNT || !isfinite(cep_m) || !isfinite(tau_s) ||
	    !isfinite(canopy_cep_m) || !(canopy_fix_loss >= 0.0 && canopy_fix_loss <= 1.0))
		return -EINVAL;
	memset(g, 0, sizeof *g);
	g->rx = rx;
	g->sigma_m = (cep_m > 0 ? cep_m : an_sim_rx_cep_m(rx)) / CEP_PER_SIGMA;
	g->tau_s = tau_s > 0 ? tau_s : an_sim_rx_tau_s(rx);
	double sc = canopy_cep_m / CEP_PER_SIGMA;
	g->canopy_sigma_m = sc > g->sigma_m ? sqrt(sc * sc - g->sigma_m * g->sigma_m) : 0.0;
	g->canopy_tau_s = CANOPY_TAU_S;
	g->fix_loss = canopy_fix_loss;
	an_sim_rng_init(&g->rng, seed, stream);
	return 0;
}

static double gm(struct an_sim_rng *r, double z, double dt, double tau)
{
	double phi = exp(-dt / tau);
	return phi * z + sqrt(1.0 - phi * phi) * an_sim_rng_normal(r);
}

void an_sim_gnss_step(struct an_sim_gnss *g, double dt_s, bool canopy, struct an_sim_gnss_out *o)
{
	struct an_sim_rng *r = &g->rng;
	if (!g->started) { /* stationary start: no warm-up transient in the statistics */
		g->ze = an_sim_rng_normal(r), g->zn = an_sim_rng_normal(r), g->zu = an_sim_rng_normal(r);
		g->ce = an_sim_rng_normal(r), g->cn = an_sim_rng_normal(r);
		g->w_canopy = canopy ? 1.0 : 0.0;
		g->hdop = an_sim_rng_uniform(r, 0.8, 1.3);
		g->started = true;
	} else {
		g->ze = gm(r, g->ze, dt_s, g->tau_s);
		g->zn = gm(r, g->zn, dt_s, g->tau_s);
		g->zu = gm(r, g->zu, dt_s, g->tau_s);
		g->ce = gm(r, g->ce, dt_s, g->canopy_tau_s);
		g->cn = gm(r, g->cn, dt_s, g->canopy_tau_s);
		double dw = dt_s / CANOPY_RAMP_S;
		g->w_canopy = canopy ? fmin(1.0, g->w_canopy + dw) : fmax(0.0, g->w_canopy - dw);
		g->hdop = fmin(1.6, fmax(0.7, g->hdop + 0.01 * an_sim_rng_normal(r)));
	}
	double w = g->w_canopy, sx = w * g->canopy_sigma_m;
	o->de_m = g->sigma_m * g->ze + sx * g->ce;
	o->dn_m = g->sigma_m * g->zn + sx * g->cn;
	o->sigma_e_m = o->sigma_n_m = sqrt(g->sigma_m * g->sigma_m + sx * sx);
	o->sigma_u_m = VERT_PER_HORIZ * o->sigma_e_m;
	o->du_m = o->sigma_u_m * g->zu;
	o->hdop = g->hdop * (1.0 + 2.0 * w);
	double ns = 17.0 - 4.0 * g->hdop - 6.0 * w;
	o->nsat = (uint8_t)(ns < 4.0 ? 4 : ns > 20.0 ? 20 : (int)ns);
	/* fix loss in bursts under canopy (mean burst 1/0.3 ≈ 3 s): collar data under trees have gaps (§5.5) */
	double u = an_sim_rng_unit(r);
	if (w > 0.5)
		g->lost = g->lost ? u >= 0.3 : u < g->fix_loss;
	else
		g->lost = false;
	o->fix = !g->lost;
	o->quality = !o->fix ? 0 : w > 0.0 ? 1 : rx_quality(g->rx);
}

/* ------------------------------------------------------------------ NMEA text */
struct out {
	char *buf;
	size_t cap, len;
	bool overflow;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	if (o->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->overflow = true;
		return;
	}
	o->len += (size_t)n;
}

/* Close the sentence that starts at `start`: "*hh\r\n". */
static void seal(struct out *o, size_t start)
{
	if (o->overflow)
		return;
	uint8_t cs = 0;
	for (size_t i = start + 1; i < o->len; i++)
		cs ^= (uint8_t)o->buf[i];
	put(o, "*%02X\r\n", cs);
}

/* ddmm.mmmmm / dddmm.mmmmm with `dec` decimals of minutes; *e7 gets the printed value in 1e-7 degrees. */
static void put_angle(struct out *o, double deg, int width, int dec, char pos, char neg, int32_t *e7)
{
	int64_t scale = 1;
	for (int i = 0; i < dec; i++)
		scale *= 10;
	int64_t total = llround(fabs(deg) * 60.0 * (double)scale); /* in units of 10^-dec minutes */
	int64_t per_deg = 60 * scale;
	int64_t d = total / per_deg, rem = total % per_deg;
	put(o, ",%0*lld%02lld.%0*lld,%c", width, (long long)d, (long long)(rem / scale), dec, (long long)(rem % scale),
	    deg < 0 ? neg : pos);
	int64_t v = (total * 10000000 + per_deg / 2) / per_deg; /* half away from zero, as cf_nmea rounds */
	if (e7)
		*e7 = (int32_t)(deg < 0 ? -v : v);
}

int an_sim_nmea_format(const struct an_sim_nmea_in *in, char *buf, size_t cap, int32_t *lat_e7, int32_t *lon_e7)
{
	if (!in || !buf || cap == 0 || in->rx < 0 || in->rx >= AN_SIM_RX_COUNT || !isfinite(in->lat_deg) ||
	    !isfinite(in->lon_deg) || fabs(in->lat_deg) > 90.0 || fabs(in->lon_deg) > 180.0 || in->utc_ms < 0)
		return -EINVAL;
	struct out o = {buf, cap, 0, false};
	bool rtk = in->rx == AN_SIM_RX_RTK_FLOAT || in->rx == AN_SIM_RX_RTK_FIXED;
	const char *tk = rtk ? "GN" : "GP"; /* RTK modules are multi-constellation; u-blox M8 GPS-only says GP */
	int dec = rtk ? 7 : 5;
	int64_t tod = in->utc_ms % 86400000;
	int y, mo, d;
	sim_civil_from_days(in->utc_ms / 86400000, &y, &mo, &d);
	int hh = (int)(tod / 3600000), mi = (int)(tod / 60000 % 60), ss = (int)(tod / 1000 % 60),
	    cs = (int)(tod % 1000 / 10);
	const struct an_sim_gnss_out *g = &in->g;
	bool fix = g->fix;
	char mode = !fix ? 'N' : g->quality == 4 ? 'R' : g->quality == 5 ? 'F' : g->quality == 2 ? 'D' : 'A';
	double kn = in->sog_m_s * 3600.0 / 1852.0, kmh = in->sog_m_s * 3.6;
	double cog = fmod(in->cog_deg + 360.0, 360.0);
	int32_t dummy;
	size_t s;
	/* RMC */
	s = o.len;
	put(&o, "$%sRMC,%02d%02d%02d.%02d,%c", tk, hh, mi, ss, cs, fix ? 'A' : 'V');
	if (fix) {
		put_angle(&o, in->lat_deg, 2, dec, 'N', 'S', lat_e7 ? lat_e7 : &dummy);
		put_angle(&o, in->lon_deg, 3, dec, 'E', 'W', lon_e7 ? lon_e7 : &dummy);
		put(&o, ",%.3f,%.2f", kn, cog);
	} else {
		put(&o, ",,,,,,");
	}
	put(&o, ",%02d%02d%02d,,,%c", d, mo, y % 100, mode);
	seal(&o, s);
	/* VTG */
	s = o.len;
	if (fix)
		put(&o, "$%sVTG,%.2f,T,,M,%.3f,N,%.3f,K,%c", tk, cog, kn, kmh, mode);
	else
		put(&o, "$%sVTG,,T,,M,,N,,K,N", tk);
	seal(&o, s);
	/* GGA */
	s = o.len;
	put(&o, "$%sGGA,%02d%02d%02d.%02d", tk, hh, mi, ss, cs);
	if (fix) {
		put_angle(&o, in->lat_deg, 2, dec, 'N', 'S', &dummy);
		put_angle(&o, in->lon_deg, 3, dec, 'E', 'W', &dummy);
		put(&o, ",%u,%02u,%.2f,%.*f,M,%.*f,M,", g->quality, g->nsat, g->hdop, rtk ? 3 : 1, in->alt_msl_m,
		    rtk ? 3 : 1, in->geoid_sep_m);
		if (g->quality == 2 || g->quality == 4 || g->quality == 5)
			put(&o, "1.0,0000");
		else
			put(&o, ",");
	} else {
		put(&o, ",,,,,0,00,99.99,,,,,,");
	}
	seal(&o, s);
	/* GSA: satellites used (PRNs are placeholders: the collar does not use them) */
	s = o.len;
	put(&o, "$%sGSA,A,%d", tk, fix ? 3 : 1);
	for (unsigned k = 0; k < 12; k++) {
		if (fix && k < g->nsat)
			put(&o, ",%02u", 2u + 3u * k);
		else
			put(&o, ",");
	}
	if (fix)
		put(&o, ",%.2f,%.2f,%.2f", g->hdop * 1.6, g->hdop, g->hdop * 1.3);
	else
		put(&o, ",99.99,99.99,99.99");
	seal(&o, s);
	/* GST: σ of the model, so h_acc from GST is exactly the simulated error's DRMS */
	if (fix) {
		s = o.len;
		double smaj = fmax(g->sigma_e_m, g->sigma_n_m), smin = fmin(g->sigma_e_m, g->sigma_n_m);
		double orient = g->sigma_n_m >= g->sigma_e_m ? 0.0 : 90.0;
		put(&o, "$%sGST,%02d%02d%02d.%02d,%.3f,%.3f,%.3f,%.1f,%.3f,%.3f,%.3f", tk, hh, mi, ss, cs,
		    hypot(g->sigma_e_m, g->sigma_n_m), smaj, smin, orient, g->sigma_n_m, g->sigma_e_m, g->sigma_u_m);
		seal(&o, s);
	}
	if (o.overflow)
		return -ENOSPC;
	return (int)o.len;
}

int an_sim_nmea_collar(const struct an_sim_world *w, uint32_t a, an_sim_nmea_sink sink, void *ctx)
{
	if (!w || a >= w->n_animals || !sink)
		return -EINVAL;
	const struct an_sim_animal *an = &w->animals[a];
	const struct an_sim_track *tr = &w->tracks[a];
	struct an_sim_gnss g;
	int r = an_sim_gnss_init(&g, an->p.rx, an->p.cep_m, an->p.tau_s, w->sc.canopy_cep_m, w->sc.canopy_fix_loss,
				 w->seed, SIM_STREAM_GNSS(a));
	if (r < 0)
		return r;
	struct an_sim_rng vr;
	an_sim_rng_init(&vr, w->seed, SIM_STREAM_GNSS(a) + 0x80u);
	double v_sd = an->p.rx >= AN_SIM_RX_RTK_FLOAT ? 0.02 : 0.05; /* Doppler speed noise, m/s: ASSUMPTION */
	int64_t t0 = (an->on_utc_ms + 999) / 1000 * 1000;
	size_t hint = 0;
	double last_cog = 0.0;
	char buf[1024];
	for (int64_t t = t0; t <= an->off_utc_ms; t += 1000) {
		int64_t e, n, e2, n2;
		if ((r = an_sim_track_at(tr, t, &hint, &e, &n, NULL)) < 0)
			return r;
		size_t h2 = hint;
		int64_t tn = t + 1000 <= an->off_utc_ms ? t + 1000 : t;
		if ((r = an_sim_track_at(tr, tn, &h2, &e2, &n2, NULL)) < 0)
			return r;
		struct an_sim_epoch ep = {.utc_ms = t, .true_e_mm = e, .true_n_mm = n};
		ep.canopy = an_sim_in_canopy(&w->sc, e, n);
		an_sim_gnss_step(&g, 1.0, ep.canopy, &ep.g);
		double ve = (double)(e2 - e) / 1000.0 + v_sd * an_sim_rng_normal(&vr);
		double vn = (double)(n2 - n) / 1000.0 + v_sd * an_sim_rng_normal(&vr);
		double sog = hypot(ve, vn);
		if (sog > 0.15)
			last_cog = atan2(ve, vn) * 180.0 / SIM_PI;
		struct an_geo_enu te = {e, n, 0}, me = {e + llround(ep.g.de_m * 1000.0), n + llround(ep.g.dn_m * 1000.0),
							 llround(ep.g.du_m * 1000.0)};
		double h_true, lat, lon, h;
		if ((r = an_geo_enu_to_deg(&w->origin, &te, &ep.true_lat_deg, &ep.true_lon_deg, &h_true)) < 0 ||
		    (r = an_geo_enu_to_deg(&w->origin, &me, &lat, &lon, &h)) < 0)
			return r;
		struct an_sim_nmea_in in = {.utc_ms = t, .lat_deg = lat, .lon_deg = lon, .alt_msl_m = h,
					    .geoid_sep_m = w->sc.geoid_sep_m, .sog_m_s = sog, .cog_deg = last_cog,
					    .g = ep.g, .rx = an->p.rx};
		int len = an_sim_nmea_format(&in, buf, sizeof buf, &ep.out_lat_e7, &ep.out_lon_e7);
		if (len < 0)
			return len;
		if ((r = sink(ctx, buf, (size_t)len, &ep)) < 0)
			return r;
	}
	return 0;
}
