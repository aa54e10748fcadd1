/*
 * One handle, many threads: 8 threads mix puts (blind and with a context),
 * gets and deletes on keys of their own and on keys they all share, and
 * half of them also submit asynchronous puts and gets. Afterwards each
 * thread's own keys hold exactly its last write (or are deleted), every
 * acknowledged asynchronous put is stored, and each shared key holds
 * exactly one value -- blind puts from one peer supersede each other --
 * which is one that some thread wrote to that key.
 *
 * The threads never use Check's assertions (they are not the test's
 * thread): they count errors and keep the first message, and the test
 * asserts on those after joining them.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdkv/dkv.h>

#include "testutil.h"

#define NTHREADS 8
#define OWN_KEYS 16
#define SHARED_KEYS 8
#define VAL_MAX 48

struct worker {
	unsigned id;
	dkv_t *db;
	unsigned iters;
	uint64_t seed;
	bool use_async;
	pthread_t thread;
	/* own keys: what the last write left */
	bool present[OWN_KEYS];
	char last[OWN_KEYS][VAL_MAX];
	/* shared_op[i]: the shared key op i wrote, or -1 */
	signed char *shared_op;
	/* async: puts to keys of its own ("t<id>-a<n>", one put each) */
	unsigned async_keys;
	unsigned async_submitted;
	struct tu_counter async_done;
	atomic_uint async_bad;
	atomic_int async_first_bad;
	/* failures seen on this thread */
	unsigned errors;
	char first_error[256];
};

static void
record_failure(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
record_failure(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (w->errors++ > 0)
		return;
	va_start(ap, fmt);
	vsnprintf(w->first_error, sizeof(w->first_error), fmt, ap);
	va_end(ap);
}

static void
async_fail(struct worker *w, int err)
{
	if (atomic_fetch_add(&w->async_bad, 1) == 0)
		atomic_store(&w->async_first_bad, err);
}

static void
own_key(char *buf, size_t size, unsigned t, unsigned k)
{
	snprintf(buf, size, "t%u-k%u", t, k);
}

static void
shared_key(char *buf, size_t size, unsigned j)
{
	snprintf(buf, size, "shared-%u", j);
}

/* Whether res is exactly one value, equal to want. */
static bool
one_value_is(const dkv_result_t *res, const char *want)
{
	size_t vlen = 0;
	const void *v;

	if (dkv_result_count(res) != 1)
		return false;
	v = dkv_result_value(res, 0, &vlen);
	return v != NULL && vlen == strlen(want) && memcmp(v, want, vlen) == 0;
}

/* A shared value is "S<j>-init" or "S<j>-t<t>-i<i>"; it must name key j. */
static bool
shared_value_names_key(const void *v, size_t vlen, unsigned j)
{
	char buf[VAL_MAX], prefix[16];
	int n = snprintf(prefix, sizeof(prefix), "S%u-", j);

	if (vlen >= sizeof(buf))
		return false;
	memcpy(buf, v, vlen);
	buf[vlen] = '\0';
	return strncmp(buf, prefix, (size_t)n) == 0;
}

static void
async_put_done(int err, void *arg)
{
	struct worker *w = arg;

	if (err != DKV_OK)
		async_fail(w, err);
	tu_counter_add(&w->async_done, 1);
}

/* Carries the shared key index with the worker. */
struct async_get {
	struct worker *w;
	unsigned j;
};

static void
async_get_done(int err, dkv_result_t *res, void *arg)
{
	struct async_get *g = arg;
	struct worker *w = g->w;

	if (err != DKV_OK) {
		async_fail(w, err); /* shared keys always have a value */
	} else {
		size_t vlen = 0;
		const void *v = dkv_result_value(res, 0, &vlen);

		if (dkv_result_count(res) != 1 || !shared_value_names_key(v, vlen, g->j))
			async_fail(w, 1000 + (int)dkv_result_count(res));
	}
	dkv_result_free(res);
	free(g);
	tu_counter_add(&w->async_done, 1);
}

static void
op_own_get(struct worker *w, unsigned k, const char *key, dkv_result_t **keep)
{
	int err = dkv_get(w->db, key, strlen(key), keep, NULL);

	if (w->present[k]) {
		if (err != DKV_OK)
			record_failure(w, "get %s: expected \"%s\", got error %d", key, w->last[k], err);
		else if (!one_value_is(*keep, w->last[k]))
			record_failure(w, "get %s: expected exactly \"%s\", saw %zu value(s): %s", key,
			     w->last[k], dkv_result_count(*keep), tu_result_text(*keep));
	} else if (err != DKV_ENOTFOUND) {
		record_failure(w, "get %s: expected DKV_ENOTFOUND (deleted or never written), got %d", key,
		     err);
	}
}

static void
submit_async(struct worker *w, unsigned i, uint64_t r)
{
	char key[32], val[VAL_MAX];
	int err;

	if (r % 3 == 0) {
		/* A put to a fresh key of this thread's own. */
		snprintf(key, sizeof(key), "t%u-a%u", w->id, w->async_keys);
		snprintf(val, sizeof(val), "A-t%u-%u", w->id, w->async_keys);
		err = dkv_put_async(w->db, key, strlen(key), val, strlen(val), NULL, NULL,
		                    async_put_done, w);
		if (err == DKV_OK) {
			w->async_keys++;
			w->async_submitted++;
		}
	} else if (r % 3 == 1) {
		unsigned j = (unsigned)(r >> 8) % SHARED_KEYS;

		shared_key(key, sizeof(key), j);
		snprintf(val, sizeof(val), "S%u-t%u-i%u", j, w->id, i);
		err = dkv_put_async(w->db, key, strlen(key), val, strlen(val), NULL, NULL,
		                    async_put_done, w);
		if (err == DKV_OK) {
			w->shared_op[i] = (signed char)j;
			w->async_submitted++;
		}
	} else {
		struct async_get *g = malloc(sizeof(*g));

		if (g == NULL) {
			record_failure(w, "out of memory");
			return;
		}
		g->w = w;
		g->j = (unsigned)(r >> 8) % SHARED_KEYS;
		shared_key(key, sizeof(key), g->j);
		err = dkv_get_async(w->db, key, strlen(key), NULL, async_get_done, g);
		if (err == DKV_OK)
			w->async_submitted++;
		else
			free(g);
	}
	if (err != DKV_OK && err != DKV_EBUSY)
		record_failure(w, "async submission %u: expected DKV_OK or DKV_EBUSY, got %d", i, err);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char key[32], val[VAL_MAX];

	for (unsigned i = 0; i < w->iters; i++) {
		uint64_t r = tu_rand(&w->seed);
		unsigned pick = (unsigned)(r % 100), k = (unsigned)(r >> 16) % OWN_KEYS;
		unsigned j = (unsigned)(r >> 24) % SHARED_KEYS;
		dkv_result_t *res = NULL;
		int err;

		w->shared_op[i] = -1;
		own_key(key, sizeof(key), w->id, k);
		if (pick < 30) { /* blind put, own key */
			snprintf(val, sizeof(val), "t%u-i%u", w->id, i);
			if ((err = dkv_put(w->db, key, strlen(key), val, strlen(val), NULL, NULL)) != DKV_OK)
				record_failure(w, "put %s: got %d", key, err);
			w->present[k] = true;
			strcpy(w->last[k], val);
		} else if (pick < 40) { /* read-modify-write with the context */
			op_own_get(w, k, key, &res);
			snprintf(val, sizeof(val), "t%u-c%u", w->id, i);
			err = dkv_put(w->db, key, strlen(key), val, strlen(val),
			              res ? dkv_result_context(res) : NULL, NULL);
			if (err != DKV_OK)
				record_failure(w, "put %s with context: got %d", key, err);
			w->present[k] = true;
			strcpy(w->last[k], val);
		} else if (pick < 48) { /* delete, blind or with the context */
			if (r & (1u << 30))
				op_own_get(w, k, key, &res);
			err = dkv_delete(w->db, key, strlen(key), res ? dkv_result_context(res) : NULL,
			                 NULL);
			if (err != DKV_OK)
				record_failure(w, "delete %s: got %d", key, err);
			w->present[k] = false;
		} else if (pick < 60) { /* get, own key */
			op_own_get(w, k, key, &res);
		} else if (pick < 75) { /* blind put, shared key */
			shared_key(key, sizeof(key), j);
			snprintf(val, sizeof(val), "S%u-t%u-i%u", j, w->id, i);
			if ((err = dkv_put(w->db, key, strlen(key), val, strlen(val), NULL, NULL)) != DKV_OK)
				record_failure(w, "put %s: got %d", key, err);
			else
				w->shared_op[i] = (signed char)j;
		} else if (pick < 85 || !w->use_async) { /* get, shared key */
			size_t vlen = 0;
			const void *v;

			shared_key(key, sizeof(key), j);
			err = dkv_get(w->db, key, strlen(key), &res, NULL);
			if (err != DKV_OK) {
				record_failure(w, "get %s: expected a value, got %d", key, err);
			} else {
				v = dkv_result_value(res, 0, &vlen);
				if (dkv_result_count(res) != 1 || !shared_value_names_key(v, vlen, j))
					record_failure(w, "get %s: expected one value written to it, saw %zu: %s", key,
					     dkv_result_count(res), tu_result_text(res));
			}
		} else {
			submit_async(w, i, r >> 32);
		}
		dkv_result_free(res);
	}
	/* This thread's async requests are all called back before it ends. */
	if (tu_counter_wait(&w->async_done, w->async_submitted, TU_WAIT_S) < w->async_submitted)
		record_failure(w, "expected %u async callbacks within %d s, saw %lu", w->async_submitted,
		     TU_WAIT_S, tu_counter_get(&w->async_done));
	return NULL;
}

/* The final value of shared key j was written to j: by the seed, or by
 * the op of the thread and iteration it names. */
static void
verify_shared(dkv_t *db, struct worker *ws, unsigned iters, unsigned j)
{
	char key[32], init[32], buf[VAL_MAX];
	dkv_result_t *res = NULL;
	unsigned t, i;
	size_t vlen = 0;
	const void *v;
	int err, n = 0;

	shared_key(key, sizeof(key), j);
	snprintf(init, sizeof(init), "S%u-init", j);
	err = dkv_get(db, key, strlen(key), &res, NULL);
	ck_assert_msg(err == DKV_OK, "get %s: expected a value, got %d", key, err);
	ck_assert_msg(dkv_result_count(res) == 1,
	              "get %s: blind puts from one peer must leave one value, saw %zu: %s", key,
	              dkv_result_count(res), tu_result_text(res));
	v = dkv_result_value(res, 0, &vlen);
	ck_assert_uint_lt(vlen, sizeof(buf));
	memcpy(buf, v, vlen);
	buf[vlen] = '\0';
	dkv_result_free(res);
	if (strcmp(buf, init) == 0)
		return;
	ck_assert_msg(sscanf(buf, "S%*u-t%u-i%u%n", &t, &i, &n) == 2 && (size_t)n == vlen,
	              "%s holds \"%s\", which no thread wrote", key, buf);
	ck_assert_msg(t < NTHREADS && i < iters && ws[t].shared_op[i] == (signed char)j,
	              "%s holds \"%s\", but thread %u's op %u did not write it", key, buf, t, i);
}

START_TEST(test_threads_mixing_ops_on_one_handle_keep_each_last_write)
{
	const unsigned iters = tu_scale(5000, 500);
	struct worker *ws = calloc(NTHREADS, sizeof(*ws));
	char key[32], val[VAL_MAX];

	ck_assert_ptr_nonnull(ws);
	/* Shared keys always hold a value, so a get of one never misses. */
	for (unsigned j = 0; j < SHARED_KEYS; j++) {
		shared_key(key, sizeof(key), j);
		snprintf(val, sizeof(val), "S%u-init", j);
		tu_put(tu_db, key, val);
	}
	for (unsigned t = 0; t < NTHREADS; t++) {
		struct worker *w = &ws[t];

		w->id = t;
		w->db = tu_db;
		w->iters = iters;
		w->seed = 0x9e3779b97f4a7c15ull * (t + 1);
		w->use_async = t % 2 == 1;
		w->shared_op = malloc(iters);
		ck_assert_ptr_nonnull(w->shared_op);
		tu_counter_init(&w->async_done);
	}
	for (unsigned t = 0; t < NTHREADS; t++)
		ck_assert_int_eq(pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]), 0);
	for (unsigned t = 0; t < NTHREADS; t++)
		ck_assert_int_eq(pthread_join(ws[t].thread, NULL), 0);

	for (unsigned t = 0; t < NTHREADS; t++) {
		struct worker *w = &ws[t];

		ck_assert_msg(w->errors == 0, "thread %u: %u error(s), the first: %s", t, w->errors,
		              w->first_error);
		ck_assert_msg(atomic_load(&w->async_bad) == 0,
		              "thread %u: %u async request(s) failed, the first with %d", t,
		              atomic_load(&w->async_bad), atomic_load(&w->async_first_bad));
		for (unsigned k = 0; k < OWN_KEYS; k++) {
			own_key(key, sizeof(key), t, k);
			if (w->present[k])
				tu_expect_str(tu_db, key, w->last[k]);
			else
				tu_expect_missing(tu_db, key, strlen(key));
		}
		for (unsigned a = 0; a < w->async_keys; a++) {
			snprintf(key, sizeof(key), "t%u-a%u", t, a);
			snprintf(val, sizeof(val), "A-t%u-%u", t, a);
			tu_expect_str(tu_db, key, val);
		}
	}
	for (unsigned j = 0; j < SHARED_KEYS; j++)
		verify_shared(tu_db, ws, iters, j);

	for (unsigned t = 0; t < NTHREADS; t++) {
		free(ws[t].shared_op);
		tu_counter_destroy(&ws[t].async_done);
	}
	free(ws);
}
END_TEST

static Suite *
threads_suite(void)
{
	Suite *s = suite_create("threads");
	TCase *tc = tcase_create("one_handle");

	tu_tcase_setup(tc, true);
	tcase_add_test(tc, test_threads_mixing_ops_on_one_handle_keep_each_last_write);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(threads_suite());
}
