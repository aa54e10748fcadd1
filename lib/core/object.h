/*
 * Versioned objects: what one replica holds for one key.
 *
 * An object is a version vector (everything this replica has seen for the
 * key) plus a set of siblings. Each sibling is one value (or tombstone)
 * tagged with the dot (actor, counter) of the event that wrote it, the
 * writer that asked for it and a timestamp. This is the dotted-version-
 * vector scheme of Riak 2.0: the dot, not the vector, says which event a
 * value came from, so concurrent writes through one replica are told apart
 * and there are no false siblings.
 *
 * Rules (also in libdkv(7)):
 *  - put with context C at replica A: siblings whose dot C covers are
 *    superseded; the new value gets dot (A, max(vv[A], C[A]) + 1); the
 *    vector becomes vv ∪ C plus the new dot.
 *  - put without context from writer W (a "blind" put): supersedes the
 *    siblings W itself wrote, and only those. Repeated blind writes from
 *    one writer therefore keep one value, while k writers give k siblings.
 *  - merge(a, b): a sibling survives if the other side holds the same dot
 *    or has not seen it; vectors take the pointwise max. Commutative,
 *    associative and idempotent (on the canonical form).
 *  - lww mode: only the sibling with the greatest (timestamp, dot) stays.
 *    A replica stamps a put max(now, newest stamp it holds + 1), so puts
 *    through one replica are ordered even if its wall clock steps back.
 *  - a delete is a put of a tombstone sibling; an object whose siblings are
 *    all tombstones reads as not found.
 */
#ifndef DKV_CORE_OBJECT_H
#define DKV_CORE_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/vv.h"

#define OBJECT_FORMAT 1
#define OBJECT_MAX_SIBLINGS 1024 /* decode bound; puts stop far earlier */
#define SIB_TOMBSTONE 0x01u

enum conflict_mode { CONFLICTS_SIBLINGS, CONFLICTS_LWW };

struct sibling {
	struct actor dot_actor;
	uint64_t dot_counter;
	struct actor writer;
	uint64_t ts_us;
	uint8_t flags;
	const uint8_t *val; /* borrowed from the decoded buffer or the put */
	uint32_t vlen;
};

#define OBJECT_SMALL 2
struct object {
	struct vv vv;
	uint32_t n, cap;
	struct sibling *heap;
	struct sibling small[OBJECT_SMALL];
};

struct put_args {
	const struct vv *ctx;       /* NULL: blind put */
	const struct actor *actor;  /* replica applying the put */
	const struct actor *writer; /* peer that coordinated it */
	uint64_t now_us;
	uint8_t flags; /* SIB_TOMBSTONE for a delete */
	const void *val;
	uint32_t vlen;
	enum conflict_mode mode;
	uint32_t max_siblings; /* DKV_ETOOBIG past this many */
};

void object_init(struct object *o);
void object_free(struct object *o);
struct sibling *object_siblings(struct object *o);
const struct sibling *object_siblings_const(const struct object *o);
size_t object_live_count(const struct object *o);
bool object_is_empty(const struct object *o);
/* Whether o holds tombstones only, every one written at least grace_us
 * before now_us: a candidate for tombstone collection (gc.h). */
bool object_reapable(const struct object *o, uint64_t now_us, uint64_t grace_us);

/* Applies a put or delete. On error the object is unspecified: free it. */
int object_put(struct object *o, const struct put_args *p);
/* dst := merge(dst, src); dst borrows src's value bytes. */
int object_merge(struct object *dst, const struct object *src,
                 enum conflict_mode mode);

/* Sorts vector entries and siblings so equal objects encode equally. */
void object_canonicalize(struct object *o);
/* Encoded size; 0 if the object cannot be encoded (too many actors). */
size_t object_encoded_size(const struct object *o);
/* Writes a canonical object into out (object_encoded_size bytes). */
void object_encode(struct object *o, uint8_t *out);
/* Parses buf (values stay borrowed from it). DKV_EIO if malformed. */
int object_decode(struct object *o, const void *buf, size_t len);
/* The sum of an encoded object's version-vector counters, 0 if it does
 * not decode: a version that dominates another has a larger sum (what
 * anti-entropy uses to pick which side sends, keydiff.h). */
uint64_t object_vv_sum(const void *buf, size_t len);

#endif
