/*
 * What the files of `dkv bench --cluster` share: the run, its options and
 * what it measured, and what each file offers the others. bench_cluster.c
 * drives a run through the parts declared below.
 */
#ifndef DKV_EXAMPLES_BENCH_CLUSTER_RUN_H
#define DKV_EXAMPLES_BENCH_CLUSTER_RUN_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <libdkv/dkv.h>

#include "bench_util.h"
#include "cli_settings.h"
#include "zipf.h"

#define CLUSTER_PEERS 3 /* storage peers started, and the replication factor */
#define KEY_HEAD 16     /* key bytes that make it unique; the rest is padding */

enum level { LEVEL_ONE, LEVEL_QUORUM, LEVEL_ALL, LEVEL_COUNT };

extern const char *const level_names[LEVEL_COUNT]; /* "ONE", "QUORUM", "ALL" */

struct cluster_opts {
	const char *seeds; /* join this cluster instead of starting one */
	uint64_t keys;
	size_t key_size, value_size;
	unsigned window;
	double seconds;   /* of each mix phase ... */
	uint64_t mix_ops; /* ... unless this many operations (> 0) */
	unsigned read_pct;
	uint64_t rtt_trips;
	uint64_t redis_requests;
	bool run_level[LEVEL_COUNT];
	bool redis;
	bool keep;
	struct bench_common_opts common; /* --dir (the run's directory goes in it), --quiet */
	const struct cli_settings *settings;
};

/* What one phase measured. */
struct measured {
	bool ran;
	uint64_t ops, gets, found, wrong, errors, get_errors;
	int first_error;
	double seconds, p50_us, p99_us, p999_us, max_us;
	double cpu_us; /* user + system CPU of the processes involved, per operation */
};

struct level_report {
	struct measured put, get, mix;
};

/* A `dkv serve` child. */
struct peer_proc {
	pid_t pid; /* 0 once reaped */
	int port;
	int status; /* from waitpid */
	bool killed;
	double rss_start_mib, rss_end_mib, hwm_mib;
};

/* redis-benchmark's figures for one test. */
struct redis_figures {
	bool ok;
	double rps, p50_us, p99_us;
};

enum redis_state { REDIS_NOT_RUN, REDIS_NOT_FOUND, REDIS_FAILED, REDIS_OK };

struct redis_report {
	enum redis_state state;
	char why[160];
	unsigned clients[2];
	struct redis_figures set[2], get[2]; /* [0] one client, [1] window clients */
	double hwm_mib;
};

/* Everything a run has and measured. */
struct cluster_run {
	struct cluster_opts o;
	char dir[PATH_MAX];
	struct peer_proc peers[CLUSTER_PEERS];
	int npeers; /* started here; 0 when joining with --seeds */
	char seeds[300];
	unsigned storage_peers; /* what the client saw when it started */
	double join_s;
	uint32_t tag;    /* this run's keys, distinct from an earlier run's */
	uint8_t *values; /* from bench_values_new */
	struct level_report levels[LEVEL_COUNT];
	struct measured preload, floor;
	struct redis_report redis;
	double client_hwm_mib;
	double loadavg; /* of the last minute, when the run started: the machine is shared */
	bool failed;
};

/* Set by SIGINT or SIGTERM: every loop of the run stops early. */
extern volatile sig_atomic_t stop_requested;

/* bench_cluster_peers.c */

/* Picks ports and starts every peer, the first one the seed of the
 * others; false (with a message) if one could not be started. */
bool start_peers(struct cluster_run *run, struct rng *r);
/* Reads each peer's peak RSS, stops them all (SIGTERM) and says how any
 * ended other than with exit 0, which fails the run. */
void stop_peers(struct cluster_run *run);
/* Each peer's VmRSS into rss_start_mib (start) or rss_end_mib. */
void sample_rss(struct cluster_run *run, bool start);
/* CPU used so far by this process and the peers started here, in
 * microseconds. */
double cluster_cpu_us(const struct cluster_run *run);
/* Joins the cluster at run->seeds as a client peer. */
int open_client(struct cluster_run *run, dkv_t **db);
/* Until the client sees every storage peer up with tokens (all three
 * started here, or at least three of a joined cluster) and their number
 * held still for a while; false if a peer died, on a timeout or when
 * interrupted. */
bool wait_for_cluster(struct cluster_run *run, dkv_t *db);

/* bench_cluster_phases.c */

/* Everything measured against the cluster, through the client peer;
 * false when a phase could not run or the run was interrupted. */
bool run_levels(struct cluster_run *run, dkv_t *db);
/* Fills m's figures from h over ns nanoseconds and ends the phase's
 * progress line with them. */
void measured_close(struct measured *m, const struct histogram *h, uint64_t ns,
                    const struct bench_progress *p);
/* Too many failures for the figures to mean anything. */
bool cut_short(const struct measured *m);

/* bench_cluster_floor.c: measures run->floor. */
bool run_floor(struct cluster_run *run);

/* bench_cluster_redis.c */

/* Runs Redis into run->redis, or says there why it did not. */
void run_redis(struct cluster_run *run, struct rng *r);
/* Redis's figure for the same get/put mix at the window's clients: the
 * time per operation of the mix from its GET and SET rates; 0 without. */
double redis_mix_rps(const struct cluster_run *run);

/* bench_cluster_report.c */

/* The lines that say what runs where, before the first phase. */
void print_header(const struct cluster_run *run);
/* Every table; false when one was short of memory. */
bool print_report(const struct cluster_run *run);

#endif
