/*
 * The ring (lib/core/ring.c): lookups, preference lists across datacenters
 * and racks, balanced token allocation, and how few keys a join moves.
 */
#include "config.h"

#include "libdkv/dkv.h"
#include "core/ring.h"
#include "unit.h"

#define MAXP 32

struct cluster {
	uint32_t n;
	struct ring_peer peers[MAXP];
	struct token tokens[MAXP][256];
};

static void
add_peer(struct cluster *c, const char *dc, const char *rack, uint32_t vnodes, uint64_t seed)
{
	struct ring r;
	char id[32];
	struct ring_peer *p = &c->peers[c->n];

	snprintf(id, sizeof(id), "peer-%u", c->n);
	p->id = mk_actor(id);
	strcpy(p->dc, dc);
	strcpy(p->rack, rack);
	ck_assert_int_eq(ring_build(&r, c->peers, c->n), DKV_OK);
	ck_assert_int_eq(ring_allocate_tokens(&r, vnodes, seed, c->tokens[c->n]), DKV_OK);
	ring_free(&r);
	p->ntokens = vnodes;
	p->tokens = c->tokens[c->n];
	c->n++;
}

static struct token
key_token(uint64_t i)
{
	char key[32];
	int n = snprintf(key, sizeof(key), "key-%llu", (unsigned long long)i);

	return token_of_key(key, (size_t)n);
}

START_TEST(test_every_key_maps_to_n_distinct_peers)
{
	static struct cluster c;
	struct replication rep;
	struct ring r;
	uint32_t out[8];

	memset(&c, 0, sizeof(c));
	for (int i = 0; i < 8; i++)
		add_peer(&c, "dc1", "rack1", 128, 7);
	ck_assert_int_eq(ring_build(&r, c.peers, c.n), DKV_OK);
	replication_parse(&rep, "", 3);
	for (uint64_t k = 0; k < 20000; k++) {
		uint32_t n = ring_preference(&r, key_token(k), &rep, out, 8);

		ck_assert_uint_eq(n, 3);
		ck_assert(out[0] != out[1] && out[1] != out[2] && out[0] != out[2]);
		ck_assert_uint_eq(out[0], r.entries[ring_find(&r, key_token(k))].peer);
	}
	ring_free(&r);
}
END_TEST

START_TEST(test_lookup_agrees_with_a_linear_scan)
{
	static struct token toks[1000];
	struct ring_peer p = {.ntokens = 1000, .tokens = toks};
	uint64_t seed = 5;
	struct ring r;

	p.id = mk_actor("only");
	strcpy(p.dc, "dc1");
	strcpy(p.rack, "r1");
	for (int i = 0; i < 1000; i++) {
		toks[i].hi = test_rand(&seed);
		toks[i].lo = test_rand(&seed);
	}
	ck_assert_int_eq(ring_build(&r, &p, 1), DKV_OK);
	for (int q = 0; q < 5000; q++) {
		struct token t = {test_rand(&seed), test_rand(&seed)};
		uint32_t want = 0;

		for (uint32_t i = 0; i < r.n; i++)
			if (token_cmp(r.entries[i].token, t) >= 0) {
				want = i;
				break;
			}
		ck_assert_uint_eq(ring_find(&r, t), want);
	}
	/* exact hits and the wrap-around */
	ck_assert_uint_eq(ring_find(&r, r.entries[17].token), 17);
	struct token max = {UINT64_MAX, UINT64_MAX};
	ck_assert_uint_eq(ring_find(&r, max), token_cmp(r.entries[r.n - 1].token, max) == 0 ? r.n - 1 : 0);
	ring_free(&r);
}
END_TEST

START_TEST(test_ownership_is_balanced_over_8_peers_of_128_vnodes)
{
	static struct cluster c;
	double own[MAXP], sum = 0, max = 0, mean;
	struct ring r;

	memset(&c, 0, sizeof(c));
	for (int i = 0; i < 8; i++)
		add_peer(&c, "dc1", "rack1", 128, 11);
	ck_assert_int_eq(ring_build(&r, c.peers, c.n), DKV_OK);
	ring_ownership(&r, own);
	for (uint32_t i = 0; i < c.n; i++) {
		sum += own[i];
		if (own[i] > max)
			max = own[i];
	}
	mean = sum / c.n;
	printf("ownership over 8 peers x 128 vnodes: max/mean = %.4f\n", max / mean);
	ck_assert_msg(sum > 0.999 && sum < 1.001, "ownership sums to %f", sum);
	ck_assert_msg(max / mean <= 1.10, "max/mean ownership %.3f > 1.10", max / mean);
	ring_free(&r);
}
END_TEST

START_TEST(test_a_join_moves_about_one_in_p_plus_one_keys)
{
	static struct cluster c;
	struct replication rep;
	struct ring before, after;
	const uint64_t keys = 100000;
	uint64_t moved = 0;
	uint32_t a[4], b[4];
	const uint32_t P = 8;
	double frac;

	memset(&c, 0, sizeof(c));
	for (uint32_t i = 0; i < P; i++)
		add_peer(&c, "dc1", "rack1", 128, 3);
	ck_assert_int_eq(ring_build(&before, c.peers, c.n), DKV_OK);
	add_peer(&c, "dc1", "rack1", 128, 3);
	ck_assert_int_eq(ring_build(&after, c.peers, c.n), DKV_OK);
	replication_parse(&rep, "", 1);
	for (uint64_t k = 0; k < keys; k++) {
		ring_preference(&before, key_token(k), &rep, a, 1);
		ring_preference(&after, key_token(k), &rep, b, 1);
		if (a[0] != b[0]) {
			moved++;
			ck_assert_msg(b[0] == P, "a key moved between two old peers");
		}
	}
	frac = (double)moved / keys;
	printf("join of peer %u: %.4f of keys moved (1/(P+1) = %.4f)\n", P + 1, frac, 1.0 / (P + 1));
	ck_assert_msg(frac > 0.8 / (P + 1) && frac < 1.2 / (P + 1), "moved %.4f", frac);
	ring_free(&before);
	ring_free(&after);
}
END_TEST

START_TEST(test_per_dc_replication_spreads_over_racks)
{
	static struct cluster c;
	struct replication rep;
	struct ring r;
	uint32_t out[16];
	const char *racks[] = {"r1", "r2", "r3"};

	memset(&c, 0, sizeof(c));
	for (int i = 0; i < 6; i++)
		add_peer(&c, "dc1", racks[i % 3], 32, 1);
	for (int i = 0; i < 4; i++)
		add_peer(&c, "dc2", racks[i % 2], 32, 1);
	ck_assert_int_eq(ring_build(&r, c.peers, c.n), DKV_OK);
	ck_assert_uint_eq(r.ndcs, 2);
	ck_assert_int_eq(replication_parse(&rep, "dc1:3,dc2:3", 3), DKV_OK);
	for (uint64_t k = 0; k < 5000; k++) {
		uint32_t n = ring_preference(&r, key_token(k), &rep, out, 16);
		int in_dc1 = 0, in_dc2 = 0, rack_dc1[3] = {0}, rack_dc2[2] = {0};

		ck_assert_uint_eq(n, 6);
		for (uint32_t i = 0; i < n; i++) {
			const struct ring_peer *p = &c.peers[out[i]];

			for (uint32_t j = 0; j < i; j++)
				ck_assert_uint_ne(out[i], out[j]);
			if (strcmp(p->dc, "dc1") == 0) {
				in_dc1++;
				rack_dc1[p->rack[1] - '1']++;
			} else {
				in_dc2++;
				rack_dc2[p->rack[1] - '1']++;
			}
		}
		ck_assert_int_eq(in_dc1, 3);
		ck_assert_int_eq(in_dc2, 3);
		/* dc1 has 3 racks: one replica in each */
		ck_assert(rack_dc1[0] == 1 && rack_dc1[1] == 1 && rack_dc1[2] == 1);
		/* dc2 has 2 racks for 3 replicas: both racks used */
		ck_assert(rack_dc2[0] >= 1 && rack_dc2[1] >= 1);
	}
	ring_free(&r);
}
END_TEST

START_TEST(test_fewer_peers_than_n_gives_every_peer)
{
	static struct cluster c;
	struct replication rep;
	struct ring r;
	uint32_t out[8];

	memset(&c, 0, sizeof(c));
	add_peer(&c, "dc1", "r1", 16, 9);
	add_peer(&c, "dc1", "r1", 16, 9);
	ck_assert_int_eq(ring_build(&r, c.peers, c.n), DKV_OK);
	replication_parse(&rep, "", 3);
	ck_assert_uint_eq(ring_preference(&r, key_token(1), &rep, out, 8), 2);
	ring_free(&r);
}
END_TEST

START_TEST(test_a_duplicate_token_goes_to_the_peer_listed_first)
{
	struct token t[2] = {{1, 2}, {1, 2}};
	struct ring_peer p[2];
	struct ring r;

	memset(p, 0, sizeof(p));
	p[0].id = mk_actor("a");
	p[1].id = mk_actor("b");
	p[0].ntokens = p[1].ntokens = 1;
	p[0].tokens = &t[0];
	p[1].tokens = &t[1];
	ck_assert_int_eq(ring_build(&r, p, 2), DKV_OK);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.entries[0].peer, 0);
	ring_free(&r);
}
END_TEST

START_TEST(test_single_peer_owns_everything)
{
	static struct cluster c;
	struct ring r;
	double own[1];

	memset(&c, 0, sizeof(c));
	add_peer(&c, "dc1", "r1", 1, 4);
	ck_assert_int_eq(ring_build(&r, c.peers, c.n), DKV_OK);
	ring_ownership(&r, own);
	ck_assert(own[0] == 1.0);
	ring_free(&r);
}
END_TEST

/* Regression (found in review): "dc/rack" keys were cut to 64 bytes, so
 * with a long dc name every rack looked the same and placement stopped
 * spreading over racks. */
START_TEST(test_long_dc_names_keep_racks_apart)
{
	static struct cluster c;
	char dc[65];
	struct replication rep;
	struct ring r;
	uint32_t out[4];

	memset(&c, 0, sizeof(c));
	memset(dc, 'd', 60);
	dc[60] = '\0';
	add_peer(&c, dc, "rack-a", 16, 2);
	add_peer(&c, dc, "rack-a", 16, 2);
	add_peer(&c, dc, "rack-b", 16, 2);
	ck_assert_int_eq(ring_build(&r, c.peers, c.n), DKV_OK);
	ck_assert_uint_eq(r.racks_in_dc[0], 2);
	snprintf(rep.dcs[0].dc, sizeof(rep.dcs[0].dc), "%s", dc);
	rep.dcs[0].n = 2;
	rep.ndcs = 1;
	rep.n = 2;
	for (uint64_t k = 0; k < 2000; k++) {
		ck_assert_uint_eq(ring_preference(&r, key_token(k), &rep, out, 4), 2);
		ck_assert_msg(strcmp(c.peers[out[0]].rack, c.peers[out[1]].rack) != 0,
		              "both replicas of key %llu in one rack", (unsigned long long)k);
	}
	ring_free(&r);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("ring");

	tcase_add_test(tc, test_every_key_maps_to_n_distinct_peers);
	tcase_add_test(tc, test_lookup_agrees_with_a_linear_scan);
	tcase_add_test(tc, test_ownership_is_balanced_over_8_peers_of_128_vnodes);
	tcase_add_test(tc, test_a_join_moves_about_one_in_p_plus_one_keys);
	tcase_add_test(tc, test_per_dc_replication_spreads_over_racks);
	tcase_add_test(tc, test_fewer_peers_than_n_gives_every_peer);
	tcase_add_test(tc, test_a_duplicate_token_goes_to_the_peer_listed_first);
	tcase_add_test(tc, test_single_peer_owns_everything);
	tcase_add_test(tc, test_long_dc_names_keep_racks_apart);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
