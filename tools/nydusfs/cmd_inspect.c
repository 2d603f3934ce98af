// SPDX-License-Identifier: GPL-2.0
/* nydusfs inspect: superblock, regions, blobs, statistics, prefetch, tree. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmds.h"
#include "nydusfs/check.h"
#include "nydusfs/err.h"
#include "nydusfs/image.h"
#include "nydusfs/log.h"
#include "nydusfs/walk.h"

#define HEX_LEN	(2 * NYDUSFS_DIGEST_SIZE + 1)

static void inspect_usage(FILE *out)
{
	fprintf(out,
"usage: nydusfs inspect [OPTIONS] BOOTSTRAP\n"
"\n"
"Show the superblock, features, regions, blob table, statistics and the\n"
"prefetch list of BOOTSTRAP.  The metadata is checked first (as\n"
"'nydusfs check' without blobs); a damaged image is refused unless --force.\n"
"\n"
"Statistics count each inode once: files, dirs, symlinks, devices, fifos,\n"
"sockets; hardlinks = non-directories with nlink > 1; xattrs; chunk slots\n"
"and holes of regular files; unique chunks referenced; logical bytes (sum\n"
"of file sizes); stored bytes (uncompressed and compressed) of the unique\n"
"chunks referenced; dedup ratio = non-hole file bytes / stored bytes.\n"
"\n"
"options:\n"
"  -j, --json     one JSON object instead of text\n"
"  -t, --tree     also list every path: mode, uid:gid, size, nid\n"
"  -f, --force    show what can be read even if the check finds problems\n"
"  -h, --help     show this text\n");
}

struct inspect_stats {
	uint64_t files, dirs, symlinks, hardlinks, devices, fifos, sockets;
	uint64_t xattrs, chunk_slots, holes, unique_chunks, logical_bytes;
	uint64_t data_bytes, stored_uncompressed, stored_compressed;
};

struct inspect {
	const struct nydusfs_image *img;
	bool json, tree, force;
	struct inspect_stats st;
	uint8_t *chunk_seen;	/* per chunk-table entry */
	int64_t *prefetch_of;	/* per nid: its first prefetch entry, or -1 */
	char **prefetch_paths;	/* per prefetch entry: the nid's first path */
	json_t *jtree;
};

/* ---- statistics ---------------------------------------------------------- */

static int stat_file(struct inspect *in, uint32_t nid,
		     const struct nydusfs_inode *di)
{
	const struct nydusfs_chunk *ck;
	uint64_t slot, count = le32_to_cpu(di->data_count), g;
	uint32_t blob;
	int err;

	in->st.logical_bytes += le64_to_cpu(di->size);
	in->st.chunk_slots += count;
	for (slot = 0; slot < count; slot++) {
		err = nydusfs_image_file_chunk(in->img, nid, slot, &blob, &ck);
		if (err)
			return err;
		if (!ck) {
			in->st.holes++;
			continue;
		}
		in->st.data_bytes += le32_to_cpu(ck->uncompressed_size);
		g = ck - in->img->chunks;
		if (in->chunk_seen[g])
			continue;
		in->chunk_seen[g] = 1;
		in->st.unique_chunks++;
		in->st.stored_uncompressed += le32_to_cpu(ck->uncompressed_size);
		in->st.stored_compressed += le32_to_cpu(ck->compressed_size);
	}
	return 0;
}

static int stat_inode(struct inspect *in, uint32_t nid)
{
	const struct nydusfs_inode *di;
	unsigned int mode;
	int err;

	err = nydusfs_image_inode(in->img, nid, &di);
	if (err)
		return err;
	mode = le16_to_cpu(di->mode);
	in->st.xattrs += le32_to_cpu(di->xattr_count);
	if (!S_ISDIR(mode) && le32_to_cpu(di->nlink) > 1)
		in->st.hardlinks++;
	switch (mode & S_IFMT) {
	case S_IFREG:
		in->st.files++;
		return stat_file(in, nid, di);
	case S_IFDIR:
		in->st.dirs++;
		break;
	case S_IFLNK:
		in->st.symlinks++;
		break;
	case S_IFCHR:
	case S_IFBLK:
		in->st.devices++;
		break;
	case S_IFIFO:
		in->st.fifos++;
		break;
	case S_IFSOCK:
		in->st.sockets++;
		break;
	}
	return 0;
}

static int gather_stats(struct inspect *in)
{
	uint32_t nid;
	int err;

	in->chunk_seen = calloc(in->img->chunk_count + 1, 1);
	if (!in->chunk_seen)
		return -ENOMEM;
	for (nid = 0; nid < in->img->inode_count; nid++) {
		err = stat_inode(in, nid);
		if (err)
			return err;
	}
	return 0;
}

/* ---- the walk: prefetch paths and the tree ------------------------------- */

static json_t *json_name(const char *s, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	json_t *j = json_stringn(s, len);
	char *esc;
	size_t i, o = 0;

	if (j)
		return j;
	/* Not UTF-8: spell the bytes above 0x7f as \xNN text. */
	esc = malloc(len * 4 + 1);
	if (!esc)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c < 0x80) {
			esc[o++] = c;
			continue;
		}
		esc[o++] = '\\';
		esc[o++] = 'x';
		esc[o++] = digits[c >> 4];
		esc[o++] = digits[c & 15];
	}
	j = json_stringn(esc, o);
	free(esc);
	return j;
}

/* Paths as text: control bytes and backslash as \xNN, one per line. */
static void print_path(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c < 0x20 || c == 0x7f || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static void mode_string(unsigned int mode, char out[11])
{
	static const char types[] = "?pc?d?b?-?l?s???";
	static const char rwx[] = "rwxrwxrwx";
	int i;

	out[0] = types[(mode & S_IFMT) >> 12];
	for (i = 0; i < 9; i++)
		out[i + 1] = mode & (0400 >> i) ? rwx[i] : '-';
	if (mode & S_ISUID)
		out[3] = mode & S_IXUSR ? 's' : 'S';
	if (mode & S_ISGID)
		out[6] = mode & S_IXGRP ? 's' : 'S';
	if (mode & S_ISVTX)
		out[9] = mode & S_IXOTH ? 't' : 'T';
	out[10] = '\0';
}

static int tree_entry(struct inspect *in, const struct nydusfs_walk_entry *e)
{
	const struct nydusfs_inode *di = e->inode;
	unsigned int mode = le16_to_cpu(di->mode);
	json_t *j;
	char ms[11];

	if (!in->json) {
		mode_string(mode, ms);
		printf("%s %u:%u %llu %u ", ms, le32_to_cpu(di->uid),
		       le32_to_cpu(di->gid),
		       (unsigned long long)le64_to_cpu(di->size), e->nid);
		print_path(e->path, e->path_len);
		putchar('\n');
		return 0;
	}
	j = json_pack("{s:o?,s:I,s:I,s:I,s:I,s:I,s:I}",
		      "path", json_name(e->path, e->path_len),
		      "nid", (json_int_t)e->nid, "mode", (json_int_t)mode,
		      "uid", (json_int_t)le32_to_cpu(di->uid),
		      "gid", (json_int_t)le32_to_cpu(di->gid),
		      "size", (json_int_t)le64_to_cpu(di->size),
		      "nlink", (json_int_t)le32_to_cpu(di->nlink));
	if (!j || json_array_append_new(in->jtree, j))
		return -ENOMEM;
	return 0;
}

static int prefetch_enter(void *arg, const struct nydusfs_walk_entry *e)
{
	struct inspect *in = arg;
	int64_t i = in->prefetch_of[e->nid];

	if (!e->first || i < 0)
		return 0;
	in->prefetch_paths[i] = strndup(e->path, e->path_len);
	return in->prefetch_paths[i] ? 0 : -ENOMEM;
}

/* The first path of each prefetch nid. */
static int walk_prefetch(struct inspect *in)
{
	static const struct nydusfs_walk_ops ops = { .enter = prefetch_enter };
	const struct nydusfs_image *img = in->img;
	uint64_t i;
	uint32_t nid;

	in->prefetch_paths = calloc(img->prefetch_count + 1, sizeof(char *));
	in->prefetch_of = malloc(img->inode_count * sizeof(int64_t));
	if (!in->prefetch_paths || !in->prefetch_of)
		return -ENOMEM;
	for (nid = 0; nid < img->inode_count; nid++)
		in->prefetch_of[nid] = -1;
	for (i = 0; i < img->prefetch_count; i++) {
		nid = le32_to_cpu(img->prefetch[i]);
		if (nid < img->inode_count && in->prefetch_of[nid] < 0)
			in->prefetch_of[nid] = i;
	}
	if (!img->prefetch_count)
		return 0;
	return nydusfs_image_walk(img, &ops, in);
}

static const char *prefetch_path(const struct inspect *in, uint64_t i)
{
	uint32_t nid = le32_to_cpu(in->img->prefetch[i]);

	if (nid >= in->img->inode_count || in->prefetch_of[nid] < 0)
		return NULL;
	return in->prefetch_paths[in->prefetch_of[nid]];
}

static int tree_enter(void *arg, const struct nydusfs_walk_entry *e)
{
	return tree_entry(arg, e);
}

static int walk_tree(struct inspect *in)
{
	static const struct nydusfs_walk_ops ops = { .enter = tree_enter };

	if (in->json) {
		in->jtree = json_array();
		if (!in->jtree)
			return -ENOMEM;
	} else {
		printf("tree:\n");
	}
	return nydusfs_image_walk(in->img, &ops, in);
}

/* ---- text output ------------------------------------------------------- */

static void print_features(const struct nydusfs_super_block *sb)
{
	uint32_t compat = le32_to_cpu(sb->feature_compat);
	uint32_t incompat = le32_to_cpu(sb->feature_incompat);

	printf("  feature_compat    0x%x%s%s%s\n", compat,
	       compat & NYDUSFS_FEATURE_COMPAT_PREFETCH ? " prefetch" : "",
	       compat & NYDUSFS_FEATURE_COMPAT_CHUNK_DICT ? " chunk-dict" : "",
	       compat & NYDUSFS_FEATURE_COMPAT_PREFETCH_RANGES ?
	       " prefetch-ranges" : "");
	printf("  feature_incompat  0x%x%s%s\n", incompat,
	       incompat & NYDUSFS_FEATURE_INCOMPAT_LZ4 ? " lz4" : "",
	       incompat & NYDUSFS_FEATURE_INCOMPAT_ZSTD ? " zstd" : "");
}

static void print_super(const struct nydusfs_image *img)
{
	const struct nydusfs_super_block *sb = img->sb;
	char hex[HEX_LEN];
	unsigned int i;

	nydusfs_digest_to_hex(sb->root_digest, hex);
	printf("superblock:\n");
	printf("  magic             0x%08x\n", le32_to_cpu(sb->magic));
	printf("  checksum          0x%08x\n", le32_to_cpu(sb->checksum));
	printf("  version           %u.%u\n", le16_to_cpu(sb->version_major),
	       le16_to_cpu(sb->version_minor));
	printf("  block size        %u\n", 1U << sb->blkszbits);
	printf("  chunk size        %u\n", img->chunk_size);
	printf("  inodes            %u\n", img->inode_count);
	printf("  root nid          %u\n", le32_to_cpu(sb->root_nid));
	printf("  bootstrap size    %zu\n", img->size);
	printf("  root digest       %s\n", hex);
	print_features(sb);
	printf("regions:\n  %-11s %12s %12s %10s\n", "name", "offset", "size",
	       "entries");
	for (i = 0; i < NYDUSFS_REGION_COUNT; i++)
		printf("  %-11s %12llu %12llu %10llu\n", nydusfs_region_names[i],
		       (unsigned long long)le64_to_cpu(sb->regions[i].offset),
		       (unsigned long long)le64_to_cpu(sb->regions[i].size),
		       (unsigned long long)(le64_to_cpu(sb->regions[i].size) /
					    nydusfs_region_entry_size[i]));
	if (img->pranges)
		printf("  %-11s %12llu %12llu %10llu\n", "pf-ranges",
		       (unsigned long long)le64_to_cpu(sb->prefetch_ranges.offset),
		       (unsigned long long)le64_to_cpu(sb->prefetch_ranges.size),
		       (unsigned long long)img->prange_count);
}

static void print_blobs(const struct nydusfs_image *img)
{
	const struct nydusfs_blob *b;
	char hex[HEX_LEN];
	uint32_t i;

	printf("blobs: %u\n", img->blob_count);
	for (i = 0; i < img->blob_count; i++) {
		b = &img->blobs[i];
		nydusfs_digest_to_hex(b->digest, hex);
		printf("  %u %s compressed %llu uncompressed %llu chunks %u\n",
		       i, hex,
		       (unsigned long long)le64_to_cpu(b->compressed_size),
		       (unsigned long long)le64_to_cpu(b->uncompressed_size),
		       le32_to_cpu(b->chunk_count));
	}
}

static double dedup_ratio(const struct inspect_stats *s)
{
	return s->stored_uncompressed ?
	       (double)s->data_bytes / s->stored_uncompressed : 1.0;
}

static void print_stats(const struct inspect_stats *s)
{
	printf("statistics:\n");
	printf("  files %llu, dirs %llu, symlinks %llu, hardlinks %llu\n",
	       (unsigned long long)s->files, (unsigned long long)s->dirs,
	       (unsigned long long)s->symlinks,
	       (unsigned long long)s->hardlinks);
	printf("  devices %llu, fifos %llu, sockets %llu, xattrs %llu\n",
	       (unsigned long long)s->devices, (unsigned long long)s->fifos,
	       (unsigned long long)s->sockets, (unsigned long long)s->xattrs);
	printf("  chunk slots %llu, holes %llu, unique chunks %llu\n",
	       (unsigned long long)s->chunk_slots,
	       (unsigned long long)s->holes,
	       (unsigned long long)s->unique_chunks);
	printf("  logical bytes %llu (%llu not in holes)\n",
	       (unsigned long long)s->logical_bytes,
	       (unsigned long long)s->data_bytes);
	printf("  stored bytes %llu uncompressed, %llu compressed\n",
	       (unsigned long long)s->stored_uncompressed,
	       (unsigned long long)s->stored_compressed);
	printf("  dedup ratio %.3f\n", dedup_ratio(s));
}

static void print_prefetch(const struct inspect *in)
{
	uint64_t i;
	printf("prefetch: %llu\n", (unsigned long long)in->img->prefetch_count);
	const char *p;

	for (i = 0; i < in->img->prefetch_count; i++) {
		printf("  ");
		p = prefetch_path(in, i);
		if (p)
			print_path(p, strlen(p));
		else
			printf("(nid %u, not reachable)",
			       le32_to_cpu(in->img->prefetch[i]));
		putchar('\n');
	}
}

/* The chunk ranges fetched first at mount, with their compressed bytes. */
static uint64_t prange_bytes(const struct nydusfs_image *img, uint64_t i)
{
	const struct nydusfs_chunk *first, *last;
	uint32_t blob, chunk, count;

	if (nydusfs_image_prefetch_range(img, i, &blob, &chunk, &count) ||
	    nydusfs_image_chunk(img, blob, chunk, &first) ||
	    nydusfs_image_chunk(img, blob, chunk + count - 1, &last))
		return 0;
	return le64_to_cpu(last->compressed_offset) +
	       le32_to_cpu(last->compressed_size) -
	       le64_to_cpu(first->compressed_offset);
}

static void print_pranges(const struct nydusfs_image *img)
{
	const struct nydusfs_prefetch_range *r;
	uint64_t i;

	if (!img->pranges)
		return;
	printf("prefetch ranges: %llu\n", (unsigned long long)img->prange_count);
	for (i = 0; i < img->prange_count; i++) {
		r = &img->pranges[i];
		printf("  blob %u chunks %u..%u (%u chunks, %llu bytes in the blob)\n",
		       le32_to_cpu(r->blob), le32_to_cpu(r->chunk),
		       le32_to_cpu(r->chunk) + le32_to_cpu(r->count) - 1,
		       le32_to_cpu(r->count),
		       (unsigned long long)prange_bytes(img, i));
	}
}

/* ---- JSON output --------------------------------------------------------- */

static json_t *json_super(const struct nydusfs_image *img)
{
	const struct nydusfs_super_block *sb = img->sb;
	char hex[HEX_LEN], version[16];

	nydusfs_digest_to_hex(sb->root_digest, hex);
	snprintf(version, sizeof(version), "%u.%u",
		 le16_to_cpu(sb->version_major), le16_to_cpu(sb->version_minor));
	return json_pack("{s:s,s:I,s:I,s:I,s:I,s:s,s:I,s:I,s:I}",
			 "version", version,
			 "block_size", (json_int_t)1 << sb->blkszbits,
			 "chunk_size", (json_int_t)img->chunk_size,
			 "inode_count", (json_int_t)img->inode_count,
			 "root_nid", (json_int_t)le32_to_cpu(sb->root_nid),
			 "root_digest", hex,
			 "bootstrap_size", (json_int_t)img->size,
			 "feature_compat",
			 (json_int_t)le32_to_cpu(sb->feature_compat),
			 "feature_incompat",
			 (json_int_t)le32_to_cpu(sb->feature_incompat));
}

static json_t *json_regions(const struct nydusfs_image *img)
{
	json_t *arr = json_array();
	const struct nydusfs_region *r;
	unsigned int i;

	for (i = 0; arr && i < NYDUSFS_REGION_COUNT; i++) {
		r = &img->sb->regions[i];
		if (json_array_append_new(arr, json_pack("{s:s,s:I,s:I}",
				"name", nydusfs_region_names[i],
				"offset", (json_int_t)le64_to_cpu(r->offset),
				"size", (json_int_t)le64_to_cpu(r->size)))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *json_blobs(const struct nydusfs_image *img)
{
	json_t *arr = json_array();
	const struct nydusfs_blob *b;
	char hex[HEX_LEN];
	uint32_t i;

	for (i = 0; arr && i < img->blob_count; i++) {
		b = &img->blobs[i];
		nydusfs_digest_to_hex(b->digest, hex);
		if (json_array_append_new(arr, json_pack("{s:s,s:I,s:I,s:I}",
				"digest", hex,
				"compressed_size",
				(json_int_t)le64_to_cpu(b->compressed_size),
				"uncompressed_size",
				(json_int_t)le64_to_cpu(b->uncompressed_size),
				"chunk_count",
				(json_int_t)le32_to_cpu(b->chunk_count)))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *json_stats(const struct inspect_stats *s)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}",
			 "files", (json_int_t)s->files,
			 "dirs", (json_int_t)s->dirs,
			 "symlinks", (json_int_t)s->symlinks,
			 "hardlinks", (json_int_t)s->hardlinks,
			 "devices", (json_int_t)s->devices,
			 "fifos", (json_int_t)s->fifos,
			 "sockets", (json_int_t)s->sockets,
			 "xattrs", (json_int_t)s->xattrs,
			 "chunk_slots", (json_int_t)s->chunk_slots,
			 "holes", (json_int_t)s->holes,
			 "unique_chunks", (json_int_t)s->unique_chunks,
			 "logical_bytes", (json_int_t)s->logical_bytes,
			 "data_bytes", (json_int_t)s->data_bytes,
			 "stored_uncompressed_bytes",
			 (json_int_t)s->stored_uncompressed,
			 "stored_compressed_bytes",
			 (json_int_t)s->stored_compressed,
			 "dedup_ratio", dedup_ratio(s));
}

static json_t *json_prefetch(const struct inspect *in)
{
	json_t *arr = json_array();
	const char *p;
	uint64_t i;

	for (i = 0; arr && i < in->img->prefetch_count; i++) {
		p = prefetch_path(in, i);
		if (json_array_append_new(arr, p ? json_name(p, strlen(p)) :
					  json_null())) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *json_pranges(const struct nydusfs_image *img)
{
	const struct nydusfs_prefetch_range *r;
	json_t *arr = json_array();
	uint64_t i;

	for (i = 0; arr && i < img->prange_count; i++) {
		r = &img->pranges[i];
		if (json_array_append_new(arr, json_pack("{s:I,s:I,s:I,s:I}",
				"blob", (json_int_t)le32_to_cpu(r->blob),
				"chunk", (json_int_t)le32_to_cpu(r->chunk),
				"count", (json_int_t)le32_to_cpu(r->count),
				"bytes", (json_int_t)prange_bytes(img, i)))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static int print_json(struct inspect *in)
{
	json_t *root;
	int err;

	root = json_pack("{s:o?,s:o?,s:o?,s:o?,s:o?,s:o?}",
			 "superblock", json_super(in->img),
			 "regions", json_regions(in->img),
			 "blobs", json_blobs(in->img),
			 "stats", json_stats(&in->st),
			 "prefetch", json_prefetch(in),
			 "prefetch_ranges", json_pranges(in->img));
	if (!root)
		return -ENOMEM;
	if (in->jtree) {
		json_object_set_new(root, "tree", in->jtree);
		in->jtree = NULL;
	}
	err = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(root);
	return err ? -EIO : 0;
}

/* ---- command ------------------------------------------------------------ */

static int parse_inspect_args(int argc, char **argv, struct inspect *in,
			      const char **bootstrap)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "tree", no_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "jtfh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			in->json = true;
			break;
		case 't':
			in->tree = true;
			break;
		case 'f':
			in->force = true;
			break;
		case 'h':
			inspect_usage(stdout);
			return NYDUSFS_EXIT_OK;
		default:
			inspect_usage(stderr);
			return NYDUSFS_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "nydusfs inspect: expected one BOOTSTRAP\n");
		inspect_usage(stderr);
		return NYDUSFS_EXIT_USAGE;
	}
	*bootstrap = argv[optind];
	return -1;
}

static int inspect_image(struct inspect *in)
{
	uint64_t problems = 0;
	int err;

	err = nydusfs_check(in->img, NULL, &problems);
	if (err == -EFSCORRUPTED && !in->force) {
		nydusfs_err("%s: %llu problems found; not inspecting a damaged image (--force to try)",
			    in->img->label, (unsigned long long)problems);
		return err;
	}
	if (err && err != -EFSCORRUPTED)
		return err;
	err = gather_stats(in);
	if (err)
		return err;
	err = walk_prefetch(in);
	if (err)
		return err;
	if (in->json) {
		err = in->tree ? walk_tree(in) : 0;
		return err ? err : print_json(in);
	}
	print_super(in->img);
	print_blobs(in->img);
	print_stats(&in->st);
	print_prefetch(in);
	print_pranges(in->img);
	return in->tree ? walk_tree(in) : 0;	/* printed as it goes */
}

int cmd_inspect(int argc, char **argv)
{
	struct inspect in = { 0 };
	struct nydusfs_image *img;
	const char *bootstrap;
	uint64_t i;
	int ret, err;

	ret = parse_inspect_args(argc, argv, &in, &bootstrap);
	if (ret >= 0)
		return ret;
	err = nydusfs_image_open(bootstrap, &img);
	if (err)
		return NYDUSFS_EXIT_FAILURE;
	in.img = img;
	err = inspect_image(&in);
	if (err && err != -EFSCORRUPTED)
		nydusfs_err("%s: %s", bootstrap, strerror(-err));
	fflush(stdout);
	for (i = 0; in.prefetch_paths && i < img->prefetch_count; i++)
		free(in.prefetch_paths[i]);
	free(in.prefetch_paths);
	free(in.prefetch_of);
	free(in.chunk_seen);
	json_decref(in.jtree);
	nydusfs_image_close(img);
	return err ? NYDUSFS_EXIT_FAILURE : NYDUSFS_EXIT_OK;
}
