/*
 * The benches' dealings with other processes: forking and executing
 * children that die with this process, waiting for and stopping them,
 * moving whole buffers through pipes and sockets, picking free loopback
 * ports outside the kernel's ephemeral range, and reading memory and CPU
 * figures from /proc. `dkv bench` forks one child per engine;
 * `dkv bench --cluster` runs `dkv serve` peers, an echo server and Redis.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_proc.h"
#include "bench_util.h"

#define LOG_TAIL_LINES 8

/* ------------------------------------------------------------------------
 * Children
 */

pid_t
bench_fork(void)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		fprintf(stderr, "dkv bench: fork: %s\n", strerror(errno));
	return pid;
}

pid_t
spawn(const char *path, char *const argv[], int out_fd, int err_fd)
{
	pid_t parent = getpid(), pid;

	pid = bench_fork();
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

void
wait_child(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

bool
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

bool
stop_child(pid_t pid, int *status)
{
	kill(pid, SIGTERM);
	if (reap_within(pid, status, STOP_TIMEOUT_MS))
		return true;
	kill(pid, SIGKILL);
	wait_child(pid, status);
	return false;
}

void
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

void
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

bool
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

/* ------------------------------------------------------------------------
 * Pipes and sockets
 */

bool
bench_io_all(int fd, void *buf, size_t len, enum bench_io how)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = how == BENCH_IO_READ    ? read(fd, p, len)
		            : how == BENCH_IO_WRITE ? write(fd, p, len)
		                                    : send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

void
loopback_address(struct sockaddr_in *sa, int port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
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
	loopback_address(&sa, port);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return rc == 0;
}

bool
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

int
connect_loopback(int port)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	loopback_address(&sa, port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* ------------------------------------------------------------------------
 * /proc and getrusage
 */

double
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

double
rusage_us(int who)
{
	struct rusage ru;

	if (getrusage(who, &ru) != 0)
		return 0.0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

double
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
