/* Anti-entropy sessions and passes (see ae.h). */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>
/* libbsd's tree.h marks generated functions __unused, which glibc's
 * headers do not define */
#ifndef __unused
#define __unused __attribute__((__unused__))
#endif
#include <bsd/sys/queue.h>
#include <bsd/sys/tree.h>
#include <event2/event.h>

#include "ae.h"
#include "ae_trees.h"
#include "cluster.h"
#include "dkv_internal.h"
#include "util/alloc.h"
#include "util/clock.h"

/* A pass over this peer's ranges: the background one or a repair. */
struct pass {
	TAILQ_ENTRY(pass) link;
	bool forced;
	uint32_t next_range, next_rep, running;
	bool started_all; /* every session of the pass has been started */
	bool idle;        /* the background pass, between passes */
	struct ae_report rep;
	void (*done)(void *arg, int err, const struct ae_report *r);
	void *arg;
	/* a peer's AE_REPAIR: answer it with AE_DONE */
	bool remote;
	uint64_t remote_sid;
	char remote_addr[WIRE_ADDR_MAX + 1];
};

TAILQ_HEAD(pass_queue, pass);

/* One exchange, on either side: the initiator's session, or the partner's
 * leaves still to send as AE_KEYS. */
struct session {
	RB_ENTRY(session) node;
	uint64_t sid;
	struct actor partner;
	char addr[WIRE_ADDR_MAX + 1];
	struct token lo, hi;
	bool initiator, differed;
	struct pass *pass; /* initiator */
	uint64_t last_ms;
	uint32_t *leaves, nleaves, next_leaf; /* AE_KEYS to send */
};

static int
session_cmp(const struct session *a, const struct session *b)
{
	if (a->sid != b->sid)
		return a->sid < b->sid ? -1 : 1;
	return actor_cmp(&a->partner, &b->partner);
}

RB_HEAD(session_tree, session);
RB_GENERATE_STATIC(session_tree, session, node, session_cmp)

/* A repair this peer asked another peer to run. */
struct remote {
	TAILQ_ENTRY(remote) link;
	uint64_t sid, sent_ms;
	struct actor peer;
	void (*done)(void *arg, int err, const struct ae_report *r);
	void *arg;
};

TAILQ_HEAD(remote_list, remote);

struct ae {
	struct dkv *db;
	struct cluster *c;
	struct ae_trees trees;
	bool has_trees, closing;
	struct replica_hooks hooks;
	struct event *timer;
	uint64_t epoch, next_sid, next_bg_ms;
	struct session_tree sessions;
	uint32_t initiated; /* sessions this peer started, running */
	struct pass bg;
	struct pass_queue repairs;
	struct remote_list remotes;
	_Atomic uint64_t passes, ranges, differing, compared, repaired, received, bytes, failed,
	    built, running;
};

static void schedule(struct ae *a);

/* --- sending ------------------------------------------------------------ */

static void
send_msg(struct ae *a, const char *addr, struct msg *m)
{
	size_t len = cluster_send_msg(a->c, addr, m);

	atomic_fetch_add_explicit(&a->bytes, len, memory_order_relaxed);
}

static void
send_done(struct ae *a, const char *addr, uint64_t sid, int status, const struct ae_report *r)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = WMSG_AE_DONE;
	m.ae.sid = sid;
	m.ae.status = status;
	if (r != NULL) {
		m.ae.counts[0] = r->ranges;
		m.ae.counts[1] = r->keys_compared;
		m.ae.counts[2] = r->keys_repaired;
		m.ae.counts[3] = r->ranges_differing;
		m.ae.counts[4] = r->failed;
	}
	send_msg(a, addr, &m);
}

/* Sends this peer's object for key to addr, to merge (no answer), unless
 * its entry hash is `unless` (what addr holds already); with syncback
 * addr sends back its merge if that differs. True when sent. */
static bool
send_object(struct ae *a, const char *addr, const uint8_t *key, size_t klen, uint64_t unless,
            bool syncback)
{
	struct msg m;
	void *raw;
	size_t len;
	bool sent = false;

	if (replica_read_raw(&a->db->replica, key, klen, token_of_key(key, klen), &raw, &len) !=
	    DKV_OK)
		return false;
	if (unless == 0 || merkle_entry_hash(key, klen, raw, len).a != unless) {
		memset(&m, 0, sizeof(m));
		m.type = WMSG_STORE;
		m.op.flags = WOP_NOACK | (syncback ? WOP_SYNCBACK : 0);
		m.op.key = key;
		m.op.klen = (uint32_t)klen;
		m.op.data = raw;
		m.op.dlen = (uint32_t)len;
		send_msg(a, addr, &m);
		atomic_fetch_add_explicit(&a->repaired, 1, memory_order_relaxed);
		sent = true;
	}
	store_free_value(a->db->store, raw);
	return sent;
}

void
ae_syncback(struct ae *a, const char *addr, const uint8_t *key, size_t klen, uint64_t theirs)
{
	if (a != NULL && !a->closing && a->has_trees)
		send_object(a, addr, key, klen, theirs, false);
}

/* --- entries of a set of leaves ---------------------------------------- */

struct entry {
	const uint8_t *key; /* into keys (ours) or the message (theirs) */
	uint16_t klen;
	uint64_t hash;
	uint64_t sum; /* of the object's version vector: more is likely newer */
};

struct entries {
	struct entry *e;
	size_t n, cap;
	uint8_t *keys; /* our keys, one after another */
	size_t klen, kcap;
	size_t key_bytes; /* what they take in an AE_KEYS */
	bool nomem;
};

static void
entries_free(struct entries *es)
{
	mem_free(es->e);
	mem_free(es->keys);
	memset(es, 0, sizeof(*es));
}

static bool
entries_grow(struct entries *es, size_t klen)
{
	if (es->n == es->cap) {
		size_t cap = es->cap ? 2 * es->cap : 64;
		struct entry *ne = mem_reallocarray(es->e, cap, sizeof(*ne));

		if (ne == NULL)
			return false;
		es->e = ne;
		es->cap = cap;
	}
	if (es->klen + klen > es->kcap) {
		size_t cap = es->kcap ? 2 * es->kcap : 4096;
		uint8_t *nk;

		while (cap < es->klen + klen)
			cap *= 2;
		if ((nk = mem_realloc(es->keys, cap)) == NULL)
			return false;
		es->keys = nk;
		es->kcap = cap;
	}
	return true;
}

/* The sum of an encoded object's version vector (0 if it does not
 * decode): a version that dominates another has a larger sum. */
static uint64_t
vv_sum_of(const void *obj, size_t olen)
{
	struct object o;
	uint64_t sum = 0;

	if (object_decode(&o, obj, olen) != DKV_OK)
		return 0;
	for (uint32_t i = 0; i < o.vv.n; i++)
		sum += vv_entries_const(&o.vv)[i].counter;
	object_free(&o);
	return sum;
}

static int
collect_entry(struct token t, const uint8_t *key, size_t klen, const void *obj, size_t olen,
              void *arg)
{
	struct entries *es = arg;

	(void)t;
	if (klen > WIRE_MAX_KEY)
		return 0;
	if (!entries_grow(es, klen)) {
		es->nomem = true;
		return 1;
	}
	memcpy(es->keys + es->klen, key, klen);
	/* the key's place, as an offset until the array stops moving */
	es->e[es->n].key = (const uint8_t *)(uintptr_t)es->klen;
	es->e[es->n].klen = (uint16_t)klen;
	es->e[es->n].hash = merkle_entry_hash(key, klen, obj, olen).a;
	es->e[es->n].sum = vv_sum_of(obj, olen);
	es->n++;
	es->klen += klen;
	es->key_bytes += WIRE_AE_KEY_MAX(klen);
	return 0;
}

/* Our entries in one leaf of range r. */
static int
leaf_entries(struct ae *a, const struct ae_range *r, uint32_t leaf, struct entries *es)
{
	struct token lo, hi;
	int err;

	merkle_leaf_bounds(&r->tree, leaf, &lo, &hi);
	if (token_cmp(lo, hi) == 0)
		return DKV_OK; /* an empty leaf of a tiny range */
	err = ae_scan_range(a->db->store, lo, hi, collect_entry, es);
	return es->nomem ? DKV_ENOMEM : err;
}

/* Turns the offsets collect_entry stored into pointers. */
static void
entries_fix(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++)
		es->e[i].key = es->keys + (uintptr_t)es->e[i].key;
}

static int
entry_cmp(const void *x, const void *y)
{
	const struct entry *a = x, *b = y;
	size_t n = a->klen < b->klen ? a->klen : b->klen;
	int c = memcmp(a->key, b->key, n);

	if (c != 0)
		return c;
	return a->klen < b->klen ? -1 : a->klen > b->klen;
}

/* --- sessions ----------------------------------------------------------- */

static struct session *
find_session(struct ae *a, uint64_t sid, const struct actor *partner)
{
	struct session key;

	key.sid = sid;
	key.partner = *partner;
	return RB_FIND(session_tree, &a->sessions, &key);
}

static void
session_free(struct ae *a, struct session *s)
{
	RB_REMOVE(session_tree, &a->sessions, s);
	if (s->initiator) {
		a->initiated--;
		atomic_fetch_sub_explicit(&a->running, 1, memory_order_relaxed);
	}
	mem_free(s->leaves);
	mem_free(s);
}

static void pass_check(struct ae *a, struct pass *p);

/* The initiator's session is over: ok (compared, maybe repaired) or not. */
static void
session_end(struct ae *a, struct session *s, bool ok)
{
	struct pass *p = s->pass;

	if (ok) {
		p->rep.ranges++;
		atomic_fetch_add_explicit(&a->ranges, 1, memory_order_relaxed);
		if (s->differed) {
			p->rep.ranges_differing++;
			atomic_fetch_add_explicit(&a->differing, 1, memory_order_relaxed);
		}
	} else {
		p->rep.failed++;
		atomic_fetch_add_explicit(&a->failed, 1, memory_order_relaxed);
	}
	p->running--;
	session_free(a, s);
	pass_check(a, p);
	schedule(a);
}

/* Sends the next AE_KEYS batch of s's leaves (range i). */
static void
send_keys(struct ae *a, struct session *s, const struct ae_range *r)
{
	struct entries es;
	uint32_t first = s->next_leaf, nl = 0;
	uint8_t *nodes = NULL, *keys = NULL;
	size_t off = 0;
	struct msg m;

	memset(&es, 0, sizeof(es));
	while (s->next_leaf < s->nleaves &&
	       (nl == 0 || (es.n < AE_BATCH_KEYS && es.key_bytes < AE_BATCH_BYTES &&
	                    nl < AE_BATCH_LEAVES))) {
		if (leaf_entries(a, r, s->leaves[s->next_leaf], &es) != DKV_OK)
			break;
		s->next_leaf++;
		nl++;
	}
	entries_fix(&es);
	nodes = mem_alloc((size_t)(nl ? nl : 1) * WIRE_AE_NODE);
	keys = mem_alloc(es.key_bytes ? es.key_bytes : 1);
	if (nodes == NULL || keys == NULL || es.nomem || nl == 0) {
		/* cannot go on: the next pass tries again */
		s->next_leaf = s->nleaves;
		goto out;
	}
	for (uint32_t i = 0; i < nl; i++)
		wire_ae_put_node(nodes, i, s->leaves[first + i], 0);
	for (size_t i = 0; i < es.n; i++)
		wire_ae_put_key(keys, &off, es.e[i].key, es.e[i].klen, true, es.e[i].hash, es.e[i].sum);
	memset(&m, 0, sizeof(m));
	m.type = WMSG_AE_KEYS;
	m.ae.sid = s->sid;
	m.ae.lo = s->lo;
	m.ae.hi = s->hi;
	m.ae.depth = (uint8_t)a->trees.depth;
	m.ae.level = (uint8_t)a->trees.depth;
	m.ae.flags = s->next_leaf >= s->nleaves ? WIRE_AE_LAST : 0;
	m.ae.n = nl;
	m.ae.nodes = nodes;
	m.ae.nkeys = (uint32_t)es.n;
	m.ae.keys = keys;
	m.ae.keys_len = off;
	send_msg(a, s->addr, &m);
out:
	mem_free(nodes);
	mem_free(keys);
	entries_free(&es);
}

/* Sends the hashes of nodes idx[0..n) at level (ours) in an AE_TREE. */
static void
send_tree(struct ae *a, const char *addr, uint64_t sid, const struct ae_range *r, unsigned level,
          const uint32_t *idx, uint32_t n)
{
	uint8_t *nodes = mem_alloc((size_t)(n ? n : 1) * WIRE_AE_NODE);
	struct msg m;

	if (nodes == NULL)
		return;
	for (uint32_t i = 0; i < n; i++)
		wire_ae_put_node(nodes, i, idx[i], merkle_node(&r->tree, level, idx[i]).a);
	memset(&m, 0, sizeof(m));
	m.type = WMSG_AE_TREE;
	m.ae.sid = sid;
	m.ae.lo = r->lo;
	m.ae.hi = r->hi;
	m.ae.depth = (uint8_t)a->trees.depth;
	m.ae.level = (uint8_t)level;
	m.ae.n = n;
	m.ae.nodes = nodes;
	send_msg(a, addr, &m);
	mem_free(nodes);
}

/* Starts a session on range i with peer reps[k] for pass p. */
static bool
session_start(struct ae *a, struct pass *p, uint32_t i, const struct actor *peer)
{
	struct ae_range *r = &a->trees.r[i];
	struct session *s;
	uint32_t root = 0;

	if (ae_trees_ensure(&a->trees, i) != DKV_OK)
		return false;
	atomic_store_explicit(&a->built, a->trees.built_total, memory_order_relaxed);
	if ((s = mem_calloc(1, sizeof(*s))) == NULL)
		return false;
	if (!cluster_peer_addr(a->c, peer, s->addr)) {
		mem_free(s);
		return false;
	}
	s->sid = a->next_sid++;
	s->partner = *peer;
	s->lo = r->lo;
	s->hi = r->hi;
	s->initiator = true;
	s->pass = p;
	s->last_ms = clock_mono_ms();
	RB_INSERT(session_tree, &a->sessions, s);
	a->initiated++;
	p->running++;
	atomic_fetch_add_explicit(&a->running, 1, memory_order_relaxed);
	send_tree(a, s->addr, s->sid, r, 0, &root, 1);
	return true;
}

/* --- passes ------------------------------------------------------------- */

static void
pass_reset(struct pass *p)
{
	p->next_range = 0;
	p->next_rep = 0;
	p->started_all = false;
}

/* Starts sessions for p while there is room; false when it has none
 * left to start. It goes replica by replica: every range with its first
 * other replica, then every range with its second..., so the sessions of
 * one range do not run at once and a later one finds what an earlier one
 * already repaired in agreement. */
static bool
pass_advance(struct ae *a, struct pass *p)
{
	const struct actor *self = &a->db->self;

	while (!p->started_all) {
		struct ae_range *r;

		if (p->next_range >= a->trees.n) {
			bool more = false;

			p->next_range = 0;
			p->next_rep++;
			for (uint32_t i = 0; i < a->trees.n && !more; i++)
				more = a->trees.r[i].nreps > p->next_rep;
			p->started_all = !more;
			continue;
		}
		r = &a->trees.r[p->next_range];
		if (p->next_rep >= r->nreps) {
			p->next_range++;
			continue;
		}
		if (a->initiated >= a->db->s.ae_sessions)
			return true;
		{
			const struct actor *peer = &r->reps[p->next_rep];
			uint32_t i = p->next_range++;
			char addr[WIRE_ADDR_MAX + 1];

			if (!p->forced && actor_cmp(peer, self) < 0)
				continue; /* that peer starts this pair's session */
			if (!cluster_peer_addr(a->c, peer, addr)) {
				if (p->forced) {
					p->rep.failed++; /* down: nothing to compare with */
					atomic_fetch_add_explicit(&a->failed, 1, memory_order_relaxed);
				}
				continue;
			}
			if (!session_start(a, p, i, peer)) {
				p->rep.failed++;
				atomic_fetch_add_explicit(&a->failed, 1, memory_order_relaxed);
			}
		}
	}
	return false;
}

/* Ends p when it has started everything and nothing runs. */
static void
pass_check(struct ae *a, struct pass *p)
{
	if (!p->started_all || p->idle || p->running > 0)
		return; /* still going, or the background pass is idle */
	atomic_fetch_add_explicit(&a->passes, 1, memory_order_relaxed);
	if (!p->forced) {
		a->next_bg_ms = clock_mono_ms() + (uint64_t)a->db->s.ae_interval_s * 1000;
		p->idle = true; /* until due */
		return;
	}
	TAILQ_REMOVE(&a->repairs, p, link);
	if (p->remote)
		send_done(a, p->remote_addr, p->remote_sid, DKV_OK, &p->rep);
	else
		p->done(p->arg, DKV_OK, &p->rep);
	mem_free(p);
}

static bool
same_ranges(const struct ae *a, const struct ae_range *specs, uint32_t n)
{
	if (n != a->trees.n)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		const struct ae_range *o = &a->trees.r[i];

		if (token_cmp(o->lo, specs[i].lo) != 0 || token_cmp(o->hi, specs[i].hi) != 0 ||
		    o->nreps != specs[i].nreps)
			return false;
		for (uint32_t k = 0; k < o->nreps; k++)
			if (!actor_eq(&o->reps[k], &specs[i].reps[k]))
				return false;
	}
	return true;
}

static void
refresh_ranges(struct ae *a)
{
	struct ae_range *specs;
	struct pass *p;
	uint32_t n;

	if (!a->has_trees || cluster_ring_epoch(a->c) == a->epoch)
		return;
	if (cluster_my_ranges(a->c, &specs, &n) != DKV_OK)
		return;
	/* most membership changes (a peer up or down, a client) leave the
	 * ranges and their replicas as they were: then nothing restarts */
	if (same_ranges(a, specs, n)) {
		a->epoch = cluster_ring_epoch(a->c);
	} else if (ae_trees_set_ranges(&a->trees, specs, n) == DKV_OK) {
		a->epoch = cluster_ring_epoch(a->c);
		/* the ranges moved: passes start over on the new ones */
		TAILQ_FOREACH(p, &a->repairs, link)
			pass_reset(p);
		if (!a->bg.idle)
			pass_reset(&a->bg);
	}
	mem_free(specs);
}

static void
schedule(struct ae *a)
{
	struct pass *p;

	if (!a->has_trees || a->closing)
		return;
	TAILQ_FOREACH(p, &a->repairs, link) {
		if (pass_advance(a, p))
			return; /* no room left */
		pass_check(a, p);
		break; /* one repair at a time */
	}
	if (!TAILQ_EMPTY(&a->repairs) || a->db->s.ae_interval_s == 0)
		return;
	if (a->bg.idle) {
		if (clock_mono_ms() < a->next_bg_ms)
			return;
		pass_reset(&a->bg);
		a->bg.idle = false;
		memset(&a->bg.rep, 0, sizeof(a->bg.rep));
	}
	if (!pass_advance(a, &a->bg))
		pass_check(a, &a->bg);
}

static void
send_repair(struct ae *a, struct remote *r, const char *addr)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = WMSG_AE_REPAIR;
	m.ae.sid = r->sid;
	r->sent_ms = clock_mono_ms();
	send_msg(a, addr, &m);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ae *a = arg;
	uint64_t now = clock_mono_ms(), idle = 4 * (uint64_t)a->db->s.timeout_ms;
	struct session *s, *next;
	struct remote *r, *rnext;

	(void)fd;
	(void)what;
	if (a->closing)
		return;
	refresh_ranges(a);
	RB_FOREACH_SAFE(s, session_tree, &a->sessions, next) {
		if (now - s->last_ms <= idle)
			continue;
		if (s->initiator)
			session_end(a, s, false);
		else
			session_free(a, s);
	}
	TAILQ_FOREACH_SAFE(r, &a->remotes, link, rnext) {
		char addr[WIRE_ADDR_MAX + 1];

		if (cluster_peer_addr(a->c, &r->peer, addr)) {
			/* the request or its answer may have been lost: ask again
			 * (a peer ignores a repeat while the pass runs) */
			if (now - r->sent_ms >= AE_REPAIR_RESEND_MS)
				send_repair(a, r, addr);
			continue;
		}
		TAILQ_REMOVE(&a->remotes, r, link);
		r->done(r->arg, DKV_EUNAVAILABLE, NULL);
		mem_free(r);
	}
	schedule(a);
}

/* --- the messages ------------------------------------------------------- */

/* The range a message names, its tree built; -1 (answered) if none. */
static int
range_for(struct ae *a, const struct msg *m, const char *from)
{
	int i;

	if (!a->has_trees || (i = ae_trees_find(&a->trees, m->ae.lo, m->ae.hi)) < 0 ||
	    (m->type != WMSG_AE_WANT && m->ae.depth != a->trees.depth) ||
	    ae_trees_ensure(&a->trees, (uint32_t)i) != DKV_OK) {
		struct session *s = find_session(a, m->ae.sid, &m->from);

		atomic_store_explicit(&a->built, a->trees.built_total, memory_order_relaxed);

		if (s != NULL && s->initiator)
			session_end(a, s, false);
		else
			send_done(a, from, m->ae.sid, DKV_ENOTFOUND, NULL);
		return -1;
	}
	atomic_store_explicit(&a->built, a->trees.built_total, memory_order_relaxed);
	return i;
}

/* The side that found differing leaves sends its entries in them. */
static void
start_keys(struct ae *a, struct session *s, const struct msg *m, const char *from,
           const struct ae_range *r, const uint32_t *leaves, uint32_t n)
{
	if (s == NULL) {
		if ((s = mem_calloc(1, sizeof(*s))) == NULL)
			return;
		s->sid = m->ae.sid;
		s->partner = m->from;
		strlcpy(s->addr, from, sizeof(s->addr));
		s->lo = r->lo;
		s->hi = r->hi;
		RB_INSERT(session_tree, &a->sessions, s);
	}
	mem_free(s->leaves);
	s->leaves = mem_reallocarray(NULL, n, sizeof(*s->leaves));
	if (s->leaves == NULL) {
		s->nleaves = 0;
		return;
	}
	memcpy(s->leaves, leaves, n * sizeof(*leaves));
	s->nleaves = n;
	s->next_leaf = 0;
	s->last_ms = clock_mono_ms();
	send_keys(a, s, r);
}

static void
on_tree(struct ae *a, const struct msg *m, const char *from)
{
	struct session *s = find_session(a, m->ae.sid, &m->from);
	uint32_t *diff, nd = 0;
	struct ae_range *r;
	int i;

	if ((i = range_for(a, m, from)) < 0)
		return;
	r = &a->trees.r[i];
	diff = mem_reallocarray(NULL, m->ae.n ? m->ae.n : 1, sizeof(*diff));
	if (diff == NULL)
		return;
	for (uint32_t k = 0; k < m->ae.n; k++) {
		uint32_t idx;
		uint64_t h;

		wire_ae_get_node(m->ae.nodes, k, &idx, &h);
		if (merkle_node(&r->tree, m->ae.level, idx).a != h)
			diff[nd++] = idx;
	}
	if (s != NULL) {
		s->last_ms = clock_mono_ms();
		s->differed |= nd > 0 || m->ae.level > 0;
	}
	if (nd == 0) {
		if (s != NULL && s->initiator)
			session_end(a, s, true);
		else
			send_done(a, from, m->ae.sid, DKV_OK, NULL);
	} else if (m->ae.level == a->trees.depth) {
		start_keys(a, s, m, from, r, diff, nd);
	} else {
		unsigned level;
		size_t max = (size_t)nd << AE_STEP;
		uint32_t *down = mem_reallocarray(NULL, max, sizeof(*down));
		int n;

		if (down != NULL &&
		    (n = merkle_descend(&r->tree, m->ae.level, diff, nd, AE_STEP, &level, down, max)) >
		        0)
			send_tree(a, from, m->ae.sid, r, level, down, (uint32_t)n);
		mem_free(down);
	}
	mem_free(diff);
}

/* Compare their entries in some leaves with ours: send what they lack or
 * hold differently, ask for what we lack or hold differently. */
static void
on_keys(struct ae *a, const struct msg *m, const char *from)
{
	struct session *s = find_session(a, m->ae.sid, &m->from);
	struct entries mine, theirs;
	uint8_t *want = NULL;
	size_t off = 0, i = 0, j = 0, nwant = 0, nsent = 0, ncompared = 0;
	struct ae_range *r;
	struct msg w;
	int k;

	if ((k = range_for(a, m, from)) < 0)
		return;
	r = &a->trees.r[k];
	if (s != NULL) {
		s->last_ms = clock_mono_ms();
		s->differed = true;
	}
	memset(&mine, 0, sizeof(mine));
	memset(&theirs, 0, sizeof(theirs));
	for (uint32_t l = 0; l < m->ae.n; l++) {
		uint32_t leaf;
		uint64_t unused;

		wire_ae_get_node(m->ae.nodes, l, &leaf, &unused);
		if (leaf_entries(a, r, leaf, &mine) != DKV_OK)
			goto out;
	}
	entries_fix(&mine);
	theirs.e = mem_reallocarray(NULL, m->ae.nkeys ? m->ae.nkeys : 1, sizeof(*theirs.e));
	want = mem_alloc(m->ae.keys_len ? m->ae.keys_len : 1);
	if (theirs.e == NULL || want == NULL)
		goto out;
	{
		size_t pos = 0;

		while (wire_ae_next_key(&m->ae, true, &pos, &theirs.e[theirs.n].key,
		                        &theirs.e[theirs.n].klen, &theirs.e[theirs.n].hash,
		                        &theirs.e[theirs.n].sum))
			theirs.n++;
	}
	if (mine.n > 1)
		qsort(mine.e, mine.n, sizeof(*mine.e), entry_cmp);
	if (theirs.n > 1)
		qsort(theirs.e, theirs.n, sizeof(*theirs.e), entry_cmp);
	while (i < mine.n || j < theirs.n) {
		int c = i == mine.n ? 1 : j == theirs.n ? -1 : entry_cmp(&mine.e[i], &theirs.e[j]);

		atomic_fetch_add_explicit(&a->compared, 1, memory_order_relaxed);
		ncompared++;
		if (c < 0) {
			/* they lack it */
			nsent += send_object(a, from, mine.e[i].key, mine.e[i].klen, 0, false);
		} else if (c > 0) {
			/* we lack it */
			wire_ae_put_key(want, &off, theirs.e[j].key, theirs.e[j].klen, false, 0, 0);
			nwant++;
		} else if (mine.e[i].hash != theirs.e[j].hash) {
			/* both hold it, differently: the likely newer side sends,
			 * and the other sends back its merge if that differs (it
			 * held something the sender lacked) */
			if (mine.e[i].sum >= theirs.e[j].sum) {
				nsent += send_object(a, from, mine.e[i].key, mine.e[i].klen, 0, true);
			} else {
				wire_ae_put_key(want, &off, theirs.e[j].key, theirs.e[j].klen, false, 1, 0);
				nwant++;
			}
		}
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	memset(&w, 0, sizeof(w));
	w.type = WMSG_AE_WANT;
	w.ae.sid = m->ae.sid;
	w.ae.lo = m->ae.lo;
	w.ae.hi = m->ae.hi;
	w.ae.flags = m->ae.flags & WIRE_AE_LAST;
	w.ae.n = (uint32_t)nsent;
	w.ae.counts[1] = ncompared;
	w.ae.nkeys = (uint32_t)nwant;
	if (s != NULL && s->initiator) {
		s->pass->rep.keys_compared += ncompared;
		s->pass->rep.keys_repaired += nsent + nwant; /* both ways */
	}
	w.ae.keys = want;
	w.ae.keys_len = off;
	send_msg(a, from, &w);
out:
	entries_free(&mine);
	mem_free(theirs.e);
	mem_free(want);
}

static void
on_want(struct ae *a, const struct msg *m, const char *from)
{
	struct session *s = find_session(a, m->ae.sid, &m->from);
	const uint8_t *key;
	uint16_t klen;
	uint64_t syncback, unused;
	size_t pos = 0;
	int i;

	if (!a->has_trees)
		return;
	if (s != NULL && s->initiator) {
		/* what the other side compared and sent */
		s->pass->rep.keys_compared += m->ae.counts[1];
		s->pass->rep.keys_repaired += m->ae.n;
	}
	while (wire_ae_next_key(&m->ae, false, &pos, &key, &klen, &syncback, &unused))
		if (send_object(a, from, key, klen, 0, syncback != 0) && s != NULL && s->initiator)
			s->pass->rep.keys_repaired++;
	if (s == NULL) {
		if (m->ae.flags & WIRE_AE_LAST)
			send_done(a, from, m->ae.sid, DKV_OK, NULL);
		return;
	}
	s->last_ms = clock_mono_ms();
	if (s->next_leaf < s->nleaves && (i = ae_trees_find(&a->trees, s->lo, s->hi)) >= 0) {
		send_keys(a, s, &a->trees.r[i]);
		return;
	}
	if (s->initiator)
		session_end(a, s, true);
	else {
		send_done(a, from, m->ae.sid, DKV_OK, NULL);
		session_free(a, s);
	}
}

static void
on_done(struct ae *a, const struct msg *m)
{
	struct session *s = find_session(a, m->ae.sid, &m->from);
	struct remote *r;

	if (s != NULL) {
		if (s->initiator)
			session_end(a, s, m->ae.status == DKV_OK);
		else
			session_free(a, s);
		return;
	}
	TAILQ_FOREACH(r, &a->remotes, link) {
		if (r->sid == m->ae.sid && actor_eq(&r->peer, &m->from)) {
			struct ae_report rep;

			memset(&rep, 0, sizeof(rep));
			rep.ranges = m->ae.counts[0];
			rep.keys_compared = m->ae.counts[1];
			rep.keys_repaired = m->ae.counts[2];
			rep.ranges_differing = m->ae.counts[3];
			rep.failed = m->ae.counts[4];
			TAILQ_REMOVE(&a->remotes, r, link);
			r->done(r->arg, m->ae.status, &rep);
			mem_free(r);
			return;
		}
	}
}

static struct pass *
repair_here(struct ae *a)
{
	struct pass *p = mem_calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->forced = true;
	TAILQ_INSERT_TAIL(&a->repairs, p, link);
	return p;
}

void
ae_on_msg(struct ae *a, const struct msg *m, const char *from)
{
	if (a->closing)
		return;
	switch (m->type) {
	case WMSG_AE_TREE:
		on_tree(a, m, from);
		break;
	case WMSG_AE_KEYS:
		on_keys(a, m, from);
		break;
	case WMSG_AE_WANT:
		on_want(a, m, from);
		break;
	case WMSG_AE_DONE:
		on_done(a, m);
		break;
	case WMSG_AE_REPAIR: {
		struct pass *p;

		TAILQ_FOREACH(p, &a->repairs, link)
			if (p->remote && p->remote_sid == m->ae.sid && strcmp(p->remote_addr, from) == 0)
				return; /* asked again while it runs: it answers once done */
		if (!a->has_trees || (p = repair_here(a)) == NULL) {
			send_done(a, from, m->ae.sid, a->has_trees ? DKV_ENOMEM : DKV_EUNAVAILABLE,
			          NULL);
			return;
		}
		p->remote = true;
		p->remote_sid = m->ae.sid;
		strlcpy(p->remote_addr, from, sizeof(p->remote_addr));
		refresh_ranges(a);
		schedule(a);
		break;
	}
	default:
		break;
	}
}

void
ae_repair(struct ae *a, const char *peer, void (*done)(void *arg, int err,
                                                       const struct ae_report *r),
          void *arg)
{
	struct actor id;
	char addr[WIRE_ADDR_MAX + 1];

	if (a->closing) {
		done(arg, DKV_ECLOSED, NULL);
		return;
	}
	if (peer != NULL &&
	    (actor_set(&id, peer, strlen(peer)) != DKV_OK || !cluster_knows(a->c, &id)))
		done(arg, DKV_ENOTFOUND, NULL);
	else if (peer == NULL || cluster_is_self(a->c, &id)) {
		struct pass *p;

		if (!a->has_trees) {
			done(arg, DKV_EUNAVAILABLE, NULL); /* a client peer holds nothing */
			return;
		}
		if ((p = repair_here(a)) == NULL) {
			done(arg, DKV_ENOMEM, NULL);
			return;
		}
		p->done = done;
		p->arg = arg;
		refresh_ranges(a);
		schedule(a);
	} else if (!cluster_peer_addr(a->c, &id, addr)) {
		done(arg, DKV_EUNAVAILABLE, NULL);
	} else {
		struct remote *r = mem_calloc(1, sizeof(*r));

		if (r == NULL) {
			done(arg, DKV_ENOMEM, NULL);
			return;
		}
		r->sid = a->next_sid++;
		r->peer = id;
		r->done = done;
		r->arg = arg;
		TAILQ_INSERT_TAIL(&a->remotes, r, link);
		send_repair(a, r, addr);
	}
}

/* --- life --------------------------------------------------------------- */

int
ae_open(struct dkv *db, struct cluster *c, struct ae **out)
{
	struct ae *a = mem_calloc(1, sizeof(*a));
	struct timeval tv = {0, AE_TICK_MS * 1000};
	int err;

	*out = NULL;
	if (a == NULL)
		return DKV_ENOMEM;
	a->db = db;
	a->c = c;
	RB_INIT(&a->sessions);
	TAILQ_INIT(&a->repairs);
	TAILQ_INIT(&a->remotes);
	a->next_sid = (uint64_t)arc4random() << 32 | arc4random();
	a->bg.idle = true;
	a->next_bg_ms = clock_mono_ms() + (uint64_t)db->s.ae_interval_s * 1000;
	if (db->store != NULL) {
		if ((err = ae_trees_init(&a->trees, db->store, db->s.ae_depth)) != DKV_OK) {
			mem_free(a);
			return err;
		}
		a->has_trees = true;
		a->hooks.begin = ae_trees_write_begin;
		a->hooks.end = ae_trees_write_end;
		a->hooks.arg = &a->trees;
		db->replica.hooks = &a->hooks;
	}
	a->timer = event_new(loop_base(db->loop), -1, EV_PERSIST, on_tick, a);
	if (a->timer == NULL || event_add(a->timer, &tv) != 0) {
		ae_free(a);
		return DKV_ENOMEM;
	}
	*out = a;
	return DKV_OK;
}

void
ae_shutdown(struct ae *a)
{
	struct session *s, *snext;
	struct pass *p;
	struct remote *r;

	if (a == NULL || a->closing)
		return;
	a->closing = true;
	if (a->timer != NULL)
		event_free(a->timer);
	a->timer = NULL;
	RB_FOREACH_SAFE(s, session_tree, &a->sessions, snext)
		session_free(a, s);
	while ((p = TAILQ_FIRST(&a->repairs)) != NULL) {
		TAILQ_REMOVE(&a->repairs, p, link);
		if (p->remote)
			send_done(a, p->remote_addr, p->remote_sid, DKV_ECLOSED, &p->rep);
		else
			p->done(p->arg, DKV_ECLOSED, NULL);
		mem_free(p);
	}
	while ((r = TAILQ_FIRST(&a->remotes)) != NULL) {
		TAILQ_REMOVE(&a->remotes, r, link);
		r->done(r->arg, DKV_ECLOSED, NULL);
		mem_free(r);
	}
}

void
ae_free(struct ae *a)
{
	if (a == NULL)
		return;
	ae_shutdown(a);
	if (a->has_trees) {
		a->db->replica.hooks = NULL;
		ae_trees_free(&a->trees);
	}
	mem_free(a);
}

void
ae_stats(struct ae *a, void (*fn)(const char *name, double value, void *arg), void *arg)
{
	fn("ae_passes", (double)atomic_load(&a->passes), arg);
	fn("ae_ranges_compared", (double)atomic_load(&a->ranges), arg);
	fn("ae_ranges_differing", (double)atomic_load(&a->differing), arg);
	fn("ae_keys_compared", (double)atomic_load(&a->compared), arg);
	fn("ae_keys_repaired", (double)atomic_load(&a->repaired), arg);
	fn("ae_bytes_sent", (double)atomic_load(&a->bytes), arg);
	fn("ae_sessions_failed", (double)atomic_load(&a->failed), arg);
	fn("ae_sessions_now", (double)atomic_load(&a->running), arg);
	fn("ae_trees_built", (double)atomic_load(&a->built), arg);
}
