// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs_unpack(): rebuild a tree from a bootstrap and its blobs.
 *
 * Safety: DESTDIR is created here (it must not exist), and every entry is
 * made with mkdirat/openat(O_CREAT|O_EXCL|O_NOFOLLOW)/symlinkat/mknodat/
 * linkat relative to a directory fd this code created, with names that the
 * reader validated (no '/', never "." or ".."), so nothing is ever created
 * or followed outside DESTDIR.  Only a window of directory fds stays open;
 * a directory whose fd was closed is reopened through ".." of its child and
 * checked to be the same inode, so deep trees need neither recursion nor
 * one fd per level.
 *
 * Hard links: the first time a multiply-linked inode is met it is created
 * in a private staging directory as "<nid>"; each of its paths is then a
 * linkat() from there, and the staging directory is removed at the end.
 *
 * Attributes are applied in an order that keeps them: data, owner (which
 * clears setuid bits and capabilities), mode, xattrs, then times; a
 * directory's are applied after its children are made (post-order).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "nydusfs/check.h"
#include "nydusfs/compress.h"
#include "nydusfs/err.h"
#include "nydusfs/log.h"
#include "nydusfs/unpack.h"
#include "nydusfs/walk.h"
#include "reader.h"

#define FD_WINDOW	64	/* directory fds kept open at most */
#define MAX_OPEN_BLOBS	64
#define CACHE_BYTES	(64U << 20)
#define CACHE_MAX	16

struct dir_frame {
	int fd;			/* -1: closed, reopen through ".." */
	dev_t dev;
	ino_t ino;
};

struct cache_ent {
	uint64_t key;		/* index in the chunk table */
	uint64_t used;		/* LRU tick; 0: empty */
	uint8_t *buf;
};

struct unpacker {
	const struct nydusfs_image *img;
	const char *blob_dir, *dest;
	struct nydusfs_unpack_stats *st;
	int blob_dir_fd;
	int *blob_fds;
	unsigned int open_blobs;
	struct dir_frame *dirs;	/* by depth; dirs[0] is DESTDIR */
	size_t dir_cap;
	int stage_fd;
	char stage_name[64];
	uint64_t *staged;	/* nids created in the staging directory */
	uint8_t *cbuf;		/* one compressed chunk */
	size_t cbuf_cap;
	struct cache_ent cache[CACHE_MAX];
	unsigned int cache_slots;
	uint64_t tick;
	bool warned_owner;
};

static int fail(struct unpacker *u, const char *path, const char *what, int err)
{
	nydusfs_err("unpack %s%s: %s: %s", u->dest, path, what, strerror(-err));
	return err;
}

static void copy_name(const struct nydusfs_walk_entry *e, char name[256])
{
	memcpy(name, e->name, e->name_len);
	name[e->name_len] = '\0';
}

/* ---- chunk data ---------------------------------------------------------- */

static int open_blob_dir(struct unpacker *u)
{
	u->blob_dir_fd = open(u->blob_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (u->blob_dir_fd >= 0)
		return 0;
	nydusfs_err("unpack: blob directory %s: %s", u->blob_dir,
		    strerror(errno));
	return -errno;
}

static int blob_fd(struct unpacker *u, uint32_t b, int *fd)
{
	const struct nydusfs_blob *blob = &u->img->blobs[b];
	char hex[2 * NYDUSFS_DIGEST_SIZE + 1];
	struct stat st;
	uint32_t i;

	if (u->blob_fds[b] >= 0) {
		*fd = u->blob_fds[b];
		return 0;
	}
	if (u->open_blobs == MAX_OPEN_BLOBS) {
		for (i = 0; i < u->img->blob_count; i++) {
			if (u->blob_fds[i] >= 0)
				close(u->blob_fds[i]);
			u->blob_fds[i] = -1;
		}
		u->open_blobs = 0;
	}
	nydusfs_digest_to_hex(blob->digest, hex);
	*fd = openat(u->blob_dir_fd, hex, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		nydusfs_err("unpack: blob %u: %s/%s: %s", b, u->blob_dir, hex,
			    strerror(errno));
		return -errno;
	}
	if (fstat(*fd, &st) ||
	    (uint64_t)st.st_size != le64_to_cpu(blob->compressed_size)) {
		nydusfs_err("unpack: blob %u: %s/%s has %llu bytes, the blob table says %llu",
			    b, u->blob_dir, hex, (unsigned long long)st.st_size,
			    (unsigned long long)le64_to_cpu(blob->compressed_size));
		close(*fd);
		return -EFSCORRUPTED;
	}
	u->blob_fds[b] = *fd;
	u->open_blobs++;
	return 0;
}

static int read_exact(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, (uint8_t *)buf + done, len - done, off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -EFSCORRUPTED;	/* blob shrank */
		done += n;
	}
	return 0;
}

/* Decompress chunk @ck of blob @b into @out and verify its sha256. */
static int load_chunk(struct unpacker *u, uint32_t b,
		      const struct nydusfs_chunk *ck, uint8_t *out)
{
	uint32_t csize = le32_to_cpu(ck->compressed_size);
	uint32_t usize = le32_to_cpu(ck->uncompressed_size);
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	uint32_t index = ck - u->img->chunks -
			 le32_to_cpu(u->img->blobs[b].chunk_index);
	int fd = -1, err;

	err = blob_fd(u, b, &fd);
	if (err)
		return err;
	if (csize > u->cbuf_cap) {
		free(u->cbuf);
		u->cbuf = malloc(csize);
		u->cbuf_cap = u->cbuf ? csize : 0;
		if (!u->cbuf)
			return -ENOMEM;
	}
	err = read_exact(fd, u->cbuf, csize,
			 le64_to_cpu(ck->compressed_offset));
	if (!err)
		err = nydusfs_decompress(ck->compressor, u->cbuf, csize, out,
					 usize);
	if (!err)
		err = nydusfs_sha256(out, usize, digest);
	if (!err && memcmp(digest, ck->digest, NYDUSFS_DIGEST_SIZE))
		err = -EFSCORRUPTED;
	if (err)
		nydusfs_err("unpack: blob %u chunk %u: %s", b, index,
			    err == -EFSCORRUPTED ?
			    "data does not decompress to its sha256 digest" :
			    strerror(-err));
	else
		u->st->chunks++;
	return err;
}

/* The verified bytes of a chunk, through a small LRU cache. */
static int get_chunk(struct unpacker *u, uint32_t b,
		     const struct nydusfs_chunk *ck, const uint8_t **data)
{
	uint64_t key = ck - u->img->chunks;
	struct cache_ent *e, *victim = &u->cache[0];
	unsigned int i;
	int err;

	for (i = 0; i < u->cache_slots; i++) {
		e = &u->cache[i];
		if (e->used && e->key == key) {
			e->used = ++u->tick;
			*data = e->buf;
			return 0;
		}
		if (e->used < victim->used)
			victim = e;
	}
	if (!victim->buf) {
		victim->buf = malloc(u->img->chunk_size);
		if (!victim->buf)
			return -ENOMEM;
	}
	victim->used = 0;
	err = load_chunk(u, b, ck, victim->buf);
	if (err)
		return err;
	victim->key = key;
	victim->used = ++u->tick;
	*data = victim->buf;
	return 0;
}

static int write_exact(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pwrite(fd, (const uint8_t *)buf + done, len - done,
			   off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += n;
	}
	return 0;
}

/* Holes are skipped and the size set last, so they stay holes. */
static int write_file_data(struct unpacker *u,
			   const struct nydusfs_walk_entry *e, int fd)
{
	uint64_t slot, count = le32_to_cpu(e->inode->data_count);
	uint64_t size = le64_to_cpu(e->inode->size);
	const struct nydusfs_chunk *ck;
	const uint8_t *data;
	uint32_t b, len;
	int err;

	for (slot = 0; slot < count; slot++) {
		err = nydusfs_image_file_chunk(u->img, e->nid, slot, &b, &ck);
		if (err)
			return err;
		if (!ck)
			continue;
		len = le32_to_cpu(ck->uncompressed_size);
		err = get_chunk(u, b, ck, &data);
		if (!err)
			err = write_exact(fd, data, len,
					  slot * u->img->chunk_size);
		if (err)
			return fail(u, e->path, "write", err);
		u->st->bytes += len;
	}
	if (ftruncate(fd, size))
		return fail(u, e->path, "ftruncate", -errno);
	return 0;
}

/* ---- attributes ------------------------------------------------------- */

/* On @fd, or (fd < 0) on @path without following a symlink. */
static int set_xattrs(struct unpacker *u, const struct nydusfs_walk_entry *e,
		      int fd, const char *path)
{
	uint32_t i, count = le32_to_cpu(e->inode->xattr_count);
	const uint8_t *value;
	size_t nlen, vlen;
	const char *name;
	char cname[256];
	int err, ret;

	for (i = 0; i < count; i++) {
		err = nydusfs_image_xattr(u->img, e->nid, i, &name, &nlen,
					  &value, &vlen);
		if (err)
			return err;
		memcpy(cname, name, nlen);
		cname[nlen] = '\0';
		if (fd >= 0)
			ret = fsetxattr(fd, cname, value, vlen, 0);
		else
			ret = lsetxattr(path, cname, value, vlen, 0);
		if (ret)
			return fail(u, e->path, cname, -errno);
	}
	return 0;
}

/* Not root: keep going with our own uid, and say so once. */
static int chown_failed(struct unpacker *u, const char *path, const char *what)
{
	int err = -errno;

	if (err != -EPERM || !geteuid())
		return fail(u, path, what, err);
	if (!u->warned_owner)
		nydusfs_warn("unpack: not running as root: owners are not restored");
	u->warned_owner = true;
	return 0;
}

static void entry_times(const struct nydusfs_inode *di, struct timespec ts[2])
{
	ts[1].tv_sec = (int64_t)le64_to_cpu(di->mtime);
	ts[1].tv_nsec = le32_to_cpu(di->mtime_nsec);
	ts[0] = ts[1];
}

/* Owner, mode, xattrs and times of a regular file or directory. */
static int set_attrs_fd(struct unpacker *u, const struct nydusfs_walk_entry *e,
			int fd)
{
	const struct nydusfs_inode *di = e->inode;
	struct timespec ts[2];
	int err;

	if (fchown(fd, le32_to_cpu(di->uid), le32_to_cpu(di->gid))) {
		err = chown_failed(u, e->path, "fchown");
		if (err)
			return err;
	}
	if (fchmod(fd, le16_to_cpu(di->mode) & 07777))
		return fail(u, e->path, "fchmod", -errno);
	err = set_xattrs(u, e, fd, NULL);
	if (err)
		return err;
	entry_times(di, ts);
	if (futimens(fd, ts))
		return fail(u, e->path, "futimens", -errno);
	return 0;
}

/* The same for a symlink or special file @name in @dirfd. */
static int set_attrs_at(struct unpacker *u, const struct nydusfs_walk_entry *e,
			int dirfd, const char *name)
{
	const struct nydusfs_inode *di = e->inode;
	unsigned int mode = le16_to_cpu(di->mode);
	struct timespec ts[2];
	char *path;
	int err;

	if (fchownat(dirfd, name, le32_to_cpu(di->uid), le32_to_cpu(di->gid),
		     AT_SYMLINK_NOFOLLOW)) {
		err = chown_failed(u, e->path, "fchownat");
		if (err)
			return err;
	}
	/* Just made by mknodat(), so not a symlink: fchmodat may follow. */
	if (!S_ISLNK(mode) && fchmodat(dirfd, name, mode & 07777, 0))
		return fail(u, e->path, "fchmodat", -errno);
	if (di->xattr_count) {
		if (asprintf(&path, "/proc/self/fd/%d/%s", dirfd, name) < 0)
			return -ENOMEM;
		err = set_xattrs(u, e, -1, path);
		free(path);
		if (err)
			return err;
	}
	entry_times(di, ts);
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW))
		return fail(u, e->path, "utimensat", -errno);
	return 0;
}

/* ---- creating entries ------------------------------------------------- */

static int create_file(struct unpacker *u, const struct nydusfs_walk_entry *e,
		       int dirfd, const char *name)
{
	int fd, err;

	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(u, e->path, "create", -errno);
	err = write_file_data(u, e, fd);
	if (!err)
		err = set_attrs_fd(u, e, fd);
	if (close(fd) && !err)
		err = fail(u, e->path, "close", -errno);
	return err;
}

static int create_symlink(struct unpacker *u,
			  const struct nydusfs_walk_entry *e, int dirfd,
			  const char *name)
{
	const char *target;
	size_t len;
	char *t;
	int err;

	err = nydusfs_image_symlink(u->img, e->nid, &target, &len);
	if (err)
		return err;
	t = strndup(target, len);
	if (!t)
		return -ENOMEM;
	err = symlinkat(t, dirfd, name) ? -errno : 0;
	free(t);
	if (err)
		return fail(u, e->path, "symlink", err);
	return set_attrs_at(u, e, dirfd, name);
}

/* new_decode_dev(): the inode stores new_encode_dev() of the device. */
static dev_t decode_dev(uint32_t dev)
{
	return makedev((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00));
}

static int create_special(struct unpacker *u,
			  const struct nydusfs_walk_entry *e, int dirfd,
			  const char *name)
{
	unsigned int mode = le16_to_cpu(e->inode->mode);

	if (mknodat(dirfd, name, (mode & S_IFMT) | 0600,
		    decode_dev(le32_to_cpu(e->inode->rdev))))
		return fail(u, e->path, "mknod", -errno);
	return set_attrs_at(u, e, dirfd, name);
}

static int create_node(struct unpacker *u, const struct nydusfs_walk_entry *e,
		       int dirfd, const char *name)
{
	unsigned int mode = le16_to_cpu(e->inode->mode);

	u->st->inodes++;
	if (S_ISREG(mode))
		return create_file(u, e, dirfd, name);
	if (S_ISLNK(mode))
		return create_symlink(u, e, dirfd, name);
	return create_special(u, e, dirfd, name);
}

/* A multiply-linked non-directory: made once in staging, linked from there. */
static int create_link(struct unpacker *u, const struct nydusfs_walk_entry *e,
		       int dirfd, const char *name)
{
	char staged[16];
	int err;

	snprintf(staged, sizeof(staged), "%u", e->nid);
	if (!nydusfs_test_bit(u->staged, e->nid)) {
		err = create_node(u, e, u->stage_fd, staged);
		if (err)
			return err;
		nydusfs_set_bit(u->staged, e->nid);
	}
	if (linkat(u->stage_fd, staged, dirfd, name, 0))
		return fail(u, e->path, "link", -errno);
	return 0;
}

/* ---- directories and the walk ----------------------------------------- */

static int push_dir(struct unpacker *u, unsigned int depth, int fd)
{
	struct dir_frame *d;
	struct stat st;

	if (depth >= u->dir_cap) {
		size_t cap = u->dir_cap ? u->dir_cap * 2 : 64, i;

		d = realloc(u->dirs, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		for (i = u->dir_cap; i < cap; i++)
			d[i].fd = -1;
		u->dirs = d;
		u->dir_cap = cap;
	}
	if (fstat(fd, &st))
		return -errno;
	u->dirs[depth] = (struct dir_frame){ fd, st.st_dev, st.st_ino };
	if (depth > FD_WINDOW && u->dirs[depth - FD_WINDOW].fd >= 0) {
		close(u->dirs[depth - FD_WINDOW].fd);
		u->dirs[depth - FD_WINDOW].fd = -1;
	}
	return 0;
}

static int create_dir(struct unpacker *u, const struct nydusfs_walk_entry *e,
		      int dirfd, const char *name)
{
	int fd, err;

	if (mkdirat(dirfd, name, 0700))
		return fail(u, e->path, "mkdir", -errno);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0)
		return fail(u, e->path, "open", -errno);
	err = push_dir(u, e->depth, fd);
	if (err) {
		close(fd);
		return fail(u, e->path, "open", err);
	}
	u->st->inodes++;
	return 0;
}

static int unpack_enter(void *arg, const struct nydusfs_walk_entry *e)
{
	struct unpacker *u = arg;
	unsigned int mode = le16_to_cpu(e->inode->mode);
	char name[256];
	int dirfd;

	u->st->paths++;
	if (!e->depth) {
		u->st->inodes++;
		return 0;	/* DESTDIR itself, already dirs[0] */
	}
	dirfd = u->dirs[e->depth - 1].fd;	/* the top frame: open */
	copy_name(e, name);
	if (S_ISDIR(mode))
		return create_dir(u, e, dirfd, name);
	if (le32_to_cpu(e->inode->nlink) > 1)
		return create_link(u, e, dirfd, name);
	return create_node(u, e, dirfd, name);
}

/* Reopen the closed parent of the directory at @depth through "..". */
static int reopen_parent(struct unpacker *u, const struct nydusfs_walk_entry *e)
{
	struct dir_frame *p = &u->dirs[e->depth - 1];
	struct stat st;
	int fd;

	fd = openat(u->dirs[e->depth].fd, "..", O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(u, e->path, "open ..", -errno);
	if (fstat(fd, &st) || st.st_dev != p->dev || st.st_ino != p->ino) {
		close(fd);
		return fail(u, e->path, "parent moved during unpack", -ESTALE);
	}
	p->fd = fd;
	return 0;
}

static int remove_staging(struct unpacker *u)
{
	char staged[16];
	uint32_t nid;

	if (u->stage_fd < 0)
		return 0;
	for (nid = 0; nid < u->img->inode_count; nid++) {
		if (!nydusfs_test_bit(u->staged, nid))
			continue;
		snprintf(staged, sizeof(staged), "%u", nid);
		if (unlinkat(u->stage_fd, staged, 0))
			return fail(u, "", "unlink staged link", -errno);
	}
	close(u->stage_fd);
	u->stage_fd = -1;
	if (unlinkat(u->dirs[0].fd, u->stage_name, AT_REMOVEDIR))
		return fail(u, "", "remove staging directory", -errno);
	return 0;
}

static int unpack_leave(void *arg, const struct nydusfs_walk_entry *e)
{
	struct unpacker *u = arg;
	struct dir_frame *d = &u->dirs[e->depth];
	int err;

	if (e->depth && u->dirs[e->depth - 1].fd < 0) {
		err = reopen_parent(u, e);
		if (err)
			return err;
	}
	if (!e->depth) {
		err = remove_staging(u);
		if (err)
			return err;
	}
	err = set_attrs_fd(u, e, d->fd);
	if (e->depth) {
		close(d->fd);
		d->fd = -1;
	}
	return err;
}

/* ---- setup and teardown ----------------------------------------------- */

/* A staging directory for hard links, named unlike any root entry. */
static int make_staging(struct unpacker *u)
{
	uint32_t nid, child;
	unsigned int i;

	for (nid = 0; nid < u->img->inode_count; nid++)
		if (!S_ISDIR(le16_to_cpu(u->img->inodes[nid].mode)) &&
		    le32_to_cpu(u->img->inodes[nid].nlink) > 1)
			break;
	if (nid == u->img->inode_count)
		return 0;
	for (i = 0; i < 1000; i++) {
		snprintf(u->stage_name, sizeof(u->stage_name),
			 ".nydusfs-unpack-links.%u", i);
		if (nydusfs_image_lookup(u->img, 0, u->stage_name,
					 strlen(u->stage_name), &child) == -ENOENT)
			break;
	}
	if (mkdirat(u->dirs[0].fd, u->stage_name, 0700))
		return fail(u, "", "mkdir staging directory", -errno);
	u->stage_fd = openat(u->dirs[0].fd, u->stage_name, O_RDONLY |
			     O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (u->stage_fd < 0)
		return fail(u, "", "open staging directory", -errno);
	return 0;
}

static int unpacker_init(struct unpacker *u)
{
	uint32_t i;

	u->stage_fd = -1;
	u->blob_dir_fd = -1;
	u->blob_fds = malloc((u->img->blob_count + 1) * sizeof(int));
	if (!u->blob_fds)
		return -ENOMEM;
	for (i = 0; i < u->img->blob_count; i++)
		u->blob_fds[i] = -1;
	u->staged = calloc(u->img->inode_count / 64 + 1, sizeof(uint64_t));
	if (!u->staged)
		return -ENOMEM;
	u->cache_slots = CACHE_BYTES / u->img->chunk_size;
	if (u->cache_slots > CACHE_MAX)
		u->cache_slots = CACHE_MAX;
	if (u->cache_slots < 2)
		u->cache_slots = 2;
	return 0;
}

static void close_dirs(struct unpacker *u)
{
	size_t d;

	for (d = 0; d < u->dir_cap; d++) {
		if (u->dirs[d].fd >= 0)
			close(u->dirs[d].fd);
		u->dirs[d].fd = -1;
	}
	if (u->stage_fd >= 0)
		close(u->stage_fd);
	u->stage_fd = -1;
}

static void unpacker_free(struct unpacker *u)
{
	unsigned int i;

	for (i = 0; u->blob_fds && i < u->img->blob_count; i++)
		if (u->blob_fds[i] >= 0)
			close(u->blob_fds[i]);
	close_dirs(u);
	if (u->blob_dir_fd >= 0)
		close(u->blob_dir_fd);
	for (i = 0; i < CACHE_MAX; i++)
		free(u->cache[i].buf);
	free(u->blob_fds);
	free(u->staged);
	free(u->dirs);
	free(u->cbuf);
}

/*
 * Remove what unpack created.  Iterative: one directory fd at a time, going
 * back up through ".." checked against the inode that was left.
 */
struct rm_frame {
	char *name;
	dev_t dev;	/* the parent's identity */
	ino_t ino;
};

/* Unlink the non-directories in @fd; *sub: the name of a subdirectory. */
static int rm_step(int fd, char **sub)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int dfd, err = 0;

	*sub = NULL;
	fchmod(fd, 0700);	/* unpack may have made it read-only */
	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -ENOMEM;
	}
	while (!err && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			err = -errno;
		else if (!S_ISDIR(st.st_mode))
			err = unlinkat(fd, de->d_name, 0) ? -errno : 0;
		else if (!*sub && !(*sub = strdup(de->d_name)))
			err = -ENOMEM;
	}
	closedir(d);
	return err;
}

static int rm_down(int *fd, char *sub, struct rm_frame **stack, size_t *depth,
		   size_t *cap)
{
	struct stat st;
	int child;

	if (*depth == *cap) {
		struct rm_frame *s = realloc(*stack, (*cap * 2 + 16) * sizeof(*s));

		if (!s)
			return -ENOMEM;
		*stack = s;
		*cap = *cap * 2 + 16;
	}
	if (fstat(*fd, &st))
		return -errno;
	child = openat(*fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (child < 0)
		return -errno;
	(*stack)[(*depth)++] = (struct rm_frame){ sub, st.st_dev, st.st_ino };
	close(*fd);
	*fd = child;
	return 0;
}

static int rm_up(int *fd, struct rm_frame *f)
{
	struct stat st;
	int up, err = 0;

	up = openat(*fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (up < 0)
		return -errno;
	if (fstat(up, &st) || st.st_dev != f->dev || st.st_ino != f->ino)
		err = -ESTALE;
	else if (unlinkat(up, f->name, AT_REMOVEDIR))
		err = -errno;
	close(*fd);
	*fd = up;
	free(f->name);
	return err;
}

static int remove_tree(const char *dest)
{
	struct rm_frame *stack = NULL;
	size_t depth = 0, cap = 0;
	char *sub;
	int fd, err = 0;

	fd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (!err) {
		err = rm_step(fd, &sub);
		if (err)
			break;
		if (sub) {
			err = rm_down(&fd, sub, &stack, &depth, &cap);
			if (err)
				free(sub);
		} else if (depth) {
			err = rm_up(&fd, &stack[--depth]);
		} else {
			break;
		}
	}
	close(fd);
	while (depth)
		free(stack[--depth].name);
	free(stack);
	if (!err && rmdir(dest))
		err = -errno;
	return err;
}

static int unpack_into(struct unpacker *u)
{
	static const struct nydusfs_walk_ops ops = {
		.enter = unpack_enter,
		.leave = unpack_leave,
	};
	int fd, err;

	if (mkdir(u->dest, 0700)) {
		err = -errno;
		if (err == -EEXIST)
			nydusfs_err("unpack: %s already exists; give a path that does not",
				    u->dest);
		else
			nydusfs_err("unpack: cannot create %s: %s", u->dest,
				    strerror(errno));
		return err;
	}
	fd = open(u->dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		err = fail(u, "", "open", -errno);
	else
		err = push_dir(u, 0, fd);
	if (err && fd >= 0)
		close(fd);
	if (!err)
		err = make_staging(u);
	if (!err)
		err = nydusfs_image_walk(u->img, &ops, u);
	if (!err)
		return 0;
	close_dirs(u);
	if (remove_tree(u->dest))
		nydusfs_err("unpack: could not remove the partial %s", u->dest);
	else
		nydusfs_err("unpack: removed the partial %s", u->dest);
	return err;
}

int nydusfs_unpack(const struct nydusfs_image *img, const char *blob_dir,
		   const char *dest, struct nydusfs_unpack_stats *stats)
{
	struct nydusfs_unpack_stats dummy;
	struct unpacker u = {
		.img = img, .blob_dir = blob_dir, .dest = dest,
		.st = stats ? stats : &dummy,
	};
	uint64_t problems;
	int err;

	memset(u.st, 0, sizeof(*u.st));
	err = nydusfs_check(img, NULL, &problems);
	if (err == -EFSCORRUPTED)
		nydusfs_err("%s: %llu problems found; refusing to unpack a damaged image",
			    img->label, (unsigned long long)problems);
	if (err)
		return err;
	err = unpacker_init(&u);
	if (err)
		nydusfs_err("unpack: %s", strerror(-err));
	else if (img->blob_count)
		err = open_blob_dir(&u);
	if (!err)
		err = unpack_into(&u);
	unpacker_free(&u);
	return err;
}
