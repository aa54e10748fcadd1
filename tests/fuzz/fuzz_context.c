/*
 * libFuzzer target: the causal-context decoder behind dkv_context_decode.
 * Malformed input must be DKV_EINVAL; accepted input must round-trip.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "libdkv/dkv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dkv_context_t *c;
	void *buf;
	size_t len;
	int err = dkv_context_decode(data, size, &c);

	if (err != DKV_OK) {
		if (err != DKV_EINVAL || c != NULL)
			abort();
		return 0;
	}
	if (dkv_context_encode(c, &buf, &len) != DKV_OK)
		abort();
	/* Canonical input round-trips exactly; any accepted input at least
	 * decodes again from its own encoding. */
	dkv_context_free(c);
	if (dkv_context_decode(buf, len, &c) != DKV_OK)
		abort();
	dkv_context_free(c);
	free(buf);
	return 0;
}
