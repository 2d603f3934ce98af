// SPDX-License-Identifier: GPL-2.0
/*
 * The chunker: cuts regular files into chunk-sized slots, and on worker
 * threads reads, hole-checks, hashes and compresses each slot.  The main
 * thread takes the results strictly in the order they were queued (a
 * startup profile's slots first, then every other slot, file by file), so
 * dedup and the blob's byte order do not depend on thread timing: the
 * output is reproducible.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "nydusfs/build.h"
#include "nydusfs/compress.h"
#include "nydusfs/err.h"
#include "nydusfs/log.h"

enum job_state { JOB_FREE, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct chunk_job {
	enum job_state state;
	uint32_t file;		/* index in the chunker's node array */
	uint64_t slot;
	uint32_t len;
	int err;
	bool hole;
	unsigned int compressor;
	size_t clen;
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	uint8_t *data;
	uint8_t *cdata;
};

struct chunker {
	const struct nydusfs_chunker_opts *opts;
	struct nydusfs_node **nodes;
	uint32_t count;
	uint32_t chunk_size;
	size_t cbound;

	pthread_mutex_t lock;
	pthread_cond_t work_cond;	/* a job was queued, or stop */
	pthread_cond_t done_cond;	/* a job finished */
	struct chunk_job *ring;
	unsigned int ring_size;
	uint64_t queued;		/* jobs handed to the ring so far */
	uint64_t picked;		/* jobs taken by workers so far */
	bool stop;

	/* the producer's cursor: opts->first, then every slot in order */
	size_t first_next;
	uint32_t pfile;
	uint64_t pslot;
	uint8_t **early;		/* per file, bit per slot: cut first */

	/* the blob being written (main thread only) */
	int blob_fd;
	EVP_MD_CTX *blob_md;
	uint8_t *wbuf;
	size_t wbuf_len;
};

#define CHUNKER_WBUF_SIZE	(1U << 20)

static uint64_t node_slots(const struct chunker *c,
			   const struct nydusfs_node *node)
{
	return NYDUSFS_DIV_ROUND_UP(node->size, (uint64_t)c->chunk_size);
}

static int job_open(struct chunker *c, const struct nydusfs_node *node,
		    int *fd, uint64_t *base)
{
	if (node->source == NYDUSFS_DATA_SPOOL) {
		*fd = c->opts->spool_fd;
		*base = node->spool_off;
		return 0;
	}
	*base = 0;
	*fd = nydusfs_open_path(node->src_path, O_RDONLY | O_NOFOLLOW);
	if (*fd < 0) {
		nydusfs_err("%s: %s", node->src_path, strerror(-*fd));
		return *fd;
	}
	return 0;
}

static bool is_zero(const uint8_t *p, size_t len)
{
	return !len || (!p[0] && !memcmp(p, p + 1, len - 1));
}

/* Is [off, off + len) entirely inside a hole of @fd? */
static bool range_is_hole(int fd, uint64_t off, uint32_t len)
{
	off_t data = lseek(fd, off, SEEK_DATA);

	if (data < 0)
		return errno == ENXIO;
	return (uint64_t)data >= off + len;
}

static int job_read(struct chunker *c, struct chunk_job *job, int fd,
		    uint64_t base)
{
	const struct nydusfs_node *node = c->nodes[job->file];
	uint64_t off = base + job->slot * c->chunk_size;
	size_t done = 0;
	ssize_t n;

	while (done < job->len) {
		n = pread(fd, job->data + done, job->len - done, off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			nydusfs_err("%s: %s", node->src_path ? node->src_path :
				    "spool", n < 0 ? strerror(errno) :
				    "file shrank while it was being read");
			return n < 0 ? -errno : -EIO;
		}
		done += n;
	}
	return 0;
}

static int job_compress(struct chunker *c, struct chunk_job *job)
{
	unsigned int compr = c->opts->build->compressor;
	int err;

	job->compressor = NYDUSFS_COMPR_NONE;
	job->clen = job->len;
	if (compr == NYDUSFS_COMPR_NONE)
		return 0;
	err = nydusfs_compress(compr, c->opts->build->level, job->data,
			       job->len, job->cdata, c->cbound, &job->clen);
	if (err)
		return err;
	if (job->clen >= job->len)	/* incompressible: store it raw */
		job->clen = job->len;
	else
		job->compressor = compr;
	return 0;
}

static int job_run(struct chunker *c, struct chunk_job *job)
{
	const struct nydusfs_node *node = c->nodes[job->file];
	uint64_t base;
	int fd, err;

	err = job_open(c, node, &fd, &base);
	if (err)
		return err;
	job->hole = range_is_hole(fd, base + job->slot * c->chunk_size,
				  job->len);
	if (!job->hole)
		err = job_read(c, job, fd, base);
	if (fd != c->opts->spool_fd)
		close(fd);
	if (err || job->hole)
		return err;
	if (is_zero(job->data, job->len)) {
		job->hole = true;
		return 0;
	}
	err = nydusfs_sha256(job->data, job->len, job->digest);
	if (!err)
		err = job_compress(c, job);
	return err;
}

static void *chunker_worker(void *arg)
{
	struct chunker *c = arg;
	struct chunk_job *job;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->stop && c->picked == c->queued)
			pthread_cond_wait(&c->work_cond, &c->lock);
		if (c->stop)
			break;
		job = &c->ring[c->picked++ % c->ring_size];
		job->state = JOB_RUNNING;
		pthread_mutex_unlock(&c->lock);

		job->err = job_run(c, job);

		pthread_mutex_lock(&c->lock);
		job->state = JOB_DONE;
		pthread_cond_broadcast(&c->done_cond);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static int blob_flush(struct chunker *c)
{
	size_t done = 0;
	ssize_t n;

	while (done < c->wbuf_len) {
		n = write(c->blob_fd, c->wbuf + done, c->wbuf_len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			nydusfs_err("writing blob: %s", strerror(errno));
			return -errno;
		}
		done += n;
	}
	c->wbuf_len = 0;
	return 0;
}

static int blob_append(struct chunker *c, const uint8_t *p, size_t len)
{
	size_t n;
	int err;

	if (!EVP_DigestUpdate(c->blob_md, p, len))
		return -EIO;
	while (len) {
		if (c->wbuf_len == CHUNKER_WBUF_SIZE) {
			err = blob_flush(c);
			if (err)
				return err;
		}
		n = CHUNKER_WBUF_SIZE - c->wbuf_len;
		if (n > len)
			n = len;
		memcpy(c->wbuf + c->wbuf_len, p, n);
		c->wbuf_len += n;
		p += n;
		len -= n;
	}
	return 0;
}

static int blob_add_chunk(struct chunker *c, struct nydusfs_new_blob *blob,
			  const struct chunk_job *job)
{
	struct nydusfs_chunk *ck;
	const uint8_t *bytes = job->compressor == NYDUSFS_COMPR_NONE ?
			       job->data : job->cdata;
	int err;

	if (blob->chunk_count == blob->chunk_cap) {
		uint32_t cap = blob->chunk_cap ? blob->chunk_cap * 2 : 256;

		ck = realloc(blob->chunks, cap * sizeof(*ck));
		if (!ck)
			return -ENOMEM;
		blob->chunks = ck;
		blob->chunk_cap = cap;
	}
	err = blob_append(c, bytes, job->clen);
	if (err)
		return err;
	ck = &blob->chunks[blob->chunk_count];
	memset(ck, 0, sizeof(*ck));
	ck->compressed_offset = cpu_to_le64(blob->compressed_size);
	ck->compressed_size = cpu_to_le32(job->clen);
	ck->uncompressed_offset = cpu_to_le64(blob->uncompressed_size);
	ck->uncompressed_size = cpu_to_le32(job->len);
	ck->compressor = job->compressor;
	memcpy(ck->digest, job->digest, NYDUSFS_DIGEST_SIZE);
	blob->compressed_size += job->clen;
	blob->uncompressed_size += NYDUSFS_ROUND_UP((uint64_t)job->len,
						    NYDUSFS_BLKSZ);
	return nydusfs_chunk_index_add(c->opts->index, job->digest,
				       NYDUSFS_BLOB_NEW,
				       blob->chunk_count++);
}

/* Take one finished job, in slot order: dedup it and record its ref. */
static int chunker_consume(struct chunker *c, struct nydusfs_new_blob *blob,
			   const struct chunk_job *job, uint8_t **slot_digests)
{
	struct nydusfs_node *node = c->nodes[job->file];
	struct nydusfs_chunk_ref *ref = &node->refs[job->slot];
	uint8_t *digest = slot_digests[job->file] +
			  job->slot * NYDUSFS_DIGEST_SIZE;
	uint32_t b, ck;
	int err;

	if (job->err)
		return job->err;
	if (job->hole) {
		ref->blob_index = NYDUSFS_CHUNK_HOLE;
		ref->chunk_index = 0;
		memset(digest, 0, NYDUSFS_DIGEST_SIZE);
		return 0;
	}
	memcpy(digest, job->digest, NYDUSFS_DIGEST_SIZE);
	node->blocks += NYDUSFS_DIV_ROUND_UP(job->len, NYDUSFS_BLKSZ) *
			(NYDUSFS_BLKSZ / 512);
	if (nydusfs_chunk_index_find(c->opts->index, job->digest, &b, &ck)) {
		err = blob_add_chunk(c, blob, job);
		if (err)
			return err;
		b = NYDUSFS_BLOB_NEW;
		ck = blob->chunk_count - 1;
	}
	ref->blob_index = b;
	ref->chunk_index = ck;
	return 0;
}

static void queue_job(struct chunker *c, uint32_t file, uint64_t slot)
{
	const struct nydusfs_node *node = c->nodes[file];
	struct chunk_job *job = &c->ring[c->queued % c->ring_size];
	uint64_t left = node->size - slot * c->chunk_size;

	job->file = file;
	job->slot = slot;
	job->len = left < c->chunk_size ? left : c->chunk_size;
	job->err = 0;
	job->hole = false;
	pthread_mutex_lock(&c->lock);
	job->state = JOB_QUEUED;
	c->queued++;
	pthread_cond_signal(&c->work_cond);
	pthread_mutex_unlock(&c->lock);
}

/* Wait for job @seq and return it. */
static struct chunk_job *wait_job(struct chunker *c, uint64_t seq)
{
	struct chunk_job *job = &c->ring[seq % c->ring_size];

	pthread_mutex_lock(&c->lock);
	while (job->state != JOB_DONE)
		pthread_cond_wait(&c->done_cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
	return job;
}

static bool test_and_set_early(struct chunker *c, uint32_t file,
			       uint64_t slot)
{
	uint8_t *bits = c->early[file], bit = 1U << (slot % 8);
	bool was = bits[slot / 8] & bit;

	bits[slot / 8] |= bit;
	return was;
}

/* The next slot to cut: the profile's first, then the rest in order. */
static bool next_slot(struct chunker *c, uint32_t *file, uint64_t *slot)
{
	const struct nydusfs_chunk_slot *f;

	while (c->first_next < c->opts->first_count) {
		f = &c->opts->first[c->first_next++];
		if (f->file >= c->count ||
		    f->slot >= node_slots(c, c->nodes[f->file]) ||
		    test_and_set_early(c, f->file, f->slot))
			continue;
		*file = f->file;
		*slot = f->slot;
		return true;
	}
	while (c->pfile < c->count) {
		if (c->pslot >= node_slots(c, c->nodes[c->pfile])) {
			c->pfile++;
			c->pslot = 0;
			continue;
		}
		*slot = c->pslot++;
		*file = c->pfile;
		if (c->early && c->early[*file][*slot / 8] & (1U << (*slot % 8)))
			continue;
		return true;
	}
	return false;
}

static int chunker_pipeline(struct chunker *c, struct nydusfs_new_blob *blob,
			    uint8_t **slot_digests)
{
	bool more = true;
	uint64_t seq = 0, slot;
	struct chunk_job *job;
	uint32_t file;
	int err;

	for (;;) {
		while (more && c->queued - seq < c->ring_size) {
			more = next_slot(c, &file, &slot);
			if (more)
				queue_job(c, file, slot);
		}
		if (seq == c->queued)
			return 0;
		job = wait_job(c, seq);
		err = chunker_consume(c, blob, job, slot_digests);
		if (err)
			return err;
		job->state = JOB_FREE;
		seq++;
	}
}

static int chunker_alloc(struct chunker *c, unsigned int jobs)
{
	unsigned int i;

	c->cbound = nydusfs_compress_bound(c->opts->build->compressor,
					   c->chunk_size);
	c->ring_size = 4 * jobs + 4;
	c->ring = calloc(c->ring_size, sizeof(*c->ring));
	c->wbuf = malloc(CHUNKER_WBUF_SIZE);
	c->blob_md = EVP_MD_CTX_new();
	if (!c->ring || !c->wbuf || !c->blob_md)
		return -ENOMEM;
	for (i = 0; i < c->ring_size; i++) {
		c->ring[i].data = malloc(c->chunk_size);
		c->ring[i].cdata = malloc(c->cbound);
		if (!c->ring[i].data || !c->ring[i].cdata)
			return -ENOMEM;
	}
	if (!EVP_DigestInit_ex(c->blob_md, EVP_sha256(), NULL))
		return -EIO;
	return 0;
}

static void chunker_free(struct chunker *c)
{
	unsigned int i;

	for (i = 0; c->ring && i < c->ring_size; i++) {
		free(c->ring[i].data);
		free(c->ring[i].cdata);
	}
	free(c->ring);
	free(c->wbuf);
	for (i = 0; c->early && i < c->count; i++)
		free(c->early[i]);
	free(c->early);
	EVP_MD_CTX_free(c->blob_md);
}

static int chunker_alloc_refs(struct chunker *c, uint8_t **slot_digests)
{
	uint32_t i;
	uint64_t n;

	if (c->opts->first_count) {
		c->early = calloc(c->count + 1, sizeof(*c->early));
		if (!c->early)
			return -ENOMEM;
	}
	for (i = 0; i < c->count; i++) {
		n = node_slots(c, c->nodes[i]);
		if (c->early) {
			c->early[i] = calloc(n / 8 + 1, 1);
			if (!c->early[i])
				return -ENOMEM;
		}
		c->nodes[i]->blocks = 0;
		c->nodes[i]->refs = calloc(n ? n : 1,
					   sizeof(*c->nodes[i]->refs));
		slot_digests[i] = calloc(n ? n : 1, NYDUSFS_DIGEST_SIZE);
		if (!c->nodes[i]->refs || !slot_digests[i])
			return -ENOMEM;
	}
	return 0;
}

static int blob_open(struct chunker *c, struct nydusfs_new_blob *blob)
{
	if (asprintf(&blob->tmp_path, "%s/.tmp-blob-%d", c->opts->blob_dir,
		     (int)getpid()) < 0) {
		blob->tmp_path = NULL;
		return -ENOMEM;
	}
	c->blob_fd = open(blob->tmp_path, O_WRONLY | O_CREAT | O_TRUNC |
			  O_CLOEXEC, 0644);
	if (c->blob_fd < 0) {
		nydusfs_err("%s: %s", blob->tmp_path, strerror(errno));
		return -errno;
	}
	return 0;
}

static int blob_close(struct chunker *c, struct nydusfs_new_blob *blob,
		      int err)
{
	unsigned int len = NYDUSFS_DIGEST_SIZE;

	if (!err)
		err = blob_flush(c);
	if (!err && fsync(c->blob_fd)) {
		nydusfs_err("writing blob: %s", strerror(errno));
		err = -errno;
	}
	if (close(c->blob_fd) && !err) {
		nydusfs_err("writing blob: %s", strerror(errno));
		err = -errno;
	}
	if (!err && !EVP_DigestFinal_ex(c->blob_md, blob->digest, &len))
		err = -EIO;
	return err;
}

int nydusfs_chunker_run(const struct nydusfs_chunker_opts *opts,
			struct nydusfs_node **nodes, uint32_t count,
			struct nydusfs_new_blob *blob, uint8_t **slot_digests)
{
	struct chunker c = {
		.opts = opts, .nodes = nodes, .count = count,
		.chunk_size = 1U << opts->build->chunkszbits, .blob_fd = -1,
	};
	unsigned int jobs = opts->build->jobs ? opts->build->jobs : 1, i;
	pthread_t *threads = calloc(jobs, sizeof(*threads));
	unsigned int started = 0;
	int err;

	pthread_mutex_init(&c.lock, NULL);
	pthread_cond_init(&c.work_cond, NULL);
	pthread_cond_init(&c.done_cond, NULL);
	err = threads ? chunker_alloc(&c, jobs) : -ENOMEM;
	if (!err)
		err = chunker_alloc_refs(&c, slot_digests);
	if (!err)
		err = blob_open(&c, blob);
	for (i = 0; !err && i < jobs; i++, started++)
		err = -pthread_create(&threads[i], NULL, chunker_worker, &c);
	if (!err)
		err = chunker_pipeline(&c, blob, slot_digests);

	pthread_mutex_lock(&c.lock);
	c.stop = true;
	pthread_cond_broadcast(&c.work_cond);
	pthread_mutex_unlock(&c.lock);
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	if (c.blob_fd >= 0)
		err = blob_close(&c, blob, err);
	chunker_free(&c);
	free(threads);
	pthread_cond_destroy(&c.done_cond);
	pthread_cond_destroy(&c.work_cond);
	pthread_mutex_destroy(&c.lock);
	return err;
}
