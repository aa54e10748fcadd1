/* Per-request options (see opts.h). */
#include "config.h"

#include "opts.h"
#include "util/alloc.h"

dkv_opts_t *
dkv_opts_new(void)
{
	return mem_calloc(1, sizeof(dkv_opts_t));
}

void
dkv_opts_free(dkv_opts_t *o)
{
	mem_free(o);
}

void
dkv_opts_set_consistency(dkv_opts_t *o, dkv_consistency_t c)
{
	if (o != NULL) {
		o->has_consistency = true;
		o->consistency = (int)c;
	}
}

void
dkv_opts_set_timeout_ms(dkv_opts_t *o, unsigned ms)
{
	if (o != NULL)
		o->timeout_ms = ms;
}

int
opts_check(const dkv_opts_t *o)
{
	if (o == NULL || !o->has_consistency)
		return DKV_OK;
	if (o->consistency < (int)DKV_ONE || o->consistency > (int)DKV_EACH_QUORUM)
		return DKV_EINVAL;
	return DKV_OK;
}
