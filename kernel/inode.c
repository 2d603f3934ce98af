// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs: inodes, loaded from the inode table on first use.
 */
#include <linux/slab.h>
#include <linux/xattr.h>

#include "internal.h"

static struct kmem_cache *nydusfs_inode_cachep;

static void nydusfs_inode_init_once(void *ptr)
{
	struct nydusfs_inode_info *vi = ptr;

	inode_init_once(&vi->vfs_inode);
}

int nydusfs_init_inodecache(void)
{
	nydusfs_inode_cachep = kmem_cache_create("nydusfs_inode",
						 sizeof(struct nydusfs_inode_info),
						 0, SLAB_RECLAIM_ACCOUNT |
						 SLAB_ACCOUNT,
						 nydusfs_inode_init_once);
	return nydusfs_inode_cachep ? 0 : -ENOMEM;
}

void nydusfs_destroy_inodecache(void)
{
	/* inodes are freed after an RCU grace period */
	rcu_barrier();
	kmem_cache_destroy(nydusfs_inode_cachep);
}

struct inode *nydusfs_alloc_inode(struct super_block *sb)
{
	struct nydusfs_inode_info *vi;

	vi = alloc_inode_sb(sb, nydusfs_inode_cachep, GFP_KERNEL);
	if (!vi)
		return NULL;
	vi->data = 0;
	vi->data_count = 0;
	vi->xattr_index = 0;
	vi->xattr_count = 0;
	vi->parent_nid = 0;
	return &vi->vfs_inode;
}

void nydusfs_free_inode(struct inode *inode)
{
	if (S_ISLNK(inode->i_mode))
		kfree(inode->i_link);
	kmem_cache_free(nydusfs_inode_cachep, NYDUSFS_I(inode));
}

/* [@first, @first + @count) does not fit in @total entries */
static bool nydusfs_range_bad(u64 first, u64 count, u64 total)
{
	return count > total || first > total - count;
}

/* The layout of each file type, as the table in nydusfs.rst lists it */
static const char *nydusfs_check_layout(struct super_block *sb,
					const struct nydusfs_inode *di)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(sb);
	u64 size = le64_to_cpu(di->size), data = le64_to_cpu(di->data);
	u32 count = le32_to_cpu(di->data_count);
	u64 nrefs = nydusfs_region_count(sbi, NYDUSFS_REGION_CHUNK_REFS,
					 sizeof(struct nydusfs_chunk_ref));
	u64 ndirents = nydusfs_region_count(sbi, NYDUSFS_REGION_DIRENTS,
					    sizeof(struct nydusfs_dirent));

	switch (le16_to_cpu(di->mode) & S_IFMT) {
	case S_IFREG:
		if (count != DIV_ROUND_UP_ULL(size, 1ULL << sbi->chunkszbits))
			return "slot count does not match the size";
		if (nydusfs_range_bad(data, count, nrefs))
			return "chunk slots out of bounds";
		return NULL;
	case S_IFDIR:
		if (size != (u64)count * sizeof(struct nydusfs_dirent))
			return "directory size does not match its entries";
		if (nydusfs_range_bad(data, count, ndirents))
			return "directory entries out of bounds";
		if (le32_to_cpu(di->parent_nid) >= sbi->inode_count)
			return "parent out of bounds";
		return NULL;
	case S_IFLNK:
		if (!size || size > NYDUSFS_SYMLINK_MAX)
			return "bad symlink length";
		return NULL;
	case S_IFCHR: case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		return NULL;
	}
	return "unknown file type";
}

static const char *nydusfs_check_inode(struct super_block *sb,
				       const struct nydusfs_inode *di)
{
	struct nydusfs_sb_info *sbi = NYDUSFS_SB(sb);
	u32 xcount = le32_to_cpu(di->xattr_count);

	if (le32_to_cpu(di->mtime_nsec) >= NSEC_PER_SEC)
		return "bad mtime_nsec";
	if (!le32_to_cpu(di->nlink))
		return "zero link count";
	if (nydusfs_range_bad(le32_to_cpu(di->xattr_index), xcount,
			      nydusfs_region_count(sbi, NYDUSFS_REGION_XATTRS,
						   sizeof(struct nydusfs_xattr))))
		return "xattrs out of bounds";
	return nydusfs_check_layout(sb, di);
}

static int nydusfs_read_symlink(struct inode *inode, u64 off)
{
	struct nydusfs_buf buf = {};
	unsigned int len = inode->i_size;
	char *target;
	int err;

	if (off > U32_MAX)
		return -EFSCORRUPTED;
	target = kmalloc(len + 1, GFP_KERNEL);
	if (!target)
		return -ENOMEM;
	err = nydusfs_read_name(inode->i_sb, &buf, nydusfs_nid(inode), off,
				len, target);
	nydusfs_put_buf(&buf);
	if (!err && strlen(target) != len) {
		nydusfs_err(inode->i_sb, "nid %u: NUL in symlink target",
			    nydusfs_nid(inode));
		err = -EFSCORRUPTED;
	}
	if (err) {
		kfree(target);
		return err;
	}
	inode->i_link = target;
	return 0;
}

static int nydusfs_set_ops(struct inode *inode, const struct nydusfs_inode *di)
{
	switch (inode->i_mode & S_IFMT) {
	case S_IFREG:
		inode->i_op = &nydusfs_generic_iops;
		inode->i_fop = &nydusfs_file_fops;
		inode->i_mapping->a_ops = &nydusfs_aops;
		return 0;
	case S_IFDIR:
		inode->i_op = &nydusfs_dir_iops;
		inode->i_fop = &nydusfs_dir_fops;
		return 0;
	case S_IFLNK:
		inode->i_op = &nydusfs_symlink_iops;
		return nydusfs_read_symlink(inode, le64_to_cpu(di->data));
	default:
		inode->i_op = &nydusfs_generic_iops;
		init_special_inode(inode, inode->i_mode,
				   new_decode_dev(le32_to_cpu(di->rdev)));
		return 0;
	}
}

static int nydusfs_fill_inode(struct inode *inode)
{
	struct super_block *sb = inode->i_sb;
	struct nydusfs_inode_info *vi = NYDUSFS_I(inode);
	struct nydusfs_buf buf = {};
	struct nydusfs_inode di;
	struct timespec64 ts;
	const char *what;
	int err;

	err = nydusfs_read_entry(sb, &buf, NYDUSFS_REGION_INODES,
				 nydusfs_nid(inode), &di, sizeof(di));
	nydusfs_put_buf(&buf);
	if (err)
		return err;
	what = nydusfs_check_inode(sb, &di);
	if (what) {
		nydusfs_err(sb, "nid %u: %s", nydusfs_nid(inode), what);
		return -EFSCORRUPTED;
	}
	inode->i_mode = le16_to_cpu(di.mode);
	i_uid_write(inode, le32_to_cpu(di.uid));
	i_gid_write(inode, le32_to_cpu(di.gid));
	set_nlink(inode, le32_to_cpu(di.nlink));
	inode->i_size = le64_to_cpu(di.size);
	inode->i_blocks = le64_to_cpu(di.blocks);
	ts.tv_sec = (s64)le64_to_cpu(di.mtime);
	ts.tv_nsec = le32_to_cpu(di.mtime_nsec);
	nydusfs_set_inode_time(inode, ts);
	vi->data = le64_to_cpu(di.data);
	vi->data_count = le32_to_cpu(di.data_count);
	vi->xattr_index = le32_to_cpu(di.xattr_index);
	vi->xattr_count = le32_to_cpu(di.xattr_count);
	vi->parent_nid = le32_to_cpu(di.parent_nid);
	return nydusfs_set_ops(inode, &di);
}

struct inode *nydusfs_iget(struct super_block *sb, u32 nid)
{
	struct inode *inode;
	int err;

	if (nid >= NYDUSFS_SB(sb)->inode_count) {
		nydusfs_err(sb, "nid %u out of bounds", nid);
		return ERR_PTR(-EFSCORRUPTED);
	}
	inode = iget_locked(sb, (unsigned long)nid + 1);
	if (!inode)
		return ERR_PTR(-ENOMEM);
	if (!(inode->i_state & I_NEW))
		return inode;
	err = nydusfs_fill_inode(inode);
	if (err) {
		iget_failed(inode);
		return ERR_PTR(err);
	}
	unlock_new_inode(inode);
	return inode;
}

const struct inode_operations nydusfs_generic_iops = {
	.listxattr	= nydusfs_listxattr,
};

const struct inode_operations nydusfs_symlink_iops = {
	.get_link	= simple_get_link,
	.listxattr	= nydusfs_listxattr,
};
