// SPDX-License-Identifier: GPL-2.0
/*
 * hellobench: the guest-side helpers of bench/hello.sh (the HelloBench-style
 * cold start benchmark).  Run inside `tools/vm-run --icount`, where
 * CLOCK_MONOTONIC counts executed instructions (1 ns each).
 *
 *   now                 print CLOCK_MONOTONIC in ns (busybox date has no %N)
 *   resident DIR        the file data of the tree below DIR that is in the
 *                       page cache (mmap + mincore of every regular file,
 *                       each inode once): after drop_caches and a workload
 *                       on a filesystem with readahead off, these are the
 *                       pages the workload read
 *   prefetch-wait SOCKET [TIMEOUT_S]
 *                       poll nydusfsd's status on its control socket until
 *                       every registered mount's prefetch has finished; print
 *                       the CLOCK_MONOTONIC time it was first seen finished
 *   manifest FILE       the fields of an OCI image manifest a puller needs
 *   sha256 FILE         sha256:HEX of a file
 *
 * The last two do in-process what a container runtime does in-process:
 * jq and the openssl CLI cost 180 and 17 ms of guest time just to start,
 * which would be charged to whichever side of the benchmark used them most.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NFTW_FDS	64
#define POLL_FINE_NS	2000000ULL	/* 2 ms between status requests... */
#define POLL_COARSE_NS	25000000ULL	/* ...25 ms while under 95% done */
#define MAX_INODES	(1U << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: hellobench now\n"
"       hellobench resident DIR\n"
"       hellobench prefetch-wait SOCKET [TIMEOUT_S]\n"
"       hellobench manifest FILE\n"
"       hellobench sha256 FILE\n"
"\n"
"  now            CLOCK_MONOTONIC in ns\n"
"  resident       file data of DIR's tree in the page cache (mincore):\n"
"                 files=N touched=N resident_bytes=N file_bytes=N\n"
"  prefetch-wait  poll nydusfsd (its control socket) until every mount's\n"
"                 prefetch is finished: done_ns=N total=N done=N failed=N\n"
"                 bytes=N polls=N (default timeout 600 s); every 25 ms,\n"
"                 then every 2 ms from 95%% of the chunks on\n"
"  manifest       lines: \"config DIGEST\", then per layer \"layer DIGEST\n"
"                 SIZE MEDIATYPE BOOTSTRAP_DIGEST|-\" (the bootstrap digest\n"
"                 of a layer annotated as a nydus bootstrap)\n"
"  sha256         sha256:HEX of FILE\n"
"\n"
"Exit status: 0 ok, 1 error or timeout, 2 bad command line.\n");
}

/* ---- resident ---- */

static struct {
	uint64_t files, touched, resident, file_bytes;
	struct { dev_t dev; ino_t ino; } *seen;
	size_t nseen;
	long page;
	int error;
} r;

/* Whether the inode was counted already (hard links): a linear scan is
 * enough for the few hard links of an OS tree, so only those are kept */
static bool seen_before(const struct stat *st)
{
	size_t i;

	if (st->st_nlink < 2)
		return false;
	for (i = 0; i < r.nseen; i++)
		if (r.seen[i].dev == st->st_dev && r.seen[i].ino == st->st_ino)
			return true;
	if (r.nseen >= MAX_INODES)
		return false;
	r.seen = realloc(r.seen, (r.nseen + 1) * sizeof(*r.seen));
	if (!r.seen) {
		perror("hellobench: realloc");
		exit(1);
	}
	r.seen[r.nseen].dev = st->st_dev;
	r.seen[r.nseen].ino = st->st_ino;
	r.nseen++;
	return false;
}

/* Resident bytes of one file (0 for an empty one), or -errno */
static int64_t file_resident(const char *path, off_t size)
{
	size_t pages = (size + r.page - 1) / r.page, i;
	unsigned char *vec;
	int64_t n = 0;
	void *map;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -errno;
	vec = malloc(pages);
	if (!vec || mincore(map, size, vec)) {
		n = vec ? -errno : -ENOMEM;
		goto out;
	}
	for (i = 0; i < pages; i++)
		if (vec[i] & 1)
			n += (i == pages - 1) ? size - (off_t)i * r.page : r.page;
out:
	free(vec);
	munmap(map, size);
	return n;
}

static int resident_one(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	int64_t n;

	(void)ftw;
	if (type != FTW_F || !S_ISREG(st->st_mode) || seen_before(st))
		return 0;
	r.files++;
	r.file_bytes += st->st_size;
	if (st->st_size == 0)
		return 0;
	n = file_resident(path, st->st_size);
	if (n < 0) {
		fprintf(stderr, "hellobench: %s: %s\n", path, strerror(-n));
		r.error = n;
		return 1;
	}
	if (n > 0)
		r.touched++;
	r.resident += n;
	return 0;
}

static int cmd_resident(const char *dir)
{
	r.page = sysconf(_SC_PAGESIZE);
	if (nftw(dir, resident_one, NFTW_FDS, FTW_PHYS | FTW_MOUNT) < 0) {
		if (!r.error)
			fprintf(stderr, "hellobench: %s: %s\n", dir,
				strerror(errno));
		return 1;
	}
	if (r.error)
		return 1;
	printf("files=%" PRIu64 " touched=%" PRIu64 " resident_bytes=%" PRIu64
	       " file_bytes=%" PRIu64 "\n", r.files, r.touched, r.resident,
	       r.file_bytes);
	return 0;
}

/* ---- prefetch-wait ---- */

struct pf_state {
	uint64_t total, done, failed, bytes;
	int mounts;
	bool running;
};

static int ctl_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "hellobench: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "hellobench: %s: %s (is nydusfsd running?)\n",
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Send {"cmd":"status"} and read the one-line answer into @buf */
static int ctl_status(int fd, char *buf, size_t size)
{
	static const char req[] = "{\"cmd\":\"status\"}\n";
	size_t len = 0;
	ssize_t n;

	if (write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
		return -1;
	while (len < size - 1) {
		n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			return -1;
		len += n;
		if (buf[len - 1] == '\n')
			break;
	}
	buf[len] = '\0';
	return buf[len - 1] == '\n' ? 0 : -1;
}

static uint64_t jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static int parse_status(const char *text, struct pf_state *s)
{
	json_t *root, *mounts, *m, *pf;
	json_error_t err;
	size_t i;

	memset(s, 0, sizeof(*s));
	root = json_loads(text, 0, &err);
	if (!root) {
		fprintf(stderr, "hellobench: bad status answer: %s\n", err.text);
		return -1;
	}
	mounts = json_object_get(root, "mounts");
	json_array_foreach(mounts, i, m) {
		pf = json_object_get(m, "prefetch");
		s->mounts++;
		s->total += jint(pf, "total");
		s->done += jint(pf, "done");
		s->failed += jint(pf, "failed");
		s->bytes += jint(pf, "bytes");
		s->running |= json_is_true(json_object_get(pf, "running"));
	}
	json_decref(root);
	return 0;
}

static int cmd_prefetch_wait(const char *sock, unsigned int timeout_s)
{
	static char buf[1 << 20];
	uint64_t start = now_ns(), t, polls = 0;
	struct timespec pause = { 0, 0 };
	struct pf_state s;
	int fd = ctl_connect(sock);

	if (fd < 0)
		return 1;
	for (;;) {
		if (ctl_status(fd, buf, sizeof(buf)) || parse_status(buf, &s)) {
			fprintf(stderr, "hellobench: no status from %s\n", sock);
			return 1;
		}
		t = now_ns();
		polls++;
		if (s.mounts && s.total && !s.running &&
		    s.done + s.failed >= s.total)
			break;
		if (t - start > (uint64_t)timeout_s * 1000000000ULL) {
			fprintf(stderr, "hellobench: prefetch not finished after %u s: %" PRIu64 " of %" PRIu64 " chunks\n",
				timeout_s, s.done, s.total);
			return 1;
		}
		/* coarse while far from done: each poll costs the daemon CPU */
		pause.tv_nsec = s.done + s.failed >= s.total / 20 * 19 ?
				POLL_FINE_NS : POLL_COARSE_NS;
		nanosleep(&pause, NULL);
	}
	close(fd);
	printf("done_ns=%" PRIu64 " total=%" PRIu64 " done=%" PRIu64
	       " failed=%" PRIu64 " bytes=%" PRIu64 " polls=%" PRIu64 "\n",
	       t, s.total, s.done, s.failed, s.bytes, polls);
	return s.failed ? 1 : 0;
}

/* ---- manifest, sha256 ---- */

static const char *jstr(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "-";
}

static int cmd_manifest(const char *path)
{
	json_t *root, *layers, *l, *ann;
	json_error_t err;
	const char *boot;
	size_t i;

	root = json_load_file(path, 0, &err);
	if (!root) {
		fprintf(stderr, "hellobench: %s: line %d: %s\n", path, err.line,
			err.text);
		return 1;
	}
	layers = json_object_get(root, "layers");
	if (!json_is_array(layers) || !json_is_object(json_object_get(root, "config"))) {
		fprintf(stderr, "hellobench: %s: not an image manifest (no config or layers)\n",
			path);
		json_decref(root);
		return 1;
	}
	printf("config %s\n", jstr(json_object_get(root, "config"), "digest"));
	json_array_foreach(layers, i, l) {
		ann = json_object_get(l, "annotations");
		boot = "-";
		if (!strcmp(jstr(ann, "containerd.io/snapshot/nydus-bootstrap"), "true"))
			boot = jstr(ann, "org.nydusfs.bootstrap.digest");
		printf("layer %s %" PRIu64 " %s %s\n", jstr(l, "digest"),
		       jint(l, "size"), jstr(l, "mediaType"), boot);
	}
	json_decref(root);
	return 0;
}

static int cmd_sha256(const char *path)
{
	static unsigned char buf[1 << 16];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len, i;
	EVP_MD_CTX *ctx;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "hellobench: %s: %s\n", path, strerror(errno));
		return 1;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto fail;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (!EVP_DigestUpdate(ctx, buf, n))
			goto fail;
	if (n < 0 || !EVP_DigestFinal_ex(ctx, md, &len))
		goto fail;
	close(fd);
	EVP_MD_CTX_free(ctx);
	printf("sha256:");
	for (i = 0; i < len; i++)
		printf("%02x", md[i]);
	printf("\n");
	return 0;
fail:
	fprintf(stderr, "hellobench: %s: cannot hash\n", path);
	close(fd);
	EVP_MD_CTX_free(ctx);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "now")) {
		printf("%" PRIu64 "\n", now_ns());
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "resident"))
		return cmd_resident(argv[2]);
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "prefetch-wait"))
		return cmd_prefetch_wait(argv[2],
					 argc == 4 ? atoi(argv[3]) : 600);
	if (argc == 3 && !strcmp(argv[1], "manifest"))
		return cmd_manifest(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "sha256"))
		return cmd_sha256(argv[2]);
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
