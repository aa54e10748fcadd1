/*
 * The cluster `dkv bench --cluster` measures: three storage peers started
 * as `dkv serve` children of this very program on free loopback ports,
 * the first the seed of the others, each logging to its own file in the
 * run's directory; and this process joining them (or a cluster named with
 * --seeds) as a client peer, which waits until it sees them all up. The
 * peers' memory and CPU are read from /proc while they run.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_cluster_run.h"
#include "bench_proc.h"
#include "bench_util.h"

#define JOIN_TIMEOUT_MS 30000 /* for the client to see every storage peer up */
#define JOIN_STABLE_MS 500    /* ... and their number hold still */

/* Settings the bench gives the peers and its client itself; the same
 * names among the global --set assignments are not passed on. */
static const char *const own_settings[] = {"data_dir", "listen", "seeds", "role", "n", NULL};

static bool
is_own_setting(const char *assignment)
{
	size_t len = strcspn(assignment, "=");

	for (size_t i = 0; own_settings[i] != NULL; i++)
		if (strlen(own_settings[i]) == len &&
		    strncmp(assignment, own_settings[i], len) == 0)
			return true;
	return false;
}

/* Where peer i's output goes. */
static void
peer_log_path(const struct cluster_run *run, int i, char *buf, size_t size)
{
	snprintf(buf, size, "%s/peer%d.log", run->dir, i + 1);
}

/* Says how peer i ended, by itself while the run needed it or badly when
 * it was stopped, and shows the end of its log. */
static void
peer_ended(const struct cluster_run *run, int i, bool by_itself)
{
	const struct peer_proc *p = &run->peers[i];
	char how[64], log[PATH_MAX + 32];

	describe_status(how, sizeof(how), p->status);
	if (by_itself)
		fprintf(stderr, "dkv bench: peer %d (127.0.0.1:%d) stopped by itself: %s\n", i + 1,
		        p->port, how);
	else
		fprintf(stderr, "dkv bench: peer %d ended with %s\n", i + 1, how);
	peer_log_path(run, i, log, sizeof(log));
	print_log_tail(log);
}

/* Starts peer i: `dkv [-c FILE] -d DIR [--set ...] --set listen=... --set
 * n=3 [--seeds FIRST] serve`, its output appended to DIR.log. */
static bool
start_peer(struct cluster_run *run, int i)
{
	const struct cli_settings *s = run->o.settings;
	struct peer_proc *p = &run->peers[i];
	char dir[PATH_MAX + 16], log[PATH_MAX + 32], listen_arg[64], seeds_arg[64];
	char **argv;
	size_t argc = 0;
	int fd;

	snprintf(dir, sizeof(dir), "%s/peer%d", run->dir, i + 1);
	peer_log_path(run, i, log, sizeof(log));
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "dkv bench: cannot create %s: %s\n", dir, strerror(errno));
		return false;
	}
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "dkv bench: cannot create %s: %s\n", log, strerror(errno));
		return false;
	}
	argv = calloc(16 + 2 * s->nassignments, sizeof(*argv));
	if (argv == NULL) {
		close(fd);
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
		return false;
	}
	snprintf(listen_arg, sizeof(listen_arg), "listen=127.0.0.1:%d", p->port);
	snprintf(seeds_arg, sizeof(seeds_arg), "127.0.0.1:%d", run->peers[0].port);
	argv[argc++] = (char *)"dkv";
	if (s->config_file != NULL) {
		argv[argc++] = (char *)"-c";
		argv[argc++] = (char *)s->config_file;
	}
	argv[argc++] = (char *)"-d";
	argv[argc++] = dir;
	for (size_t k = 0; k < s->nassignments; k++) {
		if (is_own_setting(s->assignments[k]))
			continue;
		argv[argc++] = (char *)"--set";
		argv[argc++] = (char *)s->assignments[k];
	}
	argv[argc++] = (char *)"--set";
	argv[argc++] = listen_arg;
	argv[argc++] = (char *)"--set";
	argv[argc++] = (char *)"n=3";
	if (i > 0) {
		argv[argc++] = (char *)"--seeds";
		argv[argc++] = seeds_arg;
	}
	argv[argc++] = (char *)"serve";
	argv[argc] = NULL;
	/* this very program: no PATH lookup, no libtool wrapper script */
	p->pid = spawn("/proc/self/exe", argv, fd, fd);
	free(argv);
	close(fd);
	return p->pid > 0;
}

bool
start_peers(struct cluster_run *run, struct rng *r)
{
	int ports[CLUSTER_PEERS];

	if (!pick_ports(r, CLUSTER_PEERS, ports)) {
		fprintf(stderr, "dkv bench: cannot find %d free loopback ports\n", CLUSTER_PEERS);
		return false;
	}
	for (int i = 0; i < CLUSTER_PEERS; i++)
		run->peers[i].port = ports[i];
	snprintf(run->seeds, sizeof(run->seeds), "127.0.0.1:%d", ports[0]);
	bench_note(run->o.common.quiet,
	           "starting %d peers (dkv serve, N=3) on 127.0.0.1:%d, :%d, :%d in %s",
	           CLUSTER_PEERS, ports[0], ports[1], ports[2], run->dir);
	for (int i = 0; i < CLUSTER_PEERS; i++) {
		if (!start_peer(run, i))
			return false;
		run->npeers++;
	}
	return true;
}

/* A peer started here that has exited; says so with its log. */
static bool
peer_died(struct cluster_run *run)
{
	for (int i = 0; i < run->npeers; i++) {
		struct peer_proc *p = &run->peers[i];

		if (p->pid <= 0 || waitpid(p->pid, &p->status, WNOHANG) != p->pid)
			continue;
		p->pid = 0;
		peer_ended(run, i, true);
		return true;
	}
	return false;
}

/* SIGTERM to every peer started here, and reaps them. */
static void
terminate_peers(struct cluster_run *run)
{
	for (int i = 0; i < run->npeers; i++)
		if (run->peers[i].pid > 0)
			kill(run->peers[i].pid, SIGTERM);
	for (int i = 0; i < run->npeers; i++) {
		struct peer_proc *p = &run->peers[i];

		if (p->pid <= 0)
			continue;
		p->killed = !stop_child(p->pid, &p->status);
		if (p->killed)
			fprintf(stderr,
			        "dkv bench: peer %d did not stop within %d s of SIGTERM: killed\n",
			        i + 1, STOP_TIMEOUT_MS / 1000);
		p->pid = 0;
	}
}

void
stop_peers(struct cluster_run *run)
{
	for (int i = 0; i < run->npeers; i++)
		if (run->peers[i].pid > 0)
			run->peers[i].hwm_mib = proc_status_mib(run->peers[i].pid, "VmHWM");
	if (run->npeers > 0)
		bench_note(run->o.common.quiet, "stopping the peers (SIGTERM)");
	terminate_peers(run);
	for (int i = 0; i < run->npeers; i++) {
		const struct peer_proc *p = &run->peers[i];

		if (p->killed || !WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0) {
			peer_ended(run, i, false);
			run->failed = true;
		}
	}
}

void
sample_rss(struct cluster_run *run, bool start)
{
	for (int i = 0; i < run->npeers; i++) {
		struct peer_proc *p = &run->peers[i];
		double rss = p->pid > 0 ? proc_status_mib(p->pid, "VmRSS") : -1.0;

		if (start)
			p->rss_start_mib = rss;
		else
			p->rss_end_mib = rss;
	}
}

double
cluster_cpu_us(const struct cluster_run *run)
{
	double us = rusage_us(RUSAGE_SELF);

	for (int i = 0; i < run->npeers; i++)
		if (run->peers[i].pid > 0)
			us += proc_cpu_us(run->peers[i].pid);
	return us;
}

int
open_client(struct cluster_run *run, dkv_t **db)
{
	struct cli_settings s = *run->o.settings;
	const char *const own[] = {
	    "role", "client", "seeds", run->seeds, "listen", "127.0.0.1:0", "n", "3", NULL,
	};

	s.data_dir = NULL; /* a client peer stores nothing */
	s.seeds = NULL;
	return bench_open(&s, own, db, "join the cluster at %s", run->seeds);
}

bool
wait_for_cluster(struct cluster_run *run, dkv_t *db)
{
	uint64_t start = now_ns(), end = start + (uint64_t)JOIN_TIMEOUT_MS * 1000000u;
	uint64_t stable_since = start;
	size_t last = 0, up = 0, storage = 0;
	unsigned want = CLUSTER_PEERS;

	while (!stop_requested) {
		dkv_peer_info_t *list;
		size_t n;
		uint64_t now;
		int err;

		if (peer_died(run))
			return false;
		if ((err = dkv_peers(db, &list, &n)) != DKV_OK) {
			fprintf(stderr, "dkv bench: dkv_peers: %s\n", dkv_strerror(err));
			return false;
		}
		up = storage = 0;
		for (size_t i = 1; i < n; i++) {
			storage += list[i].tokens > 0 || list[i].state == DKV_PEER_JOINING;
			up += list[i].tokens > 0 && list[i].state == DKV_PEER_UP;
		}
		dkv_peers_free(list, n);
		now = now_ns();
		if (storage != last) {
			last = storage;
			stable_since = now;
		}
		if (up >= want && up == storage &&
		    now - stable_since >= JOIN_STABLE_MS * 1000000ULL) {
			run->storage_peers = (unsigned)up;
			run->join_s = (double)(now - start) / 1e9;
			return true;
		}
		if (now >= end) {
			fprintf(stderr,
			        "dkv bench: after %d s the client sees %zu storage peers up of %zu "
			        "known (want %u up)\n",
			        JOIN_TIMEOUT_MS / 1000, up, storage, want);
			return false;
		}
		pause_ms(50);
	}
	return false;
}
