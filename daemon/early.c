// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: early fetches, a blob's first bytes fetched before any image
 * naming it is registered.
 *
 * `nydusfs convert --prefetch-list` lays a startup profile's chunks out
 * at the start of the blob, in first-use order, and notes how many
 * compressed bytes they take on the blob's layer in the manifest.
 * `nydusfs mount REF` reads that from the manifest, before it has the
 * bootstrap, and asks for those bytes at once (the "early" request): they
 * download while the bootstrap does, instead of after the registration.
 *
 * The bytes are not trusted.  They wait in memory, raw, and only carry
 * the ranges fetch.c starts for the blob once an image is registered
 * (start_range() -> early_take()): a range that lies within an early
 * fetch's bytes is fed from them as they arrive, and each of its chunks
 * is then checked against the registered image's table like any other.
 * A range the early bytes do not cover, or one whose early fetch failed,
 * goes to its blob's source.
 *
 * Bounded: at most EARLY_MAX_BYTES held in all (a request for more keeps
 * its first bytes, the first to be read), one early fetch per blob, none
 * for a blob in use or with data in the cache directory (it likely holds
 * the profile already), and each is dropped EARLY_TTL_MS after it ended.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nydusfsd.h"

#define EARLY_MAX_BYTES	(64ULL << 20)
#define EARLY_TTL_MS	60000

struct early {
	struct list_head node;
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	char hex[NFD_HEX_LEN];
	uint8_t *buf;
	uint64_t len, got;		/* bytes [0, got) of [0, len) arrived */
	int err;
	bool ended;
	bool bad;			/* a chunk of it failed its check */
	struct range req;		/* its own request */
	struct range **fed;		/* ranges waiting for its bytes */
	unsigned int nfed, capfed;
	struct defer feed;
	struct timer expire;
	uint64_t t_start;		/* now_ms() */
};

static LIST_HEAD(earlies);
static uint64_t held;			/* bytes of every early's buffer */
struct early_stats estats;

static struct early *early_find(const uint8_t *digest)
{
	struct early *e;

	list_for_each_entry(e, &earlies, node)
		if (!memcmp(e->digest, digest, NYDUSFS_DIGEST_SIZE))
			return e;
	return NULL;
}

static void early_free(struct early *e)
{
	list_del_init(&e->node);
	timer_cancel(&e->expire);
	defer_cancel(&e->feed);
	if (!e->ended && e->req.src->ops->cancel)
		e->req.src->ops->cancel(&e->req);
	source_put(e->req.src);
	held -= e->len;
	free(e->fed);
	free(e->buf);
	free(e);
}

static void unfeed(struct early *e, unsigned int i)
{
	e->fed[i] = e->fed[--e->nfed];
}

/*
 * Hand every waiting range the bytes it can have; complete those that
 * have them all, and send those the early fetch cannot serve any more
 * (it failed) to their own source, from where they are.
 */
static void early_feed(struct early *e)
{
	struct range *r;
	uint64_t end;
	unsigned int i = 0;

	while (i < e->nfed) {
		r = e->fed[i];
		end = e->got < range_end(r) ? e->got : range_end(r);
		if (r->pos < end)
			range_data(r, e->buf + r->pos, end - r->pos);
		if (r->cur >= r->njobs) {
			unfeed(e, i);
			estats.served_ranges++;
			range_done(r, 0);
		} else if (e->ended) {
			unfeed(e, i);
			r->early = NULL;
			r->fed = false;
			range_resume(r);
			range_send(r);
		} else {
			i++;
		}
	}
}

/* Out of the loop's callbacks: a bad early fetch ends here. */
static void feed_fn(struct defer *d)
{
	struct early *e = container_of(d, struct early, feed);

	if (e->bad && !e->ended) {
		if (e->req.src->ops->cancel)
			e->req.src->ops->cancel(&e->req);
		e->ended = true;
		e->err = -EBADMSG;
		timer_arm(&e->expire, EARLY_TTL_MS);
	}
	early_feed(e);
}

static void expire_fn(struct timer *t)
{
	struct early *e = container_of(t, struct early, expire);

	if (e->nfed)
		timer_arm(t, EARLY_TTL_MS);
	else
		early_free(e);
}

/* ---- its own request: the backend's callbacks, through fetch.c ---- */

void early_data(struct range *r, const void *data, size_t len)
{
	struct early *e = r->early;

	if (len > e->len - e->got)
		len = e->len - e->got;
	memcpy(e->buf + e->got, data, len);
	e->got += len;
	r->pos += len;
	r->src->m.bytes += len;
	estats.bytes += len;
	early_feed(e);
}

uint64_t early_resume(struct range *r)
{
	r->pos = r->early->got;
	return r->pos;
}

void early_done(struct range *r, int err)
{
	struct early *e = r->early;

	if (!err && e->got < e->len)
		err = -EIO;
	e->ended = true;
	e->err = err;
	metrics_lat_observe(&r->src->m, now_us() - r->t_start);
	if (err) {
		r->src->m.errors++;
		estats.failed++;
		warn("blob %s: early fetch from %s: %s (after %llu of %llu bytes); its ranges go to their sources",
		     e->hex, r->src->name, strerror(-err),
		     (unsigned long long)e->got, (unsigned long long)e->len);
	} else {
		dbg("blob %s: early fetch of %llu bytes done in %llu ms",
		    e->hex, (unsigned long long)e->len,
		    (unsigned long long)(now_ms() - e->t_start));
	}
	early_feed(e);
	timer_arm(&e->expire, EARLY_TTL_MS);
}

/* ---- starting one, and serving ranges from it ---- */

/* The first source not marked down, or the last one. */
static struct source *pick_source(struct source **srcs, unsigned int n)
{
	uint64_t now = now_ms();
	unsigned int i;

	for (i = 0; i + 1 < n && srcs[i]->down_until > now; i++)
		;
	return srcs[i];
}

int early_start(const uint8_t *digest, uint64_t len, struct source **srcs,
		unsigned int n, uint64_t *taken)
{
	struct early *e;
	int ret;

	*taken = 0;
	if (!n || !len)
		return -EINVAL;
	if (early_find(digest) || cache_blob_find(digest) ||
	    mounts_use_digest(digest))
		return -EEXIST;
	if (cache_blob_on_disk(digest))
		return -EALREADY;
	if (held >= EARLY_MAX_BYTES)
		return -ENOSPC;
	if (len > EARLY_MAX_BYTES - held)
		len = EARLY_MAX_BYTES - held;
	e = xzalloc(sizeof(*e));
	e->buf = malloc(len);
	if (!e->buf) {
		free(e);
		return -ENOMEM;
	}
	memcpy(e->digest, digest, NYDUSFS_DIGEST_SIZE);
	hex_digest(digest, e->hex);
	e->len = len;
	e->feed.fn = feed_fn;
	INIT_LIST_HEAD(&e->feed.node);
	e->expire.fn = expire_fn;
	INIT_LIST_HEAD(&e->expire.node);
	e->t_start = now_ms();
	e->req.digest = e->digest;
	e->req.hex = e->hex;
	e->req.src = source_get(pick_source(srcs, n));
	e->req.len = len;
	e->req.prio = PRIO_READAHEAD;
	e->req.early = e;
	e->req.t_start = now_us();
	INIT_LIST_HEAD(&e->req.node);
	list_add_tail(&e->node, &earlies);
	held += len;
	e->req.src->m.requests++;
	ret = e->req.src->ops->start(&e->req);
	if (ret) {
		e->ended = true;
		e->req.src->m.errors++;
		early_free(e);
		return ret;
	}
	estats.started++;
	dbg("blob %s: early fetch of %llu bytes from %s", e->hex,
	    (unsigned long long)len, e->req.src->name);
	*taken = len;
	return 0;
}

bool early_take(struct range *r)
{
	struct early *e = early_find(r->digest);

	if (!e || e->bad || (e->ended && e->err) || range_end(r) > e->len)
		return false;
	if (e->nfed == e->capfed) {
		e->capfed = e->capfed ? 2 * e->capfed : 8;
		e->fed = realloc(e->fed, e->capfed * sizeof(*e->fed));
		if (!e->fed) {
			err("out of memory");
			abort();
		}
	}
	e->fed[e->nfed++] = r;
	r->early = e;
	r->fed = true;
	defer_call(&e->feed);
	return true;
}

void early_drop(const uint8_t *digest)
{
	struct early *e = early_find(digest);

	if (!e || e->bad)
		return;
	warn("blob %s: a chunk of its early bytes from %s failed its check: the rest goes to its sources",
	     e->hex, e->req.src->name);
	e->bad = true;
	estats.failed++;
	defer_call(&e->feed);
}

struct source *early_source(const struct early *e)
{
	return e->req.src;
}

uint64_t early_held(void)
{
	return held;
}

unsigned int early_count(void)
{
	unsigned int n = 0;
	struct early *e;

	list_for_each_entry(e, &earlies, node)
		n++;
	return n;
}

void early_exit(void)
{
	struct early *e, *n;

	list_for_each_entry_safe(e, n, &earlies, node) {
		e->nfed = 0;	/* fetch_exit() leaves its ranges be */
		early_free(e);
	}
}
