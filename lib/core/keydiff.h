/*
 * What two replicas' entries in the same leaves say to send and to ask
 * for (sans-I/O): the decision at the bottom of an anti-entropy exchange
 * (ae.h, step 5), apart from the store and the wire.
 *
 * Each side lists its entries as (tag, entry hash, version-vector sum);
 * a tag is a salted 32-bit hash of the key (merkle_key_tag), the same on
 * both sides for the same key. This side ("mine") knows its keys; of the
 * other side's it knows only the tags. Grouped by tag:
 *  - a tag only mine has: the other side lacks those keys; send them;
 *  - a tag only theirs has: this side lacks it; ask for it;
 *  - one entry each, same hash: the key agrees;
 *  - one entry each, hashes differ: both hold it differently. The side
 *    whose vector has the larger sum (a version that dominates another
 *    always has) sends, with sync-back (the receiver sends its merge back
 *    if that differs from what it got): this side sends, or asks;
 *  - several entries under one tag on either side (two keys share the
 *    tag; with a salt of its own per exchange, about one batch in 10^4):
 *    send all of mine and ask for the tag, both with sync-back, so both
 *    sides end up with the merge of everything under it.
 * The result depends only on the sets, not on their order.
 */
#ifndef DKV_CORE_KEYDIFF_H
#define DKV_CORE_KEYDIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct keydiff_entry {
	uint32_t tag;
	uint32_t idx; /* mine: the caller's index of the key */
	uint64_t hash, sum;
};

struct keydiff_ops {
	/* send my entry idx (syncback: the receiver answers with its merge
	 * if that differs) */
	void (*send)(void *arg, uint32_t idx, bool syncback);
	/* ask for every key the other side holds under tag */
	void (*want)(void *arg, uint32_t tag, bool syncback);
	void *arg;
};

/* Sorts both lists by tag and calls ops for what differs. Returns how
 * many keys were compared (per tag, the larger side's count). */
size_t keydiff(struct keydiff_entry *mine, size_t nm, struct keydiff_entry *theirs, size_t nt,
               const struct keydiff_ops *ops);

#endif
