/*
 * analysis/src/sim_internal.h — shared by sim_*.c only: substream numbers (so every purpose draws from its
 * own sequence: changing the number of dogs must not move a target) and small helpers.
 */
#ifndef AN_SIM_INTERNAL_H
#define AN_SIM_INTERNAL_H

#include "an/sim.h"

#define SIM_STREAM_TARGETS 1u
#define SIM_STREAM_SCHEDULE 2u
#define SIM_STREAM_BLIND 3u
#define SIM_STREAM_RECORDER 4u
#define SIM_STREAM_ANIMAL(i) (0x100u + (uint64_t)(i))
#define SIM_STREAM_GNSS(i) (0x200u + (uint64_t)(i))
#define SIM_STREAM_MOTION(i) (0x300u + (uint64_t)(i))
#define SIM_STREAM_BUTTON(i) (0x400u + (uint64_t)(i))
#define SIM_STREAM_HISTORY(i) (0x500u + (uint64_t)(i))
#define SIM_STREAM_PASS(p) (0x10000u + (uint64_t)(p))    /* p-th pass that is not a confirmation pass */
#define SIM_STREAM_CONFIRM(k) (0x20000u + (uint64_t)(k)) /* k-th first-round confirmation pass */
#define SIM_STREAM_RECONFIRM(k) (0x30000u + (uint64_t)(k)) /* k-th confirmation pass of a later round */

#define SIM_PI 3.14159265358979323846

/* The documented detection model (an/sim.h) at given conditions (sim_world.c), and the burial depth range of a
 * target class in mm: shared by the day (sim_world.c) and the trainers' history (sim_history.c). */
double sim_p_detect_at(const struct an_sim_animal *a, int cls, double depth_mm, double temp_c, double hum_pct,
		       double bout_min);
void sim_depth_range(int cls, double *lo_mm, double *hi_mm);

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static inline int64_t sim_days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}


/* Inverse of sim_days_from_civil. */
static inline void sim_civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

#endif
