// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: the worker pool.  Work that would stall the loop runs here:
 * decompressing and hashing chunks (CPU), opening a blob's cache file and
 * reading its chunk map, parsing a bootstrap, scanning the cache directory
 * for GC.  A finished item goes on a done list and an eventfd wakes the
 * loop, which runs the item's done() callback; an item is touched by one
 * thread at a time, so it needs no lock of its own.
 */
#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "nydusfsd.h"

#define WORK_MAX_THREADS	16

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct list_head todo, done;
	pthread_t threads[WORK_MAX_THREADS];
	unsigned int nthreads;
	unsigned int pending;		/* queued or running, loop side */
	bool stop;
	int efd;
	struct ev efd_ev;
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.efd = -1,
};

static void *worker_main(void *arg)
{
	uint64_t one = 1;
	struct work *w;

	(void)arg;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (list_empty(&pool.todo) && !pool.stop)
			pthread_cond_wait(&pool.cond, &pool.lock);
		if (pool.stop)
			break;
		w = list_first_entry(&pool.todo, struct work, node);
		list_del_init(&w->node);
		pthread_mutex_unlock(&pool.lock);
		w->fn(w);
		pthread_mutex_lock(&pool.lock);
		list_add_tail(&w->node, &pool.done);
		/* cannot fail: the counter never comes near overflow */
		(void)!write(pool.efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

static void work_efd_cb(struct ev *ev, int res)
{
	LIST_HEAD(done);
	struct work *w;
	uint64_t cnt;

	(void)ev;
	if (res < 0 && res != -ECANCELED)
		err("worker eventfd poll: %s", strerror(-res));
	/* EAGAIN: an earlier wake-up already took the count */
	(void)!read(pool.efd, &cnt, sizeof(cnt));
	pthread_mutex_lock(&pool.lock);
	list_splice_tail_init(&pool.done, &done);
	pthread_mutex_unlock(&pool.lock);
	while (!list_empty(&done)) {
		w = list_first_entry(&done, struct work, node);
		list_del_init(&w->node);
		pool.pending--;
		w->done(w);
	}
	if (!loop_stopping())
		loop_poll(&pool.efd_ev, pool.efd, POLLIN);
}

int work_init(unsigned int threads)
{
	unsigned int i;
	int ret;

	if (threads < 1)
		threads = 1;
	if (threads > WORK_MAX_THREADS)
		threads = WORK_MAX_THREADS;
	INIT_LIST_HEAD(&pool.todo);
	INIT_LIST_HEAD(&pool.done);
	pool.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool.efd < 0)
		return -errno;
	for (i = 0; i < threads; i++) {
		ret = pthread_create(&pool.threads[i], NULL, worker_main, NULL);
		if (ret)
			return -ret;
		pool.nthreads++;
	}
	pool.efd_ev.cb = work_efd_cb;
	loop_poll(&pool.efd_ev, pool.efd, POLLIN);
	return 0;
}

/* Stops the threads; items still queued are dropped, not completed. */
void work_exit(void)
{
	unsigned int i;

	pthread_mutex_lock(&pool.lock);
	pool.stop = true;
	pthread_cond_broadcast(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
	for (i = 0; i < pool.nthreads; i++)
		pthread_join(pool.threads[i], NULL);
	pool.nthreads = 0;
	if (pool.efd >= 0)
		close(pool.efd);
	pool.efd = -1;
}

void work_queue(struct work *w)
{
	pool.pending++;
	pthread_mutex_lock(&pool.lock);
	list_add_tail(&w->node, &pool.todo);
	pthread_cond_signal(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
}

unsigned int work_pending(void)
{
	return pool.pending;
}
