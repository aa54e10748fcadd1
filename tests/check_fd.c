/*
 * Failure detector (lib/core/fd.c), fed synthetic heartbeat times: no
 * suspicion while heartbeats flow, even with jitter or a 1 s stall;
 * conviction within 3 s of the last heartbeat of a dead peer; recovery
 * when heartbeats resume.
 */
#include "config.h"

#include "core/fd.h"
#include "unit.h"

static const struct fd_params params = {
	.min_stddev_ms = 200, .acceptable_pause_ms = 1000, .first_interval_ms = 250};

static uint64_t
feed(struct fd *f, uint64_t start, int beats, uint64_t *seed)
{
	uint64_t t = start;

	for (int i = 0; i < beats; i++) {
		t += 200 + test_rand(seed) % 100; /* 250 ms +- 50 ms */
		fd_heartbeat(f, &params, t);
	}
	return t;
}

START_TEST(test_steady_heartbeats_are_not_suspected)
{
	struct fd f;
	uint64_t seed = 1, t;

	fd_init(&f);
	ck_assert(fd_phi(&f, &params, 1000) == 0.0); /* never heard: no opinion */
	t = feed(&f, 1000, 500, &seed);
	ck_assert_msg(fd_phi(&f, &params, t + 250) < 1.0, "phi %f", fd_phi(&f, &params, t + 250));
}
END_TEST

START_TEST(test_a_one_second_stall_is_not_convicted)
{
	struct fd f;
	uint64_t seed = 2, t;
	double worst = 0;

	fd_init(&f);
	t = feed(&f, 1000, 200, &seed);
	for (uint64_t d = 0; d <= 1300; d += 10) {
		double phi = fd_phi(&f, &params, t + d);

		if (phi > worst)
			worst = phi;
	}
	printf("worst phi during a 1.3 s silence: %.3f\n", worst);
	ck_assert_msg(worst < 8.0, "1.3 s stall reached phi %f", worst);
	fd_heartbeat(&f, &params, t + 1300);
	ck_assert(fd_phi(&f, &params, t + 1400) < 1.0);
}
END_TEST

START_TEST(test_a_dead_peer_is_convicted_within_three_seconds)
{
	struct fd f;
	uint64_t seed = 3, t, d;

	fd_init(&f);
	t = feed(&f, 1000, 200, &seed);
	for (d = 0; d < 10000; d += 10)
		if (fd_phi(&f, &params, t + d) > 8.0)
			break;
	printf("phi passed 8 after %llu ms of silence\n", (unsigned long long)d);
	ck_assert_uint_lt(d, 3000);
	ck_assert_uint_gt(d, 1500);
	/* and phi keeps growing */
	ck_assert(fd_phi(&f, &params, t + 6000) > fd_phi(&f, &params, t + 3000));
}
END_TEST

START_TEST(test_heartbeats_resuming_clear_suspicion)
{
	struct fd f;
	uint64_t seed = 4, t;

	fd_init(&f);
	t = feed(&f, 1000, 100, &seed);
	ck_assert(fd_phi(&f, &params, t + 5000) > 8.0);
	t = feed(&f, t + 5000, 5, &seed);
	ck_assert(fd_phi(&f, &params, t + 100) < 1.0);
}
END_TEST

START_TEST(test_a_clock_going_backwards_is_ignored)
{
	struct fd f;

	fd_init(&f);
	fd_heartbeat(&f, &params, 5000);
	fd_heartbeat(&f, &params, 4000);
	ck_assert_uint_eq(f.last_ms, 5000);
	ck_assert(fd_phi(&f, &params, 4500) == 0.0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("fd");
	TCase *tc = tcase_create("fd");

	tcase_add_test(tc, test_steady_heartbeats_are_not_suspected);
	tcase_add_test(tc, test_a_one_second_stall_is_not_convicted);
	tcase_add_test(tc, test_a_dead_peer_is_convicted_within_three_seconds);
	tcase_add_test(tc, test_heartbeats_resuming_clear_suspicion);
	tcase_add_test(tc, test_a_clock_going_backwards_is_ignored);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
