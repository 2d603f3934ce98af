// SPDX-License-Identifier: GPL-2.0
/* nydusfs: build, check, inspect and unpack nydusfs images. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "build", cmd_build, "build a bootstrap and blobs from a tree, tar layers or an OCI layout" },
	{ "check", cmd_check, "check every invariant of a bootstrap (and its chunks)" },
	{ "inspect", cmd_inspect, "show the superblock, tree, chunk and dedup statistics" },
	{ "unpack", cmd_unpack, "rebuild the tree from a bootstrap and its blobs" },
	{ "convert", cmd_convert, "convert an OCI image and push it (registry or layout)" },
	{ "mount", cmd_mount, "mount an image, served by nydusfsd" },
	{ "umount", cmd_umount, "unmount an image and tell nydusfsd" },
	{ "status", cmd_status, "show what nydusfsd is doing" },
	{ "metrics", cmd_metrics, "print nydusfsd's metrics (Prometheus text)" },
	{ "cache", cmd_cache, "show nydusfsd's cache usage, or run its GC" },
	{ "profile", cmd_profile, "write the startup profile a workload recorded on a mount" },
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: nydusfs COMMAND [OPTIONS] ...\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\n'nydusfs COMMAND --help' describes each command.\n");
}

int main(int argc, char **argv)
{
	const char *prog = strrchr(argv[0], '/');
	size_t i;

	/* mount(8) runs /sbin/mount.nydusfs, a link to this program */
	if (!strcmp(prog ? prog + 1 : argv[0], "mount.nydusfs"))
		return cmd_mount_helper(argc, argv);
	if (argc < 2) {
		usage(stderr);
		return NYDUSFS_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return NYDUSFS_EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "nydusfs: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return NYDUSFS_EXIT_USAGE;
}
