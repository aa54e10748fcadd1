/*
 * dkv bench --cluster: what replication costs, next to the floor it cannot
 * go below and to a well-known server on the same machine.
 *
 * Three storage peers run as `dkv serve` child processes on loopback with
 * N=3 (or an existing cluster is joined with --seeds), and this process
 * joins as a client peer, so every operation crosses the network to the
 * replicas the way an application's would. For each consistency level
 * (ONE, QUORUM, ALL) it measures one caller doing synchronous puts, then
 * gets of what it put, and then a window of asynchronous operations kept
 * in flight on a read-mostly mix over preloaded keys.
 *
 * In the same run it measures the floor of any request/response here: a
 * TCP ping-pong between this process and a forked echo server, with
 * messages as long as a key and a value. When redis-server and
 * redis-benchmark are installed it runs Redis's SET/GET with the same
 * value size, one client and as many clients as the window. The targets
 * are stated as ratios of these, so each figure is printed beside what it
 * is compared with, all from this one run; they are reported, never
 * enforced. Each peer's peak RSS (VmHWM) is read from /proc before it is
 * stopped.
 *
 * Forks happen only while this process runs no library thread: the peers
 * before the client peer opens, the echo server and Redis after it has
 * closed. Every child gets SIGTERM if this process dies, so none is left
 * behind.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libdkv/dkv.h>

#include "bench.h"
#include "bench_cluster.h"
#include "cli_table.h"
#include "zipf.h"

#define CLUSTER_PEERS 3       /* storage peers started, and the replication factor */
#define KEY_HEAD 16           /* key bytes that make it unique; the rest is padding */
#define VALUE_SLACK 64        /* values start at varying offsets of a pool */
#define WARMUP_OPS 200        /* per kind, at ALL, before anything is measured */
#define FLOOR_WARMUP 1000     /* round trips before the measured ones */
#define PHASE_MAX_ERRORS 20   /* a phase stops after this many failed operations */
#define BUSY_RETRIES 10000    /* 1 ms apart: EBUSY with only our window in flight */
#define JOIN_TIMEOUT_MS 30000 /* for the client to see every storage peer up */
#define JOIN_STABLE_MS 500    /* ... and their number hold still */
#define STOP_TIMEOUT_MS 15000 /* for a child to exit after SIGTERM */
#define REDIS_START_MS 5000   /* for redis-server to accept connections */
#define PROGRESS_NS 500000000ULL
#define LOG_TAIL_LINES 8

/* The targets of the issue, reported beside the figures, never enforced. */
#define TARGET_P50_RTT_RATIO 1.5
#define TARGET_P999_MS 5.0
#define TARGET_MIX_OPS 25000.0
#define TARGET_REDIS_RATIO 0.5

enum level { LEVEL_ONE, LEVEL_QUORUM, LEVEL_ALL, LEVEL_COUNT };

static const char *const level_names[LEVEL_COUNT] = {"ONE", "QUORUM", "ALL"};
static const char *const level_flags[LEVEL_COUNT] = {"one", "quorum", "all"};
static const dkv_consistency_t level_values[LEVEL_COUNT] = {DKV_ONE, DKV_QUORUM, DKV_ALL};
/* First byte of the keys each level's single caller writes, so that every
 * level puts new keys and reads only its own. */
static const char level_spaces[LEVEL_COUNT] = {'o', 'q', 'a'};
#define SPACE_MIX 'm'
#define SPACE_WARMUP 'w'

/* Settings the bench gives the peers and its client itself; the same
 * names among the global --set assignments are not passed on. */
static const char *const own_settings[] = {"data_dir", "listen", "seeds", "role", "n", NULL};

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
	bool quiet;
	const char *dir;
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
	uint32_t tag; /* this run's keys, distinct from an earlier run's */
	uint8_t *values;
	struct level_report levels[LEVEL_COUNT];
	struct measured preload, floor;
	struct redis_report redis;
	double client_hwm_mib;
	double loadavg; /* of the last minute, when the run started: the machine is shared */
	bool failed;
};

static volatile sig_atomic_t stop_requested;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
pause_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void
on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* ------------------------------------------------------------------------
 * Progress on stderr
 */

static void note(const struct cluster_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One line of what the run is doing, unless --quiet. */
static void
note(const struct cluster_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->quiet)
		return;
	fputs("dkv bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

struct progress {
	bool live;  /* a line on a terminal, rewritten in place */
	bool quiet; /* nothing at all */
	char label[40];
	uint64_t start_ns, next_ns;
};

static void
progress_start(struct progress *p, const struct cluster_opts *o, const char *label)
{
	p->quiet = o->quiet;
	p->live = !p->quiet && isatty(STDERR_FILENO);
	snprintf(p->label, sizeof(p->label), "%s", label);
	p->start_ns = now_ns();
	p->next_ns = p->start_ns + PROGRESS_NS;
}

/* fraction is how far the phase is, 0..1. */
static void
progress_update(struct progress *p, double fraction, uint64_t now)
{
	if (!p->live || now < p->next_ns)
		return;
	p->next_ns = now + PROGRESS_NS;
	fprintf(stderr, "\r  %-22s %3u%%", p->label, (unsigned)(fraction * 100.0));
	fflush(stderr);
}

static void
progress_end(const struct progress *p, const struct measured *m)
{
	char rate[32];

	if (p->quiet)
		return;
	fmt_thousands(rate, sizeof(rate),
	              (unsigned long long)(m->seconds > 0 ? (double)m->ops / m->seconds : 0.0));
	fprintf(stderr, "%s  %-22s %s ops/s, p50 %.0f us, p99.9 %.0f us%s\n", p->live ? "\r" : "",
	        p->label, rate, m->p50_us, m->p999_us, m->errors > 0 ? " (errors)" : "");
}

/* ------------------------------------------------------------------------
 * /proc, ports and child processes
 */

/* A "kB" field of /proc/PID/status (VmHWM, VmRSS) in MiB; pid 0 is this
 * process. -1 when it cannot be read. */
static double
proc_status_mib(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	double mib = -1.0;
	FILE *f;

	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/status");
	else
		snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1.0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			mib = strtod(line + flen + 1, NULL) / 1024.0;
			break;
		}
	}
	fclose(f);
	return mib;
}

static double
rusage_us(int who)
{
	struct rusage ru;

	if (getrusage(who, &ru) != 0)
		return 0.0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* User + system CPU of a live process in microseconds (clock-tick
 * resolution, 10 ms at most); 0 when it cannot be read. */
static double
proc_cpu_us(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long utime, stime;
	long hz = sysconf(_SC_CLK_TCK);
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0.0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* after "pid (comm) ": state is field 3, utime and stime 14 and 15 */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
	           &stime) != 2 ||
	    hz <= 0)
		return 0.0;
	return (double)(utime + stime) * 1e6 / (double)hz;
}

/* Where to pick listening ports: 20000-60000 less the kernel's ephemeral
 * range, from which outgoing connections (the peers' own connections to
 * each other among them) take their local ports; examples/ports.sh does
 * the same for the scripts. */
static void
listen_port_range(int *lo, int *hi)
{
	int elo = 32768, ehi = 60999;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

	if (f != NULL) {
		if (fscanf(f, "%d %d", &elo, &ehi) != 2) {
			elo = 32768;
			ehi = 60999;
		}
		fclose(f);
	}
	if (elo > 21000) {
		*lo = 20000;
		*hi = elo - 1 < 60000 ? elo - 1 : 60000;
	} else if (ehi < 59000) {
		*lo = ehi + 1;
		*hi = 60000;
	} else {
		*lo = 20000;
		*hi = 60000;
	}
}

/* Nothing listens on or is bound to 127.0.0.1:port (nor a connection in
 * TIME_WAIT: no SO_REUSEADDR, so the test is strict). */
static bool
port_free(int port)
{
	struct sockaddr_in sa;
	int fd, rc;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return rc == 0;
}

/* n distinct free ports from random places in the listening range. */
static bool
pick_ports(struct rng *r, int n, int *out)
{
	int lo, hi, got = 0;

	listen_port_range(&lo, &hi);
	for (int tries = 0; got < n && tries < 1000; tries++) {
		int port = lo + (int)rng_below(r, (uint64_t)(hi - lo + 1));
		bool dup = false;

		for (int i = 0; i < got; i++)
			dup = dup || out[i] == port;
		if (!dup && port_free(port))
			out[got++] = port;
	}
	return got == n;
}

/* Forks and executes path with argv, stdin from /dev/null and stdout and
 * stderr on out_fd and err_fd (kept when negative). The child is sent
 * SIGTERM should this process die. -1 (with a message) if fork failed. */
static pid_t
spawn(const char *path, char *const argv[], int out_fd, int err_fd)
{
	pid_t parent = getpid(), pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "dkv bench: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0 && null != STDIN_FILENO) {
			dup2(null, STDIN_FILENO);
			close(null);
		}
		if (out_fd >= 0)
			dup2(out_fd, STDOUT_FILENO);
		if (err_fd >= 0)
			dup2(err_fd, STDERR_FILENO);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		execv(path, argv);
		dprintf(STDERR_FILENO, "dkv bench: cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	return pid;
}

/* Waits up to timeout_ms for pid to exit; true with *status if it did. */
static bool
reap_within(pid_t pid, int *status, unsigned timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000u;

	for (;;) {
		pid_t got = waitpid(pid, status, WNOHANG);

		if (got == pid)
			return true;
		if (got < 0 && errno != EINTR)
			return true; /* not our child any more: nothing to wait for */
		if (now_ns() >= end)
			return false;
		pause_ms(10);
	}
}

/* SIGTERM, then SIGKILL if it has not exited after STOP_TIMEOUT_MS. Returns
 * whether it stopped on SIGTERM. */
static bool
stop_child(pid_t pid, int *status)
{
	kill(pid, SIGTERM);
	if (reap_within(pid, status, STOP_TIMEOUT_MS))
		return true;
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return false;
}

static void
describe_status(char *buf, size_t size, int status)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "signal %d (%s)", WTERMSIG(status),
		         strsignal(WTERMSIG(status)));
	else
		snprintf(buf, size, "status 0x%x", (unsigned)status);
}

/* The last lines of a log, indented, on stderr. */
static void
print_log_tail(const char *path)
{
	char *lines[LOG_TAIL_LINES] = {NULL};
	char line[512];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		free(lines[n % LOG_TAIL_LINES]);
		lines[n % LOG_TAIL_LINES] = strdup(line);
		n++;
	}
	fclose(f);
	fprintf(stderr, "  last lines of %s:\n", path);
	for (size_t i = n > LOG_TAIL_LINES ? n - LOG_TAIL_LINES : 0; i < n; i++) {
		const char *l = lines[i % LOG_TAIL_LINES];

		fprintf(stderr, "    %s%s", l != NULL ? l : "?\n",
		        l != NULL && l[strlen(l) - 1] != '\n' ? "\n" : "");
	}
	for (size_t i = 0; i < LOG_TAIL_LINES; i++)
		free(lines[i]);
}

static int
remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	if (remove(path) != 0)
		fprintf(stderr, "dkv bench: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

/* An executable called name in $PATH, into out. */
static bool
find_in_path(const char *name, char *out, size_t size)
{
	const char *path = getenv("PATH");

	if (path == NULL || path[0] == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path != '\0') {
		const char *end = strchr(path, ':');
		size_t len = end != NULL ? (size_t)(end - path) : strlen(path);

		if (len > 0 &&
		    (size_t)snprintf(out, size, "%.*s/%s", (int)len, path, name) < size &&
		    access(out, X_OK) == 0)
			return true;
		path += len;
		if (*path == ':')
			path++;
	}
	return false;
}

/* A TCP connection to 127.0.0.1:port with TCP_NODELAY; -1 on failure. */
static int
connect_loopback(int port)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* ------------------------------------------------------------------------
 * The peers
 */

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
	snprintf(log, sizeof(log), "%s/peer%d.log", run->dir, i + 1);
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

/* Picks ports and starts every peer, the first one the seed of the
 * others. */
static bool
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
	note(&run->o, "starting %d peers (dkv serve, N=3) on 127.0.0.1:%d, :%d, :%d in %s",
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
		char how[64], log[PATH_MAX + 32];

		if (p->pid <= 0 || waitpid(p->pid, &p->status, WNOHANG) != p->pid)
			continue;
		p->pid = 0;
		describe_status(how, sizeof(how), p->status);
		fprintf(stderr, "dkv bench: peer %d (127.0.0.1:%d) stopped by itself: %s\n", i + 1,
		        p->port, how);
		snprintf(log, sizeof(log), "%s/peer%d.log", run->dir, i + 1);
		print_log_tail(log);
		return true;
	}
	return false;
}

/* SIGTERM to every peer started here, and reaps them. */
static void
stop_peers(struct cluster_run *run)
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

static void
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

/* CPU used so far by this process and the peers started here, in
 * microseconds. */
static double
cluster_cpu_us(const struct cluster_run *run)
{
	double us = rusage_us(RUSAGE_SELF);

	for (int i = 0; i < run->npeers; i++)
		if (run->peers[i].pid > 0)
			us += proc_cpu_us(run->peers[i].pid);
	return us;
}

/* Joins the cluster at run->seeds as a client peer. */
static int
open_client(struct cluster_run *run, dkv_t **db)
{
	struct cli_settings s = *run->o.settings;
	dkv_config_t *cfg;
	int err;

	*db = NULL;
	s.data_dir = NULL; /* a client peer stores nothing */
	s.seeds = NULL;
	if ((cfg = dkv_config_new()) == NULL) {
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
		return DKV_ENOMEM;
	}
	if ((err = cli_settings_apply(&s, cfg)) != DKV_OK)
		goto done;
	if ((err = dkv_config_set(cfg, "role", "client")) != DKV_OK ||
	    (err = dkv_config_set(cfg, "seeds", run->seeds)) != DKV_OK ||
	    (err = dkv_config_set(cfg, "listen", "127.0.0.1:0")) != DKV_OK ||
	    (err = dkv_config_set(cfg, "n", "3")) != DKV_OK) {
		fprintf(stderr, "dkv bench: %s\n", dkv_config_error(cfg));
		goto done;
	}
	if ((err = dkv_open(cfg, db)) != DKV_OK)
		fprintf(stderr, "dkv bench: cannot join the cluster at %s: %s: %s\n", run->seeds,
		        dkv_strerror(err), dkv_config_error(cfg));
done:
	dkv_config_free(cfg);
	return err;
}

/* Until the client sees every storage peer up with tokens (all three
 * started here, or at least three of a joined cluster) and their number
 * held still for JOIN_STABLE_MS. */
static bool
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

/* ------------------------------------------------------------------------
 * Keys, values and the phases
 */

/* key_size bytes: the key space, this run's tag and the index scrambled by
 * an odd multiplier (a bijection on 32 bits, so keys stay distinct while
 * consecutive ones land far apart), then padding. */
static void
key_make(char *key, size_t size, char space, uint32_t tag, uint64_t idx)
{
	char head[KEY_HEAD + 1];

	snprintf(head, sizeof(head), "%c%07" PRIx32 "%08" PRIx32, space, tag & 0xfffffffu,
	         (uint32_t)idx * 0x9e3779b1u);
	memcpy(key, head, KEY_HEAD);
	memset(key + KEY_HEAD, '.', size - KEY_HEAD);
}

static const uint8_t *
value_at(const struct cluster_run *run, uint64_t i)
{
	return run->values + (i % VALUE_SLACK);
}

static dkv_opts_t *
opts_for(enum level lv)
{
	dkv_opts_t *o = dkv_opts_new();

	if (o == NULL)
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
	dkv_opts_set_consistency(o, level_values[lv]);
	return o;
}

static void
measured_close(struct measured *m, const struct histogram *h, uint64_t ns)
{
	m->ran = true;
	m->seconds = (double)ns / 1e9;
	m->p50_us = hist_quantile_us(h, 0.50);
	m->p99_us = hist_quantile_us(h, 0.99);
	m->p999_us = hist_quantile_us(h, 0.999);
	m->max_us = hist_quantile_us(h, 1.0);
}

static void
count_error(struct measured *m, int err, bool is_get)
{
	if (m->errors++ == 0)
		m->first_error = err;
	m->get_errors += is_get;
}

/* Too many failures for the figures to mean anything. */
static bool
cut_short(const struct measured *m)
{
	return m->errors >= PHASE_MAX_ERRORS;
}

/* One caller: a put of each of --keys keys of the level's space, or a get
 * of each, which must return exactly the value that was put. */
static bool
run_sync_phase(struct cluster_run *run, dkv_t *db, enum level lv, bool put, char space,
               uint64_t count, struct measured *m)
{
	const struct cluster_opts *o = &run->o;
	struct histogram *h = calloc(1, sizeof(*h));
	dkv_opts_t *opts = opts_for(lv);
	struct progress prog;
	char key[1024], label[40];
	uint64_t start, t1 = 0;
	double cpu;

	memset(m, 0, sizeof(*m));
	if (h == NULL || opts == NULL) {
		free(h);
		dkv_opts_free(opts);
		return false;
	}
	snprintf(label, sizeof(label), "%s %s", level_names[lv], put ? "put" : "get");
	progress_start(&prog, o, label);
	cpu = cluster_cpu_us(run);
	start = t1 = now_ns();
	for (uint64_t i = 0; i < count && !stop_requested && m->errors < PHASE_MAX_ERRORS; i++) {
		dkv_result_t *res = NULL;
		uint64_t t0;
		int err;

		key_make(key, o->key_size, space, run->tag, i);
		t0 = now_ns();
		if (put)
			err = dkv_put(db, key, o->key_size, value_at(run, i), o->value_size, NULL,
			              opts);
		else
			err = dkv_get(db, key, o->key_size, &res, opts);
		t1 = now_ns();
		hist_add(h, t1 - t0);
		m->ops++;
		if (!put)
			m->gets++;
		if (err == DKV_OK && !put) {
			size_t vlen = 0;
			const void *v = dkv_result_value(res, 0, &vlen);

			if (dkv_result_count(res) == 1 && vlen == o->value_size &&
			    (vlen == 0 || memcmp(v, value_at(run, i), vlen) == 0))
				m->found++;
			else
				m->wrong++;
		} else if (err != DKV_OK && !(err == DKV_ENOTFOUND && !put)) {
			count_error(m, err, !put);
		}
		dkv_result_free(res);
		progress_update(&prog, (double)(i + 1) / (double)count, t1);
	}
	measured_close(m, h, t1 - start);
	m->cpu_us = m->ops > 0 ? (cluster_cpu_us(run) - cpu) / (double)m->ops : 0.0;
	progress_end(&prog, m);
	free(h);
	dkv_opts_free(opts);
	return true;
}

struct window;

struct window_slot {
	struct window *w;
	uint64_t start_ns;
};

/* A window of async operations; the callbacks (on the library's I/O
 * thread) and the submitting thread share it under mu. */
struct window {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct window_slot *slots;
	struct window_slot **free_slots;
	size_t nfree;
	size_t value_size;
	struct histogram hist;
	struct measured m;
	uint64_t last_done_ns;
};

static void
window_finish(struct window_slot *s, int err, bool is_get, bool found)
{
	struct window *w = s->w;
	uint64_t end = now_ns();

	pthread_mutex_lock(&w->mu);
	hist_add(&w->hist, end - s->start_ns);
	w->m.ops++;
	if (is_get) {
		w->m.gets++;
		if (found)
			w->m.found++;
		else if (err == DKV_OK)
			w->m.wrong++;
	}
	if (err != DKV_OK && err != DKV_ENOTFOUND)
		count_error(&w->m, err, is_get);
	w->last_done_ns = end;
	w->free_slots[w->nfree++] = s;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void
window_put_done(int err, void *arg)
{
	window_finish(arg, err, false, false);
}

static void
window_get_done(int err, dkv_result_t *res, void *arg)
{
	struct window_slot *s = arg;
	size_t vlen = 0;
	bool found = err == DKV_OK && dkv_result_count(res) == 1 &&
	             dkv_result_value(res, 0, &vlen) != NULL && vlen == s->w->value_size;

	dkv_result_free(res); /* the callback owns it */
	window_finish(s, err, true, found);
}

/* --window operations kept in flight: with preload, a put of each mix key
 * in turn; else the get/put mix on random mix keys for --seconds (or
 * --mix-ops operations). */
static bool
run_window_phase(struct cluster_run *run, dkv_t *db, enum level lv, bool preload,
                 struct measured *out)
{
	const struct cluster_opts *o = &run->o;
	struct window *w = calloc(1, sizeof(*w));
	dkv_opts_t *opts = opts_for(lv);
	struct progress prog;
	struct rng rng;
	char key[1024], label[40];
	uint64_t submitted = 0, busy = 0, start, deadline, total;
	double cpu;
	bool ok = false;

	memset(out, 0, sizeof(*out));
	if (w == NULL || opts == NULL)
		goto done;
	w->slots = calloc(o->window, sizeof(*w->slots));
	w->free_slots = calloc(o->window, sizeof(*w->free_slots));
	if (w->slots == NULL || w->free_slots == NULL)
		goto done;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->value_size = o->value_size;
	for (size_t i = 0; i < o->window; i++) {
		w->slots[i].w = w;
		w->free_slots[w->nfree++] = &w->slots[i];
	}
	rng_seed(&rng, ((uint64_t)run->tag << 8) | (uint64_t)lv);
	if (preload)
		snprintf(label, sizeof(label), "preload (%s put)", level_names[lv]);
	else
		snprintf(label, sizeof(label), "%s %u/%u mix", level_names[lv], o->read_pct,
		         100 - o->read_pct);
	total = preload ? o->keys : o->mix_ops;
	progress_start(&prog, o, label);
	cpu = cluster_cpu_us(run);
	start = now_ns();
	deadline = start + (uint64_t)(o->seconds * 1e9);
	w->last_done_ns = start;
	for (;;) {
		struct window_slot *slot;
		uint64_t now = now_ns(), idx;
		bool is_get;
		int err;

		if (stop_requested)
			break;
		if (total > 0 ? submitted >= total : now >= deadline)
			break;
		progress_update(&prog,
		                total > 0 ? (double)submitted / (double)total
		                          : (double)(now - start) / (double)(deadline - start),
		                now);
		pthread_mutex_lock(&w->mu);
		while (w->nfree == 0)
			pthread_cond_wait(&w->cv, &w->mu);
		slot = w->free_slots[--w->nfree];
		if (w->m.errors >= PHASE_MAX_ERRORS) {
			w->free_slots[w->nfree++] = slot;
			pthread_mutex_unlock(&w->mu);
			break;
		}
		pthread_mutex_unlock(&w->mu);
		is_get = !preload && rng_below(&rng, 100) < o->read_pct;
		idx = preload ? submitted : rng_below(&rng, o->keys);
		key_make(key, o->key_size, SPACE_MIX, run->tag, idx);
		slot->start_ns = now_ns(); /* before submitting: the callback may run at once */
		if (is_get)
			err = dkv_get_async(db, key, o->key_size, opts, window_get_done, slot);
		else
			err = dkv_put_async(db, key, o->key_size, value_at(run, submitted),
			                    o->value_size, NULL, opts, window_put_done, slot);
		if (err == DKV_OK) {
			submitted++;
			continue;
		}
		pthread_mutex_lock(&w->mu);
		w->free_slots[w->nfree++] = slot;
		if (err != DKV_EBUSY || ++busy > BUSY_RETRIES)
			count_error(&w->m, err, is_get);
		pthread_mutex_unlock(&w->mu);
		if (err == DKV_EBUSY)
			pause_ms(1);
	}
	pthread_mutex_lock(&w->mu);
	while (w->nfree < o->window)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	*out = w->m;
	measured_close(out, &w->hist, w->last_done_ns - start);
	out->cpu_us = out->ops > 0 ? (cluster_cpu_us(run) - cpu) / (double)out->ops : 0.0;
	progress_end(&prog, out);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	ok = true;
done:
	if (!ok)
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
	if (w != NULL) {
		free(w->slots);
		free(w->free_slots);
	}
	free(w);
	dkv_opts_free(opts);
	return ok;
}

/* A measured phase whose operations failed: says how, and fails the run. */
static void
check_phase(struct cluster_run *run, const char *what, const struct measured *m)
{
	if (m->errors > 0) {
		fprintf(stderr,
		        "dkv bench: %s: %" PRIu64 " of %" PRIu64 " operations failed (%" PRIu64
		        " gets, %" PRIu64 " puts), the first with \"%s\"%s\n",
		        what, m->errors, m->ops, m->get_errors, m->errors - m->get_errors,
		        dkv_strerror(m->first_error), cut_short(m) ? "; phase cut short" : "");
		run->failed = true;
	}
	if (m->wrong > 0) {
		fprintf(stderr,
		        "dkv bench: %s: %" PRIu64
		        " gets returned siblings or other bytes than were "
		        "put\n",
		        what, m->wrong);
		run->failed = true;
	}
}

/* Everything measured against the cluster, through the client peer. */
static bool
run_levels(struct cluster_run *run, dkv_t *db)
{
	const struct cluster_opts *o = &run->o;
	struct measured warm;
	char what[64];

	note(o, "warming up: %d puts and gets at ALL", WARMUP_OPS);
	if (!run_sync_phase(run, db, LEVEL_ALL, true, SPACE_WARMUP, WARMUP_OPS, &warm))
		return false;
	check_phase(run, "warm-up put", &warm);
	if (warm.errors == 0 &&
	    !run_sync_phase(run, db, LEVEL_ALL, false, SPACE_WARMUP, WARMUP_OPS, &warm))
		return false;
	check_phase(run, "warm-up get", &warm);
	if (run->failed)
		return false;
	sample_rss(run, true);

	note(o, "preloading %" PRIu64 " keys for the mix", o->keys);
	if (!run_window_phase(run, db, LEVEL_ALL, true, &run->preload))
		return false;
	check_phase(run, "preload", &run->preload);
	for (int lv = 0; lv < LEVEL_COUNT && !stop_requested; lv++) {
		struct level_report *r = &run->levels[lv];

		if (!o->run_level[lv])
			continue;
		note(o, "%s: single caller, then %u in flight", level_names[lv], o->window);
		if (!run_sync_phase(run, db, (enum level)lv, true, level_spaces[lv], o->keys,
		                    &r->put) ||
		    !run_sync_phase(run, db, (enum level)lv, false, level_spaces[lv], o->keys,
		                    &r->get) ||
		    !run_window_phase(run, db, (enum level)lv, false, &r->mix))
			return false;
		snprintf(what, sizeof(what), "%s put", level_names[lv]);
		check_phase(run, what, &r->put);
		snprintf(what, sizeof(what), "%s get", level_names[lv]);
		check_phase(run, what, &r->get);
		if (r->get.found + r->get.wrong + r->get.errors < r->get.ops) {
			fprintf(stderr, "dkv bench: %s: %" PRIu64 " keys just put were not found\n",
			        what, r->get.ops - r->get.found - r->get.wrong - r->get.errors);
			run->failed = true;
		}
		snprintf(what, sizeof(what), "%s mix", level_names[lv]);
		check_phase(run, what, &r->mix);
	}
	sample_rss(run, false);
	return !stop_requested;
}

/* ------------------------------------------------------------------------
 * The floor: a TCP ping-pong on loopback
 */

static bool
send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* false on EOF or error */
static bool
recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* The forked echo server: one connection, each message sent back, until
 * the other end closes. */
static int
echo_serve(int lfd, char *buf, size_t len)
{
	int fd, one = 1;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	fd = accept(lfd, NULL, NULL);
	close(lfd);
	if (fd < 0)
		return 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (recv_all(fd, buf, len))
		if (!send_all(fd, buf, len))
			return 1;
	close(fd);
	return 0;
}

static bool
run_floor(struct cluster_run *run)
{
	const struct cluster_opts *o = &run->o;
	size_t len = o->key_size + o->value_size;
	struct histogram *h = calloc(1, sizeof(*h));
	char *buf = malloc(len);
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	struct progress prog;
	uint64_t start, t1;
	double cpu, children_cpu = rusage_us(RUSAGE_CHILDREN);
	int lfd = -1, fd = -1, status;
	bool ok = false;
	pid_t pid;

	memset(&run->floor, 0, sizeof(run->floor));
	if (h == NULL || buf == NULL) {
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
		goto done;
	}
	memset(buf, 'x', len);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 1) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0) {
		fprintf(stderr, "dkv bench: loopback echo server: %s\n", strerror(errno));
		goto done;
	}
	note(o, "floor: %" PRIu64 " TCP round trips of %zu bytes with a forked echo server",
	     o->rtt_trips, len);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "dkv bench: fork: %s\n", strerror(errno));
		goto done;
	}
	if (pid == 0)
		_exit(echo_serve(lfd, buf, len));
	close(lfd);
	lfd = -1;
	fd = connect_loopback(ntohs(sa.sin_port));
	if (fd < 0) {
		fprintf(stderr, "dkv bench: cannot connect to the echo server: %s\n",
		        strerror(errno));
		kill(pid, SIGTERM);
		waitpid(pid, &status, 0);
		goto done;
	}
	for (int i = 0; i < FLOOR_WARMUP; i++)
		if (!send_all(fd, buf, len) || !recv_all(fd, buf, len))
			goto echo_failed;
	progress_start(&prog, o, "loopback round trip");
	cpu = rusage_us(RUSAGE_SELF);
	start = t1 = now_ns();
	for (uint64_t i = 0; i < o->rtt_trips && !stop_requested; i++) {
		uint64_t t0 = now_ns();

		if (!send_all(fd, buf, len) || !recv_all(fd, buf, len))
			goto echo_failed;
		t1 = now_ns();
		hist_add(h, t1 - t0);
		run->floor.ops++;
		progress_update(&prog, (double)(i + 1) / (double)o->rtt_trips, t1);
	}
	measured_close(&run->floor, h, t1 - start);
	run->floor.cpu_us = rusage_us(RUSAGE_SELF) - cpu;
	progress_end(&prog, &run->floor);
	ok = true;
echo_failed:
	if (!ok)
		fprintf(stderr, "dkv bench: the loopback echo server stopped answering\n");
	close(fd);
	if (!reap_within(pid, &status, STOP_TIMEOUT_MS))
		stop_child(pid, &status);
	/* the echo server's CPU counts once it is reaped; its warm-up is
	 * counted too, in proportion */
	if (ok && run->floor.ops > 0)
		run->floor.cpu_us =
		    (run->floor.cpu_us + (rusage_us(RUSAGE_CHILDREN) - children_cpu) *
		                             (double)run->floor.ops /
		                             (double)(run->floor.ops + FLOOR_WARMUP)) /
		    (double)run->floor.ops;
done:
	if (lfd >= 0)
		close(lfd);
	free(buf);
	free(h);
	return ok;
}

/* ------------------------------------------------------------------------
 * Redis
 */

/* One CSV line of redis-benchmark: "SET","rps","avg","min","p50","p95",
 * "p99","max" (latencies in ms; older versions give rps only). */
static void
parse_redis_line(char *line, struct redis_figures *set, struct redis_figures *get)
{
	double v[8];
	char *field, *save = NULL;
	struct redis_figures *f;
	int n = 0;

	if (strncmp(line, "\"SET\"", 5) == 0)
		f = set;
	else if (strncmp(line, "\"GET\"", 5) == 0)
		f = get;
	else
		return;
	strtok_r(line, ",", &save);
	while (n < 8 && (field = strtok_r(NULL, ",\r\n", &save)) != NULL) {
		char *end;

		if (*field == '"')
			field++;
		v[n] = strtod(field, &end);
		if (end == field)
			break;
		n++;
	}
	if (n < 1)
		return;
	f->ok = true;
	f->rps = v[0];
	f->p50_us = n >= 4 ? v[3] * 1000.0 : -1.0;
	f->p99_us = n >= 6 ? v[5] * 1000.0 : -1.0;
}

/* redis-benchmark SET and GET with this many clients; its errors go to
 * log_fd. */
static bool
redis_benchmark(struct cluster_run *run, const char *path, int port, unsigned clients, int log_fd,
                struct redis_figures *set, struct redis_figures *get)
{
	const struct cluster_opts *o = &run->o;
	char port_arg[16], size_arg[32], clients_arg[16], n_arg[32], keys_arg[32];
	char *argv[] = {(char *)"redis-benchmark",
	                (char *)"-h",
	                (char *)"127.0.0.1",
	                (char *)"-p",
	                port_arg,
	                (char *)"-t",
	                (char *)"set,get",
	                (char *)"-d",
	                size_arg,
	                (char *)"-c",
	                clients_arg,
	                (char *)"-n",
	                n_arg,
	                (char *)"-r",
	                keys_arg,
	                (char *)"--csv",
	                NULL};
	char *out = NULL, *line, *save = NULL;
	size_t len = 0, cap = 0;
	int fds[2], status = 0;
	pid_t pid;

	snprintf(port_arg, sizeof(port_arg), "%d", port);
	snprintf(size_arg, sizeof(size_arg), "%zu", o->value_size);
	snprintf(clients_arg, sizeof(clients_arg), "%u", clients);
	snprintf(n_arg, sizeof(n_arg), "%" PRIu64, o->redis_requests);
	snprintf(keys_arg, sizeof(keys_arg), "%" PRIu64, o->keys);
	if (pipe2(fds, O_CLOEXEC) != 0) {
		fprintf(stderr, "dkv bench: pipe: %s\n", strerror(errno));
		return false;
	}
	note(o, "redis-benchmark -t set,get -d %zu -c %u -n %" PRIu64 " -r %" PRIu64, o->value_size,
	     clients, o->redis_requests, o->keys);
	pid = spawn(path, argv, fds[1], log_fd);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return false;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *grown = realloc(out, cap + 65536);

			if (grown == NULL)
				break;
			out = grown;
			cap += 65536;
		}
		n = read(fds[0], out + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (out == NULL)
		return false;
	out[len] = '\0';
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		parse_redis_line(line, set, get);
	free(out);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !set->ok || !get->ok) {
		char how[64];

		describe_status(how, sizeof(how), status);
		snprintf(run->redis.why, sizeof(run->redis.why),
		         "redis-benchmark -c %u gave no SET/GET figures (%s)", clients, how);
		return false;
	}
	return true;
}

static void
run_redis(struct cluster_run *run, struct rng *r)
{
	const struct cluster_opts *o = &run->o;
	struct redis_report *rr = &run->redis;
	char server[PATH_MAX], bench[PATH_MAX], dir[PATH_MAX + 16], log[PATH_MAX + 32];
	char port_arg[16];
	char *argv[] = {(char *)"redis-server",
	                (char *)"--port",
	                port_arg,
	                (char *)"--bind",
	                (char *)"127.0.0.1",
	                (char *)"--save",
	                (char *)"",
	                (char *)"--appendonly",
	                (char *)"no",
	                (char *)"--daemonize",
	                (char *)"no",
	                (char *)"--dir",
	                dir,
	                NULL};
	uint64_t end;
	int port, fd, status;
	bool has_server, has_bench;
	pid_t pid;

	rr->clients[0] = 1;
	rr->clients[1] = o->window;
	if (!o->redis) {
		rr->state = REDIS_NOT_RUN;
		snprintf(rr->why, sizeof(rr->why), "skipped (--no-redis)");
		return;
	}
	has_server = find_in_path("redis-server", server, sizeof(server));
	has_bench = find_in_path("redis-benchmark", bench, sizeof(bench));
	if (!has_server || !has_bench) {
		rr->state = REDIS_NOT_FOUND;
		snprintf(rr->why, sizeof(rr->why), "%s not found on PATH: skipped",
		         !has_server && !has_bench ? "redis-server and redis-benchmark"
		         : !has_server             ? "redis-server"
		                                   : "redis-benchmark");
		note(o, "Redis: %s", rr->why);
		return;
	}
	rr->state = REDIS_FAILED;
	if (!pick_ports(r, 1, &port)) {
		snprintf(rr->why, sizeof(rr->why), "no free loopback port for redis-server");
		return;
	}
	snprintf(port_arg, sizeof(port_arg), "%d", port);
	snprintf(dir, sizeof(dir), "%s/redis", run->dir);
	snprintf(log, sizeof(log), "%s/redis.log", run->dir);
	if (mkdir(dir, 0700) != 0 ||
	    (fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0) {
		snprintf(rr->why, sizeof(rr->why), "cannot create %.80s: %s", dir, strerror(errno));
		return;
	}
	note(o, "starting %s on 127.0.0.1:%d (no persistence)", server, port);
	pid = spawn(server, argv, fd, fd);
	if (pid < 0) {
		close(fd);
		snprintf(rr->why, sizeof(rr->why), "cannot start redis-server");
		return;
	}
	end = now_ns() + (uint64_t)REDIS_START_MS * 1000000u;
	for (;;) {
		int c = connect_loopback(port);

		if (c >= 0) {
			close(c);
			break;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			pid = 0;
			snprintf(rr->why, sizeof(rr->why),
			         "redis-server exited at start (see %.100s)", log);
			print_log_tail(log);
			goto done;
		}
		if (now_ns() >= end || stop_requested) {
			snprintf(rr->why, sizeof(rr->why),
			         "redis-server did not listen within %d s", REDIS_START_MS / 1000);
			goto done;
		}
		pause_ms(20);
	}
	for (int i = 0; i < 2 && !stop_requested; i++)
		if (!redis_benchmark(run, bench, port, rr->clients[i], fd, &rr->set[i],
		                     &rr->get[i]))
			goto done;
	if (!stop_requested)
		rr->state = REDIS_OK;
done:
	if (pid > 0) {
		rr->hwm_mib = proc_status_mib(pid, "VmHWM");
		stop_child(pid, &status);
	}
	close(fd);
	if (rr->state != REDIS_OK && rr->why[0] == '\0')
		snprintf(rr->why, sizeof(rr->why), "interrupted");
	if (rr->state != REDIS_OK)
		note(o, "Redis: %s", rr->why);
}

/* Redis's figure for the same get/put mix at the window's clients: the
 * time per operation of the mix from its GET and SET rates. */
static double
redis_mix_rps(const struct cluster_run *run)
{
	const struct redis_report *rr = &run->redis;
	double rf = run->o.read_pct / 100.0;

	if (rr->state != REDIS_OK || rr->get[1].rps <= 0 || rr->set[1].rps <= 0)
		return 0.0;
	return 1.0 / (rf / rr->get[1].rps + (1.0 - rf) / rr->set[1].rps);
}

/* ------------------------------------------------------------------------
 * Tables
 */

static double
ops_per_s(const struct measured *m)
{
	return m->seconds > 0 ? (double)m->ops / m->seconds : 0.0;
}

static void
cell_thousands(struct table *t, double v)
{
	char num[32];

	table_cellf(t, "%s", fmt_thousands(num, sizeof(num), (unsigned long long)(v + 0.5)));
}

/* us with one decimal below 1 ms, whole above */
static void
cell_us(struct table *t, double us)
{
	if (us < 0)
		table_cellf(t, "-");
	else if (us < 1000)
		table_cellf(t, "%.1f", us);
	else
		table_cellf(t, "%.0f", us);
}

/* OPS/S, P50, P99, P99.9, MAX and CPU per operation of a phase, or
 * dashes if it was cut short by failures. */
static void
cell_figures(struct table *t, const struct measured *m)
{
	if (cut_short(m)) {
		for (int i = 0; i < 6; i++)
			table_cellf(t, "-");
		return;
	}
	cell_thousands(t, ops_per_s(m));
	cell_us(t, m->p50_us);
	cell_us(t, m->p99_us);
	cell_us(t, m->p999_us);
	cell_us(t, m->max_us);
	cell_us(t, m->cpu_us);
}

static void
cell_found(struct table *t, const struct measured *m)
{
	if (m->gets == 0)
		table_cellf(t, "-");
	else
		table_cellf(t, "%.1f%%", 100.0 * (double)m->found / (double)m->gets);
}

/* Prints and frees t under a title; false when it was short of memory. */
static bool
print_table(struct table *t, const char *title)
{
	int rc;

	if (t == NULL) {
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
		return false;
	}
	printf("\n%s\n", title);
	rc = table_print(t, stdout, 2);
	table_free(t);
	if (rc != 0)
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
	return rc == 0;
}

static bool
print_single_caller(const struct cluster_run *run)
{
	static const char *const headers[] = {"LEVEL",     "OP",     "OPS",      "OPS/S",
	                                      "P50 US",    "P99 US", "P99.9 US", "MAX US",
	                                      "CPU US/OP", "FOUND",  "ERRORS"};
	struct table *t = table_new(11, "llrrrrrrrrr", headers);

	for (int lv = 0; t != NULL && lv < LEVEL_COUNT; lv++) {
		const struct measured *ms[2] = {&run->levels[lv].put, &run->levels[lv].get};

		for (int k = 0; k < 2; k++) {
			const struct measured *m = ms[k];

			if (!m->ran)
				continue;
			table_cellf(t, "%s", level_names[lv]);
			table_cellf(t, "%s", k == 0 ? "put" : "get");
			cell_thousands(t, (double)m->ops);
			cell_figures(t, m);
			cell_found(t, m);
			table_cellf(t, "%" PRIu64, m->errors);
		}
	}
	return print_table(t, "Single caller (synchronous dkv_put, then dkv_get of each key put; "
	                      "CPU is this process's and the peers', user + system):");
}

static bool
print_concurrent(const struct cluster_run *run)
{
	static const char *const headers[] = {"LEVEL",     "MIX",    "OPS",      "OPS/S",
	                                      "P50 US",    "P99 US", "P99.9 US", "MAX US",
	                                      "CPU US/OP", "FOUND",  "ERRORS"};
	struct table *t = table_new(11, "llrrrrrrrrr", headers);
	char title[160];

	for (int lv = -1; t != NULL && lv < LEVEL_COUNT; lv++) {
		const struct measured *m = lv < 0 ? &run->preload : &run->levels[lv].mix;

		if (!m->ran)
			continue;
		table_cellf(t, "%s", lv < 0 ? "ALL" : level_names[lv]);
		if (lv < 0)
			table_cellf(t, "preload puts");
		else
			table_cellf(t, "%u/%u get/put", run->o.read_pct, 100 - run->o.read_pct);
		cell_thousands(t, (double)m->ops);
		cell_figures(t, m);
		cell_found(t, m);
		table_cellf(t, "%" PRIu64, m->errors);
	}
	snprintf(title, sizeof(title),
	         "Concurrent (dkv_get_async/dkv_put_async, %u in flight from one client peer, "
	         "%" PRIu64 " keys):",
	         run->o.window, run->o.keys);
	return print_table(t, title);
}

static bool
print_floor(const struct cluster_run *run)
{
	static const char *const headers[] = {"ROUND TRIPS", "PER S",  "P50 US",     "P99 US",
	                                      "P99.9 US",    "MAX US", "CPU US/TRIP"};
	const struct measured *m = &run->floor;
	struct table *t;
	char title[160];

	if (!m->ran)
		return true;
	t = table_new(7, "rrrrrrr", headers);
	if (t != NULL) {
		cell_thousands(t, (double)m->ops);
		cell_figures(t, m);
	}
	snprintf(title, sizeof(title),
	         "Floor: TCP ping-pong on loopback between two processes, %zu bytes each way, "
	         "TCP_NODELAY:",
	         run->o.key_size + run->o.value_size);
	return print_table(t, title);
}

static void
cell_mib(struct table *t, double mib)
{
	if (mib < 0)
		table_cellf(t, "-");
	else
		table_cellf(t, "%.1f", mib);
}

static bool
print_memory(const struct cluster_run *run)
{
	static const char *const headers[] = {"PROCESS",       "ADDRESS",      "RSS BEFORE MiB",
	                                      "RSS AFTER MiB", "PEAK RSS MiB", "STOPPED"};
	struct table *t = table_new(6, "llrrrl", headers);

	for (int i = 0; t != NULL && i < run->npeers; i++) {
		const struct peer_proc *p = &run->peers[i];
		char how[64];

		table_cellf(t, "peer %d (dkv serve)", i + 1);
		table_cellf(t, "127.0.0.1:%d", p->port);
		cell_mib(t, p->rss_start_mib);
		cell_mib(t, p->rss_end_mib);
		cell_mib(t, p->hwm_mib);
		describe_status(how, sizeof(how), p->status);
		table_cellf(t, "%s%s", p->killed ? "killed, " : "", how);
	}
	if (t != NULL) {
		table_cellf(t, "this client peer");
		table_cellf(t, "-");
		table_cellf(t, "-");
		table_cellf(t, "-");
		cell_mib(t, run->client_hwm_mib);
		table_cellf(t, "-");
	}
	if (t != NULL && run->redis.state == REDIS_OK) {
		table_cellf(t, "redis-server");
		table_cellf(t, "-");
		table_cellf(t, "-");
		table_cellf(t, "-");
		cell_mib(t, run->redis.hwm_mib);
		table_cellf(t, "-");
	}
	if (!print_table(t, "Memory (VmRSS before the load and after the last mix, VmHWM "
	                    "read just before SIGTERM):"))
		return false;
	if (run->npeers == 0)
		printf("  (joined with --seeds: the storage peers are not this run's processes, so "
		       "their memory is not shown)\n");
	return true;
}

static void
redis_row(struct table *t, unsigned clients, const char *test, const struct redis_figures *f,
          uint64_t requests)
{
	table_cellf(t, "%u", clients);
	table_cellf(t, "%s", test);
	cell_thousands(t, (double)requests);
	cell_thousands(t, f->rps);
	cell_us(t, f->p50_us);
	cell_us(t, f->p99_us);
}

static bool
print_redis(const struct cluster_run *run)
{
	static const char *const headers[] = {"CLIENTS", "TEST",   "REQUESTS",
	                                      "OPS/S",   "P50 US", "P99 US"};
	static const char *const beside_headers[] = {"WORKLOAD",     "DKV OPS/S",   "DKV P50 US",
	                                             "DKV P99 US",   "REDIS OPS/S", "REDIS P50 US",
	                                             "REDIS P99 US", "DKV/REDIS"};
	const struct redis_report *rr = &run->redis;
	const struct level_report *q = &run->levels[LEVEL_QUORUM];
	struct table *t;
	char title[200];
	double mix;

	if (rr->state != REDIS_OK) {
		printf("\nRedis: %s\n", rr->why);
		return true;
	}
	t = table_new(6, "rlrrrr", headers);
	for (int i = 0; t != NULL && i < 2; i++) {
		redis_row(t, rr->clients[i], "SET", &rr->set[i], run->o.redis_requests);
		redis_row(t, rr->clients[i], "GET", &rr->get[i], run->o.redis_requests);
	}
	snprintf(title, sizeof(title),
	         "Redis (redis-benchmark -t set,get -d %zu -r %" PRIu64
	         " --csv against a redis-server started here):",
	         run->o.value_size, run->o.keys);
	if (!print_table(t, title))
		return false;
	if (!run->o.run_level[LEVEL_QUORUM])
		return true;

	t = table_new(8, "lrrrrrrr", beside_headers);
	if (t != NULL) {
		const struct measured *dk[2] = {&q->put, &q->get};
		const struct redis_figures *rf[2] = {&rr->set[0], &rr->get[0]};
		const char *names[2] = {"1 caller: put / SET", "1 caller: get / GET"};

		for (int k = 0; k < 2; k++) {
			table_cellf(t, "%s", names[k]);
			cell_thousands(t, ops_per_s(dk[k]));
			cell_us(t, dk[k]->p50_us);
			cell_us(t, dk[k]->p99_us);
			cell_thousands(t, rf[k]->rps);
			cell_us(t, rf[k]->p50_us);
			cell_us(t, rf[k]->p99_us);
			table_cellf(t, "%.2fx",
			            rf[k]->rps > 0 ? ops_per_s(dk[k]) / rf[k]->rps : 0.0);
		}
		mix = redis_mix_rps(run);
		table_cellf(t, "%u in flight: %u/%u mix", run->o.window, run->o.read_pct,
		            100 - run->o.read_pct);
		cell_thousands(t, ops_per_s(&q->mix));
		cell_us(t, q->mix.p50_us);
		cell_us(t, q->mix.p99_us);
		cell_thousands(t, mix);
		table_cellf(t, "-");
		table_cellf(t, "-");
		table_cellf(t, "%.2fx", mix > 0 ? ops_per_s(&q->mix) / mix : 0.0);
	}
	snprintf(title, sizeof(title),
	         "dkv at QUORUM beside Redis (Redis's mix figure is its %u-client GET and SET "
	         "rates weighted %u/%u):",
	         run->o.window, run->o.read_pct, 100 - run->o.read_pct);
	return print_table(t, title);
}

/* A row of the targets table. Figures from a phase where operations
 * failed are shown but not judged. */
static void
target_row(struct table *t, const char *measure, const char *value, const char *target,
           const struct measured *const *from, size_t nfrom, bool met)
{
	const char *result = met ? "met" : "MISSED";

	for (size_t i = 0; i < nfrom; i++) {
		if (from[i] == NULL || !from[i]->ran) {
			value = "-";
			result = "not measured";
			break;
		}
		if (from[i]->errors > 0)
			result = "not judged: operations failed";
	}
	table_cellf(t, "%s", measure);
	table_cellf(t, "%s", value);
	table_cellf(t, "%s", target);
	table_cellf(t, "%s", result);
}

static bool
print_ratios(const struct cluster_run *run)
{
	static const char *const headers[] = {"MEASURE", "VALUE", "TARGET", "RESULT"};
	const struct level_report *q = &run->levels[LEVEL_QUORUM];
	const struct measured *f = &run->floor;
	struct measured redis_mix = {.ran = run->redis.state == REDIS_OK};
	struct table *t = table_new(4, "lrll", headers);
	char measure[64], value[96], target[48], num[32];
	double mix = redis_mix_rps(run), ratio;

	if (t == NULL)
		return print_table(t, "");
	for (int k = 0; k < 2; k++) {
		const struct measured *m = k == 0 ? &q->put : &q->get;
		const struct measured *from[] = {m, f};

		ratio = f->p50_us > 0 ? m->p50_us / f->p50_us : 0.0;
		snprintf(measure, sizeof(measure), "QUORUM %s p50 / loopback RTT p50",
		         k == 0 ? "put" : "get");
		snprintf(value, sizeof(value), "%.2fx (%.1f / %.1f us)", ratio, m->p50_us,
		         f->p50_us);
		snprintf(target, sizeof(target), "<= %.1fx", TARGET_P50_RTT_RATIO);
		target_row(t, measure, value, target, from, 2, ratio <= TARGET_P50_RTT_RATIO);
	}
	for (int k = 0; k < 2; k++) {
		const struct measured *m = k == 0 ? &q->put : &q->get;

		snprintf(measure, sizeof(measure), "QUORUM %s p99.9", k == 0 ? "put" : "get");
		snprintf(value, sizeof(value), "%.3f ms", m->p999_us / 1000.0);
		snprintf(target, sizeof(target), "<= %.0f ms", TARGET_P999_MS);
		target_row(t, measure, value, target, &m, 1, m->p999_us / 1000.0 <= TARGET_P999_MS);
	}
	{
		const struct measured *from[] = {&q->mix, &redis_mix};

		snprintf(measure, sizeof(measure), "QUORUM %u/%u mix, %u in flight",
		         run->o.read_pct, 100 - run->o.read_pct, run->o.window);
		snprintf(value, sizeof(value), "%s ops/s",
		         fmt_thousands(num, sizeof(num),
		                       (unsigned long long)(ops_per_s(&q->mix) + 0.5)));
		snprintf(target, sizeof(target), ">= %s ops/s",
		         fmt_thousands(num, sizeof(num), (unsigned long long)TARGET_MIX_OPS));
		target_row(t, measure, value, target, from, 1,
		           ops_per_s(&q->mix) >= TARGET_MIX_OPS);

		ratio = mix > 0 ? ops_per_s(&q->mix) / mix : 0.0;
		snprintf(measure, sizeof(measure), "  / Redis, %u clients, same mix",
		         run->redis.clients[1]);
		snprintf(value, sizeof(value), "%.2fx (of %s ops/s)", ratio,
		         fmt_thousands(num, sizeof(num), (unsigned long long)(mix + 0.5)));
		snprintf(target, sizeof(target), ">= %.1fx", TARGET_REDIS_RATIO);
		target_row(t, measure, value, target, from, 2, ratio >= TARGET_REDIS_RATIO);
	}
	for (int i = 0; i < run->npeers; i++) {
		snprintf(measure, sizeof(measure), "peer %d peak RSS (VmHWM)", i + 1);
		table_cellf(t, "%s", measure);
		table_cellf(t, "%.1f MiB", run->peers[i].hwm_mib);
		table_cellf(t, "bounded");
		table_cellf(t, "reported (after the load: %.1f MiB)", run->peers[i].rss_end_mib);
	}
	return print_table(t, "Ratios and targets (reported, not enforced):");
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
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
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

/* 0, 2 for a usage error (printed), or -1 when --help was shown. */
static int
parse_cluster_args(int argc, char **argv, struct cluster_opts *o)
{
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
		OPT_DIR,
		OPT_KEEP,
		OPT_QUIET
	};
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
	    {"dir", required_argument, NULL, OPT_DIR},
	    {"keep", no_argument, NULL, OPT_KEEP},
	    {"quiet", no_argument, NULL, OPT_QUIET},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c, longindex = 0;
	uint64_t v;
	char *end;

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
	optind = 0; /* GNU: rescan from argv[1] */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", options, &longindex)) != -1) {
		switch (c) {
		case OPT_CLUSTER:
			break;
		case OPT_SEEDS:
			o->seeds = optarg;
			break;
		case OPT_KEYS:
			if (!parse_u64(optarg, 1, UINT32_MAX, &o->keys))
				goto bad_value;
			break;
		case OPT_KEY_SIZE:
			if (!parse_u64(optarg, KEY_HEAD, 1024, &v))
				goto bad_value;
			o->key_size = (size_t)v;
			break;
		case OPT_VALUE_SIZE:
			if (!parse_u64(optarg, 0, 16u << 20, &v))
				goto bad_value;
			o->value_size = (size_t)v;
			break;
		case OPT_WINDOW:
			if (!parse_u64(optarg, 1, 4096, &v))
				goto bad_value;
			o->window = (unsigned)v;
			break;
		case OPT_SECONDS:
			errno = 0;
			o->seconds = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(o->seconds > 0) ||
			    o->seconds > 3600)
				goto bad_value;
			break;
		case OPT_MIX_OPS:
			if (!parse_u64(optarg, 1, UINT64_C(1) << 40, &o->mix_ops))
				goto bad_value;
			break;
		case OPT_READ_PCT:
			if (!parse_u64(optarg, 0, 100, &v))
				goto bad_value;
			o->read_pct = (unsigned)v;
			break;
		case OPT_LEVELS:
			if (!parse_levels(optarg, o->run_level))
				goto bad_value;
			break;
		case OPT_RTT_TRIPS:
			if (!parse_u64(optarg, 1, UINT64_C(1) << 40, &o->rtt_trips))
				goto bad_value;
			break;
		case OPT_REDIS_REQUESTS:
			if (!parse_u64(optarg, 1, UINT64_C(1) << 40, &o->redis_requests))
				goto bad_value;
			break;
		case OPT_NO_REDIS:
			o->redis = false;
			break;
		case OPT_DIR:
			o->dir = optarg;
			break;
		case OPT_KEEP:
			o->keep = true;
			break;
		case OPT_QUIET:
			o->quiet = true;
			break;
		case 'h':
			cluster_usage(stdout);
			return -1;
		case ':':
			fprintf(stderr, "dkv bench: option '%s' needs a value\n", argv[optind - 1]);
			goto usage;
		default:
			if (optopt != 0)
				fprintf(stderr, "dkv bench: unknown option '-%c'\n", optopt);
			else
				fprintf(stderr, "dkv bench: unknown option '%s'\n",
				        argv[optind - 1]);
			goto usage;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dkv bench: unexpected argument '%s'\n", argv[optind]);
		goto usage;
	}
	return 0;

bad_value:
	fprintf(stderr, "dkv bench: bad value '%s' for --%s\n", optarg, options[longindex].name);
usage:
	fprintf(stderr, "Try 'dkv bench --cluster --help'.\n");
	return 2;
}

/* ------------------------------------------------------------------------
 * The run
 */

/* The run's directory, made in --dir, $TMPDIR or /tmp. */
static bool
make_run_dir(struct cluster_run *run)
{
	const char *parent = run->o.dir != NULL ? run->o.dir : getenv("TMPDIR");

	if (parent == NULL || parent[0] == '\0')
		parent = "/tmp";
	if (run->o.dir != NULL && mkdir(parent, 0700) != 0 && errno != EEXIST) {
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

static void
print_header(const struct cluster_run *run)
{
	const struct cluster_opts *o = &run->o;
	char keys[32], mix[64];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (o->mix_ops > 0)
		snprintf(mix, sizeof(mix), "%" PRIu64 " ops", o->mix_ops);
	else
		snprintf(mix, sizeof(mix), "%.3g s", o->seconds);
	printf("dkv bench --cluster: libdkv %s, %ld CPUs (load average %.2f at the start); ",
	       dkv_version(), cpus, run->loadavg);
	if (run->npeers > 0)
		printf("%d storage peers started here (dkv serve, N=3) on loopback", run->npeers);
	else
		printf("joined the cluster at %s (%u storage peers)", run->seeds,
		       run->storage_peers);
	printf(", all up %.1f s after the start\n", run->join_s);
	printf("  %s keys of %zu bytes, %zu-byte values; single caller: each key put then got; "
	       "concurrent: %u in flight, %u/%u get/put for %s per level\n",
	       fmt_thousands(keys, sizeof(keys), o->keys), o->key_size, o->value_size, o->window,
	       o->read_pct, 100 - o->read_pct, mix);
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
	run->values = malloc(run->o.value_size + VALUE_SLACK);
	if (run->values == NULL) {
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
		free(run);
		return 1;
	}
	for (size_t i = 0; i < run->o.value_size + VALUE_SLACK; i++)
		run->values[i] = (uint8_t)('a' + rng_below(&rng, 26));

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
		note(&run->o, "joining the cluster at %s", run->seeds);
	} else if (!start_peers(run, &rng)) {
		run->failed = true;
		goto stop;
	}
	if (open_client(run, &db) != DKV_OK || !wait_for_cluster(run, db)) {
		run->failed = true;
		goto stop;
	}
	formed = true;
	note(&run->o, "the client peer sees %u storage peers up after %.1f s", run->storage_peers,
	     run->join_s);
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
	for (int i = 0; i < run->npeers; i++)
		if (run->peers[i].pid > 0)
			run->peers[i].hwm_mib = proc_status_mib(run->peers[i].pid, "VmHWM");
	if (run->npeers > 0)
		note(&run->o, "stopping the peers (SIGTERM)");
	stop_peers(run);
	for (int i = 0; i < run->npeers; i++) {
		const struct peer_proc *p = &run->peers[i];

		if (p->killed || !WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0) {
			char how[64], log[PATH_MAX + 32];

			describe_status(how, sizeof(how), p->status);
			fprintf(stderr, "dkv bench: peer %d ended with %s\n", i + 1, how);
			snprintf(log, sizeof(log), "%s/peer%d.log", run->dir, i + 1);
			print_log_tail(log);
			run->failed = true;
		}
	}
	/* Without a cluster there is nothing to compare the floor with. */
	if (!formed || stop_requested)
		goto out;

	if (!run_floor(run))
		run->failed = true;
	if (!stop_requested)
		run_redis(run, &rng);

	printed = print_single_caller(run) && print_concurrent(run) && print_floor(run) &&
	          print_redis(run) && print_memory(run) && print_ratios(run);
	if (run->failed)
		printf("\nSome operations failed: see the messages on stderr.\n");

out:
	if (run->dir[0] != '\0') {
		if (run->o.keep || (run->failed && run->npeers > 0 && !stop_requested)) {
			fprintf(stderr, "dkv bench: the peers' data and logs are kept in %s\n",
			        run->dir);
		} else {
			nftw(run->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
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
