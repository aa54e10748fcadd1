/*
 * Merkle trees (lib/core/merkle.c): order-independent incremental hashes,
 * exact leaf placement on ordinary, wrapping, whole-ring and tiny ranges,
 * and rejection of bad depths, of updates outside the range and of
 * levels and indexes from a peer (merkle_node_valid). The exchange that
 * walks the trees down to their differing leaves is check_merkle_walk.c's.
 */
#include "config.h"

#include "libdkv/dkv.h"
#include "core/merkle.h"
#include "util/alloc.h"
#include "unit.h"

static const struct merkle_hash zero_hash = {0, 0};

static struct token
tok(uint64_t hi, uint64_t lo)
{
	struct token t = {hi, lo};

	return t;
}

static struct token
rand_token(uint64_t *seed)
{
	return tok(test_rand(seed), test_rand(seed));
}

/* A random token inside m's range (lo, hi]. */
static struct token
rand_token_in(const struct merkle *m, uint64_t *seed)
{
	token_u128 span = token_to_u128(m->hi) - token_to_u128(m->lo);
	token_u128 r = token_to_u128(rand_token(seed));

	if (span != 0)
		r %= span;
	return token_from_u128(token_to_u128(m->lo) + 1 + r);
}

struct entry {
	struct token token;
	struct merkle_hash hash;
};

static struct entry
mk_entry(uint64_t i, const char *value)
{
	char key[32];
	int n = snprintf(key, sizeof(key), "key-%llu", (unsigned long long)i);
	struct entry e;

	e.token = token_of_key(key, (size_t)n);
	e.hash = merkle_entry_hash(key, (size_t)n, value, strlen(value));
	return e;
}

static bool
leaf_holds(const struct merkle *m, uint32_t leaf, struct token t)
{
	struct token lo, hi;
	token_u128 off, span;

	merkle_leaf_bounds(m, leaf, &lo, &hi);
	span = token_to_u128(hi) - token_to_u128(lo); /* 0 here means an empty leaf */
	off = token_to_u128(t) - token_to_u128(lo) - 1;
	return off < span;
}

/* Leaves tile the range in order, and leaf_of agrees with the bounds on
 * each leaf's first and last token and the token just past it. */
static void
check_tiling(const struct merkle *m)
{
	uint32_t leaves = (uint32_t)1 << m->depth, nonempty = 0;
	struct token lo, hi, prev_hi = m->lo;

	for (uint32_t i = 0; i < leaves; i++) {
		merkle_leaf_bounds(m, i, &lo, &hi);
		if (token_cmp(lo, prev_hi) != 0)
			ck_abort_msg("leaf %u does not start where %u ends", i, i - 1);
		prev_hi = hi;
		if (token_cmp(lo, hi) == 0)
			continue; /* empty leaf */
		nonempty++;
		struct token first = token_from_u128(token_to_u128(lo) + 1);
		expect(merkle_contains(m, first) && merkle_contains(m, hi));
		expect(merkle_leaf_of(m, first) == i);
		expect(merkle_leaf_of(m, hi) == i);
		expect(leaf_holds(m, i, first) && leaf_holds(m, i, hi));
		expect(!leaf_holds(m, i, lo));
		struct token next = token_from_u128(token_to_u128(hi) + 1);
		expect(!leaf_holds(m, i, next));
		if (!merkle_contains(m, next)) /* i is the last non-empty leaf */
			expect(token_cmp(hi, m->hi) == 0);
		else if (token_cmp(hi, m->hi) == 0) /* whole ring: round to leaf 0 */
			expect(merkle_leaf_of(m, next) == 0);
		else
			expect(merkle_leaf_of(m, next) > i);
	}
	ck_assert_msg(token_cmp(prev_hi, m->hi) == 0,
	              "the last leaf does not end at the range's hi");
	expect(nonempty > 0);
}

static void
check_random_tokens(const struct merkle *m, uint64_t seed, int count)
{
	for (int i = 0; i < count; i++) {
		struct token t = rand_token_in(m, &seed);
		uint32_t leaf;

		expect(merkle_contains(m, t));
		leaf = merkle_leaf_of(m, t);
		expect(leaf < (uint32_t)1 << m->depth);
		if (!leaf_holds(m, leaf, t))
			ck_abort_msg("leaf %u does not hold its token", leaf);
	}
}

START_TEST(test_updates_in_any_order_give_the_same_root)
{
	enum { N = 2000 };
	static struct entry e[N];
	static uint32_t order[N];
	struct merkle a, b;
	uint64_t seed = 42;

	ck_assert_int_eq(merkle_init(&a, tok(0, 0), tok(0, 0), 10), DKV_OK);
	ck_assert_int_eq(merkle_init(&b, tok(0, 0), tok(0, 0), 10), DKV_OK);
	ck_assert(merkle_hash_eq(merkle_root(&a), zero_hash));
	for (uint32_t i = 0; i < N; i++) {
		e[i] = mk_entry(i, "v1");
		order[i] = i;
	}
	for (uint32_t i = N - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(test_rand(&seed) % (i + 1)), x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	/* a: straight inserts; b: shuffled, each first inserted with an older
	 * value and then changed, to exercise (old, new) */
	for (uint32_t i = 0; i < N; i++)
		expect(merkle_update(&a, e[i].token, NULL, &e[i].hash) == DKV_OK);
	for (uint32_t i = 0; i < N; i++) {
		struct entry older = mk_entry(order[i], "v0");

		expect(merkle_update(&b, older.token, NULL, &older.hash) == DKV_OK);
	}
	ck_assert(!merkle_hash_eq(merkle_root(&a), merkle_root(&b)));
	for (uint32_t i = 0; i < N; i++) {
		struct entry older = mk_entry(order[i], "v0");
		const struct entry *cur = &e[order[i]];

		expect(merkle_update(&b, cur->token, &older.hash, &cur->hash) == DKV_OK);
	}
	ck_assert(merkle_hash_eq(merkle_root(&a), merkle_root(&b)));
	/* every node, not just the root */
	for (unsigned level = 0; level <= a.depth; level++)
		for (uint32_t i = 0; i < (uint32_t)1 << level; i++)
			expect(
			    merkle_hash_eq(merkle_node(&a, level, i), merkle_node(&b, level, i)));
	/* the root is the XOR of every entry */
	struct merkle_hash x = zero_hash;
	for (uint32_t i = 0; i < N; i++) {
		x.a ^= e[i].hash.a;
		x.b ^= e[i].hash.b;
	}
	ck_assert(merkle_hash_eq(merkle_root(&a), x));
	/* deleting everything, in yet another order, leaves all zeros */
	for (uint32_t i = N; i-- > 0;)
		expect(merkle_update(&a, e[order[i]].token, &e[order[i]].hash, NULL) == DKV_OK);
	for (unsigned level = 0; level <= a.depth; level++)
		for (uint32_t i = 0; i < (uint32_t)1 << level; i++)
			expect(merkle_hash_eq(merkle_node(&a, level, i), zero_hash));
	/* clear empties b too */
	merkle_clear(&b);
	ck_assert(merkle_hash_eq(merkle_root(&b), zero_hash));
	ck_assert(merkle_hash_eq(merkle_node(&b, b.depth, 5), zero_hash));
	merkle_free(&a);
	merkle_free(&b);
}
END_TEST

START_TEST(test_entry_hash_separates_key_and_object)
{
	struct merkle_hash h1 = merkle_entry_hash("ab", 2, "c", 1);
	struct merkle_hash h2 = merkle_entry_hash("a", 1, "bc", 2);
	struct merkle_hash h3 = merkle_entry_hash("ab", 2, "c", 1);
	struct merkle_hash h4 = merkle_entry_hash("abc", 3, "", 0);
	uint8_t k[16];

	ck_assert(merkle_hash_eq(h1, h3));
	ck_assert(!merkle_hash_eq(h1, h2));
	ck_assert(!merkle_hash_eq(h1, h4));
	ck_assert(!merkle_hash_eq(h2, h4));
	ck_assert(!merkle_hash_eq(h1, merkle_entry_hash("ab", 2, "d", 1)));
	/* not the key's token: a different seed */
	struct token t = token_of_key("ab", 2);
	ck_assert(!(h1.a == t.hi && h1.b == t.lo));
	memset(k, 0, sizeof(k));
	ck_assert(
	    !merkle_hash_eq(merkle_entry_hash(k, 16, NULL, 0), merkle_entry_hash(k, 15, k, 1)));
}
END_TEST

START_TEST(test_leaves_tile_an_ordinary_range)
{
	static const unsigned depths[] = {1, 3, 7, 12, 16};
	uint64_t seed = 99;

	for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
		for (int r = 0; r < 4; r++) {
			struct merkle m;
			struct token lo = rand_token(&seed), hi = rand_token(&seed);

			if (token_cmp(lo, hi) > 0) {
				struct token x = lo;
				lo = hi;
				hi = x;
			}
			ck_assert_int_eq(merkle_init(&m, lo, hi, depths[d]), DKV_OK);
			ck_assert(!merkle_contains(&m, lo));
			ck_assert(merkle_contains(&m, hi));
			ck_assert(!merkle_contains(&m, token_from_u128(token_to_u128(hi) + 1)));
			check_tiling(&m);
			check_random_tokens(&m, seed + (uint64_t)r, 3000);
			merkle_free(&m);
		}
	}
}
END_TEST

START_TEST(test_leaves_tile_a_range_that_wraps_past_zero)
{
	uint64_t seed = 5;
	struct merkle m;
	struct token max = tok(UINT64_MAX, UINT64_MAX), zero = tok(0, 0);

	for (int r = 0; r < 8; r++) {
		struct token lo = tok(UINT64_MAX - test_rand(&seed) % 1000, test_rand(&seed));
		struct token hi = tok(test_rand(&seed) % 1000, test_rand(&seed));

		ck_assert_int_eq(merkle_init(&m, lo, hi, 1 + (unsigned)r * 2), DKV_OK);
		ck_assert(merkle_contains(&m, max) && merkle_contains(&m, zero));
		ck_assert(!merkle_contains(&m, tok(1ull << 63, 0)));
		check_tiling(&m);
		check_random_tokens(&m, seed, 3000);
		/* the tokens either side of zero are neighbours */
		ck_assert_uint_le(merkle_leaf_of(&m, max), merkle_leaf_of(&m, zero));
		merkle_free(&m);
	}
	/* a range ending exactly at the top of the ring and one starting at it */
	ck_assert_int_eq(merkle_init(&m, tok(1ull << 63, 0), max, 16), DKV_OK);
	check_tiling(&m);
	ck_assert_uint_eq(merkle_leaf_of(&m, max), (1u << 16) - 1);
	merkle_free(&m);
	ck_assert_int_eq(merkle_init(&m, max, tok(1ull << 63, 0), 16), DKV_OK);
	check_tiling(&m);
	ck_assert_uint_eq(merkle_leaf_of(&m, zero), 0);
	ck_assert(!merkle_contains(&m, max));
	merkle_free(&m);
}
END_TEST

START_TEST(test_whole_ring_splits_into_equal_leaves)
{
	struct merkle m;
	struct token lo, hi, start = tok(0x123456789abcdefull, 42);
	uint64_t seed = 3;

	ck_assert_int_eq(merkle_init(&m, start, start, 4), DKV_OK);
	for (int i = 0; i < 1000; i++)
		expect(merkle_contains(&m, rand_token(&seed)));
	ck_assert(merkle_contains(&m, start));
	/* start itself is the last token of the last leaf */
	ck_assert_uint_eq(merkle_leaf_of(&m, start), 15);
	merkle_leaf_bounds(&m, 0, &lo, &hi);
	ck_assert(token_cmp(lo, start) == 0);
	ck_assert(token_to_u128(hi) - token_to_u128(lo) == (token_u128)1 << 124);
	check_tiling(&m);
	check_random_tokens(&m, 11, 5000);
	merkle_free(&m);

	/* from zero, leaves are the top bits */
	ck_assert_int_eq(merkle_init(&m, tok(0, 0), tok(0, 0), 16), DKV_OK);
	check_tiling(&m);
	ck_assert_uint_eq(merkle_leaf_of(&m, tok(0, 1)), 0);
	ck_assert_uint_eq(merkle_leaf_of(&m, tok(0, 0)), 0xffff); /* = 2^128, the end */
	ck_assert_uint_eq(merkle_leaf_of(&m, tok(0xabcd000000000000ull, 1)), 0xabcd);
	ck_assert_uint_eq(merkle_leaf_of(&m, tok(0xabcd000000000000ull, 0)), 0xabcc);
	check_random_tokens(&m, 12, 5000);
	merkle_free(&m);
}
END_TEST

START_TEST(test_a_range_smaller_than_the_leaf_count_has_empty_leaves)
{
	struct merkle m;
	struct token lo, hi, base = tok(UINT64_MAX, UINT64_MAX - 2); /* wraps too */

	/* 5 tokens over 16 leaves: offset o goes to leaf floor(o*16/5), so
	 * leaves 0, 3, 6, 9 and 12 hold one each and the rest are empty */
	ck_assert_int_eq(merkle_init(&m, base, token_from_u128(token_to_u128(base) + 5), 4), DKV_OK);
	check_tiling(&m);
	for (uint32_t o = 0; o < 5; o++) {
		struct token t = token_from_u128(token_to_u128(base) + 1 + o);
		uint32_t leaf = merkle_leaf_of(&m, t);

		ck_assert_uint_eq(leaf, o * 16 / 5);
		merkle_leaf_bounds(&m, leaf, &lo, &hi);
		ck_assert(token_cmp(hi, t) == 0);
		ck_assert(token_to_u128(hi) - token_to_u128(lo) == 1);
	}
	merkle_leaf_bounds(&m, 1, &lo, &hi);
	ck_assert(token_cmp(lo, hi) == 0);
	ck_assert(token_cmp(lo, token_from_u128(token_to_u128(base) + 1)) == 0);
	merkle_free(&m);

	/* a single token: leaf 0 holds it, every other leaf is empty at it */
	ck_assert_int_eq(merkle_init(&m, tok(0, 9), tok(0, 10), 16), DKV_OK);
	check_tiling(&m);
	ck_assert_uint_eq(merkle_leaf_of(&m, tok(0, 10)), 0);
	ck_assert(merkle_contains(&m, tok(0, 10)));
	ck_assert(!merkle_contains(&m, tok(0, 9)) && !merkle_contains(&m, tok(0, 11)));
	merkle_leaf_bounds(&m, 0xffff, &lo, &hi);
	ck_assert(token_cmp(lo, tok(0, 10)) == 0 && token_cmp(hi, tok(0, 10)) == 0);
	merkle_free(&m);

	/* span just above and below the leaf count */
	base = tok(7, UINT64_MAX - 30); /* the low word wraps inside the range */
	for (uint64_t span = 60; span < 70; span++) {
		ck_assert_int_eq(merkle_init(&m, base, token_from_u128(token_to_u128(base) + span), 6), DKV_OK);
		check_tiling(&m);
		for (uint64_t o = 0; o < span; o++) {
			struct token t = token_from_u128(token_to_u128(base) + 1 + o);

			expect(leaf_holds(&m, merkle_leaf_of(&m, t), t));
		}
		merkle_free(&m);
	}
}
END_TEST

START_TEST(test_update_outside_the_range_is_rejected)
{
	struct merkle m;
	struct merkle_hash h = {1, 2};

	ck_assert_int_eq(merkle_init(&m, tok(0, 100), tok(0, 200), 3), DKV_OK);
	ck_assert_int_eq(merkle_update(&m, tok(0, 100), NULL, &h), DKV_EINVAL);
	ck_assert_int_eq(merkle_update(&m, tok(0, 201), NULL, &h), DKV_EINVAL);
	ck_assert(merkle_hash_eq(merkle_root(&m), zero_hash));
	ck_assert_int_eq(merkle_update(&m, tok(0, 200), NULL, &h), DKV_OK);
	ck_assert(merkle_hash_eq(merkle_root(&m), h));
	ck_assert(merkle_hash_eq(merkle_node(&m, 3, 7), h));
	merkle_free(&m);
}
END_TEST

START_TEST(test_bad_depth_is_rejected)
{
	struct merkle m;

	ck_assert_int_eq(merkle_init(&m, tok(0, 0), tok(0, 0), 0), DKV_EINVAL);
	merkle_free(&m);
	ck_assert_int_eq(merkle_init(&m, tok(0, 0), tok(0, 0), 17), DKV_EINVAL);
	merkle_free(&m);
	ck_assert_int_eq(merkle_init(&m, tok(0, 0), tok(0, 0), 1), DKV_OK);
	merkle_free(&m);
	merkle_free(NULL);
}
END_TEST

START_TEST(test_out_of_memory_is_reported)
{
	struct merkle m;

	mem_fail_after(1, 0);
	ck_assert_int_eq(merkle_init(&m, tok(0, 0), tok(0, 0), 8), DKV_ENOMEM);
	mem_fail_after(0, 0);
	merkle_free(&m);
}
END_TEST

/* What the exchange checks a peer's (level, index) with before reading a
 * node (merkle_node asserts it). */
START_TEST(test_remote_levels_and_indexes_out_of_range_are_not_nodes)
{
	struct merkle m;

	ck_assert_int_eq(merkle_init(&m, tok(0, 0), tok(0, 0), 4), DKV_OK);
	ck_assert(merkle_node_valid(&m, 0, 0));
	ck_assert(merkle_node_valid(&m, 2, 3));
	ck_assert(merkle_node_valid(&m, 4, 15));
	ck_assert(!merkle_node_valid(&m, 4, 16)); /* past the level's width */
	ck_assert(!merkle_node_valid(&m, 2, 4));
	ck_assert(!merkle_node_valid(&m, 0, 1));
	ck_assert(!merkle_node_valid(&m, 4, UINT32_MAX));
	ck_assert(!merkle_node_valid(&m, 5, 0)); /* below the leaves */
	ck_assert(!merkle_node_valid(&m, 31, 0));
	ck_assert(!merkle_node_valid(&m, 32, 0)); /* would overflow a 32-bit shift */
	ck_assert(!merkle_node_valid(&m, UINT32_MAX, 0));
	merkle_free(&m);
	ck_assert_int_eq(merkle_init(&m, tok(0, 0), tok(0, 0), MERKLE_MAX_DEPTH), DKV_OK);
	ck_assert(merkle_node_valid(&m, MERKLE_MAX_DEPTH, (1u << MERKLE_MAX_DEPTH) - 1));
	ck_assert(!merkle_node_valid(&m, MERKLE_MAX_DEPTH, 1u << MERKLE_MAX_DEPTH));
	ck_assert(!merkle_node_valid(&m, MERKLE_MAX_DEPTH + 1, 0));
	merkle_free(&m);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("merkle");
	TCase *tc = tcase_create("merkle");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_updates_in_any_order_give_the_same_root);
	tcase_add_test(tc, test_entry_hash_separates_key_and_object);
	tcase_add_test(tc, test_leaves_tile_an_ordinary_range);
	tcase_add_test(tc, test_leaves_tile_a_range_that_wraps_past_zero);
	tcase_add_test(tc, test_whole_ring_splits_into_equal_leaves);
	tcase_add_test(tc, test_a_range_smaller_than_the_leaf_count_has_empty_leaves);
	tcase_add_test(tc, test_update_outside_the_range_is_rejected);
	tcase_add_test(tc, test_bad_depth_is_rejected);
	tcase_add_test(tc, test_out_of_memory_is_reported);
	tcase_add_test(tc, test_remote_levels_and_indexes_out_of_range_are_not_nodes);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
