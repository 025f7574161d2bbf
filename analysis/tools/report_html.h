/* analysis/tools/report_html.h — `scentrack report accuracy --html` (report_html.c says how). */
#ifndef SCENTRACK_REPORT_HTML_H
#define SCENTRACK_REPORT_HTML_H
#include <stdio.h>

#include "an/report.h"
#include "an/store.h"

/* Writes the accuracy report (and the same animals' accreditation tests) of opt->animal_id (0 = all) as one
 * standalone HTML file to o. thr_sens (0..1) and thr_false_per_100m2 are the programme's thresholds drawn on
 * the charts. @retval 0 or a negative error code (why in err) */
int scentrack_report_html(struct an_store *s, const struct an_report_opts *opt, double thr_sens,
                          double thr_false_per_100m2, FILE *o, char *err, size_t errcap)
	__attribute__((warn_unused_result));
#endif
