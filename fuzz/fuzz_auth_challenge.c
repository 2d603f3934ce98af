// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for WWW-Authenticate challenges (lib/registry_auth.c),
 * which any registry (or anything answering in its place) sends: parse;
 * a Bearer result always has an http(s) realm, and the token request URL
 * made from it can always be built.
 */
#include <strings.h>

#include "fuzz.h"
#include "nydusfs/registry_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nydusfs_auth_challenge c;
	char *s = fuzz_string(data, size), *url;

	if (!nydusfs_auth_parse_challenge(s, &c)) {
		FUZZ_ASSERT(c.scheme == NYDUSFS_AUTH_BEARER ||
			    c.scheme == NYDUSFS_AUTH_BASIC);
		if (c.scheme == NYDUSFS_AUTH_BEARER) {
			FUZZ_ASSERT(c.realm &&
				    (!strncasecmp(c.realm, "https://", 8) ||
				     !strncasecmp(c.realm, "http://", 7)));
			url = nydusfs_auth_token_url(c.realm, c.service,
						     c.scope);
			FUZZ_ASSERT(url && !strncmp(url, c.realm,
						    strlen(c.realm)));
			free(url);
		}
	} else {
		FUZZ_ASSERT(!c.realm && !c.service && !c.scope && !c.error);
	}
	nydusfs_auth_challenge_free(&c);
	free(s);
	return 0;
}
