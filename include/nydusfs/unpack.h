/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Rebuilding a tree from a bootstrap and its blobs: the userspace reference
 * reader.  The metadata is checked first (nydusfs_check() without blobs);
 * every chunk is decompressed and its sha256 verified before a byte of it
 * is written.  Everything is created with *at() calls relative to
 * directories unpack made itself, never following a symlink, so a hostile
 * bootstrap cannot write outside the destination.
 */
#ifndef NYDUSFS_UNPACK_H
#define NYDUSFS_UNPACK_H

#include <stdint.h>

#include "nydusfs/image.h"

struct nydusfs_unpack_stats {
	uint64_t inodes;	/* inodes created (hard links count once) */
	uint64_t paths;		/* paths created, the root included */
	uint64_t bytes;		/* file data bytes written */
	uint64_t chunks;	/* chunks decompressed and verified */
};

/*
 * Unpack @img into @dest, which must not exist (-EEXIST otherwise).  On
 * any error, what was created is removed again and -errno returned.
 */
int nydusfs_unpack(const struct nydusfs_image *img, const char *blob_dir,
		   const char *dest, struct nydusfs_unpack_stats *stats);

#endif
