/*
 * Range moves (lib/core/moves.h): the ranges cut from two rings and their
 * replicas in each, the gains and served plans of a joiner and a leaver,
 * and the state of the moves (requests due, in flight, resent, applied,
 * refused, settled, kept across a re-plan, and served pairs marked done).
 */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "libdkv/dkv.h"
#include "core/moves.h"
#include "core/ring.h"
#include "util/alloc.h"
#include "unit.h"

#define MAXP 8
#define MAXV 16
#define MAXR 512

/* --- rings ---------------------------------------------------------------- */

struct cluster {
	uint32_t n;
	struct ring_peer peers[MAXP];
	struct actor ids[MAXP];
	struct token tokens[MAXP][MAXV];
};

static void
add_peer(struct cluster *c, uint32_t vnodes, uint64_t seed)
{
	struct ring r;
	char id[32];
	struct ring_peer *p = &c->peers[c->n];

	ck_assert_uint_le(vnodes, MAXV);
	snprintf(id, sizeof(id), "peer-%u", c->n);
	p->id = mk_actor(id);
	c->ids[c->n] = p->id;
	strcpy(p->dc, "dc1");
	strcpy(p->rack, "rack1");
	ck_assert_int_eq(ring_build(&r, c->peers, c->n), DKV_OK);
	ck_assert_int_eq(ring_allocate_tokens(&r, vnodes, seed, c->tokens[c->n]), DKV_OK);
	ring_free(&r);
	p->ntokens = vnodes;
	p->tokens = c->tokens[c->n];
	c->n++;
}

static struct replication
rep_n(uint32_t n)
{
	struct replication rep;

	memset(&rep, 0, sizeof(rep));
	rep.n = n;
	rep.ndcs = 0;
	return rep;
}

static struct token
tok(uint64_t v)
{
	struct token t = {0, v};

	return t;
}

static bool
tok_eq(struct token a, struct token b)
{
	return token_cmp(a, b) == 0;
}

/* Whether (lo, hi] lies within (a, b]; neither is the whole ring. */
static bool
within(struct token lo, struct token hi, struct token a, struct token b)
{
	token_u128 d1 = token_to_u128(lo) - token_to_u128(a);
	token_u128 d2 = token_to_u128(hi) - token_to_u128(a);
	token_u128 db = token_to_u128(b) - token_to_u128(a);

	return d1 < d2 && d2 <= db;
}

static bool
has_id(const struct actor *set, uint32_t n, const struct actor *id)
{
	for (uint32_t i = 0; i < n; i++)
		if (actor_eq(&set[i], id))
			return true;
	return false;
}

/* What moves_each passed, range by range. */
struct rng {
	struct token lo, hi;
	uint32_t ncur, nnext;
	struct actor cur[RING_MAX_REPLICAS], next[RING_MAX_REPLICAS];
};

struct collect {
	uint32_t n;
	struct rng r[MAXR];
};

static void
collect_fn(struct token lo, struct token hi, const struct actor *cur, uint32_t ncur,
           const struct actor *next, uint32_t nnext, void *arg)
{
	struct collect *c = arg;
	struct rng *r;

	ck_assert_uint_lt(c->n, MAXR);
	ck_assert_uint_le(ncur, RING_MAX_REPLICAS);
	ck_assert_uint_le(nnext, RING_MAX_REPLICAS);
	r = &c->r[c->n++];
	r->lo = lo;
	r->hi = hi;
	r->ncur = ncur;
	r->nnext = nnext;
	memcpy(r->cur, cur, ncur * sizeof(*cur));
	memcpy(r->next, next, nnext * sizeof(*next));
}

static void
count_fn(struct token lo, struct token hi, const struct actor *cur, uint32_t ncur,
         const struct actor *next, uint32_t nnext, void *arg)
{
	(void)lo;
	(void)hi;
	(void)cur;
	(void)ncur;
	(void)next;
	(void)nnext;
	(*(unsigned *)arg)++;
}

static void
each(const struct ring *cur, const struct actor *cids, const struct ring *next,
     const struct actor *nids, const struct replication *rep, struct collect *out)
{
	out->n = 0;
	ck_assert_int_eq(moves_each(cur, cids, next, nids, rep, collect_fn, out), DKV_OK);
}

/* The replicas ring_preference gives at t, as ids. */
static uint32_t
pref_ids(const struct ring *r, const struct actor *ids, const struct replication *rep,
         struct token t, struct actor *out)
{
	uint32_t idx[RING_MAX_REPLICAS], n = ring_preference(r, t, rep, idx, RING_MAX_REPLICAS);

	for (uint32_t i = 0; i < n; i++)
		out[i] = ids[idx[i]];
	return n;
}

static void
assert_same_list(const struct actor *a, uint32_t na, const struct actor *b, uint32_t nb)
{
	ck_assert_uint_eq(na, nb);
	for (uint32_t i = 0; i < na; i++)
		ck_assert_msg(actor_eq(&a[i], &b[i]), "replica %u differs", i);
}

static int
tok_qcmp(const void *a, const void *b)
{
	return token_cmp(*(const struct token *)a, *(const struct token *)b);
}

/* The ranges are consecutive, cover the ring once, and are cut at exactly
 * the union of both rings' tokens; each range's replicas are what
 * ring_preference gives at its hi (and anywhere inside it) in each ring. */
static void
check_cover(const struct collect *c, const struct ring *cur, const struct actor *cids,
            const struct ring *next, const struct actor *nids, const struct replication *rep)
{
	static struct token u[2 * MAXP * MAXV];
	struct actor want[RING_MAX_REPLICAS];
	uint32_t nu = 0, k = 0;

	for (uint32_t i = 0; i < cur->n; i++)
		u[nu++] = cur->entries[i].token;
	for (uint32_t i = 0; i < next->n; i++)
		u[nu++] = next->entries[i].token;
	qsort(u, nu, sizeof(u[0]), tok_qcmp);
	for (uint32_t i = 0; i < nu; i++)
		if (k == 0 || !tok_eq(u[k - 1], u[i]))
			u[k++] = u[i];
	ck_assert_uint_ge(k, 2); /* the single-token case is tested apart */
	ck_assert_uint_eq(c->n, k);
	for (uint32_t i = 0; i < c->n; i++) {
		const struct rng *r = &c->r[i];
		struct token mid = token_from_u128(
		        token_to_u128(r->lo) + (token_to_u128(r->hi) - token_to_u128(r->lo)) / 2 + 1);
		struct token after_lo = token_from_u128(token_to_u128(r->lo) + 1);

		ck_assert(!tok_eq(r->lo, r->hi));
		ck_assert_msg(tok_eq(r->lo, c->r[(i + c->n - 1) % c->n].hi),
		              "range %u does not start where the one before ends", i);
		ck_assert_msg(tok_eq(r->hi, u[i]), "range %u does not end at the %u-th token", i, i);
		/* the replicas at hi, and the same anywhere within (lo, hi] */
		assert_same_list(r->cur, r->ncur, want, pref_ids(cur, cids, rep, r->hi, want));
		assert_same_list(r->next, r->nnext, want, pref_ids(next, nids, rep, r->hi, want));
		assert_same_list(r->cur, r->ncur, want, pref_ids(cur, cids, rep, after_lo, want));
		assert_same_list(r->next, r->nnext, want, pref_ids(next, nids, rep, mid, want));
	}
}

static void
build(struct ring *r, const struct cluster *c, uint32_t npeers)
{
	ck_assert_int_eq(ring_build(r, c->peers, npeers), DKV_OK);
}

/* 3 peers of 4 vnodes, then a 4th joins (index 3). */
static void
joiner_cluster(struct cluster *c)
{
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < 4; i++)
		add_peer(c, 4, 17);
}

/* --- moves_each ----------------------------------------------------------- */

START_TEST(test_each_covers_the_ring_at_the_union_of_tokens)
{
	static struct cluster c;
	static struct collect col;
	struct replication rep = rep_n(3);
	struct ring cur, next;
	uint32_t differ = 0;

	joiner_cluster(&c);
	build(&cur, &c, 3);
	build(&next, &c, 4);
	ck_assert_uint_eq(cur.n, 12);
	ck_assert_uint_eq(next.n, 16);
	each(&cur, c.ids, &next, c.ids, &rep, &col);
	ck_assert_uint_eq(col.n, 16);
	check_cover(&col, &cur, c.ids, &next, c.ids, &rep);
	for (uint32_t i = 0; i < col.n; i++) {
		ck_assert_uint_eq(col.r[i].ncur, 3);
		ck_assert_uint_eq(col.r[i].nnext, 3);
		differ += !has_id(col.r[i].cur, col.r[i].ncur, &c.ids[3]) &&
		          has_id(col.r[i].next, col.r[i].nnext, &c.ids[3]);
	}
	ck_assert_uint_gt(differ, 0);
	/* the other way round (a leaver's view) cuts the ring alike */
	each(&next, c.ids, &cur, c.ids, &rep, &col);
	check_cover(&col, &next, c.ids, &cur, c.ids, &rep);
	ring_free(&cur);
	ring_free(&next);
}
END_TEST

START_TEST(test_each_with_disjoint_tokens_in_each_ring)
{
	/* the two rings share no token: cur holds peers 0-1, next peers 2-3 */
	static struct cluster c;
	static struct collect col;
	struct replication rep = rep_n(2);
	struct ring cur, next;

	joiner_cluster(&c);
	ck_assert_int_eq(ring_build(&cur, c.peers, 2), DKV_OK);
	ck_assert_int_eq(ring_build(&next, c.peers + 2, 2), DKV_OK);
	each(&cur, c.ids, &next, c.ids + 2, &rep, &col);
	ck_assert_uint_eq(col.n, 16);
	check_cover(&col, &cur, c.ids, &next, c.ids + 2, &rep);
	for (uint32_t i = 0; i < col.n; i++) {
		ck_assert(!has_id(col.r[i].cur, col.r[i].ncur, &c.ids[2]));
		ck_assert(!has_id(col.r[i].next, col.r[i].nnext, &c.ids[0]));
	}
	ring_free(&cur);
	ring_free(&next);
}
END_TEST

START_TEST(test_each_cuts_a_single_token_in_two_halves)
{
	struct token t = {0x8000000000000000ull, 5};
	struct ring_peer p;
	struct actor id = mk_actor("solo");
	struct replication rep = rep_n(3);
	struct collect *col = calloc(1, sizeof(*col));
	struct ring r;
	token_u128 half = (token_u128)1 << 127;

	ck_assert_ptr_nonnull(col);
	memset(&p, 0, sizeof(p));
	p.id = id;
	strcpy(p.dc, "dc1");
	strcpy(p.rack, "r1");
	p.ntokens = 1;
	p.tokens = &t;
	ck_assert_int_eq(ring_build(&r, &p, 1), DKV_OK);
	ck_assert_uint_eq(r.n, 1);
	each(&r, &id, &r, &id, &rep, col);
	ck_assert_uint_eq(col->n, 2);
	for (uint32_t i = 0; i < 2; i++) {
		const struct rng *x = &col->r[i];

		ck_assert_msg(!tok_eq(x->lo, x->hi), "range %u is (t, t]", i);
		ck_assert(tok_eq(x->lo, col->r[1 - i].hi));
		ck_assert(token_to_u128(x->hi) - token_to_u128(x->lo) == half);
		ck_assert_uint_eq(x->ncur, 1);
		ck_assert_uint_eq(x->nnext, 1);
		ck_assert(actor_eq(&x->cur[0], &id));
		ck_assert(actor_eq(&x->next[0], &id));
	}
	/* one of the halves ends at the token itself, the other opposite it */
	ck_assert(tok_eq(col->r[0].hi, t) || tok_eq(col->r[1].hi, t));
	ck_assert(tok_eq(col->r[0].hi, token_from_u128(token_to_u128(t) + half)) ||
	          tok_eq(col->r[1].hi, token_from_u128(token_to_u128(t) + half)));
	ck_assert(token_cmp(col->r[0].hi, col->r[1].hi) < 0);
	ring_free(&r);
	free(col);
}
END_TEST

START_TEST(test_each_cuts_a_single_token_near_the_top_in_halves)
{
	/* t + 2^127 wraps past zero: still two halves, in ring order */
	struct token t = {UINT64_MAX, UINT64_MAX - 3};
	struct ring_peer p;
	struct actor id = mk_actor("solo");
	struct replication rep = rep_n(1);
	struct collect *col = calloc(1, sizeof(*col));
	struct ring r;

	ck_assert_ptr_nonnull(col);
	memset(&p, 0, sizeof(p));
	p.id = id;
	p.ntokens = 1;
	p.tokens = &t;
	ck_assert_int_eq(ring_build(&r, &p, 1), DKV_OK);
	each(&r, &id, &r, &id, &rep, col);
	ck_assert_uint_eq(col->n, 2);
	ck_assert(!tok_eq(col->r[0].lo, col->r[0].hi));
	ck_assert(!tok_eq(col->r[1].lo, col->r[1].hi));
	ck_assert(tok_eq(col->r[0].lo, col->r[1].hi));
	ck_assert(tok_eq(col->r[1].lo, col->r[0].hi));
	ck_assert(tok_eq(col->r[1].hi, t));
	ring_free(&r);
	free(col);
}
END_TEST

START_TEST(test_each_calls_nothing_for_an_empty_ring)
{
	static struct cluster c;
	struct replication rep = rep_n(3);
	struct ring empty, full;
	struct move *plan = (struct move *)&plan;
	uint32_t n = 99;
	unsigned calls = 0;

	joiner_cluster(&c);
	ck_assert_int_eq(ring_build(&empty, c.peers, 0), DKV_OK);
	ck_assert_uint_eq(empty.n, 0);
	build(&full, &c, 3);
	ck_assert_int_eq(moves_each(&empty, c.ids, &full, c.ids, &rep, count_fn, &calls), DKV_OK);
	ck_assert_int_eq(moves_each(&full, c.ids, &empty, c.ids, &rep, count_fn, &calls), DKV_OK);
	ck_assert_int_eq(moves_each(&empty, c.ids, &empty, c.ids, &rep, count_fn, &calls), DKV_OK);
	ck_assert_uint_eq(calls, 0);
	/* and so the plans are empty */
	ck_assert_int_eq(moves_plan_gains(&empty, c.ids, &full, c.ids, &rep, &c.ids[0], &plan, &n),
	                 DKV_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(plan);
	n = 99;
	ck_assert_int_eq(moves_plan_served(&full, c.ids, &empty, c.ids, &rep, &c.ids[0], &plan, &n),
	                 DKV_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(plan);
	ring_free(&empty);
	ring_free(&full);
}
END_TEST

START_TEST(test_each_and_plans_report_enomem)
{
	static struct cluster c;
	struct replication rep = rep_n(3);
	struct ring cur, next;
	struct move *plan = NULL;
	uint32_t n = 0;
	unsigned calls = 0;

	joiner_cluster(&c);
	build(&cur, &c, 3);
	build(&next, &c, 4);
	mem_fail_after(1, 0);
	ck_assert_int_eq(moves_each(&cur, c.ids, &next, c.ids, &rep, count_fn, &calls), DKV_ENOMEM);
	mem_fail_after(0, 0);
	ck_assert_uint_eq(calls, 0);
	/* the plan's own array failing: nothing returned, nothing leaked */
	mem_fail_after(2, 1);
	ck_assert_int_eq(moves_plan_gains(&cur, c.ids, &next, c.ids, &rep, &c.ids[3], &plan, &n),
	                 DKV_ENOMEM);
	mem_fail_after(0, 0);
	ck_assert_ptr_null(plan);
	ck_assert_uint_eq(n, 0);
	ring_free(&cur);
	ring_free(&next);
}
END_TEST

/* --- gains ---------------------------------------------------------------- */

static bool
same_srcs(const struct move *m, const struct actor *ids, uint32_t n)
{
	if (m->nsrc != n)
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!actor_eq(&m->src[i].id, &ids[i]))
			return false;
	return true;
}

/* Each move of the gains plan is a run of consecutive ranges that self
 * gains, all from the same sources (the current replicas), never the
 * whole ring; every range self gains is in exactly one move. Returns how
 * many ranges self gains. */
static uint32_t
check_gains(const struct collect *col, const struct actor *self, const struct move *m, uint32_t n)
{
	uint32_t covered[MAXR], gains = 0;

	memset(covered, 0, sizeof(covered));
	for (uint32_t i = 0; i < n; i++) {
		uint32_t j = 0, steps = 0;

		ck_assert_msg(!tok_eq(m[i].lo, m[i].hi), "move %u is the whole ring", i);
		ck_assert(!m[i].done);
		while (j < col->n && !tok_eq(col->r[j].lo, m[i].lo))
			j++;
		ck_assert_msg(j < col->n, "move %u does not start at a boundary", i);
		for (;;) {
			const struct rng *r = &col->r[j];

			ck_assert_msg(has_id(r->next, r->nnext, self) && !has_id(r->cur, r->ncur, self),
			              "move %u holds a range self does not gain", i);
			ck_assert_msg(same_srcs(&m[i], r->cur, r->ncur),
			              "move %u: sources are not the current replicas", i);
			covered[j]++;
			if (tok_eq(r->hi, m[i].hi))
				break;
			j = (j + 1) % col->n;
			ck_assert_uint_lt(++steps, col->n);
		}
		for (uint32_t k = 0; k < m[i].nsrc; k++) {
			ck_assert_uint_eq(m[i].src[k].state, MOVE_IDLE);
			ck_assert(!m[i].src[k].has_cursor);
			ck_assert_ptr_null(m[i].src[k].cur_key);
		}
	}
	for (uint32_t j = 0; j < col->n; j++) {
		const struct rng *r = &col->r[j];
		bool gain = has_id(r->next, r->nnext, self) && !has_id(r->cur, r->ncur, self);

		ck_assert_uint_eq(covered[j], gain ? 1 : 0);
		gains += gain;
	}
	return gains;
}

START_TEST(test_a_joiner_gains_what_it_replicates_in_the_pending_ring)
{
	static struct cluster c;
	static struct collect col;
	struct replication rep = rep_n(3);
	struct ring cur, next;
	struct move *plan;
	uint32_t n, gains;
	struct moves mv;

	joiner_cluster(&c);
	build(&cur, &c, 3);
	build(&next, &c, 4);
	each(&cur, c.ids, &next, c.ids, &rep, &col);
	ck_assert_int_eq(moves_plan_gains(&cur, c.ids, &next, c.ids, &rep, &c.ids[3], &plan, &n),
	                 DKV_OK);
	gains = check_gains(&col, &c.ids[3], plan, n);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_gt(gains, 0);
	ck_assert_uint_le(n, gains);
	for (uint32_t i = 0; i < n; i++)
		ck_assert_uint_eq(plan[i].nsrc, 3);
	/* moves_set takes the plan */
	moves_init(&mv);
	moves_set(&mv, plan, n);
	ck_assert_uint_eq(mv.n, n);
	moves_free(&mv);
	ring_free(&cur);
	ring_free(&next);
}
END_TEST

START_TEST(test_existing_peers_gain_nothing_when_a_fourth_joins)
{
	static struct cluster c;
	struct replication rep = rep_n(3);
	struct ring cur, next;

	joiner_cluster(&c);
	build(&cur, &c, 3);
	build(&next, &c, 4);
	for (uint32_t p = 0; p < 3; p++) {
		struct move *plan = (struct move *)&plan;
		uint32_t n = 99;

		ck_assert_int_eq(
		        moves_plan_gains(&cur, c.ids, &next, c.ids, &rep, &c.ids[p], &plan, &n), DKV_OK);
		ck_assert_uint_eq(n, 0);
		mem_free(plan);
	}
	ring_free(&cur);
	ring_free(&next);
}
END_TEST

START_TEST(test_gains_from_one_source_everywhere_are_never_the_whole_ring)
{
	/* cur: peer 0 alone; next: peers 0 and 1 with n=3. Peer 1 gains every
	 * range, always from peer 0: coalesced, but never into (t, t]. */
	static struct cluster c;
	static struct collect col;
	struct replication rep = rep_n(3);
	struct ring cur, next;
	struct move *plan;
	uint32_t n, gains;

	joiner_cluster(&c);
	build(&cur, &c, 1);
	build(&next, &c, 2);
	each(&cur, c.ids, &next, c.ids, &rep, &col);
	ck_assert_int_eq(moves_plan_gains(&cur, c.ids, &next, c.ids, &rep, &c.ids[1], &plan, &n),
	                 DKV_OK);
	gains = check_gains(&col, &c.ids[1], plan, n);
	ck_assert_uint_eq(gains, col.n);
	ck_assert_uint_ge(n, 2);
	ck_assert_uint_lt(n, gains); /* coalesced */
	for (uint32_t i = 0; i < n; i++) {
		ck_assert_uint_eq(plan[i].nsrc, 1);
		ck_assert(actor_eq(&plan[i].src[0].id, &c.ids[0]));
	}
	mem_free(plan);
	ring_free(&cur);
	ring_free(&next);
}
END_TEST

START_TEST(test_gains_of_a_single_shared_token_are_two_halves)
{
	/* the same single token held by peer a (cur) then by peer b (next) */
	struct token t = {42, 42};
	struct ring_peer pa, pb;
	struct actor a = mk_actor("a"), b = mk_actor("b");
	struct replication rep = rep_n(3);
	struct ring cur, next;
	struct move *plan;
	uint32_t n;

	memset(&pa, 0, sizeof(pa));
	memset(&pb, 0, sizeof(pb));
	pa.id = a;
	pb.id = b;
	pa.ntokens = pb.ntokens = 1;
	pa.tokens = pb.tokens = &t;
	ck_assert_int_eq(ring_build(&cur, &pa, 1), DKV_OK);
	ck_assert_int_eq(ring_build(&next, &pb, 1), DKV_OK);
	ck_assert_int_eq(moves_plan_gains(&cur, &a, &next, &b, &rep, &b, &plan, &n), DKV_OK);
	ck_assert_uint_eq(n, 2);
	for (uint32_t i = 0; i < n; i++) {
		ck_assert(!tok_eq(plan[i].lo, plan[i].hi));
		ck_assert(tok_eq(plan[i].lo, plan[1 - i].hi));
		ck_assert_uint_eq(plan[i].nsrc, 1);
		ck_assert(actor_eq(&plan[i].src[0].id, &a));
	}
	mem_free(plan);
	/* and a hands both halves over to b */
	ck_assert_int_eq(moves_plan_served(&cur, &a, &next, &b, &rep, &a, &plan, &n), DKV_OK);
	ck_assert_uint_eq(n, 2);
	for (uint32_t i = 0; i < n; i++) {
		ck_assert(!tok_eq(plan[i].lo, plan[i].hi));
		ck_assert(actor_eq(&plan[i].src[0].id, &b));
	}
	mem_free(plan);
	ring_free(&cur);
	ring_free(&next);
}
END_TEST

/* --- served --------------------------------------------------------------- */

START_TEST(test_a_leaver_serves_each_range_to_each_gainer)
{
	/* 4 peers now; peer 3 leaves, so the pending ring holds peers 0-2 */
	static struct cluster c;
	static struct collect col;
	struct replication rep = rep_n(3);
	struct ring cur, next;
	struct move *served, *gains[3];
	uint32_t n, ngains[3], want = 0;
	const struct actor *leaver;

	joiner_cluster(&c);
	leaver = &c.ids[3];
	build(&cur, &c, 4);
	build(&next, &c, 3);
	each(&cur, c.ids, &next, c.ids, &rep, &col);
	check_cover(&col, &cur, c.ids, &next, c.ids, &rep);
	ck_assert_int_eq(moves_plan_served(&cur, c.ids, &next, c.ids, &rep, leaver, &served, &n),
	                 DKV_OK);
	for (uint32_t p = 0; p < 3; p++)
		ck_assert_int_eq(moves_plan_gains(&cur, c.ids, &next, c.ids, &rep, &c.ids[p], &gains[p],
		                                  &ngains[p]),
		                 DKV_OK);
	/* the pairs expected: (range, gainer) for each range the leaver holds */
	for (uint32_t j = 0; j < col.n; j++) {
		if (!has_id(col.r[j].cur, col.r[j].ncur, leaver))
			continue;
		ck_assert(!has_id(col.r[j].next, col.r[j].nnext, leaver));
		for (uint32_t g = 0; g < col.r[j].nnext; g++)
			want += !has_id(col.r[j].cur, col.r[j].ncur, &col.r[j].next[g]);
	}
	ck_assert_uint_gt(want, 0);
	ck_assert_uint_eq(n, want);
	for (uint32_t i = 0; i < n; i++) {
		const struct move *m = &served[i];
		const struct rng *r = NULL;
		uint32_t g;
		bool found = false;

		ck_assert_uint_eq(m->nsrc, 1);
		ck_assert(!m->done);
		for (uint32_t j = 0; j < col.n; j++)
			if (tok_eq(col.r[j].lo, m->lo) && tok_eq(col.r[j].hi, m->hi))
				r = &col.r[j];
		ck_assert_msg(r != NULL, "served move %u is not one range", i);
		ck_assert(has_id(r->cur, r->ncur, leaver));
		ck_assert(has_id(r->next, r->nnext, &m->src[0].id));
		ck_assert(!has_id(r->cur, r->ncur, &m->src[0].id));
		/* one move per pair */
		for (uint32_t k = 0; k < i; k++)
			ck_assert(!(tok_eq(served[k].lo, m->lo) &&
			            actor_eq(&served[k].src[0].id, &m->src[0].id)));
		/* the gainer pulls a range holding it, from the leaver among others */
		for (g = 0; g < 3 && !actor_eq(&c.ids[g], &m->src[0].id); g++)
			;
		ck_assert_uint_lt(g, 3);
		for (uint32_t k = 0; k < ngains[g]; k++) {
			const struct move *gm = &gains[g][k];
			struct actor srcs[RING_MAX_REPLICAS];

			for (uint32_t s = 0; s < gm->nsrc; s++)
				srcs[s] = gm->src[s].id;
			if (within(m->lo, m->hi, gm->lo, gm->hi) && has_id(srcs, gm->nsrc, leaver))
				found = true;
		}
		ck_assert_msg(found, "gainer %u has no gain holding served move %u", g, i);
	}
	/* the other peers hold every range now and keep it: they serve the
	 * same gainers in the ranges they share with the leaver, never
	 * themselves */
	for (uint32_t p = 0; p < 3; p++) {
		struct move *s;
		uint32_t ns;

		ck_assert_int_eq(
		        moves_plan_served(&cur, c.ids, &next, c.ids, &rep, &c.ids[p], &s, &ns), DKV_OK);
		for (uint32_t i = 0; i < ns; i++)
			ck_assert(!actor_eq(&s[i].src[0].id, &c.ids[p]));
		mem_free(s);
	}
	/* a peer in no current list (here: outside cur) serves nothing */
	{
		struct move *s = (struct move *)&s;
		uint32_t ns = 99;
		struct ring j3;

		build(&j3, &c, 3);
		ck_assert_int_eq(moves_plan_served(&j3, c.ids, &next, c.ids, &rep, leaver, &s, &ns),
		                 DKV_OK);
		ck_assert_uint_eq(ns, 0);
		mem_free(s);
		ring_free(&j3);
	}
	for (uint32_t p = 0; p < 3; p++)
		mem_free(gains[p]);
	mem_free(served);
	ring_free(&cur);
	ring_free(&next);
}
END_TEST

/* --- state ---------------------------------------------------------------- */

/* A plan allocated as the planners do (moves_set takes it). */
static struct move *
new_plan(uint32_t n)
{
	struct move *m = mem_calloc(n, sizeof(*m));

	ck_assert_ptr_nonnull(m);
	return m;
}

/* Move (lo, hi] with sources named, NULL-terminated. */
static void
set_move(struct move *m, uint64_t lo, uint64_t hi, ...)
{
	va_list ap;
	const char *s;

	memset(m, 0, sizeof(*m));
	m->lo = tok(lo);
	m->hi = tok(hi);
	va_start(ap, hi);
	while ((s = va_arg(ap, const char *)) != NULL)
		m->src[m->nsrc++].id = mk_actor(s);
	va_end(ap);
}

struct down {
	uint32_t n;
	const char *ids[4];
	unsigned asked;
};

static bool
is_up(const struct actor *id, void *arg)
{
	struct down *d = arg;

	if (d == NULL)
		return true;
	d->asked++;
	for (uint32_t i = 0; i < d->n; i++)
		if (id->len == strlen(d->ids[i]) && memcmp(id->id, d->ids[i], id->len) == 0)
			return false;
	return true;
}

static bool
to_is(const struct move_req *r, const char *id)
{
	return r->to.len == strlen(id) && memcmp(r->to.id, id, r->to.len) == 0;
}

static struct move_src *
src_of(struct moves *mv, uint64_t lo, const char *id)
{
	struct actor a = mk_actor(id);

	for (uint32_t i = 0; i < mv->n; i++)
		for (uint32_t k = 0; k < mv->m[i].nsrc; k++)
			if (tok_eq(mv->m[i].lo, tok(lo)) && actor_eq(&mv->m[i].src[k].id, &a))
				return &mv->m[i].src[k];
	return NULL;
}

START_TEST(test_due_keeps_at_most_inflight_requests)
{
	struct moves mv;
	struct move *p = new_plan(12);
	struct move_req req[64];
	uint32_t n;

	moves_init(&mv);
	for (uint32_t i = 0; i < 12; i++)
		set_move(&p[i], 100 * i, 100 * i + 100, "a", "b", NULL);
	moves_set(&mv, p, 12);
	/* max bounds a call */
	n = moves_due(&mv, 1000, is_up, NULL, req, 3);
	ck_assert_uint_eq(n, 3);
	/* then no more than MOVES_INFLIGHT in all */
	n += moves_due(&mv, 1000, is_up, NULL, req + 3, 64 - 3);
	ck_assert_uint_eq(n, MOVES_INFLIGHT);
	ck_assert_uint_eq(moves_due(&mv, 1000, is_up, NULL, req + n, 64 - n), 0);
	for (uint32_t i = 0; i < n; i++) {
		struct token lo, hi;

		ck_assert(!req[i].has_cursor);
		ck_assert(to_is(&req[i], i % 2 == 0 ? "a" : "b"));
		ck_assert(tok_eq(req[i].lo, tok(100 * (i / 2))));
		ck_assert(tok_eq(req[i].hi, tok(100 * (i / 2) + 100)));
		for (uint32_t k = 0; k < i; k++)
			ck_assert(req[k].sid != req[i].sid);
		ck_assert(moves_find(&mv, req[i].sid, &lo, &hi));
		ck_assert(tok_eq(lo, req[i].lo) && tok_eq(hi, req[i].hi));
	}
	/* an answer applied frees a slot: the next request is the same
	 * source's, resuming after the batch's last key */
	ck_assert_int_eq(moves_applied(&mv, req[5].sid, false, tok(250), (const uint8_t *)"key-x", 5),
	                 DKV_OK);
	ck_assert_uint_eq(moves_due(&mv, 1001, is_up, NULL, req + 20, 10), 1);
	ck_assert(to_is(&req[20], "b"));
	ck_assert(tok_eq(req[20].lo, tok(200)));
	ck_assert(req[20].has_cursor);
	ck_assert(tok_eq(req[20].cur_t, tok(250)));
	ck_assert_uint_eq(req[20].cur_klen, 5);
	ck_assert_mem_eq(req[20].cur_key, "key-x", 5);
	ck_assert(req[20].sid != req[5].sid);
	/* one finished: the range after the 16 in flight comes next */
	ck_assert_int_eq(moves_applied(&mv, req[0].sid, true, tok(0), NULL, 0), DKV_OK);
	ck_assert_uint_eq(moves_due(&mv, 1002, is_up, NULL, req + 21, 10), 1);
	ck_assert(tok_eq(req[21].lo, tok(800)));
	ck_assert(to_is(&req[21], "a"));
	moves_free(&mv);
	ck_assert_uint_eq(mv.n, 0);
}
END_TEST

START_TEST(test_due_skips_sources_that_are_down)
{
	struct moves mv;
	struct move *p = new_plan(2);
	struct move_req req[8];
	struct down d = {.n = 1, .ids = {"b"}};
	uint32_t n;

	moves_init(&mv);
	set_move(&p[0], 10, 20, "a", "b", "c", NULL);
	set_move(&p[1], 20, 30, "b", NULL);
	moves_set(&mv, p, 2);
	n = moves_due(&mv, 5, is_up, &d, req, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert(to_is(&req[0], "a"));
	ck_assert(to_is(&req[1], "c"));
	ck_assert_uint_gt(d.asked, 0);
	ck_assert_uint_eq(src_of(&mv, 10, "b")->state, MOVE_IDLE);
	ck_assert_uint_eq(src_of(&mv, 20, "b")->state, MOVE_IDLE);
	/* b back up: both of its requests go */
	d.n = 0;
	n = moves_due(&mv, 6, is_up, &d, req, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert(to_is(&req[0], "b") && to_is(&req[1], "b"));
	ck_assert(tok_eq(req[0].lo, tok(10)) && tok_eq(req[1].lo, tok(20)));
	moves_free(&mv);
}
END_TEST

START_TEST(test_an_unanswered_request_goes_again_after_the_resend_delay)
{
	struct moves mv;
	struct move *p = new_plan(1);
	struct move_req req[4];
	struct token lo, hi;
	uint64_t old;

	moves_init(&mv);
	set_move(&p[0], 10, 20, "a", NULL);
	moves_set(&mv, p, 1);
	ck_assert_uint_eq(moves_due(&mv, 1000, is_up, NULL, req, 4), 1);
	old = req[0].sid;
	ck_assert_uint_eq(src_of(&mv, 10, "a")->state, MOVE_WAIT);
	ck_assert_uint_eq(moves_due(&mv, 1000 + MOVES_RESEND_MS - 1, is_up, NULL, req, 4), 0);
	ck_assert_uint_eq(moves_due(&mv, 1000 + MOVES_RESEND_MS, is_up, NULL, req, 4), 1);
	ck_assert(req[0].sid != old);
	ck_assert(tok_eq(req[0].lo, tok(10)) && tok_eq(req[0].hi, tok(20)));
	/* the first request is stale now */
	ck_assert(!moves_find(&mv, old, &lo, &hi));
	ck_assert_int_eq(moves_applied(&mv, old, true, tok(0), NULL, 0), DKV_ENOTFOUND);
	ck_assert_uint_eq(src_of(&mv, 10, "a")->state, MOVE_WAIT);
	ck_assert(moves_find(&mv, req[0].sid, &lo, &hi));
	ck_assert(tok_eq(lo, tok(10)) && tok_eq(hi, tok(20)));
	moves_free(&mv);
}
END_TEST

START_TEST(test_timed_out_requests_leave_room_for_others)
{
	struct moves mv;
	struct move *p = new_plan(MOVES_INFLIGHT + 1);
	struct move_req req[MOVES_INFLIGHT + 1];

	moves_init(&mv);
	/* two sources, so that the cap per source does not bind first */
	for (uint32_t i = 0; i <= MOVES_INFLIGHT; i++)
		set_move(&p[i], 10 * i, 10 * i + 10, i % 2 ? "b" : "a", NULL);
	moves_set(&mv, p, MOVES_INFLIGHT + 1);
	ck_assert_uint_eq(moves_due(&mv, 0, is_up, NULL, req, MOVES_INFLIGHT + 1), MOVES_INFLIGHT);
	ck_assert_uint_eq(moves_due(&mv, 1, is_up, NULL, req, MOVES_INFLIGHT + 1), 0);
	/* all timed out: still at most MOVES_INFLIGHT at once */
	ck_assert_uint_eq(moves_due(&mv, MOVES_RESEND_MS, is_up, NULL, req, MOVES_INFLIGHT + 1),
	                  MOVES_INFLIGHT);
	moves_free(&mv);
}
END_TEST

/* One source gets at most MOVES_PER_SOURCE requests at once: its answers
 * must fit its link's send queue. */
START_TEST(test_one_source_gets_at_most_its_share)
{
	struct moves mv;
	struct move *p = new_plan(MOVES_INFLIGHT);
	struct move_req req[MOVES_INFLIGHT];

	moves_init(&mv);
	for (uint32_t i = 0; i < MOVES_INFLIGHT; i++)
		set_move(&p[i], 10 * i, 10 * i + 10, "a", NULL);
	moves_set(&mv, p, MOVES_INFLIGHT);
	ck_assert_uint_eq(moves_due(&mv, 0, is_up, NULL, req, MOVES_INFLIGHT), MOVES_PER_SOURCE);
	ck_assert_uint_eq(moves_due(&mv, 1, is_up, NULL, req, MOVES_INFLIGHT), 0);
	ck_assert_ptr_nonnull(moves_source_of(&mv, req[0].sid));
	ck_assert(actor_eq(moves_source_of(&mv, req[0].sid), &mv.m[0].src[0].id));
	ck_assert_ptr_null(moves_source_of(&mv, req[0].sid + 1000));
	/* one answer frees one slot for that source */
	ck_assert_int_eq(moves_applied(&mv, req[0].sid, true, tok(0), NULL, 0), DKV_OK);
	ck_assert_uint_eq(moves_due(&mv, 2, is_up, NULL, req, MOVES_INFLIGHT), 1);
	moves_free(&mv);
}
END_TEST

/* With write_w set, a range needs nsrc + 1 - w sources done before the
 * others' being down lets it finish: a write acknowledged at w is on one
 * of them. */
START_TEST(test_settle_covers_the_write_level)
{
	struct moves mv;
	struct move *p = new_plan(1);
	struct move_req req[4];
	struct down d = {2, {"b", "c"}, 0};

	moves_init(&mv);
	mv.write_w = 2;
	set_move(&p[0], 10, 20, "a", "b", "c", NULL);
	moves_set(&mv, p, 1);
	ck_assert_uint_eq(moves_due(&mv, 0, is_up, NULL, req, 4), 3);
	ck_assert_int_eq(moves_applied(&mv, req[0].sid, true, tok(0), NULL, 0), DKV_OK);
	/* a done, b and c down: one of three is not enough at w = 2 */
	ck_assert(!moves_settle(&mv, is_up, &d));
	/* b done too: two of three, c down */
	ck_assert_int_eq(moves_applied(&mv, req[1].sid, true, tok(0), NULL, 0), DKV_OK);
	d.n = 1;
	d.ids[0] = "c";
	ck_assert(moves_settle(&mv, is_up, &d));
	moves_free(&mv);
}
END_TEST

/* A source that restarted is asked again from its last cursor, and the
 * range stays done meanwhile. */
START_TEST(test_a_source_back_is_asked_again_from_its_cursor)
{
	struct moves mv;
	struct move *p = new_plan(1);
	struct move_req req[4];
	struct actor a = mk_actor("a");

	moves_init(&mv);
	set_move(&p[0], 10, 20, "a", NULL);
	moves_set(&mv, p, 1);
	ck_assert_uint_eq(moves_due(&mv, 0, is_up, NULL, req, 4), 1);
	ck_assert_int_eq(moves_applied(&mv, req[0].sid, false, tok(15), (const uint8_t *)"k15", 3),
	                 DKV_OK);
	ck_assert_uint_eq(moves_due(&mv, 1, is_up, NULL, req, 4), 1);
	ck_assert_int_eq(moves_applied(&mv, req[0].sid, true, tok(0), NULL, 0), DKV_OK);
	ck_assert(moves_settle(&mv, is_up, NULL));
	ck_assert_uint_eq(moves_due(&mv, 2, is_up, NULL, req, 4), 0);
	moves_reset_source(&mv, &a);
	ck_assert(moves_settle(&mv, is_up, NULL)); /* still done */
	ck_assert_uint_eq(moves_due(&mv, 3, is_up, NULL, req, 4), 1);
	ck_assert(req[0].has_cursor && tok_eq(req[0].cur_t, tok(15)));
	ck_assert_mem_eq(req[0].cur_key, "k15", 3);
	moves_free(&mv);
}
END_TEST

START_TEST(test_applied_moves_the_cursor_and_last_finishes_the_source)
{
	struct moves mv;
	struct move *p = new_plan(1);
	struct move_req req[4];
	struct move_src *a, *b;
	struct token lo, hi;
	uint32_t done, total;

	moves_init(&mv);
	set_move(&p[0], 10, 20, "a", "b", NULL);
	moves_set(&mv, p, 1);
	ck_assert_uint_eq(moves_due(&mv, 0, is_up, NULL, req, 4), 2);
	a = src_of(&mv, 10, "a");
	b = src_of(&mv, 10, "b");
	/* a: two batches, the cursor moving, then LAST */
	ck_assert_int_eq(moves_applied(&mv, req[0].sid, false, tok(12), (const uint8_t *)"k1", 2),
	                 DKV_OK);
	ck_assert_uint_eq(a->state, MOVE_IDLE);
	ck_assert(a->has_cursor);
	ck_assert(tok_eq(a->cur_t, tok(12)));
	/* the same answer twice: stale */
	ck_assert_int_eq(moves_applied(&mv, req[0].sid, false, tok(13), (const uint8_t *)"k2", 2),
	                 DKV_ENOTFOUND);
	ck_assert(tok_eq(a->cur_t, tok(12)));
	ck_assert_uint_eq(moves_due(&mv, 1, is_up, NULL, req + 2, 2), 1);
	ck_assert(to_is(&req[2], "a") && req[2].has_cursor);
	ck_assert_mem_eq(req[2].cur_key, "k1", 2);
	ck_assert_int_eq(moves_applied(&mv, req[2].sid, false, tok(15), (const uint8_t *)"key-15", 6),
	                 DKV_OK);
	ck_assert_uint_eq(a->cur_klen, 6);
	ck_assert_mem_eq(a->cur_key, "key-15", 6);
	ck_assert_uint_eq(moves_due(&mv, 2, is_up, NULL, req + 2, 2), 1);
	ck_assert(tok_eq(req[2].cur_t, tok(15)));
	ck_assert_int_eq(moves_applied(&mv, req[2].sid, true, tok(0), NULL, 0), DKV_OK);
	ck_assert_uint_eq(a->state, MOVE_DONE);
	ck_assert(!moves_find(&mv, req[2].sid, &lo, &hi));
	ck_assert_int_eq(moves_applied(&mv, req[2].sid, true, tok(0), NULL, 0), DKV_ENOTFOUND);
	/* a done is asked no more; b is still in flight */
	ck_assert_uint_eq(moves_due(&mv, 3, is_up, NULL, req + 2, 2), 0);
	ck_assert(!moves_settle(&mv, is_up, NULL));
	moves_count(&mv, &done, &total);
	ck_assert_uint_eq(done, 0);
	ck_assert_uint_eq(total, 1);
	/* b: an empty batch that is not the last asks again from where it was */
	ck_assert_int_eq(moves_applied(&mv, req[1].sid, false, tok(0), NULL, 0), DKV_OK);
	ck_assert_uint_eq(b->state, MOVE_IDLE);
	ck_assert(!b->has_cursor);
	ck_assert_uint_eq(moves_due(&mv, 4, is_up, NULL, req + 2, 2), 1);
	ck_assert(to_is(&req[2], "b") && !req[2].has_cursor);
	ck_assert_int_eq(moves_applied(&mv, req[2].sid, true, tok(0), NULL, 0), DKV_OK);
	ck_assert(moves_settle(&mv, is_up, NULL));
	moves_count(&mv, &done, &total);
	ck_assert_uint_eq(done, 1);
	ck_assert_uint_eq(total, 1);
	/* a done range asks nothing, even after the resend delay */
	ck_assert_uint_eq(moves_due(&mv, 4 + 2 * MOVES_RESEND_MS, is_up, NULL, req, 4), 0);
	ck_assert_int_eq(moves_applied(&mv, 12345, true, tok(0), NULL, 0), DKV_ENOTFOUND);
	moves_free(&mv);
}
END_TEST

START_TEST(test_applied_out_of_memory_keeps_the_old_cursor)
{
	struct moves mv;
	struct move *p = new_plan(1);
	struct move_req req[2];

	moves_init(&mv);
	set_move(&p[0], 10, 20, "a", NULL);
	moves_set(&mv, p, 1);
	ck_assert_uint_eq(moves_due(&mv, 0, is_up, NULL, req, 2), 1);
	ck_assert_int_eq(moves_applied(&mv, req[0].sid, false, tok(11), (const uint8_t *)"old", 3),
	                 DKV_OK);
	ck_assert_uint_eq(moves_due(&mv, 1, is_up, NULL, req, 2), 1);
	mem_fail_after(1, 0);
	ck_assert_int_eq(moves_applied(&mv, req[0].sid, false, tok(12), (const uint8_t *)"new", 3),
	                 DKV_ENOMEM);
	mem_fail_after(0, 0);
	ck_assert_uint_eq(moves_due(&mv, 2, is_up, NULL, req, 2), 1);
	ck_assert(req[0].has_cursor);
	ck_assert(tok_eq(req[0].cur_t, tok(11)));
	ck_assert_mem_eq(req[0].cur_key, "old", 3);
	moves_free(&mv);
}
END_TEST

START_TEST(test_a_refused_request_goes_again_after_the_delay)
{
	struct moves mv;
	struct move *p = new_plan(1);
	struct move_req req[2];
	struct token lo, hi;
	uint64_t sid;

	moves_init(&mv);
	set_move(&p[0], 10, 20, "a", NULL);
	moves_set(&mv, p, 1);
	ck_assert_uint_eq(moves_due(&mv, 1000, is_up, NULL, req, 2), 1);
	sid = req[0].sid;
	moves_refused(&mv, sid, 5000);
	moves_refused(&mv, sid + 100, 9999999); /* unknown: nothing */
	ck_assert(moves_find(&mv, sid, &lo, &hi));
	/* not at 1000 + delay, when it would have gone unrefused */
	ck_assert_uint_eq(moves_due(&mv, 1000 + MOVES_RESEND_MS, is_up, NULL, req, 2), 0);
	ck_assert_uint_eq(moves_due(&mv, 5000 + MOVES_RESEND_MS - 1, is_up, NULL, req, 2), 0);
	ck_assert_uint_eq(moves_due(&mv, 5000 + MOVES_RESEND_MS, is_up, NULL, req, 2), 1);
	ck_assert(req[0].sid != sid);
	ck_assert(!moves_find(&mv, sid, &lo, &hi));
	moves_free(&mv);
}
END_TEST

START_TEST(test_settle_needs_one_source_done_and_the_rest_done_or_down)
{
	struct moves mv;
	struct move *p = new_plan(4);
	struct move_req req[16];
	struct down d = {0};
	uint32_t n, done, total;

	moves_init(&mv);
	ck_assert(moves_settle(&mv, is_up, NULL)); /* nothing to do */
	set_move(&p[0], 10, 20, "a", "b", "c", NULL); /* all done */
	set_move(&p[1], 20, 30, "a", "b", "c", NULL); /* a done, b and c pending */
	set_move(&p[2], 30, 40, "a", "b", "c", NULL); /* likewise */
	set_move(&p[3], 40, 50, "b", "c", NULL);      /* none done */
	moves_set(&mv, p, 4);
	n = moves_due(&mv, 0, is_up, NULL, req, 16);
	ck_assert_uint_eq(n, 11);
	for (uint32_t i = 0; i < n; i++) {
		bool fin = tok_eq(req[i].lo, tok(10)) ||
		           (to_is(&req[i], "a") && token_cmp(req[i].lo, tok(40)) < 0);

		if (fin)
			ck_assert_int_eq(moves_applied(&mv, req[i].sid, true, tok(0), NULL, 0), DKV_OK);
	}
	d.n = 2;
	d.ids[0] = "b";
	d.ids[1] = "c";
	/* b down, c up: a done with c still to answer is not enough */
	{
		struct down only_b = {.n = 1, .ids = {"b"}};

		ck_assert(!moves_settle(&mv, is_up, &only_b));
		moves_count(&mv, &done, &total);
		ck_assert_uint_eq(done, 1); /* only the first */
		ck_assert_uint_eq(total, 4);
	}
	/* b and c down: a done suffices; not the fourth, none of its sources
	 * being done even though all are down */
	ck_assert(!moves_settle(&mv, is_up, &d));
	moves_count(&mv, &done, &total);
	ck_assert_uint_eq(done, 3);
	ck_assert(mv.m[0].done && mv.m[1].done && mv.m[2].done && !mv.m[3].done);
	/* done stays done when the others come back */
	ck_assert(!moves_settle(&mv, is_up, NULL));
	moves_count(&mv, &done, &total);
	ck_assert_uint_eq(done, 3);
	/* sources that are done are asked no more, nor those down; a done
	 * range still pulls from a source that is back (a leaver waits for
	 * exactly that) */
	ck_assert_uint_eq(moves_due(&mv, 2 * MOVES_RESEND_MS, is_up, &d, req, 16), 0);
	n = moves_due(&mv, 2 * MOVES_RESEND_MS, is_up, NULL, req, 16);
	ck_assert_uint_eq(n, 6); /* b and c of (20, 30], (30, 40], (40, 50] */
	for (uint32_t i = 0; i < n; i++) {
		ck_assert(!to_is(&req[i], "a"));
		ck_assert(!tok_eq(req[i].lo, tok(10)));
	}
	moves_free(&mv);
}
END_TEST

START_TEST(test_a_replan_keeps_the_progress_of_the_same_range_and_source)
{
	struct moves mv;
	struct move *p = new_plan(2), *q, *r;
	struct move_req req[16];
	struct token lo, hi;
	uint64_t epoch, sid_200;
	uint32_t n;

	moves_init(&mv);
	set_move(&p[0], 100, 200, "a", "b", NULL);
	set_move(&p[1], 200, 300, "a", NULL);
	moves_set(&mv, p, 2);
	epoch = mv.epoch;
	ck_assert_uint_eq(moves_due(&mv, 0, is_up, NULL, req, 16), 3);
	sid_200 = req[2].sid;
	ck_assert_int_eq(moves_applied(&mv, req[0].sid, false, tok(150), (const uint8_t *)"k150", 4),
	                 DKV_OK);
	ck_assert_int_eq(moves_applied(&mv, req[1].sid, true, tok(0), NULL, 0), DKV_OK);

	/* the same (100, 200] with its sources reordered and c new; (200, 300]
	 * cut to (200, 250] and (250, 300]: not the same range */
	q = new_plan(3);
	set_move(&q[0], 100, 200, "c", "b", "a", NULL);
	set_move(&q[1], 200, 250, "a", NULL);
	set_move(&q[2], 250, 300, "a", NULL);
	moves_set(&mv, q, 3);
	ck_assert_uint_gt(mv.epoch, epoch);
	ck_assert_uint_eq(mv.n, 3);
	ck_assert_uint_eq(src_of(&mv, 100, "c")->state, MOVE_IDLE);
	ck_assert(!src_of(&mv, 100, "c")->has_cursor);
	ck_assert_uint_eq(src_of(&mv, 100, "b")->state, MOVE_DONE);
	ck_assert_uint_eq(src_of(&mv, 100, "a")->state, MOVE_IDLE);
	ck_assert(src_of(&mv, 100, "a")->has_cursor);
	ck_assert(tok_eq(src_of(&mv, 100, "a")->cur_t, tok(150)));
	ck_assert_mem_eq(src_of(&mv, 100, "a")->cur_key, "k150", 4);
	ck_assert_uint_eq(src_of(&mv, 200, "a")->state, MOVE_IDLE);
	ck_assert(!src_of(&mv, 200, "a")->has_cursor);
	/* the request for the old (200, 300] is no longer awaited */
	ck_assert(!moves_find(&mv, sid_200, &lo, &hi));
	ck_assert_int_eq(moves_applied(&mv, sid_200, true, tok(0), NULL, 0), DKV_ENOTFOUND);
	n = moves_due(&mv, 1, is_up, NULL, req, 16);
	ck_assert_uint_eq(n, 4); /* c and a on (100, 200], a on both halves */
	ck_assert(to_is(&req[0], "c") && !req[0].has_cursor);
	ck_assert(to_is(&req[1], "a") && req[1].has_cursor && tok_eq(req[1].cur_t, tok(150)));
	ck_assert_mem_eq(req[1].cur_key, "k150", 4);
	ck_assert(tok_eq(req[2].lo, tok(200)) && tok_eq(req[2].hi, tok(250)));
	ck_assert(tok_eq(req[3].lo, tok(250)) && tok_eq(req[3].hi, tok(300)));

	/* a request in flight survives a re-plan with the same range */
	r = new_plan(1);
	set_move(&r[0], 100, 200, "a", "b", NULL);
	moves_set(&mv, r, 1);
	ck_assert(moves_find(&mv, req[1].sid, &lo, &hi));
	ck_assert(tok_eq(lo, tok(100)) && tok_eq(hi, tok(200)));
	ck_assert(!moves_find(&mv, req[0].sid, &lo, &hi)); /* c's: gone with c */
	ck_assert_uint_eq(moves_due(&mv, 2, is_up, NULL, req + 8, 8), 0);
	ck_assert_int_eq(moves_applied(&mv, req[1].sid, true, tok(0), NULL, 0), DKV_OK);
	ck_assert(moves_settle(&mv, is_up, NULL));
	/* an empty plan */
	moves_set(&mv, NULL, 0);
	ck_assert_uint_eq(mv.n, 0);
	ck_assert(moves_settle(&mv, is_up, NULL));
	moves_free(&mv);
}
END_TEST

START_TEST(test_mark_served_marks_the_pairs_within)
{
	struct moves mv;
	struct move *p = new_plan(6);
	uint32_t done, total;

	moves_init(&mv);
	set_move(&p[0], 100, 200, "g1", NULL);
	set_move(&p[1], 200, 300, "g1", NULL);
	set_move(&p[2], 300, 400, "g1", NULL);
	set_move(&p[3], 200, 300, "g2", NULL);
	set_move(&p[4], 900, 50, "g1", NULL); /* wraps past zero */
	p[5].lo = tok(50);
	p[5].hi = token_from_u128(~(token_u128)0);
	p[5].nsrc = 1;
	p[5].src[0].id = mk_actor("g2");
	moves_set(&mv, p, 6);
	moves_count(&mv, &done, &total);
	ck_assert_uint_eq(done, 0);
	ck_assert_uint_eq(total, 6);
	/* g1 pulled (100, 300]: two of its pairs, not g2's */
	moves_mark_served(&mv, &p[0].src[0].id, tok(100), tok(300));
	ck_assert(mv.m[0].done && mv.m[1].done);
	ck_assert(!mv.m[2].done && !mv.m[3].done && !mv.m[4].done && !mv.m[5].done);
	ck_assert_uint_eq(mv.m[0].src[0].state, MOVE_DONE);
	moves_count(&mv, &done, &total);
	ck_assert_uint_eq(done, 2);
	/* a range overlapping a pair but not holding it marks nothing */
	moves_mark_served(&mv, &p[0].src[0].id, tok(350), tok(450));
	moves_mark_served(&mv, &p[0].src[0].id, tok(300), tok(350));
	ck_assert(!mv.m[2].done);
	/* an unknown gainer marks nothing */
	{
		struct actor x = mk_actor("x");

		moves_mark_served(&mv, &x, tok(0), tok(1000));
	}
	moves_count(&mv, &done, &total);
	ck_assert_uint_eq(done, 2);
	/* wrapping past zero */
	moves_mark_served(&mv, &p[0].src[0].id, tok(800), tok(100));
	ck_assert(mv.m[4].done);
	ck_assert(!mv.m[2].done);
	/* g2: exactly its range, then one ending at the top of the ring */
	moves_mark_served(&mv, &p[3].src[0].id, tok(200), tok(300));
	ck_assert(mv.m[3].done);
	moves_mark_served(&mv, &p[3].src[0].id, tok(0), token_from_u128(~(token_u128)0));
	ck_assert(mv.m[5].done);
	moves_count(&mv, &done, &total);
	ck_assert_uint_eq(done, 5);
	ck_assert_uint_eq(total, 6);
	moves_free(&mv);
}
END_TEST

/*
 * A re-plan (every gossip change brings one) keeps a leaver's served pairs
 * done: nothing but moves_mark_served marks them (lib/moves_io.c never
 * settles served pairs), and gainers that have finished do not ask again,
 * so a lost mark would keep the leaver LEAVING. (Found as a bug.)
 */
START_TEST(test_a_replan_keeps_served_pairs_done)
{
	struct moves mv;
	struct move *p = new_plan(2), *q = new_plan(2);
	uint32_t done, total;

	moves_init(&mv);
	set_move(&p[0], 100, 200, "g1", NULL);
	set_move(&p[1], 200, 300, "g1", NULL);
	memcpy(q, p, 2 * sizeof(*q));
	moves_set(&mv, p, 2);
	moves_mark_served(&mv, &mv.m[0].src[0].id, tok(100), tok(200));
	moves_count(&mv, &done, &total);
	ck_assert_uint_eq(done, 1);
	moves_set(&mv, q, 2); /* the same plan again */
	ck_assert_uint_eq(mv.m[0].src[0].state, MOVE_DONE);
	moves_count(&mv, &done, &total);
	ck_assert_msg(done == 1, "re-plan lost a served pair's done: %u of %u done", done, total);
	moves_free(&mv);
}
END_TEST

/*
 * A served plan holds one move per (range, gainer), so several moves share
 * (lo, hi); a re-plan keeps each gainer's progress, not only the first
 * listed (found as a bug). Two gainers for one range happen e.g. when two
 * peers leave at once (n=3: a range held by both leavers and one other
 * peer gains two new replicas).
 */
START_TEST(test_a_replan_keeps_each_gainers_pair_of_a_shared_range)
{
	struct moves mv;
	struct move *p = new_plan(2), *q = new_plan(2);
	uint32_t done, total;

	moves_init(&mv);
	set_move(&p[0], 100, 200, "g1", NULL);
	set_move(&p[1], 100, 200, "g2", NULL);
	memcpy(q, p, 2 * sizeof(*q));
	moves_set(&mv, p, 2);
	moves_mark_served(&mv, &mv.m[1].src[0].id, tok(100), tok(200));
	moves_count(&mv, &done, &total);
	ck_assert_uint_eq(done, 1);
	moves_set(&mv, q, 2);
	/* settle recomputes done from the sources' states (g1 up, not done) */
	moves_settle(&mv, is_up, NULL);
	ck_assert_msg(mv.m[1].src[0].state == MOVE_DONE,
	              "re-plan dropped g2's progress on a range shared with g1");
	moves_count(&mv, &done, &total);
	ck_assert_uint_eq(done, 1);
	moves_free(&mv);
}
END_TEST

START_TEST(test_two_leavers_give_a_range_two_gainers)
{
	/* the realistic setting of the bug above: 5 peers, 3 and 4 leave */
	static struct cluster c;
	struct replication rep = rep_n(3);
	struct ring cur, next;
	struct move *served;
	uint32_t n;
	bool shared = false;

	memset(&c, 0, sizeof(c));
	for (int i = 0; i < 5; i++)
		add_peer(&c, 4, 23);
	build(&cur, &c, 5);
	build(&next, &c, 3);
	ck_assert_int_eq(moves_plan_served(&cur, c.ids, &next, c.ids, &rep, &c.ids[3], &served, &n),
	                 DKV_OK);
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t k = 0; k < i; k++)
			if (tok_eq(served[i].lo, served[k].lo) && tok_eq(served[i].hi, served[k].hi)) {
				ck_assert(!actor_eq(&served[i].src[0].id, &served[k].src[0].id));
				shared = true;
			}
	ck_assert_msg(shared, "no range with two gainers in this layout");
	mem_free(served);
	ring_free(&cur);
	ring_free(&next);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("moves");
	TCase *plan = tcase_create("plan");
	TCase *state = tcase_create("state");
	TCase *replan = tcase_create("replan");

	tcase_add_test(plan, test_each_covers_the_ring_at_the_union_of_tokens);
	tcase_add_test(plan, test_each_with_disjoint_tokens_in_each_ring);
	tcase_add_test(plan, test_each_cuts_a_single_token_in_two_halves);
	tcase_add_test(plan, test_each_cuts_a_single_token_near_the_top_in_halves);
	tcase_add_test(plan, test_each_calls_nothing_for_an_empty_ring);
	tcase_add_test(plan, test_each_and_plans_report_enomem);
	tcase_add_test(plan, test_a_joiner_gains_what_it_replicates_in_the_pending_ring);
	tcase_add_test(plan, test_existing_peers_gain_nothing_when_a_fourth_joins);
	tcase_add_test(plan, test_gains_from_one_source_everywhere_are_never_the_whole_ring);
	tcase_add_test(plan, test_gains_of_a_single_shared_token_are_two_halves);
	tcase_add_test(plan, test_a_leaver_serves_each_range_to_each_gainer);
	tcase_add_test(plan, test_two_leavers_give_a_range_two_gainers);
	tcase_add_test(state, test_due_keeps_at_most_inflight_requests);
	tcase_add_test(state, test_one_source_gets_at_most_its_share);
	tcase_add_test(state, test_settle_covers_the_write_level);
	tcase_add_test(state, test_a_source_back_is_asked_again_from_its_cursor);
	tcase_add_test(state, test_due_skips_sources_that_are_down);
	tcase_add_test(state, test_an_unanswered_request_goes_again_after_the_resend_delay);
	tcase_add_test(state, test_timed_out_requests_leave_room_for_others);
	tcase_add_test(state, test_applied_moves_the_cursor_and_last_finishes_the_source);
	tcase_add_test(state, test_applied_out_of_memory_keeps_the_old_cursor);
	tcase_add_test(state, test_a_refused_request_goes_again_after_the_delay);
	tcase_add_test(state, test_settle_needs_one_source_done_and_the_rest_done_or_down);
	tcase_add_test(state, test_a_replan_keeps_the_progress_of_the_same_range_and_source);
	tcase_add_test(state, test_mark_served_marks_the_pairs_within);
	tcase_add_test(replan, test_a_replan_keeps_served_pairs_done);
	tcase_add_test(replan, test_a_replan_keeps_each_gainers_pair_of_a_shared_range);
	suite_add_tcase(s, plan);
	suite_add_tcase(s, state);
	suite_add_tcase(s, replan);
	return run_suite(s);
}
