// SPDX-License-Identifier: GPL-2.0
/*
 * The userspace reader: opening a bootstrap and the checked accessors.
 *
 * Opening validates the superblock and the region table only, in O(1).
 * Each accessor then checks the entry it hands out (and, where an invariant
 * relates an entry to its neighbour, that neighbour) before anything
 * derived from it is used, so a hostile bootstrap yields -EFSCORRUPTED and
 * a message naming the nid, blob or chunk, never an out-of-bounds access.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "nydusfs/compress.h"
#include "nydusfs/err.h"
#include "nydusfs/image.h"
#include "nydusfs/log.h"
#include "reader.h"

#define MAX_CHUNK_SIZE	(1U << NYDUSFS_MAX_CHUNKSZBITS)

int nydusfs_image_corrupt(const struct nydusfs_image *img, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (nydusfs_log_level < NYDUSFS_LOG_ERR)
		return -EFSCORRUPTED;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	nydusfs_err("%s: %s", img->label, msg);
	return -EFSCORRUPTED;
}

const char *nydusfs_escape(const char *s, size_t len,
			   char buf[NYDUSFS_ESC_MAX])
{
	static const char digits[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (o + 8 >= NYDUSFS_ESC_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c > 0x20 && c < 0x7f && c != '\\') {
			buf[o++] = c;
			continue;
		}
		buf[o++] = '\\';
		buf[o++] = 'x';
		buf[o++] = digits[c >> 4];
		buf[o++] = digits[c & 15];
	}
	buf[o] = '\0';
	return buf;
}

/* ---- opening ---------------------------------------------------------- */

static int check_super(struct nydusfs_image *img, unsigned int flags)
{
	const struct nydusfs_super_block *sb = (const void *)img->buf;
	uint32_t incompat;
	unsigned int bits;

	if (img->size < NYDUSFS_BLKSZ)
		return nydusfs_image_corrupt(img,
			"bootstrap is %zu bytes, smaller than its %u-byte superblock block (truncated?)",
			img->size, NYDUSFS_BLKSZ);
	incompat = le32_to_cpu(sb->feature_incompat);
	bits = sb->chunkszbits;
	if (le32_to_cpu(sb->magic) != NYDUSFS_MAGIC)
		return nydusfs_image_corrupt(img,
			"bad magic 0x%08x: not a nydusfs bootstrap",
			le32_to_cpu(sb->magic));
	if (!(flags & NYDUSFS_IMAGE_NO_CSUM) &&
	    le32_to_cpu(sb->checksum) != nydusfs_sb_checksum(sb))
		return nydusfs_image_corrupt(img,
			"superblock checksum 0x%08x does not match its contents (0x%08x)",
			le32_to_cpu(sb->checksum), nydusfs_sb_checksum(sb));
	if (le16_to_cpu(sb->version_major) != NYDUSFS_VERSION_MAJOR) {
		nydusfs_err("%s: format version %u.%u is not supported (this reader knows %u.x)",
			    img->label, le16_to_cpu(sb->version_major),
			    le16_to_cpu(sb->version_minor),
			    NYDUSFS_VERSION_MAJOR);
		return -EOPNOTSUPP;
	}
	if (incompat & ~NYDUSFS_FEATURE_INCOMPAT_SUPP) {
		nydusfs_err("%s: unknown incompatible features 0x%x",
			    img->label, incompat & ~NYDUSFS_FEATURE_INCOMPAT_SUPP);
		return -EOPNOTSUPP;
	}
	if (sb->blkszbits != NYDUSFS_BLKSZBITS)
		return nydusfs_image_corrupt(img, "block size bits %u, expected %u",
					     sb->blkszbits, NYDUSFS_BLKSZBITS);
	if (bits < NYDUSFS_MIN_CHUNKSZBITS || bits > NYDUSFS_MAX_CHUNKSZBITS)
		return nydusfs_image_corrupt(img,
			"chunk size bits %u not in %u..%u", bits,
			NYDUSFS_MIN_CHUNKSZBITS, NYDUSFS_MAX_CHUNKSZBITS);
	if (le16_to_cpu(sb->sb_size) != NYDUSFS_SB_SIZE)
		return nydusfs_image_corrupt(img, "superblock size %u, expected %u",
					     le16_to_cpu(sb->sb_size), NYDUSFS_SB_SIZE);
	if (le32_to_cpu(sb->root_nid) != 0)
		return nydusfs_image_corrupt(img, "root nid %u, expected 0",
					     le32_to_cpu(sb->root_nid));
	if (!le32_to_cpu(sb->inode_count))
		return nydusfs_image_corrupt(img, "inode count is 0");
	if (le64_to_cpu(sb->bootstrap_size) != img->size)
		return nydusfs_image_corrupt(img,
			"superblock says the bootstrap is %llu bytes but the file has %zu (truncated?)",
			(unsigned long long)le64_to_cpu(sb->bootstrap_size),
			img->size);
	if (img->size % NYDUSFS_BLKSZ)
		return nydusfs_image_corrupt(img,
			"bootstrap size %zu is not a multiple of %u",
			img->size, NYDUSFS_BLKSZ);
	img->sb = sb;
	img->chunk_size = 1U << bits;
	img->inode_count = le32_to_cpu(sb->inode_count);
	return 0;
}

static int check_one_region(struct nydusfs_image *img,
			    const struct nydusfs_region *r, const char *name,
			    size_t entsize, uint64_t *prev_end)
{
	uint64_t off = le64_to_cpu(r->offset), size = le64_to_cpu(r->size);

	if (off % NYDUSFS_BLKSZ)
		return nydusfs_image_corrupt(img,
			"%s region offset %llu is not 4 KiB aligned", name,
			(unsigned long long)off);
	if (off < *prev_end)
		return nydusfs_image_corrupt(img,
			"%s region at %llu overlaps what precedes it (up to %llu)",
			name, (unsigned long long)off,
			(unsigned long long)*prev_end);
	if (!nydusfs_range_ok(off, size, img->size))
		return nydusfs_image_corrupt(img,
			"%s region (%llu bytes at %llu) runs past the end of the bootstrap (%zu bytes)",
			name, (unsigned long long)size,
			(unsigned long long)off, img->size);
	if (size % entsize)
		return nydusfs_image_corrupt(img,
			"%s region size %llu is not a multiple of its %zu-byte entries",
			name, (unsigned long long)size, entsize);
	*prev_end = off + size;
	return 0;
}

static int check_region(struct nydusfs_image *img, unsigned int i,
			uint64_t *prev_end)
{
	return check_one_region(img, &img->sb->regions[i],
				nydusfs_region_names[i],
				nydusfs_region_entry_size[i], prev_end);
}

/* The 1.1 table of chunk ranges, after the other regions; only with its
 * feature bit (a compatible feature: without it the field is ignored). */
static int check_prefetch_ranges(struct nydusfs_image *img, uint64_t prev_end)
{
	const struct nydusfs_region *r = &img->sb->prefetch_ranges;
	int err;

	if (!(le32_to_cpu(img->sb->feature_compat) &
	      NYDUSFS_FEATURE_COMPAT_PREFETCH_RANGES))
		return 0;
	err = check_one_region(img, r, "prefetch-ranges",
			       sizeof(struct nydusfs_prefetch_range),
			       &prev_end);
	if (err)
		return err;
	img->pranges = (const void *)(img->buf + le64_to_cpu(r->offset));
	img->prange_count = le64_to_cpu(r->size) /
			    sizeof(struct nydusfs_prefetch_range);
	return 0;
}

static const void *region_ptr(const struct nydusfs_image *img, unsigned int i,
			      uint64_t *count)
{
	const struct nydusfs_region *r = &img->sb->regions[i];

	*count = le64_to_cpu(r->size) / nydusfs_region_entry_size[i];
	return img->buf + le64_to_cpu(r->offset);
}

static int check_regions(struct nydusfs_image *img)
{
	uint64_t prev_end = NYDUSFS_BLKSZ, n;
	unsigned int i;
	int err;

	for (i = 0; i < NYDUSFS_REGION_COUNT; i++) {
		err = check_region(img, i, &prev_end);
		if (err)
			return err;
	}
	err = check_prefetch_ranges(img, prev_end);
	if (err)
		return err;
	img->inodes = region_ptr(img, NYDUSFS_REGION_INODES, &n);
	if (n != img->inode_count)
		return nydusfs_image_corrupt(img,
			"inode region holds %llu inodes, the superblock says %u",
			(unsigned long long)n, img->inode_count);
	img->dirents = region_ptr(img, NYDUSFS_REGION_DIRENTS,
				  &img->dirent_count);
	img->xattrs = region_ptr(img, NYDUSFS_REGION_XATTRS, &img->xattr_count);
	img->refs = region_ptr(img, NYDUSFS_REGION_CHUNK_REFS, &img->ref_count);
	img->blobs = region_ptr(img, NYDUSFS_REGION_BLOBS, &n);
	img->blob_count = n;	/* below 2^26: the file is at most 4 GiB */
	img->chunks = region_ptr(img, NYDUSFS_REGION_CHUNKS, &img->chunk_count);
	img->strings = region_ptr(img, NYDUSFS_REGION_STRINGS,
				  &img->strings_size);
	img->prefetch = region_ptr(img, NYDUSFS_REGION_PREFETCH,
				   &img->prefetch_count);
	return 0;
}

static int image_validate(struct nydusfs_image *img, unsigned int flags)
{
	const struct nydusfs_inode *root = NULL;
	int err;

	err = check_super(img, flags);
	if (!err)
		err = check_regions(img);
	if (!err)
		err = nydusfs_image_inode(img, 0, &root);
	if (err)
		return err;
	if (!S_ISDIR(le16_to_cpu(root->mode)))
		return nydusfs_image_corrupt(img,
			"root nid 0 is not a directory (mode 0%o)",
			le16_to_cpu(root->mode));
	return 0;
}

static struct nydusfs_image *image_alloc(const char *label, size_t size)
{
	struct nydusfs_image *img = calloc(1, sizeof(*img));

	if (!img)
		return NULL;
	img->label = strdup(label);
	img->buf = nydusfs_image_buf_alloc(size);
	if (!img->label || !img->buf) {
		free(img->buf);
		free(img->label);
		free(img);
		return NULL;
	}
	img->size = size;
	return img;
}

static int read_all(int fd, uint8_t *buf, size_t size)
{
	size_t done = 0;
	ssize_t ret;

	while (done < size) {
		ret = pread(fd, buf + done, size - done, done);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (!ret)
			return -ENODATA;	/* shrank under us */
		done += ret;
	}
	return 0;
}

void *nydusfs_image_buf_alloc(size_t len)
{
	void *buf;

	/* 4 KiB aligned: every region, and so every entry, is aligned too. */
	if (posix_memalign(&buf, NYDUSFS_BLKSZ, len ? len : 1))
		return NULL;
	return buf;
}

static int read_fd(const char *path, int fd, void **buf, size_t *len)
{
	struct stat st;
	int err;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		nydusfs_err("%s: not a regular file", path);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > NYDUSFS_IMAGE_MAX_SIZE) {
		nydusfs_err("%s: bootstrap is %llu bytes, over the %llu-byte limit of this reader",
			    path, (unsigned long long)st.st_size,
			    NYDUSFS_IMAGE_MAX_SIZE);
		return -EFBIG;
	}
	*buf = nydusfs_image_buf_alloc(st.st_size);
	if (!*buf)
		return -ENOMEM;
	*len = st.st_size;
	err = read_all(fd, *buf, *len);
	if (err) {
		nydusfs_err("%s: read: %s", path, strerror(-err));
		free(*buf);
		*buf = NULL;
	}
	return err;
}

int nydusfs_image_read(const char *path, void **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err;

	*buf = NULL;
	if (fd < 0) {
		err = -errno;
		nydusfs_err("%s: %s", path, strerror(errno));
		return err;
	}
	err = read_fd(path, fd, buf, len);
	close(fd);
	return err;
}

int nydusfs_image_adopt(void *buf, size_t len, const char *label,
			struct nydusfs_image **out)
{
	struct nydusfs_image *img = calloc(1, sizeof(*img));
	int err;

	if (!img || !(img->label = strdup(label))) {
		free(img);
		free(buf);
		return -ENOMEM;
	}
	img->buf = buf;
	img->size = len;
	err = image_validate(img, 0);
	if (err) {
		nydusfs_image_close(img);
		return err;
	}
	*out = img;
	return 0;
}

int nydusfs_image_open(const char *path, struct nydusfs_image **out)
{
	size_t len;
	void *buf;
	int err;

	err = nydusfs_image_read(path, &buf, &len);
	if (!err)
		err = nydusfs_image_adopt(buf, len, path, out);
	return err;
}

int nydusfs_image_open_mem(const void *buf, size_t len, unsigned int flags,
			   struct nydusfs_image **out)
{
	struct nydusfs_image *img;
	int err;

	if (len > NYDUSFS_IMAGE_MAX_SIZE)
		return -EFBIG;
	img = image_alloc("<memory>", len);
	if (!img)
		return -ENOMEM;
	if (len)
		memcpy(img->buf, buf, len);
	err = image_validate(img, flags);
	if (err) {
		nydusfs_image_close(img);
		return err;
	}
	*out = img;
	return 0;
}

void nydusfs_image_close(struct nydusfs_image *img)
{
	if (!img)
		return;
	free(img->buf);
	free(img->label);
	free(img);
}

/* ---- inodes ------------------------------------------------------------- */

/* The string at [off, off + len) of the string region, or NULL. */
static const char *string_at(const struct nydusfs_image *img, uint64_t off,
			     uint64_t len, bool nocross)
{
	uint64_t base = le64_to_cpu(img->sb->regions[NYDUSFS_REGION_STRINGS].offset);

	if (!nydusfs_range_ok(off, len, img->strings_size))
		return NULL;
	if (nocross && len &&
	    (base + off) / NYDUSFS_BLKSZ != (base + off + len - 1) / NYDUSFS_BLKSZ)
		return NULL;
	return (const char *)img->strings + off;
}

static int check_reg(const struct nydusfs_image *img, uint32_t nid,
		     const struct nydusfs_inode *di)
{
	uint64_t size = le64_to_cpu(di->size), data = le64_to_cpu(di->data);
	uint32_t count = le32_to_cpu(di->data_count);
	uint64_t slots = size / img->chunk_size + !!(size % img->chunk_size);

	if (count != slots)
		return nydusfs_image_corrupt(img,
			"nid %u: %u chunk slots for size %llu, expected %llu",
			nid, count, (unsigned long long)size,
			(unsigned long long)slots);
	if (!nydusfs_range_ok(data, count, img->ref_count))
		return nydusfs_image_corrupt(img,
			"nid %u: chunk slots %llu..+%u beyond the chunk-ref table (%llu entries)",
			nid, (unsigned long long)data, count,
			(unsigned long long)img->ref_count);
	return 0;
}

static int check_dir(const struct nydusfs_image *img, uint32_t nid,
		     const struct nydusfs_inode *di)
{
	uint64_t size = le64_to_cpu(di->size), data = le64_to_cpu(di->data);
	uint32_t count = le32_to_cpu(di->data_count);
	uint32_t parent = le32_to_cpu(di->parent_nid);

	if (size != (uint64_t)count * sizeof(struct nydusfs_dirent))
		return nydusfs_image_corrupt(img,
			"nid %u: directory size %llu is not %u entries of %zu bytes",
			nid, (unsigned long long)size, count,
			sizeof(struct nydusfs_dirent));
	if (!nydusfs_range_ok(data, count, img->dirent_count))
		return nydusfs_image_corrupt(img,
			"nid %u: dirents %llu..+%u beyond the dirent table (%llu entries)",
			nid, (unsigned long long)data, count,
			(unsigned long long)img->dirent_count);
	if (le32_to_cpu(di->nlink) < 2)
		return nydusfs_image_corrupt(img,
			"nid %u: directory nlink %u is below 2", nid,
			le32_to_cpu(di->nlink));
	if (nid ? parent >= nid : parent != 0)
		return nydusfs_image_corrupt(img,
			"nid %u: parent nid %u is not below the directory's own nid",
			nid, parent);
	if (nid && !S_ISDIR(le16_to_cpu(img->inodes[parent].mode)))
		return nydusfs_image_corrupt(img,
			"nid %u: parent nid %u is not a directory", nid, parent);
	return 0;
}

static int check_symlink(const struct nydusfs_image *img, uint32_t nid,
			 const struct nydusfs_inode *di)
{
	uint64_t size = le64_to_cpu(di->size), data = le64_to_cpu(di->data);

	if (!size || size > NYDUSFS_SYMLINK_MAX)
		return nydusfs_image_corrupt(img,
			"nid %u: symlink length %llu not in 1..%u", nid,
			(unsigned long long)size, NYDUSFS_SYMLINK_MAX);
	if (le32_to_cpu(di->data_count))
		return nydusfs_image_corrupt(img,
			"nid %u: symlink with data_count %u", nid,
			le32_to_cpu(di->data_count));
	if (!string_at(img, data, size, true))
		return nydusfs_image_corrupt(img,
			"nid %u: symlink target (%llu bytes at %llu) beyond the string region (%llu bytes) or across a 4 KiB block",
			nid, (unsigned long long)size,
			(unsigned long long)data,
			(unsigned long long)img->strings_size);
	return 0;
}

static int check_special(const struct nydusfs_image *img, uint32_t nid,
			 const struct nydusfs_inode *di)
{
	if (le64_to_cpu(di->size) || le64_to_cpu(di->data) ||
	    le32_to_cpu(di->data_count))
		return nydusfs_image_corrupt(img,
			"nid %u: special file (mode 0%o) with nonzero size, data or data_count",
			nid, le16_to_cpu(di->mode));
	return 0;
}

static int check_inode(const struct nydusfs_image *img, uint32_t nid,
		       const struct nydusfs_inode *di)
{
	unsigned int mode = le16_to_cpu(di->mode);
	uint32_t xcount = le32_to_cpu(di->xattr_count);
	uint32_t xindex = le32_to_cpu(di->xattr_index);

	if (nydusfs_mode_to_ft(mode) == NYDUSFS_FT_UNKNOWN)
		return nydusfs_image_corrupt(img,
			"nid %u: invalid file type in mode 0%o", nid, mode);
	if (!le32_to_cpu(di->nlink))
		return nydusfs_image_corrupt(img, "nid %u: nlink is 0", nid);
	if (le32_to_cpu(di->mtime_nsec) >= 1000000000U)
		return nydusfs_image_corrupt(img,
			"nid %u: mtime_nsec %u is not below 10^9", nid,
			le32_to_cpu(di->mtime_nsec));
	if (!nydusfs_range_ok(xindex, xcount, img->xattr_count))
		return nydusfs_image_corrupt(img,
			"nid %u: xattrs %u..+%u beyond the xattr table (%llu entries)",
			nid, xindex, xcount,
			(unsigned long long)img->xattr_count);
	switch (mode & S_IFMT) {
	case S_IFREG:
		return check_reg(img, nid, di);
	case S_IFDIR:
		return check_dir(img, nid, di);
	case S_IFLNK:
		return check_symlink(img, nid, di);
	}
	return check_special(img, nid, di);
}

int nydusfs_image_inode(const struct nydusfs_image *img, uint32_t nid,
			const struct nydusfs_inode **out)
{
	int err;

	if (nid >= img->inode_count)
		return nydusfs_image_corrupt(img,
			"nid %u beyond inode count %u", nid, img->inode_count);
	err = check_inode(img, nid, &img->inodes[nid]);
	if (err)
		return err;
	*out = &img->inodes[nid];
	return 0;
}

/* ---- blobs and chunks ---------------------------------------------------- */

/* Blob chunk ranges partition the chunk table in blob order. */
static int check_blob(const struct nydusfs_image *img, uint32_t index,
		      const struct nydusfs_blob *blob)
{
	uint64_t start = 0, first = le32_to_cpu(blob->chunk_index);
	uint32_t count = le32_to_cpu(blob->chunk_count);
	const struct nydusfs_blob *prev;

	if (index) {
		prev = &img->blobs[index - 1];
		start = (uint64_t)le32_to_cpu(prev->chunk_index) +
			le32_to_cpu(prev->chunk_count);
	}
	if (first != start)
		return nydusfs_image_corrupt(img,
			"blob %u: chunks start at %llu, expected %llu (where the previous blob ends)",
			index, (unsigned long long)first,
			(unsigned long long)start);
	if (!nydusfs_range_ok(first, count, img->chunk_count))
		return nydusfs_image_corrupt(img,
			"blob %u: chunks %llu..+%u beyond the chunk table (%llu entries)",
			index, (unsigned long long)first, count,
			(unsigned long long)img->chunk_count);
	if (index == img->blob_count - 1 && first + count != img->chunk_count)
		return nydusfs_image_corrupt(img,
			"blob %u: the last blob ends at chunk %llu, the table has %llu",
			index, (unsigned long long)(first + count),
			(unsigned long long)img->chunk_count);
	if (le64_to_cpu(blob->uncompressed_size) % NYDUSFS_BLKSZ)
		return nydusfs_image_corrupt(img,
			"blob %u: uncompressed size %llu is not a multiple of %u",
			index,
			(unsigned long long)le64_to_cpu(blob->uncompressed_size),
			NYDUSFS_BLKSZ);
	return 0;
}

int nydusfs_image_blob(const struct nydusfs_image *img, uint32_t index,
		       const struct nydusfs_blob **out)
{
	int err;

	if (index >= img->blob_count)
		return nydusfs_image_corrupt(img,
			"blob %u beyond blob count %u", index, img->blob_count);
	err = check_blob(img, index, &img->blobs[index]);
	if (err)
		return err;
	*out = &img->blobs[index];
	return 0;
}

static int check_chunk_compr(const struct nydusfs_image *img, uint32_t b,
			     uint32_t i, const struct nydusfs_chunk *c)
{
	uint32_t incompat = le32_to_cpu(img->sb->feature_incompat);
	uint32_t csize = le32_to_cpu(c->compressed_size);
	uint32_t usize = le32_to_cpu(c->uncompressed_size);
	uint32_t need = 0;

	if (c->compressor > NYDUSFS_COMPR_MAX)
		return nydusfs_image_corrupt(img,
			"blob %u chunk %u: unknown compressor %u", b, i,
			c->compressor);
	if (c->compressor == NYDUSFS_COMPR_LZ4)
		need = NYDUSFS_FEATURE_INCOMPAT_LZ4;
	else if (c->compressor == NYDUSFS_COMPR_ZSTD)
		need = NYDUSFS_FEATURE_INCOMPAT_ZSTD;
	if ((incompat & need) != need)
		return nydusfs_image_corrupt(img,
			"blob %u chunk %u: compressor %s without its feature bit",
			b, i, nydusfs_compressor_name(c->compressor));
	if (!usize || usize > MAX_CHUNK_SIZE)
		return nydusfs_image_corrupt(img,
			"blob %u chunk %u: uncompressed size %u not in 1..%u",
			b, i, usize, MAX_CHUNK_SIZE);
	if (c->compressor == NYDUSFS_COMPR_NONE ? csize != usize :
	    !csize || csize > nydusfs_compress_bound(c->compressor, usize))
		return nydusfs_image_corrupt(img,
			"blob %u chunk %u: compressed size %u impossible for %u bytes with %s",
			b, i, csize, usize,
			nydusfs_compressor_name(c->compressor));
	return 0;
}

static int check_chunk_place(const struct nydusfs_image *img, uint32_t b,
			     const struct nydusfs_blob *blob, uint32_t i,
			     const struct nydusfs_chunk *c)
{
	uint64_t uoff = le64_to_cpu(c->uncompressed_offset);
	uint64_t coff = le64_to_cpu(c->compressed_offset);
	const struct nydusfs_chunk *prev;
	uint64_t poff;

	if (uoff % NYDUSFS_BLKSZ)
		return nydusfs_image_corrupt(img,
			"blob %u chunk %u: uncompressed offset %llu is not 4 KiB aligned",
			b, i, (unsigned long long)uoff);
	if (!nydusfs_range_ok(uoff, le32_to_cpu(c->uncompressed_size),
			      le64_to_cpu(blob->uncompressed_size)))
		return nydusfs_image_corrupt(img,
			"blob %u chunk %u: uncompressed range %llu..+%u beyond the blob's %llu bytes",
			b, i, (unsigned long long)uoff,
			le32_to_cpu(c->uncompressed_size),
			(unsigned long long)le64_to_cpu(blob->uncompressed_size));
	if (!nydusfs_range_ok(coff, le32_to_cpu(c->compressed_size),
			      le64_to_cpu(blob->compressed_size)))
		return nydusfs_image_corrupt(img,
			"blob %u chunk %u: compressed range %llu..+%u beyond the blob's %llu bytes",
			b, i, (unsigned long long)coff,
			le32_to_cpu(c->compressed_size),
			(unsigned long long)le64_to_cpu(blob->compressed_size));
	if (!i)
		return 0;
	prev = c - 1;
	poff = le64_to_cpu(prev->uncompressed_offset);
	if (uoff < poff || uoff - poff < le32_to_cpu(prev->uncompressed_size))
		return nydusfs_image_corrupt(img,
			"blob %u chunk %u: uncompressed offset %llu overlaps or precedes chunk %u (%llu..+%u)",
			b, i, (unsigned long long)uoff, i - 1,
			(unsigned long long)poff,
			le32_to_cpu(prev->uncompressed_size));
	return 0;
}

int nydusfs_image_chunk(const struct nydusfs_image *img, uint32_t blob_index,
			uint32_t index, const struct nydusfs_chunk **out)
{
	const struct nydusfs_blob *blob;
	const struct nydusfs_chunk *c;
	int err;

	err = nydusfs_image_blob(img, blob_index, &blob);
	if (err)
		return err;
	if (index >= le32_to_cpu(blob->chunk_count))
		return nydusfs_image_corrupt(img,
			"blob %u: chunk %u beyond its chunk count %u",
			blob_index, index, le32_to_cpu(blob->chunk_count));
	c = &img->chunks[le32_to_cpu(blob->chunk_index) + (uint64_t)index];
	err = check_chunk_compr(img, blob_index, index, c);
	if (!err)
		err = check_chunk_place(img, blob_index, blob, index, c);
	if (err)
		return err;
	*out = c;
	return 0;
}

int nydusfs_image_table_digest(const struct nydusfs_image *img,
			       uint32_t blob_index,
			       uint8_t digest[NYDUSFS_DIGEST_SIZE])
{
	const struct nydusfs_blob *blob;
	int err;

	err = nydusfs_image_blob(img, blob_index, &blob);
	if (err)
		return err;
	return nydusfs_sha256(img->chunks + le32_to_cpu(blob->chunk_index),
			      (size_t)le32_to_cpu(blob->chunk_count) *
			      sizeof(struct nydusfs_chunk), digest);
}

int nydusfs_image_prefetch_range(const struct nydusfs_image *img,
				 uint64_t index, uint32_t *blob,
				 uint32_t *chunk, uint32_t *count)
{
	const struct nydusfs_prefetch_range *r;
	const struct nydusfs_blob *b;
	uint32_t n;
	int err;

	if (index >= img->prange_count)
		return -ENOENT;
	r = &img->pranges[index];
	*blob = le32_to_cpu(r->blob);
	*chunk = le32_to_cpu(r->chunk);
	*count = le32_to_cpu(r->count);
	if (*blob >= img->blob_count)
		return nydusfs_image_corrupt(img,
			"prefetch range %llu: blob %u beyond the blob count %u",
			(unsigned long long)index, *blob, img->blob_count);
	err = nydusfs_image_blob(img, *blob, &b);
	if (err)
		return err;
	n = le32_to_cpu(b->chunk_count);
	if (!*count || *chunk >= n || *count > n - *chunk)
		return nydusfs_image_corrupt(img,
			"prefetch range %llu: %u chunks from chunk %u of blob %u do not fit in its %u chunks",
			(unsigned long long)index, *count, *chunk, *blob, n);
	return 0;
}

/* Mark the profile's chunks of blob @blob_index in @in. */
static int profile_chunks(const struct nydusfs_image *img, uint32_t blob_index,
			  uint8_t *in)
{
	uint32_t blob, chunk, count, c;
	uint64_t i;
	int err;

	for (i = 0; i < img->prange_count; i++) {
		err = nydusfs_image_prefetch_range(img, i, &blob, &chunk,
						   &count);
		if (err)
			return err;
		for (c = 0; blob == blob_index && c < count; c++)
			in[(chunk + c) / 8] |= 1U << ((chunk + c) % 8);
	}
	return 0;
}

int nydusfs_image_profile_prefix(const struct nydusfs_image *img,
				 uint32_t blob_index, uint64_t *bytes)
{
	const struct nydusfs_chunk *c;
	const struct nydusfs_blob *b;
	uint32_t i, n;
	uint8_t *in;
	int err;

	*bytes = 0;
	err = nydusfs_image_blob(img, blob_index, &b);
	if (err || !img->prange_count)
		return err;
	n = le32_to_cpu(b->chunk_count);
	in = calloc(n / 8 + 1, 1);
	if (!in)
		return -ENOMEM;
	err = profile_chunks(img, blob_index, in);
	/* chunks in blob order while they are the profile's, end to end */
	for (i = 0; !err && i < n && (in[i / 8] & (1U << (i % 8))); i++) {
		err = nydusfs_image_chunk(img, blob_index, i, &c);
		if (err || le64_to_cpu(c->compressed_offset) != *bytes)
			break;
		*bytes += le32_to_cpu(c->compressed_size);
	}
	free(in);
	return err;
}

static int inode_of_type(const struct nydusfs_image *img, uint32_t nid,
			 unsigned int type, const struct nydusfs_inode **out)
{
	int err = nydusfs_image_inode(img, nid, out);

	if (err)
		return err;
	if ((le16_to_cpu((*out)->mode) & S_IFMT) != type)
		return type == S_IFDIR ? -ENOTDIR : -EINVAL;
	return 0;
}

int nydusfs_image_file_chunk(const struct nydusfs_image *img, uint32_t nid,
			     uint64_t slot, uint32_t *blob_index,
			     const struct nydusfs_chunk **out)
{
	const struct nydusfs_inode *di;
	const struct nydusfs_chunk_ref *ref;
	uint32_t blob, index;
	uint64_t len;
	int err;

	err = inode_of_type(img, nid, S_IFREG, &di);
	if (err)
		return err;
	if (slot >= le32_to_cpu(di->data_count))
		return -EINVAL;
	ref = &img->refs[le64_to_cpu(di->data) + slot];
	blob = le32_to_cpu(ref->blob_index);
	index = le32_to_cpu(ref->chunk_index);
	*blob_index = blob;
	if (blob == NYDUSFS_CHUNK_HOLE) {
		*out = NULL;
		if (index)
			return nydusfs_image_corrupt(img,
				"nid %u: slot %llu is a hole with chunk index %u",
				nid, (unsigned long long)slot, index);
		return 0;
	}
	if (blob >= img->blob_count)
		return nydusfs_image_corrupt(img,
			"nid %u: slot %llu names blob %u beyond blob count %u",
			nid, (unsigned long long)slot, blob, img->blob_count);
	err = nydusfs_image_chunk(img, blob, index, out);
	if (err)
		return err;
	len = nydusfs_slot_len(le64_to_cpu(di->size), img->chunk_size, slot);
	if (le32_to_cpu((*out)->uncompressed_size) != len)
		return nydusfs_image_corrupt(img,
			"nid %u: slot %llu is %llu bytes but blob %u chunk %u holds %u",
			nid, (unsigned long long)slot, (unsigned long long)len,
			blob, index, le32_to_cpu((*out)->uncompressed_size));
	return 0;
}

/* ---- directories ------------------------------------------------------- */

static bool name_is_valid(const char *name, size_t len)
{
	if (!len || memchr(name, '/', len) || memchr(name, '\0', len))
		return false;
	return !(len == 1 && name[0] == '.') &&
	       !(len == 2 && name[0] == '.' && name[1] == '.');
}

static int dirent_name(const struct nydusfs_image *img, uint32_t nid,
		       uint32_t index, const struct nydusfs_dirent *de,
		       const char **name)
{
	*name = string_at(img, le32_to_cpu(de->name_off), de->name_len, true);
	if (!*name || !de->name_len)
		return nydusfs_image_corrupt(img,
			"nid %u: dirent %u name (%u bytes at %u) empty, beyond the string region (%llu bytes) or across a 4 KiB block",
			nid, index, de->name_len, le32_to_cpu(de->name_off),
			(unsigned long long)img->strings_size);
	if (!name_is_valid(*name, de->name_len))
		return nydusfs_image_corrupt(img,
			"nid %u: dirent %u has an invalid name (\".\", \"..\", or a '/' or NUL in it)",
			nid, index);
	return 0;
}

static int check_dirent_child(const struct nydusfs_image *img, uint32_t nid,
			      uint32_t index, const struct nydusfs_dirent *de)
{
	uint32_t child = le32_to_cpu(de->nid);
	const struct nydusfs_inode *ci;
	unsigned int ft;

	if (child >= img->inode_count)
		return nydusfs_image_corrupt(img,
			"nid %u: dirent %u names nid %u beyond inode count %u",
			nid, index, child, img->inode_count);
	ci = &img->inodes[child];
	ft = nydusfs_mode_to_ft(le16_to_cpu(ci->mode));
	if (ft == NYDUSFS_FT_UNKNOWN || de->file_type != ft)
		return nydusfs_image_corrupt(img,
			"nid %u: dirent %u has file type %u but nid %u has mode 0%o",
			nid, index, de->file_type, child,
			le16_to_cpu(ci->mode));
	if (ft != NYDUSFS_FT_DIR)
		return 0;
	if (child <= nid)
		return nydusfs_image_corrupt(img,
			"nid %u: dirent %u names directory nid %u, not above its parent (a loop?)",
			nid, index, child);
	if (le32_to_cpu(ci->parent_nid) != nid)
		return nydusfs_image_corrupt(img,
			"nid %u: dirent %u names directory nid %u whose parent is nid %u",
			nid, index, child, le32_to_cpu(ci->parent_nid));
	return 0;
}

int nydusfs_image_dirent(const struct nydusfs_image *img, uint32_t nid,
			 uint32_t index, const struct nydusfs_dirent **out,
			 const char **name)
{
	const struct nydusfs_dirent *de, *prev;
	const struct nydusfs_inode *di;
	const char *pname;
	int err;

	err = inode_of_type(img, nid, S_IFDIR, &di);
	if (err)
		return err;
	if (index >= le32_to_cpu(di->data_count))
		return -EINVAL;
	de = &img->dirents[le64_to_cpu(di->data) + index];
	err = dirent_name(img, nid, index, de, name);
	if (!err)
		err = check_dirent_child(img, nid, index, de);
	if (err)
		return err;
	if (index) {
		prev = de - 1;
		pname = string_at(img, le32_to_cpu(prev->name_off),
				  prev->name_len, true);
		if (!pname || nydusfs_name_cmp(pname, prev->name_len, *name,
					       de->name_len) >= 0)
			return nydusfs_image_corrupt(img,
				"nid %u: dirent %u is not sorted after dirent %u",
				nid, index, index - 1);
	}
	*out = de;
	return 0;
}

int nydusfs_image_lookup(const struct nydusfs_image *img, uint32_t nid,
			 const char *name, size_t len, uint32_t *child)
{
	const struct nydusfs_dirent *de;
	const struct nydusfs_inode *di;
	uint32_t lo = 0, hi, mid;
	const char *dname;
	int err, cmp;

	err = inode_of_type(img, nid, S_IFDIR, &di);
	if (err)
		return err;
	hi = le32_to_cpu(di->data_count);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		err = nydusfs_image_dirent(img, nid, mid, &de, &dname);
		if (err)
			return err;
		cmp = nydusfs_name_cmp(name, len, dname, de->name_len);
		if (!cmp) {
			*child = le32_to_cpu(de->nid);
			return 0;
		}
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -ENOENT;
}

/* ---- symlinks and xattrs -------------------------------------------------- */

int nydusfs_image_symlink(const struct nydusfs_image *img, uint32_t nid,
			  const char **target, size_t *len)
{
	const struct nydusfs_inode *di;
	int err = inode_of_type(img, nid, S_IFLNK, &di);

	if (err)
		return err;
	*len = le64_to_cpu(di->size);
	*target = string_at(img, le64_to_cpu(di->data), *len, true);
	return 0;
}

static const char *xattr_name(const struct nydusfs_image *img,
			      const struct nydusfs_xattr *x)
{
	const char *name = string_at(img, le32_to_cpu(x->name_off),
				     x->name_len, true);

	if (!name || !x->name_len || memchr(name, '\0', x->name_len))
		return NULL;
	return name;
}

int nydusfs_image_xattr(const struct nydusfs_image *img, uint32_t nid,
			uint32_t index, const char **name, size_t *name_len,
			const uint8_t **value, size_t *value_len)
{
	const struct nydusfs_xattr *x;
	const struct nydusfs_inode *di;
	const char *pname;
	uint32_t vlen;
	int err;

	err = nydusfs_image_inode(img, nid, &di);
	if (err)
		return err;
	if (index >= le32_to_cpu(di->xattr_count))
		return -EINVAL;
	x = &img->xattrs[le32_to_cpu(di->xattr_index) + (uint64_t)index];
	*name = xattr_name(img, x);
	if (!*name)
		return nydusfs_image_corrupt(img,
			"nid %u: xattr %u name (%u bytes at %u) empty, holding a NUL, beyond the string region or across a 4 KiB block",
			nid, index, x->name_len, le32_to_cpu(x->name_off));
	vlen = le32_to_cpu(x->value_len);
	if (vlen > NYDUSFS_XATTR_VALUE_MAX ||
	    !string_at(img, le32_to_cpu(x->value_off), vlen, false))
		return nydusfs_image_corrupt(img,
			"nid %u: xattr %u value (%u bytes at %u) too long or beyond the string region (%llu bytes)",
			nid, index, vlen, le32_to_cpu(x->value_off),
			(unsigned long long)img->strings_size);
	if (index) {
		pname = xattr_name(img, x - 1);
		if (!pname || nydusfs_name_cmp(pname, x[-1].name_len, *name,
					       x->name_len) >= 0)
			return nydusfs_image_corrupt(img,
				"nid %u: xattr %u is not sorted after xattr %u",
				nid, index, index - 1);
	}
	*name_len = x->name_len;
	*value = img->strings + le32_to_cpu(x->value_off);
	*value_len = vlen;
	return 0;
}
