// SPDX-License-Identifier: GPL-2.0
/* nydusfs check: the fsck of a bootstrap (and, given them, its blobs). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "nydusfs/check.h"
#include "nydusfs/err.h"
#include "nydusfs/image.h"
#include "nydusfs/log.h"

static void check_usage(FILE *out)
{
	fprintf(out,
"usage: nydusfs check [OPTIONS] BOOTSTRAP\n"
"\n"
"Check every invariant of BOOTSTRAP: superblock and regions, every inode,\n"
"directory entry, xattr, chunk slot, blob and chunk entry, link counts,\n"
"reachability, breadth-first nid order, reserved fields and padding, and\n"
"the merkle digests up to the root.  With --blob-dir also each blob file's\n"
"size and sha256, and every chunk decompressed and its sha256 compared.\n"
"Each problem is reported naming the nid, blob or chunk at fault.\n"
"\n"
"options:\n"
"  -b, --blob-dir DIR       the blobs (<sha256 hex> files); default: none,\n"
"                           metadata only\n"
"  -m, --max-problems N     stop after N problems (default %u)\n"
"  -q, --quiet              print nothing when the image is clean\n"
"  -h, --help               show this text\n"
"\n"
"exit status: 0 clean, 1 problems found or an error, 2 bad command line\n",
		NYDUSFS_CHECK_MAX_PROBLEMS);
}

struct check_args {
	struct nydusfs_check_opts opts;
	const char *bootstrap;
	bool quiet;
};

static int parse_check_args(int argc, char **argv, struct check_args *a)
{
	static const struct option longopts[] = {
		{ "blob-dir", required_argument, NULL, 'b' },
		{ "max-problems", required_argument, NULL, 'm' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "b:m:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			a->opts.blob_dir = optarg;
			break;
		case 'm':
			a->opts.max_problems = strtoul(optarg, &end, 10);
			if (*end || !a->opts.max_problems) {
				fprintf(stderr, "nydusfs check: bad --max-problems '%s'\n",
					optarg);
				return NYDUSFS_EXIT_USAGE;
			}
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'h':
			check_usage(stdout);
			return NYDUSFS_EXIT_OK;
		default:
			check_usage(stderr);
			return NYDUSFS_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "nydusfs check: expected one BOOTSTRAP\n");
		check_usage(stderr);
		return NYDUSFS_EXIT_USAGE;
	}
	a->bootstrap = argv[optind];
	return -1;
}

int cmd_check(int argc, char **argv)
{
	struct check_args a = { 0 };
	struct nydusfs_image *img;
	uint64_t problems = 0;
	int ret, err;

	ret = parse_check_args(argc, argv, &a);
	if (ret >= 0)
		return ret;
	err = nydusfs_image_open(a.bootstrap, &img);
	if (err)
		return NYDUSFS_EXIT_FAILURE;	/* the reader said why */
	err = nydusfs_check(img, &a.opts, &problems);
	if (err == -EFSCORRUPTED) {
		fprintf(stderr, "nydusfs check: %s: %llu problem%s found\n",
			a.bootstrap, (unsigned long long)problems,
			problems == 1 ? "" : "s");
	} else if (err) {
		nydusfs_err("%s: check failed: %s", a.bootstrap, strerror(-err));
	} else if (!a.quiet) {
		printf("%s: clean: %u inodes, %u blobs, %llu chunks%s\n",
		       a.bootstrap, img->inode_count, img->blob_count,
		       (unsigned long long)img->chunk_count,
		       a.opts.blob_dir ? ", blob data verified" :
		       " (metadata only)");
	}
	nydusfs_image_close(img);
	return err ? NYDUSFS_EXIT_FAILURE : NYDUSFS_EXIT_OK;
}
