/* Key → ring token with MurmurHash3 x64_128 (libmurmurhash); see token.h. */
#include "config.h"

#include <murmurhash.h>

#include "core/token.h"

struct token
token_of_key(const void *key, size_t klen)
{
	uint64_t h[2];
	struct token t;

	/* Keys are bounded by max_key_bytes (<= 65535), so this never
	 * truncates. */
	lmmh_x64_128(key, (unsigned int)klen, 0, h);
	t.hi = h[0];
	t.lo = h[1];
	return t;
}

int
token_cmp(struct token a, struct token b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	if (a.lo != b.lo)
		return a.lo < b.lo ? -1 : 1;
	return 0;
}

void
token_to_bytes(struct token t, uint8_t out[TOKEN_BYTES])
{
	for (int i = 0; i < 8; i++) {
		out[i] = (uint8_t)(t.hi >> (56 - 8 * i));
		out[8 + i] = (uint8_t)(t.lo >> (56 - 8 * i));
	}
}

struct token
token_from_bytes(const uint8_t in[TOKEN_BYTES])
{
	struct token t = {0, 0};

	for (int i = 0; i < 8; i++) {
		t.hi = (t.hi << 8) | in[i];
		t.lo = (t.lo << 8) | in[8 + i];
	}
	return t;
}
