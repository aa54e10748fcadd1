/*
 * Replication shell: runs coordinators (core/coord.h) for this peer's own
 * operations and serves the replication requests of other peers.
 *
 * Threads. Everything here runs on the loop thread, except storage writes:
 *  - the API posts a request to the loop (repl_submit); the loop builds
 *    the key's replica list from the ring, starts a coordinator and sends
 *    what it asks for;
 *  - a replica's work for this peer's own operations or for a peer's
 *    request runs under the key's stripe lock: reads inline on the loop
 *    (LevelDB reads are short and never fsync), and so are writes (APPLY,
 *    STORE) while sync_writes is 0 (LevelDB then appends to its log and
 *    memtable, and two thread hops would cost more than the write); with
 *    sync_writes=1 writes run on the worker pool, so an fsync never
 *    stalls the loop, and the result is posted back to the loop, which
 *    feeds the coordinator or answers the peer;
 *  - each operation has a libevent timer at its deadline;
 *  - the caller's completion runs on the loop thread (the sync API wakes
 *    the waiting thread from there; the async API calls back).
 * Operations are found by a 64-bit id that travels in every request and
 * answer; an answer for an operation that has ended is dropped.
 *
 * Close: repl_shutdown fails every operation not yet answered with
 * DKV_ECLOSED and refuses new ones; work already on the workers still
 * completes (its answer finds nothing and is dropped), and repl_free runs
 * last, after the workers are gone.
 */
#ifndef DKV_REPL_H
#define DKV_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libdkv/dkv.h"
#include "core/coord.h"
#include "core/wire.h"
#include "io/mailbox.h"

struct dkv;
struct cluster;
struct repl;

/* An operation from the API. The caller keeps it alive until done runs
 * (on the loop thread); key, value and context are copied at start. */
struct repl_req {
	struct mb_msg msg;
	enum coord_kind kind;
	const void *key;
	size_t klen;
	const void *val;
	size_t vlen;
	const struct vv *ctx; /* NULL: blind */
	const dkv_opts_t *opts;
	/* err, and for a get that found something the result (taken) */
	void (*done)(struct repl_req *req, int err, dkv_result_t *res);
	struct repl *repl_; /* set by repl_submit */
};

int repl_open(struct dkv *db, struct cluster *c, struct repl **out);
/* Loop thread: fail what is pending with DKV_ECLOSED, refuse new work. */
void repl_shutdown(struct repl *r);
void repl_free(struct repl *r);

/* Any thread: start req on the loop. */
void repl_submit(struct repl *r, struct repl_req *req);

/* Loop thread: the failure detector convicted peer id; the operations
 * waiting on it stop waiting (coord_peer_down). */
void repl_peer_down(struct repl *r, const struct actor *id);

/* Loop thread: a replication message from the peer listening at from. */
void repl_on_msg(struct repl *r, const struct msg *m, const char *from);

/* The anti-entropy side (loop thread). */
struct ae *repl_ae(struct repl *r);
/* The range moves (loop thread). */
struct moves_io *repl_moves(struct repl *r);

void repl_stats(struct repl *r, void (*fn)(const char *name, double value, void *arg), void *arg);

#endif
