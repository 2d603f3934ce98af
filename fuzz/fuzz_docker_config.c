// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for docker-style auth files (config.json, auth.json;
 * lib/registry_auth.c), which users write by hand: look up the
 * credentials of a few hosts; found ones have a non-empty user and no
 * NUL cut into them.
 */
#include "fuzz.h"
#include "nydusfs/registry_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const hosts[] = {
		"127.0.0.1:5000", "docker.io", "r.example", "h",
	};
	struct nydusfs_cred c;
	uint8_t out[4096];
	size_t i, n;

	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		if (!nydusfs_auth_find_cred((const char *)data, size, hosts[i],
					    &c))
			FUZZ_ASSERT(c.user && *c.user && c.pass);
		else
			FUZZ_ASSERT(!c.user && !c.pass);
		nydusfs_cred_free(&c);
	}
	if (size * 3 / 4 + 3 <= sizeof(out) &&
	    !nydusfs_base64_decode((const char *)data, size, out, &n))
		FUZZ_ASSERT(n <= size * 3 / 4 + 2);
	return 0;
}
