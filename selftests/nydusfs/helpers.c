// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by the nydusfs kselftests (see helpers.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/loop.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "nydusfs_fs.h"

/* ---- environment ---- */

const char *st_data_dir(void)
{
	const char *d = getenv("NYDUSFS_SELFTEST_DATA");

	return d && *d ? d : "/mnt/disk0";
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static int copy_fd(int in, int out)
{
	static char buf[1 << 20];
	ssize_t n;

	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			return -EIO;
	return n < 0 ? -errno : 0;
}

static int stage_file(const char *src, const char *dst)
{
	int in, out, err;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		err = -errno;
		close(in);
		return err;
	}
	err = copy_fd(in, out);
	close(in);
	if (close(out) && !err)
		err = -errno;
	return err;
}

#define STAGE_DIR	"/tmp/nydusfs-stage"

/*
 * Copy the blobs and the erofs image of @img into guest memory (tmpfs),
 * once per boot: small random reads from the virtio disk are slow under
 * TCG, a sequential copy is not.  The bootstrap stays on the disk (tmpfs
 * has no ->read_folio).
 */
static int stage_image(struct st_image *img)
{
	char dir[PATH_MAX], tmp[PATH_MAX], src[PATH_MAX * 2], dst[PATH_MAX * 2];
	struct dirent *de;
	DIR *d;
	int err = 0;

	snprintf(dir, sizeof(dir), STAGE_DIR "/%s", img->name);
	if (access(dir, F_OK)) {
		mkdir(STAGE_DIR, 0755);
		snprintf(tmp, sizeof(tmp), "%s.%d", dir, getpid());
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return -errno;
		snprintf(dst, sizeof(dst), "%s/blobs", tmp);
		mkdir(dst, 0755);
		d = opendir(img->blob_dir);
		if (!d)
			return -errno;
		while (!err && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(src, sizeof(src), "%s/%s", img->blob_dir, de->d_name);
			snprintf(dst, sizeof(dst), "%s/blobs/%s", tmp, de->d_name);
			err = stage_file(src, dst);
		}
		closedir(d);
		if (!err && img->erofs[0]) {
			snprintf(dst, sizeof(dst), "%s/image.erofs", tmp);
			err = stage_file(img->erofs, dst);
		}
		if (err || rename(tmp, dir)) {
			err = err ?: -errno;
			st_rmtree(tmp);
			if (access(dir, F_OK))
				return err;
		}
	}
	snprintf(img->blob_dir, sizeof(img->blob_dir), "%s/blobs", dir);
	if (img->erofs[0])
		snprintf(img->erofs, sizeof(img->erofs), "%s/image.erofs", dir);
	return 0;
}

int st_find_image(const char *name, struct st_image *img)
{
	const char *d = st_data_dir();

	memset(img, 0, sizeof(*img));
	snprintf(img->name, sizeof(img->name), "%s", name);
	snprintf(img->bootstrap, sizeof(img->bootstrap), "%s/img/%s/bootstrap",
		 d, name);
	snprintf(img->blob_dir, sizeof(img->blob_dir), "%s/img/%s/blobs", d,
		 name);
	snprintf(img->erofs, sizeof(img->erofs), "%s/erofs/%s.erofs", d, name);
	snprintf(img->src, sizeof(img->src), "%s/src/%s", d, name);
	if (!exists(img->erofs))
		img->erofs[0] = 0;
	if (!exists(img->src))
		img->src[0] = 0;
	if (!exists(img->bootstrap) || !exists(img->blob_dir))
		return -ENOENT;
	return stage_image(img);
}

const char *st_missing_prereq(void)
{
	static char why[256];

	if (geteuid())
		return "needs root";
	if (!exists(ST_DEV)) {
		snprintf(why, sizeof(why), "no %s: nydusfs.ko not loaded", ST_DEV);
		return why;
	}
	return NULL;
}

/* the directory of this program, where nydusfs_testd is too */
const char *st_self_dir(void)
{
	static char dir[PATH_MAX];
	ssize_t n;
	char *slash;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n < 0)
		n = 0;
	dir[n] = 0;
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		strcpy(dir, ".");
	return dir;
}

/* ---- mounts ---- */

int st_private_mounts(void)
{
	if (unshare(CLONE_NEWNS))
		return -errno;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -errno;
	return 0;
}

int st_mkdtemp(char *buf, size_t size)
{
	snprintf(buf, size, "/tmp/nydusfs-st.XXXXXX");
	return mkdtemp(buf) ? 0 : -errno;
}

static int rm_one(const char *path, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path) && errno != ENOENT ? -1 : 0;
	return unlink(path) && errno != ENOENT ? -1 : 0;
}

int st_rmtree(const char *dir)
{
	if (!dir || !dir[0])
		return 0;
	return nftw(dir, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) ? -errno : 0;
}

int st_mount(const char *bootstrap, const char *dir, const char *opts)
{
	return mount(bootstrap, dir, "nydusfs", MS_RDONLY, opts) ? -errno : 0;
}

/*
 * A loop device over @img, gone at umount: its fd in *@lfdp, to be closed
 * once the device is mounted (an autoclear device goes at its last close).
 */
static int loop_attach(const char *img, bool ro, char *dev, size_t size,
		       int *lfdp)
{
	struct loop_config cfg = {
		.info.lo_flags = LO_FLAGS_AUTOCLEAR |
				 (ro ? LO_FLAGS_READ_ONLY : 0),
	};
	int ctl, nr, fd, lfd, err = 0;

	fd = open(img, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		err = -errno;
		goto out;
	}
	nr = ioctl(ctl, LOOP_CTL_GET_FREE);
	close(ctl);
	if (nr < 0) {
		err = -errno;
		goto out;
	}
	snprintf(dev, size, "/dev/loop%d", nr);
	lfd = open(dev, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (lfd < 0) {
		err = -errno;
		goto out;
	}
	cfg.fd = fd;
	if (ioctl(lfd, LOOP_CONFIGURE, &cfg)) {
		err = -errno;
		close(lfd);
	} else {
		*lfdp = lfd;
	}
out:
	close(fd);
	return err;
}

static int loop_mount(const char *img, const char *dir, const char *type,
		      bool ro)
{
	char dev[64];
	int err, i, lfd = -1;

	/* another test may take the free loop device first */
	for (i = 0; i < 5; i++) {
		err = loop_attach(img, ro, dev, sizeof(dev), &lfd);
		if (err != -EBUSY)
			break;
	}
	if (err)
		return err;
	if (mount(dev, dir, type, ro ? MS_RDONLY : 0, NULL))
		err = -errno;
	close(lfd);
	return err;
}

int st_mount_erofs(const char *img, const char *dir)
{
	return loop_mount(img, dir, "erofs", true);
}

/*
 * A fresh writable ext2 of @mb MiB at @dir, its image in @workdir: for
 * bootstraps a test writes (tmpfs has no ->read_folio, so nydusfs refuses
 * a bootstrap there).
 */
int st_scratch_fs(const char *workdir, const char *dir, unsigned int mb)
{
	const char *argv[] = { "mke2fs", "-q", "-F", NULL, NULL };
	char img[PATH_MAX];
	int fd, err;

	snprintf(img, sizeof(img), "%s/scratch.img", workdir);
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	err = ftruncate(fd, (off_t)mb << 20) ? -errno : 0;
	close(fd);
	if (err)
		return err;
	argv[3] = img;
	err = st_run(argv, 60, true);
	if (err)
		return err < 0 ? err : -EIO;
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	err = loop_mount(img, dir, "ext4", false);
	if (err == -EINVAL)
		err = loop_mount(img, dir, "ext2", false);
	return err;
}

/* copy @src to @dst (a new file) */
int st_copy_file(const char *src, const char *dst)
{
	void *buf;
	size_t len;
	int fd, err;

	err = st_read_file(src, &buf, &len);
	if (err)
		return err;
	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	err = write(fd, buf, len) == (ssize_t)len ? 0 : -EIO;
	if (close(fd) && !err)
		err = -errno;
	free(buf);
	return err;
}

int st_umount(const char *dir)
{
	return umount2(dir, 0) ? -errno : 0;
}

int st_drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	sync();
	if (write(fd, "3", 1) != 1)
		err = -errno;
	close(fd);
	return err;
}

/*
 * read_ahead_kb of the newest nydusfs mount's bdi (super_setup_bdi() names
 * it nydusfs-N, N counting up), set to @kb unless @kb < 0; the value it
 * had, or -1.
 */
int st_bdi_readahead_kb(int kb)
{
	char path[PATH_MAX], buf[32];
	struct dirent *de;
	long n, best = -1;
	int fd, old = -1;
	DIR *d;

	d = opendir("/sys/class/bdi");
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (sscanf(de->d_name, "nydusfs-%ld", &n) == 1 && n > best)
			best = n;
	closedir(d);
	snprintf(path, sizeof(path), "/sys/class/bdi/nydusfs-%ld/read_ahead_kb", best);
	fd = open(path, kb < 0 ? O_RDONLY : O_RDWR);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = 0;
		old = atoi(buf);
	}
	n = snprintf(buf, sizeof(buf), "%d", kb);
	if (kb >= 0 && pwrite(fd, buf, n, 0) != n)
		old = -1;
	close(fd);
	return old;
}

int st_mount_options(const char *dir, char *buf, size_t size)
{
	char line[4096], src[1024], mnt[1024], type[64], opts[2048];
	FILE *f = fopen("/proc/self/mounts", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%1023s %1023s %63s %2047s", src, mnt, type,
			   opts) != 4)
			continue;
		if (strcmp(mnt, dir))
			continue;
		snprintf(buf, size, "%s %s %s", src, type, opts);
		err = 0;	/* the last one wins: it is on top */
	}
	fclose(f);
	return err;
}

/* ---- the daemon ---- */

static void daemon_exec(const struct st_daemon *d, const char *const *args)
{
	const char *extra = getenv("NYDUSFS_TESTD_ARGS");
	const char *argv[64];
	char prog[PATH_MAX];
	int n = 0, fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, 2);
		dup2(fd, 1);
	}
	snprintf(prog, sizeof(prog), "%s/%s", st_self_dir(), ST_TESTD);
	if (access(prog, X_OK))
		snprintf(prog, sizeof(prog), "%s", ST_TESTD);
	argv[n++] = prog;
	argv[n++] = "--pdeathsig";
	argv[n++] = "--stats";
	argv[n++] = d->stats;
	/* NYDUSFS_TESTD_ARGS: more options for every daemon, e.g. -vv */
	if (extra && *extra)
		argv[n++] = extra;
	while (args && *args && n < 60)
		argv[n++] = *args++;
	argv[n++] = d->blob_dir;
	argv[n++] = d->cache_dir;
	argv[n] = NULL;
	execvp(prog, (char *const *)argv);
	fprintf(stderr, "exec %s: %s\n", prog, strerror(errno));
	_exit(127);
}

/*
 * Start nydusfs_testd serving @blob_dir, its cache, stats and log under
 * @workdir (the cache survives a restart: pass the same @workdir).  Returns
 * once the daemon has answered INIT.
 */
int st_daemon_start(struct st_daemon *d, const char *blob_dir,
		    const char *workdir, const char *const *args)
{
	int i, status;

	memset(d, 0, sizeof(*d));
	snprintf(d->blob_dir, sizeof(d->blob_dir), "%s", blob_dir);
	snprintf(d->cache_dir, sizeof(d->cache_dir), "%s/cache", workdir);
	snprintf(d->stats, sizeof(d->stats), "%s/testd.stats", workdir);
	snprintf(d->log, sizeof(d->log), "%s/testd.log", workdir);
	if (mkdir(d->cache_dir, 0755) && errno != EEXIST)
		return -errno;
	unlink(d->stats);
	fflush(NULL);
	d->pid = fork();
	if (d->pid < 0)
		return -errno;
	if (d->pid == 0)
		daemon_exec(d, args);
	/* the first INIT is answered, or refused in bad-init mode */
	for (i = 0; i < 1000; i++) {
		if (st_stat(d, "init") >= 1)
			return 0;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return -ECHILD;
		}
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/* Send @sig (SIGKILL, SIGTERM) and reap it. */
int st_daemon_kill(struct st_daemon *d, int sig)
{
	int status = 0, i;

	if (d->pid <= 0)
		return 0;
	kill(d->pid, sig);
	for (i = 0; i < 300; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid)
			break;
		usleep(10000);
	}
	if (i == 300) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
	}
	d->pid = 0;
	return status;
}

long st_stat(const struct st_daemon *d, const char *key)
{
	char line[128], k[64];
	long v, ret = -1;
	FILE *f = fopen(d->stats, "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld", k, &v) == 2 && !strcmp(k, key))
			ret = v;
	fclose(f);
	return ret;
}

long st_stat_wait(const struct st_daemon *d, const char *key, long min,
		  int ms)
{
	long v = st_stat(d, key);

	for (; v < min && ms > 0; ms -= 10) {
		usleep(10000);
		v = st_stat(d, key);
	}
	return v;
}

void st_daemon_log(const struct st_daemon *d)
{
	char line[512];
	FILE *f;
	int n = 0;

	if (!d->log[0])
		return;
	f = fopen(d->log, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && n++ < 200)
		fprintf(stderr, "# testd: %s", line);
	fclose(f);
}

/* ---- files ---- */

int st_read_file(const char *path, void **bufp, size_t *lenp)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap), *nb;
	ssize_t n;
	int fd, err = 0;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	for (;;) {
		if (len == cap) {
			nb = realloc(buf, cap *= 2);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			err = -errno;
			break;
		}
		if (!n)
			break;
		len += n;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

int st_cmp_files(const char *a, const char *b, char *why, size_t whylen)
{
	void *ba = NULL, *bb = NULL;
	size_t la, lb, i;
	int err;

	err = st_read_file(a, &ba, &la);
	if (err) {
		snprintf(why, whylen, "read %s: %s", a, strerror(-err));
		return err;
	}
	err = st_read_file(b, &bb, &lb);
	if (err) {
		snprintf(why, whylen, "read %s: %s", b, strerror(-err));
		free(ba);
		return err;
	}
	if (la != lb || memcmp(ba, bb, la)) {
		for (i = 0; i < la && i < lb && ((char *)ba)[i] == ((char *)bb)[i]; i++)
			;
		snprintf(why, whylen, "%s (%zu bytes) and %s (%zu bytes) differ at byte %zu",
			 a, la, b, lb, i);
		err = -EBADMSG;
	}
	free(ba);
	free(bb);
	return err;
}

/* FNV-1a, 64 bits: enough to tell a wrong byte from the right one */
uint64_t st_hash(const void *buf, size_t len, uint64_t h)
{
	const unsigned char *p = buf;

	if (!h)
		h = 0xcbf29ce484222325ULL;
	while (len--) {
		h ^= *p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

int st_run(const char *const argv[], int timeout_s, bool quiet)
{
	int status, i;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			dup2(fd, 1);
			dup2(fd, 2);
		} else {
			dup2(2, 1);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (i = 0; i < timeout_s * 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			goto done;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -ETIMEDOUT;
done:
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int st_blob_names(const struct st_image *img, char names[][65], int max)
{
	DIR *d = opendir(img->blob_dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)) && n < max) {
		if (strlen(de->d_name) != 64)
			continue;
		memcpy(names[n++], de->d_name, 65);
	}
	closedir(d);
	return n;
}

double st_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *dmesg_all(int *len)
{
	int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	char *buf;

	if (size <= 0)
		return NULL;
	buf = malloc(size + 1);
	if (!buf)
		return NULL;
	*len = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, size);
	if (*len < 0) {
		free(buf);
		return NULL;
	}
	buf[*len] = 0;
	return buf;
}

void st_dmesg_tail(int lines)
{
	int len, n = 0;
	char *buf = dmesg_all(&len), *p;

	if (!buf)
		return;
	for (p = buf + len; p > buf && n <= lines; p--)
		if (p[-1] == '\n')
			n++;
	for (p = strtok(p, "\n"); p; p = strtok(NULL, "\n"))
		fprintf(stderr, "# dmesg: %s\n", p);
	free(buf);
}

/* how often @needle is in the kernel log */
int st_dmesg_grep(const char *needle)
{
	int len, n = 0;
	char *buf = dmesg_all(&len), *p;

	if (!buf)
		return -1;
	for (p = buf; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(buf);
	return n;
}

/* ---- walking a tree ---- */

static int walk_fd(int dfd, const char *path, st_walk_fn fn, void *arg,
		   int depth)
{
	char sub[PATH_MAX];
	struct dirent *de;
	struct stat st;
	int fd, err = 0;
	DIR *d;

	fd = dup(dfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while (!err && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", depth < 30 ? path : "...",
			 de->d_name);
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			err = fn(dfd, de->d_name, NULL, sub, -errno, arg);
			continue;
		}
		err = fn(dfd, de->d_name, &st, sub, 0, arg);
		if (!err && S_ISDIR(st.st_mode)) {
			int cfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY |
					 O_CLOEXEC);

			if (cfd < 0) {
				err = fn(dfd, de->d_name, NULL, sub, -errno, arg);
				continue;
			}
			err = walk_fd(cfd, sub, fn, arg, depth + 1);
			close(cfd);
		}
	}
	closedir(d);
	return err;
}

/*
 * Call @fn for every entry under @root (not the root itself), directories
 * before their entries; with @st NULL and @err set when the entry could
 * not be looked at.  A nonzero return from @fn stops the walk.
 */
int st_walk(const char *root, st_walk_fn fn, void *arg)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	err = walk_fd(fd, "", fn, arg, 0);
	close(fd);
	return err;
}

/* The content hash of @name in @dfd, read @bufsize at a time */
int st_hash_file(int dfd, const char *name, uint64_t *h, uint64_t *bytes)
{
	size_t size = 256 << 10;
	char *buf = malloc(size);
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = -ENOMEM;

	*h = 0;
	if (fd < 0 || !buf) {
		n = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	while ((n = read(fd, buf, size)) > 0) {
		*h = st_hash(buf, n, *h);
		if (bytes)
			*bytes += n;
	}
	if (n < 0)
		n = -errno;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return n;
}

/* ---- the bootstrap, read directly ---- */

static void *bs_entry(uint8_t *b, size_t size, int r, uint64_t i, size_t es)
{
	const struct nydusfs_super_block *sb = (const void *)b;
	uint64_t off = sb->regions[r].offset + i * es;

	if (i * es + es > sb->regions[r].size || off + es > size)
		return NULL;
	return b + off;
}

static long bs_lookup(uint8_t *b, size_t size, uint32_t dir, const char *name)
{
	const struct nydusfs_super_block *sb = (const void *)b;
	struct nydusfs_inode *di = bs_entry(b, size, NYDUSFS_REGION_INODES, dir,
					    sizeof(*di));
	uint32_t i;

	for (i = 0; di && i < di->data_count; i++) {
		struct nydusfs_dirent *de = bs_entry(b, size, NYDUSFS_REGION_DIRENTS,
						     di->data + i, sizeof(*de));
		const char *n;

		if (!de)
			return -1;
		n = (const char *)b + sb->regions[NYDUSFS_REGION_STRINGS].offset +
		    de->name_off;
		if (de->name_len == strlen(name) && !memcmp(n, name, de->name_len))
			return de->nid;
	}
	return -1;
}

/*
 * The cache-file offsets (uncompressed_offset) of the chunks of the file
 * @path ("dir/file") in @bootstrap, holes skipped; how many, or -errno.
 */
int st_chunk_offsets(const char *bootstrap, const char *path, uint64_t *offs,
		     int max)
{
	char buf[PATH_MAX], *p, *save = NULL;
	struct nydusfs_inode *ino;
	struct nydusfs_blob *blob;
	void *image;
	uint8_t *b;
	size_t size;
	long nid = 0;
	uint32_t i;
	int n = 0, err;

	err = st_read_file(bootstrap, &image, &size);
	if (err)
		return err;
	b = image;
	snprintf(buf, sizeof(buf), "%s", path);
	for (p = strtok_r(buf, "/", &save); p && nid >= 0; p = strtok_r(NULL, "/", &save))
		nid = bs_lookup(b, size, nid, p);
	ino = nid < 0 ? NULL : bs_entry(b, size, NYDUSFS_REGION_INODES, nid,
					sizeof(*ino));
	for (i = 0; ino && i < ino->data_count && n < max; i++) {
		struct nydusfs_chunk_ref *r = bs_entry(b, size, NYDUSFS_REGION_CHUNK_REFS,
						       ino->data + i, sizeof(*r));
		struct nydusfs_chunk *c;

		if (!r || r->blob_index == NYDUSFS_CHUNK_HOLE)
			continue;
		blob = bs_entry(b, size, NYDUSFS_REGION_BLOBS, r->blob_index,
				sizeof(*blob));
		c = blob ? bs_entry(b, size, NYDUSFS_REGION_CHUNKS,
				    blob->chunk_index + r->chunk_index, sizeof(*c)) : NULL;
		if (c)
			offs[n++] = c->uncompressed_offset;
	}
	free(image);
	return ino ? n : -ENOENT;
}
