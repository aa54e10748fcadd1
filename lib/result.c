/* Results, siblings and causal contexts (see result.h). */
#include "config.h"

#include <string.h>

#include "result.h"
#include "util/alloc.h"

struct result_value {
	const uint8_t *p;
	size_t len;
};

struct dkv_result {
	void *raw;
	void (*free_raw)(void *);
	struct dkv_context ctx;
	size_t count;
	struct result_value values[];
};

int
result_from_object(const struct object *o, void *raw, void (*free_raw)(void *),
                   dkv_result_t **out)
{
	const struct sibling *s = object_siblings_const(o);
	size_t live = object_live_count(o), k = 0;
	dkv_result_t *res;
	int err;

	*out = NULL;
	if (live == 0) {
		err = DKV_ENOTFOUND;
		goto fail;
	}
	res = mem_alloc(sizeof(*res) + live * sizeof(res->values[0]));
	if (res == NULL) {
		err = DKV_ENOMEM;
		goto fail;
	}
	vv_init(&res->ctx.vv);
	if ((err = vv_copy(&res->ctx.vv, &o->vv)) != DKV_OK) {
		mem_free(res);
		goto fail;
	}
	for (uint32_t i = 0; i < o->n; i++) {
		if (s[i].flags & SIB_TOMBSTONE)
			continue;
		res->values[k].p = s[i].val;
		res->values[k].len = s[i].vlen;
		k++;
	}
	res->count = live;
	res->raw = raw;
	res->free_raw = free_raw;
	*out = res;
	return DKV_OK;
fail:
	if (raw != NULL)
		free_raw(raw);
	return err;
}

size_t
dkv_result_count(const dkv_result_t *res)
{
	return res != NULL ? res->count : 0;
}

const void *
dkv_result_value(const dkv_result_t *res, size_t i, size_t *vlen)
{
	if (res == NULL || i >= res->count) {
		if (vlen != NULL)
			*vlen = 0;
		return NULL;
	}
	if (vlen != NULL)
		*vlen = res->values[i].len;
	/* A zero-length value still gets a non-NULL pointer. */
	return res->values[i].p != NULL ? (const void *)res->values[i].p : (const void *)"";
}

const dkv_context_t *
dkv_result_context(const dkv_result_t *res)
{
	return res != NULL ? &res->ctx : NULL;
}

void
dkv_result_free(dkv_result_t *res)
{
	if (res == NULL)
		return;
	vv_free(&res->ctx.vv);
	if (res->raw != NULL)
		res->free_raw(res->raw);
	mem_free(res);
}

int
dkv_context_encode(const dkv_context_t *c, void **buf, size_t *len)
{
	uint8_t *out;
	size_t n;

	if (buf != NULL)
		*buf = NULL;
	if (len != NULL)
		*len = 0;
	if (c == NULL || buf == NULL || len == NULL)
		return DKV_EINVAL;
	n = vv_encoded_size(&c->vv);
	out = mem_alloc(n);
	if (out == NULL)
		return DKV_ENOMEM;
	vv_encode(&c->vv, out);
	*buf = out;
	*len = n;
	return DKV_OK;
}

int
dkv_context_decode(const void *buf, size_t len, dkv_context_t **c)
{
	dkv_context_t *ctx;
	int err;

	if (c == NULL)
		return DKV_EINVAL;
	*c = NULL;
	if (buf == NULL || len == 0)
		return DKV_EINVAL;
	ctx = mem_alloc(sizeof(*ctx));
	if (ctx == NULL)
		return DKV_ENOMEM;
	if ((err = vv_decode(&ctx->vv, buf, len)) != DKV_OK) {
		mem_free(ctx);
		return err;
	}
	*c = ctx;
	return DKV_OK;
}

void
dkv_context_free(dkv_context_t *c)
{
	if (c == NULL)
		return;
	vv_free(&c->vv);
	mem_free(c);
}
