// SPDX-License-Identifier: GPL-2.0
/* nydusfs unpack: rebuild the tree of a bootstrap from its blobs. */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "nydusfs/err.h"
#include "nydusfs/image.h"
#include "nydusfs/log.h"
#include "nydusfs/unpack.h"

static void unpack_usage(FILE *out)
{
	fprintf(out,
"usage: nydusfs unpack [OPTIONS] BOOTSTRAP DESTDIR\n"
"\n"
"Rebuild the tree of BOOTSTRAP in DESTDIR, which must not exist yet: every\n"
"file type, hard links, holes, owners, modes, xattrs and nanosecond mtimes.\n"
"The metadata is checked first, and every chunk is decompressed and its\n"
"sha256 verified before it is written.  On any error DESTDIR is removed\n"
"again and the exit status is 1.  Owners, devices and trusted.* xattrs\n"
"need root.\n"
"\n"
"options:\n"
"  -b, --blob-dir DIR   the blobs (default: the bootstrap's directory/blobs)\n"
"  -v, --verbose        print what was unpacked\n"
"  -h, --help           show this text\n");
}

struct unpack_args {
	const char *bootstrap, *dest, *blob_dir;
	bool verbose;
};

static int parse_unpack_args(int argc, char **argv, struct unpack_args *a)
{
	static const struct option longopts[] = {
		{ "blob-dir", required_argument, NULL, 'b' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "b:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			a->blob_dir = optarg;
			break;
		case 'v':
			a->verbose = true;
			break;
		case 'h':
			unpack_usage(stdout);
			return NYDUSFS_EXIT_OK;
		default:
			unpack_usage(stderr);
			return NYDUSFS_EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "nydusfs unpack: expected BOOTSTRAP and DESTDIR\n");
		unpack_usage(stderr);
		return NYDUSFS_EXIT_USAGE;
	}
	a->bootstrap = argv[optind];
	a->dest = argv[optind + 1];
	return -1;
}

/* $(dirname BOOTSTRAP)/blobs */
static char *default_blob_dir(const char *bootstrap)
{
	char *copy = strdup(bootstrap), *dir = NULL;

	if (copy && asprintf(&dir, "%s/blobs", dirname(copy)) < 0)
		dir = NULL;
	free(copy);
	return dir;
}

int cmd_unpack(int argc, char **argv)
{
	struct nydusfs_unpack_stats st;
	struct unpack_args a = { 0 };
	struct nydusfs_image *img;
	char *blob_dir = NULL;
	int ret, err;

	ret = parse_unpack_args(argc, argv, &a);
	if (ret >= 0)
		return ret;
	if (!a.blob_dir) {
		blob_dir = default_blob_dir(a.bootstrap);
		if (!blob_dir) {
			nydusfs_err("out of memory");
			return NYDUSFS_EXIT_FAILURE;
		}
		a.blob_dir = blob_dir;
	}
	err = nydusfs_image_open(a.bootstrap, &img);
	if (!err) {
		err = nydusfs_unpack(img, a.blob_dir, a.dest, &st);
		nydusfs_image_close(img);
	}
	if (!err && a.verbose)
		printf("%s: %llu paths, %llu inodes, %llu bytes from %llu chunks\n",
		       a.dest, (unsigned long long)st.paths,
		       (unsigned long long)st.inodes,
		       (unsigned long long)st.bytes,
		       (unsigned long long)st.chunks);
	free(blob_dir);
	return err ? NYDUSFS_EXIT_FAILURE : NYDUSFS_EXIT_OK;
}
