/*
 * cf-motion-gen — write a labelled synthetic collar accelerometer stream (generative model: model.c).
 *
 *   cf-motion-gen --species dog|rat --seed N [--minutes M] [--ind-gap S] [--t0 MS] [--labels FILE]
 *
 * stdout: CSV "t_ms,x_mg,y_mg,z_mg", one line per 50 Hz sample.
 * --labels FILE: CSV "t0_ms,t1_ms,class" (the segment holds samples with t0 <= t < t1).
 * --ind-gap S: mean search seconds between inserted indications (sit / scratch); 0 = none (default 45).
 * Same arguments, same output, on every machine.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static FILE *labels;

static void on_sample(void *ctx, const struct cf_accel_sample *s)
{
	(void)ctx;
	printf("%" PRIu32 ",%d,%d,%d\n", s->t_ms, s->x_mg, s->y_mg, s->z_mg);
}

static void on_segment(void *ctx, const struct mm_segment *seg)
{
	(void)ctx;
	if (labels)
		fprintf(labels, "%" PRIu32 ",%" PRIu32 ",%s\n", seg->t0_ms, seg->t1_ms, mm_class_name(seg->cls));
}

static int usage(void)
{
	fprintf(stderr, "usage: cf-motion-gen --species dog|rat --seed N [--minutes M] [--ind-gap S] [--t0 MS] "
			"[--labels FILE]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct mm_session spec = {.species = 0, .dur_ms = 10u * 60u * 1000u, .ind_mean_gap_s = 45.0, .seed = 1};
	const char *labels_path = NULL;
	int have_seed = 0;
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return usage();
		if (!strcmp(argv[i], "--species"))
			spec.species = !strcmp(v, "dog") ? MM_DOG : !strcmp(v, "rat") ? MM_RAT : -1;
		else if (!strcmp(argv[i], "--seed"))
			spec.seed = strtoull(v, NULL, 0), have_seed = 1;
		else if (!strcmp(argv[i], "--minutes"))
			spec.dur_ms = (uint32_t)(strtod(v, NULL) * 60000.0);
		else if (!strcmp(argv[i], "--ind-gap"))
			spec.ind_mean_gap_s = strtod(v, NULL);
		else if (!strcmp(argv[i], "--t0"))
			spec.t0_ms = (uint32_t)strtoul(v, NULL, 0);
		else if (!strcmp(argv[i], "--labels"))
			labels_path = v;
		else
			return usage();
		i++;
	}
	if (spec.species <= 0 || !have_seed || spec.dur_ms == 0)
		return usage();
	if (labels_path) {
		labels = fopen(labels_path, "w");
		if (!labels) {
			fprintf(stderr, "cf-motion-gen: cannot write %s: %s\n", labels_path, strerror(errno));
			return 1;
		}
	}
	struct mm_animal a;
	mm_session_run(&spec, &a, on_sample, on_segment, NULL);
	if (labels && fclose(labels) != 0) {
		fprintf(stderr, "cf-motion-gen: writing %s failed: %s\n", labels_path, strerror(errno));
		return 1;
	}
	if (fflush(stdout) != 0)
		return 1;
	return 0;
}
