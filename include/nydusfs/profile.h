/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Startup profiles: what a workload reads at start, in order.  A text
 * file, one entry per line (Documentation/nydusfs-convert.rst, "Startup
 * profiles"):
 *
 *   PATH                  the whole file, or everything under a directory
 *   PATH OFFSET LENGTH    bytes OFFSET..OFFSET+LENGTH-1 of a regular file
 *
 * Fields are separated by blanks; a blank, a backslash or a control
 * character in PATH is written \xNN.  Blank lines and lines starting with
 * '#' are ignored.  The builder lays the chunks of the entries out first
 * in the new blob, in this order, and records them as prefetch ranges.
 */
#ifndef NYDUSFS_PROFILE_H
#define NYDUSFS_PROFILE_H

#include <stdint.h>
#include <stdio.h>

struct nydusfs_profile_entry {
	char *path;		/* cleaned: relative to the root, "" is "/" */
	uint64_t off, len;	/* len 0: the whole path */
	unsigned int line;	/* in the profile file, for messages */
};

struct nydusfs_profile {
	char *label;		/* the file's name, prefixes messages */
	struct nydusfs_profile_entry *entries;
	unsigned int count;
};

/* Parse @f; a bad line is an error naming "LABEL:LINE". 0 or -errno. */
int nydusfs_profile_parse(FILE *f, const char *label,
			  struct nydusfs_profile *p);
int nydusfs_profile_read(const char *path, struct nydusfs_profile *p);
void nydusfs_profile_free(struct nydusfs_profile *p);

#endif
