/* Per-request options (dkv_opts_*): consistency level and time limit. */
#ifndef DKV_OPTS_H
#define DKV_OPTS_H

#include "libdkv/dkv.h"

#define OPTS_DEFAULT_CONSISTENCY (-1)

struct dkv_opts {
	int consistency; /* dkv_consistency_t or OPTS_DEFAULT_CONSISTENCY */
	unsigned timeout_ms; /* 0: configured timeout_ms */
};

/* DKV_EINVAL for an unknown consistency level; NULL opts are valid. */
int opts_check(const dkv_opts_t *o);

#endif
