/* Consistency levels over a key's replicas (see quorum.h). */
#include "config.h"

#include <string.h>

#include "core/quorum.h"

static uint32_t
majority(uint32_t n)
{
	return n / 2 + 1;
}

int
quorum_need(struct quorum *q, dkv_consistency_t level, const uint8_t *dc_of, uint32_t n,
            uint32_t ndcs, uint32_t local_dc)
{
	uint32_t in_dc[QUORUM_MAX_DCS];

	memset(q, 0, sizeof(*q));
	if (n == 0 || n > QUORUM_MAX_REPLICAS || ndcs == 0 || ndcs > QUORUM_MAX_DCS)
		return DKV_EINVAL;
	memset(in_dc, 0, sizeof(in_dc));
	for (uint32_t i = 0; i < n; i++) {
		if (dc_of[i] >= ndcs)
			return DKV_EINVAL;
		in_dc[dc_of[i]]++;
	}
	q->ndcs = ndcs;
	switch (level) {
	case DKV_ONE:
		q->total = 1;
		break;
	case DKV_TWO:
		q->total = 2;
		break;
	case DKV_QUORUM:
		q->total = majority(n);
		break;
	case DKV_ALL:
		q->total = n;
		break;
	case DKV_LOCAL_ONE:
	case DKV_LOCAL_QUORUM:
		if (local_dc >= ndcs || in_dc[local_dc] == 0)
			return DKV_EUNAVAILABLE;
		q->per_dc[local_dc] = level == DKV_LOCAL_ONE ? 1 : majority(in_dc[local_dc]);
		q->total = q->per_dc[local_dc];
		break;
	case DKV_EACH_QUORUM:
		for (uint32_t d = 0; d < ndcs; d++)
			if (in_dc[d] > 0) {
				q->per_dc[d] = majority(in_dc[d]);
				q->total += q->per_dc[d];
			}
		break;
	default:
		return DKV_EINVAL;
	}
	return q->total > n ? DKV_EUNAVAILABLE : DKV_OK;
}

static bool
counts_suffice(const struct quorum *q, const uint8_t *dc_of, const bool *yes, uint32_t n)
{
	uint32_t got = 0, per_dc[QUORUM_MAX_DCS];

	memset(per_dc, 0, sizeof(per_dc));
	for (uint32_t i = 0; i < n; i++)
		if (yes[i]) {
			got++;
			per_dc[dc_of[i]]++;
		}
	for (uint32_t d = 0; d < q->ndcs; d++)
		if (per_dc[d] < q->per_dc[d])
			return false;
	/* where the level counts per dc, only those answers count */
	for (uint32_t d = 0; d < q->ndcs; d++)
		if (q->per_dc[d] > 0)
			return true;
	return got >= q->total;
}

bool
quorum_met(const struct quorum *q, const uint8_t *dc_of, const bool *answered, uint32_t n)
{
	return counts_suffice(q, dc_of, answered, n);
}

bool
quorum_possible(const struct quorum *q, const uint8_t *dc_of, const bool *up, uint32_t n)
{
	return counts_suffice(q, dc_of, up, n);
}
