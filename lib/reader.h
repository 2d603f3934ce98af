/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private helpers shared by the reader's files: image.c (open and the
 * checked accessors), walk.c, check.c and unpack.c.
 */
#ifndef NYDUSFS_LIB_READER_H
#define NYDUSFS_LIB_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* [off, off + len) lies inside [0, limit), without overflowing. */
static inline bool nydusfs_range_ok(uint64_t off, uint64_t len, uint64_t limit)
{
	return off <= limit && len <= limit - off;
}

/* memcmp over the common length, the shorter name first on a tie. */
static inline int nydusfs_name_cmp(const char *a, size_t alen, const char *b,
				   size_t blen)
{
	int ret = memcmp(a, b, alen < blen ? alen : blen);

	if (ret)
		return ret;
	return alen < blen ? -1 : alen > blen;
}

/* The last slot may be shorter; all others are a full chunk. */
static inline uint64_t nydusfs_slot_len(uint64_t size, uint32_t chunk_size,
					uint64_t slot)
{
	uint64_t start = slot * chunk_size;

	return size - start < chunk_size ? size - start : chunk_size;
}

/* Bit helpers over a uint64_t array (bitmaps of nids, dirents...). */
static inline bool nydusfs_test_bit(const uint64_t *map, uint64_t bit)
{
	return map[bit / 64] >> (bit % 64) & 1;
}

static inline void nydusfs_set_bit(uint64_t *map, uint64_t bit)
{
	map[bit / 64] |= 1ULL << (bit % 64);
}

/*
 * A name or target made printable for messages: bytes outside 0x21..0x7e
 * become \xNN, and long names are cut with "...".  Returns @buf.
 */
#define NYDUSFS_ESC_MAX	96
const char *nydusfs_escape(const char *s, size_t len,
			   char buf[NYDUSFS_ESC_MAX]);

#endif
