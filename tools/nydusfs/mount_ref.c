// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs mount REF: resolve an image reference to one platform's
 * manifest, fetch its bootstrap and check it all the way down (manifest
 * digest -> bootstrap layer digest -> the bootstrap's own digest, from the
 * manifest's annotation), store it by that digest, and say where the blobs
 * are.  mount_ref.h has the contract; Documentation/nydusfs-run.rst the
 * user's view.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "client.h"
#include "mount_ref.h"
#include "nydusfs/err.h"
#include "nydusfs/format.h"
#include "nydusfs/image.h"
#include "nydusfs/log.h"
#include "nydusfs/registry_auth.h"

/* ---- options ---- */

void ref_opts_init(struct ref_opts *o)
{
	memset(o, 0, sizeof(*o));
	cv_platform_host(&o->platform);
	o->reg.tls_verify = true;
	o->reg.retries = 4;
}

void ref_opts_free(struct ref_opts *o)
{
	free(o->creds);
	o->creds = NULL;
}

static int set_creds(struct ref_opts *o, const char *value)
{
	char *colon;

	free(o->creds);
	o->creds = value ? strdup(value) : NULL;
	colon = o->creds ? strchr(o->creds, ':') : NULL;
	if (!colon || colon == o->creds) {
		nydusfs_err("credentials must be USER:PASS");
		return -EINVAL;
	}
	*colon = '\0';
	o->reg.user = o->creds;
	o->reg.pass = colon + 1;
	return 0;
}

static int need_value(const char *name, const char *value)
{
	if (value && *value)
		return 0;
	nydusfs_err("%s needs a value", name);
	return -EINVAL;
}

int ref_opt(struct ref_opts *o, const char *name, const char *value)
{
	char n[32];
	size_t i;
	int v, err = 0;

	for (i = 0; name[i] && i < sizeof(n) - 1; i++)
		n[i] = name[i] == '_' ? '-' : name[i];
	n[i] = '\0';
	if (!strcmp(n, "tls-verify")) {
		err = cv_parse_bool(value, &v);
		if (!err)
			o->reg.tls_verify = v;
	} else if (!strcmp(n, "platform")) {
		err = need_value(n, value);
		if (!err && cv_platform_parse(value, &o->platform)) {
			nydusfs_err("bad platform '%s': OS/ARCH[/VARIANT], like "
				    "linux/amd64 or linux/arm64/v8", value);
			err = -EINVAL;
		}
	} else if (!strcmp(n, "cert-dir")) {
		err = need_value(n, value);
		o->reg.cert_dir = value;
	} else if (!strcmp(n, "ca-file")) {
		err = need_value(n, value);
		o->reg.ca_file = value;
	} else if (!strcmp(n, "authfile")) {
		err = need_value(n, value);
		o->reg.auth_file = value;
	} else if (!strcmp(n, "creds")) {
		err = set_creds(o, value);
	} else {
		return 1;
	}
	o->given = true;
	return err;
}

bool ref_is_reference(const char *arg)
{
	return !strncmp(arg, "docker://", 9) || !strncmp(arg, "oci:", 4);
}

/* ---- the bootstrap layer ---- */

static int find_bootstrap(const struct cv_store *s, const struct cv_image *img,
			  const struct cv_desc **d, const char **want)
{
	if (cv_find_bootstrap(img, d, want)) {
		nydusfs_err("%s is not a nydusfs image: manifest %s has no layer "
			    "annotated %s; convert it first: nydusfs convert %s "
			    "docker://HOST/REPO:TAG (or oci:DIR:TAG), then mount "
			    "that", s->label, img->digest, ANN_NYDUS_BOOTSTRAP,
			    s->label);
		return -EMEDIUMTYPE;
	}
	if (!*want || !nydusfs_oci_ref_valid_digest(*want)) {
		nydusfs_err("%s: its bootstrap layer %s has no %s annotation: "
			    "not an image made by nydusfs convert (a Nydus RAFS "
			    "image?); convert the original image with nydusfs "
			    "convert", s->label, (*d)->digest,
			    ANN_BOOTSTRAP_DIGEST);
		return -EMEDIUMTYPE;
	}
	return 0;
}

/* Every blob the bootstrap names must be a layer of the manifest. */
static int check_blobs(const struct cv_store *s, const struct cv_image *img,
		       const struct nydusfs_image *bi)
{
	char hex[2 * NYDUSFS_DIGEST_SIZE + 1], digest[NYDUSFS_OCI_DIGEST_LEN];
	const struct nydusfs_blob *b;
	uint32_t i;
	size_t k;
	int err = 0;

	for (i = 0; !err && i < bi->blob_count; i++) {
		err = nydusfs_image_blob(bi, i, &b);
		if (err)
			break;
		nydusfs_digest_to_hex(b->digest, hex);
		snprintf(digest, sizeof(digest), "sha256:%s", hex);
		for (k = 0; k < img->layer_count; k++)
			if (!strcmp(img->layers[k].digest, digest))
				break;
		if (k == img->layer_count) {
			nydusfs_err("%s: the bootstrap needs blob %s, which "
				    "manifest %s does not list: the image is "
				    "incomplete", s->label, digest, img->digest);
			err = -EBADMSG;
		}
	}
	return err;
}

/* Open the bootstrap in @buf (taking it), and check it against @img. */
static int check_bootstrap(const struct cv_store *s, const struct cv_image *img,
			   void *buf, size_t len, struct nydusfs_image **bi)
{
	int err;

	err = nydusfs_image_adopt(buf, len, s->label, bi);
	if (err) {
		nydusfs_err("%s: its bootstrap is not a valid nydusfs bootstrap: "
			    "%s", s->label, strerror(-err));
		return err;
	}
	err = check_blobs(s, img, *bi);
	if (err) {
		nydusfs_image_close(*bi);
		*bi = NULL;
	}
	return err;
}

/* @len bytes into @path, complete or not at all: a temporary, then rename. */
static int store_file(const char *dir, const char *path, const void *buf,
		      size_t len)
{
	const char *p = buf;
	char *tmp;
	ssize_t n;
	int fd, err = 0;

	if (asprintf(&tmp, "%s/.fetch-XXXXXX", dir) < 0)
		return -ENOMEM;
	fd = mkstemp(tmp);
	if (fd < 0)
		err = -errno;
	while (!err && len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		p += n;
		len -= n;
	}
	if (!err && fsync(fd))
		err = -errno;
	if (fd >= 0 && close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		nydusfs_err("%s: %s", path, strerror(-err));
		if (fd >= 0)
			unlink(tmp);
	}
	free(tmp);
	return err;
}

/*
 * The layer into memory (its digest checked on the way), the bootstrap out
 * of it into memory (hashed on the way and checked against @want, unless
 * @kernel_checks: the kernel hashes it at mount anyway, and the layer's
 * digest already ties its bytes to the manifest), opened and checked there,
 * and written to @path once.
 */
static int fetch_bootstrap(struct cv_store *s, const struct cv_image *img,
			   const struct cv_desc *d, const char *want,
			   const char *dir, const char *path, bool kernel_checks)
{
	struct nydusfs_image *bi = NULL;
	char *layer = NULL;
	size_t len, blen;
	void *boot;
	int err;

	err = cv_store_get_blob_mem(s, d, NYDUSFS_IMAGE_MAX_SIZE, &layer, &len);
	if (err)
		nydusfs_err("%s: bootstrap layer %s: %s", s->label, d->digest,
			    cv_strerror(err));
	if (!err)
		err = cv_extract_bootstrap_mem(layer, len,
					       kernel_checks ? NULL : want,
					       &boot, &blen);
	free(layer);
	if (!err)
		err = check_bootstrap(s, img, boot, blen, &bi);
	if (!err)
		err = store_file(dir, path, bi->buf, bi->size);
	nydusfs_image_close(bi);
	return err;
}

/*
 * A stored bootstrap is used only if its bytes still match its name (read
 * once: hashed and checked in memory).  1 if it is, 0 if it must be
 * fetched, or -errno.
 */
static int stored_ok(const struct cv_store *s, const struct cv_image *img,
		     const char *path, const char *want)
{
	char got[NYDUSFS_OCI_DIGEST_LEN];
	struct nydusfs_image *bi;
	size_t len;
	void *buf;
	int err;

	if (access(path, F_OK))
		return 0;
	err = nydusfs_image_read(path, &buf, &len);
	if (!err && (nydusfs_oci_digest(buf, len, got) || strcmp(got, want))) {
		free(buf);
		err = -EFSCORRUPTED;
	}
	if (err) {
		nydusfs_warn("%s: the stored bootstrap does not match its name: "
			     "fetching it again", path);
		unlink(path);
		return 0;
	}
	err = check_bootstrap(s, img, buf, len, &bi);
	nydusfs_image_close(bi);
	return err ? err : 1;
}

static int store_bootstrap(struct cv_store *s, const struct cv_image *img,
			   const struct cv_desc *d, const char *want,
			   const struct ref_opts *o, const char *state_dir,
			   struct ref_image *ri)
{
	char *dir;
	int err, stored;

	if (asprintf(&dir, "%s/bootstraps/sha256", state_dir) < 0)
		return -ENOMEM;
	err = cv_mkdir_p(dir, 0700);
	if (err)
		nydusfs_err("cannot make %s: %s (the bootstrap store; set "
			    "state_dir in the daemon's config)", dir,
			    strerror(-err));
	if (!err && snprintf(ri->bootstrap, sizeof(ri->bootstrap), "%s/%s",
			     dir, want + 7) >= (int)sizeof(ri->bootstrap))
		err = -ENAMETOOLONG;
	stored = err ? 0 : stored_ok(s, img, ri->bootstrap, want);
	if (stored) {
		err = stored < 0 ? stored : 0;
		nydusfs_info("%s: bootstrap %s already stored", s->label, want);
	} else if (!err) {
		err = fetch_bootstrap(s, img, d, want, dir, ri->bootstrap,
				      o->kernel_checks_digest);
		ri->fetched = !err;
		if (!err)
			nydusfs_info("%s: bootstrap %s fetched (layer %s, %llu "
				     "bytes)", s->label, want, d->digest,
				     (unsigned long long)d->size);
	}
	free(dir);
	return err;
}

/* ---- where the blobs are ---- */

/* What reached the registry, for nydusfsd; NULL: its defaults do. */
static json_t *registry_settings(const struct cv_store *s,
				 const struct ref_opts *o)
{
	const char *base = nydusfs_registry_base(s->reg);
	const struct nydusfs_cred *c = nydusfs_registry_cred(s->reg);
	const char *pem = nydusfs_registry_ca_pem(s->reg);
	bool http = base && !strncmp(base, "http://", 7);
	json_t *j;

	if (!http && o->reg.tls_verify && !pem && !c)
		return NULL;
	j = json_pack("{s:s, s:b}", "scheme", http ? "http" : "https",
		      "tls_verify", o->reg.tls_verify);
	if (j && pem)
		json_object_set_new(j, "ca_pem", json_string(pem));
	if (j && c) {
		json_object_set_new(j, "username", json_string(c->user));
		json_object_set_new(j, "password", json_string(c->pass));
	}
	return j;
}

static int blob_source(const struct cv_store *s, const struct ref_opts *o,
		       struct ref_image *ri)
{
	char real[PATH_MAX];
	int n;

	if (s->reg) {
		n = asprintf(&ri->source, "registry:%s/%s",
			     nydusfs_oci_ref_api_host(&s->ref), s->ref.repo);
		ri->settings = registry_settings(s, o);
	} else {
		if (!realpath(s->ref.dir, real)) {
			nydusfs_err("%s: %s", s->ref.dir, strerror(errno));
			return -errno;
		}
		n = asprintf(&ri->source, "localfs:%s/blobs/sha256", real);
		ri->localfs = true;
	}
	if (n < 0) {
		ri->source = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* ---- the startup profile, early ---- */

/* A layer's org.nydusfs.startup.bytes, or 0. */
static uint64_t startup_bytes(const struct cv_desc *d)
{
	json_t *ann = json_object_get(d->obj, "annotations");
	const char *v = json_string_value(json_object_get(ann,
							  ANN_STARTUP_BYTES));
	unsigned long long n;
	char *end;

	if (!v || *v < '0' || *v > '9')
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	return errno || *end || n > d->size ? 0 : n;
}

/*
 * On the image's first mount here (its bootstrap not stored), hand
 * o->early the blobs whose startup profile can be fetched before the
 * bootstrap is in.  Nothing fails here: it only saves time.
 */
static void early_blobs(const struct cv_image *img, const char *want,
			const struct ref_opts *o, const char *state_dir,
			const struct ref_image *ri)
{
	uint64_t bytes;
	char *path;
	size_t i;

	if (!o->early || ri->localfs)
		return;
	if (asprintf(&path, "%s/bootstraps/sha256/%s", state_dir,
		     want + 7) < 0)
		return;
	for (i = 0; access(path, F_OK) && i < img->layer_count; i++) {
		bytes = startup_bytes(&img->layers[i]);
		if (bytes)
			o->early(o->early_arg, ri, img->layers[i].digest,
				 bytes);
	}
	free(path);
}

/* ---- the whole way ---- */

/*
 * The registry's scheme when it is known, so that no request goes to find
 * it: https when TLS is verified; with --tls-verify=false the scheme of
 * the daemon config's [registry "HOST"] (which nydusfsd uses for the blobs
 * too), else https then http.  No GET /v2/ first: the manifest's own 401
 * brings the challenge.
 */
static int registry_opts(const char *ref, const struct ref_opts *o,
			 struct nydusfs_registry_opts *reg, char **scheme)
{
	struct nydusfs_oci_ref r;
	const char *why, *host;
	int err = 0;

	*reg = o->reg;
	reg->no_ping = true;
	*scheme = NULL;
	if (o->reg.tls_verify || !o->config || nydusfs_oci_ref_parse(ref, &r,
								    &why))
		return 0;	/* a bad reference: cv_store_open says why */
	host = nydusfs_oci_ref_api_host(&r);
	if (r.kind == NYDUSFS_REF_DOCKER)
		*scheme = config_setting(o->config, "registry", host, "scheme");
	if (*scheme && strcmp(*scheme, "http") && strcmp(*scheme, "https")) {
		nydusfs_err("%s: [registry \"%s\"] scheme = %s: it must be "
			    "http or https", o->config, host, *scheme);
		err = -EINVAL;
	}
	nydusfs_oci_ref_free(&r);
	reg->scheme = *scheme;
	return err;
}

int ref_image_get(const char *ref, const struct ref_opts *o,
		  struct ref_image *ri)
{
	const char *state_dir = o->state_dir ? o->state_dir :
				REF_DEFAULT_STATE_DIR;
	struct nydusfs_registry_opts reg;
	struct cv_image img = { 0 };
	const struct cv_desc *d;
	struct cv_store *s;
	const char *want;
	char *scheme;
	int err;

	memset(ri, 0, sizeof(*ri));
	err = registry_opts(ref, o, &reg, &scheme);
	if (!err)
		err = cv_store_open(ref, &reg, false, &s);
	if (err) {
		free(scheme);
		return err;
	}
	ri->label = strdup(s->label);
	err = ri->label ? cv_image_resolve_manifest(s, &o->platform, &img) :
	      -ENOMEM;
	if (!err)
		err = find_bootstrap(s, &img, &d, &want);
	if (!err) {
		memcpy(ri->manifest, img.digest, sizeof(ri->manifest));
		snprintf(ri->digest, sizeof(ri->digest), "%s", want);
		err = blob_source(s, o, ri);
	}
	if (!err)
		early_blobs(&img, want, o, state_dir, ri);
	if (!err)
		err = store_bootstrap(s, &img, d, want, o, state_dir, ri);
	if (s->reg)
		cv_store_report(s, "mount");
	cv_image_free(&img);
	cv_store_close(s);
	free(scheme);
	return err;
}

void ref_image_free(struct ref_image *ri)
{
	free(ri->label);
	free(ri->source);
	json_decref(ri->settings);
	memset(ri, 0, sizeof(*ri));
}
