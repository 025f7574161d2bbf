/*
 * analysis/tools/cmd_cluster.c — `scentrack cluster`: batch DBSCAN of indications from CSV.
 *
 * The whole input is read and validated before anything is printed, so a bad row yields an error naming
 * its line and NO output (a half-written label file is worse than none). Labels come from the same
 * incremental core the daemon uses (an/cluster.h), so this command is also how that core is checked
 * against scikit-learn (tests/analysis/sklearn/).
 */
#define _POSIX_C_SOURCE 200809L /* getc_unlocked, strcasecmp */

#include "an/cluster.h"
#include "an/geo.h"
#include "scentrack_cmd.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#define LINE_MAX_BYTES 1024

enum coords { COORDS_UNSET, COORDS_MM, COORDS_DEG };

struct row {
	uint64_t id;
	double a; /* x_mm or lat */
	double b; /* y_mm or lon */
	int64_t ia, ib;
	unsigned long line;
};

struct input {
	struct row *rows;
	size_t n, cap, max;
	enum coords kind;
	const char *name;
};

static void help(FILE *f)
{
	fprintf(f,
		"usage: scentrack cluster --eps-mm N --min-pts K [--deg | --mm] [--max-points N] [--header]\n"
		"                         [--stats] [--batch] [FILE | -]\n"
		"\n"
		"Cluster indications with DBSCAN and print one line per point, sorted by id:\n"
		"    id,cluster_id,is_core\n"
		"cluster_id is the smallest id among the cluster's core points, -1 for noise; is_core is 1 or 0.\n"
		"The result depends only on the set of points, never on their order in the file.\n"
		"\n"
		"DBSCAN, exactly: a point is CORE when at least K points (itself included, as scikit-learn's\n"
		"min_samples) lie within N millimetres (distance <= N, tested in integer millimetres). Core points\n"
		"within N of each other share a cluster. A non-core point within N of a core point is a BORDER point\n"
		"of the cluster of its nearest core point (ties: the smaller core id). Anything else is noise.\n"
		"\n"
		"input (FILE, or stdin when FILE is absent or '-'): CSV, one point per line, either\n"
		"    id,x_mm,y_mm     local east/north in integer millimetres (the default), or\n"
		"    id,lat,lon       WGS84 decimal degrees (header 'id,lat,lon' or option --deg)\n"
		"The first line may be that header. id: unsigned 64-bit integer, unique, below 18446744073709551615.\n"
		"Blank lines and lines starting with '#' are ignored. Degrees are converted to east/north\n"
		"millimetres on the tangent plane at the centre of the points' bounding box (WGS84 -> ECEF -> ENU,\n"
		"rounded to 1 mm; distance error <= 0.12 mm for points 50 m apart within 10 km of the centre).\n"
		"\n"
		"options:\n"
		"  -e, --eps-mm N      neighbourhood radius in mm, 1..100000000 (required). Rule of thumb: never\n"
		"                      below 1000 (the 1 m rule); 2.45 x sqrt(sa^2 + sb^2) for fixes with per-axis\n"
		"                      sigma sa, sb (RTK 1000, SBAS ~2500, autonomous GNSS ~7000).\n"
		"  -k, --min-pts K     core threshold, counting the point itself, 1..65535 (required)\n"
		"      --deg / --mm    force the coordinate kind when there is no header\n"
		"      --max-points N  refuse inputs with more points (default %u)\n"
		"      --header        print the line 'id,cluster_id,is_core' first\n"
		"      --stats         print counts (points, core, clusters, noise) on stderr\n"
		"      --batch         use the batch implementation instead of inserting point by point into the\n"
		"                      incremental core (same labels; faster for big files)\n"
		"  -h, --help          this text\n"
		"\n"
		"example: two indications 0.7 m apart and one far away, 1 m radius, 2 points make a core:\n"
		"    printf 'id,x_mm,y_mm\\n7,0,0\\n3,700,0\\n9,50000,0\\n' | scentrack cluster --eps-mm 1000 --min-pts 2\n"
		"    3,3,1\n"
		"    7,3,1\n"
		"    9,-1,0\n"
		"\n"
		"exit status: 0 ok; 64 bad command line; 65 bad input (the message names the line; nothing is\n"
		"printed on stdout); 66 FILE cannot be opened; 70 out of memory; 74 read or write error.\n",
		AN_CLUSTER_MAX_POINTS_DEFAULT);
}

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "scentrack cluster: %s%s%s (try: scentrack cluster --help)\n", msg, arg ? " " : "",
		arg ? arg : "");
	return EX_USAGE;
}

static int data_error(const struct input *in, unsigned long line, const char *fmt, const char *field,
		      const char *why)
{
	fprintf(stderr, "scentrack cluster: %s:%lu: ", in->name, line);
	fprintf(stderr, fmt, field);
	if (why != NULL)
		fprintf(stderr, ": %s", why);
	fputc('\n', stderr);
	return EX_DATAERR;
}

static int parse_ll_arg(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

static bool all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* Plain decimal: [+-]digits[.digits] or [+-].digits — no exponent, hex, inf or nan (strtod takes those). */
static bool plain_decimal(const char *s, bool allow_point)
{
	if (*s == '+' || *s == '-')
		s++;
	bool digit = false, point = false;
	for (; *s; s++) {
		if (isdigit((unsigned char)*s))
			digit = true;
		else if (*s == '.' && allow_point && !point)
			point = true;
		else
			return false;
	}
	return digit;
}

static int split3(char *line, char *f[3])
{
	int n = 0;
	char *p = line;
	for (;;) {
		char *comma = strchr(p, ',');
		if (n == 3)
			return -1;
		f[n++] = p;
		if (comma == NULL)
			break;
		*comma = '\0';
		p = comma + 1;
	}
	for (int i = 0; i < n; i++)
		f[i] = trim(f[i]);
	return n == 3 ? 0 : -1;
}

static int header_kind(char *f[3], enum coords *kind)
{
	if (strcasecmp(f[0], "id") != 0)
		return -1;
	if (strcasecmp(f[1], "x_mm") == 0 && strcasecmp(f[2], "y_mm") == 0)
		*kind = COORDS_MM;
	else if (strcasecmp(f[1], "lat") == 0 && strcasecmp(f[2], "lon") == 0)
		*kind = COORDS_DEG;
	else
		return -1;
	return 0;
}

static int parse_row(struct input *in, unsigned long line, char *f[3], struct row *r)
{
	char *end;
	if (!all_digits(f[0]))
		return data_error(in, line, "id '%s' is not an unsigned decimal integer", f[0], NULL);
	errno = 0;
	unsigned long long id = strtoull(f[0], &end, 10);
	if (errno == ERANGE || id >= AN_CLUSTER_NONE)
		return data_error(in, line, "id '%s' is too large", f[0], "ids must be below 18446744073709551615");
	r->id = id;
	r->line = line;
	if (in->kind == COORDS_MM) {
		static const char *const names[2] = {"x_mm", "y_mm"};
		int64_t v[2];
		for (int i = 0; i < 2; i++) {
			const char *s = f[1 + i];
			if (!plain_decimal(s, false)) {
				if (plain_decimal(s, true))
					fprintf(stderr, "scentrack cluster: %s:%lu: %s '%s' is not an integer number of "
							"millimetres (for degrees use the header 'id,lat,lon' or --deg)\n",
						in->name, line, names[i], s);
				else
					fprintf(stderr, "scentrack cluster: %s:%lu: %s '%s' is not an integer\n", in->name,
						line, names[i], s);
				return EX_DATAERR;
			}
			errno = 0;
			long long x = strtoll(s, &end, 10);
			if (errno == ERANGE || x > AN_CLUSTER_COORD_MAX_MM || x < -AN_CLUSTER_COORD_MAX_MM) {
				fprintf(stderr, "scentrack cluster: %s:%lu: %s '%s' is out of range (|value| <= %lld mm)\n",
					in->name, line, names[i], s, (long long)AN_CLUSTER_COORD_MAX_MM);
				return EX_DATAERR;
			}
			v[i] = x;
		}
		r->ia = v[0];
		r->ib = v[1];
	} else {
		static const char *const names[2] = {"lat", "lon"};
		static const double lim[2] = {90.0, 180.0};
		double v[2];
		for (int i = 0; i < 2; i++) {
			const char *s = f[1 + i];
			if (!plain_decimal(s, true)) {
				fprintf(stderr, "scentrack cluster: %s:%lu: %s '%s' is not a decimal number of degrees\n",
					in->name, line, names[i], s);
				return EX_DATAERR;
			}
			v[i] = strtod(s, &end);
			if (!(fabs(v[i]) <= lim[i])) {
				fprintf(stderr, "scentrack cluster: %s:%lu: %s '%s' is outside ±%.0f degrees\n", in->name,
					line, names[i], s, lim[i]);
				return EX_DATAERR;
			}
		}
		r->a = v[0];
		r->b = v[1];
	}
	return 0;
}

/* One line into buf (without the newline). 1 = got a line, 0 = end of input, <0 = too long / NUL byte. */
static int read_line(FILE *fp, char *buf, size_t cap)
{
	size_t n = 0;
	int ch;
	while ((ch = getc_unlocked(fp)) != EOF && ch != '\n') {
		if (ch == '\0')
			return -2;
		if (n + 1u >= cap)
			return -1;
		buf[n++] = (char)ch;
	}
	buf[n] = '\0';
	return (ch == EOF && n == 0) ? 0 : 1;
}

static int read_input(FILE *fp, struct input *in)
{
	char buf[LINE_MAX_BYTES + 1];
	unsigned long line = 0;
	bool first = true;
	int got;
	while ((got = read_line(fp, buf, sizeof buf)) != 0) {
		line++;
		if (got == -1)
			return data_error(in, line, "line longer than %s bytes", "1024", NULL);
		if (got == -2)
			return data_error(in, line, "%s", "NUL byte in the line (is this a text file?)", NULL);
		char *s = trim(buf);
		if (*s == '\0' || *s == '#')
			continue;
		char *f[3];
		if (split3(s, f) < 0)
			return data_error(in, line, "expected 3 comma-separated fields (%s)",
					  in->kind == COORDS_DEG ? "id,lat,lon" : "id,x_mm,y_mm", NULL);
		if (first) {
			first = false;
			if (!all_digits(f[0])) {
				enum coords k;
				if (header_kind(f, &k) < 0)
					return data_error(in, line, "unknown header '%s'",
							  f[0], "expected 'id,x_mm,y_mm' or 'id,lat,lon'");
				if (in->kind != COORDS_UNSET && in->kind != k)
					return data_error(in, line, "header '%s' contradicts --deg/--mm", f[1], NULL);
				in->kind = k;
				continue;
			}
			if (in->kind == COORDS_UNSET)
				in->kind = COORDS_MM;
		}
		if (in->n == in->max) {
			char lim[32];
			snprintf(lim, sizeof lim, "%zu", in->max);
			return data_error(in, line, "more than %s points", lim, "raise --max-points");
		}
		if (in->n == in->cap) {
			size_t cap = in->cap ? in->cap * 2u : 1024u;
			if (cap > in->max)
				cap = in->max;
			struct row *r = realloc(in->rows, cap * sizeof *r);
			if (r == NULL) {
				fprintf(stderr, "scentrack cluster: out of memory reading %s\n", in->name);
				return EX_SOFTWARE;
			}
			in->rows = r;
			in->cap = cap;
		}
		int rc = parse_row(in, line, f, &in->rows[in->n]);
		if (rc != 0)
			return rc;
		in->n++;
	}
	if (ferror(fp)) {
		fprintf(stderr, "scentrack cluster: %s: read error: %s\n", in->name, strerror(errno));
		return EX_IOERR;
	}
	return 0;
}

/* Degrees → mm about the bounding-box centre: min/max do not depend on row order, a mean's rounding would. */
static int to_mm(struct input *in)
{
	if (in->kind != COORDS_DEG || in->n == 0)
		return 0;
	double lat_lo = in->rows[0].a, lat_hi = lat_lo, lon_lo = in->rows[0].b, lon_hi = lon_lo;
	for (size_t i = 1; i < in->n; i++) {
		lat_lo = fmin(lat_lo, in->rows[i].a);
		lat_hi = fmax(lat_hi, in->rows[i].a);
		lon_lo = fmin(lon_lo, in->rows[i].b);
		lon_hi = fmax(lon_hi, in->rows[i].b);
	}
	if (lon_hi - lon_lo > 180.0) {
		fprintf(stderr, "scentrack cluster: %s: points span more than 180 degrees of longitude "
				"(a site across the antimeridian is not supported)\n",
			in->name);
		return EX_DATAERR;
	}
	/* WGS84 → ECEF → local ENU about the centre of the points' bounding box (so the result does not
	 * depend on row order), with every point and the origin on the ellipsoid (h = 0): distances are then
	 * horizontal, as the 1 m rule means them; real heights would tilt positions by about h·r/R. */
	struct an_geo_origin o;
	if (an_geo_origin_init(&o, (int32_t)lround((lat_lo + (lat_hi - lat_lo) / 2.0) * 1e7),
			       (int32_t)lround((lon_lo + (lon_hi - lon_lo) / 2.0) * 1e7), 0) < 0) {
		fprintf(stderr, "scentrack cluster: internal error: bad origin\n");
		return EX_SOFTWARE;
	}
	for (size_t i = 0; i < in->n; i++) {
		struct row *r = &in->rows[i];
		struct an_geo_enu enu;
		if (an_geo_enu_from_deg(&o, r->a, r->b, 0.0, &enu) < 0)
			return data_error(in, r->line, "%s", "point too far from the centre of the points",
					  "beyond the local frame's range");
		r->ia = enu.e_mm;
		r->ib = enu.n_mm;
	}
	return 0;
}

static int cmp_row_id(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	if (x->id != y->id)
		return (x->id > y->id) - (x->id < y->id);
	return (x->line > y->line) - (x->line < y->line);
}

static int cmp_point_id(const void *a, const void *b)
{
	uint64_t x = ((const struct an_cluster_point *)a)->id, y = ((const struct an_cluster_point *)b)->id;
	return (x > y) - (x < y);
}

/* Duplicate ids are a data error naming both lines; found by sorting a copy, before any clustering. */
static int check_unique(const struct input *in)
{
	if (in->n < 2)
		return 0;
	struct row *r = malloc(in->n * sizeof *r);
	if (r == NULL) {
		fprintf(stderr, "scentrack cluster: out of memory\n");
		return EX_SOFTWARE;
	}
	memcpy(r, in->rows, in->n * sizeof *r);
	qsort(r, in->n, sizeof *r, cmp_row_id);
	unsigned long first = 0, second = 0;
	uint64_t id = 0;
	for (size_t i = 1; i < in->n; i++) {
		if (r[i].id == r[i - 1].id && (second == 0 || r[i].line < second)) {
			first = r[i - 1].line;
			second = r[i].line;
			id = r[i].id;
		}
	}
	free(r);
	if (second == 0)
		return 0;
	fprintf(stderr, "scentrack cluster: %s:%lu: duplicate id %" PRIu64 " (first on line %lu): ids must be unique\n",
		in->name, second, id, first);
	return EX_DATAERR;
}

/* Labels of every point, sorted by id, from the incremental core (default) or the batch implementation. */
static int cluster_all(struct input *in, const struct an_cluster_opts *opts, bool batch,
		       struct an_cluster_point *out, struct an_cluster_stats *st)
{
	struct an_cluster_opts o = *opts;
	o.expected_points = (uint32_t)in->n;
	int err;
	if (batch) {
		struct an_cluster_input *pts = malloc((in->n ? in->n : 1u) * sizeof *pts);
		if (pts == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < in->n; i++)
			pts[i] = (struct an_cluster_input){in->rows[i].id, in->rows[i].ia, in->rows[i].ib};
		err = an_cluster_batch(&o, pts, in->n, out);
		free(pts);
		if (err < 0)
			return err;
		memset(st, 0, sizeof *st);
		st->n_points = in->n;
		for (size_t i = 0; i < in->n; i++) {
			st->n_core += out[i].is_core;
			st->n_clusters += out[i].is_core && out[i].cluster_id == out[i].id;
		}
		qsort(out, in->n, sizeof *out, cmp_point_id);
		return 0;
	}
	struct an_cluster *c = an_cluster_new(&o);
	if (c == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < in->n; i++) {
		err = an_cluster_insert(c, in->rows[i].id, in->rows[i].ia, in->rows[i].ib);
		if (err < 0)
			goto out_free_c;
	}
	long n = an_cluster_export(c, out, in->n);
	err = n < 0 ? (int)n : 0;
	an_cluster_stats(c, st);
out_free_c:
	an_cluster_free(c);
	return err;
}

static int run(struct input *in, const struct an_cluster_opts *opts, bool batch, bool header, bool stats)
{
	int rc = check_unique(in);
	if (rc != 0)
		return rc;
	struct an_cluster_point *out = malloc((in->n ? in->n : 1u) * sizeof *out);
	if (out == NULL) {
		fprintf(stderr, "scentrack cluster: out of memory\n");
		return EX_SOFTWARE;
	}
	struct an_cluster_stats st;
	int err = cluster_all(in, opts, batch, out, &st);
	if (err < 0) {
		/* input was validated above, so only resource exhaustion or a bug can get here */
		fprintf(stderr, "scentrack cluster: clustering failed: %s\n", strerror(-err));
		rc = EX_SOFTWARE;
		goto out_free_out;
	}
	if (header)
		fputs("id,cluster_id,is_core\n", stdout);
	size_t noise = 0;
	for (size_t i = 0; i < in->n; i++) {
		if (out[i].cluster_id == AN_CLUSTER_NONE) {
			noise++;
			printf("%" PRIu64 ",-1,0\n", out[i].id);
		} else {
			printf("%" PRIu64 ",%" PRIu64 ",%d\n", out[i].id, out[i].cluster_id, out[i].is_core ? 1 : 0);
		}
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "scentrack cluster: write error: %s\n", strerror(errno));
		rc = EX_IOERR;
		goto out_free_out;
	}
	if (stats)
		fprintf(stderr, "scentrack cluster: %zu points, %zu core, %zu clusters, %zu noise (eps %lld mm, "
				"min_pts %u, %s)\n",
			st.n_points, st.n_core, st.n_clusters, noise, (long long)opts->eps_mm, opts->min_pts,
			batch ? "batch" : "incremental");
out_free_out:
	free(out);
	return rc;
}

int scentrack_cmd_cluster(int argc, char **argv)
{
	enum { OPT_DEG = 256, OPT_MM, OPT_MAX, OPT_HEADER, OPT_STATS, OPT_BATCH };
	static const struct option longopts[] = {
		{"eps-mm", required_argument, NULL, 'e'}, {"min-pts", required_argument, NULL, 'k'},
		{"deg", no_argument, NULL, OPT_DEG},      {"mm", no_argument, NULL, OPT_MM},
		{"max-points", required_argument, NULL, OPT_MAX}, {"header", no_argument, NULL, OPT_HEADER},
		{"stats", no_argument, NULL, OPT_STATS},  {"batch", no_argument, NULL, OPT_BATCH},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct an_cluster_opts opts = {0};
	struct input in = {.kind = COORDS_UNSET, .max = AN_CLUSTER_MAX_POINTS_DEFAULT};
	bool header = false, stats = false, batch = false, have_eps = false, have_k = false;
	long long v;
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":e:k:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'e':
			if (parse_ll_arg(optarg, 1, AN_CLUSTER_EPS_MAX_MM, &v) < 0)
				return usage_error("--eps-mm wants an integer 1..100000000, got", optarg);
			opts.eps_mm = v;
			have_eps = true;
			break;
		case 'k':
			if (parse_ll_arg(optarg, 1, AN_CLUSTER_MIN_PTS_MAX, &v) < 0)
				return usage_error("--min-pts wants an integer 1..65535, got", optarg);
			opts.min_pts = (uint32_t)v;
			have_k = true;
			break;
		case OPT_DEG:
		case OPT_MM:
			if (in.kind != COORDS_UNSET)
				return usage_error("give at most one of --deg and --mm", NULL);
			in.kind = ch == OPT_DEG ? COORDS_DEG : COORDS_MM;
			break;
		case OPT_MAX:
			if (parse_ll_arg(optarg, 1, AN_CLUSTER_MAX_POINTS_LIMIT, &v) < 0)
				return usage_error("--max-points wants an integer 1..1073741824, got", optarg);
			opts.max_points = (uint32_t)v;
			in.max = (size_t)v;
			break;
		case OPT_HEADER:
			header = true;
			break;
		case OPT_STATS:
			stats = true;
			break;
		case OPT_BATCH:
			batch = true;
			break;
		case 'h':
			help(stdout);
			return fflush(stdout) == 0 ? 0 : EX_IOERR;
		case ':':
			return usage_error("missing value for", argv[optind - 1]);
		default:
			return usage_error("unknown option", argv[optind - 1]);
		}
	}
	if (!have_eps || !have_k)
		return usage_error("--eps-mm and --min-pts are required", NULL);
	if (argc - optind > 1)
		return usage_error("at most one FILE, got another:", argv[optind + 1]);

	FILE *fp = stdin;
	in.name = "<stdin>";
	if (optind < argc && strcmp(argv[optind], "-") != 0) {
		in.name = argv[optind];
		fp = fopen(in.name, "r");
		if (fp == NULL) {
			fprintf(stderr, "scentrack cluster: cannot open %s: %s\n", in.name, strerror(errno));
			return EX_NOINPUT;
		}
	}
	int rc = read_input(fp, &in);
	if (fp != stdin)
		fclose(fp);
	if (rc == 0)
		rc = to_mm(&in);
	if (rc == 0)
		rc = run(&in, &opts, batch, header, stats);
	free(in.rows);
	return rc;
}
