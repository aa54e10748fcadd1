/*
 * Cluster membership with real peers over loopback (public API only):
 * several dkv_t in one process, each listening on 127.0.0.1, converge to
 * the same membership and ring; a peer of another cluster is refused; a
 * clean close is seen at once; a dead peer can be removed. Waits poll the
 * peer lists with a deadline and report what they saw last.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clusterutil.h"

static dkv_peer_state_t
state_of(dkv_t *db, const char *id, bool *listed)
{
	dkv_peer_info_t *l;
	size_t n;
	dkv_peer_state_t st = DKV_PEER_DOWN;

	*listed = false;
	ck_assert_int_eq(dkv_peers(db, &l, &n), DKV_OK);
	for (size_t k = 0; k < n; k++)
		if (strcmp(l[k].id, id) == 0) {
			*listed = true;
			st = l[k].state;
		}
	dkv_peers_free(l, n);
	return st;
}

START_TEST(test_five_peers_converge_to_one_ring)
{
	struct cluster c;
	double sum = 0;
	dkv_peer_info_t *l;
	size_t n;

	start_cluster(&c, 5);
	wait_converged(c.db, 5, 5, 30);
	ck_assert_int_eq(dkv_peers(c.db[2], &l, &n), DKV_OK);
	for (size_t k = 0; k < n; k++)
		sum += l[k].ownership;
	ck_assert_msg(sum > 0.999 && sum < 1.001, "ownership sums to %f", sum);
	ck_assert_uint_eq(l[0].tokens, 16);
	dkv_peers_free(l, n);
	stop_cluster(&c);
}
END_TEST

START_TEST(test_sixteen_peers_converge)
{
	struct cluster c;
	int n = (int)tu_scale(16, 6);

	start_cluster(&c, n);
	wait_converged(c.db, n, (size_t)n, 60);
	stop_cluster(&c);
}
END_TEST

START_TEST(test_a_peer_of_another_cluster_is_refused)
{
	struct cluster c;
	char *outsider_id;
	bool listed;
	dkv_t *outsider;

	start_cluster(&c, 2);
	wait_converged(c.db, 2, 2, 30);
	outsider = start_peer(&c, 2, "other-cluster");
	c.n = 3;
	outsider_id = tu_self_id(outsider);
	/* several rounds of chances to sneak in */
	for (int t = 0; t < 40; t++) {
		pause_ms(100);
		for (int i = 0; i < 2; i++) {
			state_of(c.db[i], outsider_id, &listed);
			ck_assert_msg(!listed, "peer %d lists the outsider %s", i, outsider_id);
		}
	}
	ck_assert_msg(tu_stat(c.db[0], "handshakes_refused") >= 1 ||
	              tu_stat(c.db[1], "handshakes_refused") >= 1,
	              "no handshake was refused");
	{
		dkv_peer_info_t *l;
		size_t n;

		ck_assert_int_eq(dkv_peers(outsider, &l, &n), DKV_OK);
		ck_assert_uint_eq(n, 1); /* it never learned the others either */
		dkv_peers_free(l, n);
	}
	free(outsider_id);
	stop_cluster(&c);
}
END_TEST

START_TEST(test_a_clean_close_is_seen_down_at_once)
{
	struct cluster c;
	char *gone;
	bool listed;
	uint64_t start;

	start_cluster(&c, 3);
	wait_converged(c.db, 3, 3, 30);
	gone = tu_self_id(c.db[2]);
	start = now_ms();
	dkv_close(c.db[2]);
	c.db[2] = NULL;
	while (state_of(c.db[0], gone, &listed) != DKV_PEER_DOWN ||
	       state_of(c.db[1], gone, &listed) != DKV_PEER_DOWN) {
		/* far below the ~2.4 s the failure detector would need */
		ck_assert_msg(now_ms() - start < 1000, "closed peer not DOWN after 1 s");
		pause_ms(10);
	}
	printf("closed peer seen DOWN after %llu ms\n", (unsigned long long)(now_ms() - start));
	ck_assert(listed);
	free(gone);
	tu_rmtree(c.dirs[2]);
	free(c.dirs[2]);
	c.n = 2;
	stop_cluster(&c);
}
END_TEST

START_TEST(test_a_dead_peer_can_be_removed_for_good)
{
	struct cluster c;
	char *gone, *self;
	bool listed;

	start_cluster(&c, 3);
	wait_converged(c.db, 3, 3, 30);
	gone = tu_self_id(c.db[2]);
	self = tu_self_id(c.db[0]);
	ck_assert_int_eq(dkv_remove_peer(c.db[0], gone), DKV_EBUSY); /* still up */
	ck_assert_int_eq(dkv_remove_peer(c.db[0], self), DKV_EBUSY);
	ck_assert_int_eq(dkv_remove_peer(c.db[0], "no-such-peer"), DKV_ENOTFOUND);
	ck_assert_int_eq(dkv_remove_peer(c.db[0], NULL), DKV_EINVAL);
	dkv_close(c.db[2]);
	c.db[2] = NULL;
	while (state_of(c.db[0], gone, &listed) != DKV_PEER_DOWN)
		pause_ms(10);
	/* refused (EBUSY) until we have known the peer for a few seconds */
	{
		uint64_t deadline = now_ms() + 10000;
		int err;

		while ((err = dkv_remove_peer(c.db[0], gone)) == DKV_EBUSY && now_ms() < deadline)
			pause_ms(100);
		ck_assert_msg(err == DKV_OK, "remove of a dead peer: %s", dkv_strerror(err));
	}
	/* the removal spreads: both survivors forget it */
	{
		uint64_t deadline = now_ms() + 15000;

		for (;;) {
			bool l0, l1;

			state_of(c.db[0], gone, &l0);
			state_of(c.db[1], gone, &l1);
			if (!l0 && !l1)
				break;
			ck_assert_msg(now_ms() < deadline, "removed peer still listed (%d, %d)", l0, l1);
			pause_ms(50);
		}
	}
	wait_converged(c.db, 2, 2, 30);
	free(gone);
	free(self);
	tu_rmtree(c.dirs[2]);
	free(c.dirs[2]);
	c.n = 2;
	stop_cluster(&c);
}
END_TEST

START_TEST(test_a_restarted_peer_keeps_its_identity_and_tokens)
{
	struct cluster c;
	char *before, *after;
	dkv_peer_info_t *l;
	size_t n;
	dkv_config_t *cfg;
	int err;

	start_cluster(&c, 2);
	wait_converged(c.db, 2, 2, 30);
	before = tu_self_id(c.db[1]);
	dkv_close(c.db[1]);
	cfg = tu_config(c.dirs[1], "listen", "127.0.0.1:0", "vnodes", "16", "cluster_name", "test",
	                "seeds", c.seed, "log_level", "error", NULL);
	err = dkv_open(cfg, &c.db[1]);
	ck_assert_msg(err == DKV_OK, "reopen: %s", dkv_config_error(cfg));
	dkv_config_free(cfg);
	after = tu_self_id(c.db[1]);
	ck_assert_str_eq(before, after);
	ck_assert_int_eq(dkv_peers(c.db[1], &l, &n), DKV_OK);
	ck_assert_uint_eq(l[0].tokens, 16); /* at once: kept, not chosen again */
	dkv_peers_free(l, n);
	wait_converged(c.db, 2, 2, 30);
	free(before);
	free(after);
	stop_cluster(&c);
}
END_TEST

/* Regression (found in review): log lines written while the cluster lock
 * was held deadlocked a logger that called back into the library. */
static dkv_t *_Atomic logger_db;
static _Atomic int logger_calls;

static void
calling_logger(int level, const char *msg, void *arg)
{
	dkv_t *db = logger_db;
	dkv_peer_info_t *l;
	dkv_token_range_t *r;
	size_t n;

	(void)level;
	(void)msg;
	(void)arg;
	logger_calls++;
	if (db == NULL)
		return;
	if (dkv_peers(db, &l, &n) == DKV_OK)
		dkv_peers_free(l, n);
	if (dkv_ring(db, &r, &n) == DKV_OK)
		dkv_ring_free(r, n);
}

START_TEST(test_a_logger_may_call_the_library)
{
	struct cluster c;
	dkv_config_t *cfg;
	int err;

	memset(&c, 0, sizeof(c));
	start_peer(&c, 0, "test");
	c.dirs[1] = tu_tempdir();
	cfg = tu_config(c.dirs[1], "listen", "127.0.0.1:0", "vnodes", "16", "cluster_name", "test",
	                "seeds", c.seed, "log_level", "debug", NULL);
	dkv_config_set_logger(cfg, calling_logger, NULL);
	err = dkv_open(cfg, &c.db[1]);
	ck_assert_msg(err == DKV_OK, "open: %s", dkv_config_error(cfg));
	dkv_config_free(cfg);
	logger_db = c.db[1];
	c.n = 2;
	wait_converged(c.db, 2, 2, 30);
	ck_assert_int_gt(logger_calls, 0);
	logger_db = NULL;
	stop_cluster(&c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("cluster");
	TCase *tc = tcase_create("cluster");

	tcase_add_test(tc, test_five_peers_converge_to_one_ring);
	tcase_add_test(tc, test_sixteen_peers_converge);
	tcase_add_test(tc, test_a_peer_of_another_cluster_is_refused);
	tcase_add_test(tc, test_a_clean_close_is_seen_down_at_once);
	tcase_add_test(tc, test_a_dead_peer_can_be_removed_for_good);
	tcase_add_test(tc, test_a_restarted_peer_keeps_its_identity_and_tokens);
	tcase_add_test(tc, test_a_logger_may_call_the_library);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
