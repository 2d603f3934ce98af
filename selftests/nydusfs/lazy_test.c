// SPDX-License-Identifier: GPL-2.0
/*
 * Laziness, counted at the test daemon: metadata needs no upcall, one small
 * file of a large image fetches its one chunk, a partial read fetches only
 * the chunks around it, holes fetch nothing, readahead asks for its window
 * at once.  And the cache: chunks already fetched are read with no daemon
 * at all, and a restarted daemon's presence bitmap spares the refetch.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "helpers.h"

FIXTURE(lazy) {
	char tmp[PATH_MAX];
	char mnt[PATH_MAX + 8];
	struct st_daemon d;
};

FIXTURE_SETUP(lazy)
{
	const char *why = st_missing_prereq();

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, st_private_mounts());
	ASSERT_EQ(0, st_mkdtemp(self->tmp, sizeof(self->tmp)));
	snprintf(self->mnt, sizeof(self->mnt), "%s/mnt", self->tmp);
	ASSERT_EQ(0, mkdir(self->mnt, 0755));
}

FIXTURE_TEARDOWN(lazy)
{
	if (self->mnt[0])
		umount2(self->mnt, MNT_DETACH);
	if (!_metadata->passed)
		st_daemon_log(&self->d);
	st_daemon_kill(&self->d, SIGKILL);
	st_rmtree(self->tmp);
}

/* The image, its daemon, the mount */
static int start(FIXTURE_DATA(lazy) *self, const char *name,
		 struct st_image *img, const char *opts, const char *const *args)
{
	int err = st_find_image(name, img);

	if (err)
		return err;
	err = st_daemon_start(&self->d, img->blob_dir, self->tmp, args);
	if (!err)
		err = st_mount(img->bootstrap, self->mnt, opts);
	return err;
}

#define START(name, img, opts, args) do {					\
	int __err = start(self, name, img, opts, args);			\
	if (__err == -ENOENT)							\
		SKIP(return, "no image '%s' under %s", name, st_data_dir());	\
	ASSERT_EQ(0, __err);							\
} while (0)

static int meta_visit(int dfd, const char *name, const struct stat *st,
		      const char *path, int err, void *arg)
{
	char buf[65536];
	unsigned long *n = arg;

	if (err)
		return err;
	(*n)++;
	if (S_ISLNK(st->st_mode) && readlinkat(dfd, name, buf, sizeof(buf)) < 0)
		return -errno;
	(void)path;
	return 0;
}

TEST_F(lazy, metadata_needs_no_daemon)
{
	struct st_image img;
	unsigned long n = 0;
	struct statfs sfs;

	ST_SKIPPED();
	START("root", &img, "timeout=10", NULL);
	ASSERT_EQ(0, st_walk(self->mnt, meta_visit, &n));
	ASSERT_EQ(0, statfs(self->mnt, &sfs));
	TH_LOG("%lu entries walked", n);
	EXPECT_LT(1000, n);
	EXPECT_EQ(0, st_stat(&self->d, "open"));
	EXPECT_EQ(0, st_stat(&self->d, "read"));
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -errno : st.st_size;
}

/* One small file of a 115 MB image: one OPEN, one READ, its bytes only */
TEST_F(lazy, one_small_file)
{
	char path[PATH_MAX + 64], src[PATH_MAX + 64], why[512];
	struct st_image img;
	long size;

	ST_SKIPPED();
	START("root", &img, "timeout=10", NULL);
	if (!img.src[0])
		SKIP(return, "no source tree");
	snprintf(path, sizeof(path), "%s/etc/debian_version", self->mnt);
	snprintf(src, sizeof(src), "%s/etc/debian_version", img.src);
	size = file_size(path);
	ASSERT_LT(0, size);
	ASSERT_EQ(0, st_cmp_files(path, src, why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(1, st_stat(&self->d, "open"));
	EXPECT_EQ(1, st_stat(&self->d, "read"));
	EXPECT_EQ(1, st_stat(&self->d, "chunks"));
	EXPECT_EQ(size, st_stat(&self->d, "bytes"));
	/* again, and again with the page cache dropped: from the cache file */
	ASSERT_EQ(0, st_cmp_files(path, src, why, sizeof(why))) TH_LOG("%s", why);
	ASSERT_EQ(0, st_drop_caches());
	ASSERT_EQ(0, st_cmp_files(path, src, why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(1, st_stat(&self->d, "read"));
	EXPECT_EQ(1, st_stat(&self->d, "open"));
}

/* A file of several chunks: each fetched once, no chunk of another file */
TEST_F(lazy, one_large_file)
{
	char path[PATH_MAX + 64], src[PATH_MAX + 64], why[512];
	struct st_image img;
	long size, slots;

	ST_SKIPPED();
	START("gen-e", &img, "timeout=10", NULL);
	if (!img.src[0])
		SKIP(return, "no source tree");
	snprintf(path, sizeof(path), "%s/chunks/size_2097152", self->mnt);
	snprintf(src, sizeof(src), "%s/chunks/size_2097152", img.src);
	size = file_size(path);
	ASSERT_EQ(2097152, size);
	slots = size / 65536;	/* gen-e is built with -c 64K */
	ASSERT_EQ(0, st_cmp_files(path, src, why, sizeof(why))) TH_LOG("%s", why);
	TH_LOG("%ld READ for %ld chunk slots, %ld bytes", st_stat(&self->d, "read"),
	       slots, st_stat(&self->d, "bytes"));
	EXPECT_LE(1, st_stat(&self->d, "read"));
	EXPECT_GE(slots, st_stat(&self->d, "chunks"));
	EXPECT_GE(size, st_stat(&self->d, "bytes"));
}

/* 4 KiB at each end of a 32-chunk file: a few chunks, not 32 */
TEST_F(lazy, partial_read)
{
	char path[PATH_MAX + 64], src[PATH_MAX + 64], a[4096], b[4096];
	struct st_image img;
	long after_head;
	int fd, sfd;

	ST_SKIPPED();
	START("gen-e", &img, "timeout=10", NULL);
	if (!img.src[0])
		SKIP(return, "no source tree");
	snprintf(path, sizeof(path), "%s/chunks/size_2097152", self->mnt);
	snprintf(src, sizeof(src), "%s/chunks/size_2097152", img.src);
	fd = open(path, O_RDONLY);
	sfd = open(src, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_LE(0, sfd);
	ASSERT_EQ(4096, pread(fd, a, 4096, 0));
	ASSERT_EQ(4096, pread(sfd, b, 4096, 0));
	EXPECT_EQ(0, memcmp(a, b, 4096));
	after_head = st_stat(&self->d, "chunks");
	ASSERT_EQ(4096, pread(fd, a, 4096, 2097152 - 4096));
	ASSERT_EQ(4096, pread(sfd, b, 4096, 2097152 - 4096));
	EXPECT_EQ(0, memcmp(a, b, 4096));
	TH_LOG("head: %ld chunks, head and tail: %ld chunks of 32", after_head,
	       st_stat(&self->d, "chunks"));
	EXPECT_LE(1, after_head);
	EXPECT_GE(4, after_head);
	EXPECT_GE(8, st_stat(&self->d, "chunks"));
	close(fd);
	close(sfd);
}

static void expect_zeros(struct __test_metadata *_metadata, int fd, off_t off,
			 size_t len)
{
	char *buf = malloc(len);
	size_t i;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(len, pread(fd, buf, len, off));
	for (i = 0; i < len && !buf[i]; i++)
		;
	EXPECT_EQ(len, i) TH_LOG("byte %zu at %lld is not zero", i, (long long)off);
	free(buf);
}

static void expect_same(struct __test_metadata *_metadata, int fd, int sfd,
			off_t off, size_t len)
{
	char *a = malloc(len), *b = malloc(len);

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	ASSERT_EQ(len, pread(fd, a, len, off));
	ASSERT_EQ(len, pread(sfd, b, len, off));
	EXPECT_EQ(0, memcmp(a, b, len)) TH_LOG("at %lld", (long long)off);
	free(a);
	free(b);
}

/* A 5 GiB file of holes with data across 4 GiB: holes fetch nothing */
TEST_F(lazy, holes_and_large_offsets)
{
	char path[PATH_MAX + 64], src[PATH_MAX + 64];
	const long long G = 1LL << 30;
	struct st_image img;
	struct stat st;
	int fd, sfd;

	ST_SKIPPED();
	START("sparse", &img, "timeout=10", NULL);
	if (!img.src[0])
		SKIP(return, "no source tree");
	snprintf(path, sizeof(path), "%s/big", self->mnt);
	snprintf(src, sizeof(src), "%s/big", img.src);
	fd = open(path, O_RDONLY);
	sfd = open(src, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_LE(0, sfd);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(5 * G + 4096, st.st_size);
	TH_LOG("st_blocks %lld for %lld bytes", (long long)st.st_blocks,
	       (long long)st.st_size);
	EXPECT_GT(16 << 11, st.st_blocks);	/* a few MiB at most */

	expect_zeros(_metadata, fd, G, 1 << 20);
	expect_zeros(_metadata, fd, 3 * G + 12345, 100000);
	EXPECT_EQ(0, st_stat(&self->d, "read"));
	EXPECT_EQ(0, st_stat(&self->d, "open"));

	expect_same(_metadata, fd, sfd, 0, 4096);
	expect_same(_metadata, fd, sfd, 4 * G - 4096, 8192);	/* across 4 GiB */
	expect_same(_metadata, fd, sfd, 4 * G + 12000, (1 << 20) + 1000);
	expect_same(_metadata, fd, sfd, 5 * G, 4096);		/* the end */
	EXPECT_EQ(1, st_stat(&self->d, "open"));
	TH_LOG("%ld READ, %ld bytes fetched", st_stat(&self->d, "read"),
	       st_stat(&self->d, "bytes"));
	EXPECT_GE(8, st_stat(&self->d, "read"));
	EXPECT_GE(8 << 20, st_stat(&self->d, "bytes"));
	/* a file that is only a hole */
	close(fd);
	snprintf(path, sizeof(path), "%s/hole", self->mnt);
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	expect_zeros(_metadata, fd, 0, 100 << 20);
	EXPECT_EQ(0, pread(fd, path, 10, 100 << 20));
	EXPECT_GE(8, st_stat(&self->d, "read"));
	close(fd);
	close(sfd);
}

/*
 * readahead(2) over a 32-chunk file, with a 2 MiB readahead window: the
 * READs of the window are queued together, not one round trip at a time.
 */
TEST_F(lazy, readahead_is_async)
{
	char path[PATH_MAX + 64], src[PATH_MAX + 64], why[512];
	struct st_image img;
	int fd, old;

	ST_SKIPPED();
	START("gen-e", &img, "timeout=20",
	      ((const char *[]){ "--batch", "64", "--delay-ms", "20", NULL }));
	if (!img.src[0])
		SKIP(return, "no source tree");
	old = st_bdi_readahead_kb(2048);
	TH_LOG("read_ahead_kb was %d", old);
	ASSERT_EQ(0, old);	/* the mount's default: readahead=0 */
	snprintf(path, sizeof(path), "%s/chunks/size_2097152", self->mnt);
	snprintf(src, sizeof(src), "%s/chunks/size_2097152", img.src);
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	/* the cache file is opened first, then the window is asked for */
	ASSERT_EQ(1, pread(fd, why, 1, 0));
	EXPECT_EQ(0, readahead(fd, 0, 2097152));
	close(fd);
	ASSERT_EQ(0, st_cmp_files(path, src, why, sizeof(why))) TH_LOG("%s", why);
	TH_LOG("%ld READ, at most %ld taken at once", st_stat(&self->d, "read"),
	       st_stat(&self->d, "max_batch"));
	EXPECT_LE(8, st_stat(&self->d, "max_batch"));
}

struct hashes {
	uint64_t h[8192];
	int n, errors;
	uint64_t bytes;
	bool check;
};

static int hash_visit(int dfd, const char *name, const struct stat *st,
		      const char *path, int err, void *arg)
{
	struct hashes *hs = arg;
	uint64_t h;

	if (err || !S_ISREG(st->st_mode) || hs->n >= 8192)
		return err;
	err = st_hash_file(dfd, name, &h, &hs->bytes);
	if (err < 0) {
		if (hs->errors++ < 10)
			fprintf(stderr, "# %s: %s\n", path, strerror(-err));
		return 0;
	}
	if (hs->check && hs->h[hs->n] != h && hs->errors++ < 10)
		fprintf(stderr, "# %s: different data\n", path);
	hs->h[hs->n++] = h;
	return 0;
}

/* Everything read once, the daemon killed, the page cache dropped */
TEST_F_TIMEOUT(lazy, cached_reads_without_daemon, 120)
{
	struct hashes *first = calloc(1, sizeof(*first));
	struct hashes *again = calloc(1, sizeof(*again));
	struct st_image img;
	double t0;

	ST_SKIPPED();
	ASSERT_NE(NULL, first);
	ASSERT_NE(NULL, again);
	START("gen-e", &img, "timeout=5", NULL);
	ASSERT_EQ(0, st_walk(self->mnt, hash_visit, first));
	EXPECT_EQ(0, first->errors);
	TH_LOG("%d files, %llu bytes, %ld chunks fetched", first->n,
	       (unsigned long long)first->bytes, st_stat(&self->d, "chunks"));
	st_daemon_kill(&self->d, SIGKILL);
	ASSERT_EQ(0, st_drop_caches());
	memcpy(again->h, first->h, sizeof(first->h));
	again->check = true;
	t0 = st_now();
	ASSERT_EQ(0, st_walk(self->mnt, hash_visit, again));
	TH_LOG("read again with no daemon in %.1f s", st_now() - t0);
	EXPECT_EQ(first->n, again->n);
	EXPECT_EQ(0, again->errors);
	/* no fetch was needed: far below the 5 s timeout */
	EXPECT_GT(60, st_now() - t0);
	free(first);
	free(again);
}

/* A new daemon with the same cache dir hands over its bitmap: no refetch */
TEST_F(lazy, restart_keeps_cache)
{
	char path[PATH_MAX + 64], src[PATH_MAX + 64], why[512];
	struct st_image img;

	ST_SKIPPED();
	START("one", &img, "timeout=10", NULL);
	if (!img.src[0])
		SKIP(return, "no source tree");
	snprintf(path, sizeof(path), "%s/data", self->mnt);
	snprintf(src, sizeof(src), "%s/data", img.src);
	ASSERT_EQ(0, st_cmp_files(path, src, why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(4, st_stat(&self->d, "chunks"));
	/* the last mount goes, so does the kernel's object */
	ASSERT_EQ(0, st_umount(self->mnt));
	EXPECT_EQ(1, st_stat_wait(&self->d, "close", 1, 5000));
	st_daemon_kill(&self->d, SIGTERM);
	ASSERT_EQ(0, st_daemon_start(&self->d, img.blob_dir, self->tmp, NULL));
	ASSERT_EQ(0, st_mount(img.bootstrap, self->mnt, "timeout=10"));
	ASSERT_EQ(0, st_cmp_files(path, src, why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(1, st_stat(&self->d, "open"));
	EXPECT_EQ(0, st_stat(&self->d, "read"));
	/* the other file was never fetched: it is now */
	snprintf(path, sizeof(path), "%s/small", self->mnt);
	snprintf(src, sizeof(src), "%s/small", img.src);
	ASSERT_EQ(0, st_cmp_files(path, src, why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(1, st_stat(&self->d, "read"));
}

ST_HARNESS_MAIN
