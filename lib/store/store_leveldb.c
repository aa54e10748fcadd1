/*
 * The LevelDB store: memtable, write-ahead log, SSTables, bloom filters and
 * block cache are LevelDB's; this file only opens it with the library's
 * options and maps its errors to DKV_EIO. LevelDB is thread-safe, so every
 * call here may come from any thread. The benchmark's raw-LevelDB baseline
 * (examples/) must use these same options.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>
#include <leveldb/c.h>

#include "libdkv/dkv.h"
#include "store/store.h"
#include "util/alloc.h"

struct store_leveldb {
	struct store base;
	leveldb_t *db;
	leveldb_options_t *options;
	leveldb_cache_t *cache;
	leveldb_filterpolicy_t *filter;
	leveldb_readoptions_t *ropts;
	leveldb_writeoptions_t *wopts_async, *wopts_sync;
};

static int
ldb_get(struct store *s, const void *k, size_t klen, void **val, size_t *vlen)
{
	struct store_leveldb *l = (struct store_leveldb *)s;
	char *errptr = NULL;
	char *v;

	v = leveldb_get(l->db, l->ropts, k, klen, vlen, &errptr);
	if (errptr != NULL) {
		leveldb_free(errptr);
		leveldb_free(v);
		return DKV_EIO;
	}
	if (v == NULL)
		return DKV_ENOTFOUND;
	*val = v;
	return DKV_OK;
}

static int
ldb_put(struct store *s, const void *k, size_t klen, const void *v, size_t vlen,
        bool sync)
{
	struct store_leveldb *l = (struct store_leveldb *)s;
	char *errptr = NULL;

	leveldb_put(l->db, sync ? l->wopts_sync : l->wopts_async, k, klen, v,
	            vlen, &errptr);
	if (errptr != NULL) {
		leveldb_free(errptr);
		return DKV_EIO;
	}
	return DKV_OK;
}

static int
ldb_del(struct store *s, const void *k, size_t klen, bool sync)
{
	struct store_leveldb *l = (struct store_leveldb *)s;
	char *errptr = NULL;

	leveldb_delete(l->db, sync ? l->wopts_sync : l->wopts_async, k, klen, &errptr);
	if (errptr != NULL) {
		leveldb_free(errptr);
		return DKV_EIO;
	}
	return DKV_OK;
}

static uint64_t
ldb_approx_bytes(struct store *s)
{
	struct store_leveldb *l = (struct store_leveldb *)s;
	const char *start = "\x00", *limit = "\xff\xff";
	size_t start_len = 1, limit_len = 2;
	uint64_t size = 0;

	leveldb_approximate_sizes(l->db, 1, &start, &start_len, &limit, &limit_len, &size);
	return size;
}

static int
ldb_scan(struct store *s, const void *start, size_t slen, const void *limit, size_t llen,
         int (*fn)(const void *k, size_t klen, const void *v, size_t vlen, void *arg), void *arg)
{
	struct store_leveldb *l = (struct store_leveldb *)s;
	leveldb_readoptions_t *ro = leveldb_readoptions_create();
	const leveldb_snapshot_t *snap;
	leveldb_iterator_t *it;
	char *errptr = NULL;
	int err = DKV_OK;

	if (ro == NULL)
		return DKV_ENOMEM;
	snap = leveldb_create_snapshot(l->db);
	leveldb_readoptions_set_snapshot(ro, snap);
	leveldb_readoptions_set_verify_checksums(ro, 0);
	leveldb_readoptions_set_fill_cache(ro, 0); /* a scan must not evict the hot set */
	it = leveldb_create_iterator(l->db, ro);
	for (leveldb_iter_seek(it, start, slen); leveldb_iter_valid(it); leveldb_iter_next(it)) {
		size_t klen, vlen;
		const char *k = leveldb_iter_key(it, &klen);
		const char *v = leveldb_iter_value(it, &vlen);

		if (limit != NULL) {
			size_t n = klen < llen ? klen : llen;
			int c = memcmp(k, limit, n);

			if (c > 0 || (c == 0 && klen >= llen))
				break;
		}
		if (fn(k, klen, v, vlen, arg) != 0)
			break;
	}
	leveldb_iter_get_error(it, &errptr);
	if (errptr != NULL) {
		leveldb_free(errptr);
		err = DKV_EIO;
	}
	leveldb_iter_destroy(it);
	leveldb_release_snapshot(l->db, snap);
	leveldb_readoptions_destroy(ro);
	return err;
}

static void
ldb_free_value(void *val)
{
	leveldb_free(val);
}

static void
ldb_close(struct store *s)
{
	struct store_leveldb *l = (struct store_leveldb *)s;

	if (l->db != NULL)
		leveldb_close(l->db);
	if (l->options != NULL)
		leveldb_options_destroy(l->options);
	if (l->filter != NULL)
		leveldb_filterpolicy_destroy(l->filter);
	if (l->cache != NULL)
		leveldb_cache_destroy(l->cache);
	if (l->ropts != NULL)
		leveldb_readoptions_destroy(l->ropts);
	if (l->wopts_async != NULL)
		leveldb_writeoptions_destroy(l->wopts_async);
	if (l->wopts_sync != NULL)
		leveldb_writeoptions_destroy(l->wopts_sync);
	mem_free(l);
}

static const struct store_ops leveldb_ops = {
	.get = ldb_get,
	.put = ldb_put,
	.del = ldb_del,
	.approx_bytes = ldb_approx_bytes,
	.scan = ldb_scan,
	.free_value = ldb_free_value,
	.close = ldb_close,
};

int
store_leveldb_open(const struct store_opts *o, struct store **out, char *err,
                   size_t errlen)
{
	struct store_leveldb *l;
	char *errptr = NULL;

	*out = NULL;
	l = mem_calloc(1, sizeof(*l));
	if (l == NULL)
		return DKV_ENOMEM;
	l->base.ops = &leveldb_ops;
	l->options = leveldb_options_create();
	l->filter = leveldb_filterpolicy_create_bloom(10);
	l->ropts = leveldb_readoptions_create();
	l->wopts_async = leveldb_writeoptions_create();
	l->wopts_sync = leveldb_writeoptions_create();
	if (o->cache_mb > 0)
		l->cache = leveldb_cache_create_lru((size_t)o->cache_mb << 20);
	if (l->options == NULL || l->filter == NULL || l->ropts == NULL ||
	    l->wopts_async == NULL || l->wopts_sync == NULL ||
	    (o->cache_mb > 0 && l->cache == NULL)) {
		ldb_close(&l->base);
		return DKV_ENOMEM;
	}
	leveldb_options_set_create_if_missing(l->options, 1);
	leveldb_options_set_filter_policy(l->options, l->filter);
	if (l->cache != NULL)
		leveldb_options_set_cache(l->options, l->cache);
	leveldb_options_set_write_buffer_size(l->options, (size_t)o->write_buffer_mb << 20);
	leveldb_options_set_max_open_files(l->options, (int)o->max_open_files);
	leveldb_options_set_compression(l->options, leveldb_no_compression);
	leveldb_readoptions_set_verify_checksums(l->ropts, 0);
	leveldb_writeoptions_set_sync(l->wopts_sync, 1);

	l->db = leveldb_open(l->options, o->path, &errptr);
	if (errptr != NULL) {
		strlcpy(err, errptr, errlen);
		leveldb_free(errptr);
		ldb_close(&l->base);
		return DKV_EIO;
	}
	*out = &l->base;
	return DKV_OK;
}
