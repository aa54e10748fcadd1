/*
 * What `dkv bench` and `dkv bench --cluster` both use: the clock, the
 * latency histogram, opening a handle, the values written, option
 * parsing, the progress line on stderr and removing a run's directory
 * (see bench_util.c).
 */
#ifndef DKV_EXAMPLES_BENCH_UTIL_H
#define DKV_EXAMPLES_BENCH_UTIL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <libdkv/dkv.h>

#include "cli_settings.h"
#include "zipf.h"

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);
void pause_ms(unsigned ms);

/* Log-linear latency histogram over nanoseconds: values below 2*HIST_SUB
 * are exact, above that each power of two is cut into HIST_SUB buckets
 * (1.6% wide), so memory does not grow with a run. About 30 KiB: allocate
 * it rather than put it on the stack. */
#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct histogram {
	uint64_t count;
	uint64_t bucket[HIST_BUCKETS];
};

void hist_add(struct histogram *h, uint64_t ns);
/* The latency at quantile q (0..1) in microseconds: the middle of the
 * bucket holding that rank; 0 for an empty histogram. */
double hist_quantile_us(const struct histogram *h, double q);

/* Opens a handle configured by the CLI's settings and then by own, the
 * bench's name, value pairs (NULL-terminated), on top. Failures are
 * printed: a dkv_open failure as "cannot " and then what (a printf
 * format). */
int bench_open(const struct cli_settings *settings, const char *const *own, dkv_t **out,
               const char *what, ...) __attribute__((format(printf, 4, 5)));

/* Values start at varying offsets of a pool of random letters. */
#define BENCH_VALUE_SLACK 64

/* A pool of value_size + BENCH_VALUE_SLACK letters drawn from r; NULL
 * (with a message) when out of memory. free() it. */
uint8_t *bench_values_new(size_t value_size, struct rng *r);
/* The value_size bytes of the i-th value in a pool. */
const uint8_t *bench_value(const uint8_t *pool, uint64_t i);

/* A decimal number in [min, max], digits only, into *out. */
bool bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* The same for a size in bytes. */
bool bench_parse_size(const char *s, size_t min, size_t max, size_t *out);

/* The options every bench takes, whatever else it does. */
struct bench_common_opts {
	const char *dir; /* --dir: where the run's files go */
	bool quiet;      /* --quiet: no progress on stderr */
};

enum { BENCH_OPT_DIR = 0x1000, BENCH_OPT_QUIET };

/* The end of every bench's table of long options: --dir, --quiet, --help. */
/* clang-format off */
#define BENCH_OPTIONS_END                                \
	{"dir", required_argument, NULL, BENCH_OPT_DIR}, \
	{"quiet", no_argument, NULL, BENCH_OPT_QUIET},   \
	{"help", no_argument, NULL, 'h'},                \
	{NULL, 0, NULL, 0}
/* clang-format on */

/* Takes the value of one of a bench's own options (its val in the option
 * table); false when the value is bad. */
typedef bool (*bench_option_fn)(void *ctx, int option, const char *value);

/* A bench's command line. */
struct bench_command {
	const struct option *options; /* ending with BENCH_OPTIONS_END */
	bench_option_fn set;          /* the bench's own options */
	void (*usage)(FILE *out);     /* the text of --help */
	const char *name;             /* "dkv bench": `NAME --help` is the hint on a usage error */
};

/* Runs getopt_long over argv (argv[0] is "bench"): the common options go
 * into common, the others to cmd->set with ctx, and --help prints the
 * usage on stdout. Usage errors are printed. 0, 2 for a usage error, or
 * -1 when --help was shown. */
int bench_parse_options(const struct bench_command *cmd, int argc, char **argv, void *ctx,
                        struct bench_common_opts *common);

/* One line of what the run is doing on stderr, "dkv bench: " first,
 * unless quiet. */
void bench_note(bool quiet, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A phase's line on stderr: rewritten in place with its percentage while
 * it runs when stderr is a terminal, and finished with its figures. */
struct bench_progress {
	bool live;  /* a line on a terminal, rewritten in place */
	bool quiet; /* nothing at all */
	char label[40];
	uint64_t next_ns;
};

void bench_progress_start(struct bench_progress *p, bool quiet, const char *label);
/* Shows percent done, at most twice a second. */
void bench_progress_update(struct bench_progress *p, unsigned percent, uint64_t now);
/* The final line: the label and then fmt. */
void bench_progress_end(const struct bench_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Removes path and everything below it, saying what it could not. */
void bench_remove_tree(const char *path);

#endif
