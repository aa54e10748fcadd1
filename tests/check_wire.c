/*
 * Wire codec (lib/core/wire.c): every message round-trips, the
 * anti-entropy ones in every form (AE_TREE and AE_DIFF at the roots and
 * below, entries of AE_KEYS, AE_WANT and AE_OBJS, AE_DONE's varint
 * counts); every truncation, bad header, lying count, unknown flag and
 * trailing byte is DKV_EINVAL, and a refused or failed decode leaks
 * nothing. Also the varints themselves (lib/core/bytes.h).
 */
#include "config.h"

#include "libdkv/dkv.h"
#include "core/bytes.h"
#include "core/wire.h"
#include "util/alloc.h"
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

static bool
is_ae(int type)
{
	return (type >= WMSG_AE_TREE && type <= WMSG_AE_REPAIR) || type == WMSG_AE_DIFF ||
	       type == WMSG_AE_OBJS;
}

/* The sample anti-entropy fields (see sample). */
static uint64_t ae_ids[3] = {0x1111111111111111ull, 0, UINT64_MAX};
static uint64_t ae_hashes[3] = {1, 0x8000000000000000ull, 0xfedcba9876543210ull};
static const uint8_t ae_bits[2] = {0x05, 0x04}, ae_unknown[2] = {0x02, 0x00}; /* 11 bits */
static const uint64_t ae_counts[WIRE_AE_COUNTS] = {0, 127, 128, 1ull << 32, UINT64_MAX};
static const struct wire_ae_entry ae_entries[2] = {
    {.tag = 0xdeadbeefu,
     .key = (const uint8_t *)"k1",
     .klen = 2,
     .hash = 77,
     .sum = 5,
     .flags = WIRE_AE_SYNCBACK,
     .obj = (const uint8_t *)"obj-1",
     .olen = 5},
    {.tag = 1,
     .key = (const uint8_t *)"key\0two",
     .klen = 7,
     .hash = UINT64_MAX,
     .sum = UINT64_MAX,
     .flags = 0,
     .obj = (const uint8_t *)"",
     .olen = 0},
};

/* Puts n entries in type's format at out; returns their length, checked
 * against wire_ae_entry_size and WIRE_AE_ENTRY_MAX. */
static size_t
put_entries(uint8_t type, uint8_t *out, const struct wire_ae_entry *e, uint32_t n)
{
	size_t off = 0;

	for (uint32_t i = 0; i < n; i++) {
		size_t before = off;

		wire_ae_put_entry(type, out, &off, &e[i]);
		expect(off - before == wire_ae_entry_size(type, &e[i]));
		expect(off - before <= WIRE_AE_ENTRY_MAX(e[i].klen, e[i].olen));
	}
	return off;
}

/* The decoded entries of ae are e[0..n), each with the fields its type
 * carries, and then there are no more. */
static void
check_entries(const struct wire_ae *ae, const struct wire_ae_entry *e, uint32_t n)
{
	struct wire_ae_entry got;
	size_t off = 0;

	ck_assert_uint_eq(ae->nkeys, n);
	for (uint32_t i = 0; i < n; i++) {
		expect(wire_ae_next_entry(ae, &off, &got));
		if (ae->type == WMSG_AE_KEYS) {
			expect(got.tag == e[i].tag && got.hash == e[i].hash && got.sum == e[i].sum);
		} else if (ae->type == WMSG_AE_WANT) {
			expect(got.tag == e[i].tag && got.flags == e[i].flags);
		} else {
			expect(got.flags == e[i].flags);
			expect(got.klen == e[i].klen && memcmp(got.key, e[i].key, e[i].klen) == 0);
			expect(got.olen == e[i].olen);
			expect(e[i].olen == 0 || memcmp(got.obj, e[i].obj, e[i].olen) == 0);
		}
	}
	ck_assert_uint_eq(off, ae->keys_len);
	ck_assert(!wire_ae_next_entry(ae, &off, &got));
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
	if (is_ae(type)) {
		static uint8_t keys[128];

		m->ae.sid = 0xabcdef0123456789ull;
		switch (type) {
		case WMSG_AE_TREE: /* the roots, with the ranges' ids */
			m->ae.depth = 8;
			m->ae.level = 0;
			m->ae.n = 3;
			m->ae.ids = ae_ids;
			m->ae.hashes = ae_hashes;
			break;
		case WMSG_AE_DIFF:
			m->ae.level = 0;
			m->ae.n = 11;
			m->ae.bits = ae_bits;
			m->ae.unknown = ae_unknown;
			break;
		case WMSG_AE_KEYS:
		case WMSG_AE_WANT:
		case WMSG_AE_OBJS:
			if (type == WMSG_AE_KEYS) {
				m->ae.flags = WIRE_AE_LAST;
				m->ae.n = 2; /* leaves the batch covers */
			} else if (type == WMSG_AE_WANT) {
				m->ae.n = 9;         /* objects sent for the batch */
				m->ae.counts[1] = 4; /* keys compared */
			}
			m->ae.nkeys = 2;
			m->ae.keys = keys;
			m->ae.keys_len = put_entries((uint8_t)type, keys, ae_entries, 2);
			break;
		case WMSG_AE_DONE:
			m->ae.status = DKV_ENOTFOUND;
			memcpy(m->ae.counts, ae_counts, sizeof(ae_counts));
			break;
		default:
			break;
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
		if (is_ae(type)) {
			ck_assert(back.ae.sid == m.ae.sid);
			ck_assert_uint_eq(back.ae.type, type);
			switch (type) {
			case WMSG_AE_TREE:
				ck_assert_uint_eq(back.ae.depth, 8);
				ck_assert_uint_eq(back.ae.level, 0);
				ck_assert_uint_eq(back.ae.n, 3);
				ck_assert(memcmp(back.ae.ids, ae_ids, sizeof(ae_ids)) == 0);
				ck_assert(memcmp(back.ae.hashes, ae_hashes, sizeof(ae_hashes)) ==
				          0);
				break;
			case WMSG_AE_DIFF:
				ck_assert_uint_eq(back.ae.level, 0);
				ck_assert_uint_eq(back.ae.n, 11);
				ck_assert(memcmp(back.ae.bits, ae_bits, 2) == 0);
				ck_assert(memcmp(back.ae.unknown, ae_unknown, 2) == 0);
				break;
			case WMSG_AE_KEYS:
			case WMSG_AE_WANT:
				ck_assert_uint_eq(back.ae.flags, m.ae.flags);
				ck_assert_uint_eq(back.ae.n, m.ae.n);
				ck_assert(back.ae.counts[1] == m.ae.counts[1]);
				/* fall through */
			case WMSG_AE_OBJS:
				check_entries(&back.ae, ae_entries, 2);
				break;
			case WMSG_AE_DONE:
				ck_assert_int_eq(back.ae.status, DKV_ENOTFOUND);
				for (int i = 0; i < WIRE_AE_COUNTS; i++)
					ck_assert(back.ae.counts[i] == ae_counts[i]);
				break;
			default:
				break;
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
	m.op.flags = WOP_NOACK; /* anti-entropy's old sync-back flag (0x10) is gone */
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(WMSG_STORE, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_OK);
	free(buf);
	m.op.flags = WOP_NOACK | 0x10;
	ck_assert_int_eq(wire_encode(&m, &buf, &len), DKV_OK);
	ck_assert_int_eq(wire_decode(WMSG_STORE, buf + WIRE_HEADER, len - WIRE_HEADER, &back), DKV_EINVAL);
	free(buf);
	m.op.flags = 0x10;
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
}
END_TEST

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

/* Regression: a SYN naming one peer many times overflowed the ACK that
 * gossip built from it. The decoder now refuses repeated ids. */
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

/* --- varints ------------------------------------------------------------- */

/* A varint read from exactly these bytes (so that a read past them is
 * caught by valgrind and ASan); *bad and *left say how it ended. */
static uint64_t
read_uvar(const uint8_t *p, size_t n, bool *bad, size_t *left)
{
	uint8_t *copy = malloc(n ? n : 1);
	struct rd r;
	uint64_t v;

	ck_assert(copy != NULL);
	if (n > 0)
		memcpy(copy, p, n);
	r = rd_init(copy, n);
	v = rd_uvar(&r);
	*bad = r.bad;
	*left = r.left;
	if (r.bad) /* and stays bad */
		expect(rd_uvar(&r) == 0 && r.bad);
	free(copy);
	return v;
}

START_TEST(test_varints_roundtrip_and_refuse_bad_forms)
{
	static const struct {
		uint64_t v;
		size_t size;
	} cases[] = {
	    {0, 1},
	    {1, 1},
	    {127, 1},
	    {128, 2},
	    {255, 2},
	    {300, 2},
	    {16383, 2},
	    {16384, 3},
	    {(1u << 21) - 1, 3},
	    {1u << 21, 4},
	    {1u << 28, 5},
	    {UINT32_MAX, 5},
	    {1ull << 32, 5},
	    {(1ull << 35) - 1, 5},
	    {1ull << 35, 6},
	    {1ull << 42, 7},
	    {1ull << 49, 8},
	    {1ull << 56, 9},
	    {(1ull << 63) - 1, 9},
	    {1ull << 63, 10},
	    {UINT64_MAX, 10},
	};
	static const struct {
		const char *what;
		uint8_t len, b[12];
	} bad[] = {
	    {"empty", 0, {0}},
	    {"truncated", 1, {0x80}},
	    {"truncated after two", 2, {0xff, 0xff}},
	    {"non-minimal zero", 2, {0x80, 0x00}},
	    {"non-minimal 127", 2, {0xff, 0x00}},
	    {"non-minimal, 3 bytes", 3, {0x80, 0x80, 0x00}},
	    {"non-minimal, 10 bytes",
	     10,
	     {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}},
	    {"65 bits", 10, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}},
	    {"71 bits", 10, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
	    {"11 bytes", 11, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
	    {"11 bytes of ones",
	     11,
	     {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	    {"a 10th byte that goes on",
	     11,
	     {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00}},
	};
	static const uint8_t enc_128[] = {0x80, 0x01}, enc_300[] = {0xac, 0x02},
	                     enc_16384[] = {0x80, 0x80, 0x01},
	                     enc_max[] = {0xff, 0xff, 0xff, 0xff, 0xff,
	                                  0xff, 0xff, 0xff, 0xff, 0x01},
	                     enc_2_63[] = {0x80, 0x80, 0x80, 0x80, 0x80,
	                                   0x80, 0x80, 0x80, 0x80, 0x01};
	const size_t ncases = sizeof(cases) / sizeof(cases[0]);
	uint8_t buf[WR_UVAR_MAX * 32];
	struct wr w = {buf, 0};
	struct rd r;
	uint64_t seed = 11;
	size_t left;
	bool isbad;

	for (size_t i = 0; i < ncases; i++) {
		struct wr one = {buf, 0};

		wr_uvar(&one, cases[i].v);
		ck_assert_msg(one.len == cases[i].size && uvar_size(cases[i].v) == cases[i].size,
		              "%llu takes %zu bytes, uvar_size says %zu, expected %zu",
		              (unsigned long long)cases[i].v, one.len, uvar_size(cases[i].v),
		              cases[i].size);
		ck_assert(read_uvar(buf, one.len, &isbad, &left) == cases[i].v);
		ck_assert(!isbad && left == 0);
		/* every truncation is refused */
		for (size_t cut = 0; cut < one.len; cut++) {
			ck_assert(read_uvar(buf, cut, &isbad, &left) == 0);
			ck_assert_msg(isbad, "%llu cut to %zu bytes",
			              (unsigned long long)cases[i].v, cut);
		}
	}
	ck_assert_uint_eq(WR_UVAR_MAX, 10);
	/* the exact bytes: low 7 bits first, high bit on all but the last */
	wr_uvar(&w, 128);
	ck_assert(w.len == 2 && memcmp(buf, enc_128, 2) == 0);
	w.len = 0;
	wr_uvar(&w, 300);
	ck_assert(w.len == 2 && memcmp(buf, enc_300, 2) == 0);
	w.len = 0;
	wr_uvar(&w, 16384);
	ck_assert(w.len == 3 && memcmp(buf, enc_16384, 3) == 0);
	w.len = 0;
	wr_uvar(&w, UINT64_MAX);
	ck_assert(w.len == 10 && memcmp(buf, enc_max, 10) == 0);
	ck_assert(read_uvar(enc_2_63, sizeof(enc_2_63), &isbad, &left) == 1ull << 63 && !isbad);
	/* one after the other, in one buffer */
	w.len = 0;
	for (size_t i = 0; i < ncases; i++)
		wr_uvar(&w, cases[i].v);
	r = rd_init(buf, w.len);
	for (size_t i = 0; i < ncases; i++)
		ck_assert(rd_uvar(&r) == cases[i].v);
	ck_assert(!r.bad && r.left == 0);
	/* random values of every bit length */
	for (unsigned bits = 0; bits <= 64; bits++)
		for (int i = 0; i < 200; i++) {
			uint64_t v = bits == 0 ? 0 : test_rand(&seed) >> (64 - bits);
			size_t want = bits <= 7 ? 1 : (bits + 6) / 7;
			struct wr one = {buf, 0};

			if (bits > 0)
				v |= 1ull << (bits - 1);
			wr_uvar(&one, v);
			expect(one.len == want && uvar_size(v) == want);
			expect(read_uvar(buf, one.len, &isbad, &left) == v && !isbad && left == 0);
		}
	/* and the forms a writer never makes */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert(read_uvar(bad[i].b, bad[i].len, &isbad, &left) == 0);
		ck_assert_msg(isbad, "%s accepted", bad[i].what);
	}
}
END_TEST

/* --- anti-entropy ---------------------------------------------------------- */

/* An AE message from "node-a" (see AE_AT), the rest zero. */
static void
ae_msg(struct msg *m, enum wire_type type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->from = mk_actor("node-a");
	m->ae.sid = 0x0102030405060708ull;
}

/* Where an AE message's own fields start in its frame: header, actor
 * "node-a", sid. */
#define AE_AT (WIRE_HEADER + 1 + 6 + 8)

static uint8_t *
encode(const struct msg *m, size_t *body_len)
{
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(wire_encode(m, &buf, &len), DKV_OK);
	*body_len = len - WIRE_HEADER;
	return buf;
}

/* Decodes a body from a buffer of exactly its size (so that a read past
 * it is caught by valgrind and ASan) and frees what it got. A refusal
 * must leave nothing to free (and valgrind and ASan see that nothing
 * leaked). */
static int
decode(uint8_t type, const uint8_t *body, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct msg m;
	int err;

	expect(copy != NULL);
	if (len > 0)
		memcpy(copy, body, len);
	err = wire_decode(type, copy, len, &m);
	if (err == DKV_OK)
		wire_msg_free(&m);
	else
		expect(m.ae.hashes == NULL && m.ae.ids == NULL && m.digests == NULL &&
		       m.states == NULL);
	free(copy);
	return err;
}

static int
encode_decode(const struct msg *m)
{
	size_t len;
	uint8_t *buf = encode(m, &len);
	int err = decode((uint8_t)m->type, buf + WIRE_HEADER, len);

	free(buf);
	return err;
}

/* A body from "node-a" for session 42: then the n bytes given. */
static int
decode_ae_raw(uint8_t type, const void *rest, size_t n)
{
	uint8_t *body = malloc(15 + n);
	struct wr w = {body, 0};
	int err;

	ck_assert(body != NULL);
	wr_u8(&w, 6);
	wr_bytes(&w, "node-a", 6);
	wr_u64(&w, 42);
	wr_bytes(&w, rest, n);
	err = decode(type, body, w.len);
	free(body);
	return err;
}

#define RAW(type, ...)                                                                             \
	decode_ae_raw(type, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

/* Encodes m and decodes it into back; returns the frame (back points
 * into it: the caller frees both) and its body's length. Every strict
 * prefix of the body, and the body with one byte more, are refused. */
static uint8_t *
roundtrip(const struct msg *m, struct msg *back, size_t *body_len)
{
	size_t len;
	uint8_t *buf = encode(m, &len), *longer = malloc(len + 1);

	ck_assert(longer != NULL);
	ck_assert_int_eq(wire_decode((uint8_t)m->type, buf + WIRE_HEADER, len, back), DKV_OK);
	for (size_t cut = 0; cut < len; cut++)
		if (decode((uint8_t)m->type, buf + WIRE_HEADER, cut) != DKV_EINVAL)
			ck_abort_msg("type %d: a prefix of %zu of %zu bytes accepted", m->type, cut,
			             len);
	memcpy(longer, buf + WIRE_HEADER, len);
	longer[len] = 0;
	ck_assert_int_eq(decode((uint8_t)m->type, longer, len + 1), DKV_EINVAL);
	free(longer);
	*body_len = len;
	return buf;
}

START_TEST(test_ae_messages_roundtrip_in_every_form)
{
	static uint8_t key[WIRE_MAX_KEY], obj[300], keys[2 * WIRE_MAX_KEY];
	static const uint64_t counts[] = {0,          1,          127,        128,
	                                  16383,      16384,      1u << 21,   1u << 28,
	                                  1ull << 32, 1ull << 35, 1ull << 42, 1ull << 49,
	                                  1ull << 56, 1ull << 63, UINT64_MAX};
	uint64_t hashes[5] = {0, 1, UINT64_MAX, 0x0123456789abcdefull, 42}, ids[1] = {0xfeed};
	uint8_t bits[3] = {0xff, 0x00, 0x01}, unknown[1] = {0x80};
	struct wire_ae_entry e[4];
	struct msg m, back;
	uint8_t *buf;
	size_t len;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < sizeof(obj); i++)
		obj[i] = (uint8_t)(i * 13);

	/* AE_TREE below the roots: hashes only, 8 bytes each, no ids */
	ae_msg(&m, WMSG_AE_TREE);
	m.ae.depth = 16;
	m.ae.level = 5;
	m.ae.n = 5;
	m.ae.hashes = hashes;
	m.ae.ids = ids; /* not sent below the roots */
	buf = roundtrip(&m, &back, &len);
	ck_assert_uint_eq(len, 1 + 6 + 8 + 1 + 1 + 4 + 5 * 8);
	ck_assert(back.ae.ids == NULL);
	ck_assert_uint_eq(back.ae.depth, 16);
	ck_assert_uint_eq(back.ae.level, 5);
	ck_assert_uint_eq(back.ae.n, 5);
	ck_assert(memcmp(back.ae.hashes, hashes, sizeof(hashes)) == 0);
	wire_msg_free(&back);
	ck_assert(back.ae.hashes == NULL);
	free(buf);
	/* at the leaves */
	m.ae.level = 16;
	m.ae.n = 1;
	buf = roundtrip(&m, &back, &len);
	ck_assert(back.ae.level == 16 && back.ae.n == 1 && back.ae.hashes[0] == 0);
	wire_msg_free(&back);
	free(buf);
	/* a single root: its range id and hash, 16 bytes */
	m.ae.depth = 1;
	m.ae.level = 0;
	m.ae.n = 1;
	m.ae.hashes = &hashes[2];
	buf = roundtrip(&m, &back, &len);
	ck_assert_uint_eq(len, 1 + 6 + 8 + 1 + 1 + 4 + 16);
	ck_assert(back.ae.ids != NULL && back.ae.ids[0] == 0xfeed);
	ck_assert(back.ae.hashes[0] == UINT64_MAX);
	wire_msg_free(&back);
	free(buf);

	/* AE_DIFF below the roots: one bitmap, no unknown */
	ae_msg(&m, WMSG_AE_DIFF);
	m.ae.level = 3;
	m.ae.n = 17;
	m.ae.bits = bits;
	buf = roundtrip(&m, &back, &len);
	ck_assert_uint_eq(len, 1 + 6 + 8 + 1 + 4 + 3);
	ck_assert(back.ae.level == 3 && back.ae.n == 17);
	ck_assert(memcmp(back.ae.bits, bits, 3) == 0);
	ck_assert(back.ae.unknown == NULL);
	wire_msg_free(&back);
	free(buf);
	m.ae.level = 16; /* the leaves of the deepest trees; a whole byte */
	m.ae.n = 8;
	buf = roundtrip(&m, &back, &len);
	ck_assert(back.ae.level == 16 && back.ae.n == 8 && back.ae.bits[0] == 0xff);
	wire_msg_free(&back);
	free(buf);
	/* at the roots, with the unknown ranges */
	m.ae.level = 0;
	m.ae.unknown = unknown;
	buf = roundtrip(&m, &back, &len);
	ck_assert_uint_eq(len, 1 + 6 + 8 + 1 + 4 + 2);
	ck_assert(back.ae.bits[0] == 0xff && back.ae.unknown != NULL && back.ae.unknown[0] == 0x80);
	wire_msg_free(&back);
	free(buf);

	/* AE_KEYS: an empty batch (leaves where the sender has no keys),
	 * then sums of every varint length */
	ae_msg(&m, WMSG_AE_KEYS);
	m.ae.flags = WIRE_AE_LAST;
	m.ae.n = 3;
	m.ae.keys = keys;
	buf = roundtrip(&m, &back, &len);
	ck_assert(back.ae.flags == WIRE_AE_LAST && back.ae.n == 3);
	check_entries(&back.ae, e, 0);
	wire_msg_free(&back);
	free(buf);
	memset(e, 0, sizeof(e));
	for (int i = 0; i < 4; i++) {
		e[i].tag = (uint32_t)(0xfffffff0u + (uint32_t)i);
		e[i].hash = hashes[i];
	}
	e[1].sum = 127;
	e[2].sum = 128;
	e[3].sum = UINT64_MAX;
	m.ae.flags = 0;
	m.ae.nkeys = 4;
	m.ae.keys_len = put_entries(WMSG_AE_KEYS, keys, e, 4);
	ck_assert_uint_eq(m.ae.keys_len, 4 * 12 + 1 + 1 + 2 + 10);
	buf = roundtrip(&m, &back, &len);
	ck_assert(back.ae.flags == 0);
	check_entries(&back.ae, e, 4);
	wire_msg_free(&back);
	free(buf);

	/* AE_WANT: both entry flags; keys compared travel as 32 bits */
	ae_msg(&m, WMSG_AE_WANT);
	m.ae.flags = WIRE_AE_LAST;
	m.ae.n = 0;
	m.ae.counts[1] = UINT32_MAX;
	e[0].flags = WIRE_AE_SYNCBACK;
	e[1].flags = 0;
	e[2].flags = WIRE_AE_SYNCBACK;
	m.ae.nkeys = 3;
	m.ae.keys = keys;
	m.ae.keys_len = put_entries(WMSG_AE_WANT, keys, e, 3);
	ck_assert_uint_eq(m.ae.keys_len, 3 * 5);
	buf = roundtrip(&m, &back, &len);
	ck_assert(back.ae.flags == WIRE_AE_LAST && back.ae.n == 0);
	ck_assert(back.ae.counts[1] == UINT32_MAX);
	check_entries(&back.ae, e, 3);
	wire_msg_free(&back);
	free(buf);

	/* AE_OBJS: keys of 1, 127 and 128 bytes (1- and 2-byte lengths),
	 * objects of 0, 300 and 127 bytes */
	ae_msg(&m, WMSG_AE_OBJS);
	memset(e, 0, sizeof(e));
	e[0].key = key;
	e[0].klen = 1;
	e[0].obj = obj;
	e[0].flags = WIRE_AE_SYNCBACK;
	e[1].key = key + 1;
	e[1].klen = 127;
	e[1].obj = obj;
	e[1].olen = 300;
	e[2].key = key + 2;
	e[2].klen = 128;
	e[2].obj = obj + 1;
	e[2].olen = 127;
	e[2].flags = WIRE_AE_SYNCBACK;
	m.ae.nkeys = 3;
	m.ae.keys = keys;
	m.ae.keys_len = put_entries(WMSG_AE_OBJS, keys, e, 3);
	ck_assert_uint_eq(m.ae.keys_len,
	                  (1 + 1 + 1 + 1) + (1 + 1 + 127 + 2 + 300) + (1 + 2 + 128 + 1 + 127));
	buf = roundtrip(&m, &back, &len);
	check_entries(&back.ae, e, 3);
	wire_msg_free(&back);
	free(buf);
	/* the longest key (a 3-byte length); too big to try every prefix */
	e[3].key = key;
	e[3].klen = WIRE_MAX_KEY;
	e[3].obj = obj;
	e[3].olen = 128;
	m.ae.nkeys = 4;
	m.ae.keys_len = put_entries(WMSG_AE_OBJS, keys, e, 4);
	buf = encode(&m, &len);
	ck_assert_int_eq(wire_decode(WMSG_AE_OBJS, buf + WIRE_HEADER, len, &back), DKV_OK);
	check_entries(&back.ae, e, 4);
	wire_msg_free(&back);
	free(buf);

	/* AE_DONE: counts of every varint length, the body as long as they */
	ae_msg(&m, WMSG_AE_DONE);
	m.ae.status = DKV_EUNAVAILABLE;
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		size_t c = 0;

		for (int j = 0; j < WIRE_AE_COUNTS; j++) {
			m.ae.counts[j] =
			    counts[(i + (size_t)j) % (sizeof(counts) / sizeof(counts[0]))];
			c += uvar_size(m.ae.counts[j]);
		}
		buf = roundtrip(&m, &back, &len);
		ck_assert_uint_eq(len, 1 + 6 + 8 + 4 + c);
		ck_assert_int_eq(back.ae.status, DKV_EUNAVAILABLE);
		for (int j = 0; j < WIRE_AE_COUNTS; j++)
			ck_assert(back.ae.counts[j] == m.ae.counts[j]);
		wire_msg_free(&back);
		free(buf);
	}
	/* all zero: one byte each */
	memset(m.ae.counts, 0, sizeof(m.ae.counts));
	m.ae.status = DKV_OK;
	buf = roundtrip(&m, &back, &len);
	ck_assert_uint_eq(len, 1 + 6 + 8 + 4 + WIRE_AE_COUNTS);
	wire_msg_free(&back);
	free(buf);

	/* AE_REPAIR: the sid alone */
	ae_msg(&m, WMSG_AE_REPAIR);
	buf = roundtrip(&m, &back, &len);
	ck_assert_uint_eq(len, 1 + 6 + 8);
	ck_assert(back.ae.sid == m.ae.sid);
	wire_msg_free(&back);
	free(buf);
}
END_TEST

static void
put_u32(uint8_t *p, uint32_t v)
{
	struct wr w = {p, 0};

	wr_u32(&w, v);
}

START_TEST(test_bad_ae_trees_are_refused)
{
	static uint64_t hashes[WIRE_AE_MAX_NODES + 1], ids[WIRE_AE_MAX_NODES + 1];
	static const struct {
		unsigned depth, level;
		uint32_t n;
		int err;
	} cases[] = {
	    {0, 0, 1, DKV_EINVAL},  /* no depth */
	    {17, 0, 1, DKV_EINVAL}, /* deeper than a tree can be */
	    {255, 0, 1, DKV_EINVAL},
	    {1, 0, 1, DKV_OK},
	    {16, 0, 1, DKV_OK},
	    {4, 5, 1, DKV_EINVAL}, /* a level below the leaves */
	    {16, 17, 1, DKV_EINVAL},
	    {4, 4, 1, DKV_OK},
	    {8, 0, 0, DKV_EINVAL}, /* no roots */
	    {8, 0, WIRE_AE_MAX_NODES, DKV_OK},
	    {8, 0, WIRE_AE_MAX_NODES + 1, DKV_EINVAL},
	    {8, 3, WIRE_AE_MAX_NODES, DKV_OK},
	    {8, 3, WIRE_AE_MAX_NODES + 1, DKV_EINVAL},
	};
	struct msg m;
	uint8_t *buf;
	size_t len;

	ae_msg(&m, WMSG_AE_TREE);
	m.ae.hashes = hashes;
	m.ae.ids = ids;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int err;

		m.ae.depth = (uint8_t)cases[c].depth;
		m.ae.level = (uint8_t)cases[c].level;
		m.ae.n = cases[c].n;
		err = encode_decode(&m);
		ck_assert_msg(err == cases[c].err, "depth %u, level %u, n %u: %d", cases[c].depth,
		              cases[c].level, cases[c].n, err);
	}

	/* a body whose length does not match n */
	m.ae.depth = 8;
	m.ae.level = 2;
	m.ae.n = 4;
	buf = encode(&m, &len);
	ck_assert_int_eq(decode(WMSG_AE_TREE, buf + WIRE_HEADER, len), DKV_OK);
	put_u32(buf + AE_AT + 2, 5);
	ck_assert_int_eq(decode(WMSG_AE_TREE, buf + WIRE_HEADER, len), DKV_EINVAL);
	put_u32(buf + AE_AT + 2, 3);
	ck_assert_int_eq(decode(WMSG_AE_TREE, buf + WIRE_HEADER, len), DKV_EINVAL);
	put_u32(buf + AE_AT + 2, 0);
	ck_assert_int_eq(decode(WMSG_AE_TREE, buf + WIRE_HEADER, len), DKV_EINVAL);
	put_u32(buf + AE_AT + 2, UINT32_MAX);
	ck_assert_int_eq(decode(WMSG_AE_TREE, buf + WIRE_HEADER, len), DKV_EINVAL);
	put_u32(buf + AE_AT + 2, 4);
	/* at level 0 each root comes with its range's id: this body is short */
	buf[AE_AT + 1] = 0;
	ck_assert_int_eq(decode(WMSG_AE_TREE, buf + WIRE_HEADER, len), DKV_EINVAL);
	free(buf);
	/* and the roots read as a lower level are twice too long */
	m.ae.level = 0;
	buf = encode(&m, &len);
	ck_assert_int_eq(decode(WMSG_AE_TREE, buf + WIRE_HEADER, len), DKV_OK);
	buf[AE_AT + 1] = 1;
	ck_assert_int_eq(decode(WMSG_AE_TREE, buf + WIRE_HEADER, len), DKV_EINVAL);
	buf[AE_AT + 1] = 0;

	/* out of memory for the hashes, or for the ids once the hashes are
	 * allocated: nothing leaks (valgrind and ASan watch) */
	for (long nth = 1; nth <= 2; nth++) {
		mem_fail_after(nth, 0);
		ck_assert_int_eq(decode(WMSG_AE_TREE, buf + WIRE_HEADER, len), DKV_ENOMEM);
	}
	mem_fail_after(3, 0);
	ck_assert_int_eq(decode(WMSG_AE_TREE, buf + WIRE_HEADER, len), DKV_OK); /* two in all */
	mem_fail_after(0, 0);
	free(buf);
	m.ae.level = 2;
	buf = encode(&m, &len);
	mem_fail_after(1, 0);
	ck_assert_int_eq(decode(WMSG_AE_TREE, buf + WIRE_HEADER, len), DKV_ENOMEM);
	mem_fail_after(0, 0);
	free(buf);
}
END_TEST

START_TEST(test_bad_ae_diffs_are_refused)
{
	static uint8_t bits[WIRE_AE_MAX_NODES / 8 + 1];
	static const struct {
		unsigned level;
		uint32_t n;
		int err;
	} cases[] = {
	    {17, 8, DKV_EINVAL}, /* below the deepest leaves */
	    {255, 8, DKV_EINVAL},
	    {16, 8, DKV_OK},
	    {0, 1, DKV_OK},
	    {1, WIRE_AE_MAX_NODES, DKV_OK},
	    {1, WIRE_AE_MAX_NODES + 1, DKV_EINVAL},
	    {0, WIRE_AE_MAX_NODES, DKV_OK},
	    {0, WIRE_AE_MAX_NODES + 1, DKV_EINVAL},
	};
	struct msg m;
	uint8_t *buf;
	size_t len;

	ae_msg(&m, WMSG_AE_DIFF);
	m.ae.bits = bits;
	m.ae.unknown = bits;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int err;

		m.ae.level = (uint8_t)cases[c].level;
		m.ae.n = cases[c].n;
		err = encode_decode(&m);
		ck_assert_msg(err == cases[c].err, "level %u, n %u: %d", cases[c].level, cases[c].n,
		              err);
	}

	/* a bitmap shorter than n bits, or longer */
	m.ae.level = 1;
	m.ae.n = 8;
	buf = encode(&m, &len); /* one byte of bits */
	ck_assert_int_eq(decode(WMSG_AE_DIFF, buf + WIRE_HEADER, len), DKV_OK);
	put_u32(buf + AE_AT + 1, 9);
	ck_assert_int_eq(decode(WMSG_AE_DIFF, buf + WIRE_HEADER, len), DKV_EINVAL);
	put_u32(buf + AE_AT + 1, UINT32_MAX);
	ck_assert_int_eq(decode(WMSG_AE_DIFF, buf + WIRE_HEADER, len), DKV_EINVAL);
	put_u32(buf + AE_AT + 1, 0);
	ck_assert_int_eq(decode(WMSG_AE_DIFF, buf + WIRE_HEADER, len), DKV_EINVAL);
	put_u32(buf + AE_AT + 1, 8);
	/* one bitmap where the roots need two (differs, unknown) */
	buf[AE_AT] = 0;
	ck_assert_int_eq(decode(WMSG_AE_DIFF, buf + WIRE_HEADER, len), DKV_EINVAL);
	free(buf);
	m.ae.level = 0;
	m.ae.n = 9;
	buf = encode(&m, &len); /* two bytes each */
	ck_assert_int_eq(decode(WMSG_AE_DIFF, buf + WIRE_HEADER, len), DKV_OK);
	put_u32(buf + AE_AT + 1, 17); /* a short unknown bitmap */
	ck_assert_int_eq(decode(WMSG_AE_DIFF, buf + WIRE_HEADER, len), DKV_EINVAL);
	put_u32(buf + AE_AT + 1, 9);
	/* two bitmaps below the roots: the second is trailing bytes */
	buf[AE_AT] = 1;
	ck_assert_int_eq(decode(WMSG_AE_DIFF, buf + WIRE_HEADER, len), DKV_EINVAL);
	free(buf);
}
END_TEST

/* wire.h: bits past n are zero, in both bitmaps, as an encoder given a
 * frontier's bitmap writes them. */
START_TEST(test_ae_diff_bits_past_n_are_refused)
{
	uint8_t bits[2] = {0x01, 0x01}, unknown[2] = {0x02, 0x00};
	struct msg m;

	ae_msg(&m, WMSG_AE_DIFF);
	m.ae.level = 2;
	m.ae.n = 9;
	m.ae.bits = bits;
	ck_assert_int_eq(encode_decode(&m), DKV_OK);
	bits[1] = 0x02; /* bit 9 of 9 */
	ck_assert_int_eq(encode_decode(&m), DKV_EINVAL);
	bits[1] = 0x81;
	ck_assert_int_eq(encode_decode(&m), DKV_EINVAL);
	m.ae.n = 16; /* a whole number of bytes: nothing past n */
	bits[1] = 0xff;
	ck_assert_int_eq(encode_decode(&m), DKV_OK);
	/* at the roots, in either bitmap */
	m.ae.level = 0;
	m.ae.n = 9;
	m.ae.unknown = unknown;
	bits[1] = 0x01;
	ck_assert_int_eq(encode_decode(&m), DKV_OK);
	unknown[1] = 0x04;
	ck_assert_int_eq(encode_decode(&m), DKV_EINVAL);
	unknown[1] = 0x00;
	bits[1] = 0x40;
	ck_assert_int_eq(encode_decode(&m), DKV_EINVAL);
}
END_TEST

/* The fixed part of an AE_KEYS or AE_WANT body after the sid: flags, n,
 * keys compared, nkeys; returns its length. */
static size_t
keys_head(uint8_t *p, uint8_t flags, uint32_t nkeys)
{
	struct wr w = {p, 0};

	wr_u8(&w, flags);
	wr_u32(&w, 1);
	wr_u32(&w, 0);
	wr_u32(&w, nkeys);
	return w.len;
}

/* One AE_KEYS entry with this sum encoding, or one AE_WANT entry with
 * these flags, after keys_head (flags, nkeys). */
static int
keys_with_sum(uint8_t flags, uint32_t nkeys, const uint8_t *sum, size_t sumlen)
{
	uint8_t rest[64];
	struct wr w = {rest, keys_head(rest, flags, nkeys)};

	wr_u32(&w, 0xabcdef01u);
	wr_u64(&w, 99);
	wr_bytes(&w, sum, sumlen);
	return decode_ae_raw(WMSG_AE_KEYS, rest, w.len);
}

static int
want_with_flags(uint8_t flags, uint32_t nkeys, uint8_t entry_flags, size_t entry_len)
{
	uint8_t rest[64];
	struct wr w = {rest, keys_head(rest, flags, nkeys)};

	wr_u32(&w, 0xabcdef01u);
	wr_u8(&w, entry_flags);
	return decode_ae_raw(WMSG_AE_WANT, rest, w.len - (5 - entry_len));
}

START_TEST(test_bad_ae_entries_are_refused)
{
	static const uint8_t sum5[] = {5}, sum_max[] = {0xff, 0xff, 0xff, 0xff, 0xff,
	                                                0xff, 0xff, 0xff, 0xff, 0x01};
	static const uint8_t sum_nonmin[] = {0x80, 0x00}, sum_cut[] = {0x80},
	                     sum_65[] = {0xff, 0xff, 0xff, 0xff, 0xff,
	                                 0xff, 0xff, 0xff, 0xff, 0x02},
	                     sum_11[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
	                                 0x80, 0x80, 0x80, 0x80, 0x01};
	static uint8_t key[WIRE_MAX_KEY + 1], keys[WIRE_MAX_KEY + 64];
	struct wire_ae_entry e;
	struct msg m;

	/* AE_OBJS: u32 nkeys, then (flags, varint klen, key, varint olen, obj) */
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 1, 0, 0, 0, 0, 1, 'k', 1, 'o'), DKV_OK);
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 1, 0, 0, 0, WIRE_AE_SYNCBACK, 1, 'k', 0), DKV_OK);
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 0, 0, 0, 0), DKV_OK);
	/* an empty key; a key length in a longer form than needed */
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 1, 0, 0, 0, 0, 0, 0), DKV_EINVAL);
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 1, 0, 0, 0, 0, 0x81, 0x00, 'k', 0), DKV_EINVAL);
	/* a key length of 2^32 + 1 (1 if cut to 32 bits) */
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 1, 0, 0, 0, 0, 0x81, 0x80, 0x80, 0x80, 0x10, 'k', 0),
	                 DKV_EINVAL);
	/* unknown entry flags */
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 1, 0, 0, 0, 0x02, 1, 'k', 0), DKV_EINVAL);
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 1, 0, 0, 0, 0x80, 1, 'k', 0), DKV_EINVAL);
	/* a key or an object past the end */
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 1, 0, 0, 0, 0, 5, 'k'), DKV_EINVAL);
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 1, 0, 0, 0, 0, 1, 'k'), DKV_EINVAL);
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 1, 0, 0, 0, 0, 1, 'k', 2, 'o'), DKV_EINVAL);
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 1, 0, 0, 0, 0, 1, 'k', 0x80), DKV_EINVAL);
	ck_assert_int_eq(
	    RAW(WMSG_AE_OBJS, 1, 0, 0, 0, 0, 1, 'k', 0x80, 0x80, 0x80, 0x80, 0x80, 0x20),
	    DKV_EINVAL);
	/* an object length of 2^32 + 1 (1 if cut to 32 bits) */
	ck_assert_int_eq(
	    RAW(WMSG_AE_OBJS, 1, 0, 0, 0, 0, 1, 'k', 0x81, 0x80, 0x80, 0x80, 0x10, 'o'),
	    DKV_EINVAL);
	/* trailing bytes: an entry more than nkeys, or a stray byte */
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 1, 0, 0, 0, 0, 1, 'k', 0, 0, 1, 'j', 0), DKV_EINVAL);
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 1, 0, 0, 0, 0, 1, 'k', 0, 0), DKV_EINVAL);
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 0, 0, 0, 0, 0, 1, 'k', 0), DKV_EINVAL);
	/* nkeys claiming more entries than there are */
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 2, 0, 0, 0, 0, 1, 'k', 0), DKV_EINVAL);
	ck_assert_int_eq(RAW(WMSG_AE_OBJS, 0xff, 0xff, 0xff, 0xff, 0, 1, 'k', 0), DKV_EINVAL);
	/* the longest key, and one byte longer */
	ae_msg(&m, WMSG_AE_OBJS);
	memset(&e, 0, sizeof(e));
	e.key = key;
	e.klen = WIRE_MAX_KEY;
	e.obj = (const uint8_t *)"o";
	e.olen = 1;
	m.ae.nkeys = 1;
	m.ae.keys = keys;
	m.ae.keys_len = put_entries(WMSG_AE_OBJS, keys, &e, 1);
	ck_assert_int_eq(encode_decode(&m), DKV_OK);
	e.klen = WIRE_MAX_KEY + 1;
	m.ae.keys_len = put_entries(WMSG_AE_OBJS, keys, &e, 1);
	ck_assert_int_eq(encode_decode(&m), DKV_EINVAL);

	/* AE_KEYS: (u32 tag, u64 hash, varint sum) */
	ck_assert_int_eq(keys_with_sum(WIRE_AE_LAST, 1, sum5, sizeof(sum5)), DKV_OK);
	ck_assert_int_eq(keys_with_sum(0, 1, sum_max, sizeof(sum_max)), DKV_OK);
	ck_assert_int_eq(keys_with_sum(0, 1, sum_nonmin, sizeof(sum_nonmin)), DKV_EINVAL);
	ck_assert_int_eq(keys_with_sum(0, 1, sum_cut, sizeof(sum_cut)), DKV_EINVAL);
	ck_assert_int_eq(keys_with_sum(0, 1, sum_65, sizeof(sum_65)), DKV_EINVAL);
	ck_assert_int_eq(keys_with_sum(0, 1, sum_11, sizeof(sum_11)), DKV_EINVAL);
	ck_assert_int_eq(keys_with_sum(0, 1, sum5, 0), DKV_EINVAL); /* no sum */
	ck_assert_int_eq(keys_with_sum(0, 2, sum5, sizeof(sum5)), DKV_EINVAL);
	ck_assert_int_eq(keys_with_sum(0, 0, sum5, sizeof(sum5)), DKV_EINVAL);
	/* message flags this version does not know */
	ck_assert_int_eq(keys_with_sum(0x02, 1, sum5, sizeof(sum5)), DKV_EINVAL);
	ck_assert_int_eq(keys_with_sum(0x80 | WIRE_AE_LAST, 1, sum5, sizeof(sum5)), DKV_EINVAL);

	/* AE_WANT: (u32 tag, u8 flags) */
	ck_assert_int_eq(want_with_flags(0, 1, 0, 5), DKV_OK);
	ck_assert_int_eq(want_with_flags(WIRE_AE_LAST, 1, WIRE_AE_SYNCBACK, 5), DKV_OK);
	ck_assert_int_eq(want_with_flags(0, 1, 0x02, 5), DKV_EINVAL); /* entry flags */
	ck_assert_int_eq(want_with_flags(0, 1, 0x80, 5), DKV_EINVAL);
	ck_assert_int_eq(want_with_flags(0x02, 1, 0, 5), DKV_EINVAL); /* message flags */
	ck_assert_int_eq(want_with_flags(0xff, 1, 0, 5), DKV_EINVAL);
	ck_assert_int_eq(want_with_flags(0, 1, 0, 4), DKV_EINVAL); /* a cut entry */
	ck_assert_int_eq(want_with_flags(0, 2, 0, 5), DKV_EINVAL);
	ck_assert_int_eq(want_with_flags(0, UINT32_MAX, 0, 5), DKV_EINVAL);
}
END_TEST

START_TEST(test_bad_ae_done_and_repair_are_refused)
{
	/* AE_DONE: i32 status, five varint counts */
	ck_assert_int_eq(RAW(WMSG_AE_DONE, 0, 0, 0, 0, 0, 0, 0, 0, 0), DKV_OK);
	ck_assert_int_eq(RAW(WMSG_AE_DONE, 0xff, 0xff, 0xff, 0xff, 1, 2, 0x80, 0x01, 4, 5), DKV_OK);
	/* not a DKV_* status */
	ck_assert_int_eq(RAW(WMSG_AE_DONE, 1, 0, 0, 0, 0, 0, 0, 0, 0), DKV_EINVAL);
	ck_assert_int_eq(RAW(WMSG_AE_DONE, 7, 0, 0, 0, 0, 0, 0, 0, 0), DKV_EINVAL);
	ck_assert_int_eq(RAW(WMSG_AE_DONE, 0x9c, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0),
	                 DKV_EINVAL); /* -100 */
	ck_assert_int_eq(RAW(WMSG_AE_DONE, 0, 0, 0, 0x80, 0, 0, 0, 0, 0),
	                 DKV_EINVAL); /* INT32_MIN */
	/* counts missing, in a longer form than needed, over 64 bits, or too many */
	ck_assert_int_eq(RAW(WMSG_AE_DONE, 0, 0, 0, 0, 0, 0, 0, 0), DKV_EINVAL);
	ck_assert_int_eq(RAW(WMSG_AE_DONE, 0, 0, 0, 0, 0, 0, 0, 0, 0x80), DKV_EINVAL);
	ck_assert_int_eq(RAW(WMSG_AE_DONE, 0, 0, 0, 0, 0, 0x80, 0x00, 0, 0, 0), DKV_EINVAL);
	ck_assert_int_eq(RAW(WMSG_AE_DONE, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff,
	                     0xff, 0xff, 0xff, 0xff, 0x02),
	                 DKV_EINVAL);
	ck_assert_int_eq(RAW(WMSG_AE_DONE, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff,
	                     0xff, 0xff, 0xff, 0xff, 0x01),
	                 DKV_OK);
	ck_assert_int_eq(RAW(WMSG_AE_DONE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), DKV_EINVAL);
	/* AE_REPAIR: the sid, nothing after it */
	ck_assert_int_eq(decode_ae_raw(WMSG_AE_REPAIR, NULL, 0), DKV_OK);
	ck_assert_int_eq(RAW(WMSG_AE_REPAIR, 0), DKV_EINVAL);
}
END_TEST

/* Random damage to valid AE messages: never a crash or an out-of-bounds
 * read, and whatever is accepted is whole: its arrays are there, its
 * entries read back to exactly nkeys and keys_len. */
START_TEST(test_damaged_ae_messages_are_refused_or_whole)
{
	static const enum wire_type types[] = {WMSG_AE_TREE,  WMSG_AE_DIFF, WMSG_AE_KEYS,
	                                       WMSG_AE_WANT,  WMSG_AE_OBJS, WMSG_AE_DONE,
	                                       WMSG_AE_REPAIR};
	uint64_t seed = 99;
	uint32_t accepted = 0;

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		struct msg m;
		size_t len;
		uint8_t *buf;

		sample(types[t], &m, NULL, NULL);
		buf = encode(&m, &len);
		for (int round = 0; round < 4000; round++) {
			size_t n = len + test_rand(&seed) % 9 - 4 + (len < 4 ? 4 : 0);
			uint8_t *body = malloc(n ? n : 1);
			struct msg back;

			expect(body != NULL);
			for (size_t i = 0; i < n; i++)
				body[i] =
				    i < len ? buf[WIRE_HEADER + i] : (uint8_t)test_rand(&seed);
			for (int k = (int)(test_rand(&seed) % 3); k > 0 && n > 7; k--) {
				size_t at = 7 + test_rand(&seed) % (n - 7); /* past the actor */

				body[at] ^= (uint8_t)(1u << (test_rand(&seed) % 8));
			}
			if (wire_decode((uint8_t)types[t], body, n, &back) == DKV_OK) {
				const struct wire_ae *ae = &back.ae;

				accepted++;
				expect(ae->type == types[t]);
				if (types[t] == WMSG_AE_TREE) {
					expect(ae->depth >= 1 && ae->depth <= 16 &&
					       ae->level <= ae->depth);
					expect(ae->n <= WIRE_AE_MAX_NODES &&
					       (ae->n == 0 || ae->hashes != NULL));
					expect((ae->level == 0) == (ae->ids != NULL));
				} else if (types[t] == WMSG_AE_DIFF) {
					expect(ae->n <= WIRE_AE_MAX_NODES && ae->level <= 16 &&
					       ae->bits != NULL);
					expect((ae->level == 0) == (ae->unknown != NULL));
				} else if (types[t] == WMSG_AE_KEYS || types[t] == WMSG_AE_WANT ||
				           types[t] == WMSG_AE_OBJS) {
					struct wire_ae_entry e;
					size_t off = 0;
					uint32_t count = 0;

					expect(ae->keys >= body &&
					       ae->keys + ae->keys_len == body + n);
					while (wire_ae_next_entry(ae, &off, &e)) {
						count++;
						expect(types[t] != WMSG_AE_OBJS ||
						       (e.klen >= 1 && e.klen <= WIRE_MAX_KEY));
					}
					expect(count == ae->nkeys && off == ae->keys_len);
				}
				wire_msg_free(&back);
			}
			free(body);
		}
		free(buf);
	}
	ck_assert_uint_gt(accepted, 0); /* some damage is harmless (a hash bit) */
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
	tcase_add_test(tc, test_varints_roundtrip_and_refuse_bad_forms);
	tcase_add_test(tc, test_ae_messages_roundtrip_in_every_form);
	tcase_add_test(tc, test_bad_ae_trees_are_refused);
	tcase_add_test(tc, test_bad_ae_diffs_are_refused);
	tcase_add_test(tc, test_ae_diff_bits_past_n_are_refused);
	tcase_add_test(tc, test_bad_ae_entries_are_refused);
	tcase_add_test(tc, test_bad_ae_done_and_repair_are_refused);
	tcase_add_test(tc, test_damaged_ae_messages_are_refused_or_whole);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
