/*
 * Range moves (see moves.h): planning from two rings, and the state of
 * each move.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "libdkv/dkv.h"
#include "core/moves.h"
#include "util/alloc.h"

static int
tok_cmp(const void *a, const void *b)
{
	return token_cmp(*(const struct token *)a, *(const struct token *)b);
}

/* The replicas of range (.., hi] in r, as ids. */
static uint32_t
replicas_at(const struct ring *r, const struct actor *ids, const struct replication *rep,
            struct token hi, struct actor *out)
{
	uint32_t idx[RING_MAX_REPLICAS], n;

	n = ring_preference(r, hi, rep, idx, RING_MAX_REPLICAS);
	for (uint32_t k = 0; k < n; k++)
		out[k] = ids[idx[k]];
	return n;
}

int
moves_each(const struct ring *cur, const struct actor *cur_ids, const struct ring *next,
           const struct actor *next_ids, const struct replication *rep, moves_fn fn, void *arg)
{
	struct actor a[RING_MAX_REPLICAS], b[RING_MAX_REPLICAS];
	struct token *t;
	uint32_t nb = 0, u = 0;

	if (cur->n == 0 || next->n == 0)
		return DKV_OK;
	t = mem_reallocarray(NULL, (size_t)cur->n + next->n + 1, sizeof(*t));
	if (t == NULL)
		return DKV_ENOMEM;
	for (uint32_t i = 0; i < cur->n; i++)
		t[nb++] = cur->entries[i].token;
	for (uint32_t i = 0; i < next->n; i++)
		t[nb++] = next->entries[i].token;
	qsort(t, nb, sizeof(*t), tok_cmp);
	for (uint32_t i = 0; i < nb; i++)
		if (u == 0 || token_cmp(t[u - 1], t[i]) != 0)
			t[u++] = t[i];
	if (u == 1) {
		/* one token: (t, t] would be the whole ring; cut it in halves */
		t[1] = token_from_u128(token_to_u128(t[0]) + ((token_u128)1 << 127));
		u = 2;
		qsort(t, u, sizeof(*t), tok_cmp);
	}
	for (uint32_t i = 0; i < u; i++) {
		struct token lo = t[(i + u - 1) % u], hi = t[i];
		uint32_t na = replicas_at(cur, cur_ids, rep, hi, a);
		uint32_t nn = replicas_at(next, next_ids, rep, hi, b);

		fn(lo, hi, a, na, b, nn, arg);
	}
	mem_free(t);
	return DKV_OK;
}

static bool
has(const struct actor *set, uint32_t n, const struct actor *id)
{
	for (uint32_t i = 0; i < n; i++)
		if (actor_eq(&set[i], id))
			return true;
	return false;
}

struct plan {
	const struct actor *self;
	struct move *m;
	uint32_t n, cap;
	struct token first_lo;
	int err;
};

static struct move *
plan_add(struct plan *p)
{
	if (p->n == p->cap) {
		uint32_t cap = p->cap ? 2 * p->cap : 64;
		struct move *m = mem_reallocarray(p->m, cap, sizeof(*m));

		if (m == NULL) {
			p->err = DKV_ENOMEM;
			return NULL;
		}
		p->m = m;
		p->cap = cap;
	}
	memset(&p->m[p->n], 0, sizeof(p->m[0]));
	return &p->m[p->n++];
}

static bool
same_sources(const struct move *m, const struct actor *src, uint32_t n)
{
	if (m->nsrc != n)
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!actor_eq(&m->src[i].id, &src[i]))
			return false;
	return true;
}

static void
gain_fn(struct token lo, struct token hi, const struct actor *cur, uint32_t ncur,
        const struct actor *next, uint32_t nnext, void *arg)
{
	struct plan *p = arg;
	struct move *m;

	if (p->err != DKV_OK || !has(next, nnext, p->self) || has(cur, ncur, p->self) || ncur == 0)
		return;
	/* a range that follows the last one, from the same sources, extends
	 * it (never round to the whole ring) */
	if (p->n > 0) {
		m = &p->m[p->n - 1];
		if (token_cmp(m->hi, lo) == 0 && same_sources(m, cur, ncur) &&
		    token_cmp(hi, p->m[0].lo) != 0) {
			m->hi = hi;
			return;
		}
	}
	if ((m = plan_add(p)) == NULL)
		return;
	m->lo = lo;
	m->hi = hi;
	m->nsrc = ncur;
	for (uint32_t i = 0; i < ncur; i++)
		m->src[i].id = cur[i];
}

static void
served_fn(struct token lo, struct token hi, const struct actor *cur, uint32_t ncur,
          const struct actor *next, uint32_t nnext, void *arg)
{
	struct plan *p = arg;

	if (p->err != DKV_OK || !has(cur, ncur, p->self))
		return;
	for (uint32_t i = 0; i < nnext; i++) {
		struct move *m;

		if (has(cur, ncur, &next[i]) || (m = plan_add(p)) == NULL)
			continue;
		m->lo = lo;
		m->hi = hi;
		m->nsrc = 1;
		m->src[0].id = next[i];
	}
}

static int
plan_run(const struct ring *cur, const struct actor *cur_ids, const struct ring *next,
         const struct actor *next_ids, const struct replication *rep, const struct actor *self,
         moves_fn fn, struct move **out, uint32_t *n)
{
	struct plan p = {.self = self, .err = DKV_OK};
	int err;

	*out = NULL;
	*n = 0;
	err = moves_each(cur, cur_ids, next, next_ids, rep, fn, &p);
	if (err == DKV_OK)
		err = p.err;
	if (err != DKV_OK) {
		mem_free(p.m);
		return err;
	}
	*out = p.m;
	*n = p.n;
	return DKV_OK;
}

int
moves_plan_gains(const struct ring *cur, const struct actor *cur_ids, const struct ring *next,
                 const struct actor *next_ids, const struct replication *rep,
                 const struct actor *self, struct move **out, uint32_t *n)
{
	return plan_run(cur, cur_ids, next, next_ids, rep, self, gain_fn, out, n);
}

int
moves_plan_served(const struct ring *cur, const struct actor *cur_ids, const struct ring *next,
                  const struct actor *next_ids, const struct replication *rep,
                  const struct actor *self, struct move **out, uint32_t *n)
{
	return plan_run(cur, cur_ids, next, next_ids, rep, self, served_fn, out, n);
}

/* --- the moves' state ----------------------------------------------------- */

void
moves_init(struct moves *mv)
{
	memset(mv, 0, sizeof(*mv));
	mv->next_sid = 1;
}

static void
free_plan(struct move *m, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t k = 0; k < m[i].nsrc; k++)
			mem_free(m[i].src[k].cur_key);
	mem_free(m);
}

void
moves_free(struct moves *mv)
{
	free_plan(mv->m, mv->n);
	mv->m = NULL;
	mv->n = 0;
}

/* Takes over the progress of the source id of range (lo, hi] from the
 * old plan, if it had one: every old move of that range is looked at (a
 * leaver's served plan has one move per gainer of a range). */
static void
take_progress(struct moves *mv, struct token lo, struct token hi, struct move_src *s)
{
	for (uint32_t i = 0; i < mv->n; i++) {
		struct move *old = &mv->m[i];

		if (token_cmp(old->lo, lo) != 0 || token_cmp(old->hi, hi) != 0)
			continue;
		for (uint32_t j = 0; j < old->nsrc; j++) {
			if (!actor_eq(&old->src[j].id, &s->id))
				continue;
			*s = old->src[j]; /* its progress, cursor taken over */
			old->src[j].cur_key = NULL;
			return;
		}
	}
}

void
moves_set(struct moves *mv, struct move *plan, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct move *m = &plan[i];
		bool all_done = m->nsrc > 0;

		for (uint32_t k = 0; k < m->nsrc; k++) {
			struct move_src *s = &m->src[k];

			s->state = MOVE_IDLE;
			s->cur_key = NULL;
			s->has_cursor = false;
			take_progress(mv, m->lo, m->hi, s);
			all_done = all_done && s->state == MOVE_DONE;
		}
		/* done again at once when every source is; otherwise the
		 * next moves_settle says */
		m->done = all_done;
	}
	free_plan(mv->m, mv->n);
	mv->m = plan;
	mv->n = n;
	mv->epoch++;
}

static bool
waiting(const struct move_src *s, uint64_t now_ms)
{
	return s->state == MOVE_WAIT && now_ms < s->sent_ms + MOVES_RESEND_MS;
}

/* Requests in flight to source id. */
static uint32_t
waiting_at(const struct moves *mv, const struct actor *id, uint64_t now_ms)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < mv->n; i++)
		for (uint32_t j = 0; j < mv->m[i].nsrc; j++)
			n += waiting(&mv->m[i].src[j], now_ms) && actor_eq(&mv->m[i].src[j].id, id);
	return n;
}

uint32_t
moves_due(struct moves *mv, uint64_t now_ms, bool (*up)(const struct actor *id, void *arg),
          void *arg, struct move_req *out, uint32_t max)
{
	uint32_t inflight = 0, k = 0;

	for (uint32_t i = 0; i < mv->n; i++)
		for (uint32_t j = 0; j < mv->m[i].nsrc; j++)
			inflight += waiting(&mv->m[i].src[j], now_ms);
	for (uint32_t i = 0; i < mv->n && k < max && inflight < MOVES_INFLIGHT; i++) {
		struct move *m = &mv->m[i];

		/* a done range still pulls from a source that was down and is
		 * back: a leaver waits for exactly that */
		for (uint32_t j = 0; j < m->nsrc && k < max && inflight < MOVES_INFLIGHT; j++) {
			struct move_src *s = &m->src[j];
			struct move_req *r = &out[k];

			if (s->state == MOVE_DONE || waiting(s, now_ms) ||
			    waiting_at(mv, &s->id, now_ms) >= MOVES_PER_SOURCE || !up(&s->id, arg))
				continue;
			s->state = MOVE_WAIT;
			s->sid = mv->next_sid++;
			s->sent_ms = now_ms;
			r->to = s->id;
			r->sid = s->sid;
			r->lo = m->lo;
			r->hi = m->hi;
			r->has_cursor = s->has_cursor;
			r->cur_t = s->cur_t;
			r->cur_key = s->cur_key;
			r->cur_klen = s->cur_klen;
			k++;
			inflight++;
		}
	}
	return k;
}

/* The source awaiting request sid (and its move in *m), or NULL. */
static struct move_src *
find_sid(const struct moves *mv, uint64_t sid, struct move **m)
{
	for (uint32_t i = 0; i < mv->n; i++)
		for (uint32_t j = 0; j < mv->m[i].nsrc; j++)
			if (mv->m[i].src[j].state == MOVE_WAIT && mv->m[i].src[j].sid == sid) {
				if (m != NULL)
					*m = &mv->m[i];
				return &mv->m[i].src[j];
			}
	return NULL;
}

int
moves_applied(struct moves *mv, uint64_t sid, bool last, struct token t, const uint8_t *key,
              uint16_t klen)
{
	struct move_src *s = find_sid(mv, sid, NULL);
	uint8_t *copy;

	if (s == NULL)
		return DKV_ENOTFOUND;
	if (last) {
		s->state = MOVE_DONE;
		return DKV_OK;
	}
	s->state = MOVE_IDLE;
	if (klen == 0)
		return DKV_OK; /* an empty batch that is not the last: ask again */
	if ((copy = mem_alloc(klen)) == NULL)
		return DKV_ENOMEM;
	memcpy(copy, key, klen);
	mem_free(s->cur_key);
	s->cur_key = copy;
	s->cur_klen = klen;
	s->cur_t = t;
	s->has_cursor = true;
	return DKV_OK;
}

bool
moves_find(const struct moves *mv, uint64_t sid, struct token *lo, struct token *hi)
{
	struct move *m;

	if (find_sid(mv, sid, &m) == NULL)
		return false;
	*lo = m->lo;
	*hi = m->hi;
	return true;
}

const struct actor *
moves_source_of(const struct moves *mv, uint64_t sid)
{
	const struct move_src *s = find_sid(mv, sid, NULL);

	return s != NULL ? &s->id : NULL;
}

void
moves_reset_source(struct moves *mv, const struct actor *id)
{
	for (uint32_t i = 0; i < mv->n; i++)
		for (uint32_t j = 0; j < mv->m[i].nsrc; j++)
			if (mv->m[i].src[j].state == MOVE_DONE && actor_eq(&mv->m[i].src[j].id, id))
				mv->m[i].src[j].state = MOVE_IDLE; /* from its last cursor */
}

void
moves_refused(struct moves *mv, uint64_t sid, uint64_t now_ms)
{
	struct move_src *s = find_sid(mv, sid, NULL);

	if (s != NULL)
		s->sent_ms = now_ms; /* still MOVE_WAIT: due again after the resend delay */
}

bool
moves_settle(struct moves *mv, bool (*up)(const struct actor *id, void *arg), void *arg)
{
	bool all = true;

	for (uint32_t i = 0; i < mv->n; i++) {
		struct move *m = &mv->m[i];
		uint32_t done = 0, gone = 0;

		if (m->done)
			continue;
		uint32_t need = 1;

		for (uint32_t j = 0; j < m->nsrc; j++) {
			done += m->src[j].state == MOVE_DONE;
			gone += m->src[j].state != MOVE_DONE && !up(&m->src[j].id, arg);
		}
		/* a write acknowledged by w replicas is on one of any
		 * nsrc + 1 - w of them */
		if (mv->write_w > 0 && m->nsrc + 1 > mv->write_w)
			need = m->nsrc + 1 - mv->write_w;
		m->done = done >= need && done + gone == m->nsrc;
		all = all && m->done;
	}
	return all;
}

/* Whether (lo, hi] lies within (a, b] (both cut from the same tokens). */
static bool
range_within(struct token lo, struct token hi, struct token a, struct token b)
{
	if (token_cmp(a, b) == 0)
		return true; /* (a, a] is the whole ring */
	if (!token_in_range(a, b, hi))
		return false;
	return token_cmp(lo, a) == 0 || token_in_range(a, b, lo);
}

void
moves_mark_served(struct moves *mv, const struct actor *gainer, struct token lo, struct token hi)
{
	for (uint32_t i = 0; i < mv->n; i++) {
		struct move *m = &mv->m[i];

		if (m->nsrc > 0 && actor_eq(&m->src[0].id, gainer) &&
		    range_within(m->lo, m->hi, lo, hi)) {
			m->src[0].state = MOVE_DONE;
			m->done = true;
		}
	}
}

void
moves_count(const struct moves *mv, uint32_t *done, uint32_t *total)
{
	*done = 0;
	for (uint32_t i = 0; i < mv->n; i++)
		*done += mv->m[i].done;
	*total = mv->n;
}
