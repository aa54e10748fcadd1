/* In-process clusters for the tests (see clusterutil.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clusterutil.h"



uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
pause_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static dkv_t *
start_peer_va(struct cluster *c, int i, const char *cluster_name, va_list ap)
{
	dkv_config_t *cfg;
	dkv_t *db = NULL;
	const char *name;
	int err;

	if (c->dirs[i] == NULL)
		c->dirs[i] = tu_tempdir(); /* else a restart, in the same dir */
	cfg = tu_config(c->dirs[i], "listen", "127.0.0.1:0", "vnodes", "16", "cluster_name",
	                cluster_name, "log_level", "error", NULL);
	if (c->seed[0] != '\0')
		ck_assert_int_eq(dkv_config_set(cfg, "seeds", c->seed), DKV_OK);
	while ((name = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);

		ck_assert_msg(dkv_config_set(cfg, name, value) == DKV_OK, "set %s=%s: %s", name, value,
		              dkv_config_error(cfg));
	}
	err = dkv_open(cfg, &db);
	ck_assert_msg(err == DKV_OK, "open peer %d: %s: %s", i, dkv_strerror(err), dkv_config_error(cfg));
	dkv_config_free(cfg);
	if (c->seed[0] == '\0') {
		dkv_peer_info_t *l;
		size_t n;

		ck_assert_int_eq(dkv_peers(db, &l, &n), DKV_OK);
		snprintf(c->seed, sizeof(c->seed), "%s", l[0].addr);
		dkv_peers_free(l, n);
	}
	c->db[i] = db;
	return db;
}

dkv_t *
start_peer_with(struct cluster *c, int i, const char *cluster_name, ...)
{
	va_list ap;
	dkv_t *db;

	va_start(ap, cluster_name);
	db = start_peer_va(c, i, cluster_name, ap);
	va_end(ap);
	return db;
}

dkv_t *
start_peer(struct cluster *c, int i, const char *cluster_name)
{
	return start_peer_with(c, i, cluster_name, NULL);
}

void
start_cluster(struct cluster *c, int n)
{
	memset(c, 0, sizeof(*c));
	c->n = n;
	for (int i = 0; i < n; i++)
		start_peer(c, i, "test");
}

void
stop_cluster(struct cluster *c)
{
	for (int i = c->n - 1; i >= 0; i--) {
		dkv_close(c->db[i]);
		tu_rmtree(c->dirs[i]);
		free(c->dirs[i]);
	}
}

/* Every peer in want[] lists exactly `expect` peers, all UP with tokens,
 * and all of them agree on every peer's ownership (the same ring). */
bool
converged(dkv_t **dbs, int n, size_t expect, char *why, size_t whylen)
{
	char ids[MAX_PEERS][80];
	double own[MAX_PEERS];
	size_t first_n = 0;

	for (int i = 0; i < n; i++) {
		dkv_peer_info_t *l;
		size_t cnt;

		if (dkv_peers(dbs[i], &l, &cnt) != DKV_OK)
			return false;
		if (cnt != expect) {
			snprintf(why, whylen, "peer %d lists %zu peers, expected %zu", i, cnt, expect);
			dkv_peers_free(l, cnt);
			return false;
		}
		for (size_t k = 0; k < cnt; k++) {
			if (l[k].state != DKV_PEER_UP || l[k].tokens == 0) {
				snprintf(why, whylen, "peer %d sees %s in state %d with %u tokens", i,
				         l[k].id, (int)l[k].state, l[k].tokens);
				dkv_peers_free(l, cnt);
				return false;
			}
			if (i == 0) {
				snprintf(ids[k], sizeof(ids[k]), "%s", l[k].id);
				own[k] = l[k].ownership;
				first_n = cnt;
				continue;
			}
			for (size_t j = 0; j < first_n; j++)
				if (strcmp(ids[j], l[k].id) == 0 && own[j] != l[k].ownership) {
					snprintf(why, whylen, "peers 0 and %d disagree on %s's ownership (%f vs %f)",
					         i, l[k].id, own[j], l[k].ownership);
					dkv_peers_free(l, cnt);
					return false;
				}
		}
		dkv_peers_free(l, cnt);
	}
	return true;
}

void
wait_converged(dkv_t **dbs, int n, size_t expect, unsigned seconds)
{
	uint64_t start = now_ms(), deadline = start + seconds * 1000u;
	char why[200] = "";

	while (!converged(dbs, n, expect, why, sizeof(why))) {
		if (now_ms() >= deadline)
			for (int i = 0; i < n; i++) {
				dkv_peer_info_t *l;
				size_t cnt;

				if (dkv_peers(dbs[i], &l, &cnt) != DKV_OK)
					continue;
				for (size_t k = 0; k < cnt; k++)
					printf("peer %d sees %s at %s: state %d, %u tokens\n", i, l[k].id,
					       l[k].addr, (int)l[k].state, (unsigned)l[k].tokens);
				dkv_peers_free(l, cnt);
			}
		fflush(stdout);
		ck_assert_msg(now_ms() < deadline, "not converged after %u s: %s", seconds, why);
		pause_ms(50);
	}
	printf("%d peers converged in %.1f s\n", n, (double)(now_ms() - start) / 1000.0);
}


/* Waits until db sees peer id in state st. */
void
wait_state(dkv_t *db, const char *id, dkv_peer_state_t st, unsigned seconds)
{
	uint64_t deadline = now_ms() + seconds * 1000u;

	for (;;) {
		dkv_peer_info_t *l;
		size_t cnt;
		bool ok = false;

		ck_assert_int_eq(dkv_peers(db, &l, &cnt), DKV_OK);
		for (size_t k = 0; k < cnt; k++)
			if (strcmp(l[k].id, id) == 0)
				ok = l[k].state == st;
		dkv_peers_free(l, cnt);
		if (ok)
			return;
		ck_assert_msg(now_ms() < deadline, "peer %s not in state %d after %u s", id, (int)st, seconds);
		pause_ms(50);
	}
}

dkv_opts_t *
opts_at(dkv_consistency_t l)
{
	dkv_opts_t *o = dkv_opts_new();

	ck_assert_ptr_nonnull(o);
	dkv_opts_set_consistency(o, l);
	return o;
}

const char *
test_gossip_ms(void)
{
	return tu_under_valgrind() ? "1000" : "200";
}

/* Sets flags on the link from v to every other open peer and back. */
static void
fault_both_ways(struct cluster *c, int v, unsigned flags)
{
	char *id = tu_self_id(c->db[v]);

	for (int i = 0; i < c->n; i++) {
		char *other;

		if (i == v || c->db[i] == NULL)
			continue;
		other = tu_self_id(c->db[i]);
		ck_assert_int_eq(dkv_debug_fault(c->db[v], other, flags, 0), DKV_OK);
		ck_assert_int_eq(dkv_debug_fault(c->db[i], id, flags, 0), DKV_OK);
		if (flags != 0)
			wait_state(c->db[v], other, DKV_PEER_DOWN, 20);
		free(other);
	}
	free(id);
}

void
cut_off(struct cluster *c, int v)
{
	fault_both_ways(c, v, DKV_FAULT_DROP);
}

void
heal(struct cluster *c, int v)
{
	fault_both_ways(c, v, 0);
	wait_converged(c->db, c->n, (size_t)c->n, 30);
}
