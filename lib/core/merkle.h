/*
 * Merkle trees for anti-entropy (sans-I/O: no store, clock or socket).
 *
 * A tree covers one token range (lo, hi] of the ring; lo == hi is the
 * whole ring, lo > hi wraps past zero. It has a fixed depth D (ae_depth,
 * 1..MERKLE_MAX_DEPTH) and 2^D leaves that cut the range into equal
 * slices: a token at offset o = t - lo - 1 in a range of span S = hi - lo
 * (2^128 for the whole ring) goes to leaf floor(o * 2^D / S), so leaf i
 * holds offsets [ceil(i*S/2^D), ceil((i+1)*S/2^D)). Both replicas of a
 * range therefore agree on which leaf every key falls in, and a differing
 * leaf names a token range to repair.
 *
 * Each entry (key, encoded object) has a 128-bit hash; a leaf is the XOR
 * of its entries' hashes and an inner node the XOR of its two children,
 * so the root is the XOR of everything. XOR makes the tree independent
 * of insertion order and lets one write update it in O(D) without
 * rereading the leaf's other entries: merkle_update XORs (old ^ new) into
 * the leaf and its ancestors. The price is that XOR is linear: equal
 * roots are strong evidence, not proof, of equal contents (two identical
 * entries cancel, but a store never holds the same key twice).
 *
 * Nodes are addressed by (level, index): level 0 is the root (index 0),
 * level D holds the leaves (index 0..2^D-1). They are stored as one heap
 * array: node (level, index) lives at nodes[2^level + index], children
 * of heap slot p are 2p and 2p+1, slot 0 is unused.
 *
 * The exchange walks down many trees at once, level by level, from the
 * roots to the differing leaves (merkle_walk.h), reading nodes with
 * merkle_node after checking peers' levels and indexes with
 * merkle_node_valid; merkle_leaf_bounds then turns the leaves into token
 * ranges to synchronise.
 */
#ifndef DKV_CORE_MERKLE_H
#define DKV_CORE_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/token.h"

#define MERKLE_MIN_DEPTH 1
#define MERKLE_MAX_DEPTH 16

struct merkle_hash {
	uint64_t a, b;
};

struct merkle {
	struct token lo, hi; /* the range (lo, hi]; lo == hi: whole ring */
	unsigned depth;
	struct merkle_hash *nodes; /* 2^(depth+1) slots, heap order, [1] is the root */
};

/* Sets up an empty tree (all hashes zero) over (lo, hi]. DKV_EINVAL for
 * a depth outside MERKLE_MIN_DEPTH..MERKLE_MAX_DEPTH, DKV_ENOMEM. On
 * error m is left so that merkle_free(m) is a harmless no-op. */
int merkle_init(struct merkle *m, struct token lo, struct token hi, unsigned depth);
/* Frees the nodes (m itself belongs to the caller); NULL is a no-op. */
void merkle_free(struct merkle *m);
/* Back to the empty tree, keeping range and depth. */
void merkle_clear(struct merkle *m);

/* Whether t lies in the tree's range (lo, hi]. */
bool merkle_contains(const struct merkle *m, struct token t);
/* The leaf that holds t, which must lie in the range (for a token
 * outside it the answer is some leaf index below 2^depth, meaningless). */
uint32_t merkle_leaf_of(const struct merkle *m, struct token t);
/* The token range (*lo, *hi] of a leaf (< 2^depth): exactly the tokens
 * merkle_leaf_of maps to it. The leaves tile the tree's range in order.
 * When the range has fewer than 2^depth tokens some leaves hold none;
 * they come back with *lo == *hi, which here means empty, not the whole
 * ring (a leaf is never the whole ring, as depth >= 1). */
void merkle_leaf_bounds(const struct merkle *m, uint32_t leaf, struct token *lo, struct token *hi);

/* The hash of one entry: the user key and the bytes of its encoded
 * object, which must be encoded canonically for replicas to agree.
 * Different (key, object) splits of the same bytes hash differently. */
struct merkle_hash merkle_entry_hash(const void *key, size_t klen, const void *obj, size_t olen);

/* A 32-bit tag for a key, salted: an exchange names keys by their tags
 * rather than their bytes, with a salt of its own, so two keys that
 * share a tag in one exchange (about one batch in 10^4) most likely do
 * not in the next. */
uint32_t merkle_key_tag(const void *key, size_t klen, uint32_t salt);

/* A 64-bit name for the range (lo, hi], by which two replicas find the
 * trees they share. */
uint64_t merkle_range_id(struct token lo, struct token hi);

/* Accounts for one entry at token t changing from *old to *new: insert
 * is (NULL, new), delete (old, NULL), change (old, new). DKV_EINVAL, and
 * the tree unchanged, when t is outside the range. Threads may update
 * one tree at once (atomic XORs) and read it meanwhile (merkle_node);
 * init, clear and free must not overlap anything. */
int merkle_update(struct merkle *m, struct token t, const struct merkle_hash *old,
                  const struct merkle_hash *new);

/* Whether (level, index) names a node of this tree. */
bool merkle_node_valid(const struct merkle *m, unsigned level, uint32_t index);
/* A node's hash; (level, index) must be valid (merkle_node_valid). */
struct merkle_hash merkle_node(const struct merkle *m, unsigned level, uint32_t index);
struct merkle_hash merkle_root(const struct merkle *m);
bool merkle_hash_eq(struct merkle_hash a, struct merkle_hash b);

#endif
