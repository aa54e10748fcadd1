/*
 * Peer connections over TCP (loop thread only).
 *
 * Every peer listens; to send, it opens one outgoing connection per
 * destination address and keeps it. A connection starts with a handshake:
 * HELLO carries the protocol version (frame header), cluster name, node id,
 * generation and the sender's listen address; the listener answers
 * HELLO_OK, or REFUSE with a reason and hangs up. Replies travel on the
 * replier's own outgoing connection, so each direction is one stream.
 *
 * Bounds: frames over max_frame or malformed drop the connection (logged,
 * nothing else happens); each outgoing connection buffers at most max_queue
 * bytes (more is dropped — gossip and heartbeats repeat themselves); a
 * failed connection is retried with capped exponential backoff, and frames
 * for it are dropped meanwhile.
 */
#ifndef DKV_IO_TRANSPORT_H
#define DKV_IO_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/vv.h"
#include "core/wire.h"
#include "util/log.h"

struct event_base;
struct transport;

struct transport_config {
	const char *listen; /* host:port, port 0 picks one */
	const char *cluster_name;
	struct actor self;
	uint64_t generation;
	uint32_t max_frame;
	size_t max_queue;
	uint32_t backoff_min_ms, backoff_max_ms;
	const struct logger *log;
	/* A decoded message from the peer listening at from_addr. */
	void (*on_msg)(void *arg, const struct msg *m, const char *from_addr);
	void *arg;
};

int transport_open(struct event_base *base, const struct transport_config *cfg,
                   struct transport **out, char *err, size_t errlen);
/* The address peers reach us at (the port resolved if it was 0). */
const char *transport_addr(const struct transport *t);
/* Sends a whole frame to addr; takes the frame (mem_free). */
void transport_send(struct transport *t, const char *addr, uint8_t *frame, size_t len);
/* Test faults for the peer listening at addr: TRANSPORT_FAULT_DROP drops
 * every frame to and from it (a partition), _DROP_DATA only replication
 * messages (it looks alive but never answers); delay_ms holds frames to
 * it back that long. flags 0 and delay 0 clear the fault. */
#define TRANSPORT_FAULT_DROP 0x1u
#define TRANSPORT_FAULT_DROP_DATA 0x2u
int transport_set_fault(struct transport *t, const char *addr, unsigned flags, unsigned delay_ms);

/* Writes what it can of every queued frame at once, then frees it all. */
void transport_close(struct transport *t);

/* Counters for dkv_stats. */
struct transport_stats {
	uint64_t frames_in, frames_out, frames_dropped, refused, bad_frames;
	uint64_t bytes_in, bytes_out;
};
void transport_get_stats(const struct transport *t, struct transport_stats *s);

#endif
