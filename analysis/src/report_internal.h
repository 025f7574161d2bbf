/*
 * analysis/src/report_internal.h — shared by report.c (computation) and report_out.c (text/JSON). Not
 * installed.
 */
#ifndef AN_REPORT_INTERNAL_H
#define AN_REPORT_INTERNAL_H

#include <stddef.h>

#include "an/report.h"

extern const char *const an_rep__class_names[AN_REPORT_NCLASS];

/* printf into err (if not NULL) and return code. */
int an_rep__fail(char *err, size_t cap, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
