// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs convert: the OCI documents.  Resolving a reference through
 * image indexes to one platform's image manifest and config; checking
 * source layers against the config's diff_ids; writing the bootstrap
 * layer (a deterministic tar+gzip of image/image.boot) and the converted
 * config and manifest; and reading the bootstrap back out of a converted
 * image (for --chunk-dict REF).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "convert.h"
#include "nydusfs/err.h"
#include "nydusfs/format.h"
#include "nydusfs/image.h"
#include "nydusfs/log.h"

#define NESTING_MAX	4		/* index -> index -> manifest */
#define IO_BLOCK	(1U << 20)
#define TAR_BLOCK	512

#if defined(__x86_64__)
#define HOST_ARCH	"amd64"
#elif defined(__aarch64__)
#define HOST_ARCH	"arm64"
#elif defined(__i386__)
#define HOST_ARCH	"386"
#elif defined(__arm__)
#define HOST_ARCH	"arm"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_ARCH	"ppc64le"
#elif defined(__s390x__)
#define HOST_ARCH	"s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define HOST_ARCH	"riscv64"
#else
#error "unknown OCI architecture name for this host"
#endif

static const char *const tar_layer_types[] = {
	"application/vnd.oci.image.layer.v1.tar",
	"application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.oci.image.layer.v1.tar+zstd",
	"application/vnd.oci.image.layer.nondistributable.v1.tar",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
	"application/vnd.docker.image.rootfs.diff.tar",
	"application/vnd.docker.image.rootfs.diff.tar.gzip",
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

/* ---- platforms ---- */

static int copy_part(char *dst, const char *src, size_t len)
{
	size_t i;

	if (!len || len >= 32)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_.-", src[i]))
			return -EINVAL;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

/* "os/arch[/variant]" */
int cv_platform_parse(const char *s, struct cv_platform *p)
{
	const char *a = strchr(s, '/'), *v;
	int err;

	memset(p, 0, sizeof(*p));
	if (!a)
		return -EINVAL;
	v = strchr(a + 1, '/');
	err = copy_part(p->os, s, a - s);
	if (!err)
		err = copy_part(p->arch, a + 1, v ? (size_t)(v - a - 1) :
				strlen(a + 1));
	if (!err && v)
		err = copy_part(p->variant, v + 1, strlen(v + 1));
	p->explicit = true;
	return err;
}

const char *cv_host_arch(void)
{
	return HOST_ARCH;
}

void cv_platform_host(struct cv_platform *p)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->os, "linux");
	strcpy(p->arch, HOST_ARCH);
}

static void platform_string(const char *os, const char *arch,
			    const char *variant, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s%s%s", os ? os : "?", arch ? arch : "?",
		 variant && *variant ? "/" : "", variant ? variant : "");
}

/* ---- descriptors and documents ---- */

static int parse_desc(const char *what, json_t *obj, struct cv_desc *d)
{
	json_t *mt = json_object_get(obj, "mediaType");
	json_t *size = json_object_get(obj, "size");
	const char *digest = json_string_value(json_object_get(obj, "digest"));

	if (!json_is_object(obj) || !digest || !json_is_integer(size) ||
	    json_integer_value(size) < 0 || (mt && !json_is_string(mt))) {
		nydusfs_err("%s: malformed descriptor (mediaType, digest, size)",
			    what);
		return -EINVAL;
	}
	if (!nydusfs_oci_ref_valid_digest(digest)) {
		nydusfs_err("%s: digest '%.80s': only sha256:<64 hex> is "
			    "supported", what, digest);
		return -EOPNOTSUPP;
	}
	d->media_type = json_string_value(mt);
	snprintf(d->digest, sizeof(d->digest), "%s", digest);
	d->size = json_integer_value(size);
	d->obj = obj;
	return 0;
}

static bool is_index_type(const char *mt)
{
	return !strcmp(mt, NYDUSFS_MT_OCI_INDEX) ||
	       !strcmp(mt, NYDUSFS_MT_DOCKER_LIST);
}

static bool is_manifest_type(const char *mt)
{
	return !strcmp(mt, NYDUSFS_MT_OCI_MANIFEST) ||
	       !strcmp(mt, NYDUSFS_MT_DOCKER_MANIFEST);
}

/* The document's type: a specific Content-Type, its mediaType, its keys. */
static const char *doc_media_type(const struct nydusfs_manifest *m,
				  json_t *doc)
{
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));

	if (m->media_type && strcmp(m->media_type, "application/json") &&
	    strcmp(m->media_type, "text/plain") &&
	    strcmp(m->media_type, "application/octet-stream"))
		return m->media_type;
	if (mt)
		return mt;
	if (json_integer_value(json_object_get(doc, "schemaVersion")) == 1)
		return "application/vnd.docker.distribution.manifest.v1+json";
	if (json_object_get(doc, "manifests"))
		return NYDUSFS_MT_OCI_INDEX;
	return json_object_get(doc, "layers") ? NYDUSFS_MT_OCI_MANIFEST : "";
}

static int parse_doc(const char *what, const char *buf, size_t len,
		     json_t **out)
{
	json_error_t jerr;

	*out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (json_is_object(*out))
		return 0;
	nydusfs_err("%s: not a JSON object: %s", what,
		    *out ? "another type" : jerr.text);
	json_decref(*out);
	*out = NULL;
	return -EINVAL;
}

/* An index entry for a nydus image made next to the original: skipped. */
static bool is_nydus_entry(json_t *m)
{
	json_t *f = json_object_get(json_object_get(m, "platform"),
				    "os.features"), *v;
	size_t i;

	json_array_foreach(f, i, v)
		if (!strcmp(json_string_value(v) ?: "", "nydus.remoteimage.v1"))
			return true;
	return false;
}

static bool platform_matches(json_t *m, const struct cv_platform *want)
{
	json_t *p = json_object_get(m, "platform");
	const char *os = json_string_value(json_object_get(p, "os"));
	const char *arch = json_string_value(json_object_get(p, "architecture"));
	const char *variant = json_string_value(json_object_get(p, "variant"));

	return os && arch && !strcmp(os, want->os) &&
	       !strcmp(arch, want->arch) &&
	       (!want->variant[0] || (variant && !strcmp(variant,
							 want->variant)));
}

static void list_platforms(json_t *manifests, char *buf, size_t size)
{
	char one[100];
	size_t i, used = 0;
	json_t *m, *p;

	buf[0] = '\0';
	json_array_foreach(manifests, i, m) {
		p = json_object_get(m, "platform");
		platform_string(json_string_value(json_object_get(p, "os")),
				json_string_value(json_object_get(p, "architecture")),
				json_string_value(json_object_get(p, "variant")),
				one, sizeof(one));
		used += snprintf(buf + used, size - used, "%s%s",
				 i ? ", " : "", one);
		if (used >= size)
			break;
	}
}

static int pick_platform(struct cv_store *s, json_t *index, const char *idigest,
			 const struct cv_platform *want, struct cv_desc *d)
{
	json_t *list = json_object_get(index, "manifests"), *m;
	char have[512], w[100];
	size_t i;

	json_array_foreach(list, i, m) {
		if (!is_nydus_entry(m) && platform_matches(m, want))
			return parse_desc(s->label, m, d);
	}
	platform_string(want->os, want->arch, want->variant, w, sizeof(w));
	list_platforms(list, have, sizeof(have));
	nydusfs_err("%s: the image index %s has no %s image; it has: %s "
		    "(choose one with --platform OS/ARCH[/VARIANT])", s->label,
		    idigest, w, *have ? have : "none");
	return -ENOENT;
}

/* From the store's reference through indexes to an image manifest. */
static int resolve_manifest(struct cv_store *s, const struct cv_platform *p,
			    struct nydusfs_manifest *m, json_t **doc,
			    bool *via_index)
{
	struct cv_desc d;
	const char *mt;
	int err, depth;

	*via_index = false;
	err = cv_store_get_manifest(s, NULL, m);
	for (depth = 0; !err && depth < NESTING_MAX; depth++) {
		err = parse_doc(s->label, m->body, m->len, doc);
		if (err)
			break;
		mt = doc_media_type(m, *doc);
		if (is_manifest_type(mt))
			return 0;
		if (!is_index_type(mt)) {
			nydusfs_err("%s: unsupported manifest type '%s'%s",
				    s->label, mt, strstr(mt, "manifest.v1") ?
				    " (Docker schema 1: copy it with skopeo "
				    "--format oci first)" : "");
			return -EOPNOTSUPP;
		}
		*via_index = true;
		err = pick_platform(s, *doc, m->digest, p, &d);
		json_decref(*doc);
		*doc = NULL;
		nydusfs_manifest_free(m);
		if (!err)
			err = cv_store_get_manifest(s, d.digest, m);
		if (!err && m->len != d.size) {
			nydusfs_err("%s: manifest %s: %zu bytes, the index says "
				    "%llu", s->label, d.digest, m->len,
				    (unsigned long long)d.size);
			err = -EFSCORRUPTED;
		}
	}
	if (!err) {
		nydusfs_err("%s: image indexes nested too deep", s->label);
		err = -ELOOP;
	}
	return err;
}

static int parse_layers(struct cv_store *s, struct cv_image *img)
{
	json_t *layers = json_object_get(img->manifest, "layers"), *l;
	size_t i;
	int err = 0;

	if (json_integer_value(json_object_get(img->manifest,
					       "schemaVersion")) != 2 ||
	    !json_is_array(layers)) {
		nydusfs_err("%s: manifest %s: malformed (schemaVersion, layers)",
			    s->label, img->digest);
		return -EINVAL;
	}
	img->layers = calloc(json_array_size(layers) + 1, sizeof(*img->layers));
	if (!img->layers)
		return -ENOMEM;
	json_array_foreach(layers, i, l) {
		err = parse_desc(s->label, l, &img->layers[i]);
		if (err)
			return err;
		img->layer_count++;
	}
	return parse_desc(s->label, json_object_get(img->manifest, "config"),
			  &img->config_desc);
}

/* A single-platform image must be the one asked for with --platform. */
static int check_config_platform(struct cv_store *s, const struct cv_image *img,
				 const struct cv_platform *p)
{
	const char *os = json_string_value(json_object_get(img->config, "os"));
	const char *arch = json_string_value(json_object_get(img->config,
							     "architecture"));
	char have[100], want[100];

	if (!p->explicit || (os && arch && !strcmp(os, p->os) &&
			     !strcmp(arch, p->arch)))
		return 0;
	platform_string(os, arch, NULL, have, sizeof(have));
	platform_string(p->os, p->arch, p->variant, want, sizeof(want));
	nydusfs_err("%s: a single-platform %s image, not %s", s->label, have,
		    want);
	return -ENOENT;
}

static int image_resolve(struct cv_store *s, const struct cv_platform *p,
			 struct cv_image *img, bool want_config)
{
	struct nydusfs_manifest m;
	bool via_index;
	size_t len;
	char *buf = NULL;
	int err;

	memset(img, 0, sizeof(*img));
	err = resolve_manifest(s, p, &m, &img->manifest, &via_index);
	if (!err) {
		memcpy(img->digest, m.digest, sizeof(img->digest));
		err = parse_layers(s, img);
	}
	nydusfs_manifest_free(&m);
	/* only the config says a single-platform image's platform */
	if (!want_config && (via_index || !p->explicit))
		goto done;
	if (!err)
		err = cv_store_get_blob_mem(s, &img->config_desc, CV_JSON_MAX,
					    &buf, &len);
	if (!err)
		err = parse_doc("image config", buf, len, &img->config);
	free(buf);
	if (!err && !via_index)
		err = check_config_platform(s, img, p);
done:
	if (!err)
		nydusfs_info("%s: manifest %s, %zu layers", s->label,
			     img->digest, img->layer_count);
	return err;
}

int cv_image_resolve(struct cv_store *s, const struct cv_platform *p,
		     struct cv_image *img)
{
	return image_resolve(s, p, img, true);
}

int cv_image_resolve_manifest(struct cv_store *s, const struct cv_platform *p,
			      struct cv_image *img)
{
	return image_resolve(s, p, img, false);
}

void cv_image_free(struct cv_image *img)
{
	json_decref(img->manifest);
	json_decref(img->config);
	free(img->layers);
	memset(img, 0, sizeof(*img));
}

bool cv_is_tar_layer(const char *mt)
{
	size_t i;

	for (i = 0; mt && i < NYDUSFS_ARRAY_SIZE(tar_layer_types); i++)
		if (!strcmp(mt, tar_layer_types[i]))
			return true;
	return false;
}

static const char *annotation(json_t *desc, const char *key)
{
	return json_string_value(json_object_get(json_object_get(desc,
		"annotations"), key));
}

bool cv_is_nydus_image(const struct cv_image *img)
{
	size_t i;

	for (i = 0; i < img->layer_count; i++) {
		if ((img->layers[i].media_type &&
		     !strcmp(img->layers[i].media_type, MT_NYDUS_BLOB)) ||
		    annotation(img->layers[i].obj, ANN_NYDUS_BOOTSTRAP))
			return true;
	}
	return false;
}

/* ---- reading layers ---- */

static struct archive *new_reader(bool raw)
{
	struct archive *a = archive_read_new();

	if (!a)
		return NULL;
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	if (raw)
		archive_read_support_format_raw(a);
	else
		archive_read_support_format_tar(a);
	return a;
}

static struct archive *open_compressed(const char *path, bool raw)
{
	struct archive *a = new_reader(raw);

	if (a && archive_read_open_filename(a, path, IO_BLOCK) != ARCHIVE_OK) {
		nydusfs_err("%s: %s", path, archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

static void md_hex(EVP_MD_CTX *md, char out[NYDUSFS_OCI_DIGEST_LEN])
{
	uint8_t d[NYDUSFS_DIGEST_SIZE];
	char hex[2 * NYDUSFS_DIGEST_SIZE + 1];

	EVP_DigestFinal_ex(md, d, NULL);
	nydusfs_digest_to_hex(d, hex);
	snprintf(out, NYDUSFS_OCI_DIGEST_LEN, "sha256:%s", hex);
}

/* sha256 of the current entry's data (the raw stream, or a tar member). */
static int hash_entry(struct archive *a, const char *path, int out_fd,
		      char digest[NYDUSFS_OCI_DIGEST_LEN], uint64_t *size)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *buf = malloc(IO_BLOCK);
	la_ssize_t n;
	int err = 0;

	*size = 0;
	if (!md || !buf || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		err = -ENOMEM;
	while (!err && (n = archive_read_data(a, buf, IO_BLOCK)) != 0) {
		if (n < 0) {
			nydusfs_err("%s: %s", path, archive_error_string(a));
			err = -EIO;
		} else if (out_fd >= 0 && write(out_fd, buf, n) != n) {
			err = errno ? -errno : -EIO;
		} else {
			EVP_DigestUpdate(md, buf, n);
			*size += n;
		}
		if (!err && out_fd >= 0 && *size > NYDUSFS_IMAGE_MAX_SIZE)
			err = -EFBIG;
	}
	if (!err)
		md_hex(md, digest);
	EVP_MD_CTX_free(md);
	free(buf);
	return err;
}

int cv_check_diff_id(const struct cv_image *img, size_t i, const char *path)
{
	json_t *ids = json_object_get(json_object_get(img->config, "rootfs"),
				      "diff_ids");
	const char *want = json_string_value(json_array_get(ids, i));
	char got[NYDUSFS_OCI_DIGEST_LEN];
	struct archive_entry *e;
	struct archive *a;
	uint64_t size;
	int err;

	if (json_array_size(ids) != img->layer_count || !want)
		return 0;		/* nothing to check against */
	if (!strcmp(want, img->layers[i].digest))
		return 0;		/* uncompressed: already verified */
	a = open_compressed(path, true);
	if (!a)
		return -EIO;
	err = archive_read_next_header(a, &e) == ARCHIVE_OK ? 0 : -EIO;
	if (!err)
		err = hash_entry(a, path, -1, got, &size);
	archive_read_free(a);
	if (err)
		return err;
	if (strcmp(got, want)) {
		nydusfs_err("layer %zu (%s): its uncompressed content is %s, "
			    "the config's diff_id says %s", i,
			    img->layers[i].digest, got, want);
		return -EFSCORRUPTED;
	}
	return 0;
}

/* ---- the bootstrap of a converted image ---- */

int cv_find_bootstrap(const struct cv_image *img, const struct cv_desc **d,
		      const char **bootstrap_digest)
{
	const char *v;
	size_t i;

	for (i = img->layer_count; i-- > 0;) {
		v = annotation(img->layers[i].obj, ANN_NYDUS_BOOTSTRAP);
		if (v && !strcmp(v, "true")) {
			*d = &img->layers[i];
			*bootstrap_digest = annotation(img->layers[i].obj,
						       ANN_BOOTSTRAP_DIGEST);
			return 0;
		}
	}
	return -ENOENT;
}

static bool is_bootstrap_member(const char *name)
{
	if (!strncmp(name, "./", 2))
		name += 2;
	return !strcmp(name, BOOTSTRAP_MEMBER);
}

/* The next image/image.boot member: 0, -ENOENT, or -EIO (said why). */
static int find_member(struct archive *a, const char *what,
		       struct archive_entry **e)
{
	int r;

	while ((r = archive_read_next_header(a, e)) == ARCHIVE_OK)
		if (is_bootstrap_member(archive_entry_pathname(*e) ?: "") &&
		    archive_entry_filetype(*e) == AE_IFREG)
			return 0;
	if (r != ARCHIVE_EOF) {
		nydusfs_err("%s: %s", what, archive_error_string(a));
		return -EIO;
	}
	nydusfs_err("the bootstrap layer has no %s", BOOTSTRAP_MEMBER);
	return -ENOENT;
}

static int check_digest(const char *got, const char *want)
{
	if (!want || !strcmp(got, want))
		return 0;
	nydusfs_err("the bootstrap is %s, its layer's annotation says %s", got,
		    want);
	return -EFSCORRUPTED;
}

int cv_extract_bootstrap(const char *layer, const char *out,
			 const char *want_digest)
{
	char got[NYDUSFS_OCI_DIGEST_LEN];
	struct archive_entry *e;
	struct archive *a = open_compressed(layer, false);
	uint64_t size;
	int fd, err;

	if (!a)
		return -EIO;
	err = find_member(a, layer, &e);
	if (!err) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		err = fd < 0 ? -errno : hash_entry(a, layer, fd, got, &size);
		if (fd >= 0 && close(fd) && !err)
			err = -errno;
	}
	archive_read_free(a);
	return err ? err : check_digest(got, want_digest);
}

/* The member's bytes into @buf (@size of them, no more), hashed if @digest */
static int read_member(struct archive *a, uint8_t *buf, uint64_t size,
		       char *digest)
{
	EVP_MD_CTX *md = digest ? EVP_MD_CTX_new() : NULL;
	uint64_t pos = 0;
	la_ssize_t n;
	char extra;
	int err = 0;

	if (digest && (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)))
		err = -ENOMEM;
	while (!err && pos < size) {
		n = archive_read_data(a, buf + pos, size - pos);
		if (n <= 0)
			break;
		if (md)
			EVP_DigestUpdate(md, buf + pos, n);
		pos += n;
	}
	if (!err && (pos != size || archive_read_data(a, &extra, 1) != 0)) {
		nydusfs_err("the bootstrap layer: %s: %s", BOOTSTRAP_MEMBER,
			    archive_errno(a) ? archive_error_string(a) :
			    "not the size its tar header says");
		err = -EIO;
	}
	if (!err && md)
		md_hex(md, digest);
	EVP_MD_CTX_free(md);
	return err;
}

int cv_extract_bootstrap_mem(const void *layer, size_t len,
			     const char *want_digest, void **out,
			     size_t *out_len)
{
	char got[NYDUSFS_OCI_DIGEST_LEN];
	struct archive_entry *e;
	struct archive *a = new_reader(false);
	int64_t size = 0;
	void *buf = NULL;
	int err = a ? 0 : -ENOMEM;

	if (!err && archive_read_open_memory(a, layer, len) != ARCHIVE_OK) {
		nydusfs_err("the bootstrap layer: %s", archive_error_string(a));
		err = -EIO;
	}
	if (!err)
		err = find_member(a, "the bootstrap layer", &e);
	if (!err) {
		size = archive_entry_size(e);
		if (!archive_entry_size_is_set(e) || size < 0 ||
		    (uint64_t)size > NYDUSFS_IMAGE_MAX_SIZE) {
			nydusfs_err("the bootstrap layer: %s of %lld bytes",
				    BOOTSTRAP_MEMBER, (long long)size);
			err = -EFBIG;
		}
	}
	if (!err && !(buf = nydusfs_image_buf_alloc(size)))
		err = -ENOMEM;
	if (!err)
		err = read_member(a, buf, size, want_digest ? got : NULL);
	archive_read_free(a);
	if (!err && want_digest)
		err = check_digest(got, want_digest);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*out_len = size;
	return 0;
}

/* ---- writing the bootstrap layer ---- */

struct layer_writer {
	int fd;
	struct archive *a;
	EVP_MD_CTX *tar_md, *gz_md, *boot_md;
	uint64_t gz_size;
	int err;
};

static la_ssize_t on_gzip_out(struct archive *a, void *arg, const void *buf,
			      size_t len)
{
	struct layer_writer *w = arg;
	const char *p = buf;
	size_t left = len;
	ssize_t n;

	(void)a;
	EVP_DigestUpdate(w->gz_md, buf, len);
	while (left) {
		n = write(w->fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			w->err = n < 0 ? -errno : -EIO;
			return -1;
		}
		p += n;
		left -= n;
	}
	w->gz_size += len;
	return len;
}

/* Bytes of the tar stream: hashed (diff_id), then compressed. */
static int tar_out(struct layer_writer *w, const void *buf, size_t len)
{
	const char *p = buf;
	la_ssize_t n;

	EVP_DigestUpdate(w->tar_md, buf, len);
	while (len) {
		n = archive_write_data(w->a, p, len);
		if (n <= 0)
			return w->err ? w->err : -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

/* A ustar header: owner root (0/0), mtime 0, so the layer is reproducible. */
static int tar_header(struct layer_writer *w, const char *name, char type,
		      unsigned int mode, uint64_t size)
{
	unsigned char h[TAR_BLOCK] = { 0 };
	unsigned int sum = 0, i;

	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", mode);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	snprintf((char *)h + 136, 12, "%011o", 0);
	memset(h + 148, ' ', 8);
	h[156] = type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	snprintf((char *)h + 265, 32, "root");
	snprintf((char *)h + 297, 32, "root");
	for (i = 0; i < TAR_BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	return tar_out(w, h, sizeof(h));
}

static int tar_bootstrap(struct layer_writer *w, int in, uint64_t size)
{
	static const char zeros[2 * TAR_BLOCK];
	char *buf = malloc(IO_BLOCK);
	uint64_t done = 0;
	ssize_t n;
	int err;

	if (!buf)
		return -ENOMEM;
	err = tar_header(w, "image/", '5', 0755, 0);
	if (!err)
		err = tar_header(w, BOOTSTRAP_MEMBER, '0', 0644, size);
	while (!err && done < size) {
		n = read(in, buf, IO_BLOCK);
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		EVP_DigestUpdate(w->boot_md, buf, n);
		err = tar_out(w, buf, n);
		done += n;
	}
	if (!err && done != size)
		err = -EIO;	/* the bootstrap changed under us */
	if (!err && size % TAR_BLOCK)
		err = tar_out(w, zeros, TAR_BLOCK - size % TAR_BLOCK);
	if (!err)
		err = tar_out(w, zeros, sizeof(zeros));	/* end of archive */
	free(buf);
	return err;
}

/* gzip through libarchive's raw writer: no name, no timestamp. */
static int gzip_open(struct layer_writer *w)
{
	struct archive_entry *e;
	int r;

	w->a = archive_write_new();
	e = archive_entry_new();
	if (!w->a || !e) {
		archive_entry_free(e);
		return -ENOMEM;
	}
	archive_entry_set_pathname(e, "layer.tar");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	r = archive_write_add_filter_gzip(w->a);
	if (r == ARCHIVE_OK)
		r = archive_write_set_filter_option(w->a, "gzip", "timestamp",
						    NULL);
	if (r == ARCHIVE_OK)
		r = archive_write_set_format_raw(w->a);
	if (r == ARCHIVE_OK)
		r = archive_write_set_bytes_per_block(w->a, 0);
	if (r == ARCHIVE_OK)
		r = archive_write_open2(w->a, w, NULL, on_gzip_out, NULL, NULL);
	if (r == ARCHIVE_OK)
		r = archive_write_header(w->a, e);
	if (r != ARCHIVE_OK)
		nydusfs_err("gzip: %s", archive_error_string(w->a));
	archive_entry_free(e);
	return r == ARCHIVE_OK ? 0 : -EIO;
}

static int gzip_close(struct layer_writer *w)
{
	int r = archive_write_close(w->a);

	if (r != ARCHIVE_OK)
		nydusfs_err("gzip: %s", archive_error_string(w->a));
	return r == ARCHIVE_OK ? 0 : (w->err ? w->err : -EIO);
}

int cv_write_bootstrap_layer(const char *bootstrap, const char *out,
			     struct cv_layer_out *lo)
{
	struct layer_writer w = { .fd = -1 };
	struct stat st;
	int in, err = -ENOMEM;

	in = open(bootstrap, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st)) {
		nydusfs_err("%s: %s", bootstrap, strerror(errno));
		err = -errno;
		goto out;
	}
	w.fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w.fd < 0) {
		nydusfs_err("%s: %s", out, strerror(errno));
		err = -errno;
		goto out;
	}
	w.tar_md = EVP_MD_CTX_new();
	w.gz_md = EVP_MD_CTX_new();
	w.boot_md = EVP_MD_CTX_new();
	if (!w.tar_md || !w.gz_md || !w.boot_md ||
	    !EVP_DigestInit_ex(w.tar_md, EVP_sha256(), NULL) ||
	    !EVP_DigestInit_ex(w.gz_md, EVP_sha256(), NULL) ||
	    !EVP_DigestInit_ex(w.boot_md, EVP_sha256(), NULL))
		goto out;
	err = gzip_open(&w);
	if (!err)
		err = tar_bootstrap(&w, in, st.st_size);
	if (!err)
		err = gzip_close(&w);
	if (!err && fsync(w.fd))
		err = -errno;
	if (!err) {
		md_hex(w.tar_md, lo->diff_id);
		md_hex(w.gz_md, lo->digest);
		md_hex(w.boot_md, lo->bootstrap_digest);
		lo->size = w.gz_size;
	}
out:
	if (w.a)
		archive_write_free(w.a);
	if (w.fd >= 0)
		close(w.fd);
	if (in >= 0)
		close(in);
	EVP_MD_CTX_free(w.tar_md);
	EVP_MD_CTX_free(w.gz_md);
	EVP_MD_CTX_free(w.boot_md);
	return err;
}

/* ---- the converted config and manifest ---- */

static json_t *new_history_entry(const struct cv_image *src,
				 const struct cv_new_layer *l)
{
	json_t *created = json_object_get(src->config, "created");
	json_t *h = json_object();
	char comment[128];

	if (!h)
		return NULL;
	snprintf(comment, sizeof(comment), "nydusfs %s %s",
		 l->bootstrap ? "bootstrap" : "blob", l->digest);
	if (json_is_string(created))
		json_object_set(h, "created", created);
	json_object_set_new(h, "created_by", json_string("nydusfs convert"));
	json_object_set_new(h, "comment", json_string(comment));
	return h;
}

/* The source's history marked empty, then one entry per new layer. */
static json_t *make_history(const struct cv_image *src,
			    const struct cv_new_layer *l, size_t n)
{
	json_t *old = json_object_get(src->config, "history"), *h, *e;
	size_t i;

	h = json_array();
	json_array_foreach(old, i, e) {
		if (!json_is_object(e))
			continue;
		e = json_deep_copy(e);
		json_object_set_new(e, "empty_layer", json_true());
		json_array_append_new(h, e);
	}
	for (i = 0; i < n; i++)
		json_array_append_new(h, new_history_entry(src, &l[i]));
	return h;
}

static int dump(json_t *doc, char **body, size_t *len)
{
	*body = json_dumps(doc, JSON_COMPACT);
	if (!*body)
		return -ENOMEM;
	*len = strlen(*body);
	return 0;
}

int cv_make_config(const struct cv_image *src, const struct cv_new_layer *l,
		   size_t n, char **body, size_t *len)
{
	json_t *cfg = json_deep_copy(src->config), *ids = json_array();
	size_t i;
	int err = -ENOMEM;

	if (!cfg || !ids)
		goto out;
	for (i = 0; i < n; i++)
		json_array_append_new(ids, json_string(l[i].diff_id));
	if (json_object_set_new(cfg, "rootfs", json_pack("{s:s, s:O}", "type",
							 "layers", "diff_ids",
							 ids)) ||
	    json_object_set_new(cfg, "history", make_history(src, l, n)))
		goto out;
	err = dump(cfg, body, len);
out:
	json_decref(ids);
	json_decref(cfg);
	return err;
}

static json_t *layer_desc(const struct cv_new_layer *l)
{
	if (l->bootstrap)
		return json_pack("{s:s, s:s, s:I, s:{s:s, s:s}}", "mediaType",
				 MT_OCI_LAYER_GZIP, "digest", l->digest, "size",
				 (json_int_t)l->size, "annotations",
				 ANN_NYDUS_BOOTSTRAP, "true",
				 ANN_BOOTSTRAP_DIGEST, l->bootstrap_digest);
	json_t *d = json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType",
			      MT_NYDUS_BLOB, "digest", l->digest, "size",
			      (json_int_t)l->size, "annotations",
			      ANN_NYDUS_BLOB, "true");
	char n[24];

	if (d && l->startup_bytes) {
		snprintf(n, sizeof(n), "%llu",
			 (unsigned long long)l->startup_bytes);
		json_object_set_new(json_object_get(d, "annotations"),
				    ANN_STARTUP_BYTES, json_string(n));
	}
	return d;
}

int cv_make_manifest(const struct cv_image *src, const char *config_digest,
		     size_t config_len, const struct cv_new_layer *l, size_t n,
		     char **body, size_t *len)
{
	json_t *ann = json_object_get(src->manifest, "annotations");
	json_t *m, *layers = json_array();
	size_t i;
	int err = -ENOMEM;

	ann = json_is_object(ann) ? json_deep_copy(ann) : json_object();
	for (i = 0; layers && i < n; i++)
		json_array_append_new(layers, layer_desc(&l[i]));
	if (!ann || !layers || json_array_size(layers) != n ||
	    json_object_set_new(ann, ANN_SOURCE_DIGEST,
				json_string(src->digest))) {
		json_decref(ann);
		json_decref(layers);
		return -ENOMEM;
	}
	m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o, s:o}",
		      "schemaVersion", 2, "mediaType", NYDUSFS_MT_OCI_MANIFEST,
		      "config", "mediaType", MT_OCI_CONFIG, "digest",
		      config_digest, "size", (json_int_t)config_len, "layers",
		      layers, "annotations", ann);
	if (m)
		err = dump(m, body, len);
	json_decref(m);
	return err;
}
