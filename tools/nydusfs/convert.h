/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nydusfs convert, in three files:
 *   convert_store.c  where images live: a registry repository
 *                    (lib/registry.c) or an OCI image layout, behind one
 *                    interface: manifests, verified blobs, pushes;
 *   convert_image.c  OCI documents: resolving a reference through image
 *                    indexes to one platform's manifest, the converted
 *                    config and manifest, the bootstrap layer (a
 *                    deterministic tar+gzip holding image/image.boot),
 *                    and fetching the bootstrap of a converted image;
 *   cmd_convert.c    the command: options, then pull, build, push.
 * nydusfs mount REF (mount_ref.c) uses the stores and images to fetch the
 * bootstrap of a converted image.
 * Documentation/nydusfs-convert.rst describes the image it writes.
 */
#ifndef NYDUSFS_CONVERT_H
#define NYDUSFS_CONVERT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "nydusfs/oci_ref.h"
#include "nydusfs/registry.h"

#define MT_OCI_CONFIG		"application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER_GZIP	"application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_NYDUS_BLOB		"application/vnd.oci.image.layer.nydus.blob.v1"
#define ANN_NYDUS_BLOB		"containerd.io/snapshot/nydus-blob"
#define ANN_NYDUS_BOOTSTRAP	"containerd.io/snapshot/nydus-bootstrap"
#define ANN_BOOTSTRAP_DIGEST	"org.nydusfs.bootstrap.digest"
#define ANN_SOURCE_DIGEST	"org.nydusfs.source.digest"
#define ANN_REF_NAME		"org.opencontainers.image.ref.name"
/* on a blob layer: the compressed bytes at its start that hold the
 * startup profile's chunks (decimal); nydusfs mount fetches them early */
#define ANN_STARTUP_BYTES	"org.nydusfs.startup.bytes"
#define BOOTSTRAP_MEMBER	"image/image.boot"

#define CV_JSON_MAX		(16U << 20)	/* a config */

/* ---- stores (convert_store.c) ---- */

struct cv_store {
	struct nydusfs_oci_ref ref;
	char *label;			/* the reference, for messages */
	struct nydusfs_registry *reg;	/* docker:// */
	uint64_t oci_written, oci_skipped;	/* oci: blobs */
};

struct cv_desc {
	const char *media_type;		/* NULL if not given */
	char digest[NYDUSFS_OCI_DIGEST_LEN];
	uint64_t size;
	json_t *obj;			/* borrowed from its document */
};

/* Open @ref_str (docker:// with @ropts, or oci:).  @create: a destination. */
int cv_store_open(const char *ref_str, const struct nydusfs_registry_opts *ropts,
		  bool create, struct cv_store **out);
void cv_store_close(struct cv_store *s);

/* The manifest that @ref (a tag, a digest, or NULL: the store's) names. */
int cv_store_get_manifest(struct cv_store *s, const char *ref,
			  struct nydusfs_manifest *m);
/*
 * A verified local file of blob @d: the layout's own file (*tmp false),
 * or downloaded into @tmpdir (*tmp true: the caller removes it).
 */
int cv_store_get_blob(struct cv_store *s, const struct cv_desc *d,
		      const char *tmpdir, char **path, bool *tmp);
/* A verified blob in memory, at most @max bytes, NUL-terminated. */
int cv_store_get_blob_mem(struct cv_store *s, const struct cv_desc *d,
			  size_t max, char **buf, size_t *len);
/*
 * Make @s hold blob @digest (the file @path), mounting from @from if set.
 * @path NULL: -ENOENT unless it is there already or could be mounted.
 */
int cv_store_push_blob(struct cv_store *s, const char *digest,
		       const char *path, uint64_t size, const char *from);
/* Store a manifest under @tag (the last step of a push). */
int cv_store_put_manifest(struct cv_store *s, const char *tag,
			  const char *body, size_t len, const char *media_type,
			  char digest[NYDUSFS_OCI_DIGEST_LEN]);
/* sha256 and size of a file, as "sha256:HEX". */
int cv_hash_file(const char *path, char digest[NYDUSFS_OCI_DIGEST_LEN],
		 uint64_t *size);
int cv_mkdir_p(const char *dir, mode_t mode);
/* Words for the errors above, for a command's last line. */
const char *cv_strerror(int err);
/* The registry host of a docker:// store, NULL for a layout. */
const char *cv_store_host(const struct cv_store *s);
void cv_store_report(const struct cv_store *s, const char *what);

/* ---- options (cmd_convert.c, also nydusfs mount) ---- */

/* true/1 (or no argument) and false/0, else -EINVAL with a message. */
int cv_parse_bool(const char *arg, int *out);

/* ---- images (convert_image.c) ---- */

struct cv_platform {
	char os[32], arch[32], variant[32];
	bool explicit;			/* asked for with --platform */
};

int cv_platform_parse(const char *s, struct cv_platform *p);
const char *cv_host_arch(void);
void cv_platform_host(struct cv_platform *p);

/* One platform's image: its manifest, config and layer descriptors. */
struct cv_image {
	char digest[NYDUSFS_OCI_DIGEST_LEN];	/* of the manifest */
	json_t *manifest;
	struct cv_desc config_desc;
	json_t *config;
	struct cv_desc *layers;
	size_t layer_count;
};

int cv_image_resolve(struct cv_store *s, const struct cv_platform *p,
		     struct cv_image *img);
/*
 * The same without the config (img->config NULL), unless it must check an
 * explicit --platform against a single-platform image: nydusfs mount.
 */
int cv_image_resolve_manifest(struct cv_store *s, const struct cv_platform *p,
			      struct cv_image *img);
void cv_image_free(struct cv_image *img);

/* Is @mt a layer media type the converter can read (tar, gzip, zstd)? */
bool cv_is_tar_layer(const char *mt);
bool cv_is_nydus_image(const struct cv_image *img);
/*
 * The sha256 of a layer's uncompressed tar, checked against the config's
 * rootfs.diff_ids[@i] when it lists one.
 */
int cv_check_diff_id(const struct cv_image *img, size_t i, const char *path);

/* The bootstrap layer of a converted image, and its bootstrap's digest. */
int cv_find_bootstrap(const struct cv_image *img, const struct cv_desc **d,
		      const char **bootstrap_digest);
/* Extract image/image.boot of a bootstrap layer file into @out. */
int cv_extract_bootstrap(const char *layer, const char *out,
			 const char *want_digest);
/*
 * The same from a layer in memory into memory: *@out (a buffer for
 * nydusfs_image_adopt()) holds the bootstrap, hashed on the way and
 * checked against @want_digest unless that is NULL.
 */
int cv_extract_bootstrap_mem(const void *layer, size_t len,
			     const char *want_digest, void **out,
			     size_t *out_len);

/* The bootstrap layer: tar+gzip of @bootstrap at @out. */
struct cv_layer_out {
	char digest[NYDUSFS_OCI_DIGEST_LEN];	/* of the gzip file */
	char diff_id[NYDUSFS_OCI_DIGEST_LEN];	/* of the tar */
	char bootstrap_digest[NYDUSFS_OCI_DIGEST_LEN];
	uint64_t size;
};

int cv_write_bootstrap_layer(const char *bootstrap, const char *out,
			     struct cv_layer_out *lo);

/* A layer of the converted image. */
struct cv_new_layer {
	char digest[NYDUSFS_OCI_DIGEST_LEN];
	char diff_id[NYDUSFS_OCI_DIGEST_LEN];
	uint64_t size;
	bool bootstrap;
	const char *bootstrap_digest;	/* bootstrap layer only */
	uint64_t startup_bytes;		/* blob layers: ANN_STARTUP_BYTES */
};

/* The source config with rootfs and history for @layers (malloc()ed). */
int cv_make_config(const struct cv_image *src, const struct cv_new_layer *l,
		   size_t n, char **body, size_t *len);
int cv_make_manifest(const struct cv_image *src, const char *config_digest,
		     size_t config_len, const struct cv_new_layer *l, size_t n,
		     char **body, size_t *len);

#endif
