// SPDX-License-Identifier: GPL-2.0
/*
 * The chunk map: its file format (versioned header, bits), every way a map
 * is refused (and so rebuilt), and through the cache: a written chunk
 * reaches the map on disk only after its data, survives a reopen, is
 * forgotten when the data file is gone, and a cleared bit (REFETCH) is
 * durable before its waiter runs.  Version 2 pins the map to a chunk
 * table (its digest in the header): a pin keeps the bits, a reset drops
 * bits and data, both durably before the waiter runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "env.h"

static void fill_blob(struct cblob *b, uint32_t nchunks)
{
	memset(b, 0, sizeof(*b));
	memset(b->digest, 0xab, sizeof(b->digest));
	hex_digest(b->digest, b->hex);
	b->nchunks = nchunks;
	b->csize = 1000;
	b->usize = nchunks * 4096;
}

static int map_fd(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", env_dir, name);
	return open(path, O_RDWR | O_CREAT, 0600);
}

static void test_format(void)
{
	struct cblob b, other;
	uint8_t bits[4], ones[4] = { 0xff, 0xff, 0xff, 0xff };
	uint8_t pin[NYDUSFS_DIGEST_SIZE];
	int fd = map_fd("format.chunkmap");
	uint32_t v;

	fill_blob(&b, 20);
	CHECK(chunkmap_load(fd, &b, bits, pin) == -ENODATA, "empty file: -ENODATA");
	CHECK(chunkmap_create(fd, &b) == 0, "create");
	CHECK(lseek(fd, 0, SEEK_END) == CHUNKMAP_HDR_SIZE + 3,
	      "size: header block + (20 + 7) / 8 bytes");
	CHECK(chunkmap_load(fd, &b, bits, pin) == 0 && !bits[0] && !bits[1] &&
	      !bits[2], "a new map is empty");
	pwrite(fd, ones, 3, CHUNKMAP_HDR_SIZE);
	CHECK(chunkmap_load(fd, &b, bits, pin) == 0 && bits[0] == 0xff &&
	      bits[2] == 0x0f, "bits load; those past chunk_count are masked");
	fill_blob(&other, 20);
	other.digest[0] = 1;
	CHECK(chunkmap_load(fd, &other, bits, pin) == -ESTALE,
	      "another blob's map: -ESTALE");
	other = b;
	other.nchunks = 21;
	CHECK(chunkmap_load(fd, &other, bits, pin) == -ESTALE,
	      "another chunk count: -ESTALE");
	v = 3;
	pwrite(fd, &v, 4, 8);
	CHECK(chunkmap_load(fd, &b, bits, pin) == -EPROTO,
	      "version 3: -EPROTO, never read");
	v = 1;
	pwrite(fd, &v, 4, 8);
	CHECK(chunkmap_load(fd, &b, bits, pin) == -EPROTO,
	      "version 1 (before pinning): -EPROTO, so rebuilt empty");
	v = 2;
	pwrite(fd, &v, 4, 8);
	CHECK(chunkmap_load(fd, &b, bits, pin) == 0, "version 2 again: loads");
	pwrite(fd, "x", 1, 50);
	CHECK(chunkmap_load(fd, &b, bits, pin) == -EBADMSG, "torn header: -EBADMSG");
	pwrite(fd, "NOTAMAP!", 8, 0);
	CHECK(chunkmap_load(fd, &b, bits, pin) == -EBADMSG, "bad magic: -EBADMSG");
	ftruncate(fd, 40);
	CHECK(chunkmap_load(fd, &b, bits, pin) == -ENODATA, "truncated: -ENODATA");
	close(fd);
}

/* Version 2: the pin is stored, covered by the crc, not part of the geometry. */
static void test_pin_format(void)
{
	uint8_t bits[2], pin[NYDUSFS_DIGEST_SIZE], one = 0x21;
	int fd = map_fd("pin.chunkmap");
	struct cblob b;
	uint32_t v;

	fill_blob(&b, 10);
	CHECK(chunkmap_create(fd, &b) == 0, "create unpinned");
	memset(pin, 0x77, sizeof(pin));
	CHECK(chunkmap_load(fd, &b, bits, pin) == 0 && !pin[0] && !pin[31],
	      "a new map is not pinned (all-zero table digest)");
	pread(fd, &v, 4, 8);
	CHECK(v == 2 && CHUNKMAP_VERSION == 2, "header: version 2");
	pwrite(fd, &one, 1, CHUNKMAP_HDR_SIZE);
	memset(b.pin, 0xc3, sizeof(b.pin));
	CHECK(chunkmap_write_hdr(fd, &b) == 0, "pin it");
	memset(b.pin, 0, sizeof(b.pin));
	CHECK(chunkmap_load(fd, &b, bits, pin) == 0 && pin[0] == 0xc3 &&
	      pin[31] == 0xc3, "the pin loads, whatever the caller had");
	CHECK(bits[0] == 0x21, "pinning keeps the bits");
	pwrite(fd, "\x00", 1, 70);	/* a byte of the table digest (68..99) */
	CHECK(chunkmap_load(fd, &b, bits, pin) == -EBADMSG,
	      "the crc covers the table digest");
	close(fd);
}

/* ---- through the cache ---- */

static struct cblob *blob;
static int opened = -1, written = -1, cleared = -1;

static void open_cb(struct cwait *w, int err)
{
	(void)w;
	opened = err;
}

static bool is_opened(void) { return opened != -1; }
static bool is_written(void) { return written != -1; }
static bool is_cleared(void) { return cleared != -1; }

static struct nydusfs_dev_blob dev_blob = {
	.compressed_size = 1 << 20,
	.uncompressed_size = 64 * 4096,
	.chunk_count = 64,
};

static struct cblob *open_blob(void)
{
	static struct cwait w = { .fn = open_cb };
	struct cblob *b;
	int err = 0;

	memset(dev_blob.digest, 0xcd, sizeof(dev_blob.digest));
	opened = -1;
	b = cache_blob_get(&dev_blob, &err);
	if (!b)
		return NULL;
	cache_blob_wait(b, &w);
	env_run_until(is_opened);
	return b;
}

static int disk_bit(uint32_t index)
{
	char name[80];
	uint8_t byte = 0;
	int fd;

	hex_digest(dev_blob.digest, name);
	strcat(name, ".chunkmap");
	fd = map_fd(name);
	if (pread(fd, &byte, 1, CHUNKMAP_HDR_SIZE + index / 8) != 1)
		byte = 0;
	close(fd);
	return !!(byte & (1U << (index % 8)));
}

static bool bit5_on_disk(void) { return disk_bit(5); }

static void write_cb(struct cwrite *w, int err)
{
	(void)w;
	written = err;
}

static void clear_cb(struct cwait *w, int err)
{
	(void)w;
	cleared = err;
	/* the waiter runs only once the cleared bit is durable */
	CHECK(!disk_bit(5), "REFETCH: the bit is gone from disk before the waiter runs");
}

static bool blob_closed(void)
{
	return work_pending() == 0;
}

static void test_cache(void)
{
	static uint8_t data[4096];
	static struct cwrite w;
	static struct cwait cw = { .fn = clear_cb };
	char path[256], hex[NFD_HEX_LEN];
	uint32_t v = 7;
	int fd;

	blob = open_blob();
	CHECK(blob && opened == 0 && blob->state == CB_READY && blob->rebuilt,
	      "a new blob opens with a new map");
	memset(data, 0x5a, sizeof(data));
	w.blob = blob;
	w.index = 5;
	w.buf = data;
	w.len = sizeof(data);
	w.off = 5 * 4096;
	w.fn = write_cb;
	cache_write_chunk(&w);
	CHECK(env_run_until(is_written) && written == 0, "chunk 5 written");
	CHECK(chunk_bit(blob->present, 5), "readable at once");
	CHECK(env_run_until(bit5_on_disk), "then recorded on disk (after fdatasync)");
	cache_blob_put(blob);
	env_run_until(blob_closed);

	blob = open_blob();
	CHECK(blob && !blob->rebuilt && chunk_bit(blob->present, 5) &&
	      !chunk_bit(blob->present, 4), "reopened: chunk 5 present, 4 not");

	cache_clear_chunk(blob, 5, &cw);
	CHECK(env_run_until(is_cleared) && cleared == 0 &&
	      !chunk_bit(blob->present, 5), "REFETCH clears the bit");
	w.blob = blob;
	cache_write_chunk(&w);
	written = -1;
	env_run_until(is_written);
	env_run_until(bit5_on_disk);
	cache_blob_put(blob);
	env_run_until(blob_closed);

	/* an unknown version is rebuilt, never read */
	hex_digest(dev_blob.digest, hex);
	snprintf(path, sizeof(path), "%s.chunkmap", hex);
	fd = map_fd(path);
	pwrite(fd, &v, 4, 8);
	close(fd);
	blob = open_blob();
	CHECK(blob && blob->rebuilt && !chunk_bit(blob->present, 5),
	      "map of version 7: rebuilt empty");
	w.blob = blob;
	cache_write_chunk(&w);
	written = -1;
	env_run_until(is_written);
	env_run_until(bit5_on_disk);
	cache_blob_put(blob);
	env_run_until(blob_closed);

	/* a map without its data file is never trusted */
	snprintf(path, sizeof(path), "%s/%s", env_dir, hex);
	unlink(path);
	blob = open_blob();
	CHECK(blob && blob->rebuilt && !chunk_bit(blob->present, 5) &&
	      !disk_bit(5), "data file gone: the map is rebuilt empty");
	cache_blob_put(blob);
	env_run_until(blob_closed);
}

static void test_cache_pin(void)
{
	static uint8_t data[4096];
	static struct cwrite w;
	static struct cwait pw = { .fn = open_cb };
	uint8_t td[NYDUSFS_DIGEST_SIZE], td2[NYDUSFS_DIGEST_SIZE];
	struct stat st;
	char path[256];
	int fd;

	memset(data, 0x5a, sizeof(data));
	blob = open_blob();
	CHECK(blob && blob->state == CB_READY, "blob for pinning opens");
	w = (struct cwrite){ .blob = blob, .index = 5, .buf = data,
			     .len = sizeof(data), .off = 5 * 4096,
			     .fn = write_cb };
	written = -1;
	cache_write_chunk(&w);
	env_run_until(is_written);
	CHECK(env_run_until(bit5_on_disk), "chunk 5 recorded");
	memset(td, 0x11, sizeof(td));
	opened = -1;
	cache_blob_pin(blob, td, false, &pw);
	CHECK(blob->state == CB_OPENING, "a blob being pinned waits like one opening");
	CHECK(env_run_until(is_opened) && opened == 0 && blob->pin_err == 0 &&
	      blob->state == CB_READY && !memcmp(blob->pin, td, sizeof(td)),
	      "pinned");
	CHECK(chunk_bit(blob->present, 5) && disk_bit(5), "a pin keeps the chunks");
	memset(td, 0x22, sizeof(td));
	opened = -1;
	cache_blob_pin(blob, td, true, &pw);
	CHECK(blob->state == CB_OPENING, "a blob being reset waits like one opening");
	CHECK(env_run_until(is_opened) && blob->pin_err == 0 &&
	      !memcmp(blob->pin, td, sizeof(td)) && !disk_bit(5) &&
	      !chunk_bit(blob->present, 5),
	      "reset: the bit is gone from disk and memory, the new pin written, before the waiter runs");
	snprintf(path, sizeof(path), "%s/%s", env_dir, blob->hex);
	CHECK(!stat(path, &st) && st.st_blocks == 0 &&
	      (uint64_t)st.st_size == blob->usize,
	      "reset: the data is dropped, the file keeps its size");
	written = -1;
	cache_write_chunk(&w);
	env_run_until(is_written);
	CHECK(env_run_until(bit5_on_disk), "chunk 5 recorded again");
	fd = open(path, O_RDONLY);	/* as the kernel would hold it */
	memset(td2, 0x33, sizeof(td2));
	opened = -1;
	cache_blob_pin(blob, td2, true, &pw);
	CHECK(env_run_until(is_opened) && blob->pin_err == -EBUSY &&
	      !memcmp(blob->pin, td, sizeof(td)) && chunk_bit(blob->present, 5) &&
	      disk_bit(5), "a reset while the file is open elsewhere: -EBUSY, nothing touched");
	close(fd);
	cache_blob_put(blob);
	env_run_until(blob_closed);
	blob = open_blob();
	CHECK(blob && !blob->rebuilt && !memcmp(blob->pin, td, sizeof(td)) &&
	      chunk_bit(blob->present, 5) && !chunk_bit(blob->present, 4),
	      "reopened: the pin of the reset, the chunk written since");
	cache_blob_put(blob);
	env_run_until(blob_closed);
}

int main(void)
{
	env_init();
	test_format();
	test_pin_format();
	test_cache();
	test_cache_pin();
	env_exit();
	return check_done();
}
