/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What tree.c shares with the sources (source_dir.c, source_tar.c,
 * source_oci.c) and nobody else.
 */
#ifndef NYDUSFS_TREE_INTERNAL_H
#define NYDUSFS_TREE_INTERNAL_H

#include "nydusfs/tree.h"

/* Flags of nydusfs_tree_walk() and the *_flags() variants below. */
/* make missing directories (0755, root, mtime 0) */
#define NYDUSFS_WALK_CREATE	0x1
/* mark the directories passed as the current layer's */
#define NYDUSFS_WALK_TOUCH	0x2

/* The kernel's new_encode_dev(). */
static inline uint32_t nydusfs_encode_dev(uint32_t major, uint32_t minor)
{
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
}

/* tree.c */
/*
 * Find @name in directory @dir: 0 and its index, or -ENOENT and the index
 * where it would go (children are kept sorted by name).
 */
int nydusfs_dir_find(const struct nydusfs_node *dir, const char *name,
		     uint32_t *index);
/*
 * Put @node as @name in @dir, as nydusfs_tree_add() does; *out is the node
 * now named (the old one when two directories merge).
 */
int nydusfs_dir_put(struct nydusfs_tree *tree, struct nydusfs_node *dir,
		    const char *name, struct nydusfs_node *node,
		    struct nydusfs_node **out);
/* Give directory @dst the attributes and xattrs of @src (which loses them). */
void nydusfs_dir_take_attrs(struct nydusfs_node *dst, struct nydusfs_node *src);
/*
 * Walk the clean, non-root @path down to the directory holding its last
 * component: *parent and *name (pointing into @path).  -ENOENT if a
 * directory is missing (unless NYDUSFS_WALK_CREATE), -ENOTDIR if a
 * component is not a directory (symlinks are never followed); then
 * *fail_len, if not NULL, is the length of the prefix at fault.
 */
int nydusfs_tree_walk(struct nydusfs_tree *tree, char *path,
		      unsigned int flags, struct nydusfs_node **parent,
		      const char **name, size_t *fail_len);
/* nydusfs_tree_add() and _link() of clean paths, with walk @flags. */
int nydusfs_tree_add_clean(struct nydusfs_tree *tree, char *path,
			   struct nydusfs_node *node, unsigned int flags);
int nydusfs_tree_link_clean(struct nydusfs_tree *tree, char *path,
			    char *target, unsigned int flags);
/* Remove the entry @name of @dir from an earlier layer (a whiteout). */
int nydusfs_dir_whiteout(struct nydusfs_tree *tree, struct nydusfs_node *dir,
			 const char *name);
/* Remove what earlier layers put below directory @dir (opaque). */
int nydusfs_dir_clear_lower(struct nydusfs_tree *tree,
			    struct nydusfs_node *dir);

#endif
