/*
 * A small pool of threads that runs storage work off the loop thread, so a
 * slow disk or an fsync (sync_writes=1) never stalls the loop. Work items
 * are intrusive (no allocation to queue one). Closing cancels what has not
 * started and waits for what has.
 */
#ifndef DKV_IO_WORKERS_H
#define DKV_IO_WORKERS_H

#include <bsd/sys/queue.h>

struct work {
	TAILQ_ENTRY(work) link;
	void (*run)(struct work *w);    /* on a worker thread */
	void (*cancel)(struct work *w); /* instead of run, at close */
};

struct workers;

int workers_open(unsigned nthreads, struct workers **out);
/* DKV_ECLOSED once closing has begun. */
int workers_submit(struct workers *ws, struct work *w);
/* Cancels queued work (calling cancel on this thread), waits for running
 * work, joins the threads and frees ws. */
void workers_close(struct workers *ws);

#endif
