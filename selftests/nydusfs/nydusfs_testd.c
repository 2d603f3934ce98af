// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs_testd: a small daemon for the kselftests.  It serves the
 * /dev/nydusfs protocol (uapi/nydusfs_dev.h) from a directory of blobs made
 * by `nydusfs build`, into sparse cache files, one per blob, in a cache
 * directory; a sidecar file per blob (<digest>.map) records which chunks it
 * wrote, so a restarted daemon hands the kernel a true presence bitmap.
 *
 * It counts what it sees (requests by opcode, chunks written, refetches,
 * bad replies the kernel took or refused) and rewrites the counts in a
 * stats file before it sends each reply, so a test that just finished a
 * read can read the counts; SIGUSR1 and exit print them on stderr.
 *
 * --mode makes it misbehave, to prove the kernel survives a bad daemon:
 * every reply that breaks the protocol must be refused (-EINVAL, -ENOENT,
 * -EBADF...), which the stats record as bad_rejected; one the kernel takes
 * is counted as bad_accepted, a kernel bug.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lz4.h>
#include <openssl/evp.h>
#include <zstd.h>

#include "nydusfs_dev.h"
#include "nydusfs_fs.h"

#define MSG_MAX		NYDUSFS_DEV_MSG_MAX
#define DIGEST_HEX	(2 * NYDUSFS_DIGEST_SIZE + 1)

enum mode {
	MODE_NORMAL,
	MODE_WRONG_ID,		/* replies carry another request's id */
	MODE_WRONG_OPCODE,	/* replies carry another opcode */
	MODE_WRONG_OBJECT,	/* replies carry another object_id */
	MODE_WRONG_RANGE,	/* READ replies name another chunk range */
	MODE_WRONG_OWNER,	/* replies sent on another open of the device */
	MODE_DOUBLE,		/* every READ is answered twice */
	MODE_CLOSE_REPLY,	/* CLOSE is answered */
	MODE_NO_DATA,		/* READ answered "done", nothing written */
	MODE_LYING_BITMAP,	/* OPEN claims every chunk, none written */
	MODE_BAD_DATA,		/* READ writes wrong bytes, answers "done" */
	MODE_BAD_REFETCH,	/* normal until a refetch, wrong bytes from then */
	MODE_READ_ERROR,	/* READ answered -EIO */
	MODE_OPEN_ERROR,	/* OPEN answered -ENOENT */
	MODE_SILENT,		/* never answers OPEN or READ */
	MODE_SILENT_READ,	/* answers OPEN, never READ */
	MODE_EXIT_MID,		/* exits once it holds a READ */
	MODE_FLOOD,		/* bogus replies and huge lengths first */
	MODE_SHORT_MSG,		/* truncated replies */
	MODE_LONG_MSG,		/* oversized replies */
	MODE_SMALL_READ,	/* read()s with too small a buffer first */
	MODE_DIR_FD,		/* OPEN hands over a directory */
	MODE_FIFO_FD,		/* OPEN hands over a pipe */
	MODE_CHR_FD,		/* OPEN hands over /dev/null */
	MODE_WRONLY_FD,		/* OPEN hands over the cache file write-only */
	MODE_BAD_FD,		/* OPEN hands over fds that are not open */
	MODE_BAD_BITMAP,	/* OPEN's bitmap has the wrong size */
	MODE_BAD_INIT,		/* INIT answered with another version */
	MODE_COUNT
};

static const char *const mode_names[MODE_COUNT] = {
	"normal", "wrong-id", "wrong-opcode", "wrong-object", "wrong-range",
	"wrong-owner",
	"double", "close-reply", "no-data", "lying-bitmap", "bad-data",
	"bad-refetch", "read-error", "open-error", "silent", "silent-read",
	"exit-mid", "flood", "short-msg", "long-msg", "small-read", "dir-fd",
	"fifo-fd", "chr-fd", "wronly-fd", "bad-fd", "bad-bitmap", "bad-init",
};

struct opts {
	const char *device;
	const char *blob_dir;
	const char *cache_dir;
	const char *stats_path;
	enum mode mode;
	unsigned long after;	/* misbehave from this request on (1-based) */
	bool recover;		/* after a refused bad reply, send the right one */
	unsigned int delay_ms;
	unsigned int batch;
	bool pdeathsig;
	int verbose;
};

struct stats {
	unsigned long init, open, read, close;
	unsigned long chunks, refetch, stale, read_errors, open_errors;
	unsigned long bad_sent, bad_rejected, bad_accepted;
	unsigned long reply_rejected, emsgsize, proto_errors;
	unsigned long bytes;		/* uncompressed bytes written */
	unsigned long max_batch;	/* most requests taken at once */
	unsigned long stale_close;	/* CLOSE of a blob it does not hold */
	unsigned long bad_return;	/* write() returned neither -1 nor len */
};

/* One blob the kernel opened, by object_id */
struct blob {
	struct blob *next;
	uint32_t object_id;
	struct nydusfs_dev_blob db;
	char hex[DIGEST_HEX];
	int blob_fd;
	int cache_fd;
	int map_fd;
	uint8_t *map;		/* (chunk_count + 7) / 8 bytes */
};

struct req {
	size_t len;
	union {
		struct nydusfs_dev_hdr hdr;
		uint8_t buf[MSG_MAX];
	};
};

static struct opts o = {
	.device = "/dev/nydusfs",
	.batch = 1,
};
static struct stats st;
static struct blob *blobs;
static int dev_fd = -1;
static int other_fd = -1;		/* wrong-owner: a second daemon fd */
static unsigned long nreq;		/* requests taken, INIT excluded */
static bool refetched;			/* a refetch was asked for */
static volatile sig_atomic_t got_usr1, got_term;

static void msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > o.verbose)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "nydusfs_testd[%d]: ", getpid());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

#define err(...)	msg(0, __VA_ARGS__)
#define info(...)	msg(1, __VA_ARGS__)
#define dbg(...)	msg(2, __VA_ARGS__)

static int format_stats(char *buf, size_t size)
{
	return snprintf(buf, size,
			"init %lu\nopen %lu\nread %lu\nclose %lu\nchunks %lu\n"
			"refetch %lu\nstale %lu\nread_errors %lu\n"
			"open_errors %lu\nbad_sent %lu\nbad_rejected %lu\n"
			"bad_accepted %lu\nreply_rejected %lu\nemsgsize %lu\n"
			"proto_errors %lu\nbytes %lu\nmax_batch %lu\n"
			"stale_close %lu\nbad_return %lu\n",
			st.init, st.open, st.read, st.close, st.chunks,
			st.refetch, st.stale, st.read_errors, st.open_errors,
			st.bad_sent, st.bad_rejected, st.bad_accepted,
			st.reply_rejected, st.emsgsize, st.proto_errors,
			st.bytes, st.max_batch, st.stale_close, st.bad_return);
}

/* Written whole and renamed into place: a reader never sees half of it. */
static void write_stats(void)
{
	char tmp[PATH_MAX], buf[1024];
	int fd, len;

	if (!o.stats_path)
		return;
	len = format_stats(buf, sizeof(buf));
	snprintf(tmp, sizeof(tmp), "%s.tmp", o.stats_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err("%s: %s", tmp, strerror(errno));
		return;
	}
	if (write(fd, buf, len) != len || close(fd) || rename(tmp, o.stats_path))
		err("%s: %s", o.stats_path, strerror(errno));
}

static void print_stats(void)
{
	char buf[1024];

	format_stats(buf, sizeof(buf));
	fprintf(stderr, "nydusfs_testd[%d]: stats\n%s", getpid(), buf);
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_term = 1;
}

static void to_hex(const uint8_t *d, char *hex)
{
	int i;

	for (i = 0; i < NYDUSFS_DIGEST_SIZE; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
}

static bool misbehaving(void)
{
	return o.mode != MODE_NORMAL && nreq >= o.after;
}

/* ---- sending replies ---- */

/* write() returns the length written or -1: anything else is a bug */
static void check_write_return(ssize_t n, size_t len, const char *what)
{
	if (n < 0 || n == (ssize_t)len)
		return;
	st.bad_return++;
	err("write() of a %zu-byte reply (%s) returned %zd", len, what, n);
}

/* A reply as the protocol wants it; the kernel must take it. */
static int send_reply(const void *buf, size_t len)
{
	ssize_t n = write(dev_fd, buf, len);

	check_write_return(n, len, "reply");
	if (n == (ssize_t)len)
		return 0;
	st.reply_rejected++;
	err("reply (opcode %u, id %u) refused: %s",
	    ((const struct nydusfs_dev_hdr *)buf)->opcode,
	    ((const struct nydusfs_dev_hdr *)buf)->id,
	    n < 0 ? strerror(errno) : "bad return value");
	return n < 0 ? -errno : -EIO;
}

/* A reply that breaks the protocol, on @fd; the kernel must refuse it. */
static bool send_bad_on(int fd, const void *buf, size_t len, const char *what)
{
	ssize_t n;

	st.bad_sent++;
	n = write(fd, buf, len);
	check_write_return(n, len, what);
	if (n < 0 || n != (ssize_t)len) {
		st.bad_rejected++;
		dbg("bad reply (%s) refused: %s", what,
		    n < 0 ? strerror(errno) : "bad return value");
		return false;
	}
	st.bad_accepted++;
	err("bad reply (%s) ACCEPTED by the kernel", what);
	return true;
}

static bool send_bad(const void *buf, size_t len, const char *what)
{
	return send_bad_on(dev_fd, buf, len, what);
}

/* ---- blobs and cache files ---- */

static struct blob *find_blob(uint32_t object_id)
{
	struct blob *b;

	for (b = blobs; b; b = b->next)
		if (b->object_id == object_id)
			return b;
	return NULL;
}

static void free_blob(struct blob *b)
{
	if (b->blob_fd >= 0)
		close(b->blob_fd);
	if (b->cache_fd >= 0)
		close(b->cache_fd);
	if (b->map_fd >= 0)
		close(b->map_fd);
	free(b->map);
	free(b);
}

static void drop_blob(uint32_t object_id)
{
	struct blob **pp, *b;

	for (pp = &blobs; (b = *pp); pp = &b->next) {
		if (b->object_id == object_id) {
			*pp = b->next;
			free_blob(b);
			return;
		}
	}
}

static size_t map_bytes(const struct blob *b)
{
	return (b->db.chunk_count + 7) / 8;
}

static int open_at_dir(const char *dir, const char *name, int flags)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return open(path, flags | O_CLOEXEC, 0644);
}

/* The blob file, its cache file and its sidecar bitmap, checked. */
static int setup_blob(struct blob *b)
{
	char name[DIGEST_HEX + 8];
	struct stat sb;
	ssize_t n;

	to_hex(b->db.digest, b->hex);
	b->blob_fd = open_at_dir(o.blob_dir, b->hex, O_RDONLY);
	if (b->blob_fd < 0)
		return -errno;
	if (fstat(b->blob_fd, &sb) || (uint64_t)sb.st_size != b->db.compressed_size)
		return -EINVAL;
	if (b->db.uncompressed_size % NYDUSFS_BLKSZ ||
	    b->db.chunk_count > (1U << 28))
		return -EINVAL;
	b->cache_fd = open_at_dir(o.cache_dir, b->hex, O_RDWR | O_CREAT);
	if (b->cache_fd < 0)
		return -errno;
	/* never truncated or replaced: the kernel may hold this very inode */
	if (fstat(b->cache_fd, &sb))
		return -errno;
	if ((uint64_t)sb.st_size < b->db.uncompressed_size &&
	    ftruncate(b->cache_fd, b->db.uncompressed_size))
		return -errno;
	snprintf(name, sizeof(name), "%s.map", b->hex);
	b->map_fd = open_at_dir(o.cache_dir, name, O_RDWR | O_CREAT);
	if (b->map_fd < 0)
		return -errno;
	b->map = calloc(1, map_bytes(b) + 1);
	if (!b->map)
		return -ENOMEM;
	n = pread(b->map_fd, b->map, map_bytes(b), 0);
	if (n < 0)
		return -errno;
	return 0;
}

static struct blob *new_blob(uint32_t object_id,
			     const struct nydusfs_dev_blob *db, int *error)
{
	struct blob *b = calloc(1, sizeof(*b));

	if (!b) {
		*error = -ENOMEM;
		return NULL;
	}
	b->object_id = object_id;
	b->db = *db;
	b->blob_fd = b->cache_fd = b->map_fd = -1;
	*error = setup_blob(b);
	if (*error) {
		err("blob %s: %s", b->hex, strerror(-*error));
		free_blob(b);
		return NULL;
	}
	drop_blob(object_id);
	b->next = blobs;
	blobs = b;
	return b;
}

/* ---- chunks ---- */

static int decompress(const struct nydusfs_dev_chunk *c, const void *src,
		      void *dst)
{
	size_t n;
	int r;

	switch (c->compressor) {
	case NYDUSFS_COMPR_NONE:
		if (c->compressed_size != c->uncompressed_size)
			return -EINVAL;
		memcpy(dst, src, c->uncompressed_size);
		return 0;
	case NYDUSFS_COMPR_LZ4:
		r = LZ4_decompress_safe(src, dst, c->compressed_size,
					c->uncompressed_size);
		return r == (int)c->uncompressed_size ? 0 : -EBADMSG;
	case NYDUSFS_COMPR_ZSTD:
		n = ZSTD_decompress(dst, c->uncompressed_size, src,
				    c->compressed_size);
		return !ZSTD_isError(n) && n == c->uncompressed_size ? 0 : -EBADMSG;
	}
	return -EINVAL;
}

static int check_digest(const void *buf, size_t len, const uint8_t *want)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL))
		return -ENOMEM;
	return memcmp(md, want, NYDUSFS_DIGEST_SIZE) ? -EBADMSG : 0;
}

static int mark_present(struct blob *b, uint32_t chunk)
{
	uint8_t byte;

	b->map[chunk / 8] |= 1U << (chunk % 8);
	byte = b->map[chunk / 8];
	if (pwrite(b->map_fd, &byte, 1, chunk / 8) != 1)
		return -errno;
	return 0;
}

/* Fetch one chunk from the blob into the cache file, checked. */
static int serve_chunk(struct blob *b, uint32_t index,
		       const struct nydusfs_dev_chunk *c, bool corrupt)
{
	uint64_t chunk_size = 1ULL << NYDUSFS_MAX_CHUNKSZBITS;
	void *src = NULL, *dst = NULL;
	int error = -EINVAL;

	if (index >= b->db.chunk_count || !c->uncompressed_size ||
	    c->uncompressed_size > chunk_size ||
	    c->compressed_size > 2 * chunk_size ||
	    c->compressed_offset > b->db.compressed_size ||
	    c->compressed_size > b->db.compressed_size - c->compressed_offset ||
	    c->uncompressed_offset % NYDUSFS_BLKSZ ||
	    c->uncompressed_offset > b->db.uncompressed_size ||
	    c->uncompressed_size > b->db.uncompressed_size - c->uncompressed_offset)
		goto out;
	src = malloc(c->compressed_size + 1);
	dst = malloc(c->uncompressed_size);
	error = -ENOMEM;
	if (!src || !dst)
		goto out;
	error = -EIO;
	if (pread(b->blob_fd, src, c->compressed_size, c->compressed_offset) !=
	    (ssize_t)c->compressed_size)
		goto out;
	error = decompress(c, src, dst);
	if (!error)
		error = check_digest(dst, c->uncompressed_size, c->digest);
	if (error)
		goto out;
	if (corrupt)
		((uint8_t *)dst)[c->uncompressed_size / 2] ^= 0x5a;
	error = -EIO;
	if (pwrite(b->cache_fd, dst, c->uncompressed_size,
		   c->uncompressed_offset) != (ssize_t)c->uncompressed_size)
		goto out;
	error = mark_present(b, index);
	st.chunks++;
	st.bytes += c->uncompressed_size;
out:
	if (error)
		err("blob %s chunk %u: %s", b->hex, index, strerror(-error));
	free(src);
	free(dst);
	return error;
}

/* ---- INIT ---- */

static int handle_init(const struct req *r)
{
	const struct nydusfs_dev_init *in = (const void *)(r->buf + sizeof(r->hdr));
	struct {
		struct nydusfs_dev_hdr hdr;
		struct nydusfs_dev_init_reply body;
	} rep = {};

	if (r->len != sizeof(r->hdr) + sizeof(*in) || r->hdr.id ||
	    r->hdr.object_id) {
		err("malformed INIT request (%zu bytes)", r->len);
		return -EPROTO;
	}
	st.init++;
	info("INIT: version %u features 0x%x msg_max %u", in->version,
	     in->features, in->msg_max);
	if (in->version != NYDUSFS_DEV_VERSION || in->msg_max > MSG_MAX) {
		err("kernel speaks version %u (msg_max %u), not %u",
		    in->version, in->msg_max, NYDUSFS_DEV_VERSION);
		return -EPROTONOSUPPORT;
	}
	rep.hdr.len = sizeof(rep);
	rep.hdr.opcode = NYDUSFS_OP_INIT;
	rep.body.version = in->version;
	rep.body.features = 0;
	if (o.mode == MODE_BAD_INIT && !o.recover && st.init > 1) {
		/* refused once: read() keeps returning INIT, do not spin */
		usleep(100000);
		return 0;
	}
	if (o.mode == MODE_BAD_INIT) {
		rep.body.version = in->version + 1;
		send_bad(&rep, sizeof(rep), "INIT version");
		rep.body.version = in->version;
		rep.body.features = 0x80000000U;
		send_bad(&rep, sizeof(rep), "INIT features");
		rep.body.features = 0;
		if (!o.recover)
			return 0;
	}
	write_stats();
	return send_reply(&rep, sizeof(rep));
}

/* ---- OPEN ---- */

struct open_msg {
	struct nydusfs_dev_hdr hdr;
	struct nydusfs_dev_open_reply body;
	uint8_t map[];
};

static int send_open_error(const struct req *r, int error)
{
	struct open_msg rep = { .hdr = r->hdr };

	rep.hdr.len = sizeof(rep);
	rep.hdr.error = error;
	rep.body.fd = -1;
	write_stats();
	return send_reply(&rep, sizeof(rep));
}

/* An OPEN reply handing over @fd; the bitmap follows. */
static size_t build_open(struct open_msg *rep, const struct req *r,
			 const struct blob *b, int fd, bool all_present)
{
	size_t bytes = map_bytes(b);

	memset(rep, 0, sizeof(*rep));
	rep->hdr = r->hdr;
	rep->body.fd = fd;
	rep->body.bitmap_bytes = bytes;
	if (all_present)
		memset(rep->map, 0xff, bytes);
	else
		memcpy(rep->map, b->map, bytes);
	rep->hdr.len = sizeof(*rep) + bytes;
	return rep->hdr.len;
}

static void open_bad_fds(struct open_msg *rep, size_t len,
			 const struct blob *b)
{
	int pipefd[2] = { -1, -1 }, fd = -1;

	switch (o.mode) {
	case MODE_DIR_FD:
		fd = open(o.cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		break;
	case MODE_FIFO_FD:
		if (pipe2(pipefd, O_CLOEXEC) == 0)
			fd = pipefd[0];
		break;
	case MODE_CHR_FD:
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		break;
	case MODE_WRONLY_FD:
		fd = open_at_dir(o.cache_dir, b->hex, O_WRONLY);
		break;
	case MODE_BAD_FD:
		rep->body.fd = -1;
		send_bad(rep, len, "fd -1");
		rep->body.fd = 1000000;
		send_bad(rep, len, "fd not open");
		return;
	default:
		return;
	}
	if (fd < 0) {
		err("cannot make the bad fd: %s", strerror(errno));
		return;
	}
	rep->body.fd = fd;
	send_bad(rep, len, mode_names[o.mode]);
	close(fd);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
}

/* The bad OPEN replies of the open-side modes; true: send no good one. */
static bool open_misbehave(const struct req *r, struct open_msg *rep,
			   size_t len, struct blob *b)
{
	struct open_msg *big;
	size_t bytes = map_bytes(b);

	switch (o.mode) {
	case MODE_WRONG_OWNER:
		send_bad_on(other_fd, rep, len, "another daemon's OPEN");
		return !o.recover;
	case MODE_DIR_FD: case MODE_FIFO_FD: case MODE_CHR_FD:
	case MODE_WRONLY_FD: case MODE_BAD_FD:
		open_bad_fds(rep, len, b);
		rep->body.fd = b->cache_fd;
		return !o.recover;
	case MODE_BAD_BITMAP:
		big = calloc(1, len + 16);
		if (!big)
			return false;
		memcpy(big, rep, len);
		big->body.bitmap_bytes = bytes + 8;
		big->hdr.len = len + 8;
		send_bad(big, len + 8, "bitmap too long");
		if (bytes > 1) {
			big->body.bitmap_bytes = bytes - 1;
			big->hdr.len = len - 1;
			send_bad(big, len - 1, "bitmap too short");
		}
		big->body.bitmap_bytes = bytes;
		big->hdr.len = len;
		send_bad(big, len + 4, "len differs from count");
		free(big);
		return !o.recover;
	case MODE_OPEN_ERROR:
		st.open_errors++;
		send_open_error(r, -ENOENT);
		return true;
	case MODE_SILENT:
		return true;
	default:
		(void)r;
		return false;
	}
}

static int handle_open(const struct req *r)
{
	const struct nydusfs_dev_blob *db = (const void *)(r->buf + sizeof(r->hdr));
	struct open_msg *rep;
	struct blob *b;
	size_t len;
	int error;

	st.open++;
	if (r->len != sizeof(r->hdr) + sizeof(*db)) {
		err("malformed OPEN request (%zu bytes)", r->len);
		return send_open_error(r, -EPROTO);
	}
	b = new_blob(r->hdr.object_id, db, &error);
	if (!b) {
		/* not a blob of ours: left over from an earlier daemon's mount */
		st.open--;
		st.stale++;
		st.open_errors++;
		return send_open_error(r, error);
	}
	info("OPEN %u: blob %s, %u chunks", r->hdr.object_id, b->hex,
	     b->db.chunk_count);
	rep = calloc(1, sizeof(*rep) + map_bytes(b) + 16);
	if (!rep)
		return send_open_error(r, -ENOMEM);
	len = build_open(rep, r, b, b->cache_fd,
			 misbehaving() && o.mode == MODE_LYING_BITMAP);
	if (misbehaving() && open_misbehave(r, rep, len, b)) {
		free(rep);
		return 0;
	}
	write_stats();
	error = send_reply(rep, len);
	free(rep);
	return error;
}

/* ---- READ ---- */

struct read_msg {
	struct nydusfs_dev_hdr hdr;
	struct nydusfs_dev_read_reply body;
};

static void read_reply_init(struct read_msg *rep, const struct req *r,
			    const struct nydusfs_dev_read *rd, int error)
{
	memset(rep, 0, sizeof(*rep));
	rep->hdr = r->hdr;
	rep->hdr.len = sizeof(*rep);
	rep->hdr.error = error;
	rep->body.chunk_index = rd->chunk_index;
	rep->body.chunk_count = rd->chunk_count;
}

/* Replies with a wrong id, opcode, object or range, then maybe the right. */
static bool read_wrong_header(struct read_msg *rep)
{
	struct read_msg bad = *rep;

	switch (o.mode) {
	case MODE_WRONG_ID:
		bad.hdr.id = rep->hdr.id + 1000003;
		send_bad(&bad, sizeof(bad), "wrong id");
		bad.hdr.id = 0;
		send_bad(&bad, sizeof(bad), "id 0");
		break;
	case MODE_WRONG_OPCODE:
		bad.hdr.opcode = NYDUSFS_OP_OPEN;
		send_bad(&bad, sizeof(bad), "READ answered as OPEN");
		bad.hdr.opcode = NYDUSFS_OP_CLOSE;
		send_bad(&bad, sizeof(bad), "READ answered as CLOSE");
		bad.hdr.opcode = 77;
		send_bad(&bad, sizeof(bad), "unknown opcode");
		break;
	case MODE_WRONG_OBJECT:
		bad.hdr.object_id = rep->hdr.object_id + 1;
		send_bad(&bad, sizeof(bad), "wrong object_id");
		break;
	case MODE_WRONG_OWNER:
		send_bad_on(other_fd, &bad, sizeof(bad), "another daemon's READ");
		break;
	case MODE_WRONG_RANGE:
		bad.body.chunk_index++;
		send_bad(&bad, sizeof(bad), "wrong chunk_index");
		bad.body.chunk_index--;
		bad.body.chunk_count++;
		send_bad(&bad, sizeof(bad), "wrong chunk_count");
		break;
	default:
		return false;
	}
	return !o.recover;
}

/* Bogus replies in bulk: random ids, lengths that lie, huge buffers. */
static void flood(const struct read_msg *rep)
{
	static uint32_t seed = 12345;
	struct read_msg bad;
	size_t big = 1 << 20;
	uint8_t *huge;
	int i;

	for (i = 0; i < 200; i++) {
		bad = *rep;
		seed = seed * 1103515245 + 12345;
		bad.hdr.id = seed;
		bad.hdr.len = (i % 3) ? sizeof(bad) : seed;
		send_bad(&bad, sizeof(bad), "flood");
	}
	huge = calloc(1, big);
	if (!huge)
		return;
	memcpy(huge, rep, sizeof(*rep));
	((struct nydusfs_dev_hdr *)huge)->len = big;
	send_bad(huge, big, "1 MiB reply");
	((struct nydusfs_dev_hdr *)huge)->len = UINT32_MAX;
	send_bad(huge, big, "len 4 GiB");
	free(huge);
}

static void short_long(const struct read_msg *rep)
{
	struct read_msg bad = *rep;
	uint8_t buf[sizeof(*rep) + 64] = {};

	if (o.mode == MODE_SHORT_MSG) {
		send_bad(&bad, 0, "empty write");
		send_bad(&bad, sizeof(bad.hdr) - 1, "half a header");
		bad.hdr.len = sizeof(bad.hdr);
		send_bad(&bad, sizeof(bad.hdr), "header only");
		bad.hdr.len = sizeof(bad) - 1;
		send_bad(&bad, sizeof(bad) - 1, "body short by one");
	} else {
		memcpy(buf, rep, sizeof(*rep));
		((struct nydusfs_dev_hdr *)buf)->len = sizeof(buf);
		send_bad(buf, sizeof(buf), "64 bytes too long");
		((struct nydusfs_dev_hdr *)buf)->len = sizeof(*rep);
		send_bad(buf, sizeof(buf), "len smaller than write");
		bad.hdr.reserved = 1;
		send_bad(&bad, sizeof(bad), "reserved set");
		bad.hdr.reserved = 0;
		bad.hdr.error = 5;
		send_bad(&bad, sizeof(bad), "positive error");
	}
}

/* Every chunk of a READ into the cache file, as the mode wants it */
static int serve_range(const struct req *r, const struct nydusfs_dev_read *rd,
		       bool bad_mode, bool refetch)
{
	struct blob *b = find_blob(r->hdr.object_id);
	bool corrupt;
	int error = 0;
	uint32_t i;

	/* a request taken over from an earlier daemon: open the blob now */
	if (!b || memcmp(b->db.digest, rd->blob.digest, NYDUSFS_DIGEST_SIZE))
		b = new_blob(r->hdr.object_id, &rd->blob, &error);
	if (!b) {
		st.read--;
		st.stale++;
		return error;
	}
	/* bad-refetch: right data until the first refetch, wrong from then */
	if (bad_mode && o.mode == MODE_BAD_REFETCH && refetch)
		refetched = true;
	corrupt = bad_mode && (o.mode == MODE_BAD_DATA ||
			       (o.mode == MODE_BAD_REFETCH && refetched));
	if (bad_mode && o.mode == MODE_READ_ERROR)
		return -EIO;
	if (bad_mode && o.mode == MODE_NO_DATA)
		return 0;
	for (i = 0; !error && i < rd->chunk_count; i++)
		error = serve_chunk(b, rd->chunk_index + i, &rd->chunks[i],
				    corrupt);
	return error;
}

static int handle_read(const struct req *r)
{
	const struct nydusfs_dev_read *rd = (const void *)(r->buf + sizeof(r->hdr));
	bool refetch, bad_mode = misbehaving();
	struct read_msg rep;
	int error;

	st.read++;
	if (r->len < sizeof(r->hdr) + sizeof(*rd) ||
	    r->len != sizeof(r->hdr) + sizeof(*rd) +
		      (size_t)rd->chunk_count * sizeof(rd->chunks[0]) ||
	    !rd->chunk_count) {
		err("malformed READ request (%zu bytes)", r->len);
		st.read_errors++;
		read_reply_init(&rep, r, rd, -EPROTO);
		write_stats();
		return send_reply(&rep, sizeof(rep));
	}
	refetch = rd->flags & NYDUSFS_READ_REFETCH;
	st.refetch += refetch;
	info("READ %u: object %u chunks %u+%u%s", r->hdr.id, r->hdr.object_id,
	     rd->chunk_index, rd->chunk_count, refetch ? " (refetch)" : "");
	read_reply_init(&rep, r, rd, 0);
	if (bad_mode && (o.mode == MODE_SILENT || o.mode == MODE_SILENT_READ))
		return 0;
	if (bad_mode && o.mode == MODE_EXIT_MID) {
		err("exiting with READ %u unanswered", r->hdr.id);
		write_stats();
		_exit(3);
	}
	error = serve_range(r, rd, bad_mode, refetch);
	if (error) {
		st.read_errors++;
		rep.hdr.error = error;
	}
	if (o.delay_ms)
		usleep(o.delay_ms * 1000);
	write_stats();
	if (bad_mode && read_wrong_header(&rep))
		return 0;
	if (bad_mode && o.mode == MODE_FLOOD)
		flood(&rep);
	if (bad_mode && (o.mode == MODE_SHORT_MSG || o.mode == MODE_LONG_MSG)) {
		short_long(&rep);
		if (!o.recover)
			return 0;
	}
	error = send_reply(&rep, sizeof(rep));
	if (bad_mode && o.mode == MODE_DOUBLE)
		send_bad(&rep, sizeof(rep), "second reply");
	return error;
}

/* ---- CLOSE ---- */

static int handle_close(const struct req *r)
{
	const struct nydusfs_dev_blob *db = (const void *)(r->buf + sizeof(r->hdr));
	struct nydusfs_dev_hdr rep = r->hdr;
	struct blob *b = find_blob(r->hdr.object_id);

	info("CLOSE %u", r->hdr.object_id);
	/*
	 * A CLOSE queued while no daemon ran reaches the next one, and its
	 * object_id may name a newer object by then: the digest tells.
	 */
	if (r->len == sizeof(r->hdr) + sizeof(*db) && b &&
	    !memcmp(b->db.digest, db->digest, NYDUSFS_DIGEST_SIZE)) {
		st.close++;
		drop_blob(r->hdr.object_id);
	} else {
		st.stale_close++;
	}
	write_stats();
	if (misbehaving() && o.mode == MODE_CLOSE_REPLY) {
		rep.len = sizeof(rep);
		send_bad(&rep, sizeof(rep), "CLOSE answered");
	}
	return 0;
}

/* ---- the loop ---- */

static int handle(const struct req *r)
{
	if (r->len < sizeof(r->hdr) || r->hdr.len != r->len) {
		err("malformed request: %zu bytes, header says %u", r->len,
		    r->len >= sizeof(r->hdr) ? r->hdr.len : 0);
		return -EPROTO;
	}
	dbg("request %u opcode %u object %u len %zu", r->hdr.id,
	    r->hdr.opcode, r->hdr.object_id, r->len);
	switch (r->hdr.opcode) {
	case NYDUSFS_OP_INIT:
		return handle_init(r);
	case NYDUSFS_OP_OPEN:
		return handle_open(r);
	case NYDUSFS_OP_READ:
		return handle_read(r);
	case NYDUSFS_OP_CLOSE:
		return handle_close(r);
	}
	err("unknown opcode %u", r->hdr.opcode);
	return -EPROTO;
}

/* One request, or 0 when none is queued; -errno on error. */
static int take(struct req *r)
{
	ssize_t n;

	if (misbehaving() && o.mode == MODE_SMALL_READ) {
		n = read(dev_fd, r->buf, sizeof(struct nydusfs_dev_hdr));
		if (n < 0 && errno == EMSGSIZE)
			st.emsgsize++;
		else if (n >= 0)
			err("a %zu-byte read() returned %zd bytes",
			    sizeof(struct nydusfs_dev_hdr), n);
	}
	n = read(dev_fd, r->buf, sizeof(r->buf));
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	r->len = n;
	if (r->len >= sizeof(r->hdr) && r->hdr.opcode != NYDUSFS_OP_INIT)
		nreq++;
	return 1;
}

static void handle_signals(void)
{
	if (got_usr1) {
		got_usr1 = 0;
		print_stats();
	}
}

static int serve(void)
{
	struct req *reqs = calloc(o.batch, sizeof(*reqs));
	struct pollfd pfd = { .fd = dev_fd, .events = POLLIN };
	unsigned int n, i;
	int ret = 0, e;

	if (!reqs)
		return -ENOMEM;
	while (!got_term && !ret) {
		handle_signals();
		if (poll(&pfd, 1, 500) < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		/* until INIT is answered, every read() returns INIT again */
		for (n = 0; n < o.batch; ) {
			ret = take(&reqs[n]);
			if (ret <= 0)
				break;
			if (reqs[n++].hdr.opcode == NYDUSFS_OP_INIT)
				break;
		}
		if (ret > 0)
			ret = 0;
		if (n > st.max_batch)
			st.max_batch = n;
		for (i = 0; i < n && !ret; i++) {
			/* a malformed request is counted; a refused reply too */
			e = handle(&reqs[i]);
			if (e == -EPROTO)
				st.proto_errors++;
			else if (e == -EPROTONOSUPPORT)
				ret = e;
			/* what was sent after the reply counts too */
			write_stats();
		}
	}
	free(reqs);
	return ret;
}

static void usage(FILE *f)
{
	int i;

	fprintf(f,
"usage: nydusfs_testd [OPTIONS] BLOB_DIR CACHE_DIR\n"
"\n"
"Serve /dev/nydusfs from the blobs in BLOB_DIR (named by their sha256),\n"
"fetching chunks into one sparse cache file per blob in CACHE_DIR, with a\n"
"sidecar bitmap <digest>.map of the chunks written.\n"
"\n"
"  -d, --device PATH     the device (default /dev/nydusfs)\n"
"  -s, --stats FILE      write the counts to FILE before every reply\n"
"  -m, --mode MODE       misbehave (default normal; see below)\n"
"  -a, --after N         misbehave from the Nth OPEN/READ/CLOSE on (default 1)\n"
"  -r, --recover         after each refused bad reply, send the right one\n"
"  -D, --delay-ms MS     wait MS milliseconds before each READ reply\n"
"  -b, --batch N         take up to N requests before answering (default 1)\n"
"  -P, --pdeathsig       die with the parent process\n"
"  -v, --verbose         say more (twice: every request)\n"
"  -h, --help            this text\n"
"\n"
"SIGUSR1 prints the counts on stderr; SIGTERM and SIGINT stop the daemon.\n"
"Modes:");
	for (i = 0; i < MODE_COUNT; i++)
		fprintf(f, "%s%s", i % 8 ? " " : "\n  ", mode_names[i]);
	fprintf(f, "\n");
}

static int parse_mode(const char *s)
{
	int i;

	for (i = 0; i < MODE_COUNT; i++)
		if (!strcmp(s, mode_names[i]))
			return i;
	return -1;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || end == s || *end || *out > max || s[0] == '-' ? -1 : 0;
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "stats", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' },
		{ "after", required_argument, NULL, 'a' },
		{ "recover", no_argument, NULL, 'r' },
		{ "delay-ms", required_argument, NULL, 'D' },
		{ "batch", required_argument, NULL, 'b' },
		{ "pdeathsig", no_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	unsigned long v;
	int c, m;

	o.after = 1;
	while ((c = getopt_long(argc, argv, "d:s:m:a:rD:b:Pvh", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'd': o.device = optarg; break;
		case 's': o.stats_path = optarg; break;
		case 'm':
			m = parse_mode(optarg);
			if (m < 0) {
				fprintf(stderr, "nydusfs_testd: unknown mode '%s'\n", optarg);
				return -1;
			}
			o.mode = m;
			break;
		case 'a':
			if (parse_uint(optarg, ULONG_MAX, &v) || !v)
				goto bad_number;
			o.after = v;
			break;
		case 'r': o.recover = true; break;
		case 'D':
			if (parse_uint(optarg, 60000, &v))
				goto bad_number;
			o.delay_ms = v;
			break;
		case 'b':
			if (parse_uint(optarg, 1024, &v) || !v)
				goto bad_number;
			o.batch = v;
			break;
		case 'P': o.pdeathsig = true; break;
		case 'v': o.verbose++; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "nydusfs_testd: need BLOB_DIR and CACHE_DIR\n");
		return -1;
	}
	o.blob_dir = argv[optind];
	o.cache_dir = argv[optind + 1];
	return 0;
bad_number:
	fprintf(stderr, "nydusfs_testd: bad number '%s' for -%c\n", optarg, c);
	return -1;
}

/* wrong-owner: a second open of the device, past its INIT, never read */
static int open_other(void)
{
	struct {
		struct nydusfs_dev_hdr hdr;
		struct nydusfs_dev_init_reply body;
	} rep = {};
	uint8_t buf[MSG_MAX];

	other_fd = open(o.device, O_RDWR | O_CLOEXEC);
	if (other_fd < 0 || read(other_fd, buf, sizeof(buf)) <= 0)
		return -errno;
	rep.hdr.len = sizeof(rep);
	rep.hdr.opcode = NYDUSFS_OP_INIT;
	rep.body.version = NYDUSFS_DEV_VERSION;
	return write(other_fd, &rep, sizeof(rep)) == sizeof(rep) ? 0 : -errno;
}

static void setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	pid_t parent = getppid();
	int ret;

	if (parse_args(argc, argv)) {
		usage(stderr);
		return 2;
	}
	if (o.pdeathsig && (prctl(PR_SET_PDEATHSIG, SIGKILL) ||
			    getppid() != parent))
		return 1;
	setup_signals();
	dev_fd = open(o.device, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (dev_fd < 0) {
		fprintf(stderr, "nydusfs_testd: %s: %s\n", o.device, strerror(errno));
		return 1;
	}
	if (o.mode == MODE_WRONG_OWNER && open_other()) {
		fprintf(stderr, "nydusfs_testd: a second %s: %s\n", o.device,
			strerror(errno));
		return 1;
	}
	info("serving %s from %s into %s, mode %s", o.device, o.blob_dir,
	     o.cache_dir, mode_names[o.mode]);
	write_stats();
	ret = serve();
	if (ret)
		err("stopped: %s", strerror(-ret));
	write_stats();
	print_stats();
	return ret ? 1 : 0;
}
