// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: libcurl's multi interface driven by the event loop.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when
 * to wake it (CURLMOPT_TIMERFUNCTION); each watched socket gets a one-shot
 * io_uring poll, re-armed after curl_multi_socket_action() has run, and
 * the timer is a loop timer.  curl never blocks: its sockets are
 * non-blocking and name resolution runs in its own resolver thread.  A
 * poll whose socket curl dropped or re-targeted is cancelled; its late
 * completion finds no socket and is ignored.  Finished transfers are read
 * with curl_multi_info_read() after each action, outside curl's
 * callbacks, so their completions may start new transfers.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "nydusfs/registry_auth.h"
#include "nydusfsd.h"

struct csock {
	struct list_head node;
	curl_socket_t fd;
	int what;			/* CURL_POLL_* */
	struct cpoll *armed;
	bool removed;
};

struct cpoll {
	struct ev ev;
	struct csock *s;		/* NULL once cancelled */
};

static struct {
	CURLM *multi;
	struct timer timer;
	struct list_head socks;
	struct defer sweep;
	bool in_action;
	unsigned int running;
} http;

static void http_action(curl_socket_t fd, int flags);

static void poll_cb(struct ev *ev, int res)
{
	struct cpoll *p = container_of(ev, struct cpoll, ev);
	struct csock *s = p->s;
	int flags = 0;

	free(p);
	if (!s)
		return;		/* cancelled: curl moved on */
	s->armed = NULL;
	if (res < 0)
		flags = CURL_CSELECT_ERR;
	else {
		if (res & (POLLIN | POLLHUP))
			flags |= CURL_CSELECT_IN;
		if (res & POLLOUT)
			flags |= CURL_CSELECT_OUT;
		if (res & POLLERR)
			flags |= CURL_CSELECT_ERR;
	}
	http_action(s->fd, flags);
}

static void sock_arm(struct csock *s)
{
	unsigned int events = 0;
	struct cpoll *p;

	if (s->what & CURL_POLL_IN)
		events |= POLLIN;
	if (s->what & CURL_POLL_OUT)
		events |= POLLOUT;
	if (!events)
		return;
	p = xzalloc(sizeof(*p));
	p->ev.cb = poll_cb;
	p->s = s;
	s->armed = p;
	loop_poll(&p->ev, s->fd, events);
}

static void sock_disarm(struct csock *s)
{
	if (!s->armed)
		return;
	s->armed->s = NULL;
	loop_cancel(&s->armed->ev);
	s->armed = NULL;
}

static void sweep_fn(struct defer *d)
{
	struct csock *s, *n;

	(void)d;
	list_for_each_entry_safe(s, n, &http.socks, node) {
		if (!s->removed)
			continue;
		list_del_init(&s->node);
		free(s);
	}
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
		     void *socketp)
{
	struct csock *s = socketp;

	(void)easy;
	(void)userp;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			sock_disarm(s);
			s->removed = true;
			curl_multi_assign(http.multi, fd, NULL);
			defer_call(&http.sweep);
		}
		return 0;
	}
	if (!s) {
		s = xzalloc(sizeof(*s));
		s->fd = fd;
		list_add_tail(&s->node, &http.socks);
		curl_multi_assign(http.multi, fd, s);
	}
	if (s->what != what || !s->armed) {
		sock_disarm(s);
		s->what = what;
		/* inside an action the re-arm happens after it returns */
		if (!http.in_action)
			sock_arm(s);
	}
	return 0;
}

static void timer_fn(struct timer *t)
{
	(void)t;
	http_action(CURL_SOCKET_TIMEOUT, 0);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	(void)userp;
	if (timeout_ms < 0)
		timer_cancel(&http.timer);
	else
		timer_arm(&http.timer, timeout_ms);
	return 0;
}

static void check_done(void)
{
	struct hreq *h;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(http.multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&h);
		curl_multi_remove_handle(http.multi, msg->easy_handle);
		http.running--;
		h->active = false;
		h->on_done(h, msg->data.result);
	}
}

static void rearm_all(void)
{
	struct csock *s;

	list_for_each_entry(s, &http.socks, node)
		if (!s->removed && !s->armed)
			sock_arm(s);
}

static void http_action(curl_socket_t fd, int flags)
{
	int running;

	http.in_action = true;
	curl_multi_socket_action(http.multi, fd, flags, &running);
	http.in_action = false;
	rearm_all();
	check_done();
}

/* ---- requests ---- */

/* The response headers an owner reads (the first of each counts). */
static const struct {
	const char *name;
	size_t off;
} kept_headers[] = {
	{ "WWW-Authenticate", offsetof(struct hreq, www_auth) },
	{ "Retry-After", offsetof(struct hreq, retry_after) },
	{ "Content-Range", offsetof(struct hreq, content_range) },
	{ "Location", offsetof(struct hreq, location) },
};

static size_t header_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct hreq *h = arg;
	size_t len = size * n, i;
	char **slot, *v;

	if (len > 5 && !strncmp(buf, "HTTP/", 5)) {
		hreq_reset_headers(h);	/* a new answer */
		return len;
	}
	for (i = 0; i < sizeof(kept_headers) / sizeof(kept_headers[0]); i++) {
		slot = (char **)((char *)h + kept_headers[i].off);
		if (*slot)
			continue;
		v = nydusfs_http_header_value(buf, len, kept_headers[i].name);
		if (v) {
			*slot = v;
			break;
		}
	}
	return len;
}

static size_t body_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct hreq *h = arg;

	return h->on_body(h, buf, size * n);
}

void hreq_reset_headers(struct hreq *h)
{
	free(h->www_auth);
	free(h->retry_after);
	free(h->content_range);
	free(h->location);
	h->www_auth = h->retry_after = h->content_range = h->location = NULL;
}

/* A fresh easy handle for @h, with the settings every request shares */
int hreq_init(struct hreq *h, const char *url)
{
	CURL *e;

	hreq_cleanup(h);
	e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	h->easy = e;
	h->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, h);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/* over TLS, wait to learn whether the connection speaks HTTP/2 and
	 * multiplex on it; plain HTTP is 1.1: open connections in parallel */
	if (!strncasecmp(url, "https:", 6))
		curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	/* one socket action reads one buffer: 16 KiB (the default) costs a
	 * loop iteration per 16 KiB of a ranged body */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L << 10);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)cfg.connect_timeout);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)cfg.stall_timeout);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)cfg.request_timeout);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "nydusfsd/0.1");
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	return 0;
}

void hreq_cleanup(struct hreq *h)
{
	if (h->active) {
		curl_multi_remove_handle(http.multi, h->easy);
		http.running--;
		h->active = false;
	}
	if (h->easy)
		curl_easy_cleanup(h->easy);
	h->easy = NULL;
	curl_slist_free_all(h->headers);
	h->headers = NULL;
	hreq_reset_headers(h);
}

int hreq_start(struct hreq *h)
{
	CURLMcode mc;

	if (h->headers)
		curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, h->headers);
	mc = curl_multi_add_handle(http.multi, h->easy);
	if (mc != CURLM_OK) {
		err("curl: %s", curl_multi_strerror(mc));
		return -EIO;
	}
	h->active = true;
	http.running++;
	return 0;
}

void hreq_basic_auth(struct hreq *h, const struct nydusfs_cred *cred)
{
	curl_easy_setopt(h->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(h->easy, CURLOPT_USERNAME, cred->user);
	curl_easy_setopt(h->easy, CURLOPT_PASSWORD, cred->pass);
}

void hreq_bearer_auth(struct hreq *h, const char *token)
{
	char *hdr = xasprintf("Authorization: Bearer %s", token);

	h->headers = curl_slist_append(h->headers, hdr);
	explicit_bzero(hdr, strlen(hdr));
	free(hdr);
}

long hreq_status(struct hreq *h)
{
	long code = 0;

	curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

int http_init(void)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (rc != CURLE_OK) {
		err("curl: %s", curl_easy_strerror(rc));
		return -EIO;
	}
	http.multi = curl_multi_init();
	if (!http.multi)
		return -ENOMEM;
	INIT_LIST_HEAD(&http.socks);
	http.sweep.fn = sweep_fn;
	http.timer.fn = timer_fn;
	curl_multi_setopt(http.multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(http.multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(http.multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	curl_multi_setopt(http.multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)cfg.max_inflight);
	return 0;
}

void http_exit(void)
{
	if (!http.multi)
		return;
	timer_cancel(&http.timer);
	curl_multi_cleanup(http.multi);
	http.multi = NULL;
	sweep_fn(NULL);
	curl_global_cleanup();
}
