// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: the /dev/nydusfs protocol (uapi/nydusfs_dev.h,
 * Documentation/filesystems/nydusfs-kernel.rst).
 *
 * The device fd is non-blocking: an io_uring poll says when requests are
 * queued, then read() takes them one by one until EAGAIN, and each is
 * started at once; the fetch scheduler runs after the whole batch, so the
 * READs of one readahead window are merged into ranged requests.  Replies
 * are written as their chunks complete, in any order.
 *
 * A READ names its blob and describes its chunks in full, so a request
 * for an object this daemon never saw an OPEN for (the kernel re-queues
 * what a dead daemon held) is served like any other.
 *
 * For tests without the kernel, "unix:PATH" connects to a SOCK_SEQPACKET
 * socket that speaks the same messages (tests/daemon/fakedev.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "nydusfsd.h"

#define DEV_BATCH	256

struct dwait {
	struct fwait fw;
	struct dreq *r;
};

struct dreq {
	struct nydusfs_dev_hdr hdr;
	struct cblob *blob;
	struct cwait cw;
	int pending;
	int err;
	bool refetch;
	uint32_t chunk_index, chunk_count;
	struct nydusfs_dev_chunk *chunks;
	struct dwait w[];
};

static struct {
	int fd;
	struct ev poll_ev;
	bool ready;
	uint32_t features;		/* NYDUSFS_DEV_F_* in use */
	struct cblob **objs;		/* by object_id, with a reference */
	uint32_t nobjs;
	uint8_t buf[NYDUSFS_DEV_MSG_MAX] __attribute__((aligned(8)));
} dev = { .fd = -1 };

struct dev_stats dstats;

static int dev_send(const void *msg, size_t len)
{
	const struct nydusfs_dev_hdr *hdr = msg;
	ssize_t n;

	n = write(dev.fd, msg, len);
	if (n == (ssize_t)len) {
		dstats.replies++;
		return 0;
	}
	dstats.reply_errors++;
	if (n < 0 && errno == ENOENT)
		/* the request timed out in the kernel meanwhile */
		warn("reply to request %u: it is gone (timed out?)", hdr->id);
	else
		err("reply to request %u (opcode %u): %s", hdr->id, hdr->opcode,
		    n < 0 ? strerror(errno) : "short write");
	return n < 0 ? -errno : -EIO;
}

/* ---- objects: the kernel's blob ids ---- */

static struct cblob *obj_get(uint32_t id)
{
	return id < dev.nobjs ? dev.objs[id] : NULL;
}

static void obj_set(uint32_t id, struct cblob *b)
{
	struct cblob **p;
	uint32_t n;

	if (id >= dev.nobjs) {
		n = dev.nobjs ? dev.nobjs : 64;
		while (n <= id)
			n *= 2;
		p = realloc(dev.objs, n * sizeof(*p));
		if (!p) {
			err("out of memory");
			abort();
		}
		memset(p + dev.nobjs, 0, (n - dev.nobjs) * sizeof(*p));
		dev.objs = p;
		dev.nobjs = n;
	}
	if (dev.objs[id]) {
		dev.objs[id]->kernel_objects--;
		cache_blob_put(dev.objs[id]);
	}
	dev.objs[id] = b;
	if (b)
		b->kernel_objects++;
}

/* The blob of a request: the object's, else by digest (a new object). */
static struct cblob *req_blob(const struct nydusfs_dev_hdr *hdr,
			      const struct nydusfs_dev_blob *db, int *errp)
{
	struct cblob *b = obj_get(hdr->object_id);

	/* a blob whose open failed is tried afresh (the disk may have room) */
	if (b && b->state != CB_FAILED &&
	    !memcmp(b->digest, db->digest, NYDUSFS_DIGEST_SIZE)) {
		b->refs++;
		return b;
	}
	b = cache_blob_get(db, errp);
	if (!b)
		return NULL;
	b->refs++;
	obj_set(hdr->object_id, b);
	return b;
}

/* ---- INIT ---- */

static int handle_init(const struct nydusfs_dev_hdr *hdr, size_t len)
{
	const struct nydusfs_dev_init *in = (const void *)(hdr + 1);
	struct {
		struct nydusfs_dev_hdr hdr;
		struct nydusfs_dev_init_reply body;
	} rep = {};

	dstats.init++;
	if (len != sizeof(*hdr) + sizeof(*in)) {
		err("malformed INIT (%zu bytes)", len);
		return -EPROTO;
	}
	if (in->version != NYDUSFS_DEV_VERSION) {
		err("the kernel speaks protocol version %u, this daemon %u",
		    in->version, NYDUSFS_DEV_VERSION);
		return -EPROTONOSUPPORT;
	}
	rep.hdr = *hdr;
	rep.hdr.len = sizeof(rep);
	rep.body.version = NYDUSFS_DEV_VERSION;
	dev.features = in->features & NYDUSFS_DEV_F_PRESENT_AFTER;
	rep.body.features = dev.features;
	if (dev_send(&rep, sizeof(rep)))
		return -EPROTO;
	dev.ready = true;
	info("device: protocol version %u, kernel features 0x%x", in->version,
	     in->features);
	return 0;
}

/* ---- OPEN ---- */

static void open_reply(const struct nydusfs_dev_hdr *req, struct cblob *b,
		       int error)
{
	struct {
		struct nydusfs_dev_hdr hdr;
		struct nydusfs_dev_open_reply body;
	} *rep;
	uint32_t bytes = error ? 0 : (b->nchunks + 7) / 8;
	size_t len = sizeof(*rep) + bytes;

	rep = xzalloc(len);
	rep->hdr = *req;
	rep->hdr.len = len;
	rep->hdr.error = error;
	rep->body.fd = error ? -1 : b->data_fd;
	rep->body.bitmap_bytes = bytes;
	if (bytes)
		memcpy(rep + 1, b->present, bytes);
	dev_send(rep, len);
	free(rep);
}

static void open_ready(struct cwait *cw, int error)
{
	struct dreq *r = container_of(cw, struct dreq, cw);

	if (error) {
		err("OPEN blob %s: %s", r->blob->hex, strerror(-error));
		/* the id may name a newer object by now */
		if (obj_get(r->hdr.object_id) == r->blob)
			obj_set(r->hdr.object_id, NULL);
	}
	open_reply(&r->hdr, r->blob, error ? -EIO : 0);
	cache_blob_put(r->blob);
	free(r);
}

static void handle_open(const struct nydusfs_dev_hdr *hdr, size_t len)
{
	const struct nydusfs_dev_blob *db = (const void *)(hdr + 1);
	struct cblob *b;
	struct dreq *r;
	int error = 0;

	dstats.open++;
	if (len != sizeof(*hdr) + sizeof(*db)) {
		dstats.bad_requests++;
		err("malformed OPEN (%zu bytes)", len);
		open_reply(hdr, NULL, -EPROTO);
		return;
	}
	b = req_blob(hdr, db, &error);
	if (!b) {
		open_reply(hdr, NULL, error);
		return;
	}
	dbg("OPEN %u: blob %s", hdr->object_id, b->hex);
	r = xzalloc(sizeof(*r));
	r->hdr = *hdr;
	r->blob = b;
	r->cw.fn = open_ready;
	cache_blob_wait(b, &r->cw);
}

/* ---- READ ---- */

int dev_check_chunk(const struct nydusfs_dev_blob *db, uint32_t index,
		    const struct nydusfs_dev_chunk *c)
{
	if (index >= db->chunk_count || !c->uncompressed_size ||
	    c->uncompressed_size > NFD_MAX_CHUNK ||
	    c->compressed_size > 2 * NFD_MAX_CHUNK || !c->compressed_size ||
	    c->compressor > NYDUSFS_COMPR_MAX ||
	    c->compressed_offset > db->compressed_size ||
	    c->compressed_size > db->compressed_size - c->compressed_offset ||
	    c->uncompressed_offset % NYDUSFS_BLKSZ ||
	    c->uncompressed_offset > db->uncompressed_size ||
	    c->uncompressed_size > db->uncompressed_size - c->uncompressed_offset)
		return -EINVAL;
	return 0;
}

/*
 * How many chunks right after @r's range prefetch brought into the cache,
 * in a row: with PRESENT_AFTER the reply names them, and the kernel reads
 * them (a startup profile, laid out in the order the workload reads it)
 * with no upcall of their own.  Not the chunks readahead fetched: its
 * READs are what tell readahead (fetch.c) where the reader is, and so
 * when to queue the next batch.
 */
#define PRESENT_AFTER_MAX	65536

static uint32_t present_after(const struct dreq *r)
{
	const struct cblob *b = r->blob;
	uint32_t i = r->chunk_index + r->chunk_count, n = 0;

	if (r->err || !b || !b->present || !b->prefetched)
		return 0;
	while (i < b->nchunks && n < PRESENT_AFTER_MAX &&
	       chunk_bit(b->prefetched, i) && chunk_bit(b->present, i)) {
		i++;
		n++;
	}
	return n;
}

static void read_reply(struct dreq *r)
{
	struct {
		struct nydusfs_dev_hdr hdr;
		struct nydusfs_dev_read_reply_after body;
	} rep = {};
	size_t len = sizeof(rep);

	rep.hdr = r->hdr;
	rep.hdr.error = r->err;
	rep.body.head.chunk_index = r->chunk_index;
	rep.body.head.chunk_count = r->chunk_count;
	if (dev.features & NYDUSFS_DEV_F_PRESENT_AFTER) {
		rep.body.present_after = present_after(r);
		dstats.present_after += rep.body.present_after;
	} else {
		len -= sizeof(rep.body) - sizeof(rep.body.head);
	}
	rep.hdr.len = len;
	dev_send(&rep, len);
	if (r->blob)
		cache_blob_put(r->blob);
	free(r->chunks);
	free(r);
}

static void read_chunk_done(struct fwait *w, int error)
{
	struct dreq *r = container_of(w, struct dwait, fw)->r;

	if (error && !r->err)
		r->err = -EIO;
	if (!--r->pending)
		read_reply(r);
}

/*
 * A READ must describe the chunks as the pinned table of the blob does
 * (mounts.c): another table is an image lying about the blob, and what
 * it fetched would poison the cache for every other image.  Without a
 * known table (a kernel mount nobody registered) the READ is trusted:
 * root made that mount.  The index of the first differing chunk, or -1.
 */
static int64_t read_mismatch(const struct dreq *r, const struct cblob *b)
{
	struct nydusfs_dev_chunk d;
	const struct nydusfs_dev_chunk *c;
	uint32_t i;

	for (i = 0; b->table && i < r->chunk_count; i++) {
		chunk_desc_from_disk(&b->table[r->chunk_index + i], &d);
		c = &r->chunks[i];
		if (c->compressed_offset != d.compressed_offset ||
		    c->uncompressed_offset != d.uncompressed_offset ||
		    c->compressed_size != d.compressed_size ||
		    c->uncompressed_size != d.uncompressed_size ||
		    c->compressor != d.compressor ||
		    memcmp(c->digest, d.digest, NYDUSFS_DIGEST_SIZE))
			return r->chunk_index + i;
	}
	return -1;
}

static void read_start(struct cwait *cw, int error)
{
	struct dreq *r = container_of(cw, struct dreq, cw);
	struct cblob *b = r->blob;
	uint32_t i, index;
	int64_t bad;
	int ret;

	if (error) {
		r->err = -EIO;
		read_reply(r);
		return;
	}
	if (!b->table && b->registering) {
		/* its table is on the way: a registration still compares it */
		cache_blob_wait_table(b, &r->cw);
		return;
	}
	bad = read_mismatch(r, b);
	if (bad >= 0) {
		dstats.bad_requests++;
		err("READ %u: blob %s chunk %lld: the descriptor differs from the blob's registered chunk table: refused, nothing fetched (an image lies about this blob?)",
		    r->hdr.id, b->hex, (long long)bad);
		r->err = -EBADMSG;
		read_reply(r);
		return;
	}
	r->pending = 1;		/* until every chunk is started */
	for (i = 0; i < r->chunk_count && !r->err; i++) {
		index = r->chunk_index + i;
		r->w[i].fw.fn = read_chunk_done;
		r->w[i].r = r;
		ret = fetch_chunk(b, index, &r->chunks[i], PRIO_DEMAND,
				  r->refetch, &r->w[i].fw);
		if (ret == 1) {
			fstats.cache_hits++;
		} else if (ret == 0) {
			fstats.cache_misses++;
			r->pending++;
		} else {
			r->err = -EIO;
		}
		fetch_readahead(b, index);
	}
	if (!--r->pending)
		read_reply(r);
}

static void handle_read(const struct nydusfs_dev_hdr *hdr, size_t len)
{
	const struct nydusfs_dev_read *rd = (const void *)(hdr + 1);
	struct dreq *r;
	uint32_t i;
	int error = 0;

	dstats.read++;
	if (len < sizeof(*hdr) + sizeof(*rd) ||
	    len != sizeof(*hdr) + sizeof(*rd) +
		   (size_t)rd->chunk_count * sizeof(rd->chunks[0])) {
		dstats.bad_requests++;
		err("malformed READ (%zu bytes)", len);
		error = -EPROTO;
	}
	r = xzalloc(sizeof(*r) + (error ? 0 : rd->chunk_count) *
		    sizeof(r->w[0]));
	r->hdr = *hdr;
	if (error)
		goto fail;
	r->chunk_index = rd->chunk_index;
	r->chunk_count = rd->chunk_count;
	r->refetch = rd->flags & NYDUSFS_READ_REFETCH;
	for (i = 0; i < rd->chunk_count && !error; i++)
		error = dev_check_chunk(&rd->blob, rd->chunk_index + i,
					&rd->chunks[i]);
	if (error || !rd->chunk_count) {
		dstats.bad_requests++;
		err("READ %u: bad chunk descriptor (chunk %u)", hdr->id,
		    rd->chunk_index + i - 1);
		error = -EINVAL;
		goto fail;
	}
	dstats.chunks += rd->chunk_count;
	trace_read(&rd->blob, rd->chunk_index, rd->chunk_count);
	r->chunks = xzalloc(rd->chunk_count * sizeof(r->chunks[0]));
	memcpy(r->chunks, rd->chunks, rd->chunk_count * sizeof(r->chunks[0]));
	r->blob = req_blob(hdr, &rd->blob, &error);
	if (!r->blob)
		goto fail;
	if (r->refetch)
		info("READ %u: blob %s chunk %u: the kernel asks to fetch it again",
		     hdr->id, r->blob->hex, rd->chunk_index);
	dbg("READ %u: blob %.12s chunk %u+%u", hdr->id, r->blob->hex,
	    rd->chunk_index, rd->chunk_count);
	r->cw.fn = read_start;
	cache_blob_wait(r->blob, &r->cw);
	return;
fail:
	r->err = error;
	read_reply(r);
}

/* ---- CLOSE ---- */

static void handle_close(const struct nydusfs_dev_hdr *hdr)
{
	struct cblob *b = obj_get(hdr->object_id);

	dstats.close++;
	if (b)
		dbg("CLOSE %u: blob %s", hdr->object_id, b->hex);
	obj_set(hdr->object_id, NULL);
}

static int dev_handle(size_t len)
{
	const struct nydusfs_dev_hdr *hdr = (const void *)dev.buf;

	if (len < sizeof(*hdr) || hdr->len != len) {
		err("malformed request (%zu bytes)", len);
		return -EPROTO;
	}
	if (!dev.ready && hdr->opcode != NYDUSFS_OP_INIT) {
		err("request %u (opcode %u) before INIT", hdr->id, hdr->opcode);
		return -EPROTO;
	}
	switch (hdr->opcode) {
	case NYDUSFS_OP_INIT:
		return handle_init(hdr, len);
	case NYDUSFS_OP_OPEN:
		handle_open(hdr, len);
		return 0;
	case NYDUSFS_OP_READ:
		handle_read(hdr, len);
		return 0;
	case NYDUSFS_OP_CLOSE:
		handle_close(hdr);
		return 0;
	}
	err("request %u: unknown opcode %u", hdr->id, hdr->opcode);
	dstats.bad_requests++;
	return 0;
}

static void dev_poll_cb(struct ev *ev, int res)
{
	ssize_t n;
	int i;

	(void)ev;
	if (res < 0 && res != -EINTR) {
		if (res != -ECANCELED)
			err("device poll: %s", strerror(-res));
		return;
	}
	for (i = 0; i < DEV_BATCH; i++) {
		n = read(dev.fd, dev.buf, sizeof(dev.buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			err("device read: %s", n ? strerror(errno) : "closed");
			loop_stop();
			return;
		}
		if (dev_handle(n)) {
			loop_stop();
			return;
		}
	}
	loop_poll(&dev.poll_ev, dev.fd, POLLIN);
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, bufsz = 1 << 20;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		close(fd);
		return -errno;
	}
	return fd;
}

int dev_open(const char *path)
{
	int fd;

	if (!strncmp(path, "unix:", 5))
		fd = connect_unix(path + 5);
	else
		fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		fd = fd == -1 ? -errno : fd;
		err("%s: %s%s", path, strerror(-fd), fd == -ENOENT ?
		    " (is nydusfs.ko loaded?)" : "");
		return fd;
	}
	dev.fd = fd;
	dev.poll_ev.cb = dev_poll_cb;
	loop_poll(&dev.poll_ev, dev.fd, POLLIN);
	return 0;
}

/* What was taken and not answered goes back to the kernel's queue. */
void dev_close(void)
{
	uint32_t i;

	if (dev.fd >= 0)
		close(dev.fd);
	dev.fd = -1;
	for (i = 0; i < dev.nobjs; i++)
		if (dev.objs[i])
			obj_set(i, NULL);
	free(dev.objs);
	dev.objs = NULL;
	dev.nobjs = 0;
}
