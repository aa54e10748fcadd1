/*
 * In-process clusters for the tests: several dkv_t in one process, each
 * listening on 127.0.0.1 with a port of its own, the first one the seed
 * of the others; and waits on what they see (public API only).
 */
#ifndef DKV_TESTS_CLUSTERUTIL_H
#define DKV_TESTS_CLUSTERUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#define MAX_PEERS 16

struct cluster {
	int n;
	char *dirs[MAX_PEERS];
	dkv_t *db[MAX_PEERS];
	char seed[64];
};

uint64_t now_ms(void);
void pause_ms(unsigned ms);
/* Opens peer i (its own temporary data dir, or the one it had when it is
 * restarted after dkv_close with db[i] set to NULL) with these extra
 * settings (name, value pairs, NULL-terminated). The first peer started
 * becomes the seed. */
dkv_t *start_peer_with(struct cluster *c, int i, const char *cluster_name, ...) TU_SENTINEL;
dkv_t *start_peer(struct cluster *c, int i, const char *cluster_name);
void start_cluster(struct cluster *c, int n);
void stop_cluster(struct cluster *c);
/* Every peer of dbs lists `expect` peers, all UP with tokens, and they
 * agree on the ring; why says what is missing. */
bool converged(dkv_t **dbs, int n, size_t expect, char *why, size_t whylen);
void wait_converged(dkv_t **dbs, int n, size_t expect, unsigned seconds);
/* New options asking for consistency level l (dkv_opts_free them). */
dkv_opts_t *opts_at(dkv_consistency_t l);
/* Gossip rounds for tests: 200 ms, or the default 1 s under valgrind (a
 * slow loop must not look dead). */
const char *test_gossip_ms(void);
/* Cuts peer v off from every other peer (faults on both sides) and waits
 * until v sees them all DOWN: a read at ONE through v then reads its own
 * store only. */
void cut_off(struct cluster *c, int v);
/* Lifts what cut_off(c, v) set, and waits until every peer sees every
 * other UP (all of c's peers open). */
void heal(struct cluster *c, int v);
/* Waits until db sees peer id in state st (fails after seconds). */
void wait_state(dkv_t *db, const char *id, dkv_peer_state_t st, unsigned seconds);

#endif
