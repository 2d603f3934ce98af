/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A depth-first walk of a bootstrap's tree through the checked accessors,
 * children in dirent (name) order.  It iterates with an explicit stack, so
 * a hostile image cannot make it recurse; each directory is entered once
 * (a directory named twice is -EFSCORRUPTED) and child directories must
 * have higher nids than their parent, so it always ends.
 */
#ifndef NYDUSFS_WALK_H
#define NYDUSFS_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nydusfs/image.h"

struct nydusfs_walk_entry {
	uint32_t nid;
	uint32_t parent;	/* the directory naming it; the root: 0 */
	uint32_t index;		/* dirent index in @parent; the root: 0 */
	unsigned int depth;	/* the root: 0 */
	bool first;		/* the first path met for this nid */
	const struct nydusfs_inode *inode;	/* checked */
	const char *name;	/* not NUL-terminated; the root: "" */
	size_t name_len;
	const char *path;	/* "/" or "/a/b", NUL-terminated */
	size_t path_len;
};

struct nydusfs_walk_ops {
	/* Every entry, a directory before its children.  Nonzero stops. */
	int (*enter)(void *arg, const struct nydusfs_walk_entry *e);
	/* Every directory after its children (may be NULL).  Nonzero stops. */
	int (*leave)(void *arg, const struct nydusfs_walk_entry *e);
};

/* 0, the first nonzero callback result, or -errno. */
int nydusfs_image_walk(const struct nydusfs_image *img,
		       const struct nydusfs_walk_ops *ops, void *arg);

#endif
