// SPDX-License-Identifier: GPL-2.0
#include <openssl/evp.h>

#include "nydusfs/err.h"
#include "nydusfs/merkle.h"

struct merkle_ctx {
	EVP_MD_CTX *md;
};

static int merkle_begin(struct merkle_ctx *ctx, char tag)
{
	ctx->md = EVP_MD_CTX_new();
	if (!ctx->md)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(ctx->md, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx->md, &tag, 1)) {
		EVP_MD_CTX_free(ctx->md);
		return -EIO;
	}
	return 0;
}

static int merkle_add(struct merkle_ctx *ctx, const void *p, size_t len)
{
	return EVP_DigestUpdate(ctx->md, p, len) ? 0 : -EIO;
}

static int merkle_add_le(struct merkle_ctx *ctx, uint64_t v, size_t bytes)
{
	uint64_t le = cpu_to_le64(v);

	return merkle_add(ctx, &le, bytes);
}

static int merkle_end(struct merkle_ctx *ctx, int err,
		      uint8_t out[NYDUSFS_DIGEST_SIZE])
{
	unsigned int len = NYDUSFS_DIGEST_SIZE;

	if (!err && !EVP_DigestFinal_ex(ctx->md, out, &len))
		err = -EIO;
	EVP_MD_CTX_free(ctx->md);
	return err;
}

int nydusfs_merkle_file(uint64_t size, const uint8_t *slot_digests,
			uint32_t nslots, uint8_t out[NYDUSFS_DIGEST_SIZE])
{
	struct merkle_ctx ctx;
	int err = merkle_begin(&ctx, 'R');

	if (err)
		return err;
	err = merkle_add_le(&ctx, size, 8);
	if (!err && nslots)
		err = merkle_add(&ctx, slot_digests,
				 (size_t)nslots * NYDUSFS_DIGEST_SIZE);
	return merkle_end(&ctx, err, out);
}

int nydusfs_merkle_dir(const struct nydusfs_merkle_entry *ents, uint32_t n,
		       uint8_t out[NYDUSFS_DIGEST_SIZE])
{
	struct merkle_ctx ctx;
	int err = merkle_begin(&ctx, 'D');
	uint32_t i;

	for (i = 0; !err && i < n; i++) {
		err = merkle_add_le(&ctx, ents[i].name_len, 1);
		if (!err)
			err = merkle_add(&ctx, ents[i].name, ents[i].name_len);
		if (!err)
			err = merkle_add_le(&ctx, ents[i].mode, 4);
		if (!err)
			err = merkle_add(&ctx, ents[i].digest,
					 NYDUSFS_DIGEST_SIZE);
	}
	return merkle_end(&ctx, err, out);
}

int nydusfs_merkle_symlink(const char *target, unsigned int len,
			   uint8_t out[NYDUSFS_DIGEST_SIZE])
{
	struct merkle_ctx ctx;
	int err = merkle_begin(&ctx, 'L');

	if (err)
		return err;
	return merkle_end(&ctx, merkle_add(&ctx, target, len), out);
}

int nydusfs_merkle_special(unsigned int mode, uint32_t rdev,
			   uint8_t out[NYDUSFS_DIGEST_SIZE])
{
	struct merkle_ctx ctx;
	int err = merkle_begin(&ctx, 'S');

	if (err)
		return err;
	err = merkle_add_le(&ctx, mode & S_IFMT, 4);
	if (!err)
		err = merkle_add_le(&ctx, rdev, 4);
	return merkle_end(&ctx, err, out);
}
