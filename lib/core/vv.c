/*
 * Version vectors (see vv.h). Vectors hold one entry per actor that ever
 * wrote a key, a handful in practice, so lookups are linear scans over an
 * inline array and the hot path allocates nothing.
 */
#include "config.h"

#include <string.h>

#include "libdkv/dkv.h"
#include "core/bytes.h"
#include "core/vv.h"
#include "util/alloc.h"

int
actor_set(struct actor *a, const void *id, size_t len)
{
	if (len == 0 || len > ACTOR_MAX)
		return DKV_EINVAL;
	a->len = (uint8_t)len;
	memcpy(a->id, id, len);
	return DKV_OK;
}

bool
actor_eq(const struct actor *a, const struct actor *b)
{
	return a->len == b->len && memcmp(a->id, b->id, a->len) == 0;
}

int
actor_cmp(const struct actor *a, const struct actor *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->id, b->id, n);

	if (c != 0)
		return c;
	return (int)a->len - (int)b->len;
}

void
vv_init(struct vv *v)
{
	v->n = 0;
	v->cap = VV_SMALL;
	v->heap = NULL;
}

void
vv_free(struct vv *v)
{
	mem_free(v->heap);
	vv_init(v);
}

struct vv_entry *
vv_entries(struct vv *v)
{
	return v->heap != NULL ? v->heap : v->small;
}

const struct vv_entry *
vv_entries_const(const struct vv *v)
{
	return v->heap != NULL ? v->heap : v->small;
}

static int
vv_reserve(struct vv *v, uint32_t want)
{
	struct vv_entry *e;
	uint32_t cap;

	if (want <= v->cap)
		return DKV_OK;
	if (want > VV_MAX_ENTRIES)
		return DKV_ETOOBIG;
	cap = v->cap * 2 < want ? want : v->cap * 2;
	if (cap > VV_MAX_ENTRIES)
		cap = VV_MAX_ENTRIES;
	if (v->heap == NULL) {
		e = mem_reallocarray(NULL, cap, sizeof(*e));
		if (e == NULL)
			return DKV_ENOMEM;
		memcpy(e, v->small, v->n * sizeof(*e));
	} else {
		e = mem_reallocarray(v->heap, cap, sizeof(*e));
		if (e == NULL)
			return DKV_ENOMEM;
	}
	v->heap = e;
	v->cap = cap;
	return DKV_OK;
}

int
vv_copy(struct vv *dst, const struct vv *src)
{
	int err;

	dst->n = 0;
	if ((err = vv_reserve(dst, src->n)) != DKV_OK)
		return err;
	memcpy(vv_entries(dst), vv_entries_const(src), src->n * sizeof(struct vv_entry));
	dst->n = src->n;
	return DKV_OK;
}

int
vv_index(const struct vv *v, const struct actor *a)
{
	const struct vv_entry *e = vv_entries_const(v);

	for (uint32_t i = 0; i < v->n; i++)
		if (actor_eq(&e[i].actor, a))
			return (int)i;
	return -1;
}

uint64_t
vv_get(const struct vv *v, const struct actor *a)
{
	int i = vv_index(v, a);

	return i < 0 ? 0 : vv_entries_const(v)[i].counter;
}

int
vv_set(struct vv *v, const struct actor *a, uint64_t counter)
{
	int i = vv_index(v, a);
	int err;

	if (i >= 0) {
		vv_entries(v)[i].counter = counter;
		return DKV_OK;
	}
	if ((err = vv_reserve(v, v->n + 1)) != DKV_OK)
		return err;
	vv_entries(v)[v->n].actor = *a;
	vv_entries(v)[v->n].counter = counter;
	v->n++;
	return DKV_OK;
}

int
vv_merge(struct vv *dst, const struct vv *src)
{
	const struct vv_entry *s = vv_entries_const(src);
	int err;

	for (uint32_t i = 0; i < src->n; i++) {
		int j = vv_index(dst, &s[i].actor);

		if (j >= 0) {
			struct vv_entry *d = &vv_entries(dst)[j];

			if (s[i].counter > d->counter)
				d->counter = s[i].counter;
		} else if ((err = vv_set(dst, &s[i].actor, s[i].counter)) != DKV_OK) {
			return err;
		}
	}
	return DKV_OK;
}

bool
vv_covers(const struct vv *v, const struct actor *a, uint64_t counter)
{
	return vv_get(v, a) >= counter;
}

/* Does a have every event b has? */
static bool
vv_dominates_or_equal(const struct vv *a, const struct vv *b)
{
	const struct vv_entry *e = vv_entries_const(b);

	for (uint32_t i = 0; i < b->n; i++)
		if (vv_get(a, &e[i].actor) < e[i].counter)
			return false;
	return true;
}

enum vv_order
vv_compare(const struct vv *a, const struct vv *b)
{
	bool ab = vv_dominates_or_equal(a, b);
	bool ba = vv_dominates_or_equal(b, a);

	if (ab && ba)
		return VV_EQUAL;
	if (ab)
		return VV_AFTER;
	if (ba)
		return VV_BEFORE;
	return VV_CONCURRENT;
}

size_t
vv_encoded_size(const struct vv *v)
{
	const struct vv_entry *e = vv_entries_const(v);
	size_t n = 1 + 2;

	for (uint32_t i = 0; i < v->n; i++)
		if (e[i].counter > 0)
			n += 1 + e[i].actor.len + 8;
	return n;
}

void
vv_encode(const struct vv *v, uint8_t *out)
{
	const struct vv_entry *e = vv_entries_const(v);
	struct wr w = {out, 0};
	uint16_t count = 0;

	for (uint32_t i = 0; i < v->n; i++)
		count += e[i].counter > 0;
	wr_u8(&w, VV_CONTEXT_FORMAT);
	wr_u16(&w, count);
	for (uint32_t i = 0; i < v->n; i++) {
		if (e[i].counter == 0)
			continue;
		wr_u8(&w, e[i].actor.len);
		wr_bytes(&w, e[i].actor.id, e[i].actor.len);
		wr_u64(&w, e[i].counter);
	}
}

int
vv_decode(struct vv *v, const void *buf, size_t len)
{
	struct rd r = rd_init(buf, len);
	struct actor a;
	uint16_t count;
	int err = DKV_EINVAL;

	vv_init(v);
	if (buf == NULL || rd_u8(&r) != VV_CONTEXT_FORMAT)
		goto fail;
	count = rd_u16(&r);
	if (r.bad || count > VV_MAX_ENTRIES)
		goto fail;
	for (uint16_t i = 0; i < count; i++) {
		uint8_t alen = rd_u8(&r);
		const uint8_t *id = rd_bytes(&r, alen);
		uint64_t counter = rd_u64(&r);

		if (r.bad || actor_set(&a, id, alen) != DKV_OK || counter == 0)
			goto fail;
		if (vv_index(v, &a) >= 0)
			goto fail;
		if ((err = vv_set(v, &a, counter)) != DKV_OK)
			goto fail;
		err = DKV_EINVAL;
	}
	if (r.left != 0)
		goto fail;
	return DKV_OK;
fail:
	vv_free(v);
	return err;
}
