// SPDX-License-Identifier: GPL-2.0
/*
 * A directory as a source.  The walk holds one open directory at a time
 * and climbs back with openat(fd, ".."), checked against the (st_dev,
 * st_ino) it left, so its depth is bounded by memory alone, never by the
 * number of open files or PATH_MAX.  Entries are read with lstat
 * semantics; hard links are found by (st_dev, st_ino) and become one node.
 * Regular files are not read here: the builder reads src_path later.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "nydusfs/err.h"
#include "nydusfs/log.h"
#include "nydusfs/tree.h"
#include "tree_internal.h"

/* (st_dev, st_ino) -> node of the files seen with st_nlink > 1. */
struct link_ent {
	dev_t dev;
	ino_t ino;
	struct nydusfs_node *node;	/* holds a reference */
};

struct link_map {
	struct link_ent *ents;
	size_t count, cap;		/* cap: zero or a power of two */
};

struct dir_frame {
	struct nydusfs_node *dir;
	char **names;			/* sorted */
	size_t count, next;
	size_t path_len;		/* of this directory in walk->path */
	dev_t dev;
	ino_t ino;
};

struct dir_walk {
	struct nydusfs_tree *tree;
	int fd;				/* the top frame's directory */
	char *path;			/* of the entry being read */
	size_t path_len, path_cap;
	struct dir_frame *stack;
	size_t depth, cap;
	struct link_map links;
	bool proc;			/* /proc/self/fd usable for xattrs */
};

static size_t link_hash(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^
		     (uint64_t)dev * 0xc2b2ae3d27d4eb4fULL;

	return h ^ (h >> 31);
}

static struct link_ent *link_slot(const struct link_map *m, dev_t dev,
				  ino_t ino)
{
	size_t i = link_hash(dev, ino) & (m->cap - 1);

	while (m->ents[i].node &&
	       (m->ents[i].dev != dev || m->ents[i].ino != ino))
		i = (i + 1) & (m->cap - 1);
	return m->ents + i;
}

static struct nydusfs_node *link_get(const struct link_map *m, dev_t dev,
				     ino_t ino)
{
	return m->cap ? link_slot(m, dev, ino)->node : NULL;
}

static int link_add(struct link_map *m, dev_t dev, ino_t ino,
		    struct nydusfs_node *node)
{
	struct link_map grown = { .count = m->count };
	struct link_ent *e;
	size_t i;

	if ((m->count + 1) * 2 > m->cap) {
		grown.cap = m->cap ? m->cap * 2 : 64;
		grown.ents = calloc(grown.cap, sizeof(*grown.ents));
		if (!grown.ents)
			return -ENOMEM;
		for (i = 0; i < m->cap; i++)
			if (m->ents[i].node)
				*link_slot(&grown, m->ents[i].dev,
					   m->ents[i].ino) = m->ents[i];
		free(m->ents);
		*m = grown;
	}
	e = link_slot(m, dev, ino);
	e->dev = dev;
	e->ino = ino;
	e->node = node;
	node->tree_refs++;
	m->count++;
	return 0;
}

static void link_free(struct link_map *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++)
		nydusfs_node_put(m->ents[i].node);
	free(m->ents);
}

static ssize_t xattr_list(int fd, const char *path, char *buf, size_t size)
{
	return path ? llistxattr(path, buf, size) : flistxattr(fd, buf, size);
}

static ssize_t xattr_get(int fd, const char *path, const char *name,
			 void *buf, size_t size)
{
	return path ? lgetxattr(path, name, buf, size) :
		      fgetxattr(fd, name, buf, size);
}

/* The xattr names of @fd, or of @path if not NULL; *len 0 if none. */
static int read_xattr_names(int fd, const char *path, char **list,
			    ssize_t *len)
{
	for (;;) {
		*list = NULL;
		*len = xattr_list(fd, path, NULL, 0);
		if (*len < 0 && (errno == ENOTSUP || errno == ENODATA))
			*len = 0;
		if (*len <= 0)
			return *len < 0 ? -errno : 0;
		*list = malloc(*len);
		if (!*list)
			return -ENOMEM;
		*len = xattr_list(fd, path, *list, *len);
		if (*len >= 0)
			return 0;
		free(*list);
		if (errno != ERANGE)	/* else it grew meanwhile */
			return -errno;
	}
}

/* Copy the xattrs of @fd (or @path) into @node; @label names the file. */
static int read_xattrs(struct nydusfs_node *node, int fd, const char *path,
		       const char *label)
{
	char *list, *name;
	uint8_t *value = NULL;
	ssize_t len, vlen;
	int err;

	err = read_xattr_names(fd, path, &list, &len);
	if (err || !len)
		goto fail;
	value = malloc(NYDUSFS_XATTR_VALUE_MAX);
	err = value ? 0 : -ENOMEM;
	for (name = list; !err && name < list + len; name += strlen(name) + 1) {
		vlen = xattr_get(fd, path, name, value,
				 NYDUSFS_XATTR_VALUE_MAX);
		if (vlen < 0 && errno == ENODATA)
			continue;	/* removed meanwhile */
		err = vlen < 0 ? -errno :
			nydusfs_node_set_xattr(node, name, value, vlen);
		if (err)
			nydusfs_err("%s: cannot read xattr %s: %s", label, name,
				    strerror(-err));
	}
	free(value);
	free(list);
	return err;
fail:
	if (err)
		nydusfs_err("%s: cannot list xattrs: %s", label,
			    strerror(-err));
	return err;
}

static struct nydusfs_node *node_from_stat(const struct stat *st)
{
	struct nydusfs_node *node = nydusfs_node_new(st->st_mode);

	if (!node)
		return NULL;
	node->uid = st->st_uid;
	node->gid = st->st_gid;
	node->mtime = st->st_mtim.tv_sec;
	node->mtime_nsec = st->st_mtim.tv_nsec;
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		node->rdev = nydusfs_encode_dev(major(st->st_rdev),
						minor(st->st_rdev));
	if (S_ISREG(st->st_mode))
		node->size = st->st_size;
	return node;
}

/* The symlink @name in @dirfd as @node's target. */
static int read_symlink(struct nydusfs_node *node, int dirfd,
			const char *name, const char *label)
{
	char buf[NYDUSFS_SYMLINK_MAX + 1];
	ssize_t len;
	int err;

	len = readlinkat(dirfd, name, buf, sizeof(buf));
	if (len < 0) {
		err = -errno;
	} else if (!len || len > NYDUSFS_SYMLINK_MAX) {
		err = -ENAMETOOLONG;
	} else {
		buf[len] = '\0';
		err = nydusfs_node_set_symlink(node, buf);
	}
	if (err)
		nydusfs_err("%s: cannot read the symlink: %s", label,
			    strerror(-err));
	return err;
}

/*
 * Everything but the xattrs of the entry @name of @dirfd, already
 * lstat()ed into @st, whose full path is @path.
 */
static int node_fill(struct nydusfs_node *node, int dirfd, const char *name,
		     const char *path)
{
	node->src_path = strdup(path);
	if (!node->src_path)
		return -ENOMEM;
	if (S_ISLNK(node->mode))
		return read_symlink(node, dirfd, name, path);
	if (S_ISREG(node->mode) && node->size)
		node->source = NYDUSFS_DATA_PATH;
	return 0;
}

int nydusfs_node_from_path(const char *path, struct nydusfs_node **out)
{
	struct nydusfs_node *node;
	struct stat st;
	int err, fd;

	if (lstat(path, &st)) {
		err = -errno;
		nydusfs_err("%s: %s", path, strerror(errno));
		return err;
	}
	if (S_ISREG(st.st_mode)) {
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			nydusfs_err("%s: cannot read: %s", path,
				    strerror(errno));
			return err;
		}
		close(fd);
	}
	node = node_from_stat(&st);
	if (!node)
		return -ENOMEM;
	err = node_fill(node, AT_FDCWD, path, path);
	if (!err)
		err = read_xattrs(node, -1, path, path);
	if (err) {
		nydusfs_node_put(node);
		return err;
	}
	*out = node;
	return 0;
}

static int path_append(struct dir_walk *w, const char *name)
{
	size_t len = strlen(name), need = w->path_len + len + 2;
	char *p;

	if (need > w->path_cap) {
		w->path_cap = need * 2;
		p = realloc(w->path, w->path_cap);
		if (!p)
			return -ENOMEM;
		w->path = p;
	}
	w->path[w->path_len++] = '/';
	memcpy(w->path + w->path_len, name, len + 1);
	w->path_len += len;
	return 0;
}

static void path_cut(struct dir_walk *w, size_t len)
{
	w->path_len = len;
	w->path[len] = '\0';
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t count)
{
	while (count)
		free(names[--count]);
	free(names);
}

/* The names in directory @fd but "." and "..", sorted. */
static int read_names(int fd, char ***out, size_t *count)
{
	char **names = NULL, **grown;
	size_t n = 0, cap = 0;
	struct dirent *d;
	int err = 0, dfd;
	DIR *dir;

	dfd = dup(fd);
	dir = dfd < 0 ? NULL : fdopendir(dfd);
	if (!dir) {
		err = -errno;
		if (dfd >= 0)
			close(dfd);
		return err;
	}
	rewinddir(dir);
	while (!err) {
		errno = 0;
		d = readdir(dir);
		if (!d) {
			err = -errno;
			break;
		}
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(names, cap * sizeof(*names));
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			names = grown;
		}
		names[n] = strdup(d->d_name);
		err = names[n] ? 0 : -ENOMEM;
		n += !err;
	}
	closedir(dir);
	if (err) {
		free_names(names, n);
		return err;
	}
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	*out = names;
	*count = n;
	return 0;
}

/* Enter directory @fd (its node @dir, stat @st): it becomes walk->fd. */
static int walk_push(struct dir_walk *w, struct nydusfs_node *dir, int fd,
		     const struct stat *st)
{
	struct dir_frame *f;
	size_t cap;
	int err;

	if (w->depth == w->cap) {
		cap = w->cap ? w->cap * 2 : 32;
		f = realloc(w->stack, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		w->stack = f;
		w->cap = cap;
	}
	f = w->stack + w->depth;
	*f = (struct dir_frame){ .dir = dir, .path_len = w->path_len,
				 .dev = st->st_dev, .ino = st->st_ino };
	err = read_names(fd, &f->names, &f->count);
	if (err) {
		nydusfs_err("%s: cannot read the directory: %s", w->path,
			    strerror(-err));
		return err;
	}
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	w->depth++;
	return 0;
}

/* Leave the top directory and reopen its parent through "..". */
static int walk_pop(struct dir_walk *w)
{
	struct dir_frame *f = w->stack + --w->depth, *up;
	struct stat st;
	int fd;

	free_names(f->names, f->count);
	if (!w->depth)
		return 0;
	up = f - 1;
	fd = openat(w->fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || st.st_dev != up->dev ||
	    st.st_ino != up->ino) {
		if (fd >= 0)
			close(fd);
		path_cut(w, up->path_len);
		nydusfs_err("%s: the directory moved during the walk",
			    w->path);
		return -ESTALE;
	}
	close(w->fd);
	w->fd = fd;
	path_cut(w, up->path_len);
	return 0;
}

/* Open the entry @name of a regular file or directory, to check and read. */
static int open_entry(struct dir_walk *w, const char *name,
		      const struct stat *st)
{
	struct stat fst;
	int fd, flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC;

	flags |= S_ISDIR(st->st_mode) ? O_DIRECTORY : O_NOCTTY | O_NONBLOCK;
	fd = openat(w->fd, name, flags);
	if (fd < 0) {
		fd = -errno;
		nydusfs_err("%s: cannot open: %s", w->path, strerror(errno));
		return fd;
	}
	if (fstat(fd, &fst) || fst.st_dev != st->st_dev ||
	    fst.st_ino != st->st_ino) {
		close(fd);
		nydusfs_err("%s: changed during the walk", w->path);
		return -ESTALE;
	}
	return fd;
}

static int entry_xattrs(struct dir_walk *w, struct nydusfs_node *node,
			int fd, const char *name)
{
	char proc[64];
	const char *path = w->path;

	if (fd >= 0)
		return read_xattrs(node, fd, NULL, w->path);
	/* Via the open directory: no PATH_MAX limit on deep trees. */
	if (w->proc && strlen(name) < sizeof(proc) - 32) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", w->fd,
			 name);
		path = proc;
	}
	return read_xattrs(node, -1, path, w->path);
}

/* A hard link to a node already in this walk: just another name. */
static int walk_link(struct dir_walk *w, struct nydusfs_node *node,
		     const char *name)
{
	int err;

	node->tree_refs++;
	err = nydusfs_dir_put(w->tree, w->stack[w->depth - 1].dir, name, node,
			      NULL);
	if (err)
		nydusfs_node_put(node);
	return err;
}

/* Add the entry @name (w->path) of the top directory; enter directories. */
static int walk_entry(struct dir_walk *w, const char *name)
{
	struct nydusfs_node *node, *out;
	struct stat st;
	int err, fd = -1;

	if (fstatat(w->fd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		err = -errno;
		nydusfs_err("%s: %s", w->path, strerror(errno));
		return err;
	}
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		node = link_get(&w->links, st.st_dev, st.st_ino);
		if (node)
			return walk_link(w, node, name);
	}
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		fd = open_entry(w, name, &st);
		if (fd < 0)
			return fd;
	}
	node = node_from_stat(&st);
	err = node ? node_fill(node, w->fd, name, w->path) : -ENOMEM;
	if (!err)
		err = entry_xattrs(w, node, fd, name);
	if (!err)
		err = nydusfs_dir_put(w->tree, w->stack[w->depth - 1].dir,
				      name, node, &out);
	if (err) {
		nydusfs_node_put(node);
	} else if (S_ISDIR(st.st_mode)) {
		err = walk_push(w, out, fd, &st);
		if (!err)
			return 0;	/* the walk owns fd now */
	} else if (st.st_nlink > 1) {
		err = link_add(&w->links, st.st_dev, st.st_ino, out);
	}
	if (fd >= 0)
		close(fd);
	return err;
}

/* The root's attributes come from the source directory itself. */
static int walk_start(struct dir_walk *w, const char *dir)
{
	struct nydusfs_node *node;
	struct stat st;
	int err, fd;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		nydusfs_err("%s: cannot open the directory: %s", dir,
			    strerror(errno));
		if (fd >= 0)
			close(fd);
		return err;
	}
	node = node_from_stat(&st);
	err = node ? read_xattrs(node, fd, NULL, dir) : -ENOMEM;
	if (!err)
		err = walk_push(w, w->tree->root, fd, &st);
	if (err)
		close(fd);
	else
		nydusfs_dir_take_attrs(w->tree->root, node);
	nydusfs_node_put(node);
	return err;
}

int nydusfs_source_dir(struct nydusfs_tree *tree, const char *dir)
{
	struct dir_walk w = { .tree = tree, .fd = -1 };
	struct dir_frame *f;
	const char *name;
	size_t depth;
	int err;

	w.proc = !access("/proc/self/fd", X_OK);
	w.path_len = strlen(dir);
	while (w.path_len > 1 && dir[w.path_len - 1] == '/')
		w.path_len--;
	w.path_cap = w.path_len + 256;
	w.path = malloc(w.path_cap);
	if (!w.path)
		return -ENOMEM;
	memcpy(w.path, dir, w.path_len);
	w.path[w.path_len] = '\0';
	if (w.path_len == 1 && dir[0] == '/')
		w.path_len = 0;		/* "/" + name, not "//" + name */

	tree->layer++;
	err = walk_start(&w, w.path_len ? w.path : "/");
	while (!err && w.depth) {
		f = w.stack + w.depth - 1;
		if (f->next == f->count) {
			err = walk_pop(&w);
			continue;
		}
		depth = w.depth;
		name = f->names[f->next++];
		err = path_append(&w, name);
		if (!err)
			err = walk_entry(&w, name);
		if (!err && w.depth == depth)
			path_cut(&w, w.stack[depth - 1].path_len);
	}
	for (; w.depth; w.depth--) {
		f = w.stack + w.depth - 1;
		free_names(f->names, f->count);
	}
	if (w.fd >= 0)
		close(w.fd);
	link_free(&w.links);
	free(w.stack);
	free(w.path);
	return err;
}
