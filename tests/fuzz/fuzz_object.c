/*
 * libFuzzer target: the stored object decoder. Whatever the bytes, decode
 * must fail cleanly or yield an object that re-encodes, decodes again to
 * the same bytes, and merges with itself to itself.
 */
#include "config.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "libdkv/dkv.h"
#include "core/object.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct object o, again, self;
	uint8_t *enc, *enc2;
	size_t n;

	if (object_decode(&o, data, size) != DKV_OK)
		return 0;
	n = object_encoded_size(&o);
	enc = malloc(n);
	enc2 = malloc(n);
	if (enc == NULL || enc2 == NULL)
		abort();
	object_encode(&o, enc);
	if (object_decode(&again, enc, n) != DKV_OK)
		abort();
	if (object_encoded_size(&again) != n)
		abort();
	object_encode(&again, enc2);
	if (memcmp(enc, enc2, n) != 0)
		abort();
	object_init(&self);
	if (object_merge(&self, &o, CONFLICTS_SIBLINGS) == DKV_OK &&
	    object_merge(&self, &o, CONFLICTS_SIBLINGS) == DKV_OK) {
		if (object_encoded_size(&self) != n)
			abort();
	}
	object_free(&self);
	object_free(&again);
	object_free(&o);
	free(enc);
	free(enc2);
	return 0;
}
