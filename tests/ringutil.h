/*
 * Which peers replicate a key, worked out from dkv_ring() and the key's
 * token (MurmurHash3 x64_128, as the library hashes it), so that a test
 * can tell what a peer must hold. Plain rings only: no datacenters or
 * racks.
 */
#ifndef DKV_TESTS_RINGUTIL_H
#define DKV_TESTS_RINGUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <libdkv/dkv.h>

/* Whether peer id is one of the n replicas of key in ring. */
bool ring_replicates(const dkv_token_range_t *ring, size_t nr, unsigned n, const char *id,
                     const char *key);

#endif
