// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs convert: where images are read from and written to.  A
 * docker:// store is a repository in a registry (lib/registry.c); an oci:
 * store is an OCI image layout directory (oci-layout, index.json,
 * blobs/sha256/HEX), written the way skopeo and umoci expect it: blobs
 * first, each renamed into place complete, index.json last and atomically.
 * Every blob read is checked against its digest (and size, when known).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "convert.h"
#include "nydusfs/err.h"
#include "nydusfs/format.h"
#include "nydusfs/log.h"

#define HASH_BLOCK	(1U << 20)

/* ---- files ---- */

static int read_file(const char *path, size_t max, char **buf, size_t *len)
{
	struct stat st;
	ssize_t n;
	size_t done = 0;
	int fd, err = 0;

	*buf = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		err = -EFBIG;
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

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

int cv_hash_file(const char *path, char digest[NYDUSFS_OCI_DIGEST_LEN],
		 uint64_t *size)
{
	uint8_t d[NYDUSFS_DIGEST_SIZE], *buf = malloc(HASH_BLOCK);
	char hex[2 * NYDUSFS_DIGEST_SIZE + 1];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t n;

	*size = 0;
	if (fd < 0)
		err = -errno;
	else if (!buf || !md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		err = -ENOMEM;
	while (!err && (n = read(fd, buf, HASH_BLOCK)) != 0) {
		if (n < 0)
			err = -errno;
		else if (!EVP_DigestUpdate(md, buf, n))
			err = -EIO;
		else
			*size += n;
	}
	if (!err && !EVP_DigestFinal_ex(md, d, NULL))
		err = -EIO;
	if (!err) {
		nydusfs_digest_to_hex(d, hex);
		snprintf(digest, NYDUSFS_OCI_DIGEST_LEN, "sha256:%s", hex);
	}
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(md);
	free(buf);
	return err;
}

int cv_mkdir_p(const char *dir, mode_t mode)
{
	char *p, *copy = strdup(dir);
	bool end;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (p = copy + 1; !err; p++) {
		if (*p && *p != '/')
			continue;
		end = !*p;
		*p = '\0';
		if (mkdir(copy, mode) && errno != EEXIST)
			err = -errno;
		if (end)
			break;
		*p = '/';
	}
	free(copy);
	return err;
}

/* Write @len bytes to @path atomically (a temporary name, then rename). */
static int write_file_atomic(const char *path, const void *buf, size_t len)
{
	char *tmp;
	int fd, err;

	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkstemp(tmp);
	if (fd < 0) {
		err = -errno;
		free(tmp);
		return err;
	}
	err = write_all(fd, buf, len);
	if (!err && (fchmod(fd, 0644) || fsync(fd)))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	free(tmp);
	return err;
}

/* ---- OCI image layouts ---- */

static char *oci_blob_path(const struct cv_store *s, const char *digest)
{
	char *path;

	if (!nydusfs_oci_ref_valid_digest(digest))
		return NULL;
	if (asprintf(&path, "%s/blobs/sha256/%s", s->ref.dir, digest + 7) < 0)
		return NULL;
	return path;
}

static int oci_verify(const struct cv_store *s, const char *path,
		      const char *digest, uint64_t size)
{
	char got[NYDUSFS_OCI_DIGEST_LEN];
	uint64_t have;
	int err;

	err = cv_hash_file(path, got, &have);
	if (err) {
		nydusfs_err("%s: blob %s: %s", s->label, digest, strerror(-err));
		return err;
	}
	if (size != UINT64_MAX && have != size) {
		nydusfs_err("%s: blob %s: %llu bytes, its descriptor says %llu",
			    s->label, digest, (unsigned long long)have,
			    (unsigned long long)size);
		return -EFSCORRUPTED;
	}
	if (strcmp(got, digest)) {
		nydusfs_err("%s: blob %s: digest mismatch: its bytes are %s",
			    s->label, digest, got);
		return -EFSCORRUPTED;
	}
	return 0;
}

static int oci_load_index(const struct cv_store *s, json_t **index)
{
	json_error_t jerr;
	char *path, *buf;
	size_t len;
	int err;

	if (asprintf(&path, "%s/index.json", s->ref.dir) < 0)
		return -ENOMEM;
	err = read_file(path, CV_JSON_MAX, &buf, &len);
	free(path);
	if (err) {
		nydusfs_err("%s: no readable index.json: %s (is it an OCI "
			    "image layout?)", s->label, strerror(-err));
		return err;
	}
	*index = json_loadb(buf, len, 0, &jerr);
	free(buf);
	if (!json_is_object(*index) ||
	    !json_is_array(json_object_get(*index, "manifests"))) {
		nydusfs_err("%s/index.json: not an image index", s->ref.dir);
		json_decref(*index);
		return -EINVAL;
	}
	return 0;
}

static const char *ref_name(json_t *desc)
{
	return json_string_value(json_object_get(json_object_get(desc,
		"annotations"), ANN_REF_NAME));
}

/* The entry of index.json for @tag (NULL: the only one, else latest). */
static json_t *oci_find_tag(const struct cv_store *s, json_t *index,
			    const char *tag)
{
	json_t *list = json_object_get(index, "manifests"), *m;
	size_t i;

	if (!tag && json_array_size(list) == 1)
		return json_array_get(list, 0);
	json_array_foreach(list, i, m) {
		if (ref_name(m) && !strcmp(ref_name(m), tag ? tag : "latest"))
			return m;
	}
	if (tag)
		nydusfs_err("%s: no image tagged '%s' in the layout", s->label,
			    tag);
	else
		nydusfs_err("%s: %zu images and none tagged 'latest': name one "
			    "as oci:%s:TAG", s->label, json_array_size(list),
			    s->ref.dir);
	return NULL;
}

static int oci_get_manifest(struct cv_store *s, const char *ref,
			    struct nydusfs_manifest *m)
{
	json_t *index = NULL, *desc;
	const char *digest = ref, *mt = NULL;
	uint64_t size = UINT64_MAX;
	char *path = NULL;
	int err = 0;

	if (!ref || strncmp(ref, "sha256:", 7)) {
		err = oci_load_index(s, &index);
		desc = err ? NULL : oci_find_tag(s, index, ref);
		digest = json_string_value(json_object_get(desc, "digest"));
		mt = json_string_value(json_object_get(desc, "mediaType"));
		if (json_is_integer(json_object_get(desc, "size")))
			size = json_integer_value(json_object_get(desc, "size"));
		if (!err && !digest)
			err = desc ? -EINVAL : -ENOENT;
		if (err == -EINVAL && desc)
			nydusfs_err("%s: index.json: an entry without digest",
				    s->label);
	}
	path = err ? NULL : oci_blob_path(s, digest);
	if (!err && !path) {
		nydusfs_err("%s: bad manifest digest '%.80s'", s->label, digest);
		err = -EINVAL;
	}
	if (!err)
		err = oci_verify(s, path, digest, size);
	if (!err)
		err = read_file(path, NYDUSFS_MANIFEST_MAX, &m->body, &m->len);
	if (!err) {
		snprintf(m->digest, sizeof(m->digest), "%s", digest);
		m->media_type = mt ? strdup(mt) : NULL;
	}
	free(path);
	json_decref(index);
	return err;
}

/* Copy @src into the layout as blob @digest (unless a good one is there). */
static int oci_put_blob_file(struct cv_store *s, const char *digest,
			     const char *src, uint64_t size)
{
	char *path = oci_blob_path(s, digest), *tmp = NULL;
	int in = -1, out = -1, err = 0;
	ssize_t n;

	if (!path)
		return -EINVAL;
	if (!access(path, F_OK) && !oci_verify(s, path, digest, size)) {
		s->oci_skipped++;
		goto done;
	}
	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0) {
		tmp = NULL;
		err = -ENOMEM;
		goto done;
	}
	in = open(src, O_RDONLY | O_CLOEXEC);
	out = mkstemp(tmp);
	if (in < 0 || out < 0)
		err = -errno;
	while (!err && (n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0)))
		if (n < 0)
			err = -errno;
	if (!err && (fchmod(out, 0644) || fsync(out)))
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (!err)
		s->oci_written++;
done:
	if (err) {
		nydusfs_err("%s: writing blob %s: %s", s->label, digest,
			    strerror(-err));
		if (out >= 0)
			unlink(tmp);
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	free(tmp);
	free(path);
	return err;
}

static int oci_has_blob(struct cv_store *s, const char *digest, uint64_t size)
{
	char *path = oci_blob_path(s, digest);
	int err = -ENOENT;

	if (!path)
		return -EINVAL;
	if (!access(path, F_OK) && !oci_verify(s, path, digest, size)) {
		s->oci_skipped++;
		err = 0;
	}
	free(path);
	return err;
}

static int oci_put_blob_mem(struct cv_store *s, const char *digest,
			    const char *buf, size_t len)
{
	char *path = oci_blob_path(s, digest);
	int err;

	if (!path)
		return -EINVAL;
	err = write_file_atomic(path, buf, len);
	if (err)
		nydusfs_err("%s: writing blob %s: %s", s->label, digest,
			    strerror(-err));
	free(path);
	return err;
}

/* index.json with @tag pointing at the new manifest (and only there). */
static int oci_tag(struct cv_store *s, const char *tag, const char *mt,
		   const char *digest, size_t len)
{
	json_t *index = NULL, *list, *m, *kept;
	char *path = NULL, *text = NULL;
	size_t i;
	int err = 0;

	if (asprintf(&path, "%s/index.json", s->ref.dir) < 0)
		return -ENOMEM;
	if (access(path, F_OK))
		index = json_pack("{s:i, s:[]}", "schemaVersion", 2,
				  "manifests");
	else
		err = oci_load_index(s, &index);
	kept = json_array();
	list = json_object_get(index, "manifests");
	json_array_foreach(list, i, m)
		if (!ref_name(m) || strcmp(ref_name(m), tag))
			json_array_append(kept, m);
	json_array_append_new(kept, json_pack("{s:s, s:s, s:I, s:{s:s}}",
		"mediaType", mt, "digest", digest, "size", (json_int_t)len,
		"annotations", ANN_REF_NAME, tag));
	if (!err && !index)
		err = -ENOMEM;
	if (!err && json_object_set_new(index, "manifests", kept))
		err = -ENOMEM;
	if (!err)
		kept = NULL;	/* set_new took it */
	text = err ? NULL : json_dumps(index, JSON_COMPACT);
	if (!err && !text)
		err = -ENOMEM;
	if (!err)
		err = write_file_atomic(path, text, strlen(text));
	if (err)
		nydusfs_err("%s: updating index.json: %s", s->label,
			    strerror(-err));
	json_decref(kept);
	json_decref(index);
	free(text);
	free(path);
	return err;
}

static int oci_create(struct cv_store *s)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	char *path;
	int err;

	if (asprintf(&path, "%s/blobs/sha256", s->ref.dir) < 0)
		return -ENOMEM;
	err = cv_mkdir_p(path, 0755);
	free(path);
	if (err) {
		nydusfs_err("%s: cannot create the layout: %s", s->label,
			    strerror(-err));
		return err;
	}
	if (asprintf(&path, "%s/oci-layout", s->ref.dir) < 0)
		return -ENOMEM;
	if (access(path, F_OK))
		err = write_file_atomic(path, layout, strlen(layout));
	free(path);
	return err;
}

/* ---- the interface ---- */

int cv_store_open(const char *ref_str, const struct nydusfs_registry_opts *ropts,
		  bool create, struct cv_store **out)
{
	struct cv_store *s = calloc(1, sizeof(*s));
	const char *why;
	int err;

	if (!s)
		return -ENOMEM;
	err = nydusfs_oci_ref_parse(ref_str, &s->ref, &why);
	if (err) {
		nydusfs_err("bad reference '%s': %s", ref_str, why);
		free(s);
		return err;
	}
	s->label = nydusfs_oci_ref_string(&s->ref);
	if (!s->label)
		err = -ENOMEM;
	else if (s->ref.kind == NYDUSFS_REF_DOCKER) {
		s->reg = nydusfs_registry_open(nydusfs_oci_ref_api_host(&s->ref),
					       s->ref.host, s->ref.repo, ropts);
		if (IS_ERR(s->reg)) {
			err = PTR_ERR(s->reg);
			s->reg = NULL;
		}
	} else if (create) {
		err = oci_create(s);
	}
	if (err) {
		cv_store_close(s);
		return err;
	}
	*out = s;
	return 0;
}

void cv_store_close(struct cv_store *s)
{
	if (!s)
		return;
	nydusfs_registry_close(s->reg);
	nydusfs_oci_ref_free(&s->ref);
	free(s->label);
	free(s);
}

const char *cv_store_host(const struct cv_store *s)
{
	return s->reg ? s->ref.host : NULL;
}

int cv_store_get_manifest(struct cv_store *s, const char *ref,
			  struct nydusfs_manifest *m)
{
	memset(m, 0, sizeof(*m));
	if (s->reg)
		return nydusfs_registry_get_manifest(s->reg, ref ? ref :
			nydusfs_oci_ref_manifest_ref(&s->ref), m);
	return oci_get_manifest(s, ref ? ref : s->ref.tag, m);
}

int cv_store_get_blob(struct cv_store *s, const struct cv_desc *d,
		      const char *tmpdir, char **path, bool *tmp)
{
	int fd, err;

	*tmp = false;
	if (!s->reg) {
		*path = oci_blob_path(s, d->digest);
		if (!*path)
			return -EINVAL;
		err = oci_verify(s, *path, d->digest, d->size);
		if (err) {
			free(*path);
			*path = NULL;
		}
		return err;
	}
	if (asprintf(path, "%s/%s", tmpdir, d->digest + 7) < 0)
		return -ENOMEM;
	fd = open(*path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	err = fd < 0 ? -errno : nydusfs_registry_get_blob(s->reg, d->digest,
							  d->size, fd);
	if (fd >= 0)
		close(fd);
	if (err) {
		unlink(*path);
		free(*path);
		*path = NULL;
		return err;
	}
	*tmp = true;
	return 0;
}

static int check_mem(const struct cv_store *s, const struct cv_desc *d,
		     const char *buf, size_t len)
{
	char got[NYDUSFS_OCI_DIGEST_LEN];
	int err;

	if (len != d->size) {
		nydusfs_err("%s: blob %s: %zu bytes, its descriptor says %llu",
			    s->label, d->digest, len,
			    (unsigned long long)d->size);
		return -EFSCORRUPTED;
	}
	err = nydusfs_oci_digest(buf, len, got);
	if (!err && strcmp(got, d->digest)) {
		nydusfs_err("%s: blob %s: digest mismatch: its bytes are %s",
			    s->label, d->digest, got);
		err = -EFSCORRUPTED;
	}
	return err;
}

int cv_store_get_blob_mem(struct cv_store *s, const struct cv_desc *d,
			  size_t max, char **buf, size_t *len)
{
	char *path;
	int err;

	if (s->reg)
		return nydusfs_registry_get_blob_mem(s->reg, d->digest, d->size,
						     max, buf, len);
	path = oci_blob_path(s, d->digest);
	if (!path)
		return -EINVAL;
	err = read_file(path, max, buf, len);
	if (err)
		nydusfs_err("%s: blob %s: %s", s->label, d->digest,
			    strerror(-err));
	if (!err)	/* read once, checked in memory */
		err = check_mem(s, d, *buf, *len);
	if (err) {
		free(*buf);
		*buf = NULL;
	}
	free(path);
	return err;
}

int cv_store_push_blob(struct cv_store *s, const char *digest,
		       const char *path, uint64_t size, const char *from)
{
	int fd, err;

	if (!s->reg && !path)
		return oci_has_blob(s, digest, size);
	if (!s->reg)
		return oci_put_blob_file(s, digest, path, size);
	if (!path)
		return nydusfs_registry_push_blob(s->reg, digest, -1, size,
						  from);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		nydusfs_err("%s: %s", path, strerror(errno));
		return -errno;
	}
	err = nydusfs_registry_push_blob(s->reg, digest, fd, size, from);
	close(fd);
	return err;
}

int cv_store_put_manifest(struct cv_store *s, const char *tag,
			  const char *body, size_t len, const char *media_type,
			  char digest[NYDUSFS_OCI_DIGEST_LEN])
{
	int err;

	if (s->reg)
		return nydusfs_registry_put_manifest(s->reg, tag, body, len,
						     media_type, digest);
	err = nydusfs_oci_digest(body, len, digest);
	if (!err)
		err = oci_put_blob_mem(s, digest, body, len);
	if (!err)
		err = oci_tag(s, tag, media_type, digest, len);
	return err;
}

/* The last line's words for the errors a registry or an image gives. */
const char *cv_strerror(int err)
{
	switch (err) {
	case -EFSCORRUPTED:
		return "data that does not match its digest";
	case -EKEYREJECTED:
		return "the registry's TLS certificate is not trusted";
	case -EACCES:
		return "access denied";
	case -ENOENT:
		return "not found";
	case -EPROTO:
		return "the registry's answer breaks the protocol";
	case -EMEDIUMTYPE:
		return "not a nydusfs image";
	case -EBADMSG:
		return "an inconsistent image";
	}
	return strerror(-err);
}

void cv_store_report(const struct cv_store *s, const char *what)
{
	const struct nydusfs_registry_stats *st;

	if (!s->reg) {
		nydusfs_info("%s %s: %llu blobs written, %llu already there",
			     what, s->label, (unsigned long long)s->oci_written,
			     (unsigned long long)s->oci_skipped);
		return;
	}
	st = nydusfs_registry_stats(s->reg);
	nydusfs_info("%s %s: %llu requests, %llu retries, %llu tokens; blobs: "
		     "%llu uploaded (%llu PATCH pieces), %llu mounted, %llu "
		     "already there; %llu bytes sent, %llu received", what,
		     s->label, (unsigned long long)st->requests,
		     (unsigned long long)st->retries,
		     (unsigned long long)st->tokens,
		     (unsigned long long)st->blobs_uploaded,
		     (unsigned long long)st->patches,
		     (unsigned long long)st->blobs_mounted,
		     (unsigned long long)st->blobs_skipped,
		     (unsigned long long)st->bytes_uploaded,
		     (unsigned long long)st->bytes_downloaded);
}
