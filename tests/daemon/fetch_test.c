// SPDX-License-Identifier: GPL-2.0
/*
 * The fetch engine against a fake backend that records every ranged
 * request: adjacent chunks are merged up to merge_limit (never across a
 * gap; readahead-priority ones, a startup profile, up to [fetch] readahead), one fetch per chunk however many wait, on-demand before readahead
 * before prefetch, an on-demand read of a chunk already in flight for
 * prefetch waits for that request, READs in the order of a prefetched
 * startup profile start no readahead, and a chunk whose bytes fail
 * verification is fetched from the next source, or fails with EIO when
 * none is left; bad data never reaches the cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "nydusfs/format.h"
#include "check.h"
#include "env.h"

#define NCHUNKS		12
#define CSIZE		8192
#define GAP_AFTER	9	/* compressed gap between chunks 9 and 10 */

static uint8_t blobfile[NCHUNKS * CSIZE + 4096];
static struct nydusfs_dev_chunk descs[NCHUNKS];

struct started {
	int source;
	uint32_t first, last;
	int prio;
};

static struct started log_[64];
static unsigned int nlog;

struct fake {
	int id;
	int corrupt;		/* chunk to corrupt, or -1 */
};

struct delivery {
	struct defer d;
	struct range *r;
	struct fake *f;
};

static void deliver(struct defer *d)
{
	struct delivery *dv = container_of(d, struct delivery, d);
	struct range *r = dv->r;
	uint8_t *copy = malloc(r->len);
	uint32_t i;

	memcpy(copy, blobfile + r->off, r->len);
	for (i = 0; i < r->njobs; i++)
		if ((int)r->jobs[i]->index == dv->f->corrupt)
			copy[r->jobs[i]->desc.compressed_offset - r->off + 7] ^= 1;
	/* in two pieces, split inside a chunk */
	range_data(r, copy, r->len / 2 + 1);
	range_data(r, copy + r->len / 2 + 1, r->len - r->len / 2 - 1);
	free(copy);
	range_done(r, 0);
	free(dv);
}

/* hold_next: keep the next range's bytes back (in held) until released */
static bool hold_next;
static struct delivery *held;

static int fake_start(struct range *r)
{
	struct fake *f = r->src->priv;
	struct delivery *dv = xzalloc(sizeof(*dv));

	if (nlog < 64)
		log_[nlog++] = (struct started){ f->id, r->jobs[0]->index,
			r->jobs[r->njobs - 1]->index, r->prio };
	dv->r = r;
	dv->f = f;
	dv->d.fn = deliver;
	if (hold_next) {
		hold_next = false;
		held = dv;
		return 0;
	}
	defer_call(&dv->d);
	return 0;
}

static const struct backend_ops fake_ops = { .kind = "fake", .start = fake_start };
static struct fake fa = { 0, -1 }, fb = { 1, -1 };

static void add_source(struct fake *f, const char *name)
{
	struct source *s = xzalloc(sizeof(*s));

	s->ops = &fake_ops;
	s->priv = f;
	s->name = xstrdup(name);
	sources_register(s);
	sources_add_global(s);
}

static void make_blob(void)
{
	uint64_t off = 0;
	uint32_t i;

	for (i = 0; i < NCHUNKS; i++) {
		memset(blobfile + off, 'a' + i, CSIZE);
		descs[i].compressed_offset = off;
		descs[i].uncompressed_offset = (uint64_t)i * CSIZE;
		descs[i].compressed_size = CSIZE;
		descs[i].uncompressed_size = CSIZE;
		descs[i].compressor = NYDUSFS_COMPR_NONE;
		nydusfs_sha256(blobfile + off, CSIZE, descs[i].digest);
		off += CSIZE + (i == GAP_AFTER ? 4096 : 0);
	}
}

/* waiters */
struct w {
	struct fwait fw;
	int err;
	bool done;
};

static struct w waits[32];
static unsigned int nwaits;

static void wait_cb(struct fwait *fw, int err)
{
	struct w *w = container_of(fw, struct w, fw);

	w->err = err;
	w->done = true;
}

static bool all_done(void)
{
	unsigned int i;

	for (i = 0; i < nwaits; i++)
		if (!waits[i].done)
			return false;
	return fstats.jobs == 0;
}

static void reset(void)
{
	memset(waits, 0, sizeof(waits));
	nwaits = 0;
	nlog = 0;
}

static int want(struct cblob *b, uint32_t index, int prio)
{
	struct w *w = &waits[nwaits++];

	w->fw.fn = wait_cb;
	return fetch_chunk(b, index, &descs[index], prio, false, &w->fw);
}

static bool opened_flag;
static bool is_open(void) { return opened_flag; }
static void opened_cb(struct cwait *w, int err) { (void)w; (void)err; opened_flag = true; }

static struct cblob *open_blob(uint8_t tag)
{
	static struct cwait cw = { .fn = opened_cb };
	struct nydusfs_dev_blob db = {
		.compressed_size = sizeof(blobfile),
		.uncompressed_size = NCHUNKS * CSIZE,
		.chunk_count = NCHUNKS,
	};
	struct cblob *b;
	int err;

	memset(db.digest, tag, sizeof(db.digest));
	b = cache_blob_get(&db, &err);
	opened_flag = false;
	cache_blob_wait(b, &cw);
	env_run_until(is_open);
	return b;
}

static bool cache_holds(struct cblob *b, uint32_t index)
{
	uint8_t buf[CSIZE], md[32];
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", env_dir, b->hex);
	fd = open(path, O_RDONLY);
	if (pread(fd, buf, CSIZE, descs[index].uncompressed_offset) != CSIZE) {
		close(fd);
		return false;
	}
	close(fd);
	nydusfs_sha256(buf, CSIZE, md);
	return !memcmp(md, descs[index].digest, 32);
}

static void test_merge(void)
{
	struct cblob *b = open_blob(1);
	bool ok = true;
	uint32_t i;

	reset();
	cfg.merge_limit = 3 * CSIZE;
	for (i = 0; i < NCHUNKS; i++)
		want(b, i, PRIO_DEMAND);
	CHECK(env_run_until(all_done), "every chunk arrives");
	for (i = 0; i < nwaits; i++)
		ok &= waits[i].err == 0 && cache_holds(b, i) &&
		      chunk_bit(b->present, i);
	CHECK(ok, "every chunk is in the cache, checked");
	CHECK(nlog == 5, "12 chunks, merge limit 3, one gap: 5 requests (got %u)",
	      nlog);
	CHECK(nlog == 5 && log_[0].first == 0 && log_[0].last == 2 &&
	      log_[1].first == 3 && log_[1].last == 5 && log_[2].first == 6 &&
	      log_[2].last == 8 && log_[3].first == 9 && log_[3].last == 9 &&
	      log_[4].first == 10 && log_[4].last == 11,
	      "ranges 0-2 3-5 6-8 9 10-11: never across the gap");
	CHECK(want(b, 4, PRIO_DEMAND) == 1, "a present chunk needs no fetch");
	nwaits--;
	cache_blob_put(b);
}

/* A startup profile (readahead priority) leaves in requests of up to
 * [fetch] readahead bytes, not merge_limit */
static void test_readahead_limit(void)
{
	struct cblob *b = open_blob(9);
	uint32_t i;

	reset();
	cfg.merge_limit = 2 * CSIZE;
	cfg.readahead = 8 * CSIZE;
	for (i = 0; i < 9; i++)
		want(b, i, PRIO_READAHEAD);
	CHECK(env_run_until(all_done), "every chunk arrives");
	CHECK(nlog == 2 && log_[0].first == 0 && log_[0].last == 7 &&
	      log_[1].first == 8 && log_[1].last == 8,
	      "9 chunks, readahead 8: ranges 0-7 and 8 (got %u requests)",
	      nlog);
	cache_blob_put(b);
	b = open_blob(10);
	reset();
	cfg.readahead = 0;
	for (i = 0; i < 6; i++)
		want(b, i, PRIO_READAHEAD);
	CHECK(env_run_until(all_done) && nlog == 3,
	      "readahead off: merge_limit again, 6 chunks in 3 (got %u)",
	      nlog);
	cfg.readahead = 8 << 20;
	cache_blob_put(b);
}

static void test_dedup(void)
{
	struct cblob *b = open_blob(2);

	reset();
	cfg.merge_limit = 4 << 20;
	want(b, 7, PRIO_DEMAND);
	want(b, 7, PRIO_DEMAND);
	want(b, 7, PRIO_PREFETCH);
	CHECK(fstats.jobs == 1, "three waiters, one job");
	CHECK(env_run_until(all_done) && !waits[0].err && !waits[1].err &&
	      !waits[2].err, "all three answered");
	CHECK(nlog == 1 && log_[0].first == 7 && log_[0].last == 7,
	      "one request for the chunk");
	cache_blob_put(b);
}

static bool one_started(void)
{
	return nlog >= 1;
}

/* A READ of a chunk whose prefetch request is out joins it. */
static void test_inflight_dedup(void)
{
	struct cblob *b = open_blob(6);
	uint32_t i;

	reset();
	cfg.merge_limit = 4 << 20;
	hold_next = true;
	for (i = 0; i < 4; i++)
		want(b, i, PRIO_PREFETCH);
	CHECK(env_run_until(one_started) && held,
	      "the prefetch range is out (chunks 0..3 in one request)");
	CHECK(want(b, 2, PRIO_DEMAND) == 0 && fstats.jobs == 4 &&
	      !waits[4].done, "an on-demand read of chunk 2, in flight, waits");
	defer_call(&held->d);
	held = NULL;
	CHECK(env_run_until(all_done) && !waits[4].err && cache_holds(b, 2),
	      "the read is answered by the prefetch's bytes");
	CHECK(nlog == 1 && log_[0].first == 0 && log_[0].last == 3,
	      "one request in all: no second fetch of chunk 2 (got %u)", nlog);
	cache_blob_put(b);
}

static void test_priority(void)
{
	struct cblob *b = open_blob(3);

	reset();
	cfg.merge_limit = CSIZE;
	cfg.max_inflight = 1;
	want(b, 0, PRIO_PREFETCH);
	want(b, 2, PRIO_READAHEAD);
	want(b, 4, PRIO_DEMAND);
	want(b, 6, PRIO_PREFETCH);
	want(b, 6, PRIO_DEMAND);	/* upgraded while queued */
	CHECK(env_run_until(all_done), "all arrive");
	CHECK(nlog == 4 && log_[0].first == 4 && log_[1].first == 6 &&
	      log_[2].first == 2 && log_[3].first == 0,
	      "on-demand first (4, then 6 upgraded), readahead, prefetch last");
	cfg.max_inflight = 8;
	cache_blob_put(b);
}

static void test_verify_fallback(void)
{
	struct cblob *b = open_blob(4);
	uint64_t bad_before = fstats.verify_failures;
	bool ok = true;
	uint32_t i;

	reset();
	cfg.merge_limit = 4 << 20;
	fa.corrupt = 3;
	for (i = 0; i < 6; i++)
		want(b, i, PRIO_DEMAND);
	CHECK(env_run_until(all_done), "all arrive");
	for (i = 0; i < 6; i++)
		ok &= !waits[i].err && cache_holds(b, i);
	CHECK(ok, "every chunk right, chunk 3 included");
	CHECK(fstats.verify_failures == bad_before + 1,
	      "one verification failure counted");
	CHECK(nlog == 2 && log_[0].source == 0 && log_[0].first == 0 &&
	      log_[0].last == 5 && log_[1].source == 1 && log_[1].first == 3 &&
	      log_[1].last == 3, "chunk 3 fetched again from the next source");
	fa.corrupt = -1;
	cache_blob_put(b);
}

static void test_all_bad(void)
{
	struct cblob *b = open_blob(5);

	reset();
	fa.corrupt = fb.corrupt = 2;
	want(b, 2, PRIO_DEMAND);
	want(b, 1, PRIO_DEMAND);
	CHECK(env_run_until(all_done), "both answered");
	CHECK(waits[0].err == -EIO && waits[1].err == 0,
	      "the bad chunk fails with EIO, its neighbour is fine");
	CHECK(!chunk_bit(b->present, 2) && !chunk_bit(b->durable, 2) &&
	      !cache_holds(b, 2), "bad data never reaches the cache");
	fa.corrupt = fb.corrupt = -1;
	cache_blob_put(b);
}

/* The chunk table readahead reads (what a bootstrap gives the blob) */
static struct nydusfs_chunk *disk_table(void)
{
	struct nydusfs_chunk *t = calloc(NCHUNKS, sizeof(*t));
	uint32_t i;

	for (i = 0; t && i < NCHUNKS; i++) {
		t[i].compressed_offset = htole64(descs[i].compressed_offset);
		t[i].compressed_size = htole32(descs[i].compressed_size);
		t[i].uncompressed_size = htole32(descs[i].uncompressed_size);
		t[i].uncompressed_offset = htole64(descs[i].uncompressed_offset);
		t[i].compressor = descs[i].compressor;
		memcpy(t[i].digest, descs[i].digest, sizeof(t[i].digest));
	}
	return t;
}

/* Six READs in order, of chunks 0..5: how many chunks readahead queued */
static uint64_t readahead_after_reads(struct cblob *b)
{
	uint64_t before = fstats.readahead_chunks;
	uint32_t i;

	for (i = 0; i < 6; i++)
		fetch_readahead(b, i);
	env_run_until(all_done);
	return fstats.readahead_chunks - before;
}

static void test_readahead_profile(void)
{
	struct cblob *plain = open_blob(7), *profiled = open_blob(8);
	uint64_t n;
	uint32_t i;

	reset();
	cfg.readahead = 1 << 20;
	plain->table = disk_table();
	profiled->table = disk_table();
	profiled->prefetched = calloc(1, (NCHUNKS + 7) / 8);
	for (i = 0; i < 6; i++)
		profiled->prefetched[i / 8] |= 1U << (i % 8);
	n = readahead_after_reads(plain);
	CHECK(n > 0, "six READs in order start readahead (%llu chunks)",
	      (unsigned long long)n);
	n = readahead_after_reads(profiled);
	CHECK(n == 0, "the same READs of prefetched chunks start none (%llu)",
	      (unsigned long long)n);
	cache_blob_put(plain);
	cache_blob_put(profiled);
}

int main(void)
{
	env_init();
	make_blob();
	add_source(&fa, "fake:a");
	add_source(&fb, "fake:b");
	test_merge();
	test_readahead_limit();
	test_dedup();
	test_inflight_dedup();
	test_priority();
	test_readahead_profile();
	test_verify_fallback();
	test_all_bad();
	env_exit();
	return check_done();
}
