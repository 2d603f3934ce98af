// SPDX-License-Identifier: GPL-2.0
/* nydusfs build: a directory, tar layers or an OCI layout -> bootstrap + blobs */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmds.h"
#include "nydusfs/build.h"
#include "nydusfs/compress.h"
#include "nydusfs/err.h"
#include "nydusfs/log.h"

static void build_usage(FILE *out)
{
	fprintf(out,
"usage: nydusfs build [OPTIONS] -o OUTDIR SOURCE...\n"
"\n"
"Build OUTDIR/bootstrap and OUTDIR/blobs/<sha256 hex> from SOURCEs applied\n"
"in order as layers.  A SOURCE is a directory, a layer tarball (tar,\n"
"tar+gzip, tar+zstd; OCI whiteouts honoured) or oci:DIR[:TAG] (an OCI\n"
"image layout).\n"
"\n"
"options:\n"
"  -o, --output OUTDIR        where to write (created if missing)\n"
"  -c, --chunk-size SIZE      4K..16M, a power of two (default 1M)\n"
"  -z, --compressor NAME      none, lz4 or zstd (default zstd)\n"
"  -l, --level N              compression level (default: the compressor's)\n"
"  -p, --prefetch-list FILE   a startup profile: PATH or PATH OFFSET LENGTH\n"
"                             per line, in the order the workload reads;\n"
"                             its chunks go first in the blob and are\n"
"                             fetched first at mount\n"
"  -d, --chunk-dict BOOTSTRAP reuse chunks of an earlier image's blobs\n"
"  -j, --jobs N               worker threads (default: number of CPUs)\n"
"  -v, --verbose              say more\n"
"  -h, --help                 show this text\n");
}

/* "4096", "4K", "1M": bytes, a power of two within the chunk limits. */
static int parse_chunk_size(const char *arg, unsigned int *bits)
{
	char *end;
	unsigned long long v = strtoull(arg, &end, 10);
	unsigned int b;

	if (end == arg)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end)
		return -EINVAL;
	for (b = NYDUSFS_MIN_CHUNKSZBITS; b <= NYDUSFS_MAX_CHUNKSZBITS; b++) {
		if (v == 1ULL << b) {
			*bits = b;
			return 0;
		}
	}
	return -EINVAL;
}

static int read_profile(const char *path, struct nydusfs_profile *prof,
			struct nydusfs_build_opts *o)
{
	if (o->profile) {
		nydusfs_err("--prefetch-list given twice: merge the profiles into one file");
		return -EINVAL;
	}
	if (nydusfs_profile_read(path, prof))
		return -EINVAL;
	o->profile = prof;
	return 0;
}

static int apply_source(struct nydusfs_tree *tree, const char *src)
{
	struct stat st;
	int err;

	if (!strncmp(src, "oci:", 4))
		err = nydusfs_source_oci(tree, src + 4);
	else if (stat(src, &st)) {
		nydusfs_err("%s: %s", src, strerror(errno));
		return -errno;
	} else if (S_ISDIR(st.st_mode))
		err = nydusfs_source_dir(tree, src);
	else
		err = nydusfs_source_tar(tree, src);
	if (err)
		nydusfs_err("source %s: %s", src, strerror(-err));
	return err;
}

static int parse_build_args(int argc, char **argv,
			    struct nydusfs_build_opts *o,
			    struct nydusfs_profile *prof)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "chunk-size", required_argument, NULL, 'c' },
		{ "compressor", required_argument, NULL, 'z' },
		{ "level", required_argument, NULL, 'l' },
		{ "prefetch-list", required_argument, NULL, 'p' },
		{ "chunk-dict", required_argument, NULL, 'd' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int opt, v;

	while ((opt = getopt_long(argc, argv, "o:c:z:l:p:d:j:vh", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'o':
			o->outdir = optarg;
			break;
		case 'c':
			if (parse_chunk_size(optarg, &o->chunkszbits)) {
				nydusfs_err("bad chunk size '%s': a power of two from 4K to 16M",
					    optarg);
				return -EINVAL;
			}
			break;
		case 'z':
			v = nydusfs_compressor_by_name(optarg);
			if (v < 0) {
				nydusfs_err("unknown compressor '%s'", optarg);
				return -EINVAL;
			}
			o->compressor = v;
			break;
		case 'l':
			o->level = atoi(optarg);
			break;
		case 'p':
			if (read_profile(optarg, prof, o))
				return -EINVAL;
			break;
		case 'd':
			o->chunk_dict = optarg;
			break;
		case 'j':
			v = atoi(optarg);
			if (v < 1 || v > 256) {
				nydusfs_err("bad job count '%s'", optarg);
				return -EINVAL;
			}
			o->jobs = v;
			break;
		case 'v':
			nydusfs_log_level++;
			break;
		case 'h':
			build_usage(stdout);
			exit(NYDUSFS_EXIT_OK);
		default:
			return -EINVAL;
		}
	}
	if (!o->outdir || optind >= argc) {
		nydusfs_err("need -o OUTDIR and at least one SOURCE");
		return -EINVAL;
	}
	return 0;
}

int cmd_build(int argc, char **argv)
{
	struct nydusfs_build_opts o = {
		.chunkszbits = NYDUSFS_DEFAULT_CHUNKSZBITS,
		.compressor = NYDUSFS_COMPR_ZSTD,
		.jobs = sysconf(_SC_NPROCESSORS_ONLN) > 0 ?
			sysconf(_SC_NPROCESSORS_ONLN) : 1,
	};
	struct nydusfs_profile prof = {};
	struct nydusfs_tree *tree;
	int i, err, status = NYDUSFS_EXIT_FAILURE;

	if (parse_build_args(argc, argv, &o, &prof)) {
		build_usage(stderr);
		status = NYDUSFS_EXIT_USAGE;
		goto out;
	}
	tree = nydusfs_tree_new();
	if (!tree) {
		nydusfs_err("out of memory");
		goto out;
	}
	err = 0;
	for (i = optind; !err && i < argc; i++)
		err = apply_source(tree, argv[i]);
	if (!err)
		err = nydusfs_build(tree, &o);
	if (!err)
		status = NYDUSFS_EXIT_OK;
	else
		nydusfs_err("build of %s failed: %s", o.outdir, strerror(-err));
	nydusfs_tree_free(tree);
out:
	nydusfs_profile_free(&prof);
	return status;
}
