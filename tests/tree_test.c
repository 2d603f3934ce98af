// SPDX-License-Identifier: GPL-2.0
/*
 * tree_test: the in-memory tree and its sources (directory, layer tarball,
 * OCI image layout).  Tarballs are made on the fly with libarchive's write
 * API (or by hand, for headers libarchive would refuse to write), layouts
 * with umoci.  One line per case on stdout: "ok NAME", "skip NAME" or
 * "FAIL NAME"; exit 0 if nothing failed, else 1.  -v shows the library's
 * messages (the hostile cases print their errors there).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "nydusfs/err.h"
#include "nydusfs/log.h"
#include "nydusfs/tree.h"

#define SKIP	77

/* Paths here are short; a truncated one would only fail a case. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static char tmpdir[PATH_MAX];

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "  %s:%d: check failed: %s\n",		\
			__FILE__, __LINE__, #cond);			\
		return 1;						\
	}								\
} while (0)

#define CHECK_EQ(a, b) do {						\
	long long _a = (long long)(a), _b = (long long)(b);		\
	if (_a != _b) {							\
		fprintf(stderr, "  %s:%d: %s == %lld, expected %lld\n",	\
			__FILE__, __LINE__, #a, _a, _b);		\
		return 1;						\
	}								\
} while (0)

static const char *tpath(char *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* @buf (PATH_MAX) = tmpdir/<fmt...> */
static const char *tpath(char *buf, const char *fmt, ...)
{
	char rel[PATH_MAX - 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(buf, PATH_MAX, "%s/%s", tmpdir, rel);
	return buf;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st)
		fprintf(stderr, "  command failed (%d): %s\n", st, cmd);
	return st;
}

static struct nydusfs_node *get(struct nydusfs_tree *t, const char *path)
{
	struct nydusfs_node *node;

	return nydusfs_tree_lookup(t, path, &node) ? NULL : node;
}

/* Does @node's data (spool, src_path or none) read back as @data? */
static int data_is(struct nydusfs_tree *t, const struct nydusfs_node *node,
		   const void *data, size_t len)
{
	char *buf;
	ssize_t n = 0;
	int fd, ok;

	if (!node || !S_ISREG(node->mode) || node->size != len)
		return 0;
	if (node->source == NYDUSFS_DATA_NONE)
		return len == 0;
	if (node->source == NYDUSFS_DATA_SPOOL) {
		fd = t->spool_fd;
		if (node->spool_off % NYDUSFS_BLKSZ)
			return 0;
	} else {
		fd = nydusfs_open_path(node->src_path, O_RDONLY);
		if (fd < 0)
			return 0;
	}
	buf = malloc(len + 1);
	if (buf)
		n = pread(fd, buf, len + 1, node->source == NYDUSFS_DATA_SPOOL ?
			  node->spool_off : 0);
	if (node->source == NYDUSFS_DATA_PATH)
		close(fd);
	/* The spool may go on with the next file: compare len bytes. */
	ok = buf && n >= (ssize_t)len && !memcmp(buf, data, len) &&
	     (node->source == NYDUSFS_DATA_SPOOL || n == (ssize_t)len);
	free(buf);
	return ok;
}

static const struct nydusfs_xattr_kv *xattr(const struct nydusfs_node *node,
					    const char *name)
{
	uint32_t i;

	for (i = 0; node && i < node->xattr_count; i++)
		if (!strcmp(node->xattrs[i].name, name))
			return node->xattrs + i;
	return NULL;
}

static int xattr_is(const struct nydusfs_node *node, const char *name,
		    const void *value, size_t len)
{
	const struct nydusfs_xattr_kv *kv = xattr(node, name);

	return kv && kv->value_len == len && !memcmp(kv->value, value, len);
}

static uint32_t encode_dev(uint32_t major, uint32_t minor)
{
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
}

/* ---- making tarballs ---- */

enum { F_NONE, F_GZIP, F_ZSTD };

#define T_HARDLINK	1U	/* not an AE_IF* value */

struct tent {
	const char *path;
	unsigned int type;	/* AE_IF*, T_HARDLINK; 0: AE_IFREG */
	unsigned int perm;	/* 0: 0644, or 0755 for directories */
	const char *data;	/* regular file contents (NUL-terminated) */
	const char *target;	/* symlink or hard link target */
	unsigned int uid, gid;
	int64_t mtime;
	long nsec;
	unsigned int major, minor;
	const char *xname;	/* one xattr */
	const char *xval;
	size_t xlen;
	const char *xname2;	/* another */
	const char *xval2;
	size_t xlen2;
};

static int write_entry(struct archive *a, const struct tent *te)
{
	struct archive_entry *e = archive_entry_new();
	unsigned int type = te->type ? te->type : AE_IFREG;
	size_t len = te->data ? strlen(te->data) : 0;
	int ret = 0;

	archive_entry_set_pathname(e, te->path);
	archive_entry_set_uid(e, te->uid);
	archive_entry_set_gid(e, te->gid);
	archive_entry_set_mtime(e, te->mtime, te->nsec);
	if (type == T_HARDLINK) {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_hardlink(e, te->target);
		type = AE_IFREG;
		len = 0;
	} else {
		archive_entry_set_filetype(e, type);
	}
	archive_entry_set_perm(e, te->perm ? te->perm :
			       type == AE_IFDIR ? 0755 : 0644);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, te->target);
	if (type == AE_IFCHR || type == AE_IFBLK) {
		archive_entry_set_rdevmajor(e, te->major);
		archive_entry_set_rdevminor(e, te->minor);
	}
	if (te->xname)
		archive_entry_xattr_add_entry(e, te->xname, te->xval,
					      te->xlen);
	if (te->xname2)
		archive_entry_xattr_add_entry(e, te->xname2, te->xval2,
					      te->xlen2);
	archive_entry_set_size(e, type == AE_IFREG ? len : 0);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    (len && archive_write_data(a, te->data, len) != (ssize_t)len)) {
		fprintf(stderr, "  write %s: %s\n", te->path,
			archive_error_string(a));
		ret = -1;
	}
	archive_entry_free(e);
	return ret;
}

static struct archive *tar_create(const char *path, int filter)
{
	struct archive *a = archive_write_new();

	archive_write_set_format_pax(a);
	if (filter == F_GZIP)
		archive_write_add_filter_gzip(a);
	else if (filter == F_ZSTD)
		archive_write_add_filter_zstd(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
		fprintf(stderr, "  %s: %s\n", path, archive_error_string(a));
		archive_write_free(a);
		return NULL;
	}
	return a;
}

/* Write tmpdir/@name from @ents (ended by a NULL path). */
static int write_tar(const char *name, int filter, const struct tent *ents)
{
	char path[PATH_MAX];
	struct archive *a = tar_create(tpath(path, "%s", name), filter);
	int ret = a ? 0 : -1;

	for (; a && !ret && ents->path; ents++)
		ret = write_entry(a, ents);
	if (a && archive_write_close(a) != ARCHIVE_OK)
		ret = -1;
	if (a)
		archive_write_free(a);
	return ret;
}

/* Write the layer, apply it: the source's result, or 1000 if not written. */
static int apply(struct nydusfs_tree *t, const char *name, int filter,
		 const struct tent *ents)
{
	char path[PATH_MAX];

	if (write_tar(name, filter, ents))
		return 1000;
	return nydusfs_source_tar(t, tpath(path, "%s", name));
}

/* A hand-made ustar header, for what libarchive would not write. */
static void raw_header(FILE *f, const char *name, char type, uint64_t size,
		       const char *link)
{
	unsigned char h[512] = { 0 };
	unsigned int sum = 0, i;

	memcpy(h, name, strnlen(name, 100));
	memcpy(h + 100, "0000644", 8);
	memcpy(h + 108, "0000000", 8);
	memcpy(h + 116, "0000000", 8);
	if (size < 077777777777ULL) {
		snprintf((char *)h + 124, 12, "%011llo",
			 (unsigned long long)size);
	} else {		/* GNU base-256 */
		h[124] = 0x80;
		for (i = 0; i < 8; i++)
			h[135 - i] = size >> (8 * i);
	}
	memcpy(h + 136, "00000000000", 12);
	h[156] = type;
	if (link)
		memcpy(h + 157, link, strnlen(link, 100));
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	fwrite(h, 1, 512, f);
}

/* Data padded to 512 bytes. */
static void raw_data(FILE *f, const char *data, size_t len)
{
	static const char zero[512];

	fwrite(data, 1, len, f);
	if (len % 512)
		fwrite(zero, 1, 512 - len % 512, f);
}

static void raw_end(FILE *f)
{
	static const char zero[1024];

	fwrite(zero, 1, sizeof(zero), f);
	fclose(f);
}

/* ---- cases: the tree ---- */

static int test_clean_path(void)
{
	static const struct {
		const char *in, *out;
		int err;
	} cases[] = {
		{ "a/b", "a/b", 0 }, { "/a//b/", "a/b", 0 },
		{ "./a/./b/.", "a/b", 0 }, { "///x", "x", 0 },
		{ ".", "", -EEXIST }, { "/", "", -EEXIST }, { "./", "", -EEXIST },
		{ "", NULL, -EINVAL }, { "a/../b", NULL, -EINVAL },
		{ "..", NULL, -EINVAL }, { "../a", NULL, -EINVAL },
		{ "a/..", NULL, -EINVAL }, { "a/..b", "a/..b", 0 },
		{ "...", "...", 0 }, { ".wh..wh..opq", ".wh..wh..opq", 0 },
	};
	char buf[600];
	size_t i;
	int err;

	for (i = 0; i < NYDUSFS_ARRAY_SIZE(cases); i++) {
		strcpy(buf, cases[i].in);
		err = nydusfs_tree_clean_path(buf);
		if (err != cases[i].err ||
		    (cases[i].out && strcmp(buf, cases[i].out))) {
			fprintf(stderr, "  '%s' -> %d '%s'\n", cases[i].in,
				err, buf);
			return 1;
		}
	}
	memset(buf, 'n', 255);
	strcpy(buf + 255, "/x");
	CHECK_EQ(nydusfs_tree_clean_path(buf), 0);
	memset(buf, 'n', 256);
	strcpy(buf + 256, "/x");
	CHECK_EQ(nydusfs_tree_clean_path(buf), -ENAMETOOLONG);
	return 0;
}

static struct nydusfs_node *mknode(uint32_t mode, uint32_t uid)
{
	struct nydusfs_node *node = nydusfs_node_new(mode);

	if (node)
		node->uid = uid;
	return node;
}

static int test_tree_ops(void)
{
	struct nydusfs_tree *t = nydusfs_tree_new();
	struct nydusfs_node *a, *f, *n, *root;
	int ret = 1;

	CHECK(t && t->root && S_ISDIR(t->root->mode) && t->spool_fd == -1);
	root = t->root;
	a = mknode(S_IFDIR | 0755, 1);
	CHECK(!nydusfs_tree_add(t, "a", a));
	f = mknode(S_IFREG | 0644, 2);
	CHECK(!nydusfs_tree_add(t, "/a/f", f));
	n = mknode(S_IFREG | 0644, 3);
	CHECK_EQ(nydusfs_tree_add(t, "x/y", n), -ENOENT);
	CHECK_EQ(nydusfs_tree_add(t, "a/f/z", n), -ENOTDIR);
	CHECK_EQ(nydusfs_tree_add(t, "../z", n), -EINVAL);
	nydusfs_node_put(n);
	CHECK(get(t, "a/f") == f && get(t, "./a//f/") == f);
	CHECK(get(t, "") == root && get(t, "/") == root);
	CHECK_EQ(nydusfs_tree_lookup(t, "a/f/x", &n), -ENOTDIR);

	/* hard links */
	CHECK(!nydusfs_tree_link(t, "a/h", "a/f"));
	CHECK(!nydusfs_tree_link(t, "keep", "/a/f"));
	CHECK(get(t, "a/h") == f && f->tree_refs == 3);
	CHECK_EQ(nydusfs_tree_link(t, "b", "a"), -EPERM);
	CHECK_EQ(nydusfs_tree_link(t, "b", "nope"), -ENOENT);
	CHECK_EQ(nydusfs_tree_link(t, "b", "../a/f"), -EINVAL);
	CHECK_EQ(nydusfs_tree_link(t, "b", "."), -EPERM);
	CHECK(!nydusfs_tree_link(t, "a/h", "a/f"));	/* onto itself */
	CHECK(f->tree_refs == 3);

	/* a directory over a directory merges */
	n = mknode(S_IFDIR | 0700, 9);
	CHECK(!nydusfs_tree_add(t, "a", n));
	CHECK(get(t, "a") == a && a->uid == 9 && a->mode == (S_IFDIR | 0700));
	CHECK(get(t, "a/f") == f);
	/* at the root too */
	n = mknode(S_IFDIR | 0711, 7);
	CHECK(!nydusfs_tree_add(t, ".", n));
	CHECK(t->root == root && root->uid == 7 && root->mode == (S_IFDIR | 0711));
	n = mknode(S_IFREG | 0644, 0);
	CHECK_EQ(nydusfs_tree_add(t, "/", n), -EEXIST);
	nydusfs_node_put(n);

	/* a file over a directory drops the subtree */
	n = mknode(S_IFREG | 0600, 4);
	CHECK(!nydusfs_tree_add(t, "a", n));
	CHECK(get(t, "a") == n && !get(t, "a/f") && f->tree_refs == 1);
	CHECK(get(t, "keep") == f);

	/* sorted children, memcmp order */
	CHECK(!nydusfs_tree_add(t, "b", mknode(S_IFDIR | 0755, 0)));
	CHECK(!nydusfs_tree_add(t, "b/b", mknode(S_IFREG, 0)));
	CHECK(!nydusfs_tree_add(t, "b/ab", mknode(S_IFREG, 0)));
	CHECK(!nydusfs_tree_add(t, "b/\xff", mknode(S_IFREG, 0)));
	CHECK(!nydusfs_tree_add(t, "b/a", mknode(S_IFREG, 0)));
	CHECK(!nydusfs_tree_add(t, "b/B", mknode(S_IFREG, 0)));
	n = get(t, "b");
	CHECK(n && n->child_count == 5);
	CHECK(!strcmp(n->children[0].name, "B") &&
	      !strcmp(n->children[1].name, "a") &&
	      !strcmp(n->children[2].name, "ab") &&
	      !strcmp(n->children[3].name, "b") &&
	      !strcmp(n->children[4].name, "\xff"));
	CHECK(n->parent == root);

	/* remove */
	CHECK(!nydusfs_tree_remove(t, "b/ab"));
	CHECK_EQ(nydusfs_tree_remove(t, "b/ab"), -ENOENT);
	CHECK_EQ(nydusfs_tree_remove(t, "/"), -EBUSY);
	CHECK(!nydusfs_tree_remove(t, "b"));
	CHECK(!get(t, "b") && !get(t, "b/a"));
	ret = 0;
	nydusfs_tree_free(t);
	return ret;
}

static int test_node_attrs(void)
{
	struct nydusfs_node *n = nydusfs_node_new(S_IFREG | 0644);
	char name[300], target[NYDUSFS_SYMLINK_MAX + 2];
	static char big[NYDUSFS_XATTR_VALUE_MAX + 1];

	CHECK(n && n->tree_refs == 1);
	CHECK(!nydusfs_node_set_xattr(n, "user.b", "\0\1", 2));
	CHECK(!nydusfs_node_set_xattr(n, "security.capability", "x", 1));
	CHECK(!nydusfs_node_set_xattr(n, "user.a", "", 0));
	CHECK(!nydusfs_node_set_xattr(n, "user.b", "\2", 1));	/* replaces */
	CHECK(n->xattr_count == 3);
	CHECK(!strcmp(n->xattrs[0].name, "security.capability") &&
	      !strcmp(n->xattrs[1].name, "user.a") &&
	      !strcmp(n->xattrs[2].name, "user.b"));
	CHECK(xattr_is(n, "user.b", "\2", 1) && xattr_is(n, "user.a", "", 0));
	CHECK(!nydusfs_node_set_xattr(n, "user.big", big, sizeof(big) - 1));
	CHECK_EQ(nydusfs_node_set_xattr(n, "user.big", big, sizeof(big)), -E2BIG);
	memset(name, 'x', 256);
	name[256] = '\0';
	CHECK_EQ(nydusfs_node_set_xattr(n, name, "", 0), -ENAMETOOLONG);
	CHECK_EQ(nydusfs_node_set_xattr(n, "", "", 0), -ENAMETOOLONG);
	CHECK_EQ(nydusfs_node_set_symlink(n, ""), -EINVAL);
	memset(target, 't', sizeof(target) - 1);
	target[sizeof(target) - 1] = '\0';
	CHECK_EQ(nydusfs_node_set_symlink(n, target), -ENAMETOOLONG);
	target[NYDUSFS_SYMLINK_MAX] = '\0';
	CHECK(!nydusfs_node_set_symlink(n, target));
	nydusfs_node_put(n);
	return 0;
}

static int test_spool(void)
{
	struct nydusfs_tree *t = nydusfs_tree_new();
	uint64_t off;
	struct stat st;
	int ret = 1;

	CHECK(t);
	CHECK(!nydusfs_tree_spool_alloc(t, 10, &off) && off == 0);
	CHECK(t->spool_fd >= 0);
	CHECK(!nydusfs_tree_spool_alloc(t, 5000, &off) && off == 4096);
	CHECK(!nydusfs_tree_spool_alloc(t, 1, &off) && off == 12288);
	CHECK(t->spool_size == 12289);
	CHECK(!fstat(t->spool_fd, &st) && st.st_size == 12289 && st.st_nlink == 0);
	CHECK(!nydusfs_tree_spool_alloc(t, 0, &off) && off == 16384);
	CHECK_EQ(nydusfs_tree_spool_alloc(t, UINT64_MAX - 10, &off), -EFBIG);
	ret = 0;
	nydusfs_tree_free(t);
	return ret;
}

static int test_clear_dir_layers(void)
{
	struct nydusfs_tree *t = nydusfs_tree_new();

	CHECK(t);
	t->layer = 1;
	CHECK(!nydusfs_tree_add(t, "d", mknode(S_IFDIR | 0755, 0)));
	CHECK(!nydusfs_tree_add(t, "d/x", mknode(S_IFREG, 0)));
	CHECK(!nydusfs_tree_add(t, "d/s", mknode(S_IFDIR | 0755, 0)));
	CHECK(!nydusfs_tree_add(t, "d/s/y", mknode(S_IFREG, 0)));
	t->layer = 2;
	CHECK(!nydusfs_tree_add(t, "d/s/z", mknode(S_IFREG, 0)));
	CHECK(!nydusfs_tree_clear_dir(t, "d"));
	CHECK(!get(t, "d/x") && !get(t, "d/s/y") && get(t, "d/s/z"));
	t->layer = 3;
	CHECK(!nydusfs_tree_clear_dir(t, "/"));
	CHECK(t->root->child_count == 0);
	CHECK_EQ(nydusfs_tree_clear_dir(t, "d"), -ENOENT);
	nydusfs_tree_free(t);
	return 0;
}

/* ---- cases: tar layers ---- */

static const char cap_v2[20] = { 0, 0, 0, 2, 0, 0x20, 0, 0 };

static int test_tar_basic(void)
{
	const struct tent ents[] = {
		{ "./", AE_IFDIR, 0700, .uid = 5, .mtime = 77 },
		{ "etc", AE_IFDIR, 0750, .uid = 1, .gid = 2, .mtime = 100 },
		{ "etc/passwd", .data = "root:x:0:0\n", .mtime = 1234,
		  .nsec = 567890123 },
		{ "usr/bin/sh", .perm = 04755, .data = "#!ELF", .uid = 70000,
		  .gid = 80000, .xname = "security.capability",
		  .xval = cap_v2, .xlen = sizeof(cap_v2),
		  .xname2 = "user.bin", .xval2 = "\0\xff\0", .xlen2 = 3 },
		{ "usr/bin/link", AE_IFLNK, 0777, .target = "sh" },
		{ "usr/bin/abs", AE_IFLNK, 0777, .target = "/etc/../../x" },
		{ "usr/bin/hl", T_HARDLINK, .target = "usr/bin/sh" },
		{ "etc/hl2", T_HARDLINK, .target = "/usr/bin/sh" },
		{ "run/fifo", AE_IFIFO, 0600 },
		{ "dev/null", AE_IFCHR, 0666, .major = 1, .minor = 3 },
		{ "dev/sda", AE_IFBLK, 0660, .major = 8, .minor = 0 },
		{ "dev/big", AE_IFCHR, 0600, .major = 259, .minor = 300000 },
		{ "empty" },
		{ "d/", AE_IFDIR, .xname = "trusted.t", .xval = "v", .xlen = 1 },
		{ NULL }
	};
	struct nydusfs_tree *t = nydusfs_tree_new();
	struct nydusfs_node *n, *sh;
	int ret = 1;

	CHECK(t);
	CHECK_EQ(apply(t, "basic.tar", F_NONE, ents), 0);
	CHECK(t->root->mode == (S_IFDIR | 0700) && t->root->uid == 5 &&
	      t->root->mtime == 77);
	CHECK(t->root->child_count == 6);	/* d dev empty etc run usr */
	CHECK(!strcmp(t->root->children[0].name, "d"));
	n = get(t, "etc");
	CHECK(n && n->mode == (S_IFDIR | 0750) && n->uid == 1 && n->gid == 2);
	CHECK(n->mtime == 100);
	n = get(t, "etc/passwd");
	CHECK(data_is(t, n, "root:x:0:0\n", 11));
	CHECK(n->source == NYDUSFS_DATA_SPOOL && n->mtime == 1234 &&
	      n->mtime_nsec == 567890123);
	n = get(t, "usr");	/* implicit */
	CHECK(n && n->mode == (S_IFDIR | 0755) && !n->uid && !n->mtime);
	sh = get(t, "usr/bin/sh");
	CHECK(data_is(t, sh, "#!ELF", 5));
	CHECK(sh->mode == (S_IFREG | 04755) && sh->uid == 70000 &&
	      sh->gid == 80000);
	CHECK(xattr_is(sh, "security.capability", cap_v2, sizeof(cap_v2)));
	CHECK(xattr_is(sh, "user.bin", "\0\xff\0", 3) && sh->xattr_count == 2);
	CHECK(get(t, "usr/bin/hl") == sh && get(t, "etc/hl2") == sh);
	CHECK(sh->tree_refs == 3);
	n = get(t, "usr/bin/link");
	CHECK(n && S_ISLNK(n->mode) && !strcmp(n->symlink, "sh"));
	n = get(t, "usr/bin/abs");
	CHECK(n && !strcmp(n->symlink, "/etc/../../x"));
	n = get(t, "run/fifo");
	CHECK(n && n->mode == (S_IFIFO | 0600));
	n = get(t, "dev/null");
	CHECK(n && n->mode == (S_IFCHR | 0666) && n->rdev == 0x103);
	n = get(t, "dev/sda");
	CHECK(n && S_ISBLK(n->mode) && n->rdev == 0x800);
	n = get(t, "dev/big");
	CHECK(n && n->rdev == encode_dev(259, 300000));
	CHECK(n->rdev == (uint32_t)makedev(259, 300000));
	n = get(t, "empty");
	CHECK(n && S_ISREG(n->mode) && !n->size &&
	      n->source == NYDUSFS_DATA_NONE);
	n = get(t, "d");
	CHECK(n && xattr_is(n, "trusted.t", "v", 1));
	ret = 0;
	nydusfs_tree_free(t);
	return ret;
}

static int test_tar_filters(void)
{
	static char big[300000];
	const struct tent ents[] = {
		{ "a", .data = "gz and zstd" },
		{ "big", .data = big },
		{ NULL }
	};
	static const char *const names[] = { "f.tar", "f.tar.gz", "f.tar.zst" };
	struct nydusfs_tree *t;
	int filter;

	memset(big, 'q', sizeof(big) - 1);
	for (filter = F_NONE; filter <= F_ZSTD; filter++) {
		t = nydusfs_tree_new();
		CHECK(t);
		CHECK_EQ(apply(t, names[filter], filter, ents), 0);
		CHECK(data_is(t, get(t, "a"), "gz and zstd", 11));
		CHECK(data_is(t, get(t, "big"), big, sizeof(big) - 1));
		nydusfs_tree_free(t);
	}
	return 0;
}

static int test_tar_sparse(void)
{
	char path[PATH_MAX];
	struct archive *a = tar_create(tpath(path, "sparse.tar"), F_GZIP);
	struct archive_entry *e = archive_entry_new();
	const size_t size = 1 << 20;
	char *buf = calloc(1, size);
	struct nydusfs_tree *t = nydusfs_tree_new();
	struct nydusfs_node *n;
	off_t data;

	CHECK(a && e && buf && t);
	archive_entry_set_pathname(e, "sparse");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, size);
	archive_entry_sparse_add_entry(e, 8192, 4096);
	archive_entry_sparse_add_entry(e, 65536, 100);
	archive_entry_sparse_add_entry(e, size - 10, 10);
	memset(buf + 8192, 'a', 4096);
	memset(buf + 65536, 'b', 100);
	memset(buf + size - 10, 'c', 10);
	CHECK(archive_write_header(a, e) == ARCHIVE_OK);
	CHECK(archive_write_data(a, buf, size) == (ssize_t)size);
	archive_entry_free(e);
	CHECK(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);

	/* something before it, so that the file does not start at 0 */
	CHECK(!nydusfs_tree_spool_alloc(t, 100, &(uint64_t){ 0 }));
	CHECK_EQ(nydusfs_source_tar(t, path), 0);
	n = get(t, "sparse");
	CHECK(n && n->spool_off == 4096);
	CHECK(data_is(t, n, buf, size));
	data = lseek(t->spool_fd, n->spool_off, SEEK_DATA);
	if (data >= 0) {	/* the holes stayed holes */
		CHECK_EQ(data, n->spool_off + 8192);
		CHECK_EQ(lseek(t->spool_fd, data, SEEK_HOLE),
			 n->spool_off + 12288);
	}
	free(buf);
	nydusfs_tree_free(t);
	return 0;
}

static int test_whiteouts(void)
{
	const struct tent l1[] = {
		{ "a/x", .data = "x" }, { "a/y", .data = "y" },
		{ "b/z", .data = "z" }, { "c", .data = "c" },
		{ "a/hl", T_HARDLINK, .target = "a/x" },
		{ NULL }
	};
	const struct tent l2[] = {
		{ "a/.wh.x" }, { ".wh.b" }, { ".wh.nonexistent" },
		{ "newdir/.wh.q" }, { ".wh..wh.plnk", AE_IFDIR },
		{ "n", .data = "n" }, { ".wh.n" },	/* same layer: stays */
		{ "a/.wh.y", AE_IFDIR },		/* any type */
		{ NULL }
	};
	struct nydusfs_tree *t = nydusfs_tree_new();
	struct nydusfs_node *x;

	CHECK(t);
	CHECK_EQ(apply(t, "wh1.tar", F_NONE, l1), 0);
	x = get(t, "a/x");
	CHECK(x && x->tree_refs == 2);
	CHECK_EQ(apply(t, "wh2.tar", F_NONE, l2), 0);
	CHECK(!get(t, "a/x") && !get(t, "a/y") && get(t, "a/hl") == x);
	CHECK(x->tree_refs == 1);
	CHECK(!get(t, "b") && data_is(t, get(t, "c"), "c", 1));
	CHECK(get(t, "newdir") && S_ISDIR(get(t, "newdir")->mode));
	CHECK(!get(t, "newdir/.wh.q") && !get(t, ".wh..wh.plnk"));
	CHECK(!get(t, "a/.wh.x") && !get(t, ".wh.nonexistent"));
	CHECK(data_is(t, get(t, "n"), "n", 1));
	nydusfs_tree_free(t);
	return 0;
}

static int test_opaque(void)
{
	const struct tent l1[] = {
		{ "d/old", .data = "o" }, { "d/sub/old2", .data = "o2" },
		{ "d/sub2/z", .data = "z" }, { "keep/k", .data = "k" },
		{ "d/lnk", T_HARDLINK, .target = "keep/k" },
		{ NULL }
	};
	const struct tent l2[] = {
		{ "d", AE_IFDIR, 0700 },
		{ "d/new", .data = "n" },
		{ "d/sub/new2", .data = "n2" },	/* sub: from l1, now passed */
		{ "d/.wh..wh..opq" },
		{ "d/after", .data = "a" },
		{ "d/sub/after2", .data = "a2" },
		{ "fresh/.wh..wh..opq" },	/* makes the directory */
		{ NULL }
	};
	const struct tent l3[] = {
		{ "top", .data = "t" },
		{ "./.wh..wh..opq" },
		{ NULL }
	};
	struct nydusfs_tree *t = nydusfs_tree_new();
	struct nydusfs_node *d;

	CHECK(t);
	CHECK_EQ(apply(t, "opq1.tar", F_NONE, l1), 0);
	CHECK_EQ(apply(t, "opq2.tar", F_ZSTD, l2), 0);
	d = get(t, "d");
	CHECK(d && d->mode == (S_IFDIR | 0700));
	CHECK(!get(t, "d/old") && !get(t, "d/sub/old2") && !get(t, "d/sub2"));
	CHECK(!get(t, "d/lnk") && get(t, "keep/k")->tree_refs == 1);
	CHECK(data_is(t, get(t, "d/new"), "n", 1));
	CHECK(data_is(t, get(t, "d/sub/new2"), "n2", 2));
	CHECK(data_is(t, get(t, "d/after"), "a", 1));
	CHECK(data_is(t, get(t, "d/sub/after2"), "a2", 2));
	CHECK(d->child_count == 3 && get(t, "d/sub")->child_count == 2);
	CHECK(get(t, "fresh") && !get(t, "fresh")->child_count);
	CHECK(!get(t, "d/.wh..wh..opq"));
	CHECK_EQ(apply(t, "opq3.tar", F_NONE, l3), 0);
	CHECK(t->root->child_count == 1 && data_is(t, get(t, "top"), "t", 1));
	nydusfs_tree_free(t);
	return 0;
}

/* Apply one layer to a fresh tree holding a base layer; expect @err. */
static int hostile(const char *name, const struct tent *ents, int err,
		   struct nydusfs_tree **out)
{
	static const struct tent base[] = {
		{ "etc/passwd", .data = "root" },
		{ "link", AE_IFLNK, .target = "/etc" },
		{ "up", AE_IFLNK, .target = "../../.." },
		{ "file", .data = "f" },
		{ NULL }
	};
	struct nydusfs_tree *t = nydusfs_tree_new();
	int ret;

	if (!t || apply(t, "hostile-base.tar", F_NONE, base))
		return 1;
	ret = apply(t, name, F_NONE, ents);
	if (ret != err) {
		fprintf(stderr, "  %s: got %d (%s), expected %d\n", name, ret,
			strerror(-ret), err);
		nydusfs_tree_free(t);
		return 1;
	}
	/* nothing went through the symlinks or above the root */
	if (get(t, "etc/passwd") && !data_is(t, get(t, "etc/passwd"),
					      "root", 4)) {
		nydusfs_tree_free(t);
		return 1;
	}
	if (out)
		*out = t;
	else
		nydusfs_tree_free(t);
	return 0;
}

static int test_hostile_dotdot(void)
{
	const struct tent e1[] = { { "../evil", .data = "x" }, { NULL } };
	const struct tent e2[] = { { "a/../../evil", .data = "x" }, { NULL } };
	const struct tent e3[] = { { "a/b/..", AE_IFDIR }, { NULL } };
	const struct tent e4[] = { { "../.wh.etc" }, { NULL } };

	CHECK(!hostile("dotdot1.tar", e1, -EINVAL, NULL));
	CHECK(!hostile("dotdot2.tar", e2, -EINVAL, NULL));
	CHECK(!hostile("dotdot3.tar", e3, -EINVAL, NULL));
	CHECK(!hostile("dotdot4.tar", e4, -EINVAL, NULL));
	return 0;
}

static int test_hostile_absolute(void)
{
	char path[PATH_MAX];
	FILE *f = fopen(tpath(path, "abs.tar"), "w");
	struct nydusfs_tree *t = nydusfs_tree_new();

	CHECK(f && t);
	raw_header(f, "/abs/file", '0', 3, NULL);
	raw_data(f, "abs", 3);
	raw_header(f, "//etc/passwd", '0', 4, NULL);
	raw_data(f, "evil", 4);
	raw_end(f);
	CHECK_EQ(nydusfs_source_tar(t, path), 0);
	CHECK(data_is(t, get(t, "abs/file"), "abs", 3));
	CHECK(data_is(t, get(t, "etc/passwd"), "evil", 4));
	nydusfs_tree_free(t);
	return 0;
}

static int test_hostile_symlink_parent(void)
{
	const struct tent e1[] = { { "link/passwd", .data = "x" }, { NULL } };
	const struct tent e2[] = { { "up/x", .data = "x" }, { NULL } };
	const struct tent e3[] = { { "link/", AE_IFDIR }, { "link/x" },
				   { NULL } };
	const struct tent e4[] = { { "link/.wh.passwd" }, { NULL } };
	const struct tent e5[] = { { "link/.wh..wh..opq" }, { NULL } };
	const struct tent e6[] = { { "h", T_HARDLINK, .target = "link/passwd" },
				   { NULL } };
	const struct tent e7[] = { { "file/x", .data = "x" }, { NULL } };
	struct nydusfs_tree *t;

	CHECK(!hostile("sym1.tar", e1, -ENOTDIR, NULL));
	CHECK(!hostile("sym2.tar", e2, -ENOTDIR, NULL));
	/* a directory entry replaces the symlink: then "link/x" is inside */
	CHECK(!hostile("sym3.tar", e3, 0, &t));
	CHECK(get(t, "link/x") && get(t, "etc/passwd"));
	nydusfs_tree_free(t);
	CHECK(!hostile("sym4.tar", e4, -ENOTDIR, NULL));
	CHECK(!hostile("sym5.tar", e5, -ENOTDIR, NULL));
	CHECK(!hostile("sym6.tar", e6, -ENOTDIR, NULL));
	CHECK(!hostile("sym7.tar", e7, -ENOTDIR, NULL));
	return 0;
}

static int test_hostile_hardlinks(void)
{
	const struct tent e1[] = { { "h", T_HARDLINK, .target = "nope" },
				   { NULL } };
	const struct tent e2[] = { { "h", T_HARDLINK,
				     .target = "../etc/passwd" }, { NULL } };
	const struct tent e3[] = { { "h", T_HARDLINK, .target = "etc" },
				   { NULL } };
	const struct tent e4[] = { { "h", T_HARDLINK, .target = "./" },
				   { NULL } };
	const struct tent e5[] = { { "h", T_HARDLINK, .target = "/etc/passwd" },
				   { NULL } };
	const struct tent e6[] = { { "h", T_HARDLINK, .target = "later" },
				   { "later", .data = "l" }, { NULL } };
	struct nydusfs_tree *t;

	CHECK(!hostile("hl1.tar", e1, -ENOENT, NULL));
	CHECK(!hostile("hl2.tar", e2, -EINVAL, NULL));
	CHECK(!hostile("hl3.tar", e3, -EPERM, NULL));
	CHECK(!hostile("hl4.tar", e4, -EPERM, NULL));
	CHECK(!hostile("hl5.tar", e5, 0, &t));	/* "/" dropped, as tar does */
	CHECK(get(t, "h") == get(t, "etc/passwd"));
	nydusfs_tree_free(t);
	CHECK(!hostile("hl6.tar", e6, -ENOENT, NULL));
	return 0;
}

static long maxrss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static int test_hostile_sizes(void)
{
	char path[PATH_MAX];
	struct nydusfs_tree *t;
	FILE *f;
	long rss = maxrss_kb();
	int err;

	/* 2 TiB claimed */
	f = fopen(tpath(path, "huge.tar"), "w");
	CHECK(f);
	raw_header(f, "huge", '0', 2ULL << 40, NULL);
	raw_data(f, "x", 1);
	raw_end(f);
	t = nydusfs_tree_new();
	CHECK(t);
	CHECK_EQ(nydusfs_source_tar(t, path), -EFBIG);
	nydusfs_tree_free(t);

	/* 64 GiB claimed, 1 KiB there */
	f = fopen(tpath(path, "short.tar"), "w");
	CHECK(f);
	raw_header(f, "short", '0', 64ULL << 30, NULL);
	raw_data(f, path, 1024);
	fclose(f);
	t = nydusfs_tree_new();
	CHECK(t);
	err = nydusfs_source_tar(t, path);
	CHECK(err < 0);
	CHECK(!get(t, "short"));
	nydusfs_tree_free(t);
	/* no memory was taken for the claimed size */
	CHECK(maxrss_kb() - rss < 64 * 1024);

	/* 1 MiB claimed, 10 KiB there, then the end blocks: still short */
	f = fopen(tpath(path, "short2.tar"), "w");
	CHECK(f);
	raw_header(f, "short", '0', 1 << 20, NULL);
	raw_data(f, path, 1024);
	raw_end(f);
	t = nydusfs_tree_new();
	CHECK(t);
	CHECK(nydusfs_source_tar(t, path) < 0);
	nydusfs_tree_free(t);
	return 0;
}

static int test_hostile_duplicates(void)
{
	const struct tent e1[] = {
		{ "f", .data = "one" }, { "f", .data = "two" },
		{ "d/x/y", .data = "y" }, { "d", .data = "now a file" },
		{ "g", .data = "g" }, { "g", AE_IFDIR, 0700 }, { "g/y", .data = "y" },
		{ "s", AE_IFLNK, .target = "f" }, { "s", .data = "s" },
		{ "h", T_HARDLINK, .target = "f" }, { "h", .data = "h" },
		{ NULL }
	};
	struct nydusfs_tree *t;
	struct nydusfs_node *n;

	CHECK(!hostile("dup.tar", e1, 0, &t));
	CHECK(data_is(t, get(t, "f"), "two", 3));
	CHECK(data_is(t, get(t, "d"), "now a file", 10));
	CHECK(!get(t, "d/x"));
	n = get(t, "g");
	CHECK(n && n->mode == (S_IFDIR | 0700) && get(t, "g/y"));
	CHECK(data_is(t, get(t, "s"), "s", 1));
	CHECK(data_is(t, get(t, "h"), "h", 1) && get(t, "f")->tree_refs == 1);
	nydusfs_tree_free(t);
	return 0;
}

static int test_hostile_names(void)
{
	char longname[300], path[PATH_MAX];
	const struct tent e1[] = { { longname, .data = "x" }, { NULL } };
	const struct tent e2[] = { { "ok", .data = "x" },
				   { "h", T_HARDLINK, .target = longname },
				   { NULL } };
	struct nydusfs_tree *t;
	FILE *f;

	memset(longname, 'n', 256);
	longname[256] = '\0';
	CHECK(!hostile("long.tar", e1, -ENAMETOOLONG, NULL));
	CHECK(!hostile("long2.tar", e2, -ENAMETOOLONG, NULL));
	longname[255] = '\0';		/* 255 is fine */
	CHECK(!hostile("long3.tar", e1, 0, &t));
	CHECK(get(t, longname));
	nydusfs_tree_free(t);

	f = fopen(tpath(path, "empty-name.tar"), "w");
	CHECK(f);
	raw_header(f, "", '0', 1, NULL);
	raw_data(f, "x", 1);
	raw_end(f);
	t = nydusfs_tree_new();
	CHECK(t);
	CHECK(nydusfs_source_tar(t, path) < 0);
	CHECK(!t->root->child_count);
	nydusfs_tree_free(t);

	/* "./" as a regular file cannot replace the root */
	f = fopen(tpath(path, "root-file.tar"), "w");
	CHECK(f);
	raw_header(f, ".", '0', 0, NULL);
	raw_end(f);
	t = nydusfs_tree_new();
	CHECK(t);
	CHECK_EQ(nydusfs_source_tar(t, path), -EEXIST);
	nydusfs_tree_free(t);

	/* whiteouts of "." and ".." */
	f = fopen(tpath(path, "wh-dot.tar"), "w");
	CHECK(f);
	raw_header(f, "a/.wh..", '0', 0, NULL);
	raw_end(f);
	t = nydusfs_tree_new();
	CHECK(t);
	CHECK_EQ(nydusfs_source_tar(t, path), -EINVAL);
	nydusfs_tree_free(t);
	return 0;
}

static int test_not_a_tar(void)
{
	char path[PATH_MAX], cmd[2 * PATH_MAX];
	struct nydusfs_tree *t = nydusfs_tree_new();
	const struct tent ents[] = { { "a", .data = "aaaa" }, { NULL } };
	FILE *f = fopen(tpath(path, "garbage.tar"), "w");

	CHECK(t && f);
	fputs("this is not a tar archive, not at all, no header here\n", f);
	fclose(f);
	CHECK(nydusfs_source_tar(t, path) < 0);
	CHECK(nydusfs_source_tar(t, tpath(path, "missing.tar")) < 0);
	/* a truncated gzip stream */
	CHECK(!write_tar("cut.tar.gz", F_GZIP, ents));
	snprintf(cmd, sizeof(cmd), "truncate -s 30 %s",
		 tpath(path, "cut.tar.gz"));
	CHECK(!run("%s", cmd));
	CHECK(nydusfs_source_tar(t, path) < 0);
	nydusfs_tree_free(t);
	return 0;
}

/* ---- cases: directories ---- */

/* mkdir -p of @depth levels of @name below @top; returns an fd of the last. */
static int mkdeep(const char *top, const char *name, int depth)
{
	int fd = open(top, O_RDONLY | O_DIRECTORY), next, i;

	for (i = 0; fd >= 0 && i < depth; i++) {
		if (mkdirat(fd, name, 0755) && errno != EEXIST)
			return -1;
		next = openat(fd, name, O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = next;
	}
	return fd;
}

static int write_at(int dirfd, const char *name, const char *data)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, data, strlen(data));
	close(fd);
	return n == (ssize_t)strlen(data) ? 0 : -1;
}

static int make_src_tree(const char *root, bool *have_dev)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct timespec ts[2] = { { 1, 0 }, { 1600000000, 123456789 } };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, s;

	if (mkdir(root, 0751) || chmod(root, 0751))
		return -1;
	snprintf(p, sizeof(p), "%s/a", root);
	if (mkdir(p, 0700) || setxattr(p, "user.dir", "d", 1, 0))
		return -1;
	snprintf(p, sizeof(p), "%s/b", root);
	if (mkdir(p, 0755))
		return -1;
	fd = open(root, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || write_at(fd, "a/f1", "hello") ||
	    write_at(fd, "empty", ""))
		return -1;
	snprintf(p, sizeof(p), "%s/a/f1", root);
	if (chown(p, 1234, 5678) || chmod(p, 04640) ||
	    setxattr(p, "user.bin", "\0\1\2\0", 4, 0) ||
	    setxattr(p, "trusted.t", "tt", 2, 0) ||
	    setxattr(p, "security.capability", cap_v2, sizeof(cap_v2), 0) ||
	    utimensat(AT_FDCWD, p, ts, 0))
		return -1;
	snprintf(q, sizeof(q), "%s/a/f2", root);
	if (link(p, q))
		return -1;
	snprintf(q, sizeof(q), "%s/b/f1-link", root);
	if (link(p, q) || symlinkat("a/f1", fd, "s") ||
	    mkfifoat(fd, "fifo", 0600))
		return -1;
	snprintf(p, sizeof(p), "%s/s", root);
	if (lsetxattr(p, "trusted.sym", "s", 1, 0))
		return -1;
	*have_dev = !mknodat(fd, "null", S_IFCHR | 0666, makedev(1, 3)) &&
		    !mknodat(fd, "blk", S_IFBLK | 0600, makedev(259, 300000));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/sock", root);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sun, sizeof(sun)))
		return -1;
	close(s);
	close(fd);
	return 0;
}

static int test_source_dir(void)
{
	char root[PATH_MAX], p[PATH_MAX];
	struct nydusfs_tree *t = nydusfs_tree_new();
	struct nydusfs_node *n, *f1;
	bool have_dev;
	int fd, i;

	CHECK(t);
	CHECK(!make_src_tree(tpath(root, "src"), &have_dev));
	/* 300 levels, and a chain whose path is beyond PATH_MAX */
	fd = mkdeep(root, "d", 300);
	CHECK(fd >= 0 && !write_at(fd, "bottom", "deep"));
	close(fd);
	fd = mkdeep(root, "longlonglonglong", 400);
	CHECK(fd >= 0 && !write_at(fd, "far", "far away"));
	close(fd);

	CHECK_EQ(nydusfs_source_dir(t, root), 0);
	CHECK(t->root->mode == (S_IFDIR | 0751));
	f1 = get(t, "a/f1");
	CHECK(data_is(t, f1, "hello", 5) && f1->source == NYDUSFS_DATA_PATH);
	CHECK(f1->mode == (S_IFREG | 04640) && f1->uid == 1234 &&
	      f1->gid == 5678);
	CHECK(f1->mtime == 1600000000 && f1->mtime_nsec == 123456789);
	CHECK(xattr_is(f1, "user.bin", "\0\1\2\0", 4));
	CHECK(xattr_is(f1, "trusted.t", "tt", 2));
	CHECK(xattr_is(f1, "security.capability", cap_v2, sizeof(cap_v2)));
	CHECK(get(t, "a/f2") == f1 && get(t, "b/f1-link") == f1);
	CHECK(f1->tree_refs == 3);
	n = get(t, "a");
	CHECK(n && n->mode == (S_IFDIR | 0700) && xattr_is(n, "user.dir", "d", 1));
	n = get(t, "s");
	CHECK(n && S_ISLNK(n->mode) && !strcmp(n->symlink, "a/f1"));
	CHECK(xattr_is(n, "trusted.sym", "s", 1));
	n = get(t, "empty");
	CHECK(n && S_ISREG(n->mode) && n->source == NYDUSFS_DATA_NONE);
	CHECK(S_ISFIFO(get(t, "fifo")->mode) && S_ISSOCK(get(t, "sock")->mode));
	if (have_dev) {
		CHECK(get(t, "null")->rdev == 0x103);
		CHECK(get(t, "blk")->rdev == encode_dev(259, 300000));
		CHECK(S_ISBLK(get(t, "blk")->mode));
	}
	/* deep: walk the tree, not paths */
	for (n = get(t, "d"), i = 1; n && i < 300; i++)
		n = n->child_count ? n->children[0].node : NULL;
	CHECK(n && n->child_count == 1);	/* "bottom" */
	CHECK(data_is(t, n->children[0].node, "deep", 4));
	for (n = get(t, "longlonglonglong"), i = 1; n && i < 400; i++)
		n = n->child_count ? n->children[0].node : NULL;
	CHECK(n && n->child_count == 1);
	CHECK(strlen(n->children[0].node->src_path) > PATH_MAX);
	CHECK(data_is(t, n->children[0].node, "far away", 8));
	nydusfs_tree_free(t);

	/* nydusfs_node_from_path() */
	CHECK(!nydusfs_node_from_path(tpath(p, "src/a/f1"), &n));
	CHECK(n->size == 5 && n->uid == 1234 && n->xattr_count == 3);
	CHECK(n->source == NYDUSFS_DATA_PATH && !strcmp(n->src_path, p));
	nydusfs_node_put(n);
	CHECK(!nydusfs_node_from_path(tpath(p, "src/s"), &n));
	CHECK(!strcmp(n->symlink, "a/f1"));
	nydusfs_node_put(n);
	CHECK_EQ(nydusfs_node_from_path(tpath(p, "src/nope"), &n), -ENOENT);
	return 0;
}

/* A directory layer over a tar layer: files replace, directories merge. */
static int test_dir_layer(void)
{
	const struct tent l1[] = {
		{ "x/old", .data = "old" }, { "y", .data = "was a file" },
		{ "z/sub/q", .data = "q" }, { "same", .data = "tar" },
		{ NULL }
	};
	char root[PATH_MAX];
	struct nydusfs_tree *t = nydusfs_tree_new();
	int fd;

	CHECK(t);
	CHECK_EQ(apply(t, "dl.tar", F_NONE, l1), 0);
	fd = mkdeep(tpath(root, "%s", ""), "dl", 1);
	CHECK(fd >= 0);
	CHECK(!mkdirat(fd, "x", 0700) && !mkdirat(fd, "y", 0755));
	CHECK(!write_at(fd, "x/new", "new") && !write_at(fd, "y/in", "in"));
	CHECK(!write_at(fd, "z", "now a file") && !write_at(fd, "same", "dir"));
	close(fd);
	CHECK_EQ(nydusfs_source_dir(t, tpath(root, "dl/")), 0);
	CHECK(data_is(t, get(t, "x/old"), "old", 3));
	CHECK(data_is(t, get(t, "x/new"), "new", 3));
	CHECK(get(t, "x")->mode == (S_IFDIR | 0700));
	CHECK(data_is(t, get(t, "y/in"), "in", 2));
	CHECK(data_is(t, get(t, "z"), "now a file", 10) && !get(t, "z/sub"));
	CHECK(data_is(t, get(t, "same"), "dir", 3));
	nydusfs_tree_free(t);
	return 0;
}

/* As nobody, on files only root may read: a clear error naming them. */
static int test_dir_unreadable(void)
{
	char root[PATH_MAX], p[PATH_MAX];
	int fd, status;
	pid_t pid;

	if (geteuid())
		return SKIP;
	fd = mkdeep(tpath(root, "%s", ""), "unread", 1);
	CHECK(fd >= 0 && !write_at(fd, "secret", "s"));
	CHECK(!fchmod(fd, 0755));
	close(fd);
	CHECK(!chmod(tpath(p, "unread/secret"), 0600));
	fd = mkdeep(tpath(root, "%s", ""), "unread2", 2);
	CHECK(fd >= 0 && !fchmod(fd, 0700));
	close(fd);
	CHECK(!chmod(tpath(p, "unread2"), 0755));
	CHECK(!chmod(tmpdir, 0755));

	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		struct nydusfs_tree *t = nydusfs_tree_new();

		if (setgid(65534) || setuid(65534))
			_exit(2);
		if (nydusfs_source_dir(t, tpath(p, "unread")) != -EACCES)
			_exit(3);
		nydusfs_tree_free(t);
		t = nydusfs_tree_new();
		if (nydusfs_source_dir(t, tpath(p, "unread2")) != -EACCES)
			_exit(4);
		nydusfs_tree_free(t);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : 100, 0);
	chmod(tmpdir, 0700);
	return 0;
}

/* ---- cases: OCI image layouts ---- */

static bool have_umoci(void)
{
	return !system("umoci --version >/dev/null 2>&1");
}

/* The digest and size of the manifest tagged @tag in layout @dir. */
static int manifest_of(const char *dir, const char *tag, char *digest,
		       json_int_t *size)
{
	char path[PATH_MAX];
	json_t *index, *m, *ann;
	const char *name;
	size_t i;
	int ret = -1;

	snprintf(path, sizeof(path), "%s/index.json", dir);
	index = json_load_file(path, 0, NULL);
	json_array_foreach(json_object_get(index, "manifests"), i, m) {
		ann = json_object_get(m, "annotations");
		name = json_string_value(json_object_get(ann,
				"org.opencontainers.image.ref.name"));
		if (name && !strcmp(name, tag)) {
			strcpy(digest, json_string_value(
				json_object_get(m, "digest")));
			*size = json_integer_value(json_object_get(m, "size"));
			ret = 0;
		}
	}
	json_decref(index);
	return ret;
}

/* Store @text as a blob of layout @dir; its digest into @digest. */
static int put_blob(const char *dir, const char *text, char *digest)
{
	uint8_t d[NYDUSFS_DIGEST_SIZE];
	char hex[2 * NYDUSFS_DIGEST_SIZE + 1], path[PATH_MAX];
	FILE *f;

	if (nydusfs_sha256(text, strlen(text), d))
		return -1;
	nydusfs_digest_to_hex(d, hex);
	sprintf(digest, "sha256:%s", hex);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, hex);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int make_layout(const char *oci)
{
	return run("set -e; cd %s; umoci init --layout img; "
		   "umoci new --image img:v1; "
		   "umoci unpack --image img:v1 bundle >/dev/null; "
		   "r=bundle/rootfs; echo hi > $r/hello; mkdir $r/dir; "
		   "echo a > $r/dir/a; echo b > $r/dir/b; echo g > $r/gone; "
		   "ln $r/hello $r/hello-link; "
		   "umoci repack --refresh-bundle --image img:v1 bundle; "
		   "rm $r/dir/a $r/gone; echo c > $r/dir/c; "
		   "umoci repack --image img:v1 bundle; "
		   "mkdir src2; echo o > src2/only; "
		   "umoci insert --image img:v1 --opaque src2 /dir; "
		   "umoci tag --image img:v1 latest; "
		   "umoci new --image img:empty", oci);
}

static int check_v1(struct nydusfs_tree *t)
{
	CHECK(data_is(t, get(t, "hello"), "hi\n", 3));
	CHECK(get(t, "hello-link") == get(t, "hello"));
	CHECK(!get(t, "gone") && !get(t, "dir/a") && !get(t, "dir/b"));
	CHECK(!get(t, "dir/c") && data_is(t, get(t, "dir/only"), "o\n", 2));
	CHECK(get(t, "dir")->child_count == 1);
	return 0;
}

static int oci_build(const char *ref, int expect, struct nydusfs_tree **out)
{
	struct nydusfs_tree *t = nydusfs_tree_new();
	int err = nydusfs_source_oci(t, ref);

	if (err != expect) {
		fprintf(stderr, "  oci %s: %d (%s), expected %d\n", ref, err,
			strerror(-err), expect);
		nydusfs_tree_free(t);
		return 1;
	}
	if (out)
		*out = t;
	else
		nydusfs_tree_free(t);
	return 0;
}

static int test_source_oci(void)
{
	char oci[PATH_MAX], img[PATH_MAX], p[PATH_MAX];
	struct nydusfs_tree *t;

	if (!have_umoci())
		return SKIP;
	CHECK(!mkdir(tpath(oci, "oci"), 0755));
	CHECK(!make_layout(oci));
	tpath(img, "oci/img");
	CHECK(!oci_build(tpath(p, "oci/img:v1"), 0, &t));
	CHECK(!check_v1(t));
	nydusfs_tree_free(t);
	/* three tags: no tag means "latest" */
	CHECK(!oci_build(img, 0, &t));
	CHECK(!check_v1(t));
	nydusfs_tree_free(t);
	CHECK(!oci_build(tpath(p, "oci/img:empty"), 0, &t));
	CHECK(t->root->child_count == 0);
	nydusfs_tree_free(t);
	CHECK(!oci_build(tpath(p, "oci/img:nope"), -ENOENT, NULL));
	CHECK(!oci_build(tpath(p, "oci/nolayout"), -ENOENT, NULL));
	/* a ':' in the directory's name */
	CHECK(!run("cp -a %s '%s/oci/we:ird'", img, tmpdir));
	CHECK(!oci_build(tpath(p, "oci/we:ird:v1"), 0, NULL));
	CHECK(!oci_build(tpath(p, "oci/we:ird"), 0, NULL));
	CHECK(!oci_build(tpath(p, "oci/we:ird:nope"), -ENOENT, NULL));
	/* an unsupported layout version */
	CHECK(!run("cp -a %s %s/oci/v2 && echo '{\"imageLayoutVersion\":"
		   "\"2.0.0\"}' > %s/oci/v2/oci-layout", img, tmpdir, tmpdir));
	CHECK(!oci_build(tpath(p, "oci/v2"), -EOPNOTSUPP, NULL));
	return 0;
}

/* Every blob is verified: a manifest, the config, a layer. */
static int test_oci_corrupt(void)
{
	char img[PATH_MAX], bad[PATH_MAX], digest[80], path[PATH_MAX];
	const char *kinds[] = { "config", "layer", "manifest", "size" };
	json_int_t size;
	json_t *m;
	size_t i;

	if (!have_umoci())
		return SKIP;
	tpath(img, "oci/img");
	if (access(img, F_OK))
		return SKIP;	/* test_source_oci made it */
	for (i = 0; i < NYDUSFS_ARRAY_SIZE(kinds); i++) {
		tpath(bad, "oci/bad-%s", kinds[i]);
		CHECK(!run("cp -a %s %s", img, bad));
		CHECK(!manifest_of(bad, "v1", digest, &size));
		snprintf(path, sizeof(path), "%s/blobs/sha256/%s", bad,
			 digest + 7);
		m = json_load_file(path, 0, NULL);
		CHECK(m);
		if (!strcmp(kinds[i], "config"))
			strcpy(digest, json_string_value(json_object_get(
				json_object_get(m, "config"), "digest")));
		else if (!strcmp(kinds[i], "layer"))
			strcpy(digest, json_string_value(json_object_get(
				json_array_get(json_object_get(m, "layers"), 1),
				"digest")));
		json_decref(m);
		snprintf(path, sizeof(path), "%s/blobs/sha256/%s", bad,
			 digest + 7);
		if (!strcmp(kinds[i], "size"))	/* longer, same prefix */
			CHECK(!run("echo >> %s", path));
		else			/* same size, one byte changed */
			CHECK(!run("printf 'X' | dd of=%s bs=1 seek=5 "
				   "conv=notrunc status=none", path));
		strcat(bad, ":v1");
		CHECK(!oci_build(bad, -EFSCORRUPTED, NULL));
	}
	/* a digest that tries to leave blobs/ */
	tpath(bad, "oci/bad-path");
	CHECK(!run("cp -a %s %s && sed -i 's/sha256:[0-9a-f]*/sha256:..\\/..\\/..\\/x/g' "
		   "%s/index.json", img, bad, bad));
	CHECK(!oci_build(bad, -EINVAL, NULL));
	return 0;
}

/* An image index (as multi-platform images have) in front of the manifest. */
static int test_oci_index(void)
{
	char img[PATH_MAX], dir[PATH_MAX], mdigest[80], idigest[80];
	char text[2048], path[PATH_MAX];
	struct nydusfs_tree *t;
	json_int_t msize;
	FILE *f;
	int i;

	if (!have_umoci())
		return SKIP;
	tpath(img, "oci/img");
	if (access(img, F_OK))
		return SKIP;
	for (i = 0; i < 2; i++) {
		tpath(dir, "oci/index%d", i);
		CHECK(!run("cp -a %s %s", img, dir));
		CHECK(!manifest_of(dir, "v1", mdigest, &msize));
		snprintf(text, sizeof(text),
			 "{\"schemaVersion\":2,\"mediaType\":"
			 "\"application/vnd.oci.image.index.v1+json\","
			 "\"manifests\":[{\"mediaType\":"
			 "\"application/vnd.oci.image.manifest.v1+json\","
			 "\"digest\":\"%s\",\"size\":%lld,\"platform\":"
			 "{\"architecture\":\"%s\",\"os\":\"linux\"}}]}",
			 mdigest, (long long)msize, i ? "riscv128" : "amd64");
		CHECK(!put_blob(dir, text, idigest));
		snprintf(path, sizeof(path), "%s/index.json", dir);
		f = fopen(path, "w");
		CHECK(f);
		fprintf(f, "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
			"\"application/vnd.oci.image.index.v1+json\","
			"\"digest\":\"%s\",\"size\":%zu,\"annotations\":"
			"{\"org.opencontainers.image.ref.name\":\"multi\"}}]}",
			idigest, strlen(text));
		fclose(f);
	}
	CHECK(!oci_build(tpath(dir, "oci/index0:multi"), 0, &t));
	CHECK(!check_v1(t));
	nydusfs_tree_free(t);
	CHECK(!oci_build(tpath(dir, "oci/index0"), 0, NULL));
	CHECK(!oci_build(tpath(dir, "oci/index1:multi"), -ENOENT, NULL));
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(void);
} cases[] = {
	{ "clean_path", test_clean_path },
	{ "tree_ops", test_tree_ops },
	{ "node_attrs", test_node_attrs },
	{ "spool", test_spool },
	{ "clear_dir_layers", test_clear_dir_layers },
	{ "tar_basic", test_tar_basic },
	{ "tar_filters", test_tar_filters },
	{ "tar_sparse", test_tar_sparse },
	{ "tar_whiteouts", test_whiteouts },
	{ "tar_opaque", test_opaque },
	{ "hostile_dotdot", test_hostile_dotdot },
	{ "hostile_absolute", test_hostile_absolute },
	{ "hostile_symlink_parent", test_hostile_symlink_parent },
	{ "hostile_hardlinks", test_hostile_hardlinks },
	{ "hostile_sizes", test_hostile_sizes },
	{ "hostile_duplicates", test_hostile_duplicates },
	{ "hostile_names", test_hostile_names },
	{ "not_a_tar", test_not_a_tar },
	{ "source_dir", test_source_dir },
	{ "dir_layer", test_dir_layer },
	{ "dir_unreadable", test_dir_unreadable },
	{ "source_oci", test_source_oci },
	{ "oci_corrupt", test_oci_corrupt },
	{ "oci_index", test_oci_index },
};

int main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR");
	int failed = 0, ret;
	bool keep = getenv("KEEP_TMP") != NULL;
	size_t i;

	nydusfs_log_level = argc > 1 && !strcmp(argv[1], "-v") ?
			    NYDUSFS_LOG_DBG : -1;
	snprintf(tmpdir, sizeof(tmpdir), "%s/tree_test.XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	for (i = 0; i < NYDUSFS_ARRAY_SIZE(cases); i++) {
		ret = cases[i].fn();
		printf("%s %s\n", !ret ? "ok" : ret == SKIP ? "skip" : "FAIL",
		       cases[i].name);
		fflush(stdout);
		failed += ret && ret != SKIP;
	}
	if (keep)
		fprintf(stderr, "kept %s\n", tmpdir);
	else
		run("rm -rf '%s'", tmpdir);
	printf("%zu cases, %d failed\n", NYDUSFS_ARRAY_SIZE(cases), failed);
	return failed ? 1 : 0;
}
