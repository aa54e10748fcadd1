/* One operation across a key's replicas (see coord.h). */
#include "config.h"

#include <string.h>

#include <bsd/string.h>

#include "core/coord.h"
#include "util/alloc.h"

static void
act(struct coord *c, uint8_t send, uint32_t target)
{
	/* room for two sends per target: a request and a repair */
	if (c->nactions < 2 * c->nt) {
		c->actions[c->nactions].send = send;
		c->actions[c->nactions].target = target;
		c->nactions++;
	}
	c->t[target].state = T_WAIT;
}

static void
answer(struct coord *c, int result)
{
	if (c->answered)
		return;
	c->answered = true;
	c->result = result;
}

/* Replicas for which f holds, as the quorum's boolean array. */
static const bool *
mark(struct coord *c, bool (*f)(const struct coord_target *t))
{
	for (uint32_t i = 0; i < c->n; i++)
		c->yes[i] = f(&c->t[i]);
	return c->yes;
}

static bool
is_up(const struct coord_target *t)
{
	return t->up;
}

static bool
is_done(const struct coord_target *t)
{
	return t->state == T_DONE;
}

/* Could still answer: not failed, and either answered, waiting, or up. */
static bool
is_hopeful(const struct coord_target *t)
{
	return t->state == T_DONE || t->state == T_WAIT || (t->state == T_IDLE && t->up);
}

static bool
all_settled(const struct coord *c)
{
	for (uint32_t i = 0; i < c->nt; i++)
		if (c->t[i].state == T_WAIT)
			return false;
	return true;
}

static void
set_quorum(struct coord *c, const struct coord_request *req, uint32_t ndcs, uint32_t local_dc,
           int *err)
{
	if (req->by_count) {
		*err = quorum_need(&c->q, DKV_ONE, c->dc_of, c->n, ndcs, local_dc);
		if (*err == DKV_OK) {
			c->q.total = req->count ? req->count : 1;
			if (c->q.total > c->n)
				c->q.total = c->n; /* fewer replicas than r/w: all of them */
		}
		return;
	}
	*err = quorum_need(&c->q, req->level, c->dc_of, c->n, ndcs, local_dc);
}

/* The replica to apply a write: this peer, else the first live one in
 * this peer's datacenter (LOCAL_* levels must not wait on another one),
 * else any live one; n when none is left. */
static uint32_t
choose_applier(const struct coord *c)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->t[i].local && c->t[i].state == T_IDLE)
			return i;
	for (uint32_t i = 0; i < c->n; i++)
		if (c->t[i].up && c->t[i].state == T_IDLE && c->dc_of[i] == c->local_dc)
			return i;
	for (uint32_t i = 0; i < c->n; i++)
		if (c->t[i].up && c->t[i].state == T_IDLE)
			return i;
	return c->n;
}

/* An unused live fallback of replica i's datacenter, or COORD_NONE. */
static uint32_t
free_fallback(const struct coord *c, uint32_t i)
{
	for (uint32_t f = c->n; f < c->nt; f++)
		if (c->t[f].up && c->t[f].state == T_IDLE && c->t[f].standing_for == COORD_NONE &&
		    c->dc_of[f] == c->dc_of[i])
			return f;
	return COORD_NONE;
}

/* Whether the level can be met by the replicas for which f holds plus
 * free fallbacks standing in for the others (each fallback once, in its
 * datacenter). */
static bool
sloppy_possible(struct coord *c, bool (*f)(const struct coord_target *t))
{
	bool *used = c->yes + c->n; /* scratch for the fallbacks */

	for (uint32_t k = c->n; k < c->nt; k++)
		used[k - c->n] = false;
	for (uint32_t i = 0; i < c->n; i++) {
		c->yes[i] = f(&c->t[i]);
		for (uint32_t k = c->n; k < c->nt && !c->yes[i]; k++) {
			if (c->t[k].up && c->t[k].state == T_IDLE && !used[k - c->n] &&
			    c->dc_of[k] == c->dc_of[i]) {
				used[k - c->n] = true;
				c->yes[i] = true;
			}
		}
	}
	return quorum_possible(&c->q, c->dc_of, c->yes, c->n);
}

/* Replica i cannot take the object (down, or convicted while asked): a
 * fallback takes it as a hint in its place. False when none is left. */
static bool
stand_in(struct coord *c, uint32_t i)
{
	uint32_t f = free_fallback(c, i);

	if (f == COORD_NONE)
		return false;
	c->t[f].standing_for = i;
	c->t[i].stand_in = f;
	act(c, CS_STORE, f);
	c->t[i].state = T_WAIT; /* waits through its stand-in */
	return true;
}

int
coord_init(struct coord *c, const struct coord_request *req, const struct coord_replica *reps,
           uint32_t n, uint32_t ndcs, uint32_t local_dc)
{
	int err;

	memset(c, 0, sizeof(*c));
	vv_init(&c->ctx);
	object_init(&c->merged);
	c->kind = req->kind;
	c->mode = req->mode;
	c->deadline_ms = req->deadline_ms;
	if (n == 0 || n > QUORUM_MAX_REPLICAS)
		return DKV_EINVAL;
	c->nt = n;
	for (c->n = 0; c->n < n && !reps[c->n].fallback; c->n++)
		;
	if (c->n == 0)
		return DKV_EINVAL;
	c->t = mem_calloc(n, sizeof(*c->t));
	c->dc_of = mem_calloc(n, sizeof(*c->dc_of));
	c->yes = mem_calloc(n, sizeof(*c->yes));
	c->actions = mem_calloc(2 * (size_t)n, sizeof(*c->actions));
	c->key = mem_alloc(req->klen ? req->klen : 1);
	c->val = mem_alloc(req->vlen ? req->vlen : 1);
	if (c->t == NULL || c->dc_of == NULL || c->yes == NULL || c->actions == NULL ||
	    c->key == NULL || c->val == NULL)
		goto nomem;
	memcpy(c->key, req->key, req->klen);
	c->klen = req->klen;
	if (req->vlen > 0)
		memcpy(c->val, req->val, req->vlen);
	c->vlen = req->vlen;
	if (req->ctx != NULL) {
		if (vv_copy(&c->ctx, req->ctx) != DKV_OK)
			goto nomem;
		c->has_ctx = true;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (reps[i].dc >= ndcs || reps[i].fallback != (i >= c->n)) {
			coord_free(c);
			return DKV_EINVAL;
		}
		c->t[i].id = reps[i].id;
		strlcpy(c->t[i].addr, reps[i].addr ? reps[i].addr : "", sizeof(c->t[i].addr));
		c->t[i].up = reps[i].up || reps[i].local;
		c->t[i].local = reps[i].local;
		c->t[i].fallback = reps[i].fallback;
		c->t[i].stand_in = COORD_NONE;
		c->t[i].standing_for = COORD_NONE;
		c->dc_of[i] = reps[i].dc;
	}
	n = c->n; /* the level counts replicas only */
	set_quorum(c, req, ndcs, local_dc, &err);
	if (err == DKV_EINVAL) {
		coord_free(c);
		return err;
	}
	if (c->kind == COORD_GET)
		c->nt = c->n; /* reads ask replicas only */
	c->local_dc = local_dc;
	if (err != DKV_OK ||
	    !(c->kind == COORD_GET ? quorum_possible(&c->q, c->dc_of, mark(c, is_up), n)
	                           : sloppy_possible(c, is_up)) ||
	    (c->kind != COORD_GET && choose_applier(c) == c->n)) {
		answer(c, DKV_EUNAVAILABLE);
		c->finished = true;
		return DKV_OK;
	}
	if (c->kind == COORD_GET) {
		for (uint32_t i = 0; i < n; i++)
			if (c->t[i].up)
				act(c, CS_READ, i);
		return DKV_OK;
	}
	c->applier = choose_applier(c);
	act(c, CS_APPLY, c->applier);
	return DKV_OK;
nomem:
	coord_free(c);
	return DKV_ENOMEM;
}

void
coord_free(struct coord *c)
{
	if (c->t != NULL)
		for (uint32_t i = 0; i < c->nt; i++)
			mem_free(c->t[i].answer);
	object_free(&c->merged);
	vv_free(&c->ctx);
	mem_free(c->t);
	mem_free(c->dc_of);
	mem_free(c->yes);
	mem_free(c->actions);
	mem_free(c->key);
	mem_free(c->val);
	mem_free(c->obj);
	memset(c, 0, sizeof(*c));
}

int
coord_target_of(const struct coord *c, const struct actor *id)
{
	for (uint32_t i = 0; i < c->nt; i++)
		if (actor_eq(&c->t[i].id, id))
			return (int)i;
	return -1;
}

const struct actor *
coord_hint_for(const struct coord *c, uint32_t i)
{
	if (i >= c->nt || !c->t[i].fallback || c->t[i].standing_for == COORD_NONE)
		return NULL;
	return &c->t[c->t[i].standing_for].id;
}

/* The error for a level that can no longer be met without a replica's
 * own error to give: nothing was written (DKV_EUNAVAILABLE) holds for a
 * read, but a write that went out may have reached some replicas. */
static int
lost_level(const struct coord *c)
{
	return c->kind == COORD_GET ? DKV_EUNAVAILABLE : DKV_ETIMEDOUT;
}

/* After an answer: is the caller answered, is the operation over? */
static void
progress(struct coord *c, int failure)
{
	if (!c->answered) {
		if (quorum_met(&c->q, c->dc_of, mark(c, is_done), c->n))
			answer(c, DKV_OK);
		else if (!quorum_possible(&c->q, c->dc_of, mark(c, is_hopeful), c->n))
			answer(c, failure != DKV_OK ? failure : lost_level(c));
	}
}

/* A target's answer is expected: it was asked and has not answered. */
static bool
expecting(const struct coord *c, uint32_t i)
{
	return !c->finished && i < c->nt && c->t[i].state == T_WAIT;
}

void
coord_applied(struct coord *c, uint32_t i, int status, const void *obj, size_t len)
{
	if (!expecting(c, i) || c->kind == COORD_GET || i != c->applier || c->obj != NULL)
		return;
	if (status == DKV_EUNAVAILABLE) {
		/* the applier refused before writing anything (it has left
		 * the ring): as if it were down, the next live replica applies */
		coord_peer_down(c, i);
		return;
	}
	if (status == DKV_OK && !c->t[i].local) {
		struct object check;

		/* what the others will merge must be an object (this peer's
		 * own replica encoded it itself) */
		if (obj == NULL || object_decode(&check, obj, len) != DKV_OK)
			status = DKV_EIO;
		else
			object_free(&check);
	}
	if (status == DKV_OK) {
		c->obj = mem_alloc(len ? len : 1);
		if (c->obj == NULL)
			status = DKV_ENOMEM;
		else
			memcpy(c->obj, obj, len);
		c->obj_len = len;
	}
	if (status != DKV_OK) {
		/* nothing was created: the write fails as the applier did */
		c->t[i].state = T_FAILED;
		answer(c, status);
		c->finished = true;
		return;
	}
	c->t[i].state = T_DONE;
	c->acks++;
	for (uint32_t k = 0; k < c->n; k++) {
		if (k == i || c->t[k].state != T_IDLE)
			continue;
		if (c->t[k].up)
			act(c, CS_STORE, k);
		else
			stand_in(c, k);
	}
	progress(c, DKV_OK);
	if (all_settled(c))
		c->finished = true;
}

/* A fallback's STORE ended (ok or not): the replica it stood in for
 * takes the result, or another fallback when this one failed. */
static void
stand_in_settled(struct coord *c, uint32_t f)
{
	uint32_t i = c->t[f].standing_for;

	if (i == COORD_NONE || c->t[i].stand_in != f || c->t[i].state == T_DONE)
		return;
	if (c->t[f].state == T_DONE) {
		c->t[i].state = T_DONE;
		return;
	}
	c->t[i].stand_in = COORD_NONE;
	if (!stand_in(c, i))
		c->t[i].state = T_FAILED;
}

void
coord_stored(struct coord *c, uint32_t i, int status)
{
	if (!expecting(c, i) || c->kind == COORD_GET)
		return;
	if (!c->t[i].fallback && c->t[i].stand_in != COORD_NONE) {
		/* a late answer of a replica a fallback already stands in for:
		 * its own success counts (and the stand-in's result no longer
		 * matters); its failure changes nothing, the stand-in may
		 * still succeed */
		if (status != DKV_OK)
			return;
		c->t[i].stand_in = COORD_NONE;
	}
	if (status == DKV_OK) {
		c->t[i].state = T_DONE;
		c->acks++;
	} else {
		c->t[i].state = T_FAILED;
	}
	if (c->t[i].fallback)
		stand_in_settled(c, i);
	progress(c, status);
	if (all_settled(c))
		c->finished = true;
}

/* Merge the answer of target i into the read's running merge. */
static int
merge_answer(struct coord *c, uint32_t i)
{
	struct object o;
	int err;

	if (c->t[i].answer == NULL)
		return DKV_OK;
	if ((err = object_decode(&o, c->t[i].answer, c->t[i].answer_len)) != DKV_OK)
		return err;
	err = object_merge(&c->merged, &o, c->mode);
	object_free(&o);
	if (err == DKV_OK)
		c->merged_any = true;
	return err;
}

/* Encode the merge into c->obj (what a read returns and repairs with). */
static int
encode_merged(struct coord *c)
{
	size_t size = object_encoded_size(&c->merged);
	uint8_t *buf;

	if (size == 0)
		return DKV_ETOOBIG;
	buf = mem_alloc(size);
	if (buf == NULL)
		return DKV_ENOMEM;
	object_encode(&c->merged, buf);
	mem_free(c->obj);
	c->obj = buf;
	c->obj_len = size;
	return DKV_OK;
}

/* Every replica asked has answered, or time is up: repair the replicas
 * whose answer differs from the merge of all answers. */
static void
read_repair(struct coord *c)
{
	if (!c->merged_any || object_is_empty(&c->merged) || encode_merged(c) != DKV_OK)
		return;
	for (uint32_t i = 0; i < c->n; i++) {
		struct coord_target *t = &c->t[i];

		if (t->state != T_DONE)
			continue;
		if (t->answer != NULL && t->answer_len == c->obj_len &&
		    memcmp(t->answer, c->obj, c->obj_len) == 0)
			continue;
		t->repair = true;
		c->repairs++;
		act(c, CS_STORE, i);
		t->state = T_DONE; /* repairs are not awaited */
	}
}

void
coord_value(struct coord *c, uint32_t i, int status, const void *obj, size_t len)
{
	if (!expecting(c, i) || c->kind != COORD_GET)
		return;
	if (status == DKV_OK && obj != NULL) {
		c->t[i].answer = mem_alloc(len ? len : 1);
		if (c->t[i].answer == NULL) {
			status = DKV_ENOMEM;
		} else {
			memcpy(c->t[i].answer, obj, len);
			c->t[i].answer_len = len;
			status = merge_answer(c, i);
			if (status != DKV_OK) {
				mem_free(c->t[i].answer);
				c->t[i].answer = NULL;
			}
		}
	} else if (status == DKV_ENOTFOUND) {
		status = DKV_OK; /* "none" is an answer */
	}
	c->t[i].state = status == DKV_OK ? T_DONE : T_FAILED;
	progress(c, status);
	if (all_settled(c)) {
		read_repair(c);
		c->finished = true;
	}
}

void
coord_tick(struct coord *c, uint64_t now_ms)
{
	if (c->finished || now_ms < c->deadline_ms)
		return;
	answer(c, DKV_ETIMEDOUT);
	if (c->kind == COORD_GET)
		read_repair(c);
	c->finished = true;
}

void
coord_peer_down(struct coord *c, uint32_t i)
{
	if (c->finished || i >= c->nt)
		return;
	c->t[i].up = false;
	if (c->t[i].state != T_WAIT || (!c->t[i].fallback && c->t[i].stand_in != COORD_NONE))
		return; /* not asked, or waiting through a live stand-in */
	c->t[i].state = T_FAILED;
	if (c->t[i].fallback) {
		stand_in_settled(c, i);
	} else if (c->kind != COORD_GET && c->obj != NULL && i != c->applier && stand_in(c, i)) {
		return; /* its copy goes to a fallback instead */
	}
	if (c->kind != COORD_GET && i == c->applier && c->obj == NULL) {
		c->applier = choose_applier(c);
		if (c->applier < c->n && sloppy_possible(c, is_hopeful)) {
			act(c, CS_APPLY, c->applier);
			return;
		}
		/* the dead applier may have written it */
		answer(c, lost_level(c));
		c->finished = true;
		return;
	}
	progress(c, DKV_OK);
	if (all_settled(c)) {
		if (c->kind == COORD_GET)
			read_repair(c);
		c->finished = true;
	}
}

const struct coord_action *
coord_take_actions(struct coord *c, uint32_t *n)
{
	*n = c->nactions;
	c->nactions = 0;
	return c->actions;
}

const uint8_t *
coord_store_object(const struct coord *c, size_t *len)
{
	*len = c->obj_len;
	return c->obj;
}

int
coord_read_object(struct coord *c, const uint8_t **obj, size_t *len)
{
	int err;

	*obj = NULL;
	*len = 0;
	if (!c->merged_any || object_live_count(&c->merged) == 0)
		return DKV_ENOTFOUND;
	if ((err = encode_merged(c)) != DKV_OK)
		return err;
	*obj = c->obj;
	*len = c->obj_len;
	return DKV_OK;
}

const struct vv *
coord_read_context(const struct coord *c)
{
	return &c->merged.vv;
}
