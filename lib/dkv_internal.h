/*
 * The handle behind dkv_t, shared by the API files (dkv.c: open/close,
 * api_ops.c: sync operations, api_async.c: async operations, api_info.c:
 * peers and statistics).
 */
#ifndef DKV_INTERNAL_H
#define DKV_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "libdkv/dkv.h"
#include "settings.h"
#include "core/replica.h"
#include "core/vv.h"
#include "io/loop.h"
#include "io/workers.h"
#include "keylock.h"
#include "util/log.h"

struct counters {
	_Atomic uint64_t puts, gets, deletes, not_found, errors, siblings_returned;
};

struct dkv {
	struct settings s;
	struct logger log;
	struct actor self;
	struct store *store; /* NULL for a client peer */
	struct replica replica;
	struct keylock locks;
	struct loop *loop;
	struct workers *workers;
	struct cluster *cluster; /* NULL for a peer on its own */
	struct repl *repl;       /* the cluster's replication, or NULL */
	atomic_bool closed;
	atomic_long active;  /* API calls in progress */
	atomic_long pending; /* async operations not yet called back */
	int callback_depth;  /* > 0 while an application callback runs (loop thread only) */
	struct counters stats;
	uint64_t opened_ms;
};

/* Every API call brackets its work with enter/leave so dkv_close can wait
 * for callers that got in before it. */
int api_enter(struct dkv *db);
void api_leave(struct dkv *db);

/* Argument checks shared by the sync and async forms. */
int api_check_key(const struct dkv *db, const void *key, size_t klen);
int api_check_value(const struct dkv *db, const void *val, size_t vlen);

/* The operations themselves, on the calling thread. ctx NULL: blind. */
int op_write(struct dkv *db, const void *key, size_t klen, const void *val,
             size_t vlen, const struct vv *ctx, bool tombstone);
int op_read(struct dkv *db, const void *key, size_t klen, dkv_result_t **res);
/* Counts a finished operation in dkv_stats (op: &db->stats.puts...). */
void op_count(struct dkv *db, _Atomic uint64_t *op, int err, const dkv_result_t *res);

#endif
