// SPDX-License-Identifier: GPL-2.0
/* Depth-first walk of a bootstrap's tree with an explicit stack. */
#include <stdlib.h>
#include <string.h>

#include "nydusfs/err.h"
#include "nydusfs/walk.h"
#include "reader.h"

struct walk_frame {
	struct nydusfs_walk_entry entry;	/* path fixed up on leave */
	uint32_t next, count;
};

struct walker {
	const struct nydusfs_image *img;
	const struct nydusfs_walk_ops *ops;
	void *arg;
	struct walk_frame *stack;
	size_t depth, cap;
	char *path;
	size_t path_len, path_cap;
	uint64_t *seen;		/* one bit per nid */
};

static int path_reserve(struct walker *w, size_t extra)
{
	size_t need = w->path_len + extra + 1;
	char *p;

	if (need <= w->path_cap)
		return 0;
	if (need < w->path_cap * 2)
		need = w->path_cap * 2;
	p = realloc(w->path, need);
	if (!p)
		return -ENOMEM;
	w->path = p;
	w->path_cap = need;
	return 0;
}

static void path_truncate(struct walker *w, size_t len)
{
	w->path_len = len;
	w->path[len] = '\0';
}

static int push(struct walker *w, const struct nydusfs_walk_entry *e)
{
	struct walk_frame *f;

	if (w->depth == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;

		f = realloc(w->stack, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		w->stack = f;
		w->cap = cap;
	}
	f = &w->stack[w->depth++];
	f->entry = *e;
	f->next = 0;
	f->count = le32_to_cpu(e->inode->data_count);
	return 0;
}

static int leave(struct walker *w)
{
	struct walk_frame *f = &w->stack[--w->depth];

	path_truncate(w, f->entry.path_len);
	f->entry.path = w->path;
	if (!w->ops->leave)
		return 0;
	return w->ops->leave(w->arg, &f->entry);
}

/* The child named by the next dirent of the directory on top. */
static int visit_child(struct walker *w)
{
	struct walk_frame *f = &w->stack[w->depth - 1];
	struct nydusfs_walk_entry e = { .parent = f->entry.nid };
	const struct nydusfs_dirent *de;
	size_t base = f->entry.path_len;
	int err;

	e.index = f->next++;
	e.depth = w->depth;
	err = nydusfs_image_dirent(w->img, e.parent, e.index, &de, &e.name);
	if (!err)
		err = nydusfs_image_inode(w->img, le32_to_cpu(de->nid),
					  &e.inode);
	if (!err)
		err = path_reserve(w, de->name_len + 1);
	if (err)
		return err;
	e.nid = le32_to_cpu(de->nid);
	e.name_len = de->name_len;
	e.first = !nydusfs_test_bit(w->seen, e.nid);
	nydusfs_set_bit(w->seen, e.nid);
	if (S_ISDIR(le16_to_cpu(e.inode->mode)) && !e.first)
		return nydusfs_image_corrupt(w->img,
			"nid %u: dirent %u names directory nid %u a second time",
			e.parent, e.index, e.nid);
	path_truncate(w, base == 1 ? 0 : base);	/* the root is "/" */
	w->path[w->path_len++] = '/';
	memcpy(w->path + w->path_len, e.name, e.name_len);
	path_truncate(w, w->path_len + e.name_len);
	e.path = w->path;
	e.path_len = w->path_len;
	err = w->ops->enter(w->arg, &e);
	if (err)
		return err;
	if (S_ISDIR(le16_to_cpu(e.inode->mode)))
		return push(w, &e);
	path_truncate(w, base);
	return 0;
}

static int walk_root(struct walker *w)
{
	struct nydusfs_walk_entry e = { .nid = 0, .first = true, .name = "" };
	int err;

	err = nydusfs_image_inode(w->img, 0, &e.inode);
	if (!err)
		err = path_reserve(w, 1);
	if (err)
		return err;
	strcpy(w->path, "/");
	w->path_len = 1;
	e.path = w->path;
	e.path_len = 1;
	nydusfs_set_bit(w->seen, 0);
	err = w->ops->enter(w->arg, &e);
	if (!err)
		err = push(w, &e);
	while (!err && w->depth) {
		struct walk_frame *f = &w->stack[w->depth - 1];

		if (f->next == f->count)
			err = leave(w);
		else
			err = visit_child(w);
	}
	return err;
}

int nydusfs_image_walk(const struct nydusfs_image *img,
		       const struct nydusfs_walk_ops *ops, void *arg)
{
	struct walker w = { .img = img, .ops = ops, .arg = arg };
	int err;

	w.seen = calloc((img->inode_count + 63) / 64, sizeof(uint64_t));
	if (!w.seen)
		return -ENOMEM;
	err = walk_root(&w);
	free(w.seen);
	free(w.stack);
	free(w.path);
	return err;
}
