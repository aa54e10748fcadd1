/*
 * libdkv — a Dynamo-style distributed key-value store as a C library.
 *
 * This is the only header an application needs. Every handle is opaque;
 * every function that can fail returns DKV_OK (0) or a negative DKV_E* code
 * that dkv_strerror() names. Whoever receives an allocated object frees it
 * with the matching *_free function; nothing else returned is owned by the
 * caller. All functions taking a dkv_t are safe to call from any thread;
 * async callbacks run on the handle's I/O thread and must not block.
 * See libdkv(7) for the overview and the thread-safety rules.
 */
#ifndef LIBDKV_DKV_H
#define LIBDKV_DKV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(default)
#endif

/* Version of this header; dkv_version() gives the library's. */
#define DKV_VERSION_MAJOR 0
#define DKV_VERSION_MINOR 1
#define DKV_VERSION_PATCH 0
#define DKV_VERSION_STRING "0.1.0"
/* 0xMMmmpp: compare with >= in #if. */
#define DKV_VERSION_NUMBER                                                     \
	((DKV_VERSION_MAJOR << 16) | (DKV_VERSION_MINOR << 8) | DKV_VERSION_PATCH)

#if defined(__GNUC__) || defined(__clang__)
#define DKV_WARN_UNUSED __attribute__((warn_unused_result))
#define DKV_MALLOC __attribute__((malloc))
#else
#define DKV_WARN_UNUSED
#define DKV_MALLOC
#endif

/* Error codes. Functions return DKV_OK or one of these (always negative). */
#define DKV_OK 0
#define DKV_ENOTFOUND (-1)    /* no live value for the key */
#define DKV_EINVAL (-2)       /* bad argument (NULL handle, empty key, ...) */
#define DKV_ETOOBIG (-3)      /* key, value or sibling set over its limit */
#define DKV_EUNAVAILABLE (-4) /* too few live replicas; nothing was written */
#define DKV_ETIMEDOUT (-5)    /* too few answers in time; may be partly written */
#define DKV_EIO (-6)          /* storage failed or a stored record is corrupt */
#define DKV_ENOMEM (-7)       /* out of memory */
#define DKV_ECONFIG (-8)      /* bad configuration; dkv_config_error() says why */
#define DKV_ECLOSED (-9)      /* the handle is closing or closed */
#define DKV_EDEADLK (-10)     /* blocking call made from a library callback */
#define DKV_EBUSY (-11)       /* too many async operations queued (max_pending), or
                                 a peer that is up cannot be removed */

/* Log levels passed to the logger callback. */
#define DKV_LOG_ERROR 0
#define DKV_LOG_WARN 1
#define DKV_LOG_INFO 2
#define DKV_LOG_DEBUG 3

typedef struct dkv dkv_t;
typedef struct dkv_config dkv_config_t;
typedef struct dkv_opts dkv_opts_t;
typedef struct dkv_result dkv_result_t;
typedef struct dkv_context dkv_context_t;

/* ------------------------------------------------------------------------
 * Library
 */

/* The library's version string ("0.1.0"); static, never freed. */
const char *dkv_version(void);

/* A static English message for an error code; never NULL, never freed. */
const char *dkv_strerror(int err);

/* ------------------------------------------------------------------------
 * Configuration. See dkv_config_set(3) for every name and its default.
 */

/* A configuration holding every default; NULL when out of memory.
 * Free it with dkv_config_free(); dkv_open() does not keep it. */
dkv_config_t *dkv_config_new(void) DKV_MALLOC;

/* Frees a configuration; NULL is a no-op. */
void dkv_config_free(dkv_config_t *cfg);

/* Sets one name to a string value, validated now. DKV_ECONFIG for an
 * unknown name or a bad value (dkv_config_error() names it), DKV_EINVAL for
 * NULL arguments. The value is copied. */
int dkv_config_set(dkv_config_t *cfg, const char *name, const char *value);

/* Reads "name = value" lines from a file ('#' starts a comment; blank lines
 * are skipped). Stops at the first bad line with DKV_ECONFIG and a message
 * naming the file and line; DKV_EIO when the file cannot be read. */
int dkv_config_load(dkv_config_t *cfg, const char *path);

/* Why the last set/load/open with this configuration failed ("" if it did
 * not). Owned by cfg; valid until the next call on cfg or its free. */
const char *dkv_config_error(const dkv_config_t *cfg);

/* Routes the library's log lines to fn (level is DKV_LOG_*; msg has no
 * trailing newline and is valid only during the call). fn may be called from
 * any library thread. NULL fn restores the default: warnings and errors to
 * stderr. */
void dkv_config_set_logger(dkv_config_t *cfg,
                           void (*fn)(int level, const char *msg, void *arg),
                           void *arg);

/* ------------------------------------------------------------------------
 * Lifecycle
 */

/* Opens a peer with this configuration (which the caller still owns and may
 * free at once). On success *out is the handle; on failure *out is NULL, the
 * code says what kind of failure and dkv_config_error(cfg) says why. */
int dkv_open(const dkv_config_t *cfg, dkv_t **out) DKV_WARN_UNUSED;

/* Stops this peer and frees the handle; NULL is a no-op. Operations in
 * flight complete with DKV_ECLOSED (async callbacks are still called, on the
 * I/O thread, before dkv_close returns). The peer keeps its data and comes
 * back as the same member when reopened on the same data_dir. Must not be
 * called from a library callback. */
void dkv_close(dkv_t *db);

/* Streams this peer's data to the peers that take over its ranges, then
 * leaves the ring for good (LEFT), and returns then; reads and writes go on
 * meanwhile. The handle stays open until dkv_close, and the data_dir cannot
 * be opened again. DKV_EUNAVAILABLE on a peer alone, or when fewer storage
 * peers than the replication would stay; DKV_EBUSY while this peer is
 * still joining; DKV_EINVAL on a client peer; DKV_ECLOSED when the handle
 * is closed first. */
int dkv_decommission(dkv_t *db);

/* The same for another storage peer (peer_id; NULL or this peer's id: this
 * peer), which is asked to leave: returns once it has left. DKV_ENOTFOUND
 * for a peer unknown or gone, DKV_EUNAVAILABLE when it is down or stops
 * before it has left, and its refusal (as above) otherwise. */
int dkv_decommission_peer(dkv_t *db, const char *peer_id);

/* ------------------------------------------------------------------------
 * Per-request options. NULL options everywhere mean the configured defaults.
 */
typedef enum {
	DKV_ONE,
	DKV_TWO,
	DKV_QUORUM,
	DKV_ALL,
	DKV_LOCAL_ONE,
	DKV_LOCAL_QUORUM,
	DKV_EACH_QUORUM
} dkv_consistency_t;

/* New options that keep the configured defaults; NULL when out of memory. */
dkv_opts_t *dkv_opts_new(void) DKV_MALLOC;
/* Frees options; NULL is a no-op. */
void dkv_opts_free(dkv_opts_t *o);
/* Consistency level of a request; an unknown value makes requests
 * fail with DKV_EINVAL. The setters ignore a NULL o. */
void dkv_opts_set_consistency(dkv_opts_t *o, dkv_consistency_t c);
/* Time limit of a request in milliseconds; 0 means the configured
 * timeout_ms. */
void dkv_opts_set_timeout_ms(dkv_opts_t *o, unsigned ms);

/* ------------------------------------------------------------------------
 * Operations. Keys and values are byte strings and may hold NUL bytes.
 * An empty or NULL key is DKV_EINVAL; a key over max_key_bytes or a value
 * over max_value_bytes is DKV_ETOOBIG. A NULL value is allowed only with
 * vlen 0.
 *
 * In a cluster each operation is coordinated by this peer across the
 * key's replicas at the level of o (else the configured r or w):
 * DKV_EUNAVAILABLE when the replicas that are up cannot meet it (nothing
 * was sent), DKV_ETIMEDOUT when too few answered within the time limit (a
 * write may have reached some), DKV_ECLOSED when the handle closed while
 * it waited. See libdkv(7), REPLICATION.
 */

/* Stores val under key. Without ctx (NULL) the value becomes a sibling of
 * what other writers stored (conflicts = siblings) but replaces the values
 * this same peer (its node_id) wrote before; in lww mode the newest
 * timestamp wins. With the context of a get it supersedes every version that get saw.
 * The library copies key, value and context. */
int dkv_put(dkv_t *db, const void *key, size_t klen, const void *val,
            size_t vlen, const dkv_context_t *ctx, const dkv_opts_t *o);

/* Reads key. DKV_OK: *res holds one or more sibling values, free it with
 * dkv_result_free(). DKV_ENOTFOUND when no live value exists (deleted keys
 * included). On any error *res is NULL. */
int dkv_get(dkv_t *db, const void *key, size_t klen, dkv_result_t **res,
            const dkv_opts_t *o) DKV_WARN_UNUSED;

/* Deletes key by writing a tombstone. With ctx it removes exactly what that
 * get saw; without it, every version this peer holds now (in a cluster:
 * every version a read at the same level finds). Deleting a missing key
 * is DKV_OK. */
int dkv_delete(dkv_t *db, const void *key, size_t klen,
               const dkv_context_t *ctx, const dkv_opts_t *o);

/* Number of sibling values in a result: 1 when there is no conflict. */
size_t dkv_result_count(const dkv_result_t *res);

/* Sibling i (0-based) and its length; NULL (and *vlen 0) when i is out of
 * range, never NULL for an empty value in range. The bytes belong to res.
 * vlen may be NULL. */
const void *dkv_result_value(const dkv_result_t *res, size_t i, size_t *vlen);

/* The causal context covering every sibling of res; pass it to put or delete
 * to supersede them. Owned by res: valid until dkv_result_free(). */
const dkv_context_t *dkv_result_context(const dkv_result_t *res);

/* Frees a result and its context; NULL is a no-op. */
void dkv_result_free(dkv_result_t *res);

/* Serialises a context into *buf (length *len), to keep it across requests
 * or processes. The caller frees *buf with free(). */
int dkv_context_encode(const dkv_context_t *c, void **buf, size_t *len);

/* Parses a serialised context into *c, freed with dkv_context_free().
 * Malformed input is DKV_EINVAL and *c is NULL. */
int dkv_context_decode(const void *buf, size_t len, dkv_context_t **c);

/* Frees a context from dkv_context_decode(); NULL is a no-op. Never pass the
 * context of a result here. */
void dkv_context_free(dkv_context_t *c);

/* Asynchronous forms. They return DKV_OK once the request is queued (then cb
 * is called exactly once, on the handle's I/O thread) or an error at once
 * (then cb is never called): DKV_EBUSY when too many requests are in flight,
 * DKV_ECLOSED when the handle is closing, or an argument error. The library
 * copies key, value and context before returning. */
typedef void (*dkv_done_cb)(int err, void *arg);
/* The callback owns res (NULL unless err is DKV_OK). */
typedef void (*dkv_get_cb)(int err, dkv_result_t *res, void *arg);

int dkv_put_async(dkv_t *db, const void *key, size_t klen, const void *val,
                  size_t vlen, const dkv_context_t *ctx, const dkv_opts_t *o,
                  dkv_done_cb cb, void *arg);
int dkv_get_async(dkv_t *db, const void *key, size_t klen,
                  const dkv_opts_t *o, dkv_get_cb cb, void *arg);
int dkv_delete_async(dkv_t *db, const void *key, size_t klen,
                     const dkv_context_t *ctx, const dkv_opts_t *o,
                     dkv_done_cb cb, void *arg);

/* ------------------------------------------------------------------------
 * Cluster view
 */
typedef enum {
	DKV_PEER_UP,
	DKV_PEER_DOWN,
	DKV_PEER_JOINING,
	DKV_PEER_LEAVING,
	DKV_PEER_LEFT /* only this peer, listed first, after dkv_decommission */
} dkv_peer_state_t;

typedef struct dkv_peer_info {
	const char *id, *addr, *dc, *rack;
	dkv_peer_state_t state;
	double phi;       /* failure-detector suspicion */
	unsigned tokens;  /* vnodes owned; 0 for a client peer */
	double ownership; /* fraction of the ring it holds as primary */
	unsigned moved;   /* JOINING or LEAVING: percent of its ranges moved */
} dkv_peer_info_t;

/* Every known peer, this one included (first). Free the list with
 * dkv_peers_free(list, count); the strings belong to the list. */
int dkv_peers(dkv_t *db, dkv_peer_info_t **list, size_t *count)
    DKV_WARN_UNUSED;

/* Frees a list from dkv_peers(); NULL is a no-op. */
void dkv_peers_free(dkv_peer_info_t *list, size_t count);

/* One range of the ring: the tokens in (start, end] (big-endian 128-bit
 * numbers, wrapping past the top) have `peer` as their primary replica. A
 * peer alone, outside a cluster, owns one range with start == end. */
typedef struct dkv_token_range {
	const char *peer;
	unsigned char start[16], end[16];
} dkv_token_range_t;

/* The ring as this peer sees it, in token order. Free the list with
 * dkv_ring_free(list, count); the strings belong to the list. */
int dkv_ring(dkv_t *db, dkv_token_range_t **list, size_t *count) DKV_WARN_UNUSED;

/* Frees a list from dkv_ring(); NULL is a no-op. */
void dkv_ring_free(dkv_token_range_t *list, size_t count);

/* Removes a dead peer from the cluster for good (it is gossiped as LEFT and
 * gives up its tokens). DKV_ENOTFOUND for an unknown id, DKV_EBUSY while
 * that peer is UP or when id is this peer. A removed peer that restarts
 * later joins again. */
int dkv_remove_peer(dkv_t *db, const char *id);

/* What a repair pass did (dkv_repair), counted by the peer that ran it. */
typedef struct dkv_repair_report {
	uint64_t ranges;           /* token ranges compared with another replica */
	uint64_t ranges_differing; /* of those, where the two Merkle trees differed */
	uint64_t keys_compared;    /* keys compared in the differing leaves */
	uint64_t keys_repaired;    /* objects sent, either way, to be merged */
	uint64_t failed;           /* comparisons that could not run or finish */
} dkv_repair_report_t;

/* Anti-entropy now: compares every token range the peer replicates with
 * each of its other replicas that is UP (Merkle trees, then the keys that
 * differ) and merges what differs both ways; returns when that pass is
 * over. peer_id NULL (or this peer's id) runs it here; another storage
 * peer's id asks that peer to run it. report (may be NULL) gets its
 * counts. DKV_EUNAVAILABLE when that peer is not UP, outside a cluster,
 * or on a client peer asked to repair itself; DKV_ENOTFOUND for an
 * unknown id; DKV_ECLOSED when dkv_close interrupts it. Blocks the
 * calling thread (on the I/O thread: DKV_EDEADLK). */
int dkv_repair(dkv_t *db, const char *peer_id, dkv_repair_report_t *report);

/* FOR TESTS ONLY: a fault between this peer and peer `id`, so a test can
 * partition a running cluster without root. DKV_FAULT_DROP drops every
 * frame this peer sends to or receives from it (a partition: the failure
 * detector sees it DOWN); DKV_FAULT_DROP_DATA drops only replication
 * messages (it stays UP but never answers); delay_ms > 0 holds back what
 * this peer sends it that long. flags 0 and delay_ms 0 heal. A drop on
 * one side already cuts the link both ways (this peer neither sends to
 * it nor reads what it sends); a delay slows this side's frames only.
 * DKV_ENOTFOUND for an unknown peer or this peer's own id, DKV_EINVAL
 * outside a cluster or for unknown flags, DKV_ENOMEM past 64 faulty
 * links, DKV_ECLOSED after dkv_close began. */
#define DKV_FAULT_DROP 0x1u
#define DKV_FAULT_DROP_DATA 0x2u
int dkv_debug_fault(dkv_t *db, const char *id, unsigned flags, unsigned delay_ms);

/* Calls fn once per statistic (counters since open, gauges now), on the
 * calling thread. The names are listed in dkv_peers(3). */
int dkv_stats(dkv_t *db, void (*fn)(const char *name, double value, void *arg),
              void *arg);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* LIBDKV_DKV_H */
