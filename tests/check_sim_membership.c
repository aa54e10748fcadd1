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

#include "libdkv/dkv.h"
#include "sim/sim.h"
#include "util/alloc.h"
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

/* Regression (found in review): a SYN repeating one digest made the ACK
 * overflow. Fed straight to gossip, past the decoder that now refuses it,
 * it must be answered with each state at most once. */
START_TEST(test_a_syn_repeating_a_digest_is_answered_once)
{
	struct gossip_config cfg;
	struct peer_state other;
	struct digest d[200];
	struct msg ack2, syn;
	struct gossip g;
	struct outmsg *out;
	uint32_t nout;

	memset(&cfg, 0, sizeof(cfg));
	cfg.self.id = mk_actor("self");
	strcpy(cfg.self.addr, "10.0.0.1:7000");
	cfg.self.generation = 1;
	cfg.interval_ms = 1000;
	cfg.heartbeat_ms = 250;
	cfg.phi_threshold = 8;
	ck_assert_int_eq(gossip_init(&g, &cfg, 1000), DKV_OK);

	memset(&other, 0, sizeof(other));
	other.id = mk_actor("victim");
	strcpy(other.addr, "10.0.0.2:7000");
	other.generation = 5;
	other.version = 9;
	memset(&ack2, 0, sizeof(ack2));
	ack2.type = WMSG_ACK2;
	ack2.from = other.id;
	ack2.states = &other;
	ack2.nstates = 1;
	gossip_recv(&g, &ack2, other.addr, 1000);
	ck_assert_uint_eq(g.n, 2);

	for (int i = 0; i < 200; i++) {
		d[i].id = other.id;
		d[i].generation = 1; /* older than ours: each would ask for a state */
		d[i].version = 0;
	}
	memset(&syn, 0, sizeof(syn));
	syn.type = WMSG_SYN;
	syn.from = mk_actor("attacker");
	syn.digests = d;
	syn.ndigests = 200;
	gossip_recv(&g, &syn, "10.0.0.9:7000", 1000);
	gossip_take_outbox(&g, &out, &nout);
	ck_assert_uint_eq(nout, 1);
	{
		struct frame_header h;
		struct msg ack;

		ck_assert_int_eq(wire_decode_header(out[0].frame, 1u << 20, &h), DKV_OK);
		ck_assert_int_eq(wire_decode(h.type, out[0].frame + WIRE_HEADER, h.body_len, &ack), DKV_OK);
		ck_assert_uint_le(ack.nstates, g.n);
		wire_msg_free(&ack);
	}
	for (uint32_t i = 0; i < nout; i++)
		mem_free(out[i].frame);
	mem_free(out);
	gossip_free(&g);
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
	tcase_add_test(tc, test_a_syn_repeating_a_digest_is_answered_once);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
