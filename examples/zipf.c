/*
 * Key choice for the benchmark (see zipf.h). The zipfian generator follows
 * YCSB's ZipfianGenerator (Gray et al., "Quickly generating billion-record
 * synthetic databases"): zeta(n) is summed once, and each draw then costs
 * one pow(). Scrambling hashes the rank with FNV-1a over its eight
 * little-endian bytes, as YCSB's ScrambledZipfianGenerator does.
 */
#include "config.h"

#include <math.h>

#include "zipf.h"

void
rng_seed(struct rng *r, uint64_t seed)
{
	r->state = seed;
}

uint64_t
mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t
rng_next(struct rng *r)
{
	r->state += 0x9e3779b97f4a7c15ULL;
	return mix64(r->state);
}

double
rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t
rng_below(struct rng *r, uint64_t n)
{
	/* The modulo bias is below 2^-40 for any key count used here. */
	return rng_next(r) % n;
}

static double
zeta(uint64_t n, double theta)
{
	double sum = 0.0;

	for (uint64_t i = 1; i <= n; i++)
		sum += 1.0 / pow((double)i, theta);
	return sum;
}

void
zipf_init(struct zipf *z, uint64_t items, double theta)
{
	double zeta2 = zeta(2, theta);

	z->items = items;
	z->theta = theta;
	z->alpha = 1.0 / (1.0 - theta);
	z->zetan = zeta(items, theta);
	z->one_plus_half_pow_theta = 1.0 + pow(0.5, theta);
	/* With two items or fewer the first two cuts decide every draw and
	 * eta (whose denominator is then 0) is never used. */
	z->eta = items > 2
	             ? (1.0 - pow(2.0 / (double)items, 1.0 - theta)) / (1.0 - zeta2 / z->zetan)
	             : 0.0;
}

uint64_t
zipf_rank(const struct zipf *z, double u)
{
	double uz = u * z->zetan;
	uint64_t rank;

	if (uz < 1.0 || z->items == 1)
		return 0;
	if (uz < z->one_plus_half_pow_theta)
		return 1;
	rank = (uint64_t)((double)z->items * pow(z->eta * u - z->eta + 1.0, z->alpha));
	/* Rounding can land exactly on items. */
	return rank < z->items ? rank : z->items - 1;
}

static uint64_t
fnv1a64(uint64_t value)
{
	uint64_t hash = 0xcbf29ce484222325ULL;

	for (int i = 0; i < 8; i++) {
		hash ^= value & 0xff;
		hash *= 0x100000001b3ULL;
		value >>= 8;
	}
	return hash;
}

uint64_t
zipf_scrambled(const struct zipf *z, struct rng *r)
{
	return fnv1a64(zipf_rank(z, rng_unit(r))) % z->items;
}
