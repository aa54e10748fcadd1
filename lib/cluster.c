/*
 * Cluster membership shell (see cluster.h). Everything that changes the
 * gossip state runs on the loop thread and holds `lock`, which readers on
 * other threads (dkv_peers, dkv_stats, dkv_remove_peer) take too.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <bsd/string.h>
#include <event2/event.h>

#include "ae.h"
#include "ae_trees.h"
#include "cluster.h"
#include "core/moves.h"
#include "core/gossip.h"
#include "core/ring.h"
#include "dkv_internal.h"
#include "io/transport.h"
#include "moves_io.h"
#include "repl.h"
#include "util/alloc.h"
#include "util/clock.h"

#define TICK_MS 50
#define HEARTBEAT_MS 250
#define MAX_QUEUE (4u << 20)

struct cluster {
	struct dkv *db;
	const struct logger *log;
	struct transport *tr;
	struct event *timer;
	pthread_mutex_t lock;
	struct gossip g;
	uint64_t seen_changes;
	double *ownership; /* per member index */
	uint32_t nknown;
	struct ring ring;
	struct actor *ring_ids; /* ring.entries[].peer indexes these */
	struct replication rep; /* n, or per-dc counts */
	uint64_t ring_epoch;    /* bumped by every rebuild of the ring */
	/* While a peer joins with tokens or leaves: the ring as it will be
	 * (moves.h), and this peer's plans, made under `lock` and handed to
	 * the moves once it is released (flush_plans). */
	struct ring pend;
	struct actor *pend_ids;
	bool has_pend, plan_ready, plan_failed, kick_repair;
	struct move *gplan, *splan;
	uint32_t ngplan, nsplan;
	struct repl *repl;
	char known_peers[1024]; /* last saved, see save_known_peers */
	char last_view[128];    /* last view line logged */
	/* Lines logged while `lock` is held wait here (loop thread only) and
	 * go out after it is released: the application's logger may call
	 * dkv_peers and friends, which take the lock. */
	unsigned nlogs, logs_dropped;
	/* Peers judged DOWN while `lock` was held: replication hears of them
	 * after it is released (its callbacks may reach the application). */
	unsigned ndown, nback;
	struct actor went_down[32];
	struct actor came_back[32]; /* peers judged up again or restarted */
	struct {
		int level;
		char text[240];
	} logs[16];
	bool contacted, warned_alone;
	uint64_t opened_ms, join_at_ms;
	struct transport_stats tstats;
};

static void deferred_log(struct cluster *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
deferred_log(struct cluster *c, int level, const char *fmt, ...)
{
	va_list ap;

	if (level > c->log->level)
		return;
	if (c->nlogs == sizeof(c->logs) / sizeof(c->logs[0])) {
		c->logs_dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(c->logs[c->nlogs].text, sizeof(c->logs[0].text), fmt, ap);
	va_end(ap);
	c->logs[c->nlogs++].level = level;
}

/* After unlocking, on the loop thread: what waits on a peer just judged
 * DOWN stops waiting. */
static void
flush_down(struct cluster *c)
{
	for (unsigned i = 0; i < c->ndown; i++)
		repl_peer_down(c->repl, &c->went_down[i]);
	c->ndown = 0;
}

static void
noop_repaired(void *arg, int err, const struct ae_report *r)
{
	(void)arg;
	(void)err;
	(void)r;
}

/* After unlocking, on the loop thread: the moves get the new plans, and
 * a ring that lost a peer gets an anti-entropy pass. */
static void
flush_plans(struct cluster *c)
{
	for (unsigned i = 0; i < c->nback; i++)
		moves_io_source_back(repl_moves(c->repl), &c->came_back[i]);
	c->nback = 0;
	if (c->plan_ready) {
		uint64_t settle = 4u * c->g.cfg.interval_ms;

		if (moves_io_set(repl_moves(c->repl), c->gplan, c->ngplan, c->splan, c->nsplan,
		                 settle > 1000 ? settle : 1000))
			c->kick_repair = true; /* gains left unfinished */
		c->gplan = c->splan = NULL;
		c->ngplan = c->nsplan = 0;
		c->plan_ready = false;
	}
	if (c->plan_failed) {
		c->plan_failed = false;
		c->seen_changes--; /* out of memory: plan again next tick */
	}
	if (c->kick_repair && c->db->store != NULL) {
		c->kick_repair = false;
		ae_repair(repl_ae(c->repl), NULL, noop_repaired, NULL);
	}
}

/* After unlocking, on the loop thread. */
static void
flush_logs(struct cluster *c)
{
	for (unsigned i = 0; i < c->nlogs; i++)
		log_msg(c->log, c->logs[i].level, "%s", c->logs[i].text);
	if (c->logs_dropped > 0)
		log_msg(c->log, DKV_LOG_WARN, "%u log lines dropped", c->logs_dropped);
	c->nlogs = 0;
	c->logs_dropped = 0;
}

static uint64_t
id_hash(const struct actor *a)
{
	uint64_t h = 1469598103934665603ull;

	for (uint8_t i = 0; i < a->len; i++)
		h = (h ^ (uint8_t)a->id[i]) * 1099511628211ull;
	return h;
}

/*
 * The addresses of the storage peers we know, kept in the store so that a
 * restarted peer can find the cluster even when every seed is down. Not
 * fsynced: it runs on the loop thread and a lost update only costs a
 * contact.
 */
static void
save_known_peers(struct cluster *c)
{
	char list[sizeof(c->known_peers)] = "";
	size_t used = 0;

	if (c->db->store == NULL)
		return;
	for (uint32_t i = 1; i < c->g.n; i++) {
		const struct peer_state *st = &c->g.members[i].st;
		int w;

		if (st->role != PEER_STORAGE || st->status == STATUS_LEFT)
			continue;
		w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? "," : "", st->addr);
		if (w < 0 || (size_t)w >= sizeof(list) - used) {
			list[used] = '\0';
			break;
		}
		used += (size_t)w;
	}
	if (strcmp(list, c->known_peers) == 0)
		return;
	strlcpy(c->known_peers, list, sizeof(c->known_peers));
	store_meta_put_raw(c->db->store, "known_peers", list, strlen(list), false);
}

/* One line per change of the view: how many peers are up and a digest
 * of the ring, so operators (and tests) can see peers agree. */
static void
log_ring(struct cluster *c, uint32_t ring_peers)
{
	uint64_t digest = 1469598103934665603ull;
	uint32_t up = 0;

	for (uint32_t i = 0; i < c->g.n; i++)
		up += c->g.members[i].up && c->g.members[i].st.status != STATUS_LEFT &&
		      c->g.members[i].st.role == PEER_STORAGE;
	for (uint32_t i = 0; i < c->ring.n; i++) {
		const struct actor *id = &c->ring_ids[c->ring.entries[i].peer];

		digest = (digest ^ c->ring.entries[i].token.lo) * 1099511628211ull;
		for (uint8_t k = 0; k < id->len; k++)
			digest = (digest ^ (uint8_t)id->id[k]) * 1099511628211ull;
	}
	{
		char line[sizeof(c->last_view)];

		snprintf(line, sizeof(line), "view: %u peers up, ring of %u peers (%u tokens, digest %016" PRIx64 ")",
		         up, ring_peers, c->ring.n, digest);
		if (strcmp(line, c->last_view) == 0)
			return;
		strlcpy(c->last_view, line, sizeof(c->last_view));
		deferred_log(c, DKV_LOG_INFO, "%s", line);
	}
}

/* A ring entry for a peer of this state, holding tokens (not copied). */
static void
ring_peer_of(struct ring_peer *p, const struct peer_state *st, const struct token *tokens,
             uint32_t ntokens)
{
	p->id = st->id;
	strlcpy(p->dc, st->dc, sizeof(p->dc));
	strlcpy(p->rack, st->rack, sizeof(p->rack));
	p->ntokens = ntokens;
	p->tokens = tokens;
}

static int
member_id_cmp(const void *a, const void *b)
{
	const struct ring_peer *x = a, *y = b;

	return actor_cmp(&x->id, &y->id);
}

/* Whether member m's tokens are in the current ring (pending false:
 * NORMAL and LEAVING peers) or in the pending one (NORMAL and JOINING). */
static bool
in_ring(const struct member *m, bool pending)
{
	if (m->st.role != PEER_STORAGE || m->st.ntokens == 0)
		return false;
	if (m->st.status == STATUS_NORMAL)
		return true;
	return m->st.status == (pending ? STATUS_JOINING : STATUS_LEAVING);
}

/* Builds a ring of the members in_ring says (ids in *ids, mem_free);
 * peers is scratch for g->n entries and keeps them, sorted by id. */
static int
build_ring(struct cluster *c, bool pending, struct ring_peer *peers, uint32_t *np,
           struct ring *r, struct actor **ids)
{
	struct gossip *g = &c->g;
	int err;

	*np = 0;
	*ids = NULL;
	memset(r, 0, sizeof(*r));
	for (uint32_t i = 0; i < g->n; i++)
		if (in_ring(&g->members[i], pending))
			ring_peer_of(&peers[(*np)++], &g->members[i].st, g->members[i].st.tokens,
			             g->members[i].st.ntokens);
	/* the same order on every peer, so every peer builds the same ring */
	qsort(peers, *np, sizeof(*peers), member_id_cmp);
	*ids = mem_calloc(*np ? *np : 1, sizeof(**ids));
	if (*ids == NULL)
		return DKV_ENOMEM;
	for (uint32_t k = 0; k < *np; k++)
		(*ids)[k] = peers[k].id;
	if ((err = ring_build(r, peers, *np)) != DKV_OK) {
		mem_free(*ids);
		*ids = NULL;
	}
	return err;
}

/*
 * The pending ring and this peer's range moves (moves.h): while a peer
 * joins with tokens or leaves, the ranges this peer gains and, when it
 * is the one leaving, the pairs it hands over. Planned under the lock,
 * handed to the moves after it is released (flush_plans).
 */
static void
plan_moves(struct cluster *c, struct ring_peer *peers)
{
	struct gossip *g = &c->g;
	const struct member *self = &g->members[0];
	struct move *gains = NULL, *served = NULL;
	uint32_t ngains = 0, nserved = 0, np;
	struct actor *ids = NULL;
	struct ring pend;
	bool changing = false;
	int err = DKV_OK;

	memset(&pend, 0, sizeof(pend));
	for (uint32_t i = 0; i < g->n; i++)
		changing |= in_ring(&g->members[i], true) != in_ring(&g->members[i], false);
	if (changing) {
		err = build_ring(c, true, peers, &np, &pend, &ids);
		if (err == DKV_OK && self->st.role == PEER_STORAGE)
			err = moves_plan_gains(&c->ring, c->ring_ids, &pend, ids, &c->rep, &self->st.id,
			                       &gains, &ngains);
		if (err == DKV_OK && self->st.status == STATUS_LEAVING)
			err = moves_plan_served(&c->ring, c->ring_ids, &pend, ids, &c->rep,
			                        &self->st.id, &served, &nserved);
	}
	if (err != DKV_OK) {
		/* keep the plans (and their progress) until one can be made:
		 * an empty plan would end a join or a leave with nothing moved */
		ring_free(&pend);
		mem_free(ids);
		mem_free(gains);
		mem_free(served);
		c->plan_failed = true;
		return;
	}
	ring_free(&c->pend);
	mem_free(c->pend_ids);
	c->pend = pend;
	c->pend_ids = ids;
	c->has_pend = changing;
	mem_free(c->gplan);
	mem_free(c->splan);
	c->gplan = gains;
	c->ngplan = ngains;
	c->splan = served;
	c->nsplan = nserved;
	c->plan_ready = true;
}

/* Rebuilds the ring and the per-member ownership after a change. */
static void
rebuild(struct cluster *c)
{
	struct gossip *g = &c->g;
	struct ring_peer *peers;
	struct actor *ids;
	struct ring ring;
	uint32_t np = 0;
	double *own, *per_member;

	if (g->changes == c->seen_changes)
		return;
	c->seen_changes = g->changes;
	peers = mem_calloc(g->n, sizeof(*peers));
	per_member = mem_calloc(g->n, sizeof(*per_member));
	if (peers == NULL || per_member == NULL) {
		mem_free(peers);
		mem_free(per_member);
		c->seen_changes--; /* try again next tick */
		return;
	}
	for (uint32_t i = 0; i < g->n; i++) {
		struct member *m = &g->members[i];

		if (i > 0 && m->up != m->reported_up)
			deferred_log(c, m->st.role == PEER_CLIENT ? DKV_LOG_DEBUG : DKV_LOG_INFO,
			        "%s %.*s at %s is %s", m->st.role == PEER_CLIENT ? "client" : "peer",
			        m->st.id.len, m->st.id.id, m->st.addr, m->up ? "UP" : "DOWN");
		if (i > 0 && !m->up && m->reported_up && m->st.role == PEER_STORAGE &&
		    c->ndown < sizeof(c->went_down) / sizeof(c->went_down[0]))
			c->went_down[c->ndown++] = m->st.id;
		/* back, or restarted: range moves ask it again (a leaver that
		 * restarted has lost its served marks) */
		if (i > 0 && m->up && m->st.role == PEER_STORAGE &&
		    (!m->reported_up || m->st.generation != m->reported_generation) &&
		    c->nback < sizeof(c->came_back) / sizeof(c->came_back[0]))
			c->came_back[c->nback++] = m->st.id;
		m->reported_up = m->up;
		m->reported_generation = m->st.generation;
	}
	c->nknown = g->n;
	if (build_ring(c, false, peers, &np, &ring, &ids) != DKV_OK) {
		/* no ring: keep the last view until the next try */
		mem_free(peers);
		mem_free(per_member);
		c->seen_changes--;
		return;
	}
	/* a peer of the ring went LEFT (removed, or decommissioned): the
	 * ranges it held have new replicas, which anti-entropy fills now
	 * rather than at its next round */
	for (uint32_t k = 0; k < c->ring.npeers; k++) {
		const struct member *m = gossip_find(g, &c->ring_ids[k]);

		c->kick_repair |= m != NULL && m->st.status == STATUS_LEFT;
	}
	ring_free(&c->ring);
	mem_free(c->ring_ids);
	c->ring = ring;
	c->ring_ids = ids;
	c->ring_epoch++;
	if (np > 0) {
		own = mem_calloc(np, sizeof(*own));
		if (own != NULL) {
			ring_ownership(&c->ring, own);
			for (uint32_t k = 0; k < np; k++) {
				struct member *m = gossip_find(g, &peers[k].id);

				per_member[m - g->members] = own[k];
			}
			mem_free(own);
		}
	}
	mem_free(c->ownership);
	c->ownership = per_member;
	plan_moves(c, peers);
	mem_free(peers);
	save_known_peers(c);
	log_ring(c, np);
}

static void
send_outbox(struct cluster *c)
{
	struct outmsg *out;
	uint32_t n;

	gossip_take_outbox(&c->g, &out, &n);
	for (uint32_t i = 0; i < n; i++)
		transport_send(c->tr, out[i].addr, out[i].frame, out[i].len);
	mem_free(out);
}

static int
save_tokens(struct cluster *c, const struct token *t, uint32_t n)
{
	uint8_t *buf = mem_alloc((size_t)n * TOKEN_BYTES);
	int err;

	if (buf == NULL)
		return DKV_ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		token_to_bytes(t[i], buf + (size_t)i * TOKEN_BYTES);
	/* durable before we announce them: a once-per-lifetime fsync */
	err = store_meta_put_raw(c->db->store, "tokens", buf, (size_t)n * TOKEN_BYTES, true);
	mem_free(buf);
	return err;
}

static int
joiner_cmp(const void *a, const void *b)
{
	const struct member *const *x = a, *const *y = b;

	return actor_cmp(&(*x)->st.id, &(*y)->st.id);
}

/*
 * Tokens for this peer. Peers that join at the same time see the same
 * ring, and would carve the same slices out of it; so each joiner plans
 * for every joining storage peer it knows, in id order, against a ring
 * that grows as it goes, and keeps its own part. Joiners that know the
 * same set of joiners compute complementary tokens.
 */
static int
plan_tokens(struct cluster *c, struct token *mine)
{
	struct gossip *g = &c->g;
	const struct member **joiners;
	struct ring_peer *peers;
	struct token *planned;
	uint32_t vnodes = c->db->s.vnodes, nj = 0, np = 0;
	int err = DKV_ENOMEM;

	joiners = mem_calloc(g->n, sizeof(*joiners));
	peers = mem_calloc(g->n, sizeof(*peers));
	planned = mem_reallocarray(NULL, (size_t)g->n * vnodes, sizeof(*planned));
	if (joiners == NULL || peers == NULL || planned == NULL)
		goto out;
	for (uint32_t i = 0; i < g->n; i++) {
		const struct member *m = &g->members[i];

		if (m->st.role != PEER_STORAGE || m->st.status == STATUS_LEFT)
			continue;
		if (m->st.ntokens == 0 && m->st.status == STATUS_JOINING) {
			joiners[nj++] = m;
			continue;
		}
		if (m->st.ntokens == 0)
			continue; /* joiners with tokens count: they will own them */
		ring_peer_of(&peers[np++], &m->st, m->st.tokens, m->st.ntokens);
	}
	qsort(peers, np, sizeof(*peers), member_id_cmp);
	qsort(joiners, nj, sizeof(*joiners), joiner_cmp);
	for (uint32_t j = 0; j < nj; j++) {
		struct token *t = planned + (size_t)j * vnodes;
		struct ring r;

		if ((err = ring_build(&r, peers, np)) != DKV_OK)
			goto out;
		err = ring_allocate_tokens(&r, vnodes, id_hash(&joiners[j]->st.id), t);
		ring_free(&r);
		if (err != DKV_OK)
			goto out;
		if (joiners[j] == &g->members[0]) {
			/* Joiners that saw different sets may plan the same
			 * slot: a per-peer nudge far below a range's size keeps
			 * their tokens apart. */
			uint64_t nudge = id_hash(&joiners[j]->st.id) >> 16;

			for (uint32_t v = 0; v < vnodes; v++)
				t[v].lo ^= nudge;
			memcpy(mine, t, vnodes * sizeof(*t));
			goto out;
		}
		ring_peer_of(&peers[np++], &joiners[j]->st, t, vnodes);
	}
	err = DKV_EINVAL; /* not reached: this peer is always a joiner */
out:
	mem_free(joiners);
	mem_free(peers);
	mem_free(planned);
	return err;
}

/* A storage peer without tokens picks them once it knows the ring. With
 * a ring to join, it stays JOINING, with its tokens, while it receives
 * the ranges it gains (moves.h; "joining" in its metadata says so across
 * a restart), and turns NORMAL in finish_moves. The first peers of a new
 * cluster have nothing to receive and turn NORMAL at once. */
static void
maybe_join(struct cluster *c, uint64_t now)
{
	struct member *self = &c->g.members[0];
	struct token *toks;
	uint32_t vnodes = c->db->s.vnodes;
	bool alone = c->ring.n == 0;
	int err;

	if (self->st.role != PEER_STORAGE || self->st.ntokens > 0)
		return;
	if (c->g.cfg.nseeds > 0 && !c->contacted) {
		if (!c->warned_alone && now > c->opened_ms + 10000) {
			deferred_log(c, DKV_LOG_WARN, "no seed has answered yet; still joining");
			c->warned_alone = true;
		}
		return;
	}
	if (now < c->join_at_ms)
		return;
	toks = mem_reallocarray(NULL, vnodes, sizeof(*toks));
	if (toks == NULL)
		return;
	err = plan_tokens(c, toks);
	/* the flag goes first, made durable by the tokens' synced write */
	if (err == DKV_OK)
		err = store_meta_put(c->db->store, "joining", alone ? "0" : "1");
	if (err == DKV_OK)
		err = save_tokens(c, toks, vnodes);
	if (err == DKV_OK)
		err = gossip_set_tokens(&c->g, toks, vnodes);
	if (err == DKV_OK) {
		if (alone)
			gossip_set_status(&c->g, STATUS_NORMAL);
		c->g.next_round_ms = now; /* tell the others now, not next round */
		deferred_log(c, DKV_LOG_INFO, alone ? "joined the ring with %u tokens"
		                                    : "joining the ring with %u tokens: receiving its ranges",
		             vnodes);
	} else {
		deferred_log(c, DKV_LOG_ERROR, "cannot choose tokens: %s", dkv_strerror(err));
	}
	mem_free(toks);
}

/* Loop thread, unlocked: a joiner whose ranges are all in turns NORMAL,
 * a leaver that has handed everything over turns LEFT; meanwhile their
 * progress is gossiped. */
static void
finish_moves(struct cluster *c)
{
	struct member *self = &c->g.members[0];
	struct moves_io *mio = repl_moves(c->repl);
	uint8_t st = self->st.status, to = st;
	bool leaving = st == STATUS_LEAVING;

	if (c->plan_ready || c->plan_failed ||
	    !(leaving || (st == STATUS_JOINING && self->st.ntokens > 0)))
		return;
	/* a peer restarted in the middle plans from the ring it knows: not
	 * before it has heard from the others (as maybe_join waits) */
	if (c->g.cfg.nseeds > 0 && (!c->contacted || clock_mono_ms() < c->join_at_ms))
		return;
	if (leaving ? moves_io_served_done(mio) : moves_io_gains_done(mio))
		to = leaving ? STATUS_LEFT : STATUS_NORMAL;
	/* durable before the others hear of it: a joiner's batches (synced
	 * by this record), a leaver's departure */
	if (to != st && store_meta_put_raw(c->db->store, leaving ? "left" : "joining",
	                                   leaving ? "1" : "0", 1, true) != DKV_OK) {
		log_error(c->log, "cannot record the end of this peer's range moves");
		return;
	}
	pthread_mutex_lock(&c->lock);
	gossip_set_moved(&c->g, (uint8_t)moves_io_percent(mio, leaving));
	if (to != st) {
		gossip_set_moved(&c->g, 0);
		gossip_set_status(&c->g, to);
		c->g.next_round_ms = clock_mono_ms();
		deferred_log(c, DKV_LOG_INFO, leaving ? "left the ring: every range handed over"
		                                      : "joined the ring: every range received");
		rebuild(c);
	}
	pthread_mutex_unlock(&c->lock);
	flush_logs(c);
	flush_plans(c);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct cluster *c = arg;
	uint64_t now = clock_mono_ms();

	(void)fd;
	(void)what;
	pthread_mutex_lock(&c->lock);
	gossip_tick(&c->g, now);
	maybe_join(c, now);
	rebuild(c);
	send_outbox(c);
	transport_get_stats(c->tr, &c->tstats);
	pthread_mutex_unlock(&c->lock);
	flush_logs(c);
	flush_down(c);
	flush_plans(c);
	moves_io_tick(repl_moves(c->repl));
	finish_moves(c);
}

static void
on_msg(void *arg, const struct msg *m, const char *from_addr)
{
	struct cluster *c = arg;
	uint64_t now;

	if (m->type >= WMSG_APPLY) {
		repl_on_msg(c->repl, m, from_addr);
		return;
	}
	now = clock_mono_ms();
	pthread_mutex_lock(&c->lock);
	gossip_recv(&c->g, m, from_addr, now);
	if (!c->contacted &&
	    (m->type == WMSG_SYN || m->type == WMSG_ACK || m->type == WMSG_ACK2)) {
		c->contacted = true;
		/* two rounds to learn the ring and the other joiners */
		c->join_at_ms = now + 2u * c->g.cfg.interval_ms;
	}
	rebuild(c);
	send_outbox(c);
	pthread_mutex_unlock(&c->lock);
	flush_logs(c);
	flush_down(c);
	flush_plans(c);
}

static uint64_t
next_generation(struct cluster *c)
{
	char buf[32];
	uint64_t gen = clock_wall_us() / 1000, last = 0;

	if (c->db->store != NULL &&
	    store_meta_get(c->db->store, "generation", buf, sizeof(buf)) == DKV_OK)
		last = strtoull(buf, NULL, 10);
	if (gen <= last)
		gen = last + 1; /* the wall clock stepped back: still newer */
	snprintf(buf, sizeof(buf), "%" PRIu64, gen);
	if (c->db->store != NULL)
		store_meta_put(c->db->store, "generation", buf);
	return gen;
}

static int
load_tokens(struct cluster *c, struct token **out, uint32_t *n)
{
	void *raw;
	size_t len;
	int err;

	*out = NULL;
	*n = 0;
	if (c->db->store == NULL)
		return DKV_OK;
	err = store_meta_get_raw(c->db->store, "tokens", &raw, &len);
	if (err == DKV_ENOTFOUND)
		return DKV_OK;
	if (err != DKV_OK)
		return err;
	if (len % TOKEN_BYTES != 0 || len / TOKEN_BYTES > WIRE_MAX_TOKENS) {
		store_free_value(c->db->store, raw);
		return DKV_EIO;
	}
	*n = (uint32_t)(len / TOKEN_BYTES);
	*out = mem_reallocarray(NULL, *n ? *n : 1, sizeof(**out));
	if (*out == NULL) {
		store_free_value(c->db->store, raw);
		return DKV_ENOMEM;
	}
	for (uint32_t i = 0; i < *n; i++)
		(*out)[i] = token_from_bytes((uint8_t *)raw + (size_t)i * TOKEN_BYTES);
	store_free_value(c->db->store, raw);
	return DKV_OK;
}

/* A configured seed may name a host: resolve it now, at open, so the loop
 * only ever connects to numeric addresses. Unresolvable seeds are kept as
 * written (and will not connect), with a warning. */
static void
numeric_seed(struct cluster *c, const char *seed, char *out, size_t outlen)
{
	char host[256], port[16], ip[INET6_ADDRSTRLEN];
	struct addrinfo hints, *ai = NULL;
	const char *colon = strrchr(seed, ':');
	size_t n;

	strlcpy(out, seed, outlen);
	if (colon == NULL || (n = (size_t)(colon - seed)) == 0 || n >= sizeof(host) ||
	    seed[0] == '[')
		return;
	memcpy(host, seed, n);
	host[n] = '\0';
	strlcpy(port, colon + 1, sizeof(port));
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL) {
		log_warn(c->log, "cannot resolve seed %s", seed);
		return;
	}
	if (ai->ai_family == AF_INET &&
	    inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr, ip, sizeof(ip)))
		snprintf(out, outlen, "%s:%s", ip, port);
	else if (ai->ai_family == AF_INET6 &&
	         inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr, ip, sizeof(ip)))
		snprintf(out, outlen, "[%s]:%s", ip, port);
	freeaddrinfo(ai);
}

static void
parse_seeds(struct cluster *c, struct gossip_config *gc, const char *seeds, const char *self_addr)
{
	char buf[sizeof(((struct settings *)0)->seeds)], *save = NULL;

	strlcpy(buf, seeds, sizeof(buf));
	for (char *s = strtok_r(buf, ",", &save); s != NULL; s = strtok_r(NULL, ",", &save)) {
		while (*s == ' ')
			s++;
		for (char *e = s + strlen(s); e > s && e[-1] == ' '; e--)
			e[-1] = '\0';
		char addr[WIRE_ADDR_MAX + 1];
		bool dup = false;

		if (*s == '\0')
			continue;
		numeric_seed(c, s, addr, sizeof(addr));
		for (uint32_t k = 0; k < gc->nseeds; k++)
			dup = dup || strcmp(gc->seeds[k], addr) == 0;
		if (dup || strcmp(addr, self_addr) == 0 || gc->nseeds == GOSSIP_MAX_SEEDS)
			continue;
		strlcpy(gc->seeds[gc->nseeds++], addr, sizeof(gc->seeds[0]));
	}
}

/* Where this peer stood when it last ran: NORMAL, or JOINING with tokens
 * (its moves were not done), LEAVING (it goes on leaving), or JOINING
 * without tokens (new). A peer that has left does not come back: its
 * data is out of date and its deletes may have been collected since. */
static int
restore_status(struct cluster *c, uint32_t ntokens, uint8_t *status, char *why, size_t whylen)
{
	char flag[8];

	*status = ntokens > 0 ? STATUS_NORMAL : STATUS_JOINING;
	if (c->db->store == NULL) {
		*status = STATUS_NORMAL; /* a client peer */
		return DKV_OK;
	}
	if (store_meta_get(c->db->store, "left", flag, sizeof(flag)) == DKV_OK &&
	    strcmp(flag, "1") == 0) {
		snprintf(why, whylen, "this peer left the cluster (dkv_decommission): %s is out of "
		         "date; remove it to join again as a new peer", c->db->s.data_dir);
		return DKV_ECONFIG;
	}
	if (ntokens == 0)
		return DKV_OK;
	if (store_meta_get(c->db->store, "leaving", flag, sizeof(flag)) == DKV_OK &&
	    strcmp(flag, "1") == 0)
		*status = STATUS_LEAVING;
	else if (store_meta_get(c->db->store, "joining", flag, sizeof(flag)) == DKV_OK &&
	         strcmp(flag, "1") == 0)
		*status = STATUS_JOINING;
	return DKV_OK;
}

int
cluster_open(struct dkv *db, struct cluster **out, char *why, size_t whylen)
{
	const struct settings *s = &db->s;
	struct transport_config tc;
	struct gossip_config gc;
	struct timeval tick = {0, TICK_MS * 1000};
	struct token *tokens = NULL;
	uint32_t ntokens = 0;
	struct cluster *c;
	int err;

	*out = NULL;
	c = mem_calloc(1, sizeof(*c));
	if (c == NULL)
		return DKV_ENOMEM;
	c->db = db;
	c->log = &db->log;
	pthread_mutex_init(&c->lock, NULL);
	c->opened_ms = clock_mono_ms();

	memset(&tc, 0, sizeof(tc));
	tc.listen = s->listen;
	tc.cluster_name = s->cluster_name;
	tc.self = db->self;
	tc.generation = next_generation(c);
	/* the largest object a replica keeps (db->replica.max_object_bytes),
	 * with a key and the message's own fields around it */
	tc.max_frame = (uint32_t)db->replica.max_object_bytes + WIRE_MAX_KEY + 1024u;
	tc.max_queue = MAX_QUEUE > tc.max_frame ? MAX_QUEUE : tc.max_frame;
	tc.backoff_min_ms = 100;
	tc.backoff_max_ms = 2000;
	tc.log = c->log;
	tc.on_msg = on_msg;
	tc.arg = c;
	if ((err = transport_open(loop_base(db->loop), &tc, &c->tr, why, whylen)) != DKV_OK)
		goto fail;

	if ((err = replication_parse(&c->rep, s->replication, s->n)) != DKV_OK) {
		snprintf(why, whylen, "bad replication '%s'", s->replication);
		goto fail;
	}
	if ((err = repl_open(db, c, &c->repl)) != DKV_OK)
		goto fail;
	if ((err = load_tokens(c, &tokens, &ntokens)) != DKV_OK) {
		snprintf(why, whylen, "cannot read this peer's tokens from %s", s->data_dir);
		goto fail;
	}
	memset(&gc, 0, sizeof(gc));
	gc.self.id = db->self;
	strlcpy(gc.self.addr, transport_addr(c->tr), sizeof(gc.self.addr));
	strlcpy(gc.self.dc, s->dc, sizeof(gc.self.dc));
	strlcpy(gc.self.rack, s->rack, sizeof(gc.self.rack));
	gc.self.role = s->role == ROLE_CLIENT ? PEER_CLIENT : PEER_STORAGE;
	if ((err = restore_status(c, ntokens, &gc.self.status, why, whylen)) != DKV_OK)
		goto fail;
	gc.self.generation = tc.generation;
	gc.interval_ms = s->gossip_interval_ms;
	gc.heartbeat_ms = HEARTBEAT_MS < s->gossip_interval_ms ? HEARTBEAT_MS : s->gossip_interval_ms;
	gc.phi_threshold = s->phi_threshold;
	gc.fd.min_stddev_ms = 200;
	gc.fd.acceptable_pause_ms = 1000;
	gc.fd.first_interval_ms = gc.heartbeat_ms;
	gc.rng_seed = id_hash(&db->self) ^ tc.generation;
	parse_seeds(c, &gc, s->seeds, gc.self.addr);
	if (db->store != NULL) {
		char known[sizeof(c->known_peers)];

		if (store_meta_get(db->store, "known_peers", known, sizeof(known)) == DKV_OK) {
			parse_seeds(c, &gc, known, gc.self.addr);
			strlcpy(c->known_peers, known, sizeof(c->known_peers));
		}
	}
	if ((err = gossip_init(&c->g, &gc, c->opened_ms)) != DKV_OK)
		goto fail;
	if (ntokens > 0 && (err = gossip_set_tokens(&c->g, tokens, ntokens)) != DKV_OK)
		goto fail;
	rebuild(c); /* the view is there from the first dkv_peers on */
	flush_logs(c);
	c->timer = event_new(loop_base(db->loop), -1, EV_PERSIST, on_tick, c);
	if (c->timer == NULL || event_add(c->timer, &tick) != 0) {
		err = DKV_ENOMEM;
		goto fail;
	}
	mem_free(tokens);
	log_info(c->log, "peer %s listening on %s (cluster %s, %u seeds)", s->node_id,
	         transport_addr(c->tr), s->cluster_name, gc.nseeds);
	*out = c;
	return DKV_OK;
fail:
	if (err != DKV_OK && why[0] == '\0')
		snprintf(why, whylen, "cannot start cluster membership: %s", dkv_strerror(err));
	mem_free(tokens);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->g.members != NULL)
		gossip_free(&c->g);
	ring_free(&c->ring);
	mem_free(c->ring_ids);
	ring_free(&c->pend);
	mem_free(c->pend_ids);
	mem_free(c->gplan);
	mem_free(c->splan);
	mem_free(c->ownership);
	repl_free(c->repl);
	transport_close(c->tr);
	pthread_mutex_destroy(&c->lock);
	mem_free(c);
	return err;
}

void
cluster_close(struct cluster *c)
{
	if (c == NULL)
		return;
	repl_free(c->repl);
	pthread_mutex_lock(&c->lock);
	gossip_shutdown(&c->g);
	send_outbox(c);
	pthread_mutex_unlock(&c->lock);
	event_free(c->timer);
	transport_close(c->tr); /* pushes the goodbyes out */
	gossip_free(&c->g);
	ring_free(&c->ring);
	mem_free(c->ring_ids);
	ring_free(&c->pend);
	mem_free(c->pend_ids);
	mem_free(c->gplan);
	mem_free(c->splan);
	mem_free(c->ownership);
	pthread_mutex_destroy(&c->lock);
	mem_free(c);
}

static dkv_peer_state_t
public_state(const struct member *m)
{
	if (!m->up)
		return DKV_PEER_DOWN;
	if (m->st.status == STATUS_JOINING)
		return DKV_PEER_JOINING;
	if (m->st.status == STATUS_LEAVING)
		return DKV_PEER_LEAVING;
	if (m->st.status == STATUS_LEFT)
		return DKV_PEER_LEFT; /* listed for this peer only */
	return DKV_PEER_UP;
}

int
cluster_peers(struct cluster *c, dkv_peer_info_t **list, size_t *count)
{
	dkv_peer_info_t *l;
	size_t n = 0, strings = 0;
	char *area;

	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < c->g.n; i++) {
		const struct peer_state *st = &c->g.members[i].st;

		if (i > 0 && st->status == STATUS_LEFT)
			continue; /* this peer is always listed, first */
		n++;
		strings += st->id.len + strlen(st->addr) + strlen(st->dc) + strlen(st->rack) + 4;
	}
	l = mem_calloc(1, n * sizeof(*l) + strings);
	if (l == NULL) {
		pthread_mutex_unlock(&c->lock);
		return DKV_ENOMEM;
	}
	area = (char *)(l + n);
	n = 0;
	for (uint32_t i = 0; i < c->g.n; i++) {
		const struct member *m = &c->g.members[i];
		dkv_peer_info_t *p = &l[n];

		if (i > 0 && m->st.status == STATUS_LEFT)
			continue;
		memcpy(area, m->st.id.id, m->st.id.len);
		area[m->st.id.len] = '\0';
		p->id = area;
		area += m->st.id.len + 1;
		p->addr = strcpy(area, m->st.addr);
		area += strlen(area) + 1;
		p->dc = strcpy(area, m->st.dc);
		area += strlen(area) + 1;
		p->rack = strcpy(area, m->st.rack);
		area += strlen(area) + 1;
		p->state = public_state(m); /* this peer is always up */
		p->moved = m->st.status == STATUS_JOINING || m->st.status == STATUS_LEAVING
		               ? m->st.moved : 0;
		p->phi = i == 0 ? 0.0 : m->phi;
		p->tokens = m->st.ntokens;
		p->ownership = i < c->nknown && c->ownership != NULL ? c->ownership[i] : 0.0;
		n++;
	}
	pthread_mutex_unlock(&c->lock);
	*list = l;
	*count = n;
	return DKV_OK;
}

int
cluster_remove(struct cluster *c, const char *id)
{
	struct actor a;
	int err;

	if (actor_set(&a, id, strlen(id)) != DKV_OK)
		return DKV_EINVAL;
	pthread_mutex_lock(&c->lock);
	err = gossip_remove(&c->g, &a, clock_mono_ms());
	pthread_mutex_unlock(&c->lock);
	if (err == DKV_OK)
		log_info(c->log, "peer %s removed from the cluster", id);
	return err;
}

void
cluster_stats(struct cluster *c, void (*fn)(const char *name, double value, void *arg), void *arg)
{
	unsigned up = 0, down = 0, joining = 0, leaving = 0;
	struct transport_stats ts;

	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 1; i < c->g.n; i++) {
		const struct member *m = &c->g.members[i];

		if (m->st.status == STATUS_LEFT)
			continue;
		if (!m->up)
			down++;
		else if (m->st.status == STATUS_JOINING)
			joining++;
		else if (m->st.status == STATUS_LEAVING)
			leaving++;
		else
			up++;
	}
	ts = c->tstats;
	pthread_mutex_unlock(&c->lock);
	fn("peers_up", up + 1, arg);
	fn("peers_down", down, arg);
	fn("peers_joining", joining, arg);
	fn("peers_leaving", leaving, arg);
	fn("frames_in", (double)ts.frames_in, arg);
	fn("frames_out", (double)ts.frames_out, arg);
	fn("frames_dropped", (double)ts.frames_dropped, arg);
	fn("bytes_in", (double)ts.bytes_in, arg);
	fn("bytes_out", (double)ts.bytes_out, arg);
	fn("handshakes_refused", (double)ts.refused, arg);
	fn("bad_frames", (double)ts.bad_frames, arg);
}

int
cluster_ring(struct cluster *c, dkv_token_range_t **list, size_t *count)
{
	dkv_token_range_t *l;
	size_t strings = 0;
	char *area;

	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < c->ring.n; i++)
		strings += c->ring_ids[c->ring.entries[i].peer].len + 1u;
	l = mem_calloc(1, c->ring.n * sizeof(*l) + strings + 1);
	if (l == NULL) {
		pthread_mutex_unlock(&c->lock);
		return DKV_ENOMEM;
	}
	area = (char *)(l + c->ring.n);
	for (uint32_t i = 0; i < c->ring.n; i++) {
		const struct actor *id = &c->ring_ids[c->ring.entries[i].peer];
		uint32_t prev = i == 0 ? c->ring.n - 1 : i - 1;

		memcpy(area, id->id, id->len);
		area[id->len] = '\0';
		l[i].peer = area;
		area += id->len + 1;
		token_to_bytes(c->ring.entries[prev].token, l[i].start);
		token_to_bytes(c->ring.entries[i].token, l[i].end);
	}
	*count = c->ring.n;
	pthread_mutex_unlock(&c->lock);
	*list = l;
	return DKV_OK;
}

struct repl *
cluster_repl(struct cluster *c)
{
	return c->repl;
}

size_t
cluster_send_msg(struct cluster *c, const char *addr, struct msg *m)
{
	uint8_t *frame;
	size_t len;

	m->from = c->g.members[0].st.id;
	if (wire_encode(m, &frame, &len) != DKV_OK)
		return 0;
	transport_send(c->tr, addr, frame, len);
	return len;
}

static void
describe_peer(struct cluster *c, uint32_t peer, struct coord_replica *out)
{
	const struct member *self = &c->g.members[0];
	const struct actor *id = &c->ring_ids[peer];
	const struct member *m = gossip_find(&c->g, id);

	memset(out, 0, sizeof(*out));
	out->id = *id;
	out->addr = m != NULL ? m->st.addr : "";
	out->dc = (uint8_t)c->ring.peer_dc[peer];
	out->local = m == self;
	out->up = m != NULL && (m->up || m == self);
}

uint32_t
cluster_replicas(struct cluster *c, struct token t, bool fallbacks, struct coord_replica *out,
                 uint32_t max, uint32_t *nprimary, uint32_t *ndcs, uint32_t *local_dc)
{
	uint32_t idx[RING_MAX_REPLICAS], fb[RING_MAX_REPLICAS], n, k, down = 0, nfb, total;
	const struct member *self = &c->g.members[0];

	*ndcs = 0;
	*local_dc = 0;
	*nprimary = 0;
	if (c->ring.n == 0)
		return 0;
	if (max > RING_MAX_REPLICAS)
		max = RING_MAX_REPLICAS;
	n = ring_preference(&c->ring, t, &c->rep, idx, max);
	*ndcs = c->ring.ndcs;
	*local_dc = c->ring.ndcs; /* none: LOCAL_* levels are unavailable */
	for (k = 0; k < c->ring.ndcs; k++)
		if (strcmp(c->ring.dcs[k], self->st.dc) == 0)
			*local_dc = k;
	for (k = 0; k < n; k++) {
		describe_peer(c, idx[k], &out[k]);
		down += !out[k].up;
	}
	*nprimary = n;
	total = n;
	if (!fallbacks || down == 0 || n >= max)
		return n;
	/* Sloppy quorum: the live peers next along the ring stand in for
	 * the down replicas, in each one's datacenter, two per down replica
	 * (a spare in case the first dies too). */
	nfb = ring_fallbacks(&c->ring, t, idx, n, fb, RING_MAX_REPLICAS);
	for (k = 0; k < nfb && total < max; k++) {
		uint32_t want = 0, have = 0, dc = c->ring.peer_dc[fb[k]];

		for (uint32_t i = 0; i < n; i++)
			want += !out[i].up && out[i].dc == dc;
		for (uint32_t i = n; i < total; i++)
			have += out[i].dc == dc;
		if (have >= 2 * want)
			continue; /* no down replica there needs it */
		describe_peer(c, fb[k], &out[total]);
		if (!out[total].up)
			continue;
		out[total].fallback = true;
		total++;
	}
	return total;
}

uint32_t
cluster_live_storage(struct cluster *c, struct cluster_peer *out, uint32_t max)
{
	uint32_t n = 0;

	for (uint32_t i = 1; i < c->g.n && n < max; i++) {
		const struct member *m = &c->g.members[i];

		if (!m->up || m->st.role != PEER_STORAGE || m->st.status == STATUS_LEFT)
			continue;
		out[n].id = m->st.id;
		strlcpy(out[n].addr, m->st.addr, sizeof(out[n].addr));
		n++;
	}
	return n;
}

uint64_t
cluster_ring_epoch(const struct cluster *c)
{
	return c->ring_epoch;
}

int
cluster_my_ranges(struct cluster *c, struct ae_range **out, uint32_t *n)
{
	const struct actor *self = &c->g.members[0].st.id;
	uint32_t idx[RING_MAX_REPLICAS], count = 0;
	struct ae_range *r;

	*out = NULL;
	*n = 0;
	if (c->ring.n == 0)
		return DKV_OK;
	r = mem_calloc(c->ring.n, sizeof(*r));
	if (r == NULL)
		return DKV_ENOMEM;
	/* entries are in token order, so the ranges come out sorted by hi */
	for (uint32_t i = 0; i < c->ring.n; i++) {
		struct token hi = c->ring.entries[i].token;
		uint32_t np = ring_preference(&c->ring, hi, &c->rep, idx, RING_MAX_REPLICAS);
		bool mine = false;

		for (uint32_t k = 0; k < np; k++)
			mine |= actor_eq(&c->ring_ids[idx[k]], self);
		if (!mine)
			continue;
		r[count].lo = c->ring.entries[(i + c->ring.n - 1) % c->ring.n].token;
		r[count].hi = hi;
		for (uint32_t k = 0; k < np; k++)
			if (!actor_eq(&c->ring_ids[idx[k]], self))
				r[count].reps[r[count].nreps++] = c->ring_ids[idx[k]];
		count++;
	}
	*out = r;
	*n = count;
	return DKV_OK;
}

bool
cluster_peer_addr(struct cluster *c, const struct actor *id, char addr[WIRE_ADDR_MAX + 1])
{
	const struct member *m = gossip_find(&c->g, id);

	if (m == NULL || m == &c->g.members[0] || !m->up)
		return false;
	strlcpy(addr, m->st.addr, WIRE_ADDR_MAX + 1);
	return true;
}

bool
cluster_knows(struct cluster *c, const struct actor *id)
{
	const struct member *m = gossip_find(&c->g, id);

	return m != NULL && m->st.status != STATUS_LEFT;
}

bool
cluster_has_pending(const struct cluster *c)
{
	return c->has_pend;
}

bool
cluster_self_left(const struct cluster *c)
{
	return c->g.members[0].st.status == STATUS_LEFT;
}

bool
cluster_is_self(const struct cluster *c, const struct actor *id)
{
	return actor_eq(&c->g.members[0].st.id, id);
}

uint32_t
cluster_pending(struct cluster *c, struct token t, struct cluster_peer *out, uint32_t max)
{
	uint32_t cur[RING_MAX_REPLICAS], next[RING_MAX_REPLICAS], nc = 0, nn, k = 0;

	if (!c->has_pend || c->pend.n == 0)
		return 0;
	if (c->ring.n > 0)
		nc = ring_preference(&c->ring, t, &c->rep, cur, RING_MAX_REPLICAS);
	nn = ring_preference(&c->pend, t, &c->rep, next, RING_MAX_REPLICAS);
	for (uint32_t i = 0; i < nn && k < max; i++) {
		const struct actor *id = &c->pend_ids[next[i]];
		const struct member *m;
		bool current = false;

		for (uint32_t j = 0; j < nc; j++)
			current |= actor_eq(&c->ring_ids[cur[j]], id);
		if (current || (m = gossip_find(&c->g, id)) == NULL || !m->up)
			continue;
		out[k].id = *id;
		strlcpy(out[k].addr, m->st.addr, sizeof(out[k].addr));
		k++;
	}
	return k;
}

/* Storage peers that would be left in the ring (and in dc, when the
 * replication is per datacenter) without this one. */
static uint32_t
peers_staying(struct cluster *c, const char *dc)
{
	uint32_t n = 0;

	for (uint32_t i = 1; i < c->g.n; i++) {
		const struct member *m = &c->g.members[i];

		n += in_ring(m, true) && (dc == NULL || strcmp(m->st.dc, dc) == 0);
	}
	return n;
}

int
cluster_leave(struct cluster *c)
{
	struct member *self = &c->g.members[0];
	uint32_t need = c->rep.n;
	const char *dc = NULL;
	int err;

	if (self->st.role != PEER_STORAGE)
		return DKV_EINVAL;
	if (self->st.status == STATUS_LEAVING || self->st.status == STATUS_LEFT)
		return DKV_OK; /* under way, or done */
	if (self->st.status == STATUS_JOINING)
		return DKV_EBUSY; /* join first */
	for (uint32_t k = 0; k < c->rep.ndcs; k++)
		if (strcmp(c->rep.dcs[k].dc, self->st.dc) == 0) {
			need = c->rep.dcs[k].n;
			dc = self->st.dc;
		}
	/* as Cassandra does: the peers that stay must still hold every
	 * replica of every key */
	if (peers_staying(c, dc) < (need > 0 ? need : 1)) {
		log_warn(c->log, "cannot leave: fewer than %u storage peers would stay%s%s", need,
		         dc != NULL ? " in " : "", dc != NULL ? dc : "");
		return DKV_EUNAVAILABLE;
	}
	/* durable first: a restart goes on leaving */
	if ((err = store_meta_put_raw(c->db->store, "leaving", "1", 1, true)) != DKV_OK)
		return err;
	pthread_mutex_lock(&c->lock);
	gossip_set_status(&c->g, STATUS_LEAVING);
	c->g.next_round_ms = clock_mono_ms();
	rebuild(c);
	send_outbox(c);
	pthread_mutex_unlock(&c->lock);
	log_info(c->log, "leaving the ring: handing its ranges over");
	flush_logs(c);
	flush_plans(c);
	return DKV_OK;
}

int
cluster_ask_leave(struct cluster *c, const char *id)
{
	struct actor a;
	const struct member *m;

	if (actor_set(&a, id, strlen(id)) != DKV_OK)
		return DKV_ENOTFOUND;
	if ((m = gossip_find(&c->g, &a)) == NULL || m->st.status == STATUS_LEFT)
		return DKV_ENOTFOUND;
	if (m == &c->g.members[0])
		return cluster_leave(c);
	if (m->st.role != PEER_STORAGE)
		return DKV_EINVAL;
	if (!m->up)
		return DKV_EUNAVAILABLE;
	moves_io_ask_leave(repl_moves(c->repl), m->st.addr);
	return DKV_OK;
}

int
cluster_peer_status(struct cluster *c, const char *id, uint8_t *status, bool *up)
{
	struct actor a;
	const struct member *m;
	int err = DKV_OK;

	if (id == NULL) {
		a = c->db->self;
	} else if (actor_set(&a, id, strlen(id)) != DKV_OK) {
		return DKV_ENOTFOUND;
	}
	pthread_mutex_lock(&c->lock);
	if ((m = gossip_find(&c->g, &a)) == NULL) {
		err = DKV_ENOTFOUND;
	} else {
		*status = m->st.status;
		*up = m->up;
	}
	pthread_mutex_unlock(&c->lock);
	return err;
}

struct fault_call {
	struct cluster *c;
	struct actor id;
	unsigned flags, delay_ms;
	int err;
};

static void
fault_on_loop(void *arg)
{
	struct fault_call *fc = arg;
	const struct member *m = gossip_find(&fc->c->g, &fc->id);

	if (m == NULL || m == &fc->c->g.members[0]) {
		fc->err = DKV_ENOTFOUND;
		return;
	}
	fc->err = transport_set_fault(fc->c->tr, m->st.addr, fc->flags, fc->delay_ms);
	if (fc->err == DKV_OK)
		log_info(fc->c->log, "test fault towards %.*s at %s: flags %u, delay %u ms", m->st.id.len,
		         m->st.id.id, m->st.addr, fc->flags, fc->delay_ms);
}

int
cluster_fault(struct cluster *c, struct loop *l, const char *id, unsigned flags, unsigned delay_ms)
{
	struct fault_call fc = {.c = c, .flags = flags, .delay_ms = delay_ms, .err = DKV_OK};

	if (actor_set(&fc.id, id, strlen(id)) != DKV_OK)
		return DKV_ENOTFOUND;
	loop_call(l, fault_on_loop, &fc);
	return fc.err;
}

_Static_assert(DKV_FAULT_DROP == TRANSPORT_FAULT_DROP && DKV_FAULT_DROP_DATA == TRANSPORT_FAULT_DROP_DATA,
               "dkv_debug_fault flags are the transport's");
