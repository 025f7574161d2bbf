/*
 * cf/motion.h — one accelerometer sample, as the IMU driver hands it to the firmware core.
 *
 * Axes are the collar's body frame, fixed by the mechanical design (docs: collar mounting):
 *   x  along the animal's neck (dog collar) or spine (rat harness), pointing towards the head;
 *   y  to the animal's left when the collar sits in its nominal position;
 *   z  completes a right-handed frame (outwards from the neck/back in the nominal position).
 * A collar band slides around the neck, so y and z may be rotated by any angle about x; x itself
 * cannot move much. The classifier therefore relies on x only for posture, and on rotation-invariant
 * quantities (vector norms, summed spectra) for everything else.
 *
 * Values are specific force in milli-g: a collar at rest reads +1000 mg "up", not down.
 */
#ifndef CF_MOTION_H
#define CF_MOTION_H

#include <stdint.h>

struct cf_accel_sample {
	uint32_t t_ms;   /* hal_clock milliseconds of the sample (wraps after 49.7 days; differences are used) */
	int16_t x_mg;
	int16_t y_mg;
	int16_t z_mg;
};

#endif
