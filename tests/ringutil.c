/* Which peers replicate a key (see ringutil.h). */
#include "config.h"

#include <string.h>

#include <murmurhash.h>

#include "ringutil.h"

#define MAX_REPLICAS 16

bool
ring_replicates(const dkv_token_range_t *ring, size_t nr, unsigned n, const char *id,
                const char *key)
{
	uint64_t h[2];
	unsigned char t[16];
	const char *seen[MAX_REPLICAS];
	size_t i, nseen = 0;

	if (n > MAX_REPLICAS)
		n = MAX_REPLICAS;
	lmmh_x64_128(key, (unsigned int)strlen(key), 0, h);
	for (int b = 0; b < 8; b++) {
		t[b] = (unsigned char)(h[0] >> (56 - 8 * b));
		t[8 + b] = (unsigned char)(h[1] >> (56 - 8 * b));
	}
	/* the first range whose end is at or after the token, then the
	 * distinct peers from there along the ring */
	for (i = 0; i < nr && memcmp(ring[i].end, t, 16) < 0; i++)
		;
	for (size_t step = 0; step < nr && nseen < n; step++) {
		const char *p = ring[(i + step) % nr].peer;
		bool dup = false;

		for (size_t s = 0; s < nseen; s++)
			dup |= strcmp(seen[s], p) == 0;
		if (!dup)
			seen[nseen++] = p;
	}
	for (size_t s = 0; s < nseen; s++)
		if (strcmp(seen[s], id) == 0)
			return true;
	return false;
}
