// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: registered mounts.  `nydusfs mount` registers an image before
 * it mounts it: the bootstrap (passed as an fd, so that the daemon's own
 * mount namespace does not matter) tells which blobs the image uses, their
 * chunk tables (for readahead) and its prefetch list; the request says
 * where the blobs come from.  The table is saved in STATE_DIR/mounts.json
 * (with the registry settings mount requests brought, hosts.c) and loaded
 * at start, before the device is opened: requests the kernel re-queued
 * from a dead daemon find their sources.
 *
 * A registration (and a mount loaded at start) then takes its blobs one
 * by one: once a blob's cache is open its pin (cache.c) is compared with
 * the image's table digest: pinned if it was not, reset if it differs and
 * nobody else uses the blob, refused if somebody does (one of the two
 * images lies about the blob).  Only then is the mount answered.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nydusfs/image.h"
#include "nydusfsd.h"

struct madd {
	struct work work;
	struct mount *m;
	int bfd;
	bool load;			/* from the saved table: no prefetch */
	mount_cb cb;
	void *arg;
	int err;
	char msg[512];
	/* results of the worker */
	struct nydusfs_dev_blob *dbs;
	struct nydusfs_chunk **tables;
	uint8_t (*tds)[NYDUSFS_DIGEST_SIZE];	/* their table digests */
	uint32_t nblobs;
	/* then, blob by blob: opened, its cache pinned to its table */
	struct cblob **blobs;		/* references, until attached */
	uint32_t cur;
	bool pinning;			/* blob cur: we started its pin */
	struct nydusfs_chunk *old_table;	/* its table before */
	struct cwait cw;
	struct defer step;
	struct prefetch *pf;
	uint64_t pf_chunks, pf_bytes;
};

struct msave {
	struct work work;
	char *text;
	int err;
};

static struct {
	char *path;
	struct list_head list;
	unsigned int next_id, count;
	bool saving, save_again;
} mt = { .list = LIST_HEAD_INIT(mt.list), .next_id = 1 };

unsigned int mount_count(void)
{
	return mt.count;
}

struct mount *mount_find(const char *mountpoint)
{
	struct mount *m;

	list_for_each_entry(m, &mt.list, node)
		if (!strcmp(m->mountpoint, mountpoint))
			return m;
	return NULL;
}

void mounts_foreach(void (*fn)(struct mount *m, void *arg), void *arg)
{
	struct mount *m, *n;

	list_for_each_entry_safe(m, n, &mt.list, node)
		fn(m, arg);
}

bool mounts_use_digest(const uint8_t *digest)
{
	struct mount *m;
	uint32_t i;

	list_for_each_entry(m, &mt.list, node)
		for (i = 0; i < m->nblobs; i++)
			if (!memcmp(m->digests[i], digest, NYDUSFS_DIGEST_SIZE))
				return true;
	return false;
}

static void mount_free(struct mount *m)
{
	unsigned int i;

	for (i = 0; i < m->nsrcs; i++)
		source_put(m->srcs[i]);
	for (i = 0; m->blobs && i < m->nblobs; i++) {
		if (!m->blobs[i])
			continue;
		m->blobs[i]->mounts--;
		cache_blob_put(m->blobs[i]);
	}
	trace_free(m);
	free(m->srcs);
	free(m->blobs);
	free(m->digests);
	strv_free(&m->specs);
	free(m->mountpoint);
	free(m->bootstrap);
	free(m);
}

/* ---- the saved table ---- */

static json_t *mount_json(const struct mount *m)
{
	json_t *o = json_object(), *srcs = json_array(), *blobs = json_array();
	char hex[NFD_HEX_LEN];
	unsigned int i;

	for (i = 0; i < m->specs.n; i++)
		json_array_append_new(srcs, json_string(m->specs.v[i]));
	for (i = 0; i < m->nblobs; i++) {
		hex_digest(m->digests[i], hex);
		json_array_append_new(blobs, json_string(hex));
	}
	json_object_set_new(o, "id", json_integer(m->id));
	json_object_set_new(o, "mountpoint", json_string(m->mountpoint));
	json_object_set_new(o, "bootstrap", json_string(m->bootstrap));
	json_object_set_new(o, "sources", srcs);
	json_object_set_new(o, "blobs", blobs);
	json_object_set_new(o, "prefetch", json_boolean(m->prefetch));
	return o;
}

static void save_fn(struct work *w)
{
	struct msave *s = container_of(w, struct msave, work);

	s->err = write_file_atomic(mt.path, s->text, strlen(s->text));
}

static void mounts_save(void);

static void save_done(struct work *w)
{
	struct msave *s = container_of(w, struct msave, work);

	if (s->err)
		err("%s: %s", mt.path, strerror(-s->err));
	free(s->text);
	free(s);
	mt.saving = false;
	if (mt.save_again) {
		mt.save_again = false;
		mounts_save();
	}
}

/* One save at a time; the last state always gets written. */
static void mounts_save(void)
{
	json_t *root, *arr;
	struct msave *s;
	struct mount *m;

	if (!mt.path)
		return;
	if (mt.saving) {
		mt.save_again = true;
		return;
	}
	arr = json_array();
	list_for_each_entry(m, &mt.list, node)
		json_array_append_new(arr, mount_json(m));
	root = json_object();
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "registries", hosts_json());
	json_object_set_new(root, "mounts", arr);
	s = xzalloc(sizeof(*s));
	s->text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	if (!s->text) {
		free(s);
		return;
	}
	mt.saving = true;
	s->work.fn = save_fn;
	s->work.done = save_done;
	work_queue(&s->work);
}

/* ---- registering: the bootstrap is read in a worker ---- */

static int read_image(struct madd *a, struct nydusfs_image **imgp)
{
	char path[64];

	if (a->bfd >= 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", a->bfd);
		return nydusfs_image_open(path, imgp);
	}
	return nydusfs_image_open(a->m->bootstrap, imgp);
}

static int madd_blob(struct madd *a, const struct nydusfs_image *img,
		     uint32_t i)
{
	const struct nydusfs_blob *blob;
	uint32_t n, idx;
	int ret;

	ret = nydusfs_image_blob(img, i, &blob);
	if (!ret)
		ret = nydusfs_image_table_digest(img, i, a->tds[i]);
	if (ret)
		return ret;
	memcpy(a->dbs[i].digest, blob->digest, NYDUSFS_DIGEST_SIZE);
	a->dbs[i].compressed_size = le64_to_cpu(blob->compressed_size);
	a->dbs[i].uncompressed_size = le64_to_cpu(blob->uncompressed_size);
	n = le32_to_cpu(blob->chunk_count);
	idx = le32_to_cpu(blob->chunk_index);
	a->dbs[i].chunk_count = n;
	a->tables[i] = xzalloc((size_t)n * sizeof(struct nydusfs_chunk));
	memcpy(a->tables[i], img->chunks + idx,
	       (size_t)n * sizeof(struct nydusfs_chunk));
	return 0;
}

static void madd_fn(struct work *w)
{
	struct madd *a = container_of(w, struct madd, work);
	struct nydusfs_image *img;
	uint32_t i;
	int ret;

	ret = read_image(a, &img);
	if (ret) {
		a->err = ret;
		snprintf(a->msg, sizeof(a->msg), "bootstrap %s: %s",
			 a->m->bootstrap, strerror(-ret));
		return;
	}
	a->nblobs = img->blob_count;
	a->dbs = xzalloc(a->nblobs * sizeof(*a->dbs));
	a->tables = xzalloc(a->nblobs * sizeof(*a->tables));
	a->tds = xzalloc(a->nblobs * sizeof(*a->tds));
	for (i = 0; i < img->blob_count && !ret; i++)
		ret = madd_blob(a, img, i);
	if (ret) {
		a->err = ret;
		snprintf(a->msg, sizeof(a->msg), "bootstrap %s: bad blob table",
			 a->m->bootstrap);
	} else if (a->m->prefetch) {
		a->pf = prefetch_plan(img, cfg.prefetch_all, &a->pf_chunks,
				      &a->pf_bytes);
	}
	nydusfs_image_close(img);
}

/* The blobs a registration took (cache references, counted as users). */
static void madd_put_blobs(struct madd *a)
{
	uint32_t i;

	for (i = 0; a->blobs && i < a->nblobs; i++) {
		if (!a->blobs[i])
			continue;
		if (i >= a->cur)	/* not compared with its pin yet */
			cache_blob_registered(a->blobs[i]);
		a->blobs[i]->mounts--;
		cache_blob_put(a->blobs[i]);
	}
	free(a->blobs);
	a->blobs = NULL;
}

static void madd_free(struct madd *a)
{
	uint32_t i;

	if (a->bfd >= 0)
		close(a->bfd);
	madd_put_blobs(a);
	for (i = 0; i < a->nblobs; i++)
		free(a->tables[i]);
	free(a->tables);
	free(a->old_table);
	free(a->tds);
	free(a->dbs);
	free(a);
}

/* A mount loaded from the saved table whose bootstrap is unreadable
 * keeps its sources by digest: requests for its blobs still work. */
static void madd_attach(struct madd *a)
{
	struct mount *m = a->m;
	uint32_t i;

	if (a->blobs) {
		free(m->digests);
		m->nblobs = a->nblobs;
		m->digests = xzalloc(a->nblobs * sizeof(*m->digests));
		for (i = 0; i < a->nblobs; i++)
			memcpy(m->digests[i], a->dbs[i].digest,
			       NYDUSFS_DIGEST_SIZE);
		m->blobs = a->blobs;
		a->blobs = NULL;
	}
	trace_start(m);
	sources_changed();
	if (a->pf)
		prefetch_start(m, a->pf);
	a->pf = NULL;
}

static void madd_take_blobs(struct madd *a)
{
	uint32_t i;
	int err;

	a->blobs = xzalloc(a->nblobs * sizeof(*a->blobs));
	for (i = 0; i < a->nblobs; i++) {
		a->blobs[i] = cache_blob_get(&a->dbs[i], &err);
		if (!a->blobs[i])
			continue;
		a->blobs[i]->mounts++;
		a->blobs[i]->registering++;
	}
}

/* ---- pinning each blob's cache to this image's chunk table ---- */

/* Another registered mount than @self naming @digest, or NULL. */
static struct mount *other_mount(const struct mount *self,
				 const uint8_t *digest)
{
	struct mount *m;
	uint32_t i;

	list_for_each_entry(m, &mt.list, node)
		for (i = 0; m != self && i < m->nblobs; i++)
			if (!memcmp(m->digests[i], digest, NYDUSFS_DIGEST_SIZE))
				return m;
	return NULL;
}

static bool all_zero(const uint8_t *d)
{
	uint32_t i;

	for (i = 0; i < NYDUSFS_DIGEST_SIZE; i++)
		if (d[i])
			return false;
	return true;
}

/* -EBUSY, and why in a->msg: another user holds @b under another table. */
static int pin_conflict(struct madd *a, struct cblob *b)
{
	const struct mount *o = other_mount(a->m, b->digest);
	char mine[NFD_HEX_LEN], theirs[NFD_HEX_LEN];

	hex_digest(a->tds[a->cur], mine);
	hex_digest(b->pin, theirs);
	snprintf(a->msg, sizeof(a->msg),
		 "blob %s: this image's chunk table (%.16s) differs from the one %s%s uses (%.16s): one of the two images lies about this blob; unmount the other first",
		 b->hex, mine, o ? "the mount at " : "a kernel mount",
		 o ? o->mountpoint : "", theirs);
	return -EBUSY;
}

/* Take this image's table for @b: readahead, prefetch, READ checks;
 * the old one is kept until the pin is done. */
static void pin_take_table(struct madd *a, struct cblob *b)
{
	free(a->old_table);
	a->old_table = b->table;
	b->table = a->tables[a->cur];
	a->tables[a->cur] = NULL;
}

/* Our pin failed: the table of the pin that stays. */
static int pin_failed(struct madd *a, struct cblob *b)
{
	int err = b->pin_err ? b->pin_err : -EIO;

	free(b->table);
	b->table = all_zero(b->pin) ? NULL : a->old_table;
	if (b->table == a->old_table)
		a->old_table = NULL;
	if (err == -EBUSY)
		snprintf(a->msg, sizeof(a->msg),
			 "blob %s: its cache holds another image's chunks and its cache file is open elsewhere (a kernel mount made before the daemon started?): unmount the other image first",
			 b->hex);
	else
		snprintf(a->msg, sizeof(a->msg), "cache %s: pinning: %s",
			 b->hex, strerror(-err));
	return err;
}

/*
 * Blob a->cur, open: 0 if its cache is pinned to this image's table, 1 if
 * a pin (or reset) was started (a->cw runs when done), -errno with the
 * reason in a->msg.
 */
static int pin_check(struct madd *a, struct cblob *b)
{
	const uint8_t *td = a->tds[a->cur];
	bool reset = !all_zero(b->pin);
	char old[NFD_HEX_LEN], new[NFD_HEX_LEN];

	if (!memcmp(b->pin, td, NYDUSFS_DIGEST_SIZE)) {
		if (!b->table)
			pin_take_table(a, b);
		return 0;
	}
	if (a->pinning)
		return pin_failed(a, b);
	if (reset && (b->mounts > 1 || b->kernel_objects ||
		      other_mount(a->m, b->digest)))
		return pin_conflict(a, b);
	if (reset && b->refs > 1) {
		snprintf(a->msg, sizeof(a->msg),
			 "blob %s: its cache is still busy with another image's fetches; try again",
			 b->hex);
		return -EAGAIN;
	}
	hex_digest(b->pin, old);
	hex_digest(td, new);
	if (reset)
		warn("cache %s: %s names it with chunk table %s, the cache holds chunks of table %s: dropping them",
		     b->hex, a->m->bootstrap, new, old);
	pin_take_table(a, b);
	a->pinning = true;
	cache_blob_pin(b, td, reset, &a->cw);
	return 1;
}

static void madd_finish(struct madd *a, int err);

/* One blob at a time: each may wait for its open, then for its pin. */
static void madd_step(struct madd *a)
{
	struct cblob *b;
	int ret;

	for (; a->cur < a->nblobs; a->cur++, a->pinning = false) {
		b = a->blobs[a->cur];
		if (!b)
			continue;
		if (b->state == CB_OPENING) {
			cache_blob_wait(b, &a->cw);
			return;
		}
		ret = b->state == CB_FAILED ? 0 : pin_check(a, b);
		if (ret == 1)
			return;
		if (ret && !a->load) {
			madd_finish(a, ret);
			return;
		}
		if (ret)
			warn("mount %s: %s (its reads of this blob are refused)",
			     a->m->mountpoint, a->msg);
		cache_blob_registered(b);
	}
	madd_finish(a, 0);
}

static void madd_step_defer(struct defer *d)
{
	madd_step(container_of(d, struct madd, step));
}

/* After the waker is done: it may hold the blob (an open's reference). */
static void madd_wake(struct cwait *cw, int err)
{
	(void)err;		/* a failed open: the blob is skipped */
	defer_call(&container_of(cw, struct madd, cw)->step);
}

static void madd_loaded(struct madd *a)
{
	struct mount *m = a->m;

	m->loading = false;
	if (m->removed) {
		mount_free(m);
		madd_free(a);
		return;
	}
	if (a->err)
		warn("mount %s: %s (its sources still serve its blobs)",
		     m->mountpoint, a->msg);
	madd_attach(a);
	madd_free(a);
}

/* -EBUSY with the message if the mountpoint is registered meanwhile */
static int madd_registered_twice(struct madd *a)
{
	if (!mount_find(a->m->mountpoint))
		return 0;
	snprintf(a->msg, sizeof(a->msg), "%s: already registered",
		 a->m->mountpoint);
	return -EBUSY;
}

static void madd_finish(struct madd *a, int err)
{
	struct mount *m = a->m;

	if (a->load) {
		madd_loaded(a);
		return;
	}
	if (!err)
		err = madd_registered_twice(a);
	if (err) {
		a->cb(a->arg, NULL, err, a->msg);
		mount_free(m);
		madd_free(a);
		return;
	}
	list_add_tail(&m->node, &mt.list);
	mt.count++;
	madd_attach(a);
	info("mount %u: %s: %s, %u blobs, %llu chunks to prefetch", m->id,
	     m->mountpoint, m->bootstrap, m->nblobs,
	     (unsigned long long)a->pf_chunks);
	mounts_save();
	a->cb(a->arg, m, 0, NULL);
	madd_free(a);
}

static void madd_done(struct work *w)
{
	struct madd *a = container_of(w, struct madd, work);

	if (a->load && (a->err || a->m->removed)) {
		madd_loaded(a);
		return;
	}
	if (!a->err && !a->load)
		a->err = madd_registered_twice(a);
	if (a->err) {
		madd_finish(a, a->err);
		return;
	}
	madd_take_blobs(a);
	a->cw.fn = madd_wake;
	INIT_LIST_HEAD(&a->step.node);
	a->step.fn = madd_step_defer;
	madd_step(a);
}
static struct mount *mount_new(const char *mountpoint, const char *bootstrap,
			       bool prefetch)
{
	struct mount *m = xzalloc(sizeof(*m));

	INIT_LIST_HEAD(&m->node);
	m->mountpoint = xstrdup(mountpoint);
	m->bootstrap = xstrdup(bootstrap);
	m->prefetch = prefetch;
	m->registered_at = wall_time();
	m->trace.since = m->registered_at;	/* trace_start() at attach */
	return m;
}

void mount_add(const struct mount_req *req, mount_cb cb, void *arg)
{
	struct madd *a = xzalloc(sizeof(*a));
	struct mount *m;
	unsigned int i;
	char msg[256];

	if (mount_find(req->mountpoint)) {
		snprintf(msg, sizeof(msg), "%s: already registered",
			 req->mountpoint);
		free(a);
		cb(arg, NULL, -EBUSY, msg);
		return;
	}
	m = mount_new(req->mountpoint, req->bootstrap,
		      req->prefetch && cfg.prefetch);
	m->id = mt.next_id++;
	for (i = 0; i < req->specs.n; i++) {
		strv_add(&m->specs, req->specs.v[i]);
		if (source_parse(req->specs.v[i],
				 req->dirfds ? req->dirfds[i] : -1,
				 &m->srcs, &m->nsrcs)) {
			snprintf(msg, sizeof(msg), "bad source '%s'",
				 req->specs.v[i]);
			mount_free(m);
			free(a);
			cb(arg, NULL, -EINVAL, msg);
			return;
		}
	}
	a->m = m;
	a->cb = cb;
	a->arg = arg;
	a->bfd = req->bootstrap_fd >= 0 ?
		 fcntl(req->bootstrap_fd, F_DUPFD_CLOEXEC, 3) : -1;
	a->work.fn = madd_fn;
	a->work.done = madd_done;
	work_queue(&a->work);
}

int mount_remove(const char *mountpoint)
{
	struct mount *m = mount_find(mountpoint);

	if (!m)
		return -ENOENT;
	prefetch_stop(m);
	list_del_init(&m->node);
	mt.count--;
	info("mount %u: %s: unregistered", m->id, m->mountpoint);
	if (m->loading)
		m->removed = true;	/* freed when its bootstrap is read */
	else
		mount_free(m);
	sources_changed();
	mounts_save();
	return 0;
}

/* ---- loading the saved table, at start ---- */

static int load_one(json_t *o)
{
	json_t *srcs = json_object_get(o, "sources");
	json_t *blobs = json_object_get(o, "blobs");
	const char *mp = json_string_value(json_object_get(o, "mountpoint"));
	const char *bs = json_string_value(json_object_get(o, "bootstrap"));
	struct madd *a;
	struct mount *m;
	size_t i;

	if (!mp || !bs || !json_is_array(srcs) || !json_is_array(blobs))
		return -EINVAL;
	m = mount_new(mp, bs, json_is_true(json_object_get(o, "prefetch")));
	m->id = json_integer_value(json_object_get(o, "id"));
	if (m->id >= mt.next_id)
		mt.next_id = m->id + 1;
	for (i = 0; i < json_array_size(srcs); i++) {
		const char *spec = json_string_value(json_array_get(srcs, i));

		if (!spec)
			continue;
		strv_add(&m->specs, spec);
		if (source_parse(spec, -1, &m->srcs, &m->nsrcs))
			warn("mount %s: source '%s' unusable", mp, spec);
	}
	m->nblobs = json_array_size(blobs);
	m->digests = xzalloc((m->nblobs + 1) * sizeof(*m->digests));
	for (i = 0; i < m->nblobs; i++) {
		const char *hex = json_string_value(json_array_get(blobs, i));

		if (!hex || nydusfs_hex_to_digest(hex, m->digests[i]))
			warn("mount %s: bad blob digest in the saved table", mp);
	}
	list_add_tail(&m->node, &mt.list);
	mt.count++;
	m->loading = true;
	/* chunk tables and prefetch: from the bootstrap, asynchronously */
	a = xzalloc(sizeof(*a));
	a->m = m;
	a->bfd = -1;
	a->load = true;
	a->work.fn = madd_fn;
	a->work.done = madd_done;
	work_queue(&a->work);
	return 0;
}

int mounts_init(const char *state_dir)
{
	json_error_t jerr;
	json_t *root, *arr;
	struct stat st;
	size_t i;
	int ret;

	ret = mkdir_p(state_dir);
	if (ret) {
		err("state dir %s: %s", state_dir, strerror(-ret));
		return ret;
	}
	mt.path = xasprintf("%s/mounts.json", state_dir);
	if (stat(mt.path, &st))
		return 0;
	root = json_load_file(mt.path, 0, &jerr);
	if (!root) {
		warn("%s:%d: %s: starting with no registered mount", mt.path,
		     jerr.line, jerr.text);
		return 0;
	}
	hosts_load(json_object_get(root, "registries"));
	arr = json_object_get(root, "mounts");
	for (i = 0; i < json_array_size(arr); i++)
		if (load_one(json_array_get(arr, i)))
			warn("%s: mount %zu: malformed, skipped", mt.path, i);
	json_decref(root);
	sources_changed();
	info("%u registered mounts restored", mt.count);
	return 0;
}

void mounts_exit(void)
{
	struct mount *m, *n;

	list_for_each_entry_safe(m, n, &mt.list, node) {
		prefetch_stop(m);
		list_del_init(&m->node);
		if (!m->loading)
			mount_free(m);
	}
	free(mt.path);
	mt.path = NULL;
}
