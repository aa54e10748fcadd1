/*
 * The coordinator state machine (lib/core/coord.h), driven by hand: which
 * replicas it asks, when the caller is answered, what late answers, errors
 * and the deadline do, and which replicas a read repairs.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "core/coord.h"
#include "core/object.h"

static struct coord_replica reps[8];
static char addrs[8][32];

/* n replicas r0..r(n-1) in one dc; `local` is this peer (-1: none); the
 * ones in down[] are DOWN. */
static void
replicas(uint32_t n, int local, const char *down)
{
	memset(reps, 0, sizeof(reps));
	for (uint32_t i = 0; i < n; i++) {
		char id[16];

		snprintf(id, sizeof(id), "r%u", i);
		actor_set(&reps[i].id, id, strlen(id));
		snprintf(addrs[i], sizeof(addrs[i]), "10.0.0.%u:7000", i);
		reps[i].addr = addrs[i];
		reps[i].up = down == NULL || strchr(down, (int)('0' + i)) == NULL;
		reps[i].local = (int)i == local;
	}
}

/* k fallbacks f0.. after n replicas (up unless in down[], by fallback
 * index); dc: their datacenter. */
static void
fallbacks(uint32_t n, uint32_t k, const char *down, uint8_t dc)
{
	for (uint32_t i = 0; i < k; i++) {
		char id[16];

		memset(&reps[n + i], 0, sizeof(reps[n + i]));
		snprintf(id, sizeof(id), "f%u", i);
		actor_set(&reps[n + i].id, id, strlen(id));
		snprintf(addrs[n + i], sizeof(addrs[n + i]), "10.0.1.%u:7000", i);
		reps[n + i].addr = addrs[n + i];
		reps[n + i].up = down == NULL || strchr(down, (int)('0' + i)) == NULL;
		reps[n + i].fallback = true;
		reps[n + i].dc = dc;
	}
}

static void
request(struct coord_request *r, enum coord_kind kind, dkv_consistency_t level)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->key = "key";
	r->klen = 3;
	r->val = "value";
	r->vlen = kind == COORD_PUT ? 5 : 0;
	r->level = level;
	r->deadline_ms = 1000;
}

/* The sends decided since last time, as "A0 S1 R2" (Apply/Store/Read and
 * the target), in order. */
static const char *
sends(struct coord *c)
{
	static char out[128];
	const struct coord_action *a;
	uint32_t n;
	size_t used = 0;

	out[0] = '\0';
	a = coord_take_actions(c, &n);
	for (uint32_t i = 0; i < n; i++)
		used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%c%u", i ? " " : "",
		                         "ASR"[a[i].send], a[i].target);
	return out;
}

/* An encoded object holding one value written by `who` at counter k. */
static uint8_t *
object_with(const char *who, uint64_t k, const char *val, size_t *len)
{
	struct object o;
	struct actor a;
	struct put_args p;
	uint8_t *buf;

	object_init(&o);
	actor_set(&a, who, strlen(who));
	for (uint64_t i = 0; i < k; i++) {
		memset(&p, 0, sizeof(p));
		p.actor = &a;
		p.writer = &a;
		p.now_us = 1000 + i;
		p.val = val;
		p.vlen = (uint32_t)strlen(val);
		p.mode = CONFLICTS_SIBLINGS;
		p.max_siblings = 64;
		ck_assert_int_eq(object_put(&o, &p), DKV_OK);
	}
	*len = object_encoded_size(&o);
	buf = malloc(*len);
	ck_assert_ptr_nonnull(buf);
	object_encode(&o, buf);
	object_free(&o);
	return buf;
}

START_TEST(test_a_write_applies_on_this_peer_then_stores_to_the_others)
{
	struct coord_request r;
	struct coord c;
	uint8_t *obj;
	size_t len;

	replicas(3, 1, NULL);
	request(&r, COORD_PUT, DKV_QUORUM);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_OK);
	ck_assert_str_eq(sends(&c), "A1"); /* the local replica applies */
	obj = object_with("r1", 1, "value", &len);
	coord_applied(&c, 1, DKV_OK, obj, len);
	ck_assert_str_eq(sends(&c), "S0 S2");
	ck_assert(!c.answered);
	coord_stored(&c, 2, DKV_OK);
	ck_assert(c.answered && c.result == DKV_OK); /* 2 of 3 */
	ck_assert(!c.finished);                      /* r0 still awaited */
	coord_stored(&c, 2, DKV_OK);                 /* a duplicate changes nothing */
	ck_assert_uint_eq(c.acks, 2);
	coord_stored(&c, 0, DKV_OK);
	ck_assert(c.finished);
	ck_assert_uint_eq(c.acks, 3);
	{
		size_t slen;
		const uint8_t *sent = coord_store_object(&c, &slen);

		ck_assert_uint_eq(slen, len);
		ck_assert(memcmp(sent, obj, len) == 0);
	}
	free(obj);
	coord_free(&c);
}
END_TEST

START_TEST(test_without_a_local_replica_the_first_live_one_applies)
{
	struct coord_request r;
	struct coord c;

	replicas(3, -1, "0");
	request(&r, COORD_PUT, DKV_ONE);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_OK);
	ck_assert_str_eq(sends(&c), "A1");
	/* the applier's error is the write's: nothing was created */
	coord_applied(&c, 1, DKV_ETOOBIG, NULL, 0);
	ck_assert(c.answered && c.result == DKV_ETOOBIG && c.finished);
	ck_assert_str_eq(sends(&c), "");
	coord_free(&c);
}
END_TEST

START_TEST(test_a_client_applies_in_its_own_datacenter)
{
	struct coord_request r;
	struct coord c;

	replicas(3, -1, NULL);
	reps[0].dc = 1; /* the first replica is in another datacenter */
	request(&r, COORD_PUT, DKV_LOCAL_ONE);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 2, 0), DKV_OK);
	ck_assert_str_eq(sends(&c), "A1");
	coord_free(&c);
}
END_TEST

START_TEST(test_a_dead_applier_is_replaced_and_dead_replicas_count_as_failed)
{
	struct coord_request r;
	struct coord c;
	uint8_t *obj;
	size_t len;

	replicas(3, -1, NULL);
	request(&r, COORD_PUT, DKV_QUORUM);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_OK);
	ck_assert_str_eq(sends(&c), "A0");
	coord_peer_down(&c, 0);
	ck_assert_str_eq(sends(&c), "A1"); /* the next live replica applies */
	ck_assert(!c.answered);
	coord_applied(&c, 0, DKV_OK, NULL, 0); /* the dead one's late answer */
	ck_assert_str_eq(sends(&c), "");
	obj = object_with("r1", 1, "value", &len);
	coord_applied(&c, 1, DKV_OK, obj, len);
	ck_assert_str_eq(sends(&c), "S2"); /* not to the dead one */
	coord_stored(&c, 2, DKV_OK);
	ck_assert(c.answered && c.result == DKV_OK && c.finished);
	free(obj);
	coord_free(&c);

	/* an applier that refuses (it has left the ring) is replaced too */
	replicas(3, -1, NULL);
	request(&r, COORD_PUT, DKV_QUORUM);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_OK);
	ck_assert_str_eq(sends(&c), "A0");
	coord_applied(&c, 0, DKV_EUNAVAILABLE, NULL, 0);
	ck_assert_str_eq(sends(&c), "A1");
	ck_assert(!c.answered);
	obj = object_with("r1", 1, "value", &len);
	coord_applied(&c, 1, DKV_OK, obj, len);
	ck_assert_str_eq(sends(&c), "S2");
	coord_stored(&c, 2, DKV_OK);
	ck_assert(c.answered && c.result == DKV_OK && c.finished);
	free(obj);
	coord_free(&c);

	/* a read at ALL loses a replica it waits on: unavailable at once */
	request(&r, COORD_GET, DKV_ALL);
	replicas(3, -1, NULL);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_OK);
	sends(&c);
	coord_value(&c, 0, DKV_ENOTFOUND, NULL, 0);
	coord_peer_down(&c, 2);
	ck_assert(c.answered && c.result == DKV_EUNAVAILABLE);
	ck_assert(!c.finished); /* r1 still answers, for repair */
	coord_value(&c, 1, DKV_ENOTFOUND, NULL, 0);
	ck_assert(c.finished);
	coord_free(&c);

	/* no live replica left to apply */
	replicas(2, -1, NULL);
	request(&r, COORD_PUT, DKV_ONE);
	ck_assert_int_eq(coord_init(&c, &r, reps, 2, 1, 0), DKV_OK);
	sends(&c);
	coord_peer_down(&c, 1); /* not the applier, not asked yet */
	coord_peer_down(&c, 0);
	/* the dead applier may have written it: not "nothing was written" */
	ck_assert(c.answered && c.result == DKV_ETIMEDOUT && c.finished);
	coord_free(&c);
}
END_TEST

START_TEST(test_nothing_is_sent_when_the_level_cannot_be_met)
{
	struct coord_request r;
	struct coord c;

	replicas(3, 0, "2");
	request(&r, COORD_PUT, DKV_ALL);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_OK);
	ck_assert(c.answered && c.result == DKV_EUNAVAILABLE && c.finished);
	ck_assert_str_eq(sends(&c), "");
	coord_free(&c);

	replicas(3, -1, "12");
	request(&r, COORD_GET, DKV_QUORUM);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_OK);
	ck_assert(c.answered && c.result == DKV_EUNAVAILABLE);
	ck_assert_str_eq(sends(&c), "");
	coord_free(&c);

	/* LOCAL_QUORUM with no replica in this peer's dc */
	replicas(3, -1, NULL);
	request(&r, COORD_GET, DKV_LOCAL_QUORUM);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 2, 1), DKV_OK);
	ck_assert(c.answered && c.result == DKV_EUNAVAILABLE);
	coord_free(&c);
}
END_TEST

START_TEST(test_the_deadline_times_out_an_unanswered_caller)
{
	struct coord_request r;
	struct coord c;
	uint8_t *obj;
	size_t len;

	replicas(3, 0, NULL);
	request(&r, COORD_PUT, DKV_QUORUM);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_OK);
	ck_assert_str_eq(sends(&c), "A0");
	obj = object_with("r0", 1, "value", &len);
	coord_applied(&c, 0, DKV_OK, obj, len);
	ck_assert_str_eq(sends(&c), "S1 S2");
	coord_tick(&c, 999);
	ck_assert(!c.answered);
	coord_tick(&c, 1000);
	ck_assert(c.answered && c.result == DKV_ETIMEDOUT && c.finished);
	coord_stored(&c, 1, DKV_OK); /* too late: ignored */
	ck_assert_uint_eq(c.acks, 1);
	free(obj);
	coord_free(&c);
}
END_TEST

START_TEST(test_failed_stores_end_the_write_when_the_level_is_lost)
{
	struct coord_request r;
	struct coord c;
	uint8_t *obj;
	size_t len;

	replicas(3, 0, NULL);
	request(&r, COORD_PUT, DKV_ALL);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_OK);
	sends(&c);
	obj = object_with("r0", 1, "value", &len);
	coord_applied(&c, 0, DKV_OK, obj, len);
	sends(&c);
	coord_stored(&c, 1, DKV_EIO);
	ck_assert(c.answered && c.result == DKV_EIO);
	ck_assert(!c.finished); /* r2's answer is still counted */
	coord_stored(&c, 2, DKV_OK);
	ck_assert(c.finished);
	free(obj);
	coord_free(&c);
}
END_TEST

START_TEST(test_a_read_merges_answers_and_repairs_the_stale_replicas)
{
	struct coord_request r;
	struct coord c;
	const uint8_t *got;
	uint8_t *v1, *v2;
	size_t l1, l2, glen;

	replicas(3, -1, NULL);
	request(&r, COORD_GET, DKV_QUORUM);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_OK);
	ck_assert_str_eq(sends(&c), "R0 R1 R2");
	v1 = object_with("w", 1, "old", &l1);
	v2 = object_with("w", 2, "new", &l2); /* a causal successor of v1 */
	coord_value(&c, 0, DKV_OK, v2, l2);
	ck_assert(!c.answered);
	coord_value(&c, 1, DKV_OK, v1, l1);
	ck_assert(c.answered && c.result == DKV_OK);
	ck_assert_int_eq(coord_read_object(&c, &got, &glen), DKV_OK);
	ck_assert_uint_eq(glen, l2); /* the successor alone */
	ck_assert(memcmp(got, v2, l2) == 0);
	ck_assert_str_eq(sends(&c), ""); /* no repair before r2 answers */
	coord_value(&c, 2, DKV_ENOTFOUND, NULL, 0);
	ck_assert(c.finished);
	ck_assert_str_eq(sends(&c), "S1 S2"); /* the stale one and the empty one */
	ck_assert_uint_eq(c.repairs, 2);
	free(v1);
	free(v2);
	coord_free(&c);
}
END_TEST

START_TEST(test_a_read_returns_concurrent_versions_as_siblings)
{
	struct coord_request r;
	struct coord c;
	const uint8_t *got;
	uint8_t *a, *b;
	size_t la, lb, glen;
	struct object o;

	replicas(3, -1, NULL);
	request(&r, COORD_GET, DKV_ALL);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_OK);
	sends(&c);
	a = object_with("wa", 1, "A", &la);
	b = object_with("wb", 1, "B", &lb);
	coord_value(&c, 0, DKV_OK, a, la);
	coord_value(&c, 1, DKV_OK, b, lb);
	coord_value(&c, 2, DKV_OK, a, la);
	ck_assert(c.answered && c.result == DKV_OK);
	ck_assert_int_eq(coord_read_object(&c, &got, &glen), DKV_OK);
	ck_assert_int_eq(object_decode(&o, got, glen), DKV_OK);
	ck_assert_uint_eq(object_live_count(&o), 2);
	object_free(&o);
	ck_assert_uint_eq(coord_read_context(&c)->n, 2); /* covers both */
	ck_assert_str_eq(sends(&c), "S0 S1 S2");   /* each lacked the other */
	free(a);
	free(b);
	coord_free(&c);
}
END_TEST

START_TEST(test_a_read_of_nothing_is_not_found_and_repairs_nothing)
{
	struct coord_request r;
	struct coord c;
	const uint8_t *got;
	size_t glen;

	replicas(3, 0, NULL);
	request(&r, COORD_GET, DKV_QUORUM);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_OK);
	ck_assert_str_eq(sends(&c), "R0 R1 R2");
	for (uint32_t i = 0; i < 3; i++)
		coord_value(&c, i, DKV_ENOTFOUND, NULL, 0);
	ck_assert(c.answered && c.result == DKV_OK && c.finished);
	ck_assert_int_eq(coord_read_object(&c, &got, &glen), DKV_ENOTFOUND);
	ck_assert_str_eq(sends(&c), "");
	coord_free(&c);
}
END_TEST

START_TEST(test_counts_from_the_configuration)
{
	struct coord_request r;
	struct coord c;

	replicas(3, -1, NULL);
	request(&r, COORD_GET, DKV_ONE);
	r.by_count = true;
	r.count = 3;
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_OK);
	sends(&c);
	coord_value(&c, 0, DKV_ENOTFOUND, NULL, 0);
	coord_value(&c, 1, DKV_ENOTFOUND, NULL, 0);
	ck_assert(!c.answered);
	coord_value(&c, 2, DKV_ENOTFOUND, NULL, 0);
	ck_assert(c.answered);
	coord_free(&c);
	/* r = 3 with two replicas (a small ring): all of them */
	replicas(2, -1, NULL);
	ck_assert_int_eq(coord_init(&c, &r, reps, 2, 1, 0), DKV_OK);
	ck_assert(!c.answered);
	coord_free(&c);
}
END_TEST

START_TEST(test_bad_answers_are_ignored)
{
	struct coord_request r;
	struct coord c;
	uint8_t junk[] = {9, 9, 9};

	replicas(3, -1, NULL);
	request(&r, COORD_GET, DKV_ONE);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_OK);
	sends(&c);
	coord_applied(&c, 0, DKV_OK, junk, sizeof(junk)); /* not a write */
	coord_stored(&c, 0, DKV_OK);
	coord_value(&c, 7, DKV_OK, NULL, 0); /* no such target */
	ck_assert(!c.answered);
	coord_value(&c, 0, DKV_OK, junk, sizeof(junk)); /* does not decode */
	ck_assert(!c.answered);
	coord_value(&c, 1, DKV_ENOTFOUND, NULL, 0);
	ck_assert(c.answered && c.result == DKV_OK);
	ck_assert_int_eq(coord_target_of(&c, &reps[2].id), 2);
	coord_free(&c);
	ck_assert_int_eq(coord_init(&c, &r, reps, 0, 1, 0), DKV_EINVAL);
	/* a bad datacenter index or level frees what init took (valgrind) */
	reps[1].dc = 5;
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_EINVAL);
	reps[1].dc = 0;
	r.level = (dkv_consistency_t)99;
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_EINVAL);
}
END_TEST

START_TEST(test_a_fallback_takes_a_down_replicas_copy_as_a_hint)
{
	struct coord_request r;
	struct coord c;
	uint8_t *obj;
	size_t len;

	/* N=3, r1 and r2 down, two fallbacks: QUORUM is met by r0 + f0 */
	replicas(3, 0, "12");
	fallbacks(3, 2, NULL, 0);
	request(&r, COORD_PUT, DKV_QUORUM);
	ck_assert_int_eq(coord_init(&c, &r, reps, 5, 1, 0), DKV_OK);
	ck_assert(!c.answered);
	ck_assert_uint_eq(c.n, 3);
	ck_assert_str_eq(sends(&c), "A0");
	obj = object_with("r0", 1, "value", &len);
	coord_applied(&c, 0, DKV_OK, obj, len);
	ck_assert_str_eq(sends(&c), "S3 S4"); /* f0 for r1, f1 for r2 */
	ck_assert(actor_eq(coord_hint_for(&c, 3), &reps[1].id));
	ck_assert(actor_eq(coord_hint_for(&c, 4), &reps[2].id));
	ck_assert_ptr_null(coord_hint_for(&c, 0));
	ck_assert_int_eq(coord_target_of(&c, &reps[4].id), 4);
	coord_stored(&c, 4, DKV_OK);
	ck_assert(c.answered && c.result == DKV_OK); /* the hint counts */
	coord_stored(&c, 3, DKV_OK);
	ck_assert(c.finished);
	ck_assert_uint_eq(c.acks, 3);
	coord_free(&c);
	free(obj);

	/* ALL with one replica down and no fallback: unavailable, nothing sent */
	replicas(3, 0, "2");
	request(&r, COORD_PUT, DKV_ALL);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 1, 0), DKV_OK);
	ck_assert(c.answered && c.result == DKV_EUNAVAILABLE);
	ck_assert_str_eq(sends(&c), "");
	coord_free(&c);
	/* ... and with one: ALL is met through it (sloppy quorum) */
	fallbacks(3, 1, NULL, 0);
	ck_assert_int_eq(coord_init(&c, &r, reps, 4, 1, 0), DKV_OK);
	ck_assert(!c.answered);
	coord_free(&c);
	/* every replica down: no one can create the version */
	replicas(3, -1, "012");
	fallbacks(3, 3, NULL, 0);
	request(&r, COORD_PUT, DKV_ONE);
	ck_assert_int_eq(coord_init(&c, &r, reps, 6, 1, 0), DKV_OK);
	ck_assert(c.answered && c.result == DKV_EUNAVAILABLE);
	coord_free(&c);
	/* reads never use fallbacks */
	replicas(3, -1, "12");
	fallbacks(3, 2, NULL, 0);
	request(&r, COORD_GET, DKV_QUORUM);
	ck_assert_int_eq(coord_init(&c, &r, reps, 5, 1, 0), DKV_OK);
	ck_assert(c.answered && c.result == DKV_EUNAVAILABLE);
	coord_free(&c);
}
END_TEST

START_TEST(test_a_replica_convicted_during_a_write_hands_its_copy_to_a_fallback)
{
	struct coord_request r;
	struct coord c;
	uint8_t *obj;
	size_t len;

	replicas(3, 0, NULL);
	fallbacks(3, 2, NULL, 0);
	request(&r, COORD_PUT, DKV_ALL);
	ck_assert_int_eq(coord_init(&c, &r, reps, 5, 1, 0), DKV_OK);
	ck_assert_str_eq(sends(&c), "A0");
	obj = object_with("r0", 1, "value", &len);
	coord_applied(&c, 0, DKV_OK, obj, len);
	ck_assert_str_eq(sends(&c), "S1 S2");
	coord_stored(&c, 1, DKV_OK);
	coord_peer_down(&c, 2); /* r2 dies before it answers */
	ck_assert_str_eq(sends(&c), "S3");
	ck_assert(actor_eq(coord_hint_for(&c, 3), &reps[2].id));
	coord_peer_down(&c, 3); /* and so does its stand-in: the next one */
	ck_assert_str_eq(sends(&c), "S4");
	ck_assert(!c.answered);
	coord_stored(&c, 4, DKV_EIO); /* which fails: nobody is left */
	ck_assert(c.answered && c.result == DKV_EIO);
	ck_assert(c.finished);
	coord_free(&c);
	free(obj);
}
END_TEST

/* Regression: a replica's own late success, then its stand-in's failure,
 * made the write fail although every replica had it. */
START_TEST(test_a_late_success_outlives_its_stand_ins_failure)
{
	struct coord_request r;
	struct coord c;
	uint8_t *obj;
	size_t len;

	replicas(3, 0, "2");
	fallbacks(3, 2, NULL, 0);
	request(&r, COORD_PUT, DKV_ALL);
	ck_assert_int_eq(coord_init(&c, &r, reps, 5, 1, 0), DKV_OK);
	ck_assert_str_eq(sends(&c), "A0");
	obj = object_with("r0", 1, "value", &len);
	coord_applied(&c, 0, DKV_OK, obj, len);
	ck_assert_str_eq(sends(&c), "S1 S3"); /* f0 stands in for r2 */
	coord_peer_down(&c, 1);                /* r1 convicted: f1 for it */
	ck_assert_str_eq(sends(&c), "S4");
	coord_stored(&c, 1, DKV_OK);   /* but r1 had it after all */
	coord_stored(&c, 4, DKV_EIO);  /* and its stand-in fails */
	ck_assert(!c.answered);
	coord_stored(&c, 3, DKV_OK);   /* r2's hint is kept */
	ck_assert(c.answered && c.result == DKV_OK);
	ck_assert(c.finished);
	coord_free(&c);
	free(obj);
}
END_TEST

START_TEST(test_fallbacks_stand_in_only_within_their_datacenter)
{
	struct coord_request r;
	struct coord c;

	/* r0 in dc0 up, r1 in dc1 down; the only fallback is in dc0 */
	replicas(2, 0, "1");
	reps[1].dc = 1;
	fallbacks(2, 1, NULL, 0);
	request(&r, COORD_PUT, DKV_EACH_QUORUM);
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 2, 0), DKV_OK);
	ck_assert(c.answered && c.result == DKV_EUNAVAILABLE);
	coord_free(&c);
	reps[2].dc = 1; /* one in dc1 can */
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 2, 0), DKV_OK);
	ck_assert(!c.answered);
	coord_free(&c);
	/* a fallback listed before a replica is refused */
	reps[0].fallback = true;
	ck_assert_int_eq(coord_init(&c, &r, reps, 3, 2, 0), DKV_EINVAL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("coord");
	TCase *tc = tcase_create("coord");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_a_write_applies_on_this_peer_then_stores_to_the_others);
	tcase_add_test(tc, test_without_a_local_replica_the_first_live_one_applies);
	tcase_add_test(tc, test_a_client_applies_in_its_own_datacenter);
	tcase_add_test(tc, test_a_dead_applier_is_replaced_and_dead_replicas_count_as_failed);
	tcase_add_test(tc, test_nothing_is_sent_when_the_level_cannot_be_met);
	tcase_add_test(tc, test_the_deadline_times_out_an_unanswered_caller);
	tcase_add_test(tc, test_failed_stores_end_the_write_when_the_level_is_lost);
	tcase_add_test(tc, test_a_read_merges_answers_and_repairs_the_stale_replicas);
	tcase_add_test(tc, test_a_read_returns_concurrent_versions_as_siblings);
	tcase_add_test(tc, test_a_read_of_nothing_is_not_found_and_repairs_nothing);
	tcase_add_test(tc, test_counts_from_the_configuration);
	tcase_add_test(tc, test_bad_answers_are_ignored);
	tcase_add_test(tc, test_a_fallback_takes_a_down_replicas_copy_as_a_hint);
	tcase_add_test(tc, test_a_replica_convicted_during_a_write_hands_its_copy_to_a_fallback);
	tcase_add_test(tc, test_fallbacks_stand_in_only_within_their_datacenter);
	tcase_add_test(tc, test_a_late_success_outlives_its_stand_ins_failure);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
