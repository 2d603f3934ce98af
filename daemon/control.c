// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: the control socket (Documentation/nydusfsd.rst, "Control
 * protocol").  A unix stream socket, mode 0600: each request is one JSON
 * object on one line, each answer one JSON object on one line, in order.
 * File descriptors (the bootstrap and localfs directories of "mount") come
 * as SCM_RIGHTS with the request's bytes; the request names them by their
 * index among the fds of that request.
 *
 * The same connection code serves GET /metrics over HTTP/1.0 when
 * [daemon] metrics_listen is set.  Everything is non-blocking on the loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "nydusfsd.h"

#define CONN_MAX_REQ	(64 << 10)
#define CONN_MAX_FDS	32

struct listener {
	int fd;
	bool http;
	struct ev ev;
};

struct conn {
	struct list_head node;
	int fd;
	bool http;
	struct ev ev;
	char *rbuf;
	size_t rlen;
	char *wbuf;
	size_t wlen, woff;
	int fds[CONN_MAX_FDS];
	unsigned int nfds;
	bool busy;		/* an asynchronous command runs */
	bool in_handler;	/* inside handle_line(): it kicks */
	bool closing;		/* close once the answer is out */
	bool eof;
};

static struct listener ctl = { .fd = -1 }, http = { .fd = -1, .http = true };
static LIST_HEAD(conns);
static char *ctl_path;
static double started;

static void conn_kick(struct conn *c);

static void conn_close_fds(struct conn *c)
{
	unsigned int i;

	for (i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	c->nfds = 0;
}

static void conn_free(struct conn *c)
{
	list_del_init(&c->node);
	conn_close_fds(c);
	close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	free(c);
}

static void conn_append(struct conn *c, const char *s, size_t len)
{
	char *p = realloc(c->wbuf, c->wlen + len);

	if (!p) {
		err("out of memory");
		abort();
	}
	c->wbuf = p;
	memcpy(c->wbuf + c->wlen, s, len);
	c->wlen += len;
}

static void reply_json(struct conn *c, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	if (!s) {
		conn_append(c, "{\"ok\":false,\"error\":\"out of memory\"}\n", 37);
		return;
	}
	conn_append(c, s, strlen(s));
	conn_append(c, "\n", 1);
	free(s);
}

static void reply_error(struct conn *c, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void reply_error(struct conn *c, int errnum, const char *fmt, ...)
{
	json_t *o = json_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_set_new(o, "ok", json_false());
	json_object_set_new(o, "error", json_string(msg));
	json_object_set_new(o, "errno", json_integer(errnum));
	reply_json(c, o);
}

static json_t *ok_object(void)
{
	json_t *o = json_object();

	json_object_set_new(o, "ok", json_true());
	return o;
}

/* ---- commands ---- */

static void cmd_ping(struct conn *c, const struct ctl_request *req)
{
	json_t *o = ok_object();

	(void)req;
	json_object_set_new(o, "version", json_string("0.1"));
	json_object_set_new(o, "pid", json_integer(getpid()));
	reply_json(c, o);
}

static void mount_done(void *arg, struct mount *m, int error,
		       const char *msg)
{
	struct conn *c = arg;
	json_t *o;

	c->busy = false;
	if (error) {
		reply_error(c, -error, "%s", msg ? msg : strerror(-error));
	} else {
		o = ok_object();
		json_object_set_new(o, "id", json_integer(m->id));
		json_object_set_new(o, "blobs", json_integer(m->nblobs));
		json_object_set_new(o, "prefetch_chunks",
				    json_integer(m->pf_total));
		reply_json(c, o);
	}
	if (!c->in_handler)
		conn_kick(c);
}

/* The fd a request names by its index (-1: none). */
static int req_fd(const struct conn *c, int index)
{
	return index >= 0 ? c->fds[index] : -1;
}

/* A registry source's "registry" settings (hosts.c), if it has them. */
static int source_settings(const char *spec, json_t *settings, char *msg,
			   size_t len)
{
	char *host;
	int ret;

	if (!settings)
		return 0;
	if (!strncmp(spec, "registry:", 9))
		spec += 9;
	host = strndup(spec, strcspn(spec, "/"));
	ret = host ? hosts_apply(host, settings, msg, len) : -ENOMEM;
	free(host);
	return ret;
}

static void cmd_mount(struct conn *c, const struct ctl_request *req)
{
	struct mount_req mr = {
		.mountpoint = req->mountpoint,
		.bootstrap = req->bootstrap,
		.bootstrap_fd = req_fd(c, req->bootstrap_fd),
		.prefetch = req->prefetch,
	};
	char msg[256];
	unsigned int i;

	for (i = 0; i < req->specs.n; i++) {
		if (source_settings(req->specs.v[i], req->spec_settings[i],
				    msg, sizeof(msg))) {
			reply_error(c, EINVAL, "%s", msg);
			return;
		}
	}
	mr.dirfds = xzalloc((req->specs.n + 1) * sizeof(int));
	for (i = 0; i < req->specs.n; i++) {
		strv_add(&mr.specs, req->specs.v[i]);
		mr.dirfds[i] = req_fd(c, req->spec_fds[i]);
	}
	c->busy = true;
	mount_add(&mr, mount_done, c);
	strv_free(&mr.specs);
	free(mr.dirfds);
}

static void cmd_umount(struct conn *c, const struct ctl_request *req)
{
	int ret = mount_remove(req->mountpoint);

	if (ret)
		reply_error(c, -ret, "%s: not registered", req->mountpoint);
	else
		reply_json(c, ok_object());
}

static void status_mount(struct mount *m, void *arg)
{
	json_t *arr = arg, *o = json_object(), *p = json_object(), *s;
	unsigned int i;

	s = json_array();
	for (i = 0; i < m->specs.n; i++)
		json_array_append_new(s, json_string(m->specs.v[i]));
	json_object_set_new(o, "id", json_integer(m->id));
	json_object_set_new(o, "mountpoint", json_string(m->mountpoint));
	json_object_set_new(o, "bootstrap", json_string(m->bootstrap));
	json_object_set_new(o, "sources", s);
	json_object_set_new(o, "blobs", json_integer(m->nblobs));
	json_object_set_new(p, "total", json_integer(m->pf_total));
	json_object_set_new(p, "done", json_integer(m->pf_done));
	json_object_set_new(p, "failed", json_integer(m->pf_failed));
	json_object_set_new(p, "bytes", json_integer(m->pf_bytes));
	json_object_set_new(p, "running", json_boolean(m->pf_running));
	json_object_set_new(p, "profile_total",
			    json_integer(m->pf_profile_total));
	json_object_set_new(p, "profile_done", json_integer(m->pf_profile_done));
	json_object_set_new(o, "prefetch", p);
	json_array_append_new(arr, o);
}

static void status_source(struct source *s, void *arg)
{
	json_t *arr = arg, *o = json_object();

	json_object_set_new(o, "name", json_string(s->name));
	json_object_set_new(o, "backend", json_string(s->ops->kind));
	json_object_set_new(o, "bytes", json_integer(s->m.bytes));
	json_object_set_new(o, "chunks", json_integer(s->m.chunks));
	json_object_set_new(o, "requests", json_integer(s->m.requests));
	json_object_set_new(o, "errors", json_integer(s->m.errors));
	json_object_set_new(o, "retries", json_integer(s->m.retries));
	json_object_set_new(o, "verify_failures",
			    json_integer(s->m.verify_failures));
	json_object_set_new(o, "connections", json_integer(s->m.connects));
	json_object_set_new(o, "http2_responses",
			    json_integer(s->m.http_responses[HTTP_V2]));
	json_array_append_new(arr, o);
}

static void cmd_status(struct conn *c, const struct ctl_request *req)
{
	json_t *o = ok_object(), *mounts = json_array(), *srcs = json_array();
	json_t *f = json_object(), *q = json_object(), *ch = json_object();

	(void)req;
	json_object_set_new(o, "version", json_string("0.1"));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "uptime", json_real(wall_time() - started));
	json_object_set_new(o, "device", json_string(cfg.device));
	json_object_set_new(o, "cache_dir", json_string(cfg.cache_dir));
	mounts_foreach(status_mount, mounts);
	json_object_set_new(o, "mounts", mounts);
	json_object_set_new(q, "demand", json_integer(fstats.queued[PRIO_DEMAND]));
	json_object_set_new(q, "readahead",
			    json_integer(fstats.queued[PRIO_READAHEAD]));
	json_object_set_new(q, "prefetch",
			    json_integer(fstats.queued[PRIO_PREFETCH]));
	json_object_set_new(f, "inflight", json_integer(fstats.inflight_ranges));
	json_object_set_new(f, "queued", q);
	json_object_set_new(f, "chunks_fetched",
			    json_integer(fstats.chunks_fetched));
	json_object_set_new(f, "chunks_failed",
			    json_integer(fstats.failed_chunks));
	json_object_set_new(f, "verify_failures",
			    json_integer(fstats.verify_failures));
	json_object_set_new(o, "fetch", f);
	json_object_set_new(o, "early", json_pack("{s:I, s:I, s:I, s:I, s:I}",
		"fetches", (json_int_t)early_count(),
		"held_bytes", (json_int_t)early_held(),
		"started", (json_int_t)estats.started,
		"failed", (json_int_t)estats.failed,
		"served_ranges", (json_int_t)estats.served_ranges));
	json_object_set_new(ch, "hits", json_integer(fstats.cache_hits));
	json_object_set_new(ch, "misses", json_integer(fstats.cache_misses));
	json_object_set_new(ch, "open_blobs", json_integer(cache_blob_count()));
	json_object_set_new(ch, "limit", json_integer(cfg.cache_limit));
	json_object_set_new(o, "cache", ch);
	sources_foreach(status_source, srcs);
	json_object_set_new(o, "sources", srcs);
	reply_json(c, o);
}

static void cmd_metrics(struct conn *c, const struct ctl_request *req)
{
	char *text = metrics_text();
	json_t *o;

	(void)req;
	if (!text) {
		reply_error(c, ENOMEM, "out of memory");
		return;
	}
	o = ok_object();
	json_object_set_new(o, "text", json_string(text));
	free(text);
	reply_json(c, o);
}

static void cache_done(void *arg, const struct cache_usage *u, int error)
{
	struct conn *c = arg;
	json_t *o;

	c->busy = false;
	if (error) {
		reply_error(c, -error, "cache: %s", strerror(-error));
	} else {
		o = ok_object();
		json_object_set_new(o, "dir", json_string(cfg.cache_dir));
		json_object_set_new(o, "bytes", json_integer(u->bytes));
		json_object_set_new(o, "blobs", json_integer(u->blobs));
		json_object_set_new(o, "in_use", json_integer(u->in_use));
		json_object_set_new(o, "limit", json_integer(cfg.cache_limit));
		json_object_set_new(o, "evicted", json_integer(u->evicted));
		json_object_set_new(o, "evicted_bytes",
				    json_integer(u->evicted_bytes));
		reply_json(c, o);
	}
	if (!c->in_handler)
		conn_kick(c);
}

static void cmd_cache(struct conn *c, const struct ctl_request *req)
{
	uint64_t limit = UINT64_MAX;		/* usage: evict nothing */

	if (req->gc)
		limit = req->has_limit ? req->limit : cfg.cache_limit;
	c->busy = true;
	cache_gc(limit, cache_done, c);
}

static void cmd_trace(struct conn *c, const struct ctl_request *req)
{
	struct mount *m = mount_find(req->mountpoint);
	json_t *o;

	if (!m) {
		reply_error(c, ENOENT, "%s: not registered", req->mountpoint);
		return;
	}
	o = ok_object();
	trace_json(m, o);
	if (req->reset)
		trace_start(m);
	reply_json(c, o);
}

/* The sources of an early request: its registries, settings applied. */
static int early_sources(const struct ctl_request *req, struct source ***srcs,
			 unsigned int *n, char *msg, size_t len)
{
	const char *spec;
	unsigned int i;
	int ret = 0;

	for (i = 0; !ret && i < req->specs.n; i++) {
		spec = req->specs.v[i];
		if (!strncmp(spec, "localfs:", 8) || spec[0] == '/')
			continue;	/* as fast as the registration */
		ret = source_settings(spec, req->spec_settings[i], msg, len);
		if (!ret && source_parse(spec, -1, srcs, n)) {
			snprintf(msg, len, "source '%.200s': not valid", spec);
			ret = -EINVAL;
		}
	}
	return ret;
}

/*
 * early: start fetching a blob's first bytes before an image naming it is
 * registered (early.c).  Answered at once: whether it started, and if
 * not, why; nothing depends on it but speed.
 */
static void cmd_early(struct conn *c, const struct ctl_request *req)
{
	struct source **srcs = NULL;
	unsigned int n = 0, i;
	uint64_t taken = 0;
	char msg[256];
	json_t *o;
	int ret;

	ret = early_sources(req, &srcs, &n, msg, sizeof(msg));
	if (ret) {
		reply_error(c, -ret, "%s", msg);
	} else {
		if (!cfg.prefetch)
			ret = -EPERM;
		else if (!n)
			ret = -ENOENT;
		else
			ret = early_start(req->blob, req->length, srcs, n,
					  &taken);
		o = ok_object();
		json_object_set_new(o, "started", json_boolean(!ret));
		json_object_set_new(o, "bytes", json_integer(taken));
		if (ret)
			json_object_set_new(o, "reason", json_string(
				ret == -EPERM ? "prefetch is off" :
				ret == -ENOENT ? "no registry source" :
				ret == -EEXIST ? "fetching or in use already" :
				ret == -EALREADY ? "the cache holds the blob" :
				ret == -ENOSPC ? "early bytes at their limit" :
				strerror(-ret)));
		reply_json(c, o);
	}
	for (i = 0; i < n; i++)
		source_put(srcs[i]);
	free(srcs);
}

static void (*const commands[NR_CTL])(struct conn *c,
				      const struct ctl_request *req) = {
	[CTL_PING] = cmd_ping,
	[CTL_MOUNT] = cmd_mount,
	[CTL_UMOUNT] = cmd_umount,
	[CTL_STATUS] = cmd_status,
	[CTL_METRICS] = cmd_metrics,
	[CTL_CACHE] = cmd_cache,
	[CTL_TRACE] = cmd_trace,
	[CTL_EARLY] = cmd_early,
};

static void handle_line(struct conn *c, const char *line)
{
	struct ctl_request req;
	char why[256];

	if (ctl_request_parse(line, c->nfds, &req, why, sizeof(why))) {
		reply_error(c, EINVAL, "%s", why);
	} else {
		dbg("control: %s", ctl_request_name(&req));
		c->in_handler = true;
		commands[req.cmd](c, &req);
		c->in_handler = false;
		ctl_request_free(&req);
	}
	conn_close_fds(c);
}

static void handle_http(struct conn *c)
{
	char *text, hdr[256];
	int n;

	c->closing = true;
	if (!ctl_http_is_metrics(c->rbuf, c->rlen)) {
		conn_append(c, "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n", 45);
		return;
	}
	text = metrics_text();
	if (!text) {
		conn_append(c, "HTTP/1.0 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", 57);
		return;
	}
	n = snprintf(hdr, sizeof(hdr), "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: %zu\r\n\r\n",
		     strlen(text));
	conn_append(c, hdr, n);
	conn_append(c, text, strlen(text));
	free(text);
}

/* Requests in the buffer, one at a time (an async one stops the walk). */
static void conn_process(struct conn *c)
{
	char *nl;
	size_t used;

	while (!c->busy && !c->closing && c->rlen) {
		if (c->http) {
			if (!memmem(c->rbuf, c->rlen, "\r\n\r\n", 4) &&
			    !memmem(c->rbuf, c->rlen, "\n\n", 2))
				return;
			c->rbuf[c->rlen - 1] = '\0';
			handle_http(c);
			c->rlen = 0;
			return;
		}
		nl = memchr(c->rbuf, '\n', c->rlen);
		if (!nl)
			return;
		*nl = '\0';
		handle_line(c, c->rbuf);
		used = nl + 1 - c->rbuf;
		memmove(c->rbuf, nl + 1, c->rlen - used);
		c->rlen -= used;
	}
}

static int conn_recv(struct conn *c)
{
	char cbuf[CMSG_SPACE(sizeof(int) * CONN_MAX_FDS)];
	struct iovec iov;
	struct msghdr mh = {};
	struct cmsghdr *cm;
	unsigned int i, n;
	ssize_t r;
	int *fds;

	if (c->rlen >= CONN_MAX_REQ)
		return -E2BIG;
	if (!c->rbuf)
		c->rbuf = xzalloc(CONN_MAX_REQ + 1);
	iov.iov_base = c->rbuf + c->rlen;
	iov.iov_len = CONN_MAX_REQ - c->rlen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	r = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		fds = (int *)CMSG_DATA(cm);
		for (i = 0; i < n; i++) {
			if (c->nfds < CONN_MAX_FDS)
				c->fds[c->nfds++] = fds[i];
			else
				close(fds[i]);
		}
	}
	if (r == 0)
		c->eof = true;
	c->rlen += r;
	c->rbuf[c->rlen] = '\0';
	return 0;
}

static void conn_cb(struct ev *ev, int res)
{
	struct conn *c = container_of(ev, struct conn, ev);
	int ret = 0;

	if (res < 0) {
		conn_free(c);
		return;
	}
	if (res & (POLLIN | POLLHUP | POLLERR))
		ret = conn_recv(c);
	if (ret) {
		conn_free(c);
		return;
	}
	conn_process(c);
	conn_kick(c);
}

/* Send what is pending; then wait for more input or for room to write. */
static void conn_kick(struct conn *c)
{
	ssize_t n;

	while (c->woff < c->wlen) {
		n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			conn_free(c);
			return;
		}
		c->woff += n;
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	if (c->busy)
		return;		/* the command's callback kicks again */
	if (c->wlen) {
		loop_poll(&c->ev, c->fd, POLLOUT);
		return;
	}
	if (c->closing || c->eof) {
		conn_free(c);
		return;
	}
	conn_process(c);
	if (c->busy)
		return;
	if (c->wlen) {
		conn_kick(c);
		return;
	}
	loop_poll(&c->ev, c->fd, POLLIN);
}

static void listener_cb(struct ev *ev, int res)
{
	struct listener *l = container_of(ev, struct listener, ev);
	struct conn *c;
	int fd;

	if (res < 0) {
		if (res != -ECANCELED)
			err("control socket poll: %s", strerror(-res));
		return;
	}
	while ((fd = accept4(l->fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		c = xzalloc(sizeof(*c));
		c->fd = fd;
		c->http = l->http;
		c->ev.cb = conn_cb;
		list_add_tail(&c->node, &conns);
		loop_poll(&c->ev, c->fd, POLLIN);
	}
	loop_poll(&l->ev, l->fd, POLLIN);
}

static int listen_on(struct listener *l, int fd, const struct sockaddr *sa,
		     socklen_t len)
{
	if (bind(fd, sa, len) || listen(fd, 64)) {
		close(fd);
		return -errno;
	}
	l->fd = fd;
	l->ev.cb = listener_cb;
	loop_poll(&l->ev, l->fd, POLLIN);
	return 0;
}

int control_init(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *dir, *slash;
	int fd, ret;

	started = wall_time();
	if (strlen(path) >= sizeof(sun.sun_path)) {
		err("socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST)
			warn("%s: %s", dir, strerror(errno));
	}
	free(dir);
	strcpy(sun.sun_path, path);
	unlink(path);		/* the cache lock says no other daemon runs */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = listen_on(&ctl, fd, (struct sockaddr *)&sun, sizeof(sun));
	if (ret) {
		err("socket %s: %s", path, strerror(-ret));
		return ret;
	}
	chmod(path, 0600);
	ctl_path = xstrdup(path);
	return 0;
}

int metrics_http_init(const char *listen_addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char *host = xstrdup(listen_addr), *colon = strrchr(host, ':');
	uint64_t port;
	int fd, one = 1, ret;

	if (!colon || parse_uint(colon + 1, 65535, &port) ||
	    (*colon = '\0', inet_pton(AF_INET, host, &sin.sin_addr) != 1)) {
		err("metrics_listen '%s': expected IPV4:PORT", listen_addr);
		free(host);
		return -EINVAL;
	}
	free(host);
	sin.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ret = listen_on(&http, fd, (struct sockaddr *)&sin, sizeof(sin));
	if (ret)
		err("metrics_listen %s: %s", listen_addr, strerror(-ret));
	else
		info("metrics on http://%s/metrics", listen_addr);
	return ret;
}

void metrics_http_exit(void)
{
	if (http.fd >= 0)
		close(http.fd);
	http.fd = -1;
}

void control_exit(void)
{
	struct conn *c, *n;

	list_for_each_entry_safe(c, n, &conns, node)
		if (!c->busy)
			conn_free(c);
	if (ctl.fd >= 0)
		close(ctl.fd);
	ctl.fd = -1;
	if (ctl_path)
		unlink(ctl_path);
	free(ctl_path);
	ctl_path = NULL;
}
