/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the nydusfs kselftests: private mount namespaces,
 * mounts, the test daemon (nydusfs_testd), the test images, file compares.
 * Every function returns 0 or -errno unless it says otherwise.
 *
 * The images are made on the host by tests/guest/selftests.sh and found
 * under $NYDUSFS_SELFTEST_DATA (default /mnt/disk0):
 *	img/NAME/bootstrap, img/NAME/blobs/	nydusfs images
 *	erofs/NAME.erofs			mkfs.erofs of the same tree
 *	src/NAME/				the tree itself (ext4)
 *	corpus/					bootstraps for corrupt_test
 * st_find_image() copies the blobs and the erofs image into tmpfs first.
 */
#ifndef NYDUSFS_SELFTEST_HELPERS_H
#define NYDUSFS_SELFTEST_HELPERS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define ST_DEV		"/dev/nydusfs"
#define ST_TESTD	"nydusfs_testd"

/* one image built by the glue: which of its parts exist */
struct st_image {
	char name[64];
	char bootstrap[PATH_MAX];
	char blob_dir[PATH_MAX];
	char erofs[PATH_MAX];	/* "" if there is no erofs image */
	char src[PATH_MAX];	/* "" if the source tree is not on the disk */
};

/* a running nydusfs_testd */
struct st_daemon {
	pid_t pid;
	char blob_dir[PATH_MAX];
	char cache_dir[PATH_MAX];
	char stats[PATH_MAX];
	char log[PATH_MAX];
};

/* ---- environment ---- */
const char *st_data_dir(void);
int st_find_image(const char *name, struct st_image *img);
/* NULL if the tests can run, else why not (for SKIP) */
const char *st_missing_prereq(void);
const char *st_self_dir(void);

/* ---- mounts ---- */
int st_private_mounts(void);
int st_mkdtemp(char *buf, size_t size);
int st_rmtree(const char *dir);
int st_mount(const char *bootstrap, const char *dir, const char *opts);
int st_mount_erofs(const char *img, const char *dir);
int st_scratch_fs(const char *workdir, const char *dir, unsigned int mb);
int st_copy_file(const char *src, const char *dst);
int st_umount(const char *dir);
int st_drop_caches(void);
/* the /proc/self/mounts options of the mount at @dir, or -ENOENT */
int st_mount_options(const char *dir, char *buf, size_t size);
/* read_ahead_kb of the newest nydusfs mount, set to @kb if >= 0; or -1 */
int st_bdi_readahead_kb(int kb);

/* ---- the daemon ---- */
int st_daemon_start(struct st_daemon *d, const char *blob_dir,
		    const char *workdir, const char *const *args);
int st_daemon_kill(struct st_daemon *d, int sig);
/* a count from the daemon's stats file, or -1 */
long st_stat(const struct st_daemon *d, const char *key);
/* wait up to @ms for the count to reach @min; the count */
long st_stat_wait(const struct st_daemon *d, const char *key, long min,
		  int ms);
/* copy the daemon's log to stderr as TAP comments */
void st_daemon_log(const struct st_daemon *d);

/* ---- files ---- */
int st_read_file(const char *path, void **buf, size_t *len);
/* 0 if equal; else -EBADMSG and @why says where (or -errno) */
int st_cmp_files(const char *a, const char *b, char *why, size_t whylen);
/* FNV-1a over @buf, continuing @h (0 to start) */
uint64_t st_hash(const void *buf, size_t len, uint64_t h);
/* the hash of a file's content; its length added to *@bytes if set */
int st_hash_file(int dfd, const char *name, uint64_t *h, uint64_t *bytes);
/* the names (sha256 hex) of up to @max blob files of @img; how many */
int st_blob_names(const struct st_image *img, char names[][65], int max);
/* the cache-file offsets of the chunks of @path in @bootstrap; how many */
int st_chunk_offsets(const char *bootstrap, const char *path, uint64_t *offs,
		     int max);

/* ---- walking a tree ---- */
typedef int (*st_walk_fn)(int dfd, const char *name, const struct stat *st,
			  const char *path, int err, void *arg);
int st_walk(const char *root, st_walk_fn fn, void *arg);

/* ---- the rest ---- */
/* run a program with a timeout: its exit status, 128 + signal, or -errno */
int st_run(const char *const argv[], int timeout_s, bool quiet);
double st_now(void);
/* the kernel log: its last lines as TAP comments; how often @needle is in it */
void st_dmesg_tail(int lines);
int st_dmesg_grep(const char *needle);

/*
 * SKIP() in a fixture's setup does not stop the test in this version of
 * the harness: each test starts with this.
 */
#define ST_SKIPPED() do { if (_metadata->skip) return; } while (0)

/*
 * main() of a test program: the harness's, plus "-l" to list the test
 * names (fixture.variant.test) and "-t SUBSTRING" to run only the tests
 * whose name, with some variant, contains SUBSTRING.
 */
#define ST_HARNESS_MAIN							\
	static void __attribute__((constructor))			\
	__constructor_order_last(void)					\
	{								\
		if (!__constructor_order)				\
			__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD; \
	}								\
	static bool st_name_matches(struct __fixture_metadata *f,	\
				    struct __fixture_variant_metadata *v, \
				    struct __test_metadata *t,		\
				    const char *filter, bool print)	\
	{								\
		char name[512];						\
									\
		snprintf(name, sizeof(name), "%s%s%s.%s", f->name,	\
			 v->name[0] ? "." : "", v->name, t->name);	\
		if (print)						\
			printf("%s\n", name);				\
		return !filter || strstr(name, filter);			\
	}								\
	/* keep the variants and the tests that match with some other */ \
	static void st_filter_fixture(struct __fixture_metadata *f,	\
				      const char *filter, bool print)	\
	{								\
		static struct __fixture_variant_metadata no_variant = { .name = "" }; \
		struct __fixture_variant_metadata *v, *vnext, *vkept = NULL; \
		struct __test_metadata *t, *next, *kept = NULL;		\
		bool any, had_variants = f->variant;			\
									\
		for (v = f->variant ?: &no_variant; v; v = vnext) {	\
			vnext = v->next;				\
			any = false;					\
			for (t = f->tests; t; t = t->next)		\
				any |= st_name_matches(f, v, t, filter, print); \
			if (!any || v == &no_variant)			\
				continue;				\
			v->next = NULL;					\
			if (!vkept) {					\
				vkept = v;				\
				v->prev = v;				\
			} else {					\
				v->prev = vkept->prev;			\
				vkept->prev->next = v;			\
				vkept->prev = v;			\
			}						\
		}							\
		if (had_variants) {					\
			f->variant = vkept;				\
			if (!vkept) {					\
				f->tests = NULL;			\
				return;					\
			}						\
		}							\
		for (t = f->tests; t; t = next) {			\
			next = t->next;					\
			any = false;					\
			for (v = f->variant ?: &no_variant; v; v = v->next) \
				any |= st_name_matches(f, v, t, filter, false); \
			if (!any)					\
				continue;				\
			t->next = NULL;					\
			if (!kept) {					\
				kept = t;				\
				t->prev = t;				\
			} else {					\
				t->prev = kept->prev;			\
				kept->prev->next = t;			\
				kept->prev = t;				\
			}						\
		}							\
		f->tests = kept;					\
	}								\
	static void st_filter_tests(const char *filter, bool print)	\
	{								\
		struct __fixture_metadata *f;				\
									\
		for (f = __fixture_list; f; f = f->next)		\
			st_filter_fixture(f, filter, print);		\
	}								\
	int main(int argc, char **argv)					\
	{								\
		if (argc == 2 && !strcmp(argv[1], "-l")) {		\
			st_filter_tests(NULL, true);			\
			return 0;					\
		}							\
		if (argc == 3 && !strcmp(argv[1], "-t"))		\
			st_filter_tests(argv[2], false);		\
		else if (argc > 1) {					\
			fprintf(stderr, "usage: %s [-l | -t SUBSTRING]\n", argv[0]); \
			return 2;					\
		}							\
		return test_harness_run(argc, argv);			\
	}

#endif
