// SPDX-License-Identifier: GPL-2.0
/*
 * Names and metadata with no daemon at all: readdir (d_type, d_ino,
 * offsets stable across calls, buffer sizes and seekdir), lookup of
 * missing and odd names, EROFS on every write attempt, xattr and readlink
 * edge cases.  The image is the rich generated tree ("gen"), compared with
 * its source on the ext4 disk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "helpers.h"

struct ent {
	uint64_t ino;
	int64_t off;
	unsigned char type;
	char name[256];
};

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

FIXTURE(ns) {
	char tmp[PATH_MAX];
	char mnt[PATH_MAX + 8];
	struct st_image img;
};

FIXTURE_SETUP(ns)
{
	const char *why = st_missing_prereq();

	if (why)
		SKIP(return, "%s", why);
	if (st_find_image("gen", &self->img) || !self->img.src[0])
		SKIP(return, "no image 'gen' with its source under %s", st_data_dir());
	ASSERT_EQ(0, st_private_mounts());
	ASSERT_EQ(0, st_mkdtemp(self->tmp, sizeof(self->tmp)));
	snprintf(self->mnt, sizeof(self->mnt), "%s/mnt", self->tmp);
	ASSERT_EQ(0, mkdir(self->mnt, 0755));
	/* no daemon: nothing here may need file data */
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, "timeout=2"));
}

FIXTURE_TEARDOWN(ns)
{
	if (self->mnt[0])
		umount2(self->mnt, MNT_DETACH);
	st_rmtree(self->tmp);
}

/* Every entry of @fd from its current offset, read @bufsize at a time. */
static int read_dir(int fd, size_t bufsize, struct ent **out)
{
	char *buf = malloc(bufsize);
	struct ent *ents = NULL, *ne;
	int n = 0, cap = 0;
	long len, pos;

	if (!buf)
		return -ENOMEM;
	while ((len = syscall(SYS_getdents64, fd, buf, bufsize)) > 0) {
		for (pos = 0; pos < len;) {
			struct linux_dirent64 *d = (void *)(buf + pos);

			if (n == cap) {
				cap = cap ? 2 * cap : 256;
				ne = realloc(ents, cap * sizeof(*ents));
				if (!ne) {
					n = -ENOMEM;
					goto out;
				}
				ents = ne;
			}
			ents[n].ino = d->d_ino;
			ents[n].off = d->d_off;
			ents[n].type = d->d_type;
			snprintf(ents[n].name, sizeof(ents[n].name), "%s", d->d_name);
			n++;
			pos += d->d_reclen;
		}
	}
	if (len < 0)
		n = -errno;
out:
	free(buf);
	*out = ents;
	return n;
}

static int read_dir_path(const char *path, size_t bufsize, struct ent **out)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY), n;

	if (fd < 0)
		return -errno;
	n = read_dir(fd, bufsize, out);
	close(fd);
	return n;
}

static int dtype_of(mode_t m)
{
	return (m & S_IFMT) >> 12;
}

/* memcmp order, the shorter name first on a tie: the format's order */
static int namecmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int r = memcmp(a, b, la < lb ? la : lb);

	return r ? r : (la > lb) - (la < lb);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in @dir of the source tree, sorted with strcmp */
static int src_names(const char *dir, char ***out)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	*out = names;
	return n;
}

static void check_dir(struct __test_metadata *_metadata, const char *mnt,
		      const char *srcroot, const char *rel)
{
	static const size_t sizes[] = { 320, 4096, 65536 };
	char path[PATH_MAX + 300], src[PATH_MAX + 300];
	struct ent *first = NULL, *e = NULL;
	int n0, n, i, k, nsrc, fd;
	char **names = NULL, **got;
	struct stat st, dst;

	snprintf(path, sizeof(path), "%s/%s", mnt, rel);
	snprintf(src, sizeof(src), "%s/%s", srcroot, rel);
	n0 = read_dir_path(path, sizes[0], &first);
	ASSERT_LT(2, n0) TH_LOG("%s: %s", rel, strerror(-n0));
	ASSERT_EQ(0, strcmp(first[0].name, "."));
	ASSERT_EQ(0, strcmp(first[1].name, ".."));
	ASSERT_EQ(0, stat(path, &dst));
	EXPECT_EQ(dst.st_ino, first[0].ino);

	/* the same entries and offsets, whatever the buffer size */
	for (k = 1; k < 3; k++) {
		n = read_dir_path(path, sizes[k], &e);
		ASSERT_EQ(n0, n);
		for (i = 0; i < n; i++) {
			EXPECT_EQ(first[i].ino, e[i].ino);
			EXPECT_EQ(first[i].off, e[i].off);
			EXPECT_EQ(first[i].type, e[i].type);
			EXPECT_EQ(0, strcmp(first[i].name, e[i].name));
		}
		free(e);
	}

	/* sorted, distinct offsets, d_type and d_ino as lstat says */
	fd = open(path, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, fd);
	for (i = 2; i < n0; i++) {
		if (i > 2)
			EXPECT_GT(0, namecmp(first[i - 1].name, first[i].name))
				TH_LOG("%s: '%s' before '%s'", rel, first[i - 1].name,
				       first[i].name);
		EXPECT_LT(first[i - 1].off, first[i].off);
		ASSERT_EQ(0, fstatat(fd, first[i].name, &st, AT_SYMLINK_NOFOLLOW))
			TH_LOG("%s/%s: %s", rel, first[i].name, strerror(errno));
		EXPECT_EQ(dtype_of(st.st_mode), first[i].type)
			TH_LOG("%s/%s: d_type %u, mode 0%o", rel, first[i].name,
			       first[i].type, st.st_mode);
		EXPECT_EQ(st.st_ino, first[i].ino);
	}
	close(fd);

	/* the same names as the source */
	nsrc = src_names(src, &names);
	ASSERT_EQ(n0 - 2, nsrc) TH_LOG("%s: %d entries, the source has %d", rel,
				       n0 - 2, nsrc);
	got = malloc(nsrc * sizeof(*got));
	for (i = 0; i < nsrc; i++)
		got[i] = first[i + 2].name;
	qsort(got, nsrc, sizeof(*got), cmp_names);
	for (i = 0; i < nsrc; i++) {
		EXPECT_EQ(0, strcmp(names[i], got[i]));
		free(names[i]);
	}
	free(names);
	free(got);
	free(first);
}

TEST_F(ns, readdir_stable)
{
	static const char *const dirs[] = {
		".", "bigdir", "names", "types", "links/a", "xattrs", "sparse",
	};
	unsigned int i;

	ST_SKIPPED();
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		check_dir(_metadata, self->mnt, self->img.src, dirs[i]);
}

/* seekdir/telldir and lseek to each offset land on the same entry */
TEST_F(ns, seekdir)
{
	char path[PATH_MAX + 16];
	struct ent *all, *rest;
	long *pos;
	char **names;
	struct dirent *de;
	unsigned int seed = 42;
	int n, i, k, fd;
	DIR *d;

	ST_SKIPPED();
	snprintf(path, sizeof(path), "%s/bigdir", self->mnt);
	n = read_dir_path(path, 4096, &all);
	ASSERT_LT(1000, n);

	d = opendir(path);
	ASSERT_NE(NULL, d);
	pos = calloc(n + 1, sizeof(*pos));
	names = calloc(n + 1, sizeof(*names));
	for (i = 0; i <= n; i++) {
		pos[i] = telldir(d);
		de = readdir(d);
		if (!de)
			break;
		names[i] = strdup(de->d_name);
	}
	ASSERT_EQ(n, i);
	for (k = 0; k < 300; k++) {
		seed = seed * 1103515245 + 12345;
		i = (seed >> 8) % n;
		seekdir(d, pos[i]);
		de = readdir(d);
		ASSERT_NE(NULL, de);
		EXPECT_EQ(0, strcmp(names[i], de->d_name))
			TH_LOG("seekdir to entry %d gave '%s', not '%s'", i,
			       de->d_name, names[i]);
	}
	seekdir(d, pos[n]);
	EXPECT_EQ(NULL, readdir(d));
	rewinddir(d);
	de = readdir(d);
	ASSERT_NE(NULL, de);
	EXPECT_EQ(0, strcmp(".", de->d_name));
	closedir(d);

	/* lseek to the d_off of entry i: the next read starts at i + 1 */
	fd = open(path, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, fd);
	for (k = 0; k < 50; k++) {
		i = (k * 997) % (n - 1);
		ASSERT_EQ(all[i].off, lseek(fd, all[i].off, SEEK_SET));
		ASSERT_LE(1, read_dir(fd, 512, &rest));
		EXPECT_EQ(0, strcmp(all[i + 1].name, rest[0].name));
		EXPECT_EQ(all[i + 1].off, rest[0].off);
		free(rest);
	}
	/* past the end: nothing; a negative offset: refused */
	ASSERT_LE(0, lseek(fd, all[n - 1].off, SEEK_SET));
	EXPECT_EQ(0, read_dir(fd, 4096, &rest));
	free(rest);
	ASSERT_LE(0, lseek(fd, 1LL << 40, SEEK_SET));
	EXPECT_EQ(0, read_dir(fd, 4096, &rest));
	free(rest);
	EXPECT_EQ(-1, lseek(fd, -5, SEEK_SET));
	close(fd);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(pos);
	free(all);
}

static void expect_lookup_error(struct __test_metadata *_metadata,
				const char *dir, const char *name, int err)
{
	char path[PATH_MAX + 600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	EXPECT_EQ(-1, lstat(path, &st)) TH_LOG("'%s' exists", name);
	EXPECT_EQ(err, errno) TH_LOG("'%s': %s", name, strerror(errno));
}

TEST_F(ns, lookup)
{
	char dir[PATH_MAX + 16], path[PATH_MAX + 300], name[300];
	struct ent *all;
	struct stat st, parent;
	int n, i;

	ST_SKIPPED();
	snprintf(dir, sizeof(dir), "%s/bigdir", self->mnt);
	n = read_dir_path(dir, 65536, &all);
	ASSERT_LT(1000, n);
	ASSERT_EQ(0, stat(dir, &parent));
	/* every name is found, as the inode readdir names */
	for (i = 2; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, all[i].name);
		ASSERT_EQ(0, lstat(path, &st)) TH_LOG("%s", all[i].name);
		EXPECT_EQ(all[i].ino, st.st_ino);
	}
	/* names next to existing ones, in the sort order, are not */
	for (i = 2; i < n; i += 97) {
		snprintf(name, sizeof(name), "%sx", all[i].name);
		expect_lookup_error(_metadata, dir, name, ENOENT);
		snprintf(name, sizeof(name), "%.*s", (int)strlen(all[i].name) - 1,
			 all[i].name);
		expect_lookup_error(_metadata, dir, name, ENOENT);
		snprintf(name, sizeof(name), "%s", all[i].name);
		name[strlen(name) - 1] ^= 0x40;
		expect_lookup_error(_metadata, dir, name, ENOENT);
	}
	expect_lookup_error(_metadata, dir, "entry-", ENOENT);
	expect_lookup_error(_metadata, dir, "\x01", ENOENT);
	expect_lookup_error(_metadata, dir, "\xff\xff\xff", ENOENT);
	expect_lookup_error(_metadata, dir, "zzzzzzzzzzzzzzzzzzzzzzzz", ENOENT);
	memset(name, 'z', 255);
	name[255] = 0;
	expect_lookup_error(_metadata, dir, name, ENOENT);
	memset(name, 'z', 256);
	name[256] = 0;
	expect_lookup_error(_metadata, dir, name, ENAMETOOLONG);
	expect_lookup_error(_metadata, self->mnt, "types/reg/x", ENOTDIR);
	expect_lookup_error(_metadata, self->mnt, "types/sym_dangling/x", ENOENT);
	/* the odd names of names/ are all found */
	snprintf(dir, sizeof(dir), "%s/names", self->mnt);
	free(all);
	n = read_dir_path(dir, 65536, &all);
	ASSERT_LT(10, n);
	for (i = 2; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, all[i].name);
		EXPECT_EQ(0, lstat(path, &st)) TH_LOG("names/%s", all[i].name);
	}
	/* dot-dot */
	snprintf(path, sizeof(path), "%s/links/a/..", self->mnt);
	ASSERT_EQ(0, stat(path, &st));
	snprintf(path, sizeof(path), "%s/links", self->mnt);
	ASSERT_EQ(0, stat(path, &parent));
	EXPECT_EQ(parent.st_ino, st.st_ino);
	free(all);
}

/* deep/ is more than PATH_MAX long: walk it with openat */
TEST_F(ns, deep_path)
{
	char path[PATH_MAX + 16];
	struct ent *e;
	int fd, next, depth = 0, n;

	ST_SKIPPED();
	snprintf(path, sizeof(path), "%s/deep", self->mnt);
	fd = open(path, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, fd);
	for (;;) {
		n = read_dir(fd, 4096, &e);
		ASSERT_LE(2, n);
		if (n == 2 || e[2].type != DT_DIR) {
			free(e);
			break;
		}
		next = openat(fd, e[2].name, O_RDONLY | O_DIRECTORY);
		ASSERT_LE(0, next) TH_LOG("depth %d: %s", depth, strerror(errno));
		free(e);
		close(fd);
		fd = next;
		depth++;
	}
	close(fd);
	TH_LOG("deep/ is %d directories deep", depth);
	EXPECT_LE(100, depth);
}

struct write_op {
	const char *what;
	int (*fn)(const char *path, const char *mnt);
};

static int op_open_wronly(const char *p, const char *m) { (void)m; return open(p, O_WRONLY); }
static int op_open_rdwr(const char *p, const char *m) { (void)m; return open(p, O_RDWR); }
static int op_open_trunc(const char *p, const char *m) { (void)m; return open(p, O_RDONLY | O_TRUNC); }
static int op_open_append(const char *p, const char *m) { (void)m; return open(p, O_WRONLY | O_APPEND); }
static int op_creat(const char *p, const char *m)
{
	char path[PATH_MAX + 16];

	(void)p;
	snprintf(path, sizeof(path), "%s/newfile", m);
	return creat(path, 0644);
}
static int op_creat_excl(const char *p, const char *m)
{
	char path[PATH_MAX + 16];

	(void)p;
	snprintf(path, sizeof(path), "%s/types/newfile", m);
	return open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
}
static int op_tmpfile(const char *p, const char *m) { (void)p; return open(m, O_TMPFILE | O_RDWR, 0600); }
static int op_mkdir(const char *p, const char *m)
{
	char path[PATH_MAX + 16];

	(void)p;
	snprintf(path, sizeof(path), "%s/newdir", m);
	return mkdir(path, 0755);
}
static int op_mknod(const char *p, const char *m)
{
	char path[PATH_MAX + 16];

	(void)p;
	snprintf(path, sizeof(path), "%s/newfifo", m);
	return mknod(path, S_IFIFO | 0644, 0);
}
static int op_symlink(const char *p, const char *m)
{
	char path[PATH_MAX + 16];

	(void)p;
	snprintf(path, sizeof(path), "%s/newsym", m);
	return symlink("target", path);
}
static int op_link(const char *p, const char *m)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/newlink", m);
	return link(p, path);
}
static int op_unlink(const char *p, const char *m) { (void)m; return unlink(p); }
static int op_rmdir(const char *p, const char *m)
{
	char path[PATH_MAX + 16];

	(void)p;
	snprintf(path, sizeof(path), "%s/types/dir", m);
	return rmdir(path);
}
static int op_rename(const char *p, const char *m)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/renamed", m);
	return rename(p, path);
}
static int op_rename_over(const char *p, const char *m)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/types/fifo", m);
	return rename(p, path);
}
static int op_setxattr(const char *p, const char *m) { (void)m; return setxattr(p, "user.new", "v", 1, 0); }
static int op_replacexattr(const char *p, const char *m) { (void)m; return setxattr(p, "user.x", "v", 1, XATTR_REPLACE); }
static int op_removexattr(const char *p, const char *m) { (void)m; return removexattr(p, "user.x"); }
static int op_chmod(const char *p, const char *m) { (void)m; return chmod(p, 0600); }
static int op_chown(const char *p, const char *m) { (void)m; return chown(p, 1, 1); }
static int op_utimes(const char *p, const char *m) { (void)m; return utimes(p, NULL); }
static int op_utimensat(const char *p, const char *m)
{
	struct timespec ts[2] = { { 1, 0 }, { 2, 0 } };

	(void)m;
	return utimensat(AT_FDCWD, p, ts, 0);
}
static int op_truncate(const char *p, const char *m) { (void)m; return truncate(p, 0); }
static int op_truncate_grow(const char *p, const char *m) { (void)m; return truncate(p, 1 << 20); }
static int op_root_chmod(const char *p, const char *m) { (void)p; return chmod(m, 0700); }

static const struct write_op write_ops[] = {
	{ "open O_WRONLY", op_open_wronly }, { "open O_RDWR", op_open_rdwr },
	{ "open O_TRUNC", op_open_trunc }, { "open O_APPEND", op_open_append },
	{ "creat", op_creat }, { "open O_CREAT|O_EXCL", op_creat_excl },
	{ "open O_TMPFILE", op_tmpfile }, { "mkdir", op_mkdir },
	{ "mknod", op_mknod }, { "symlink", op_symlink }, { "link", op_link },
	{ "unlink", op_unlink }, { "rmdir", op_rmdir }, { "rename", op_rename },
	{ "rename over", op_rename_over }, { "setxattr", op_setxattr },
	{ "setxattr replace", op_replacexattr },
	{ "removexattr", op_removexattr }, { "chmod", op_chmod },
	{ "chown", op_chown }, { "utimes", op_utimes },
	{ "utimensat", op_utimensat }, { "truncate", op_truncate },
	{ "truncate up", op_truncate_grow }, { "chmod root", op_root_chmod },
};

TEST_F(ns, erofs_on_writes)
{
	char path[PATH_MAX + 16];
	unsigned int i;
	int ret, fd;
	struct stat before, after;

	ST_SKIPPED();
	snprintf(path, sizeof(path), "%s/types/reg", self->mnt);
	ASSERT_EQ(0, lstat(path, &before));
	for (i = 0; i < sizeof(write_ops) / sizeof(write_ops[0]); i++) {
		errno = 0;
		ret = write_ops[i].fn(path, self->mnt);
		EXPECT_EQ(-1, ret) TH_LOG("%s succeeded", write_ops[i].what);
		if (ret >= 0 && strncmp(write_ops[i].what, "open", 4) == 0)
			close(ret);
		EXPECT_EQ(EROFS, errno) TH_LOG("%s: %s", write_ops[i].what,
					       strerror(errno));
	}
	ASSERT_EQ(0, lstat(path, &after));
	EXPECT_EQ(before.st_mode, after.st_mode);
	EXPECT_EQ(before.st_size, after.st_size);
	EXPECT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	/* through a read-only fd: no writes either */
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, write(fd, "x", 1));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, ftruncate(fd, 0));
	EXPECT_EQ(-1, fchmod(fd, 0600));
	EXPECT_EQ(EROFS, errno);
	EXPECT_EQ(-1, fsetxattr(fd, "user.y", "v", 1, 0));
	EXPECT_EQ(EROFS, errno);
	close(fd);
}

TEST_F(ns, xattrs)
{
	char path[PATH_MAX + 32], src[PATH_MAX + 32];
	char list[65536], slist[65536], val[70000], sval[70000];
	ssize_t n, sn, len;
	char *name;

	ST_SKIPPED();
	snprintf(path, sizeof(path), "%s/xattrs/file", self->mnt);
	snprintf(src, sizeof(src), "%s/xattrs/file", self->img.src);
	n = listxattr(path, list, sizeof(list));
	sn = listxattr(src, slist, sizeof(slist));
	ASSERT_LT(0, n);
	EXPECT_EQ(sn, n);
	EXPECT_EQ(n, listxattr(path, NULL, 0));
	EXPECT_EQ(-1, listxattr(path, list, 3));
	EXPECT_EQ(ERANGE, errno);
	for (name = list; name < list + n; name += strlen(name) + 1) {
		len = getxattr(path, name, val, sizeof(val));
		EXPECT_LE(0, len) TH_LOG("%s: %s", name, strerror(errno));
		sn = getxattr(src, name, sval, sizeof(sval));
		EXPECT_EQ(sn, len) TH_LOG("%s", name);
		if (len == sn && len > 0)
			EXPECT_EQ(0, memcmp(val, sval, len)) TH_LOG("%s", name);
		EXPECT_EQ(len, getxattr(path, name, NULL, 0));
		if (len > 1) {
			EXPECT_EQ(-1, getxattr(path, name, val, len - 1));
			EXPECT_EQ(ERANGE, errno);
		}
	}
	EXPECT_EQ(-1, getxattr(path, "user.nonexistent", val, sizeof(val)));
	EXPECT_EQ(ENODATA, errno);
	EXPECT_EQ(-1, getxattr(path, "user.m0", val, sizeof(val)));
	EXPECT_EQ(ENODATA, errno);
	EXPECT_EQ(-1, getxattr(path, "user.m000", val, sizeof(val)));
	EXPECT_EQ(ENODATA, errno);
	/* the big value, security.capability, a directory, a symlink, a device */
	snprintf(path, sizeof(path), "%s/xattrs/bigvalue", self->mnt);
	EXPECT_LT(2000, getxattr(path, "user.big", val, sizeof(val)));
	snprintf(path, sizeof(path), "%s/xattrs/capfile", self->mnt);
	EXPECT_LT(0, getxattr(path, "security.capability", val, sizeof(val)));
	snprintf(path, sizeof(path), "%s/xattrs/dir", self->mnt);
	EXPECT_LT(0, getxattr(path, "user.dirattr", val, sizeof(val)));
	snprintf(path, sizeof(path), "%s/xattrs/chr", self->mnt);
	EXPECT_LT(0, getxattr(path, "trusted.dev", val, sizeof(val)));
	/* an inode with none */
	snprintf(path, sizeof(path), "%s/types/reg", self->mnt);
	EXPECT_EQ(0, listxattr(path, list, sizeof(list)));
}

TEST_F(ns, readlink)
{
	char path[PATH_MAX + 32], src[PATH_MAX + 32], buf[8192], sbuf[8192];
	ssize_t n, sn;
	struct stat st;

	ST_SKIPPED();
	snprintf(path, sizeof(path), "%s/types/sym_4095", self->mnt);
	snprintf(src, sizeof(src), "%s/types/sym_4095", self->img.src);
	n = readlink(path, buf, sizeof(buf));
	sn = readlink(src, sbuf, sizeof(sbuf));
	EXPECT_EQ(4095, n);
	ASSERT_EQ(sn, n);
	EXPECT_EQ(0, memcmp(buf, sbuf, n));
	ASSERT_EQ(0, lstat(path, &st));
	EXPECT_EQ(4095, st.st_size);
	/* a short buffer gets the start */
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(10, readlink(path, buf, 10));
	EXPECT_EQ(0, memcmp(buf, sbuf, 10));
	/* not a symlink */
	snprintf(path, sizeof(path), "%s/types/reg", self->mnt);
	EXPECT_EQ(-1, readlink(path, buf, sizeof(buf)));
	EXPECT_EQ(EINVAL, errno);
	/* relative, followed within the mount */
	snprintf(path, sizeof(path), "%s/types/sym_rel", self->mnt);
	n = readlink(path, buf, sizeof(buf));
	snprintf(src, sizeof(src), "%s/types/sym_rel", self->img.src);
	sn = readlink(src, sbuf, sizeof(sbuf));
	ASSERT_EQ(sn, n);
	EXPECT_EQ(0, memcmp(buf, sbuf, n));
	snprintf(path, sizeof(path), "%s/types/sym_dangling", self->mnt);
	EXPECT_EQ(-1, stat(path, &st));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(ns, special_files)
{
	char path[PATH_MAX + 32], src[PATH_MAX + 32];
	struct stat st, sst;
	static const char *const names[] = {
		"types/blk", "types/chr", "types/chr_max", "types/fifo",
		"types/sock",
	};
	unsigned int i;
	int fd;

	ST_SKIPPED();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", self->mnt, names[i]);
		snprintf(src, sizeof(src), "%s/%s", self->img.src, names[i]);
		ASSERT_EQ(0, lstat(path, &st));
		if (lstat(src, &sst))
			continue;	/* the ext4 disk may lack a socket */
		EXPECT_EQ(sst.st_mode, st.st_mode) TH_LOG("%s", names[i]);
		EXPECT_EQ(sst.st_rdev, st.st_rdev) TH_LOG("%s: %u:%u, not %u:%u",
			names[i], major(st.st_rdev), minor(st.st_rdev),
			major(sst.st_rdev), minor(sst.st_rdev));
		EXPECT_EQ(0, st.st_size);
		EXPECT_EQ(0, st.st_blocks);
	}
	/* a fifo on a read-only mount still opens (no writer: O_NONBLOCK) */
	snprintf(path, sizeof(path), "%s/types/fifo", self->mnt);
	fd = open(path, O_RDONLY | O_NONBLOCK);
	EXPECT_LE(0, fd);
	if (fd >= 0)
		close(fd);
	/* /dev/null's numbers, opened through the image: a device node */
	snprintf(path, sizeof(path), "%s/types/chr", self->mnt);
	ASSERT_EQ(0, stat(path, &st));
	TH_LOG("types/chr is %u:%u", major(st.st_rdev), minor(st.st_rdev));
}

ST_HARNESS_MAIN
