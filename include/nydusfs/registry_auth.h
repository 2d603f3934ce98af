/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pure helpers of the registry protocol (no I/O, no clock: "now" is
 * passed in), shared by the blocking client (lib/registry.c) and meant for
 * the daemon's asynchronous one too:
 *
 * - WWW-Authenticate challenges (RFC 7235): Bearer realm/service/scope,
 *   Basic;
 * - credentials for a host from a docker-style config.json ("auths":
 *   base64 "user:pass" in "auth", or "username"/"password");
 * - token responses ("token" or "access_token", "expires_in" default 60,
 *   "issued_at") and when a token must be renewed;
 * - Retry-After (seconds or an HTTP date), and whether two URLs share an
 *   origin (Authorization never goes to another one).
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
 * -EOPNOTSUPP if it offers neither Bearer (with a realm) nor Basic.
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

/* "repository:NAME:ACTIONS" (malloc()ed) or NULL. */
char *nydusfs_auth_scope(const char *repo, const char *actions);

/*
 * Retry-After: delta-seconds or an HTTP-date, as milliseconds to wait
 * from @now (epoch seconds); at most @max_ms.  -EINVAL if neither.
 */
int nydusfs_http_retry_after(const char *value, int64_t now, uint64_t max_ms,
			     uint64_t *ms);

/* Same scheme, host and port (case-insensitive, default ports implied). */
bool nydusfs_url_same_origin(const char *a, const char *b);

/* RFC 3339 "2006-01-02T15:04:05[.frac](Z|+hh:mm)" to epoch seconds. */
int nydusfs_parse_rfc3339(const char *s, int64_t *out);

#endif
