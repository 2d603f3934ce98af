// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd_cachecheck BOOTSTRAP CACHE_DIR: the promise of the cache, as a
 * test: every chunk the chunk map of a blob of BOOTSTRAP marks present
 * holds the right bytes in the blob's cache file.  A map of an unknown
 * version or a wrong header counts as empty (the daemon rebuilds it).
 *
 * Prints "blobs N marked M bad B pinned P" (P: blobs whose chunk map is
 * pinned to this image's chunk table) and exits 0 if B is 0, 1 if not, 2
 * on a usage or I/O error.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nydusfs/format.h"
#include "nydusfs/image.h"
#include "nydusfsd.h"

static int check_blob(const struct nydusfs_image *img, uint32_t bi,
		      const char *dir, unsigned long *marked,
		      unsigned long *bad, unsigned long *pinned)
{
	const struct nydusfs_blob *b;
	const struct nydusfs_chunk *c;
	struct cblob cb = {};
	uint8_t *map, *buf, md[NYDUSFS_DIGEST_SIZE], td[NYDUSFS_DIGEST_SIZE];
	char path[4096];
	uint32_t i, len;
	int dfd, mfd, ret = 0;

	if (nydusfs_image_blob(img, bi, &b))
		return 2;
	memcpy(cb.digest, b->digest, NYDUSFS_DIGEST_SIZE);
	hex_digest(cb.digest, cb.hex);
	cb.csize = le64_to_cpu(b->compressed_size);
	cb.usize = le64_to_cpu(b->uncompressed_size);
	cb.nchunks = le32_to_cpu(b->chunk_count);
	snprintf(path, sizeof(path), "%s/%s.chunkmap", dir, cb.hex);
	mfd = open(path, O_RDONLY);
	if (mfd < 0)
		return 0;	/* never cached */
	snprintf(path, sizeof(path), "%s/%s", dir, cb.hex);
	dfd = open(path, O_RDONLY);
	map = calloc(1, cb.nchunks / 8 + 1);
	buf = malloc(NFD_MAX_CHUNK);
	if (chunkmap_load(mfd, &cb, map, cb.pin))
		goto out;	/* rebuilt by the daemon: nothing claimed */
	if (nydusfs_image_table_digest(img, bi, td)) {
		ret = 2;
		goto out;
	}
	*pinned += !memcmp(td, cb.pin, NYDUSFS_DIGEST_SIZE);
	for (i = 0; i < cb.nchunks; i++) {
		if (!chunk_bit(map, i))
			continue;
		(*marked)++;
		if (nydusfs_image_chunk(img, bi, i, &c)) {
			ret = 2;
			break;
		}
		len = le32_to_cpu(c->uncompressed_size);
		if (dfd < 0 || pread(dfd, buf, len,
				     le64_to_cpu(c->uncompressed_offset)) != len ||
		    nydusfs_sha256(buf, len, md) ||
		    memcmp(md, c->digest, NYDUSFS_DIGEST_SIZE)) {
			fprintf(stderr, "cachecheck: blob %s chunk %u: marked present, wrong data\n",
				cb.hex, i);
			(*bad)++;
		}
	}
out:
	free(map);
	free(buf);
	close(mfd);
	if (dfd >= 0)
		close(dfd);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned long marked = 0, bad = 0, pinned = 0;
	struct nydusfs_image *img;
	uint32_t i;

	if (argc != 3) {
		fprintf(stderr, "usage: nydusfsd_cachecheck BOOTSTRAP CACHE_DIR\n");
		return 2;
	}
	if (nydusfs_image_open(argv[1], &img))
		return 2;
	for (i = 0; i < img->blob_count; i++)
		if (check_blob(img, i, argv[2], &marked, &bad, &pinned))
			return 2;
	printf("blobs %u marked %lu bad %lu pinned %lu\n", img->blob_count,
	       marked, bad, pinned);
	nydusfs_image_close(img);
	return bad ? 1 : 0;
}
