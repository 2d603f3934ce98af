// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for nydusfsd's control socket requests
 * (daemon/control_req.c): the first byte says how many file descriptors
 * came with the line (0-3), the rest is the line.  A request that parses
 * names only descriptors that came, a mount has an absolute
 * mountpoint, a bootstrap and a spec for each source, and a trace an
 * absolute mountpoint.
 */
#include "fuzz.h"
#include "nydusfsd.h"

static void check_mount(const struct ctl_request *r, unsigned int nfds)
{
	unsigned int i;

	FUZZ_ASSERT(r->mountpoint && r->mountpoint[0] == '/' && r->bootstrap);
	FUZZ_ASSERT(r->bootstrap_fd >= -1 && r->bootstrap_fd < (int)nfds);
	FUZZ_ASSERT(r->bootstrap[0] == '/' || r->bootstrap_fd >= 0);
	for (i = 0; i < r->specs.n; i++) {
		FUZZ_ASSERT(r->specs.v[i][0]);
		FUZZ_ASSERT(r->spec_fds[i] >= -1 &&
			    r->spec_fds[i] < (int)nfds);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int nfds = size ? data[0] % 4 : 0;
	struct ctl_request r;
	char why[256], *line;

	line = fuzz_string(size ? data + 1 : data, size ? size - 1 : 0);
	if (ctl_request_parse(line, nfds, &r, why, sizeof(why))) {
		FUZZ_ASSERT(why[0] && !r.json);
	} else {
		FUZZ_ASSERT(r.cmd < NR_CTL && r.json);
		if (r.cmd == CTL_MOUNT)
			check_mount(&r, nfds);
		if (r.cmd == CTL_UMOUNT)
			FUZZ_ASSERT(r.mountpoint);
		if (r.cmd == CTL_TRACE)
			FUZZ_ASSERT(r.mountpoint && r.mountpoint[0] == '/');
	}
	ctl_request_free(&r);
	ctl_http_is_metrics(line, strlen(line));
	free(line);
	return 0;
}
