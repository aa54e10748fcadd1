/*
 * Tombstone collection with real peers over loopback: tombstones past
 * tombstone_grace_s are purged only once every replica holds them, so a
 * replica that missed the delete and comes back with the old value cannot
 * bring it back; and a key written again after its delete is kept.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterutil.h"

#define NDEL 20

static void
start_peer_gc(struct cluster *c, int i)
{
	start_peer_with(c, i, "gc", "n", "3", "gossip_interval_ms", test_gossip_ms(), "hinted_handoff",
	                "0", "ae_interval_s", "0", "tombstone_grace_s", "1", "hint_window_s", "1",
	                NULL);
}

static double
sum_stat(struct cluster *c, const char *name)
{
	double total = 0;

	for (int i = 0; i < c->n; i++)
		if (c->db[i] != NULL)
			total += tu_stat(c->db[i], name);
	return total;
}

static int
get_at(dkv_t *db, const char *key, dkv_consistency_t l)
{
	dkv_opts_t *o = opts_at(l);
	dkv_result_t *res = NULL;
	int err = dkv_get(db, key, strlen(key), &res, o);

	dkv_result_free(res);
	dkv_opts_free(o);
	return err;
}

START_TEST(test_a_returning_replica_cannot_bring_a_collected_delete_back)
{
	dkv_opts_t *all = opts_at(DKV_ALL), *q = opts_at(DKV_QUORUM);
	struct cluster c;
	uint64_t deadline;
	char *gone;

	memset(&c, 0, sizeof(c));
	c.n = 3;
	for (int i = 0; i < 3; i++)
		start_peer_gc(&c, i);
	wait_converged(c.db, 3, 3, 30);
	for (int k = 0; k < NDEL; k++) {
		char key[16];

		snprintf(key, sizeof(key), "del%d", k);
		ck_assert_int_eq(dkv_put(c.db[0], key, strlen(key), "old", 3, NULL, all), DKV_OK);
	}
	ck_assert_int_eq(dkv_put(c.db[0], "again", 5, "v1", 2, NULL, all), DKV_OK);
	/* peer 2 is away while the keys are deleted */
	gone = tu_self_id(c.db[2]);
	dkv_close(c.db[2]);
	c.db[2] = NULL;
	wait_state(c.db[0], gone, DKV_PEER_DOWN, 20);
	wait_state(c.db[1], gone, DKV_PEER_DOWN, 20);
	for (int k = 0; k < NDEL; k++) {
		char key[16];

		snprintf(key, sizeof(key), "del%d", k);
		ck_assert_int_eq(dkv_delete(c.db[0], key, strlen(key), NULL, q), DKV_OK);
	}
	ck_assert_int_eq(dkv_delete(c.db[0], "again", 5, NULL, q), DKV_OK);
	ck_assert_int_eq(dkv_put(c.db[1], "again", 5, "v2", 2, NULL, q), DKV_OK);
	/* well past the grace period: nothing may go while a replica is away */
	pause_ms(3500);
	ck_assert_int_eq((int)sum_stat(&c, "tombstones_purged"), 0);
	ck_assert(sum_stat(&c, "tombstones_kept") > 0);
	/* it comes back holding the old values; a repair pass gives it the
	 * tombstones (they supersede what it holds) */
	start_peer_gc(&c, 2);
	wait_converged(c.db, 3, 3, 30);
	ck_assert_int_eq(dkv_repair(c.db[2], NULL, NULL), DKV_OK);
	/* now every replica has them: each of the three purges its copy */
	deadline = now_ms() + 30000;
	while (sum_stat(&c, "tombstones_purged") < 3 * NDEL) {
		ck_assert_msg(now_ms() < deadline, "%.0f of %d tombstones purged after 30 s",
		              sum_stat(&c, "tombstones_purged"), 3 * NDEL);
		pause_ms(100);
	}
	ck_assert_int_eq((int)sum_stat(&c, "tombstones_purged"), 3 * NDEL);
	/* the deleted keys stay deleted, on every replica, even after
	 * anti-entropy and a read through the returned peer */
	ck_assert_int_eq(dkv_repair(c.db[2], NULL, NULL), DKV_OK);
	for (int k = 0; k < NDEL; k++) {
		char key[16];

		snprintf(key, sizeof(key), "del%d", k);
		ck_assert_int_eq(get_at(c.db[2], key, DKV_ALL), DKV_ENOTFOUND);
	}
	ck_assert_int_eq(get_at(c.db[0], "again", DKV_ALL), DKV_OK); /* written after */
	cut_off(&c, 2);
	for (int k = 0; k < NDEL; k++) {
		char key[16];

		snprintf(key, sizeof(key), "del%d", k);
		ck_assert_int_eq(get_at(c.db[2], key, DKV_ONE), DKV_ENOTFOUND);
	}
	free(gone);
	dkv_opts_free(all);
	dkv_opts_free(q);
	stop_cluster(&c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("tombstones");
	TCase *tc = tcase_create("tombstones");

	tcase_set_timeout(tc, tu_under_valgrind() ? 900 : 180);
	tcase_add_test(tc, test_a_returning_replica_cannot_bring_a_collected_delete_back);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
