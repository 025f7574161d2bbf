/*
 * analysis/src/ingest_internal.h — between ingest.c and zap.c (not installed).
 */
#ifndef AN_INGEST_INTERNAL_H
#define AN_INGEST_INTERNAL_H

#include "an/ingest.h"

#include <stdint.h>

struct an_zap;

/* Counters the ZAP thread keeps (read with an_zap_counts from any thread). */
struct an_zap_counts {
	uint64_t allowed, denied, malformed;
};

/* Start the handler in its own thread on inproc://zeromq.zap.01 of zctx, owning allow (freed by
 * an_zap_stop). Returns once the handler is bound (or failed to bind: another handler in this context).
 * @retval 0; -EADDRINUSE; -ENOMEM; -EIO */
int an_zap_start(void *zctx, const char *domain, struct an_ingest_allow *allow, struct an_zap **out,
                 char *errbuf, size_t errcap);
/* Swap in a new allow-list (takes ownership; the old one is freed). */
void an_zap_set_allow(struct an_zap *z, struct an_ingest_allow *allow);
void an_zap_counts(const struct an_zap *z, struct an_zap_counts *c);
/* Stop and join the thread, free everything. NULL-safe. */
void an_zap_stop(struct an_zap *z);

#endif
