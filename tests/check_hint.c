/*
 * Hint records (lib/core/hint.h) and replica_store_hint: the storage key
 * layout and its bounds, one peer's hints as one contiguous scan, the
 * value header, expiry, and merging a second write into a held hint.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "libdkv/dkv.h"
#include "core/hint.h"
#include "core/object.h"
#include "core/replica.h"
#include "store/store.h"
#include "unit.h"

static struct actor
mk(const char *id)
{
	struct actor a;

	ck_assert_int_eq(actor_set(&a, id, strlen(id)), DKV_OK);
	return a;
}

START_TEST(test_a_hint_key_round_trips_and_bad_ones_are_refused)
{
	struct actor to = mk("node-b"), back;
	struct token t = {0x0102030405060708ull, 0x1112131415161718ull}, tb;
	uint8_t buf[128];
	const uint8_t *key;
	size_t klen, n = hint_key_size(&to, 5);

	ck_assert_uint_eq(n, 2 + 6 + 16 + 5);
	hint_key_encode(buf, &to, t, "k\0y12", 5);
	ck_assert_int_eq(buf[0], STORE_NS_HINT);
	ck_assert_int_eq(hint_key_decode(buf, n, &back, &tb, &key, &klen), DKV_OK);
	ck_assert(actor_eq(&back, &to));
	ck_assert(token_cmp(tb, t) == 0);
	ck_assert_uint_eq(klen, 5);
	ck_assert_mem_eq(key, "k\0y12", 5);
	/* no user key, truncated, wrong namespace, empty or oversized id */
	ck_assert_int_eq(hint_key_decode(buf, n - 5, &back, &tb, &key, &klen), DKV_EINVAL);
	ck_assert_int_eq(hint_key_decode(buf, 1, &back, &tb, &key, &klen), DKV_EINVAL);
	buf[0] = STORE_NS_OBJECT;
	ck_assert_int_eq(hint_key_decode(buf, n, &back, &tb, &key, &klen), DKV_EINVAL);
	buf[0] = STORE_NS_HINT;
	buf[1] = 0;
	ck_assert_int_eq(hint_key_decode(buf, n, &back, &tb, &key, &klen), DKV_EINVAL);
	buf[1] = ACTOR_MAX + 1;
	ck_assert_int_eq(hint_key_decode(buf, n, &back, &tb, &key, &klen), DKV_EINVAL);
}
END_TEST

struct count {
	unsigned n;
	struct actor want;
	bool all_match;
};

static int
count_for(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	struct count *c = arg;
	struct actor to;
	struct token t;
	const uint8_t *key;
	size_t ukl;

	(void)v;
	(void)vlen;
	c->n++;
	if (hint_key_decode(k, klen, &to, &t, &key, &ukl) != DKV_OK || !actor_eq(&to, &c->want))
		c->all_match = false;
	return 0;
}

START_TEST(test_one_peers_hints_are_one_scan)
{
	/* "a" sorts before "ab" and "b"; the length byte keeps "ab" out of
	 * "a"'s span although "a" is its prefix */
	static const char *const ids[] = {"a", "ab", "b", "a-", "aa"};
	uint8_t start[HINT_PREFIX_MAX], limit[HINT_PREFIX_MAX], key[128];
	struct store *s;

	ck_assert_int_eq(store_mem_open(&s), DKV_OK);
	for (unsigned i = 0; i < 5; i++) {
		struct actor a = mk(ids[i]);

		for (unsigned k = 0; k < 3; k++) {
			struct token t = {k * 0x4000000000000000ull, k};
			char uk[8];

			snprintf(uk, sizeof(uk), "k%u", k);
			hint_key_encode(key, &a, t, uk, strlen(uk));
			ck_assert_int_eq(store_put(s, key, hint_key_size(&a, strlen(uk)), "v", 1, false),
			                 DKV_OK);
		}
	}
	/* an object and a metadata record around them */
	ck_assert_int_eq(store_put(s, "o123", 4, "x", 1, false), DKV_OK);
	ck_assert_int_eq(store_put(s, "m1", 2, "x", 1, false), DKV_OK);
	for (unsigned i = 0; i < 5; i++) {
		struct count c = {0, mk(ids[i]), true};
		size_t n = hint_prefix(start, limit, &c.want);

		ck_assert_int_eq(store_scan(s, start, n, limit, n, count_for, &c), DKV_OK);
		ck_assert_msg(c.n == 3 && c.all_match, "%s: %u hints", ids[i], c.n);
	}
	{
		struct count c = {0, mk("a"), false};

		ck_assert_int_eq(store_scan(s, hint_all_start, 1, hint_all_limit, 1, count_for, &c),
		                 DKV_OK);
		ck_assert_uint_eq(c.n, 15);
	}
	store_close(s);
}
END_TEST

START_TEST(test_the_value_header_and_expiry)
{
	uint8_t v[HINT_VALUE_HEADER + 3];
	const uint8_t *obj;
	uint64_t created;
	size_t olen;

	hint_value_header(v, 1234567890123ull);
	memcpy(v + HINT_VALUE_HEADER, "abc", 3);
	ck_assert_int_eq(hint_value_decode(v, sizeof(v), &created, &obj, &olen), DKV_OK);
	ck_assert(created == 1234567890123ull);
	ck_assert_uint_eq(olen, 3);
	ck_assert_mem_eq(obj, "abc", 3);
	ck_assert_int_eq(hint_value_decode(v, HINT_VALUE_HEADER - 1, &created, &obj, &olen),
	                 DKV_EINVAL);
	ck_assert(!hint_expired(10000, 10000 + 60000, 60));
	ck_assert(hint_expired(10000, 10000 + 60001, 60));
	ck_assert(!hint_expired(10000, 5000, 60)); /* a clock that stepped back */
	ck_assert(hint_expired(10000, 10001, 0));
	ck_assert(hint_fingerprint(v, sizeof(v)) != hint_fingerprint(v, sizeof(v) - 1));
}
END_TEST

/* An encoded object with one version of val by writer w. */
static uint8_t *
one_version(const char *w, const char *val, uint64_t now_us, size_t *len)
{
	struct object o;
	struct actor a = mk(w);
	struct put_args p;
	uint8_t *buf;

	object_init(&o);
	memset(&p, 0, sizeof(p));
	p.actor = &a;
	p.writer = &a;
	p.now_us = now_us;
	p.val = val;
	p.vlen = (uint32_t)strlen(val);
	p.mode = CONFLICTS_SIBLINGS;
	p.max_siblings = 10;
	ck_assert_int_eq(object_put(&o, &p), DKV_OK);
	*len = object_encoded_size(&o);
	buf = malloc(*len);
	object_encode(&o, buf);
	object_free(&o);
	return buf;
}

START_TEST(test_a_second_write_merges_into_the_hint_and_renews_it)
{
	struct replica r;
	struct actor to = mk("peer-c");
	struct token t = token_of_key("key", 3);
	uint8_t key[128];
	uint8_t *o1, *o2;
	size_t l1, l2, vlen, olen;
	struct object o;
	const uint8_t *obj;
	uint64_t created;
	void *v;

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(store_mem_open(&r.store), DKV_OK);
	r.self = mk("peer-d");
	r.mode = CONFLICTS_SIBLINGS;
	r.max_siblings = 10;
	r.max_object_bytes = 1 << 20;
	o1 = one_version("w1", "first", 1, &l1);
	o2 = one_version("w2", "second", 2, &l2);
	ck_assert_int_eq(replica_store_hint(&r, &to, "key", 3, t, o1, l1, 5000), DKV_OK);
	ck_assert_int_eq(replica_store_hint(&r, &to, "key", 3, t, o2, l2, 9000), DKV_OK);
	hint_key_encode(key, &to, t, "key", 3);
	ck_assert_int_eq(store_get(r.store, key, hint_key_size(&to, 3), &v, &vlen), DKV_OK);
	ck_assert_int_eq(hint_value_decode(v, vlen, &created, &obj, &olen), DKV_OK);
	ck_assert(created == 9000); /* the last write's stamp */
	ck_assert_int_eq(object_decode(&o, obj, olen), DKV_OK);
	ck_assert_uint_eq(object_live_count(&o), 2); /* concurrent: both kept */
	object_free(&o);
	store_free_value(r.store, v);
	/* the hint is not the replica's own copy */
	ck_assert_int_eq(replica_read_raw(&r, "key", 3, t, &v, &vlen), DKV_ENOTFOUND);
	ck_assert_int_eq(replica_store_hint(&r, &to, "key", 3, t, "junk", 4, 1), DKV_EINVAL);
	free(o1);
	free(o2);
	store_close(r.store);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("hint");
	TCase *tc = tcase_create("hint");

	tcase_add_test(tc, test_a_hint_key_round_trips_and_bad_ones_are_refused);
	tcase_add_test(tc, test_one_peers_hints_are_one_scan);
	tcase_add_test(tc, test_the_value_header_and_expiry);
	tcase_add_test(tc, test_a_second_write_merges_into_the_hint_and_renews_it);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
