// SPDX-License-Identifier: GPL-2.0
/*
 * Corrupt bootstraps: truncated, every bit of the superblock flipped, one
 * targeted corruption of each structure, random bytes in the metadata
 * regions, and the corpus of bootstraps from the host tests and the
 * fuzzer.  Each is refused at mount or fails with EUCLEAN (EIO for data)
 * where it is used; never an oops (tools/vm-run fails the run on one),
 * never a hang.  The daemon serves the real blobs, so a corrupt chunk
 * table reaches it too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "helpers.h"
#include "nydusfs_fs.h"

FIXTURE(corrupt) {
	char tmp[PATH_MAX];
	char mnt[PATH_MAX + 8];
	char scratch[PATH_MAX + 16];
	char path[PATH_MAX + 32];	/* the corrupt bootstrap */
	struct st_image img;
	struct st_daemon d;
	uint8_t *orig;
	size_t size;
};

FIXTURE_SETUP(corrupt)
{
	const char *why = st_missing_prereq();
	void *buf;

	if (why)
		SKIP(return, "%s", why);
	if (st_find_image("small", &self->img))
		SKIP(return, "no image 'small' under %s", st_data_dir());
	ASSERT_EQ(0, st_private_mounts());
	ASSERT_EQ(0, st_mkdtemp(self->tmp, sizeof(self->tmp)));
	snprintf(self->mnt, sizeof(self->mnt), "%s/mnt", self->tmp);
	ASSERT_EQ(0, mkdir(self->mnt, 0755));
	snprintf(self->scratch, sizeof(self->scratch), "%s/scratch", self->tmp);
	ASSERT_EQ(0, st_scratch_fs(self->tmp, self->scratch, 32));
	snprintf(self->path, sizeof(self->path), "%s/bootstrap", self->scratch);
	ASSERT_EQ(0, st_read_file(self->img.bootstrap, &buf, &self->size));
	self->orig = buf;
	ASSERT_EQ(0, st_daemon_start(&self->d, self->img.blob_dir, self->tmp, NULL));
}

FIXTURE_TEARDOWN(corrupt)
{
	if (self->mnt[0])
		umount2(self->mnt, MNT_DETACH);
	if (self->scratch[0])
		umount2(self->scratch, MNT_DETACH);
	st_daemon_kill(&self->d, SIGKILL);
	free(self->orig);
	st_rmtree(self->tmp);
}

static int write_image(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644), err = 0;

	if (fd < 0)
		return -errno;
	if (len && write(fd, buf, len) != (ssize_t)len)
		err = -EIO;
	close(fd);
	return err;
}

/* ---- the image, parsed ---- */

static uint32_t crc32c(const uint8_t *p, size_t len)
{
	uint32_t crc = ~0U;
	int k;

	while (len--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78U & -(crc & 1));
	}
	return ~crc;
}

static void fix_checksum(uint8_t *b)
{
	struct nydusfs_super_block *sb = (void *)b;

	sb->checksum = 0;
	sb->checksum = crc32c(b, sizeof(*sb));
}

static struct nydusfs_super_block *SB(uint8_t *b)
{
	return (void *)b;
}

static void *region(uint8_t *b, int r, size_t index, size_t entsize)
{
	return b + SB(b)->regions[r].offset + index * entsize;
}

static struct nydusfs_inode *inode_of(uint8_t *b, uint32_t nid)
{
	return region(b, NYDUSFS_REGION_INODES, nid, sizeof(struct nydusfs_inode));
}

static struct nydusfs_dirent *dirent_of(uint8_t *b, uint64_t i)
{
	return region(b, NYDUSFS_REGION_DIRENTS, i, sizeof(struct nydusfs_dirent));
}

static const char *string_at(uint8_t *b, uint32_t off)
{
	return region(b, NYDUSFS_REGION_STRINGS, off, 1);
}

/* the dirent index of @name in directory @dir, or -1 */
static long find_dirent(uint8_t *b, uint32_t dir, const char *name)
{
	struct nydusfs_inode *di = inode_of(b, dir);
	uint32_t i;

	for (i = 0; i < di->data_count; i++) {
		struct nydusfs_dirent *de = dirent_of(b, di->data + i);

		if (de->name_len == strlen(name) &&
		    !memcmp(string_at(b, de->name_off), name, de->name_len))
			return di->data + i;
	}
	return -1;
}

/* the nid of a path ("dir/sym") */
static long find_nid(uint8_t *b, const char *path)
{
	char buf[256], *p, *save = NULL;
	long nid = 0, i;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = strtok_r(buf, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		i = find_dirent(b, nid, p);
		if (i < 0)
			return -1;
		nid = dirent_of(b, i)->nid;
	}
	return nid;
}

/* ---- what a corrupt image must do ---- */

enum expect { REFUSED, EUCLEAN_ON, ANY };
enum op { OP_LSTAT, OP_READDIR, OP_READ, OP_READLINK, OP_LISTXATTR,
	  OP_GETXATTR };

struct corruption {
	const char *what;
	/* change @b; false if the image has nothing to corrupt */
	bool (*fn)(uint8_t *b, size_t *size);
	enum expect expect;
	enum op op;
	const char *path;	/* where the op is tried */
	int errno_refused;	/* REFUSED: this errno, or 0 for any */
};

/* superblock fields, the checksum made right again */
static bool sb_magic(uint8_t *b, size_t *s) { (void)s; SB(b)->magic ^= 1; fix_checksum(b); return true; }
static bool sb_version(uint8_t *b, size_t *s) { (void)s; SB(b)->version_major = 2; fix_checksum(b); return true; }
static bool sb_incompat(uint8_t *b, size_t *s) { (void)s; SB(b)->feature_incompat |= 0x80; fix_checksum(b); return true; }
static bool sb_checksum(uint8_t *b, size_t *s) { (void)s; SB(b)->checksum ^= 0x100; return true; }
static bool sb_no_inodes(uint8_t *b, size_t *s) { (void)s; SB(b)->inode_count = 0; fix_checksum(b); return true; }
static bool sb_more_inodes(uint8_t *b, size_t *s) { (void)s; SB(b)->inode_count++; fix_checksum(b); return true; }
static bool sb_huge_inodes(uint8_t *b, size_t *s) { (void)s; SB(b)->inode_count = 0xffffffff; fix_checksum(b); return true; }
static bool sb_root_nid(uint8_t *b, size_t *s) { (void)s; SB(b)->root_nid = 1; fix_checksum(b); return true; }
static bool sb_small_chunk(uint8_t *b, size_t *s) { (void)s; SB(b)->chunkszbits = 11; fix_checksum(b); return true; }
static bool sb_big_chunk(uint8_t *b, size_t *s) { (void)s; SB(b)->chunkszbits = 63; fix_checksum(b); return true; }
static bool sb_blkszbits(uint8_t *b, size_t *s) { (void)s; SB(b)->blkszbits = 9; fix_checksum(b); return true; }
static bool sb_size(uint8_t *b, size_t *s) { (void)s; SB(b)->bootstrap_size += 4096; fix_checksum(b); return true; }
static bool sb_sbsize(uint8_t *b, size_t *s) { (void)s; SB(b)->sb_size = 128; fix_checksum(b); return true; }
static bool rg_unaligned(uint8_t *b, size_t *s) { (void)s; SB(b)->regions[1].offset += 8; fix_checksum(b); return true; }
static bool rg_overlap(uint8_t *b, size_t *s) { (void)s; SB(b)->regions[2].offset = SB(b)->regions[1].offset; fix_checksum(b); return true; }
static bool rg_order(uint8_t *b, size_t *s) { (void)s; SB(b)->regions[0].offset = SB(b)->regions[6].offset; fix_checksum(b); return true; }
static bool rg_past_end(uint8_t *b, size_t *s) { SB(b)->regions[6].size = *s; fix_checksum(b); return true; }
static bool rg_huge(uint8_t *b, size_t *s) { (void)s; SB(b)->regions[3].size = 0xfffffffffffff000ULL; fix_checksum(b); return true; }
static bool rg_odd_size(uint8_t *b, size_t *s) { (void)s; SB(b)->regions[1].size += 3; fix_checksum(b); return true; }
static bool rg_zero_offset(uint8_t *b, size_t *s) { (void)s; SB(b)->regions[0].offset = 0; fix_checksum(b); return true; }

static struct nydusfs_blob *blob0(uint8_t *b) { return region(b, NYDUSFS_REGION_BLOBS, 0, sizeof(struct nydusfs_blob)); }
static bool bl_index(uint8_t *b, size_t *s) { (void)s; blob0(b)->chunk_index = 1; return true; }
static bool bl_count(uint8_t *b, size_t *s) { (void)s; blob0(b)->chunk_count += 1; return true; }
static bool bl_unaligned(uint8_t *b, size_t *s) { (void)s; blob0(b)->uncompressed_size += 100; return true; }

static bool root_not_dir(uint8_t *b, size_t *s) { (void)s; inode_of(b, 0)->mode = S_IFREG | 0644; return true; }
static bool root_parent(uint8_t *b, size_t *s) { (void)s; inode_of(b, 0)->parent_nid = 3; return true; }
static bool root_huge_dir(uint8_t *b, size_t *s) { (void)s; inode_of(b, 0)->data_count = 0x7fffffff; inode_of(b, 0)->size = 0x7fffffffULL * 16; return true; }

static struct nydusfs_dirent *de_named(uint8_t *b, uint32_t dir, const char *name)
{
	long i = find_dirent(b, dir, name);

	return i < 0 ? NULL : dirent_of(b, i);
}

static bool de_loop(uint8_t *b, size_t *s)
{
	struct nydusfs_dirent *de = de_named(b, 0, "dir");

	(void)s;
	if (!de)
		return false;
	de->nid = 0;		/* "dir" is the root again */
	return true;
}

static bool de_nid_range(uint8_t *b, size_t *s) { struct nydusfs_dirent *de = de_named(b, 0, "file"); (void)s; if (!de) return false; de->nid = SB(b)->inode_count; return true; }
static bool de_nid_huge(uint8_t *b, size_t *s) { struct nydusfs_dirent *de = de_named(b, 0, "file"); (void)s; if (!de) return false; de->nid = 0xfffffff0; return true; }
static bool de_type(uint8_t *b, size_t *s) { struct nydusfs_dirent *de = de_named(b, 0, "file"); (void)s; if (!de) return false; de->file_type = 3; return true; }
static bool de_type_mismatch(uint8_t *b, size_t *s) { struct nydusfs_dirent *de = de_named(b, 0, "file"); (void)s; if (!de) return false; de->file_type = NYDUSFS_FT_DIR; return true; }
static bool de_name_len0(uint8_t *b, size_t *s) { struct nydusfs_dirent *de = de_named(b, 0, "file"); (void)s; if (!de) return false; de->name_len = 0; return true; }
static bool de_name_off(uint8_t *b, size_t *s) { struct nydusfs_dirent *de = de_named(b, 0, "file"); (void)s; if (!de) return false; de->name_off = 0x7ffffff0; return true; }
static bool de_name_cross(uint8_t *b, size_t *s) { struct nydusfs_dirent *de = de_named(b, 0, "file"); (void)s; if (!de) return false; de->name_off = 4094; de->name_len = 4; return true; }

static bool de_name_slash(uint8_t *b, size_t *s)
{
	struct nydusfs_dirent *de = de_named(b, 0, "file");

	(void)s;
	if (!de)
		return false;
	((char *)string_at(b, de->name_off))[1] = '/';
	return true;
}

static bool de_name_dot(uint8_t *b, size_t *s)
{
	struct nydusfs_dirent *de = de_named(b, 0, "chr");

	(void)s;
	if (!de)
		return false;
	de->name_len = 1;
	((char *)string_at(b, de->name_off))[0] = '.';
	return true;
}

static bool de_unsorted(uint8_t *b, size_t *s)
{
	struct nydusfs_inode *root = inode_of(b, 0);
	struct nydusfs_dirent tmp, *a, *z;

	(void)s;
	if (root->data_count < 2)
		return false;
	a = dirent_of(b, root->data);
	z = dirent_of(b, root->data + root->data_count - 1);
	tmp = *a;
	*a = *z;
	*z = tmp;
	return true;
}

static bool de_dir_parent(uint8_t *b, size_t *s)
{
	long nid = find_nid(b, "dir/sub");

	(void)s;
	if (nid < 0)
		return false;
	inode_of(b, nid)->parent_nid = 0;	/* not "dir" */
	return true;
}

static struct nydusfs_inode *ino_at(uint8_t *b, const char *path)
{
	long nid = find_nid(b, path);

	return nid < 0 ? NULL : inode_of(b, nid);
}

#define INODE_FN(name, path, stmt)					\
static bool name(uint8_t *b, size_t *s)					\
{									\
	struct nydusfs_inode *i = ino_at(b, path);			\
	(void)s;							\
	if (!i)								\
		return false;						\
	stmt;								\
	return true;							\
}

INODE_FN(reg_size_big, "dir/random", i->size = i->size * 4)
INODE_FN(reg_count_huge, "dir/random", i->data_count = 0xffffffff)
INODE_FN(reg_data_off, "dir/random", i->data = 0xffffffff00ULL)
INODE_FN(reg_huge_size, "dir/random", i->size = 1ULL << 62; i->data_count = 0x7fffffff)
INODE_FN(reg_mode_bad, "file", i->mode = 0170644)
INODE_FN(dir_size_bad, "dir", i->size += 16)
INODE_FN(dir_count_past, "dir", i->data_count = 0x100000; i->size = 0x100000 * 16)
INODE_FN(sym_empty, "dir/sym", i->size = 0)
INODE_FN(sym_long, "dir/sym", i->size = 5000)
INODE_FN(sym_off, "dir/sym", i->data = 0xfffffff0ULL)
INODE_FN(sym_cross, "dir/sym", i->data = 4090; i->size = 20)
INODE_FN(xattr_count, "file", i->xattr_count = 0xfffffff)
INODE_FN(xattr_index, "file", i->xattr_index = 0xfffffff0)
INODE_FN(nsec_bad, "file", i->mtime_nsec = 2000000000)
INODE_FN(chr_data, "chr", i->data_count = 5; i->size = 99)

static struct nydusfs_xattr *xattr0(uint8_t *b)
{
	return region(b, NYDUSFS_REGION_XATTRS, 0, sizeof(struct nydusfs_xattr));
}
static bool xa_name_off(uint8_t *b, size_t *s) { (void)s; if (!SB(b)->regions[2].size) return false; xattr0(b)->name_off = 0x7ffffff0; return true; }
static bool xa_name_len(uint8_t *b, size_t *s) { (void)s; if (!SB(b)->regions[2].size) return false; xattr0(b)->name_len = 0; return true; }
static bool xa_value_len(uint8_t *b, size_t *s) { (void)s; if (!SB(b)->regions[2].size) return false; xattr0(b)->value_len = 0x7fffffff; return true; }
static bool xa_value_off(uint8_t *b, size_t *s) { (void)s; if (!SB(b)->regions[2].size) return false; xattr0(b)->value_off = 0xfffffff0; return true; }

static struct nydusfs_chunk_ref *ref_of(uint8_t *b, const char *path)
{
	struct nydusfs_inode *i = ino_at(b, path);

	return i ? region(b, NYDUSFS_REGION_CHUNK_REFS, i->data,
			  sizeof(struct nydusfs_chunk_ref)) : NULL;
}

static struct nydusfs_chunk *chunk_of(uint8_t *b, const char *path)
{
	struct nydusfs_chunk_ref *r = ref_of(b, path);

	if (!r || r->blob_index != 0)
		return NULL;
	return region(b, NYDUSFS_REGION_CHUNKS, blob0(b)->chunk_index + r->chunk_index,
		      sizeof(struct nydusfs_chunk));
}

#define REF_FN(name, stmt)						\
static bool name(uint8_t *b, size_t *s)					\
{									\
	struct nydusfs_chunk_ref *r = ref_of(b, "file");		\
	(void)s;							\
	if (!r)								\
		return false;						\
	stmt;								\
	return true;							\
}
REF_FN(ref_blob, r->blob_index = 7)
REF_FN(ref_chunk, r->chunk_index = 0x7fffffff)
REF_FN(ref_hole_chunk, r->blob_index = NYDUSFS_CHUNK_HOLE; r->chunk_index = 5)

#define CHUNK_FN(name, stmt)						\
static bool name(uint8_t *b, size_t *s)					\
{									\
	struct nydusfs_chunk *c = chunk_of(b, "file");			\
	(void)s;							\
	if (!c)								\
		return false;						\
	stmt;								\
	return true;							\
}
CHUNK_FN(ch_usize, c->uncompressed_size += 1)
CHUNK_FN(ch_uoff, c->uncompressed_offset = 0xfffffffff000ULL)
CHUNK_FN(ch_uoff_odd, c->uncompressed_offset += 1)
CHUNK_FN(ch_coff, c->compressed_offset = 0xffffffffffULL)
CHUNK_FN(ch_csize, c->compressed_size = 0x7fffffff)
CHUNK_FN(ch_compr, c->compressor = 9)
CHUNK_FN(ch_compr_feature, c->compressor = NYDUSFS_COMPR_ZSTD)
CHUNK_FN(ch_digest, c->digest[0] ^= 1)

static const struct corruption corruptions[] = {
	{ "bad magic", sb_magic, REFUSED },
	{ "format version 2", sb_version, REFUSED, .errno_refused = EOPNOTSUPP },
	{ "unknown incompat feature", sb_incompat, REFUSED, .errno_refused = EOPNOTSUPP },
	{ "bad checksum", sb_checksum, REFUSED },
	{ "no inodes", sb_no_inodes, REFUSED },
	{ "one inode too many", sb_more_inodes, REFUSED },
	{ "2^32-1 inodes", sb_huge_inodes, REFUSED },
	{ "root nid 1", sb_root_nid, REFUSED },
	{ "chunk size 2 KiB", sb_small_chunk, REFUSED },
	{ "chunk size 2^63", sb_big_chunk, REFUSED },
	{ "block size 512", sb_blkszbits, REFUSED },
	{ "bootstrap_size too big", sb_size, REFUSED },
	{ "sb_size 128", sb_sbsize, REFUSED },
	{ "unaligned region", rg_unaligned, REFUSED },
	{ "overlapping regions", rg_overlap, REFUSED },
	{ "regions out of order", rg_order, REFUSED },
	{ "region past the end", rg_past_end, REFUSED },
	{ "region size 2^64-4096", rg_huge, REFUSED },
	{ "region size not whole entries", rg_odd_size, REFUSED },
	{ "region at offset 0", rg_zero_offset, REFUSED },
	{ "blob chunk range off by one", bl_index, REFUSED },
	{ "blob chunk count off by one", bl_count, REFUSED },
	{ "blob size unaligned", bl_unaligned, REFUSED },
	{ "root is a file", root_not_dir, REFUSED },
	{ "root has a parent", root_parent, REFUSED },
	{ "root has 2^31 entries", root_huge_dir, EUCLEAN_ON, OP_READDIR, "" },
	{ "dirent names the root", de_loop, EUCLEAN_ON, OP_LSTAT, "dir/sub" },
	{ "dirent nid out of range", de_nid_range, EUCLEAN_ON, OP_LSTAT, "file" },
	{ "dirent nid 2^32-16", de_nid_huge, EUCLEAN_ON, OP_READDIR, "" },
	{ "dirent bad type", de_type, EUCLEAN_ON, OP_READDIR, "" },
	{ "dirent type differs", de_type_mismatch, EUCLEAN_ON, OP_LSTAT, "file" },
	{ "dirent empty name", de_name_len0, EUCLEAN_ON, OP_READDIR, "" },
	{ "dirent name offset", de_name_off, EUCLEAN_ON, OP_READDIR, "" },
	{ "dirent name across 4K", de_name_cross, EUCLEAN_ON, OP_READDIR, "" },
	{ "dirent name with /", de_name_slash, EUCLEAN_ON, OP_READDIR, "" },
	{ "dirent name .", de_name_dot, EUCLEAN_ON, OP_READDIR, "" },
	{ "dirents unsorted", de_unsorted, ANY, OP_READDIR, "" },
	{ "directory's parent wrong", de_dir_parent, EUCLEAN_ON, OP_LSTAT, "dir/sub" },
	{ "file size past its chunks", reg_size_big, EUCLEAN_ON, OP_LSTAT, "dir/random" },
	{ "file with 2^32-1 chunks", reg_count_huge, EUCLEAN_ON, OP_LSTAT, "dir/random" },
	{ "file chunk refs out of the table", reg_data_off, EUCLEAN_ON, OP_READ, "dir/random" },
	{ "file of 2^62 bytes", reg_huge_size, EUCLEAN_ON, OP_READ, "dir/random" },
	{ "unknown file type", reg_mode_bad, EUCLEAN_ON, OP_LSTAT, "file" },
	{ "directory size", dir_size_bad, EUCLEAN_ON, OP_LSTAT, "dir" },
	{ "directory entries past the table", dir_count_past, EUCLEAN_ON, OP_READDIR, "dir" },
	{ "empty symlink", sym_empty, EUCLEAN_ON, OP_READLINK, "dir/sym" },
	{ "5000-byte symlink", sym_long, EUCLEAN_ON, OP_READLINK, "dir/sym" },
	{ "symlink target out of the strings", sym_off, EUCLEAN_ON, OP_READLINK, "dir/sym" },
	{ "symlink target across 4K", sym_cross, EUCLEAN_ON, OP_READLINK, "dir/sym" },
	{ "2^28 xattrs", xattr_count, EUCLEAN_ON, OP_LISTXATTR, "file" },
	{ "xattr index out of the table", xattr_index, EUCLEAN_ON, OP_LISTXATTR, "file" },
	{ "xattr name offset", xa_name_off, EUCLEAN_ON, OP_LISTXATTR, "file" },
	{ "xattr empty name", xa_name_len, EUCLEAN_ON, OP_LISTXATTR, "file" },
	{ "xattr value 2 GiB", xa_value_len, EUCLEAN_ON, OP_GETXATTR, "file" },
	{ "xattr value offset", xa_value_off, EUCLEAN_ON, OP_GETXATTR, "file" },
	{ "mtime_nsec 2e9", nsec_bad, ANY, OP_LSTAT, "file" },
	{ "device with data", chr_data, ANY, OP_LSTAT, "chr" },
	{ "chunk ref to blob 7", ref_blob, EUCLEAN_ON, OP_READ, "file" },
	{ "chunk ref past the blob", ref_chunk, EUCLEAN_ON, OP_READ, "file" },
	{ "hole with a chunk index", ref_hole_chunk, ANY, OP_READ, "file" },
	{ "chunk size not the slot's", ch_usize, EUCLEAN_ON, OP_READ, "file" },
	{ "chunk past the cache file", ch_uoff, EUCLEAN_ON, OP_READ, "file" },
	{ "chunk offset unaligned", ch_uoff_odd, EUCLEAN_ON, OP_READ, "file" },
	{ "chunk past the blob file", ch_coff, EUCLEAN_ON, OP_READ, "file" },
	{ "chunk of 2 GiB compressed", ch_csize, EUCLEAN_ON, OP_READ, "file" },
	{ "unknown compressor", ch_compr, EUCLEAN_ON, OP_READ, "file" },
	{ "compressor without its feature", ch_compr_feature, EUCLEAN_ON, OP_READ, "file" },
	{ "chunk digest wrong", ch_digest, ANY, OP_READ, "file" },
};

/* Do @op on @path in the mount: 0 or -errno */
static int try_op(const char *mnt, enum op op, const char *path)
{
	char full[PATH_MAX + 300], buf[65536];
	struct stat st;
	ssize_t n = 0;
	DIR *d;
	int fd;

	snprintf(full, sizeof(full), "%s/%s", mnt, path);
	switch (op) {
	case OP_LSTAT:
		return lstat(full, &st) ? -errno : 0;
	case OP_READDIR:
		d = opendir(full);
		if (!d)
			return -errno;
		errno = 0;
		while (readdir(d))
			;
		n = errno;
		closedir(d);
		return -n;
	case OP_READ:
		fd = open(full, O_RDONLY);
		if (fd < 0)
			return -errno;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		if (n < 0)
			n = -errno;
		close(fd);
		return n;
	case OP_READLINK:
		return readlink(full, buf, sizeof(buf)) < 0 ? -errno : 0;
	case OP_LISTXATTR:
		return llistxattr(full, buf, sizeof(buf)) < 0 ? -errno : 0;
	case OP_GETXATTR:
		return lgetxattr(full, "user.x", buf, sizeof(buf)) < 0 ? -errno : 0;
	}
	return -EINVAL;
}

TEST_F_TIMEOUT(corrupt, targeted, 120)
{
	uint8_t *b = malloc(self->size);
	unsigned int i, ran = 0;
	size_t size;
	int err;

	ST_SKIPPED();
	ASSERT_NE(NULL, b);
	for (i = 0; i < sizeof(corruptions) / sizeof(corruptions[0]); i++) {
		const struct corruption *c = &corruptions[i];

		memcpy(b, self->orig, self->size);
		size = self->size;
		if (!c->fn(b, &size)) {
			TH_LOG("%s: nothing to corrupt in this image", c->what);
			continue;
		}
		ran++;
		ASSERT_EQ(0, write_image(self->path, b, size));
		err = st_mount(self->path, self->mnt, "timeout=3");
		if (c->expect == REFUSED) {
			EXPECT_NE(0, err) TH_LOG("%s: mounted", c->what);
			if (c->errno_refused && err)
				EXPECT_EQ(-c->errno_refused, err)
					TH_LOG("%s: %s", c->what, strerror(-err));
			if (!err)
				st_umount(self->mnt);
			continue;
		}
		if (err) {
			/* refused at mount is fine too */
			TH_LOG("%s: refused at mount (%s)", c->what, strerror(-err));
			continue;
		}
		err = try_op(self->mnt, c->op, c->path);
		if (c->expect == EUCLEAN_ON) {
			EXPECT_TRUE(err == -EUCLEAN || (c->op == OP_READ && err == -EIO))
				TH_LOG("%s: %s gave %s", c->what, c->path,
				       err ? strerror(-err) : "success");
		} else {
			TH_LOG("%s: %s gave %s", c->what, c->path,
			       err ? strerror(-err) : "success");
		}
		/* and a full walk: whatever it finds, no crash */
		try_op(self->mnt, OP_READDIR, "");
		EXPECT_EQ(0, st_umount(self->mnt)) TH_LOG("%s", c->what);
	}
	TH_LOG("%u corruptions tried", ran);
	free(b);
}

TEST_F(corrupt, truncated)
{
	size_t sizes[] = { 0, 1, 255, 256, 4095, 4096, 4097, 8192, 12288,
			   self->size / 2, self->size - 4096, self->size - 1,
			   self->size + 1, self->size + 4096 };
	uint8_t *b = calloc(1, self->size + 8192);
	unsigned int i;
	int err;

	ST_SKIPPED();
	ASSERT_NE(NULL, b);
	memcpy(b, self->orig, self->size);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ASSERT_EQ(0, write_image(self->path, b, sizes[i]));
		err = st_mount(self->path, self->mnt, NULL);
		EXPECT_NE(0, err) TH_LOG("a bootstrap of %zu bytes (of %zu) mounted",
					 sizes[i], self->size);
		if (!err)
			st_umount(self->mnt);
	}
	free(b);
}

/* every bit of the superblock: the checksum catches each */
TEST_F_TIMEOUT(corrupt, superblock_bits, 120)
{
	unsigned int bit, mounted = 0;
	uint8_t byte;
	int fd, err;

	ST_SKIPPED();
	ASSERT_EQ(0, write_image(self->path, self->orig, self->size));
	fd = open(self->path, O_RDWR);
	ASSERT_LE(0, fd);
	for (bit = 0; bit < 8 * sizeof(struct nydusfs_super_block); bit++) {
		byte = self->orig[bit / 8] ^ (1U << (bit % 8));
		ASSERT_EQ(1, pwrite(fd, &byte, 1, bit / 8));
		err = st_mount(self->path, self->mnt, NULL);
		if (!err) {
			mounted++;
			TH_LOG("bit %u flipped: mounted", bit);
			st_umount(self->mnt);
		}
		ASSERT_EQ(1, pwrite(fd, &self->orig[bit / 8], 1, bit / 8));
	}
	close(fd);
	EXPECT_EQ(0, mounted);
	/* unflipped, it mounts */
	ASSERT_EQ(0, st_mount(self->path, self->mnt, NULL));
	EXPECT_EQ(0, st_umount(self->mnt));
}

/* ---- walking whatever mounted ---- */

struct tally {
	unsigned long entries, errors, other;
	int last_other;
};

static bool expected_errno(int err)
{
	switch (err) {
	case EUCLEAN: case EIO: case ENOENT: case ENODATA: case ERANGE:
	case E2BIG: case ENOTDIR: case ELOOP: case ENAMETOOLONG:
	case EOPNOTSUPP: case ETIMEDOUT: case EINVAL: case ENOMEM:
	case EFBIG: case EOVERFLOW:
		return true;
	}
	return false;
}

static void tally(struct tally *t, int err)
{
	if (!err)
		return;
	if (err < 0)
		err = -err;
	t->errors++;
	if (!expected_errno(err)) {
		t->other++;
		t->last_other = err;
	}
}

static int walk_visit(int dfd, const char *name, const struct stat *st,
		      const char *path, int err, void *arg)
{
	char buf[65536];
	struct tally *t = arg;
	ssize_t n;
	int fd;

	(void)path;
	t->entries++;
	if (t->entries > 20000)
		return -E2BIG;	/* a corrupt directory may seem endless */
	tally(t, err);
	if (err || !st)
		return 0;
	if (S_ISLNK(st->st_mode) && readlinkat(dfd, name, buf, sizeof(buf)) < 0)
		tally(t, errno);
	if (S_ISREG(st->st_mode)) {
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW);
		if (fd < 0) {
			tally(t, errno);
			return 0;
		}
		/* the first MiB is enough to reach the chunk tables */
		n = pread(fd, buf, sizeof(buf), 0);
		if (n < 0)
			tally(t, errno);
		close(fd);
	}
	return 0;
}

/* mount @path; if it mounts, walk and read it: 1 mounted, 0 refused */
static int mount_and_walk(struct __test_metadata *_metadata,
			  FIXTURE_DATA(corrupt) *self, const char *path,
			  struct tally *t, const char *what)
{
	char buf[4096];
	int err;

	err = st_mount(path, self->mnt, "timeout=2");
	if (err)
		return 0;
	err = st_walk(self->mnt, walk_visit, t);
	tally(t, err == -E2BIG ? 0 : err);
	llistxattr(self->mnt, buf, sizeof(buf));
	EXPECT_EQ(0, st_umount(self->mnt)) TH_LOG("%s: umount", what);
	if (t->other)
		TH_LOG("%s: unexpected error %s", what, strerror(t->last_other));
	return 1;
}

/* a random byte of a random non-empty region */
static size_t random_offset(const uint8_t *orig, unsigned int *seed)
{
	const struct nydusfs_super_block *sb = (const void *)orig;
	int r;

	for (;;) {
		*seed = *seed * 1103515245 + 12345;
		r = (*seed >> 16) % NYDUSFS_REGION_COUNT;
		if (!sb->regions[r].size)
			continue;
		*seed = *seed * 1103515245 + 12345;
		return sb->regions[r].offset + (*seed >> 3) % sb->regions[r].size;
	}
}

TEST_F_TIMEOUT(corrupt, random_bytes, 200)
{
	uint8_t *b = malloc(self->size);
	unsigned int seed = 0x6e796478, i, k, n, mounted = 0, rounds = 1000;
	struct tally t = {};
	size_t off;

	ST_SKIPPED();
	ASSERT_NE(NULL, b);
	for (i = 0; i < rounds; i++) {
		memcpy(b, self->orig, self->size);
		seed = seed * 1103515245 + 12345;
		n = 1 + (seed >> 16) % 3;
		for (k = 0; k < n; k++) {
			off = random_offset(self->orig, &seed);
			seed = seed * 1103515245 + 12345;
			/* a flipped bit, or a byte made 0, 0xff or random */
			switch ((seed >> 20) % 4) {
			case 0: b[off] ^= 1U << ((seed >> 8) % 8); break;
			case 1: b[off] = 0; break;
			case 2: b[off] = 0xff; break;
			default: b[off] = seed >> 24; break;
			}
		}
		ASSERT_EQ(0, write_image(self->path, b, self->size));
		mounted += mount_and_walk(_metadata, self, self->path, &t, "random");
	}
	TH_LOG("%u of %u corrupt images mounted; %lu entries, %lu errors",
	       mounted, rounds, t.entries, t.errors);
	EXPECT_EQ(0, t.other);
	EXPECT_LT(0, mounted);
	free(b);
}

/* the bootstraps of the host tests and the fuzzer */
TEST_F_TIMEOUT(corrupt, corpus, 200)
{
	const char *dir = getenv("NYDUSFS_SELFTEST_CORPUS");
	char src[PATH_MAX + 300];
	unsigned int files = 0, mounted = 0;
	struct tally t = {};
	struct dirent *de;
	DIR *d;

	ST_SKIPPED();
	if (!dir)
		dir = "/mnt/disk1";
	d = opendir(dir);
	if (!d)
		SKIP(return, "no corpus at %s", dir);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "lost+found"))
			continue;
		snprintf(src, sizeof(src), "%s/%s", dir, de->d_name);
		if (st_copy_file(src, self->path))
			continue;
		files++;
		mounted += mount_and_walk(_metadata, self, self->path, &t, de->d_name);
	}
	closedir(d);
	TH_LOG("%u of %u corpus bootstraps mounted; %lu entries, %lu errors",
	       mounted, files, t.entries, t.errors);
	if (!files)
		SKIP(return, "the corpus at %s is empty", dir);
	EXPECT_EQ(0, t.other);
}

/* after all that, a good image still mounts and reads right */
TEST_F(corrupt, kernel_still_healthy)
{
	char path[PATH_MAX + 32], src[PATH_MAX + 32], why[512];

	ST_SKIPPED();
	if (!self->img.src[0])
		SKIP(return, "no source tree");
	ASSERT_EQ(0, write_image(self->path, self->orig, self->size));
	ASSERT_EQ(0, st_mount(self->path, self->mnt, "timeout=10"));
	snprintf(path, sizeof(path), "%s/dir/random", self->mnt);
	snprintf(src, sizeof(src), "%s/dir/random", self->img.src);
	EXPECT_EQ(0, st_cmp_files(path, src, why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(0, st_umount(self->mnt));
}

ST_HARNESS_MAIN
