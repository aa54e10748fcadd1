/* Per-request options (dkv_opts_*): consistency level and time limit. */
#ifndef DKV_OPTS_H
#define DKV_OPTS_H

#include <stdbool.h>

#include "libdkv/dkv.h"

struct dkv_opts {
	bool has_consistency; /* false: the configured default */
	int consistency;      /* a dkv_consistency_t, checked at use */
	unsigned timeout_ms;  /* 0: configured timeout_ms */
};

/* DKV_EINVAL for an unknown consistency level; NULL opts are valid. */
int opts_check(const dkv_opts_t *o);

#endif
