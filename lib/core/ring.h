/*
 * The consistent-hashing ring.
 *
 * Every storage peer owns `vnodes` tokens on a 128-bit ring; a token owns
 * the range from the previous token (exclusive) to itself (inclusive). A
 * key's replicas are found by walking clockwise from its token and taking
 * distinct peers: N of them, or with per-datacenter replication that many
 * in each datacenter, spread over distinct racks first where a datacenter
 * has enough of them (Cassandra's NetworkTopologyStrategy). The ring is an
 * immutable sorted array built from the membership view; lookups are a
 * binary search.
 *
 * New peers choose tokens with ring_allocate_tokens: each token takes a
 * slice of one fair share from the largest range of the currently most
 * loaded peer, so ownership stays balanced and a join moves about
 * 1/(P+1) of the keys.
 */
#ifndef DKV_CORE_RING_H
#define DKV_CORE_RING_H

#include <stdint.h>

#include "core/token.h"
#include "core/vv.h"

#define RING_MAX_DCS 16
#define RING_MAX_REPLICAS 64

struct ring_peer {
	struct actor id;
	char dc[ACTOR_MAX + 1];
	char rack[ACTOR_MAX + 1];
	uint32_t ntokens;
	const struct token *tokens;
};

struct ring_entry {
	struct token token;
	uint32_t peer; /* index into the peers given to ring_build */
};

struct ring {
	uint32_t npeers, n;
	struct ring_entry *entries; /* sorted by token */
	uint16_t *peer_dc;          /* dc index of each peer */
	uint16_t *peer_rack;        /* rack index within its dc */
	uint32_t ndcs;
	char dcs[RING_MAX_DCS][ACTOR_MAX + 1];
	uint32_t racks_in_dc[RING_MAX_DCS];
};

/* How many replicas a key has: n overall when ndcs is 0, else per dc. */
struct replication {
	uint32_t n;
	uint32_t ndcs;
	struct {
		char dc[ACTOR_MAX + 1];
		uint32_t n;
	} dcs[RING_MAX_DCS];
};

/* Builds the ring of these peers (peers without tokens are left out). A
 * token claimed twice goes to the peer listed first. DKV_EINVAL for more
 * than RING_MAX_DCS datacenters; DKV_ENOMEM. */
int ring_build(struct ring *r, const struct ring_peer *peers, uint32_t npeers);
void ring_free(struct ring *r);

/* Index of the entry whose range holds t (the key's primary). The ring
 * must not be empty. */
uint32_t ring_find(const struct ring *r, struct token t);

/* The key's replicas, in preference order, as peer indices; returns how
 * many (fewer than asked when there are not enough peers). */
uint32_t ring_preference(const struct ring *r, struct token t,
                         const struct replication *rep, uint32_t *out,
                         uint32_t max);

/* The peers after a key's replicas along the ring, in ring order, leaving
 * out the replicas given: where sloppy quorum sends a down replica's copy.
 * Returns how many (at most max). */
uint32_t ring_fallbacks(const struct ring *r, struct token t, const uint32_t *replicas,
                        uint32_t nreplicas, uint32_t *out, uint32_t max);

/* Fraction of the ring each peer holds as primary (out[npeers]). */
void ring_ownership(const struct ring *r, double *out);

/* Tokens for a new peer joining this ring (empty: evenly spaced from a
 * seeded random offset). out holds vnodes tokens, all distinct from the
 * ring's. */
int ring_allocate_tokens(const struct ring *r, uint32_t vnodes, uint64_t seed,
                         struct token *out);

/* Parses "dc1:3,dc2:2" (already validated by the configuration). */
int replication_parse(struct replication *rep, const char *spec, uint32_t n);

#endif
