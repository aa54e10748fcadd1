/*
 * dkv bench --cluster: replicated puts and gets across three storage peers
 * on loopback at ONE, QUORUM and ALL, beside the floor of a loopback TCP
 * round trip and, when it is installed, Redis (see bench_cluster.c).
 */
#ifndef DKV_EXAMPLES_BENCH_CLUSTER_H
#define DKV_EXAMPLES_BENCH_CLUSTER_H

#include "cli_settings.h"

/* Runs `dkv bench --cluster` with the bench's arguments (argv[0] is
 * "bench"; --cluster is among the rest). The global -c and --set settings
 * apply to the peers it starts and to its own client peer; a global
 * --seeds joins that cluster instead of starting one. Returns the exit
 * status: 0 every measurement was made (targets missed included), 1 one
 * could not be made, 2 usage error, 130 interrupted. */
int bench_cluster_main(int argc, char **argv, const struct cli_settings *settings);

#endif
