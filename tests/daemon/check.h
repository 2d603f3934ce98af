/* SPDX-License-Identifier: GPL-2.0 */
/* A few lines of test harness for the nydusfsd unit tests (TAP output). */
#ifndef NYDUSFSD_TEST_CHECK_H
#define NYDUSFSD_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_failed, check_count;

#define CHECK(cond, ...) do {						\
	check_count++;							\
	if (cond) {							\
		printf("ok %d - ", check_count);			\
	} else {							\
		check_failed++;						\
		printf("not ok %d - %s:%d: ", check_count, __FILE__,	\
		       __LINE__);					\
	}								\
	printf(__VA_ARGS__);						\
	printf("\n");							\
} while (0)

static inline int check_done(void)
{
	printf("1..%d\n# %d passed, %d failed\n", check_count,
	       check_count - check_failed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
