// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of image references (lib/oci_ref.c): docker:// and oci: in
 * skopeo's spelling, defaults, and the errors for bad ones.  One line per
 * failed case; exit 0 if all pass, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nydusfs/err.h"
#include "nydusfs/oci_ref.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct ref_case {
	const char *in;
	int err;
	enum nydusfs_ref_kind kind;
	const char *host, *repo, *tag, *digest, *dir;
	const char *canonical;
};

static const struct ref_case cases[] = {
	{ "docker://127.0.0.1:5000/t/img:v1", 0, NYDUSFS_REF_DOCKER,
	  "127.0.0.1:5000", "t/img", "v1", NULL, NULL,
	  "docker://127.0.0.1:5000/t/img:v1" },
	{ "docker://127.0.0.1:5000/img", 0, NYDUSFS_REF_DOCKER,
	  "127.0.0.1:5000", "img", "latest", NULL, NULL,
	  "docker://127.0.0.1:5000/img:latest" },
	{ "docker://localhost/a/b/c@sha256:" D64, 0, NYDUSFS_REF_DOCKER,
	  "localhost", "a/b/c", NULL, "sha256:" D64, NULL,
	  "docker://localhost/a/b/c@sha256:" D64 },
	{ "docker://reg.example/a:1.0@sha256:" D64, 0, NYDUSFS_REF_DOCKER,
	  "reg.example", "a", "1.0", "sha256:" D64, NULL, NULL },
	{ "docker://[::1]:5000/x:y", 0, NYDUSFS_REF_DOCKER, "[::1]:5000", "x",
	  "y", NULL, NULL, NULL },
	/* docker.io, as skopeo spells it */
	{ "docker://debian:12", 0, NYDUSFS_REF_DOCKER, "docker.io",
	  "library/debian", "12", NULL, NULL,
	  "docker://docker.io/library/debian:12" },
	{ "docker://user/app", 0, NYDUSFS_REF_DOCKER, "docker.io", "user/app",
	  "latest", NULL, NULL, NULL },
	{ "docker://h-1.example/a-b.c__d_e--f/g.h", 0, NYDUSFS_REF_DOCKER,
	  "h-1.example", "a-b.c__d_e--f/g.h", "latest", NULL, NULL, NULL },
	{ "oci:/tmp/layout:v3", 0, NYDUSFS_REF_OCI, NULL, NULL, "v3", NULL,
	  "/tmp/layout", "oci:/tmp/layout:v3" },
	{ "oci:layout", 0, NYDUSFS_REF_OCI, NULL, NULL, NULL, NULL, "layout",
	  "oci:layout" },
	{ "oci:dir:name:with:colons", 0, NYDUSFS_REF_OCI, NULL, NULL,
	  "name:with:colons", NULL, "dir", NULL },
	/* errors */
	{ "127.0.0.1:5000/t/img:v1", -EINVAL },
	{ "t/img", -EINVAL },
	{ "docker-archive:/x.tar", -EINVAL },
	{ "docker:/x", -EINVAL },
	{ "docker://", -EINVAL },
	{ "docker:///x", -EINVAL },
	{ "docker://127.0.0.1:5000", -EINVAL },
	{ "docker://127.0.0.1:5000/", -EINVAL },
	{ "docker://h.example/Upper", -EINVAL },
	{ "docker://h.example/a//b", -EINVAL },
	{ "docker://h.example/a_-b", -EINVAL },
	{ "docker://h.example/a.", -EINVAL },
	{ "docker://h.example/a:", -EINVAL },
	{ "docker://h.example/a:.x", -EINVAL },
	{ "docker://h.example/a:x/y", -EINVAL },
	{ "docker://h.example/a@sha256:1234", -EINVAL },
	{ "docker://h.example/a@sha512:" D64, -EINVAL },
	{ "docker://h.example/a@sha256:" D64 "00", -EINVAL },
	{ "docker://h.example:0/a", -EINVAL },
	{ "docker://h.example:99999/a", -EINVAL },
	{ "docker://h.example:x/a", -EINVAL },
	{ "docker://h_x.example/a", -EINVAL },
	{ "oci:", -EINVAL },
	{ "oci::tag", -EINVAL },
	{ "oci:dir:", -EINVAL },
	{ "oci:dir:bad tag", -EINVAL },
	{ "", -EINVAL },
};

static int failures;

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void check(const struct ref_case *t)
{
	struct nydusfs_oci_ref ref;
	const char *why = NULL;
	char *s;
	int err;

	err = nydusfs_oci_ref_parse(t->in, &ref, &why);
	if (err != t->err) {
		printf("FAIL '%s': %d (%s), expected %d\n", t->in, err,
		       why ? why : "-", t->err);
		failures++;
	} else if (err && !why) {
		printf("FAIL '%s': no message\n", t->in);
		failures++;
	} else if (!err && (ref.kind != t->kind || !same(ref.host, t->host) ||
			    !same(ref.repo, t->repo) || !same(ref.tag, t->tag) ||
			    !same(ref.digest, t->digest) ||
			    !same(ref.dir, t->dir))) {
		printf("FAIL '%s': kind %d host %s repo %s tag %s digest %s "
		       "dir %s\n", t->in, ref.kind, ref.host, ref.repo,
		       ref.tag, ref.digest, ref.dir);
		failures++;
	} else if (!err && t->canonical) {
		s = nydusfs_oci_ref_string(&ref);
		if (!same(s, t->canonical)) {
			printf("FAIL '%s': written back as '%s'\n", t->in, s);
			failures++;
		}
		free(s);
	}
	if (err)
		printf("ok '%s': %s\n", t->in, why);
	nydusfs_oci_ref_free(&ref);
}

int main(void)
{
	struct nydusfs_oci_ref ref;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(&cases[i]);
	if (nydusfs_oci_ref_parse("docker://h.example/a@sha256:" D64, &ref,
				  &why) ||
	    strcmp(nydusfs_oci_ref_manifest_ref(&ref), "sha256:" D64) ||
	    strcmp(nydusfs_oci_ref_api_host(&ref), "h.example")) {
		printf("FAIL manifest_ref / api_host\n");
		failures++;
	}
	nydusfs_oci_ref_free(&ref);
	if (nydusfs_oci_ref_parse("docker://alpine", &ref, &why) ||
	    strcmp(nydusfs_oci_ref_api_host(&ref), "registry-1.docker.io") ||
	    strcmp(nydusfs_oci_ref_manifest_ref(&ref), "latest")) {
		printf("FAIL docker.io api host\n");
		failures++;
	}
	nydusfs_oci_ref_free(&ref);
	printf("oci_ref_test: %zu cases, %d failed\n",
	       sizeof(cases) / sizeof(cases[0]) + 2, failures);
	return failures ? 1 : 0;
}
