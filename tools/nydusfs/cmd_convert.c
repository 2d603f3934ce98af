// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs convert SRC DST: an OCI image (docker:// or oci:) into a nydusfs
 * image pushed to DST: pull and verify the manifest, config and layers,
 * apply the layers into one tree, build one bootstrap and one new blob
 * (plus the chunk dictionary's blobs it reuses), then push the blobs, the
 * bootstrap layer and the config, and the manifest last, so that a failed
 * convert never leaves a manifest naming missing blobs.
 * Documentation/nydusfs-convert.rst describes the result.
 */
#include <fnmatch.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cmds.h"
#include "convert.h"
#include "nydusfs/build.h"
#include "nydusfs/compress.h"
#include "nydusfs/err.h"
#include "nydusfs/image.h"
#include "nydusfs/log.h"

static void convert_usage(FILE *out)
{
	fprintf(out,
"usage: nydusfs convert [OPTIONS] SRC DST\n"
"\n"
"Convert the OCI image SRC into a nydusfs image and push it to DST.\n"
"SRC and DST are docker://HOST[:PORT]/REPO[:TAG] (SRC also @sha256:HEX) or\n"
"oci:DIR[:TAG] (an OCI image layout).  Prints the manifest digest.\n"
"\n"
"image options:\n"
"  -c, --chunk-size SIZE      4K..16M, a power of two (default 1M)\n"
"  -z, --compressor NAME      none, lz4 or zstd (default zstd)\n"
"  -l, --level N              compression level (default: the compressor's)\n"
"  -p, --prefetch PATTERN     paths to fetch first at mount: a glob matched\n"
"                             against /absolute/paths ('*' also matches '/');\n"
"                             a matching directory means all below it\n"
"                             (repeatable)\n"
"      --prefetch-list FILE   a startup profile: PATH or PATH OFFSET LENGTH\n"
"                             per line, in the order the workload reads;\n"
"                             its chunks go first in the blob and are\n"
"                             fetched first at mount\n"
"  -d, --chunk-dict REF       an earlier converted image: its chunks are\n"
"                             reused, only new ones are pushed\n"
"      --platform OS/ARCH[/VARIANT]  from an image index (default: linux/"
"%s)\n"
"  -j, --jobs N               builder threads (default: number of CPUs)\n"
"\n"
"registry options (--src-* and --dest-* for one side only):\n"
"      --tls-verify[=BOOL]    verify TLS (default true); false also allows\n"
"                             plain HTTP, e.g. a test registry on 127.0.0.1\n"
"      --cert-dir DIR         trust DIR/*.crt (client: DIR/NAME.cert, .key)\n"
"      --ca-file FILE         trust the CAs in FILE\n"
"      --creds USER:PASS      credentials (default: from --authfile, or\n"
"                             $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/\n"
"                             auth.json, $DOCKER_CONFIG or ~/.docker/config.json)\n"
"      --authfile FILE        a docker-style config.json\n"
"      --retries N            per request (default 4)\n"
"      --upload-chunk SIZE    upload blobs over SIZE in PATCH pieces (32M)\n"
"\n"
"  --tmpdir DIR               for layers and the build (default $TMPDIR)\n"
"  -v, --verbose              say more\n"
"  -h, --help                 show this text\n", cv_host_arch());
}

/* Registry options of one side, before the general ones are merged in. */
struct side_opts {
	int tls_verify;			/* -1: not given */
	const char *cert_dir, *ca_file, *creds;
};

struct convert_opts {
	struct nydusfs_build_opts build;
	const char *chunk_dict;
	struct cv_platform platform;
	struct side_opts all, src, dst;
	const char *authfile;
	unsigned int retries;
	uint64_t upload_chunk;
	const char *tmpdir;
	struct nydusfs_registry_opts src_reg, dst_reg;
	char *creds_copy[2];
	char **patterns;
	unsigned int pattern_count;
	struct nydusfs_profile profile;	/* --prefetch-list */
};

struct convert {
	struct convert_opts *o;
	const char *src_ref, *dst_ref;
	struct cv_store *src, *dst, *dict;
	struct cv_image img, dict_img;
	char *work, *outdir, *dict_boot, *boot_layer;
	struct nydusfs_tree *tree;
	struct cv_new_layer *layers;	/* blobs, then the bootstrap */
	char **paths;			/* local file of each, or NULL */
	size_t layer_count;
	struct cv_layer_out boot;
};

/* ---- options ---- */

static int parse_size(const char *arg, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(arg, &end, 10);

	if (end == arg)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (*end || !v)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_chunk_size(const char *arg, unsigned int *bits)
{
	uint64_t v;
	unsigned int b;

	if (parse_size(arg, &v))
		return -EINVAL;
	for (b = NYDUSFS_MIN_CHUNKSZBITS; b <= NYDUSFS_MAX_CHUNKSZBITS; b++) {
		if (v == 1ULL << b) {
			*bits = b;
			return 0;
		}
	}
	return -EINVAL;
}

int cv_parse_bool(const char *arg, int *out)
{
	if (!arg || !strcmp(arg, "true") || !strcmp(arg, "1")) {
		*out = 1;
		return 0;
	}
	if (!strcmp(arg, "false") || !strcmp(arg, "0")) {
		*out = 0;
		return 0;
	}
	nydusfs_err("'%s' is not a boolean (true or false)", arg);
	return -EINVAL;
}

static int add_pattern(struct convert_opts *o, const char *p)
{
	char **list = realloc(o->patterns, (o->pattern_count + 1) *
			      sizeof(*list));

	if (!list)
		return -ENOMEM;
	o->patterns = list;
	if (asprintf(&list[o->pattern_count], "%s%s", *p == '/' ? "" : "/",
		     p) < 0)
		return -ENOMEM;
	o->pattern_count++;
	return 0;
}

enum {
	OPT_PLATFORM = 256, OPT_TLS, OPT_SRC_TLS, OPT_DST_TLS, OPT_CERT_DIR,
	OPT_SRC_CERT_DIR, OPT_DST_CERT_DIR, OPT_CA_FILE, OPT_SRC_CA_FILE,
	OPT_DST_CA_FILE, OPT_CREDS, OPT_SRC_CREDS, OPT_DST_CREDS,
	OPT_AUTHFILE, OPT_RETRIES, OPT_UPLOAD_CHUNK, OPT_TMPDIR,
	OPT_PREFETCH_LIST,
};

static const struct option longopts[] = {
	{ "chunk-size", required_argument, NULL, 'c' },
	{ "compressor", required_argument, NULL, 'z' },
	{ "level", required_argument, NULL, 'l' },
	{ "prefetch", required_argument, NULL, 'p' },
	{ "prefetch-list", required_argument, NULL, OPT_PREFETCH_LIST },
	{ "chunk-dict", required_argument, NULL, 'd' },
	{ "jobs", required_argument, NULL, 'j' },
	{ "platform", required_argument, NULL, OPT_PLATFORM },
	{ "tls-verify", optional_argument, NULL, OPT_TLS },
	{ "src-tls-verify", optional_argument, NULL, OPT_SRC_TLS },
	{ "dest-tls-verify", optional_argument, NULL, OPT_DST_TLS },
	{ "cert-dir", required_argument, NULL, OPT_CERT_DIR },
	{ "src-cert-dir", required_argument, NULL, OPT_SRC_CERT_DIR },
	{ "dest-cert-dir", required_argument, NULL, OPT_DST_CERT_DIR },
	{ "ca-file", required_argument, NULL, OPT_CA_FILE },
	{ "src-ca-file", required_argument, NULL, OPT_SRC_CA_FILE },
	{ "dest-ca-file", required_argument, NULL, OPT_DST_CA_FILE },
	{ "creds", required_argument, NULL, OPT_CREDS },
	{ "src-creds", required_argument, NULL, OPT_SRC_CREDS },
	{ "dest-creds", required_argument, NULL, OPT_DST_CREDS },
	{ "authfile", required_argument, NULL, OPT_AUTHFILE },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "upload-chunk", required_argument, NULL, OPT_UPLOAD_CHUNK },
	{ "tmpdir", required_argument, NULL, OPT_TMPDIR },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{}
};

static struct side_opts *side_of(struct convert_opts *o, int opt)
{
	switch (opt) {
	case OPT_SRC_TLS: case OPT_SRC_CERT_DIR: case OPT_SRC_CA_FILE:
	case OPT_SRC_CREDS:
		return &o->src;
	case OPT_DST_TLS: case OPT_DST_CERT_DIR: case OPT_DST_CA_FILE:
	case OPT_DST_CREDS:
		return &o->dst;
	}
	return &o->all;
}

static int parse_registry_opt(struct convert_opts *o, int opt,
			      const char *arg)
{
	struct side_opts *s = side_of(o, opt);
	unsigned long long v;
	char *end;

	switch (opt) {
	case OPT_TLS: case OPT_SRC_TLS: case OPT_DST_TLS:
		return cv_parse_bool(arg, &s->tls_verify);
	case OPT_CERT_DIR: case OPT_SRC_CERT_DIR: case OPT_DST_CERT_DIR:
		s->cert_dir = arg;
		return 0;
	case OPT_CA_FILE: case OPT_SRC_CA_FILE: case OPT_DST_CA_FILE:
		s->ca_file = arg;
		return 0;
	case OPT_CREDS: case OPT_SRC_CREDS: case OPT_DST_CREDS:
		s->creds = arg;
		return 0;
	case OPT_AUTHFILE:
		o->authfile = arg;
		return 0;
	case OPT_RETRIES:
		v = strtoull(arg, &end, 10);
		if (end == arg || *end || v > 100)
			return -EINVAL;
		o->retries = v;
		return 0;
	case OPT_UPLOAD_CHUNK:
		return parse_size(arg, &o->upload_chunk);
	case OPT_TMPDIR:
		o->tmpdir = arg;
		return 0;
	}
	return -EINVAL;
}

static int parse_image_opt(struct convert_opts *o, int opt, const char *arg)
{
	int v;

	switch (opt) {
	case 'c':
		return parse_chunk_size(arg, &o->build.chunkszbits);
	case 'z':
		v = nydusfs_compressor_by_name(arg);
		if (v < 0)
			return -EINVAL;
		o->build.compressor = v;
		return 0;
	case 'l':
		o->build.level = atoi(arg);
		return 0;
	case 'p':
		return add_pattern(o, arg);
	case 'd':
		o->chunk_dict = arg;
		return 0;
	case 'j':
		v = atoi(arg);
		if (v < 1 || v > 256)
			return -EINVAL;
		o->build.jobs = v;
		return 0;
	case OPT_PLATFORM:
		return cv_platform_parse(arg, &o->platform);
	case OPT_PREFETCH_LIST:
		if (o->build.profile) {
			nydusfs_err("--prefetch-list given twice: merge the profiles into one file");
			return -EINVAL;
		}
		if (nydusfs_profile_read(arg, &o->profile))
			return -EINVAL;
		o->build.profile = &o->profile;
		return 0;
	}
	return parse_registry_opt(o, opt, arg);
}

/* "USER:PASS" into the registry options (kept in o->creds_copy). */
static int set_creds(struct convert_opts *o, int i, const char *creds,
		     struct nydusfs_registry_opts *r)
{
	char *colon;

	if (!creds)
		return 0;
	o->creds_copy[i] = strdup(creds);
	if (!o->creds_copy[i])
		return -ENOMEM;
	colon = strchr(o->creds_copy[i], ':');
	if (!colon || colon == o->creds_copy[i]) {
		nydusfs_err("credentials must be USER:PASS");
		return -EINVAL;
	}
	*colon = '\0';
	r->user = o->creds_copy[i];
	r->pass = colon + 1;
	return 0;
}

/* A side's options: its own if given, else the general ones. */
static int merge_side(struct convert_opts *o, int i, const struct side_opts *s,
		      struct nydusfs_registry_opts *r)
{
	int tls = s->tls_verify >= 0 ? s->tls_verify : o->all.tls_verify;

	r->tls_verify = tls != 0;
	r->cert_dir = s->cert_dir ? s->cert_dir : o->all.cert_dir;
	r->ca_file = s->ca_file ? s->ca_file : o->all.ca_file;
	r->auth_file = o->authfile;
	r->retries = o->retries;
	r->upload_chunk = o->upload_chunk;
	return set_creds(o, i, s->creds ? s->creds : o->all.creds, r);
}

static const char *opt_name(int opt)
{
	static char buf[64];
	size_t i;

	for (i = 0; longopts[i].name; i++)
		if (longopts[i].val == opt)
			break;
	snprintf(buf, sizeof(buf), "--%s", longopts[i].name ?
		 longopts[i].name : "?");
	return buf;
}

static int parse_convert_args(int argc, char **argv, struct convert_opts *o)
{
	int opt, err;

	while ((opt = getopt_long(argc, argv, "c:z:l:p:d:j:vh", longopts,
				  NULL)) != -1) {
		if (opt == 'v') {
			nydusfs_log_level++;
			continue;
		}
		if (opt == 'h') {
			convert_usage(stdout);
			exit(NYDUSFS_EXIT_OK);
		}
		if (opt == '?')
			return -EINVAL;
		err = parse_image_opt(o, opt, optarg);
		if (err) {
			nydusfs_err("bad value '%s' for %s", optarg ?: "",
				    opt_name(opt));
			return err;
		}
	}
	if (argc - optind != 2) {
		nydusfs_err("need SRC and DST");
		return -EINVAL;
	}
	err = merge_side(o, 0, &o->src, &o->src_reg);
	if (!err)
		err = merge_side(o, 1, &o->dst, &o->dst_reg);
	return err;
}

/* ---- work directory ---- */

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static int make_work(struct convert *cv)
{
	const char *dir = cv->o->tmpdir;

	if (!dir)
		dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/var/tmp";
	if (asprintf(&cv->work, "%s/nydusfs-convert.XXXXXX", dir) < 0) {
		cv->work = NULL;
		return -ENOMEM;
	}
	if (!mkdtemp(cv->work)) {
		nydusfs_err("cannot make a work directory in %s: %s", dir,
			    strerror(errno));
		free(cv->work);
		cv->work = NULL;
		return -errno;
	}
	if (asprintf(&cv->outdir, "%s/out", cv->work) < 0 ||
	    asprintf(&cv->dict_boot, "%s/dict.boot", cv->work) < 0 ||
	    asprintf(&cv->boot_layer, "%s/bootstrap.tar.gz", cv->work) < 0)
		return -ENOMEM;
	return 0;
}

/* ---- pull and apply the source ---- */

static int apply_layer(struct convert *cv, size_t i)
{
	const struct cv_desc *d = &cv->img.layers[i];
	char *path;
	bool tmp;
	int err;

	if (!cv_is_tar_layer(d->media_type)) {
		nydusfs_err("%s: layer %zu (%s): unsupported media type '%s'",
			    cv->src->label, i, d->digest,
			    d->media_type ? d->media_type : "(none)");
		return -EOPNOTSUPP;
	}
	err = cv_store_get_blob(cv->src, d, cv->work, &path, &tmp);
	if (err) {
		nydusfs_err("%s: layer %zu (%s): %s", cv->src->label, i,
			    d->digest, strerror(-err));
		return err;
	}
	err = cv_check_diff_id(&cv->img, i, path);
	if (!err)
		err = nydusfs_source_tar(cv->tree, path);
	if (err)
		nydusfs_err("%s: layer %zu (%s): %s", cv->src->label, i,
			    d->digest, strerror(-err));
	else
		nydusfs_info("%s: layer %zu applied: %s (%llu bytes)",
			     cv->src->label, i, d->digest,
			     (unsigned long long)d->size);
	if (tmp)
		unlink(path);
	free(path);
	return err;
}

static int pull_source(struct convert *cv)
{
	size_t i;
	int err;

	err = cv_image_resolve(cv->src, &cv->o->platform, &cv->img);
	if (err)
		return err;
	if (cv_is_nydus_image(&cv->img)) {
		nydusfs_err("%s is already a nydus image: convert the original",
			    cv->src->label);
		return -EINVAL;
	}
	cv->tree = nydusfs_tree_new();
	if (!cv->tree)
		return -ENOMEM;
	for (i = 0; !err && i < cv->img.layer_count; i++)
		err = apply_layer(cv, i);
	return err;
}

/* ---- prefetch patterns ---- */

struct walk_frame {
	struct nydusfs_node *dir;
	uint32_t next;
	size_t len;			/* of its path */
};

static int prefetch_add(struct nydusfs_build_opts *b, const char *path)
{
	char **list = realloc(b->prefetch, (b->prefetch_count + 1) *
			      sizeof(*list));

	if (!list)
		return -ENOMEM;
	b->prefetch = list;
	list[b->prefetch_count] = strdup(path);
	if (!list[b->prefetch_count])
		return -ENOMEM;
	b->prefetch_count++;
	return 0;
}

/* Could something below directory @path ("/a/b") match @pat? */
static bool may_match_below(const char *pat, const char *path, size_t len)
{
	size_t lit = strcspn(pat, "*?[\\"), n = len < lit ? len : lit;

	return !strncmp(pat, path, n) && (len >= lit || pat[len] == '/');
}

static int walk_pattern(struct nydusfs_tree *tree, const char *pat,
			struct nydusfs_build_opts *b, unsigned int *found)
{
	struct walk_frame *st = NULL, *f;
	size_t depth = 0, cap = 0, plen;
	struct nydusfs_dentry *d;
	char *path = NULL, *np;
	int err = 0;

	if (!fnmatch(pat, "/", 0)) {
		(*found)++;
		return prefetch_add(b, "/");
	}
	st = malloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	st[depth++] = (struct walk_frame){ tree->root, 0, 0 };
	cap = 1;
	while (!err && depth) {
		f = &st[depth - 1];
		if (f->next >= f->dir->child_count) {
			depth--;
			continue;
		}
		d = &f->dir->children[f->next++];
		plen = f->len + 1 + strlen(d->name);
		np = realloc(path, plen + 1);
		if (!np) {
			err = -ENOMEM;
			break;
		}
		path = np;
		sprintf(path + f->len, "/%s", d->name);
		if (!fnmatch(pat, path, 0)) {
			(*found)++;
			err = prefetch_add(b, path);
		} else if (S_ISDIR(d->node->mode) &&
			   may_match_below(pat, path, plen)) {
			if (depth == cap) {
				f = realloc(st, 2 * cap * sizeof(*st));
				if (!f) {
					err = -ENOMEM;
					break;
				}
				st = f;
				cap *= 2;
			}
			st[depth++] = (struct walk_frame){ d->node, 0, plen };
		}
	}
	free(path);
	free(st);
	return err;
}

static int resolve_prefetch(struct convert *cv)
{
	struct convert_opts *o = cv->o;
	unsigned int i, found;
	int err;

	for (i = 0; i < o->pattern_count; i++) {
		found = 0;
		err = walk_pattern(cv->tree, o->patterns[i], &o->build, &found);
		if (err)
			return err;
		if (!found)
			nydusfs_warn("prefetch pattern '%s' matches nothing",
				     o->patterns[i]);
		else
			nydusfs_info("prefetch pattern '%s': %u paths",
				     o->patterns[i], found);
	}
	return 0;
}

/* ---- the chunk dictionary ---- */

/* The registry options of the side on the same host, else the dest's. */
static const struct nydusfs_registry_opts *dict_opts(struct convert *cv)
{
	const char *host = cv_store_host(cv->src);
	struct nydusfs_oci_ref ref;
	const char *why;
	bool src = false;

	if (!nydusfs_oci_ref_parse(cv->o->chunk_dict, &ref, &why)) {
		src = ref.host && host && !strcmp(ref.host, host) &&
		      !(cv_store_host(cv->dst) &&
			!strcmp(cv_store_host(cv->dst), ref.host));
		nydusfs_oci_ref_free(&ref);
	}
	return src ? &cv->o->src_reg : &cv->o->dst_reg;
}

static int fetch_chunk_dict(struct convert *cv)
{
	const struct cv_desc *d;
	const char *want;
	char *path;
	bool tmp;
	int err;

	err = cv_store_open(cv->o->chunk_dict, dict_opts(cv), false, &cv->dict);
	if (!err)
		err = cv_image_resolve(cv->dict, &cv->o->platform,
				       &cv->dict_img);
	if (err)
		return err;
	if (cv_find_bootstrap(&cv->dict_img, &d, &want)) {
		nydusfs_err("chunk dictionary %s: not a nydusfs image (no layer "
			    "annotated %s)", cv->dict->label,
			    ANN_NYDUS_BOOTSTRAP);
		return -EINVAL;
	}
	err = cv_store_get_blob(cv->dict, d, cv->work, &path, &tmp);
	if (!err)
		err = cv_extract_bootstrap(path, cv->dict_boot, want);
	if (!err) {
		cv->o->build.chunk_dict = cv->dict_boot;
		nydusfs_info("chunk dictionary %s: bootstrap %s",
			     cv->dict->label, want ? want : "(no digest)");
	} else {
		nydusfs_err("chunk dictionary %s: %s", cv->dict->label,
			    strerror(-err));
	}
	if (tmp)
		unlink(path);
	free(path);
	return err;
}

/* ---- the new image ---- */

/* Each blob of the bootstrap's blob table becomes a layer, in order. */
static int collect_blobs(struct convert *cv, struct nydusfs_image *img)
{
	const struct nydusfs_blob *b;
	char hex[2 * NYDUSFS_DIGEST_SIZE + 1];
	struct cv_new_layer *l;
	uint32_t i;
	int err = 0;

	cv->layers = calloc(img->blob_count + 1, sizeof(*cv->layers));
	cv->paths = calloc(img->blob_count + 1, sizeof(*cv->paths));
	if (!cv->layers || !cv->paths)
		return -ENOMEM;
	for (i = 0; !err && i < img->blob_count; i++) {
		err = nydusfs_image_blob(img, i, &b);
		if (err)
			break;
		l = &cv->layers[i];
		nydusfs_digest_to_hex(b->digest, hex);
		snprintf(l->digest, sizeof(l->digest), "sha256:%s", hex);
		memcpy(l->diff_id, l->digest, sizeof(l->diff_id));
		l->size = le64_to_cpu(b->compressed_size);
		err = nydusfs_image_profile_prefix(img, i, &l->startup_bytes);
		if (err)
			break;
		if (asprintf(&cv->paths[i], "%s/blobs/%s", cv->outdir, hex) < 0)
			err = -ENOMEM;
		else if (access(cv->paths[i], F_OK)) {
			free(cv->paths[i]);	/* a dictionary blob */
			cv->paths[i] = NULL;
		}
		cv->layer_count++;
	}
	return err;
}

static int build_image(struct convert *cv)
{
	struct nydusfs_image *img;
	char *boot;
	int err;

	cv->o->build.outdir = cv->outdir;
	err = nydusfs_build(cv->tree, &cv->o->build);
	if (err) {
		nydusfs_err("build: %s", strerror(-err));
		return err;
	}
	if (asprintf(&boot, "%s/bootstrap", cv->outdir) < 0)
		return -ENOMEM;
	err = nydusfs_image_open(boot, &img);
	if (!err) {
		err = collect_blobs(cv, img);
		nydusfs_image_close(img);
	}
	if (!err)
		err = cv_write_bootstrap_layer(boot, cv->boot_layer, &cv->boot);
	free(boot);
	if (err)
		return err;
	cv->layers[cv->layer_count] = (struct cv_new_layer){
		.size = cv->boot.size, .bootstrap = true,
		.bootstrap_digest = cv->boot.bootstrap_digest,
	};
	memcpy(cv->layers[cv->layer_count].digest, cv->boot.digest,
	       sizeof(cv->boot.digest));
	memcpy(cv->layers[cv->layer_count].diff_id, cv->boot.diff_id,
	       sizeof(cv->boot.diff_id));
	cv->paths[cv->layer_count++] = strdup(cv->boot_layer);
	nydusfs_info("built: %zu blobs, bootstrap %s", cv->layer_count - 1,
		     cv->boot.bootstrap_digest);
	return cv->paths[cv->layer_count - 1] ? 0 : -ENOMEM;
}

/* ---- push ---- */

/* The layer of the dictionary image that is blob @digest. */
static const struct cv_desc *dict_layer(struct convert *cv,
					const char *digest)
{
	size_t i;

	for (i = 0; cv->dict && i < cv->dict_img.layer_count; i++)
		if (!strcmp(cv->dict_img.layers[i].digest, digest))
			return &cv->dict_img.layers[i];
	return NULL;
}

/* A blob of the dictionary: there already, mounted, or copied over. */
static int push_dict_blob(struct convert *cv, const struct cv_new_layer *l)
{
	const struct cv_desc *d = dict_layer(cv, l->digest);
	const char *from = NULL;
	char *path = NULL;
	bool tmp = false;
	int err;

	if (!d) {
		nydusfs_err("blob %s is in the chunk dictionary's bootstrap but "
			    "not among %s's layers", l->digest, cv->dict ?
			    cv->dict->label : "the dictionary");
		return -ENOENT;
	}
	if (cv_store_host(cv->dst) && cv_store_host(cv->dict) &&
	    !strcmp(cv_store_host(cv->dst), cv_store_host(cv->dict)))
		from = cv->dict->ref.repo;
	err = cv_store_push_blob(cv->dst, l->digest, NULL, l->size, from);
	if (err != -ENOENT)
		return err;
	err = cv_store_get_blob(cv->dict, d, cv->work, &path, &tmp);
	if (!err)
		err = cv_store_push_blob(cv->dst, l->digest, path, l->size,
					 NULL);
	if (tmp)
		unlink(path);
	free(path);
	return err;
}

static int write_small_file(const char *path, const char *buf, size_t len)
{
	FILE *f = fopen(path, "we");
	int err = 0;

	if (!f)
		return -errno;
	if (fwrite(buf, 1, len, f) != len)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

static int push_image(struct convert *cv, char digest[NYDUSFS_OCI_DIGEST_LEN])
{
	char *config = NULL, *manifest = NULL;
	char cdigest[NYDUSFS_OCI_DIGEST_LEN], *cpath = NULL;
	size_t clen, mlen, i;
	int err = 0;

	for (i = 0; !err && i < cv->layer_count; i++) {
		if (cv->paths[i])
			err = cv_store_push_blob(cv->dst, cv->layers[i].digest,
						 cv->paths[i],
						 cv->layers[i].size, NULL);
		else
			err = push_dict_blob(cv, &cv->layers[i]);
	}
	if (!err)
		err = cv_make_config(&cv->img, cv->layers, cv->layer_count,
				     &config, &clen);
	if (!err)
		err = nydusfs_oci_digest(config, clen, cdigest);
	if (!err && asprintf(&cpath, "%s/config.json", cv->work) < 0)
		err = -ENOMEM;
	if (!err)
		err = write_small_file(cpath, config, clen);
	if (!err)
		err = cv_store_push_blob(cv->dst, cdigest, cpath, clen, NULL);
	if (!err)
		err = cv_make_manifest(&cv->img, cdigest, clen, cv->layers,
				       cv->layer_count, &manifest, &mlen);
	/* last: nothing names the blobs until they are all there */
	if (!err)
		err = cv_store_put_manifest(cv->dst, cv->dst->ref.tag ?
					    cv->dst->ref.tag : "latest",
					    manifest, mlen,
					    NYDUSFS_MT_OCI_MANIFEST, digest);
	free(config);
	free(cpath);
	free(manifest);
	return err;
}

/* ---- the command ---- */

static int open_stores(struct convert *cv)
{
	int err;

	err = cv_store_open(cv->src_ref, &cv->o->src_reg, false, &cv->src);
	if (!err)
		err = cv_store_open(cv->dst_ref, &cv->o->dst_reg, true, &cv->dst);
	if (!err && cv->dst->ref.digest) {
		nydusfs_err("destination %s: name a tag, not a digest",
			    cv->dst_ref);
		err = -EINVAL;
	}
	return err;
}

static int run_convert(struct convert *cv)
{
	char digest[NYDUSFS_OCI_DIGEST_LEN];
	int err;

	err = open_stores(cv);
	if (!err)
		err = make_work(cv);
	if (!err)
		err = pull_source(cv);
	if (!err && cv->o->chunk_dict)
		err = fetch_chunk_dict(cv);
	if (!err)
		err = resolve_prefetch(cv);
	if (!err)
		err = build_image(cv);
	if (!err)
		err = push_image(cv, digest);
	if (cv->src)
		cv_store_report(cv->src, "source");
	if (cv->dict)
		cv_store_report(cv->dict, "chunk dictionary");
	if (cv->dst)
		cv_store_report(cv->dst, "destination");
	if (!err)
		printf("%s\n", digest);
	return err;
}

static void convert_free(struct convert *cv)
{
	size_t i;

	if (cv->work && !getenv("NYDUSFS_KEEP_WORK"))
		nftw(cv->work, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	for (i = 0; cv->paths && i < cv->layer_count; i++)
		free(cv->paths[i]);
	free(cv->paths);
	free(cv->layers);
	if (cv->tree)
		nydusfs_tree_free(cv->tree);
	cv_image_free(&cv->img);
	cv_image_free(&cv->dict_img);
	cv_store_close(cv->src);
	cv_store_close(cv->dst);
	cv_store_close(cv->dict);
	free(cv->work);
	free(cv->outdir);
	free(cv->dict_boot);
	free(cv->boot_layer);
}

static void opts_free(struct convert_opts *o)
{
	unsigned int i;

	for (i = 0; i < o->build.prefetch_count; i++)
		free(o->build.prefetch[i]);
	free(o->build.prefetch);
	for (i = 0; i < o->pattern_count; i++)
		free(o->patterns[i]);
	free(o->patterns);
	nydusfs_profile_free(&o->profile);
	free(o->creds_copy[0]);
	free(o->creds_copy[1]);
}

int cmd_convert(int argc, char **argv)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct convert_opts o = {
		.build = {
			.chunkszbits = NYDUSFS_DEFAULT_CHUNKSZBITS,
			.compressor = NYDUSFS_COMPR_ZSTD,
			.jobs = cpus > 0 ? cpus : 1,
		},
		.all = { .tls_verify = 1 },
		.src = { .tls_verify = -1 },
		.dst = { .tls_verify = -1 },
		.retries = 4,
	};
	struct convert cv = { .o = &o };
	int err, status = NYDUSFS_EXIT_FAILURE;

	cv_platform_host(&o.platform);
	if (parse_convert_args(argc, argv, &o)) {
		convert_usage(stderr);
		opts_free(&o);
		return NYDUSFS_EXIT_USAGE;
	}
	cv.src_ref = argv[optind];
	cv.dst_ref = argv[optind + 1];
	err = run_convert(&cv);
	if (!err)
		status = NYDUSFS_EXIT_OK;
	else
		nydusfs_err("convert %s to %s failed: %s", cv.src_ref,
			    cv.dst_ref, cv_strerror(err));
	convert_free(&cv);
	opts_free(&o);
	return status;
}
