/*
 * Coordinating one operation across a key's replicas (sans-I/O).
 *
 * The shell gives a coordinator the request and the key's replicas in
 * preference order (from the ring: id, address, datacenter, whether the
 * failure detector has it up, whether it is this peer), then feeds it the
 * replicas' answers and the clock; the coordinator says what to send to
 * whom (coord_take_actions) and when the caller has its answer. No socket,
 * store, thread or clock is touched here, so tests/sim drives many
 * coordinators over a simulated network.
 *
 * Write (put, delete with a context):
 *   1. quorum_possible over the replicas that are up, else the answer is
 *      DKV_EUNAVAILABLE and nothing is sent;
 *   2. APPLY to one replica, the applier: this peer when it is a replica,
 *      else the first live one in this peer's datacenter, else the first
 *      live one. The applier runs the causal rules against
 *      what it holds (object.h), so it alone creates the new version and
 *      a put without context never needs a remote read;
 *   3. when the applier answers with the object it now holds, STORE that
 *      object to every other live replica, which merges it into its own
 *      (a merge never drops a version the other side has not seen);
 *   4. every successful APPLY/STORE is an ack; the caller is answered as
 *      soon as the acks meet the level, the rest are still awaited and
 *      counted until they arrive or the deadline passes.
 * Read: READ to every live replica at once; the caller is answered when
 *   the answers (a value or "none") meet the level, with the causal merge
 *   of every answer so far: dominated versions drop out, concurrent ones
 *   stay as siblings, the vector covers them all. Late answers keep being
 *   merged; once every replica asked has answered (or the deadline has
 *   passed) the merged object is STOREd back to each replica whose answer
 *   differed from it — read repair, after the caller has its answer.
 * Deadline: a caller not answered by then gets DKV_ETIMEDOUT (a write may
 *   have reached some replicas); at the deadline the operation ends.
 * Failures: a replica that answers an error counts against the level; when
 *   the level can no longer be met the caller gets that error (DKV_EIO,
 *   DKV_ETOOBIG...) at once, or without one DKV_EUNAVAILABLE for a read and
 *   DKV_ETIMEDOUT for a write (it went out: it may have reached some
 *   replicas, and DKV_EUNAVAILABLE promises it did not). A replica the failure detector convicts while
 *   it is awaited counts as failed too, and an applier that dies before
 *   answering, or that refuses with DKV_EUNAVAILABLE (a peer that has
 *   left the ring writes nothing), is replaced by the next live replica
 *   (the first might still
 *   have applied the write: then two versions of it from one writer may
 *   stand as siblings until the next write of that writer or with a
 *   context; a write is never lost for it).
 *
 * Sloppy quorum (writes): the shell may list fallbacks after the
 *   replicas — live peers next along the ring that are not replicas. A
 *   replica that is down when the write's object is ready (or is convicted
 *   while its STORE is awaited) has a fallback of its datacenter stand in
 *   for it: the object goes there as a hint naming it (the shell sends it
 *   with WOP_HINT, coord_hint_for), and the fallback's ack counts towards
 *   the level in that replica's place. The level is therefore possible
 *   when the live replicas plus the fallbacks that can stand in meet it,
 *   and at least one replica is live to apply the write (only a replica
 *   creates versions). Reads never use fallbacks: they read replicas only.
 *
 * A blind delete (no context) is two coordinators in a row in the shell:
 * a read at the same level, then a delete with the merged context, so it
 * removes what the replicas hold rather than what one of them holds.
 */
#ifndef DKV_CORE_COORD_H
#define DKV_CORE_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libdkv/dkv.h"
#include "core/object.h"
#include "core/quorum.h"
#include "core/vv.h"
#include "core/wire.h"

enum coord_kind { COORD_PUT, COORD_DELETE, COORD_GET };

/* What a coordinator asks the shell to send (or do locally when the
 * target is this peer). */
enum coord_send {
	CS_APPLY, /* the request: key, value or tombstone, context, writer */
	CS_STORE, /* an object to merge: coord_store_object() */
	CS_READ   /* the key */
};

struct coord_action {
	uint8_t send;    /* enum coord_send */
	uint32_t target; /* index into the replicas */
};

/* One replica of the key, as the shell sees it now. */
struct coord_replica {
	struct actor id;
	const char *addr; /* copied */
	uint8_t dc;       /* index < ndcs */
	bool up;
	bool local;    /* this peer */
	bool fallback; /* not a replica: a stand-in for down ones (listed last) */
};

struct coord_request {
	enum coord_kind kind;
	const void *key; /* copied */
	size_t klen;
	const void *val; /* copied (put) */
	size_t vlen;
	const struct vv *ctx; /* copied; NULL: blind */
	dkv_consistency_t level;
	bool by_count;  /* level ignored: any `count` replicas (config r/w) */
	uint32_t count;
	uint64_t deadline_ms;
	enum conflict_mode mode;
};

enum coord_target_state { T_IDLE, T_WAIT, T_DONE, T_FAILED };

struct coord_target {
	struct actor id;
	char addr[WIRE_ADDR_MAX + 1];
	bool up, local;
	bool fallback;     /* index >= n: a stand-in */
	uint32_t stand_in; /* replica: the fallback holding its copy (or NONE) */
	uint32_t standing_for; /* fallback: the replica it stands in for (or NONE) */
	uint8_t state;     /* enum coord_target_state; a replica with a
	                    * stand-in mirrors the stand-in's */
	bool repair;       /* a read repair went to it */
	uint8_t *answer;   /* read: the object it answered (NULL: none) */
	size_t answer_len;
};

struct coord {
	enum coord_kind kind;
	enum conflict_mode mode;
	uint8_t *key, *val;
	size_t klen, vlen;
	bool has_ctx;
	struct vv ctx;
	uint64_t deadline_ms;
	struct quorum q;
	uint32_t n;  /* replicas: t[0..n), what the level counts */
	uint32_t nt; /* and fallbacks after them: t[n..nt) */
	struct coord_target *t;
	uint8_t *dc_of;
	bool *yes; /* scratch for quorum checks */
	uint32_t applier;
	uint32_t local_dc;
	/* the object to STORE: the applier's result (write) or the merge of
	 * the answers (read) */
	uint8_t *obj;
	size_t obj_len;
	struct object merged; /* read: borrows from the targets' answers */
	bool merged_any;
	/* outputs */
	bool answered; /* the caller's answer is ready: result */
	int result;
	bool finished; /* nothing more will happen: free it */
	uint32_t acks, repairs;
	uint32_t nactions;
	struct coord_action *actions;
};

#define COORD_NONE UINT32_MAX

/* Sets up c and decides the first sends (or the answer: DKV_EUNAVAILABLE
 * when the replicas up cannot meet the level). reps: the replicas, then
 * any fallbacks (n in all). DKV_ENOMEM, or DKV_EINVAL for no replicas, bad
 * indices, a fallback before a replica or an unknown level; on failure c
 * holds nothing (coord_free is harmless). */
int coord_init(struct coord *c, const struct coord_request *req, const struct coord_replica *reps,
               uint32_t n, uint32_t ndcs, uint32_t local_dc);
void coord_free(struct coord *c);

/* Index of the replica or fallback with this id, or -1. */
int coord_target_of(const struct coord *c, const struct actor *id);

/* For a CS_STORE to target i: the replica it holds a hint for when i is a
 * fallback, else NULL. */
const struct actor *coord_hint_for(const struct coord *c, uint32_t i);

/* Answers, from replica i (duplicates and answers nobody asked for are
 * ignored). obj/len: the object the replica holds after the operation
 * (APPLY) or held (READ; NULL for none); copied. */
void coord_applied(struct coord *c, uint32_t i, int status, const void *obj, size_t len);
void coord_stored(struct coord *c, uint32_t i, int status);
void coord_value(struct coord *c, uint32_t i, int status, const void *obj, size_t len);
/* The clock: past the deadline, an unanswered caller times out and the
 * operation ends. */
void coord_tick(struct coord *c, uint64_t now_ms);

/* The failure detector convicted replica i. What it was asked counts as
 * failed (an answer arriving later is ignored); a write whose applier it
 * was, and that has no object yet, moves to the next live replica. */
void coord_peer_down(struct coord *c, uint32_t i);

/* The sends decided since the last call (valid until the next event). */
const struct coord_action *coord_take_actions(struct coord *c, uint32_t *n);

/* For a CS_STORE: the object to send. */
const uint8_t *coord_store_object(const struct coord *c, size_t *len);

/* A read's answer as an encoded object (valid while c lives; DKV_ENOTFOUND
 * when nothing live was found) and the merged causal context. */
int coord_read_object(struct coord *c, const uint8_t **obj, size_t *len);
const struct vv *coord_read_context(const struct coord *c);

#endif
