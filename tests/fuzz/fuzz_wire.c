/*
 * libFuzzer target: the peer wire protocol. The first byte picks the
 * message type; the rest is a body. Accepted messages must re-encode and
 * decode again to the same frame.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "libdkv/dkv.h"
#include "core/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_header h;
	struct msg m, again;
	uint8_t *buf, *buf2;
	size_t len, len2;

	if (size >= WIRE_HEADER)
		(void)wire_decode_header(data, 1u << 20, &h);
	if (size < 1)
		return 0;
	if (wire_decode(data[0], data + 1, size - 1, &m) != DKV_OK)
		return 0;
	if (wire_encode(&m, &buf, &len) != DKV_OK)
		abort();
	if (wire_decode_header(buf, 1u << 30, &h) != DKV_OK ||
	    wire_decode(h.type, buf + WIRE_HEADER, h.body_len, &again) != DKV_OK)
		abort();
	if (wire_encode(&again, &buf2, &len2) != DKV_OK || len2 != len || memcmp(buf, buf2, len) != 0)
		abort();
	wire_msg_free(&m);
	wire_msg_free(&again);
	free(buf);
	free(buf2);
	return 0;
}
