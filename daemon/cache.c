// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: the cache directory.
 *
 * Per blob, named by its digest: "<hex>", a sparse file in the blob's
 * uncompressed layout (the file the kernel reads), and "<hex>.chunkmap",
 * a versioned header and one bit per chunk (Documentation/nydusfsd.rst,
 * "Cache").  A bit is set on disk only for a chunk whose data is durable:
 *
 *	write data  ->  fdatasync(data)  ->  write the map bit
 *
 * so kill -9 or a power cut can lose bits (the chunk is fetched again)
 * but never leave a bit set over data that is not there.  A chunk is
 * readable (and the kernel is told so) once its write completed; the
 * fdatasync batches every chunk written since the last one.  Clearing a
 * bit (REFETCH) goes the other way: the map write is made durable before
 * the chunk's data is written again.
 *
 * A chunk map that is missing, torn, of another version or of another
 * blob is rebuilt empty, and so is one whose data file had to be created:
 * an unknown version is never read.
 *
 * The header pins the blob to the chunk table its chunks were verified
 * against (its table digest, nydusfs_image_table_digest()): a registered
 * image with another table for the same blob digest either resets the
 * cache (nobody else uses it) or is refused (mounts.c).  A reset clears
 * the bits durably, drops the data, then writes the new pin.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nydusfs/format.h"
#include "nydusfsd.h"

#define MAP_SYNC_INTERVAL_MS	5000

/* The chunk map header; the bitmap starts at CHUNKMAP_HDR_SIZE. */
struct chunkmap_hdr {
	char magic[8];			/* CHUNKMAP_MAGIC */
	__le32 version;			/* CHUNKMAP_VERSION */
	__le32 hdr_size;		/* CHUNKMAP_HDR_SIZE */
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	__le64 compressed_size;
	__le64 uncompressed_size;
	__le32 chunk_count;
	/* sha256 of the chunk table the chunks were verified against;
	 * all zero: not pinned yet (version 2) */
	uint8_t table_digest[NYDUSFS_DIGEST_SIZE];
	__le32 reserved[6];
	__le32 crc;			/* crc32c of this struct, crc zero */
};

_Static_assert(sizeof(struct chunkmap_hdr) == 128, "chunk map header");

/* A blob being evicted: opens of the same digest wait for it. */
struct evict {
	struct list_head node;
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	char name[NFD_HEX_LEN + 16];
	int step;
	struct ev ev;
	struct list_head blobs;		/* cblobs whose open waits */
	struct gc_run *run;
};

static struct {
	char *dir;
	int dirfd;
	int lockfd;
	struct list_head blobs;
	unsigned int count;
	struct list_head evicting;
	struct timer sync_timer;
} cache = { .dirfd = -1, .lockfd = -1 };

static uint32_t map_bytes(const struct cblob *b)
{
	return (b->nchunks + 7) / 8;
}

/* ---- chunk map file ---- */

static void chunkmap_fill(struct chunkmap_hdr *h, const struct cblob *b)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, CHUNKMAP_MAGIC, sizeof(h->magic));
	h->version = cpu_to_le32(CHUNKMAP_VERSION);
	h->hdr_size = cpu_to_le32(CHUNKMAP_HDR_SIZE);
	memcpy(h->digest, b->digest, NYDUSFS_DIGEST_SIZE);
	h->compressed_size = cpu_to_le64(b->csize);
	h->uncompressed_size = cpu_to_le64(b->usize);
	h->chunk_count = cpu_to_le32(b->nchunks);
	memcpy(h->table_digest, b->pin, NYDUSFS_DIGEST_SIZE);
	h->crc = cpu_to_le32(~nydusfs_crc32c(~0U, h, sizeof(*h)));
}

/*
 * Read the map of @b into @bitmap and its pin into @pin.  -ENODATA (empty
 * or short), -EBADMSG (not a map, torn), -EPROTO (another version),
 * -ESTALE (another blob): the caller rebuilds it.
 */
int chunkmap_load(int fd, const struct cblob *b, uint8_t *bitmap,
		  uint8_t pin[NYDUSFS_DIGEST_SIZE])
{
	struct chunkmap_hdr h, want;
	uint32_t bytes = map_bytes(b), crc;
	ssize_t n;

	n = pread(fd, &h, sizeof(h), 0);
	if (n < 0)
		return -errno;
	if (n < (ssize_t)sizeof(h))
		return -ENODATA;
	if (memcmp(h.magic, CHUNKMAP_MAGIC, sizeof(h.magic)))
		return -EBADMSG;
	if (le32_to_cpu(h.version) != CHUNKMAP_VERSION)
		return -EPROTO;
	crc = le32_to_cpu(h.crc);
	h.crc = 0;
	if (crc != ~nydusfs_crc32c(~0U, &h, sizeof(h)))
		return -EBADMSG;
	chunkmap_fill(&want, b);
	want.crc = 0;
	memcpy(want.table_digest, h.table_digest, NYDUSFS_DIGEST_SIZE);
	if (memcmp(&h, &want, sizeof(h)))
		return -ESTALE;
	memcpy(pin, h.table_digest, NYDUSFS_DIGEST_SIZE);
	memset(bitmap, 0, bytes);
	n = pread(fd, bitmap, bytes, CHUNKMAP_HDR_SIZE);
	if (n < 0)
		return -errno;
	/* bytes past the end read as zero: those chunks are absent */
	if (b->nchunks % 8)
		bitmap[bytes - 1] &= (1U << (b->nchunks % 8)) - 1;
	return 0;
}

/* The header of @b (its pin), durably; the bits stay. */
int chunkmap_write_hdr(int fd, const struct cblob *b)
{
	struct chunkmap_hdr h;

	chunkmap_fill(&h, b);
	errno = 0;
	if (pwrite(fd, &h, sizeof(h), 0) != sizeof(h))
		return errno ? -errno : -EIO;
	if (fdatasync(fd))
		return -errno;
	return 0;
}

/* An empty map: old bits are gone (durably) before the header exists. */
int chunkmap_create(int fd, const struct cblob *b)
{
	if (ftruncate(fd, 0) || fdatasync(fd))
		return -errno;
	if (ftruncate(fd, CHUNKMAP_HDR_SIZE + map_bytes(b)))
		return -errno;
	return chunkmap_write_hdr(fd, b);
}

static const char *map_problem(int ret)
{
	switch (ret) {
	case -ENODATA: return "empty or short";
	case -EBADMSG: return "not a chunk map or torn";
	case -EPROTO: return "unknown version";
	case -ESTALE: return "made for another blob geometry";
	}
	return strerror(-ret);
}

/* ---- opening a blob: in a worker ---- */

static int open_data_file(struct cblob *b, bool *fresh)
{
	struct stat st;
	int fd;

	*fresh = false;
	fd = openat(cache.dirfd, b->hex, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
	if (fd >= 0)
		*fresh = true;
	else if (errno == EEXIST)
		fd = openat(cache.dirfd, b->hex, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	b->data_fd = fd;
	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	/* never shrunk: the kernel may hold this very file */
	if ((uint64_t)st.st_size < b->usize) {
		*fresh = true;
		if (ftruncate(fd, b->usize))
			return -errno;
	}
	return 0;
}

static int open_blob_files(struct cblob *b)
{
	char name[NFD_HEX_LEN + 16];
	bool fresh;
	int ret;

	ret = open_data_file(b, &fresh);
	if (ret)
		return ret;
	snprintf(name, sizeof(name), "%s.chunkmap", b->hex);
	b->map_fd = openat(cache.dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (b->map_fd < 0)
		return -errno;
	ret = fresh ? -ENODATA : chunkmap_load(b->map_fd, b, b->durable, b->pin);
	if (ret && !fresh)
		warn("cache %s: chunk map %s: rebuilding it empty", b->hex,
		     map_problem(ret));
	if (ret) {
		memset(b->durable, 0, map_bytes(b));
		memset(b->pin, 0, NYDUSFS_DIGEST_SIZE);
		b->rebuilt = true;
		ret = chunkmap_create(b->map_fd, b);
		if (ret)
			return ret;
	}
	memcpy(b->present, b->durable, map_bytes(b));
	/* the map's mtime is the blob's last use, for LRU eviction */
	futimens(b->map_fd, NULL);
	return 0;
}

static void blob_open_fn(struct work *w)
{
	struct cblob *b = container_of(w, struct cblob, open_work);

	b->error = open_blob_files(b);
}

/* Those waiting now: a waiter may wait again (a pin), for the next round. */
static void wake_list(struct list_head *waiters, int error)
{
	LIST_HEAD(now);
	struct cwait *cw;

	list_splice_tail_init(waiters, &now);
	while (!list_empty(&now)) {
		cw = list_first_entry(&now, struct cwait, node);
		list_del_init(&cw->node);
		cw->fn(cw, error);
	}
}

static void blob_open_done(struct work *w)
{
	struct cblob *b = container_of(w, struct cblob, open_work);
	uint32_t i, n = 0;

	if (b->error) {
		err("cache %s: %s", b->hex, strerror(-b->error));
		b->state = CB_FAILED;
		/* out of the table: the next user tries again */
		list_del_init(&b->node);
		cache.count--;
	} else {
		b->state = CB_READY;
		for (i = 0; i < b->nchunks; i++)
			n += chunk_bit(b->present, i);
		info("cache %s: open, %u of %u chunks present%s", b->hex, n,
		     b->nchunks, b->rebuilt ? " (new chunk map)" : "");
	}
	wake_list(&b->waiters, b->error);
	fetch_kick();		/* prefetch may wait for this blob */
	cache_blob_put(b);	/* the open's reference */
}

static struct evict *evicting(const uint8_t *digest)
{
	struct evict *e;

	list_for_each_entry(e, &cache.evicting, node)
		if (!memcmp(e->digest, digest, NYDUSFS_DIGEST_SIZE))
			return e;
	return NULL;
}

bool cache_blob_on_disk(const uint8_t *digest)
{
	char hex[NFD_HEX_LEN];
	struct stat st;

	hex_digest(digest, hex);
	return cache.dirfd >= 0 && !fstatat(cache.dirfd, hex, &st, 0) &&
	       st.st_blocks > 0;
}

struct cblob *cache_blob_find(const uint8_t *digest)
{
	struct cblob *b;

	list_for_each_entry(b, &cache.blobs, node)
		if (!memcmp(b->digest, digest, NYDUSFS_DIGEST_SIZE))
			return b;
	return NULL;
}

static bool same_geometry(const struct cblob *b,
			  const struct nydusfs_dev_blob *db)
{
	return b->csize == db->compressed_size &&
	       b->usize == db->uncompressed_size &&
	       b->nchunks == db->chunk_count;
}

struct cblob *cache_blob_get(const struct nydusfs_dev_blob *db, int *errp)
{
	struct cblob *b = cache_blob_find(db->digest);
	struct evict *e;

	if (b) {
		if (!same_geometry(b, db)) {
			err("cache %s: blob named with two geometries (%llu/%llu/%u and %llu/%llu/%u)",
			    b->hex, (unsigned long long)b->csize,
			    (unsigned long long)b->usize, b->nchunks,
			    (unsigned long long)db->compressed_size,
			    (unsigned long long)db->uncompressed_size,
			    db->chunk_count);
			*errp = -EINVAL;
			return NULL;
		}
		b->refs++;
		return b;
	}
	if (!db->chunk_count || db->chunk_count > (1U << 30) ||
	    db->uncompressed_size % NYDUSFS_BLKSZ) {
		*errp = -EINVAL;
		return NULL;
	}
	b = xzalloc(sizeof(*b));
	memcpy(b->digest, db->digest, NYDUSFS_DIGEST_SIZE);
	hex_digest(b->digest, b->hex);
	b->csize = db->compressed_size;
	b->usize = db->uncompressed_size;
	b->nchunks = db->chunk_count;
	b->refs = 2;		/* the caller's and the open's */
	b->state = CB_OPENING;
	b->data_fd = b->map_fd = -1;
	b->present = xzalloc(map_bytes(b));
	b->durable = xzalloc(map_bytes(b));
	b->map_wbuf = xzalloc(map_bytes(b));
	b->dirty_lo = UINT32_MAX;
	b->last_used = now_ms();
	INIT_LIST_HEAD(&b->waiters);
	INIT_LIST_HEAD(&b->pinwait);
	INIT_LIST_HEAD(&b->barrier);
	b->open_work.fn = blob_open_fn;
	b->open_work.done = blob_open_done;
	list_add_tail(&b->node, &cache.blobs);
	cache.count++;
	e = evicting(b->digest);
	if (e)
		list_add_tail(&b->open_work.node, &e->blobs);
	else
		work_queue(&b->open_work);
	return b;
}

void cache_blob_wait_table(struct cblob *b, struct cwait *w)
{
	list_add_tail(&w->node, &b->pinwait);
}

void cache_blob_registered(struct cblob *b)
{
	if (!--b->registering)
		wake_list(&b->pinwait, 0);
}

void cache_blob_wait(struct cblob *b, struct cwait *w)
{
	if (b->state == CB_OPENING) {
		list_add_tail(&w->node, &b->waiters);
		return;
	}
	w->fn(w, b->state == CB_READY ? 0 : (b->error ? b->error : -EIO));
}

/* ---- pinning: in a worker, while the blob waits as if opening ---- */

static int drop_data(struct cblob *b)
{
	if (fallocate(b->data_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      0, b->usize) &&
	    (ftruncate(b->data_fd, 0) || ftruncate(b->data_fd, b->usize)))
		return -errno;
	return fdatasync(b->data_fd) ? -errno : 0;
}

/*
 * Bits (durably), then data, then the new pin.  A write lease on our own
 * fd is refused while anyone else has the file open: the kernel may, for
 * a mount made before this daemon started.
 */
static int reset_blob_files(struct cblob *b)
{
	bool leased = !fcntl(b->data_fd, F_SETLEASE, F_WRLCK);
	int ret = 0;

	if (!leased && errno == EAGAIN)
		return -EBUSY;		/* nothing touched */
	b->pin_cleared = true;
	if (ftruncate(b->map_fd, 0) || fdatasync(b->map_fd))
		ret = -errno;
	if (!ret)
		ret = drop_data(b);
	if (!ret)
		ret = chunkmap_create(b->map_fd, b);
	if (leased)
		fcntl(b->data_fd, F_SETLEASE, F_UNLCK);
	return ret;
}

static void blob_pin_fn(struct work *w)
{
	struct cblob *b = container_of(w, struct cblob, open_work);
	uint8_t old[NYDUSFS_DIGEST_SIZE];

	memcpy(old, b->pin, sizeof(old));
	memcpy(b->pin, b->pin_want, sizeof(old));
	b->pin_cleared = false;
	b->error = b->pin_reset ? reset_blob_files(b) :
		   chunkmap_write_hdr(b->map_fd, b);
	if (b->error && b->pin_cleared)
		memset(b->pin, 0, sizeof(old));	/* the map is rebuilt */
	else if (b->error)
		memcpy(b->pin, old, sizeof(old));
}

/* The bits in memory follow the map: gone once it was cleared. */
static void forget_chunks(struct cblob *b)
{
	memset(b->present, 0, map_bytes(b));
	memset(b->durable, 0, map_bytes(b));
	b->dirty_lo = UINT32_MAX;
	b->dirty_hi = 0;
	free(b->prefetched);
	b->prefetched = NULL;
	b->ra_next = b->ra_window = b->ra_frontier = b->ra_run = 0;
	b->rebuilt = true;
}

static void blob_pin_done(struct work *w)
{
	struct cblob *b = container_of(w, struct cblob, open_work);
	int error = b->error;
	char hex[NFD_HEX_LEN];

	hex_digest(b->pin_want, hex);
	if (error)
		err("cache %s: pinning it to chunk table %.16s: %s", b->hex,
		    hex, error == -EBUSY ?
		    "its cache file is open elsewhere (a kernel mount made before this daemon started?)" :
		    strerror(-error));
	else
		info("cache %s: pinned to chunk table %.16s%s", b->hex, hex,
		     b->pin_reset ? " (its chunks dropped)" : "");
	if (b->pin_cleared)
		forget_chunks(b);
	b->error = 0;
	b->pin_err = error;
	b->state = CB_READY;
	wake_list(&b->waiters, 0);	/* the blob stays usable: a READ goes on */
	fetch_kick();
	cache_blob_put(b);
}

void cache_blob_pin(struct cblob *b, const uint8_t *td, bool reset,
		    struct cwait *w)
{
	memcpy(b->pin_want, td, NYDUSFS_DIGEST_SIZE);
	b->pin_reset = reset;
	b->state = CB_OPENING;	/* nothing reads or writes the maps meanwhile */
	b->refs++;
	list_add_tail(&w->node, &b->waiters);
	b->open_work.fn = blob_pin_fn;
	b->open_work.done = blob_pin_done;
	work_queue(&b->open_work);
}

static void blob_close_fn(struct work *w)
{
	struct cblob *b = container_of(w, struct cblob, open_work);

	if (b->map_fd >= 0) {
		futimens(b->map_fd, NULL);
		close(b->map_fd);
	}
	if (b->data_fd >= 0)
		close(b->data_fd);
}

static void blob_free(struct work *w)
{
	struct cblob *b = container_of(w, struct cblob, open_work);

	free(b->present);
	free(b->prefetched);
	free(b->durable);
	free(b->map_wbuf);
	free(b->unsynced);
	free(b->syncing);
	free(b->table);
	free(b->srcs);
	free(b);
}

void cache_blob_put(struct cblob *b)
{
	unsigned int i;

	if (--b->refs)
		return;
	if (b->state != CB_FAILED) {
		list_del_init(&b->node);
		cache.count--;
	}
	for (i = 0; i < b->nsrcs; i++)
		source_put(b->srcs[i]);
	b->nsrcs = 0;
	dbg("cache %s: closed", b->hex);
	b->open_work.fn = blob_close_fn;
	b->open_work.done = blob_free;
	work_queue(&b->open_work);
}

unsigned int cache_blob_count(void)
{
	return cache.count;
}

void cache_foreach(void (*fn)(struct cblob *b, void *arg), void *arg)
{
	struct cblob *b, *n;

	list_for_each_entry_safe(b, n, &cache.blobs, node)
		fn(b, arg);
}

/* ---- the chunk map: one write at a time, then fdatasync barriers ---- */

static void map_dirty(struct cblob *b, uint32_t index)
{
	uint32_t byte = index / 8;

	if (byte < b->dirty_lo)
		b->dirty_lo = byte;
	if (byte + 1 > b->dirty_hi)
		b->dirty_hi = byte + 1;
}

static void mapsync_cb(struct ev *ev, int res);

static void map_barrier_check(struct cblob *b)
{
	if (list_empty(&b->barrier) || b->map_busy || b->mapsync_busy ||
	    b->dirty_lo < b->dirty_hi)
		return;
	b->mapsync_busy = true;
	b->map_unsynced = false;
	b->refs++;
	b->mapsync_ev.cb = mapsync_cb;
	loop_fsync(&b->mapsync_ev, b->map_fd, true);
}

static void map_flush(struct cblob *b);

static void map_write_cb(struct ev *ev, int res)
{
	struct cblob *b = container_of(ev, struct cblob, map_ev);

	b->map_busy = false;
	if (res != (int)b->map_wlen)
		/* the bits stay unrecorded: those chunks are fetched again */
		err("cache %s: chunk map write: %s", b->hex,
		    res < 0 ? strerror(-res) : "short write");
	else
		b->map_unsynced = true;
	map_flush(b);
	map_barrier_check(b);
	cache_blob_put(b);
}

static void map_flush(struct cblob *b)
{
	if (b->map_busy || b->dirty_lo >= b->dirty_hi)
		return;
	b->map_wlo = b->dirty_lo;
	b->map_wlen = b->dirty_hi - b->dirty_lo;
	memcpy(b->map_wbuf, b->durable + b->map_wlo, b->map_wlen);
	b->dirty_lo = UINT32_MAX;
	b->dirty_hi = 0;
	b->map_busy = true;
	b->refs++;
	b->map_ev.cb = map_write_cb;
	loop_write(&b->map_ev, b->map_fd, b->map_wbuf, b->map_wlen,
		   CHUNKMAP_HDR_SIZE + b->map_wlo);
}

/* The barrier waiters of this sync: those queued when it started. */
static void mapsync_cb(struct ev *ev, int res)
{
	struct cblob *b = container_of(ev, struct cblob, mapsync_ev);
	LIST_HEAD(done);
	struct cwait *w;

	b->mapsync_busy = false;
	if (res < 0)
		err("cache %s: chunk map fdatasync: %s", b->hex, strerror(-res));
	list_splice_tail_init(&b->barrier, &done);
	while (!list_empty(&done)) {
		w = list_first_entry(&done, struct cwait, node);
		list_del_init(&w->node);
		w->fn(w, res < 0 ? res : 0);
	}
	cache_blob_put(b);
}

static void map_periodic_sync(struct cblob *b, void *arg)
{
	(void)arg;
	if (b->state != CB_READY || !b->map_unsynced || b->mapsync_busy)
		return;
	b->mapsync_busy = true;
	b->map_unsynced = false;
	b->refs++;
	b->mapsync_ev.cb = mapsync_cb;
	loop_fsync(&b->mapsync_ev, b->map_fd, true);
}

static void sync_timer_fn(struct timer *t)
{
	cache_foreach(map_periodic_sync, NULL);
	timer_arm(t, MAP_SYNC_INTERVAL_MS);
}

/* ---- data: write, then fdatasync in batches, then the map ---- */

static void push_index(uint32_t **arr, uint32_t *n, uint32_t *cap, uint32_t v)
{
	uint32_t *p;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		p = realloc(*arr, *cap * sizeof(*p));
		if (!p) {
			err("out of memory");
			abort();
		}
		*arr = p;
	}
	(*arr)[(*n)++] = v;
}

static void mark_durable(struct cblob *b, uint32_t index)
{
	b->durable[index / 8] |= 1U << (index % 8);
	map_dirty(b, index);
}

static void data_sync_cb(struct ev *ev, int res);

static void data_sync_kick(struct cblob *b)
{
	uint32_t *tmp, tcap;

	if (b->sync_busy || !b->nunsynced)
		return;
	tmp = b->syncing;
	tcap = b->cap_syncing;
	b->syncing = b->unsynced;
	b->nsyncing = b->nunsynced;
	b->cap_syncing = b->cap_unsynced;
	b->unsynced = tmp;
	b->cap_unsynced = tcap;
	b->nunsynced = 0;
	b->sync_busy = true;
	b->refs++;
	b->sync_ev.cb = data_sync_cb;
	loop_fsync(&b->sync_ev, b->data_fd, true);
}

static void data_sync_cb(struct ev *ev, int res)
{
	struct cblob *b = container_of(ev, struct cblob, sync_ev);
	uint32_t i;

	b->sync_busy = false;
	if (res < 0)
		err("cache %s: fdatasync: %s; %u chunks stay unrecorded",
		    b->hex, strerror(-res), b->nsyncing);
	else
		for (i = 0; i < b->nsyncing; i++)
			mark_durable(b, b->syncing[i]);
	b->nsyncing = 0;
	map_flush(b);
	data_sync_kick(b);
	cache_blob_put(b);
}

static void cwrite_cb(struct ev *ev, int res)
{
	struct cwrite *w = container_of(ev, struct cwrite, ev);
	struct cblob *b = w->blob;

	if (res <= 0) {
		res = res ? res : -EIO;
		err("cache %s: chunk %u: write: %s", b->hex, w->index,
		    strerror(-res));
		w->fn(w, res);
		cache_blob_put(b);
		return;
	}
	w->done += res;
	if (w->done < w->len) {
		loop_write(&w->ev, b->data_fd, w->buf + w->done,
			   w->len - w->done, w->off + w->done);
		return;
	}
	b->present[w->index / 8] |= 1U << (w->index % 8);
	if (cfg.cache_sync) {
		push_index(&b->unsynced, &b->nunsynced, &b->cap_unsynced,
			   w->index);
		data_sync_kick(b);
	} else {
		mark_durable(b, w->index);
		map_flush(b);
	}
	w->fn(w, 0);
	cache_blob_put(b);
}

/* Write w->len bytes at w->off of w->blob's cache file; w->fn(0) after. */
void cache_write_chunk(struct cwrite *w)
{
	w->blob->refs++;
	w->done = 0;
	w->ev.cb = cwrite_cb;
	loop_write(&w->ev, w->blob->data_fd, w->buf, w->len, w->off);
}

static void drop_index(uint32_t *arr, uint32_t *n, uint32_t v)
{
	uint32_t i;

	for (i = 0; i < *n; i++) {
		if (arr[i] == v) {
			arr[i] = arr[--*n];
			i--;
		}
	}
}

void cache_clear_chunk(struct cblob *b, uint32_t index, struct cwait *w)
{
	b->present[index / 8] &= ~(1U << (index % 8));
	drop_index(b->unsynced, &b->nunsynced, index);
	drop_index(b->syncing, &b->nsyncing, index);
	if (chunk_bit(b->durable, index)) {
		b->durable[index / 8] &= ~(1U << (index % 8));
		map_dirty(b, index);
	}
	list_add_tail(&w->node, &b->barrier);
	map_flush(b);
	map_barrier_check(b);
}

/* At exit: everything written becomes durable and recorded. */
static void sync_one(struct cblob *b, void *arg)
{
	uint32_t i;

	(void)arg;
	if (b->state != CB_READY)
		return;
	if (b->nunsynced + b->nsyncing && !fdatasync(b->data_fd)) {
		for (i = 0; i < b->nunsynced; i++)
			mark_durable(b, b->unsynced[i]);
		for (i = 0; i < b->nsyncing; i++)
			mark_durable(b, b->syncing[i]);
		b->nunsynced = b->nsyncing = 0;
	}
	if (pwrite(b->map_fd, b->durable, map_bytes(b), CHUNKMAP_HDR_SIZE) !=
	    (ssize_t)map_bytes(b) || fdatasync(b->map_fd))
		err("cache %s: chunk map: %s", b->hex, strerror(errno));
}

void cache_sync_all(void)
{
	cache_foreach(sync_one, NULL);
}

/* ---- setup ---- */

int cache_init(const char *dir)
{
	int ret;

	INIT_LIST_HEAD(&cache.blobs);
	INIT_LIST_HEAD(&cache.evicting);
	nydusfs_crc32c(0, "", 0);	/* the table, before any thread */
	ret = mkdir_p(dir);
	if (ret) {
		err("cache dir %s: %s", dir, strerror(-ret));
		return ret;
	}
	cache.dir = xstrdup(dir);
	cache.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cache.dirfd < 0) {
		ret = -errno;
		err("cache dir %s: %s", dir, strerror(errno));
		return ret;
	}
	cache.lockfd = openat(cache.dirfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC,
			      0600);
	if (cache.lockfd < 0 || flock(cache.lockfd, LOCK_EX | LOCK_NB)) {
		ret = -errno;
		err("cache dir %s: %s", dir, errno == EWOULDBLOCK ?
		    "in use by another nydusfsd" : strerror(errno));
		return ret;
	}
	cache.sync_timer.fn = sync_timer_fn;
	timer_arm(&cache.sync_timer, MAP_SYNC_INTERVAL_MS);
	return 0;
}

void cache_exit(void)
{
	timer_cancel(&cache.sync_timer);
	if (cache.lockfd >= 0)
		close(cache.lockfd);
	if (cache.dirfd >= 0)
		close(cache.dirfd);
	cache.lockfd = cache.dirfd = -1;
	free(cache.dir);
	cache.dir = NULL;
}

/* ---- usage and garbage collection ---- */

struct gc_entry {
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	uint64_t bytes;
	int64_t mtime;
	bool held;		/* open elsewhere: by the kernel, say */
	bool in_use;
};

struct gc_run {
	struct work work;
	uint64_t limit;
	cache_gc_cb cb;
	void *arg;
	struct gc_entry *e;
	size_t n, cap;
	int err;
	uint64_t other_bytes;		/* files that are not blobs */
	struct cache_usage u;
	unsigned int pending;		/* evictions in progress */
};

static struct gc_entry *gc_entry(struct gc_run *g, const uint8_t *d)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (!memcmp(g->e[i].digest, d, NYDUSFS_DIGEST_SIZE))
			return &g->e[i];
	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 64;
		g->e = realloc(g->e, g->cap * sizeof(*g->e));
		if (!g->e) {
			err("out of memory");
			abort();
		}
	}
	memset(&g->e[g->n], 0, sizeof(g->e[0]));
	memcpy(g->e[g->n].digest, d, NYDUSFS_DIGEST_SIZE);
	return &g->e[g->n++];
}

/*
 * Is the data file open anywhere but here?  After a restart the kernel may
 * still hold the cache file a previous daemon handed it (open for
 * writing), and this daemon knows nothing of it until a request comes.
 * A write lease is refused while anyone else has the file open.
 */
static bool held_elsewhere(const char *name)
{
	int fd = openat(cache.dirfd, name, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return false;
	ret = fcntl(fd, F_SETLEASE, F_WRLCK);
	if (!ret)
		fcntl(fd, F_SETLEASE, F_UNLCK);
	close(fd);
	return ret && errno == EAGAIN;
}

/* In a worker: what is in the directory, with sizes and last uses. */
static void gc_scan_fn(struct work *w)
{
	struct gc_run *g = container_of(w, struct gc_run, work);
	uint8_t d[NYDUSFS_DIGEST_SIZE];
	char hex[NFD_HEX_LEN];
	struct gc_entry *e;
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd;

	fd = openat(cache.dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		g->err = -errno;
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.' ||
		    fstatat(cache.dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if (strlen(de->d_name) >= NFD_HEX_LEN - 1) {
			memcpy(hex, de->d_name, NFD_HEX_LEN - 1);
			hex[NFD_HEX_LEN - 1] = '\0';
		} else {
			hex[0] = '\0';
		}
		if (nydusfs_hex_to_digest(hex, d) ||
		    (de->d_name[NFD_HEX_LEN - 1] &&
		     strcmp(de->d_name + NFD_HEX_LEN - 1, ".chunkmap"))) {
			g->other_bytes += (uint64_t)st.st_blocks * 512;
			continue;
		}
		e = gc_entry(g, d);
		e->bytes += (uint64_t)st.st_blocks * 512;
		if (de->d_name[NFD_HEX_LEN - 1] || !e->mtime)
			e->mtime = st.st_mtim.tv_sec;
		if (!de->d_name[NFD_HEX_LEN - 1])
			e->held = held_elsewhere(de->d_name);
	}
	closedir(dir);
}

static int gc_cmp(const void *a, const void *b)
{
	const struct gc_entry *x = a, *y = b;

	if (x->in_use != y->in_use)
		return x->in_use - y->in_use;
	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

static void gc_finish(struct gc_run *g)
{
	g->cb(g->arg, &g->u, g->err);
	free(g->e);
	free(g);
}

/* Unlink the map first: a data file without a map is never trusted. */
static void evict_step_cb(struct ev *ev, int res)
{
	struct evict *e = container_of(ev, struct evict, ev);
	struct gc_run *g = e->run;
	struct work *w;
	char hex[NFD_HEX_LEN];

	hex_digest(e->digest, hex);
	if (res < 0 && res != -ENOENT)
		err("cache %s: evict: %s", hex, strerror(-res));
	if (e->step++ == 0) {
		snprintf(e->name, sizeof(e->name), "%s", hex);
		loop_unlinkat(&e->ev, cache.dirfd, e->name);
		return;
	}
	info("cache %s: evicted", hex);
	list_del_init(&e->node);
	while (!list_empty(&e->blobs)) {
		w = list_first_entry(&e->blobs, struct work, node);
		list_del_init(&w->node);
		work_queue(w);
	}
	free(e);
	if (!--g->pending)
		gc_finish(g);
}

static void gc_scan_done(struct work *w)
{
	struct gc_run *g = container_of(w, struct gc_run, work);
	struct gc_entry *e;
	struct evict *ev;
	size_t i;

	if (g->err) {
		gc_finish(g);
		return;
	}
	g->u.bytes = g->other_bytes;
	for (i = 0; i < g->n; i++) {
		e = &g->e[i];
		e->in_use = e->held || cache_blob_find(e->digest) ||
			    mounts_use_digest(e->digest) ||
			    evicting(e->digest);
		g->u.bytes += e->bytes;
		g->u.blobs++;
		g->u.in_use += e->in_use;
	}
	qsort(g->e, g->n, sizeof(*g->e), gc_cmp);
	for (i = 0; i < g->n && g->u.bytes > g->limit; i++) {
		e = &g->e[i];
		if (e->in_use)
			break;
		ev = xzalloc(sizeof(*ev));
		memcpy(ev->digest, e->digest, NYDUSFS_DIGEST_SIZE);
		INIT_LIST_HEAD(&ev->blobs);
		ev->run = g;
		ev->ev.cb = evict_step_cb;
		hex_digest(e->digest, ev->name);
		strcat(ev->name, ".chunkmap");
		list_add_tail(&ev->node, &cache.evicting);
		loop_unlinkat(&ev->ev, cache.dirfd, ev->name);
		g->pending++;
		g->u.bytes -= e->bytes;
		g->u.blobs--;
		g->u.evicted++;
		g->u.evicted_bytes += e->bytes;
	}
	if (!g->pending)
		gc_finish(g);
}

void cache_gc(uint64_t limit, cache_gc_cb cb, void *arg)
{
	struct gc_run *g = xzalloc(sizeof(*g));

	g->limit = limit;
	g->cb = cb;
	g->arg = arg;
	g->work.fn = gc_scan_fn;
	g->work.done = gc_scan_done;
	work_queue(&g->work);
}
