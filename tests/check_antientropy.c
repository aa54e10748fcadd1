/*
 * Anti-entropy with real peers over loopback: a replica that missed
 * writes and deletes while it was down (hinted handoff off, so nothing
 * else brings them) gets all of it from a repair pass, after which every
 * replica's trees agree (a second pass finds no range differing); the
 * background pass does the same on its own; a client peer can ask a
 * storage peer to repair; when both sides of a partition wrote the same
 * keys, a pass started on either side leaves every replica with both
 * versions as siblings and with the keys each side wrote alone.
 *
 * Three peers with n = 3, so every peer holds every key and what the
 * returning one must hold is simply everything.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterutil.h"

static int
nkeys(void)
{
	return tu_under_valgrind() ? 500 : 10000;
}

static void
start_peer_ae(struct cluster *c, int i, const char *interval)
{
	start_peer_with(c, i, "ae", "n", "3", "gossip_interval_ms", test_gossip_ms(), "hinted_handoff",
	                "0", "ae_interval_s", interval, NULL);
}

static void
start_three(struct cluster *c, const char *interval)
{
	memset(c, 0, sizeof(*c));
	c->n = 3;
	for (int i = 0; i < 3; i++)
		start_peer_ae(c, i, interval);
	wait_converged(c->db, 3, 3, 30);
}

static void
kv(const char *prefix, int k, char *key, char *val)
{
	sprintf(key, "%s%05d", prefix, k);
	sprintf(val, "value-of-%s%05d", prefix, k);
}

static void
put_all(dkv_t *db, const char *prefix, int n, dkv_consistency_t l)
{
	dkv_opts_t *o = opts_at(l);

	for (int k = 0; k < n; k++) {
		char key[32], val[48];
		int err;

		kv(prefix, k, key, val);
		err = dkv_put(db, key, strlen(key), val, strlen(val), NULL, o);
		ck_assert_msg(err == DKV_OK, "put %s: %s", key, dkv_strerror(err));
	}
	dkv_opts_free(o);
}

/* Peer 2 goes down; meanwhile n new keys are written and `deleted` of the
 * earlier ones deleted, through peer 0; then it comes back. */
static void
miss_writes(struct cluster *c, int n, int deleted, const char *interval)
{
	char *gone = tu_self_id(c->db[2]);
	dkv_opts_t *q = opts_at(DKV_QUORUM);

	dkv_close(c->db[2]);
	c->db[2] = NULL;
	wait_state(c->db[0], gone, DKV_PEER_DOWN, 20);
	wait_state(c->db[1], gone, DKV_PEER_DOWN, 20);
	put_all(c->db[0], "new", n, DKV_QUORUM);
	for (int k = 0; k < deleted; k++) {
		char key[32], val[48];

		kv("old", k, key, val);
		ck_assert_int_eq(dkv_delete(c->db[0], key, strlen(key), NULL, q), DKV_OK);
	}
	dkv_opts_free(q);
	ck_assert(tu_stat(c->db[0], "hints_stored") == 0);
	start_peer_ae(c, 2, interval);
	wait_converged(c->db, 3, 3, 30);
	free(gone);
}

/* Cuts peer v off and reads at ONE through it (so from its own store):
 * every new key with its value, the first `deleted` old keys gone, the
 * other old keys there. Returns how many reads were wrong. */
static int
wrong_on(struct cluster *c, int v, int n, int nold, int deleted, bool cut)
{
	dkv_opts_t *one = opts_at(DKV_ONE);
	char *id = tu_self_id(c->db[v]);
	int wrong = 0;

	if (cut)
		cut_off(c, v);
	for (int pass = 0; pass < 2; pass++) {
		int count = pass == 0 ? n : nold;

		for (int k = 0; k < count; k++) {
			char key[32], val[48];
			dkv_result_t *res = NULL;
			int err;

			kv(pass == 0 ? "new" : "old", k, key, val);
			err = dkv_get(c->db[v], key, strlen(key), &res, one);
			if (pass == 1 && k < deleted)
				wrong += err != DKV_ENOTFOUND;
			else
				wrong += err != DKV_OK || dkv_result_count(res) != 1 ||
				         !tu_result_has(res, val, strlen(val));
			dkv_result_free(res);
		}
	}
	dkv_opts_free(one);
	free(id);
	return wrong;
}

START_TEST(test_a_repair_pass_brings_back_what_a_replica_missed)
{
	struct cluster c;
	dkv_repair_report_t rep;
	int n = nkeys();

	start_three(&c, "0");
	put_all(c.db[0], "old", 200, DKV_ALL);
	miss_writes(&c, n, 20, "0");
	/* nothing else repairs it: no hints, no background pass */
	pause_ms(500);
	ck_assert_int_eq(dkv_repair(c.db[2], NULL, &rep), DKV_OK);
	printf("repair on the returning peer: %llu ranges, %llu differing, %llu keys compared, "
	       "%llu repaired, %llu failed\n",
	       (unsigned long long)rep.ranges, (unsigned long long)rep.ranges_differing,
	       (unsigned long long)rep.keys_compared, (unsigned long long)rep.keys_repaired,
	       (unsigned long long)rep.failed);
	ck_assert_uint_gt(rep.ranges, 0);
	ck_assert_uint_gt(rep.ranges_differing, 0);
	ck_assert_uint_eq(rep.failed, 0);
	ck_assert_uint_ge(rep.keys_compared, (uint64_t)n);
	/* every replica's trees now agree: a pass on each finds no difference */
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(dkv_repair(c.db[i], NULL, &rep), DKV_OK);
		ck_assert_msg(rep.ranges_differing == 0 && rep.ranges > 0 && rep.failed == 0,
		              "peer %d: %llu of %llu ranges still differ (%llu failed)", i,
		              (unsigned long long)rep.ranges_differing, (unsigned long long)rep.ranges,
		              (unsigned long long)rep.failed);
	}
	ck_assert(tu_stat(c.db[0], "ae_bytes_sent") > 0);
	ck_assert_int_eq(wrong_on(&c, 2, n, 200, 20, true), 0);
	stop_cluster(&c);
}
END_TEST

START_TEST(test_the_background_pass_repairs_without_being_asked)
{
	struct cluster c;
	uint64_t deadline;
	int n = nkeys() / 10, wrong;

	start_three(&c, "1");
	put_all(c.db[0], "old", 50, DKV_ALL);
	miss_writes(&c, n, 5, "1");
	deadline = now_ms() + 60000;
	while ((wrong = wrong_on(&c, 2, n, 50, 5, false)) > 0) {
		/* reads at ONE may still be answered by another replica first:
		 * wait until none is wrong, whoever answers */
		ck_assert_msg(now_ms() < deadline, "%d reads still wrong after 60 s", wrong);
		pause_ms(200);
	}
	ck_assert_int_eq(wrong_on(&c, 2, n, 50, 5, true), 0);
	ck_assert(tu_stat(c.db[0], "ae_passes") + tu_stat(c.db[1], "ae_passes") > 0);
	stop_cluster(&c);
}
END_TEST

START_TEST(test_a_client_asks_a_storage_peer_to_repair)
{
	struct cluster c;
	dkv_config_t *cfg = dkv_config_new();
	dkv_repair_report_t rep;
	dkv_t *client = NULL;
	char *id;

	start_three(&c, "0");
	put_all(c.db[0], "old", 100, DKV_ALL);
	miss_writes(&c, 300, 10, "0");
	ck_assert_int_eq(dkv_config_set(cfg, "role", "client"), DKV_OK);
	ck_assert_int_eq(dkv_config_set(cfg, "seeds", c.seed), DKV_OK);
	ck_assert_int_eq(dkv_config_set(cfg, "cluster_name", "ae"), DKV_OK);
	ck_assert_int_eq(dkv_config_set(cfg, "gossip_interval_ms", test_gossip_ms()), DKV_OK);
	ck_assert_int_eq(dkv_config_set(cfg, "log_level", "error"), DKV_OK);
	ck_assert_int_eq(dkv_open(cfg, &client), DKV_OK);
	dkv_config_free(cfg);
	id = tu_self_id(c.db[2]);
	wait_state(client, id, DKV_PEER_UP, 20);
	/* a client holds nothing to repair itself */
	ck_assert_int_eq(dkv_repair(client, NULL, NULL), DKV_EUNAVAILABLE);
	ck_assert_int_eq(dkv_repair(client, "no-such-peer", NULL), DKV_ENOTFOUND);
	ck_assert_int_eq(dkv_repair(client, id, &rep), DKV_OK);
	ck_assert_uint_gt(rep.ranges, 0);
	ck_assert_uint_gt(rep.keys_repaired, 0);
	ck_assert_uint_gt(rep.keys_compared, 0);
	ck_assert_uint_eq(rep.failed, 0);
	dkv_close(client);
	ck_assert_int_eq(wrong_on(&c, 2, 300, 100, 10, true), 0);
	free(id);
	stop_cluster(&c);
}
END_TEST

/* Reads key at ONE through peer v (cut off: its own store) and checks it
 * holds exactly the values vals[0..nv). */
static int
wrong_versions(dkv_t *db, const char *key, const char *const *vals, size_t nv)
{
	dkv_opts_t *one = opts_at(DKV_ONE);
	dkv_result_t *res = NULL;
	int wrong = dkv_get(db, key, strlen(key), &res, one) != DKV_OK ||
	            dkv_result_count(res) != nv;

	for (size_t i = 0; !wrong && i < nv; i++)
		wrong = !tu_result_has(res, vals[i], strlen(vals[i]));
	dkv_result_free(res);
	dkv_opts_free(one);
	return wrong;
}

START_TEST(test_writes_on_both_sides_of_a_partition_end_as_siblings_everywhere)
{
	struct cluster c;
	dkv_repair_report_t rep;
	dkv_opts_t *one = opts_at(DKV_ONE), *quorum = opts_at(DKV_QUORUM);
	int n = tu_under_valgrind() ? 20 : 200, wrong = 0;
	char key[32], a[48], b[48];

	start_three(&c, "0");
	put_all(c.db[0], "old", n, DKV_ALL);
	/* peer 2 alone overwrites every old key and writes keys of its own;
	 * the majority overwrites them too, and writes others */
	cut_off(&c, 2);
	for (int k = 0; k < n; k++) {
		sprintf(key, "old%05d", k);
		sprintf(a, "minority-%05d", k);
		sprintf(b, "majority-%05d", k);
		ck_assert_int_eq(dkv_put(c.db[2], key, strlen(key), a, strlen(a), NULL, one), DKV_OK);
		ck_assert_int_eq(dkv_put(c.db[0], key, strlen(key), b, strlen(b), NULL, quorum), DKV_OK);
	}
	put_all(c.db[2], "alone", n, DKV_ONE);
	put_all(c.db[0], "many", n, DKV_QUORUM);
	heal(&c, 2);
	/* a pass started on the majority's side: it sends its versions and
	 * gets the minority's back merged. Peer 1 gets them from peer 0 only
	 * where peer 0 met peer 2 first: a pass on peer 1 does the rest
	 * (repairing every peer once compares every pair) */
	ck_assert_int_eq(dkv_repair(c.db[0], NULL, &rep), DKV_OK);
	ck_assert_uint_eq(rep.failed, 0);
	ck_assert_uint_gt(rep.ranges_differing, 0);
	ck_assert_uint_ge(rep.keys_repaired, (uint64_t)(3 * n));
	ck_assert_int_eq(dkv_repair(c.db[1], NULL, &rep), DKV_OK);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(dkv_repair(c.db[i], NULL, &rep), DKV_OK);
		ck_assert_msg(rep.ranges_differing == 0 && rep.failed == 0,
		              "peer %d: %llu ranges still differ after the repair", i,
		              (unsigned long long)rep.ranges_differing);
	}
	for (int v = 0; v < 3; v++) {
		cut_off(&c, v);
		for (int k = 0; k < n; k++) {
			const char *both[2] = {a, b}, *one_val[1] = {a};

			sprintf(key, "old%05d", k);
			sprintf(a, "minority-%05d", k);
			sprintf(b, "majority-%05d", k);
			wrong += wrong_versions(c.db[v], key, both, 2);
			kv("alone", k, key, a);
			wrong += wrong_versions(c.db[v], key, one_val, 1);
			kv("many", k, key, a);
			wrong += wrong_versions(c.db[v], key, one_val, 1);
		}
		ck_assert_msg(wrong == 0, "peer %d: %d keys without the versions of both sides", v,
		              wrong);
		heal(&c, v);
	}
	dkv_opts_free(one);
	dkv_opts_free(quorum);
	stop_cluster(&c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("antientropy");
	TCase *tc = tcase_create("antientropy");

	tcase_set_timeout(tc, tu_under_valgrind() ? 900 : 180);
	tcase_add_test(tc, test_a_repair_pass_brings_back_what_a_replica_missed);
	tcase_add_test(tc, test_the_background_pass_repairs_without_being_asked);
	tcase_add_test(tc, test_a_client_asks_a_storage_peer_to_repair);
	tcase_add_test(tc, test_writes_on_both_sides_of_a_partition_end_as_siblings_everywhere);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
