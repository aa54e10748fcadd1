/*
 * dkv_repair: a full anti-entropy pass, here or on another peer (ae.h),
 * with the caller waiting for it.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "ae.h"
#include "dkv_internal.h"
#include "repl.h"

struct repair_call {
	struct dkv *db;
	const char *peer;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int err;
	struct ae_report rep;
};

static void
repair_done(void *arg, int err, const struct ae_report *r)
{
	struct repair_call *rc = arg;

	pthread_mutex_lock(&rc->lock);
	rc->err = err;
	if (r != NULL)
		rc->rep = *r;
	rc->done = true;
	pthread_cond_signal(&rc->cond);
	pthread_mutex_unlock(&rc->lock);
}

static void
repair_on_loop(void *arg)
{
	struct repair_call *rc = arg;

	ae_repair(repl_ae(rc->db->repl), rc->peer, repair_done, rc);
}

int
dkv_repair(dkv_t *db, const char *peer_id, dkv_repair_report_t *report)
{
	struct repair_call rc;
	int err;

	if (report != NULL)
		memset(report, 0, sizeof(*report));
	if (db == NULL || (peer_id != NULL && peer_id[0] == '\0'))
		return DKV_EINVAL;
	if (loop_on_thread(db->loop))
		return DKV_EDEADLK;
	if ((err = api_enter(db)) != DKV_OK)
		return err;
	if (db->repl == NULL) {
		api_leave(db);
		return DKV_EUNAVAILABLE; /* alone: no other replica to compare with */
	}
	memset(&rc, 0, sizeof(rc));
	rc.db = db;
	rc.peer = peer_id;
	pthread_mutex_init(&rc.lock, NULL);
	pthread_cond_init(&rc.cond, NULL);
	loop_call(db->loop, repair_on_loop, &rc);
	pthread_mutex_lock(&rc.lock);
	while (!rc.done)
		pthread_cond_wait(&rc.cond, &rc.lock);
	pthread_mutex_unlock(&rc.lock);
	pthread_cond_destroy(&rc.cond);
	pthread_mutex_destroy(&rc.lock);
	if (report != NULL) {
		report->ranges = rc.rep.ranges;
		report->ranges_differing = rc.rep.ranges_differing;
		report->keys_compared = rc.rep.keys_compared;
		report->keys_repaired = rc.rep.keys_repaired;
		report->failed = rc.rep.failed;
	}
	api_leave(db);
	return rc.err;
}
