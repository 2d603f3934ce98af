/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nydusfs mount REF (mount_ref.c): from an image reference, docker:// or
 * oci: as convert.h spells them, to what mounting the image needs:
 *
 *   - its bootstrap, fetched from the bootstrap layer of the manifest,
 *     checked against the layer's digest and the manifest's
 *     org.nydusfs.bootstrap.digest annotation, and stored under its own
 *     digest in STATE_DIR/bootstraps/sha256/HEX (found there next time);
 *   - the digest for the kernel's -o digest=;
 *   - where its blobs are: registry:HOST/REPO with the settings that
 *     reached the registry (scheme, TLS, CA, credentials) for nydusfsd,
 *     or localfs:DIR for the blobs directory of an OCI layout.
 *
 * cmd_daemon.c then registers and mounts it as it does a bootstrap file.
 */
#ifndef NYDUSFS_MOUNT_REF_H
#define NYDUSFS_MOUNT_REF_H

#include <limits.h>
#include <stdbool.h>

#include <jansson.h>

#include "convert.h"

#define REF_DEFAULT_STATE_DIR	"/var/lib/nydusfs"

struct ref_image;

struct ref_opts {
	struct cv_platform platform;
	struct nydusfs_registry_opts reg;
	const char *state_dir;
	const char *config;		/* the daemon's: [registry "HOST"] */
	char *creds;			/* --creds, split into reg.user/pass */
	bool given;			/* any of these options on the line */
	/*
	 * The kernel will check the bootstrap against -o digest= (a real
	 * mount, not --dry-run or --fake): a freshly fetched one is not
	 * hashed here too.  Its layer's digest is checked either way.
	 */
	bool kernel_checks_digest;
	/*
	 * Called before the bootstrap is fetched, when it is not stored yet
	 * (the image's first mount here), for each blob layer whose
	 * org.nydusfs.startup.bytes names the bytes at its start that hold
	 * the startup profile: cmd_daemon.c asks nydusfsd to fetch them
	 * while the bootstrap downloads.  NULL: not asked.
	 */
	void (*early)(void *arg, const struct ref_image *ri, const char *blob,
		      uint64_t bytes);
	void *early_arg;
};

struct ref_image {
	char *label;			/* the reference, canonical */
	char manifest[NYDUSFS_OCI_DIGEST_LEN];
	char digest[NYDUSFS_OCI_DIGEST_LEN];	/* the bootstrap's */
	char bootstrap[PATH_MAX];	/* STATE_DIR/bootstraps/sha256/HEX */
	bool fetched;			/* false: it was in the store */
	char *source;			/* registry:HOST/REPO or localfs:DIR */
	bool localfs;
	json_t *settings;		/* a registry's, for nydusfsd, or NULL */
};

void ref_opts_init(struct ref_opts *o);
void ref_opts_free(struct ref_opts *o);
/*
 * One option of nydusfs mount or mount.nydusfs -o: @name without dashes
 * ("tls-verify", "platform", "cert-dir", "ca-file", "creds",
 * "authfile"; '_' for '-' too).  1 if @name is none of them, 0 if taken,
 * -EINVAL (after a message) if its value is bad.
 */
int ref_opt(struct ref_opts *o, const char *name, const char *value);

/* Does @arg name an image (a transport prefix) rather than a file? */
bool ref_is_reference(const char *arg);

/* Resolve, fetch, verify and store; 0 or -errno after a message. */
int ref_image_get(const char *ref, const struct ref_opts *o,
		  struct ref_image *ri);
void ref_image_free(struct ref_image *ri);

#endif
