/*
 * crash_writer — the process tests/crash_procs.sh kills with SIGKILL, and
 * the one that checks afterwards that no acknowledged write was lost; the
 * writers, the repairer and the checker of tests/nemesis_procs.sh too.
 *
 * A writer prints "ack I" for key I only after dkv_put has returned DKV_OK
 * for it (and flushes stdout at once), so the last "ack" line the script
 * finds after the kill bounds what the library promised to keep. write and
 * cwrite put the keys in order and never skip one, so "every key up to the
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
 *   crash_writer qwrite SEEDS LISTEN PEERS PREFIX
 *       a client peer listening on LISTEN joins the cluster at SEEDS, waits
 *       until PEERS storage peers are up, then puts PREFIX0, PREFIX1, ... at
 *       QUORUM until it is killed. A put that fails prints "fail I why" and
 *       is not retried: the writer goes on with the next key, so the "ack"
 *       lines, not a range, say which keys were acknowledged.
 *   crash_writer repair SEEDS LISTEN PEERS
 *       a client peer asks each storage peer in turn to run a repair pass
 *       (dkv_repair) and prints one line of counts for each ("repair ID at
 *       ADDR: ranges R, differing D, ..., failed F, T ms"); status 1 when a
 *       pass returned an error or fewer than PEERS storage peers are known.
 *   crash_writer qread SEEDS LISTEN PEERS one|quorum|all
 *       a client peer reads the keys of the "PREFIX I" lines on stdin at
 *       that level, retrying a read that finds too few live replicas or
 *       times out (5 s per key at most), and names the first ten keys that
 *       are missing, wrong or unreadable. A key may hold several siblings
 *       if each is its value (one write applied by two replicas).
 *
 * Key I is "kI" (PREFIXI for qwrite); its value is "vI-" ("vPREFIXI-") and
 * a padding that depends on I, 100 bytes in all. Exit status: 0 when all
 * is well, 1 on a missing or wrong key (the first one is named) or any
 * other failure, 2 on a usage error.
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
#define KEY_BYTES 48
#define WHY_BYTES 320  /* a message of verify() */
#define PREFIX_MAX 16  /* bytes of a qwrite prefix */
#define REPAIR_TRIES 5 /* of dkv_repair on a peer this client does not judge up */
#define REPAIR_RETRY_MS 500

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

/* Key I of a writer: PREFIX and I ("k" for the modes that write alone or
 * at ALL, one prefix per writer for qwrite). */
static size_t
key_of(const char *prefix, unsigned long i, char *buf, size_t size)
{
	return (size_t)snprintf(buf, size, "%s%lu", prefix, i);
}

/* The value of key I of prefix: "vI-" for kI (as before there were
 * prefixes), "vPREFIXI-" for the others, and a padding, 100 bytes in all. */
static size_t
value_of(const char *prefix, unsigned long i, char *buf, size_t size)
{
	size_t len =
	    (size_t)snprintf(buf, size, "v%s%lu-", strcmp(prefix, "k") == 0 ? "" : prefix, i);

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

/* Opens a client peer of the cluster at seeds, listening on listen (an
 * address the storage peers can reach it at, port 0 for any). */
static dkv_t *
open_client(const char *seeds, const char *listen)
{
	dkv_config_t *cfg = dkv_config_new();
	dkv_t *db = NULL;
	int err;

	if (cfg == NULL) {
		fprintf(stderr, "%s: out of memory\n", me);
		return NULL;
	}
	if (!config_set(cfg, "role", "client") || !config_set(cfg, "seeds", seeds) ||
	    !config_set(cfg, "listen", listen))
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

/* Reads key i of prefix and compares it with its value: DKV_OK when it
 * matches, WRONG_VALUE (and why) when it does not, else the read's error.
 * With siblings NULL the key must hold exactly one value; else it may
 * hold several siblings as long as each is that value (one write that two
 * appliers applied, see "The write path" in libdkv(7)), and *siblings
 * says how many it held. */
static int
verify(dkv_t *db, const char *prefix, unsigned long i, const dkv_opts_t *o, char *why,
       size_t whylen, size_t *siblings)
{
	char key[KEY_BYTES], want[VALUE_BYTES + 1];
	size_t klen = key_of(prefix, i, key, sizeof(key)),
	       wlen = value_of(prefix, i, want, sizeof(want));
	dkv_result_t *res = NULL;
	const char *got;
	size_t glen, count;
	int err;

	if ((err = dkv_get(db, key, klen, &res, o)) != DKV_OK)
		return err;
	count = dkv_result_count(res);
	if (siblings != NULL)
		*siblings = count;
	if (count != 1 && siblings == NULL) {
		snprintf(why, whylen, "has %zu siblings, expected one value", count);
		err = WRONG_VALUE;
	}
	for (size_t s = 0; s < count && err == DKV_OK; s++) {
		got = dkv_result_value(res, s, &glen);
		if (glen == wlen && memcmp(got, want, wlen) == 0)
			continue;
		if (count == 1)
			snprintf(why, whylen, "holds '%.*s' (%zu bytes), expected '%s'",
			         (int)(glen < 40 ? glen : 40), got, glen, want);
		else
			snprintf(why, whylen,
			         "has %zu siblings; sibling %zu holds '%.*s' (%zu bytes), "
			         "expected '%s'",
			         count, s, (int)(glen < 40 ? glen : 40), got, glen, want);
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
	char key[KEY_BYTES], val[VALUE_BYTES + 1];
	dkv_t *db = open_alone(dir, sync);

	if (db == NULL)
		return 1;
	for (unsigned long i = first;; i++) {
		size_t klen = key_of("k", i, key, sizeof(key)),
		       vlen = value_of("k", i, val, sizeof(val));
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
	char why[WHY_BYTES] = "";
	dkv_t *db = open_alone(dir, NULL);
	int err = DKV_OK;
	long i;

	if (db == NULL)
		return 1;
	for (i = first; i <= last; i++)
		if ((err = verify(db, "k", (unsigned long)i, NULL, why, sizeof(why), NULL)) !=
		    DKV_OK)
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
	char key[KEY_BYTES], val[VALUE_BYTES + 1];
	dkv_opts_t *o = dkv_opts_new();
	dkv_t *db = NULL;

	if (o == NULL || (db = open_client(seeds, "127.0.0.1:0")) == NULL ||
	    !wait_for_storage(db, peers))
		goto fail;
	dkv_opts_set_consistency(o, DKV_ALL);
	dkv_opts_set_timeout_ms(o, OP_TIMEOUT_MS);
	printf("ready: %lu storage peers up\n", peers);
	fflush(stdout);
	for (unsigned long i = 0;;) {
		size_t klen = key_of("k", i, key, sizeof(key)),
		       vlen = value_of("k", i, val, sizeof(val));
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
	char why[WHY_BYTES] = "";
	dkv_opts_t *o = dkv_opts_new();
	dkv_t *db = NULL;
	unsigned retries = 0;
	uint64_t end;
	int err = DKV_OK;
	long i = 0;

	if (o == NULL || (db = open_client(seeds, "127.0.0.1:0")) == NULL ||
	    !wait_for_storage(db, 0))
		goto fail;
	dkv_opts_set_consistency(o, DKV_ONE);
	dkv_opts_set_timeout_ms(o, OP_TIMEOUT_MS);
	end = now_ms() + READ_DEADLINE_MS;
	while (i <= last) {
		err = verify(db, "k", (unsigned long)i, o, why, sizeof(why), NULL);
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

/* Whether prefix may start qwrite's keys: 1 to PREFIX_MAX bytes with no
 * white space (qread reads "PREFIX I" lines) and no digit at the end
 * (PREFIX1 and 1 would otherwise be PREFIX and 11). */
static bool
valid_prefix(const char *prefix)
{
	size_t len = strlen(prefix);

	if (len == 0 || len > PREFIX_MAX || (prefix[len - 1] >= '0' && prefix[len - 1] <= '9'))
		return false;
	for (size_t k = 0; k < len; k++)
		if (prefix[k] <= ' ' || prefix[k] > '~')
			return false;
	return true;
}

static int
cmd_qwrite(const char *seeds, const char *listen, unsigned long peers, const char *prefix)
{
	char key[KEY_BYTES], val[VALUE_BYTES + 1];
	dkv_opts_t *o = dkv_opts_new();
	dkv_t *db = NULL;

	if (o == NULL || (db = open_client(seeds, listen)) == NULL || !wait_for_storage(db, peers))
		goto fail;
	dkv_opts_set_consistency(o, DKV_QUORUM);
	dkv_opts_set_timeout_ms(o, OP_TIMEOUT_MS);
	printf("ready: %lu storage peers up\n", peers);
	fflush(stdout);
	for (unsigned long i = 0;; i++) {
		size_t klen = key_of(prefix, i, key, sizeof(key)),
		       vlen = value_of(prefix, i, val, sizeof(val));
		int err = dkv_put(db, key, klen, val, vlen, NULL, o);

		if (err == DKV_OK) {
			printf("ack %lu\n", i);
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

/* Copies the ids and addresses of the storage peers db knows into ids and
 * addrs (at most max; NULL when out of memory) and returns how many. */
static size_t
storage_peers(dkv_t *db, char **ids, char **addrs, size_t max)
{
	dkv_peer_info_t *list;
	size_t n, count = 0;

	if (dkv_peers(db, &list, &n) != DKV_OK)
		return 0;
	for (size_t i = 0; i < n && count < max; i++) {
		if (list[i].tokens == 0)
			continue;
		ids[count] = strdup(list[i].id);
		addrs[count] = strdup(list[i].addr);
		count++;
	}
	dkv_peers_free(list, n);
	return count;
}

static int
cmd_repair(const char *seeds, const char *listen, unsigned long peers)
{
	enum { MAX_PEERS = 64 };
	char *ids[MAX_PEERS] = {NULL}, *addrs[MAX_PEERS] = {NULL};
	dkv_t *db = NULL;
	size_t count = 0, failed = 0;
	uint64_t start = now_ms();
	int status = 1;

	if ((db = open_client(seeds, listen)) == NULL || !wait_for_storage(db, peers))
		goto done;
	count = storage_peers(db, ids, addrs, MAX_PEERS);
	for (size_t i = 0; i < count; i++) {
		dkv_repair_report_t rep;
		uint64_t t0 = now_ms();
		int err = DKV_ENOMEM;

		for (int try = 0; ids[i] != NULL && addrs[i] != NULL && try < REPAIR_TRIES; try++) {
			if (try > 0)
				pause_ms(REPAIR_RETRY_MS);
			err = dkv_repair(db, ids[i], &rep);
			if (err != DKV_EUNAVAILABLE)
				break;
		}
		if (err != DKV_OK) {
			printf("repair %s at %s: error: %s\n", ids[i] ? ids[i] : "?",
			       addrs[i] ? addrs[i] : "?", dkv_strerror(err));
			failed++;
			continue;
		}
		printf("repair %s at %s: ranges %llu, differing %llu, keys compared %llu, "
		       "repaired %llu, failed %llu, %llu ms\n",
		       ids[i], addrs[i], (unsigned long long)rep.ranges,
		       (unsigned long long)rep.ranges_differing,
		       (unsigned long long)rep.keys_compared, (unsigned long long)rep.keys_repaired,
		       (unsigned long long)rep.failed, (unsigned long long)(now_ms() - t0));
		fflush(stdout);
	}
	if (count < peers)
		fprintf(stderr, "%s: this client lists %zu storage peers, expected %lu\n", me,
		        count, peers);
	else if (failed == 0)
		status = 0;
	printf("repair passes of %zu storage peers: %zu errors, %llu ms\n", count, failed,
	       (unsigned long long)(now_ms() - start));
done:
	for (size_t i = 0; i < count; i++) {
		free(ids[i]);
		free(addrs[i]);
	}
	dkv_close(db);
	return status;
}

/* Reads "PREFIX I" lines from stdin into *prefixes and *numbers (the
 * caller frees both); false on a bad line or out of memory. */
static bool
read_keys(char (**prefixes)[PREFIX_MAX + 1], unsigned long **numbers, size_t *count)
{
	char line[128], prefix[PREFIX_MAX + 1];
	size_t cap = 0, lineno = 0;
	unsigned long i;
	char extra;

	*prefixes = NULL;
	*numbers = NULL;
	*count = 0;
	while (fgets(line, sizeof(line), stdin) != NULL) {
		lineno++;
		if (sscanf(line, "%16s %lu %c", prefix, &i, &extra) != 2 || !valid_prefix(prefix)) {
			fprintf(stderr, "%s: stdin line %zu: expected 'PREFIX I'\n", me, lineno);
			return false;
		}
		if (*count == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			char(*np)[PREFIX_MAX + 1] = realloc(*prefixes, ncap * sizeof(**prefixes));
			unsigned long *nn;

			if (np == NULL)
				goto nomem;
			*prefixes = np;
			if ((nn = realloc(*numbers, ncap * sizeof(**numbers))) == NULL)
				goto nomem;
			*numbers = nn;
			cap = ncap;
		}
		memcpy((*prefixes)[*count], prefix, sizeof(prefix));
		(*numbers)[*count] = i;
		(*count)++;
	}
	return true;
nomem:
	fprintf(stderr, "%s: out of memory\n", me);
	return false;
}

static bool
parse_level(const char *s, dkv_consistency_t *out)
{
	if (strcmp(s, "one") == 0)
		*out = DKV_ONE;
	else if (strcmp(s, "quorum") == 0)
		*out = DKV_QUORUM;
	else if (strcmp(s, "all") == 0)
		*out = DKV_ALL;
	else
		return false;
	return true;
}

static int
cmd_qread(const char *seeds, const char *listen, unsigned long peers, const char *level)
{
	enum { SHOWN = 10 };
	char(*prefixes)[PREFIX_MAX + 1] = NULL;
	unsigned long *numbers = NULL;
	size_t count = 0, lost = 0, unreadable = 0, doubled = 0, retries = 0;
	dkv_consistency_t c = DKV_ALL;
	dkv_opts_t *o = NULL;
	dkv_t *db = NULL;
	int status = 1;

	parse_level(level, &c);
	if (!read_keys(&prefixes, &numbers, &count) || (o = dkv_opts_new()) == NULL ||
	    (db = open_client(seeds, listen)) == NULL || !wait_for_storage(db, peers))
		goto done;
	dkv_opts_set_consistency(o, c);
	dkv_opts_set_timeout_ms(o, 2 * OP_TIMEOUT_MS);
	for (size_t k = 0; k < count; k++) {
		uint64_t end = now_ms() + READ_DEADLINE_MS / 4;
		char why[WHY_BYTES] = "";
		size_t siblings = 1;
		int err;

		while ((err = verify(db, prefixes[k], numbers[k], o, why, sizeof(why),
		                     &siblings)) == DKV_EUNAVAILABLE ||
		       err == DKV_ETIMEDOUT) {
			if (now_ms() >= end)
				break;
			retries++;
			pause_ms(RETRY_PAUSE_MS);
		}
		if (err == DKV_OK) {
			doubled += siblings > 1;
			continue;
		}
		if (err == DKV_ENOTFOUND || err == WRONG_VALUE)
			lost++;
		else
			unreadable++;
		if (lost + unreadable > SHOWN)
			continue;
		if (err == DKV_ENOTFOUND)
			fprintf(stderr, "%s: LOST: %s%lu was acknowledged but is not found at %s\n",
			        me, prefixes[k], numbers[k], level);
		else if (err == WRONG_VALUE)
			fprintf(stderr, "%s: LOST: %s%lu was acknowledged but %s at %s\n", me,
			        prefixes[k], numbers[k], why, level);
		else
			fprintf(stderr, "%s: cannot read %s%lu at %s: %s\n", me, prefixes[k],
			        numbers[k], level, dkv_strerror(err));
	}
	if (lost + unreadable > SHOWN)
		fprintf(stderr, "%s: ... and %zu more\n", me, lost + unreadable - SHOWN);
	printf("checked %zu acknowledged keys at %s: %zu lost, %zu unreadable; %zu held the "
	       "value twice or more as siblings; %zu reads retried\n",
	       count, level, lost, unreadable, doubled, retries);
	if (lost == 0 && unreadable == 0)
		status = 0;
done:
	dkv_close(db);
	dkv_opts_free(o);
	free(prefixes);
	free(numbers);
	return status;
}

static int
usage(void)
{
	fprintf(stderr,
	        "usage: %s write DIR SYNC FIRST\n"
	        "       %s check DIR FIRST LAST\n"
	        "       %s cwrite SEEDS PEERS\n"
	        "       %s cread SEEDS LAST\n"
	        "       %s qwrite SEEDS LISTEN PEERS PREFIX\n"
	        "       %s repair SEEDS LISTEN PEERS\n"
	        "       %s qread SEEDS LISTEN PEERS one|quorum|all < 'PREFIX I' lines\n"
	        "LAST below FIRST (or -1) means nothing to check.\n",
	        me, me, me, me, me, me, me);
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

	dkv_consistency_t level;

	if (argc == 6 && strcmp(argv[1], "qwrite") == 0 && parse_ulong(argv[4], &u) && u > 0 &&
	    valid_prefix(argv[5]))
		return cmd_qwrite(argv[2], argv[3], u, argv[5]);
	if (argc == 5 && strcmp(argv[1], "repair") == 0 && parse_ulong(argv[4], &u) && u > 0)
		return cmd_repair(argv[2], argv[3], u);
	if (argc == 6 && strcmp(argv[1], "qread") == 0 && parse_ulong(argv[4], &u) && u > 0 &&
	    parse_level(argv[5], &level))
		return cmd_qread(argv[2], argv[3], u, argv[5]);
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
