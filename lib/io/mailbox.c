/* Cross-thread mailbox for the loop thread (see mailbox.h). */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include <sys/eventfd.h>

#include "libdkv/dkv.h"
#include "io/mailbox.h"

int
mailbox_init(struct mailbox *mb)
{
	mb->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (mb->efd < 0)
		return DKV_EIO;
	pthread_mutex_init(&mb->lock, NULL);
	TAILQ_INIT(&mb->queue);
	return DKV_OK;
}

void
mailbox_destroy(struct mailbox *mb)
{
	if (mb->efd >= 0)
		close(mb->efd);
	mb->efd = -1;
	pthread_mutex_destroy(&mb->lock);
}

void
mailbox_post(struct mailbox *mb, struct mb_msg *m)
{
	bool was_empty;
	uint64_t one = 1;

	pthread_mutex_lock(&mb->lock);
	was_empty = TAILQ_EMPTY(&mb->queue);
	TAILQ_INSERT_TAIL(&mb->queue, m, link);
	pthread_mutex_unlock(&mb->lock);
	/* A full counter (impossible in practice) or EAGAIN still leaves the
	 * fd readable, which is all the loop needs. */
	if (was_empty)
		while (write(mb->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
}

void
mailbox_drain(struct mailbox *mb)
{
	struct mb_queue batch;
	struct mb_msg *m;
	uint64_t count;

	while (read(mb->efd, &count, sizeof(count)) < 0 && errno == EINTR)
		;
	for (;;) {
		pthread_mutex_lock(&mb->lock);
		TAILQ_INIT(&batch);
		TAILQ_CONCAT(&batch, &mb->queue, link);
		pthread_mutex_unlock(&mb->lock);
		if (TAILQ_EMPTY(&batch))
			return;
		while ((m = TAILQ_FIRST(&batch)) != NULL) {
			TAILQ_REMOVE(&batch, m, link);
			m->fn(m);
		}
	}
}
