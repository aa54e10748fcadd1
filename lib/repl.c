/*
 * Replication shell (see repl.h): the coordinators of this peer's
 * operations, and the replica side of everyone's.
 */
#include "config.h"

#include <stdatomic.h>
#include <string.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>
/* libbsd's tree.h marks generated functions __unused, which glibc's
 * headers do not define */
#ifndef __unused
#define __unused __attribute__((__unused__))
#endif
#include <bsd/sys/tree.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "cluster.h"
#include "core/merkle.h"
#include "core/ring.h"
#include "dkv_internal.h"
#include "ae.h"
#include "gc.h"
#include "hints.h"
#include "moves_io.h"
#include "opts.h"
#include "repl.h"
#include "result.h"
#include "util/alloc.h"
#include "util/clock.h"

/* One operation this peer coordinates. */
struct rop {
	RB_ENTRY(rop) node;
	uint64_t id;
	struct repl *r;
	struct coord co;
	struct event timer;
	struct repl_req *req; /* NULL once the caller has its answer */
	bool then_delete;     /* the read half of a blind delete */
	bool pending_sent;    /* the write went to the key's pending replicas */
	const dkv_opts_t *opts;
};

static int
rop_cmp(const struct rop *a, const struct rop *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_HEAD(rop_tree, rop);
RB_GENERATE_STATIC(rop_tree, rop, node, rop_cmp)

struct repl {
	struct dkv *db;
	struct cluster *c;
	struct rop_tree ops;
	uint64_t next_id;
	bool closing;
	unsigned peer_jobs; /* peers' writes queued on the workers */
	struct hints *hints;
	struct ae *ae;
	struct gc *gc;
	struct moves_io *moves;
	_Atomic uint64_t coordinated, unavailable, timeouts, read_repairs, served, inflight;
	_Atomic uint64_t hints_stored; /* here, possibly on a worker */
};

/* Storage work on a worker thread: APPLY or STORE, for one of our
 * coordinators (op_id, target) or for a peer's request (answer to addr). */
struct rjob {
	struct work work;
	struct mb_msg done;
	struct repl *r;
	uint8_t type; /* WMSG_APPLY or WMSG_STORE */
	bool for_peer;
	uint64_t op_id;
	uint32_t target;
	char addr[WIRE_ADDR_MAX + 1];
	struct actor writer;
	uint64_t now_us;
	uint8_t flags;
	bool has_ctx;
	struct vv ctx;
	bool has_hint;     /* STORE: keep it as a hint for this peer */
	struct actor hint;
	bool nosync;       /* STORE wanting no answer: not fsynced (see serve_write) */
	int status;
	uint8_t *obj; /* APPLY: the object the replica now holds */
	size_t obj_len;
	size_t klen, dlen;
	uint8_t data[]; /* key, then value (APPLY) or object (STORE) */
};

#define OF(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static void run(struct rop *op);

/* --- sending ------------------------------------------------------------ */

static void
send_msg(struct repl *r, const char *addr, struct msg *m)
{
	if (cluster_send_msg(r->c, addr, m) == 0)
		log_warn(&r->db->log, "cannot encode a replication message for %s", addr);
}

static void
send_answer(struct repl *r, const char *addr, uint8_t type, uint64_t id, int status,
            const uint8_t *obj, size_t len)
{
	struct msg m;

	if (addr == NULL || addr[0] == '\0')
		return; /* no answer wanted */
	memset(&m, 0, sizeof(m));
	m.type = (enum wire_type)type;
	m.op.id = id;
	m.op.status = status;
	m.op.data = obj;
	m.op.dlen = (uint32_t)len;
	send_msg(r, addr, &m);
}

/* --- storage work ------------------------------------------------------- */

static struct rjob *
job_new(struct repl *r, uint8_t type, const void *key, size_t klen, const void *data, size_t dlen)
{
	struct rjob *j = mem_alloc(sizeof(*j) + klen + dlen);

	if (j == NULL)
		return NULL;
	memset(j, 0, sizeof(*j));
	vv_init(&j->ctx);
	j->r = r;
	j->type = type;
	j->klen = klen;
	j->dlen = dlen;
	memcpy(j->data, key, klen);
	if (dlen > 0)
		memcpy(j->data + klen, data, dlen);
	return j;
}

static void
job_free(struct rjob *j)
{
	vv_free(&j->ctx);
	mem_free(j->obj);
	mem_free(j);
}

/* The storage work itself, on whichever thread runs it. */
static void
job_exec(struct rjob *j)
{
	struct dkv *db = j->r->db;
	struct token t = token_of_key(j->data, j->klen);
	pthread_mutex_t *lock = keylock_for(&db->locks, t);

	pthread_mutex_lock(lock);
	if (j->type == WMSG_APPLY) {
		struct replica_write rw;

		rw.key = j->data;
		rw.klen = j->klen;
		rw.token = t;
		rw.ctx = j->has_ctx ? &j->ctx : NULL;
		rw.writer = &j->writer;
		rw.now_us = j->now_us;
		rw.tombstone = (j->flags & WOP_TOMBSTONE) != 0;
		rw.val = j->data + j->klen;
		rw.vlen = j->dlen;
		j->status = replica_apply(&db->replica, &rw, &j->obj, &j->obj_len);
	} else if (j->has_hint) {
		j->status = replica_store_hint(&db->replica, &j->hint, j->data, j->klen, t,
		                               j->data + j->klen, j->dlen, clock_wall_us() / 1000);
		if (j->status == DKV_OK)
			atomic_fetch_add_explicit(&j->r->hints_stored, 1, memory_order_relaxed);
	} else {
		struct replica rep = db->replica;

		rep.sync_writes = rep.sync_writes && !j->nosync;
		j->status = replica_store(&rep, j->data, j->klen, t, j->data + j->klen, j->dlen);
	}
	pthread_mutex_unlock(lock);
}

/* A STORE carrying a hint for `for`: kept as a hint, unless it names this
 * peer (the sender thought it down), which merges it as a replica. */
static void
job_set_hint(struct rjob *j, const struct actor *to)
{
	j->has_hint = to != NULL && !actor_eq(to, &j->r->db->self);
	if (j->has_hint)
		j->hint = *to;
}

static void
job_run(struct work *w)
{
	struct rjob *j = OF(w, struct rjob, work);

	job_exec(j);
	loop_post(j->r->db->loop, &j->done);
}

/* Writes without fsync are short (LevelDB appends to its log and its
 * memtable), so they run inline on the loop and save two thread hops;
 * with sync_writes the fsync goes to a worker. */
static bool
write_inline(const struct repl *r)
{
	return !r->db->s.sync_writes;
}

static void
job_cancel(struct work *w)
{
	job_free(OF(w, struct rjob, work));
}

static struct rop *
find_op(struct repl *r, uint64_t id)
{
	struct rop key;

	key.id = id;
	return RB_FIND(rop_tree, &r->ops, &key);
}

/* Loop thread: a job is done; answer the peer or feed our coordinator. */
static void
job_done(struct mb_msg *m)
{
	struct rjob *j = OF(m, struct rjob, done);
	struct repl *r = j->r;
	struct rop *op;

	if (j->for_peer) {
		r->peer_jobs--;
		send_answer(r, j->addr, j->type == WMSG_APPLY ? WMSG_APPLIED : WMSG_STORED, j->op_id,
		            j->status, j->obj, j->obj_len);
	} else if ((op = find_op(r, j->op_id)) != NULL) {
		if (j->type == WMSG_APPLY)
			coord_applied(&op->co, j->target, j->status, j->obj, j->obj_len);
		else
			coord_stored(&op->co, j->target, j->status);
		run(op);
	}
	job_free(j);
}

static int
job_submit(struct repl *r, struct rjob *j)
{
	int err;

	j->work.run = job_run;
	j->work.cancel = job_cancel;
	j->done.fn = job_done;
	if ((err = workers_submit(r->db->workers, &j->work)) != DKV_OK)
		job_free(j);
	return err;
}

/* Reads what this replica holds for key, as the encoded object (checked to
 * decode). DKV_ENOTFOUND when it holds nothing. */
static int
read_local(struct repl *r, const void *key, size_t klen, void **raw, size_t *len)
{
	return replica_read_raw(&r->db->replica, key, klen, token_of_key(key, klen), raw, len);
}

/* --- coordinating ------------------------------------------------------- */

static void
act_local(struct rop *op, const struct coord_action *a)
{
	struct repl *r = op->r;
	struct coord *co = &op->co;
	struct rjob *j = NULL;
	void *raw = NULL;
	size_t len = 0;
	int err;

	switch (a->send) {
	case CS_READ:
		err = read_local(r, co->key, co->klen, &raw, &len);
		coord_value(co, a->target, err, raw, len);
		store_free_value(r->db->store, raw);
		return;
	case CS_APPLY:
		j = job_new(r, WMSG_APPLY, co->key, co->klen, co->val,
		            co->kind == COORD_DELETE ? 0 : co->vlen);
		if (j != NULL) {
			j->writer = r->db->self;
			j->now_us = clock_wall_us();
			j->flags = co->kind == COORD_DELETE ? WOP_TOMBSTONE : 0;
			if (co->has_ctx && vv_copy(&j->ctx, &co->ctx) != DKV_OK) {
				job_free(j);
				j = NULL;
			} else {
				j->has_ctx = co->has_ctx;
			}
		}
		break;
	case CS_STORE: {
		const uint8_t *obj = coord_store_object(co, &len);

		j = job_new(r, WMSG_STORE, co->key, co->klen, obj, len);
		if (j != NULL)
			job_set_hint(j, coord_hint_for(co, a->target));
		break;
	}
	default:
		return;
	}
	if (j == NULL) {
		err = DKV_ENOMEM;
	} else if (write_inline(r)) {
		job_exec(j);
		if (a->send == CS_APPLY)
			coord_applied(co, a->target, j->status, j->obj, j->obj_len);
		else
			coord_stored(co, a->target, j->status);
		job_free(j);
		return;
	} else {
		j->op_id = op->id;
		j->target = a->target;
		err = job_submit(r, j);
	}
	if (err != DKV_OK) {
		if (a->send == CS_APPLY)
			coord_applied(co, a->target, err, NULL, 0);
		else
			coord_stored(co, a->target, err);
	}
}

static void
act_remote(struct rop *op, const struct coord_action *a)
{
	struct coord *co = &op->co;
	uint8_t ctxbuf[512], *ctx = NULL;
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.op.id = op->id;
	m.op.key = co->key;
	m.op.klen = (uint32_t)co->klen;
	switch (a->send) {
	case CS_READ:
		m.type = WMSG_READ;
		break;
	case CS_APPLY:
		m.type = WMSG_APPLY;
		m.op.now_us = clock_wall_us();
		if (co->kind == COORD_DELETE) {
			m.op.flags = WOP_TOMBSTONE;
		} else {
			m.op.data = co->val;
			m.op.dlen = (uint32_t)co->vlen;
		}
		if (co->has_ctx) {
			size_t n = vv_encoded_size(&co->ctx);

			ctx = n <= sizeof(ctxbuf) ? ctxbuf : mem_alloc(n);
			if (ctx == NULL) {
				coord_applied(co, a->target, DKV_ENOMEM, NULL, 0);
				return;
			}
			vv_encode(&co->ctx, ctx);
			m.op.flags |= WOP_CONTEXT;
			m.op.ctx = ctx;
			m.op.ctxlen = (uint32_t)n;
		}
		break;
	case CS_STORE: {
		const struct actor *hint = coord_hint_for(co, a->target);
		size_t len;

		m.type = WMSG_STORE;
		m.op.data = coord_store_object(co, &len);
		m.op.dlen = (uint32_t)len;
		if (hint != NULL) {
			m.op.flags = WOP_HINT;
			m.op.hint = *hint;
		}
		break;
	}
	default:
		return;
	}
	send_msg(op->r, co->t[a->target].addr, &m);
	if (ctx != ctxbuf)
		mem_free(ctx);
}

static void
rop_free(struct rop *op)
{
	if (event_initialized(&op->timer))
		event_del(&op->timer);
	coord_free(&op->co);
	atomic_fetch_sub_explicit(&op->r->inflight, 1, memory_order_relaxed);
	mem_free(op);
}

static int start_op(struct repl *r, struct repl_req *req, enum coord_kind kind, const void *key,
                    size_t klen, const void *val, size_t vlen, const struct vv *ctx,
                    bool then_delete);

/* The caller's answer, from an answered coordinator. */
static void
complete(struct rop *op)
{
	struct repl_req *req = op->req;
	struct coord *co = &op->co;
	dkv_result_t *res = NULL;
	int err = co->result;

	op->req = NULL;
	if (err == DKV_ETIMEDOUT)
		atomic_fetch_add_explicit(&op->r->timeouts, 1, memory_order_relaxed);
	if (co->kind != COORD_GET || err != DKV_OK) {
		req->done(req, err, NULL);
		return;
	}
	if (op->then_delete) {
		const struct vv *seen = coord_read_context(co);

		if (seen->n == 0) {
			req->done(req, DKV_OK, NULL); /* nothing anywhere to delete */
			return;
		}
		err = start_op(op->r, req, COORD_DELETE, co->key, co->klen, NULL, 0, seen, false);
		if (err != DKV_OK)
			req->done(req, err, NULL);
		return;
	}
	{
		const uint8_t *obj;
		uint8_t *copy;
		struct object o;
		size_t len;

		err = coord_read_object(co, &obj, &len);
		if (err == DKV_OK) {
			copy = mem_alloc(len);
			if (copy == NULL) {
				err = DKV_ENOMEM;
			} else {
				memcpy(copy, obj, len);
				if ((err = object_decode(&o, copy, len)) != DKV_OK) {
					mem_free(copy);
				} else {
					err = result_from_object(&o, copy, mem_free, &res);
					object_free(&o);
				}
			}
		}
	}
	req->done(req, err, res);
}

/* While a ring change is pending, the key's new replicas get each write
 * too (moves.h): the object the applier made, as a STORE that wants no
 * answer and does not count towards the level. */
static void
forward_pending(struct rop *op)
{
	struct repl *r = op->r;
	struct cluster_peer to[RING_MAX_REPLICAS];
	const uint8_t *obj;
	size_t len;
	uint32_t n;

	if ((obj = coord_store_object(&op->co, &len)) == NULL || len == 0)
		return;
	op->pending_sent = true;
	if (!cluster_has_pending(r->c))
		return;
	n = cluster_pending(r->c, token_of_key(op->co.key, op->co.klen), to, RING_MAX_REPLICAS);
	for (uint32_t i = 0; i < n; i++) {
		struct msg m;

		if (cluster_is_self(r->c, &to[i].id)) { /* a joiner's own write */
			struct rjob *j = job_new(r, WMSG_STORE, op->co.key, op->co.klen, obj, len);

			if (j == NULL)
				continue;
			j->for_peer = true; /* with no address: no answer */
			if (write_inline(r)) {
				job_exec(j);
				job_free(j);
			} else if (job_submit(r, j) == DKV_OK) {
				r->peer_jobs++;
			}
			continue;
		}
		memset(&m, 0, sizeof(m));
		m.type = WMSG_STORE;
		m.op.id = op->id;
		m.op.key = op->co.key;
		m.op.klen = (uint32_t)op->co.klen;
		m.op.data = obj;
		m.op.dlen = (uint32_t)len;
		m.op.flags = WOP_NOACK;
		send_msg(r, to[i].addr, &m);
	}
}

/* Carries out what the coordinator decided, answers the caller when it can
 * and ends the operation when it is over. */
static void
run(struct rop *op)
{
	struct coord_action acts[2 * QUORUM_MAX_REPLICAS];
	const struct coord_action *a;
	uint32_t n;

	for (;;) {
		a = coord_take_actions(&op->co, &n);
		if (n == 0)
			break;
		memcpy(acts, a, n * sizeof(*a));
		for (uint32_t i = 0; i < n; i++) {
			if (acts[i].send == CS_STORE && op->co.t[acts[i].target].repair)
				atomic_fetch_add_explicit(&op->r->read_repairs, 1, memory_order_relaxed);
			if (op->co.t[acts[i].target].local)
				act_local(op, &acts[i]);
			else
				act_remote(op, &acts[i]);
		}
	}
	if (op->co.kind != COORD_GET && !op->pending_sent)
		forward_pending(op);
	if (op->co.answered && op->req != NULL)
		complete(op);
	if (op->co.finished) {
		RB_REMOVE(rop_tree, &op->r->ops, op);
		rop_free(op);
	}
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct rop *op = arg;
	uint64_t now = clock_mono_ms();

	(void)fd;
	(void)what;
	if (now < op->co.deadline_ms) {
		/* libevent measures from the time cached at the start of the
		 * loop iteration, so a timer may fire a little early: wait out
		 * the rest */
		uint64_t left = op->co.deadline_ms - now;
		struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};

		event_add(&op->timer, &tv);
		return;
	}
	coord_tick(&op->co, now);
	run(op);
}

static int
start_op(struct repl *r, struct repl_req *req, enum coord_kind kind, const void *key, size_t klen,
         const void *val, size_t vlen, const struct vv *ctx, bool then_delete)
{
	const struct dkv_opts *o = req->opts;
	struct coord_replica reps[RING_MAX_REPLICAS];
	struct coord_request cr;
	uint32_t n, nprimary, ndcs, local_dc;
	bool sloppy = kind != COORD_GET && r->db->s.hinted_handoff && r->db->s.hint_window_s > 0;
	unsigned timeout;
	struct timeval tv;
	struct rop *op;
	int err;

	n = cluster_replicas(r->c, token_of_key(key, klen), sloppy, reps, RING_MAX_REPLICAS,
	                     &nprimary, &ndcs, &local_dc);
	if (n == 0) {
		atomic_fetch_add_explicit(&r->unavailable, 1, memory_order_relaxed);
		return DKV_EUNAVAILABLE;
	}
	memset(&cr, 0, sizeof(cr));
	cr.kind = kind;
	cr.key = key;
	cr.klen = klen;
	cr.val = val;
	cr.vlen = vlen;
	cr.ctx = ctx;
	cr.mode = r->db->replica.mode;
	if (o != NULL && o->has_consistency) {
		cr.level = (dkv_consistency_t)o->consistency;
	} else {
		cr.by_count = true;
		cr.count = kind == COORD_GET ? r->db->s.r : r->db->s.w;
	}
	timeout = o != NULL && o->timeout_ms > 0 ? o->timeout_ms : r->db->s.timeout_ms;
	cr.deadline_ms = clock_mono_ms() + timeout;
	op = mem_calloc(1, sizeof(*op));
	if (op == NULL)
		return DKV_ENOMEM;
	op->r = r;
	op->id = ++r->next_id;
	op->then_delete = then_delete;
	if ((err = coord_init(&op->co, &cr, reps, n, ndcs, local_dc)) != DKV_OK) {
		mem_free(op);
		return err;
	}
	atomic_fetch_add_explicit(&r->inflight, 1, memory_order_relaxed);
	if (op->co.answered) { /* unavailable: nothing was sent */
		atomic_fetch_add_explicit(&r->unavailable, 1, memory_order_relaxed);
		err = op->co.result;
		rop_free(op);
		return err;
	}
	atomic_fetch_add_explicit(&r->coordinated, 1, memory_order_relaxed);
	op->req = req;
	event_assign(&op->timer, loop_base(r->db->loop), -1, 0, on_deadline, op);
	tv.tv_sec = timeout / 1000;
	tv.tv_usec = (timeout % 1000) * 1000;
	event_add(&op->timer, &tv);
	RB_INSERT(rop_tree, &r->ops, op);
	run(op);
	return DKV_OK;
}

static void
on_submit(struct mb_msg *m)
{
	struct repl_req *req = OF(m, struct repl_req, msg);
	struct repl *r = req->repl_;
	int err;

	if (r->closing) {
		req->done(req, DKV_ECLOSED, NULL);
		return;
	}
	if (req->kind == COORD_DELETE && req->ctx == NULL)
		err = start_op(r, req, COORD_GET, req->key, req->klen, NULL, 0, NULL, true);
	else
		err = start_op(r, req, req->kind, req->key, req->klen, req->val, req->vlen, req->ctx,
		               false);
	if (err != DKV_OK)
		req->done(req, err, NULL);
}

void
repl_submit(struct repl *r, struct repl_req *req)
{
	req->repl_ = r;
	req->msg.fn = on_submit;
	loop_post(r->db->loop, &req->msg);
}

void
repl_peer_down(struct repl *r, const struct actor *id)
{
	struct rop *op, *next;
	int i;

	RB_FOREACH_SAFE(op, rop_tree, &r->ops, next) {
		if ((i = coord_target_of(&op->co, id)) < 0)
			continue;
		coord_peer_down(&op->co, (uint32_t)i);
		run(op); /* may end op (next stays valid) or start others */
	}
}

/* --- serving peers ------------------------------------------------------ */

static void
serve_read(struct repl *r, const struct msg *m, const char *from)
{
	void *raw = NULL;
	size_t len = 0;
	int err;

	err = read_local(r, m->op.key, m->op.klen, &raw, &len);
	send_answer(r, from, WMSG_VALUE, m->op.id, err, err == DKV_OK ? raw : NULL,
	            err == DKV_OK ? len : 0);
	store_free_value(r->db->store, raw);
}

static void
serve_write(struct repl *r, const struct msg *m, const char *from)
{
	/* a STORE with WOP_NOACK (a pending replica's copy) wants no answer */
	const char *to = (m->op.flags & WOP_NOACK) != 0 && m->type == WMSG_STORE ? NULL : from;
	uint8_t answer = m->type == WMSG_APPLY ? WMSG_APPLIED : WMSG_STORED;
	struct rjob *j;
	int err = DKV_OK;

	if (r->closing)
		err = DKV_ECLOSED; /* the workers are going away (dkv_close) */
	else if (cluster_self_left(r->c))
		err = DKV_EUNAVAILABLE; /* decommissioned: a write kept here is lost */
	else if (m->type == WMSG_APPLY && m->op.dlen > r->db->s.max_value_bytes)
		err = DKV_ETOOBIG;
	else if (!write_inline(r) && to != NULL && r->peer_jobs >= r->db->s.max_pending)
		err = DKV_EBUSY; /* the workers are max_pending writes behind */
	if (err == DKV_OK && (j = job_new(r, m->type, m->op.key, m->op.klen, m->op.data,
	                                  m->op.dlen)) == NULL)
		err = DKV_ENOMEM;
	if (err != DKV_OK) {
		send_answer(r, to, answer, m->op.id, err, NULL, 0);
		return;
	}
	j->for_peer = true;
	j->op_id = m->op.id;
	strlcpy(j->addr, to != NULL ? to : "", sizeof(j->addr));
	j->writer = m->from;
	j->now_us = m->op.now_us;
	j->flags = m->op.flags;
	if (m->type == WMSG_STORE && (m->op.flags & WOP_HINT) != 0)
		job_set_hint(j, &m->op.hint);
	if (m->type == WMSG_APPLY && (m->op.flags & WOP_CONTEXT) != 0) {
		if (vv_decode(&j->ctx, m->op.ctx, m->op.ctxlen) != DKV_OK) {
			job_free(j);
			send_answer(r, to, answer, m->op.id, DKV_EINVAL, NULL, 0);
			return;
		}
		j->has_ctx = true;
	}
	/* A STORE that wants no answer (a pending replica's copy of a
	 * write) acknowledges nothing to anyone: it is merged at once,
	 * without fsync, rather than queued for a worker's fsync and refused
	 * when the workers are behind, which silently lost copies under
	 * load (anti-entropy's objects, AE_OBJS, are merged the same way).
	 * LevelDB has written its log record when this returns, so a process
	 * crash keeps it; an OS crash may not, and then the next anti-entropy
	 * pass brings it again from the replicas that hold it. */
	j->nosync = to == NULL;
	if (write_inline(r) || j->nosync) {
		job_exec(j);
		send_answer(r, to, answer, m->op.id, j->status, j->obj, j->obj_len);
		job_free(j);
		return;
	}
	if ((err = job_submit(r, j)) != DKV_OK)
		send_answer(r, to, answer, m->op.id, err, NULL, 0);
	else
		r->peer_jobs++;
}

void
repl_on_msg(struct repl *r, const struct msg *m, const char *from)
{
	struct rop *op;
	int i;

	switch (m->type) {
	case WMSG_READ:
	case WMSG_APPLY:
	case WMSG_STORE:
		atomic_fetch_add_explicit(&r->served, 1, memory_order_relaxed);
		if (r->db->store == NULL || m->op.klen > r->db->s.max_key_bytes) {
			send_answer(r, m->type == WMSG_STORE && (m->op.flags & WOP_NOACK) ? NULL : from,
			            m->type == WMSG_READ ? WMSG_VALUE
			            : m->type == WMSG_APPLY ? WMSG_APPLIED : WMSG_STORED,
			            m->op.id, r->db->store == NULL ? DKV_EUNAVAILABLE : DKV_ETOOBIG,
			            NULL, 0);
			return;
		}
		if (m->type == WMSG_READ)
			serve_read(r, m, from);
		else
			serve_write(r, m, from);
		return;
	case WMSG_AE_TREE:
	case WMSG_AE_DIFF:
	case WMSG_AE_KEYS:
	case WMSG_AE_WANT:
	case WMSG_AE_OBJS:
	case WMSG_AE_DONE:
	case WMSG_AE_REPAIR:
		ae_on_msg(r->ae, m, from);
		return;
	case WMSG_MOVE_REQ:
	case WMSG_MOVE_DATA:
	case WMSG_LEAVE:
		moves_io_on_msg(r->moves, m, from);
		return;
	case WMSG_PURGE:
		if (m->op.klen <= r->db->s.max_key_bytes)
			gc_on_purge(r->gc, m);
		return;
	case WMSG_APPLIED:
	case WMSG_STORED:
	case WMSG_VALUE:
		if ((op = find_op(r, m->op.id)) == NULL) {
			if (m->type == WMSG_STORED)
				hints_on_stored(r->hints, m->op.id, &m->from, m->op.status);
			else if (m->type == WMSG_VALUE)
				gc_on_value(r->gc, m->op.id, &m->from, m->op.status,
				            m->op.status == DKV_OK ? m->op.data : NULL, m->op.dlen);
			return; /* a delivered hint's, a tombstone check's, or over */
		}
		if ((i = coord_target_of(&op->co, &m->from)) < 0)
			return; /* not asked of this sender */
		if (m->type == WMSG_APPLIED)
			coord_applied(&op->co, (uint32_t)i, m->op.status, m->op.data, m->op.dlen);
		else if (m->type == WMSG_STORED)
			coord_stored(&op->co, (uint32_t)i, m->op.status);
		else
			coord_value(&op->co, (uint32_t)i, m->op.status,
			            m->op.status == DKV_OK ? m->op.data : NULL, m->op.dlen);
		run(op);
		return;
	default:
		return;
	}
}

/* --- life --------------------------------------------------------------- */

int
repl_open(struct dkv *db, struct cluster *c, struct repl **out)
{
	struct repl *r = mem_calloc(1, sizeof(*r));

	*out = NULL;
	if (r == NULL)
		return DKV_ENOMEM;
	r->db = db;
	r->c = c;
	RB_INIT(&r->ops);
	if (hints_open(db, c, &r->hints) != DKV_OK) {
		mem_free(r);
		return DKV_ENOMEM;
	}
	if (ae_open(db, c, &r->ae) != DKV_OK || gc_open(db, c, &r->gc) != DKV_OK ||
	    moves_io_open(db, c, &r->moves) != DKV_OK) {
		gc_free(r->gc);
		ae_free(r->ae);
		hints_free(r->hints);
		mem_free(r);
		return DKV_ENOMEM;
	}
	/* Answers are matched by (op id, sender): start somewhere random so
	 * a late answer meant for this peer's previous run matches nothing. */
	r->next_id = (uint64_t)arc4random() << 32 | arc4random();
	*out = r;
	return DKV_OK;
}

void
repl_shutdown(struct repl *r)
{
	struct rop *op, *next;

	r->closing = true;
	hints_stop(r->hints); /* no more deliveries */
	ae_shutdown(r->ae);    /* no more exchanges; repairs fail */
	gc_stop(r->gc);
	moves_io_shutdown(r->moves);
	RB_FOREACH_SAFE(op, rop_tree, &r->ops, next) {
		RB_REMOVE(rop_tree, &r->ops, op);
		if (op->req != NULL)
			op->req->done(op->req, DKV_ECLOSED, NULL);
		rop_free(op);
	}
}

void
repl_free(struct repl *r)
{
	if (r == NULL)
		return;
	repl_shutdown(r);
	hints_free(r->hints);
	ae_free(r->ae);
	gc_free(r->gc);
	moves_io_free(r->moves);
	mem_free(r);
}

void
repl_stats(struct repl *r, void (*fn)(const char *name, double value, void *arg), void *arg)
{
	fn("coordinated", (double)atomic_load(&r->coordinated), arg);
	fn("coordinating_now", (double)atomic_load(&r->inflight), arg);
	fn("unavailable", (double)atomic_load(&r->unavailable), arg);
	fn("timeouts", (double)atomic_load(&r->timeouts), arg);
	fn("read_repairs", (double)atomic_load(&r->read_repairs), arg);
	fn("replica_requests", (double)atomic_load(&r->served), arg);
	fn("hints_stored", (double)atomic_load(&r->hints_stored), arg);
	if (r->hints != NULL)
		hints_stats(r->hints, fn, arg);
	if (r->ae != NULL)
		ae_stats(r->ae, fn, arg);
	if (r->gc != NULL)
		gc_stats(r->gc, fn, arg);
	if (r->moves != NULL)
		moves_io_stats(r->moves, fn, arg);
}

struct ae *
repl_ae(struct repl *r)
{
	return r->ae;
}

struct moves_io *
repl_moves(struct repl *r)
{
	return r->moves;
}
