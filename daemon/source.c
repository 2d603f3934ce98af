// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: sources, the places a blob can be fetched from.
 *
 * A blob's sources, in the order they are tried: those of every
 * registered mount whose image names the blob (in mount order; for a
 * registry, its mirrors first, then the registry itself), then the global
 * ones of the config ([sources]).  Every chunk is checked against its
 * digest, so any source is as good as another for correctness: the order
 * is about speed and cost.  A source that fails a range (after its own
 * retries) hands the range's chunks to the next one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nydusfsd.h"

static LIST_HEAD(all_sources);
/*
 * Counters of sources that went away (their last mount was unregistered):
 * kept by name, so that a Prometheus counter never goes back, and handed
 * to a new source of the same name.
 */
struct retired {
	struct list_head node;
	char *name;
	const struct backend_ops *ops;
	struct src_metrics m;
};
static LIST_HEAD(retired);
static unsigned int nretired;
#define MAX_RETIRED	256

static struct source retired_view;	/* what sources_foreach shows */
static struct source **globals;
static unsigned int nglobals;
static unsigned int generation = 1;

struct source *source_get(struct source *s)
{
	s->refs++;
	return s;
}

static void retire(struct source *s)
{
	struct retired *r;

	if (nretired == MAX_RETIRED) {
		r = list_first_entry(&retired, struct retired, node);
		list_del_init(&r->node);
		free(r->name);
		free(r);
		nretired--;
	}
	r = xzalloc(sizeof(*r));
	r->name = xstrdup(s->name);
	r->ops = s->ops;
	r->m = s->m;
	list_add_tail(&r->node, &retired);
	nretired++;
}

void source_put(struct source *s)
{
	if (--s->refs)
		return;
	list_del_init(&s->node);
	retire(s);
	if (s->ops->free)
		s->ops->free(s);
	free(s->name);
	free(s);
}

static void push(struct source ***v, unsigned int *n, struct source *s)
{
	struct source **p = realloc(*v, (*n + 1) * sizeof(*p));

	if (!p) {
		err("out of memory");
		abort();
	}
	*v = p;
	(*v)[(*n)++] = s;
}

/* A live source of that name, shared: one set of counters per name. */
static struct source *source_find(const char *name)
{
	struct source *s;

	list_for_each_entry(s, &all_sources, node)
		if (!strcmp(s->name, name))
			return source_get(s);
	return NULL;
}

static struct source *registry_get(const char *ref, const char *mirror)
{
	struct source *s;
	size_t len;
	char *name;

	if (mirror) {
		/* the same name registry_new() gives (credentials left out) */
		for (len = strlen(mirror); len && mirror[len - 1] == '/'; len--)
			;
		name = xasprintf("mirror:%.*s (%s)", (int)len, mirror, ref);
		if (strchr(name, '@')) {
			free(name);
			return registry_new(ref, mirror);
		}
	} else {
		name = xasprintf("registry:%s", ref);
	}
	s = source_find(name);
	free(name);
	return s ? s : registry_new(ref, mirror);
}

/* Registry references have a host part: a dot, a colon or "localhost". */
static bool looks_like_registry(const char *spec)
{
	const char *slash = strchr(spec, '/');

	if (!slash || spec[0] == '/')
		return false;
	return memchr(spec, '.', slash - spec) || memchr(spec, ':', slash - spec) ||
	       (slash - spec == 9 && !strncmp(spec, "localhost", 9));
}

static int add_registry(const char *ref, struct source ***out,
			unsigned int *n)
{
	const struct cfg_host *h;
	struct source *s;
	char *host;
	unsigned int i;

	host = xstrdup(ref);
	*strchr(host, '/') = '\0';
	h = config_host(&cfg, host);
	free(host);
	for (i = 0; h && i < h->mirrors.n; i++) {
		s = registry_get(ref, h->mirrors.v[i]);
		if (!s)
			return -EINVAL;
		push(out, n, s);
	}
	s = registry_get(ref, NULL);
	if (!s)
		return -EINVAL;
	push(out, n, s);
	return 0;
}

int source_parse(const char *spec, int dirfd, struct source ***out,
		 unsigned int *n)
{
	struct source *s;
	char *name;

	if (!strncmp(spec, "localfs:", 8) || spec[0] == '/') {
		if (!strncmp(spec, "localfs:", 8))
			spec += 8;
		if (spec[0] != '/' && dirfd < 0) {
			err("source %s: a localfs directory must be an absolute path",
			    spec);
			return -EINVAL;
		}
		name = xasprintf("localfs:%s", spec);
		s = source_find(name);
		free(name);
		if (!s)
			s = localfs_new(spec, dirfd);
		if (!s)
			return -EINVAL;
		push(out, n, s);
		return 0;
	}
	if (!strncmp(spec, "registry:", 9))
		spec += 9;
	else if (!looks_like_registry(spec)) {
		err("source '%s': neither localfs:DIR nor registry:HOST/NAME", spec);
		return -EINVAL;
	}
	if (!strchr(spec, '/') || strchr(spec, '/')[1] == '\0') {
		err("source '%s': a registry reference is HOST[:PORT]/NAME", spec);
		return -EINVAL;
	}
	return add_registry(spec, out, n);
}

/* A source every blob may use, after those of its mounts. */
void sources_add_global(struct source *s)
{
	push(&globals, &nglobals, s);
	generation++;
}

/* The [sources] of the config; a bad one stops the daemon. */
int sources_global_init(void)
{
	unsigned int i;
	char *spec;
	int ret;

	for (i = 0; i < cfg.localfs.n; i++)
		if (source_parse(cfg.localfs.v[i], -1, &globals, &nglobals))
			return -EINVAL;
	for (i = 0; i < cfg.registry.n; i++) {
		spec = strncmp(cfg.registry.v[i], "registry:", 9) ?
		       xasprintf("registry:%s", cfg.registry.v[i]) :
		       xstrdup(cfg.registry.v[i]);
		ret = source_parse(spec, -1, &globals, &nglobals);
		free(spec);
		if (ret)
			return ret;
	}
	return 0;
}

void sources_register(struct source *s)
{
	struct retired *r;

	s->refs = 1;
	list_add_tail(&s->node, &all_sources);
	list_for_each_entry(r, &retired, node) {
		if (strcmp(r->name, s->name))
			continue;
		s->m = r->m;
		list_del_init(&r->node);
		free(r->name);
		free(r);
		nretired--;
		return;
	}
}

/* Every source, live or retired (then a stand-in with its counters). */
void sources_foreach(void (*fn)(struct source *s, void *arg), void *arg)
{
	struct retired *r;
	struct source *s;

	list_for_each_entry(s, &all_sources, node)
		fn(s, arg);
	list_for_each_entry(r, &retired, node) {
		retired_view.name = r->name;
		retired_view.ops = r->ops;
		retired_view.m = r->m;
		fn(&retired_view, arg);
	}
}

void sources_changed(void)
{
	generation++;
}

static void add_unique(struct cblob *b, struct source *s)
{
	unsigned int i;

	for (i = 0; i < b->nsrcs; i++)
		if (b->srcs[i] == s)
			return;
	push(&b->srcs, &b->nsrcs, source_get(s));
}

static void add_mount_sources(struct mount *m, void *arg)
{
	struct cblob *b = arg;
	unsigned int i;
	uint32_t k;

	for (k = 0; k < m->nblobs; k++) {
		if (memcmp(m->digests[k], b->digest, NYDUSFS_DIGEST_SIZE))
			continue;
		for (i = 0; i < m->nsrcs; i++)
			add_unique(b, m->srcs[i]);
		return;
	}
}

unsigned int blob_sources(struct cblob *b, struct source ***out)
{
	unsigned int i;

	if (b->srcs_gen != generation) {
		for (i = 0; i < b->nsrcs; i++)
			source_put(b->srcs[i]);
		b->nsrcs = 0;
		mounts_foreach(add_mount_sources, b);
		for (i = 0; i < nglobals; i++)
			add_unique(b, globals[i]);
		b->srcs_gen = generation;
	}
	*out = b->srcs;
	return b->nsrcs;
}

void sources_exit(void)
{
	unsigned int i;

	for (i = 0; i < nglobals; i++)
		source_put(globals[i]);
	free(globals);
	globals = NULL;
	nglobals = 0;
}
