/*
 * Read results and causal contexts handed to the application.
 *
 * A result keeps the store's read buffer and points its sibling values into
 * it, so a get copies no value bytes; its context is a copy of the object's
 * version vector (small, usually inline).
 */
#ifndef DKV_RESULT_H
#define DKV_RESULT_H

#include "libdkv/dkv.h"
#include "core/object.h"
#include "core/vv.h"

struct dkv_context {
	struct vv vv;
};

/* Builds a result from a decoded object that borrows from raw; takes raw
 * (freed with free_raw) on success and on failure. DKV_ENOTFOUND when no
 * sibling is live. */
int result_from_object(const struct object *o, void *raw,
                       void (*free_raw)(void *), dkv_result_t **out);

#endif
