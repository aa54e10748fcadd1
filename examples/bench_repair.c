/*
 * bench_repair: how fast a replica catches up, through hinted handoff and
 * through anti-entropy (public API only; peers in this process over
 * loopback, each with its own LevelDB in a temporary directory).
 *
 *   hints  4 peers, n = 3. One peer is closed; --keys keys are written at
 *          QUORUM (the fallbacks keep hints for it); it is reopened, and the
 *          time until no hint is held anywhere is measured.
 *   ae     3 peers, n = 3, no hints, no background pass. --keys keys are
 *          written at ALL; one peer is closed; --diff-pct of the keys are
 *          overwritten at QUORUM; it is reopened and dkv_repair runs on it.
 *          Reported: the pass's time, the bytes anti-entropy sent (all
 *          peers), and the size of what differed (keys + values written
 *          while it was down); then a second pass must find nothing.
 *   wipe   3 peers, n = 3: --keys keys at ALL, then one peer loses its
 *          data directory and comes back empty (same node_id); dkv_repair
 *          on it rebuilds it.
 *   partition  the target: 4 peers, n = 3; peer 3 is cut off
 *          (dkv_debug_fault, both ways) for --seconds (60) while a writer
 *          puts --rate (1000) keys a second at QUORUM through peer 0; then
 *          the cut heals, and the time until no hint is held anywhere is
 *          measured, and then a repair pass on peer 3 must find every range
 *          equal (its Merkle roots match the other replicas').
 *   join   3 peers, n = 3: --keys keys at ALL, then a 4th peer joins and
 *          receives its ranges (range moves); the time from its open until
 *          it is NORMAL. Then one of the first three is decommissioned: the
 *          time dkv_decommission takes to hand its ranges over.
 *
 * Usage: bench_repair [--phase hints|ae|wipe|join|partition|all] [--keys N] [--diff-pct P]
 *                     [--value-bytes B] [--seconds S] [--rate PUTS_PER_S]
 * (partition is left out of "all": it takes --seconds of writing)
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libdkv/dkv.h"

#define MAX_PEERS 4
#define WINDOW 64

struct peer {
	dkv_t *db;
	char dir[256];
	char id[64];
};

static struct peer peers[MAX_PEERS];
static int npeers;
static char seed[64];
static unsigned value_bytes = 100;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench_repair: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rmtree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
set(dkv_config_t *cfg, const char *name, const char *value)
{
	if (dkv_config_set(cfg, name, value) != DKV_OK)
		die("%s=%s: %s", name, value, dkv_config_error(cfg));
}

/* Opens peer i with the phase's settings (name/value pairs). */
static void
open_peer(int i, const char *const *extra)
{
	dkv_config_t *cfg = dkv_config_new();
	dkv_peer_info_t *l;
	size_t n;
	int err;

	if (peers[i].dir[0] == '\0') {
		snprintf(peers[i].dir, sizeof(peers[i].dir), "/tmp/dkv-bench-repair-XXXXXX");
		if (mkdtemp(peers[i].dir) == NULL)
			die("mkdtemp: %s", strerror(errno));
	}
	snprintf(peers[i].id, sizeof(peers[i].id), "bench-peer-%d", i);
	set(cfg, "data_dir", peers[i].dir);
	set(cfg, "node_id", peers[i].id);
	set(cfg, "listen", "127.0.0.1:0");
	set(cfg, "vnodes", "64");
	set(cfg, "cluster_name", "bench-repair");
	set(cfg, "gossip_interval_ms", "200");
	set(cfg, "log_level", "error");
	if (seed[0] != '\0')
		set(cfg, "seeds", seed);
	for (; extra != NULL && extra[0] != NULL; extra += 2)
		set(cfg, extra[0], extra[1]);
	if ((err = dkv_open(cfg, &peers[i].db)) != DKV_OK)
		die("open peer %d: %s: %s", i, dkv_strerror(err), dkv_config_error(cfg));
	dkv_config_free(cfg);
	if (seed[0] == '\0') {
		if (dkv_peers(peers[i].db, &l, &n) != DKV_OK)
			die("dkv_peers");
		snprintf(seed, sizeof(seed), "%s", l[0].addr);
		dkv_peers_free(l, n);
	}
}

/* Until every open peer sees every peer UP. */
static void
wait_all_up(void)
{
	uint64_t deadline = now_ms() + 60000;

	for (;;) {
		bool ok = true;

		for (int i = 0; i < npeers && ok; i++) {
			dkv_peer_info_t *l;
			size_t n, up = 0;

			if (peers[i].db == NULL)
				continue;
			if (dkv_peers(peers[i].db, &l, &n) != DKV_OK)
				die("dkv_peers");
			for (size_t k = 0; k < n; k++)
				up += l[k].state == DKV_PEER_UP && l[k].tokens > 0;
			dkv_peers_free(l, n);
			ok = up == (size_t)npeers;
		}
		if (ok)
			return;
		if (now_ms() > deadline)
			die("peers did not converge in 60 s");
		sleep_ms(50);
	}
}

static void
wait_down(int v)
{
	uint64_t deadline = now_ms() + 30000;

	for (int i = 0; i < npeers; i++) {
		for (;;) {
			dkv_peer_info_t *l;
			size_t n;
			bool down = false;

			if (i == v || peers[i].db == NULL)
				break;
			if (dkv_peers(peers[i].db, &l, &n) != DKV_OK)
				die("dkv_peers");
			for (size_t k = 0; k < n; k++)
				if (strcmp(l[k].id, peers[v].id) == 0)
					down = l[k].state == DKV_PEER_DOWN;
			dkv_peers_free(l, n);
			if (down)
				break;
			if (now_ms() > deadline)
				die("peer %d not seen DOWN", v);
			sleep_ms(20);
		}
	}
}

static void
start(int n, const char *const *extra)
{
	npeers = n;
	seed[0] = '\0';
	memset(peers, 0, sizeof(peers));
	for (int i = 0; i < n; i++)
		open_peer(i, extra);
	wait_all_up();
}

static void
stop_all(void)
{
	for (int i = 0; i < npeers; i++) {
		dkv_close(peers[i].db);
		peers[i].db = NULL;
		rmtree(peers[i].dir);
	}
}

static void
close_peer(int v)
{
	dkv_close(peers[v].db);
	peers[v].db = NULL;
	wait_down(v);
}

struct stat_q {
	const char *name;
	double v;
};

static void
stat_fn(const char *name, double v, void *arg)
{
	struct stat_q *q = arg;

	if (strcmp(name, q->name) == 0)
		q->v = v;
}

static double
sum_stat(const char *name)
{
	double total = 0;

	for (int i = 0; i < npeers; i++) {
		struct stat_q q = {name, 0};

		if (peers[i].db == NULL)
			continue;
		dkv_stats(peers[i].db, stat_fn, &q);
		total += q.v;
	}
	return total;
}

/* --- writing many keys, WINDOW at a time ---------------------------------- */

struct window {
	int inflight, failed;
};

static void
put_done(int err, void *arg)
{
	struct window *w = arg;

	__atomic_sub_fetch(&w->inflight, 1, __ATOMIC_SEQ_CST);
	if (err != DKV_OK)
		__atomic_add_fetch(&w->failed, 1, __ATOMIC_SEQ_CST);
}

static void
make_value(char *val, unsigned k, unsigned round)
{
	int n = snprintf(val, value_bytes + 1, "v%u-r%u-", k, round);

	for (unsigned i = (unsigned)n; i < value_bytes; i++)
		val[i] = (char)('a' + (i + k) % 26);
	val[value_bytes] = '\0';
}

/* Writes keys [0, n) step `step` through db at level l; returns the
 * payload bytes (keys + values) written. */
static uint64_t
write_keys(dkv_t *db, unsigned n, unsigned step, unsigned round, dkv_consistency_t l)
{
	dkv_opts_t *o = dkv_opts_new();
	struct window w = {0, 0};
	char key[32], *val = malloc(value_bytes + 1);
	uint64_t bytes = 0;

	dkv_opts_set_consistency(o, l);
	for (unsigned k = 0; k < n; k += step) {
		int len = snprintf(key, sizeof(key), "key%08u", k);

		while (__atomic_load_n(&w.inflight, __ATOMIC_SEQ_CST) >= WINDOW)
			sleep_ms(0);
		make_value(val, k, round);
		__atomic_add_fetch(&w.inflight, 1, __ATOMIC_SEQ_CST);
		if (dkv_put_async(db, key, (size_t)len, val, value_bytes, NULL, o, put_done, &w) !=
		    DKV_OK)
			die("put_async");
		bytes += (uint64_t)len + value_bytes;
	}
	while (__atomic_load_n(&w.inflight, __ATOMIC_SEQ_CST) > 0)
		sleep_ms(1);
	if (w.failed > 0)
		die("%d puts failed", w.failed);
	dkv_opts_free(o);
	free(val);
	return bytes;
}

/* --- phases ------------------------------------------------------------- */

static void
phase_hints(unsigned nkeys)
{
	static const char *const extra[] = {"n", "3", "ae_interval_s", "0", NULL};
	uint64_t t0, t1;
	double held;

	printf("hints: 4 peers, n=3; peer 3 down while %u keys are written at QUORUM\n", nkeys);
	start(4, extra);
	close_peer(3);
	t0 = now_ms();
	write_keys(peers[0].db, nkeys, 1, 1, DKV_QUORUM);
	t1 = now_ms();
	printf("  written in %.2f s (%.0f puts/s)\n", (t1 - t0) / 1000.0,
	       nkeys * 1000.0 / (double)(t1 - t0 ? t1 - t0 : 1));
	while ((held = sum_stat("hints_held")) < sum_stat("hints_stored"))
		sleep_ms(10); /* the last acks */
	printf("  hints held for peer 3: %.0f\n", held);
	open_peer(3, extra);
	t0 = now_ms();
	wait_all_up();
	t1 = now_ms();
	while (sum_stat("hints_held") > 0 || sum_stat("hints_in_flight") > 0)
		sleep_ms(5);
	printf("  peer 3 back (UP everywhere after %.2f s); hints drained %.2f s after it reopened, "
	       "%.2f s after it was UP: %.0f delivered, %.0f dropped\n",
	       (t1 - t0) / 1000.0, (now_ms() - t0) / 1000.0, (now_ms() - t1) / 1000.0,
	       sum_stat("hints_delivered"), sum_stat("hints_dropped"));
	stop_all();
}

static void
phase_ae(unsigned nkeys, double pct)
{
	static const char *const extra[] = {"n", "3", "hinted_handoff", "0", "ae_interval_s", "0",
	                                    NULL};
	unsigned step = pct > 0 ? (unsigned)(100.0 / pct) : nkeys + 1;
	dkv_repair_report_t rep;
	uint64_t t0, differing, bytes0;
	int err;

	printf("ae: 3 peers, n=3, no hints; %u keys at ALL, then %.2f%% rewritten while peer 2 is "
	       "down\n",
	       nkeys, pct);
	start(3, extra);
	write_keys(peers[0].db, nkeys, 1, 1, DKV_ALL);
	close_peer(2);
	differing = write_keys(peers[0].db, nkeys, step, 2, DKV_QUORUM);
	open_peer(2, extra);
	wait_all_up();
	bytes0 = (uint64_t)sum_stat("ae_bytes_sent");
	t0 = now_ms();
	if ((err = dkv_repair(peers[2].db, NULL, &rep)) != DKV_OK)
		die("repair: %s", dkv_strerror(err));
	printf("  repair pass on peer 2: %.2f s; %" PRIu64 " ranges, %" PRIu64 " differing, %" PRIu64
	       " keys compared, %" PRIu64 " objects moved, %" PRIu64 " failed\n",
	       (now_ms() - t0) / 1000.0, rep.ranges, rep.ranges_differing, rep.keys_compared,
	       rep.keys_repaired, rep.failed);
	{
		uint64_t sent = (uint64_t)sum_stat("ae_bytes_sent") - bytes0;

		printf("  anti-entropy sent %" PRIu64 " bytes for %" PRIu64
		       " bytes of keys+values that differ: %.2fx\n",
		       sent, differing, differing ? (double)sent / (double)differing : 0.0);
	}
	t0 = now_ms();
	if ((err = dkv_repair(peers[2].db, NULL, &rep)) != DKV_OK)
		die("repair: %s", dkv_strerror(err));
	printf("  a second pass: %.2f s, %" PRIu64 " of %" PRIu64 " ranges differ\n",
	       (now_ms() - t0) / 1000.0, rep.ranges_differing, rep.ranges);
	stop_all();
}

static void
phase_wipe(unsigned nkeys)
{
	static const char *const extra[] = {"n", "3", "hinted_handoff", "0", "ae_interval_s", "0",
	                                    NULL};
	dkv_repair_report_t rep;
	uint64_t t0;
	int err;

	printf("wipe: 3 peers, n=3; %u keys at ALL, then peer 2 loses its data\n", nkeys);
	start(3, extra);
	t0 = now_ms();
	write_keys(peers[0].db, nkeys, 1, 1, DKV_ALL);
	printf("  loaded in %.1f s\n", (now_ms() - t0) / 1000.0);
	close_peer(2);
	rmtree(peers[2].dir);
	peers[2].dir[0] = '\0';
	open_peer(2, extra);
	wait_all_up();
	/* it chose new tokens (its old ones were in the lost directory): let
	 * the new ring reach everyone before comparing ranges */
	sleep_ms(2000);
	t0 = now_ms();
	for (int pass = 1; pass <= 5; pass++) {
		uint64_t p0 = now_ms();

		if ((err = dkv_repair(peers[2].db, NULL, &rep)) != DKV_OK)
			die("repair: %s", dkv_strerror(err));
		printf("  pass %d: %.2f s, %" PRIu64 " ranges, %" PRIu64 " differing, %" PRIu64
		       " objects moved, %" PRIu64 " failed\n",
		       pass, (now_ms() - p0) / 1000.0, rep.ranges, rep.ranges_differing,
		       rep.keys_repaired, rep.failed);
		if (rep.failed == 0 && rep.ranges_differing == 0)
			break;
	}
	printf("  rebuilt in %.2f s in all; %.0f bytes sent by anti-entropy\n",
	       (now_ms() - t0) / 1000.0, sum_stat("ae_bytes_sent"));
	stop_all();
}

/* This peer's own state (entry 0 of dkv_peers). */
static dkv_peer_state_t
self_state(dkv_t *db)
{
	dkv_peer_info_t *l;
	size_t n;
	dkv_peer_state_t st;

	if (dkv_peers(db, &l, &n) != DKV_OK)
		die("dkv_peers");
	st = l[0].state;
	dkv_peers_free(l, n);
	return st;
}

static double
peer_stat(int i, const char *name)
{
	struct stat_q q = {name, 0};

	dkv_stats(peers[i].db, stat_fn, &q);
	return q.v;
}

static void
phase_join(unsigned nkeys)
{
	static const char *const extra[] = {"n", "3", "hinted_handoff", "0", "ae_interval_s", "0",
	                                    NULL};
	uint64_t t0, data;
	int err;

	printf("join: 3 peers, n=3; %u keys at ALL, then a 4th peer joins, then peer 1 "
	       "leaves\n", nkeys);
	start(3, extra);
	t0 = now_ms();
	data = write_keys(peers[0].db, nkeys, 1, 1, DKV_ALL);
	printf("  loaded in %.1f s\n", (now_ms() - t0) / 1000.0);
	t0 = now_ms();
	npeers = 4;
	open_peer(3, extra);
	while (self_state(peers[3].db) != DKV_PEER_UP) {
		if (now_ms() - t0 > 3600000)
			die("the 4th peer did not join in an hour");
		sleep_ms(20);
	}
	printf("  joined in %.2f s (a settle delay of 1 s included): %.0f keys received "
	       "(%.0f bytes framed); the keys + values written were %.0f bytes\n",
	       (now_ms() - t0) / 1000.0, peer_stat(3, "moves_keys_received"),
	       peer_stat(3, "moves_bytes_received"), (double)data);
	wait_all_up();
	t0 = now_ms();
	if ((err = dkv_decommission(peers[1].db)) != DKV_OK)
		die("decommission: %s", dkv_strerror(err));
	/* (the moves_ranges_* gauges are back to 0 once it has left) */
	printf("  peer 1 left in %.2f s (a settle delay of 1 s after it left included): %.0f "
	       "keys sent (%.0f bytes framed)\n",
	       (now_ms() - t0) / 1000.0, peer_stat(1, "moves_keys_sent"),
	       peer_stat(1, "moves_bytes_sent"));
	stop_all();
}

/* Cuts peer v off from the others both ways (flags DKV_FAULT_DROP), or
 * heals the cut (flags 0). */
static void
cut(int v, unsigned flags)
{
	for (int i = 0; i < npeers; i++) {
		if (i == v)
			continue;
		if (dkv_debug_fault(peers[v].db, peers[i].id, flags, 0) != DKV_OK ||
		    dkv_debug_fault(peers[i].db, peers[v].id, flags, 0) != DKV_OK)
			die("dkv_debug_fault");
	}
}

static void
phase_partition(unsigned seconds, unsigned rate)
{
	static const char *const extra[] = {"n", "3", "ae_interval_s", "0", NULL};
	dkv_opts_t *o = dkv_opts_new();
	char key[32], *val = malloc(value_bytes + 1);
	unsigned total = seconds * rate, failed = 0;
	dkv_repair_report_t rep;
	uint64_t t0, healed;
	int err;

	if (o == NULL || val == NULL)
		die("out of memory");
	memset(val, 'p', value_bytes);
	dkv_opts_set_consistency(o, DKV_QUORUM);
	printf("partition: 4 peers, n=3; peer 3 cut off for %u s while %u puts/s go in at "
	       "QUORUM\n", seconds, rate);
	start(4, extra);
	cut(3, DKV_FAULT_DROP);
	wait_down(3);
	t0 = now_ms();
	for (unsigned k = 0; k < total; k++) {
		uint64_t due = t0 + (uint64_t)k * 1000u / rate;
		int len = snprintf(key, sizeof(key), "part%08u", k);

		while (now_ms() < due)
			sleep_ms(1);
		if (dkv_put(peers[0].db, key, (size_t)len, val, value_bytes, NULL, o) != DKV_OK)
			failed++;
		if (k > 0 && k % (rate * 10) == 0)
			printf("  %u s: %u puts, %.0f hints held\n", k / rate, k, sum_stat("hints_held"));
	}
	printf("  %u puts in %.1f s, %u failed; %.0f hints held for peer 3\n", total,
	       (now_ms() - t0) / 1000.0, failed, sum_stat("hints_held"));
	cut(3, 0);
	healed = now_ms();
	while (sum_stat("hints_held") > 0 || sum_stat("hints_in_flight") > 0) {
		if (now_ms() - healed > 600000)
			die("hints not drained in 10 minutes");
		sleep_ms(5);
	}
	printf("  healed: hints drained %.2f s later (%.0f delivered, %.0f dropped)\n",
	       (now_ms() - healed) / 1000.0, sum_stat("hints_delivered"), sum_stat("hints_dropped"));
	if ((err = dkv_repair(peers[3].db, NULL, &rep)) != DKV_OK)
		die("repair: %s", dkv_strerror(err));
	printf("  then a repair pass on peer 3: %" PRIu64 " of %" PRIu64 " ranges differ, %" PRIu64
	       " objects moved; every root matched %.2f s after healing\n",
	       rep.ranges_differing, rep.ranges, rep.keys_repaired, (now_ms() - healed) / 1000.0);
	dkv_opts_free(o);
	free(val);
	stop_all();
}

int
main(int argc, char **argv)
{
	const char *phase = "all";
	unsigned nkeys = 100000;
	double pct = 1.0;
	unsigned seconds = 60, rate = 1000;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--phase") == 0 && i + 1 < argc)
			phase = argv[++i];
		else if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc)
			nkeys = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--diff-pct") == 0 && i + 1 < argc)
			pct = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--value-bytes") == 0 && i + 1 < argc)
			value_bytes = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
			rate = (unsigned)strtoul(argv[++i], NULL, 10);
		else
			die("usage: bench_repair [--phase hints|ae|wipe|join|partition|all] [--keys N] [--diff-pct P] "
			    "[--value-bytes B] [--seconds S] [--rate PUTS_PER_S]");
	}
	if (nkeys == 0 || seconds == 0 || rate == 0 || rate > 100000 || value_bytes < 16 || value_bytes > 65536 || pct < 0 || pct > 100)
		die("bad arguments");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(phase, "hints") == 0 || strcmp(phase, "all") == 0)
		phase_hints(nkeys);
	if (strcmp(phase, "ae") == 0 || strcmp(phase, "all") == 0)
		phase_ae(nkeys, pct);
	if (strcmp(phase, "wipe") == 0 || strcmp(phase, "all") == 0)
		phase_wipe(nkeys);
	if (strcmp(phase, "join") == 0 || strcmp(phase, "all") == 0)
		phase_join(nkeys);
	if (strcmp(phase, "partition") == 0)
		phase_partition(seconds, rate);
	return 0;
}
