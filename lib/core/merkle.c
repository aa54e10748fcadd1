/*
 * Merkle trees for anti-entropy (see merkle.h). Token arithmetic uses the
 * compiler's unsigned 128-bit integers, mod 2^128 like the ring itself;
 * leaf placement is exact integer arithmetic, so every peer agrees on it.
 */
#include "config.h"

#include <assert.h>
#include <string.h>

#include <murmurhash.h>

#include "libdkv/dkv.h"
#include "core/bytes.h"
#include "core/merkle.h"
#include "util/alloc.h"

/* "mrkl": keeps entry hashes apart from tokens (seed 0) and hint
 * fingerprints. */
#define MERKLE_SEED 0x6d726b6cu

/* The span hi - lo; 0 stands for 2^128 (whole ring). */
static token_u128
span_of(const struct merkle *m)
{
	return token_to_u128(m->hi) - token_to_u128(m->lo);
}

static size_t
heap_slot(unsigned level, uint32_t index)
{
	return ((size_t)1 << level) + index;
}

int
merkle_init(struct merkle *m, struct token lo, struct token hi, unsigned depth)
{
	memset(m, 0, sizeof(*m));
	if (depth < MERKLE_MIN_DEPTH || depth > MERKLE_MAX_DEPTH)
		return DKV_EINVAL;
	m->nodes = mem_calloc((size_t)2 << depth, sizeof(*m->nodes));
	if (m->nodes == NULL)
		return DKV_ENOMEM;
	m->lo = lo;
	m->hi = hi;
	m->depth = depth;
	return DKV_OK;
}

void
merkle_free(struct merkle *m)
{
	if (m == NULL)
		return;
	mem_free(m->nodes);
	m->nodes = NULL;
}

void
merkle_clear(struct merkle *m)
{
	memset(m->nodes, 0, ((size_t)2 << m->depth) * sizeof(*m->nodes));
}

bool
merkle_contains(const struct merkle *m, struct token t)
{
	return token_in_range(m->lo, m->hi, t);
}

uint32_t
merkle_leaf_of(const struct merkle *m, struct token t)
{
	token_u128 offset = token_to_u128(t) - token_to_u128(m->lo) - 1;
	token_u128 span = span_of(m), rem = offset;
	uint32_t leaf = 0;

	assert(merkle_contains(m, t));
	if (span == 0)
		return (uint32_t)(offset >> (128 - m->depth));
	/*
	 * floor(offset * 2^D / span) by binary long division, one quotient
	 * bit per level: rem < span throughout. Doubling rem may carry out
	 * of 128 bits; the true 2*rem is then >= 2^128 > span, the bit is 1,
	 * and 2*rem - span (< span) comes out right modulo 2^128.
	 */
	for (unsigned i = 0; i < m->depth; i++) {
		bool carry = (rem >> 127) != 0;

		rem <<= 1;
		leaf <<= 1;
		if (carry || rem >= span) {
			rem -= span;
			leaf |= 1;
		}
	}
	return leaf;
}

/* Offset at which leaf i (0..2^D) starts: ceil(i * span / 2^D), computed
 * as i*q + ceil(i*r / 2^D) with span = q*2^D + r, so nothing overflows. */
static token_u128
leaf_start(const struct merkle *m, uint64_t i)
{
	token_u128 span = span_of(m), q;
	uint64_t r, mask = ((uint64_t)1 << m->depth) - 1;

	if (span == 0) {
		q = (token_u128)1 << (128 - m->depth);
		r = 0;
	} else {
		q = span >> m->depth;
		r = (uint64_t)span & mask;
	}
	/* i <= 2^16 and r < 2^16, so i*r fits easily */
	return (token_u128)i * q + ((i * r + mask) >> m->depth);
}

void
merkle_leaf_bounds(const struct merkle *m, uint32_t leaf, struct token *lo, struct token *hi)
{
	token_u128 base = token_to_u128(m->lo);

	assert(leaf < (uint32_t)1 << m->depth);
	/* offsets [start(i), start(i+1)) are tokens (lo + start(i), lo + start(i+1)] */
	*lo = token_from_u128(base + leaf_start(m, leaf));
	*hi = token_from_u128(base + leaf_start(m, (uint64_t)leaf + 1));
}

static void
hash_bytes(const void *p, size_t len, uint64_t out[2])
{
	/* Keys and encoded objects are bounded by the configured limits,
	 * far below 4 GiB, so the length never truncates. */
	lmmh_x64_128(p, (unsigned int)len, MERKLE_SEED, out);
}

struct merkle_hash
merkle_entry_hash(const void *key, size_t klen, const void *obj, size_t olen)
{
	/*
	 * libmurmurhash has no streaming interface, so rather than copy key
	 * and object into one buffer (an allocation that could fail) we hash
	 * each part and then the fixed-size record
	 *   u64 klen | H(key) | u64 olen | H(obj)
	 * whose lengths keep every (key, object) split distinct.
	 */
	uint8_t buf[2 * (8 + 16)];
	struct wr w = {buf, 0};
	uint64_t hk[2], ho[2], h[2];
	struct merkle_hash out;

	hash_bytes(key, klen, hk);
	hash_bytes(obj, olen, ho);
	wr_u64(&w, (uint64_t)klen);
	wr_u64(&w, hk[0]);
	wr_u64(&w, hk[1]);
	wr_u64(&w, (uint64_t)olen);
	wr_u64(&w, ho[0]);
	wr_u64(&w, ho[1]);
	assert(w.len == sizeof(buf));
	hash_bytes(buf, w.len, h);
	out.a = h[0];
	out.b = h[1];
	return out;
}

uint32_t
merkle_key_tag(const void *key, size_t klen, uint32_t salt)
{
	uint64_t h[2];

	lmmh_x64_128(key, (unsigned int)klen, salt, h);
	return (uint32_t)h[0];
}

uint64_t
merkle_range_id(struct token lo, struct token hi)
{
	uint8_t buf[2 * TOKEN_BYTES];
	uint64_t h[2];

	token_to_bytes(lo, buf);
	token_to_bytes(hi, buf + TOKEN_BYTES);
	hash_bytes(buf, sizeof(buf), h);
	return h[0];
}

int
merkle_update(struct merkle *m, struct token t, const struct merkle_hash *old,
              const struct merkle_hash *new)
{
	struct merkle_hash delta = {0, 0};
	size_t slot;

	if (!merkle_contains(m, t))
		return DKV_EINVAL;
	if (old != NULL) {
		delta.a ^= old->a;
		delta.b ^= old->b;
	}
	if (new != NULL) {
		delta.a ^= new->a;
		delta.b ^= new->b;
	}
	/* XOR commutes, so concurrent writers (each under its own key's
	 * lock) may update one tree at once with atomic XORs */
	for (slot = heap_slot(m->depth, merkle_leaf_of(m, t)); slot >= 1; slot >>= 1) {
		__atomic_fetch_xor(&m->nodes[slot].a, delta.a, __ATOMIC_RELAXED);
		__atomic_fetch_xor(&m->nodes[slot].b, delta.b, __ATOMIC_RELAXED);
	}
	return DKV_OK;
}

bool
merkle_node_valid(const struct merkle *m, unsigned level, uint32_t index)
{
	return level <= m->depth && index < (uint32_t)1 << level;
}

struct merkle_hash
merkle_node(const struct merkle *m, unsigned level, uint32_t index)
{
	const struct merkle_hash *p;
	struct merkle_hash h;

	assert(merkle_node_valid(m, level, index));
	/* a node read while a writer updates it may mix two states: the
	 * exchange then sees a difference that the next pass resolves */
	p = &m->nodes[heap_slot(level, index)];
	h.a = __atomic_load_n(&p->a, __ATOMIC_RELAXED);
	h.b = __atomic_load_n(&p->b, __ATOMIC_RELAXED);
	return h;
}

struct merkle_hash
merkle_root(const struct merkle *m)
{
	return merkle_node(m, 0, 0);
}

bool
merkle_hash_eq(struct merkle_hash a, struct merkle_hash b)
{
	return a.a == b.a && a.b == b.b;
}
