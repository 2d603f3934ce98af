// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for image references (lib/oci_ref.c), which come from
 * the command line and from manifests: parse, and a reference that parses
 * must be written back in a canonical form that parses to itself.
 */
#include <string.h>

#include "fuzz.h"
#include "nydusfs/oci_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nydusfs_oci_ref ref, again;
	const char *why = NULL;
	char *s = fuzz_string(data, size), *canon, *canon2;

	if (nydusfs_oci_ref_parse(s, &ref, &why)) {
		FUZZ_ASSERT(why && !ref.host && !ref.dir);
		free(s);
		return 0;
	}
	if (ref.kind == NYDUSFS_REF_DOCKER) {
		FUZZ_ASSERT(ref.host && ref.repo);
		FUZZ_ASSERT(nydusfs_oci_ref_valid_repo(ref.repo));
		FUZZ_ASSERT(nydusfs_oci_ref_manifest_ref(&ref));
		FUZZ_ASSERT(nydusfs_oci_ref_api_host(&ref));
		FUZZ_ASSERT(!ref.digest ||
			    nydusfs_oci_ref_valid_digest(ref.digest));
	}
	canon = nydusfs_oci_ref_string(&ref);
	FUZZ_ASSERT(canon);
	FUZZ_ASSERT(!nydusfs_oci_ref_parse(canon, &again, &why));
	canon2 = nydusfs_oci_ref_string(&again);
	FUZZ_ASSERT(canon2 && !strcmp(canon, canon2));
	free(canon2);
	free(canon);
	nydusfs_oci_ref_free(&again);
	nydusfs_oci_ref_free(&ref);
	free(s);
	return 0;
}
