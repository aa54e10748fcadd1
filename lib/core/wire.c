/*
 * Frames and message bodies (see wire.h). Encoding measures first, then
 * writes into one buffer; decoding reads through a bounds-checked reader
 * and rejects anything it would not have written itself.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "libdkv/dkv.h"
#include "core/bytes.h"
#include "core/wire.h"
#include "util/alloc.h"

void
wire_encode_header(uint8_t out[WIRE_HEADER], uint8_t type, uint32_t body_len)
{
	struct wr w = {out, 0};

	wr_u32(&w, WIRE_MAGIC);
	wr_u8(&w, WIRE_VERSION);
	wr_u8(&w, type);
	wr_u16(&w, 0);
	wr_u32(&w, body_len);
}

int
wire_decode_header(const uint8_t in[WIRE_HEADER], uint32_t max_body, struct frame_header *h)
{
	struct rd r = rd_init(in, WIRE_HEADER);
	uint32_t magic = rd_u32(&r);

	h->version = rd_u8(&r);
	h->type = rd_u8(&r);
	if (magic != WIRE_MAGIC || h->version != WIRE_VERSION || rd_u16(&r) != 0)
		return DKV_EINVAL;
	h->body_len = rd_u32(&r);
	if (h->type == 0 || h->type >= WMSG_TYPE_MAX || h->body_len > max_body)
		return DKV_EINVAL;
	return DKV_OK;
}

/* --- encoding ----------------------------------------------------------- */

static size_t
str_size(const char *s)
{
	return 1 + strnlen(s, 255);
}

static void
wr_str(struct wr *w, const char *s)
{
	size_t n = strnlen(s, 255);

	wr_u8(w, (uint8_t)n);
	wr_bytes(w, s, n);
}

static void
wr_actor(struct wr *w, const struct actor *a)
{
	wr_u8(w, a->len);
	wr_bytes(w, a->id, a->len);
}

static size_t
state_size(const struct peer_state *s)
{
	return 1 + s->id.len + str_size(s->addr) + str_size(s->dc) + str_size(s->rack) + 3 +
	       24 + 4 + (size_t)s->ntokens * TOKEN_BYTES;
}

static void
wr_state(struct wr *w, const struct peer_state *s)
{
	wr_actor(w, &s->id);
	wr_str(w, s->addr);
	wr_str(w, s->dc);
	wr_str(w, s->rack);
	wr_u8(w, s->role);
	wr_u8(w, s->status);
	wr_u8(w, s->moved);
	wr_u64(w, s->generation);
	wr_u64(w, s->version);
	wr_u64(w, s->heartbeat);
	wr_u32(w, s->ntokens);
	for (uint32_t i = 0; i < s->ntokens; i++) {
		token_to_bytes(s->tokens[i], w->p + w->len);
		w->len += TOKEN_BYTES;
	}
}

static size_t
body_size(const struct msg *m)
{
	size_t n = 1 + m->from.len;

	switch (m->type) {
	case WMSG_HELLO:
		return n + 8 + str_size(m->text) + str_size(m->addr);
	case WMSG_HELLO_OK:
		return n + 8;
	case WMSG_REFUSE:
		return n + str_size(m->text);
	case WMSG_SYN:
	case WMSG_ACK:
	case WMSG_ACK2:
		n += 4 + 4;
		for (uint32_t i = 0; i < m->ndigests; i++)
			n += 1 + m->digests[i].id.len + 16;
		for (uint32_t i = 0; i < m->nstates; i++)
			n += state_size(&m->states[i]);
		return n;
	case WMSG_HEARTBEAT:
		return n + 16;
	case WMSG_SHUTDOWN:
		return n + 8;
	case WMSG_APPLY:
		return n + 8 + 1 + 8 + 4 + m->op.klen + 4 + m->op.ctxlen + 4 + m->op.dlen;
	case WMSG_STORE:
		return n + 8 + 1 + ((m->op.flags & WOP_HINT) ? 1 + (size_t)m->op.hint.len : 0) + 4 +
		       m->op.klen + 4 + m->op.dlen;
	case WMSG_READ:
		return n + 8 + 4 + m->op.klen;
	case WMSG_PURGE:
		return n + 8 + 4 + m->op.klen + 8;
	case WMSG_APPLIED:
	case WMSG_VALUE:
		return n + 8 + 4 + 4 + m->op.dlen;
	case WMSG_STORED:
		return n + 8 + 4;
	case WMSG_AE_TREE:
		return n + 8 + 1 + 1 + 4 + (size_t)m->ae.n * (m->ae.level == 0 ? 16 : 8);
	case WMSG_AE_DIFF:
		return n + 8 + 1 + 4 + ((size_t)m->ae.n + 7) / 8 * (m->ae.level == 0 ? 2 : 1);
	case WMSG_AE_KEYS:
	case WMSG_AE_WANT:
		return n + 8 + 1 + 4 + 4 + 4 + m->ae.keys_len;
	case WMSG_AE_OBJS:
		return n + 8 + 4 + m->ae.keys_len;
	case WMSG_AE_DONE: {
		size_t c = 0;

		for (int i = 0; i < WIRE_AE_COUNTS; i++)
			c += uvar_size(m->ae.counts[i]);
		return n + 8 + 4 + c;
	}
	case WMSG_AE_REPAIR:
		return n + 8;
	case WMSG_MOVE_REQ:
		return n + 8 + 3 * TOKEN_BYTES + 1 + 4 + 2 + m->mv.cur_klen;
	case WMSG_MOVE_DATA:
		return n + 8 + 4 + 1 + 4 + m->mv.entries_len;
	case WMSG_LEAVE:
		return n + 8;
	default:
		return 0;
	}
}

size_t
wire_ae_entry_size(uint8_t type, const struct wire_ae_entry *e)
{
	if (type == WMSG_AE_KEYS)
		return 4 + 8 + uvar_size(e->sum);
	if (type == WMSG_AE_WANT)
		return 4 + 1;
	return 1 + uvar_size(e->klen) + e->klen + uvar_size(e->olen) + e->olen;
}

void
wire_ae_put_entry(uint8_t type, uint8_t *out, size_t *off, const struct wire_ae_entry *e)
{
	struct wr w = {out, *off};

	if (type == WMSG_AE_KEYS) {
		wr_u32(&w, e->tag);
		wr_u64(&w, e->hash);
		wr_uvar(&w, e->sum);
	} else if (type == WMSG_AE_WANT) {
		wr_u32(&w, e->tag);
		wr_u8(&w, e->flags);
	} else {
		wr_u8(&w, e->flags);
		wr_uvar(&w, e->klen);
		wr_bytes(&w, e->key, e->klen);
		wr_uvar(&w, e->olen);
		wr_bytes(&w, e->obj, e->olen);
	}
	*off = w.len;
}

/* Reads one entry of type's format from r; false if it is malformed. */
static bool
rd_ae_entry(struct rd *r, uint8_t type, struct wire_ae_entry *e)
{
	uint64_t klen, olen;

	memset(e, 0, sizeof(*e));
	if (type == WMSG_AE_KEYS) {
		e->tag = rd_u32(r);
		e->hash = rd_u64(r);
		e->sum = rd_uvar(r);
		return !r->bad;
	}
	if (type == WMSG_AE_WANT) {
		e->tag = rd_u32(r);
		e->flags = rd_u8(r);
		return !r->bad && (e->flags & ~WIRE_AE_SYNCBACK) == 0;
	}
	e->flags = rd_u8(r);
	klen = rd_uvar(r);
	if (r->bad || klen == 0 || klen > WIRE_MAX_KEY || (e->flags & ~WIRE_AE_SYNCBACK) != 0)
		return false;
	e->klen = (uint32_t)klen;
	e->key = rd_bytes(r, e->klen);
	olen = rd_uvar(r);
	if (r->bad || olen > r->left)
		return false;
	e->olen = (uint32_t)olen;
	e->obj = rd_bytes(r, e->olen);
	return !r->bad;
}

bool
wire_ae_next_entry(const struct wire_ae *ae, size_t *off, struct wire_ae_entry *e)
{
	struct rd r;

	if (*off >= ae->keys_len)
		return false;
	r = rd_init(ae->keys + *off, ae->keys_len - *off);
	if (!rd_ae_entry(&r, ae->type, e))
		return false; /* the decoder checked it: cannot happen */
	*off = ae->keys_len - r.left;
	return true;
}

static void
wr_token(struct wr *w, struct token t)
{
	token_to_bytes(t, w->p + w->len);
	w->len += TOKEN_BYTES;
}

static void
wr_blob(struct wr *w, const uint8_t *p, uint32_t n)
{
	wr_u32(w, n);
	if (n > 0)
		wr_bytes(w, p, n);
}

void
wire_move_put(uint8_t *out, size_t *off, struct token t, const void *key, uint16_t klen,
              const void *obj, uint32_t olen)
{
	struct wr w = {out, *off};

	wr_token(&w, t);
	wr_u16(&w, klen);
	wr_bytes(&w, key, klen);
	wr_blob(&w, obj, olen);
	*off = w.len;
}

int
wire_encode(const struct msg *m, uint8_t **out, size_t *len)
{
	size_t body = body_size(m);
	struct wr w;
	uint8_t *buf;

	*out = NULL;
	*len = 0;
	if (body == 0 || body > UINT32_MAX)
		return DKV_EINVAL;
	buf = mem_alloc(WIRE_HEADER + body);
	if (buf == NULL)
		return DKV_ENOMEM;
	wire_encode_header(buf, (uint8_t)m->type, (uint32_t)body);
	w.p = buf + WIRE_HEADER;
	w.len = 0;
	wr_actor(&w, &m->from);
	switch (m->type) {
	case WMSG_HELLO:
		wr_u64(&w, m->generation);
		wr_str(&w, m->text);
		wr_str(&w, m->addr);
		break;
	case WMSG_HELLO_OK:
	case WMSG_SHUTDOWN:
		wr_u64(&w, m->generation);
		break;
	case WMSG_REFUSE:
		wr_str(&w, m->text);
		break;
	case WMSG_SYN:
	case WMSG_ACK:
	case WMSG_ACK2:
		wr_u32(&w, m->ndigests);
		for (uint32_t i = 0; i < m->ndigests; i++) {
			wr_actor(&w, &m->digests[i].id);
			wr_u64(&w, m->digests[i].generation);
			wr_u64(&w, m->digests[i].version);
		}
		wr_u32(&w, m->nstates);
		for (uint32_t i = 0; i < m->nstates; i++)
			wr_state(&w, &m->states[i]);
		break;
	case WMSG_HEARTBEAT:
		wr_u64(&w, m->generation);
		wr_u64(&w, m->heartbeat);
		break;
	case WMSG_APPLY:
		wr_u64(&w, m->op.id);
		wr_u8(&w, m->op.flags);
		wr_u64(&w, m->op.now_us);
		wr_blob(&w, m->op.key, m->op.klen);
		wr_blob(&w, m->op.ctx, m->op.ctxlen);
		wr_blob(&w, m->op.data, m->op.dlen);
		break;
	case WMSG_STORE:
		wr_u64(&w, m->op.id);
		wr_u8(&w, m->op.flags);
		if (m->op.flags & WOP_HINT)
			wr_actor(&w, &m->op.hint);
		wr_blob(&w, m->op.key, m->op.klen);
		wr_blob(&w, m->op.data, m->op.dlen);
		break;
	case WMSG_READ:
		wr_u64(&w, m->op.id);
		wr_blob(&w, m->op.key, m->op.klen);
		break;
	case WMSG_PURGE:
		wr_u64(&w, m->op.id);
		wr_blob(&w, m->op.key, m->op.klen);
		wr_u64(&w, m->op.hash);
		break;
	case WMSG_APPLIED:
	case WMSG_VALUE:
		wr_u64(&w, m->op.id);
		wr_u32(&w, (uint32_t)m->op.status);
		wr_blob(&w, m->op.data, m->op.dlen);
		break;
	case WMSG_STORED:
		wr_u64(&w, m->op.id);
		wr_u32(&w, (uint32_t)m->op.status);
		break;
	case WMSG_AE_TREE:
		wr_u64(&w, m->ae.sid);
		wr_u8(&w, m->ae.depth);
		wr_u8(&w, m->ae.level);
		wr_u32(&w, m->ae.n);
		for (uint32_t i = 0; m->ae.level == 0 && i < m->ae.n; i++)
			wr_u64(&w, m->ae.ids[i]);
		for (uint32_t i = 0; i < m->ae.n; i++)
			wr_u64(&w, m->ae.hashes[i]);
		break;
	case WMSG_AE_DIFF:
		wr_u64(&w, m->ae.sid);
		wr_u8(&w, m->ae.level);
		wr_u32(&w, m->ae.n);
		wr_bytes(&w, m->ae.bits, ((size_t)m->ae.n + 7) / 8);
		if (m->ae.level == 0)
			wr_bytes(&w, m->ae.unknown, ((size_t)m->ae.n + 7) / 8);
		break;
	case WMSG_AE_KEYS:
	case WMSG_AE_WANT:
		wr_u64(&w, m->ae.sid);
		wr_u8(&w, m->ae.flags);
		wr_u32(&w, m->ae.n);
		wr_u32(&w, (uint32_t)m->ae.counts[1]);
		wr_u32(&w, m->ae.nkeys);
		wr_bytes(&w, m->ae.keys, m->ae.keys_len);
		break;
	case WMSG_AE_OBJS:
		wr_u64(&w, m->ae.sid);
		wr_u32(&w, m->ae.nkeys);
		wr_bytes(&w, m->ae.keys, m->ae.keys_len);
		break;
	case WMSG_AE_DONE:
		wr_u64(&w, m->ae.sid);
		wr_u32(&w, (uint32_t)m->ae.status);
		for (int i = 0; i < WIRE_AE_COUNTS; i++)
			wr_uvar(&w, m->ae.counts[i]);
		break;
	case WMSG_AE_REPAIR:
		wr_u64(&w, m->ae.sid);
		break;
	case WMSG_MOVE_REQ:
		wr_u64(&w, m->mv.sid);
		wr_token(&w, m->mv.lo);
		wr_token(&w, m->mv.hi);
		wr_token(&w, m->mv.cur_t);
		wr_u8(&w, m->mv.has_cursor ? 1 : 0);
		wr_u32(&w, m->mv.max_bytes);
		wr_u16(&w, m->mv.cur_klen);
		if (m->mv.cur_klen > 0)
			wr_bytes(&w, m->mv.cur_key, m->mv.cur_klen);
		break;
	case WMSG_MOVE_DATA:
		wr_u64(&w, m->mv.sid);
		wr_u32(&w, (uint32_t)m->mv.status);
		wr_u8(&w, m->mv.flags);
		wr_u32(&w, m->mv.n);
		if (m->mv.entries_len > 0)
			wr_bytes(&w, m->mv.entries, m->mv.entries_len);
		break;
	case WMSG_LEAVE:
		wr_u64(&w, m->mv.sid);
		break;
	default:
		break;
	}
	*out = buf;
	*len = WIRE_HEADER + body;
	return DKV_OK;
}

/* --- decoding ----------------------------------------------------------- */

/* Text from the network ends up in logs: printable ASCII only. */
static bool
rd_str(struct rd *r, char *out, size_t outsize)
{
	uint8_t n = rd_u8(r);
	const uint8_t *b = rd_bytes(r, n);

	if (b == NULL || n >= outsize)
		return false;
	for (uint8_t i = 0; i < n; i++)
		if (b[i] < 0x20 || b[i] > 0x7e)
			return false;
	memcpy(out, b, n);
	out[n] = '\0';
	return true;
}

/* Peer ids are node_ids: visible ASCII, no spaces (config.c's rule is
 * stricter still). */
static bool
rd_actor(struct rd *r, struct actor *a)
{
	uint8_t n = rd_u8(r);
	const uint8_t *b = rd_bytes(r, n);

	if (b == NULL)
		return false;
	for (uint8_t i = 0; i < n; i++)
		if (b[i] < 0x21 || b[i] > 0x7e)
			return false;
	return actor_set(a, b, n) == DKV_OK;
}

static int
actor_ptr_cmp(const void *a, const void *b)
{
	return actor_cmp(*(const struct actor *const *)a, *(const struct actor *const *)b);
}

/* Whether the n items (each starting with an actor, stride bytes apart)
 * repeat an actor: sorted, so a hostile list costs n log n, not n^2. */
static bool
has_duplicate(const void *items, size_t stride, uint32_t n)
{
	const struct actor **ids;
	bool dup = false;

	if (n < 2)
		return false;
	ids = mem_reallocarray(NULL, n, sizeof(*ids));
	if (ids == NULL)
		return true; /* refuse what we cannot check */
	for (uint32_t i = 0; i < n; i++)
		ids[i] = (const struct actor *)(const void *)((const char *)items + (size_t)i * stride);
	qsort(ids, n, sizeof(*ids), actor_ptr_cmp);
	for (uint32_t i = 1; i < n && !dup; i++)
		dup = actor_eq(ids[i - 1], ids[i]);
	mem_free(ids);
	return dup;
}

static int
rd_state(struct rd *r, struct peer_state *s)
{
	memset(s, 0, sizeof(*s));
	if (!rd_actor(r, &s->id) || !rd_str(r, s->addr, sizeof(s->addr)) ||
	    !rd_str(r, s->dc, sizeof(s->dc)) || !rd_str(r, s->rack, sizeof(s->rack)))
		return DKV_EINVAL;
	s->role = rd_u8(r);
	s->status = rd_u8(r);
	s->moved = rd_u8(r);
	s->generation = rd_u64(r);
	s->version = rd_u64(r);
	s->heartbeat = rd_u64(r);
	s->ntokens = rd_u32(r);
	if (r->bad || s->role > PEER_CLIENT || s->status >= STATUS_MAX || s->moved > 100 ||
	    s->ntokens > WIRE_MAX_TOKENS || (size_t)s->ntokens * TOKEN_BYTES > r->left)
		return DKV_EINVAL;
	if (s->ntokens > 0) {
		s->tokens = mem_reallocarray(NULL, s->ntokens, sizeof(*s->tokens));
		if (s->tokens == NULL)
			return DKV_ENOMEM;
		for (uint32_t i = 0; i < s->ntokens; i++)
			s->tokens[i] = token_from_bytes(rd_bytes(r, TOKEN_BYTES));
	}
	return DKV_OK;
}

/* A u32-counted byte string, borrowed from the body. */
static const uint8_t *
rd_blob(struct rd *r, uint32_t *n, uint32_t max)
{
	*n = rd_u32(r);
	if (r->bad || *n > max || *n > r->left) {
		r->bad = true;
		return NULL;
	}
	return *n > 0 ? rd_bytes(r, *n) : (const uint8_t *)"";
}

/* An answer's status: OK or an error code this version knows. */
static bool
status_ok(int32_t s)
{
	return s <= 0 && s > -100;
}

static int
rd_op(struct rd *r, uint8_t type, struct wire_op *op)
{
	op->id = rd_u64(r);
	switch (type) {
	case WMSG_APPLY:
		op->flags = rd_u8(r);
		op->now_us = rd_u64(r);
		op->key = rd_blob(r, &op->klen, WIRE_MAX_KEY);
		op->ctx = rd_blob(r, &op->ctxlen, UINT32_MAX);
		op->data = rd_blob(r, &op->dlen, UINT32_MAX);
		if ((op->flags & ~(WOP_TOMBSTONE | WOP_CONTEXT)) != 0 ||
		    ((op->flags & WOP_CONTEXT) == 0 && op->ctxlen != 0) ||
		    ((op->flags & WOP_TOMBSTONE) != 0 && op->dlen != 0))
			return DKV_EINVAL;
		break;
	case WMSG_STORE:
		op->flags = rd_u8(r);
		if ((op->flags & ~(WOP_HINT | WOP_NOACK)) != 0 ||
		    ((op->flags & WOP_HINT) != 0 && (!rd_actor(r, &op->hint) || op->hint.len == 0)))
			return DKV_EINVAL;
		op->key = rd_blob(r, &op->klen, WIRE_MAX_KEY);
		op->data = rd_blob(r, &op->dlen, UINT32_MAX);
		break;
	case WMSG_READ:
		op->key = rd_blob(r, &op->klen, WIRE_MAX_KEY);
		break;
	case WMSG_PURGE:
		op->key = rd_blob(r, &op->klen, WIRE_MAX_KEY);
		op->hash = rd_u64(r);
		break;
	case WMSG_APPLIED:
	case WMSG_VALUE:
		op->status = (int32_t)rd_u32(r);
		op->data = rd_blob(r, &op->dlen, UINT32_MAX);
		break;
	case WMSG_STORED:
		op->status = (int32_t)rd_u32(r);
		break;
	default:
		return DKV_EINVAL;
	}
	if (r->bad)
		return DKV_EINVAL;
	if (type != WMSG_APPLIED && type != WMSG_VALUE && type != WMSG_STORED && op->klen == 0)
		return DKV_EINVAL; /* requests name a key */
	if (!status_ok(op->status))
		return DKV_EINVAL;
	return DKV_OK;
}

static struct token
rd_token(struct rd *r)
{
	const uint8_t *b = rd_bytes(r, TOKEN_BYTES);
	struct token zero = {0, 0};

	return b != NULL ? token_from_bytes(b) : zero;
}

/* One MOVE_DATA entry: token, key (1..WIRE_MAX_KEY bytes), object. */
static bool
rd_move_entry(struct rd *r, struct token *t, const uint8_t **key, uint16_t *klen,
              const uint8_t **obj, uint32_t *olen)
{
	*t = rd_token(r);
	*klen = rd_u16(r);
	*key = rd_bytes(r, *klen);
	*olen = rd_u32(r);
	*obj = r->bad || *olen > r->left ? NULL : rd_bytes(r, *olen);
	return !r->bad && *klen > 0 && *obj != NULL;
}

bool
wire_move_next(const struct wire_move *mv, size_t *off, struct token *t, const uint8_t **key,
               uint16_t *klen, const uint8_t **obj, uint32_t *olen)
{
	struct rd r;

	if (*off >= mv->entries_len)
		return false;
	r = rd_init(mv->entries + *off, mv->entries_len - *off);
	if (!rd_move_entry(&r, t, key, klen, obj, olen))
		return false; /* the decoder checked it: cannot happen */
	*off = mv->entries_len - r.left;
	return true;
}

static int
rd_move(struct rd *r, uint8_t type, struct wire_move *mv)
{
	size_t off = 0;

	mv->sid = rd_u64(r);
	switch (type) {
	case WMSG_MOVE_REQ: {
		uint8_t has;

		mv->lo = rd_token(r);
		mv->hi = rd_token(r);
		mv->cur_t = rd_token(r);
		has = rd_u8(r);
		mv->max_bytes = rd_u32(r);
		mv->cur_klen = rd_u16(r);
		mv->cur_key = rd_bytes(r, mv->cur_klen);
		mv->has_cursor = has == 1;
		/* a cursor names a key; without one there is no key */
		if (r->bad || has > 1 || mv->has_cursor != (mv->cur_klen > 0))
			return DKV_EINVAL;
		return DKV_OK;
	}
	case WMSG_MOVE_DATA:
		mv->status = (int32_t)rd_u32(r);
		mv->flags = rd_u8(r);
		mv->n = rd_u32(r);
		/* an entry takes at least 16 + 2 + 1 + 4 bytes */
		if (r->bad || !status_ok(mv->status) || (mv->flags & ~WIRE_MOVE_LAST) != 0 ||
		    mv->n > r->left / 23 || ((mv->flags & WIRE_MOVE_LAST) != 0 && mv->n > 0))
			return DKV_EINVAL;
		mv->entries = r->p;
		mv->entries_len = r->left;
		for (uint32_t k = 0; k < mv->n; k++) {
			struct rd er = rd_init(mv->entries + off, mv->entries_len - off);
			struct token t;
			const uint8_t *key, *obj;
			uint16_t klen;
			uint32_t olen;

			if (!rd_move_entry(&er, &t, &key, &klen, &obj, &olen))
				return DKV_EINVAL;
			off = mv->entries_len - er.left;
		}
		if (off != mv->entries_len)
			return DKV_EINVAL; /* trailing bytes */
		rd_bytes(r, mv->entries_len);
		return DKV_OK;
	case WMSG_LEAVE:
		return r->bad ? DKV_EINVAL : DKV_OK;
	default:
		return DKV_EINVAL;
	}
}

/* nkeys keys (each u16 length >= 1, bytes, a u64 and for entries a
 * second one) making up the rest of the body. */
/* The entries that fill the rest of r: nkeys of them, well formed. */
static int
rd_ae_entries(struct rd *r, struct wire_ae *ae)
{
	struct rd er;

	ae->nkeys = rd_u32(r);
	/* an entry takes at least 3 bytes */
	if (r->bad || ae->nkeys > r->left / 3)
		return DKV_EINVAL;
	ae->keys = r->p;
	ae->keys_len = r->left;
	er = rd_init(ae->keys, ae->keys_len);
	for (uint32_t k = 0; k < ae->nkeys; k++) {
		struct wire_ae_entry e;

		if (!rd_ae_entry(&er, ae->type, &e))
			return DKV_EINVAL;
	}
	if (er.left != 0)
		return DKV_EINVAL; /* trailing bytes */
	rd_bytes(r, ae->keys_len);
	return DKV_OK;
}

/* Whether a bitmap of n bits has its bits past n zero, as written. */
static bool
bitmap_tail_clear(const uint8_t *b, uint32_t n)
{
	return n % 8 == 0 || (b[n / 8] >> (n % 8)) == 0;
}

static int
rd_ae(struct rd *r, uint8_t type, struct wire_ae *ae)
{
	size_t bytes;

	ae->type = type;
	ae->sid = rd_u64(r);
	switch (type) {
	case WMSG_AE_TREE:
		ae->depth = rd_u8(r);
		ae->level = rd_u8(r);
		ae->n = rd_u32(r);
		if (r->bad || ae->n > WIRE_AE_MAX_NODES || ae->depth == 0 || ae->depth > 16 ||
		    ae->level > ae->depth || (ae->level == 0 && ae->n == 0) ||
		    (size_t)ae->n * (ae->level == 0 ? 16 : 8) != r->left)
			return DKV_EINVAL;
		if (ae->n > 0 && (ae->hashes = mem_reallocarray(NULL, ae->n, 8)) == NULL)
			return DKV_ENOMEM;
		if (ae->level == 0 && (ae->ids = mem_reallocarray(NULL, ae->n, 8)) == NULL)
			return DKV_ENOMEM;
		for (uint32_t i = 0; ae->level == 0 && i < ae->n; i++)
			ae->ids[i] = rd_u64(r);
		for (uint32_t i = 0; i < ae->n; i++)
			ae->hashes[i] = rd_u64(r);
		return r->bad ? DKV_EINVAL : DKV_OK;
	case WMSG_AE_DIFF:
		ae->level = rd_u8(r);
		ae->n = rd_u32(r);
		bytes = ((size_t)ae->n + 7) / 8;
		if (r->bad || ae->n > WIRE_AE_MAX_NODES || ae->level > 16)
			return DKV_EINVAL;
		ae->bits = rd_bytes(r, bytes);
		if (ae->level == 0)
			ae->unknown = rd_bytes(r, bytes);
		if (r->bad || !bitmap_tail_clear(ae->bits, ae->n) ||
		    (ae->level == 0 && !bitmap_tail_clear(ae->unknown, ae->n)))
			return DKV_EINVAL;
		return DKV_OK;
	case WMSG_AE_KEYS:
	case WMSG_AE_WANT:
		ae->flags = rd_u8(r);
		ae->n = rd_u32(r);
		ae->counts[1] = rd_u32(r);
		if (r->bad || (ae->flags & ~WIRE_AE_LAST) != 0)
			return DKV_EINVAL;
		return rd_ae_entries(r, ae);
	case WMSG_AE_OBJS:
		return rd_ae_entries(r, ae);
	case WMSG_AE_DONE:
		ae->status = (int32_t)rd_u32(r);
		for (int i = 0; i < WIRE_AE_COUNTS; i++)
			ae->counts[i] = rd_uvar(r);
		return r->bad || !status_ok(ae->status) ? DKV_EINVAL : DKV_OK;
	case WMSG_AE_REPAIR:
		return r->bad ? DKV_EINVAL : DKV_OK;
	default:
		return DKV_EINVAL;
	}
}

int
wire_decode(uint8_t type, const uint8_t *body, size_t len, struct msg *m)
{
	struct rd r = rd_init(body, len);
	int err = DKV_EINVAL;

	memset(m, 0, sizeof(*m));
	m->type = (enum wire_type)type;
	if (!rd_actor(&r, &m->from))
		goto fail;
	switch (type) {
	case WMSG_HELLO:
		m->generation = rd_u64(&r);
		if (!rd_str(&r, m->text, sizeof(m->text)) || !rd_str(&r, m->addr, sizeof(m->addr)))
			goto fail;
		break;
	case WMSG_HELLO_OK:
	case WMSG_SHUTDOWN:
		m->generation = rd_u64(&r);
		break;
	case WMSG_REFUSE:
		if (!rd_str(&r, m->text, sizeof(m->text)))
			goto fail;
		break;
	case WMSG_SYN:
	case WMSG_ACK:
	case WMSG_ACK2:
		m->ndigests = rd_u32(&r);
		/* each digest takes at least 18 bytes */
		if (r.bad || m->ndigests > WIRE_MAX_PEERS || (size_t)m->ndigests * 18 > r.left)
			goto fail;
		if (m->ndigests > 0) {
			m->digests = mem_calloc(m->ndigests, sizeof(*m->digests));
			if (m->digests == NULL) {
				err = DKV_ENOMEM;
				goto fail;
			}
		}
		for (uint32_t i = 0; i < m->ndigests; i++) {
			if (!rd_actor(&r, &m->digests[i].id))
				goto fail;
			m->digests[i].generation = rd_u64(&r);
			m->digests[i].version = rd_u64(&r);
		}
		m->nstates = rd_u32(&r);
		/* each state takes at least 36 bytes */
		if (r.bad || m->nstates > WIRE_MAX_PEERS || (size_t)m->nstates * 36 > r.left)
			goto fail;
		if (m->nstates > 0) {
			m->states = mem_calloc(m->nstates, sizeof(*m->states));
			if (m->states == NULL) {
				err = DKV_ENOMEM;
				goto fail;
			}
		}
		for (uint32_t i = 0; i < m->nstates; i++) {
			int e = rd_state(&r, &m->states[i]);

			if (e != DKV_OK) {
				err = e;
				goto fail;
			}
		}
		/* one digest and one state per peer: a repeat is an attack or
		 * a bug, never something to act on twice */
		if (has_duplicate(m->digests, sizeof(*m->digests), m->ndigests) ||
		    has_duplicate(m->states, sizeof(*m->states), m->nstates))
			goto fail;
		break;
	case WMSG_HEARTBEAT:
		m->generation = rd_u64(&r);
		m->heartbeat = rd_u64(&r);
		break;
	case WMSG_APPLY:
	case WMSG_APPLIED:
	case WMSG_STORE:
	case WMSG_STORED:
	case WMSG_READ:
	case WMSG_VALUE:
	case WMSG_PURGE:
		if (rd_op(&r, type, &m->op) != DKV_OK)
			goto fail;
		break;
	case WMSG_AE_TREE:
	case WMSG_AE_DIFF:
	case WMSG_AE_KEYS:
	case WMSG_AE_WANT:
	case WMSG_AE_OBJS:
	case WMSG_AE_DONE:
	case WMSG_AE_REPAIR:
		if ((err = rd_ae(&r, type, &m->ae)) != DKV_OK) {
			if (err != DKV_ENOMEM)
				err = DKV_EINVAL;
			goto fail;
		}
		err = DKV_EINVAL;
		break;
	case WMSG_MOVE_REQ:
	case WMSG_MOVE_DATA:
	case WMSG_LEAVE:
		if (rd_move(&r, type, &m->mv) != DKV_OK)
			goto fail;
		break;
	default:
		goto fail;
	}
	if (r.bad || r.left != 0)
		goto fail;
	return DKV_OK;
fail:
	wire_msg_free(m);
	return err;
}

void
wire_state_free(struct peer_state *s)
{
	mem_free(s->tokens);
	s->tokens = NULL;
	s->ntokens = 0;
}

int
wire_state_copy(struct peer_state *dst, const struct peer_state *src)
{
	*dst = *src;
	dst->tokens = NULL;
	if (src->ntokens > 0) {
		dst->tokens = mem_reallocarray(NULL, src->ntokens, sizeof(*dst->tokens));
		if (dst->tokens == NULL) {
			dst->ntokens = 0;
			return DKV_ENOMEM;
		}
		memcpy(dst->tokens, src->tokens, src->ntokens * sizeof(*dst->tokens));
	}
	return DKV_OK;
}

void
wire_msg_free(struct msg *m)
{
	mem_free(m->ae.hashes);
	m->ae.hashes = NULL;
	mem_free(m->ae.ids);
	m->ae.ids = NULL;
	mem_free(m->digests);
	m->digests = NULL;
	m->ndigests = 0;
	for (uint32_t i = 0; i < m->nstates && m->states != NULL; i++)
		wire_state_free(&m->states[i]);
	mem_free(m->states);
	m->states = NULL;
	m->nstates = 0;
}
