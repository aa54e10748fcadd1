/*
 * dkv bench: libdkv's synchronous and asynchronous APIs measured against
 * raw LevelDB opened with the library's own options (see bench.c).
 */
#ifndef DKV_EXAMPLES_BENCH_H
#define DKV_EXAMPLES_BENCH_H

#include "cli_settings.h"

/* Runs `dkv bench` with its own arguments (argv[0] is "bench"); the global
 * settings apply to the dkv stores it opens, not to the LevelDB baseline.
 * Returns the process exit status: 0 ok, 1 a run failed, 2 usage error. */
int bench_main(int argc, char **argv, const struct cli_settings *settings);

#endif
