/*
 * analysis/src/sim_recorder.c — the data recorder's sheet (an/sim.h RECORDER): each indication's box
 * position as the handlers count lanes and read the rope's marks or a tape, on its own substream.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "sim_internal.h"

int an_sim_recorder_build(struct an_sim_world *w)
{
	free(w->rec);
	w->rec = NULL;
	w->n_rec = 0;
	if (!w->sc.recorder || w->n_inds == 0)
		return 0;
	w->rec = calloc(w->n_inds, sizeof *w->rec);
	if (!w->rec)
		return -ENOMEM;
	struct an_sim_rng r;
	an_sim_rng_init(&r, w->seed, SIM_STREAM_RECORDER);
	for (uint32_t i = 0; i < w->n_inds; i++) {
		const struct an_sim_ind *d = &w->inds[i];
		const struct an_geo_box *g = &w->boxes[d->box].geo;
		bool dog = w->animals[d->animal].p.species == AN_SIM_DOG;
		double sd_m = dog ? w->sc.recorder_dog_sd_m : w->sc.recorder_rat_sd_m;
		double z = an_sim_rng_normal(&r); /* always drawn: one draw per indication, whatever follows */
		struct an_geo_box_pos pos;
		int e = an_geo_box_locate(g, d->e_mm, d->n_mm, 0, &pos);
		if (e < 0)
			return e;
		/* the handlers count the lane the animal was in; a peg just outside the box is written in the
		 * nearest lane and at the nearest end */
		int64_t lane = pos.lane < 0 ? 0 : pos.lane >= (int32_t)g->lane_count ? (int64_t)g->lane_count - 1 : pos.lane;
		int64_t along = pos.along_mm + llround(z * sd_m * 1000.0);
		if (along < 0)
			along = 0;
		if (along > g->lane_len_mm + 500)
			along = g->lane_len_mm + 500;
		w->rec[i] = (struct an_sim_boxpos){i, (uint32_t)lane, along, (uint32_t)llround(sd_m * 1000.0)};
	}
	w->n_rec = w->n_inds;
	return 0;
}
