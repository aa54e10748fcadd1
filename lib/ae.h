/*
 * Anti-entropy: replicas compare Merkle trees of the ranges they share and
 * exchange only the keys that differ (ae_trees.h keeps the trees).
 *
 * An exchange (a "session") is between two replicas, the initiator I and
 * the partner P, over up to AE_SESSION_RANGES ranges they share (all
 * those of a pass whose replica at one place is P), so that what costs
 * bytes per message or per round is paid once for many ranges. Both keep
 * the session's state, by session id: the ranges, and the frontier of a
 * walk down their trees (core/merkle_walk.h).
 *  1. I sends AE_TREE at level 0: the ranges (lo, hi] and its roots.
 *  2. P compares them with its own and answers AE_DIFF, a bitmap of the
 *     frontier: 1 where its hash differs (and at level 0 a second one, the
 *     ranges it does not hold or cannot build, which I counts as failed).
 *     Both keep the differing nodes. None: the trees agree; both end.
 *  3. Above the leaves, I sends AE_TREE one level down with its hashes of
 *     the kept nodes' children, the left ones only (P works out the right
 *     ones from the parents: merkle_walk.h), and P answers AE_DIFF again.
 *     A differing key costs 8 bytes and 2 bits a level, and a round trip
 *     per level for the whole session.
 *  4. At the leaves, P follows its AE_DIFF with AE_KEYS: its entries (key,
 *     entry hash, version-vector sum) in the next differing leaves, in
 *     batches of at most AE_BATCH_KEYS keys or AE_BATCH_BYTES, one at a
 *     time, over a number of leaves that grows while I's answers stay
 *     small (AE_LEAVES_*).
 *  5. I scans its own entries in those leaves and sends in AE_OBJS each of
 *     its objects P lacks; it answers AE_WANT with the keys it lacks. For a
 *     key both hold differently, the side whose version vector has the
 *     larger sum (a dominating version always has) sends its object
 *     flagged WIRE_AE_SYNCBACK: the receiver merges it and sends its merge
 *     back only if that differs from what it got (it held a concurrent
 *     version). So one object crosses when one side is simply behind, and
 *     two when both had news.
 *  6. P sends the objects wanted in AE_OBJS, then the next AE_KEYS; after
 *     the last batch, AE_DONE, and I ends the session.
 * AE_OBJS carry up to AE_OBJS_BYTES of objects and want no answer; they
 * are merged causally where they land (replica_store), at once and
 * unsynced, so after a session both sides hold the merge of both, and
 * their trees agree unless a write came in meanwhile. Hashes travel as
 * 64 bits; lengths and counts as varints. Either side that finds the
 * session unknown or a message out of turn answers AE_DONE with an error,
 * and both drop it; its ranges count as failed and the next pass tries
 * again.
 *
 * Who starts what. A pass goes over every range this peer replicates;
 * for each range it runs a session with each other replica judged up.
 * The background pass (every ae_interval_s, 0: never) only pairs a peer
 * with replicas whose id sorts after its own, so each pair of replicas is
 * compared once per round of passes; a repair pass (ae_repair, dkv_repair,
 * `dkv repair`, or a peer's AE_REPAIR) pairs it with all of them and
 * reports when done. At most ae_sessions sessions run at once; a session
 * silent for 4 * timeout_ms is abandoned (its ranges count as failed).
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

#define AE_SESSION_RANGES 64 /* and at most MWALK_MAX_NODES >> ae_depth */
/* sessions other peers may run with this one at once (each holds a
 * frontier of up to MWALK_MAX_NODES nodes); more are refused (DKV_EBUSY) */
#define AE_PARTNER_SESSIONS 64
#define AE_BATCH_KEYS 1024
#define AE_BATCH_BYTES (256u << 10)
#define AE_OBJS_BYTES (256u << 10)
/* leaves per AE_KEYS batch: what the other side sends back for a batch is
 * bounded by its own keys in those leaves, which the sender cannot see
 * (a nearly empty replica lists many leaves with no keys); it starts at
 * START and doubles or halves within MIN..MAX by the last answer */
#define AE_LEAVES_START 32
#define AE_LEAVES_MIN 8
#define AE_LEAVES_MAX 512
#define AE_TICK_MS 100
#define AE_REPAIR_RESEND_MS 5000 /* a repair asked of a peer is asked again this often */

struct dkv;
struct cluster;
struct ae;

/* What a repair pass did, from the peer that ran it. */
struct ae_report {
	uint64_t ranges;          /* ranges compared */
	uint64_t ranges_differing; /* of which the trees differed */
	uint64_t keys_compared;   /* entries compared at the leaves */
	uint64_t keys_repaired;   /* objects sent to the partners */
	uint64_t failed;          /* ranges not compared (abandoned or refused) */
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

void ae_stats(struct ae *a, void (*fn)(const char *name, double value, void *arg), void *arg);

#endif
