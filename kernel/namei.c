// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs: lookup, a binary search over a directory's sorted entries.
 */
#include "internal.h"

/* memcmp order over the common length, the shorter name first on a tie */
static int nydusfs_namecmp(const struct qstr *qn,
			   const struct nydusfs_dirent_info *de)
{
	int ret = memcmp(qn->name, de->name, min_t(u32, qn->len, de->name_len));

	return ret ? ret : (int)qn->len - de->name_len;
}

/*
 * Out-of-order entries (a corrupt image) can make the search miss, but it
 * never takes more than log2(n) steps or leaves the directory.
 */
static int nydusfs_find(struct inode *dir, const struct qstr *name,
			struct nydusfs_dirent_info *de)
{
	u32 lo = 0, hi = NYDUSFS_I(dir)->data_count;
	struct nydusfs_buf buf = {};
	int err = -ENOENT;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		int cmp;

		err = nydusfs_read_dirent(dir, &buf, mid, de);
		if (err)
			break;
		cmp = nydusfs_namecmp(name, de);
		if (!cmp)
			break;
		err = -ENOENT;
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	nydusfs_put_buf(&buf);
	return err;
}

static struct inode *nydusfs_lookup_child(struct inode *dir,
					  const struct nydusfs_dirent_info *de)
{
	struct inode *inode = nydusfs_iget(dir->i_sb, de->nid);
	const char *what = NULL;

	if (IS_ERR(inode))
		return inode;
	if (fs_umode_to_dtype(inode->i_mode) != de->file_type)
		what = "file type differs from the inode's";
	else if (S_ISDIR(inode->i_mode) &&
		 (de->nid <= nydusfs_nid(dir) ||
		  NYDUSFS_I(inode)->parent_nid != nydusfs_nid(dir)))
		what = "directory entry breaks the nid order";
	if (what) {
		nydusfs_err(dir->i_sb, "nid %u: entry %s (nid %u): %s",
			    nydusfs_nid(dir), de->name, de->nid, what);
		iput(inode);
		return ERR_PTR(-EFSCORRUPTED);
	}
	return inode;
}

static struct dentry *nydusfs_lookup(struct inode *dir, struct dentry *dentry,
				     unsigned int flags)
{
	struct nydusfs_dirent_info de;
	struct inode *inode = NULL;
	int err;

	if (dentry->d_name.len > NYDUSFS_NAME_MAX)
		return ERR_PTR(-ENAMETOOLONG);
	err = nydusfs_find(dir, &dentry->d_name, &de);
	if (!err)
		inode = nydusfs_lookup_child(dir, &de);
	else if (err != -ENOENT)
		inode = ERR_PTR(err);
	return d_splice_alias(inode, dentry);
}

const struct inode_operations nydusfs_dir_iops = {
	.lookup		= nydusfs_lookup,
	.listxattr	= nydusfs_listxattr,
};
