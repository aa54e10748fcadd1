/* The cluster simulator (see sim.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libdkv/dkv.h"
#include "sim.h"
#include "util/alloc.h"

static uint64_t
sim_rand(struct sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool
pkt_before(const struct sim_packet *a, const struct sim_packet *b)
{
	return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->seq < b->seq);
}

static void
heap_push(struct sim *s, struct sim_packet p)
{
	uint32_t i;

	if (s->nq == s->capq) {
		s->capq = s->capq ? s->capq * 2 : 1024;
		s->q = realloc(s->q, s->capq * sizeof(*s->q));
		if (s->q == NULL)
			abort();
	}
	i = s->nq++;
	s->q[i] = p;
	while (i > 0 && pkt_before(&s->q[i], &s->q[(i - 1) / 2])) {
		struct sim_packet t = s->q[i];

		s->q[i] = s->q[(i - 1) / 2];
		s->q[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static struct sim_packet
heap_pop(struct sim *s)
{
	struct sim_packet top = s->q[0];
	uint32_t i = 0;

	s->q[0] = s->q[--s->nq];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < s->nq && pkt_before(&s->q[l], &s->q[m]))
			m = l;
		if (r < s->nq && pkt_before(&s->q[r], &s->q[m]))
			m = r;
		if (m == i)
			break;
		struct sim_packet t = s->q[i];
		s->q[i] = s->q[m];
		s->q[m] = t;
		i = m;
	}
	return top;
}

static int
node_by_addr(struct sim *s, const char *addr)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->nodes[i].addr, addr) == 0)
			return i;
	return -1;
}

static void
start_node(struct sim *s, int i, int nseeds)
{
	struct sim_node *nd = &s->nodes[i];
	struct gossip_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.self.addr, sizeof(cfg.self.addr), "%s", nd->addr);
	{
		char id[32];

		snprintf(id, sizeof(id), "node-%d", i);
		actor_set(&cfg.self.id, id, strlen(id));
	}
	strcpy(cfg.self.dc, "dc1");
	strcpy(cfg.self.rack, "rack1");
	cfg.self.role = PEER_STORAGE;
	cfg.self.status = STATUS_NORMAL;
	cfg.self.generation = nd->generation;
	cfg.interval_ms = 1000;
	cfg.heartbeat_ms = 250;
	cfg.phi_threshold = 8;
	cfg.fd.min_stddev_ms = 200;
	cfg.fd.acceptable_pause_ms = 1000;
	cfg.fd.first_interval_ms = 250;
	cfg.rng_seed = s->seed * 131 + (uint64_t)i * 7919 + nd->generation;
	for (int k = 0; k < nseeds && k < s->n; k++)
		if (k != i)
			snprintf(cfg.seeds[cfg.nseeds++], sizeof(cfg.seeds[0]), "%s", s->nodes[k].addr);
	if (gossip_init(&nd->g, &cfg, s->now_ms) != DKV_OK)
		abort();
	gossip_set_tokens(&nd->g, nd->tokens, SIM_VNODES);
	nd->alive = true;
}

static int sim_nseeds;

void
sim_init(struct sim *s, uint64_t seed, int n, int nseeds, const struct sim_faults *f)
{
	memset(s, 0, sizeof(*s));
	s->seed = seed;
	s->rng = seed;
	s->n = n;
	s->faults = *f;
	s->now_ms = 1000;
	sim_nseeds = nseeds;
	for (int i = 0; i < n; i++) {
		struct sim_node *nd = &s->nodes[i];

		snprintf(nd->addr, sizeof(nd->addr), "10.0.%d.%d:7000", i / 200, i % 200 + 1);
		nd->generation = 1;
		for (int t = 0; t < SIM_VNODES; t++) {
			nd->tokens[t].hi = sim_rand(s);
			nd->tokens[t].lo = sim_rand(s);
		}
	}
	/* peers start a little apart, as processes do */
	for (int i = 0; i < n; i++) {
		start_node(s, i, nseeds);
		s->now_ms += sim_rand(s) % 50;
	}
}

void
sim_free(struct sim *s)
{
	for (int i = 0; i < s->n; i++)
		if (s->nodes[i].alive)
			gossip_free(&s->nodes[i].g);
	for (uint32_t i = 0; i < s->nq; i++)
		mem_free(s->q[i].frame);
	free(s->q);
}

static void
send_outbox(struct sim *s, int from)
{
	struct outmsg *out;
	uint32_t n;

	gossip_take_outbox(&s->nodes[from].g, &out, &n);
	for (uint32_t k = 0; k < n; k++) {
		int to = node_by_addr(s, out[k].addr);
		unsigned copies = 1;

		if (to < 0 || sim_rand(s) % 100 < s->faults.loss_pct) {
			s->dropped++;
			mem_free(out[k].frame);
			continue;
		}
		if (sim_rand(s) % 100 < s->faults.dup_pct)
			copies = 2;
		for (unsigned c = 0; c < copies; c++) {
			struct sim_packet p;
			unsigned span = s->faults.max_delay_ms - s->faults.min_delay_ms + 1;

			p.at_ms = s->now_ms + s->faults.min_delay_ms + sim_rand(s) % span;
			p.seq = s->seq++;
			p.from = from;
			p.to = to;
			p.len = out[k].len;
			if (c == 0) {
				p.frame = out[k].frame;
			} else {
				p.frame = mem_alloc(p.len);
				memcpy(p.frame, out[k].frame, p.len);
			}
			heap_push(s, p);
		}
	}
	mem_free(out);
}

static void
deliver(struct sim *s, struct sim_packet *p)
{
	struct sim_node *to = &s->nodes[p->to];
	struct frame_header h;
	struct msg m;

	if (!to->alive || !s->nodes[p->from].alive || to->group != s->nodes[p->from].group) {
		s->dropped++;
		return;
	}
	if (wire_decode_header(p->frame, 1u << 24, &h) != DKV_OK ||
	    wire_decode(h.type, p->frame + WIRE_HEADER, h.body_len, &m) != DKV_OK)
		abort(); /* our own encoder wrote it */
	gossip_recv(&to->g, &m, s->nodes[p->from].addr, s->now_ms);
	wire_msg_free(&m);
	s->delivered++;
	send_outbox(s, p->to);
}

void
sim_run(struct sim *s, uint64_t duration_ms)
{
	uint64_t end = s->now_ms + duration_ms;

	for (;;) {
		uint64_t next = end;
		int who = -1;

		for (int i = 0; i < s->n; i++)
			if (s->nodes[i].alive && gossip_next_deadline(&s->nodes[i].g) < next) {
				next = gossip_next_deadline(&s->nodes[i].g);
				who = i;
			}
		if (s->nq > 0 && s->q[0].at_ms <= next) {
			struct sim_packet p = heap_pop(s);

			if (p.at_ms > s->now_ms)
				s->now_ms = p.at_ms;
			deliver(s, &p);
			mem_free(p.frame);
			continue;
		}
		if (who < 0) {
			s->now_ms = end;
			return;
		}
		if (next > s->now_ms)
			s->now_ms = next;
		gossip_tick(&s->nodes[who].g, s->now_ms);
		send_outbox(s, who);
	}
}

void
sim_crash(struct sim *s, int i)
{
	if (!s->nodes[i].alive)
		return;
	gossip_free(&s->nodes[i].g);
	s->nodes[i].alive = false;
}

void
sim_restart(struct sim *s, int i)
{
	sim_crash(s, i);
	s->nodes[i].generation = s->now_ms; /* a new start time */
	start_node(s, i, sim_nseeds);
}

void
sim_partition(struct sim *s, const int *groups)
{
	for (int i = 0; i < s->n; i++)
		s->nodes[i].group = groups ? groups[i] : 0;
}

bool
sim_converged(struct sim *s, char *why, size_t whylen)
{
	for (int i = 0; i < s->n; i++) {
		struct sim_node *a = &s->nodes[i];

		if (!a->alive)
			continue;
		for (int j = 0; j < s->n; j++) {
			struct sim_node *b = &s->nodes[j];
			struct member *m;
			struct actor id;
			char name[32];

			if (i == j)
				continue;
			snprintf(name, sizeof(name), "node-%d", j);
			actor_set(&id, name, strlen(name));
			m = gossip_find(&a->g, &id);
			if (!b->alive) {
				if (m != NULL && m->up) {
					snprintf(why, whylen, "node %d still sees dead node %d up", i, j);
					return false;
				}
				continue;
			}
			if (m == NULL) {
				snprintf(why, whylen, "node %d does not know node %d", i, j);
				return false;
			}
			if (!m->up || m->st.generation != b->generation) {
				snprintf(why, whylen, "node %d sees node %d %s gen %llu (is %llu)", i, j,
				         m->up ? "up" : "down", (unsigned long long)m->st.generation,
				         (unsigned long long)b->generation);
				return false;
			}
			if (m->st.ntokens != SIM_VNODES ||
			    memcmp(m->st.tokens, b->tokens, sizeof(b->tokens)) != 0) {
				snprintf(why, whylen, "node %d has node %d's tokens wrong", i, j);
				return false;
			}
		}
	}
	return true;
}
