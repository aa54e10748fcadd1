/*
 * dkv.h compiles as C++11 (-pedantic -Werror) and declares its functions
 * with C linkage: taking their addresses links against libdkv only if the
 * names are not C++-mangled.
 */
#include <libdkv/dkv.h>

#include <cstring>

int
main()
{
	auto put = &dkv_put;
	auto get = &dkv_get;
	auto open = &dkv_open;
	auto close = &dkv_close;
	auto encode = &dkv_context_encode;
	auto peers = &dkv_peers;
	dkv_done_cb done = nullptr;
	dkv_consistency_t c = DKV_LOCAL_QUORUM;
	dkv_peer_info_t info = dkv_peer_info_t();
	static_assert(DKV_OK == 0, "DKV_OK is 0");

	(void)done;
	(void)c;
	(void)info;
	if (put == nullptr || get == nullptr || open == nullptr || close == nullptr ||
	    encode == nullptr || peers == nullptr)
		return 1;
	if (std::strcmp(dkv_version(), DKV_VERSION_STRING) != 0)
		return 1;
	dkv_config_t *cfg = dkv_config_new();
	if (cfg == nullptr)
		return 1;
	int err = dkv_config_set(cfg, "no_such_option", "1");
	dkv_config_free(cfg);
	return err == DKV_ECONFIG ? 0 : 1;
}
