/* Error messages and the library version. */
#include "config.h"

#include "libdkv/dkv.h"

const char *
dkv_strerror(int err)
{
	switch (err) {
	case DKV_OK:
		return "success";
	case DKV_ENOTFOUND:
		return "not found";
	case DKV_EINVAL:
		return "invalid argument";
	case DKV_ETOOBIG:
		return "key, value or sibling set too big";
	case DKV_EUNAVAILABLE:
		return "not enough live replicas for the consistency level";
	case DKV_ETIMEDOUT:
		return "not enough replicas answered in time";
	case DKV_EIO:
		return "I/O error (storage or network) or corrupt record";
	case DKV_ENOMEM:
		return "out of memory";
	case DKV_ECONFIG:
		return "invalid configuration";
	case DKV_ECLOSED:
		return "handle is closed";
	case DKV_EDEADLK:
		return "blocking call from a library callback";
	case DKV_EBUSY:
		return "busy: too many operations in flight, or the peer is in use";
	default:
		return "unknown error";
	}
}

const char *
dkv_version(void)
{
	return DKV_VERSION_STRING;
}
