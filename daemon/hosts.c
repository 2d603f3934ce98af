// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: registry settings that come with a mount request.
 *
 * `nydusfs mount docker://HOST/REPO:TAG` has reached the registry already,
 * with the user's options (--tls-verify, --cert-dir, --creds, --authfile).
 * It hands on what worked with the registry source of its request:
 *
 *   {"spec": "registry:HOST/REPO", "registry": {"scheme": "http",
 *    "tls_verify": false, "ca_pem": "-----BEGIN ...", "username": "u",
 *    "password": "p"}}
 *
 * For a host that the config file does not name, these become a
 * [registry "HOST"] of the running config, which the sources made from
 * then on use.  The file's own sections always win.  A later request with
 * other settings for the host puts a new entry in front of the old one
 * (config_host() finds the first), so nothing a live source points to is
 * ever freed before exit.
 *
 * The CA bundle is written to STATE_DIR/ca/<sha256>.pem.  The settings,
 * but not the credentials, are saved with the mount table (mounts.c), so
 * that a restarted daemon still reaches the registry of a restored mount;
 * credentials stay in memory only (after a restart they come from the
 * config or the auth file, as for any host).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nydusfs/format.h"
#include "nydusfsd.h"

#define CA_PEM_MAX	(1U << 20)

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool same_host(const struct cfg_host *a, const struct cfg_host *b)
{
	return !strcmp(a->scheme, b->scheme) &&
	       a->tls_verify == b->tls_verify &&
	       str_eq(a->ca_file, b->ca_file) &&
	       str_eq(a->username, b->username) &&
	       str_eq(a->password, b->password);
}

static void host_free(struct cfg_host *h)
{
	free(h->host);
	free(h->scheme);
	free(h->ca_file);
	free(h->username);
	free(h->password);
	free(h);
}

/* STATE_DIR/ca/<sha256 of the PEM>.pem, written once. */
static int write_ca(const char *pem, char **path, char *msg, size_t len)
{
	uint8_t d[NYDUSFS_DIGEST_SIZE];
	char hex[NFD_HEX_LEN], *dir;
	struct stat st;
	int ret;

	if (!strstr(pem, "-----BEGIN CERTIFICATE-----") ||
	    strlen(pem) > CA_PEM_MAX) {
		snprintf(msg, len, "ca_pem: not a PEM bundle of certificates");
		return -EINVAL;
	}
	ret = nydusfs_sha256(pem, strlen(pem), d);
	if (ret)
		return ret;
	hex_digest(d, hex);
	dir = xasprintf("%s/ca", cfg.state_dir);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		ret = -errno;
		snprintf(msg, len, "%s: %s", dir, strerror(errno));
		free(dir);
		return ret;
	}
	*path = xasprintf("%s/%s.pem", dir, hex);
	free(dir);
	if (stat(*path, &st) == 0 && (size_t)st.st_size == strlen(pem))
		return 0;
	ret = write_file_atomic(*path, pem, strlen(pem));
	if (ret) {
		snprintf(msg, len, "%s: %s", *path, strerror(-ret));
		free(*path);
		*path = NULL;
	}
	return ret;
}

/* The settings of @o for @host, checked; NULL with @msg set if bad. */
static struct cfg_host *host_from_json(const char *host, json_t *o,
				       char *msg, size_t len)
{
	const char *scheme = json_string_value(json_object_get(o, "scheme"));
	const char *user = json_string_value(json_object_get(o, "username"));
	const char *pass = json_string_value(json_object_get(o, "password"));
	const char *pem = json_string_value(json_object_get(o, "ca_pem"));
	const char *ca = json_string_value(json_object_get(o, "ca_file"));
	json_t *tls = json_object_get(o, "tls_verify");
	struct cfg_host *h;

	if (!json_is_object(o) || !*host || strchr(host, '/') ||
	    (tls && !json_is_boolean(tls)) || !user != !pass) {
		snprintf(msg, len, "registry settings for '%s': an object with "
			 "scheme, tls_verify (boolean), ca_pem, username and "
			 "password (together)", host);
		return NULL;
	}
	if (scheme && strcmp(scheme, "http") && strcmp(scheme, "https")) {
		snprintf(msg, len, "registry %s: scheme must be http or https",
			 host);
		return NULL;
	}
	h = xzalloc(sizeof(*h));
	h->host = xstrdup(host);
	h->scheme = xstrdup(scheme ? scheme : "https");
	h->tls_verify = tls ? json_is_true(tls) : true;
	h->runtime = true;
	if (user) {
		h->username = xstrdup(user);
		h->password = xstrdup(pass);
	}
	if (ca)			/* from the saved table */
		h->ca_file = xstrdup(ca);
	else if (pem && write_ca(pem, &h->ca_file, msg, len)) {
		host_free(h);
		return NULL;
	}
	return h;
}

int hosts_apply(const char *host, json_t *settings, char *msg, size_t len)
{
	const struct cfg_host *old = config_host(&cfg, host);
	struct cfg_host *h;

	if (old && !old->runtime) {
		info("registry %s: the settings of the config file are kept, "
		     "not those of the mount request", host);
		return 0;
	}
	json_object_del(settings, "ca_file");	/* only ca_pem from outside */
	h = host_from_json(host, settings, msg, len);
	if (!h)
		return -EINVAL;
	if (old && same_host(old, h)) {
		host_free(h);
		return 0;
	}
	h->next = cfg.hosts;
	cfg.hosts = h;
	info("registry %s: %s%s%s%s (from a mount request)", host, h->scheme,
	     h->tls_verify ? "" : ", TLS not verified",
	     h->ca_file ? ", CA " : "", h->ca_file ? h->ca_file : "");
	if (h->username)
		info("registry %s: credentials from the mount request", host);
	return 0;
}

/* The runtime settings in force (the first entry of each host). */
json_t *hosts_json(void)
{
	const struct cfg_host *h;
	json_t *arr = json_array(), *o;

	for (h = cfg.hosts; h; h = h->next) {
		if (!h->runtime || config_host(&cfg, h->host) != h)
			continue;
		o = json_pack("{s:s, s:s, s:b}", "host", h->host, "scheme",
			      h->scheme, "tls_verify", h->tls_verify);
		if (o && h->ca_file)
			json_object_set_new(o, "ca_file",
					    json_string(h->ca_file));
		if (o)
			json_array_append_new(arr, o);
	}
	return arr;
}

/* At start, from the saved table: before the mounts' sources are made. */
void hosts_load(json_t *arr)
{
	const struct cfg_host *old;
	struct cfg_host *h;
	const char *host;
	char msg[256];
	size_t i;
	json_t *o;

	json_array_foreach(arr, i, o) {
		host = json_string_value(json_object_get(o, "host"));
		old = host ? config_host(&cfg, host) : NULL;
		if (!host || (old && !old->runtime))
			continue;
		json_object_del(o, "username");
		json_object_del(o, "password");
		json_object_del(o, "ca_pem");
		h = host_from_json(host, o, msg, sizeof(msg));
		if (!h) {
			warn("saved registry settings: %s", msg);
			continue;
		}
		if (h->ca_file && access(h->ca_file, R_OK))
			warn("registry %s: CA %s: %s", host, h->ca_file,
			     strerror(errno));
		h->next = cfg.hosts;
		cfg.hosts = h;
		info("registry %s: %s%s (saved from a mount request)", host,
		     h->scheme, h->tls_verify ? "" : ", TLS not verified");
	}
}
