// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs: extended attributes.  An inode's xattrs are contiguous in the
 * xattr table and sorted by full name ("user.foo"); values are binary and
 * may cross blocks of the bootstrap.  The user., trusted. and security.
 * namespaces are served; other names (system.*) are not listed.
 */
#include <linux/xattr.h>

#include "internal.h"

/**
 * struct nydusfs_xattr_info - a checked xattr entry
 * @value_off: value offset in the string region
 * @value_len: value length
 * @name_len: bytes in @name
 * @name: the full name, NUL terminated
 */
struct nydusfs_xattr_info {
	u32 value_off;
	u32 value_len;
	u8 name_len;
	char name[NYDUSFS_NAME_MAX + 1];
};

static int nydusfs_read_xattr(struct inode *inode, struct nydusfs_buf *buf,
			      u32 i, struct nydusfs_xattr_info *xi)
{
	struct super_block *sb = inode->i_sb;
	struct nydusfs_xattr dx;
	int err;

	err = nydusfs_read_entry(sb, buf, NYDUSFS_REGION_XATTRS,
				 (u64)NYDUSFS_I(inode)->xattr_index + i, &dx,
				 sizeof(dx));
	if (err)
		return err;
	xi->value_off = le32_to_cpu(dx.value_off);
	xi->value_len = le32_to_cpu(dx.value_len);
	xi->name_len = dx.name_len;
	err = nydusfs_read_name(sb, buf, nydusfs_nid(inode),
				le32_to_cpu(dx.name_off), dx.name_len,
				xi->name);
	if (err)
		return err;
	if (strnlen(xi->name, xi->name_len) != xi->name_len ||
	    xi->value_len > NYDUSFS_XATTR_VALUE_MAX) {
		nydusfs_err(sb, "nid %u xattr %u: bad name or value length",
			    nydusfs_nid(inode), i);
		return -EFSCORRUPTED;
	}
	return 0;
}

static bool nydusfs_has_prefix(const char *name, const char *prefix)
{
	return !strncmp(name, prefix, strlen(prefix));
}

ssize_t nydusfs_listxattr(struct dentry *dentry, char *buffer, size_t size)
{
	struct inode *inode = d_inode(dentry);
	struct nydusfs_xattr_info xi;
	struct nydusfs_buf buf = {};
	int trusted = -1;
	size_t total = 0;
	int err = 0;
	u32 i;

	for (i = 0; i < NYDUSFS_I(inode)->xattr_count; i++) {
		err = nydusfs_read_xattr(inode, &buf, i, &xi);
		if (err)
			break;
		if (nydusfs_has_prefix(xi.name, XATTR_TRUSTED_PREFIX)) {
			if (trusted < 0)
				trusted = capable(CAP_SYS_ADMIN);
			if (!trusted)
				continue;
		} else if (!nydusfs_has_prefix(xi.name, XATTR_USER_PREFIX) &&
			   !nydusfs_has_prefix(xi.name, XATTR_SECURITY_PREFIX)) {
			continue;
		}
		if (buffer) {
			if (total + xi.name_len + 1 > size) {
				err = -ERANGE;
				break;
			}
			memcpy(buffer + total, xi.name, xi.name_len + 1);
		}
		total += xi.name_len + 1;
	}
	nydusfs_put_buf(&buf);
	if (err)
		return err;
	return total;
}

/* Binary search by full name; the same order as directory entries */
static int nydusfs_find_xattr(struct inode *inode, struct nydusfs_buf *buf,
			      const char *name, struct nydusfs_xattr_info *xi)
{
	u32 lo = 0, hi = NYDUSFS_I(inode)->xattr_count;
	size_t len = strlen(name);
	int err, cmp;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;

		err = nydusfs_read_xattr(inode, buf, mid, xi);
		if (err)
			return err;
		cmp = memcmp(name, xi->name, min_t(size_t, len, xi->name_len));
		if (!cmp)
			cmp = (int)len - xi->name_len;
		if (!cmp)
			return 0;
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -ENODATA;
}

static int nydusfs_xattr_get(const struct xattr_handler *handler,
			     struct dentry *unused, struct inode *inode,
			     const char *name, void *buffer, size_t size)
{
	char full[NYDUSFS_NAME_MAX + 1];
	struct nydusfs_xattr_info xi;
	struct nydusfs_buf buf = {};
	int err;

	if (snprintf(full, sizeof(full), "%s%s", handler->prefix, name) >=
	    sizeof(full))
		return -ENODATA;
	err = nydusfs_find_xattr(inode, &buf, full, &xi);
	if (!err && size) {
		if (xi.value_len > size)
			err = -ERANGE;
		else
			err = nydusfs_read_value(inode->i_sb, &buf,
						 nydusfs_nid(inode),
						 xi.value_off, xi.value_len,
						 buffer);
	}
	nydusfs_put_buf(&buf);
	if (err)
		return err;
	return xi.value_len;
}

static const struct xattr_handler nydusfs_xattr_user_handler = {
	.prefix	= XATTR_USER_PREFIX,
	.get	= nydusfs_xattr_get,
};

static const struct xattr_handler nydusfs_xattr_trusted_handler = {
	.prefix	= XATTR_TRUSTED_PREFIX,
	.get	= nydusfs_xattr_get,
};

static const struct xattr_handler nydusfs_xattr_security_handler = {
	.prefix	= XATTR_SECURITY_PREFIX,
	.get	= nydusfs_xattr_get,
};

const struct xattr_handler *NYDUSFS_XATTR_CONST nydusfs_xattr_handlers[] = {
	&nydusfs_xattr_user_handler,
	&nydusfs_xattr_trusted_handler,
	&nydusfs_xattr_security_handler,
	NULL,
};
