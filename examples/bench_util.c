/*
 * The pieces `dkv bench` (bench.c) and `dkv bench --cluster`
 * (bench_cluster*.c) share: a monotonic clock, a log-linear latency
 * histogram whose size does not grow with a run, opening a handle with
 * the CLI's settings under the bench's own, the pool the values written
 * are cut from, one getopt loop that prints usage errors the same
 * way for both, the progress line on stderr and removing a run's
 * directory.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libdkv/dkv.h>

#include "bench_util.h"

#define PROGRESS_NS 500000000ULL

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
pause_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------
 * Latency histogram
 */

void
hist_add(struct histogram *h, uint64_t ns)
{
	size_t idx;

	if (ns < 2 * HIST_SUB) {
		idx = (size_t)ns;
	} else {
		unsigned shift = (unsigned)(63 - __builtin_clzll(ns)) - HIST_SUB_BITS;

		idx = (size_t)shift * HIST_SUB + (size_t)(ns >> shift);
	}
	h->bucket[idx]++;
	h->count++;
}

double
hist_quantile_us(const struct histogram *h, double q)
{
	uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999), seen = 0;

	if (h->count == 0)
		return 0.0;
	if (rank == 0)
		rank = 1;
	for (size_t idx = 0; idx < HIST_BUCKETS; idx++) {
		seen += h->bucket[idx];
		if (seen < rank)
			continue;
		if (idx < 2 * HIST_SUB)
			return (double)idx / 1000.0;
		unsigned shift = (unsigned)(idx / HIST_SUB) - 1;
		uint64_t low = (uint64_t)(idx - (size_t)shift * HIST_SUB) << shift;
		return ((double)low + (double)((1ULL << shift) - 1) / 2.0) / 1000.0;
	}
	return 0.0;
}

/* ------------------------------------------------------------------------
 * Handles and values
 */

int
bench_open(const struct cli_settings *settings, const char *const *own, dkv_t **out,
           const char *what, ...)
{
	dkv_config_t *cfg;
	char why[PATH_MAX + 64];
	va_list ap;
	int err;

	*out = NULL;
	if ((cfg = dkv_config_new()) == NULL) {
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
		return DKV_ENOMEM;
	}
	if ((err = cli_settings_apply(settings, cfg)) != DKV_OK)
		goto done;
	for (size_t i = 0; own[i] != NULL; i += 2) {
		if ((err = dkv_config_set(cfg, own[i], own[i + 1])) != DKV_OK) {
			fprintf(stderr, "dkv bench: %s\n", dkv_config_error(cfg));
			goto done;
		}
	}
	if ((err = dkv_open(cfg, out)) != DKV_OK) {
		va_start(ap, what);
		vsnprintf(why, sizeof(why), what, ap);
		va_end(ap);
		fprintf(stderr, "dkv bench: cannot %s: %s: %s\n", why, dkv_strerror(err),
		        dkv_config_error(cfg));
	}
done:
	dkv_config_free(cfg);
	return err;
}

uint8_t *
bench_values_new(size_t value_size, struct rng *r)
{
	size_t size = value_size + BENCH_VALUE_SLACK;
	uint8_t *pool = malloc(size);

	if (pool == NULL) {
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
		return NULL;
	}
	for (size_t i = 0; i < size; i++)
		pool[i] = (uint8_t)('a' + rng_below(r, 26));
	return pool;
}

const uint8_t *
bench_value(const uint8_t *pool, uint64_t i)
{
	return pool + (i % BENCH_VALUE_SLACK);
}

/* ------------------------------------------------------------------------
 * Options
 */

bool
bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
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

bool
bench_parse_size(const char *s, size_t min, size_t max, size_t *out)
{
	uint64_t v;

	if (!bench_parse_u64(s, min, max, &v))
		return false;
	*out = (size_t)v;
	return true;
}

int
bench_parse_options(const struct bench_command *cmd, int argc, char **argv, void *ctx,
                    struct bench_common_opts *common)
{
	int c, longindex = 0;

	optind = 0; /* GNU: rescan from argv[1] */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", cmd->options, &longindex)) != -1) {
		switch (c) {
		case BENCH_OPT_DIR:
			common->dir = optarg;
			break;
		case BENCH_OPT_QUIET:
			common->quiet = true;
			break;
		case 'h':
			cmd->usage(stdout);
			return -1;
		case ':':
			fprintf(stderr, "dkv bench: option '%s' needs a value\n", argv[optind - 1]);
			goto usage;
		case '?':
			if (optopt != 0)
				fprintf(stderr, "dkv bench: unknown option '-%c'\n", optopt);
			else
				fprintf(stderr, "dkv bench: unknown option '%s'\n",
				        argv[optind - 1]);
			goto usage;
		default:
			if (!cmd->set(ctx, c, optarg)) {
				fprintf(stderr, "dkv bench: bad value '%s' for --%s\n", optarg,
				        cmd->options[longindex].name);
				goto usage;
			}
			break;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dkv bench: unexpected argument '%s'\n", argv[optind]);
		goto usage;
	}
	return 0;

usage:
	fprintf(stderr, "Try '%s --help'.\n", cmd->name);
	return 2;
}

/* ------------------------------------------------------------------------
 * Progress on stderr
 */

void
bench_note(bool quiet, const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	fputs("dkv bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
bench_progress_start(struct bench_progress *p, bool quiet, const char *label)
{
	p->quiet = quiet;
	p->live = !quiet && isatty(STDERR_FILENO);
	snprintf(p->label, sizeof(p->label), "%s", label);
	p->next_ns = now_ns() + PROGRESS_NS;
}

void
bench_progress_update(struct bench_progress *p, unsigned percent, uint64_t now)
{
	if (!p->live || now < p->next_ns)
		return;
	p->next_ns = now + PROGRESS_NS;
	fprintf(stderr, "\r  %-22s %3u%%", p->label, percent);
	fflush(stderr);
}

void
bench_progress_end(const struct bench_progress *p, const char *fmt, ...)
{
	char figures[160];
	va_list ap;

	if (p->quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(figures, sizeof(figures), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s  %-22s %s\n", p->live ? "\r" : "", p->label, figures);
}

/* ------------------------------------------------------------------------
 * Files
 */

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

void
bench_remove_tree(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
