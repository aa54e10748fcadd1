/*
 * Versioned objects with dotted siblings (rules in object.h).
 *
 * Stored format, version 1, little-endian:
 *   u8  format (1)
 *   u16 actor count; per actor: u8 len, id bytes, u64 counter
 *       (the version vector, then writers that are not in it, counter 0)
 *   u16 sibling count; per sibling: u16 dot actor index, u64 dot counter,
 *       u16 writer index, u64 timestamp (µs), u8 flags, u32 length, bytes
 * Encoding is canonical (sorted), so replicas holding the same versions
 * hold the same bytes — which Merkle anti-entropy relies on.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "libdkv/dkv.h"
#include "core/bytes.h"
#include "core/object.h"
#include "util/alloc.h"

void
object_init(struct object *o)
{
	vv_init(&o->vv);
	o->n = 0;
	o->cap = OBJECT_SMALL;
	o->heap = NULL;
}

void
object_free(struct object *o)
{
	vv_free(&o->vv);
	mem_free(o->heap);
	o->heap = NULL;
	o->n = 0;
	o->cap = OBJECT_SMALL;
}

struct sibling *
object_siblings(struct object *o)
{
	return o->heap != NULL ? o->heap : o->small;
}

const struct sibling *
object_siblings_const(const struct object *o)
{
	return o->heap != NULL ? o->heap : o->small;
}

size_t
object_live_count(const struct object *o)
{
	const struct sibling *s = object_siblings_const(o);
	size_t live = 0;

	for (uint32_t i = 0; i < o->n; i++)
		live += !(s[i].flags & SIB_TOMBSTONE);
	return live;
}

bool
object_is_empty(const struct object *o)
{
	return o->n == 0;
}

bool
object_reapable(const struct object *o, uint64_t now_us, uint64_t grace_us)
{
	const struct sibling *s = object_siblings_const(o);

	if (o->n == 0)
		return false;
	for (uint32_t i = 0; i < o->n; i++)
		if (!(s[i].flags & SIB_TOMBSTONE) || s[i].ts_us > now_us || now_us - s[i].ts_us < grace_us)
			return false;
	return true;
}

static int
sib_reserve(struct object *o, uint32_t want)
{
	struct sibling *s;
	uint32_t cap;

	if (want <= o->cap)
		return DKV_OK;
	if (want > OBJECT_MAX_SIBLINGS)
		return DKV_ETOOBIG;
	cap = o->cap * 2 < want ? want : o->cap * 2;
	if (cap > OBJECT_MAX_SIBLINGS)
		cap = OBJECT_MAX_SIBLINGS;
	s = mem_reallocarray(o->heap, cap, sizeof(*s));
	if (s == NULL)
		return DKV_ENOMEM;
	if (o->heap == NULL)
		memcpy(s, o->small, o->n * sizeof(*s));
	o->heap = s;
	o->cap = cap;
	return DKV_OK;
}

static int
sib_push(struct object *o, const struct sibling *s)
{
	int err = sib_reserve(o, o->n + 1);

	if (err != DKV_OK)
		return err;
	object_siblings(o)[o->n++] = *s;
	return DKV_OK;
}

static bool
same_dot(const struct sibling *a, const struct sibling *b)
{
	return a->dot_counter == b->dot_counter && actor_eq(&a->dot_actor, &b->dot_actor);
}

/* Orders siblings for lww and for the canonical form: by dot. */
static int
dot_cmp(const struct sibling *a, const struct sibling *b)
{
	int c = actor_cmp(&a->dot_actor, &b->dot_actor);

	if (c != 0)
		return c;
	return a->dot_counter < b->dot_counter ? -1 : a->dot_counter > b->dot_counter;
}

static bool
lww_newer(const struct sibling *a, const struct sibling *b)
{
	if (a->ts_us != b->ts_us)
		return a->ts_us > b->ts_us;
	return dot_cmp(a, b) > 0;
}

/* lww: keep only the newest sibling. */
static void
keep_newest(struct object *o)
{
	struct sibling *s = object_siblings(o);
	uint32_t best = 0;

	if (o->n <= 1)
		return;
	for (uint32_t i = 1; i < o->n; i++)
		if (lww_newer(&s[i], &s[best]))
			best = i;
	s[0] = s[best];
	o->n = 1;
}

static bool
superseded_by_put(const struct sibling *s, const struct put_args *p)
{
	if (p->mode == CONFLICTS_LWW)
		return true; /* the new stamp is newer than every one held */
	if (p->ctx != NULL)
		return vv_covers(p->ctx, &s->dot_actor, s->dot_counter);
	return actor_eq(&s->writer, p->writer);
}

int
object_put(struct object *o, const struct put_args *p)
{
	struct sibling *s = object_siblings(o);
	struct sibling fresh;
	uint64_t counter, newest_ts = 0;
	uint32_t kept = 0;
	int err;

	for (uint32_t i = 0; i < o->n; i++) {
		if (s[i].ts_us > newest_ts)
			newest_ts = s[i].ts_us;
		if (!superseded_by_put(&s[i], p))
			s[kept++] = s[i];
	}
	if (kept + 1 > p->max_siblings)
		return DKV_ETOOBIG;
	o->n = kept;

	counter = vv_get(&o->vv, p->actor);
	if (p->ctx != NULL) {
		uint64_t seen = vv_get(p->ctx, p->actor);

		if (seen > counter)
			counter = seen;
		if ((err = vv_merge(&o->vv, p->ctx)) != DKV_OK)
			return err;
	}
	counter++;
	if ((err = vv_set(&o->vv, p->actor, counter)) != DKV_OK)
		return err;

	memset(&fresh, 0, sizeof(fresh));
	fresh.dot_actor = *p->actor;
	fresh.dot_counter = counter;
	fresh.writer = *p->writer;
	fresh.ts_us = p->now_us > newest_ts ? p->now_us : newest_ts + 1;
	fresh.flags = p->flags;
	fresh.val = p->val;
	fresh.vlen = p->vlen;
	return sib_push(o, &fresh);
}

static bool
holds_dot(const struct object *o, const struct sibling *d)
{
	const struct sibling *s = object_siblings_const(o);

	for (uint32_t i = 0; i < o->n; i++)
		if (same_dot(&s[i], d))
			return true;
	return false;
}

int
object_merge(struct object *dst, const struct object *src, enum conflict_mode mode)
{
	const struct sibling *ss = object_siblings_const(src);
	struct object out;
	int err;

	object_init(&out);
	for (uint32_t i = 0; i < dst->n; i++) {
		const struct sibling *d = &object_siblings(dst)[i];

		if (holds_dot(src, d) || !vv_covers(&src->vv, &d->dot_actor, d->dot_counter))
			if ((err = sib_push(&out, d)) != DKV_OK)
				goto fail;
	}
	for (uint32_t i = 0; i < src->n; i++) {
		if (holds_dot(dst, &ss[i]))
			continue;
		if (!vv_covers(&dst->vv, &ss[i].dot_actor, ss[i].dot_counter))
			if ((err = sib_push(&out, &ss[i])) != DKV_OK)
				goto fail;
	}
	if ((err = vv_copy(&out.vv, &dst->vv)) != DKV_OK)
		goto fail;
	if ((err = vv_merge(&out.vv, &src->vv)) != DKV_OK)
		goto fail;
	if (mode == CONFLICTS_LWW)
		keep_newest(&out);
	object_free(dst);
	*dst = out; /* inline arrays copy by value; heap ones move */
	return DKV_OK;
fail:
	object_free(&out);
	return err;
}

static int
sib_sort_cmp(const void *a, const void *b)
{
	return dot_cmp(a, b);
}

static int
entry_sort_cmp(const void *a, const void *b)
{
	const struct vv_entry *x = a, *y = b;

	return actor_cmp(&x->actor, &y->actor);
}

void
object_canonicalize(struct object *o)
{
	qsort(vv_entries(&o->vv), o->vv.n, sizeof(struct vv_entry), entry_sort_cmp);
	qsort(object_siblings(o), o->n, sizeof(struct sibling), sib_sort_cmp);
}

/* Index of sibling i's writer in the encoded actor table: the vector's
 * entries first, then writers missing from it in order of appearance. */
static uint32_t
writer_index(const struct object *o, uint32_t i, bool *is_new)
{
	const struct sibling *s = object_siblings_const(o);
	uint32_t extra = 0;
	int in_vv = vv_index(&o->vv, &s[i].writer);

	*is_new = false;
	if (in_vv >= 0)
		return (uint32_t)in_vv;
	for (uint32_t j = 0; j < i; j++) {
		bool seen_before = false;

		if (vv_index(&o->vv, &s[j].writer) >= 0)
			continue;
		for (uint32_t k = 0; k < j; k++)
			if (actor_eq(&s[k].writer, &s[j].writer)) {
				seen_before = true;
				break;
			}
		if (seen_before)
			continue;
		if (actor_eq(&s[j].writer, &s[i].writer))
			return o->vv.n + extra;
		extra++;
	}
	*is_new = true;
	return o->vv.n + extra;
}

size_t
object_encoded_size(const struct object *o)
{
	const struct vv_entry *e = vv_entries_const(&o->vv);
	const struct sibling *s = object_siblings_const(o);
	size_t n = 1 + 2 + 2;

	for (uint32_t i = 0; i < o->vv.n; i++)
		n += 1 + e[i].actor.len + 8;
	for (uint32_t i = 0; i < o->n; i++) {
		bool is_new;

		writer_index(o, i, &is_new);
		if (is_new)
			n += 1 + s[i].writer.len + 8;
		n += 2 + 8 + 2 + 8 + 1 + 4 + s[i].vlen;
	}
	return n;
}

void
object_encode(struct object *o, uint8_t *out)
{
	const struct vv_entry *e;
	const struct sibling *s;
	struct wr w = {out, 0};
	uint32_t nactors;

	object_canonicalize(o);
	e = vv_entries_const(&o->vv);
	s = object_siblings_const(o);
	nactors = o->vv.n;
	for (uint32_t i = 0; i < o->n; i++) {
		bool is_new;

		writer_index(o, i, &is_new);
		nactors += is_new;
	}
	wr_u8(&w, OBJECT_FORMAT);
	wr_u16(&w, (uint16_t)nactors);
	for (uint32_t i = 0; i < o->vv.n; i++) {
		wr_u8(&w, e[i].actor.len);
		wr_bytes(&w, e[i].actor.id, e[i].actor.len);
		wr_u64(&w, e[i].counter);
	}
	for (uint32_t i = 0; i < o->n; i++) {
		bool is_new;

		writer_index(o, i, &is_new);
		if (!is_new)
			continue;
		wr_u8(&w, s[i].writer.len);
		wr_bytes(&w, s[i].writer.id, s[i].writer.len);
		wr_u64(&w, 0);
	}
	wr_u16(&w, (uint16_t)o->n);
	for (uint32_t i = 0; i < o->n; i++) {
		bool is_new;

		wr_u16(&w, (uint16_t)vv_index(&o->vv, &s[i].dot_actor));
		wr_u64(&w, s[i].dot_counter);
		wr_u16(&w, (uint16_t)writer_index(o, i, &is_new));
		wr_u64(&w, s[i].ts_us);
		wr_u8(&w, s[i].flags);
		wr_u32(&w, s[i].vlen);
		wr_bytes(&w, s[i].val, s[i].vlen);
	}
}

int
object_decode(struct object *o, const void *buf, size_t len)
{
	struct rd r = rd_init(buf, len);
	struct actor small_table[8], *table = small_table;
	uint64_t small_counters[8], *counters = small_counters;
	uint16_t nactors, nsib;
	int err = DKV_EIO;

	object_init(o);
	if (rd_u8(&r) != OBJECT_FORMAT)
		goto fail;
	nactors = rd_u16(&r);
	if (r.bad || nactors == 0 || nactors > VV_MAX_ENTRIES + OBJECT_MAX_SIBLINGS)
		goto fail;
	if (nactors > 8) {
		table = mem_reallocarray(NULL, nactors, sizeof(*table));
		counters = mem_reallocarray(NULL, nactors, sizeof(*counters));
		if (table == NULL || counters == NULL) {
			err = DKV_ENOMEM;
			goto fail;
		}
	}
	for (uint16_t i = 0; i < nactors; i++) {
		uint8_t alen = rd_u8(&r);
		const uint8_t *id = rd_bytes(&r, alen);

		counters[i] = rd_u64(&r);
		if (r.bad || actor_set(&table[i], id, alen) != DKV_OK)
			goto fail;
		for (uint16_t j = 0; j < i; j++)
			if (actor_eq(&table[j], &table[i]))
				goto fail;
		if (counters[i] > 0) {
			int e2 = vv_set(&o->vv, &table[i], counters[i]);

			if (e2 != DKV_OK) {
				err = e2 == DKV_ENOMEM ? e2 : DKV_EIO;
				goto fail;
			}
		}
	}
	nsib = rd_u16(&r);
	if (r.bad || nsib == 0 || nsib > OBJECT_MAX_SIBLINGS)
		goto fail;
	for (uint16_t i = 0; i < nsib; i++) {
		struct sibling s;
		uint16_t dot_idx = rd_u16(&r);
		uint16_t writer_idx;

		s.dot_counter = rd_u64(&r);
		writer_idx = rd_u16(&r);
		s.ts_us = rd_u64(&r);
		s.flags = rd_u8(&r);
		s.vlen = rd_u32(&r);
		s.val = rd_bytes(&r, s.vlen);
		if (r.bad || dot_idx >= nactors || writer_idx >= nactors)
			goto fail;
		/* A dot the vector does not cover, or an unknown flag, is not
		 * something this code wrote. */
		if (s.dot_counter == 0 || s.dot_counter > counters[dot_idx] ||
		    (s.flags & ~SIB_TOMBSTONE) != 0)
			goto fail;
		s.dot_actor = table[dot_idx];
		s.writer = table[writer_idx];
		if (holds_dot(o, &s))
			goto fail;
		if ((err = sib_push(o, &s)) != DKV_OK) {
			err = err == DKV_ENOMEM ? err : DKV_EIO;
			goto fail;
		}
		err = DKV_EIO;
	}
	if (r.left != 0)
		goto fail;
	if (table != small_table) {
		mem_free(table);
		mem_free(counters);
	}
	return DKV_OK;
fail:
	if (table != small_table) {
		mem_free(table);
		mem_free(counters);
	}
	object_free(o);
	return err;
}

uint64_t
object_vv_sum(const void *buf, size_t len)
{
	struct object o;
	uint64_t sum = 0;

	if (object_decode(&o, buf, len) != DKV_OK)
		return 0;
	for (uint32_t i = 0; i < o.vv.n; i++)
		sum += vv_entries_const(&o.vv)[i].counter;
	object_free(&o);
	return sum;
}
