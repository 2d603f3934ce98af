/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nydusfsd: the cache daemon behind /dev/nydusfs.  Everything runs on one
 * event loop (loop.c, io_uring); a small worker pool (work.c) takes the
 * CPU-heavy chunk verification and the rare blocking file operations.
 * Documentation/nydusfsd.rst describes the design; this header doubles as
 * the map of the sources, grouped by file.
 */
#ifndef NYDUSFSD_H
#define NYDUSFSD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "list.h"
#include "nydusfs_dev.h"
#include "nydusfs_fs.h"

#define NFD_HEX_LEN	(2 * NYDUSFS_DIGEST_SIZE + 1)
#define NFD_MAX_CHUNK	(1U << NYDUSFS_MAX_CHUNKSZBITS)

/* ---- util.c: logging, small helpers ---- */

enum { LOG_ERR_, LOG_WARN_, LOG_INFO_, LOG_DBG_ };
extern int nfd_log_level;
void nfd_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define err(...)	nfd_log(LOG_ERR_, __VA_ARGS__)
#define warn(...)	nfd_log(LOG_WARN_, __VA_ARGS__)
#define info(...)	nfd_log(LOG_INFO_, __VA_ARGS__)
#define dbg(...)	nfd_log(LOG_DBG_, __VA_ARGS__)
int nfd_log_level_by_name(const char *name);

void *xzalloc(size_t size);		/* aborts on ENOMEM, never NULL */
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t now_ms(void);			/* CLOCK_MONOTONIC */
uint64_t now_us(void);
uint64_t thread_cpu_ns(void);
double wall_time(void);			/* CLOCK_REALTIME, seconds */
void hex_digest(const uint8_t *digest, char hex[NFD_HEX_LEN]);
/* "12", "4K", "16M", "2G", "1T" (powers of 1024); 0 or -EINVAL */
int parse_size(const char *s, uint64_t *out);
int parse_uint(const char *s, uint64_t max, uint64_t *out);
int parse_bool(const char *s, bool *out);
/* Write @len bytes of @buf to @path atomically (tmp + fsync + rename). */
int write_file_atomic(const char *path, const void *buf, size_t len);
/* @path and its parents; the last one 0700. */
int mkdir_p(const char *path);

struct strv {
	char **v;
	unsigned int n;
};
void strv_add(struct strv *sv, const char *s);
void strv_free(struct strv *sv);

/* ---- loop.c: the event loop ---- */

/* One io_uring operation; its completion calls @cb with the result. */
struct ev {
	void (*cb)(struct ev *ev, int res);
};

struct timer {
	struct list_head node;
	uint64_t when;		/* now_ms() deadline */
	bool armed;
	void (*fn)(struct timer *t);
};

/* A call made once at the end of the current loop iteration. */
struct defer {
	struct list_head node;
	bool queued;
	void (*fn)(struct defer *d);
};

int loop_init(unsigned int entries);
void loop_exit(void);
int loop_run(void);			/* until loop_stop() */
void loop_stop(void);
bool loop_stopping(void);
void loop_poll(struct ev *ev, int fd, unsigned int events);
void loop_cancel(struct ev *target);	/* cancels a poll (or any op) */
void loop_read(struct ev *ev, int fd, void *buf, size_t len, uint64_t off);
void loop_write(struct ev *ev, int fd, const void *buf, size_t len,
		uint64_t off);
void loop_fsync(struct ev *ev, int fd, bool datasync);
void loop_openat(struct ev *ev, int dirfd, const char *name, int flags,
		 int mode);
void loop_unlinkat(struct ev *ev, int dirfd, const char *name);
void timer_arm(struct timer *t, uint64_t delay_ms);
void timer_cancel(struct timer *t);
void defer_call(struct defer *d);
void defer_cancel(struct defer *d);

/* ---- work.c: worker threads ---- */

struct work {
	struct list_head node;
	void (*fn)(struct work *w);	/* in a worker thread */
	void (*done)(struct work *w);	/* back on the loop */
};

int work_init(unsigned int threads);
void work_exit(void);
void work_queue(struct work *w);
unsigned int work_pending(void);

/* ---- config.c: /etc/nydusfs/nydusfsd.conf ---- */

struct cfg_host {
	struct cfg_host *next;
	char *host;		/* "name[:port]" as written in references */
	char *scheme;		/* "https" or "http" */
	char *ca_file;
	bool tls_verify;
	char *username;
	char *password;
	struct strv mirrors;	/* base URLs, tried in order before @host */
	bool runtime;		/* from a mount request (hosts.c), not the file */
};

struct config {
	char *path;
	/* [daemon] */
	char *device;
	char *socket;
	char *state_dir;
	int log_level;
	unsigned int workers;
	unsigned int trace_limit;	/* chunks a mount's trace keeps */
	char *metrics_listen;	/* "127.0.0.1:PORT" or NULL */
	/* [cache] */
	char *cache_dir;
	uint64_t cache_limit;	/* bytes, 0: no limit */
	bool cache_sync;
	unsigned int gc_interval;	/* seconds */
	/* [fetch] */
	unsigned int max_inflight;
	uint64_t merge_limit;
	uint64_t readahead;
	unsigned int retries;
	unsigned int retry_base_ms;
	unsigned int retry_max_ms;
	unsigned int connect_timeout;
	unsigned int stall_timeout;
	unsigned int request_timeout;
	/* [prefetch] */
	bool prefetch;
	bool prefetch_all;
	uint64_t prefetch_bandwidth;	/* bytes per second, 0: unlimited */
	unsigned int prefetch_inflight;
	/* [sources] */
	struct strv localfs;
	struct strv registry;
	/* [registry] and [registry "HOST"] */
	char *auth_file;
	char *ca_file;
	struct cfg_host *hosts;
};

extern struct config cfg;

void config_defaults(struct config *c);
/* 0, or -EINVAL after printing "FILE:LINE: reason" on stderr */
int config_load(const char *path, struct config *c);
int config_parse(const char *name, const char *text, struct config *c);
void config_free(struct config *c);
const struct cfg_host *config_host(const struct config *c, const char *host);

/* ---- hosts.c: registry settings that come with mount requests ---- */

struct json_t;
/* Apply the "registry" object of a mount request's source for @host. */
int hosts_apply(const char *host, struct json_t *settings, char *msg,
		size_t len);
struct json_t *hosts_json(void);	/* for the saved mount table */
void hosts_load(struct json_t *arr);	/* from it, at start */

/* ---- cache.c: cache files and chunk maps ---- */

enum { CB_OPENING, CB_READY, CB_FAILED };

/* Somebody waiting for a blob to be open (or to fail). */
struct cwait {
	struct list_head node;
	void (*fn)(struct cwait *w, int err);
};

/* One write of a chunk's data into a cache file. */
struct cwrite {
	struct ev ev;
	struct cblob *blob;
	uint32_t index;
	const uint8_t *buf;
	size_t len, done;
	uint64_t off;
	void (*fn)(struct cwrite *w, int err);
};

/* A blob's cache file, chunk map and in-memory state, by digest. */
struct cblob {
	struct list_head node;
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	char hex[NFD_HEX_LEN];
	uint64_t csize, usize;
	uint32_t nchunks;
	int refs;
	int state;
	int error;
	struct list_head waiters;
	struct work open_work;
	bool rebuilt;			/* the chunk map was made anew */
	/* the table digest the chunks were verified against (the chunk
	 * map's pin), all zero if none; what cache_blob_pin() writes */
	uint8_t pin[NYDUSFS_DIGEST_SIZE], pin_want[NYDUSFS_DIGEST_SIZE];
	bool pin_reset, pin_cleared;	/* a reset; it cleared the map */
	int pin_err;			/* of the last cache_blob_pin() */
	/* registrations that have yet to compare their table with the pin,
	 * and the READs that wait for them (no table known yet) */
	unsigned int registering;
	struct list_head pinwait;
	int data_fd, map_fd;
	uint8_t *present;		/* written, readable (page cache) */
	uint8_t *durable;		/* data fdatasync'ed: as in the map */
	/* chunks written but not yet fdatasync'ed, and being synced */
	uint32_t *unsynced, nunsynced, cap_unsynced;
	uint32_t *syncing, nsyncing, cap_syncing;
	bool sync_busy;
	struct ev sync_ev;
	/* chunk map writes, one at a time, of the dirty byte range */
	uint32_t dirty_lo, dirty_hi;
	bool map_busy, map_unsynced, mapsync_busy;
	uint8_t *map_wbuf;
	uint32_t map_wlo, map_wlen;
	struct ev map_ev, mapsync_ev;
	struct list_head barrier;	/* cwaits for the map to be durable */
	uint64_t last_used;		/* now_ms() */
	/* the pinned chunk table, from a registered image (else NULL):
	 * readahead, prefetch and the check of every READ use it */
	struct nydusfs_chunk *table;
	uint32_t ra_next, ra_window, ra_frontier;
	uint32_t ra_run;		/* READs in order so far */
	/* chunks prefetch asked for (NULL: none): their READs are no stream */
	uint8_t *prefetched;
	/* sources, rebuilt when the mount table changes */
	struct source **srcs;
	unsigned int nsrcs, srcs_gen;
	unsigned int kernel_objects;
	unsigned int mounts;		/* registered mounts naming it */
	bool evicting;
};

int cache_init(const char *dir);
void cache_exit(void);
/* The blob, made and opened (asynchronously) on first use; a reference. */
struct cblob *cache_blob_get(const struct nydusfs_dev_blob *db, int *err);
struct cblob *cache_blob_find(const uint8_t *digest);
/* Does the cache directory hold data of blob @digest (not open now)? */
bool cache_blob_on_disk(const uint8_t *digest);
void cache_blob_put(struct cblob *b);
void cache_blob_wait(struct cblob *b, struct cwait *w);
/* Wait until no registration is about to give @b its table. */
void cache_blob_wait_table(struct cblob *b, struct cwait *w);
/* A registration is done comparing its table with @b's pin. */
void cache_blob_registered(struct cblob *b);
static inline bool chunk_bit(const uint8_t *map, uint32_t i)
{
	return map[i / 8] & (1U << (i % 8));
}
void cache_write_chunk(struct cwrite *w);
/*
 * Pin READY @b to table digest @td (its chunk map header); with @reset
 * drop its chunks first: only when nothing else holds @b.  Meanwhile @b
 * waits like one opening; @w runs when it is done, with b->pin_err 0 or
 * -errno (-EBUSY: the cache file is open elsewhere).
 */
void cache_blob_pin(struct cblob *b, const uint8_t *td, bool reset,
		    struct cwait *w);
/* Forget chunk @index (a REFETCH); @w runs once that is durable. */
void cache_clear_chunk(struct cblob *b, uint32_t index, struct cwait *w);
void cache_sync_all(void);		/* at exit, blocking */
void cache_foreach(void (*fn)(struct cblob *b, void *arg), void *arg);
unsigned int cache_blob_count(void);
/* Chunk map file format (exposed for the tests) */
#define CHUNKMAP_MAGIC		"NYDFSMAP"
#define CHUNKMAP_VERSION	2
#define CHUNKMAP_HDR_SIZE	4096
int chunkmap_load(int fd, const struct cblob *b, uint8_t *bitmap,
		  uint8_t pin[NYDUSFS_DIGEST_SIZE]);
int chunkmap_create(int fd, const struct cblob *b);	/* with b->pin */
int chunkmap_write_hdr(int fd, const struct cblob *b);
/* usage and garbage collection */
struct cache_usage {
	uint64_t bytes;		/* allocated on disk */
	uint64_t blobs;
	uint64_t in_use;
	uint64_t evicted, evicted_bytes;
};
typedef void (*cache_gc_cb)(void *arg, const struct cache_usage *u, int err);
/* Evict LRU unused blobs until usage <= @limit (~0: report only) */
void cache_gc(uint64_t limit, cache_gc_cb cb, void *arg);

/* ---- source.c: where blobs come from ---- */

struct range;
struct early;

struct backend_ops {
	const char *kind;
	/* Fetch r->off .. r->off + r->len of the blob: range_data(), then
	 * range_done() once; 0 or -errno (then range_done() is not called) */
	int (*start)(struct range *r);
	void (*cancel)(struct range *r);
	void (*free)(struct source *s);
};

#define LAT_BUCKETS 12
enum { HTTP_V1_0, HTTP_V1_1, HTTP_V2, HTTP_V3, NR_HTTP_VERSIONS };
struct src_metrics {
	uint64_t bytes, chunks, requests, errors, retries, verify_failures;
	uint64_t lat_count, lat_bucket[LAT_BUCKETS];
	double lat_sum;
	/* HTTP backends: connections opened, answers by HTTP version */
	uint64_t connects, http_responses[NR_HTTP_VERSIONS];
};

struct source {
	struct list_head node;
	int refs;
	const struct backend_ops *ops;
	char *name;		/* for logs and metrics; never a credential */
	void *priv;
	struct src_metrics m;
	uint64_t down_until;	/* now_ms(): skipped until then */
};

/* "localfs:DIR", a directory path, or "registry:HOST/NAME" / "HOST/NAME";
 * a registry expands to its mirrors then itself.  Appends to @out. */
int source_parse(const char *spec, int dirfd, struct source ***out,
		 unsigned int *n);
struct source *source_get(struct source *s);
void source_put(struct source *s);
int sources_global_init(void);
void sources_add_global(struct source *s);	/* takes the reference */
void sources_exit(void);
/* A new source, with one reference, listed for metrics. */
void sources_register(struct source *s);
void sources_foreach(void (*fn)(struct source *s, void *arg), void *arg);
/* The sources to try for @b, in order; rebuilt when mounts change. */
unsigned int blob_sources(struct cblob *b, struct source ***out);
void sources_changed(void);
void source_note_latency(struct source *s, uint64_t us);

struct source *localfs_new(const char *dir, int dirfd);
struct source *registry_new(const char *ref, const char *mirror);
int registry_init(void);
void registry_exit(void);

/* ---- fetch.c: chunk fetch scheduling ---- */

enum { PRIO_DEMAND, PRIO_READAHEAD, PRIO_PREFETCH, NR_PRIO };

/* Somebody waiting for a chunk. */
struct fwait {
	struct list_head node;
	void (*fn)(struct fwait *w, int err);
};

/* One chunk being fetched, however many wait for it. */
struct job {
	struct list_head hnode, qnode, waiters;
	struct cblob *blob;
	uint32_t index;
	struct nydusfs_dev_chunk desc;
	int prio, state;
	unsigned int src;		/* next source to try */
	int last_err;
	bool refetch, queued;
	bool fed;			/* its bytes came from an early fetch */
	uint8_t *cbuf;			/* compressed bytes, while verifying */
	uint8_t *ubuf;			/* uncompressed bytes, while writing */
	struct source *from;
	struct work vwork;
	int verr;
	uint64_t verify_ns;		/* CPU time of verify_fn */
	struct cwait clear;
	struct cwrite cw;
};

/* One ranged request: adjacent chunks of one blob from one source. */
struct range {
	struct list_head node;
	struct cblob *blob;		/* NULL for an early fetch's */
	const uint8_t *digest;		/* the blob's, what backends name */
	const char *hex;
	struct source *src;
	uint64_t off, len;		/* compressed bytes in the blob file */
	struct job **jobs;
	uint32_t njobs, cur;
	uint32_t first, last;		/* chunk indexes, for logs */
	uint64_t pos;			/* bytes before it consumed */
	int prio;
	uint64_t t_start;		/* now_us() */
	void *priv;			/* the backend's */
	struct early *early;		/* an early fetch's own request, or
					 * the early fetch feeding this one */
	bool fed;			/* bytes from an early fetch's buffer */
};

int fetch_init(void);
void fetch_exit(void);
/*
 * Make chunk @index of @b present: 1 if it is already, 0 if @w is called
 * later, -errno.  @desc is trusted to have been checked.
 */
int fetch_chunk(struct cblob *b, uint32_t index,
		const struct nydusfs_dev_chunk *desc, int prio, bool refetch,
		struct fwait *w);
/* A READ of chunk @index: readahead when the reads look sequential. */
void fetch_readahead(struct cblob *b, uint32_t index);
void fetch_kick(void);
/* Backends hand their bytes here. */
void range_data(struct range *r, const void *buf, size_t len);
void range_done(struct range *r, int err);
/* Where to resume after a failed attempt; drops a partial chunk. */
uint64_t range_resume(struct range *r);
/* Send @r to its source from r->pos (fetch.c, early.c). */
void range_send(struct range *r);
uint64_t range_end(const struct range *r);
/* Does @r still wait for a chunk (or, an early fetch's, for bytes)? */
bool range_wants(const struct range *r);
struct fetch_stats {
	uint64_t inflight_ranges, queued[NR_PRIO], jobs;
	uint64_t cache_hits, cache_misses, verify_failures, failed_chunks;
	uint64_t merged_ranges, chunks_fetched, readahead_chunks;
	uint64_t verify_ns;		/* CPU time decompressing + hashing */
};
extern struct fetch_stats fstats;
void chunk_desc_from_disk(const struct nydusfs_chunk *c,
			  struct nydusfs_dev_chunk *d);

/* ---- early.c: a blob's first bytes, before its registration ---- */

/*
 * Fetch bytes [0, @len) of blob @digest from the first live of @srcs and
 * hold them for the ranges of its registration; *@taken: the bytes it
 * will hold.  0, -EEXIST (fetching or in use already), -EALREADY (the
 * cache directory holds data of it), -ENOSPC (the bytes held are at
 * their limit), -errno.
 */
int early_start(const uint8_t *digest, uint64_t len, struct source **srcs,
		unsigned int n, uint64_t *taken);
/* start_range(): true if an early fetch's bytes will serve @r. */
bool early_take(struct range *r);
/* A chunk of @digest's early bytes was bad: serve no more ranges. */
void early_drop(const uint8_t *digest);
struct source *early_source(const struct early *e);	/* it came from */
/* The backend's callbacks for an early fetch's own request. */
void early_data(struct range *r, const void *data, size_t len);
void early_done(struct range *r, int err);
uint64_t early_resume(struct range *r);
uint64_t early_held(void);
unsigned int early_count(void);
void early_exit(void);
struct early_stats {
	uint64_t started, failed, bytes, served_ranges;
};
extern struct early_stats estats;

/* ---- verify (in fetch.c): decompress and check a chunk ---- */

int verify_chunk(const struct nydusfs_dev_chunk *d, const uint8_t *src,
		 uint8_t **out);

/* ---- dev.c: the /dev/nydusfs protocol ---- */

int dev_open(const char *path);
void dev_close(void);
struct dev_stats {
	uint64_t init, open, read, close, replies, reply_errors, chunks;
	uint64_t bad_requests;
	uint64_t present_after;		/* chunks READ replies named ahead */
};
extern struct dev_stats dstats;
/* Check a chunk descriptor against its blob; 0 or -EINVAL. */
int dev_check_chunk(const struct nydusfs_dev_blob *db, uint32_t index,
		    const struct nydusfs_dev_chunk *c);

/* ---- trace.c: the order chunks were first asked for, per mount ---- */

struct trace_entry {
	uint32_t blob;			/* index in the mount's blob table */
	uint32_t chunk;			/* index in that blob */
};

struct trace {
	uint8_t **seen;			/* per blob: a bit per chunk, or NULL */
	uint32_t *seen_len;		/* chunks each bitmap covers */
	uint32_t nblobs;
	struct trace_entry *v;		/* in first-use order */
	uint32_t n, cap;
	bool truncated;			/* more chunks came than trace_limit */
	uint64_t reads;			/* READs naming the mount's blobs */
	uint64_t cached_at_start;	/* chunks present when it started */
	unsigned int counting, gen;	/* blobs still opening, to count */
	double since;			/* wall_time() it started */
};

struct mount;
/* (Re)start @m's trace: empty, and count what the cache holds. */
void trace_start(struct mount *m);
void trace_free(struct mount *m);
/* A READ of chunks @index..+@count of @db: for every mount naming it. */
void trace_read(const struct nydusfs_dev_blob *db, uint32_t index,
		uint32_t count);
/* The trace answer's members, set in @o. */
void trace_json(const struct mount *m, struct json_t *o);

/* ---- mounts.c: registered images, persisted ---- */

struct mount {
	struct list_head node;
	unsigned int id;
	char *mountpoint;
	char *bootstrap;
	struct strv specs;		/* source specs, as given */
	struct source **srcs;
	unsigned int nsrcs;
	uint8_t (*digests)[NYDUSFS_DIGEST_SIZE];
	uint32_t nblobs;
	struct cblob **blobs;		/* references while registered */
	bool prefetch;
	bool loading, removed;
	/* prefetch progress */
	struct prefetch *pf;
	uint64_t pf_total, pf_done, pf_failed, pf_bytes;
	uint64_t pf_profile_total, pf_profile_done;	/* its startup profile */
	bool pf_running;
	double registered_at;
	struct trace trace;		/* trace.c */
};

int mounts_init(const char *state_dir);	/* loads the saved table */
void mounts_exit(void);
struct mount_req {
	const char *mountpoint;
	const char *bootstrap;		/* path, for the record */
	int bootstrap_fd;
	struct strv specs;
	int *dirfds;			/* per spec, -1 if none */
	bool prefetch;
};
typedef void (*mount_cb)(void *arg, struct mount *m, int err,
			 const char *msg);
void mount_add(const struct mount_req *req, mount_cb cb, void *arg);
int mount_remove(const char *mountpoint);
struct mount *mount_find(const char *mountpoint);
void mounts_foreach(void (*fn)(struct mount *m, void *arg), void *arg);
bool mounts_use_digest(const uint8_t *digest);
unsigned int mounts_generation(void);
unsigned int mount_count(void);

/* ---- prefetch.c ---- */

struct nydusfs_image;
/* The plan of @m from its image; runs in a worker. */
struct prefetch *prefetch_plan(const struct nydusfs_image *img, bool all,
			       uint64_t *chunks, uint64_t *bytes);
void prefetch_start(struct mount *m, struct prefetch *pf);
void prefetch_stop(struct mount *m);
/* Called by the scheduler: queue up to @n prefetch chunks; how many. */
unsigned int prefetch_refill(unsigned int n, uint64_t bytes);
/* Called by the scheduler: queue the startup profiles' chunks. */
void prefetch_profiles(void);
/* Token bucket: ms to wait before the next prefetch range, 0 if now. */
uint64_t prefetch_throttle(void);
void prefetch_charge(uint64_t bytes);

/* ---- control.c: the unix socket API ---- */

int control_init(const char *path);
void control_exit(void);

/* ---- control_req.c: its requests, parsed and checked ---- */

enum ctl_cmd {
	CTL_PING, CTL_MOUNT, CTL_UMOUNT, CTL_STATUS, CTL_METRICS, CTL_CACHE,
	CTL_TRACE, CTL_EARLY, NR_CTL
};

struct ctl_request {
	enum ctl_cmd cmd;
	struct json_t *json;		/* the strings below point into it */
	/* mount, umount, trace */
	const char *mountpoint;
	const char *bootstrap;
	int bootstrap_fd;		/* index among the request's fds, or -1 */
	struct strv specs;
	int *spec_fds;			/* per spec: an fd index, or -1 */
	struct json_t **spec_settings;	/* per spec: its "registry" object
					 * (hosts.c) or NULL; in @json */
	bool prefetch;
	/* cache */
	bool gc, has_limit;
	uint64_t limit;
	/* trace */
	bool reset;			/* start the trace anew after answering */
	/* early: bytes [0, length) of blob, from the sources above */
	uint8_t blob[NYDUSFS_DIGEST_SIZE];
	uint64_t length;
};

/*
 * One request line that came with @nfds file descriptors: 0, or -EINVAL
 * with the reason in @why (for the error answer).
 */
int ctl_request_parse(const char *line, unsigned int nfds,
		      struct ctl_request *r, char *why, size_t size);
void ctl_request_free(struct ctl_request *r);
const char *ctl_request_name(const struct ctl_request *r);
/* The metrics listener's one request: "GET /metrics" (HTTP/1.x). */
bool ctl_http_is_metrics(const char *req, size_t len);

/* ---- metrics.c: Prometheus text ---- */

char *metrics_text(void);		/* malloc'ed */
int metrics_http_init(const char *listen);
void metrics_http_exit(void);
void metrics_lat_observe(struct src_metrics *m, uint64_t us);
extern const double metrics_lat_bounds[LAT_BUCKETS];

/* ---- main.c ---- */

void daemon_notify(const char *state);	/* sd_notify */

#endif
