/* SPDX-License-Identifier: GPL-2.0 */
/* Levelled logging to stderr: err, warn, info, dbg. */
#ifndef NYDUSFS_LOG_H
#define NYDUSFS_LOG_H

enum nydusfs_log_level {
	NYDUSFS_LOG_ERR,
	NYDUSFS_LOG_WARN,
	NYDUSFS_LOG_INFO,
	NYDUSFS_LOG_DBG,
};

extern int nydusfs_log_level;	/* messages above it are dropped */

void nydusfs_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define nydusfs_err(fmt, ...)	nydusfs_log(NYDUSFS_LOG_ERR, fmt, ##__VA_ARGS__)
#define nydusfs_warn(fmt, ...)	nydusfs_log(NYDUSFS_LOG_WARN, fmt, ##__VA_ARGS__)
#define nydusfs_info(fmt, ...)	nydusfs_log(NYDUSFS_LOG_INFO, fmt, ##__VA_ARGS__)
#define nydusfs_dbg(fmt, ...)	nydusfs_log(NYDUSFS_LOG_DBG, fmt, ##__VA_ARGS__)

#endif
