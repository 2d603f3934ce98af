// SPDX-License-Identifier: GPL-2.0
/*
 * An OCI image layout (as skopeo and umoci write it) as a source:
 * oci-layout, index.json, then by tag to a manifest (through an image
 * index to this host's linux platform if need be), and its layers applied
 * in order as tar sources.  Every blob is checked against its digest and
 * size before it is used, and digests never become paths unchecked.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "nydusfs/err.h"
#include "nydusfs/log.h"
#include "nydusfs/tree.h"

#define OCI_JSON_MAX		(16U << 20)	/* a manifest, index or config */
#define OCI_NESTING_MAX		4		/* index -> index -> manifest */
#define OCI_HASH_BLOCK		(1U << 20)
#define OCI_REF_NAME		"org.opencontainers.image.ref.name"

#define MT_OCI_INDEX	"application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST	"application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST	"application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

#if defined(__x86_64__)
#define OCI_HOST_ARCH	"amd64"
#elif defined(__aarch64__)
#define OCI_HOST_ARCH	"arm64"
#elif defined(__i386__)
#define OCI_HOST_ARCH	"386"
#elif defined(__arm__)
#define OCI_HOST_ARCH	"arm"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define OCI_HOST_ARCH	"ppc64le"
#elif defined(__s390x__)
#define OCI_HOST_ARCH	"s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define OCI_HOST_ARCH	"riscv64"
#else
#error "unknown OCI architecture name for this host"
#endif

static const char *const layer_media_types[] = {
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

struct oci_layout {
	struct nydusfs_tree *tree;
	char *dir;
	char *tag;			/* NULL: the only one, or latest */
};

struct oci_desc {
	const char *media_type;		/* NULL if not given */
	const char *digest;
	uint64_t size;
};

static bool is_dir(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

static bool has_layout_file(const char *dir)
{
	char *path;
	bool ret;

	if (asprintf(&path, "%s/oci-layout", dir) < 0)
		return false;
	ret = !access(path, F_OK);
	free(path);
	return ret;
}

/*
 * "DIR" or "DIR:TAG": split at the last ':' if what precedes it is a
 * directory, unless the whole of @ref is itself a layout.
 */
static int split_ref(const char *ref, struct oci_layout *l)
{
	const char *colon = strrchr(ref, ':');

	if (colon && colon != ref && colon[1]) {
		l->dir = strndup(ref, colon - ref);
		if (!l->dir)
			return -ENOMEM;
		if (is_dir(l->dir) && !has_layout_file(ref)) {
			l->tag = strdup(colon + 1);
			return l->tag ? 0 : -ENOMEM;
		}
		free(l->dir);
	}
	l->dir = strdup(ref);
	if (l->dir && colon && !colon[1] && colon != ref)
		l->dir[colon - ref] = '\0';	/* "DIR:" */
	return l->dir ? 0 : -ENOMEM;
}

static int read_file(const char *path, size_t max, char **buf, size_t *len)
{
	struct stat st;
	ssize_t n;
	size_t done = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		nydusfs_err("%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		nydusfs_err("%s: not a regular file of at most %zu bytes",
			    path, max);
		err = -EINVAL;
		goto out;
	}
	*buf = malloc(st.st_size + 1);
	if (!*buf) {
		err = -ENOMEM;
		goto out;
	}
	while (done < (size_t)st.st_size) {
		n = read(fd, *buf + done, st.st_size - done);
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			nydusfs_err("%s: cannot read: %s", path,
				    strerror(-err));
			free(*buf);
			*buf = NULL;
			goto out;
		}
		done += n;
	}
	(*buf)[done] = '\0';
	*len = done;
out:
	if (fd >= 0)
		close(fd);
	return err;
}

static int parse_json(const char *what, const char *buf, size_t len,
		      json_t **out)
{
	json_error_t jerr;

	*out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*out || !json_is_object(*out)) {
		nydusfs_err("%s: not a JSON object: %s (line %d)", what,
			    *out ? "another type" : jerr.text, jerr.line);
		json_decref(*out);
		return -EINVAL;
	}
	return 0;
}

static int load_json(const char *path, json_t **out)
{
	size_t len;
	char *buf;
	int err;

	err = read_file(path, OCI_JSON_MAX, &buf, &len);
	if (err)
		return err;
	err = parse_json(path, buf, len, out);
	free(buf);
	return err;
}

/* DIR/blobs/sha256/HEX of a "sha256:HEX" digest; nothing else. */
static int blob_path(const struct oci_layout *l, const char *digest,
		     char **path, uint8_t want[NYDUSFS_DIGEST_SIZE])
{
	const char *hex;

	if (strncmp(digest, "sha256:", 7)) {
		nydusfs_err("%s: digest %.80s: only sha256 is supported",
			    l->dir, digest);
		return -EOPNOTSUPP;
	}
	hex = digest + 7;
	if (strspn(hex, "0123456789abcdef") != 2 * NYDUSFS_DIGEST_SIZE ||
	    nydusfs_hex_to_digest(hex, want)) {
		nydusfs_err("%s: malformed digest %.80s", l->dir, digest);
		return -EINVAL;
	}
	if (asprintf(path, "%s/blobs/sha256/%s", l->dir, hex) < 0)
		return -ENOMEM;
	return 0;
}

static int check_blob(const char *path, const struct oci_desc *d,
		      const uint8_t want[NYDUSFS_DIGEST_SIZE],
		      const uint8_t got[NYDUSFS_DIGEST_SIZE], uint64_t size)
{
	if (size != d->size) {
		nydusfs_err("blob %s: %llu bytes, its descriptor says %llu",
			    path, (unsigned long long)size,
			    (unsigned long long)d->size);
		return -EFSCORRUPTED;
	}
	if (memcmp(want, got, NYDUSFS_DIGEST_SIZE)) {
		nydusfs_err("blob %s: content does not match digest %s", path,
			    d->digest);
		return -EFSCORRUPTED;
	}
	return 0;
}

/* Hash the blob file @path and check it against @d. */
static int verify_blob_file(const char *path, const struct oci_desc *d,
			    const uint8_t want[NYDUSFS_DIGEST_SIZE])
{
	uint8_t got[NYDUSFS_DIGEST_SIZE], *buf = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t size = 0;
	ssize_t n;
	int fd, err = -ENOMEM;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		nydusfs_err("blob %s: %s", path, strerror(errno));
		goto out;
	}
	buf = malloc(OCI_HASH_BLOCK);
	if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto out;
	while ((n = read(fd, buf, OCI_HASH_BLOCK)) > 0) {
		size += n;
		if (!EVP_DigestUpdate(ctx, buf, n)) {
			err = -EIO;
			goto out;
		}
	}
	if (n < 0) {
		err = -errno;
		nydusfs_err("blob %s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	err = EVP_DigestFinal_ex(ctx, got, NULL) ? 0 : -EIO;
	if (!err)
		err = check_blob(path, d, want, got, size);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	EVP_MD_CTX_free(ctx);
	return err;
}

/* Read, verify and parse the JSON blob of @d. */
static int load_blob_json(const struct oci_layout *l,
			  const struct oci_desc *d, json_t **out)
{
	uint8_t want[NYDUSFS_DIGEST_SIZE], got[NYDUSFS_DIGEST_SIZE];
	char *path, *buf = NULL;
	size_t len;
	int err;

	err = blob_path(l, d->digest, &path, want);
	if (err)
		return err;
	err = read_file(path, OCI_JSON_MAX, &buf, &len);
	if (!err)
		err = nydusfs_sha256(buf, len, got);
	if (!err)
		err = check_blob(path, d, want, got, len);
	if (!err)
		err = parse_json(path, buf, len, out);
	free(buf);
	free(path);
	return err;
}

static int parse_desc(const char *what, json_t *obj, struct oci_desc *d)
{
	json_t *mt = json_object_get(obj, "mediaType");
	json_t *digest = json_object_get(obj, "digest");
	json_t *size = json_object_get(obj, "size");

	if (!json_is_object(obj) || !json_is_string(digest) ||
	    !json_is_integer(size) || json_integer_value(size) < 0 ||
	    (mt && !json_is_string(mt))) {
		nydusfs_err("%s: malformed descriptor (digest, size, "
			    "mediaType)", what);
		return -EINVAL;
	}
	d->media_type = mt ? json_string_value(mt) : NULL;
	d->digest = json_string_value(digest);
	d->size = json_integer_value(size);
	return 0;
}

static const char *desc_tag(json_t *desc)
{
	json_t *ann = json_object_get(desc, "annotations");

	return json_string_value(json_object_get(ann, OCI_REF_NAME));
}

/* The entry of index.json @manifests named by @tag. */
static int pick_by_tag(const struct oci_layout *l, json_t *manifests,
		       const char *tag, bool required, json_t **out)
{
	const char *name;
	json_t *m;
	size_t i;

	json_array_foreach(manifests, i, m) {
		name = desc_tag(m);
		if (name && !strcmp(name, tag)) {
			*out = m;
			return 0;
		}
	}
	if (required)
		nydusfs_err("%s: no manifest tagged '%s'", l->dir, tag);
	return -ENOENT;
}

/* The descriptor index.json points to for the layout's tag. */
static int pick_manifest(const struct oci_layout *l, json_t *index,
			 struct oci_desc *d)
{
	json_t *manifests = json_object_get(index, "manifests"), *m = NULL;
	int err;

	if (!json_is_array(manifests) || !json_array_size(manifests)) {
		nydusfs_err("%s/index.json: no manifests", l->dir);
		return -ENOENT;
	}
	if (l->tag) {
		err = pick_by_tag(l, manifests, l->tag, true, &m);
	} else if (json_array_size(manifests) == 1) {
		m = json_array_get(manifests, 0);
		err = 0;
	} else {
		err = pick_by_tag(l, manifests, "latest", false, &m);
		if (err)
			nydusfs_err("%s: %zu manifests, none tagged 'latest': "
				    "name one as %s:TAG", l->dir,
				    json_array_size(manifests), l->dir);
	}
	return err ? err : parse_desc("index.json", m, d);
}

static bool is_index(const char *mt)
{
	return !strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST);
}

static bool is_manifest(const char *mt)
{
	return !strcmp(mt, MT_OCI_MANIFEST) || !strcmp(mt, MT_DOCKER_MANIFEST);
}

/* A descriptor without mediaType: the blob's own, or guessed from its keys. */
static const char *blob_media_type(json_t *blob)
{
	const char *mt = json_string_value(json_object_get(blob, "mediaType"));

	if (mt)
		return mt;
	if (json_object_get(blob, "manifests"))
		return MT_OCI_INDEX;
	return json_object_get(blob, "layers") ? MT_OCI_MANIFEST : "";
}

/* In image index @index, the descriptor for linux/<this host>. */
static int pick_platform(const struct oci_desc *idesc, json_t *index,
			 struct oci_desc *d)
{
	json_t *manifests = json_object_get(index, "manifests"), *m, *p;
	const char *os, *arch;
	size_t i;

	json_array_foreach(manifests, i, m) {
		p = json_object_get(m, "platform");
		os = json_string_value(json_object_get(p, "os"));
		arch = json_string_value(json_object_get(p, "architecture"));
		if (os && arch && !strcmp(os, "linux") &&
		    !strcmp(arch, OCI_HOST_ARCH))
			return parse_desc(idesc->digest, m, d);
	}
	nydusfs_err("image index %s has no manifest for linux/%s",
		    idesc->digest, OCI_HOST_ARCH);
	return -ENOENT;
}

/* Follow @d through image indexes to a manifest, loaded into *out. */
static int resolve_manifest(const struct oci_layout *l, struct oci_desc *d,
			    json_t **out, json_t **parents)
{
	const char *mt;
	json_t *blob;
	int err, depth;

	for (depth = 0; depth < OCI_NESTING_MAX; depth++) {
		err = load_blob_json(l, d, &blob);
		if (err)
			return err;
		mt = d->media_type ? d->media_type : blob_media_type(blob);
		if (is_manifest(mt)) {
			*out = blob;
			return 0;
		}
		parents[depth] = blob;	/* @d points into it */
		if (!is_index(mt)) {
			nydusfs_err("blob %s: unsupported media type '%s'",
				    d->digest, mt);
			return -EOPNOTSUPP;
		}
		err = pick_platform(d, blob, d);
		if (err)
			return err;
		nydusfs_info("%s: image index: linux/%s is %s", l->dir,
			     OCI_HOST_ARCH, d->digest);
	}
	nydusfs_err("%s: image indexes nested too deep", l->dir);
	return -ELOOP;
}

static bool is_layer_type(const char *mt)
{
	size_t i;

	for (i = 0; i < NYDUSFS_ARRAY_SIZE(layer_media_types); i++)
		if (!strcmp(mt, layer_media_types[i]))
			return true;
	return false;
}

static int apply_layer(struct oci_layout *l, json_t *obj, size_t i)
{
	uint8_t want[NYDUSFS_DIGEST_SIZE];
	struct oci_desc d;
	char *path;
	int err;

	err = parse_desc("manifest layer", obj, &d);
	if (err)
		return err;
	if (!d.media_type || !is_layer_type(d.media_type)) {
		nydusfs_err("%s: layer %zu (%s): unsupported media type '%s'",
			    l->dir, i, d.digest,
			    d.media_type ? d.media_type : "(none)");
		return -EOPNOTSUPP;
	}
	err = blob_path(l, d.digest, &path, want);
	if (err)
		return err;
	err = verify_blob_file(path, &d, want);
	if (!err) {
		nydusfs_info("%s: layer %zu: %s", l->dir, i, d.digest);
		err = nydusfs_source_tar(l->tree, path);
	}
	free(path);
	return err;
}

static int apply_manifest(struct oci_layout *l, json_t *manifest)
{
	json_t *config = json_object_get(manifest, "config"), *layers;
	json_t *obj = NULL;
	json_t *version = json_object_get(manifest, "schemaVersion");
	struct oci_desc d;
	size_t i;
	int err;

	layers = json_object_get(manifest, "layers");
	if (json_integer_value(version) != 2 || !json_is_array(layers)) {
		nydusfs_err("%s: malformed manifest (schemaVersion, layers)",
			    l->dir);
		return -EINVAL;
	}
	/* The config is not needed, but it is a blob: verify it too. */
	err = parse_desc("manifest config", config, &d);
	if (!err)
		err = load_blob_json(l, &d, &obj);
	json_decref(obj);
	json_array_foreach(layers, i, obj) {
		if (err)
			break;
		err = apply_layer(l, obj, i);
	}
	return err;
}

static int check_layout(const struct oci_layout *l)
{
	const char *version;
	json_t *layout;
	char *path;
	int err;

	if (asprintf(&path, "%s/oci-layout", l->dir) < 0)
		return -ENOMEM;
	err = load_json(path, &layout);
	if (err) {
		nydusfs_err("%s: not an OCI image layout", l->dir);
		free(path);
		return err;
	}
	version = json_string_value(json_object_get(layout,
						    "imageLayoutVersion"));
	if (!version || strncmp(version, "1.", 2)) {
		nydusfs_err("%s: unsupported imageLayoutVersion '%s'", path,
			    version ? version : "(none)");
		err = -EOPNOTSUPP;
	}
	json_decref(layout);
	free(path);
	return err;
}

int nydusfs_source_oci(struct nydusfs_tree *tree, const char *ref)
{
	struct oci_layout l = { .tree = tree };
	json_t *index = NULL, *manifest = NULL;
	json_t *parents[OCI_NESTING_MAX] = { NULL };
	struct oci_desc d;
	char *path = NULL;
	int err, i;

	err = split_ref(ref, &l);
	if (!err)
		err = check_layout(&l);
	if (!err && asprintf(&path, "%s/index.json", l.dir) < 0)
		err = -ENOMEM;
	if (!err)
		err = load_json(path, &index);
	if (!err)
		err = pick_manifest(&l, index, &d);
	if (!err)
		err = resolve_manifest(&l, &d, &manifest, parents);
	if (!err)
		err = apply_manifest(&l, manifest);
	json_decref(manifest);
	for (i = 0; i < OCI_NESTING_MAX; i++)
		json_decref(parents[i]);
	json_decref(index);
	free(path);
	free(l.dir);
	free(l.tag);
	return err;
}
