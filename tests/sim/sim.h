/*
 * A deterministic cluster simulator (TigerBeetle's VOPR in miniature).
 *
 * Many peers' sans-I/O cores run in one thread against a simulated clock
 * and a seeded packet network that delays, drops, duplicates, reorders and
 * partitions, and can crash and restart peers. Every frame goes through the
 * real wire encoder and decoder. The same seed replays the same run.
 */
#ifndef DKV_TESTS_SIM_H
#define DKV_TESTS_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/gossip.h"

#define SIM_MAX_NODES 64
#define SIM_VNODES 8

struct sim_faults {
	unsigned loss_pct, dup_pct;
	unsigned min_delay_ms, max_delay_ms;
};

struct sim_packet {
	uint64_t at_ms, seq;
	int from, to;
	uint8_t *frame;
	size_t len;
};

struct sim_node {
	struct gossip g;
	bool alive;
	int group; /* partition: packets cross only within a group */
	uint64_t generation;
	char addr[32];
	struct token tokens[SIM_VNODES];
};

struct sim {
	uint64_t seed, rng, now_ms, seq;
	int n;
	struct sim_node nodes[SIM_MAX_NODES];
	struct sim_faults faults;
	struct sim_packet *q; /* binary heap by (at_ms, seq) */
	uint32_t nq, capq;
	uint64_t delivered, dropped;
};

void sim_init(struct sim *s, uint64_t seed, int n, int nseeds, const struct sim_faults *f);
void sim_free(struct sim *s);
void sim_run(struct sim *s, uint64_t duration_ms);
void sim_crash(struct sim *s, int i);
void sim_restart(struct sim *s, int i);
void sim_partition(struct sim *s, const int *groups); /* NULL heals */
/* Every live node sees every live node UP with its current generation
 * and tokens, and every dead node DOWN. Explains a failure in why. */
bool sim_converged(struct sim *s, char *why, size_t whylen);

#endif
