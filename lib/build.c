// SPDX-License-Identifier: GPL-2.0
/*
 * The builder: numbers the tree's inodes, runs the chunker over file data,
 * lays out the metadata regions and writes OUTDIR/bootstrap and the new
 * blob OUTDIR/blobs/<sha256 hex>.  Everything is written to temporary
 * names first and renamed at the end; on failure nothing partial is left.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nydusfs/build.h"
#include "nydusfs/err.h"
#include "nydusfs/image.h"
#include "nydusfs/log.h"
#include "nydusfs/merkle.h"

/* A growable byte buffer: one per metadata region. */
struct region_buf {
	uint8_t *p;
	uint64_t len, cap;
};

struct builder {
	const struct nydusfs_build_opts *opts;
	struct nydusfs_tree *tree;
	uint32_t chunk_size;

	struct nydusfs_node **nodes;	/* by nid */
	uint32_t count, cap;
	uint8_t **slot_digests;		/* by nid, regular files only */

	struct nydusfs_image *dict;
	uint32_t *dict_blob_map;	/* dict blob -> final index, or ~0 */
	uint32_t dict_count;		/* blobs in the dictionary */
	uint32_t new_blob_index;	/* final index of the new blob */
	struct nydusfs_chunk_index *index;
	struct nydusfs_new_blob blob;
	uint32_t feature_incompat;
	uint32_t feature_compat;

	struct region_buf regions[NYDUSFS_REGION_COUNT];
	struct region_buf pranges;	/* struct nydusfs_prefetch_range[] */

	/* the startup profile, resolved against the tree */
	struct nydusfs_chunk_slot *first;	/* .file is a nid here */
	size_t first_count, first_cap;
	struct nydusfs_node **profile_paths;	/* whole-path entries */
	uint32_t profile_path_count;
	char *blob_dir;
	char *blob_path;		/* the final blob, once renamed */
	char *tmp_bootstrap;
};

static int rbuf_reserve(struct region_buf *rb, uint64_t len, void **out)
{
	uint64_t cap = rb->cap ? rb->cap : 4096;
	uint8_t *p;

	while (cap < rb->len + len)
		cap *= 2;
	if (cap != rb->cap) {
		p = realloc(rb->p, cap);
		if (!p)
			return -ENOMEM;
		rb->p = p;
		rb->cap = cap;
	}
	*out = rb->p + rb->len;
	memset(*out, 0, len);
	rb->len += len;
	return 0;
}

/* Add bytes to the string region; @nocross keeps them inside one block. */
static int strings_add(struct builder *b, const void *data, size_t len,
		       bool nocross, uint32_t *off)
{
	struct region_buf *rb = &b->regions[NYDUSFS_REGION_STRINGS];
	uint64_t in_block = rb->len % NYDUSFS_BLKSZ;
	void *dst;
	int err;

	if (nocross && in_block + len > NYDUSFS_BLKSZ) {
		err = rbuf_reserve(rb, NYDUSFS_BLKSZ - in_block, &dst);
		if (err)
			return err;
	}
	if (rb->len + len > UINT32_MAX) {
		nydusfs_err("string region over 4 GiB");
		return -EFBIG;
	}
	*off = rb->len;
	err = rbuf_reserve(rb, len, &dst);
	if (!err && len)
		memcpy(dst, data, len);
	return err;
}

static int dentry_cmp(const void *a, const void *b)
{
	const struct nydusfs_dentry *x = a, *y = b;
	size_t lx = strlen(x->name), ly = strlen(y->name);
	int r = memcmp(x->name, y->name, lx < ly ? lx : ly);

	if (r)
		return r;
	return lx < ly ? -1 : lx > ly;
}

static int xattr_cmp(const void *a, const void *b)
{
	const struct nydusfs_xattr_kv *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int builder_add_node(struct builder *b, struct nydusfs_node *node)
{
	struct nydusfs_node **nodes;

	if (b->count == UINT32_MAX - 1)
		return -EFBIG;
	if (b->count == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 1024;
		nodes = realloc(b->nodes, b->cap * sizeof(*nodes));
		if (!nodes)
			return -ENOMEM;
		b->nodes = nodes;
	}
	node->nid = b->count;
	node->nid_assigned = true;
	node->refcount = 0;
	b->nodes[b->count++] = node;
	return 0;
}

/*
 * Number the inodes breadth first, children in name order.  A child
 * directory therefore always has a larger nid than its parent, which is
 * the invariant that lets readers rule out loops.
 */
static int assign_nids(struct builder *b)
{
	struct nydusfs_node *dir, *child;
	uint32_t head, i;
	int err;

	for (i = 0; i < b->count; i++)
		b->nodes[i]->nid_assigned = false;
	b->count = 0;
	err = builder_add_node(b, b->tree->root);
	b->tree->root->parent = b->tree->root;
	for (head = 0; !err && head < b->count; head++) {
		dir = b->nodes[head];
		if (!S_ISDIR(dir->mode))
			continue;
		if (dir->child_count)
			qsort(dir->children, dir->child_count,
			      sizeof(*dir->children), dentry_cmp);
		dir->nlink = 2;
		for (i = 0; !err && i < dir->child_count; i++) {
			child = dir->children[i].node;
			if (!child->nid_assigned)
				err = builder_add_node(b, child);
			child->refcount++;
			if (S_ISDIR(child->mode)) {
				child->parent = dir;
				dir->nlink++;
			}
		}
	}
	return err;
}

static int check_node(const struct nydusfs_node *node)
{
	size_t len;

	if (S_ISLNK(node->mode)) {
		len = node->symlink ? strlen(node->symlink) : 0;
		if (!len || len > NYDUSFS_SYMLINK_MAX)
			return -ENAMETOOLONG;
	}
	if (S_ISDIR(node->mode) && node->refcount > 1)
		return -EMLINK;
	if (node->mtime_nsec >= 1000000000U)
		return -EINVAL;
	return nydusfs_mode_to_ft(node->mode) == NYDUSFS_FT_UNKNOWN ?
	       -EINVAL : 0;
}

static const char *node_label(const struct nydusfs_node *node)
{
	return node->src_path ? node->src_path : "(tree entry)";
}

static int check_nodes(struct builder *b)
{
	uint32_t i;
	int err;

	for (i = 0; i < b->count; i++) {
		err = check_node(b->nodes[i]);
		if (err) {
			nydusfs_err("nid %u %s: cannot be stored: %s", i,
				    node_label(b->nodes[i]), strerror(-err));
			return err;
		}
	}
	return 0;
}

/* Index every chunk of the dictionary bootstrap by digest. */
static int load_chunk_dict(struct builder *b)
{
	const struct nydusfs_blob *blob;
	const struct nydusfs_chunk *ck;
	uint32_t i, j;
	int err;

	if (!b->opts->chunk_dict)
		return 0;
	err = nydusfs_image_open(b->opts->chunk_dict, &b->dict);
	if (err) {
		nydusfs_err("chunk dictionary %s: %s", b->opts->chunk_dict,
			    strerror(-err));
		return err;
	}
	b->dict_count = b->dict->blob_count;
	b->dict_blob_map = malloc((b->dict->blob_count + 1) * sizeof(uint32_t));
	if (!b->dict_blob_map)
		return -ENOMEM;
	for (i = 0; i < b->dict->blob_count; i++) {
		b->dict_blob_map[i] = ~0U;
		err = nydusfs_image_blob(b->dict, i, &blob);
		for (j = 0; !err && j < le32_to_cpu(blob->chunk_count); j++) {
			err = nydusfs_image_chunk(b->dict, i, j, &ck);
			if (!err)
				err = nydusfs_chunk_index_add(b->index,
							      ck->digest, i, j);
		}
		if (err) {
			nydusfs_err("chunk dictionary %s: blob %u: %s",
				    b->opts->chunk_dict, i, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* ---- the startup profile ---- */

static int first_add(struct builder *b, uint32_t nid, uint64_t slot)
{
	struct nydusfs_chunk_slot *f;

	if (b->first_count == b->first_cap) {
		b->first_cap = b->first_cap ? 2 * b->first_cap : 256;
		f = realloc(b->first, b->first_cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		b->first = f;
	}
	b->first[b->first_count].file = nid;
	b->first[b->first_count].slot = slot;
	b->first_count++;
	return 0;
}

/* Slots of a regular file covering [off, off + len); len 0: all of it. */
static int first_add_file(struct builder *b, struct nydusfs_node *node,
			  uint64_t off, uint64_t len)
{
	uint64_t end = len && off + len < node->size ? off + len : node->size;
	uint64_t s;
	int err = 0;

	for (s = off / b->chunk_size; !err && s * b->chunk_size < end; s++)
		err = first_add(b, node->nid, s);
	return err;
}

/* Every regular file under @dir, breadth first, children in name order. */
static int first_add_tree(struct builder *b, struct nydusfs_node *dir)
{
	struct nydusfs_node **queue = malloc(b->count * sizeof(*queue)), *n;
	uint8_t *queued = calloc(b->count / 8 + 1, 1);
	uint32_t i, nid, head = 0, tail = 0;
	int err = 0;

	if (!queue || !queued) {
		free(queue);
		free(queued);
		return -ENOMEM;
	}
	queue[tail++] = dir;
	while (!err && head < tail) {
		n = queue[head++];
		if (S_ISREG(n->mode))
			err = first_add_file(b, n, 0, 0);
		for (i = 0; S_ISDIR(n->mode) && i < n->child_count; i++) {
			nid = n->children[i].node->nid;
			if (queued[nid / 8] & (1U << (nid % 8)))
				continue;	/* a hard link seen already */
			queued[nid / 8] |= 1U << (nid % 8);
			queue[tail++] = n->children[i].node;
		}
	}
	free(queue);
	free(queued);
	return err;
}

static int profile_path_add(struct builder *b, struct nydusfs_node *node)
{
	struct nydusfs_node **p;

	p = realloc(b->profile_paths,
		    (b->profile_path_count + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	b->profile_paths = p;
	p[b->profile_path_count++] = node;
	return 0;
}

static int resolve_entry(struct builder *b, const struct nydusfs_profile *p,
			 const struct nydusfs_profile_entry *e)
{
	struct nydusfs_node *node = b->tree->root;
	int err = 0;

	if (*e->path)
		err = nydusfs_tree_lookup(b->tree, e->path, &node);
	if (err == -ENOENT || err == -ENOTDIR) {
		nydusfs_warn("%s:%u: /%s is not in the image (skipped)",
			     p->label, e->line, e->path);
		return 0;
	}
	if (err)
		return err;
	if (e->len && !S_ISREG(node->mode)) {
		nydusfs_warn("%s:%u: /%s is not a regular file: a range of it means nothing (skipped)",
			     p->label, e->line, e->path);
		return 0;
	}
	if (e->len && e->off >= node->size) {
		nydusfs_warn("%s:%u: /%s: offset %llu is past its end (%llu bytes; skipped)",
			     p->label, e->line, e->path,
			     (unsigned long long)e->off,
			     (unsigned long long)node->size);
		return 0;
	}
	if (e->len)
		return first_add_file(b, node, e->off, e->len);
	err = profile_path_add(b, node);
	if (!err)
		err = S_ISREG(node->mode) ? first_add_file(b, node, 0, 0) :
		      first_add_tree(b, node);
	return err;
}

static int resolve_profile(struct builder *b)
{
	const struct nydusfs_profile *p = b->opts->profile;
	unsigned int i;
	int err = 0;

	for (i = 0; p && !err && i < p->count; i++)
		err = resolve_entry(b, p, &p->entries[i]);
	if (err)
		nydusfs_err("profile %s: %s", p->label, strerror(-err));
	return err;
}

static int run_chunker(struct builder *b)
{
	struct nydusfs_chunker_opts co = {
		.build = b->opts, .spool_fd = b->tree->spool_fd,
		.blob_dir = b->blob_dir, .index = b->index,
		.first = b->first, .first_count = b->first_count,
	};
	struct nydusfs_node **files = malloc((b->count + 1) * sizeof(*files));
	uint8_t **digests = calloc(b->count + 1, sizeof(*digests));
	uint32_t *file_of = malloc((b->count + 1) * sizeof(*file_of));
	struct nydusfs_chunk_slot *first = NULL;
	uint32_t i, n = 0;
	size_t k;
	int err = -ENOMEM;

	b->slot_digests = calloc(b->count, sizeof(*b->slot_digests));
	if (b->first_count)
		first = malloc(b->first_count * sizeof(*first));
	if (files && digests && file_of && b->slot_digests &&
	    (first || !b->first_count)) {
		for (i = 0; i < b->count; i++) {
			file_of[i] = n;
			if (S_ISREG(b->nodes[i]->mode))
				files[n++] = b->nodes[i];
		}
		for (k = 0; k < b->first_count; k++) {
			first[k].file = file_of[b->first[k].file];
			first[k].slot = b->first[k].slot;
		}
		co.first = first;
		err = nydusfs_chunker_run(&co, files, n, &b->blob, digests);
		for (i = 0; i < n; i++)
			b->slot_digests[files[i]->nid] = digests[i];
	}
	free(files);
	free(digests);
	free(file_of);
	free(first);
	return err;
}

/* Give used dictionary blobs their final indices, the new blob the last. */
static void assign_blob_indices(struct builder *b)
{
	uint32_t i, next = 0;
	uint64_t s, nslots;
	struct nydusfs_chunk_ref *ref;

	for (i = 0; i < b->count; i++) {
		if (!S_ISREG(b->nodes[i]->mode))
			continue;
		nslots = NYDUSFS_DIV_ROUND_UP(b->nodes[i]->size,
					      (uint64_t)b->chunk_size);
		for (s = 0; s < nslots; s++) {
			ref = &b->nodes[i]->refs[s];
			if (ref->blob_index < NYDUSFS_BLOB_NEW)
				b->dict_blob_map[ref->blob_index] = 0;
		}
	}
	for (i = 0; b->dict && i < b->dict->blob_count; i++)
		if (b->dict_blob_map[i] == 0)
			b->dict_blob_map[i] = next++;
	b->new_blob_index = next;
	if (next)
		b->feature_compat |= NYDUSFS_FEATURE_COMPAT_CHUNK_DICT;
}

static int final_blob_index(const struct builder *b, uint32_t provisional)
{
	if (provisional == NYDUSFS_CHUNK_HOLE)
		return NYDUSFS_CHUNK_HOLE;
	if (provisional == NYDUSFS_BLOB_NEW)
		return b->new_blob_index;
	return b->dict_blob_map[provisional];
}

static void note_compressor(struct builder *b, unsigned int compressor)
{
	if (compressor == NYDUSFS_COMPR_LZ4)
		b->feature_incompat |= NYDUSFS_FEATURE_INCOMPAT_LZ4;
	else if (compressor == NYDUSFS_COMPR_ZSTD)
		b->feature_incompat |= NYDUSFS_FEATURE_INCOMPAT_ZSTD;
}

static int emit_blob(struct builder *b, const struct nydusfs_blob *src,
		     const struct nydusfs_chunk *chunks, uint32_t count)
{
	struct region_buf *rc = &b->regions[NYDUSFS_REGION_CHUNKS];
	struct nydusfs_blob *dblob;
	void *dst;
	uint32_t i;
	int err;

	err = rbuf_reserve(&b->regions[NYDUSFS_REGION_BLOBS], sizeof(*dblob),
			   (void **)&dblob);
	if (err)
		return err;
	*dblob = *src;
	dblob->chunk_index = cpu_to_le32(rc->len / sizeof(*chunks));
	dblob->chunk_count = cpu_to_le32(count);
	memset(dblob->reserved, 0, sizeof(dblob->reserved));
	err = rbuf_reserve(rc, (uint64_t)count * sizeof(*chunks), &dst);
	if (err)
		return err;
	memcpy(dst, chunks, (size_t)count * sizeof(*chunks));
	for (i = 0; i < count; i++)
		note_compressor(b, chunks[i].compressor);
	return 0;
}

static int emit_blobs(struct builder *b)
{
	const struct nydusfs_blob *dblob;
	const struct nydusfs_chunk *first;
	struct nydusfs_blob nb = {};
	uint32_t i;
	int err;

	for (i = 0; b->dict && i < b->dict->blob_count; i++) {
		if (b->dict_blob_map[i] == ~0U)
			continue;
		err = nydusfs_image_blob(b->dict, i, &dblob);
		if (err)
			return err;
		first = b->dict->chunks + le32_to_cpu(dblob->chunk_index);
		err = emit_blob(b, dblob, first,
				le32_to_cpu(dblob->chunk_count));
		if (err)
			return err;
	}
	if (!b->blob.chunk_count)
		return 0;
	memcpy(nb.digest, b->blob.digest, NYDUSFS_DIGEST_SIZE);
	nb.compressed_size = cpu_to_le64(b->blob.compressed_size);
	nb.uncompressed_size = cpu_to_le64(b->blob.uncompressed_size);
	return emit_blob(b, &nb, b->blob.chunks, b->blob.chunk_count);
}

static int node_digest(struct builder *b, struct nydusfs_node *node)
{
	struct nydusfs_merkle_entry *ents;
	uint64_t nslots;
	uint32_t i;
	int err;

	switch (node->mode & S_IFMT) {
	case S_IFREG:
		nslots = NYDUSFS_DIV_ROUND_UP(node->size,
					      (uint64_t)b->chunk_size);
		return nydusfs_merkle_file(node->size,
					   b->slot_digests[node->nid], nslots,
					   node->digest);
	case S_IFLNK:
		return nydusfs_merkle_symlink(node->symlink,
					      strlen(node->symlink),
					      node->digest);
	case S_IFDIR:
		break;
	default:
		return nydusfs_merkle_special(node->mode, node->rdev,
					      node->digest);
	}
	ents = calloc(node->child_count + 1, sizeof(*ents));
	if (!ents)
		return -ENOMEM;
	for (i = 0; i < node->child_count; i++) {
		ents[i].name = node->children[i].name;
		ents[i].name_len = strlen(node->children[i].name);
		ents[i].mode = node->children[i].node->mode;
		ents[i].digest = node->children[i].node->digest;
	}
	err = nydusfs_merkle_dir(ents, node->child_count, node->digest);
	free(ents);
	return err;
}

/* Files first, then directories deepest (largest nid) first. */
static int compute_digests(struct builder *b)
{
	uint32_t i;
	int err;

	for (i = 0; i < b->count; i++) {
		if (S_ISDIR(b->nodes[i]->mode))
			continue;
		err = node_digest(b, b->nodes[i]);
		if (err)
			return err;
	}
	for (i = b->count; i-- > 0;) {
		if (!S_ISDIR(b->nodes[i]->mode))
			continue;
		err = node_digest(b, b->nodes[i]);
		if (err)
			return err;
	}
	return 0;
}

static int emit_xattrs(struct builder *b, struct nydusfs_node *node,
		       struct nydusfs_inode *di)
{
	struct region_buf *rx = &b->regions[NYDUSFS_REGION_XATTRS];
	struct nydusfs_xattr *dx;
	uint32_t i, noff, voff;
	size_t nlen;
	int err;

	if (node->xattr_count)
		qsort(node->xattrs, node->xattr_count, sizeof(*node->xattrs),
		      xattr_cmp);
	di->xattr_index = cpu_to_le32(rx->len / sizeof(*dx));
	di->xattr_count = cpu_to_le32(node->xattr_count);
	for (i = 0; i < node->xattr_count; i++) {
		nlen = strlen(node->xattrs[i].name);
		if (!nlen || nlen > NYDUSFS_NAME_MAX ||
		    node->xattrs[i].value_len > NYDUSFS_XATTR_VALUE_MAX)
			return -ERANGE;
		err = strings_add(b, node->xattrs[i].name, nlen, true, &noff);
		if (!err)
			err = strings_add(b, node->xattrs[i].value,
					  node->xattrs[i].value_len, false,
					  &voff);
		if (!err)
			err = rbuf_reserve(rx, sizeof(*dx), (void **)&dx);
		if (err)
			return err;
		dx->name_off = cpu_to_le32(noff);
		dx->value_off = cpu_to_le32(voff);
		dx->name_len = nlen;
		dx->value_len = cpu_to_le32(node->xattrs[i].value_len);
	}
	return 0;
}

static int emit_dir(struct builder *b, struct nydusfs_node *node,
		    struct nydusfs_inode *di)
{
	struct region_buf *rd = &b->regions[NYDUSFS_REGION_DIRENTS];
	struct nydusfs_dirent *de;
	uint32_t i, off;
	size_t len;
	int err;

	di->data = cpu_to_le64(rd->len / sizeof(*de));
	di->data_count = cpu_to_le32(node->child_count);
	di->size = cpu_to_le64((uint64_t)node->child_count * sizeof(*de));
	di->parent_nid = cpu_to_le32(node->parent->nid);
	for (i = 0; i < node->child_count; i++) {
		len = strlen(node->children[i].name);
		err = strings_add(b, node->children[i].name, len, true, &off);
		if (!err)
			err = rbuf_reserve(rd, sizeof(*de), (void **)&de);
		if (err)
			return err;
		de->nid = cpu_to_le32(node->children[i].node->nid);
		de->name_off = cpu_to_le32(off);
		de->name_len = len;
		de->file_type = nydusfs_mode_to_ft(node->children[i].node->mode);
	}
	return 0;
}

static int emit_file(struct builder *b, struct nydusfs_node *node,
		     struct nydusfs_inode *di)
{
	struct region_buf *rr = &b->regions[NYDUSFS_REGION_CHUNK_REFS];
	uint64_t nslots = NYDUSFS_DIV_ROUND_UP(node->size,
					       (uint64_t)b->chunk_size), s;
	struct nydusfs_chunk_ref *dref;
	int err;

	if (nslots > UINT32_MAX)
		return -EFBIG;
	di->size = cpu_to_le64(node->size);
	di->data = cpu_to_le64(rr->len / sizeof(*dref));
	di->data_count = cpu_to_le32(nslots);
	di->blocks = cpu_to_le64(node->blocks);
	err = rbuf_reserve(rr, nslots * sizeof(*dref), (void **)&dref);
	if (err)
		return err;
	for (s = 0; s < nslots; s++) {
		dref[s].blob_index = cpu_to_le32(final_blob_index(b,
						 node->refs[s].blob_index));
		dref[s].chunk_index = cpu_to_le32(node->refs[s].chunk_index);
	}
	return 0;
}

static int emit_inode(struct builder *b, struct nydusfs_node *node)
{
	struct nydusfs_inode *di;
	uint32_t off;
	int err;

	err = rbuf_reserve(&b->regions[NYDUSFS_REGION_INODES], sizeof(*di),
			   (void **)&di);
	if (err)
		return err;
	di->mode = cpu_to_le16(node->mode);
	di->nlink = cpu_to_le32(S_ISDIR(node->mode) ? node->nlink :
				node->refcount);
	di->uid = cpu_to_le32(node->uid);
	di->gid = cpu_to_le32(node->gid);
	di->mtime = cpu_to_le64(node->mtime);
	di->mtime_nsec = cpu_to_le32(node->mtime_nsec);
	memcpy(di->digest, node->digest, NYDUSFS_DIGEST_SIZE);
	err = emit_xattrs(b, node, di);
	if (err)
		return err;
	switch (node->mode & S_IFMT) {
	case S_IFREG:
		return emit_file(b, node, di);
	case S_IFDIR:
		return emit_dir(b, node, di);
	case S_IFLNK:
		err = strings_add(b, node->symlink, strlen(node->symlink),
				  true, &off);
		di->data = cpu_to_le64(off);
		di->size = cpu_to_le64(strlen(node->symlink));
		return err;
	case S_IFCHR:
	case S_IFBLK:
		di->rdev = cpu_to_le32(node->rdev);
		return 0;
	}
	return 0;
}

/* Add @nid to the prefetch list, unless it is there already. */
static int prefetch_nid_add(struct builder *b, uint32_t nid)
{
	struct region_buf *rp = &b->regions[NYDUSFS_REGION_PREFETCH];
	const __le32 *nids = (const __le32 *)rp->p;
	uint64_t j, n = rp->len / sizeof(*nids);
	__le32 *dst;
	int err;

	for (j = 0; j < n; j++)
		if (le32_to_cpu(nids[j]) == nid)
			return 0;
	err = rbuf_reserve(rp, sizeof(*dst), (void **)&dst);
	if (!err)
		*dst = cpu_to_le32(nid);
	return err;
}

/* The profile's whole paths, then the --prefetch paths. */
static int emit_prefetch(struct builder *b)
{
	struct nydusfs_node *node;
	uint32_t i;
	char *path;
	int err = 0;

	for (i = 0; !err && i < b->profile_path_count; i++)
		err = prefetch_nid_add(b, b->profile_paths[i]->nid);
	for (i = 0; !err && i < b->opts->prefetch_count; i++) {
		path = strdup(b->opts->prefetch[i]);
		if (!path)
			return -ENOMEM;
		err = nydusfs_tree_clean_path(path);
		node = b->tree->root;
		if (!err)
			err = nydusfs_tree_lookup(b->tree, path, &node);
		else if (err == -EEXIST)
			err = 0;
		free(path);
		if (err) {
			nydusfs_err("prefetch path %s: %s",
				    b->opts->prefetch[i], strerror(-err));
			return err;
		}
		err = prefetch_nid_add(b, node->nid);
	}
	if (!err && b->regions[NYDUSFS_REGION_PREFETCH].len)
		b->feature_compat |= NYDUSFS_FEATURE_COMPAT_PREFETCH;
	return err;
}

/* Did we list chunk @ck of provisional blob @blob already? */
static int prange_seen(struct builder *b, uint8_t **seen, uint32_t blob,
		       uint32_t ck, bool *was)
{
	const struct nydusfs_blob *db;
	uint32_t i = blob == NYDUSFS_BLOB_NEW ? b->dict_count : blob, n;

	if (!seen[i]) {
		n = b->blob.chunk_count;
		if (blob != NYDUSFS_BLOB_NEW && !nydusfs_image_blob(b->dict, blob, &db))
			n = le32_to_cpu(db->chunk_count);
		seen[i] = calloc(n / 8 + 1, 1);
		if (!seen[i])
			return -ENOMEM;
	}
	*was = seen[i][ck / 8] & (1U << (ck % 8));
	seen[i][ck / 8] |= 1U << (ck % 8);
	return 0;
}

/* Append chunk @ck of final blob @fb, merged into the last range if next. */
static int prange_add(struct builder *b, uint32_t fb, uint32_t ck)
{
	struct region_buf *rb = &b->pranges;
	struct nydusfs_prefetch_range *last = NULL;
	int err;

	if (rb->len)
		last = (void *)(rb->p + rb->len - sizeof(*last));
	if (last && le32_to_cpu(last->blob) == fb &&
	    le32_to_cpu(last->chunk) + le32_to_cpu(last->count) == ck) {
		last->count = cpu_to_le32(le32_to_cpu(last->count) + 1);
		return 0;
	}
	err = rbuf_reserve(rb, sizeof(*last), (void **)&last);
	if (err)
		return err;
	last->blob = cpu_to_le32(fb);
	last->chunk = cpu_to_le32(ck);
	last->count = cpu_to_le32(1);
	return 0;
}

/* The profile's chunks, in profile order, each once: the range table. */
static int emit_pranges(struct builder *b)
{
	uint8_t **seen = calloc(b->dict_count + 1, sizeof(*seen));
	const struct nydusfs_chunk_ref *ref;
	uint32_t i;
	size_t k;
	bool was;
	int err = seen ? 0 : -ENOMEM;

	for (k = 0; !err && k < b->first_count; k++) {
		ref = &b->nodes[b->first[k].file]->refs[b->first[k].slot];
		if (ref->blob_index == NYDUSFS_CHUNK_HOLE)
			continue;
		err = prange_seen(b, seen, ref->blob_index, ref->chunk_index,
				  &was);
		if (!err && !was)
			err = prange_add(b, final_blob_index(b, ref->blob_index),
					 ref->chunk_index);
	}
	for (i = 0; seen && i <= b->dict_count; i++)
		free(seen[i]);
	free(seen);
	if (!err && b->pranges.len)
		b->feature_compat |= NYDUSFS_FEATURE_COMPAT_PREFETCH_RANGES;
	return err;
}

static int emit_metadata(struct builder *b)
{
	uint32_t i;
	int err;

	for (i = 0; i < b->count; i++) {
		err = emit_inode(b, b->nodes[i]);
		if (err) {
			nydusfs_err("nid %u %s: %s", i, node_label(b->nodes[i]),
				    strerror(-err));
			return err;
		}
	}
	err = emit_blobs(b);
	if (!err)
		err = emit_prefetch(b);
	if (!err)
		err = emit_pranges(b);
	return err;
}

static int write_all(int fd, const void *p, size_t len, const char *what)
{
	const uint8_t *q = p;
	ssize_t n;

	while (len) {
		n = write(fd, q, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			nydusfs_err("writing %s: %s", what, strerror(errno));
			return -errno;
		}
		q += n;
		len -= n;
	}
	return 0;
}

static void fill_super(struct builder *b, struct nydusfs_super_block *sb)
{
	uint64_t off = NYDUSFS_BLKSZ;
	int r;

	memset(sb, 0, sizeof(*sb));
	sb->magic = cpu_to_le32(NYDUSFS_MAGIC);
	sb->version_major = cpu_to_le16(NYDUSFS_VERSION_MAJOR);
	sb->version_minor = cpu_to_le16(NYDUSFS_VERSION_MINOR);
	sb->feature_compat = cpu_to_le32(b->feature_compat);
	sb->feature_incompat = cpu_to_le32(b->feature_incompat);
	sb->blkszbits = NYDUSFS_BLKSZBITS;
	sb->chunkszbits = b->opts->chunkszbits;
	sb->sb_size = cpu_to_le16(NYDUSFS_SB_SIZE);
	sb->inode_count = cpu_to_le32(b->count);
	sb->root_nid = 0;
	for (r = 0; r < NYDUSFS_REGION_COUNT; r++) {
		sb->regions[r].offset = cpu_to_le64(off);
		sb->regions[r].size = cpu_to_le64(b->regions[r].len);
		off = NYDUSFS_ROUND_UP(off + b->regions[r].len,
				       (uint64_t)NYDUSFS_BLKSZ);
	}
	if (b->pranges.len) {
		sb->prefetch_ranges.offset = cpu_to_le64(off);
		sb->prefetch_ranges.size = cpu_to_le64(b->pranges.len);
		off = NYDUSFS_ROUND_UP(off + b->pranges.len,
				       (uint64_t)NYDUSFS_BLKSZ);
	}
	sb->bootstrap_size = cpu_to_le64(off);
	memcpy(sb->root_digest, b->tree->root->digest, NYDUSFS_DIGEST_SIZE);
	sb->checksum = cpu_to_le32(nydusfs_sb_checksum(sb));
}

static int write_bootstrap_fd(struct builder *b, int fd)
{
	static const uint8_t zeros[NYDUSFS_BLKSZ];
	struct nydusfs_super_block sb;
	uint64_t pad;
	int r, err;

	fill_super(b, &sb);
	err = write_all(fd, &sb, sizeof(sb), "bootstrap");
	if (!err)
		err = write_all(fd, zeros, NYDUSFS_BLKSZ - sizeof(sb),
				"bootstrap");
	for (r = 0; !err && r < NYDUSFS_REGION_COUNT; r++) {
		pad = -b->regions[r].len & (NYDUSFS_BLKSZ - 1);
		err = write_all(fd, b->regions[r].p, b->regions[r].len,
				"bootstrap");
		if (!err)
			err = write_all(fd, zeros, pad, "bootstrap");
	}
	pad = -b->pranges.len & (NYDUSFS_BLKSZ - 1);
	if (!err)
		err = write_all(fd, b->pranges.p, b->pranges.len, "bootstrap");
	if (!err)
		err = write_all(fd, zeros, pad, "bootstrap");
	if (!err && fsync(fd)) {
		nydusfs_err("writing bootstrap: %s", strerror(errno));
		err = -errno;
	}
	return err;
}

static int write_bootstrap(struct builder *b)
{
	char *path;
	int fd, err;

	if (asprintf(&b->tmp_bootstrap, "%s/.tmp-bootstrap-%d",
		     b->opts->outdir, (int)getpid()) < 0) {
		b->tmp_bootstrap = NULL;
		return -ENOMEM;
	}
	fd = open(b->tmp_bootstrap, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		  0644);
	if (fd < 0) {
		nydusfs_err("%s: %s", b->tmp_bootstrap, strerror(errno));
		return -errno;
	}
	err = write_bootstrap_fd(b, fd);
	if (close(fd) && !err) {
		nydusfs_err("writing bootstrap: %s", strerror(errno));
		err = -errno;
	}
	if (err)
		return err;
	if (asprintf(&path, "%s/bootstrap", b->opts->outdir) < 0)
		return -ENOMEM;
	if (rename(b->tmp_bootstrap, path)) {
		nydusfs_err("%s: %s", path, strerror(errno));
		err = -errno;
	} else {
		free(b->tmp_bootstrap);
		b->tmp_bootstrap = NULL;
	}
	free(path);
	return err;
}

/* Rename the new blob to its digest; an existing one has the same bytes. */
static int publish_blob(struct builder *b)
{
	char hex[2 * NYDUSFS_DIGEST_SIZE + 1];
	struct stat st;

	if (!b->blob.tmp_path)
		return 0;
	if (!b->blob.chunk_count) {
		unlink(b->blob.tmp_path);
		return 0;
	}
	nydusfs_digest_to_hex(b->blob.digest, hex);
	if (asprintf(&b->blob_path, "%s/%s", b->blob_dir, hex) < 0) {
		b->blob_path = NULL;
		return -ENOMEM;
	}
	if (!lstat(b->blob_path, &st)) {
		free(b->blob_path);	/* not ours to remove on failure */
		b->blob_path = NULL;
		unlink(b->blob.tmp_path);
		return 0;
	}
	if (rename(b->blob.tmp_path, b->blob_path)) {
		nydusfs_err("%s: %s", b->blob_path, strerror(errno));
		free(b->blob_path);
		b->blob_path = NULL;
		return -errno;
	}
	return 0;
}

static int make_dir(const char *path, bool *created)
{
	struct stat st;

	*created = false;
	if (!mkdir(path, 0755)) {
		*created = true;
		return 0;
	}
	if (errno == EEXIST && !stat(path, &st) && S_ISDIR(st.st_mode))
		return 0;
	nydusfs_err("%s: %s", path, strerror(errno == EEXIST ? ENOTDIR :
						     errno));
	return errno == EEXIST ? -ENOTDIR : -errno;
}

static void builder_free(struct builder *b)
{
	uint32_t i;
	int r;

	for (i = 0; i < b->count; i++) {
		free(b->nodes[i]->refs);
		b->nodes[i]->refs = NULL;
		if (b->slot_digests)
			free(b->slot_digests[i]);
	}
	for (r = 0; r < NYDUSFS_REGION_COUNT; r++)
		free(b->regions[r].p);
	free(b->pranges.p);
	free(b->first);
	free(b->profile_paths);
	free(b->slot_digests);
	free(b->nodes);
	free(b->dict_blob_map);
	if (b->dict)
		nydusfs_image_close(b->dict);
	nydusfs_chunk_index_free(b->index);
	free(b->blob.chunks);
	free(b->blob.tmp_path);
	free(b->blob_path);
	free(b->tmp_bootstrap);
	free(b->blob_dir);
}

static int build_steps(struct builder *b)
{
	int err;

	err = assign_nids(b);
	if (!err)
		err = check_nodes(b);
	if (!err)
		err = resolve_profile(b);
	if (!err)
		err = load_chunk_dict(b);
	if (!err)
		err = run_chunker(b);
	if (err)
		return err;
	assign_blob_indices(b);
	err = compute_digests(b);
	if (!err)
		err = emit_metadata(b);
	if (!err)
		err = publish_blob(b);
	if (!err)
		err = write_bootstrap(b);
	return err;
}

int nydusfs_build(struct nydusfs_tree *tree,
		  const struct nydusfs_build_opts *opts)
{
	struct builder b = {
		.opts = opts, .tree = tree,
		.chunk_size = 1U << opts->chunkszbits,
	};
	bool outdir_created = false, blobdir_created = false;
	int err;

	if (opts->chunkszbits < NYDUSFS_MIN_CHUNKSZBITS ||
	    opts->chunkszbits > NYDUSFS_MAX_CHUNKSZBITS ||
	    opts->compressor > NYDUSFS_COMPR_MAX)
		return -EINVAL;
	b.index = nydusfs_chunk_index_new();
	if (!b.index || asprintf(&b.blob_dir, "%s/blobs", opts->outdir) < 0) {
		b.blob_dir = NULL;
		builder_free(&b);
		return -ENOMEM;
	}
	err = make_dir(opts->outdir, &outdir_created);
	if (!err)
		err = make_dir(b.blob_dir, &blobdir_created);
	if (!err)
		err = build_steps(&b);
	if (err) {
		if (b.blob.tmp_path)
			unlink(b.blob.tmp_path);
		if (b.tmp_bootstrap)
			unlink(b.tmp_bootstrap);
		if (b.blob_path)
			unlink(b.blob_path);
		if (blobdir_created)
			rmdir(b.blob_dir);
		if (outdir_created)
			rmdir(opts->outdir);
	}
	builder_free(&b);
	return err;
}
