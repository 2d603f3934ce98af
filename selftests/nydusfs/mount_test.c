// SPDX-License-Identifier: GPL-2.0
/*
 * Mount and unmount: options shown in /proc/mounts, every bad option and
 * bad source refused with a message, -o digest, remount, statfs, the
 * bootstrap held against writes, and one blob object shared by two mounts.
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
#include <sys/statvfs.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "helpers.h"
#include "nydusfs_fs.h"

FIXTURE(mnt) {
	char tmp[PATH_MAX];
	char mnt[PATH_MAX + 8];
	struct st_image img;
	char digest[80];
	bool mounted;
};

FIXTURE_SETUP(mnt)
{
	const char *why = st_missing_prereq();
	char path[PATH_MAX + 16];
	FILE *f;

	if (why)
		SKIP(return, "%s", why);
	if (st_find_image("small", &self->img))
		SKIP(return, "no test images under %s", st_data_dir());
	ASSERT_EQ(0, st_private_mounts());
	ASSERT_EQ(0, st_mkdtemp(self->tmp, sizeof(self->tmp)));
	snprintf(self->mnt, sizeof(self->mnt), "%s/mnt", self->tmp);
	ASSERT_EQ(0, mkdir(self->mnt, 0755));
	snprintf(path, sizeof(path), "%s.sha256", self->img.bootstrap);
	f = fopen(path, "re");
	ASSERT_NE(NULL, f);
	ASSERT_EQ(1, fscanf(f, "%64s", self->digest));
	fclose(f);
}

FIXTURE_TEARDOWN(mnt)
{
	if (self->mnt[0])
		umount2(self->mnt, MNT_DETACH);
	st_rmtree(self->tmp);
}

static bool has_option(const char *opts, const char *opt)
{
	size_t n = strlen(opt);
	const char *p = opts;

	while ((p = strstr(p, opt))) {
		if ((p == opts || p[-1] == ',' || p[-1] == ' ') &&
		    (p[n] == ',' || p[n] == 0))
			return true;
		p += n;
	}
	return false;
}

TEST_F(mnt, mount_umount)
{
	char opts[1024];
	struct statfs sfs;
	struct stat st;

	ST_SKIPPED();
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, NULL));
	ASSERT_EQ(0, st_mount_options(self->mnt, opts, sizeof(opts)));
	TH_LOG("/proc/mounts: %s", opts);
	EXPECT_TRUE(strstr(opts, " nydusfs ") != NULL);
	EXPECT_TRUE(has_option(opts, "ro"));
	EXPECT_TRUE(has_option(opts, "timeout=30"));
	EXPECT_TRUE(has_option(opts, "readahead=0"));
	EXPECT_EQ(0, st_bdi_readahead_kb(-1));
	EXPECT_EQ(0, strncmp(opts, self->img.bootstrap, strlen(self->img.bootstrap)));

	ASSERT_EQ(0, statfs(self->mnt, &sfs));
	EXPECT_EQ(NYDUSFS_MAGIC, (unsigned long)sfs.f_type);
	EXPECT_EQ(4096, sfs.f_bsize);
	EXPECT_EQ(255, sfs.f_namelen);
	EXPECT_LT(0, sfs.f_blocks);
	EXPECT_EQ(0, sfs.f_bfree);
	EXPECT_LT(0, sfs.f_files);
	EXPECT_NE(0, sfs.f_flags & ST_RDONLY);

	ASSERT_EQ(0, stat(self->mnt, &st));
	EXPECT_EQ(1, st.st_ino);
	EXPECT_TRUE(S_ISDIR(st.st_mode));

	ASSERT_EQ(0, st_umount(self->mnt));
	EXPECT_EQ(-ENOENT, st_mount_options(self->mnt, opts, sizeof(opts)));
	/* and again */
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, NULL));
	ASSERT_EQ(0, st_umount(self->mnt));
}

TEST_F(mnt, options_shown)
{
	char opts[1024], want[128], arg[256];

	ST_SKIPPED();
	snprintf(arg, sizeof(arg), "timeout=7,verify,readahead=256,digest=sha256:%s",
		 self->digest);
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, arg));
	ASSERT_EQ(0, st_mount_options(self->mnt, opts, sizeof(opts)));
	TH_LOG("/proc/mounts: %s", opts);
	EXPECT_TRUE(has_option(opts, "timeout=7"));
	EXPECT_TRUE(has_option(opts, "readahead=256"));
	EXPECT_EQ(256, st_bdi_readahead_kb(-1));
	EXPECT_TRUE(has_option(opts, "verify"));
	snprintf(want, sizeof(want), "digest=sha256:%s", self->digest);
	EXPECT_TRUE(has_option(opts, want));
	EXPECT_TRUE(has_option(opts, "ro"));
	ASSERT_EQ(0, st_umount(self->mnt));

	/* upper-case hex is the same digest */
	for (char *p = self->digest; *p; p++)
		*p = (*p >= 'a' && *p <= 'f') ? *p - 32 : *p;
	snprintf(arg, sizeof(arg), "digest=sha256:%s", self->digest);
	EXPECT_EQ(0, st_mount(self->img.bootstrap, self->mnt, arg));
	st_umount(self->mnt);
}

/* fsopen/fsconfig: the error of one option and the message the kernel logs */
static int fsconfig_error(const char *source, const char *key,
			  const char *value, char *msg, size_t size)
{
	int fd = fsopen("nydusfs", FSOPEN_CLOEXEC), err = 0;
	ssize_t n;

	msg[0] = 0;
	if (fd < 0)
		return -errno;
	if (source && fsconfig(fd, FSCONFIG_SET_STRING, "source", source, 0))
		err = -errno;
	if (!err && key) {
		if (value ? fsconfig(fd, FSCONFIG_SET_STRING, key, value, 0) :
			    fsconfig(fd, FSCONFIG_SET_FLAG, key, NULL, 0))
			err = -errno;
	}
	if (!err && fsconfig(fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0))
		err = -errno;
	n = read(fd, msg, size - 1);
	msg[n > 0 ? n : 0] = 0;
	if (n > 0 && msg[n - 1] == '\n')
		msg[n - 1] = 0;
	close(fd);
	return err;
}

static const struct {
	const char *key, *value;	/* value NULL: a flag */
} bad_options[] = {
	{ "foo", NULL }, { "foo", "1" }, { "timeout", NULL },
	{ "timeout", "" }, { "timeout", "0" }, { "timeout", "86401" },
	{ "timeout", "-1" }, { "timeout", "abc" }, { "timeout", "5s" },
	{ "timeout", "99999999999999999999" }, { "verify", "1" },
	{ "digest", NULL }, { "digest", "" }, { "digest", "sha256:" },
	{ "digest", "sha256" }, { "digest", "md5:0123" },
	{ "digest", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde" },
	{ "digest", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0" },
	{ "digest", "sha256:g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" },
	{ "digest", "sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" },
	{ "readahead", NULL }, { "readahead", "" }, { "readahead", "-1" },
	{ "readahead", "65537" }, { "readahead", "128k" },
	{ "source", "" },
};

TEST_F(mnt, bad_options)
{
	char msg[512], opt[256];
	unsigned int i;
	int err;

	ST_SKIPPED();
	for (i = 0; i < sizeof(bad_options) / sizeof(bad_options[0]); i++) {
		const char *k = bad_options[i].key, *v = bad_options[i].value;

		err = fsconfig_error(self->img.bootstrap, k, v, msg, sizeof(msg));
		TH_LOG("%s%s%s: %s, \"%s\"", k, v ? "=" : "", v ? v : "",
		       strerror(-err), msg);
		EXPECT_NE(0, err);
		EXPECT_NE(0, msg[0]);
		/* and through mount(2) */
		if (!strcmp(k, "source"))
			continue;
		snprintf(opt, sizeof(opt), "%s%s%s", k, v ? "=" : "", v ? v : "");
		EXPECT_EQ(-EINVAL, st_mount(self->img.bootstrap, self->mnt, opt));
	}
	/* a good option next to a bad one */
	EXPECT_EQ(-EINVAL, st_mount(self->img.bootstrap, self->mnt, "timeout=5,bogus"));
	EXPECT_EQ(-EINVAL, st_mount(self->img.bootstrap, self->mnt, "verify,timeout=0"));
	/* nothing got mounted */
	EXPECT_EQ(-ENOENT, st_mount_options(self->mnt, msg, sizeof(msg)));
}

TEST_F(mnt, wrong_digest)
{
	char arg[128], msg[512];
	int err;

	ST_SKIPPED();
	self->digest[10] = self->digest[10] == '0' ? '1' : '0';
	snprintf(arg, sizeof(arg), "digest=sha256:%s", self->digest);
	err = st_mount(self->img.bootstrap, self->mnt, arg);
	TH_LOG("mount with a wrong digest: %s", strerror(-err));
	EXPECT_NE(0, err);
	err = fsconfig_error(self->img.bootstrap, "digest", arg + 7, msg, sizeof(msg));
	TH_LOG("fsconfig: %s, \"%s\"", strerror(-err), msg);
	EXPECT_NE(0, err);
	EXPECT_EQ(-ENOENT, st_mount_options(self->mnt, msg, sizeof(msg)));
}

static int write_file(const char *path, const void *buf, size_t len, off_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644), err = 0;

	if (fd < 0)
		return -errno;
	if (len && write(fd, buf, len) != (ssize_t)len)
		err = -errno;
	if (!err && size && ftruncate(fd, size))
		err = -errno;
	close(fd);
	return err;
}

TEST_F(mnt, bad_sources)
{
	char path[PATH_MAX + 32], msg[512], blob[2][65], scratch[PATH_MAX + 16];
	struct {
		const char *what;
		char path[PATH_MAX + 32];
	} srcs[10];
	int n = 0, i, err;

	ST_SKIPPED();
	/* no source at all */
	err = fsconfig_error(NULL, NULL, NULL, msg, sizeof(msg));
	TH_LOG("no source: %s, \"%s\"", strerror(-err), msg);
	EXPECT_NE(0, err);
	EXPECT_NE(0, msg[0]);
	EXPECT_NE(0, mount(NULL, self->mnt, "nydusfs", MS_RDONLY, NULL));

	/* files that are not bootstraps, where a bootstrap could be */
	snprintf(scratch, sizeof(scratch), "%s/scratch", self->tmp);
	ASSERT_EQ(0, st_scratch_fs(self->tmp, scratch, 16));
	snprintf(srcs[n].path, sizeof(srcs[n].path), "%s/nonexistent", scratch);
	srcs[n++].what = "a missing file";
	snprintf(srcs[n].path, sizeof(srcs[n].path), "%s", scratch);
	srcs[n++].what = "a directory";
	snprintf(srcs[n].path, sizeof(srcs[n].path), "/dev/null");
	srcs[n++].what = "a character device";
	snprintf(path, sizeof(path), "%s/empty", scratch);
	ASSERT_EQ(0, write_file(path, NULL, 0, 0));
	snprintf(srcs[n].path, sizeof(srcs[n].path), "%s", path);
	srcs[n++].what = "an empty file";
	snprintf(path, sizeof(path), "%s/small", scratch);
	ASSERT_EQ(0, write_file(path, "hello", 5, 0));
	snprintf(srcs[n].path, sizeof(srcs[n].path), "%s", path);
	srcs[n++].what = "a 5-byte file";
	snprintf(path, sizeof(path), "%s/zeros", scratch);
	ASSERT_EQ(0, write_file(path, NULL, 0, 65536));
	snprintf(srcs[n].path, sizeof(srcs[n].path), "%s", path);
	srcs[n++].what = "64 KiB of zeros";
	if (self->img.erofs[0]) {
		snprintf(srcs[n].path, sizeof(srcs[n].path), "%s", self->img.erofs);
		srcs[n++].what = "an erofs image";
	}
	if (st_blob_names(&self->img, blob, 1) == 1) {
		snprintf(srcs[n].path, sizeof(srcs[n].path), "%s/%s",
			 self->img.blob_dir, blob[0]);
		srcs[n++].what = "a blob file";
	}
	snprintf(srcs[n].path, sizeof(srcs[n].path), "%s", self->img.blob_dir);
	srcs[n++].what = "the blob directory";

	for (i = 0; i < n; i++) {
		err = fsconfig_error(srcs[i].path, NULL, NULL, msg, sizeof(msg));
		TH_LOG("%s: %s, \"%s\"", srcs[i].what, strerror(-err), msg);
		EXPECT_NE(0, err);
		EXPECT_NE(0, st_mount(srcs[i].path, self->mnt, NULL));
	}
	EXPECT_EQ(-ENOENT, st_mount_options(self->mnt, msg, sizeof(msg)));
	/* a good mount still works */
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, NULL));
	ASSERT_EQ(0, st_umount(self->mnt));
	umount2(scratch, MNT_DETACH);
}

TEST_F(mnt, remount)
{
	char opts[1024];

	ST_SKIPPED();
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, "timeout=5"));
	ASSERT_EQ(0, mount(NULL, self->mnt, NULL, MS_REMOUNT | MS_RDONLY,
			   "timeout=9"));
	ASSERT_EQ(0, st_mount_options(self->mnt, opts, sizeof(opts)));
	TH_LOG("after remount: %s", opts);
	EXPECT_TRUE(has_option(opts, "timeout=9"));
	/* the readahead window can change */
	ASSERT_EQ(0, mount(NULL, self->mnt, NULL, MS_REMOUNT | MS_RDONLY,
			   "readahead=128"));
	ASSERT_EQ(0, st_mount_options(self->mnt, opts, sizeof(opts)));
	EXPECT_TRUE(has_option(opts, "readahead=128"));
	EXPECT_EQ(128, st_bdi_readahead_kb(-1));
	/* what was checked at mount cannot change */
	EXPECT_NE(0, mount(NULL, self->mnt, NULL, MS_REMOUNT | MS_RDONLY, "verify"));
	EXPECT_NE(0, mount(NULL, self->mnt, NULL, MS_REMOUNT | MS_RDONLY,
			   "digest=sha256:0000000000000000000000000000000000000000000000000000000000000000"));
	EXPECT_NE(0, mount(NULL, self->mnt, NULL, MS_REMOUNT | MS_RDONLY, "bogus"));
	/* read-write is never granted */
	mount(NULL, self->mnt, NULL, MS_REMOUNT, "timeout=9");
	ASSERT_EQ(0, st_mount_options(self->mnt, opts, sizeof(opts)));
	TH_LOG("after a read-write remount: %s", opts);
	EXPECT_TRUE(has_option(opts, "ro"));
	EXPECT_TRUE(has_option(opts, "timeout=9"));
	ASSERT_EQ(0, st_umount(self->mnt));
}

TEST_F(mnt, bootstrap_held)
{
	char copy[PATH_MAX + 16], scratch[PATH_MAX + 16];
	int fd;

	ST_SKIPPED();
	snprintf(scratch, sizeof(scratch), "%s/scratch", self->tmp);
	ASSERT_EQ(0, st_scratch_fs(self->tmp, scratch, 16));
	snprintf(copy, sizeof(copy), "%s/bootstrap", scratch);
	ASSERT_EQ(0, st_copy_file(self->img.bootstrap, copy));
	ASSERT_EQ(0, st_mount(copy, self->mnt, NULL));
	/* checked at mount, so nobody may write it while mounted */
	fd = open(copy, O_WRONLY);
	EXPECT_EQ(-1, fd);
	EXPECT_EQ(ETXTBSY, errno);
	if (fd >= 0)
		close(fd);
	ASSERT_EQ(0, st_umount(self->mnt));
	fd = open(copy, O_WRONLY);
	EXPECT_LE(0, fd);
	if (fd >= 0)
		close(fd);
	umount2(scratch, MNT_DETACH);
}

/* tmpfs has no ->read_folio: a bootstrap there is refused, cleanly */
TEST_F(mnt, bootstrap_on_tmpfs)
{
	char copy[PATH_MAX + 16], msg[512];
	int err;

	ST_SKIPPED();
	snprintf(copy, sizeof(copy), "%s/bootstrap", self->tmp);
	ASSERT_EQ(0, st_copy_file(self->img.bootstrap, copy));
	err = fsconfig_error(copy, NULL, NULL, msg, sizeof(msg));
	TH_LOG("bootstrap on tmpfs: %s, \"%s\"", strerror(-err), msg);
	if (!err) {
		EXPECT_EQ(0, st_mount(copy, self->mnt, NULL));
		st_umount(self->mnt);
	}
}

TEST_F(mnt, busy)
{
	char path[PATH_MAX + 16];
	int fd;

	ST_SKIPPED();
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, NULL));
	snprintf(path, sizeof(path), "%s/dir", self->mnt);
	fd = open(path, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EBUSY, st_umount(self->mnt));
	close(fd);
	EXPECT_EQ(0, st_umount(self->mnt));
	/* a mount on top of a mount */
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, NULL));
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, NULL));
	EXPECT_EQ(0, st_umount(self->mnt));
	EXPECT_EQ(0, st_umount(self->mnt));
}

/* Two mounts of one image: one OPEN, and a chunk read once serves both. */
TEST_F(mnt, two_mounts_one_object)
{
	char mnt2[PATH_MAX + 16], a[PATH_MAX + 16], b[PATH_MAX + 16];
	char src[PATH_MAX + 16], why[512];
	struct st_daemon d = {};

	ST_SKIPPED();
	if (!self->img.src[0])
		SKIP(return, "no source tree of the image");
	ASSERT_EQ(0, st_daemon_start(&d, self->img.blob_dir, self->tmp, NULL));
	snprintf(mnt2, sizeof(mnt2), "%s/mnt2", self->tmp);
	ASSERT_EQ(0, mkdir(mnt2, 0755));
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, "timeout=10"));
	ASSERT_EQ(0, st_mount(self->img.bootstrap, mnt2, "timeout=10"));
	snprintf(a, sizeof(a), "%s/dir/random", self->mnt);
	snprintf(b, sizeof(b), "%s/dir/random", mnt2);
	snprintf(src, sizeof(src), "%s/dir/random", self->img.src);
	EXPECT_EQ(0, st_cmp_files(a, src, why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(1, st_stat(&d, "open"));
	EXPECT_LT(0, st_stat(&d, "read"));
	long reads = st_stat(&d, "read");

	EXPECT_EQ(0, st_cmp_files(b, src, why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(1, st_stat(&d, "open"));
	EXPECT_EQ(reads, st_stat(&d, "read"));
	EXPECT_EQ(0, st_stat(&d, "bad_accepted"));
	EXPECT_EQ(0, st_umount(mnt2));
	EXPECT_EQ(0, st_umount(self->mnt));
	/* the object went with the last mount: the daemon hears CLOSE */
	EXPECT_EQ(1, st_stat_wait(&d, "close", 1, 3000));
	if (!_metadata->passed)
		st_daemon_log(&d);
	st_daemon_kill(&d, SIGKILL);
}

ST_HARNESS_MAIN
