/*
 * Hints: writes held for a replica that was down (sloppy quorum).
 *
 * When one of a key's replicas is down, the coordinator sends its copy to
 * a fallback peer (the next live peer along the ring that is not a
 * replica), tagged with the peer it is meant for. The fallback keeps it in
 * its store, beside its own objects, under
 *
 *   'h' | u8 len | intended peer id | token (16 bytes) | user key
 *
 * so one peer's hints are one contiguous scan (hint_prefix) and its
 * records sort in ring order. The record's value is
 *
 *   u64 stamp (wall-clock ms, little-endian) | encoded object
 *
 * Two hints for one (peer, key) are merged like replica copies, keeping
 * the later stamp: a hint expires hint_window_s after the last write that
 * joined it, so a write acknowledged through a hint is never dropped at
 * once. A hint is deleted
 * only once the intended peer has acknowledged exactly what the record
 * held (hint_fingerprint), so a write that joins a hint while it is in
 * flight is delivered in the next round.
 *
 * This file only encodes and decodes; lib/hints.c delivers them and
 * replica.c (replica_store_hint) writes them.
 */
#ifndef DKV_CORE_HINT_H
#define DKV_CORE_HINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/token.h"
#include "core/vv.h"

#define HINT_VALUE_HEADER 8

/* Bytes of a hint's storage key. */
size_t hint_key_size(const struct actor *intended, size_t klen);
void hint_key_encode(uint8_t *out, const struct actor *intended, struct token t, const void *key,
                     size_t klen);

/* The parts of a hint's storage key (key points into k). DKV_EINVAL for
 * anything that is not a well-formed hint key. */
int hint_key_decode(const void *k, size_t klen, struct actor *intended, struct token *t,
                    const uint8_t **key, size_t *ukeylen);

/* [*start, *limit) spans every hint for intended: 2 + len bytes each. */
#define HINT_PREFIX_MAX (2 + ACTOR_MAX)
size_t hint_prefix(uint8_t start[HINT_PREFIX_MAX], uint8_t limit[HINT_PREFIX_MAX],
                   const struct actor *intended);
/* [start, limit) spanning every hint of every peer. */
extern const uint8_t hint_all_start[1], hint_all_limit[1];

/* A record's creation time and object (obj points into v). DKV_EINVAL for
 * a value too short to hold the header. */
int hint_value_decode(const void *v, size_t vlen, uint64_t *created_ms, const uint8_t **obj,
                      size_t *olen);
void hint_value_header(uint8_t out[HINT_VALUE_HEADER], uint64_t created_ms);

/* Whether a hint created at created_ms has outlived its window. */
bool hint_expired(uint64_t created_ms, uint64_t now_ms, uint64_t window_s);

/* A 64-bit digest of a record's value: what was sent is what gets
 * deleted. */
uint64_t hint_fingerprint(const void *v, size_t vlen);

#endif
