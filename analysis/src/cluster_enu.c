/*
 * analysis/src/cluster_enu.c — WGS84 latitude/longitude → local east/north millimetres for clustering.
 *
 * geodetic → ECEF → ENU about an origin (method and accuracy in an/cluster.h). Plain double arithmetic
 * (the build forbids -ffast-math); the result is rounded to integer millimetres once and callers store
 * that integer, so clustering never depends on libm's last-ulp behaviour again.
 */
#include "an/cluster.h"

#include <errno.h>
#include <math.h>

#define WGS84_A_M 6378137.0
#define WGS84_F (1.0 / 298.257223563)
#define WGS84_E2 (WGS84_F * (2.0 - WGS84_F))
#define DEG2RAD (3.14159265358979323846 / 180.0)

static bool latlon_ok(double lat_deg, double lon_deg)
{
	return isfinite(lat_deg) && isfinite(lon_deg) && lat_deg >= -90.0 && lat_deg <= 90.0 &&
	       lon_deg >= -180.0 && lon_deg <= 180.0;
}

static void ecef(double lat_rad, double lon_rad, double *x, double *y, double *z)
{
	double sl = sin(lat_rad), cl = cos(lat_rad);
	double n = WGS84_A_M / sqrt(1.0 - WGS84_E2 * sl * sl); /* prime-vertical radius, h = 0 */
	*x = n * cl * cos(lon_rad);
	*y = n * cl * sin(lon_rad);
	*z = n * (1.0 - WGS84_E2) * sl;
}

int an_cluster_enu_init(struct an_cluster_enu *o, double lat0_deg, double lon0_deg)
{
	if (o == NULL || !latlon_ok(lat0_deg, lon0_deg))
		return -EINVAL;
	o->lat0_rad = lat0_deg * DEG2RAD;
	o->lon0_rad = lon0_deg * DEG2RAD;
	o->sin_lat0 = sin(o->lat0_rad);
	o->cos_lat0 = cos(o->lat0_rad);
	o->sin_lon0 = sin(o->lon0_rad);
	o->cos_lon0 = cos(o->lon0_rad);
	ecef(o->lat0_rad, o->lon0_rad, &o->x0_m, &o->y0_m, &o->z0_m);
	return 0;
}

int an_cluster_enu_mm(const struct an_cluster_enu *o, double lat_deg, double lon_deg, int64_t *east_mm,
		      int64_t *north_mm)
{
	if (o == NULL || east_mm == NULL || north_mm == NULL || !latlon_ok(lat_deg, lon_deg))
		return -EINVAL;
	double x, y, z;
	ecef(lat_deg * DEG2RAD, lon_deg * DEG2RAD, &x, &y, &z);
	double dx = x - o->x0_m, dy = y - o->y0_m, dz = z - o->z0_m;
	double e = -o->sin_lon0 * dx + o->cos_lon0 * dy;
	double n = -o->sin_lat0 * o->cos_lon0 * dx - o->sin_lat0 * o->sin_lon0 * dy + o->cos_lat0 * dz;
	double e_mm = round(e * 1000.0), n_mm = round(n * 1000.0);
	const double lim = (double)AN_CLUSTER_COORD_MAX_MM;
	if (!(fabs(e_mm) <= lim) || !(fabs(n_mm) <= lim))
		return -ERANGE;
	*east_mm = (int64_t)e_mm;
	*north_mm = (int64_t)n_mm;
	return 0;
}
