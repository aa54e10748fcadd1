/*
 * dkv_event.h compiles on its own as strict C11 (-std=c11 -pedantic
 * -Werror): it brings dkv.h itself and needs no libevent header, only its
 * forward declaration of struct event_base.
 */
#include <libdkv/dkv_event.h>

int
main(void)
{
	struct event_base *base = NULL;
	int (*set_base)(dkv_config_t *, struct event_base *) = dkv_config_set_event_base;

	return set_base(NULL, base) == DKV_EINVAL ? 0 : 1;
}
