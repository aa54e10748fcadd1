/*
 * A mailbox hands messages from any thread to the loop thread, like libuv's
 * uv_async_send: a mutex-protected FIFO of intrusive messages plus an
 * eventfd that wakes the loop. Posting never allocates (the message lives
 * inside the sender's request), so it cannot fail for lack of memory; the
 * eventfd is written only when the queue goes from empty to non-empty.
 */
#ifndef DKV_IO_MAILBOX_H
#define DKV_IO_MAILBOX_H

#include <pthread.h>
#include <stdbool.h>

#include <bsd/sys/queue.h>

struct mb_msg {
	TAILQ_ENTRY(mb_msg) link;
	void (*fn)(struct mb_msg *m); /* runs on the loop thread */
};

TAILQ_HEAD(mb_queue, mb_msg);

struct mailbox {
	pthread_mutex_t lock;
	struct mb_queue queue;
	int efd;
};

int mailbox_init(struct mailbox *mb);
void mailbox_destroy(struct mailbox *mb);
void mailbox_post(struct mailbox *mb, struct mb_msg *m);
/* Runs every message queued now (and any they post), on this thread. */
void mailbox_drain(struct mailbox *mb);

#endif
