/* SPDX-License-Identifier: GPL-2.0 */
/* Chunk compression: none, lz4, zstd (NYDUSFS_COMPR_*). */
#ifndef NYDUSFS_COMPRESS_H
#define NYDUSFS_COMPRESS_H

#include <stddef.h>

size_t nydusfs_compress_bound(unsigned int compressor, size_t len);
/* 0 and *out_len, or -errno (-ENOSPC: @dst_cap too small). */
int nydusfs_compress(unsigned int compressor, int level, const void *src,
		     size_t len, void *dst, size_t dst_cap, size_t *out_len);
/* Exactly @out_len bytes must come out, else -EFSCORRUPTED. */
int nydusfs_decompress(unsigned int compressor, const void *src, size_t len,
		       void *dst, size_t out_len);
/* NYDUSFS_COMPR_* by name ("none", "lz4", "zstd"), or -EINVAL. */
int nydusfs_compressor_by_name(const char *name);

#endif
