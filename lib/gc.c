/* Tombstone collection (see gc.h). */
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

#include "cluster.h"
#include "core/merkle.h"
#include "core/ring.h"
#include "dkv_internal.h"
#include "gc.h"
#include "util/alloc.h"
#include "util/clock.h"

/* One tombstone being checked with the key's other replicas. */
struct check {
	RB_ENTRY(check) node;
	uint64_t id, hash, started_ms;
	struct token t;
	uint32_t nreps, answered, same;
	struct actor reps[RING_MAX_REPLICAS];
	char addrs[RING_MAX_REPLICAS][WIRE_ADDR_MAX + 1];
	bool seen[RING_MAX_REPLICAS];
	size_t klen;
	uint8_t key[];
};

static int
check_cmp(const struct check *a, const struct check *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_HEAD(check_tree, check);
RB_GENERATE_STATIC(check_tree, check, node, check_cmp)

struct gc {
	struct dkv *db;
	struct cluster *c;
	struct event *timer;
	struct check_tree checks;
	uint32_t nchecks;
	uint64_t next_id;
	uint8_t *cursor; /* where the next round starts */
	size_t cursor_len;
	bool stopped;
	_Atomic uint64_t candidates, purged, kept;
};

static void
check_free(struct gc *g, struct check *k)
{
	RB_REMOVE(check_tree, &g->checks, k);
	g->nchecks--;
	mem_free(k);
}

static void
send_op(struct gc *g, const char *addr, uint8_t type, uint64_t id, const uint8_t *key,
        size_t klen, uint64_t hash)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = (enum wire_type)type;
	m.op.id = id;
	m.op.key = key;
	m.op.klen = (uint32_t)klen;
	m.op.hash = hash;
	cluster_send_msg(g->c, addr, &m);
}

static bool
purge_local(struct gc *g, const uint8_t *key, size_t klen, struct token t, uint64_t hash)
{
	pthread_mutex_t *lock = keylock_for(&g->db->locks, t);
	int err;

	pthread_mutex_lock(lock);
	err = replica_purge(&g->db->replica, key, klen, t, hash, clock_wall_us(),
	                    (uint64_t)g->db->s.tombstone_grace_s * 1000000u);
	pthread_mutex_unlock(lock);
	return err == DKV_OK;
}

/* Every other replica holds what we hold: purge it everywhere. */
static void
reap(struct gc *g, struct check *k)
{
	for (uint32_t i = 0; i < k->nreps; i++)
		send_op(g, k->addrs[i], WMSG_PURGE, 0, k->key, k->klen, k->hash);
	if (purge_local(g, k->key, k->klen, k->t, k->hash))
		atomic_fetch_add_explicit(&g->purged, 1, memory_order_relaxed);
}

/* A tombstone past its grace, held here: check it with the others when
 * this peer is the key's first replica and all of them are up. */
static void
consider(struct gc *g, const uint8_t *key, size_t klen, struct token t, uint64_t hash)
{
	struct coord_replica reps[RING_MAX_REPLICAS];
	uint32_t n, nprimary, ndcs, local_dc;
	struct check *k;

	n = cluster_replicas(g->c, t, false, reps, RING_MAX_REPLICAS, &nprimary, &ndcs, &local_dc);
	if (n == 0 || !reps[0].local)
		return; /* another replica checks this key */
	atomic_fetch_add_explicit(&g->candidates, 1, memory_order_relaxed);
	for (uint32_t i = 0; i < n; i++) {
		if (!reps[i].up) {
			atomic_fetch_add_explicit(&g->kept, 1, memory_order_relaxed);
			return; /* it may hold anything: wait until it is back */
		}
	}
	if ((k = mem_calloc(1, sizeof(*k) + klen)) == NULL)
		return;
	k->id = g->next_id++;
	k->hash = hash;
	k->t = t;
	k->started_ms = clock_mono_ms();
	k->klen = klen;
	memcpy(k->key, key, klen);
	for (uint32_t i = 1; i < n; i++) {
		k->reps[k->nreps] = reps[i].id;
		strlcpy(k->addrs[k->nreps], reps[i].addr, sizeof(k->addrs[0]));
		k->nreps++;
	}
	if (k->nreps == 0) { /* the only replica */
		if (purge_local(g, key, klen, t, hash))
			atomic_fetch_add_explicit(&g->purged, 1, memory_order_relaxed);
		mem_free(k);
		return;
	}
	RB_INSERT(check_tree, &g->checks, k);
	g->nchecks++;
	for (uint32_t i = 0; i < k->nreps; i++)
		send_op(g, k->addrs[i], WMSG_READ, k->id, key, klen, 0);
}

/* A tombstone record found by the sweep. */
struct found {
	uint8_t *key;
	size_t klen;
	struct token t;
	uint64_t hash;
};

struct sweep {
	struct found *f;
	size_t n, cap, seen;
	uint64_t now_us, grace_us;
	uint8_t *last;
	size_t last_len;
	bool nomem;
};

static int
sweep_one(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	struct sweep *sw = arg;
	const uint8_t *p = k;
	struct object o;
	uint8_t *last;

	sw->seen++;
	if ((last = mem_realloc(sw->last, klen + 1)) == NULL)
		goto nomem;
	memcpy(last, k, klen);
	last[klen] = 0; /* the smallest key after this one */
	sw->last = last;
	sw->last_len = klen + 1;
	if (klen > OBJECT_KEY_OVERHEAD && object_decode(&o, v, vlen) == DKV_OK) {
		bool reapable = object_reapable(&o, sw->now_us, sw->grace_us);

		object_free(&o);
		if (reapable) {
			struct found *f;

			if (sw->n == sw->cap) {
				size_t cap = sw->cap ? 2 * sw->cap : 64;

				if ((f = mem_reallocarray(sw->f, cap, sizeof(*f))) == NULL)
					goto nomem;
				sw->f = f;
				sw->cap = cap;
			}
			f = &sw->f[sw->n];
			f->klen = klen - OBJECT_KEY_OVERHEAD;
			if ((f->key = mem_alloc(f->klen)) == NULL)
				goto nomem;
			memcpy(f->key, p + OBJECT_KEY_OVERHEAD, f->klen);
			f->t = token_from_bytes(p + 1);
			f->hash = merkle_entry_hash(f->key, f->klen, v, vlen).a;
			sw->n++;
		}
	}
	return sw->seen >= GC_BATCH || sw->n >= GC_MAX_CHECKS;
nomem:
	sw->nomem = true;
	return 1;
}

static void
round_now(struct gc *g)
{
	static const uint8_t obj_start[1] = {STORE_NS_OBJECT}, obj_limit[1] = {STORE_NS_OBJECT + 1};
	uint64_t now = clock_mono_ms();
	struct check *k, *next;
	struct sweep sw;

	if (g->stopped || g->db->store == NULL)
		return;
	RB_FOREACH_SAFE(k, check_tree, &g->checks, next) {
		if (now - k->started_ms > g->db->s.timeout_ms) {
			atomic_fetch_add_explicit(&g->kept, 1, memory_order_relaxed);
			check_free(g, k); /* someone did not answer: next round */
		}
	}
	if (g->nchecks >= GC_MAX_CHECKS)
		return;
	memset(&sw, 0, sizeof(sw));
	sw.now_us = clock_wall_us();
	sw.grace_us = (uint64_t)g->db->s.tombstone_grace_s * 1000000u;
	if (store_scan(g->db->store, g->cursor ? g->cursor : obj_start,
	               g->cursor ? g->cursor_len : sizeof(obj_start), obj_limit, sizeof(obj_limit),
	               sweep_one, &sw) == DKV_OK &&
	    !sw.nomem) {
		for (size_t i = 0; i < sw.n && g->nchecks < GC_MAX_CHECKS; i++)
			consider(g, sw.f[i].key, sw.f[i].klen, sw.f[i].t, sw.f[i].hash);
		/* next round: after the last record seen, or from the start */
		mem_free(g->cursor);
		g->cursor = NULL;
		g->cursor_len = 0;
		if (sw.seen >= GC_BATCH || sw.n >= GC_MAX_CHECKS) {
			g->cursor = sw.last;
			g->cursor_len = sw.last_len;
			sw.last = NULL;
		}
	}
	for (size_t i = 0; i < sw.n; i++)
		mem_free(sw.f[i].key);
	mem_free(sw.f);
	mem_free(sw.last);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	round_now(arg);
}

bool
gc_on_value(struct gc *g, uint64_t id, const struct actor *from, int status, const void *obj,
            size_t len)
{
	struct check key, *k;
	uint32_t i;

	key.id = id;
	if (g == NULL || g->stopped || (k = RB_FIND(check_tree, &g->checks, &key)) == NULL)
		return false;
	for (i = 0; i < k->nreps && !actor_eq(&k->reps[i], from); i++)
		;
	if (i == k->nreps || k->seen[i])
		return true;
	k->seen[i] = true;
	k->answered++;
	if (status == DKV_OK && obj != NULL && merkle_entry_hash(k->key, k->klen, obj, len).a == k->hash)
		k->same++;
	if (k->answered < k->nreps)
		return true;
	if (k->same == k->nreps)
		reap(g, k);
	else
		atomic_fetch_add_explicit(&g->kept, 1, memory_order_relaxed);
	check_free(g, k);
	return true;
}

void
gc_on_purge(struct gc *g, const struct msg *m)
{
	struct token t;

	if (g == NULL || g->stopped || g->db->store == NULL)
		return;
	t = token_of_key(m->op.key, m->op.klen);
	if (purge_local(g, m->op.key, m->op.klen, t, m->op.hash))
		atomic_fetch_add_explicit(&g->purged, 1, memory_order_relaxed);
}

int
gc_open(struct dkv *db, struct cluster *c, struct gc **out)
{
	struct gc *g = mem_calloc(1, sizeof(*g));
	unsigned every = db->s.tombstone_grace_s < 10 ? db->s.tombstone_grace_s : 10;
	struct timeval tv = {every > 0 ? every : 1, 0};

	*out = NULL;
	if (g == NULL)
		return DKV_ENOMEM;
	g->db = db;
	g->c = c;
	RB_INIT(&g->checks);
	g->next_id = (uint64_t)arc4random() << 32 | arc4random();
	if (db->store != NULL) {
		g->timer = event_new(loop_base(db->loop), -1, EV_PERSIST, on_tick, g);
		if (g->timer == NULL || event_add(g->timer, &tv) != 0) {
			gc_free(g);
			return DKV_ENOMEM;
		}
	}
	*out = g;
	return DKV_OK;
}

void
gc_stop(struct gc *g)
{
	struct check *k, *next;

	if (g == NULL)
		return;
	if (g->timer != NULL)
		event_free(g->timer);
	g->timer = NULL;
	g->stopped = true;
	RB_FOREACH_SAFE(k, check_tree, &g->checks, next)
		check_free(g, k);
}

void
gc_free(struct gc *g)
{
	if (g == NULL)
		return;
	gc_stop(g);
	mem_free(g->cursor);
	mem_free(g);
}

void
gc_stats(struct gc *g, void (*fn)(const char *name, double value, void *arg), void *arg)
{
	fn("tombstones_checked", (double)atomic_load(&g->candidates), arg);
	fn("tombstones_purged", (double)atomic_load(&g->purged), arg);
	fn("tombstones_kept", (double)atomic_load(&g->kept), arg);
}
