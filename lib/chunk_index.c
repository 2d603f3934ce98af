// SPDX-License-Identifier: GPL-2.0
/* An open-addressing hash table from chunk digest to (blob, chunk). */
#include <stdlib.h>
#include <string.h>

#include "nydusfs/build.h"
#include "nydusfs/err.h"

struct chunk_slot {
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	uint32_t blob;
	uint32_t chunk;
	int used;
};

struct nydusfs_chunk_index {
	struct chunk_slot *slots;
	size_t cap;	/* a power of two */
	size_t count;
};

struct nydusfs_chunk_index *nydusfs_chunk_index_new(void)
{
	struct nydusfs_chunk_index *ci = calloc(1, sizeof(*ci));

	if (!ci)
		return NULL;
	ci->cap = 1024;
	ci->slots = calloc(ci->cap, sizeof(*ci->slots));
	if (!ci->slots) {
		free(ci);
		return NULL;
	}
	return ci;
}

void nydusfs_chunk_index_free(struct nydusfs_chunk_index *ci)
{
	if (!ci)
		return;
	free(ci->slots);
	free(ci);
}

/* The digest is a sha256: its first bytes are already uniformly spread. */
static size_t digest_hash(const uint8_t *digest)
{
	uint64_t h;

	memcpy(&h, digest, sizeof(h));
	return h;
}

static struct chunk_slot *find_slot(struct chunk_slot *slots, size_t cap,
				    const uint8_t *digest)
{
	size_t i = digest_hash(digest) & (cap - 1);

	while (slots[i].used &&
	       memcmp(slots[i].digest, digest, NYDUSFS_DIGEST_SIZE))
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

int nydusfs_chunk_index_find(const struct nydusfs_chunk_index *ci,
			     const uint8_t *digest, uint32_t *blob,
			     uint32_t *chunk)
{
	const struct chunk_slot *s = find_slot(ci->slots, ci->cap, digest);

	if (!s->used)
		return -ENOENT;
	*blob = s->blob;
	*chunk = s->chunk;
	return 0;
}

static int chunk_index_grow(struct nydusfs_chunk_index *ci)
{
	size_t cap = ci->cap * 2, i;
	struct chunk_slot *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (i = 0; i < ci->cap; i++)
		if (ci->slots[i].used)
			*find_slot(slots, cap, ci->slots[i].digest) =
				ci->slots[i];
	free(ci->slots);
	ci->slots = slots;
	ci->cap = cap;
	return 0;
}

/* The first location of a digest wins, so lookups are deterministic. */
int nydusfs_chunk_index_add(struct nydusfs_chunk_index *ci,
			    const uint8_t *digest, uint32_t blob,
			    uint32_t chunk)
{
	struct chunk_slot *s;
	int err;

	if ((ci->count + 1) * 2 > ci->cap) {
		err = chunk_index_grow(ci);
		if (err)
			return err;
	}
	s = find_slot(ci->slots, ci->cap, digest);
	if (s->used)
		return 0;
	memcpy(s->digest, digest, NYDUSFS_DIGEST_SIZE);
	s->blob = blob;
	s->chunk = chunk;
	s->used = 1;
	ci->count++;
	return 0;
}
