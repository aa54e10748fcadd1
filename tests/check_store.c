/*
 * Stores (LevelDB and in-memory) and replica reads/writes on them, and the
 * promise that a corrupt stored record is DKV_EIO, never a crash, and is
 * not overwritten by a later put.
 */
#include "config.h"

#include <ftw.h>
#include <stdio.h>
#include <unistd.h>

#include "libdkv/dkv.h"
#include "core/merkle.h"
#include "core/replica.h"
#include "store/store.h"
#include "unit.h"

static char dir[256];

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
make_dir(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(dir, sizeof(dir), "%s/dkv-store-XXXXXX", tmp);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
remove_dir(void)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct store *
open_leveldb(const char *path)
{
	struct store_opts so = {.path = path, .cache_mb = 1, .write_buffer_mb = 1,
	                        .max_open_files = 64};
	struct store *s;
	char why[256];

	ck_assert_int_eq(store_leveldb_open(&so, &s, why, sizeof(why)), DKV_OK);
	return s;
}

/* The same contract for both implementations. */
struct scan_seen {
	char keys[8][8];
	unsigned n, stop_after;
};

static int
scan_collect(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	struct scan_seen *seen = arg;

	ck_assert_uint_lt(klen, sizeof(seen->keys[0]));
	ck_assert_uint_eq(vlen, 1);
	ck_assert_int_eq(((const char *)v)[0], ((const char *)k)[klen - 1]);
	memcpy(seen->keys[seen->n], k, klen);
	seen->keys[seen->n][klen] = '\0';
	seen->n++;
	return seen->n == seen->stop_after;
}

/* Range scans: [start, limit) in key order, stopping when asked. */
static void
exercise_scan(struct store *s)
{
	static const char *const keys[] = {"a1", "b2", "b3", "b34", "c5"};
	struct scan_seen seen;

	for (unsigned i = 0; i < 5; i++)
		ck_assert_int_eq(store_put(s, keys[i], strlen(keys[i]), keys[i] + strlen(keys[i]) - 1, 1,
		                           false), DKV_OK);
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(store_scan(s, "b", 1, "c", 1, scan_collect, &seen), DKV_OK);
	ck_assert_uint_eq(seen.n, 3);
	ck_assert_str_eq(seen.keys[0], "b2");
	ck_assert_str_eq(seen.keys[1], "b3");
	ck_assert_str_eq(seen.keys[2], "b34");
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(store_scan(s, "b3", 2, "b34", 3, scan_collect, &seen), DKV_OK);
	ck_assert_uint_eq(seen.n, 1); /* the limit itself is left out */
	memset(&seen, 0, sizeof(seen));
	seen.stop_after = 2;
	ck_assert_int_eq(store_scan(s, "", 0, NULL, 0, scan_collect, &seen), DKV_OK);
	ck_assert_uint_eq(seen.n, 2);
	ck_assert_str_eq(seen.keys[1], "b2");
	for (unsigned i = 0; i < 5; i++)
		ck_assert_int_eq(store_del(s, keys[i], strlen(keys[i]), false), DKV_OK);
}

static void
exercise_store(struct store *s)
{
	void *val;
	size_t vlen;
	char meta[32];

	ck_assert_int_eq(store_get(s, "k", 1, &val, &vlen), DKV_ENOTFOUND);
	ck_assert_int_eq(store_put(s, "k", 1, "v\0x", 3, false), DKV_OK);
	ck_assert_int_eq(store_get(s, "k", 1, &val, &vlen), DKV_OK);
	ck_assert_uint_eq(vlen, 3);
	ck_assert_mem_eq(val, "v\0x", 3);
	store_free_value(s, val);
	ck_assert_int_eq(store_put(s, "k", 1, "", 0, true), DKV_OK);
	ck_assert_int_eq(store_get(s, "k", 1, &val, &vlen), DKV_OK);
	ck_assert_uint_eq(vlen, 0);
	store_free_value(s, val);
	ck_assert_int_eq(store_del(s, "k", 1, false), DKV_OK);
	ck_assert_int_eq(store_get(s, "k", 1, &val, &vlen), DKV_ENOTFOUND);
	ck_assert_int_eq(store_del(s, "absent", 6, false), DKV_OK);

	ck_assert_int_eq(store_meta_get(s, "node_id", meta, sizeof(meta)), DKV_ENOTFOUND);
	ck_assert_int_eq(store_meta_put(s, "node_id", "n-1"), DKV_OK);
	ck_assert_int_eq(store_meta_get(s, "node_id", meta, sizeof(meta)), DKV_OK);
	ck_assert_str_eq(meta, "n-1");
	ck_assert_int_eq(store_meta_get(s, "node_id", meta, 3), DKV_EIO); /* too small */
	exercise_scan(s);
}

START_TEST(test_mem_store_contract)
{
	struct store *s;

	ck_assert_int_eq(store_mem_open(&s), DKV_OK);
	exercise_store(s);
	store_close(s);
}
END_TEST

START_TEST(test_leveldb_store_contract_and_persistence)
{
	struct store *s;
	char path[300], meta[32];

	make_dir();
	snprintf(path, sizeof(path), "%s/store", dir);
	s = open_leveldb(path);
	exercise_store(s);
	store_close(s);
	s = open_leveldb(path);
	ck_assert_int_eq(store_meta_get(s, "node_id", meta, sizeof(meta)), DKV_OK);
	ck_assert_str_eq(meta, "n-1");
	store_close(s);
	remove_dir();
}
END_TEST

START_TEST(test_leveldb_second_open_of_same_dir_fails)
{
	struct store_opts so = {.cache_mb = 1, .write_buffer_mb = 1, .max_open_files = 64};
	struct store *a, *b;
	char path[300], why[256] = "";

	make_dir();
	snprintf(path, sizeof(path), "%s/store", dir);
	so.path = path;
	a = open_leveldb(path);
	ck_assert_int_eq(store_leveldb_open(&so, &b, why, sizeof(why)), DKV_EIO);
	ck_assert_ptr_null(b);
	ck_assert_msg(strlen(why) > 0, "expected LevelDB's reason");
	store_close(a);
	remove_dir();
}
END_TEST

static struct replica
make_replica(struct store *s, const char *id)
{
	struct replica r = {.store = s, .mode = CONFLICTS_SIBLINGS, .max_siblings = 100,
	                    .max_object_bytes = 1 << 20};

	r.self = mk_actor(id);
	return r;
}

START_TEST(test_replica_apply_then_read_on_mem_store)
{
	struct store *s;
	struct replica r;
	struct object o;
	struct actor w = mk_actor("writer");
	struct replica_write wr = {.key = "key", .klen = 3, .writer = &w, .now_us = 1,
	                           .val = "value", .vlen = 5};
	void *raw;

	ck_assert_int_eq(store_mem_open(&s), DKV_OK);
	r = make_replica(s, "replica");
	wr.token = token_of_key("key", 3);
	ck_assert_int_eq(replica_read(&r, "key", 3, wr.token, &raw, &o), DKV_ENOTFOUND);
	ck_assert_int_eq(replica_apply(&r, &wr, NULL, NULL), DKV_OK);
	ck_assert_int_eq(replica_read(&r, "key", 3, wr.token, &raw, &o), DKV_OK);
	ck_assert_uint_eq(object_live_count(&o), 1);
	ck_assert_mem_eq(object_siblings(&o)[0].val, "value", 5);
	object_free(&o);
	store_free_value(s, raw);

	/* a blind delete removes what the replica holds */
	wr.tombstone = true;
	ck_assert_int_eq(replica_apply(&r, &wr, NULL, NULL), DKV_OK);
	ck_assert_int_eq(replica_read(&r, "key", 3, wr.token, &raw, &o), DKV_OK);
	ck_assert_uint_eq(object_live_count(&o), 0);
	object_free(&o);
	store_free_value(s, raw);

	/* deleting a key never written writes nothing */
	wr.key = "never";
	wr.klen = 5;
	wr.token = token_of_key("never", 5);
	ck_assert_int_eq(replica_apply(&r, &wr, NULL, NULL), DKV_OK);
	ck_assert_int_eq(replica_read(&r, "never", 5, wr.token, &raw, &o), DKV_ENOTFOUND);

	/* an object over max_object_bytes is refused */
	char big[2048];
	memset(big, 'b', sizeof(big));
	r.max_object_bytes = 1024;
	wr.tombstone = false;
	wr.val = big;
	wr.vlen = sizeof(big);
	ck_assert_int_eq(replica_apply(&r, &wr, NULL, NULL), DKV_ETOOBIG);
	store_close(s);
}
END_TEST

/* Garbage under a key's storage key: reads and writes through the public
 * API give DKV_EIO, the process keeps running, the record is untouched. */
/* The entry hash anti-entropy and tombstone collection agree on. */
static uint64_t
hash_of(struct replica *r, const char *key)
{
	void *raw;
	size_t len;
	uint64_t h;

	ck_assert_int_eq(replica_read_raw(r, key, strlen(key), token_of_key(key, strlen(key)), &raw,
	                                  &len), DKV_OK);
	h = merkle_entry_hash(key, strlen(key), raw, len).a;
	store_free_value(r->store, raw);
	return h;
}

START_TEST(test_only_an_old_tombstone_with_the_checked_hash_is_purged)
{
	struct store *s;
	struct replica r;
	struct actor w = mk_actor("writer");
	struct replica_write wr = {.key = "k", .klen = 1, .writer = &w, .now_us = 1000000,
	                           .val = "v", .vlen = 1};
	struct token t = token_of_key("k", 1);
	void *raw;
	size_t len;
	uint64_t h;

	ck_assert_int_eq(store_mem_open(&s), DKV_OK);
	r = make_replica(s, "replica");
	wr.token = t;
	ck_assert_int_eq(replica_apply(&r, &wr, NULL, NULL), DKV_OK);
	h = hash_of(&r, "k");
	/* a live value is never purged, whatever the hash and age */
	ck_assert_int_eq(replica_purge(&r, "k", 1, t, h, 99000000, 1000000), DKV_EBUSY);
	wr.tombstone = true;
	wr.now_us = 2000000;
	ck_assert_int_eq(replica_apply(&r, &wr, NULL, NULL), DKV_OK);
	h = hash_of(&r, "k");
	/* too young, then a stale hash */
	ck_assert_int_eq(replica_purge(&r, "k", 1, t, h, 2500000, 1000000), DKV_EBUSY);
	ck_assert_int_eq(replica_purge(&r, "k", 1, t, h ^ 1, 9000000, 1000000), DKV_EBUSY);
	ck_assert_int_eq(replica_read_raw(&r, "k", 1, t, &raw, &len), DKV_OK);
	store_free_value(s, raw);
	ck_assert_int_eq(replica_purge(&r, "k", 1, t, h, 9000000, 1000000), DKV_OK);
	ck_assert_int_eq(replica_read_raw(&r, "k", 1, t, &raw, &len), DKV_ENOTFOUND);
	ck_assert_int_eq(replica_purge(&r, "k", 1, t, h, 9000000, 1000000), DKV_ENOTFOUND);
	store_close(s);
}
END_TEST

START_TEST(test_corrupt_record_is_eio_through_the_api)
{
	const char *key = "victim";
	struct token t = token_of_key(key, strlen(key));
	uint8_t skey[64];
	char path[300];
	struct store *s;
	dkv_config_t *cfg;
	dkv_result_t *res;
	dkv_t *db;
	void *val;
	size_t vlen;

	make_dir();
	snprintf(path, sizeof(path), "%s/store", dir);
	s = open_leveldb(path);
	store_object_key(skey, t, key, strlen(key));
	ck_assert_int_eq(store_put(s, skey, OBJECT_KEY_OVERHEAD + strlen(key), "\x01garbage", 8, true), DKV_OK);
	store_close(s);

	cfg = dkv_config_new();
	ck_assert_int_eq(dkv_config_set(cfg, "data_dir", dir), DKV_OK);
	ck_assert_int_eq(dkv_config_set(cfg, "log_level", "error"), DKV_OK);
	ck_assert_int_eq(dkv_open(cfg, &db), DKV_OK);
	ck_assert_int_eq(dkv_get(db, key, strlen(key), &res, NULL), DKV_EIO);
	ck_assert_ptr_null(res);
	ck_assert_int_eq(dkv_put(db, key, strlen(key), "new", 3, NULL, NULL), DKV_EIO);
	ck_assert_int_eq(dkv_delete(db, key, strlen(key), NULL, NULL), DKV_EIO);
	/* other keys are unaffected */
	ck_assert_int_eq(dkv_put(db, "fine", 4, "ok", 2, NULL, NULL), DKV_OK);
	ck_assert_int_eq(dkv_get(db, "fine", 4, &res, NULL), DKV_OK);
	dkv_result_free(res);
	dkv_close(db);

	s = open_leveldb(path);
	ck_assert_int_eq(store_get(s, skey, OBJECT_KEY_OVERHEAD + strlen(key), &val, &vlen), DKV_OK);
	ck_assert_mem_eq(val, "\x01garbage", 8);
	store_free_value(s, val);
	store_close(s);
	dkv_config_free(cfg);
	remove_dir();
}
END_TEST

START_TEST(test_data_dir_of_another_node_is_refused)
{
	dkv_config_t *cfg = dkv_config_new();
	dkv_t *db;

	make_dir();
	dkv_config_set(cfg, "data_dir", dir);
	dkv_config_set(cfg, "node_id", "alpha");
	ck_assert_int_eq(dkv_open(cfg, &db), DKV_OK);
	dkv_close(db);
	dkv_config_set(cfg, "node_id", "beta");
	ck_assert_int_eq(dkv_open(cfg, &db), DKV_ECONFIG);
	ck_assert_ptr_null(db);
	ck_assert_ptr_nonnull(strstr(dkv_config_error(cfg), "alpha"));
	dkv_config_free(cfg);
	remove_dir();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_test(tc, test_mem_store_contract);
	tcase_add_test(tc, test_leveldb_store_contract_and_persistence);
	tcase_add_test(tc, test_leveldb_second_open_of_same_dir_fails);
	tcase_add_test(tc, test_replica_apply_then_read_on_mem_store);
	tcase_add_test(tc, test_only_an_old_tombstone_with_the_checked_hash_is_purged);
	tcase_add_test(tc, test_corrupt_record_is_eio_through_the_api);
	tcase_add_test(tc, test_data_dir_of_another_node_is_refused);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
