// SPDX-License-Identifier: GPL-2.0
/*
 * The fetch engine against a fake backend that records every ranged
 * request: adjacent chunks are merged up to merge_limit (never across a
 * gap; readahead-priority ones, a startup profile, up to [fetch] readahead), one fetch per chunk however many wait, on-demand before readahead
 * before prefetch, an on-demand read of a chunk already in flight for
 * prefetch waits for that request, READs in the order of a prefetched
 * startup profile start no readahead, and a chunk whose bytes fail
 * verification is fetched from the next source, or fails with EIO when
 * none is left; bad data never reaches the cache.  Early fetches: the
 * chunks they cover are fed from their bytes without a request of their
 * own, from the source when they break off, and again from the same
 * source when their bytes are bad.
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

#define EARLY	UINT32_MAX	/* log_[].first of an early fetch's request */
static int early_corrupt = -1;	/* its chunk to corrupt */
static uint64_t early_cut;	/* it fails after this many bytes */

struct delivery {
	struct defer d;
	struct range *r;
	struct fake *f;
};

static void deliver(struct defer *d)
{
	struct delivery *dv = container_of(d, struct delivery, d);
	struct range *r = dv->r;
	uint64_t len = range_end(r) - r->pos;	/* from where it stands */
	uint8_t *copy = malloc(len);
	uint32_t i;

	memcpy(copy, blobfile + r->pos, len);
	for (i = r->cur; i < r->njobs; i++)
		if ((int)r->jobs[i]->index == dv->f->corrupt)
			copy[r->jobs[i]->desc.compressed_offset - r->pos + 7] ^= 1;
	if (!r->njobs && early_corrupt >= 0)
		copy[descs[early_corrupt].compressed_offset + 7] ^= 1;
	if (!r->njobs && early_cut) {	/* an early fetch that breaks off */
		range_data(r, copy, early_cut);
		range_done(r, -EIO);
	} else {
		/* in two pieces, split inside a chunk */
		range_data(r, copy, len / 2 + 1);
		range_data(r, copy + len / 2 + 1, len - len / 2 - 1);
		range_done(r, 0);
	}
	free(copy);
	free(dv);
}

/* hold_next: keep the next range's bytes back (in held) until released */
static bool hold_next;
static struct delivery *held;

static int fake_start(struct range *r)
{
	struct fake *f = r->src->priv;
	struct delivery *dv = xzalloc(sizeof(*dv));

	if (nlog < 64 && r->njobs)
		log_[nlog++] = (struct started){ f->id, r->jobs[r->cur]->index,
			r->jobs[r->njobs - 1]->index, r->prio };
	else if (nlog < 64)	/* an early fetch */
		log_[nlog++] = (struct started){ f->id, EARLY, EARLY, r->prio };
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

static struct source *src_a;

static struct source *add_source(struct fake *f, const char *name)
{
	struct source *s = xzalloc(sizeof(*s));

	s->ops = &fake_ops;
	s->priv = f;
	s->name = xstrdup(name);
	sources_register(s);
	sources_add_global(s);
	return s;
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

/* ---- early fetches (early.c) ---- */

static bool fed_waiting(void)
{
	return fstats.inflight_ranges == 1 && !fstats.queued[PRIO_DEMAND];
}

/* An early fetch of chunks 0..5 of blob @tag, its bytes held back */
static struct cblob *early_blob(uint8_t tag)
{
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	uint64_t taken;
	int ret;

	memset(digest, tag, sizeof(digest));
	hold_next = true;
	ret = early_start(digest, 6 * CSIZE, &src_a, 1, &taken);
	CHECK(!ret && taken == 6 * CSIZE && nlog == 1 && log_[0].first == EARLY,
	      "early fetch %u started: %d", tag, ret);
	CHECK(early_start(digest, CSIZE, &src_a, 1, &taken) == -EEXIST,
	      "one early fetch per blob");
	return open_blob(tag);
}

static bool all_right(struct cblob *b, uint32_t n)
{
	bool ok = true;
	uint32_t i;

	for (i = 0; i < n; i++)
		ok &= !waits[i].err && cache_holds(b, i);
	return ok;
}

/* Chunks 0..3 read while the early bytes are on their way: served from
 * them, no request of their own; chunks 8..9, outside them, fetched. */
static void test_early_feed(void)
{
	uint64_t served = estats.served_ranges;
	struct cblob *b;
	uint32_t i;

	reset();
	cfg.merge_limit = 4 << 20;
	b = early_blob(20);
	for (i = 0; i < 4; i++)
		want(b, i, PRIO_DEMAND);
	CHECK(env_run_until(fed_waiting) && nlog == 1,
	      "chunks 0..3 wait for the early bytes, no request (%u)", nlog);
	defer_call(&held->d);
	CHECK(env_run_until(all_done) && all_right(b, 4),
	      "chunks 0..3 arrive from the early bytes, right");
	CHECK(estats.served_ranges == served + 1 && nlog == 1,
	      "one range served from them, still one request");
	want(b, 4, PRIO_DEMAND);
	want(b, 8, PRIO_DEMAND);
	CHECK(env_run_until(all_done) && nlog == 2 && log_[1].first == 8,
	      "chunk 4 from the early bytes (done), chunk 8 from its source");
	cache_blob_put(b);
	early_exit();
}

/* The early fetch breaks off inside chunk 2: the range it fed goes to
 * its source from chunk 2 on. */
static void test_early_cut(void)
{
	uint64_t failed = estats.failed;
	struct cblob *b;
	uint32_t i;

	reset();
	b = early_blob(21);
	for (i = 0; i < 5; i++)
		want(b, i, PRIO_DEMAND);
	env_run_until(fed_waiting);
	early_cut = 2 * CSIZE + 100;
	defer_call(&held->d);
	CHECK(env_run_until(all_done) && all_right(b, 5),
	      "every chunk right after the early fetch broke off");
	CHECK(estats.failed == failed + 1 && nlog == 2 && log_[1].source == 0 &&
	      log_[1].first == 2 && log_[1].last == 4,
	      "chunks 2..4 fetched from the source (%u requests)", nlog);
	early_cut = 0;
	cache_blob_put(b);
	early_exit();
}

/* A chunk of the early bytes is bad: fetched again from the same source
 * (not the next one), and the early bytes serve no more. */
static void test_early_bad(void)
{
	uint64_t failed = estats.failed;
	struct cblob *b;
	uint32_t i;

	reset();
	b = early_blob(22);
	early_corrupt = 1;
	for (i = 0; i < 3; i++)
		want(b, i, PRIO_DEMAND);
	env_run_until(fed_waiting);
	defer_call(&held->d);
	CHECK(env_run_until(all_done) && all_right(b, 3),
	      "chunks 0..2 right, the bad chunk 1 included");
	CHECK(estats.failed == failed + 1 && nlog == 2 && log_[1].source == 0 &&
	      log_[1].first == 1 && log_[1].last == 1,
	      "chunk 1 fetched again from the first source");
	want(b, 3, PRIO_DEMAND);
	CHECK(env_run_until(all_done) && nlog == 3 && log_[2].first == 3,
	      "after that, chunk 3 has its own request");
	early_corrupt = -1;
	cache_blob_put(b);
	early_exit();
}

int main(void)
{
	env_init();
	make_blob();
	src_a = add_source(&fa, "fake:a");
	add_source(&fb, "fake:b");
	test_merge();
	test_readahead_limit();
	test_dedup();
	test_inflight_dedup();
	test_priority();
	test_readahead_profile();
	test_verify_fallback();
	test_all_bad();
	test_early_feed();
	test_early_cut();
	test_early_bad();
	env_exit();
	return check_done();
}
