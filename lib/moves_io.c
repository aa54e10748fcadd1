/* Range moves, the shell (see moves_io.h and core/moves.h). */
#include "config.h"

#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "ae_trees.h"
#include "cluster.h"
#include "dkv_internal.h"
#include "moves_io.h"
#include "util/alloc.h"
#include "util/clock.h"

#define OF(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define ASK_SID_BIT (1ull << 63) /* LEAVE asks; move requests count from 1 */

struct moves_io {
	struct dkv *db;
	struct cluster *c;
	struct moves gains, served;
	bool closing;
	bool planned; /* a plan has been set since open */
	uint64_t start_ms; /* no requests before (moves_io_set) */
	uint64_t ask_sid;
	int ask_result;
	_Atomic uint64_t keys_in, bytes_in, keys_out, bytes_out, batches_failed, skipped;
	_Atomic uint32_t gains_done, gains_total, served_done, served_total;
};

/* A batch received, applied on a worker. */
struct batch {
	struct work work;
	struct mb_msg done;
	struct moves_io *m;
	uint64_t sid;
	struct token lo, hi;
	int status;
	uint32_t applied, skipped;
	struct token last_t;
	uint16_t last_klen;
	const uint8_t *last_key; /* into data */
	struct wire_move mv;     /* entries point into data */
	uint8_t data[];
};

int
moves_io_open(struct dkv *db, struct cluster *c, struct moves_io **out)
{
	struct moves_io *m = mem_calloc(1, sizeof(*m));

	*out = NULL;
	if (m == NULL)
		return DKV_ENOMEM;
	m->db = db;
	m->c = c;
	moves_init(&m->gains);
	moves_init(&m->served);
	/* answers are matched by sid: start somewhere random, so a late one
	 * meant for this peer's previous run matches nothing */
	m->gains.next_sid = ((uint64_t)arc4random() << 24 | arc4random()) + 1;
	m->gains.write_w = db->s.w;
	m->ask_result = 1;
	*out = m;
	return DKV_OK;
}

void
moves_io_shutdown(struct moves_io *m)
{
	if (m != NULL)
		m->closing = true;
}

void
moves_io_free(struct moves_io *m)
{
	if (m == NULL)
		return;
	moves_free(&m->gains);
	moves_free(&m->served);
	mem_free(m);
}

static bool
is_up(const struct actor *id, void *arg)
{
	struct moves_io *m = arg;
	char addr[WIRE_ADDR_MAX + 1];

	return cluster_peer_addr(m->c, id, addr);
}

bool
moves_io_set(struct moves_io *m, struct move *gains, uint32_t ngains, struct move *served,
             uint32_t nserved, uint64_t settle_ms)
{
	bool dropped = m->gains.n > 0 && ngains == 0 && !moves_settle(&m->gains, is_up, m);

	if (m->gains.n == 0 && ngains > 0)
		m->start_ms = clock_mono_ms() + settle_ms;
	moves_set(&m->gains, gains, ngains);
	moves_set(&m->served, served, nserved);
	m->planned = true;
	return dropped;
}


/* The counts dkv_stats reads from other threads. */
static void
moves_publish(struct moves_io *m)
{
	uint32_t done, total;

	moves_count(&m->gains, &done, &total);
	atomic_store(&m->gains_done, done);
	atomic_store(&m->gains_total, total);
	moves_count(&m->served, &done, &total);
	atomic_store(&m->served_done, done);
	atomic_store(&m->served_total, total);
}

void
moves_io_tick(struct moves_io *m)
{
	struct move_req req[MOVES_INFLIGHT];
	uint32_t n;

	moves_settle(&m->gains, is_up, m); /* marks ranges done, for the counts */
	moves_publish(m);
	if (m->closing || m->db->store == NULL || clock_mono_ms() < m->start_ms)
		return;
	n = moves_due(&m->gains, clock_mono_ms(), is_up, m, req, MOVES_INFLIGHT);
	for (uint32_t i = 0; i < n; i++) {
		char addr[WIRE_ADDR_MAX + 1];
		struct msg msg;

		if (!cluster_peer_addr(m->c, &req[i].to, addr))
			continue; /* went down just now: due again after the resend delay */
		memset(&msg, 0, sizeof(msg));
		msg.type = WMSG_MOVE_REQ;
		msg.mv.sid = req[i].sid;
		msg.mv.lo = req[i].lo;
		msg.mv.hi = req[i].hi;
		msg.mv.has_cursor = req[i].has_cursor;
		msg.mv.cur_t = req[i].cur_t;
		msg.mv.cur_key = req[i].cur_key;
		msg.mv.cur_klen = req[i].has_cursor ? req[i].cur_klen : 0;
		msg.mv.max_bytes = MOVES_BATCH_BYTES;
		cluster_send_msg(m->c, addr, &msg);
	}
}

bool
moves_io_gains_done(struct moves_io *m)
{
	return m->planned && moves_settle(&m->gains, is_up, m);
}

bool
moves_io_served_done(const struct moves_io *m)
{
	uint32_t done, total;

	moves_count(&m->served, &done, &total);
	return m->planned && done == total;
}

unsigned
moves_io_percent(const struct moves_io *m, bool served)
{
	uint32_t done, total;

	moves_count(served ? &m->served : &m->gains, &done, &total);
	return total == 0 ? 100u : (unsigned)((uint64_t)done * 100u / total);
}

/* --- serving a request ---------------------------------------------------- */

struct scan {
	const struct wire_move *req;
	uint8_t *buf;
	size_t len, cap, limit;
	uint32_t n;
	bool more; /* stopped with entries left */
	int err;
};

/* Bytewise, as the store orders keys of one token. */
static int
key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c != 0 ? c : (alen > blen) - (alen < blen);
}

static int
scan_entry(struct token t, const uint8_t *key, size_t klen, const void *obj, size_t olen,
           void *arg)
{
	struct scan *s = arg;
	size_t need = WIRE_MOVE_ENTRY_MAX(klen, olen);

	if (s->req->has_cursor && token_cmp(t, s->req->cur_t) == 0 &&
	    key_cmp(key, klen, s->req->cur_key, s->req->cur_klen) <= 0)
		return 0; /* sent before */
	if (klen > WIRE_MAX_KEY || olen > UINT32_MAX)
		return 0; /* cannot be: the store holds what the wire carried */
	if (s->n > 0 && s->len + need > s->limit) {
		s->more = true;
		return 1;
	}
	if (s->len + need > s->cap) {
		size_t cap = s->cap * 2 > s->len + need ? s->cap * 2 : s->len + need;
		uint8_t *b = mem_realloc(s->buf, cap);

		if (b == NULL) {
			s->err = DKV_ENOMEM;
			return 1;
		}
		s->buf = b;
		s->cap = cap;
	}
	wire_move_put(s->buf, &s->len, t, key, (uint16_t)klen, obj, (uint32_t)olen);
	s->n++;
	return 0;
}

static void
answer(struct moves_io *m, const char *to, uint64_t sid, int status, const struct scan *s)
{
	struct msg msg;
	size_t len;

	memset(&msg, 0, sizeof(msg));
	msg.type = WMSG_MOVE_DATA;
	msg.mv.sid = sid;
	msg.mv.status = status;
	if (s != NULL) {
		msg.mv.n = s->n;
		msg.mv.entries = s->buf;
		msg.mv.entries_len = s->len;
		msg.mv.flags = s->n == 0 ? WIRE_MOVE_LAST : 0;
	}
	len = cluster_send_msg(m->c, to, &msg);
	if (s != NULL && s->n > 0) {
		atomic_fetch_add_explicit(&m->keys_out, s->n, memory_order_relaxed);
		atomic_fetch_add_explicit(&m->bytes_out, len, memory_order_relaxed);
	}
}

static void
serve(struct moves_io *m, const struct msg *msg, const char *from)
{
	const struct wire_move *rq = &msg->mv;
	struct scan s = {.req = rq};
	size_t frame = m->db->replica.max_object_bytes + WIRE_MAX_KEY;
	struct token lo;
	int err;

	if (m->closing || m->db->store == NULL) {
		answer(m, from, rq->sid, m->closing ? DKV_ECLOSED : DKV_EUNAVAILABLE, NULL);
		return;
	}
	/* never the whole ring (moves_each cuts it), and a cursor inside */
	if (token_cmp(rq->lo, rq->hi) == 0 ||
	    (rq->has_cursor && !token_in_range(rq->lo, rq->hi, rq->cur_t))) {
		answer(m, from, rq->sid, DKV_EINVAL, NULL);
		return;
	}
	s.limit = rq->max_bytes < 4096 ? 4096 : rq->max_bytes;
	if (s.limit > MOVES_BATCH_BYTES)
		s.limit = MOVES_BATCH_BYTES;
	if (s.limit > frame)
		s.limit = frame; /* one entry always fits a frame */
	/* resume at the cursor's token (its earlier keys are skipped) */
	lo = rq->has_cursor ? token_from_u128(token_to_u128(rq->cur_t) - 1) : rq->lo;
	err = ae_scan_range(m->db->store, lo, rq->hi, scan_entry, &s);
	if (err == DKV_OK)
		err = s.err;
	if (err != DKV_OK) {
		answer(m, from, rq->sid, err, NULL);
	} else {
		answer(m, from, rq->sid, DKV_OK, &s);
		if (s.n == 0) /* the gainer has applied all of it before asking */
			moves_mark_served(&m->served, &msg->from, rq->lo, rq->hi);
	}
	mem_free(s.buf);
}

/* --- applying a batch ----------------------------------------------------- */

static void
batch_run(struct work *w)
{
	struct batch *b = OF(w, struct batch, work);
	struct dkv *db = b->m->db;
	struct replica rep = db->replica;
	size_t off = 0;
	struct token t;
	const uint8_t *key, *obj;
	uint16_t klen;
	uint32_t olen;
	int err;

	rep.sync_writes = false; /* one synced record after the batch */
	b->status = DKV_OK;
	while (b->status == DKV_OK && wire_move_next(&b->mv, &off, &t, &key, &klen, &obj, &olen)) {
		pthread_mutex_t *lock;

		/* a source sends what it holds for the range, in order: an
		 * entry that is not is refused with the batch */
		if (token_cmp(token_of_key(key, klen), t) != 0 || !token_in_range(b->lo, b->hi, t)) {
			b->status = DKV_EINVAL;
			break;
		}
		b->last_t = t; /* the cursor moves past a skipped entry too */
		b->last_key = key;
		b->last_klen = klen;
		if (klen > db->s.max_key_bytes) {
			b->skipped++; /* a key this peer could not address */
			continue;
		}
		lock = keylock_for(&db->locks, t);
		pthread_mutex_lock(lock);
		err = replica_store(&rep, key, klen, t, obj, olen);
		pthread_mutex_unlock(lock);
		if (err == DKV_ENOMEM || err == DKV_EIO) {
			b->status = err; /* this peer's trouble: the batch goes again */
			break;
		}
		if (err != DKV_OK) {
			/* an object this replica can never take (it does not
			 * decode, or the merge would be over max_object_bytes):
			 * counted and passed, rather than stopping the range */
			b->skipped++;
			continue;
		}
		b->applied++;
	}
	if (b->status == DKV_OK && db->s.sync_writes && b->applied > 0)
		b->status = store_meta_put_raw(db->store, "moves_sync", "", 0, true);
	loop_post(db->loop, &b->done);
}

static void
batch_cancel(struct work *w)
{
	struct batch *b = OF(w, struct batch, work);

	mem_free(b);
}

static void
batch_done(struct mb_msg *msg)
{
	struct batch *b = OF(msg, struct batch, done);
	struct moves_io *m = b->m;

	if (!m->closing) {
		if (b->status == DKV_OK &&
		    moves_applied(&m->gains, b->sid, false, b->last_t, b->last_key, b->last_klen) ==
		        DKV_OK) {
			atomic_fetch_add_explicit(&m->keys_in, b->applied, memory_order_relaxed);
			atomic_fetch_add_explicit(&m->skipped, b->skipped, memory_order_relaxed);
			atomic_fetch_add_explicit(&m->bytes_in, b->mv.entries_len, memory_order_relaxed);
		} else if (b->status != DKV_OK) {
			atomic_fetch_add_explicit(&m->batches_failed, 1, memory_order_relaxed);
			moves_refused(&m->gains, b->sid, clock_mono_ms());
		}
		moves_io_tick(m);
	}
	mem_free(b);
}

static void
on_data(struct moves_io *m, const struct msg *msg)
{
	const struct wire_move *d = &msg->mv;
	struct token lo, hi;
	struct batch *b;

	if ((d->sid & ASK_SID_BIT) != 0) {
		if (d->sid == m->ask_sid)
			m->ask_result = d->status;
		return;
	}
	if (m->closing || !moves_find(&m->gains, d->sid, &lo, &hi) ||
	    !actor_eq(moves_source_of(&m->gains, d->sid), &msg->from))
		return; /* stale (asked again since, the plan changed), or not its source's */
	if (d->status != DKV_OK) {
		atomic_fetch_add_explicit(&m->batches_failed, 1, memory_order_relaxed);
		moves_refused(&m->gains, d->sid, clock_mono_ms());
		return;
	}
	if ((d->flags & WIRE_MOVE_LAST) != 0) {
		moves_applied(&m->gains, d->sid, true, lo, NULL, 0);
		moves_io_tick(m);
		return;
	}
	b = mem_alloc(sizeof(*b) + d->entries_len);
	if (b == NULL) {
		moves_refused(&m->gains, d->sid, clock_mono_ms());
		return;
	}
	memset(b, 0, sizeof(*b));
	b->m = m;
	b->sid = d->sid;
	b->lo = lo;
	b->hi = hi;
	b->mv = *d;
	memcpy(b->data, d->entries, d->entries_len);
	b->mv.entries = b->data;
	b->work.run = batch_run;
	b->work.cancel = batch_cancel;
	b->done.fn = batch_done;
	if (workers_submit(m->db->workers, &b->work) != DKV_OK) {
		mem_free(b);
		moves_refused(&m->gains, d->sid, clock_mono_ms());
	}
}

void
moves_io_on_msg(struct moves_io *m, const struct msg *msg, const char *from)
{
	switch (msg->type) {
	case WMSG_MOVE_REQ:
		serve(m, msg, from);
		return;
	case WMSG_MOVE_DATA:
		on_data(m, msg);
		return;
	case WMSG_LEAVE: {
		int err = m->closing ? DKV_ECLOSED : cluster_leave(m->c);

		answer(m, from, msg->mv.sid, err, NULL);
		return;
	}
	default:
		return;
	}
}

void
moves_io_source_back(struct moves_io *m, const struct actor *id)
{
	moves_reset_source(&m->gains, id);
}

void
moves_io_ask_leave(struct moves_io *m, const char *addr)
{
	struct msg msg;

	if (m->ask_sid == 0)
		m->ask_sid = ASK_SID_BIT | ((uint64_t)arc4random() << 16);
	m->ask_result = 1;
	memset(&msg, 0, sizeof(msg));
	msg.type = WMSG_LEAVE;
	msg.mv.sid = m->ask_sid;
	cluster_send_msg(m->c, addr, &msg);
}

int
moves_io_ask_result(const struct moves_io *m)
{
	return m->ask_result;
}

void
moves_io_stats(struct moves_io *m, void (*fn)(const char *name, double value, void *arg),
               void *arg)
{
	fn("moves_ranges_to_receive", (double)atomic_load(&m->gains_total), arg);
	fn("moves_ranges_received", (double)atomic_load(&m->gains_done), arg);
	fn("moves_ranges_to_hand_over", (double)atomic_load(&m->served_total), arg);
	fn("moves_ranges_handed_over", (double)atomic_load(&m->served_done), arg);
	fn("moves_keys_received", (double)atomic_load(&m->keys_in), arg);
	fn("moves_bytes_received", (double)atomic_load(&m->bytes_in), arg);
	fn("moves_keys_sent", (double)atomic_load(&m->keys_out), arg);
	fn("moves_bytes_sent", (double)atomic_load(&m->bytes_out), arg);
	fn("moves_batches_failed", (double)atomic_load(&m->batches_failed), arg);
	fn("moves_entries_skipped", (double)atomic_load(&m->skipped), arg);
}
