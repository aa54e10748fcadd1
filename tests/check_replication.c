/*
 * Replicated reads and writes with real peers over loopback (public API
 * only): quorum reads and writes through every peer and through a client
 * peer, siblings from concurrent writers and their resolution, partitions
 * made with dkv_debug_fault and healed by read repair, unavailable and
 * timed-out levels, deletes, async operations and close.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterutil.h"

static int
put_at(dkv_t *db, const char *key, const char *val, dkv_consistency_t c, const dkv_context_t *ctx)
{
	dkv_opts_t *o = opts_at(c);
	int err = dkv_put(db, key, strlen(key), val, strlen(val), ctx, o);

	dkv_opts_free(o);
	return err;
}

static int
get_at(dkv_t *db, const char *key, dkv_consistency_t c, dkv_result_t **res)
{
	dkv_opts_t *o = opts_at(c);
	int err = dkv_get(db, key, strlen(key), res, o);

	dkv_opts_free(o);
	return err;
}

/* db holds exactly val for key when read at level c. */
static bool
reads(dkv_t *db, const char *key, const char *val, dkv_consistency_t c)
{
	dkv_result_t *res = NULL;
	bool ok;

	if (get_at(db, key, c, &res) != DKV_OK)
		return false;
	ok = dkv_result_count(res) == 1 && tu_result_has(res, val, strlen(val));
	dkv_result_free(res);
	return ok;
}

static void
expect_reads(dkv_t *db, const char *key, const char *val, dkv_consistency_t c, const char *who)
{
	dkv_result_t *res = NULL;
	int err = get_at(db, key, c, &res);

	ck_assert_msg(err == DKV_OK, "%s: get %s: %s", who, key, dkv_strerror(err));
	ck_assert_msg(dkv_result_count(res) == 1 && tu_result_has(res, val, strlen(val)),
	              "%s: get %s: expected %s, got %s", who, key, val, tu_result_text(res));
	dkv_result_free(res);
}

/* Polls until db reads val for key at level c (replication is under way). */
static void
wait_reads(dkv_t *db, const char *key, const char *val, dkv_consistency_t c, unsigned seconds,
           const char *who)
{
	uint64_t deadline = now_ms() + seconds * 1000u;

	while (!reads(db, key, val, c)) {
		if (now_ms() > deadline)
			expect_reads(db, key, val, c, who); /* fails with what it saw */
		pause_ms(20);
	}
}

/* n peers with n = 3 replicas per key; sync_writes "1" puts the replica
 * writes on the worker threads (with "0" they run on the I/O thread). */
static void
start_replicated_sync(struct cluster *c, int n, const char *sync_writes)
{
	memset(c, 0, sizeof(*c));
	c->n = n;
	for (int i = 0; i < n; i++)
		start_peer_with(c, i, "repl", "n", "3", "sync_writes", sync_writes, "gossip_interval_ms",
		                test_gossip_ms(), NULL);
	wait_converged(c->db, n, (size_t)n, 30);
}

static void
start_replicated(struct cluster *c, int n)
{
	start_replicated_sync(c, n, "0");
}

static dkv_t *
open_client(struct cluster *c)
{
	dkv_config_t *cfg = dkv_config_new();
	dkv_t *db = NULL;
	dkv_peer_info_t *l;
	size_t cnt, storage;
	uint64_t deadline = now_ms() + 20000;
	int err;

	ck_assert_int_eq(dkv_config_set(cfg, "role", "client"), DKV_OK);
	ck_assert_int_eq(dkv_config_set(cfg, "seeds", c->seed), DKV_OK);
	ck_assert_int_eq(dkv_config_set(cfg, "cluster_name", "repl"), DKV_OK);
	ck_assert_int_eq(dkv_config_set(cfg, "n", "3"), DKV_OK);
	ck_assert_int_eq(dkv_config_set(cfg, "log_level", "error"), DKV_OK);
	err = dkv_open(cfg, &db);
	ck_assert_msg(err == DKV_OK, "open client: %s", dkv_config_error(cfg));
	dkv_config_free(cfg);
	/* a client learns the ring by gossip */
	for (;;) {
		ck_assert_int_eq(dkv_peers(db, &l, &cnt), DKV_OK);
		storage = 0;
		for (size_t k = 0; k < cnt; k++)
			storage += l[k].tokens > 0 && l[k].state == DKV_PEER_UP;
		dkv_peers_free(l, cnt);
		if (storage == (size_t)c->n)
			break;
		ck_assert_msg(now_ms() < deadline, "the client sees %zu of %d storage peers", storage, c->n);
		pause_ms(50);
	}
	return db;
}

/* Sets a fault on peer `on` towards peer `to`. */
static void
fault(struct cluster *c, int on, int to, unsigned flags)
{
	char *id = tu_self_id(c->db[to]);

	ck_assert_int_eq(dkv_debug_fault(c->db[on], id, flags, 0), DKV_OK);
	free(id);
}

/* Cuts (flags DKV_FAULT_DROP) or heals (0) every link of peer v. */
static void
isolate(struct cluster *c, int v, unsigned flags)
{
	for (int i = 0; i < c->n; i++) {
		if (i == v)
			continue;
		fault(c, v, i, flags);
		fault(c, i, v, flags);
	}
}

START_TEST(test_quorum_write_is_read_everywhere)
{
	struct cluster c;
	dkv_t *client;
	char who[32];

	start_replicated(&c, 5);
	client = open_client(&c);
	for (int k = 0; k < 20; k++) {
		char key[16], val[16];

		snprintf(key, sizeof(key), "q%d", k);
		snprintf(val, sizeof(val), "v%d", k);
		ck_assert_int_eq(put_at(c.db[k % 5], key, val, DKV_QUORUM, NULL), DKV_OK);
		for (int i = 0; i < 5; i++) {
			snprintf(who, sizeof(who), "peer %d", i);
			expect_reads(c.db[i], key, val, DKV_QUORUM, who);
		}
		expect_reads(client, key, val, DKV_QUORUM, "the client peer");
	}
	/* written at ONE, it reaches every replica in the background */
	ck_assert_int_eq(put_at(c.db[2], "one", "at-one", DKV_ONE, NULL), DKV_OK);
	for (int i = 0; i < 5; i++) {
		snprintf(who, sizeof(who), "peer %d", i);
		wait_reads(c.db[i], "one", "at-one", DKV_ALL, 10, who);
	}
	/* the client writes too, and stores nothing itself */
	ck_assert_int_eq(put_at(client, "from-client", "c", DKV_QUORUM, NULL), DKV_OK);
	expect_reads(c.db[4], "from-client", "c", DKV_QUORUM, "peer 4");
	ck_assert(tu_stat(c.db[0], "coordinated") >= 4);
	dkv_close(client);
	stop_cluster(&c);
}
END_TEST

START_TEST(test_concurrent_blind_writes_make_siblings_and_a_context_resolves_them)
{
	struct cluster c;
	dkv_result_t *res = NULL;

	start_replicated(&c, 3);
	ck_assert_int_eq(put_at(c.db[0], "k", "from-0", DKV_QUORUM, NULL), DKV_OK);
	ck_assert_int_eq(put_at(c.db[1], "k", "from-1", DKV_QUORUM, NULL), DKV_OK);
	/* the second writer did not see the first: both stay */
	ck_assert_int_eq(get_at(c.db[2], "k", DKV_ALL, &res), DKV_OK);
	ck_assert_msg(dkv_result_count(res) == 2, "expected 2 siblings, got %s", tu_result_text(res));
	ck_assert(tu_result_has(res, "from-0", 6) && tu_result_has(res, "from-1", 6));
	/* a blind rewrite by one writer replaces its own value only */
	ck_assert_int_eq(put_at(c.db[0], "k", "from-0b", DKV_QUORUM, NULL), DKV_OK);
	dkv_result_free(res);
	ck_assert_int_eq(get_at(c.db[1], "k", DKV_QUORUM, &res), DKV_OK);
	ck_assert_msg(dkv_result_count(res) == 2, "expected 2 siblings, got %s", tu_result_text(res));
	/* resolving with the context replaces both, everywhere */
	ck_assert_int_eq(put_at(c.db[2], "k", "merged", DKV_ALL, dkv_result_context(res)), DKV_OK);
	dkv_result_free(res);
	for (int i = 0; i < 3; i++)
		expect_reads(c.db[i], "k", "merged", DKV_ONE, "a replica at ONE");
	ck_assert(tu_stat(c.db[1], "siblings_returned") >= 1);
	stop_cluster(&c);
}
END_TEST

START_TEST(test_a_partitioned_replica_is_repaired_by_a_read)
{
	struct cluster c;
	char *victim;

	start_replicated(&c, 3);
	ck_assert_int_eq(put_at(c.db[0], "p", "old", DKV_ALL, NULL), DKV_OK);
	victim = tu_self_id(c.db[2]);
	isolate(&c, 2, DKV_FAULT_DROP);
	wait_state(c.db[0], victim, DKV_PEER_DOWN, 20);
	for (int k = 0; k < 10; k++) {
		char val[16];

		/* one writer: each blind put replaces the last */
		snprintf(val, sizeof(val), "new%d", k);
		ck_assert_int_eq(put_at(c.db[0], "p", val, DKV_QUORUM, NULL), DKV_OK);
		expect_reads(c.db[1], "p", val, DKV_QUORUM, "peer 1 during the partition");
	}
	/* the victim still holds the old value */
	expect_reads(c.db[2], "p", "old", DKV_ONE, "the partitioned replica");
	isolate(&c, 2, 0);
	wait_state(c.db[0], victim, DKV_PEER_UP, 20);
	{
		char *id0 = tu_self_id(c.db[0]);

		wait_state(c.db[2], id0, DKV_PEER_UP, 20);
		free(id0);
	}
	expect_reads(c.db[1], "p", "new9", DKV_QUORUM, "a quorum read after healing");
	/* the read repaired the victim in the background */
	wait_reads(c.db[2], "p", "new9", DKV_ONE, 10, "the repaired replica at ONE");
	ck_assert(tu_stat(c.db[1], "read_repairs") >= 1);
	free(victim);
	stop_cluster(&c);
}
END_TEST

START_TEST(test_all_with_a_replica_down_is_unavailable)
{
	struct cluster c;
	dkv_result_t *res = NULL;
	char *gone;

	start_replicated(&c, 3);
	gone = tu_self_id(c.db[2]);
	dkv_close(c.db[2]);
	c.db[2] = NULL;
	wait_state(c.db[0], gone, DKV_PEER_DOWN, 10);
	ck_assert_int_eq(put_at(c.db[0], "a", "x", DKV_ALL, NULL), DKV_EUNAVAILABLE);
	ck_assert_int_eq(get_at(c.db[1], "a", DKV_ALL, &res), DKV_EUNAVAILABLE);
	ck_assert_ptr_null(res);
	/* nothing was written: QUORUM still finds nothing */
	tu_expect_missing(c.db[1], "a", 1);
	ck_assert_int_eq(put_at(c.db[0], "a", "y", DKV_QUORUM, NULL), DKV_OK);
	expect_reads(c.db[1], "a", "y", DKV_QUORUM, "peer 1");
	ck_assert(tu_stat(c.db[0], "unavailable") >= 1);
	free(gone);
	stop_cluster(&c); /* closing NULL is a no-op */
}
END_TEST

START_TEST(test_a_replica_that_never_answers_times_out)
{
	struct cluster c;
	dkv_opts_t *o = dkv_opts_new();
	uint64_t t0, took;
	int err;

	start_replicated(&c, 3);
	/* peers 1 and 2 stay UP (heartbeats pass) but drop peer 0's requests */
	fault(&c, 1, 0, DKV_FAULT_DROP_DATA);
	fault(&c, 2, 0, DKV_FAULT_DROP_DATA);
	dkv_opts_set_consistency(o, DKV_QUORUM);
	dkv_opts_set_timeout_ms(o, 300);
	t0 = now_ms();
	err = dkv_put(c.db[0], "t", 1, "v", 1, NULL, o);
	took = now_ms() - t0;
	ck_assert_msg(err == DKV_ETIMEDOUT, "put: expected DKV_ETIMEDOUT, got %s", dkv_strerror(err));
	ck_assert_msg(took + 5 >= 300 && took < 300 + tu_scale(700, 3000), "timed out after %llu ms", (unsigned long long)took);
	t0 = now_ms();
	{
		dkv_result_t *res = NULL;

		err = dkv_get(c.db[0], "t", 1, &res, o);
		dkv_result_free(res);
	}
	took = now_ms() - t0;
	ck_assert_msg(err == DKV_ETIMEDOUT, "get: expected DKV_ETIMEDOUT, got %s", dkv_strerror(err));
	ck_assert_msg(took + 5 >= 300 && took < 300 + tu_scale(700, 3000), "timed out after %llu ms", (unsigned long long)took);
	/* ONE is met by peer 0 itself */
	dkv_opts_set_consistency(o, DKV_ONE);
	ck_assert_int_eq(dkv_put(c.db[0], "t", 1, "w", 1, NULL, o), DKV_OK);
	ck_assert(tu_stat(c.db[0], "timeouts") >= 2);
	dkv_opts_free(o);
	stop_cluster(&c);
}
END_TEST

START_TEST(test_deletes_are_replicated_tombstones)
{
	struct cluster c;
	dkv_result_t *res = NULL;

	start_replicated(&c, 3);
	ck_assert_int_eq(put_at(c.db[0], "d", "v1", DKV_ALL, NULL), DKV_OK);
	/* a blind delete through another peer removes what the replicas hold */
	ck_assert_int_eq(dkv_delete(c.db[1], "d", 1, NULL, NULL), DKV_OK);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(get_at(c.db[i], "d", DKV_ALL, &res), DKV_ENOTFOUND);
		ck_assert_ptr_null(res);
	}
	/* a delete with a get's context removes exactly what the get saw */
	ck_assert_int_eq(put_at(c.db[0], "e", "seen", DKV_ALL, NULL), DKV_OK);
	ck_assert_int_eq(get_at(c.db[2], "e", DKV_QUORUM, &res), DKV_OK);
	ck_assert_int_eq(put_at(c.db[1], "e", "unseen", DKV_ALL, NULL), DKV_OK);
	ck_assert_int_eq(dkv_delete(c.db[2], "e", 1, dkv_result_context(res), NULL), DKV_OK);
	dkv_result_free(res);
	expect_reads(c.db[0], "e", "unseen", DKV_QUORUM, "after the delete");
	/* deleting a key nobody has is fine */
	ck_assert_int_eq(dkv_delete(c.db[0], "never", 5, NULL, NULL), DKV_OK);
	stop_cluster(&c);
}
END_TEST

struct async_count {
	struct tu_counter done;
	_Atomic int errors;
};

static void
async_put_done(int err, void *arg)
{
	struct async_count *ac = arg;

	if (err != DKV_OK)
		ac->errors++;
	tu_counter_add(&ac->done, 1);
}

static void
async_get_done(int err, dkv_result_t *res, void *arg)
{
	struct async_count *ac = arg;

	if (err != DKV_OK || dkv_result_count(res) != 1)
		ac->errors++;
	dkv_result_free(res);
	tu_counter_add(&ac->done, 1);
}

/* Async puts of keys PREFIX<from>..PREFIX<to - 1> through peers 0 to
 * writers - 1 in turn, counted in ac. */
static void
put_async_keys(struct cluster *c, const char *prefix, unsigned from, unsigned to,
               unsigned writers, struct async_count *ac)
{
	for (unsigned k = from; k < to; k++) {
		char key[16];

		snprintf(key, sizeof(key), "%s%u", prefix, k);
		ck_assert_int_eq(dkv_put_async(c->db[k % writers], key, strlen(key), "val", 3, NULL,
		                               NULL, async_put_done, ac),
		                 DKV_OK);
	}
}

START_TEST(test_async_operations_are_replicated)
{
	struct cluster c;
	struct async_count ac = {.errors = 0};
	const unsigned n = 200;

	/* replica writes on the worker threads, each fsynced */
	start_replicated_sync(&c, 3, "1");
	tu_counter_init(&ac.done);
	put_async_keys(&c, "a", 0, n, 3, &ac);
	ck_assert_uint_eq(tu_counter_wait(&ac.done, n, 20), n);
	ck_assert_int_eq(ac.errors, 0);
	for (unsigned k = 0; k < n; k++) {
		char key[16];

		snprintf(key, sizeof(key), "a%u", k);
		ck_assert_int_eq(dkv_get_async(c.db[(k + 1) % 3], key, strlen(key), NULL, async_get_done, &ac),
		                 DKV_OK);
	}
	ck_assert_uint_eq(tu_counter_wait(&ac.done, 2 * n, 20), 2 * n);
	ck_assert_int_eq(ac.errors, 0);
	tu_counter_destroy(&ac.done);
	stop_cluster(&c);
}
END_TEST

/* A replica closing while others keep writing to it (its writes on the
 * workers): nothing it is sent after it starts closing may reach its
 * worker pool, which is going away (ASan and valgrind watch this). */
START_TEST(test_a_replica_closes_under_write_load)
{
	struct cluster c;
	struct async_count ac = {.errors = 0};
	const unsigned n = 300;

	start_replicated_sync(&c, 3, "1");
	tu_counter_init(&ac.done);
	put_async_keys(&c, "w", 0, n / 3 + 1, 2, &ac);
	dkv_close(c.db[2]);
	c.db[2] = NULL;
	put_async_keys(&c, "w", n / 3 + 1, n, 2, &ac);
	/* every put ends: acknowledged by 2 of 3, or failed as the replica
	 * went away under it */
	ck_assert_uint_eq(tu_counter_wait(&ac.done, n, 30), n);
	tu_counter_destroy(&ac.done);
	stop_cluster(&c);
}
END_TEST

static void
closed_done(int err, void *arg)
{
	int *out = arg;

	*out = err;
}

START_TEST(test_close_fails_waiting_operations)
{
	struct cluster c;
	int err = 12345;

	start_replicated(&c, 3);
	/* nobody answers peer 0, so its put waits until the close */
	for (int i = 1; i < 3; i++)
		fault(&c, 0, i, DKV_FAULT_DROP_DATA);
	ck_assert_int_eq(dkv_put_async(c.db[0], "z", 1, "v", 1, NULL, NULL, closed_done, &err), DKV_OK);
	pause_ms(100);
	dkv_close(c.db[0]);
	ck_assert_int_eq(err, DKV_ECLOSED);
	c.db[0] = NULL;
	stop_cluster(&c);
}
END_TEST

START_TEST(test_lww_keeps_the_newest_write_everywhere)
{
	struct cluster c;

	memset(&c, 0, sizeof(c));
	c.n = 3;
	for (int i = 0; i < 3; i++)
		start_peer_with(&c, i, "repl", "n", "3", "conflicts", "lww", "gossip_interval_ms",
		                test_gossip_ms(), NULL);
	wait_converged(c.db, 3, 3, 30);
	/* blind writes through three coordinators: no siblings, the last wins */
	ck_assert_int_eq(put_at(c.db[0], "l", "first", DKV_ALL, NULL), DKV_OK);
	pause_ms(5);
	ck_assert_int_eq(put_at(c.db[1], "l", "second", DKV_ALL, NULL), DKV_OK);
	pause_ms(5);
	ck_assert_int_eq(put_at(c.db[2], "l", "third", DKV_QUORUM, NULL), DKV_OK);
	for (int i = 0; i < 3; i++)
		wait_reads(c.db[i], "l", "third", DKV_ONE, 10, "a replica at ONE");
	expect_reads(c.db[0], "l", "third", DKV_ALL, "an ALL read");
	stop_cluster(&c);
}
END_TEST

START_TEST(test_a_delayed_link_slows_but_does_not_fail)
{
	struct cluster c;
	dkv_opts_t *o = opts_at(DKV_ALL);
	uint64_t t0, took;

	start_replicated(&c, 3);
	/* everything peer 0 sends peer 2 waits 300 ms */
	{
		char *id = tu_self_id(c.db[2]);

		ck_assert_int_eq(dkv_debug_fault(c.db[0], id, 0, 300), DKV_OK);
		free(id);
	}
	t0 = now_ms();
	ck_assert_int_eq(dkv_put(c.db[0], "slow", 4, "v", 1, NULL, o), DKV_OK);
	took = now_ms() - t0;
	ck_assert_msg(took >= 290, "an ALL put over a 300 ms link took %llu ms", (unsigned long long)took);
	/* QUORUM does not wait for the slow replica */
	dkv_opts_set_consistency(o, DKV_QUORUM);
	t0 = now_ms();
	ck_assert_int_eq(dkv_put(c.db[0], "fast", 4, "v", 1, NULL, o), DKV_OK);
	took = now_ms() - t0;
	ck_assert_msg(took < 290, "a QUORUM put waited for the slow replica (%llu ms)",
	              (unsigned long long)took);
	fault(&c, 0, 2, 0); /* heal */
	wait_reads(c.db[2], "fast", "v", DKV_ONE, 10, "the slow replica");
	dkv_opts_free(o);
	stop_cluster(&c);
}
END_TEST

/* Two datacenters: dc1 holds 2 replicas of every key, dc2 holds 1. */
START_TEST(test_levels_count_replicas_per_datacenter)
{
	struct cluster c;
	const char *dcs[4] = {"dc1", "dc1", "dc2", "dc2"};
	char *id;

	memset(&c, 0, sizeof(c));
	c.n = 4;
	for (int i = 0; i < 4; i++)
		start_peer_with(&c, i, "repl", "dc", dcs[i], "replication", "dc1:2,dc2:1",
		                "gossip_interval_ms", test_gossip_ms(), NULL);
	wait_converged(c.db, 4, 4, 30);
	ck_assert_int_eq(put_at(c.db[0], "m", "v1", DKV_EACH_QUORUM, NULL), DKV_OK);
	expect_reads(c.db[3], "m", "v1", DKV_LOCAL_QUORUM, "dc2 at LOCAL_QUORUM");
	expect_reads(c.db[1], "m", "v1", DKV_LOCAL_QUORUM, "dc1 at LOCAL_QUORUM");
	/* dc2 cut off from peer 0: its own dc still meets LOCAL_QUORUM, while
	 * EACH_QUORUM needs dc2 and fails before sending anything */
	for (int i = 2; i < 4; i++) {
		fault(&c, 0, i, DKV_FAULT_DROP);
		fault(&c, i, 0, DKV_FAULT_DROP);
	}
	for (int i = 2; i < 4; i++) {
		id = tu_self_id(c.db[i]);
		wait_state(c.db[0], id, DKV_PEER_DOWN, 20);
		free(id);
	}
	ck_assert_int_eq(put_at(c.db[0], "m", "v2", DKV_LOCAL_QUORUM, NULL), DKV_OK);
	ck_assert_int_eq(put_at(c.db[0], "m", "v3", DKV_EACH_QUORUM, NULL), DKV_EUNAVAILABLE);
	ck_assert_int_eq(put_at(c.db[0], "m", "v3", DKV_LOCAL_ONE, NULL), DKV_OK);
	expect_reads(c.db[1], "m", "v3", DKV_LOCAL_QUORUM, "dc1 after the cut");
	stop_cluster(&c);
}
END_TEST

struct timed_count {
	struct tu_counter done;
	_Atomic int ok, other;
};

static void
timed_done(int err, void *arg)
{
	struct timed_count *tc = arg;

	if (err == DKV_OK)
		tc->ok++;
	else
		tc->other++;
	tu_counter_add(&tc->done, 1);
}

START_TEST(test_writes_move_on_when_their_applier_dies)
{
	struct cluster c;
	struct timed_count tc = {.ok = 0, .other = 0};
	dkv_opts_t *o = opts_at(DKV_QUORUM);
	dkv_t *client;
	char *cid;
	const unsigned n = 30;
	uint64_t t0;

	start_replicated(&c, 3);
	client = open_client(&c);
	cid = tu_self_id(client);
	/* peer 2 looks alive to the client but swallows its requests: the
	 * writes it was chosen to apply wait... */
	ck_assert_int_eq(dkv_debug_fault(c.db[2], cid, DKV_FAULT_DROP_DATA, 0), DKV_OK);
	dkv_opts_set_timeout_ms(o, 30000);
	tu_counter_init(&tc.done);
	t0 = now_ms();
	for (unsigned k = 0; k < n; k++) {
		char key[16];

		snprintf(key, sizeof(key), "f%u", k);
		ck_assert_int_eq(dkv_put_async(client, key, strlen(key), "v", 1, NULL, o, timed_done, &tc),
		                 DKV_OK);
	}
	pause_ms(300);
	ck_assert_msg(tu_counter_get(&tc.done) < n, "no write waited on peer 2");
	/* ...until it stops: the client sees it DOWN at once and every write
	 * that waited on it goes to another replica */
	dkv_close(c.db[2]);
	c.db[2] = NULL;
	ck_assert_uint_eq(tu_counter_wait(&tc.done, n, 20), n);
	ck_assert_int_eq(tc.ok, (int)n);
	ck_assert_msg(now_ms() - t0 < 10000, "the writes waited %llu ms",
	              (unsigned long long)(now_ms() - t0));
	for (unsigned k = 0; k < n; k++) {
		char key[16];

		snprintf(key, sizeof(key), "f%u", k);
		expect_reads(c.db[k % 2], key, "v", DKV_QUORUM, "a live peer");
	}
	tu_counter_destroy(&tc.done);
	dkv_opts_free(o);
	free(cid);
	dkv_close(client);
	stop_cluster(&c);
}
END_TEST

START_TEST(test_debug_fault_checks_its_arguments)
{
	struct cluster c;

	start_replicated(&c, 2);
	ck_assert_int_eq(dkv_debug_fault(c.db[0], "no-such-peer", DKV_FAULT_DROP, 0), DKV_ENOTFOUND);
	ck_assert_int_eq(dkv_debug_fault(c.db[0], "x", 0x80, 0), DKV_EINVAL);
	ck_assert_int_eq(dkv_debug_fault(NULL, "x", 0, 0), DKV_EINVAL);
	stop_cluster(&c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("replication");
	TCase *tc = tcase_create("replication");

	tcase_add_test(tc, test_quorum_write_is_read_everywhere);
	tcase_add_test(tc, test_concurrent_blind_writes_make_siblings_and_a_context_resolves_them);
	tcase_add_test(tc, test_a_partitioned_replica_is_repaired_by_a_read);
	tcase_add_test(tc, test_all_with_a_replica_down_is_unavailable);
	tcase_add_test(tc, test_a_replica_that_never_answers_times_out);
	tcase_add_test(tc, test_deletes_are_replicated_tombstones);
	tcase_add_test(tc, test_async_operations_are_replicated);
	tcase_add_test(tc, test_close_fails_waiting_operations);
	tcase_add_test(tc, test_a_replica_closes_under_write_load);
	tcase_add_test(tc, test_lww_keeps_the_newest_write_everywhere);
	tcase_add_test(tc, test_a_delayed_link_slows_but_does_not_fail);
	tcase_add_test(tc, test_levels_count_replicas_per_datacenter);
	tcase_add_test(tc, test_writes_move_on_when_their_applier_dies);
	tcase_add_test(tc, test_debug_fault_checks_its_arguments);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
