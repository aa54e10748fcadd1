/*
 * Applying the CLI's global options to a configuration (see
 * cli_settings.h). Assignments were checked for their '=' when the command
 * line was parsed; here each is split and handed to dkv_config_set, which
 * validates the name and the value.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_settings.h"

static int
apply_assignment(dkv_config_t *cfg, const char *assignment)
{
	const char *eq = strchr(assignment, '=');
	char *name;
	int err;

	if (eq == NULL) {
		fprintf(stderr, "dkv: --set %s: expected NAME=VALUE\n", assignment);
		return DKV_ECONFIG;
	}
	name = strndup(assignment, (size_t)(eq - assignment));
	if (name == NULL) {
		fprintf(stderr, "dkv: %s\n", dkv_strerror(DKV_ENOMEM));
		return DKV_ENOMEM;
	}
	err = dkv_config_set(cfg, name, eq + 1);
	if (err != DKV_OK)
		fprintf(stderr, "dkv: --set %s: %s\n", assignment, dkv_config_error(cfg));
	free(name);
	return err;
}

int
cli_settings_apply(const struct cli_settings *s, dkv_config_t *cfg)
{
	int err;

	if (s->config_file != NULL && (err = dkv_config_load(cfg, s->config_file)) != DKV_OK) {
		fprintf(stderr, "dkv: %s: %s\n", s->config_file,
		        err == DKV_ECONFIG ? dkv_config_error(cfg) : dkv_strerror(err));
		return err;
	}
	if (s->data_dir != NULL && (err = dkv_config_set(cfg, "data_dir", s->data_dir)) != DKV_OK) {
		fprintf(stderr, "dkv: data directory %s: %s\n", s->data_dir, dkv_config_error(cfg));
		return err;
	}
	for (size_t i = 0; i < s->nassignments; i++)
		if ((err = apply_assignment(cfg, s->assignments[i])) != DKV_OK)
			return err;
	return DKV_OK;
}

bool
cli_settings_assigns(const struct cli_settings *s, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < s->nassignments; i++)
		if (strncmp(s->assignments[i], name, len) == 0 && s->assignments[i][len] == '=')
			return true;
	return false;
}
