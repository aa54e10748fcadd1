/*
 * The CLI's cluster commands: `dkv serve` runs a storage peer until a
 * signal; `--seeds HOST:PORT` makes any command join that cluster as a
 * client peer (no data) for the length of the command; `dkv ring` and
 * `dkv remove` look at and change the membership.
 */
#ifndef DKV_EXAMPLES_CLI_CLUSTER_H
#define DKV_EXAMPLES_CLI_CLUSTER_H

#include <libdkv/dkv.h>

#include "cli_settings.h"

/* Opens a client peer of the cluster at s->seeds and waits (a few seconds
 * at most) until it has learned the membership. An exit status. */
int cli_open_client(const struct cli_settings *s, dkv_t **db);
/* Whether a peer entry is a storage peer (clients own no tokens). */
int cli_is_storage(const dkv_peer_info_t *p);

int cmd_serve(const struct cli_settings *s, int argc, char **argv);
int cmd_ring(const struct cli_settings *s, int argc, char **argv);
int cmd_remove(const struct cli_settings *s, int argc, char **argv);

#endif
