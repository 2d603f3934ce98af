/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Image references in skopeo's transport spelling:
 *
 *   docker://HOST[:PORT]/REPO[:TAG][@sha256:HEX]   an image in a registry
 *   oci:DIR[:TAG]                                   an OCI image layout
 *
 * As in skopeo, a docker reference without a registry host ("debian",
 * "library/debian:12") means docker.io, a single-component name there gets
 * "library/", and the tag defaults to "latest" unless a digest is given.
 * The first component is a host if it has a '.' or a ':', or is
 * "localhost".  An oci: reference splits at the first ':' (so DIR cannot
 * hold one), the tag may be absent.  Pure parsing: no I/O.
 */
#ifndef NYDUSFS_OCI_REF_H
#define NYDUSFS_OCI_REF_H

#include <stdbool.h>

enum nydusfs_ref_kind {
	NYDUSFS_REF_DOCKER = 1,
	NYDUSFS_REF_OCI,
};

#define NYDUSFS_REF_NAME_MAX	255	/* a repository name */
#define NYDUSFS_REF_TAG_MAX	128

struct nydusfs_oci_ref {
	enum nydusfs_ref_kind kind;
	char *host;		/* docker: "127.0.0.1:5000", "docker.io" */
	char *repo;		/* docker: "library/debian" */
	char *digest;		/* docker: "sha256:<64 hex>" or NULL */
	char *dir;		/* oci: the layout directory */
	char *tag;		/* the tag, or NULL (oci: none given; docker:
				 * only when a digest is given) */
};

/*
 * Parse @str into @ref (zeroed first).  0, -ENOMEM, or -EINVAL with *why
 * set to a message saying what is wrong (a static string).
 */
int nydusfs_oci_ref_parse(const char *str, struct nydusfs_oci_ref *ref,
			  const char **why);
void nydusfs_oci_ref_free(struct nydusfs_oci_ref *ref);

/* What /v2/REPO/manifests/<it> names: the digest if given, else the tag. */
const char *nydusfs_oci_ref_manifest_ref(const struct nydusfs_oci_ref *ref);

/* The host the registry API is served on (docker.io: registry-1.docker.io). */
const char *nydusfs_oci_ref_api_host(const struct nydusfs_oci_ref *ref);

/* The reference written back in canonical form (malloc()ed), or NULL. */
char *nydusfs_oci_ref_string(const struct nydusfs_oci_ref *ref);

/* Checks on single parts, shared with code that builds references. */
bool nydusfs_oci_ref_valid_repo(const char *repo);
bool nydusfs_oci_ref_valid_tag(const char *tag);
/* "sha256:" and 64 lowercase hex digits. */
bool nydusfs_oci_ref_valid_digest(const char *digest);

#endif
