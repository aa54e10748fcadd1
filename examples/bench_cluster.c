/*
 * dkv bench --cluster: what replication costs, next to the floor it cannot
 * go below and to a well-known server on the same machine.
 *
 * Three storage peers run as `dkv serve` child processes on loopback with
 * N=3 (or an existing cluster is joined with --seeds), and this process
 * joins as a client peer, so every operation crosses the network to the
 * replicas the way an application's would (bench_cluster_peers.c). For
 * each consistency level (ONE, QUORUM, ALL) it measures one caller doing
 * synchronous puts, then gets of what it put, and then a window of
 * asynchronous operations kept in flight on a read-mostly mix over
 * preloaded keys (bench_cluster_phases.c).
 *
 * In the same run it measures the floor of any request/response here: a
 * TCP ping-pong between this process and a forked echo server, with
 * messages as long as a key and a value (bench_cluster_floor.c). When
 * redis-server and redis-benchmark are installed it runs Redis's SET/GET
 * with the same value size, one client and as many clients as the window
 * (bench_cluster_redis.c). The targets are stated as ratios of these, so
 * each figure is printed beside what it is compared with, all from this
 * one run; they are reported, never enforced (bench_cluster_report.c).
 * Each peer's peak RSS (VmHWM) is read from /proc before it is stopped.
 *
 * This file holds the options and the run's order. Forks happen only
 * while this process runs no library thread: the peers before the client
 * peer opens, the echo server and Redis after it has closed. Every child
 * gets SIGTERM if this process dies, so none is left behind.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_cluster.h"
#include "bench_cluster_run.h"
#include "bench_proc.h"
#include "bench_util.h"

static const char *const level_flags[LEVEL_COUNT] = {"one", "quorum", "all"};

volatile sig_atomic_t stop_requested;

static void
on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* ------------------------------------------------------------------------
 * Options
 */

static void
cluster_usage(FILE *out)
{
	fputs("usage: dkv [--set NAME=VALUE ...] bench --cluster [OPTIONS]\n"
	      "\n"
	      "Measures replication: starts 3 storage peers (`dkv serve`, N=3) as child\n"
	      "processes on free loopback ports, joins them as a client peer and, at each of\n"
	      "ONE, QUORUM and ALL, times one caller doing synchronous puts then gets of K\n"
	      "keys (p50, p99, p99.9), then a window of async operations in flight on a\n"
	      "get/put mix over K preloaded keys (ops/s). In the same run it times a TCP\n"
	      "ping-pong between two processes on loopback (the floor) and, when\n"
	      "redis-server and redis-benchmark are on PATH, Redis SET/GET with the same\n"
	      "value size at 1 client and at W clients; then it prints the ratios the\n"
	      "targets are stated in, and each peer's peak RSS.\n"
	      "\n"
	      "Options:\n"
	      "  --seeds HOST:PORT   join that cluster (3 or more storage peers) instead of\n"
	      "                      starting one; dkv --seeds HOST:PORT bench --cluster too\n"
	      "  --keys K            keys per single-caller phase and in the mix (default 5000)\n"
	      "  --key-size B        key bytes, at least 16 (default 16)\n"
	      "  --value-size B      value bytes (default 100)\n"
	      "  --window W          async operations in flight, and Redis clients (default 32)\n"
	      "  --seconds S         length of each mix phase (default 3)\n"
	      "  --mix-ops N         run each mix phase for N operations instead\n"
	      "  --read-pct P        gets in the mix, in percent (default 95)\n"
	      "  --levels LIST       comma-separated, of one, quorum, all (default all three)\n"
	      "  --rtt-trips N       loopback round trips for the floor (default 20000)\n"
	      "  --redis-requests N  requests per redis-benchmark test (default 30000)\n"
	      "  --no-redis          do not run Redis even if it is installed\n"
	      "  --dir DIR           make the run's directory (the peers' data and logs) in\n"
	      "                      DIR (default $TMPDIR or /tmp); it is removed afterwards\n"
	      "  --keep              keep that directory, and say where it is\n"
	      "  --quiet             no progress on stderr\n"
	      "  -h, --help          show this help\n"
	      "\n"
	      "The global -c and --set settings go to the peers started and to the client\n"
	      "peer (data_dir, listen, seeds, role and n excepted: the bench sets those).\n"
	      "Latencies are per operation, call to return (sync) or submit to callback\n"
	      "(async), in microseconds. Targets are reported, never enforced: exit status\n"
	      "1 means a measurement could not be made (a peer died, operations failed).\n",
	      out);
}

static bool
parse_levels(const char *list, bool *run_level)
{
	char *copy = strdup(list), *save = NULL;
	bool any = false;

	if (copy == NULL)
		return false;
	for (int lv = 0; lv < LEVEL_COUNT; lv++)
		run_level[lv] = false;
	for (char *name = strtok_r(copy, ",", &save); name != NULL;
	     name = strtok_r(NULL, ",", &save)) {
		int lv;

		for (lv = 0; lv < LEVEL_COUNT; lv++)
			if (strcasecmp(name, level_flags[lv]) == 0)
				break;
		if (lv == LEVEL_COUNT) {
			free(copy);
			return false;
		}
		run_level[lv] = any = true;
	}
	free(copy);
	return any;
}

static bool
parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *out)
{
	uint64_t v;

	if (!bench_parse_u64(s, min, max, &v))
		return false;
	*out = (unsigned)v;
	return true;
}

enum {
	OPT_CLUSTER = 256,
	OPT_SEEDS,
	OPT_KEYS,
	OPT_KEY_SIZE,
	OPT_VALUE_SIZE,
	OPT_WINDOW,
	OPT_SECONDS,
	OPT_MIX_OPS,
	OPT_READ_PCT,
	OPT_LEVELS,
	OPT_RTT_TRIPS,
	OPT_REDIS_REQUESTS,
	OPT_NO_REDIS,
	OPT_KEEP,
};

static bool
set_cluster_option(void *ctx, int option, const char *value)
{
	struct cluster_opts *o = ctx;
	char *end;

	switch (option) {
	case OPT_CLUSTER:
		return true;
	case OPT_SEEDS:
		o->seeds = value;
		return true;
	case OPT_KEYS:
		return bench_parse_u64(value, 1, UINT32_MAX, &o->keys);
	case OPT_KEY_SIZE:
		return bench_parse_size(value, KEY_HEAD, 1024, &o->key_size);
	case OPT_VALUE_SIZE:
		return bench_parse_size(value, 0, 16u << 20, &o->value_size);
	case OPT_WINDOW:
		return parse_unsigned(value, 1, 4096, &o->window);
	case OPT_SECONDS:
		errno = 0;
		o->seconds = strtod(value, &end);
		return errno == 0 && end != value && *end == '\0' && o->seconds > 0 &&
		       o->seconds <= 3600;
	case OPT_MIX_OPS:
		return bench_parse_u64(value, 1, UINT64_C(1) << 40, &o->mix_ops);
	case OPT_READ_PCT:
		return parse_unsigned(value, 0, 100, &o->read_pct);
	case OPT_LEVELS:
		return parse_levels(value, o->run_level);
	case OPT_RTT_TRIPS:
		return bench_parse_u64(value, 1, UINT64_C(1) << 40, &o->rtt_trips);
	case OPT_REDIS_REQUESTS:
		return bench_parse_u64(value, 1, UINT64_C(1) << 40, &o->redis_requests);
	case OPT_NO_REDIS:
		o->redis = false;
		return true;
	case OPT_KEEP:
		o->keep = true;
		return true;
	default:
		return false;
	}
}

/* 0, 2 for a usage error (printed), or -1 when --help was shown. */
static int
parse_cluster_args(int argc, char **argv, struct cluster_opts *o)
{
	static const struct option options[] = {
	    {"cluster", no_argument, NULL, OPT_CLUSTER},
	    {"seeds", required_argument, NULL, OPT_SEEDS},
	    {"keys", required_argument, NULL, OPT_KEYS},
	    {"key-size", required_argument, NULL, OPT_KEY_SIZE},
	    {"value-size", required_argument, NULL, OPT_VALUE_SIZE},
	    {"window", required_argument, NULL, OPT_WINDOW},
	    {"seconds", required_argument, NULL, OPT_SECONDS},
	    {"mix-ops", required_argument, NULL, OPT_MIX_OPS},
	    {"read-pct", required_argument, NULL, OPT_READ_PCT},
	    {"levels", required_argument, NULL, OPT_LEVELS},
	    {"rtt-trips", required_argument, NULL, OPT_RTT_TRIPS},
	    {"redis-requests", required_argument, NULL, OPT_REDIS_REQUESTS},
	    {"no-redis", no_argument, NULL, OPT_NO_REDIS},
	    {"keep", no_argument, NULL, OPT_KEEP},
	    BENCH_OPTIONS_END,
	};
	static const struct bench_command command = {options, set_cluster_option, cluster_usage,
	                                             "dkv bench --cluster"};

	o->keys = 5000;
	o->key_size = KEY_HEAD;
	o->value_size = 100;
	o->window = 32;
	o->seconds = 3.0;
	o->read_pct = 95;
	o->rtt_trips = 20000;
	o->redis_requests = 30000;
	o->redis = true;
	for (int lv = 0; lv < LEVEL_COUNT; lv++)
		o->run_level[lv] = true;
	return bench_parse_options(&command, argc, argv, o, &o->common);
}

/* ------------------------------------------------------------------------
 * The run
 */

/* The run's directory, made in --dir, $TMPDIR or /tmp. */
static bool
make_run_dir(struct cluster_run *run)
{
	const char *parent = run->o.common.dir != NULL ? run->o.common.dir : getenv("TMPDIR");

	if (parent == NULL || parent[0] == '\0')
		parent = "/tmp";
	if (run->o.common.dir != NULL && mkdir(parent, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "dkv bench: cannot create %s: %s\n", parent, strerror(errno));
		return false;
	}
	if ((size_t)snprintf(run->dir, sizeof(run->dir), "%s/dkv-cluster-bench-XXXXXX", parent) >=
	        sizeof(run->dir) - 64 ||
	    mkdtemp(run->dir) == NULL) {
		fprintf(stderr, "dkv bench: cannot create a directory in %s: %s\n", parent,
		        strerror(errno));
		run->dir[0] = '\0';
		return false;
	}
	return true;
}

static double
loadavg_1min(void)
{
	double load = -1.0;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f != NULL) {
		if (fscanf(f, "%lf", &load) != 1)
			load = -1.0;
		fclose(f);
	}
	return load;
}

int
bench_cluster_main(int argc, char **argv, const struct cli_settings *settings)
{
	struct sigaction sa, old_int, old_term;
	struct cluster_run *run;
	struct cli_settings s = *settings;
	struct rng rng;
	dkv_t *db = NULL;
	int code;
	bool formed = false, printed = true;

	run = calloc(1, sizeof(*run));
	if (run == NULL) {
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
		return 1;
	}
	if ((code = parse_cluster_args(argc, argv, &run->o)) != 0) {
		free(run);
		return code < 0 ? 0 : code;
	}
	if (run->o.seeds == NULL)
		run->o.seeds = settings->seeds;
	s.data_dir = NULL;
	s.seeds = NULL;
	run->o.settings = &s;
	rng_seed(&rng, now_ns() ^ ((uint64_t)getpid() << 32));
	run->tag = (uint32_t)rng_next(&rng);
	run->values = bench_values_new(run->o.value_size, &rng);
	if (run->values == NULL) {
		free(run);
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	stop_requested = 0;

	run->loadavg = loadavg_1min();
	if (!make_run_dir(run)) {
		run->failed = true;
		goto out;
	}
	if (run->o.seeds != NULL) {
		snprintf(run->seeds, sizeof(run->seeds), "%s", run->o.seeds);
		bench_note(run->o.common.quiet, "joining the cluster at %s", run->seeds);
	} else if (!start_peers(run, &rng)) {
		run->failed = true;
		goto stop;
	}
	if (open_client(run, &db) != DKV_OK || !wait_for_cluster(run, db)) {
		run->failed = true;
		goto stop;
	}
	formed = true;
	bench_note(run->o.common.quiet, "the client peer sees %u storage peers up after %.1f s",
	           run->storage_peers, run->join_s);
	print_header(run);
	fflush(stdout);
	if (!run_levels(run, db))
		run->failed = true;

stop:
	if (stop_requested)
		fprintf(stderr, "dkv bench: interrupted\n");
	/* The client goes before the peers it talks to. */
	dkv_close(db);
	db = NULL;
	run->client_hwm_mib = proc_status_mib(0, "VmHWM");
	stop_peers(run);
	/* Without a cluster there is nothing to compare the floor with. */
	if (!formed || stop_requested)
		goto out;

	if (!run_floor(run))
		run->failed = true;
	if (!stop_requested)
		run_redis(run, &rng);

	printed = print_report(run);
	if (run->failed)
		printf("\nSome operations failed: see the messages on stderr.\n");

out:
	if (run->dir[0] != '\0') {
		if (run->o.keep || (run->failed && run->npeers > 0 && !stop_requested)) {
			fprintf(stderr, "dkv bench: the peers' data and logs are kept in %s\n",
			        run->dir);
		} else {
			bench_remove_tree(run->dir);
		}
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	code = stop_requested ? 130 : run->failed || !printed ? 1 : 0;
	if (fflush(stdout) != 0)
		code = 1;
	free(run->values);
	free(run);
	return code;
}
