/*
 * Consistency levels as arithmetic over a key's replicas (sans-I/O).
 *
 * A coordinator knows the key's replicas (from the ring's preference
 * list) and each one's datacenter. A level says how many of them must
 * answer: ONE, TWO, ALL and QUORUM (floor(N/2)+1) count replicas anywhere;
 * LOCAL_ONE and LOCAL_QUORUM count only the coordinator's datacenter;
 * EACH_QUORUM needs a quorum in every datacenter that holds replicas.
 * quorum_need() turns a level into per-datacenter requirements;
 * quorum_met() says whether a set of answers satisfies them, and
 * quorum_possible() whether the replicas still up could — a request that
 * cannot be satisfied fails with DKV_EUNAVAILABLE before anything is sent.
 */
#ifndef DKV_CORE_QUORUM_H
#define DKV_CORE_QUORUM_H

#include <stdbool.h>
#include <stdint.h>

#include "libdkv/dkv.h"

#define QUORUM_MAX_REPLICAS 64
#define QUORUM_MAX_DCS 16

struct quorum {
	uint32_t total;                 /* answers needed anywhere */
	uint32_t per_dc[QUORUM_MAX_DCS]; /* answers needed in each dc */
	uint32_t ndcs;
};

/* dc_of[i] is the datacenter index (< ndcs) of replica i, of n replicas;
 * local_dc is the coordinator's (may hold no replica). DKV_EINVAL for an
 * unknown level or bad indices; DKV_EUNAVAILABLE when the level can never
 * be met by these replicas (TWO with one replica, LOCAL_* with none in
 * the local dc). */
int quorum_need(struct quorum *q, dkv_consistency_t level, const uint8_t *dc_of, uint32_t n,
                uint32_t ndcs, uint32_t local_dc);

/* answered[i]: replica i answered (or is up, for quorum_possible). */
bool quorum_met(const struct quorum *q, const uint8_t *dc_of, const bool *answered, uint32_t n);
bool quorum_possible(const struct quorum *q, const uint8_t *dc_of, const bool *up, uint32_t n);

#endif
