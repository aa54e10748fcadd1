/*
 * Asynchronous operations: each accepted request is called back exactly
 * once, on the I/O thread (never the caller's), with the right error and
 * result; blocking calls from a callback are refused with DKV_EDEADLK;
 * dkv_close calls back everything still queued before it returns and
 * refuses new requests from those callbacks; DKV_EBUSY bounds what is in
 * flight. The attach-mode tests drive the library from the test's own
 * event_base (dkv_event.h).
 *
 * Callbacks run on library threads, where Check's assertions must not be
 * used: they record what they saw, and the test thread asserts on it after
 * waiting (with a deadline) for the callbacks to arrive.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <libdkv/dkv.h>
#include <libdkv/dkv_event.h>

#include "testutil.h"

/* What one callback saw. */
struct rec {
	struct tu_counter calls;
	dkv_t *db;
	int err;
	pthread_t thread;
	bool had_res;
	size_t count;
	char val[64];
	size_t vlen;
	/* sync calls made from inside the callback */
	int inner_put, inner_get, inner_delete;
	bool inner_res_null;
};

static void
rec_init(struct rec *r, dkv_t *db)
{
	memset(r, 0, sizeof(*r));
	tu_counter_init(&r->calls);
	r->db = db;
	r->err = 12345;
}

static void
rec_wait(struct rec *r, const char *what)
{
	unsigned long seen = tu_counter_wait(&r->calls, 1, TU_WAIT_S);

	ck_assert_msg(seen >= 1, "%s: expected its callback within %d s, saw none", what,
	              TU_WAIT_S);
}

static void
rec_done(int err, void *arg)
{
	struct rec *r = arg;

	r->err = err;
	r->thread = pthread_self();
	tu_counter_add(&r->calls, 1);
}

static void
rec_got(int err, dkv_result_t *res, void *arg)
{
	struct rec *r = arg;

	r->err = err;
	r->thread = pthread_self();
	r->had_res = res != NULL;
	r->count = dkv_result_count(res);
	if (res != NULL) {
		size_t vlen = 0;
		const void *v = dkv_result_value(res, 0, &vlen);

		r->vlen = vlen;
		memcpy(r->val, v, vlen < sizeof(r->val) ? vlen : sizeof(r->val));
	}
	dkv_result_free(res); /* the callback owns res */
	tu_counter_add(&r->calls, 1);
}

static void
expect_called_once(struct rec *r, const char *what)
{
	unsigned long n = tu_counter_get(&r->calls);

	ck_assert_msg(n == 1, "%s: expected exactly 1 callback, got %lu", what, n);
}

/* ------------------------------------------------------------------------
 * Thread mode
 */

START_TEST(test_async_ops_call_back_once_off_the_caller_thread)
{
	struct rec put, get, del, get_missing;
	pthread_t self = pthread_self();

	rec_init(&put, tu_db);
	rec_init(&get, tu_db);
	rec_init(&del, tu_db);
	rec_init(&get_missing, tu_db);

	ck_assert_int_eq(dkv_put_async(tu_db, "k", 1, "value", 5, NULL, NULL, rec_done, &put),
	                 DKV_OK);
	rec_wait(&put, "put_async");
	ck_assert_msg(put.err == DKV_OK, "put_async: expected DKV_OK, got %d", put.err);
	ck_assert_msg(!pthread_equal(put.thread, self),
	              "put_async called back on the caller's thread");

	ck_assert_int_eq(dkv_get_async(tu_db, "k", 1, NULL, rec_got, &get), DKV_OK);
	rec_wait(&get, "get_async");
	ck_assert_msg(get.err == DKV_OK, "get_async: expected DKV_OK, got %d", get.err);
	ck_assert_msg(get.had_res && get.count == 1 && get.vlen == 5 &&
	                  memcmp(get.val, "value", 5) == 0,
	              "get_async: expected one value \"value\", got %zu value(s), first %zu bytes",
	              get.count, get.vlen);
	ck_assert_msg(!pthread_equal(get.thread, self),
	              "get_async called back on the caller's thread");

	ck_assert_int_eq(dkv_delete_async(tu_db, "k", 1, NULL, NULL, rec_done, &del), DKV_OK);
	rec_wait(&del, "delete_async");
	ck_assert_msg(del.err == DKV_OK, "delete_async: expected DKV_OK, got %d", del.err);
	ck_assert_msg(!pthread_equal(del.thread, self),
	              "delete_async called back on the caller's thread");

	ck_assert_int_eq(dkv_get_async(tu_db, "k", 1, NULL, rec_got, &get_missing), DKV_OK);
	rec_wait(&get_missing, "get_async of a deleted key");
	ck_assert_msg(get_missing.err == DKV_ENOTFOUND,
	              "get_async of a deleted key: expected DKV_ENOTFOUND, got %d",
	              get_missing.err);
	ck_assert_msg(!get_missing.had_res, "get_async: res must be NULL unless DKV_OK");
	tu_expect_missing(tu_db, "k", 1);

	/* dkv_close returns only after every callback ran: none came twice. */
	dkv_close(tu_db);
	tu_db = NULL;
	expect_called_once(&put, "put_async");
	expect_called_once(&get, "get_async");
	expect_called_once(&del, "delete_async");
	expect_called_once(&get_missing, "get_async of a deleted key");
	tu_counter_destroy(&put.calls);
	tu_counter_destroy(&get.calls);
	tu_counter_destroy(&del.calls);
	tu_counter_destroy(&get_missing.calls);
}
END_TEST

/* The callback's thread: does it block SIGPIPE? */
static void
pipe_mask_done(int err, void *arg)
{
	struct rec *r = arg;
	sigset_t mask;

	r->err = err;
	r->thread = pthread_self();
	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	r->inner_put = sigismember(&mask, SIGPIPE);
	tu_counter_add(&r->calls, 1);
}

/* A write to a connection a peer has closed raises SIGPIPE in the thread
 * that writes, which ends the process by default: the library's I/O
 * thread blocks it, and leaves the application's threads alone. */
START_TEST(test_the_io_thread_blocks_sigpipe_and_no_other_thread_changes)
{
	struct rec put;
	sigset_t mask;

	rec_init(&put, tu_db);
	ck_assert_int_eq(dkv_put_async(tu_db, "k", 1, "v", 1, NULL, NULL, pipe_mask_done, &put),
	                 DKV_OK);
	rec_wait(&put, "put_async");
	ck_assert_int_eq(put.err, DKV_OK);
	ck_assert_msg(put.inner_put == 1, "SIGPIPE is not blocked on the I/O thread");
	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	ck_assert_msg(sigismember(&mask, SIGPIPE) == 0, "the caller's signal mask changed");
	tu_counter_destroy(&put.calls);
}
END_TEST

START_TEST(test_async_copies_key_value_and_context)
{
	char key[8], val[8];
	struct rec put, del;
	dkv_result_t *res = NULL;

	rec_init(&put, tu_db);
	rec_init(&del, tu_db);
	tu_put(tu_db, "key", "old");
	ck_assert_int_eq(dkv_get(tu_db, "key", 3, &res, NULL), DKV_OK);
	memcpy(key, "key", 3);
	memcpy(val, "new", 3);
	ck_assert_int_eq(dkv_put_async(tu_db, key, 3, val, 3, dkv_result_context(res), NULL,
	                               rec_done, &put),
	                 DKV_OK);
	/* The library copied all three before returning. */
	dkv_result_free(res);
	memcpy(key, "XXX", 3);
	memcpy(val, "YYY", 3);
	rec_wait(&put, "put_async");
	ck_assert_int_eq(put.err, DKV_OK);
	tu_expect_str(tu_db, "key", "new");
	tu_expect_missing(tu_db, "XXX", 3);

	ck_assert_int_eq(dkv_get(tu_db, "key", 3, &res, NULL), DKV_OK);
	memcpy(key, "key", 3);
	ck_assert_int_eq(dkv_delete_async(tu_db, key, 3, dkv_result_context(res), NULL,
	                                  rec_done, &del),
	                 DKV_OK);
	dkv_result_free(res);
	memcpy(key, "XXX", 3);
	rec_wait(&del, "delete_async");
	ck_assert_int_eq(del.err, DKV_OK);
	tu_expect_missing(tu_db, "key", 3);
	tu_counter_destroy(&put.calls);
	tu_counter_destroy(&del.calls);
}
END_TEST

/* Every op of a bulk run reports here. */
struct bulk {
	struct tu_counter done;
	atomic_uint bad;
	atomic_int first_bad;
};

static void
bulk_done(int err, void *arg)
{
	struct bulk *b = arg;

	if (err != DKV_OK && atomic_fetch_add(&b->bad, 1) == 0)
		atomic_store(&b->first_bad, err);
	tu_counter_add(&b->done, 1);
}

/* Submits a put, waiting for a callback to arrive whenever the library
 * says DKV_EBUSY (the only acceptable refusal). */
static void
bulk_put(struct bulk *b, dkv_t *db, const char *key, const char *val)
{
	for (;;) {
		unsigned long before = tu_counter_get(&b->done);
		int err = dkv_put_async(db, key, strlen(key), val, strlen(val), NULL, NULL,
		                        bulk_done, b);

		if (err == DKV_OK)
			return;
		ck_assert_msg(err == DKV_EBUSY, "put_async %s: expected DKV_OK or DKV_EBUSY, got %d",
		              key, err);
		ck_assert_msg(tu_counter_wait(&b->done, before + 1, TU_WAIT_S) > before,
		              "put_async said DKV_EBUSY but no callback came within %d s",
		              TU_WAIT_S);
	}
}

START_TEST(test_many_async_puts_are_all_stored)
{
	const unsigned n = tu_scale(10000, 1000);
	struct bulk b;
	char key[32], val[32];
	unsigned long seen;

	memset(&b, 0, sizeof(b));
	tu_counter_init(&b.done);
	for (unsigned i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "async-%u", i);
		snprintf(val, sizeof(val), "value-%u", i * 3);
		bulk_put(&b, tu_db, key, val);
	}
	seen = tu_counter_wait(&b.done, n, TU_WAIT_S);
	ck_assert_msg(seen == n, "expected %u callbacks, saw %lu", n, seen);
	ck_assert_msg(atomic_load(&b.bad) == 0, "%u puts failed, the first with %d",
	              atomic_load(&b.bad), atomic_load(&b.first_bad));
	for (unsigned i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "async-%u", i);
		snprintf(val, sizeof(val), "value-%u", i * 3);
		tu_expect_str(tu_db, key, val);
	}
	dkv_close(tu_db);
	tu_db = NULL;
	ck_assert_msg(tu_counter_get(&b.done) == n, "after close: expected %u callbacks, saw %lu",
	              n, tu_counter_get(&b.done));
	tu_counter_destroy(&b.done);
}
END_TEST

static void
deadlock_done(int err, void *arg)
{
	struct rec *r = arg;
	dkv_result_t *res = (dkv_result_t *)(void *)r; /* anything but NULL */

	r->inner_put = dkv_put(r->db, "inner", 5, "x", 1, NULL, NULL);
	r->inner_get = dkv_get(r->db, "inner", 5, &res, NULL);
	r->inner_res_null = res == NULL;
	if (r->inner_get == DKV_OK)
		dkv_result_free(res);
	r->inner_delete = dkv_delete(r->db, "inner", 5, NULL, NULL);
	rec_done(err, arg);
}

static void
deadlock_got(int err, dkv_result_t *res, void *arg)
{
	dkv_result_free(res);
	deadlock_done(err, arg);
}

static void
expect_deadlock_refused(struct rec *r, const char *where)
{
	ck_assert_msg(r->inner_put == DKV_EDEADLK, "dkv_put in a %s callback: expected "
	              "DKV_EDEADLK (%d), got %d", where, DKV_EDEADLK, r->inner_put);
	ck_assert_msg(r->inner_get == DKV_EDEADLK, "dkv_get in a %s callback: expected "
	              "DKV_EDEADLK (%d), got %d", where, DKV_EDEADLK, r->inner_get);
	ck_assert_msg(r->inner_res_null, "dkv_get refused in a %s callback must set *res NULL",
	              where);
	ck_assert_msg(r->inner_delete == DKV_EDEADLK, "dkv_delete in a %s callback: expected "
	              "DKV_EDEADLK (%d), got %d", where, DKV_EDEADLK, r->inner_delete);
}

START_TEST(test_sync_calls_from_a_callback_are_edeadlk)
{
	struct rec put, get, del;

	rec_init(&put, tu_db);
	rec_init(&get, tu_db);
	rec_init(&del, tu_db);
	ck_assert_int_eq(dkv_put_async(tu_db, "k", 1, "v", 1, NULL, NULL, deadlock_done, &put),
	                 DKV_OK);
	rec_wait(&put, "put_async");
	ck_assert_int_eq(dkv_get_async(tu_db, "k", 1, NULL, deadlock_got, &get), DKV_OK);
	rec_wait(&get, "get_async");
	ck_assert_int_eq(dkv_delete_async(tu_db, "k", 1, NULL, NULL, deadlock_done, &del),
	                 DKV_OK);
	rec_wait(&del, "delete_async");
	expect_deadlock_refused(&put, "put");
	expect_deadlock_refused(&get, "get");
	expect_deadlock_refused(&del, "delete");
	/* The refused put wrote nothing; the handle still works. */
	tu_expect_missing(tu_db, "inner", 5);
	tu_put(tu_db, "after", "ok");
	tu_expect_str(tu_db, "after", "ok");
	tu_counter_destroy(&put.calls);
	tu_counter_destroy(&get.calls);
	tu_counter_destroy(&del.calls);
}
END_TEST

/* dkv_close with a queue of requests: one slot per request. */
struct close_run;

struct close_slot {
	struct close_run *run;
	unsigned index;
	atomic_uint calls;
	atomic_int err;
};

struct close_run {
	dkv_t *db;
	bool attached;
	bool closes_on_loop;           /* dkv_close runs on the loop thread */
	pthread_t loop_thread;
	atomic_bool closing;           /* set just before dkv_close */
	atomic_uint ok, closed, other; /* callbacks by outcome */
	atomic_uint late_checked;      /* put_async tried from a callback in close */
	atomic_uint late_accepted;     /* ... and wrongly accepted */
	atomic_int late_wrong;         /* what it returned instead of ECLOSED */
	atomic_uint off_thread;        /* callbacks on the wrong thread (attach) */
	atomic_uint late_callbacks;    /* callbacks of wrongly accepted puts */
};

static void
late_done(int err, void *arg)
{
	struct close_run *run = arg;

	(void)err;
	atomic_fetch_add(&run->late_callbacks, 1);
}

static void
close_done(int err, void *arg)
{
	struct close_slot *slot = arg;
	struct close_run *run = slot->run;

	atomic_fetch_add(&slot->calls, 1);
	atomic_store(&slot->err, err);
	if (err == DKV_OK)
		atomic_fetch_add(&run->ok, 1);
	else if (err == DKV_ECLOSED)
		atomic_fetch_add(&run->closed, 1);
	else
		atomic_fetch_add(&run->other, 1);
	if (run->attached && !pthread_equal(pthread_self(), run->loop_thread))
		atomic_fetch_add(&run->off_thread, 1);
	/* A callback that reports DKV_ECLOSED runs while the handle closes (so
	 * does every callback once `closing` is set when dkv_close is called
	 * on the loop thread, as the callbacks then run inside it): a new
	 * request must be refused. */
	if (err == DKV_ECLOSED || (run->closes_on_loop && atomic_load(&run->closing))) {
		int e = dkv_put_async(run->db, "late", 4, "x", 1, NULL, NULL, late_done, run);

		atomic_fetch_add(&run->late_checked, 1);
		if (e != DKV_ECLOSED) {
			atomic_store(&run->late_wrong, e);
			if (e == DKV_OK)
				atomic_fetch_add(&run->late_accepted, 1);
		}
	}
}

static struct close_slot *
close_submit(struct close_run *run, unsigned n, unsigned *accepted)
{
	struct close_slot *slots = calloc(n, sizeof(*slots));
	char key[32], val[32];

	ck_assert_ptr_nonnull(slots);
	*accepted = 0;
	for (unsigned i = 0; i < n; i++) {
		int err;

		slots[i].run = run;
		slots[i].index = i;
		snprintf(key, sizeof(key), "q-%u", i);
		snprintf(val, sizeof(val), "v-%u", i);
		err = dkv_put_async(run->db, key, strlen(key), val, strlen(val), NULL, NULL,
		                    close_done, &slots[i]);
		ck_assert_msg(err == DKV_OK || err == DKV_EBUSY,
		              "put_async %u: expected DKV_OK or DKV_EBUSY, got %d", i, err);
		if (err == DKV_OK)
			(*accepted)++;
		else
			atomic_store(&slots[i].calls, 1000); /* marks "not accepted" */
	}
	return slots;
}

/* After dkv_close returned: every accepted request was called back
 * exactly once, with DKV_OK or DKV_ECLOSED, and no callback got a new
 * request in. */
static void
close_verify(struct close_run *run, struct close_slot *slots, unsigned n, unsigned accepted)
{
	unsigned total = atomic_load(&run->ok) + atomic_load(&run->closed) + atomic_load(&run->other);

	for (unsigned i = 0; i < n; i++) {
		unsigned calls = atomic_load(&slots[i].calls);

		if (calls == 1000)
			continue; /* refused with DKV_EBUSY: never called back */
		ck_assert_msg(calls == 1, "request %u: expected 1 callback by the end of dkv_close, got %u",
		              i, calls);
	}
	ck_assert_msg(total == accepted, "expected %u callbacks (one per accepted request), got %u",
	              accepted, total);
	ck_assert_msg(atomic_load(&run->other) == 0,
	              "%u callbacks had an error other than DKV_OK or DKV_ECLOSED",
	              atomic_load(&run->other));
	ck_assert_msg(atomic_load(&run->late_accepted) == 0 && atomic_load(&run->late_wrong) == 0,
	              "put_async from a callback during close: expected DKV_ECLOSED, got %d "
	              "(%u accepted)", atomic_load(&run->late_wrong), atomic_load(&run->late_accepted));
	ck_assert_msg(atomic_load(&run->late_callbacks) == 0,
	              "a request refused at close was called back");
	ck_assert_msg(atomic_load(&run->off_thread) == 0,
	              "%u callbacks ran off the loop thread", atomic_load(&run->off_thread));
}

/* Requests that completed with DKV_OK are stored. */
static void
close_verify_stored(const char *dir, struct close_slot *slots, unsigned n)
{
	dkv_t *db = tu_open(dir, NULL);
	char key[32], val[32];

	for (unsigned i = 0; i < n; i++) {
		if (atomic_load(&slots[i].calls) != 1 || atomic_load(&slots[i].err) != DKV_OK)
			continue;
		snprintf(key, sizeof(key), "q-%u", i);
		snprintf(val, sizeof(val), "v-%u", i);
		tu_expect_str(db, key, val);
	}
	tu_expect_missing(db, "late", 4);
	dkv_close(db);
}

START_TEST(test_close_calls_back_every_queued_op)
{
	const unsigned n = tu_scale(5000, 1000);
	struct close_run run;
	struct close_slot *slots;
	unsigned accepted;

	memset(&run, 0, sizeof(run));
	/* One worker and room for all: most requests are still queued when
	 * dkv_close starts. */
	run.db = tu_open(tu_dir, "workers", "1", "max_pending", "1000000", NULL);
	slots = close_submit(&run, n, &accepted);
	ck_assert_uint_gt(accepted, 0);
	atomic_store(&run.closing, true);
	dkv_close(run.db);
	close_verify(&run, slots, n, accepted);
	if (atomic_load(&run.closed) > 0)
		ck_assert_msg(atomic_load(&run.late_checked) == atomic_load(&run.closed),
		              "every DKV_ECLOSED callback tried a late put_async");
	close_verify_stored(tu_dir, slots, n);
	free(slots);
}
END_TEST

START_TEST(test_ebusy_bounds_in_flight_and_accepted_ops_call_back)
{
	const unsigned n = tu_scale(2000, 400), max_pending = 64;
	dkv_t *db = tu_open(tu_dir, "max_pending", "64", NULL);
	unsigned accepted = 0, busy = 0;
	struct bulk b;
	char key[32];
	unsigned long seen;

	memset(&b, 0, sizeof(b));
	tu_counter_init(&b.done);
	for (unsigned i = 0; i < n; i++) {
		int err;

		snprintf(key, sizeof(key), "busy-%u", i);
		err = dkv_put_async(db, key, strlen(key), "v", 1, NULL, NULL, bulk_done, &b);
		ck_assert_msg(err == DKV_OK || err == DKV_EBUSY,
		              "put_async %u: expected DKV_OK or DKV_EBUSY, got %d", i, err);
		if (err == DKV_EBUSY) {
			busy++;
			continue;
		}
		accepted++;
		/* Callbacks counted after the submission include every request
		 * the library no longer holds, so this bounds what it holds. */
		seen = tu_counter_get(&b.done);
		ck_assert_msg(accepted - seen <= max_pending,
		              "max_pending = %u, but %lu requests were in flight", max_pending,
		              accepted - seen);
	}
	seen = tu_counter_wait(&b.done, accepted, TU_WAIT_S);
	ck_assert_msg(seen == accepted, "expected %u callbacks (accepted requests), saw %lu",
	              accepted, seen);
	ck_assert_msg(atomic_load(&b.bad) == 0, "%u accepted puts failed, the first with %d",
	              atomic_load(&b.bad), atomic_load(&b.first_bad));
	/* Everything was called back: there is room again. */
	bulk_put(&b, db, "after", "v");
	seen = tu_counter_wait(&b.done, accepted + 1, TU_WAIT_S);
	ck_assert_msg(seen == accepted + 1, "expected %u callbacks, saw %lu", accepted + 1, seen);
	for (unsigned i = 0; i < n; i += 97) {
		dkv_result_t *res = NULL;
		int err;

		snprintf(key, sizeof(key), "busy-%u", i);
		err = dkv_get(db, key, strlen(key), &res, NULL);
		ck_assert_msg(err == DKV_OK || err == DKV_ENOTFOUND, "get %s: got %d", key, err);
		dkv_result_free(res);
	}
	dkv_close(db);
	ck_assert_msg(tu_counter_get(&b.done) == accepted + 1, "after close: expected %u callbacks",
	              accepted + 1);
	(void)busy; /* EBUSY is allowed, not required */
	tu_counter_destroy(&b.done);
}
END_TEST

/* ------------------------------------------------------------------------
 * Attach mode: the test's event_base runs the handle.
 */

struct attach {
	dkv_t *db;
	struct event_base *base;
	pthread_t loop_thread;
	bool timed_out;
	struct rec put, get, from_thread;
	int get_submit;
	/* the other thread's sync calls */
	int t_put, t_get, t_delete, t_submit;
	size_t t_count;
	bool t_value_ok;
	pthread_t other;
	bool other_started;
};

static void
guard_fired(evutil_socket_t fd, short what, void *arg)
{
	struct attach *a = arg;

	(void)fd;
	(void)what;
	a->timed_out = true;
	event_base_loopbreak(a->base);
}

/* A hang guard on the test's base; never a speed assertion. */
static struct event *
add_guard(struct attach *a)
{
	struct timeval tv = {TU_WAIT_S, 0};
	struct event *ev = evtimer_new(a->base, guard_fired, a);

	ck_assert_ptr_nonnull(ev);
	ck_assert_int_eq(evtimer_add(ev, &tv), 0);
	return ev;
}

static dkv_t *
open_attached(struct event_base *base)
{
	dkv_config_t *cfg = tu_config(tu_dir, NULL);
	dkv_t *db = NULL;
	int err;

	ck_assert_int_eq(dkv_config_set_event_base(cfg, base), DKV_OK);
	err = dkv_open(cfg, &db);
	ck_assert_msg(err == DKV_OK, "attached open: expected DKV_OK, got %d (%s)", err,
	              dkv_config_error(cfg));
	dkv_config_free(cfg);
	return db;
}

static void
attach_got(int err, dkv_result_t *res, void *arg)
{
	struct attach *a = arg;

	rec_got(err, res, &a->get);
	event_base_loopbreak(a->base);
}

static void
attach_put_done(int err, void *arg)
{
	struct attach *a = arg;

	rec_done(err, &a->put);
	/* Chained, so the get sees the put. */
	a->get_submit = dkv_get_async(a->db, "k", 1, NULL, attach_got, a);
	if (a->get_submit != DKV_OK)
		event_base_loopbreak(a->base);
}

START_TEST(test_attach_callbacks_run_on_the_loop_thread)
{
	struct attach a;
	struct event *guard;
	dkv_result_t *res = (dkv_result_t *)(void *)&a;

	memset(&a, 0, sizeof(a));
	a.base = event_base_new();
	ck_assert_ptr_nonnull(a.base);
	a.db = open_attached(a.base);
	a.loop_thread = pthread_self();
	rec_init(&a.put, a.db);
	rec_init(&a.get, a.db);

	/* This thread runs the loop: blocking calls here would hang it. */
	ck_assert_int_eq(dkv_get(a.db, "k", 1, &res, NULL), DKV_EDEADLK);
	ck_assert_ptr_null(res);
	ck_assert_int_eq(dkv_put(a.db, "k", 1, "v", 1, NULL, NULL), DKV_EDEADLK);
	ck_assert_int_eq(dkv_delete(a.db, "k", 1, NULL, NULL), DKV_EDEADLK);

	ck_assert_int_eq(dkv_put_async(a.db, "k", 1, "attached", 8, NULL, NULL,
	                               attach_put_done, &a),
	                 DKV_OK);
	guard = add_guard(&a);
	ck_assert_int_ne(event_base_loop(a.base, 0), -1);
	ck_assert_msg(!a.timed_out, "the callbacks did not run within %d s", TU_WAIT_S);
	ck_assert_int_eq(tu_counter_get(&a.put.calls), 1);
	ck_assert_msg(a.put.err == DKV_OK, "put_async: expected DKV_OK, got %d", a.put.err);
	ck_assert_msg(pthread_equal(a.put.thread, a.loop_thread),
	              "attached put callback ran off the loop thread");
	ck_assert_msg(a.get_submit == DKV_OK, "get_async from a callback: expected DKV_OK, got %d",
	              a.get_submit);
	ck_assert_int_eq(tu_counter_get(&a.get.calls), 1);
	ck_assert_msg(a.get.err == DKV_OK && a.get.count == 1 && a.get.vlen == 8 &&
	                  memcmp(a.get.val, "attached", 8) == 0,
	              "get_async: expected DKV_OK with \"attached\", got %d with %zu value(s)",
	              a.get.err, a.get.count);
	ck_assert_msg(pthread_equal(a.get.thread, a.loop_thread),
	              "attached get callback ran off the loop thread");

	event_free(guard);
	dkv_close(a.db);
	event_base_free(a.base);
	tu_counter_destroy(&a.put.calls);
	tu_counter_destroy(&a.get.calls);
}
END_TEST

static void
attach_break_done(int err, void *arg)
{
	struct attach *a = arg;

	rec_done(err, &a->from_thread);
	event_base_loopbreak(a->base);
}

static void *
attach_other_thread(void *arg)
{
	struct attach *a = arg;
	dkv_result_t *res = NULL;

	a->t_put = dkv_put(a->db, "sync", 4, "from-thread", 11, NULL, NULL);
	a->t_get = dkv_get(a->db, "sync", 4, &res, NULL);
	if (a->t_get == DKV_OK) {
		size_t vlen = 0;
		const void *v = dkv_result_value(res, 0, &vlen);

		a->t_count = dkv_result_count(res);
		a->t_value_ok = vlen == 11 && memcmp(v, "from-thread", 11) == 0;
		dkv_result_free(res);
	}
	a->t_delete = dkv_delete(a->db, "other", 5, NULL, NULL);
	/* The loop stops when this request is called back (on the loop). */
	a->t_submit = dkv_put_async(a->db, "done", 4, "1", 1, NULL, NULL, attach_break_done, a);
	return NULL;
}

static void
attach_start_thread(evutil_socket_t fd, short what, void *arg)
{
	struct attach *a = arg;

	(void)fd;
	(void)what;
	/* Started from the running loop, so the sync calls overlap it. */
	a->other_started = pthread_create(&a->other, NULL, attach_other_thread, a) == 0;
	if (!a->other_started)
		event_base_loopbreak(a->base);
}

/* A cluster peer attached to the test's loop, closed on that loop while
 * another thread's synchronous put waits for the loop to coordinate it:
 * the put must end (DKV_ECLOSED, or DKV_OK if it got in first) and the
 * close must return. */
struct close_on_loop {
	dkv_t *db;
	pthread_t other;
	bool started;
	_Atomic int put;
};

static void *
close_on_loop_put(void *arg)
{
	struct close_on_loop *c = arg;

	c->put = dkv_put(c->db, "k", 1, "v", 1, NULL, NULL);
	return NULL;
}

static void
close_on_loop_timer(evutil_socket_t fd, short what, void *arg)
{
	struct close_on_loop *c = arg;
	struct timespec pause = {0, 200 * 1000000L};

	(void)fd;
	(void)what;
	c->started = pthread_create(&c->other, NULL, close_on_loop_put, c) == 0;
	/* the loop is busy here, so the put's request waits in the mailbox */
	nanosleep(&pause, NULL);
	dkv_close(c->db);
	c->db = NULL;
}

START_TEST(test_attach_close_on_the_loop_ends_waiting_sync_calls)
{
	struct event_base *base = event_base_new();
	struct timeval now = {0, 0};
	struct close_on_loop c;
	dkv_config_t *cfg;
	struct event *ev;

	ck_assert_ptr_nonnull(base);
	memset(&c, 0, sizeof(c));
	c.put = 12345;
	cfg = tu_config(tu_dir, "listen", "127.0.0.1:0", "n", "1", "r", "1", "w", "1", NULL);
	ck_assert_int_eq(dkv_config_set_event_base(cfg, base), DKV_OK);
	ck_assert_int_eq(dkv_open(cfg, &c.db), DKV_OK);
	dkv_config_free(cfg);
	ev = evtimer_new(base, close_on_loop_timer, &c);
	ck_assert_ptr_nonnull(ev);
	ck_assert_int_eq(evtimer_add(ev, &now), 0);
	ck_assert_int_ne(event_base_loop(base, EVLOOP_ONCE), -1);
	ck_assert_msg(c.started, "cannot start a thread");
	pthread_join(c.other, NULL);
	ck_assert_msg(c.put == DKV_ECLOSED || c.put == DKV_OK, "the waiting put returned %d (%s)",
	              c.put, dkv_strerror(c.put));
	ck_assert_ptr_null(c.db);
	event_free(ev);
	event_base_free(base);
}
END_TEST

START_TEST(test_attach_sync_calls_from_another_thread_work)
{
	struct timeval now = {0, 0};
	struct attach a;
	struct event *guard, *start;

	memset(&a, 0, sizeof(a));
	a.base = event_base_new();
	ck_assert_ptr_nonnull(a.base);
	a.db = open_attached(a.base);
	a.loop_thread = pthread_self();
	rec_init(&a.from_thread, a.db);
	a.t_submit = 12345;

	start = evtimer_new(a.base, attach_start_thread, &a);
	ck_assert_ptr_nonnull(start);
	ck_assert_int_eq(evtimer_add(start, &now), 0);
	guard = add_guard(&a);
	ck_assert_int_ne(event_base_loop(a.base, 0), -1);
	ck_assert_msg(a.other_started, "cannot start a thread");
	ck_assert_msg(!a.timed_out, "the other thread's request was not called back within %d s"
	              " (its put_async returned %d)", TU_WAIT_S, a.t_submit);
	pthread_join(a.other, NULL);

	ck_assert_msg(a.t_put == DKV_OK, "sync put from another thread: expected DKV_OK, got %d",
	              a.t_put);
	ck_assert_msg(a.t_get == DKV_OK && a.t_count == 1 && a.t_value_ok,
	              "sync get from another thread: expected \"from-thread\", got %d with %zu "
	              "value(s)", a.t_get, a.t_count);
	ck_assert_msg(a.t_delete == DKV_OK, "sync delete from another thread: expected DKV_OK, "
	              "got %d", a.t_delete);
	ck_assert_int_eq(a.t_submit, DKV_OK);
	ck_assert_int_eq(a.from_thread.err, DKV_OK);
	ck_assert_msg(pthread_equal(a.from_thread.thread, a.loop_thread),
	              "a request from another thread was called back off the loop thread");

	event_free(start);
	event_free(guard);
	dkv_close(a.db);
	event_base_free(a.base);
	tu_counter_destroy(&a.from_thread.calls);
}
END_TEST

/* The loop is not running: the queued callbacks can only run inside
 * dkv_close (on this thread), where the handle already refuses requests. */
START_TEST(test_attach_close_runs_queued_callbacks_and_refuses_new_ops)
{
	const unsigned n = tu_scale(500, 200);
	struct event_base *base = event_base_new();
	struct close_run run;
	struct close_slot *slots;
	unsigned accepted;

	ck_assert_ptr_nonnull(base);
	memset(&run, 0, sizeof(run));
	run.db = open_attached(base);
	run.attached = true;
	run.closes_on_loop = true;
	run.loop_thread = pthread_self();
	slots = close_submit(&run, n, &accepted);
	ck_assert_uint_gt(accepted, 0);
	atomic_store(&run.closing, true);
	dkv_close(run.db);
	close_verify(&run, slots, n, accepted);
	ck_assert_msg(atomic_load(&run.late_checked) == accepted,
	              "expected every one of the %u callbacks to run inside dkv_close, "
	              "%u did", accepted, atomic_load(&run.late_checked));
	event_base_free(base);
	close_verify_stored(tu_dir, slots, n);
	free(slots);
}
END_TEST

struct attach_close {
	struct close_run run;
	struct event_base *base;
	pthread_t closer;
	bool closer_started;
};

static void
close_from_event(evutil_socket_t fd, short what, void *arg)
{
	struct attach_close *ac = arg;

	(void)fd;
	(void)what;
	/* An application event on the running loop (not a library
	 * callback) may close the handle. */
	atomic_store(&ac->run.closing, true);
	dkv_close(ac->run.db);
	event_base_loopbreak(ac->base);
}

START_TEST(test_attach_close_from_an_event_of_the_running_loop)
{
	const unsigned n = tu_scale(500, 200);
	struct timeval now = {0, 0};
	struct attach_close ac;
	struct close_slot *slots;
	struct event *ev;
	unsigned accepted;

	memset(&ac, 0, sizeof(ac));
	ac.base = event_base_new();
	ck_assert_ptr_nonnull(ac.base);
	ac.run.db = open_attached(ac.base);
	ac.run.attached = true;
	ac.run.closes_on_loop = true;
	ac.run.loop_thread = pthread_self();
	slots = close_submit(&ac.run, n, &accepted);
	ev = evtimer_new(ac.base, close_from_event, &ac);
	ck_assert_ptr_nonnull(ev);
	ck_assert_int_eq(evtimer_add(ev, &now), 0);
	ck_assert_int_ne(event_base_loop(ac.base, 0), -1);
	close_verify(&ac.run, slots, n, accepted);
	event_free(ev);
	event_base_free(ac.base);
	close_verify_stored(tu_dir, slots, n);
	free(slots);
}
END_TEST

static void *
closer_main(void *arg)
{
	struct attach_close *ac = arg;

	atomic_store(&ac->run.closing, true);
	dkv_close(ac->run.db);
	return NULL;
}

static void
start_closer(evutil_socket_t fd, short what, void *arg)
{
	struct attach_close *ac = arg;

	(void)fd;
	(void)what;
	ac->closer_started = pthread_create(&ac->closer, NULL, closer_main, ac) == 0;
}

/* dkv_close from another thread while the application runs the loop: the
 * library detaches, and with no events of its own left the loop returns.
 * Repeated a few rounds, as the hand-over between the two threads is where
 * a race would be. (The Check timeout is the hang guard here.) */
START_TEST(test_attach_close_from_another_thread_while_loop_runs)
{
	const unsigned rounds = tu_scale(10, 2), n = tu_scale(200, 100);

	for (unsigned round = 0; round < rounds; round++) {
		struct timeval now = {0, 0};
		struct attach_close ac;
		struct close_slot *slots;
		struct event *ev;
		unsigned accepted;

		memset(&ac, 0, sizeof(ac));
		ac.base = event_base_new();
		ck_assert_ptr_nonnull(ac.base);
		ac.run.db = open_attached(ac.base);
		ac.run.attached = true;
		ac.run.loop_thread = pthread_self();
		slots = close_submit(&ac.run, n, &accepted);
		ev = evtimer_new(ac.base, start_closer, &ac);
		ck_assert_ptr_nonnull(ev);
		ck_assert_int_eq(evtimer_add(ev, &now), 0);
		ck_assert_int_ne(event_base_loop(ac.base, 0), -1);
		ck_assert_msg(ac.closer_started, "cannot start a thread");
		pthread_join(ac.closer, NULL);
		close_verify(&ac.run, slots, n, accepted);
		event_free(ev);
		event_base_free(ac.base);
		close_verify_stored(tu_dir, slots, n);
		free(slots);
	}
}
END_TEST

START_TEST(test_set_event_base_null_config_is_einval)
{
	dkv_config_t *cfg = dkv_config_new();

	ck_assert_int_eq(dkv_config_set_event_base(NULL, NULL), DKV_EINVAL);
	ck_assert_ptr_nonnull(cfg);
	/* NULL restores the default: a library thread. */
	ck_assert_int_eq(dkv_config_set_event_base(cfg, NULL), DKV_OK);
	dkv_config_free(cfg);
}
END_TEST

static Suite *
async_suite(void)
{
	Suite *s = suite_create("async");
	TCase *tc;

	tc = tcase_create("thread");
	tu_tcase_setup(tc, true);
	tcase_add_test(tc, test_async_ops_call_back_once_off_the_caller_thread);
	tcase_add_test(tc, test_async_copies_key_value_and_context);
	tcase_add_test(tc, test_the_io_thread_blocks_sigpipe_and_no_other_thread_changes);
	tcase_add_test(tc, test_many_async_puts_are_all_stored);
	tcase_add_test(tc, test_sync_calls_from_a_callback_are_edeadlk);
	suite_add_tcase(s, tc);

	tc = tcase_create("close");
	tu_tcase_setup(tc, false);
	tcase_add_test(tc, test_close_calls_back_every_queued_op);
	tcase_add_test(tc, test_ebusy_bounds_in_flight_and_accepted_ops_call_back);
	suite_add_tcase(s, tc);

	tc = tcase_create("attach");
	tu_tcase_setup(tc, false);
	tcase_add_test(tc, test_set_event_base_null_config_is_einval);
	tcase_add_test(tc, test_attach_callbacks_run_on_the_loop_thread);
	tcase_add_test(tc, test_attach_sync_calls_from_another_thread_work);
	tcase_add_test(tc, test_attach_close_on_the_loop_ends_waiting_sync_calls);
	tcase_add_test(tc, test_attach_close_runs_queued_callbacks_and_refuses_new_ops);
	tcase_add_test(tc, test_attach_close_from_an_event_of_the_running_loop);
	tcase_add_test(tc, test_attach_close_from_another_thread_while_loop_runs);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(async_suite());
}
