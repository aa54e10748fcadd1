/*
 * One replica's view of its keys: reads and applies versioned writes on a
 * store. This is what a peer does when it is one of a key's replicas, for
 * its own requests and (later) for its peers'. It keeps no state beyond its
 * settings; the caller serialises writes to one key (see keylock.h).
 */
#ifndef DKV_CORE_REPLICA_H
#define DKV_CORE_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/object.h"
#include "core/token.h"
#include "core/vv.h"
#include "store/store.h"

/* Called around every write of an object record (not hints), under the
 * key's lock: begin right before the store write, end right after it
 * with the record before (old, NULL when there was none) and after it
 * (now, NULL when deleted) — what anti-entropy's trees follow (ae_trees.h).
 * end runs even when the write failed (written false). */
struct replica_hooks {
	void (*begin)(void *arg);
	void (*end)(void *arg, struct token t, const void *key, size_t klen, const void *old,
	            size_t oldlen, const void *now, size_t nowlen, bool written);
	void *arg;
};

struct replica {
	struct store *store;
	const struct replica_hooks *hooks; /* NULL: none */
	struct actor self; /* dots this replica creates carry its node id */
	enum conflict_mode mode;
	uint32_t max_siblings;
	size_t max_object_bytes;
	bool sync_writes;
};

/* Reads the object for key: DKV_OK with *raw (free with store_free_value
 * after o, which borrows from it), DKV_ENOTFOUND, or DKV_EIO for a record
 * that fails to decode. */
int replica_read(const struct replica *r, const void *key, size_t klen,
                 struct token t, void **raw, struct object *o);

/* The encoded object for key as stored (*raw: store_free_value), checked
 * to decode: DKV_OK, DKV_ENOTFOUND or DKV_EIO. */
int replica_read_raw(const struct replica *r, const void *key, size_t klen, struct token t,
                     void **raw, size_t *len);

struct replica_write {
	const void *key;
	size_t klen;
	struct token token;
	const struct vv *ctx;       /* NULL: blind */
	const struct actor *writer; /* coordinator's node id */
	uint64_t now_us;
	bool tombstone;
	const void *val;
	size_t vlen;
};

/* Applies a put or delete (read, apply the causal rules, write back). A
 * blind delete removes every version the replica holds; a delete of a key
 * it does not hold writes nothing. With obj non-NULL, *obj (mem_free) and
 * *len get the encoded object the replica now holds (empty when a blind
 * delete found nothing) — what a coordinator sends the other replicas. */
int replica_apply(const struct replica *r, const struct replica_write *w, uint8_t **obj,
                  size_t *len);

/* Merges an encoded object (another replica's) into what this replica
 * holds, writing only if that changes anything. DKV_EINVAL for an object
 * that does not decode. */
int replica_store(const struct replica *r, const void *key, size_t klen, struct token t,
                  const void *obj, size_t len);

/* Deletes the record for key if it holds tombstones only, all at least
 * grace_us old at now_us (object_reapable), and its entry hash
 * (merkle_entry_hash(...).a) is still expect: a collected tombstone
 * (gc.h). DKV_EBUSY when it is not such a record any more, DKV_ENOTFOUND
 * when it is gone. Not synced: a purge lost in a crash leaves a
 * tombstone, which is collected again. */
int replica_purge(const struct replica *r, const void *key, size_t klen, struct token t,
                  uint64_t expect, uint64_t now_us, uint64_t grace_us);

/* The same merge into the hint this peer holds for intended (hint.h),
 * stamped now_ms (or the hint's stamp, if later). */
int replica_store_hint(const struct replica *r, const struct actor *intended, const void *key,
                       size_t klen, struct token t, const void *obj, size_t len,
                       uint64_t now_ms);

#endif
