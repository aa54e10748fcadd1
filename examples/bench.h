/*
 * dkv bench: libdkv's synchronous and asynchronous APIs measured against
 * raw LevelDB opened with the library's own options (see bench.c).
 */
#ifndef DKV_EXAMPLES_BENCH_H
#define DKV_EXAMPLES_BENCH_H

#include <stdint.h>

#include "cli_settings.h"

/* Runs `dkv bench` with its own arguments (argv[0] is "bench"); the global
 * settings apply to the dkv stores it opens, not to the LevelDB baseline.
 * Returns the process exit status: 0 ok, 1 a run failed, 2 usage error. */
int bench_main(int argc, char **argv, const struct cli_settings *settings);

/* Log-linear latency histogram over nanoseconds, shared by both benches:
 * values below 2*HIST_SUB are exact, above that each power of two is cut
 * into HIST_SUB buckets (1.6% wide), so memory does not grow with a run.
 * About 30 KiB: allocate it rather than put it on the stack. */
#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct histogram {
	uint64_t count;
	uint64_t bucket[HIST_BUCKETS];
};

void hist_add(struct histogram *h, uint64_t ns);
/* The latency at quantile q (0..1) in microseconds: the middle of the
 * bucket holding that rank; 0 for an empty histogram. */
double hist_quantile_us(const struct histogram *h, double q);

#endif
