/*
 * an_stats_tool — exposes an_stats_* and an_match_* to the scipy peer scripts in this folder.
 *
 * Reads one command per line on stdin, writes exactly one result line per command on stdout
 * ("ERR <code>" when the library refused), so the python side can batch thousands of cases through one
 * process. Numbers are printed with %.17g, which round-trips doubles exactly.
 *
 *   cp K N CONF SIDE             -> lo hi          (an_stats_binom_cp; SIDE 0 two-sided, 1 lower, 2 upper)
 *   wilson K N CONF SIDE CC      -> lo hi
 *   pois K CONF SIDE             -> lo hi
 *   rate K EXPOSURE PER CONF SIDE-> rate lo hi
 *   betainc A B X                -> p q
 *   betaincinv A B P Q           -> x
 *   gammainc A X                 -> p q
 *   gammaincinv A P Q            -> x
 *   ppf P                        -> z
 *   betapost A0 B0 K N CRED SIDE -> mean lo hi
 *   gammapost S0 R0 K EXPOSURE PER CRED SIDE -> mean lo hi
 *   zmn TARGET CONF SIDE         -> n
 *   more K N TARGET CONF SIDE    -> m
 *   quant Q N X1 .. XN           -> value (data must be sorted)
 *   describe N X1 .. XN          -> mean min median p90 p95 max
 *   lsa NR NC C11 .. CRC         -> total n_matched col_of_row0 .. (-1 = unassigned)
 *   match NA NB GMIN CHI2 COST  then NA + NB lines "id x y sigma"
 *                                -> n total [ida idb cost]...
 */
#define _POSIX_C_SOURCE 200809L /* strtok_r */

#include "an/match.h"
#include "an/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES (1u << 24)

static char *next_tok(char **save)
{
	return strtok_r(NULL, " \t\r\n", save);
}

static int tok_u64(char **save, uint64_t *v)
{
	char *t = next_tok(save), *end;
	if (!t)
		return -1;
	*v = strtoull(t, &end, 10);
	return *end ? -1 : 0;
}

static int tok_i64(char **save, int64_t *v)
{
	char *t = next_tok(save), *end;
	if (!t)
		return -1;
	*v = strtoll(t, &end, 10);
	return *end ? -1 : 0;
}

static int tok_f(char **save, double *v)
{
	char *t = next_tok(save), *end;
	if (!t)
		return -1;
	*v = strtod(t, &end);
	return *end ? -1 : 0;
}

static int read_points(FILE *in, char *line, size_t n, struct an_match_point *p)
{
	for (size_t i = 0; i < n; i++) {
		if (!fgets(line, (int)LINE_MAX_BYTES, in))
			return -1;
		char *save = NULL;
		char *t = strtok_r(line, " \t\r\n", &save);
		if (!t)
			return -1;
		p[i].id = strtoull(t, NULL, 10);
		if (tok_i64(&save, &p[i].x_mm) || tok_i64(&save, &p[i].y_mm) || tok_i64(&save, &p[i].sigma_mm))
			return -1;
	}
	return 0;
}

static int do_match(FILE *in, char *line, char **save)
{
	uint64_t na, nb, chi2, cost;
	int64_t gmin;
	if (tok_u64(save, &na) || tok_u64(save, &nb) || tok_i64(save, &gmin) || tok_u64(save, &chi2) ||
	    tok_u64(save, &cost))
		return -1;
	struct an_match_point *a = calloc(na + 1, sizeof *a), *b = calloc(nb + 1, sizeof *b);
	struct an_match_pair *pairs = calloc((na < nb ? na : nb) + 1, sizeof *pairs);
	if (!a || !b || !pairs || read_points(in, line, na, a) || read_points(in, line, nb, b)) {
		free(a);
		free(b);
		free(pairs);
		return -1;
	}
	struct an_match_opts o;
	an_match_opts_init(&o);
	o.gate_min_mm = gmin;
	o.gate_chi2_micro = (uint32_t)chi2;
	o.cost = cost ? AN_MATCH_COST_DIST2_MM2 : AN_MATCH_COST_DIST_MM;
	size_t n = 0;
	struct an_match_info info;
	int err = an_match_solve(a, na, b, nb, &o, pairs, (na < nb ? na : nb) + 1, &n, &info);
	if (err < 0) {
		printf("ERR %d\n", err);
	} else {
		printf("%zu %" PRId64, n, info.total_cost);
		for (size_t i = 0; i < n; i++)
			printf(" %" PRIu64 " %" PRIu64 " %" PRId64, pairs[i].id_a, pairs[i].id_b, pairs[i].cost);
		printf("\n");
	}
	free(a);
	free(b);
	free(pairs);
	return 0;
}

static int do_lsa(char **save)
{
	uint64_t nr, nc;
	if (tok_u64(save, &nr) || tok_u64(save, &nc))
		return -1;
	int64_t *c = malloc((nr * nc + 1) * sizeof *c);
	size_t *r2c = malloc((nr + 1) * sizeof *r2c);
	if (!c || !r2c)
		goto bad;
	for (size_t k = 0; k < nr * nc; k++)
		if (tok_i64(save, &c[k]))
			goto bad;
	int64_t total;
	size_t cnt;
	int err = an_match_lsa(c, nr, nc, r2c, &total, &cnt);
	if (err < 0) {
		printf("ERR %d\n", err);
	} else {
		printf("%" PRId64 " %zu", total, cnt);
		for (size_t r = 0; r < nr; r++)
			printf(" %lld", r2c[r] == SIZE_MAX ? -1LL : (long long)r2c[r]);
		printf("\n");
	}
	free(c);
	free(r2c);
	return 0;
bad:
	free(c);
	free(r2c);
	return -1;
}

static void print_iv(int err, const struct an_stats_interval *iv)
{
	if (err < 0)
		printf("ERR %d\n", err);
	else
		printf("%.17g %.17g\n", iv->lo, iv->hi);
}

int main(void)
{
	char *line = malloc(LINE_MAX_BYTES);
	if (!line)
		return 2;
	while (fgets(line, (int)LINE_MAX_BYTES, stdin)) {
		char *save = NULL;
		char *cmd = strtok_r(line, " \t\r\n", &save);
		if (!cmd)
			continue;
		uint64_t k, n, side, cc;
		double conf, x, y, z, w;
		struct an_stats_interval iv;
		int bad = 0, err;
		if (!strcmp(cmd, "cp")) {
			bad = tok_u64(&save, &k) || tok_u64(&save, &n) || tok_f(&save, &conf) || tok_u64(&save, &side);
			if (!bad)
				print_iv(an_stats_binom_cp(k, n, conf, (enum an_stats_side)side, &iv), &iv);
		} else if (!strcmp(cmd, "wilson")) {
			bad = tok_u64(&save, &k) || tok_u64(&save, &n) || tok_f(&save, &conf) ||
			      tok_u64(&save, &side) || tok_u64(&save, &cc);
			if (!bad)
				print_iv(an_stats_binom_wilson(k, n, conf, (enum an_stats_side)side, (int)cc, &iv), &iv);
		} else if (!strcmp(cmd, "pois")) {
			bad = tok_u64(&save, &k) || tok_f(&save, &conf) || tok_u64(&save, &side);
			if (!bad)
				print_iv(an_stats_poisson_exact(k, conf, (enum an_stats_side)side, &iv), &iv);
		} else if (!strcmp(cmd, "rate")) {
			bad = tok_u64(&save, &k) || tok_f(&save, &x) || tok_f(&save, &y) || tok_f(&save, &conf) ||
			      tok_u64(&save, &side);
			if (!bad) {
				double rate;
				err = an_stats_rate_exact(k, x, y, conf, (enum an_stats_side)side, &rate, &iv);
				if (err < 0)
					printf("ERR %d\n", err);
				else
					printf("%.17g %.17g %.17g\n", rate, iv.lo, iv.hi);
			}
		} else if (!strcmp(cmd, "betainc") || !strcmp(cmd, "gammainc")) {
			int is_beta = cmd[0] == 'b';
			bad = tok_f(&save, &x) || (is_beta && tok_f(&save, &y)) || tok_f(&save, &z);
			if (!bad) {
				double p, q;
				err = is_beta ? an_stats_betainc(x, y, z, &p, &q) : an_stats_gammainc(x, z, &p, &q);
				if (err < 0)
					printf("ERR %d\n", err);
				else
					printf("%.17g %.17g\n", p, q);
			}
		} else if (!strcmp(cmd, "betaincinv") || !strcmp(cmd, "gammaincinv")) {
			int is_beta = cmd[0] == 'b';
			bad = tok_f(&save, &x) || (is_beta && tok_f(&save, &y)) || tok_f(&save, &z) || tok_f(&save, &w);
			if (!bad) {
				double r;
				err = is_beta ? an_stats_betainc_inv(x, y, z, w, &r) : an_stats_gammainc_inv(x, z, w, &r);
				if (err < 0)
					printf("ERR %d\n", err);
				else
					printf("%.17g\n", r);
			}
		} else if (!strcmp(cmd, "ppf")) {
			bad = tok_f(&save, &x);
			if (!bad) {
				err = an_stats_norm_ppf(x, &z);
				if (err < 0)
					printf("ERR %d\n", err);
				else
					printf("%.17g\n", z);
			}
		} else if (!strcmp(cmd, "betapost") || !strcmp(cmd, "gammapost")) {
			int is_beta = cmd[0] == 'b';
			bad = tok_f(&save, &x) || tok_f(&save, &y) || tok_u64(&save, &k) ||
			      (is_beta ? tok_u64(&save, &n) : (tok_f(&save, &z) || tok_f(&save, &w))) ||
			      tok_f(&save, &conf) || tok_u64(&save, &side);
			if (!bad) {
				struct an_stats_posterior post;
				err = is_beta ? an_stats_beta_posterior(x, y, k, n, conf, (enum an_stats_side)side, &post)
					      : an_stats_gamma_posterior(x, y, k, z, w, conf, (enum an_stats_side)side,
									 &post);
				if (err < 0)
					printf("ERR %d\n", err);
				else
					printf("%.17g %.17g %.17g\n", post.mean, post.ci.lo, post.ci.hi);
			}
		} else if (!strcmp(cmd, "zmn") || !strcmp(cmd, "more")) {
			int more = cmd[0] == 'm';
			bad = (more && (tok_u64(&save, &k) || tok_u64(&save, &n))) || tok_f(&save, &x) ||
			      tok_f(&save, &conf) || tok_u64(&save, &side);
			if (!bad) {
				uint64_t r;
				err = more ? an_stats_more_needed(k, n, x, conf, (enum an_stats_side)side, &r)
					   : an_stats_zero_miss_n(x, conf, (enum an_stats_side)side, &r);
				if (err < 0)
					printf("ERR %d\n", err);
				else
					printf("%" PRIu64 "\n", r);
			}
		} else if (!strcmp(cmd, "quant") || !strcmp(cmd, "describe")) {
			int is_q = cmd[0] == 'q';
			bad = (is_q && tok_f(&save, &x)) || tok_u64(&save, &n);
			double *v = bad ? NULL : malloc((n + 1) * sizeof *v);
			for (size_t i = 0; !bad && i < n; i++)
				bad = tok_f(&save, &v[i]);
			if (!bad && v) {
				if (is_q) {
					err = an_stats_quantile_sorted(v, n, x, &z);
					if (err < 0)
						printf("ERR %d\n", err);
					else
						printf("%.17g\n", z);
				} else {
					struct an_stats_summary s;
					err = an_stats_describe(v, n, NULL, 0, &s);
					if (err < 0)
						printf("ERR %d\n", err);
					else
						printf("%.17g %.17g %.17g %.17g %.17g %.17g\n", s.mean, s.min, s.median,
						       s.p90, s.p95, s.max);
				}
			}
			free(v);
		} else if (!strcmp(cmd, "lsa")) {
			bad = do_lsa(&save);
		} else if (!strcmp(cmd, "match")) {
			bad = do_match(stdin, line, &save);
		} else {
			bad = 1;
		}
		if (bad)
			printf("ERR parse\n");
	}
	free(line);
	return 0;
}
