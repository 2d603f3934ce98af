/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * nydusfs on-disk format: the bootstrap.
 *
 * Shared byte for byte by nydusfs.ko and the userspace tools.  Every field
 * is little endian and fixed width.  Documentation/filesystems/nydusfs.rst
 * specifies the layout, the invariants a reader checks and the digests.
 */
#ifndef _UAPI_LINUX_NYDUSFS_FS_H
#define _UAPI_LINUX_NYDUSFS_FS_H

#include <linux/types.h>

#define NYDUSFS_MAGIC			0x4644594eU	/* "NYDF" */
#define NYDUSFS_VERSION_MAJOR		1
#define NYDUSFS_VERSION_MINOR		1	/* 1: prefetch ranges */

#define NYDUSFS_BLKSZBITS		12
#define NYDUSFS_BLKSZ			(1U << NYDUSFS_BLKSZBITS)
#define NYDUSFS_MIN_CHUNKSZBITS		12	/* 4 KiB */
#define NYDUSFS_MAX_CHUNKSZBITS		24	/* 16 MiB */
#define NYDUSFS_DEFAULT_CHUNKSZBITS	20	/* 1 MiB */

#define NYDUSFS_SB_OFFSET		0
#define NYDUSFS_SB_SIZE			256
#define NYDUSFS_DIGEST_SIZE		32	/* sha256 */
#define NYDUSFS_NAME_MAX		255
#define NYDUSFS_SYMLINK_MAX		4095
#define NYDUSFS_XATTR_VALUE_MAX		65536

/* Compatible features: a reader that does not know them may ignore them. */
#define NYDUSFS_FEATURE_COMPAT_PREFETCH		0x00000001
#define NYDUSFS_FEATURE_COMPAT_CHUNK_DICT	0x00000002
#define NYDUSFS_FEATURE_COMPAT_PREFETCH_RANGES	0x00000004
#define NYDUSFS_FEATURE_COMPAT_SUPP		(NYDUSFS_FEATURE_COMPAT_PREFETCH | \
						 NYDUSFS_FEATURE_COMPAT_CHUNK_DICT | \
						 NYDUSFS_FEATURE_COMPAT_PREFETCH_RANGES)

/* Incompatible features: a reader must refuse an image with unknown ones. */
#define NYDUSFS_FEATURE_INCOMPAT_LZ4		0x00000001
#define NYDUSFS_FEATURE_INCOMPAT_ZSTD		0x00000002
#define NYDUSFS_FEATURE_INCOMPAT_SUPP		(NYDUSFS_FEATURE_INCOMPAT_LZ4 | \
						 NYDUSFS_FEATURE_INCOMPAT_ZSTD)

/* Metadata regions, in the order they appear in the bootstrap. */
#define NYDUSFS_REGION_INODES		0	/* struct nydusfs_inode[] */
#define NYDUSFS_REGION_DIRENTS		1	/* struct nydusfs_dirent[] */
#define NYDUSFS_REGION_XATTRS		2	/* struct nydusfs_xattr[] */
#define NYDUSFS_REGION_CHUNK_REFS	3	/* struct nydusfs_chunk_ref[] */
#define NYDUSFS_REGION_BLOBS		4	/* struct nydusfs_blob[] */
#define NYDUSFS_REGION_CHUNKS		5	/* struct nydusfs_chunk[] */
#define NYDUSFS_REGION_STRINGS		6	/* names, targets, xattr data */
#define NYDUSFS_REGION_PREFETCH		7	/* __le32 nid[] */
#define NYDUSFS_REGION_COUNT		8

/**
 * struct nydusfs_region - where one metadata region lives
 * @offset: byte offset in the bootstrap, a multiple of NYDUSFS_BLKSZ
 * @size: exact size in bytes, a multiple of the region's entry size
 */
struct nydusfs_region {
	__le64 offset;
	__le64 size;
};

/**
 * struct nydusfs_super_block - the first 256 bytes of the bootstrap
 * @magic: NYDUSFS_MAGIC
 * @checksum: crc32c (seed ~0, final xor ~0) of these 256 bytes with
 *	@checksum read as zero
 * @version_major: NYDUSFS_VERSION_MAJOR; a reader refuses any other
 * @version_minor: may grow without breaking readers of the same major
 * @feature_compat: NYDUSFS_FEATURE_COMPAT_*
 * @feature_incompat: NYDUSFS_FEATURE_INCOMPAT_*
 * @blkszbits: log2 of the metadata block size, NYDUSFS_BLKSZBITS
 * @chunkszbits: log2 of the chunk size, 12 (4 KiB) to 24 (16 MiB)
 * @sb_size: NYDUSFS_SB_SIZE
 * @inode_count: entries in the inode table
 * @root_nid: nid of the root directory, always 0
 * @bootstrap_size: size of the bootstrap file, a multiple of NYDUSFS_BLKSZ
 * @regions: the metadata regions, indexed by NYDUSFS_REGION_*
 * @root_digest: the root directory's merkle digest
 * @prefetch_ranges: where the struct nydusfs_prefetch_range[] table
 *	lives, after the last region of @regions; zero unless
 *	NYDUSFS_FEATURE_COMPAT_PREFETCH_RANGES is set (version 1.1)
 * @reserved: zero
 */
struct nydusfs_super_block {
	__le32 magic;
	__le32 checksum;
	__le16 version_major;
	__le16 version_minor;
	__le32 feature_compat;
	__le32 feature_incompat;
	__u8 blkszbits;
	__u8 chunkszbits;
	__le16 sb_size;
	__le32 inode_count;
	__le32 root_nid;
	__le64 bootstrap_size;
	struct nydusfs_region regions[NYDUSFS_REGION_COUNT];
	__u8 root_digest[NYDUSFS_DIGEST_SIZE];
	struct nydusfs_region prefetch_ranges;
	__u8 reserved[40];
};

/**
 * struct nydusfs_prefetch_range - chunks a workload needs at start: the
 *	table lists them in the order they are needed
 * @blob: index in the blob table
 * @chunk: first chunk, an index in that blob's chunk table
 * @count: number of chunks, at least 1; @chunk + @count is at most the
 *	blob's chunk_count
 * @reserved: zero
 */
struct nydusfs_prefetch_range {
	__le32 blob;
	__le32 chunk;
	__le32 count;
	__le32 reserved;
};

/* File types in directory entries; the same values as DT_* >> 0 */
#define NYDUSFS_FT_UNKNOWN	0
#define NYDUSFS_FT_FIFO		1
#define NYDUSFS_FT_CHRDEV	2
#define NYDUSFS_FT_DIR		4
#define NYDUSFS_FT_BLKDEV	6
#define NYDUSFS_FT_REG		8
#define NYDUSFS_FT_SYMLINK	10
#define NYDUSFS_FT_SOCK		12

/**
 * struct nydusfs_inode - one entry of the inode table, indexed by nid
 * @mode: file type and permission bits, as st_mode
 * @reserved0: zero
 * @nlink: link count (directories: 2 + number of subdirectories)
 * @uid: owner
 * @gid: group
 * @size: regular: file size; symlink: target length; directory: number
 *	of entries times sizeof(struct nydusfs_dirent); others: 0
 * @mtime: modification time, seconds since the epoch (signed)
 * @mtime_nsec: nanoseconds, below 1000000000
 * @rdev: device number of a char or block device (new_encode_dev())
 * @data: regular: first index in the chunk reference table; directory:
 *	first index in the dirent table; symlink: byte offset of the target
 *	in the string region; others: 0
 * @data_count: regular: number of chunk slots, DIV_ROUND_UP(size,
 *	chunk size); directory: number of entries; others: 0
 * @xattr_index: first index in the xattr table
 * @xattr_count: number of xattrs, sorted by name
 * @parent_nid: directory: nid of its parent (the root is its own
 *	parent); others: 0
 * @blocks: st_blocks in 512-byte units: data chunks rounded up to
 *	4 KiB; holes take none
 * @digest: merkle digest of this inode
 * @reserved: zero
 */
struct nydusfs_inode {
	__le16 mode;
	__le16 reserved0;
	__le32 nlink;
	__le32 uid;
	__le32 gid;
	__le64 size;
	__le64 mtime;
	__le32 mtime_nsec;
	__le32 rdev;
	__le64 data;
	__le32 data_count;
	__le32 xattr_count;
	__le32 xattr_index;
	__le32 parent_nid;
	__le64 blocks;
	__u8 digest[NYDUSFS_DIGEST_SIZE];
	__u8 reserved[24];
};

/**
 * struct nydusfs_dirent - one directory entry; a directory's entries are
 *	contiguous and sorted by name (memcmp order, shorter first on a tie)
 * @nid: the entry's inode
 * @name_off: byte offset of the name in the string region; a name never
 *	crosses a NYDUSFS_BLKSZ boundary of the bootstrap
 * @name_len: 1..255; no '/' or NUL, and never "." or ".."
 * @file_type: NYDUSFS_FT_*, matching the inode's mode
 * @reserved: zero
 */
struct nydusfs_dirent {
	__le32 nid;
	__le32 name_off;
	__u8 name_len;
	__u8 file_type;
	__u8 reserved[6];
};

/**
 * struct nydusfs_xattr - one extended attribute
 * @name_off: byte offset of the full name ("user.foo") in the string
 *	region; never crosses a NYDUSFS_BLKSZ boundary
 * @value_off: byte offset of the value in the string region
 * @name_len: 1..255
 * @value_len: 0..65536; the value is binary
 * @reserved: zero
 */
struct nydusfs_xattr {
	__le32 name_off;
	__le32 value_off;
	__u8 name_len;
	__u8 reserved0[3];
	__le32 value_len;
};

/* A chunk slot of a regular file that holds only zeros and has no data */
#define NYDUSFS_CHUNK_HOLE	0xffffffffU

/**
 * struct nydusfs_chunk_ref - what one chunk-sized slot of a file holds
 * @blob_index: index in the blob table, or NYDUSFS_CHUNK_HOLE
 * @chunk_index: index in that blob's chunk table (0 for a hole)
 */
struct nydusfs_chunk_ref {
	__le32 blob_index;
	__le32 chunk_index;
};

/**
 * struct nydusfs_blob - one data blob
 * @digest: sha256 of the blob file's bytes; the blob's name
 * @compressed_size: size of the blob file
 * @uncompressed_size: size of the blob's local cache file, a multiple
 *	of NYDUSFS_BLKSZ
 * @chunk_index: first entry of this blob in the chunk table
 * @chunk_count: number of chunks of this blob
 * @reserved: zero
 */
struct nydusfs_blob {
	__u8 digest[NYDUSFS_DIGEST_SIZE];
	__le64 compressed_size;
	__le64 uncompressed_size;
	__le32 chunk_index;
	__le32 chunk_count;
	__u8 reserved[8];
};

#define NYDUSFS_COMPR_NONE	0
#define NYDUSFS_COMPR_LZ4	1
#define NYDUSFS_COMPR_ZSTD	2
#define NYDUSFS_COMPR_MAX	2

/**
 * struct nydusfs_chunk - one chunk of a blob
 * @compressed_offset: where its bytes start in the blob file
 * @compressed_size: how many bytes it takes in the blob file
 * @uncompressed_offset: where it lives in the cache file, a multiple of
 *	NYDUSFS_BLKSZ, ascending and non-overlapping within a blob
 * @uncompressed_size: 1..chunk size
 * @compressor: NYDUSFS_COMPR_*; NONE means compressed_size equals
 *	uncompressed_size
 * @reserved: zero
 * @digest: sha256 of the uncompressed bytes
 */
struct nydusfs_chunk {
	__le64 compressed_offset;
	__le32 compressed_size;
	__le32 uncompressed_size;
	__le64 uncompressed_offset;
	__u8 compressor;
	__u8 reserved[7];
	__u8 digest[NYDUSFS_DIGEST_SIZE];
};

#endif /* _UAPI_LINUX_NYDUSFS_FS_H */
