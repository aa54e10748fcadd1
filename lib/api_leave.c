/*
 * Leaving the ring for good: dkv_decommission (this peer) and
 * dkv_decommission_peer (any storage peer, asked by LEAVE). Both start the
 * leave on the loop thread, then watch the peer's gossiped status from
 * the calling thread until it is LEFT: its ranges are handed over
 * (moves.h) by then.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "core/wire.h"
#include "dkv_internal.h"
#include "moves_io.h"
#include "repl.h"
#include "util/clock.h"

#define WATCH_MS 50
#define ASK_AGAIN_MS 2000 /* a LEAVE not yet acted on is sent again */
/* A peer that has left stops soon after (dkv serve does): it may be seen
 * DOWN before its LEFT state has come round by gossip. */
#define LEFT_NEWS_MS 10000

/* One remote ask at a time: the moves keep one LEAVE sid and answer. */
static pthread_mutex_t ask_lock = PTHREAD_MUTEX_INITIALIZER;

struct leave_call {
	struct dkv *db;
	const char *peer; /* NULL: this peer */
	int err;
};

static void
leave_on_loop(void *arg)
{
	struct leave_call *lc = arg;

	lc->err = lc->peer == NULL ? cluster_leave(lc->db->cluster)
	                           : cluster_ask_leave(lc->db->cluster, lc->peer);
}

static void
ask_result_on_loop(void *arg)
{
	struct leave_call *lc = arg;

	lc->err = moves_io_ask_result(repl_moves(lc->db->repl));
}

static void
nap(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Waits until the peer is LEFT; another peer's refusal or a stop before
 * then ends the wait with an error. */
static int
watch(struct dkv *db, const char *peer)
{
	struct leave_call lc = {db, peer, DKV_OK};
	uint64_t asked = clock_mono_ms(), down_since = 0;

	for (;;) {
		uint8_t status;
		bool up;
		int err;

		if (atomic_load(&db->closed))
			return DKV_ECLOSED;
		err = cluster_peer_status(db->cluster, peer, &status, &up);
		if (err != DKV_OK)
			return err;
		if (status == STATUS_LEFT) {
			/* this peer: let gossip tell the others before the caller
			 * closes it, so nobody counts on it as a replica */
			if (peer == NULL) {
				unsigned settle = 4u * db->s.gossip_interval_ms;

				nap(settle > 1000 ? settle : 1000);
			}
			return DKV_OK;
		}
		if (peer != NULL) {
			if (!up && down_since == 0)
				down_since = clock_mono_ms();
			if (up)
				down_since = 0;
			if (down_since != 0 && clock_mono_ms() - down_since > LEFT_NEWS_MS)
				return DKV_EUNAVAILABLE; /* it stopped before it had left */
			loop_call(db->loop, ask_result_on_loop, &lc);
			if (lc.err != 1 && lc.err != DKV_OK)
				return lc.err; /* it refused */
			if (up && status == STATUS_NORMAL && clock_mono_ms() - asked >= ASK_AGAIN_MS) {
				loop_call(db->loop, leave_on_loop, &lc);
				if (lc.err != DKV_OK)
					return lc.err;
				asked = clock_mono_ms();
			}
		}
		nap(WATCH_MS);
	}
}

int
dkv_decommission_peer(dkv_t *db, const char *peer_id)
{
	struct leave_call lc;
	int err;

	if (db == NULL || (peer_id != NULL && peer_id[0] == '\0'))
		return DKV_EINVAL;
	if (loop_on_thread(db->loop))
		return DKV_EDEADLK;
	if ((err = api_enter(db)) != DKV_OK)
		return err;
	if (db->cluster == NULL) {
		api_leave(db);
		return DKV_EUNAVAILABLE; /* alone: nobody to hand the data to */
	}
	lc.db = db;
	lc.peer = peer_id;
	lc.err = DKV_OK;
	if (peer_id != NULL && strcmp(peer_id, db->s.node_id) == 0)
		lc.peer = NULL;
	if (lc.peer != NULL)
		pthread_mutex_lock(&ask_lock);
	loop_call(db->loop, leave_on_loop, &lc);
	err = lc.err == DKV_OK ? watch(db, lc.peer) : lc.err;
	if (lc.peer != NULL)
		pthread_mutex_unlock(&ask_lock);
	api_leave(db);
	return err;
}

int
dkv_decommission(dkv_t *db)
{
	return dkv_decommission_peer(db, NULL);
}
