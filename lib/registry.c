// SPDX-License-Identifier: GPL-2.0
/*
 * The blocking registry client (include/nydusfs/registry.h).
 *
 * Layers, bottom up:
 *   reg_exchange()  one HTTP exchange: the only place libcurl runs a
 *                   request; fills struct reg_req's response fields.
 *   reg_attempt()   an exchange plus what the protocol asks on the way:
 *                   redirects (by hand, no credentials to other origins)
 *                   and one retry after a 401 challenge (token or Basic).
 *   reg_do()        attempts with bounded retries and backoff; turns the
 *                   outcome into 0 or -errno and logs the failure once.
 * Everything else builds a struct reg_req and calls reg_do().
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "nydusfs/err.h"
#include "nydusfs/format.h"
#include "nydusfs/log.h"
#include "nydusfs/registry.h"
#include "nydusfs/registry_auth.h"

#define REG_MAX_REDIRECTS	5
#define REG_ERRBODY_MAX		(64U << 10)
#define REG_TOKEN_MAX		(1U << 20)
#define REG_CONNECT_TIMEOUT	30L
#define REG_BUFFER_SIZE		(256L << 10)	/* CURLOPT_BUFFERSIZE */
#define REG_USER_AGENT		"nydusfs/1"

#define ACCEPT_MANIFESTS	NYDUSFS_MT_OCI_MANIFEST ", " NYDUSFS_MT_OCI_INDEX \
				", " NYDUSFS_MT_DOCKER_MANIFEST ", " \
				NYDUSFS_MT_DOCKER_LIST

/* reg_req.flags */
#define REQ_FOLLOW	0x01	/* follow redirects (GET, HEAD) */
#define REQ_NO_RETRY	0x02	/* a step of an upload: the caller retries */
#define REQ_TOKEN	0x04	/* to a token realm: Basic credentials go */
#define REQ_OK_401	0x08	/* the ping: a 401 is an answer */

/* reg_req.quiet: failures the caller expects, not logged */
#define QUIET_ENOENT	0x01
#define QUIET_ALL	0xff

struct token_entry {
	struct token_entry *next;
	char *scope;
	struct nydusfs_token tok;
};

struct nydusfs_registry {
	char *host, *cred_host, *repo;
	char *base;			/* "https://HOST", once known */
	struct nydusfs_registry_opts o;
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	struct nydusfs_cred cred;	/* user NULL: none */
	char *ca_pem;			/* ca_file, then cert_dir's .crt files */
	size_t ca_len;
	char *client_cert, *client_key;
	char *realm, *service;		/* from a Bearer challenge */
	bool basic;			/* it asked for Basic */
	struct token_entry *tokens;
	uint64_t retry_after_ms;	/* of the last 429 */
	uint32_t rng;
	struct nydusfs_registry_stats st;
};

struct resp_hdrs {
	char *location, *content_range, *digest, *content_type, *www_auth;
	char *retry_after, *range;
};

struct reg_req {
	/* the request */
	const char *method;
	const char *url;
	const char *actions;		/* on r->repo; NULL: no auth */
	const char *extra_scope;	/* another "repository:X:pull" */
	const char *accept, *content_type, *range, *content_range;
	const void *body;		/* or body_fd >= 0 */
	int body_fd;
	uint64_t body_off, body_len;
	bool has_body;
	unsigned int flags, quiet;
	/* 2xx bodies go to sink (nonzero return: stop; < 0 an error) */
	int (*sink)(struct reg_req *q, const char *buf, size_t len);
	int (*prepare)(struct reg_req *q);	/* before each attempt */
	void *arg;
	size_t rmax;			/* without a sink: collect up to it */

	/* the answer to the last exchange */
	long status;
	CURLcode rc;
	struct resp_hdrs h;
	char *rbody;
	size_t rlen;
	uint64_t sent;
	int sink_err;
	bool sink_stop;			/* the sink had all it wanted */
	bool offsite;			/* a URL on another origin */
	bool reported;			/* the failure was logged already */
	char *scope;			/* computed from actions */
	char *cur_url;			/* after redirects */
};

/* ---- small helpers ---- */

static void free_hdrs(struct resp_hdrs *h)
{
	free(h->location);
	free(h->content_range);
	free(h->digest);
	free(h->content_type);
	free(h->www_auth);
	free(h->retry_after);
	free(h->range);
	memset(h, 0, sizeof(*h));
}

static void req_reset_answer(struct reg_req *q)
{
	free_hdrs(&q->h);
	free(q->rbody);
	q->rbody = NULL;
	q->rlen = 0;
	q->status = 0;
	q->rc = CURLE_OK;
	q->sent = 0;
	q->sink_err = 0;
	q->sink_stop = false;
}

static void req_free(struct reg_req *q)
{
	req_reset_answer(q);
	free(q->scope);
	free(q->cur_url);
	q->scope = NULL;
	q->cur_url = NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static uint32_t next_rand(struct nydusfs_registry *r)
{
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 17;
	r->rng ^= r->rng << 5;
	return r->rng;
}

int nydusfs_oci_digest(const void *buf, size_t len,
		       char out[NYDUSFS_OCI_DIGEST_LEN])
{
	uint8_t d[NYDUSFS_DIGEST_SIZE];
	char hex[2 * NYDUSFS_DIGEST_SIZE + 1];
	int err = nydusfs_sha256(buf, len, d);

	if (err)
		return err;
	nydusfs_digest_to_hex(d, hex);
	snprintf(out, NYDUSFS_OCI_DIGEST_LEN, "sha256:%s", hex);
	return 0;
}

/* ---- credentials and TLS material ---- */

/* --creds, else the first auth file with an entry for the registry. */
static int load_creds(struct nydusfs_registry *r)
{
	struct nydusfs_auth_files af;
	const char *from;
	unsigned int i;
	int err;

	if (r->o.user) {
		r->cred.user = strdup(r->o.user);
		r->cred.pass = strdup(r->o.pass ? r->o.pass : "");
		return r->cred.user && r->cred.pass ? 0 : -ENOMEM;
	}
	err = nydusfs_auth_files_load(&af, r->o.auth_file);
	for (i = 0; i < af.n; i++)
		if (af.f[i].err && (r->o.auth_file || af.f[i].err != -ENOENT))
			nydusfs_err("auth file %s: %s", af.f[i].path,
				    strerror(-af.f[i].err));
	if (err) {
		nydusfs_auth_files_free(&af);
		return err;
	}
	err = nydusfs_auth_files_find(&af, r->cred_host, &r->cred, &from);
	if (err == -EINVAL)
		nydusfs_warn("auth file %s: malformed (or a bad entry for %s); "
			     "ignored", from, r->cred_host);
	else if (!err)
		nydusfs_info("credentials for %s from %s", r->cred_host, from);
	nydusfs_auth_files_free(&af);
	return err == -EINVAL || err == -ENOENT ? 0 : err;
}

static int append_file(char **pem, size_t *len, const char *path)
{
	size_t n;
	char *buf, *p;
	int err;

	err = nydusfs_read_small_file(path, 1U << 20, &buf, &n);
	if (err) {
		nydusfs_err("%s: %s", path, strerror(-err));
		return err;
	}
	p = realloc(*pem, *len + n + 2);
	if (!p) {
		free(buf);
		return -ENOMEM;
	}
	memcpy(p + *len, buf, n);
	*len += n;
	p[(*len)++] = '\n';
	p[*len] = '\0';
	*pem = p;
	free(buf);
	return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a > b && !strcmp(s + a - b, suffix);
}

/* skopeo's --cert-dir: *.crt are CAs; NAME.cert with NAME.key a client. */
static int load_cert_dir(struct nydusfs_registry *r)
{
	struct dirent **ents;
	char *path;
	int i, n, err = 0;

	n = scandir(r->o.cert_dir, &ents, NULL, alphasort);
	if (n < 0) {
		nydusfs_err("cert dir %s: %s", r->o.cert_dir, strerror(errno));
		return -errno;
	}
	for (i = 0; i < n; i++) {
		if (!err && (has_suffix(ents[i]->d_name, ".crt") ||
			     (has_suffix(ents[i]->d_name, ".cert") &&
			      !r->client_cert))) {
			if (asprintf(&path, "%s/%s", r->o.cert_dir,
				     ents[i]->d_name) < 0) {
				err = -ENOMEM;
			} else if (has_suffix(path, ".crt")) {
				err = append_file(&r->ca_pem, &r->ca_len, path);
				free(path);
			} else {
				r->client_cert = path;
				if (asprintf(&r->client_key, "%.*s.key",
					     (int)strlen(path) - 5, path) < 0)
					err = -ENOMEM;
			}
		}
		free(ents[i]);
	}
	free(ents);
	if (!err && r->client_key && access(r->client_key, R_OK)) {
		nydusfs_err("cert dir %s: %s has no %s", r->o.cert_dir,
			    r->client_cert, r->client_key);
		err = -ENOENT;
	}
	return err;
}

/* ---- one exchange ---- */

static void keep_header(char **slot, const char *line, size_t len,
			const char *name)
{
	char *v;

	if (*slot)
		return;			/* the first one counts */
	v = nydusfs_http_header_value(line, len, name);
	if (v)
		*slot = v;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	struct reg_req *q = arg;
	size_t len = size * n;
	struct resp_hdrs *h = &q->h;

	if (len >= 5 && !strncmp(line, "HTTP/", 5)) {
		free_hdrs(h);		/* a new answer (after 100 Continue) */
		return len;
	}
	keep_header(&h->location, line, len, "Location");
	keep_header(&h->content_range, line, len, "Content-Range");
	keep_header(&h->digest, line, len, "Docker-Content-Digest");
	keep_header(&h->content_type, line, len, "Content-Type");
	keep_header(&h->www_auth, line, len, "WWW-Authenticate");
	keep_header(&h->retry_after, line, len, "Retry-After");
	keep_header(&h->range, line, len, "Range");
	return len;
}

static int collect(struct reg_req *q, const char *buf, size_t len,
		   size_t max)
{
	char *p;

	if (q->rlen + len > max)
		return -EFBIG;
	p = realloc(q->rbody, q->rlen + len + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p + q->rlen, buf, len);
	q->rlen += len;
	p[q->rlen] = '\0';
	q->rbody = p;
	return 0;
}

static size_t on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct reg_req *q = arg;
	size_t len = size * n, room;
	int ret;

	if (q->status < 200 || q->status >= 300) {
		/* an error page, a redirect: keep the start for the message */
		room = REG_ERRBODY_MAX - q->rlen;
		if (room)
			collect(q, buf, len < room ? len : room,
				REG_ERRBODY_MAX);
		return len;
	}
	if (!q->sink) {
		if (!q->rmax)
			return len;	/* a body nobody asked for */
		q->sink_err = collect(q, buf, len, q->rmax);
		return q->sink_err ? 0 : len;
	}
	ret = q->sink(q, buf, len);
	if (ret < 0)
		q->sink_err = ret;
	else if (ret > 0)
		q->sink_stop = true;
	return ret ? 0 : len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct reg_req *q = arg;
	uint64_t left = q->body_len - q->sent;
	size_t len = size * n < left ? size * n : left;
	ssize_t got;

	if (!len)
		return 0;
	if (q->body) {
		memcpy(buf, (const char *)q->body + q->sent, len);
	} else {
		got = pread(q->body_fd, buf, len, q->body_off + q->sent);
		if (got <= 0) {
			q->sink_err = got < 0 ? -errno : -EIO;
			return CURL_READFUNC_ABORT;
		}
		len = got;
	}
	q->sent += len;
	return len;
}

static int on_seek(void *arg, curl_off_t off, int origin)
{
	struct reg_req *q = arg;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > q->body_len)
		return CURL_SEEKFUNC_FAIL;
	q->sent = off;
	return CURL_SEEKFUNC_OK;
}

/* The status arrives before the body: on_body needs it. */
static size_t on_header_status(char *line, size_t size, size_t n, void *arg)
{
	struct reg_req *q = arg;
	int code;

	if (size * n >= 12 && !strncmp(line, "HTTP/", 5) &&
	    sscanf(line, "HTTP/%*s %d", &code) == 1)
		q->status = code;
	return on_header(line, size, n, arg);
}

static const struct token_entry *token_for(struct nydusfs_registry *r,
					   const char *scope)
{
	struct token_entry *t;

	for (t = r->tokens; t; t = t->next)
		if (!strcmp(t->scope, scope))
			return t;
	return NULL;
}

static void set_method(CURL *c, struct reg_req *q)
{
	if (!strcmp(q->method, "HEAD")) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (q->has_body) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, q);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, q);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)q->body_len);
		if (strcmp(q->method, "PUT"))
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	} else if (!strcmp(q->method, "POST")) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (strcmp(q->method, "GET")) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	}
}

static void set_tls(struct nydusfs_registry *r, CURL *c, bool ours)
{
	struct curl_blob blob = { r->ca_pem, r->ca_len, CURL_BLOB_NOCOPY };

	if (!r->o.tls_verify && ours) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
		return;
	}
	if (r->ca_pem)
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
	if (r->client_cert && ours) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, r->client_cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, r->client_key);
	}
}

static int add_header(struct curl_slist **list, const char *name,
		      const char *value)
{
	struct curl_slist *n;
	char *line;

	if (!value)
		return 0;
	if (asprintf(&line, "%s: %s", name, value) < 0)
		return -ENOMEM;
	n = curl_slist_append(*list, line);
	explicit_bzero(line, strlen(line));
	free(line);
	if (!n)
		return -ENOMEM;
	*list = n;
	return 0;
}

/* Credentials for this exchange: only ever to the registry's origin. */
static int set_auth(struct nydusfs_registry *r, CURL *c, struct reg_req *q,
		    struct curl_slist **hdrs)
{
	const struct token_entry *t;
	char *v;
	int err;

	if (q->flags & REQ_TOKEN) {
		if (!r->cred.user)
			return 0;
	} else if (q->offsite || !q->scope) {
		return 0;
	} else if ((t = token_for(r, q->scope)) && t->tok.value) {
		if (asprintf(&v, "Bearer %s", t->tok.value) < 0)
			return -ENOMEM;
		err = add_header(hdrs, "Authorization", v);
		explicit_bzero(v, strlen(v));
		free(v);
		return err;
	} else if (!r->basic || !r->cred.user) {
		return 0;
	}
	curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(c, CURLOPT_USERNAME, r->cred.user);
	curl_easy_setopt(c, CURLOPT_PASSWORD, r->cred.pass);
	return 0;
}

static int build_headers(struct nydusfs_registry *r, CURL *c,
			 struct reg_req *q, struct curl_slist **hdrs)
{
	struct curl_slist *n;
	int err;

	err = add_header(hdrs, "Accept", q->accept);
	if (!err)
		err = add_header(hdrs, "Content-Type", q->content_type);
	if (!err)
		err = add_header(hdrs, "Range", q->range);
	if (!err)
		err = add_header(hdrs, "Content-Range", q->content_range);
	if (!err && q->has_body) {
		/* "Expect:" with nothing after it: no 100-continue wait */
		n = curl_slist_append(*hdrs, "Expect:");
		if (n)
			*hdrs = n;
		else
			err = -ENOMEM;
	}
	if (!err)
		err = set_auth(r, c, q, hdrs);
	return err;
}

static int curl_errno(const struct reg_req *q);

/*
 * One HTTP exchange with @url: the only place a request is performed.
 * 0 with q->status set, or -errno (the transfer's CURLcode in q->rc).
 */
static int reg_exchange(struct nydusfs_registry *r, struct reg_req *q,
			const char *url)
{
	struct curl_slist *hdrs = NULL;
	CURL *c = r->curl;
	int err;

	req_reset_answer(q);
	curl_easy_reset(c);
	r->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, REG_USER_AGENT);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, REG_CONNECT_TIMEOUT);
	/*
	 * Read bodies 256 KiB at a time.  With libcurl's 16 KiB default, a
	 * blob over a link with some latency came in at 16 KiB per round
	 * trip (the bootstrap layer of a mount: 0.47 s instead of 0.1 s at
	 * 100 Mbit/s and 20 ms RTT, bench/hello.sh); nydusfsd does the same.
	 */
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, REG_BUFFER_SIZE);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)r->o.stall_s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header_status);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, q);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, q);
	set_method(c, q);
	/* the token server is trusted like the registry that sent us there */
	set_tls(r, c, !q->offsite || (q->flags & REQ_TOKEN));
	err = build_headers(r, c, q, &hdrs);
	if (err) {
		curl_slist_free_all(hdrs);
		return err;
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	q->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &q->status);
	curl_slist_free_all(hdrs);
	/* forget the credentials set on the handle */
	curl_easy_setopt(c, CURLOPT_USERNAME, NULL);
	curl_easy_setopt(c, CURLOPT_PASSWORD, NULL);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	r->st.requests++;
	if (q->has_body)
		r->st.bytes_uploaded += q->sent;
	if (q->rc == CURLE_OK || q->sink_stop)
		return 0;
	return curl_errno(q);
}

/* ---- outcomes as -errno ---- */

static int curl_errno(const struct reg_req *q)
{
	return q->sink_err ? q->sink_err : nydusfs_curl_errno(q->rc);
}

static int status_errno(const struct reg_req *q)
{
	if (q->status == 401 && (q->flags & REQ_OK_401))
		return 0;
	return nydusfs_http_status_errno(q->status);
}

/* "CODE: message" of the first entry of a registry's error body. */
static void registry_error(const struct reg_req *q, char *buf, size_t size)
{
	json_t *root, *e;
	const char *code, *msg;

	buf[0] = '\0';
	if (!q->rbody)
		return;
	root = json_loadb(q->rbody, q->rlen, 0, NULL);
	e = json_array_get(json_object_get(root, "errors"), 0);
	code = json_string_value(json_object_get(e, "code"));
	msg = json_string_value(json_object_get(e, "message"));
	if (code || msg)
		snprintf(buf, size, " (%s%s%.200s)", code ? code : "",
			 code && msg ? ": " : "", msg ? msg : "");
	json_decref(root);
}

static const char *hint_for(const struct nydusfs_registry *r,
			    const struct reg_req *q, int err)
{
	if (err == -EACCES && (q->flags & REQ_TOKEN))
		return r->cred.user ? "; the token server refused the "
		       "credentials for this registry" : "; the token server "
		       "wants credentials: use --creds USER:PASS or --authfile";
	if (err == -EACCES && q->status == 403)
		return r->cred.user ? "; access denied: check the rights of "
		       "these credentials on this repository" : "; access "
		       "denied, and no credentials were sent: use --creds "
		       "USER:PASS, --authfile FILE or docker login";
	if (err == -EACCES && !r->cred.user)
		return "; no credentials for this registry: use --creds "
		       "USER:PASS, --authfile FILE or docker login";
	if (err == -EACCES)
		return "; the credentials were not accepted";
	if (err == -EKEYREJECTED)
		return "; the certificate is not trusted: use --cert-dir DIR "
		       "or --ca-file FILE with the registry's CA (or "
		       "--tls-verify=false for a test registry)";
	if (err == -EPROTO && !q->status && r->o.tls_verify)
		return "; TLS handshake failed (a plain HTTP registry needs "
		       "--tls-verify=false)";
	return "";
}

static void describe(struct nydusfs_registry *r, const struct reg_req *q,
		     int err, char *why, size_t size)
{
	char rerr[256];

	registry_error(q, rerr, sizeof(rerr));
	if (q->status && status_errno(q))
		snprintf(why, size, "HTTP %ld%s", q->status, rerr);
	else if (q->rc != CURLE_OK && !q->sink_err)
		snprintf(why, size, "%s", r->errbuf[0] ? r->errbuf :
			 curl_easy_strerror(q->rc));
	else
		snprintf(why, size, "%s", strerror(-err));
}

/* The one log line of a failed request. */
static void reg_report(struct nydusfs_registry *r, const struct reg_req *q,
		       const char *url, int err)
{
	char u[512], why[CURL_ERROR_SIZE + 320];

	if (q->quiet == QUIET_ALL || (err == -ENOENT &&
				      (q->quiet & QUIET_ENOENT)))
		return;
	nydusfs_url_for_log(url, u, sizeof(u));
	describe(r, q, err, why, sizeof(why));
	nydusfs_err("registry %s: %s %s: %s%s", r->host, q->method, u, why,
		    hint_for(r, q, err));
}

/* ---- authentication ---- */

/* Remember what a 401 asked for: a token realm, or Basic. */
static int learn_challenge(struct nydusfs_registry *r, const char *hdr)
{
	struct nydusfs_auth_challenge c;
	int err;

	if (!hdr) {
		nydusfs_err("registry %s: 401 without a WWW-Authenticate "
			    "challenge", r->host);
		return -EACCES;
	}
	err = nydusfs_auth_parse_challenge(hdr, &c);
	if (err) {
		nydusfs_err("registry %s: unusable WWW-Authenticate challenge "
			    "'%.120s'", r->host, hdr);
		nydusfs_auth_challenge_free(&c);
		return -EACCES;
	}
	if (c.scheme == NYDUSFS_AUTH_BEARER) {
		free(r->realm);
		free(r->service);
		r->realm = c.realm;
		r->service = c.service;
		c.realm = c.service = NULL;
		r->basic = false;
	} else {
		free(r->realm);
		free(r->service);
		r->realm = r->service = NULL;
		r->basic = true;
	}
	nydusfs_auth_challenge_free(&c);
	return 0;
}

static void token_drop(struct nydusfs_registry *r, const char *scope)
{
	struct token_entry **pp, *t;

	for (pp = &r->tokens; (t = *pp); pp = &t->next) {
		if (!strcmp(t->scope, scope)) {
			*pp = t->next;
			nydusfs_token_free(&t->tok);
			free(t->scope);
			free(t);
			return;
		}
	}
}

static int reg_do(struct nydusfs_registry *r, struct reg_req *q);

static int fetch_token(struct nydusfs_registry *r, const char *scope)
{
	struct reg_req q = {
		.method = "GET", .flags = REQ_TOKEN | REQ_FOLLOW,
		.rmax = REG_TOKEN_MAX, .body_fd = -1,
	};
	struct token_entry *t;
	char *url = nydusfs_auth_token_url(r->realm, r->service, scope);
	int err;

	if (!url)
		return -ENOMEM;
	q.url = url;
	err = reg_do(r, &q);
	if (!err) {
		t = calloc(1, sizeof(*t));
		err = -ENOMEM;
		if (t && (t->scope = strdup(scope)))
			err = nydusfs_auth_parse_token(q.rbody ? q.rbody : "",
						       q.rlen, time(NULL),
						       &t->tok);
		if (err == -EINVAL)
			nydusfs_err("registry %s: the token server's answer "
				    "has no token", r->host);
		if (!err) {
			token_drop(r, scope);
			t->next = r->tokens;
			r->tokens = t;
			r->st.tokens++;
			nydusfs_dbg("registry %s: token for %s, %lld s", r->host,
				    scope, (long long)t->tok.expires_in);
		} else if (t) {
			free(t->scope);
			free(t);
		}
	}
	if (q.rbody)
		explicit_bzero(q.rbody, q.rlen);
	req_free(&q);
	free(url);
	return err;
}

/* A token for the request's scope, fetched when missing or expiring. */
static int ensure_token(struct nydusfs_registry *r, struct reg_req *q)
{
	const struct token_entry *t;

	if (!r->realm || !q->scope || q->offsite || (q->flags & REQ_TOKEN))
		return 0;
	t = token_for(r, q->scope);
	if (t && nydusfs_token_fresh(&t->tok, time(NULL)))
		return 0;
	return fetch_token(r, q->scope);
}

/* Add the scopes of a challenge that the request's scope lacks. */
static int merge_scope(struct reg_req *q, const char *hdr)
{
	struct nydusfs_auth_challenge c;
	char *copy, *item, *save, *p, *n;
	int err = 0;

	if (!hdr || nydusfs_auth_parse_challenge(hdr, &c))
		return 0;
	copy = c.scope ? strdup(c.scope) : NULL;
	for (p = copy; copy && (item = strtok_r(p, " ", &save)); p = NULL) {
		if (strstr(q->scope, item))
			continue;
		if (asprintf(&n, "%s %s", q->scope, item) < 0) {
			err = -ENOMEM;
			break;
		}
		free(q->scope);
		q->scope = n;
	}
	free(copy);
	nydusfs_auth_challenge_free(&c);
	return err;
}

/* After a 401: learn the challenge, get what it asks for, try again. */
static int on_challenge(struct nydusfs_registry *r, struct reg_req *q)
{
	int err;

	err = learn_challenge(r, q->h.www_auth);
	if (!err && r->realm) {
		err = merge_scope(q, q->h.www_auth);
		if (!err) {
			token_drop(r, q->scope);
			err = fetch_token(r, q->scope);
		}
		q->reported = err != 0;	/* fetch_token said why */
		return err;
	}
	if (!err && !r->cred.user)
		err = -EACCES;		/* Basic, and nothing to send */
	return err;
}

/* ---- attempts and retries ---- */

static bool is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 ||
	       status == 307 || status == 308;
}

static int set_cur_url(struct reg_req *q, const char *url)
{
	char *copy = strdup(url);

	if (!copy)
		return -ENOMEM;
	free(q->cur_url);
	q->cur_url = copy;
	q->offsite = false;
	return 0;
}

static int follow(struct nydusfs_registry *r, struct reg_req *q, int *hops)
{
	char *loc = NULL;
	int err;

	curl_easy_getinfo(r->curl, CURLINFO_REDIRECT_URL, &loc);
	if (!loc || ++*hops > REG_MAX_REDIRECTS) {
		nydusfs_err("registry %s: %s", r->host, loc ?
			    "too many redirects" : "a redirect without Location");
		q->reported = true;
		return -EPROTO;
	}
	err = set_cur_url(q, loc);
	q->offsite = !nydusfs_url_same_origin(q->cur_url, r->base);
	return err;
}

/* One attempt: redirects, and one answer to a 401 challenge. */
static int reg_attempt(struct nydusfs_registry *r, struct reg_req *q)
{
	bool auth_tried = false, origin_retried = false;
	int hops = 0, err;

	err = set_cur_url(q, q->url);
	q->offsite = r->base && !nydusfs_url_same_origin(q->url, r->base);
	while (!err) {
		err = ensure_token(r, q);
		if (err) {
			q->reported = true;
			break;
		}
		err = reg_exchange(r, q, q->cur_url);
		if (err)
			return err;
		if (is_redirect(q->status) && (q->flags & REQ_FOLLOW)) {
			err = follow(r, q, &hops);
		} else if (q->offsite && hops && !origin_retried &&
			   (q->status == 401 || q->status == 403)) {
			/* an expired signed URL: ask the registry again */
			origin_retried = true;
			err = set_cur_url(q, q->url);
		} else if (q->status == 401 && !q->offsite && q->scope &&
			   !auth_tried) {
			auth_tried = true;
			err = on_challenge(r, q);
		} else {
			break;
		}
	}
	return err;
}

static uint64_t retry_delay(struct nydusfs_registry *r,
			    const struct reg_req *q, unsigned int attempt)
{
	uint64_t ms = 0, backoff;

	if (q->status == 429 && q->h.retry_after &&
	    !nydusfs_http_retry_after(q->h.retry_after, time(NULL),
				      r->o.retry_after_max_ms, &ms))
		return ms;
	backoff = (uint64_t)r->o.retry_base_ms << (attempt < 16 ? attempt : 16);
	if (backoff > r->o.retry_max_ms)
		backoff = r->o.retry_max_ms;
	/* half to all of it, so that clients do not move in step */
	return backoff / 2 + next_rand(r) % (backoff / 2 + 1);
}

/* "repository:REPO:ACTIONS[ EXTRA]": what the request's token covers. */
static int req_scope(struct nydusfs_registry *r, struct reg_req *q)
{
	char *s;

	if (!q->actions || q->scope)
		return 0;
	s = nydusfs_auth_scope(r->repo, q->actions);
	if (s && q->extra_scope) {
		if (asprintf(&q->scope, "%s %s", s, q->extra_scope) < 0)
			q->scope = NULL;
		free(s);
	} else {
		q->scope = s;
	}
	return q->scope ? 0 : -ENOMEM;
}

/* Attempts until success, a final answer, or the retries are spent. */
static int reg_do(struct nydusfs_registry *r, struct reg_req *q)
{
	unsigned int attempt;
	uint64_t wait;
	char u[512], why[CURL_ERROR_SIZE + 320];
	int err;

	err = req_scope(r, q);
	if (err)
		return err;
	for (attempt = 0;; attempt++) {
		err = q->prepare ? q->prepare(q) : 0;
		if (err > 0)
			return 0;	/* nothing left to ask for */
		if (!err)
			err = reg_attempt(r, q);
		if (!err)
			err = status_errno(q);
		if (!err)
			return 0;
		r->retry_after_ms = 0;
		if (q->status == 429)
			r->retry_after_ms = retry_delay(r, q, attempt);
		if (q->reported || (q->flags & REQ_NO_RETRY) ||
		    !nydusfs_http_retryable(err) || attempt >= r->o.retries)
			break;
		wait = retry_delay(r, q, attempt);
		nydusfs_url_for_log(q->cur_url ? q->cur_url : q->url, u,
				    sizeof(u));
		describe(r, q, err, why, sizeof(why));
		nydusfs_warn("registry %s: %s %s: %s; retry %u of %u in %llu ms",
			     r->host, q->method, u, why, attempt + 1,
			     r->o.retries, (unsigned long long)wait);
		r->st.retries++;
		sleep_ms(wait);
	}
	if (!q->reported)
		reg_report(r, q, q->cur_url ? q->cur_url : q->url, err);
	q->reported = true;
	return err;
}

/* ---- the registry's base URL ---- */

static int ping(struct nydusfs_registry *r, const char *scheme, bool probe,
		bool *answered)
{
	struct reg_req q = {
		.method = "GET", .flags = REQ_OK_401 | REQ_FOLLOW,
		.rmax = REG_ERRBODY_MAX, .body_fd = -1,
	};
	char *url;
	int err;

	if (probe) {
		q.flags |= REQ_NO_RETRY;
		q.quiet = QUIET_ALL;
	}
	if (asprintf(&r->base, "%s://%s", scheme, r->host) < 0 ||
	    asprintf(&url, "%s/v2/", r->base) < 0)
		return -ENOMEM;
	q.url = url;
	err = reg_do(r, &q);
	*answered = q.status != 0;
	if (!err && q.status == 401)
		err = learn_challenge(r, q.h.www_auth);
	if (err == -ENOENT && !probe)
		nydusfs_err("registry %s: no registry API at %s (GET /v2/ is "
			    "404)", r->host, r->base);
	if (err) {
		free(r->base);
		r->base = NULL;
	}
	req_free(&q);
	free(url);
	return err;
}

static int set_base(struct nydusfs_registry *r, const char *scheme)
{
	if (asprintf(&r->base, "%s://%s", scheme, r->host) < 0) {
		r->base = NULL;
		return -ENOMEM;
	}
	return 0;
}

/*
 * The scheme of opts->scheme, else https, and with tls_verify off plain
 * http when https gets no answer (skopeo's --tls-verify=false does the
 * same).  A known scheme with no_ping: no request at all (the first real
 * one learns the auth from its 401); after a failed https probe no_ping
 * skips the second GET /v2/ too.
 */
static int reg_base(struct nydusfs_registry *r)
{
	const char *known = r->o.scheme ?: (r->o.tls_verify ? "https" : NULL);
	bool answered = false;
	int err;

	if (r->base)
		return 0;
	if (known)
		return r->o.no_ping ? set_base(r, known) :
		       ping(r, known, false, &answered);
	err = ping(r, "https", true, &answered);
	if (!err || answered)
		return err ? ping(r, "https", false, &answered) : 0;
	nydusfs_info("registry %s: no TLS, using plain HTTP", r->host);
	return r->o.no_ping ? set_base(r, "http") :
	       ping(r, "http", false, &answered);
}

static char *reg_url(struct nydusfs_registry *r, const char *kind,
		     const char *what)
{
	char *url;

	if (asprintf(&url, "%s/v2/%s/%s/%s", r->base, r->repo, kind,
		     what ? what : "") < 0)
		return NULL;
	return url;
}

/* ---- open, close ---- */

static void set_defaults(struct nydusfs_registry_opts *o)
{
	if (!o->retry_base_ms)
		o->retry_base_ms = 200;
	if (!o->retry_max_ms)
		o->retry_max_ms = 10000;
	if (!o->retry_after_max_ms)
		o->retry_after_max_ms = 60000;
	if (!o->stall_s)
		o->stall_s = 60;
	if (!o->upload_chunk)
		o->upload_chunk = 32ULL << 20;
}

static int curl_global(void)
{
	static bool done;

	if (!done && curl_global_init(CURL_GLOBAL_DEFAULT))
		return -ENOMEM;
	done = true;
	return 0;
}

static int reg_setup(struct nydusfs_registry *r)
{
	int err;

	err = curl_global();
	if (!err && !(r->curl = curl_easy_init()))
		err = -ENOMEM;
	if (!err && r->o.ca_file)
		err = append_file(&r->ca_pem, &r->ca_len, r->o.ca_file);
	if (!err && r->o.cert_dir)
		err = load_cert_dir(r);
	if (!err)
		err = load_creds(r);
	return err;
}

struct nydusfs_registry *nydusfs_registry_open(const char *host,
					       const char *cred_host,
					       const char *repo,
					       const struct nydusfs_registry_opts *opts)
{
	struct nydusfs_registry *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return ERR_PTR(-ENOMEM);
	r->o = *opts;
	set_defaults(&r->o);
	r->host = strdup(host);
	r->cred_host = strdup(cred_host ? cred_host : host);
	r->repo = strdup(repo);
	r->rng = (uint32_t)(now_ms() ^ ((uint64_t)getpid() << 16)) | 1;
	err = r->host && r->cred_host && r->repo ? reg_setup(r) : -ENOMEM;
	if (err) {
		nydusfs_registry_close(r);
		return ERR_PTR(err);
	}
	return r;
}

void nydusfs_registry_close(struct nydusfs_registry *r)
{
	struct token_entry *t;

	if (!r)
		return;
	while ((t = r->tokens)) {
		r->tokens = t->next;
		nydusfs_token_free(&t->tok);
		free(t->scope);
		free(t);
	}
	if (r->curl)
		curl_easy_cleanup(r->curl);
	nydusfs_cred_free(&r->cred);
	free(r->host);
	free(r->cred_host);
	free(r->repo);
	free(r->base);
	free(r->ca_pem);
	free(r->client_cert);
	free(r->client_key);
	free(r->realm);
	free(r->service);
	free(r);
}

const struct nydusfs_registry_stats *
nydusfs_registry_stats(const struct nydusfs_registry *r)
{
	return &r->st;
}

const char *nydusfs_registry_repo(const struct nydusfs_registry *r)
{
	return r->repo;
}

const char *nydusfs_registry_base(const struct nydusfs_registry *r)
{
	return r->base;
}

const struct nydusfs_cred *
nydusfs_registry_cred(const struct nydusfs_registry *r)
{
	return r->cred.user ? &r->cred : NULL;
}

const char *nydusfs_registry_ca_pem(const struct nydusfs_registry *r)
{
	return r->ca_pem;
}

/* ---- manifests ---- */

static bool valid_ref(const char *ref)
{
	size_t i, n = strlen(ref);

	if (!strncmp(ref, "sha256:", 7))
		return n == 71 && strspn(ref + 7, "0123456789abcdef") == 64;
	if (!n || n > 128 || ref[0] == '.' || ref[0] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789_.-", ref[i]))
			return false;
	return true;
}

static bool valid_digest(const char *d)
{
	return !strncmp(d, "sha256:", 7) && valid_ref(d);
}

/* The media type of a Content-Type value, without parameters. */
static char *media_type_of(const char *ct)
{
	size_t n;

	if (!ct)
		return NULL;
	n = strcspn(ct, "; \t");
	return n ? strndup(ct, n) : NULL;
}

static int check_manifest_digest(struct nydusfs_registry *r, const char *ref,
				 const struct reg_req *q,
				 const char *digest)
{
	const char *want = NULL;

	if (!strncmp(ref, "sha256:", 7))
		want = ref;
	else if (q->h.digest && !strncmp(q->h.digest, "sha256:", 7))
		want = q->h.digest;
	if (!want || !strcmp(want, digest))
		return 0;
	nydusfs_err("registry %s: manifest %s of %s: digest mismatch: its "
		    "bytes are %s, expected %s", r->host, ref, r->repo, digest,
		    want);
	return -EFSCORRUPTED;
}

int nydusfs_registry_get_manifest(struct nydusfs_registry *r, const char *ref,
				  struct nydusfs_manifest *m)
{
	struct reg_req q = {
		.method = "GET", .actions = "pull", .accept = ACCEPT_MANIFESTS,
		.flags = REQ_FOLLOW, .rmax = NYDUSFS_MANIFEST_MAX,
		.body_fd = -1,
	};
	int err;

	memset(m, 0, sizeof(*m));
	if (!valid_ref(ref))
		return -EINVAL;
	err = reg_base(r);
	if (err)
		return err;
	q.url = reg_url(r, "manifests", ref);
	err = q.url ? reg_do(r, &q) : -ENOMEM;
	if (!err) {
		m->body = q.rbody ? q.rbody : strdup("");
		m->len = q.rlen;
		q.rbody = NULL;
		m->media_type = media_type_of(q.h.content_type);
		err = m->body ? nydusfs_oci_digest(m->body, m->len, m->digest) :
		      -ENOMEM;
	}
	if (!err)
		err = check_manifest_digest(r, ref, &q, m->digest);
	if (!err)
		r->st.bytes_downloaded += m->len;
	else
		nydusfs_manifest_free(m);
	free((char *)q.url);
	req_free(&q);
	return err;
}

int nydusfs_registry_head_manifest(struct nydusfs_registry *r, const char *ref,
				   char digest[NYDUSFS_OCI_DIGEST_LEN],
				   char **media_type)
{
	struct reg_req q = {
		.method = "HEAD", .actions = "pull", .accept = ACCEPT_MANIFESTS,
		.flags = REQ_FOLLOW, .quiet = QUIET_ENOENT, .body_fd = -1,
	};
	int err;

	if (!valid_ref(ref))
		return -EINVAL;
	err = reg_base(r);
	if (err)
		return err;
	q.url = reg_url(r, "manifests", ref);
	err = q.url ? reg_do(r, &q) : -ENOMEM;
	if (!err && (!q.h.digest || !valid_digest(q.h.digest))) {
		nydusfs_err("registry %s: HEAD manifest %s: no usable "
			    "Docker-Content-Digest", r->host, ref);
		err = -EPROTO;
	}
	if (!err) {
		snprintf(digest, NYDUSFS_OCI_DIGEST_LEN, "%s", q.h.digest);
		if (media_type)
			*media_type = media_type_of(q.h.content_type);
	}
	free((char *)q.url);
	req_free(&q);
	return err;
}

int nydusfs_registry_put_manifest(struct nydusfs_registry *r, const char *ref,
				  const void *body, size_t len,
				  const char *media_type,
				  char digest[NYDUSFS_OCI_DIGEST_LEN])
{
	struct reg_req q = {
		.method = "PUT", .actions = "pull,push",
		.content_type = media_type, .body = body, .body_len = len,
		.has_body = true, .body_fd = -1, .rmax = REG_ERRBODY_MAX,
	};
	int err;

	if (!valid_ref(ref))
		return -EINVAL;
	err = nydusfs_oci_digest(body, len, digest);
	if (!err)
		err = reg_base(r);
	if (err)
		return err;
	q.url = reg_url(r, "manifests", ref);
	err = q.url ? reg_do(r, &q) : -ENOMEM;
	if (!err && q.h.digest && strcmp(q.h.digest, digest)) {
		nydusfs_err("registry %s: PUT manifest %s: the registry says "
			    "%s, its bytes are %s", r->host, ref, q.h.digest,
			    digest);
		err = -EFSCORRUPTED;
	}
	free((char *)q.url);
	req_free(&q);
	return err;
}

void nydusfs_manifest_free(struct nydusfs_manifest *m)
{
	free(m->body);
	free(m->media_type);
	memset(m, 0, sizeof(*m));
}

/* ---- blobs: download ---- */

struct blob_sink {
	int fd;				/* or -1: into buf */
	char *buf;
	EVP_MD_CTX *md;			/* NULL: no hashing */
	uint64_t start, end;		/* wanted [start, end); end ~0: all */
	uint64_t limit;			/* whole blobs: its size, or ~0 */
	uint64_t pos;			/* bytes kept, from start */
	uint64_t from;			/* asked for in this attempt */
	uint64_t skip;			/* of a 200: bytes before from */
	bool checked;
	char range[64];
};

static int blob_prepare(struct reg_req *q)
{
	struct blob_sink *b = q->arg;

	b->from = b->start + b->pos;
	b->checked = false;
	q->range = NULL;
	if (b->pos && b->pos == b->limit)
		return 1;	/* all in before the connection broke */
	if (b->end != UINT64_MAX)
		snprintf(b->range, sizeof(b->range), "bytes=%llu-%llu",
			 (unsigned long long)b->from,
			 (unsigned long long)b->end - 1);
	else if (b->from)
		snprintf(b->range, sizeof(b->range), "bytes=%llu-",
			 (unsigned long long)b->from);
	else
		return 0;
	q->range = b->range;
	return 0;
}

/* A 206 must start where asked; a 200 is the whole blob. */
static int blob_check_answer(struct reg_req *q, struct blob_sink *b)
{
	uint64_t first, last, total;

	b->checked = true;
	b->skip = 0;
	if (q->status == 200) {
		b->skip = b->from;
		return 0;
	}
	if (q->status == 206 && q->h.content_range &&
	    !nydusfs_http_content_range(q->h.content_range, &first, &last,
					&total) && first == b->from)
		return 0;
	return -EBADE;		/* another range: try again */
}

static int blob_store(struct blob_sink *b, const char *buf, size_t len)
{
	ssize_t n;
	size_t done = 0;

	if (b->md && !EVP_DigestUpdate(b->md, buf, len))
		return -EIO;
	if (b->fd < 0) {
		memcpy(b->buf + b->pos, buf, len);
		return 0;
	}
	while (done < len) {
		n = pwrite(b->fd, buf + done, len - done, b->pos + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += n;
	}
	return 0;
}

static int blob_sink(struct reg_req *q, const char *buf, size_t len)
{
	struct blob_sink *b = q->arg;
	uint64_t n, left;
	int err;

	if (!b->checked && (err = blob_check_answer(q, b)))
		return err;
	n = b->skip < len ? b->skip : len;
	b->skip -= n;
	buf += n;
	len -= n;
	if (!len)
		return 0;
	if (b->end != UINT64_MAX) {
		left = b->end - (b->start + b->pos);
		if (len > left)
			len = left;
	} else if (b->limit != UINT64_MAX && b->pos + len > b->limit) {
		return -EFSCORRUPTED;	/* longer than its descriptor says */
	}
	err = blob_store(b, buf, len);
	if (err)
		return err;
	b->pos += len;
	return b->end != UINT64_MAX && b->start + b->pos >= b->end ? 1 : 0;
}

static int blob_get(struct nydusfs_registry *r, const char *digest,
		    struct blob_sink *b)
{
	struct reg_req q = {
		.method = "GET", .actions = "pull", .flags = REQ_FOLLOW,
		.sink = blob_sink, .prepare = blob_prepare, .arg = b,
		.body_fd = -1,
	};
	int err;

	if (!valid_digest(digest))
		return -EINVAL;
	err = reg_base(r);
	if (err)
		return err;
	q.url = reg_url(r, "blobs", digest);
	err = q.url ? reg_do(r, &q) : -ENOMEM;
	r->st.bytes_downloaded += b->pos;
	free((char *)q.url);
	req_free(&q);
	return err;
}

static int blob_verify(struct nydusfs_registry *r, const char *digest,
		       uint64_t size, struct blob_sink *b)
{
	uint8_t d[NYDUSFS_DIGEST_SIZE];
	char hex[2 * NYDUSFS_DIGEST_SIZE + 1];

	if (size != UINT64_MAX && b->pos != size) {
		nydusfs_err("registry %s: blob %s of %s: %llu bytes, its "
			    "descriptor says %llu", r->host, digest, r->repo,
			    (unsigned long long)b->pos,
			    (unsigned long long)size);
		return -EFSCORRUPTED;
	}
	if (!EVP_DigestFinal_ex(b->md, d, NULL))
		return -EIO;
	nydusfs_digest_to_hex(d, hex);
	if (strcmp(hex, digest + 7)) {
		nydusfs_err("registry %s: blob %s of %s: digest mismatch: its "
			    "bytes are sha256:%s", r->host, digest, r->repo,
			    hex);
		return -EFSCORRUPTED;
	}
	return 0;
}

static int blob_get_verified(struct nydusfs_registry *r, const char *digest,
			     uint64_t size, struct blob_sink *b)
{
	int err;

	b->md = EVP_MD_CTX_new();
	if (!b->md || !EVP_DigestInit_ex(b->md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(b->md);
		return -ENOMEM;
	}
	b->end = UINT64_MAX;
	b->limit = size;
	err = blob_get(r, digest, b);
	if (err == -EFSCORRUPTED)
		nydusfs_err("registry %s: blob %s of %s: more bytes than the "
			    "%llu its descriptor says", r->host, digest,
			    r->repo, (unsigned long long)size);
	if (!err)
		err = blob_verify(r, digest, size, b);
	EVP_MD_CTX_free(b->md);
	return err;
}

int nydusfs_registry_get_blob(struct nydusfs_registry *r, const char *digest,
			      uint64_t size, int fd)
{
	struct blob_sink b = { .fd = fd };
	int err;

	err = blob_get_verified(r, digest, size, &b);
	if (!err && ftruncate(fd, b.pos))
		err = -errno;
	return err;
}

int nydusfs_registry_get_blob_mem(struct nydusfs_registry *r,
				  const char *digest, uint64_t size,
				  size_t max, char **buf, size_t *len)
{
	struct blob_sink b = { .fd = -1 };
	int err;

	*buf = NULL;
	if (size == UINT64_MAX || size > max) {
		nydusfs_err("registry %s: blob %s: %llu bytes, more than the "
			    "%zu expected here", r->host, digest,
			    (unsigned long long)size, max);
		return -EFBIG;
	}
	b.buf = malloc(size + 1);
	if (!b.buf)
		return -ENOMEM;
	err = blob_get_verified(r, digest, size, &b);
	if (err) {
		free(b.buf);
		return err;
	}
	b.buf[b.pos] = '\0';
	*buf = b.buf;
	*len = b.pos;
	return 0;
}

int nydusfs_registry_get_range(struct nydusfs_registry *r, const char *digest,
			       uint64_t off, uint64_t len, void *buf)
{
	struct blob_sink b = {
		.fd = -1, .buf = buf, .start = off, .end = off + len,
		.limit = UINT64_MAX,
	};
	int err;

	if (!len)
		return 0;
	if (off + len < off)
		return -EINVAL;
	err = blob_get(r, digest, &b);
	if (!err && b.pos != len) {
		nydusfs_err("registry %s: blob %s: %llu bytes at %llu, asked "
			    "for %llu", r->host, digest,
			    (unsigned long long)b.pos,
			    (unsigned long long)off, (unsigned long long)len);
		err = -ERANGE;
	}
	return err;
}

static int has_blob(struct nydusfs_registry *r, const char *digest,
		    uint64_t *size, const char *actions)
{
	struct reg_req q = {
		.method = "HEAD", .actions = actions, .flags = REQ_FOLLOW,
		.quiet = QUIET_ENOENT, .body_fd = -1,
	};
	curl_off_t cl = -1;
	int err;

	if (!valid_digest(digest))
		return -EINVAL;
	err = reg_base(r);
	if (err)
		return err;
	q.url = reg_url(r, "blobs", digest);
	err = q.url ? reg_do(r, &q) : -ENOMEM;
	if (!err && size) {
		curl_easy_getinfo(r->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
				  &cl);
		*size = cl >= 0 ? (uint64_t)cl : UINT64_MAX;
	}
	free((char *)q.url);
	req_free(&q);
	return err;
}

int nydusfs_registry_has_blob(struct nydusfs_registry *r, const char *digest,
			      uint64_t *size)
{
	return has_blob(r, digest, size, "pull");
}

/* ---- blobs: upload ---- */

/* An absolute URL for a Location relative to @base. */
static char *resolve_url(const char *base, const char *loc)
{
	CURLU *u = curl_url();
	char *out = NULL, *ret = NULL;

	if (u && !curl_url_set(u, CURLUPART_URL, base, 0) &&
	    !curl_url_set(u, CURLUPART_URL, loc, 0) &&
	    !curl_url_get(u, CURLUPART_URL, &out, 0))
		ret = strdup(out);
	curl_free(out);
	curl_url_cleanup(u);
	return ret;
}

/* The upload URL an answer's Location names; -EPROTO without one. */
static int take_location(struct nydusfs_registry *r, const struct reg_req *q,
			 char **loc)
{
	char *next;

	if (!q->h.location) {
		nydusfs_err("registry %s: %s of an upload: HTTP %ld without "
			    "Location", r->host, q->method, q->status);
		return -EPROTO;
	}
	next = resolve_url(q->cur_url, q->h.location);
	if (!next)
		return -ENOMEM;
	free(*loc);
	*loc = next;
	return 0;
}

/*
 * POST an upload, or a mount from @from: 1 if the blob was mounted,
 * else 0 and the upload's URL in *loc.
 */
static int upload_start(struct nydusfs_registry *r, const char *digest,
			const char *from, char **loc)
{
	struct reg_req q = {
		.method = "POST", .actions = "pull,push", .flags = REQ_NO_RETRY,
		.body_fd = -1, .rmax = REG_ERRBODY_MAX,
	};
	char *what = NULL, *scope = NULL;
	int err = -ENOMEM;

	if (from && (asprintf(&what, "?mount=%s&from=%s", digest, from) < 0 ||
		     !(scope = nydusfs_auth_scope(from, "pull"))))
		goto out;
	q.extra_scope = scope;
	q.url = reg_url(r, "blobs/uploads", what);
	if (!q.url)
		goto out;
	err = reg_do(r, &q);
	if (!err && q.status == 201 && from) {
		err = 1;
	} else if (!err && q.status != 202) {
		nydusfs_err("registry %s: POST upload: HTTP %ld, expected 202",
			    r->host, q.status);
		err = -EPROTO;
	} else if (!err) {
		err = take_location(r, &q, loc);
	}
out:
	free((char *)q.url);
	free(what);
	free(scope);
	req_free(&q);
	return err;
}

static int check_range_answer(struct nydusfs_registry *r,
			      const struct reg_req *q, uint64_t end)
{
	unsigned long long a, b;

	if (!q->h.range)
		return 0;
	if (sscanf(q->h.range, "%*[bytes=]%llu-%llu", &a, &b) == 2 ||
	    sscanf(q->h.range, "%llu-%llu", &a, &b) == 2) {
		if (a == 0 && b + 1 == end)
			return 0;
	}
	nydusfs_err("registry %s: PATCH: the registry has %s, expected 0-%llu",
		    r->host, q->h.range, (unsigned long long)end - 1);
	return -EBADE;
}

static int upload_patch(struct nydusfs_registry *r, int fd, uint64_t off,
			uint64_t len, char **loc)
{
	struct reg_req q = {
		.method = "PATCH", .actions = "pull,push", .flags = REQ_NO_RETRY,
		.content_type = "application/octet-stream", .body_fd = fd,
		.body_off = off, .body_len = len, .has_body = true,
		.rmax = REG_ERRBODY_MAX, .url = *loc,
	};
	char cr[64];
	int err;

	snprintf(cr, sizeof(cr), "%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	q.content_range = cr;
	err = reg_do(r, &q);
	if (!err && q.status != 202) {
		nydusfs_err("registry %s: PATCH: HTTP %ld, expected 202",
			    r->host, q.status);
		err = -EPROTO;
	}
	if (!err)
		err = check_range_answer(r, &q, off + len);
	if (!err)
		err = take_location(r, &q, loc);	/* frees the old one */
	if (!err)
		r->st.patches++;
	req_free(&q);
	return err;
}

/* PUT LOCATION?digest=, with the whole blob or (after PATCHes) nothing. */
static int upload_finish(struct nydusfs_registry *r, const char *loc,
			 const char *digest, int fd, uint64_t size)
{
	struct reg_req q = {
		.method = "PUT", .actions = "pull,push", .flags = REQ_NO_RETRY,
		.content_type = "application/octet-stream", .body_fd = fd,
		.body_len = size, .has_body = true, .rmax = REG_ERRBODY_MAX,
	};
	char *url;
	int err;

	if (asprintf(&url, "%s%cdigest=%s", loc, strchr(loc, '?') ? '&' : '?',
		     digest) < 0)
		return -ENOMEM;
	q.url = url;
	err = reg_do(r, &q);
	if (!err && q.h.digest && strcmp(q.h.digest, digest)) {
		nydusfs_err("registry %s: upload of %s: the registry stored %s",
			    r->host, digest, q.h.digest);
		err = -EFSCORRUPTED;
	}
	req_free(&q);
	free(url);
	return err;
}

static void upload_cancel(struct nydusfs_registry *r, const char *loc)
{
	struct reg_req q = {
		.method = "DELETE", .actions = "pull,push", .url = loc,
		.flags = REQ_NO_RETRY, .quiet = QUIET_ALL, .body_fd = -1,
		.rmax = REG_ERRBODY_MAX,
	};

	reg_do(r, &q);
	req_free(&q);
}

static int upload_once(struct nydusfs_registry *r, const char *digest,
		       int fd, uint64_t size, const char *from)
{
	uint64_t off, n, piece = r->o.upload_chunk;
	char *loc = NULL;
	int err;

	err = upload_start(r, digest, from, &loc);
	if (err == 1) {
		nydusfs_info("registry %s: blob %s mounted from %s", r->host,
			     digest, from);
		r->st.blobs_mounted++;
		return 0;
	}
	if (!err && fd < 0) {
		/* no bytes to upload here: give the session back */
		upload_cancel(r, loc);
		free(loc);
		return -ENOENT;
	}
	if (!err && from)
		nydusfs_info("registry %s: blob %s: no mount from %s, uploading",
			     r->host, digest, from);
	for (off = 0; !err && size > piece && off < size; off += n) {
		n = size - off < piece ? size - off : piece;
		err = upload_patch(r, fd, off, n, &loc);
	}
	if (!err)
		err = upload_finish(r, loc, digest, fd, size > piece ? 0 : size);
	if (!err)
		r->st.blobs_uploaded++;
	free(loc);
	return err;
}

int nydusfs_registry_push_blob(struct nydusfs_registry *r, const char *digest,
			       int fd, uint64_t size, const char *mount_from)
{
	unsigned int attempt;
	uint64_t have, wait;
	int err;

	if (mount_from && (!*mount_from || !strcmp(mount_from, r->repo)))
		mount_from = NULL;
	/* with the push scope: one token serves the whole upload */
	err = has_blob(r, digest, &have, "pull,push");
	if (!err) {
		if (have != UINT64_MAX && have != size)
			nydusfs_warn("registry %s: blob %s: %llu bytes there, "
				     "%llu here", r->host, digest,
				     (unsigned long long)have,
				     (unsigned long long)size);
		r->st.blobs_skipped++;
		return 0;
	}
	if (err != -ENOENT || (fd < 0 && !mount_from))
		return err;
	for (attempt = 0;; attempt++) {
		err = upload_once(r, digest, fd, size, mount_from);
		if (!err || !nydusfs_http_retryable(err) || attempt >= r->o.retries)
			return err;
		/* the session may be broken: start a new one */
		wait = r->retry_after_ms;
		if (!wait) {
			wait = (uint64_t)r->o.retry_base_ms << attempt;
			if (wait > r->o.retry_max_ms)
				wait = r->o.retry_max_ms;
		}
		nydusfs_warn("registry %s: upload of %s failed; retry %u of %u "
			     "in %llu ms", r->host, digest, attempt + 1,
			     r->o.retries, (unsigned long long)wait);
		r->st.retries++;
		sleep_ms(wait);
		mount_from = NULL;
	}
}
