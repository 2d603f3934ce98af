// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "nydusfs/err.h"
#include "nydusfs/format.h"

_Static_assert(sizeof(struct nydusfs_super_block) == NYDUSFS_SB_SIZE, "sb");
_Static_assert(sizeof(struct nydusfs_region) == 16, "region");
_Static_assert(sizeof(struct nydusfs_inode) == 128, "inode");
_Static_assert(sizeof(struct nydusfs_dirent) == 16, "dirent");
_Static_assert(sizeof(struct nydusfs_xattr) == 16, "xattr");
_Static_assert(sizeof(struct nydusfs_chunk_ref) == 8, "chunk_ref");
_Static_assert(sizeof(struct nydusfs_blob) == 64, "blob");
_Static_assert(sizeof(struct nydusfs_chunk) == 64, "chunk");
_Static_assert(offsetof(struct nydusfs_super_block, regions) == 40, "regions");
_Static_assert(offsetof(struct nydusfs_super_block, root_digest) == 168, "rd");
_Static_assert(offsetof(struct nydusfs_inode, digest) == 72, "idigest");
_Static_assert(offsetof(struct nydusfs_super_block, prefetch_ranges) == 200,
	       "prefetch_ranges");
_Static_assert(sizeof(struct nydusfs_prefetch_range) == 16, "prefetch_range");

const size_t nydusfs_region_entry_size[NYDUSFS_REGION_COUNT] = {
	[NYDUSFS_REGION_INODES] = sizeof(struct nydusfs_inode),
	[NYDUSFS_REGION_DIRENTS] = sizeof(struct nydusfs_dirent),
	[NYDUSFS_REGION_XATTRS] = sizeof(struct nydusfs_xattr),
	[NYDUSFS_REGION_CHUNK_REFS] = sizeof(struct nydusfs_chunk_ref),
	[NYDUSFS_REGION_BLOBS] = sizeof(struct nydusfs_blob),
	[NYDUSFS_REGION_CHUNKS] = sizeof(struct nydusfs_chunk),
	[NYDUSFS_REGION_STRINGS] = 1,
	[NYDUSFS_REGION_PREFETCH] = sizeof(__le32),
};

const char *const nydusfs_region_names[NYDUSFS_REGION_COUNT] = {
	[NYDUSFS_REGION_INODES] = "inodes",
	[NYDUSFS_REGION_DIRENTS] = "dirents",
	[NYDUSFS_REGION_XATTRS] = "xattrs",
	[NYDUSFS_REGION_CHUNK_REFS] = "chunk-refs",
	[NYDUSFS_REGION_BLOBS] = "blobs",
	[NYDUSFS_REGION_CHUNKS] = "chunks",
	[NYDUSFS_REGION_STRINGS] = "strings",
	[NYDUSFS_REGION_PREFETCH] = "prefetch",
};

static uint32_t crc32c_table[256];

static void crc32c_init_table(void)
{
	uint32_t i, j, crc;

	for (i = 0; i < 256; i++) {
		crc = i;
		for (j = 0; j < 8; j++)
			crc = (crc >> 1) ^ (0x82f63b78U & -(crc & 1));
		crc32c_table[i] = crc;
	}
}

/* Raw crc32c update, no pre/post inversion: the kernel's crc32c() shape. */
uint32_t nydusfs_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!crc32c_table[1])
		crc32c_init_table();
	while (len--)
		crc = (crc >> 8) ^ crc32c_table[(crc ^ *p++) & 0xff];
	return crc;
}

uint32_t nydusfs_sb_checksum(const struct nydusfs_super_block *sb)
{
	struct nydusfs_super_block copy = *sb;

	copy.checksum = 0;
	return ~nydusfs_crc32c(~0U, &copy, sizeof(copy));
}

int nydusfs_sha256(const void *buf, size_t len,
		   uint8_t digest[NYDUSFS_DIGEST_SIZE])
{
	unsigned int outlen = NYDUSFS_DIGEST_SIZE;

	if (!EVP_Digest(buf, len, digest, &outlen, EVP_sha256(), NULL))
		return -EIO;
	return 0;
}

void nydusfs_digest_to_hex(const uint8_t digest[NYDUSFS_DIGEST_SIZE],
			   char hex[2 * NYDUSFS_DIGEST_SIZE + 1])
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 0; i < NYDUSFS_DIGEST_SIZE; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 15];
	}
	hex[2 * NYDUSFS_DIGEST_SIZE] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int nydusfs_hex_to_digest(const char *hex, uint8_t digest[NYDUSFS_DIGEST_SIZE])
{
	int i, hi, lo;

	if (strlen(hex) != 2 * NYDUSFS_DIGEST_SIZE)
		return -EINVAL;
	for (i = 0; i < NYDUSFS_DIGEST_SIZE; i++) {
		hi = hex_value(hex[2 * i]);
		lo = hex_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		digest[i] = hi << 4 | lo;
	}
	return 0;
}

unsigned int nydusfs_mode_to_ft(unsigned int mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return NYDUSFS_FT_REG;
	case S_IFDIR:
		return NYDUSFS_FT_DIR;
	case S_IFLNK:
		return NYDUSFS_FT_SYMLINK;
	case S_IFCHR:
		return NYDUSFS_FT_CHRDEV;
	case S_IFBLK:
		return NYDUSFS_FT_BLKDEV;
	case S_IFIFO:
		return NYDUSFS_FT_FIFO;
	case S_IFSOCK:
		return NYDUSFS_FT_SOCK;
	}
	return NYDUSFS_FT_UNKNOWN;
}

const char *nydusfs_compressor_name(unsigned int compressor)
{
	switch (compressor) {
	case NYDUSFS_COMPR_NONE:
		return "none";
	case NYDUSFS_COMPR_LZ4:
		return "lz4";
	case NYDUSFS_COMPR_ZSTD:
		return "zstd";
	}
	return "unknown";
}
