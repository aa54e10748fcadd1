/*
 * The public API as an application sees it (linked against libdkv.so only,
 * like LevelDB's c_test.c): configuration, argument checking, the meaning
 * of put/get/delete with and without causal contexts, context encoding,
 * the cluster view, statistics and the version.
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libdkv/dkv.h>

#include "testutil.h"

static char sentinel;
#define BOGUS(type) ((type *)(void *)&sentinel)

/* Whether word appears in msg as a whole word (no identifier character on
 * either side), so "n" is found in "bad value for n:" but not in "name". */
static bool
names_word(const char *msg, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = msg; (p = strstr(p, word)) != NULL; p++) {
		bool left = p == msg || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
		bool right = !(isalnum((unsigned char)p[wl]) || p[wl] == '_');

		if (left && right)
			return true;
	}
	return false;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "cannot create %s", path);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

static char *
path_in(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	ck_assert_ptr_nonnull(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* ------------------------------------------------------------------------
 * Configuration
 */

START_TEST(test_config_unknown_name_is_econfig_and_named)
{
	dkv_config_t *cfg = dkv_config_new();
	int err;

	ck_assert_ptr_nonnull(cfg);
	err = dkv_config_set(cfg, "no_such_option", "1");
	ck_assert_msg(err == DKV_ECONFIG, "expected DKV_ECONFIG, got %d", err);
	ck_assert_msg(strstr(dkv_config_error(cfg), "no_such_option") != NULL,
	              "the message must name the option; got \"%s\"", dkv_config_error(cfg));
	dkv_config_free(cfg);
}
END_TEST

static const struct {
	const char *name, *value;
} bad_values[] = {
	{"n", "0"},
	{"vnodes", "abc"},
	{"conflicts", "maybe"},
	{"sync_writes", "2"},
	{"max_key_bytes", "0"},
	{"listen", "nohostport"},
	{"role", "king"},
	{"vnodes", ""},
	{"n", "-3"},
	{"max_value_bytes", "12x"},
};

START_TEST(test_config_bad_values_are_econfig_and_named)
{
	dkv_config_t *cfg = dkv_config_new();

	ck_assert_ptr_nonnull(cfg);
	for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		const char *name = bad_values[i].name, *value = bad_values[i].value;
		int err = dkv_config_set(cfg, name, value);

		ck_assert_msg(err == DKV_ECONFIG, "%s = \"%s\": expected DKV_ECONFIG, got %d",
		              name, value, err);
		ck_assert_msg(names_word(dkv_config_error(cfg), name),
		              "%s = \"%s\": the message must name %s; got \"%s\"", name, value,
		              name, dkv_config_error(cfg));
	}
	dkv_config_free(cfg);
}
END_TEST

START_TEST(test_config_good_set_clears_error)
{
	dkv_config_t *cfg = dkv_config_new();

	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(dkv_config_error(cfg), "");
	ck_assert_int_eq(dkv_config_set(cfg, "vnodes", "abc"), DKV_ECONFIG);
	ck_assert_str_ne(dkv_config_error(cfg), "");
	ck_assert_int_eq(dkv_config_set(cfg, "vnodes", "16"), DKV_OK);
	ck_assert_msg(strcmp(dkv_config_error(cfg), "") == 0,
	              "after a good set the error must be \"\"; got \"%s\"",
	              dkv_config_error(cfg));
	dkv_config_free(cfg);
}
END_TEST

START_TEST(test_config_load_reads_values_comments_and_blank_lines)
{
	char *file = path_in(tu_dir, "dkv.conf"), *data = path_in(tu_dir, "data");
	dkv_config_t *cfg = dkv_config_new();
	dkv_peer_info_t *peers = NULL;
	size_t count = 0;
	char text[2048];
	dkv_t *db = NULL;
	int err;

	snprintf(text, sizeof(text),
	         "# a test configuration\n"
	         "\n"
	         "data_dir = %s\n"
	         "   \n"
	         "  vnodes=24   \n"
	         "\t# indented comment\n"
	         "conflicts = lww # trailing comment\n"
	         "max_key_bytes = 100\n",
	         data);
	write_file(file, text);
	ck_assert_int_eq(mkdir(data, 0700), 0);
	ck_assert_ptr_nonnull(cfg);
	err = dkv_config_load(cfg, file);
	ck_assert_msg(err == DKV_OK, "load: expected DKV_OK, got %d (%s)", err,
	              dkv_config_error(cfg));
	err = dkv_open(cfg, &db);
	ck_assert_msg(err == DKV_OK, "open: expected DKV_OK, got %d (%s)", err,
	              dkv_config_error(cfg));
	dkv_config_free(cfg);

	/* The loaded values took effect: vnodes via the peer list,
	 * max_key_bytes via the key limit. */
	ck_assert_int_eq(dkv_peers(db, &peers, &count), DKV_OK);
	ck_assert_uint_eq(count, 1);
	ck_assert_msg(peers[0].tokens == 24, "tokens: expected 24, got %u", peers[0].tokens);
	dkv_peers_free(peers, count);
	{
		char key[101];

		memset(key, 'k', sizeof(key));
		ck_assert_int_eq(dkv_put(db, key, 100, "v", 1, NULL, NULL), DKV_OK);
		ck_assert_int_eq(dkv_put(db, key, 101, "v", 1, NULL, NULL), DKV_ETOOBIG);
	}
	dkv_close(db);
	free(file);
	free(data);
}
END_TEST

START_TEST(test_config_load_bad_value_names_its_line_number)
{
	char *file = path_in(tu_dir, "bad.conf");
	dkv_config_t *cfg = dkv_config_new();
	int err;

	write_file(file, "# comment\n"
	                 "vnodes = 8\n"
	                 "\n"
	                 "n = 3\n"
	                 "conflicts = maybe\n"
	                 "r = 1\n");
	ck_assert_ptr_nonnull(cfg);
	err = dkv_config_load(cfg, file);
	ck_assert_msg(err == DKV_ECONFIG, "expected DKV_ECONFIG, got %d", err);
	ck_assert_msg(names_word(dkv_config_error(cfg), "5"),
	              "the message must give line 5; got \"%s\"", dkv_config_error(cfg));
	ck_assert_msg(names_word(dkv_config_error(cfg), "conflicts"),
	              "the message must name conflicts; got \"%s\"", dkv_config_error(cfg));
	dkv_config_free(cfg);
	free(file);
}
END_TEST

START_TEST(test_config_load_line_without_equals_names_its_line_number)
{
	char *file = path_in(tu_dir, "noeq.conf");
	dkv_config_t *cfg = dkv_config_new();
	int err;

	write_file(file, "vnodes = 8\n"
	                 "# comment\n"
	                 "just some words\n");
	ck_assert_ptr_nonnull(cfg);
	err = dkv_config_load(cfg, file);
	ck_assert_msg(err == DKV_ECONFIG, "expected DKV_ECONFIG, got %d", err);
	ck_assert_msg(names_word(dkv_config_error(cfg), "3"),
	              "the message must give line 3; got \"%s\"", dkv_config_error(cfg));
	dkv_config_free(cfg);
	free(file);
}
END_TEST

START_TEST(test_config_load_missing_file_is_eio)
{
	char *file = path_in(tu_dir, "does-not-exist.conf");
	dkv_config_t *cfg = dkv_config_new();
	int err;

	ck_assert_ptr_nonnull(cfg);
	err = dkv_config_load(cfg, file);
	ck_assert_msg(err == DKV_EIO, "expected DKV_EIO, got %d", err);
	ck_assert_str_ne(dkv_config_error(cfg), "");
	dkv_config_free(cfg);
	free(file);
}
END_TEST

START_TEST(test_open_without_data_dir_is_econfig)
{
	dkv_config_t *cfg = dkv_config_new();
	dkv_t *db = BOGUS(dkv_t);
	int err;

	ck_assert_ptr_nonnull(cfg);
	err = dkv_open(cfg, &db);
	ck_assert_msg(err == DKV_ECONFIG, "expected DKV_ECONFIG, got %d", err);
	ck_assert_msg(db == NULL, "a failed open must set *out to NULL");
	ck_assert_msg(strstr(dkv_config_error(cfg), "data_dir") != NULL,
	              "the message must name data_dir; got \"%s\"", dkv_config_error(cfg));
	dkv_config_free(cfg);
}
END_TEST

START_TEST(test_config_null_arguments_are_einval)
{
	dkv_config_t *cfg = dkv_config_new();
	dkv_t *db = BOGUS(dkv_t);

	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(dkv_config_set(NULL, "n", "3"), DKV_EINVAL);
	ck_assert_int_eq(dkv_config_set(cfg, NULL, "3"), DKV_EINVAL);
	ck_assert_int_eq(dkv_config_set(cfg, "n", NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_config_load(NULL, "/nonexistent"), DKV_EINVAL);
	ck_assert_int_eq(dkv_config_load(cfg, NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_open(NULL, &db), DKV_EINVAL);
	ck_assert_msg(db == NULL, "dkv_open(NULL, &db) must set db to NULL");
	ck_assert_int_eq(dkv_open(cfg, NULL), DKV_EINVAL);
	dkv_config_free(cfg);
}
END_TEST

START_TEST(test_config_may_be_freed_right_after_open)
{
	dkv_config_t *cfg = tu_config(tu_dir, "vnodes", "8", NULL);
	dkv_t *db = NULL;

	ck_assert_int_eq(dkv_open(cfg, &db), DKV_OK);
	dkv_config_free(cfg);
	tu_put(db, "k", "v");
	tu_expect_str(db, "k", "v");
	dkv_close(db);
}
END_TEST

/* ------------------------------------------------------------------------
 * Arguments
 */

static void
noop_done(int err, void *arg)
{
	(void)err;
	(void)arg;
}

static void
noop_get(int err, dkv_result_t *res, void *arg)
{
	(void)err;
	(void)arg;
	dkv_result_free(res);
}

START_TEST(test_null_handle_is_einval_for_every_op)
{
	dkv_result_t *res = BOGUS(dkv_result_t);
	dkv_peer_info_t *peers = BOGUS(dkv_peer_info_t);
	size_t count = 7;

	ck_assert_int_eq(dkv_put(NULL, "k", 1, "v", 1, NULL, NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_get(NULL, "k", 1, &res, NULL), DKV_EINVAL);
	ck_assert_msg(res == NULL, "dkv_get on error must set *res to NULL");
	ck_assert_int_eq(dkv_delete(NULL, "k", 1, NULL, NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_put_async(NULL, "k", 1, "v", 1, NULL, NULL, noop_done, NULL),
	                 DKV_EINVAL);
	ck_assert_int_eq(dkv_get_async(NULL, "k", 1, NULL, noop_get, NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_delete_async(NULL, "k", 1, NULL, NULL, noop_done, NULL),
	                 DKV_EINVAL);
	ck_assert_int_eq(dkv_peers(NULL, &peers, &count), DKV_EINVAL);
	ck_assert_int_eq(dkv_stats(NULL, NULL, NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_decommission(NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_remove_peer(NULL, "peer"), DKV_EINVAL);
	dkv_close(NULL);
}
END_TEST

START_TEST(test_empty_or_null_key_is_einval)
{
	dkv_result_t *res = BOGUS(dkv_result_t);
	const char *k = "key";

	ck_assert_int_eq(dkv_put(tu_db, k, 0, "v", 1, NULL, NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_put(tu_db, NULL, 3, "v", 1, NULL, NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_put(tu_db, NULL, 0, "v", 1, NULL, NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_get(tu_db, k, 0, &res, NULL), DKV_EINVAL);
	ck_assert_ptr_null(res);
	res = BOGUS(dkv_result_t);
	ck_assert_int_eq(dkv_get(tu_db, NULL, 3, &res, NULL), DKV_EINVAL);
	ck_assert_ptr_null(res);
	ck_assert_int_eq(dkv_delete(tu_db, k, 0, NULL, NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_delete(tu_db, NULL, 3, NULL, NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_put_async(tu_db, k, 0, "v", 1, NULL, NULL, noop_done, NULL),
	                 DKV_EINVAL);
	ck_assert_int_eq(dkv_put_async(tu_db, NULL, 3, "v", 1, NULL, NULL, noop_done, NULL),
	                 DKV_EINVAL);
	ck_assert_int_eq(dkv_get_async(tu_db, k, 0, NULL, noop_get, NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_get_async(tu_db, NULL, 3, NULL, noop_get, NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_delete_async(tu_db, k, 0, NULL, NULL, noop_done, NULL),
	                 DKV_EINVAL);
	ck_assert_int_eq(dkv_delete_async(tu_db, NULL, 3, NULL, NULL, noop_done, NULL),
	                 DKV_EINVAL);
	/* Nothing was stored under the real key by any of that. */
	tu_expect_missing(tu_db, k, 3);
}
END_TEST

START_TEST(test_key_over_max_key_bytes_is_etoobig)
{
	dkv_t *db = tu_open(tu_dir, "max_key_bytes", "16", NULL);
	dkv_result_t *res = BOGUS(dkv_result_t);
	char key[17];

	memset(key, 'k', sizeof(key));
	key[0] = '\0'; /* limits count bytes, not characters */
	ck_assert_int_eq(dkv_put(db, key, 17, "v", 1, NULL, NULL), DKV_ETOOBIG);
	ck_assert_int_eq(dkv_get(db, key, 17, &res, NULL), DKV_ETOOBIG);
	ck_assert_ptr_null(res);
	ck_assert_int_eq(dkv_delete(db, key, 17, NULL, NULL), DKV_ETOOBIG);
	ck_assert_int_eq(dkv_put_async(db, key, 17, "v", 1, NULL, NULL, noop_done, NULL),
	                 DKV_ETOOBIG);
	ck_assert_int_eq(dkv_get_async(db, key, 17, NULL, noop_get, NULL), DKV_ETOOBIG);
	ck_assert_int_eq(dkv_delete_async(db, key, 17, NULL, NULL, noop_done, NULL),
	                 DKV_ETOOBIG);
	dkv_close(db);
}
END_TEST

START_TEST(test_key_of_exactly_max_key_bytes_works)
{
	dkv_t *db = tu_open(tu_dir, "max_key_bytes", "16", NULL);
	char key[16];

	memset(key, 'k', sizeof(key));
	key[3] = '\0';
	ck_assert_int_eq(dkv_put(db, key, 16, "sixteen", 7, NULL, NULL), DKV_OK);
	tu_expect_value(db, key, 16, "sixteen", 7);
	ck_assert_int_eq(dkv_delete(db, key, 16, NULL, NULL), DKV_OK);
	tu_expect_missing(db, key, 16);
	dkv_close(db);
}
END_TEST

START_TEST(test_value_over_max_value_bytes_is_etoobig)
{
	dkv_t *db = tu_open(tu_dir, "max_value_bytes", "64", NULL);
	char val[65];

	memset(val, 'v', sizeof(val));
	ck_assert_int_eq(dkv_put(db, "k", 1, val, 65, NULL, NULL), DKV_ETOOBIG);
	ck_assert_int_eq(dkv_put_async(db, "k", 1, val, 65, NULL, NULL, noop_done, NULL),
	                 DKV_ETOOBIG);
	tu_expect_missing(db, "k", 1);
	dkv_close(db);
}
END_TEST

START_TEST(test_value_of_exactly_max_value_bytes_works)
{
	dkv_t *db = tu_open(tu_dir, "max_value_bytes", "64", NULL);
	char val[64];

	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (char)(i * 7);
	ck_assert_int_eq(dkv_put(db, "k", 1, val, 64, NULL, NULL), DKV_OK);
	tu_expect_value(db, "k", 1, val, 64);
	dkv_close(db);
}
END_TEST

START_TEST(test_null_value_with_length_is_einval)
{
	ck_assert_int_eq(dkv_put(tu_db, "k", 1, NULL, 5, NULL, NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_put_async(tu_db, "k", 1, NULL, 5, NULL, NULL, noop_done, NULL),
	                 DKV_EINVAL);
	tu_expect_missing(tu_db, "k", 1);
	/* NULL with length 0 is the empty value. */
	ck_assert_int_eq(dkv_put(tu_db, "k", 1, NULL, 0, NULL, NULL), DKV_OK);
	tu_expect_value(tu_db, "k", 1, "", 0);
}
END_TEST

START_TEST(test_null_result_pointer_is_einval)
{
	tu_put(tu_db, "k", "v");
	ck_assert_int_eq(dkv_get(tu_db, "k", 1, NULL, NULL), DKV_EINVAL);
}
END_TEST

START_TEST(test_null_callback_is_einval)
{
	ck_assert_int_eq(dkv_put_async(tu_db, "k", 1, "v", 1, NULL, NULL, NULL, NULL),
	                 DKV_EINVAL);
	ck_assert_int_eq(dkv_get_async(tu_db, "k", 1, NULL, NULL, NULL), DKV_EINVAL);
	ck_assert_int_eq(dkv_delete_async(tu_db, "k", 1, NULL, NULL, NULL, NULL), DKV_EINVAL);
	tu_expect_missing(tu_db, "k", 1);
}
END_TEST

START_TEST(test_invalid_consistency_fails_einval)
{
	static const int bad[] = {-1, 7, 99, 1 << 20};
	dkv_opts_t *o;

	tu_put(tu_db, "k", "v");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dkv_result_t *res = BOGUS(dkv_result_t);
		int err;

		o = dkv_opts_new();
		ck_assert_ptr_nonnull(o);
		dkv_opts_set_consistency(o, (dkv_consistency_t)bad[i]);
		err = dkv_put(tu_db, "k", 1, "w", 1, NULL, o);
		ck_assert_msg(err == DKV_EINVAL, "put, consistency %d: expected DKV_EINVAL, got %d",
		              bad[i], err);
		err = dkv_get(tu_db, "k", 1, &res, o);
		ck_assert_msg(err == DKV_EINVAL, "get, consistency %d: expected DKV_EINVAL, got %d",
		              bad[i], err);
		ck_assert_ptr_null(res);
		err = dkv_delete(tu_db, "k", 1, NULL, o);
		ck_assert_msg(err == DKV_EINVAL, "delete, consistency %d: expected DKV_EINVAL, got %d",
		              bad[i], err);
		ck_assert_int_eq(dkv_put_async(tu_db, "k", 1, "w", 1, NULL, o, noop_done, NULL),
		                 DKV_EINVAL);
		ck_assert_int_eq(dkv_get_async(tu_db, "k", 1, o, noop_get, NULL), DKV_EINVAL);
		ck_assert_int_eq(dkv_delete_async(tu_db, "k", 1, NULL, o, noop_done, NULL),
		                 DKV_EINVAL);
		dkv_opts_free(o);
	}
	/* None of the refused writes happened. */
	tu_expect_str(tu_db, "k", "v");
}
END_TEST

START_TEST(test_valid_options_work)
{
	dkv_opts_t *o = dkv_opts_new();
	dkv_result_t *res = NULL;

	ck_assert_ptr_nonnull(o);
	dkv_opts_set_consistency(o, DKV_ONE);
	dkv_opts_set_timeout_ms(o, 2000);
	ck_assert_int_eq(dkv_put(tu_db, "k", 1, "v", 1, NULL, o), DKV_OK);
	ck_assert_int_eq(dkv_get(tu_db, "k", 1, &res, o), DKV_OK);
	ck_assert_uint_eq(dkv_result_count(res), 1);
	dkv_result_free(res);
	dkv_opts_set_timeout_ms(o, 0); /* back to the configured timeout */
	ck_assert_int_eq(dkv_delete(tu_db, "k", 1, NULL, o), DKV_OK);
	tu_expect_missing(tu_db, "k", 1);
	dkv_opts_free(o);
}
END_TEST

START_TEST(test_strerror_names_every_code)
{
	static const int codes[] = {DKV_OK,      DKV_ENOTFOUND,    DKV_EINVAL,
	                            DKV_ETOOBIG, DKV_EUNAVAILABLE, DKV_ETIMEDOUT,
	                            DKV_EIO,     DKV_ENOMEM,       DKV_ECONFIG,
	                            DKV_ECLOSED, DKV_EDEADLK,      DKV_EBUSY};
	const size_t n = sizeof(codes) / sizeof(codes[0]);
	static const int unknown[] = {1, 42, -12345, -1000000};

	for (size_t i = 0; i < n; i++) {
		const char *m = dkv_strerror(codes[i]);

		ck_assert_msg(m != NULL && m[0] != '\0', "dkv_strerror(%d) is empty", codes[i]);
		if (codes[i] != DKV_OK)
			ck_assert_msg(codes[i] < 0, "error code %d must be negative", codes[i]);
		for (size_t j = 0; j < i; j++)
			ck_assert_msg(strcmp(m, dkv_strerror(codes[j])) != 0,
			              "codes %d and %d share the message \"%s\"", codes[i], codes[j],
			              m);
	}
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		const char *m = dkv_strerror(unknown[i]);

		ck_assert_msg(m != NULL && strstr(m, "unknown") != NULL,
		              "dkv_strerror(%d): expected an \"unknown ...\" message, got \"%s\"",
		              unknown[i], m ? m : "(null)");
	}
}
END_TEST

START_TEST(test_result_value_out_of_range_is_null)
{
	dkv_result_t *res = NULL;
	size_t vlen = 99;

	tu_put(tu_db, "k", "value");
	ck_assert_int_eq(dkv_get(tu_db, "k", 1, &res, NULL), DKV_OK);
	ck_assert_uint_eq(dkv_result_count(res), 1);
	ck_assert_ptr_nonnull(dkv_result_value(res, 0, NULL)); /* vlen may be NULL */
	ck_assert_ptr_null(dkv_result_value(res, 1, &vlen));
	ck_assert_uint_eq(vlen, 0);
	vlen = 99;
	ck_assert_ptr_null(dkv_result_value(res, (size_t)-1, &vlen));
	ck_assert_uint_eq(vlen, 0);
	ck_assert_ptr_nonnull(dkv_result_context(res));
	dkv_result_free(res);
}
END_TEST

START_TEST(test_free_functions_accept_null)
{
	dkv_config_free(NULL);
	dkv_opts_free(NULL);
	dkv_result_free(NULL);
	dkv_context_free(NULL);
	dkv_peers_free(NULL, 0);
	dkv_close(NULL);
}
END_TEST

/* ------------------------------------------------------------------------
 * Causal contexts: encoding
 */

/* An encoded context of a get of key (after one put), in *buf and *len. */
static void
encoded_context(dkv_t *db, const char *key, void **buf, size_t *len)
{
	dkv_result_t *res = NULL;

	tu_put(db, key, "v1");
	ck_assert_int_eq(dkv_get(db, key, strlen(key), &res, NULL), DKV_OK);
	ck_assert_int_eq(dkv_context_encode(dkv_result_context(res), buf, len), DKV_OK);
	ck_assert_ptr_nonnull(*buf);
	ck_assert_uint_gt(*len, 0);
	dkv_result_free(res);
}

START_TEST(test_context_decode_rejects_garbage_and_empty)
{
	static const unsigned char ff[32] = {
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const char text[] = "this is not a causal context at all";
	dkv_context_t *c;

	c = BOGUS(dkv_context_t);
	ck_assert_int_eq(dkv_context_decode(ff, sizeof(ff), &c), DKV_EINVAL);
	ck_assert_ptr_null(c);
	c = BOGUS(dkv_context_t);
	ck_assert_int_eq(dkv_context_decode(text, sizeof(text) - 1, &c), DKV_EINVAL);
	ck_assert_ptr_null(c);
	c = BOGUS(dkv_context_t);
	ck_assert_int_eq(dkv_context_decode(text, 0, &c), DKV_EINVAL);
	ck_assert_ptr_null(c);
	c = BOGUS(dkv_context_t);
	ck_assert_int_eq(dkv_context_decode(NULL, 0, &c), DKV_EINVAL);
	ck_assert_ptr_null(c);
	c = BOGUS(dkv_context_t);
	ck_assert_int_eq(dkv_context_decode(NULL, 16, &c), DKV_EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(dkv_context_decode(ff, sizeof(ff), NULL), DKV_EINVAL);
}
END_TEST

START_TEST(test_context_decode_rejects_every_truncation)
{
	void *buf = NULL;
	size_t len = 0;

	encoded_context(tu_db, "k", &buf, &len);
	for (size_t cut = 0; cut < len; cut++) {
		/* An exact-size copy, so a read past the prefix is caught by
		 * ASan or valgrind. */
		unsigned char *prefix = malloc(cut > 0 ? cut : 1);
		dkv_context_t *c = BOGUS(dkv_context_t);
		int err;

		ck_assert_ptr_nonnull(prefix);
		memcpy(prefix, buf, cut);
		err = dkv_context_decode(prefix, cut, &c);
		ck_assert_msg(err == DKV_EINVAL,
		              "a %zu-byte prefix of a %zu-byte context: expected DKV_EINVAL, got %d",
		              cut, len, err);
		ck_assert_msg(c == NULL, "a failed decode must set *c to NULL (prefix %zu)", cut);
		free(prefix);
	}
	free(buf);
}
END_TEST

START_TEST(test_context_encode_decode_round_trips_byte_identical)
{
	void *buf = NULL, *again = NULL;
	size_t len = 0, len2 = 0;
	dkv_context_t *c = NULL;

	encoded_context(tu_db, "k", &buf, &len);
	ck_assert_int_eq(dkv_context_decode(buf, len, &c), DKV_OK);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(dkv_context_encode(c, &again, &len2), DKV_OK);
	ck_assert_msg(len2 == len && memcmp(buf, again, len) == 0,
	              "re-encoding changed the context (%zu bytes, then %zu)", len, len2);
	dkv_context_free(c);
	free(again);
	free(buf);
}
END_TEST

START_TEST(test_context_encode_null_arguments_are_einval)
{
	dkv_result_t *res = NULL;
	void *buf = NULL;
	size_t len = 0;

	tu_put(tu_db, "k", "v");
	ck_assert_int_eq(dkv_get(tu_db, "k", 1, &res, NULL), DKV_OK);
	ck_assert_int_eq(dkv_context_encode(NULL, &buf, &len), DKV_EINVAL);
	ck_assert_int_eq(dkv_context_encode(dkv_result_context(res), NULL, &len), DKV_EINVAL);
	ck_assert_int_eq(dkv_context_encode(dkv_result_context(res), &buf, NULL), DKV_EINVAL);
	ck_assert_ptr_null(buf);
	dkv_result_free(res);
}
END_TEST

/* ------------------------------------------------------------------------
 * Semantics of put, get and delete
 */

START_TEST(test_put_get_delete_round_trip)
{
	tu_put(tu_db, "apple", "red");
	tu_put(tu_db, "banana", "yellow");
	tu_expect_str(tu_db, "apple", "red");
	tu_expect_str(tu_db, "banana", "yellow");
	ck_assert_int_eq(dkv_delete(tu_db, "apple", 5, NULL, NULL), DKV_OK);
	tu_expect_missing(tu_db, "apple", 5);
	tu_expect_str(tu_db, "banana", "yellow");
}
END_TEST

START_TEST(test_get_missing_key_is_enotfound_with_null_result)
{
	dkv_result_t *res = BOGUS(dkv_result_t);

	ck_assert_int_eq(dkv_get(tu_db, "nothing", 7, &res, NULL), DKV_ENOTFOUND);
	ck_assert_ptr_null(res);
}
END_TEST

START_TEST(test_delete_missing_key_is_ok)
{
	ck_assert_int_eq(dkv_delete(tu_db, "never-written", 13, NULL, NULL), DKV_OK);
	tu_expect_missing(tu_db, "never-written", 13);
	/* ... twice, and after a real delete. */
	tu_put(tu_db, "k", "v");
	ck_assert_int_eq(dkv_delete(tu_db, "k", 1, NULL, NULL), DKV_OK);
	ck_assert_int_eq(dkv_delete(tu_db, "k", 1, NULL, NULL), DKV_OK);
	tu_expect_missing(tu_db, "k", 1);
}
END_TEST

START_TEST(test_put_after_delete_revives_key)
{
	tu_put(tu_db, "k", "one");
	ck_assert_int_eq(dkv_delete(tu_db, "k", 1, NULL, NULL), DKV_OK);
	tu_put(tu_db, "k", "two");
	tu_expect_str(tu_db, "k", "two");
}
END_TEST

START_TEST(test_binary_keys_and_values_keep_nul_bytes)
{
	static const struct {
		const char *key;
		size_t klen;
		const char *val;
		size_t vlen;
	} kv[] = {
		{"a\0b", 3, "first\0", 6},
		{"a\0c", 3, "\0second", 7},
		{"a", 1, "third", 5},
		{"a\0", 2, "fo\0urth", 7},
		{"\0", 1, "\0\0\0", 3},
		{"\0\0", 2, "\xff\xfe", 2},
		{"\xff\x80\x01", 3, "high\x80", 5},
	};
	const size_t n = sizeof(kv) / sizeof(kv[0]);

	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(dkv_put(tu_db, kv[i].key, kv[i].klen, kv[i].val, kv[i].vlen,
		                         NULL, NULL),
		                 DKV_OK);
	for (size_t i = 0; i < n; i++)
		tu_expect_value(tu_db, kv[i].key, kv[i].klen, kv[i].val, kv[i].vlen);
	/* Deleting "a\0b" leaves "a\0c", "a" and "a\0" alone. */
	ck_assert_int_eq(dkv_delete(tu_db, "a\0b", 3, NULL, NULL), DKV_OK);
	tu_expect_missing(tu_db, "a\0b", 3);
	for (size_t i = 1; i < n; i++)
		tu_expect_value(tu_db, kv[i].key, kv[i].klen, kv[i].val, kv[i].vlen);
}
END_TEST

START_TEST(test_zero_length_value_is_a_value)
{
	dkv_result_t *res = NULL;
	size_t vlen = 99;

	ck_assert_int_eq(dkv_put(tu_db, "empty", 5, "", 0, NULL, NULL), DKV_OK);
	ck_assert_int_eq(dkv_get(tu_db, "empty", 5, &res, NULL), DKV_OK);
	ck_assert_uint_eq(dkv_result_count(res), 1);
	ck_assert_msg(dkv_result_value(res, 0, &vlen) != NULL,
	              "an in-range sibling must not be NULL, even when empty");
	ck_assert_uint_eq(vlen, 0);
	dkv_result_free(res);
	/* It is a value: deleting it makes the key missing. */
	ck_assert_int_eq(dkv_delete(tu_db, "empty", 5, NULL, NULL), DKV_OK);
	tu_expect_missing(tu_db, "empty", 5);
}
END_TEST

START_TEST(test_repeated_blind_puts_keep_last_value)
{
	char val[32];

	for (int i = 0; i < 20; i++) {
		snprintf(val, sizeof(val), "value-%d", i);
		tu_put(tu_db, "k", val);
	}
	tu_expect_str(tu_db, "k", "value-19");
}
END_TEST

/* put v1; get (ctx1); put v2 blind; put v3 with ctx1: v2 was not seen by
 * ctx1, so v2 and v3 are siblings. */
static void
make_siblings(dkv_t *db, const char *key, const char *v1, const char *v2, const char *v3)
{
	dkv_result_t *stale = NULL;
	size_t klen = strlen(key);

	tu_put(db, key, v1);
	ck_assert_int_eq(dkv_get(db, key, klen, &stale, NULL), DKV_OK);
	tu_put(db, key, v2);
	ck_assert_int_eq(dkv_put(db, key, klen, v3, strlen(v3), dkv_result_context(stale), NULL),
	                 DKV_OK);
	dkv_result_free(stale);
}

static void
expect_two_siblings(dkv_t *db, const char *key, const char *a, const char *b)
{
	dkv_result_t *res = NULL;
	int err = dkv_get(db, key, strlen(key), &res, NULL);

	ck_assert_msg(err == DKV_OK, "get %s: expected DKV_OK, got %d", key, err);
	ck_assert_msg(dkv_result_count(res) == 2 && tu_result_has(res, a, strlen(a)) &&
	                  tu_result_has(res, b, strlen(b)),
	              "get %s: expected the siblings \"%s\" and \"%s\", saw %zu: %s", key, a, b,
	              dkv_result_count(res), tu_result_text(res));
	dkv_result_free(res);
}

START_TEST(test_put_with_stale_context_creates_siblings)
{
	make_siblings(tu_db, "k", "v1", "v2", "v3");
	expect_two_siblings(tu_db, "k", "v2", "v3");
}
END_TEST

START_TEST(test_put_with_context_supersedes_siblings)
{
	dkv_result_t *res = NULL;

	make_siblings(tu_db, "k", "v1", "v2", "v3");
	ck_assert_int_eq(dkv_get(tu_db, "k", 1, &res, NULL), DKV_OK);
	ck_assert_uint_eq(dkv_result_count(res), 2);
	ck_assert_int_eq(dkv_put(tu_db, "k", 1, "merged", 6, dkv_result_context(res), NULL),
	                 DKV_OK);
	dkv_result_free(res);
	tu_expect_str(tu_db, "k", "merged");
}
END_TEST

START_TEST(test_put_with_fresh_context_replaces_single_value)
{
	dkv_result_t *res = NULL;

	tu_put(tu_db, "k", "v1");
	ck_assert_int_eq(dkv_get(tu_db, "k", 1, &res, NULL), DKV_OK);
	ck_assert_int_eq(dkv_put(tu_db, "k", 1, "v2", 2, dkv_result_context(res), NULL), DKV_OK);
	dkv_result_free(res);
	tu_expect_str(tu_db, "k", "v2");
}
END_TEST

START_TEST(test_decoded_context_supersedes_like_original)
{
	dkv_result_t *res = NULL;
	dkv_context_t *c = NULL;
	void *buf = NULL;
	size_t len = 0;

	make_siblings(tu_db, "k", "v1", "v2", "v3");
	ck_assert_int_eq(dkv_get(tu_db, "k", 1, &res, NULL), DKV_OK);
	ck_assert_uint_eq(dkv_result_count(res), 2);
	ck_assert_int_eq(dkv_context_encode(dkv_result_context(res), &buf, &len), DKV_OK);
	dkv_result_free(res); /* the decoded context must not depend on it */
	ck_assert_int_eq(dkv_context_decode(buf, len, &c), DKV_OK);
	free(buf);
	ck_assert_int_eq(dkv_put(tu_db, "k", 1, "merged", 6, c, NULL), DKV_OK);
	dkv_context_free(c);
	tu_expect_str(tu_db, "k", "merged");
}
END_TEST

START_TEST(test_delete_with_context_removes_what_get_saw)
{
	dkv_result_t *res = NULL;

	make_siblings(tu_db, "k", "v1", "v2", "v3");
	ck_assert_int_eq(dkv_get(tu_db, "k", 1, &res, NULL), DKV_OK);
	ck_assert_uint_eq(dkv_result_count(res), 2);
	ck_assert_int_eq(dkv_delete(tu_db, "k", 1, dkv_result_context(res), NULL), DKV_OK);
	dkv_result_free(res);
	tu_expect_missing(tu_db, "k", 1);
}
END_TEST

START_TEST(test_delete_with_decoded_context_removes_what_get_saw)
{
	dkv_result_t *res = NULL;
	dkv_context_t *c = NULL;
	void *buf = NULL;
	size_t len = 0;

	tu_put(tu_db, "k", "v1");
	ck_assert_int_eq(dkv_get(tu_db, "k", 1, &res, NULL), DKV_OK);
	ck_assert_int_eq(dkv_context_encode(dkv_result_context(res), &buf, &len), DKV_OK);
	dkv_result_free(res);
	ck_assert_int_eq(dkv_context_decode(buf, len, &c), DKV_OK);
	free(buf);
	ck_assert_int_eq(dkv_delete(tu_db, "k", 1, c, NULL), DKV_OK);
	dkv_context_free(c);
	tu_expect_missing(tu_db, "k", 1);
}
END_TEST

START_TEST(test_delete_with_stale_context_keeps_newer_value)
{
	dkv_result_t *stale = NULL;

	tu_put(tu_db, "k", "v1");
	ck_assert_int_eq(dkv_get(tu_db, "k", 1, &stale, NULL), DKV_OK);
	tu_put(tu_db, "k", "v2");
	/* The delete removes exactly what the get saw (v1), not v2. */
	ck_assert_int_eq(dkv_delete(tu_db, "k", 1, dkv_result_context(stale), NULL), DKV_OK);
	dkv_result_free(stale);
	tu_expect_str(tu_db, "k", "v2");
}
END_TEST

START_TEST(test_blind_delete_removes_siblings)
{
	make_siblings(tu_db, "k", "v1", "v2", "v3");
	ck_assert_int_eq(dkv_delete(tu_db, "k", 1, NULL, NULL), DKV_OK);
	tu_expect_missing(tu_db, "k", 1);
}
END_TEST

START_TEST(test_lww_last_put_wins)
{
	dkv_t *db = tu_open(tu_dir, "conflicts", "lww", NULL);

	/* The stale-context sequence that makes siblings in the default mode
	 * leaves only the newest value in lww. */
	make_siblings(db, "k", "v1", "v2", "v3");
	tu_expect_str(db, "k", "v3");
	tu_put(db, "k", "v4");
	tu_expect_str(db, "k", "v4");
	dkv_close(db);
}
END_TEST

START_TEST(test_result_keeps_its_values_after_later_writes)
{
	dkv_result_t *old = NULL;
	size_t vlen = 0;
	const void *v;

	tu_put(tu_db, "k", "before");
	ck_assert_int_eq(dkv_get(tu_db, "k", 1, &old, NULL), DKV_OK);
	tu_put(tu_db, "k", "after!");
	ck_assert_int_eq(dkv_delete(tu_db, "k", 1, NULL, NULL), DKV_OK);
	v = dkv_result_value(old, 0, &vlen);
	ck_assert_msg(vlen == 6 && memcmp(v, "before", 6) == 0,
	              "a result must keep the bytes it was read with; saw %s",
	              tu_result_text(old));
	dkv_result_free(old);
}
END_TEST

/* ------------------------------------------------------------------------
 * Cluster view, statistics, version
 */

START_TEST(test_peers_lists_self_up_owning_whole_ring)
{
	dkv_t *db = tu_open(tu_dir, "vnodes", "32", NULL);
	dkv_peer_info_t *list = NULL;
	size_t count = 0;

	ck_assert_int_eq(dkv_peers(db, &list, &count), DKV_OK);
	ck_assert_msg(count == 1, "a lone peer: expected 1 peer, got %zu", count);
	ck_assert_ptr_nonnull(list);
	ck_assert_msg(list[0].id != NULL && list[0].id[0] != '\0', "self id is empty");
	ck_assert_ptr_nonnull(list[0].addr);
	ck_assert_ptr_nonnull(list[0].dc);
	ck_assert_ptr_nonnull(list[0].rack);
	ck_assert_msg(list[0].state == DKV_PEER_UP, "self state: expected UP (%d), got %d",
	              DKV_PEER_UP, (int)list[0].state);
	ck_assert_msg(list[0].tokens == 32, "self tokens: expected vnodes (32), got %u",
	              list[0].tokens);
	ck_assert_msg(list[0].ownership > 0.999999 && list[0].ownership < 1.000001,
	              "self ownership: expected 1.0, got %g", list[0].ownership);
	dkv_peers_free(list, count);
	dkv_close(db);
}
END_TEST

START_TEST(test_peers_null_arguments_are_einval)
{
	dkv_peer_info_t *list = BOGUS(dkv_peer_info_t);
	size_t count = 5;

	ck_assert_int_eq(dkv_peers(tu_db, NULL, &count), DKV_EINVAL);
	ck_assert_int_eq(dkv_peers(tu_db, &list, NULL), DKV_EINVAL);
}
END_TEST

START_TEST(test_stats_count_puts_and_gets)
{
	double puts0 = tu_stat(tu_db, "puts"), gets0 = tu_stat(tu_db, "gets");
	char key[16];

	ck_assert_msg(puts0 >= 0, "dkv_stats must report \"puts\"");
	ck_assert_msg(gets0 >= 0, "dkv_stats must report \"gets\"");
	ck_assert_msg(puts0 == 0 && gets0 == 0,
	              "counters count since open: expected 0 puts and 0 gets, got %g and %g",
	              puts0, gets0);
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		tu_put(tu_db, key, "v");
	}
	for (int i = 0; i < 7; i++) {
		snprintf(key, sizeof(key), "k%d", i % 5);
		tu_expect_str(tu_db, key, "v");
	}
	ck_assert_msg(tu_stat(tu_db, "puts") == puts0 + 5, "puts: expected %g, got %g",
	              puts0 + 5, tu_stat(tu_db, "puts"));
	ck_assert_msg(tu_stat(tu_db, "gets") == gets0 + 7, "gets: expected %g, got %g",
	              gets0 + 7, tu_stat(tu_db, "gets"));
}
END_TEST

static void
count_stat(const char *name, double value, void *arg)
{
	size_t *n = arg;

	ck_assert_msg(name != NULL && name[0] != '\0', "a statistic has an empty name");
	ck_assert_msg(!isnan(value), "statistic %s is NaN", name);
	(*n)++;
}

START_TEST(test_stats_reports_named_values)
{
	size_t n = 0;

	ck_assert_int_eq(dkv_stats(tu_db, count_stat, &n), DKV_OK);
	ck_assert_uint_ge(n, 2);
	ck_assert_int_eq(dkv_stats(tu_db, NULL, NULL), DKV_EINVAL);
}
END_TEST

START_TEST(test_decommission_alone_is_eunavailable)
{
	tu_put(tu_db, "k", "v");
	ck_assert_int_eq(dkv_decommission(tu_db), DKV_EUNAVAILABLE);
	tu_expect_str(tu_db, "k", "v"); /* still a working peer */
}
END_TEST

START_TEST(test_remove_peer_refuses_self_and_unknown_ids)
{
	char *self = tu_self_id(tu_db);
	int on_self = dkv_remove_peer(tu_db, self);
	int on_unknown = dkv_remove_peer(tu_db, "no-such-peer");

	free(self);
	ck_assert_msg(on_self == DKV_EBUSY, "removing this peer: expected DKV_EBUSY, got %d",
	              on_self);
	ck_assert_msg(on_unknown == DKV_ENOTFOUND,
	              "removing an unknown peer: expected DKV_ENOTFOUND, got %d", on_unknown);
	ck_assert_int_eq(dkv_remove_peer(tu_db, NULL), DKV_EINVAL);
	/* Nothing changed: the peer still works. */
	tu_put(tu_db, "k", "v");
	tu_expect_str(tu_db, "k", "v");
}
END_TEST

START_TEST(test_version_header_matches_library)
{
	unsigned maj = 99, min = 99, pat = 99;
	char tail = 0;

	ck_assert_ptr_nonnull(dkv_version());
	ck_assert_str_eq(dkv_version(), DKV_VERSION_STRING);
	ck_assert_str_eq(DKV_VERSION_STRING, PACKAGE_VERSION);
	ck_assert_int_eq(sscanf(dkv_version(), "%u.%u.%u%c", &maj, &min, &pat, &tail), 3);
	ck_assert_uint_eq(maj, DKV_VERSION_MAJOR);
	ck_assert_uint_eq(min, DKV_VERSION_MINOR);
	ck_assert_uint_eq(pat, DKV_VERSION_PATCH);
}
END_TEST

START_TEST(test_version_number_packs_major_minor_patch)
{
	ck_assert_int_eq(DKV_VERSION_NUMBER,
	                 (DKV_VERSION_MAJOR << 16) | (DKV_VERSION_MINOR << 8) | DKV_VERSION_PATCH);
#if DKV_VERSION_NUMBER < 0x000100
#error "DKV_VERSION_NUMBER must be usable in #if and at least 0.1.0"
#endif
}
END_TEST

static Suite *
api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc;

	tc = tcase_create("config");
	tu_tcase_setup(tc, false);
	tcase_add_test(tc, test_config_unknown_name_is_econfig_and_named);
	tcase_add_test(tc, test_config_bad_values_are_econfig_and_named);
	tcase_add_test(tc, test_config_good_set_clears_error);
	tcase_add_test(tc, test_config_load_reads_values_comments_and_blank_lines);
	tcase_add_test(tc, test_config_load_bad_value_names_its_line_number);
	tcase_add_test(tc, test_config_load_line_without_equals_names_its_line_number);
	tcase_add_test(tc, test_config_load_missing_file_is_eio);
	tcase_add_test(tc, test_open_without_data_dir_is_econfig);
	tcase_add_test(tc, test_config_null_arguments_are_einval);
	tcase_add_test(tc, test_config_may_be_freed_right_after_open);
	suite_add_tcase(s, tc);

	tc = tcase_create("arguments");
	tu_tcase_setup(tc, true);
	tcase_add_test(tc, test_null_handle_is_einval_for_every_op);
	tcase_add_test(tc, test_empty_or_null_key_is_einval);
	tcase_add_test(tc, test_null_value_with_length_is_einval);
	tcase_add_test(tc, test_null_result_pointer_is_einval);
	tcase_add_test(tc, test_null_callback_is_einval);
	tcase_add_test(tc, test_invalid_consistency_fails_einval);
	tcase_add_test(tc, test_valid_options_work);
	tcase_add_test(tc, test_strerror_names_every_code);
	tcase_add_test(tc, test_result_value_out_of_range_is_null);
	tcase_add_test(tc, test_free_functions_accept_null);
	suite_add_tcase(s, tc);

	/* Tests that open their own peer with a configuration of their own. */
	tc = tcase_create("configured");
	tu_tcase_setup(tc, false);
	tcase_add_test(tc, test_key_over_max_key_bytes_is_etoobig);
	tcase_add_test(tc, test_key_of_exactly_max_key_bytes_works);
	tcase_add_test(tc, test_value_over_max_value_bytes_is_etoobig);
	tcase_add_test(tc, test_value_of_exactly_max_value_bytes_works);
	tcase_add_test(tc, test_lww_last_put_wins);
	tcase_add_test(tc, test_peers_lists_self_up_owning_whole_ring);
	suite_add_tcase(s, tc);

	tc = tcase_create("context");
	tu_tcase_setup(tc, true);
	tcase_add_test(tc, test_context_decode_rejects_garbage_and_empty);
	tcase_add_test(tc, test_context_decode_rejects_every_truncation);
	tcase_add_test(tc, test_context_encode_decode_round_trips_byte_identical);
	tcase_add_test(tc, test_context_encode_null_arguments_are_einval);
	suite_add_tcase(s, tc);

	tc = tcase_create("semantics");
	tu_tcase_setup(tc, true);
	tcase_add_test(tc, test_put_get_delete_round_trip);
	tcase_add_test(tc, test_get_missing_key_is_enotfound_with_null_result);
	tcase_add_test(tc, test_delete_missing_key_is_ok);
	tcase_add_test(tc, test_put_after_delete_revives_key);
	tcase_add_test(tc, test_binary_keys_and_values_keep_nul_bytes);
	tcase_add_test(tc, test_zero_length_value_is_a_value);
	tcase_add_test(tc, test_repeated_blind_puts_keep_last_value);
	tcase_add_test(tc, test_put_with_stale_context_creates_siblings);
	tcase_add_test(tc, test_put_with_context_supersedes_siblings);
	tcase_add_test(tc, test_put_with_fresh_context_replaces_single_value);
	tcase_add_test(tc, test_decoded_context_supersedes_like_original);
	tcase_add_test(tc, test_delete_with_context_removes_what_get_saw);
	tcase_add_test(tc, test_delete_with_decoded_context_removes_what_get_saw);
	tcase_add_test(tc, test_delete_with_stale_context_keeps_newer_value);
	tcase_add_test(tc, test_blind_delete_removes_siblings);
	tcase_add_test(tc, test_result_keeps_its_values_after_later_writes);
	suite_add_tcase(s, tc);

	tc = tcase_create("info");
	tu_tcase_setup(tc, true);
	tcase_add_test(tc, test_peers_null_arguments_are_einval);
	tcase_add_test(tc, test_stats_count_puts_and_gets);
	tcase_add_test(tc, test_stats_reports_named_values);
	tcase_add_test(tc, test_decommission_alone_is_eunavailable);
	tcase_add_test(tc, test_remove_peer_refuses_self_and_unknown_ids);
	tcase_add_test(tc, test_version_header_matches_library);
	tcase_add_test(tc, test_version_number_packs_major_minor_patch);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(api_suite());
}
