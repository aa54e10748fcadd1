/*
 * Consistency levels (lib/core/quorum.c): how many replicas each level
 * needs, where, and when a request is impossible from the start.
 */
#include "config.h"

#include "core/quorum.h"
#include "unit.h"

/* three replicas in dc 0 */
static const uint8_t one_dc[3] = {0, 0, 0};
/* N=3 in dc 0 and N=2 in dc 1 */
static const uint8_t two_dcs[5] = {0, 1, 0, 1, 0};

START_TEST(test_global_levels_count_replicas_anywhere)
{
	struct quorum q;

	ck_assert_int_eq(quorum_need(&q, DKV_ONE, one_dc, 3, 1, 0), DKV_OK);
	ck_assert_uint_eq(q.total, 1);
	ck_assert_int_eq(quorum_need(&q, DKV_TWO, one_dc, 3, 1, 0), DKV_OK);
	ck_assert_uint_eq(q.total, 2);
	ck_assert_int_eq(quorum_need(&q, DKV_QUORUM, one_dc, 3, 1, 0), DKV_OK);
	ck_assert_uint_eq(q.total, 2);
	ck_assert_int_eq(quorum_need(&q, DKV_ALL, one_dc, 3, 1, 0), DKV_OK);
	ck_assert_uint_eq(q.total, 3);
	ck_assert_int_eq(quorum_need(&q, DKV_QUORUM, two_dcs, 5, 2, 0), DKV_OK);
	ck_assert_uint_eq(q.total, 3); /* floor(5/2)+1 */
}
END_TEST

START_TEST(test_quorum_of_even_and_single_replica_sets)
{
	const uint8_t four[4] = {0, 0, 0, 0};
	struct quorum q;

	ck_assert_int_eq(quorum_need(&q, DKV_QUORUM, four, 4, 1, 0), DKV_OK);
	ck_assert_uint_eq(q.total, 3);
	ck_assert_int_eq(quorum_need(&q, DKV_QUORUM, four, 1, 1, 0), DKV_OK);
	ck_assert_uint_eq(q.total, 1);
	ck_assert_int_eq(quorum_need(&q, DKV_TWO, four, 1, 1, 0), DKV_EUNAVAILABLE);
}
END_TEST

START_TEST(test_local_levels_count_only_the_local_dc)
{
	bool answered[5] = {false, true, false, true, false}; /* both dc 1 replicas */
	struct quorum q;

	ck_assert_int_eq(quorum_need(&q, DKV_LOCAL_QUORUM, two_dcs, 5, 2, 0), DKV_OK);
	ck_assert_uint_eq(q.per_dc[0], 2);
	ck_assert_uint_eq(q.total, 2);
	/* two answers, but from the remote dc: not a local quorum */
	ck_assert(!quorum_met(&q, two_dcs, answered, 5));
	answered[0] = answered[2] = true;
	ck_assert(quorum_met(&q, two_dcs, answered, 5));

	ck_assert_int_eq(quorum_need(&q, DKV_LOCAL_ONE, two_dcs, 5, 2, 1), DKV_OK);
	ck_assert_uint_eq(q.per_dc[1], 1);
	/* a coordinator in a dc holding no replica cannot serve LOCAL_* */
	ck_assert_int_eq(quorum_need(&q, DKV_LOCAL_ONE, one_dc, 3, 2, 1), DKV_EUNAVAILABLE);
}
END_TEST

START_TEST(test_each_quorum_needs_a_quorum_in_every_dc)
{
	bool answered[5] = {true, false, true, false, true}; /* all of dc 0 */
	struct quorum q;

	ck_assert_int_eq(quorum_need(&q, DKV_EACH_QUORUM, two_dcs, 5, 2, 0), DKV_OK);
	ck_assert_uint_eq(q.per_dc[0], 2);
	ck_assert_uint_eq(q.per_dc[1], 2);
	ck_assert_uint_eq(q.total, 4);
	ck_assert(!quorum_met(&q, two_dcs, answered, 5));
	answered[1] = true;
	ck_assert(!quorum_met(&q, two_dcs, answered, 5)); /* dc 1 has 1 of 2 */
	answered[3] = true;
	ck_assert(quorum_met(&q, two_dcs, answered, 5));
}
END_TEST

START_TEST(test_possible_tells_unavailable_before_anything_is_sent)
{
	bool up[3] = {true, true, false};
	struct quorum q;

	ck_assert_int_eq(quorum_need(&q, DKV_ALL, one_dc, 3, 1, 0), DKV_OK);
	ck_assert(!quorum_possible(&q, one_dc, up, 3)); /* ALL with one down */
	ck_assert_int_eq(quorum_need(&q, DKV_QUORUM, one_dc, 3, 1, 0), DKV_OK);
	ck_assert(quorum_possible(&q, one_dc, up, 3));
	up[1] = false;
	ck_assert(!quorum_possible(&q, one_dc, up, 3));
	ck_assert_int_eq(quorum_need(&q, DKV_ONE, one_dc, 3, 1, 0), DKV_OK);
	ck_assert(quorum_possible(&q, one_dc, up, 3));
}
END_TEST

START_TEST(test_bad_arguments_are_einval)
{
	const uint8_t bad_dc[2] = {0, 7};
	struct quorum q;

	ck_assert_int_eq(quorum_need(&q, (dkv_consistency_t)99, one_dc, 3, 1, 0), DKV_EINVAL);
	ck_assert_int_eq(quorum_need(&q, DKV_ONE, one_dc, 0, 1, 0), DKV_EINVAL);
	ck_assert_int_eq(quorum_need(&q, DKV_ONE, bad_dc, 2, 2, 0), DKV_EINVAL);
	ck_assert_int_eq(quorum_need(&q, DKV_ONE, one_dc, 3, 0, 0), DKV_EINVAL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("quorum");
	TCase *tc = tcase_create("quorum");

	tcase_add_test(tc, test_global_levels_count_replicas_anywhere);
	tcase_add_test(tc, test_quorum_of_even_and_single_replica_sets);
	tcase_add_test(tc, test_local_levels_count_only_the_local_dc);
	tcase_add_test(tc, test_each_quorum_needs_a_quorum_in_every_dc);
	tcase_add_test(tc, test_possible_tells_unavailable_before_anything_is_sent);
	tcase_add_test(tc, test_bad_arguments_are_einval);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
