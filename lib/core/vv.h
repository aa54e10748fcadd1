/*
 * Actor ids and version vectors.
 *
 * An actor is a peer that creates versions (its node_id, at most 64 bytes).
 * A version vector maps actors to the highest event counter seen from each;
 * it is the causal context an application carries from a get to a put. Dots
 * (actor, counter) name single events; vv_covers tells whether a vector has
 * seen one. The same encoding serves dkv_context_encode and storage.
 */
#ifndef DKV_CORE_VV_H
#define DKV_CORE_VV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACTOR_MAX 64
#define VV_MAX_ENTRIES 512
#define VV_CONTEXT_FORMAT 1

struct actor {
	uint8_t len;
	char id[ACTOR_MAX];
};

struct vv_entry {
	struct actor actor;
	uint64_t counter;
};

/* Up to VV_SMALL entries live inline; more move to the heap. Not movable
 * by plain copy while on the heap: use vv_copy. */
#define VV_SMALL 4
struct vv {
	uint32_t n, cap;
	struct vv_entry *heap; /* NULL while the inline array suffices */
	struct vv_entry small[VV_SMALL];
};

enum vv_order { VV_EQUAL, VV_BEFORE, VV_AFTER, VV_CONCURRENT };

/* DKV_EINVAL unless 1..ACTOR_MAX bytes. */
int actor_set(struct actor *a, const void *id, size_t len);
bool actor_eq(const struct actor *a, const struct actor *b);
int actor_cmp(const struct actor *a, const struct actor *b);

void vv_init(struct vv *v);
void vv_free(struct vv *v);
int vv_copy(struct vv *dst, const struct vv *src);
struct vv_entry *vv_entries(struct vv *v);
const struct vv_entry *vv_entries_const(const struct vv *v);
int vv_index(const struct vv *v, const struct actor *a); /* -1 if absent */
uint64_t vv_get(const struct vv *v, const struct actor *a);
/* Sets a's counter (adding the entry); DKV_ETOOBIG past VV_MAX_ENTRIES. */
int vv_set(struct vv *v, const struct actor *a, uint64_t counter);
/* dst := pointwise max(dst, src). */
int vv_merge(struct vv *dst, const struct vv *src);
bool vv_covers(const struct vv *v, const struct actor *a, uint64_t counter);
enum vv_order vv_compare(const struct vv *a, const struct vv *b);

/* Context encoding: u8 format, u16 count, then per non-zero entry
 * u8 len, id bytes, u64 counter (little-endian). */
size_t vv_encoded_size(const struct vv *v);
void vv_encode(const struct vv *v, uint8_t *out);
/* DKV_EINVAL for anything malformed (bad format, short, trailing bytes,
 * duplicate actor, zero counter); v is initialised either way. */
int vv_decode(struct vv *v, const void *buf, size_t len);

#endif
