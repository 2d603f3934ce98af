// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs: the /dev/nydusfs upcall device.
 *
 * Requests live in one xarray indexed by their id; NYDUSFS_REQ_UNREAD marks
 * those no daemon has taken.  read() takes the next marked request after
 * the last one taken (round robin), write() answers one.  Every reply is
 * checked against its request under nydusfs_dev.lock.  When a daemon's fd
 * is released, the requests it had taken are marked again for the next
 * daemon.  A request still open at its deadline fails with -ETIMEDOUT.
 */
#include <linux/bitmap.h>
#include <linux/file.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "internal.h"

#define NYDUSFS_REQ_UNREAD	XA_MARK_1

/*
 * A request that just failed fails again at once for this long, so that
 * read_folio() right after a failed readahead does not wait a second time.
 */
#define NYDUSFS_FAIL_GRACE	HZ

enum { NYDUSFS_REQ_NEW, NYDUSFS_REQ_INFLIGHT, NYDUSFS_REQ_DONE };
enum { NYDUSFS_DF_NEW, NYDUSFS_DF_INIT_SENT, NYDUSFS_DF_READY };

/**
 * struct nydusfs_dev_file - one open of /dev/nydusfs
 * @state: NYDUSFS_DF_*: the handshake comes first
 * @features: protocol features the daemon chose
 */
struct nydusfs_dev_file {
	int state;
	u32 features;
};

/**
 * struct nydusfs_req - one request
 * @ref: the queue holds one until the request is done, each waiter one
 * @list: on a local list while being put
 * @done: completed when the request is answered, fails or expires
 * @obj: the object, with a reference (NULL for CLOSE)
 * @owner: the daemon that took it, while in flight
 * @deadline: jiffies at which it fails
 * @state: NYDUSFS_REQ_*
 * @error: result once done
 * @chunk: READ: first chunk of the range
 * @len: bytes in @msg
 * @msg: the message as read() returns it, header first
 */
struct nydusfs_req {
	struct kref ref;
	struct list_head list;
	struct completion done;
	struct nydusfs_object *obj;
	struct nydusfs_dev_file *owner;
	unsigned long deadline;
	int state;
	int error;
	u32 chunk;
	u32 len;
	u8 msg[] __aligned(8);
};

static struct {
	struct mutex lock;	/* requests, object states and pending tables */
	struct xarray reqs;
	u32 next_id;
	unsigned long cursor;
	wait_queue_head_t wq;
	struct delayed_work reaper;
	bool dead;
} nydusfs_dev;

static struct nydusfs_dev_hdr *nydusfs_req_hdr(struct nydusfs_req *req)
{
	return (struct nydusfs_dev_hdr *)req->msg;
}

static void *nydusfs_req_body(struct nydusfs_req *req)
{
	return req->msg + sizeof(struct nydusfs_dev_hdr);
}

static struct nydusfs_req *nydusfs_req_alloc(struct nydusfs_object *obj,
					     u16 opcode, size_t body)
{
	size_t len = sizeof(struct nydusfs_dev_hdr) + body;
	struct nydusfs_dev_hdr *hdr;
	struct nydusfs_req *req;

	req = kzalloc(struct_size(req, msg, len), GFP_KERNEL);
	if (!req)
		return NULL;
	kref_init(&req->ref);
	INIT_LIST_HEAD(&req->list);
	init_completion(&req->done);
	req->len = len;
	hdr = nydusfs_req_hdr(req);
	hdr->len = len;
	hdr->opcode = opcode;
	hdr->object_id = obj->id;
	memcpy(nydusfs_req_body(req), &obj->blob, sizeof(obj->blob));
	return req;
}

static void nydusfs_req_release(struct kref *ref)
{
	struct nydusfs_req *req = container_of(ref, struct nydusfs_req, ref);
	struct nydusfs_dev_hdr *hdr = nydusfs_req_hdr(req);

	if (req->obj)
		nydusfs_object_put(req->obj);
	/* a CLOSE read, expired or dropped: its object's id is free now */
	if (hdr->opcode == NYDUSFS_OP_CLOSE)
		nydusfs_object_id_free(hdr->object_id);
	kfree(req);
}

/* Never under nydusfs_dev.lock: the last put may release the object. */
static void nydusfs_req_put(struct nydusfs_req *req)
{
	kref_put(&req->ref, nydusfs_req_release);
}

static void nydusfs_req_put_list(struct list_head *head)
{
	struct nydusfs_req *req, *next;

	list_for_each_entry_safe(req, next, head, list) {
		list_del_init(&req->list);
		nydusfs_req_put(req);
	}
}

static int nydusfs_req_queue_locked(struct nydusfs_req *req,
				    unsigned int timeout)
{
	u32 id;
	int err;

	if (nydusfs_dev.dead)
		return -ESHUTDOWN;
	err = xa_alloc_cyclic(&nydusfs_dev.reqs, &id, req, xa_limit_32b,
			      &nydusfs_dev.next_id, GFP_KERNEL);
	if (err < 0)
		return err;
	nydusfs_req_hdr(req)->id = id;
	req->deadline = jiffies + timeout * HZ;
	xa_set_mark(&nydusfs_dev.reqs, id, NYDUSFS_REQ_UNREAD);
	wake_up_all(&nydusfs_dev.wq);
	queue_delayed_work(system_wq, &nydusfs_dev.reaper, HZ);
	return 0;
}

/* Done: out of the queue, waiters woken.  The caller puts the queue's ref. */
static void nydusfs_req_finish_locked(struct nydusfs_req *req, int error)
{
	struct nydusfs_dev_hdr *hdr = nydusfs_req_hdr(req);
	struct nydusfs_object *obj = req->obj;

	xa_erase(&nydusfs_dev.reqs, hdr->id);
	if (hdr->opcode == NYDUSFS_OP_OPEN) {
		obj->open_req = NULL;
		if (obj->state == NYDUSFS_OBJ_OPENING)
			obj->state = NYDUSFS_OBJ_CLOSED;
		if (error)
			obj->open_failed = jiffies | 1;
	} else if (hdr->opcode == NYDUSFS_OP_READ) {
		if (xa_load(&obj->pending, req->chunk) == req)
			xa_erase(&obj->pending, req->chunk);
		if (error) {
			obj->read_failed = jiffies | 1;
			obj->read_failed_chunk = req->chunk;
		}
	}
	req->owner = NULL;
	req->state = NYDUSFS_REQ_DONE;
	req->error = error;
	complete_all(&req->done);
}

static int nydusfs_req_wait(struct nydusfs_req *req)
{
	int err = wait_for_completion_killable(&req->done);

	if (err)
		err = -EINTR;
	else if (req->error)
		err = -EIO;
	nydusfs_req_put(req);
	return err;
}

static bool nydusfs_failed_recently(unsigned long when)
{
	return when && time_before(jiffies, when + NYDUSFS_FAIL_GRACE);
}

/* Queue @new for @obj, which it then holds */
static int nydusfs_req_add_locked(struct nydusfs_req *new,
				  struct nydusfs_object *obj,
				  unsigned int timeout)
{
	int err = nydusfs_req_queue_locked(new, timeout);

	if (!err) {
		kref_get(&obj->ref);
		new->obj = obj;
	}
	return err;
}

/* After the lock is dropped: wait if asked, with the ref taken for it */
static int nydusfs_req_wait_or_not(struct nydusfs_req *req, int err,
				   bool wait)
{
	if (err || !req)
		return err;
	return wait ? nydusfs_req_wait(req) : -EINPROGRESS;
}

int nydusfs_dev_open_object(struct nydusfs_object *obj, unsigned int timeout,
			    bool wait)
{
	struct nydusfs_req *new, *req = NULL;
	int err = 0;

	new = nydusfs_req_alloc(obj, NYDUSFS_OP_OPEN,
				sizeof(struct nydusfs_dev_blob));
	if (!new)
		return -ENOMEM;
	mutex_lock(&nydusfs_dev.lock);
	if (obj->state == NYDUSFS_OBJ_OPEN)
		goto unlock;
	req = obj->open_req;
	if (!req && nydusfs_failed_recently(obj->open_failed)) {
		err = -EIO;
		goto unlock;
	} else if (!req) {
		err = nydusfs_req_add_locked(new, obj, timeout);
		if (err)
			goto unlock;
		req = new;
		new = NULL;
		obj->open_req = req;
		obj->state = NYDUSFS_OBJ_OPENING;
	}
	if (wait)
		kref_get(&req->ref);
unlock:
	mutex_unlock(&nydusfs_dev.lock);
	kfree(new);
	return nydusfs_req_wait_or_not(req, err, wait);
}

static struct nydusfs_req *nydusfs_read_req_alloc(struct nydusfs_object *obj,
						  const struct nydusfs_map *map,
						  u32 flags)
{
	struct nydusfs_dev_read *rd;
	struct nydusfs_req *req;

	req = nydusfs_req_alloc(obj, NYDUSFS_OP_READ, sizeof(*rd) +
				sizeof(struct nydusfs_dev_chunk));
	if (!req)
		return NULL;
	rd = nydusfs_req_body(req);
	rd->chunk_index = map->chunk;
	rd->chunk_count = 1;
	rd->flags = flags;
	rd->chunks[0] = map->dc;
	req->chunk = map->chunk;
	return req;
}

/* One READ per missing chunk: later readers join the request already out. */
int nydusfs_dev_read_chunk(struct nydusfs_object *obj,
			   const struct nydusfs_map *map, u32 flags,
			   unsigned int timeout, bool wait)
{
	struct nydusfs_req *new, *req;
	struct nydusfs_dev_read *rd;
	int err = 0;

	new = nydusfs_read_req_alloc(obj, map, flags);
	if (!new)
		return -ENOMEM;
	mutex_lock(&nydusfs_dev.lock);
	req = xa_load(&obj->pending, map->chunk);
	if (req) {
		rd = nydusfs_req_body(req);
		if (req->state == NYDUSFS_REQ_NEW)
			rd->flags |= flags;
	} else if (obj->state != NYDUSFS_OBJ_OPEN ||
		   (obj->read_failed_chunk == map->chunk &&
		    nydusfs_failed_recently(obj->read_failed))) {
		err = -EIO;
	} else if (!(flags & NYDUSFS_READ_REFETCH) &&
		   test_bit(map->chunk, obj->present)) {
		goto unlock;
	} else {
		err = xa_insert(&obj->pending, map->chunk, new, GFP_KERNEL);
		if (!err) {
			err = nydusfs_req_add_locked(new, obj, timeout);
			if (err)
				xa_erase(&obj->pending, map->chunk);
		}
		if (err)
			goto unlock;
		req = new;
		new = NULL;
	}
	if (req && wait)
		kref_get(&req->ref);
unlock:
	mutex_unlock(&nydusfs_dev.lock);
	kfree(new);
	return nydusfs_req_wait_or_not(req, err, wait);
}

/*
 * The object is going: tell the daemon, which need not answer.  The CLOSE
 * takes over the object's id and frees it when it goes itself: once read,
 * or when it expires or cannot be queued.
 */
void nydusfs_dev_close_object(struct nydusfs_object *obj)
{
	struct nydusfs_req *req;
	int err;

	req = nydusfs_req_alloc(obj, NYDUSFS_OP_CLOSE,
				sizeof(struct nydusfs_dev_blob));
	if (!req) {
		nydusfs_object_id_free(obj->id);
		return;
	}
	mutex_lock(&nydusfs_dev.lock);
	err = nydusfs_req_queue_locked(req, NYDUSFS_DEFAULT_TIMEOUT);
	mutex_unlock(&nydusfs_dev.lock);
	if (err)
		nydusfs_req_put(req);
}

static bool nydusfs_dev_has_unread(void)
{
	return xa_marked(&nydusfs_dev.reqs, NYDUSFS_REQ_UNREAD);
}

/* The daemon's next request, round robin over the unread ones */
static struct nydusfs_req *nydusfs_dev_take_locked(struct nydusfs_dev_file *df,
						   size_t count, int *err)
{
	unsigned long index = nydusfs_dev.cursor;
	struct nydusfs_req *req;

	req = xa_find(&nydusfs_dev.reqs, &index, ULONG_MAX, NYDUSFS_REQ_UNREAD);
	if (!req) {
		index = 0;
		req = xa_find(&nydusfs_dev.reqs, &index, ULONG_MAX,
			      NYDUSFS_REQ_UNREAD);
	}
	if (!req)
		return NULL;
	if (count < req->len) {
		*err = -EMSGSIZE;
		return NULL;
	}
	nydusfs_dev.cursor = index + 1;
	xa_clear_mark(&nydusfs_dev.reqs, index, NYDUSFS_REQ_UNREAD);
	kref_get(&req->ref);
	if (nydusfs_req_hdr(req)->opcode == NYDUSFS_OP_CLOSE) {
		nydusfs_req_finish_locked(req, 0);
	} else {
		req->state = NYDUSFS_REQ_INFLIGHT;
		req->owner = df;
	}
	return req;
}

/* Back in the queue: the daemon could not take it after all */
static void nydusfs_dev_untake(struct nydusfs_dev_file *df,
			       struct nydusfs_req *req)
{
	mutex_lock(&nydusfs_dev.lock);
	if (req->state == NYDUSFS_REQ_INFLIGHT && req->owner == df) {
		req->state = NYDUSFS_REQ_NEW;
		req->owner = NULL;
		xa_set_mark(&nydusfs_dev.reqs, nydusfs_req_hdr(req)->id,
			    NYDUSFS_REQ_UNREAD);
	}
	mutex_unlock(&nydusfs_dev.lock);
}

static ssize_t nydusfs_dev_send_init(struct nydusfs_dev_file *df,
				     char __user *ubuf, size_t count)
{
	struct {
		struct nydusfs_dev_hdr hdr;
		struct nydusfs_dev_init body;
	} msg = {};

	if (count < sizeof(msg))
		return -EMSGSIZE;
	msg.hdr.len = sizeof(msg);
	msg.hdr.opcode = NYDUSFS_OP_INIT;
	msg.body.version = NYDUSFS_DEV_VERSION;
	msg.body.features = NYDUSFS_DEV_FEATURES;
	msg.body.msg_max = NYDUSFS_DEV_MSG_MAX;
	if (copy_to_user(ubuf, &msg, sizeof(msg)))
		return -EFAULT;
	mutex_lock(&nydusfs_dev.lock);
	if (df->state == NYDUSFS_DF_NEW)
		df->state = NYDUSFS_DF_INIT_SENT;
	mutex_unlock(&nydusfs_dev.lock);
	return sizeof(msg);
}

static ssize_t nydusfs_dev_read(struct file *file, char __user *ubuf,
				size_t count, loff_t *ppos)
{
	struct nydusfs_dev_file *df = file->private_data;
	struct nydusfs_req *req;
	ssize_t ret = 0;
	int err = 0;

	if (READ_ONCE(df->state) != NYDUSFS_DF_READY)
		return nydusfs_dev_send_init(df, ubuf, count);
	for (;;) {
		mutex_lock(&nydusfs_dev.lock);
		req = nydusfs_dev_take_locked(df, count, &err);
		mutex_unlock(&nydusfs_dev.lock);
		if (req || err)
			break;
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		err = wait_event_interruptible(nydusfs_dev.wq,
					       nydusfs_dev_has_unread());
		if (err)
			return err;
	}
	if (err)
		return err;
	ret = req->len;
	if (copy_to_user(ubuf, req->msg, req->len)) {
		nydusfs_dev_untake(df, req);
		ret = -EFAULT;
	}
	/* a CLOSE is done once read: drop the queue's reference too */
	if (nydusfs_req_hdr(req)->opcode == NYDUSFS_OP_CLOSE)
		nydusfs_req_put(req);
	nydusfs_req_put(req);
	return ret;
}

/* The request a reply answers; the checks every reply goes through */
static struct nydusfs_req *nydusfs_dev_find_locked(struct nydusfs_dev_file *df,
						   const struct nydusfs_dev_hdr *hdr,
						   int *err)
{
	struct nydusfs_req *req = xa_load(&nydusfs_dev.reqs, hdr->id);
	struct nydusfs_dev_hdr *rhdr;

	if (!req) {
		*err = -ENOENT;
		return NULL;
	}
	rhdr = nydusfs_req_hdr(req);
	if (rhdr->opcode != hdr->opcode || rhdr->object_id != hdr->object_id ||
	    req->state != NYDUSFS_REQ_INFLIGHT || req->owner != df) {
		*err = -EINVAL;
		return NULL;
	}
	return req;
}

static int nydusfs_dev_reply_init(struct nydusfs_dev_file *df,
				  const struct nydusfs_dev_hdr *hdr,
				  const char __user *ubuf, size_t count)
{
	struct nydusfs_dev_init_reply body;
	int err = 0;

	if (count != sizeof(body) || hdr->id || hdr->object_id || hdr->error)
		return -EINVAL;
	if (copy_from_user(&body, ubuf, sizeof(body)))
		return -EFAULT;
	mutex_lock(&nydusfs_dev.lock);
	if (df->state != NYDUSFS_DF_INIT_SENT) {
		err = -EINVAL;
	} else if (body.version != NYDUSFS_DEV_VERSION ||
		   body.features & ~NYDUSFS_DEV_FEATURES) {
		err = -EPROTONOSUPPORT;
	} else {
		df->features = body.features;
		WRITE_ONCE(df->state, NYDUSFS_DF_READY);
	}
	mutex_unlock(&nydusfs_dev.lock);
	return err;
}

/*
 * The READ reply's body: the short form, or with PRESENT_AFTER the long
 * one (the chunks the daemon has after the range too).  0 or -errno.
 */
static int nydusfs_dev_read_reply_body(struct nydusfs_dev_file *df,
				       const struct nydusfs_dev_hdr *hdr,
				       const char __user *ubuf, size_t count,
				       struct nydusfs_dev_read_reply_after *body)
{
	size_t len = sizeof(body->head);

	if (df->features & NYDUSFS_DEV_F_PRESENT_AFTER)
		len = sizeof(*body);
	memset(body, 0, sizeof(*body));
	if (count != len)
		return -EINVAL;
	if (copy_from_user(body, ubuf, len))
		return -EFAULT;
	if (body->reserved || (hdr->error && body->present_after))
		return -EINVAL;
	return 0;
}

/* Does @body match @req's READ, and stay within its blob's chunks? */
static bool nydusfs_dev_read_reply_fits(struct nydusfs_req *req,
					const struct nydusfs_dev_read_reply_after *body)
{
	const struct nydusfs_dev_read *rd = nydusfs_req_body(req);
	u64 end = (u64)rd->chunk_index + rd->chunk_count + body->present_after;

	return body->head.chunk_index == rd->chunk_index &&
	       body->head.chunk_count == rd->chunk_count &&
	       end <= req->obj->blob.chunk_count;
}

static int nydusfs_dev_reply_read(struct nydusfs_dev_file *df,
				  const struct nydusfs_dev_hdr *hdr,
				  const char __user *ubuf, size_t count)
{
	struct nydusfs_dev_read_reply_after body;
	struct nydusfs_dev_read *rd;
	struct nydusfs_req *req;
	unsigned int n;
	int err;

	err = nydusfs_dev_read_reply_body(df, hdr, ubuf, count, &body);
	if (err)
		return err;
	mutex_lock(&nydusfs_dev.lock);
	req = nydusfs_dev_find_locked(df, hdr, &err);
	if (req) {
		rd = nydusfs_req_body(req);
		if (!nydusfs_dev_read_reply_fits(req, &body)) {
			req = NULL;
			err = -EINVAL;
		}
	}
	if (req) {
		/* the claim is checked again at each chunk's next use */
		n = hdr->error ? 0 : rd->chunk_count + body.present_after;
		bitmap_clear(req->obj->checked, rd->chunk_index, n);
		bitmap_set(req->obj->present, rd->chunk_index, n);
		if (hdr->error)
			pr_warn_ratelimited("nydusfs: daemon failed READ of blob %*phN chunk %u: %d\n",
					    NYDUSFS_DIGEST_SIZE, rd->blob.digest,
					    rd->chunk_index, hdr->error);
		nydusfs_req_finish_locked(req, hdr->error);
	}
	mutex_unlock(&nydusfs_dev.lock);
	if (req)
		nydusfs_req_put(req);
	return err;
}

static struct file *nydusfs_dev_get_cache(int fd)
{
	struct file *file = fget(fd);

	if (!file)
		return ERR_PTR(-EBADF);
	if (!S_ISREG(file_inode(file)->i_mode) ||
	    !(file->f_mode & FMODE_READ) || (file->f_flags & O_DIRECT) ||
	    !file->f_op->read_iter ||
	    file_inode(file)->i_sb->s_type == &nydusfs_fs_type) {
		fput(file);
		return ERR_PTR(-EINVAL);
	}
	return file;
}

/* bit i of the reply is bit i % 8 of byte i / 8, whatever the host order */
static unsigned long *nydusfs_dev_get_bitmap(const char __user *ubuf,
					     u32 bytes, u32 chunks)
{
	unsigned long *map;
	u8 *buf;
	u32 i;

	map = kvcalloc(max_t(size_t, BITS_TO_LONGS(chunks), 1),
		       sizeof(long), GFP_KERNEL);
	if (!map)
		return ERR_PTR(-ENOMEM);
	if (!bytes)
		return map;
	buf = vmemdup_user(ubuf, bytes);
	if (IS_ERR(buf)) {
		kvfree(map);
		return ERR_CAST(buf);
	}
	for (i = 0; i < chunks; i++)
		if (buf[i / 8] & BIT(i % 8))
			__set_bit(i, map);
	kvfree(buf);
	return map;
}

/* Second half of an OPEN reply: check again, then hand over the file */
static int nydusfs_dev_finish_open(struct nydusfs_dev_file *df,
				   const struct nydusfs_dev_hdr *hdr,
				   struct file *cache, unsigned long *present,
				   unsigned long *checked)
{
	struct nydusfs_object *obj;
	struct nydusfs_req *req;
	int err = 0;

	mutex_lock(&nydusfs_dev.lock);
	req = nydusfs_dev_find_locked(df, hdr, &err);
	if (req) {
		obj = req->obj;
		if (cache) {
			obj->present = present;
			obj->checked = checked;
			/* readers test @cache, then use @present */
			smp_store_release(&obj->cache, cache);
			obj->state = NYDUSFS_OBJ_OPEN;
		}
		nydusfs_req_finish_locked(req, hdr->error);
	}
	mutex_unlock(&nydusfs_dev.lock);
	if (req)
		nydusfs_req_put(req);
	return err;
}

static int nydusfs_dev_reply_open(struct nydusfs_dev_file *df,
				  const struct nydusfs_dev_hdr *hdr,
				  const char __user *ubuf, size_t count)
{
	struct nydusfs_dev_open_reply body;
	unsigned long *present, *checked;
	struct nydusfs_req *req;
	struct file *cache;
	u32 chunks = 0;
	int err = 0;

	if (count < sizeof(body) || copy_from_user(&body, ubuf, sizeof(body)))
		return count < sizeof(body) ? -EINVAL : -EFAULT;
	if (count != sizeof(body) + body.bitmap_bytes ||
	    (hdr->error && body.bitmap_bytes))
		return -EINVAL;
	if (hdr->error)
		return nydusfs_dev_finish_open(df, hdr, NULL, NULL, NULL);

	mutex_lock(&nydusfs_dev.lock);
	req = nydusfs_dev_find_locked(df, hdr, &err);
	if (req)
		chunks = req->obj->blob.chunk_count;
	mutex_unlock(&nydusfs_dev.lock);
	if (!req)
		return err;
	if (body.bitmap_bytes && body.bitmap_bytes != DIV_ROUND_UP(chunks, 8))
		return -EINVAL;

	cache = nydusfs_dev_get_cache(body.fd);
	if (IS_ERR(cache))
		return PTR_ERR(cache);
	present = nydusfs_dev_get_bitmap(ubuf + sizeof(body),
					 body.bitmap_bytes, chunks);
	if (IS_ERR(present)) {
		fput(cache);
		return PTR_ERR(present);
	}
	checked = nydusfs_dev_get_bitmap(NULL, 0, chunks);
	if (IS_ERR(checked))
		err = PTR_ERR(checked);
	else
		err = nydusfs_dev_finish_open(df, hdr, cache, present, checked);
	if (err) {
		fput(cache);
		kvfree(present);
		if (!IS_ERR(checked))
			kvfree(checked);
	}
	return err;
}

static ssize_t nydusfs_dev_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct nydusfs_dev_file *df = file->private_data;
	struct nydusfs_dev_hdr hdr;
	int err;

	if (count < sizeof(hdr))
		return -EINVAL;
	if (copy_from_user(&hdr, ubuf, sizeof(hdr)))
		return -EFAULT;
	if (hdr.len != count || hdr.reserved || hdr.reserved2 ||
	    hdr.error > 0 || hdr.error < -MAX_ERRNO)
		return -EINVAL;
	if (hdr.opcode != NYDUSFS_OP_INIT &&
	    READ_ONCE(df->state) != NYDUSFS_DF_READY)
		return -EINVAL;
	ubuf += sizeof(hdr);
	count -= sizeof(hdr);
	switch (hdr.opcode) {
	case NYDUSFS_OP_INIT:
		err = nydusfs_dev_reply_init(df, &hdr, ubuf, count);
		break;
	case NYDUSFS_OP_OPEN:
		err = nydusfs_dev_reply_open(df, &hdr, ubuf, count);
		break;
	case NYDUSFS_OP_READ:
		err = nydusfs_dev_reply_read(df, &hdr, ubuf, count);
		break;
	default:
		err = -EINVAL;
	}
	/* not "err ? err : hdr.len": that would make -EINVAL unsigned */
	if (err)
		return err;
	return hdr.len;
}

static __poll_t nydusfs_dev_poll(struct file *file, poll_table *wait)
{
	struct nydusfs_dev_file *df = file->private_data;
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;

	poll_wait(file, &nydusfs_dev.wq, wait);
	if (READ_ONCE(df->state) != NYDUSFS_DF_READY || nydusfs_dev_has_unread())
		mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}

static int nydusfs_dev_open(struct inode *inode, struct file *file)
{
	struct nydusfs_dev_file *df;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	df = kzalloc(sizeof(*df), GFP_KERNEL);
	if (!df)
		return -ENOMEM;
	df->state = NYDUSFS_DF_NEW;
	file->private_data = df;
	return stream_open(inode, file);
}

/* The daemon went away: what it had taken goes back for the next one. */
static int nydusfs_dev_release(struct inode *inode, struct file *file)
{
	struct nydusfs_dev_file *df = file->private_data;
	struct nydusfs_req *req;
	unsigned long index;
	bool requeued = false;

	mutex_lock(&nydusfs_dev.lock);
	xa_for_each(&nydusfs_dev.reqs, index, req) {
		if (req->owner != df)
			continue;
		req->owner = NULL;
		req->state = NYDUSFS_REQ_NEW;
		xa_set_mark(&nydusfs_dev.reqs, index, NYDUSFS_REQ_UNREAD);
		requeued = true;
	}
	mutex_unlock(&nydusfs_dev.lock);
	if (requeued)
		wake_up_all(&nydusfs_dev.wq);
	kfree(df);
	return 0;
}

static const struct file_operations nydusfs_dev_fops = {
	.owner		= THIS_MODULE,
	.open		= nydusfs_dev_open,
	.release	= nydusfs_dev_release,
	.read		= nydusfs_dev_read,
	.write		= nydusfs_dev_write,
	.poll		= nydusfs_dev_poll,
};

static struct miscdevice nydusfs_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "nydusfs",
	.fops	= &nydusfs_dev_fops,
	.mode	= 0600,
};

static void nydusfs_dev_log_expired(struct nydusfs_req *req)
{
	struct nydusfs_dev_hdr *hdr = nydusfs_req_hdr(req);
	struct nydusfs_dev_blob *blob = nydusfs_req_body(req);

	if (hdr->opcode != NYDUSFS_OP_CLOSE)
		pr_warn_ratelimited("nydusfs: request %u (opcode %u) for blob %*phN timed out\n",
				    hdr->id, hdr->opcode, NYDUSFS_DIGEST_SIZE,
				    blob->digest);
}

static void nydusfs_dev_reap(struct work_struct *work)
{
	struct nydusfs_req *req;
	LIST_HEAD(expired);
	unsigned long index;
	bool more;

	mutex_lock(&nydusfs_dev.lock);
	xa_for_each(&nydusfs_dev.reqs, index, req) {
		if (time_before(jiffies, req->deadline))
			continue;
		nydusfs_dev_log_expired(req);
		nydusfs_req_finish_locked(req, -ETIMEDOUT);
		list_add_tail(&req->list, &expired);
	}
	more = !xa_empty(&nydusfs_dev.reqs) && !nydusfs_dev.dead;
	mutex_unlock(&nydusfs_dev.lock);
	if (more)
		queue_delayed_work(system_wq, &nydusfs_dev.reaper, HZ);
	nydusfs_req_put_list(&expired);
}

int nydusfs_dev_init(void)
{
	mutex_init(&nydusfs_dev.lock);
	xa_init_flags(&nydusfs_dev.reqs, XA_FLAGS_ALLOC1);
	init_waitqueue_head(&nydusfs_dev.wq);
	INIT_DELAYED_WORK(&nydusfs_dev.reaper, nydusfs_dev_reap);
	return misc_register(&nydusfs_misc);
}

/* No mount and no daemon is left; fail what is still queued. */
void nydusfs_dev_exit(void)
{
	struct nydusfs_req *req;
	unsigned long index;
	LIST_HEAD(all);

	misc_deregister(&nydusfs_misc);
	mutex_lock(&nydusfs_dev.lock);
	nydusfs_dev.dead = true;
	xa_for_each(&nydusfs_dev.reqs, index, req) {
		nydusfs_req_finish_locked(req, -ESHUTDOWN);
		list_add_tail(&req->list, &all);
	}
	mutex_unlock(&nydusfs_dev.lock);
	cancel_delayed_work_sync(&nydusfs_dev.reaper);
	nydusfs_req_put_list(&all);
	xa_destroy(&nydusfs_dev.reqs);
	nydusfs_objects_check_empty();
}
