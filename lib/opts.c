/* Per-request options (see opts.h). */
#include "config.h"

#include "opts.h"
#include "util/alloc.h"

dkv_opts_t *
dkv_opts_new(void)
{
	dkv_opts_t *o = mem_calloc(1, sizeof(*o));

	if (o != NULL)
		o->consistency = OPTS_DEFAULT_CONSISTENCY;
	return o;
}

void
dkv_opts_free(dkv_opts_t *o)
{
	mem_free(o);
}

void
dkv_opts_set_consistency(dkv_opts_t *o, dkv_consistency_t c)
{
	if (o != NULL)
		o->consistency = (int)c;
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
	if (o == NULL || o->consistency == OPTS_DEFAULT_CONSISTENCY)
		return DKV_OK;
	if (o->consistency < (int)DKV_ONE || o->consistency > (int)DKV_EACH_QUORUM)
		return DKV_EINVAL;
	return DKV_OK;
}
