/* Version vectors and the causal-context encoding (lib/core/vv.c). */
#include "config.h"

#include "libdkv/dkv.h"
#include "core/vv.h"
#include "unit.h"

START_TEST(test_set_get_and_growth_past_inline)
{
	struct vv v;
	char id[32];

	vv_init(&v);
	for (int i = 0; i < 40; i++) {
		snprintf(id, sizeof(id), "peer%d", i);
		struct actor a = mk_actor(id);
		ck_assert_int_eq(vv_set(&v, &a, (uint64_t)i + 1), DKV_OK);
	}
	for (int i = 0; i < 40; i++) {
		snprintf(id, sizeof(id), "peer%d", i);
		struct actor a = mk_actor(id);
		ck_assert_uint_eq(vv_get(&v, &a), (uint64_t)i + 1);
	}
	struct actor absent = mk_actor("nobody");
	ck_assert_uint_eq(vv_get(&v, &absent), 0);
	vv_free(&v);
}
END_TEST

START_TEST(test_merge_is_pointwise_max)
{
	struct vv a, b;
	struct actor x = mk_actor("x"), y = mk_actor("y"), z = mk_actor("z");

	vv_init(&a);
	vv_init(&b);
	vv_set(&a, &x, 3);
	vv_set(&a, &y, 1);
	vv_set(&b, &y, 5);
	vv_set(&b, &z, 2);
	ck_assert_int_eq(vv_merge(&a, &b), DKV_OK);
	ck_assert_uint_eq(vv_get(&a, &x), 3);
	ck_assert_uint_eq(vv_get(&a, &y), 5);
	ck_assert_uint_eq(vv_get(&a, &z), 2);
	ck_assert(vv_covers(&a, &y, 5));
	ck_assert(!vv_covers(&a, &y, 6));
	vv_free(&a);
	vv_free(&b);
}
END_TEST

START_TEST(test_compare_orders)
{
	struct vv a, b;
	struct actor x = mk_actor("x"), y = mk_actor("y");

	vv_init(&a);
	vv_init(&b);
	ck_assert_int_eq(vv_compare(&a, &b), VV_EQUAL);
	vv_set(&a, &x, 1);
	ck_assert_int_eq(vv_compare(&a, &b), VV_AFTER);
	ck_assert_int_eq(vv_compare(&b, &a), VV_BEFORE);
	vv_set(&b, &y, 1);
	ck_assert_int_eq(vv_compare(&a, &b), VV_CONCURRENT);
	vv_free(&a);
	vv_free(&b);
}
END_TEST

START_TEST(test_context_roundtrip_and_every_truncation_fails)
{
	struct vv a, b;
	struct actor x = mk_actor("node-a"), y = mk_actor("node-b");
	uint8_t buf[256], again[256];
	size_t n;

	vv_init(&a);
	vv_set(&a, &x, 7);
	vv_set(&a, &y, 1ull << 40);
	n = vv_encoded_size(&a);
	ck_assert_uint_le(n, sizeof(buf));
	vv_encode(&a, buf);
	ck_assert_int_eq(vv_decode(&b, buf, n), DKV_OK);
	ck_assert_int_eq(vv_compare(&a, &b), VV_EQUAL);
	ck_assert_uint_eq(vv_encoded_size(&b), n);
	vv_encode(&b, again);
	ck_assert_mem_eq(buf, again, n);
	vv_free(&b);
	for (size_t cut = 0; cut < n; cut++) {
		ck_assert_int_eq(vv_decode(&b, buf, cut), DKV_EINVAL);
		ck_assert_uint_eq(b.n, 0);
	}
	buf[n] = 0;
	ck_assert_int_eq(vv_decode(&b, buf, n + 1), DKV_EINVAL); /* trailing */
	vv_free(&a);
}
END_TEST

START_TEST(test_decode_rejects_duplicates_zero_counters_and_bad_format)
{
	/* format 1, two entries, both "a" */
	const uint8_t dup[] = {1, 2, 0, 1, 'a', 1, 0, 0, 0, 0, 0, 0, 0,
	                       1, 'a', 2, 0, 0, 0, 0, 0, 0, 0};
	const uint8_t zero[] = {1, 1, 0, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0};
	const uint8_t badfmt[] = {9, 0, 0};
	const uint8_t empty_id[] = {1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
	struct vv v;

	ck_assert_int_eq(vv_decode(&v, dup, sizeof(dup)), DKV_EINVAL);
	ck_assert_int_eq(vv_decode(&v, zero, sizeof(zero)), DKV_EINVAL);
	ck_assert_int_eq(vv_decode(&v, badfmt, sizeof(badfmt)), DKV_EINVAL);
	ck_assert_int_eq(vv_decode(&v, empty_id, sizeof(empty_id)), DKV_EINVAL);
	ck_assert_int_eq(vv_decode(&v, NULL, 0), DKV_EINVAL);
}
END_TEST

START_TEST(test_decode_survives_random_garbage)
{
	uint64_t seed = 42;
	uint8_t buf[64];
	struct vv v;

	for (int round = 0; round < 20000; round++) {
		size_t n = test_rand(&seed) % sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)test_rand(&seed);
		if (n > 0 && round % 2 == 0)
			buf[0] = VV_CONTEXT_FORMAT;
		if (vv_decode(&v, buf, n) == DKV_OK)
			vv_free(&v);
	}
}
END_TEST

START_TEST(test_actor_bounds)
{
	struct actor a;
	char long_id[ACTOR_MAX + 2];

	memset(long_id, 'x', sizeof(long_id));
	ck_assert_int_eq(actor_set(&a, long_id, 0), DKV_EINVAL);
	ck_assert_int_eq(actor_set(&a, long_id, ACTOR_MAX), DKV_OK);
	ck_assert_int_eq(actor_set(&a, long_id, ACTOR_MAX + 1), DKV_EINVAL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("vv");
	TCase *tc = tcase_create("vv");

	tcase_add_test(tc, test_set_get_and_growth_past_inline);
	tcase_add_test(tc, test_merge_is_pointwise_max);
	tcase_add_test(tc, test_compare_orders);
	tcase_add_test(tc, test_context_roundtrip_and_every_truncation_fails);
	tcase_add_test(tc, test_decode_rejects_duplicates_zero_counters_and_bad_format);
	tcase_add_test(tc, test_decode_survives_random_garbage);
	tcase_add_test(tc, test_actor_bounds);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
