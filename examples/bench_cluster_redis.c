/*
 * Redis beside dkv in `dkv bench --cluster`, when redis-server and
 * redis-benchmark are on PATH: a redis-server without persistence started
 * on a free loopback port in the run's directory, and redis-benchmark's
 * SET and GET with the bench's value size and key count, at one client
 * and at as many clients as the window, read from its --csv output.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_cluster_run.h"
#include "bench_proc.h"
#include "bench_util.h"

#define REDIS_START_MS 5000 /* for redis-server to accept connections */

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
	bench_note(o->common.quiet,
	           "redis-benchmark -t set,get -d %zu -c %u -n %" PRIu64 " -r %" PRIu64,
	           o->value_size, clients, o->redis_requests, o->keys);
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
	wait_child(pid, &status);
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

void
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
		bench_note(o->common.quiet, "Redis: %s", rr->why);
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
	bench_note(o->common.quiet, "starting %s on 127.0.0.1:%d (no persistence)", server, port);
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
		bench_note(o->common.quiet, "Redis: %s", rr->why);
}

double
redis_mix_rps(const struct cluster_run *run)
{
	const struct redis_report *rr = &run->redis;
	double rf = run->o.read_pct / 100.0;

	if (rr->state != REDIS_OK || rr->get[1].rps <= 0 || rr->set[1].rps <= 0)
		return 0.0;
	return 1.0 / (rf / rr->get[1].rps + (1.0 - rf) / rr->set[1].rps);
}
