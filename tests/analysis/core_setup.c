/*
 * tests/analysis/core_setup.c — prepares a store for scentrack-core's "session" process test with the store
 * API: one task whose origin is core_testgw's indication area, one rat box, 8 rats, collars 1..8 worn by them
 * and one open session per rat, so the core attributes every record to a session of that task and runs the
 * hazard engine in the task's frame (not the implicit one).
 *
 *   an_core_setup DB     → prints "TASK <task_id>" and exits 0
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "an/geo.h"
#include "an/store.h"

#define T0_MS 1699999999000ll /* before core_testgw's first record (1700000000000) */

static int corner(const struct an_geo_origin *o, int64_t e_mm, int64_t n_mm, int32_t *lat, int32_t *lon)
{
	struct an_geo_enu p = {e_mm, n_mm, 0};
	int32_t alt;
	return an_geo_enu_to_e7(o, &p, lat, lon, &alt);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: an_core_setup DB\n");
		return 2;
	}
	struct an_store *s;
	char err[512];
	if (an_store_open(argv[1], AN_STORE_CREATE, &s, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	int64_t prog, task, box;
	struct an_store_task t = {.name = "core session test", .origin_lat_e7 = -259000000, .origin_lon_e7 = 327000000};
	struct an_geo_origin o;
	int rc = an_store_programme_add(s, "test programme", NULL, &prog);
	t.programme_id = prog;
	if (!rc)
		rc = an_store_task_add(s, &t, &task);
	if (!rc)
		rc = an_geo_origin_init(&o, t.origin_lat_e7, t.origin_lon_e7, AN_GEO_ALT_UNKNOWN);
	/* 200 m lanes running north, 40 lanes of 0.5 m stacked east: covers the five indication sites */
	struct an_store_box b = {.name = "box A", .lane_width_mm = 500, .lane_count = 40, .species = AN_SPECIES_RAT};
	b.task_id = task;
	if (!rc)
		rc = corner(&o, 0, 0, &b.p0_lat_e7, &b.p0_lon_e7);
	if (!rc)
		rc = corner(&o, 0, 200000, &b.along_lat_e7, &b.along_lon_e7);
	if (!rc)
		rc = corner(&o, 20000, 0, &b.across_lat_e7, &b.across_lon_e7);
	if (!rc)
		rc = an_store_box_add(s, &b, &box);
	for (uint16_t c = 1; c <= 8 && !rc; c++) {
		char name[32];
		int64_t animal, sess;
		snprintf(name, sizeof name, "rat %u", c);
		rc = an_store_animal_add(s, AN_SPECIES_RAT, name, NULL, &animal);
		if (!rc)
			rc = an_store_collar_assign(s, c, animal, T0_MS);
		struct an_store_session ss = {.box_id = box, .animal_id = animal, .mode = AN_MODE_OPERATIONAL,
		                              .start_ms = T0_MS};
		if (!rc)
			rc = an_store_session_add(s, &ss, &sess);
	}
	if (rc) {
		fprintf(stderr, "setup: %s (%s)\n", an_store_errmsg(s), strerror(-rc));
		an_store_close(s);
		return 1;
	}
	printf("TASK %" PRId64 "\n", task);
	an_store_close(s);
	return 0;
}
