/* hello — the smallest libdkv program: open a store, put, get, close. */
#include <stdio.h>

#include <libdkv/dkv.h>

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "./hello-data";
	dkv_config_t *cfg = dkv_config_new();
	dkv_result_t *res = NULL;
	dkv_t *db = NULL;
	const char *value;
	size_t vlen;
	int err = DKV_ENOMEM;

	if (cfg == NULL || (err = dkv_config_set(cfg, "data_dir", dir)) != DKV_OK ||
	    (err = dkv_open(cfg, &db)) != DKV_OK ||
	    (err = dkv_put(db, "hello", 5, "world", 5, NULL, NULL)) != DKV_OK ||
	    (err = dkv_get(db, "hello", 5, &res, NULL)) != DKV_OK)
		goto fail;
	value = dkv_result_value(res, 0, &vlen);
	printf("hello -> %.*s\n", (int)vlen, value);

fail:
	if (err != DKV_OK) {
		const char *why = dkv_config_error(cfg); /* "" unless opening failed */

		fprintf(stderr, "hello: %s%s%s\n", dkv_strerror(err), *why ? ": " : "", why);
	}
	dkv_result_free(res);
	dkv_close(db);
	dkv_config_free(cfg);
	return err == DKV_OK ? 0 : 1;
}
