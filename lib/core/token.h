/*
 * Ring tokens: a key's place on the 128-bit consistent-hashing ring is the
 * MurmurHash3 x64_128 of its bytes. Tokens also prefix the stored keys, so
 * the store keeps objects in ring order and a token range is one scan.
 */
#ifndef DKV_CORE_TOKEN_H
#define DKV_CORE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_BYTES 16

struct token {
	uint64_t hi, lo; /* compared as one unsigned 128-bit number */
};

struct token token_of_key(const void *key, size_t klen);
int token_cmp(struct token a, struct token b);
/* Big-endian bytes, so byte order equals ring order. */
void token_to_bytes(struct token t, uint8_t out[TOKEN_BYTES]);
struct token token_from_bytes(const uint8_t in[TOKEN_BYTES]);

#endif
