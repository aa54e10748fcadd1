/*
 * Ring tokens: a key's place on the 128-bit consistent-hashing ring is the
 * MurmurHash3 x64_128 of its bytes. Tokens also prefix the stored keys, so
 * the store keeps objects in ring order and a token range is one scan.
 */
#ifndef DKV_CORE_TOKEN_H
#define DKV_CORE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_BYTES 16

struct token {
	uint64_t hi, lo; /* compared as one unsigned 128-bit number */
};

struct token token_of_key(const void *key, size_t klen);

/* Tokens as unsigned 128-bit numbers, for ring arithmetic. */
typedef unsigned __int128 token_u128;

static inline token_u128
token_to_u128(struct token t)
{
	return ((token_u128)t.hi << 64) | t.lo;
}

static inline struct token
token_from_u128(token_u128 v)
{
	struct token t = {(uint64_t)(v >> 64), (uint64_t)v};

	return t;
}

/* Whether t lies in the range (lo, hi] of the ring, which wraps past zero
 * when lo > hi and is the whole ring when lo == hi. */
static inline bool
token_in_range(struct token lo, struct token hi, struct token t)
{
	return token_to_u128(t) - token_to_u128(lo) - 1 < token_to_u128(hi) - token_to_u128(lo) ||
	       (lo.hi == hi.hi && lo.lo == hi.lo);
}
int token_cmp(struct token a, struct token b);
/* Big-endian bytes, so byte order equals ring order. */
void token_to_bytes(struct token t, uint8_t out[TOKEN_BYTES]);
struct token token_from_bytes(const uint8_t in[TOKEN_BYTES]);

#endif
