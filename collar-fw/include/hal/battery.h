/*
 * hal/battery.h — battery gauge and temperature sensor, read at STATUS rate.
 *
 * A reading has presence bits like the wire (PROTO_STATUS_HAS_BATT/_BATTPCT/_TEMP): a sensor that is not
 * fitted or failed leaves its bit clear, it never reports 0. Host implementation: boards/host/battery_sim.c
 * (a discharge model driven by the collar's clock).
 */
#ifndef HAL_BATTERY_H
#define HAL_BATTERY_H

#include <stdint.h>

struct hal_battery_reading {
	uint32_t has;     /* PROTO_STATUS_HAS_BATT | _BATTPCT | _TEMP */
	uint16_t mv;      /* cell voltage, mV */
	uint8_t pct;      /* state of charge, % */
	int16_t temp_dc;  /* collar temperature, 0.1 degC */
};

struct hal_battery;

struct hal_battery_api {
	int (*read)(const struct hal_battery *dev, uint32_t now_ms, struct hal_battery_reading *out);
};

struct hal_battery {
	const struct hal_battery_api *api;
	void *ctx;
};

static inline int hal_battery_read(const struct hal_battery *dev, uint32_t now_ms, struct hal_battery_reading *out)
{
	return dev->api->read(dev, now_ms, out);
}

#endif
