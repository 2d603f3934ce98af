// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: fetch scheduling.
 *
 * A job is one missing chunk, however many requests wait for it (jobs are
 * found by (blob, chunk) in a hash table).  Jobs wait in three queues:
 * on-demand reads, readahead, prefetch; the scheduler runs once per loop
 * iteration and starts ranges while fewer than max_inflight are out,
 * taking on-demand jobs first, then readahead, then (at most
 * prefetch.max_inflight at once, within prefetch.bandwidth) prefetch.
 * A range is the first queued job plus its queued neighbours in the same
 * blob whose compressed bytes are contiguous, up to merge_limit bytes
 * (readahead jobs, a startup profile's too: readahead bytes): one
 * ranged request.  Its bytes stream in (range_data); each chunk is checked
 * as soon as it is complete (decompressed and hashed in a worker), then
 * written to the cache, and its waiters are answered.  A chunk that fails
 * (bad digest, or its range failed after the backend's retries) moves to
 * the blob's next source; after the last, its waiters get -EIO.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nydusfs/compress.h"
#include "nydusfs/err.h"
#include "nydusfs/format.h"
#include "nydusfsd.h"

#define JOB_HASH_SIZE	4096

enum { J_CLEARING, J_QUEUED, J_FETCHING, J_VERIFYING, J_WRITING };

static struct {
	struct list_head hash[JOB_HASH_SIZE];
	struct list_head queues[NR_PRIO];
	struct list_head ranges;
	unsigned int nranges, nprefetch;
	struct defer sched;
	struct timer throttle;
	bool ready;
} fetch;

struct fetch_stats fstats;

static unsigned int job_hash(const struct cblob *b, uint32_t index)
{
	return (((uintptr_t)b >> 4) ^ (index * 2654435761U)) % JOB_HASH_SIZE;
}

static struct job *job_find(const struct cblob *b, uint32_t index)
{
	struct job *j;

	list_for_each_entry(j, &fetch.hash[job_hash(b, index)], hnode)
		if (j->blob == b && j->index == index)
			return j;
	return NULL;
}

void chunk_desc_from_disk(const struct nydusfs_chunk *c,
			  struct nydusfs_dev_chunk *d)
{
	memset(d, 0, sizeof(*d));
	d->compressed_offset = le64_to_cpu(c->compressed_offset);
	d->uncompressed_offset = le64_to_cpu(c->uncompressed_offset);
	d->compressed_size = le32_to_cpu(c->compressed_size);
	d->uncompressed_size = le32_to_cpu(c->uncompressed_size);
	d->compressor = c->compressor;
	memcpy(d->digest, c->digest, NYDUSFS_DIGEST_SIZE);
}

void fetch_kick(void)
{
	if (fetch.ready)
		defer_call(&fetch.sched);
}

static void job_enqueue(struct job *j)
{
	j->state = J_QUEUED;
	j->queued = true;
	list_add_tail(&j->qnode, &fetch.queues[j->prio]);
	fstats.queued[j->prio]++;
	fetch_kick();
}

static void job_dequeue(struct job *j)
{
	if (!j->queued)
		return;
	list_del_init(&j->qnode);
	j->queued = false;
	fstats.queued[j->prio]--;
}

static void job_finish(struct job *j, int err)
{
	struct fwait *w;

	job_dequeue(j);
	list_del_init(&j->hnode);
	fstats.jobs--;
	if (err)
		fstats.failed_chunks++;
	while (!list_empty(&j->waiters)) {
		w = list_first_entry(&j->waiters, struct fwait, node);
		list_del_init(&w->node);
		w->fn(w, err);
	}
	if (j->from)
		source_put(j->from);
	free(j->cbuf);
	cache_blob_put(j->blob);
	free(j);
}

/* The chunk failed from source j->src: the next one, or the end. */
static void job_next_source(struct job *j, int err)
{
	struct source **srcs;
	unsigned int n = blob_sources(j->blob, &srcs);

	j->last_err = err;
	j->src++;
	if (j->src < n) {
		if (!list_empty(&j->waiters))
			j->prio = PRIO_DEMAND;
		job_enqueue(j);
		return;
	}
	err("blob %s chunk %u: no source left (last error: %s)",
	    j->blob->hex, j->index, strerror(-err));
	job_finish(j, -EIO);
}

static void job_cleared(struct cwait *w, int err)
{
	struct job *j = container_of(w, struct job, clear);

	if (err) {
		job_finish(j, err);
		return;
	}
	job_enqueue(j);
}

int fetch_chunk(struct cblob *b, uint32_t index,
		const struct nydusfs_dev_chunk *desc, int prio, bool refetch,
		struct fwait *w)
{
	struct job *j = job_find(b, index);

	if (j) {
		if (w)
			list_add_tail(&w->node, &j->waiters);
		if (prio < j->prio) {
			if (j->queued) {
				job_dequeue(j);
				j->prio = prio;
				job_enqueue(j);
			} else {
				j->prio = prio;
			}
		}
		return 0;
	}
	if (!refetch && chunk_bit(b->present, index))
		return 1;
	j = xzalloc(sizeof(*j));
	INIT_LIST_HEAD(&j->waiters);
	INIT_LIST_HEAD(&j->qnode);
	b->refs++;
	j->blob = b;
	j->index = index;
	j->desc = *desc;
	j->prio = prio;
	j->refetch = refetch;
	list_add(&j->hnode, &fetch.hash[job_hash(b, index)]);
	fstats.jobs++;
	if (w)
		list_add_tail(&w->node, &j->waiters);
	if (refetch) {
		j->state = J_CLEARING;
		j->clear.fn = job_cleared;
		cache_clear_chunk(b, index, &j->clear);
	} else {
		job_enqueue(j);
	}
	return 0;
}

/* ---- readahead: sequential reads of a blob fetch what comes next ---- */

/*
 * Like the kernel's: once RA_MIN_RUN READs of a blob came in order, and
 * while they keep coming in order, a window of chunks ahead of the reader
 * (doubling from 4 up to RA_MAX_CHUNKS and cfg.readahead bytes) is
 * fetched.  A short run is no stream: a program starting reads a few
 * neighbouring files (a library, then the next one in the blob), and
 * fetching ahead of those only costs bytes.  Chunks are queued in batches, when
 * less than half the window is still ahead of the reader, so that a batch
 * becomes one large ranged request rather than one request per chunk, and
 * the next batch goes out while the reader still has half a window to
 * read.  b->ra_frontier is the last chunk queued: each READ costs O(1)
 * apart from the chunks it queues.  READs of chunks prefetch asked for do
 * not count: a startup profile is laid out in the blob in the order the
 * program reads it, and reading ahead of it fetched the rest of the blob.
 */
#define RA_MAX_CHUNKS	4096
#define RA_MIN_RUN	4

void fetch_readahead(struct cblob *b, uint32_t index)
{
	struct nydusfs_dev_chunk d;
	uint64_t bytes = 0;
	uint32_t i, end;

	if (!cfg.readahead || !b->table || index >= b->nchunks)
		return;
	if (b->prefetched && chunk_bit(b->prefetched, index))
		return;
	if (index + 1 == b->ra_next)
		return;		/* the same chunk again */
	if (index == b->ra_next || index == b->ra_next + 1) {
		if (++b->ra_run >= RA_MIN_RUN)
			b->ra_window = b->ra_window ? b->ra_window * 2 : 4;
		if (b->ra_window > RA_MAX_CHUNKS)
			b->ra_window = RA_MAX_CHUNKS;
	} else {
		b->ra_run = 0;
		b->ra_window = 0;
		b->ra_frontier = index;
	}
	b->ra_next = index + 1;
	if (!b->ra_window)
		return;
	if (b->ra_frontier > index &&
	    (b->ra_frontier - index) * 2 > b->ra_window)
		return;		/* enough in the pipe */
	i = b->ra_frontier > index ? b->ra_frontier + 1 : index + 1;
	end = index + b->ra_window < b->nchunks ? index + b->ra_window + 1 :
	      b->nchunks;
	for (; i < end && bytes < cfg.readahead / 2; i++) {
		b->ra_frontier = i;
		bytes += le32_to_cpu(b->table[i].uncompressed_size);
		if (chunk_bit(b->present, i) || job_find(b, i))
			continue;
		chunk_desc_from_disk(&b->table[i], &d);
		if (fetch_chunk(b, i, &d, PRIO_READAHEAD, false, NULL) == 0)
			fstats.readahead_chunks++;
	}
}

/* ---- ranges ---- */

static bool can_merge(const struct job *j, const struct job *k)
{
	return k && k->state == J_QUEUED && k->src == j->src;
}

static void range_add(struct range *r, struct job *j, uint32_t *cap,
		      bool front)
{
	if (r->njobs == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		r->jobs = realloc(r->jobs, *cap * sizeof(*r->jobs));
		if (!r->jobs) {
			err("out of memory");
			abort();
		}
	}
	if (front) {
		memmove(r->jobs + 1, r->jobs, r->njobs * sizeof(*r->jobs));
		r->jobs[0] = j;
	} else {
		r->jobs[r->njobs] = j;
	}
	r->njobs++;
	job_dequeue(j);
	j->state = J_FETCHING;
}

/*
 * The most compressed bytes one request takes.  Readahead-priority jobs (a
 * startup profile, the sequential readahead's batches) are what a reader
 * needs next, in the order it needs them: one request of up to [fetch]
 * readahead bytes streams them in that order for one round trip and one
 * request of the registry's, where two of merge_limit would split the
 * link between the first chunks and the last ones.
 */
static uint64_t range_limit(const struct job *j)
{
	if (j->prio == PRIO_READAHEAD && cfg.readahead > cfg.merge_limit)
		return cfg.readahead;
	return cfg.merge_limit;
}

/* @j and its queued neighbours with contiguous compressed bytes */
static void range_collect(struct range *r, struct job *j)
{
	struct cblob *b = j->blob;
	uint64_t start = j->desc.compressed_offset;
	uint64_t end = start + j->desc.compressed_size;
	uint64_t limit = range_limit(j);
	uint32_t cap = 0, i;
	struct job *k;

	range_add(r, j, &cap, false);
	for (i = j->index + 1; i < b->nchunks; i++) {
		k = job_find(b, i);
		if (!can_merge(j, k) || k->desc.compressed_offset != end ||
		    end + k->desc.compressed_size - start > limit)
			break;
		end += k->desc.compressed_size;
		range_add(r, k, &cap, false);
	}
	for (i = j->index; i-- > 0;) {
		k = job_find(b, i);
		if (!can_merge(j, k) ||
		    k->desc.compressed_offset + k->desc.compressed_size != start ||
		    end - k->desc.compressed_offset > limit)
			break;
		start = k->desc.compressed_offset;
		range_add(r, k, &cap, true);
	}
	r->off = start;
	r->len = end - start;
	r->pos = start;
	r->first = r->jobs[0]->index;
	r->last = r->jobs[r->njobs - 1]->index;
	if (r->njobs > 1)
		fstats.merged_ranges++;
}

static void range_free(struct range *r)
{
	list_del_init(&r->node);
	fetch.nranges--;
	if (r->prio == PRIO_PREFETCH)
		fetch.nprefetch--;
	fstats.inflight_ranges = fetch.nranges;
	source_put(r->src);
	cache_blob_put(r->blob);
	free(r->jobs);
	free(r);
	fetch_kick();
}

/*
 * Send @r to its source, from r->pos; if that fails, its chunks not yet
 * in move to their next source.
 */
void range_send(struct range *r)
{
	uint32_t i;
	int ret;

	r->t_start = now_us();
	r->src->m.requests++;
	ret = r->src->ops->start(r);
	if (!ret)
		return;
	warn("blob %s: %s: %s", r->hex, r->src->name, strerror(-ret));
	r->src->m.errors++;
	for (i = r->cur; i < r->njobs; i++)
		job_next_source(r->jobs[i], ret);
	range_free(r);
}

static void start_range(struct job *j)
{
	struct cblob *b = j->blob;
	uint64_t now = now_ms();
	struct source **srcs;
	struct range *r;
	unsigned int n;

	n = blob_sources(b, &srcs);
	while (j->src + 1 < n && srcs[j->src]->down_until > now)
		j->src++;
	if (j->src >= n) {
		job_dequeue(j);
		if (!n)
			err("blob %s: no source configured for it", b->hex);
		else
			err("blob %s chunk %u: no source left (last error: %s)",
			    b->hex, j->index, strerror(-j->last_err));
		job_finish(j, -EIO);
		return;
	}
	r = xzalloc(sizeof(*r));
	INIT_LIST_HEAD(&r->node);
	b->refs++;
	r->blob = b;
	r->digest = b->digest;
	r->hex = b->hex;
	r->src = source_get(srcs[j->src]);
	r->prio = j->prio;
	range_collect(r, j);
	list_add_tail(&r->node, &fetch.ranges);
	fetch.nranges++;
	if (r->prio == PRIO_PREFETCH) {
		fetch.nprefetch++;
		prefetch_charge(r->len);
	}
	fstats.inflight_ranges = fetch.nranges;
	dbg("blob %s: chunks %u..%u (%llu bytes at %llu) from %s", b->hex,
	    r->jobs[0]->index, r->jobs[r->njobs - 1]->index,
	    (unsigned long long)r->len, (unsigned long long)r->off,
	    r->src->name);
	if (!j->src && early_take(r))
		return;		/* its bytes are coming already */
	range_send(r);
}

/* at most this many prefetch chunks queued at once (small files) */
#define PREFETCH_REFILL_CHUNKS	4096

static struct job *next_job(void)
{
	unsigned int free_slots = cfg.max_inflight - fetch.nranges;
	uint64_t wait;
	struct job *j;

	if (!list_empty(&fetch.queues[PRIO_DEMAND]))
		return list_first_entry(&fetch.queues[PRIO_DEMAND], struct job,
					qnode);
	/* keep a slot for on-demand reads */
	if (free_slots < 2 && cfg.max_inflight > 2)
		return NULL;
	if (!list_empty(&fetch.queues[PRIO_READAHEAD]))
		return list_first_entry(&fetch.queues[PRIO_READAHEAD],
					struct job, qnode);
	if (fetch.nprefetch >= cfg.prefetch_inflight)
		return NULL;
	if (list_empty(&fetch.queues[PRIO_PREFETCH]) &&
	    !prefetch_refill(PREFETCH_REFILL_CHUNKS,
			     (uint64_t)cfg.prefetch_inflight * cfg.merge_limit))
		return NULL;
	if (list_empty(&fetch.queues[PRIO_PREFETCH]))
		return NULL;
	j = list_first_entry(&fetch.queues[PRIO_PREFETCH], struct job, qnode);
	wait = prefetch_throttle();
	if (wait) {
		if (!fetch.throttle.armed)
			timer_arm(&fetch.throttle, wait);
		return NULL;
	}
	return j;
}

static void schedule(struct defer *d)
{
	struct job *j;

	(void)d;
	prefetch_profiles();
	while (fetch.nranges < cfg.max_inflight && (j = next_job()))
		start_range(j);
}

static void throttle_fn(struct timer *t)
{
	(void)t;
	fetch_kick();
}

/* ---- bytes arriving ---- */

static void verify_fn(struct work *w)
{
	struct job *j = container_of(w, struct job, vwork);
	uint64_t t0 = thread_cpu_ns();

	j->verr = verify_chunk(&j->desc, j->cbuf, &j->ubuf);
	j->verify_ns = thread_cpu_ns() - t0;
	if (!j->verr && j->ubuf == j->cbuf)
		j->cbuf = NULL;		/* stored as it is */
}

static void job_written(struct cwrite *cw, int err)
{
	struct job *j = container_of(cw, struct job, cw);

	if (j->ubuf != j->cbuf)
		free(j->ubuf);
	j->ubuf = NULL;
	if (!err)
		fstats.chunks_fetched++;
	job_finish(j, err);
}

static void verify_done(struct work *w)
{
	struct job *j = container_of(w, struct job, vwork);

	free(j->cbuf);
	j->cbuf = NULL;
	fstats.verify_ns += j->verify_ns;
	if (j->verr) {
		fstats.verify_failures++;
		j->from->m.verify_failures++;
		err("blob %s chunk %u: %s in the data from %s", j->blob->hex,
		    j->index, j->verr == -EBADMSG ? "digest mismatch" :
		    "cannot decompress", j->from->name);
		source_put(j->from);
		j->from = NULL;
		if (j->fed) {
			/* bad early bytes: from the source itself this time */
			j->fed = false;
			early_drop(j->blob->digest);
			if (!list_empty(&j->waiters))
				j->prio = PRIO_DEMAND;
			job_enqueue(j);
			return;
		}
		job_next_source(j, -EBADMSG);
		return;
	}
	j->state = J_WRITING;
	j->cw.blob = j->blob;
	j->cw.index = j->index;
	j->cw.buf = j->ubuf;
	j->cw.len = j->desc.uncompressed_size;
	j->cw.off = j->desc.uncompressed_offset;
	j->cw.fn = job_written;
	cache_write_chunk(&j->cw);
}

/* Chunks up to this size are checked on the loop: a hop through a worker
 * thread would cost more than the hashing (tens of microseconds). */
#define VERIFY_INLINE_MAX	(64U << 10)

static void chunk_arrived(struct range *r, struct job *j)
{
	j->state = J_VERIFYING;
	j->from = source_get(r->fed ? early_source(r->early) : r->src);
	j->fed = r->fed;
	r->src->m.chunks++;
	j->vwork.fn = verify_fn;
	j->vwork.done = verify_done;
	if (j->desc.uncompressed_size <= VERIFY_INLINE_MAX) {
		verify_fn(&j->vwork);
		verify_done(&j->vwork);
		return;
	}
	work_queue(&j->vwork);
}

void range_data(struct range *r, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t start, end, n;
	struct job *j;

	if (r->early && !r->fed) {
		early_data(r, data, len);
		return;
	}
	if (!r->fed)
		r->src->m.bytes += len;
	while (len && r->cur < r->njobs) {
		j = r->jobs[r->cur];
		start = j->desc.compressed_offset;
		end = start + j->desc.compressed_size;
		if (r->pos < start) {
			n = start - r->pos < len ? start - r->pos : len;
			r->pos += n;
			p += n;
			len -= n;
			continue;
		}
		if (!j->cbuf)
			j->cbuf = malloc(j->desc.compressed_size ?
					 j->desc.compressed_size : 1);
		if (!j->cbuf) {
			err("out of memory");
			abort();
		}
		n = end - r->pos < len ? end - r->pos : len;
		memcpy(j->cbuf + (r->pos - start), p, n);
		r->pos += n;
		p += n;
		len -= n;
		if (r->pos == end) {
			r->cur++;
			chunk_arrived(r, j);
		}
	}
}

uint64_t range_end(const struct range *r)
{
	return r->off + r->len;
}

bool range_wants(const struct range *r)
{
	if (r->early && !r->fed)
		return r->pos < range_end(r);	/* an early fetch: bytes */
	return r->cur < r->njobs;
}

uint64_t range_resume(struct range *r)
{
	struct job *j;

	if (r->early && !r->fed)
		return early_resume(r);
	if (r->cur >= r->njobs)
		return range_end(r);
	j = r->jobs[r->cur];
	free(j->cbuf);
	j->cbuf = NULL;
	r->pos = j->desc.compressed_offset;
	return r->pos;
}

void range_done(struct range *r, int err)
{
	uint32_t i;

	if (r->early && !r->fed) {
		early_done(r, err);
		return;
	}
	if (r->cur >= r->njobs)
		err = 0;	/* everything arrived: a late error is moot */
	else if (!err)
		err = -EIO;	/* the body ended early */
	if (!r->fed)
		metrics_lat_observe(&r->src->m, now_us() - r->t_start);
	dbg("blob %s: chunks %u..%u done in %llu ms: %s", r->blob->hex,
	    r->first, r->last,
	    (unsigned long long)(now_us() - r->t_start) / 1000,
	    err ? strerror(-err) : "ok");
	if (err) {
		r->src->m.errors++;
		warn("blob %s: chunks %u..%u from %s: %s", r->blob->hex,
		     r->jobs[r->cur]->index, r->last, r->src->name,
		     strerror(-err));
	}
	for (i = r->cur; i < r->njobs; i++) {
		free(r->jobs[i]->cbuf);
		r->jobs[i]->cbuf = NULL;
		job_next_source(r->jobs[i], err);
	}
	range_free(r);
}

/* ---- verification ---- */

int verify_chunk(const struct nydusfs_dev_chunk *d, const uint8_t *src,
		 uint8_t **out)
{
	uint8_t md[NYDUSFS_DIGEST_SIZE];
	uint8_t *dst;
	int ret;

	if (d->compressor == NYDUSFS_COMPR_NONE) {
		if (d->compressed_size != d->uncompressed_size)
			return -EBADMSG;
		dst = (uint8_t *)src;
	} else {
		dst = malloc(d->uncompressed_size);
		if (!dst)
			return -ENOMEM;
		ret = nydusfs_decompress(d->compressor, src, d->compressed_size,
					 dst, d->uncompressed_size);
		if (ret) {
			free(dst);
			return ret == -ENOMEM ? ret : -EFSCORRUPTED;
		}
	}
	ret = nydusfs_sha256(dst, d->uncompressed_size, md);
	if (!ret && memcmp(md, d->digest, NYDUSFS_DIGEST_SIZE))
		ret = -EBADMSG;
	if (ret) {
		if (dst != src)
			free(dst);
		return ret;
	}
	*out = dst;
	return 0;
}

int fetch_init(void)
{
	unsigned int i;

	for (i = 0; i < JOB_HASH_SIZE; i++)
		INIT_LIST_HEAD(&fetch.hash[i]);
	for (i = 0; i < NR_PRIO; i++)
		INIT_LIST_HEAD(&fetch.queues[i]);
	INIT_LIST_HEAD(&fetch.ranges);
	fetch.sched.fn = schedule;
	fetch.throttle.fn = throttle_fn;
	INIT_LIST_HEAD(&fetch.throttle.node);
	fetch.ready = true;
	return 0;
}

void fetch_exit(void)
{
	struct range *r, *n;

	fetch.ready = false;
	timer_cancel(&fetch.throttle);
	list_for_each_entry_safe(r, n, &fetch.ranges, node)
		if (!r->fed && r->src->ops->cancel)
			r->src->ops->cancel(r);
}
