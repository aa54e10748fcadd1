/*
 * dkv bench: how much a local libdkv store costs over the LevelDB it is
 * built on.
 *
 * For each key distribution (uniform, YCSB scrambled zipfian) three
 * engines run the same workload: raw LevelDB with the library's options
 * (the baseline), the synchronous API and the asynchronous API with a
 * window of requests in flight. Each does a put phase and then a get phase
 * of --ops operations on keys drawn with the same seeds, so every engine
 * sees the same key sequence and must find the same keys.
 *
 * Each engine runs in a forked child on a fresh directory, so its peak RSS
 * is its own; the child sends its numbers up a pipe and the parent prints
 * the table. Latencies go into a log-linear histogram (1.6% buckets), so
 * memory does not grow with --ops and the RSS reflects the engine only.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <leveldb/c.h>
#include <libdkv/dkv.h>

#include "bench.h"
#include "bench_cluster.h"
#include "bench_proc.h"
#include "bench_util.h"
#include "cli_table.h"
#include "zipf.h"

#define BENCH_WINDOW 64           /* async requests kept in flight */
#define BENCH_ZIPF_THETA 0.99     /* YCSB's default skew */
#define BENCH_BUSY_RETRIES 100000 /* 1 ms apart: EBUSY with nothing of ours in flight */
#define BENCH_DIR_MAX 1024        /* the directory the runs go in */

/* The raw-LevelDB baseline must open LevelDB exactly as the library does;
 * these MUST match lib/store/store_leveldb.c and the defaults in
 * lib/config.c (cache_mb, write_buffer_mb, max_open_files). */
#define BASELINE_CACHE_BYTES (8u << 20)
#define BASELINE_BLOOM_BITS_PER_KEY 10
#define BASELINE_WRITE_BUFFER_BYTES (4u << 20)
#define BASELINE_MAX_OPEN_FILES 1000

enum engine { ENGINE_LEVELDB, ENGINE_DKV_SYNC, ENGINE_DKV_ASYNC, ENGINE_COUNT };
enum dist { DIST_UNIFORM, DIST_ZIPF, DIST_COUNT };
enum phase { PHASE_PUT, PHASE_GET, PHASE_COUNT };

static const char *const engine_names[ENGINE_COUNT] = {"leveldb", "dkv sync", "dkv async"};
static const char *const engine_dirs[ENGINE_COUNT] = {"leveldb", "dkv-sync", "dkv-async"};
static const char *const dist_names[DIST_COUNT] = {"uniform", "zipf"};
static const char *const phase_names[PHASE_COUNT] = {"put", "get"};

struct bench_opts {
	uint64_t ops, keys;
	size_t key_size, value_size;
	bool run_dist[DIST_COUNT];
	struct bench_common_opts common; /* --dir, --quiet */
	bool sync_writes;
	const struct cli_settings *settings;
};

/* What a child measured in one phase. */
struct phase_result {
	uint64_t ops, found;
	double seconds, p50_us, p99_us;
};

/* What a child sends up its pipe. Parent and child are the same program,
 * so the struct's bytes are its encoding. */
struct engine_report {
	struct phase_result phase[PHASE_COUNT];
	double peak_rss_mib;
	int ok;
};

/* The workload one child runs: the key distribution and value bytes. */
struct workload {
	const struct bench_opts *opts;
	const struct zipf *zipf; /* NULL: uniform */
	const char *label;       /* "uniform dkv sync" */
	uint64_t seed[PHASE_COUNT];
	uint8_t *values; /* from bench_values_new */
};

/* A synchronous engine: the baseline or dkv_put/dkv_get. */
struct sync_engine {
	void *handle;
	int (*put)(void *handle, const void *key, size_t klen, const void *val, size_t vlen);
	/* DKV_OK when found, DKV_ENOTFOUND, or an error */
	int (*get)(void *handle, const void *key, size_t klen);
};

struct leveldb_handle {
	leveldb_t *db;
	leveldb_options_t *options;
	leveldb_cache_t *cache;
	leveldb_filterpolicy_t *filter;
	leveldb_readoptions_t *ropts;
	leveldb_writeoptions_t *wopts;
};

struct async_phase;

struct async_slot {
	struct async_phase *phase;
	uint64_t start_ns;
};

/* The window of an async phase; the callbacks (on the library's I/O
 * thread) and the submitting thread share it under mu. */
struct async_phase {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct async_slot slots[BENCH_WINDOW];
	struct async_slot *free_slots[BENCH_WINDOW];
	size_t nfree;
	uint64_t completed, found;
	int first_error;
	struct histogram hist;
};

/* ------------------------------------------------------------------------
 * Keys, values and progress
 */

/* key_size bytes of hex from the index: the first 16 are mix64(index), a
 * bijection, so keys are distinct and share no prefix. */
static void
key_format(char *key, size_t size, uint64_t index)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t at = 0; at < size; at += 16) {
		uint64_t h = mix64(index + at * 0x9e3779b97f4a7c15ULL);

		for (size_t j = 0; j < 16 && at + j < size; j++, h >>= 4)
			key[at + j] = hex[h & 15];
	}
}

static uint64_t
key_next(const struct workload *w, struct rng *r)
{
	return w->zipf != NULL ? zipf_scrambled(w->zipf, r) : rng_below(r, w->opts->keys);
}

static void
progress_start(struct bench_progress *p, const struct workload *w, enum phase phase)
{
	char label[40];

	snprintf(label, sizeof(label), "%-18s %s", w->label, phase_names[phase]);
	bench_progress_start(p, w->opts->common.quiet, label);
}

static void
progress_update(struct bench_progress *p, const struct workload *w, uint64_t done, uint64_t now)
{
	bench_progress_update(p, (unsigned)(done * 100 / w->opts->ops), now);
}

/* Says why a phase failed, below any progress line. */
static void
progress_fail(const struct bench_progress *p, const struct workload *w, enum phase phase, int err)
{
	fprintf(stderr, "%sdkv bench: %s %s: %s\n", p->live ? "\n" : "", w->label,
	        phase_names[phase], dkv_strerror(err));
}

static void
progress_end(const struct bench_progress *p, const struct phase_result *r)
{
	char rate[32];

	fmt_thousands(rate, sizeof(rate),
	              (unsigned long long)((double)r->ops / (r->seconds > 0 ? r->seconds : 1e-9)));
	bench_progress_end(p, "done, %s ops/s", rate);
}

/* ------------------------------------------------------------------------
 * The engines
 */

static int
leveldb_put_op(void *handle, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct leveldb_handle *l = handle;
	char *errptr = NULL;

	leveldb_put(l->db, l->wopts, key, klen, val, vlen, &errptr);
	if (errptr != NULL) {
		fprintf(stderr, "dkv bench: leveldb put: %s\n", errptr);
		leveldb_free(errptr);
		return DKV_EIO;
	}
	return DKV_OK;
}

static int
leveldb_get_op(void *handle, const void *key, size_t klen)
{
	struct leveldb_handle *l = handle;
	char *errptr = NULL, *val;
	size_t vlen;

	val = leveldb_get(l->db, l->ropts, key, klen, &vlen, &errptr);
	if (errptr != NULL) {
		fprintf(stderr, "dkv bench: leveldb get: %s\n", errptr);
		leveldb_free(errptr);
		leveldb_free(val);
		return DKV_EIO;
	}
	if (val == NULL)
		return DKV_ENOTFOUND;
	leveldb_free(val);
	return DKV_OK;
}

static void
leveldb_handle_close(struct leveldb_handle *l)
{
	if (l->db != NULL)
		leveldb_close(l->db);
	if (l->options != NULL)
		leveldb_options_destroy(l->options);
	if (l->filter != NULL)
		leveldb_filterpolicy_destroy(l->filter);
	if (l->cache != NULL)
		leveldb_cache_destroy(l->cache);
	if (l->ropts != NULL)
		leveldb_readoptions_destroy(l->ropts);
	if (l->wopts != NULL)
		leveldb_writeoptions_destroy(l->wopts);
	memset(l, 0, sizeof(*l));
}

static int
leveldb_handle_open(struct leveldb_handle *l, const char *dir, bool sync_writes)
{
	char *errptr = NULL;

	memset(l, 0, sizeof(*l));
	l->options = leveldb_options_create();
	l->cache = leveldb_cache_create_lru(BASELINE_CACHE_BYTES);
	l->filter = leveldb_filterpolicy_create_bloom(BASELINE_BLOOM_BITS_PER_KEY);
	l->ropts = leveldb_readoptions_create();
	l->wopts = leveldb_writeoptions_create();
	if (l->options == NULL || l->cache == NULL || l->filter == NULL || l->ropts == NULL ||
	    l->wopts == NULL)
		goto fail;
	leveldb_options_set_create_if_missing(l->options, 1);
	leveldb_options_set_cache(l->options, l->cache);
	leveldb_options_set_filter_policy(l->options, l->filter);
	leveldb_options_set_write_buffer_size(l->options, BASELINE_WRITE_BUFFER_BYTES);
	leveldb_options_set_max_open_files(l->options, BASELINE_MAX_OPEN_FILES);
	leveldb_options_set_compression(l->options, leveldb_no_compression);
	leveldb_readoptions_set_verify_checksums(l->ropts, 0);
	leveldb_writeoptions_set_sync(l->wopts, sync_writes);
	l->db = leveldb_open(l->options, dir, &errptr);
	if (errptr != NULL) {
		fprintf(stderr, "dkv bench: cannot open LevelDB in %s: %s\n", dir, errptr);
		leveldb_free(errptr);
		goto fail;
	}
	return DKV_OK;

fail:
	leveldb_handle_close(l);
	return DKV_EIO;
}

static int
dkv_put_op(void *handle, const void *key, size_t klen, const void *val, size_t vlen)
{
	return dkv_put(handle, key, klen, val, vlen, NULL, NULL);
}

static int
dkv_get_op(void *handle, const void *key, size_t klen)
{
	dkv_result_t *res;
	int err;

	err = dkv_get(handle, key, klen, &res, NULL);
	dkv_result_free(res);
	return err;
}

static int
dkv_handle_open(const struct bench_opts *opts, const char *dir, dkv_t **out)
{
	const char *const own[] = {"data_dir", dir, "sync_writes", opts->sync_writes ? "1" : "0",
	                           NULL};

	return bench_open(opts->settings, own, out, "open a store in %s", dir);
}

/* ------------------------------------------------------------------------
 * Phases
 */

static int
run_sync_phase(const struct sync_engine *e, const struct workload *w, enum phase phase,
               struct phase_result *out)
{
	const struct bench_opts *o = w->opts;
	struct histogram *hist;
	struct bench_progress prog;
	char key[1024];
	struct rng rng;
	uint64_t start, t0, t1 = 0;
	int err = DKV_OK;

	hist = calloc(1, sizeof(*hist));
	if (hist == NULL)
		return DKV_ENOMEM;
	rng_seed(&rng, w->seed[phase]);
	memset(out, 0, sizeof(*out));
	progress_start(&prog, w, phase);
	start = now_ns();
	for (uint64_t i = 0; i < o->ops; i++) {
		key_format(key, o->key_size, key_next(w, &rng));
		t0 = now_ns();
		if (phase == PHASE_PUT)
			err = e->put(e->handle, key, o->key_size, bench_value(w->values, i),
			             o->value_size);
		else
			err = e->get(e->handle, key, o->key_size);
		t1 = now_ns();
		hist_add(hist, t1 - t0);
		if (err == DKV_OK) {
			out->found++;
		} else if (err != DKV_ENOTFOUND || phase == PHASE_PUT) {
			progress_fail(&prog, w, phase, err);
			goto done;
		}
		progress_update(&prog, w, i + 1, t1);
	}
	err = DKV_OK;
	out->ops = o->ops;
	out->seconds = (double)(t1 - start) / 1e9;
	out->p50_us = hist_quantile_us(hist, 0.50);
	out->p99_us = hist_quantile_us(hist, 0.99);
	progress_end(&prog, out);
done:
	free(hist);
	return err;
}

/* A request finished: its latency counts and its slot is free again. */
static void
async_finish(struct async_slot *slot, int err, bool found)
{
	struct async_phase *ph = slot->phase;
	uint64_t end = now_ns();

	pthread_mutex_lock(&ph->mu);
	hist_add(&ph->hist, end - slot->start_ns);
	if (found)
		ph->found++;
	else if (err != DKV_OK && err != DKV_ENOTFOUND && ph->first_error == DKV_OK)
		ph->first_error = err;
	ph->free_slots[ph->nfree++] = slot;
	ph->completed++;
	pthread_cond_signal(&ph->cv);
	pthread_mutex_unlock(&ph->mu);
}

static void
async_put_done(int err, void *arg)
{
	/* A put has nothing to find; count it as "found" only to tally it. */
	async_finish(arg, err, err == DKV_OK);
}

static void
async_get_done(int err, dkv_result_t *res, void *arg)
{
	dkv_result_free(res); /* the callback owns it */
	async_finish(arg, err, err == DKV_OK);
}

static int
async_submit(dkv_t *db, const struct workload *w, enum phase phase, const char *key, uint64_t op,
             struct async_slot *slot)
{
	const struct bench_opts *o = w->opts;

	slot->start_ns = now_ns(); /* before submitting: the callback may run at once */
	if (phase == PHASE_PUT)
		return dkv_put_async(db, key, o->key_size, bench_value(w->values, op),
		                     o->value_size, NULL, NULL, async_put_done, slot);
	return dkv_get_async(db, key, o->key_size, NULL, async_get_done, slot);
}

/* Submits, retrying while the library's queue is full (DKV_EBUSY): each
 * retry waits for one of our requests to finish, or 1 ms if none is out. */
static int
async_submit_retrying(dkv_t *db, const struct workload *w, enum phase phase, const char *key,
                      uint64_t op, struct async_slot *slot)
{
	struct async_phase *ph = slot->phase;
	int err;

	for (unsigned tries = 0; tries < BENCH_BUSY_RETRIES; tries++) {
		err = async_submit(db, w, phase, key, op, slot);
		if (err != DKV_EBUSY)
			return err;
		pthread_mutex_lock(&ph->mu);
		if (ph->nfree + 1 < BENCH_WINDOW) {
			uint64_t seen = ph->completed;

			while (ph->completed == seen)
				pthread_cond_wait(&ph->cv, &ph->mu);
			pthread_mutex_unlock(&ph->mu);
		} else {
			pthread_mutex_unlock(&ph->mu);
			pause_ms(1);
		}
	}
	return DKV_EBUSY;
}

static int
run_async_phase(dkv_t *db, const struct workload *w, enum phase phase, struct phase_result *out)
{
	const struct bench_opts *o = w->opts;
	struct async_phase *ph;
	struct bench_progress prog;
	char key[1024];
	struct rng rng;
	uint64_t start, end, submitted = 0;
	int err = DKV_OK;

	ph = calloc(1, sizeof(*ph));
	if (ph == NULL)
		return DKV_ENOMEM;
	pthread_mutex_init(&ph->mu, NULL);
	pthread_cond_init(&ph->cv, NULL);
	for (size_t i = 0; i < BENCH_WINDOW; i++) {
		ph->slots[i].phase = ph;
		ph->free_slots[i] = &ph->slots[i];
	}
	ph->nfree = BENCH_WINDOW;
	rng_seed(&rng, w->seed[phase]);
	memset(out, 0, sizeof(*out));
	progress_start(&prog, w, phase);
	start = now_ns();
	for (; submitted < o->ops; submitted++) {
		struct async_slot *slot;
		uint64_t completed;

		key_format(key, o->key_size, key_next(w, &rng));
		pthread_mutex_lock(&ph->mu);
		while (ph->nfree == 0)
			pthread_cond_wait(&ph->cv, &ph->mu);
		slot = ph->free_slots[--ph->nfree];
		err = ph->first_error;
		completed = ph->completed;
		pthread_mutex_unlock(&ph->mu);
		if (err == DKV_OK)
			err = async_submit_retrying(db, w, phase, key, submitted, slot);
		if (err != DKV_OK) {
			pthread_mutex_lock(&ph->mu);
			ph->free_slots[ph->nfree++] = slot;
			pthread_mutex_unlock(&ph->mu);
			break;
		}
		progress_update(&prog, w, completed, slot->start_ns);
	}
	/* Wait for everything out to come back, failed or not. */
	pthread_mutex_lock(&ph->mu);
	while (ph->nfree < BENCH_WINDOW)
		pthread_cond_wait(&ph->cv, &ph->mu);
	if (err == DKV_OK)
		err = ph->first_error;
	pthread_mutex_unlock(&ph->mu);
	end = now_ns();
	if (err != DKV_OK) {
		progress_fail(&prog, w, phase, err);
		goto done;
	}
	out->ops = o->ops;
	out->found = ph->found;
	out->seconds = (double)(end - start) / 1e9;
	out->p50_us = hist_quantile_us(&ph->hist, 0.50);
	out->p99_us = hist_quantile_us(&ph->hist, 0.99);
	progress_end(&prog, out);
done:
	pthread_cond_destroy(&ph->cv);
	pthread_mutex_destroy(&ph->mu);
	free(ph);
	return err;
}

/* ------------------------------------------------------------------------
 * The child: one engine, put phase then get phase
 */

/* Forgets the peak RSS inherited from the parent (Linux >= 4.0), so the
 * child's VmHWM is its own. Harmless where unsupported. */
static void
peak_rss_reset(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	if (f == NULL)
		return;
	fputs("5", f);
	fclose(f);
}

/* This process's VmHWM, or its ru_maxrss where /proc has none. */
static double
peak_rss_mib(void)
{
	struct rusage ru;
	double mib = proc_status_mib(0, "VmHWM");

	if (mib <= 0 && getrusage(RUSAGE_SELF, &ru) == 0)
		mib = (double)ru.ru_maxrss / 1024.0;
	return mib > 0 ? mib : 0.0;
}

static int
run_engine(struct workload *w, enum engine engine, const char *dir, struct engine_report *rep)
{
	struct leveldb_handle ldb;
	struct sync_engine se;
	dkv_t *db = NULL;
	int err;

	switch (engine) {
	case ENGINE_LEVELDB:
		if ((err = leveldb_handle_open(&ldb, dir, w->opts->sync_writes)) != DKV_OK)
			return err;
		se = (struct sync_engine){&ldb, leveldb_put_op, leveldb_get_op};
		if ((err = run_sync_phase(&se, w, PHASE_PUT, &rep->phase[PHASE_PUT])) == DKV_OK)
			err = run_sync_phase(&se, w, PHASE_GET, &rep->phase[PHASE_GET]);
		leveldb_handle_close(&ldb);
		return err;
	case ENGINE_DKV_SYNC:
		if ((err = dkv_handle_open(w->opts, dir, &db)) != DKV_OK)
			return err;
		se = (struct sync_engine){db, dkv_put_op, dkv_get_op};
		if ((err = run_sync_phase(&se, w, PHASE_PUT, &rep->phase[PHASE_PUT])) == DKV_OK)
			err = run_sync_phase(&se, w, PHASE_GET, &rep->phase[PHASE_GET]);
		dkv_close(db);
		return err;
	case ENGINE_DKV_ASYNC:
		if ((err = dkv_handle_open(w->opts, dir, &db)) != DKV_OK)
			return err;
		if ((err = run_async_phase(db, w, PHASE_PUT, &rep->phase[PHASE_PUT])) == DKV_OK)
			err = run_async_phase(db, w, PHASE_GET, &rep->phase[PHASE_GET]);
		dkv_close(db);
		return err;
	default:
		return DKV_EINVAL;
	}
}

/* The body of a forked child: runs the engine and reports up fd. Returns
 * the child's exit status. */
static int
child_main(const struct bench_opts *opts, const struct zipf *zipf, enum dist dist,
           enum engine engine, const char *dir, int fd)
{
	struct engine_report rep;
	struct workload w;
	char label[64];
	struct rng rng;
	int err;

	peak_rss_reset();
	memset(&rep, 0, sizeof(rep));
	snprintf(label, sizeof(label), "%-7s %s", dist_names[dist], engine_names[engine]);
	w.opts = opts;
	w.zipf = dist == DIST_ZIPF ? zipf : NULL;
	w.label = label;
	w.seed[PHASE_PUT] = 0x70757473ULL + dist; /* same seeds for every engine */
	w.seed[PHASE_GET] = 0x67657473ULL + dist;
	rng_seed(&rng, 0x76616c73ULL);
	w.values = bench_values_new(opts->value_size, &rng);
	if (w.values == NULL)
		return 1;

	err = run_engine(&w, engine, dir, &rep);
	free(w.values);
	rep.ok = err == DKV_OK;
	rep.peak_rss_mib = peak_rss_mib();
	if (!bench_io_all(fd, &rep, sizeof(rep), BENCH_IO_WRITE))
		return 1;
	return rep.ok ? 0 : 1;
}

/* ------------------------------------------------------------------------
 * The parent
 */

/* Forks a child to run engine on dist in a fresh subdirectory of dir;
 * false (with a message) when it could not run or failed. */
static bool
run_child(const struct bench_opts *opts, const struct zipf *zipf, enum dist dist,
          enum engine engine, const char *dir, struct engine_report *rep)
{
	char path[BENCH_DIR_MAX + 64];
	int fds[2], status = 0;
	bool got;
	pid_t pid;

	memset(rep, 0, sizeof(*rep));
	snprintf(path, sizeof(path), "%s/%s-%s", dir, dist_names[dist], engine_dirs[engine]);
	if (mkdir(path, 0700) != 0) {
		fprintf(stderr, "dkv bench: cannot create %s: %s\n", path, strerror(errno));
		return false;
	}
	if (pipe(fds) != 0) {
		fprintf(stderr, "dkv bench: pipe: %s\n", strerror(errno));
		goto fail_dir;
	}
	pid = bench_fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		goto fail_dir;
	}
	if (pid == 0) {
		int code;

		close(fds[0]);
		code = child_main(opts, zipf, dist, engine, path, fds[1]);
		close(fds[1]);
		exit(code);
	}
	close(fds[1]);
	got = bench_io_all(fds[0], rep, sizeof(*rep), BENCH_IO_READ);
	close(fds[0]);
	wait_child(pid, &status);
	bench_remove_tree(path);
	if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || !rep->ok) {
		if (WIFSIGNALED(status))
			fprintf(stderr, "dkv bench: %s %s: killed by signal %d\n", dist_names[dist],
			        engine_names[engine], WTERMSIG(status));
		rep->ok = 0;
		return false;
	}
	return true;

fail_dir:
	bench_remove_tree(path);
	return false;
}

static double
ops_per_s(const struct phase_result *r)
{
	return r->seconds > 0 ? (double)r->ops / r->seconds : 0.0;
}

static double
ratio_to_baseline(const struct engine_report *reps, enum engine engine, enum phase phase)
{
	double base = ops_per_s(&reps[ENGINE_LEVELDB].phase[phase]);

	if (!reps[ENGINE_LEVELDB].ok || !reps[engine].ok || base <= 0)
		return 0.0;
	return ops_per_s(&reps[engine].phase[phase]) / base;
}

static void
table_add_rows(struct table *t, enum dist dist, const struct engine_report *reps)
{
	char num[32];

	for (int e = 0; e < ENGINE_COUNT; e++) {
		for (int p = 0; p < PHASE_COUNT; p++) {
			const struct phase_result *r = &reps[e].phase[p];

			table_cellf(t, "%s", dist_names[dist]);
			table_cellf(t, "%s", engine_names[e]);
			table_cellf(t, "%s", phase_names[p]);
			if (!reps[e].ok) {
				table_cellf(t, "failed");
				for (int i = 0; i < 5; i++)
					table_cellf(t, "-");
				continue;
			}
			table_cellf(
			    t, "%s",
			    fmt_thousands(num, sizeof(num), (unsigned long long)ops_per_s(r)));
			table_cellf(t, "%.1f", r->p50_us);
			table_cellf(t, "%.1f", r->p99_us);
			if (e == ENGINE_LEVELDB || !reps[ENGINE_LEVELDB].ok)
				table_cellf(t, "-");
			else
				table_cellf(t, "%.2fx",
				            ratio_to_baseline(reps, (enum engine)e, (enum phase)p));
			if (p == PHASE_GET)
				table_cellf(t, "%.1f%%", 100.0 * (double)r->found / (double)r->ops);
			else
				table_cellf(t, "-");
			table_cellf(t, "%.1f", reps[e].peak_rss_mib);
		}
	}
}

/* Every engine ran the same gets on the same puts: they must agree. */
static bool
check_found_agrees(enum dist dist, const struct engine_report *reps)
{
	const struct engine_report *base = &reps[ENGINE_LEVELDB];
	bool agree = true;

	for (int e = ENGINE_DKV_SYNC; e < ENGINE_COUNT; e++) {
		if (!base->ok || !reps[e].ok)
			continue;
		if (reps[e].phase[PHASE_GET].found != base->phase[PHASE_GET].found) {
			fprintf(stderr,
			        "dkv bench: %s: %s found %" PRIu64 " keys, leveldb found %" PRIu64
			        " in the same gets\n",
			        dist_names[dist], engine_names[e], reps[e].phase[PHASE_GET].found,
			        base->phase[PHASE_GET].found);
			agree = false;
		}
	}
	return agree;
}

static void
print_targets(const struct bench_opts *o, const struct engine_report (*reps)[ENGINE_COUNT])
{
	const double put_target = 0.6, get_target = 0.8;

	printf("\ntargets: dkv sync put >= %.1fx and get >= %.1fx of raw LevelDB\n", put_target,
	       get_target);
	for (int d = 0; d < DIST_COUNT; d++) {
		double put, get;

		if (!o->run_dist[d])
			continue;
		if (!reps[d][ENGINE_LEVELDB].ok || !reps[d][ENGINE_DKV_SYNC].ok) {
			printf("  %-8s not measured (a run failed)\n", dist_names[d]);
			continue;
		}
		put = ratio_to_baseline(reps[d], ENGINE_DKV_SYNC, PHASE_PUT);
		get = ratio_to_baseline(reps[d], ENGINE_DKV_SYNC, PHASE_GET);
		printf("  %-8s put %.2fx %-6s get %.2fx %s\n", dist_names[d], put,
		       put >= put_target ? "met" : "MISSED", get,
		       get >= get_target ? "met" : "MISSED");
	}
}

static void
bench_usage(FILE *out)
{
	fputs("usage: dkv bench [OPTIONS]\n"
	      "\n"
	      "Measures libdkv against raw LevelDB opened with the library's options. For\n"
	      "each distribution three engines run, each in its own child process on a fresh\n"
	      "directory: leveldb (the baseline), dkv sync (dkv_put/dkv_get) and dkv async\n"
	      "(dkv_put_async/dkv_get_async, 64 requests in flight). Each does a put phase,\n"
	      "then a get phase, of N operations on keys drawn from the distribution.\n"
	      "\n"
	      "Options:\n"
	      "  --ops N             operations per phase (default 200000)\n"
	      "  --keys K            distinct keys (default N)\n"
	      "  --key-size B        key bytes (default 16)\n"
	      "  --value-size B      value bytes (default 100)\n"
	      "  --dist D            uniform, zipf (YCSB scrambled, theta 0.99) or both (default)\n"
	      "  --dir DIR           where the stores go (default: a new directory in $TMPDIR\n"
	      "                      or /tmp, removed afterwards); each run's store is removed\n"
	      "  --sync-writes 0|1   fsync each write, in both LevelDB and dkv (default 0)\n"
	      "  --quiet             no progress on stderr\n"
	      "  --cluster           measure replication across 3 peers on loopback instead\n"
	      "                      (its own options: dkv bench --cluster --help)\n"
	      "  -h, --help          show this help\n"
	      "\n"
	      "The global -c and --set settings apply to the dkv stores only; data_dir and\n"
	      "sync_writes are the benchmark's. Latencies are per operation (submit to\n"
	      "callback for async) in microseconds; peak RSS is each child's VmHWM.\n",
	      out);
}

enum {
	OPT_OPS = 256,
	OPT_KEYS,
	OPT_KEY_SIZE,
	OPT_VALUE_SIZE,
	OPT_DIST,
	OPT_SYNC,
};

static bool
set_bench_option(void *ctx, int option, const char *value)
{
	struct bench_opts *o = ctx;

	switch (option) {
	case OPT_OPS:
		return bench_parse_u64(value, 1, UINT64_C(1) << 40, &o->ops);
	case OPT_KEYS:
		return bench_parse_u64(value, 1, UINT64_C(1) << 40, &o->keys);
	case OPT_KEY_SIZE:
		return bench_parse_size(value, 1, 1024, &o->key_size);
	case OPT_VALUE_SIZE:
		return bench_parse_size(value, 0, 64u << 20, &o->value_size);
	case OPT_DIST:
		if (strcmp(value, "both") != 0 && strcmp(value, "uniform") != 0 &&
		    strcmp(value, "zipf") != 0)
			return false;
		o->run_dist[DIST_UNIFORM] = strcmp(value, "zipf") != 0;
		o->run_dist[DIST_ZIPF] = strcmp(value, "uniform") != 0;
		return true;
	case OPT_SYNC:
		if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0)
			return false;
		o->sync_writes = value[0] == '1';
		return true;
	default:
		return false;
	}
}

/* Parses the bench's options into o; 0, or 2 for a usage error (printed),
 * or -1 when --help was shown. */
static int
parse_bench_args(int argc, char **argv, struct bench_opts *o)
{
	static const struct option options[] = {
	    {"ops", required_argument, NULL, OPT_OPS},
	    {"keys", required_argument, NULL, OPT_KEYS},
	    {"key-size", required_argument, NULL, OPT_KEY_SIZE},
	    {"value-size", required_argument, NULL, OPT_VALUE_SIZE},
	    {"dist", required_argument, NULL, OPT_DIST},
	    {"sync-writes", required_argument, NULL, OPT_SYNC},
	    BENCH_OPTIONS_END,
	};
	static const struct bench_command command = {options, set_bench_option, bench_usage,
	                                             "dkv bench"};
	int code;

	o->ops = 200000;
	o->keys = 0; /* = ops */
	o->key_size = 16;
	o->value_size = 100;
	o->run_dist[DIST_UNIFORM] = o->run_dist[DIST_ZIPF] = true;
	code = bench_parse_options(&command, argc, argv, o, &o->common);
	if (code == 0 && o->keys == 0)
		o->keys = o->ops;
	return code;
}

/* The directory the runs go in: --dir (created if missing) or a new
 * temporary one, which *made says to remove afterwards. */
static int
bench_dir(const struct bench_opts *o, char *buf, size_t size, bool *made)
{
	const char *tmp = getenv("TMPDIR");

	*made = false;
	if (o->common.dir != NULL) {
		if (mkdir(o->common.dir, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "dkv bench: cannot create %s: %s\n", o->common.dir,
			        strerror(errno));
			return -1;
		}
		if ((size_t)snprintf(buf, size, "%s", o->common.dir) >= size) {
			fprintf(stderr, "dkv bench: %s: path too long\n", o->common.dir);
			return -1;
		}
		return 0;
	}
	snprintf(buf, size, "%s/dkv-bench-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(buf) == NULL) {
		fprintf(stderr, "dkv bench: cannot create %s: %s\n", buf, strerror(errno));
		return -1;
	}
	*made = true;
	return 0;
}

int
bench_main(int argc, char **argv, const struct cli_settings *settings)
{
	static const char *const headers[] = {"DIST",       "ENGINE", "PHASE",
	                                      "OPS/S",      "P50 US", "P99 US",
	                                      "VS LEVELDB", "FOUND",  "PEAK RSS MiB"};
	struct engine_report reps[DIST_COUNT][ENGINE_COUNT];
	struct cli_settings dkv_settings = *settings;
	struct bench_opts o;
	struct zipf zipf;
	struct table *t = NULL;
	char dir[BENCH_DIR_MAX], num[2][32];
	bool made_dir, ok = true;
	dkv_config_t *cfg;
	int code;

	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--cluster") == 0)
			return bench_cluster_main(argc, argv, settings);
	memset(&o, 0, sizeof(o));
	memset(&zipf, 0, sizeof(zipf));
	memset(reps, 0, sizeof(reps));
	if ((code = parse_bench_args(argc, argv, &o)) != 0)
		return code < 0 ? 0 : code;
	dkv_settings.data_dir = NULL; /* every run has its own */
	o.settings = &dkv_settings;

	/* Check the settings once here rather than in every child. */
	if ((cfg = dkv_config_new()) == NULL)
		return 1;
	code = cli_settings_apply(o.settings, cfg);
	dkv_config_free(cfg);
	if (code != DKV_OK)
		return 1;

	if (bench_dir(&o, dir, sizeof(dir), &made_dir) != 0)
		return 1;
	if (o.run_dist[DIST_ZIPF])
		zipf_init(&zipf, o.keys, BENCH_ZIPF_THETA);
	printf("dkv bench: libdkv %s, %s ops per phase over %s keys, %zu-byte keys, "
	       "%zu-byte values, sync_writes %d\n",
	       dkv_version(), fmt_thousands(num[0], sizeof(num[0]), o.ops),
	       fmt_thousands(num[1], sizeof(num[1]), o.keys), o.key_size, o.value_size,
	       o.sync_writes);
	for (int d = 0; d < DIST_COUNT; d++) {
		if (!o.run_dist[d])
			continue;
		for (int e = 0; e < ENGINE_COUNT; e++)
			ok &= run_child(&o, &zipf, (enum dist)d, (enum engine)e, dir, &reps[d][e]);
		ok &= check_found_agrees((enum dist)d, reps[d]);
	}
	if (made_dir)
		bench_remove_tree(dir);

	t = table_new(9, "lllrrrrrr", headers);
	if (t == NULL) {
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
		return 1;
	}
	for (int d = 0; d < DIST_COUNT; d++)
		if (o.run_dist[d])
			table_add_rows(t, (enum dist)d, reps[d]);
	putchar('\n');
	if (table_print(t, stdout, 0) != 0) {
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
		ok = false;
	}
	table_free(t);
	print_targets(&o, reps);
	if (fflush(stdout) != 0)
		ok = false;
	return ok ? 0 : 1;
}
