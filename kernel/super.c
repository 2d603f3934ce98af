// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs: module init, mount options and the superblock.
 */
#include <linux/module.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/highmem.h>
#include <linux/seq_file.h>
#include <linux/statfs.h>
#include <linux/backing-dev.h>
#include <linux/file.h>
#include <crypto/hash.h>

#include "internal.h"

void nydusfs_err(struct super_block *sb, const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	pr_err_ratelimited("nydusfs (%s): %pV\n", sb->s_id, &vaf);
	va_end(args);
}

enum {
	NYDUSFS_OPT_TIMEOUT, NYDUSFS_OPT_VERIFY, NYDUSFS_OPT_DIGEST,
	NYDUSFS_OPT_READAHEAD,
};

static const struct fs_parameter_spec nydusfs_fs_parameters[] = {
	fsparam_u32("timeout", NYDUSFS_OPT_TIMEOUT),
	fsparam_flag("verify", NYDUSFS_OPT_VERIFY),
	fsparam_string("digest", NYDUSFS_OPT_DIGEST),
	fsparam_u32("readahead", NYDUSFS_OPT_READAHEAD),
	{}
};

static int nydusfs_parse_param(struct fs_context *fc,
			       struct fs_parameter *param)
{
	struct nydusfs_mount_opts *opt = fc->fs_private;
	struct fs_parse_result result;
	const char *hex;
	int token;

	token = fs_parse(fc, nydusfs_fs_parameters, param, &result);
	if (token < 0)
		return token;
	switch (token) {
	case NYDUSFS_OPT_TIMEOUT:
		if (!result.uint_32 || result.uint_32 > NYDUSFS_MAX_TIMEOUT)
			return invalfc(fc, "timeout: 1 to %u seconds",
				       NYDUSFS_MAX_TIMEOUT);
		opt->timeout = result.uint_32;
		break;
	case NYDUSFS_OPT_VERIFY:
		opt->verify = true;
		break;
	case NYDUSFS_OPT_READAHEAD:
		if (result.uint_32 > NYDUSFS_MAX_READAHEAD_KB)
			return invalfc(fc, "readahead: 0 to %u KiB",
				       NYDUSFS_MAX_READAHEAD_KB);
		opt->readahead_kb = result.uint_32;
		break;
	case NYDUSFS_OPT_DIGEST:
		hex = param->string;
		if (strncmp(hex, "sha256:", 7) ||
		    strlen(hex + 7) != 2 * NYDUSFS_DIGEST_SIZE ||
		    hex2bin(opt->digest, hex + 7, NYDUSFS_DIGEST_SIZE))
			return invalfc(fc, "digest: expected sha256:<64 hex digits>");
		opt->has_digest = true;
		break;
	}
	return 0;
}

/* The bdi's window; files opened before a remount keep the old one */
static void nydusfs_set_readahead(struct super_block *sb, unsigned int kb)
{
	sb->s_bdi->ra_pages = kb >> (PAGE_SHIFT - 10);
}

static int nydusfs_show_options(struct seq_file *m, struct dentry *root)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(root->d_sb);

	seq_printf(m, ",timeout=%u", READ_ONCE(sbi->opt.timeout));
	seq_printf(m, ",readahead=%u", READ_ONCE(sbi->opt.readahead_kb));
	if (sbi->opt.verify)
		seq_puts(m, ",verify");
	if (sbi->opt.has_digest)
		seq_printf(m, ",digest=sha256:%*phN", NYDUSFS_DIGEST_SIZE,
			   sbi->opt.digest);
	return 0;
}

static int nydusfs_statfs(struct dentry *dentry, struct kstatfs *buf)
{
	struct super_block *sb = dentry->d_sb;
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(sb);

	buf->f_type = NYDUSFS_MAGIC;
	buf->f_bsize = NYDUSFS_BLKSZ;
	buf->f_blocks = sbi->blocks;
	buf->f_bfree = 0;
	buf->f_bavail = 0;
	buf->f_files = sbi->inode_count;
	buf->f_ffree = 0;
	buf->f_namelen = NYDUSFS_NAME_MAX;
	buf->f_fsid = u64_to_fsid(huge_encode_dev(sb->s_dev));
	return 0;
}

static const struct super_operations nydusfs_sops = {
	.alloc_inode	= nydusfs_alloc_inode,
	.free_inode	= nydusfs_free_inode,
	.statfs		= nydusfs_statfs,
	.show_options	= nydusfs_show_options,
};

/* crc32c (seed ~0, final xor ~0) of the superblock with checksum zeroed */
static int nydusfs_sb_checksum(const struct nydusfs_super_block *dsb,
			       u32 *sum)
{
	struct nydusfs_super_block copy = *dsb;
	struct crypto_shash *tfm;
	__le32 out;
	int err;

	/* the crypto API's crc32c is built in, libcrc32c is a module */
	tfm = crypto_alloc_shash("crc32c", 0, 0);
	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	copy.checksum = 0;
	err = crypto_shash_tfm_digest(tfm, (const u8 *)&copy, sizeof(copy),
				      (u8 *)&out);
	crypto_free_shash(tfm);
	*sum = le32_to_cpu(out);
	return err;
}

static const char *const nydusfs_region_names[NYDUSFS_REGION_COUNT] = {
	"inodes", "dirents", "xattrs", "chunk-refs", "blobs", "chunks",
	"strings", "prefetch",
};

static const size_t nydusfs_region_entsize[NYDUSFS_REGION_COUNT] = {
	sizeof(struct nydusfs_inode), sizeof(struct nydusfs_dirent),
	sizeof(struct nydusfs_xattr), sizeof(struct nydusfs_chunk_ref),
	sizeof(struct nydusfs_blob), sizeof(struct nydusfs_chunk),
	1, sizeof(__le32),
};

static int nydusfs_check_regions(struct super_block *sb,
				 const struct nydusfs_super_block *dsb,
				 u64 size)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(sb);
	u64 prev_end = NYDUSFS_BLKSZ;
	unsigned int i;

	for (i = 0; i < NYDUSFS_REGION_COUNT; i++) {
		u64 off = le64_to_cpu(dsb->regions[i].offset);
		u64 len = le64_to_cpu(dsb->regions[i].size);

		if (!IS_ALIGNED(off, NYDUSFS_BLKSZ) || off < prev_end ||
		    off > size || len > size - off ||
		    len % nydusfs_region_entsize[i]) {
			nydusfs_err(sb, "region %s: offset %llu size %llu out of place",
				    nydusfs_region_names[i], off, len);
			return -EFSCORRUPTED;
		}
		sbi->region_off[i] = off;
		sbi->region_size[i] = len;
		prev_end = off + len;
	}
	if (sbi->region_size[NYDUSFS_REGION_INODES] !=
	    (u64)sbi->inode_count * sizeof(struct nydusfs_inode)) {
		nydusfs_err(sb, "inode region does not hold %u inodes",
			    sbi->inode_count);
		return -EFSCORRUPTED;
	}
	return 0;
}

static int nydusfs_check_sb_fields(struct super_block *sb,
				   const struct nydusfs_super_block *dsb,
				   u64 size)
{
	u32 incompat = le32_to_cpu(dsb->feature_incompat);

	if (le16_to_cpu(dsb->version_major) != NYDUSFS_VERSION_MAJOR) {
		nydusfs_err(sb, "unsupported format version %u",
			    le16_to_cpu(dsb->version_major));
		return -EOPNOTSUPP;
	}
	if (incompat & ~NYDUSFS_FEATURE_INCOMPAT_SUPP) {
		nydusfs_err(sb, "unsupported incompatible features 0x%x",
			    incompat & ~NYDUSFS_FEATURE_INCOMPAT_SUPP);
		return -EOPNOTSUPP;
	}
	if (dsb->blkszbits != NYDUSFS_BLKSZBITS ||
	    le16_to_cpu(dsb->sb_size) != NYDUSFS_SB_SIZE ||
	    dsb->chunkszbits < NYDUSFS_MIN_CHUNKSZBITS ||
	    dsb->chunkszbits > NYDUSFS_MAX_CHUNKSZBITS ||
	    le32_to_cpu(dsb->root_nid) || !le32_to_cpu(dsb->inode_count)) {
		nydusfs_err(sb, "bad superblock geometry");
		return -EFSCORRUPTED;
	}
	if (dsb->chunkszbits < PAGE_SHIFT) {
		nydusfs_err(sb, "chunk size below the page size");
		return -EOPNOTSUPP;
	}
	if (le64_to_cpu(dsb->bootstrap_size) != size ||
	    !IS_ALIGNED(size, NYDUSFS_BLKSZ)) {
		nydusfs_err(sb, "bootstrap_size %llu but the file has %llu bytes",
			    le64_to_cpu(dsb->bootstrap_size), size);
		return -EFSCORRUPTED;
	}
	return 0;
}

static int nydusfs_read_super(struct super_block *sb)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(sb);
	u64 size = i_size_read(sbi->bootstrap->f_mapping->host);
	struct nydusfs_buf buf = {};
	struct nydusfs_super_block dsb;
	u32 sum;
	int err;

	if (size < NYDUSFS_BLKSZ) {
		nydusfs_err(sb, "bootstrap too small (%llu bytes)", size);
		return -EINVAL;
	}
	err = nydusfs_meta_read(sb, &buf, NYDUSFS_SB_OFFSET, &dsb, sizeof(dsb));
	nydusfs_put_buf(&buf);
	if (err)
		return err;
	if (le32_to_cpu(dsb.magic) != NYDUSFS_MAGIC) {
		nydusfs_err(sb, "not a nydusfs bootstrap (bad magic)");
		return -EINVAL;
	}
	err = nydusfs_sb_checksum(&dsb, &sum);
	if (err)
		return err;
	if (sum != le32_to_cpu(dsb.checksum)) {
		nydusfs_err(sb, "bad superblock checksum 0x%08x, expected 0x%08x",
			    le32_to_cpu(dsb.checksum), sum);
		return -EFSCORRUPTED;
	}
	err = nydusfs_check_sb_fields(sb, &dsb, size);
	if (err)
		return err;
	sbi->feature_incompat = le32_to_cpu(dsb.feature_incompat);
	sbi->chunkszbits = dsb.chunkszbits;
	sbi->inode_count = le32_to_cpu(dsb.inode_count);
	sbi->blocks = size >> NYDUSFS_BLKSZBITS;
	return nydusfs_check_regions(sb, &dsb, size);
}

static int nydusfs_load_blob(struct super_block *sb, struct nydusfs_buf *buf,
			     u32 i, u64 *next)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(sb);
	struct nydusfs_object *obj;
	struct nydusfs_blob db;
	u32 first, count;
	int err;

	err = nydusfs_read_entry(sb, buf, NYDUSFS_REGION_BLOBS, i, &db,
				 sizeof(db));
	if (err)
		return err;
	first = le32_to_cpu(db.chunk_index);
	count = le32_to_cpu(db.chunk_count);
	if (first != *next ||
	    !IS_ALIGNED(le64_to_cpu(db.uncompressed_size), NYDUSFS_BLKSZ)) {
		nydusfs_err(sb, "blob %u: chunk range or size out of place", i);
		return -EFSCORRUPTED;
	}
	*next = (u64)first + count;
	obj = nydusfs_object_get(&db);
	if (IS_ERR(obj)) {
		if (PTR_ERR(obj) == -EEXIST)
			nydusfs_err(sb, "blob %u: %*phN differs from the same blob in another mount",
				    i, NYDUSFS_DIGEST_SIZE, db.digest);
		return PTR_ERR(obj) == -EEXIST ? -EFSCORRUPTED : PTR_ERR(obj);
	}
	sbi->blobs[i].obj = obj;
	sbi->blobs[i].chunk_index = first;
	sbi->blobs[i].chunk_count = count;
	sbi->blob_count = i + 1;
	sbi->blocks += le64_to_cpu(db.uncompressed_size) >> NYDUSFS_BLKSZBITS;
	return 0;
}

/* Blob chunk ranges partition the chunk table, in blob order. */
static int nydusfs_load_blobs(struct super_block *sb)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(sb);
	u64 count = nydusfs_region_count(sbi, NYDUSFS_REGION_BLOBS,
					 sizeof(struct nydusfs_blob));
	struct nydusfs_buf buf = {};
	u64 next = 0;
	u32 i;
	int err = 0;

	if (count >= NYDUSFS_CHUNK_HOLE) {
		nydusfs_err(sb, "too many blobs");
		return -EFSCORRUPTED;
	}
	sbi->blobs = kvcalloc(count, sizeof(*sbi->blobs), GFP_KERNEL);
	if (!sbi->blobs)
		return -ENOMEM;
	for (i = 0; i < count && !err; i++)
		err = nydusfs_load_blob(sb, &buf, i, &next);
	nydusfs_put_buf(&buf);
	if (!err && next != nydusfs_region_count(sbi, NYDUSFS_REGION_CHUNKS,
						 sizeof(struct nydusfs_chunk))) {
		nydusfs_err(sb, "blob chunk ranges do not cover the chunk table");
		err = -EFSCORRUPTED;
	}
	return err;
}

/* -o digest: the sha256 of the whole bootstrap, through its page cache */
static int nydusfs_check_digest(struct super_block *sb)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(sb);
	struct file *file = sbi->bootstrap;
	u64 size = i_size_read(file->f_mapping->host);
	SHASH_DESC_ON_STACK(desc, sbi->sha256);
	u8 out[NYDUSFS_DIGEST_SIZE];
	u64 pos;
	int err;

	desc->tfm = sbi->sha256;
	err = crypto_shash_init(desc);
	for (pos = 0; pos < size && !err; pos += PAGE_SIZE) {
		struct folio *folio;
		void *addr;

		folio = nydusfs_bootstrap_folio(file, pos >> PAGE_SHIFT);
		if (IS_ERR(folio))
			return PTR_ERR(folio);
		addr = kmap_local_folio(folio, offset_in_folio(folio, pos));
		err = crypto_shash_update(desc, addr,
					  min_t(u64, size - pos, PAGE_SIZE));
		kunmap_local(addr);
		folio_put(folio);
		if (fatal_signal_pending(current))
			err = -EINTR;
		cond_resched();
	}
	if (!err)
		err = crypto_shash_final(desc, out);
	if (err)
		return err;
	if (memcmp(out, sbi->opt.digest, NYDUSFS_DIGEST_SIZE)) {
		nydusfs_err(sb, "bootstrap sha256 %*phN differs from the digest option",
			    NYDUSFS_DIGEST_SIZE, out);
		return -EBADMSG;
	}
	return 0;
}

static int nydusfs_open_bootstrap(struct super_block *sb,
				  struct fs_context *fc)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(sb);
	struct file *file;
	umode_t mode;
	int err;

	if (!fc->source)
		return invalfc(fc, "no bootstrap file given");
	file = filp_open(fc->source, O_RDONLY | O_LARGEFILE, 0);
	if (IS_ERR(file)) {
		errorfc(fc, "cannot open bootstrap %s", fc->source);
		return PTR_ERR(file);
	}
	mode = file_inode(file)->i_mode;
	if (!S_ISREG(mode) && !S_ISBLK(mode)) {
		fput(file);
		return invalfc(fc, "%s: not a regular file or block device",
			       fc->source);
	}
	/* the bootstrap is read through its page cache (tmpfs works too) */
	if (!nydusfs_bootstrap_readable(file)) {
		errorfc(fc, "%s: bootstrap on a filesystem without read_folio (%s)",
			fc->source, file_inode(file)->i_sb->s_type->name);
		fput(file);
		return -EINVAL;
	}
	/* what was checked at mount must not change under us */
	err = deny_write_access(file);
	if (err) {
		fput(file);
		errorfc(fc, "%s is open for writing", fc->source);
		return err;
	}
	sbi->bootstrap = file;
	snprintf(sb->s_id, sizeof(sb->s_id), "%pD2", file);
	return 0;
}

static int nydusfs_fill_super(struct super_block *sb, struct fs_context *fc)
{
	struct nydusfs_mount_opts *opt = fc->fs_private;
	struct nydusfs_sb_info *sbi;
	struct inode *inode;
	int err;

	sbi = kzalloc(sizeof(*sbi), GFP_KERNEL);
	if (!sbi)
		return -ENOMEM;
	sb->s_fs_info = sbi;
	sbi->opt = *opt;
	sb->s_magic = NYDUSFS_MAGIC;
	sb->s_flags |= SB_RDONLY | SB_NOATIME;
	sb->s_maxbytes = MAX_LFS_FILESIZE;
	sb->s_time_gran = 1;
	sb->s_blocksize = NYDUSFS_BLKSZ;
	sb->s_blocksize_bits = NYDUSFS_BLKSZBITS;
	sb->s_op = &nydusfs_sops;
	sb->s_xattr = nydusfs_xattr_handlers;

	err = super_setup_bdi(sb);
	if (!err) {
		nydusfs_set_readahead(sb, opt->readahead_kb);
		err = nydusfs_open_bootstrap(sb, fc);
	}
	if (err)
		return err;
	if (opt->verify || opt->has_digest) {
		sbi->sha256 = crypto_alloc_shash("sha256", 0, 0);
		if (IS_ERR(sbi->sha256)) {
			err = PTR_ERR(sbi->sha256);
			sbi->sha256 = NULL;
			return err;
		}
	}
	if (opt->has_digest) {
		err = nydusfs_check_digest(sb);
		if (err)
			return err;
	}
	err = nydusfs_read_super(sb);
	if (!err)
		err = nydusfs_load_blobs(sb);
	if (err)
		return err;

	inode = nydusfs_iget(sb, 0);
	if (IS_ERR(inode))
		return PTR_ERR(inode);
	if (!S_ISDIR(inode->i_mode) || NYDUSFS_I(inode)->parent_nid) {
		nydusfs_err(sb, "root inode is not a directory");
		iput(inode);
		return -EFSCORRUPTED;
	}
	sb->s_root = d_make_root(inode);
	return sb->s_root ? 0 : -ENOMEM;
}

static int nydusfs_get_tree(struct fs_context *fc)
{
	return get_tree_nodev(fc, nydusfs_fill_super);
}

static int nydusfs_reconfigure(struct fs_context *fc)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(fc->root->d_sb);
	struct nydusfs_mount_opts *opt = fc->fs_private;

	if (opt->verify != sbi->opt.verify)
		return invalfc(fc, "verify: cannot change on remount");
	if (opt->has_digest != sbi->opt.has_digest ||
	    memcmp(opt->digest, sbi->opt.digest, NYDUSFS_DIGEST_SIZE))
		return invalfc(fc, "digest: cannot change on remount");
	WRITE_ONCE(sbi->opt.timeout, opt->timeout);
	WRITE_ONCE(sbi->opt.readahead_kb, opt->readahead_kb);
	nydusfs_set_readahead(fc->root->d_sb, opt->readahead_kb);
	fc->sb_flags |= SB_RDONLY;
	return 0;
}

static void nydusfs_fc_free(struct fs_context *fc)
{
	kfree(fc->fs_private);
}

static const struct fs_context_operations nydusfs_context_ops = {
	.parse_param	= nydusfs_parse_param,
	.get_tree	= nydusfs_get_tree,
	.reconfigure	= nydusfs_reconfigure,
	.free		= nydusfs_fc_free,
};

static int nydusfs_init_fs_context(struct fs_context *fc)
{
	struct nydusfs_mount_opts *opt;

	opt = kzalloc(sizeof(*opt), GFP_KERNEL);
	if (!opt)
		return -ENOMEM;
	if (fc->purpose == FS_CONTEXT_FOR_RECONFIGURE) {
		*opt = NYDUSFS_SB(fc->root->d_sb)->opt;
	} else {
		opt->timeout = NYDUSFS_DEFAULT_TIMEOUT;
		opt->readahead_kb = NYDUSFS_DEFAULT_READAHEAD_KB;
	}
	fc->fs_private = opt;
	fc->ops = &nydusfs_context_ops;
	return 0;
}

static void nydusfs_kill_sb(struct super_block *sb)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(sb);
	u32 i;

	kill_anon_super(sb);
	if (!sbi)
		return;
	for (i = 0; i < sbi->blob_count; i++)
		nydusfs_object_put(sbi->blobs[i].obj);
	kvfree(sbi->blobs);
	if (sbi->bootstrap) {
		allow_write_access(sbi->bootstrap);
		fput(sbi->bootstrap);
	}
	crypto_free_shash(sbi->sha256);
	kfree(sbi);
}

struct file_system_type nydusfs_fs_type = {
	.owner			= THIS_MODULE,
	.name			= "nydusfs",
	.init_fs_context	= nydusfs_init_fs_context,
	.parameters		= nydusfs_fs_parameters,
	.kill_sb		= nydusfs_kill_sb,
};
MODULE_ALIAS_FS("nydusfs");

static void nydusfs_check_format(void)
{
	BUILD_BUG_ON(sizeof(struct nydusfs_super_block) != NYDUSFS_SB_SIZE);
	BUILD_BUG_ON(sizeof(struct nydusfs_inode) != 128);
	BUILD_BUG_ON(sizeof(struct nydusfs_dirent) != 16);
	BUILD_BUG_ON(sizeof(struct nydusfs_xattr) != 16);
	BUILD_BUG_ON(sizeof(struct nydusfs_chunk_ref) != 8);
	BUILD_BUG_ON(sizeof(struct nydusfs_blob) != 64);
	BUILD_BUG_ON(sizeof(struct nydusfs_chunk) != 64);
	BUILD_BUG_ON(sizeof(struct nydusfs_dev_hdr) != 24);
	BUILD_BUG_ON(sizeof(struct nydusfs_dev_blob) != 56);
	BUILD_BUG_ON(sizeof(struct nydusfs_dev_chunk) != 64);
	BUILD_BUG_ON(sizeof(struct nydusfs_dev_read) != 72);
}

static int __init nydusfs_module_init(void)
{
	int err;

	nydusfs_check_format();
	err = nydusfs_init_inodecache();
	if (err)
		return err;
	err = nydusfs_dev_init();
	if (err)
		goto out_cache;
	err = register_filesystem(&nydusfs_fs_type);
	if (err)
		goto out_dev;
	return 0;
out_dev:
	nydusfs_dev_exit();
out_cache:
	nydusfs_destroy_inodecache();
	return err;
}

static void __exit nydusfs_module_exit(void)
{
	unregister_filesystem(&nydusfs_fs_type);
	nydusfs_dev_exit();
	nydusfs_destroy_inodecache();
}

module_init(nydusfs_module_init);
module_exit(nydusfs_module_exit);

MODULE_DESCRIPTION("nydusfs: lazily fetched, verified container image filesystem");
MODULE_LICENSE("GPL");
