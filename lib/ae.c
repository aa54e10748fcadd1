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
#include "core/keydiff.h"
#include "core/merkle_walk.h"
#include "dkv_internal.h"
#include "keylock.h"
#include "util/alloc.h"
#include "util/clock.h"

/* A pass over this peer's ranges: the background one or a repair. */
struct pass {
	TAILQ_ENTRY(pass) link;
	bool forced;
	uint32_t next_range, next_rep, running;
	bool started_all; /* every session of the pass has been started */
	bool idle;        /* the background pass, between passes */
	bool *taken;      /* ranges started at next_rep (ntaken of them) */
	uint32_t ntaken;
	struct ae_report rep;
	void (*done)(void *arg, int err, const struct ae_report *r);
	void *arg;
	/* a peer's AE_REPAIR: answer it with AE_DONE */
	bool remote;
	uint64_t remote_sid;
	char remote_addr[WIRE_ADDR_MAX + 1];
};

TAILQ_HEAD(pass_queue, pass);

/* A range of a session, named by its bounds: each side finds its own tree
 * by them, message after message (the ranges may change meanwhile). */
struct srange {
	struct token lo, hi;
	bool known; /* the partner: this peer holds the range */
};

struct entries;

/* One exchange, on either side: the initiator's, or the partner's. */
struct session {
	RB_ENTRY(session) node;
	uint64_t sid;
	struct actor partner;
	bool initiator;
	char addr[WIRE_ADDR_MAX + 1];
	struct pass *pass; /* initiator */
	uint64_t last_ms;
	struct srange *r;
	uint32_t nr;
	uint32_t ndiffering, nunknown; /* ranges whose roots differed; that
	                                * the partner could not compare */
	struct mwalk walk;
	bool keys;          /* at the leaves: entries of walk's nodes go */
	uint32_t next_leaf; /* the first of walk's leaves not yet covered */
	uint32_t leaf_cap;  /* partner: leaves in the next AE_KEYS */
	uint64_t objs_sent; /* partner: objects sent, for AE_DONE */
	struct entries *batch; /* partner: the last AE_KEYS's, by tag */
};

static int
session_cmp(const struct session *a, const struct session *b)
{
	if (a->sid != b->sid)
		return a->sid < b->sid ? -1 : 1;
	if (a->initiator != b->initiator)
		return a->initiator ? -1 : 1;
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
	uint32_t partnered; /* sessions other peers started, here */
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

/* Objects on their way to one peer, sent AE_OBJS_BYTES at a time. */
struct objs {
	struct ae *a;
	const char *addr;
	uint64_t sid;
	uint8_t *buf;
	size_t len, cap;
	uint32_t n;
};

static struct objs
objs_init(struct ae *a, const char *addr, uint64_t sid)
{
	struct objs b = {a, addr, sid, NULL, 0, 0, 0};

	return b;
}

static void
objs_flush(struct objs *b)
{
	struct msg m;

	if (b->n == 0)
		return;
	memset(&m, 0, sizeof(m));
	m.type = WMSG_AE_OBJS;
	m.ae.sid = b->sid;
	m.ae.nkeys = b->n;
	m.ae.keys = b->buf;
	m.ae.keys_len = b->len;
	send_msg(b->a, b->addr, &m);
	b->len = 0;
	b->n = 0;
}

/* Adds this peer's object for key, with entry flags, unless its entry
 * hash is `unless` (what the other side holds already). True when added. */
static bool
objs_add(struct objs *b, const uint8_t *key, size_t klen, uint8_t flags, uint64_t unless)
{
	struct wire_ae_entry e;
	void *raw;
	size_t len, need;
	bool added = false;

	if (replica_read_raw(&b->a->db->replica, key, klen, token_of_key(key, klen), &raw, &len) !=
	    DKV_OK)
		return false;
	if (unless != 0 && merkle_entry_hash(key, klen, raw, len).a == unless)
		goto out;
	memset(&e, 0, sizeof(e));
	e.key = key;
	e.klen = (uint32_t)klen;
	e.flags = flags;
	e.obj = raw;
	e.olen = (uint32_t)len;
	need = wire_ae_entry_size(WMSG_AE_OBJS, &e);
	if (b->n > 0 && b->len + need > AE_OBJS_BYTES)
		objs_flush(b);
	if (b->len + need > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *nb;

		while (cap < b->len + need)
			cap *= 2;
		if ((nb = mem_realloc(b->buf, cap)) == NULL)
			goto out; /* not sent: the next pass finds it again */
		b->buf = nb;
		b->cap = cap;
	}
	wire_ae_put_entry(WMSG_AE_OBJS, b->buf, &b->len, &e);
	b->n++;
	atomic_fetch_add_explicit(&b->a->repaired, 1, memory_order_relaxed);
	added = true;
out:
	store_free_value(b->a->db->store, raw);
	return added;
}

static void
objs_end(struct objs *b)
{
	objs_flush(b);
	mem_free(b->buf);
	b->buf = NULL;
}

/* --- entries of a set of leaves ---------------------------------------- */

struct entry {
	const uint8_t *key; /* into keys */
	uint32_t klen;
	uint32_t tag; /* merkle_key_tag, salted by the session */
	uint64_t hash;
	uint64_t sum; /* of the object's version vector: more is likely newer */
};

struct entries {
	struct entry *e;
	size_t n, cap;
	uint8_t *keys; /* our keys, one after another */
	size_t klen, kcap;
	size_t key_bytes; /* what they take in an AE_KEYS */
	uint32_t salt;    /* for the tags */
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

static int
collect_entry(struct token t, const uint8_t *key, size_t klen, const void *obj, size_t olen,
              void *arg)
{
	struct entries *es = arg;
	struct wire_ae_entry we;
	struct entry *e;

	(void)t;
	if (klen > WIRE_MAX_KEY)
		return 0;
	if (!entries_grow(es, klen)) {
		es->nomem = true;
		return 1;
	}
	memcpy(es->keys + es->klen, key, klen);
	e = &es->e[es->n++];
	/* the key's place, as an offset until the array stops moving */
	e->key = (const uint8_t *)(uintptr_t)es->klen;
	e->klen = (uint32_t)klen;
	e->tag = merkle_key_tag(key, klen, es->salt);
	e->hash = merkle_entry_hash(key, klen, obj, olen).a;
	e->sum = object_vv_sum(obj, olen);
	es->klen += klen;
	memset(&we, 0, sizeof(we));
	we.klen = e->klen;
	we.sum = e->sum;
	es->key_bytes += wire_ae_entry_size(WMSG_AE_KEYS, &we);
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

	return a->tag < b->tag ? -1 : a->tag > b->tag;
}


/* --- sessions ----------------------------------------------------------- */

static struct session *
find_session(struct ae *a, uint64_t sid, const struct actor *partner, bool initiator)
{
	struct session key;

	key.sid = sid;
	key.partner = *partner;
	key.initiator = initiator;
	return RB_FIND(session_tree, &a->sessions, &key);
}

/* This peer's range j of session s, its tree built; NULL if it has none. */
static struct ae_range *
session_range(struct ae *a, const struct session *s, uint32_t j)
{
	int i;

	if (!s->r[j].known)
		return NULL;
	i = ae_trees_find(&a->trees, s->r[j].lo, s->r[j].hi);

	if (i < 0 || !a->trees.r[i].built)
		return NULL;
	return &a->trees.r[i];
}

struct hash_arg {
	struct ae *a;
	const struct session *s;
};

static bool
own_hash(void *arg, uint32_t tree, unsigned level, uint32_t index, uint64_t *hash)
{
	struct hash_arg *h = arg;
	struct ae_range *r = tree < h->s->nr ? session_range(h->a, h->s, tree) : NULL;

	if (r == NULL || !merkle_node_valid(&r->tree, level, index))
		return false;
	*hash = merkle_node(&r->tree, level, index).a;
	return true;
}

static void
session_free(struct ae *a, struct session *s)
{
	RB_REMOVE(session_tree, &a->sessions, s);
	if (s->initiator) {
		a->initiated--;
		atomic_fetch_sub_explicit(&a->running, 1, memory_order_relaxed);
	} else {
		a->partnered--;
	}
	mwalk_free(&s->walk);
	if (s->batch != NULL)
		entries_free(s->batch);
	mem_free(s->batch);
	mem_free(s->r);
	mem_free(s);
}

static void pass_check(struct ae *a, struct pass *p);

static void
count_failed(struct ae *a, struct pass *p, uint64_t n)
{
	p->rep.failed += n;
	atomic_fetch_add_explicit(&a->failed, n, memory_order_relaxed);
}

/* The initiator's session is over: ok (compared, maybe repaired) or not. */
static void
session_end(struct ae *a, struct session *s, bool ok)
{
	struct pass *p = s->pass;

	if (ok) {
		uint64_t done = s->nr - s->nunknown;

		p->rep.ranges += done;
		p->rep.ranges_differing += s->ndiffering;
		atomic_fetch_add_explicit(&a->ranges, done, memory_order_relaxed);
		atomic_fetch_add_explicit(&a->differing, s->ndiffering, memory_order_relaxed);
		count_failed(a, p, s->nunknown);
	} else {
		count_failed(a, p, s->nr);
	}
	p->running--;
	session_free(a, s);
	pass_check(a, p);
	schedule(a);
}

/* Ends s, which went wrong, and tells the other side. */
static void
session_abort(struct ae *a, struct session *s, int status)
{
	send_done(a, s->addr, s->sid, status, NULL);
	if (s->initiator)
		session_end(a, s, false);
	else
		session_free(a, s);
}

/* The initiator sends its hashes of the frontier. */
static void
send_tree(struct ae *a, struct session *s)
{
	struct hash_arg h = {a, s};
	uint32_t n = mwalk_nsend(&s->walk);
	uint64_t *hashes = mem_reallocarray(NULL, n ? n : 1, sizeof(*hashes));
	uint64_t *ids = NULL;
	struct msg m;

	if (s->walk.level == 0 && (ids = mem_reallocarray(NULL, s->nr, sizeof(*ids))) == NULL) {
		mem_free(hashes);
		session_abort(a, s, DKV_ENOMEM);
		return;
	}
	if (hashes == NULL || mwalk_hashes(&s->walk, own_hash, &h, hashes) != DKV_OK) {
		/* out of memory, or a range went away: the next pass tries again */
		mem_free(hashes);
		mem_free(ids);
		session_abort(a, s, DKV_ENOTFOUND);
		return;
	}
	for (uint32_t j = 0; ids != NULL && j < s->nr; j++)
		ids[j] = merkle_range_id(s->r[j].lo, s->r[j].hi);
	memset(&m, 0, sizeof(m));
	m.type = WMSG_AE_TREE;
	m.ae.sid = s->sid;
	m.ae.depth = (uint8_t)s->walk.depth;
	m.ae.level = (uint8_t)s->walk.level;
	m.ae.n = n;
	m.ae.hashes = hashes;
	m.ae.ids = ids;
	send_msg(a, s->addr, &m);
	mem_free(hashes);
	mem_free(ids);
}

/* The partner sends its entries in the next differing leaves. */
static void
send_keys(struct ae *a, struct session *s)
{
	struct entries *bp = s->batch, es;
	uint32_t nl = 0;
	uint8_t *keys = NULL;
	size_t off = 0;
	struct msg m;
	int err = DKV_OK;

	if (bp != NULL)
		entries_free(bp);
	else if ((bp = s->batch = mem_calloc(1, sizeof(*bp))) == NULL) {
		session_abort(a, s, DKV_ENOMEM);
		return;
	}
	memset(&es, 0, sizeof(es));
	es.salt = (uint32_t)s->sid;
	while (s->next_leaf < s->walk.n &&
	       (nl == 0 || (es.n < AE_BATCH_KEYS && es.key_bytes < AE_BATCH_BYTES &&
	                    nl < s->leaf_cap))) {
		const struct mwalk_node *leaf = &s->walk.nodes[s->next_leaf];
		struct ae_range *r = session_range(a, s, leaf->tree);

		if (r == NULL) {
			err = DKV_ENOTFOUND; /* the range went away */
			break;
		}
		if ((err = leaf_entries(a, r, leaf->index, &es)) != DKV_OK)
			break;
		s->next_leaf++;
		nl++;
	}
	entries_fix(&es);
	if (err == DKV_OK && (keys = mem_alloc(es.key_bytes ? es.key_bytes : 1)) == NULL)
		err = DKV_ENOMEM;
	if (err != DKV_OK) {
		entries_free(&es);
		session_abort(a, s, err); /* the next pass tries again */
		return;
	}
	for (size_t i = 0; i < es.n; i++) {
		struct wire_ae_entry e;

		memset(&e, 0, sizeof(e));
		e.tag = es.e[i].tag;
		e.hash = es.e[i].hash;
		e.sum = es.e[i].sum;
		wire_ae_put_entry(WMSG_AE_KEYS, keys, &off, &e);
	}
	memset(&m, 0, sizeof(m));
	m.type = WMSG_AE_KEYS;
	m.ae.sid = s->sid;
	m.ae.flags = s->next_leaf >= s->walk.n ? WIRE_AE_LAST : 0;
	m.ae.n = nl;
	m.ae.nkeys = (uint32_t)es.n;
	m.ae.keys = keys;
	m.ae.keys_len = off;
	send_msg(a, s->addr, &m);
	mem_free(keys);
	/* kept, by tag, to find the keys the initiator will want */
	if (es.n > 1)
		qsort(es.e, es.n, sizeof(*es.e), entry_cmp);
	*bp = es;
}

/* Starts a session of pass p with peer (at addr) on the ranges idx[0..n). */
static void
session_start(struct ae *a, struct pass *p, const uint32_t *idx, uint32_t n,
              const struct actor *peer, const char *addr)
{
	struct session *s = mem_calloc(1, sizeof(*s));
	uint32_t nr = 0;

	if (s == NULL || (s->r = mem_reallocarray(NULL, n, sizeof(*s->r))) == NULL) {
		mem_free(s);
		count_failed(a, p, n);
		return;
	}
	for (uint32_t k = 0; k < n; k++) {
		if (ae_trees_ensure(&a->trees, idx[k]) != DKV_OK) {
			count_failed(a, p, 1);
			continue;
		}
		s->r[nr].lo = a->trees.r[idx[k]].lo;
		s->r[nr].hi = a->trees.r[idx[k]].hi;
		s->r[nr].known = true;
		nr++;
	}
	atomic_store_explicit(&a->built, a->trees.built_total, memory_order_relaxed);
	if (nr == 0 || mwalk_start(&s->walk, a->trees.depth, nr) != DKV_OK) {
		count_failed(a, p, nr);
		mem_free(s->r);
		mem_free(s);
		return;
	}
	s->nr = nr;
	s->sid = a->next_sid++;
	s->partner = *peer;
	strlcpy(s->addr, addr, sizeof(s->addr));
	s->initiator = true;
	s->pass = p;
	s->last_ms = clock_mono_ms();
	RB_INSERT(session_tree, &a->sessions, s);
	a->initiated++;
	p->running++;
	atomic_fetch_add_explicit(&a->running, 1, memory_order_relaxed);
	send_tree(a, s);
}

/* --- passes ------------------------------------------------------------- */

static void
pass_reset(struct pass *p)
{
	p->next_range = 0;
	p->next_rep = 0;
	p->started_all = false;
	if (p->taken != NULL)
		memset(p->taken, 0, p->ntaken * sizeof(*p->taken));
}

/* How many ranges one session takes: the frontier must stay within
 * MWALK_MAX_NODES at the leaves. */
static uint32_t
session_ranges(const struct ae *a)
{
	uint32_t fit = MWALK_MAX_NODES >> a->trees.depth;

	return fit < AE_SESSION_RANGES ? (fit ? fit : 1) : AE_SESSION_RANGES;
}

/* Starts sessions for p while there is room; false when it has none
 * left to start. It goes replica by replica: every range with its first
 * other replica, then every range with its second..., so the sessions of
 * one range do not run at once and a later one finds what an earlier one
 * already repaired in agreement. A session takes the ranges whose
 * replica at that place is the same peer, up to session_ranges. */
static bool
pass_advance(struct ae *a, struct pass *p)
{
	const struct actor *self = &a->db->self;
	uint32_t cap = session_ranges(a);

	if (p->taken == NULL || p->ntaken != a->trees.n) {
		bool *t = mem_reallocarray(p->taken, a->trees.n ? a->trees.n : 1, sizeof(*t));

		if (t == NULL)
			return true; /* the next tick tries again */
		memset(t, 0, (a->trees.n ? a->trees.n : 1) * sizeof(*t));
		p->taken = t;
		p->ntaken = a->trees.n;
	}
	while (!p->started_all) {
		struct ae_range *r;
		const struct actor *peer;
		char addr[WIRE_ADDR_MAX + 1];
		uint32_t *idx, n = 0, i;

		if (p->next_range >= a->trees.n) {
			bool more = false;

			/* the next replica when this one's sessions are over: they
			 * may have repaired what the next would send again */
			if (p->running > 0)
				return true;
			p->next_range = 0;
			p->next_rep++;
			memset(p->taken, 0, p->ntaken * sizeof(*p->taken));
			for (uint32_t k = 0; k < a->trees.n && !more; k++)
				more = a->trees.r[k].nreps > p->next_rep;
			p->started_all = !more;
			continue;
		}
		r = &a->trees.r[p->next_range];
		if (p->next_rep >= r->nreps || p->taken[p->next_range]) {
			p->next_range++;
			continue;
		}
		if (a->initiated >= a->db->s.ae_sessions)
			return true;
		peer = &r->reps[p->next_rep];
		i = p->next_range++;
		if (!p->forced && actor_cmp(peer, self) < 0)
			continue; /* that peer starts this pair's sessions */
		if (!cluster_peer_addr(a->c, peer, addr)) {
			if (p->forced)
				count_failed(a, p, 1); /* down: nothing to compare with */
			continue;
		}
		if ((idx = mem_reallocarray(NULL, cap, sizeof(*idx))) == NULL) {
			count_failed(a, p, 1);
			continue;
		}
		for (uint32_t k = i; k < a->trees.n && n < cap; k++) {
			const struct ae_range *o = &a->trees.r[k];

			if (!p->taken[k] && o->nreps > p->next_rep &&
			    actor_eq(&o->reps[p->next_rep], peer)) {
				p->taken[k] = true;
				idx[n++] = k;
			}
		}
		session_start(a, p, idx, n, peer, addr);
		mem_free(idx);
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
	mem_free(p->taken);
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

struct range_id {
	uint64_t id;
	uint32_t i;
};

static int
range_id_cmp(const void *x, const void *y)
{
	const struct range_id *a = x, *b = y;

	return a->id < b->id ? -1 : a->id > b->id;
}

/* The partner: finds its ranges by the initiator's ids, and builds their
 * trees. A range this peer does not hold (the rings differ for a moment)
 * or cannot build stays unknown: own_hash says so. */
static bool
resolve_ranges(struct ae *a, struct session *s, const uint64_t *ids)
{
	uint32_t n = a->trees.n;
	struct range_id *mine = mem_reallocarray(NULL, n ? n : 1, sizeof(*mine));

	if (mine == NULL)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		mine[i].id = merkle_range_id(a->trees.r[i].lo, a->trees.r[i].hi);
		mine[i].i = i;
	}
	qsort(mine, n, sizeof(*mine), range_id_cmp);
	for (uint32_t j = 0; j < s->nr; j++) {
		struct range_id key = {ids[j], 0};
		struct range_id *f = n ? bsearch(&key, mine, n, sizeof(*mine), range_id_cmp) : NULL;

		memset(&s->r[j], 0, sizeof(s->r[j]));
		if (f == NULL || ae_trees_ensure(&a->trees, f->i) != DKV_OK)
			continue;
		s->r[j].lo = a->trees.r[f->i].lo;
		s->r[j].hi = a->trees.r[f->i].hi;
		s->r[j].known = true;
	}
	atomic_store_explicit(&a->built, a->trees.built_total, memory_order_relaxed);
	mem_free(mine);
	return true;
}

/* The partner: the initiator's hashes of the frontier (at level 0 they
 * open the session). Answers AE_DIFF; at the leaves, goes on with the
 * first AE_KEYS. */
static void
on_tree(struct ae *a, const struct msg *m, const char *from)
{
	struct session *s = find_session(a, m->ae.sid, &m->from, false);
	struct hash_arg h;
	uint8_t *bits = NULL, *unknown = NULL;
	size_t len;
	struct msg d;
	int kept;

	if (!a->has_trees) {
		send_done(a, from, m->ae.sid, DKV_EUNAVAILABLE, NULL);
		return;
	}
	if (m->ae.level == 0) {
		int refuse = DKV_OK;

		if (s != NULL)
			session_free(a, s); /* asked again: start over */
		if (m->ae.depth != a->trees.depth)
			refuse = DKV_ENOTFOUND;
		else if (a->partnered >= AE_PARTNER_SESSIONS)
			refuse = DKV_EBUSY; /* each holds a frontier: bounded */
		else if ((s = mem_calloc(1, sizeof(*s))) == NULL)
			refuse = DKV_ENOMEM;
		if (refuse != DKV_OK) {
			send_done(a, from, m->ae.sid, refuse, NULL);
			return;
		}
		a->partnered++;
		s->sid = m->ae.sid;
		s->partner = m->from;
		strlcpy(s->addr, from, sizeof(s->addr));
		s->leaf_cap = AE_LEAVES_START;
		RB_INSERT(session_tree, &a->sessions, s);
		if (mwalk_start(&s->walk, a->trees.depth, m->ae.n) != DKV_OK ||
		    (s->r = mem_reallocarray(NULL, m->ae.n, sizeof(*s->r))) == NULL) {
			session_abort(a, s, DKV_EINVAL);
			return;
		}
		s->nr = m->ae.n;
		if (!resolve_ranges(a, s, m->ae.ids)) {
			session_abort(a, s, DKV_ENOMEM);
			return;
		}
	} else if (s == NULL) {
		send_done(a, from, m->ae.sid, DKV_ENOTFOUND, NULL);
		return;
	}
	s->last_ms = clock_mono_ms();
	len = mwalk_bitmap_len(&s->walk);
	h.a = a;
	h.s = s;
	if (m->ae.level != s->walk.level || (bits = mem_alloc(len ? len : 1)) == NULL ||
	    (m->ae.level == 0 && (unknown = mem_alloc(len ? len : 1)) == NULL) ||
	    mwalk_compare(&s->walk, m->ae.hashes, m->ae.n, own_hash, &h, bits, unknown) != DKV_OK) {
		mem_free(bits);
		mem_free(unknown);
		session_abort(a, s, DKV_EINVAL);
		return;
	}
	memset(&d, 0, sizeof(d));
	d.type = WMSG_AE_DIFF;
	d.ae.sid = s->sid;
	d.ae.level = m->ae.level;
	d.ae.n = s->walk.n;
	d.ae.bits = bits;
	d.ae.unknown = unknown;
	send_msg(a, from, &d);
	kept = mwalk_keep(&s->walk, bits, len);
	mem_free(bits);
	mem_free(unknown);
	if (kept <= 0)
		session_free(a, s); /* they agree (the initiator ends too), or no memory */
	else if (s->walk.done) {
		s->keys = true;
		send_keys(a, s);
	}
}

/* The initiator: which nodes of the frontier differ. */
static void
on_diff(struct ae *a, const struct msg *m, const char *from)
{
	struct session *s = find_session(a, m->ae.sid, &m->from, true);
	int kept;

	if (s == NULL) {
		send_done(a, from, m->ae.sid, DKV_ENOTFOUND, NULL);
		return;
	}
	s->last_ms = clock_mono_ms();
	if (s->keys || m->ae.level != s->walk.level || m->ae.n != s->walk.n) {
		session_abort(a, s, DKV_EINVAL);
		return;
	}
	if (m->ae.level == 0) {
		s->nunknown = 0;
		for (uint32_t j = 0; j < m->ae.n; j++)
			s->nunknown += mwalk_bit(m->ae.unknown, j);
	}
	if ((kept = mwalk_keep(&s->walk, m->ae.bits, ((size_t)m->ae.n + 7) / 8)) < 0) {
		session_abort(a, s, DKV_EINVAL);
		return;
	}
	if (m->ae.level == 0)
		s->ndiffering = (uint32_t)kept;
	if (kept == 0)
		session_end(a, s, true); /* the partner has ended its side */
	else if (s->walk.done)
		s->keys = true; /* its AE_KEYS follow */
	else
		send_tree(a, s);
}

/* What on_keys sends and asks for (keydiff's calls). */
struct keys_reply {
	struct objs out;
	const struct entries *mine;
	uint8_t *want;
	size_t off;
	uint32_t nsent, nwant;
};

static void
reply_send(void *arg, uint32_t idx, bool syncback)
{
	struct keys_reply *k = arg;
	const struct entry *e = &k->mine->e[idx];

	k->nsent += objs_add(&k->out, e->key, e->klen, syncback ? WIRE_AE_SYNCBACK : 0, 0);
}

static void
reply_want(void *arg, uint32_t tag, bool syncback)
{
	struct keys_reply *k = arg;
	struct wire_ae_entry e;

	memset(&e, 0, sizeof(e));
	e.tag = tag;
	e.flags = syncback ? WIRE_AE_SYNCBACK : 0;
	wire_ae_put_entry(WMSG_AE_WANT, k->want, &k->off, &e);
	k->nwant++;
}

/* The initiator: the partner's entries in the next differing leaves.
 * Sends what they lack or hold differently, asks for what we lack or
 * hold differently (keydiff.h). */
static void
on_keys(struct ae *a, const struct msg *m, const char *from)
{
	struct session *s = find_session(a, m->ae.sid, &m->from, true);
	struct keydiff_ops ops = {reply_send, reply_want, NULL};
	struct keydiff_entry *km = NULL, *kt = NULL;
	struct keys_reply k;
	struct entries mine;
	struct wire_ae_entry e;
	size_t pos = 0, nt = 0, compared;
	struct msg w;
	int err = DKV_OK;

	if (s == NULL) {
		send_done(a, from, m->ae.sid, DKV_ENOTFOUND, NULL);
		return;
	}
	s->last_ms = clock_mono_ms();
	if (!s->keys || m->ae.n == 0 || m->ae.n > s->walk.n - s->next_leaf ||
	    ((m->ae.flags & WIRE_AE_LAST) != 0) != (s->next_leaf + m->ae.n == s->walk.n)) {
		session_abort(a, s, DKV_EINVAL);
		return;
	}
	memset(&mine, 0, sizeof(mine));
	memset(&k, 0, sizeof(k));
	mine.salt = (uint32_t)s->sid;
	for (uint32_t l = 0; l < m->ae.n && err == DKV_OK; l++) {
		const struct mwalk_node *leaf = &s->walk.nodes[s->next_leaf + l];
		struct ae_range *r = session_range(a, s, leaf->tree);

		err = r == NULL ? DKV_ENOTFOUND : leaf_entries(a, r, leaf->index, &mine);
	}
	s->next_leaf += m->ae.n;
	entries_fix(&mine);
	if (err == DKV_OK &&
	    ((km = mem_reallocarray(NULL, mine.n ? mine.n : 1, sizeof(*km))) == NULL ||
	     (kt = mem_reallocarray(NULL, m->ae.nkeys ? m->ae.nkeys : 1, sizeof(*kt))) == NULL ||
	     (k.want = mem_alloc(m->ae.nkeys ? (size_t)m->ae.nkeys * 5 : 1)) == NULL))
		err = DKV_ENOMEM;
	if (err != DKV_OK) {
		session_abort(a, s, err);
		goto out;
	}
	for (size_t i = 0; i < mine.n; i++) {
		km[i].tag = mine.e[i].tag;
		km[i].idx = (uint32_t)i;
		km[i].hash = mine.e[i].hash;
		km[i].sum = mine.e[i].sum;
	}
	while (wire_ae_next_entry(&m->ae, &pos, &e)) {
		kt[nt].tag = e.tag;
		kt[nt].idx = 0;
		kt[nt].hash = e.hash;
		kt[nt].sum = e.sum;
		nt++;
	}
	k.out = objs_init(a, from, m->ae.sid);
	k.mine = &mine;
	ops.arg = &k;
	compared = keydiff(km, mine.n, kt, nt, &ops);
	atomic_fetch_add_explicit(&a->compared, compared, memory_order_relaxed);
	objs_end(&k.out);
	memset(&w, 0, sizeof(w));
	w.type = WMSG_AE_WANT;
	w.ae.sid = m->ae.sid;
	w.ae.flags = m->ae.flags & WIRE_AE_LAST;
	w.ae.n = k.nsent;
	w.ae.counts[1] = compared;
	w.ae.nkeys = k.nwant;
	w.ae.keys = k.want;
	w.ae.keys_len = k.off;
	s->pass->rep.keys_compared += compared;
	s->pass->rep.keys_repaired += k.nsent + k.nwant; /* both ways */
	send_msg(a, from, &w);
out:
	entries_free(&mine);
	mem_free(km);
	mem_free(kt);
	mem_free(k.want);
}

/* The partner: the objects the initiator wants; then the next AE_KEYS,
 * or AE_DONE after the last. */
static void
on_want(struct ae *a, const struct msg *m, const char *from)
{
	struct session *s = find_session(a, m->ae.sid, &m->from, false);
	struct objs out = objs_init(a, from, m->ae.sid);
	struct wire_ae_entry e;
	size_t pos = 0;

	if (s == NULL || !s->keys) {
		send_done(a, from, m->ae.sid, DKV_ENOTFOUND, NULL);
		if (s != NULL)
			session_free(a, s);
		return;
	}
	s->last_ms = clock_mono_ms();
	while (wire_ae_next_entry(&m->ae, &pos, &e)) {
		const struct entries *b = s->batch;
		struct entry key;
		size_t lo = 0, hi = b != NULL ? b->n : 0;

		/* the first of the batch's entries with this tag */
		key.tag = e.tag;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (entry_cmp(&b->e[mid], &key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; b != NULL && lo < b->n && b->e[lo].tag == e.tag; lo++)
			s->objs_sent += objs_add(&out, b->e[lo].key, b->e[lo].klen, e.flags, 0);
	}
	objs_end(&out);
	/* what the initiator sends back for a batch is bounded by its own
	 * keys in those leaves, which this side cannot see: few, and the
	 * next batch takes more leaves; many, fewer */
	if (m->ae.n < AE_BATCH_KEYS / 8 && s->leaf_cap < AE_LEAVES_MAX)
		s->leaf_cap *= 2;
	else if (m->ae.n > AE_BATCH_KEYS / 2 && s->leaf_cap > AE_LEAVES_MIN)
		s->leaf_cap /= 2;
	if (s->next_leaf < s->walk.n) {
		send_keys(a, s);
	} else {
		struct ae_report r;

		memset(&r, 0, sizeof(r));
		r.keys_repaired = s->objs_sent;
		send_done(a, from, m->ae.sid, DKV_OK, &r);
		session_free(a, s);
	}
}

/* Either side: objects to merge. Those flagged WIRE_AE_SYNCBACK go back
 * merged if the merge differs from what came (this side held news). */
static void
on_objs(struct ae *a, const struct msg *m, const char *from)
{
	struct objs back = objs_init(a, from, m->ae.sid);
	struct replica rep = a->db->replica;
	struct wire_ae_entry e;
	size_t pos = 0;

	if (!a->has_trees || cluster_self_left(a->c))
		return; /* holds nothing, or decommissioned: a write kept here is lost */
	/* nothing acknowledges these to anyone: merged at once without fsync
	 * (LevelDB has its log record when this returns, so a process crash
	 * keeps them; after an OS crash the next pass brings them again) */
	rep.sync_writes = false;
	while (wire_ae_next_entry(&m->ae, &pos, &e)) {
		struct token t = token_of_key(e.key, e.klen);
		pthread_mutex_t *lock;
		int err;

		if (e.klen > a->db->s.max_key_bytes)
			continue;
		lock = keylock_for(&a->db->locks, t);
		pthread_mutex_lock(lock);
		err = replica_store(&rep, e.key, e.klen, t, e.obj, e.olen);
		pthread_mutex_unlock(lock);
		atomic_fetch_add_explicit(&a->received, 1, memory_order_relaxed);
		if (err == DKV_OK && (e.flags & WIRE_AE_SYNCBACK) != 0)
			objs_add(&back, e.key, e.klen, 0, merkle_entry_hash(e.key, e.klen, e.obj, e.olen).a);
	}
	objs_end(&back);
}

static void
on_done(struct ae *a, const struct msg *m)
{
	struct session *s = find_session(a, m->ae.sid, &m->from, true);
	struct remote *r;

	if (s != NULL) {
		session_end(a, s, m->ae.status == DKV_OK);
		return;
	}
	if ((s = find_session(a, m->ae.sid, &m->from, false)) != NULL) {
		session_free(a, s); /* the initiator gave up */
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
	case WMSG_AE_DIFF:
		on_diff(a, m, from);
		break;
	case WMSG_AE_KEYS:
		on_keys(a, m, from);
		break;
	case WMSG_AE_WANT:
		on_want(a, m, from);
		break;
	case WMSG_AE_OBJS:
		on_objs(a, m, from);
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
		mem_free(p->taken);
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
	mem_free(a->bg.taken);
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
	fn("ae_objects_received", (double)atomic_load(&a->received), arg);
	fn("ae_bytes_sent", (double)atomic_load(&a->bytes), arg);
	fn("ae_sessions_failed", (double)atomic_load(&a->failed), arg);
	fn("ae_sessions_now", (double)atomic_load(&a->running), arg);
	fn("ae_trees_built", (double)atomic_load(&a->built), arg);
}
