/*
 * boards/host/battery_sim.c — constant-load battery model (hal/battery_sim.h).
 */
#include "hal/battery_sim.h"

#include <errno.h>

#include "proto/msg.h"

/* Single-cell Li-ion open-circuit voltage at 0, 10, ..., 100 % (typical LiCoO2/NMC curve at room
 * temperature; the flat middle is why a voltage alone is a poor gauge and the model integrates charge). */
static const uint16_t ocv_mv[11] = {3300, 3600, 3700, 3750, 3790, 3830, 3870, 3920, 3980, 4060, 4200};

uint16_t hal_battery_sim_ocv_mv(uint8_t pct)
{
	if (pct >= 100u) {
		return ocv_mv[10];
	}
	unsigned i = pct / 10u, f = pct % 10u;
	return (uint16_t)(ocv_mv[i] + ((unsigned)(ocv_mv[i + 1u] - ocv_mv[i]) * f) / 10u);
}

static int sim_read(const struct hal_battery *dev, uint32_t now_ms, struct hal_battery_reading *out)
{
	const struct hal_battery_sim *st = dev->ctx;
	uint64_t elapsed_ms = (uint32_t)(now_ms - st->t0_ms);
	/* used charge in units of capacity/10000 (0.01 %), rounded down */
	uint64_t used = elapsed_ms * st->load_ma * 10000u / ((uint64_t)st->capacity_mah * 3600000u);
	uint64_t start = (uint64_t)st->start_pct * 100u;
	uint64_t left = used >= start ? 0 : start - used;
	uint8_t pct = (uint8_t)((left + 99u) / 100u); /* 0 % only when truly empty */

	out->has = PROTO_STATUS_HAS_BATT | PROTO_STATUS_HAS_BATTPCT | PROTO_STATUS_HAS_TEMP;
	out->pct = pct;
	out->mv = hal_battery_sim_ocv_mv(pct);
	out->temp_dc = st->temp_dc;
	return 0;
}

static const struct hal_battery_api sim_api = {.read = sim_read};

int hal_battery_sim_init(struct hal_battery *dev, struct hal_battery_sim *st, uint32_t capacity_mah,
			 uint32_t load_ma, uint8_t start_pct, int16_t temp_dc, uint32_t t0_ms)
{
	if (capacity_mah == 0 || start_pct > 100u) {
		return -EINVAL;
	}
	st->capacity_mah = capacity_mah;
	st->load_ma = load_ma;
	st->start_pct = start_pct;
	st->temp_dc = temp_dc;
	st->t0_ms = t0_ms;
	dev->api = &sim_api;
	dev->ctx = st;
	return 0;
}
