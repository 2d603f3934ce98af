/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nydusfs: private declarations, grouped by the file that defines them.
 */
#ifndef __NYDUSFS_INTERNAL_H
#define __NYDUSFS_INTERNAL_H

#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/pagemap.h>
#include <linux/xarray.h>

#include "../uapi/nydusfs_fs.h"
#include "../uapi/nydusfs_dev.h"
#include "compat.h"

#ifndef EFSCORRUPTED
#define EFSCORRUPTED	EUCLEAN
#endif

#define NYDUSFS_DEFAULT_TIMEOUT	30	/* seconds a reader waits for data */
#define NYDUSFS_MAX_TIMEOUT	86400
/*
 * The mount's readahead window (its bdi's read_ahead_kb).  Off by default:
 * read(2) still fills whole chunks (nydusfs_ra_expand()), while page
 * faults bring in only the pages they touch, so a cold start fetches the
 * chunks a program uses, not the ones its readahead windows brush.
 */
#define NYDUSFS_DEFAULT_READAHEAD_KB	0
#define NYDUSFS_MAX_READAHEAD_KB	65536

struct nydusfs_object;
struct crypto_shash;

/**
 * struct nydusfs_mount_opts - what -o gave
 * @timeout: seconds a reader waits for the daemon before EIO
 * @verify: check each chunk's sha256 when it enters the page cache
 * @has_digest: @digest was given
 * @digest: sha256 the whole bootstrap must have
 */
struct nydusfs_mount_opts {
	unsigned int timeout;
	unsigned int readahead_kb;
	bool verify;
	bool has_digest;
	u8 digest[NYDUSFS_DIGEST_SIZE];
};

/**
 * struct nydusfs_blob_info - one entry of a mount's blob table
 * @obj: the kernel object of this blob, shared by every mount using it
 * @chunk_index: first entry of this blob in the chunk table
 * @chunk_count: chunks of this blob
 */
struct nydusfs_blob_info {
	struct nydusfs_object *obj;
	u32 chunk_index;
	u32 chunk_count;
};

/**
 * struct nydusfs_sb_info - one mounted bootstrap
 * @bootstrap: the bootstrap file, read through its page cache
 * @sha256: hash transform, for -o verify and -o digest
 * @blobs: the blob table, @blob_count entries
 * @blob_count: entries in @blobs
 * @inode_count: entries in the inode table
 * @region_off: byte offset of each region, by NYDUSFS_REGION_*
 * @region_size: byte size of each region
 * @feature_incompat: the superblock's incompatible features
 * @chunkszbits: log2 of the chunk size
 * @blocks: 4 KiB blocks of bootstrap and cache files, for statfs
 * @opt: mount options
 */
struct nydusfs_sb_info {
	struct file *bootstrap;
	struct crypto_shash *sha256;
	struct nydusfs_blob_info *blobs;
	u32 blob_count;
	u32 inode_count;
	u64 region_off[NYDUSFS_REGION_COUNT];
	u64 region_size[NYDUSFS_REGION_COUNT];
	u32 feature_incompat;
	u8 chunkszbits;
	u64 blocks;
	struct nydusfs_mount_opts opt;
};

/**
 * struct nydusfs_inode_info - in-memory inode
 * @data: first chunk-ref or dirent index, or symlink target offset
 * @data_count: chunk slots or dirents
 * @xattr_index: first entry in the xattr table
 * @xattr_count: xattrs of this inode
 * @parent_nid: directories: the parent's nid
 * @vfs_inode: the VFS inode; i_ino is nid + 1
 */
struct nydusfs_inode_info {
	u64 data;
	u32 data_count;
	u32 xattr_index;
	u32 xattr_count;
	u32 parent_nid;
	struct inode vfs_inode;
};

static inline struct nydusfs_sb_info *NYDUSFS_SB(struct super_block *sb)
{
	return sb->s_fs_info;
}

static inline struct nydusfs_inode_info *NYDUSFS_I(struct inode *inode)
{
	return container_of(inode, struct nydusfs_inode_info, vfs_inode);
}

static inline u32 nydusfs_nid(const struct inode *inode)
{
	return inode->i_ino - 1;
}

/* entries in a region */
static inline u64 nydusfs_region_count(struct nydusfs_sb_info *sbi,
				       unsigned int region, size_t entsize)
{
	return div_u64(sbi->region_size[region], entsize);
}

/**
 * struct nydusfs_buf - a metadata page of the bootstrap, kept across reads
 * @folio: the folio last read, with a reference, or NULL
 */
struct nydusfs_buf {
	struct folio *folio;
};

/**
 * struct nydusfs_map - where one chunk-sized slot of a file lives
 * @slot: slot number in the file
 * @len: bytes of file data in the slot
 * @hole: the slot reads as zeros
 * @blob_index: index in the mount's blob table
 * @obj: the blob's kernel object
 * @chunk: chunk index within the blob
 * @dc: the chunk's descriptor, as a READ request carries it
 */
struct nydusfs_map {
	u64 slot;
	u32 len;
	bool hole;
	u32 blob_index;
	struct nydusfs_object *obj;
	u32 chunk;
	struct nydusfs_dev_chunk dc;
};

/**
 * struct nydusfs_dirent_info - a checked directory entry
 * @nid: the entry's inode
 * @file_type: NYDUSFS_FT_*, which is also the DT_* value
 * @name_len: bytes in @name
 * @name: the name, NUL terminated
 */
struct nydusfs_dirent_info {
	u32 nid;
	u8 file_type;
	u8 name_len;
	char name[NYDUSFS_NAME_MAX + 1];
};

/* Object states, under the device lock */
enum {
	NYDUSFS_OBJ_CLOSED,	/* no cache file yet */
	NYDUSFS_OBJ_OPENING,	/* an OPEN request is out */
	NYDUSFS_OBJ_OPEN,	/* @cache and @present are set, for good */
};

struct nydusfs_req;

/**
 * struct nydusfs_object - the kernel's object for one blob, shared by all
 *	mounts that use the blob (keyed by digest)
 * @list: in the list of all objects
 * @ref: mounts and requests using it
 * @id: the object_id in requests
 * @blob: digest and geometry, as requests carry them
 * @cache: the cache file handed over by OPEN; NULL before
 * @present: chunk presence bitmap (atomic bit operations); NULL before OPEN
 * @checked: chunks whose cache file range was seen to hold no hole since
 *	their bit in @present was last set (atomic bit operations)
 * @state: NYDUSFS_OBJ_*, under the device lock
 * @open_req: the OPEN request out, under the device lock
 * @pending: chunk index -> READ request out, under the device lock
 * @open_failed: jiffies of the last failed OPEN, under the device lock
 * @read_failed: jiffies of the last failed READ, under the device lock
 * @read_failed_chunk: the chunk of that READ
 */
struct nydusfs_object {
	struct list_head list;
	struct kref ref;
	u32 id;
	struct nydusfs_dev_blob blob;
	struct file *cache;
	unsigned long *present;
	unsigned long *checked;
	int state;
	struct nydusfs_req *open_req;
	struct xarray pending;
	unsigned long open_failed;
	unsigned long read_failed;
	u32 read_failed_chunk;
};

/* super.c */
extern struct file_system_type nydusfs_fs_type;
__printf(2, 3) void nydusfs_err(struct super_block *sb, const char *fmt, ...);

/* inode.c */
extern const struct inode_operations nydusfs_generic_iops;
extern const struct inode_operations nydusfs_symlink_iops;
struct inode *nydusfs_iget(struct super_block *sb, u32 nid);
int nydusfs_init_inodecache(void);
void nydusfs_destroy_inodecache(void);
struct inode *nydusfs_alloc_inode(struct super_block *sb);
void nydusfs_free_inode(struct inode *inode);

/* namei.c */
extern const struct inode_operations nydusfs_dir_iops;

/* dir.c */
extern const struct file_operations nydusfs_dir_fops;
int nydusfs_read_dirent(struct inode *dir, struct nydusfs_buf *buf, u32 i,
			struct nydusfs_dirent_info *de);

/* xattr.c */
extern const struct xattr_handler *NYDUSFS_XATTR_CONST
	nydusfs_xattr_handlers[];
ssize_t nydusfs_listxattr(struct dentry *dentry, char *buffer, size_t size);

/* data.c */
extern const struct address_space_operations nydusfs_aops;
extern const struct file_operations nydusfs_file_fops;

/* meta.c */
struct folio *nydusfs_bootstrap_folio(struct file *file, pgoff_t index);
bool nydusfs_bootstrap_readable(struct file *file);
int nydusfs_meta_read(struct super_block *sb, struct nydusfs_buf *buf,
		      u64 pos, void *dst, size_t len);
void nydusfs_put_buf(struct nydusfs_buf *buf);
int nydusfs_read_entry(struct super_block *sb, struct nydusfs_buf *buf,
		       unsigned int region, u64 index, void *dst,
		       size_t entsize);
int nydusfs_read_name(struct super_block *sb, struct nydusfs_buf *buf,
		      u32 nid, u32 off, unsigned int len, char *dst);
int nydusfs_read_value(struct super_block *sb, struct nydusfs_buf *buf,
		       u32 nid, u32 off, u32 len, void *dst);
int nydusfs_map_slot(struct inode *inode, struct nydusfs_buf *buf, u64 slot,
		     struct nydusfs_map *map);

/* blob.c */
struct nydusfs_object *nydusfs_object_get(const struct nydusfs_blob *db);
void nydusfs_object_put(struct nydusfs_object *obj);
void nydusfs_object_id_free(u32 id);
struct file *nydusfs_object_cache(struct nydusfs_object *obj);
bool nydusfs_chunk_present(struct nydusfs_object *obj, u32 chunk);
int nydusfs_chunk_check(struct nydusfs_object *obj,
			const struct nydusfs_map *map);
void nydusfs_chunk_drop(struct nydusfs_object *obj, u32 chunk);
int nydusfs_object_fetch(struct nydusfs_object *obj,
			 const struct nydusfs_map *map, u32 flags,
			 unsigned int timeout, bool wait);
void nydusfs_objects_check_empty(void);

/* dev.c */
int nydusfs_dev_open_object(struct nydusfs_object *obj, unsigned int timeout,
			    bool wait);
int nydusfs_dev_read_chunk(struct nydusfs_object *obj,
			   const struct nydusfs_map *map, u32 flags,
			   unsigned int timeout, bool wait);
void nydusfs_dev_close_object(struct nydusfs_object *obj);
int nydusfs_dev_init(void);
void nydusfs_dev_exit(void);

#endif /* __NYDUSFS_INTERNAL_H */
