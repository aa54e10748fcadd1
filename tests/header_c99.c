/*
 * dkv.h compiles on its own as strict C99 (-std=c99 -pedantic -Werror):
 * no other header is included first, not even config.h.
 */
#include <libdkv/dkv.h>

int
main(void)
{
	dkv_consistency_t c = DKV_QUORUM;
	dkv_peer_info_t info;
	dkv_done_cb done = 0;
	dkv_get_cb got = 0;
	const char *v = dkv_version();

	info.state = DKV_PEER_UP;
	(void)info;
	(void)c;
	(void)done;
	(void)got;
#if DKV_VERSION_NUMBER < 0x000100
#error "DKV_VERSION_NUMBER must work in #if"
#endif
	return v != 0 && v[0] != '\0' && DKV_OK == 0 ? 0 : 1;
}
