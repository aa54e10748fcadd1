/*
 * The CLI's cluster commands: `dkv serve` runs a storage peer until a
 * signal; `--seeds HOST:PORT` makes any command join that cluster as a
 * client peer (no data) for the length of the command; `dkv ring` and
 * `dkv remove` look at and change the membership; `dkv repair` runs
 * anti-entropy on the storage peers, one after the other.
 */
#ifndef DKV_EXAMPLES_CLI_CLUSTER_H
#define DKV_EXAMPLES_CLI_CLUSTER_H

#include <stdio.h>

#include <libdkv/dkv.h>

#include "cli_settings.h"

/* Opens a client peer of the cluster at s->seeds and waits (a few seconds
 * at most) until it has learned the membership. An exit status. */
int cli_open_client(const struct cli_settings *s, dkv_t **db);
/* Whether a peer entry is a storage peer (clients own no tokens). */
int cli_is_storage(const dkv_peer_info_t *p);

/* Prints title, then dkv_stats(db) as a STATISTIC / VALUE table indented
 * by two spaces, all in one piece even while other threads write to out
 * (dkv serve's logger). An exit status. */
int cli_print_stats(dkv_t *db, FILE *out, const char *title);

int cmd_serve(const struct cli_settings *s, int argc, char **argv);
int cmd_ring(const struct cli_settings *s, int argc, char **argv);
int cmd_remove(const struct cli_settings *s, int argc, char **argv);
int cmd_decommission(const struct cli_settings *s, int argc, char **argv);
/* only: --peer ID, or NULL for every storage peer that is up. */
int cmd_repair(const struct cli_settings *s, const char *only, int argc, char **argv);

#endif
