/*
 * hal/battery_sim.h — host board battery: a constant-load discharge model over the collar's clock.
 *
 * Charge used = load_ma x elapsed time; state of charge = 1 - used / capacity (floored at 0); cell voltage
 * from a single-cell Li-ion open-circuit curve (4.20 V full .. 3.30 V empty, piecewise linear in 10 %
 * steps). The defaults, 2000 mAh at 60 mA mean (GNSS at 1 Hz + radio duty), give 33 h, inside the 20-40 h
 * of commercial dog trackers (DESIGN.md domain table). Temperature is an input (the simulator's weather).
 */
#ifndef HAL_BATTERY_SIM_H
#define HAL_BATTERY_SIM_H

#include <stdint.h>

#include "hal/battery.h"

#define HAL_BATTERY_SIM_MAH 2000u
#define HAL_BATTERY_SIM_LOAD_MA 60u

struct hal_battery_sim {
	uint32_t capacity_mah;
	uint32_t load_ma;
	int16_t temp_dc;
	uint8_t start_pct; /* charge at t0 */
	uint32_t t0_ms;
};

/* @retval 0 ok  @retval -EINVAL capacity 0 or start_pct > 100 */
int hal_battery_sim_init(struct hal_battery *dev, struct hal_battery_sim *st, uint32_t capacity_mah,
			 uint32_t load_ma, uint8_t start_pct, int16_t temp_dc, uint32_t t0_ms);

/* Open-circuit voltage (mV) of the model cell at pct % charge (0..100). */
uint16_t hal_battery_sim_ocv_mv(uint8_t pct);

#endif
