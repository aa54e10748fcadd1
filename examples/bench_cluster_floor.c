/*
 * The floor `dkv bench --cluster` compares replication with: the round
 * trip of a message as long as a key and a value between this process
 * and a forked echo server over loopback TCP with TCP_NODELAY. No request
 * across the network can be faster than this on the same machine. The
 * echo server's CPU is counted, once it is reaped, with this process's.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_cluster_run.h"
#include "bench_proc.h"
#include "bench_util.h"

#define FLOOR_WARMUP 1000 /* round trips before the measured ones */

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
	while (bench_io_all(fd, buf, len, BENCH_IO_READ))
		if (!bench_io_all(fd, buf, len, BENCH_IO_SEND))
			return 1;
	close(fd);
	return 0;
}

/* buf to the echo server and back. */
static bool
round_trip(int fd, char *buf, size_t len)
{
	return bench_io_all(fd, buf, len, BENCH_IO_SEND) &&
	       bench_io_all(fd, buf, len, BENCH_IO_READ);
}

bool
run_floor(struct cluster_run *run)
{
	const struct cluster_opts *o = &run->o;
	size_t len = o->key_size + o->value_size;
	struct histogram *h = calloc(1, sizeof(*h));
	char *buf = malloc(len);
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	struct bench_progress prog;
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
	loopback_address(&sa, 0);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 1) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0) {
		fprintf(stderr, "dkv bench: loopback echo server: %s\n", strerror(errno));
		goto done;
	}
	bench_note(o->common.quiet,
	           "floor: %" PRIu64 " TCP round trips of %zu bytes with a forked echo server",
	           o->rtt_trips, len);
	pid = bench_fork();
	if (pid < 0)
		goto done;
	if (pid == 0)
		_exit(echo_serve(lfd, buf, len));
	close(lfd);
	lfd = -1;
	fd = connect_loopback(ntohs(sa.sin_port));
	if (fd < 0) {
		fprintf(stderr, "dkv bench: cannot connect to the echo server: %s\n",
		        strerror(errno));
		kill(pid, SIGTERM);
		wait_child(pid, &status);
		goto done;
	}
	for (int i = 0; i < FLOOR_WARMUP; i++)
		if (!round_trip(fd, buf, len))
			goto echo_failed;
	bench_progress_start(&prog, o->common.quiet, "loopback round trip");
	cpu = rusage_us(RUSAGE_SELF);
	start = t1 = now_ns();
	for (uint64_t i = 0; i < o->rtt_trips && !stop_requested; i++) {
		uint64_t t0 = now_ns();

		if (!round_trip(fd, buf, len))
			goto echo_failed;
		t1 = now_ns();
		hist_add(h, t1 - t0);
		run->floor.ops++;
		bench_progress_update(
		    &prog, (unsigned)((double)(i + 1) / (double)o->rtt_trips * 100.0), t1);
	}
	run->floor.cpu_us = rusage_us(RUSAGE_SELF) - cpu;
	measured_close(&run->floor, h, t1 - start, &prog);
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
