/*
 * A peer's life in the cluster: the shell around the gossip core.
 *
 * It owns the transport and a timer on the handle's loop, feeds them to
 * gossip (time in, frames out), chooses this peer's tokens when it first
 * joins (balanced against the ring it has learned, then kept in the store
 * so a restart keeps them), and rebuilds the ring whenever membership
 * changes. Other threads read the view under a lock (dkv_peers).
 * A peer is in cluster mode when `listen` or `seeds` is configured.
 */
#ifndef DKV_CLUSTER_H
#define DKV_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libdkv/dkv.h"
#include "core/coord.h"
#include "core/token.h"
#include "core/wire.h"

struct dkv;
struct cluster;

/* Runs on the loop thread (via loop_call). On failure why says why. */
int cluster_open(struct dkv *db, struct cluster **out, char *why, size_t whylen);
/* Says goodbye (SHUTDOWN) and frees it all; on the loop thread. */
void cluster_close(struct cluster *c);

int cluster_peers(struct cluster *c, dkv_peer_info_t **list, size_t *count);
int cluster_remove(struct cluster *c, const char *id);
int cluster_ring(struct cluster *c, dkv_token_range_t **list, size_t *count);
void cluster_stats(struct cluster *c, void (*fn)(const char *name, double value, void *arg),
                   void *arg);

/* Sets a test fault towards peer id (dkv_debug_fault), on the loop. */
struct loop;
int cluster_fault(struct cluster *c, struct loop *l, const char *id, unsigned flags,
                  unsigned delay_ms);

/* Loop thread only, below. */
struct repl *cluster_repl(struct cluster *c);
/* Encodes m as from this peer and sends it to the peer listening at addr;
 * the frame's size, or 0 when m cannot be encoded. */
size_t cluster_send_msg(struct cluster *c, const char *addr, struct msg *m);
/* The replicas of token t in preference order (*nprimary of them), with
 * their datacenter indexes (< *ndcs) and liveness; *local_dc is this
 * peer's datacenter (*ndcs when it holds no replica). With fallbacks, when
 * some replicas are down, live peers next along the ring follow them
 * (marked fallback, up to two per down replica): sloppy quorum's stand-ins.
 * Returns how many entries in all; 0 when the ring is empty. The
 * addresses are valid until the loop next runs gossip. */
uint32_t cluster_replicas(struct cluster *c, struct token t, bool fallbacks,
                          struct coord_replica *out, uint32_t max, uint32_t *nprimary,
                          uint32_t *ndcs, uint32_t *local_dc);

/* The other storage peers judged up (not LEFT), at most max. */
struct cluster_peer {
	struct actor id;
	char addr[WIRE_ADDR_MAX + 1];
};
uint32_t cluster_live_storage(struct cluster *c, struct cluster_peer *out, uint32_t max);

/* Bumped each time the ring is rebuilt (membership changed). */
uint64_t cluster_ring_epoch(const struct cluster *c);
/* The ranges of the ring this peer replicates, sorted by their upper
 * token, each with its other replicas (trees not set up); *out: mem_free. */
struct ae_range;
int cluster_my_ranges(struct cluster *c, struct ae_range **out, uint32_t *n);
/* Whether peer id is another peer judged up; its address in addr. */
bool cluster_peer_addr(struct cluster *c, const struct actor *id, char addr[WIRE_ADDR_MAX + 1]);
bool cluster_is_self(const struct cluster *c, const struct actor *id);
/* Whether peer id is a member (not LEFT), up or not. */
bool cluster_knows(struct cluster *c, const struct actor *id);

/* Whether a ring change is pending (a cheap test before cluster_pending),
 * and whether this peer has left the ring (decommissioned). */
bool cluster_has_pending(const struct cluster *c);
bool cluster_self_left(const struct cluster *c);
/* While a ring change is pending (moves.h): the live peers that will
 * replicate token t and do not yet (at most max). Writes go to them too. */
uint32_t cluster_pending(struct cluster *c, struct token t, struct cluster_peer *out,
                         uint32_t max);
/* Starts leaving the ring (dkv_decommission): LEAVING, then LEFT once
 * every range is handed over. DKV_OK when under way or done already;
 * DKV_EBUSY while joining; DKV_EUNAVAILABLE when too few storage peers
 * would stay to hold every replica; DKV_EINVAL for a client peer. */
int cluster_leave(struct cluster *c);
/* Asks peer id to leave (this peer: cluster_leave). DKV_ENOTFOUND,
 * DKV_EUNAVAILABLE when it is down, DKV_EINVAL for a client peer. */
int cluster_ask_leave(struct cluster *c, const char *id);

/* Any thread: peer id's (NULL: this peer's) gossiped status and
 * liveness; DKV_ENOTFOUND. */
int cluster_peer_status(struct cluster *c, const char *id, uint8_t *status, bool *up);

#endif
