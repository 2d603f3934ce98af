// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for nydusfsd's configuration file parser
 * (daemon/config.c): parse; a file that parses gives a configuration the
 * daemon can trust (absolute paths, sane ranges, http(s) mirrors).  Its
 * error messages go to stderr: run with -close_fd_mask=2.
 */
#include <strings.h>

#include "fuzz.h"
#include "nydusfsd.h"

static void check(const struct config *c)
{
	const struct cfg_host *h;
	unsigned int i;

	FUZZ_ASSERT(c->device[0] == '/' || !strncmp(c->device, "unix:", 5));
	FUZZ_ASSERT(c->cache_dir[0] == '/');
	FUZZ_ASSERT(c->retry_base_ms <= c->retry_max_ms);
	FUZZ_ASSERT(c->max_inflight >= 1 && c->merge_limit >= 4096);
	FUZZ_ASSERT(c->prefetch_inflight <= c->max_inflight);
	for (h = c->hosts; h; h = h->next) {
		FUZZ_ASSERT(!strcmp(h->scheme, "http") ||
			    !strcmp(h->scheme, "https"));
		FUZZ_ASSERT(!h->username == !h->password);
		for (i = 0; i < h->mirrors.n; i++)
			FUZZ_ASSERT(!strncasecmp(h->mirrors.v[i], "http://", 7) ||
				    !strncasecmp(h->mirrors.v[i], "https://", 8));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size);
	struct config c;

	config_defaults(&c);
	if (!config_parse("fuzz.conf", text, &c))
		check(&c);
	config_free(&c);
	free(text);
	return 0;
}
