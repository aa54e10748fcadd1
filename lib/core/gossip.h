/*
 * Membership by gossip (sans-I/O).
 *
 * Each peer owns a versioned state — id, address, dc, rack, role, status,
 * tokens — ordered by (generation, version): the generation is the peer's
 * start time, so a restarted peer's state replaces its old one; the
 * version moves only when the state changes, so a quiet cluster gossips
 * digests and nothing else.
 * Every round a peer sends its digests (id, generation, version per known
 * peer) to a random live peer, sometimes to an unreachable one and to a
 * seed (Cassandra's rules); the receiver answers with the states the
 * sender lacks and asks for those it lacks itself (SYN/ACK/ACK2), so only
 * newer states travel. Seeds matter only for bootstrap.
 *
 * Liveness is local: every peer sends a small heartbeat to each known peer
 * every heartbeat_ms, and a phi-accrual detector (fd.h) per peer judges
 * it UP or DOWN. A clean stop sends SHUTDOWN, which marks the peer DOWN at
 * once until it returns with a new generation.
 *
 * The caller feeds time (gossip_tick) and decoded messages (gossip_recv),
 * and drains the outbox of encoded frames addressed to listen addresses.
 * No clock, socket or thread is touched here, so tests/sim can run many
 * peers in one thread on a simulated network.
 */
#ifndef DKV_CORE_GOSSIP_H
#define DKV_CORE_GOSSIP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/fd.h"
#include "core/wire.h"

#define GOSSIP_MAX_SEEDS 32

struct gossip_config {
	struct peer_state self; /* tokens are copied */
	uint32_t interval_ms;   /* gossip round */
	uint32_t heartbeat_ms;  /* direct heartbeat round */
	double phi_threshold;
	struct fd_params fd;
	uint32_t nseeds;
	char seeds[GOSSIP_MAX_SEEDS][WIRE_ADDR_MAX + 1];
	uint64_t rng_seed;
};

struct member {
	struct peer_state st;
	struct fd fd;
	bool up;       /* our own judgement; self is always up */
	bool shutdown; /* said goodbye in st.generation */
	double phi;
	uint64_t down_since_ms; /* when we last judged it down (or met it) */
	uint64_t met_ms;        /* when we learned of it */
	bool reported_up;       /* the shell's: what it last logged */
	uint64_t reported_generation; /* the shell's: the generation it last saw */
};

/* A client peer (no data) that is gone this long is forgotten; one that
 * says goodbye is forgotten at once. */
#define GOSSIP_CLIENT_EXPIRY_MS 60000

struct outmsg {
	char addr[WIRE_ADDR_MAX + 1];
	uint8_t *frame;
	size_t len;
};

struct gossip {
	struct gossip_config cfg;
	struct member *members; /* members[0] is this peer */
	uint32_t n, cap;
	struct outmsg *out;
	uint32_t nout, capout;
	uint64_t rng;
	uint64_t next_round_ms, next_heartbeat_ms;
	uint64_t changes; /* bumped whenever the ring or liveness may change */
};

int gossip_init(struct gossip *g, const struct gossip_config *cfg, uint64_t now_ms);
void gossip_free(struct gossip *g);

/* Runs whatever rounds are due at now_ms. */
void gossip_tick(struct gossip *g, uint64_t now_ms);
/* When gossip_tick next has work. */
uint64_t gossip_next_deadline(const struct gossip *g);

/* A message that arrived from the peer listening at from_addr. */
void gossip_recv(struct gossip *g, const struct msg *m, const char *from_addr,
                 uint64_t now_ms);

/* This peer's own state changes (tokens chosen, status). */
int gossip_set_tokens(struct gossip *g, const struct token *tokens, uint32_t n);
void gossip_set_status(struct gossip *g, uint8_t status);
/* How far this peer's range moves are (percent), for the others' views. */
void gossip_set_moved(struct gossip *g, uint8_t percent);
/* Queues SHUTDOWN to every known peer (a clean stop). */
void gossip_shutdown(struct gossip *g);
/* Marks a dead peer LEFT for good; DKV_ENOTFOUND, or DKV_EBUSY while it
 * is UP, when it is this peer, or when we learned of it less than
 * GOSSIP_REMOVE_GRACE_MS ago (we could not yet tell dead from unheard). */
#define GOSSIP_REMOVE_GRACE_MS 5000
int gossip_remove(struct gossip *g, const struct actor *id, uint64_t now_ms);

struct member *gossip_find(struct gossip *g, const struct actor *id);

/* Hands the queued frames to the caller, who sends and frees them
 * (mem_free on each frame and on the array). */
void gossip_take_outbox(struct gossip *g, struct outmsg **out, uint32_t *n);

#endif
