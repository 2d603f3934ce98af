/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace helpers around the on-disk format in uapi/nydusfs_fs.h:
 * endianness, checksums, digests and per-region entry sizes.
 */
#ifndef NYDUSFS_FORMAT_H
#define NYDUSFS_FORMAT_H

#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "nydusfs_fs.h"

#define le16_to_cpu(x)	le16toh(x)
#define le32_to_cpu(x)	le32toh(x)
#define le64_to_cpu(x)	le64toh(x)
#define cpu_to_le16(x)	htole16(x)
#define cpu_to_le32(x)	htole32(x)
#define cpu_to_le64(x)	htole64(x)

#define NYDUSFS_DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))
#define NYDUSFS_ROUND_UP(n, a)		NYDUSFS_DIV_ROUND_UP(n, a) * (a)
#define NYDUSFS_ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

/* Size of one entry of each metadata region (1 for the string region). */
extern const size_t nydusfs_region_entry_size[NYDUSFS_REGION_COUNT];
extern const char *const nydusfs_region_names[NYDUSFS_REGION_COUNT];

uint32_t nydusfs_crc32c(uint32_t crc, const void *buf, size_t len);

/* Checksum of a superblock as stored in its checksum field. */
uint32_t nydusfs_sb_checksum(const struct nydusfs_super_block *sb);

/* sha256 of a buffer; 0 or -errno. */
int nydusfs_sha256(const void *buf, size_t len,
		   uint8_t digest[NYDUSFS_DIGEST_SIZE]);

/* "sha256:<64 hex>" is not used here: hex is the bare 64 characters. */
void nydusfs_digest_to_hex(const uint8_t digest[NYDUSFS_DIGEST_SIZE],
			   char hex[2 * NYDUSFS_DIGEST_SIZE + 1]);
int nydusfs_hex_to_digest(const char *hex,
			  uint8_t digest[NYDUSFS_DIGEST_SIZE]);

/* NYDUSFS_FT_* for an st_mode, NYDUSFS_FT_UNKNOWN if the type is invalid. */
unsigned int nydusfs_mode_to_ft(unsigned int mode);

const char *nydusfs_compressor_name(unsigned int compressor);

#endif
