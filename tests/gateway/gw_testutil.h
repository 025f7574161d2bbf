/*
 * tests/gateway/gw_testutil.h — temp directories and spool inspection for the gateway unit tests.
 */
#ifndef GW_TESTUTIL_H
#define GW_TESTUTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

static char tu_dir[256];

static inline void tu_mkdir(void)
{
	snprintf(tu_dir, sizeof tu_dir, "/tmp/gwtest.XXXXXX");
	if (!mkdtemp(tu_dir))
		abort();
}

static inline void tu_rmdir(void)
{
	char cmd[300];
	if (!tu_dir[0])
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tu_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", tu_dir);
}

static inline const char *tu_path(const char *name)
{
	static char p[4][320];
	static unsigned i;
	char *out = p[i++ % 4];
	snprintf(out, 320, "%s/%s", tu_dir, name);
	return out;
}

/* One integer from SQL on a separate read-only connection (what another process would see). */
static inline long long tu_sql_int(const char *db_path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -2;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	} else {
		v = -3;
	}
	sqlite3_close(db);
	return v;
}

#endif
