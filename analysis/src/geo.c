/*
 * analysis/src/geo.c — WGS84 ↔ ECEF ↔ local ENU (integer mm) and the box frame. Method and error budget
 * in an/geo.h. Plain IEEE double arithmetic (the build forbids -ffast-math).
 */
#include "an/geo.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>

#define WGS84_A_M 6378137.0
#define WGS84_F (1.0 / 298.257223563)
#define WGS84_B_M (WGS84_A_M * (1.0 - WGS84_F))
#define WGS84_E2 (WGS84_F * (2.0 - WGS84_F))                /* first eccentricity squared */
#define WGS84_EP2 (WGS84_E2 / (1.0 - WGS84_E2))             /* second eccentricity squared */
#define PI_D 3.14159265358979323846
#define DEG2RAD (PI_D / 180.0)
#define RAD2DEG (180.0 / PI_D)

static bool geo_ok(double lat_deg, double lon_deg, double h_m)
{
	/* ±100 km of height covers any receiver on or above the ground; the inverse is verified there. */
	return isfinite(lat_deg) && isfinite(lon_deg) && isfinite(h_m) && lat_deg >= -90.0 && lat_deg <= 90.0 &&
	       lon_deg >= -180.0 && lon_deg <= 180.0 && fabs(h_m) <= 100000.0;
}

static bool e7_ok(int32_t lat_e7, int32_t lon_e7)
{
	return lat_e7 >= -900000000 && lat_e7 <= 900000000 && lon_e7 >= -1800000000 && lon_e7 <= 1800000000;
}

static double alt_m(int32_t alt_mm)
{
	return alt_mm == AN_GEO_ALT_UNKNOWN ? 0.0 : (double)alt_mm / 1000.0;
}

int an_geo_to_ecef(double lat_deg, double lon_deg, double h_m, double *x_m, double *y_m, double *z_m)
{
	if (x_m == NULL || y_m == NULL || z_m == NULL || !geo_ok(lat_deg, lon_deg, h_m))
		return -EINVAL;
	double sl = sin(lat_deg * DEG2RAD), cl = cos(lat_deg * DEG2RAD);
	double n = WGS84_A_M / sqrt(1.0 - WGS84_E2 * sl * sl); /* prime-vertical radius of curvature */
	*x_m = (n + h_m) * cl * cos(lon_deg * DEG2RAD);
	*y_m = (n + h_m) * cl * sin(lon_deg * DEG2RAD);
	*z_m = (n * (1.0 - WGS84_E2) + h_m) * sl;
	return 0;
}

int an_geo_from_ecef(double x_m, double y_m, double z_m, double *lat_deg, double *lon_deg, double *h_m)
{
	if (lat_deg == NULL || lon_deg == NULL || h_m == NULL || !isfinite(x_m) || !isfinite(y_m) ||
	    !isfinite(z_m))
		return -EINVAL;
	double p = hypot(x_m, y_m);
	if (hypot(p, z_m) < 1000.0)
		return -EINVAL;
	/* Bowring (1976): iterate on the parametric latitude beta. Convergence is cubic near the
	 * ellipsoid, so three rounds take a 1e-3 rad start below double resolution; a fixed count keeps
	 * the result independent of any tolerance test. */
	double beta = atan2(z_m, (1.0 - WGS84_F) * p);
	double lat = 0.0;
	for (int i = 0; i < 3; i++) {
		double sb = sin(beta), cb = cos(beta);
		lat = atan2(z_m + WGS84_EP2 * WGS84_B_M * sb * sb * sb, p - WGS84_E2 * WGS84_A_M * cb * cb * cb);
		beta = atan2((1.0 - WGS84_F) * sin(lat), cos(lat));
	}
	double sl = sin(lat), cl = cos(lat);
	double n = WGS84_A_M / sqrt(1.0 - WGS84_E2 * sl * sl);
	/* This form of h is well conditioned at every latitude (p/cos lat is not near the poles). */
	*h_m = p * cl + (z_m + WGS84_E2 * n * sl) * sl - n;
	*lat_deg = lat * RAD2DEG;
	*lon_deg = atan2(y_m, x_m) * RAD2DEG;
	return 0;
}

int an_geo_origin_init(struct an_geo_origin *o, int32_t lat_e7, int32_t lon_e7, int32_t alt_mm)
{
	if (o == NULL || !e7_ok(lat_e7, lon_e7))
		return -EINVAL;
	double lat = (double)lat_e7 * 1e-7, lon = (double)lon_e7 * 1e-7;
	o->lat_e7 = lat_e7;
	o->lon_e7 = lon_e7;
	o->alt_mm = alt_mm;
	o->sin_lat = sin(lat * DEG2RAD);
	o->cos_lat = cos(lat * DEG2RAD);
	o->sin_lon = sin(lon * DEG2RAD);
	o->cos_lon = cos(lon * DEG2RAD);
	return an_geo_to_ecef(lat, lon, alt_m(alt_mm), &o->x_m, &o->y_m, &o->z_m);
}

/* Round half away from zero to an integer mm, refusing anything beyond the frame's range. */
static int to_mm(double m, int64_t *out)
{
	double mm = round(m * 1000.0);
	if (!(fabs(mm) <= (double)AN_GEO_RANGE_MAX_MM))
		return -ERANGE;
	*out = (int64_t)mm;
	return 0;
}

int an_geo_enu_from_deg(const struct an_geo_origin *o, double lat_deg, double lon_deg, double h_m,
                        struct an_geo_enu *out)
{
	if (o == NULL || out == NULL)
		return -EINVAL;
	double x, y, z;
	int err = an_geo_to_ecef(lat_deg, lon_deg, h_m, &x, &y, &z);
	if (err < 0)
		return err;
	double dx = x - o->x_m, dy = y - o->y_m, dz = z - o->z_m;
	double e = -o->sin_lon * dx + o->cos_lon * dy;
	double n = -o->sin_lat * o->cos_lon * dx - o->sin_lat * o->sin_lon * dy + o->cos_lat * dz;
	double u = o->cos_lat * o->cos_lon * dx + o->cos_lat * o->sin_lon * dy + o->sin_lat * dz;
	struct an_geo_enu r;
	if (to_mm(e, &r.e_mm) < 0 || to_mm(n, &r.n_mm) < 0 || to_mm(u, &r.u_mm) < 0)
		return -ERANGE;
	*out = r;
	return 0;
}

int an_geo_enu_from_e7(const struct an_geo_origin *o, int32_t lat_e7, int32_t lon_e7, int32_t alt_mm,
                       struct an_geo_enu *out)
{
	if (o == NULL || !e7_ok(lat_e7, lon_e7))
		return -EINVAL;
	double h = alt_mm == AN_GEO_ALT_UNKNOWN ? alt_m(o->alt_mm) : alt_m(alt_mm);
	return an_geo_enu_from_deg(o, (double)lat_e7 * 1e-7, (double)lon_e7 * 1e-7, h, out);
}

static bool enu_ok(const struct an_geo_enu *p)
{
	return p->e_mm >= -AN_GEO_RANGE_MAX_MM && p->e_mm <= AN_GEO_RANGE_MAX_MM &&
	       p->n_mm >= -AN_GEO_RANGE_MAX_MM && p->n_mm <= AN_GEO_RANGE_MAX_MM &&
	       p->u_mm >= -AN_GEO_RANGE_MAX_MM && p->u_mm <= AN_GEO_RANGE_MAX_MM;
}

int an_geo_enu_to_deg(const struct an_geo_origin *o, const struct an_geo_enu *in, double *lat_deg,
                      double *lon_deg, double *h_m)
{
	if (o == NULL || in == NULL || lat_deg == NULL || lon_deg == NULL || h_m == NULL)
		return -EINVAL;
	if (!enu_ok(in))
		return -ERANGE;
	double e = (double)in->e_mm / 1000.0, n = (double)in->n_mm / 1000.0, u = (double)in->u_mm / 1000.0;
	/* The ENU rotation is orthonormal: its inverse is its transpose. */
	double dx = -o->sin_lon * e - o->sin_lat * o->cos_lon * n + o->cos_lat * o->cos_lon * u;
	double dy = o->cos_lon * e - o->sin_lat * o->sin_lon * n + o->cos_lat * o->sin_lon * u;
	double dz = o->cos_lat * n + o->sin_lat * u;
	return an_geo_from_ecef(o->x_m + dx, o->y_m + dy, o->z_m + dz, lat_deg, lon_deg, h_m);
}

int an_geo_enu_to_e7(const struct an_geo_origin *o, const struct an_geo_enu *in, int32_t *lat_e7,
                     int32_t *lon_e7, int32_t *alt_mm)
{
	if (lat_e7 == NULL || lon_e7 == NULL || alt_mm == NULL)
		return -EINVAL;
	double lat, lon, h;
	int err = an_geo_enu_to_deg(o, in, &lat, &lon, &h);
	if (err < 0)
		return err;
	double la = round(lat * 1e7), lo = round(lon * 1e7), hm = round(h * 1000.0);
	if (lo > 1800000000.0)
		lo -= 3600000000.0;
	else if (lo < -1800000000.0)
		lo += 3600000000.0;
	if (!(fabs(hm) <= 2147483647.0) || hm == (double)AN_GEO_ALT_UNKNOWN)
		return -ERANGE;
	*lat_e7 = (int32_t)la;
	*lon_e7 = (int32_t)lo;
	*alt_mm = (int32_t)hm;
	return 0;
}

/* ---- box frame ---------------------------------------------------------------------------------------- */

int an_geo_box_init(struct an_geo_box *b, const struct an_geo_enu *p0, const struct an_geo_enu *p_along,
                    const struct an_geo_enu *p_across, uint32_t lane_width_mm, uint32_t lane_count)
{
	if (b == NULL || p0 == NULL || p_along == NULL || p_across == NULL || lane_width_mm == 0 ||
	    lane_count == 0 || !enu_ok(p0) || !enu_ok(p_along) || !enu_ok(p_across))
		return -EINVAL;
	/* Differences of in-range coordinates are < 2^31·2 and exact in double. */
	double ae = (double)(p_along->e_mm - p0->e_mm), an = (double)(p_along->n_mm - p0->n_mm);
	double ce = (double)(p_across->e_mm - p0->e_mm), cn = (double)(p_across->n_mm - p0->n_mm);
	double len = hypot(ae, an), clen = hypot(ce, cn);
	if (len < 1.0 || clen < 1.0)
		return -EINVAL;
	double ua_e = ae / len, ua_n = an / len;
	if (fabs((ua_e * ce + ua_n * cn) / clen) > AN_GEO_BOX_SQUARE_TOL)
		return -EINVAL;
	int64_t width = (int64_t)lane_width_mm * (int64_t)lane_count;
	if (width > AN_GEO_RANGE_MAX_MM)
		return -EINVAL;
	double tol = fmax((double)AN_GEO_BOX_WIDTH_TOL_MM, (double)width * AN_GEO_BOX_WIDTH_TOL_PERMIL / 1000.0);
	if (fabs(clen - (double)width) > tol)
		return -EINVAL;
	/* The across axis is the along axis turned ±90°, the sign chosen by the side p_across lies on, so
	 * both boxes (lanes stacked to the left or to the right of p0→p_along) work. */
	double side = ua_e * cn - ua_n * ce; /* z of along × across */
	b->p0_e_mm = p0->e_mm;
	b->p0_n_mm = p0->n_mm;
	b->ua_e = ua_e;
	b->ua_n = ua_n;
	b->uc_e = side > 0 ? -ua_n : ua_n;
	b->uc_n = side > 0 ? ua_e : -ua_e;
	b->lane_len_mm = (int64_t)llround(len);
	b->width_mm = width;
	b->lane_width_mm = lane_width_mm;
	b->lane_count = lane_count;
	return 0;
}

static int64_t floor_div(int64_t a, int64_t b) /* b > 0 */
{
	int64_t q = a / b;
	return (a % b != 0 && a < 0) ? q - 1 : q;
}

int an_geo_box_locate(const struct an_geo_box *b, int64_t e_mm, int64_t n_mm, uint32_t h_acc_mm,
                      struct an_geo_box_pos *out)
{
	if (b == NULL || out == NULL || e_mm < -AN_GEO_RANGE_MAX_MM || e_mm > AN_GEO_RANGE_MAX_MM ||
	    n_mm < -AN_GEO_RANGE_MAX_MM || n_mm > AN_GEO_RANGE_MAX_MM)
		return -EINVAL;
	double de = (double)(e_mm - b->p0_e_mm), dn = (double)(n_mm - b->p0_n_mm);
	int64_t along = (int64_t)llround(de * b->ua_e + dn * b->ua_n);
	int64_t across = (int64_t)llround(de * b->uc_e + dn * b->uc_n);
	int64_t w = (int64_t)b->lane_width_mm;
	int64_t lane = floor_div(across, w);
	if (across == b->width_mm)
		lane = (int64_t)b->lane_count - 1; /* the far edge belongs to the last lane, not to lane_count */
	/* Beyond ±2^31 lanes the index is meaningless; saturate (the point is far outside anyway). */
	if (lane > INT32_MAX)
		lane = INT32_MAX;
	if (lane < INT32_MIN)
		lane = INT32_MIN;
	/* offset from the lane's centre line: across - (lane + 1/2)·w, in exact integers via 2× */
	int64_t offset2 = 2 * across - (2 * lane + 1) * w;
	out->offset_mm = offset2 >= 0 ? offset2 / 2 : -((-offset2) / 2);
	out->along_mm = along;
	out->across_mm = across;
	out->lane = (int32_t)lane;
	out->h_acc_mm = h_acc_mm;
	out->inside = along >= 0 && along <= b->lane_len_mm && across >= 0 && across <= b->width_mm;
	if (out->inside) {
		int64_t m = along;
		if (b->lane_len_mm - along < m)
			m = b->lane_len_mm - along;
		if (across < m)
			m = across;
		if (b->width_mm - across < m)
			m = b->width_mm - across;
		out->margin_mm = m;
	} else {
		int64_t da = along < 0 ? -along : (along > b->lane_len_mm ? along - b->lane_len_mm : 0);
		int64_t dc = across < 0 ? -across : (across > b->width_mm ? across - b->width_mm : 0);
		out->margin_mm = -(int64_t)llround(hypot((double)da, (double)dc));
	}
	return 0;
}

int an_geo_box_to_enu(const struct an_geo_box *b, int64_t along_mm, int64_t across_mm, int64_t *e_mm,
                      int64_t *n_mm)
{
	if (b == NULL || e_mm == NULL || n_mm == NULL || along_mm < -AN_GEO_RANGE_MAX_MM ||
	    along_mm > AN_GEO_RANGE_MAX_MM || across_mm < -AN_GEO_RANGE_MAX_MM || across_mm > AN_GEO_RANGE_MAX_MM)
		return -EINVAL;
	double a = (double)along_mm, c = (double)across_mm;
	*e_mm = b->p0_e_mm + (int64_t)llround(a * b->ua_e + c * b->uc_e);
	*n_mm = b->p0_n_mm + (int64_t)llround(a * b->ua_n + c * b->uc_n);
	return 0;
}

int an_geo_box_patch_check(const struct an_geo_box *b, const struct an_geo_box_patch *p)
{
	if (b == NULL || p == NULL || p->lane_count == 0 || p->lane_first > b->lane_count ||
	    p->lane_count > b->lane_count - p->lane_first || p->along_lo_mm < 0 || p->along_lo_mm >= p->along_hi_mm ||
	    p->along_hi_mm > b->lane_len_mm + AN_GEO_BOX_PATCH_TOL_MM)
		return -EINVAL;
	return 0;
}

bool an_geo_box_patch_contains(const struct an_geo_box *b, const struct an_geo_box_patch *p, int64_t e_mm,
                               int64_t n_mm)
{
	struct an_geo_box_pos pos;
	if (p == NULL || an_geo_box_locate(b, e_mm, n_mm, 0, &pos) < 0)
		return false;
	int64_t w = (int64_t)b->lane_width_mm;
	return pos.along_mm >= p->along_lo_mm && pos.along_mm <= p->along_hi_mm &&
	       pos.across_mm >= (int64_t)p->lane_first * w &&
	       pos.across_mm <= ((int64_t)p->lane_first + (int64_t)p->lane_count) * w;
}
