// SPDX-License-Identifier: GPL-2.0
/*
 * readbench: the read and walk loads of bench/kernel.sh, timed with
 * CLOCK_MONOTONIC.  In a guest run with -icount that clock counts executed
 * instructions (1 ns each), so a time is "guest instruction time".
 *
 * The loads are plain system calls with nothing else in the loop, so the
 * tool itself adds the same small cost to every filesystem it is run on.
 * Each timed command prints one line of key=value pairs:
 *	ns=N bytes=B files=F entries=E ops=O
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define MAX_BS		(1U << 20)
#define NFTW_FDS	64

struct counts {
	uint64_t bytes;
	uint64_t files;
	uint64_t entries;
	uint64_t ops;
};

static struct {
	unsigned int bs;
	uint64_t seed;
	uint64_t count;
	char *buf;
	struct counts c;
	int error;		/* first -errno seen in an nftw callback */
	uint64_t hash;
} g = { .bs = 4096, .seed = 1 };

static void usage(FILE *f)
{
	fprintf(f,
"usage: readbench [OPTIONS] COMMAND ARGS...\n"
"\n"
"Timed loads (CLOCK_MONOTONIC; one line ns=N bytes=B files=F entries=E ops=O):\n"
"  seq PATH          read() PATH from start to end in BS units; a directory:\n"
"                    every regular file under it, in nftw(FTW_PHYS) order\n"
"  rand FILE         posix_fadvise(RANDOM), then read every BS block of FILE\n"
"                    once (or -n of them) in a random order fixed by -s\n"
"  walk DIR          nftw(FTW_PHYS) over DIR: readdir and lstat of every entry\n"
"Untimed:\n"
"  sum DIR           hash of the tree below DIR, walked in name order: names,\n"
"                    types, modes, owners, sizes of files and symlinks, device\n"
"                    numbers, file contents and symlink targets\n"
"  fill FILE SIZE    write SIZE bytes of pseudo-random data (seed -s) to FILE\n"
"  mount TYPE SOURCE DIR [OPTIONS]\n"
"                    mount(2) read-only: unlike busybox mount(8), no loop\n"
"                    device under a regular file\n"
"\n"
"  -b, --block-size N   I/O size in bytes (default 4096, at most 1 MiB)\n"
"  -s, --seed N         seed of rand and fill (default 1)\n"
"  -n, --count N        rand: read only the first N blocks of the order\n"
"  -h, --help           this text\n"
"\n"
"Exit status: 0 ok, 1 error, 2 bad command line.\n");
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void print_counts(uint64_t ns)
{
	printf("ns=%" PRIu64 " bytes=%" PRIu64 " files=%" PRIu64
	       " entries=%" PRIu64 " ops=%" PRIu64 "\n", ns, g.c.bytes,
	       g.c.files, g.c.entries, g.c.ops);
}

/* xorshift64*: the same sequence on every machine for one seed */
static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* Read @fd to its end; counts bytes and read() calls */
static int read_to_end(int fd)
{
	ssize_t n;

	for (;;) {
		n = read(fd, g.buf, g.bs);
		if (n < 0)
			return -errno;
		g.c.ops++;
		if (n == 0)
			return 0;
		g.c.bytes += n;
	}
}

static int read_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	err = read_to_end(fd);
	close(fd);
	g.c.files++;
	return err;
}

static int seq_one(const char *path, const struct stat *st, int type,
		   struct FTW *ftw)
{
	int err;

	(void)ftw;
	g.c.entries++;
	if (type != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	err = read_file(path);
	if (err) {
		fprintf(stderr, "readbench: %s: %s\n", path, strerror(-err));
		g.error = err;
		return 1;
	}
	return 0;
}

static int cmd_seq(const char *path)
{
	struct stat st;
	uint64_t t0 = now_ns();
	int err;

	if (lstat(path, &st))
		return -errno;
	if (S_ISDIR(st.st_mode)) {
		if (nftw(path, seq_one, NFTW_FDS, FTW_PHYS) < 0)
			return -errno;
		err = g.error;
	} else {
		err = read_file(path);
	}
	if (err)
		return err;
	print_counts(now_ns() - t0);
	return 0;
}

/* The block numbers 0..n-1 in a random order (Fisher-Yates) */
static uint32_t *shuffled_blocks(uint64_t n)
{
	uint64_t state = g.seed ? g.seed : 1, i, j;
	uint32_t *order, t;

	if (n > UINT32_MAX)
		return NULL;
	order = malloc(n * sizeof(*order) + 1);
	if (!order)
		return NULL;
	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = n; i > 1; i--) {
		j = next_random(&state) % i;
		t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	return order;
}

static int read_blocks(int fd, const uint32_t *order, uint64_t n)
{
	uint64_t i;
	ssize_t r;

	for (i = 0; i < n; i++) {
		r = pread(fd, g.buf, g.bs, (off_t)order[i] * g.bs);
		if (r < 0)
			return -errno;
		g.c.ops++;
		g.c.bytes += r;
	}
	return 0;
}

static int cmd_rand(const char *path)
{
	uint64_t blocks, n, t0;
	uint32_t *order;
	struct stat st;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = fstat(fd, &st) ? -errno : 0;
	blocks = (st.st_size + g.bs - 1) / g.bs;
	n = g.count && g.count < blocks ? g.count : blocks;
	order = err ? NULL : shuffled_blocks(blocks);
	if (!err && !order)
		err = -ENOMEM;
	/* as fio does for random I/O: no readahead around each block */
	if (!err)
		err = -posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
	if (!err) {
		t0 = now_ns();
		err = read_blocks(fd, order, n);
		g.c.files = 1;
		if (!err)
			print_counts(now_ns() - t0);
	}
	free(order);
	close(fd);
	return err;
}

static int walk_one(const char *path, const struct stat *st, int type,
		    struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	g.c.entries++;
	if (type == FTW_NS || type == FTW_DNR) {
		g.error = -EIO;
		fprintf(stderr, "readbench: %s: cannot stat or read\n", path);
		return 1;
	}
	g.c.bytes += st->st_size;
	if (S_ISREG(st->st_mode))
		g.c.files++;
	return 0;
}

static int cmd_walk(const char *path)
{
	uint64_t t0 = now_ns();

	if (nftw(path, walk_one, NFTW_FDS, FTW_PHYS) < 0)
		return -errno;
	if (g.error)
		return g.error;
	g.c.ops = g.c.entries;
	print_counts(now_ns() - t0);
	return 0;
}

/* --- sum: a content hash to prove every mount serves the same tree --- */

static void mix(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = g.hash, w;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, b + i, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	for (; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	g.hash = h;
}

static void mix_u64(uint64_t v)
{
	mix(&v, sizeof(v));
}

static int sum_contents(int dfd, const char *name, const struct stat *st)
{
	char target[PATH_MAX];
	ssize_t n;
	int fd, err;

	if (S_ISLNK(st->st_mode)) {
		n = readlinkat(dfd, name, target, sizeof(target));
		if (n < 0)
			return -errno;
		mix(target, n);
		return 0;
	}
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	err = 0;
	while ((n = read(fd, g.buf, g.bs)) > 0) {
		mix(g.buf, n);
		g.c.bytes += n;
	}
	if (n < 0)
		err = -errno;
	close(fd);
	g.c.files++;
	return err;
}

static int sum_entry(int dfd, const char *name, const struct stat *st)
{
	mix(name, strlen(name) + 1);
	mix_u64(st->st_mode);
	mix_u64(st->st_uid);
	mix_u64(st->st_gid);
	if (S_ISREG(st->st_mode) || S_ISLNK(st->st_mode)) {
		mix_u64(st->st_size);
		return sum_contents(dfd, name, st);
	}
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		mix_u64(major(st->st_rdev));
		mix_u64(minor(st->st_rdev));
	}
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int no_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") && strcmp(d->d_name, "..");
}

static int sum_dir(int dfd);

static int sum_child(int dfd, const char *name)
{
	struct stat st;
	int sub, err;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	g.c.entries++;
	err = sum_entry(dfd, name, &st);
	if (err || !S_ISDIR(st.st_mode))
		return err;
	sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sub < 0)
		return -errno;
	err = sum_dir(sub);
	close(sub);
	mix("..", 3);	/* end of directory */
	return err;
}

static int sum_dir(int dfd)
{
	struct dirent **names;
	int i, n, err = 0;
	char self[32];

	snprintf(self, sizeof(self), "/proc/self/fd/%d", dfd);
	n = scandir(self, &names, no_dots, by_name);
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		if (!err) {
			err = sum_child(dfd, names[i]->d_name);
			if (err && !g.error) {
				fprintf(stderr, "readbench: sum: %s: %s\n",
					names[i]->d_name, strerror(-err));
				g.error = err;
			}
		}
		free(names[i]);
	}
	free(names);
	return err;
}

static int cmd_sum(const char *path)
{
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err;

	if (dfd < 0)
		return -errno;
	g.hash = 0xcbf29ce484222325ULL;
	err = sum_dir(dfd);
	close(dfd);
	if (err)
		return err;
	printf("sum=%016" PRIx64 " bytes=%" PRIu64 " files=%" PRIu64
	       " entries=%" PRIu64 "\n", g.hash, g.c.bytes, g.c.files,
	       g.c.entries);
	return 0;
}

/* --- fill ---------------------------------------------------------- */

static int write_random(int fd, uint64_t size)
{
	uint64_t state = g.seed ? g.seed : 1, v;
	size_t i, len;

	while (size) {
		len = size < g.bs ? size : g.bs;
		for (i = 0; i < len; i += 8) {
			v = next_random(&state);
			memcpy(g.buf + i, &v, 8);
		}
		if (write(fd, g.buf, len) != (ssize_t)len)
			return errno ? -errno : -EIO;
		size -= len;
	}
	return 0;
}

static int cmd_fill(const char *path, const char *size_arg)
{
	char *end;
	uint64_t size = strtoull(size_arg, &end, 0);
	int fd, err;

	if (*end || end == size_arg)
		return -EINVAL;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	err = write_random(fd, size);
	if (close(fd) && !err)
		err = -errno;
	return err;
}

/* --- mount: mount(2), with SOURCE passed as it is ------------------- */

static int cmd_mount(const char *type, const char *source, const char *dir,
		     const char *options)
{
	if (mount(source, dir, type, MS_RDONLY, options))
		return -errno;
	return 0;
}

/* --- main ---------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || *end || end == s ? -EINVAL : 0;
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "block-size", required_argument, NULL, 'b' },
		{ "seed", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "b:s:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (parse_u64(optarg, &v) || !v || v > MAX_BS || v % 8)
				return -EINVAL;
			g.bs = v;
			break;
		case 's':
			if (parse_u64(optarg, &g.seed))
				return -EINVAL;
			break;
		case 'n':
			if (parse_u64(optarg, &g.count))
				return -EINVAL;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	return optind < argc ? 0 : -EINVAL;
}

static int run(const char *cmd, int nargs, char **args)
{
	if (!strcmp(cmd, "seq") && nargs == 1)
		return cmd_seq(args[0]);
	if (!strcmp(cmd, "rand") && nargs == 1)
		return cmd_rand(args[0]);
	if (!strcmp(cmd, "walk") && nargs == 1)
		return cmd_walk(args[0]);
	if (!strcmp(cmd, "sum") && nargs == 1)
		return cmd_sum(args[0]);
	if (!strcmp(cmd, "fill") && nargs == 2)
		return cmd_fill(args[0], args[1]);
	if (!strcmp(cmd, "mount") && (nargs == 3 || nargs == 4))
		return cmd_mount(args[0], args[1], args[2],
				 nargs == 4 ? args[3] : NULL);
	return -E2BIG;
}

int main(int argc, char **argv)
{
	int err;

	if (parse_args(argc, argv)) {
		usage(stderr);
		return 2;
	}
	g.buf = aligned_alloc(4096, MAX_BS);
	if (!g.buf) {
		fprintf(stderr, "readbench: out of memory\n");
		return 1;
	}
	err = run(argv[optind], argc - optind - 1, argv + optind + 1);
	if (err == -E2BIG) {
		fprintf(stderr, "readbench: unknown command or wrong arguments: %s\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	if (err) {
		fprintf(stderr, "readbench: %s %s: %s\n", argv[optind],
			argc - optind > 1 ? argv[optind + 1] : "",
			strerror(-err));
		return 1;
	}
	return 0;
}
