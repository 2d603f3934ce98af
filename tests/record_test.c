// SPDX-License-Identifier: GPL-2.0
/*
 * record_test: a trace of chunks turned into profile lines (lib/record.c)
 * on an image built from a directory with 4 KiB chunks: each chunk maps to
 * the first file in nid order that uses it (a deduplicated copy never
 * shows), at its offset there, under the first path the walk meets (a
 * hard link's other name never shows); a file's consecutive chunks make
 * one line, a repeated chunk is skipped, a chunk not in the image becomes
 * a comment; a blank in a path is escaped, and the startup profile parser
 * (lib/profile.c) reads back what was written.  One line per case; exit 0
 * if all pass, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "nydusfs/build.h"
#include "nydusfs/format.h"
#include "nydusfs/image.h"
#include "nydusfs/profile.h"
#include "nydusfs/record.h"
#include "nydusfs/tree.h"

static int failures;

#define CHECK(cond, ...) do {						\
	if (cond) {							\
		printf("ok ");						\
	} else {							\
		printf("FAIL ");					\
		failures++;						\
	}								\
	printf(__VA_ARGS__);						\
	printf("\n");							\
} while (0)

static char dir[] = "/tmp/record_test.XXXXXX";

static void write_file(const char *name, size_t size, unsigned int seed)
{
	char path[256];
	uint8_t *buf = malloc(size);
	size_t i;
	FILE *f;

	for (i = 0; i < size; i++)
		buf[i] = (uint8_t)(i * 31 + seed * 7 + i / 4096);
	snprintf(path, sizeof(path), "%s/src/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fwrite(buf, 1, size, f) != size || fclose(f)) {
		perror(path);
		exit(1);
	}
	free(buf);
}

/* src/app (10000 bytes), src/lib/libc.so (9000), src/lib/same (a copy of
 * app: its chunks deduplicated), src/zlink (a hard link to libc.so),
 * "src/my app\\" (3000). */
static struct nydusfs_image *build_image(void)
{
	struct nydusfs_build_opts o = {
		.chunkszbits = 12, .compressor = NYDUSFS_COMPR_NONE, .jobs = 1,
	};
	char src[256], out[256], a[256], b[256];
	struct nydusfs_image *img = NULL;
	struct nydusfs_tree *tree;

	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(a, sizeof(a), "%s/src/lib", dir);
	if (mkdir(src, 0755) || mkdir(a, 0755))
		return NULL;
	write_file("app", 10000, 1);
	write_file("lib/libc.so", 9000, 2);
	write_file("lib/same", 10000, 1);
	write_file("my app\\", 3000, 3);
	snprintf(a, sizeof(a), "%s/src/lib/libc.so", dir);
	snprintf(b, sizeof(b), "%s/src/zlink", dir);
	if (link(a, b))
		return NULL;
	o.outdir = out;
	tree = nydusfs_tree_new();
	if (!tree || nydusfs_source_dir(tree, src) || nydusfs_build(tree, &o))
		return NULL;
	nydusfs_tree_free(tree);
	snprintf(out, sizeof(out), "%s/out/bootstrap", dir);
	if (nydusfs_image_open(out, &img))
		return NULL;
	return img;
}

/* The (blob, chunk) of slot @slot of @path. */
static struct nydusfs_trace_chunk chunk_of(const struct nydusfs_image *img,
					   const char *path, uint32_t slot)
{
	struct nydusfs_trace_chunk t = { UINT32_MAX, UINT32_MAX };
	const struct nydusfs_chunk *c;
	const struct nydusfs_blob *b;
	uint32_t nid = 0, child, blob;
	const char *p = path + 1, *slash;

	while (*p) {
		slash = strchrnul(p, '/');
		if (nydusfs_image_lookup(img, nid, p, slash - p, &child))
			return t;
		nid = child;
		p = *slash ? slash + 1 : slash;
	}
	if (nydusfs_image_file_chunk(img, nid, slot, &blob, &c) || !c ||
	    nydusfs_image_blob(img, blob, &b))
		return t;
	t.blob = blob;
	t.chunk = (c - img->chunks) - le32_to_cpu(b->chunk_index);
	return t;
}

/* The profile of @v as a string (malloc'ed). */
static char *profile(const struct nydusfs_image *img,
		     const struct nydusfs_trace_chunk *v, size_t n,
		     struct nydusfs_record_stats *st, int *ret)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	*ret = nydusfs_record_profile(img, v, n, f, st);
	fclose(f);
	return text;
}

static void test_mapping(const struct nydusfs_image *img)
{
	const struct nydusfs_trace_chunk v[] = {
		chunk_of(img, "/lib/libc.so", 1),
		chunk_of(img, "/lib/libc.so", 2),
		chunk_of(img, "/app", 0),
		chunk_of(img, "/app", 1),
		chunk_of(img, "/lib/same", 2),	/* = app's slot 2 */
		chunk_of(img, "/lib/libc.so", 0),
		chunk_of(img, "/app", 0),	/* again */
		{ 0, 999 },			/* not in the image */
		chunk_of(img, "/app", 2),	/* again, as app's */
	};
	const char *want = "/lib/libc.so 4096 4904\n"
			   "/app 0 10000\n"
			   "/lib/libc.so 0 4096\n"
			   "# blob 0 chunk 999: not in the image\n";
	struct nydusfs_trace_chunk same = chunk_of(img, "/lib/same", 0);
	struct nydusfs_trace_chunk app = chunk_of(img, "/app", 0);
	struct nydusfs_record_stats st;
	char *text;
	int ret;

	CHECK(v[0].blob != UINT32_MAX && v[4].blob != UINT32_MAX,
	      "the test image has its files");
	CHECK(same.blob == app.blob && same.chunk == app.chunk,
	      "the copy's chunks are deduplicated (blob %u chunk %u)",
	      same.blob, same.chunk);
	text = profile(img, v, NYDUSFS_ARRAY_SIZE(v), &st, &ret);
	CHECK(!ret && !strcmp(text, want),
	      "first user in nid order, merged, repeats skipped: %d\n%s", ret,
	      text);
	CHECK(st.chunks == 9 && st.mapped == 6 && st.repeated == 2 &&
	      st.unmapped == 1 && st.lines == 3 && st.bytes == 9000 + 10000 &&
	      st.files == 2,
	      "stats: %llu chunks, %llu mapped, %llu repeated, %llu unmapped, %llu lines, %llu bytes, %llu files",
	      (unsigned long long)st.chunks, (unsigned long long)st.mapped,
	      (unsigned long long)st.repeated,
	      (unsigned long long)st.unmapped, (unsigned long long)st.lines,
	      (unsigned long long)st.bytes, (unsigned long long)st.files);
	CHECK(!strstr(text, "/zlink") && !strstr(text, "/lib/same"),
	      "a hard link's other name and a deduplicated copy never show");
	free(text);
}

static void test_reverse_and_empty(const struct nydusfs_image *img)
{
	const struct nydusfs_trace_chunk v[] = {
		chunk_of(img, "/app", 2),
		chunk_of(img, "/app", 1),
		chunk_of(img, "/app", 0),
	};
	struct nydusfs_record_stats st;
	char *text;
	int ret;

	text = profile(img, v, NYDUSFS_ARRAY_SIZE(v), &st, &ret);
	CHECK(!ret && !strcmp(text, "/app 8192 1808\n/app 4096 4096\n/app 0 4096\n"),
	      "backwards: one line per chunk, in trace order\n%s", text);
	free(text);
	text = profile(img, NULL, 0, &st, &ret);
	CHECK(!ret && !strcmp(text, "") && !st.lines, "an empty trace: no line");
	free(text);
}

static void test_round_trip(const struct nydusfs_image *img)
{
	const struct nydusfs_trace_chunk v[] = {
		chunk_of(img, "/my app\\", 0),
		chunk_of(img, "/lib/libc.so", 2),
	};
	struct nydusfs_profile p = {};
	struct nydusfs_record_stats st;
	char *text;
	FILE *f;
	int ret;

	text = profile(img, v, NYDUSFS_ARRAY_SIZE(v), &st, &ret);
	CHECK(!ret && !strcmp(text, "/my\\x20app\\x5c 0 3000\n/lib/libc.so 8192 808\n"),
	      "a blank and a backslash in PATH as \\xNN\n%s", text);
	f = fmemopen(text, strlen(text), "r");
	ret = nydusfs_profile_parse(f, "record_test", &p);
	fclose(f);
	CHECK(!ret && p.count == 2 && !strcmp(p.entries[0].path, "my app\\") &&
	      p.entries[0].off == 0 && p.entries[0].len == 3000 &&
	      !strcmp(p.entries[1].path, "lib/libc.so") &&
	      p.entries[1].off == 8192 && p.entries[1].len == 808,
	      "the profile parser reads it back: %d, %u entries", ret, p.count);
	nydusfs_profile_free(&p);
	free(text);
}

int main(void)
{
	struct nydusfs_image *img;
	char cmd[300];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	img = build_image();
	CHECK(img != NULL, "build and open the test image in %s", dir);
	if (img) {
		test_mapping(img);
		test_reverse_and_empty(img);
		test_round_trip(img);
		nydusfs_image_close(img);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
	printf("%d failed\n", failures);
	return failures ? 1 : 0;
}
