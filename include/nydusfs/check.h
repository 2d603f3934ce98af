/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fsck of a bootstrap: every invariant of the format
 * (Documentation/filesystems/nydusfs.rst), the merkle digests recomputed,
 * link counts and reachability, reserved fields and padding zero; with a
 * blob directory also every blob's size and sha256 and every chunk
 * decompressed and its sha256 compared.
 *
 * Each problem is logged as an error naming the nid, blob or chunk at
 * fault; the check stops after opts->max_problems of them.
 */
#ifndef NYDUSFS_CHECK_H
#define NYDUSFS_CHECK_H

#include <stdint.h>

#include "nydusfs/image.h"

#define NYDUSFS_CHECK_MAX_PROBLEMS	100

struct nydusfs_check_opts {
	const char *blob_dir;		/* NULL: metadata only */
	unsigned int max_problems;	/* 0: NYDUSFS_CHECK_MAX_PROBLEMS */
};

/*
 * 0 if the image is clean, -EFSCORRUPTED if problems were found (their
 * number in *problems when @problems is not NULL), or another -errno if
 * the check itself could not run (-ENOMEM...).
 */
int nydusfs_check(const struct nydusfs_image *img,
		  const struct nydusfs_check_opts *opts, uint64_t *problems);

#endif
