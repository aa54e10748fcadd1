/*
 * The walk down many Merkle trees at once (lib/core/merkle_walk.c): a
 * sender and a comparer run against each other as lib/ae.h describes,
 * every AE_TREE and AE_DIFF through the wire codec, end on exactly the
 * leaves that differ, in (tree, index) order on both sides, having sent
 * one 64-bit hash per kept node per level below the roots; trees the
 * comparer cannot compare are reported and count as equal; the bounds of
 * mwalk_start and the frontier; refusal of wrong hash counts and
 * bitmaps. Also the names an exchange uses (lib/core/merkle.c): salted
 * key tags and range ids.
 */
#include "config.h"

#include "libdkv/dkv.h"
#include "core/merkle.h"
#include "core/merkle_walk.h"
#include "core/wire.h"
#include "util/alloc.h"
#include "unit.h"

#define MAXK 64              /* trees in one walk (AE_SESSION_RANGES) */
#define NONE UINT32_MAX      /* side.unknown: every tree known */
#define ALL (UINT32_MAX - 1) /* side.unknown: no tree known */

static struct token
rand_token(uint64_t *seed)
{
	struct token t = {test_rand(seed), test_rand(seed)};

	return t;
}

static struct merkle_hash
rand_hash(uint64_t *seed)
{
	struct merkle_hash h = {test_rand(seed), test_rand(seed)};

	return h;
}

/* A random token of leaf `leaf` of m (the ranges here are far wider
 * than 2^16 tokens, so no leaf is empty). */
static struct token
token_in_leaf(const struct merkle *m, uint32_t leaf, uint64_t *seed)
{
	struct token lo, hi;
	token_u128 span;

	merkle_leaf_bounds(m, leaf, &lo, &hi);
	span = token_to_u128(hi) - token_to_u128(lo);
	expect(span != 0);
	return token_from_u128(token_to_u128(lo) + 1 + token_to_u128(rand_token(seed)) % span);
}

/* --- two replicas' trees ------------------------------------------------- */

/* One side of an exchange: its trees of the k ranges, and a tree own()
 * cannot give (as if it did not hold that range), NONE or ALL. */
struct side {
	struct merkle t[MAXK];
	uint32_t k, unknown;
};

static bool
own(void *arg, uint32_t tree, unsigned level, uint32_t index, uint64_t *hash)
{
	const struct side *s = arg;

	if (tree >= s->k || tree == s->unknown || s->unknown == ALL ||
	    !merkle_node_valid(&s->t[tree], level, index))
		return false;
	*hash = merkle_node(&s->t[tree], level, index).a;
	return true;
}

/* k ranges that cut the ring at k random points; the last wraps past
 * zero, and a single range is the whole ring. Both sides get empty
 * trees of them. */
static void
sides_init(struct side *a, struct side *b, uint32_t k, unsigned depth, uint64_t *seed)
{
	struct token p[MAXK];

	ck_assert_uint_le(k, MAXK);
	for (uint32_t i = 0; i < k; i++) {
		uint32_t j = i;

		p[i] = rand_token(seed);
		for (; j > 0 && token_cmp(p[j - 1], p[i]) > 0; j--)
			;
		if (j < i) {
			struct token x = p[i];

			memmove(&p[j + 1], &p[j], (i - j) * sizeof(p[0]));
			p[j] = x;
		}
	}
	a->k = b->k = k;
	a->unknown = b->unknown = NONE;
	for (uint32_t i = 0; i < k; i++) {
		struct token lo = p[i], hi = p[(i + 1) % k];

		ck_assert_int_eq(merkle_init(&a->t[i], lo, hi, depth), DKV_OK);
		ck_assert_int_eq(merkle_init(&b->t[i], lo, hi, depth), DKV_OK);
	}
}

static void
sides_free(struct side *a, struct side *b)
{
	for (uint32_t i = 0; i < a->k; i++) {
		merkle_free(&a->t[i]);
		merkle_free(&b->t[i]);
	}
}

static void
put(struct side *s, uint32_t tree, struct token t, struct merkle_hash h)
{
	expect(merkle_update(&s->t[tree], t, NULL, &h) == DKV_OK);
}

/* The same n entries in every tree of both sides. */
static void
populate_both(struct side *a, struct side *b, uint32_t n, uint64_t *seed)
{
	unsigned depth = a->t[0].depth;

	for (uint32_t tree = 0; tree < a->k; tree++)
		for (uint32_t i = 0; i < n; i++) {
			uint32_t leaf = (uint32_t)(test_rand(seed) % (1u << depth));
			struct token t = token_in_leaf(&a->t[tree], leaf, seed);
			struct merkle_hash h = rand_hash(seed);

			put(a, tree, t, h);
			put(b, tree, t, h);
		}
}

/* Makes a leaf differ, in one of four ways, and notes it in want (one
 * flag per (tree, leaf), tree-major: the order the frontier keeps). */
static void
differ(struct side *a, struct side *b, uint32_t tree, uint32_t leaf, uint64_t *seed, bool *want)
{
	unsigned depth = a->t[tree].depth;
	struct token t = token_in_leaf(&a->t[tree], leaf, seed);
	struct merkle_hash x = rand_hash(seed), y = rand_hash(seed);

	switch (test_rand(seed) % 4) {
	case 0: /* both hold the key, in different versions */
		put(a, tree, t, x);
		put(b, tree, t, y);
		break;
	case 1: /* b lacks it */
		put(a, tree, t, x);
		break;
	case 2: /* a lacks it */
		put(b, tree, t, y);
		break;
	default: /* each holds a key the other lacks */
		put(a, tree, t, x);
		put(b, tree, token_in_leaf(&a->t[tree], leaf, seed), y);
		break;
	}
	want[((size_t)tree << depth) | leaf] = true;
}

/* Ground truth: want is exactly the leaves whose hashes differ (two
 * differences in one leaf could cancel only if random 128-bit hashes
 * XORed to zero). */
static uint32_t
check_want(const struct side *a, const struct side *b, const bool *want)
{
	unsigned depth = a->t[0].depth;
	uint32_t n = 0;

	for (uint32_t tree = 0; tree < a->k; tree++)
		for (uint32_t leaf = 0; leaf < 1u << depth; leaf++) {
			bool w = want[((size_t)tree << depth) | leaf];

			expect(merkle_hash_eq(merkle_node(&a->t[tree], depth, leaf),
			                      merkle_node(&b->t[tree], depth, leaf)) == !w);
			n += w;
		}
	return n;
}

/* --- the exchange --------------------------------------------------------- */

struct exchange {
	uint32_t rounds;                     /* AE_TREE / AE_DIFF round trips */
	uint64_t hashes;                     /* 64-bit hashes the sender sent */
	uint64_t bits;                       /* bits of the comparer's "differs" bitmaps */
	uint32_t nunknown;                   /* trees the comparer reported unknown */
	uint64_t kept_total;                 /* nodes kept above the leaves */
	uint32_t kept[MERKLE_MAX_DEPTH + 1]; /* nodes kept at each level */
};

static const struct actor *
actor_of(const char *id)
{
	static struct actor a;

	a = mk_actor(id);
	return &a;
}

/* A message through the codec: encoded, its header checked, decoded.
 * Returns the frame, which back points into (the caller frees both). */
static uint8_t *
through_wire(const struct msg *m, struct msg *back)
{
	struct frame_header h;
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(wire_encode(m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode_header(buf, 1u << 24, &h), DKV_OK);
	ck_assert_int_eq(wire_decode(h.type, buf + WIRE_HEADER, h.body_len, back), DKV_OK);
	return buf;
}

static void
same_frontier(const struct mwalk *x, const struct mwalk *y)
{
	ck_assert_uint_eq(x->level, y->level);
	ck_assert_uint_eq(x->n, y->n);
	ck_assert(x->done == y->done);
	for (uint32_t i = 0; i < x->n; i++)
		expect(x->nodes[i].tree == y->nodes[i].tree &&
		       x->nodes[i].index == y->nodes[i].index);
}

/*
 * The walk as lib/ae.h runs it, snd the initiator (I), cmp the partner
 * (P): I sends AE_TREE with its hashes of the frontier (at level 0 with
 * the range ids), P compares and answers AE_DIFF, both keep; until P's
 * bitmap is empty (the trees agree) or the leaves are reached. Leaves
 * ws and wc at the end, for the caller to check and free.
 */
static void
run_exchange(struct side *snd, struct side *cmp, unsigned depth, struct mwalk *ws, struct mwalk *wc,
             struct exchange *x)
{
	const uint64_t sid = 0x5eed;

	memset(x, 0, sizeof(*x));
	ck_assert_int_eq(mwalk_start(ws, depth, snd->k), DKV_OK);
	ck_assert_int_eq(mwalk_start(wc, depth, cmp->k), DKV_OK);
	for (;;) {
		unsigned level = ws->level;
		uint32_t nh = mwalk_nsend(ws), want_nh;
		uint64_t *hashes = malloc((nh ? nh : 1) * sizeof(*hashes));
		uint64_t *ids = malloc(snd->k * sizeof(*ids));
		size_t len;
		uint8_t *bits, *unknown, *tree_frame, *diff_frame;
		struct msg m, tree, diff;
		int kc, ks;

		ck_assert(hashes != NULL && ids != NULL);
		ck_assert_int_le(++x->rounds, (int)depth + 1);
		same_frontier(ws, wc);
		ck_assert(!ws->done);
		/* I: its hashes of the frontier, the left children only below
		 * the roots: one per node kept the round before */
		want_nh = level == 0 ? snd->k : x->kept[level - 1];
		ck_assert_uint_eq(nh, want_nh);
		ck_assert_int_eq(mwalk_hashes(ws, own, snd, hashes), DKV_OK);
		x->hashes += nh;
		memset(&m, 0, sizeof(m));
		m.type = WMSG_AE_TREE;
		m.from = *actor_of("initiator");
		m.ae.sid = sid;
		m.ae.depth = (uint8_t)depth;
		m.ae.level = (uint8_t)level;
		m.ae.n = nh;
		m.ae.hashes = hashes;
		if (level == 0) {
			for (uint32_t i = 0; i < snd->k; i++)
				ids[i] = merkle_range_id(snd->t[i].lo, snd->t[i].hi);
			m.ae.ids = ids;
		}
		tree_frame = through_wire(&m, &tree);
		ck_assert_uint_eq(tree.ae.level, level);
		ck_assert_uint_eq(tree.ae.n, nh);
		/* P finds its trees by the ids (here: the same ranges, in order) */
		for (uint32_t i = 0; level == 0 && i < cmp->k; i++)
			expect(tree.ae.ids[i] == merkle_range_id(cmp->t[i].lo, cmp->t[i].hi));

		/* P: compares, and so learns I's hash of every frontier node */
		len = mwalk_bitmap_len(wc);
		bits = malloc(len ? len : 1);
		unknown = malloc(len ? len : 1);
		ck_assert(bits != NULL && unknown != NULL);
		ck_assert_int_eq(mwalk_compare(wc, tree.ae.hashes, tree.ae.n, own, cmp, bits,
		                               level == 0 ? unknown : NULL),
		                 DKV_OK);
		for (uint32_t i = 0; i < wc->n; i++) {
			const struct mwalk_node *nd = &wc->nodes[i];
			uint64_t hs = 0, hc = 0;
			bool known = own(cmp, nd->tree, level, nd->index, &hc);

			expect(own(snd, nd->tree, level, nd->index, &hs));
			expect(nd->theirs == hs); /* right children: parent ^ left */
			expect(mwalk_bit(bits, i) == (known && hc != hs));
		}
		x->bits += wc->n;
		memset(&m, 0, sizeof(m));
		m.type = WMSG_AE_DIFF;
		m.from = *actor_of("partner");
		m.ae.sid = sid;
		m.ae.level = (uint8_t)level;
		m.ae.n = wc->n;
		m.ae.bits = bits;
		if (level == 0) {
			m.ae.unknown = unknown;
			for (uint32_t i = 0; i < wc->n; i++) {
				x->nunknown += mwalk_bit(unknown, i);
				/* an unknown tree counts as equal */
				expect(!(mwalk_bit(unknown, i) && mwalk_bit(bits, i)));
			}
		}
		diff_frame = through_wire(&m, &diff);
		ck_assert_uint_eq(diff.ae.n, ws->n);

		/* both keep the nodes P found different */
		kc = mwalk_keep(wc, bits, len);
		ks = mwalk_keep(ws, diff.ae.bits, ((size_t)diff.ae.n + 7) / 8);
		ck_assert_int_ge(kc, 0);
		ck_assert_int_eq(kc, ks);
		x->kept[level] = (uint32_t)kc;
		if (level < depth)
			x->kept_total += (uint64_t)kc;
		same_frontier(ws, wc);
		wire_msg_free(&tree);
		wire_msg_free(&diff);
		free(tree_frame);
		free(diff_frame);
		free(hashes);
		free(ids);
		free(bits);
		free(unknown);
		if (kc == 0 || wc->done)
			break;
		ck_assert_uint_eq(wc->n, 2 * (uint32_t)kc);
	}
	/* the cost: one hash per root and then one per kept node per level
	 * (not two: the right child is parent ^ left), and two bits per kept
	 * node per level */
	ck_assert_uint_eq(x->hashes, snd->k + x->kept_total);
	ck_assert_uint_eq(x->bits, cmp->k + 2 * x->kept_total);
}

/* The frontier is exactly the (tree, leaf) pairs flagged in want, in
 * (tree, index) order. */
static void
check_frontier(const struct mwalk *w, const bool *want, uint32_t k, unsigned depth)
{
	uint32_t j = 0;

	for (uint32_t p = 0; p < k << depth; p++) {
		uint32_t tree = p >> depth, leaf = p & ((1u << depth) - 1);

		if (!want[p])
			continue;
		if (j >= w->n)
			ck_abort_msg("leaf %u of tree %u differs but is not in the frontier", leaf,
			             tree);
		if (w->nodes[j].tree != tree || w->nodes[j].index != leaf)
			ck_abort_msg("frontier[%u] is (%u, %u), expected (%u, %u)", j,
			             w->nodes[j].tree, w->nodes[j].index, tree, leaf);
		j++;
	}
	ck_assert_uint_eq(w->n, j);
}

/* --- the tests ------------------------------------------------------------ */

START_TEST(test_start_refuses_bad_sizes_and_sets_up_the_roots)
{
	static const struct {
		unsigned depth;
		uint32_t ntrees;
		bool ok;
	} cases[] = {
	    {3, 0, false},
	    {0, 1, false},
	    {MERKLE_MAX_DEPTH + 1, 1, false},
	    {UINT32_MAX, 1, false},
	    {MERKLE_MIN_DEPTH, 1, true},
	    {MERKLE_MAX_DEPTH, 1, true},
	    {16, 2, false}, /* 2 << 16 leaves */
	    {1, MWALK_MAX_NODES / 2, true},
	    {1, MWALK_MAX_NODES / 2 + 1, false},
	    {10, 64, true},
	    {10, 65, false},
	    {14, 4, true},
	    {14, 5, false},
	    {16, UINT32_MAX, false}, /* no 32-bit overflow */
	    {1, UINT32_MAX, false},
	};
	struct mwalk w;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int err = mwalk_start(&w, cases[c].depth, cases[c].ntrees);

		ck_assert_msg(err == (cases[c].ok ? DKV_OK : DKV_EINVAL),
		              "mwalk_start(depth %u, %u trees) = %d", cases[c].depth,
		              cases[c].ntrees, err);
		if (err != DKV_OK) {
			ck_assert(w.nodes == NULL && w.n == 0); /* nothing to free */
			mwalk_free(&w);
			continue;
		}
		ck_assert_uint_eq(w.n, cases[c].ntrees);
		ck_assert_uint_eq(w.ntrees, cases[c].ntrees);
		ck_assert_uint_eq(w.depth, cases[c].depth);
		ck_assert_uint_eq(w.level, 0);
		ck_assert(!w.done);
		ck_assert_uint_eq(mwalk_nsend(&w), cases[c].ntrees);
		ck_assert_uint_eq(mwalk_bitmap_len(&w), (cases[c].ntrees + 7) / 8);
		for (uint32_t i = 0; i < w.n; i++)
			expect(w.nodes[i].tree == i && w.nodes[i].index == 0);
		mwalk_free(&w);
		ck_assert(w.nodes == NULL);
		mwalk_free(&w); /* twice is harmless */
	}
	mem_fail_after(1, 0);
	ck_assert_int_eq(mwalk_start(&w, 4, 3), DKV_ENOMEM);
	mem_fail_after(0, 0);
	mwalk_free(&w);
}
END_TEST

/* Two sets of trees that differ in known leaves: equal trees, a tree
 * differing in many leaves, siblings, neighbours that are not siblings,
 * the first and last leaves; k from 1 to 64 trees, depth 1 to 16. */
START_TEST(test_exchange_ends_on_exactly_the_differing_leaves)
{
	static const struct {
		uint32_t k;
		unsigned depth;
		bool equal; /* no differences at all */
	} cfg[] = {
	    {1, 1, false},  {2, 1, false},  {1, 8, false},  {1, 16, false},
	    {6, 5, false},  {8, 10, false}, {13, 7, false}, {64, 10, false},
	    {4, 14, false}, {7, 6, true},   {64, 3, false}, {3, 12, false},
	};
	static bool want[MWALK_MAX_NODES];
	static struct side a, b;
	uint64_t seed = 20240611;

	for (size_t c = 0; c < sizeof(cfg) / sizeof(cfg[0]); c++) {
		uint32_t k = cfg[c].k, leaves = 1u << cfg[c].depth, ndiff, ntrees_differing = 0;
		unsigned depth = cfg[c].depth;
		struct mwalk ws, wc, ws2, wc2;
		struct exchange x, x2;

		memset(want, 0, sizeof(want));
		sides_init(&a, &b, k, depth, &seed);
		populate_both(&a, &b, 300, &seed);
		for (uint32_t tree = 0; tree < k && !cfg[c].equal; tree++) {
			uint32_t j = (uint32_t)(test_rand(&seed) % leaves);

			switch ((tree + c) % 6) {
			case 0: /* equal */
				break;
			case 1: /* one leaf */
				differ(&a, &b, tree, j, &seed, want);
				break;
			case 2: /* two siblings; and two neighbours that are not */
				j &= ~1u;
				differ(&a, &b, tree, j, &seed, want);
				differ(&a, &b, tree, j + 1, &seed, want);
				if (leaves >= 4) {
					j = 1 + 2 * (uint32_t)(test_rand(&seed) % (leaves / 2 - 1));
					differ(&a, &b, tree, j, &seed, want);
					differ(&a, &b, tree, j + 1, &seed, want);
				}
				break;
			case 3: /* many: about half the leaves, and the ends */
				for (uint32_t l = 0; l < leaves; l++)
					if (l == 0 || l == leaves - 1 || test_rand(&seed) % 2 == 0)
						differ(&a, &b, tree, l, &seed, want);
				break;
			case 4: /* the first and the last leaf */
				differ(&a, &b, tree, 0, &seed, want);
				differ(&a, &b, tree, leaves - 1, &seed, want);
				break;
			default: /* a few anywhere (maybe twice in one leaf) */
				for (int i = 0; i < 4; i++)
					differ(&a, &b, tree, (uint32_t)(test_rand(&seed) % leaves),
					       &seed, want);
				break;
			}
		}
		ndiff = check_want(&a, &b, want);
		for (uint32_t tree = 0; tree < k; tree++) {
			bool d = !merkle_hash_eq(merkle_root(&a.t[tree]), merkle_root(&b.t[tree]));

			ntrees_differing += d;
		}

		run_exchange(&a, &b, depth, &ws, &wc, &x);
		ck_assert_uint_eq(x.nunknown, 0);
		ck_assert_uint_eq(x.kept[0], ntrees_differing);
		check_frontier(&ws, want, k, depth);
		check_frontier(&wc, want, k, depth);
		if (ndiff > 0) {
			ck_assert(ws.done && wc.done);
			ck_assert_uint_eq(x.rounds, depth + 1);
			ck_assert_uint_eq(x.kept[depth], ndiff);
			/* each kept node holds a differing leaf: at most one hash
			 * per differing leaf per level, however they cluster */
			ck_assert_uint_le(x.hashes, k + (uint64_t)depth * ndiff);
		} else {
			ck_assert_uint_eq(x.rounds, 1); /* the roots agree: over */
			ck_assert_uint_eq(x.hashes, k);
		}

		/* the other way round: the same leaves, at the same cost */
		run_exchange(&b, &a, depth, &ws2, &wc2, &x2);
		check_frontier(&ws2, want, k, depth);
		check_frontier(&wc2, want, k, depth);
		ck_assert_uint_eq(x2.hashes, x.hashes);
		ck_assert_uint_eq(x2.rounds, x.rounds);

		mwalk_free(&ws);
		mwalk_free(&wc);
		mwalk_free(&ws2);
		mwalk_free(&wc2);
		sides_free(&a, &b);
	}
}
END_TEST

/* The largest frontier: k << depth == MWALK_MAX_NODES, every leaf
 * differing. Its biggest messages (32768 hashes, 65536 bits) pass the
 * codec's limits. */
START_TEST(test_a_full_frontier_of_differing_leaves_fits)
{
	static const struct {
		uint32_t k;
		unsigned depth;
	} cfg[] = {{1, 16}, {4, 14}, {64, 10}};
	static bool want[MWALK_MAX_NODES];
	static struct side a, b;
	uint64_t seed = 77;

	for (size_t c = 0; c < sizeof(cfg) / sizeof(cfg[0]); c++) {
		uint32_t k = cfg[c].k;
		unsigned depth = cfg[c].depth;
		struct mwalk ws, wc;
		struct exchange x;

		ck_assert_uint_eq(k << depth, MWALK_MAX_NODES);
		memset(want, 0, sizeof(want));
		sides_init(&a, &b, k, depth, &seed);
		for (uint32_t tree = 0; tree < k; tree++)
			for (uint32_t leaf = 0; leaf < 1u << depth; leaf++)
				differ(&a, &b, tree, leaf, &seed, want);
		ck_assert_uint_eq(check_want(&a, &b, want), MWALK_MAX_NODES);
		run_exchange(&a, &b, depth, &ws, &wc, &x);
		ck_assert(ws.done && wc.done);
		ck_assert_uint_eq(ws.n, MWALK_MAX_NODES);
		check_frontier(&ws, want, k, depth);
		check_frontier(&wc, want, k, depth);
		/* every node of every tree kept: one hash per node but the
		 * right children, i.e. k * 2^depth in all */
		ck_assert_uint_eq(x.hashes, MWALK_MAX_NODES);
		ck_assert_uint_eq(x.kept[depth - 1], MWALK_MAX_NODES / 2);
		mwalk_free(&ws);
		mwalk_free(&wc);
		sides_free(&a, &b);
	}
}
END_TEST

/* A range the comparer cannot compare is reported in unknown at the
 * roots and counts as equal: the walk goes on with the others only. */
START_TEST(test_trees_the_comparer_cannot_compare_are_unknown_and_equal)
{
	static bool want[5 << 6], want_known[5 << 6];
	static struct side a, b;
	uint64_t seed = 3, hashes[5];
	uint8_t bits[1], unknown[1], bits2[1];
	struct mwalk ws, wc;
	struct exchange x;
	const unsigned depth = 6;

	memset(want, 0, sizeof(want));
	sides_init(&a, &b, 5, depth, &seed);
	populate_both(&a, &b, 100, &seed);
	differ(&a, &b, 1, 7, &seed, want);
	for (uint32_t l = 0; l < 64; l += 3)
		differ(&a, &b, 2, l, &seed, want);
	differ(&a, &b, 4, 63, &seed, want);
	check_want(&a, &b, want);
	memcpy(want_known, want, sizeof(want));
	memset(&want_known[2 << depth], 0, sizeof(bool) << depth);

	/* the roots, by hand: tree 2 differs but is unknown */
	b.unknown = 2;
	ck_assert_int_eq(mwalk_start(&ws, depth, 5), DKV_OK);
	ck_assert_int_eq(mwalk_start(&wc, depth, 5), DKV_OK);
	ck_assert_int_eq(mwalk_hashes(&ws, own, &a, hashes), DKV_OK);
	ck_assert_int_eq(mwalk_compare(&wc, hashes, 5, own, &b, bits, unknown), DKV_OK);
	ck_assert_uint_eq(bits[0], (1u << 1) | (1u << 4));
	ck_assert_uint_eq(unknown[0], 1u << 2);
	mwalk_free(&wc);
	/* unknown is optional */
	ck_assert_int_eq(mwalk_start(&wc, depth, 5), DKV_OK);
	ck_assert_int_eq(mwalk_compare(&wc, hashes, 5, own, &b, bits2, NULL), DKV_OK);
	ck_assert_uint_eq(bits2[0], bits[0]);
	mwalk_free(&wc);
	mwalk_free(&ws);

	/* the whole exchange: only trees 1 and 4 are walked down */
	run_exchange(&a, &b, depth, &ws, &wc, &x);
	ck_assert_uint_eq(x.nunknown, 1);
	ck_assert_uint_eq(x.kept[0], 2);
	check_frontier(&ws, want_known, 5, depth);
	check_frontier(&wc, want_known, 5, depth);
	mwalk_free(&ws);
	mwalk_free(&wc);

	/* an unknown tree that is equal anyway: still reported */
	b.unknown = 0;
	run_exchange(&a, &b, depth, &ws, &wc, &x);
	ck_assert_uint_eq(x.nunknown, 1);
	ck_assert_uint_eq(x.kept[0], 3);
	check_frontier(&wc, want, 5, depth);
	mwalk_free(&ws);
	mwalk_free(&wc);

	/* nothing known: nothing differs */
	b.unknown = ALL;
	run_exchange(&a, &b, depth, &ws, &wc, &x);
	ck_assert_uint_eq(x.nunknown, 5);
	ck_assert_uint_eq(x.kept[0], 0);
	ck_assert_uint_eq(ws.n, 0);
	ck_assert_uint_eq(wc.n, 0);
	mwalk_free(&ws);
	mwalk_free(&wc);

	/* the sender cannot give a hash (a tree went away): refused */
	a.unknown = 3;
	ck_assert_int_eq(mwalk_start(&ws, depth, 5), DKV_OK);
	ck_assert_int_eq(mwalk_hashes(&ws, own, &a, hashes), DKV_EINVAL);
	mwalk_free(&ws);
	sides_free(&a, &b);
}
END_TEST

/* A hash of this node that differs from the other side's everywhere. */
static bool
own_all_differ(void *arg, uint32_t tree, unsigned level, uint32_t index, uint64_t *hash)
{
	uint64_t s = *(const uint64_t *)arg ^ ((uint64_t)tree << 40) ^ ((uint64_t)level << 32) ^
	             index ^ 0x9e3779b97f4a7c15ull;

	*hash = test_rand(&s);
	return true;
}

static void
snapshot(const struct mwalk *w, struct mwalk *copy, struct mwalk_node *nodes)
{
	*copy = *w;
	memcpy(nodes, w->nodes, w->n * sizeof(*nodes));
}

static void
unchanged(const struct mwalk *w, const struct mwalk *copy, const struct mwalk_node *nodes)
{
	ck_assert_uint_eq(w->level, copy->level);
	ck_assert_uint_eq(w->n, copy->n);
	ck_assert(w->done == copy->done);
	ck_assert(memcmp(w->nodes, nodes, w->n * sizeof(*nodes)) == 0);
}

START_TEST(test_compare_refuses_a_wrong_hash_count)
{
	uint64_t mine = 1, theirs = 2, h[16] = {0};
	struct mwalk_node nodes[16];
	struct mwalk w, copy;
	uint8_t bits[4], before[4];

	ck_assert_int_eq(mwalk_start(&w, 3, 3), DKV_OK);
	snapshot(&w, &copy, nodes);
	memset(bits, 0xa5, sizeof(bits));
	memcpy(before, bits, sizeof(bits));
	ck_assert_int_eq(mwalk_compare(&w, h, 2, own_all_differ, &mine, bits, NULL), DKV_EINVAL);
	ck_assert_int_eq(mwalk_compare(&w, h, 4, own_all_differ, &mine, bits, NULL), DKV_EINVAL);
	ck_assert_int_eq(mwalk_compare(&w, h, 0, own_all_differ, &mine, bits, NULL), DKV_EINVAL);
	unchanged(&w, &copy, nodes);
	ck_assert(memcmp(bits, before, sizeof(bits)) == 0);

	/* below the roots: one hash per pair of siblings, not per node */
	for (uint32_t i = 0; i < 3; i++)
		own_all_differ(&theirs, i, 0, 0, &h[i]);
	ck_assert_int_eq(mwalk_compare(&w, h, 3, own_all_differ, &mine, bits, NULL), DKV_OK);
	ck_assert_uint_eq(bits[0], 0x07);
	ck_assert_int_eq(mwalk_keep(&w, bits, 1), 3);
	ck_assert_uint_eq(w.level, 1);
	ck_assert_uint_eq(w.n, 6);
	ck_assert_uint_eq(mwalk_nsend(&w), 3);
	snapshot(&w, &copy, nodes);
	ck_assert_int_eq(mwalk_compare(&w, h, 6, own_all_differ, &mine, bits, NULL), DKV_EINVAL);
	ck_assert_int_eq(mwalk_compare(&w, h, 2, own_all_differ, &mine, bits, NULL), DKV_EINVAL);
	ck_assert_int_eq(mwalk_compare(&w, h, 4, own_all_differ, &mine, bits, NULL), DKV_EINVAL);
	unchanged(&w, &copy, nodes); /* the parents' hashes kept for the right children */
	ck_assert_int_eq(mwalk_compare(&w, h, 3, own_all_differ, &mine, bits, NULL), DKV_OK);

	/* down to the leaves; after the last keep, nothing more */
	ck_assert_int_eq(mwalk_keep(&w, bits, 1), 6);
	ck_assert_uint_eq(w.n, 12);
	ck_assert_int_eq(mwalk_compare(&w, h, 6, own_all_differ, &mine, bits, NULL), DKV_OK);
	ck_assert_int_eq(mwalk_keep(&w, bits, 2), 12);
	ck_assert_uint_eq(w.level, 3);
	ck_assert(!w.done);
	ck_assert_int_eq(mwalk_compare(&w, h, 12, own_all_differ, &mine, bits, NULL), DKV_OK);
	ck_assert_int_eq(mwalk_keep(&w, bits, 3), 24);
	ck_assert(w.done);
	ck_assert_int_eq(mwalk_compare(&w, h, mwalk_nsend(&w), own_all_differ, &mine, bits, NULL),
	                 DKV_EINVAL);
	mwalk_free(&w);
}
END_TEST

START_TEST(test_keep_refuses_wrong_bitmaps_and_a_finished_walk)
{
	struct mwalk_node nodes[32];
	struct mwalk w, copy;
	uint8_t bits[4];

	ck_assert_int_eq(mwalk_start(&w, 2, 3), DKV_OK);
	snapshot(&w, &copy, nodes);
	bits[0] = 0x05;
	bits[1] = 0;
	ck_assert_int_eq(mwalk_keep(&w, bits, 0), DKV_EINVAL); /* wrong length */
	ck_assert_int_eq(mwalk_keep(&w, bits, 2), DKV_EINVAL);
	bits[0] = 0x08; /* bit 3 of a 3-node frontier */
	ck_assert_int_eq(mwalk_keep(&w, bits, 1), DKV_EINVAL);
	bits[0] = 0x85;
	ck_assert_int_eq(mwalk_keep(&w, bits, 1), DKV_EINVAL);
	unchanged(&w, &copy, nodes);

	/* trees 0 and 2 differ: their roots' children */
	bits[0] = 0x05;
	ck_assert_int_eq(mwalk_keep(&w, bits, 1), 2);
	ck_assert_uint_eq(w.level, 1);
	ck_assert_uint_eq(w.n, 4);
	ck_assert(w.nodes[0].tree == 0 && w.nodes[0].index == 0);
	ck_assert(w.nodes[1].tree == 0 && w.nodes[1].index == 1);
	ck_assert(w.nodes[2].tree == 2 && w.nodes[2].index == 0);
	ck_assert(w.nodes[3].tree == 2 && w.nodes[3].index == 1);
	snapshot(&w, &copy, nodes);
	bits[0] = 0x10; /* bit 4 of 4 */
	ck_assert_int_eq(mwalk_keep(&w, bits, 1), DKV_EINVAL);
	unchanged(&w, &copy, nodes);
	bits[0] = 0x0a; /* the right children */
	ck_assert_int_eq(mwalk_keep(&w, bits, 1), 2);
	ck_assert_uint_eq(w.level, 2);
	ck_assert(!w.done);
	ck_assert(w.nodes[0].tree == 0 && w.nodes[0].index == 2);
	ck_assert(w.nodes[1].tree == 0 && w.nodes[1].index == 3);
	ck_assert(w.nodes[2].tree == 2 && w.nodes[2].index == 2);
	ck_assert(w.nodes[3].tree == 2 && w.nodes[3].index == 3);
	/* at the leaves: the kept ones are the answer */
	bits[0] = 0x09;
	ck_assert_int_eq(mwalk_keep(&w, bits, 1), 2);
	ck_assert(w.done);
	ck_assert_uint_eq(w.n, 2);
	ck_assert(w.nodes[0].tree == 0 && w.nodes[0].index == 2);
	ck_assert(w.nodes[1].tree == 2 && w.nodes[1].index == 3);
	snapshot(&w, &copy, nodes);
	bits[0] = 0x03;
	ck_assert_int_eq(mwalk_keep(&w, bits, mwalk_bitmap_len(&w)), DKV_EINVAL); /* done */
	bits[0] = 0;
	ck_assert_int_eq(mwalk_keep(&w, bits, mwalk_bitmap_len(&w)), DKV_EINVAL);
	unchanged(&w, &copy, nodes);
	mwalk_free(&w);

	/* a frontier of a whole number of bytes has no bits past it; one
	 * more node and the next byte has 7 */
	ck_assert_int_eq(mwalk_start(&w, 1, 8), DKV_OK);
	bits[0] = 0xff;
	ck_assert_int_eq(mwalk_keep(&w, bits, 1), 8);
	ck_assert_uint_eq(w.n, 16);
	bits[0] = 0xff;
	bits[1] = 0x80;
	ck_assert_int_eq(mwalk_keep(&w, bits, 2), 9);
	ck_assert(w.done);
	ck_assert(w.nodes[8].tree == 7 && w.nodes[8].index == 1);
	mwalk_free(&w);
	ck_assert_int_eq(mwalk_start(&w, 1, 9), DKV_OK);
	bits[0] = 0;
	bits[1] = 0x02;
	ck_assert_int_eq(mwalk_keep(&w, bits, 2), DKV_EINVAL);
	bits[1] = 0x01;
	ck_assert_int_eq(mwalk_keep(&w, bits, 2), 1);
	ck_assert(w.nodes[0].tree == 8 && w.nodes[1].tree == 8);
	mwalk_free(&w);

	/* nothing differs: nothing kept, an empty frontier */
	ck_assert_int_eq(mwalk_start(&w, 4, 3), DKV_OK);
	bits[0] = 0;
	ck_assert_int_eq(mwalk_keep(&w, bits, 1), 0);
	ck_assert_uint_eq(w.n, 0);
	mwalk_free(&w);

	/* out of memory going down a level */
	ck_assert_int_eq(mwalk_start(&w, 4, 3), DKV_OK);
	bits[0] = 0x07;
	mem_fail_after(1, 0);
	ck_assert_int_eq(mwalk_keep(&w, bits, 1), DKV_ENOMEM);
	mem_fail_after(0, 0);
	mwalk_free(&w);
}
END_TEST

/* --- names ---------------------------------------------------------------- */

struct tagged {
	uint32_t tag, i;
};

static int
tagged_cmp(const void *x, const void *y)
{
	const struct tagged *a = x, *b = y;

	if (a->tag != b->tag)
		return a->tag < b->tag ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

static size_t
key_of(uint32_t i, char *buf, size_t size)
{
	return (size_t)snprintf(buf, size, "user:%u", i);
}

START_TEST(test_key_tags_are_deterministic_and_salted)
{
	enum { N = 200000 };
	struct tagged *t = malloc(N * sizeof(*t));
	uint32_t same = 0, collisions = 0;
	uint8_t zero[4] = {0};
	char k[32];

	ck_assert(t != NULL);
	ck_assert_uint_eq(merkle_key_tag("k", 1, 7), merkle_key_tag("k", 1, 7));
	ck_assert_uint_ne(merkle_key_tag("k", 1, 7), merkle_key_tag("k", 1, 8));
	ck_assert_uint_ne(merkle_key_tag("ab", 2, 7), merkle_key_tag("abc", 3, 7));
	ck_assert_uint_ne(merkle_key_tag(zero, 3, 0), merkle_key_tag(zero, 4, 0));
	for (uint32_t i = 0; i < N; i++) {
		size_t n = key_of(i, k, sizeof(k));

		t[i].tag = merkle_key_tag(k, n, 0x12345678u);
		t[i].i = i;
		expect(t[i].tag == merkle_key_tag(k, n, 0x12345678u));
		same += t[i].tag == merkle_key_tag(k, n, 0x12345679u);
	}
	ck_assert_uint_le(same, 2); /* about N / 2^32 */
	/* keys that share a tag under one salt (a birthday's worth: about
	 * N^2 / 2^33 pairs) do not under the next */
	qsort(t, N, sizeof(*t), tagged_cmp);
	for (uint32_t i = 1; i < N; i++) {
		char k2[32];
		size_t n, n2;

		if (t[i].tag != t[i - 1].tag)
			continue;
		collisions++;
		n = key_of(t[i - 1].i, k, sizeof(k));
		n2 = key_of(t[i].i, k2, sizeof(k2));
		ck_assert_uint_ne(merkle_key_tag(k, n, 0x12345679u),
		                  merkle_key_tag(k2, n2, 0x12345679u));
	}
	ck_assert_uint_ge(collisions, 1);
	ck_assert_uint_le(collisions, 20);
	free(t);
}
END_TEST

static int
u64_cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

START_TEST(test_range_ids_are_deterministic_and_tell_ranges_apart)
{
	enum { N = 20000 };
	uint64_t *ids = malloc(N * sizeof(*ids)), seed = 5;
	struct token lo = {1, 2}, hi = {3, 4}, lo1 = {1, 3}, hi1 = {3, 5}, hi2 = {4, 4};

	ck_assert(ids != NULL);
	ck_assert(merkle_range_id(lo, hi) == merkle_range_id(lo, hi));
	ck_assert(merkle_range_id(lo, hi) != merkle_range_id(hi, lo)); /* the other way round */
	ck_assert(merkle_range_id(lo, hi) != merkle_range_id(lo1, hi));
	ck_assert(merkle_range_id(lo, hi) != merkle_range_id(lo, hi1));
	ck_assert(merkle_range_id(lo, hi) != merkle_range_id(lo, hi2));
	ck_assert(merkle_range_id(lo, lo) != merkle_range_id(hi, hi)); /* whole rings */
	ck_assert(merkle_range_id(lo, lo) != merkle_range_id(lo, hi));
	/* many ranges, among them neighbours and ranges sharing an end */
	for (uint32_t i = 0; i < N; i += 4) {
		struct token a = rand_token(&seed), b = rand_token(&seed);
		struct token b1 = token_from_u128(token_to_u128(b) + 1);

		ids[i] = merkle_range_id(a, b);
		ids[i + 1] = merkle_range_id(b, b1);
		ids[i + 2] = merkle_range_id(a, b1);
		ids[i + 3] = merkle_range_id(b1, a);
		expect(ids[i] == merkle_range_id(a, b));
	}
	qsort(ids, N, sizeof(*ids), u64_cmp);
	for (uint32_t i = 1; i < N; i++)
		expect(ids[i] != ids[i - 1]);
	free(ids);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("merkle_walk");
	TCase *tc = tcase_create("merkle_walk");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_start_refuses_bad_sizes_and_sets_up_the_roots);
	tcase_add_test(tc, test_exchange_ends_on_exactly_the_differing_leaves);
	tcase_add_test(tc, test_a_full_frontier_of_differing_leaves_fits);
	tcase_add_test(tc, test_trees_the_comparer_cannot_compare_are_unknown_and_equal);
	tcase_add_test(tc, test_compare_refuses_a_wrong_hash_count);
	tcase_add_test(tc, test_keep_refuses_wrong_bitmaps_and_a_finished_walk);
	tcase_add_test(tc, test_key_tags_are_deterministic_and_salted);
	tcase_add_test(tc, test_range_ids_are_deterministic_and_tell_ranges_apart);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
