// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the bootstrap reader: open the input (the
 * superblock checksum is not checked, so mutations reach everything behind
 * it), run the full metadata check, then walk the tree through the checked
 * accessors reading everything unpack would read, without writing; then
 * map a trace of chunks back to files as `nydusfs profile` does
 * (lib/record.c).
 */
#include <stddef.h>
#include <stdint.h>

#include "nydusfs/check.h"
#include "nydusfs/image.h"
#include "nydusfs/log.h"
#include "nydusfs/record.h"
#include "nydusfs/walk.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int read_entry(void *arg, const struct nydusfs_walk_entry *e)
{
	const struct nydusfs_image *img = arg;
	unsigned int mode = le16_to_cpu(e->inode->mode);
	const struct nydusfs_chunk *ck;
	const uint8_t *value;
	const char *s;
	size_t len, vlen;
	uint32_t i, blob, child;
	uint64_t slot;

	if (e->depth && nydusfs_image_lookup(img, e->parent, e->name,
					     e->name_len, &child))
		return 0;
	for (i = 0; i < le32_to_cpu(e->inode->xattr_count); i++)
		if (nydusfs_image_xattr(img, e->nid, i, &s, &len, &value,
					&vlen))
			break;
	if (S_ISLNK(mode))
		nydusfs_image_symlink(img, e->nid, &s, &len);
	if (!S_ISREG(mode) || !e->first)
		return 0;
	for (slot = 0; slot < le32_to_cpu(e->inode->data_count); slot++)
		if (nydusfs_image_file_chunk(img, e->nid, slot, &blob, &ck))
			break;
	return 0;
}

static int leave_dir(void *arg, const struct nydusfs_walk_entry *e)
{
	(void)arg;
	return S_ISDIR(le16_to_cpu(e->inode->mode)) ? 0 : -1;
}

static FILE *devnull;

/* Up to 16 chunks of each of the first blobs, and one beyond the last. */
static void record(const struct nydusfs_image *img)
{
	struct nydusfs_trace_chunk trace[4 * 16 + 1];
	struct nydusfs_record_stats st;
	size_t n = 0;
	uint32_t b, c;

	for (b = 0; b < img->blob_count && b < 4; b++)
		for (c = 0; c < 16; c++)
			trace[n++] = (struct nydusfs_trace_chunk){ b, 15 - c };
	trace[n++] = (struct nydusfs_trace_chunk){ img->blob_count, 0 };
	nydusfs_record_profile(img, trace, n, devnull, &st);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	nydusfs_log_level = -1;		/* errors are the expected outcome */
	devnull = fopen("/dev/null", "w");
	return devnull ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct nydusfs_walk_ops ops = {
		.enter = read_entry,
		.leave = leave_dir,
	};
	const struct nydusfs_blob *blob;
	struct nydusfs_image *img;
	uint32_t i;

	if (nydusfs_image_open_mem(data, size, NYDUSFS_IMAGE_NO_CSUM, &img))
		return 0;
	nydusfs_check(img, NULL, NULL);
	nydusfs_image_walk(img, &ops, img);
	record(img);
	for (i = 0; i < img->blob_count && i < 64; i++)
		nydusfs_image_blob(img, i, &blob);
	nydusfs_image_close(img);
	return 0;
}
