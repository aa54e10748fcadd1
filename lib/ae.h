/*
 * Anti-entropy: replicas compare Merkle trees of the ranges they share and
 * exchange only the keys that differ (ae_trees.h keeps the trees).
 *
 * An exchange (a "session") is about one range and two of its replicas,
 * the initiator I and the partner P, and runs by messages that each name
 * the range (lo, hi], so P keeps no state but a batch of leaves to go:
 *  1. I sends AE_TREE with its root (level 0).
 *  2. The receiver of an AE_TREE compares the nodes with its own. None
 *     differs: the ranges agree; P answers AE_DONE, I ends the session.
 *     Some differ, above the leaves: it sends AE_TREE with its own hashes
 *     of their descendants AE_STEP levels down (the roles swap each
 *     round). At the leaves: it sends AE_KEYS, its entries (key and
 *     entry hash) in the differing leaves, in batches of at most
 *     AE_BATCH_LEAVES leaves, AE_BATCH_KEYS keys or AE_BATCH_BYTES,
 *     one at a time (the next when the AE_WANT for this one comes).
 *  3. The receiver of AE_KEYS scans its own entries in those leaves,
 *     sends (STORE, no answer wanted) each of its objects the other side
 *     lacks, and answers AE_WANT with the keys it lacks. For a key both
 *     hold differently, the side whose version vector has the larger sum
 *     (a dominating version always has) sends its object with
 *     WOP_SYNCBACK: the receiver merges it and sends its merge back only
 *     if that differs from what it got (it held a concurrent version).
 *     So one object crosses when one side is simply behind, and two when
 *     both had news.
 *  4. The receiver of AE_WANT sends those objects, then the next batch of
 *     AE_KEYS; after the last batch, I ends the session, or P answers
 *     AE_DONE so that I does.
 * Objects are merged causally where they land (replica_store), so after
 * a session both sides hold the merge of both, and their trees agree
 * unless a write came in meanwhile. Hashes travel as 64 bits.
 *
 * Who starts what. A pass goes over every range this peer replicates;
 * for each range it runs a session with each other replica judged up.
 * The background pass (every ae_interval_s, 0: never) only pairs a peer
 * with replicas whose id sorts after its own, so each pair of replicas is
 * compared once per round of passes; a repair pass (ae_repair, dkv_repair,
 * `dkv repair`, or a peer's AE_REPAIR) pairs it with all of them and
 * reports when done. At most ae_sessions sessions run at once; a session
 * silent for 4 * timeout_ms is abandoned (its range counts as failed).
 *
 * Loop thread only, except the counters (ae_stats) and the trees' write
 * hooks.
 */
#ifndef DKV_AE_H
#define DKV_AE_H

#include <stdbool.h>
#include <stdint.h>

#include "libdkv/dkv.h"
#include "core/wire.h"

#define AE_STEP 2
#define AE_BATCH_KEYS 1024
#define AE_BATCH_BYTES (256u << 10)
/* leaves per AE_KEYS batch: what the other side sends back for a batch is
 * bounded by its own keys in those leaves, which the sender cannot see
 * (a nearly empty replica lists many leaves with no keys) */
#define AE_BATCH_LEAVES 8
#define AE_TICK_MS 100
#define AE_REPAIR_RESEND_MS 5000 /* a repair asked of a peer is asked again this often */

struct dkv;
struct cluster;
struct ae;

/* What a repair pass did, from the peer that ran it. */
struct ae_report {
	uint64_t ranges;          /* range sessions completed */
	uint64_t ranges_differing; /* of which the trees differed */
	uint64_t keys_compared;   /* entries compared at the leaves */
	uint64_t keys_repaired;   /* objects sent to the partners */
	uint64_t failed;          /* sessions abandoned or refused */
};

int ae_open(struct dkv *db, struct cluster *c, struct ae **out);
/* No more sessions; repairs waiting end with DKV_ECLOSED. */
void ae_shutdown(struct ae *a);
void ae_free(struct ae *a);

/* An anti-entropy message from the peer listening at from. */
void ae_on_msg(struct ae *a, const struct msg *m, const char *from);

/* Runs a repair pass on peer (NULL or this peer's id: here; another
 * peer's id: asks it with AE_REPAIR) and calls done(arg, err, report)
 * on the loop thread when it is over. DKV_EUNAVAILABLE when that peer is
 * not up or this peer stores nothing, DKV_ENOTFOUND for an unknown id. */
void ae_repair(struct ae *a, const char *peer, void (*done)(void *arg, int err,
                                                            const struct ae_report *r),
               void *arg);

/* A STORE with WOP_SYNCBACK from addr was merged here: send addr what we
 * now hold for key unless its entry hash is theirs (what addr sent). */
void ae_syncback(struct ae *a, const char *addr, const uint8_t *key, size_t klen,
                 uint64_t theirs);

void ae_stats(struct ae *a, void (*fn)(const char *name, double value, void *arg), void *arg);

#endif
