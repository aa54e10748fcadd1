/*
 * Allocation wrappers with a fault-injection hook (see alloc.h).
 *
 * The hook is the library's one piece of process-wide state; it is off
 * unless a test turns it on, and costs one relaxed atomic load per call.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/stdlib.h>

#include "util/alloc.h"

static _Atomic long fail_countdown; /* 0 = off */
static _Atomic int fail_sticky;

static int
should_fail(void)
{
	long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);

	if (n == 0)
		return 0;
	if (n == 1) {
		if (!atomic_load_explicit(&fail_sticky, memory_order_relaxed))
			atomic_store(&fail_countdown, 0);
		return 1;
	}
	atomic_fetch_sub(&fail_countdown, 1);
	return 0;
}

void
mem_fail_after(long nth, int sticky)
{
	atomic_store(&fail_sticky, sticky);
	atomic_store(&fail_countdown, nth < 0 ? 0 : nth);
}

void *
mem_alloc(size_t n)
{
	if (should_fail())
		return NULL;
	return malloc(n == 0 ? 1 : n);
}

void *
mem_calloc(size_t count, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);
}

void *
mem_realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	return realloc(p, n == 0 ? 1 : n);
}

void *
mem_reallocarray(void *p, size_t count, size_t size)
{
	if (should_fail())
		return NULL;
	return reallocarray(p, count == 0 ? 1 : count, size == 0 ? 1 : size);
}

char *
mem_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = mem_alloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

void
mem_free(void *p)
{
	free(p);
}
