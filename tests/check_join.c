/*
 * Ring changes under load, with real peers over loopback (issue tests):
 *  - a 4th peer joins while a writer runs: it receives its ranges, turns
 *    NORMAL, then every acknowledged key reads back at QUORUM and the new
 *    peer holds, alone, every key it replicates;
 *  - a peer is decommissioned while a writer runs: it hands its ranges
 *    over and leaves; every acknowledged key reads back, a peer that took
 *    ranges over holds them alone, the leaver's data_dir cannot be opened
 *    again, and a leave that would leave too few peers is refused;
 *  - a joiner stopped in the middle of its join resumes it when reopened;
 *  - a dead peer is removed: the survivors re-replicate its ranges
 *    (anti-entropy, started by the removal) without any repair call.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterutil.h"
#include "ringutil.h"

#define MAXKEYS 400000
#define PRELOAD (tu_under_valgrind() ? 100 : 3000)

struct writer {
	dkv_t *db;
	atomic_bool stop;
	int next;           /* keys 0..next-1 were tried */
	unsigned char *acked; /* per key: acknowledged */
	unsigned failed;
};

static void
key_of(int k, char *key, size_t ksize, char *val, size_t vsize)
{
	snprintf(key, ksize, "jk%06d", k);
	snprintf(val, vsize, "jv%06d", k);
}

static void
write_key(struct writer *w, int k, const dkv_opts_t *o)
{
	char key[32], val[32];

	key_of(k, key, sizeof(key), val, sizeof(val));
	if (dkv_put(w->db, key, strlen(key), val, strlen(val), NULL, o) == DKV_OK)
		w->acked[k] = 1;
	else
		w->failed++;
}

static void *
writer_run(void *arg)
{
	struct writer *w = arg;
	dkv_opts_t *o = opts_at(DKV_QUORUM);

	while (!atomic_load(&w->stop) && w->next < MAXKEYS) {
		write_key(w, w->next, o);
		w->next++;
		if (tu_under_valgrind())
			pause_ms(5);
	}
	dkv_opts_free(o);
	return NULL;
}

static void
writer_start(struct writer *w, dkv_t *db, pthread_t *th)
{
	dkv_opts_t *o = opts_at(DKV_ALL);

	memset(w, 0, sizeof(*w));
	w->db = db;
	w->acked = calloc(MAXKEYS, 1);
	ck_assert_ptr_nonnull(w->acked);
	atomic_init(&w->stop, false);
	for (; w->next < PRELOAD; w->next++)
		write_key(w, w->next, o);
	dkv_opts_free(o);
	ck_assert_uint_eq(w->failed, 0);
	ck_assert_int_eq(pthread_create(th, NULL, writer_run, w), 0);
}

static void
writer_stop(struct writer *w, pthread_t th)
{
	atomic_store(&w->stop, true);
	pthread_join(th, NULL);
}

/* Every acknowledged key reads back through db at level l. */
static unsigned
check_acked(const struct writer *w, dkv_t *db, dkv_consistency_t l)
{
	dkv_opts_t *o = opts_at(l);
	unsigned n = 0;

	for (int k = 0; k < w->next; k++) {
		char key[32], val[32];
		dkv_result_t *res = NULL;
		size_t vlen;
		const void *v;
		int err;

		if (!w->acked[k])
			continue;
		key_of(k, key, sizeof(key), val, sizeof(val));
		err = dkv_get(db, key, strlen(key), &res, o);
		ck_assert_msg(err == DKV_OK, "acknowledged key %s: %s", key, dkv_strerror(err));
		v = dkv_result_value(res, 0, &vlen);
		ck_assert(vlen == strlen(val) && memcmp(v, val, vlen) == 0);
		dkv_result_free(res);
		n++;
	}
	dkv_opts_free(o);
	return n;
}

/* Peer v, cut off from the others, holds alone every acknowledged key it
 * replicates (by the ring peer 1 sees), and that is a real share of them:
 * with 4 peers and n=3 about 3/4, though few keys (under valgrind) vary
 * widely. */
static void
check_owns_share(struct cluster *c, int v, const struct writer *w, unsigned acked,
                 const char *who)
{
	dkv_opts_t *one = opts_at(DKV_ONE);
	dkv_token_range_t *ring;
	size_t nr;
	unsigned mine = 0;
	char *self = tu_self_id(c->db[v]);

	ck_assert_int_eq(dkv_ring(c->db[1], &ring, &nr), DKV_OK);
	cut_off(c, v);
	for (int k = 0; k < w->next; k++) {
		char key[32], val[32];
		dkv_result_t *res = NULL;
		int err;

		key_of(k, key, sizeof(key), val, sizeof(val));
		if (!w->acked[k] || !ring_replicates(ring, nr, 3, self, key))
			continue;
		mine++;
		err = dkv_get(c->db[v], key, strlen(key), &res, one);
		ck_assert_msg(err == DKV_OK, "%s lacks %s: %s", who, key, dkv_strerror(err));
		dkv_result_free(res);
	}
	printf("%s replicates %u of the %u acknowledged keys\n", who, mine, acked);
	ck_assert_uint_ge(mine, acked / 4);
	free(self);
	dkv_ring_free(ring, nr);
	dkv_opts_free(one);
}

static void
start_n(struct cluster *c, int i, const char *name)
{
	start_peer_with(c, i, name, "n", "3", "gossip_interval_ms", test_gossip_ms(),
	                "ae_interval_s", "0", NULL);
}

static void
open_cluster(struct cluster *c, int n, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->n = n;
	for (int i = 0; i < n; i++)
		start_n(c, i, name);
	wait_converged(c->db, n, (size_t)n, 60);
}

START_TEST(test_join_under_load)
{
	struct cluster c;
	struct writer w;
	pthread_t th;
	unsigned acked, before;

	open_cluster(&c, 3, "join");
	writer_start(&w, c.db[0], &th);
	pause_ms(300);
	before = (unsigned)w.next;
	c.n = 4;
	start_n(&c, 3, "join");
	/* it receives its ranges while the writer runs, then is NORMAL */
	wait_converged(c.db, 4, 4, 120);
	pause_ms(500);
	writer_stop(&w, th);
	ck_assert_msg((unsigned)w.next > before, "the writer was stuck during the join");
	ck_assert_uint_eq(w.failed, 0);
	ck_assert(tu_stat(c.db[3], "moves_keys_received") > 0);
	ck_assert(tu_stat(c.db[3], "moves_ranges_received") ==
	          tu_stat(c.db[3], "moves_ranges_to_receive"));
	pause_ms(300); /* the last writes' third copies */
	acked = check_acked(&w, c.db[1], DKV_QUORUM);
	ck_assert_uint_ge(acked, PRELOAD);
	/* The new peer owns its share: alone, it holds every key it
	 * replicates. A read at ONE cut off from the others reads its own
	 * store, and finds exactly the keys whose replicas include it. */
	check_owns_share(&c, 3, &w, acked, "the new peer");
	free(w.acked);
	stop_cluster(&c);
}
END_TEST

/* A joiner stopped in the middle of its join (it has its tokens, and has
 * not yet received its ranges) comes back JOINING with the same tokens,
 * receives them, and then owns its share. */
START_TEST(test_joiner_restarted_mid_join_finishes)
{
	struct cluster c;
	struct writer w;
	pthread_t th;
	unsigned acked;
	uint64_t deadline;

	open_cluster(&c, 3, "rejoin");
	writer_start(&w, c.db[0], &th);
	writer_stop(&w, th);
	ck_assert_uint_eq(w.failed, 0);
	c.n = 4;
	start_n(&c, 3, "rejoin");
	/* tokens chosen, moves not started: they wait a settle delay of at
	 * least a second */
	deadline = now_ms() + 30000;
	for (;;) {
		dkv_peer_info_t *l;
		size_t n;
		bool chosen;

		ck_assert_int_eq(dkv_peers(c.db[3], &l, &n), DKV_OK);
		chosen = l[0].tokens > 0;
		ck_assert_int_eq(l[0].state, DKV_PEER_JOINING);
		dkv_peers_free(l, n);
		if (chosen)
			break;
		ck_assert(now_ms() < deadline);
		pause_ms(10);
	}
	dkv_close(c.db[3]);
	c.db[3] = NULL; /* reopened in its old data_dir */
	start_n(&c, 3, "rejoin");
	{
		dkv_peer_info_t *l;
		size_t n;

		ck_assert_int_eq(dkv_peers(c.db[3], &l, &n), DKV_OK);
		ck_assert_int_eq(l[0].state, DKV_PEER_JOINING);
		ck_assert_uint_gt(l[0].tokens, 0); /* its tokens, from its data_dir */
		dkv_peers_free(l, n);
	}
	wait_converged(c.db, 4, 4, 120);
	ck_assert(tu_stat(c.db[3], "moves_keys_received") > 0);
	pause_ms(300);
	acked = check_acked(&w, c.db[1], DKV_QUORUM);
	check_owns_share(&c, 3, &w, acked, "the restarted joiner");
	free(w.acked);
	stop_cluster(&c);
}
END_TEST

START_TEST(test_decommission_under_load)
{
	struct cluster c;
	struct writer w;
	pthread_t th;
	unsigned acked;
	char *dir;

	open_cluster(&c, 4, "leave");
	writer_start(&w, c.db[0], &th);
	pause_ms(300);
	ck_assert_int_eq(dkv_decommission(c.db[3]), DKV_OK);
	{
		dkv_peer_info_t *l;
		size_t n;

		ck_assert_int_eq(dkv_peers(c.db[3], &l, &n), DKV_OK);
		ck_assert_int_eq(l[0].state, DKV_PEER_LEFT);
		dkv_peers_free(l, n);
	}
	ck_assert(tu_stat(c.db[3], "moves_ranges_handed_over") ==
	          tu_stat(c.db[3], "moves_ranges_to_hand_over"));
	ck_assert(tu_stat(c.db[3], "moves_keys_sent") > 0);
	wait_converged(c.db, 3, 3, 60);
	pause_ms(500);
	writer_stop(&w, th);
	ck_assert_uint_eq(w.failed, 0);
	dkv_close(c.db[3]);
	c.db[3] = NULL;
	pause_ms(300);
	acked = check_acked(&w, c.db[1], DKV_QUORUM);
	ck_assert_uint_ge(acked, PRELOAD);
	/* three peers and n=3: each holds every key, alone */
	c.n = 3;
	cut_off(&c, 2);
	ck_assert_uint_eq(check_acked(&w, c.db[2], DKV_ONE), acked);
	/* too few would stay to hold every replica */
	ck_assert_int_eq(dkv_decommission(c.db[0]), DKV_EUNAVAILABLE);
	/* the leaver's data_dir is out of date for good */
	{
		dkv_config_t *cfg = dkv_config_new();
		dkv_t *db = NULL;

		ck_assert_int_eq(dkv_config_set(cfg, "data_dir", c.dirs[3]), DKV_OK);
		ck_assert_int_eq(dkv_config_set(cfg, "listen", "127.0.0.1:0"), DKV_OK);
		ck_assert_int_eq(dkv_open(cfg, &db), DKV_ECONFIG);
		ck_assert_ptr_null(db);
		ck_assert(strstr(dkv_config_error(cfg), "left the cluster") != NULL);
		dkv_config_free(cfg);
	}
	dir = c.dirs[3];
	tu_rmtree(dir);
	free(dir);
	free(w.acked);
	stop_cluster(&c);
}
END_TEST

START_TEST(test_remove_rereplicates)
{
	struct cluster c;
	struct writer w;
	pthread_t th;
	unsigned acked;
	char *gone;
	uint64_t deadline;

	open_cluster(&c, 4, "remove");
	writer_start(&w, c.db[0], &th);
	writer_stop(&w, th);
	ck_assert_uint_eq(w.failed, 0);
	gone = tu_self_id(c.db[3]);
	dkv_close(c.db[3]);
	c.db[3] = NULL;
	wait_state(c.db[0], gone, DKV_PEER_DOWN, 30);
	deadline = now_ms() + 30000;
	while (dkv_remove_peer(c.db[0], gone) == DKV_EBUSY) {
		ck_assert(now_ms() < deadline);
		pause_ms(200);
	}
	wait_converged(c.db, 3, 3, 60);
	/* each survivor runs an anti-entropy pass of its own accord (the
	 * background pass is off: ae_interval_s=0) */
	for (int i = 0; i < 3; i++) {
		deadline = now_ms() + 60000;
		while (tu_stat(c.db[i], "ae_passes") < 1 || tu_stat(c.db[i], "ae_sessions_now") > 0) {
			ck_assert_msg(now_ms() < deadline, "peer %d ran no pass after the removal", i);
			pause_ms(100);
		}
	}
	acked = check_acked(&w, c.db[1], DKV_QUORUM);
	c.n = 3;
	cut_off(&c, 2);
	ck_assert_uint_eq(check_acked(&w, c.db[2], DKV_ONE), acked);
	free(gone);
	free(w.acked);
	c.n = 4;
	stop_cluster(&c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("join");
	TCase *tc = tcase_create("moves");

	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, test_join_under_load);
	tcase_add_test(tc, test_joiner_restarted_mid_join_finishes);
	tcase_add_test(tc, test_decommission_under_load);
	tcase_add_test(tc, test_remove_rereplicates);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
