/* Striped key locks (see keylock.h). */
#include "config.h"

#include "keylock.h"

void
keylock_init(struct keylock *k)
{
	for (int i = 0; i < KEYLOCK_STRIPES; i++)
		pthread_mutex_init(&k->stripe[i], NULL);
}

void
keylock_destroy(struct keylock *k)
{
	for (int i = 0; i < KEYLOCK_STRIPES; i++)
		pthread_mutex_destroy(&k->stripe[i]);
}
