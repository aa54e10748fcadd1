/*
 * Leaving the ring for good: dkv_decommission (this peer) and
 * dkv_decommission_peer (any storage peer, asked by LEAVE). Both start the
 * leave on the loop thread, then watch the peer's gossiped status from
 * the calling thread until it is LEFT: its ranges are handed over
 * (moves.h) by then.
 */
#include "config.h"

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
	uint64_t asked = clock_mono_ms();

	for (;;) {
		uint8_t status;
		bool up;
		int err;

		if (atomic_load(&db->closed))
			return DKV_ECLOSED;
		err = cluster_peer_status(db->cluster, peer, &status, &up);
		if (err != DKV_OK)
			return err;
		if (status == STATUS_LEFT)
			return DKV_OK;
		if (peer != NULL) {
			if (!up)
				return DKV_EUNAVAILABLE; /* it stopped before it had left */
			loop_call(db->loop, ask_result_on_loop, &lc);
			if (lc.err != 1 && lc.err != DKV_OK)
				return lc.err; /* it refused */
			if (status == STATUS_NORMAL && clock_mono_ms() - asked >= ASK_AGAIN_MS) {
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
	loop_call(db->loop, leave_on_loop, &lc);
	err = lc.err == DKV_OK ? watch(db, lc.peer) : lc.err;
	api_leave(db);
	return err;
}

int
dkv_decommission(dkv_t *db)
{
	return dkv_decommission_peer(db, NULL);
}
