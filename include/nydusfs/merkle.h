/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The per-inode merkle digests (Documentation/filesystems/nydusfs.rst,
 * "Merkle tree").  The builder computes them, the checker recomputes them.
 */
#ifndef NYDUSFS_MERKLE_H
#define NYDUSFS_MERKLE_H

#include <stdint.h>

#include "nydusfs/format.h"

struct nydusfs_merkle_entry {
	const char *name;
	unsigned int name_len;
	unsigned int mode;
	const uint8_t *digest;
};

/* A hole's slot is hashed as NYDUSFS_DIGEST_SIZE zero bytes. */
int nydusfs_merkle_file(uint64_t size, const uint8_t *slot_digests,
			uint32_t nslots, uint8_t out[NYDUSFS_DIGEST_SIZE]);
int nydusfs_merkle_dir(const struct nydusfs_merkle_entry *ents, uint32_t n,
		       uint8_t out[NYDUSFS_DIGEST_SIZE]);
int nydusfs_merkle_symlink(const char *target, unsigned int len,
			   uint8_t out[NYDUSFS_DIGEST_SIZE]);
int nydusfs_merkle_special(unsigned int mode, uint32_t rdev,
			   uint8_t out[NYDUSFS_DIGEST_SIZE]);

#endif
