// SPDX-License-Identifier: GPL-2.0
/*
 * -o verify: bytes tampered with in the local cache file are caught when
 * they enter the page cache, the chunk is fetched again (the daemon sees a
 * READ with NYDUSFS_READ_REFETCH) and the right data is read; a second
 * mismatch gives EIO and a kernel log line naming the blob and chunk.  A
 * tampered cache never serves a wrong byte, daemon or not.  A cache file
 * cut short is refetched with or without -o verify.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "helpers.h"

FIXTURE(verify) {
	char tmp[PATH_MAX];
	char mnt[PATH_MAX + 8];
	char file[PATH_MAX + 16];	/* "data" in the mount */
	char src[PATH_MAX + 16];	/* and in the source */
	char cache[PATH_MAX + 80];	/* the blob's cache file */
	struct st_image img;
	struct st_daemon d;
	uint64_t offs[8];		/* cache offsets of data's chunks */
	int chunks;
};

FIXTURE_SETUP(verify)
{
	const char *why = st_missing_prereq();
	char blob[2][65];

	if (why)
		SKIP(return, "%s", why);
	if (st_find_image("one", &self->img) || !self->img.src[0])
		SKIP(return, "no image 'one' with its source under %s", st_data_dir());
	ASSERT_EQ(1, st_blob_names(&self->img, blob, 2));
	self->chunks = st_chunk_offsets(self->img.bootstrap, "data", self->offs, 8);
	ASSERT_EQ(4, self->chunks);
	ASSERT_EQ(0, st_private_mounts());
	ASSERT_EQ(0, st_mkdtemp(self->tmp, sizeof(self->tmp)));
	snprintf(self->mnt, sizeof(self->mnt), "%s/mnt", self->tmp);
	ASSERT_EQ(0, mkdir(self->mnt, 0755));
	snprintf(self->file, sizeof(self->file), "%s/data", self->mnt);
	snprintf(self->src, sizeof(self->src), "%s/data", self->img.src);
	snprintf(self->cache, sizeof(self->cache), "%s/cache/%s", self->tmp, blob[0]);
}

FIXTURE_TEARDOWN(verify)
{
	if (self->mnt[0])
		umount2(self->mnt, MNT_DETACH);
	if (!_metadata->passed) {
		st_daemon_log(&self->d);
		st_dmesg_tail(10);
	}
	st_daemon_kill(&self->d, SIGKILL);
	st_rmtree(self->tmp);
}

static int start(FIXTURE_DATA(verify) *self, const char *mode, const char *opts)
{
	const char *args[] = { "--mode", mode, NULL };
	int err;

	err = st_daemon_start(&self->d, self->img.blob_dir, self->tmp,
			      mode ? args : NULL);
	return err ?: st_mount(self->img.bootstrap, self->mnt, opts);
}

/* flip one byte of chunk @i in the cache file, behind the kernel's back */
static int tamper(FIXTURE_DATA(verify) *self, int i)
{
	int fd = open(self->cache, O_RDWR), err = 0;
	uint8_t byte;
	off_t off = self->offs[i] + 100 + i;

	if (fd < 0)
		return -errno;
	if (pread(fd, &byte, 1, off) != 1)
		err = -EIO;
	byte ^= 0xa5;
	if (!err && pwrite(fd, &byte, 1, off) != 1)
		err = -EIO;
	close(fd);
	return err ?: st_drop_caches();
}

static int check_data(FIXTURE_DATA(verify) *self, char *why, size_t len)
{
	return st_cmp_files(self->file, self->src, why, len);
}

/* 0 if the file read through mmap is the source */
static int check_mmap(FIXTURE_DATA(verify) *self)
{
	int fd = open(self->file, O_RDONLY), err;
	void *buf, *map;
	size_t len;

	if (fd < 0)
		return -errno;
	err = st_read_file(self->src, &buf, &len);
	if (err) {
		close(fd);
		return err;
	}
	map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		err = -errno;
	} else {
		err = memcmp(buf, map, len) ? -EBADMSG : 0;
		munmap(map, len);
	}
	free(buf);
	close(fd);
	return err;
}

TEST_F(verify, tamper_is_refetched)
{
	char why[512];
	int logged;

	ST_SKIPPED();
	ASSERT_EQ(0, start(self, NULL, "verify,timeout=5"));
	ASSERT_EQ(0, check_data(self, why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(4, st_stat(&self->d, "chunks"));
	EXPECT_EQ(0, st_stat(&self->d, "refetch"));
	logged = st_dmesg_grep("refetching");
	ASSERT_EQ(0, tamper(self, 0));
	ASSERT_EQ(0, check_data(self, why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(1, st_stat(&self->d, "refetch"));
	EXPECT_EQ(5, st_stat(&self->d, "chunks"));
	EXPECT_EQ(logged + 1, st_dmesg_grep("refetching"));
	/* the cache file is right again: no more refetches */
	ASSERT_EQ(0, st_drop_caches());
	ASSERT_EQ(0, check_data(self, why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(1, st_stat(&self->d, "refetch"));
	/* and again, another chunk, read through mmap this time */
	ASSERT_EQ(0, tamper(self, 3));
	EXPECT_EQ(0, check_mmap(self));
	EXPECT_EQ(2, st_stat(&self->d, "refetch"));
}

/* The refetch brings wrong bytes too: EIO, and a log line saying where */
TEST_F(verify, second_mismatch_is_eio)
{
	char why[512], needle[128], blob[2][65], buf[4096], good[4096];
	int fd, sfd, logged;
	ssize_t n;

	ST_SKIPPED();
	ASSERT_EQ(0, start(self, "bad-refetch", "verify,timeout=5"));
	ASSERT_EQ(0, check_data(self, why, sizeof(why))) TH_LOG("%s", why);
	logged = st_dmesg_grep("after a refetch");
	ASSERT_EQ(0, tamper(self, 1));
	fd = open(self->file, O_RDONLY);
	ASSERT_LE(0, fd);
	n = pread(fd, buf, sizeof(buf), 65536);	/* chunk 1 */
	EXPECT_EQ(-1, n) TH_LOG("read %zd bytes of a twice-corrupt chunk", n);
	EXPECT_EQ(EIO, errno);
	/* readahead gave up, then ->read_folio tried again: 1 or 2 rounds */
	EXPECT_LE(1, st_stat(&self->d, "refetch"));
	EXPECT_LE(logged + 1, st_dmesg_grep("after a refetch"));
	ASSERT_EQ(1, st_blob_names(&self->img, blob, 2));
	snprintf(needle, sizeof(needle), "%.64s) chunk ", blob[0]);
	EXPECT_LE(1, st_dmesg_grep(needle)) TH_LOG("no log line names blob %s", blob[0]);
	/* the other chunks still read right */
	sfd = open(self->src, O_RDONLY);
	ASSERT_LE(0, sfd);
	ASSERT_EQ(4096, pread(sfd, good, 4096, 3 * 65536));
	EXPECT_EQ(4096, pread(fd, buf, 4096, 3 * 65536));
	EXPECT_EQ(0, memcmp(buf, good, 4096));
	/* and the bad one stays an error, never wrong bytes */
	EXPECT_EQ(-1, pread(fd, buf, sizeof(buf), 65536));
	close(fd);
	close(sfd);
}

TEST_F(verify, tampered_with_no_daemon)
{
	char why[512];
	double t0;
	int err;

	ST_SKIPPED();
	ASSERT_EQ(0, start(self, NULL, "verify,timeout=3"));
	ASSERT_EQ(0, check_data(self, why, sizeof(why))) TH_LOG("%s", why);
	st_daemon_kill(&self->d, SIGKILL);
	ASSERT_EQ(0, tamper(self, 2));
	t0 = st_now();
	err = check_data(self, why, sizeof(why));
	TH_LOG("%s after %.1f s", err ? why : "read right", st_now() - t0);
	/* nobody can refetch: an error, not the tampered bytes */
	EXPECT_NE(-EBADMSG, err);
	EXPECT_NE(0, err);
	EXPECT_GT(10, st_now() - t0);
	/*
	 * A daemon comes back: the chunk is fetched again, once the kernel
	 * stops failing it at once (it does so for a second after a failed
	 * READ, so that readahead and ->read_folio do not wait twice).
	 */
	ASSERT_EQ(0, st_daemon_start(&self->d, self->img.blob_dir, self->tmp, NULL));
	usleep(1500000);
	ASSERT_EQ(0, check_data(self, why, sizeof(why))) TH_LOG("%s", why);
	/* the bad chunk left the presence bitmap: a plain READ brings it */
	EXPECT_EQ(1, st_stat(&self->d, "read"));
}

/* Without -o verify the kernel still notices a cache file cut short */
TEST_F(verify, truncated_cache_is_refetched)
{
	char why[512];

	ST_SKIPPED();
	ASSERT_EQ(0, start(self, NULL, "timeout=5"));
	ASSERT_EQ(0, check_data(self, why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(4, st_stat(&self->d, "chunks"));
	ASSERT_EQ(0, truncate(self->cache, 65536 + 100));
	ASSERT_EQ(0, st_drop_caches());
	ASSERT_EQ(0, check_data(self, why, sizeof(why))) TH_LOG("%s", why);
	TH_LOG("%ld refetches, %ld chunks fetched", st_stat(&self->d, "refetch"),
	       st_stat(&self->d, "chunks"));
	EXPECT_LE(1, st_stat(&self->d, "refetch"));
	EXPECT_GE(3, st_stat(&self->d, "refetch"));
}

/* Each mount of a blob verifies by its own option */
TEST_F(verify, verify_is_per_mount)
{
	char mnt2[PATH_MAX + 16], file2[PATH_MAX + 32], why[512];

	ST_SKIPPED();
	ASSERT_EQ(0, start(self, NULL, "verify,timeout=5"));
	ASSERT_EQ(0, check_data(self, why, sizeof(why))) TH_LOG("%s", why);
	snprintf(mnt2, sizeof(mnt2), "%s/mnt2", self->tmp);
	ASSERT_EQ(0, mkdir(mnt2, 0755));
	ASSERT_EQ(0, st_mount(self->img.bootstrap, mnt2, "timeout=5"));
	snprintf(file2, sizeof(file2), "%s/data", mnt2);
	ASSERT_EQ(0, tamper(self, 0));
	/* the verifying mount refetches, and so heals the shared cache */
	ASSERT_EQ(0, check_data(self, why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(1, st_stat(&self->d, "refetch"));
	EXPECT_EQ(0, st_cmp_files(file2, self->src, why, sizeof(why))) TH_LOG("%s", why);
	umount2(mnt2, MNT_DETACH);
}

ST_HARNESS_MAIN
