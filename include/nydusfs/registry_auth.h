/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the registry protocol shared by the blocking client
 * (lib/registry.c, nydusfs convert) and the daemon's asynchronous one
 * (daemon/backend_registry.c).  All are pure (no I/O, no clock: "now" is
 * passed in) except nydusfs_auth_files_load(), which reads files and is
 * meant to run before a daemon serves anything:
 *
 * - WWW-Authenticate challenges (RFC 7235): Bearer realm/service/scope,
 *   Basic;
 * - credentials for a host from docker-style auth files ("auths":
 *   base64 "user:pass" in "auth", or "username"/"password");
 * - token requests and responses ("token" or "access_token", "expires_in"
 *   default 60, "issued_at") and when a token must be renewed;
 * - answers: Retry-After (seconds or an HTTP date), Content-Range, header
 *   lines, a status or a libcurl code as -errno and whether to retry;
 * - URLs: whether two share an origin (Authorization never goes to
 *   another one), the host of one, one as logs may show it.
 *
 * Each returns 0 or -errno; nothing here logs, and no credential is ever
 * put in a message by these functions.
 */
#ifndef NYDUSFS_REGISTRY_AUTH_H
#define NYDUSFS_REGISTRY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum nydusfs_auth_scheme {
	NYDUSFS_AUTH_NONE,
	NYDUSFS_AUTH_BASIC,
	NYDUSFS_AUTH_BEARER,
};

struct nydusfs_auth_challenge {
	enum nydusfs_auth_scheme scheme;
	char *realm;		/* Bearer: the token endpoint; Basic: a label */
	char *service;		/* Bearer, or NULL */
	char *scope;		/* Bearer, or NULL */
	char *error;		/* Bearer error="...", e.g. insufficient_scope */
};

/*
 * Parse one WWW-Authenticate header value.  Several challenges may be in
 * one value; Bearer is preferred to Basic.  -EINVAL if malformed,
 * -EOPNOTSUPP if it offers neither Bearer (with an http:// or https://
 * realm) nor Basic.
 */
int nydusfs_auth_parse_challenge(const char *hdr,
				 struct nydusfs_auth_challenge *c);
void nydusfs_auth_challenge_free(struct nydusfs_auth_challenge *c);

struct nydusfs_cred {
	char *user;
	char *pass;
};

/*
 * The credentials for registry @host ("HOST[:PORT]") in the text of a
 * docker config.json.  Keys may be "HOST", "https://HOST", "http://HOST/v1/"
 * and the like; docker.io also matches index.docker.io's legacy key.
 * -ENOENT if there are none for @host, -EINVAL if the file or the entry is
 * malformed.
 */
int nydusfs_auth_find_cred(const char *json, size_t len, const char *host,
			   struct nydusfs_cred *cred);
void nydusfs_cred_free(struct nydusfs_cred *cred);

/*
 * A file of at most @max bytes into memory (malloc()ed, NUL-terminated):
 * auth files and CA bundles.  -EFBIG if larger.
 */
int nydusfs_read_small_file(const char *path, size_t max, char **buf,
			    size_t *len);

#define NYDUSFS_AUTH_FILES_MAX	4
#define NYDUSFS_AUTH_FILE_MAX	(4U << 20)

struct nydusfs_auth_files {
	unsigned int n;
	struct nydusfs_auth_file {
		char *path;
		char *text;	/* NUL-terminated; NULL if not read */
		size_t len;
		int err;	/* why not read (-ENOENT: no such file) */
	} f[NYDUSFS_AUTH_FILES_MAX];
};

/*
 * Read docker-style auth files (blocking I/O).  @path: that file only,
 * which must be readable (else -errno).  NULL: the files skopeo and docker
 * read, in skopeo's order: $REGISTRY_AUTH_FILE,
 * $XDG_RUNTIME_DIR/containers/auth.json, $DOCKER_CONFIG/config.json or
 * else ~/.docker/config.json; one that cannot be read keeps its error in
 * f[i].err for the caller to report (0 is returned).
 */
int nydusfs_auth_files_load(struct nydusfs_auth_files *af, const char *path);
/*
 * The credentials for @host from the first file with an entry for it
 * (*@from: its path).  A file that is malformed, or whose entry for @host
 * is, is passed over: if no other has one, -EINVAL with *@from naming it.
 * -ENOENT if there are none.
 */
int nydusfs_auth_files_find(const struct nydusfs_auth_files *af,
			    const char *host, struct nydusfs_cred *cred,
			    const char **from);
void nydusfs_auth_files_free(struct nydusfs_auth_files *af);

/* Strict base64 (padding optional); @out has room for 3 * len / 4 + 3. */
int nydusfs_base64_decode(const char *in, size_t len, uint8_t *out,
			  size_t *out_len);

#define NYDUSFS_TOKEN_DEFAULT_TTL	60

struct nydusfs_token {
	char *value;
	int64_t expires_in;	/* seconds, > 0 */
	int64_t issued_at;	/* epoch seconds, 0 if not given or bad */
	int64_t expires_at;	/* epoch seconds, from nydusfs_auth_parse_token */
};

/*
 * Parse a token endpoint's JSON answer received at @now (epoch seconds).
 * The lifetime counts from issued_at when that is sane (not in the future,
 * not older than the lifetime), else from @now: clocks differ.
 */
int nydusfs_auth_parse_token(const char *body, size_t len, int64_t now,
			     struct nydusfs_token *t);
void nydusfs_token_free(struct nydusfs_token *t);
/*
 * Is @t still good to send at @now?  A token is renewed a little early:
 * at 9/10 of its lifetime, and at least 2 s before it runs out.
 */
bool nydusfs_token_fresh(const struct nydusfs_token *t, int64_t now);

/*
 * For a client that renews tokens in the background (nydusfsd): after
 * @t was received at @now, in how many ms to fetch the next one while
 * requests go on with @t (3/4 of the time it has left), and in how many ms
 * @t must no longer be sent (all of it).
 */
void nydusfs_token_schedule(const struct nydusfs_token *t, int64_t now,
			    uint64_t *renew_ms, uint64_t *end_ms);

/* "repository:NAME:ACTIONS" (malloc()ed) or NULL. */
char *nydusfs_auth_scope(const char *repo, const char *actions);

/*
 * The token request for @scope (space-separated scopes, one "scope="
 * each) at @realm: REALM?service=SERVICE&scope=..., percent-encoded;
 * malloc()ed, or NULL.  @service and @scope may be NULL.
 */
char *nydusfs_auth_token_url(const char *realm, const char *service,
			     const char *scope);

/*
 * Retry-After: delta-seconds or an HTTP-date, as milliseconds to wait
 * from @now (epoch seconds); at most @max_ms.  -EINVAL if neither.
 */
int nydusfs_http_retry_after(const char *value, int64_t now, uint64_t max_ms,
			     uint64_t *ms);

/*
 * The value of header @name (case-insensitive) in the header line @line of
 * @len bytes, trimmed (malloc()ed), or NULL if the line is another one.
 */
char *nydusfs_http_header_value(const char *line, size_t len,
				const char *name);

/*
 * Content-Range "bytes FIRST-LAST/TOTAL" (TOTAL "*": UINT64_MAX).
 * -EINVAL if malformed, if FIRST > LAST, or if LAST >= TOTAL.
 */
int nydusfs_http_content_range(const char *value, uint64_t *first,
			       uint64_t *last, uint64_t *total);

/* An HTTP status as 0 (2xx) or -errno: 401/403 -EACCES, 404 -ENOENT,
 * 429 -EAGAIN, 5xx -EIO... */
int nydusfs_http_status_errno(long status);
/* A libcurl CURLcode (not CURLE_OK) as -errno: -ECONNRESET for a broken
 * transfer, -ETIMEDOUT, -EKEYREJECTED for an untrusted certificate... */
int nydusfs_curl_errno(int code);
/* Worth another attempt: the network, the server's load, a bad answer. */
bool nydusfs_http_retryable(int err);

/* Same scheme, host and port (case-insensitive, default ports implied). */
bool nydusfs_url_same_origin(const char *a, const char *b);
/* "HOST[:PORT]" of @url as written, without user:password@ (malloc()ed),
 * or NULL if it names no host. */
char *nydusfs_url_host(const char *url);
/* @url as logs may show it in @buf: without query and fragment (signed
 * URLs carry secrets there) and without user:password@.  Returns @buf. */
const char *nydusfs_url_for_log(const char *url, char *buf, size_t size);

/* RFC 3339 "2006-01-02T15:04:05[.frac](Z|+hh:mm)" to epoch seconds. */
int nydusfs_parse_rfc3339(const char *s, int64_t *out);

#endif
