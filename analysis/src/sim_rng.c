/*
 * analysis/src/sim_rng.c — PCG32 (O'Neill 2014, "PCG: A Family of Simple Fast Space-Efficient Statistically
 * Good Algorithms for Random Number Generation", XSH-RR 64/32) with independent streams, and the few
 * distributions the simulator needs. Own code: the simulator must not depend on libc's rand().
 */
#include "an/sim.h"

#include <math.h>

#define PCG_MULT 6364136223846793005ULL

static uint64_t mix64(uint64_t z)
{
	/* splitmix64 finaliser: spreads small seeds and stream numbers over all 64 bits */
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void an_sim_rng_init(struct an_sim_rng *r, uint64_t seed, uint64_t stream)
{
	r->state = 0;
	r->inc = (mix64(stream ^ 0x5851f42d4c957f2dULL) << 1) | 1u;
	r->has_spare = false;
	r->spare = 0.0;
	(void)an_sim_rng_u32(r);
	r->state += mix64(seed);
	(void)an_sim_rng_u32(r);
}

uint32_t an_sim_rng_u32(struct an_sim_rng *r)
{
	uint64_t old = r->state;
	r->state = old * PCG_MULT + r->inc;
	uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
	uint32_t rot = (uint32_t)(old >> 59);
	return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

double an_sim_rng_unit(struct an_sim_rng *r)
{
	uint64_t hi = an_sim_rng_u32(r) >> 5; /* 27 bits */
	uint64_t lo = an_sim_rng_u32(r) >> 6; /* 26 bits */
	return (double)((hi << 26) | lo) * (1.0 / 9007199254740992.0);
}

double an_sim_rng_uniform(struct an_sim_rng *r, double lo, double hi)
{
	return lo + (hi - lo) * an_sim_rng_unit(r);
}

double an_sim_rng_normal(struct an_sim_rng *r)
{
	if (r->has_spare) {
		r->has_spare = false;
		return r->spare;
	}
	double u, v, s;
	do {
		u = 2.0 * an_sim_rng_unit(r) - 1.0;
		v = 2.0 * an_sim_rng_unit(r) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	double f = sqrt(-2.0 * log(s) / s);
	r->spare = v * f;
	r->has_spare = true;
	return u * f;
}

double an_sim_rng_exp(struct an_sim_rng *r, double mean)
{
	return -mean * log1p(-an_sim_rng_unit(r));
}

double an_sim_rng_lognormal(struct an_sim_rng *r, double median, double sigma_log)
{
	return median * exp(sigma_log * an_sim_rng_normal(r));
}

uint32_t an_sim_rng_poisson(struct an_sim_rng *r, double mean)
{
	if (!(mean > 0.0))
		return 0;
	if (mean >= 500.0) {
		double x = floor(mean + sqrt(mean) * an_sim_rng_normal(r) + 0.5);
		return x < 0.0 ? 0u : (uint32_t)x;
	}
	/* inversion by sequential search: exact, and cheap for the small means used here */
	double u = an_sim_rng_unit(r);
	double p = exp(-mean), cdf = p;
	uint32_t k = 0;
	while (u > cdf && k < 10000u) {
		k++;
		p *= mean / (double)k;
		cdf += p;
		if (p < 1e-300 && (double)k > mean)
			break;
	}
	return k;
}

bool an_sim_rng_bernoulli(struct an_sim_rng *r, double p)
{
	return an_sim_rng_unit(r) < p;
}
