/*
 * tests/analysis/report_test.c — the accuracy / hazard / accreditation reports on the fixture of
 * formats/fixture.h, whose every count is worked out by hand in that file's header comment.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "an/report.h"
#include "formats/fixture.h"

static char db_path[256];
static struct an_store *st;
static struct fx F;

static void setup(void)
{
	snprintf(db_path, sizeof db_path, "/tmp/an_report_test_%d.db", (int)getpid());
	unlink(db_path);
	char err[AN_STORE_ERRMSG_MAX];
	cr_assert_eq(an_store_open(db_path, AN_STORE_CREATE | AN_STORE_SYNC_NORMAL, &st, err, sizeof err), 0, "%s", err);
	cr_assert_eq(fx_build(st, &F), 0, "%s", F.err);
}

static void teardown(void)
{
	an_store_close(st);
	char p[300];
	unlink(db_path);
	snprintf(p, sizeof p, "%s-wal", db_path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", db_path);
	unlink(p);
}

TestSuite(an_report, .init = setup, .fini = teardown);

static char *render(int (*fn)(struct an_store *, const struct an_report_opts *, FILE *, char *, size_t),
                    const struct an_report_opts *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	cr_assert_not_null(m);
	char err[512] = "";
	int rc = fn(st, o, m, err, sizeof err);
	fclose(m);
	cr_assert_eq(rc, 0, "%s", err);
	return buf;
}

Test(an_report, accuracy_counts_match_the_hand_computed_field)
{
	struct an_report_opts o;
	an_report_opts_init(&o);
	struct an_report_accuracy a;
	char err[256];
	cr_assert_eq(an_report_accuracy_compute(st, &o, F.magawa, &a, err, sizeof err), 0, "%s", err);
	const struct an_report_group *g = &a.all;
	cr_expect_eq(g->sessions, 2);
	cr_expect_eq(g->targets, 6);
	cr_expect_eq(g->hits, 3);
	cr_expect_eq(g->misses, 3);
	cr_expect_eq(g->indications, 8, "I7 was rejected by the handler: not counted");
	cr_expect_eq(g->correct, 4);
	cr_expect_eq(g->false_ind, 2);
	cr_expect_eq(g->repeats, 1);
	cr_expect_eq(g->unresolved, 1);
	for (int c = 1; c <= 7; c++) /* T1 T2 T3 (1-3), no other_erw (4), F1 S1 N1 (5-7) */
		cr_expect_eq(g->matched_by_class[c], c == 4 ? 0u : 1u, "class %d", c);
	/* box area from the stored corners: 5 m x 20 m, the lane length off by the degE7 round trip (< 6 mm) */
	cr_expect(fabs(g->area_m2 - 200.0) < 0.2, "area %f", g->area_m2);
	cr_expect(fabs(g->hours - 0.5) < 1e-12);
	cr_assert_eq(a.n_loc, 4);
	static const double want[4] = {0.2, 0.3, 0.5, 0.8};
	for (int i = 0; i < 4; i++)
		cr_expect(fabs(a.loc_err_m[i] - want[i]) < 0.012, "loc %d: %f (degE7 quantisation allows ~1 cm)", i,
		          a.loc_err_m[i]);
	cr_assert_eq(a.n_teams, 2);
	cr_expect_str_eq(a.teams[0].label, "Handler A + Magawa");
	cr_expect_eq(a.teams[0].hits, 2);
	cr_expect_eq(a.teams[1].hits, 1);
	cr_assert_eq(a.n_periods, 2);
	cr_expect_str_eq(a.periods[0].label, "2023-11");
	cr_expect_str_eq(a.periods[1].label, "2023-12");
	cr_assert_eq(a.n_temps, 2);
	cr_expect_str_eq(a.temps[0].label, "20-30 C");
	cr_assert_eq(a.n_classes, 3);
	for (size_t i = 0; i < 3; i++)
		cr_expect(a.classes[i].targets == 2 && a.classes[i].hits == 1, "%s", a.classes[i].label);
	an_report_accuracy_free(&a);
}

Test(an_report, policy_and_unresolved_options_change_the_counts)
{
	struct an_report_opts o;
	an_report_opts_init(&o);
	char err[256];
	cr_assert_eq(an_report_policy_set(&o.policy, "fragment=target", err, sizeof err), 0, "%s", err);
	o.unresolved_is_false = true;
	struct an_report_accuracy a;
	cr_assert_eq(an_report_accuracy_compute(st, &o, F.magawa, &a, err, sizeof err), 0, "%s", err);
	cr_expect_eq(a.all.targets, 8, "F1 is now a target in both passes");
	cr_expect_eq(a.all.hits, 4, "I3 found F1 in pass 1");
	cr_expect_eq(a.all.false_ind, 3, "I6 now counts as false");
	cr_expect_eq(a.all.unresolved, 0);
	an_report_accuracy_free(&a);
	cr_expect_eq(an_report_policy_set(&o.policy, "fragment=maybe", err, sizeof err), -EINVAL);
	cr_expect_eq(an_report_policy_set(&o.policy, "bomb=target", err, sizeof err), -EINVAL);
}

/* A calibration record for the hazard engine needs the animal's raw rates (the engine applies the handler's
 * verdict on top): --with-rejected counts I7, which the handler rejected although it lay on T3. */
Test(an_report, with_rejected_counts_the_rejected_call_as_the_animals)
{
	struct an_report_opts o;
	an_report_opts_init(&o);
	struct an_report_accuracy a;
	char err[256];
	cr_assert_eq(an_report_accuracy_compute(st, &o, F.magawa, &a, err, sizeof err), 0, "%s", err);
	cr_expect_eq(a.all.rejected, 1, "I7 is rejected, left out, and said so");
	cr_expect_eq(a.all.indications, 8);
	an_report_accuracy_free(&a);
	o.with_rejected = true;
	cr_assert_eq(an_report_accuracy_compute(st, &o, F.magawa, &a, err, sizeof err), 0, "%s", err);
	cr_expect_eq(a.all.rejected, 1);
	cr_expect_eq(a.all.indications, 9, "I7 counts");
	cr_expect_eq(a.all.hits, 4, "T3 is found by I7");
	cr_expect_eq(a.all.misses, 2);
	cr_expect_eq(a.all.correct, 5);
	cr_expect_eq(a.all.false_ind, 2);
	an_report_accuracy_free(&a);
	o.animal_id = F.magawa;
	char *t = render(an_report_accuracy, &o);
	cr_expect(strstr(t, "indications the handler rejected: counted as the animal's (--with-rejected)") != NULL, "%s", t);
	cr_expect(strstr(t, "; the handler rejected 1 (counted above)") != NULL, "%s", t);
	free(t);
	o.with_rejected = false;
	t = render(an_report_accuracy, &o);
	cr_expect(strstr(t, "indications the handler rejected: left out") != NULL, "%s", t);
	cr_expect(strstr(t, "; the handler rejected 1 (left out)") != NULL, "%s", t);
	free(t);
}

Test(an_report, accuracy_text_says_what_the_numbers_prove)
{
	struct an_report_opts o;
	an_report_opts_init(&o);
	o.animal_id = F.magawa;
	char *t = render(an_report_accuracy, &o);
	/* 3/6: Clopper-Pearson one-sided 95 % lower bound 0.1531 (scipy binomtest(3,6,alternative='greater')) */
	cr_expect(strstr(t, "3 of 6 targets found (3 missed): sensitivity is at least 15.3 %") != NULL, "%s", t);
	/* two-sided [0.1181, 0.8819] */
	cr_expect(strstr(t, "Clopper-Pearson 95 % [11.8 %, 88.2 %]") != NULL, "%s", t);
	cr_expect(strstr(t, "LOWER bound while indications remain unresolved") != NULL);
	free(t);
}

Test(an_report, json_is_parseable_shape_and_byte_identical)
{
	struct an_report_opts o;
	an_report_opts_init(&o);
	o.json = true;
	char *a = render(an_report_accuracy, &o), *b = render(an_report_accuracy, &o);
	cr_expect_str_eq(a, b);
	static const char head[] = "{\"report\":\"accuracy\",\"confidence\":0.9500,\"policy\":{\"ap_mine\":\"target\"";
	cr_expect(strncmp(a, head, sizeof head - 1) == 0, "%.80s", a);
	cr_expect(strstr(a, "\"animal\":\"Ratty \\\"Q\\\" <&>, \xc3\xa9\"") != NULL, "JSON escaping");
	cr_expect(strstr(a, "\"targets\":6,\"hits\":3,\"misses\":3,\"sensitivity\":0.500000") != NULL);
	free(a);
	free(b);
}

Test(an_report, accreditation_rule_decides_pass)
{
	struct an_report_opts o;
	an_report_opts_init(&o);
	o.json = true;
	char *t = render(an_report_accreditation, &o);
	cr_expect(strstr(t, "\"hits\":1,\"false\":1,\"pass\":false") != NULL, "%s", t);
	cr_expect(strstr(t, "\"fail_reason\":\"1 of 2 targets not indicated within 1.00 m\"") != NULL, "%s", t);
	free(t);
	char err[256];
	/* target B was indicated 1.5 m off: a 2 m radius makes it a hit, then only the area fails */
	cr_assert_eq(an_report_rule_set(&o.rule, "radius_m=2", err, sizeof err), 0);
	t = render(an_report_accreditation, &o);
	cr_expect(strstr(t, "\"hits\":2,\"false\":0,\"pass\":false") != NULL, "%s", t);
	cr_expect(strstr(t, "is below the rule's 200 m2") != NULL, "%s", t);
	free(t);
	cr_assert_eq(an_report_rule_set(&o.rule, "area_m2=99", err, sizeof err), 0);
	t = render(an_report_accreditation, &o);
	cr_expect(strstr(t, "\"pass\":true,\"fail_reason\":null") != NULL, "%s", t);
	/* layout hash: no stored hash yet; the computed one is stable */
	cr_expect(strstr(t, "\"layout_sha256_stored\":null,\"layout_hash_matches\":true") != NULL);
	free(t);
	cr_expect_eq(an_report_rule_set(&o.rule, "radius_m=-1", err, sizeof err), -EINVAL);
}

Test(an_report, hazards_list_evidence)
{
	struct an_report_opts o;
	an_report_opts_init(&o);
	o.json = true;
	o.animal_id = F.ratty; /* Ratty gave no evidence */
	char *t = render(an_report_hazards, &o);
	cr_expect_str_eq(t, "{\"report\":\"hazards\",\"hazard_points\":[\n\n]}\n");
	free(t);
	o.animal_id = F.magawa;
	t = render(an_report_hazards, &o);
	cr_expect(strstr(t, "\"status\":\"awaiting_excavation\",\"p_explosive\":0.930000") != NULL, "%s", t);
	cr_expect(strstr(t, "\"evidence_indications\":2,\"evidence_clean_passes\":1") != NULL, "%s", t);
	free(t);
}

Test(an_report, unknown_animal_is_enoent)
{
	struct an_report_opts o;
	an_report_opts_init(&o);
	o.animal_id = 999;
	char err[256];
	FILE *n = fopen("/dev/null", "w");
	cr_expect_eq(an_report_accuracy(st, &o, n, err, sizeof err), -ENOENT);
	fclose(n);
	cr_expect(strstr(err, "999") != NULL);
}
