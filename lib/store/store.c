/* Key layout and metadata helpers shared by every store (see store.h). */
#include "config.h"

#include <string.h>

#include "libdkv/dkv.h"
#include "store/store.h"

#define META_NAME_MAX 64

void
store_object_key(uint8_t *out, struct token t, const void *key, size_t klen)
{
	out[0] = STORE_NS_OBJECT;
	token_to_bytes(t, out + 1);
	memcpy(out + OBJECT_KEY_OVERHEAD, key, klen);
}

static size_t
meta_key(char *out, const char *name)
{
	size_t n = strnlen(name, META_NAME_MAX);

	out[0] = STORE_NS_META;
	memcpy(out + 1, name, n);
	return n + 1;
}

int
store_meta_get(struct store *s, const char *name, char *buf, size_t bufsize)
{
	char key[META_NAME_MAX + 1];
	size_t klen = meta_key(key, name), vlen;
	void *val;
	int err;

	if ((err = store_get(s, key, klen, &val, &vlen)) != DKV_OK)
		return err;
	if (vlen >= bufsize) {
		store_free_value(s, val);
		return DKV_EIO;
	}
	memcpy(buf, val, vlen);
	buf[vlen] = '\0';
	store_free_value(s, val);
	return DKV_OK;
}

int
store_meta_put(struct store *s, const char *name, const char *value)
{
	return store_meta_put_raw(s, name, value, strlen(value), true);
}

int
store_meta_get_raw(struct store *s, const char *name, void **val, size_t *len)
{
	char key[META_NAME_MAX + 1];
	size_t klen = meta_key(key, name);

	return store_get(s, key, klen, val, len);
}

int
store_meta_put_raw(struct store *s, const char *name, const void *val, size_t len, bool sync)
{
	char key[META_NAME_MAX + 1];
	size_t klen = meta_key(key, name);

	return store_put(s, key, klen, val, len, sync);
}
