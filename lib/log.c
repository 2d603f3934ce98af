// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>

#include "nydusfs/log.h"

int nydusfs_log_level = NYDUSFS_LOG_WARN;

static const char *const level_names[] = {
	[NYDUSFS_LOG_ERR] = "error",
	[NYDUSFS_LOG_WARN] = "warning",
	[NYDUSFS_LOG_INFO] = "info",
	[NYDUSFS_LOG_DBG] = "debug",
};

void nydusfs_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > nydusfs_log_level)
		return;
	fprintf(stderr, "nydusfs: %s: ", level_names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
