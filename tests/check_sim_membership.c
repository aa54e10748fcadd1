/*
 * Membership scenarios in the simulator, over many seeds: convergence
 * under loss, duplication and reordering; a crashed peer convicted by all;
 * a partition that heals; a restart seen as a new generation; a cluster
 * that keeps working with every seed down. A failure names its seed;
 * SIM_SEED=n replays just that one, SIM_SEEDS=n sets how many run.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "sim/sim.h"
#include "unit.h"

static const struct sim_faults lossy = {
	.loss_pct = 5, .dup_pct = 3, .min_delay_ms = 1, .max_delay_ms = 40};

static uint64_t first_seed, nseeds;

static void
pick_seeds(void)
{
	const char *one = getenv("SIM_SEED"), *many = getenv("SIM_SEEDS");

	first_seed = one ? strtoull(one, NULL, 10) : 1;
	nseeds = one ? 1 : many ? strtoull(many, NULL, 10) : getenv("DKV_TEST_VALGRIND") ? 2 : 100;
}

static int
cluster_size(uint64_t seed)
{
	return 3 + (int)(seed % 8); /* 3..10 peers */
}

static void
assert_converged(struct sim *s, const char *phase)
{
	char why[160];

	ck_assert_msg(sim_converged(s, why, sizeof(why)), "seed %llu, %s: %s",
	              (unsigned long long)s->seed, phase, why);
}

START_TEST(test_peers_converge_under_loss_duplication_and_reordering)
{
	for (uint64_t seed = first_seed; seed < first_seed + nseeds; seed++) {
		static struct sim s;

		sim_init(&s, seed, cluster_size(seed), 2, &lossy);
		sim_run(&s, 30000);
		assert_converged(&s, "after 30 s");
		sim_free(&s);
	}
}
END_TEST

START_TEST(test_a_crashed_peer_is_marked_down_by_all_others)
{
	for (uint64_t seed = first_seed; seed < first_seed + nseeds; seed++) {
		static struct sim s;
		int n = cluster_size(seed), victim = (int)(seed % (uint64_t)n);

		sim_init(&s, seed, n, 2, &lossy);
		sim_run(&s, 30000);
		assert_converged(&s, "before the crash");
		sim_crash(&s, victim);
		sim_run(&s, 5000);
		assert_converged(&s, "5 s after the crash");
		sim_free(&s);
	}
}
END_TEST

START_TEST(test_a_partition_heals_and_converges)
{
	for (uint64_t seed = first_seed; seed < first_seed + nseeds; seed++) {
		static struct sim s;
		int groups[SIM_MAX_NODES], n = cluster_size(seed);

		sim_init(&s, seed, n, 2, &lossy);
		sim_run(&s, 20000);
		for (int i = 0; i < n; i++)
			groups[i] = i < n / 2;
		sim_partition(&s, groups);
		sim_run(&s, 20000);
		/* each side sees the other down */
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++) {
				char name[32];
				struct actor id;
				struct member *m;

				if (groups[i] == groups[j])
					continue;
				snprintf(name, sizeof(name), "node-%d", j);
				actor_set(&id, name, strlen(name));
				m = gossip_find(&s.nodes[i].g, &id);
				ck_assert_msg(m == NULL || !m->up, "seed %llu: %d sees %d across the partition",
				              (unsigned long long)seed, i, j);
			}
		sim_partition(&s, NULL);
		sim_run(&s, 20000);
		assert_converged(&s, "20 s after healing");
		sim_free(&s);
	}
}
END_TEST

START_TEST(test_a_restarted_peer_returns_with_a_new_generation)
{
	for (uint64_t seed = first_seed; seed < first_seed + nseeds; seed++) {
		static struct sim s;
		int n = cluster_size(seed), victim = (int)((seed * 7) % (uint64_t)n);

		sim_init(&s, seed, n, 2, &lossy);
		sim_run(&s, 20000);
		sim_crash(&s, victim);
		sim_run(&s, 5000);
		sim_restart(&s, victim);
		sim_run(&s, 20000);
		assert_converged(&s, "20 s after the restart");
		sim_free(&s);
	}
}
END_TEST

START_TEST(test_the_cluster_keeps_gossiping_with_every_seed_down)
{
	for (uint64_t seed = first_seed; seed < first_seed + nseeds; seed++) {
		static struct sim s;
		int n = 4 + (int)(seed % 6);

		sim_init(&s, seed, n, 2, &lossy);
		sim_run(&s, 20000);
		sim_crash(&s, 0); /* both seeds */
		sim_crash(&s, 1);
		sim_run(&s, 5000);
		/* a non-seed restarts: the others must still learn it */
		sim_restart(&s, n - 1);
		sim_run(&s, 20000);
		assert_converged(&s, "seeds down, after a restart");
		sim_free(&s);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("sim-membership");
	TCase *tc = tcase_create("sim");

	pick_seeds();
	printf("simulating seeds %llu..%llu\n", (unsigned long long)first_seed,
	       (unsigned long long)(first_seed + nseeds - 1));
	tcase_add_test(tc, test_peers_converge_under_loss_duplication_and_reordering);
	tcase_add_test(tc, test_a_crashed_peer_is_marked_down_by_all_others);
	tcase_add_test(tc, test_a_partition_heals_and_converges);
	tcase_add_test(tc, test_a_restarted_peer_returns_with_a_new_generation);
	tcase_add_test(tc, test_the_cluster_keeps_gossiping_with_every_seed_down);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
