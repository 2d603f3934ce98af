// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: the order in which a mount's chunks were first asked for
 * (Documentation/nydusfsd.rst, "Recording a startup profile").
 *
 * Every READ the kernel sends names a blob by digest and a range of its
 * chunks; each registered mount whose image names that blob appends the
 * chunks it has not seen yet to its trace: one bit per chunk to know, an
 * array of (blob index in the mount, chunk index) in first-use order, at
 * most [daemon] trace_limit entries.  Only READs are seen: a chunk the kernel
 * already knew to be present (from an OPEN bitmap, or read through another
 * mount before) is never asked for, so each mount also counts the chunks
 * its blobs held in the cache when the trace started.  `nydusfs profile`
 * turns the trace into a profile (tools/nydusfs/cmd_profile.c).
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "nydusfsd.h"

/* Counts the present chunks of one blob once it is open. */
struct tcount {
	struct cwait cw;
	unsigned int mount_id, gen;
	uint32_t blob;
	struct cblob *b;		/* a reference of ours */
};

static uint64_t present_chunks(const struct cblob *b)
{
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < (b->nchunks + 7) / 8; i++)
		n += __builtin_popcount(b->present[i]);
	return n;
}

struct mount_by_id {
	unsigned int id;
	struct mount *m;
};

static void match_id(struct mount *m, void *arg)
{
	struct mount_by_id *f = arg;

	if (m->id == f->id)
		f->m = m;
}

static void count_done(struct cwait *cw, int error)
{
	struct tcount *tc = container_of(cw, struct tcount, cw);
	struct mount_by_id f = { .id = tc->mount_id };

	mounts_foreach(match_id, &f);
	/* the mount may be gone, or registered anew, meanwhile */
	if (f.m && f.m->trace.gen == tc->gen && tc->blob < f.m->nblobs &&
	    f.m->blobs && f.m->blobs[tc->blob] == tc->b) {
		if (!error && tc->b->present)
			f.m->trace.cached_at_start += present_chunks(tc->b);
		f.m->trace.counting--;
	}
	cache_blob_put(tc->b);
	free(tc);
}

/* cached_at_start: what the cache holds of @m's blobs, now or once open. */
static void count_cached(struct mount *m)
{
	struct tcount *tc;
	uint32_t i;

	m->trace.cached_at_start = 0;
	m->trace.counting = 0;
	m->trace.gen++;
	for (i = 0; m->blobs && i < m->nblobs; i++) {
		if (!m->blobs[i])
			continue;
		tc = xzalloc(sizeof(*tc));
		tc->cw.fn = count_done;
		tc->mount_id = m->id;
		tc->gen = m->trace.gen;
		tc->blob = i;
		tc->b = m->blobs[i];
		tc->b->refs++;
		m->trace.counting++;
		cache_blob_wait(tc->b, &tc->cw);
	}
}

static void trace_clear(struct trace *t)
{
	uint32_t i;

	for (i = 0; t->seen && i < t->nblobs; i++)
		free(t->seen[i]);
	free(t->seen);
	free(t->seen_len);
	free(t->v);
	t->seen = NULL;
	t->seen_len = NULL;
	t->v = NULL;
	t->nblobs = t->n = t->cap = 0;
	t->truncated = false;
	t->reads = 0;
	t->since = wall_time();
}

void trace_start(struct mount *m)
{
	trace_clear(&m->trace);
	count_cached(m);
}

void trace_free(struct mount *m)
{
	trace_clear(&m->trace);
}

static void trace_append(struct trace *t, uint32_t blob, uint32_t chunk)
{
	struct trace_entry *v;
	uint32_t cap;

	if (t->n == t->cap) {
		cap = t->cap ? 2 * t->cap : 1024;
		if (cap > cfg.trace_limit)
			cap = cfg.trace_limit;
		v = realloc(t->v, (size_t)cap * sizeof(*v));
		if (!v) {
			err("out of memory");
			abort();
		}
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n].blob = blob;
	t->v[t->n].chunk = chunk;
	t->n++;
}

/* Chunks @index..+@count of blob @blob (of @nblobs) of the mount. */
static void trace_chunks(struct trace *t, uint32_t nblobs, uint32_t blob,
			 uint32_t chunk_count, uint32_t index, uint32_t count)
{
	uint8_t *seen;
	uint32_t i;

	if (!t->seen) {
		t->seen = xzalloc(nblobs * sizeof(*t->seen));
		t->seen_len = xzalloc(nblobs * sizeof(*t->seen_len));
		t->nblobs = nblobs;
	}
	if (blob >= t->nblobs)
		return;
	if (!t->seen[blob]) {
		t->seen[blob] = xzalloc(((size_t)chunk_count + 7) / 8);
		t->seen_len[blob] = chunk_count;
	}
	seen = t->seen[blob];
	for (i = index; i - index < count && i < t->seen_len[blob]; i++) {
		if (chunk_bit(seen, i))
			continue;
		if (t->n >= cfg.trace_limit) {
			t->truncated = true;
			return;
		}
		seen[i / 8] |= 1U << (i % 8);
		trace_append(t, blob, i);
	}
}

struct trace_read {
	const struct nydusfs_dev_blob *db;
	uint32_t index, count;
};

static void trace_mount(struct mount *m, void *arg)
{
	const struct trace_read *r = arg;
	uint32_t i;

	for (i = 0; i < m->nblobs; i++) {
		if (memcmp(m->digests[i], r->db->digest, NYDUSFS_DIGEST_SIZE))
			continue;
		m->trace.reads++;
		trace_chunks(&m->trace, m->nblobs, i, r->db->chunk_count,
			     r->index, r->count);
		return;
	}
}

void trace_read(const struct nydusfs_dev_blob *db, uint32_t index,
		uint32_t count)
{
	struct trace_read r = { .db = db, .index = index, .count = count };

	mounts_foreach(trace_mount, &r);
}

/* Runs of consecutive chunks of one blob: [blob, first chunk, count]. */
static json_t *trace_runs(const struct trace *t)
{
	json_t *runs = json_array();
	uint32_t i, start;

	for (i = 0; i < t->n; i = start) {
		start = i + 1;
		while (start < t->n && t->v[start].blob == t->v[i].blob &&
		       t->v[start].chunk == t->v[start - 1].chunk + 1)
			start++;
		json_array_append_new(runs, json_pack("[I,I,I]",
			(json_int_t)t->v[i].blob, (json_int_t)t->v[i].chunk,
			(json_int_t)(start - i)));
	}
	return runs;
}

void trace_json(const struct mount *m, json_t *o)
{
	const struct trace *t = &m->trace;
	json_t *blobs = json_array();
	char hex[NFD_HEX_LEN];
	uint32_t i;

	for (i = 0; i < m->nblobs; i++) {
		hex_digest(m->digests[i], hex);
		json_array_append_new(blobs, json_string(hex));
	}
	json_object_set_new(o, "mountpoint", json_string(m->mountpoint));
	json_object_set_new(o, "bootstrap", json_string(m->bootstrap));
	json_object_set_new(o, "blobs", blobs);
	json_object_set_new(o, "prefetch", json_boolean(m->prefetch));
	json_object_set_new(o, "prefetch_chunks", json_integer(m->pf_total));
	json_object_set_new(o, "prefetched", json_integer(m->pf_done));
	json_object_set_new(o, "cached_at_start",
			    json_integer(t->cached_at_start));
	json_object_set_new(o, "cache_counted", json_boolean(!t->counting));
	json_object_set_new(o, "since", json_real(t->since));
	json_object_set_new(o, "reads", json_integer(t->reads));
	json_object_set_new(o, "chunks", json_integer(t->n));
	json_object_set_new(o, "limit", json_integer(cfg.trace_limit));
	json_object_set_new(o, "truncated", json_boolean(t->truncated));
	json_object_set_new(o, "runs", trace_runs(t));
}
