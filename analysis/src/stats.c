/*
 * analysis/src/stats.c — intervals, planning numbers, summaries and posteriors for per-animal accuracy.
 *
 * The special functions are written out here instead of taken from libm (lgamma is not thread-safe in
 * glibc, and tgamma/lgamma differ in the last bits between libms): results must be reproducible on
 * every machine the core runs on, so the code only relies on exp/log/log1p/sqrt, which IEEE-conforming
 * libms round correctly or nearly so.
 *
 * Accuracy design. The regularised incomplete beta and gamma functions are a "front factor" times a
 * continued fraction or series (Numerical Recipes §6.2/§6.4, modified Lentz). For large parameters the
 * naive front factor exp(a ln x + b ln(1-x) - ln B(a, b)) loses digits to cancellation between terms of
 * size ~a ln a; we use the Stirling split instead (the large terms cancel analytically and only
 * log1p(t) - t of the relative deviation from the mode remains), the same idea as Loader's binomial
 * density (R's dbinom_raw) and Boost's ibeta_power_terms. The quantiles are safeguarded Newton
 * iterations on a bracket: Newton gives quadratic convergence near the root, the bracket guarantees
 * termination even when the density is tiny or the start is poor.
 */
#include "an/stats.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LN_SQRT_2PI 0.91893853320467274178 /* ln sqrt(2 pi) */

static int bad_conf(double conf)
{
	return !(conf > 0.0 && conf < 1.0);
}

static int bad_side(enum an_stats_side side)
{
	return side != AN_STATS_TWO_SIDED && side != AN_STATS_LOWER_BOUND && side != AN_STATS_UPPER_BOUND;
}

/* Tail probability used for one bound: the whole alpha for one-sided claims, half of it for two-sided
 * intervals. Computed as scipy does ((1 - conf) / 2) so both round the same way. */
static double tail_alpha(double conf, enum an_stats_side side)
{
	return side == AN_STATS_TWO_SIDED ? (1.0 - conf) / 2.0 : 1.0 - conf;
}

/* ---- log-gamma and the Stirling remainder ---------------------------------------------------------- */

/* lgamma(x) - [(x - 1/2) ln x - x + ln sqrt(2 pi)] for x >= 10: the asymptotic series in 1/x with
 * Bernoulli-number coefficients. Seven terms leave < 1e-16 absolute at x = 10. */
static double stirling_tail(double x)
{
	double r = 1.0 / x, r2 = r * r;
	return r * (1.0 / 12 + r2 * (-1.0 / 360 + r2 * (1.0 / 1260 + r2 * (-1.0 / 1680 + r2 * (1.0 / 1188 +
		r2 * (-691.0 / 360360 + r2 * (1.0 / 156)))))));
}

static double lgamma_pos(double x)
{
	if (x >= 10.0)
		return (x - 0.5) * log(x) - x + LN_SQRT_2PI + stirling_tail(x);
	/* Recurrence Gamma(x) = Gamma(x + m) / (x (x+1) ... (x+m-1)), m up to 10: the product stays far
	 * from overflow and underflow for every positive double x. */
	double prod = 1.0;
	while (x < 10.0) {
		prod *= x;
		x += 1.0;
	}
	return (x - 0.5) * log(x) - x + LN_SQRT_2PI + stirling_tail(x) - log(prod);
}

/* Stirling remainder for any x > 0 (exact series for x >= 10, by difference below). */
static double stirling_err(double x)
{
	if (x >= 10.0)
		return stirling_tail(x);
	return lgamma_pos(x) - ((x - 0.5) * log(x) - x + LN_SQRT_2PI);
}

int an_stats_lgamma(double x, double *out)
{
	if (!(x > 0.0) || isinf(x))
		return -EINVAL;
	*out = lgamma_pos(x);
	return 0;
}

/* log1p(t) - t without cancellation for small |t| (the quantity left after the large terms cancel). */
static double log1pmx(double t)
{
	if (fabs(t) > 0.1)
		return log1p(t) - t;
	double tk = t, sum = 0.0;
	for (int k = 2; k < 60; k++) {
		tk *= -t;
		double term = tk / k; /* (-1)^(k+1) t^k / k, sign folded into tk */
		sum += term;
		if (fabs(term) <= 1e-17 * fabs(sum))
			break;
	}
	return sum;
}

/* ---- incomplete beta ------------------------------------------------------------------------------- */

/* ln B(a, b) without the cancellation of lgamma(a) - lgamma(a + b) when one argument is large and the
 * other small: that difference is -(A - 1/2) log1p(b/A) - b ln(A + b) + b + e(A) - e(A + b). */
static double lbeta_pos(double a, double b)
{
	double big = a > b ? a : b, sm = a > b ? b : a;
	if (big < 10.0 || sm >= 10.0)
		return lgamma_pos(a) + lgamma_pos(b) - lgamma_pos(a + b);
	return lgamma_pos(sm) - (big - 0.5) * log1p(sm / big) - sm * log(big + sm) + sm + stirling_err(big) -
	       stirling_err(big + sm);
}

/* ln[x^a (1-x)^b / B(a, b)] for 0 < x < 1. */
static double beta_log_front(double a, double b, double x)
{
	if (a < 10.0 || b < 10.0)
		return a * log(x) + b * log1p(-x) - lbeta_pos(a, b);
	/* Stirling split with x0 = a/(a+b), s = a + b:
	 * a ln(x/x0) + b ln((1-x)/(1-x0)) + 1/2 ln(ab/s) - ln sqrt(2 pi) + e(s) - e(a) - e(b).
	 * Near the mode the first two terms are large and nearly cancel; with D = x s - a they equal
	 * a log1pmx(D/a) + b log1pmx(-D/b) exactly (the linear parts cancel). Far from the mode there is
	 * no cancellation and the ratios are used directly (D/a would lose x's digits when x << x0). */
	double s = a + b, r1 = x * s / a, d = x * s - a, core;
	if (r1 >= 0.5 && r1 <= 2.0)
		core = a * log1pmx(d / a) + b * log1pmx(-d / b);
	else if (-d / b > -0.5)
		core = a * log(r1) + b * log1p(-d / b); /* (1-x)/(1-x0) = 1 - D/b, kept off log(1 + tiny) */
	else
		core = a * log(r1) + b * log((1.0 - x) * s / b); /* x near 1: 1 - x is exact there */
	return core + 0.5 * log(a * b / s) - LN_SQRT_2PI + stirling_err(s) - stirling_err(a) - stirling_err(b);
}

/* The front factor is symmetric in (a, x) <-> (b, 1 - x). Evaluate it from whichever of x and 1 - x
 * is exact: 1 - x is exact for x >= 1/2 (Sterbenz), but for tiny x it has lost x's low digits, and the
 * term b ln(1 - x) ~ -b x then carries a relative error of ~1e-16/x. */
static double beta_front_exact(double a, double b, double x)
{
	return x < 0.5 ? beta_log_front(a, b, x) : beta_log_front(b, a, 1.0 - x);
}

static int max_iter_for(double a, double b)
{
	double m = a > b ? a : b;
	double it = 1000.0 + 60.0 * sqrt(m);
	return it > 5e6 ? 5000000 : (int)it;
}

/* Continued fraction for I_x(a, b) (NR betacf), modified Lentz. Converges fast for x < (a+1)/(a+b+2). */
static int beta_cf(double a, double b, double x, double *out)
{
	const double tiny = 1e-300;
	double qab = a + b, qap = a + 1.0, qam = a - 1.0;
	double c = 1.0, d = 1.0 - qab * x / qap;
	if (fabs(d) < tiny)
		d = tiny;
	d = 1.0 / d;
	double h = d;
	int max_it = max_iter_for(a, b);
	for (int m = 1; m <= max_it; m++) {
		double dm = (double)m, m2 = 2.0 * dm;
		double aa = dm * (b - dm) * x / ((qam + m2) * (a + m2));
		d = 1.0 + aa * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1.0 + aa / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1.0 / d;
		h *= d * c;
		aa = -(a + dm) * (qab + dm) * x / ((a + m2) * (qap + m2));
		d = 1.0 + aa * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1.0 + aa / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1.0 / d;
		double del = d * c;
		h *= del;
		if (fabs(del - 1.0) <= DBL_EPSILON)
			break;
		if (m == max_it)
			return -ERANGE;
	}
	*out = h;
	return 0;
}

int an_stats_betainc(double a, double b, double x, double *p_out, double *q_out)
{
	if (!(a > 0.0) || !(b > 0.0) || isinf(a) || isinf(b) || !(x >= 0.0 && x <= 1.0))
		return -EINVAL;
	double p, q;
	if (x == 0.0) {
		p = 0.0;
		q = 1.0;
	} else if (x == 1.0) {
		p = 1.0;
		q = 0.0;
	} else if (x < (a + 1.0) / (a + b + 2.0)) {
		double cf;
		int err = beta_cf(a, b, x, &cf);
		if (err < 0)
			return err;
		p = exp(beta_front_exact(a, b, x)) * cf / a;
		q = 1.0 - p;
	} else {
		double cf;
		int err = beta_cf(b, a, 1.0 - x, &cf);
		if (err < 0)
			return err;
		q = exp(beta_front_exact(a, b, x)) * cf / b;
		p = 1.0 - q;
	}
	if (p_out)
		*p_out = p;
	if (q_out)
		*q_out = q;
	return 0;
}

/* ---- incomplete gamma ------------------------------------------------------------------------------ */

/* ln[x^a e^-x / Gamma(a)], x > 0. */
static double gamma_log_front(double a, double x)
{
	if (a < 10.0)
		return a * log(x) - x - lgamma_pos(a);
	/* a ln(x/a) - (x - a) + 1/2 ln a - ln sqrt(2 pi) - e(a). Within [a/2, 2a] x - a is exact (Sterbenz)
	 * and the first two terms are a log1pmx((x - a)/a); outside, they do not cancel. */
	double core = (x >= 0.5 * a && x <= 2.0 * a) ? a * log1pmx((x - a) / a) : a * log(x / a) + (a - x);
	return core + 0.5 * log(a) - LN_SQRT_2PI - stirling_err(a);
}

int an_stats_gammainc(double a, double x, double *p_out, double *q_out)
{
	if (!(a > 0.0) || isinf(a) || !(x >= 0.0))
		return -EINVAL;
	double p, q;
	int max_it = max_iter_for(a, x);
	if (x == 0.0) {
		p = 0.0;
		q = 1.0;
	} else if (isinf(x)) {
		p = 1.0;
		q = 0.0;
	} else if (x < a + 1.0) {
		/* Series P = front * sum_n x^n / (a (a+1) ... (a+n)). */
		double ap = a, del = 1.0 / a, sum = del;
		for (int n = 1;; n++) {
			ap += 1.0;
			del *= x / ap;
			sum += del;
			if (fabs(del) <= fabs(sum) * 1e-17)
				break;
			if (n == max_it)
				return -ERANGE;
		}
		p = exp(gamma_log_front(a, x)) * sum;
		q = 1.0 - p;
	} else {
		/* Continued fraction for Q (NR gcf), modified Lentz. */
		const double tiny = 1e-300;
		double bb = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / bb, h = d;
		for (int i = 1;; i++) {
			double di = (double)i;
			double an = -di * (di - a);
			bb += 2.0;
			d = an * d + bb;
			if (fabs(d) < tiny)
				d = tiny;
			c = bb + an / c;
			if (fabs(c) < tiny)
				c = tiny;
			d = 1.0 / d;
			double del = d * c;
			h *= del;
			if (fabs(del - 1.0) <= DBL_EPSILON)
				break;
			if (i == max_it)
				return -ERANGE;
		}
		q = exp(gamma_log_front(a, x)) * h;
		p = 1.0 - q;
	}
	if (p_out)
		*p_out = p;
	if (q_out)
		*q_out = q;
	return 0;
}

/* ---- safeguarded Newton on a bracket --------------------------------------------------------------- */

/* f(x) = (use_p ? CDF(x) - p : q - SF(x)): increasing in x, zero at the quantile. Evaluating against the
 * smaller of p and q keeps full relative precision in the tail that is being inverted. */
struct root_fn {
	int (*eval)(const struct root_fn *fn, double x, double *f, double *dfdx);
	double a, b, p, q;
	int use_p;
};

static int beta_eval(const struct root_fn *fn, double x, double *f, double *dfdx)
{
	double P, Q;
	int err = an_stats_betainc(fn->a, fn->b, x, &P, &Q);
	if (err < 0)
		return err;
	*f = fn->use_p ? P - fn->p : fn->q - Q;
	*dfdx = (x > 0.0 && x < 1.0) ? exp(beta_front_exact(fn->a, fn->b, x)) / (x * (1.0 - x)) : 0.0;
	return 0;
}

static int gamma_eval(const struct root_fn *fn, double x, double *f, double *dfdx)
{
	double P, Q;
	int err = an_stats_gammainc(fn->a, x, &P, &Q);
	if (err < 0)
		return err;
	*f = fn->use_p ? P - fn->p : fn->q - Q;
	*dfdx = x > 0.0 ? exp(gamma_log_front(fn->a, x)) / x : 0.0;
	return 0;
}

/* lo < root < hi (hi may be +inf). Newton steps that leave the bracket are replaced by bisection —
 * geometric when the bracket spans orders of magnitude, so tiny quantiles are reached quickly. */
static int newton_bracketed(const struct root_fn *fn, double lo, double hi, double x, double *out)
{
	for (int it = 0; it < 1000; it++) {
		double f, df;
		int err = fn->eval(fn, x, &f, &df);
		if (err < 0)
			return err;
		if (f == 0.0) {
			*out = x;
			return 0;
		}
		if (f < 0.0)
			lo = x;
		else
			hi = x;
		double step = (df > 0.0 && isfinite(df)) ? f / df : NAN;
		/* converged: the next Newton correction is below the precision f is known to */
		if (fabs(step) <= 1e-14 * fabs(x)) {
			double xn = x - step;
			*out = (xn >= lo && xn <= hi) ? xn : x;
			return 0;
		}
		double xn = x - step;
		if (!(xn > lo && xn < hi)) {
			if (isinf(hi))
				xn = x > 1.0 ? 4.0 * x : 4.0;
			else if (lo > 0.0 && hi > 8.0 * lo)
				xn = sqrt(lo) * sqrt(hi);
			else if (lo == 0.0)
				xn = hi / 64.0;
			else
				xn = lo + (hi - lo) / 2.0;
		}
		if ((isfinite(hi) && hi - lo <= 2.0 * DBL_EPSILON * hi) || xn == 0.0) {
			*out = xn;
			return 0;
		}
		x = xn;
	}
	return -ERANGE;
}

static int check_pq(double p, double q)
{
	if (!(p >= 0.0 && p <= 1.0) || !(q >= 0.0 && q <= 1.0) || fabs(p + q - 1.0) > 1e-12)
		return -EINVAL;
	return 0;
}

int an_stats_betainc_inv(double a, double b, double p, double q, double *x_out)
{
	if (!(a > 0.0) || !(b > 0.0) || isinf(a) || isinf(b) || check_pq(p, q) < 0)
		return -EINVAL;
	if (p == 0.0) {
		*x_out = 0.0;
		return 0;
	}
	if (q == 0.0) {
		*x_out = 1.0;
		return 0;
	}
	struct root_fn fn = { beta_eval, a, b, p, q, p <= q };
	/* Start: the normal approximation (mean ± z sd) when it lands inside (0, 1), else the tail forms
	 * I_x ~ x^a / (a B(a,b)) near 0 and its mirror near 1. Only the speed depends on it. */
	double mean = a / (a + b), x0 = -1.0, z;
	if (an_stats_norm_ppf(p <= q ? p : 1.0 - q, &z) == 0)
		x0 = mean + z * sqrt(a * b / ((a + b) * (a + b) * (a + b + 1.0)));
	if (!(x0 > 0.0 && x0 < 1.0)) {
		double lbeta = lbeta_pos(a, b);
		if (p <= q)
			x0 = exp((log(p) + log(a) + lbeta) / a);
		else
			x0 = 1.0 - exp((log(q) + log(b) + lbeta) / b);
	}
	if (!(x0 > 0.0 && x0 < 1.0))
		x0 = 0.5;
	double x;
	int err = newton_bracketed(&fn, 0.0, 1.0, x0, &x);
	if (err < 0)
		return err;
	*x_out = x;
	return 0;
}

int an_stats_gammainc_inv(double a, double p, double q, double *x_out)
{
	if (!(a > 0.0) || isinf(a) || check_pq(p, q) < 0)
		return -EINVAL;
	if (p == 0.0) {
		*x_out = 0.0;
		return 0;
	}
	if (q == 0.0) {
		*x_out = INFINITY;
		return 0;
	}
	struct root_fn fn = { gamma_eval, a, 0.0, p, q, p <= q };
	/* Start: Wilson–Hilferty cube-root normal approximation, or the small-x tail P ~ x^a / Gamma(a+1). */
	double z, x0 = 0.0;
	if (an_stats_norm_ppf(p <= q ? p : 1.0 - q, &z) == 0 && a >= 1.0) {
		double c = 1.0 - 1.0 / (9.0 * a) + z / (3.0 * sqrt(a));
		x0 = a * c * c * c;
	}
	if (!(x0 > 0.0) && p <= q)
		x0 = exp((log(p) + lgamma_pos(a + 1.0)) / a);
	if (!(x0 > 0.0) || !isfinite(x0))
		x0 = a;
	double x;
	int err = newton_bracketed(&fn, 0.0, INFINITY, x0, &x);
	if (err < 0)
		return err;
	*x_out = x;
	return 0;
}

/* ---- normal quantile (Wichura 1988, AS 241, PPND16) ------------------------------------------------ */

static double poly7(const double *c, double x)
{
	double v = c[7];
	for (int i = 6; i >= 0; i--)
		v = v * x + c[i];
	return v;
}

int an_stats_norm_ppf(double p, double *z_out)
{
	static const double a[8] = { 3.3871328727963666080e0, 1.3314166789178437745e+2,
		1.9715909503065514427e+3, 1.3731693765509461125e+4, 4.5921953931549871457e+4,
		6.7265770927008700853e+4, 3.3430575583588128105e+4, 2.5090809287301226727e+3 };
	static const double b[8] = { 1.0, 4.2313330701600911252e+1, 6.8718700749205790830e+2,
		5.3941960214247511077e+3, 2.1213794301586595867e+4, 3.9307895800092710610e+4,
		2.8729085735721942674e+4, 5.2264952788528545610e+3 };
	static const double c[8] = { 1.42343711074968357734e0, 4.63033784615654529590e0,
		5.76949722146069140550e0, 3.64784832476320460504e0, 1.27045825245236838258e0,
		2.41780725177450611770e-1, 2.27238449892691845833e-2, 7.74545014278341407640e-4 };
	static const double d[8] = { 1.0, 2.05319162663775882187e0, 1.67638483018380384940e0,
		6.89767334985100004550e-1, 1.48103976427480074590e-1, 1.51986665636164571966e-2,
		5.47593808499534494600e-4, 1.05075007164441684324e-9 };
	static const double e[8] = { 6.65790464350110377720e0, 5.46378491116411436990e0,
		1.78482653991729133580e0, 2.96560571828504891230e-1, 2.65321895265761230930e-2,
		1.24266094738807843860e-3, 2.71155556874348757815e-5, 2.01033439929228813265e-7 };
	static const double f[8] = { 1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1,
		1.48753612908506148525e-2, 7.86869131145613259100e-4, 1.84631831751005468180e-5,
		1.42151175831644588870e-7, 2.04426310338993978564e-15 };

	if (!(p > 0.0 && p < 1.0))
		return -EINVAL;
	double q = p - 0.5, r, z;
	if (fabs(q) <= 0.425) {
		r = 0.180625 - q * q;
		*z_out = q * poly7(a, r) / poly7(b, r);
		return 0;
	}
	r = q < 0.0 ? p : 1.0 - p;
	r = sqrt(-log(r));
	if (r <= 5.0) {
		r -= 1.6;
		z = poly7(c, r) / poly7(d, r);
	} else {
		r -= 5.0;
		z = poly7(e, r) / poly7(f, r);
	}
	*z_out = q < 0.0 ? -z : z;
	return 0;
}

/* ---- binomial proportion intervals ----------------------------------------------------------------- */

int an_stats_binom_cp(uint64_t k, uint64_t n, double conf, enum an_stats_side side,
		      struct an_stats_interval *out)
{
	if (n == 0 || k > n || bad_conf(conf) || bad_side(side))
		return -EINVAL;
	double alpha = tail_alpha(conf, side);
	double dk = (double)k, dn = (double)n;
	struct an_stats_interval iv = { 0.0, 1.0 };
	int err;
	/* lower: P(X >= k | p) = alpha  <=>  I_p(k, n-k+1) = alpha */
	if (side != AN_STATS_UPPER_BOUND && k > 0) {
		err = an_stats_betainc_inv(dk, dn - dk + 1.0, alpha, 1.0 - alpha, &iv.lo);
		if (err < 0)
			return err;
	}
	/* upper: P(X <= k | p) = alpha  <=>  1 - I_p(k+1, n-k) = alpha */
	if (side != AN_STATS_LOWER_BOUND && k < n) {
		err = an_stats_betainc_inv(dk + 1.0, dn - dk, 1.0 - alpha, alpha, &iv.hi);
		if (err < 0)
			return err;
	}
	*out = iv;
	return 0;
}

static double clamp01(double v)
{
	return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
}

int an_stats_binom_wilson(uint64_t k, uint64_t n, double conf, enum an_stats_side side, int cc,
			  struct an_stats_interval *out)
{
	if (n == 0 || k > n || bad_conf(conf) || bad_side(side) || (cc != 0 && cc != 1))
		return -EINVAL;
	double z;
	int err = an_stats_norm_ppf(side == AN_STATS_TWO_SIDED ? 0.5 + 0.5 * conf : conf, &z);
	if (err < 0)
		return err;
	/* Newcombe (1998) forms, written in the same order as scipy so both round alike. */
	double dn = (double)n, p = (double)k / dn, q = 1.0 - p;
	double denom = 2.0 * (dn + z * z);
	double center = (2.0 * dn * p + z * z) / denom;
	struct an_stats_interval iv = { 0.0, 1.0 };
	if (cc) {
		if (side != AN_STATS_UPPER_BOUND && k > 0) {
			double s = z * z - 2.0 - 1.0 / dn + 4.0 * p * (dn * q + 1.0);
			iv.lo = center - (1.0 + z * sqrt(s > 0.0 ? s : 0.0)) / denom;
		}
		if (side != AN_STATS_LOWER_BOUND && k < n) {
			double s = z * z + 2.0 - 1.0 / dn + 4.0 * p * (dn * q - 1.0);
			iv.hi = center + (1.0 + z * sqrt(s > 0.0 ? s : 0.0)) / denom;
		}
	} else {
		double delta = z / denom * sqrt(4.0 * dn * p * q + z * z);
		if (side != AN_STATS_UPPER_BOUND && k > 0)
			iv.lo = center - delta;
		if (side != AN_STATS_LOWER_BOUND && k < n)
			iv.hi = center + delta;
	}
	/* The continuity-corrected bounds can leave [0, 1] for tiny n; a proportion cannot. */
	iv.lo = clamp01(iv.lo);
	iv.hi = clamp01(iv.hi);
	*out = iv;
	return 0;
}

/* ---- Poisson ----------------------------------------------------------------------------------------- */

int an_stats_poisson_exact(uint64_t k, double conf, enum an_stats_side side, struct an_stats_interval *out)
{
	if (bad_conf(conf) || bad_side(side))
		return -EINVAL;
	double alpha = tail_alpha(conf, side), dk = (double)k;
	struct an_stats_interval iv = { 0.0, INFINITY };
	int err;
	if (side != AN_STATS_UPPER_BOUND && k > 0) {
		err = an_stats_gammainc_inv(dk, alpha, 1.0 - alpha, &iv.lo);
		if (err < 0)
			return err;
	}
	if (side != AN_STATS_LOWER_BOUND) {
		err = an_stats_gammainc_inv(dk + 1.0, 1.0 - alpha, alpha, &iv.hi);
		if (err < 0)
			return err;
	}
	*out = iv;
	return 0;
}

int an_stats_rate_exact(uint64_t k, double exposure, double per, double conf, enum an_stats_side side,
			double *rate_out, struct an_stats_interval *out)
{
	if (!(exposure > 0.0) || isinf(exposure) || !(per > 0.0) || isinf(per))
		return -EINVAL;
	struct an_stats_interval iv;
	int err = an_stats_poisson_exact(k, conf, side, &iv);
	if (err < 0)
		return err;
	double scale = per / exposure;
	out->lo = iv.lo * scale;
	out->hi = isinf(iv.hi) ? INFINITY : iv.hi * scale;
	if (rate_out)
		*rate_out = (double)k * scale;
	return 0;
}

/* ---- zero-miss planning ------------------------------------------------------------------------------ */

static int cp_lower(uint64_t k, uint64_t n, double conf, enum an_stats_side side, double *lo)
{
	struct an_stats_interval iv;
	int err = an_stats_binom_cp(k, n, conf, side, &iv);
	if (err < 0)
		return err;
	*lo = iv.lo;
	return 0;
}

#define PLAN_MAX 1000000000000ull /* 10^12 targets: beyond any programme */

int an_stats_zero_miss_n(double target, double conf, enum an_stats_side side, uint64_t *n_out)
{
	if (!(target > 0.0 && target < 1.0) || bad_conf(conf) || side == AN_STATS_UPPER_BOUND ||
	    bad_side(side))
		return -EINVAL;
	/* For n of n the Clopper–Pearson lower bound is alpha'^(1/n) (I_p(n, 1) = p^n), so
	 * n = ceil(ln alpha' / ln target); then confirm on the real interval function, which is what
	 * a report prints, so the two can never disagree by a rounding step. */
	double guess = ceil(log(tail_alpha(conf, side)) / log(target));
	if (!(guess < (double)PLAN_MAX))
		return -ERANGE;
	uint64_t n = guess < 1.0 ? 1 : (uint64_t)guess;
	double lo;
	int err;
	for (;;) {
		if ((err = cp_lower(n, n, conf, side, &lo)) < 0)
			return err;
		if (lo >= target)
			break;
		n++;
	}
	while (n > 1) {
		if ((err = cp_lower(n - 1, n - 1, conf, side, &lo)) < 0)
			return err;
		if (lo < target)
			break;
		n--;
	}
	*n_out = n;
	return 0;
}

#define MORE_MAX 1000000000ull

int an_stats_more_needed(uint64_t k, uint64_t n, double target, double conf, enum an_stats_side side,
			 uint64_t *m_out)
{
	if (k > n || !(target > 0.0 && target < 1.0) || bad_conf(conf) || side == AN_STATS_UPPER_BOUND ||
	    bad_side(side) || n > MORE_MAX)
		return -EINVAL;
	double lo;
	int err;
	if (n > 0) {
		if ((err = cp_lower(k, n, conf, side, &lo)) < 0)
			return err;
		if (lo >= target) {
			*m_out = 0;
			return 0;
		}
	}
	/* The lower bound of (k+m)/(n+m) increases with m ({X_{n+1} >= k+1} implies {X_n >= k}), so
	 * exponential search then bisection finds the smallest m. */
	uint64_t good = 1, bad = 0;
	for (;;) {
		if ((err = cp_lower(k + good, n + good, conf, side, &lo)) < 0)
			return err;
		if (lo >= target)
			break;
		bad = good;
		if (good >= MORE_MAX)
			return -ERANGE;
		good *= 2;
	}
	while (good - bad > 1) {
		uint64_t mid = bad + (good - bad) / 2;
		if ((err = cp_lower(k + mid, n + mid, conf, side, &lo)) < 0)
			return err;
		if (lo >= target)
			good = mid;
		else
			bad = mid;
	}
	*m_out = good;
	return 0;
}

/* ---- descriptive ------------------------------------------------------------------------------------- */

int an_stats_quantile_sorted(const double *x, size_t n, double q, double *out)
{
	if (n == 0 || !x || !(q >= 0.0 && q <= 1.0))
		return -EINVAL;
	double h = (double)(n - 1) * q;
	double fl = floor(h);
	size_t i = (size_t)fl;
	if (i >= n - 1) {
		*out = x[n - 1];
		return 0;
	}
	/* numpy's _lerp: a + t (b - a), switched to b - (1 - t)(b - a) for t >= 0.5 so that t = 1 gives b
	 * exactly; numpy 1.24 does the same. */
	double t = h - fl, a = x[i], b = x[i + 1], diff = b - a;
	*out = t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
	return 0;
}

static int cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;
	if (a < b)
		return -1;
	if (a > b)
		return 1;
	/* -0.0 before +0.0 so that the sorted array (and min) does not depend on input order */
	return (int)(signbit(b) != 0) - (int)(signbit(a) != 0);
}

int an_stats_describe(double *x, size_t n, const double *thresholds, size_t n_thr,
		      struct an_stats_summary *out)
{
	if (!x || n == 0 || n_thr > AN_STATS_MAX_THRESHOLDS || (n_thr > 0 && !thresholds))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return -EINVAL;
	for (size_t t = 0; t < n_thr; t++)
		if (isnan(thresholds[t]))
			return -EINVAL;
	qsort(x, n, sizeof *x, cmp_double);

	struct an_stats_summary s;
	memset(&s, 0, sizeof s);
	s.n = n;
	double sum = 0.0;
	for (size_t i = 0; i < n; i++)
		sum += x[i];
	s.mean = sum / (double)n;
	s.min = x[0];
	s.max = x[n - 1];
	(void)an_stats_quantile_sorted(x, n, 0.5, &s.median);
	(void)an_stats_quantile_sorted(x, n, 0.9, &s.p90);
	(void)an_stats_quantile_sorted(x, n, 0.95, &s.p95);
	for (size_t t = 0; t < n_thr; t++) {
		/* count of x <= thr: upper bound by binary search on the sorted data */
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (x[mid] <= thresholds[t])
				lo = mid + 1;
			else
				hi = mid;
		}
		s.n_within[t] = lo;
		s.share_within[t] = (double)lo / (double)n;
	}
	*out = s;
	return 0;
}

/* ---- posteriors -------------------------------------------------------------------------------------- */

int an_stats_beta_posterior(double a0, double b0, uint64_t k, uint64_t n, double cred,
			    enum an_stats_side side, struct an_stats_posterior *out)
{
	if (!(a0 > 0.0) || !(b0 > 0.0) || isinf(a0) || isinf(b0) || k > n || bad_conf(cred) ||
	    bad_side(side))
		return -EINVAL;
	double A = a0 + (double)k, B = b0 + (double)(n - k);
	double alpha = tail_alpha(cred, side);
	struct an_stats_posterior r = { A, B, A / (A + B), { 0.0, 1.0 } };
	int err;
	if (side != AN_STATS_UPPER_BOUND && (err = an_stats_betainc_inv(A, B, alpha, 1.0 - alpha, &r.ci.lo)) < 0)
		return err;
	if (side != AN_STATS_LOWER_BOUND && (err = an_stats_betainc_inv(A, B, 1.0 - alpha, alpha, &r.ci.hi)) < 0)
		return err;
	*out = r;
	return 0;
}

int an_stats_gamma_posterior(double shape0, double rate0, uint64_t k, double exposure, double per,
			     double cred, enum an_stats_side side, struct an_stats_posterior *out)
{
	if (!(shape0 > 0.0) || isinf(shape0) || !(rate0 >= 0.0) || isinf(rate0) || !(exposure >= 0.0) ||
	    isinf(exposure) || !(per > 0.0) || isinf(per) || bad_conf(cred) || bad_side(side))
		return -EINVAL;
	double A = shape0 + (double)k, B = rate0 + exposure;
	if (!(B > 0.0))
		return -EINVAL;
	double alpha = tail_alpha(cred, side);
	struct an_stats_posterior r = { A, B, A / B * per, { 0.0, INFINITY } };
	int err;
	if (side != AN_STATS_UPPER_BOUND) {
		if ((err = an_stats_gammainc_inv(A, alpha, 1.0 - alpha, &r.ci.lo)) < 0)
			return err;
		r.ci.lo = r.ci.lo / B * per;
	}
	if (side != AN_STATS_LOWER_BOUND) {
		if ((err = an_stats_gammainc_inv(A, 1.0 - alpha, alpha, &r.ci.hi)) < 0)
			return err;
		r.ci.hi = r.ci.hi / B * per;
	}
	*out = r;
	return 0;
}
