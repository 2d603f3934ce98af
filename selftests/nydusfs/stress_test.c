// SPDX-License-Identifier: GPL-2.0
/*
 * Stress: many readers of many files at once; many readers of one missing
 * chunk (64 files sharing it) make one READ; unmount while readers are
 * busy (EBUSY, then a lazy unmount that lets them finish); readers blocked
 * on a silent daemon die at once when killed; mount and unmount in a loop.
 * No hang, no oops, no wrong byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "helpers.h"

FIXTURE(stress) {
	char tmp[PATH_MAX];
	char mnt[PATH_MAX + 8];
	char ref[PATH_MAX + 8];
	struct st_image img;
	struct st_daemon d;
};

FIXTURE_SETUP(stress)
{
	const char *why = st_missing_prereq();

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, st_private_mounts());
	ASSERT_EQ(0, st_mkdtemp(self->tmp, sizeof(self->tmp)));
	snprintf(self->mnt, sizeof(self->mnt), "%s/mnt", self->tmp);
	snprintf(self->ref, sizeof(self->ref), "%s/ref", self->tmp);
	ASSERT_EQ(0, mkdir(self->mnt, 0755));
	ASSERT_EQ(0, mkdir(self->ref, 0755));
}

FIXTURE_TEARDOWN(stress)
{
	if (self->mnt[0])
		umount2(self->mnt, MNT_DETACH);
	if (self->ref[0])
		umount2(self->ref, MNT_DETACH);
	if (!_metadata->passed)
		st_daemon_log(&self->d);
	st_daemon_kill(&self->d, SIGKILL);
	st_rmtree(self->tmp);
}

#define IMAGE(name) do {							\
	if (st_find_image(name, &self->img))					\
		SKIP(return, "no image '%s' under %s", name, st_data_dir());	\
} while (0)

/* ---- many readers, many files ---- */

struct files {
	char (*path)[512];
	int n;
};

static int list_visit(int dfd, const char *name, const struct stat *st,
		      const char *path, int err, void *arg)
{
	struct files *f = arg;

	(void)dfd;
	(void)name;
	if (err || !S_ISREG(st->st_mode) || f->n >= 4096 ||
	    strlen(path) >= sizeof(f->path[0]) || strstr(path, "..."))
		return 0;
	snprintf(f->path[f->n++], sizeof(f->path[0]), "%s", path);
	return 0;
}

struct thread_arg {
	const struct files *f;
	const char *mnt, *ref;
	unsigned int seed;
	int reads, wrong, errors;
};

static void *reader_thread(void *p)
{
	struct thread_arg *a = p;
	char full[PATH_MAX];
	uint64_t h, hr;
	int i, k, err;

	for (k = 0; k < a->reads; k++) {
		a->seed = a->seed * 1103515245 + 12345;
		i = (a->seed >> 8) % a->f->n;
		snprintf(full, sizeof(full), "%s%s", a->mnt, a->f->path[i]);
		err = st_hash_file(AT_FDCWD, full, &h, NULL);
		snprintf(full, sizeof(full), "%s%s", a->ref, a->f->path[i]);
		if (!err)
			err = st_hash_file(AT_FDCWD, full, &hr, NULL);
		if (err)
			a->errors++;
		else if (h != hr)
			a->wrong++;
	}
	return NULL;
}

/* 4 processes of 4 threads, each reading random files */
TEST_F_TIMEOUT(stress, many_readers, 150)
{
	struct files f = { .path = calloc(4096, 512) };
	int p, t, status, failed = 0;
	double t0 = st_now();
	pid_t pids[4];

	ST_SKIPPED();
	IMAGE("gen-e");
	ASSERT_NE(NULL, f.path);
	ASSERT_EQ(0, st_mount_erofs(self->img.erofs, self->ref));
	ASSERT_EQ(0, st_daemon_start(&self->d, self->img.blob_dir, self->tmp,
				     (const char *[]){ "--batch", "8", NULL }));
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, "timeout=60"));
	ASSERT_EQ(0, st_walk(self->ref, list_visit, &f));
	ASSERT_LT(100, f.n);
	for (p = 0; p < 4; p++) {
		pids[p] = fork();
		if (pids[p])
			continue;
		pthread_t th[4];
		struct thread_arg a[4];
		int bad = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (t = 0; t < 4; t++) {
			a[t] = (struct thread_arg){ .f = &f, .mnt = self->mnt,
				.ref = self->ref, .seed = 1000 * p + t, .reads = 60 };
			pthread_create(&th[t], NULL, reader_thread, &a[t]);
		}
		for (t = 0; t < 4; t++) {
			pthread_join(th[t], NULL);
			if (a[t].wrong || a[t].errors)
				fprintf(stderr, "# process %d thread %d: %d wrong, %d errors\n",
					p, t, a[t].wrong, a[t].errors);
			bad += a[t].wrong + a[t].errors;
		}
		_exit(bad ? 1 : 0);
	}
	for (p = 0; p < 4; p++) {
		ASSERT_EQ(pids[p], waitpid(pids[p], &status, 0));
		failed += !WIFEXITED(status) || WEXITSTATUS(status);
	}
	TH_LOG("16 readers, 960 reads of %d files in %.1f s; %ld READ, at most %ld at once",
	       f.n, st_now() - t0, st_stat(&self->d, "read"),
	       st_stat(&self->d, "max_batch"));
	EXPECT_EQ(0, failed);
	EXPECT_EQ(0, st_stat(&self->d, "bad_accepted"));
	EXPECT_EQ(0, st_stat(&self->d, "read_errors"));
	free(f.path);
}

/* ---- one chunk, many readers ---- */

/*
 * Fork @n readers of same/f00..; they start together when @go is closed.
 * A reader exits 0 if it read the right data, 10 if that took a second or
 * more (it waited for the daemon), 1 if not.
 */
static int start_same_readers(const char *mnt, const char *src, int n,
			      pid_t *pids, int go[2])
{
	char path[PATH_MAX + 64], ref[PATH_MAX + 64], why[512], c;
	double t0;
	int i;

	if (pipe(go))
		return -errno;
	for (i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return -errno;
		if (pids[i])
			continue;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(go[1]);
		if (read(go[0], &c, 1) < 0)
			_exit(3);
		snprintf(path, sizeof(path), "%s/same/f%02d", mnt, i % 64);
		snprintf(ref, sizeof(ref), "%s/same/f%02d", src, i % 64);
		t0 = st_now();
		if (st_cmp_files(path, ref, why, sizeof(why))) {
			fprintf(stderr, "# reader %d: %s\n", i, why);
			_exit(1);
		}
		_exit(st_now() - t0 >= 1 ? 10 : 0);
	}
	close(go[0]);
	return 0;
}

/* how many readers failed; *@waited: how many waited for the daemon */
static int wait_all(pid_t *pids, int n, int *waited)
{
	int i, status, failed = 0;

	*waited = 0;
	for (i = 0; i < n; i++) {
		if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status))
			failed++;
		else if (WEXITSTATUS(status) == 10)
			(*waited)++;
		else if (WEXITSTATUS(status))
			failed++;
	}
	return failed;
}

TEST_F_TIMEOUT(stress, one_chunk_one_request, 90)
{
	const char *args[] = { "--delay-ms", "1500", "--batch", "64", NULL };
	pid_t pids[32];
	int go[2], waited;

	ST_SKIPPED();
	IMAGE("dedup");
	if (!self->img.src[0])
		SKIP(return, "no source tree");
	ASSERT_EQ(0, st_daemon_start(&self->d, self->img.blob_dir, self->tmp, args));
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, "timeout=30"));
	ASSERT_EQ(0, start_same_readers(self->mnt, self->img.src, 32, pids, go));
	close(go[1]);
	EXPECT_EQ(0, wait_all(pids, 32, &waited));
	TH_LOG("32 readers of 32 files sharing one chunk, %d waited for it: %ld OPEN, %ld READ",
	       waited, st_stat(&self->d, "open"), st_stat(&self->d, "read"));
	/* most of them were waiting while the one READ was out */
	EXPECT_LE(16, waited);
	EXPECT_EQ(1, st_stat(&self->d, "open"));
	EXPECT_EQ(1, st_stat(&self->d, "read"));
	EXPECT_EQ(1, st_stat(&self->d, "chunks"));
}

/* umount with readers in the middle: EBUSY; a lazy umount lets them end */
TEST_F_TIMEOUT(stress, umount_while_busy, 90)
{
	const char *args[] = { "--delay-ms", "1000", NULL };
	pid_t pids[8];
	int go[2], waited;

	ST_SKIPPED();
	IMAGE("dedup");
	if (!self->img.src[0])
		SKIP(return, "no source tree");
	ASSERT_EQ(0, st_daemon_start(&self->d, self->img.blob_dir, self->tmp, args));
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, "timeout=30"));
	ASSERT_EQ(0, start_same_readers(self->mnt, self->img.src, 8, pids, go));
	close(go[1]);
	usleep(300000);		/* they are waiting for the chunk */
	EXPECT_EQ(-EBUSY, st_umount(self->mnt));
	EXPECT_EQ(0, umount2(self->mnt, MNT_DETACH));
	EXPECT_EQ(0, wait_all(pids, 8, &waited));
	EXPECT_LE(1, waited);
	/* the last file closed: the superblock and the blob object go */
	EXPECT_LE(1, st_stat_wait(&self->d, "close", 1, 5000));
}

TEST_F_TIMEOUT(stress, mount_cycles, 90)
{
	char path[PATH_MAX + 32], src[PATH_MAX + 32], why[512];
	int i;

	ST_SKIPPED();
	IMAGE("small");
	if (!self->img.src[0])
		SKIP(return, "no source tree");
	ASSERT_EQ(0, st_daemon_start(&self->d, self->img.blob_dir, self->tmp, NULL));
	snprintf(path, sizeof(path), "%s/dir/random", self->mnt);
	snprintf(src, sizeof(src), "%s/dir/random", self->img.src);
	for (i = 0; i < 40; i++) {
		ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt,
				      i % 2 ? "timeout=5,verify" : "timeout=5"));
		EXPECT_EQ(0, st_cmp_files(path, src, why, sizeof(why))) TH_LOG("%s", why);
		ASSERT_EQ(0, st_umount(self->mnt));
	}
	/* each mount opened the blob again, each umount closed it */
	EXPECT_EQ(40, st_stat(&self->d, "open"));
	EXPECT_EQ(40, st_stat_wait(&self->d, "close", 40, 5000));
	/* the first mount fetched everything */
	EXPECT_GE(76, st_stat(&self->d, "chunks"));
}

/* readers stuck on a silent daemon die as soon as they are killed */
TEST_F_TIMEOUT(stress, waits_are_killable, 60)
{
	const char *args[] = { "--mode", "silent", NULL };
	int i, status, reaped = 0;
	pid_t pids[8];
	double t0;
	int go[2];

	ST_SKIPPED();
	IMAGE("dedup");
	if (!self->img.src[0])
		SKIP(return, "no source tree");
	ASSERT_EQ(0, st_daemon_start(&self->d, self->img.blob_dir, self->tmp, args));
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, "timeout=600"));
	ASSERT_EQ(0, start_same_readers(self->mnt, self->img.src, 8, pids, go));
	close(go[1]);
	usleep(500000);
	t0 = st_now();
	for (i = 0; i < 8; i++)
		kill(pids[i], SIGKILL);
	while (reaped < 8 && st_now() - t0 < 10) {
		for (i = 0; i < 8; i++)
			if (pids[i] > 0 && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				pids[i] = 0;
				reaped++;
			}
		usleep(10000);
	}
	TH_LOG("%d of 8 blocked readers gone %.2f s after SIGKILL", reaped,
	       st_now() - t0);
	EXPECT_EQ(8, reaped);
	/* unmount with their requests still queued: no hang */
	EXPECT_EQ(0, umount2(self->mnt, MNT_DETACH));
}

ST_HARNESS_MAIN
