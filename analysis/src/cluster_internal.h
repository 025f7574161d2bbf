/* analysis/src/cluster_internal.h — shared by cluster.c and cluster_batch.c; not a public header. */
#ifndef AN_CLUSTER_INTERNAL_H
#define AN_CLUSTER_INTERNAL_H

#include <stddef.h>

/* Bytes an__cluster_alloc(bytes) maps (allocations >= 2 MiB are rounded up to whole 4 KiB pages; the
 * alignment padding in front of them is address space only, never touched, so never resident). */
size_t an__cluster_alloc_size(size_t bytes);

/*
 * malloc() for the big arrays: every page is faulted in before returning, and allocations of 2 MiB or more
 * are 2 MiB-aligned and advised as transparent huge pages. Why: on the VMs this runs on a 4 KiB page fault
 * costs 10-30 µs, so 10^6 points (≈ 15 000 pages) spent ~0.3 s in faults, scattered over inserts as
 * latency spikes; with huge pages the same memory needs ~30 faults. Free with free(). NULL on failure.
 */
void *an__cluster_alloc(size_t bytes);

#endif
