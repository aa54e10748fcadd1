/*
 * Consistent-hashing ring, preference lists and token allocation (see
 * ring.h). Token arithmetic uses the compiler's unsigned 128-bit integers.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "libdkv/dkv.h"
#include "core/ring.h"
#include "util/alloc.h"

static double
fraction_of_ring(token_u128 size)
{
	/* size 0 stands for the whole ring (a single token) */
	if (size == 0)
		return 1.0;
	return (double)size / 3.402823669209385e38; /* 2^128 */
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct ring_entry *x = a, *y = b;
	int c = token_cmp(x->token, y->token);

	if (c != 0)
		return c;
	return x->peer < y->peer ? -1 : x->peer > y->peer;
}

/* Index of name in a table of fixed-size strings, adding it if new. */
static int
index_in(char *names, size_t slot, uint32_t *count, uint32_t max, const char *name)
{
	for (uint32_t i = 0; i < *count; i++)
		if (strcmp(names + i * slot, name) == 0)
			return (int)i;
	if (*count == max)
		return -1;
	strlcpy(names + *count * slot, name, slot);
	return (int)(*count)++;
}

int
ring_build(struct ring *r, const struct ring_peer *peers, uint32_t npeers)
{
	/* racks are keyed "dc/rack", both up to ACTOR_MAX long */
	char (*racks)[2 * (ACTOR_MAX + 1)] = NULL;
	uint32_t total = 0, k = 0, nracks = 0;
	int err = DKV_ENOMEM;

	memset(r, 0, sizeof(*r));
	for (uint32_t i = 0; i < npeers; i++)
		total += peers[i].ntokens;
	r->npeers = npeers;
	r->entries = mem_reallocarray(NULL, total ? total : 1, sizeof(*r->entries));
	r->peer_dc = mem_calloc(npeers ? npeers : 1, sizeof(*r->peer_dc));
	r->peer_rack = mem_calloc(npeers ? npeers : 1, sizeof(*r->peer_rack));
	racks = mem_calloc(npeers ? npeers : 1, sizeof(*racks));
	if (r->entries == NULL || r->peer_dc == NULL || r->peer_rack == NULL || racks == NULL)
		goto fail;
	for (uint32_t i = 0; i < npeers; i++) {
		char key[2 * (ACTOR_MAX + 1)];
		int dc = index_in(&r->dcs[0][0], sizeof(r->dcs[0]), &r->ndcs, RING_MAX_DCS, peers[i].dc);
		int rack;

		if (dc < 0) {
			err = DKV_EINVAL;
			goto fail;
		}
		/* racks are counted per datacenter: key them by "dc/rack" */
		snprintf(key, sizeof(key), "%s/%s", peers[i].dc, peers[i].rack);
		rack = index_in(&racks[0][0], sizeof(racks[0]), &nracks, npeers, key);
		r->peer_dc[i] = (uint16_t)dc;
		r->peer_rack[i] = (uint16_t)rack;
		for (uint32_t t = 0; t < peers[i].ntokens; t++) {
			r->entries[k].token = peers[i].tokens[t];
			r->entries[k].peer = i;
			k++;
		}
	}
	/* racks_in_dc: distinct racks among each dc's token holders */
	for (uint32_t rk = 0; rk < nracks; rk++)
		for (uint32_t i = 0; i < npeers; i++)
			if (r->peer_rack[i] == rk && peers[i].ntokens > 0) {
				r->racks_in_dc[r->peer_dc[i]]++;
				break;
			}
	qsort(r->entries, total, sizeof(*r->entries), entry_cmp);
	/* Two peers claiming one token: the earlier peer (callers pass peers
	 * sorted by id, so every peer decides alike) keeps it. */
	k = 0;
	for (uint32_t i = 0; i < total; i++)
		if (k == 0 || token_cmp(r->entries[k - 1].token, r->entries[i].token) != 0)
			r->entries[k++] = r->entries[i];
	r->n = k;
	mem_free(racks);
	return DKV_OK;
fail:
	mem_free(racks);
	ring_free(r);
	return err;
}

void
ring_free(struct ring *r)
{
	mem_free(r->entries);
	mem_free(r->peer_dc);
	mem_free(r->peer_rack);
	memset(r, 0, sizeof(*r));
}

uint32_t
ring_find(const struct ring *r, struct token t)
{
	uint32_t lo = 0, hi = r->n;

	/* first entry with token >= t; past the end wraps to 0 */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (token_cmp(r->entries[mid].token, t) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == r->n ? 0 : lo;
}

static int
taken(const uint32_t *out, uint32_t count, uint32_t peer)
{
	for (uint32_t i = 0; i < count; i++)
		if (out[i] == peer)
			return 1;
	return 0;
}

uint32_t
ring_preference(const struct ring *r, struct token t, const struct replication *rep,
                uint32_t *out, uint32_t max)
{
	uint32_t need[RING_MAX_DCS], racks_used[RING_MAX_DCS], count = 0, start;
	uint32_t skipped[RING_MAX_REPLICAS * 4], nskipped = 0;
	uint8_t *rack_seen = NULL;

	if (r->n == 0 || max == 0)
		return 0;
	start = ring_find(r, t);
	if (rep->ndcs == 0) {
		uint32_t want = rep->n < max ? rep->n : max;

		for (uint32_t i = 0; i < r->n && count < want; i++) {
			uint32_t peer = r->entries[(start + i) % r->n].peer;

			if (!taken(out, count, peer))
				out[count++] = peer;
		}
		return count;
	}

	memset(need, 0, sizeof(need));
	memset(racks_used, 0, sizeof(racks_used));
	for (uint32_t d = 0; d < rep->ndcs; d++)
		for (uint32_t k = 0; k < r->ndcs; k++)
			if (strcmp(rep->dcs[d].dc, r->dcs[k]) == 0)
				need[k] = rep->dcs[d].n;
	/* one flag per (dc, rack index); rack indices are < npeers */
	rack_seen = mem_calloc((size_t)r->npeers + 1, 1);
	for (uint32_t i = 0; i < r->n && count < max; i++) {
		uint32_t peer = r->entries[(start + i) % r->n].peer;
		uint32_t dc = r->peer_dc[peer];

		if (need[dc] == 0 || taken(out, count, peer) || taken(skipped, nskipped, peer))
			continue;
		/* rack-diverse first; once every rack has a replica, anyone */
		if (rack_seen == NULL || racks_used[dc] >= r->racks_in_dc[dc] ||
		    !rack_seen[r->peer_rack[peer]]) {
			if (rack_seen != NULL && !rack_seen[r->peer_rack[peer]]) {
				rack_seen[r->peer_rack[peer]] = 1;
				racks_used[dc]++;
			}
			out[count++] = peer;
			need[dc]--;
		} else if (nskipped < sizeof(skipped) / sizeof(skipped[0])) {
			skipped[nskipped++] = peer;
		}
	}
	for (uint32_t s = 0; s < nskipped && count < max; s++) {
		uint32_t dc = r->peer_dc[skipped[s]];

		if (need[dc] > 0) {
			out[count++] = skipped[s];
			need[dc]--;
		}
	}
	mem_free(rack_seen);
	return count;
}

static token_u128
range_size(const struct ring *r, uint32_t i)
{
	token_u128 prev = token_to_u128(r->entries[i == 0 ? r->n - 1 : i - 1].token);

	return token_to_u128(r->entries[i].token) - prev; /* wraps mod 2^128 */
}

uint32_t
ring_fallbacks(const struct ring *r, struct token t, const uint32_t *replicas, uint32_t nreplicas,
               uint32_t *out, uint32_t max)
{
	uint32_t count = 0, start;

	if (r->n == 0 || max == 0)
		return 0;
	start = ring_find(r, t);
	for (uint32_t i = 0; i < r->n && count < max && count + nreplicas < r->npeers; i++) {
		uint32_t peer = r->entries[(start + i) % r->n].peer;

		if (!taken(replicas, nreplicas, peer) && !taken(out, count, peer))
			out[count++] = peer;
	}
	return count;
}

void
ring_ownership(const struct ring *r, double *out)
{
	for (uint32_t p = 0; p < r->npeers; p++)
		out[p] = 0.0;
	if (r->n == 1) {
		out[r->entries[0].peer] = 1.0;
		return;
	}
	for (uint32_t i = 0; i < r->n; i++)
		out[r->entries[i].peer] += fraction_of_ring(range_size(r, i));
}

struct alloc_range {
	token_u128 start, size; /* (start, start + size] */
	uint32_t owner;   /* UINT32_MAX: the new peer */
};

int
ring_allocate_tokens(const struct ring *r, uint32_t vnodes, uint64_t seed,
                     struct token *out)
{
	struct alloc_range *ranges;
	double *owned;
	token_u128 share;
	uint32_t nranges;

	if (vnodes == 0)
		return DKV_EINVAL;
	if (r->n == 0) {
		token_u128 step = ((token_u128)1 << 127) / vnodes * 2;
		token_u128 offset = ((token_u128)seed << 64) | (seed * 0x9e3779b97f4a7c15ull);

		for (uint32_t i = 0; i < vnodes; i++)
			out[i] = token_from_u128(offset + step * i);
		return DKV_OK;
	}
	ranges = mem_reallocarray(NULL, (size_t)r->n + vnodes, sizeof(*ranges));
	owned = mem_calloc((size_t)r->npeers + 1, sizeof(*owned));
	if (ranges == NULL || owned == NULL) {
		mem_free(ranges);
		mem_free(owned);
		return DKV_ENOMEM;
	}
	for (uint32_t i = 0; i < r->n; i++) {
		token_u128 size = r->n == 1 ? ~(token_u128)0 : range_size(r, i);

		ranges[i].size = size;
		ranges[i].start = token_to_u128(r->entries[i].token) - size;
		ranges[i].owner = r->entries[i].peer;
		owned[ranges[i].owner] += fraction_of_ring(size);
	}
	nranges = r->n;
	{
		uint32_t holders = 0;

		for (uint32_t p = 0; p < r->npeers; p++)
			holders += owned[p] > 0.0;
		share = ~(token_u128)0 / ((token_u128)(holders + 1) * vnodes);
	}
	for (uint32_t v = 0; v < vnodes; v++) {
		uint32_t best = UINT32_MAX;
		token_u128 take, cut;

		/* the most loaded owner's largest range that can spare a share;
		 * failing that, the largest range of all */
		for (uint32_t i = 0; i < nranges; i++) {
			if (ranges[i].owner == UINT32_MAX || ranges[i].size <= share)
				continue;
			if (best == UINT32_MAX || owned[ranges[i].owner] > owned[ranges[best].owner] ||
			    (owned[ranges[i].owner] == owned[ranges[best].owner] &&
			     ranges[i].size > ranges[best].size))
				best = i;
		}
		if (best == UINT32_MAX)
			for (uint32_t i = 0; i < nranges; i++)
				if (best == UINT32_MAX || ranges[i].size > ranges[best].size)
					best = i;
		take = ranges[best].size > share ? share : ranges[best].size / 2;
		if (take == 0)
			take = 1;
		cut = ranges[best].start + take;
		out[v] = token_from_u128(cut);
		if (ranges[best].owner != UINT32_MAX)
			owned[ranges[best].owner] -= fraction_of_ring(take);
		ranges[nranges].start = ranges[best].start;
		ranges[nranges].size = take;
		ranges[nranges].owner = UINT32_MAX;
		nranges++;
		ranges[best].start = cut;
		ranges[best].size -= take;
	}
	mem_free(ranges);
	mem_free(owned);
	return DKV_OK;
}

int
replication_parse(struct replication *rep, const char *spec, uint32_t n)
{
	char buf[256], *save = NULL;

	memset(rep, 0, sizeof(*rep));
	rep->n = n;
	if (spec == NULL || *spec == '\0')
		return DKV_OK;
	if (strlcpy(buf, spec, sizeof(buf)) >= sizeof(buf))
		return DKV_EINVAL;
	for (char *item = strtok_r(buf, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(item, ':');

		while (*item == ' ')
			item++;
		if (colon == NULL || rep->ndcs == RING_MAX_DCS)
			return DKV_EINVAL;
		*colon = '\0';
		strlcpy(rep->dcs[rep->ndcs].dc, item, sizeof(rep->dcs[0].dc));
		rep->dcs[rep->ndcs].n = (uint32_t)strtoul(colon + 1, NULL, 10);
		if (rep->dcs[rep->ndcs].n == 0)
			return DKV_EINVAL;
		rep->ndcs++;
	}
	return DKV_OK;
}
