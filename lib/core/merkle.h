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
 * The exchange, level by level: one side sends the hashes of some nodes
 * (the root first); the other calls merkle_diff to keep those whose hash
 * differs from its own, then merkle_descend to name their descendants a
 * few levels down, and sends back its hashes of those; and so on until
 * the differing leaves are known and merkle_leaf_bounds turns them into
 * token ranges to synchronise. Levels, indexes and counts received from a
 * peer are validated by merkle_diff and merkle_descend (DKV_EINVAL),
 * never asserted.
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

/* Compares a peer's hashes of n nodes at one level (idx[i], hash[i])
 * with ours and writes the indexes that differ to out (room for n, in
 * the input's order); returns how many. DKV_EINVAL, with out untouched,
 * when level > depth or idx is not strictly increasing and below
 * 2^level (which also bounds n and rules out duplicates). */
int merkle_diff(const struct merkle *m, unsigned level, const uint32_t *idx,
                const struct merkle_hash *hash, uint32_t n, uint32_t *out);

/* The descendants, step levels down (cut at the leaves), of n nodes at
 * one level: sets *out_level and writes their indexes to out, in
 * increasing order; returns how many (n * 2^(*out_level - level)).
 * DKV_EINVAL when step is 0, level >= depth (leaves have no children) or
 * idx is not as for merkle_diff; DKV_ETOOBIG when more than max would
 * come out (take a smaller step). out is untouched on error. */
int merkle_descend(const struct merkle *m, unsigned level, const uint32_t *idx, uint32_t n,
                   unsigned step, unsigned *out_level, uint32_t *out, size_t max);

#endif
