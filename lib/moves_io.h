/*
 * Range moves, the shell (core/moves.h has the protocol): sends a
 * gainer's MOVE_REQs, applies the batches that come back, serves other
 * peers' requests from the store, and tells a leaver which of its
 * (range, gainer) pairs are handed over.
 *
 * A source scans its store on the loop thread, from the cursor, for at
 * most the batch size asked (MOVES_BATCH_BYTES at most), like an
 * anti-entropy leaf scan. A gainer applies a batch on a worker (causal
 * merges under each key's lock, no fsync per object; with sync_writes one
 * synced record after the batch makes it durable), then asks for the
 * next. The cluster (cluster.c) plans the moves from its two rings and
 * turns the peer NORMAL (joiner) or LEFT (leaver) when they are done.
 *
 * Loop thread only, except the counters.
 */
#ifndef DKV_MOVES_IO_H
#define DKV_MOVES_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/moves.h"
#include "core/wire.h"

#define MOVES_BATCH_BYTES (256u << 10)

struct dkv;
struct cluster;
struct moves_io;

int moves_io_open(struct dkv *db, struct cluster *c, struct moves_io **out);
/* No more requests; batches on the workers are dropped when they end. */
void moves_io_shutdown(struct moves_io *m);
/* After the workers are gone. */
void moves_io_free(struct moves_io *m);

/* New plans (either may be NULL with 0): the ranges this peer gains, and
 * the pairs it hands over (a leaver's). Taken over. Gains that follow no
 * gains start settle_ms from now: the time for every peer to hear of the
 * change, and so to send its writes to the new replicas as well, before
 * a cursor can pass a key (Cassandra's RING_DELAY). True when this drops
 * gains not yet all in (the change completed without waiting for this
 * peer: a joiner does not wait for other gainers): anti-entropy should
 * fill them. */
bool moves_io_set(struct moves_io *m, struct move *gains, uint32_t ngains, struct move *served,
                  uint32_t nserved, uint64_t settle_ms);
/* Sends the requests that are due. */
void moves_io_tick(struct moves_io *m);
/* Whether every gained range is in (and there was something to plan
 * from), and whether every served pair is handed over. */
bool moves_io_gains_done(struct moves_io *m);
bool moves_io_served_done(const struct moves_io *m);
/* Percent done of the gains (served: of the served pairs). */
unsigned moves_io_percent(const struct moves_io *m, bool served);

/* Peer id restarted, or was judged up again: what it finished serving is
 * asked for again from the last cursor (moves_reset_source). */
void moves_io_source_back(struct moves_io *m, const struct actor *id);

/* MOVE_REQ, MOVE_DATA from the peer listening at from. */
void moves_io_on_msg(struct moves_io *m, const struct msg *msg, const char *from);

/* Asking another peer to leave (dkv_decommission_peer): sends LEAVE and
 * remembers its id; the answer's status is then moves_io_ask_result's
 * (1: none yet). */
void moves_io_ask_leave(struct moves_io *m, const char *addr);
int moves_io_ask_result(const struct moves_io *m);

void moves_io_stats(struct moves_io *m, void (*fn)(const char *name, double value, void *arg),
                    void *arg);

#endif
