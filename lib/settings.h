/*
 * Configuration: the settings behind dkv_config_t, parsed and validated
 * by name (dkv_config_set / dkv_config_load) from one table in config.c.
 * A dkv_t copies the settings at open, so the application may free or
 * reuse its dkv_config_t at once.
 */
#ifndef DKV_SETTINGS_H
#define DKV_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/vv.h"

enum dkv_role { ROLE_STORAGE, ROLE_CLIENT };

struct settings {
	char node_id[ACTOR_MAX + 1]; /* "" = generated and kept in data_dir */
	char listen[256];
	char seeds[1024];
	char data_dir[1024];
	char dc[ACTOR_MAX + 1];
	char rack[ACTOR_MAX + 1];
	char replication[256];
	char cluster_name[ACTOR_MAX + 1];
	char cluster_secret[257];
	unsigned role;
	unsigned vnodes, n, r, w;
	unsigned timeout_ms, gossip_interval_ms;
	double phi_threshold;
	unsigned conflicts; /* enum conflict_mode */
	unsigned sync_writes;
	unsigned hinted_handoff, hint_window_s, hint_rate, tombstone_grace_s;
	unsigned ae_interval_s, ae_depth, ae_sessions;
	unsigned max_key_bytes, max_value_bytes, max_siblings;
	unsigned cache_mb, write_buffer_mb, max_open_files;
	unsigned workers, max_pending;
	unsigned log_level;
	unsigned listen_set; /* listen given: this peer joins a cluster */
};

struct event_base;

struct dkv_config {
	struct settings s;
	char err[512];
	void (*log_fn)(int level, const char *msg, void *arg);
	void *log_arg;
	struct event_base *base;
};

/* Checks the settings as a whole (r <= n, data_dir for storage peers...);
 * DKV_ECONFIG with the reason in cfg->err. */
int config_check(const struct dkv_config *cfg, char *err, size_t errlen);

#endif
