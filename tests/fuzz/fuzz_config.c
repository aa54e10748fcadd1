/*
 * libFuzzer target: configuration parsing. The input is "name\0value";
 * dkv_config_set must answer DKV_OK, DKV_ECONFIG or DKV_EINVAL and always
 * leave a NUL-terminated message.
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
	dkv_config_t *cfg = dkv_config_new();
	char *text = malloc(size + 2);
	const char *name, *value;
	int err;

	if (cfg == NULL || text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	text[size + 1] = '\0';
	name = text;
	value = text + strlen(text) + 1;
	if (value > text + size)
		value = "";
	err = dkv_config_set(cfg, name, value);
	if (err != DKV_OK && err != DKV_ECONFIG && err != DKV_EINVAL)
		abort();
	if (strlen(dkv_config_error(cfg)) >= 512)
		abort();
	free(text);
	dkv_config_free(cfg);
	return 0;
}
