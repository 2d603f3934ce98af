/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel-style error pointers for userspace: -errno travels in the pointer. */
#ifndef NYDUSFS_ERR_H
#define NYDUSFS_ERR_H

#include <errno.h>
#include <stdint.h>

#ifndef EFSCORRUPTED
#define EFSCORRUPTED	EUCLEAN		/* the same spelling as the kernel */
#endif

#define MAX_ERRNO	4095

static inline void *ERR_PTR(long error)
{
	return (void *)error;
}

static inline long PTR_ERR(const void *ptr)
{
	return (long)ptr;
}

static inline int IS_ERR(const void *ptr)
{
	return (uintptr_t)ptr >= (uintptr_t)-MAX_ERRNO;
}

#endif
