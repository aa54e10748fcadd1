/*
 * Key choice for the benchmark: a seeded splitmix64 stream, and YCSB's
 * scrambled zipfian distribution over a fixed number of items. The zipfian
 * constants (zeta above all, a sum over every item) are computed once by
 * zipf_init and only read afterwards, so forked children share them.
 */
#ifndef DKV_EXAMPLES_ZIPF_H
#define DKV_EXAMPLES_ZIPF_H

#include <stdint.h>

/* A splitmix64 stream: tiny, fast, and every seed gives a good stream. */
struct rng {
	uint64_t state;
};

struct zipf {
	uint64_t items;
	double theta, alpha, zetan, eta;
	double one_plus_half_pow_theta; /* 1 + 0.5^theta, the rank-1 cut */
};

void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, 1), 53 random bits. */
double rng_unit(struct rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t rng_below(struct rng *r, uint64_t n);

/* The splitmix64 finaliser: a bijection on 64-bit values that scatters
 * neighbouring inputs, used to make keys from indexes. */
uint64_t mix64(uint64_t x);

/* Zipfian over items >= 1 with skew theta in (0, 1); YCSB uses 0.99. */
void zipf_init(struct zipf *z, uint64_t items, double theta);
/* The rank drawn from uniform u in [0, 1): 0 is the most popular item. */
uint64_t zipf_rank(const struct zipf *z, double u);
/* YCSB's ScrambledZipfianGenerator: the rank hashed (FNV-1a 64) onto the
 * item space, so popular items are scattered instead of clustered at 0. */
uint64_t zipf_scrambled(const struct zipf *z, struct rng *r);

#endif
