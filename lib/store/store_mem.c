/*
 * The in-memory store: an ordered red-black tree (libbsd's tree.h) behind a
 * mutex. Unit tests and the simulator run the same core code on it that
 * production runs on LevelDB.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* libbsd's tree.h marks generated functions __unused, which glibc's
 * headers cannot define (a struct member has that name). */
#ifndef __unused
#define __unused __attribute__((__unused__))
#endif
#include <bsd/sys/tree.h>

#include "libdkv/dkv.h"
#include "store/store.h"
#include "util/alloc.h"

struct mem_entry {
	RB_ENTRY(mem_entry) link;
	size_t klen, vlen;
	uint8_t *key, *val;
};

static int
mem_entry_cmp(const struct mem_entry *a, const struct mem_entry *b)
{
	size_t n = a->klen < b->klen ? a->klen : b->klen;
	int c = memcmp(a->key, b->key, n);

	if (c != 0)
		return c;
	return a->klen < b->klen ? -1 : a->klen > b->klen;
}

RB_HEAD(mem_tree, mem_entry);
RB_GENERATE_STATIC(mem_tree, mem_entry, link, mem_entry_cmp)

struct store_mem {
	struct store base;
	pthread_mutex_t lock;
	struct mem_tree tree;
	uint64_t bytes;
};

static struct mem_entry *
mem_find(struct store_mem *m, const void *k, size_t klen)
{
	struct mem_entry probe = {.klen = klen, .key = (uint8_t *)(uintptr_t)k};

	return RB_FIND(mem_tree, &m->tree, &probe);
}

static int
mem_get(struct store *s, const void *k, size_t klen, void **val, size_t *vlen)
{
	struct store_mem *m = (struct store_mem *)s;
	struct mem_entry *e;
	int err = DKV_ENOTFOUND;

	pthread_mutex_lock(&m->lock);
	e = mem_find(m, k, klen);
	if (e != NULL) {
		void *copy = mem_alloc(e->vlen);

		if (copy == NULL) {
			err = DKV_ENOMEM;
		} else {
			memcpy(copy, e->val, e->vlen);
			*val = copy;
			*vlen = e->vlen;
			err = DKV_OK;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return err;
}

static int
mem_put(struct store *s, const void *k, size_t klen, const void *v, size_t vlen,
        bool sync)
{
	struct store_mem *m = (struct store_mem *)s;
	struct mem_entry *e;
	uint8_t *nv = mem_alloc(vlen);
	int err = DKV_OK;

	(void)sync;
	if (nv == NULL)
		return DKV_ENOMEM;
	memcpy(nv, v, vlen);
	pthread_mutex_lock(&m->lock);
	e = mem_find(m, k, klen);
	if (e != NULL) {
		m->bytes -= e->vlen;
		mem_free(e->val);
	} else {
		e = mem_calloc(1, sizeof(*e));
		if (e != NULL && (e->key = mem_alloc(klen)) == NULL) {
			mem_free(e);
			e = NULL;
		}
		if (e == NULL) {
			mem_free(nv);
			err = DKV_ENOMEM;
			goto out;
		}
		memcpy(e->key, k, klen);
		e->klen = klen;
		RB_INSERT(mem_tree, &m->tree, e);
		m->bytes += klen;
	}
	e->val = nv;
	e->vlen = vlen;
	m->bytes += vlen;
out:
	pthread_mutex_unlock(&m->lock);
	return err;
}

static void
mem_entry_free(struct mem_entry *e)
{
	mem_free(e->key);
	mem_free(e->val);
	mem_free(e);
}

static int
mem_del(struct store *s, const void *k, size_t klen, bool sync)
{
	struct store_mem *m = (struct store_mem *)s;
	struct mem_entry *e;

	(void)sync;
	pthread_mutex_lock(&m->lock);
	e = mem_find(m, k, klen);
	if (e != NULL) {
		RB_REMOVE(mem_tree, &m->tree, e);
		m->bytes -= e->klen + e->vlen;
		mem_entry_free(e);
	}
	pthread_mutex_unlock(&m->lock);
	return DKV_OK;
}

static uint64_t
mem_approx_bytes(struct store *s)
{
	struct store_mem *m = (struct store_mem *)s;
	uint64_t n;

	pthread_mutex_lock(&m->lock);
	n = m->bytes;
	pthread_mutex_unlock(&m->lock);
	return n;
}

static int
bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = memcmp(a, b, n);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int
mem_scan(struct store *s, const void *start, size_t slen, const void *limit, size_t llen,
         int (*fn)(const void *k, size_t klen, const void *v, size_t vlen, void *arg), void *arg)
{
	struct store_mem *m = (struct store_mem *)s;
	struct mem_entry probe = {.klen = slen, .key = (uint8_t *)(uintptr_t)start};
	struct mem_entry *e;

	pthread_mutex_lock(&m->lock);
	for (e = RB_NFIND(mem_tree, &m->tree, &probe); e != NULL; e = RB_NEXT(mem_tree, &m->tree, e)) {
		if (limit != NULL && bytes_cmp(e->key, e->klen, limit, llen) >= 0)
			break;
		if (fn(e->key, e->klen, e->val, e->vlen, arg) != 0)
			break;
	}
	pthread_mutex_unlock(&m->lock);
	return DKV_OK;
}

static void
mem_free_value(void *val)
{
	mem_free(val);
}

static void
mem_close(struct store *s)
{
	struct store_mem *m = (struct store_mem *)s;
	struct mem_entry *e, *next;

	RB_FOREACH_SAFE(e, mem_tree, &m->tree, next) {
		RB_REMOVE(mem_tree, &m->tree, e);
		mem_entry_free(e);
	}
	pthread_mutex_destroy(&m->lock);
	mem_free(m);
}

static const struct store_ops mem_ops = {
	.get = mem_get,
	.put = mem_put,
	.del = mem_del,
	.approx_bytes = mem_approx_bytes,
	.scan = mem_scan,
	.free_value = mem_free_value,
	.close = mem_close,
};

int
store_mem_open(struct store **out)
{
	struct store_mem *m = mem_calloc(1, sizeof(*m));

	*out = NULL;
	if (m == NULL)
		return DKV_ENOMEM;
	m->base.ops = &mem_ops;
	pthread_mutex_init(&m->lock, NULL);
	RB_INIT(&m->tree);
	*out = &m->base;
	return DKV_OK;
}
