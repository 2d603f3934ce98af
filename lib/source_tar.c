// SPDX-License-Identifier: GPL-2.0
/*
 * A layer tarball (tar, tar+gzip, tar+zstd, ...; libarchive detects which)
 * applied on top of the tree, with the OCI whiteouts: ".wh.NAME" hides
 * NAME of the layers below, ".wh..wh..opq" hides everything the layers
 * below put in its directory.  Entries of this layer are never hidden by
 * this layer's whiteouts, whatever their order in the archive.
 *
 * Nothing is written anywhere but the tree's spool, and names are resolved
 * in the tree only, without following symlinks: an archive cannot reach
 * outside its tree.  ".." is refused, a leading "/" dropped (as tar does),
 * and an entry under a non-directory is refused.  File data streams into
 * the spool block by block (sparse entries keep their holes), so a header
 * claiming a huge size costs no memory; beyond TAR_ENTRY_MAX it is refused,
 * and libarchive reports an archive that ends early.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include "nydusfs/err.h"
#include "nydusfs/log.h"
#include "nydusfs/tree.h"
#include "tree_internal.h"

#define TAR_ENTRY_MAX		(1ULL << 40)	/* 1 TiB */
#define TAR_READ_BLOCK		(64U << 10)
#define WHITEOUT_PREFIX		".wh."
#define WHITEOUT_META_PREFIX	".wh..wh."
#define WHITEOUT_OPAQUE		".wh..wh..opq"

struct tar_layer {
	struct nydusfs_tree *tree;
	struct archive *ar;
	const char *path;		/* of the tarball */
	const char *entry;		/* the entry's name, as archived */
	struct archive_entry *e;	/* the entry */
	bool cut_after_data;		/* it ended in the padding */
};

/* Log "TARBALL: entry 'NAME': what" and return @err. */
static int entry_err(const struct tar_layer *t, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int entry_err(const struct tar_layer *t, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	nydusfs_err("%s: entry '%.300s': %s", t->path, t->entry, msg);
	return err;
}

static int archive_err(const struct tar_layer *t, const char *what)
{
	const char *msg = archive_error_string(t->ar);
	int err = archive_errno(t->ar);

	if (err <= 0 || err > MAX_ERRNO)
		err = EINVAL;
	if (t->entry)
		return entry_err(t, -err, "%s: %s", what, msg ? msg : "error");
	nydusfs_err("%s: %s: %s", t->path, what, msg ? msg : "error");
	return -err;
}

/* Clean a copy of an archived name; explain what is wrong with it. */
static int clean_name(const struct tar_layer *t, const char *name,
		      const char *what, char **out)
{
	int err;

	*out = NULL;
	if (!name || !*name)
		return entry_err(t, -EINVAL, "empty %s", what);
	*out = strdup(name);
	if (!*out)
		return -ENOMEM;
	err = nydusfs_tree_clean_path(*out);
	if (err == -EINVAL)
		entry_err(t, err, "'..' in the %s is not allowed", what);
	else if (err == -ENAMETOOLONG)
		entry_err(t, err, "a component of the %s is longer than %d "
			  "bytes", what, NYDUSFS_NAME_MAX);
	if (err && err != -EEXIST) {
		free(*out);
		*out = NULL;
	}
	return err;
}

static int walk_err(const struct tar_layer *t, int err, const char *path,
		    size_t fail_len)
{
	if (err == -ENOTDIR)
		return entry_err(t, err, "parent '%.*s' is not a directory",
				 (int)fail_len, path);
	if (err == -ENOENT)
		return entry_err(t, err, "parent '%.*s' does not exist",
				 (int)fail_len, path);
	return entry_err(t, err, "%s", strerror(-err));
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

/*
 * Stream the entry's data into the spool; holes are left unwritten.
 *
 * umoci insert (0.4.7) writes layers that stop right after the last
 * entry's data, without its padding or the end-of-archive blocks; umoci
 * unpack and containerd accept them.  So do we, when every byte of the
 * entry's data has arrived: the archive then counts as ended.
 */
static int read_data(struct tar_layer *t, struct nydusfs_node *node)
{
	uint64_t got = 0;
	const void *buf;
	size_t len;
	int64_t pos;
	int err, r;

	if (!node->size)
		return 0;
	err = nydusfs_tree_spool_alloc(t->tree, node->size, &node->spool_off);
	if (err)
		return entry_err(t, err, "spool: %s", strerror(-err));
	node->source = NYDUSFS_DATA_SPOOL;
	for (;;) {
		r = archive_read_data_block(t->ar, &buf, &len, &pos);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r == ARCHIVE_FATAL && got == node->size &&
		    !archive_entry_sparse_count(t->e)) {
			nydusfs_warn("%s: ends without padding after entry "
				     "'%.300s' (taken as the end)", t->path,
				     t->entry);
			t->cut_after_data = true;
			return 0;
		}
		if (r != ARCHIVE_OK)
			return archive_err(t, "reading data");
		if (pos < 0 || (uint64_t)pos > node->size ||
		    len > node->size - pos)
			return entry_err(t, -EINVAL,
					 "data beyond the entry's size");
		got += len;
		err = pwrite_all(t->tree->spool_fd, buf, len,
				 node->spool_off + pos);
		if (err)
			return entry_err(t, err, "writing the spool: %s",
					 strerror(-err));
	}
}

static int read_xattrs(struct tar_layer *t, struct archive_entry *e,
		       struct nydusfs_node *node)
{
	const char *name;
	const void *value;
	size_t len;
	int err;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &len) == ARCHIVE_OK) {
		err = nydusfs_node_set_xattr(node, name ? name : "",
					     value, len);
		if (err)
			return entry_err(t, err,
					 "xattr '%.255s' (%zu bytes): %s",
					 name ? name : "", len,
					 strerror(-err));
	}
	return 0;
}

static int fill_type(struct tar_layer *t, struct archive_entry *e,
		     struct nydusfs_node *node)
{
	const char *target;
	int64_t size;
	dev_t major, minor;

	switch (node->mode & S_IFMT) {
	case S_IFREG:
		size = archive_entry_size(e);
		if (size < 0 || (uint64_t)size > TAR_ENTRY_MAX)
			return entry_err(t, -EFBIG, "size %lld is beyond %llu",
					 (long long)size, TAR_ENTRY_MAX);
		node->size = size;
		return 0;
	case S_IFLNK:
		target = archive_entry_symlink(e);
		if (!target || !*target)
			return entry_err(t, -EINVAL,
					 "symlink without a target");
		if (strlen(target) > NYDUSFS_SYMLINK_MAX)
			return entry_err(t, -ENAMETOOLONG,
					 "symlink target over %d bytes",
					 NYDUSFS_SYMLINK_MAX);
		return nydusfs_node_set_symlink(node, target);
	case S_IFCHR:
	case S_IFBLK:
		major = archive_entry_rdevmajor(e);
		minor = archive_entry_rdevminor(e);
		if (major > 0xfff || minor > 0xfffff)
			return entry_err(t, -EOVERFLOW,
					 "device %llu:%llu out of range",
					 (unsigned long long)major,
					 (unsigned long long)minor);
		node->rdev = nydusfs_encode_dev(major, minor);
		return 0;
	case S_IFDIR:
	case S_IFIFO:
	case S_IFSOCK:
		return 0;
	}
	return entry_err(t, -EINVAL, "unsupported file type 0%o",
			 node->mode & S_IFMT);
}

/* A node of the entry's type and attributes, its data in the spool. */
static int node_from_entry(struct tar_layer *t, struct archive_entry *e,
			   struct nydusfs_node **out)
{
	struct nydusfs_node *node;
	int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	long nsec;
	int err;

	if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
		return entry_err(t, -EOVERFLOW,
				 "uid %lld or gid %lld out of range",
				 (long long)uid, (long long)gid);
	node = nydusfs_node_new(archive_entry_filetype(e) |
				(archive_entry_perm(e) & 07777));
	if (!node)
		return -ENOMEM;
	node->uid = uid;
	node->gid = gid;
	if (archive_entry_mtime_is_set(e)) {
		node->mtime = archive_entry_mtime(e);
		nsec = archive_entry_mtime_nsec(e);
		node->mtime_nsec = nsec >= 0 && nsec < 1000000000L ? nsec : 0;
	}
	err = fill_type(t, e, node);
	if (!err)
		err = read_xattrs(t, e, node);
	if (!err && S_ISREG(node->mode))
		err = read_data(t, node);
	if (err) {
		nydusfs_node_put(node);
		return err;
	}
	*out = node;
	return 0;
}

/* ".wh.NAME" or ".wh..wh..opq" as the last component of @path. */
static int apply_whiteout(struct tar_layer *t, char *path, const char *base)
{
	bool opaque = !strcmp(base, WHITEOUT_OPAQUE);
	const char *victim = base + strlen(WHITEOUT_PREFIX), *name;
	struct nydusfs_node *dir;
	size_t fail_len;
	int err;

	if (!opaque && !strncmp(base, WHITEOUT_META_PREFIX,
				strlen(WHITEOUT_META_PREFIX))) {
		nydusfs_dbg("%s: ignoring '%s'", t->path, t->entry);
		return 0;	/* other aufs metadata, as runtimes do */
	}
	if (!opaque && (!*victim || !strcmp(victim, ".") ||
			!strcmp(victim, "..")))
		return entry_err(t, -EINVAL, "whiteout of an invalid name");
	/* The directory holding a whiteout exists in this layer. */
	err = nydusfs_tree_walk(t->tree, path, NYDUSFS_WALK_CREATE |
				NYDUSFS_WALK_TOUCH, &dir, &name, &fail_len);
	if (err)
		return walk_err(t, err, path, fail_len);
	if (opaque)
		return nydusfs_dir_clear_lower(t->tree, dir);
	err = nydusfs_dir_whiteout(t->tree, dir, victim);
	return err == -ENOENT ? 0 : err;
}

static int apply_hardlink(struct tar_layer *t, struct nydusfs_node *dir,
			  const char *name, const char *target)
{
	struct nydusfs_node *tdir, *node;
	const char *tname;
	char *tpath;
	uint32_t index;
	size_t fail_len;
	int err;

	err = clean_name(t, target, "hard link target", &tpath);
	if (err == -EEXIST)
		err = entry_err(t, -EPERM, "hard link to the root directory");
	if (err)
		goto out;
	err = nydusfs_tree_walk(t->tree, tpath, 0, &tdir, &tname, &fail_len);
	if (!err)
		err = nydusfs_dir_find(tdir, tname, &index);
	if (err) {
		err = entry_err(t, err, "hard link target '%s' %s", tpath,
				err == -ENOENT ? "does not exist" :
				"is below a non-directory");
		goto out;
	}
	node = tdir->children[index].node;
	if (S_ISDIR(node->mode)) {
		err = entry_err(t, -EPERM,
				"hard link target '%s' is a directory", tpath);
		goto out;
	}
	node->tree_refs++;
	err = nydusfs_dir_put(t->tree, dir, name, node, NULL);
	if (err)
		nydusfs_node_put(node);
out:
	free(tpath);
	return err;
}

/* The entry "." (or "/"): only a directory, whose attributes the root takes. */
static int apply_root(struct tar_layer *t, struct archive_entry *e)
{
	struct nydusfs_node *node;
	int err;

	if (archive_entry_hardlink(e) || archive_entry_filetype(e) != AE_IFDIR)
		return entry_err(t, -EEXIST,
				 "cannot replace the root directory");
	err = node_from_entry(t, e, &node);
	if (err)
		return err;
	nydusfs_dir_take_attrs(t->tree->root, node);
	nydusfs_node_put(node);
	return 0;
}

static int apply_entry(struct tar_layer *t, struct archive_entry *e)
{
	struct nydusfs_node *dir, *node;
	const char *base, *name;
	size_t fail_len;
	char *path;
	int err;

	err = clean_name(t, t->entry, "path", &path);
	if (err == -EEXIST) {
		err = apply_root(t, e);
		goto out;
	}
	if (err)
		goto out;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX))) {
		err = apply_whiteout(t, path, base);
		goto out;
	}
	err = nydusfs_tree_walk(t->tree, path, NYDUSFS_WALK_CREATE |
				NYDUSFS_WALK_TOUCH, &dir, &name, &fail_len);
	if (err) {
		err = walk_err(t, err, path, fail_len);
		goto out;
	}
	if (archive_entry_hardlink(e)) {
		err = apply_hardlink(t, dir, name, archive_entry_hardlink(e));
		goto out;
	}
	err = node_from_entry(t, e, &node);
	if (err)
		goto out;
	err = nydusfs_dir_put(t->tree, dir, name, node, NULL);
	if (err)
		nydusfs_node_put(node);
out:
	free(path);
	return err;
}

static struct archive *tar_open(const char *path, int *err)
{
	struct archive *ar = archive_read_new();

	*err = -ENOMEM;
	if (!ar)
		return NULL;
	/* A layer is tar, maybe compressed; no other formats. */
	archive_read_support_filter_gzip(ar);
	archive_read_support_filter_zstd(ar);
	archive_read_support_filter_bzip2(ar);
	archive_read_support_filter_xz(ar);
	archive_read_support_format_tar(ar);
	if (archive_read_open_filename(ar, path, TAR_READ_BLOCK) !=
	    ARCHIVE_OK) {
		*err = -archive_errno(ar);
		if (*err >= 0 || *err < -MAX_ERRNO)
			*err = -EINVAL;
		nydusfs_err("%s: %s", path, archive_error_string(ar));
		archive_read_free(ar);
		return NULL;
	}
	return ar;
}

int nydusfs_source_tar(struct nydusfs_tree *tree, const char *path)
{
	struct tar_layer t = { .tree = tree, .path = path };
	struct archive_entry *e;
	int err = 0, r;

	t.ar = tar_open(path, &err);
	if (!t.ar)
		return err;
	err = 0;
	tree->layer++;
	while (!err) {
		t.entry = NULL;
		r = archive_read_next_header(t.ar, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r == ARCHIVE_WARN)
			nydusfs_warn("%s: %s", path,
				     archive_error_string(t.ar));
		else if (r != ARCHIVE_OK) {
			err = archive_err(&t, "reading the archive");
			break;
		}
		t.e = e;
		t.entry = archive_entry_pathname(e);
		if (!t.entry)
			t.entry = "";
		err = apply_entry(&t, e);
		if (t.cut_after_data)
			break;
	}
	archive_read_free(t.ar);
	return err;
}
