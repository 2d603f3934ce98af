/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The userspace reader of a bootstrap: the reference that nydusfs.ko is
 * compared against.  It applies the same checks, in the same order, with
 * the same messages as the kernel (Documentation/filesystems/nydusfs.rst,
 * "What a reader checks").
 *
 * Every function returns 0 or -errno; corruption is -EFSCORRUPTED, an
 * unknown incompatible feature -EOPNOTSUPP.
 */
#ifndef NYDUSFS_IMAGE_H
#define NYDUSFS_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nydusfs/format.h"

/*
 * An opened bootstrap.  The whole file is held in memory (8-byte aligned).
 * After nydusfs_image_open*() succeeds the superblock and the region
 * table are valid: every table pointer below covers exactly its count
 * of entries inside the buffer.  Entries themselves are not checked yet:
 * use the nydusfs_image_*() accessors, which check what they return.
 */
struct nydusfs_image {
	uint8_t *buf;
	size_t size;
	char *label;		/* the path, or "<memory>": prefixes messages */
	const struct nydusfs_super_block *sb;
	uint32_t chunk_size;

	const struct nydusfs_inode *inodes;
	uint32_t inode_count;
	const struct nydusfs_dirent *dirents;
	uint64_t dirent_count;
	const struct nydusfs_xattr *xattrs;
	uint64_t xattr_count;
	const struct nydusfs_chunk_ref *refs;
	uint64_t ref_count;
	const struct nydusfs_blob *blobs;
	uint32_t blob_count;
	const struct nydusfs_chunk *chunks;
	uint64_t chunk_count;
	const uint8_t *strings;
	uint64_t strings_size;
	const __le32 *prefetch;
	uint64_t prefetch_count;
	/* NULL and 0 unless NYDUSFS_FEATURE_COMPAT_PREFETCH_RANGES */
	const struct nydusfs_prefetch_range *pranges;
	uint64_t prange_count;
};

/* The largest bootstrap a reader accepts (counts stay far below 2^32). */
#define NYDUSFS_IMAGE_MAX_SIZE	(4ULL << 30)

/* Flags for nydusfs_image_open_mem(). */
#define NYDUSFS_IMAGE_NO_CSUM	0x1	/* skip the superblock checksum (fuzzing) */

int nydusfs_image_open(const char *path, struct nydusfs_image **out);
/* A buffer of @len bytes for nydusfs_image_adopt() (aligned), or NULL. */
void *nydusfs_image_buf_alloc(size_t len);
/* The bytes of a bootstrap file, unchecked, in such a buffer. */
int nydusfs_image_read(const char *path, void **buf, size_t *len);
/*
 * Open the bootstrap in @buf (from one of the two above) without copying
 * it: the image owns @buf from now on, and frees it on failure too.
 * @label prefixes messages.
 */
int nydusfs_image_adopt(void *buf, size_t len, const char *label,
			struct nydusfs_image **out);
/* Copies @len bytes from @buf. */
int nydusfs_image_open_mem(const void *buf, size_t len, unsigned int flags,
			   struct nydusfs_image **out);
void nydusfs_image_close(struct nydusfs_image *img);

/*
 * Log "<label>: <message>" as an error and return -EFSCORRUPTED: how the
 * reader and the checker report every problem they find.
 */
int nydusfs_image_corrupt(const struct nydusfs_image *img, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Checked accessors: each validates what it hands out. */
int nydusfs_image_inode(const struct nydusfs_image *img, uint32_t nid,
			const struct nydusfs_inode **out);
int nydusfs_image_blob(const struct nydusfs_image *img, uint32_t index,
		       const struct nydusfs_blob **out);
/* Chunk @index of blob @blob_index. */
int nydusfs_image_chunk(const struct nydusfs_image *img, uint32_t blob_index,
			uint32_t index, const struct nydusfs_chunk **out);
/*
 * The table digest of blob @blob_index: sha256 over the on-disk bytes of
 * its chunk table entries.  Images that agree on a blob agree on it
 * (a blob always appears with its full table); the daemon pins its cache
 * to it.
 */
int nydusfs_image_table_digest(const struct nydusfs_image *img,
			       uint32_t blob_index,
			       uint8_t digest[NYDUSFS_DIGEST_SIZE]);
/* Entry @index of the prefetch range table: blob, first chunk, count. */
int nydusfs_image_prefetch_range(const struct nydusfs_image *img,
				 uint64_t index, uint32_t *blob,
				 uint32_t *chunk, uint32_t *count);
/*
 * The compressed bytes at the start of blob @blob_index that hold nothing
 * but chunks of the startup profile (the prefetch ranges), which the
 * builder lays out there: 0 if the profile has no chunk at its start.
 */
int nydusfs_image_profile_prefix(const struct nydusfs_image *img,
				 uint32_t blob_index, uint64_t *bytes);
/* Slot @slot of regular file @nid; *out is NULL for a hole. */
int nydusfs_image_file_chunk(const struct nydusfs_image *img, uint32_t nid,
			     uint64_t slot, uint32_t *blob_index,
			     const struct nydusfs_chunk **out);
/* Entry @index of directory @nid, and its name (not NUL-terminated). */
int nydusfs_image_dirent(const struct nydusfs_image *img, uint32_t nid,
			 uint32_t index, const struct nydusfs_dirent **out,
			 const char **name);
/* Binary search in directory @nid; -ENOENT if absent. */
int nydusfs_image_lookup(const struct nydusfs_image *img, uint32_t nid,
			 const char *name, size_t len, uint32_t *child);
int nydusfs_image_symlink(const struct nydusfs_image *img, uint32_t nid,
			  const char **target, size_t *len);
int nydusfs_image_xattr(const struct nydusfs_image *img, uint32_t nid,
			uint32_t index, const char **name, size_t *name_len,
			const uint8_t **value, size_t *value_len);

#endif
