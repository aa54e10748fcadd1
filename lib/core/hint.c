/* Hint records: storage keys and values (see hint.h). */
#include "config.h"

#include <string.h>

#include <murmurhash.h>

#include "libdkv/dkv.h"
#include "core/bytes.h"
#include "core/hint.h"
#include "store/store.h"

const uint8_t hint_all_start[1] = {STORE_NS_HINT};
const uint8_t hint_all_limit[1] = {STORE_NS_HINT + 1};

size_t
hint_key_size(const struct actor *intended, size_t klen)
{
	return 2 + (size_t)intended->len + TOKEN_BYTES + klen;
}

void
hint_key_encode(uint8_t *out, const struct actor *intended, struct token t, const void *key,
                size_t klen)
{
	out[0] = STORE_NS_HINT;
	out[1] = intended->len;
	memcpy(out + 2, intended->id, intended->len);
	token_to_bytes(t, out + 2 + intended->len);
	memcpy(out + 2 + intended->len + TOKEN_BYTES, key, klen);
}

int
hint_key_decode(const void *k, size_t klen, struct actor *intended, struct token *t,
                const uint8_t **key, size_t *ukeylen)
{
	const uint8_t *p = k;
	size_t head;

	if (klen < 2 || p[0] != STORE_NS_HINT || p[1] == 0 || p[1] > ACTOR_MAX)
		return DKV_EINVAL;
	head = 2 + (size_t)p[1] + TOKEN_BYTES;
	if (klen <= head || actor_set(intended, p + 2, p[1]) != DKV_OK)
		return DKV_EINVAL; /* a hint always names a key */
	*t = token_from_bytes(p + 2 + p[1]);
	*key = p + head;
	*ukeylen = klen - head;
	return DKV_OK;
}

size_t
hint_prefix(uint8_t start[HINT_PREFIX_MAX], uint8_t limit[HINT_PREFIX_MAX],
            const struct actor *intended)
{
	size_t n = 2 + (size_t)intended->len;

	start[0] = STORE_NS_HINT;
	start[1] = intended->len;
	memcpy(start + 2, intended->id, intended->len);
	/* the next prefix of the same length: ids are printable ASCII, so
	 * the last byte never overflows, and the length byte keeps ids that
	 * extend this one ("a" and "ab") out of its span */
	memcpy(limit, start, n);
	limit[n - 1]++;
	return n;
}

int
hint_value_decode(const void *v, size_t vlen, uint64_t *created_ms, const uint8_t **obj,
                  size_t *olen)
{
	struct rd r = rd_init(v, vlen);

	*created_ms = rd_u64(&r);
	if (r.bad)
		return DKV_EINVAL;
	*obj = (const uint8_t *)v + HINT_VALUE_HEADER;
	*olen = vlen - HINT_VALUE_HEADER;
	return DKV_OK;
}

void
hint_value_header(uint8_t out[HINT_VALUE_HEADER], uint64_t created_ms)
{
	struct wr w = {out, 0};

	wr_u64(&w, created_ms);
}

bool
hint_expired(uint64_t created_ms, uint64_t now_ms, uint64_t window_s)
{
	return now_ms > created_ms && now_ms - created_ms > window_s * 1000;
}

uint64_t
hint_fingerprint(const void *v, size_t vlen)
{
	uint64_t h[2];

	/* values are bounded by the frame limit (< 4 GiB) */
	lmmh_x64_128(v, (unsigned int)vlen, 0x68696e74u, h);
	return h[0] ^ h[1];
}
