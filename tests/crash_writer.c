/*
 * crash_writer — the process tests/crash_procs.sh kills with SIGKILL, and
 * the one that checks afterwards that no acknowledged write was lost.
 *
 * A writer prints "ack I" for key I only after dkv_put has returned DKV_OK
 * for it (and flushes stdout at once), so the last "ack" line the script
 * finds after the kill bounds what the library promised to keep. The keys
 * are written in order and a key is never skipped, so "every key up to the
 * last ack" is exactly the set of acknowledged writes. Public API only.
 *
 *   crash_writer write DIR SYNC FIRST
 *       a peer alone on DIR with sync_writes = SYNC puts kFIRST, kFIRST+1,
 *       ... until it is killed; any failed put ends it with status 1.
 *   crash_writer check DIR FIRST LAST
 *       reopens DIR and checks that kFIRST ... kLAST hold their values.
 *   crash_writer cwrite SEEDS PEERS
 *       a client peer joins the cluster at SEEDS, waits until PEERS storage
 *       peers are up, then puts k0, k1, ... at ALL until it is killed. A put
 *       that fails is retried (same key, same value) and prints "fail I why".
 *   crash_writer cread SEEDS LAST
 *       a client peer reads k0 ... kLAST at ONE, retrying a read that finds
 *       too few live replicas or times out, for 20 s at most.
 *
 * Key I is "kI"; its value is "vI-" and a padding that depends on I, 100
 * bytes in all. Exit status: 0 when all is well, 1 on a missing or wrong
 * key (the first one is named) or any other failure, 2 on a usage error.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libdkv/dkv.h>

#define VALUE_BYTES 100
#define OP_TIMEOUT_MS 1000 /* per cluster request: fail fast once a peer dies */
#define RETRY_PAUSE_MS 20  /* between retries of a failed cluster request */
#define MEMBERSHIP_WAIT_MS 20000
#define READ_DEADLINE_MS 20000
#define WRONG_VALUE 1 /* verify(): the key reads, with another value */

static const char *me = "crash_writer";

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
pause_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static size_t
key_of(unsigned long i, char *buf, size_t size)
{
	return (size_t)snprintf(buf, size, "k%lu", i);
}

static size_t
value_of(unsigned long i, char *buf, size_t size)
{
	size_t len = (size_t)snprintf(buf, size, "v%lu-", i);

	for (; len < VALUE_BYTES && len + 1 < size; len++)
		buf[len] = (char)('a' + (i + len) % 26);
	buf[len] = '\0';
	return len;
}

static bool
parse_ulong(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && s[0] != '-';
}

/* Sets name = value, or says why not. */
static bool
config_set(dkv_config_t *cfg, const char *name, const char *value)
{
	int err = dkv_config_set(cfg, name, value);

	if (err != DKV_OK) {
		fprintf(stderr, "%s: %s = %s: %s: %s\n", me, name, value, dkv_strerror(err),
		        dkv_config_error(cfg));
		return false;
	}
	return true;
}

/* Opens a peer alone on dir (sync_writes = sync when sync is not NULL).
 * A 1 MiB write buffer makes LevelDB switch to a new log and write a
 * table every few thousand keys, so kills land in those steps too. */
static dkv_t *
open_alone(const char *dir, const char *sync)
{
	dkv_config_t *cfg = dkv_config_new();
	dkv_t *db = NULL;
	int err;

	if (cfg == NULL) {
		fprintf(stderr, "%s: out of memory\n", me);
		return NULL;
	}
	if (!config_set(cfg, "data_dir", dir) || !config_set(cfg, "write_buffer_mb", "1") ||
	    (sync != NULL && !config_set(cfg, "sync_writes", sync)))
		goto done;
	if ((err = dkv_open(cfg, &db)) != DKV_OK)
		fprintf(stderr, "%s: cannot open %s: %s: %s\n", me, dir, dkv_strerror(err),
		        dkv_config_error(cfg));
done:
	dkv_config_free(cfg);
	return db;
}

/* Opens a client peer of the cluster at seeds. */
static dkv_t *
open_client(const char *seeds)
{
	dkv_config_t *cfg = dkv_config_new();
	dkv_t *db = NULL;
	int err;

	if (cfg == NULL) {
		fprintf(stderr, "%s: out of memory\n", me);
		return NULL;
	}
	if (!config_set(cfg, "role", "client") || !config_set(cfg, "seeds", seeds) ||
	    !config_set(cfg, "listen", "127.0.0.1:0"))
		goto done;
	if ((err = dkv_open(cfg, &db)) != DKV_OK)
		fprintf(stderr, "%s: cannot join the cluster at %s: %s: %s\n", me, seeds,
		        dkv_strerror(err), dkv_config_error(cfg));
done:
	dkv_config_free(cfg);
	return db;
}

/* Storage peers (those that own tokens) this peer knows of, and how many
 * of them it judges up. */
static bool
count_storage(dkv_t *db, size_t *storage, size_t *up)
{
	dkv_peer_info_t *list;
	size_t n;

	if (dkv_peers(db, &list, &n) != DKV_OK)
		return false;
	*storage = *up = 0;
	for (size_t i = 0; i < n; i++) {
		if (list[i].tokens == 0)
			continue;
		(*storage)++;
		*up += list[i].state == DKV_PEER_UP;
	}
	dkv_peers_free(list, n);
	return true;
}

/* Waits until want storage peers are up (want > 0), or, with want == 0,
 * until some are up and what this peer knows has held still for 1.5 s
 * (gossip brings the peers that are down too, and they must not be taken
 * for up). */
static bool
wait_for_storage(dkv_t *db, size_t want)
{
	uint64_t end = now_ms() + MEMBERSHIP_WAIT_MS;
	size_t storage = 0, up = 0, last_storage = 0, last_up = 0;
	int stable = 0;

	while (now_ms() < end) {
		pause_ms(100);
		if (!count_storage(db, &storage, &up))
			return false;
		stable = storage == last_storage && up == last_up ? stable + 1 : 0;
		last_storage = storage;
		last_up = up;
		if (want > 0 ? up >= want : up > 0 && stable >= 15)
			return true;
	}
	fprintf(stderr,
	        "%s: after %d ms this peer knows %zu storage peers, %zu up; expected %s%zu up\n",
	        me, MEMBERSHIP_WAIT_MS, storage, up, want > 0 ? "" : "at least ",
	        want > 0 ? want : 1);
	return false;
}

/* Reads key i and compares it with its value: DKV_OK when it matches,
 * WRONG_VALUE (and why) when it does not, else the read's error. */
static int
verify(dkv_t *db, unsigned long i, const dkv_opts_t *o, char *why, size_t whylen)
{
	char key[32], want[VALUE_BYTES + 1];
	size_t klen = key_of(i, key, sizeof(key)), wlen = value_of(i, want, sizeof(want));
	dkv_result_t *res = NULL;
	const char *got;
	size_t glen;
	int err;

	if ((err = dkv_get(db, key, klen, &res, o)) != DKV_OK)
		return err;
	got = dkv_result_value(res, 0, &glen);
	if (dkv_result_count(res) != 1) {
		snprintf(why, whylen, "has %zu siblings, expected one value",
		         dkv_result_count(res));
		err = WRONG_VALUE;
	} else if (glen != wlen || memcmp(got, want, wlen) != 0) {
		snprintf(why, whylen, "holds '%.*s' (%zu bytes), expected '%s'",
		         (int)(glen < 40 ? glen : 40), got, glen, want);
		err = WRONG_VALUE;
	}
	dkv_result_free(res);
	return err;
}

/* Says what went wrong with key i, acknowledged up to last: a key that is
 * not found or holds another value was lost; another error is a failure
 * to read it, not a proof of loss. */
static void
report(long i, long last, const char *how, int err, const char *why)
{
	if (err == DKV_ENOTFOUND || err == WRONG_VALUE)
		fprintf(stderr, "%s: LOST: k%ld was acknowledged (last ack k%ld) but %s %s\n", me,
		        i, last, err == WRONG_VALUE ? why : "is not found", how);
	else
		fprintf(stderr, "%s: cannot read k%ld %s: %s\n", me, i, how, dkv_strerror(err));
}

static int
cmd_write(const char *dir, const char *sync, unsigned long first)
{
	char key[32], val[VALUE_BYTES + 1];
	dkv_t *db = open_alone(dir, sync);

	if (db == NULL)
		return 1;
	for (unsigned long i = first;; i++) {
		size_t klen = key_of(i, key, sizeof(key)), vlen = value_of(i, val, sizeof(val));
		int err = dkv_put(db, key, klen, val, vlen, NULL, NULL);

		if (err != DKV_OK) {
			fprintf(stderr, "%s: put %s: %s\n", me, key, dkv_strerror(err));
			dkv_close(db);
			return 1;
		}
		printf("ack %lu\n", i);
		fflush(stdout);
	}
}

static int
cmd_check(const char *dir, long first, long last)
{
	char why[160] = "";
	dkv_t *db = open_alone(dir, NULL);
	int err = DKV_OK;
	long i;

	if (db == NULL)
		return 1;
	for (i = first; i <= last; i++)
		if ((err = verify(db, (unsigned long)i, NULL, why, sizeof(why))) != DKV_OK)
			break;
	dkv_close(db);
	if (err != DKV_OK) {
		report(i, last, "after the reopen", err, why);
		return 1;
	}
	if (last < first)
		printf("nothing to check (no key acknowledged)\n");
	else
		printf("checked %ld keys (k%ld .. k%ld): all there\n", last - first + 1, first,
		       last);
	return 0;
}

static int
cmd_cwrite(const char *seeds, unsigned long peers)
{
	char key[32], val[VALUE_BYTES + 1];
	dkv_opts_t *o = dkv_opts_new();
	dkv_t *db = NULL;

	if (o == NULL || (db = open_client(seeds)) == NULL || !wait_for_storage(db, peers))
		goto fail;
	dkv_opts_set_consistency(o, DKV_ALL);
	dkv_opts_set_timeout_ms(o, OP_TIMEOUT_MS);
	printf("ready: %lu storage peers up\n", peers);
	fflush(stdout);
	for (unsigned long i = 0;;) {
		size_t klen = key_of(i, key, sizeof(key)), vlen = value_of(i, val, sizeof(val));
		int err = dkv_put(db, key, klen, val, vlen, NULL, o);

		if (err == DKV_OK) {
			printf("ack %lu\n", i++);
		} else {
			printf("fail %lu %s\n", i, dkv_strerror(err));
			pause_ms(RETRY_PAUSE_MS);
		}
		fflush(stdout);
	}
fail:
	dkv_close(db);
	dkv_opts_free(o);
	return 1;
}

static int
cmd_cread(const char *seeds, long last)
{
	char why[160] = "";
	dkv_opts_t *o = dkv_opts_new();
	dkv_t *db = NULL;
	unsigned retries = 0;
	uint64_t end;
	int err = DKV_OK;
	long i = 0;

	if (o == NULL || (db = open_client(seeds)) == NULL || !wait_for_storage(db, 0))
		goto fail;
	dkv_opts_set_consistency(o, DKV_ONE);
	dkv_opts_set_timeout_ms(o, OP_TIMEOUT_MS);
	end = now_ms() + READ_DEADLINE_MS;
	while (i <= last) {
		err = verify(db, (unsigned long)i, o, why, sizeof(why));
		if ((err == DKV_EUNAVAILABLE || err == DKV_ETIMEDOUT) && now_ms() < end) {
			retries++;
			pause_ms(RETRY_PAUSE_MS);
			continue;
		}
		if (err != DKV_OK)
			break;
		i++;
	}
	if (err != DKV_OK) {
		report(i, last, "at ONE", err, why);
		goto fail;
	}
	printf("checked %ld keys (k0 .. k%ld) at ONE: all there (%u reads retried)\n", last + 1,
	       last, retries);
	dkv_close(db);
	dkv_opts_free(o);
	return 0;
fail:
	dkv_close(db);
	dkv_opts_free(o);
	return 1;
}

static int
usage(void)
{
	fprintf(stderr,
	        "usage: %s write DIR SYNC FIRST\n"
	        "       %s check DIR FIRST LAST\n"
	        "       %s cwrite SEEDS PEERS\n"
	        "       %s cread SEEDS LAST\n"
	        "LAST below FIRST (or -1) means nothing to check.\n",
	        me, me, me, me);
	return 2;
}

/* A key number, or -1 (for LAST: nothing was acknowledged). */
static bool
parse_index(const char *s, long *out)
{
	unsigned long u;

	if (strcmp(s, "-1") == 0) {
		*out = -1;
		return true;
	}
	if (!parse_ulong(s, &u) || u > (unsigned long)(~0UL >> 2))
		return false;
	*out = (long)u;
	return true;
}

int
main(int argc, char **argv)
{
	unsigned long u;
	long first, last;

	if (argc != 5 && argc != 4)
		return usage();
	if (argc == 5 && strcmp(argv[1], "write") == 0) {
		if ((strcmp(argv[3], "0") != 0 && strcmp(argv[3], "1") != 0) ||
		    !parse_ulong(argv[4], &u))
			return usage();
		return cmd_write(argv[2], argv[3], u);
	}
	if (argc == 5 && strcmp(argv[1], "check") == 0 && parse_index(argv[3], &first) &&
	    first >= 0 && parse_index(argv[4], &last))
		return cmd_check(argv[2], first, last);
	if (argc == 4 && strcmp(argv[1], "cwrite") == 0 && parse_ulong(argv[3], &u) && u > 0)
		return cmd_cwrite(argv[2], u);
	if (argc == 4 && strcmp(argv[1], "cread") == 0 && parse_index(argv[3], &last))
		return cmd_cread(argv[2], last);
	return usage();
}
