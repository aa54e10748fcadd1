/* Anti-entropy's Merkle trees, one per replicated range (see ae_trees.h). */
#include "config.h"

#include <string.h>

#include "ae_trees.h"
#include "libdkv/dkv.h"
#include "util/alloc.h"

static const struct token token_max = {UINT64_MAX, UINT64_MAX};

static struct token
token_next(struct token t)
{
	return token_from_u128(token_to_u128(t) + 1);
}

int
ae_trees_init(struct ae_trees *a, struct store *s, unsigned depth)
{
	memset(a, 0, sizeof(*a));
	if (depth < MERKLE_MIN_DEPTH || depth > MERKLE_MAX_DEPTH)
		return DKV_EINVAL;
	a->store = s;
	a->depth = depth;
	{
		pthread_rwlockattr_t attr;
		int err;

		/* glibc's rwlocks prefer readers by default: a build (writer)
		 * could wait for ever behind a steady stream of store writes */
		pthread_rwlockattr_init(&attr);
		pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		err = pthread_rwlock_init(&a->lock, &attr);
		pthread_rwlockattr_destroy(&attr);
		if (err != 0)
			return DKV_ENOMEM;
	}
	return DKV_OK;
}

static void
free_ranges(struct ae_range *r, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		merkle_free(&r[i].tree);
	mem_free(r);
}

void
ae_trees_free(struct ae_trees *a)
{
	free_ranges(a->r, a->n);
	a->r = NULL;
	a->n = 0;
	pthread_rwlock_destroy(&a->lock);
}

/* The first range whose hi is at or after t (a->n when none is). */
static uint32_t
first_hi_from(const struct ae_trees *a, struct token t)
{
	uint32_t b = 0, e = a->n;

	while (b < e) {
		uint32_t m = b + (e - b) / 2;

		if (token_cmp(a->r[m].hi, t) < 0)
			b = m + 1;
		else
			e = m;
	}
	return b;
}

int
ae_trees_find(const struct ae_trees *a, struct token lo, struct token hi)
{
	uint32_t b = first_hi_from(a, hi);

	if (b < a->n && token_cmp(a->r[b].hi, hi) == 0 && token_cmp(a->r[b].lo, lo) == 0)
		return (int)b;
	return -1;
}

int
ae_trees_set_ranges(struct ae_trees *a, const struct ae_range *specs, uint32_t n)
{
	struct ae_range *nr = mem_calloc(n ? n : 1, sizeof(*nr));

	if (nr == NULL)
		return DKV_ENOMEM;
	pthread_rwlock_wrlock(&a->lock);
	for (uint32_t i = 0; i < n; i++) {
		int old = ae_trees_find(a, specs[i].lo, specs[i].hi);

		nr[i] = specs[i];
		memset(&nr[i].tree, 0, sizeof(nr[i].tree));
		nr[i].built = false;
		if (old >= 0 && a->r[old].built) {
			nr[i].tree = a->r[old].tree;
			nr[i].built = true;
			memset(&a->r[old].tree, 0, sizeof(a->r[old].tree));
			a->r[old].built = false;
		}
	}
	free_ranges(a->r, a->n);
	a->r = nr;
	a->n = n;
	pthread_rwlock_unlock(&a->lock);
	return DKV_OK;
}

/* --- scanning a range --------------------------------------------------- */

struct scan_call {
	int (*fn)(struct token t, const uint8_t *key, size_t klen, const void *obj, size_t olen,
	          void *arg);
	void *arg;
	bool stopped;
};

static int
scan_one(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	struct scan_call *sc = arg;
	const uint8_t *p = k;

	if (klen <= OBJECT_KEY_OVERHEAD || p[0] != STORE_NS_OBJECT)
		return 0; /* not an object record: cannot be, by the bounds */
	if (sc->fn(token_from_bytes(p + 1), p + OBJECT_KEY_OVERHEAD, klen - OBJECT_KEY_OVERHEAD, v,
	           vlen, sc->arg) != 0) {
		sc->stopped = true;
		return 1;
	}
	return 0;
}

/* Objects with tokens in [from, to], as one store scan. */
static int
scan_closed(struct store *s, struct token from, struct token to, struct scan_call *sc)
{
	uint8_t start[1 + TOKEN_BYTES], limit[1 + TOKEN_BYTES];
	size_t llen = sizeof(limit);

	start[0] = STORE_NS_OBJECT;
	token_to_bytes(from, start + 1);
	if (token_cmp(to, token_max) == 0) {
		limit[0] = STORE_NS_OBJECT + 1; /* to the end of the objects */
		llen = 1;
	} else {
		limit[0] = STORE_NS_OBJECT;
		token_to_bytes(token_next(to), limit + 1);
	}
	return store_scan(s, start, sizeof(start), limit, llen, scan_one, sc);
}

int
ae_scan_range(struct store *s, struct token lo, struct token hi,
              int (*fn)(struct token t, const uint8_t *key, size_t klen, const void *obj,
                        size_t olen, void *arg),
              void *arg)
{
	static const struct token zero = {0, 0};
	struct scan_call sc = {fn, arg, false};
	int c = token_cmp(lo, hi), err;

	if (c < 0)
		return scan_closed(s, token_next(lo), hi, &sc);
	/* the whole ring, or wrapping past zero: (lo, max] then [0, hi] */
	if (c == 0) {
		if ((err = scan_closed(s, zero, token_max, &sc)) != DKV_OK)
			return err;
		return DKV_OK;
	}
	if (token_cmp(lo, token_max) != 0 &&
	    ((err = scan_closed(s, token_next(lo), token_max, &sc)) != DKV_OK || sc.stopped))
		return err;
	return scan_closed(s, zero, hi, &sc);
}

/* --- building and following ----------------------------------------------- */

static int
add_entry(struct token t, const uint8_t *key, size_t klen, const void *obj, size_t olen,
          void *arg)
{
	struct merkle *m = arg;
	struct merkle_hash h = merkle_entry_hash(key, klen, obj, olen);

	merkle_update(m, t, NULL, &h);
	return 0;
}

int
ae_trees_ensure(struct ae_trees *a, uint32_t i)
{
	struct ae_range *r;
	int err = DKV_OK;

	if (i >= a->n)
		return DKV_EINVAL;
	r = &a->r[i];
	if (r->built)
		return DKV_OK; /* only the loop thread builds */
	pthread_rwlock_wrlock(&a->lock);
	if ((err = merkle_init(&r->tree, r->lo, r->hi, a->depth)) == DKV_OK) {
		err = ae_scan_range(a->store, r->lo, r->hi, add_entry, &r->tree);
		if (err == DKV_OK) {
			r->built = true;
			a->built_total++;
		} else {
			merkle_free(&r->tree);
		}
	}
	pthread_rwlock_unlock(&a->lock);
	return err;
}

/* The range holding t, or NULL (this peer does not replicate it). */
static struct ae_range *
range_of(struct ae_trees *a, struct token t)
{
	uint32_t b;

	if (a->n == 0)
		return NULL;
	b = first_hi_from(a, t);
	if (b < a->n && token_in_range(a->r[b].lo, a->r[b].hi, t))
		return &a->r[b];
	/* past every hi, or before the first range: only a range that wraps
	 * (the one with the smallest hi) can hold it */
	if (token_in_range(a->r[0].lo, a->r[0].hi, t))
		return &a->r[0];
	return NULL;
}

void
ae_trees_write_begin(void *arg)
{
	struct ae_trees *a = arg;

	pthread_rwlock_rdlock(&a->lock);
}

void
ae_trees_write_end(void *arg, struct token t, const void *key, size_t klen, const void *old,
                   size_t oldlen, const void *now, size_t nowlen, bool written)
{
	struct ae_trees *a = arg;
	struct ae_range *r;

	if (written && (r = range_of(a, t)) != NULL && r->built) {
		struct merkle_hash ho, hn;

		if (old != NULL)
			ho = merkle_entry_hash(key, klen, old, oldlen);
		if (now != NULL)
			hn = merkle_entry_hash(key, klen, now, nowlen);
		merkle_update(&r->tree, t, old != NULL ? &ho : NULL, now != NULL ? &hn : NULL);
	}
	pthread_rwlock_unlock(&a->lock);
}
