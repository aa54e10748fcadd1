/*
 * Replica reads and writes (see replica.h): decode what the store holds,
 * apply object_put, encode, write back in one atomic store put. Buffers for
 * typical keys and objects live on the stack; only large ones are heap
 * allocated, so the common path allocates nothing beyond the store's own
 * read buffer.
 */
#include "config.h"

#include <string.h>

#include "libdkv/dkv.h"
#include "core/hint.h"
#include "core/merkle.h"
#include "core/replica.h"
#include "util/alloc.h"

#define KEY_STACK 512
#define OBJECT_STACK 4096

struct keybuf {
	uint8_t stack[KEY_STACK];
	uint8_t *p;
	size_t len;
};

static int
keybuf_make(struct keybuf *kb, struct token t, const void *key, size_t klen)
{
	kb->len = OBJECT_KEY_OVERHEAD + klen;
	kb->p = kb->len <= KEY_STACK ? kb->stack : mem_alloc(kb->len);
	if (kb->p == NULL)
		return DKV_ENOMEM;
	store_object_key(kb->p, t, key, klen);
	return DKV_OK;
}

static void
keybuf_free(struct keybuf *kb)
{
	if (kb->p != kb->stack)
		mem_free(kb->p);
}

/* Reads and decodes the record at kb; its object starts skip bytes into
 * the value (a hint's header). *rawlen: the whole value's length. */
static int
read_at(const struct replica *r, const struct keybuf *kb, size_t skip, void **raw,
        struct object *o, size_t *rawlen)
{
	size_t len;
	int err;

	*raw = NULL;
	object_init(o);
	if ((err = store_get(r->store, kb->p, kb->len, raw, &len)) != DKV_OK)
		return err;
	if (len < skip)
		err = DKV_EIO;
	else
		err = object_decode(o, (uint8_t *)*raw + skip, len - skip);
	if (err != DKV_OK) {
		store_free_value(r->store, *raw);
		*raw = NULL;
	}
	if (rawlen != NULL)
		*rawlen = len;
	return err;
}

int
replica_read(const struct replica *r, const void *key, size_t klen,
             struct token t, void **raw, struct object *o)
{
	struct keybuf kb;
	int err;

	*raw = NULL;
	object_init(o);
	if ((err = keybuf_make(&kb, t, key, klen)) != DKV_OK)
		return err;
	err = read_at(r, &kb, 0, raw, o, NULL);
	keybuf_free(&kb);
	return err;
}

int
replica_read_raw(const struct replica *r, const void *key, size_t klen, struct token t,
                 void **raw, size_t *len)
{
	struct keybuf kb;
	struct object o;
	int err;

	*raw = NULL;
	*len = 0;
	if ((err = keybuf_make(&kb, t, key, klen)) != DKV_OK)
		return err;
	err = read_at(r, &kb, 0, raw, &o, len);
	object_free(&o);
	keybuf_free(&kb);
	return err;
}

/* Encodes o into stack (OBJECT_STACK bytes) when it fits, else into a new
 * buffer; *enc is one or the other (release with encoded_free). An
 * object past max_object_bytes, or one that cannot be encoded, is
 * DKV_ETOOBIG. */
static int
encode_object(const struct replica *r, struct object *o, uint8_t *stack, uint8_t **enc,
              size_t *size)
{
	*size = object_encoded_size(o);
	*enc = NULL;
	if (*size == 0 || *size > r->max_object_bytes)
		return DKV_ETOOBIG;
	*enc = *size <= OBJECT_STACK ? stack : mem_alloc(*size);
	if (*enc == NULL)
		return DKV_ENOMEM;
	object_encode(o, *enc);
	return DKV_OK;
}

static void
encoded_free(uint8_t *enc, const uint8_t *stack)
{
	if (enc != stack)
		mem_free(enc);
}

/* Writes an object record, telling the hooks (see replica.h). */
static int
put_object(const struct replica *r, const struct keybuf *kb, struct token t, const void *key,
           size_t klen, const void *old, size_t oldlen, const uint8_t *enc, size_t size)
{
	int err;

	if (r->hooks != NULL)
		r->hooks->begin(r->hooks->arg);
	err = store_put(r->store, kb->p, kb->len, enc, size, r->sync_writes);
	if (r->hooks != NULL)
		r->hooks->end(r->hooks->arg, t, key, klen, old, oldlen, enc, size, err == DKV_OK);
	return err;
}

int
replica_purge(const struct replica *r, const void *key, size_t klen, struct token t,
              uint64_t expect, uint64_t now_us, uint64_t grace_us)
{
	struct keybuf kb;
	struct object o;
	void *raw = NULL;
	size_t len;
	int err;

	if ((err = keybuf_make(&kb, t, key, klen)) != DKV_OK)
		return err;
	if ((err = read_at(r, &kb, 0, &raw, &o, &len)) != DKV_OK)
		goto out;
	/* only a tombstone past its grace, and only the one that was checked
	 * (a write that landed since changed the hash) */
	if (!object_reapable(&o, now_us, grace_us) ||
	    merkle_entry_hash(key, klen, raw, len).a != expect) {
		err = DKV_EBUSY;
		goto out;
	}
	if (r->hooks != NULL)
		r->hooks->begin(r->hooks->arg);
	err = store_del(r->store, kb.p, kb.len, false);
	if (r->hooks != NULL)
		r->hooks->end(r->hooks->arg, t, key, klen, raw, len, NULL, 0, err == DKV_OK);
out:
	object_free(&o);
	store_free_value(r->store, raw);
	keybuf_free(&kb);
	return err;
}

/* Hands the encoded object to the caller who asked for it. */
static int
give_object(const uint8_t *enc, size_t size, uint8_t **obj, size_t *len)
{
	if (obj == NULL)
		return DKV_OK;
	*obj = mem_alloc(size ? size : 1);
	if (*obj == NULL)
		return DKV_ENOMEM;
	if (size > 0)
		memcpy(*obj, enc, size);
	*len = size;
	return DKV_OK;
}

int
replica_apply(const struct replica *r, const struct replica_write *w, uint8_t **obj,
              size_t *len)
{
	uint8_t stack[OBJECT_STACK], *enc = NULL;
	struct keybuf kb;
	struct object o;
	struct vv held;
	struct put_args p;
	void *raw = NULL;
	size_t size, rawlen = 0;
	int err;

	vv_init(&held);
	object_init(&o);
	if (obj != NULL) {
		*obj = NULL;
		*len = 0;
	}
	if ((err = keybuf_make(&kb, w->token, w->key, w->klen)) != DKV_OK)
		return err;
	err = read_at(r, &kb, 0, &raw, &o, &rawlen);
	if (err == DKV_ENOTFOUND) {
		if (w->tombstone && w->ctx == NULL) {
			/* nothing held, nothing to delete */
			if ((err = encode_object(r, &o, stack, &enc, &size)) == DKV_OK)
				err = give_object(enc, size, obj, len);
			goto out;
		}
		err = DKV_OK;
	} else if (err != DKV_OK) {
		goto out;
	}

	memset(&p, 0, sizeof(p));
	p.ctx = w->ctx;
	if (w->tombstone && w->ctx == NULL) {
		/* A blind delete removes what this replica holds. */
		if ((err = vv_copy(&held, &o.vv)) != DKV_OK)
			goto out;
		p.ctx = &held;
	}
	p.actor = &r->self;
	p.writer = w->writer;
	p.now_us = w->now_us;
	p.flags = w->tombstone ? SIB_TOMBSTONE : 0;
	p.val = w->tombstone ? NULL : w->val;
	p.vlen = w->tombstone ? 0 : (uint32_t)w->vlen;
	p.mode = r->mode;
	p.max_siblings = r->max_siblings;
	if ((err = object_put(&o, &p)) != DKV_OK ||
	    (err = encode_object(r, &o, stack, &enc, &size)) != DKV_OK)
		goto out;
	err = put_object(r, &kb, w->token, w->key, w->klen, raw, rawlen, enc, size);
	if (err == DKV_OK)
		err = give_object(enc, size, obj, len);
out:
	encoded_free(enc, stack);
	object_free(&o);
	vv_free(&held);
	store_free_value(r->store, raw);
	keybuf_free(&kb);
	return err;
}

/* Merges the encoded object obj into the record at kb, writing only if
 * that changes anything. A hint record (hint true) carries a header with
 * its creation time: the older of the record's and created_ms is kept. */
static int
merge_at(const struct replica *r, const struct keybuf *kb, struct token t, const void *key,
         size_t klen, bool hint, uint64_t created_ms, const void *obj, size_t len)
{
	uint8_t stack[OBJECT_STACK], *enc = NULL, *rec = NULL;
	size_t skip = hint ? HINT_VALUE_HEADER : 0;
	struct object held, in;
	void *raw = NULL;
	size_t size, rawlen = 0;
	int err;

	object_init(&held);
	if (object_decode(&in, obj, len) != DKV_OK)
		return DKV_EINVAL;
	err = read_at(r, kb, skip, &raw, &held, &rawlen);
	if (err == DKV_ENOTFOUND)
		err = DKV_OK;
	if (err != DKV_OK || (raw == NULL && object_is_empty(&in)))
		goto out;
	if ((err = object_merge(&held, &in, r->mode)) != DKV_OK ||
	    (err = encode_object(r, &held, stack, &enc, &size)) != DKV_OK)
		goto out;
	/* the merge changed nothing: no write (read repair of an equal copy,
	 * a duplicated STORE) */
	if (raw != NULL && size == rawlen - skip && memcmp(enc, (uint8_t *)raw + skip, size) == 0)
		goto out;
	if (!hint) {
		err = put_object(r, kb, t, key, klen, raw, rawlen, enc, size);
		goto out;
	}
	if ((rec = mem_alloc(HINT_VALUE_HEADER + size)) == NULL) {
		err = DKV_ENOMEM;
		goto out;
	}
	if (raw != NULL) {
		uint64_t was;
		const uint8_t *o;
		size_t olen;

		/* a hint lasts hint_window_s from the last write it took, so a
		 * write acknowledged through it is never dropped at once */
		if (hint_value_decode(raw, rawlen, &was, &o, &olen) == DKV_OK && was > created_ms)
			created_ms = was;
	}
	hint_value_header(rec, created_ms);
	memcpy(rec + HINT_VALUE_HEADER, enc, size);
	err = store_put(r->store, kb->p, kb->len, rec, HINT_VALUE_HEADER + size, r->sync_writes);
out:
	mem_free(rec);
	encoded_free(enc, stack);
	object_free(&held);
	object_free(&in);
	store_free_value(r->store, raw);
	return err;
}

int
replica_store(const struct replica *r, const void *key, size_t klen, struct token t,
              const void *obj, size_t len)
{
	struct keybuf kb;
	int err;

	if ((err = keybuf_make(&kb, t, key, klen)) != DKV_OK)
		return err;
	err = merge_at(r, &kb, t, key, klen, false, 0, obj, len);
	keybuf_free(&kb);
	return err;
}

int
replica_store_hint(const struct replica *r, const struct actor *intended, const void *key,
                   size_t klen, struct token t, const void *obj, size_t len, uint64_t now_ms)
{
	struct keybuf kb;
	int err;

	kb.len = hint_key_size(intended, klen);
	kb.p = kb.len <= KEY_STACK ? kb.stack : mem_alloc(kb.len);
	if (kb.p == NULL)
		return DKV_ENOMEM;
	hint_key_encode(kb.p, intended, t, key, klen);
	err = merge_at(r, &kb, t, key, klen, true, now_ms, obj, len);
	keybuf_free(&kb);
	return err;
}
