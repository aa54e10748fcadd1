/* Built against the installed library with only pkg-config's flags:
 * "persist DIR write" stores two keys, "persist DIR read" (a new process)
 * checks them. */
#include <stdio.h>
#include <string.h>

#include <libdkv/dkv.h>

int
main(int argc, char **argv)
{
	dkv_config_t *cfg = dkv_config_new();
	dkv_result_t *res = NULL;
	dkv_t *db;
	size_t len = 0;
	const char *val;
	int err;

	if (argc != 3 || cfg == NULL || dkv_config_set(cfg, "data_dir", argv[1]) != DKV_OK)
		return 2;
	if ((err = dkv_open(cfg, &db)) != DKV_OK) {
		fprintf(stderr, "open: %s: %s\n", dkv_strerror(err), dkv_config_error(cfg));
		return 1;
	}
	if (strcmp(argv[2], "write") == 0) {
		err = dkv_put(db, "greeting", 8, "hello", 5, NULL, NULL);
		if (err == DKV_OK)
			err = dkv_put(db, "bin\0key", 7, "\0\1\2", 3, NULL, NULL);
	} else if ((err = dkv_get(db, "greeting", 8, &res, NULL)) == DKV_OK) {
		val = dkv_result_value(res, 0, &len);
		err = len == 5 && memcmp(val, "hello", 5) == 0 ? DKV_OK : DKV_EIO;
		dkv_result_free(res);
		if (err == DKV_OK && (err = dkv_get(db, "bin\0key", 7, &res, NULL)) == DKV_OK) {
			val = dkv_result_value(res, 0, &len);
			err = len == 3 && memcmp(val, "\0\1\2", 3) == 0 ? DKV_OK : DKV_EIO;
			dkv_result_free(res);
		}
	}
	printf("%s %s: %s\n", argv[2], argv[1], dkv_strerror(err));
	dkv_close(db);
	dkv_config_free(cfg);
	return err == DKV_OK ? 0 : 1;
}
