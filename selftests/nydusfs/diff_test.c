// SPDX-License-Identifier: GPL-2.0
/*
 * The differential test: an image mounted by nydusfs, with the test daemon
 * serving its data, against the same tree mounted by the kernel's erofs
 * (mkfs.erofs, on a loop device) or the source tree itself on ext4.
 * treecmp compares paths, types, modes, owners, nlink, mtime (ns), sizes,
 * contents, symlink targets, rdev, xattrs and hard links; then every
 * regular file is read again through read(), pread() at odd offsets,
 * mmap(), sendfile() and splice(), and its st_blocks is checked against
 * the chunks that hold data.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "helpers.h"
#include "nydusfs_fs.h"

#define BIG_FILE	(64ULL << 20)	/* larger files: read() only */

FIXTURE(diff) {
	char tmp[PATH_MAX];
	char mnt[PATH_MAX + 8];
	char ref[PATH_MAX + 8];
	struct st_image img;
	struct st_daemon d;
	unsigned int chunkszbits;
};

FIXTURE_VARIANT(diff) {
	const char *image;
	bool erofs;		/* against erofs, else against the source tree */
};

FIXTURE_VARIANT_ADD(diff, gen_vs_source) { .image = "gen" };
FIXTURE_VARIANT_ADD(diff, gen_vs_erofs) { .image = "gen-e", .erofs = true };
FIXTURE_VARIANT_ADD(diff, small_vs_erofs) { .image = "small", .erofs = true };
FIXTURE_VARIANT_ADD(diff, rootfs_vs_erofs) { .image = "root", .erofs = true };

static int chunk_bits(const char *bootstrap, unsigned int *bits)
{
	struct nydusfs_super_block sb;
	int fd = open(bootstrap, O_RDONLY), err = 0;

	if (fd < 0)
		return -errno;
	if (pread(fd, &sb, sizeof(sb), 0) != sizeof(sb))
		err = -EIO;
	close(fd);
	*bits = sb.chunkszbits;
	return err;
}

FIXTURE_SETUP(diff)
{
	const char *why = st_missing_prereq();
	const char *ref;

	if (why)
		SKIP(return, "%s", why);
	if (st_find_image(variant->image, &self->img))
		SKIP(return, "no image '%s' under %s", variant->image, st_data_dir());
	ref = variant->erofs ? self->img.erofs : self->img.src;
	if (!ref[0])
		SKIP(return, "no %s of '%s'", variant->erofs ? "erofs image" : "source",
		     variant->image);
	ASSERT_EQ(0, chunk_bits(self->img.bootstrap, &self->chunkszbits));
	ASSERT_EQ(0, st_private_mounts());
	ASSERT_EQ(0, st_mkdtemp(self->tmp, sizeof(self->tmp)));
	snprintf(self->mnt, sizeof(self->mnt), "%s/mnt", self->tmp);
	ASSERT_EQ(0, mkdir(self->mnt, 0755));
	if (variant->erofs) {
		snprintf(self->ref, sizeof(self->ref), "%s/ref", self->tmp);
		ASSERT_EQ(0, mkdir(self->ref, 0755));
		ASSERT_EQ(0, st_mount_erofs(ref, self->ref));
	} else {
		snprintf(self->ref, sizeof(self->ref), "%s", ref);
	}
	ASSERT_EQ(0, st_daemon_start(&self->d, self->img.blob_dir, self->tmp,
				     (const char *[]){ "--batch", "4", NULL }));
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, "timeout=60"));
}

FIXTURE_TEARDOWN(diff)
{
	if (self->mnt[0])
		umount2(self->mnt, MNT_DETACH);
	if (self->ref[0] && strncmp(self->ref, self->tmp, strlen(self->tmp)) == 0)
		umount2(self->ref, MNT_DETACH);
	if (!_metadata->passed)
		st_daemon_log(&self->d);
	st_daemon_kill(&self->d, SIGKILL);
	st_rmtree(self->tmp);
}

static void check_daemon(struct __test_metadata *_metadata,
			 const struct st_daemon *d)
{
	EXPECT_EQ(0, st_stat(d, "bad_accepted"));
	EXPECT_EQ(0, st_stat(d, "reply_rejected"));
	EXPECT_EQ(0, st_stat(d, "proto_errors"));
	EXPECT_EQ(0, st_stat(d, "read_errors"));
	TH_LOG("daemon: %ld OPEN, %ld READ, %ld chunks", st_stat(d, "open"),
	       st_stat(d, "read"), st_stat(d, "chunks"));
}

static void run_treecmp(struct __test_metadata *_metadata,
			FIXTURE_DATA(diff) *self,
			const FIXTURE_VARIANT(diff) *variant)
{
	const char *argv[] = { "treecmp", "--max-diffs", "50", self->ref,
			       self->mnt, NULL, NULL };
	double t0 = st_now();

	/* mkfs.ext4 -d keeps no nanoseconds; the erofs variants check them */
	if (!variant->erofs) {
		argv[5] = argv[4];
		argv[4] = argv[3];
		argv[3] = "--mtime-seconds";
	}
	EXPECT_EQ(0, st_run(argv, 230, false));
	TH_LOG("treecmp took %.1f s", st_now() - t0);
	check_daemon(_metadata, &self->d);
}

/* ---- every regular file through every read path ---- */

struct walk {
	struct __test_metadata *_metadata;
	unsigned int chunkszbits;
	char *buf;		/* BUF bytes */
	char *rbuf;
	unsigned long files, bytes, mapped, failures;
	int pipefd[2];
};

#define BUF	(1U << 20)

/* read() to the end: the hash, and bounds on st_blocks from the data */
static int hash_read(struct walk *w, int fd, off_t size, uint64_t *h,
		     uint64_t *lo, uint64_t *hi)
{
	size_t chunk = 1UL << w->chunkszbits;
	off_t pos = 0;
	bool nonzero = false;

	*h = 0;
	*lo = *hi = 0;
	while (pos < size) {
		size_t want = chunk < BUF ? chunk : BUF;
		ssize_t n = pread(fd, w->buf, want, pos);
		size_t i;

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		*h = st_hash(w->buf, n, *h);
		for (i = 0; i < (size_t)n && !nonzero; i++)
			nonzero = w->buf[i];
		pos += n;
		/* a slot ends: with data it must have blocks, a hole may not */
		if (pos % chunk == 0 || pos == size) {
			off_t len = (pos - 1) % chunk + 1;
			uint64_t blocks = ((len + 4095) / 4096) * 8;

			*hi += blocks;
			if (nonzero)
				*lo += blocks;
			nonzero = false;
		}
	}
	return 0;
}

static uint64_t hash_plain(int fd, char *buf, off_t size, int *err)
{
	uint64_t h = 0;
	off_t pos = 0;

	*err = 0;
	while (pos < size) {
		ssize_t n = pread(fd, buf, BUF, pos);

		if (n <= 0) {
			*err = n < 0 ? -errno : -EIO;
			return 0;
		}
		h = st_hash(buf, n, h);
		pos += n;
	}
	return h;
}

static uint64_t hash_mmap(int fd, off_t size, int *err)
{
	void *p;
	uint64_t h;

	*err = 0;
	if (!size)
		return 0;
	p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		*err = -errno;
		return 0;
	}
	madvise(p, size, MADV_SEQUENTIAL);
	h = st_hash(p, size, 0);
	munmap(p, size);
	return h;
}

/* splice into a pipe, drained as it goes */
static uint64_t hash_splice(struct walk *w, int fd, off_t size, int *err)
{
	loff_t off = 0;
	uint64_t h = 0;

	*err = 0;
	while (off < size) {
		ssize_t n = splice(fd, &off, w->pipefd[1], NULL, 65536, 0);
		ssize_t got = 0, r;

		if (n <= 0) {
			*err = n < 0 ? -errno : -EIO;
			return 0;
		}
		while (got < n) {
			r = read(w->pipefd[0], w->buf, n - got);
			if (r <= 0) {
				*err = -EIO;
				return 0;
			}
			h = st_hash(w->buf, r, h);
			got += r;
		}
	}
	return h;
}

/* sendfile into a memfd, then read back */
static uint64_t hash_sendfile(struct walk *w, int fd, off_t size, int *err)
{
	int mfd = memfd_create("sendfile", MFD_CLOEXEC);
	off_t off = 0;
	uint64_t h;

	*err = 0;
	if (mfd < 0) {
		*err = -errno;
		return 0;
	}
	while (off < size) {
		ssize_t n = sendfile(mfd, fd, &off, size - off);

		if (n <= 0) {
			*err = n < 0 ? -errno : -EIO;
			close(mfd);
			return 0;
		}
	}
	h = hash_plain(mfd, w->buf, size, err);
	close(mfd);
	return h;
}

/* a few unaligned ranges, compared byte for byte */
static int cmp_preads(struct walk *w, int fa, int fb, off_t size)
{
	static const off_t lens[] = { 1, 7, 4095, 4097, 70000 };
	unsigned int i;

	for (i = 0; i < 5 && size; i++) {
		off_t off = ((off_t)(i * 2654435761U) % size);
		ssize_t na = pread(fa, w->buf, lens[i], off);
		ssize_t nb = pread(fb, w->rbuf, lens[i], off);

		if (na != nb || (na > 0 && memcmp(w->buf, w->rbuf, na)))
			return -EBADMSG;
	}
	return 0;
}

static void fail(struct walk *w, const char *path, const char *what, int err)
{
	struct __test_metadata *_metadata = w->_metadata;

	if (w->failures++ < 20)
		TH_LOG("%s: %s%s%s", path, what, err ? ": " : "",
		       err ? strerror(-err) : "");
}

static void check_file(struct walk *w, int dn, int dr, const char *name,
		       const char *path)
{
	uint64_t h, hr, hx, lo, hi;
	struct stat st, rst;
	int fa, fb, err;

	fa = openat(dn, name, O_RDONLY | O_NOFOLLOW);
	fb = openat(dr, name, O_RDONLY | O_NOFOLLOW);
	if (fa < 0 || fb < 0 || fstat(fa, &st) || fstat(fb, &rst)) {
		fail(w, path, "open", -errno);
		goto out;
	}
	w->files++;
	if (st.st_size != rst.st_size) {
		fail(w, path, "size differs", 0);
		goto out;
	}
	err = hash_read(w, fa, st.st_size, &h, &lo, &hi);
	if (err) {
		fail(w, path, "read", err);
		goto out;
	}
	w->bytes += st.st_size;
	hr = hash_plain(fb, w->rbuf, rst.st_size, &err);
	if (err || h != hr)
		fail(w, path, "content differs from the reference", err);
	if ((uint64_t)st.st_blocks < lo || (uint64_t)st.st_blocks > hi ||
	    st.st_blocks % 8) {
		struct __test_metadata *_metadata = w->_metadata;

		fail(w, path, "implausible st_blocks", 0);
		TH_LOG("%s: st_blocks %lld, data needs %llu..%llu", path,
		       (long long)st.st_blocks, (unsigned long long)lo,
		       (unsigned long long)hi);
	}
	if (cmp_preads(w, fa, fb, st.st_size))
		fail(w, path, "pread at odd offsets differs", 0);
	if ((uint64_t)st.st_size > BIG_FILE)
		goto out;
	w->mapped += st.st_size;
	hx = hash_mmap(fa, st.st_size, &err);
	if (err || hx != h)
		fail(w, path, "mmap differs from read", err);
	hx = hash_splice(w, fa, st.st_size, &err);
	if (err || hx != h)
		fail(w, path, "splice differs from read", err);
	hx = hash_sendfile(w, fa, st.st_size, &err);
	if (err || hx != h)
		fail(w, path, "sendfile differs from read", err);
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
}

static void walk_dir(struct walk *w, int dn, int dr, const char *path, int depth)
{
	char sub[8192];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd;

	fd = dup(dn);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		fail(w, path, "opendir", -errno);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", depth < 20 ? path : "...",
			 de->d_name);
		if (fstatat(dn, de->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			fail(w, sub, "stat", -errno);
			continue;
		}
		if (S_ISREG(st.st_mode)) {
			check_file(w, dn, dr, de->d_name, sub);
		} else if (S_ISDIR(st.st_mode)) {
			int cn = openat(dn, de->d_name, O_RDONLY | O_DIRECTORY);
			int cr = openat(dr, de->d_name, O_RDONLY | O_DIRECTORY);

			if (cn >= 0 && cr >= 0)
				walk_dir(w, cn, cr, sub, depth + 1);
			else
				fail(w, sub, "open directory", -errno);
			if (cn >= 0)
				close(cn);
			if (cr >= 0)
				close(cr);
		}
	}
	closedir(d);
}

/*
 * treecmp on the cold mount (every chunk fetched once by the daemon), then
 * every read path again on the warm one.
 */
TEST_F_TIMEOUT(diff, compare, 280)
{
	struct walk w = { ._metadata = _metadata };
	double t0;
	int dn, dr;

	ST_SKIPPED();
	run_treecmp(_metadata, self, variant);
	t0 = st_now();
	w.chunkszbits = self->chunkszbits;
	w.buf = malloc(BUF);
	w.rbuf = malloc(BUF);
	ASSERT_NE(NULL, w.buf);
	ASSERT_NE(NULL, w.rbuf);
	ASSERT_EQ(0, pipe(w.pipefd));
	dn = open(self->mnt, O_RDONLY | O_DIRECTORY);
	dr = open(self->ref, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, dn);
	ASSERT_LE(0, dr);
	walk_dir(&w, dn, dr, "", 0);
	close(dn);
	close(dr);
	TH_LOG("%lu files, %lu MiB read, %lu MiB also by mmap, splice and sendfile, %.1f s",
	       w.files, w.bytes >> 20, w.mapped >> 20, st_now() - t0);
	EXPECT_EQ(0, w.failures);
	EXPECT_LT(0, w.files);
	check_daemon(_metadata, &self->d);
	free(w.buf);
	free(w.rbuf);
}

ST_HARNESS_MAIN
