// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: the localfs backend, blobs as files named by their digest in a
 * directory (what `nydusfs build` writes in OUTDIR/blobs).  The open and
 * the reads go through io_uring; a range is read one piece (1 MiB) at a
 * time and streamed to the range like network bytes.  Open blob files are
 * kept (a few) for the next ranges.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nydusfsd.h"

#define LFS_PIECE	(1U << 20)
#define LFS_MAX_FDS	32

enum { LF_OPENING, LF_READY };

struct lfs_file {
	struct list_head node;
	struct localfs *fs;
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	char path[4096];
	int fd;
	int state;
	int users;
	struct ev ev;
	struct list_head waiting;	/* lfs_reqs */
};

struct localfs {
	struct source *src;
	char *dir;
	int dirfd;
	struct list_head files;		/* most recently used first */
	unsigned int nfiles;
};

struct lfs_req {
	struct list_head node;
	struct range *r;
	struct lfs_file *f;
	struct ev ev;
	uint64_t off;
	uint8_t *buf;
};

static void lfs_file_put(struct lfs_file *f)
{
	f->users--;
}

static void lfs_file_drop(struct lfs_file *f)
{
	list_del_init(&f->node);
	f->fs->nfiles--;
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

/* Keep at most LFS_MAX_FDS open files, closing unused old ones. */
static void lfs_trim(struct localfs *fs)
{
	struct lfs_file *f, *n;

	if (fs->nfiles <= LFS_MAX_FDS)
		return;
	list_for_each_entry_safe(f, n, &fs->files, node) {
		if (fs->nfiles <= LFS_MAX_FDS)
			break;
		if (f->state == LF_READY && !f->users)
			lfs_file_drop(f);
	}
}

static void lfs_req_end(struct lfs_req *q, int err)
{
	struct range *r = q->r;

	lfs_file_put(q->f);
	free(q->buf);
	free(q);
	r->priv = NULL;
	range_done(r, err);
}

static void lfs_read_next(struct lfs_req *q);

static void lfs_read_cb(struct ev *ev, int res)
{
	struct lfs_req *q = container_of(ev, struct lfs_req, ev);

	if (res < 0) {
		lfs_req_end(q, res);
		return;
	}
	if (res == 0) {
		err("%s: shorter than the chunks it should hold", q->f->path);
		lfs_req_end(q, -EIO);
		return;
	}
	q->off += res;
	range_data(q->r, q->buf, res);
	if (q->off >= range_end(q->r)) {
		lfs_req_end(q, 0);
		return;
	}
	lfs_read_next(q);
}

static void lfs_read_next(struct lfs_req *q)
{
	uint64_t left = range_end(q->r) - q->off;
	size_t n = left < LFS_PIECE ? left : LFS_PIECE;

	if (!q->buf)
		q->buf = xzalloc(LFS_PIECE);
	q->ev.cb = lfs_read_cb;
	loop_read(&q->ev, q->f->fd, q->buf, n, q->off);
}

static void lfs_open_cb(struct ev *ev, int res)
{
	struct lfs_file *f = container_of(ev, struct lfs_file, ev);
	struct lfs_req *q;
	LIST_HEAD(reqs);

	list_splice_tail_init(&f->waiting, &reqs);
	if (res < 0) {
		warn("%s: %s", f->path, strerror(-res));
		while (!list_empty(&reqs)) {
			q = list_first_entry(&reqs, struct lfs_req, node);
			list_del_init(&q->node);
			lfs_req_end(q, res);
		}
		lfs_file_drop(f);
		return;
	}
	f->fd = res;
	f->state = LF_READY;
	while (!list_empty(&reqs)) {
		q = list_first_entry(&reqs, struct lfs_req, node);
		list_del_init(&q->node);
		lfs_read_next(q);
	}
	lfs_trim(f->fs);
}

static struct lfs_file *lfs_file_get(struct localfs *fs, const struct range *r)
{
	struct lfs_file *f;

	list_for_each_entry(f, &fs->files, node) {
		if (!memcmp(f->digest, r->digest, NYDUSFS_DIGEST_SIZE)) {
			list_del_init(&f->node);
			list_add(&f->node, &fs->files);
			f->users++;
			return f;
		}
	}
	f = xzalloc(sizeof(*f));
	f->fs = fs;
	memcpy(f->digest, r->digest, NYDUSFS_DIGEST_SIZE);
	if (fs->dirfd >= 0)
		snprintf(f->path, sizeof(f->path), "%s", r->hex);
	else
		snprintf(f->path, sizeof(f->path), "%s/%s", fs->dir, r->hex);
	f->fd = -1;
	f->state = LF_OPENING;
	f->users = 1;
	INIT_LIST_HEAD(&f->waiting);
	list_add(&f->node, &fs->files);
	fs->nfiles++;
	f->ev.cb = lfs_open_cb;
	loop_openat(&f->ev, fs->dirfd >= 0 ? fs->dirfd : AT_FDCWD, f->path,
		    O_RDONLY | O_CLOEXEC, 0);
	return f;
}

static int lfs_start(struct range *r)
{
	struct localfs *fs = r->src->priv;
	struct lfs_req *q = xzalloc(sizeof(*q));

	INIT_LIST_HEAD(&q->node);
	q->r = r;
	q->off = r->off;
	r->priv = q;
	q->f = lfs_file_get(fs, r);
	if (q->f->state == LF_OPENING)
		list_add_tail(&q->node, &q->f->waiting);
	else
		lfs_read_next(q);
	return 0;
}

static void lfs_free(struct source *s)
{
	struct localfs *fs = s->priv;
	struct lfs_file *f, *n;

	list_for_each_entry_safe(f, n, &fs->files, node)
		if (f->state == LF_READY)
			lfs_file_drop(f);
	if (fs->dirfd >= 0)
		close(fs->dirfd);
	free(fs->dir);
	free(fs);
}

static const struct backend_ops localfs_ops = {
	.kind = "localfs",
	.start = lfs_start,
	.free = lfs_free,
};

/* @dirfd: the directory, already open (the caller's is duplicated), or -1 */
struct source *localfs_new(const char *dir, int dirfd)
{
	struct source *s = xzalloc(sizeof(*s));
	struct localfs *fs = xzalloc(sizeof(*fs));

	fs->src = s;
	fs->dir = xstrdup(dir);
	INIT_LIST_HEAD(&fs->files);
	fs->dirfd = dirfd >= 0 ? fcntl(dirfd, F_DUPFD_CLOEXEC, 3) : -1;
	s->ops = &localfs_ops;
	s->priv = fs;
	s->name = xasprintf("localfs:%s", dir);
	sources_register(s);
	return s;
}
