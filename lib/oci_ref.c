// SPDX-License-Identifier: GPL-2.0
/*
 * Image references: docker://HOST[:PORT]/REPO[:TAG][@DIGEST] and
 * oci:DIR[:TAG] (include/nydusfs/oci_ref.h).  The grammar of names, tags
 * and digests is the distribution spec's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nydusfs/err.h"
#include "nydusfs/oci_ref.h"

#define DOCKER_PREFIX	"docker://"
#define OCI_PREFIX	"oci:"
#define DOCKER_HUB	"docker.io"
#define DOCKER_HUB_API	"registry-1.docker.io"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*, over [p, end) */
static bool valid_component(const char *p, const char *end)
{
	for (;;) {
		if (p == end || !is_lower_alnum(*p))
			return false;
		while (p < end && is_lower_alnum(*p))
			p++;
		if (p == end)
			return true;
		if (*p == '.') {
			p++;
		} else if (*p == '_') {
			p += (p + 1 < end && p[1] == '_') ? 2 : 1;
		} else if (*p == '-') {
			while (p < end && *p == '-')
				p++;
		} else {
			return false;
		}
	}
}

bool nydusfs_oci_ref_valid_repo(const char *repo)
{
	const char *p = repo, *slash;

	if (!*repo || strlen(repo) > NYDUSFS_REF_NAME_MAX)
		return false;
	for (;;) {
		slash = strchr(p, '/');
		if (!valid_component(p, slash ? slash : p + strlen(p)))
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
bool nydusfs_oci_ref_valid_tag(const char *tag)
{
	size_t i, len = strlen(tag);

	if (!len || len > NYDUSFS_REF_TAG_MAX || tag[0] == '.' || tag[0] == '-')
		return false;
	for (i = 0; i < len; i++)
		if (!is_alnum(tag[i]) && !strchr("_.-", tag[i]))
			return false;
	return true;
}

bool nydusfs_oci_ref_valid_digest(const char *digest)
{
	const char *hex = digest + 7;

	return !strncmp(digest, "sha256:", 7) &&
	       strspn(hex, "0123456789abcdef") == 64 && !hex[64];
}

/* HOST, HOST:PORT or [IPV6]:PORT */
static bool valid_host(const char *host)
{
	const char *port, *p;
	unsigned long n;
	char *end;

	if (host[0] == '[') {
		p = strchr(host, ']');
		if (!p || p == host + 1 ||
		    strspn(host + 1, "0123456789abcdefABCDEF:.") !=
		    (size_t)(p - host - 1))
			return false;
		port = p[1] == ':' ? p + 1 : NULL;
		if (!port && p[1])
			return false;
	} else {
		port = strchr(host, ':');
		p = port ? port : host + strlen(host);
		if (p == host)
			return false;
		for (; host < p; host++)
			if (!is_alnum(*host) && *host != '.' && *host != '-')
				return false;
	}
	if (!port)
		return true;
	n = strtoul(port + 1, &end, 10);
	return port[1] >= '0' && port[1] <= '9' && !*end && n >= 1 &&
	       n <= 65535;
}

/* Does the first component of a name look like a registry host? */
static bool looks_like_host(const char *s, size_t len)
{
	size_t i;

	if (len == 9 && !strncmp(s, "localhost", 9))
		return true;
	for (i = 0; i < len; i++)
		if (s[i] == '.' || s[i] == ':' || s[i] == '[' ||
		    (s[i] >= 'A' && s[i] <= 'Z'))
			return true;
	return false;
}

/* "HOST/REPO" or "REPO" -> ref->host and ref->repo */
static int split_name(const char *name, struct nydusfs_oci_ref *ref,
		      const char **why)
{
	const char *slash = strchr(name, '/');

	if (!slash && looks_like_host(name, strlen(name))) {
		*why = "no repository name after the registry host "
		       "(docker://HOST[:PORT]/REPO[:TAG])";
		return -EINVAL;
	}
	if (slash && looks_like_host(name, slash - name)) {
		ref->host = strndup(name, slash - name);
		ref->repo = strdup(slash + 1);
	} else {
		ref->host = strdup(DOCKER_HUB);
		if (slash)
			ref->repo = strdup(name);
		else if (asprintf(&ref->repo, "library/%s", name) < 0)
			ref->repo = NULL;
	}
	if (!ref->host || !ref->repo)
		return -ENOMEM;
	if (!valid_host(ref->host)) {
		*why = "invalid registry host (HOST or HOST:PORT)";
		return -EINVAL;
	}
	if (!*ref->repo) {
		*why = "no repository name after the registry host";
		return -EINVAL;
	}
	if (!nydusfs_oci_ref_valid_repo(ref->repo)) {
		*why = "invalid repository name: lowercase letters and digits, "
		       "separated by '.', '_', '__', '-' or '/'";
		return -EINVAL;
	}
	return 0;
}

static int parse_docker(const char *s, struct nydusfs_oci_ref *ref,
			const char **why)
{
	const char *at = strchr(s, '@'), *slash, *colon;
	char *name;
	int err;

	ref->kind = NYDUSFS_REF_DOCKER;
	if (!*s || *s == '/') {
		*why = "expected docker://HOST[:PORT]/REPO[:TAG|@sha256:HEX]";
		return -EINVAL;
	}
	if (at) {
		ref->digest = strdup(at + 1);
		if (!ref->digest)
			return -ENOMEM;
		if (!nydusfs_oci_ref_valid_digest(ref->digest)) {
			*why = strncmp(ref->digest, "sha256:", 7) ?
			       "only sha256 digests are supported" :
			       "invalid digest: sha256: and 64 lowercase hex digits";
			return -EINVAL;
		}
	}
	name = strndup(s, at ? (size_t)(at - s) : strlen(s));
	if (!name)
		return -ENOMEM;
	slash = strrchr(name, '/');
	colon = strrchr(slash ? slash : name, ':');
	if (colon) {
		ref->tag = strdup(colon + 1);
		name[colon - name] = '\0';
		if (!ref->tag) {
			free(name);
			return -ENOMEM;
		}
	}
	err = split_name(name, ref, why);
	free(name);
	if (err)
		return err;
	if (ref->tag && !nydusfs_oci_ref_valid_tag(ref->tag)) {
		*why = "invalid tag: up to 128 of [A-Za-z0-9_.-], not starting "
		       "with '.' or '-'";
		return -EINVAL;
	}
	if (!ref->tag && !ref->digest) {
		ref->tag = strdup("latest");
		if (!ref->tag)
			return -ENOMEM;
	}
	return 0;
}

/* skopeo's oci: image names: [A-Za-z0-9._-]+ joined by ':', '@' or '/' */
static bool valid_oci_tag(const char *tag)
{
	size_t i;

	if (!*tag || strlen(tag) > NYDUSFS_REF_NAME_MAX)
		return false;
	for (i = 0; tag[i]; i++) {
		if (is_alnum(tag[i]) || strchr("._-", tag[i]))
			continue;
		if (!strchr(":@/", tag[i]) || !i || !tag[i + 1] ||
		    strchr(":@/", tag[i + 1]))
			return false;
	}
	return true;
}

static int parse_oci(const char *s, struct nydusfs_oci_ref *ref,
		     const char **why)
{
	const char *colon = strchr(s, ':');

	ref->kind = NYDUSFS_REF_OCI;
	ref->dir = strndup(s, colon ? (size_t)(colon - s) : strlen(s));
	if (!ref->dir)
		return -ENOMEM;
	if (!*ref->dir) {
		*why = "expected oci:DIR[:TAG] (an OCI image layout directory)";
		return -EINVAL;
	}
	if (colon) {
		ref->tag = strdup(colon + 1);
		if (!ref->tag)
			return -ENOMEM;
		if (!valid_oci_tag(ref->tag)) {
			*why = "invalid tag after oci:DIR: (a DIR cannot hold ':')";
			return -EINVAL;
		}
	}
	return 0;
}

/* "docker-archive", "containers-storage": what precedes a transport's ':' */
static bool looks_like_transport(const char *s, size_t len)
{
	size_t i;

	if (!len || s[0] < 'a' || s[0] > 'z')
		return false;
	for (i = 0; i < len; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

int nydusfs_oci_ref_parse(const char *str, struct nydusfs_oci_ref *ref,
			  const char **why)
{
	const char *colon = strchr(str, ':');
	int err;

	memset(ref, 0, sizeof(*ref));
	*why = NULL;
	if (!strncmp(str, DOCKER_PREFIX, strlen(DOCKER_PREFIX)))
		err = parse_docker(str + strlen(DOCKER_PREFIX), ref, why);
	else if (!strncmp(str, OCI_PREFIX, strlen(OCI_PREFIX)))
		err = parse_oci(str + strlen(OCI_PREFIX), ref, why);
	else if (colon && looks_like_transport(str, colon - str))
		err = (*why = "unknown transport: only docker:// and oci: "
			      "are supported", -EINVAL);
	else
		err = (*why = "no transport: write docker://HOST/REPO[:TAG] "
			      "or oci:DIR[:TAG]", -EINVAL);
	if (err) {
		if (err == -ENOMEM)
			*why = "out of memory";
		nydusfs_oci_ref_free(ref);
	}
	return err;
}

void nydusfs_oci_ref_free(struct nydusfs_oci_ref *ref)
{
	free(ref->host);
	free(ref->repo);
	free(ref->digest);
	free(ref->dir);
	free(ref->tag);
	memset(ref, 0, sizeof(*ref));
}

const char *nydusfs_oci_ref_manifest_ref(const struct nydusfs_oci_ref *ref)
{
	return ref->digest ? ref->digest : ref->tag;
}

const char *nydusfs_oci_ref_api_host(const struct nydusfs_oci_ref *ref)
{
	if (ref->host && !strcmp(ref->host, DOCKER_HUB))
		return DOCKER_HUB_API;
	return ref->host;
}

char *nydusfs_oci_ref_string(const struct nydusfs_oci_ref *ref)
{
	char *s;
	int n;

	if (ref->kind == NYDUSFS_REF_OCI)
		n = asprintf(&s, "oci:%s%s%s", ref->dir, ref->tag ? ":" : "",
			     ref->tag ? ref->tag : "");
	else
		n = asprintf(&s, "docker://%s/%s%s%s%s%s", ref->host,
			     ref->repo, ref->tag ? ":" : "",
			     ref->tag ? ref->tag : "", ref->digest ? "@" : "",
			     ref->digest ? ref->digest : "");
	return n < 0 ? NULL : s;
}
