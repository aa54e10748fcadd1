/*
 * A deterministic replication simulator: lib/core's coordinator and
 * replica driven the way lib/repl.c drives them, over a seeded network,
 * with a history of every version to check what reads return.
 *
 * RSIM_PEERS peers, each a replica over its own in-memory store; every key
 * has RSIM_N replicas, taken from the consistent-hashing ring. Clients
 * start gets, puts (blind, or with the context of a get) and deletes (a
 * get, then a delete with its context, as the shell does) through random
 * coordinator peers at ONE, QUORUM and ALL. What a coordinator sends to
 * another peer becomes a message that the network delays, drops,
 * duplicates and reorders and that partitions stop; what it sends to
 * itself runs at once. Peers may crash: a crashed peer neither sends nor
 * receives, the operations it coordinated vanish unanswered, and it comes
 * back later with its store as it was (writes are durable once applied,
 * as with sync_writes=1). With sloppy quorum on, a write whose replica is
 * down in the coordinator's view goes to a fallback (a peer that is not a
 * replica) as a hint, which counts towards the level; every peer sends its
 * hints to their peers every HINT_ROUND_MS when it can reach them and
 * deletes one only when its peer acknowledged exactly what it held, as
 * lib/hints.c does. Anti-entropy (rsim_anti_entropy) runs exchanges
 * between every pair of peers over the keys both replicate, deciding what
 * moves with lib/core/keydiff.c, as lib/ae.c does at the leaves (tags cut
 * to a few values, so that keys share them often). One thread and one simulated clock, so a seed
 * replays a run exactly (SIM_TRACE=1 prints it).
 *
 * The history names every version: each APPLY that runs at a replica makes
 * one (a dot). It records which versions each one supersedes, by the rules
 * of core/object.h as a client could know them: a write with a context
 * supersedes what the get that produced the context returned; a blind put
 * from writer W supersedes the versions by W that its replica held. Reads
 * are checked against that as they are answered (see check_sim_replication.c
 * for the invariants); the first violation stops the run.
 */
#ifndef DKV_TESTS_REPL_SIM_H
#define DKV_TESTS_REPL_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "libdkv/dkv.h"

#define RSIM_PEERS 5
#define RSIM_N 3
#define RSIM_KEYS 4

struct rsim_config {
	unsigned loss_pct, dup_pct;
	unsigned min_delay_ms, max_delay_ms;
	unsigned timeout_ms;     /* each coordinator's deadline */
	unsigned client_gap_ms;  /* a client operation starts every 1..gap ms */
	unsigned partition_ms;   /* 0: never; else the network changes about this often */
	unsigned stale_view_pct; /* a coordinator believes every replica is up */
	unsigned crash_ms;       /* 0: never; else a peer crashes about this often */
	unsigned crash_down_ms;  /* and stays down up to this long (its store survives) */
	bool blind_only;         /* gets and blind puts only */
	bool sloppy;             /* writes use fallbacks, which keep hints and deliver them */
};

struct rsim_stats {
	uint64_t ops, writes_acked, writes_failed, reads_ok, reads_failed;
	uint64_t unavailable, timeouts;
	uint64_t versions, delivered, lost, cut, duplicated, repairs, crashes;
	uint64_t hints_stored, hints_delivered, ae_exchanges, ae_objects;
	uint32_t max_siblings;
};

struct rsim;

/* A cluster with empty stores; NULL when out of memory. */
struct rsim *rsim_new(uint64_t seed, const struct rsim_config *cfg);
void rsim_free(struct rsim *s);

/* Clients and faults for duration_ms of simulated time. */
void rsim_run(struct rsim *s, uint64_t duration_ms);
/* No partition, loss, duplication or crash from now on (crashed peers
 * restart); views are accurate. */
void rsim_heal(struct rsim *s);
/* Runs until no message is in flight and no coordinator is alive. */
void rsim_drain(struct rsim *s);
/* Delivers every hint (sloppy): rounds until no peer holds one, then the
 * writes acknowledged through hints count for invariant 1 too. */
void rsim_deliver_hints(struct rsim *s);
/* Anti-entropy: every pair of a key's replicas compares entry hashes and,
 * where they differ, sends each other its object (merged causally where it
 * lands), in rounds until all agree. */
void rsim_anti_entropy(struct rsim *s);
/* One get per key at level through a random peer, then drains; each must
 * succeed and is checked like every read. */
void rsim_read_every_key(struct rsim *s, dkv_consistency_t level);
/* Every key's replicas hold byte-identical objects, and every version
 * ever made is held or superseded by one that is. */
void rsim_check_replicas(struct rsim *s);

/* Whether an invariant failed, and which (valid while s lives). */
bool rsim_failed(const struct rsim *s, const char **why);
/* The last lines of the trace, oldest first. */
void rsim_dump_trace(const struct rsim *s, FILE *f);
const struct rsim_stats *rsim_stats(const struct rsim *s);

#endif
