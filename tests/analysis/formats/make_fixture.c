/*
 * tests/analysis/formats/make_fixture.c — `an_export_fixture DB`: create DB (replacing it) with the fixture
 * of fixture.h, for the process-level format checks (check_exports.py) and the benchmark.
 */
#include <stdio.h>
#include <unistd.h>

#include "fixture.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: an_export_fixture DB\n");
		return 64;
	}
	char wal[4096], shm[4096];
	snprintf(wal, sizeof wal, "%s-wal", argv[1]);
	snprintf(shm, sizeof shm, "%s-shm", argv[1]);
	(void)unlink(argv[1]);
	(void)unlink(wal);
	(void)unlink(shm);
	struct an_store *s;
	char err[AN_STORE_ERRMSG_MAX];
	if (an_store_open(argv[1], AN_STORE_CREATE | AN_STORE_SYNC_NORMAL, &s, err, sizeof err) < 0) {
		fprintf(stderr, "an_export_fixture: %s\n", err);
		return 1;
	}
	struct fx f;
	int rc = fx_build(s, &f);
	if (rc < 0)
		fprintf(stderr, "an_export_fixture: %s\n", f.err);
	an_store_close(s);
	return rc < 0 ? 1 : 0;
}
