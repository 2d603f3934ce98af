// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the reader (lib/image.c, walk.c, check.c, unpack.c) on
 * hand-made bootstraps.  A small writer here turns a tree of test nodes
 * into a bootstrap (nids breadth-first, merkle digests, checksum), without
 * the builder.  Each corruption case mutates the image and expects
 * -EFSCORRUPTED or -EOPNOTSUPP from open or check, and a walk that does
 * not crash.  One line per case; exit 0 if all pass, 1 otherwise.
 *
 *   reader_test [-v]                 run the tests (-v: show the messages)
 *   reader_test --write-corpus DIR   write valid seed images for the fuzzer
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "nydusfs/check.h"
#include "nydusfs/compress.h"
#include "nydusfs/err.h"
#include "nydusfs/image.h"
#include "nydusfs/log.h"
#include "nydusfs/merkle.h"
#include "nydusfs/unpack.h"
#include "nydusfs/walk.h"

/* ---- the test tree ------------------------------------------------------ */

#define MAX_KIDS	8
#define MAX_SLOTS	8
#define MAX_TX		4

struct tnode;

struct tkid {
	const char *name;
	struct tnode *node;
};

struct tnode {
	unsigned int mode;
	uint32_t uid, gid, nsec, rdev;
	int64_t mtime;
	const char *target;			/* symlink */
	uint64_t size;				/* regular */
	int nslots;
	struct { int blob, chunk; } slots[MAX_SLOTS];	/* blob -1: hole */
	int nx;
	struct { const char *name; const char *val; size_t len; } x[MAX_TX];
	int nkids;
	struct tkid kids[MAX_KIDS];		/* sorted by the test */
	struct tnode *parent;
	uint32_t nid, refs;
	bool numbered;
};

static struct tnode pool[1024];
static int pool_used;

static struct tnode *tnew(unsigned int mode)
{
	struct tnode *n = &pool[pool_used++];

	memset(n, 0, sizeof(*n));
	n->mode = mode;
	n->mtime = 1700000000 + pool_used;
	n->nsec = 123456789;
	return n;
}

static void tadd(struct tnode *dir, const char *name, struct tnode *n)
{
	dir->kids[dir->nkids++] = (struct tkid){ name, n };
	if (S_ISDIR(n->mode))
		n->parent = dir;
}

/* ---- blob data ---------------------------------------------------------- */

struct tchunk {
	int compressor;
	uint32_t len;
	uint8_t data[4096];
	struct nydusfs_chunk dc;
};

struct tblob {
	int nchunks;
	struct tchunk chunks[2];
	uint8_t bytes[3 * 4096 + 1024];
	size_t size;
	struct nydusfs_blob db;
};

static struct tblob tblobs[2];

static void make_chunk(struct tchunk *c, int compressor, uint32_t len,
		       unsigned int seed)
{
	uint32_t i;

	c->compressor = compressor;
	c->len = len;
	for (i = 0; i < len; i++)	/* compressible but not trivial */
		c->data[i] = (i / 7 * seed + i % 13) & 0xff;
}

static void make_blob(struct tblob *b, uint64_t *uoff_out)
{
	uint64_t uoff = 0;
	size_t out;
	int i;

	b->size = 0;
	for (i = 0; i < b->nchunks; i++) {
		struct tchunk *c = &b->chunks[i];

		nydusfs_compress(c->compressor, 0, c->data, c->len,
				 b->bytes + b->size, sizeof(b->bytes) - b->size,
				 &out);
		memset(&c->dc, 0, sizeof(c->dc));
		c->dc.compressed_offset = cpu_to_le64(b->size);
		c->dc.compressed_size = cpu_to_le32(out);
		c->dc.uncompressed_offset = cpu_to_le64(uoff);
		c->dc.uncompressed_size = cpu_to_le32(c->len);
		c->dc.compressor = c->compressor;
		nydusfs_sha256(c->data, c->len, c->dc.digest);
		b->size += out;
		uoff += (c->len + 4095) / 4096 * 4096;
	}
	memset(&b->db, 0, sizeof(b->db));
	nydusfs_sha256(b->bytes, b->size, b->db.digest);
	b->db.compressed_size = cpu_to_le64(b->size);
	b->db.uncompressed_size = cpu_to_le64(uoff);
	b->db.chunk_count = cpu_to_le32(b->nchunks);
	*uoff_out = uoff;
}

/* blob 0: 4096 bytes zstd, 100 bytes lz4; blob 1: 4096 bytes stored. */
static void make_blobs(void)
{
	uint64_t u;

	tblobs[0].nchunks = 2;
	make_chunk(&tblobs[0].chunks[0], NYDUSFS_COMPR_ZSTD, 4096, 3);
	make_chunk(&tblobs[0].chunks[1], NYDUSFS_COMPR_LZ4, 100, 5);
	make_blob(&tblobs[0], &u);
	tblobs[1].nchunks = 1;
	make_chunk(&tblobs[1].chunks[0], NYDUSFS_COMPR_NONE, 4096, 11);
	make_blob(&tblobs[1], &u);
	tblobs[1].db.chunk_index = cpu_to_le32(2);
}

/* ---- the model: the tables of a bootstrap ------------------------------- */

#define MAXN	2048

struct model {
	struct nydusfs_super_block sb;
	struct nydusfs_inode inodes[MAXN];
	struct nydusfs_dirent dirents[MAXN];
	struct nydusfs_xattr xattrs[64];
	struct nydusfs_chunk_ref refs[256];
	struct nydusfs_blob blobs[4];
	struct nydusfs_chunk chunks[8];
	uint8_t strings[MAXN * 16];
	__le32 prefetch[8];
	uint32_t ninodes, ndirents, nxattrs, nrefs, nblobs, nchunks, nprefetch;
	uint64_t strings_size;
};

static uint32_t add_string(struct model *m, const void *s, size_t len,
			   bool nocross)
{
	uint64_t in_block = m->strings_size % 4096;
	uint32_t off;

	if (nocross && in_block + len > 4096)
		m->strings_size += 4096 - in_block;
	off = m->strings_size;
	memcpy(m->strings + off, s, len);
	m->strings_size += len;
	return off;
}

static void number_tree(struct tnode *root, struct tnode **order, uint32_t *n)
{
	uint32_t q;
	int i;

	*n = 0;
	root->numbered = true;
	order[(*n)++] = root;
	for (q = 0; q < *n; q++) {
		for (i = 0; i < order[q]->nkids; i++) {
			struct tnode *k = order[q]->kids[i].node;

			k->refs++;
			if (k->numbered)
				continue;
			k->numbered = true;
			k->nid = *n;
			order[(*n)++] = k;
		}
	}
}

static void emit_xattrs(struct model *m, struct tnode *t,
			struct nydusfs_inode *di)
{
	int i;

	di->xattr_index = cpu_to_le32(m->nxattrs);
	di->xattr_count = cpu_to_le32(t->nx);
	for (i = 0; i < t->nx; i++) {
		struct nydusfs_xattr *x = &m->xattrs[m->nxattrs++];

		x->name_len = strlen(t->x[i].name);
		x->name_off = cpu_to_le32(add_string(m, t->x[i].name,
						     x->name_len, true));
		x->value_len = cpu_to_le32(t->x[i].len);
		x->value_off = cpu_to_le32(add_string(m, t->x[i].val,
						      t->x[i].len, false));
	}
}

static void emit_dir(struct model *m, struct tnode *t, struct nydusfs_inode *di)
{
	uint32_t subdirs = 0;
	int i;

	di->data = cpu_to_le64(m->ndirents);
	di->data_count = cpu_to_le32(t->nkids);
	di->size = cpu_to_le64(t->nkids * 16ULL);
	di->parent_nid = cpu_to_le32(t->parent ? t->parent->nid : 0);
	for (i = 0; i < t->nkids; i++) {
		struct nydusfs_dirent *de = &m->dirents[m->ndirents++];
		struct tnode *k = t->kids[i].node;

		de->nid = cpu_to_le32(k->nid);
		de->name_len = strlen(t->kids[i].name);
		de->name_off = cpu_to_le32(add_string(m, t->kids[i].name,
						      de->name_len, true));
		de->file_type = nydusfs_mode_to_ft(k->mode);
		subdirs += S_ISDIR(k->mode);
	}
	di->nlink = cpu_to_le32(2 + subdirs);
}

static void emit_file(struct model *m, struct tnode *t, struct nydusfs_inode *di)
{
	uint64_t blocks = 0;
	int i;

	di->size = cpu_to_le64(t->size);
	di->data = cpu_to_le64(m->nrefs);
	di->data_count = cpu_to_le32(t->nslots);
	for (i = 0; i < t->nslots; i++) {
		struct nydusfs_chunk_ref *r = &m->refs[m->nrefs++];

		if (t->slots[i].blob < 0) {
			r->blob_index = cpu_to_le32(NYDUSFS_CHUNK_HOLE);
			continue;
		}
		r->blob_index = cpu_to_le32(t->slots[i].blob);
		r->chunk_index = cpu_to_le32(t->slots[i].chunk);
		blocks += (tblobs[t->slots[i].blob].chunks[t->slots[i].chunk].len +
			   4095) / 4096 * 8;
	}
	di->blocks = cpu_to_le64(blocks);
}

static void emit_inode(struct model *m, struct tnode *t)
{
	struct nydusfs_inode *di = &m->inodes[t->nid];

	di->mode = cpu_to_le16(t->mode);
	di->uid = cpu_to_le32(t->uid);
	di->gid = cpu_to_le32(t->gid);
	di->mtime = cpu_to_le64(t->mtime);
	di->mtime_nsec = cpu_to_le32(t->nsec);
	di->nlink = cpu_to_le32(t->refs);
	emit_xattrs(m, t, di);
	if (S_ISDIR(t->mode))
		emit_dir(m, t, di);
	else if (S_ISREG(t->mode))
		emit_file(m, t, di);
	else if (S_ISLNK(t->mode)) {
		di->size = cpu_to_le64(strlen(t->target));
		di->data = cpu_to_le64(add_string(m, t->target,
						  strlen(t->target), true));
	} else if (S_ISCHR(t->mode) || S_ISBLK(t->mode))
		di->rdev = cpu_to_le32(t->rdev);
}

static void model_from_tree(struct model *m, struct tnode *root)
{
	static struct tnode *order[MAXN];
	uint32_t i, n;
	int b, c;

	memset(m, 0, sizeof(*m));
	number_tree(root, order, &n);
	for (i = 0; i < n; i++)
		emit_inode(m, order[i]);
	m->ninodes = n;
	for (b = 0; b < 2; b++) {
		m->blobs[m->nblobs++] = tblobs[b].db;
		for (c = 0; c < tblobs[b].nchunks; c++)
			m->chunks[m->nchunks++] = tblobs[b].chunks[c].dc;
	}
	m->sb.magic = cpu_to_le32(NYDUSFS_MAGIC);
	m->sb.version_major = cpu_to_le16(NYDUSFS_VERSION_MAJOR);
	m->sb.version_minor = cpu_to_le16(NYDUSFS_VERSION_MINOR);
	m->sb.feature_incompat = cpu_to_le32(NYDUSFS_FEATURE_INCOMPAT_LZ4 |
					     NYDUSFS_FEATURE_INCOMPAT_ZSTD);
	m->sb.blkszbits = NYDUSFS_BLKSZBITS;
	m->sb.chunkszbits = 12;
	m->sb.sb_size = cpu_to_le16(NYDUSFS_SB_SIZE);
}

static void add_prefetch(struct model *m, uint32_t nid)
{
	m->prefetch[m->nprefetch++] = cpu_to_le32(nid);
	m->sb.feature_compat |= cpu_to_le32(NYDUSFS_FEATURE_COMPAT_PREFETCH);
}

/* ---- merkle digests, robust against the corruptions below -------------- */

static const uint8_t zero_digest[NYDUSFS_DIGEST_SIZE];

static const uint8_t *chunk_digest(struct model *m, uint32_t b, uint32_t c)
{
	uint64_t g;

	if (b >= m->nblobs || c >= le32_to_cpu(m->blobs[b].chunk_count))
		return zero_digest;
	g = (uint64_t)le32_to_cpu(m->blobs[b].chunk_index) + c;
	return g < m->nchunks ? m->chunks[g].digest : zero_digest;
}

static void digest_file(struct model *m, struct nydusfs_inode *di)
{
	static uint8_t d[MAX_SLOTS * 2][NYDUSFS_DIGEST_SIZE];
	uint32_t i, n = le32_to_cpu(di->data_count);
	uint64_t data = le64_to_cpu(di->data);

	if (n > MAX_SLOTS * 2 || data > m->nrefs || n > m->nrefs - data)
		return;
	for (i = 0; i < n; i++) {
		struct nydusfs_chunk_ref *r = &m->refs[data + i];
		uint32_t b = le32_to_cpu(r->blob_index);

		memcpy(d[i], b == NYDUSFS_CHUNK_HOLE ? zero_digest :
		       chunk_digest(m, b, le32_to_cpu(r->chunk_index)),
		       NYDUSFS_DIGEST_SIZE);
	}
	nydusfs_merkle_file(le64_to_cpu(di->size), d[0], n, di->digest);
}

static void digest_dir(struct model *m, struct nydusfs_inode *di)
{
	static struct nydusfs_merkle_entry e[MAX_KIDS * 2];
	uint32_t i, n = le32_to_cpu(di->data_count), child;
	uint64_t data = le64_to_cpu(di->data);

	if (n > MAX_KIDS * 2 || data > m->ndirents || n > m->ndirents - data)
		return;
	for (i = 0; i < n; i++) {
		struct nydusfs_dirent *de = &m->dirents[data + i];

		child = le32_to_cpu(de->nid);
		e[i].name = (const char *)m->strings +
			    (le32_to_cpu(de->name_off) % sizeof(m->strings));
		e[i].name_len = de->name_len;
		e[i].mode = child < m->ninodes ?
			    le16_to_cpu(m->inodes[child].mode) : 0;
		e[i].digest = child < m->ninodes ? m->inodes[child].digest :
			      zero_digest;
	}
	nydusfs_merkle_dir(e, n, di->digest);
}

static void model_digests(struct model *m)
{
	uint32_t nid;
	unsigned int mode;

	for (nid = 0; nid < m->ninodes; nid++) {
		struct nydusfs_inode *di = &m->inodes[nid];
		uint64_t off = le64_to_cpu(di->data), len = le64_to_cpu(di->size);

		mode = le16_to_cpu(di->mode);
		if (S_ISREG(mode))
			digest_file(m, di);
		else if (S_ISLNK(mode) && off < sizeof(m->strings) &&
			 len <= sizeof(m->strings) - off)
			nydusfs_merkle_symlink((char *)m->strings + off, len,
					       di->digest);
		else if (!S_ISDIR(mode))
			nydusfs_merkle_special(mode, le32_to_cpu(di->rdev),
					       di->digest);
	}
	for (nid = m->ninodes; nid-- > 0;)
		if (S_ISDIR(le16_to_cpu(m->inodes[nid].mode)))
			digest_dir(m, &m->inodes[nid]);
	memcpy(m->sb.root_digest, m->inodes[0].digest, NYDUSFS_DIGEST_SIZE);
}

/* ---- serializing -------------------------------------------------------- */

struct image_buf {
	uint8_t *p;
	size_t len;
};

static void model_layout(struct model *m, const void *tables[], size_t sizes[])
{
	uint64_t off = 4096;
	int i;

	tables[0] = m->inodes;		sizes[0] = m->ninodes * 128ULL;
	tables[1] = m->dirents;		sizes[1] = m->ndirents * 16ULL;
	tables[2] = m->xattrs;		sizes[2] = m->nxattrs * 16ULL;
	tables[3] = m->refs;		sizes[3] = m->nrefs * 8ULL;
	tables[4] = m->blobs;		sizes[4] = m->nblobs * 64ULL;
	tables[5] = m->chunks;		sizes[5] = m->nchunks * 64ULL;
	tables[6] = m->strings;		sizes[6] = m->strings_size;
	tables[7] = m->prefetch;	sizes[7] = m->nprefetch * 4ULL;
	for (i = 0; i < NYDUSFS_REGION_COUNT; i++) {
		off = (off + 4095) / 4096 * 4096;
		m->sb.regions[i].offset = cpu_to_le64(off);
		m->sb.regions[i].size = cpu_to_le64(sizes[i]);
		off += sizes[i];
	}
	m->sb.inode_count = cpu_to_le32(m->ninodes);
	m->sb.bootstrap_size = cpu_to_le64((off + 4095) / 4096 * 4096);
}

/* @sb_hook may change the superblock after layout, before the checksum. */
static struct image_buf serialize(struct model *m,
				  void (*sb_hook)(struct nydusfs_super_block *))
{
	const void *tables[NYDUSFS_REGION_COUNT];
	size_t sizes[NYDUSFS_REGION_COUNT];
	struct image_buf img;
	struct nydusfs_super_block *sb;
	int i;

	model_layout(m, tables, sizes);
	img.len = le64_to_cpu(m->sb.bootstrap_size);
	img.p = calloc(1, img.len);
	for (i = 0; i < NYDUSFS_REGION_COUNT; i++)
		memcpy(img.p + le64_to_cpu(m->sb.regions[i].offset), tables[i],
		       sizes[i]);
	sb = (struct nydusfs_super_block *)img.p;
	*sb = m->sb;
	if (sb_hook)
		sb_hook(sb);
	sb->checksum = cpu_to_le32(nydusfs_sb_checksum(sb));
	return img;
}

/* ---- the base tree ------------------------------------------------------- */

/*
 * /            dir 0      a/ dev file link z/
 * /a           dir 1      f2 (hard link to /file) sub/
 * /dev         chr 2      1:3
 * /file        reg 3      4 slots: zstd chunk, hole, stored chunk, lz4 tail
 * /link        lnk 4      -> "file"
 * /z           dir 5      fifo
 * /a/sub       dir 6      (empty)
 * /z/fifo      fifo 7
 */
#define FILE_SIZE	(3 * 4096 + 100)

static struct tnode *base_tree(void)
{
	struct tnode *root, *a, *file, *z, *n;

	pool_used = 0;
	root = tnew(S_IFDIR | 0755);
	a = tnew(S_IFDIR | 0750);
	z = tnew(S_IFDIR | 01777);
	file = tnew(S_IFREG | 04755);
	file->uid = 1234;
	file->gid = 5678;
	file->size = FILE_SIZE;
	file->nslots = 4;
	file->slots[0].blob = 0, file->slots[0].chunk = 0;
	file->slots[1].blob = -1;
	file->slots[2].blob = 1, file->slots[2].chunk = 0;
	file->slots[3].blob = 0, file->slots[3].chunk = 1;
	file->nx = 2;
	file->x[0].name = "user.a", file->x[0].val = "x\0y", file->x[0].len = 3;
	file->x[1].name = "user.b", file->x[1].val = "", file->x[1].len = 0;
	tadd(root, "a", a);
	n = tnew(S_IFCHR | 0600);
	n->rdev = 0x103;	/* 1:3 */
	n->nx = 1;
	n->x[0].name = "trusted.dev", n->x[0].val = "\1\2", n->x[0].len = 2;
	tadd(root, "dev", n);
	tadd(root, "file", file);
	n = tnew(S_IFLNK | 0777);
	n->target = "file";
	tadd(root, "link", n);
	tadd(root, "z", z);
	tadd(a, "f2", file);
	tadd(a, "sub", tnew(S_IFDIR | 0700));
	tadd(z, "fifo", tnew(S_IFIFO | 0644));
	return root;
}

static void base_model(struct model *m)
{
	model_from_tree(m, base_tree());
	add_prefetch(m, 3);
}

/* ---- running a case ------------------------------------------------------ */

static int passed, failed;
static bool verbose;

static void result(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		passed++;
		printf("ok   %s\n", name);
		return;
	}
	failed++;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

struct walk_count {
	const struct nydusfs_image *img;
	unsigned int entries;
};

/* Everything unpack would read, through the accessors, without writing. */
static int touch_entry(void *arg, const struct nydusfs_walk_entry *e)
{
	struct walk_count *w = arg;
	const struct nydusfs_image *img = w->img;
	unsigned int mode = le16_to_cpu(e->inode->mode);
	const struct nydusfs_chunk *ck;
	const uint8_t *v;
	const char *s;
	size_t l1, l2;
	uint32_t i, b, child;
	uint64_t slot;

	w->entries++;
	if (e->depth)
		nydusfs_image_lookup(img, e->parent, e->name, e->name_len,
				     &child);
	for (i = 0; i < le32_to_cpu(e->inode->xattr_count); i++)
		nydusfs_image_xattr(img, e->nid, i, &s, &l1, &v, &l2);
	if (S_ISLNK(mode))
		nydusfs_image_symlink(img, e->nid, &s, &l1);
	if (S_ISREG(mode))
		for (slot = 0; slot < le32_to_cpu(e->inode->data_count); slot++)
			if (nydusfs_image_file_chunk(img, e->nid, slot, &b, &ck))
				break;
	return 0;
}

static int walk_all(const struct nydusfs_image *img, unsigned int *entries)
{
	static const struct nydusfs_walk_ops ops = { .enter = touch_entry };
	struct walk_count w = { .img = img };
	int err = nydusfs_image_walk(img, &ops, &w);

	if (entries)
		*entries = w.entries;
	return err;
}

/* Open, walk and check @img; the first error (0 if clean). */
static int open_and_check(const struct image_buf *img, bool *at_open)
{
	struct nydusfs_image *im;
	int err;

	*at_open = true;
	err = nydusfs_image_open_mem(img->p, img->len, 0, &im);
	if (err)
		return err;
	*at_open = false;
	walk_all(im, NULL);
	err = nydusfs_check(im, NULL, NULL);
	nydusfs_image_close(im);
	return err;
}

struct tcase {
	const char *name;
	void (*pre)(struct model *m);	/* before the digests */
	void (*post)(struct model *m);	/* after the digests */
	void (*sb)(struct nydusfs_super_block *sb);
	void (*raw)(struct image_buf *img);	/* checksum fixed after */
	void (*raw_nofix)(struct image_buf *img);
	int expect;
	bool at_open;
};

static void run_case(const struct tcase *tc)
{
	static struct model m;
	struct image_buf img;
	struct nydusfs_super_block *sb;
	bool at_open;
	int err;

	base_model(&m);
	if (tc->pre)
		tc->pre(&m);
	model_digests(&m);
	if (tc->post)
		tc->post(&m);
	img = serialize(&m, tc->sb);
	if (tc->raw) {
		tc->raw(&img);
		sb = (struct nydusfs_super_block *)img.p;
		if (img.len >= sizeof(*sb))
			sb->checksum = cpu_to_le32(nydusfs_sb_checksum(sb));
	}
	if (tc->raw_nofix)
		tc->raw_nofix(&img);
	err = open_and_check(&img, &at_open);
	result(err == tc->expect && (!tc->at_open || at_open), tc->name,
	       "got %d (%s) %s, expected %d%s", err, strerror(-err),
	       at_open ? "at open" : "from check", tc->expect,
	       tc->at_open ? " at open" : "");
	free(img.p);
}

/* ---- the corruptions ------------------------------------------------------- */

#define C_NONE	0
#define CORRUPT	(-EFSCORRUPTED)
#define NOTSUPP	(-EOPNOTSUPP)

/* Index of root's dirents: 0 a, 1 dev, 2 file, 3 link, 4 z; a's: 5 f2, 6 sub */
#define DE(m, i)	((m)->dirents[i])
#define INO(m, i)	((m)->inodes[i])

static void truncate_half(struct image_buf *b) { b->len /= 2; }
static void truncate_block(struct image_buf *b) { b->len -= 4096; }
static void truncate_tiny(struct image_buf *b) { b->len = 100; }
static void truncate_zero(struct image_buf *b) { b->len = 0; }
static void truncate_odd(struct image_buf *b) { b->len -= 1; }
static void flip_sb_byte(struct image_buf *b) { b->p[20] ^= 0x40; }
static void pad_block0(struct image_buf *b) { b->p[300] = 1; }
static void pad_gap(struct image_buf *b)
{
	struct nydusfs_super_block *sb = (void *)b->p;

	b->p[le64_to_cpu(sb->regions[0].offset) +
	     le64_to_cpu(sb->regions[0].size)] = 0xaa;
}

static void sb_magic(struct nydusfs_super_block *sb) { sb->magic = 0x12345678; }
static void sb_incompat(struct nydusfs_super_block *sb) { sb->feature_incompat |= cpu_to_le32(0x80); }
static void sb_version(struct nydusfs_super_block *sb) { sb->version_major = cpu_to_le16(2); }
static void sb_chunk_small(struct nydusfs_super_block *sb) { sb->chunkszbits = 11; }
static void sb_chunk_big(struct nydusfs_super_block *sb) { sb->chunkszbits = 25; }
static void sb_blkbits(struct nydusfs_super_block *sb) { sb->blkszbits = 13; }
static void sb_sbsize(struct nydusfs_super_block *sb) { sb->sb_size = cpu_to_le16(128); }
static void sb_rootnid(struct nydusfs_super_block *sb) { sb->root_nid = cpu_to_le32(1); }
static void sb_no_inodes(struct nydusfs_super_block *sb) { sb->inode_count = 0; }
static void sb_more_inodes(struct nydusfs_super_block *sb) { sb->inode_count = cpu_to_le32(9); }
static void sb_huge_inodes(struct nydusfs_super_block *sb) { sb->inode_count = cpu_to_le32(0xffffffff); }
static void sb_size(struct nydusfs_super_block *sb) { sb->bootstrap_size = cpu_to_le64(le64_to_cpu(sb->bootstrap_size) + 4096); }
static void sb_reserved(struct nydusfs_super_block *sb) { sb->reserved[3] = 1; }
static void sb_root_digest(struct nydusfs_super_block *sb) { sb->root_digest[0] ^= 1; }
static void sb_prefetch_bit(struct nydusfs_super_block *sb) { sb->feature_compat = 0; }
static void sb_region_oob(struct nydusfs_super_block *sb) { sb->regions[1].offset = sb->bootstrap_size; sb->regions[1].size = cpu_to_le64(16); }
static void sb_region_huge(struct nydusfs_super_block *sb) { sb->regions[6].size = cpu_to_le64(~0ULL - 4095); }
static void sb_region_wrap(struct nydusfs_super_block *sb) { sb->regions[7].offset = cpu_to_le64(~0ULL - 4095); sb->regions[7].size = cpu_to_le64(8192); }
static void sb_region_overlap(struct nydusfs_super_block *sb) { sb->regions[1].offset = sb->regions[0].offset; }
static void sb_region_order(struct nydusfs_super_block *sb)
{
	struct nydusfs_region r = sb->regions[4];

	sb->regions[4] = sb->regions[5];
	sb->regions[5] = r;
}
static void sb_region_misaligned(struct nydusfs_super_block *sb) { sb->regions[2].offset = cpu_to_le64(le64_to_cpu(sb->regions[2].offset) + 16); }
static void sb_region_in_sb(struct nydusfs_super_block *sb) { sb->regions[0].offset = 0; }
static void sb_region_partial(struct nydusfs_super_block *sb) { sb->regions[1].size = cpu_to_le64(le64_to_cpu(sb->regions[1].size) - 8); }

static void root_not_dir(struct model *m) { INO(m, 0).mode = cpu_to_le16(S_IFREG | 0644); }
static void dirent_nid_oob(struct model *m) { DE(m, 1).nid = cpu_to_le32(99); }
static void dirent_nid_max(struct model *m) { DE(m, 1).nid = cpu_to_le32(0xffffffff); }
static void dir_loop_self(struct model *m) { DE(m, 6).nid = cpu_to_le32(1); INO(m, 1).parent_nid = cpu_to_le32(1); }
static void dir_loop_up(struct model *m) { DE(m, 6).nid = cpu_to_le32(0); }
static void dir_loop_back(struct model *m)
{
	/* /a/sub names /a's parent's child /z: a directory named twice */
	DE(m, 6).nid = cpu_to_le32(5);
}
static void dir_named_twice(struct model *m)
{
	/* root "z" names /a: same parent, two names */
	DE(m, 4).nid = cpu_to_le32(1);
}
static void dir_wrong_parent(struct model *m) { INO(m, 6).parent_nid = cpu_to_le32(0); }
static void parent_not_below(struct model *m) { INO(m, 6).parent_nid = cpu_to_le32(7); }
static void unsorted_dirents(struct model *m)
{
	struct nydusfs_dirent t = DE(m, 1);

	DE(m, 1) = DE(m, 2);
	DE(m, 2) = t;
}
static void duplicate_names(struct model *m) { DE(m, 2).name_off = DE(m, 1).name_off; DE(m, 2).name_len = DE(m, 1).name_len; }
static void name_cross(struct model *m)
{
	m->strings_size = 8192;
	memcpy(m->strings + 4094, "devx", 4);
	DE(m, 1).name_off = cpu_to_le32(4094);
	DE(m, 1).name_len = 4;
}
static void name_oob(struct model *m) { DE(m, 1).name_off = cpu_to_le32(m->strings_size - 1); }
static void name_huge_off(struct model *m) { DE(m, 1).name_off = cpu_to_le32(0xffffffff); }
static void name_empty(struct model *m) { DE(m, 1).name_len = 0; }
static void name_dotdot(struct model *m)
{
	memcpy(m->strings + m->strings_size, "..", 2);
	DE(m, 0).name_off = cpu_to_le32(m->strings_size);
	DE(m, 0).name_len = 2;
	m->strings_size += 2;
}
static void name_slash(struct model *m)
{
	memcpy(m->strings + m->strings_size, "a/b", 3);
	DE(m, 0).name_off = cpu_to_le32(m->strings_size);
	DE(m, 0).name_len = 3;
	m->strings_size += 3;
}
static void file_type_wrong(struct model *m) { DE(m, 1).file_type = NYDUSFS_FT_BLKDEV; }
static void dirent_reserved(struct model *m) { DE(m, 1).reserved[2] = 1; }
static void dir_size(struct model *m) { INO(m, 0).size = cpu_to_le64(79); }
static void dir_range_oob(struct model *m) { INO(m, 5).data = cpu_to_le64(m->ndirents); }
static void dir_count_huge(struct model *m) { INO(m, 5).data_count = cpu_to_le32(0xffffffff); INO(m, 5).size = cpu_to_le64(0xffffffffULL * 16); }
static void dir_data_huge(struct model *m) { INO(m, 5).data = cpu_to_le64(~0ULL); }
static void dir_nlink(struct model *m) { INO(m, 1).nlink = cpu_to_le32(2); }
static void shared_dirents(struct model *m)
{
	/* /a/sub claims /z's entries */
	INO(m, 6).data = INO(m, 5).data;
	INO(m, 6).data_count = INO(m, 5).data_count;
	INO(m, 6).size = INO(m, 5).size;
}
static void file_nlink(struct model *m) { INO(m, 3).nlink = cpu_to_le32(1); }
static void file_slots(struct model *m) { INO(m, 3).data_count = cpu_to_le32(3); }
static void file_size_huge(struct model *m)
{
	INO(m, 3).size = cpu_to_le64(0xffffffffULL * 4096);
	INO(m, 3).data_count = cpu_to_le32(0xffffffff);
}
static void file_size_max(struct model *m) { INO(m, 3).size = cpu_to_le64(~0ULL); }
static void file_data_huge(struct model *m) { INO(m, 3).data = cpu_to_le64(~0ULL - 1); }
static void ref_chunk_oob(struct model *m) { m->refs[2].chunk_index = cpu_to_le32(99); }
static void ref_blob_oob(struct model *m) { m->refs[2].blob_index = cpu_to_le32(7); }
static void ref_hole_index(struct model *m) { m->refs[1].chunk_index = cpu_to_le32(1); }
static void ref_len_mismatch(struct model *m)
{
	/* the last slot (100 bytes) names a 4096-byte chunk */
	m->refs[3].chunk_index = 0;
}
static void file_blocks(struct model *m) { INO(m, 3).blocks = cpu_to_le64(8); }
static void blob_overlap(struct model *m) { m->blobs[1].chunk_index = cpu_to_le32(1); }
static void blob_gap(struct model *m) { m->blobs[1].chunk_index = cpu_to_le32(3); }
static void blob_count_huge(struct model *m) { m->blobs[1].chunk_count = cpu_to_le32(0xffffffff); }
static void blob_index_huge(struct model *m) { m->blobs[0].chunk_index = cpu_to_le32(0xffffffff); }
static void blob_tail_chunk(struct model *m) { m->chunks[m->nchunks++] = m->chunks[2]; }
static void blob_usize(struct model *m) { m->blobs[0].uncompressed_size = cpu_to_le64(8000); }
static void blob_dup(struct model *m) { memcpy(m->blobs[1].digest, m->blobs[0].digest, 32); }
static void blob_reserved(struct model *m) { m->blobs[0].reserved[0] = 1; }
static void orphan_chunks(struct model *m) { m->nblobs = 0; m->nrefs = 0; INO(m, 3).size = 0; INO(m, 3).data_count = 0; INO(m, 3).blocks = 0; }
static void chunk_compr(struct model *m) { m->chunks[0].compressor = 7; }
static void chunk_no_feature(struct model *m) { m->sb.feature_incompat = cpu_to_le32(NYDUSFS_FEATURE_INCOMPAT_ZSTD); }
static void chunk_none_size(struct model *m) { m->chunks[2].compressed_size = cpu_to_le32(4000); }
static void chunk_csize_huge(struct model *m) { m->chunks[0].compressed_size = cpu_to_le32(0xffffffff); }
static void chunk_usize_zero(struct model *m) { m->chunks[1].uncompressed_size = 0; }
static void chunk_uoff_overlap(struct model *m) { m->chunks[1].uncompressed_offset = 0; }
static void chunk_uoff_misaligned(struct model *m) { m->chunks[1].uncompressed_offset = cpu_to_le64(4097); }
static void chunk_uoff_wrap(struct model *m) { m->chunks[1].uncompressed_offset = cpu_to_le64(~0ULL - 4095); }
static void chunk_coff_huge(struct model *m) { m->chunks[1].compressed_offset = cpu_to_le64(~0ULL - 10); }
static void chunk_reserved(struct model *m) { m->chunks[0].reserved[1] = 1; }
static void symlink_oob(struct model *m) { INO(m, 4).data = cpu_to_le64(m->strings_size - 2); }
static void symlink_huge_off(struct model *m) { INO(m, 4).data = cpu_to_le64(~0ULL - 1); }
static void symlink_empty(struct model *m) { INO(m, 4).size = 0; }
static void symlink_long(struct model *m) { INO(m, 4).size = cpu_to_le64(5000); }
static void symlink_nul(struct model *m)
{
	memcpy(m->strings + m->strings_size, "a\0b", 3);
	INO(m, 4).data = cpu_to_le64(m->strings_size);
	INO(m, 4).size = cpu_to_le64(3);
	m->strings_size += 3;
}
static void special_size(struct model *m) { INO(m, 7).size = cpu_to_le64(1); }
static void special_rdev(struct model *m) { INO(m, 7).rdev = cpu_to_le32(5); }
static void bad_mode(struct model *m) { INO(m, 7).mode = cpu_to_le16(0644); }
static void nlink_zero(struct model *m) { INO(m, 2).nlink = 0; }
static void mtime_nsec(struct model *m) { INO(m, 2).mtime_nsec = cpu_to_le32(1000000000); }
static void inode_reserved(struct model *m) { INO(m, 2).reserved[5] = 1; }
static void inode_reserved0(struct model *m) { INO(m, 2).reserved0 = cpu_to_le16(1); }
static void nondir_parent(struct model *m) { INO(m, 2).parent_nid = cpu_to_le32(1); }
/* The first xattr of /file (nid 3): "user.a"; the second is "user.b". */
#define FX(m)	((m)->xattrs[le32_to_cpu(INO(m, 3).xattr_index)])

static void xattr_unsorted(struct model *m)
{
	struct nydusfs_xattr t = FX(m);

	FX(m) = (&FX(m))[1];
	(&FX(m))[1] = t;
}
static void xattr_range(struct model *m) { INO(m, 3).xattr_index = cpu_to_le32(m->nxattrs - 1); }
static void xattr_huge(struct model *m) { INO(m, 3).xattr_index = cpu_to_le32(0xffffffff); INO(m, 3).xattr_count = cpu_to_le32(0xffffffff); }
static void xattr_value_oob(struct model *m) { FX(m).value_len = cpu_to_le32(60000); }
static void xattr_value_long(struct model *m) { FX(m).value_len = cpu_to_le32(65537); }
static void xattr_name_nul(struct model *m) { FX(m).name_len = 8; }
static void xattr_namespace(struct model *m) { m->strings[le32_to_cpu(FX(m).name_off)] = 'x'; }
static void xattr_shared(struct model *m) { INO(m, 2).xattr_index = INO(m, 3).xattr_index; INO(m, 2).xattr_count = cpu_to_le32(1); }
static void unreachable(struct model *m)
{
	struct nydusfs_inode *di = &INO(m, m->ninodes++);

	di->mode = cpu_to_le16(S_IFIFO | 0600);
	di->nlink = cpu_to_le32(1);
	di->xattr_index = cpu_to_le32(m->nxattrs);
}
static void bfs_order(struct model *m)
{
	/* swap nids 2 (/dev) and 7 (/z/fifo) consistently */
	struct nydusfs_inode t = INO(m, 2);

	INO(m, 2) = INO(m, 7);
	INO(m, 7) = t;
	DE(m, 1).nid = cpu_to_le32(7);
	DE(m, 7).nid = cpu_to_le32(2);
}
static void prefetch_oob(struct model *m) { m->prefetch[0] = cpu_to_le32(8); }
static void prefetch_dup(struct model *m) { add_prefetch(m, 3); }
static void digest_flip(struct model *m) { INO(m, 7).digest[5] ^= 1; }
static void dir_digest_flip(struct model *m) { INO(m, 6).digest[0] ^= 1; }

static const struct tcase cases[] = {
	{ "truncated to half", .raw_nofix = truncate_half, .expect = CORRUPT, .at_open = true },
	{ "truncated by a block", .raw_nofix = truncate_block, .expect = CORRUPT, .at_open = true },
	{ "truncated to 100 bytes", .raw_nofix = truncate_tiny, .expect = CORRUPT, .at_open = true },
	{ "empty file", .raw_nofix = truncate_zero, .expect = CORRUPT, .at_open = true },
	{ "size not a block multiple", .raw_nofix = truncate_odd, .expect = CORRUPT, .at_open = true },
	{ "bad magic", .sb = sb_magic, .expect = CORRUPT, .at_open = true },
	{ "bad checksum", .raw_nofix = flip_sb_byte, .expect = CORRUPT, .at_open = true },
	{ "unknown incompat feature", .sb = sb_incompat, .expect = NOTSUPP, .at_open = true },
	{ "unknown major version", .sb = sb_version, .expect = NOTSUPP, .at_open = true },
	{ "chunk size below 4K", .sb = sb_chunk_small, .expect = CORRUPT, .at_open = true },
	{ "chunk size above 16M", .sb = sb_chunk_big, .expect = CORRUPT, .at_open = true },
	{ "block size bits", .sb = sb_blkbits, .expect = CORRUPT, .at_open = true },
	{ "superblock size", .sb = sb_sbsize, .expect = CORRUPT, .at_open = true },
	{ "root nid not 0", .sb = sb_rootnid, .expect = CORRUPT, .at_open = true },
	{ "inode count 0", .sb = sb_no_inodes, .expect = CORRUPT, .at_open = true },
	{ "inode count beyond region", .sb = sb_more_inodes, .expect = CORRUPT, .at_open = true },
	{ "inode count 2^32-1", .sb = sb_huge_inodes, .expect = CORRUPT, .at_open = true },
	{ "bootstrap size mismatch", .sb = sb_size, .expect = CORRUPT, .at_open = true },
	{ "region out of bounds", .sb = sb_region_oob, .expect = CORRUPT, .at_open = true },
	{ "region size near 2^64", .sb = sb_region_huge, .expect = CORRUPT, .at_open = true },
	{ "region offset+size wraps", .sb = sb_region_wrap, .expect = CORRUPT, .at_open = true },
	{ "regions overlap", .sb = sb_region_overlap, .expect = CORRUPT, .at_open = true },
	{ "regions out of order", .sb = sb_region_order, .expect = CORRUPT, .at_open = true },
	{ "region misaligned", .sb = sb_region_misaligned, .expect = CORRUPT, .at_open = true },
	{ "region inside the superblock", .sb = sb_region_in_sb, .expect = CORRUPT, .at_open = true },
	{ "region size not entry multiple", .sb = sb_region_partial, .expect = CORRUPT, .at_open = true },
	{ "root is not a directory", .pre = root_not_dir, .expect = CORRUPT, .at_open = true },
	{ "superblock reserved nonzero", .sb = sb_reserved, .expect = CORRUPT },
	{ "superblock block padding", .raw = pad_block0, .expect = CORRUPT },
	{ "padding between regions", .raw = pad_gap, .expect = CORRUPT },
	{ "root digest mismatch", .sb = sb_root_digest, .expect = CORRUPT },
	{ "prefetch feature bit clear", .sb = sb_prefetch_bit, .expect = CORRUPT },
	{ "dirent nid out of range", .pre = dirent_nid_oob, .expect = CORRUPT },
	{ "dirent nid 2^32-1", .pre = dirent_nid_max, .expect = CORRUPT },
	{ "directory loop: names itself", .pre = dir_loop_self, .expect = CORRUPT },
	{ "directory loop: names the root", .pre = dir_loop_up, .expect = CORRUPT },
	{ "directory loop: names a cousin", .pre = dir_loop_back, .expect = CORRUPT },
	{ "directory named twice", .pre = dir_named_twice, .expect = CORRUPT },
	{ "directory parent mismatch", .pre = dir_wrong_parent, .expect = CORRUPT },
	{ "directory parent above itself", .pre = parent_not_below, .expect = CORRUPT },
	{ "unsorted dirents", .pre = unsorted_dirents, .expect = CORRUPT },
	{ "duplicate names", .pre = duplicate_names, .expect = CORRUPT },
	{ "name crosses a 4K boundary", .pre = name_cross, .expect = CORRUPT },
	{ "name beyond strings", .pre = name_oob, .expect = CORRUPT },
	{ "name offset 2^32-1", .pre = name_huge_off, .expect = CORRUPT },
	{ "empty name", .pre = name_empty, .expect = CORRUPT },
	{ "name \"..\"", .pre = name_dotdot, .expect = CORRUPT },
	{ "name with a slash", .pre = name_slash, .expect = CORRUPT },
	{ "dirent file type mismatch", .pre = file_type_wrong, .expect = CORRUPT },
	{ "dirent reserved nonzero", .pre = dirent_reserved, .expect = CORRUPT },
	{ "directory size mismatch", .pre = dir_size, .expect = CORRUPT },
	{ "directory dirents out of range", .pre = dir_range_oob, .expect = CORRUPT },
	{ "directory count 2^32-1", .pre = dir_count_huge, .expect = CORRUPT },
	{ "directory data 2^64-1", .pre = dir_data_huge, .expect = CORRUPT },
	{ "directory nlink", .pre = dir_nlink, .expect = CORRUPT },
	{ "directories share dirents", .pre = shared_dirents, .expect = CORRUPT },
	{ "file nlink vs hard links", .pre = file_nlink, .expect = CORRUPT },
	{ "file slot count vs size", .pre = file_slots, .expect = CORRUPT },
	{ "file size (2^32-1) chunks", .pre = file_size_huge, .expect = CORRUPT },
	{ "file size 2^64-1", .pre = file_size_max, .expect = CORRUPT },
	{ "file refs at 2^64-2", .pre = file_data_huge, .expect = CORRUPT },
	{ "chunk ref out of range", .pre = ref_chunk_oob, .expect = CORRUPT },
	{ "chunk ref blob out of range", .pre = ref_blob_oob, .expect = CORRUPT },
	{ "hole with a chunk index", .pre = ref_hole_index, .expect = CORRUPT },
	{ "slot length vs chunk size", .pre = ref_len_mismatch, .expect = CORRUPT },
	{ "file blocks", .pre = file_blocks, .expect = CORRUPT },
	{ "blob chunk ranges overlap", .pre = blob_overlap, .expect = CORRUPT },
	{ "blob chunk ranges gap", .pre = blob_gap, .expect = CORRUPT },
	{ "blob chunk count 2^32-1", .pre = blob_count_huge, .expect = CORRUPT },
	{ "blob chunk index 2^32-1", .pre = blob_index_huge, .expect = CORRUPT },
	{ "chunk after the last blob", .pre = blob_tail_chunk, .expect = CORRUPT },
	{ "blob uncompressed size", .pre = blob_usize, .expect = CORRUPT },
	{ "blob listed twice", .pre = blob_dup, .expect = CORRUPT },
	{ "blob reserved nonzero", .pre = blob_reserved, .expect = CORRUPT },
	{ "chunks without blobs", .pre = orphan_chunks, .expect = CORRUPT },
	{ "unknown compressor", .pre = chunk_compr, .expect = CORRUPT },
	{ "lz4 without its feature bit", .pre = chunk_no_feature, .expect = CORRUPT },
	{ "stored chunk size mismatch", .pre = chunk_none_size, .expect = CORRUPT },
	{ "compressed size 2^32-1", .pre = chunk_csize_huge, .expect = CORRUPT },
	{ "chunk uncompressed size 0", .pre = chunk_usize_zero, .expect = CORRUPT },
	{ "chunks overlap in the cache", .pre = chunk_uoff_overlap, .expect = CORRUPT },
	{ "chunk offset misaligned", .pre = chunk_uoff_misaligned, .expect = CORRUPT },
	{ "chunk offset+size wraps", .pre = chunk_uoff_wrap, .expect = CORRUPT },
	{ "chunk compressed offset wraps", .pre = chunk_coff_huge, .expect = CORRUPT },
	{ "chunk reserved nonzero", .pre = chunk_reserved, .expect = CORRUPT },
	{ "symlink out of bounds", .pre = symlink_oob, .expect = CORRUPT },
	{ "symlink offset 2^64-2", .pre = symlink_huge_off, .expect = CORRUPT },
	{ "symlink empty", .pre = symlink_empty, .expect = CORRUPT },
	{ "symlink over 4095 bytes", .pre = symlink_long, .expect = CORRUPT },
	{ "symlink with a NUL", .pre = symlink_nul, .expect = CORRUPT },
	{ "fifo with a size", .pre = special_size, .expect = CORRUPT },
	{ "fifo with an rdev", .pre = special_rdev, .expect = CORRUPT },
	{ "mode without a file type", .pre = bad_mode, .expect = CORRUPT },
	{ "nlink 0", .pre = nlink_zero, .expect = CORRUPT },
	{ "mtime nsec 10^9", .pre = mtime_nsec, .expect = CORRUPT },
	{ "inode reserved nonzero", .pre = inode_reserved, .expect = CORRUPT },
	{ "inode reserved0 nonzero", .pre = inode_reserved0, .expect = CORRUPT },
	{ "parent nid on a non-directory", .pre = nondir_parent, .expect = CORRUPT },
	{ "xattrs unsorted", .pre = xattr_unsorted, .expect = CORRUPT },
	{ "xattr range out of table", .pre = xattr_range, .expect = CORRUPT },
	{ "xattr index+count 2^33", .pre = xattr_huge, .expect = CORRUPT },
	{ "xattr value out of bounds", .pre = xattr_value_oob, .expect = CORRUPT },
	{ "xattr value over 64K", .pre = xattr_value_long, .expect = CORRUPT },
	{ "xattr name with a NUL", .pre = xattr_name_nul, .expect = CORRUPT },
	{ "xattr without a namespace", .pre = xattr_namespace, .expect = CORRUPT },
	{ "xattrs shared by two inodes", .pre = xattr_shared, .expect = CORRUPT },
	{ "unreachable inode", .pre = unreachable, .expect = CORRUPT, },
	{ "nids not breadth-first", .pre = bfs_order, .expect = CORRUPT },
	{ "prefetch nid out of range", .pre = prefetch_oob, .expect = CORRUPT },
	{ "prefetch nid twice", .pre = prefetch_dup, .expect = CORRUPT },
	{ "file digest mismatch", .post = digest_flip, .expect = CORRUPT },
	{ "directory digest mismatch", .post = dir_digest_flip, .expect = CORRUPT },
};

/* ---- tests of valid images ------------------------------------------------ */

static char tmpdir[] = "/tmp/nydusfs-reader-test.XXXXXX";

static int write_file(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	bool ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, p, len) == (ssize_t)len;
	close(fd);
	return ok ? 0 : -EIO;
}

static void write_blobs(const char *dir)
{
	char hex[65], path[512];
	int b;

	mkdir(dir, 0755);
	for (b = 0; b < 2; b++) {
		nydusfs_digest_to_hex(tblobs[b].db.digest, hex);
		snprintf(path, sizeof(path), "%s/%s", dir, hex);
		write_file(path, tblobs[b].bytes, tblobs[b].size);
	}
}

static struct image_buf base_image(void)
{
	static struct model m;

	base_model(&m);
	model_digests(&m);
	return serialize(&m, NULL);
}

static void test_base(void)
{
	struct image_buf img = base_image();
	struct nydusfs_check_opts opts = { .blob_dir = NULL };
	struct nydusfs_image *im;
	unsigned int entries = 0;
	uint64_t problems = 99;
	uint32_t nid = 0;
	char blobs[600];
	int err;

	err = nydusfs_image_open_mem(img.p, img.len, 0, &im);
	result(!err, "valid image opens", "err %d", err);
	if (err)
		goto out;
	err = nydusfs_check(im, &opts, &problems);
	result(!err && !problems, "valid image checks clean", "err %d, %llu problems",
	       err, (unsigned long long)problems);
	snprintf(blobs, sizeof(blobs), "%s/blobs", tmpdir);
	write_blobs(blobs);
	opts.blob_dir = blobs;
	err = nydusfs_check(im, &opts, &problems);
	result(!err, "valid image and blobs check clean", "err %d", err);
	err = walk_all(im, &entries);
	result(!err && entries == 9, "walk visits every path", "err %d, %u entries",
	       err, entries);
	err = nydusfs_image_lookup(im, 1, "sub", 3, &nid);
	result(!err && nid == 6, "lookup finds /a/sub", "err %d nid %u", err, nid);
	err = nydusfs_image_lookup(im, 0, "zz", 2, &nid);
	result(err == -ENOENT, "lookup of a missing name", "err %d", err);
	nydusfs_image_close(im);
out:
	free(img.p);
}

/* A chunk of a blob file damaged: check with blobs finds it, unpack refuses. */
static void test_bad_blob(void)
{
	struct image_buf img = base_image();
	struct nydusfs_check_opts opts = { 0 };
	struct nydusfs_image *im;
	char dir[600], path[700], dest[600], hex[65];
	uint64_t problems = 0;
	struct stat st;
	int err;

	snprintf(dir, sizeof(dir), "%s/badblobs", tmpdir);
	write_blobs(dir);
	nydusfs_digest_to_hex(tblobs[1].db.digest, hex);
	snprintf(path, sizeof(path), "%s/%s", dir, hex);
	tblobs[1].bytes[10] ^= 0xff;
	write_file(path, tblobs[1].bytes, tblobs[1].size);
	tblobs[1].bytes[10] ^= 0xff;
	if (nydusfs_image_open_mem(img.p, img.len, 0, &im)) {
		result(false, "damaged blob", "cannot open the base image");
		free(img.p);
		return;
	}
	opts.blob_dir = dir;
	err = nydusfs_check(im, &opts, &problems);
	result(err == -EFSCORRUPTED && problems == 2, "damaged blob: check finds blob and chunk",
	       "err %d, %llu problems", err, (unsigned long long)problems);
	snprintf(dest, sizeof(dest), "%s/dest-bad", tmpdir);
	err = nydusfs_unpack(im, dir, dest, NULL);
	result(err == -EFSCORRUPTED && stat(dest, &st) && errno == ENOENT,
	       "damaged blob: unpack fails and removes DESTDIR", "err %d", err);
	unlink(path);
	err = nydusfs_check(im, &opts, &problems);
	result(err == -EFSCORRUPTED && problems == 1, "missing blob: check reports it",
	       "err %d, %llu problems", err, (unsigned long long)problems);
	nydusfs_image_close(im);
	free(img.p);
}

static bool file_matches(const char *path)
{
	uint8_t want[FILE_SIZE] = { 0 }, got[FILE_SIZE + 1];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	memcpy(want, tblobs[0].chunks[0].data, 4096);
	memcpy(want + 8192, tblobs[1].chunks[0].data, 4096);
	memcpy(want + 12288, tblobs[0].chunks[1].data, 100);
	n = read(fd, got, sizeof(got));
	close(fd);
	return n == FILE_SIZE && !memcmp(want, got, FILE_SIZE);
}

static void check_unpacked(const char *d)
{
	char p[700], p2[700], buf[16];
	struct stat st, st2;
	ssize_t n;

	snprintf(p, sizeof(p), "%s/file", d);
	result(file_matches(p), "unpack: file data with a hole", "content differs");
	result(!stat(p, &st) && st.st_mode == (S_IFREG | 04755) &&
	       st.st_uid == 1234 && st.st_gid == 5678 && st.st_nlink == 2 &&
	       st.st_mtim.tv_nsec == 123456789 && st.st_blocks <= 24,
	       "unpack: file attributes", "mode 0%o uid %u nlink %lu blocks %lu",
	       st.st_mode, st.st_uid, (unsigned long)st.st_nlink,
	       (unsigned long)st.st_blocks);
	snprintf(p2, sizeof(p2), "%s/a/f2", d);
	result(!stat(p2, &st2) && st2.st_ino == st.st_ino, "unpack: hard link",
	       "different inodes");
	n = getxattr(p, "user.a", buf, sizeof(buf));
	result(n == 3 && !memcmp(buf, "x\0y", 3), "unpack: binary xattr",
	       "n %zd", n);
	n = getxattr(p, "user.b", buf, sizeof(buf));
	result(n == 0, "unpack: empty xattr", "n %zd", n);
	snprintf(p, sizeof(p), "%s/link", d);
	n = readlink(p, buf, sizeof(buf));
	result(n == 4 && !memcmp(buf, "file", 4), "unpack: symlink", "n %zd", n);
	snprintf(p, sizeof(p), "%s/dev", d);
	result(!lstat(p, &st) && S_ISCHR(st.st_mode) &&
	       st.st_rdev == makedev(1, 3), "unpack: char device", "mode 0%o",
	       st.st_mode);
	n = lgetxattr(p, "trusted.dev", buf, sizeof(buf));
	result(n == 2 && !memcmp(buf, "\1\2", 2), "unpack: xattr on a device",
	       "n %zd", n);
	snprintf(p, sizeof(p), "%s/z/fifo", d);
	result(!lstat(p, &st) && S_ISFIFO(st.st_mode), "unpack: fifo", "mode 0%o",
	       st.st_mode);
	snprintf(p, sizeof(p), "%s/z", d);
	result(!lstat(p, &st) && st.st_mode == (S_IFDIR | 01777) &&
	       st.st_mtim.tv_nsec == 123456789, "unpack: directory mode and mtime",
	       "mode 0%o", st.st_mode);
	result(!lstat(d, &st) && st.st_nlink == 4 && st.st_mode == (S_IFDIR | 0755),
	       "unpack: root attributes and no staging left", "nlink %lu",
	       (unsigned long)st.st_nlink);
}

static void test_unpack(void)
{
	struct image_buf img = base_image();
	struct nydusfs_unpack_stats st;
	struct nydusfs_image *im;
	char blobs[600], dest[600];
	int err;

	snprintf(blobs, sizeof(blobs), "%s/blobs", tmpdir);
	snprintf(dest, sizeof(dest), "%s/dest", tmpdir);
	if (nydusfs_image_open_mem(img.p, img.len, 0, &im)) {
		result(false, "unpack", "cannot open the base image");
		free(img.p);
		return;
	}
	err = nydusfs_unpack(im, blobs, dest, &st);
	result(!err && st.paths == 9 && st.inodes == 8 && st.chunks == 3,
	       "unpack of the base image", "err %d paths %llu inodes %llu chunks %llu",
	       err, (unsigned long long)st.paths, (unsigned long long)st.inodes,
	       (unsigned long long)st.chunks);
	if (!err)
		check_unpacked(dest);
	err = nydusfs_unpack(im, blobs, dest, NULL);
	result(err == -EEXIST, "unpack refuses an existing DESTDIR", "err %d", err);
	nydusfs_image_close(im);
	free(img.p);
}

/* A hostile image (a name "..") is refused and nothing is created. */
static void test_unpack_hostile(void)
{
	static struct model m;
	struct image_buf img;
	struct nydusfs_image *im;
	char dest[600];
	struct stat st;
	int err;

	base_model(&m);
	name_dotdot(&m);
	model_digests(&m);
	img = serialize(&m, NULL);
	snprintf(dest, sizeof(dest), "%s/dest-hostile", tmpdir);
	err = nydusfs_image_open_mem(img.p, img.len, 0, &im);
	if (!err) {
		err = nydusfs_unpack(im, tmpdir, dest, NULL);
		nydusfs_image_close(im);
	}
	result(err == -EFSCORRUPTED && stat(dest, &st) && errno == ENOENT,
	       "unpack refuses a name \"..\" and creates nothing", "err %d", err);
	free(img.p);
}

/*
 * A chain of 300 directories (past the fd window) with hard links between
 * the top and the bottom: exercises reopening through "..".
 */
static void test_deep(void)
{
	static const char *names[] = { "d", "e" };
	struct tnode *root, *dir, *sub, *f;
	static struct model m;
	struct image_buf img;
	struct nydusfs_image *im = NULL;
	char dest[600], path[4096];
	struct stat st;
	unsigned int entries = 0;
	int i, err;

	pool_used = 0;
	root = tnew(S_IFDIR | 0755);
	f = tnew(S_IFREG | 0644);
	tadd(root, "a", f);
	dir = root;
	for (i = 0; i < 300; i++) {
		sub = tnew(S_IFDIR | 0755);
		tadd(dir, names[i % 2], sub);
		dir = sub;
	}
	tadd(dir, "link", f);
	tadd(dir, "y", tnew(S_IFIFO | 0600));
	model_from_tree(&m, root);
	model_digests(&m);
	img = serialize(&m, NULL);
	err = nydusfs_image_open_mem(img.p, img.len, 0, &im);
	if (!err)
		err = nydusfs_check(im, NULL, NULL);
	if (!err)
		err = walk_all(im, &entries);
	result(!err && entries == 304, "deep tree checks and walks", "err %d, %u entries",
	       err, entries);
	snprintf(dest, sizeof(dest), "%s/dest-deep", tmpdir);
	if (!err)
		err = nydusfs_unpack(im, tmpdir, dest, NULL);
	result(!err && !stat(dest, &st) && st.st_nlink == 3, "deep tree unpacks",
	       "err %d", err);
	strcpy(path, dest);
	for (i = 0; i < 300; i++)
		strcat(path, i % 2 ? "/e" : "/d");
	strcat(path, "/link");
	result(!err && !stat(path, &st) && st.st_nlink == 2,
	       "deep tree: hard link at the bottom", "stat %s", path);
	nydusfs_image_close(im);
	free(img.p);
}

static void test_open_file(void)
{
	struct image_buf img = base_image();
	struct nydusfs_image *im = NULL;
	char path[600];
	int err, fd;

	snprintf(path, sizeof(path), "%s/bootstrap", tmpdir);
	write_file(path, img.p, img.len);
	err = nydusfs_image_open(path, &im);
	result(!err, "open a bootstrap file", "err %d", err);
	nydusfs_image_close(im);
	write_file(path, img.p, img.len - 4096);
	err = nydusfs_image_open(path, &im);
	result(err == -EFSCORRUPTED, "open a truncated bootstrap file", "err %d", err);
	fd = open(path, O_WRONLY);
	err = ftruncate(fd, (5ULL << 30));
	close(fd);
	err = err ? -errno : nydusfs_image_open(path, &im);
	result(err == -EFBIG, "open a 5 GiB bootstrap is refused", "err %d", err);
	unlink(path);
	free(img.p);
}

/* Random bit flips (checksum fixed): only clean or a clean error. */
static void test_bit_flips(void)
{
	struct image_buf img = base_image();
	struct nydusfs_super_block *sb = (void *)img.p;
	uint8_t *copy = malloc(img.len);
	unsigned int i, bad = 0, worst = 0;
	struct image_buf t = { copy, img.len };
	bool at_open;
	int err, j;

	srand(42);
	for (i = 0; i < 3000; i++) {
		memcpy(copy, img.p, img.len);
		for (j = 0; j < 1 + (int)(i % 4); j++) {
			size_t off = i % 3 ? (size_t)rand() % (img.len - 4096) + 4096 :
					     (size_t)rand() % 256;
			copy[off] ^= 1 << (rand() % 8);
		}
		sb = (void *)copy;
		sb->checksum = cpu_to_le32(nydusfs_sb_checksum(sb));
		err = open_and_check(&t, &at_open);
		if (err && err != -EFSCORRUPTED && err != -EOPNOTSUPP) {
			bad++;
			worst = -err;
		}
	}
	result(!bad, "3000 random bit flips: clean or a clean error",
	       "%u gave another error (%s)", bad, strerror(worst));
	free(copy);
	free(img.p);
}

/* ---- seeds for the fuzzer -------------------------------------------------- */

static int write_corpus(const char *dir)
{
	static struct model m;
	struct image_buf img;
	char path[4096];
	size_t i;
	int err;

	mkdir(dir, 0755);
	make_blobs();
	img = base_image();
	snprintf(path, sizeof(path), "%s/base", dir);
	err = write_file(path, img.p, img.len);
	free(img.p);
	/* a few damaged ones as well: they reach deeper error paths */
	for (i = 0; !err && i < NYDUSFS_ARRAY_SIZE(cases); i += 7) {
		if (!cases[i].pre)
			continue;
		base_model(&m);
		cases[i].pre(&m);
		model_digests(&m);
		img = serialize(&m, NULL);
		snprintf(path, sizeof(path), "%s/case-%zu", dir, i);
		err = write_file(path, img.p, img.len);
		free(img.p);
	}
	if (err)
		fprintf(stderr, "reader_test: %s: %s\n", path, strerror(-err));
	return err ? 1 : 0;
}

static void remove_tmp(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "reader_test: could not remove %s\n", tmpdir);
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc == 3 && !strcmp(argv[1], "--write-corpus"))
		return write_corpus(argv[2]);
	verbose = argc == 2 && !strcmp(argv[1], "-v");
	if (!verbose)
		nydusfs_log_level = -1;
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	make_blobs();
	for (i = 0; i < NYDUSFS_ARRAY_SIZE(cases); i++)
		run_case(&cases[i]);
	test_base();
	test_bad_blob();
	test_unpack();
	test_unpack_hostile();
	test_deep();
	test_open_file();
	test_bit_flips();
	remove_tmp();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
