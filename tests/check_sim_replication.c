/*
 * Replication in the simulator (tests/sim/repl_sim.h), over many seeds.
 *
 * The model: 5 peers, each a replica over its own in-memory store; each of
 * 4 keys has 3 replicas from the ring. Clients start gets, blind puts,
 * puts with the context of a get and deletes (a get, then a delete with
 * its context) through random coordinator peers at ONE, QUORUM or ALL.
 * Coordinators are lib/core's, run as lib/repl.c runs them; sends to other
 * peers cross a network that delays (1-25 ms), loses, duplicates and
 * reorders messages and that partitions come and go across, and a
 * coordinator sometimes believes a replica is up that it cannot reach.
 * Then the network heals, everything in flight drains, every key is read
 * at QUORUM, then at ALL (which repairs), and the replicas are compared.
 *
 * The history names each version (each APPLY run at a replica) and what
 * it supersedes as a client could know it: a write with a context
 * supersedes the versions its get returned; a blind put from writer W
 * supersedes the versions by W that its replica held (core/object.h).
 * "A successor of v" is a version that supersedes v, directly or through
 * others. A duplicated APPLY runs twice and so makes two versions (two
 * dots) of one write: nothing makes APPLY idempotent, which is harmless
 * over the shell's TCP links but is what a resent request would do.
 * Invariants:
 *  1. A read started after a write was acknowledged at a level that
 *     overlaps its own (R + W > N: QUORUM and QUORUM, ONE and ALL...)
 *     returns the write's version or a successor of it — during the faults
 *     as well as after healing, where every key is read at QUORUM.
 *  2. Every sibling any read returns is a version an APPLY made for that
 *     key, holding exactly the value (or tombstone) and writer its write
 *     had: nothing that was never written is ever returned.
 *  3. Siblings are truly concurrent: no sibling is a successor of another.
 *     And there are at most as many as writers could make: one per
 *     (writer, replica) pair of blind puts — a blind put drops its
 *     writer's earlier siblings where it is applied, and that replica's
 *     vector then covers them everywhere — plus one per version written
 *     with a context. With blind puts only, through coordinators that
 *     always pick the same replica to apply at, that is one per writer.
 *  4. After the ALL read's repairs have drained, every key's replicas hold
 *     byte-identical objects, and every version ever made — acknowledged
 *     or not — is in it or superseded by one that is.
 * With sloppy quorum (the "hints and anti-entropy" scenarios), writes whose
 * replicas are down go to fallbacks as hints (lib/core's coordinator and
 * replica_store_hint), which deliver them when they can reach the replica
 * and delete them only on an acknowledgement of exactly what they held.
 * Invariant 1 then leaves out writes acknowledged through a hint until
 * every hint is delivered (that is Dynamo's trade), and after healing:
 *  5. once every hint is delivered, every acknowledged write is held, or
 *     superseded, by at least as many of its replicas as its level
 *     counted;
 *  then anti-entropy (entry hashes compared per pair of replicas, objects
 *  exchanged where they differ) alone, with no read at ALL, must bring
 *  invariant 4 about, and QUORUM reads must see every acknowledged write,
 *  sloppy ones included.
 * A failure prints the seed and the end of its trace; SIM_SEED=n replays
 * one seed (add SIM_TRACE=1 for the whole trace), SIM_SEEDS=n sets how
 * many run (200, or 6 under valgrind).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libdkv/dkv.h"
#include "sim/repl_sim.h"
#include "unit.h"

#define CHAOS_MS 3000

static uint64_t first_seed, nseeds;

static void
pick_seeds(void)
{
	const char *one = getenv("SIM_SEED"), *many = getenv("SIM_SEEDS");
	const char *vg = getenv("DKV_TEST_VALGRIND");
	bool valgrind = vg != NULL && vg[0] != '\0' && strcmp(vg, "0") != 0;

	first_seed = one ? strtoull(one, NULL, 10) : 1;
	nseeds = one ? 1 : many ? strtoull(many, NULL, 10) : valgrind ? 6 : 200;
}

static const struct rsim_config faulty = {
    .loss_pct = 5,
    .dup_pct = 5,
    .min_delay_ms = 1,
    .max_delay_ms = 25,
    .timeout_ms = 200,
    .client_gap_ms = 12,
    .partition_ms = 300,
    .stale_view_pct = 20,
};

static void
add_stats(struct rsim_stats *t, const struct rsim_stats *s)
{
	t->ops += s->ops;
	t->writes_acked += s->writes_acked;
	t->writes_failed += s->writes_failed;
	t->reads_ok += s->reads_ok;
	t->reads_failed += s->reads_failed;
	t->unavailable += s->unavailable;
	t->timeouts += s->timeouts;
	t->versions += s->versions;
	t->delivered += s->delivered;
	t->lost += s->lost;
	t->cut += s->cut;
	t->duplicated += s->duplicated;
	t->repairs += s->repairs;
	t->crashes += s->crashes;
	t->hints_stored += s->hints_stored;
	t->hints_delivered += s->hints_delivered;
	t->ae_exchanges += s->ae_exchanges;
	t->ae_objects += s->ae_objects;
	if (s->max_siblings > t->max_siblings)
		t->max_siblings = s->max_siblings;
}

static void
print_stats(const char *name, const struct rsim_stats *t)
{
	printf("%s: %llu seeds, %llu ops: writes %llu acked / %llu failed, reads %llu ok / %llu "
	       "failed (%llu timeouts, %llu unavailable); %llu versions, up to %u siblings, "
	       "%llu read repairs, %llu crashes; messages %llu delivered, %llu lost, %llu cut, "
	       "%llu duplicated\n",
	       name, (unsigned long long)nseeds, (unsigned long long)t->ops,
	       (unsigned long long)t->writes_acked, (unsigned long long)t->writes_failed,
	       (unsigned long long)t->reads_ok, (unsigned long long)t->reads_failed,
	       (unsigned long long)t->timeouts, (unsigned long long)t->unavailable,
	       (unsigned long long)t->versions, t->max_siblings, (unsigned long long)t->repairs,
	       (unsigned long long)t->crashes,
	       (unsigned long long)t->delivered, (unsigned long long)t->lost,
	       (unsigned long long)t->cut, (unsigned long long)t->duplicated);
	if (t->hints_stored > 0 || t->ae_exchanges > 0)
		printf("%s: %llu hints stored, %llu delivered; anti-entropy: %llu pairs differed, "
		       "%llu objects sent\n",
		       name, (unsigned long long)t->hints_stored,
		       (unsigned long long)t->hints_delivered, (unsigned long long)t->ae_exchanges,
		       (unsigned long long)t->ae_objects);
}

/* One seed: faults, heal, drain, QUORUM reads, ALL reads, compare. With
 * sloppy quorum: faults, heal, drain, every hint delivered, anti-entropy
 * (no read repairs), compare, then QUORUM reads, which must now see the
 * writes acknowledged through hints too. Says why it failed in why (empty
 * when it did not). */
static void
simulate_one(uint64_t seed, const struct rsim_config *cfg, bool all_succeed,
             struct rsim_stats *total, char *why, size_t whylen)
{
	struct rsim *s = rsim_new(seed, cfg);
	const struct rsim_stats *st;
	const char *failure;

	why[0] = '\0';
	ck_assert_ptr_nonnull(s);
	rsim_run(s, CHAOS_MS);
	rsim_heal(s);
	rsim_drain(s);
	if (cfg->sloppy) {
		rsim_deliver_hints(s);
		rsim_anti_entropy(s);
		rsim_check_replicas(s);
		rsim_read_every_key(s, DKV_QUORUM);
	} else {
		rsim_read_every_key(s, DKV_QUORUM);
		rsim_read_every_key(s, DKV_ALL);
		rsim_check_replicas(s);
	}
	st = rsim_stats(s);
	add_stats(total, st);
	if (rsim_failed(s, &failure))
		snprintf(why, whylen, "%s", failure);
	else if (all_succeed && (st->writes_failed > 0 || st->reads_failed > 0))
		snprintf(why, whylen, "with no faults, %llu writes and %llu reads failed",
		         (unsigned long long)st->writes_failed,
		         (unsigned long long)st->reads_failed);
	if (why[0] != '\0') {
		fprintf(stderr, "seed %llu failed: %s\nthe end of its trace:\n",
		        (unsigned long long)seed, why);
		rsim_dump_trace(s, stderr);
	}
	rsim_free(s);
}

static void
simulate(const char *name, const struct rsim_config *cfg, bool all_succeed)
{
	struct rsim_stats total;
	char why[1024];

	memset(&total, 0, sizeof(total));
	for (uint64_t seed = first_seed; seed < first_seed + nseeds; seed++) {
		simulate_one(seed, cfg, all_succeed, &total, why, sizeof(why));
		ck_assert_msg(why[0] == '\0',
		              "%s, seed %llu: %s\nreplay: SIM_SEED=%llu SIM_TRACE=1 "
		              "tests/check_sim_replication",
		              name, (unsigned long long)seed, why, (unsigned long long)seed);
	}
	print_stats(name, &total);
}

START_TEST(test_acknowledged_writes_survive_partitions_loss_and_duplication)
{
	simulate("faults", &faulty, false);
}
END_TEST

/* Every coordinator sees every replica up and the network only delays, so
 * a coordinator always applies at the same replica: siblings stay within
 * one per writer. */
START_TEST(test_blind_writers_leave_at_most_one_sibling_each)
{
	struct rsim_config cfg = faulty;

	cfg.blind_only = true;
	cfg.loss_pct = 0;
	cfg.dup_pct = 0;
	cfg.partition_ms = 0;
	cfg.stale_view_pct = 0;
	simulate("blind writers", &cfg, true);
}
END_TEST

/* Blind puts under every fault: one writer may now apply at two replicas. */
START_TEST(test_blind_writers_under_faults_stay_within_the_bound)
{
	struct rsim_config cfg = faulty;

	cfg.blind_only = true;
	simulate("blind writers, faults", &cfg, false);
}
END_TEST

/* Peers crash (their coordinators vanish mid-operation) and restart with
 * their stores, on top of every network fault. */
START_TEST(test_acknowledged_writes_survive_crashes_and_restarts)
{
	struct rsim_config cfg = faulty;

	cfg.crash_ms = 250;
	cfg.crash_down_ms = 400;
	simulate("crashes", &cfg, false);
}
END_TEST

/* Partitions that last about half the run, with crashes. */
START_TEST(test_acknowledged_writes_survive_long_partitions)
{
	struct rsim_config cfg = faulty;

	cfg.partition_ms = 1500;
	cfg.crash_ms = 600;
	cfg.crash_down_ms = 1000;
	simulate("long partitions", &cfg, false);
}
END_TEST

/* Sloppy quorum with hints under crashes and partitions, then the replicas
 * converge by hint delivery and anti-entropy alone (no read at ALL). */
START_TEST(test_hints_and_anti_entropy_lose_nothing)
{
	struct rsim_config cfg = faulty;

	cfg.sloppy = true;
	cfg.crash_ms = 250;
	cfg.crash_down_ms = 400;
	simulate("hints and anti-entropy", &cfg, false);
}
END_TEST

/* The same with partitions that last about half the run. */
START_TEST(test_hints_and_anti_entropy_after_long_partitions)
{
	struct rsim_config cfg = faulty;

	cfg.sloppy = true;
	cfg.partition_ms = 1500;
	cfg.crash_ms = 600;
	cfg.crash_down_ms = 1000;
	simulate("hints and anti-entropy, long partitions", &cfg, false);
}
END_TEST

/* Delays and reordering only: every operation succeeds in time. */
START_TEST(test_every_operation_succeeds_without_faults)
{
	struct rsim_config cfg = faulty;

	cfg.loss_pct = 0;
	cfg.dup_pct = 0;
	cfg.partition_ms = 0;
	cfg.stale_view_pct = 0;
	simulate("no faults", &cfg, true);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("sim-replication");
	TCase *tc = tcase_create("sim");

	pick_seeds();
	printf("simulating seeds %llu..%llu\n", (unsigned long long)first_seed,
	       (unsigned long long)(first_seed + nseeds - 1));
	tcase_add_test(tc, test_acknowledged_writes_survive_partitions_loss_and_duplication);
	tcase_add_test(tc, test_blind_writers_leave_at_most_one_sibling_each);
	tcase_add_test(tc, test_blind_writers_under_faults_stay_within_the_bound);
	tcase_add_test(tc, test_every_operation_succeeds_without_faults);
	tcase_add_test(tc, test_acknowledged_writes_survive_crashes_and_restarts);
	tcase_add_test(tc, test_acknowledged_writes_survive_long_partitions);
	tcase_add_test(tc, test_hints_and_anti_entropy_lose_nothing);
	tcase_add_test(tc, test_hints_and_anti_entropy_after_long_partitions);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
