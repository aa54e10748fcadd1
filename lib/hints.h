/*
 * Hinted handoff, the shell side (core/hint.h has the record layout).
 *
 * A loop timer (HINTS_TICK_MS) walks the hints this peer holds for each
 * storage peer that is UP, one batch per peer at a time, and sends each
 * hint's object to its peer as a plain STORE (merged like any replica
 * write, so a duplicate delivery is harmless). The batch is hint_rate / 10
 * hints per tick, so a peer gets at most hint_rate hints a second. A hint
 * is deleted when its peer answers STORED OK, and only if the record
 * still holds what was sent (hint_fingerprint, compared under the key's
 * lock): a write that joined it meanwhile goes out in the next round. An
 * unanswered delivery is forgotten after timeout_ms and the hint is sent
 * again later. Hints older than hint_window_s are deleted unsent and
 * counted as dropped (anti-entropy repairs those keys): found while
 * delivering, or by a sweep of all hints every HINTS_SWEEP_MS, which also
 * reaches hints for peers that stay down or were removed.
 *
 * Loop thread only, except the counters.
 */
#ifndef DKV_HINTS_H
#define DKV_HINTS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/vv.h"

#define HINTS_TICK_MS 100
#define HINTS_SWEEP_MS 10000

struct dkv;
struct cluster;
struct hints;

int hints_open(struct dkv *db, struct cluster *c, struct hints **out);
/* No more deliveries (dkv_close); the counters stay readable. */
void hints_stop(struct hints *h);
void hints_free(struct hints *h);

/* A STORED answer that no operation claimed: a delivery's, if id is one.
 * True when it was. */
bool hints_on_stored(struct hints *h, uint64_t id, const struct actor *from, int status);

/* Runs a delivery round now (tests, and dkv repair later). */
void hints_kick(struct hints *h);

/* hints_delivered, hints_dropped, hints_in_flight, and hints_held: the
 * records held here, counted (up to HINTS_HELD_MAX) by a scan. Any
 * thread. */
#define HINTS_HELD_MAX 1000000
void hints_stats(struct hints *h, void (*fn)(const char *name, double value, void *arg),
                 void *arg);

#endif
