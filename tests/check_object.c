/*
 * Versioned objects (lib/core/object.c): the causal rules of a put, the
 * merge algebra, lww, tombstones and the stored format's defences.
 */
#include "config.h"

#include <stdio.h>

#include "libdkv/dkv.h"
#include "core/object.h"
#include "util/alloc.h"
#include "unit.h"

static struct actor R1, R2, R3, W1, W2, W3;

static void
setup(void)
{
	R1 = mk_actor("replica-1");
	R2 = mk_actor("replica-2");
	R3 = mk_actor("replica-3");
	W1 = mk_actor("writer-1");
	W2 = mk_actor("writer-2");
	W3 = mk_actor("writer-3");
}

static int
do_put(struct object *o, const struct vv *ctx, const struct actor *replica,
       const struct actor *writer, uint64_t now, const char *val, bool tomb,
       enum conflict_mode mode)
{
	struct put_args p = {
		.ctx = ctx, .actor = replica, .writer = writer, .now_us = now,
		.flags = tomb ? SIB_TOMBSTONE : 0, .val = val,
		.vlen = val ? (uint32_t)strlen(val) : 0, .mode = mode,
		.max_siblings = 100,
	};

	return object_put(o, &p);
}

static bool
holds_value(const struct object *o, const char *val)
{
	const struct sibling *s = object_siblings_const(o);

	for (uint32_t i = 0; i < o->n; i++)
		if (!(s[i].flags & SIB_TOMBSTONE) && s[i].vlen == strlen(val) &&
		    memcmp(s[i].val, val, s[i].vlen) == 0)
			return true;
	return false;
}

/* Canonical bytes of an object, for equality. Caller frees. */
static uint8_t *
encode(struct object *o, size_t *n)
{
	uint8_t *buf;

	*n = object_encoded_size(o);
	buf = malloc(*n);
	ck_assert_ptr_nonnull(buf);
	object_encode(o, buf);
	return buf;
}

static bool
same_object(struct object *a, struct object *b)
{
	size_t na, nb;
	uint8_t *ea = encode(a, &na), *eb = encode(b, &nb);
	bool same = na == nb && memcmp(ea, eb, na) == 0;

	free(ea);
	free(eb);
	return same;
}

static void
copy_object(struct object *dst, const struct object *src)
{
	object_init(dst);
	ck_assert_int_eq(object_merge(dst, src, CONFLICTS_SIBLINGS), DKV_OK);
}

START_TEST(test_put_with_context_of_last_get_replaces_it)
{
	struct object o;
	struct vv ctx;

	object_init(&o);
	ck_assert_int_eq(do_put(&o, NULL, &R1, &W1, 10, "v1", false, CONFLICTS_SIBLINGS), DKV_OK);
	vv_init(&ctx);
	vv_copy(&ctx, &o.vv);
	ck_assert_int_eq(do_put(&o, &ctx, &R1, &W2, 20, "v2", false, CONFLICTS_SIBLINGS), DKV_OK);
	ck_assert_uint_eq(o.n, 1);
	ck_assert(holds_value(&o, "v2"));
	vv_free(&ctx);
	object_free(&o);
}
END_TEST

START_TEST(test_k_blind_puts_from_k_writers_give_k_siblings)
{
	struct actor writers[7];
	char id[32], val[16];
	struct object o;

	object_init(&o);
	for (int k = 0; k < 7; k++) {
		snprintf(id, sizeof(id), "w%d", k);
		writers[k] = mk_actor(id);
	}
	for (int k = 0; k < 7; k++)
		ck_assert_int_eq(do_put(&o, NULL, &R1, &writers[k], 100, "x", false,
		                        CONFLICTS_SIBLINGS), DKV_OK);
	ck_assert_uint_eq(o.n, 7);
	/* the same writers again: still 7, each replaced its own */
	for (int k = 0; k < 7; k++) {
		snprintf(val, sizeof(val), "y%d", k);
		ck_assert_int_eq(do_put(&o, NULL, &R1, &writers[k], 200, "y", false,
		                        CONFLICTS_SIBLINGS), DKV_OK);
	}
	ck_assert_uint_eq(o.n, 7);
	object_free(&o);
}
END_TEST

START_TEST(test_repeated_blind_puts_from_one_writer_keep_one_value)
{
	struct object o;

	object_init(&o);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(do_put(&o, NULL, &R1, &W1, (uint64_t)i, i == 999 ? "last" : "v",
		                        false, CONFLICTS_SIBLINGS), DKV_OK);
	ck_assert_uint_eq(o.n, 1);
	ck_assert(holds_value(&o, "last"));
	/* ... also when they arrive through different replicas */
	struct object o2;
	object_init(&o2);
	ck_assert_int_eq(do_put(&o2, NULL, &R2, &W1, 5, "other", false, CONFLICTS_SIBLINGS), DKV_OK);
	ck_assert_int_eq(object_merge(&o, &o2, CONFLICTS_SIBLINGS), DKV_OK);
	ck_assert_uint_eq(o.n, 2); /* concurrent through two replicas */
	ck_assert_int_eq(do_put(&o, NULL, &R1, &W1, 2000, "final", false, CONFLICTS_SIBLINGS), DKV_OK);
	ck_assert_uint_eq(o.n, 1); /* the writer's next blind put folds them */
	object_free(&o2);
	object_free(&o);
}
END_TEST

START_TEST(test_puts_with_the_same_stale_context_become_siblings)
{
	struct object o;
	struct vv ctx, both;

	object_init(&o);
	do_put(&o, NULL, &R1, &W1, 1, "base", false, CONFLICTS_SIBLINGS);
	vv_init(&ctx);
	vv_copy(&ctx, &o.vv);
	/* two clients read "base", then both write through the same replica */
	ck_assert_int_eq(do_put(&o, &ctx, &R1, &W2, 2, "left", false, CONFLICTS_SIBLINGS), DKV_OK);
	ck_assert_int_eq(do_put(&o, &ctx, &R1, &W3, 3, "right", false, CONFLICTS_SIBLINGS), DKV_OK);
	ck_assert_uint_eq(o.n, 2);
	ck_assert(holds_value(&o, "left") && holds_value(&o, "right"));
	ck_assert(!holds_value(&o, "base"));
	/* a put with the context that saw both resolves them */
	vv_init(&both);
	vv_copy(&both, &o.vv);
	ck_assert_int_eq(do_put(&o, &both, &R1, &W1, 4, "merged", false, CONFLICTS_SIBLINGS), DKV_OK);
	ck_assert_uint_eq(o.n, 1);
	ck_assert(holds_value(&o, "merged"));
	vv_free(&ctx);
	vv_free(&both);
	object_free(&o);
}
END_TEST

START_TEST(test_merge_drops_dominated_and_keeps_concurrent)
{
	struct object a, b;
	struct vv ctx;

	object_init(&a);
	do_put(&a, NULL, &R1, &W1, 1, "v1", false, CONFLICTS_SIBLINGS);
	copy_object(&b, &a);
	vv_init(&ctx);
	vv_copy(&ctx, &b.vv);
	do_put(&b, &ctx, &R2, &W2, 2, "v2", false, CONFLICTS_SIBLINGS); /* supersedes v1 */
	ck_assert_int_eq(object_merge(&a, &b, CONFLICTS_SIBLINGS), DKV_OK);
	ck_assert_uint_eq(a.n, 1);
	ck_assert(holds_value(&a, "v2"));
	/* a concurrent write elsewhere stays beside it */
	struct object c;
	object_init(&c);
	do_put(&c, NULL, &R3, &W3, 3, "v3", false, CONFLICTS_SIBLINGS);
	ck_assert_int_eq(object_merge(&a, &c, CONFLICTS_SIBLINGS), DKV_OK);
	ck_assert_uint_eq(a.n, 2);
	vv_free(&ctx);
	object_free(&a);
	object_free(&b);
	object_free(&c);
}
END_TEST

/*
 * Random histories on three replicas: puts through random replicas by
 * random writers, blind or with the context of some replica's state, and
 * random anti-entropy merges. On the states reached, merge must be
 * commutative, associative and idempotent.
 */
START_TEST(test_merge_is_commutative_associative_idempotent)
{
	static char values[64][16];
	const struct actor *replicas[3] = {&R1, &R2, &R3};
	const struct actor *writers[3] = {&W1, &W2, &W3};
	uint64_t seed = 1234 + (uint64_t)_i;

	for (int round = 0; round < 40; round++) {
		struct object st[3];

		for (int r = 0; r < 3; r++)
			object_init(&st[r]);
		for (int step = 0; step < 64; step++) {
			int r = (int)(test_rand(&seed) % 3), q = (int)(test_rand(&seed) % 3);
			uint64_t what = test_rand(&seed) % 10;

			snprintf(values[step], sizeof(values[step]), "v%d", step);
			if (what < 3) {
				ck_assert_int_eq(object_merge(&st[r], &st[q], CONFLICTS_SIBLINGS), DKV_OK);
			} else {
				struct vv ctx;

				vv_init(&ctx);
				vv_copy(&ctx, &st[q].vv);
				ck_assert_int_eq(do_put(&st[r], what < 6 ? NULL : &ctx, replicas[r],
				                        writers[test_rand(&seed) % 3], (uint64_t)step,
				                        values[step], what == 9, CONFLICTS_SIBLINGS),
				                 DKV_OK);
				vv_free(&ctx);
			}
		}
		struct object ab, ba, ab_c, bc, a_bc, aa;
		copy_object(&ab, &st[0]);
		object_merge(&ab, &st[1], CONFLICTS_SIBLINGS);
		copy_object(&ba, &st[1]);
		object_merge(&ba, &st[0], CONFLICTS_SIBLINGS);
		ck_assert_msg(same_object(&ab, &ba), "merge not commutative (round %d)", round);

		copy_object(&ab_c, &ab);
		object_merge(&ab_c, &st[2], CONFLICTS_SIBLINGS);
		copy_object(&bc, &st[1]);
		object_merge(&bc, &st[2], CONFLICTS_SIBLINGS);
		copy_object(&a_bc, &st[0]);
		object_merge(&a_bc, &bc, CONFLICTS_SIBLINGS);
		ck_assert_msg(same_object(&ab_c, &a_bc), "merge not associative (round %d)", round);

		copy_object(&aa, &st[0]);
		object_merge(&aa, &st[0], CONFLICTS_SIBLINGS);
		ck_assert_msg(same_object(&aa, &st[0]), "merge not idempotent (round %d)", round);

		object_free(&ab);
		object_free(&ba);
		object_free(&ab_c);
		object_free(&bc);
		object_free(&a_bc);
		object_free(&aa);
		for (int r = 0; r < 3; r++)
			object_free(&st[r]);
	}
}
END_TEST

START_TEST(test_lww_keeps_newest_timestamp)
{
	struct object a, b;

	object_init(&a);
	object_init(&b);
	do_put(&a, NULL, &R1, &W1, 100, "old", false, CONFLICTS_LWW);
	do_put(&b, NULL, &R2, &W2, 200, "new", false, CONFLICTS_LWW);
	ck_assert_int_eq(object_merge(&a, &b, CONFLICTS_LWW), DKV_OK);
	ck_assert_uint_eq(a.n, 1);
	ck_assert(holds_value(&a, "new"));
	/* merge order does not matter */
	object_free(&a);
	object_init(&a);
	do_put(&a, NULL, &R1, &W1, 100, "old", false, CONFLICTS_LWW);
	ck_assert_int_eq(object_merge(&b, &a, CONFLICTS_LWW), DKV_OK);
	ck_assert(holds_value(&b, "new") && b.n == 1);
	object_free(&a);
	object_free(&b);
}
END_TEST

START_TEST(test_lww_put_through_one_replica_wins_even_if_clock_steps_back)
{
	struct object o;

	object_init(&o);
	do_put(&o, NULL, &R1, &W1, 5000, "first", false, CONFLICTS_LWW);
	do_put(&o, NULL, &R1, &W2, 10, "second", false, CONFLICTS_LWW);
	ck_assert_uint_eq(o.n, 1);
	ck_assert(holds_value(&o, "second"));
	ck_assert_uint_gt(object_siblings(&o)[0].ts_us, 5000);
	object_free(&o);
}
END_TEST

START_TEST(test_delete_leaves_only_a_tombstone)
{
	struct object o;
	struct vv ctx;

	object_init(&o);
	do_put(&o, NULL, &R1, &W1, 1, "a", false, CONFLICTS_SIBLINGS);
	do_put(&o, NULL, &R1, &W2, 2, "b", false, CONFLICTS_SIBLINGS);
	vv_init(&ctx);
	vv_copy(&ctx, &o.vv);
	ck_assert_int_eq(do_put(&o, &ctx, &R1, &W1, 3, NULL, true, CONFLICTS_SIBLINGS), DKV_OK);
	ck_assert_uint_eq(o.n, 1);
	ck_assert_uint_eq(object_live_count(&o), 0);
	/* a replica that missed the delete cannot bring the values back */
	struct object stale;
	object_init(&stale);
	do_put(&stale, NULL, &R1, &W1, 1, "a", false, CONFLICTS_SIBLINGS);
	ck_assert_int_eq(object_merge(&o, &stale, CONFLICTS_SIBLINGS), DKV_OK);
	ck_assert_uint_eq(object_live_count(&o), 0);
	vv_free(&ctx);
	object_free(&stale);
	object_free(&o);
}
END_TEST

START_TEST(test_sibling_limit_is_etoobig)
{
	struct object o;
	char id[32];

	object_init(&o);
	for (int k = 0; k < 100; k++) {
		snprintf(id, sizeof(id), "w%d", k);
		struct actor w = mk_actor(id);
		ck_assert_int_eq(do_put(&o, NULL, &R1, &w, 1, "x", false, CONFLICTS_SIBLINGS), DKV_OK);
	}
	struct actor extra = mk_actor("one-too-many");
	ck_assert_int_eq(do_put(&o, NULL, &R1, &extra, 1, "x", false, CONFLICTS_SIBLINGS), DKV_ETOOBIG);
	object_free(&o);
}
END_TEST

START_TEST(test_encode_decode_roundtrip)
{
	struct object o, back;
	uint8_t *buf;
	size_t n;

	object_init(&o);
	do_put(&o, NULL, &R1, &W1, 1, "alpha", false, CONFLICTS_SIBLINGS);
	do_put(&o, NULL, &R2, &W2, 2, "", false, CONFLICTS_SIBLINGS);
	do_put(&o, NULL, &R3, &W3, 3, NULL, true, CONFLICTS_SIBLINGS);
	buf = encode(&o, &n);
	ck_assert_int_eq(object_decode(&back, buf, n), DKV_OK);
	ck_assert_uint_eq(back.n, 3);
	ck_assert(same_object(&o, &back));
	ck_assert(holds_value(&back, "alpha") && holds_value(&back, ""));
	object_free(&back);

	for (size_t cut = 0; cut < n; cut++) {
		ck_assert_int_eq(object_decode(&back, buf, cut), DKV_EIO);
		ck_assert_uint_eq(back.n, 0);
	}
	free(buf);
	object_free(&o);
}
END_TEST

START_TEST(test_decode_survives_bit_flips_and_garbage)
{
	struct object o, back;
	uint64_t seed = 99;
	uint8_t *buf, junk[96];
	size_t n;

	object_init(&o);
	do_put(&o, NULL, &R1, &W1, 1, "some value", false, CONFLICTS_SIBLINGS);
	do_put(&o, NULL, &R2, &W2, 2, "another", false, CONFLICTS_SIBLINGS);
	buf = encode(&o, &n);
	for (size_t i = 0; i < n * 8; i++) {
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (object_decode(&back, buf, n) == DKV_OK)
			object_free(&back);
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	for (int round = 0; round < 20000; round++) {
		size_t len = test_rand(&seed) % sizeof(junk);

		for (size_t i = 0; i < len; i++)
			junk[i] = (uint8_t)test_rand(&seed);
		if (len > 0)
			junk[0] = OBJECT_FORMAT;
		if (object_decode(&back, junk, len) == DKV_OK)
			object_free(&back);
	}
	free(buf);
	object_free(&o);
}
END_TEST

START_TEST(test_decode_rejects_uncovered_dot_and_unknown_flags)
{
	/* format 1; actor "a" counter 1; sibling dot a:2 (not covered) */
	uint8_t rec[] = {1, 1, 0, 1, 'a', 1, 0, 0, 0, 0, 0, 0, 0,
	                 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	                 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	struct object o;

	ck_assert_int_eq(object_decode(&o, rec, sizeof(rec)), DKV_EIO);
	rec[17] = 1; /* dot a:1 is covered: now valid */
	ck_assert_int_eq(object_decode(&o, rec, sizeof(rec)), DKV_OK);
	object_free(&o);
	rec[35] = 0x80; /* unknown flag */
	ck_assert_int_eq(object_decode(&o, rec, sizeof(rec)), DKV_EIO);
}
END_TEST

/* Every allocation on the put/encode/decode/merge path may fail: the
 * result is then DKV_ENOMEM and nothing leaks (ASan/valgrind check). */
START_TEST(test_allocation_failures_unwind_cleanly)
{
	char id[32];

	for (long nth = 1; nth < 40; nth++) {
		struct object o, back, m;
		int err = DKV_OK;

		object_init(&o);
		object_init(&m);
		mem_fail_after(nth, 0);
		for (int k = 0; k < 6 && err == DKV_OK; k++) {
			snprintf(id, sizeof(id), "writer%d", k);
			struct actor w = mk_actor(id), r = mk_actor(id);
			err = do_put(&o, NULL, &r, &w, (uint64_t)k, "v", false, CONFLICTS_SIBLINGS);
		}
		if (err == DKV_OK) {
			size_t n = object_encoded_size(&o);
			uint8_t *buf = malloc(n);

			object_encode(&o, buf);
			err = object_decode(&back, buf, n);
			if (err == DKV_OK) {
				err = object_merge(&m, &back, CONFLICTS_SIBLINGS);
				object_free(&back);
			}
			free(buf);
		}
		mem_fail_after(0, 0);
		ck_assert_msg(err == DKV_OK || err == DKV_ENOMEM, "nth=%ld gave %d", nth, err);
		object_free(&o);
		object_free(&m);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("object");
	TCase *tc = tcase_create("object");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_put_with_context_of_last_get_replaces_it);
	tcase_add_test(tc, test_k_blind_puts_from_k_writers_give_k_siblings);
	tcase_add_test(tc, test_repeated_blind_puts_from_one_writer_keep_one_value);
	tcase_add_test(tc, test_puts_with_the_same_stale_context_become_siblings);
	tcase_add_test(tc, test_merge_drops_dominated_and_keeps_concurrent);
	tcase_add_loop_test(tc, test_merge_is_commutative_associative_idempotent, 0, 5);
	tcase_add_test(tc, test_lww_keeps_newest_timestamp);
	tcase_add_test(tc, test_lww_put_through_one_replica_wins_even_if_clock_steps_back);
	tcase_add_test(tc, test_delete_leaves_only_a_tombstone);
	tcase_add_test(tc, test_sibling_limit_is_etoobig);
	tcase_add_test(tc, test_encode_decode_roundtrip);
	tcase_add_test(tc, test_decode_survives_bit_flips_and_garbage);
	tcase_add_test(tc, test_decode_rejects_uncovered_dot_and_unknown_flags);
	tcase_add_test(tc, test_allocation_failures_unwind_cleanly);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
