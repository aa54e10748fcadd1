/*
 * The peer-to-peer wire protocol: framing and one encoder/decoder pair per
 * message.
 *
 * A frame is a 12-byte header — u32 magic "DKV1", u8 protocol version,
 * u8 message type, u16 zero, u32 body length — and a body of explicit
 * little-endian fields. Strings are u8 length + bytes; lists carry a u32
 * count that is checked against both a fixed limit and the bytes that
 * remain before anything is allocated. Decoders never trust a length: a
 * malformed, truncated, oversized or trailing-garbage body is DKV_EINVAL
 * and the connection that sent it is dropped.
 */
#ifndef DKV_CORE_WIRE_H
#define DKV_CORE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/token.h"
#include "core/vv.h"

#define WIRE_MAGIC 0x31564b44u /* "DKV1" as little-endian bytes */
#define WIRE_VERSION 4 /* 2: hints, anti-entropy, PURGE; 3: range moves; 4: AE over many ranges */
#define WIRE_HEADER 12
#define WIRE_MAX_PEERS 4096
#define WIRE_MAX_TOKENS 4096
#define WIRE_ADDR_MAX 255

enum wire_type {
	WMSG_HELLO = 1, /* handshake: who I am, which cluster */
	WMSG_HELLO_OK,  /* handshake accepted */
	WMSG_REFUSE,    /* handshake refused, with the reason */
	WMSG_SYN,       /* gossip round 1: my digests */
	WMSG_ACK,       /* round 2: digests I want, states you lack */
	WMSG_ACK2,      /* round 3: the states asked for */
	WMSG_HEARTBEAT, /* direct liveness ping for the failure detector */
	WMSG_SHUTDOWN,  /* a clean stop: mark me down now */
	/* replication (coord.h): a request carries the coordinator's op id,
	 * the answer travels back with it */
	WMSG_APPLY,   /* apply a put or delete: key, context, value */
	WMSG_APPLIED, /* status and the object the applier now holds */
	WMSG_STORE,   /* merge this object into yours (or into a hint): key, object */
	WMSG_STORED,  /* status */
	WMSG_READ,    /* send me what you hold: key */
	WMSG_VALUE,   /* status and the object (none when status says so) */
	/* anti-entropy (lib/ae.h): an exchange ("session", by id) compares
	 * the ranges two replicas share, many at once */
	WMSG_AE_TREE,   /* my hashes of the frontier (roots: with the ranges) */
	WMSG_AE_KEYS,   /* my entries (key, hash) in the next differing leaves */
	WMSG_AE_WANT,   /* send me your objects for these keys */
	WMSG_AE_DONE,   /* the exchange is over (status, counts) */
	WMSG_AE_REPAIR, /* run a full repair pass now, answer AE_DONE */
	WMSG_PURGE,     /* delete your tombstone for this key if its hash is this */
	/* range moves (join, leave) */
	WMSG_MOVE_REQ,  /* send me your objects in (lo, hi] after this cursor */
	WMSG_MOVE_DATA, /* objects of a range, in ring order (LAST: no more) */
	WMSG_LEAVE,     /* decommission yourself (answered by a MOVE_DATA status) */
	/* version 4 */
	WMSG_AE_DIFF, /* which nodes of the frontier differ from mine */
	WMSG_AE_OBJS, /* objects to merge (anti-entropy), no answer */
	WMSG_TYPE_MAX
};

enum peer_status { STATUS_JOINING, STATUS_NORMAL, STATUS_LEAVING, STATUS_LEFT, STATUS_MAX };
enum peer_role { PEER_STORAGE, PEER_CLIENT };

struct frame_header {
	uint8_t version, type;
	uint32_t body_len;
};

struct digest {
	struct actor id;
	uint64_t generation, version;
};

/* A peer's gossiped state. version orders states within a generation
 * (a restart starts a new, higher generation). */
struct peer_state {
	struct actor id;
	char addr[WIRE_ADDR_MAX + 1];
	char dc[ACTOR_MAX + 1], rack[ACTOR_MAX + 1];
	uint8_t role, status;
	uint8_t moved; /* JOINING/LEAVING: percent of its range moves done */
	uint64_t generation, version, heartbeat;
	uint32_t ntokens;
	struct token *tokens; /* owned (wire_state_free) */
};

/* APPLY flags */
#define WOP_TOMBSTONE 0x01u
#define WOP_CONTEXT 0x02u
/* STORE flag: the object is a hint held for another peer (op.hint), sent
 * to this one because that peer is down (sloppy quorum) */
#define WOP_HINT 0x04u
/* STORE flag: no STORED answer wanted (anti-entropy's transfers) */
#define WOP_NOACK 0x08u

/* The body of a replication message. Byte fields point into the frame
 * being decoded (valid during the on_msg callback only); klen is 1..
 * WIRE_MAX_KEY, ctx a context encoding (vv.h) when WOP_CONTEXT. */
#define WIRE_MAX_KEY 65535
struct wire_op {
	uint64_t id;
	int32_t status;  /* answers: a DKV_* code */
	uint8_t flags;   /* APPLY, STORE */
	uint64_t now_us; /* APPLY: the coordinator's wall clock */
	const uint8_t *key, *ctx, *data; /* data: value (APPLY) or object */
	uint32_t klen, ctxlen, dlen;
	struct actor hint; /* STORE with WOP_HINT: the peer it is meant for */
	uint64_t hash;     /* PURGE: the entry hash the record must still have */
};

/* An anti-entropy message (ae.h tells the exchange). Pointers point into
 * the frame being decoded (valid during the on_msg callback only), except
 * hashes and ids, which the decoder allocates (wire_msg_free); all were
 * checked by the decoder.
 *   AE_TREE: depth, level, n hashes (u64); at level 0 also n range ids
 *            (merkle_range_id), one per tree.
 *   AE_DIFF: level and n bits (one per frontier node, bit i in byte i/8,
 *            low bit first, bits past n zero); at level 0 a second bitmap
 *            of n bits, unknown (ranges its sender cannot compare).
 *   AE_KEYS: flags, n (differing leaves this batch covers), nkeys entries
 *            (key tag, entry hash, the sum of the object's version
 *            vector); tags are merkle_key_tag salted with the sid's low
 *            32 bits.
 *   AE_WANT: flags, n (objects its sender sent for the batch),
 *            counts[1] (keys it compared), nkeys entries (key tag, flags).
 *   AE_OBJS: nkeys entries (flags, key, object).
 *   AE_DONE: status, counts.
 *   AE_REPAIR: sid only.
 * Read entries with wire_ae_next_entry. */
#define WIRE_AE_LAST 0x01u      /* AE_KEYS, AE_WANT: the exchange's last batch */
#define WIRE_AE_SYNCBACK 0x01u  /* entry flag (AE_WANT, AE_OBJS): see ae.h */
#define WIRE_AE_MAX_NODES 65536 /* hashes or bits in one message */
struct wire_ae {
	uint8_t type; /* the message's, for the entry format */
	uint64_t sid;
	uint8_t depth, level, flags;
	int32_t status; /* AE_DONE */
	uint32_t n;
	uint64_t *hashes; /* AE_TREE */
	uint64_t *ids;    /* AE_TREE at level 0 */
	const uint8_t *bits, *unknown; /* AE_DIFF: (n + 7) / 8 bytes each */
	uint32_t nkeys;
	const uint8_t *keys; /* the entries */
	size_t keys_len;
	/* AE_DONE: ranges, keys compared, keys repaired, ranges differing,
	 * failed; AE_WANT: [1] keys compared */
#define WIRE_AE_COUNTS 5
	uint64_t counts[WIRE_AE_COUNTS];
};

/* One entry of AE_KEYS (tag, hash, sum), AE_WANT (tag, flags) or AE_OBJS
 * (flags, key, obj; klen 1..WIRE_MAX_KEY). */
struct wire_ae_entry {
	uint32_t tag;
	const uint8_t *key;
	uint32_t klen;
	uint64_t hash, sum;
	uint8_t flags;
	const uint8_t *obj;
	uint32_t olen;
};

/* Room an entry takes at most. */
#define WIRE_AE_ENTRY_MAX(klen, olen) (1 + 3 * 10 + (size_t)(klen) + 8 + (size_t)(olen))
/* Appends an entry in type's format at out + *off. */
void wire_ae_put_entry(uint8_t type, uint8_t *out, size_t *off, const struct wire_ae_entry *e);
/* Its exact size. */
size_t wire_ae_entry_size(uint8_t type, const struct wire_ae_entry *e);
/* The entry at *off (advanced past it); false at the end. */
bool wire_ae_next_entry(const struct wire_ae *ae, size_t *off, struct wire_ae_entry *e);

/* A range move message (moves.h). MOVE_REQ: the range (lo, hi], the
 * cursor (has_cursor: resume after the entry (cur_t, cur_key), else from
 * the start) and max_bytes, the batch size wanted. MOVE_DATA: sid, status
 * and flags (WIRE_MOVE_LAST: the range holds nothing after the cursor
 * asked for, so the batch is empty), then n entries: token, u16 key length
 * (1..WIRE_MAX_KEY), key, u32 object length, object; read them with
 * wire_move_next. LEAVE: sid only. */
#define WIRE_MOVE_LAST 0x01u
#define WIRE_MOVE_ENTRY_MAX(klen, olen) (TOKEN_BYTES + 2 + (size_t)(klen) + 4 + (size_t)(olen))
struct wire_move {
	uint64_t sid;
	int32_t status;
	struct token lo, hi, cur_t;
	uint8_t flags;
	bool has_cursor;
	uint32_t max_bytes;
	const uint8_t *cur_key;
	uint16_t cur_klen;
	uint32_t n;
	const uint8_t *entries;
	size_t entries_len;
};

/* Appends an entry at out + *off (room for WIRE_MOVE_ENTRY_MAX). */
void wire_move_put(uint8_t *out, size_t *off, struct token t, const void *key, uint16_t klen,
                   const void *obj, uint32_t olen);
/* The entry at *off (advanced past it); false at the end. */
bool wire_move_next(const struct wire_move *mv, size_t *off, struct token *t,
                    const uint8_t **key, uint16_t *klen, const uint8_t **obj, uint32_t *olen);

struct msg {
	enum wire_type type;
	struct actor from;
	uint64_t generation; /* HELLO, HEARTBEAT, SHUTDOWN */
	uint64_t heartbeat;  /* HEARTBEAT */
	char text[256];      /* HELLO: cluster name; REFUSE: reason */
	char addr[WIRE_ADDR_MAX + 1]; /* HELLO: the sender's listen address */
	uint32_t ndigests;
	struct digest *digests; /* SYN, ACK */
	uint32_t nstates;
	struct peer_state *states; /* ACK, ACK2 */
	struct wire_op op;         /* APPLY .. VALUE */
	struct wire_ae ae;         /* AE_* */
	struct wire_move mv;       /* MOVE_*, LEAVE */
};

void wire_encode_header(uint8_t out[WIRE_HEADER], uint8_t type, uint32_t body_len);
/* DKV_EINVAL for a bad magic/version/type or a body over max_body. */
int wire_decode_header(const uint8_t in[WIRE_HEADER], uint32_t max_body,
                       struct frame_header *h);

/* Encodes m as a whole frame (header + body) into a new buffer. */
int wire_encode(const struct msg *m, uint8_t **out, size_t *len);
/* Decodes a body of the given type into m (free with wire_msg_free). */
int wire_decode(uint8_t type, const uint8_t *body, size_t len, struct msg *m);
void wire_msg_free(struct msg *m);

void wire_state_free(struct peer_state *s);
int wire_state_copy(struct peer_state *dst, const struct peer_state *src);

#endif
