/*
 * analysis/tools/cmd_import.c — `scentrack import clearance FILE`: clearance results into the store,
 * all or nothing (an/import.h has the format, the natural key and the guarantees); `scentrack import
 * calibration FILE`: the trainers' calibration records of the animals, all or nothing, every bad line named;
 * `scentrack import boxpos FILE`: the data recorder's box positions of indications, the same way.
 */
#define _POSIX_C_SOURCE 200809L /* getopt_long */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <zmq.h>

#include "an/import.h"
#include "an/store.h"
#include "scentrack_cmd.h"

#define IMPORT_FILE_MAX (256u << 20) /* 256 MiB: far beyond any clearance sheet */
#define DB_DEFAULT "/var/lib/scentrack/scentrack.db"

static void help(FILE *f)
{
	fprintf(f,
		"usage: scentrack import clearance [--db PATH] [--format csv|json] [--dry-run] [--who NAME] FILE | -\n"
		"       scentrack import clearance --core ENDPOINT [--format csv|json] [--timeout S] FILE | -\n"
		"\n"
		"Import clearance (excavation) results: CSV with a header line, or JSON (an array of objects, or\n"
		"{\"clearance_results\": [...]}). Same field names in both, any order, case-insensitive:\n"
		"  task        task id or name (required)\n"
		"  date        ISO 8601 UTC: 2024-05-01, 2024-05-01T09:30:00Z or with an offset (+02:00)\n"
		"              (required; a time without a zone is refused)\n"
		"  result      ap_mine, at_mine, uxo, other_erw, fragment, scrap, nothing, not_accessible\n"
		"              (required; 'AP mine', 'other-ERW', 'scrap metal', 'nothing found' are accepted)\n"
		"  lat, lon    WGS84 decimal degrees, OR x_mm, y_mm in the task's local frame (one pair required\n"
		"              unless result is not_accessible)\n"
		"  sigma_m     1-sigma position error in metres (or pos_err_mm)\n"
		"  depth_cm    depth in cm (or depth_mm);  device_type, team: text;  box: box name or id;\n"
		"  hazard_id   hazard point closed by this result;  ref: the field sheet's item number\n"
		"\n"
		"Every row is checked before anything is written; any error names FILE:LINE:COLUMN and the field,\n"
		"and NOTHING is imported. Rows go in in one transaction with one audit-log row.\n"
		"Re-importing is safe: a row whose natural key (task + ref, or without ref: task + date + position\n"
		"+ result) is already stored with the same values is skipped as a duplicate; the same key with\n"
		"different values is refused (corrections are deliberate, not a side effect of re-running).\n"
		"\n"
		"options:\n"
		"  --db PATH         the store (default: $SCENTRACK_DB, else " DB_DEFAULT ")\n"
		"  --format F        csv or json (default: JSON when the file starts with '[' or '{')\n"
		"  --dry-run         validate everything, write nothing\n"
		"  --who NAME        name in the audit log (default: scentrack import)\n"
		"  --core ENDPOINT   hand the file to the running scentrack-core instead of opening the store (its\n"
		"                    [clearance] endpoint, ipc:// or loopback tcp://): same checks, same all or\n"
		"                    nothing, and the core's hazard points take the results into account before it\n"
		"                    answers\n"
		"  --timeout S       seconds to wait for the core's answer (default 60)\n"
		"  -h, --help        this text\n"
		"\n"
		"example:\n"
		"  printf 'ref,task,box,date,result,lat,lon,sigma_m,depth_cm,device_type,team\\n"
		"B1-01,7,B1,2024-05-02T10:15:00Z,AP mine,-19.1000350,34.8000620,0.05,12,PMN-2,Team 3\\n' > c.csv\n"
		"  scentrack import clearance --db field.db c.csv\n"
		"\n"
		"exit status: 0 imported (or all duplicates), 64 usage, 65 bad data (nothing imported),\n"
		"  66 cannot read FILE or open the store, 70 internal, 74 store I/O error, 75 store busy.\n"
		"\n"
		"The animals' calibration records (trainers): scentrack import calibration --help\n"
		"The data recorder's box positions of indications: scentrack import boxpos --help\n");
}

static void help_boxpos(FILE *f)
{
	fprintf(f,
		"usage: scentrack import boxpos [--db PATH] [--dry-run] [--who NAME] FILE | -\n"
		"       scentrack import boxpos --core ENDPOINT [--timeout S] FILE | -\n"
		"\n"
		"Import the data recorder's sheet: for each indication, the box position the handlers and the\n"
		"recorder wrote down - the lane they counted and the distance along it (marks on the rope for rats,\n"
		"a tape to the peg for dogs). The hazard engine places the indication there instead of at the\n"
		"collar's GNSS fix when its session has a box: under trees, where a fix is 10-20 m off, this is\n"
		"what puts two animals' indications of one item into one hazard point.\n"
		"\n"
		"CSV with a header line; columns in any order, names case-insensitive:\n"
		"  collar, rec_seq  the indication (as the collar numbers it), or\n"
		"  indication       the indication as COLLAR-REC_SEQ (the web map's id, e.g. 12-345)\n"
		"  lane             0-based lane number counted from the box's first lane (required)\n"
		"  along_m          distance along the lane from its start, m (required; up to the lane's length\n"
		"                   + 0.5 m)\n"
		"  sd_m             the recorder's 1-sigma along the lane, m (optional; default 0.25)\n");
	fprintf(f,
		"\n"
		"Every line is checked before anything is written (a line for a stored indication against its box:\n"
		"lane and length); EVERY bad line is reported as FILE:LINE: field: reason, and then NOTHING is\n"
		"imported. A sheet may be loaded before the collars' records arrive: its lines wait for them.\n"
		"History is append-only: a correction is a new line (the latest entry wins). Re-importing a sheet\n"
		"is safe: a line equal to the entry in force is skipped as a duplicate.\n"
		"\n"
		"options:\n"
		"  --db PATH, --store PATH  the store (default: $SCENTRACK_DB, else " DB_DEFAULT ")\n"
		"  --dry-run         check everything, write nothing\n"
		"  --who NAME        name in the audit log (default: scentrack import)\n"
		"  --core ENDPOINT   hand the sheet to the running scentrack-core (its [clearance] endpoint): same\n"
		"                    checks, and its hazard points take the positions before it answers\n"
		"  --timeout S       seconds to wait for the core's answer (default 60)\n"
		"  -h, --help        this text\n"
		"\n"
		"example:\n"
		"  printf 'collar,rec_seq,lane,along_m\\n12,345,17,8.5\\n' > sheet.csv\n"
		"  scentrack import boxpos --db field.db sheet.csv\n"
		"  sheet.csv: 1 line: 1 imported, 0 duplicates skipped\n"
		"\n"
		"exit status: 0 imported (or all duplicates), 64 usage, 65 bad data (nothing imported),\n"
		"  66 cannot read FILE or open the store, 70 internal, 74 store I/O error, 75 store busy.\n");
}

static void help_calibration(FILE *f)
{
	fprintf(f,
		"usage: scentrack import calibration [--db PATH] [--dry-run] [--who NAME] FILE | -\n"
		"       scentrack import calibration --core ENDPOINT [--timeout S] FILE | -\n"
		"\n"
		"Import the trainers' calibration records: for each animal, its CUMULATIVE counts as of a date, as\n"
		"its accuracy report states them (accreditation tests, training boxes with known targets,\n"
		"operational finds confirmed by clearance). The hazard engine turns the record in force (the\n"
		"latest as_of) into the animal's likelihood ratios; an animal without one is scored as NEW\n"
		"(priors only: its clean passes are worth almost nothing, and a dog's single indication is\n"
		"trusted as a survey dog's would be).\n"
		"\n"
		"CSV with a header line; columns in any order, names case-insensitive:\n"
		"  animal      animal id or name, as in the store (required)\n"
		"  as_of       ISO 8601 UTC date the counts are as of: 2024-05-01 or 2024-05-01T16:00:00Z\n"
		"              (or with an offset; a time without a zone is refused) (required)\n"
		"  hits        targets indicated within the correct radius (1 m for rats) (required)\n"
		"  misses      targets passed over without an indication (required)\n"
		"  false_inds  indications where no target was (required)\n"
		"  area_m2     area searched in m^2, decimals allowed (required)\n"
		"  source      accreditation, training, operational or import (required)\n"
		"  note        free text (optional, <= 255 bytes; quote it if it has a comma)\n");
	fprintf(f,
		"\n"
		"Every line is checked before anything is written; EVERY bad line is reported as FILE:LINE: field:\n"
		"reason, and then NOTHING is imported. Records go in in one transaction with one audit-log row.\n"
		"History is append-only: a record never changes. To correct one, add a record with a later\n"
		"as_of. Re-importing a file is safe: a line whose (animal, as_of, source) is stored with the same\n"
		"counts is skipped as a duplicate; the same key with other counts is refused.\n"
		"\n"
		"options:\n"
		"  --db PATH, --store PATH  the store (default: $SCENTRACK_DB, else " DB_DEFAULT ")\n"
		"  --dry-run         check everything, write nothing\n"
		"  --who NAME        name in the audit log (default: scentrack import)\n"
		"  --core ENDPOINT   hand the file to the running scentrack-core (its [clearance] endpoint): same\n"
		"                    checks, and its hazard points are rescored with the new records before it answers\n"
		"  --timeout S       seconds to wait for the core's answer (default 60)\n"
		"  -h, --help        this text\n"
		"\n"
		"example (rat Kiri: 142 of 150 targets found in training boxes, 9 false indications over\n"
		"3 200 m^2):\n"
		"  printf 'animal,as_of,hits,misses,false_inds,area_m2,source,note\\n"
		"Kiri,2024-04-30,142,8,9,3200,training,\"boxes T1-T32, Siem Reap\"\\n' > cal.csv\n"
		"  scentrack import calibration --db field.db cal.csv\n"
		"  cal.csv: 1 line: 1 imported, 0 duplicates skipped\n"
		"\n"
		"exit status: 0 imported (or all duplicates), 64 usage, 65 bad data (nothing imported),\n"
		"  66 cannot read FILE or open the store, 70 internal, 74 store I/O error, 75 store busy.\n");
}

static int read_all(const char *path, char **buf, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL)
		return -errno;
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap);
	int err = b == NULL ? -ENOMEM : 0;
	while (err == 0) {
		if (n == cap) {
			if (cap >= IMPORT_FILE_MAX) {
				err = -EFBIG;
				break;
			}
			char *p = realloc(b, cap * 2);
			if (p == NULL) {
				err = -ENOMEM;
				break;
			}
			b = p;
			cap *= 2;
		}
		size_t r = fread(b + n, 1, cap - n, f);
		n += r;
		if (r == 0) {
			if (ferror(f))
				err = -EIO;
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	if (err < 0) {
		free(b);
		return err;
	}
	*buf = b;
	*len = n;
	return 0;
}

static int exit_of(int e);

static void print_bad_line(void *ctx, unsigned long line, const char *field, const char *why)
{
	if (field != NULL && field[0] != '\0')
		fprintf(stderr, "%s:%lu: field '%s': %s\n", (const char *)ctx, line, field, why);
	else
		fprintf(stderr, "%s:%lu: %s\n", (const char *)ctx, line, why);
}

/* The core's answer: "OK" | {"rows":..} or "ERR" | {"code":"EINVAL","error":"..."}. The error code name is
 * mapped back to the exit status a direct import would give. */
static int via_core(const char *ep, const char *verb, const char *path, int format, const char *buf, size_t len,
                    int timeout_s)
{
	static const struct { const char *name; int e; } codes[] = {
		{"EINVAL", -EINVAL}, {"EEXIST", -EEXIST}, {"ENOENT", -ENOENT}, {"E2BIG", -E2BIG},
		{"EBUSY", -EBUSY}, {"ENOMEM", -ENOMEM}, {"EPROTO", -EPROTO},
	};
	int ex = EX_UNAVAILABLE;
	void *ctx = zmq_ctx_new(), *sock = ctx ? zmq_socket(ctx, ZMQ_REQ) : NULL;
	if (sock == NULL) {
		fprintf(stderr, "scentrack import: zmq: %s\n", zmq_strerror(zmq_errno()));
		goto out;
	}
	int linger = 0, tmo = timeout_s * 1000;
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(sock, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
	zmq_setsockopt(sock, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
	if (zmq_connect(sock, ep) < 0) {
		fprintf(stderr, "scentrack import: --core %s: %s\n", ep, zmq_strerror(zmq_errno()));
		ex = EX_USAGE;
		goto out;
	}
	const char *fmt = format == AN_IMPORT_CSV ? "csv" : format == AN_IMPORT_JSON ? "json" : "auto";
	if (zmq_send(sock, verb, strlen(verb), ZMQ_SNDMORE) < 0 || zmq_send(sock, fmt, strlen(fmt), ZMQ_SNDMORE) < 0 ||
	    zmq_send(sock, path, strlen(path), ZMQ_SNDMORE) < 0 || zmq_send(sock, buf, len, 0) < 0) {
		fprintf(stderr, "scentrack import: sending to %s: %s\n", ep, zmq_strerror(zmq_errno()));
		goto out;
	}
	char status[8] = "", body[16384]; /* a calibration refusal lists every bad line */
	int n1 = zmq_recv(sock, status, sizeof status - 1, 0);
	int more = 0;
	size_t ml = sizeof more;
	if (n1 < 0 || zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml) < 0 || !more) {
		fprintf(stderr, "scentrack import: no answer from the core at %s within %d s (%s): nothing is known to "
		        "be imported; re-running is safe (duplicates are skipped)\n", ep, timeout_s,
		        n1 < 0 ? zmq_strerror(zmq_errno()) : "malformed reply");
		goto out;
	}
	int n2 = zmq_recv(sock, body, sizeof body - 1, 0);
	if (n2 < 0) {
		fprintf(stderr, "scentrack import: reply from %s cut short\n", ep);
		goto out;
	}
	status[n1 < (int)sizeof status ? n1 : (int)sizeof status - 1] = '\0';
	body[n2 < (int)sizeof body ? n2 : (int)sizeof body - 1] = '\0';
	if (!strcmp(status, "OK")) {
		printf("%s: imported by the core at %s: %s\n", path, ep, body);
		ex = fflush(stdout) == 0 ? 0 : EX_IOERR;
		goto out;
	}
	int e = -EIO;
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		char key[32];
		snprintf(key, sizeof key, "\"code\":\"%s\"", codes[i].name);
		if (strstr(body, key))
			e = codes[i].e;
	}
	fprintf(stderr, "scentrack import: the core refused %s (nothing imported): %s\n", path, body);
	ex = e == -EPROTO ? EX_PROTOCOL : exit_of(e);
out:
	if (sock)
		zmq_close(sock);
	if (ctx)
		zmq_ctx_term(ctx);
	return ex;
}

static int exit_of(int e)
{
	switch (e) {
	case -EINVAL: case -EEXIST: case -ENOENT: case -E2BIG: return EX_DATAERR;
	case -EBUSY: return EX_TEMPFAIL;
	case -ENOMEM: return EX_SOFTWARE;
	default: return EX_IOERR;
	}
}

int scentrack_cmd_import(int argc, char **argv)
{
	static const struct option lo[] = {
		{"db", required_argument, NULL, 'd'},   {"format", required_argument, NULL, 'f'},
		{"dry-run", no_argument, NULL, 'n'},    {"who", required_argument, NULL, 'w'},
		{"core", required_argument, NULL, 'c'}, {"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},       {"store", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	const char *db = getenv("SCENTRACK_DB");
	struct an_import_opts o = {AN_IMPORT_AUTO, NULL, NULL, false, 0};
	const char *core = NULL;
	int timeout_s = 60;
	int c;
	/* which subcommand --help is about (getopt permutes: the word may come after the options) */
	bool calib = false, boxpos = false;
	for (int i = 1; i < argc; i++) {
		calib |= strcmp(argv[i], "calibration") == 0;
		boxpos |= strcmp(argv[i], "boxpos") == 0;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'f':
			if (strcmp(optarg, "csv") == 0)
				o.format = AN_IMPORT_CSV;
			else if (strcmp(optarg, "json") == 0)
				o.format = AN_IMPORT_JSON;
			else {
				fprintf(stderr, "scentrack import: --format must be csv or json, not '%s'\n", optarg);
				return EX_USAGE;
			}
			break;
		case 'n': o.dry_run = true; break;
		case 'w': o.who = optarg; break;
		case 'c': core = optarg; break;
		case 't':
			timeout_s = atoi(optarg);
			if (timeout_s < 1 || timeout_s > 86400) {
				fprintf(stderr, "scentrack import: --timeout must be 1..86400 seconds\n");
				return EX_USAGE;
			}
			break;
		case 'h':
			calib ? help_calibration(stdout) : boxpos ? help_boxpos(stdout) : help(stdout);
			return fflush(stdout) == 0 ? 0 : EX_IOERR;
		default: fprintf(stderr, "scentrack import: try 'scentrack import --help'\n"); return EX_USAGE;
		}
	}
	if (argc - optind != 2 || (strcmp(argv[optind], "clearance") != 0 && strcmp(argv[optind], "calibration") != 0 &&
	                           strcmp(argv[optind], "boxpos") != 0)) {
		fprintf(stderr, "scentrack import: expected 'clearance FILE', 'calibration FILE' or 'boxpos FILE' (try "
		        "'scentrack import --help', 'scentrack import calibration --help' or 'scentrack import boxpos "
		        "--help')\n");
		return EX_USAGE;
	}
	calib = strcmp(argv[optind], "calibration") == 0;
	boxpos = strcmp(argv[optind], "boxpos") == 0;
	if ((calib || boxpos) && o.format == AN_IMPORT_JSON) {
		fprintf(stderr, "scentrack import: %s are CSV only\n", calib ? "calibration records" : "box positions");
		return EX_USAGE;
	}
	const char *path = argv[optind + 1];
	if (db == NULL || db[0] == '\0')
		db = DB_DEFAULT;
	char *buf = NULL;
	size_t len = 0;
	int e = read_all(path, &buf, &len);
	if (e < 0) {
		fprintf(stderr, "scentrack import: cannot read %s: %s\n", path, strerror(-e));
		return e == -ENOMEM ? EX_SOFTWARE : EX_NOINPUT;
	}
	if (core != NULL) {
		if (o.dry_run || o.who != NULL) {
			fprintf(stderr, "scentrack import: --dry-run and --who are for a direct import, not --core\n");
			free(buf);
			return EX_USAGE;
		}
		int ex = via_core(core, calib ? "CALIBRATION" : boxpos ? "BOXPOS" : "CLEARANCE", path, (int)o.format, buf,
		                  len, timeout_s);
		free(buf);
		return ex;
	}
	struct an_store *s;
	char err[AN_IMPORT_ERR_MAX];
	/* synchronous=NORMAL: an import can simply be re-run (idempotent), see an/store.h Durability */
	e = an_store_open(db, AN_STORE_SYNC_NORMAL | (o.dry_run ? AN_STORE_READONLY : 0), &s, err, sizeof err);
	if (e < 0) {
		fprintf(stderr, "scentrack import: %s\n", err);
		free(buf);
		return e == -ENOENT ? EX_NOINPUT : exit_of(e);
	}
	o.source = path;
	struct an_import_result r;
	if (calib)
		e = an_import_calibration(s, buf, len, &o, &r, print_bad_line, (void *)path, err, sizeof err);
	else if (boxpos)
		e = an_import_boxpos(s, buf, len, &o, &r, print_bad_line, (void *)path, err, sizeof err);
	else
		e = an_import_clearance(s, buf, len, &o, &r, err, sizeof err);
	an_store_close(s);
	free(buf);
	if (e < 0) {
		fprintf(stderr, "scentrack import: %s\n", err);
		return exit_of(e);
	}
	printf("%s: %zu %s: %zu imported, %zu duplicates skipped%s\n", path, r.rows,
	       calib || boxpos ? (r.rows == 1 ? "line" : "lines") : "rows", r.inserted,
	       r.duplicates, o.dry_run ? " (dry run: nothing written)" : "");
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}
