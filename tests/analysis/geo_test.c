/*
 * tests/analysis/geo_test.c — an_geo_*: published reference values, independent closed forms, round
 * trips within 50 km, and the box frame's edges, corners and outside points.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "an/geo.h"

#define M_PI 3.14159265358979323846 /* not in strict C11 <math.h> */

/* GeographicLib CartConvert(1) man page, EXAMPLES (printed to 1 cm):
 *   echo 33.3 44.4 6000 | CartConvert          => 3816209.60 3737108.55 3485109.57
 *   echo 33.3 44.4 6000 | CartConvert -l 33 44 20 => 37288.97 33374.29 5783.64 */
Test(an_geo, geographiclib_cartconvert_geocentric)
{
	double x, y, z;
	cr_assert_eq(an_geo_to_ecef(33.3, 44.4, 6000.0, &x, &y, &z), 0);
	cr_expect(fabs(x - 3816209.60) <= 0.005, "x %.4f", x);
	cr_expect(fabs(y - 3737108.55) <= 0.005, "y %.4f", y);
	cr_expect(fabs(z - 3485109.57) <= 0.005, "z %.4f", z);
	double lat, lon, h;
	cr_assert_eq(an_geo_from_ecef(3816209.60, 3737108.55, 3485109.57, &lat, &lon, &h), 0);
	/* the input is rounded to 5 mm, so lat/lon within 1e-7° (11 mm) and h within 5 mm */
	cr_expect(fabs(lat - 33.3) < 1e-7 && fabs(lon - 44.4) < 1e-7 && fabs(h - 6000.0) < 0.005,
	          "%.9f %.9f %.4f", lat, lon, h);
}

Test(an_geo, geographiclib_cartconvert_local)
{
	struct an_geo_origin o;
	cr_assert_eq(an_geo_origin_init(&o, 330000000, 440000000, 20000), 0);
	struct an_geo_enu p;
	cr_assert_eq(an_geo_enu_from_deg(&o, 33.3, 44.4, 6000.0, &p), 0);
	/* reference to 1 cm (±5 mm) plus our mm rounding (±0.5 mm) */
	cr_expect(llabs(p.e_mm - 37288970) <= 6, "e %lld", (long long)p.e_mm);
	cr_expect(llabs(p.n_mm - 33374290) <= 6, "n %lld", (long long)p.n_mm);
	/* The man page prints u = 5783.64, but the textbook ECEF→ENU evaluated in python3 gives 5783.6466 m
	 * (and e, n, x, y, z all agree with the page when rounded): the page's last digit of u looks truncated,
	 * not rounded. So u is checked against the python value, and against the page within 1 cm. */
	cr_expect(llabs(p.u_mm - 5783647) <= 1, "u %lld", (long long)p.u_mm);
	cr_expect(llabs(p.u_mm - 5783640) < 10, "u %lld", (long long)p.u_mm);
}

/* East offset along a parallel, height 0: ECEF gives exactly e = N(φ)·cos φ·sin Δλ (the chord's east
 * component), computed here from the ellipsoid alone. */
Test(an_geo, east_along_parallel_closed_form)
{
	const double a = 6378137.0, f = 1.0 / 298.257223563, e2 = f * (2.0 - f);
	const double lats[] = {-19.1, 0.0, 13.0, 45.0, 60.0};
	const double dlons[] = {0.0001, -0.01, 0.05, 0.3};
	for (size_t i = 0; i < sizeof lats / sizeof lats[0]; i++) {
		for (size_t j = 0; j < sizeof dlons / sizeof dlons[0]; j++) {
			struct an_geo_origin o;
			int32_t lat_e7 = (int32_t)lround(lats[i] * 1e7);
			cr_assert_eq(an_geo_origin_init(&o, lat_e7, 348000000, 0), 0);
			double phi = lats[i] * M_PI / 180.0;
			double n = a / sqrt(1.0 - e2 * sin(phi) * sin(phi));
			double want_mm = n * cos(phi) * sin(dlons[j] * M_PI / 180.0) * 1000.0;
			struct an_geo_enu p;
			cr_assert_eq(an_geo_enu_from_deg(&o, lats[i], 34.8 + dlons[j], 0.0, &p), 0);
			cr_expect(fabs((double)p.e_mm - want_mm) <= 0.5 + 1e-6, "lat %g dlon %g: e %lld want %.3f", lats[i],
			          dlons[j], (long long)p.e_mm, want_mm);
		}
	}
}

/* North offset along a meridian vs the meridian arc length, integrated numerically (Simpson, 20000
 * intervals of M(φ) = a(1-e²)/(1-e² sin²φ)^1.5) by python3 — an independent route. The ENU north value is
 * the chord's projection, shorter than the arc by s³/24R² + s·θ²/8: 0.001 mm at 1 km, 0.5 mm at 5 km. */
Test(an_geo, north_along_meridian_vs_arc_length)
{
	const struct {
		double lat0, dlat, arc_mm, tol_mm;
	} c[] = {
		{45.0, 0.009, 1000186.7882, 1.0},
		{13.0, -0.02, -2212608.0223, 1.0},
		{-19.0, 0.045, 4981131.0698, 1.5},
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		struct an_geo_origin o;
		cr_assert_eq(an_geo_origin_init(&o, (int32_t)lround(c[i].lat0 * 1e7), 100000000, 0), 0);
		struct an_geo_enu p;
		cr_assert_eq(an_geo_enu_from_deg(&o, c[i].lat0 + c[i].dlat, 10.0, 0.0, &p), 0);
		cr_expect(p.e_mm == 0, "e %lld", (long long)p.e_mm);
		cr_expect(fabs((double)p.n_mm - c[i].arc_mm) <= c[i].tol_mm, "lat0 %g: n %lld arc %.4f", c[i].lat0,
		          (long long)p.n_mm, c[i].arc_mm);
	}
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}
static int64_t rng_range(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
}

/* ENU → WGS84 (double) → ENU reproduces every point within 50 km to the millimetre, at several latitudes,
 * across the antimeridian and near a pole. */
Test(an_geo, round_trip_enu_within_50km_is_exact_to_1mm)
{
	const int32_t origins[][3] = {
		{-191000000, 348000000, 12000},   /* Mozambique */
		{130000000, 1040000000, 5000},    /* Cambodia */
		{443000000, 178000000, 500000},   /* Bosnia */
		{600000000, 250000000, 0},
		{0, 1799500000, 0},               /* the antimeridian is 5.6 km east */
		{895000000, 0, 0},                /* 55 km from the pole */
		{-350000000, -580000000, -30000},
	};
	int64_t worst = 0;
	for (size_t k = 0; k < sizeof origins / sizeof origins[0]; k++) {
		struct an_geo_origin o;
		cr_assert_eq(an_geo_origin_init(&o, origins[k][0], origins[k][1], origins[k][2]), 0);
		for (int i = 0; i < 2000; i++) {
			struct an_geo_enu p = {rng_range(-50000000, 50000000), rng_range(-50000000, 50000000),
			                       rng_range(-200000, 500000)};
			double lat, lon, h;
			cr_assert_eq(an_geo_enu_to_deg(&o, &p, &lat, &lon, &h), 0);
			struct an_geo_enu q;
			cr_assert_eq(an_geo_enu_from_deg(&o, lat, lon, h, &q), 0, "origin %zu point %d", k, i);
			int64_t d = llabs(q.e_mm - p.e_mm);
			d = llabs(q.n_mm - p.n_mm) > d ? llabs(q.n_mm - p.n_mm) : d;
			d = llabs(q.u_mm - p.u_mm) > d ? llabs(q.u_mm - p.u_mm) : d;
			worst = d > worst ? d : worst;
			cr_assert(d <= 1, "origin %zu: (%lld, %lld, %lld) came back as (%lld, %lld, %lld)", k,
			          (long long)p.e_mm, (long long)p.n_mm, (long long)p.u_mm, (long long)q.e_mm,
			          (long long)q.n_mm, (long long)q.u_mm);
		}
	}
	cr_log_info("worst ENU round-trip error: %lld mm", (long long)worst);
}

/* The inverse (Bowring, 3 fixed rounds) everywhere on Earth, heights ±100 km: back to ECEF within 1e-8 m. */
Test(an_geo, ecef_inverse_is_exact_worldwide)
{
	double worst = 0.0;
	for (int i = 0; i < 50000; i++) {
		double lat = -90.0 + 180.0 * (double)(rng() % 1000001) / 1e6;
		double lon = -180.0 + 360.0 * (double)(rng() % 1000001) / 1e6;
		double h = (double)rng_range(-100000000, 100000000) / 1000.0;
		double x, y, z, la, lo, hh, x2, y2, z2;
		cr_assert_eq(an_geo_to_ecef(lat, lon, h, &x, &y, &z), 0);
		cr_assert_eq(an_geo_from_ecef(x, y, z, &la, &lo, &hh), 0);
		cr_assert_eq(an_geo_to_ecef(la, lo, hh, &x2, &y2, &z2), 0);
		double d = sqrt((x - x2) * (x - x2) + (y - y2) * (y - y2) + (z - z2) * (z - z2));
		worst = d > worst ? d : worst;
		cr_assert(d < 1e-8, "lat %.9f lon %.9f h %.3f: %.3g m", lat, lon, h, d);
		cr_assert(fabs(hh - h) < 1e-8, "h %.6f vs %.6f", hh, h);
	}
	cr_log_info("worst ECEF round trip: %.3g m", worst);
}

/* Through degE7 the quantisation (1e-7° = 11.1 mm of latitude) dominates: ±5.6 mm north, ±5.6·cos φ east,
 * plus the 0.5 mm rounding of each way. */
Test(an_geo, round_trip_through_e7_is_within_quantisation)
{
	struct an_geo_origin o;
	cr_assert_eq(an_geo_origin_init(&o, 443000000, 178000000, 500000), 0);
	double coslat = cos(44.3 * M_PI / 180.0);
	for (int i = 0; i < 5000; i++) {
		struct an_geo_enu p = {rng_range(-20000000, 20000000), rng_range(-20000000, 20000000), 0};
		int32_t lat_e7, lon_e7, alt_mm;
		cr_assert_eq(an_geo_enu_to_e7(&o, &p, &lat_e7, &lon_e7, &alt_mm), 0);
		struct an_geo_enu q;
		cr_assert_eq(an_geo_enu_from_e7(&o, lat_e7, lon_e7, alt_mm, &q), 0);
		cr_assert(llabs(q.n_mm - p.n_mm) <= 7, "n %lld vs %lld", (long long)q.n_mm, (long long)p.n_mm);
		cr_assert((double)llabs(q.e_mm - p.e_mm) <= 5.6 * coslat + 1.5, "e %lld vs %lld", (long long)q.e_mm,
		          (long long)p.e_mm);
	}
}

Test(an_geo, origin_maps_to_zero_and_unknown_alt_uses_origin_height)
{
	struct an_geo_origin o;
	cr_assert_eq(an_geo_origin_init(&o, -191234567, 348765432, 250000), 0);
	struct an_geo_enu p;
	cr_assert_eq(an_geo_enu_from_e7(&o, -191234567, 348765432, AN_GEO_ALT_UNKNOWN, &p), 0);
	cr_expect(p.e_mm == 0 && p.n_mm == 0 && p.u_mm == 0);
	cr_assert_eq(an_geo_enu_from_e7(&o, -191234567, 348765432, 260000, &p), 0);
	cr_expect(p.e_mm == 0 && p.n_mm == 0 && p.u_mm == 10000);
}

Test(an_geo, refuses_bad_input_and_far_points)
{
	struct an_geo_origin o;
	cr_expect_eq(an_geo_origin_init(&o, 900000001, 0, 0), -EINVAL);
	cr_expect_eq(an_geo_origin_init(&o, 0, -1800000001, 0), -EINVAL);
	cr_expect_eq(an_geo_origin_init(NULL, 0, 0, 0), -EINVAL);
	cr_assert_eq(an_geo_origin_init(&o, 0, 0, 0), 0);
	struct an_geo_enu p = {1, 2, 3};
	cr_expect_eq(an_geo_enu_from_deg(&o, NAN, 0.0, 0.0, &p), -EINVAL);
	cr_expect_eq(an_geo_enu_from_deg(&o, 0.0, 0.0, INFINITY, &p), -EINVAL);
	/* 20° of longitude away is ~2200 km: beyond the frame's 1000 km, out untouched */
	cr_expect_eq(an_geo_enu_from_deg(&o, 0.0, 20.0, 0.0, &p), -ERANGE);
	cr_expect(p.e_mm == 1 && p.n_mm == 2 && p.u_mm == 3);
	struct an_geo_enu far = {AN_GEO_RANGE_MAX_MM + 1, 0, 0};
	double lat, lon, h;
	cr_expect_eq(an_geo_enu_to_deg(&o, &far, &lat, &lon, &h), -ERANGE);
	cr_expect_eq(an_geo_from_ecef(1.0, 1.0, 1.0, &lat, &lon, &h), -EINVAL);
}

/* ---- box frame ------------------------------------------------------------------------------------- */

/* APOPO rat box: lanes 5 m long (the rope's span), 40 lanes of 0.5 m stacked along the 20 m side. Axis
 * aligned (lanes run east, stacked north) so every expected value is exact. */
static struct an_geo_box rat_box(void)
{
	struct an_geo_enu p0 = {1000, 2000, 0}, pa = {6000, 2000, 0}, pc = {1000, 22000, 0};
	struct an_geo_box b;
	cr_assert_eq(an_geo_box_init(&b, &p0, &pa, &pc, 500, 40), 0);
	return b;
}

static struct an_geo_box_pos locate(const struct an_geo_box *b, int64_t e, int64_t n)
{
	struct an_geo_box_pos p;
	cr_assert_eq(an_geo_box_locate(b, e, n, 2500, &p), 0);
	return p;
}

Test(an_geo_box, corners_are_inside_with_zero_margin)
{
	struct an_geo_box b = rat_box();
	cr_expect_eq(b.lane_len_mm, 5000);
	cr_expect_eq(b.width_mm, 20000);
	struct an_geo_box_pos p = locate(&b, 1000, 2000); /* p0 */
	cr_expect(p.inside && p.lane == 0 && p.along_mm == 0 && p.across_mm == 0 && p.margin_mm == 0);
	cr_expect_eq(p.offset_mm, -250);
	cr_expect_eq(p.h_acc_mm, 2500);
	p = locate(&b, 6000, 2000); /* p_along: end of lane 0 */
	cr_expect(p.inside && p.lane == 0 && p.along_mm == 5000 && p.margin_mm == 0);
	p = locate(&b, 1000, 22000); /* p_across: the far edge belongs to the last lane */
	cr_expect(p.inside && p.lane == 39 && p.across_mm == 20000 && p.margin_mm == 0, "lane %d", p.lane);
	cr_expect_eq(p.offset_mm, 250);
	p = locate(&b, 6000, 22000); /* the implied fourth corner */
	cr_expect(p.inside && p.lane == 39 && p.along_mm == 5000 && p.margin_mm == 0);
}

Test(an_geo_box, lanes_boundaries_and_offsets)
{
	struct an_geo_box b = rat_box();
	struct an_geo_box_pos p = locate(&b, 3500, 2250); /* centre of lane 0 */
	cr_expect(p.lane == 0 && p.offset_mm == 0 && p.along_mm == 2500 && p.margin_mm == 250);
	p = locate(&b, 3500, 2499); /* last mm of lane 0 */
	cr_expect(p.lane == 0 && p.offset_mm == 249);
	p = locate(&b, 3500, 2500); /* a lane boundary belongs to the lane above it */
	cr_expect(p.lane == 1 && p.offset_mm == -250);
	p = locate(&b, 3500, 2000 + 19 * 500 + 250); /* centre of lane 19 */
	cr_expect(p.lane == 19 && p.offset_mm == 0 && p.margin_mm == 2500);
	p = locate(&b, 3500, 12000); /* the middle of the box: 10 m from the p0 side, 2.5 m from the ends */
	cr_expect(p.lane == 20 && p.margin_mm == 2500 && p.inside);
}

Test(an_geo_box, outside_points_get_negative_margin_and_lane_beyond)
{
	struct an_geo_box b = rat_box();
	struct an_geo_box_pos p = locate(&b, 900, 3000); /* 100 mm before the start of the lanes */
	cr_expect(!p.inside && p.along_mm == -100 && p.margin_mm == -100 && p.lane == 2);
	p = locate(&b, 3500, 1999); /* 1 mm below lane 0 */
	cr_expect(!p.inside && p.lane == -1 && p.margin_mm == -1 && p.offset_mm == 249);
	p = locate(&b, 3500, 22001); /* 1 mm past the far edge */
	cr_expect(!p.inside && p.lane == 40 && p.margin_mm == -1);
	p = locate(&b, 1000 - 300, 2000 - 400); /* diagonally off the p0 corner: 3-4-5 */
	cr_expect(!p.inside && p.margin_mm == -500);
	p = locate(&b, 6000 + 3000, 22000 + 4000); /* off the fourth corner */
	cr_expect(!p.inside && p.margin_mm == -5000);
}

/* A rotated box (lanes at 30° north of east) and its mirror image (lanes stacked to the right): the
 * mapping round-trips through an_geo_box_to_enu to the mm, and the side is taken from p_across. */
Test(an_geo_box, rotated_and_mirrored_boxes)
{
	for (int mirror = 0; mirror < 2; mirror++) {
		double th = 30.0 * M_PI / 180.0, side = mirror ? -1.0 : 1.0;
		struct an_geo_enu p0 = {-12345, 67890, 0};
		struct an_geo_enu pa = {p0.e_mm + llround(5000 * cos(th)), p0.n_mm + llround(5000 * sin(th)), 0};
		struct an_geo_enu pc = {p0.e_mm - llround(side * 20000 * sin(th)),
		                        p0.n_mm + llround(side * 20000 * cos(th)), 0};
		struct an_geo_box b;
		cr_assert_eq(an_geo_box_init(&b, &p0, &pa, &pc, 500, 40), 0);
		for (int64_t along = -1000; along <= 6000; along += 250) {
			for (int64_t across = -1000; across <= 21000; across += 125) {
				int64_t e, n;
				cr_assert_eq(an_geo_box_to_enu(&b, along, across, &e, &n), 0);
				struct an_geo_box_pos p;
				cr_assert_eq(an_geo_box_locate(&b, e, n, 0, &p), 0);
				cr_assert(llabs(p.along_mm - along) <= 1 && llabs(p.across_mm - across) <= 1,
				          "mirror %d: (%lld, %lld) → (%lld, %lld)", mirror, (long long)along,
				          (long long)across, (long long)p.along_mm, (long long)p.across_mm);
				if (along >= 1 && along <= 4999 && across >= 1 && across <= 19999)
					cr_assert(p.inside);
				if (along < -1 || along > 5001 || across < -1 || across > 20001)
					cr_assert(!p.inside);
			}
		}
	}
}

Test(an_geo_box, dog_lanes_of_60cm)
{
	struct an_geo_enu p0 = {0, 0, 0}, pa = {0, 50000, 0}, pc = {6000, 0, 0};
	struct an_geo_box b;
	cr_assert_eq(an_geo_box_init(&b, &p0, &pa, &pc, 600, 10), 0);
	struct an_geo_box_pos p = locate(&b, 1799, 100);
	cr_expect(p.lane == 2 && p.inside && p.offset_mm == 299);
	p = locate(&b, 1800, 100);
	cr_expect(p.lane == 3 && p.offset_mm == -300);
}

Test(an_geo_box, init_refuses_bad_geometry)
{
	struct an_geo_enu p0 = {0, 0, 0}, pa = {5000, 0, 0}, pc = {0, 20000, 0};
	struct an_geo_box b;
	cr_expect_eq(an_geo_box_init(&b, &p0, &pa, &pc, 500, 0), -EINVAL);
	cr_expect_eq(an_geo_box_init(&b, &p0, &pa, &pc, 0, 40), -EINVAL);
	cr_expect_eq(an_geo_box_init(&b, &p0, &p0, &pc, 500, 40), -EINVAL); /* zero-length lanes */
	struct an_geo_enu skew = {2000, 20000, 0};                           /* 5.7° off square */
	cr_expect_eq(an_geo_box_init(&b, &p0, &pa, &skew, 500, 40), -EINVAL);
	struct an_geo_enu short_side = {0, 19000, 0}; /* 1 m short of 40 × 0.5 m */
	cr_expect_eq(an_geo_box_init(&b, &p0, &pa, &short_side, 500, 40), -EINVAL);
	struct an_geo_enu pegged = {150, 20150, 0}; /* a hand-pegged corner 15 cm off: accepted */
	cr_expect_eq(an_geo_box_init(&b, &p0, &pa, &pegged, 500, 40), 0);
	struct an_geo_box_pos p;
	cr_expect_eq(an_geo_box_locate(&b, AN_GEO_RANGE_MAX_MM + 1, 0, 0, &p), -EINVAL);
}
