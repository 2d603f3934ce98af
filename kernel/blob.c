// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs: blob objects.  One object per blob digest, shared by every
 * mount whose image uses the blob: the cache file is opened once and the
 * presence bitmap is common.  An object lives while a mount or a request
 * holds it; once its cache file is set it stays open until the object
 * goes, whether or not a daemon is attached.
 */
#include <linux/file.h>
#include <linux/idr.h>
#include <linux/slab.h>

#include "internal.h"

static LIST_HEAD(nydusfs_objects);
static DEFINE_MUTEX(nydusfs_objects_lock);
static DEFINE_IDA(nydusfs_object_ids);

static struct nydusfs_object *nydusfs_object_new(const struct nydusfs_blob *db)
{
	struct nydusfs_object *obj;
	int id;

	obj = kzalloc(sizeof(*obj), GFP_KERNEL);
	if (!obj)
		return ERR_PTR(-ENOMEM);
	id = ida_alloc_range(&nydusfs_object_ids, 1, INT_MAX, GFP_KERNEL);
	if (id < 0) {
		kfree(obj);
		return ERR_PTR(id);
	}
	obj->id = id;
	kref_init(&obj->ref);
	xa_init(&obj->pending);
	memcpy(obj->blob.digest, db->digest, sizeof(obj->blob.digest));
	obj->blob.compressed_size = le64_to_cpu(db->compressed_size);
	obj->blob.uncompressed_size = le64_to_cpu(db->uncompressed_size);
	obj->blob.chunk_count = le32_to_cpu(db->chunk_count);
	obj->state = NYDUSFS_OBJ_CLOSED;
	return obj;
}

/*
 * The object of blob @db, made on first use.  -EEXIST: an object with the
 * same digest but another geometry exists; one of the images lies.
 */
struct nydusfs_object *nydusfs_object_get(const struct nydusfs_blob *db)
{
	struct nydusfs_object *obj;

	mutex_lock(&nydusfs_objects_lock);
	list_for_each_entry(obj, &nydusfs_objects, list) {
		if (memcmp(obj->blob.digest, db->digest, NYDUSFS_DIGEST_SIZE))
			continue;
		if (obj->blob.compressed_size !=
		    le64_to_cpu(db->compressed_size) ||
		    obj->blob.uncompressed_size !=
		    le64_to_cpu(db->uncompressed_size) ||
		    obj->blob.chunk_count != le32_to_cpu(db->chunk_count))
			obj = ERR_PTR(-EEXIST);
		else
			kref_get(&obj->ref);
		goto out;
	}
	obj = nydusfs_object_new(db);
	if (!IS_ERR(obj))
		list_add(&obj->list, &nydusfs_objects);
out:
	mutex_unlock(&nydusfs_objects_lock);
	return obj;
}

/* Called with nydusfs_objects_lock held; drops it. */
static void nydusfs_object_release(struct kref *ref)
{
	struct nydusfs_object *obj = container_of(ref, struct nydusfs_object,
						  ref);

	list_del(&obj->list);
	mutex_unlock(&nydusfs_objects_lock);
	/* the CLOSE, once queued, holds the id until a daemon reads it */
	if (obj->cache) {
		nydusfs_dev_close_object(obj);
		fput(obj->cache);
	} else {
		nydusfs_object_id_free(obj->id);
	}
	kvfree(obj->present);
	kvfree(obj->checked);
	xa_destroy(&obj->pending);
	kfree(obj);
}

/*
 * An object id may name a new object once no request names the old one:
 * the daemon must never take a late CLOSE for a newer object.
 */
void nydusfs_object_id_free(u32 id)
{
	ida_free(&nydusfs_object_ids, id);
}

void nydusfs_object_put(struct nydusfs_object *obj)
{
	kref_put_mutex(&obj->ref, nydusfs_object_release,
		       &nydusfs_objects_lock);
}

/* The cache file, or NULL before the first OPEN reply */
struct file *nydusfs_object_cache(struct nydusfs_object *obj)
{
	/* pairs with the release in nydusfs_dev_finish_open: @present is set */
	return smp_load_acquire(&obj->cache);
}

/* The chunk is in the cache file and can be read with no upcall */
bool nydusfs_chunk_present(struct nydusfs_object *obj, u32 chunk)
{
	return nydusfs_object_cache(obj) && test_bit(chunk, obj->present);
}

/*
 * The daemon's word that a chunk is in the cache file is checked once, at
 * the first use after the READ reply or OPEN bitmap that claimed it: every
 * 4 KiB block of its range must hold data, not a hole.  One SEEK_DATA per
 * block: SEEK_HOLE would be one call, but it scans on to the first hole
 * after the chunk, to the end of a fully cached file, which makes a walk of
 * many small files quadratic.  The calls move the cache file's position,
 * which the daemon shares.
 * 0: the chunk is there; -ENODATA: it is not (part was never written).
 */
int nydusfs_chunk_check(struct nydusfs_object *obj,
			const struct nydusfs_map *map)
{
	loff_t pos = map->dc.uncompressed_offset;
	loff_t end = pos + map->dc.uncompressed_size;
	loff_t ret;

	if (test_bit(map->chunk, obj->checked))
		return 0;
	for (; pos < end; pos = round_down(pos, PAGE_SIZE) + PAGE_SIZE) {
		ret = vfs_llseek(obj->cache, pos, SEEK_DATA);
		if (ret == -ENXIO || (ret >= 0 && ret != pos))
			return -ENODATA;
		if (ret < 0)
			return ret;
	}
	set_bit(map->chunk, obj->checked);
	return 0;
}

/* The chunk is not (or no longer) in the cache file */
void nydusfs_chunk_drop(struct nydusfs_object *obj, u32 chunk)
{
	clear_bit(chunk, obj->present);
	clear_bit(chunk, obj->checked);
}

/*
 * Make chunk @map->chunk readable from the cache file: open the object if
 * needed, then fetch the chunk if it is missing (or if @flags asks for a
 * refetch).  With @wait false the requests are only queued, and the
 * return value is -EINPROGRESS when one is out.
 */
int nydusfs_object_fetch(struct nydusfs_object *obj,
			 const struct nydusfs_map *map, u32 flags,
			 unsigned int timeout, bool wait)
{
	int err;

	if (!nydusfs_object_cache(obj)) {
		err = nydusfs_dev_open_object(obj, timeout, wait);
		if (err)
			return err;
	}
	if (!(flags & NYDUSFS_READ_REFETCH) && test_bit(map->chunk, obj->present))
		return 0;
	return nydusfs_dev_read_chunk(obj, map, flags, timeout, wait);
}

void nydusfs_objects_check_empty(void)
{
	if (!list_empty(&nydusfs_objects))
		pr_err("nydusfs: blob objects left at exit\n");
}
