// SPDX-License-Identifier: GPL-2.0
/*
 * A misbehaving daemon, one variant per nydusfs_testd --mode: the kernel
 * refuses every reply that breaks the protocol, readers get the right data
 * or an error (never bytes the daemon did not write, even without -o
 * verify; never wrong bytes with -o verify),
 * never wait past the timeout option, and the module works afterwards.
 * Then daemon death: killed with reads in flight, again and again, a new
 * daemon takes over and every reader gets the right bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
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
#include "nydusfs_dev.h"
#include "nydusfs_fs.h"

/* one message on /dev/nydusfs */
struct ids_msg {
	struct nydusfs_dev_hdr hdr;
	uint8_t body[4096];
};

#define TIMEOUT		2	/* the timeout= mount option, seconds */

enum outcome {
	DATA,		/* the right bytes */
	ERROR,		/* an error, within about the timeout */
	ERROR_FAST,	/* an error, well before the timeout */
	TRUSTED,	/* no -o verify: wrong bytes written are the daemon's word */
};

/* what the reader child saw */
enum seen { SEEN_DATA, SEEN_WRONG, SEEN_ERROR };

FIXTURE(bad) {
	char tmp[PATH_MAX];
	char mnt[PATH_MAX + 8];
	struct st_image img;
	struct st_daemon d;
};

FIXTURE_VARIANT(bad) {
	const char *mode;
	bool recover;
	bool verify;
	enum outcome outcome;
	bool bad_replies;	/* it sends replies the kernel must refuse */
	bool refetch;		/* the kernel must ask again */
};

#define V(name, ...) FIXTURE_VARIANT_ADD(bad, name) { __VA_ARGS__ }
V(normal, .mode = "normal", .outcome = DATA);
V(wrong_id, .mode = "wrong-id", .outcome = ERROR, .bad_replies = true);
V(wrong_id_recover, .mode = "wrong-id", .recover = true, .outcome = DATA, .bad_replies = true);
V(wrong_opcode, .mode = "wrong-opcode", .outcome = ERROR, .bad_replies = true);
V(wrong_opcode_recover, .mode = "wrong-opcode", .recover = true, .outcome = DATA, .bad_replies = true);
V(wrong_object, .mode = "wrong-object", .outcome = ERROR, .bad_replies = true);
V(wrong_object_recover, .mode = "wrong-object", .recover = true, .outcome = DATA, .bad_replies = true);
V(wrong_range, .mode = "wrong-range", .outcome = ERROR, .bad_replies = true);
V(wrong_range_recover, .mode = "wrong-range", .recover = true, .outcome = DATA, .bad_replies = true);
V(wrong_owner, .mode = "wrong-owner", .outcome = ERROR, .bad_replies = true);
V(wrong_owner_recover, .mode = "wrong-owner", .recover = true, .outcome = DATA, .bad_replies = true);
V(double_reply, .mode = "double", .outcome = DATA, .bad_replies = true);
V(close_reply, .mode = "close-reply", .outcome = DATA);
V(short_msg, .mode = "short-msg", .outcome = ERROR, .bad_replies = true);
V(short_msg_recover, .mode = "short-msg", .recover = true, .outcome = DATA, .bad_replies = true);
V(long_msg, .mode = "long-msg", .outcome = ERROR, .bad_replies = true);
V(long_msg_recover, .mode = "long-msg", .recover = true, .outcome = DATA, .bad_replies = true);
V(small_read, .mode = "small-read", .outcome = DATA);
V(flood, .mode = "flood", .outcome = DATA, .bad_replies = true);
V(dir_fd, .mode = "dir-fd", .outcome = ERROR, .bad_replies = true);
V(dir_fd_recover, .mode = "dir-fd", .recover = true, .outcome = DATA, .bad_replies = true);
V(fifo_fd, .mode = "fifo-fd", .outcome = ERROR, .bad_replies = true);
V(chr_fd, .mode = "chr-fd", .outcome = ERROR, .bad_replies = true);
V(wronly_fd, .mode = "wronly-fd", .outcome = ERROR, .bad_replies = true);
V(bad_fd, .mode = "bad-fd", .outcome = ERROR, .bad_replies = true);
V(bad_fd_recover, .mode = "bad-fd", .recover = true, .outcome = DATA, .bad_replies = true);
V(bad_bitmap, .mode = "bad-bitmap", .outcome = ERROR, .bad_replies = true);
V(bad_bitmap_recover, .mode = "bad-bitmap", .recover = true, .outcome = DATA, .bad_replies = true);
V(bad_init, .mode = "bad-init", .outcome = ERROR, .bad_replies = true);
V(bad_init_recover, .mode = "bad-init", .recover = true, .outcome = DATA, .bad_replies = true);
V(read_error, .mode = "read-error", .outcome = ERROR_FAST);
V(open_error, .mode = "open-error", .outcome = ERROR_FAST);
V(silent, .mode = "silent", .outcome = ERROR);
V(silent_read, .mode = "silent-read", .outcome = ERROR);
V(exit_mid, .mode = "exit-mid", .outcome = ERROR);
V(no_data, .mode = "no-data", .outcome = ERROR_FAST, .refetch = true);
V(no_data_verify, .mode = "no-data", .verify = true, .outcome = ERROR_FAST, .refetch = true);
V(lying_bitmap, .mode = "lying-bitmap", .outcome = DATA, .refetch = true);
V(lying_bitmap_verify, .mode = "lying-bitmap", .verify = true, .outcome = DATA, .refetch = true);
V(bad_data, .mode = "bad-data", .outcome = TRUSTED);
V(bad_data_verify, .mode = "bad-data", .verify = true, .outcome = ERROR_FAST, .refetch = true);

FIXTURE_SETUP(bad)
{
	const char *why = st_missing_prereq();

	if (why)
		SKIP(return, "%s", why);
	if (st_find_image("one", &self->img) || !self->img.src[0])
		SKIP(return, "no image 'one' with its source under %s", st_data_dir());
	ASSERT_EQ(0, st_private_mounts());
	ASSERT_EQ(0, st_mkdtemp(self->tmp, sizeof(self->tmp)));
	snprintf(self->mnt, sizeof(self->mnt), "%s/mnt", self->tmp);
	ASSERT_EQ(0, mkdir(self->mnt, 0755));
}

FIXTURE_TEARDOWN(bad)
{
	if (self->mnt[0])
		umount2(self->mnt, MNT_DETACH);
	if (!_metadata->passed) {
		st_daemon_log(&self->d);
		st_dmesg_tail(15);
	}
	st_daemon_kill(&self->d, SIGKILL);
	st_rmtree(self->tmp);
}

/* Read @path in a child, compare with @src: what it saw, and how long */
static enum seen read_in_child(const char *path, const char *src, int limit,
			       double *secs, int *err)
{
	int pfd[2], status = 0, e = 0;
	double t0 = st_now();
	char why[512];
	pid_t pid;

	if (pipe(pfd))
		return SEEN_ERROR;
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(pfd[0]);
		e = st_cmp_files(path, src, why, sizeof(why));
		if (write(pfd[1], &e, sizeof(e)) != sizeof(e))
			_exit(3);
		_exit(e == 0 ? SEEN_DATA : e == -EBADMSG ? SEEN_WRONG : SEEN_ERROR);
	}
	close(pfd[1]);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (st_now() - t0 > limit) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(pfd[0]);
			*secs = st_now() - t0;
			*err = -ETIMEDOUT;
			return SEEN_ERROR;
		}
		usleep(20000);
	}
	*secs = st_now() - t0;
	if (read(pfd[0], &e, sizeof(e)) != sizeof(e))
		e = -EPIPE;
	close(pfd[0]);
	*err = e;
	return WIFEXITED(status) ? WEXITSTATUS(status) : SEEN_ERROR;
}

static const char *const seen_names[] = { "the right data", "WRONG DATA", "an error" };

TEST_F_TIMEOUT(bad, serve, 60)
{
	char path[PATH_MAX + 16], src[PATH_MAX + 16], opts[64], why[512];
	const char *args[] = { "--mode", variant->mode, NULL, NULL };
	struct st_daemon good;
	enum seen seen;
	double secs;
	int err;

	ST_SKIPPED();
	if (variant->recover)
		args[2] = "--recover";
	err = st_daemon_start(&self->d, self->img.blob_dir, self->tmp, args);
	ASSERT_EQ(0, err) TH_LOG("daemon: %s", strerror(-err));
	snprintf(opts, sizeof(opts), "timeout=%d%s", TIMEOUT,
		 variant->verify ? ",verify" : "");
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, opts));
	snprintf(path, sizeof(path), "%s/data", self->mnt);
	snprintf(src, sizeof(src), "%s/data", self->img.src);

	/* no wait may outlast the timeout by much: 4 of them is a hang */
	seen = read_in_child(path, src, 4 * TIMEOUT + 10, &secs, &err);
	TH_LOG("mode %s%s%s: %s (%s) after %.1f s; daemon: %ld bad replies refused, %ld taken, %ld refetches",
	       variant->mode, variant->recover ? " --recover" : "",
	       variant->verify ? " -o verify" : "", seen_names[seen],
	       err ? strerror(-err) : "ok", secs, st_stat(&self->d, "bad_rejected"),
	       st_stat(&self->d, "bad_accepted"), st_stat(&self->d, "refetch"));
	EXPECT_NE(-ETIMEDOUT, err) TH_LOG("the reader hung");
	switch (variant->outcome) {
	case DATA:
		EXPECT_EQ(SEEN_DATA, seen);
		break;
	case ERROR:
		EXPECT_EQ(SEEN_ERROR, seen);
		EXPECT_GT(3 * TIMEOUT + 3, secs);
		break;
	case ERROR_FAST:
		EXPECT_EQ(SEEN_ERROR, seen);
		EXPECT_GT(TIMEOUT, secs);
		break;
	case TRUSTED:
		/* wrong data is the daemon's word: only liveness is checked */
		break;
	}
	if (variant->verify)
		EXPECT_NE(SEEN_WRONG, seen);
	EXPECT_EQ(0, st_stat(&self->d, "bad_accepted"));
	EXPECT_EQ(0, st_stat(&self->d, "bad_return"))
		TH_LOG("write() on /dev/nydusfs returned neither -1 nor the length");
	EXPECT_EQ(0, st_stat(&self->d, "proto_errors"));
	if (variant->bad_replies)
		EXPECT_LT(0, st_stat(&self->d, "bad_rejected"));
	if (variant->refetch)
		EXPECT_LT(0, st_stat(&self->d, "refetch"));
	if (!strcmp(variant->mode, "small-read"))
		EXPECT_LT(0, st_stat(&self->d, "emsgsize"));

	/* the mount goes; a CLOSE answered must be refused too */
	EXPECT_EQ(0, st_umount(self->mnt));
	if (!strcmp(variant->mode, "close-reply"))
		EXPECT_LT(0, st_stat_wait(&self->d, "bad_rejected", 1, 5000));
	if (!_metadata->passed)
		st_daemon_log(&self->d);
	st_daemon_kill(&self->d, SIGKILL);

	/* and the module is fine: a good daemon, a fresh cache, right data */
	snprintf(path, sizeof(path), "%s/again", self->tmp);
	ASSERT_EQ(0, mkdir(path, 0755));
	ASSERT_EQ(0, st_daemon_start(&good, self->img.blob_dir, path, NULL));
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, "timeout=20"));
	snprintf(path, sizeof(path), "%s/data", self->mnt);
	EXPECT_EQ(0, st_cmp_files(path, src, why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(1, st_stat(&good, "open"));
	st_umount(self->mnt);
	st_daemon_kill(&good, SIGKILL);
}

/* ---- daemon death with reads in flight ---- */

FIXTURE(death) {
	char tmp[PATH_MAX];
	char mnt[PATH_MAX + 8];
	char ref[PATH_MAX + 8];
	struct st_image img;
	struct st_daemon d;
};

FIXTURE_SETUP(death)
{
	const char *why = st_missing_prereq();

	if (why)
		SKIP(return, "%s", why);
	if (st_find_image("root", &self->img) || !self->img.erofs[0])
		SKIP(return, "no image 'root' with its erofs under %s", st_data_dir());
	ASSERT_EQ(0, st_private_mounts());
	ASSERT_EQ(0, st_mkdtemp(self->tmp, sizeof(self->tmp)));
	snprintf(self->mnt, sizeof(self->mnt), "%s/mnt", self->tmp);
	snprintf(self->ref, sizeof(self->ref), "%s/ref", self->tmp);
	ASSERT_EQ(0, mkdir(self->mnt, 0755));
	ASSERT_EQ(0, mkdir(self->ref, 0755));
	ASSERT_EQ(0, st_mount_erofs(self->img.erofs, self->ref));
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, "timeout=60"));
}

FIXTURE_TEARDOWN(death)
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

struct reader {
	const char *mnt, *ref;
	int index, count;
	unsigned long budget;	/* bytes to read */
	unsigned long files, bytes, wrong, errors;
	int n;
};

static int reader_visit(int dfd, const char *name, const struct stat *st,
			const char *path, int err, void *arg)
{
	char full[PATH_MAX * 2];
	struct reader *r = arg;
	uint64_t h, hr;

	(void)dfd;
	if (err || !S_ISREG(st->st_mode))
		return 0;
	if (r->n++ % r->count != r->index)
		return 0;
	if (r->bytes >= r->budget)
		return 1;
	snprintf(full, sizeof(full), "%s%s", r->mnt, path);
	err = st_hash_file(AT_FDCWD, full, &h, &r->bytes);
	snprintf(full, sizeof(full), "%s%s", r->ref, path);
	if (!err)
		err = st_hash_file(AT_FDCWD, full, &hr, NULL);
	(void)name;
	r->files++;
	if (err) {
		if (r->errors++ < 5)
			fprintf(stderr, "# reader %d: %s: %s\n", r->index, path,
				strerror(-err));
	} else if (h != hr) {
		if (r->wrong++ < 5)
			fprintf(stderr, "# reader %d: %s: WRONG DATA\n", r->index, path);
	}
	return 0;
}

/* A reader process: its share of the files; exit 0 if all were right */
static pid_t start_reader(const char *mnt, const char *ref, int index,
			  int count, unsigned long budget)
{
	struct reader r = { .mnt = mnt, .ref = ref, .index = index,
			    .count = count, .budget = budget };
	pid_t pid = fork();

	if (pid)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	st_walk(mnt, reader_visit, &r);
	fprintf(stderr, "# reader %d: %lu files, %lu KiB, %lu wrong, %lu errors\n",
		index, r.files, r.bytes >> 10, r.wrong, r.errors);
	_exit(r.wrong || r.errors || !r.files ? 1 : 0);
}

static int running(pid_t *pids, int n, int *status)
{
	int i, left = 0;

	for (i = 0; i < n; i++) {
		if (pids[i] > 0 && waitpid(pids[i], &status[i], WNOHANG) == pids[i])
			pids[i] = -pids[i];
		left += pids[i] > 0;
	}
	return left;
}

#define READERS	6

TEST_F_TIMEOUT(death, kill_and_restart, 180)
{
	const char *args[] = { "--batch", "8", "--delay-ms", "3", NULL };
	int status[READERS] = {}, kills = 0, i;
	pid_t pids[READERS];
	double t0 = st_now();
	long reads = 0;

	ST_SKIPPED();
	ASSERT_EQ(0, st_daemon_start(&self->d, self->img.blob_dir, self->tmp, args));
	for (i = 0; i < READERS; i++)
		pids[i] = start_reader(self->mnt, self->ref, i, READERS, 5 << 20);
	/* kill -9 the daemon under the readers, start another on the cache */
	while (kills < 8 && running(pids, READERS, status)) {
		usleep(400000 + 100000 * (kills % 3));
		if (!running(pids, READERS, status))
			break;
		reads += st_stat(&self->d, "read");
		st_daemon_kill(&self->d, SIGKILL);
		kills++;
		usleep(kills % 2 ? 200000 : 0);	/* sometimes no daemon a while */
		ASSERT_EQ(0, st_daemon_start(&self->d, self->img.blob_dir,
					     self->tmp, args));
	}
	while (running(pids, READERS, status) && st_now() - t0 < 150)
		usleep(50000);
	reads += st_stat(&self->d, "read");
	TH_LOG("%d daemons killed under the readers; %ld READ served in %.1f s",
	       kills, reads, st_now() - t0);
	EXPECT_LE(3, kills);
	for (i = 0; i < READERS; i++) {
		EXPECT_GT(0, pids[i]) TH_LOG("reader %d still running", i);
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], &status[i], 0);
		}
		EXPECT_TRUE(WIFEXITED(status[i]) && WEXITSTATUS(status[i]) == 0)
			TH_LOG("reader %d: status 0x%x", i, status[i]);
	}
	EXPECT_EQ(0, st_stat(&self->d, "bad_accepted"));
}

/* The daemon dies holding a READ; the next one answers it */
TEST_F_TIMEOUT(death, exit_mid_request, 60)
{
	const char *args[] = { "--mode", "exit-mid", NULL };
	char path[PATH_MAX + 64], src[PATH_MAX + 64];
	enum seen seen;
	double secs;
	pid_t pid;
	int err, status;

	ST_SKIPPED();
	ASSERT_EQ(0, st_daemon_start(&self->d, self->img.blob_dir, self->tmp, args));
	snprintf(path, sizeof(path), "%s/etc/debian_version", self->mnt);
	snprintf(src, sizeof(src), "%s/etc/debian_version", self->ref);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		seen = read_in_child(path, src, 50, &secs, &err);
		fprintf(stderr, "# reader: %s after %.1f s\n", seen_names[seen], secs);
		_exit(seen);
	}
	/* the first daemon exits once it holds the READ */
	ASSERT_LE(0, waitpid(self->d.pid, &status, 0));
	self->d.pid = 0;
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	ASSERT_EQ(0, st_daemon_start(&self->d, self->img.blob_dir, self->tmp, NULL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == SEEN_DATA);
	EXPECT_LE(1, st_stat(&self->d, "read"));
}

/* ---- object ids: a CLOSE read late never names a newer object ---- */

FIXTURE(ids) {
	char tmp[PATH_MAX];
	char mnt[PATH_MAX + 8];
	struct st_image img;
	int dev;
};

FIXTURE_SETUP(ids)
{
	const char *why = st_missing_prereq();

	self->dev = -1;
	if (why)
		SKIP(return, "%s", why);
	if (st_find_image("one", &self->img))
		SKIP(return, "no image 'one' under %s", st_data_dir());
	ASSERT_EQ(0, st_private_mounts());
	ASSERT_EQ(0, st_mkdtemp(self->tmp, sizeof(self->tmp)));
	snprintf(self->mnt, sizeof(self->mnt), "%s/mnt", self->tmp);
	ASSERT_EQ(0, mkdir(self->mnt, 0755));
}

FIXTURE_TEARDOWN(ids)
{
	if (self->mnt[0])
		umount2(self->mnt, MNT_DETACH);
	if (self->dev >= 0)
		close(self->dev);
	st_rmtree(self->tmp);
}

/* The next request, waiting up to @ms; 0 or -errno */
static int ids_take(int dev, struct ids_msg *m, int ms)
{
	struct pollfd pfd = { .fd = dev, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, ms) != 1)
		return -ETIMEDOUT;
	n = read(dev, m, sizeof(*m));
	if (n < (ssize_t)sizeof(m->hdr))
		return n < 0 ? -errno : -EPROTO;
	return 0;
}

/* Likewise, past the CLOSEs earlier tests left unread */
static int ids_take_open_read(int dev, struct ids_msg *m)
{
	int err, i;

	for (i = 0; i < 64; i++) {
		err = ids_take(dev, m, 10000);
		if (err || m->hdr.opcode != NYDUSFS_OP_CLOSE)
			return err;
	}
	return -ELOOP;
}

static int ids_reply(int dev, const struct nydusfs_dev_hdr *req, int error,
		     const void *body, size_t len)
{
	struct ids_msg m = { .hdr = *req };

	m.hdr.len = sizeof(m.hdr) + len;
	m.hdr.error = error;
	memcpy(m.body, body, len);
	return write(dev, &m, m.hdr.len) == m.hdr.len ? 0 : -errno;
}

/* Fork a reader: 0 in the child, with @mnt/data open in *@fd (or -1) */
static pid_t ids_fork_open(const char *mnt, int *fd)
{
	char path[PATH_MAX + 16];
	pid_t pid = fork();

	if (pid)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(path, sizeof(path), "%s/data", mnt);
	*fd = open(path, O_RDONLY);
	return 0;
}

/* A reader of @mnt/data whose first read must fail: exits 0 if it does */
static pid_t ids_reader(const char *mnt)
{
	char buf[4096];
	int fd;
	pid_t pid = ids_fork_open(mnt, &fd);

	if (pid)
		return pid;
	_exit(fd >= 0 && read(fd, buf, sizeof(buf)) < 0 ? 0 : 1);
}

TEST_F_TIMEOUT(ids, close_holds_id, 60)
{
	struct nydusfs_dev_init_reply init = { .version = NYDUSFS_DEV_VERSION };
	struct nydusfs_dev_open_reply open_rep = {};
	struct nydusfs_dev_read_reply read_rep;
	struct nydusfs_dev_read *rd;
	struct ids_msg m;
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	char cache[PATH_MAX + 16];
	uint32_t old_id = 0;
	bool closed = false;
	int status, i;
	pid_t pid;

	ST_SKIPPED();
	self->dev = open(ST_DEV, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, self->dev);
	ASSERT_EQ(0, ids_take(self->dev, &m, 10000));
	ASSERT_EQ(NYDUSFS_OP_INIT, m.hdr.opcode);
	ASSERT_EQ(0, ids_reply(self->dev, &m.hdr, 0, &init, sizeof(init)));
	snprintf(cache, sizeof(cache), "%s/cache", self->tmp);
	open_rep.fd = open(cache, O_RDWR | O_CREAT, 0600);
	ASSERT_LE(0, open_rep.fd);

	/* a first object: opened, a READ refused, unmounted: CLOSE queued */
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, "timeout=5"));
	pid = ids_reader(self->mnt);
	ASSERT_EQ(0, ids_take_open_read(self->dev, &m));
	ASSERT_EQ(NYDUSFS_OP_OPEN, m.hdr.opcode);
	old_id = m.hdr.object_id;
	memcpy(digest, ((struct nydusfs_dev_blob *)m.body)->digest, sizeof(digest));
	ASSERT_EQ(0, ids_reply(self->dev, &m.hdr, 0, &open_rep, sizeof(open_rep)));
	ASSERT_EQ(0, ids_take_open_read(self->dev, &m));
	ASSERT_EQ(NYDUSFS_OP_READ, m.hdr.opcode);
	rd = (struct nydusfs_dev_read *)m.body;
	read_rep.chunk_index = rd->chunk_index;
	read_rep.chunk_count = rd->chunk_count;
	ASSERT_EQ(0, ids_reply(self->dev, &m.hdr, -EIO, &read_rep, sizeof(read_rep)));
	/* refuse every READ (readahead asks for several) until the reader is gone */
	while (waitpid(pid, &status, WNOHANG) == 0) {
		struct pollfd pfd = { .fd = self->dev, .events = POLLIN };

		if (poll(&pfd, 1, 100) != 1 || read(self->dev, &m, sizeof(m)) < 0 ||
		    m.hdr.opcode != NYDUSFS_OP_READ)
			continue;
		rd = (struct nydusfs_dev_read *)m.body;
		read_rep.chunk_index = rd->chunk_index;
		read_rep.chunk_count = rd->chunk_count;
		ids_reply(self->dev, &m.hdr, -EIO, &read_rep, sizeof(read_rep));
	}
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* READs queued but not read yet would keep the object: refuse them */
	while (!ids_take(self->dev, &m, 500)) {
		if (m.hdr.opcode != NYDUSFS_OP_READ)
			continue;
		rd = (struct nydusfs_dev_read *)m.body;
		read_rep.chunk_index = rd->chunk_index;
		read_rep.chunk_count = rd->chunk_count;
		ids_reply(self->dev, &m.hdr, -EIO, &read_rep, sizeof(read_rep));
	}
	ASSERT_EQ(0, st_umount(self->mnt));

	/* a second object of the same blob, its OPEN queued behind the CLOSE */
	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, "timeout=5"));
	pid = ids_reader(self->mnt);
	for (i = 0; i < 64; i++) {
		ASSERT_EQ(0, ids_take(self->dev, &m, 10000));
		if (m.hdr.opcode != NYDUSFS_OP_OPEN) {
			if (m.hdr.opcode == NYDUSFS_OP_CLOSE && m.hdr.object_id == old_id)
				closed = true;
			continue;
		}
		ASSERT_EQ(NYDUSFS_OP_OPEN, m.hdr.opcode);
		EXPECT_EQ(0, memcmp(digest, ((struct nydusfs_dev_blob *)m.body)->digest,
				    sizeof(digest)));
		EXPECT_NE(old_id, m.hdr.object_id)
			TH_LOG("object id %u reused while its CLOSE was unread", old_id);
		ASSERT_EQ(0, ids_reply(self->dev, &m.hdr, -EIO, &(struct nydusfs_dev_open_reply){ 0 },
				       sizeof(struct nydusfs_dev_open_reply)));
		break;
	}
	ASSERT_GT(64, i);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the CLOSE may come before or after the OPEN */
	for (i = 0; !closed && i < 16 && !ids_take(self->dev, &m, 10000); i++)
		if (m.hdr.opcode == NYDUSFS_OP_CLOSE && m.hdr.object_id == old_id)
			closed = true;
	EXPECT_TRUE(closed);
	close(open_rep.fd);
}

/* ---- READ replies naming the chunks present after their range ---- */

/* A reader of the whole of @mnt/data: exits 0 if it read @size bytes */
static pid_t ids_reader_all(const char *mnt, off_t size)
{
	char buf[4096];
	off_t got = 0;
	ssize_t n;
	int fd;
	pid_t pid = ids_fork_open(mnt, &fd);

	if (pid)
		return pid;
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		got += n;
	_exit(got == size ? 0 : 1);
}

/* Answer READ @m with @error and @after; 0 or -errno of the write */
static int ids_reply_after(int dev, const struct ids_msg *m, int error,
			   uint32_t after, uint32_t reserved)
{
	const struct nydusfs_dev_read *rd = (const void *)m->body;
	struct nydusfs_dev_read_reply_after rep = {
		.head = { rd->chunk_index, rd->chunk_count },
		.present_after = after, .reserved = reserved,
	};

	return ids_reply(dev, &m->hdr, error, &rep, sizeof(rep));
}

/*
 * With PRESENT_AFTER: malformed long replies are refused (short form,
 * nonzero reserved, present_after with an error, or past the blob's
 * chunks); a good one marks the chunks after the range present, and the
 * reader gets them from the cache file with no READ of their own.
 */
TEST_F_TIMEOUT(ids, present_after, 60)
{
	struct nydusfs_dev_init_reply init = {
		.version = NYDUSFS_DEV_VERSION,
		.features = NYDUSFS_DEV_F_PRESENT_AFTER,
	};
	struct nydusfs_dev_open_reply open_rep = {};
	const struct nydusfs_dev_init *in;
	const struct nydusfs_dev_blob *b;
	const struct nydusfs_dev_read *rd;
	struct nydusfs_dev_read_reply short_rep;
	char cache[PATH_MAX + 16], *fill;
	uint32_t nchunks, left;
	struct ids_msg m;
	int status, reads = 0;
	pid_t pid;

	ST_SKIPPED();
	self->dev = open(ST_DEV, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, self->dev);
	ASSERT_EQ(0, ids_take(self->dev, &m, 10000));
	ASSERT_EQ(NYDUSFS_OP_INIT, m.hdr.opcode);
	in = (const void *)m.body;
	ASSERT_TRUE(in->features & NYDUSFS_DEV_F_PRESENT_AFTER);
	ASSERT_EQ(0, ids_reply(self->dev, &m.hdr, 0, &init, sizeof(init)));

	ASSERT_EQ(0, st_mount(self->img.bootstrap, self->mnt, "timeout=5"));
	pid = ids_reader_all(self->mnt, 262144);
	ASSERT_EQ(0, ids_take_open_read(self->dev, &m));
	ASSERT_EQ(NYDUSFS_OP_OPEN, m.hdr.opcode);
	b = (const void *)m.body;
	nchunks = b->chunk_count;
	/* every chunk's range holds data: what the daemon claims is there */
	snprintf(cache, sizeof(cache), "%s/cache", self->tmp);
	open_rep.fd = open(cache, O_RDWR | O_CREAT, 0600);
	ASSERT_LE(0, open_rep.fd);
	fill = malloc(b->uncompressed_size);
	ASSERT_NE(NULL, fill);
	memset(fill, 'x', b->uncompressed_size);
	ASSERT_EQ((ssize_t)b->uncompressed_size,
		  pwrite(open_rep.fd, fill, b->uncompressed_size, 0));
	free(fill);
	ASSERT_EQ(0, ids_reply(self->dev, &m.hdr, 0, &open_rep, sizeof(open_rep)));

	ASSERT_EQ(0, ids_take_open_read(self->dev, &m));
	ASSERT_EQ(NYDUSFS_OP_READ, m.hdr.opcode);
	rd = (const void *)m.body;
	ASSERT_EQ(0, rd->chunk_index);
	ASSERT_GT(4, rd->chunk_count);	/* data is chunks 0..3 */
	left = nchunks - rd->chunk_count;
	short_rep.chunk_index = rd->chunk_index;
	short_rep.chunk_count = rd->chunk_count;
	EXPECT_EQ(-EINVAL, ids_reply(self->dev, &m.hdr, 0, &short_rep,
				     sizeof(short_rep)));
	EXPECT_EQ(-EINVAL, ids_reply_after(self->dev, &m, 0, 1, 1));
	EXPECT_EQ(-EINVAL, ids_reply_after(self->dev, &m, -EIO, 1, 0));
	EXPECT_EQ(-EINVAL, ids_reply_after(self->dev, &m, 0, left + 1, 0));
	EXPECT_EQ(-EINVAL, ids_reply_after(self->dev, &m, 0, UINT32_MAX, 0));
	/* the chunks of data after the first: present (the rest too) */
	ASSERT_EQ(0, ids_reply_after(self->dev, &m, 0, left, 0));

	/* the reader needs no other READ */
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (ids_take(self->dev, &m, 100) || m.hdr.opcode != NYDUSFS_OP_READ)
			continue;
		reads++;
		ids_reply_after(self->dev, &m, -EIO, 0, 0);
	}
	EXPECT_EQ(0, reads);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(0, st_umount(self->mnt));
	close(open_rep.fd);
}

ST_HARNESS_MAIN
