/* The descent of an exchange down many Merkle trees (see merkle_walk.h). */
#include "config.h"

#include <string.h>

#include "libdkv/dkv.h"
#include "core/merkle.h"
#include "core/merkle_walk.h"
#include "util/alloc.h"

int
mwalk_start(struct mwalk *w, unsigned depth, uint32_t ntrees)
{
	memset(w, 0, sizeof(*w));
	if (ntrees == 0 || depth < MERKLE_MIN_DEPTH || depth > MERKLE_MAX_DEPTH ||
	    ((uint64_t)ntrees << depth) > MWALK_MAX_NODES)
		return DKV_EINVAL;
	if ((w->nodes = mem_reallocarray(NULL, ntrees, sizeof(*w->nodes))) == NULL)
		return DKV_ENOMEM;
	for (uint32_t i = 0; i < ntrees; i++) {
		w->nodes[i].tree = i;
		w->nodes[i].index = 0;
		w->nodes[i].theirs = 0;
	}
	w->depth = depth;
	w->ntrees = w->n = ntrees;
	return DKV_OK;
}

void
mwalk_free(struct mwalk *w)
{
	mem_free(w->nodes);
	memset(w, 0, sizeof(*w));
}

uint32_t
mwalk_nsend(const struct mwalk *w)
{
	return w->level == 0 ? w->n : w->n / 2;
}

int
mwalk_hashes(const struct mwalk *w, mwalk_hash_fn own, void *arg, uint64_t *out)
{
	uint32_t step = w->level == 0 ? 1 : 2;

	for (uint32_t i = 0, k = 0; i < w->n; i += step, k++) {
		const struct mwalk_node *nd = &w->nodes[i];

		if (!own(arg, nd->tree, w->level, nd->index, &out[k]))
			return DKV_EINVAL;
	}
	return DKV_OK;
}

int
mwalk_compare(struct mwalk *w, const uint64_t *theirs, uint32_t nh, mwalk_hash_fn own,
              void *arg, uint8_t *bitmap, uint8_t *unknown)
{
	size_t len = mwalk_bitmap_len(w);

	if (w->done || nh != mwalk_nsend(w))
		return DKV_EINVAL;
	memset(bitmap, 0, len);
	if (unknown != NULL)
		memset(unknown, 0, len);
	/* the sender's hash of every node first: below the roots, a left
	 * child's comes in the message and its sibling's is the parent's
	 * (held in the right child) XOR it */
	if (w->level == 0) {
		for (uint32_t i = 0; i < w->n; i++)
			w->nodes[i].theirs = theirs[i];
	} else {
		for (uint32_t k = 0; k < nh; k++) {
			w->nodes[2 * k].theirs = theirs[k];
			w->nodes[2 * k + 1].theirs ^= theirs[k];
		}
	}
	for (uint32_t i = 0; i < w->n; i++) {
		struct mwalk_node *nd = &w->nodes[i];
		uint64_t mine;

		if (!own(arg, nd->tree, w->level, nd->index, &mine)) {
			if (unknown != NULL)
				unknown[i / 8] |= (uint8_t)(1u << (i % 8));
			continue;
		}
		if (mine != nd->theirs)
			bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
	}
	return DKV_OK;
}

int
mwalk_keep(struct mwalk *w, const uint8_t *bitmap, size_t len)
{
	uint32_t kept = 0;

	if (w->done || len != mwalk_bitmap_len(w))
		return DKV_EINVAL;
	if (w->n % 8 != 0 && (bitmap[len - 1] >> (w->n % 8)) != 0)
		return DKV_EINVAL; /* bits past the frontier */
	for (uint32_t i = 0; i < w->n; i++)
		if (mwalk_bit(bitmap, i))
			w->nodes[kept++] = w->nodes[i];
	if (w->level == w->depth) {
		w->n = kept;
		w->done = true;
		return (int)kept;
	}
	/* down a level: each kept node gives its two children, written from
	 * the end so that no node is overwritten before it is read (kept <=
	 * n, and 2 * kept fits: the frontier is bounded by ntrees << depth) */
	if (kept > 0) {
		struct mwalk_node *nn = mem_reallocarray(w->nodes, 2 * (size_t)kept, sizeof(*nn));

		if (nn == NULL)
			return DKV_ENOMEM;
		w->nodes = nn;
		for (uint32_t i = kept; i-- > 0;) {
			struct mwalk_node p = nn[i];

			nn[2 * i].tree = nn[2 * i + 1].tree = p.tree;
			nn[2 * i].index = 2 * p.index;
			nn[2 * i + 1].index = 2 * p.index + 1;
			nn[2 * i].theirs = 0;
			nn[2 * i + 1].theirs = p.theirs; /* until the left one comes */
		}
	}
	w->n = 2 * kept;
	w->level++;
	return (int)kept;
}
