// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: the OCI registry backend (distribution spec): a range of a
 * blob is GET /v2/NAME/blobs/sha256:HEX with "Range: bytes=A-B".
 *
 * - 206 must carry "Content-Range: bytes A-..."; a 200 is the whole blob,
 *   read from its start and cut off once the range is in.  The bytes are
 *   never trusted: every chunk is checked against its digest (fetch.c).
 * - Redirects are followed by hand (up to 5): a target on another host
 *   gets no Authorization, and is remembered per blob for the next ranges
 *   until it answers 401/403 (an expired signed URL) or fails.
 * - Authentication follows the 401 challenge.  Bearer: a token from the
 *   realm (with the registry's credentials as Basic, if any), cached per
 *   host and scope; one fetch at a time per token (requests wait for it);
 *   refreshed in the background at 3/4 of its lifetime (expires_in,
 *   default 60 s).  Basic: the credentials, sent from then on with every
 *   request to that host.  Credentials come from [registry "HOST"] in the
 *   config, else from a docker-style config.json ("auths").  They are never
 *   logged, and URLs are logged without their query.
 * - 5xx, resets, stalls and timeouts are retried (fetch.retries times,
 *   exponential backoff with jitter, from where the data stopped); 429
 *   waits for Retry-After; 401 after a fresh token, 403 and 404 are not
 *   retried: the range goes to the blob's next source.
 * - TLS is verified (ca_file to add a CA; tls_verify = false only for a
 *   host that asks for it).  HTTP/2 multiplexing and keep-alive come from
 *   curl's connection cache.
 * - Mirrors (mirror = URL in [registry "HOST"]) are sources of their own,
 *   tried before the registry, with the same protocol.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "nydusfsd.h"

#define MAX_REDIRECTS		5
#define REDIRECT_TTL_MS		(5 * 60 * 1000)
#define TOKEN_DEFAULT_TTL	60
#define RETRY_AFTER_MAX_MS	(5 * 60 * 1000)
#define SOURCE_DOWN_MS		5000

struct cred {
	struct list_head node;
	char *host;
	char *user, *pass;
};

struct token {
	struct list_head node;
	char *scope;
	char *value;			/* NULL until the first fetch */
	unsigned int gen;		/* fetches that gave a token */
	uint64_t expires_at, refresh_at;	/* now_ms() */
	bool fetching;
	uint64_t fail_until, fail_backoff;	/* after a refused fetch */
	struct hreq h;
	char *body;
	size_t blen;
	struct list_head waiters;	/* rreqs */
	struct rhost *host;
};

/* Authentication state of one host (scheme://host:port). */
struct rhost {
	struct list_head node;
	char *origin;			/* "https://host:port" */
	char *hostport;
	const struct cred *cred;
	bool send_basic;		/* it asked for Basic */
	char *realm, *service;		/* from its Bearer challenge */
	struct list_head tokens;
};

struct redirect {
	struct list_head node;
	uint8_t digest[NYDUSFS_DIGEST_SIZE];
	char *url;
	uint64_t until;
};

struct registry {
	struct source *src;
	char *base;			/* scheme://host[:port][/prefix] */
	char *name;			/* the repository */
	char *scope;			/* repository:NAME:pull */
	struct rhost *host;
	const char *ca_file;
	bool tls_verify;
	struct list_head redirects;
};

struct rreq {
	struct hreq h;
	struct range *r;
	struct registry *reg;
	struct list_head wnode;		/* on a token's waiters */
	struct timer retry;
	char *url;
	bool offsite;			/* url is a redirect target */
	int redirects;
	unsigned int attempt;
	bool auth_retried, basic_retried, origin_retried;
	unsigned int tok_gen;		/* the token it sent, 0: none */
	uint64_t start;			/* first byte asked for */
	uint64_t skip;			/* of a 200: bytes before start */
	int status_seen;		/* 0 not yet, 1 good, -1 error status */
	bool complete;
	int err;
};

static LIST_HEAD(creds);
static LIST_HEAD(hosts);
static bool ready;

/* ---- credentials ---- */

static char *host_of(const char *url)
{
	const char *p = strstr(url, "://"), *end;

	p = p ? p + 3 : url;
	end = p + strcspn(p, "/?#");
	return strndup(p, end - p);
}

static void cred_add(const char *host, const char *user, const char *pass)
{
	struct cred *c = xzalloc(sizeof(*c));

	c->host = xstrdup(host);
	c->user = xstrdup(user);
	c->pass = xstrdup(pass);
	list_add_tail(&c->node, &creds);
}

static const struct cred *cred_find(const char *hostport)
{
	struct cred *c;

	list_for_each_entry(c, &creds, node)
		if (!strcmp(c->host, hostport))
			return c;
	return NULL;
}

/* "auths": {"HOST": {"auth": base64("user:pass")}} (or username/password) */
static void docker_auth(const char *key, json_t *v)
{
	const char *b64 = json_string_value(json_object_get(v, "auth"));
	const char *user = json_string_value(json_object_get(v, "username"));
	const char *pass = json_string_value(json_object_get(v, "password"));
	unsigned char *raw = NULL;
	char *host = host_of(key), *colon;
	int n;

	if (b64) {
		raw = xzalloc(strlen(b64) + 4);
		n = EVP_DecodeBlock(raw, (const unsigned char *)b64, strlen(b64));
		colon = n > 0 ? memchr(raw, ':', n) : NULL;
		if (colon) {
			*colon = '\0';
			cred_add(host, (char *)raw, colon + 1);
		}
	} else if (user && pass) {
		cred_add(host, user, pass);
	}
	free(raw);
	free(host);
}

static void load_docker_config(void)
{
	const char *path = cfg.auth_file, *dir, *key;
	char buf[4096];
	json_error_t jerr;
	json_t *root, *v;

	if (!path && (dir = getenv("DOCKER_CONFIG"))) {
		snprintf(buf, sizeof(buf), "%s/config.json", dir);
		path = buf;
	} else if (!path && (dir = getenv("HOME"))) {
		snprintf(buf, sizeof(buf), "%s/.docker/config.json", dir);
		if (access(buf, R_OK))
			return;
		path = buf;
	}
	if (!path)
		return;
	root = json_load_file(path, 0, &jerr);
	if (!root) {
		warn("auth file %s: %s", path, jerr.text);
		return;
	}
	json_object_foreach(json_object_get(root, "auths"), key, v)
		docker_auth(key, v);
	json_decref(root);
	info("auth file %s loaded", path);
}

/* ---- hosts and tokens ---- */

static struct rhost *rhost_get(const char *base)
{
	char *hostport = host_of(base);
	const char *slash;
	struct rhost *h;
	size_t olen;

	slash = strstr(base, "://");
	slash = slash ? strchr(slash + 3, '/') : NULL;
	olen = slash ? (size_t)(slash - base) : strlen(base);
	list_for_each_entry(h, &hosts, node) {
		if (strlen(h->origin) == olen && !strncmp(h->origin, base, olen)) {
			free(hostport);
			return h;
		}
	}
	h = xzalloc(sizeof(*h));
	h->origin = strndup(base, olen);
	h->hostport = hostport;
	h->cred = cred_find(hostport);
	INIT_LIST_HEAD(&h->tokens);
	list_add_tail(&h->node, &hosts);
	return h;
}

static struct token *token_find(struct rhost *h, const char *scope)
{
	struct token *t;

	list_for_each_entry(t, &h->tokens, node)
		if (!strcmp(t->scope, scope))
			return t;
	t = xzalloc(sizeof(*t));
	t->scope = xstrdup(scope);
	t->host = h;
	INIT_LIST_HEAD(&t->waiters);
	list_add_tail(&t->node, &h->tokens);
	return t;
}

/* key="value" of an auth challenge, or NULL */
static char *challenge_param(const char *hdr, const char *key)
{
	size_t klen = strlen(key);
	const char *p = hdr, *end;

	while ((p = strcasestr(p, key))) {
		if ((p == hdr || p[-1] == ' ' || p[-1] == ',') &&
		    p[klen] == '=') {
			p += klen + 1;
			if (*p == '"') {
				end = strchr(++p, '"');
				return end ? strndup(p, end - p) : NULL;
			}
			return strndup(p, strcspn(p, ","));
		}
		p += klen;
	}
	return NULL;
}

static void rreq_go(struct rreq *q);
static void rreq_fail(struct rreq *q, int err, const char *why);

static void token_wake(struct token *t, int err)
{
	struct rreq *q;
	LIST_HEAD(list);

	list_splice_tail_init(&t->waiters, &list);
	while (!list_empty(&list)) {
		q = list_entry(list.next, struct rreq, wnode);
		list_del_init(&q->wnode);
		if (err)
			rreq_fail(q, err, "no token");
		else
			rreq_go(q);
	}
}

static size_t token_body(struct hreq *h, const char *buf, size_t len)
{
	struct token *t = container_of(h, struct token, h);

	if (t->blen + len > (1 << 20))
		return 0;
	t->body = realloc(t->body, t->blen + len + 1);
	memcpy(t->body + t->blen, buf, len);
	t->blen += len;
	t->body[t->blen] = '\0';
	return len;
}

static int token_parse(struct token *t)
{
	json_t *root = json_loads(t->body ? t->body : "", 0, NULL);
	const char *v;
	json_int_t ttl;
	uint64_t now = now_ms();

	if (!root)
		return -EBADMSG;
	v = json_string_value(json_object_get(root, "token"));
	if (!v)
		v = json_string_value(json_object_get(root, "access_token"));
	ttl = json_integer_value(json_object_get(root, "expires_in"));
	if (ttl <= 0)
		ttl = TOKEN_DEFAULT_TTL;
	if (v) {
		free(t->value);
		t->value = xstrdup(v);
		t->gen++;
		t->expires_at = now + ttl * 1000;
		t->refresh_at = now + ttl * 750;
	}
	json_decref(root);
	return v ? 0 : -EBADMSG;
}

static void token_done(struct hreq *h, CURLcode rc)
{
	struct token *t = container_of(h, struct token, h);
	long status = hreq_status(h);
	int err = 0;

	t->fetching = false;
	if (rc != CURLE_OK || status != 200 || token_parse(t)) {
		warn("token for %s from %s: %s", t->scope, t->host->realm,
		     rc != CURLE_OK ? curl_easy_strerror(rc) :
		     status != 200 ? "refused" : "no token in the answer");
		err = rc != CURLE_OK ? -EIO : -EACCES;
		/* no storm of refused token requests: back off */
		t->fail_backoff = t->fail_backoff ? t->fail_backoff * 2 : 1000;
		if (t->fail_backoff > 30000)
			t->fail_backoff = 30000;
		t->fail_until = now_ms() + t->fail_backoff;
	} else {
		t->fail_backoff = 0;
		dbg("token for %s: valid %llu s", t->scope,
		    (unsigned long long)(t->expires_at - now_ms()) / 1000);
	}
	free(t->body);
	t->body = NULL;
	t->blen = 0;
	hreq_cleanup(&t->h);
	token_wake(t, err);
}

static void apply_tls(CURL *e, const char *ca, bool verify)
{
	if (ca)
		curl_easy_setopt(e, CURLOPT_CAINFO, ca);
	if (!verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

/* One fetch at a time; requests that need it wait on t->waiters. */
static int token_fetch(struct token *t, const struct registry *reg)
{
	struct rhost *h = t->host;
	char *url, *svc = NULL, *scope;
	CURL *e;
	int ret;

	if (t->fetching)
		return 0;
	if (!h->realm || now_ms() < t->fail_until)
		return -EACCES;
	e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	scope = curl_easy_escape(e, t->scope, 0);
	if (h->service)
		svc = curl_easy_escape(e, h->service, 0);
	url = xasprintf("%s%cservice=%s&scope=%s", h->realm,
			strchr(h->realm, '?') ? '&' : '?', svc ? svc : "",
			scope);
	curl_free(scope);
	curl_free(svc);
	curl_easy_cleanup(e);
	ret = hreq_init(&t->h, url);
	free(url);
	if (ret)
		return ret;
	t->h.on_body = token_body;
	t->h.on_done = token_done;
	/* the token server is trusted like the registry that sent us there */
	apply_tls(t->h.easy, reg->ca_file, reg->tls_verify);
	if (h->cred) {
		curl_easy_setopt(t->h.easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(t->h.easy, CURLOPT_USERNAME, h->cred->user);
		curl_easy_setopt(t->h.easy, CURLOPT_PASSWORD, h->cred->pass);
	}
	ret = hreq_start(&t->h);
	if (!ret) {
		t->fetching = true;
		info("fetching a token for %s (%s)", t->scope, h->hostport);
	}
	return ret;
}

/* ---- one ranged GET ---- */

/* @url without its query (signed URLs carry secrets there) and without
 * user:password@: what logs and metric labels may show */
static const char *url_for_log(const char *url, char *buf, size_t size)
{
	const char *p, *at, *end;

	if (!url)
		return "";
	p = strstr(url, "://");
	end = url + strcspn(url, "?#");
	p = p ? p + 3 : url;
	at = memchr(p, '@', strcspn(p, "/?#"));
	if (at)
		snprintf(buf, size, "%.*s%.*s", (int)(p - url), url,
			 (int)(end - at - 1), at + 1);
	else
		snprintf(buf, size, "%.*s", (int)(end - url), url);
	return buf;
}

static struct redirect *redirect_find(struct registry *reg, const uint8_t *d)
{
	struct redirect *rd;

	list_for_each_entry(rd, &reg->redirects, node)
		if (!memcmp(rd->digest, d, NYDUSFS_DIGEST_SIZE))
			return rd;
	return NULL;
}

static void redirect_drop(struct registry *reg, const uint8_t *d)
{
	struct redirect *rd = redirect_find(reg, d);

	if (!rd)
		return;
	list_del_init(&rd->node);
	free(rd->url);
	free(rd);
}

static void redirect_remember(struct registry *reg, const uint8_t *d,
			      const char *url)
{
	struct redirect *rd;

	redirect_drop(reg, d);
	rd = xzalloc(sizeof(*rd));
	memcpy(rd->digest, d, NYDUSFS_DIGEST_SIZE);
	rd->url = xstrdup(url);
	rd->until = now_ms() + REDIRECT_TTL_MS;
	list_add(&rd->node, &reg->redirects);
}

static void rreq_free(struct rreq *q)
{
	timer_cancel(&q->retry);
	if (!list_empty(&q->wnode))
		list_del_init(&q->wnode);
	hreq_cleanup(&q->h);
	free(q->url);
	free(q);
}

static void rreq_finish(struct rreq *q, int err)
{
	struct range *r = q->r;

	r->priv = NULL;
	rreq_free(q);
	range_done(r, err);
}

static void rreq_fail(struct rreq *q, int err, const char *why)
{
	char buf[512];

	warn("%s: %s: %s", q->reg->src->name,
	     url_for_log(q->url, buf, sizeof(buf)), why);
	if (err == -EIO || err == -ETIMEDOUT || err == -ECONNRESET)
		q->reg->src->down_until = now_ms() + SOURCE_DOWN_MS;
	rreq_finish(q, err);
}

static void retry_fn(struct timer *t)
{
	struct rreq *q = container_of(t, struct rreq, retry);

	rreq_go(q);
}

/* Try again after a delay, if attempts are left; from where data stopped */
static void rreq_retry(struct rreq *q, int err, const char *why,
		       uint64_t delay_ms)
{
	uint64_t backoff;
	char buf[512];

	if (q->attempt >= cfg.retries) {
		rreq_fail(q, err, why);
		return;
	}
	if (!delay_ms) {
		backoff = (uint64_t)cfg.retry_base_ms << (q->attempt < 16 ?
							  q->attempt : 16);
		if (backoff > cfg.retry_max_ms)
			backoff = cfg.retry_max_ms;
		/* jitter: half to all of it, so clients do not move in step */
		delay_ms = backoff / 2 + random() % (backoff / 2 + 1);
	}
	q->attempt++;
	q->reg->src->m.retries++;
	warn("%s: %s: %s; retry %u of %u in %llu ms", q->reg->src->name,
	     url_for_log(q->url, buf, sizeof(buf)), why, q->attempt,
	     cfg.retries, (unsigned long long)delay_ms);
	hreq_cleanup(&q->h);
	q->retry.fn = retry_fn;
	timer_arm(&q->retry, delay_ms);
}

static size_t rreq_body(struct hreq *h, const char *buf, size_t len)
{
	struct rreq *q = container_of(h, struct rreq, h);
	struct range *r = q->r;
	uint64_t end = range_end(r), n = 0;
	size_t all = len;
	unsigned long long a;
	long status;

	if (!q->status_seen) {
		status = hreq_status(h);
		q->status_seen = -1;
		if (status == 206) {
			if (!h->content_range ||
			    sscanf(h->content_range, "bytes %llu-", &a) != 1 ||
			    a != q->start) {
				q->err = -EPROTO;
				return 0;	/* another range: abort */
			}
			q->skip = 0;
			q->status_seen = 1;
		} else if (status == 200) {
			q->skip = q->start;	/* the whole blob */
			q->status_seen = 1;
		}
	}
	if (q->status_seen < 0)
		return all;	/* an error page: read and drop it */
	if (q->skip) {
		n = q->skip < len ? q->skip : len;
		q->skip -= n;
		buf += n;
		len -= n;
	}
	if (len && r->pos < end) {
		n = end - r->pos < len ? end - r->pos : len;
		range_data(r, buf, n);
	}
	if (r->pos >= end || r->cur >= r->njobs) {
		q->complete = true;
		return 0;	/* all in: stop a 200 early */
	}
	return all;
}

static bool retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

static uint64_t retry_after_ms(const char *v)
{
	uint64_t secs;
	time_t when;

	if (!v)
		return 0;
	if (!parse_uint(v, 86400, &secs))
		return secs ? secs * 1000 : 1;
	when = curl_getdate(v, NULL);
	if (when > 0 && when > time(NULL))
		return (uint64_t)(when - time(NULL)) * 1000;
	return 1;
}

static bool same_origin(const char *a, const char *b)
{
	const char *pa = strstr(a, "://"), *pb = strstr(b, "://");
	size_t la, lb;

	if (!pa || !pb)
		return false;
	la = pa + 3 - a + strcspn(pa + 3, "/?#");
	lb = pb + 3 - b + strcspn(pb + 3, "/?#");
	return la == lb && !strncasecmp(a, b, la);
}

static void on_redirect(struct rreq *q)
{
	char *target = NULL;

	curl_easy_getinfo(q->h.easy, CURLINFO_REDIRECT_URL, &target);
	if (!target || q->redirects >= MAX_REDIRECTS) {
		rreq_fail(q, -EIO, target ? "too many redirects" :
			  "redirect without a Location");
		return;
	}
	target = xstrdup(target);
	q->redirects++;
	if (!same_origin(target, q->reg->host->origin)) {
		q->offsite = true;
		redirect_remember(q->reg, q->r->blob->digest, target);
	}
	free(q->url);
	q->url = target;
	hreq_cleanup(&q->h);
	rreq_go(q);
}

static void on_401(struct rreq *q)
{
	struct rhost *h = q->reg->host;
	const char *ch = q->h.www_auth;
	struct token *t;
	int ret;

	if (ch && !strncasecmp(ch, "Bearer", 6) && !q->auth_retried) {
		free(h->realm);
		free(h->service);
		h->realm = challenge_param(ch, "realm");
		h->service = challenge_param(ch, "service");
		t = token_find(h, q->reg->scope);
		q->auth_retried = true;
		hreq_cleanup(&q->h);
		if (t->value && t->gen != q->tok_gen && !t->fetching &&
		    t->expires_at > now_ms()) {
			/* a newer token came while this one was out */
			rreq_go(q);
			return;
		}
		/* joins a fetch under way, or starts one */
		list_add_tail(&q->wnode, &t->waiters);
		ret = token_fetch(t, q->reg);
		if (ret) {
			list_del_init(&q->wnode);
			rreq_fail(q, -EACCES, "cannot get a token");
		}
		return;
	}
	if (ch && !strncasecmp(ch, "Basic", 5) && h->cred && !q->basic_retried) {
		h->send_basic = true;
		q->basic_retried = true;
		hreq_cleanup(&q->h);
		rreq_go(q);
		return;
	}
	rreq_fail(q, -EACCES, "401 Unauthorized");
}

static void rreq_done(struct hreq *h, CURLcode rc)
{
	struct rreq *q = container_of(h, struct rreq, h);
	struct range *r = q->r;
	long status = hreq_status(h);
	char why[CURL_ERROR_SIZE + 64];

	if (q->complete || r->cur >= r->njobs) {
		rreq_finish(q, 0);
		return;
	}
	if (q->err) {
		rreq_retry(q, q->err, "answer for another range", 0);
		range_resume(r);
		return;
	}
	if (rc != CURLE_OK && (status < 300 || !status)) {
		snprintf(why, sizeof(why), "%s", h->errbuf[0] ? h->errbuf :
			 curl_easy_strerror(rc));
		if (q->offsite && !q->origin_retried) {
			q->origin_retried = true;
			redirect_drop(q->reg, r->blob->digest);
		}
		range_resume(r);
		if (retryable(rc))
			rreq_retry(q, rc == CURLE_OPERATION_TIMEDOUT ?
				   -ETIMEDOUT : -EIO, why, 0);
		else
			rreq_fail(q, -EIO, why);
		return;
	}
	if (status == 200 || status == 206) {
		range_resume(r);
		rreq_retry(q, -EIO, "the body ended early", 0);
		return;
	}
	snprintf(why, sizeof(why), "HTTP %ld", status);
	if (status >= 300 && status < 400) {
		on_redirect(q);
		return;
	}
	if ((status == 401 || status == 403) && q->offsite &&
	    !q->origin_retried) {
		/* an expired signed URL: ask the registry again */
		q->origin_retried = true;
		q->offsite = false;
		redirect_drop(q->reg, r->blob->digest);
		hreq_cleanup(&q->h);
		free(q->url);
		q->url = NULL;
		rreq_go(q);
		return;
	}
	if (status == 401) {
		on_401(q);
		return;
	}
	if (status == 429) {
		rreq_retry(q, -EAGAIN, why, retry_after_ms(h->retry_after) ?:
			   cfg.retry_base_ms);
		return;
	}
	if (status >= 500) {
		rreq_retry(q, -EIO, why, 0);
		return;
	}
	rreq_fail(q, status == 404 ? -ENOENT : status == 403 ? -EACCES : -EIO,
		  why);
}

static void add_auth(struct rreq *q)
{
	struct rhost *h = q->reg->host;
	struct token *t;
	char *hdr;

	list_for_each_entry(t, &h->tokens, node) {
		if (strcmp(t->scope, q->reg->scope) || !t->value)
			continue;
		if (t->refresh_at <= now_ms() && !t->fetching)
			token_fetch(t, q->reg);	/* in the background */
		q->tok_gen = t->gen;
		hdr = xasprintf("Authorization: Bearer %s", t->value);
		q->h.headers = curl_slist_append(q->h.headers, hdr);
		free(hdr);
		return;
	}
	if (h->send_basic && h->cred) {
		curl_easy_setopt(q->h.easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(q->h.easy, CURLOPT_USERNAME, h->cred->user);
		curl_easy_setopt(q->h.easy, CURLOPT_PASSWORD, h->cred->pass);
	}
}

/* A token that has expired: wait for the one being fetched. */
static bool wait_for_token(struct rreq *q)
{
	struct token *t;

	list_for_each_entry(t, &q->reg->host->tokens, node) {
		if (strcmp(t->scope, q->reg->scope))
			continue;
		if (t->value && t->expires_at > now_ms())
			return false;
		if (!t->fetching && token_fetch(t, q->reg))
			return false;
		list_add_tail(&q->wnode, &t->waiters);
		return true;
	}
	return false;
}

static void rreq_go(struct rreq *q)
{
	struct registry *reg = q->reg;
	struct range *r = q->r;
	struct redirect *rd;
	char range[64];
	int ret;

	if (!q->url) {
		rd = redirect_find(reg, r->blob->digest);
		if (rd && rd->until > now_ms()) {
			q->url = xstrdup(rd->url);
			q->offsite = true;
		} else {
			q->url = xasprintf("%s/v2/%s/blobs/sha256:%s", reg->base,
					   reg->name, r->blob->hex);
			q->offsite = false;
		}
	}
	if (!q->offsite && wait_for_token(q))
		return;
	ret = hreq_init(&q->h, q->url);
	if (ret) {
		rreq_finish(q, ret);
		return;
	}
	q->h.on_body = rreq_body;
	q->h.on_done = rreq_done;
	q->start = r->pos;
	q->tok_gen = 0;
	q->status_seen = 0;
	q->skip = 0;
	q->err = 0;
	snprintf(range, sizeof(range), "Range: bytes=%llu-%llu",
		 (unsigned long long)q->start,
		 (unsigned long long)range_end(r) - 1);
	q->h.headers = curl_slist_append(q->h.headers, range);
	if (!q->offsite) {
		apply_tls(q->h.easy, reg->ca_file, reg->tls_verify);
		add_auth(q);
	} else {
		/* another host (object storage): no credential of ours */
		apply_tls(q->h.easy, cfg.ca_file, true);
	}
	ret = hreq_start(&q->h);
	if (ret)
		rreq_finish(q, ret);
}

static int reg_start(struct range *r)
{
	struct rreq *q = xzalloc(sizeof(*q));

	q->r = r;
	q->reg = r->src->priv;
	INIT_LIST_HEAD(&q->wnode);
	INIT_LIST_HEAD(&q->retry.node);
	r->priv = q;
	rreq_go(q);
	return 0;
}

static void reg_cancel(struct range *r)
{
	struct rreq *q = r->priv;

	if (q) {
		r->priv = NULL;
		rreq_free(q);
	}
}

static void reg_free(struct source *s)
{
	struct registry *reg = s->priv;

	while (!list_empty(&reg->redirects))
		redirect_drop(reg, list_entry(reg->redirects.next,
					      struct redirect, node)->digest);
	free(reg->base);
	free(reg->name);
	free(reg->scope);
	free(reg);
}

static const struct backend_ops registry_ops = {
	.kind = "registry",
	.start = reg_start,
	.cancel = reg_cancel,
	.free = reg_free,
};

/*
 * @ref: HOST[:PORT]/NAME.  @mirror: a base URL to use instead of the
 * registry's (NULL: the registry itself, https unless its config says
 * scheme = http).
 */
struct source *registry_new(const char *ref, const char *mirror)
{
	const struct cfg_host *hc, *mc = NULL;
	struct registry *reg;
	char *host, *mhost, buf[1024];
	struct source *s;
	size_t len;

	if (!ready && registry_init())
		return NULL;
	host = strndup(ref, strcspn(ref, "/"));
	hc = config_host(&cfg, host);
	reg = xzalloc(sizeof(*reg));
	INIT_LIST_HEAD(&reg->redirects);
	reg->name = xstrdup(ref + strlen(host) + 1);
	reg->scope = xasprintf("repository:%s:pull", reg->name);
	if (mirror) {
		len = strlen(mirror);
		while (len && mirror[len - 1] == '/')
			len--;
		reg->base = strndup(mirror, len);
		mhost = host_of(mirror);
		mc = config_host(&cfg, mhost);
		free(mhost);
	} else {
		reg->base = xasprintf("%s://%s", hc ? hc->scheme : "https", host);
		mc = hc;
	}
	reg->ca_file = mc && mc->ca_file ? mc->ca_file : cfg.ca_file;
	reg->tls_verify = mc ? mc->tls_verify : true;
	reg->host = rhost_get(reg->base);
	if (mc && mc->username && !reg->host->cred) {
		cred_add(reg->host->hostport, mc->username, mc->password);
		reg->host->cred = cred_find(reg->host->hostport);
	}
	s = xzalloc(sizeof(*s));
	s->ops = &registry_ops;
	s->priv = reg;
	s->name = mirror ? xasprintf("mirror:%s (%s)",
				     url_for_log(reg->base, buf, sizeof(buf)),
				     ref) :
			   xasprintf("registry:%s", ref);
	reg->src = s;
	sources_register(s);
	free(host);
	return s;
}

int registry_init(void)
{
	const struct cfg_host *h;
	int ret;

	if (ready)
		return 0;
	ret = http_init();
	if (ret)
		return ret;
	srandom(getpid() ^ now_us());
	for (h = cfg.hosts; h; h = h->next)
		if (h->username)
			cred_add(h->host, h->username, h->password);
	load_docker_config();
	ready = true;
	return 0;
}

void registry_exit(void)
{
	struct rhost *h, *hn;
	struct token *t, *tn;
	struct cred *c, *cn;

	if (!ready)
		return;
	list_for_each_entry_safe(h, hn, &hosts, node) {
		list_for_each_entry_safe(t, tn, &h->tokens, node) {
			hreq_cleanup(&t->h);
			free(t->value);
			free(t->scope);
			free(t->body);
			free(t);
		}
		free(h->origin);
		free(h->hostport);
		free(h->realm);
		free(h->service);
		free(h);
	}
	list_for_each_entry_safe(c, cn, &creds, node) {
		free(c->host);
		free(c->user);
		free(c->pass);
		free(c);
	}
	INIT_LIST_HEAD(&hosts);
	INIT_LIST_HEAD(&creds);
	http_exit();
	ready = false;
}
