/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What differs between the kernels nydusfs builds against: 6.1 (Debian 12)
 * and 6.12.  Everything else in kernel/ uses one spelling.
 */
#ifndef __NYDUSFS_COMPAT_H
#define __NYDUSFS_COMPAT_H

#include <linux/version.h>
#include <linux/fs.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
/* 6.7: s_xattr became an array of const pointers; timestamp accessors */
#define NYDUSFS_XATTR_CONST	const

static inline void nydusfs_set_inode_time(struct inode *inode,
					  struct timespec64 ts)
{
	inode_set_atime_to_ts(inode, ts);
	inode_set_mtime_to_ts(inode, ts);
	inode_set_ctime_to_ts(inode, ts);
}
#else
#define NYDUSFS_XATTR_CONST

static inline void nydusfs_set_inode_time(struct inode *inode,
					  struct timespec64 ts)
{
	inode->i_atime = ts;
	inode->i_mtime = ts;
	inode->i_ctime = ts;
}
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#define nydusfs_splice_read	filemap_splice_read
#else
#define nydusfs_splice_read	generic_file_splice_read
#endif

#endif /* __NYDUSFS_COMPAT_H */
