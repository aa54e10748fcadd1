/*
 * TCP transport for peer messages (see transport.h). libevent bufferevents
 * carry the bytes; this file frames them, runs the handshake and keeps
 * every queue bounded.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <bsd/string.h>
#include <bsd/sys/queue.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "libdkv/dkv.h"
#include "io/transport.h"
#include "util/alloc.h"
#include "util/clock.h"

enum conn_state { C_CONNECTING, C_HANDSHAKE, C_READY, C_CLOSING, C_DEAD };

/* Live peers heartbeat every 250 ms: an incoming link silent this long (or
 * one that never says HELLO) is dead. An outgoing link whose bytes cannot
 * leave (a connect to a black hole included) is given up after less. */
static const struct timeval incoming_idle = {30, 0};
static const struct timeval outgoing_stuck = {10, 0};

/* Before a peer has said HELLO it may send one small frame, not the
 * data-sized frames an established peer may. */
#define HANDSHAKE_MAX_FRAME 1024
#define MAX_INCOMING 1024
#define MAX_OUTGOING 4096
#define DEAD_LINK_TTL_MS 60000

struct conn {
	TAILQ_ENTRY(conn) link;
	struct transport *t;
	struct bufferevent *bev;
	bool outgoing;
	enum conn_state state;
	char addr[WIRE_ADDR_MAX + 1]; /* destination, or the peer's listen address */
	struct evbuffer *pending;     /* outgoing frames waiting for HELLO_OK */
	struct actor peer;            /* incoming: who its HELLO said it is */
	uint64_t backoff_ms, next_attempt_ms, last_used_ms;
	size_t last_frame_len; /* of the frame being dispatched */
};

TAILQ_HEAD(conn_list, conn);

/* Test faults (transport_set_fault): what happens to the frames to and
 * from one peer address. */
#define MAX_FAULTS 64
struct fault {
	char addr[WIRE_ADDR_MAX + 1];
	unsigned flags, delay_ms;
};

/* A frame held back by a delay fault. */
struct delayed {
	TAILQ_ENTRY(delayed) link;
	struct transport *t;
	struct event *ev;
	char addr[WIRE_ADDR_MAX + 1];
	uint8_t *frame;
	size_t len;
};
TAILQ_HEAD(delayed_list, delayed);

struct transport {
	struct transport_config cfg;
	char cluster_name[ACTOR_MAX + 1];
	char addr[WIRE_ADDR_MAX + 1];
	struct event_base *base;
	struct evconnlistener *listener;
	struct conn_list out, in;
	unsigned nout, nin;
	uint64_t last_sweep_ms;
	struct transport_stats stats;
	unsigned nfaults;
	struct fault faults[MAX_FAULTS];
	struct delayed_list delayed;
};

static const struct fault *
fault_for(const struct transport *t, const char *addr)
{
	for (unsigned i = 0; i < t->nfaults; i++)
		if (strcmp(t->faults[i].addr, addr) == 0)
			return &t->faults[i];
	return NULL;
}

/* Whether a fault drops this frame (type from its header). */
static bool
fault_drops(const struct fault *f, uint8_t type)
{
	if (f == NULL)
		return false;
	if (f->flags & TRANSPORT_FAULT_DROP)
		return true;
	return (f->flags & TRANSPORT_FAULT_DROP_DATA) != 0 && type >= WMSG_APPLY;
}

static void conn_read(struct bufferevent *bev, void *arg);
static void conn_event(struct bufferevent *bev, short what, void *arg);

/* Splits "host:port" / "[v6]:port" into its parts. */
static int
split_hostport(const char *hp, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon = strrchr(hp, ':');
	size_t n;

	if (colon == NULL)
		return -1;
	n = (size_t)(colon - hp);
	if (hp[0] == '[' && n >= 2 && hp[n - 1] == ']') {
		hp++;
		n -= 2;
	}
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, hp, n);
	host[n] = '\0';
	return strlcpy(port, colon + 1, portlen) < portlen ? 0 : -1;
}

static int
resolve(const char *hostport, bool passive, struct addrinfo **res)
{
	char host[256], port[16];
	struct addrinfo hints;

	if (split_hostport(hostport, host, sizeof(host), port, sizeof(port)) != 0)
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* Only the listen address may be a name: addresses to connect to
	 * come from the network and must not cost a DNS lookup on the loop
	 * (configured seeds are resolved once, at open). */
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : AI_NUMERICHOST);
	return getaddrinfo(host, port, &hints, res) == 0 ? 0 : -1;
}

static void
set_nodelay(struct bufferevent *bev)
{
	int one = 1;
	evutil_socket_t fd = bufferevent_getfd(bev);

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Frees the connection's socket; outgoing ones stay listed, dead, to be
 * retried after their backoff. */
static void
conn_drop(struct conn *c, bool refused)
{
	struct transport *t = c->t;

	if (c->bev != NULL)
		bufferevent_free(c->bev);
	c->bev = NULL;
	if (c->pending != NULL)
		evbuffer_drain(c->pending, evbuffer_get_length(c->pending));
	if (!c->outgoing) {
		TAILQ_REMOVE(&t->in, c, link);
		t->nin--;
		if (c->pending != NULL)
			evbuffer_free(c->pending);
		mem_free(c);
		return;
	}
	c->state = C_DEAD;
	c->backoff_ms = refused ? t->cfg.backoff_max_ms
	              : c->backoff_ms == 0 ? t->cfg.backoff_min_ms
	              : c->backoff_ms * 2;
	if (c->backoff_ms > t->cfg.backoff_max_ms)
		c->backoff_ms = t->cfg.backoff_max_ms;
	c->next_attempt_ms = clock_mono_ms() + c->backoff_ms;
}

static void
send_frame(struct bufferevent *bev, const struct msg *m)
{
	uint8_t *frame;
	size_t len;

	if (wire_encode(m, &frame, &len) == DKV_OK) {
		bufferevent_write(bev, frame, len);
		mem_free(frame);
	}
}

static void
close_when_flushed(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	conn_drop(c, false);
}

static void
refuse(struct conn *c, const char *why)
{
	struct transport *t = c->t;
	struct msg m;

	memset(&m, 0, sizeof(m));
	m.type = WMSG_REFUSE;
	m.from = t->cfg.self;
	strlcpy(m.text, why, sizeof(m.text));
	send_frame(c->bev, &m);
	c->state = C_CLOSING;
	t->stats.refused++;
	bufferevent_setcb(c->bev, NULL, close_when_flushed, conn_event, c);
	bufferevent_disable(c->bev, EV_READ);
}

/* Returns false when c was freed or closed. */
static bool
dispatch(struct conn *c, const struct msg *m)
{
	struct transport *t = c->t;

	switch (c->state) {
	case C_HANDSHAKE:
		if (!c->outgoing) {
			char why[200];
			struct msg ok;

			if (m->type != WMSG_HELLO)
				break;
			if (strcmp(m->text, t->cluster_name) != 0) {
				snprintf(why, sizeof(why), "cluster name '%.64s' is not '%s'", m->text,
				         t->cluster_name);
				log_warn(t->cfg.log, "refused peer %.*s at %s: %s", m->from.len,
				         m->from.id, m->addr, why);
				refuse(c, why);
				return false;
			}
			{
				struct addrinfo *ai = NULL;

				if (resolve(m->addr, false, &ai) != 0) {
					snprintf(why, sizeof(why), "listen address '%.64s' is not host:port with a numeric host",
					         m->addr);
					log_warn(t->cfg.log, "refused peer %.*s: %s", m->from.len, m->from.id, why);
					refuse(c, why);
					return false;
				}
				freeaddrinfo(ai);
			}
			strlcpy(c->addr, m->addr, sizeof(c->addr));
			c->peer = m->from;
			c->state = C_READY;
			memset(&ok, 0, sizeof(ok));
			ok.type = WMSG_HELLO_OK;
			ok.from = t->cfg.self;
			ok.generation = t->cfg.generation;
			send_frame(c->bev, &ok);
			return true;
		}
		if (m->type == WMSG_HELLO_OK) {
			c->state = C_READY;
			c->backoff_ms = 0;
			bufferevent_write_buffer(c->bev, c->pending);
			return true;
		}
		if (m->type == WMSG_REFUSE) {
			log_warn(t->cfg.log, "peer at %s refused us: %s", c->addr, m->text);
			t->stats.refused++;
			conn_drop(c, true);
			return false;
		}
		break;
	case C_READY:
		if (!c->outgoing && !actor_eq(&m->from, &c->peer)) {
			/* one link, one sender: no speaking for others */
			log_warn(t->cfg.log, "peer %.*s at %s sent a message as %.*s; disconnecting",
			         c->peer.len, c->peer.id, c->addr, m->from.len, m->from.id);
			t->stats.bad_frames++;
			conn_drop(c, false);
			return false;
		}
		if (c->outgoing)
			return true;
		if (fault_drops(t->nfaults ? fault_for(t, c->addr) : NULL, (uint8_t)m->type)) {
			t->stats.frames_dropped++;
			return true;
		}
		t->stats.frames_in++;
		t->stats.bytes_in += c->last_frame_len;
		t->cfg.on_msg(t->cfg.arg, m, c->addr);
		return true;
	default:
		return true;
	}
	log_warn(t->cfg.log, "unexpected message %d during the handshake with %s; disconnecting",
	         (int)m->type, c->addr[0] ? c->addr : "a peer");
	t->stats.bad_frames++;
	conn_drop(c, false);
	return false;
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct transport *t = c->t;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		struct frame_header h;
		const uint8_t *hdr;
		uint32_t limit;
		uint8_t *body;
		struct msg m;
		bool alive;

		if (evbuffer_get_length(in) < WIRE_HEADER)
			return;
		limit = c->state == C_READY ? t->cfg.max_frame : HANDSHAKE_MAX_FRAME;
		hdr = evbuffer_pullup(in, WIRE_HEADER);
		if (hdr != NULL && wire_decode_header(hdr, limit, &h) != DKV_OK &&
		    h.version != WIRE_VERSION && hdr[0] == (WIRE_MAGIC & 0xff) && !c->outgoing &&
		    c->state == C_HANDSHAKE) {
			char why[96];

			snprintf(why, sizeof(why), "protocol version %u is not %u", h.version, WIRE_VERSION);
			log_warn(t->cfg.log, "refused a peer: %s", why);
			refuse(c, why);
			return;
		}
		if (hdr == NULL || wire_decode_header(hdr, limit, &h) != DKV_OK) {
			log_warn(t->cfg.log, "bad frame header from %s; disconnecting",
			         c->addr[0] ? c->addr : "a peer");
			t->stats.bad_frames++;
			conn_drop(c, false);
			return;
		}
		if (evbuffer_get_length(in) < WIRE_HEADER + (size_t)h.body_len)
			return;
		evbuffer_drain(in, WIRE_HEADER);
		body = mem_alloc(h.body_len);
		if (body == NULL) {
			conn_drop(c, false);
			return;
		}
		evbuffer_remove(in, body, h.body_len);
		if (wire_decode(h.type, body, h.body_len, &m) != DKV_OK) {
			mem_free(body);
			log_warn(t->cfg.log, "malformed message %u from %s; disconnecting",
			         (unsigned)h.type, c->addr[0] ? c->addr : "a peer");
			t->stats.bad_frames++;
			conn_drop(c, false);
			return;
		}
		c->last_frame_len = WIRE_HEADER + (size_t)h.body_len;
		alive = dispatch(c, &m); /* m.op borrows from body */
		wire_msg_free(&m);
		mem_free(body);
		if (!alive)
			return;
	}
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct transport *t = c->t;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		struct msg hello;

		set_nodelay(c->bev);
		c->state = C_HANDSHAKE;
		memset(&hello, 0, sizeof(hello));
		hello.type = WMSG_HELLO;
		hello.from = t->cfg.self;
		hello.generation = t->cfg.generation;
		strlcpy(hello.text, t->cluster_name, sizeof(hello.text));
		strlcpy(hello.addr, t->addr, sizeof(hello.addr));
		send_frame(c->bev, &hello);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_info(t->cfg.log, "connection %s %s timed out; closing",
		         c->outgoing ? "to" : "from", c->addr[0] ? c->addr : "a peer");
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_drop(c, false);
}

static struct conn *
find_out(struct transport *t, const char *addr)
{
	struct conn *c;

	TAILQ_FOREACH(c, &t->out, link)
		if (strcmp(c->addr, addr) == 0)
			return c;
	return NULL;
}

static int
conn_connect(struct conn *c)
{
	struct transport *t = c->t;
	struct addrinfo *ai = NULL;

	c->bev = bufferevent_socket_new(t->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL || resolve(c->addr, false, &ai) != 0 ||
	    bufferevent_socket_connect(c->bev, ai->ai_addr, (int)ai->ai_addrlen) != 0) {
		if (ai != NULL)
			freeaddrinfo(ai);
		conn_drop(c, false);
		return -1;
	}
	freeaddrinfo(ai);
	c->state = C_CONNECTING;
	bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
	bufferevent_set_timeouts(c->bev, NULL, &outgoing_stuck);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return 0;
}

/* Links to addresses nobody has sent to for a while (peers long dead or
 * forgotten) are freed, so the list does not grow without end. */
static void
sweep_dead(struct transport *t, uint64_t now)
{
	struct conn *c, *next;

	if (now - t->last_sweep_ms < 1000)
		return;
	t->last_sweep_ms = now;
	for (c = TAILQ_FIRST(&t->out); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->state != C_DEAD || now - c->last_used_ms < DEAD_LINK_TTL_MS)
			continue;
		TAILQ_REMOVE(&t->out, c, link);
		t->nout--;
		evbuffer_free(c->pending);
		mem_free(c);
	}
}

static void send_now(struct transport *t, const char *addr, uint8_t *frame, size_t len);

static void
on_delayed(evutil_socket_t fd, short what, void *arg)
{
	struct delayed *d = arg;

	(void)fd;
	(void)what;
	TAILQ_REMOVE(&d->t->delayed, d, link);
	send_now(d->t, d->addr, d->frame, d->len);
	event_free(d->ev);
	mem_free(d);
}

void
transport_send(struct transport *t, const char *addr, uint8_t *frame, size_t len)
{
	const struct fault *f = t->nfaults ? fault_for(t, addr) : NULL;
	struct delayed *d;

	if (f != NULL && fault_drops(f, frame[5])) {
		t->stats.frames_dropped++;
		mem_free(frame);
		return;
	}
	if (f != NULL && f->delay_ms > 0) {
		struct timeval tv = {f->delay_ms / 1000, (f->delay_ms % 1000) * 1000};

		d = mem_calloc(1, sizeof(*d));
		if (d != NULL && (d->ev = evtimer_new(t->base, on_delayed, d)) != NULL) {
			d->t = t;
			strlcpy(d->addr, addr, sizeof(d->addr));
			d->frame = frame;
			d->len = len;
			TAILQ_INSERT_TAIL(&t->delayed, d, link);
			evtimer_add(d->ev, &tv);
			return;
		}
		mem_free(d);
	}
	send_now(t, addr, frame, len);
}

int
transport_set_fault(struct transport *t, const char *addr, unsigned flags, unsigned delay_ms)
{
	unsigned i;

	for (i = 0; i < t->nfaults; i++)
		if (strcmp(t->faults[i].addr, addr) == 0)
			break;
	if (flags == 0 && delay_ms == 0) {
		if (i < t->nfaults)
			t->faults[i] = t->faults[--t->nfaults];
		return DKV_OK;
	}
	if (i == t->nfaults) {
		if (t->nfaults == MAX_FAULTS)
			return DKV_ENOMEM;
		strlcpy(t->faults[t->nfaults++].addr, addr, sizeof(t->faults[0].addr));
	}
	t->faults[i].flags = flags;
	t->faults[i].delay_ms = delay_ms;
	return DKV_OK;
}

static void
send_now(struct transport *t, const char *addr, uint8_t *frame, size_t len)
{
	uint64_t now = clock_mono_ms();
	struct conn *c;

	sweep_dead(t, now);
	c = find_out(t, addr);
	if (c == NULL) {
		if (t->nout >= MAX_OUTGOING)
			goto drop;
		c = mem_calloc(1, sizeof(*c));
		if (c == NULL || (c->pending = evbuffer_new()) == NULL) {
			mem_free(c);
			goto drop;
		}
		c->t = t;
		c->outgoing = true;
		c->state = C_DEAD;
		strlcpy(c->addr, addr, sizeof(c->addr));
		TAILQ_INSERT_TAIL(&t->out, c, link);
		t->nout++;
	}
	c->last_used_ms = now;
	if (c->state == C_DEAD) {
		if (now < c->next_attempt_ms || conn_connect(c) != 0)
			goto drop;
	}
	if (c->state == C_READY) {
		struct evbuffer *out = bufferevent_get_output(c->bev);

		if (evbuffer_get_length(out) + len > t->cfg.max_queue)
			goto drop;
		bufferevent_write(c->bev, frame, len);
	} else {
		if (evbuffer_get_length(c->pending) + len > t->cfg.max_queue)
			goto drop;
		evbuffer_add(c->pending, frame, len);
	}
	t->stats.frames_out++;
	t->stats.bytes_out += len;
	mem_free(frame);
	return;
drop:
	t->stats.frames_dropped++;
	mem_free(frame);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
          void *arg)
{
	struct transport *t = arg;
	struct conn *c;

	(void)l;
	(void)sa;
	(void)salen;
	if (t->nin >= MAX_INCOMING) {
		t->stats.refused++;
		evutil_closesocket(fd);
		return;
	}
	c = mem_calloc(1, sizeof(*c));
	if (c == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->t = t;
	c->state = C_HANDSHAKE;
	c->bev = bufferevent_socket_new(t->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		evutil_closesocket(fd);
		mem_free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&t->in, c, link);
	t->nin++;
	set_nodelay(c->bev);
	bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
	bufferevent_set_timeouts(c->bev, &incoming_idle, NULL);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

int
transport_open(struct event_base *base, const struct transport_config *cfg,
               struct transport **out, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct addrinfo *ai = NULL;
	struct transport *t;
	char host[256], port[16];

	*out = NULL;
	t = mem_calloc(1, sizeof(*t));
	if (t == NULL)
		return DKV_ENOMEM;
	t->cfg = *cfg;
	t->base = base;
	strlcpy(t->cluster_name, cfg->cluster_name, sizeof(t->cluster_name));
	TAILQ_INIT(&t->out);
	TAILQ_INIT(&t->in);
	TAILQ_INIT(&t->delayed);
	if (resolve(cfg->listen, true, &ai) != 0) {
		snprintf(err, errlen, "cannot resolve listen address %s", cfg->listen);
		goto fail;
	}
	t->listener = evconnlistener_new_bind(base, on_accept, t,
	                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	                                      128, ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (t->listener == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen, strerror(errno));
		goto fail;
	}
	/* advertise the port actually bound */
	split_hostport(cfg->listen, host, sizeof(host), port, sizeof(port));
	if (getsockname(evconnlistener_get_fd(t->listener), (struct sockaddr *)&ss, &sslen) == 0) {
		unsigned p = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
		                                      : ntohs(((struct sockaddr_in *)&ss)->sin_port);

		snprintf(t->addr, sizeof(t->addr), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, p);
	} else {
		strlcpy(t->addr, cfg->listen, sizeof(t->addr));
	}
	*out = t;
	return DKV_OK;
fail:
	mem_free(t);
	return DKV_EIO;
}

const char *
transport_addr(const struct transport *t)
{
	return t->addr;
}

void
transport_get_stats(const struct transport *t, struct transport_stats *s)
{
	*s = t->stats;
}

void
transport_close(struct transport *t)
{
	struct conn *c;

	if (t == NULL)
		return;
	while (!TAILQ_EMPTY(&t->delayed)) {
		struct delayed *d = TAILQ_FIRST(&t->delayed);

		TAILQ_REMOVE(&t->delayed, d, link);
		event_free(d->ev);
		mem_free(d->frame);
		mem_free(d);
	}
	/* Last words (SHUTDOWN) are queued: push what the sockets take now.
	 * A bufferevent keeps its output frozen to all but its own write
	 * callback; we are tearing it down, so unfreeze it and write. */
	TAILQ_FOREACH(c, &t->out, link) {
		if (c->state == C_READY && c->bev != NULL) {
			struct evbuffer *o = bufferevent_get_output(c->bev);
			evutil_socket_t fd = bufferevent_getfd(c->bev);

			evbuffer_unfreeze(o, 1);
			for (int tries = 0; tries < 8 && evbuffer_get_length(o) > 0; tries++)
				if (evbuffer_write(o, fd) <= 0)
					break;
		}
	}
	while ((c = TAILQ_FIRST(&t->out)) != NULL) {
		TAILQ_REMOVE(&t->out, c, link);
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		evbuffer_free(c->pending);
		mem_free(c);
	}
	while ((c = TAILQ_FIRST(&t->in)) != NULL) {
		TAILQ_REMOVE(&t->in, c, link);
		bufferevent_free(c->bev);
		mem_free(c);
	}
	if (t->listener != NULL)
		evconnlistener_free(t->listener);
	mem_free(t);
}
