// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: metrics in the Prometheus text format (version 0.0.4), served
 * by the control socket's "metrics" command and, with
 * [daemon] metrics_listen, over HTTP (control.c).  Counters are plain
 * integers updated on the loop; this file only formats them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nydusfsd.h"

const double metrics_lat_bounds[LAT_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
};

void metrics_lat_observe(struct src_metrics *m, uint64_t us)
{
	double s = us / 1e6;
	unsigned int i;

	m->lat_count++;
	m->lat_sum += s;
	for (i = 0; i < LAT_BUCKETS; i++)
		if (s <= metrics_lat_bounds[i])
			m->lat_bucket[i]++;
}

/* A label value: backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
}

static void head(FILE *f, const char *name, const char *type,
		 const char *help)
{
	fprintf(f, "# HELP nydusfsd_%s %s\n# TYPE nydusfsd_%s %s\n", name, help,
		name, type);
}

static void one(FILE *f, const char *name, const char *type, const char *help,
		unsigned long long v)
{
	head(f, name, type, help);
	fprintf(f, "nydusfsd_%s %llu\n", name, v);
}

struct src_field {
	const char *name, *help;
	size_t off;
};

static const struct src_field src_fields[] = {
	{ "fetch_bytes_total", "Compressed bytes received from a source.",
	  offsetof(struct src_metrics, bytes) },
	{ "fetch_chunks_total", "Chunks received from a source (before verification).",
	  offsetof(struct src_metrics, chunks) },
	{ "fetch_requests_total", "Ranged requests sent to a source.",
	  offsetof(struct src_metrics, requests) },
	{ "fetch_errors_total", "Ranged requests that failed after their retries.",
	  offsetof(struct src_metrics, errors) },
	{ "fetch_retries_total", "Retries of requests to a source.",
	  offsetof(struct src_metrics, retries) },
	{ "verify_failures_total", "Chunks from a source that failed verification.",
	  offsetof(struct src_metrics, verify_failures) },
	{ "http_connections_total",
	  "Connections a source's requests had to open (the others reused one).",
	  offsetof(struct src_metrics, connects) },
};

static const char *const http_versions[NR_HTTP_VERSIONS] = {
	[HTTP_V1_0] = "1.0", [HTTP_V1_1] = "1.1", [HTTP_V2] = "2",
	[HTTP_V3] = "3",
};

struct src_ctx {
	FILE *f;
	const struct src_field *field;
	bool hist, versions;
};

static void src_labels(FILE *f, const struct source *s)
{
	fprintf(f, "backend=\"%s\",source=\"", s->ops->kind);
	put_label(f, s->name);
	fputc('"', f);
}

static void src_line(struct source *s, void *arg)
{
	struct src_ctx *c = arg;
	unsigned int i;

	if (c->versions) {
		for (i = 0; i < NR_HTTP_VERSIONS; i++) {
			if (!s->m.http_responses[i])
				continue;
			fprintf(c->f, "nydusfsd_http_responses_total{");
			src_labels(c->f, s);
			fprintf(c->f, ",version=\"%s\"} %llu\n", http_versions[i],
				(unsigned long long)s->m.http_responses[i]);
		}
		return;
	}
	if (!c->hist) {
		fprintf(c->f, "nydusfsd_%s{", c->field->name);
		src_labels(c->f, s);
		fprintf(c->f, "} %llu\n", (unsigned long long)
			*(const uint64_t *)((const char *)&s->m + c->field->off));
		return;
	}
	for (i = 0; i < LAT_BUCKETS; i++) {
		fprintf(c->f, "nydusfsd_fetch_request_duration_seconds_bucket{");
		src_labels(c->f, s);
		fprintf(c->f, ",le=\"%g\"} %llu\n", metrics_lat_bounds[i],
			(unsigned long long)s->m.lat_bucket[i]);
	}
	fprintf(c->f, "nydusfsd_fetch_request_duration_seconds_bucket{");
	src_labels(c->f, s);
	fprintf(c->f, ",le=\"+Inf\"} %llu\n", (unsigned long long)s->m.lat_count);
	fprintf(c->f, "nydusfsd_fetch_request_duration_seconds_sum{");
	src_labels(c->f, s);
	fprintf(c->f, "} %.6f\n", s->m.lat_sum);
	fprintf(c->f, "nydusfsd_fetch_request_duration_seconds_count{");
	src_labels(c->f, s);
	fprintf(c->f, "} %llu\n", (unsigned long long)s->m.lat_count);
}

static void mount_lines(struct mount *m, void *arg)
{
	FILE *f = arg;
	static const char *const states[] = { "total", "done", "failed" };
	uint64_t v[] = { m->pf_total, m->pf_done, m->pf_failed };
	unsigned int i;

	for (i = 0; i < 3; i++) {
		fprintf(f, "nydusfsd_prefetch_chunks{mountpoint=\"");
		put_label(f, m->mountpoint);
		fprintf(f, "\",state=\"%s\"} %llu\n", states[i],
			(unsigned long long)v[i]);
	}
}

static unsigned long long rss_bytes(void)
{
	unsigned long long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * sysconf(_SC_PAGESIZE);
}

char *metrics_text(void)
{
	static const char *const prio[] = { "demand", "readahead", "prefetch" };
	struct src_ctx c = {};
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f;

	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	c.f = f;
	for (i = 0; i < sizeof(src_fields) / sizeof(src_fields[0]); i++) {
		c.field = &src_fields[i];
		head(f, c.field->name, "counter", c.field->help);
		sources_foreach(src_line, &c);
	}
	head(f, "fetch_request_duration_seconds", "histogram",
	     "Time from sending a ranged request to its last byte.");
	c.hist = true;
	sources_foreach(src_line, &c);
	head(f, "http_responses_total", "counter",
	     "Answers to a source's requests, by HTTP version.");
	c.versions = true;
	sources_foreach(src_line, &c);

	one(f, "cache_hits_total", "counter",
	    "Chunks of READ requests already in the cache.", fstats.cache_hits);
	one(f, "cache_misses_total", "counter",
	    "Chunks of READ requests that had to be fetched.", fstats.cache_misses);
	one(f, "chunks_fetched_total", "counter",
	    "Chunks fetched, verified and written to the cache.",
	    fstats.chunks_fetched);
	one(f, "chunks_failed_total", "counter",
	    "Chunks that failed from every source.", fstats.failed_chunks);
	one(f, "verification_failures_total", "counter",
	    "Chunks whose data did not match their digest.",
	    fstats.verify_failures);
	head(f, "verify_cpu_seconds_total", "counter",
	     "CPU time spent decompressing chunks and checking their digests.");
	fprintf(f, "nydusfsd_verify_cpu_seconds_total %.6f\n", fstats.verify_ns / 1e9);
	one(f, "merged_requests_total", "counter",
	    "Ranged requests that carried more than one chunk.",
	    fstats.merged_ranges);
	one(f, "readahead_chunks_total", "counter",
	    "Chunks queued by sequential readahead.", fstats.readahead_chunks);
	one(f, "inflight_requests", "gauge",
	    "Ranged requests in flight.", fstats.inflight_ranges);
	one(f, "early_fetches_total", "counter",
	    "Early fetches started: a blob's startup profile before its registration.",
	    estats.started);
	one(f, "early_failures_total", "counter",
	    "Early fetches that failed, or whose bytes failed a chunk's check.",
	    estats.failed);
	one(f, "early_bytes_total", "counter",
	    "Compressed bytes early fetches received.", estats.bytes);
	one(f, "early_served_requests_total", "counter",
	    "Ranges served from an early fetch's bytes instead of a request.",
	    estats.served_ranges);
	one(f, "early_held_bytes", "gauge",
	    "Bytes of early fetches held in memory.", early_held());
	head(f, "queued_chunks", "gauge", "Chunks waiting for a request, by priority.");
	for (i = 0; i < NR_PRIO; i++)
		fprintf(f, "nydusfsd_queued_chunks{priority=\"%s\"} %llu\n",
			prio[i], (unsigned long long)fstats.queued[i]);
	head(f, "device_requests_total", "counter",
	     "Requests read from /dev/nydusfs, by opcode.");
	fprintf(f, "nydusfsd_device_requests_total{op=\"init\"} %llu\n"
		"nydusfsd_device_requests_total{op=\"open\"} %llu\n"
		"nydusfsd_device_requests_total{op=\"read\"} %llu\n"
		"nydusfsd_device_requests_total{op=\"close\"} %llu\n",
		(unsigned long long)dstats.init, (unsigned long long)dstats.open,
		(unsigned long long)dstats.read, (unsigned long long)dstats.close);
	one(f, "device_present_after_chunks_total", "counter",
	    "Prefetched chunks READ replies named present after their range (the kernel reads them without an upcall).",
	    dstats.present_after);
	one(f, "device_reply_errors_total", "counter",
	    "Replies the kernel refused.", dstats.reply_errors);
	one(f, "device_bad_requests_total", "counter",
	    "Malformed requests.", dstats.bad_requests);
	head(f, "prefetch_chunks", "gauge",
	     "Prefetch progress of each registered mount.");
	mounts_foreach(mount_lines, f);
	one(f, "mounts", "gauge", "Registered mounts.", mount_count());
	one(f, "cache_open_blobs", "gauge", "Blobs with an open cache file.",
	    cache_blob_count());
	one(f, "resident_memory_bytes", "gauge", "Resident set size.",
	    rss_bytes());
	fclose(f);
	return buf;
}
