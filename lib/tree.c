// SPDX-License-Identifier: GPL-2.0
/*
 * The in-memory tree: nodes, the names that link them, and the path
 * operations the sources use to stack layers.  Children are kept sorted by
 * name (strcmp, which is memcmp order for NUL-free names), so lookups are
 * binary searches.  Nothing here is recursive: trees may be very deep.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "nydusfs/err.h"
#include "nydusfs/log.h"
#include "nydusfs/tree.h"
#include "tree_internal.h"

struct nydusfs_node *nydusfs_node_new(uint32_t mode)
{
	struct nydusfs_node *node = calloc(1, sizeof(*node));

	if (!node)
		return NULL;
	node->mode = mode;
	node->tree_refs = 1;
	return node;
}

static void free_xattrs(struct nydusfs_node *node)
{
	uint32_t i;

	for (i = 0; i < node->xattr_count; i++) {
		free(node->xattrs[i].name);
		free(node->xattrs[i].value);
	}
	free(node->xattrs);
	node->xattrs = NULL;
	node->xattr_count = 0;
}

static void node_free(struct nydusfs_node *node)
{
	free_xattrs(node);
	free(node->symlink);
	free(node->src_path);
	free(node->children);
	free(node->refs);
	free(node);
}

/* Drop one reference; a node that dies is queued on @list via ->parent. */
static void node_drop(struct nydusfs_node *node, struct nydusfs_node **list)
{
	if (!node || --node->tree_refs)
		return;
	node->parent = *list;
	*list = node;
}

void nydusfs_node_put(struct nydusfs_node *node)
{
	struct nydusfs_node *list = NULL, *n;
	uint32_t i;

	node_drop(node, &list);
	while (list) {
		n = list;
		list = n->parent;
		for (i = 0; i < n->child_count; i++) {
			free(n->children[i].name);
			node_drop(n->children[i].node, &list);
		}
		node_free(n);
	}
}

static int xattr_find(const struct nydusfs_node *node, const char *name,
		      uint32_t *index)
{
	uint32_t lo = 0, hi = node->xattr_count, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(name, node->xattrs[mid].name);
		if (!c) {
			*index = mid;
			return 0;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*index = lo;
	return -ENOENT;
}

int nydusfs_node_set_xattr(struct nydusfs_node *node, const char *name,
			   const void *value, size_t len)
{
	struct nydusfs_xattr_kv *kv;
	size_t name_len = strlen(name);
	uint8_t *copy;
	uint32_t i;

	if (!name_len || name_len > NYDUSFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (len > NYDUSFS_XATTR_VALUE_MAX)
		return -E2BIG;
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, value, len);
	if (!xattr_find(node, name, &i)) {
		free(node->xattrs[i].value);
		node->xattrs[i].value = copy;
		node->xattrs[i].value_len = len;
		return 0;
	}
	kv = realloc(node->xattrs, (node->xattr_count + 1) * sizeof(*kv));
	if (!kv) {
		free(copy);
		return -ENOMEM;
	}
	node->xattrs = kv;
	memmove(kv + i + 1, kv + i, (node->xattr_count - i) * sizeof(*kv));
	kv[i].name = strdup(name);
	kv[i].value = copy;
	kv[i].value_len = len;
	node->xattr_count++;
	if (!kv[i].name) {
		free(copy);
		memmove(kv + i, kv + i + 1,
			(--node->xattr_count - i) * sizeof(*kv));
		return -ENOMEM;
	}
	return 0;
}

int nydusfs_node_set_symlink(struct nydusfs_node *node, const char *target)
{
	size_t len = strlen(target);
	char *copy;

	if (!len)
		return -EINVAL;
	if (len > NYDUSFS_SYMLINK_MAX)
		return -ENAMETOOLONG;
	copy = strdup(target);
	if (!copy)
		return -ENOMEM;
	free(node->symlink);
	node->symlink = copy;
	return 0;
}

struct nydusfs_tree *nydusfs_tree_new(void)
{
	struct nydusfs_tree *tree = calloc(1, sizeof(*tree));

	if (!tree)
		return NULL;
	tree->root = nydusfs_node_new(S_IFDIR | 0755);
	if (!tree->root) {
		free(tree);
		return NULL;
	}
	tree->spool_fd = -1;
	return tree;
}

void nydusfs_tree_free(struct nydusfs_tree *tree)
{
	if (!tree)
		return;
	nydusfs_node_put(tree->root);
	if (tree->spool_fd >= 0)
		close(tree->spool_fd);
	free(tree);
}

int nydusfs_tree_clean_path(char *path)
{
	char *src = path, *dst = path;
	size_t len;

	if (!*path)
		return -EINVAL;
	while (*src) {
		while (*src == '/')
			src++;
		if (!*src)
			break;
		len = strcspn(src, "/");
		if (len == 1 && src[0] == '.') {
			src++;
			continue;
		}
		if (len == 2 && src[0] == '.' && src[1] == '.')
			return -EINVAL;
		if (len > NYDUSFS_NAME_MAX)
			return -ENAMETOOLONG;
		if (dst != path)
			*dst++ = '/';
		memmove(dst, src, len);
		dst += len;
		src += len;
	}
	*dst = '\0';
	return dst == path ? -EEXIST : 0;
}

int nydusfs_dir_find(const struct nydusfs_node *dir, const char *name,
		     uint32_t *index)
{
	uint32_t lo = 0, hi = dir->child_count, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(name, dir->children[mid].name);
		if (!c) {
			*index = mid;
			return 0;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*index = lo;
	return -ENOENT;
}

static int dir_insert(struct nydusfs_tree *tree, struct nydusfs_node *dir,
		      uint32_t index, const char *name,
		      struct nydusfs_node *node)
{
	struct nydusfs_dentry *de;
	uint32_t cap;
	char *copy;

	if (dir->child_count == UINT32_MAX)
		return -EMLINK;
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	if (dir->child_count == dir->child_cap) {
		cap = dir->child_cap < 4 ? 4 : dir->child_cap;
		cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
		de = realloc(dir->children, (size_t)cap * sizeof(*de));
		if (!de) {
			free(copy);
			return -ENOMEM;
		}
		dir->children = de;
		dir->child_cap = cap;
	}
	de = dir->children + index;
	memmove(de + 1, de, (dir->child_count - index) * sizeof(*de));
	de->name = copy;
	de->node = node;
	de->layer = tree->layer;
	dir->child_count++;
	if (S_ISDIR(node->mode))
		node->parent = dir;
	return 0;
}

static void dir_delete(struct nydusfs_node *dir, uint32_t index)
{
	struct nydusfs_dentry *de = dir->children + index;
	struct nydusfs_node *node = de->node;

	free(de->name);
	memmove(de, de + 1, (dir->child_count - index - 1) * sizeof(*de));
	dir->child_count--;
	nydusfs_node_put(node);
}

void nydusfs_dir_take_attrs(struct nydusfs_node *dst, struct nydusfs_node *src)
{
	dst->mode = src->mode;
	dst->uid = src->uid;
	dst->gid = src->gid;
	dst->mtime = src->mtime;
	dst->mtime_nsec = src->mtime_nsec;
	free_xattrs(dst);
	dst->xattrs = src->xattrs;
	dst->xattr_count = src->xattr_count;
	src->xattrs = NULL;
	src->xattr_count = 0;
	if (src->src_path) {
		free(dst->src_path);
		dst->src_path = src->src_path;
		src->src_path = NULL;
	}
}

int nydusfs_dir_put(struct nydusfs_tree *tree, struct nydusfs_node *dir,
		    const char *name, struct nydusfs_node *node,
		    struct nydusfs_node **out)
{
	struct nydusfs_dentry *de;
	struct nydusfs_node *old;
	uint32_t index;
	int err;

	if (nydusfs_dir_find(dir, name, &index)) {
		err = dir_insert(tree, dir, index, name, node);
		if (!err && out)
			*out = node;
		return err;
	}
	de = dir->children + index;
	old = de->node;
	de->layer = tree->layer;
	if (S_ISDIR(old->mode) && S_ISDIR(node->mode)) {
		nydusfs_dir_take_attrs(old, node);
		nydusfs_node_put(node);
		node = old;
	} else {
		de->node = node;
		if (S_ISDIR(node->mode))
			node->parent = dir;
		nydusfs_node_put(old);
	}
	if (out)
		*out = node;
	return 0;
}

int nydusfs_tree_walk(struct nydusfs_tree *tree, char *path,
		      unsigned int flags, struct nydusfs_node **parent,
		      const char **name, size_t *fail_len)
{
	struct nydusfs_node *dir = tree->root, *child;
	char *comp = path, *slash;
	uint32_t index;
	int err = 0;

	while ((slash = strchr(comp, '/'))) {
		*slash = '\0';
		if (!nydusfs_dir_find(dir, comp, &index)) {
			child = dir->children[index].node;
			if (!S_ISDIR(child->mode))
				err = -ENOTDIR;
			else if (flags & NYDUSFS_WALK_TOUCH)
				dir->children[index].layer = tree->layer;
		} else if (flags & NYDUSFS_WALK_CREATE) {
			child = nydusfs_node_new(S_IFDIR | 0755);
			err = child ? dir_insert(tree, dir, index, comp, child)
				    : -ENOMEM;
			if (err)
				nydusfs_node_put(child);
		} else {
			err = -ENOENT;
		}
		*slash = '/';
		if (err) {
			if (fail_len)
				*fail_len = slash - path;
			return err;
		}
		dir = child;
		comp = slash + 1;
	}
	*parent = dir;
	*name = comp;
	return 0;
}

/* Clean a copy of @path into *out; the root's path gives -EEXIST. */
static int copy_clean(const char *path, char **out)
{
	int err;

	*out = strdup(path);
	if (!*out)
		return -ENOMEM;
	err = nydusfs_tree_clean_path(*out);
	if (err && err != -EEXIST) {
		free(*out);
		*out = NULL;
	}
	return err;
}

int nydusfs_tree_lookup(struct nydusfs_tree *tree, const char *path,
			struct nydusfs_node **out)
{
	struct nydusfs_node *dir;
	const char *name;
	uint32_t index;
	char *copy = NULL;
	int err;

	err = *path ? copy_clean(path, &copy) : -EEXIST;
	if (err == -EEXIST) {
		*out = tree->root;
		err = 0;
	} else if (!err) {
		err = nydusfs_tree_walk(tree, copy, 0, &dir, &name, NULL);
		if (!err)
			err = nydusfs_dir_find(dir, name, &index);
		if (!err)
			*out = dir->children[index].node;
	}
	free(copy);
	return err;
}

int nydusfs_tree_add_clean(struct nydusfs_tree *tree, char *path,
			   struct nydusfs_node *node, unsigned int flags)
{
	struct nydusfs_node *dir;
	const char *name;
	int err;

	if (!*path) {
		if (!S_ISDIR(node->mode))
			return -EEXIST;
		nydusfs_dir_take_attrs(tree->root, node);
		nydusfs_node_put(node);
		return 0;
	}
	err = nydusfs_tree_walk(tree, path, flags, &dir, &name, NULL);
	if (err)
		return err;
	return nydusfs_dir_put(tree, dir, name, node, NULL);
}

int nydusfs_tree_add(struct nydusfs_tree *tree, const char *path,
		     struct nydusfs_node *node)
{
	char *copy;
	int err;

	err = copy_clean(path, &copy);
	if (!err || err == -EEXIST)
		err = nydusfs_tree_add_clean(tree, copy, node,
					     NYDUSFS_WALK_TOUCH);
	free(copy);
	return err;
}

int nydusfs_tree_link_clean(struct nydusfs_tree *tree, char *path,
			    char *target, unsigned int flags)
{
	struct nydusfs_node *dir, *node;
	const char *name;
	uint32_t index;
	int err;

	if (!*target)
		return -EPERM;		/* the root is a directory */
	err = nydusfs_tree_walk(tree, target, 0, &dir, &name, NULL);
	if (!err)
		err = nydusfs_dir_find(dir, name, &index);
	if (err)
		return err;
	node = dir->children[index].node;
	if (S_ISDIR(node->mode))
		return -EPERM;
	if (!*path)
		return -EEXIST;
	node->tree_refs++;
	err = nydusfs_tree_walk(tree, path, flags, &dir, &name, NULL);
	if (!err)
		err = nydusfs_dir_put(tree, dir, name, node, NULL);
	if (err)
		nydusfs_node_put(node);
	return err;
}

int nydusfs_tree_link(struct nydusfs_tree *tree, const char *path,
		      const char *target)
{
	char *copy, *tcopy = NULL;
	int err;

	err = copy_clean(path, &copy);
	if (!err || err == -EEXIST)
		err = copy_clean(target, &tcopy);
	if (!err || err == -EEXIST)
		err = nydusfs_tree_link_clean(tree, copy, tcopy,
					      NYDUSFS_WALK_TOUCH);
	free(copy);
	free(tcopy);
	return err;
}

int nydusfs_tree_remove(struct nydusfs_tree *tree, const char *path)
{
	struct nydusfs_node *dir;
	const char *name;
	uint32_t index;
	char *copy;
	int err;

	err = copy_clean(path, &copy);
	if (err == -EEXIST)
		err = -EBUSY;		/* the root stays */
	if (!err)
		err = nydusfs_tree_walk(tree, copy, 0, &dir, &name, NULL);
	if (!err)
		err = nydusfs_dir_find(dir, name, &index);
	if (!err)
		dir_delete(dir, index);
	free(copy);
	return err;
}

/*
 * Keep only the current layer's entries below @dir, at every depth,
 * without recursion: directories still to visit wait on a stack.
 */
int nydusfs_dir_clear_lower(struct nydusfs_tree *tree,
			    struct nydusfs_node *dir)
{
	struct nydusfs_node **stack = NULL, **grown, *d;
	size_t depth = 0, cap = 0;
	struct nydusfs_dentry *de;
	uint32_t i, kept;

	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	d = dir;
	for (;;) {
		if (cap - depth < d->child_count) {
			cap = depth + d->child_count + 16;
			grown = realloc(stack, cap * sizeof(*stack));
			if (!grown) {
				free(stack);
				return -ENOMEM;
			}
			stack = grown;
		}
		for (i = kept = 0; i < d->child_count; i++) {
			de = d->children + i;
			if (de->layer != tree->layer) {
				free(de->name);
				nydusfs_node_put(de->node);
				continue;
			}
			if (S_ISDIR(de->node->mode))
				stack[depth++] = de->node;
			d->children[kept++] = *de;
		}
		d->child_count = kept;
		if (!depth)
			break;
		d = stack[--depth];
	}
	free(stack);
	return 0;
}

int nydusfs_tree_clear_dir(struct nydusfs_tree *tree, const char *path)
{
	struct nydusfs_node *dir;
	int err;

	err = nydusfs_tree_lookup(tree, path, &dir);
	if (!err)
		err = nydusfs_dir_clear_lower(tree, dir);
	return err;
}

int nydusfs_dir_whiteout(struct nydusfs_tree *tree, struct nydusfs_node *dir,
			 const char *name)
{
	struct nydusfs_dentry *de;
	uint32_t index;

	if (nydusfs_dir_find(dir, name, &index))
		return -ENOENT;
	de = dir->children + index;
	if (de->layer != tree->layer) {
		dir_delete(dir, index);
		return 0;
	}
	/* Whiteouts hide only lower layers' content, never this layer's. */
	if (S_ISDIR(de->node->mode))
		return nydusfs_dir_clear_lower(tree, de->node);
	return 0;
}

static int spool_open(void)
{
	const char *dir = getenv("TMPDIR");
	char *tmpl;
	int fd;

	if (!dir || !*dir)
		dir = "/var/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (asprintf(&tmpl, "%s/nydusfs-spool-XXXXXX", dir) < 0)
		return -ENOMEM;
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		nydusfs_err("cannot create a spool file in %s: %s", dir,
			    strerror(errno));
	} else {
		unlink(tmpl);
	}
	free(tmpl);
	return fd;
}

int nydusfs_tree_spool_alloc(struct nydusfs_tree *tree, uint64_t size,
			     uint64_t *off)
{
	uint64_t start = NYDUSFS_ROUND_UP(tree->spool_size,
					  (uint64_t)NYDUSFS_BLKSZ);
	int fd;

	if (start < tree->spool_size || size > (uint64_t)INT64_MAX - start)
		return -EFBIG;
	if (tree->spool_fd < 0) {
		fd = spool_open();
		if (fd < 0)
			return fd;
		tree->spool_fd = fd;
	}
	/* Extend now, so a file that ends in a hole reads back zeros. */
	if (size && ftruncate(tree->spool_fd, start + size))
		return -errno;
	tree->spool_size = start + size;
	*off = start;
	return 0;
}

/*
 * A path longer than PATH_MAX is opened piecewise: each piece is a run of
 * whole components short enough for openat(), relative to the last piece.
 */
int nydusfs_open_path(const char *path, int flags)
{
	const char *p = path, *cut;
	char piece[PATH_MAX];
	int dirfd = AT_FDCWD, fd;
	size_t len;

	while (strlen(p) >= PATH_MAX) {
		cut = p + PATH_MAX - 1;
		while (cut > p && *cut != '/')
			cut--;
		if (cut == p) {
			fd = -ENAMETOOLONG;
			goto out;
		}
		len = cut - p;
		memcpy(piece, p, len);
		piece[len] = '\0';
		fd = openat(dirfd, piece, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			fd = -errno;
			goto out;
		}
		if (dirfd >= 0)
			close(dirfd);
		dirfd = fd;
		p = cut + 1;
	}
	fd = openat(dirfd, p, flags | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
out:
	if (dirfd >= 0)
		close(dirfd);
	return fd;
}
