/*
 * The cluster view (dkv_peers) and statistics (dkv_stats). While a peer
 * is alone, the view is the peer itself, owning the whole ring.
 */
#include "config.h"

#include <string.h>

#include "cluster.h"
#include "repl.h"
#include "dkv_internal.h"
#include "util/alloc.h"
#include "util/clock.h"

/* Appends a string to the list's string area; returns where it went. */
static const char *
stash(char **area, const char *s)
{
	size_t n = strlen(s) + 1;
	char *at = *area;

	memcpy(at, s, n);
	*area += n;
	return at;
}

int
dkv_peers(dkv_t *db, dkv_peer_info_t **list, size_t *count)
{
	dkv_peer_info_t *l;
	size_t strings;
	char *area;
	int err;

	if (list != NULL)
		*list = NULL;
	if (count != NULL)
		*count = 0;
	if (db == NULL || list == NULL || count == NULL)
		return DKV_EINVAL;
	if ((err = api_enter(db)) != DKV_OK)
		return err;
	if (db->cluster != NULL) {
		err = cluster_peers(db->cluster, list, count);
		api_leave(db);
		return err;
	}
	strings = strlen(db->s.node_id) + strlen(db->s.listen) + strlen(db->s.dc) +
	          strlen(db->s.rack) + 4;
	/* One block: the records, then their strings. */
	l = mem_calloc(1, sizeof(*l) + strings);
	if (l == NULL) {
		api_leave(db);
		return DKV_ENOMEM;
	}
	area = (char *)(l + 1);
	l->id = stash(&area, db->s.node_id);
	l->addr = stash(&area, db->s.listen);
	l->dc = stash(&area, db->s.dc);
	l->rack = stash(&area, db->s.rack);
	l->state = DKV_PEER_UP;
	l->phi = 0.0;
	l->tokens = db->s.role == ROLE_STORAGE ? db->s.vnodes : 0;
	l->ownership = db->s.role == ROLE_STORAGE ? 1.0 : 0.0;
	*list = l;
	*count = 1;
	api_leave(db);
	return DKV_OK;
}

void
dkv_peers_free(dkv_peer_info_t *list, size_t count)
{
	(void)count;
	mem_free(list);
}

#define LOAD(x) ((double)atomic_load_explicit(&(x), memory_order_relaxed))

int
dkv_stats(dkv_t *db, void (*fn)(const char *name, double value, void *arg), void *arg)
{
	int err;

	if (db == NULL || fn == NULL)
		return DKV_EINVAL;
	if ((err = api_enter(db)) != DKV_OK)
		return err;
	fn("puts", LOAD(db->stats.puts), arg);
	fn("gets", LOAD(db->stats.gets), arg);
	fn("deletes", LOAD(db->stats.deletes), arg);
	fn("not_found", LOAD(db->stats.not_found), arg);
	fn("errors", LOAD(db->stats.errors), arg);
	fn("siblings_returned", LOAD(db->stats.siblings_returned), arg);
	fn("async_queued", (double)atomic_load(&db->pending), arg);
	fn("store_bytes_approx",
	   db->store != NULL ? (double)db->store->ops->approx_bytes(db->store) : 0.0, arg);
	fn("uptime_s", (double)(clock_mono_ms() - db->opened_ms) / 1000.0, arg);
	if (db->cluster != NULL)
		cluster_stats(db->cluster, fn, arg);
	if (db->repl != NULL)
		repl_stats(db->repl, fn, arg);
	api_leave(db);
	return DKV_OK;
}

int
dkv_ring(dkv_t *db, dkv_token_range_t **list, size_t *count)
{
	dkv_token_range_t *l;
	int err;

	if (list != NULL)
		*list = NULL;
	if (count != NULL)
		*count = 0;
	if (db == NULL || list == NULL || count == NULL)
		return DKV_EINVAL;
	if ((err = api_enter(db)) != DKV_OK)
		return err;
	if (db->cluster != NULL) {
		err = cluster_ring(db->cluster, list, count);
		api_leave(db);
		return err;
	}
	/* alone: the whole ring is ours */
	l = mem_calloc(1, sizeof(*l) + strlen(db->s.node_id) + 1);
	if (l == NULL) {
		api_leave(db);
		return DKV_ENOMEM;
	}
	l->peer = strcpy((char *)(l + 1), db->s.node_id);
	*list = l;
	*count = 1;
	api_leave(db);
	return DKV_OK;
}

void
dkv_ring_free(dkv_token_range_t *list, size_t count)
{
	(void)count;
	mem_free(list);
}

int
dkv_remove_peer(dkv_t *db, const char *id)
{
	int err;

	if (db == NULL || id == NULL || id[0] == '\0')
		return DKV_EINVAL;
	if ((err = api_enter(db)) != DKV_OK)
		return err;
	if (db->cluster != NULL)
		err = cluster_remove(db->cluster, id);
	else /* alone: the only peer there is, is this one */
		err = strcmp(id, db->s.node_id) == 0 ? DKV_EBUSY : DKV_ENOTFOUND;
	api_leave(db);
	return err;
}

int
dkv_debug_fault(dkv_t *db, const char *id, unsigned flags, unsigned delay_ms)
{
	int err;

	if (db == NULL || id == NULL || id[0] == '\0' ||
	    (flags & ~(DKV_FAULT_DROP | DKV_FAULT_DROP_DATA)) != 0)
		return DKV_EINVAL;
	if ((err = api_enter(db)) != DKV_OK)
		return err;
	err = db->cluster != NULL ? cluster_fault(db->cluster, db->loop, id, flags, delay_ms)
	                          : DKV_EINVAL;
	api_leave(db);
	return err;
}
