/*
 * The handle's event loop: the one place that owns a libevent event_base.
 * Either the library starts a thread that runs its own base, or it attaches
 * to the application's base (dkv_config_set_event_base) and runs there.
 * Other threads reach the loop only through its mailbox.
 */
#ifndef DKV_IO_LOOP_H
#define DKV_IO_LOOP_H

#include <stdbool.h>

#include "io/mailbox.h"
#include "util/log.h"

struct event_base;
struct loop;

/* attach NULL: start a loop thread. Otherwise run on attach, whose loop
 * must run on the calling thread. */
int loop_open(struct event_base *attach, const struct logger *log, struct loop **out);
/* Queues m to run on the loop thread. */
void loop_post(struct loop *l, struct mb_msg *m);
bool loop_on_thread(const struct loop *l);
/* On the loop thread: runs what is queued in the mailbox now (for a
 * caller that waits on the loop thread for work that needs the loop). */
void loop_run_pending(struct loop *l);
bool loop_is_attached(const struct loop *l);
struct event_base *loop_base(const struct loop *l);
/* Runs fn(arg) on the loop thread and waits for it (directly when called
 * there). */
void loop_call(struct loop *l, void (*fn)(void *arg), void *arg);
/* Runs everything still queued, then last(arg) (may be NULL), all on the
 * loop thread; then stops the thread or detaches from the application's
 * base, and frees l. */
void loop_close(struct loop *l, void (*last)(void *arg), void *arg);

#endif
