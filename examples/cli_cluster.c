/*
 * Cluster commands of the dkv CLI (see cli_cluster.h).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libdkv/dkv.h>

#include "cli_cluster.h"
#include "cli_table.h"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

static void
pause_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int
cli_is_storage(const dkv_peer_info_t *p)
{
	return p->tokens > 0 || p->state == DKV_PEER_JOINING;
}

/* Until every storage peer this client has heard of is UP and their
 * number held still for half a second (gossip needs a round or two to
 * bring them all, and each one's first heartbeat to mark it UP); or, when
 * some stay down, until nothing changed for a second and a half (a peer
 * learned is UP within half a second if it is alive); 5 s at most. Then
 * whether some storage peer is UP. */
static bool
wait_for_membership(dkv_t *db)
{
	size_t last_storage = 0, last_up = 0, up = 0, storage = 0;
	int stable = 0;

	for (int t = 0; t < 50; t++) {
		dkv_peer_info_t *l;
		size_t n;

		pause_ms(100);
		if (dkv_peers(db, &l, &n) != DKV_OK)
			return false;
		up = storage = 0;
		for (size_t i = 1; i < n; i++) {
			storage += l[i].tokens > 0;
			up += l[i].state == DKV_PEER_UP && l[i].tokens > 0;
		}
		dkv_peers_free(l, n);
		stable = storage == last_storage && up == last_up ? stable + 1 : 0;
		last_storage = storage;
		last_up = up;
		if (up > 0 && ((up == storage && stable >= 5) || stable >= 15))
			return true;
	}
	return up > 0;
}

int
cli_open_client(const struct cli_settings *s, dkv_t **db)
{
	dkv_config_t *cfg = dkv_config_new();
	int err;

	*db = NULL;
	if (cfg == NULL)
		return EXIT_FAIL;
	if ((err = cli_settings_apply(s, cfg)) != DKV_OK ||
	    (err = dkv_config_set(cfg, "role", "client")) != DKV_OK ||
	    (err = dkv_config_set(cfg, "seeds", s->seeds)) != DKV_OK) {
		if (err == DKV_ECONFIG)
			fprintf(stderr, "dkv: --seeds %s: %s\n", s->seeds, dkv_config_error(cfg));
		dkv_config_free(cfg);
		return EXIT_USAGE;
	}
	if (!cli_settings_assigns(s, "listen"))
		dkv_config_set(cfg, "listen", "127.0.0.1:0");
	if ((err = dkv_open(cfg, db)) != DKV_OK) {
		fprintf(stderr, "dkv: cannot join the cluster at %s: %s: %s\n", s->seeds,
		        dkv_strerror(err), dkv_config_error(cfg));
		dkv_config_free(cfg);
		return EXIT_FAIL;
	}
	dkv_config_free(cfg);
	if (!wait_for_membership(*db)) {
		fprintf(stderr, "dkv: no storage peer answered at %s\n", s->seeds);
		dkv_close(*db);
		*db = NULL;
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* ------------------------------------------------------------------------
 * statistics
 */

static void
add_stat_row(const char *name, double value, void *arg)
{
	struct table *t = arg;

	table_cellf(t, "%s", name);
	/* Counters are whole numbers; gauges such as uptime are not. */
	if (value == (double)(long long)value)
		table_cellf(t, "%lld", (long long)value);
	else
		table_cellf(t, "%.3f", value);
}

int
cli_print_stats(dkv_t *db, FILE *out, const char *title)
{
	static const char *const headers[] = {"STATISTIC", "VALUE"};
	struct table *t;
	int err, printed = -1;

	if ((t = table_new(2, "lr", headers)) == NULL) {
		fprintf(stderr, "dkv: %s\n", dkv_strerror(DKV_ENOMEM));
		return EXIT_FAIL;
	}
	if ((err = dkv_stats(db, add_stat_row, t)) != DKV_OK) {
		fprintf(stderr, "dkv: stats: %s\n", dkv_strerror(err));
		table_free(t);
		return EXIT_FAIL;
	}
	flockfile(out);
	fputs(title, out);
	printed = table_print(t, out, 2);
	funlockfile(out);
	if (printed != 0)
		fprintf(stderr, "dkv: %s\n", dkv_strerror(DKV_ENOMEM));
	table_free(t);
	return printed == 0 ? EXIT_OK : EXIT_FAIL;
}

/* ------------------------------------------------------------------------
 * serve
 */

/* Log lines on stdout, stamped with the wall clock in milliseconds, so
 * that the logs of several peers can be laid side by side. */
static void
serve_log(int level, const char *msg, void *arg)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	struct timespec ts;
	struct tm tm;
	char when[32];

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	printf("%s.%03ldZ %s: %s\n", when, ts.tv_nsec / 1000000L,
	       level >= 0 && level <= 3 ? names[level] : "?", msg);
	fflush(stdout);
}

static bool
has_left(dkv_t *db)
{
	dkv_peer_info_t *l;
	size_t n;
	bool left;

	if (dkv_peers(db, &l, &n) != DKV_OK)
		return false;
	left = n > 0 && l[0].state == DKV_PEER_LEFT;
	dkv_peers_free(l, n);
	return left;
}

int
cmd_serve(const struct cli_settings *s, int argc, char **argv)
{
	dkv_config_t *cfg;
	dkv_peer_info_t *self;
	sigset_t stop;
	size_t n;
	dkv_t *db;
	int err, sig;

	if (argc > 1) {
		fprintf(stderr, "dkv: serve takes no arguments (use -c FILE, -d DIR, --set)\n");
		return EXIT_USAGE;
	}
	(void)argv;
	/* Block the stop signals before any library thread starts, so they
	 * all inherit the mask and sigwait below receives them. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	sigaddset(&stop, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	cfg = dkv_config_new();
	if (cfg == NULL)
		return EXIT_FAIL;
	dkv_config_set(cfg, "log_level", "info"); /* a server says what it does */
	dkv_config_set_logger(cfg, serve_log, NULL);
	if (cli_settings_apply(s, cfg) != DKV_OK) {
		dkv_config_free(cfg);
		return EXIT_USAGE;
	}
	if (s->seeds != NULL && (err = dkv_config_set(cfg, "seeds", s->seeds)) != DKV_OK) {
		fprintf(stderr, "dkv: --seeds: %s\n", dkv_config_error(cfg));
		dkv_config_free(cfg);
		return EXIT_USAGE;
	}
	if ((err = dkv_open(cfg, &db)) != DKV_OK) {
		fprintf(stderr, "dkv: serve: %s: %s\n", dkv_strerror(err), dkv_config_error(cfg));
		dkv_config_free(cfg);
		return EXIT_FAIL;
	}
	dkv_config_free(cfg);
	if (dkv_peers(db, &self, &n) == DKV_OK) {
		printf("dkv: serving peer %s on %s (dc %s, rack %s)\n", self[0].id, self[0].addr,
		       self[0].dc, self[0].rack);
		if (s->seeds == NULL && !cli_settings_assigns(s, "listen") &&
		    !cli_settings_assigns(s, "seeds") && s->config_file == NULL)
			printf("dkv: note: no listen or seeds given: this peer is alone and "
			       "unreachable (set listen=HOST:PORT to form a cluster)\n");
		dkv_peers_free(self, n);
	}
	fflush(stdout);
	for (;;) {
		struct timespec second = {1, 0};

		sig = sigtimedwait(&stop, NULL, &second);
		if (sig < 0 && errno == EAGAIN) {
			/* decommissioned (dkv decommission): nothing left to serve */
			if (has_left(db)) {
				/* a few gossip rounds carry the news before it stops */
				pause_ms(3000);
				printf("dkv: this peer has left the cluster: stopping\n");
				fflush(stdout);
				dkv_close(db);
				return EXIT_OK;
			}
			continue;
		}
		if (sig < 0)
			continue; /* EINTR */
		if (sig == SIGHUP)
			continue; /* nothing to reload yet */
		if (sig != SIGUSR1)
			break;
		/* the only way to see a running peer's counters: its data
		 * directory is locked, and a --seeds client has its own */
		cli_print_stats(db, stdout, "dkv: statistics:\n");
		fflush(stdout);
	}
	printf("dkv: %s: stopping\n", sig == SIGINT ? "interrupted" : "terminated");
	fflush(stdout);
	dkv_close(db);
	return EXIT_OK;
}

/* ------------------------------------------------------------------------
 * ring
 */

static void
hex_token(char out[33], const unsigned char t[16])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 16; i++) {
		out[2 * i] = digits[t[i] >> 4];
		out[2 * i + 1] = digits[t[i] & 15];
	}
	out[32] = '\0';
}

static int
print_ring(dkv_t *db)
{
	static const char *const headers[] = {"START (exclusive)", "END (inclusive)", "PEER"};
	dkv_token_range_t *r;
	struct table *t;
	size_t n;
	int err, code = EXIT_FAIL;

	if ((err = dkv_ring(db, &r, &n)) != DKV_OK) {
		fprintf(stderr, "dkv: ring: %s\n", dkv_strerror(err));
		return EXIT_FAIL;
	}
	if (n == 0) {
		printf("The ring is empty: no storage peer has tokens yet.\n");
		dkv_ring_free(r, n);
		return EXIT_OK;
	}
	t = table_new(3, "lll", headers);
	for (size_t i = 0; t != NULL && i < n; i++) {
		char a[33], b[33];

		hex_token(a, r[i].start);
		hex_token(b, r[i].end);
		table_cellf(t, "%s", a);
		table_cellf(t, "%s", b);
		table_cellf(t, "%s", r[i].peer);
	}
	printf("Ring (%zu token ranges):\n", n);
	if (t != NULL && table_print(t, stdout, 2) == 0)
		code = EXIT_OK;
	else
		fprintf(stderr, "dkv: %s\n", dkv_strerror(DKV_ENOMEM));
	table_free(t);
	dkv_ring_free(r, n);
	return code;
}

static int
open_for_view(const struct cli_settings *s, dkv_t **db)
{
	dkv_config_t *cfg;
	int err;

	if (s->seeds != NULL)
		return cli_open_client(s, db);
	cfg = dkv_config_new();
	if (cfg == NULL || cli_settings_apply(s, cfg) != DKV_OK) {
		dkv_config_free(cfg);
		return EXIT_USAGE;
	}
	err = dkv_open(cfg, db);
	if (err != DKV_OK)
		fprintf(stderr, "dkv: %s: %s\n", dkv_strerror(err), dkv_config_error(cfg));
	dkv_config_free(cfg);
	return err == DKV_OK ? EXIT_OK : EXIT_FAIL;
}

int
cmd_ring(const struct cli_settings *s, int argc, char **argv)
{
	dkv_t *db;
	int code;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "dkv: ring takes no arguments\n");
		return EXIT_USAGE;
	}
	if ((code = open_for_view(s, &db)) != EXIT_OK)
		return code;
	code = print_ring(db);
	dkv_close(db);
	return code;
}

/* ------------------------------------------------------------------------
 * remove
 */

int
cmd_remove(const struct cli_settings *s, int argc, char **argv)
{
	dkv_t *db;
	int code, err;

	if (argc != 2) {
		fprintf(stderr, "dkv: usage: dkv --seeds HOST:PORT remove PEER_ID\n");
		return EXIT_USAGE;
	}
	if (s->seeds == NULL) {
		fprintf(stderr, "dkv: remove needs --seeds HOST:PORT of a live peer\n");
		return EXIT_USAGE;
	}
	if ((code = cli_open_client(s, &db)) != EXIT_OK)
		return code;
	/* A peer we only just met may be one we have not heard from yet: the
	 * library refuses for a few seconds; keep asking a little longer. */
	for (int tries = 0; (err = dkv_remove_peer(db, argv[1])) == DKV_EBUSY && tries < 40;
	     tries++) {
		dkv_peer_info_t *l;
		size_t n;
		bool up = false;

		if (dkv_peers(db, &l, &n) == DKV_OK) {
			for (size_t i = 0; i < n; i++)
				up = up ||
				     (strcmp(l[i].id, argv[1]) == 0 && l[i].state == DKV_PEER_UP);
			dkv_peers_free(l, n);
		}
		if (up)
			break;
		pause_ms(200);
	}
	if (err == DKV_OK) {
		/* let a few gossip rounds carry the news before we leave */
		pause_ms(3000);
		printf("dkv: removed peer %s\n", argv[1]);
		code = EXIT_OK;
	} else {
		fprintf(stderr, "dkv: cannot remove %s: %s\n", argv[1],
		        err == DKV_EBUSY       ? "it is up (or it is this client)"
		        : err == DKV_ENOTFOUND ? "no such peer in the cluster"
		                               : dkv_strerror(err));
		code = EXIT_FAIL;
	}
	dkv_close(db);
	return code;
}

/* ------------------------------------------------------------------------
 * decommission
 */

struct leave_thread {
	dkv_t *db;
	const char *peer;
	atomic_bool done;
	int err;
};

static void *
leave_run(void *arg)
{
	struct leave_thread *lt = arg;

	lt->err = dkv_decommission_peer(lt->db, lt->peer);
	atomic_store(&lt->done, true);
	return NULL;
}

/* Asks PEER_ID to leave and prints its progress (gossiped) every two
 * seconds until it has left. */
int
cmd_decommission(const struct cli_settings *s, int argc, char **argv)
{
	struct leave_thread lt;
	pthread_t th;
	dkv_t *db;
	int code;
	unsigned waited = 0, last = 101;

	if (argc != 2) {
		fprintf(stderr, "dkv: usage: dkv --seeds HOST:PORT decommission PEER_ID\n");
		return EXIT_USAGE;
	}
	if (s->seeds == NULL) {
		fprintf(stderr, "dkv: decommission needs --seeds HOST:PORT of a live peer\n");
		return EXIT_USAGE;
	}
	if ((code = cli_open_client(s, &db)) != EXIT_OK)
		return code;
	lt.db = db;
	lt.peer = argv[1];
	lt.err = DKV_OK;
	atomic_init(&lt.done, false);
	if (pthread_create(&th, NULL, leave_run, &lt) != 0) {
		fprintf(stderr, "dkv: %s\n", dkv_strerror(DKV_ENOMEM));
		dkv_close(db);
		return EXIT_FAIL;
	}
	printf("dkv: asking %s to leave the cluster ...\n", argv[1]);
	fflush(stdout);
	while (!atomic_load(&lt.done)) {
		dkv_peer_info_t *l;
		size_t n;

		pause_ms(100);
		if (++waited % 20 != 0 || dkv_peers(db, &l, &n) != DKV_OK)
			continue;
		for (size_t i = 1; i < n; i++)
			if (strcmp(l[i].id, argv[1]) == 0 && l[i].state == DKV_PEER_LEAVING &&
			    l[i].moved != last) {
				last = l[i].moved;
				printf("dkv: %s is leaving: %u%% of its ranges handed over\n",
				       argv[1], last);
				fflush(stdout);
			}
		dkv_peers_free(l, n);
	}
	pthread_join(th, NULL);
	if (lt.err == DKV_OK) {
		printf("dkv: %s has left the cluster\n", argv[1]);
		code = EXIT_OK;
	} else {
		fprintf(stderr, "dkv: cannot decommission %s: %s\n", argv[1],
		        lt.err == DKV_ENOTFOUND      ? "no such peer in the cluster"
		        : lt.err == DKV_EUNAVAILABLE ? "it is down, or too few storage peers would "
		                                       "stay to hold every replica"
		        : lt.err == DKV_EBUSY        ? "it is still joining"
		        : lt.err == DKV_EINVAL       ? "it is a client peer"
		                                     : dkv_strerror(lt.err));
		code = EXIT_FAIL;
	}
	dkv_close(db);
	return code;
}

/* ------------------------------------------------------------------------
 * repair
 */

/* Seconds on the monotonic clock. */
static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Adds peer p's row: what its repair did, or dashes when it failed. */
static void
add_repair_row(struct table *t, const dkv_peer_info_t *p, int err, const dkv_repair_report_t *r,
               double seconds)
{
	char a[32], b[32];

	table_cellf(t, "%s", p->id);
	if (err != DKV_OK) {
		for (int i = 0; i < 5; i++)
			table_cellf(t, "-");
	} else {
		table_cellf(t, "%llu", (unsigned long long)r->ranges);
		table_cellf(t, "%llu", (unsigned long long)r->ranges_differing);
		table_cellf(t, "%s", fmt_thousands(a, sizeof(a), r->keys_compared));
		table_cellf(t, "%s", fmt_thousands(b, sizeof(b), r->keys_repaired));
		table_cellf(t, "%llu", (unsigned long long)r->failed);
	}
	table_cellf(t, "%.2f", seconds);
}

/* Runs dkv_repair on each storage peer that is up, or on `only`, one
 * after the other: each compares every range it replicates with the
 * range's other replicas, so after the last one every pair of replicas
 * that were up has been compared at least once. */
int
cmd_repair(const struct cli_settings *s, const char *only, int argc, char **argv)
{
	static const char *const headers[] = {
	    "PEER", "RANGES", "DIFFERING", "KEYS COMPARED", "KEYS REPAIRED", "FAILED", "SECONDS"};
	dkv_peer_info_t *peers = NULL;
	struct table *t = NULL;
	size_t n = 0, targets = 0, done = 0, calls_failed = 0;
	unsigned long long ranges_failed = 0;
	dkv_t *db;
	int code, err;

	if (argc > 1) {
		fprintf(stderr, "dkv: repair takes no arguments, not '%s' (use --peer PEER_ID)\n",
		        argv[1]);
		return EXIT_USAGE;
	}
	if (s->seeds == NULL) {
		fprintf(stderr, "dkv: repair needs --seeds HOST:PORT of a live peer\n");
		return EXIT_USAGE;
	}
	if ((code = cli_open_client(s, &db)) != EXIT_OK)
		return code;
	code = EXIT_FAIL;
	if ((err = dkv_peers(db, &peers, &n)) != DKV_OK) {
		fprintf(stderr, "dkv: peers: %s\n", dkv_strerror(err));
		goto out;
	}
	if ((t = table_new(7, "lrrrrrr", headers)) == NULL) {
		fprintf(stderr, "dkv: %s\n", dkv_strerror(DKV_ENOMEM));
		goto out;
	}
	/* entry 0 is this client peer */
	for (size_t i = 1; i < n; i++) {
		if (only != NULL ? strcmp(peers[i].id, only) == 0 : cli_is_storage(&peers[i]))
			targets++;
	}
	if (only != NULL && targets == 0) {
		fprintf(stderr, "dkv: repair: no peer %s in the cluster\n", only);
		goto out;
	}
	for (size_t i = 1; i < n; i++) {
		const dkv_peer_info_t *p = &peers[i];
		dkv_repair_report_t rep;
		double start;

		if (only != NULL ? strcmp(p->id, only) != 0 : !cli_is_storage(p))
			continue;
		done++;
		if (only == NULL && p->state != DKV_PEER_UP) {
			printf("[%zu/%zu] skipping %s at %s: it is %s\n", done, targets, p->id,
			       p->addr,
			       p->state == DKV_PEER_DOWN      ? "down"
			       : p->state == DKV_PEER_JOINING ? "joining"
			                                      : "leaving");
			fflush(stdout);
			continue;
		}
		printf("[%zu/%zu] repairing on %s at %s ...\n", done, targets, p->id, p->addr);
		fflush(stdout);
		start = now_s();
		err = dkv_repair(db, p->id, &rep);
		if (err != DKV_OK) {
			fprintf(stderr, "dkv: repair on %s: %s%s\n", p->id, dkv_strerror(err),
			        err == DKV_EUNAVAILABLE
			            ? " (that peer is not up, or stores no data)"
			            : "");
			calls_failed++;
		} else {
			ranges_failed += rep.failed;
		}
		add_repair_row(t, p, err, &rep, now_s() - start);
	}
	printf("\n");
	if (table_print(t, stdout, 2) != 0) {
		fprintf(stderr, "dkv: %s\n", dkv_strerror(DKV_ENOMEM));
		goto out;
	}
	if (ranges_failed > 0)
		fprintf(stderr,
		        "dkv: repair: %llu range comparison%s could not run or finish (a replica "
		        "down, or not answering); run it again once every peer is up\n",
		        ranges_failed, ranges_failed == 1 ? "" : "s");
	if (calls_failed == 0 && ranges_failed == 0)
		code = EXIT_OK;
out:
	table_free(t);
	dkv_peers_free(peers, n);
	dkv_close(db);
	return code;
}
