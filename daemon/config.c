// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: the configuration file (Documentation/nydusfsd.rst,
 * "Configuration").  An INI dialect: "[section]" or "[section "arg"]"
 * headers, "key = value" lines, full-line comments starting with '#' or
 * ';', values optionally in double quotes.  Every key is known: an unknown
 * section or key, a bad value or a repeated single-valued key stops the
 * daemon with "FILE:LINE: reason".
 *
 * A parser of our own rather than libinih: the format is thirty lines of
 * grammar, and owning it gives each error its line and its reason and
 * lets repeatable keys (mirror, localfs) keep their order with no extra
 * dependency.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nydusfsd.h"

struct config cfg;

enum ktype { K_STR, K_UINT, K_SIZE, K_BOOL, K_LOGLEVEL, K_STRV, K_URLV };

struct key {
	const char *section;	/* "registry-host": [registry "HOST"] */
	const char *name;
	enum ktype type;
	size_t off;		/* in struct config, or struct cfg_host */
	uint64_t min, max;
};

#define C(f)	offsetof(struct config, f)
#define H(f)	offsetof(struct cfg_host, f)

static const struct key keys[] = {
	{ "daemon", "device", K_STR, C(device) },
	{ "daemon", "socket", K_STR, C(socket) },
	{ "daemon", "state_dir", K_STR, C(state_dir) },
	{ "daemon", "log_level", K_LOGLEVEL, C(log_level) },
	{ "daemon", "workers", K_UINT, C(workers), 0, 16 },
	{ "daemon", "trace_limit", K_UINT, C(trace_limit), 1, 100000000 },
	{ "daemon", "metrics_listen", K_STR, C(metrics_listen) },
	{ "cache", "dir", K_STR, C(cache_dir) },
	{ "cache", "limit", K_SIZE, C(cache_limit), 0, UINT64_MAX },
	{ "cache", "sync", K_BOOL, C(cache_sync) },
	{ "cache", "gc_interval", K_UINT, C(gc_interval), 1, 86400 },
	{ "fetch", "max_inflight", K_UINT, C(max_inflight), 1, 1024 },
	{ "fetch", "merge_limit", K_SIZE, C(merge_limit), 4096, 1ULL << 30 },
	{ "fetch", "readahead", K_SIZE, C(readahead), 0, 1ULL << 30 },
	{ "fetch", "retries", K_UINT, C(retries), 0, 100 },
	{ "fetch", "retry_base_ms", K_UINT, C(retry_base_ms), 1, 600000 },
	{ "fetch", "retry_max_ms", K_UINT, C(retry_max_ms), 1, 3600000 },
	{ "fetch", "connect_timeout", K_UINT, C(connect_timeout), 1, 3600 },
	{ "fetch", "stall_timeout", K_UINT, C(stall_timeout), 1, 3600 },
	{ "fetch", "request_timeout", K_UINT, C(request_timeout), 0, 86400 },
	{ "prefetch", "enable", K_BOOL, C(prefetch) },
	{ "prefetch", "all", K_BOOL, C(prefetch_all) },
	{ "prefetch", "bandwidth", K_SIZE, C(prefetch_bandwidth), 0, UINT64_MAX },
	{ "prefetch", "max_inflight", K_UINT, C(prefetch_inflight), 1, 1024 },
	{ "sources", "localfs", K_STRV, C(localfs) },
	{ "sources", "registry", K_STRV, C(registry) },
	{ "registry", "auth_file", K_STR, C(auth_file) },
	{ "registry", "ca_file", K_STR, C(ca_file) },
	{ "registry-host", "scheme", K_STR, H(scheme) },
	{ "registry-host", "ca_file", K_STR, H(ca_file) },
	{ "registry-host", "tls_verify", K_BOOL, H(tls_verify) },
	{ "registry-host", "username", K_STR, H(username) },
	{ "registry-host", "password", K_STR, H(password) },
	{ "registry-host", "mirror", K_URLV, H(mirrors) },
};

#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

struct parser {
	const char *name;
	unsigned int line;
	struct config *c;
	const char *section;		/* NULL before the first header */
	struct cfg_host *host;
	bool seen[NKEYS];
};

static int perr(const struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int perr(const struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->line)
		fprintf(stderr, "nydusfsd: %s:%u: ", p->name, p->line);
	else
		fprintf(stderr, "nydusfsd: %s: ", p->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -EINVAL;
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->device = xstrdup("/dev/nydusfs");
	c->socket = xstrdup("/run/nydusfs/nydusfsd.sock");
	c->state_dir = xstrdup("/var/lib/nydusfs");
	c->cache_dir = xstrdup("/var/cache/nydusfs");
	c->log_level = LOG_INFO_;
	c->cache_sync = true;
	c->gc_interval = 300;
	c->trace_limit = 1000000;
	c->max_inflight = 8;
	c->merge_limit = 4 << 20;
	c->readahead = 8 << 20;
	c->retries = 4;
	c->retry_base_ms = 200;
	c->retry_max_ms = 10000;
	c->connect_timeout = 10;
	c->stall_timeout = 30;
	c->prefetch = true;
	c->prefetch_inflight = 2;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
			   end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* A value, unquoted: "..." keeps spaces and '#'; \" and \\ escape. */
static int unquote(const struct parser *p, char *v)
{
	char *r, *w;

	if (*v != '"')
		return 0;
	for (r = v + 1, w = v; *r && *r != '"'; r++) {
		if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
			r++;
		*w++ = *r;
	}
	if (*r != '"' || r[1])
		return perr(p, "unterminated quoted value");
	*w = '\0';
	return 0;
}

static const char *const sections[] = {
	"daemon", "cache", "fetch", "prefetch", "sources", "registry",
};

static int parse_header(struct parser *p, char *s)
{
	char *end = strchr(s, ']'), *arg;
	struct cfg_host *h;
	unsigned int i;

	if (!end || trim(end + 1)[0])
		return perr(p, "bad section header (expected [name] or [name \"arg\"])");
	*end = '\0';
	s = trim(s + 1);
	arg = strchr(s, ' ');
	if (arg) {
		*arg++ = '\0';
		arg = trim(arg);
		if (unquote(p, arg) || !*arg)
			return perr(p, "bad section argument");
	}
	memset(p->seen, 0, sizeof(p->seen));
	p->host = NULL;
	if (!strcmp(s, "registry") && arg) {
		for (h = p->c->hosts; h; h = h->next)
			if (!strcmp(h->host, arg))
				return perr(p, "registry \"%s\" configured twice", arg);
		h = xzalloc(sizeof(*h));
		h->host = xstrdup(arg);
		h->tls_verify = true;
		h->next = p->c->hosts;
		p->c->hosts = h;
		p->host = h;
		p->section = "registry-host";
		return 0;
	}
	if (arg)
		return perr(p, "section [%s] takes no argument", s);
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		if (!strcmp(s, sections[i])) {
			p->section = sections[i];
			return 0;
		}
	}
	return perr(p, "unknown section [%s]", s);
}

static int set_value(struct parser *p, const struct key *k, const char *v)
{
	void *base = p->host ? (void *)p->host : (void *)p->c;
	void *f = (char *)base + k->off;
	uint64_t u;
	bool b;
	int lvl;

	switch (k->type) {
	case K_STR:
		if (!*v)
			return perr(p, "%s: empty value", k->name);
		free(*(char **)f);
		*(char **)f = xstrdup(v);
		return 0;
	case K_URLV:
		if (strncasecmp(v, "http://", 7) && strncasecmp(v, "https://", 8))
			return perr(p, "%s: '%s' is not an http:// or https:// URL",
				    k->name, v);
		/* fall through */
	case K_STRV:
		if (!*v)
			return perr(p, "%s: empty value", k->name);
		strv_add(f, v);
		return 0;
	case K_UINT:
		if (parse_uint(v, UINT32_MAX, &u) || u < k->min || u > k->max)
			return perr(p, "%s: '%s' is not a number from %llu to %llu",
				    k->name, v, (unsigned long long)k->min,
				    (unsigned long long)k->max);
		*(unsigned int *)f = u;
		return 0;
	case K_SIZE:
		if (parse_size(v, &u) || u < k->min || u > k->max)
			return perr(p, "%s: '%s' is not a size (like 4096, 512K, 4M, 2G) from %llu to %llu",
				    k->name, v, (unsigned long long)k->min,
				    (unsigned long long)k->max);
		*(uint64_t *)f = u;
		return 0;
	case K_BOOL:
		if (parse_bool(v, &b))
			return perr(p, "%s: '%s' is not true or false", k->name, v);
		*(bool *)f = b;
		return 0;
	case K_LOGLEVEL:
		lvl = nfd_log_level_by_name(v);
		if (lvl < 0)
			return perr(p, "%s: '%s' is not error, warning, info or debug",
				    k->name, v);
		*(int *)f = lvl;
		return 0;
	}
	return -EINVAL;
}

static int parse_keyval(struct parser *p, char *s)
{
	char *eq = strchr(s, '='), *name, *val;
	unsigned int i;
	int ret;

	if (!eq)
		return perr(p, "expected 'key = value' or a [section]");
	*eq = '\0';
	name = trim(s);
	val = trim(eq + 1);
	if (!*name)
		return perr(p, "missing key before '='");
	if (!p->section)
		return perr(p, "'%s' outside any [section]", name);
	ret = unquote(p, val);
	if (ret)
		return ret;
	for (i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].section, p->section) ||
		    strcmp(keys[i].name, name))
			continue;
		if (p->seen[i] && keys[i].type != K_STRV &&
		    keys[i].type != K_URLV)
			return perr(p, "'%s' given twice in this section", name);
		p->seen[i] = true;
		return set_value(p, &keys[i], val);
	}
	return perr(p, "unknown key '%s' in [%s]", name,
		    p->host ? "registry \"HOST\"" : p->section);
}

static int check_config(struct parser *p)
{
	struct config *c = p->c;
	struct cfg_host *h;

	p->line = 0;
	if (c->device[0] != '/' && strncmp(c->device, "unix:", 5))
		return perr(p, "device: '%s' is not an absolute path", c->device);
	if (c->cache_dir[0] != '/')
		return perr(p, "cache dir: '%s' is not an absolute path", c->cache_dir);
	if (c->retry_base_ms > c->retry_max_ms)
		return perr(p, "retry_base_ms is above retry_max_ms");
	if (c->prefetch_inflight > c->max_inflight)
		c->prefetch_inflight = c->max_inflight;
	for (h = c->hosts; h; h = h->next) {
		if (!h->scheme)
			h->scheme = xstrdup("https");
		if (strcmp(h->scheme, "https") && strcmp(h->scheme, "http"))
			return perr(p, "registry \"%s\": scheme must be http or https",
				    h->host);
		if (!h->username != !h->password)
			return perr(p, "registry \"%s\": username and password go together",
				    h->host);
	}
	return 0;
}

int config_parse(const char *name, const char *text, struct config *c)
{
	struct parser p = { .name = name, .c = c };
	char *copy = xstrdup(text), *line, *next, *s;
	int ret = 0;

	for (line = copy; line && !ret; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		p.line++;
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[')
			ret = parse_header(&p, s);
		else
			ret = parse_keyval(&p, s);
	}
	free(copy);
	if (!ret)
		ret = check_config(&p);
	return ret;
}

int config_load(const char *path, struct config *c)
{
	struct stat st;
	char *text;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "nydusfsd: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) || st.st_size > (1 << 20)) {
		fprintf(stderr, "nydusfsd: %s: %s\n", path,
			errno ? strerror(errno) : "larger than 1 MiB");
		close(fd);
		return -EINVAL;
	}
	text = xzalloc(st.st_size + 1);
	n = read(fd, text, st.st_size);
	close(fd);
	if (n != st.st_size) {
		fprintf(stderr, "nydusfsd: %s: short read\n", path);
		free(text);
		return -EIO;
	}
	if (memchr(text, '\0', n)) {
		fprintf(stderr, "nydusfsd: %s: not a text file\n", path);
		free(text);
		return -EINVAL;
	}
	free(c->path);
	c->path = xstrdup(path);
	ret = config_parse(path, text, c);
	free(text);
	return ret;
}

void config_free(struct config *c)
{
	struct cfg_host *h, *next;

	free(c->path);
	free(c->device);
	free(c->socket);
	free(c->state_dir);
	free(c->metrics_listen);
	free(c->cache_dir);
	free(c->auth_file);
	free(c->ca_file);
	strv_free(&c->localfs);
	strv_free(&c->registry);
	for (h = c->hosts; h; h = next) {
		next = h->next;
		free(h->host);
		free(h->scheme);
		free(h->ca_file);
		free(h->username);
		free(h->password);
		strv_free(&h->mirrors);
		free(h);
	}
	memset(c, 0, sizeof(*c));
}

const struct cfg_host *config_host(const struct config *c, const char *host)
{
	const struct cfg_host *h;

	for (h = c->hosts; h; h = h->next)
		if (!strcmp(h->host, host))
			return h;
	return NULL;
}
