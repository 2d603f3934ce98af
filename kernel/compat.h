/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What differs between the kernels nydusfs builds against: 6.1 (Debian 12)
 * and 6.12.  kernel/Kbuild looks for each feature in the kernel headers
 * and defines NYDUSFS_HAVE_*; everything else in kernel/ uses one spelling.
 */
#ifndef __NYDUSFS_COMPAT_H
#define __NYDUSFS_COMPAT_H

#include <linux/fs.h>

#ifdef NYDUSFS_HAVE_INODE_TIME_ACCESSORS	/* 6.7 */
static inline void nydusfs_set_inode_time(struct inode *inode,
					  struct timespec64 ts)
{
	inode_set_atime_to_ts(inode, ts);
	inode_set_mtime_to_ts(inode, ts);
	inode_set_ctime_to_ts(inode, ts);
}
#else
static inline void nydusfs_set_inode_time(struct inode *inode,
					  struct timespec64 ts)
{
	inode->i_atime = ts;
	inode->i_mtime = ts;
	inode->i_ctime = ts;
}
#endif

#ifdef NYDUSFS_HAVE_CONST_XATTR_HANDLERS	/* 6.7 */
#define NYDUSFS_XATTR_CONST	const
#else
#define NYDUSFS_XATTR_CONST
#endif

#ifdef NYDUSFS_HAVE_FILEMAP_SPLICE_READ		/* 6.5 */
#define nydusfs_splice_read	filemap_splice_read
#else
#define nydusfs_splice_read	generic_file_splice_read
#endif

#endif /* __NYDUSFS_COMPAT_H */
