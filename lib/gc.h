/*
 * Tombstone collection.
 *
 * A delete leaves a tombstone, so that a replica that missed it cannot
 * bring the value back. A tombstone may go only when no replica can bring
 * the value back any more: when every replica of the key holds the very
 * same tombstone-only object, written at least tombstone_grace_s ago.
 *
 * Each storage peer sweeps its objects (a cursor over the store, GC_BATCH
 * records a round, a round every min(10 s, tombstone_grace_s), at least
 * 1 s) and, for each tombstone-only object past the grace period of a key
 * whose first replica it is (so one peer per key does this), checks with
 * the key's other replicas: it asks each for what it holds (READ) and,
 * only if every one of them is up and answers with the same bytes (the
 * same entry hash), sends them PURGE with that hash and purges its own
 * copy. A replica purges only while its record still has that hash, so a
 * write that lands meanwhile survives. A replica that is down, or any
 * difference, keeps the tombstone for a later round; anti-entropy and
 * read repair make them equal.
 *
 * Fallbacks are not asked: a hint of a write older than the tombstone
 * could still be delivered after the purge and bring that write back.
 * What prevents it is time: a hint is dropped hint_window_s after its
 * first write, and config_check refuses a tombstone_grace_s shorter than
 * hint_window_s while hinted handoff is on (the defaults are 10 days
 * against 3 hours). Every peer should use the same two settings.
 *
 * Loop thread only, except the counters.
 */
#ifndef DKV_GC_H
#define DKV_GC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/wire.h"

#define GC_BATCH 2000
#define GC_MAX_CHECKS 256

struct dkv;
struct cluster;
struct gc;

int gc_open(struct dkv *db, struct cluster *c, struct gc **out);
void gc_stop(struct gc *g);
void gc_free(struct gc *g);

/* A VALUE answer no operation claimed: one of our checks', if id is one.
 * True when it was. */
bool gc_on_value(struct gc *g, uint64_t id, const struct actor *from, int status,
                 const void *obj, size_t len);
/* A peer's PURGE. */
void gc_on_purge(struct gc *g, const struct msg *m);

void gc_stats(struct gc *g, void (*fn)(const char *name, double value, void *arg), void *arg);

#endif
