// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: prefetch.  At mount, in this order: the chunks of the
 * bootstrap's prefetch ranges (its startup profile), the chunks of the
 * files in its prefetch list (directories: everything under them), and
 * with [prefetch] all = true every other chunk of every blob.
 *
 * The profile's chunks are what the workload is about to read: they are
 * all queued as soon as their blob is open, at readahead priority (behind
 * on-demand reads, ahead of prefetch, outside prefetch.max_inflight and
 * prefetch.bandwidth), so that they go out at once as a few large ranged
 * requests (the builder laid them out contiguously).  The rest has the
 * lowest priority: the scheduler asks for a few at a time
 * (prefetch_refill) when no on-demand or readahead job waits, runs at
 * most prefetch.max_inflight of them, and a token bucket keeps them
 * within prefetch.bandwidth.  Progress is in status and metrics.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nydusfs/image.h"
#include "nydusfsd.h"

struct pf_item {
	uint32_t blob;			/* index in the image's blob table */
	uint32_t chunk;			/* index in that blob */
};

struct prefetch {
	struct list_head node;
	struct mount *m;		/* NULL once stopped */
	struct pf_item *items;
	size_t n, cap, next;
	size_t nprofile;		/* items[0..nprofile): the ranges */
	unsigned int inflight;
	uint64_t started;
};

struct pwait {
	struct fwait fw;
	struct prefetch *pf;
	uint32_t bytes;
	bool profile;			/* a chunk of the startup profile */
};

static LIST_HEAD(active);
static struct {
	double tokens;
	uint64_t last;
} bucket;

/* ---- the plan, made in a worker from the image ---- */

struct planner {
	const struct nydusfs_image *img;
	struct prefetch *pf;
	uint8_t **seen;			/* per blob, one bit per chunk */
	uint8_t *visited;		/* per nid */
	uint64_t bytes;
};

static void plan_chunk(struct planner *p, uint32_t blob, uint32_t chunk)
{
	const struct nydusfs_chunk *c;
	struct prefetch *pf = p->pf;

	if (p->seen[blob][chunk / 8] & (1U << (chunk % 8)))
		return;
	if (nydusfs_image_chunk(p->img, blob, chunk, &c))
		return;
	p->seen[blob][chunk / 8] |= 1U << (chunk % 8);
	if (pf->n == pf->cap) {
		pf->cap = pf->cap ? 2 * pf->cap : 256;
		pf->items = realloc(pf->items, pf->cap * sizeof(*pf->items));
		if (!pf->items) {
			err("out of memory");
			abort();
		}
	}
	pf->items[pf->n].blob = blob;
	pf->items[pf->n].chunk = chunk;
	pf->n++;
	p->bytes += le32_to_cpu(c->compressed_size);
}

static void plan_file(struct planner *p, uint32_t nid,
		      const struct nydusfs_inode *ino)
{
	const struct nydusfs_chunk_ref *ref;
	uint32_t slot, n = le32_to_cpu(ino->data_count);
	uint64_t data = le64_to_cpu(ino->data);

	for (slot = 0; slot < n; slot++) {
		if (data + slot >= p->img->ref_count)
			return;
		ref = &p->img->refs[data + slot];
		if (le32_to_cpu(ref->blob_index) == NYDUSFS_CHUNK_HOLE ||
		    le32_to_cpu(ref->blob_index) >= p->img->blob_count)
			continue;
		(void)nid;
		plan_chunk(p, le32_to_cpu(ref->blob_index),
			   le32_to_cpu(ref->chunk_index));
	}
}

/* A file, or everything under a directory (breadth first). */
static void plan_nid(struct planner *p, uint32_t nid)
{
	const struct nydusfs_dirent *de;
	const struct nydusfs_inode *ino;
	uint32_t *queue, head = 0, tail = 0, i, cnt;
	const char *name;

	queue = xzalloc(p->img->inode_count * sizeof(*queue));
	queue[tail++] = nid;
	while (head < tail) {
		nid = queue[head++];
		if (nid >= p->img->inode_count ||
		    p->visited[nid / 8] & (1U << (nid % 8)))
			continue;
		p->visited[nid / 8] |= 1U << (nid % 8);
		if (nydusfs_image_inode(p->img, nid, &ino))
			continue;
		if (S_ISREG(le16_to_cpu(ino->mode))) {
			plan_file(p, nid, ino);
			continue;
		}
		if (!S_ISDIR(le16_to_cpu(ino->mode)))
			continue;
		cnt = le32_to_cpu(ino->data_count);
		for (i = 0; i < cnt && tail < p->img->inode_count; i++)
			if (!nydusfs_image_dirent(p->img, nid, i, &de, &name))
				queue[tail++] = le32_to_cpu(de->nid);
	}
	free(queue);
}

/* The startup profile's chunk ranges, in order. */
static void plan_ranges(struct planner *p)
{
	uint32_t blob, chunk, count, c;
	uint64_t i;

	for (i = 0; i < p->img->prange_count; i++) {
		if (nydusfs_image_prefetch_range(p->img, i, &blob, &chunk,
						 &count))
			continue;
		for (c = 0; c < count; c++)
			plan_chunk(p, blob, chunk + c);
	}
	p->pf->nprofile = p->pf->n;
}

struct prefetch *prefetch_plan(const struct nydusfs_image *img, bool all,
			       uint64_t *chunks, uint64_t *bytes)
{
	struct planner p = { .img = img };
	const struct nydusfs_blob *blob;
	uint32_t i, c, n;

	p.pf = xzalloc(sizeof(*p.pf));
	INIT_LIST_HEAD(&p.pf->node);
	p.seen = xzalloc((img->blob_count + 1) * sizeof(*p.seen));
	p.visited = xzalloc(img->inode_count / 8 + 1);
	for (i = 0; i < img->blob_count; i++) {
		n = nydusfs_image_blob(img, i, &blob) ? 0 :
		    le32_to_cpu(blob->chunk_count);
		p.seen[i] = xzalloc(n / 8 + 1);
	}
	plan_ranges(&p);
	for (i = 0; i < img->prefetch_count; i++)
		plan_nid(&p, le32_to_cpu(img->prefetch[i]));
	for (i = 0; all && i < img->blob_count; i++) {
		n = nydusfs_image_blob(img, i, &blob) ? 0 :
		    le32_to_cpu(blob->chunk_count);
		for (c = 0; c < n; c++)
			plan_chunk(&p, i, c);
	}
	for (i = 0; i < img->blob_count; i++)
		free(p.seen[i]);
	free(p.seen);
	free(p.visited);
	*chunks = p.pf->n;
	*bytes = p.bytes;
	return p.pf;
}

/* ---- running it ---- */

static void prefetch_free(struct prefetch *pf)
{
	free(pf->items);
	free(pf);
}

static void check_finished(struct prefetch *pf)
{
	struct mount *m = pf->m;

	if (!m || pf->next < pf->n || pf->inflight || !m->pf_running)
		return;
	m->pf_running = false;
	list_del_init(&pf->node);
	info("mount %u: prefetch done: %llu chunks, %llu failed, %.1f s", m->id,
	     (unsigned long long)m->pf_done, (unsigned long long)m->pf_failed,
	     (now_ms() - pf->started) / 1000.0);
}

void prefetch_start(struct mount *m, struct prefetch *pf)
{
	pf->m = m;
	pf->started = now_ms();
	m->pf = pf;
	m->pf_total = pf->n;
	m->pf_done = m->pf_failed = m->pf_bytes = 0;
	m->pf_profile_total = pf->nprofile;
	m->pf_profile_done = 0;
	m->pf_running = true;
	list_add_tail(&pf->node, &active);
	check_finished(pf);
	fetch_kick();
}

void prefetch_stop(struct mount *m)
{
	struct prefetch *pf = m->pf;

	if (!pf)
		return;
	m->pf = NULL;
	m->pf_running = false;
	list_del_init(&pf->node);
	pf->m = NULL;
	if (!pf->inflight)
		prefetch_free(pf);
}

/* One more chunk of the plan in the cache */
static void count_done(struct mount *m, bool profile)
{
	m->pf_done++;
	if (profile)
		m->pf_profile_done++;
}

static void pwait_done(struct fwait *w, int err)
{
	struct pwait *pw = container_of(w, struct pwait, fw);
	struct prefetch *pf = pw->pf;

	pf->inflight--;
	if (pf->m) {
		if (err)
			pf->m->pf_failed++;
		else
			count_done(pf->m, pw->profile);
		pf->m->pf_bytes += err ? 0 : pw->bytes;
		check_finished(pf);
	} else if (!pf->inflight) {
		prefetch_free(pf);
	}
	free(pw);
}

/*
 * Remember that prefetch asked for chunk @index: when the program reads it
 * later, in the order of a startup profile laid out in the blob, that is
 * no sequential stream to read ahead of (fetch_readahead()).
 */
static void mark_prefetched(struct cblob *b, uint32_t index)
{
	if (!b->prefetched)
		b->prefetched = xzalloc((b->nchunks + 7) / 8);
	b->prefetched[index / 8] |= 1U << (index % 8);
}

/*
 * Queue up to @n chunks of one prefetch, items up to @end, at @prio, while
 * *@budget (compressed bytes) lasts: how many were queued
 */
static unsigned int queue_items(struct prefetch *pf, size_t end, int prio,
				unsigned int n, uint64_t *budget)
{
	struct mount *m = pf->m;
	struct nydusfs_dev_chunk d;
	unsigned int queued = 0;
	struct pf_item *it;
	struct pwait *pw;
	struct cblob *b;
	bool profile;
	int ret;

	while (pf->next < end && queued < n && *budget) {
		it = &pf->items[pf->next];
		b = it->blob < m->nblobs && m->blobs ? m->blobs[it->blob] : NULL;
		if (b && b->state == CB_OPENING)
			break;		/* fetch_kick() when it is open */
		profile = pf->next < pf->nprofile;
		pf->next++;
		if (!b || b->state != CB_READY || !b->table ||
		    it->chunk >= b->nchunks) {
			m->pf_failed++;
			continue;
		}
		if (chunk_bit(b->present, it->chunk)) {
			count_done(m, profile);
			continue;
		}
		mark_prefetched(b, it->chunk);
		chunk_desc_from_disk(&b->table[it->chunk], &d);
		*budget -= d.compressed_size < *budget ? d.compressed_size :
			   *budget;
		pw = xzalloc(sizeof(*pw));
		pw->fw.fn = pwait_done;
		pw->pf = pf;
		pw->bytes = d.uncompressed_size;
		pw->profile = profile;
		ret = fetch_chunk(b, it->chunk, &d, prio, false, &pw->fw);
		if (ret) {
			free(pw);
			if (ret > 0)
				count_done(m, profile);
			else
				m->pf_failed++;
			continue;
		}
		pf->inflight++;
		queued++;
	}
	check_finished(pf);
	return queued;
}

/*
 * Queue up to @n chunks and about @bytes compressed bytes of prefetch:
 * enough for full merge_limit ranges when chunks are small.
 */
unsigned int prefetch_refill(unsigned int n, uint64_t bytes)
{
	struct prefetch *pf, *next;
	unsigned int queued = 0;

	list_for_each_entry_safe(pf, next, &active, node) {
		if (queued >= n || !bytes)
			break;
		if (pf->next < pf->nprofile)
			continue;	/* prefetch_profiles() queues those */
		queued += queue_items(pf, pf->n, PRIO_PREFETCH, n - queued,
				      &bytes);
	}
	return queued;
}

/*
 * Queue every chunk of the startup profiles whose blob is open, at
 * readahead priority: called by the scheduler before it picks jobs.
 */
void prefetch_profiles(void)
{
	struct prefetch *pf, *next;
	uint64_t unlimited = UINT64_MAX;

	list_for_each_entry_safe(pf, next, &active, node)
		if (pf->next < pf->nprofile)
			queue_items(pf, pf->nprofile, PRIO_READAHEAD, UINT_MAX,
				    &unlimited);
}

/* ---- bandwidth: a token bucket that may go into debt ---- */

uint64_t prefetch_throttle(void)
{
	uint64_t now = now_ms(), bw = cfg.prefetch_bandwidth;
	double burst;

	if (!bw)
		return 0;
	burst = bw > cfg.merge_limit ? bw : cfg.merge_limit;
	if (!bucket.last)
		bucket.tokens = burst;
	else
		bucket.tokens += (double)(now - bucket.last) * bw / 1000.0;
	if (bucket.tokens > burst)
		bucket.tokens = burst;
	bucket.last = now;
	if (bucket.tokens >= 0)
		return 0;
	return (uint64_t)(-bucket.tokens * 1000.0 / bw) + 1;
}

void prefetch_charge(uint64_t bytes)
{
	if (cfg.prefetch_bandwidth)
		bucket.tokens -= bytes;
}
