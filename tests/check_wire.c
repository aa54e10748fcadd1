/*
 * Wire codec (lib/core/wire.c): every message round-trips; every
 * truncation, bad header, lying count and trailing byte is DKV_EINVAL.
 */
#include "config.h"

#include "libdkv/dkv.h"
#include "core/wire.h"
#include "unit.h"

static struct token toks[3] = {{1, 2}, {3, 4}, {UINT64_MAX, 0}};

static void
fill_state(struct peer_state *s, const char *id)
{
	memset(s, 0, sizeof(*s));
	s->id = mk_actor(id);
	strcpy(s->addr, "127.0.0.1:7000");
	strcpy(s->dc, "dc1");
	strcpy(s->rack, "r1");
	s->role = PEER_STORAGE;
	s->status = STATUS_NORMAL;
	s->generation = 1700000000;
	s->version = 42;
	s->heartbeat = 41;
	s->ntokens = 3;
	s->tokens = toks;
}

static void
sample(enum wire_type type, struct msg *m, struct digest *d, struct peer_state *st)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->from = mk_actor("node-a");
	m->generation = 77;
	m->heartbeat = 9;
	strcpy(m->text, "cluster-x");
	strcpy(m->addr, "10.1.2.3:7000");
	if (type == WMSG_SYN || type == WMSG_ACK || type == WMSG_ACK2) {
		d[0].id = mk_actor("node-b");
		d[0].generation = 5;
		d[0].version = 6;
		d[1].id = mk_actor("node-c");
		m->ndigests = 2;
		m->digests = d;
		fill_state(&st[0], "node-b");
		fill_state(&st[1], "node-c");
		st[1].ntokens = 0;
		st[1].tokens = NULL;
		m->nstates = type == WMSG_SYN ? 0 : 2;
		m->states = st;
	}
	if (type >= WMSG_AE_TREE && type <= WMSG_AE_REPAIR) {
		static uint8_t nodes[2 * WIRE_AE_NODE], keys[64];
		size_t off = 0;

		m->ae.sid = 0xabcdef0123456789ull;
		m->ae.lo = toks[0];
		m->ae.hi = toks[2];
		m->ae.depth = 8;
		m->ae.level = 3;
		m->ae.flags = WIRE_AE_LAST;
		m->ae.status = type == WMSG_AE_DONE ? DKV_ENOTFOUND : 0;
		m->ae.counts[3] = 42;
		m->ae.counts[4] = 7;
		wire_ae_put_node(nodes, 0, 1, 0x1111);
		wire_ae_put_node(nodes, 1, 6, 0x2222);
		wire_ae_put_key(keys, &off, "k1", 2, type == WMSG_AE_KEYS, 77, 5);
		wire_ae_put_key(keys, &off, "key\0two", 7, type == WMSG_AE_KEYS, 88, 6);
		if (type == WMSG_AE_TREE || type == WMSG_AE_KEYS) {
			m->ae.n = 2;
			m->ae.nodes = nodes;
		}
		if (type == WMSG_AE_WANT)
			m->ae.n = 9; /* objects sent before it */
		if (type == WMSG_AE_KEYS || type == WMSG_AE_WANT) {
			m->ae.nkeys = 2;
			m->ae.keys = keys;
			m->ae.keys_len = off;
		}
	} else if (type >= WMSG_MOVE_REQ && type <= WMSG_LEAVE) {
		static uint8_t entries[256];
		size_t off = 0;

		m->mv.sid = 0x0102030405060708ull;
		if (type == WMSG_MOVE_REQ) {
			m->mv.lo = toks[0];
			m->mv.hi = toks[2];
			m->mv.cur_t = toks[1];
			m->mv.has_cursor = true;
			m->mv.cur_key = (const uint8_t *)"cur\0key";
			m->mv.cur_klen = 7;
			m->mv.max_bytes = 65536;
		}
		if (type == WMSG_MOVE_DATA) {
			wire_move_put(entries, &off, toks[1], "k1", 2, "obj-1", 5);
			wire_move_put(entries, &off, toks[2], "key\0two", 7, "", 0);
			m->mv.n = 2;
			m->mv.entries = entries;
			m->mv.entries_len = off;
			m->mv.status = DKV_OK;
		}
	} else if (type >= WMSG_APPLY) {
		static const uint8_t ctx[] = {1, 1, 0, 1, 'n', 3, 0, 0, 0, 0, 0, 0, 0};

		m->op.id = 0x1122334455667788ull;
		m->op.key = (const uint8_t *)"key\0bin";
		m->op.klen = 7;
		m->op.data = (const uint8_t *)"value";
		m->op.dlen = type == WMSG_READ || type == WMSG_STORED || type == WMSG_PURGE ? 0 : 5;
		m->op.hash = type == WMSG_PURGE ? 0x0123456789abcdefull : 0;
		m->op.status = type == WMSG_VALUE ? DKV_ENOTFOUND : DKV_OK;
		if (type == WMSG_APPLY) {
			m->op.flags = WOP_CONTEXT;
			m->op.now_us = 123456789;
			m->op.ctx = ctx;
			m->op.ctxlen = sizeof(ctx);
		}
		if (type == WMSG_STORE) {
			m->op.flags = WOP_HINT;
			m->op.hint = mk_actor("node-down");
		}
	}
}

START_TEST(test_every_message_roundtrips)
{
	for (int type = WMSG_HELLO; type < WMSG_TYPE_MAX; type++) {
		struct digest d[2];
		struct peer_state st[2];
		struct msg m, back;
		struct frame_header h;
		uint8_t *buf;
		size_t len;

		sample((enum wire_type)type, &m, d, st);
		ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
		ck_assert_int_eq(wire_decode_header(buf, 1 << 20, &h), DKV_OK);
		ck_assert_uint_eq(h.type, type);
		ck_assert_uint_eq(h.body_len, len - WIRE_HEADER);
		ck_assert_int_eq(wire_decode(h.type, buf + WIRE_HEADER, h.body_len, &back), DKV_OK);
		ck_assert(actor_eq(&back.from, &m.from));
		if (type == WMSG_HELLO) {
			ck_assert_str_eq(back.text, "cluster-x");
			ck_assert_str_eq(back.addr, "10.1.2.3:7000");
			ck_assert_uint_eq(back.generation, 77);
		}
		if (type == WMSG_HEARTBEAT)
			ck_assert_uint_eq(back.heartbeat, 9);
		if (type == WMSG_ACK) {
			ck_assert_uint_eq(back.ndigests, 2);
			ck_assert_uint_eq(back.digests[0].version, 6);
			ck_assert_uint_eq(back.nstates, 2);
			ck_assert_uint_eq(back.states[0].ntokens, 3);
			ck_assert(token_cmp(back.states[0].tokens[2], toks[2]) == 0);
			ck_assert_str_eq(back.states[0].addr, "127.0.0.1:7000");
			ck_assert_uint_eq(back.states[0].heartbeat, 41);
		}
		if (type >= WMSG_AE_TREE && type <= WMSG_AE_REPAIR) {
			ck_assert(back.ae.sid == m.ae.sid);
			if (type == WMSG_AE_DONE) {
				ck_assert_int_eq(back.ae.status, DKV_ENOTFOUND);
				ck_assert(back.ae.counts[3] == 42 && back.ae.counts[4] == 7);
			}
			if (type != WMSG_AE_DONE && type != WMSG_AE_REPAIR) {
				ck_assert(token_cmp(back.ae.hi, toks[2]) == 0);
				ck_assert_uint_eq(back.ae.flags, WIRE_AE_LAST);
				ck_assert_uint_eq(back.ae.n, m.ae.n);
			}
			if (type == WMSG_AE_TREE || type == WMSG_AE_KEYS) {
				uint32_t idx;
				uint64_t hash;

				ck_assert_uint_eq(back.ae.level, 3);
				wire_ae_get_node(back.ae.nodes, 1, &idx, &hash);
				ck_assert(idx == 6 && hash == 0x2222);
			}
			if (type == WMSG_AE_KEYS || type == WMSG_AE_WANT) {
				const uint8_t *key;
				uint16_t klen;
				uint64_t kh, sum;
				size_t pos = 0;
				bool entry = type == WMSG_AE_KEYS;

				ck_assert_uint_eq(back.ae.nkeys, 2);
				ck_assert(wire_ae_next_key(&back.ae, entry, &pos, &key, &klen, &kh, &sum));
				ck_assert(wire_ae_next_key(&back.ae, entry, &pos, &key, &klen, &kh, &sum));
				ck_assert(klen == 7 && memcmp(key, "key\0two", 7) == 0);
				ck_assert(kh == 88u && sum == (entry ? 6u : 0u));
				ck_assert(!wire_ae_next_key(&back.ae, entry, &pos, &key, &klen, &kh, &sum));
			}
		} else if (type >= WMSG_MOVE_REQ && type <= WMSG_LEAVE) {
			ck_assert(back.mv.sid == m.mv.sid);
			if (type == WMSG_MOVE_REQ) {
				ck_assert(token_cmp(back.mv.lo, toks[0]) == 0);
				ck_assert(token_cmp(back.mv.hi, toks[2]) == 0);
				ck_assert(token_cmp(back.mv.cur_t, toks[1]) == 0);
				ck_assert(back.mv.has_cursor && back.mv.max_bytes == 65536);
				ck_assert(back.mv.cur_klen == 7 && memcmp(back.mv.cur_key, "cur\0key", 7) == 0);
			}
			if (type == WMSG_MOVE_DATA) {
				struct token t;
				const uint8_t *key, *obj;
				uint16_t klen;
				uint32_t olen;
				size_t pos = 0;

				ck_assert_uint_eq(back.mv.n, 2);
				ck_assert(wire_move_next(&back.mv, &pos, &t, &key, &klen, &obj, &olen));
				ck_assert(token_cmp(t, toks[1]) == 0 && klen == 2 && olen == 5);
				ck_assert(memcmp(obj, "obj-1", 5) == 0);
				ck_assert(wire_move_next(&back.mv, &pos, &t, &key, &klen, &obj, &olen));
				ck_assert(klen == 7 && memcmp(key, "key\0two", 7) == 0 && olen == 0);
				ck_assert(!wire_move_next(&back.mv, &pos, &t, &key, &klen, &obj, &olen));
			}
		} else if (type >= WMSG_APPLY) {
			ck_assert(back.op.id == m.op.id);
			ck_assert_int_eq(back.op.status, m.op.status);
			ck_assert_uint_eq(back.op.dlen, m.op.dlen);
			ck_assert(m.op.dlen == 0 || memcmp(back.op.data, "value", 5) == 0);
			if (type == WMSG_PURGE)
				ck_assert(back.op.hash == 0x0123456789abcdefull);
			if (type == WMSG_APPLY || type == WMSG_STORE || type == WMSG_READ ||
			    type == WMSG_PURGE) {
				ck_assert_uint_eq(back.op.klen, 7);
				ck_assert(memcmp(back.op.key, "key\0bin", 7) == 0);
			}
			if (type == WMSG_APPLY) {
				ck_assert_uint_eq(back.op.flags, WOP_CONTEXT);
				ck_assert(back.op.now_us == 123456789);
				ck_assert_uint_eq(back.op.ctxlen, m.op.ctxlen);
			}
			if (type == WMSG_STORE) {
				ck_assert_uint_eq(back.op.flags, WOP_HINT);
				ck_assert(actor_eq(&back.op.hint, &m.op.hint));
			}
		}
		/* every strict prefix of the body fails cleanly */
		for (size_t cut = 0; cut < h.body_len; cut++) {
			struct msg bad;

			ck_assert_int_eq(wire_decode(h.type, buf + WIRE_HEADER, cut, &bad), DKV_EINVAL);
		}
		wire_msg_free(&back);
		free(buf);
	}
}
END_TEST

START_TEST(test_bad_headers_are_refused)
{
	uint8_t h[WIRE_HEADER];
	struct frame_header fh;

	wire_encode_header(h, WMSG_SYN, 100);
	ck_assert_int_eq(wire_decode_header(h, 100, &fh), DKV_OK);
	ck_assert_int_eq(wire_decode_header(h, 99, &fh), DKV_EINVAL); /* too big */
	h[0] ^= 1;
	ck_assert_int_eq(wire_decode_header(h, 100, &fh), DKV_EINVAL); /* magic */
	wire_encode_header(h, WMSG_SYN, 1);
	h[4] = WIRE_VERSION + 1;
	ck_assert_int_eq(wire_decode_header(h, 100, &fh), DKV_EINVAL); /* version */
	wire_encode_header(h, WMSG_TYPE_MAX, 1);
	ck_assert_int_eq(wire_decode_header(h, 100, &fh), DKV_EINVAL); /* type */
	wire_encode_header(h, 0, 1);
	ck_assert_int_eq(wire_decode_header(h, 100, &fh), DKV_EINVAL);
}
END_TEST

START_TEST(test_lying_counts_and_trailing_bytes_are_refused)
{
	/* SYN from "a" claiming 4000 digests in a 10-byte body */
	uint8_t syn[] = {1, 'a', 0xa0, 0x0f, 0, 0, 0, 0, 0, 0};
	uint8_t ok[] = {1, 'a', 0, 0, 0, 0, 0, 0, 0, 0};
	uint8_t trailing[] = {1, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0};
	struct msg m;

	ck_assert_int_eq(wire_decode(WMSG_SYN, syn, sizeof(syn), &m), DKV_EINVAL);
	ck_assert_int_eq(wire_decode(WMSG_SYN, ok, sizeof(ok), &m), DKV_OK);
	wire_msg_free(&m);
	ck_assert_int_eq(wire_decode(WMSG_SYN, trailing, sizeof(trailing), &m), DKV_EINVAL);
	/* an empty actor id */
	uint8_t noid[] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
	ck_assert_int_eq(wire_decode(WMSG_SHUTDOWN, noid, sizeof(noid), &m), DKV_EINVAL);
}
END_TEST

START_TEST(test_random_garbage_never_crashes)
{
	uint64_t seed = 7;
	uint8_t buf[512];
	struct msg m;

	for (int round = 0; round < 50000; round++) {
		size_t n = test_rand(&seed) % sizeof(buf);
		uint8_t type = (uint8_t)(1 + test_rand(&seed) % (WMSG_TYPE_MAX - 1));

		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)test_rand(&seed);
		if (n > 2) {
			buf[0] = 1; /* a plausible actor id */
			buf[1] = 'x';
		}
		if (wire_decode(type, buf, n, &m) == DKV_OK)
			wire_msg_free(&m);
	}
}
END_TEST

/* Replication requests: a key is required, flags must be known and agree
 * with the fields, answers carry a DKV_* status, lengths must not lie. */
START_TEST(test_bad_replication_messages_are_refused)
{
	struct msg m, back;
	uint8_t *buf;
	size_t len;

	memset(&m, 0, sizeof(m));
	m.from = mk_actor("coord");
	m.op.id = 5;
	m.op.key = (const uint8_t *)"k";
	m.op.klen = 1;
	m.type = WMSG_READ;
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(WMSG_READ, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_OK);
	/* a key length that claims more than the body holds */
	buf[WIRE_HEADER + 1 + 5 + 8] = 0xff;
	ck_assert_int_eq(wire_decode(WMSG_READ, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
	m.op.klen = 0; /* no key */
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(WMSG_READ, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
	m.op.klen = 1;
	m.type = WMSG_APPLY;
	m.op.flags = 0x80; /* unknown flag */
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(WMSG_APPLY, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
	m.op.flags = WOP_TOMBSTONE; /* a tombstone with a value */
	m.op.data = (const uint8_t *)"v";
	m.op.dlen = 1;
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(WMSG_APPLY, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
	m.op.flags = 0; /* a context without the flag */
	m.op.ctx = (const uint8_t *)"c";
	m.op.ctxlen = 1;
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(WMSG_APPLY, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
	memset(&m.op, 0, sizeof(m.op));
	m.type = WMSG_STORE;
	m.op.key = (const uint8_t *)"k";
	m.op.klen = 1;
	m.op.flags = WOP_HINT | 0x10; /* unknown flag */
	m.op.hint = mk_actor("node-b");
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(WMSG_STORE, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
	m.op.flags = WOP_SYNCBACK; /* a sync-back that wants an answer */
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(WMSG_STORE, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
	m.op.flags = WOP_HINT;
	m.op.hint.len = 0; /* a hint for nobody */
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(WMSG_STORE, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
	memset(&m.op, 0, sizeof(m.op));
	m.type = WMSG_STORED;
	m.op.status = 7; /* not a DKV_* status */
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(WMSG_STORED, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
	{
		uint8_t nodes[2 * WIRE_AE_NODE], keys[16];
		size_t off = 0;

		/* tree nodes out of order, or past their level */
		m.type = WMSG_AE_TREE;
		m.ae.depth = 8;
		m.ae.level = 2;
		m.ae.n = 2;
		m.ae.nodes = nodes;
		wire_ae_put_node(nodes, 0, 3, 1);
		wire_ae_put_node(nodes, 1, 1, 1);
		ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
		ck_assert_int_eq(wire_decode(WMSG_AE_TREE, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
		free(buf);
		wire_ae_put_node(nodes, 0, 1, 1);
		wire_ae_put_node(nodes, 1, 4, 1); /* level 2 has nodes 0..3 */
		ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
		ck_assert_int_eq(wire_decode(WMSG_AE_TREE, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
		free(buf);
		m.ae.level = 9; /* below the leaves */
		m.ae.n = 0;
		ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
		ck_assert_int_eq(wire_decode(WMSG_AE_TREE, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
		free(buf);
		/* a key of length 0, and a count that claims more keys */
		m.type = WMSG_AE_WANT;
		wire_ae_put_key(keys, &off, "", 0, false, 0, 0);
		m.ae.nkeys = 1;
		m.ae.keys = keys;
		m.ae.keys_len = off;
		ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
		ck_assert_int_eq(wire_decode(WMSG_AE_WANT, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
		free(buf);
		off = 0;
		wire_ae_put_key(keys, &off, "k", 1, false, 0, 0);
		m.ae.keys_len = off;
		m.ae.nkeys = 2;
		ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
		ck_assert_int_eq(wire_decode(WMSG_AE_WANT, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
		free(buf);
	}
}
END_TEST

/* Regression: a SYN naming one peer many times overflowed the ACK that
 * gossip built from it. The decoder now refuses repeated ids. */
START_TEST(test_bad_move_messages_are_refused)
{
	uint8_t entries[128];
	struct msg m, back;
	uint8_t *buf;
	size_t len, off = 0;

	memset(&m, 0, sizeof(m));
	m.from = mk_actor("gainer");
	m.type = WMSG_MOVE_REQ;
	m.mv.sid = 3;
	m.mv.has_cursor = true; /* a cursor without a key */
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(m.type, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
	m.mv.has_cursor = false; /* a key without a cursor */
	m.mv.cur_key = (const uint8_t *)"k";
	m.mv.cur_klen = 1;
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(m.type, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
	m.mv.cur_klen = 0;
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(m.type, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_OK);
	free(buf);

	m.type = WMSG_MOVE_DATA;
	wire_move_put(entries, &off, token_of_key("k", 1), "k", 1, "o", 1);
	m.mv.n = 1;
	m.mv.entries = entries;
	m.mv.entries_len = off;
	m.mv.flags = WIRE_MOVE_LAST; /* LAST comes with an empty batch only */
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(m.type, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
	m.mv.flags = 0;
	m.mv.n = 2; /* more entries than the body holds */
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(m.type, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
	m.mv.n = 1;
	entries[TOKEN_BYTES + 2 + 1 + 3] = 9; /* an object longer than what follows */
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(m.type, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
	entries[TOKEN_BYTES + 2 + 1 + 3] = 0;
	entries[TOKEN_BYTES] = 0;
	entries[TOKEN_BYTES + 1] = 0; /* an empty key */
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(m.type, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
}
END_TEST

START_TEST(test_repeated_ids_are_refused)
{
	struct digest d[3];
	struct peer_state st[2];
	struct msg m, back;
	uint8_t *buf;
	size_t len;

	memset(&m, 0, sizeof(m));
	m.type = WMSG_SYN;
	m.from = mk_actor("attacker");
	for (int i = 0; i < 3; i++) {
		d[i].id = mk_actor("victim");
		d[i].generation = 1;
		d[i].version = 0;
	}
	m.digests = d;
	m.ndigests = 3;
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(WMSG_SYN, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);

	fill_state(&st[0], "same");
	fill_state(&st[1], "same");
	m.type = WMSG_ACK2;
	m.ndigests = 0;
	m.digests = NULL;
	m.states = st;
	m.nstates = 2;
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(WMSG_ACK2, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
}
END_TEST

/* Text and ids from the network land in logs: control bytes are refused. */
START_TEST(test_control_bytes_in_ids_and_text_are_refused)
{
	uint8_t bad_id[] = {2, 'a', '\n', 0, 0, 0, 0, 0, 0, 0, 0};
	uint8_t bad_text[] = {1, 'a', 2, 'o', '\x1b'};
	struct msg m;

	ck_assert_int_eq(wire_decode(WMSG_SHUTDOWN, bad_id, sizeof(bad_id), &m), DKV_EINVAL);
	ck_assert_int_eq(wire_decode(WMSG_REFUSE, bad_text, sizeof(bad_text), &m), DKV_EINVAL);
	bad_text[4] = 'k';
	ck_assert_int_eq(wire_decode(WMSG_REFUSE, bad_text, sizeof(bad_text), &m), DKV_OK);
	wire_msg_free(&m);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("wire");

	tcase_add_test(tc, test_every_message_roundtrips);
	tcase_add_test(tc, test_bad_headers_are_refused);
	tcase_add_test(tc, test_lying_counts_and_trailing_bytes_are_refused);
	tcase_add_test(tc, test_random_garbage_never_crashes);
	tcase_add_test(tc, test_repeated_ids_are_refused);
	tcase_add_test(tc, test_bad_replication_messages_are_refused);
	tcase_add_test(tc, test_bad_move_messages_are_refused);
	tcase_add_test(tc, test_control_bytes_in_ids_and_text_are_refused);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
