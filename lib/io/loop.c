/*
 * Event loop ownership (see loop.h).
 *
 * Stopping is itself a mailbox message, so it runs after everything queued
 * before it: callbacks of operations that finished before dkv_close still
 * run on the loop thread, in order. In attach mode a close from a foreign
 * thread posts a detach message and waits for the application's loop to
 * run it; a close on the loop's own thread drains the mailbox directly.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include <event2/event.h>

#include "libdkv/dkv.h"
#include "io/loop.h"
#include "util/alloc.h"

struct loop {
	struct event_base *base;
	bool attached;
	pthread_t tid; /* the thread that runs base */
	struct event *wake;
	struct mailbox mb;
	const struct logger *log;
	/* detach handshake (attach mode, foreign-thread close) */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool detaching, detached;
	struct mb_msg stop_msg;
	void (*last)(void *arg);
	void *last_arg;
};

/* A loop_call in flight: lives on the caller's stack until done. */
struct call {
	struct mb_msg msg;
	void (*fn)(void *arg);
	void *arg;
	struct loop *l;
	bool done;
};

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;

	(void)fd;
	(void)what;
	mailbox_drain(&l->mb);
	if (l->detaching) {
		/* Attach mode, closed from another thread: the drain is over,
		 * so let go of the application's base here, on its thread, and
		 * only then wake the closing thread — which frees l at once. */
		event_free(l->wake);
		l->wake = NULL;
		pthread_mutex_lock(&l->lock);
		l->detached = true;
		pthread_cond_broadcast(&l->cond);
		pthread_mutex_unlock(&l->lock);
	}
}

static void *
loop_thread(void *arg)
{
	struct loop *l = arg;
	sigset_t pipe;

	/* A write to a connection the peer has closed raises SIGPIPE in the
	 * writing thread, whose default action ends the whole process: on
	 * this thread, which does all the library's socket writes, it is
	 * blocked, and the write fails with EPIPE instead (the connection is
	 * then dropped like any broken one). The application's threads and
	 * its own handling of SIGPIPE are left alone. */
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);
	event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

int
loop_open(struct event_base *attach, const struct logger *log, struct loop **out)
{
	struct loop *l;
	int err = DKV_ENOMEM;

	*out = NULL;
	l = mem_calloc(1, sizeof(*l));
	if (l == NULL)
		return DKV_ENOMEM;
	l->log = log;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	if ((err = mailbox_init(&l->mb)) != DKV_OK)
		goto fail_mailbox;
	l->attached = attach != NULL;
	l->base = attach != NULL ? attach : event_base_new();
	if (l->base == NULL) {
		err = DKV_ENOMEM;
		goto fail_base;
	}
	l->wake = event_new(l->base, l->mb.efd, EV_READ | EV_PERSIST, on_wake, l);
	if (l->wake == NULL || event_add(l->wake, NULL) != 0) {
		err = DKV_ENOMEM;
		goto fail_event;
	}
	if (l->attached) {
		l->tid = pthread_self();
	} else if (pthread_create(&l->tid, NULL, loop_thread, l) != 0) {
		log_error(log, "cannot start the I/O thread");
		err = DKV_ENOMEM;
		goto fail_event;
	}
	*out = l;
	return DKV_OK;

fail_event:
	if (l->wake != NULL)
		event_free(l->wake);
	if (!l->attached)
		event_base_free(l->base);
fail_base:
	mailbox_destroy(&l->mb);
fail_mailbox:
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	mem_free(l);
	return err;
}

void
loop_post(struct loop *l, struct mb_msg *m)
{
	mailbox_post(&l->mb, m);
}

bool
loop_on_thread(const struct loop *l)
{
	return pthread_equal(pthread_self(), l->tid);
}

bool
loop_is_attached(const struct loop *l)
{
	return l->attached;
}

struct event_base *
loop_base(const struct loop *l)
{
	return l->base;
}

static void
on_call(struct mb_msg *m)
{
	struct call *c = (struct call *)m;

	c->fn(c->arg);
	pthread_mutex_lock(&c->l->lock);
	c->done = true;
	pthread_cond_broadcast(&c->l->cond);
	pthread_mutex_unlock(&c->l->lock);
}

void
loop_run_pending(struct loop *l)
{
	if (loop_on_thread(l))
		mailbox_drain(&l->mb);
}

void
loop_call(struct loop *l, void (*fn)(void *arg), void *arg)
{
	struct call c = {.fn = fn, .arg = arg, .l = l, .done = false};

	if (loop_on_thread(l)) {
		fn(arg);
		return;
	}
	c.msg.fn = on_call;
	loop_post(l, &c.msg);
	pthread_mutex_lock(&l->lock);
	while (!c.done)
		pthread_cond_wait(&l->cond, &l->lock);
	pthread_mutex_unlock(&l->lock);
}

static void
on_stop(struct mb_msg *m)
{
	struct loop *l = (struct loop *)((char *)m - offsetof(struct loop, stop_msg));

	if (l->last != NULL)
		l->last(l->last_arg);
	if (!l->attached) {
		event_base_loopbreak(l->base);
		return;
	}
	l->detaching = true; /* on_wake finishes once the drain returns */
}

void
loop_close(struct loop *l, void (*last)(void *arg), void *arg)
{
	if (l == NULL)
		return;
	l->stop_msg.fn = on_stop;
	l->last = last;
	l->last_arg = arg;
	if (l->attached && loop_on_thread(l)) {
		mailbox_drain(&l->mb);
		if (last != NULL)
			last(arg);
		event_del(l->wake);
	} else if (l->attached) {
		loop_post(l, &l->stop_msg);
		pthread_mutex_lock(&l->lock);
		while (!l->detached)
			pthread_cond_wait(&l->cond, &l->lock);
		pthread_mutex_unlock(&l->lock);
	} else {
		loop_post(l, &l->stop_msg);
		pthread_join(l->tid, NULL);
	}
	if (l->wake != NULL)
		event_free(l->wake);
	if (!l->attached)
		event_base_free(l->base);
	mailbox_destroy(&l->mb);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	mem_free(l);
}
