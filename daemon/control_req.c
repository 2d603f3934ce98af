// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: the requests of the control socket, parsed and checked
 * (Documentation/nydusfsd.rst, "Control protocol").  Pure: a line in, a
 * struct ctl_request or a message out; control.c does what it says.  The
 * bytes come from any local process allowed to connect (the socket is
 * 0600, but a mistaken client is still a client): every field is checked
 * for type and range here, and file descriptors are only ever named by
 * their index among the ones that came with the request.
 */
#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nydusfs/format.h"
#include "nydusfsd.h"

static const char *const ctl_names[NR_CTL] = {
	[CTL_PING] = "ping", [CTL_MOUNT] = "mount", [CTL_UMOUNT] = "umount",
	[CTL_STATUS] = "status", [CTL_METRICS] = "metrics",
	[CTL_CACHE] = "cache", [CTL_TRACE] = "trace", [CTL_EARLY] = "early",
};

static int refuse(char *why, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* An fd index: -1 if absent, -2 if not an index of one that came. */
static int fd_index(json_t *v, unsigned int nfds)
{
	json_int_t i;

	if (!v)
		return -1;
	i = json_integer_value(v);
	if (!json_is_integer(v) || i < 0 || i >= nfds)
		return -2;
	return i;
}

/* registry:HOST/NAME or HOST/NAME, not localfs:DIR or /DIR */
static bool is_registry_spec(const char *spec)
{
	if (!strncmp(spec, "registry:", 9))
		spec += 9;
	return strchr(spec, '/') && strncmp(spec, "localfs:", 8) &&
	       spec[0] != '/';
}

static int parse_source(struct ctl_request *r, size_t i, json_t *s,
			unsigned int nfds, char *why, size_t size)
{
	const char *spec = json_is_string(s) ? json_string_value(s) :
			   json_string_value(json_object_get(s, "spec"));
	int fd = json_is_object(s) ? fd_index(json_object_get(s, "fd"), nfds) :
		 -1;

	json_t *settings = json_is_object(s) ?
			   json_object_get(s, "registry") : NULL;

	if (!spec || !*spec || fd == -2)
		return refuse(why, size, "source %zu: needs a spec (and a valid fd index)",
			      i);
	if (settings && (!json_is_object(settings) || !is_registry_spec(spec)))
		return refuse(why, size, "source '%.200s': registry settings for a source that is not registry:HOST/NAME",
			      spec);
	strv_add(&r->specs, spec);
	r->spec_fds[i] = fd;
	r->spec_settings[i] = settings;
	return 0;
}

static int parse_sources(struct ctl_request *r, json_t *srcs,
			 unsigned int nfds, char *why, size_t size)
{
	json_t *s;
	size_t i;
	int ret;

	r->spec_fds = xzalloc((json_array_size(srcs) + 1) * sizeof(int));
	r->spec_settings = xzalloc((json_array_size(srcs) + 1) *
				   sizeof(*r->spec_settings));
	json_array_foreach(srcs, i, s) {
		ret = parse_source(r, i, s, nfds, why, size);
		if (ret)
			return ret;
	}
	return 0;
}

static int parse_mount(struct ctl_request *r, json_t *req, unsigned int nfds,
		       char *why, size_t size)
{
	json_t *srcs = json_object_get(req, "sources");
	json_t *pf = json_object_get(req, "prefetch");

	r->mountpoint = json_string_value(json_object_get(req, "mountpoint"));
	r->bootstrap = json_string_value(json_object_get(req, "bootstrap"));
	r->bootstrap_fd = fd_index(json_object_get(req, "bootstrap_fd"), nfds);
	r->prefetch = pf ? json_is_true(pf) : true;
	if (!r->mountpoint || r->mountpoint[0] != '/' || !r->bootstrap ||
	    (r->bootstrap[0] != '/' && r->bootstrap_fd < 0) ||
	    r->bootstrap_fd == -2 || (srcs && !json_is_array(srcs)) ||
	    (pf && !json_is_boolean(pf)))
		return refuse(why, size, "mount needs an absolute mountpoint, a bootstrap (path or fd) and an array of sources");
	return parse_sources(r, srcs, nfds, why, size);
}

/* early: {"blob": "sha256:HEX", "length": N, "sources": [...]} */
static int parse_early(struct ctl_request *r, json_t *req, unsigned int nfds,
		       char *why, size_t size)
{
	const char *blob = json_string_value(json_object_get(req, "blob"));
	json_t *len = json_object_get(req, "length");
	json_t *srcs = json_object_get(req, "sources");

	if (!blob || strncmp(blob, "sha256:", 7) || strlen(blob) != 71 ||
	    nydusfs_hex_to_digest(blob + 7, r->blob))
		return refuse(why, size, "early needs a blob digest sha256:HEX");
	if (!json_is_integer(len) || json_integer_value(len) <= 0)
		return refuse(why, size, "early needs a length in bytes above 0");
	if (!json_is_array(srcs) || !json_array_size(srcs))
		return refuse(why, size, "early needs an array of sources");
	r->length = json_integer_value(len);
	return parse_sources(r, srcs, nfds, why, size);
}

static int parse_cache(struct ctl_request *r, json_t *req, char *why,
		       size_t size)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	json_t *lim = json_object_get(req, "limit");

	if (!op || !strcmp(op, "usage"))
		return 0;
	if (strcmp(op, "gc"))
		return refuse(why, size, "cache: unknown op '%.64s' (usage or gc)",
			      op);
	r->gc = true;
	if (!lim)
		return 0;
	if (!json_is_integer(lim) || json_integer_value(lim) < 0)
		return refuse(why, size, "cache gc: limit must be a number of bytes");
	r->has_limit = true;
	r->limit = json_integer_value(lim);
	return 0;
}

static int parse_trace(struct ctl_request *r, json_t *req, char *why,
		       size_t size)
{
	json_t *reset = json_object_get(req, "reset");

	r->mountpoint = json_string_value(json_object_get(req, "mountpoint"));
	if (!r->mountpoint || r->mountpoint[0] != '/')
		return refuse(why, size, "trace needs an absolute mountpoint");
	if (reset && !json_is_boolean(reset))
		return refuse(why, size, "trace: reset must be true or false");
	r->reset = json_is_true(reset);
	return 0;
}

static int parse_args(struct ctl_request *r, json_t *req, unsigned int nfds,
		      char *why, size_t size)
{
	switch (r->cmd) {
	case CTL_MOUNT:
		return parse_mount(r, req, nfds, why, size);
	case CTL_UMOUNT:
		r->mountpoint = json_string_value(json_object_get(req,
								  "mountpoint"));
		return r->mountpoint ? 0 :
		       refuse(why, size, "umount needs a mountpoint");
	case CTL_CACHE:
		return parse_cache(r, req, why, size);
	case CTL_TRACE:
		return parse_trace(r, req, why, size);
	case CTL_EARLY:
		return parse_early(r, req, nfds, why, size);
	default:
		return 0;
	}
}

int ctl_request_parse(const char *line, unsigned int nfds,
		      struct ctl_request *r, char *why, size_t size)
{
	json_error_t jerr;
	const char *cmd;
	json_t *req;
	int ret;

	memset(r, 0, sizeof(*r));
	r->bootstrap_fd = -1;
	req = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(req)) {
		ret = refuse(why, size, "not a JSON object: %s",
			     req ? "wrong type" : jerr.text);
		json_decref(req);
		return ret;
	}
	r->json = req;
	cmd = json_string_value(json_object_get(req, "cmd"));
	for (r->cmd = 0; cmd && r->cmd < NR_CTL; r->cmd++)
		if (!strcmp(cmd, ctl_names[r->cmd]))
			break;
	if (!cmd || r->cmd == NR_CTL)
		ret = refuse(why, size, "unknown command '%.64s'", cmd ? cmd : "");
	else
		ret = parse_args(r, req, nfds, why, size);
	if (ret)
		ctl_request_free(r);
	return ret;
}

void ctl_request_free(struct ctl_request *r)
{
	strv_free(&r->specs);
	free(r->spec_fds);
	free(r->spec_settings);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

const char *ctl_request_name(const struct ctl_request *r)
{
	return r->cmd < NR_CTL ? ctl_names[r->cmd] : "?";
}

bool ctl_http_is_metrics(const char *req, size_t len)
{
	return len >= 13 && (!strncmp(req, "GET /metrics ", 13) ||
			     !strncmp(req, "GET /metrics\r", 13));
}
