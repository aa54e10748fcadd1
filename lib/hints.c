/* Hinted handoff: delivering the hints this peer holds (see hints.h). */
#include "config.h"

#include <stdatomic.h>
#include <string.h>

#include <bsd/stdlib.h>
/* libbsd's tree.h marks generated functions __unused, which glibc's
 * headers do not define */
#ifndef __unused
#define __unused __attribute__((__unused__))
#endif
#include <bsd/sys/tree.h>
#include <event2/event.h>

#include "cluster.h"
#include "core/hint.h"
#include "dkv_internal.h"
#include "hints.h"
#include "util/alloc.h"
#include "util/clock.h"

#define MAX_PEERS 256
#define BATCH_BYTES (1u << 20) /* per peer and tick: well under a link's queue */
#define SWEEP_RECORDS 4096

/* A hint sent and not yet acknowledged. */
struct flight {
	RB_ENTRY(flight) node;
	uint64_t id;
	struct actor to;
	struct token t;
	uint64_t fp, sent_ms;
	size_t klen;
	uint8_t key[]; /* the hint's storage key */
};

static int
flight_cmp(const struct flight *a, const struct flight *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_HEAD(flight_tree, flight);
RB_GENERATE_STATIC(flight_tree, flight, node, flight_cmp)

struct hints {
	struct dkv *db;
	struct cluster *c;
	struct event *timer;
	struct flight_tree flights;
	uint64_t next_id, next_sweep_ms;
	bool stopped;
	uint8_t *cursor; /* where the next sweep starts */
	size_t cursor_len;
	_Atomic uint64_t delivered, dropped, inflight;
};

/* A record copied out of a scan. */
struct rec {
	uint8_t *key, *val;
	size_t klen, vlen;
};

struct batch {
	struct rec *recs;
	size_t n, cap, bytes, max_recs;
	bool nomem;
};

static void
batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		mem_free(b->recs[i].key);
		mem_free(b->recs[i].val);
	}
	mem_free(b->recs);
}

static int
collect(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	struct batch *b = arg;
	struct rec *r;

	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		struct rec *nr = mem_reallocarray(b->recs, cap, sizeof(*nr));

		if (nr == NULL)
			goto nomem;
		b->recs = nr;
		b->cap = cap;
	}
	r = &b->recs[b->n];
	r->key = mem_alloc(klen);
	r->val = mem_alloc(vlen ? vlen : 1);
	if (r->key == NULL || r->val == NULL) {
		mem_free(r->key);
		mem_free(r->val);
		goto nomem;
	}
	memcpy(r->key, k, klen);
	memcpy(r->val, v, vlen);
	r->klen = klen;
	r->vlen = vlen;
	b->n++;
	b->bytes += klen + vlen;
	return b->n >= b->max_recs || b->bytes >= BATCH_BYTES;
nomem:
	b->nomem = true;
	return 1;
}

/* Deletes the hint at key if it still holds what had fingerprint fp. */
static bool
drop_if_same(struct hints *h, const uint8_t *key, size_t klen, struct token t, uint64_t fp)
{
	struct dkv *db = h->db;
	pthread_mutex_t *lock = keylock_for(&db->locks, t);
	bool dropped = false;
	void *val;
	size_t vlen;

	pthread_mutex_lock(lock);
	if (store_get(db->store, key, klen, &val, &vlen) == DKV_OK) {
		if (hint_fingerprint(val, vlen) == fp)
			dropped = store_del(db->store, key, klen, false) == DKV_OK;
		store_free_value(db->store, val);
	}
	pthread_mutex_unlock(lock);
	return dropped;
}

static void
flight_end(struct hints *h, struct flight *f)
{
	RB_REMOVE(flight_tree, &h->flights, f);
	atomic_fetch_sub_explicit(&h->inflight, 1, memory_order_relaxed);
	mem_free(f);
}

static bool
has_flights(const struct hints *h, const struct actor *to)
{
	struct flight *f;

	RB_FOREACH(f, flight_tree, (struct flight_tree *)(uintptr_t)&h->flights)
		if (actor_eq(&f->to, to))
			return true;
	return false;
}

/* Sends one hint's object to its peer as a STORE and remembers it. */
static void
send_hint(struct hints *h, const struct cluster_peer *p, const struct rec *r, struct token t,
          const uint8_t *ukey, size_t uklen, const uint8_t *obj, size_t olen, uint64_t now_ms)
{
	struct flight *f = mem_alloc(sizeof(*f) + r->klen);
	struct msg m;

	if (f == NULL)
		return;
	memset(&m, 0, sizeof(m));
	m.type = WMSG_STORE;
	m.op.id = h->next_id++;
	m.op.key = ukey;
	m.op.klen = (uint32_t)uklen;
	m.op.data = obj;
	m.op.dlen = (uint32_t)olen;
	if (cluster_send_msg(h->c, p->addr, &m) == 0) {
		mem_free(f);
		return;
	}
	f->id = m.op.id;
	f->to = p->id;
	f->t = t;
	f->fp = hint_fingerprint(r->val, r->vlen);
	f->sent_ms = now_ms;
	f->klen = r->klen;
	memcpy(f->key, r->key, r->klen);
	RB_INSERT(flight_tree, &h->flights, f);
	atomic_fetch_add_explicit(&h->inflight, 1, memory_order_relaxed);
}

/* A hint record's parts (pointing into r). False for one that cannot be
 * read, which is deleted and counted as dropped: nothing can deliver it. */
struct parsed {
	struct actor to;
	struct token t;
	const uint8_t *ukey, *obj;
	size_t uklen, olen;
	uint64_t created;
};

static bool
parse_or_drop(struct hints *h, const struct rec *r, struct parsed *p)
{
	if (hint_key_decode(r->key, r->klen, &p->to, &p->t, &p->ukey, &p->uklen) == DKV_OK &&
	    hint_value_decode(r->val, r->vlen, &p->created, &p->obj, &p->olen) == DKV_OK &&
	    p->uklen <= WIRE_MAX_KEY)
		return true;
	if (store_del(h->db->store, r->key, r->klen, false) == DKV_OK)
		atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
	return false;
}

/* Drops r if it has outlived hint_window_s (and was not changed since it
 * was read). */
static bool
expire(struct hints *h, const struct rec *r, const struct parsed *p, uint64_t wall_ms)
{
	if (!hint_expired(p->created, wall_ms, h->db->s.hint_window_s))
		return false;
	if (drop_if_same(h, r->key, r->klen, p->t, hint_fingerprint(r->val, r->vlen)))
		atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
	return true;
}

/* One batch of the hints held for peer p. */
static void
deliver(struct hints *h, const struct cluster_peer *p, uint64_t now_ms, uint64_t wall_ms)
{
	uint8_t start[HINT_PREFIX_MAX], limit[HINT_PREFIX_MAX];
	struct batch b;
	size_t plen = hint_prefix(start, limit, &p->id);
	unsigned rate = h->db->s.hint_rate;

	memset(&b, 0, sizeof(b));
	b.max_recs = rate * HINTS_TICK_MS / 1000 > 0 ? rate * HINTS_TICK_MS / 1000 : 1;
	if (store_scan(h->db->store, start, plen, limit, plen, collect, &b) != DKV_OK) {
		batch_free(&b);
		return;
	}
	for (size_t i = 0; i < b.n; i++) {
		const struct rec *r = &b.recs[i];
		struct parsed rp;

		if (parse_or_drop(h, r, &rp) && !expire(h, r, &rp, wall_ms))
			send_hint(h, p, r, rp.t, rp.ukey, rp.uklen, rp.obj, rp.olen, now_ms);
	}
	batch_free(&b);
}

/* Drops the expired hints of every peer, SWEEP_RECORDS at a time. */
static void
sweep(struct hints *h, uint64_t wall_ms)
{
	struct batch all;
	uint8_t *start = h->cursor;
	size_t slen = h->cursor_len;

	memset(&all, 0, sizeof(all));
	all.max_recs = SWEEP_RECORDS;
	if (start == NULL) {
		start = (uint8_t *)(uintptr_t)hint_all_start;
		slen = sizeof(hint_all_start);
	}
	if (store_scan(h->db->store, start, slen, hint_all_limit, sizeof(hint_all_limit), collect,
	               &all) != DKV_OK) {
		batch_free(&all);
		return;
	}
	for (size_t i = 0; i < all.n; i++) {
		struct parsed rp;

		if (parse_or_drop(h, &all.recs[i], &rp))
			expire(h, &all.recs[i], &rp, wall_ms);
	}
	/* next time: after the last record seen, or from the start again */
	mem_free(h->cursor);
	h->cursor = NULL;
	h->cursor_len = 0;
	if (all.n == SWEEP_RECORDS || all.bytes >= BATCH_BYTES) {
		const struct rec *r = &all.recs[all.n - 1];

		if ((h->cursor = mem_alloc(r->klen + 1)) != NULL) {
			memcpy(h->cursor, r->key, r->klen);
			h->cursor[r->klen] = 0; /* the smallest key after it */
			h->cursor_len = r->klen + 1;
		}
	}
	batch_free(&all);
}

static void
round_now(struct hints *h)
{
	struct cluster_peer *peers;
	uint64_t now = clock_mono_ms(), wall = clock_wall_us() / 1000;
	struct flight *f, *next;
	uint32_t n;

	if (h->db->store == NULL || h->stopped)
		return;
	/* unanswered deliveries: their hints go again in a later round */
	RB_FOREACH_SAFE(f, flight_tree, &h->flights, next)
		if (now - f->sent_ms > h->db->s.timeout_ms)
			flight_end(h, f);
	peers = mem_calloc(MAX_PEERS, sizeof(*peers));
	if (peers == NULL)
		return;
	n = cluster_live_storage(h->c, peers, MAX_PEERS);
	for (uint32_t i = 0; i < n; i++)
		if (!has_flights(h, &peers[i].id))
			deliver(h, &peers[i], now, wall);
	mem_free(peers);
	if (now >= h->next_sweep_ms) {
		h->next_sweep_ms = now + HINTS_SWEEP_MS;
		sweep(h, wall);
	}
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	round_now(arg);
}

void
hints_kick(struct hints *h)
{
	if (h != NULL)
		round_now(h);
}

bool
hints_on_stored(struct hints *h, uint64_t id, const struct actor *from, int status)
{
	struct flight key, *f;

	key.id = id;
	if (h == NULL || h->stopped || (f = RB_FIND(flight_tree, &h->flights, &key)) == NULL)
		return false;
	if (!actor_eq(&f->to, from))
		return true; /* not from the peer it went to: ignore */
	if (status == DKV_OK && drop_if_same(h, f->key, f->klen, f->t, f->fp))
		atomic_fetch_add_explicit(&h->delivered, 1, memory_order_relaxed);
	else if ((status == DKV_ETOOBIG || status == DKV_EINVAL) &&
	         drop_if_same(h, f->key, f->klen, f->t, f->fp))
		/* the peer will never take it (a smaller max_key_bytes or
		 * object limit, a record that is not an object): sending it
		 * again would only hold back the hints behind it */
		atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
	flight_end(h, f);
	return true;
}

int
hints_open(struct dkv *db, struct cluster *c, struct hints **out)
{
	struct hints *h = mem_calloc(1, sizeof(*h));
	struct timeval tv = {0, HINTS_TICK_MS * 1000};

	*out = NULL;
	if (h == NULL)
		return DKV_ENOMEM;
	h->db = db;
	h->c = c;
	RB_INIT(&h->flights);
	h->next_id = (uint64_t)arc4random() << 32 | arc4random();
	h->next_sweep_ms = clock_mono_ms() + HINTS_SWEEP_MS;
	if (db->store != NULL) {
		h->timer = event_new(loop_base(db->loop), -1, EV_PERSIST, on_tick, h);
		if (h->timer == NULL || event_add(h->timer, &tv) != 0) {
			hints_free(h);
			return DKV_ENOMEM;
		}
	}
	*out = h;
	return DKV_OK;
}

void
hints_stop(struct hints *h)
{
	struct flight *f, *next;

	if (h == NULL)
		return;
	if (h->timer != NULL)
		event_free(h->timer);
	h->timer = NULL;
	h->stopped = true;
	RB_FOREACH_SAFE(f, flight_tree, &h->flights, next)
		flight_end(h, f);
}

void
hints_free(struct hints *h)
{
	if (h == NULL)
		return;
	hints_stop(h);
	mem_free(h->cursor);
	mem_free(h);
}

static int
count_one(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	size_t *n = arg;

	(void)k;
	(void)klen;
	(void)v;
	(void)vlen;
	return ++*n >= HINTS_HELD_MAX;
}

void
hints_stats(struct hints *h, void (*fn)(const char *name, double value, void *arg), void *arg)
{
	fn("hints_delivered", (double)atomic_load(&h->delivered), arg);
	fn("hints_dropped", (double)atomic_load(&h->dropped), arg);
	fn("hints_in_flight", (double)atomic_load(&h->inflight), arg);
	if (h->db->store != NULL) {
		size_t held = 0;

		store_scan(h->db->store, hint_all_start, sizeof(hint_all_start), hint_all_limit,
		           sizeof(hint_all_limit), count_one, &held);
		fn("hints_held", (double)held, arg);
	}
}
