/*
 * The workload of `dkv bench --cluster`, through the client peer. A
 * warm-up at ALL, then a preload of the mix's keys with a window of
 * asynchronous puts, and for each level: one caller doing synchronous
 * puts of --keys new keys and gets of each (which must return exactly the
 * bytes put), then --window asynchronous operations kept in flight on the
 * get/put mix over the preloaded keys. Each phase keeps its latencies in
 * a histogram and the CPU the cluster used; a phase stops after
 * PHASE_MAX_ERRORS failures, and failures fail the run.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_cluster_run.h"
#include "bench_util.h"
#include "cli_table.h"

#define WARMUP_OPS 200      /* per kind, at ALL, before anything is measured */
#define PHASE_MAX_ERRORS 20 /* a phase stops after this many failed operations */
#define BUSY_RETRIES 10000  /* 1 ms apart: EBUSY with only our window in flight */

const char *const level_names[LEVEL_COUNT] = {"ONE", "QUORUM", "ALL"};
static const dkv_consistency_t level_values[LEVEL_COUNT] = {DKV_ONE, DKV_QUORUM, DKV_ALL};
/* First byte of the keys each level's single caller writes, so that every
 * level puts new keys and reads only its own. */
static const char level_spaces[LEVEL_COUNT] = {'o', 'q', 'a'};
#define SPACE_MIX 'm'
#define SPACE_WARMUP 'w'

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

static dkv_opts_t *
opts_for(enum level lv)
{
	dkv_opts_t *o = dkv_opts_new();

	if (o == NULL)
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
	dkv_opts_set_consistency(o, level_values[lv]);
	return o;
}

void
measured_close(struct measured *m, const struct histogram *h, uint64_t ns,
               const struct bench_progress *p)
{
	char rate[32];

	m->ran = true;
	m->seconds = (double)ns / 1e9;
	m->p50_us = hist_quantile_us(h, 0.50);
	m->p99_us = hist_quantile_us(h, 0.99);
	m->p999_us = hist_quantile_us(h, 0.999);
	m->max_us = hist_quantile_us(h, 1.0);
	fmt_thousands(rate, sizeof(rate),
	              (unsigned long long)(m->seconds > 0 ? (double)m->ops / m->seconds : 0.0));
	bench_progress_end(p, "%s ops/s, p50 %.0f us, p99.9 %.0f us%s", rate, m->p50_us, m->p999_us,
	                   m->errors > 0 ? " (errors)" : "");
}

static void
count_error(struct measured *m, int err, bool is_get)
{
	if (m->errors++ == 0)
		m->first_error = err;
	m->get_errors += is_get;
}

bool
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
	struct bench_progress prog;
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
	bench_progress_start(&prog, o->common.quiet, label);
	cpu = cluster_cpu_us(run);
	start = t1 = now_ns();
	for (uint64_t i = 0; i < count && !stop_requested && m->errors < PHASE_MAX_ERRORS; i++) {
		dkv_result_t *res = NULL;
		uint64_t t0;
		int err;

		key_make(key, o->key_size, space, run->tag, i);
		t0 = now_ns();
		if (put)
			err = dkv_put(db, key, o->key_size, bench_value(run->values, i),
			              o->value_size, NULL, opts);
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
			    (vlen == 0 || memcmp(v, bench_value(run->values, i), vlen) == 0))
				m->found++;
			else
				m->wrong++;
		} else if (err != DKV_OK && !(err == DKV_ENOTFOUND && !put)) {
			count_error(m, err, !put);
		}
		dkv_result_free(res);
		bench_progress_update(&prog, (unsigned)((double)(i + 1) / (double)count * 100.0),
		                      t1);
	}
	m->cpu_us = m->ops > 0 ? (cluster_cpu_us(run) - cpu) / (double)m->ops : 0.0;
	measured_close(m, h, t1 - start, &prog);
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
	struct bench_progress prog;
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
	bench_progress_start(&prog, o->common.quiet, label);
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
		bench_progress_update(
		    &prog,
		    (unsigned)((total > 0 ? (double)submitted / (double)total
		                          : (double)(now - start) / (double)(deadline - start)) *
		               100.0),
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
			err =
			    dkv_put_async(db, key, o->key_size, bench_value(run->values, submitted),
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
	out->cpu_us = out->ops > 0 ? (cluster_cpu_us(run) - cpu) / (double)out->ops : 0.0;
	measured_close(out, &w->hist, w->last_done_ns - start, &prog);
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

bool
run_levels(struct cluster_run *run, dkv_t *db)
{
	const struct cluster_opts *o = &run->o;
	struct measured warm;
	char what[64];

	bench_note(o->common.quiet, "warming up: %d puts and gets at ALL", WARMUP_OPS);
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

	bench_note(o->common.quiet, "preloading %" PRIu64 " keys for the mix", o->keys);
	if (!run_window_phase(run, db, LEVEL_ALL, true, &run->preload))
		return false;
	check_phase(run, "preload", &run->preload);
	for (int lv = 0; lv < LEVEL_COUNT && !stop_requested; lv++) {
		struct level_report *r = &run->levels[lv];

		if (!o->run_level[lv])
			continue;
		bench_note(o->common.quiet, "%s: single caller, then %u in flight", level_names[lv],
		           o->window);
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
