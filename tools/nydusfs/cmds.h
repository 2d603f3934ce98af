/* SPDX-License-Identifier: GPL-2.0 */
/* The subcommands of the nydusfs CLI; each returns the exit status. */
#ifndef NYDUSFS_CMDS_H
#define NYDUSFS_CMDS_H

/* Exit statuses shared by every subcommand. */
#define NYDUSFS_EXIT_OK		0
#define NYDUSFS_EXIT_FAILURE	1	/* an error, or corruption found */
#define NYDUSFS_EXIT_USAGE	2	/* bad command line */

int cmd_build(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_unpack(int argc, char **argv);
int cmd_convert(int argc, char **argv);	/* cmd_convert.c */
/* cmd_daemon.c: talking to nydusfsd */
int cmd_mount(int argc, char **argv);
int cmd_mount_helper(int argc, char **argv);	/* argv[0] mount.nydusfs */
int cmd_umount(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_profile(int argc, char **argv);	/* cmd_profile.c */

#endif
