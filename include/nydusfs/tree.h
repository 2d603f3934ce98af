/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The in-memory tree the builder flattens its sources into, before it is
 * written as a bootstrap.  Sources (a directory, tar layers, an OCI layout)
 * add, replace and remove entries by path; later layers win.
 */
#ifndef NYDUSFS_TREE_H
#define NYDUSFS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nydusfs/format.h"

struct nydusfs_xattr_kv {
	char *name;
	uint8_t *value;
	size_t value_len;
};

struct nydusfs_dentry;

/* Where a regular file's bytes come from. */
enum nydusfs_data_source {
	NYDUSFS_DATA_NONE,	/* empty file */
	NYDUSFS_DATA_PATH,	/* read src_path */
	NYDUSFS_DATA_SPOOL,	/* read the tree's spool at spool_off */
};

struct nydusfs_node {
	uint32_t mode;
	uint32_t uid, gid;
	int64_t mtime;
	uint32_t mtime_nsec;
	uint32_t rdev;		/* new_encode_dev() form */
	uint64_t size;		/* regular files */
	char *symlink;		/* target, for symlinks */

	struct nydusfs_xattr_kv *xattrs;
	uint32_t xattr_count;

	enum nydusfs_data_source source;
	char *src_path;
	uint64_t spool_off;	/* multiple of NYDUSFS_BLKSZ */

	/* directories */
	struct nydusfs_dentry *children;
	uint32_t child_count, child_cap;
	struct nydusfs_node *parent;

	/*
	 * The tree's references: one per dentry naming the node (the root:
	 * one, held by the tree).  nydusfs_node_put() frees at zero.
	 */
	uint32_t tree_refs;

	/* filled by the builder (refs is freed with the node if still set) */
	uint32_t refcount;	/* dentries naming this node */
	uint32_t nid;
	bool nid_assigned;
	uint32_t nlink;
	uint64_t first_ref;
	uint64_t blocks;
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	struct nydusfs_chunk_ref *refs;	/* per slot, cpu order */
};

struct nydusfs_dentry {
	char *name;
	struct nydusfs_node *node;
	uint32_t layer;		/* tree->layer when added or passed */
};

struct nydusfs_tree {
	struct nydusfs_node *root;
	int spool_fd;		/* -1 until nydusfs_tree_spool_alloc() */
	uint64_t spool_size;
	/*
	 * Each source bumps it before applying a layer.  A dentry records the
	 * layer that last added it, or added something below it, so that an
	 * opaque whiteout removes only what earlier layers put there.
	 */
	uint32_t layer;
};

struct nydusfs_tree *nydusfs_tree_new(void);
void nydusfs_tree_free(struct nydusfs_tree *tree);

/*
 * A fresh node of @mode (type and permissions), NULL without memory.  The
 * caller holds its one reference until it hands it to the tree.
 */
struct nydusfs_node *nydusfs_node_new(uint32_t mode);
void nydusfs_node_put(struct nydusfs_node *node);
/* Set or replace one xattr; the node keeps them sorted by name. */
int nydusfs_node_set_xattr(struct nydusfs_node *node, const char *name,
			   const void *value, size_t len);
int nydusfs_node_set_symlink(struct nydusfs_node *node, const char *target);

/*
 * Paths are relative to the root, '/' separated.  nydusfs_tree_clean_path()
 * normalises one in place (drops leading "/", "." components, repeated and
 * trailing slashes) and rejects ".." and the empty path with -EINVAL and
 * names over NYDUSFS_NAME_MAX with -ENAMETOOLONG; "" after cleaning means
 * the root (-EEXIST).  nydusfs_tree_lookup() of the root's path gives the
 * root.
 */
int nydusfs_tree_clean_path(char *path);
int nydusfs_tree_lookup(struct nydusfs_tree *tree, const char *path,
			struct nydusfs_node **out);
/*
 * Put @node at @path.  The parent must exist and be a directory (else
 * -ENOTDIR / -ENOENT).  An existing entry is replaced, except that a
 * directory put over a directory keeps the old node and children and takes
 * the new attributes (layer merge); a directory put at the root's path
 * ("", "/", ".") does the same to the root.  On success the tree owns the
 * reference to @node.
 */
int nydusfs_tree_add(struct nydusfs_tree *tree, const char *path,
		     struct nydusfs_node *node);
/* A hard link: @path names the node already at @target (not a directory). */
int nydusfs_tree_link(struct nydusfs_tree *tree, const char *path,
		      const char *target);
/* Remove @path and everything under it; -ENOENT if absent. */
int nydusfs_tree_remove(struct nydusfs_tree *tree, const char *path);
/*
 * Remove every child of directory @path that an earlier layer put there (an
 * opaque whiteout): what the current layer (tree->layer) added, and the
 * directories leading to it, stay; below those, again only the current
 * layer's entries.  Bump tree->layer first to remove everything.
 */
int nydusfs_tree_clear_dir(struct nydusfs_tree *tree, const char *path);

/*
 * Reserve @size bytes in the spool for a regular file's data and return
 * where (aligned to NYDUSFS_BLKSZ, so holes stay holes).  The caller
 * pwrite()s into tree->spool_fd at that offset.
 */
int nydusfs_tree_spool_alloc(struct nydusfs_tree *tree, uint64_t size,
			     uint64_t *off);

/*
 * Fill @node's attributes and xattrs from lstat()/llistxattr() of @path;
 * a regular file's data is then read from src_path (@path).
 */
int nydusfs_node_from_path(const char *path, struct nydusfs_node **out);

/*
 * open(2) of a path that may be longer than PATH_MAX (deep source trees):
 * a file descriptor or -errno.
 */
int nydusfs_open_path(const char *path, int flags);

/*
 * Sources, each applied on top of what the tree already holds (one layer
 * each).  A tar layer honours the OCI whiteouts, creates missing parent
 * directories (0755, root, mtime 0), and refuses "..", names over
 * NYDUSFS_NAME_MAX, entries below a non-directory (symlinks are never
 * followed) and hard links to missing targets or directories.
 */
int nydusfs_source_dir(struct nydusfs_tree *tree, const char *dir);
int nydusfs_source_tar(struct nydusfs_tree *tree, const char *path);
/* "DIR" or "DIR:TAG" of an OCI image layout; applies its layers. */
int nydusfs_source_oci(struct nydusfs_tree *tree, const char *ref);

#endif
