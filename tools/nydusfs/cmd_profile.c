// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs profile MOUNTPOINT: the startup profile of a mounted image, from
 * the order in which nydusfsd saw its chunks first asked for (the control
 * socket's "trace", daemon/trace.c), mapped back to byte ranges of files
 * with the mount's bootstrap (lib/record.c).  Documentation/nydusfsd.rst,
 * "Recording a startup profile".
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "cmds.h"
#include "nydusfs/format.h"
#include "nydusfs/image.h"
#include "nydusfs/record.h"

struct profile_args {
	struct client c;
	const char *mountpoint, *output, *bootstrap;
	bool reset;
	char mp[PATH_MAX];
};

static const char profile_usage[] =
"usage: nydusfs profile [OPTIONS] MOUNTPOINT\n"
"\n"
"Write the startup profile of an image mounted at MOUNTPOINT: the byte\n"
"ranges of the files read from it since it was registered (or since the\n"
"last --reset), in the order they were first needed, one \"PATH OFFSET\n"
"LENGTH\" line each, as nydusfsd recorded them.  nydusfsd sees only what\n"
"the kernel asks it for: record with an empty cache and --no-prefetch\n"
"(nydusfs mount --no-prefetch ...), run the workload once, then run this.\n"
"\n"
"options:\n"
"  -o, --output FILE     write the profile to FILE (default: stdout)\n"
"  -b, --bootstrap FILE  the image's bootstrap (default: the one the\n"
"                        mount was registered with)\n"
"      --reset           start the daemon's record anew once read\n"
"      --socket PATH     the daemon's control socket\n"
"      --config FILE     the daemon's config (for its socket)\n"
"  -h, --help            show this text\n";

static int parse_profile_args(int argc, char **argv, struct profile_args *a)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "bootstrap", required_argument, NULL, 'b' },
		{ "reset", no_argument, NULL, 'R' },
		{ "socket", required_argument, NULL, 'S' },
		{ "config", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "o:b:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'o': a->output = optarg; break;
		case 'b': a->bootstrap = optarg; break;
		case 'R': a->reset = true; break;
		case 'S': a->c.socket = optarg; break;
		case 'C': a->c.config = optarg; break;
		case 'h': fputs(profile_usage, stdout); return NYDUSFS_EXIT_OK;
		default:
			fprintf(stderr, "Try 'nydusfs profile --help'.\n");
			return NYDUSFS_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		cli_err("profile", "expected MOUNTPOINT");
		fprintf(stderr, "Try 'nydusfs profile --help'.\n");
		return NYDUSFS_EXIT_USAGE;
	}
	a->mountpoint = argv[optind];
	return -1;
}

/* /proc/self/mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo. */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
			*d++ = (s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0');
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

/* The type of the filesystem mounted at @mp (the top one), or "". */
static void mount_type(const char *mp, char *type, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, *tok, *save, *dash;
	size_t cap = 0;
	int i;

	type[0] = '\0';
	while (f && getline(&line, &cap, f) > 0) {
		dash = strstr(line, " - ");
		if (!dash)
			continue;
		tok = strtok_r(line, " ", &save);
		for (i = 0; tok && i < 4; i++)
			tok = strtok_r(NULL, " ", &save);
		if (!tok)
			continue;
		unescape(tok);
		if (strcmp(tok, mp))
			continue;
		tok = strtok_r(dash + 3, " ", &save);
		snprintf(type, len, "%s", tok ? tok : "");
	}
	free(line);
	if (f)
		fclose(f);
}

/* The daemon does not know @mp: say whether it is a nydusfs mount at all. */
static void not_registered(const struct profile_args *a)
{
	char type[64];

	mount_type(a->mp, type, sizeof(type));
	if (!type[0])
		cli_err("profile", "%s is not a mount point, and nydusfsd (%s) has no registration for it: give the directory an image is mounted on",
			a->mp, a->c.socket);
	else if (strcmp(type, "nydusfs"))
		cli_err("profile", "%s is not a nydusfs mount (it is %s)", a->mp,
			type);
	else
		cli_err("profile", "%s is a nydusfs mount, but nydusfsd at %s has no registration for it (mounted with another daemon? give its --socket)",
			a->mp, a->c.socket);
}

/* The daemon's trace answer, or NULL after a message. */
static json_t *ask_trace(struct profile_args *a)
{
	json_t *req, *ans;
	int ret;

	client_setup(&a->c);
	ret = client_connect(&a->c);
	if (ret) {
		cli_err("profile", "nydusfsd is not running: cannot reach its control socket %s: %s (give --socket, or mount the image with nydusfs mount first)",
			a->c.socket, strerror(-ret));
		return NULL;
	}
	req = json_pack("{s:s, s:s, s:b}", "cmd", "trace", "mountpoint", a->mp,
			"reset", a->reset);
	ans = client_call(&a->c, "profile", req, NULL, 0);
	json_decref(req);
	close(a->c.fd);
	if (ans && !json_is_true(json_object_get(ans, "ok")) &&
	    json_integer_value(json_object_get(ans, "errno")) == ENOENT) {
		not_registered(a);
		json_decref(ans);
		return NULL;
	}
	if (answer_ok("profile", ans)) {
		json_decref(ans);
		return NULL;
	}
	return ans;
}

/* The answer's runs [blob, first chunk, count], expanded; -EINVAL if bad. */
static int trace_chunks(json_t *ans, uint32_t nblobs,
			struct nydusfs_trace_chunk **out, size_t *n)
{
	json_t *runs = json_object_get(ans, "runs"), *run;
	json_int_t blob, first, count, j;
	struct nydusfs_trace_chunk *v;
	size_t i, total = 0, k = 0;

	if (!json_is_array(runs))
		return -EINVAL;
	json_array_foreach(runs, i, run) {
		count = json_integer_value(json_array_get(run, 2));
		if (json_array_size(run) != 3 || count <= 0 || count > UINT32_MAX)
			return -EINVAL;
		total += count;
	}
	if (total > (1U << 30))
		return -EINVAL;
	v = calloc(total + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	json_array_foreach(runs, i, run) {
		blob = json_integer_value(json_array_get(run, 0));
		first = json_integer_value(json_array_get(run, 1));
		count = json_integer_value(json_array_get(run, 2));
		if (blob < 0 || blob >= nblobs || first < 0 ||
		    first + count > UINT32_MAX) {
			free(v);
			return -EINVAL;
		}
		for (j = 0; j < count; j++) {
			v[k].blob = blob;
			v[k++].chunk = first + j;
		}
	}
	*out = v;
	*n = total;
	return 0;
}

/* The bootstrap must name the blobs the daemon traced, in its order. */
static int check_blobs(const struct nydusfs_image *img, json_t *ans,
		       const char *path)
{
	json_t *blobs = json_object_get(ans, "blobs");
	const struct nydusfs_blob *b;
	char hex[2 * NYDUSFS_DIGEST_SIZE + 1];
	const char *want;
	uint32_t i;

	if (json_array_size(blobs) != img->blob_count) {
		cli_err("profile", "%s names %u blobs, the mount %zu: not the mounted image's bootstrap",
			path, img->blob_count, json_array_size(blobs));
		return -1;
	}
	for (i = 0; i < img->blob_count; i++) {
		want = json_string_value(json_array_get(blobs, i));
		if (nydusfs_image_blob(img, i, &b))
			return -1;
		nydusfs_digest_to_hex(b->digest, hex);
		if (!want || strcmp(want, hex)) {
			cli_err("profile", "%s: blob %u is %s, the mount's %s: not the mounted image's bootstrap",
				path, i, hex, want ? want : "?");
			return -1;
		}
	}
	return 0;
}

static void warn_trace(const struct profile_args *a, json_t *ans)
{
	json_int_t cached = json_integer_value(json_object_get(ans,
							       "cached_at_start"));

	if (json_is_true(json_object_get(ans, "prefetch")) &&
	    json_integer_value(json_object_get(ans, "prefetch_chunks")))
		fprintf(stderr, "nydusfs profile: warning: %s was mounted with prefetch on (%lld of %lld chunks prefetched): a chunk prefetched before the workload read it was never asked for and is missing from the profile; record with nydusfs mount --no-prefetch\n",
			a->mp,
			(long long)json_integer_value(json_object_get(ans, "prefetched")),
			(long long)json_integer_value(json_object_get(ans, "prefetch_chunks")));
	if (cached > 0)
		fprintf(stderr, "nydusfs profile: warning: %lld chunks of the image were in the cache when the record started: reads of them are missing from the profile; record with an empty cache (unmount, nydusfs cache gc --all, mount again)\n",
			(long long)cached);
	if (json_is_true(json_object_get(ans, "truncated")))
		fprintf(stderr, "nydusfs profile: warning: the record stopped at %lld chunks: the profile covers only those\n",
			(long long)json_integer_value(json_object_get(ans, "limit")));
}

static void utc(double t, char *buf, size_t len)
{
	time_t s = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&s, &tm) ||
	    !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "?");
}

/* @s on a comment line: a control character would end it. */
static void put_safe(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < ' ' ? '?' : *s, f);
}

static void write_header(FILE *f, const struct profile_args *a,
			 const struct nydusfs_image *img, const char *path,
			 json_t *ans)
{
	uint8_t md[NYDUSFS_DIGEST_SIZE];
	char hex[2 * NYDUSFS_DIGEST_SIZE + 1], now[32], since[32];

	if (nydusfs_sha256(img->buf, img->size, md))
		memset(md, 0, sizeof(md));
	nydusfs_digest_to_hex(md, hex);
	utc(time(NULL), now, sizeof(now));
	utc(json_real_value(json_object_get(ans, "since")), since,
	    sizeof(since));
	fprintf(f, "# nydusfs startup profile, recorded by nydusfs profile from ");
	put_safe(f, a->mp);
	fprintf(f, "\n# image: bootstrap sha256:%s (", hex);
	put_safe(f, path);
	fprintf(f, ")\n");
	fprintf(f, "# chunk size: %u\n", img->chunk_size);
	fprintf(f, "# recorded: %s (the record began %s): %lld chunks first asked for in %lld READs%s%s\n",
		now, since,
		(long long)json_integer_value(json_object_get(ans, "chunks")),
		(long long)json_integer_value(json_object_get(ans, "reads")),
		json_is_true(json_object_get(ans, "prefetch")) ?
		", prefetch on" : "",
		json_integer_value(json_object_get(ans, "cached_at_start")) ?
		", cache not empty" : "");
	fprintf(f, "# PATH OFFSET LENGTH: bytes of a file, in the order first needed\n");
}

/* The profile of @ans to the output; 0 or an exit status. */
static int write_profile(struct profile_args *a, json_t *ans)
{
	const char *path = a->bootstrap ? a->bootstrap :
			   json_string_value(json_object_get(ans, "bootstrap"));
	struct nydusfs_trace_chunk *v = NULL;
	struct nydusfs_record_stats st;
	struct nydusfs_image *img;
	FILE *f = stdout;
	size_t n;
	int ret;

	ret = nydusfs_image_open(path ? path : "", &img);
	if (ret) {
		cli_err("profile", "cannot read the bootstrap %s: %s (give the image's bootstrap with --bootstrap)",
			path ? path : "(none)", strerror(-ret));
		return NYDUSFS_EXIT_FAILURE;
	}
	ret = check_blobs(img, ans, path) ? -EINVAL : 0;
	if (!ret && trace_chunks(ans, img->blob_count, &v, &n)) {
		cli_err("profile", "bad trace answer from nydusfsd");
		ret = -EINVAL;
	}
	if (!ret && a->output && !(f = fopen(a->output, "we"))) {
		cli_err("profile", "%s: %s", a->output, strerror(errno));
		ret = -errno;
	}
	if (!ret) {
		write_header(f, a, img, path, ans);
		ret = nydusfs_record_profile(img, v, n, f, &st);
		if (ret)
			cli_err("profile", "writing the profile: %s",
				strerror(-ret));
	}
	if (f != stdout && f && fclose(f) && !ret) {
		cli_err("profile", "%s: %s", a->output, strerror(errno));
		ret = -EIO;
	}
	if (ret && f && f != stdout)
		unlink(a->output);	/* no half a profile */
	if (!ret)
		fprintf(stderr, "nydusfs profile: %llu ranges of %llu files, %llu bytes (%llu chunks) to %s\n",
			(unsigned long long)st.lines,
			(unsigned long long)st.files,
			(unsigned long long)st.bytes,
			(unsigned long long)st.mapped,
			a->output ? a->output : "stdout");
	if (!ret && st.unmapped)
		fprintf(stderr, "nydusfs profile: warning: %llu chunks no file of the image uses (comment lines)\n",
			(unsigned long long)st.unmapped);
	free(v);
	nydusfs_image_close(img);
	return ret ? NYDUSFS_EXIT_FAILURE : NYDUSFS_EXIT_OK;
}

int cmd_profile(int argc, char **argv)
{
	struct profile_args a = {};
	json_t *ans;
	int ret = parse_profile_args(argc, argv, &a);

	if (ret >= 0)
		return ret;
	if (!realpath(a.mountpoint, a.mp)) {
		cli_err("profile", "%s: %s", a.mountpoint, strerror(errno));
		return NYDUSFS_EXIT_FAILURE;
	}
	ans = ask_trace(&a);
	if (!ans)
		return NYDUSFS_EXIT_FAILURE;
	warn_trace(&a, ans);
	if (!json_integer_value(json_object_get(ans, "chunks"))) {
		cli_err("profile", "no record: nothing was read from %s that nydusfsd had to serve since it was registered or last reset (a read served from the cache or by prefetch never reaches it: mount with an empty cache and --no-prefetch, run the workload, then run this)",
			a.mp);
		json_decref(ans);
		return NYDUSFS_EXIT_FAILURE;
	}
	ret = write_profile(&a, ans);
	json_decref(ans);
	return ret;
}
