// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: the event loop.  One io_uring carries every wait of the
 * daemon: polls (the device, sockets of libcurl and of the control API,
 * the worker pool's eventfd), cache-file reads, writes and fsyncs.  Each
 * submission's user_data is a struct ev whose callback gets the result.
 * Timers are a sorted list; the wait for completions is bounded by the
 * first deadline.  Deferred calls run once per iteration, after the
 * completions: the fetch scheduler runs there, so a burst of requests
 * read in one iteration is merged before anything is sent.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nydusfsd.h"

static struct io_uring ring;
static bool ring_ready;
static bool stopping;
static LIST_HEAD(timers);
static LIST_HEAD(deferred);

int loop_init(unsigned int entries)
{
	struct io_uring_params p = {};
	int ret;

	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = entries * 8;
	ret = io_uring_queue_init_params(entries, &ring, &p);
	if (ret < 0)
		return ret;
	ring_ready = true;
	return 0;
}

void loop_exit(void)
{
	if (ring_ready)
		io_uring_queue_exit(&ring);
	ring_ready = false;
}

static struct io_uring_sqe *loop_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	int ret;

	if (sqe)
		return sqe;
	ret = io_uring_submit(&ring);
	sqe = io_uring_get_sqe(&ring);
	if (!sqe) {
		err("io_uring: no submission entry (submit: %s)",
		    strerror(-ret));
		abort();
	}
	return sqe;
}

void loop_poll(struct ev *ev, int fd, unsigned int events)
{
	struct io_uring_sqe *sqe = loop_sqe();

	io_uring_prep_poll_add(sqe, fd, events);
	io_uring_sqe_set_data(sqe, ev);
}

void loop_cancel(struct ev *target)
{
	struct io_uring_sqe *sqe = loop_sqe();

	io_uring_prep_cancel(sqe, target, 0);
	io_uring_sqe_set_data(sqe, NULL);
}

void loop_read(struct ev *ev, int fd, void *buf, size_t len, uint64_t off)
{
	struct io_uring_sqe *sqe = loop_sqe();

	io_uring_prep_read(sqe, fd, buf, len, off);
	io_uring_sqe_set_data(sqe, ev);
}

void loop_write(struct ev *ev, int fd, const void *buf, size_t len,
		uint64_t off)
{
	struct io_uring_sqe *sqe = loop_sqe();

	io_uring_prep_write(sqe, fd, buf, len, off);
	io_uring_sqe_set_data(sqe, ev);
}

void loop_fsync(struct ev *ev, int fd, bool datasync)
{
	struct io_uring_sqe *sqe = loop_sqe();

	io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
	io_uring_sqe_set_data(sqe, ev);
}

void loop_openat(struct ev *ev, int dirfd, const char *name, int flags,
		 int mode)
{
	struct io_uring_sqe *sqe = loop_sqe();

	io_uring_prep_openat(sqe, dirfd, name, flags, mode);
	io_uring_sqe_set_data(sqe, ev);
}

void loop_unlinkat(struct ev *ev, int dirfd, const char *name)
{
	struct io_uring_sqe *sqe = loop_sqe();

	io_uring_prep_unlinkat(sqe, dirfd, name, 0);
	io_uring_sqe_set_data(sqe, ev);
}

void timer_arm(struct timer *t, uint64_t delay_ms)
{
	struct timer *pos;

	if (t->armed)
		list_del_init(&t->node);
	t->when = now_ms() + delay_ms;
	t->armed = true;
	list_for_each_entry(pos, &timers, node) {
		if (pos->when > t->when) {
			__list_add(&t->node, pos->node.prev, &pos->node);
			return;
		}
	}
	list_add_tail(&t->node, &timers);
}

void timer_cancel(struct timer *t)
{
	if (!t->armed)
		return;
	list_del_init(&t->node);
	t->armed = false;
}

void defer_call(struct defer *d)
{
	if (d->queued)
		return;
	d->queued = true;
	list_add_tail(&d->node, &deferred);
}

void defer_cancel(struct defer *d)
{
	if (!d->queued)
		return;
	list_del_init(&d->node);
	d->queued = false;
}

static void run_timers(void)
{
	uint64_t now = now_ms();
	struct timer *t;

	while (!list_empty(&timers)) {
		t = list_first_entry(&timers, struct timer, node);
		if (t->when > now)
			break;
		list_del_init(&t->node);
		t->armed = false;
		t->fn(t);
	}
}

static void run_deferred(void)
{
	struct defer *d;

	while (!list_empty(&deferred)) {
		d = list_first_entry(&deferred, struct defer, node);
		list_del_init(&d->node);
		d->queued = false;
		d->fn(d);
	}
}

static void reap(void)
{
	struct io_uring_cqe *cqe;
	struct ev *ev;
	int res;

	while (io_uring_peek_cqe(&ring, &cqe) == 0) {
		ev = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
		if (ev)
			ev->cb(ev, res);
	}
}

int loop_run(void)
{
	struct __kernel_timespec ts, *tsp;
	struct io_uring_cqe *cqe;
	struct timer *t;
	uint64_t now, wait;
	int ret;

	stopping = false;
	while (!stopping) {
		run_deferred();
		tsp = NULL;
		if (!list_empty(&deferred)) {
			ts.tv_sec = 0;
			ts.tv_nsec = 0;
			tsp = &ts;
		} else if (!list_empty(&timers)) {
			t = list_first_entry(&timers, struct timer, node);
			now = now_ms();
			wait = t->when > now ? t->when - now : 0;
			ts.tv_sec = wait / 1000;
			ts.tv_nsec = (wait % 1000) * 1000000;
			tsp = &ts;
		}
		ret = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, tsp, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN &&
		    ret != -EBUSY) {
			err("io_uring wait: %s", strerror(-ret));
			return ret;
		}
		reap();
		run_timers();
	}
	/* hand what was prepared to the kernel before leaving */
	io_uring_submit(&ring);
	return 0;
}

void loop_stop(void)
{
	stopping = true;
}

bool loop_stopping(void)
{
	return stopping;
}
