/*
 * The descent of an anti-entropy exchange down many Merkle trees at once
 * (sans-I/O: the caller moves the bytes and says where hashes come from).
 *
 * Two replicas compare k trees of the same depth (k token ranges they
 * share). Both sides keep the same *frontier*: the nodes still in
 * question, all at one level, in (tree, index) order. One side, the
 * sender, sends its hashes of the frontier; the other, the comparer,
 * answers with one bit per frontier node, set where its own hash
 * differs. Both then keep the nodes whose bit is set; above the leaves
 * the frontier moves down to their children (two per kept node); at the
 * leaves the kept nodes are the leaves that differ, and the walk is over.
 *
 * What the sender sends is half what it might: at level 0 its roots, but
 * below only the left child of each pair of siblings. A parent is the XOR
 * of its children (merkle.h), and the comparer has the sender's hash of
 * every kept parent from the round before, so it works out the right
 * child as parent ^ left. A differing node therefore costs one 64-bit
 * hash and two bits per level, instead of two hashes and their indexes.
 *
 * Sizes: the frontier never holds more than MWALK_MAX_NODES nodes;
 * mwalk_start refuses trees and depths that could exceed it at the
 * leaves (k << depth). Everything that comes from the other side
 * (counts, bitmaps) is checked: DKV_EINVAL, and the walk unchanged.
 */
#ifndef DKV_CORE_MERKLE_WALK_H
#define DKV_CORE_MERKLE_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MWALK_MAX_NODES 65536u

struct mwalk_node {
	uint32_t tree, index;
	uint64_t theirs; /* comparer: the sender's hash (for a right child
	                  * not yet compared: its parent's) */
};

struct mwalk {
	unsigned depth, level;
	bool done; /* kept at the leaves: nodes are the leaves that differ */
	uint32_t ntrees, n;
	struct mwalk_node *nodes; /* the frontier, n nodes at `level` */
};

/* A hash of this side's: node (level, index) of tree `tree`. False when
 * this side cannot compare that tree (the comparer then counts it equal
 * and reports it in `unknown`). */
typedef bool (*mwalk_hash_fn)(void *arg, uint32_t tree, unsigned level, uint32_t index,
                              uint64_t *hash);

/* The frontier at the roots of ntrees trees of this depth. DKV_EINVAL
 * for ntrees 0, a depth outside 1..16 or ntrees << depth over
 * MWALK_MAX_NODES; DKV_ENOMEM. */
int mwalk_start(struct mwalk *w, unsigned depth, uint32_t ntrees);
void mwalk_free(struct mwalk *w);

/* Bytes of a bitmap over the frontier. */
static inline size_t
mwalk_bitmap_len(const struct mwalk *w)
{
	return ((size_t)w->n + 7) / 8;
}

static inline bool
mwalk_bit(const uint8_t *bitmap, uint32_t i)
{
	return (bitmap[i / 8] >> (i % 8)) & 1;
}

/* The sender: how many hashes it sends for this frontier (n at level 0,
 * n / 2 below), and those hashes, into out. DKV_EINVAL if own cannot
 * give one (a tree went away). */
uint32_t mwalk_nsend(const struct mwalk *w);
int mwalk_hashes(const struct mwalk *w, mwalk_hash_fn own, void *arg, uint64_t *out);

/* The comparer: takes the sender's nh hashes for this frontier, writes
 * the bitmap (mwalk_bitmap_len bytes) and, at level 0, unknown (the same
 * size; NULL if not wanted): bits of the trees own cannot give. Nodes of
 * such trees count as equal. DKV_EINVAL when nh is not mwalk_nsend. */
int mwalk_compare(struct mwalk *w, const uint64_t *theirs, uint32_t nh, mwalk_hash_fn own,
                  void *arg, uint8_t *bitmap, uint8_t *unknown);

/* Both: keeps the nodes whose bit is set and, above the leaves, moves
 * down to their children; at the leaves it sets done, and the frontier
 * is then the leaves that differ. Returns how many nodes were kept (0:
 * the trees agree where they were compared). DKV_EINVAL for a bitmap of
 * the wrong length or with bits set past the frontier, or a walk already
 * done; DKV_ENOMEM. */
int mwalk_keep(struct mwalk *w, const uint8_t *bitmap, size_t len);

#endif
