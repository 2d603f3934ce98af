// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs_check(): the fsck of a bootstrap.
 *
 * One pass over the inodes in nid order checks each inode, its xattrs,
 * chunk slots or directory entries, and recomputes its merkle digest from
 * its own content and its children's stored digests (so every stored
 * digest is checked, and the root digest covers the tree).  Because a
 * child directory's nid is above its parent's, the same pass computes
 * reachability and checks that nids follow breadth-first order.  Each
 * inode's dirents, xattrs and chunk slots must be its own (no overlap
 * between inodes), which also keeps the whole check linear in the size of
 * the bootstrap whatever a hostile image says.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "nydusfs/check.h"
#include "nydusfs/compress.h"
#include "nydusfs/err.h"
#include "nydusfs/log.h"
#include "nydusfs/merkle.h"
#include "reader.h"

#define STOP	(-ECANCELED)	/* too many problems: stop listing */

struct checker {
	const struct nydusfs_image *img;
	const char *blob_dir;
	uint64_t problems, limit;
	uint32_t *nrefs;		/* dirents naming each nid */
	uint64_t *bad;			/* nids that failed their own checks */
	uint64_t *reached;		/* reachable from the root */
	uint64_t *numbered;		/* met in breadth-first order */
	uint32_t next_nid;
	bool order_reported;
	bool bad_inodes;		/* some inode failed: its ranges are unknown */
	uint64_t *used_dirents, *used_xattrs, *used_refs;
	uint64_t *bad_blobs;
};

/* Log one problem; STOP once the limit is reached. */
static int report(struct checker *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int count_problem(struct checker *c)
{
	if (++c->problems < c->limit)
		return 0;
	nydusfs_err("%s: %llu problems found, stopping here", c->img->label,
		    (unsigned long long)c->problems);
	return STOP;
}

static int report(struct checker *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	nydusfs_image_corrupt(c->img, "%s", msg);
	return count_problem(c);
}

/* An accessor failed: it already logged corruption; anything else is fatal. */
static int accessor_failed(struct checker *c, int err)
{
	if (err == -EFSCORRUPTED || err == -EOPNOTSUPP)
		return count_problem(c);
	return err;
}

static bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len--)
		if (*b++)
			return false;
	return true;
}

static uint64_t *bitmap_new(uint64_t bits)
{
	return calloc(bits / 64 + 1, sizeof(uint64_t));
}

/*
 * Mark [first, first + count) of a table as used by @nid; an entry already
 * used by another inode is a problem (and the range is not checked further).
 */
static int claim_range(struct checker *c, uint64_t *map, uint64_t first,
		       uint32_t count, uint32_t nid, const char *what,
		       bool *ok)
{
	uint64_t i;

	*ok = true;
	for (i = 0; i < count; i++) {
		if (nydusfs_test_bit(map, first + i)) {
			*ok = false;
			return report(c, "nid %u: %s %llu is shared with another inode",
				      nid, what, (unsigned long long)(first + i));
		}
		nydusfs_set_bit(map, first + i);
	}
	return 0;
}

/* ---- sha256 streaming (the merkle digests of big files and dirs) -------- */

static EVP_MD_CTX *md_begin(char tag)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md && (!EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
		   !EVP_DigestUpdate(md, &tag, 1))) {
		EVP_MD_CTX_free(md);
		md = NULL;
	}
	return md;
}

static int md_end(EVP_MD_CTX *md, bool failed, uint8_t out[NYDUSFS_DIGEST_SIZE])
{
	unsigned int len = NYDUSFS_DIGEST_SIZE;
	int err = 0;

	if (failed || !EVP_DigestFinal_ex(md, out, &len))
		err = -EIO;
	EVP_MD_CTX_free(md);
	return err;
}

static int compare_digest(struct checker *c, uint32_t nid,
			  const struct nydusfs_inode *di,
			  const uint8_t computed[NYDUSFS_DIGEST_SIZE])
{
	char want[2 * NYDUSFS_DIGEST_SIZE + 1], got[2 * NYDUSFS_DIGEST_SIZE + 1];

	if (!memcmp(di->digest, computed, NYDUSFS_DIGEST_SIZE))
		return 0;
	nydusfs_digest_to_hex(di->digest, want);
	nydusfs_digest_to_hex(computed, got);
	return report(c, "nid %u: merkle digest %s does not match its contents (%s)",
		      nid, want, got);
}

/* ---- superblock and layout ----------------------------------------------- */

static int check_padding(struct checker *c)
{
	const struct nydusfs_image *img = c->img;
	uint64_t end, off, size;
	unsigned int i;
	int err;

	if (!all_zero(img->buf + NYDUSFS_SB_SIZE, NYDUSFS_BLKSZ - NYDUSFS_SB_SIZE)) {
		err = report(c, "superblock block: bytes after the superblock are not zero");
		if (err)
			return err;
	}
	end = NYDUSFS_BLKSZ;
	for (i = 0; i <= NYDUSFS_REGION_COUNT + 1; i++) {
		off = img->size;
		size = 0;
		if (i < NYDUSFS_REGION_COUNT) {
			off = le64_to_cpu(img->sb->regions[i].offset);
			size = le64_to_cpu(img->sb->regions[i].size);
		} else if (i == NYDUSFS_REGION_COUNT) {
			if (!img->pranges)
				continue;
			off = le64_to_cpu(img->sb->prefetch_ranges.offset);
			size = le64_to_cpu(img->sb->prefetch_ranges.size);
		}
		if (!all_zero(img->buf + end, off - end)) {
			err = report(c, "padding before %s (%llu..%llu) is not zero",
				     i < NYDUSFS_REGION_COUNT ?
				     nydusfs_region_names[i] :
				     i == NYDUSFS_REGION_COUNT ?
				     "prefetch-ranges" : "the end",
				     (unsigned long long)end,
				     (unsigned long long)off);
			if (err)
				return err;
		}
		end = off + size;
	}
	return 0;
}

static int check_prange_feature(struct checker *c)
{
	const struct nydusfs_super_block *sb = c->img->sb;
	bool has = le32_to_cpu(sb->feature_compat) &
		   NYDUSFS_FEATURE_COMPAT_PREFETCH_RANGES;

	if (!has && !all_zero(&sb->prefetch_ranges,
			      sizeof(sb->prefetch_ranges)))
		return report(c, "superblock: PREFETCH_RANGES feature clear but its region is set (%llu bytes at %llu)",
			      (unsigned long long)le64_to_cpu(sb->prefetch_ranges.size),
			      (unsigned long long)le64_to_cpu(sb->prefetch_ranges.offset));
	if (has && !c->img->prange_count)
		return report(c, "superblock: PREFETCH_RANGES feature set but the prefetch range table is empty");
	if (has && le16_to_cpu(sb->version_minor) < 1)
		return report(c, "superblock: PREFETCH_RANGES feature set in a version 1.%u bootstrap (it needs 1.1)",
			      le16_to_cpu(sb->version_minor));
	return 0;
}

static int check_super(struct checker *c)
{
	const struct nydusfs_image *img = c->img;
	const struct nydusfs_super_block *sb = img->sb;
	uint32_t compat = le32_to_cpu(sb->feature_compat);
	bool has_prefetch = compat & NYDUSFS_FEATURE_COMPAT_PREFETCH;
	int err = 0;

	if (compat & ~NYDUSFS_FEATURE_COMPAT_SUPP)
		nydusfs_warn("%s: unknown compatible features 0x%x (ignored)",
			     img->label, compat & ~NYDUSFS_FEATURE_COMPAT_SUPP);
	if (!all_zero(sb->reserved, sizeof(sb->reserved)))
		err = report(c, "superblock: reserved bytes are not zero");
	if (!err)
		err = check_prange_feature(c);
	if (!err && has_prefetch != !!img->prefetch_count)
		err = report(c, "superblock: PREFETCH feature %s but the prefetch table has %llu entries",
			     has_prefetch ? "set" : "clear",
			     (unsigned long long)img->prefetch_count);
	if (!err && !img->blob_count && img->chunk_count)
		err = report(c, "chunk table has %llu chunks but there are no blobs",
			     (unsigned long long)img->chunk_count);
	if (!err && memcmp(sb->root_digest, img->inodes[0].digest,
			   NYDUSFS_DIGEST_SIZE))
		err = report(c, "superblock root digest differs from the root inode's digest");
	if (!err)
		err = check_padding(c);
	return err;
}

/* ---- blobs and chunks --------------------------------------------------- */

static int digest_cmp(const void *a, const void *b)
{
	return memcmp(*(const uint8_t *const *)a, *(const uint8_t *const *)b,
		      NYDUSFS_DIGEST_SIZE);
}

static int check_blob_digests_unique(struct checker *c)
{
	const struct nydusfs_image *img = c->img;
	const uint8_t **d;
	char hex[2 * NYDUSFS_DIGEST_SIZE + 1];
	uint32_t i;
	int err = 0;

	if (img->blob_count < 2)
		return 0;
	d = malloc(img->blob_count * sizeof(*d));
	if (!d)
		return -ENOMEM;
	for (i = 0; i < img->blob_count; i++)
		d[i] = img->blobs[i].digest;
	qsort(d, img->blob_count, sizeof(*d), digest_cmp);
	for (i = 1; !err && i < img->blob_count; i++) {
		if (memcmp(d[i - 1], d[i], NYDUSFS_DIGEST_SIZE))
			continue;
		nydusfs_digest_to_hex(d[i], hex);
		err = report(c, "blob %s appears twice in the blob table", hex);
	}
	free(d);
	return err;
}

static int check_blob_chunks(struct checker *c, uint32_t b,
			     const struct nydusfs_blob *blob)
{
	const struct nydusfs_chunk *ck;
	uint32_t i;
	int err;

	for (i = 0; i < le32_to_cpu(blob->chunk_count); i++) {
		err = nydusfs_image_chunk(c->img, b, i, &ck);
		if (err) {
			nydusfs_set_bit(c->bad_blobs, b);
			err = accessor_failed(c, err);
		} else if (!all_zero(ck->reserved, sizeof(ck->reserved))) {
			err = report(c, "blob %u chunk %u: reserved bytes are not zero",
				     b, i);
		}
		if (err)
			return err;
	}
	return 0;
}

static int check_blobs(struct checker *c)
{
	const struct nydusfs_blob *blob;
	uint32_t b;
	int err;

	for (b = 0; b < c->img->blob_count; b++) {
		err = nydusfs_image_blob(c->img, b, &blob);
		if (err) {
			nydusfs_set_bit(c->bad_blobs, b);
			err = accessor_failed(c, err);
			if (err)
				return err;
			continue;
		}
		if (!all_zero(blob->reserved, sizeof(blob->reserved))) {
			err = report(c, "blob %u: reserved bytes are not zero", b);
			if (err)
				return err;
		}
		err = check_blob_chunks(c, b, blob);
		if (err)
			return err;
	}
	return check_blob_digests_unique(c);
}

/* ---- inodes --------------------------------------------------------------- */

static int check_inode_fields(struct checker *c, uint32_t nid,
			      const struct nydusfs_inode *di)
{
	unsigned int mode = le16_to_cpu(di->mode);

	if (di->reserved0 || !all_zero(di->reserved, sizeof(di->reserved)))
		return report(c, "nid %u: reserved fields are not zero", nid);
	if (!S_ISDIR(mode) && le32_to_cpu(di->parent_nid))
		return report(c, "nid %u: parent nid %u set on a non-directory",
			      nid, le32_to_cpu(di->parent_nid));
	if (!S_ISCHR(mode) && !S_ISBLK(mode) && le32_to_cpu(di->rdev))
		return report(c, "nid %u: rdev 0x%x set on a non-device",
			      nid, le32_to_cpu(di->rdev));
	if (!S_ISREG(mode) && le64_to_cpu(di->blocks))
		return report(c, "nid %u: %llu blocks on a non-regular file",
			      nid, (unsigned long long)le64_to_cpu(di->blocks));
	return 0;
}

static bool xattr_prefix_known(const char *name, size_t len)
{
	static const char *const prefixes[] = {
		"user.", "trusted.", "security.", "system.",
	};
	size_t i, plen;

	for (i = 0; i < NYDUSFS_ARRAY_SIZE(prefixes); i++) {
		plen = strlen(prefixes[i]);
		if (len > plen && !memcmp(name, prefixes[i], plen))
			return true;
	}
	return false;
}

static int check_xattrs(struct checker *c, uint32_t nid,
			const struct nydusfs_inode *di)
{
	uint32_t i, count = le32_to_cpu(di->xattr_count);
	uint64_t first = le32_to_cpu(di->xattr_index);
	char esc[NYDUSFS_ESC_MAX];
	const uint8_t *value;
	size_t nlen, vlen;
	const char *name;
	bool ok;
	int err;

	err = claim_range(c, c->used_xattrs, first, count, nid, "xattr", &ok);
	if (err || !ok)
		return err;
	for (i = 0; i < count; i++) {
		err = nydusfs_image_xattr(c->img, nid, i, &name, &nlen, &value,
					  &vlen);
		if (err)
			return accessor_failed(c, err);
		if (!all_zero(c->img->xattrs[first + i].reserved0, 3))
			err = report(c, "nid %u: xattr %u: reserved bytes are not zero",
				     nid, i);
		else if (!xattr_prefix_known(name, nlen))
			err = report(c, "nid %u: xattr %u \"%s\" has no known namespace",
				     nid, i, nydusfs_escape(name, nlen, esc));
		if (err)
			return err;
	}
	return 0;
}

static int check_file(struct checker *c, uint32_t nid,
		      const struct nydusfs_inode *di)
{
	static const uint8_t zeros[NYDUSFS_DIGEST_SIZE];
	uint64_t size = le64_to_cpu(di->size), blocks = 0, slot, len;
	uint32_t count = le32_to_cpu(di->data_count), blob;
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	const struct nydusfs_chunk *ck;
	uint64_t le_size = cpu_to_le64(size);
	EVP_MD_CTX *md;
	bool ok, failed = false;
	int err;

	err = claim_range(c, c->used_refs, le64_to_cpu(di->data), count, nid,
			  "chunk slot", &ok);
	if (err || !ok)
		return err;
	md = md_begin('R');
	if (!md)
		return -ENOMEM;
	failed |= !EVP_DigestUpdate(md, &le_size, 8);
	for (slot = 0; slot < count; slot++) {
		err = nydusfs_image_file_chunk(c->img, nid, slot, &blob, &ck);
		if (err)
			break;
		len = nydusfs_slot_len(size, c->img->chunk_size, slot);
		if (ck)
			blocks += NYDUSFS_ROUND_UP(len, NYDUSFS_BLKSZ) / 512;
		failed |= !EVP_DigestUpdate(md, ck ? ck->digest : zeros,
					    NYDUSFS_DIGEST_SIZE);
	}
	if (md_end(md, failed, digest) && !err)
		err = -EIO;
	if (err)
		return accessor_failed(c, err);
	if (blocks != le64_to_cpu(di->blocks))
		return report(c, "nid %u: blocks %llu, expected %llu", nid,
			      (unsigned long long)le64_to_cpu(di->blocks),
			      (unsigned long long)blocks);
	return compare_digest(c, nid, di, digest);
}

/* One entry of directory @nid: counts, reachability and nid order. */
static int note_child(struct checker *c, uint32_t nid, uint32_t index,
		      uint32_t child, bool reached)
{
	if (c->nrefs[child] < UINT32_MAX)
		c->nrefs[child]++;
	if (!reached)
		return 0;
	nydusfs_set_bit(c->reached, child);
	if (nydusfs_test_bit(c->numbered, child))
		return 0;
	nydusfs_set_bit(c->numbered, child);
	if (child == c->next_nid++ || c->order_reported)
		return 0;
	c->order_reported = true;
	return report(c, "nid %u: dirent %u names nid %u where breadth-first order gives nid %u",
		      nid, index, child, c->next_nid - 1);
}

/*
 * A dirent the accessor refused is reported and not hashed; if its nid is
 * in range it still counts as a link, so one bad entry does not make
 * every inode below it "unreachable" or its link counts wrong as well.
 */
static int bad_dir_entry(struct checker *c, uint32_t nid, uint32_t i,
			 int err, bool reached, uint32_t *subdirs)
{
	const struct nydusfs_inode *di = &c->img->inodes[nid];
	const struct nydusfs_dirent *de;
	uint32_t child;

	c->order_reported = true;	/* the order is moot now */
	err = accessor_failed(c, err);
	if (err)
		return err;
	de = &c->img->dirents[le64_to_cpu(di->data) + i];
	child = le32_to_cpu(de->nid);
	if (child >= c->img->inode_count)
		return 0;
	if (S_ISDIR(le16_to_cpu(c->img->inodes[child].mode)))
		(*subdirs)++;
	return note_child(c, nid, i, child, reached);
}

static int dir_entry(struct checker *c, uint32_t nid, uint32_t i,
		     bool reached, EVP_MD_CTX *md, uint32_t *subdirs,
		     bool *hashed)
{
	const struct nydusfs_dirent *de;
	const struct nydusfs_inode *ci;
	uint32_t child, mode;
	const char *name;
	bool failed = false;
	int err;

	err = nydusfs_image_dirent(c->img, nid, i, &de, &name);
	if (err) {
		*hashed = false;
		return bad_dir_entry(c, nid, i, err, reached, subdirs);
	}
	child = le32_to_cpu(de->nid);
	ci = &c->img->inodes[child];
	mode = cpu_to_le32(le16_to_cpu(ci->mode));
	failed |= !EVP_DigestUpdate(md, &de->name_len, 1);
	failed |= !EVP_DigestUpdate(md, name, de->name_len);
	failed |= !EVP_DigestUpdate(md, &mode, 4);
	failed |= !EVP_DigestUpdate(md, ci->digest, NYDUSFS_DIGEST_SIZE);
	if (failed)
		return -EIO;
	if (S_ISDIR(le16_to_cpu(ci->mode)))
		(*subdirs)++;
	if (!all_zero(de->reserved, sizeof(de->reserved))) {
		err = report(c, "nid %u: dirent %u: reserved bytes are not zero",
			     nid, i);
		if (err)
			return err;
	}
	return note_child(c, nid, i, child, reached);
}

static int check_dir(struct checker *c, uint32_t nid,
		     const struct nydusfs_inode *di)
{
	uint32_t i, count = le32_to_cpu(di->data_count), subdirs = 0;
	bool reached = nydusfs_test_bit(c->reached, nid), ok, hashed = true;
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	EVP_MD_CTX *md;
	int err;

	err = claim_range(c, c->used_dirents, le64_to_cpu(di->data), count,
			  nid, "dirent", &ok);
	if (err || !ok)
		return err;
	md = md_begin('D');
	if (!md)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		err = dir_entry(c, nid, i, reached, md, &subdirs, &hashed);
		if (err)
			break;
	}
	if (md_end(md, false, digest) && !err)
		err = -EIO;
	if (err)
		return err;
	if (le32_to_cpu(di->nlink) != 2 + subdirs) {
		err = report(c, "nid %u: directory nlink %u, expected %u (2 + %u subdirectories)",
			     nid, le32_to_cpu(di->nlink), 2 + subdirs, subdirs);
		if (err)
			return err;
	}
	return hashed ? compare_digest(c, nid, di, digest) : 0;
}

static int check_other(struct checker *c, uint32_t nid,
		       const struct nydusfs_inode *di)
{
	unsigned int mode = le16_to_cpu(di->mode);
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	const char *target;
	size_t len;
	int err;

	if (S_ISLNK(mode)) {
		err = nydusfs_image_symlink(c->img, nid, &target, &len);
		if (!err && memchr(target, '\0', len))
			return report(c, "nid %u: symlink target holds a NUL byte",
				      nid);
		if (!err)
			err = nydusfs_merkle_symlink(target, len, digest);
	} else {
		err = nydusfs_merkle_special(mode, le32_to_cpu(di->rdev),
					     digest);
	}
	if (err)
		return accessor_failed(c, err);
	return compare_digest(c, nid, di, digest);
}

static int check_one_inode(struct checker *c, uint32_t nid)
{
	const struct nydusfs_inode *di;
	unsigned int mode;
	int err;

	err = nydusfs_image_inode(c->img, nid, &di);
	if (err) {
		nydusfs_set_bit(c->bad, nid);
		c->bad_inodes = true;
		return accessor_failed(c, err);
	}
	mode = le16_to_cpu(di->mode);
	err = check_inode_fields(c, nid, di);
	if (!err)
		err = check_xattrs(c, nid, di);
	if (err)
		return err;
	if (S_ISREG(mode))
		return check_file(c, nid, di);
	if (S_ISDIR(mode))
		return check_dir(c, nid, di);
	return check_other(c, nid, di);
}

/* ---- link counts, reachability, unused table entries -------------------- */

/* One line for all unreachable inodes: they often come in whole subtrees. */
static int check_reachable(struct checker *c)
{
	char list[96] = "";
	uint32_t nid, count = 0, first = 0;
	size_t len = 0;

	for (nid = 0; nid < c->img->inode_count; nid++) {
		if (nydusfs_test_bit(c->reached, nid))
			continue;
		if (!count++)
			first = nid;
		if (count <= 8 && len < sizeof(list))
			len += snprintf(list + len, sizeof(list) - len, "%s%u",
					count > 1 ? ", " : "", nid);
	}
	if (count == 1)
		return report(c, "nid %u: not reachable from the root", first);
	if (count)
		return report(c, "%u inodes are not reachable from the root (nids %s%s)",
			      count, list, count > 8 ? ", ..." : "");
	return 0;
}

static int check_links(struct checker *c, uint32_t nid)
{
	const struct nydusfs_inode *di = &c->img->inodes[nid];
	uint32_t refs = c->nrefs[nid];

	if (!nydusfs_test_bit(c->reached, nid) ||
	    nydusfs_test_bit(c->bad, nid))
		return 0;	/* reported by check_reachable() or before */
	if (S_ISDIR(le16_to_cpu(di->mode))) {
		if (refs != (nid ? 1 : 0))
			return report(c, "nid %u: directory named by %u dirents, expected %u",
				      nid, refs, nid ? 1 : 0);
		return 0;
	}
	if (le32_to_cpu(di->nlink) != refs)
		return report(c, "nid %u: nlink %u but %u dirents name it", nid,
			      le32_to_cpu(di->nlink), refs);
	return 0;
}

static int check_unused(struct checker *c, const uint64_t *map,
			uint64_t count, const char *what)
{
	uint64_t i, unused = 0, first = 0;

	if (c->bad_inodes)
		return 0;	/* the bad inode's own entries would show up */
	for (i = 0; i < count; i++) {
		if (nydusfs_test_bit(map, i))
			continue;
		if (!unused++)
			first = i;
	}
	if (!unused)
		return 0;
	return report(c, "%llu %s entries belong to no inode (the first is %llu)",
		      (unsigned long long)unused, what,
		      (unsigned long long)first);
}

static int check_prefetch(struct checker *c)
{
	const struct nydusfs_image *img = c->img;
	uint64_t *seen = bitmap_new(img->inode_count);
	uint64_t i;
	uint32_t nid;
	int err = 0;

	if (!seen)
		return -ENOMEM;
	for (i = 0; !err && i < img->prefetch_count; i++) {
		nid = le32_to_cpu(img->prefetch[i]);
		if (nid >= img->inode_count)
			err = report(c, "prefetch entry %llu: nid %u beyond inode count %u",
				     (unsigned long long)i, nid,
				     img->inode_count);
		else if (nydusfs_test_bit(seen, nid))
			err = report(c, "prefetch entry %llu: nid %u listed twice",
				     (unsigned long long)i, nid);
		else if (!nydusfs_test_bit(c->reached, nid))
			err = report(c, "prefetch entry %llu: nid %u is not reachable",
				     (unsigned long long)i, nid);
		else
			nydusfs_set_bit(seen, nid);
	}
	free(seen);
	return err;
}

/* Every range names a blob and chunks inside it; reserved is zero. */
static int check_prefetch_ranges(struct checker *c)
{
	const struct nydusfs_image *img = c->img;
	uint32_t blob, chunk, count;
	uint64_t i;
	int err = 0;

	for (i = 0; !err && i < img->prange_count; i++) {
		err = nydusfs_image_prefetch_range(img, i, &blob, &chunk,
						   &count);
		if (err)
			err = accessor_failed(c, err);
		else if (img->pranges[i].reserved)
			err = report(c, "prefetch range %llu: reserved field is not zero",
				     (unsigned long long)i);
	}
	return err;
}

static int check_tree(struct checker *c)
{
	const struct nydusfs_image *img = c->img;
	uint32_t nid;
	int err = 0;

	nydusfs_set_bit(c->reached, 0);
	nydusfs_set_bit(c->numbered, 0);
	c->next_nid = 1;
	for (nid = 0; !err && nid < img->inode_count; nid++)
		err = check_one_inode(c, nid);
	if (!err)
		err = check_reachable(c);
	for (nid = 0; !err && nid < img->inode_count; nid++)
		err = check_links(c, nid);
	if (!err)
		err = check_unused(c, c->used_dirents, img->dirent_count,
				   "dirent");
	if (!err)
		err = check_unused(c, c->used_xattrs, img->xattr_count, "xattr");
	if (!err)
		err = check_unused(c, c->used_refs, img->ref_count, "chunk-ref");
	if (!err)
		err = check_prefetch(c);
	if (!err)
		err = check_prefetch_ranges(c);
	return err;
}

/* ---- blob data ------------------------------------------------------------ */

static int check_chunk_data(struct checker *c, uint32_t b, uint32_t i,
			    const uint8_t *map, uint8_t *buf)
{
	const struct nydusfs_chunk *ck;
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	uint32_t usize;
	int err;

	err = nydusfs_image_chunk(c->img, b, i, &ck);
	if (err)
		return 0;	/* already reported */
	usize = le32_to_cpu(ck->uncompressed_size);
	err = nydusfs_decompress(ck->compressor,
				 map + le64_to_cpu(ck->compressed_offset),
				 le32_to_cpu(ck->compressed_size), buf, usize);
	if (err)
		return report(c, "blob %u chunk %u: %s data does not decompress to %u bytes",
			      b, i, nydusfs_compressor_name(ck->compressor),
			      usize);
	err = nydusfs_sha256(buf, usize, digest);
	if (err)
		return err;
	if (memcmp(digest, ck->digest, NYDUSFS_DIGEST_SIZE))
		return report(c, "blob %u chunk %u: sha256 of the data does not match the chunk digest",
			      b, i);
	return 0;
}

static int check_blob_file(struct checker *c, uint32_t b, int fd,
			   const char *hex, uint8_t *buf)
{
	const struct nydusfs_blob *blob = &c->img->blobs[b];
	uint64_t size = le64_to_cpu(blob->compressed_size);
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	uint8_t *map = NULL;
	struct stat st;
	uint32_t i;
	int err;

	if (fstat(fd, &st))
		return -errno;
	if ((uint64_t)st.st_size != size)
		return report(c, "blob %u (%s): the file has %llu bytes, the blob table says %llu",
			      b, hex, (unsigned long long)st.st_size,
			      (unsigned long long)size);
	if (size) {
		map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED)
			return -errno;
	}
	err = nydusfs_sha256(map, size, digest);
	if (!err && memcmp(digest, blob->digest, NYDUSFS_DIGEST_SIZE))
		err = report(c, "blob %u (%s): sha256 of the file does not match its name",
			     b, hex);
	for (i = 0; !err && i < le32_to_cpu(blob->chunk_count); i++)
		err = check_chunk_data(c, b, i, map, buf);
	if (map)
		munmap(map, size);
	return err;
}

static int check_blob_data(struct checker *c)
{
	char hex[2 * NYDUSFS_DIGEST_SIZE + 1], *path;
	uint8_t *buf;
	struct stat st;
	uint32_t b;
	int fd, err = 0;

	if (stat(c->blob_dir, &st))
		err = -errno;
	else if (!S_ISDIR(st.st_mode))
		err = -ENOTDIR;
	if (err) {
		nydusfs_err("blob directory %s: %s", c->blob_dir,
			    strerror(-err));
		return err;
	}
	buf = malloc(1U << NYDUSFS_MAX_CHUNKSZBITS);
	if (!buf)
		return -ENOMEM;
	for (b = 0; !err && b < c->img->blob_count; b++) {
		if (nydusfs_test_bit(c->bad_blobs, b))
			continue;
		nydusfs_digest_to_hex(c->img->blobs[b].digest, hex);
		if (asprintf(&path, "%s/%s", c->blob_dir, hex) < 0) {
			err = -ENOMEM;
			break;
		}
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = report(c, "blob %u: %s: %s", b, path,
				     strerror(errno));
		} else {
			err = check_blob_file(c, b, fd, hex, buf);
			if (err && err != STOP)
				nydusfs_err("%s: %s", path, strerror(-err));
			close(fd);
		}
		free(path);
	}
	free(buf);
	return err;
}

/* ---- entry point ------------------------------------------------------- */

static int checker_init(struct checker *c, const struct nydusfs_image *img)
{
	uint32_t n = img->inode_count;

	c->img = img;
	c->nrefs = calloc(n, sizeof(*c->nrefs));
	c->bad = bitmap_new(n);
	c->reached = bitmap_new(n);
	c->numbered = bitmap_new(n);
	c->used_dirents = bitmap_new(img->dirent_count);
	c->used_xattrs = bitmap_new(img->xattr_count);
	c->used_refs = bitmap_new(img->ref_count);
	c->bad_blobs = bitmap_new(img->blob_count);
	if (!c->nrefs || !c->bad || !c->reached || !c->numbered ||
	    !c->used_dirents || !c->used_xattrs || !c->used_refs ||
	    !c->bad_blobs)
		return -ENOMEM;
	return 0;
}

static void checker_free(struct checker *c)
{
	free(c->nrefs);
	free(c->bad);
	free(c->reached);
	free(c->numbered);
	free(c->used_dirents);
	free(c->used_xattrs);
	free(c->used_refs);
	free(c->bad_blobs);
}

int nydusfs_check(const struct nydusfs_image *img,
		  const struct nydusfs_check_opts *opts, uint64_t *problems)
{
	struct checker c = { 0 };
	int err;

	c.blob_dir = opts ? opts->blob_dir : NULL;
	c.limit = opts && opts->max_problems ? opts->max_problems :
		  NYDUSFS_CHECK_MAX_PROBLEMS;
	err = checker_init(&c, img);
	if (!err)
		err = check_super(&c);
	if (!err)
		err = check_blobs(&c);
	if (!err)
		err = check_tree(&c);
	if (!err && c.blob_dir)
		err = check_blob_data(&c);
	checker_free(&c);
	if (problems)
		*problems = c.problems;
	if (err && err != STOP)
		return err;
	return c.problems ? -EFSCORRUPTED : 0;
}
