/* Small helpers shared by the internal unit tests. */
#ifndef DKV_TESTS_UNIT_H
#define DKV_TESTS_UNIT_H

#include <check.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/token.h"
#include "core/vv.h"

/* For checks inside loops over thousands of cases: Check's ck_assert
 * records each passing check through a pipe, which makes such loops take
 * seconds; this reports only a failure (with its line). */
#define expect(cond)                                                                               \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg("expected " #cond);                                           \
	} while (0)

static inline struct actor
mk_actor(const char *id)
{
	struct actor a;

	ck_assert_int_eq(actor_set(&a, id, strlen(id)), 0);
	return a;
}

/* xorshift64*: deterministic per seed, so a failure replays. */
static inline uint64_t
test_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static inline int
run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
