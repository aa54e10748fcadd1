/* Worker thread pool (see workers.h). */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>

#include "libdkv/dkv.h"
#include "io/workers.h"
#include "util/alloc.h"

TAILQ_HEAD(work_queue, work);

struct workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct work_queue queue;
	bool closing;
	unsigned nthreads;
	pthread_t threads[];
};

static void *
worker_main(void *arg)
{
	struct workers *ws = arg;
	struct work *w;

	pthread_mutex_lock(&ws->lock);
	for (;;) {
		while (!ws->closing && TAILQ_EMPTY(&ws->queue))
			pthread_cond_wait(&ws->cond, &ws->lock);
		if (ws->closing)
			break;
		w = TAILQ_FIRST(&ws->queue);
		TAILQ_REMOVE(&ws->queue, w, link);
		pthread_mutex_unlock(&ws->lock);
		w->run(w);
		pthread_mutex_lock(&ws->lock);
	}
	pthread_mutex_unlock(&ws->lock);
	return NULL;
}

int
workers_open(unsigned nthreads, struct workers **out)
{
	struct workers *ws;

	*out = NULL;
	ws = mem_calloc(1, sizeof(*ws) + nthreads * sizeof(pthread_t));
	if (ws == NULL)
		return DKV_ENOMEM;
	pthread_mutex_init(&ws->lock, NULL);
	pthread_cond_init(&ws->cond, NULL);
	TAILQ_INIT(&ws->queue);
	for (ws->nthreads = 0; ws->nthreads < nthreads; ws->nthreads++)
		if (pthread_create(&ws->threads[ws->nthreads], NULL, worker_main, ws) != 0) {
			workers_close(ws);
			return DKV_ENOMEM;
		}
	*out = ws;
	return DKV_OK;
}

int
workers_submit(struct workers *ws, struct work *w)
{
	int err = DKV_OK;

	pthread_mutex_lock(&ws->lock);
	if (ws->closing) {
		err = DKV_ECLOSED;
	} else {
		TAILQ_INSERT_TAIL(&ws->queue, w, link);
		pthread_cond_signal(&ws->cond);
	}
	pthread_mutex_unlock(&ws->lock);
	return err;
}

void
workers_close(struct workers *ws)
{
	struct work_queue left;
	struct work *w;

	if (ws == NULL)
		return;
	pthread_mutex_lock(&ws->lock);
	ws->closing = true;
	TAILQ_INIT(&left);
	TAILQ_CONCAT(&left, &ws->queue, link);
	pthread_cond_broadcast(&ws->cond);
	pthread_mutex_unlock(&ws->lock);
	for (unsigned i = 0; i < ws->nthreads; i++)
		pthread_join(ws->threads[i], NULL);
	while ((w = TAILQ_FIRST(&left)) != NULL) {
		TAILQ_REMOVE(&left, w, link);
		w->cancel(w);
	}
	pthread_cond_destroy(&ws->cond);
	pthread_mutex_destroy(&ws->lock);
	mem_free(ws);
}
