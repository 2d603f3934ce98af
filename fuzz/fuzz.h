/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the libFuzzer targets share: the entry points, an input as a
 * NUL-terminated string, and a check that fails the run like a crash.
 */
#ifndef NYDUSFS_FUZZ_H
#define NYDUSFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input up to its first NUL, as a string (malloc()ed). */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
	size_t len = strnlen((const char *)data, size);
	char *s = malloc(len + 1);

	if (!s)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* A broken promise of the code under test: report it and crash. */
#define FUZZ_ASSERT(cond)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: %s\n", __FILE__,	\
				__LINE__, #cond);			\
			abort();					\
		}							\
	} while (0)

#endif
