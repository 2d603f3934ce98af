// SPDX-License-Identifier: GPL-2.0
/*
 * A trace of chunks (blob, chunk) turned into profile lines, PATH OFFSET
 * LENGTH (include/nydusfs/record.h).  Each chunk maps to the first regular
 * file, in nid order, whose chunk references name it (a deduplicated chunk
 * used by several files: the first is enough to fetch it), at the slot it
 * fills there; the file's path is the first one the tree walk meets.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "nydusfs/format.h"
#include "nydusfs/record.h"
#include "nydusfs/walk.h"

#define NO_OWNER	UINT32_MAX

struct owner {
	uint32_t nid;
	uint32_t slot;
};

struct recorder {
	const struct nydusfs_image *img;
	struct owner *owners;		/* by index in img->chunks */
	uint8_t *wanted;		/* by nid: a path is needed */
	char **paths;			/* by nid */
	FILE *out;
	struct nydusfs_record_stats *st;
	/* the line being built */
	bool open;
	uint32_t nid;
	uint64_t off, len;
};

/* Chunk @t of the image, quietly NULL if it has none such. */
static const struct nydusfs_chunk *trace_chunk(const struct nydusfs_image *img,
					       const struct nydusfs_trace_chunk *t)
{
	const struct nydusfs_chunk *c;
	const struct nydusfs_blob *b;

	if (t->blob >= img->blob_count || nydusfs_image_blob(img, t->blob, &b) ||
	    t->chunk >= le32_to_cpu(b->chunk_count) ||
	    nydusfs_image_chunk(img, t->blob, t->chunk, &c))
		return NULL;
	return c;
}

/* The first file in nid order using each chunk. */
static int find_owners(struct recorder *r)
{
	const struct nydusfs_image *img = r->img;
	const struct nydusfs_inode *ino;
	const struct nydusfs_chunk *c;
	uint32_t nid, blob, slots;
	uint64_t slot, g;
	int err;

	for (g = 0; g < img->chunk_count; g++)
		r->owners[g].nid = NO_OWNER;
	for (nid = 0; nid < img->inode_count; nid++) {
		err = nydusfs_image_inode(img, nid, &ino);
		if (err)
			return err;
		if (!S_ISREG(le16_to_cpu(ino->mode)))
			continue;
		slots = le32_to_cpu(ino->data_count);
		for (slot = 0; slot < slots; slot++) {
			err = nydusfs_image_file_chunk(img, nid, slot, &blob, &c);
			if (err)
				return err;
			if (!c)
				continue;	/* a hole */
			g = c - img->chunks;
			if (r->owners[g].nid == NO_OWNER) {
				r->owners[g].nid = nid;
				r->owners[g].slot = slot;
			}
		}
	}
	return 0;
}

static int keep_path(void *arg, const struct nydusfs_walk_entry *e)
{
	struct recorder *r = arg;

	if (!e->first || !(r->wanted[e->nid / 8] & (1U << (e->nid % 8))))
		return 0;
	r->paths[e->nid] = strdup(e->path);
	return r->paths[e->nid] ? 0 : -ENOMEM;
}

/* Paths of the files that own a chunk of the trace. */
static int find_paths(struct recorder *r, const struct nydusfs_trace_chunk *v,
		      size_t n)
{
	const struct nydusfs_walk_ops ops = { .enter = keep_path };
	const struct nydusfs_chunk *c;
	uint32_t nid;
	size_t i;

	for (i = 0; i < n; i++) {
		c = trace_chunk(r->img, &v[i]);
		if (!c)
			continue;
		nid = r->owners[c - r->img->chunks].nid;
		if (nid != NO_OWNER)
			r->wanted[nid / 8] |= 1U << (nid % 8);
	}
	return nydusfs_image_walk(r->img, &ops, r);
}

/* PATH as a profile has it: a blank, a control byte or '\' as \xNN. */
static void put_path(FILE *out, const char *path)
{
	unsigned char c;

	for (; (c = *path); path++) {
		if (c <= ' ' || c == 0x7f || c == '\\')
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
}

static void flush_line(struct recorder *r)
{
	const char *path = r->paths[r->nid];

	if (!r->open)
		return;
	r->open = false;
	if (!path) {
		fprintf(r->out, "# nid %u %llu %llu: not in the tree\n",
			r->nid, (unsigned long long)r->off,
			(unsigned long long)r->len);
		return;
	}
	put_path(r->out, path);
	fprintf(r->out, " %llu %llu\n", (unsigned long long)r->off,
		(unsigned long long)r->len);
	r->st->lines++;
	r->st->bytes += r->len;
}

/* One trace entry: extends the open line, or starts the next one. */
static void add_chunk(struct recorder *r, const struct nydusfs_trace_chunk *t,
		      uint8_t *done)
{
	const struct nydusfs_chunk *c;
	const struct owner *o;
	uint64_t g, off;

	c = trace_chunk(r->img, t);
	if (!c) {
		flush_line(r);
		fprintf(r->out, "# blob %u chunk %u: not in the image\n",
			t->blob, t->chunk);
		r->st->unmapped++;
		return;
	}
	g = c - r->img->chunks;
	if (done[g / 8] & (1U << (g % 8))) {
		r->st->repeated++;
		return;
	}
	done[g / 8] |= 1U << (g % 8);
	o = &r->owners[g];
	if (o->nid == NO_OWNER) {
		flush_line(r);
		fprintf(r->out, "# blob %u chunk %u: no regular file uses it\n",
			t->blob, t->chunk);
		r->st->unmapped++;
		return;
	}
	r->st->mapped++;
	off = (uint64_t)o->slot * r->img->chunk_size;
	if (r->open && r->nid == o->nid && r->off + r->len == off) {
		r->len += le32_to_cpu(c->uncompressed_size);
		return;
	}
	flush_line(r);
	r->open = true;
	r->nid = o->nid;
	r->off = off;
	r->len = le32_to_cpu(c->uncompressed_size);
}

static uint64_t count_files(const struct recorder *r)
{
	uint64_t n = 0;
	uint32_t nid;

	for (nid = 0; nid < r->img->inode_count; nid++)
		n += r->paths[nid] != NULL;
	return n;
}

int nydusfs_record_profile(const struct nydusfs_image *img,
			   const struct nydusfs_trace_chunk *trace, size_t n,
			   FILE *out, struct nydusfs_record_stats *st)
{
	struct recorder r = { .img = img, .out = out, .st = st };
	uint8_t *done;
	uint32_t nid;
	size_t i;
	int err;

	memset(st, 0, sizeof(*st));
	st->chunks = n;
	r.owners = calloc(img->chunk_count + 1, sizeof(*r.owners));
	r.wanted = calloc(img->inode_count / 8 + 1, 1);
	r.paths = calloc(img->inode_count + 1, sizeof(*r.paths));
	done = calloc(img->chunk_count / 8 + 1, 1);
	err = r.owners && r.wanted && r.paths && done ? 0 : -ENOMEM;
	if (!err)
		err = find_owners(&r);
	if (!err)
		err = find_paths(&r, trace, n);
	for (i = 0; !err && i < n; i++)
		add_chunk(&r, &trace[i], done);
	if (!err) {
		flush_line(&r);
		st->files = count_files(&r);
		if (fflush(out) || ferror(out))
			err = -EIO;
	}
	for (nid = 0; r.paths && nid < img->inode_count; nid++)
		free(r.paths[nid]);
	free(r.paths);
	free(r.wanted);
	free(r.owners);
	free(done);
	return err;
}
