// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for what a registry's answer carries besides the body
 * (lib/registry_auth.c): header lines, Retry-After (bounded wait),
 * Content-Range (first <= last < total), RFC 3339 dates, and the URLs of
 * Location headers (host, origin, the form logs show: never a query or a
 * password).
 */
#include "fuzz.h"
#include "nydusfs/registry_auth.h"

static void check_url(const char *s)
{
	char log[256], *host = nydusfs_url_host(s);

	nydusfs_url_for_log(s, log, sizeof(log));
	FUZZ_ASSERT(!strchr(log, '?') && !strchr(log, '#'));
	if (host) {
		FUZZ_ASSERT(!strchr(host, '/') && !strchr(host, '@'));
		FUZZ_ASSERT(nydusfs_url_same_origin(s, s) ||
			    !nydusfs_url_same_origin(s, "https://h/"));
	}
	free(host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_string(data, size), *v;
	uint64_t ms, first, last, total;
	int64_t when;

	if (!nydusfs_http_retry_after(s, 1700000000, 60000, &ms))
		FUZZ_ASSERT(ms <= 60000);
	if (!nydusfs_http_content_range(s, &first, &last, &total))
		FUZZ_ASSERT(first <= last && last < total);
	nydusfs_parse_rfc3339(s, &when);
	v = nydusfs_http_header_value(s, strlen(s), "Content-Range");
	if (v) {
		FUZZ_ASSERT(strlen(v) < strlen(s));
		nydusfs_http_content_range(v, &first, &last, &total);
	}
	free(v);
	check_url(s);
	free(s);
	return 0;
}
