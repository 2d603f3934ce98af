// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd_fakedev: plays the kernel's side of /dev/nydusfs over a
 * SOCK_SEQPACKET unix socket, so that nydusfsd (with device = unix:PATH)
 * can be tested on a host that cannot load nydusfs.ko.
 *
 * It listens, sends INIT, OPENs every blob of BOOTSTRAP, READs every
 * chunk of the regular files (those not present in the OPEN bitmap), with
 * up to --parallel requests outstanding, then checks every chunk in the
 * cache files against its digest.  Like the kernel, when the daemon's
 * connection drops it waits for the next daemon and sends it again the
 * requests that were not answered.  --kill-every N kills the daemon (pid
 * from --pidfile) with SIGKILL after every N replies.  --wait-file PATH
 * holds the OPENs back, after INIT, until PATH exists (so that a test can
 * register the image with the daemon first).
 *
 * Prints "chunks N present P fetched F errors E bad B restarts R" and
 * exits 0 if B is 0 and E equals --expect-errors (default 0; -1: every
 * chunk it asked for; -2: at least one).  With --linger S it keeps the
 * daemon connected for S seconds after that line, or until SIGUSR1 (so
 * that a test can read the daemon's metrics first).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "nydusfs/format.h"
#include "nydusfs/image.h"
#include "nydusfs_dev.h"

struct chunk {
	uint32_t blob, index;
	struct nydusfs_dev_chunk d;
	int state;		/* 0 todo, 1 sent, 2 done, 3 error */
	uint32_t id;
	bool present_at_open;
};

static struct {
	const char *sock, *bootstrap, *cache_dir, *pidfile;
	unsigned int parallel, kill_every, timeout;
	const char *wait_file;
	int expect_errors;		/* -1: every chunk asked for; -2: any */
	unsigned long limit_files;
	unsigned int linger;
	bool refetch;
} o = { .parallel = 16, .timeout = 60 };

static struct nydusfs_image *img;
static struct nydusfs_dev_blob *blobs;
static uint8_t **bitmaps;
static struct chunk *chunks;
static size_t nchunks;
static int lfd = -1, cfd = -1;
static uint32_t next_id = 1;
static unsigned long replies, restarts, fetched, errors_seen, asked;

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fakedev: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void add_chunk(uint32_t blob, uint32_t index)
{
	const struct nydusfs_chunk *c;
	size_t i;

	for (i = 0; i < nchunks; i++)
		if (chunks[i].blob == blob && chunks[i].index == index)
			return;
	if (nydusfs_image_chunk(img, blob, index, &c))
		die("bad chunk %u of blob %u", index, blob);
	chunks = realloc(chunks, (nchunks + 1) * sizeof(*chunks));
	memset(&chunks[nchunks], 0, sizeof(*chunks));
	chunks[nchunks].blob = blob;
	chunks[nchunks].index = index;
	chunks[nchunks].d.compressed_offset = le64_to_cpu(c->compressed_offset);
	chunks[nchunks].d.uncompressed_offset = le64_to_cpu(c->uncompressed_offset);
	chunks[nchunks].d.compressed_size = le32_to_cpu(c->compressed_size);
	chunks[nchunks].d.uncompressed_size = le32_to_cpu(c->uncompressed_size);
	chunks[nchunks].d.compressor = c->compressor;
	memcpy(chunks[nchunks].d.digest, c->digest, NYDUSFS_DIGEST_SIZE);
	nchunks++;
}

static void collect_chunks(void)
{
	const struct nydusfs_inode *ino;
	const struct nydusfs_chunk_ref *ref;
	unsigned long files = 0;
	uint32_t nid, slot, n;
	uint64_t data;

	for (nid = 0; nid < img->inode_count; nid++) {
		if (nydusfs_image_inode(img, nid, &ino))
			die("bad inode %u", nid);
		if (!S_ISREG(le16_to_cpu(ino->mode)))
			continue;
		if (o.limit_files && files++ >= o.limit_files)
			break;
		n = le32_to_cpu(ino->data_count);
		data = le64_to_cpu(ino->data);
		for (slot = 0; slot < n; slot++) {
			ref = &img->refs[data + slot];
			if (le32_to_cpu(ref->blob_index) == NYDUSFS_CHUNK_HOLE)
				continue;
			add_chunk(le32_to_cpu(ref->blob_index),
				  le32_to_cpu(ref->chunk_index));
		}
	}
}

/* ---- the socket ---- */

static void listen_sock(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int bufsz = 1 << 20;

	unlink(o.sock);
	strcpy(sun.sun_path, o.sock);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) ||
	    listen(lfd, 4))
		die("%s: %s", o.sock, strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
}

static void accept_daemon(void)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	if (poll(&p, 1, o.timeout * 1000) != 1)
		die("no daemon connected within %u s", o.timeout);
	cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (cfd < 0)
		die("accept: %s", strerror(errno));
}

/* 0 and a message, or -1 when the daemon went away */
static ssize_t recv_msg(void *buf, size_t size)
{
	struct pollfd p = { .fd = cfd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, o.timeout * 1000) != 1)
		die("no reply within %u s (%lu replies so far)", o.timeout, replies);
	n = recv(cfd, buf, size, 0);
	if (n <= 0)
		return -1;
	return n;
}

static int send_msg(const void *buf, size_t len)
{
	return send(cfd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static int handshake(void)
{
	struct {
		struct nydusfs_dev_hdr hdr;
		struct nydusfs_dev_init body;
	} m = {};
	uint8_t buf[4096];
	struct nydusfs_dev_hdr *rh = (void *)buf;
	ssize_t n;

	m.hdr.len = sizeof(m);
	m.hdr.opcode = NYDUSFS_OP_INIT;
	m.body.version = NYDUSFS_DEV_VERSION;
	m.body.msg_max = NYDUSFS_DEV_MSG_MAX;
	if (send_msg(&m, sizeof(m)))
		return -1;
	n = recv_msg(buf, sizeof(buf));
	if (n < 0)
		return -1;
	if (rh->opcode != NYDUSFS_OP_INIT || rh->error ||
	    n != sizeof(*rh) + sizeof(struct nydusfs_dev_init_reply))
		die("bad INIT reply");
	return 0;
}

static void open_blobs(void)
{
	struct {
		struct nydusfs_dev_hdr hdr;
		struct nydusfs_dev_blob body;
	} m = {};
	uint8_t buf[NYDUSFS_DEV_MSG_MAX + (1 << 20)];
	struct nydusfs_dev_hdr *rh = (void *)buf;
	struct nydusfs_dev_open_reply *orep = (void *)(rh + 1);
	uint32_t i, bytes;
	ssize_t n;

	for (i = 0; i < img->blob_count; i++) {
		m.hdr.len = sizeof(m);
		m.hdr.id = next_id++;
		m.hdr.opcode = NYDUSFS_OP_OPEN;
		m.hdr.object_id = i + 1;
		m.body = blobs[i];
		if (send_msg(&m, sizeof(m)))
			die("send OPEN");
		n = recv_msg(buf, sizeof(buf));
		if (n < 0)
			die("daemon gone during OPEN");
		if (rh->id != m.hdr.id || rh->opcode != NYDUSFS_OP_OPEN)
			die("OPEN reply for another request");
		if (rh->error)
			die("OPEN blob %u: %s", i, strerror(-rh->error));
		bytes = (blobs[i].chunk_count + 7) / 8;
		if (orep->bitmap_bytes && orep->bitmap_bytes != bytes)
			die("OPEN: bitmap of %u bytes", orep->bitmap_bytes);
		bitmaps[i] = calloc(1, bytes);
		if (orep->bitmap_bytes)
			memcpy(bitmaps[i], orep + 1, bytes);
	}
}

static void send_read(struct chunk *c)
{
	struct {
		struct nydusfs_dev_hdr hdr;
		struct nydusfs_dev_read body;
		struct nydusfs_dev_chunk chunk;
	} m = {};

	m.hdr.len = sizeof(m);
	m.hdr.id = c->id;
	m.hdr.opcode = NYDUSFS_OP_READ;
	m.hdr.object_id = c->blob + 1;
	m.body.blob = blobs[c->blob];
	m.body.chunk_index = c->index;
	m.body.chunk_count = 1;
	m.body.flags = o.refetch ? NYDUSFS_READ_REFETCH : 0;
	m.chunk = c->d;
	c->state = 1;
	send_msg(&m, sizeof(m));	/* a dead daemon: resent later */
}

static void kill_daemon(void)
{
	char buf[32] = "";
	int fd = open(o.pidfile, O_RDONLY);
	pid_t pid;

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
		die("%s: cannot read the pid", o.pidfile);
	close(fd);
	pid = atoi(buf);
	if (pid > 1)
		kill(pid, SIGKILL);
}

/* The daemon died: the next one gets what was outstanding, like the
 * kernel's re-queue.  Objects are not opened again. */
static void reconnect(void)
{
	size_t i;

	close(cfd);
	restarts++;
	for (;;) {
		accept_daemon();
		if (handshake() == 0)
			break;
		close(cfd);
	}
	for (i = 0; i < nchunks; i++)
		if (chunks[i].state == 1)
			send_read(&chunks[i]);
}

static struct chunk *chunk_by_id(uint32_t id)
{
	size_t i;

	for (i = 0; i < nchunks; i++)
		if (chunks[i].state == 1 && chunks[i].id == id)
			return &chunks[i];
	return NULL;
}

static void read_all(void)
{
	uint8_t buf[4096];
	struct nydusfs_dev_hdr *rh = (void *)buf;
	size_t next = 0, out = 0, left = 0, i;
	struct chunk *c;
	ssize_t n;

	for (i = 0; i < nchunks; i++) {
		c = &chunks[i];
		c->present_at_open = bitmaps[c->blob][c->index / 8] &
				     (1U << (c->index % 8));
		if (c->present_at_open && !o.refetch)
			c->state = 2;
		else
			left++;
	}
	asked = left;
	while (left) {
		while (out < o.parallel && next < nchunks) {
			c = &chunks[next++];
			if (c->state)
				continue;
			c->id = next_id++;
			send_read(c);
			out++;
		}
		n = recv_msg(buf, sizeof(buf));
		if (n < 0) {
			reconnect();
			continue;
		}
		c = chunk_by_id(rh->id);
		if (!c || rh->opcode != NYDUSFS_OP_READ)
			die("reply %u matches no outstanding READ", rh->id);
		c->state = rh->error ? 3 : 2;
		if (rh->error)
			errors_seen++;
		else
			fetched++;
		out--;
		left--;
		replies++;
		if (o.kill_every && replies % o.kill_every == 0 && left)
			kill_daemon();
	}
}

static unsigned long verify_cache(void)
{
	uint8_t md[NYDUSFS_DIGEST_SIZE], *buf = malloc(1 << 24);
	char path[4096], hex[65];
	unsigned long bad = 0;
	struct chunk *c;
	size_t i;
	int fd;

	for (i = 0; i < nchunks; i++) {
		c = &chunks[i];
		if (c->state != 2)
			continue;
		nydusfs_digest_to_hex(blobs[c->blob].digest, hex);
		snprintf(path, sizeof(path), "%s/%s", o.cache_dir, hex);
		fd = open(path, O_RDONLY);
		if (fd < 0 || pread(fd, buf, c->d.uncompressed_size,
				    c->d.uncompressed_offset) !=
			      c->d.uncompressed_size ||
		    nydusfs_sha256(buf, c->d.uncompressed_size, md) ||
		    memcmp(md, c->d.digest, NYDUSFS_DIGEST_SIZE)) {
			fprintf(stderr, "fakedev: blob %s chunk %u: wrong data in the cache\n",
				hex, c->index);
			bad++;
		}
		if (fd >= 0)
			close(fd);
	}
	free(buf);
	return bad;
}

/* Up to --timeout seconds for the test to say "go". */
static void wait_for_file(const char *path)
{
	unsigned int i;

	for (i = 0; access(path, F_OK); i++) {
		if (i >= o.timeout * 20)
			die("%s did not appear within %u s", path, o.timeout);
		usleep(50 * 1000);
	}
}

/* Wait @secs seconds, or less if SIGUSR1 comes (it is blocked from the
 * start, so one sent early is not lost). */
static void linger(unsigned int secs)
{
	struct timespec ts = { .tv_sec = secs };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	while (secs && sigtimedwait(&set, NULL, &ts) < 0 && errno == EINTR)
		;
}

static void usage(void)
{
	fprintf(stderr,
"usage: nydusfsd_fakedev --socket PATH --bootstrap FILE --cache-dir DIR\n"
"         [--parallel N] [--files N] [--refetch] [--expect-errors N]\n"
"         [--kill-every N --pidfile FILE] [--timeout S] [--linger S]\n"
"         [--wait-file PATH]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "bootstrap", required_argument, NULL, 'b' },
		{ "cache-dir", required_argument, NULL, 'c' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "files", required_argument, NULL, 'f' },
		{ "refetch", no_argument, NULL, 'r' },
		{ "expect-errors", required_argument, NULL, 'e' },
		{ "kill-every", required_argument, NULL, 'k' },
		{ "pidfile", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 't' },
		{ "linger", required_argument, NULL, 'l' },
		{ "wait-file", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	const struct nydusfs_blob *b;
	sigset_t usr1;
	unsigned long bad;
	size_t present = 0, i;
	int opt;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 's': o.sock = optarg; break;
		case 'b': o.bootstrap = optarg; break;
		case 'c': o.cache_dir = optarg; break;
		case 'p': o.parallel = atoi(optarg); break;
		case 'f': o.limit_files = atol(optarg); break;
		case 'r': o.refetch = true; break;
		case 'e': o.expect_errors = atoi(optarg); break;
		case 'k': o.kill_every = atoi(optarg); break;
		case 'P': o.pidfile = optarg; break;
		case 't': o.timeout = atoi(optarg); break;
		case 'l': o.linger = atoi(optarg); break;
		case 'w': o.wait_file = optarg; break;
		default: usage();
		}
	}
	if (!o.sock || !o.bootstrap || !o.cache_dir || !o.parallel ||
	    (o.kill_every && !o.pidfile))
		usage();
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);	/* ends --linger */
	if (nydusfs_image_open(o.bootstrap, &img))
		die("cannot open %s", o.bootstrap);
	blobs = calloc(img->blob_count + 1, sizeof(*blobs));
	bitmaps = calloc(img->blob_count + 1, sizeof(*bitmaps));
	for (i = 0; i < img->blob_count; i++) {
		if (nydusfs_image_blob(img, i, &b))
			die("bad blob %zu", i);
		memcpy(blobs[i].digest, b->digest, NYDUSFS_DIGEST_SIZE);
		blobs[i].compressed_size = le64_to_cpu(b->compressed_size);
		blobs[i].uncompressed_size = le64_to_cpu(b->uncompressed_size);
		blobs[i].chunk_count = le32_to_cpu(b->chunk_count);
	}
	collect_chunks();
	listen_sock();
	accept_daemon();
	if (handshake())
		die("daemon gone during INIT");
	if (o.wait_file)
		wait_for_file(o.wait_file);
	open_blobs();
	read_all();
	for (i = 0; i < nchunks; i++)
		present += chunks[i].present_at_open;
	bad = verify_cache();
	printf("chunks %zu present %zu fetched %lu errors %lu bad %lu restarts %lu\n",
	       nchunks, present, fetched, errors_seen, bad, restarts);
	fflush(stdout);
	linger(o.linger);
	close(cfd);
	close(lfd);
	unlink(o.sock);
	if (o.expect_errors == -2)
		return bad || !errors_seen;
	if (o.expect_errors < 0)
		return bad || errors_seen != asked;
	return bad || errors_seen != (unsigned long)o.expect_errors;
}
