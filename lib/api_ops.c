/*
 * Synchronous put, get and delete.
 *
 * A peer on its own (no cluster) holds every key, so a synchronous call
 * does its work on the caller's thread: a read goes straight to LevelDB
 * (which is thread-safe), a write takes the key's stripe lock for its
 * read-modify-write. This saves two thread hops per call, which is most
 * of the cost of a local operation.
 *
 * In a cluster the call is coordinated across the key's replicas by the
 * loop (repl.h): the caller posts it there and sleeps until the loop
 * hands back the answer.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "dkv_internal.h"
#include "repl.h"
#include "opts.h"
#include "result.h"
#include "util/clock.h"

int
api_check_key(const struct dkv *db, const void *key, size_t klen)
{
	if (key == NULL || klen == 0)
		return DKV_EINVAL;
	if (klen > db->s.max_key_bytes)
		return DKV_ETOOBIG;
	return DKV_OK;
}

int
api_check_value(const struct dkv *db, const void *val, size_t vlen)
{
	if (val == NULL && vlen > 0)
		return DKV_EINVAL;
	if (vlen > db->s.max_value_bytes)
		return DKV_ETOOBIG;
	return DKV_OK;
}

void
op_count(struct dkv *db, _Atomic uint64_t *op, int err, const dkv_result_t *res)
{
	atomic_fetch_add_explicit(op, 1, memory_order_relaxed);
	if (err == DKV_ENOTFOUND)
		atomic_fetch_add_explicit(&db->stats.not_found, 1, memory_order_relaxed);
	else if (err != DKV_OK)
		atomic_fetch_add_explicit(&db->stats.errors, 1, memory_order_relaxed);
	if (err == DKV_OK && res != NULL && dkv_result_count(res) > 1)
		atomic_fetch_add_explicit(&db->stats.siblings_returned, 1, memory_order_relaxed);
}

/* A caller thread waiting for the loop to coordinate its operation. */
struct sync_call {
	struct repl_req req;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int err;
	dkv_result_t *res;
};

static void
sync_done(struct repl_req *req, int err, dkv_result_t *res)
{
	struct sync_call *sc = (struct sync_call *)(void *)req;

	pthread_mutex_lock(&sc->lock);
	sc->err = err;
	sc->res = res;
	sc->done = true;
	pthread_cond_signal(&sc->cond);
	pthread_mutex_unlock(&sc->lock);
}

static int
cluster_call(struct dkv *db, enum coord_kind kind, const void *key, size_t klen,
             const void *val, size_t vlen, const struct vv *ctx, const dkv_opts_t *o,
             dkv_result_t **res)
{
	struct sync_call sc;

	memset(&sc, 0, sizeof(sc));
	pthread_mutex_init(&sc.lock, NULL);
	pthread_cond_init(&sc.cond, NULL);
	sc.req.kind = kind;
	sc.req.key = key;
	sc.req.klen = klen;
	sc.req.val = val;
	sc.req.vlen = vlen;
	sc.req.ctx = ctx;
	sc.req.opts = o;
	sc.req.done = sync_done;
	repl_submit(db->repl, &sc.req);
	pthread_mutex_lock(&sc.lock);
	while (!sc.done)
		pthread_cond_wait(&sc.cond, &sc.lock);
	pthread_mutex_unlock(&sc.lock);
	pthread_cond_destroy(&sc.cond);
	pthread_mutex_destroy(&sc.lock);
	if (res != NULL)
		*res = sc.res;
	else
		dkv_result_free(sc.res);
	return sc.err;
}

int
op_write(struct dkv *db, const void *key, size_t klen, const void *val,
         size_t vlen, const struct vv *ctx, bool tombstone)
{
	struct replica_write w;
	pthread_mutex_t *lock;
	int err;

	if (db->store == NULL)
		return DKV_EUNAVAILABLE; /* a client peer with no storage peers */
	w.key = key;
	w.klen = klen;
	w.token = token_of_key(key, klen);
	w.ctx = ctx;
	w.writer = &db->self;
	w.now_us = clock_wall_us();
	w.tombstone = tombstone;
	w.val = val;
	w.vlen = vlen;
	lock = keylock_for(&db->locks, w.token);
	pthread_mutex_lock(lock);
	err = replica_apply(&db->replica, &w, NULL, NULL);
	pthread_mutex_unlock(lock);
	op_count(db, tombstone ? &db->stats.deletes : &db->stats.puts, err, NULL);
	return err;
}

int
op_read(struct dkv *db, const void *key, size_t klen, dkv_result_t **res)
{
	struct object o;
	void *raw;
	int err;

	*res = NULL;
	if (db->store == NULL)
		return DKV_EUNAVAILABLE;
	err = replica_read(&db->replica, key, klen, token_of_key(key, klen), &raw, &o);
	if (err == DKV_OK) {
		err = result_from_object(&o, raw, db->store->ops->free_value, res);
		object_free(&o);
	}
	if (err == DKV_EIO)
		log_warn(&db->log, "corrupt or unreadable record for a key of %zu bytes", klen);
	op_count(db, &db->stats.gets, err, *res);
	return err;
}

static int
sync_write(dkv_t *db, const void *key, size_t klen, const void *val, size_t vlen,
           const dkv_context_t *ctx, const dkv_opts_t *o, bool tombstone)
{
	int err;

	if (db == NULL)
		return DKV_EINVAL;
	if ((err = api_check_key(db, key, klen)) != DKV_OK ||
	    (err = api_check_value(db, val, vlen)) != DKV_OK ||
	    (err = opts_check(o)) != DKV_OK)
		return err;
	if (loop_on_thread(db->loop))
		return DKV_EDEADLK;
	if ((err = api_enter(db)) != DKV_OK)
		return err;
	if (db->repl != NULL) {
		err = cluster_call(db, tombstone ? COORD_DELETE : COORD_PUT, key, klen, val, vlen,
		                   ctx != NULL ? &ctx->vv : NULL, o, NULL);
		op_count(db, tombstone ? &db->stats.deletes : &db->stats.puts, err, NULL);
	} else {
		err = op_write(db, key, klen, val, vlen, ctx != NULL ? &ctx->vv : NULL, tombstone);
	}
	api_leave(db);
	return err;
}

int
dkv_put(dkv_t *db, const void *key, size_t klen, const void *val, size_t vlen,
        const dkv_context_t *ctx, const dkv_opts_t *o)
{
	return sync_write(db, key, klen, val, vlen, ctx, o, false);
}

int
dkv_delete(dkv_t *db, const void *key, size_t klen, const dkv_context_t *ctx,
           const dkv_opts_t *o)
{
	return sync_write(db, key, klen, NULL, 0, ctx, o, true);
}

int
dkv_get(dkv_t *db, const void *key, size_t klen, dkv_result_t **res,
        const dkv_opts_t *o)
{
	int err;

	if (res != NULL)
		*res = NULL;
	if (db == NULL || res == NULL)
		return DKV_EINVAL;
	if ((err = api_check_key(db, key, klen)) != DKV_OK || (err = opts_check(o)) != DKV_OK)
		return err;
	if (loop_on_thread(db->loop))
		return DKV_EDEADLK;
	if ((err = api_enter(db)) != DKV_OK)
		return err;
	if (db->repl != NULL) {
		err = cluster_call(db, COORD_GET, key, klen, NULL, 0, NULL, o, res);
		op_count(db, &db->stats.gets, err, *res);
	} else {
		err = op_read(db, key, klen, res);
	}
	api_leave(db);
	return err;
}
