/*
 * Gossip membership and failure detection (see gossip.h).
 */
#include "config.h"

#include <string.h>

#include <bsd/string.h>

#include "libdkv/dkv.h"
#include "core/gossip.h"
#include "util/alloc.h"

static uint64_t
next_rand(struct gossip *g)
{
	/* splitmix64: deterministic per seed, so the simulator replays */
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct member *
self_of(struct gossip *g)
{
	return &g->members[0];
}

struct member *
gossip_find(struct gossip *g, const struct actor *id)
{
	for (uint32_t i = 0; i < g->n; i++)
		if (actor_eq(&g->members[i].st.id, id))
			return &g->members[i];
	return NULL;
}

static struct member *
add_member(struct gossip *g, const struct peer_state *st)
{
	struct member *m;

	if (g->n == g->cap) {
		uint32_t cap = g->cap ? g->cap * 2 : 16;
		struct member *grown;

		if (cap > WIRE_MAX_PEERS)
			return NULL;
		grown = mem_reallocarray(g->members, cap, sizeof(*grown));
		if (grown == NULL)
			return NULL;
		g->members = grown;
		g->cap = cap;
	}
	m = &g->members[g->n];
	memset(m, 0, sizeof(*m));
	if (wire_state_copy(&m->st, st) != DKV_OK)
		return NULL;
	fd_init(&m->fd);
	g->n++;
	return m;
}

/* Forgets member i (not self): the last one takes its place. */
static void
forget(struct gossip *g, uint32_t i)
{
	wire_state_free(&g->members[i].st);
	g->members[i] = g->members[g->n - 1];
	g->n--;
	g->changes++;
}

int
gossip_init(struct gossip *g, const struct gossip_config *cfg, uint64_t now_ms)
{
	struct member *self;

	memset(g, 0, sizeof(*g));
	g->cfg = *cfg;
	g->cfg.self.tokens = NULL;
	g->cfg.self.ntokens = 0;
	g->rng = cfg->rng_seed;
	self = add_member(g, &cfg->self);
	if (self == NULL)
		return DKV_ENOMEM;
	self->up = true;
	g->next_round_ms = now_ms;
	g->next_heartbeat_ms = now_ms;
	g->changes = 1;
	return DKV_OK;
}

void
gossip_free(struct gossip *g)
{
	for (uint32_t i = 0; i < g->n; i++)
		wire_state_free(&g->members[i].st);
	mem_free(g->members);
	for (uint32_t i = 0; i < g->nout; i++)
		mem_free(g->out[i].frame);
	mem_free(g->out);
	memset(g, 0, sizeof(*g));
}

static void
queue(struct gossip *g, const char *addr, const struct msg *m)
{
	uint8_t *frame;
	size_t len;

	if (addr[0] == '\0' || strcmp(addr, self_of(g)->st.addr) == 0)
		return;
	if (g->nout == g->capout) {
		uint32_t cap = g->capout ? g->capout * 2 : 16;
		struct outmsg *grown = mem_reallocarray(g->out, cap, sizeof(*grown));

		if (grown == NULL)
			return; /* dropped: gossip repeats itself */
		g->out = grown;
		g->capout = cap;
	}
	if (wire_encode(m, &frame, &len) != DKV_OK)
		return;
	strlcpy(g->out[g->nout].addr, addr, sizeof(g->out[0].addr));
	g->out[g->nout].frame = frame;
	g->out[g->nout].len = len;
	g->nout++;
}

void
gossip_take_outbox(struct gossip *g, struct outmsg **out, uint32_t *n)
{
	*out = g->out;
	*n = g->nout;
	g->out = NULL;
	g->nout = g->capout = 0;
}

static bool
is_peer(const struct member *m)
{
	return m->st.status != STATUS_LEFT;
}

static void
bump_self(struct gossip *g)
{
	self_of(g)->st.version++;
}

/* --- rounds --------------------------------------------------------------- */

static void
send_syn(struct gossip *g, const char *addr)
{
	struct msg m;
	struct digest *d;

	memset(&m, 0, sizeof(m));
	m.type = WMSG_SYN;
	m.from = self_of(g)->st.id;
	d = mem_reallocarray(NULL, g->n, sizeof(*d));
	if (d == NULL)
		return;
	for (uint32_t i = 0; i < g->n; i++) {
		d[i].id = g->members[i].st.id;
		d[i].generation = g->members[i].st.generation;
		d[i].version = g->members[i].st.version;
	}
	m.digests = d;
	m.ndigests = g->n;
	queue(g, addr, &m);
	mem_free(d);
}

static const struct member *
random_member(struct gossip *g, bool want_up)
{
	uint32_t count = 0, pick;

	for (uint32_t i = 1; i < g->n; i++)
		count += is_peer(&g->members[i]) && g->members[i].up == want_up;
	if (count == 0)
		return NULL;
	pick = (uint32_t)(next_rand(g) % count);
	for (uint32_t i = 1; i < g->n; i++)
		if (is_peer(&g->members[i]) && g->members[i].up == want_up && pick-- == 0)
			return &g->members[i];
	return NULL;
}

static bool
is_seed(const struct gossip *g, const char *addr)
{
	for (uint32_t i = 0; i < g->cfg.nseeds; i++)
		if (strcmp(g->cfg.seeds[i], addr) == 0)
			return true;
	return false;
}

static void
gossip_round(struct gossip *g)
{
	const struct member *live, *dead;
	uint32_t nlive = 0, ndead = 0;
	bool sent_to_seed = false;

	/* No version bump here: liveness travels in direct heartbeats, so a
	 * state changes (and is re-sent) only when something in it does, and
	 * a quiet round costs one digest list. */
	for (uint32_t i = 1; i < g->n; i++) {
		if (!is_peer(&g->members[i]))
			continue;
		if (g->members[i].up)
			nlive++;
		else
			ndead++;
	}
	live = random_member(g, true);
	if (live != NULL) {
		send_syn(g, live->st.addr);
		sent_to_seed = is_seed(g, live->st.addr);
	}
	dead = random_member(g, false);
	if (dead != NULL && next_rand(g) % (nlive + 1) < ndead)
		send_syn(g, dead->st.addr);
	if (g->cfg.nseeds > 0 && (!sent_to_seed || nlive < g->cfg.nseeds)) {
		const char *seed = g->cfg.seeds[next_rand(g) % g->cfg.nseeds];

		if (live == NULL || strcmp(seed, live->st.addr) != 0)
			send_syn(g, seed);
	}
}

static void
heartbeat_round(struct gossip *g, uint64_t now_ms)
{
	struct msg m;

	self_of(g)->st.heartbeat++;
	memset(&m, 0, sizeof(m));
	m.type = WMSG_HEARTBEAT;
	m.from = self_of(g)->st.id;
	m.generation = self_of(g)->st.generation;
	m.heartbeat = self_of(g)->st.heartbeat;
	for (uint32_t i = 1; i < g->n; i++) {
		struct member *p = &g->members[i];

		if (!is_peer(p))
			continue;
		queue(g, p->st.addr, &m);
		p->phi = fd_phi(&p->fd, &g->cfg.fd, now_ms);
		if (p->up && p->phi > g->cfg.phi_threshold) {
			p->up = false;
			p->down_since_ms = now_ms;
			g->changes++;
		}
	}
	/* clients own nothing: once gone for a while, forget them */
	for (uint32_t i = g->n; i-- > 1;) {
		struct member *p = &g->members[i];

		if (p->st.role == PEER_CLIENT && !p->up &&
		    now_ms - p->down_since_ms > GOSSIP_CLIENT_EXPIRY_MS)
			forget(g, i);
	}
}

void
gossip_tick(struct gossip *g, uint64_t now_ms)
{
	if (now_ms >= g->next_heartbeat_ms) {
		heartbeat_round(g, now_ms);
		g->next_heartbeat_ms = now_ms + g->cfg.heartbeat_ms;
	}
	if (now_ms >= g->next_round_ms) {
		gossip_round(g);
		g->next_round_ms = now_ms + g->cfg.interval_ms;
	}
}

uint64_t
gossip_next_deadline(const struct gossip *g)
{
	return g->next_round_ms < g->next_heartbeat_ms ? g->next_round_ms : g->next_heartbeat_ms;
}

/* --- receiving -------------------------------------------------------------- */

static bool
newer(uint64_t gen_a, uint64_t ver_a, uint64_t gen_b, uint64_t ver_b)
{
	return gen_a > gen_b || (gen_a == gen_b && ver_a > ver_b);
}

static bool
ring_relevant_change(const struct peer_state *a, const struct peer_state *b)
{
	return a->status != b->status || a->ntokens != b->ntokens ||
	       strcmp(a->dc, b->dc) != 0 || strcmp(a->rack, b->rack) != 0 ||
	       (a->ntokens > 0 && memcmp(a->tokens, b->tokens, a->ntokens * sizeof(*a->tokens)) != 0) ||
	       strcmp(a->addr, b->addr) != 0;
}

static void
apply_state(struct gossip *g, const struct peer_state *s, uint64_t now_ms)
{
	struct member *m = gossip_find(g, &s->id);
	struct peer_state copy;

	if (m == self_of(g))
		return; /* nobody knows us better than we do */
	if (m == NULL) {
		m = add_member(g, s);
		if (m != NULL) {
			m->down_since_ms = now_ms;
			m->met_ms = now_ms;
			g->changes++;
		}
		return; /* UP once it heartbeats to us */
	}
	if (!newer(s->generation, s->version, m->st.generation, m->st.version))
		return;
	if (wire_state_copy(&copy, s) != DKV_OK)
		return;
	if (s->generation > m->st.generation) {
		/* a restart: its old judgement no longer applies */
		fd_init(&m->fd);
		m->up = false;
		m->shutdown = false;
		m->down_since_ms = now_ms;
		g->changes++;
	} else if (ring_relevant_change(&m->st, s)) {
		g->changes++;
	}
	wire_state_free(&m->st);
	m->st = copy;
}

static void
on_syn(struct gossip *g, const struct msg *in, const char *from_addr, uint64_t now_ms)
{
	struct msg ack;
	bool *mentioned;
	uint32_t nreq = 0, nst = 0;

	memset(&ack, 0, sizeof(ack));
	ack.type = WMSG_ACK;
	ack.from = self_of(g)->st.id;
	mentioned = mem_calloc(g->n, sizeof(*mentioned));
	ack.digests = mem_reallocarray(NULL, in->ndigests ? in->ndigests : 1, sizeof(*ack.digests));
	ack.states = mem_reallocarray(NULL, g->n, sizeof(*ack.states));
	if (mentioned == NULL || ack.digests == NULL || ack.states == NULL)
		goto out;
	for (uint32_t i = 0; i < in->ndigests; i++) {
		const struct digest *d = &in->digests[i];
		struct member *m = gossip_find(g, &d->id);

		if (m == NULL) {
			ack.digests[nreq] = *d;
			ack.digests[nreq].generation = 0;
			ack.digests[nreq].version = 0;
			nreq++;
			continue;
		}
		if (mentioned[m - g->members])
			continue; /* a digest listed twice is answered once */
		mentioned[m - g->members] = true;
		if (newer(d->generation, d->version, m->st.generation, m->st.version)) {
			ack.digests[nreq].id = d->id;
			ack.digests[nreq].generation = m->st.generation;
			ack.digests[nreq].version = m->st.version;
			nreq++;
		} else if (newer(m->st.generation, m->st.version, d->generation, d->version)) {
			ack.states[nst++] = m->st; /* shallow: encoded before we change */
		}
	}
	for (uint32_t i = 0; i < g->n; i++)
		if (!mentioned[i])
			ack.states[nst++] = g->members[i].st;
	ack.ndigests = nreq;
	ack.nstates = nst;
	queue(g, from_addr, &ack);
out:
	(void)now_ms;
	mem_free(mentioned);
	mem_free(ack.digests);
	mem_free(ack.states);
}

static void
on_ack(struct gossip *g, const struct msg *in, const char *from_addr, uint64_t now_ms)
{
	struct msg ack2;
	uint32_t nst = 0;

	for (uint32_t i = 0; i < in->nstates; i++)
		apply_state(g, &in->states[i], now_ms);
	if (in->ndigests == 0)
		return;
	memset(&ack2, 0, sizeof(ack2));
	ack2.type = WMSG_ACK2;
	ack2.from = self_of(g)->st.id;
	ack2.states = mem_reallocarray(NULL, in->ndigests, sizeof(*ack2.states));
	if (ack2.states == NULL)
		return;
	for (uint32_t i = 0; i < in->ndigests; i++) {
		const struct digest *d = &in->digests[i];
		struct member *m = gossip_find(g, &d->id);

		if (m != NULL && newer(m->st.generation, m->st.version, d->generation, d->version))
			ack2.states[nst++] = m->st;
	}
	ack2.nstates = nst;
	if (nst > 0)
		queue(g, from_addr, &ack2);
	mem_free(ack2.states);
}

static void
on_heartbeat(struct gossip *g, const struct msg *in, uint64_t now_ms)
{
	struct member *m = gossip_find(g, &in->from);

	if (m == NULL || m == self_of(g) || !is_peer(m) || in->generation < m->st.generation)
		return;
	if (in->generation == m->st.generation && m->shutdown)
		return; /* a heartbeat that crossed its goodbye */
	fd_heartbeat(&m->fd, &g->cfg.fd, now_ms);
	m->phi = fd_phi(&m->fd, &g->cfg.fd, now_ms);
	if (!m->up && in->generation == m->st.generation) {
		m->up = true;
		g->changes++;
	}
}

static void
on_shutdown(struct gossip *g, const struct msg *in, uint64_t now_ms)
{
	struct member *m = gossip_find(g, &in->from);

	if (m == NULL || m == self_of(g) || in->generation != m->st.generation)
		return;
	if (m->st.role == PEER_CLIENT) {
		forget(g, (uint32_t)(m - g->members));
		return;
	}
	m->shutdown = true;
	if (m->up) {
		m->up = false;
		m->down_since_ms = now_ms;
		g->changes++;
	}
}

void
gossip_recv(struct gossip *g, const struct msg *m, const char *from_addr, uint64_t now_ms)
{
	switch (m->type) {
	case WMSG_SYN:
		on_syn(g, m, from_addr, now_ms);
		break;
	case WMSG_ACK:
		on_ack(g, m, from_addr, now_ms);
		break;
	case WMSG_ACK2:
		for (uint32_t i = 0; i < m->nstates; i++)
			apply_state(g, &m->states[i], now_ms);
		break;
	case WMSG_HEARTBEAT:
		on_heartbeat(g, m, now_ms);
		break;
	case WMSG_SHUTDOWN:
		on_shutdown(g, m, now_ms);
		break;
	default:
		break; /* handshakes belong to the transport */
	}
}

int
gossip_set_tokens(struct gossip *g, const struct token *tokens, uint32_t n)
{
	struct member *self = self_of(g);
	struct token *copy = NULL;

	if (n > 0) {
		copy = mem_reallocarray(NULL, n, sizeof(*copy));
		if (copy == NULL)
			return DKV_ENOMEM;
		memcpy(copy, tokens, n * sizeof(*copy));
	}
	mem_free(self->st.tokens);
	self->st.tokens = copy;
	self->st.ntokens = n;
	bump_self(g);
	g->changes++;
	return DKV_OK;
}

void
gossip_set_status(struct gossip *g, uint8_t status)
{
	if (self_of(g)->st.status == status)
		return;
	self_of(g)->st.status = status;
	bump_self(g);
	g->changes++;
}

void
gossip_set_moved(struct gossip *g, uint8_t percent)
{
	if (self_of(g)->st.moved == percent)
		return;
	self_of(g)->st.moved = percent;
	bump_self(g); /* gossiped, but the ring does not change */
}

void
gossip_shutdown(struct gossip *g)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = WMSG_SHUTDOWN;
	m.from = self_of(g)->st.id;
	m.generation = self_of(g)->st.generation;
	for (uint32_t i = 1; i < g->n; i++)
		if (is_peer(&g->members[i]))
			queue(g, g->members[i].st.addr, &m);
}

int
gossip_remove(struct gossip *g, const struct actor *id, uint64_t now_ms)
{
	struct member *m = gossip_find(g, id);

	if (m == NULL)
		return DKV_ENOTFOUND;
	if (m == self_of(g) || m->up || now_ms - m->met_ms < GOSSIP_REMOVE_GRACE_MS)
		return DKV_EBUSY;
	/* Said on the dead peer's behalf: a version above any it reached.
	 * If it ever restarts, its new generation supersedes this. */
	m->st.status = STATUS_LEFT;
	m->st.version += 1u << 20;
	mem_free(m->st.tokens);
	m->st.tokens = NULL;
	m->st.ntokens = 0;
	g->changes++;
	return DKV_OK;
}
