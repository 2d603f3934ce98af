// SPDX-License-Identifier: GPL-2.0
#include <pthread.h>
#include <string.h>

#include <lz4.h>
#include <lz4hc.h>
#include <zstd.h>

#include "nydusfs/compress.h"
#include "nydusfs/err.h"
#include "nydusfs/format.h"

size_t nydusfs_compress_bound(unsigned int compressor, size_t len)
{
	switch (compressor) {
	case NYDUSFS_COMPR_LZ4:
		return LZ4_compressBound(len);
	case NYDUSFS_COMPR_ZSTD:
		return ZSTD_compressBound(len);
	}
	return len;
}

static int compress_lz4(int level, const void *src, size_t len, void *dst,
			size_t dst_cap, size_t *out_len)
{
	int ret;

	if (level > 1)
		ret = LZ4_compress_HC(src, dst, len, dst_cap, level);
	else
		ret = LZ4_compress_default(src, dst, len, dst_cap);
	if (ret <= 0)
		return -ENOSPC;
	*out_len = ret;
	return 0;
}

/* One zstd context per thread, freed when the thread exits. */
static pthread_key_t zstd_cctx_key, zstd_dctx_key;
static pthread_once_t zstd_keys_once = PTHREAD_ONCE_INIT;

static void free_cctx(void *p)
{
	ZSTD_freeCCtx(p);
}

static void free_dctx(void *p)
{
	ZSTD_freeDCtx(p);
}

static void zstd_keys_init(void)
{
	pthread_key_create(&zstd_cctx_key, free_cctx);
	pthread_key_create(&zstd_dctx_key, free_dctx);
}

static ZSTD_CCtx *zstd_cctx(void)
{
	ZSTD_CCtx *cctx;

	pthread_once(&zstd_keys_once, zstd_keys_init);
	cctx = pthread_getspecific(zstd_cctx_key);
	if (!cctx) {
		cctx = ZSTD_createCCtx();
		if (cctx)
			pthread_setspecific(zstd_cctx_key, cctx);
	}
	return cctx;
}

static ZSTD_DCtx *zstd_dctx(void)
{
	ZSTD_DCtx *dctx;

	pthread_once(&zstd_keys_once, zstd_keys_init);
	dctx = pthread_getspecific(zstd_dctx_key);
	if (!dctx) {
		dctx = ZSTD_createDCtx();
		if (dctx)
			pthread_setspecific(zstd_dctx_key, dctx);
	}
	return dctx;
}

static int compress_zstd(int level, const void *src, size_t len, void *dst,
			 size_t dst_cap, size_t *out_len)
{
	ZSTD_CCtx *cctx = zstd_cctx();
	size_t ret;

	if (!cctx)
		return -ENOMEM;
	ret = ZSTD_compressCCtx(cctx, dst, dst_cap, src, len,
				level ? level : 3);

	if (ZSTD_isError(ret))
		return -ENOSPC;
	*out_len = ret;
	return 0;
}

int nydusfs_compress(unsigned int compressor, int level, const void *src,
		     size_t len, void *dst, size_t dst_cap, size_t *out_len)
{
	switch (compressor) {
	case NYDUSFS_COMPR_NONE:
		if (dst_cap < len)
			return -ENOSPC;
		memcpy(dst, src, len);
		*out_len = len;
		return 0;
	case NYDUSFS_COMPR_LZ4:
		return compress_lz4(level, src, len, dst, dst_cap, out_len);
	case NYDUSFS_COMPR_ZSTD:
		return compress_zstd(level, src, len, dst, dst_cap, out_len);
	}
	return -EOPNOTSUPP;
}

int nydusfs_decompress(unsigned int compressor, const void *src, size_t len,
		       void *dst, size_t out_len)
{
	size_t zret;
	int ret;

	switch (compressor) {
	case NYDUSFS_COMPR_NONE:
		if (len != out_len)
			return -EFSCORRUPTED;
		memcpy(dst, src, len);
		return 0;
	case NYDUSFS_COMPR_LZ4:
		if (len > INT32_MAX || out_len > INT32_MAX)
			return -EFSCORRUPTED;
		ret = LZ4_decompress_safe(src, dst, len, out_len);
		return ret == (int)out_len ? 0 : -EFSCORRUPTED;
	case NYDUSFS_COMPR_ZSTD:
		if (!zstd_dctx())
			return -ENOMEM;
		zret = ZSTD_decompressDCtx(zstd_dctx(), dst, out_len, src, len);
		if (ZSTD_isError(zret) || zret != out_len)
			return -EFSCORRUPTED;
		return 0;
	}
	return -EOPNOTSUPP;
}

int nydusfs_compressor_by_name(const char *name)
{
	if (!strcmp(name, "none"))
		return NYDUSFS_COMPR_NONE;
	if (!strcmp(name, "lz4"))
		return NYDUSFS_COMPR_LZ4;
	if (!strcmp(name, "zstd"))
		return NYDUSFS_COMPR_ZSTD;
	return -EINVAL;
}
