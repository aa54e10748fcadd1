/*
 * libdkv — attaching a handle to the application's own libevent loop.
 *
 * Kept apart from dkv.h so that dkv.h never pulls in libevent's headers.
 */
#ifndef LIBDKV_DKV_EVENT_H
#define LIBDKV_DKV_EVENT_H

#include <libdkv/dkv.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(default)
#endif

struct event_base;

/* Makes dkv_open() run the handle on base instead of a thread of its own.
 * dkv_open() must then be called on the thread that runs base; async
 * callbacks run on that loop; blocking calls from other threads work, and
 * from the loop's own thread they return DKV_EDEADLK. dkv_close() may be
 * called on the loop's thread (outside library callbacks) whether or not
 * the loop is running; from another thread it needs the loop running until
 * it returns. Free the base only after dkv_close(). NULL restores the
 * default (a library thread). */
int dkv_config_set_event_base(dkv_config_t *cfg, struct event_base *base);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* LIBDKV_DKV_EVENT_H */
