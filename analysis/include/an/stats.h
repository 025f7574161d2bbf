/*
 * an/stats.h — accuracy statistics for detection animals: exact and score intervals for proportions,
 * exact (Garwood) intervals for Poisson rates, "targets needed" for zero-miss claims, descriptive
 * statistics of localisation error, and conjugate posteriors for the fusion model.
 *
 * Everything here is a pure function of its arguments: double precision, IEEE 754, no -ffast-math, no
 * global state, no libm special functions beyond exp/log/log1p/sqrt/floor (the incomplete beta and
 * gamma functions are implemented here, so results do not depend on which libm is installed).
 *
 * Why two binomial intervals (analysis.md §3.4, DESIGN.md decision 6): Clopper–Pearson has coverage
 * >= the nominal level and is what an accreditation claim must use; Wilson has coverage close to nominal
 * on average and is what dashboards show. Both agree with scipy 1.10 binomtest(k, n).proportion_ci()
 * (method 'exact', 'wilson', 'wilsoncc'); tests/analysis/scipy/ checks thousands of random cases.
 *
 * Sidedness. AN_STATS_TWO_SIDED splits alpha = 1 - conf equally between the tails (scipy
 * alternative='two-sided'). AN_STATS_LOWER_BOUND gives a one-sided lower bound with the whole alpha in
 * one tail, hi = 1 (or +inf for rates) — scipy alternative='greater'. AN_STATS_UPPER_BOUND is the mirror,
 * lo = 0 — scipy alternative='less'.
 * "41 of 41 targets found proves >= 93 % sensitivity at 95 % confidence" (DESIGN.md) is the ONE-SIDED
 * lower bound: 0.05^(1/41) = 0.9296. The two-sided 95 % Clopper–Pearson interval of 41/41 is
 * [0.9140, 1] (= 0.025^(1/41)). Reports must say which one they print; accreditation claims "at least X"
 * are one-sided.
 *
 * Error codes: 0 on success, -EINVAL for impossible arguments (n = 0, k > n, conf outside (0, 1),
 * negative or NaN inputs), -ERANGE when an iteration did not converge (outside the documented range),
 * -EOVERFLOW when an answer does not fit the output type. Outputs are untouched on error.
 *
 * Range and accuracy: counts up to 10^9. The continued fractions need O(sqrt(max(a, b))) terms, so
 * cost grows slowly with n (an interval at n = 10^6 takes well under a millisecond). Interval bounds
 * agree with scipy to 1e-9 relative (tests/analysis/scipy/stats_vs_scipy.py, n up to 2·10^6); when
 * n >> k the bound near 0 carries a relative error of about 1e-16 · n / (k + 1) (the continued fraction
 * is evaluated at 1 - x, which cannot hold x's low digits): < 1e-9 up to n/k = 10^6, ~5e-9 at k = 3,
 * n = 10^9 (scipy 1.10 is off by ~1e-8 there as well).
 */
#ifndef AN_STATS_H
#define AN_STATS_H

#include <stddef.h>
#include <stdint.h>

#define AN_STATS_CONF_DEFAULT 0.95

enum an_stats_side {
	AN_STATS_TWO_SIDED = 0,   /* [lo, hi], alpha/2 in each tail */
	AN_STATS_LOWER_BOUND = 1, /* [lo, 1] or [lo, +inf): a claim "at least lo" at level conf */
	AN_STATS_UPPER_BOUND = 2, /* [0, hi]: a claim "at most hi" at level conf */
};

struct an_stats_interval {
	double lo;
	double hi;
};

/* ---- special functions (exposed for tests and for other modules) ---------------------------------- */

/* ln Gamma(x) for x > 0 (Stirling series with upward recurrence below 10): ~1e-15 relative, ~1e-14
 * absolute near the zeros at x = 1 and 2. */
int an_stats_lgamma(double x, double *out);

/* Regularised incomplete beta I_x(a, b) and its complement 1 - I_x(a, b), each computed directly in the
 * tail where it is small (continued fraction, modified Lentz). a, b > 0, 0 <= x <= 1. Either output
 * pointer may be NULL. Relative accuracy ~1e-14 for parameters up to 10^3; rounding accumulates over the
 * O(sqrt(max(a, b))) continued-fraction terms, so ~1e-10 at 10^6 (measured against 50-digit arithmetic
 * in tests/analysis/scipy/hp_ref.py; scipy 1.10 is no better there). Intervals are far less sensitive:
 * inverting a steep CDF divides the error by the density. */
int an_stats_betainc(double a, double b, double x, double *p_out, double *q_out);

/* x with I_x(a, b) = p. Pass q = 1 - p as well so that upper quantiles keep full precision (q is what
 * gets inverted when p > 0.5); p + q must be 1 within 1e-12. Relative accuracy ~1e-13. */
int an_stats_betainc_inv(double a, double b, double p, double q, double *x_out);

/* Regularised lower/upper incomplete gamma P(a, x), Q(a, x) = 1 - P (series for x < a + 1, continued
 * fraction otherwise). a > 0, x >= 0. Either output pointer may be NULL. */
int an_stats_gammainc(double a, double x, double *p_out, double *q_out);

/* x with P(a, x) = p (and Q(a, x) = q = 1 - p, see an_stats_betainc_inv). */
int an_stats_gammainc_inv(double a, double p, double q, double *x_out);

/* Standard normal quantile (Wichura 1988, AS 241 PPND16, ~1e-16 relative), 0 < p < 1. */
int an_stats_norm_ppf(double p, double *z_out);

/* ---- intervals ------------------------------------------------------------------------------------- */

/* Clopper–Pearson exact interval for k successes in n trials: lo = B^-1(alpha', k, n-k+1),
 * hi = B^-1(1-alpha', k+1, n-k) with alpha' = alpha/2 (two-sided) or alpha (one-sided).
 * k = 0 gives lo = 0 and k = n gives hi = 1 exactly. n = 0 is -EINVAL (no information, not [0, 1]). */
int an_stats_binom_cp(uint64_t k, uint64_t n, double conf, enum an_stats_side side,
		      struct an_stats_interval *out);

/* Wilson score interval (Wilson 1927; Newcombe 1998 formulas as in scipy). cc = 1 adds the continuity
 * correction (scipy 'wilsoncc'). k = 0 gives lo = 0 and k = n gives hi = 1 exactly. */
int an_stats_binom_wilson(uint64_t k, uint64_t n, double conf, enum an_stats_side side, int cc,
			  struct an_stats_interval *out);

/* Exact (Garwood 1936) interval for the mean of a Poisson count k: lo = P^-1(k, alpha'),
 * hi = P^-1(k + 1, 1 - alpha') with P the regularised lower incomplete gamma and alpha' as for
 * an_stats_binom_cp; k = 0 gives lo = 0. Same as scipy chi2.ppf(alpha/2, 2k)/2 and
 * chi2.ppf(1 - alpha/2, 2k + 2)/2, and statsmodels confint_poisson(method="exact-c"). */
int an_stats_poisson_exact(uint64_t k, double conf, enum an_stats_side side, struct an_stats_interval *out);

/* Rate with exact interval for k events over `exposure` (e.g. m² searched), expressed per `per` units
 * (e.g. 100 for "per 100 m²"): rate = k / exposure * per, interval = poisson_exact / exposure * per.
 * exposure > 0, per > 0. One-sided LOWER_BOUND gives hi = +INFINITY. rate_out may be NULL. */
int an_stats_rate_exact(uint64_t k, double exposure, double per, double conf, enum an_stats_side side,
			double *rate_out, struct an_stats_interval *out);

/* ---- zero-miss planning ---------------------------------------------------------------------------- */

/* Smallest n such that n successes out of n trials give a Clopper–Pearson lower bound >= target at
 * level conf (side = AN_STATS_LOWER_BOUND: alpha^(1/n) >= target; AN_STATS_TWO_SIDED: (alpha/2)^(1/n)).
 * 0 < target < 1. E.g. target 0.95, conf 0.95, one-sided → 59; 0.99 → 299. AN_STATS_UPPER_BOUND is
 * -EINVAL (an upper bound never proves sensitivity). */
int an_stats_zero_miss_n(double target, double conf, enum an_stats_side side, uint64_t *n_out);

/* Given k of n found so far, the smallest m >= 0 such that (k + m) of (n + m) (m more targets, no more
 * misses) gives a Clopper–Pearson lower bound >= target. -ERANGE if more than 10^9 would be needed
 * (happens only for targets very close to 1). Dashboards show it as "59 more targets with 0 misses". */
int an_stats_more_needed(uint64_t k, uint64_t n, double target, double conf, enum an_stats_side side,
			 uint64_t *m_out);

/* ---- descriptive statistics (localisation error) --------------------------------------------------- */

/* Quantile of SORTED ascending data with numpy's default definition (method 'linear', Hyndman & Fan
 * type 7): h = (n - 1) q, result = x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h]).
 * 0 <= q <= 1, n >= 1. Does not check that x is sorted (an_stats_describe sorts). */
int an_stats_quantile_sorted(const double *x, size_t n, double q, double *out);

#define AN_STATS_MAX_THRESHOLDS 8

struct an_stats_summary {
	size_t n;
	double mean;   /* summed in ascending order, so independent of input order */
	double min;
	double median; /* type-7 quantile 0.5 */
	double p90;
	double p95;
	double max;
	size_t n_within[AN_STATS_MAX_THRESHOLDS];     /* count of x <= threshold[i] */
	double share_within[AN_STATS_MAX_THRESHOLDS]; /* n_within / n */
};

/* Summary of n >= 1 values (e.g. indication-to-item distances in metres). SORTS x IN PLACE (the caller's
 * buffer; sorting is what makes the mean order-independent). thresholds[0..n_thr) are inclusive limits
 * (e.g. 0.5, 1, 2 m), n_thr <= AN_STATS_MAX_THRESHOLDS. NaN or infinite values → -EINVAL. */
int an_stats_describe(double *x, size_t n, const double *thresholds, size_t n_thr,
		      struct an_stats_summary *out);

/* ---- conjugate posteriors (fusion model, analysis.md §2.4) ----------------------------------------- */

/* Sensitivity prior Beta(a0, b0). Default Beta(1, 1) (uniform: "s_a ~ Beta(1 + hits, 1 + misses)",
 * analysis.md §2.4) — weakly informative, worth two targets, so a new animal's score is driven by its
 * own finds after a handful of targets. Jeffreys Beta(1/2, 1/2) is the other common choice. */
#define AN_STATS_SENS_PRIOR_A 1.0
#define AN_STATS_SENS_PRIOR_B 1.0

/* False-indication rate prior Gamma(shape, rate) with the rate in 1/m² of searched area, centred on the
 * published anchors and worth ONE false indication (shape 1), so an animal's own record overrides it
 * after a few hundred m²:
 *   rats: 0.33 per 100 m² (Poling et al. 2011, JABA 44:351; Edwards et al. 2015 report 0.4 on tilled
 *         soil) → Gamma(1, 100/0.33 = 303 m²);
 *   technical survey dogs: 0.0055 per 100 m² (Cambodia TSD validation, 77 false in 1.4 M m²)
 *         → Gamma(1, 100/0.0055 = 18 182 m²). */
#define AN_STATS_FA_PRIOR_SHAPE 1.0
#define AN_STATS_FA_PRIOR_M2_RAT (100.0 / 0.33)
#define AN_STATS_FA_PRIOR_M2_DOG (100.0 / 0.0055)

struct an_stats_posterior {
	double shape_a; /* Beta a, or Gamma shape */
	double shape_b; /* Beta b, or Gamma rate (same exposure unit as the input) */
	double mean;
	struct an_stats_interval ci; /* equal-tailed credible interval (or one-sided bound) */
};

/* Beta(a0 + k, b0 + n - k) posterior of a proportion; a0, b0 > 0, k <= n (n = 0 returns the prior). */
int an_stats_beta_posterior(double a0, double b0, uint64_t k, uint64_t n, double cred,
			    enum an_stats_side side, struct an_stats_posterior *out);

/* Gamma(shape0 + k, rate0 + exposure) posterior of a Poisson rate per unit exposure, reported per `per`
 * units (mean and interval are multiplied by per; shape_a/shape_b are the unscaled parameters).
 * shape0 > 0, rate0 >= 0 (0 only with k > 0: improper prior), exposure >= 0, per > 0. */
int an_stats_gamma_posterior(double shape0, double rate0, uint64_t k, double exposure, double per,
			     double cred, enum an_stats_side side, struct an_stats_posterior *out);

#endif
