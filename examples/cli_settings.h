/*
 * The settings the CLI's global options give every store it opens: a
 * configuration file (-c), a data directory (-d or $DKV_DATA_DIR) and
 * name=value assignments (--set), applied to a dkv_config_t in that order
 * so that later ones win.
 */
#ifndef DKV_EXAMPLES_CLI_SETTINGS_H
#define DKV_EXAMPLES_CLI_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include <libdkv/dkv.h>

struct cli_settings {
	const char *config_file;        /* -c FILE, or NULL */
	const char *data_dir;           /* -d DIR or $DKV_DATA_DIR, or NULL */
	const char *seeds;              /* --seeds: join that cluster as a client peer */
	const char *const *assignments; /* --set NAME=VALUE, in order */
	size_t nassignments;
};

/* Applies s to cfg. On failure prints why on stderr (naming the file or
 * the assignment and quoting dkv_config_error) and returns the error. */
int cli_settings_apply(const struct cli_settings *s, dkv_config_t *cfg);

/* Whether an assignment sets name (used to tell if a data_dir was given). */
bool cli_settings_assigns(const struct cli_settings *s, const char *name);

#endif
