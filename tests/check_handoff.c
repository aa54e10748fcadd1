/*
 * Sloppy quorum and hinted handoff with real peers over loopback: writes
 * while a replica is down go to a fallback as hints, which reach the
 * replica when it returns (also after the fallback itself restarted), are
 * dropped once older than hint_window_s, and are not made at all with
 * hinted_handoff off.
 *
 * Which peers replicate a key is worked out from dkv_ring() and the key's
 * token (ringutil.h), so a test can tell what a peer must hold.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterutil.h"
#include "ringutil.h"

/* the 1000 writes; fewer under valgrind, which is ~50x slower */
#define NKEYS (tu_under_valgrind() ? 200 : 1000)
#define NPEERS 4

static void
start_peer_n(struct cluster *c, int i, const char *window, const char *handoff)
{
	start_peer_with(c, i, "handoff", "n", "3", "gossip_interval_ms", test_gossip_ms(), "hint_window_s",
	                window, "hinted_handoff", handoff, NULL);
}

static void
start_four(struct cluster *c, const char *window, const char *handoff)
{
	memset(c, 0, sizeof(*c));
	c->n = NPEERS;
	for (int i = 0; i < NPEERS; i++)
		start_peer_n(c, i, window, handoff);
	wait_converged(c->db, NPEERS, NPEERS, 30);
}

static void
key_of(int k, char *key, size_t size, char *val, size_t vsize)
{
	snprintf(key, size, "hk%04d", k);
	snprintf(val, vsize, "hv%04d", k);
}

static double
sum_stat(struct cluster *c, const char *name, int skip)
{
	double total = 0;

	for (int i = 0; i < c->n; i++)
		if (i != skip && c->db[i] != NULL)
			total += tu_stat(c->db[i], name);
	return total;
}

/* The first n peers all see each other UP. */
static void
see_each_other(struct cluster *c, int n)
{
	for (int i = 0; i < n; i++) {
		char *id = tu_self_id(c->db[i]);

		for (int k = 0; k < n; k++)
			if (k != i)
				wait_state(c->db[k], id, DKV_PEER_UP, 20);
		free(id);
	}
}

/* Closes peer v and waits until the others see it DOWN. */
static char *
take_down(struct cluster *c, int v)
{
	char *id = tu_self_id(c->db[v]);

	dkv_close(c->db[v]);
	c->db[v] = NULL;
	for (int i = 0; i < c->n; i++)
		if (c->db[i] != NULL)
			wait_state(c->db[i], id, DKV_PEER_DOWN, 20);
	return id;
}

/* Reopens peer v from its data dir and waits until all see each other. */
static void
bring_back(struct cluster *c, int v, const char *window, const char *handoff)
{
	start_peer_n(c, v, window, handoff);
	wait_converged(c->db, c->n, (size_t)c->n, 30);
}

/* Writes nkeys keys at QUORUM through peer `via`; all must succeed. */
static void
write_keys(struct cluster *c, int via, int nkeys)
{
	dkv_opts_t *o = opts_at(DKV_QUORUM);

	for (int k = 0; k < nkeys; k++) {
		char key[16], val[16];
		int err;

		key_of(k, key, sizeof(key), val, sizeof(val));
		err = dkv_put(c->db[via], key, strlen(key), val, strlen(val), NULL, o);
		ck_assert_msg(err == DKV_OK, "put %s at QUORUM with a replica down: %s", key,
		              dkv_strerror(err));
	}
	dkv_opts_free(o);
}

/* How many of the first nkeys keys peer id replicates. */
static int
replicated_by(dkv_t *db, const char *id, int nkeys)
{
	dkv_token_range_t *ring;
	size_t nr;
	int n = 0;

	ck_assert_int_eq(dkv_ring(db, &ring, &nr), DKV_OK);
	for (int k = 0; k < nkeys; k++) {
		char key[16], val[16];

		key_of(k, key, sizeof(key), val, sizeof(val));
		n += ring_replicates(ring, nr, 3, id, key);
	}
	dkv_ring_free(ring, nr);
	return n;
}

/* Cuts peer v off, then reads every key at ONE through it: it answers
 * from its own store only, so a key it replicates must be there with its
 * value (want_held) or absent, and any other key is unavailable. */
static void
check_held(struct cluster *c, int v, int nkeys, bool want_held)
{
	char *id = tu_self_id(c->db[v]);
	dkv_opts_t *o = opts_at(DKV_ONE);
	dkv_token_range_t *ring;
	size_t nr;
	int mine = 0;

	cut_off(c, v);
	ck_assert_int_eq(dkv_ring(c->db[v], &ring, &nr), DKV_OK);
	for (int k = 0; k < nkeys; k++) {
		char key[16], val[16];
		dkv_result_t *res = NULL;
		int err;

		key_of(k, key, sizeof(key), val, sizeof(val));
		err = dkv_get(c->db[v], key, strlen(key), &res, o);
		if (!ring_replicates(ring, nr, 3, id, key)) {
			ck_assert_msg(err == DKV_EUNAVAILABLE, "%s is not the cut-off peer's, yet: %s", key,
			              dkv_strerror(err));
			continue;
		}
		mine++;
		if (want_held) {
			ck_assert_msg(err == DKV_OK, "the returned replica lacks %s: %s", key,
			              dkv_strerror(err));
			ck_assert_msg(dkv_result_count(res) == 1 && tu_result_has(res, val, strlen(val)),
			              "%s holds %s", key, tu_result_text(res));
		} else {
			ck_assert_msg(err == DKV_ENOTFOUND, "%s: %s", key, dkv_strerror(err));
		}
		dkv_result_free(res);
	}
	ck_assert_int_gt(mine, 0); /* N=3 of 4 peers: most keys */
	dkv_ring_free(ring, nr);
	dkv_opts_free(o);
	free(id);
}

/* The writes' last acks (the fallbacks' among them) may still be on
 * their way when the caller has its answer: wait for the hints. */
static void
wait_hints_held(struct cluster *c, int skip, int want)
{
	uint64_t deadline = now_ms() + 10000;

	while ((int)sum_stat(c, "hints_held", skip) < want && now_ms() < deadline)
		pause_ms(20);
	ck_assert_int_eq((int)sum_stat(c, "hints_held", skip), want);
}

static void
wait_hints_drained(struct cluster *c, unsigned seconds)
{
	uint64_t deadline = now_ms() + seconds * 1000u;

	while (sum_stat(c, "hints_held", -1) > 0 || sum_stat(c, "hints_in_flight", -1) > 0) {
		ck_assert_msg(now_ms() < deadline, "%.0f hints still held, %.0f in flight after %u s",
		              sum_stat(c, "hints_held", -1), sum_stat(c, "hints_in_flight", -1),
		              seconds);
		pause_ms(50);
	}
}

START_TEST(test_hints_carry_a_down_replicas_writes_to_it)
{
	struct cluster c;
	char *gone;
	int owed;
	uint64_t t0;

	start_four(&c, "10800", "1");
	gone = take_down(&c, 3);
	write_keys(&c, 0, NKEYS);
	/* one hint per key the down peer replicates, held by the others */
	owed = replicated_by(c.db[0], gone, NKEYS);
	ck_assert_int_gt(owed, 0);
	wait_hints_held(&c, 3, owed);
	ck_assert_int_eq((int)sum_stat(&c, "hints_stored", 3), owed);
	t0 = now_ms();
	bring_back(&c, 3, "10800", "1");
	wait_hints_drained(&c, 30);
	printf("%d hints delivered %llu ms after the peer was back\n", owed,
	       (unsigned long long)(now_ms() - t0));
	ck_assert_int_eq((int)sum_stat(&c, "hints_delivered", 3), owed);
	ck_assert_int_eq((int)sum_stat(&c, "hints_dropped", -1), 0);
	check_held(&c, 3, NKEYS, true);
	free(gone);
	stop_cluster(&c);
}
END_TEST

START_TEST(test_hints_survive_a_restart_of_the_peer_holding_them)
{
	struct cluster c;
	char *gone;
	int owed;

	start_four(&c, "10800", "1");
	gone = take_down(&c, 3);
	write_keys(&c, 0, 200);
	owed = replicated_by(c.db[0], gone, 200);
	wait_hints_held(&c, 3, owed);
	/* every holder restarts before the peer they are for returns */
	for (int i = 1; i < 3; i++) {
		dkv_close(c.db[i]);
		c.db[i] = NULL;
		start_peer_n(&c, i, "10800", "1");
		see_each_other(&c, 3);
	}
	dkv_close(c.db[0]);
	c.db[0] = NULL;
	{
		dkv_peer_info_t *l;
		size_t n;

		/* the seed restarts too: it rejoins through peer 1 */
		ck_assert_int_eq(dkv_peers(c.db[1], &l, &n), DKV_OK);
		snprintf(c.seed, sizeof(c.seed), "%s", l[0].addr);
		dkv_peers_free(l, n);
	}
	start_peer_n(&c, 0, "10800", "1");
	see_each_other(&c, 3);
	ck_assert_int_eq((int)sum_stat(&c, "hints_held", 3), owed);
	bring_back(&c, 3, "10800", "1");
	wait_hints_drained(&c, 30);
	check_held(&c, 3, 200, true);
	free(gone);
	stop_cluster(&c);
}
END_TEST

START_TEST(test_hints_older_than_the_window_are_dropped)
{
	struct cluster c;
	char *gone;
	int owed;

	start_four(&c, "1", "1");
	gone = take_down(&c, 3);
	write_keys(&c, 0, 100);
	owed = replicated_by(c.db[0], gone, 100);
	wait_hints_held(&c, 3, owed);
	pause_ms(2500);
	bring_back(&c, 3, "1", "1");
	wait_hints_drained(&c, 30);
	ck_assert_int_eq((int)sum_stat(&c, "hints_dropped", 3), owed);
	ck_assert_int_eq((int)sum_stat(&c, "hints_delivered", 3), 0);
	check_held(&c, 3, 100, false); /* anti-entropy's job now */
	free(gone);
	stop_cluster(&c);
}
END_TEST

START_TEST(test_without_hinted_handoff_a_down_replica_is_not_replaced)
{
	struct cluster c;
	dkv_opts_t *all = opts_at(DKV_ALL);
	char *gone;

	start_four(&c, "10800", "0");
	gone = take_down(&c, 3);
	write_keys(&c, 0, 50); /* QUORUM still works with 2 of 3 */
	pause_ms(200);          /* the last acks */
	ck_assert_int_eq((int)sum_stat(&c, "hints_stored", 3), 0);
	ck_assert_int_eq((int)sum_stat(&c, "hints_held", 3), 0);
	/* ALL needs the down replica itself: some key of it is unavailable */
	{
		int unavailable = 0;

		for (int k = 0; k < 50; k++) {
			char key[16], val[16];

			key_of(k, key, sizeof(key), val, sizeof(val));
			unavailable += dkv_put(c.db[0], key, strlen(key), val, strlen(val), NULL, all) ==
			               DKV_EUNAVAILABLE;
		}
		ck_assert_int_eq(unavailable, replicated_by(c.db[0], gone, 50));
	}
	dkv_opts_free(all);
	free(gone);
	c.n = 3; /* peer 3 is closed; stop_cluster closes the others */
	stop_cluster(&c);
	tu_rmtree(c.dirs[3]);
	free(c.dirs[3]);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("handoff");
	TCase *tc = tcase_create("handoff");

	tcase_set_timeout(tc, tu_under_valgrind() ? 900 : 180);
	tcase_add_test(tc, test_hints_carry_a_down_replicas_writes_to_it);
	tcase_add_test(tc, test_hints_survive_a_restart_of_the_peer_holding_them);
	tcase_add_test(tc, test_hints_older_than_the_window_are_dropped);
	tcase_add_test(tc, test_without_hinted_handoff_a_down_replica_is_not_replaced);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
