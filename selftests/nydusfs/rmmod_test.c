// SPDX-License-Identifier: GPL-2.0
/*
 * The last test: after everything above, nydusfs.ko unloads, even with
 * requests still queued (a reader killed while a silent daemon held its
 * request), leaves no blob object behind, loads again, works, and unloads
 * again.  Run it last: it removes the module.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "helpers.h"

static bool fs_registered(void)
{
	char line[256];
	bool found = false;
	FILE *f = fopen("/proc/filesystems", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "\tnydusfs\n"))
			found = true;
	fclose(f);
	return found;
}

static bool mounted_anywhere(void)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " - nydusfs "))
			found = true;
	fclose(f);
	return found;
}

/* delete_module, waiting a little for the last references to go */
static int unload(void)
{
	int i;

	for (i = 0; i < 100; i++) {
		if (syscall(SYS_delete_module, "nydusfs", O_NONBLOCK) == 0)
			return 0;
		if (errno != EAGAIN && errno != EBUSY && errno != EWOULDBLOCK)
			return -errno;
		usleep(100000);
	}
	return -errno;
}

static int load(const char *ko)
{
	int fd = open(ko, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, "", 0))
		err = -errno;
	close(fd);
	return err;
}

static bool wait_for(const char *path, bool present)
{
	int i;

	for (i = 0; i < 200; i++) {
		if ((access(path, F_OK) == 0) == present)
			return true;
		usleep(10000);
	}
	return false;
}

/*
 * In a mount namespace of its own: a reader blocked on a silent daemon is
 * killed, the mount goes; its requests stay queued until rmmod.
 */
static int leave_requests_queued(const struct st_image *img, const char *tmp)
{
	const char *args[] = { "--mode", "silent", NULL };
	char mnt[PATH_MAX + 8], path[PATH_MAX + 32];
	struct st_daemon d;
	int status, fd;
	pid_t reader;
	char c;

	if (st_private_mounts())
		return -1;
	snprintf(mnt, sizeof(mnt), "%s/mnt", tmp);
	if (mkdir(mnt, 0755) || st_daemon_start(&d, img->blob_dir, tmp, args) ||
	    st_mount(img->bootstrap, mnt, "timeout=600"))
		return -1;
	snprintf(path, sizeof(path), "%s/data", mnt);
	reader = fork();
	if (reader == 0) {
		fd = open(path, O_RDONLY);
		_exit(read(fd, &c, 1) == 1 ? 0 : 1);
	}
	usleep(500000);
	kill(reader, SIGKILL);
	waitpid(reader, &status, 0);
	st_daemon_kill(&d, SIGKILL);
	return umount2(mnt, MNT_DETACH) ? -1 : 0;
}

TEST(rmmod_after_use)
{
	const char *ko = getenv("NYDUSFS_KO");
	const char *why = st_missing_prereq();
	char tmp[PATH_MAX], path[PATH_MAX + 32], src[PATH_MAX + 32], msg[512];
	struct st_image img;
	struct st_daemon d;
	int status, left, err;
	pid_t pid;

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, st_mkdtemp(tmp, sizeof(tmp)));
	if (st_find_image("one", &img) == 0) {
		pid = fork();
		if (pid == 0)
			_exit(leave_requests_queued(&img, tmp) ? 1 : 0);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	EXPECT_FALSE(mounted_anywhere());
	left = st_dmesg_grep("blob objects left");

	err = unload();
	ASSERT_EQ(0, err) TH_LOG("rmmod nydusfs: %s", strerror(-err));
	EXPECT_FALSE(fs_registered());
	EXPECT_TRUE(wait_for(ST_DEV, false));
	EXPECT_EQ(left, st_dmesg_grep("blob objects left"));

	/* again: load, mount, read, unload */
	if (!ko || !*ko)
		SKIP(goto out, "NYDUSFS_KO is not set: cannot load the module again");
	err = load(ko);
	ASSERT_EQ(0, err) TH_LOG("insmod %s: %s", ko, strerror(-err));
	ASSERT_TRUE(fs_registered());
	ASSERT_TRUE(wait_for(ST_DEV, true));
	if (img.src[0]) {
		pid = fork();
		if (pid == 0) {
			snprintf(path, sizeof(path), "%s/mnt2", tmp);
			if (st_private_mounts() || mkdir(path, 0755) ||
			    st_daemon_start(&d, img.blob_dir, tmp, NULL) ||
			    st_mount(img.bootstrap, path, "timeout=10"))
				_exit(2);
			snprintf(path, sizeof(path), "%s/mnt2/data", tmp);
			snprintf(src, sizeof(src), "%s/data", img.src);
			status = st_cmp_files(path, src, msg, sizeof(msg));
			if (status)
				fprintf(stderr, "# %s\n", msg);
			st_daemon_kill(&d, SIGKILL);
			_exit(status ? 1 : 0);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	err = unload();
	EXPECT_EQ(0, err) TH_LOG("second rmmod: %s", strerror(-err));
	EXPECT_EQ(left, st_dmesg_grep("blob objects left"));
out:
	st_rmtree(tmp);
}

ST_HARNESS_MAIN
