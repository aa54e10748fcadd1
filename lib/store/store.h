/*
 * The storage interface the core writes through.
 *
 * A store is an ordered byte-key/byte-value map with atomic single-key
 * writes. Production uses LevelDB (store_leveldb.c); tests and the
 * simulator use the in-memory store (store_mem.c), and a test can wrap
 * either to inject faults. One keyspace is split into namespaces by the
 * first key byte:
 *   'o' | token (16 bytes, big-endian) | user key  → versioned object
 *   'h' | intended peer (u8 len + id) | token | user key → hint (hint.h)
 *   'm' | name                                     → metadata
 * Objects sort in ring order, so a token range is one contiguous scan.
 */
#ifndef DKV_STORE_STORE_H
#define DKV_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/token.h"

#define STORE_NS_OBJECT 'o'
#define STORE_NS_HINT 'h'
#define STORE_NS_META 'm'

struct store;

struct store_ops {
	/* DKV_OK with *val (free with free_value) or DKV_ENOTFOUND/DKV_EIO. */
	int (*get)(struct store *s, const void *k, size_t klen, void **val,
	           size_t *vlen);
	int (*put)(struct store *s, const void *k, size_t klen, const void *v,
	           size_t vlen, bool sync);
	int (*del)(struct store *s, const void *k, size_t klen, bool sync);
	uint64_t (*approx_bytes)(struct store *s);
	/* Calls fn for each record with start <= key < limit in key order
	 * (limit NULL: to the end) until fn returns non-zero; the bytes are
	 * valid during the call only, and fn must not call the store. A
	 * consistent snapshot as of the call. DKV_OK, DKV_ENOMEM, DKV_EIO. */
	int (*scan)(struct store *s, const void *start, size_t slen, const void *limit,
	            size_t llen, int (*fn)(const void *k, size_t klen, const void *v, size_t vlen,
	                                   void *arg),
	            void *arg);
	/* Must not need the store: results free values after close. */
	void (*free_value)(void *val);
	void (*close)(struct store *s);
};

/* Implementations embed this as their first member. */
struct store {
	const struct store_ops *ops;
};

struct store_opts {
	const char *path;
	unsigned cache_mb;
	unsigned write_buffer_mb;
	unsigned max_open_files;
};

/* On failure *out is NULL and err holds LevelDB's reason. */
int store_leveldb_open(const struct store_opts *o, struct store **out,
                       char *err, size_t errlen);
int store_mem_open(struct store **out);

static inline int
store_get(struct store *s, const void *k, size_t klen, void **val, size_t *vlen)
{
	return s->ops->get(s, k, klen, val, vlen);
}

static inline int
store_put(struct store *s, const void *k, size_t klen, const void *v,
          size_t vlen, bool sync)
{
	return s->ops->put(s, k, klen, v, vlen, sync);
}

static inline int
store_del(struct store *s, const void *k, size_t klen, bool sync)
{
	return s->ops->del(s, k, klen, sync);
}

typedef int (*store_scan_fn)(const void *k, size_t klen, const void *v, size_t vlen, void *arg);

static inline int
store_scan(struct store *s, const void *start, size_t slen, const void *limit, size_t llen,
           store_scan_fn fn, void *arg)
{
	return s->ops->scan(s, start, slen, limit, llen, fn, arg);
}

static inline void
store_free_value(struct store *s, void *val)
{
	if (val != NULL)
		s->ops->free_value(val);
}

static inline void
store_close(struct store *s)
{
	if (s != NULL)
		s->ops->close(s);
}

/* Storage key of an object: 1 + TOKEN_BYTES + klen bytes. */
#define OBJECT_KEY_OVERHEAD (1 + TOKEN_BYTES)
void store_object_key(uint8_t *out, struct token t, const void *key, size_t klen);

/* Metadata strings (node id, format version): NUL-terminated in buf. */
int store_meta_get(struct store *s, const char *name, char *buf, size_t bufsize);
int store_meta_put(struct store *s, const char *name, const char *value);
/* Binary metadata: *val is freed with store_free_value. */
int store_meta_get_raw(struct store *s, const char *name, void **val, size_t *len);
int store_meta_put_raw(struct store *s, const char *name, const void *val, size_t len,
                       bool sync);

#endif
