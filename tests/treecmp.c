// SPDX-License-Identifier: GPL-2.0
/*
 * treecmp: compare two directory trees and print every difference.
 *
 *   treecmp [OPTIONS] TREE_A TREE_B     exit 0 identical, 1 different,
 *                                       2 usage or I/O error
 *   treecmp --self-test                 exit 0 if treecmp finds what it
 *                                       should, 1 if not
 *
 * Compared: the set of paths, file type, mode, uid, gid, nlink, mtime
 * (seconds and nanoseconds, directories and symlinks too), size, file
 * content (sparse aware: holes in both trees are skipped, so a 5 GiB
 * sparse file costs only its data), symlink targets (never followed),
 * rdev, xattrs (every namespace, binary values, as a sorted set) and the
 * hard-link structure (two paths share an inode in A iff they do in B).
 * atime and ctime are never compared.
 *
 * Both trees are walked together with *at() calls on directory fds, so
 * paths longer than PATH_MAX work.  Names are printed with non-printable
 * bytes escaped as \xNN.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE	(1U << 20)
#define XATTR_LIST_MAX_	(1U << 16)

struct opts {
	bool no_xattr;
	bool no_mtime_dirs;
	bool mtime_seconds;
	bool no_root_attrs;
	bool no_owner;
	bool no_nlink;
	bool quiet;
	unsigned long max_diffs;
};

/* One inode-pairing entry: A's inode maps to B's and back. */
struct ino_map {
	uint64_t *keys;
	uint64_t *vals;
	char **paths;
	size_t cap, used;
};

struct cmp {
	struct opts o;
	FILE *out;
	unsigned long diffs;
	int errors;
	struct ino_map a2b, b2a;
};

/* Scratch buffers for file data, xattr values and symlink targets. */
static char buf_a[BUF_SIZE], buf_b[BUF_SIZE];

/* A path relative to the tree roots, grown and shrunk while walking. */
struct relpath {
	char *s;
	size_t len, cap;
};

static void print_escaped(FILE *out, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c < 0x20 || c >= 0x7f || c == '\\')
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
}

static void diff(struct cmp *c, const struct relpath *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void diff(struct cmp *c, const struct relpath *p, const char *fmt, ...)
{
	va_list ap;

	c->diffs++;
	if (c->o.quiet)
		return;
	if (c->diffs > c->o.max_diffs) {
		if (c->diffs == c->o.max_diffs + 1)
			fprintf(c->out, "... (more differences not shown)\n");
		return;
	}
	fputs(p->len ? "" : ".", c->out);
	print_escaped(c->out, p->s, p->len);
	fputs(": ", c->out);
	va_start(ap, fmt);
	vfprintf(c->out, fmt, ap);
	va_end(ap);
	fputc('\n', c->out);
}

static void io_error(struct cmp *c, const struct relpath *p, const char *what,
		     int err)
{
	c->errors++;
	fprintf(stderr, "treecmp: ");
	print_escaped(stderr, p->s, p->len);
	fprintf(stderr, ": %s: %s\n", what, strerror(err));
}

static int relpath_push(struct relpath *p, const char *name, size_t *saved)
{
	size_t n = strlen(name), need = p->len + n + 2;

	if (need > p->cap) {
		char *s = realloc(p->s, need * 2);

		if (!s)
			return -ENOMEM;
		p->s = s;
		p->cap = need * 2;
	}
	*saved = p->len;
	if (p->len)
		p->s[p->len++] = '/';
	memcpy(p->s + p->len, name, n + 1);
	p->len += n;
	return 0;
}

static void relpath_pop(struct relpath *p, size_t saved)
{
	p->len = saved;
	p->s[saved] = '\0';
}

/* ---- the inode pairing table (open addressing, key = st_ino + 1) ---- */

static uint64_t ino_hash(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k;
}

static int ino_map_grow(struct ino_map *m)
{
	struct ino_map n = { .cap = m->cap ? m->cap * 2 : 1024 };
	size_t i;

	n.keys = calloc(n.cap, sizeof(*n.keys));
	n.vals = calloc(n.cap, sizeof(*n.vals));
	n.paths = calloc(n.cap, sizeof(*n.paths));
	if (!n.keys || !n.vals || !n.paths) {
		free(n.keys);
		free(n.vals);
		free(n.paths);
		return -ENOMEM;
	}
	for (i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->keys[i])
			continue;
		for (j = ino_hash(m->keys[i]) & (n.cap - 1); n.keys[j];
		     j = (j + 1) & (n.cap - 1))
			;
		n.keys[j] = m->keys[i];
		n.vals[j] = m->vals[i];
		n.paths[j] = m->paths[i];
		n.used++;
	}
	free(m->keys);
	free(m->vals);
	free(m->paths);
	*m = n;
	return 0;
}

/* Returns the slot of @key, inserting it (value @val) if absent. */
static long ino_map_get(struct ino_map *m, uint64_t key, uint64_t val,
			const struct relpath *p, bool *found)
{
	size_t j;

	if ((m->used + 1) * 2 > m->cap && ino_map_grow(m))
		return -ENOMEM;
	key++;
	for (j = ino_hash(key) & (m->cap - 1); m->keys[j];
	     j = (j + 1) & (m->cap - 1)) {
		if (m->keys[j] == key) {
			*found = true;
			return j;
		}
	}
	*found = false;
	m->keys[j] = key;
	m->vals[j] = val;
	m->paths[j] = strdup(p->s);
	m->used++;
	return m->paths[j] ? (long)j : -ENOMEM;
}

static void ino_map_free(struct ino_map *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++)
		free(m->paths[i]);
	free(m->keys);
	free(m->vals);
	free(m->paths);
}

static void check_link_one(struct cmp *c, struct ino_map *m, const char *side,
			   uint64_t from, uint64_t to, const struct relpath *p)
{
	bool found;
	long slot = ino_map_get(m, from, to, p, &found);

	if (slot < 0) {
		io_error(c, p, "inode table", -slot);
		return;
	}
	if (found && m->vals[slot] != to) {
		diff(c, p, "hard links differ: shares an inode with ");
		if (!c->o.quiet && c->diffs <= c->o.max_diffs) {
			print_escaped(c->out, m->paths[slot],
				      strlen(m->paths[slot]));
			fprintf(c->out, " in %s only\n", side);
		}
	}
}

/* Two paths share an inode in A iff they share it in B. */
static void check_links(struct cmp *c, const struct stat *a,
			const struct stat *b, const struct relpath *p)
{
	if (S_ISDIR(a->st_mode))
		return;
	check_link_one(c, &c->a2b, "A", a->st_ino, b->st_ino, p);
	check_link_one(c, &c->b2a, "B", b->st_ino, a->st_ino, p);
}

/* ---- content ---- */

/* End of the current data or hole extent at @pos; @data says which. */
static off_t extent_end(int fd, off_t pos, off_t size, bool *data)
{
	off_t d = lseek(fd, pos, SEEK_DATA);

	if (d < 0)
		d = size;	/* ENXIO: only a hole remains */
	if (d > pos) {
		*data = false;
		return d;
	}
	*data = true;
	d = lseek(fd, pos, SEEK_HOLE);
	return d < 0 ? size : d;
}

static ssize_t pread_full(int fd, char *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			break;
		done += n;
	}
	return done;
}

static int cmp_range(struct cmp *c, int fa, int fb, off_t pos, off_t end,
		     const struct relpath *p)
{
	while (pos < end) {
		size_t len = end - pos > BUF_SIZE ? BUF_SIZE : end - pos;
		ssize_t na = pread_full(fa, buf_a, len, pos);
		ssize_t nb = pread_full(fb, buf_b, len, pos);
		size_t i;

		if (na < 0 || nb < 0) {
			io_error(c, p, "read", na < 0 ? -na : -nb);
			return -1;
		}
		if (na != (ssize_t)len || nb != (ssize_t)len) {
			diff(c, p, "short read at %lld", (long long)pos);
			return 1;
		}
		if (memcmp(buf_a, buf_b, len)) {
			for (i = 0; buf_a[i] == buf_b[i]; i++)
				;
			diff(c, p, "content differs at offset %lld",
			     (long long)(pos + i));
			return 1;
		}
		pos += len;
	}
	return 0;
}

/*
 * Walk both files' extents together: a range that is a hole in both is
 * equal; anything else is read (a hole reads as zeros) and compared.
 */
static void cmp_content(struct cmp *c, int dfa, int dfb, const char *name,
			off_t size, const struct relpath *p)
{
	int fa = openat(dfa, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int fb = openat(dfb, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	off_t pos = 0;

	if (fa < 0 || fb < 0) {
		io_error(c, p, "open", errno);
		goto out;
	}
	while (pos < size) {
		bool da, db;
		off_t ea = extent_end(fa, pos, size, &da);
		off_t eb = extent_end(fb, pos, size, &db);
		off_t end = ea < eb ? ea : eb;

		if (end > size)
			end = size;
		if (end <= pos)	/* should not happen; compare the rest */
			end = size;
		if ((da || db) && cmp_range(c, fa, fb, pos, end, p))
			break;
		pos = end;
	}
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
}

/* ---- xattrs ---- */

struct xattrs {
	char *names;		/* the raw llistxattr() list */
	char **sorted;
	size_t count;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void proc_path(char *buf, size_t len, int dfd, const char *name)
{
	snprintf(buf, len, "/proc/self/fd/%d/%s", dfd, name);
}

static int xattrs_load(int dfd, const char *name, struct xattrs *x)
{
	char path[64 + NAME_MAX];
	ssize_t n;
	char *s;

	memset(x, 0, sizeof(*x));
	proc_path(path, sizeof(path), dfd, name);
	n = llistxattr(path, NULL, 0);
	if (n < 0)
		return errno == ENOTSUP ? 0 : -errno;
	x->names = malloc(n + 1);
	if (!x->names)
		return -ENOMEM;
	n = llistxattr(path, x->names, n);
	if (n < 0)
		return -errno;
	for (s = x->names; s < x->names + n; s += strlen(s) + 1)
		x->count++;
	x->sorted = calloc(x->count + 1, sizeof(char *));
	if (!x->sorted)
		return -ENOMEM;
	x->count = 0;
	for (s = x->names; s < x->names + n; s += strlen(s) + 1)
		x->sorted[x->count++] = s;
	qsort(x->sorted, x->count, sizeof(char *), name_cmp);
	return 0;
}

static void xattrs_free(struct xattrs *x)
{
	free(x->names);
	free(x->sorted);
}

static ssize_t xattr_value(int dfd, const char *name, const char *key,
			   char *buf)
{
	char path[64 + NAME_MAX];
	ssize_t n;

	proc_path(path, sizeof(path), dfd, name);
	n = lgetxattr(path, key, buf, XATTR_LIST_MAX_);
	return n < 0 ? -errno : n;
}

static void cmp_xattrs(struct cmp *c, int dfa, int dfb, const char *name,
		       const struct relpath *p)
{
	struct xattrs xa, xb;
	size_t i = 0, j = 0;
	int ret;

	ret = xattrs_load(dfa, name, &xa);
	if (!ret)
		ret = xattrs_load(dfb, name, &xb);
	else
		memset(&xb, 0, sizeof(xb));
	if (ret) {
		io_error(c, p, "listxattr", -ret);
		goto out;
	}
	while (i < xa.count || j < xb.count) {
		int d = i == xa.count ? 1 : j == xb.count ? -1 :
			strcmp(xa.sorted[i], xb.sorted[j]);
		ssize_t na, nb;

		if (d < 0) {
			diff(c, p, "xattr %s only in A", xa.sorted[i++]);
			continue;
		}
		if (d > 0) {
			diff(c, p, "xattr %s only in B", xb.sorted[j++]);
			continue;
		}
		na = xattr_value(dfa, name, xa.sorted[i], buf_a);
		nb = xattr_value(dfb, name, xb.sorted[j], buf_b);
		if (na < 0 || nb < 0)
			io_error(c, p, "getxattr", na < 0 ? -na : -nb);
		else if (na != nb || memcmp(buf_a, buf_b, na))
			diff(c, p, "xattr %s value differs (%zd vs %zd bytes)",
			     xa.sorted[i], na, nb);
		i++;
		j++;
	}
out:
	xattrs_free(&xa);
	xattrs_free(&xb);
}

/* ---- one pair of entries ---- */

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "regular file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "char device";
	case S_IFBLK: return "block device";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	}
	return "unknown";
}

static void cmp_symlinks(struct cmp *c, int dfa, int dfb, const char *name,
			 const struct relpath *p)
{
	ssize_t na = readlinkat(dfa, name, buf_a, BUF_SIZE);
	ssize_t nb = readlinkat(dfb, name, buf_b, BUF_SIZE);

	if (na < 0 || nb < 0) {
		io_error(c, p, "readlink", errno);
		return;
	}
	if (na != nb || memcmp(buf_a, buf_b, na)) {
		diff(c, p, "symlink target differs");
		if (!c->o.quiet && c->diffs <= c->o.max_diffs) {
			fputs("  A: ", c->out);
			print_escaped(c->out, buf_a, na);
			fputs("\n  B: ", c->out);
			print_escaped(c->out, buf_b, nb);
			fputc('\n', c->out);
		}
	}
}

static void cmp_dir(struct cmp *c, int dfa, int dfb, struct relpath *p);

static void cmp_attrs(struct cmp *c, const struct stat *a, const struct stat *b,
		      bool root, const struct relpath *p)
{
	bool is_dir = S_ISDIR(a->st_mode);

	if (root && c->o.no_root_attrs)
		return;
	if (a->st_mode != b->st_mode)
		diff(c, p, "mode %06o vs %06o", a->st_mode, b->st_mode);
	if (!c->o.no_owner && (a->st_uid != b->st_uid || a->st_gid != b->st_gid))
		diff(c, p, "owner %u:%u vs %u:%u", a->st_uid, a->st_gid,
		     b->st_uid, b->st_gid);
	if (!c->o.no_nlink && a->st_nlink != b->st_nlink)
		diff(c, p, "nlink %lu vs %lu", (unsigned long)a->st_nlink,
		     (unsigned long)b->st_nlink);
	if (!(is_dir && c->o.no_mtime_dirs) &&
	    (a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	     (!c->o.mtime_seconds &&
	      a->st_mtim.tv_nsec != b->st_mtim.tv_nsec)))
		diff(c, p, "mtime %lld.%09ld vs %lld.%09ld",
		     (long long)a->st_mtim.tv_sec, a->st_mtim.tv_nsec,
		     (long long)b->st_mtim.tv_sec, b->st_mtim.tv_nsec);
}

static void cmp_entry(struct cmp *c, int dfa, int dfb, const char *name,
		      bool root, struct relpath *p)
{
	struct stat a, b;

	if (fstatat(dfa, name, &a, AT_SYMLINK_NOFOLLOW) ||
	    fstatat(dfb, name, &b, AT_SYMLINK_NOFOLLOW)) {
		io_error(c, p, "stat", errno);
		return;
	}
	if ((a.st_mode & S_IFMT) != (b.st_mode & S_IFMT)) {
		diff(c, p, "type %s vs %s", type_name(a.st_mode),
		     type_name(b.st_mode));
		return;
	}
	cmp_attrs(c, &a, &b, root, p);
	check_links(c, &a, &b, p);
	if (!c->o.no_xattr)
		cmp_xattrs(c, dfa, dfb, name, p);

	switch (a.st_mode & S_IFMT) {
	case S_IFREG:
		if (a.st_size != b.st_size)
			diff(c, p, "size %lld vs %lld", (long long)a.st_size,
			     (long long)b.st_size);
		else
			cmp_content(c, dfa, dfb, name, a.st_size, p);
		break;
	case S_IFLNK:
		cmp_symlinks(c, dfa, dfb, name, p);
		break;
	case S_IFCHR:
	case S_IFBLK:
		if (a.st_rdev != b.st_rdev)
			diff(c, p, "rdev %u:%u vs %u:%u", major(a.st_rdev),
			     minor(a.st_rdev), major(b.st_rdev),
			     minor(b.st_rdev));
		break;
	case S_IFDIR: {
		int sa = openat(dfa, name, O_RDONLY | O_DIRECTORY |
				O_NOFOLLOW | O_CLOEXEC);
		int sb = openat(dfb, name, O_RDONLY | O_DIRECTORY |
				O_NOFOLLOW | O_CLOEXEC);

		if (sa < 0 || sb < 0)
			io_error(c, p, "open directory", errno);
		else
			cmp_dir(c, sa, sb, p);
		if (sa >= 0)
			close(sa);
		if (sb >= 0)
			close(sb);
		break;
	}
	}
}

/* ---- directories ---- */

struct names {
	char **v;
	size_t n, cap;
};

static int bytes_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the names in @dfd (not "." or ".."), sorted bytewise. */
static int names_load(int dfd, struct names *ns)
{
	int fd = dup(dfd);
	struct dirent *de;
	DIR *d;

	memset(ns, 0, sizeof(*ns));
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (ns->n == ns->cap) {
			size_t cap = ns->cap ? ns->cap * 2 : 16;
			char **v = realloc(ns->v, cap * sizeof(char *));

			if (!v)
				goto nomem;
			ns->v = v;
			ns->cap = cap;
		}
		ns->v[ns->n] = strdup(de->d_name);
		if (!ns->v[ns->n])
			goto nomem;
		ns->n++;
	}
	closedir(d);
	if (ns->n)
		qsort(ns->v, ns->n, sizeof(char *), bytes_cmp);
	return 0;
nomem:
	closedir(d);
	return -ENOMEM;
}

static void names_free(struct names *ns)
{
	size_t i;

	for (i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

static void only_in(struct cmp *c, struct relpath *p, const char *name,
		    const char *side)
{
	size_t saved;

	if (relpath_push(p, name, &saved)) {
		io_error(c, p, "path", ENOMEM);
		return;
	}
	diff(c, p, "only in %s", side);
	relpath_pop(p, saved);
}

static void cmp_dir(struct cmp *c, int dfa, int dfb, struct relpath *p)
{
	struct names na, nb;
	size_t i = 0, j = 0;
	int ret;

	ret = names_load(dfa, &na);
	if (ret) {
		io_error(c, p, "readdir A", -ret);
		return;
	}
	ret = names_load(dfb, &nb);
	if (ret) {
		io_error(c, p, "readdir B", -ret);
		names_free(&na);
		return;
	}
	while (i < na.n || j < nb.n) {
		int d = i == na.n ? 1 : j == nb.n ? -1 :
			strcmp(na.v[i], nb.v[j]);
		size_t saved;

		if (d < 0) {
			only_in(c, p, na.v[i++], "A");
			continue;
		}
		if (d > 0) {
			only_in(c, p, nb.v[j++], "B");
			continue;
		}
		if (relpath_push(p, na.v[i], &saved)) {
			io_error(c, p, "path", ENOMEM);
			break;
		}
		cmp_entry(c, dfa, dfb, na.v[i], false, p);
		relpath_pop(p, saved);
		i++;
		j++;
	}
	names_free(&na);
	names_free(&nb);
}

/*
 * cmp_entry() looks up one name in two directories; the roots have two
 * different names, so compare them through two "." entries instead.
 */
static int compare_roots(const struct opts *o, FILE *out, const char *a,
			 const char *b)
{
	struct cmp c = { .o = *o, .out = out };
	struct relpath p = { 0 };
	int da = -1, db = -1, ret = 2;

	p.s = calloc(1, 256);
	p.cap = 256;
	if (!p.s) {
		fprintf(stderr, "treecmp: out of memory\n");
		goto out;
	}
	da = open(a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (da < 0) {
		fprintf(stderr, "treecmp: %s: %s\n", a, strerror(errno));
		goto out;
	}
	db = open(b, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (db < 0) {
		fprintf(stderr, "treecmp: %s: %s\n", b, strerror(errno));
		goto out;
	}
	cmp_entry(&c, da, db, ".", true, &p);
	ret = c.errors ? 2 : c.diffs ? 1 : 0;
out:
	if (da >= 0)
		close(da);
	if (db >= 0)
		close(db);
	ino_map_free(&c.a2b);
	ino_map_free(&c.b2a);
	free(p.s);
	return ret;
}

/* ---- self test ---- */

struct st_ctx {
	char base[64];
	int n;
	int failed;
};

static int st_write(int dfd, const char *name, const void *buf, size_t len,
		    off_t off, mode_t mode)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, mode);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pwrite(fd, buf, len, off);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static int st_times(int dfd, const char *name, time_t sec, long nsec)
{
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };

	return utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

static int st_mksock(int dfd, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM, 0), ret;

	if (s < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s",
		 dfd, name);
	ret = bind(s, (struct sockaddr *)&sa, sizeof(sa));
	close(s);
	return ret;
}

static int st_xattr(const char *dir, const char *name, const char *key,
		    const void *val, size_t len)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lsetxattr(path, key, val, len, 0);
}

/*
 * The tree every self-test case starts from: one of each file type, a
 * sparse file with data past a hole, xattrs, hard links.
 */
static int st_make_tree(const char *dir)
{
	static const char cap[] = "\x01\x00\x00\x02\x00\x04\x00\x00"
				  "\x00\x00\x00\x00\x00\x00\x00\x00"
				  "\x00\x00\x00\x00";
	static const struct {
		const char *name;
		time_t sec;
		long nsec;
	} times[] = {
		{ "file", 1234567890, 123456789 },
		{ "sparse", 1, 2 },
		{ "sub/big", 3, 4 },
		{ "sub/sym", -100000, 5 },
		{ "fifo", 6, 7 },
		{ "chr", 8, 9 },
		{ "blk", 10, 11 },
		{ "sock", 12, 13 },
		{ "sub/empty", 0, 999999999 },
		{ "sub", 4102444800LL, 1 },
		{ ".", 1000, 1000 },
	};
	size_t i;
	int d, ret = -1;

	if (mkdir(dir, 0755))
		return -1;
	d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return -1;
	if (mkdirat(d, "sub", 0750) || mkdirat(d, "sub/empty", 0700) ||
	    st_write(d, "file", "hello", 5, 0, 0644) ||
	    st_write(d, "sparse", "tail", 4, (off_t)3 << 30, 0600) ||
	    st_write(d, "sparse", "head", 4, 0, 0600) ||
	    st_write(d, "sub/big", "x", 1, (5LL << 20) - 1, 0644) ||
	    linkat(d, "file", d, "sub/link", 0) ||
	    symlinkat("../file", d, "sub/sym") ||
	    mknodat(d, "fifo", S_IFIFO | 0644, 0) ||
	    mknodat(d, "chr", S_IFCHR | 0600, makedev(1, 3)) ||
	    mknodat(d, "blk", S_IFBLK | 0600, makedev(8, 1)) ||
	    st_mksock(d, "sock") ||
	    fchownat(d, "file", 1000, 2000, 0) ||
	    fchmodat(d, "file", 04755, 0) ||
	    st_xattr(dir, "file", "user.x", "", 0) ||
	    st_xattr(dir, "file", "user.bin", "\0\1\2\377", 4) ||
	    st_xattr(dir, "file", "trusted.t", "v", 1) ||
	    st_xattr(dir, "file", "security.capability", cap,
		     sizeof(cap) - 1))
		goto out;
	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		if (st_times(d, times[i].name, times[i].sec, times[i].nsec))
			goto out;
	ret = 0;
out:
	close(d);
	return ret;
}

static int st_rm_cb(const char *path, const struct stat *sb, int type,
		    struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

typedef int (*st_mutate)(const char *dir);

static int st_case(struct st_ctx *t, const char *what, st_mutate mutate,
		   const struct opts *o, int want)
{
	char a[128], b[128];
	FILE *null = fopen("/dev/null", "w");
	int got;

	snprintf(a, sizeof(a), "%s/a%d", t->base, t->n);
	snprintf(b, sizeof(b), "%s/b%d", t->base, t->n);
	t->n++;
	if (!null || st_make_tree(a) || st_make_tree(b) ||
	    (mutate && mutate(b)) ||
	    /* the tree roots' mtime is changed by the mutation */
	    st_times(AT_FDCWD, b, 1000, 1000)) {
		fprintf(stderr, "self-test: %s: setup failed: %s\n", what,
			strerror(errno));
		t->failed++;
		if (null)
			fclose(null);
		return -1;
	}
	got = compare_roots(o, null, a, b);
	fclose(null);
	if (got != want) {
		fprintf(stderr, "self-test: %s: got %d, want %d\n", what, got,
			want);
		t->failed++;
	} else {
		printf("ok: %s\n", what);
	}
	return 0;
}

#define ST_PATH(buf, dir, name) snprintf(buf, sizeof(buf), "%s/%s", dir, name)

static int m_extra(const char *d)
{
	char p[160];

	ST_PATH(p, d, "sub/new");
	return mkdir(p, 0755);
}

static int m_missing(const char *d)
{
	char p[160];

	ST_PATH(p, d, "fifo");
	return unlink(p);
}

static int m_mode(const char *d)
{
	char p[160];

	ST_PATH(p, d, "file");
	return chmod(p, 0755);
}

static int m_uid(const char *d)
{
	char p[160];

	ST_PATH(p, d, "sub/sym");
	return lchown(p, 1, -1);
}

static int m_gid(const char *d)
{
	char p[160];

	ST_PATH(p, d, "sub/empty");
	return lchown(p, -1, 7);
}

static int m_nsec(const char *d)
{
	char p[160];

	ST_PATH(p, d, "file");
	return st_times(AT_FDCWD, p, 1234567890, 123456788);
}

static int m_dir_mtime(const char *d)
{
	char p[160];

	ST_PATH(p, d, "sub/empty");
	return st_times(AT_FDCWD, p, 0, 999999998);
}

static int m_sparse_tail(const char *d)
{
	char p[160];
	int fd;

	ST_PATH(p, d, "sparse");
	fd = open(p, O_WRONLY);
	if (fd < 0 || pwrite(fd, "T", 1, (off_t)3 << 30) != 1)
		return -1;
	close(fd);
	return st_times(AT_FDCWD, p, 1, 2);
}

/* Data where A has a hole: a byte in the middle of the hole. */
static int m_fill_hole(const char *d)
{
	char p[160];
	int fd;

	ST_PATH(p, d, "sparse");
	fd = open(p, O_WRONLY);
	if (fd < 0 || pwrite(fd, "z", 1, (off_t)1 << 30) != 1)
		return -1;
	close(fd);
	return st_times(AT_FDCWD, p, 1, 2);
}

/* Zeros written over a hole: the same content, so no difference. */
static int m_zeros_in_hole(const char *d)
{
	static char zeros[1 << 16];
	char p[160];
	int fd;

	ST_PATH(p, d, "sparse");
	fd = open(p, O_WRONLY);
	if (fd < 0 || pwrite(fd, zeros, sizeof(zeros), 1 << 20) !=
	    sizeof(zeros))
		return -1;
	close(fd);
	return st_times(AT_FDCWD, p, 1, 2);
}

static int m_size(const char *d)
{
	char p[160];

	ST_PATH(p, d, "sub/big");
	if (truncate(p, (5LL << 20) + 1))
		return -1;
	return st_times(AT_FDCWD, p, 3, 4);
}

static int m_content(const char *d)
{
	char p[160];
	int fd;

	ST_PATH(p, d, "sub/big");
	fd = open(p, O_WRONLY);
	if (fd < 0 || pwrite(fd, "y", 1, (5LL << 20) - 1) != 1)
		return -1;
	close(fd);
	return st_times(AT_FDCWD, p, 3, 4);
}

static int m_target(const char *d)
{
	char p[160];

	ST_PATH(p, d, "sub/sym");
	if (unlink(p) || symlink("../filf", p))
		return -1;
	return st_times(AT_FDCWD, p, -100000, 5);
}

static int m_xattr_value(const char *d)
{
	char p[160];

	ST_PATH(p, d, "file");
	return lsetxattr(p, "user.bin", "\0\1\2\376", 4, 0);
}

static int m_xattr_extra(const char *d)
{
	char p[160];

	ST_PATH(p, d, "sub");
	return lsetxattr(p, "trusted.extra", "", 0, 0);
}

static int m_xattr_missing(const char *d)
{
	char p[160];

	ST_PATH(p, d, "file");
	return lremovexattr(p, "security.capability");
}

/* The link becomes a copy with the same attributes (run with --no-nlink). */
static int m_broken_link(const char *d)
{
	char p[160];

	ST_PATH(p, d, "sub/link");
	if (unlink(p) || st_write(AT_FDCWD, p, "hello", 5, 0, 0644) ||
	    lchown(p, 1000, 2000) || chmod(p, 04755) ||
	    lsetxattr(p, "user.x", "", 0, 0) ||
	    lsetxattr(p, "user.bin", "\0\1\2\377", 4, 0) ||
	    lsetxattr(p, "trusted.t", "v", 1, 0) ||
	    lsetxattr(p, "security.capability", "\x01\x00\x00\x02\x00\x04"
		      "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
		      "\x00\x00", 20, 0) ||
	    st_times(AT_FDCWD, p, 1234567890, 123456789))
		return -1;
	ST_PATH(p, d, "sub");
	return st_times(AT_FDCWD, p, 4102444800LL, 1);
}

static int m_type(const char *d)
{
	char p[160];

	ST_PATH(p, d, "fifo");
	if (unlink(p))
		return -1;
	return mknod(p, S_IFCHR | 0644, makedev(1, 3));
}

static int m_rdev(const char *d)
{
	char p[160];

	ST_PATH(p, d, "blk");
	if (unlink(p))
		return -1;
	return mknod(p, S_IFBLK | 0600, makedev(8, 2));
}

static int self_test(void)
{
	static const struct {
		const char *what;
		st_mutate fn;
		int want;
	} cases[] = {
		{ "identical trees", NULL, 0 },
		{ "zeros written over a hole are equal", m_zeros_in_hole, 0 },
		{ "extra directory", m_extra, 1 },
		{ "missing fifo", m_missing, 1 },
		{ "mode", m_mode, 1 },
		{ "symlink uid", m_uid, 1 },
		{ "directory gid", m_gid, 1 },
		{ "mtime nanoseconds", m_nsec, 1 },
		{ "directory mtime", m_dir_mtime, 1 },
		{ "sparse file data after 3 GiB", m_sparse_tail, 1 },
		{ "data in a hole", m_fill_hole, 1 },
		{ "size", m_size, 1 },
		{ "last byte", m_content, 1 },
		{ "symlink target", m_target, 1 },
		{ "binary xattr value", m_xattr_value, 1 },
		{ "extra trusted xattr", m_xattr_extra, 1 },
		{ "missing security.capability", m_xattr_missing, 1 },
		{ "file type", m_type, 1 },
		{ "rdev", m_rdev, 1 },
	};
	struct opts o = { .max_diffs = 100 };
	struct st_ctx t = { .base = "/tmp/treecmp-selftest.XXXXXX" };
	size_t i;

	if (!mkdtemp(t.base)) {
		perror("treecmp: mkdtemp");
		return 1;
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		st_case(&t, cases[i].what, cases[i].fn, &o, cases[i].want);
	/* The ignore options ignore what they say, and only that. */
	o.no_mtime_dirs = true;
	st_case(&t, "--no-mtime-dirs ignores a dir mtime", m_dir_mtime, &o, 0);
	st_case(&t, "--no-mtime-dirs still sees a file mtime", m_nsec, &o, 1);
	o.no_mtime_dirs = false;
	o.mtime_seconds = true;
	st_case(&t, "--mtime-seconds ignores nanoseconds", m_nsec, &o, 0);
	o.mtime_seconds = false;
	o.no_xattr = true;
	st_case(&t, "--no-xattr ignores xattrs", m_xattr_value, &o, 0);
	o.no_xattr = false;
	o.no_owner = true;
	st_case(&t, "--no-owner ignores owners", m_uid, &o, 0);
	o.no_owner = false;
	o.no_nlink = true;
	st_case(&t, "hard link replaced by an identical copy", m_broken_link,
		&o, 1);

	nftw(t.base, st_rm_cb, 64, FTW_DEPTH | FTW_PHYS);
	if (t.failed) {
		fprintf(stderr, "treecmp self-test: %d case(s) failed\n",
			t.failed);
		return 1;
	}
	printf("treecmp self-test: all %d cases passed\n", t.n);
	return 0;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: treecmp [OPTIONS] TREE_A TREE_B\n"
"       treecmp --self-test\n"
"\n"
"Compare two trees: paths, type, mode, owner, nlink, mtime (ns), size,\n"
"content (sparse aware), symlink targets, rdev, xattrs and hard links.\n"
"Exit 0 if identical, 1 if they differ, 2 on a usage or I/O error.\n"
"\n"
"  --no-xattr          do not compare xattrs\n"
"  --no-mtime-dirs     do not compare directory mtimes\n"
"  --mtime-seconds     compare mtimes to the second (for a tree that keeps\n"
"                      no nanoseconds, such as an ext4 from mkfs.ext4 -d)\n"
"  --no-root-attrs     do not compare the attributes of the roots\n"
"  --no-owner          do not compare uid and gid\n"
"  --no-nlink          do not compare link counts\n"
"  --max-diffs N       print at most N differences (default 1000)\n"
"  -q, --quiet         print nothing; only the exit status\n"
"  --self-test         check that treecmp itself finds differences\n"
"  -h, --help          this text\n");
}

int main(int argc, char **argv)
{
	enum { O_NO_XATTR = 256, O_NO_MTIME_DIRS, O_NO_ROOT, O_NO_OWNER,
	       O_NO_NLINK, O_MAX, O_SELF, O_MTIME_SECONDS };
	static const struct option longopts[] = {
		{ "no-xattr", no_argument, NULL, O_NO_XATTR },
		{ "no-mtime-dirs", no_argument, NULL, O_NO_MTIME_DIRS },
		{ "mtime-seconds", no_argument, NULL, O_MTIME_SECONDS },
		{ "no-root-attrs", no_argument, NULL, O_NO_ROOT },
		{ "no-owner", no_argument, NULL, O_NO_OWNER },
		{ "no-nlink", no_argument, NULL, O_NO_NLINK },
		{ "max-diffs", required_argument, NULL, O_MAX },
		{ "quiet", no_argument, NULL, 'q' },
		{ "self-test", no_argument, NULL, O_SELF },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .max_diffs = 1000 };
	int c;

	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (c) {
		case O_NO_XATTR: o.no_xattr = true; break;
		case O_NO_MTIME_DIRS: o.no_mtime_dirs = true; break;
		case O_MTIME_SECONDS: o.mtime_seconds = true; break;
		case O_NO_ROOT: o.no_root_attrs = true; break;
		case O_NO_OWNER: o.no_owner = true; break;
		case O_NO_NLINK: o.no_nlink = true; break;
		case O_MAX: o.max_diffs = strtoul(optarg, NULL, 0); break;
		case 'q': o.quiet = true; break;
		case O_SELF: return self_test();
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	c = compare_roots(&o, stdout, argv[optind], argv[optind + 1]);
	if (c == 1 && !o.quiet)
		fprintf(stdout, "treecmp: %s and %s differ\n", argv[optind],
			argv[optind + 1]);
	return c;
}
