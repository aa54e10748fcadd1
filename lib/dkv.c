/*
 * Opening and closing a peer.
 *
 * dkv_open copies the settings, opens LevelDB in data_dir/store, settles
 * this peer's node id (kept in the store's metadata so a reopened peer is
 * the same member), then starts the loop and the worker pool. dkv_close
 * refuses new calls, waits for calls already inside, cancels queued async
 * work, lets the loop run every pending callback, and frees it all.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "cluster.h"
#include "repl.h"
#include "dkv_internal.h"
#include "util/alloc.h"
#include "util/clock.h"

#define STORE_FORMAT "1"

int
api_enter(struct dkv *db)
{
	atomic_fetch_add(&db->active, 1);
	if (atomic_load(&db->closed)) {
		atomic_fetch_sub(&db->active, 1);
		return DKV_ECLOSED;
	}
	return DKV_OK;
}

void
api_leave(struct dkv *db)
{
	atomic_fetch_sub(&db->active, 1);
}

static int
open_error(const dkv_config_t *cfg, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
open_error(const dkv_config_t *cfg, int err, const char *fmt, ...)
{
	/* dkv_open takes a const configuration, but reporting why it failed
	 * is what the error buffer is for. */
	char *buf = ((dkv_config_t *)(uintptr_t)cfg)->err;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(cfg->err), fmt, ap);
	va_end(ap);
	return err;
}

/* mkdir -p */
static int
make_dirs(const char *path)
{
	char buf[sizeof(((struct settings *)0)->data_dir) + 16];
	size_t n = strlcpy(buf, path, sizeof(buf));

	if (n >= sizeof(buf))
		return ENAMETOOLONG;
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		return errno;
	return 0;
}

static void
generate_node_id(char *out, size_t size)
{
	uint8_t r[8];

	arc4random_buf(r, sizeof(r));
	snprintf(out, size, "n-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1],
	         r[2], r[3], r[4], r[5], r[6], r[7]);
}

/* The stored node id wins over a generated one; a configured one must
 * match it, or this data_dir belongs to another peer. */
static int
settle_identity(struct dkv *db, const dkv_config_t *cfg)
{
	char stored[ACTOR_MAX + 1], format[16];
	int err;

	err = store_meta_get(db->store, "format", format, sizeof(format));
	if (err == DKV_OK && strcmp(format, STORE_FORMAT) != 0)
		return open_error(cfg, DKV_EIO, "%s holds store format %s; this library reads format %s",
		                  db->s.data_dir, format, STORE_FORMAT);
	if (err == DKV_ENOTFOUND && (err = store_meta_put(db->store, "format", STORE_FORMAT)) != DKV_OK)
		return open_error(cfg, err, "cannot write to the store in %s", db->s.data_dir);
	if (err != DKV_OK)
		return open_error(cfg, err, "cannot read the store in %s", db->s.data_dir);

	err = store_meta_get(db->store, "node_id", stored, sizeof(stored));
	if (err == DKV_OK) {
		if (db->s.node_id[0] != '\0' && strcmp(stored, db->s.node_id) != 0)
			return open_error(cfg, DKV_ECONFIG,
			                  "node_id is '%s' but %s belongs to node '%s'",
			                  db->s.node_id, db->s.data_dir, stored);
		strlcpy(db->s.node_id, stored, sizeof(db->s.node_id));
		return DKV_OK;
	}
	if (err != DKV_ENOTFOUND)
		return open_error(cfg, err, "cannot read the node id in %s", db->s.data_dir);
	if (db->s.node_id[0] == '\0')
		generate_node_id(db->s.node_id, sizeof(db->s.node_id));
	if ((err = store_meta_put(db->store, "node_id", db->s.node_id)) != DKV_OK)
		return open_error(cfg, err, "cannot write the node id in %s", db->s.data_dir);
	return DKV_OK;
}

static int
open_store(struct dkv *db, const dkv_config_t *cfg)
{
	char path[sizeof(db->s.data_dir) + 16], why[256] = "";
	struct store_opts so;
	int err, e;

	if ((e = make_dirs(db->s.data_dir)) != 0)
		return open_error(cfg, DKV_EIO, "cannot create data_dir %s: %s",
		                  db->s.data_dir, strerror(e));
	snprintf(path, sizeof(path), "%s/store", db->s.data_dir);
	so.path = path;
	so.cache_mb = db->s.cache_mb;
	so.write_buffer_mb = db->s.write_buffer_mb;
	so.max_open_files = db->s.max_open_files;
	if ((err = store_leveldb_open(&so, &db->store, why, sizeof(why))) != DKV_OK)
		return open_error(cfg, err, "cannot open the store in %s: %s",
		                  db->s.data_dir, why[0] ? why : dkv_strerror(err));
	return settle_identity(db, cfg);
}

struct cluster_start {
	struct dkv *db;
	int err;
	char why[256];
};

static void
start_cluster(void *arg)
{
	struct cluster_start *cs = arg;

	cs->err = cluster_open(cs->db, &cs->db->cluster, cs->why, sizeof(cs->why));
	if (cs->err == DKV_OK)
		cs->db->repl = cluster_repl(cs->db->cluster);
}

/* Operations waiting on other peers end now, with DKV_ECLOSED. */
static void
stop_ops(void *arg)
{
	repl_shutdown(arg);
}

static void
stop_cluster(void *arg)
{
	cluster_close(arg);
}

int
dkv_open(const dkv_config_t *cfg, dkv_t **out)
{
	struct dkv *db;
	int err;

	if (out != NULL)
		*out = NULL;
	if (cfg == NULL || out == NULL) {
		if (cfg != NULL)
			open_error(cfg, DKV_EINVAL, "dkv_open: out is NULL");
		return DKV_EINVAL;
	}
	{
		char why[sizeof(cfg->err)];

		if ((err = config_check(cfg, why, sizeof(why))) != DKV_OK)
			return open_error(cfg, err, "%s", why);
	}
	db = mem_calloc(1, sizeof(*db));
	if (db == NULL)
		return open_error(cfg, DKV_ENOMEM, "out of memory");
	db->s = cfg->s;
	db->log.fn = cfg->log_fn;
	db->log.arg = cfg->log_arg;
	db->log.level = (int)cfg->s.log_level;
	keylock_init(&db->locks);

	if (db->s.role == ROLE_STORAGE && (err = open_store(db, cfg)) != DKV_OK)
		goto fail;
	if (db->s.node_id[0] == '\0')
		generate_node_id(db->s.node_id, sizeof(db->s.node_id));
	actor_set(&db->self, db->s.node_id, strlen(db->s.node_id));

	db->replica.store = db->store;
	db->replica.self = db->self;
	db->replica.mode = db->s.conflicts == 1 ? CONFLICTS_LWW : CONFLICTS_SIBLINGS;
	db->replica.max_siblings = db->s.max_siblings;
	db->replica.max_object_bytes = (size_t)db->s.max_value_bytes * 4 + (1u << 20);
	db->replica.sync_writes = db->s.sync_writes != 0;

	if ((err = loop_open(cfg->base, &db->log, &db->loop)) != DKV_OK) {
		open_error(cfg, err, "cannot start the event loop");
		goto fail;
	}
	if ((err = workers_open(db->s.workers, &db->workers)) != DKV_OK) {
		open_error(cfg, err, "cannot start worker threads");
		goto fail;
	}
	if (db->s.listen_set || db->s.seeds[0] != '\0') {
		struct cluster_start cs = {.db = db, .err = DKV_OK, .why = ""};

		loop_call(db->loop, start_cluster, &cs);
		if ((err = cs.err) != DKV_OK) {
			open_error(cfg, err, "%s", cs.why);
			goto fail;
		}
	}
	db->opened_ms = clock_mono_ms();
	((dkv_config_t *)(uintptr_t)cfg)->err[0] = '\0';
	log_info(&db->log, "peer %s open on %s", db->s.node_id,
	         db->s.data_dir[0] ? db->s.data_dir : "(no storage)");
	*out = db;
	return DKV_OK;

fail:
	workers_close(db->workers);
	loop_close(db->loop, NULL, NULL);
	store_close(db->store);
	keylock_destroy(&db->locks);
	mem_free(db);
	return err;
}

void
dkv_close(dkv_t *db)
{
	struct timespec pause = {0, 200000};

	if (db == NULL)
		return;
	/* From a callback, closing would wait for (or free) the very loop
	 * that is running it. In attach mode the loop thread may close the
	 * handle, just not from inside a callback. */
	if (loop_on_thread(db->loop) &&
	    (!loop_is_attached(db->loop) || db->callback_depth > 0)) {
		log_error(&db->log, "dkv_close called from a library callback; ignored");
		return;
	}
	atomic_store(&db->closed, true);
	if (db->repl != NULL)
		loop_call(db->loop, stop_ops, db->repl);
	/* Calls that got in before the flag finish first; they are short
	 * (storage work, or a replicated operation that stop_ops or a later
	 * repl_submit has just failed), so a brief poll is enough. */
	while (atomic_load(&db->active) > 0) {
		/* closing on the loop thread (attach mode): run what callers
		 * waiting for the loop queued, or they would wait forever */
		loop_run_pending(db->loop);
		nanosleep(&pause, NULL);
	}
	workers_close(db->workers); /* queued ops complete with DKV_ECLOSED */
	/* runs every pending callback, then says goodbye to the cluster */
	loop_close(db->loop, db->cluster != NULL ? stop_cluster : NULL, db->cluster);
	store_close(db->store);
	keylock_destroy(&db->locks);
	log_info(&db->log, "peer %s closed", db->s.node_id);
	mem_free(db);
}
