// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs: directory entries and readdir.  A directory's entries are
 * contiguous in the dirent table and sorted by name; the readdir offset of
 * entry i is 2 + i, so offsets are stable across calls and seekdir.
 */
#include "internal.h"

static bool nydusfs_ft_valid(u8 ft)
{
	switch (ft) {
	case NYDUSFS_FT_FIFO: case NYDUSFS_FT_CHRDEV: case NYDUSFS_FT_DIR:
	case NYDUSFS_FT_BLKDEV: case NYDUSFS_FT_REG: case NYDUSFS_FT_SYMLINK:
	case NYDUSFS_FT_SOCK:
		return true;
	}
	return false;
}

static bool nydusfs_name_valid(const char *name, unsigned int len)
{
	if (strnlen(name, len) != len || memchr(name, '/', len))
		return false;
	return !(name[0] == '.' &&
		 (len == 1 || (len == 2 && name[1] == '.')));
}

/* Entry @i of directory @dir, its name copied and checked */
int nydusfs_read_dirent(struct inode *dir, struct nydusfs_buf *buf, u32 i,
			struct nydusfs_dirent_info *de)
{
	struct super_block *sb = dir->i_sb;
	struct nydusfs_dirent dd;
	const char *what = NULL;
	int err;

	err = nydusfs_read_entry(sb, buf, NYDUSFS_REGION_DIRENTS,
				 NYDUSFS_I(dir)->data + i, &dd, sizeof(dd));
	if (err)
		return err;
	de->nid = le32_to_cpu(dd.nid);
	de->file_type = dd.file_type;
	de->name_len = dd.name_len;
	if (de->nid >= NYDUSFS_SB(sb)->inode_count) {
		what = "child nid out of bounds";
	} else if (!nydusfs_ft_valid(dd.file_type)) {
		what = "bad file type";
	} else {
		err = nydusfs_read_name(sb, buf, nydusfs_nid(dir),
					le32_to_cpu(dd.name_off), dd.name_len,
					de->name);
		if (err)
			return err;
		if (!nydusfs_name_valid(de->name, de->name_len))
			what = "bad name";
	}
	if (what) {
		nydusfs_err(sb, "nid %u entry %u: %s", nydusfs_nid(dir), i,
			    what);
		return -EFSCORRUPTED;
	}
	return 0;
}

static int nydusfs_readdir(struct file *file, struct dir_context *ctx)
{
	struct inode *dir = file_inode(file);
	u32 count = NYDUSFS_I(dir)->data_count;
	struct nydusfs_dirent_info de;
	struct nydusfs_buf buf = {};
	int err = 0;

	if (!dir_emit_dots(file, ctx))
		return 0;
	while ((u64)(ctx->pos - 2) < count) {
		err = nydusfs_read_dirent(dir, &buf, ctx->pos - 2, &de);
		if (err)
			break;
		if (!dir_emit(ctx, de.name, de.name_len, (u64)de.nid + 1,
			      de.file_type))
			break;
		ctx->pos++;
	}
	nydusfs_put_buf(&buf);
	return err;
}

const struct file_operations nydusfs_dir_fops = {
	.llseek		= generic_file_llseek,
	.read		= generic_read_dir,
	.iterate_shared	= nydusfs_readdir,
};
