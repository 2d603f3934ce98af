/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Recording a startup profile: the chunks a workload asked for, in the
 * order nydusfsd saw them first (its "trace" answer), mapped back to the
 * regular files that hold them (Documentation/nydusfsd.rst, "Recording a
 * startup profile"; `nydusfs profile`, tools/nydusfs/cmd_profile.c).
 */
#ifndef NYDUSFS_RECORD_H
#define NYDUSFS_RECORD_H

#include <stdint.h>
#include <stdio.h>

#include "nydusfs/image.h"

/* One chunk of a trace. */
struct nydusfs_trace_chunk {
	uint32_t blob;		/* index in the image's blob table */
	uint32_t chunk;		/* index in that blob's chunks */
};

struct nydusfs_record_stats {
	uint64_t chunks;	/* trace entries given */
	uint64_t mapped;	/* of them, written as part of a line */
	uint64_t unmapped;	/* no regular file uses them: a comment line */
	uint64_t repeated;	/* given a second time: skipped */
	uint64_t lines;		/* "PATH OFFSET LENGTH" lines */
	uint64_t bytes;		/* the sum of their LENGTHs */
	uint64_t files;		/* distinct PATHs */
};

/*
 * Write the profile lines of a trace to @out: "PATH OFFSET LENGTH\n" in
 * trace order (the format of include/nydusfs/profile.h: a blank, a
 * backslash or a control character of PATH as \xNN), where PATH is the
 * first path (walk order) of the first
 * regular file (nid order) that uses the chunk, OFFSET the chunk's slot
 * in that file times the chunk size and LENGTH its size; consecutive
 * entries that continue the same file's range make one line.  A chunk no
 * file uses, or out of range, becomes a "# ..." comment line.  0 or
 * -errno (-EFSCORRUPTED on a bad image, -EIO if @out fails).
 */
int nydusfs_record_profile(const struct nydusfs_image *img,
			   const struct nydusfs_trace_chunk *trace, size_t n,
			   FILE *out, struct nydusfs_record_stats *st);

#endif
