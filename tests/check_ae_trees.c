/*
 * Anti-entropy's trees (lib/ae_trees.h): range scans over the object
 * records, with their bounds and wrapping; trees that follow replica
 * writes through the hooks agree with trees built from storage; and a
 * ring change keeps the trees of the ranges that did not move.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ae_trees.h"
#include "libdkv/dkv.h"
#include "core/replica.h"
#include "unit.h"

static void
put_at(struct store *s, struct token t, const char *key)
{
	uint8_t k[64];

	store_object_key(k, t, key, strlen(key));
	ck_assert_int_eq(store_put(s, k, OBJECT_KEY_OVERHEAD + strlen(key), "obj", 3, false), DKV_OK);
}

static int
count(struct token t, const uint8_t *key, size_t klen, const void *obj, size_t olen, void *arg)
{
	(void)t;
	(void)key;
	(void)klen;
	(void)obj;
	(void)olen;
	(*(int *)arg)++;
	return 0;
}

static int
in(struct store *s, struct token lo, struct token hi)
{
	int n = 0;

	ck_assert_int_eq(ae_scan_range(s, lo, hi, count, &n), DKV_OK);
	return n;
}

START_TEST(test_a_range_scan_takes_exactly_lo_exclusive_to_hi_inclusive)
{
	const struct token t0 = {0, 0}, t1 = {0, 100}, t2 = {5, 0}, t3 = {UINT64_MAX, UINT64_MAX};
	struct store *s;

	ck_assert_int_eq(store_mem_open(&s), DKV_OK);
	put_at(s, t0, "zero");
	put_at(s, t1, "a");
	put_at(s, t1, "b"); /* two keys, one token */
	put_at(s, t2, "c");
	put_at(s, t3, "top");
	ck_assert_int_eq(store_meta_put(s, "x", "not an object"), DKV_OK);
	ck_assert_int_eq(in(s, t0, t1), 2);  /* (0, 100]: a, b */
	ck_assert_int_eq(in(s, t1, t2), 1);  /* c */
	ck_assert_int_eq(in(s, t2, t1), 4);  /* wraps: top, zero, a, b */
	ck_assert_int_eq(in(s, t2, t0), 2);  /* wraps: top, zero */
	ck_assert_int_eq(in(s, t3, t0), 1);  /* from the very top: zero */
	ck_assert_int_eq(in(s, t1, t1), 5);  /* the whole ring */
	ck_assert_int_eq(in(s, t0, t3), 4);  /* all but token 0 */
	store_close(s);
}
END_TEST

/* A replica writing through the hooks of trees a. */
static void
replica_on(struct replica *r, struct store *s, struct replica_hooks *h, struct ae_trees *a)
{
	memset(r, 0, sizeof(*r));
	r->store = s;
	ck_assert_int_eq(actor_set(&r->self, "me", 2), DKV_OK);
	r->mode = CONFLICTS_SIBLINGS;
	r->max_siblings = 10;
	r->max_object_bytes = 1 << 20;
	h->begin = ae_trees_write_begin;
	h->end = ae_trees_write_end;
	h->arg = a;
	r->hooks = h;
}

static void
write_key(struct replica *r, const char *key, const char *val, bool tombstone)
{
	struct replica_write w;

	memset(&w, 0, sizeof(w));
	w.key = key;
	w.klen = strlen(key);
	w.token = token_of_key(key, w.klen);
	w.writer = &r->self;
	w.now_us = 1;
	w.tombstone = tombstone;
	w.val = val;
	w.vlen = strlen(val);
	ck_assert_int_eq(replica_apply(r, &w, NULL, NULL), DKV_OK);
}

/* Four ranges splitting the ring at quarter points (a range per quarter). */
static void
quarters(struct ae_range *specs)
{
	for (int i = 0; i < 4; i++) {
		memset(&specs[i], 0, sizeof(specs[i]));
		specs[i].lo.hi = (uint64_t)((i + 3) % 4) << 62;
		specs[i].hi.hi = (uint64_t)i << 62;
	}
}

START_TEST(test_trees_that_follow_writes_agree_with_trees_built_from_storage)
{
	struct ae_trees live, fresh;
	struct ae_range specs[4];
	struct replica_hooks hooks;
	struct replica r;
	struct store *s;

	ck_assert_int_eq(store_mem_open(&s), DKV_OK);
	ck_assert_int_eq(ae_trees_init(&live, s, 6), DKV_OK);
	quarters(specs);
	ck_assert_int_eq(ae_trees_set_ranges(&live, specs, 4), DKV_OK);
	replica_on(&r, s, &hooks, &live);
	for (int k = 0; k < 100; k++) {
		char key[24];

		snprintf(key, sizeof(key), "before%d", k);
		write_key(&r, key, "v1", false);
	}
	for (uint32_t i = 0; i < 4; i++)
		ck_assert_int_eq(ae_trees_ensure(&live, i), DKV_OK); /* built from storage */
	for (int k = 0; k < 300; k++) {
		char key[24];

		snprintf(key, sizeof(key), "k%d", k % 150); /* inserts, then changes */
		write_key(&r, key, k < 150 ? "first" : "second", false);
	}
	for (int k = 0; k < 50; k++) {
		char key[24];

		snprintf(key, sizeof(key), "before%d", k);
		write_key(&r, key, "", true); /* tombstones change the entry too */
	}
	ck_assert_int_eq(ae_trees_init(&fresh, s, 6), DKV_OK);
	ck_assert_int_eq(ae_trees_set_ranges(&fresh, specs, 4), DKV_OK);
	for (uint32_t i = 0; i < 4; i++) {
		ck_assert_int_eq(ae_trees_ensure(&fresh, i), DKV_OK);
		ck_assert(merkle_hash_eq(merkle_root(&live.r[i].tree), merkle_root(&fresh.r[i].tree)));
		ck_assert(!merkle_hash_eq(merkle_root(&live.r[i].tree), (struct merkle_hash){0, 0}));
	}
	/* a ring change keeps the ranges that did not move, built */
	specs[1].hi.lo = 1; /* range 1 grows, range 2 shrinks */
	specs[2].lo.lo = 1;
	ck_assert_int_eq(ae_trees_set_ranges(&live, specs, 4), DKV_OK);
	ck_assert(live.r[0].built && live.r[3].built);
	ck_assert(!live.r[1].built && !live.r[2].built);
	ck_assert_int_eq(ae_trees_find(&live, specs[2].lo, specs[2].hi), 2);
	ck_assert_int_eq(ae_trees_find(&live, specs[2].lo, specs[3].hi), -1);
	ae_trees_free(&live);
	ae_trees_free(&fresh);
	ck_assert_int_eq(ae_trees_init(&fresh, s, 17), DKV_EINVAL);
	store_close(s);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("ae_trees");
	TCase *tc = tcase_create("ae_trees");

	tcase_add_test(tc, test_a_range_scan_takes_exactly_lo_exclusive_to_hi_inclusive);
	tcase_add_test(tc, test_trees_that_follow_writes_agree_with_trees_built_from_storage);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
