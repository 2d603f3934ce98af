// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs: reading metadata through the bootstrap file's page cache, and
 * mapping a file's slots to chunks.  Nothing here trusts the image: every
 * index and offset is checked before it is followed.
 */
#include <linux/highmem.h>
#include <linux/shmem_fs.h>

#include "internal.h"

/*
 * A folio of the bootstrap's page cache, read if needed.  tmpfs has no
 * ->read_folio: its pages come from shmem_read_mapping_page().
 */
struct folio *nydusfs_bootstrap_folio(struct file *file, pgoff_t index)
{
	struct address_space *mapping = file->f_mapping;
	struct page *page;

	if (!shmem_mapping(mapping))
		return read_mapping_folio(mapping, index, file);
	page = shmem_read_mapping_page(mapping, index);
	if (IS_ERR(page))
		return ERR_CAST(page);
	return page_folio(page);
}

bool nydusfs_bootstrap_readable(struct file *file)
{
	return file->f_mapping->a_ops->read_folio ||
	       shmem_mapping(file->f_mapping);
}

static struct folio *nydusfs_meta_folio(struct super_block *sb,
					struct nydusfs_buf *buf, pgoff_t index)
{
	struct file *file = NYDUSFS_SB(sb)->bootstrap;
	struct folio *folio = buf->folio;

	if (folio && folio_contains(folio, index))
		return folio;
	nydusfs_put_buf(buf);
	folio = nydusfs_bootstrap_folio(file, index);
	if (IS_ERR(folio)) {
		nydusfs_err(sb, "cannot read bootstrap page %lu: %ld",
			    index, PTR_ERR(folio));
		return folio;
	}
	buf->folio = folio;
	return folio;
}

/* Copy @len bytes at @pos of the bootstrap; the caller checked the range. */
int nydusfs_meta_read(struct super_block *sb, struct nydusfs_buf *buf,
		      u64 pos, void *dst, size_t len)
{
	while (len) {
		struct folio *folio;
		size_t off, n;
		void *src;

		folio = nydusfs_meta_folio(sb, buf, pos >> PAGE_SHIFT);
		if (IS_ERR(folio))
			return PTR_ERR(folio);
		off = offset_in_folio(folio, pos);
		n = min_t(size_t, len, PAGE_SIZE - offset_in_page(pos));
		src = kmap_local_folio(folio, off);
		memcpy(dst, src, n);
		kunmap_local(src);
		dst += n;
		pos += n;
		len -= n;
	}
	return 0;
}

void nydusfs_put_buf(struct nydusfs_buf *buf)
{
	if (buf->folio)
		folio_put(buf->folio);
	buf->folio = NULL;
}

/* Copy entry @index of @region; callers have checked @index already. */
int nydusfs_read_entry(struct super_block *sb, struct nydusfs_buf *buf,
		       unsigned int region, u64 index, void *dst,
		       size_t entsize)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(sb);

	if (index >= nydusfs_region_count(sbi, region, entsize))
		return -EFSCORRUPTED;
	return nydusfs_meta_read(sb, buf, sbi->region_off[region] +
				 index * entsize, dst, entsize);
}

/*
 * A name or symlink target: inside the string region and not crossing a
 * 4 KiB block of the bootstrap.  @dst gets @len bytes and a NUL.
 */
int nydusfs_read_name(struct super_block *sb, struct nydusfs_buf *buf,
		      u32 nid, u32 off, unsigned int len, char *dst)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(sb);
	u64 pos = sbi->region_off[NYDUSFS_REGION_STRINGS] + off;
	int err;

	if (!len || (u64)off + len > sbi->region_size[NYDUSFS_REGION_STRINGS] ||
	    pos >> NYDUSFS_BLKSZBITS != (pos + len - 1) >> NYDUSFS_BLKSZBITS) {
		nydusfs_err(sb, "nid %u: string at %u length %u out of bounds or crossing a block",
			    nid, off, len);
		return -EFSCORRUPTED;
	}
	err = nydusfs_meta_read(sb, buf, pos, dst, len);
	if (!err)
		dst[len] = '\0';
	return err;
}

/* A value: inside the string region, may cross blocks. */
int nydusfs_read_value(struct super_block *sb, struct nydusfs_buf *buf,
		       u32 nid, u32 off, u32 len, void *dst)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(sb);

	if ((u64)off + len > sbi->region_size[NYDUSFS_REGION_STRINGS]) {
		nydusfs_err(sb, "nid %u: value at %u length %u out of bounds",
			    nid, off, len);
		return -EFSCORRUPTED;
	}
	return nydusfs_meta_read(sb, buf,
				 sbi->region_off[NYDUSFS_REGION_STRINGS] + off,
				 dst, len);
}

static int nydusfs_check_chunk(struct super_block *sb, u32 nid,
			       const struct nydusfs_map *map,
			       const struct nydusfs_chunk *dc)
{
	const struct nydusfs_dev_blob *blob = &map->obj->blob;
	u64 uoff = le64_to_cpu(dc->uncompressed_offset);
	u64 coff = le64_to_cpu(dc->compressed_offset);
	u32 usize = le32_to_cpu(dc->uncompressed_size);
	u32 csize = le32_to_cpu(dc->compressed_size);
	static const u32 compr_feature[] = {
		[NYDUSFS_COMPR_NONE] = 0,
		[NYDUSFS_COMPR_LZ4] = NYDUSFS_FEATURE_INCOMPAT_LZ4,
		[NYDUSFS_COMPR_ZSTD] = NYDUSFS_FEATURE_INCOMPAT_ZSTD,
	};
	const char *what = NULL;

	if (dc->compressor > NYDUSFS_COMPR_MAX ||
	    (compr_feature[dc->compressor] &
	     ~NYDUSFS_SB(sb)->feature_incompat))
		what = "unknown or undeclared compressor";
	else if (dc->compressor == NYDUSFS_COMPR_NONE && csize != usize)
		what = "uncompressed chunk with two sizes";
	else if (usize != map->len)
		what = "size differs from the slot length";
	else if (!IS_ALIGNED(uoff, NYDUSFS_BLKSZ) ||
		 uoff > blob->uncompressed_size ||
		 usize > blob->uncompressed_size - uoff)
		what = "uncompressed range outside the blob";
	else if (coff > blob->compressed_size ||
		 csize > blob->compressed_size - coff)
		what = "compressed range outside the blob";
	if (!what)
		return 0;
	nydusfs_err(sb, "nid %u slot %llu: blob %u chunk %u: %s",
		    nid, map->slot, map->blob_index, map->chunk, what);
	return -EFSCORRUPTED;
}

static void nydusfs_fill_dev_chunk(struct nydusfs_dev_chunk *out,
				   const struct nydusfs_chunk *dc)
{
	memset(out, 0, sizeof(*out));
	out->compressed_offset = le64_to_cpu(dc->compressed_offset);
	out->uncompressed_offset = le64_to_cpu(dc->uncompressed_offset);
	out->compressed_size = le32_to_cpu(dc->compressed_size);
	out->uncompressed_size = le32_to_cpu(dc->uncompressed_size);
	out->compressor = dc->compressor;
	memcpy(out->digest, dc->digest, sizeof(out->digest));
}

/* Map slot @slot of regular file @inode to its chunk, checking it. */
int nydusfs_map_slot(struct inode *inode, struct nydusfs_buf *buf, u64 slot,
		     struct nydusfs_map *map)
{
	struct super_block *sb = inode->i_sb;
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(sb);
	struct nydusfs_inode_info *vi = NYDUSFS_I(inode);
	u64 start = slot << sbi->chunkszbits;
	struct nydusfs_chunk_ref ref;
	struct nydusfs_blob_info *bi;
	struct nydusfs_chunk dc;
	int err;

	if (slot >= vi->data_count || start >= i_size_read(inode))
		return -EFSCORRUPTED;
	map->slot = slot;
	map->len = min_t(u64, 1ULL << sbi->chunkszbits,
			 i_size_read(inode) - start);
	err = nydusfs_read_entry(sb, buf, NYDUSFS_REGION_CHUNK_REFS,
				 vi->data + slot, &ref, sizeof(ref));
	if (err)
		return err;
	map->blob_index = le32_to_cpu(ref.blob_index);
	map->chunk = le32_to_cpu(ref.chunk_index);
	map->hole = map->blob_index == NYDUSFS_CHUNK_HOLE;
	map->obj = NULL;
	if (map->hole) {
		if (!map->chunk)
			return 0;
		bi = NULL;
	} else {
		bi = map->blob_index < sbi->blob_count ?
			&sbi->blobs[map->blob_index] : NULL;
	}
	if (!bi || map->chunk >= bi->chunk_count) {
		nydusfs_err(sb, "nid %u slot %llu: bad chunk reference (blob %u chunk %u)",
			    nydusfs_nid(inode), slot, map->blob_index,
			    map->chunk);
		return -EFSCORRUPTED;
	}
	map->obj = bi->obj;
	err = nydusfs_read_entry(sb, buf, NYDUSFS_REGION_CHUNKS,
				 (u64)bi->chunk_index + map->chunk, &dc,
				 sizeof(dc));
	if (!err)
		err = nydusfs_check_chunk(sb, nydusfs_nid(inode), map, &dc);
	if (!err)
		nydusfs_fill_dev_chunk(&map->dc, &dc);
	return err;
}
