/*
 * tests/analysis/ingest_testcore.c — a tiny core for the process tests and the benchmark: the real ingest
 * (an/ingest.h) committing into the real store (an/store.h).
 *
 *   an_ingest_testcore keygen PUB SEC
 *   an_ingest_testcore run --db FILE --endpoint EP --secret FILE --allow FILE [--credit N] [--sync-normal]
 *                          [--no-zap]
 *
 * stdout (line-buffered): "READY <bound endpoint>" once bound (tcp://127.0.0.1:* gives the real port),
 * "EVENT <name> <count>" when a counter moves (auth_failure, handshake_failure, rej_identity, rej_decode,
 * connected), "STATS ..." on SIGTERM before exiting 0. Diagnostics on stderr.
 */
#define _GNU_SOURCE /* sigaction */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "an/ingest.h"
#include "an/store.h"

static volatile sig_atomic_t g_stop;
static void on_term(int sig)
{
	(void)sig;
	g_stop = 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: an_ingest_testcore keygen PUB SEC\n"
	                "       an_ingest_testcore run --db FILE --endpoint EP --secret FILE --allow FILE\n"
	                "                              [--credit N] [--sync-normal] [--no-zap]\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "keygen") == 0) {
		int rc = an_ingest_keygen_files(argv[2], argv[3]);
		if (rc)
			fprintf(stderr, "keygen: %s\n", strerror(-rc));
		return rc ? 1 : 0;
	}
	if (argc < 2 || strcmp(argv[1], "run") != 0)
		return usage();
	const char *db = NULL, *secret = NULL;
	struct an_ingest_config cfg = {0};
	unsigned flags = AN_STORE_CREATE;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--sync-normal")) {
			flags |= AN_STORE_SYNC_NORMAL;
			continue;
		}
		if (!strcmp(a, "--no-zap")) {
			cfg.test_no_zap = true;
			continue;
		}
		if (!v)
			return usage();
		i++;
		if (!strcmp(a, "--db")) db = v;
		else if (!strcmp(a, "--endpoint")) cfg.endpoint = v;
		else if (!strcmp(a, "--secret")) secret = v;
		else if (!strcmp(a, "--allow")) cfg.allow_path = v;
		else if (!strcmp(a, "--credit")) cfg.credit = (uint16_t)strtoul(v, NULL, 10);
		else return usage();
	}
	if (!db || !secret)
		return usage();
	char err[512];
	if (an_ingest_key_read(secret, cfg.secret, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct an_store *s;
	int rc = an_store_open(db, flags, &s, err, sizeof err);
	if (rc) {
		fprintf(stderr, "store: %s\n", err);
		return 1;
	}
	struct an_ingest_sink sink;
	an_ingest_sink_store(&sink, s);
	struct an_ingest *ing;
	rc = an_ingest_open(&cfg, &sink, &ing, err, sizeof err);
	if (rc) {
		fprintf(stderr, "ingest: %s\n", err);
		an_store_close(s);
		return 1;
	}
	char ep[AN_INGEST_ENDPOINT_MAX];
	if (an_ingest_endpoint(ing, ep, sizeof ep))
		return 1;
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("READY %s\n", ep);
	struct an_ingest_stats st, prev = {0};
	while (!g_stop) {
		zmq_pollitem_t it[AN_INGEST_POLLITEMS];
		size_t n = an_ingest_pollitems(ing, it, AN_INGEST_POLLITEMS);
		zmq_poll(it, (int)n, 1000);
		if (an_ingest_service(ing, 0)) {
			fprintf(stderr, "ingest: %s\n", an_ingest_last_error(ing));
			break;
		}
		an_ingest_stats(ing, &st);
#define EV(field, name)                                                                                      \
	if (st.field != prev.field)                                                                          \
		printf("EVENT " name " %" PRIu64 "\n", st.field);
		EV(auth_failures, "auth_failure") EV(handshake_failures, "handshake_failure")
		EV(rej_identity, "rej_identity") EV(rej_decode, "rej_decode") EV(handshakes, "connected")
#undef EV
		prev = st;
	}
	an_ingest_stats(ing, &st);
	printf("STATS committed=%" PRIu64 " replays=%" PRIu64 " stored=%" PRIu64 " dup=%" PRIu64 " gap=%" PRIu64
	       " rej_decode=%" PRIu64 " rej_identity=%" PRIu64 " rej_store=%" PRIu64 " acks=%" PRIu64 " nacks=%" PRIu64
	       " zap_allowed=%" PRIu64 " zap_denied=%" PRIu64 " auth_failures=%" PRIu64 " handshake_failures=%" PRIu64
	       " unroutable=%" PRIu64 "\n",
	       st.committed, st.replays, st.records_stored, st.records_dup, st.rej_gap, st.rej_decode, st.rej_identity,
	       st.rej_store, st.acks_sent, st.nacks_sent, st.zap_allowed, st.zap_denied, st.auth_failures,
	       st.handshake_failures, st.send_unroutable);
	an_ingest_close(ing);
	an_store_close(s);
	return 0;
}
