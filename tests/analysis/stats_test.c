/*
 * tests/analysis/stats_test.c — an_stats_*: known values (scipy 1.10 / closed forms / the published
 * tables in analysis.md §3.4 and domain.md §2.4), exact edges, identities, error codes.
 * Thousands of random cases against scipy run separately (tests/analysis/scipy/stats_vs_scipy.py).
 */
#include "an/stats.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

static void assert_rel(double got, double want, double rel, const char *what)
{
	double tol = rel * fabs(want);
	if (tol < 1e-15)
		tol = 1e-15;
	cr_assert(fabs(got - want) <= tol, "%s: got %.17g, want %.17g (rel tol %g)", what, got, want, rel);
}

/* ---- Clopper–Pearson ---- */

struct binom_case {
	uint64_t k, n;
	double cp_lo, cp_hi, wil_lo, wil_hi; /* scipy binomtest(k, n).proportion_ci(0.95, ...) */
};

static const struct binom_case binom_cases[] = {
	{ 41, 41, 0.9139561637059715, 1.0, 0.9143324298155682, 1.0 },
	{ 0, 10, 0.0, 0.30849710781876083, 0.0, 0.27753279986288926 },
	{ 5, 10, 0.18708602844739855, 0.8129139715526015, 0.236593090512564, 0.7634069094874361 },
	{ 10, 10, 0.6915028921812392, 1.0, 0.7224672001371109, 1.0 },
	{ 48, 50, 0.8628623743960326, 0.9951185665738356, 0.8653990931249297, 0.9889611156723802 },
	{ 95, 100, 0.8871650888945373, 0.9835681208179479, 0.8882495307680809, 0.978456320845632 },
	{ 213, 290, 0.679698275242089, 0.7844048555414129, 0.6808316281204946, 0.7820029921057444 },
};

Test(an_stats, clopper_pearson_known_values)
{
	for (size_t i = 0; i < sizeof binom_cases / sizeof binom_cases[0]; i++) {
		const struct binom_case *c = &binom_cases[i];
		struct an_stats_interval iv;
		cr_assert_eq(an_stats_binom_cp(c->k, c->n, 0.95, AN_STATS_TWO_SIDED, &iv), 0);
		assert_rel(iv.lo, c->cp_lo, 1e-12, "cp lo");
		assert_rel(iv.hi, c->cp_hi, 1e-12, "cp hi");
	}
}

Test(an_stats, clopper_pearson_all_found_is_closed_form)
{
	/* n of n: the lower bound is alpha'^(1/n) exactly (I_p(n, 1) = p^n) */
	for (uint64_t n = 1; n <= 400; n += 7) {
		struct an_stats_interval two, one;
		cr_assert_eq(an_stats_binom_cp(n, n, 0.95, AN_STATS_TWO_SIDED, &two), 0);
		cr_assert_eq(an_stats_binom_cp(n, n, 0.95, AN_STATS_LOWER_BOUND, &one), 0);
		assert_rel(two.lo, pow(0.025, 1.0 / (double)n), 1e-13, "two-sided n/n");
		assert_rel(one.lo, pow(0.05, 1.0 / (double)n), 1e-13, "one-sided n/n");
		cr_assert_eq(two.hi, 1.0);
		cr_assert_eq(one.hi, 1.0);
	}
}

Test(an_stats, design_claim_41_of_41_is_one_sided_93_percent)
{
	/* DESIGN.md: "41/41 targets found only proves >= 93 % sensitivity at 95 % confidence" — that is
	 * the one-sided bound (92.95 %, rounds to 93 %); the two-sided interval starts at 91.4 %. */
	struct an_stats_interval one, two;
	cr_assert_eq(an_stats_binom_cp(41, 41, 0.95, AN_STATS_LOWER_BOUND, &one), 0);
	cr_assert_eq(an_stats_binom_cp(41, 41, 0.95, AN_STATS_TWO_SIDED, &two), 0);
	cr_assert(one.lo > 0.9295 && one.lo < 0.9296, "one-sided %.6f", one.lo);
	cr_assert(two.lo > 0.9139 && two.lo < 0.9140, "two-sided %.6f", two.lo);
	uint64_t n;
	cr_assert_eq(an_stats_zero_miss_n(0.929, 0.95, AN_STATS_LOWER_BOUND, &n), 0);
	cr_assert_eq(n, 41);
	cr_assert_eq(an_stats_zero_miss_n(0.93, 0.95, AN_STATS_LOWER_BOUND, &n), 0);
	cr_assert_eq(n, 42, "0.05^(1/41) = 0.92954 < 0.93, so a strict 93 %% needs 42");
}

Test(an_stats, exact_edges)
{
	for (uint64_t n = 1; n < 60; n++) {
		for (int side = 0; side < 3; side++) {
			struct an_stats_interval iv;
			cr_assert_eq(an_stats_binom_cp(0, n, 0.9, (enum an_stats_side)side, &iv), 0);
			cr_assert_eq(iv.lo, 0.0);
			cr_assert_eq(an_stats_binom_cp(n, n, 0.9, (enum an_stats_side)side, &iv), 0);
			cr_assert_eq(iv.hi, 1.0);
			cr_assert_eq(an_stats_binom_wilson(0, n, 0.9, (enum an_stats_side)side, 0, &iv), 0);
			cr_assert_eq(iv.lo, 0.0);
			cr_assert_eq(an_stats_binom_wilson(n, n, 0.9, (enum an_stats_side)side, 1, &iv), 0);
			cr_assert_eq(iv.hi, 1.0);
		}
	}
}

Test(an_stats, sides_are_consistent)
{
	/* one-sided bounds at conf c equal the two-sided bounds at 2c - 1, and are open on the other side */
	struct an_stats_interval lo, up, two;
	cr_assert_eq(an_stats_binom_cp(17, 40, 0.95, AN_STATS_LOWER_BOUND, &lo), 0);
	cr_assert_eq(an_stats_binom_cp(17, 40, 0.95, AN_STATS_UPPER_BOUND, &up), 0);
	cr_assert_eq(an_stats_binom_cp(17, 40, 0.90, AN_STATS_TWO_SIDED, &two), 0);
	assert_rel(lo.lo, two.lo, 1e-13, "lower");
	assert_rel(up.hi, two.hi, 1e-13, "upper");
	cr_assert_eq(lo.hi, 1.0);
	cr_assert_eq(up.lo, 0.0);
}

Test(an_stats, symmetry_k_vs_n_minus_k)
{
	for (uint64_t n = 1; n < 80; n += 3) {
		for (uint64_t k = 0; k <= n; k++) {
			struct an_stats_interval a, b;
			cr_assert_eq(an_stats_binom_cp(k, n, 0.95, AN_STATS_TWO_SIDED, &a), 0);
			cr_assert_eq(an_stats_binom_cp(n - k, n, 0.95, AN_STATS_TWO_SIDED, &b), 0);
			cr_assert(fabs(a.lo - (1.0 - b.hi)) < 1e-13 && fabs(a.hi - (1.0 - b.lo)) < 1e-13,
				  "cp %lu/%lu", (unsigned long)k, (unsigned long)n);
			cr_assert_eq(an_stats_binom_wilson(k, n, 0.95, AN_STATS_TWO_SIDED, 0, &a), 0);
			cr_assert_eq(an_stats_binom_wilson(n - k, n, 0.95, AN_STATS_TWO_SIDED, 0, &b), 0);
			cr_assert(fabs(a.lo - (1.0 - b.hi)) < 1e-13 && fabs(a.hi - (1.0 - b.lo)) < 1e-13,
				  "wilson %lu/%lu", (unsigned long)k, (unsigned long)n);
		}
	}
}

Test(an_stats, wilson_known_values)
{
	for (size_t i = 0; i < sizeof binom_cases / sizeof binom_cases[0]; i++) {
		const struct binom_case *c = &binom_cases[i];
		struct an_stats_interval iv;
		cr_assert_eq(an_stats_binom_wilson(c->k, c->n, 0.95, AN_STATS_TWO_SIDED, 0, &iv), 0);
		assert_rel(iv.lo, c->wil_lo, 1e-13, "wilson lo");
		assert_rel(iv.hi, c->wil_hi, 1e-13, "wilson hi");
	}
}

Test(an_stats, wilson_cc_is_wider)
{
	struct an_stats_interval w, cc;
	cr_assert_eq(an_stats_binom_wilson(7, 20, 0.95, AN_STATS_TWO_SIDED, 0, &w), 0);
	cr_assert_eq(an_stats_binom_wilson(7, 20, 0.95, AN_STATS_TWO_SIDED, 1, &cc), 0);
	cr_assert(cc.lo < w.lo && cc.hi > w.hi);
}

Test(an_stats, binomial_errors_leave_output_alone)
{
	struct an_stats_interval iv, poison;
	memset(&poison, 0xFF, sizeof poison);
	iv = poison;
	cr_assert_eq(an_stats_binom_cp(0, 0, 0.95, AN_STATS_TWO_SIDED, &iv), -EINVAL, "n = 0 has no interval");
	cr_assert_eq(an_stats_binom_cp(5, 4, 0.95, AN_STATS_TWO_SIDED, &iv), -EINVAL);
	cr_assert_eq(an_stats_binom_cp(1, 4, 1.0, AN_STATS_TWO_SIDED, &iv), -EINVAL);
	cr_assert_eq(an_stats_binom_cp(1, 4, 0.0, AN_STATS_TWO_SIDED, &iv), -EINVAL);
	cr_assert_eq(an_stats_binom_cp(1, 4, NAN, AN_STATS_TWO_SIDED, &iv), -EINVAL);
	cr_assert_eq(an_stats_binom_cp(1, 4, 0.95, (enum an_stats_side)9, &iv), -EINVAL);
	cr_assert_eq(an_stats_binom_wilson(0, 0, 0.95, AN_STATS_TWO_SIDED, 0, &iv), -EINVAL);
	cr_assert_eq(an_stats_binom_wilson(1, 2, 0.95, AN_STATS_TWO_SIDED, 2, &iv), -EINVAL);
	cr_assert_eq(memcmp(&iv, &poison, sizeof iv), 0);
}

/* ---- Poisson ---- */

Test(an_stats, garwood_table_k0_to_5)
{
	/* scipy chi2.ppf(0.025, 2k)/2, chi2.ppf(0.975, 2k+2)/2 — the classic exact Poisson table */
	static const double lo[6] = { 0.0, 0.025317807984289876, 0.24220927854396496, 0.6186721228956014,
				      1.0898653736263249, 1.6234863901184207 };
	static const double hi[6] = { 3.6888794541139354, 5.571643390938898, 7.22468766772396,
				      8.767273069742323, 10.241588675403694, 11.66833207932267 };
	for (uint64_t k = 0; k < 6; k++) {
		struct an_stats_interval iv;
		cr_assert_eq(an_stats_poisson_exact(k, 0.95, AN_STATS_TWO_SIDED, &iv), 0);
		assert_rel(iv.lo, lo[k], 1e-12, "garwood lo");
		assert_rel(iv.hi, hi[k], 1e-12, "garwood hi");
	}
	/* k = 0, one-sided 95 %: -ln 0.05 = 2.9957 ("rule of three") */
	struct an_stats_interval iv;
	cr_assert_eq(an_stats_poisson_exact(0, 0.95, AN_STATS_UPPER_BOUND, &iv), 0);
	assert_rel(iv.hi, -log(0.05), 1e-13, "rule of three");
	cr_assert_eq(an_stats_poisson_exact(3, 0.95, AN_STATS_LOWER_BOUND, &iv), 0);
	cr_assert(isinf(iv.hi));
}

Test(an_stats, false_indication_rate_per_100_m2)
{
	/* analysis.md §3.4: 0 false in one 200 m² box → [0, 1.84]; Poling ≈308 in 93 400 m² → 0.330
	 * [0.294, 0.369] */
	double rate;
	struct an_stats_interval iv;
	cr_assert_eq(an_stats_rate_exact(0, 200.0, 100.0, 0.95, AN_STATS_TWO_SIDED, &rate, &iv), 0);
	cr_assert_eq(rate, 0.0);
	cr_assert_eq(iv.lo, 0.0);
	assert_rel(iv.hi, 1.8444397270569675, 1e-12, "0/200");
	cr_assert_eq(an_stats_rate_exact(308, 93400.0, 100.0, 0.95, AN_STATS_TWO_SIDED, &rate, &iv), 0);
	assert_rel(rate, 308.0 / 934.0, 1e-15, "rate");
	assert_rel(iv.lo, 0.29396091574551214, 1e-12, "poling lo");
	assert_rel(iv.hi, 0.3687261015143129, 1e-12, "poling hi");
	cr_assert_eq(an_stats_rate_exact(1, 0.0, 100.0, 0.95, AN_STATS_TWO_SIDED, &rate, &iv), -EINVAL);
	cr_assert_eq(an_stats_rate_exact(1, 10.0, -1.0, 0.95, AN_STATS_TWO_SIDED, &rate, &iv), -EINVAL);
	cr_assert_eq(an_stats_poisson_exact(1, 1.0, AN_STATS_TWO_SIDED, &iv), -EINVAL);
}

/* ---- planning ---- */

Test(an_stats, zero_miss_targets_table)
{
	/* analysis.md §3.4: 29 / 59 / 299 / 598 / 2 995 targets, one-sided 95 % */
	static const double target[5] = { 0.90, 0.95, 0.99, 0.995, 0.999 };
	static const uint64_t want[5] = { 29, 59, 299, 598, 2995 };
	for (int i = 0; i < 5; i++) {
		uint64_t n;
		cr_assert_eq(an_stats_zero_miss_n(target[i], 0.95, AN_STATS_LOWER_BOUND, &n), 0);
		cr_assert_eq(n, want[i], "target %.3f: %lu", target[i], (unsigned long)n);
	}
	uint64_t n;
	cr_assert_eq(an_stats_zero_miss_n(0.95, 0.95, AN_STATS_TWO_SIDED, &n), 0);
	cr_assert_eq(n, 72, "two-sided: ceil(ln 0.025 / ln 0.95) = 72");
	cr_assert_eq(an_stats_zero_miss_n(0.95, 0.95, AN_STATS_UPPER_BOUND, &n), -EINVAL);
	cr_assert_eq(an_stats_zero_miss_n(1.0, 0.95, AN_STATS_LOWER_BOUND, &n), -EINVAL);
}

Test(an_stats, more_targets_needed)
{
	uint64_t m;
	cr_assert_eq(an_stats_more_needed(0, 0, 0.95, 0.95, AN_STATS_LOWER_BOUND, &m), 0);
	cr_assert_eq(m, 59);
	cr_assert_eq(an_stats_more_needed(10, 10, 0.95, 0.95, AN_STATS_LOWER_BOUND, &m), 0);
	cr_assert_eq(m, 49);
	cr_assert_eq(an_stats_more_needed(59, 59, 0.95, 0.95, AN_STATS_LOWER_BOUND, &m), 0);
	cr_assert_eq(m, 0);
	/* with misses: the answer is the first m whose bound reaches the target */
	cr_assert_eq(an_stats_more_needed(18, 20, 0.9, 0.95, AN_STATS_LOWER_BOUND, &m), 0);
	struct an_stats_interval a, b;
	cr_assert_eq(an_stats_binom_cp(18 + m, 20 + m, 0.95, AN_STATS_LOWER_BOUND, &a), 0);
	cr_assert_eq(an_stats_binom_cp(18 + m - 1, 20 + m - 1, 0.95, AN_STATS_LOWER_BOUND, &b), 0);
	cr_assert(a.lo >= 0.9 && b.lo < 0.9, "m = %lu: %.6f / %.6f", (unsigned long)m, a.lo, b.lo);
	cr_assert_eq(an_stats_more_needed(3, 2, 0.9, 0.95, AN_STATS_LOWER_BOUND, &m), -EINVAL);
}

/* ---- special functions ---- */

Test(an_stats, special_function_identities)
{
	double p, q, x;
	for (double t = 0.01; t < 1.0; t += 0.07) {
		cr_assert_eq(an_stats_betainc(1.0, 1.0, t, &p, &q), 0);
		assert_rel(p, t, 1e-14, "I_x(1,1) = x");
		cr_assert_eq(an_stats_betainc(7.0, 1.0, t, &p, NULL), 0);
		assert_rel(p, pow(t, 7.0), 1e-13, "I_x(a,1) = x^a");
		cr_assert_eq(an_stats_betainc(1.0, 3.5, t, NULL, &q), 0);
		assert_rel(q, pow(1.0 - t, 3.5), 1e-13, "1 - I_x(1,b) = (1-x)^b");
		cr_assert_eq(an_stats_gammainc(1.0, 5.0 * t, &p, &q), 0);
		assert_rel(q, exp(-5.0 * t), 1e-14, "Q(1,x) = e^-x");
		/* P(3, x) = 1 - e^-x (1 + x + x²/2) */
		double y = 8.0 * t;
		cr_assert_eq(an_stats_gammainc(3.0, y, NULL, &q), 0);
		assert_rel(q, exp(-y) * (1.0 + y + y * y / 2.0), 1e-13, "Q(3,x)");
		/* round trips */
		cr_assert_eq(an_stats_betainc_inv(2.5, 40.0, t, 1.0 - t, &x), 0);
		cr_assert_eq(an_stats_betainc(2.5, 40.0, x, &p, NULL), 0);
		assert_rel(p, t, 1e-12, "betainc(betainc_inv)");
		cr_assert_eq(an_stats_gammainc_inv(12.0, t, 1.0 - t, &x), 0);
		cr_assert_eq(an_stats_gammainc(12.0, x, &p, NULL), 0);
		assert_rel(p, t, 1e-12, "gammainc(gammainc_inv)");
	}
	double lg;
	cr_assert_eq(an_stats_lgamma(1.0, &lg), 0);
	cr_assert(fabs(lg) < 1e-14, "lgamma(1) = %g", lg);
	cr_assert_eq(an_stats_lgamma(0.5, &lg), 0);
	assert_rel(lg, 0.5 * log(3.14159265358979323846), 1e-14, "lgamma(1/2)");
	cr_assert_eq(an_stats_lgamma(100.0, &lg), 0);
	assert_rel(lg, 359.1342053695754, 1e-15, "lgamma(100)");
	cr_assert_eq(an_stats_lgamma(0.0, &lg), -EINVAL);
	double z;
	cr_assert_eq(an_stats_norm_ppf(0.975, &z), 0);
	assert_rel(z, 1.959963984540054, 1e-15, "z 0.975");
	cr_assert_eq(an_stats_norm_ppf(0.5, &z), 0);
	cr_assert_eq(z, 0.0);
	cr_assert_eq(an_stats_norm_ppf(1.0, &z), -EINVAL);
	cr_assert_eq(an_stats_betainc(0.0, 1.0, 0.5, &p, &q), -EINVAL);
	cr_assert_eq(an_stats_betainc(1.0, 1.0, 1.5, &p, &q), -EINVAL);
	cr_assert_eq(an_stats_betainc_inv(1.0, 1.0, 0.3, 0.3, &x), -EINVAL, "p + q must be 1");
	cr_assert_eq(an_stats_gammainc(-1.0, 1.0, &p, &q), -EINVAL);
}

/* ---- descriptive ---- */

Test(an_stats, quantile_numpy_linear)
{
	const double x[4] = { 1.0, 2.0, 3.0, 4.0 };
	double v;
	cr_assert_eq(an_stats_quantile_sorted(x, 4, 0.5, &v), 0);
	cr_assert_eq(v, 2.5);
	cr_assert_eq(an_stats_quantile_sorted(x, 4, 0.9, &v), 0);
	assert_rel(v, 3.7, 1e-15, "np.quantile([1,2,3,4], 0.9)");
	cr_assert_eq(an_stats_quantile_sorted(x, 4, 0.0, &v), 0);
	cr_assert_eq(v, 1.0);
	cr_assert_eq(an_stats_quantile_sorted(x, 4, 1.0, &v), 0);
	cr_assert_eq(v, 4.0);
	cr_assert_eq(an_stats_quantile_sorted(x, 1, 0.3, &v), 0);
	cr_assert_eq(v, 1.0);
	cr_assert_eq(an_stats_quantile_sorted(x, 0, 0.3, &v), -EINVAL);
	cr_assert_eq(an_stats_quantile_sorted(x, 4, 1.5, &v), -EINVAL);
}

Test(an_stats, describe_is_order_independent)
{
	enum { N = 501 };
	double base[N], shuffled[N];
	uint64_t s = 12345;
	for (int i = 0; i < N; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		base[i] = (double)(s >> 11) * (3.0 / 9007199254740992.0); /* metres, 0..3 */
	}
	static const double thr[3] = { 0.5, 1.0, 2.0 };
	struct an_stats_summary ref, got;
	memcpy(shuffled, base, sizeof base);
	cr_assert_eq(an_stats_describe(shuffled, N, thr, 3, &ref), 0);
	for (int round = 0; round < 50; round++) {
		memcpy(shuffled, base, sizeof base);
		for (int i = N - 1; i > 0; i--) { /* Fisher–Yates with a fixed LCG */
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			int j = (int)((s >> 33) % (uint64_t)(i + 1));
			double t = shuffled[i];
			shuffled[i] = shuffled[j];
			shuffled[j] = t;
		}
		cr_assert_eq(an_stats_describe(shuffled, N, thr, 3, &got), 0);
		cr_assert_eq(memcmp(&ref, &got, sizeof ref), 0, "summary changed with input order");
	}
	/* thresholds: counts agree with a direct count */
	for (int t = 0; t < 3; t++) {
		size_t c = 0;
		for (int i = 0; i < N; i++)
			c += base[i] <= thr[t];
		cr_assert_eq(ref.n_within[t], c);
		assert_rel(ref.share_within[t], (double)c / N, 1e-15, "share");
	}
	cr_assert(ref.min <= ref.median && ref.median <= ref.p90 && ref.p90 <= ref.p95 && ref.p95 <= ref.max);
}

Test(an_stats, describe_rejects_bad_input)
{
	double x[3] = { 1.0, NAN, 2.0 };
	struct an_stats_summary s;
	double thr[AN_STATS_MAX_THRESHOLDS + 1] = { 0 };
	cr_assert_eq(an_stats_describe(x, 3, NULL, 0, &s), -EINVAL);
	x[1] = INFINITY;
	cr_assert_eq(an_stats_describe(x, 3, NULL, 0, &s), -EINVAL);
	x[1] = 1.5;
	cr_assert_eq(an_stats_describe(x, 0, NULL, 0, &s), -EINVAL);
	cr_assert_eq(an_stats_describe(x, 3, thr, AN_STATS_MAX_THRESHOLDS + 1, &s), -EINVAL);
	cr_assert_eq(an_stats_describe(x, 3, NULL, 0, &s), 0);
	cr_assert_eq(s.median, 1.5);
	assert_rel(s.mean, 1.5, 1e-15, "mean");
}

/* ---- posteriors ---- */

Test(an_stats, posteriors)
{
	struct an_stats_posterior p;
	/* uniform prior, no data: the prior itself */
	cr_assert_eq(an_stats_beta_posterior(AN_STATS_SENS_PRIOR_A, AN_STATS_SENS_PRIOR_B, 0, 0, 0.95,
					     AN_STATS_TWO_SIDED, &p), 0);
	cr_assert_eq(p.mean, 0.5);
	assert_rel(p.ci.lo, 0.025, 1e-13, "uniform lo");
	assert_rel(p.ci.hi, 0.975, 1e-13, "uniform hi");
	/* 41/41 under Beta(1,1): one-sided 95 % lower bound = 0.05^(1/42) (Beta(42, 1) quantile) */
	cr_assert_eq(an_stats_beta_posterior(1.0, 1.0, 41, 41, 0.95, AN_STATS_LOWER_BOUND, &p), 0);
	assert_rel(p.ci.lo, pow(0.05, 1.0 / 42.0), 1e-13, "beta(42,1)");
	cr_assert_eq(p.ci.hi, 1.0);
	/* rat prior: mean 0.33 per 100 m² before any data */
	cr_assert_eq(an_stats_gamma_posterior(AN_STATS_FA_PRIOR_SHAPE, AN_STATS_FA_PRIOR_M2_RAT, 0, 0.0, 100.0,
					      0.95, AN_STATS_TWO_SIDED, &p), 0);
	assert_rel(p.mean, 0.33, 1e-14, "rat prior mean");
	/* Poling's record: Gamma(1 + 308, 303 + 93 400 m²), scipy gamma.ppf */
	cr_assert_eq(an_stats_gamma_posterior(AN_STATS_FA_PRIOR_SHAPE, AN_STATS_FA_PRIOR_M2_RAT, 308, 93400.0,
					      100.0, 0.95, AN_STATS_TWO_SIDED, &p), 0);
	assert_rel(p.mean, 309.0 / (100.0 / 0.33 + 93400.0) * 100.0, 1e-14, "posterior mean");
	assert_rel(p.ci.lo, 0.2940179, 1e-6, "posterior lo");
	assert_rel(p.ci.hi, 0.36753366, 1e-6, "posterior hi");
	cr_assert_eq(an_stats_gamma_posterior(1.0, 0.0, 0, 0.0, 100.0, 0.95, AN_STATS_TWO_SIDED, &p), -EINVAL,
		     "improper prior and no exposure");
	cr_assert_eq(an_stats_beta_posterior(0.0, 1.0, 1, 2, 0.95, AN_STATS_TWO_SIDED, &p), -EINVAL);
}
