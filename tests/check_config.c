/*
 * Configuration table (lib/config.c): every name accepts a good value and
 * refuses a bad one with DKV_ECONFIG and a message naming it; settings that
 * only make sense together are checked at open.
 */
#include "config.h"

#include "libdkv/dkv.h"
#include "settings.h"
#include "unit.h"

static const struct {
	const char *name, *good, *bad;
} cases[] = {
	{"node_id", "peer-1.a:b_c", "has space"},
	{"listen", "127.0.0.1:0", "127.0.0.1:99999"},
	{"seeds", "10.0.0.1:7000, [::1]:7001", "10.0.0.1"},
	{"data_dir", "/var/lib/dkv", ""},
	{"dc", "eu-west", "eu/west"},
	{"rack", "r1", ""},
	{"role", "client", "king"},
	{"vnodes", "256", "0"},
	{"n", "5", "17"},
	{"r", "1", "-1"},
	{"w", "3", "abc"},
	{"replication", "dc1:3,dc2:2", "dc1:0"},
	{"timeout_ms", "250", "0"},
	{"gossip_interval_ms", "500", "5"},
	{"phi_threshold", "10.5", "nan"},
	{"conflicts", "lww", "maybe"},
	{"sync_writes", "1", "2"},
	{"hinted_handoff", "0", "yes"},
	{"hint_window_s", "60", "x"},
	{"hint_rate", "500", "0"},
	{"ae_interval_s", "0", "x"},
	{"ae_depth", "12", "17"},
	{"ae_sessions", "8", "0"},
	{"tombstone_grace_s", "0", "-5"},
	{"max_key_bytes", "65535", "65536"},
	{"max_value_bytes", "1", "0"},
	{"max_siblings", "10", "0"},
	{"cluster_name", "prod", ""},
	{"cluster_secret", "s3cret #1", "tab\there"},
	{"cache_mb", "0", "99999999"},
	{"write_buffer_mb", "8", "0"},
	{"max_open_files", "500", "10"},
	{"workers", "4", "0"},
	{"max_pending", "10", "0"},
	{"log_level", "debug", "loud"},
};

START_TEST(test_each_name_takes_good_and_refuses_bad_values)
{
	dkv_config_t *cfg = dkv_config_new();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(dkv_config_set(cfg, cases[i].name, cases[i].good) == DKV_OK,
		              "%s = '%s' refused: %s", cases[i].name, cases[i].good,
		              dkv_config_error(cfg));
		ck_assert_str_eq(dkv_config_error(cfg), "");
		ck_assert_msg(dkv_config_set(cfg, cases[i].name, cases[i].bad) == DKV_ECONFIG,
		              "%s = '%s' accepted", cases[i].name, cases[i].bad);
		ck_assert_msg(strstr(dkv_config_error(cfg), cases[i].name) != NULL,
		              "message '%s' does not name %s", dkv_config_error(cfg), cases[i].name);
	}
	dkv_config_free(cfg);
}
END_TEST

START_TEST(test_defaults)
{
	dkv_config_t *cfg = dkv_config_new();
	char err[128];

	ck_assert_uint_eq(cfg->s.vnodes, 128);
	ck_assert_uint_eq(cfg->s.n, 3);
	ck_assert_uint_eq(cfg->s.r, 2);
	ck_assert_uint_eq(cfg->s.w, 2);
	ck_assert_uint_eq(cfg->s.timeout_ms, 5000);
	ck_assert_uint_eq(cfg->s.max_key_bytes, 1024);
	/* only data_dir is missing for a storage peer */
	ck_assert_int_eq(config_check(cfg, err, sizeof(err)), DKV_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "data_dir"));
	dkv_config_set(cfg, "data_dir", "/tmp/x");
	ck_assert_int_eq(config_check(cfg, err, sizeof(err)), DKV_OK);
	dkv_config_free(cfg);
}
END_TEST

START_TEST(test_r_and_w_may_not_exceed_n)
{
	dkv_config_t *cfg = dkv_config_new();
	char err[128];

	dkv_config_set(cfg, "data_dir", "/tmp/x");
	dkv_config_set(cfg, "n", "2");
	dkv_config_set(cfg, "r", "3");
	ck_assert_int_eq(config_check(cfg, err, sizeof(err)), DKV_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "n (2)"));
	dkv_config_free(cfg);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, test_each_name_takes_good_and_refuses_bad_values);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_r_and_w_may_not_exceed_n);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
