/*
 * Entry lists compared by tag (lib/core/keydiff.c): what two replicas'
 * entries in the same leaves make one side send and ask for: keys one
 * side lacks, keys held differently (the larger version-vector sum
 * sends, with sync-back), tags two keys share, and a result that does
 * not depend on the lists' order.
 */
#include "config.h"

#include "core/keydiff.h"
#include "unit.h"

#define MAXCALLS 64

/* The calls keydiff made, in order. */
struct calls {
	uint32_t sent[MAXCALLS], wanted[MAXCALLS];
	bool sent_sb[MAXCALLS], wanted_sb[MAXCALLS];
	size_t nsent, nwanted;
};

static void
on_send(void *arg, uint32_t idx, bool syncback)
{
	struct calls *c = arg;

	ck_assert_uint_lt(c->nsent, MAXCALLS);
	c->sent_sb[c->nsent] = syncback;
	c->sent[c->nsent++] = idx;
}

static void
on_want(void *arg, uint32_t tag, bool syncback)
{
	struct calls *c = arg;

	ck_assert_uint_lt(c->nwanted, MAXCALLS);
	c->wanted_sb[c->nwanted] = syncback;
	c->wanted[c->nwanted++] = tag;
}

static size_t
run(struct keydiff_entry *mine, size_t nm, struct keydiff_entry *theirs, size_t nt,
    struct calls *c)
{
	struct keydiff_ops ops = {on_send, on_want, c};

	memset(c, 0, sizeof(*c));
	return keydiff(mine, nm, theirs, nt, &ops);
}

static struct keydiff_entry
ent(uint32_t tag, uint32_t idx, uint64_t hash, uint64_t sum)
{
	struct keydiff_entry e = {tag, idx, hash, sum};

	return e;
}

START_TEST(test_equal_lists_ask_for_nothing)
{
	struct keydiff_entry mine[3] = {ent(5, 0, 50, 1), ent(1, 1, 10, 2), ent(9, 2, 90, 3)};
	struct keydiff_entry theirs[3] = {ent(9, 0, 90, 3), ent(5, 0, 50, 1), ent(1, 0, 10, 2)};
	struct calls c;

	ck_assert_uint_eq(run(mine, 3, theirs, 3, &c), 3);
	ck_assert_uint_eq(c.nsent, 0);
	ck_assert_uint_eq(c.nwanted, 0);
	ck_assert_uint_eq(run(NULL, 0, NULL, 0, &c), 0);
}
END_TEST

START_TEST(test_keys_one_side_lacks_go_one_way_without_syncback)
{
	struct keydiff_entry mine[3] = {ent(7, 0, 70, 1), ent(2, 1, 20, 1), ent(4, 2, 40, 1)};
	struct keydiff_entry theirs[3] = {ent(4, 0, 40, 1), ent(3, 0, 30, 1), ent(8, 0, 80, 1)};
	struct calls c;

	/* 2 and 7 only here, 3 and 8 only there, 4 on both */
	ck_assert_uint_eq(run(mine, 3, theirs, 3, &c), 5);
	ck_assert_uint_eq(c.nsent, 2);
	ck_assert_uint_eq(c.sent[0], 1); /* tag 2 */
	ck_assert_uint_eq(c.sent[1], 0); /* tag 7 */
	ck_assert(!c.sent_sb[0] && !c.sent_sb[1]);
	ck_assert_uint_eq(c.nwanted, 2);
	ck_assert_uint_eq(c.wanted[0], 3);
	ck_assert_uint_eq(c.wanted[1], 8);
	ck_assert(!c.wanted_sb[0] && !c.wanted_sb[1]);
	/* an empty side: all of the other */
	ck_assert_uint_eq(run(mine, 3, NULL, 0, &c), 3);
	ck_assert_uint_eq(c.nsent, 3);
	ck_assert_uint_eq(c.nwanted, 0);
	ck_assert_uint_eq(run(NULL, 0, theirs, 3, &c), 3);
	ck_assert_uint_eq(c.nsent, 0);
	ck_assert_uint_eq(c.nwanted, 3);
}
END_TEST

START_TEST(test_a_key_held_differently_goes_from_the_larger_sum_with_syncback)
{
	struct keydiff_entry mine[1], theirs[1];
	struct calls c;

	/* ours is newer: we send, and they send back their merge if it
	 * differs */
	mine[0] = ent(6, 4, 1, 9);
	theirs[0] = ent(6, 0, 2, 3);
	ck_assert_uint_eq(run(mine, 1, theirs, 1, &c), 1);
	ck_assert_uint_eq(c.nsent, 1);
	ck_assert_uint_eq(c.sent[0], 4);
	ck_assert(c.sent_sb[0]);
	ck_assert_uint_eq(c.nwanted, 0);
	/* theirs is newer: we ask, with sync-back */
	mine[0] = ent(6, 4, 1, 3);
	theirs[0] = ent(6, 0, 2, 9);
	run(mine, 1, theirs, 1, &c);
	ck_assert_uint_eq(c.nsent, 0);
	ck_assert_uint_eq(c.nwanted, 1);
	ck_assert_uint_eq(c.wanted[0], 6);
	ck_assert(c.wanted_sb[0]);
	/* equal sums (concurrent versions): this side sends; the merge
	 * comes back */
	mine[0] = ent(6, 4, 1, 5);
	theirs[0] = ent(6, 0, 2, 5);
	run(mine, 1, theirs, 1, &c);
	ck_assert_uint_eq(c.nsent, 1);
	ck_assert(c.sent_sb[0]);
	ck_assert_uint_eq(c.nwanted, 0);
}
END_TEST

START_TEST(test_a_tag_two_keys_share_is_merged_both_ways)
{
	/* two of our keys share tag 3, they hold one key under it */
	struct keydiff_entry mine[3] = {ent(3, 0, 30, 1), ent(3, 1, 31, 1), ent(5, 2, 50, 1)};
	struct keydiff_entry theirs[2] = {ent(3, 0, 30, 1), ent(5, 0, 50, 1)};
	struct calls c;

	ck_assert_uint_eq(run(mine, 3, theirs, 2, &c), 3);
	ck_assert_uint_eq(c.nsent, 2);
	ck_assert(c.sent_sb[0] && c.sent_sb[1]);
	ck_assert((c.sent[0] == 0 && c.sent[1] == 1) || (c.sent[0] == 1 && c.sent[1] == 0));
	ck_assert_uint_eq(c.nwanted, 1);
	ck_assert_uint_eq(c.wanted[0], 3);
	ck_assert(c.wanted_sb[0]);
	/* and the other way round: they hold two under one tag */
	mine[0] = ent(3, 0, 30, 1);
	theirs[0] = ent(3, 0, 33, 1);
	theirs[1] = ent(3, 0, 34, 1);
	ck_assert_uint_eq(run(mine, 1, theirs, 2, &c), 2);
	ck_assert_uint_eq(c.nsent, 1);
	ck_assert(c.sent_sb[0]);
	ck_assert_uint_eq(c.nwanted, 1);
	ck_assert(c.wanted_sb[0]);
}
END_TEST

/* Sorted copies of the calls, to compare runs on shuffled input. */
static void
normalize(struct calls *c)
{
	for (size_t i = 1; i < c->nsent; i++)
		for (size_t k = i; k > 0 && c->sent[k - 1] > c->sent[k]; k--) {
			uint32_t t = c->sent[k];
			bool b = c->sent_sb[k];

			c->sent[k] = c->sent[k - 1];
			c->sent_sb[k] = c->sent_sb[k - 1];
			c->sent[k - 1] = t;
			c->sent_sb[k - 1] = b;
		}
}

START_TEST(test_the_result_does_not_depend_on_the_order_of_the_lists)
{
	uint64_t seed = 0x5eed;

	for (int round = 0; round < 200; round++) {
		struct keydiff_entry mine[20], theirs[20], m2[20], t2[20];
		struct calls a, b;
		size_t nm = 1 + test_rand(&seed) % 20, nt = 1 + test_rand(&seed) % 20;

		for (size_t i = 0; i < nm; i++)
			mine[i] = ent((uint32_t)(test_rand(&seed) % 12), (uint32_t)i,
			              test_rand(&seed) % 3, test_rand(&seed) % 4);
		for (size_t i = 0; i < nt; i++)
			theirs[i] = ent((uint32_t)(test_rand(&seed) % 12), 0, test_rand(&seed) % 3,
			                test_rand(&seed) % 4);
		memcpy(m2, mine, sizeof(mine));
		memcpy(t2, theirs, sizeof(theirs));
		/* reversed copies */
		for (size_t i = 0; i < nm; i++)
			m2[i] = mine[nm - 1 - i];
		for (size_t i = 0; i < nt; i++)
			t2[i] = theirs[nt - 1 - i];
		ck_assert_uint_eq(run(mine, nm, theirs, nt, &a), run(m2, nm, t2, nt, &b));
		normalize(&a);
		normalize(&b);
		ck_assert_uint_eq(a.nsent, b.nsent);
		ck_assert_uint_eq(a.nwanted, b.nwanted);
		ck_assert(memcmp(a.sent, b.sent, a.nsent * sizeof(a.sent[0])) == 0);
		ck_assert(memcmp(a.sent_sb, b.sent_sb, a.nsent * sizeof(a.sent_sb[0])) == 0);
		ck_assert(memcmp(a.wanted, b.wanted, a.nwanted * sizeof(a.wanted[0])) == 0);
		/* every tag is wanted at most once */
		for (size_t i = 1; i < a.nwanted; i++)
			ck_assert_uint_lt(a.wanted[i - 1], a.wanted[i]);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("keydiff");
	TCase *tc = tcase_create("keydiff");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_equal_lists_ask_for_nothing);
	tcase_add_test(tc, test_keys_one_side_lacks_go_one_way_without_syncback);
	tcase_add_test(tc, test_a_key_held_differently_goes_from_the_larger_sum_with_syncback);
	tcase_add_test(tc, test_a_tag_two_keys_share_is_merged_both_ways);
	tcase_add_test(tc, test_the_result_does_not_depend_on_the_order_of_the_lists);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
