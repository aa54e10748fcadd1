/*
 * Helpers shared by the public-API tests (tests/check_api.c and friends).
 *
 * These tests link only the shared library, so everything here goes through
 * dkv.h: a fresh data directory per test (mkdtemp, removed with nftw), an
 * open helper that takes "name", "value" pairs, value assertions that say
 * what was expected and what was seen, and a deadline for condition waits
 * (tests never sleep to wait for correctness).
 */
#ifndef DKV_TESTS_TESTUTIL_H
#define DKV_TESTS_TESTUTIL_H

#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libdkv/dkv.h>

#if defined(__GNUC__) || defined(__clang__)
#define TU_SENTINEL __attribute__((sentinel))
#else
#define TU_SENTINEL
#endif

/* Hang guard for every test case; never a speed assertion. */
#define TU_TIMEOUT_S 120
/* How long a condition wait may take before the test fails. */
#define TU_WAIT_S 60

/* DKV_TEST_VALGRIND is set by `make check-valgrind`: loops shrink to keep
 * each program under about a minute there. */
bool tu_under_valgrind(void);
unsigned tu_scale(unsigned normal, unsigned under_valgrind);

/* A new empty directory under the test case's directory (see
 * tu_tcase_setup), else under $TMPDIR or /tmp; free() the path. */
char *tu_tempdir(void);
/* Removes path and everything below it; a missing path is fine. */
void tu_rmtree(const char *path);

/* A configuration with data_dir = dir (when dir is not NULL) and then each
 * name/value pair; the list ends with NULL. Fails the test if a set fails. */
dkv_config_t *tu_config(const char *dir, ...) TU_SENTINEL;
/* dkv_open with such a configuration; fails the test if it fails. */
dkv_t *tu_open(const char *dir, ...) TU_SENTINEL;

/* Checked fixture: tu_dir is a fresh directory and tu_db a peer open on it
 * with the defaults (tu_setup_db) or NULL (tu_setup_dir). Teardown closes
 * the peer (if still open) and removes the directory. */
extern char *tu_dir;
extern dkv_t *tu_db;
void tu_setup_dir(void);
void tu_teardown_dir(void);
void tu_setup_db(void);
void tu_teardown_db(void);
/* The timeout (a hang guard) and fixtures of a test case: a directory made
 * per test case by the parent process, holding each test's tu_dir, so that
 * nothing is left behind when a forked test fails; open_db picks
 * tu_setup_db over tu_setup_dir. */
void tu_tcase_setup(TCase *tc, bool open_db);

/* Sync put of a NUL-terminated key and value (blind); fails on error. */
void tu_put(dkv_t *db, const char *key, const char *val);
/* key holds exactly one value, equal to val/vlen. */
void tu_expect_value(dkv_t *db, const void *key, size_t klen, const void *val,
                     size_t vlen);
void tu_expect_str(dkv_t *db, const char *key, const char *val);
/* key has no live value: DKV_ENOTFOUND and a NULL result. */
void tu_expect_missing(dkv_t *db, const void *key, size_t klen);
/* Whether some sibling of res equals val/vlen. */
bool tu_result_has(const dkv_result_t *res, const void *val, size_t vlen);
/* The siblings of res as text for failure messages, in a static buffer. */
const char *tu_result_text(const dkv_result_t *res);

/* The value of statistic name, or -1 when dkv_stats does not report it. */
double tu_stat(dkv_t *db, const char *name);
/* The id of this peer (dkv_peers, first entry); free() it. */
char *tu_self_id(dkv_t *db);

/* Deterministic per seed (xorshift64*), so a failure replays. */
uint64_t tu_rand(uint64_t *state);

/* An absolute CLOCK_REALTIME time `seconds` from now, for
 * pthread_cond_timedwait. */
struct timespec tu_deadline(unsigned seconds);

/* A counter that threads bump and one thread waits on, with a deadline. */
struct tu_counter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long value;
};
void tu_counter_init(struct tu_counter *c);
void tu_counter_destroy(struct tu_counter *c);
void tu_counter_add(struct tu_counter *c, unsigned long n);
unsigned long tu_counter_get(struct tu_counter *c);
/* Waits until value >= target or the deadline passes; returns the value
 * seen last (the caller asserts on it, naming expected and seen). */
unsigned long tu_counter_wait(struct tu_counter *c, unsigned long target,
                              unsigned seconds);

/* Runs the suite (CK_VERBOSITY respected); the process exit status. */
int tu_run(Suite *s);

#endif
