/*
 * dkv.h compiles on its own as strict C11 (-std=c11 -pedantic -Werror):
 * no other header is included first, not even config.h.
 */
#include <libdkv/dkv.h>

_Static_assert(DKV_OK == 0, "DKV_OK is 0");
_Static_assert(DKV_ENOTFOUND < 0 && DKV_EBUSY < 0, "errors are negative");
_Static_assert(DKV_VERSION_NUMBER == ((DKV_VERSION_MAJOR << 16) |
                                      (DKV_VERSION_MINOR << 8) | DKV_VERSION_PATCH),
               "DKV_VERSION_NUMBER is 0xMMmmpp");

int
main(void)
{
	dkv_t *db = NULL;
	dkv_result_t *res = NULL;

	/* NULL handles are errors, not crashes, and free(NULL) is a no-op. */
	dkv_result_free(res);
	return dkv_get(db, "k", 1, &res, NULL) == DKV_EINVAL ? 0 : 1;
}
