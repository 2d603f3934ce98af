// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs: the read path.  A file offset maps to a slot, the slot to a
 * chunk of a blob, the chunk to a range of that blob's cache file.  Present
 * chunks are read from the cache file with no upcall; missing ones are
 * fetched by the daemon first.  Readahead asks for every missing chunk of
 * its window at once before it waits for the first one.
 */
#include <linux/bvec.h>
#include <linux/uio.h>
#include <crypto/hash.h>

#include "internal.h"

/* -o verify: read the whole chunk, check its sha256, copy out a part */
static int nydusfs_read_verified(struct nydusfs_sb_info *sbi,
				 const struct nydusfs_map *map, u32 off,
				 struct iov_iter *iter)
{
	size_t want = iov_iter_count(iter);
	loff_t pos = map->dc.uncompressed_offset;
	u8 digest[NYDUSFS_DIGEST_SIZE];
	ssize_t ret;
	void *buf;
	int err;

	buf = kvmalloc(map->len, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	ret = kernel_read(map->obj->cache, buf, map->len, &pos);
	if (ret < 0)
		err = ret;
	else if (ret != map->len)
		err = -EBADMSG;
	else
		err = crypto_shash_tfm_digest(sbi->sha256, buf, map->len,
					      digest);
	if (!err && memcmp(digest, map->dc.digest, NYDUSFS_DIGEST_SIZE))
		err = -EBADMSG;
	if (!err && copy_to_iter(buf + off, want, iter) != want)
		err = -EFAULT;
	kvfree(buf);
	return err;
}

/* -EBADMSG: the cached bytes are short or fail their digest */
static int nydusfs_read_cached(struct nydusfs_sb_info *sbi,
			       const struct nydusfs_map *map, u32 off,
			       struct iov_iter *iter)
{
	loff_t pos = map->dc.uncompressed_offset + off;
	size_t want = iov_iter_count(iter);
	ssize_t ret;

	if (sbi->opt.verify)
		return nydusfs_read_verified(sbi, map, off, iter);
	ret = vfs_iter_read(map->obj->cache, iter, &pos, 0);
	if (ret < 0)
		return ret;
	return ret == want ? 0 : -EBADMSG;
}

/* Bytes [@off, @off + @len) of the chunk into @bv, fetching it as needed */
static int nydusfs_read_chunk(struct inode *inode,
			      const struct nydusfs_map *map, u32 off,
			      struct bio_vec *bv, unsigned int nr, size_t len)
{
	struct super_block *sb = inode->i_sb;
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(sb);
	struct nydusfs_object *obj = map->obj;
	struct iov_iter iter;
	u32 flags = 0;
	int err;

	for (;;) {
		err = nydusfs_object_fetch(obj, map, flags,
					   READ_ONCE(sbi->opt.timeout), true);
		if (err)
			return err;
		err = nydusfs_chunk_check(obj, map);
		if (!err) {
			iov_iter_bvec(&iter, ITER_DEST, bv, nr, len);
			err = nydusfs_read_cached(sbi, map, off, &iter);
		}
		if (err != -EBADMSG && err != -ENODATA)
			return err;
		nydusfs_chunk_drop(obj, map->chunk);
		nydusfs_err(sb, "nid %u: blob %u (%*phN) chunk %u: cached data %s%s",
			    nydusfs_nid(inode), map->blob_index,
			    NYDUSFS_DIGEST_SIZE, obj->blob.digest, map->chunk,
			    err == -ENODATA ? "never written (a hole)" :
			    sbi->opt.verify ? "short or corrupt" : "short",
			    flags ? " after a refetch" : ", refetching");
		if (flags)
			return -EIO;
		flags = NYDUSFS_READ_REFETCH;
	}
}

/*
 * Fill @nr folios from file offset @pos, all in the slot @map, then
 * unlock them; the last one may reach past the end of the file.
 */
static int nydusfs_fill_folios(struct inode *inode,
			       const struct nydusfs_map *map, loff_t pos,
			       struct folio **folios, struct bio_vec *bv,
			       unsigned int nr)
{
	u32 off = pos - (map->slot << NYDUSFS_SB(inode->i_sb)->chunkszbits);
	size_t len = min_t(u64, (u64)nr << PAGE_SHIFT, map->len - off);
	unsigned int i;
	int err = 0;

	if (map->hole)
		len = 0;
	for (i = 0; i < nr; i++) {
		size_t done = min_t(size_t, len - min_t(size_t, len,
				    (size_t)i << PAGE_SHIFT), PAGE_SIZE);

		bv[i].bv_page = &folios[i]->page;
		bv[i].bv_offset = 0;
		bv[i].bv_len = done;
	}
	if (len)
		err = nydusfs_read_chunk(inode, map, off, bv,
					 DIV_ROUND_UP(len, PAGE_SIZE), len);
	for (i = 0; i < nr; i++) {
		if (!err) {
			if (bv[i].bv_len < PAGE_SIZE)
				folio_zero_segment(folios[i], bv[i].bv_len,
						   PAGE_SIZE);
			folio_mark_uptodate(folios[i]);
		}
		folio_unlock(folios[i]);
	}
	return err;
}

static int nydusfs_read_folio(struct file *file, struct folio *folio)
{
	struct inode *inode = folio->mapping->host;
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(inode->i_sb);
	loff_t pos = folio_pos(folio);
	struct nydusfs_buf buf = {};
	struct nydusfs_map map;
	struct bio_vec bv;
	int err;

	if (pos >= i_size_read(inode)) {
		folio_zero_range(folio, 0, folio_size(folio));
		folio_mark_uptodate(folio);
		folio_unlock(folio);
		return 0;
	}
	err = nydusfs_map_slot(inode, &buf, pos >> sbi->chunkszbits, &map);
	nydusfs_put_buf(&buf);
	if (err) {
		folio_unlock(folio);
		return err;
	}
	return nydusfs_fill_folios(inode, &map, pos, &folio, &bv, 1);
}

/**
 * struct nydusfs_ra - one readahead call
 * @rac: the readahead control
 * @inode: the file
 * @buf: metadata page in use
 * @pos: file offset of the next folio to fill
 * @end: end of the window
 * @posted: the missing chunks of the window have been asked for
 * @folios: room for every folio of the window
 * @bv: likewise
 */
struct nydusfs_ra {
	struct readahead_control *rac;
	struct inode *inode;
	struct nydusfs_buf buf;
	loff_t pos;
	loff_t end;
	bool posted;
	struct folio **folios;
	struct bio_vec *bv;
};

/* Queue, without waiting, a READ for each missing chunk from @pos on */
static void nydusfs_ra_post(struct nydusfs_ra *ra, loff_t pos)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(ra->inode->i_sb);
	loff_t end = min_t(loff_t, i_size_read(ra->inode), ra->end);
	unsigned int timeout = READ_ONCE(sbi->opt.timeout);
	struct nydusfs_map map;
	u64 slot;

	for (slot = pos >> sbi->chunkszbits;
	     slot << sbi->chunkszbits < end; slot++) {
		if (nydusfs_map_slot(ra->inode, &ra->buf, slot, &map))
			break;
		if (map.hole || nydusfs_chunk_present(map.obj, map.chunk))
			continue;
		nydusfs_object_fetch(map.obj, &map, 0, timeout, false);
	}
}

/*
 * The folios from @ra->pos on that lie in its slot.  readahead_pos() and
 * readahead_count() still count the last folio taken, hence @ra->pos.
 */
static int nydusfs_ra_slot(struct nydusfs_ra *ra)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(ra->inode->i_sb);
	loff_t pos = ra->pos;
	struct nydusfs_map map;
	bool was_open = true;
	unsigned int nr, i;
	u64 end;
	int err;

	if (pos >= i_size_read(ra->inode))
		return -EINVAL;
	err = nydusfs_map_slot(ra->inode, &ra->buf, pos >> sbi->chunkszbits,
			       &map);
	if (err)
		return err;
	end = (map.slot << sbi->chunkszbits) + map.len;
	nr = min_t(u64, (ra->end - pos) >> PAGE_SHIFT,
		   DIV_ROUND_UP(end - pos, PAGE_SIZE));
	if (!map.hole && !nydusfs_chunk_present(map.obj, map.chunk)) {
		was_open = nydusfs_object_cache(map.obj);
		if (!ra->posted)
			nydusfs_ra_post(ra, pos);
		ra->posted = true;
	}
	for (i = 0; i < nr; i++)
		ra->folios[i] = readahead_folio(ra->rac);
	ra->pos += (loff_t)nr << PAGE_SHIFT;
	err = nydusfs_fill_folios(ra->inode, &map, pos, ra->folios, ra->bv,
				  nr);
	/* an OPEN held the READs back: ask for them now */
	if (!was_open)
		ra->posted = false;
	return err;
}

/*
 * Read whole chunks into the page cache: a chunk is fetched whole anyway,
 * so one READ brings a 1 MiB chunk, not the first 128 KiB of it, and -o
 * verify, which hashes whole chunks, does so once per chunk.
 */
static void nydusfs_ra_expand(struct readahead_control *rac,
			      struct inode *inode, unsigned int bits)
{
	loff_t start = round_down(readahead_pos(rac), 1ULL << bits);
	loff_t end = round_up(readahead_pos(rac) + readahead_length(rac),
			      1ULL << bits);

	end = min_t(loff_t, end, round_up(i_size_read(inode), PAGE_SIZE));
	if (end > start)
		readahead_expand(rac, start, end - start);
}

static void nydusfs_readahead(struct readahead_control *rac)
{
	struct inode *inode = rac->mapping->host;
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(inode->i_sb);
	struct nydusfs_ra ra = { .rac = rac, .inode = inode };
	unsigned int count;

	nydusfs_ra_expand(rac, inode, sbi->chunkszbits);
	count = readahead_count(rac);
	ra.pos = readahead_pos(rac);
	ra.end = ra.pos + readahead_length(rac);
	ra.folios = kvmalloc_array(count, sizeof(*ra.folios), GFP_KERNEL);
	ra.bv = kvmalloc_array(count, sizeof(*ra.bv), GFP_KERNEL);
	/* folios left over are unlocked by the caller and read one by one */
	while (ra.folios && ra.bv && ra.pos < ra.end)
		if (nydusfs_ra_slot(&ra))
			break;
	nydusfs_put_buf(&ra.buf);
	kvfree(ra.folios);
	kvfree(ra.bv);
}

const struct address_space_operations nydusfs_aops = {
	.read_folio	= nydusfs_read_folio,
	.readahead	= nydusfs_readahead,
};

const struct file_operations nydusfs_file_fops = {
	.llseek		= generic_file_llseek,
	.read_iter	= generic_file_read_iter,
	.mmap		= generic_file_readonly_mmap,
	.splice_read	= nydusfs_splice_read,
};
