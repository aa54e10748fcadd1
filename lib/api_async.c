/*
 * Asynchronous put, get and delete.
 *
 * A request copies its key, value and context into one allocation, is run
 * by a worker thread (so storage work and any fsync stay off the loop), and
 * is then posted to the loop, which calls the application's callback and
 * frees it. At close, requests not yet started are cancelled and still
 * called back, with DKV_ECLOSED. `pending` bounds how many may be in
 * flight (max_pending): past it a submission fails with DKV_EBUSY.
 * In a cluster the request goes to the loop's replication instead of a
 * worker (repl.h), and is called back from there.
 */
#include "config.h"

#include <string.h>

#include "dkv_internal.h"
#include "opts.h"
#include "repl.h"
#include "result.h"
#include "util/alloc.h"

enum async_kind { ASYNC_PUT, ASYNC_GET, ASYNC_DELETE };

struct async_op {
	struct repl_req req; /* in a cluster */
	struct work work;
	struct mb_msg done;
	struct dkv *db;
	enum async_kind kind;
	int err;
	dkv_done_cb done_cb;
	dkv_get_cb get_cb;
	void *arg;
	dkv_result_t *res;
	bool has_ctx;
	struct vv ctx;
	struct dkv_opts opts; /* a copy: the caller may free its opts */
	size_t klen, vlen;
	uint8_t data[]; /* key bytes, then value bytes */
};

#define OP_OF(ptr, member) ((struct async_op *)((char *)(ptr) - offsetof(struct async_op, member)))

static void
async_complete(struct mb_msg *m)
{
	struct async_op *op = OP_OF(m, done);
	struct dkv *db = op->db;

	db->callback_depth++;
	if (op->kind == ASYNC_GET)
		op->get_cb(op->err, op->res, op->arg);
	else
		op->done_cb(op->err, op->arg);
	db->callback_depth--;
	vv_free(&op->ctx);
	mem_free(op);
	atomic_fetch_sub(&db->pending, 1);
}

/* Loop thread: the cluster's answer. */
static void
async_replicated(struct repl_req *req, int err, dkv_result_t *res)
{
	struct async_op *op = (struct async_op *)(void *)req;
	struct counters *st = &op->db->stats;

	op_count(op->db, op->kind == ASYNC_GET ? &st->gets : op->kind == ASYNC_PUT ? &st->puts : &st->deletes,
	         err, res);
	op->err = err;
	op->res = res;
	async_complete(&op->done);
}

static void
async_run(struct work *w)
{
	struct async_op *op = OP_OF(w, work);
	const struct vv *ctx = op->has_ctx ? &op->ctx : NULL;

	switch (op->kind) {
	case ASYNC_PUT:
		op->err = op_write(op->db, op->data, op->klen, op->data + op->klen,
		                   op->vlen, ctx, false);
		break;
	case ASYNC_DELETE:
		op->err = op_write(op->db, op->data, op->klen, NULL, 0, ctx, true);
		break;
	case ASYNC_GET:
		op->err = op_read(op->db, op->data, op->klen, &op->res);
		break;
	}
	op->done.fn = async_complete;
	loop_post(op->db->loop, &op->done);
}

static void
async_cancel(struct work *w)
{
	struct async_op *op = OP_OF(w, work);

	op->err = DKV_ECLOSED;
	op->done.fn = async_complete;
	loop_post(op->db->loop, &op->done);
}

static int
async_submit(dkv_t *db, enum async_kind kind, const void *key, size_t klen,
             const void *val, size_t vlen, const dkv_context_t *ctx,
             const dkv_opts_t *o, dkv_done_cb done_cb, dkv_get_cb get_cb, void *arg)
{
	struct async_op *op;
	int err;

	if (db == NULL || (done_cb == NULL && get_cb == NULL))
		return DKV_EINVAL;
	if ((err = api_check_key(db, key, klen)) != DKV_OK ||
	    (err = api_check_value(db, val, vlen)) != DKV_OK ||
	    (err = opts_check(o)) != DKV_OK)
		return err;
	if ((err = api_enter(db)) != DKV_OK)
		return err;
	if (atomic_fetch_add(&db->pending, 1) >= (long)db->s.max_pending) {
		err = DKV_EBUSY;
		goto fail_pending;
	}
	op = mem_alloc(sizeof(*op) + klen + vlen);
	if (op == NULL) {
		err = DKV_ENOMEM;
		goto fail_pending;
	}
	memset(op, 0, sizeof(*op));
	vv_init(&op->ctx);
	if (ctx != NULL) {
		if ((err = vv_copy(&op->ctx, &ctx->vv)) != DKV_OK)
			goto fail_op;
		op->has_ctx = true;
	}
	op->db = db;
	op->kind = kind;
	op->done_cb = done_cb;
	op->get_cb = get_cb;
	op->arg = arg;
	op->klen = klen;
	op->vlen = vlen;
	memcpy(op->data, key, klen);
	if (vlen > 0)
		memcpy(op->data + klen, val, vlen);
	if (db->repl != NULL) {
		op->req.kind = kind == ASYNC_GET ? COORD_GET : kind == ASYNC_PUT ? COORD_PUT : COORD_DELETE;
		op->req.key = op->data;
		op->req.klen = klen;
		op->req.val = op->data + klen;
		op->req.vlen = vlen;
		op->req.ctx = op->has_ctx ? &op->ctx : NULL;
		op->req.opts = NULL;
		if (o != NULL) {
			op->opts = *o;
			op->req.opts = &op->opts;
		}
		op->req.done = async_replicated;
		repl_submit(db->repl, &op->req);
		api_leave(db);
		return DKV_OK;
	}
	op->work.run = async_run;
	op->work.cancel = async_cancel;
	if ((err = workers_submit(db->workers, &op->work)) != DKV_OK)
		goto fail_op;
	api_leave(db);
	return DKV_OK;

fail_op:
	vv_free(&op->ctx);
	mem_free(op);
fail_pending:
	atomic_fetch_sub(&db->pending, 1);
	api_leave(db);
	return err;
}

int
dkv_put_async(dkv_t *db, const void *key, size_t klen, const void *val,
              size_t vlen, const dkv_context_t *ctx, const dkv_opts_t *o,
              dkv_done_cb cb, void *arg)
{
	if (cb == NULL)
		return DKV_EINVAL;
	return async_submit(db, ASYNC_PUT, key, klen, val, vlen, ctx, o, cb, NULL, arg);
}

int
dkv_delete_async(dkv_t *db, const void *key, size_t klen,
                 const dkv_context_t *ctx, const dkv_opts_t *o, dkv_done_cb cb,
                 void *arg)
{
	if (cb == NULL)
		return DKV_EINVAL;
	return async_submit(db, ASYNC_DELETE, key, klen, NULL, 0, ctx, o, cb, NULL, arg);
}

int
dkv_get_async(dkv_t *db, const void *key, size_t klen, const dkv_opts_t *o,
              dkv_get_cb cb, void *arg)
{
	if (cb == NULL)
		return DKV_EINVAL;
	return async_submit(db, ASYNC_GET, key, klen, NULL, 0, NULL, o, NULL, cb, arg);
}
