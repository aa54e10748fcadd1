/*
 * Child processes, file descriptors, loopback ports and /proc for the
 * benches (see bench_proc.c).
 */
#ifndef DKV_EXAMPLES_BENCH_PROC_H
#define DKV_EXAMPLES_BENCH_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <sys/types.h>

#include "zipf.h"

#define STOP_TIMEOUT_MS 15000 /* for a child to exit after SIGTERM */

/* fork() with stdout and stderr flushed first, so that nothing buffered
 * is written twice; -1 (with a message) if it failed. */
pid_t bench_fork(void);

/* Forks and executes path with argv, stdin from /dev/null and stdout and
 * stderr on out_fd and err_fd (kept when negative). The child is sent
 * SIGTERM should this process die. -1 (with a message) if fork failed. */
pid_t spawn(const char *path, char *const argv[], int out_fd, int err_fd);

/* waitpid until pid has exited, through EINTR. */
void wait_child(pid_t pid, int *status);
/* Waits up to timeout_ms for pid to exit; true with *status if it did. */
bool reap_within(pid_t pid, int *status, unsigned timeout_ms);
/* SIGTERM, then SIGKILL if it has not exited after STOP_TIMEOUT_MS.
 * Returns whether it stopped on SIGTERM. */
bool stop_child(pid_t pid, int *status);
/* "exit 0", "signal 9 (Killed)" for a waitpid status. */
void describe_status(char *buf, size_t size, int status);

/* The last lines of a log, indented, on stderr. */
void print_log_tail(const char *path);
/* An executable called name in $PATH, into out. */
bool find_in_path(const char *name, char *out, size_t size);

enum bench_io {
	BENCH_IO_READ,  /* read(2) */
	BENCH_IO_WRITE, /* write(2) */
	BENCH_IO_SEND,  /* send(2) on a socket, with no SIGPIPE */
};

/* Moves exactly len bytes through fd (into buf when reading), across
 * short transfers and EINTR; false on EOF or error. */
bool bench_io_all(int fd, void *buf, size_t len, enum bench_io how);

/* n distinct free ports on 127.0.0.1 from random places in the range
 * left over by the kernel's ephemeral ports. */
bool pick_ports(struct rng *r, int n, int *out);
/* 127.0.0.1:port (0: any port) into *sa. */
void loopback_address(struct sockaddr_in *sa, int port);
/* A TCP connection to 127.0.0.1:port with TCP_NODELAY; -1 on failure. */
int connect_loopback(int port);

/* A "kB" field of /proc/PID/status (VmHWM, VmRSS) in MiB; pid 0 is this
 * process. -1 when it cannot be read. */
double proc_status_mib(pid_t pid, const char *field);
/* User + system CPU of getrusage(who) in microseconds. */
double rusage_us(int who);
/* User + system CPU of a live process in microseconds (clock-tick
 * resolution, 10 ms at most); 0 when it cannot be read. */
double proc_cpu_us(pid_t pid);

#endif
