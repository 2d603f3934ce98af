// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for token server answers (lib/registry_auth.c): parse
 * the JSON; a token that parses has a value and a lifetime of at most a
 * year, is fresh when it arrives unless it is very short, and its renewal
 * comes before its end.
 */
#include "fuzz.h"
#include "nydusfs/registry_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const int64_t now = 1700000000;
	struct nydusfs_token t;
	uint64_t renew, end;

	if (nydusfs_auth_parse_token((const char *)data, size, now, &t)) {
		FUZZ_ASSERT(!t.value && !nydusfs_token_fresh(&t, now));
		return 0;
	}
	FUZZ_ASSERT(t.value && *t.value);
	FUZZ_ASSERT(t.expires_in > 0 && t.expires_in <= 366LL * 86400);
	FUZZ_ASSERT(t.expires_at > now && t.expires_at <= now + t.expires_in);
	nydusfs_token_schedule(&t, now, &renew, &end);
	FUZZ_ASSERT(renew < end && end <= (uint64_t)t.expires_in * 1000);
	FUZZ_ASSERT(!nydusfs_token_fresh(&t, t.expires_at));
	nydusfs_token_free(&t);
	return 0;
}
