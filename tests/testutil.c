/*
 * Helpers shared by the public-API tests (see testutil.h). They use only
 * the public header, like an application would.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

char *tu_dir;
dkv_t *tu_db;
/* Made by the parent for a whole test case (an unchecked fixture), so it
 * is removed even when a forked test dies before its own teardown. */
static char *tu_base;

bool
tu_under_valgrind(void)
{
	const char *v = getenv("DKV_TEST_VALGRIND");

	return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

unsigned
tu_scale(unsigned normal, unsigned under_valgrind)
{
	return tu_under_valgrind() ? under_valgrind : normal;
}

char *
tu_tempdir(void)
{
	const char *tmp = tu_base != NULL ? tu_base : getenv("TMPDIR");
	char *path;
	size_t n;

	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	n = strlen(tmp) + sizeof("/dkv-api-XXXXXX");
	path = malloc(n);
	ck_assert_ptr_nonnull(path);
	snprintf(path, n, "%s/dkv-api-XXXXXX", tmp);
	ck_assert_msg(mkdtemp(path) != NULL, "mkdtemp(%s): %s", path, strerror(errno));
	return path;
}

static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		fprintf(stderr, "cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

void
tu_rmtree(const char *path)
{
	if (path != NULL)
		nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static dkv_config_t *
config_va(const char *dir, va_list ap)
{
	dkv_config_t *cfg = dkv_config_new();
	const char *name;

	ck_assert_ptr_nonnull(cfg);
	if (dir != NULL)
		ck_assert_msg(dkv_config_set(cfg, "data_dir", dir) == DKV_OK,
		              "data_dir = %s: %s", dir, dkv_config_error(cfg));
	while ((name = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);
		int err = dkv_config_set(cfg, name, value);

		ck_assert_msg(err == DKV_OK, "%s = %s: expected DKV_OK, got %d (%s)",
		              name, value, err, dkv_config_error(cfg));
	}
	return cfg;
}

dkv_config_t *
tu_config(const char *dir, ...)
{
	dkv_config_t *cfg;
	va_list ap;

	va_start(ap, dir);
	cfg = config_va(dir, ap);
	va_end(ap);
	return cfg;
}

dkv_t *
tu_open(const char *dir, ...)
{
	dkv_config_t *cfg;
	dkv_t *db = NULL;
	va_list ap;
	int err;

	va_start(ap, dir);
	cfg = config_va(dir, ap);
	va_end(ap);
	err = dkv_open(cfg, &db);
	ck_assert_msg(err == DKV_OK, "dkv_open on %s: expected DKV_OK, got %d (%s): %s",
	              dir ? dir : "(no data_dir)", err, dkv_strerror(err),
	              dkv_config_error(cfg));
	ck_assert_ptr_nonnull(db);
	dkv_config_free(cfg);
	return db;
}

void
tu_setup_dir(void)
{
	tu_dir = tu_tempdir();
	tu_db = NULL;
}

void
tu_teardown_dir(void)
{
	dkv_close(tu_db);
	tu_db = NULL;
	tu_rmtree(tu_dir);
	free(tu_dir);
	tu_dir = NULL;
}

static void
setup_base(void)
{
	tu_base = NULL;
	tu_base = tu_tempdir();
}

static void
teardown_base(void)
{
	tu_rmtree(tu_base);
	free(tu_base);
	tu_base = NULL;
}

void
tu_tcase_setup(TCase *tc, bool open_db)
{
	tcase_set_timeout(tc, TU_TIMEOUT_S);
	tcase_add_unchecked_fixture(tc, setup_base, teardown_base);
	if (open_db)
		tcase_add_checked_fixture(tc, tu_setup_db, tu_teardown_db);
	else
		tcase_add_checked_fixture(tc, tu_setup_dir, tu_teardown_dir);
}

void
tu_setup_db(void)
{
	tu_setup_dir();
	tu_db = tu_open(tu_dir, NULL);
}

void
tu_teardown_db(void)
{
	tu_teardown_dir();
}

void
tu_put(dkv_t *db, const char *key, const char *val)
{
	int err = dkv_put(db, key, strlen(key), val, strlen(val), NULL, NULL);

	ck_assert_msg(err == DKV_OK, "put %s = %s: expected DKV_OK, got %d (%s)", key,
	              val, err, dkv_strerror(err));
}

static void
append_escaped(char *out, size_t size, size_t *used, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len && *used + 5 < size; i++) {
		int n;

		if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\')
			n = snprintf(out + *used, size - *used, "%c", b[i]);
		else
			n = snprintf(out + *used, size - *used, "\\x%02x", b[i]);
		*used += (size_t)n;
	}
}

const char *
tu_result_text(const dkv_result_t *res)
{
	static char buf[1024];
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < dkv_result_count(res) && used + 8 < sizeof(buf); i++) {
		size_t vlen;
		const void *v = dkv_result_value(res, i, &vlen);

		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s\"", i ? ", " : "");
		append_escaped(buf, sizeof(buf), &used, v, vlen < 64 ? vlen : 64);
		if (used + 2 < sizeof(buf))
			used += (size_t)snprintf(buf + used, sizeof(buf) - used, "\"");
	}
	return buf;
}

bool
tu_result_has(const dkv_result_t *res, const void *val, size_t vlen)
{
	for (size_t i = 0; i < dkv_result_count(res); i++) {
		size_t len;
		const void *v = dkv_result_value(res, i, &len);

		if (v != NULL && len == vlen && (vlen == 0 || memcmp(v, val, vlen) == 0))
			return true;
	}
	return false;
}

void
tu_expect_value(dkv_t *db, const void *key, size_t klen, const void *val, size_t vlen)
{
	dkv_result_t *res = NULL;
	char want[256];
	size_t used = 0;
	int err = dkv_get(db, key, klen, &res, NULL);

	want[0] = '\0';
	append_escaped(want, sizeof(want), &used, val, vlen < 64 ? vlen : 64);
	ck_assert_msg(err == DKV_OK, "get: expected DKV_OK with \"%s\", got %d (%s)", want,
	              err, dkv_strerror(err));
	ck_assert_ptr_nonnull(res);
	ck_assert_msg(dkv_result_count(res) == 1 && tu_result_has(res, val, vlen),
	              "get: expected exactly \"%s\" (%zu bytes), saw %zu value(s): %s", want,
	              vlen, dkv_result_count(res), tu_result_text(res));
	dkv_result_free(res);
}

void
tu_expect_str(dkv_t *db, const char *key, const char *val)
{
	tu_expect_value(db, key, strlen(key), val, strlen(val));
}

void
tu_expect_missing(dkv_t *db, const void *key, size_t klen)
{
	dkv_result_t *res = NULL;
	int err = dkv_get(db, key, klen, &res, NULL);

	ck_assert_msg(err == DKV_ENOTFOUND, "get: expected DKV_ENOTFOUND, got %d (%s)%s%s",
	              err, dkv_strerror(err), res ? " with values " : "",
	              res ? tu_result_text(res) : "");
	ck_assert_msg(res == NULL, "get: DKV_ENOTFOUND must leave *res NULL");
}

struct stat_lookup {
	const char *name;
	double value;
};

static void
stat_cb(const char *name, double value, void *arg)
{
	struct stat_lookup *l = arg;

	if (strcmp(name, l->name) == 0)
		l->value = value;
}

double
tu_stat(dkv_t *db, const char *name)
{
	struct stat_lookup l = {name, -1};
	int err = dkv_stats(db, stat_cb, &l);

	ck_assert_msg(err == DKV_OK, "dkv_stats: expected DKV_OK, got %d", err);
	return l.value;
}

char *
tu_self_id(dkv_t *db)
{
	dkv_peer_info_t *list = NULL;
	size_t count = 0;
	char *id;
	int err = dkv_peers(db, &list, &count);

	ck_assert_msg(err == DKV_OK, "dkv_peers: expected DKV_OK, got %d", err);
	ck_assert_msg(count >= 1 && list != NULL, "dkv_peers: expected self, got %zu peers",
	              count);
	ck_assert_ptr_nonnull(list[0].id);
	id = strdup(list[0].id);
	ck_assert_ptr_nonnull(id);
	dkv_peers_free(list, count);
	return id;
}

uint64_t
tu_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

struct timespec
tu_deadline(unsigned seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)seconds;
	return ts;
}

void
tu_counter_init(struct tu_counter *c)
{
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->value = 0;
}

void
tu_counter_destroy(struct tu_counter *c)
{
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
}

void
tu_counter_add(struct tu_counter *c, unsigned long n)
{
	pthread_mutex_lock(&c->lock);
	c->value += n;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

unsigned long
tu_counter_get(struct tu_counter *c)
{
	unsigned long v;

	pthread_mutex_lock(&c->lock);
	v = c->value;
	pthread_mutex_unlock(&c->lock);
	return v;
}

unsigned long
tu_counter_wait(struct tu_counter *c, unsigned long target, unsigned seconds)
{
	struct timespec until = tu_deadline(seconds);
	unsigned long v;

	pthread_mutex_lock(&c->lock);
	while (c->value < target) {
		if (pthread_cond_timedwait(&c->cond, &c->lock, &until) == ETIMEDOUT)
			break;
	}
	v = c->value;
	pthread_mutex_unlock(&c->lock);
	return v;
}

int
tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
