/*
 * Range moves: handing key ranges over when the ring changes (sans-I/O).
 *
 * While a storage peer is JOINING with tokens, or LEAVING, every peer
 * knows two rings: the current one (NORMAL and LEAVING peers), which
 * reads and writes use, and the pending one (NORMAL and JOINING peers),
 * the ring as it will be. Cut at every token of both, the ring falls into
 * ranges whose replicas are fixed in each; where they differ, a peer that
 * replicates a range in the pending ring but not in the current one (a
 * gainer) must receive the range before the change completes.
 *
 * Pull, flow-controlled. A gainer asks each current replica of each range
 * it gains (a source) for the range in ring order, one batch at a time
 * (MOVE_REQ: range, cursor, size; MOVE_DATA: entries), applies a batch
 * (causal merge: nothing is lost whoever sent what) and only then asks
 * for the next one after the batch's last entry. A source keeps no state:
 * each request names the range and where to resume. A source answers
 * LAST only with an empty batch, so the source knows that the gainer has
 * applied all of the range (the leaver waits for exactly that).
 * Pulling from every current replica, not one, means that a write a
 * quorum acknowledged reaches the gainer even when one replica missed it.
 * Meanwhile writes go to the pending replicas too (the shell sends them
 * the coordinator's object), so nothing written during the move is lost
 * behind a cursor that has passed it.
 *
 * A gainer's range is done when every source has answered LAST, or when
 * enough have that any write acknowledged at the configured level w is
 * among them (nsrc + 1 - w of them) and the others are down (anti-entropy
 * covers what only those held). A source that restarts or comes back up
 * is asked again from its last cursor (moves_reset_source): its answer is
 * empty at once, and a leaver that restarted and lost its served marks
 * gets them back that way. A joiner turns NORMAL when all its ranges are done;
 * a leaver turns LEFT when every gainer has pulled all it must from it.
 *
 * This module plans (moves_each, moves_plan_gains, moves_plan_served) and
 * keeps the state of the moves (cursor per source, requests in flight,
 * time-outs); the shell (lib/moves_io.c) sends, scans and applies.
 */
#ifndef DKV_CORE_MOVES_H
#define DKV_CORE_MOVES_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ring.h"
#include "core/token.h"
#include "core/vv.h"

#define MOVES_INFLIGHT 16      /* requests in flight at once */
/* ... and to one source: its answers (up to 256 KiB each) must fit the
 * link's send queue (4 MiB) beside heartbeats and writes */
#define MOVES_PER_SOURCE 8
#define MOVES_RESEND_MS 10000  /* a request unanswered this long goes again */

enum move_src_state { MOVE_IDLE, MOVE_WAIT, MOVE_DONE };

struct move_src {
	struct actor id;
	uint8_t state;
	uint64_t sid;     /* the request in flight (MOVE_WAIT) */
	uint64_t sent_ms; /* when it went */
	bool has_cursor;  /* resume after (cur_t, cur_key) */
	struct token cur_t;
	uint16_t cur_klen;
	uint8_t *cur_key; /* owned */
};

/* A range (lo, hi] to receive (its sources: the current replicas), or,
 * for a leaver, one to hand over (src[0]: the gainer). */
struct move {
	struct token lo, hi;
	uint32_t nsrc;
	struct move_src src[RING_MAX_REPLICAS];
	bool done;
};

/* What to send: MOVE_REQ to src for (lo, hi] after the cursor. */
struct move_req {
	struct actor to;
	uint64_t sid;
	struct token lo, hi, cur_t;
	bool has_cursor;
	const uint8_t *cur_key; /* valid until the moves next change */
	uint16_t cur_klen;
};

struct moves {
	struct move *m;
	uint32_t n;
	uint64_t next_sid; /* the shell may start it anywhere (below 2^63) */
	uint64_t epoch;    /* bumped by every moves_set */
	uint32_t write_w;  /* the write level sources must cover; 0: one source */
};

/* Calls fn for each range (lo, hi] of the union of both rings' tokens,
 * with its replicas in each (ids from cur_ids / next_ids). Nothing when
 * either ring is empty. A ring of one token is cut in two halves so that
 * no range is the whole ring. DKV_ENOMEM. */
typedef void (*moves_fn)(struct token lo, struct token hi, const struct actor *cur,
                         uint32_t ncur, const struct actor *next, uint32_t nnext, void *arg);
int moves_each(const struct ring *cur, const struct actor *cur_ids, const struct ring *next,
               const struct actor *next_ids, const struct replication *rep, moves_fn fn,
               void *arg);

/* The ranges self gains (a replica in next, not in cur), each with the
 * current replicas as its sources; *out: mem_free (moves_set takes it). */
int moves_plan_gains(const struct ring *cur, const struct actor *cur_ids, const struct ring *next,
                     const struct actor *next_ids, const struct replication *rep,
                     const struct actor *self, struct move **out, uint32_t *n);
/* The (range, gainer) pairs self must hand over: self replicates the
 * range in cur, the gainer does in next but not in cur. One move per
 * pair, src[0] the gainer. */
int moves_plan_served(const struct ring *cur, const struct actor *cur_ids, const struct ring *next,
                      const struct actor *next_ids, const struct replication *rep,
                      const struct actor *self, struct move **out, uint32_t *n);

void moves_init(struct moves *mv);
void moves_free(struct moves *mv);
/* Replaces the plan with plan[n] (taken over, even on error): a range and
 * source that were there before keep their progress. */
void moves_set(struct moves *mv, struct move *plan, uint32_t n);

/* Requests due at now_ms: sources not done with their range, judged up, idle,
 * or waiting longer than MOVES_RESEND_MS, while fewer than MOVES_INFLIGHT
 * are in flight. Returns how many were written to out (at most max). */
uint32_t moves_due(struct moves *mv, uint64_t now_ms,
                   bool (*up)(const struct actor *id, void *arg), void *arg,
                   struct move_req *out, uint32_t max);

/* The answer to request sid has been applied: last (the range is
 * exhausted at that source), else the batch's last entry is the new
 * cursor. DKV_ENOTFOUND when sid is no longer awaited (stale), DKV_ENOMEM
 * (the request goes again from the old cursor). */
int moves_applied(struct moves *mv, uint64_t sid, bool last, struct token t, const uint8_t *key,
                  uint16_t klen);
/* The range (lo, hi] request sid is about, if it is still awaited. */
bool moves_find(const struct moves *mv, uint64_t sid, struct token *lo, struct token *hi);
/* The source request sid went to, if it is still awaited; else NULL. */
const struct actor *moves_source_of(const struct moves *mv, uint64_t sid);
/* Source id restarted or came back: what it finished is asked for again
 * from the last cursor (ranges already done stay done). */
void moves_reset_source(struct moves *mv, const struct actor *id);
/* The source refused request sid: it goes again after MOVES_RESEND_MS. */
void moves_refused(struct moves *mv, uint64_t sid, uint64_t now_ms);

/* Marks a range done once every source is done, or once nsrc + 1 -
 * write_w of them are (one when write_w is 0) and the rest are down; true
 * when every range is done. */
bool moves_settle(struct moves *mv, bool (*up)(const struct actor *id, void *arg), void *arg);

/* For a leaver's served pairs: the pair (gainer, lo, hi) is done. */
void moves_mark_served(struct moves *mv, const struct actor *gainer, struct token lo,
                       struct token hi);

/* Ranges done and in all. */
void moves_count(const struct moves *mv, uint32_t *done, uint32_t *total);

#endif
