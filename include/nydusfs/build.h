/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The builder: turns a struct nydusfs_tree into OUTDIR/bootstrap and
 * OUTDIR/blobs/<sha256 hex>.  lib/build.c lays out the metadata,
 * lib/chunker.c cuts, hashes, compresses and dedups file data on worker
 * threads, lib/chunk_index.c indexes chunks by digest.
 */
#ifndef NYDUSFS_BUILD_H
#define NYDUSFS_BUILD_H

#include <stdint.h>

#include "nydusfs/profile.h"
#include "nydusfs/tree.h"

struct nydusfs_build_opts {
	const char *outdir;
	unsigned int chunkszbits;
	unsigned int compressor;	/* NYDUSFS_COMPR_* */
	int level;			/* 0: the compressor's default */
	unsigned int jobs;		/* worker threads, >= 1 */
	const char *chunk_dict;		/* bootstrap path, or NULL */
	char **prefetch;		/* paths in the tree */
	unsigned int prefetch_count;
	/* laid out first in the new blob, recorded as prefetch ranges;
	 * its whole-path entries join the prefetch list too; or NULL */
	const struct nydusfs_profile *profile;
};

int nydusfs_build(struct nydusfs_tree *tree,
		  const struct nydusfs_build_opts *opts);

/* A provisional blob index for chunks of the blob being built. */
#define NYDUSFS_BLOB_NEW	0xfffffffeU

/* Index of chunks by digest: the new blob's and a dictionary's. */
struct nydusfs_chunk_index;

struct nydusfs_chunk_index *nydusfs_chunk_index_new(void);
void nydusfs_chunk_index_free(struct nydusfs_chunk_index *ci);
/* 0 and the stored location if @digest is known, -ENOENT otherwise. */
int nydusfs_chunk_index_find(const struct nydusfs_chunk_index *ci,
			     const uint8_t *digest, uint32_t *blob,
			     uint32_t *chunk);
int nydusfs_chunk_index_add(struct nydusfs_chunk_index *ci,
			    const uint8_t *digest, uint32_t blob,
			    uint32_t chunk);

/* The blob the chunker writes, and the chunks that went into it. */
struct nydusfs_new_blob {
	struct nydusfs_chunk *chunks;	/* on-disk form */
	uint32_t chunk_count, chunk_cap;
	uint64_t compressed_size;
	uint64_t uncompressed_size;
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	char *tmp_path;			/* until renamed to its digest */
};

/* One chunk-sized slot of a file: the file's index in the chunker's array. */
struct nydusfs_chunk_slot {
	uint32_t file;
	uint64_t slot;
};

struct nydusfs_chunker_opts {
	const struct nydusfs_build_opts *build;
	int spool_fd;
	const char *blob_dir;
	struct nydusfs_chunk_index *index;	/* dictionary chunks preloaded */
	const struct nydusfs_chunk_slot *first;	/* cut these first, in order */
	size_t first_count;
};

/*
 * Cut the slots of @first (repeats are cut once), then every other slot of
 * the regular files of @nodes (in nid order) into chunks, fill each
 * node's refs[] (blob NYDUSFS_BLOB_NEW or a dictionary blob index) and
 * slot digests, and write the new blob.  @slot_digests receives, per node,
 * a malloc()ed array of its slots' digests (zero for holes).
 */
int nydusfs_chunker_run(const struct nydusfs_chunker_opts *opts,
			struct nydusfs_node **nodes, uint32_t count,
			struct nydusfs_new_blob *blob, uint8_t **slot_digests);

#endif
