# Manual pages: the overview libdkv(7), the CLI dkv(1), one section-3 page
# per group of functions, and a one-line ".so" page for every other
# function so that `man dkv_close` finds its group's page once installed.
# check-man.sh lints them all (groff -man -ww -z) and checks that every
# page is listed here and every public function has a page.
dist_man_MANS += \
	man/dkv.1 \
	man/libdkv.7 \
	man/dkv_open.3 \
	man/dkv_config_set.3 \
	man/dkv_put.3 \
	man/dkv_opts_new.3 \
	man/dkv_get.3 \
	man/dkv_context_encode.3 \
	man/dkv_peers.3 \
	man/dkv_repair.3 \
	man/dkv_debug_fault.3 \
	man/dkv_strerror.3

# Alias pages (".so man3/PAGE.3"), grouped by the page they point at,
# in the order above.
dist_man_MANS += \
	man/dkv_close.3 man/dkv_decommission.3 man/dkv_decommission_peer.3 \
	man/dkv_config_new.3 man/dkv_config_free.3 man/dkv_config_load.3 \
	man/dkv_config_error.3 man/dkv_config_set_logger.3 man/dkv_config_set_event_base.3 \
	man/dkv_put_async.3 man/dkv_delete.3 man/dkv_delete_async.3 \
	man/dkv_opts_free.3 man/dkv_opts_set_consistency.3 man/dkv_opts_set_timeout_ms.3 \
	man/dkv_get_async.3 man/dkv_result_count.3 man/dkv_result_value.3 \
	man/dkv_result_context.3 man/dkv_result_free.3 \
	man/dkv_context_decode.3 man/dkv_context_free.3 \
	man/dkv_peers_free.3 man/dkv_ring.3 man/dkv_ring_free.3 man/dkv_remove_peer.3 \
	man/dkv_stats.3 \
	man/dkv_version.3

TESTS += man/check-man.sh
EXTRA_DIST += man/check-man.sh
