/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A blocking client of one repository in an OCI registry (the distribution
 * spec), on libcurl's easy interface, for the CLI (nydusfs convert).
 *
 * - Manifests: GET/HEAD with every OCI and docker v2 media type accepted;
 *   the body's sha256 is checked against the digest asked for and against
 *   Docker-Content-Digest.  PUT.
 * - Blobs: GET streamed into a file while hashing (size and sha256 always
 *   verified; a retry resumes with Range), a Range GET into memory (206
 *   checked against Content-Range; a 200 is cut to the range), HEAD.
 * - Upload: HEAD first (skip a blob the registry has), then a
 *   cross-repository mount when a source repository on the same registry
 *   is known (201 mounted, 202 upload there instead), else POST -> 202
 *   Location -> PUT ?digest= with the body, or PATCH pieces with
 *   Content-Range START-END for blobs over opts->upload_chunk, then PUT.
 * - Auth: the 401 challenge; Basic with the credentials of opts or a
 *   docker config.json; Bearer tokens from the realm, cached per scope until
 *   expires_in.  Credentials and tokens are never logged, and never sent to
 *   another origin (redirects are followed by hand).
 * - TLS verified by default (opts->ca_file, opts->cert_dir add a CA);
 *   tls_verify = false skips verification and allows plain HTTP (https is
 *   tried first, unless opts->scheme says which), for a registry on
 *   127.0.0.1 in tests.
 * - GET /v2/ (the ping) before the first request teaches the scheme and
 *   the auth; opts->no_ping skips it when the scheme is known: the first
 *   request's own 401 brings the challenge.
 * - Bounded retries with exponential backoff and jitter for 5xx, resets
 *   and stalls; 429 waits for Retry-After; 401 after a fresh token, 403
 *   and 404 are final.
 *
 * Every function returns 0 or -errno.  One function wraps every libcurl
 * call: a failed CURLcode or a non-2xx status becomes -errno there, with
 * one log line (method, URL without its query, status or curl error, the
 * registry's error code, and a hint for 401/403 and TLS failures).
 */
#ifndef NYDUSFS_REGISTRY_H
#define NYDUSFS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NYDUSFS_MT_OCI_MANIFEST	"application/vnd.oci.image.manifest.v1+json"
#define NYDUSFS_MT_OCI_INDEX	"application/vnd.oci.image.index.v1+json"
#define NYDUSFS_MT_DOCKER_MANIFEST \
	"application/vnd.docker.distribution.manifest.v2+json"
#define NYDUSFS_MT_DOCKER_LIST \
	"application/vnd.docker.distribution.manifest.list.v2+json"

/* "sha256:" + 64 hex + NUL */
#define NYDUSFS_OCI_DIGEST_LEN	72

struct nydusfs_registry_opts {
	bool tls_verify;		/* false: no TLS checks, HTTP allowed */
	const char *ca_file;		/* a PEM file of CAs to trust */
	const char *cert_dir;		/* *.crt CAs, NAME.cert + NAME.key */
	const char *user, *pass;	/* credentials, or NULL */
	const char *auth_file;		/* config.json; NULL: the usual ones */
	unsigned int retries;		/* per request (default 4) */
	unsigned int retry_base_ms;	/* first backoff (default 200) */
	unsigned int retry_max_ms;	/* largest backoff (default 10000) */
	unsigned int retry_after_max_ms; /* cap for Retry-After (60000) */
	unsigned int stall_s;		/* no byte for this long: retry (60) */
	uint64_t upload_chunk;		/* PATCH pieces (default 32 MiB) */
	const char *scheme;		/* "https"/"http" if known: no probe */
	bool no_ping;			/* no GET /v2/ if the scheme is known */
};

struct nydusfs_registry_stats {
	uint64_t requests;		/* HTTP exchanges */
	uint64_t retries;
	uint64_t tokens;		/* tokens fetched */
	uint64_t blobs_uploaded, blobs_skipped, blobs_mounted;
	uint64_t patches;		/* PATCH pieces sent */
	uint64_t bytes_uploaded, bytes_downloaded;
};

struct nydusfs_registry;

/*
 * A client of @repo on @host ("HOST[:PORT]", the API host).  @cred_host is
 * the name credentials are looked up under (NULL: @host).  No request is
 * made yet.  ERR_PTR(-errno) on failure.
 */
struct nydusfs_registry *nydusfs_registry_open(const char *host,
					       const char *cred_host,
					       const char *repo,
					       const struct nydusfs_registry_opts *opts);
void nydusfs_registry_close(struct nydusfs_registry *r);
const struct nydusfs_registry_stats *
nydusfs_registry_stats(const struct nydusfs_registry *r);
const char *nydusfs_registry_repo(const struct nydusfs_registry *r);
/* "https://HOST" or "http://HOST" once a request was made, else NULL. */
const char *nydusfs_registry_base(const struct nydusfs_registry *r);
/*
 * What the client trusts and sends, for handing on to nydusfsd (nydusfs
 * mount REF): the credentials it found (opts, or a config.json), NULL if
 * none; the CA certificates of ca_file and cert_dir as one PEM text, NULL
 * if none.
 */
struct nydusfs_cred;
const struct nydusfs_cred *
nydusfs_registry_cred(const struct nydusfs_registry *r);
const char *nydusfs_registry_ca_pem(const struct nydusfs_registry *r);

struct nydusfs_manifest {
	char *body;			/* NUL-terminated */
	size_t len;
	char *media_type;		/* from Content-Type (or the body) */
	char digest[NYDUSFS_OCI_DIGEST_LEN];
};

#define NYDUSFS_MANIFEST_MAX	(4U << 20)

/* @ref: a tag or "sha256:HEX".  -ENOENT if there is no such manifest. */
int nydusfs_registry_get_manifest(struct nydusfs_registry *r, const char *ref,
				  struct nydusfs_manifest *m);
/* The digest (and, if @media_type, the type) without the body. */
int nydusfs_registry_head_manifest(struct nydusfs_registry *r, const char *ref,
				   char digest[NYDUSFS_OCI_DIGEST_LEN],
				   char **media_type);
int nydusfs_registry_put_manifest(struct nydusfs_registry *r, const char *ref,
				  const void *body, size_t len,
				  const char *media_type,
				  char digest[NYDUSFS_OCI_DIGEST_LEN]);
void nydusfs_manifest_free(struct nydusfs_manifest *m);

/*
 * Blob @digest of @size bytes (UINT64_MAX: unknown) into @fd from offset
 * 0.  -EFSCORRUPTED if its bytes do not match.
 */
int nydusfs_registry_get_blob(struct nydusfs_registry *r, const char *digest,
			      uint64_t size, int fd);
/* The same into memory: at most @max bytes, NUL-terminated. */
int nydusfs_registry_get_blob_mem(struct nydusfs_registry *r,
				  const char *digest, uint64_t size,
				  size_t max, char **buf, size_t *len);
/* Bytes [@off, @off + @len) of a blob (not verified: the caller does). */
int nydusfs_registry_get_range(struct nydusfs_registry *r, const char *digest,
			       uint64_t off, uint64_t len, void *buf);
/* 0 and its size if the registry has the blob, -ENOENT if not. */
int nydusfs_registry_has_blob(struct nydusfs_registry *r, const char *digest,
			      uint64_t *size);

/*
 * Make the registry hold blob @digest, whose @size bytes are in @fd:
 * nothing if it has it, a mount from @mount_from (a repository on the same
 * registry, or NULL) if that works, else an upload.  @fd -1: no bytes at
 * hand; -ENOENT if neither there nor mountable.
 */
int nydusfs_registry_push_blob(struct nydusfs_registry *r, const char *digest,
			       int fd, uint64_t size, const char *mount_from);

/* "sha256:HEX" of a buffer, and the check of a digest string. */
int nydusfs_oci_digest(const void *buf, size_t len,
		       char out[NYDUSFS_OCI_DIGEST_LEN]);

#endif
