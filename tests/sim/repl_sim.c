/*
 * The replication simulator (see repl_sim.h).
 *
 * Three parts: the network (a heap of messages by delivery time), the
 * peers (each a struct replica over a mem store, answering APPLY, STORE
 * and READ), and the coordinators with the client that starts them. A
 * coordinator is run as lib/repl.c's run() does: copy the actions, carry
 * each out (at once when the target is this peer), repeat until none are
 * left, then answer the client and free it when it is finished.
 *
 * The history sits beside them: one record per client write and one per
 * version (an APPLY that ran), each version with the versions it
 * supersedes. "Superseded by" is followed transitively to decide whether
 * a read that lacks a version shows a successor of it instead.
 */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "libdkv/dkv.h"
#include "core/coord.h"
#include "core/hint.h"
#include "core/keydiff.h"
#include "core/merkle.h"
#include "core/object.h"
#include "core/replica.h"
#include "core/ring.h"
#include "repl_sim.h"
#include "store/store.h"
#include "util/alloc.h"

#define RSIM_NONE UINT32_MAX
#define RSIM_VNODES 8
#define RSIM_MAX_OPS 32        /* coordinators alive at once */
#define RSIM_MAX_PACKETS 4096  /* in flight; more are dropped */
#define RSIM_MAX_WRITES 2048   /* clients stop starting writes past this */
#define RSIM_MAX_VERSIONS 8192 /* a write makes one, or two when duplicated */
#define RSIM_MAX_SIBLINGS 64
#define RSIM_MAX_STEPS 10000000u
#define RSIM_DRAIN_ROUNDS 60
#define RSIM_TRACE_LINES 64
#define RSIM_TRACE_WIDTH 200
#define RSIM_FALLBACKS (RSIM_PEERS - RSIM_N)
#define HINT_ROUND_MS 100 /* each peer sends its hints this often */
#define AE_ROUNDS 10

enum task { TASK_GET, TASK_PUT_BLIND, TASK_PUT_CTX, TASK_DELETE };
static const char *const task_name[] = {"get", "put", "put-ctx", "delete"};

enum packet_type { PK_APPLY, PK_STORE, PK_READ, PK_APPLIED, PK_STORED, PK_VALUE };
static const char *const send_name[] = {"APPLY", "STORE", "READ"}; /* enum coord_send */
static const char *const packet_name[] = {"APPLY", "STORE", "READ", "APPLIED", "STORED", "VALUE"};

struct packet {
	uint64_t at_ms, seq;
	uint32_t from, to; /* peers */
	uint8_t type;      /* enum packet_type */
	uint64_t op_id;    /* the coordinator's, echoed in the answer */
	uint32_t op_slot;
	uint32_t key;
	int status;
	bool tombstone;
	uint64_t now_us;
	uint32_t write;   /* APPLY: the write it carries (history only) */
	uint32_t version; /* APPLIED: the version it made (history only) */
	uint8_t *data;    /* value (APPLY) or object; NULL: none */
	size_t len;
	uint8_t *ctx; /* APPLY with a context: vv_encode'd */
	size_t ctxlen;
	bool has_hint;    /* STORE: a hint, meant for peer `hint` */
	uint32_t hint;
	uint64_t hint_fp; /* a hint's delivery (and its STORED): what was sent */
	bool syncback;    /* STORE from anti-entropy: send the merge back if it differs */
};

/* One client write (the write half of a put or delete). */
struct write {
	uint32_t key, coordinator;
	bool tombstone, blind;
	dkv_consistency_t level;
	uint32_t *seen; /* with a context: the versions its get returned */
	uint32_t nseen;
	bool acked;
	uint64_t ack_tick;
	uint32_t version; /* the one the coordinator stored, RSIM_NONE before */
	bool sloppy;      /* a copy went to a fallback as a hint */
	char val[32];
	size_t vlen;
};

/* One version: an APPLY that ran at a replica, named by its dot. */
struct version {
	uint32_t write, key, peer;
	uint64_t counter;
	uint32_t *sup; /* the versions it supersedes */
	uint32_t nsup;
};

struct op {
	bool used;
	uint64_t id, start_tick;
	uint32_t peer, key;
	enum task task;
	bool read_half; /* the get of a put-ctx or delete */
	bool final;     /* a final read: it must succeed */
	bool reported;  /* the client has its answer */
	dkv_consistency_t level;
	uint32_t write; /* write half: its record */
	struct coord co;
};

struct peer {
	struct store *store;
	struct replica replica;
	int group; /* messages cross only within a group */
	bool down; /* crashed: until back_ms */
	uint64_t back_ms;
};

struct rsim {
	uint64_t seed, rng, now_ms, tick, packet_seq, next_op_id;
	uint64_t next_client_ms, next_net_ms, next_crash_ms;
	struct rsim_config cfg;
	struct actor actor[RSIM_PEERS];
	char addr[RSIM_PEERS][16];
	struct peer peer[RSIM_PEERS];
	char key[RSIM_KEYS][16];
	uint32_t replicas[RSIM_KEYS][RSIM_N];
	uint32_t fallbacks[RSIM_KEYS][RSIM_FALLBACKS]; /* the other peers, in ring order */
	uint64_t next_hint_ms;
	bool hints_settled; /* every hint delivered: sloppy writes are visible */
	struct op ops[RSIM_MAX_OPS];
	struct packet *q; /* binary heap by (at_ms, seq) */
	uint32_t nq;
	struct write *writes;
	uint32_t nwrites;
	struct version *versions;
	uint32_t nversions;
	uint8_t *mark; /* scratch for closures, one per version */
	uint32_t *stack;
	uint32_t final_answered;
	bool one_applier; /* blind puts only, every view accurate, no partition */
	bool failed;
	char why[768];
	bool verbose;
	char trace[RSIM_TRACE_LINES][RSIM_TRACE_WIDTH];
	uint64_t ntrace;
	struct rsim_stats stats;
};

static void op_run(struct rsim *s, struct op *op);
static void hint_acked(struct rsim *s, const struct packet *m);

/* --- randomness, trace, failure ------------------------------------------ */

static uint64_t
rsim_rand(struct rsim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t
below(struct rsim *s, uint32_t n)
{
	return n == 0 ? 0 : (uint32_t)(rsim_rand(s) % n);
}

static bool
chance(struct rsim *s, unsigned pct)
{
	return below(s, 100) < pct;
}

static void trace(struct rsim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
trace(struct rsim *s, const char *fmt, ...)
{
	char *line = s->trace[s->ntrace % RSIM_TRACE_LINES];
	va_list ap;
	int n;

	n = snprintf(line, RSIM_TRACE_WIDTH, "%6llu ms  ", (unsigned long long)s->now_ms);
	if (n < 0 || n >= RSIM_TRACE_WIDTH)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, RSIM_TRACE_WIDTH - (size_t)n, fmt, ap);
	va_end(ap);
	s->ntrace++;
	if (s->verbose)
		fprintf(stderr, "%s\n", line);
}

static void fail(struct rsim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The first violation is kept; the run stops at the next step. */
static void
fail(struct rsim *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failed)
		return;
	s->failed = true;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	trace(s, "FAILED: %s", s->why);
}

static const char *
level_name(dkv_consistency_t level)
{
	return level == DKV_ONE ? "ONE" : level == DKV_ALL ? "ALL" : "QUORUM";
}

static uint32_t
level_count(dkv_consistency_t level)
{
	return level == DKV_ONE ? 1 : level == DKV_ALL ? RSIM_N : RSIM_N / 2 + 1;
}

static dkv_consistency_t
pick_level(struct rsim *s)
{
	uint32_t r = below(s, 100);

	return r < 70 ? DKV_QUORUM : r < 85 ? DKV_ONE : DKV_ALL;
}

/* "[3 17 20]" into buf, for traces and failures. */
static const char *
list_text(const uint32_t *v, uint32_t n, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < n && used + 1 < size; i++) {
		int k = snprintf(buf + used, size - used, "%s%u", i ? " " : "", v[i]);

		if (k < 0)
			break;
		used += (size_t)k;
	}
	return buf;
}

static uint8_t *
dup_bytes(const void *p, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (copy == NULL)
		abort(); /* test harness: nothing sensible to do */
	if (len > 0)
		memcpy(copy, p, len);
	return copy;
}

/* --- the network -------------------------------------------------------- */

static bool
packet_before(const struct packet *a, const struct packet *b)
{
	return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->seq < b->seq);
}

static void
packet_swap(struct packet *a, struct packet *b)
{
	struct packet t = *a;

	*a = *b;
	*b = t;
}

static void
packet_free(struct packet *m)
{
	free(m->data);
	free(m->ctx);
	m->data = m->ctx = NULL;
}

static void
heap_push(struct rsim *s, struct packet *m)
{
	uint32_t i;

	if (s->nq == RSIM_MAX_PACKETS) {
		s->stats.lost++; /* a full network loses messages */
		packet_free(m);
		return;
	}
	i = s->nq++;
	s->q[i] = *m;
	while (i > 0 && packet_before(&s->q[i], &s->q[(i - 1) / 2])) {
		packet_swap(&s->q[i], &s->q[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
}

static struct packet
heap_pop(struct rsim *s)
{
	struct packet top = s->q[0];
	uint32_t i = 0;

	s->q[0] = s->q[--s->nq];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < s->nq && packet_before(&s->q[l], &s->q[m]))
			m = l;
		if (r < s->nq && packet_before(&s->q[r], &s->q[m]))
			m = r;
		if (m == i)
			break;
		packet_swap(&s->q[i], &s->q[m]);
		i = m;
	}
	return top;
}

static bool
reachable(const struct rsim *s, uint32_t a, uint32_t b)
{
	return !s->peer[a].down && !s->peer[b].down && s->peer[a].group == s->peer[b].group;
}

/* Puts m (whose buffers it takes) on the network: maybe lost, maybe
 * twice, each copy after its own delay. */
static void
net_send(struct rsim *s, struct packet *m)
{
	unsigned copies = 1, span = s->cfg.max_delay_ms - s->cfg.min_delay_ms + 1;

	if (chance(s, s->cfg.loss_pct)) {
		s->stats.lost++;
		trace(s, "lost %s %u->%u op %llu", packet_name[m->type], m->from, m->to,
		      (unsigned long long)m->op_id);
		packet_free(m);
		return;
	}
	if (chance(s, s->cfg.dup_pct)) {
		copies = 2;
		s->stats.duplicated++;
	}
	for (unsigned c = 0; c < copies; c++) {
		struct packet p = *m;

		if (c > 0) {
			p.data = m->data != NULL ? dup_bytes(m->data, m->len) : NULL;
			p.ctx = m->ctx != NULL ? dup_bytes(m->ctx, m->ctxlen) : NULL;
		}
		p.at_ms = s->now_ms + s->cfg.min_delay_ms + below(s, span);
		p.seq = s->packet_seq++;
		heap_push(s, &p);
	}
}

/* An answer from a replica back to the coordinator that asked. */
static void
net_answer(struct rsim *s, const struct packet *req, uint8_t type, int status, const void *obj,
           size_t len, uint32_t version)
{
	struct packet a;

	memset(&a, 0, sizeof(a));
	a.type = type;
	a.from = req->to;
	a.to = req->from;
	a.op_id = req->op_id;
	a.op_slot = req->op_slot;
	a.key = req->key;
	a.status = status;
	a.version = version;
	a.write = req->write;
	a.hint_fp = req->hint_fp;
	if (obj != NULL) {
		a.data = dup_bytes(obj, len);
		a.len = len;
	}
	net_send(s, &a);
}

/* --- the history -------------------------------------------------------- */

static int
peer_of(const struct rsim *s, const struct actor *a)
{
	for (uint32_t p = 0; p < RSIM_PEERS; p++)
		if (actor_eq(&s->actor[p], a))
			return (int)p;
	return -1;
}

/* The version a sibling of key's object is, by its dot; RSIM_NONE when no
 * APPLY ever made it. */
static uint32_t
version_of(const struct rsim *s, uint32_t key, const struct sibling *sib)
{
	int peer = peer_of(s, &sib->dot_actor);

	for (uint32_t v = s->nversions; peer >= 0 && v-- > 0;)
		if (s->versions[v].key == key && s->versions[v].peer == (uint32_t)peer &&
		    s->versions[v].counter == sib->dot_counter)
			return v;
	return RSIM_NONE;
}

/* Marks every version that roots supersede, directly or not; the roots
 * themselves too when with_roots. */
static void
closure(struct rsim *s, const uint32_t *roots, uint32_t n, bool with_roots)
{
	uint32_t top = 0;

	memset(s->mark, 0, s->nversions);
	for (uint32_t i = 0; i < n; i++) {
		const struct version *r = &s->versions[roots[i]];

		if (with_roots && !s->mark[roots[i]]) {
			s->mark[roots[i]] = 1;
			s->stack[top++] = roots[i];
		}
		for (uint32_t k = 0; !with_roots && k < r->nsup; k++)
			if (!s->mark[r->sup[k]]) {
				s->mark[r->sup[k]] = 1;
				s->stack[top++] = r->sup[k];
			}
	}
	while (top > 0) {
		const struct version *v = &s->versions[s->stack[--top]];

		for (uint32_t k = 0; k < v->nsup; k++)
			if (!s->mark[v->sup[k]]) {
				s->mark[v->sup[k]] = 1;
				s->stack[top++] = v->sup[k];
			}
	}
}

/* The versions of an object's siblings into out (RSIM_MAX_SIBLINGS);
 * fails the run for a sibling that no write made or that differs from
 * what its write wrote. Returns how many, or -1. */
static int
object_versions(struct rsim *s, uint32_t key, const struct object *o, uint32_t *out,
                const char *where)
{
	const struct sibling *sib = object_siblings_const(o);

	if (o->n > RSIM_MAX_SIBLINGS) {
		fail(s, "%s: key %s has %u siblings", where, s->key[key], o->n);
		return -1;
	}
	for (uint32_t i = 0; i < o->n; i++) {
		uint32_t v = version_of(s, key, &sib[i]);
		const struct write *w;
		bool tomb = (sib[i].flags & SIB_TOMBSTONE) != 0;

		if (v == RSIM_NONE) {
			fail(s, "%s: key %s holds a version no APPLY made: dot (%.*s, %llu)", where,
			     s->key[key], (int)sib[i].dot_actor.len, sib[i].dot_actor.id,
			     (unsigned long long)sib[i].dot_counter);
			return -1;
		}
		w = &s->writes[s->versions[v].write];
		if (tomb != w->tombstone || sib[i].vlen != (tomb ? 0 : w->vlen) ||
		    (!tomb && memcmp(sib[i].val, w->val, w->vlen) != 0) ||
		    !actor_eq(&sib[i].writer, &s->actor[w->coordinator])) {
			fail(s,
			     "%s: key %s: version %u holds \"%.*s\"%s, but write %u wrote \"%s\"%s",
			     where, s->key[key], v, (int)sib[i].vlen,
			     sib[i].val ? (const char *)sib[i].val : "", tomb ? " (tombstone)" : "",
			     s->versions[v].write, w->val, w->tombstone ? " (tombstone)" : "");
			return -1;
		}
		out[i] = v;
	}
	return (int)o->n;
}

/* How many siblings key may have: at most one per (writer, replica) pair
 * of blind puts (a blind put drops its writer's siblings where it is
 * applied, and that replica's vector then covers them everywhere) plus
 * one per version written with a context. */
static uint32_t
sibling_bound(const struct rsim *s, uint32_t key)
{
	bool pair[RSIM_PEERS][RSIM_PEERS];
	uint32_t bound = 0;

	memset(pair, 0, sizeof(pair));
	for (uint32_t v = 0; v < s->nversions; v++) {
		const struct version *ver = &s->versions[v];
		const struct write *w = &s->writes[ver->write];

		if (ver->key != key)
			continue;
		if (!w->blind)
			bound++;
		else if (!pair[w->coordinator][ver->peer]) {
			pair[w->coordinator][ver->peer] = true;
			bound++;
		}
	}
	return bound;
}

/* How many peers wrote key. */
static uint32_t
writers_of(const struct rsim *s, uint32_t key)
{
	bool wrote[RSIM_PEERS];
	uint32_t n = 0;

	memset(wrote, 0, sizeof(wrote));
	for (uint32_t v = 0; v < s->nversions; v++) {
		uint32_t c = s->writes[s->versions[v].write].coordinator;

		if (s->versions[v].key == key && !wrote[c]) {
			wrote[c] = true;
			n++;
		}
	}
	return n;
}

/* Siblings are truly concurrent: none supersedes another; and there are no
 * more of them than the writers could have made — with one_applier, where
 * each writer always applies at the same replica, one per writer. */
static void
check_siblings(struct rsim *s, uint32_t key, const uint32_t *vs, uint32_t n, const char *where)
{
	uint32_t bound = s->one_applier ? writers_of(s, key) : sibling_bound(s, key);

	if (n > s->stats.max_siblings)
		s->stats.max_siblings = n;
	if (n > bound) {
		fail(s, "%s: key %s has %u siblings, more than the %u its writers can make", where,
		     s->key[key], n, bound);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		closure(s, &vs[i], 1, false);
		for (uint32_t j = 0; j < n; j++)
			if (s->mark[vs[j]]) {
				fail(s,
				     "%s: key %s: version %u is a sibling of version %u, "
				     "which supersedes it",
				     where, s->key[key], vs[j], vs[i]);
				return;
			}
	}
}

/* A read started after a write was acknowledged, whose level overlaps the
 * write's (R + W > N), returns the write's version or a successor. */
static void
check_visible(struct rsim *s, const struct op *op, const uint32_t *vs, uint32_t n)
{
	uint32_t need = RSIM_N + 1 - level_count(op->level);
	char got[256];

	closure(s, vs, n, true);
	for (uint32_t i = 0; i < s->nwrites; i++) {
		const struct write *w = &s->writes[i];

		if (w->key != op->key || !w->acked || w->ack_tick >= op->start_tick ||
		    level_count(w->level) < need)
			continue;
		/* sloppy quorum: a write acknowledged through a hint reaches
		 * its replica when the hint does (Dynamo's trade-off) */
		if (w->sloppy && !s->hints_settled)
			continue;
		if (w->version == RSIM_NONE || !s->mark[w->version]) {
			fail(s,
			     "op %llu (%s at %s by peer %u) lost write %u (\"%s\"%s at %s by "
			     "peer %u, version %u, acknowledged before the read began): it "
			     "returned versions [%s], none of them it or a successor",
			     (unsigned long long)op->id, task_name[op->task], level_name(op->level),
			     op->peer, i, w->val, w->tombstone ? " tombstone" : "",
			     level_name(w->level), w->coordinator, w->version,
			     list_text(vs, n, got, sizeof(got)));
			return;
		}
	}
}

static uint32_t
write_add(struct rsim *s, uint32_t key, uint32_t coordinator, enum task task,
          dkv_consistency_t level, const uint32_t *seen, uint32_t nseen)
{
	struct write *w;
	uint32_t i;

	if (s->nwrites == RSIM_MAX_WRITES)
		return RSIM_NONE;
	i = s->nwrites++;
	w = &s->writes[i];
	memset(w, 0, sizeof(*w));
	w->key = key;
	w->coordinator = coordinator;
	w->tombstone = task == TASK_DELETE;
	w->blind = task == TASK_PUT_BLIND;
	w->level = level;
	w->version = RSIM_NONE;
	if (nseen > 0) {
		w->seen = malloc(nseen * sizeof(*w->seen));
		if (w->seen == NULL)
			abort();
		memcpy(w->seen, seen, nseen * sizeof(*seen));
		w->nseen = nseen;
	}
	if (!w->tombstone)
		w->vlen = (size_t)snprintf(w->val, sizeof(w->val), "%s/w%u", s->key[key], i);
	return i;
}

/* --- the replicas ------------------------------------------------------- */

struct apply_req {
	uint32_t key, write, writer;
	bool tombstone;
	const void *val;
	size_t vlen;
	const struct vv *ctx;
	uint64_t now_us;
};

/* What a blind put from writer will supersede at peer: the versions by
 * writer that it holds. Returns a malloc'd list (or NULL for none). */
static uint32_t *
held_by_writer(struct rsim *s, uint32_t peer, uint32_t key, uint32_t writer, uint32_t *n)
{
	const struct replica *r = &s->peer[peer].replica;
	uint32_t vs[RSIM_MAX_SIBLINGS], *out = NULL;
	struct object o;
	void *raw;
	int count;

	*n = 0;
	if (replica_read(r, s->key[key], strlen(s->key[key]),
	                 token_of_key(s->key[key], strlen(s->key[key])), &raw, &o) != DKV_OK)
		return NULL;
	count = object_versions(s, key, &o, vs, "a replica before a blind put");
	for (int i = 0; i < count; i++)
		if (actor_eq(&object_siblings_const(&o)[i].writer, &s->actor[writer])) {
			if (out == NULL && (out = malloc(RSIM_MAX_SIBLINGS * sizeof(*out))) == NULL)
				abort();
			out[(*n)++] = vs[i];
		}
	object_free(&o);
	store_free_value(s->peer[peer].store, raw);
	return out;
}

/* Records the version an APPLY at peer just made: the sibling with peer's
 * newest dot in the object it answered with. */
static uint32_t
version_add(struct rsim *s, uint32_t peer, const struct apply_req *rq, const uint8_t *obj,
            size_t len, uint32_t *sup, uint32_t nsup)
{
	struct version *v;
	struct object o;
	uint64_t counter;
	bool found = false;

	if (object_decode(&o, obj, len) != DKV_OK) {
		fail(s, "peer %u answered an APPLY with an object that does not decode", peer);
		free(sup);
		return RSIM_NONE;
	}
	counter = vv_get(&o.vv, &s->actor[peer]);
	for (uint32_t i = 0; i < o.n; i++) {
		const struct sibling *sib = &object_siblings_const(&o)[i];

		found |= sib->dot_counter == counter && actor_eq(&sib->dot_actor, &s->actor[peer]);
	}
	object_free(&o);
	if (!found)
		fail(s, "APPLY of write %u at peer %u made no sibling", rq->write, peer);
	else if (s->nversions == RSIM_MAX_VERSIONS)
		fail(s, "more than %u versions: the history is full", RSIM_MAX_VERSIONS);
	if (s->failed) {
		free(sup);
		return RSIM_NONE;
	}
	v = &s->versions[s->nversions];
	v->write = rq->write;
	v->key = rq->key;
	v->peer = peer;
	v->counter = counter;
	v->sup = sup;
	v->nsup = nsup;
	s->stats.versions++;
	return s->nversions++;
}

/* replica_apply at peer, recording the version it makes and what that
 * supersedes. *obj: mem_free. */
static int
serve_apply(struct rsim *s, uint32_t peer, const struct apply_req *rq, uint8_t **obj, size_t *len,
            uint32_t *version)
{
	const struct write *w = &s->writes[rq->write];
	struct replica_write rw;
	uint32_t *sup = NULL, nsup = 0;
	char text[128];
	int err;

	*version = RSIM_NONE;
	if (rq->ctx == NULL) {
		sup = held_by_writer(s, peer, rq->key, rq->writer, &nsup);
	} else if (w->nseen > 0) {
		if ((sup = malloc(w->nseen * sizeof(*sup))) == NULL)
			abort();
		memcpy(sup, w->seen, w->nseen * sizeof(*sup));
		nsup = w->nseen;
	}
	memset(&rw, 0, sizeof(rw));
	rw.key = s->key[rq->key];
	rw.klen = strlen(s->key[rq->key]);
	rw.token = token_of_key(rw.key, rw.klen);
	rw.ctx = rq->ctx;
	rw.writer = &s->actor[rq->writer];
	rw.now_us = rq->now_us;
	rw.tombstone = rq->tombstone;
	rw.val = rq->val;
	rw.vlen = rq->vlen;
	err = replica_apply(&s->peer[peer].replica, &rw, obj, len);
	if (err != DKV_OK) {
		trace(s, "peer %u: APPLY of write %u failed: %s", peer, rq->write,
		      dkv_strerror(err));
		free(sup);
		return err;
	}
	*version = version_add(s, peer, rq, *obj, *len, sup, nsup);
	if (*version != RSIM_NONE)
		trace(s, "peer %u applied write %u: version %u, dot (%s, %llu), supersedes [%s]",
		      peer, rq->write, *version, s->addr[peer],
		      (unsigned long long)s->versions[*version].counter,
		      list_text(sup, nsup, text, sizeof(text)));
	return DKV_OK;
}

static int
serve_store(struct rsim *s, uint32_t peer, uint32_t key, const void *obj, size_t len)
{
	const char *k = s->key[key];

	return replica_store(&s->peer[peer].replica, k, strlen(k), token_of_key(k, strlen(k)), obj,
	                     len);
}

/* A STORE that carries a hint for peer `to`: kept as a hint, unless it
 * is meant for this peer (lib/repl.c's job_set_hint). */
static int
serve_store_hint(struct rsim *s, uint32_t peer, uint32_t to, uint32_t key, const void *obj,
                 size_t len)
{
	const char *k = s->key[key];
	int err;

	if (to == peer)
		return serve_store(s, peer, key, obj, len);
	err = replica_store_hint(&s->peer[peer].replica, &s->actor[to], k, strlen(k),
	                         token_of_key(k, strlen(k)), obj, len, s->now_ms);
	if (err == DKV_OK)
		s->stats.hints_stored++;
	return err;
}

/* *raw: store_free_value on the peer's store. */
static int
serve_read(struct rsim *s, uint32_t peer, uint32_t key, void **raw, size_t *len)
{
	const char *k = s->key[key];

	return replica_read_raw(&s->peer[peer].replica, k, strlen(k), token_of_key(k, strlen(k)),
	                        raw, len);
}

static void ae_sync_back(struct rsim *s, const struct packet *m);

/* A request arrived at m->to: serve it and answer over the network. */
static void
deliver_request(struct rsim *s, const struct packet *m)
{
	uint8_t *obj = NULL;
	void *raw = NULL;
	size_t len = 0;
	int err;

	switch (m->type) {
	case PK_APPLY: {
		struct apply_req rq = {.key = m->key,
		                       .write = m->write,
		                       .writer = m->from,
		                       .tombstone = m->tombstone,
		                       .val = m->data,
		                       .vlen = m->len,
		                       .now_us = m->now_us};
		uint32_t version = RSIM_NONE;
		struct vv ctx;

		vv_init(&ctx);
		err = DKV_OK;
		if (m->ctx != NULL) {
			err = vv_decode(&ctx, m->ctx, m->ctxlen) == DKV_OK ? DKV_OK : DKV_EINVAL;
			rq.ctx = &ctx;
		}
		if (err == DKV_OK)
			err = serve_apply(s, m->to, &rq, &obj, &len, &version);
		net_answer(s, m, PK_APPLIED, err, err == DKV_OK ? obj : NULL, len, version);
		vv_free(&ctx);
		mem_free(obj);
		return;
	}
	case PK_STORE:
		err = m->has_hint ? serve_store_hint(s, m->to, m->hint, m->key, m->data, m->len)
		                  : serve_store(s, m->to, m->key, m->data, m->len);
		net_answer(s, m, PK_STORED, err, NULL, 0, RSIM_NONE);
		if (err == DKV_OK && m->syncback)
			ae_sync_back(s, m);
		return;
	case PK_READ:
		err = serve_read(s, m->to, m->key, &raw, &len);
		net_answer(s, m, PK_VALUE, err, err == DKV_OK ? raw : NULL, len, RSIM_NONE);
		store_free_value(s->peer[m->to].store, raw);
		return;
	default:
		return;
	}
}

/* --- the coordinators --------------------------------------------------- */

static void
applied(struct rsim *s, struct op *op, uint32_t target, int status, const void *obj, size_t len,
        uint32_t version)
{
	bool first = op->co.obj == NULL;

	coord_applied(&op->co, target, status, obj, len);
	if (first && op->co.obj != NULL)
		s->writes[op->write].version = version;
}

/* An answer arrived at the coordinator's peer: feed the coordinator, if it
 * is still alive, as repl_on_msg does. */
static void
deliver_answer(struct rsim *s, const struct packet *m)
{
	struct op *op = m->op_slot < RSIM_MAX_OPS ? &s->ops[m->op_slot] : NULL;
	int i;

	if (m->type == PK_STORED && m->hint_fp != 0) {
		hint_acked(s, m);
		return;
	}
	if (op == NULL || !op->used || op->id != m->op_id ||
	    (i = coord_target_of(&op->co, &s->actor[m->from])) < 0)
		return; /* over */
	switch (m->type) {
	case PK_APPLIED:
		applied(s, op, (uint32_t)i, m->status, m->data, m->len, m->version);
		break;
	case PK_STORED:
		coord_stored(&op->co, (uint32_t)i, m->status);
		break;
	case PK_VALUE:
		coord_value(&op->co, (uint32_t)i, m->status, m->status == DKV_OK ? m->data : NULL,
		            m->len);
		break;
	default:
		return;
	}
	op_run(s, op);
}

static void
deliver(struct rsim *s, const struct packet *m)
{
	if (!reachable(s, m->from, m->to)) {
		s->stats.cut++;
		trace(s, "cut %s %u->%u op %llu", packet_name[m->type], m->from, m->to,
		      (unsigned long long)m->op_id);
		return;
	}
	s->stats.delivered++;
	trace(s, "deliver %s %u->%u op %llu%s%s", packet_name[m->type], m->from, m->to,
	      (unsigned long long)m->op_id, m->type >= PK_APPLIED ? ": " : "",
	      m->type >= PK_APPLIED ? dkv_strerror(m->status) : "");
	if (m->type == PK_APPLY || m->type == PK_STORE || m->type == PK_READ)
		deliver_request(s, m);
	else
		deliver_answer(s, m);
}

static void
act_local(struct rsim *s, struct op *op, const struct coord_action *a, uint32_t peer)
{
	struct coord *co = &op->co;
	void *raw = NULL;
	uint8_t *obj = NULL;
	size_t len = 0;
	int err;

	switch (a->send) {
	case CS_READ:
		err = serve_read(s, peer, op->key, &raw, &len);
		coord_value(co, a->target, err, raw, len);
		store_free_value(s->peer[peer].store, raw);
		return;
	case CS_APPLY: {
		struct apply_req rq = {.key = op->key,
		                       .write = op->write,
		                       .writer = op->peer,
		                       .tombstone = co->kind == COORD_DELETE,
		                       .val = co->val,
		                       .vlen = co->kind == COORD_DELETE ? 0 : co->vlen,
		                       .ctx = co->has_ctx ? &co->ctx : NULL,
		                       .now_us = s->now_ms * 1000};
		uint32_t version;

		err = serve_apply(s, peer, &rq, &obj, &len, &version);
		applied(s, op, a->target, err, obj, len, version);
		mem_free(obj);
		return;
	}
	case CS_STORE: {
		const uint8_t *o = coord_store_object(co, &len);
		const struct actor *hint = coord_hint_for(co, a->target);

		coord_stored(co, a->target,
		             hint != NULL ? serve_store_hint(s, peer, (uint32_t)peer_of(s, hint), op->key,
		                                             o, len)
		                          : serve_store(s, peer, op->key, o, len));
		return;
	}
	default:
		return;
	}
}

static void
act_remote(struct rsim *s, struct op *op, const struct coord_action *a, uint32_t peer)
{
	struct coord *co = &op->co;
	struct packet m;

	memset(&m, 0, sizeof(m));
	m.from = op->peer;
	m.to = peer;
	m.op_id = op->id;
	m.op_slot = (uint32_t)(op - s->ops);
	m.key = op->key;
	m.write = op->write;
	m.version = RSIM_NONE;
	switch (a->send) {
	case CS_READ:
		m.type = PK_READ;
		break;
	case CS_APPLY:
		m.type = PK_APPLY;
		m.now_us = s->now_ms * 1000;
		m.tombstone = co->kind == COORD_DELETE;
		if (!m.tombstone) {
			m.data = dup_bytes(co->val, co->vlen);
			m.len = co->vlen;
		}
		if (co->has_ctx) {
			m.ctxlen = vv_encoded_size(&co->ctx);
			if ((m.ctx = malloc(m.ctxlen ? m.ctxlen : 1)) == NULL)
				abort();
			vv_encode(&co->ctx, m.ctx);
		}
		break;
	case CS_STORE: {
		size_t len;
		const uint8_t *o = coord_store_object(co, &len);

		const struct actor *hint = coord_hint_for(co, a->target);

		m.type = PK_STORE;
		m.data = dup_bytes(o, len);
		m.len = len;
		if (hint != NULL) {
			m.has_hint = true;
			m.hint = (uint32_t)peer_of(s, hint);
		}
		break;
	}
	default:
		return;
	}
	net_send(s, &m);
}

static void
act(struct rsim *s, struct op *op, const struct coord_action *a)
{
	uint32_t peer;

	if (a->target >= op->co.nt) {
		fail(s, "op %llu: an action for target %u of %u", (unsigned long long)op->id,
		     a->target, op->co.nt);
		return;
	}
	if (a->target < RSIM_N) {
		peer = s->replicas[op->key][a->target];
	} else {
		peer = s->fallbacks[op->key][a->target - RSIM_N];
		if (op->write != RSIM_NONE)
			s->writes[op->write].sloppy = true;
	}
	trace(s, "op %llu: %s to peer %u%s", (unsigned long long)op->id,
	      a->send <= CS_READ ? send_name[a->send] : "?", peer,
	      op->co.t[a->target].local ? " (local)" : "");
	if (op->co.t[a->target].local)
		act_local(s, op, a, peer);
	else
		act_remote(s, op, a, peer);
}

static void start_write(struct rsim *s, uint32_t peer, uint32_t key, enum task task,
                        dkv_consistency_t level, const struct vv *ctx, const uint32_t *seen,
                        uint32_t nseen);

static void
report_write(struct rsim *s, struct op *op)
{
	struct write *w = &s->writes[op->write];

	if (op->co.result != DKV_OK) {
		s->stats.writes_failed++;
		return;
	}
	s->stats.writes_acked++;
	w->acked = true;
	w->ack_tick = ++s->tick;
	if (w->version == RSIM_NONE)
		fail(s, "write %u was acknowledged but no APPLY answer was taken", op->write);
}

static void
report_read(struct rsim *s, struct op *op)
{
	uint32_t vs[RSIM_MAX_SIBLINGS];
	char where[96], text[256];
	int n;

	if (op->co.result != DKV_OK) {
		s->stats.reads_failed++;
		if (op->final)
			fail(s, "final %s read of key %s failed: %s", level_name(op->level),
			     s->key[op->key], dkv_strerror(op->co.result));
		return;
	}
	s->stats.reads_ok++;
	snprintf(where, sizeof(where), "op %llu (%s at %s by peer %u)", (unsigned long long)op->id,
	         task_name[op->task], level_name(op->level), op->peer);
	if ((n = object_versions(s, op->key, &op->co.merged, vs, where)) < 0)
		return;
	trace(s, "%s read %s: versions [%s]", where, s->key[op->key],
	      list_text(vs, (uint32_t)n, text, sizeof(text)));
	check_siblings(s, op->key, vs, (uint32_t)n, where);
	check_visible(s, op, vs, (uint32_t)n);
	if (!op->read_half || s->failed)
		return;
	if (op->task == TASK_DELETE && coord_read_context(&op->co)->n == 0)
		return; /* nothing anywhere to delete, as the shell says */
	start_write(s, op->peer, op->key, op->task, op->level, coord_read_context(&op->co), vs,
	            (uint32_t)n);
}

/* The client's answer. */
static void
report(struct rsim *s, struct op *op)
{
	int err = op->co.result;

	trace(s, "op %llu answered: %s", (unsigned long long)op->id, dkv_strerror(err));
	if (err == DKV_ETIMEDOUT)
		s->stats.timeouts++;
	if (err == DKV_EUNAVAILABLE)
		s->stats.unavailable++;
	if (op->final && err == DKV_OK)
		s->final_answered++;
	if (op->co.kind == COORD_GET)
		report_read(s, op);
	else
		report_write(s, op);
}

static void
op_free(struct rsim *s, struct op *op)
{
	s->stats.repairs += op->co.repairs;
	coord_free(&op->co);
	op->used = false;
}

/* As lib/repl.c's run(): carry out what the coordinator decided (acting
 * may decide more), answer the client, free it once finished. */
static void
op_run(struct rsim *s, struct op *op)
{
	struct coord_action acts[2 * RSIM_N];
	const struct coord_action *a;
	uint32_t n;

	for (unsigned round = 0;; round++) {
		a = coord_take_actions(&op->co, &n);
		if (n == 0)
			break;
		if (n > 2 * RSIM_N || round > 4 * RSIM_N) {
			fail(s, "op %llu: %u actions in round %u", (unsigned long long)op->id, n,
			     round);
			break;
		}
		memcpy(acts, a, n * sizeof(*a));
		for (uint32_t i = 0; i < n; i++)
			act(s, op, &acts[i]);
	}
	if (op->co.answered && !op->reported) {
		op->reported = true;
		report(s, op);
	}
	if (op->co.finished)
		op_free(s, op);
}

/* --- the clients -------------------------------------------------------- */

/* A free slot for a coordinator; NULL while RSIM_MAX_OPS are alive. */
static struct op *
op_slot(struct rsim *s)
{
	for (uint32_t i = 0; i < RSIM_MAX_OPS; i++)
		if (!s->ops[i].used)
			return &s->ops[i];
	return NULL;
}

static uint32_t
ops_alive(const struct rsim *s)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < RSIM_MAX_OPS; i++)
		n += s->ops[i].used;
	return n;
}

/* Starts the coordinator of op (peer, key, task... set) for req. Its view
 * of the replicas is the partition its peer is in or, stale, all up. */
static void
op_start(struct rsim *s, struct op *op, const struct coord_request *req)
{
	struct coord_replica reps[RSIM_N + RSIM_FALLBACKS];
	bool stale = chance(s, s->cfg.stale_view_pct);
	const struct write *w = op->write != RSIM_NONE ? &s->writes[op->write] : NULL;
	uint32_t n = RSIM_N, down = 0;
	int err;

	for (uint32_t i = 0; i < RSIM_N; i++) {
		uint32_t p = s->replicas[op->key][i];

		memset(&reps[i], 0, sizeof(reps[i]));
		reps[i].id = s->actor[p];
		reps[i].addr = s->addr[p];
		reps[i].local = p == op->peer;
		reps[i].up = stale || reachable(s, op->peer, p);
		down += !reps[i].up;
	}
	/* sloppy quorum: the live peers after the replicas stand in for the
	 * down ones, as cluster_replicas lists them (two per down replica) */
	for (uint32_t f = 0; s->cfg.sloppy && w != NULL && f < RSIM_FALLBACKS; f++) {
		uint32_t p = s->fallbacks[op->key][f];

		if (n - RSIM_N >= 2 * down)
			break;
		if (!reachable(s, op->peer, p))
			continue;
		memset(&reps[n], 0, sizeof(reps[n]));
		reps[n].id = s->actor[p];
		reps[n].addr = s->addr[p];
		reps[n].local = p == op->peer;
		reps[n].up = true;
		reps[n].fallback = true;
		n++;
	}
	if ((err = coord_init(&op->co, req, reps, n, 1, 0)) != DKV_OK) {
		coord_free(&op->co); /* coord_init may have allocated before failing */
		fail(s, "coord_init: %s", dkv_strerror(err));
		return;
	}
	op->used = true;
	op->reported = false;
	op->id = ++s->next_op_id;
	op->start_tick = ++s->tick;
	s->stats.ops++;
	if (w != NULL)
		trace(s, "op %llu: peer %u %s %s at %s%s: write %u \"%s\"",
		      (unsigned long long)op->id, op->peer, task_name[op->task], s->key[op->key],
		      level_name(op->level), stale ? ", stale view" : "", op->write, w->val);
	else
		trace(s, "op %llu: peer %u %s%s %s at %s%s", (unsigned long long)op->id, op->peer,
		      task_name[op->task], op->read_half ? " (its get)" : "", s->key[op->key],
		      level_name(op->level), stale ? ", stale view" : "");
	op_run(s, op);
}

static void
start_get(struct rsim *s, uint32_t peer, uint32_t key, enum task task, dkv_consistency_t level,
          bool final)
{
	struct op *op = op_slot(s);
	struct coord_request req;

	if (op == NULL) {
		if (final)
			fail(s, "no room for the final read of key %s", s->key[key]);
		return;
	}
	memset(&req, 0, sizeof(req));
	req.kind = COORD_GET;
	req.key = s->key[key];
	req.klen = strlen(s->key[key]);
	req.level = level;
	req.deadline_ms = s->now_ms + s->cfg.timeout_ms;
	req.mode = CONFLICTS_SIBLINGS;
	op->peer = peer;
	op->key = key;
	op->task = task;
	op->read_half = task != TASK_GET;
	op->final = final;
	op->level = level;
	op->write = RSIM_NONE;
	op_start(s, op, &req);
}

static void
start_write(struct rsim *s, uint32_t peer, uint32_t key, enum task task, dkv_consistency_t level,
            const struct vv *ctx, const uint32_t *seen, uint32_t nseen)
{
	struct op *op = op_slot(s);
	struct coord_request req;
	uint32_t w;

	if (op == NULL || (w = write_add(s, key, peer, task, level, seen, nseen)) == RSIM_NONE)
		return; /* the client gives up */
	memset(&req, 0, sizeof(req));
	req.kind = task == TASK_DELETE ? COORD_DELETE : COORD_PUT;
	req.key = s->key[key];
	req.klen = strlen(s->key[key]);
	req.val = s->writes[w].val;
	req.vlen = s->writes[w].vlen;
	req.ctx = ctx;
	req.level = level;
	req.deadline_ms = s->now_ms + s->cfg.timeout_ms;
	req.mode = CONFLICTS_SIBLINGS;
	op->peer = peer;
	op->key = key;
	op->task = task;
	op->read_half = false;
	op->final = false;
	op->level = level;
	op->write = w;
	op_start(s, op, &req);
}

/* A client asks a random peer for a random operation on a random key. */
static void
client_step(struct rsim *s)
{
	uint32_t peer = below(s, RSIM_PEERS), key = below(s, RSIM_KEYS), r = below(s, 100);
	dkv_consistency_t level = pick_level(s);
	enum task task;

	for (uint32_t tries = 0; s->peer[peer].down && tries < RSIM_PEERS; tries++)
		peer = (peer + 1) % RSIM_PEERS; /* clients talk to a live peer */

	if (s->cfg.blind_only)
		task = r < 40 ? TASK_GET : TASK_PUT_BLIND;
	else
		task = r < 20   ? TASK_GET
		       : r < 55 ? TASK_PUT_BLIND
		       : r < 85 ? TASK_PUT_CTX
		                : TASK_DELETE;
	if (task == TASK_PUT_BLIND)
		start_write(s, peer, key, task, level, NULL, NULL, 0);
	else
		start_get(s, peer, key, task, level, false);
	s->next_client_ms = s->now_ms + 1 + below(s, s->cfg.client_gap_ms);
}

/* The failure detector of each coordinating peer convicts, now or never,
 * some of the replicas a partition has just cut it off from: what an
 * operation waited on from them fails (coord_peer_down), and a write
 * whose applier it was moves to another replica. */
static void
convict(struct rsim *s)
{
	for (uint32_t i = 0; i < RSIM_MAX_OPS; i++) {
		struct op *op = &s->ops[i];

		if (!op->used)
			continue;
		for (uint32_t k = 0; k < RSIM_N && op->used; k++) {
			uint32_t p = s->replicas[op->key][k];

			if (reachable(s, op->peer, p) || !chance(s, 50))
				continue;
			trace(s, "op %llu: peer %u judged down", (unsigned long long)op->id, p);
			coord_peer_down(&op->co, k);
			op_run(s, op);
		}
	}
}

/* Partitions come and go: every peer on a random side, or all together. */
static void
net_change(struct rsim *s)
{
	char groups[RSIM_PEERS + 1];
	bool heal = chance(s, 35);

	for (uint32_t p = 0; p < RSIM_PEERS; p++) {
		s->peer[p].group = heal ? 0 : (int)below(s, 2);
		groups[p] = (char)('0' + s->peer[p].group);
	}
	groups[RSIM_PEERS] = '\0';
	trace(s, "network: groups %s", groups);
	s->next_net_ms = s->now_ms + s->cfg.partition_ms / 2 + below(s, s->cfg.partition_ms);
	convict(s);
}

/* Peers crash and come back: due restarts first, then maybe a crash
 * (at most two peers down at once). */
static void
crash_change(struct rsim *s)
{
	uint32_t ndown = 0, p;

	for (p = 0; p < RSIM_PEERS; p++) {
		if (s->peer[p].down && s->peer[p].back_ms <= s->now_ms) {
			s->peer[p].down = false;
			trace(s, "peer %u restarts", p);
		}
		ndown += s->peer[p].down;
	}
	if (s->now_ms < s->next_crash_ms)
		return;
	s->next_crash_ms = s->now_ms + s->cfg.crash_ms / 2 + below(s, s->cfg.crash_ms);
	p = below(s, RSIM_PEERS);
	if (ndown >= 2 || s->peer[p].down)
		return;
	s->peer[p].down = true;
	s->peer[p].back_ms = s->now_ms + 1 + below(s, s->cfg.crash_down_ms);
	s->stats.crashes++;
	trace(s, "peer %u crashes until %llu ms", p, (unsigned long long)s->peer[p].back_ms);
	/* what it coordinated dies with it: those callers never hear back */
	for (uint32_t i = 0; i < RSIM_MAX_OPS; i++)
		if (s->ops[i].used && s->ops[i].peer == p)
			op_free(s, &s->ops[i]);
	convict(s);
}

/* When the next crash or restart is due (UINT64_MAX: none). */
static uint64_t
next_crash_event(const struct rsim *s)
{
	uint64_t at = s->cfg.crash_ms > 0 ? s->next_crash_ms : UINT64_MAX;

	for (uint32_t p = 0; p < RSIM_PEERS; p++)
		if (s->peer[p].down && s->peer[p].back_ms < at)
			at = s->peer[p].back_ms;
	return at;
}

/* --- hints and anti-entropy ----------------------------------------------- */

static int
key_index(const struct rsim *s, const uint8_t *key, size_t klen)
{
	for (uint32_t k = 0; k < RSIM_KEYS; k++)
		if (strlen(s->key[k]) == klen && memcmp(s->key[k], key, klen) == 0)
			return (int)k;
	return -1;
}

struct hint_scan {
	struct rsim *s;
	uint32_t peer;
	uint32_t held;
};

/* One hint record at peer: sent to its peer when that one is reachable. */
static int
hint_send(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	struct hint_scan *hs = arg;
	struct rsim *s = hs->s;
	struct actor to;
	struct token t;
	const uint8_t *key, *obj;
	size_t ukeylen, olen;
	uint64_t created;
	struct packet m;
	int peer, idx;

	hs->held++;
	if (hint_key_decode(k, klen, &to, &t, &key, &ukeylen) != DKV_OK ||
	    hint_value_decode(v, vlen, &created, &obj, &olen) != DKV_OK ||
	    (peer = peer_of(s, &to)) < 0 || (idx = key_index(s, key, ukeylen)) < 0) {
		fail(s, "peer %u holds a hint it cannot read", hs->peer);
		return 1;
	}
	if (!reachable(s, hs->peer, (uint32_t)peer))
		return 0;
	memset(&m, 0, sizeof(m));
	m.type = PK_STORE;
	m.from = hs->peer;
	m.to = (uint32_t)peer;
	m.op_slot = RSIM_MAX_OPS; /* no coordinator's */
	m.key = (uint32_t)idx;
	m.write = RSIM_NONE;
	m.version = RSIM_NONE;
	m.hint_fp = hint_fingerprint(v, vlen) | 1; /* never 0: 0 is "not a hint" */
	m.data = dup_bytes(obj, olen);
	m.len = olen;
	trace(s, "hint: peer %u sends %s to peer %u", hs->peer, s->key[idx], peer);
	net_send(s, &m);
	return 0;
}

/* Every peer that is up sends each of its hints to its peer, if it can
 * reach it; returns how many hints are held in all. */
static uint32_t
hints_round(struct rsim *s)
{
	uint32_t held = 0;

	for (uint32_t p = 0; p < RSIM_PEERS && !s->failed; p++) {
		struct hint_scan hs = {s, p, 0};

		if (s->peer[p].down)
			continue;
		store_scan(s->peer[p].store, hint_all_start, sizeof(hint_all_start), hint_all_limit,
		           sizeof(hint_all_limit), hint_send, &hs);
		held += hs.held;
	}
	s->next_hint_ms = s->now_ms + HINT_ROUND_MS;
	return held;
}

/* The intended peer acknowledged a hint: the holder deletes it if it still
 * holds exactly what it sent (a write may have joined it meanwhile). */
static void
hint_acked(struct rsim *s, const struct packet *m)
{
	uint32_t holder = m->to;
	const char *k = s->key[m->key];
	uint8_t hk[HINT_PREFIX_MAX + 16 + 32];
	size_t hklen = hint_key_size(&s->actor[m->from], strlen(k));
	void *v = NULL;
	size_t vlen;

	if (m->status != DKV_OK || hklen > sizeof(hk))
		return;
	hint_key_encode(hk, &s->actor[m->from], token_of_key(k, strlen(k)), k, strlen(k));
	if (store_get(s->peer[holder].store, hk, hklen, &v, &vlen) != DKV_OK)
		return;
	if ((hint_fingerprint(v, vlen) | 1) == m->hint_fp) {
		store_del(s->peer[holder].store, hk, hklen, false);
		s->stats.hints_delivered++;
		trace(s, "hint: peer %u delivered %s to peer %u", holder, k, m->from);
	}
	store_free_value(s->peer[holder].store, v);
}

/* --- the clock ---------------------------------------------------------- */

enum happening { H_END, H_MSG, H_DEADLINE, H_CLIENT, H_NET, H_CRASH, H_HINTS };

static struct op *
next_deadline(struct rsim *s)
{
	struct op *best = NULL;

	for (uint32_t i = 0; i < RSIM_MAX_OPS; i++)
		if (s->ops[i].used &&
		    (best == NULL || s->ops[i].co.deadline_ms < best->co.deadline_ms))
			best = &s->ops[i];
	return best;
}

/* Runs everything due before end, earliest first; clients and partitions
 * only with chaos. */
static void
step_until(struct rsim *s, uint64_t end, bool chaos)
{
	for (uint32_t steps = 0; !s->failed; steps++) {
		struct op *due = next_deadline(s);
		enum happening h = H_END;
		uint64_t at = end;

		if (steps == RSIM_MAX_STEPS) {
			fail(s, "no end in sight after %u steps", steps);
			return;
		}
		if (s->nq > 0 && s->q[0].at_ms <= at) {
			h = H_MSG;
			at = s->q[0].at_ms;
		}
		if (due != NULL && due->co.deadline_ms < at) {
			h = H_DEADLINE;
			at = due->co.deadline_ms;
		}
		if (chaos && s->next_client_ms < at && s->nwrites < RSIM_MAX_WRITES) {
			h = H_CLIENT;
			at = s->next_client_ms;
		}
		if (chaos && s->cfg.partition_ms > 0 && s->next_net_ms < at) {
			h = H_NET;
			at = s->next_net_ms;
		}
		if (chaos && next_crash_event(s) < at) {
			h = H_CRASH;
			at = next_crash_event(s);
		}
		if (s->cfg.sloppy && s->next_hint_ms < at) {
			h = H_HINTS;
			at = s->next_hint_ms;
		}
		if (at > s->now_ms)
			s->now_ms = at;
		switch (h) {
		case H_END:
			return;
		case H_MSG: {
			struct packet m = heap_pop(s);

			deliver(s, &m);
			packet_free(&m);
			break;
		}
		case H_DEADLINE:
			trace(s, "op %llu: deadline", (unsigned long long)due->id);
			coord_tick(&due->co, s->now_ms);
			op_run(s, due);
			break;
		case H_CLIENT:
			client_step(s);
			break;
		case H_NET:
			net_change(s);
			break;
		case H_CRASH:
			crash_change(s);
			break;
		case H_HINTS:
			hints_round(s);
			break;
		}
	}
}

/* --- the checks at the end ---------------------------------------------- */

/* Every version of key is in the object (raw, NULL for none) or
 * superseded by one that is. */
static void
check_held(struct rsim *s, uint32_t key, const void *raw, size_t len)
{
	uint32_t vs[RSIM_MAX_SIBLINGS];
	struct object o;
	int n = 0;

	if (raw != NULL) {
		if (object_decode(&o, raw, len) != DKV_OK) {
			fail(s, "key %s: a replica's object does not decode", s->key[key]);
			return;
		}
		n = object_versions(s, key, &o, vs, "after read repair");
		object_free(&o);
		if (n < 0)
			return;
		check_siblings(s, key, vs, (uint32_t)n, "after read repair");
	}
	closure(s, vs, (uint32_t)n, true);
	for (uint32_t v = 0; v < s->nversions && !s->failed; v++) {
		const struct version *ver = &s->versions[v];
		const struct write *w = &s->writes[ver->write];

		if (ver->key == key && !s->mark[v])
			fail(s,
			     "key %s: version %u (write %u \"%s\"%s by peer %u, made at peer %u) "
			     "is lost: "
			     "no replica holds it or a successor",
			     s->key[key], v, ver->write, w->val, w->tombstone ? " tombstone" : "",
			     w->coordinator, ver->peer);
	}
}

static void
check_key_replicas(struct rsim *s, uint32_t key)
{
	void *raw[RSIM_N];
	size_t len[RSIM_N];
	int err[RSIM_N];

	for (uint32_t i = 0; i < RSIM_N; i++)
		err[i] = serve_read(s, s->replicas[key][i], key, &raw[i], &len[i]);
	for (uint32_t i = 1; i < RSIM_N && !s->failed; i++)
		if (err[i] != err[0] || len[i] != len[0] ||
		    (err[0] == DKV_OK && memcmp(raw[i], raw[0], len[0]) != 0))
			fail(s,
			     "key %s: after read repair peer %u holds %s (%zu bytes), peer %u %s "
			     "(%zu bytes)",
			     s->key[key], s->replicas[key][0], dkv_strerror(err[0]), len[0],
			     s->replicas[key][i], dkv_strerror(err[i]), len[i]);
	if (!s->failed && (err[0] == DKV_OK || err[0] == DKV_ENOTFOUND))
		check_held(s, key, err[0] == DKV_OK ? raw[0] : NULL, len[0]);
	else if (!s->failed)
		fail(s, "key %s: reading peer %u: %s", s->key[key], s->replicas[key][0],
		     dkv_strerror(err[0]));
	for (uint32_t i = 0; i < RSIM_N; i++)
		store_free_value(s->peer[s->replicas[key][i]].store, raw[i]);
}

/* --- life --------------------------------------------------------------- */

/* Each key's replicas: RSIM_N peers from a ring of random tokens. */
static int
place_keys(struct rsim *s)
{
	struct token tokens[RSIM_PEERS][RSIM_VNODES];
	struct ring_peer rp[RSIM_PEERS];
	struct replication rep;
	struct ring ring;
	int err;

	memset(rp, 0, sizeof(rp));
	for (uint32_t p = 0; p < RSIM_PEERS; p++) {
		for (uint32_t t = 0; t < RSIM_VNODES; t++) {
			tokens[p][t].hi = rsim_rand(s);
			tokens[p][t].lo = rsim_rand(s);
		}
		rp[p].id = s->actor[p];
		strcpy(rp[p].dc, "dc1");
		strcpy(rp[p].rack, "rack1");
		rp[p].ntokens = RSIM_VNODES;
		rp[p].tokens = tokens[p];
	}
	if ((err = ring_build(&ring, rp, RSIM_PEERS)) != DKV_OK)
		return err;
	memset(&rep, 0, sizeof(rep));
	rep.n = RSIM_N;
	for (uint32_t k = 0; k < RSIM_KEYS && err == DKV_OK; k++) {
		struct token t = token_of_key(s->key[k], strlen(s->key[k]));

		if (ring_preference(&ring, t, &rep, s->replicas[k], RSIM_N) != RSIM_N ||
		    ring_fallbacks(&ring, t, s->replicas[k], RSIM_N, s->fallbacks[k],
		                   RSIM_FALLBACKS) != RSIM_FALLBACKS)
			err = DKV_EINVAL;
	}
	ring_free(&ring);
	return err;
}

struct rsim *
rsim_new(uint64_t seed, const struct rsim_config *cfg)
{
	struct rsim *s = calloc(1, sizeof(*s));
	const char *verbose = getenv("SIM_TRACE");

	if (s == NULL)
		return NULL;
	s->seed = seed;
	s->rng = seed;
	s->cfg = *cfg;
	if (s->cfg.max_delay_ms < s->cfg.min_delay_ms)
		s->cfg.max_delay_ms = s->cfg.min_delay_ms;
	s->now_ms = 1000;
	s->one_applier = cfg->blind_only && cfg->partition_ms == 0 && cfg->stale_view_pct == 0;
	s->verbose = verbose != NULL && verbose[0] != '\0' && strcmp(verbose, "0") != 0;
	s->q = calloc(RSIM_MAX_PACKETS, sizeof(*s->q));
	s->writes = calloc(RSIM_MAX_WRITES, sizeof(*s->writes));
	s->versions = calloc(RSIM_MAX_VERSIONS, sizeof(*s->versions));
	s->mark = calloc(RSIM_MAX_VERSIONS, sizeof(*s->mark));
	s->stack = calloc(RSIM_MAX_VERSIONS, sizeof(*s->stack));
	if (s->q == NULL || s->writes == NULL || s->versions == NULL || s->mark == NULL ||
	    s->stack == NULL)
		goto fail;
	for (uint32_t p = 0; p < RSIM_PEERS; p++) {
		struct peer *pe = &s->peer[p];

		snprintf(s->addr[p], sizeof(s->addr[p]), "peer-%u", p);
		if (actor_set(&s->actor[p], s->addr[p], strlen(s->addr[p])) != DKV_OK ||
		    store_mem_open(&pe->store) != DKV_OK)
			goto fail;
		pe->replica.store = pe->store;
		pe->replica.self = s->actor[p];
		pe->replica.mode = CONFLICTS_SIBLINGS;
		pe->replica.max_siblings = RSIM_MAX_SIBLINGS;
		pe->replica.max_object_bytes = 1u << 20;
	}
	for (uint32_t k = 0; k < RSIM_KEYS; k++)
		snprintf(s->key[k], sizeof(s->key[k]), "key-%u", k);
	if (place_keys(s) != DKV_OK)
		goto fail;
	for (uint32_t k = 0; k < RSIM_KEYS; k++)
		trace(s, "%s on peers %u %u %u", s->key[k], s->replicas[k][0], s->replicas[k][1],
		      s->replicas[k][2]);
	s->next_client_ms = s->now_ms;
	s->next_net_ms = s->now_ms + s->cfg.partition_ms;
	return s;
fail:
	rsim_free(s);
	return NULL;
}

void
rsim_free(struct rsim *s)
{
	if (s == NULL)
		return;
	for (uint32_t i = 0; i < RSIM_MAX_OPS; i++)
		if (s->ops[i].used)
			coord_free(&s->ops[i].co);
	for (uint32_t i = 0; i < s->nq; i++)
		packet_free(&s->q[i]);
	for (uint32_t i = 0; i < s->nwrites; i++)
		free(s->writes[i].seen);
	for (uint32_t i = 0; i < s->nversions; i++)
		free(s->versions[i].sup);
	for (uint32_t p = 0; p < RSIM_PEERS; p++)
		store_close(s->peer[p].store);
	free(s->q);
	free(s->writes);
	free(s->versions);
	free(s->mark);
	free(s->stack);
	free(s);
}

void
rsim_run(struct rsim *s, uint64_t duration_ms)
{
	step_until(s, s->now_ms + duration_ms, true);
}

void
rsim_heal(struct rsim *s)
{
	for (uint32_t p = 0; p < RSIM_PEERS; p++) {
		s->peer[p].group = 0;
		s->peer[p].down = false;
	}
	s->cfg.crash_ms = 0;
	s->cfg.loss_pct = 0;
	s->cfg.dup_pct = 0;
	s->cfg.partition_ms = 0;
	s->cfg.stale_view_pct = 0;
	trace(s, "network healed: no partition, loss or duplication");
}

void
rsim_drain(struct rsim *s)
{
	for (uint32_t round = 0; round < RSIM_DRAIN_ROUNDS && !s->failed; round++) {
		if (s->nq == 0 && ops_alive(s) == 0)
			return;
		step_until(s, s->now_ms + 1000, false);
	}
	if (!s->failed)
		fail(s, "still %u messages and %u coordinators in flight after draining", s->nq,
		     ops_alive(s));
}

/* Once every hint is delivered: each acknowledged write is held, or
 * superseded, by at least as many of its replicas as its level counted,
 * fallbacks' hints included (they have reached their replicas now). */
static void
check_durable(struct rsim *s)
{
	uint8_t *held = calloc(s->nwrites ? s->nwrites : 1, 1);

	if (held == NULL)
		abort();
	for (uint32_t k = 0; k < RSIM_KEYS && !s->failed; k++) {
		memset(held, 0, s->nwrites ? s->nwrites : 1);
		for (uint32_t i = 0; i < RSIM_N && !s->failed; i++) {
			uint32_t vs[RSIM_MAX_SIBLINGS];
			struct object o;
			void *raw = NULL;
			size_t len;
			int n;

			if (serve_read(s, s->replicas[k][i], k, &raw, &len) != DKV_OK)
				continue;
			if (object_decode(&o, raw, len) != DKV_OK) {
				fail(s, "key %s: a replica's object does not decode", s->key[k]);
				store_free_value(s->peer[s->replicas[k][i]].store, raw);
				break;
			}
			n = object_versions(s, k, &o, vs, "after the hints");
			object_free(&o);
			store_free_value(s->peer[s->replicas[k][i]].store, raw);
			if (n < 0)
				break;
			closure(s, vs, (uint32_t)n, true);
			for (uint32_t w = 0; w < s->nwrites; w++)
				if (s->writes[w].key == k && s->writes[w].version != RSIM_NONE &&
				    s->mark[s->writes[w].version])
					held[w]++;
		}
		for (uint32_t w = 0; w < s->nwrites && !s->failed; w++) {
			const struct write *wr = &s->writes[w];

			if (wr->key == k && wr->acked && held[w] < level_count(wr->level))
				fail(s,
				     "write %u (\"%s\" at %s by peer %u%s) is held by %u of its "
				     "replicas once every hint is delivered",
				     w, wr->val, level_name(wr->level), wr->coordinator,
				     wr->sloppy ? ", through a hint" : "", held[w]);
		}
	}
	free(held);
}

void
rsim_deliver_hints(struct rsim *s)
{
	for (uint32_t round = 0; round < RSIM_DRAIN_ROUNDS && !s->failed; round++) {
		step_until(s, s->now_ms + 1000, false);
		if (hints_round(s) == 0 && s->nq == 0 && ops_alive(s) == 0) {
			s->hints_settled = true;
			trace(s, "every hint delivered");
			check_durable(s);
			return;
		}
	}
	if (!s->failed)
		fail(s, "hints still held after %u s of healed network", RSIM_DRAIN_ROUNDS);
}

/* Sends peer a's object for key to peer b (nothing when a holds none). */
static void
ae_send(struct rsim *s, uint32_t a, uint32_t b, uint32_t key, const void *raw, size_t len,
        bool syncback)
{
	struct packet m;

	if (raw == NULL)
		return;
	memset(&m, 0, sizeof(m));
	m.type = PK_STORE;
	m.from = a;
	m.to = b;
	m.op_slot = RSIM_MAX_OPS;
	m.key = key;
	m.write = RSIM_NONE;
	m.version = RSIM_NONE;
	m.data = dup_bytes(raw, len);
	m.len = len;
	m.syncback = syncback;
	s->stats.ae_objects++;
	net_send(s, &m);
}

static uint64_t
entry_hash(const struct rsim *s, uint32_t key, const void *raw, size_t len)
{
	const char *k = s->key[key];

	return raw == NULL ? 0 : merkle_entry_hash(k, strlen(k), raw, len).a;
}

/* A STORE with sync-back was merged at m->to: send the merge back to
 * m->from if it differs from what came (lib/ae.c's on_objs). */
static void
ae_sync_back(struct rsim *s, const struct packet *m)
{
	void *raw;
	size_t len;

	if (serve_read(s, m->to, m->key, &raw, &len) != DKV_OK)
		return;
	if (entry_hash(s, m->key, raw, len) != entry_hash(s, m->key, m->data, m->len))
		ae_send(s, m->to, m->from, m->key, raw, len, false);
	store_free_value(s->peer[m->to].store, raw);
}

/* Tags are cut to this many values, so that keys share tags in almost
 * every exchange and keydiff's shared-tag rule runs as often as the
 * others (lib/ae.c uses 32 bits, and a new salt per exchange). */
#define AE_SIM_TAGS 8

/* One exchange between peers a and b over the keys both replicate, as
 * lib/ae.c runs it at the leaves: a lists its entries, b (with keydiff)
 * sends and asks, a sends what was asked. */
struct ae_pair {
	struct rsim *s;
	uint32_t a, b;
	uint32_t keys[RSIM_KEYS]; /* by entry index */
	void *raw[2][RSIM_KEYS];  /* [0]: a's objects, [1]: b's */
	size_t len[2][RSIM_KEYS];
	uint32_t tag[RSIM_KEYS];
	uint32_t n;
};

static void
pair_send(void *arg, uint32_t idx, bool syncback)
{
	struct ae_pair *p = arg;

	ae_send(p->s, p->b, p->a, p->keys[idx], p->raw[1][idx], p->len[1][idx], syncback);
}

static void
pair_want(void *arg, uint32_t tag, bool syncback)
{
	struct ae_pair *p = arg;

	for (uint32_t i = 0; i < p->n; i++)
		if (p->raw[0][i] != NULL && p->tag[i] == tag)
			ae_send(p->s, p->a, p->b, p->keys[i], p->raw[0][i], p->len[0][i], syncback);
}

static bool
replicates(const struct rsim *s, uint32_t peer, uint32_t key)
{
	for (uint32_t i = 0; i < RSIM_N; i++)
		if (s->replicas[key][i] == peer)
			return true;
	return false;
}

/* Runs the exchange of a and b; returns how many keys they held
 * differently. */
static uint32_t
ae_exchange(struct rsim *s, uint32_t a, uint32_t b, uint32_t salt)
{
	struct ae_pair *p = calloc(1, sizeof(*p));
	struct keydiff_entry *theirs, *mine;
	struct keydiff_ops ops = {pair_send, pair_want, p};
	uint32_t nt = 0, nm = 0, differing = 0;

	theirs = calloc(RSIM_KEYS, sizeof(*theirs));
	mine = calloc(RSIM_KEYS, sizeof(*mine));
	if (p == NULL || theirs == NULL || mine == NULL)
		abort();
	p->s = s;
	p->a = a;
	p->b = b;
	for (uint32_t k = 0; k < RSIM_KEYS; k++) {
		const char *key = s->key[k];
		uint32_t i = p->n;
		uint64_t h[2];

		if (!replicates(s, a, k) || !replicates(s, b, k))
			continue;
		p->keys[i] = k;
		p->tag[i] = merkle_key_tag(key, strlen(key), salt) % AE_SIM_TAGS;
		for (int side = 0; side < 2; side++) {
			if (serve_read(s, side == 0 ? a : b, k, &p->raw[side][i], &p->len[side][i]) !=
			    DKV_OK)
				p->raw[side][i] = NULL;
			h[side] = entry_hash(s, k, p->raw[side][i], p->len[side][i]);
		}
		differing += h[0] != h[1];
		if (p->raw[0][i] != NULL)
			theirs[nt++] = (struct keydiff_entry){
			    p->tag[i], i, h[0], object_vv_sum(p->raw[0][i], p->len[0][i])};
		if (p->raw[1][i] != NULL)
			mine[nm++] = (struct keydiff_entry){p->tag[i], i, h[1],
			                                    object_vv_sum(p->raw[1][i], p->len[1][i])};
		p->n++;
	}
	if (differing > 0) {
		s->stats.ae_exchanges++;
		keydiff(mine, nm, theirs, nt, &ops);
	}
	for (uint32_t i = 0; i < p->n; i++) {
		store_free_value(s->peer[a].store, p->raw[0][i]);
		store_free_value(s->peer[b].store, p->raw[1][i]);
	}
	free(theirs);
	free(mine);
	free(p);
	return differing;
}

/* Rounds of exchanges between every pair of peers, as passes do, until
 * every pair agrees on every key both replicate. What moves is decided by
 * keydiff (lib/core/keydiff.c), the same code as lib/ae.c's; the Merkle
 * descent that finds the differing leaves is left out (every key is in
 * one leaf), and so is batching. */
void
rsim_anti_entropy(struct rsim *s)
{
	for (uint32_t round = 0; round < AE_ROUNDS && !s->failed; round++) {
		uint32_t differing = 0;

		for (uint32_t a = 0; a < RSIM_PEERS; a++)
			for (uint32_t b = a + 1; b < RSIM_PEERS; b++) {
				differing += ae_exchange(s, a, b, round * RSIM_PEERS * RSIM_PEERS +
				                                      a * RSIM_PEERS + b);
				rsim_drain(s);
			}
		trace(s, "anti-entropy round %u: %u keys differed", round, differing);
		if (differing == 0)
			return;
	}
	if (!s->failed)
		fail(s, "replicas still differ after %u anti-entropy rounds", AE_ROUNDS);
}

void
rsim_read_every_key(struct rsim *s, dkv_consistency_t level)
{
	s->final_answered = 0;
	for (uint32_t k = 0; k < RSIM_KEYS && !s->failed; k++)
		start_get(s, below(s, RSIM_PEERS), k, TASK_GET, level, true);
	rsim_drain(s);
	if (!s->failed && s->final_answered != RSIM_KEYS)
		fail(s, "%u of %u final %s reads were answered", s->final_answered, RSIM_KEYS,
		     level_name(level));
}

void
rsim_check_replicas(struct rsim *s)
{
	for (uint32_t k = 0; k < RSIM_KEYS && !s->failed; k++)
		check_key_replicas(s, k);
}

bool
rsim_failed(const struct rsim *s, const char **why)
{
	*why = s->why;
	return s->failed;
}

void
rsim_dump_trace(const struct rsim *s, FILE *f)
{
	uint64_t first = s->ntrace > RSIM_TRACE_LINES ? s->ntrace - RSIM_TRACE_LINES : 0;

	for (uint64_t i = first; i < s->ntrace; i++)
		fprintf(f, "  %s\n", s->trace[i % RSIM_TRACE_LINES]);
}

const struct rsim_stats *
rsim_stats(const struct rsim *s)
{
	return &s->stats;
}
