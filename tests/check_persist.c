/*
 * What a peer keeps across dkv_close and a reopen of the same data_dir
 * (values, deletes, its identity), and how data directories relate to
 * handles: two directories are two independent peers in one process, and
 * one directory cannot be opened twice at once.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdkv/dkv.h>

#include "testutil.h"

/* Key i: text for most, binary (NUL and high bytes) for every tenth. */
static size_t
make_key(unsigned i, unsigned char *buf, size_t size)
{
	if (i % 10 == 3) {
		buf[0] = 0;
		buf[1] = 0xff;
		buf[2] = (unsigned char)(i >> 8);
		buf[3] = 0;
		buf[4] = (unsigned char)i;
		return 5;
	}
	return (size_t)snprintf((char *)buf, size, "key-%u", i);
}

/* Value i: 0 to 299 bytes, binary, different for every key. */
static size_t
make_value(unsigned i, unsigned char *buf, size_t size)
{
	size_t n = (i * 37u) % 300u;
	uint64_t s = i + 1;

	if (n > size)
		n = size;
	for (size_t j = 0; j < n; j++)
		buf[j] = (unsigned char)tu_rand(&s);
	return n;
}

static bool
deleted(unsigned i)
{
	return i % 7 == 0;
}

static void
check_all(dkv_t *db, unsigned n)
{
	unsigned char key[32], val[300];

	for (unsigned i = 0; i < n; i++) {
		size_t klen = make_key(i, key, sizeof(key));
		size_t vlen = make_value(i, val, sizeof(val));

		if (deleted(i))
			tu_expect_missing(db, key, klen);
		else
			tu_expect_value(db, key, klen, val, vlen);
	}
}

START_TEST(test_reopen_keeps_values_deletes_and_node_id)
{
	const unsigned n = tu_scale(1000, 200);
	unsigned char key[32], val[300];
	dkv_t *db = tu_open(tu_dir, NULL);
	char *id_before, *id_after;

	for (unsigned i = 0; i < n; i++) {
		size_t klen = make_key(i, key, sizeof(key));
		size_t vlen = make_value(i, val, sizeof(val));

		ck_assert_int_eq(dkv_put(db, key, klen, val, vlen, NULL, NULL), DKV_OK);
	}
	for (unsigned i = 0; i < n; i++) {
		size_t klen = make_key(i, key, sizeof(key));

		if (deleted(i))
			ck_assert_int_eq(dkv_delete(db, key, klen, NULL, NULL), DKV_OK);
	}
	check_all(db, n);
	id_before = tu_self_id(db);
	ck_assert_msg(id_before[0] != '\0', "the node id is empty");
	dkv_close(db);

	db = tu_open(tu_dir, NULL);
	check_all(db, n);
	id_after = tu_self_id(db);
	ck_assert_msg(strcmp(id_before, id_after) == 0,
	              "node id across reopen: expected \"%s\", got \"%s\"", id_before, id_after);
	dkv_close(db);

	/* ... and once more, after the reopened peer wrote nothing. */
	db = tu_open(tu_dir, NULL);
	check_all(db, n);
	dkv_close(db);
	free(id_before);
	free(id_after);
}
END_TEST

START_TEST(test_reopen_keeps_siblings_and_contexts_work_after_it)
{
	dkv_t *db = tu_open(tu_dir, NULL);
	dkv_result_t *res = NULL;
	dkv_context_t *c = NULL;
	void *buf = NULL;
	size_t len = 0;

	/* Siblings from a stale context (see check_api). */
	tu_put(db, "k", "v1");
	ck_assert_int_eq(dkv_get(db, "k", 1, &res, NULL), DKV_OK);
	tu_put(db, "k", "v2");
	ck_assert_int_eq(dkv_put(db, "k", 1, "v3", 2, dkv_result_context(res), NULL), DKV_OK);
	dkv_result_free(res);
	ck_assert_int_eq(dkv_get(db, "k", 1, &res, NULL), DKV_OK);
	ck_assert_uint_eq(dkv_result_count(res), 2);
	/* An application keeps the context across the restart. */
	ck_assert_int_eq(dkv_context_encode(dkv_result_context(res), &buf, &len), DKV_OK);
	dkv_result_free(res);
	dkv_close(db);

	db = tu_open(tu_dir, NULL);
	ck_assert_int_eq(dkv_get(db, "k", 1, &res, NULL), DKV_OK);
	ck_assert_msg(dkv_result_count(res) == 2 && tu_result_has(res, "v2", 2) &&
	                  tu_result_has(res, "v3", 2),
	              "after reopen: expected siblings \"v2\" and \"v3\", saw %zu: %s",
	              dkv_result_count(res), tu_result_text(res));
	dkv_result_free(res);
	ck_assert_int_eq(dkv_context_decode(buf, len, &c), DKV_OK);
	ck_assert_int_eq(dkv_put(db, "k", 1, "merged", 6, c, NULL), DKV_OK);
	tu_expect_str(db, "k", "merged");
	/* Blind puts from the reopened peer still replace its own writes. */
	tu_put(db, "k", "again");
	tu_expect_str(db, "k", "again");
	dkv_context_free(c);
	free(buf);
	dkv_close(db);
}
END_TEST

START_TEST(test_sync_writes_persist_across_reopen)
{
	dkv_t *db = tu_open(tu_dir, "sync_writes", "1", NULL);

	tu_put(db, "durable", "yes");
	ck_assert_int_eq(dkv_delete(db, "durable", 7, NULL, NULL), DKV_OK);
	tu_put(db, "durable2", "yes");
	dkv_close(db);
	db = tu_open(tu_dir, "sync_writes", "1", NULL);
	tu_expect_missing(db, "durable", 7);
	tu_expect_str(db, "durable2", "yes");
	dkv_close(db);
}
END_TEST

START_TEST(test_stats_count_since_open)
{
	dkv_t *db = tu_open(tu_dir, NULL);

	tu_put(db, "a", "1");
	tu_put(db, "b", "2");
	tu_expect_str(db, "a", "1");
	ck_assert_msg(tu_stat(db, "puts") == 2, "puts: expected 2, got %g", tu_stat(db, "puts"));
	dkv_close(db);
	db = tu_open(tu_dir, NULL);
	ck_assert_msg(tu_stat(db, "puts") == 0, "puts after reopen: expected 0, got %g",
	              tu_stat(db, "puts"));
	ck_assert_msg(tu_stat(db, "gets") == 0, "gets after reopen: expected 0, got %g",
	              tu_stat(db, "gets"));
	dkv_close(db);
}
END_TEST

START_TEST(test_two_data_dirs_are_independent_peers)
{
	char *dir2 = tu_tempdir();
	dkv_t *a = tu_open(tu_dir, NULL);
	dkv_t *b = tu_open(dir2, NULL);
	char *id_a = tu_self_id(a), *id_b = tu_self_id(b);

	ck_assert_msg(strcmp(id_a, id_b) != 0, "two peers share the node id \"%s\"", id_a);
	tu_put(a, "k", "from-a");
	tu_put(b, "k", "from-b");
	tu_put(a, "only-a", "1");
	tu_expect_str(a, "k", "from-a");
	tu_expect_str(b, "k", "from-b");
	tu_expect_missing(b, "only-a", 6);
	ck_assert_int_eq(dkv_delete(b, "k", 1, NULL, NULL), DKV_OK);
	tu_expect_missing(b, "k", 1);
	tu_expect_str(a, "k", "from-a");
	ck_assert_msg(tu_stat(a, "puts") == 2, "puts of a: expected 2, got %g", tu_stat(a, "puts"));
	ck_assert_msg(tu_stat(b, "puts") == 1, "puts of b: expected 1, got %g", tu_stat(b, "puts"));
	/* Closing one leaves the other working. */
	dkv_close(a);
	tu_put(b, "k", "b-again");
	tu_expect_str(b, "k", "b-again");
	dkv_close(b);
	free(id_a);
	free(id_b);
	tu_rmtree(dir2);
	free(dir2);
}
END_TEST

START_TEST(test_second_open_of_same_data_dir_fails)
{
	dkv_t *first = tu_open(tu_dir, NULL);
	dkv_config_t *cfg = tu_config(tu_dir, NULL);
	dkv_t *second = (dkv_t *)(void *)cfg; /* anything but NULL */
	int err;

	tu_put(first, "k", "v");
	err = dkv_open(cfg, &second);
	ck_assert_msg(err == DKV_EIO || err == DKV_ECONFIG,
	              "second open of one data_dir: expected DKV_EIO or DKV_ECONFIG, got %d (%s)",
	              err, dkv_strerror(err));
	ck_assert_msg(second == NULL, "a failed open must set *out to NULL");
	ck_assert_msg(dkv_config_error(cfg)[0] != '\0', "a failed open must say why");
	/* The first peer is untouched, and the directory opens again once
	 * it is closed. */
	tu_expect_str(first, "k", "v");
	dkv_close(first);
	err = dkv_open(cfg, &second);
	ck_assert_msg(err == DKV_OK, "open after close: expected DKV_OK, got %d (%s)", err,
	              dkv_config_error(cfg));
	tu_expect_str(second, "k", "v");
	dkv_close(second);
	dkv_config_free(cfg);
}
END_TEST

START_TEST(test_configured_node_id_is_kept)
{
	dkv_t *db = tu_open(tu_dir, "node_id", "peer-a", NULL);
	char *id = tu_self_id(db);

	ck_assert_str_eq(id, "peer-a");
	free(id);
	dkv_close(db);
	/* Reopened without a node_id, the stored one is used. */
	db = tu_open(tu_dir, NULL);
	id = tu_self_id(db);
	ck_assert_msg(strcmp(id, "peer-a") == 0,
	              "node id after reopen without node_id: expected \"peer-a\", got \"%s\"", id);
	free(id);
	dkv_close(db);
}
END_TEST

static Suite *
persist_suite(void)
{
	Suite *s = suite_create("persist");
	TCase *tc = tcase_create("reopen");

	tu_tcase_setup(tc, false);
	tcase_add_test(tc, test_reopen_keeps_values_deletes_and_node_id);
	tcase_add_test(tc, test_reopen_keeps_siblings_and_contexts_work_after_it);
	tcase_add_test(tc, test_sync_writes_persist_across_reopen);
	tcase_add_test(tc, test_stats_count_since_open);
	tcase_add_test(tc, test_configured_node_id_is_kept);
	suite_add_tcase(s, tc);

	tc = tcase_create("directories");
	tu_tcase_setup(tc, false);
	tcase_add_test(tc, test_two_data_dirs_are_independent_peers);
	tcase_add_test(tc, test_second_open_of_same_data_dir_fails);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(persist_suite());
}
