/*
 * Striped key locks: writes to one key are read-modify-write cycles, so
 * they must not interleave. A fixed array of mutexes indexed by the key's
 * token serialises writers of one key while writers of different keys
 * (almost always on different stripes) run in parallel. Reads take no lock:
 * LevelDB returns each record whole.
 */
#ifndef DKV_KEYLOCK_H
#define DKV_KEYLOCK_H

#include <pthread.h>

#include "core/token.h"

#define KEYLOCK_STRIPES 1024

struct keylock {
	pthread_mutex_t stripe[KEYLOCK_STRIPES];
};

void keylock_init(struct keylock *k);
void keylock_destroy(struct keylock *k);

static inline pthread_mutex_t *
keylock_for(struct keylock *k, struct token t)
{
	return &k->stripe[t.lo & (KEYLOCK_STRIPES - 1)];
}

#endif
