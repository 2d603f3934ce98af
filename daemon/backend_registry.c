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
 *   config, else from the docker-style auth files (read once at start).
 *   They are never logged, and URLs are logged without their query.
 *   Parsing the challenges, auth files, token answers, Retry-After and
 *   Content-Range, and deciding what to retry, is lib/registry_auth.c,
 *   shared with nydusfs convert; this file only drives the requests.
 * - 5xx, 408, refused connections, resets, stalls and timeouts are
 *   retried (fetch.retries times, exponential backoff with jitter, from
 *   where the data stopped); 429 waits for Retry-After; 401 after a fresh
 *   token, 403, 404 and TLS failures are not retried: the range goes to
 *   the blob's next source.
 * - TLS is verified (ca_file to add a CA; tls_verify = false only for a
 *   host that asks for it).  HTTP/2 multiplexing and keep-alive come from
 *   curl's connection cache; each answer's HTTP version and the
 *   connections opened are counted per source (metrics).
 * - Mirrors (mirror = URL in [registry "HOST"]) are sources of their own,
 *   tried before the registry, with the same protocol.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "nydusfs/registry_auth.h"
#include "nydusfsd.h"

#define MAX_REDIRECTS		5
#define REDIRECT_TTL_MS		(5 * 60 * 1000)
#define RETRY_AFTER_MAX_MS	(5 * 60 * 1000)
#define SOURCE_DOWN_MS		5000
#define TOKEN_BODY_MAX		(1U << 20)

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
	struct nydusfs_cred cred;	/* user NULL: none */
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
	bool partial;			/* a 206 */
	bool complete;
	int err;
};

static LIST_HEAD(hosts);
static struct nydusfs_auth_files auth_files;	/* read at start */
static bool ready;

/* What logs may show of @url (NULL: ""). */
static const char *url_for_log(const char *url, char *buf, size_t size)
{
	return url ? nydusfs_url_for_log(url, buf, size) : "";
}

/* ---- credentials ---- */

/* [registry "HOST"] username/password, else the auth files'. */
static void host_cred(struct rhost *h)
{
	const struct cfg_host *hc = config_host(&cfg, h->hostport);
	const char *from;
	int ret;

	if (hc && hc->username) {
		h->cred.user = xstrdup(hc->username);
		h->cred.pass = xstrdup(hc->password);
		return;
	}
	ret = nydusfs_auth_files_find(&auth_files, h->hostport, &h->cred,
				      &from);
	if (!ret)
		info("credentials for %s from %s", h->hostport, from);
	else if (ret == -EINVAL)
		warn("auth file %s: malformed, or a bad entry for %s; ignored",
		     from, h->hostport);
}

static void load_auth_files(void)
{
	unsigned int i;
	int ret;

	ret = nydusfs_auth_files_load(&auth_files, cfg.auth_file);
	for (i = 0; i < auth_files.n; i++) {
		if (!auth_files.f[i].err)
			info("auth file %s loaded", auth_files.f[i].path);
		else if (cfg.auth_file || auth_files.f[i].err != -ENOENT)
			warn("auth file %s: %s", auth_files.f[i].path,
			     strerror(-auth_files.f[i].err));
	}
	if (ret == -ENOMEM) {
		err("out of memory");
		abort();
	}
}

/* ---- hosts and tokens ---- */

/* The authentication state of @base's origin (NULL: not a URL). */
static struct rhost *rhost_get(const char *base)
{
	char *hostport = nydusfs_url_host(base);
	struct rhost *h;

	if (!hostport)
		return NULL;
	list_for_each_entry(h, &hosts, node) {
		if (nydusfs_url_same_origin(h->origin, base)) {
			free(hostport);
			return h;
		}
	}
	h = xzalloc(sizeof(*h));
	h->origin = xstrdup(base);
	h->hostport = hostport;
	host_cred(h);
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
	char *p;

	if (t->blen + len > TOKEN_BODY_MAX)
		return 0;
	p = realloc(t->body, t->blen + len + 1);
	if (!p)
		return 0;
	t->body = p;
	memcpy(t->body + t->blen, buf, len);
	t->blen += len;
	t->body[t->blen] = '\0';
	return len;
}

static void token_drop_body(struct token *t)
{
	if (t->body)
		explicit_bzero(t->body, t->blen);
	free(t->body);
	t->body = NULL;
	t->blen = 0;
}

static void token_drop_value(struct token *t)
{
	if (t->value)
		explicit_bzero(t->value, strlen(t->value));
	free(t->value);
	t->value = NULL;
}

static void token_forget(struct token *t)
{
	token_drop_value(t);
	token_drop_body(t);
}

/* The answer of the token server: the token, and when to renew it. */
static int token_parse(struct token *t)
{
	struct nydusfs_token tok;
	uint64_t renew, end, now = now_ms();
	time_t wall = time(NULL);
	int ret;

	ret = nydusfs_auth_parse_token(t->body ? t->body : "", t->blen, wall,
				       &tok);
	if (ret)
		return ret;
	nydusfs_token_schedule(&tok, wall, &renew, &end);
	token_drop_value(t);
	t->value = tok.value;
	tok.value = NULL;
	nydusfs_token_free(&tok);
	t->gen++;
	t->expires_at = now + end;
	t->refresh_at = now + renew;
	return 0;
}

static void token_done(struct hreq *h, CURLcode rc)
{
	struct token *t = container_of(h, struct token, h);
	long status = hreq_status(h);
	char buf[512];
	int err = 0;

	t->fetching = false;
	if (rc != CURLE_OK || status != 200 || token_parse(t)) {
		warn("token for %s from %s: %s", t->scope,
		     url_for_log(t->host->realm, buf, sizeof(buf)),
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
	token_drop_body(t);
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
	char *url;
	int ret;

	if (t->fetching)
		return 0;
	if (!h->realm || now_ms() < t->fail_until)
		return -EACCES;
	url = nydusfs_auth_token_url(h->realm, h->service, t->scope);
	if (!url)
		return -ENOMEM;
	ret = hreq_init(&t->h, url);
	free(url);
	if (ret)
		return ret;
	t->h.on_body = token_body;
	t->h.on_done = token_done;
	/* the token server is trusted like the registry that sent us there */
	apply_tls(t->h.easy, reg->ca_file, reg->tls_verify);
	if (h->cred.user)
		hreq_basic_auth(&t->h, &h->cred);
	ret = hreq_start(&t->h);
	if (!ret) {
		t->fetching = true;
		info("fetching a token for %s (%s)", t->scope, h->hostport);
	}
	return ret;
}

/* ---- one ranged GET ---- */

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
	/* down, or failing: let the next source serve for a while */
	if (nydusfs_http_retryable(err) || err == -EHOSTUNREACH)
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
	uint64_t end = range_end(r), n, first, last, total;
	size_t all = len, used = 0;
	long status;

	if (!q->status_seen) {
		status = hreq_status(h);
		q->status_seen = -1;
		if (status == 206) {
			if (!h->content_range ||
			    nydusfs_http_content_range(h->content_range, &first,
						       &last, &total) ||
			    first != q->start) {
				q->err = -EPROTO;
				return 0;	/* another range: abort */
			}
			q->skip = 0;
			q->partial = true;
			q->status_seen = 1;
		} else if (status == 200) {
			q->skip = q->start;	/* the whole blob */
			q->partial = false;
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
		used = end - r->pos < len ? end - r->pos : len;
		range_data(r, buf, used);
	}
	if (r->pos < end && range_wants(r))
		return all;
	q->complete = true;
	/* All in.  A 206 that ends here completes by itself and keeps its
	 * connection for the next request; the rest of a 200 (the whole
	 * blob), or bytes past the range, are cut off. */
	return q->partial && r->pos >= end && used == len ? all : 0;
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
	if (!nydusfs_url_same_origin(target, q->reg->host->origin)) {
		q->offsite = true;
		redirect_remember(q->reg, q->r->digest, target);
	}
	free(q->url);
	q->url = target;
	hreq_cleanup(&q->h);
	rreq_go(q);
}

/* Bearer: a token for the registry's scope; the request waits for it. */
static void on_bearer(struct rreq *q, struct nydusfs_auth_challenge *c)
{
	struct rhost *h = q->reg->host;
	struct token *t;
	int ret;

	free(h->realm);
	free(h->service);
	h->realm = c->realm;
	h->service = c->service;
	c->realm = c->service = NULL;
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
}

static void on_401(struct rreq *q)
{
	struct rhost *h = q->reg->host;
	struct nydusfs_auth_challenge c;
	const char *why = "401 Unauthorized";

	if (!q->h.www_auth || nydusfs_auth_parse_challenge(q->h.www_auth, &c)) {
		rreq_fail(q, -EACCES, "401 without a usable WWW-Authenticate challenge");
		return;
	}
	if (c.scheme == NYDUSFS_AUTH_BEARER && !q->auth_retried) {
		on_bearer(q, &c);
	} else if (c.scheme == NYDUSFS_AUTH_BASIC && h->cred.user &&
		   !q->basic_retried) {
		h->send_basic = true;
		q->basic_retried = true;
		hreq_cleanup(&q->h);
		rreq_go(q);
	} else {
		if (c.scheme == NYDUSFS_AUTH_BASIC && !h->cred.user)
			why = "401 Unauthorized: the registry wants credentials "
			      "(username and password in [registry \"HOST\"], "
			      "or an auth_file)";
		else if (c.scheme == NYDUSFS_AUTH_BASIC)
			why = "401 Unauthorized: the credentials were not accepted";
		rreq_fail(q, -EACCES, why);
	}
	nydusfs_auth_challenge_free(&c);
}

/* Connections opened and HTTP versions, for the source's metrics. */
static void note_transfer(struct rreq *q)
{
	static const long curl_versions[NR_HTTP_VERSIONS] = {
		[HTTP_V1_0] = CURL_HTTP_VERSION_1_0,
		[HTTP_V1_1] = CURL_HTTP_VERSION_1_1,
		[HTTP_V2] = CURL_HTTP_VERSION_2_0,
		[HTTP_V3] = CURL_HTTP_VERSION_3,
	};
	struct src_metrics *m = &q->reg->src->m;
	long version = 0, connects = 0;
	unsigned int i;

	curl_easy_getinfo(q->h.easy, CURLINFO_HTTP_VERSION, &version);
	curl_easy_getinfo(q->h.easy, CURLINFO_NUM_CONNECTS, &connects);
	m->connects += connects > 0 ? connects : 0;
	for (i = 0; i < NR_HTTP_VERSIONS; i++)
		if (version == curl_versions[i])
			m->http_responses[i]++;
}

/* No answer, or one cut short: the network or the server's fault. */
static void on_transfer_error(struct rreq *q, CURLcode rc)
{
	int err = nydusfs_curl_errno(rc);
	char why[CURL_ERROR_SIZE + 64];

	snprintf(why, sizeof(why), "%s", q->h.errbuf[0] ? q->h.errbuf :
		 curl_easy_strerror(rc));
	if (q->offsite && !q->origin_retried) {
		q->origin_retried = true;
		redirect_drop(q->reg, q->r->digest);
	}
	range_resume(q->r);
	if (nydusfs_http_retryable(err))
		rreq_retry(q, err, why, 0);
	else
		rreq_fail(q, err, why);
}

/* An expired signed URL (401 or 403 from the redirect target): ask the
 * registry again. */
static void back_to_origin(struct rreq *q)
{
	q->origin_retried = true;
	q->offsite = false;
	redirect_drop(q->reg, q->r->digest);
	hreq_cleanup(&q->h);
	free(q->url);
	q->url = NULL;
	rreq_go(q);
}

/* 429 and its Retry-After (seconds or a date), capped. */
static void on_429(struct rreq *q, const char *why)
{
	uint64_t ms = 0;

	if (!q->h.retry_after ||
	    nydusfs_http_retry_after(q->h.retry_after, time(NULL),
				     RETRY_AFTER_MAX_MS, &ms))
		ms = cfg.retry_base_ms;
	rreq_retry(q, -EAGAIN, why, ms ? ms : 1);
}

static void rreq_done(struct hreq *h, CURLcode rc)
{
	struct rreq *q = container_of(h, struct rreq, h);
	struct range *r = q->r;
	long status = hreq_status(h);
	char why[64];
	int err;

	note_transfer(q);
	if (q->complete || !range_wants(r)) {
		rreq_finish(q, 0);
		return;
	}
	if (q->err) {
		rreq_retry(q, q->err, "answer for another range", 0);
		range_resume(r);
		return;
	}
	if (rc != CURLE_OK && (status < 300 || !status)) {
		on_transfer_error(q, rc);
		return;
	}
	if (status == 200 || status == 206) {
		range_resume(r);
		rreq_retry(q, -EIO, "the body ended early", 0);
		return;
	}
	snprintf(why, sizeof(why), "HTTP %ld", status);
	err = nydusfs_http_status_errno(status);
	if (status >= 300 && status < 400)
		on_redirect(q);
	else if (err == -EACCES && q->offsite && !q->origin_retried)
		back_to_origin(q);
	else if (status == 401)
		on_401(q);
	else if (status == 429)
		on_429(q, why);
	else if (nydusfs_http_retryable(err))
		rreq_retry(q, err, why, 0);
	else
		rreq_fail(q, err, why);
}

static void add_auth(struct rreq *q)
{
	struct rhost *h = q->reg->host;
	struct token *t;

	list_for_each_entry(t, &h->tokens, node) {
		if (strcmp(t->scope, q->reg->scope) || !t->value)
			continue;
		if (t->refresh_at <= now_ms() && !t->fetching)
			token_fetch(t, q->reg);	/* in the background */
		q->tok_gen = t->gen;
		hreq_bearer_auth(&q->h, t->value);
		return;
	}
	if (h->send_basic && h->cred.user)
		hreq_basic_auth(&q->h, &h->cred);
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
		rd = redirect_find(reg, r->digest);
		if (rd && rd->until > now_ms()) {
			q->url = xstrdup(rd->url);
			q->offsite = true;
		} else {
			q->url = xasprintf("%s/v2/%s/blobs/sha256:%s", reg->base,
					   reg->name, r->hex);
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
	q->partial = false;
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

static void reg_free_priv(struct registry *reg)
{
	while (!list_empty(&reg->redirects))
		redirect_drop(reg, list_entry(reg->redirects.next,
					      struct redirect, node)->digest);
	free(reg->base);
	free(reg->name);
	free(reg->scope);
	free(reg);
}

static void reg_free(struct source *s)
{
	reg_free_priv(s->priv);
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
	const struct cfg_host *hc;
	struct registry *reg;
	char *host, buf[1024];
	struct source *s;
	size_t len;

	if (!ready && registry_init())
		return NULL;
	reg = xzalloc(sizeof(*reg));
	INIT_LIST_HEAD(&reg->redirects);
	host = strndup(ref, strcspn(ref, "/"));
	reg->name = xstrdup(ref + strlen(host) + 1);
	reg->scope = xasprintf("repository:%s:pull", reg->name);
	if (mirror) {
		for (len = strlen(mirror); len && mirror[len - 1] == '/'; len--)
			;
		reg->base = strndup(mirror, len);
	} else {
		hc = config_host(&cfg, host);
		reg->base = xasprintf("%s://%s", hc ? hc->scheme : "https", host);
	}
	free(host);
	reg->host = rhost_get(reg->base);
	if (!reg->host) {
		err("mirror '%s' of %s: not an http:// or https:// URL", mirror,
		    ref);
		reg_free_priv(reg);
		return NULL;
	}
	/* TLS settings of the host the requests go to (the mirror's) */
	hc = config_host(&cfg, reg->host->hostport);
	reg->ca_file = hc && hc->ca_file ? hc->ca_file : cfg.ca_file;
	reg->tls_verify = hc ? hc->tls_verify : true;
	s = xzalloc(sizeof(*s));
	s->ops = &registry_ops;
	s->priv = reg;
	s->name = mirror ? xasprintf("mirror:%s (%s)",
				     url_for_log(reg->base, buf, sizeof(buf)),
				     ref) :
			   xasprintf("registry:%s", ref);
	reg->src = s;
	sources_register(s);
	return s;
}

int registry_init(void)
{
	int ret;

	if (ready)
		return 0;
	ret = http_init();
	if (ret)
		return ret;
	srandom(getpid() ^ now_us());
	load_auth_files();
	ready = true;
	return 0;
}

void registry_exit(void)
{
	struct rhost *h, *hn;
	struct token *t, *tn;

	if (!ready)
		return;
	list_for_each_entry_safe(h, hn, &hosts, node) {
		list_for_each_entry_safe(t, tn, &h->tokens, node) {
			hreq_cleanup(&t->h);
			token_forget(t);
			free(t->scope);
			free(t);
		}
		nydusfs_cred_free(&h->cred);
		free(h->origin);
		free(h->hostport);
		free(h->realm);
		free(h->service);
		free(h);
	}
	INIT_LIST_HEAD(&hosts);
	nydusfs_auth_files_free(&auth_files);
	http_exit();
	ready = false;
}
