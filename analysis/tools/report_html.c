/*
 * analysis/tools/report_html.c — `scentrack report accuracy --html`: the trainer's report as one standalone,
 * printable HTML file. It embeds the report's JSON (the same bytes `--json` prints, and the accreditation
 * tests of the same animals) and the web page's own chart code (analysis/web/assets/charts.js and
 * report.css, compiled in by analysis/web/embed.cmake), so the file and the web map's #trainer view draw
 * the same charts from the same numbers with one implementation. No network, no external file.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "an/report.h"
#include "report_html.h"
#include "report_html_assets.h" /* generated: scentrack_charts_js[], scentrack_report_css[] and _len */

/* Run one JSON report into memory. @retval 0 or the report's negative error (why in err) */
static int json_to_mem(int (*fn)(struct an_store *, const struct an_report_opts *, FILE *, char *, size_t),
                       struct an_store *s, const struct an_report_opts *opt, char **buf, size_t *len, char *err,
                       size_t errcap)
{
	struct an_report_opts o = *opt;
	o.json = true;
	*buf = NULL;
	*len = 0;
	FILE *m = open_memstream(buf, len);
	if (m == NULL) {
		snprintf(err, errcap, "report --html: open_memstream: %s", strerror(errno));
		return -ENOMEM;
	}
	int e = fn(s, &o, m, err, errcap);
	if (fclose(m) != 0 && e == 0) {
		snprintf(err, errcap, "report --html: out of memory");
		e = -ENOMEM;
	}
	if (e < 0) {
		free(*buf);
		*buf = NULL;
	}
	return e;
}

/* JSON inside <script>: '<' only occurs inside JSON strings, where \u003c means the same character, so no
 * name in the store can close the script element or open a comment. */
static void put_json_in_script(FILE *o, const char *j, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (j[i] == '<')
			fputs("\\u003c", o);
		else
			fputc(j[i], o);
	}
}

int scentrack_report_html(struct an_store *s, const struct an_report_opts *opt, double thr_sens,
                          double thr_false_per_100m2, FILE *o, char *err, size_t errcap)
{
	char *acc = NULL, *tests = NULL;
	size_t acc_len, tests_len;
	int e = json_to_mem(an_report_accuracy, s, opt, &acc, &acc_len, err, errcap);
	if (e < 0)
		goto out;
	e = json_to_mem(an_report_accreditation, s, opt, &tests, &tests_len, err, errcap);
	if (e < 0)
		goto free_acc;
	fputs("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<title>scentrack accuracy report</title>\n<style>\n",
	      o);
	fwrite(scentrack_report_css, 1, scentrack_report_css_len, o);
	fputs("body { margin: 1rem auto; max-width: 60rem; padding: 0 .5rem; }\n</style>\n</head>\n<body>\n"
	      "<div id=\"report\"><noscript>This report draws its charts with JavaScript; its numbers are the JSON "
	      "in this file (scentrack report accuracy --json gives the same).</noscript></div>\n<script>\n",
	      o);
	fwrite(scentrack_charts_js, 1, scentrack_charts_js_len, o);
	fputs("</script>\n<script>\nvar ACCURACY = ", o);
	put_json_in_script(o, acc, acc_len);
	fputs(";\nvar ACCREDITATION = ", o);
	put_json_in_script(o, tests, tests_len);
	fputs(";\n(function () {\n"
	      "  var root = document.getElementById('report'); root.textContent = '';\n"
	      "  var animals = ACCURACY.animals || [];\n"
	      "  if (!animals.length) root.textContent = 'No animal in this store has an accuracy record.';\n"
	      "  animals.forEach(function (a) {\n"
	      "    var tests = (ACCREDITATION.tests || []).filter(function (t) { return t.animal_id === a.animal_id; });\n"
	      "    var sec = document.createElement('section');\n"
	      "    sec.appendChild(scentrackCharts.report({ animals: [a], accreditation: tests }, a.animal_id,\n"
	      "      { thrFalse: ",
	      o);
	fprintf(o, "%.4f, thrSens: %.4f", thr_false_per_100m2, thr_sens);
	fputs(" }));\n"
	      "    root.appendChild(sec);\n"
	      "  });\n"
	      "})();\n</script>\n</body>\n</html>\n",
	      o);
	if (fflush(o) != 0 || ferror(o)) {
		snprintf(err, errcap, "report --html: write error");
		e = -EIO;
	}
	free(tests);
free_acc:
	free(acc);
out:
	return e;
}
