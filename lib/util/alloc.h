/*
 * Allocation wrappers used by the whole library.
 *
 * They behave like malloc & co. (NULL on failure, never abort) but go through
 * one place, so tests can make the Nth allocation fail and check that every
 * error path unwinds cleanly (jansson's test_chaos, SQLite's fault.c).
 */
#ifndef DKV_UTIL_ALLOC_H
#define DKV_UTIL_ALLOC_H

#include <stddef.h>

void *mem_alloc(size_t n);
void *mem_calloc(size_t count, size_t size);
void *mem_realloc(void *p, size_t n);
void *mem_reallocarray(void *p, size_t count, size_t size);
char *mem_strdup(const char *s);
void mem_free(void *p);

/* Test hook: fail the nth allocation from now (1 = the next), then every
 * later one too if sticky; 0 turns failures off. Process-wide by nature, so
 * only single-threaded unit tests use it. */
void mem_fail_after(long nth, int sticky);

#endif
