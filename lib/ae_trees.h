/*
 * The Merkle trees this peer keeps for anti-entropy: one per token range
 * it replicates (a range between two consecutive ring tokens, whose
 * replicas are all the same), over the objects it holds there.
 *
 * Trees follow every object write as it happens (the replica hooks call
 * ae_trees_write_begin/_end around each store write, under the key's
 * lock) and are built from storage on demand: the first exchange that
 * needs a range's tree scans the range. A build holds the trees' lock
 * exclusively while writers hold it shared around their store write and
 * tree update, so a tree never counts a write twice or misses one. Writers
 * update a tree concurrently with atomic XORs (merkle.h).
 *
 * The set of ranges changes with the ring (ae_trees_set_ranges): ranges
 * that keep their bounds keep their trees, the others are dropped.
 *
 * Threads: set_ranges, find, ensure and the range list are the loop
 * thread's; write_begin/_end come from any thread.
 */
#ifndef DKV_AE_TREES_H
#define DKV_AE_TREES_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/merkle.h"
#include "core/ring.h"
#include "core/vv.h"
#include "store/store.h"

struct ae_range {
	struct token lo, hi;   /* (lo, hi]; lo == hi: the whole ring */
	uint32_t nreps;        /* the other replicas of the range */
	struct actor reps[RING_MAX_REPLICAS];
	struct merkle tree;
	bool built;
};

struct ae_trees {
	pthread_rwlock_t lock;
	struct store *store;
	unsigned depth;
	struct ae_range *r; /* sorted by hi */
	uint32_t n;
	uint64_t built_total; /* trees built from storage */
};

int ae_trees_init(struct ae_trees *a, struct store *s, unsigned depth);
void ae_trees_free(struct ae_trees *a);

/* Replaces the ranges (sorted by hi, trees not built); a range whose
 * bounds and depth were there before keeps its tree. Takes specs' trees
 * over (ae_range.tree/built are ignored on input). */
int ae_trees_set_ranges(struct ae_trees *a, const struct ae_range *specs, uint32_t n);

/* Index of the range (lo, hi], or -1. */
int ae_trees_find(const struct ae_trees *a, struct token lo, struct token hi);

/* Builds range i's tree from storage if it is not built. DKV_EIO. */
int ae_trees_ensure(struct ae_trees *a, uint32_t i);

/* Calls fn for each object this peer holds in (lo, hi] (lo == hi: every
 * object), in ring order, with the user key; fn returns non-zero to stop.
 * A whole-ring or wrapping range is two scans. */
int ae_scan_range(struct store *s, struct token lo, struct token hi,
                  int (*fn)(struct token t, const uint8_t *key, size_t klen, const void *obj,
                            size_t olen, void *arg),
                  void *arg);

void ae_trees_write_begin(void *a);
void ae_trees_write_end(void *a, struct token t, const void *key, size_t klen, const void *old,
                        size_t oldlen, const void *now, size_t nowlen, bool written);

#endif
