// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd control requests (daemon/control_req.c): each command parses
 * to what it asks for, file descriptors only by the index of one that came
 * with the request, and every malformed request is refused with a reason.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "nydusfsd.h"

#define HEX64	"00112233445566778899aabbccddeeff" \
		"00112233445566778899aabbccddeeff"
#define HEX64_BAD	"00112233445566778899aabbccddeeff" \
		"00112233445566778899aabbccddeefg"

static void test_good(void)
{
	struct ctl_request r;
	char why[256];
	int ret;

	ret = ctl_request_parse("{\"cmd\":\"ping\"}", 0, &r, why, sizeof(why));
	CHECK(!ret && r.cmd == CTL_PING, "ping");
	ctl_request_free(&r);

	ret = ctl_request_parse("{\"cmd\":\"mount\",\"mountpoint\":\"/mnt/a\","
				"\"bootstrap\":\"boot\",\"bootstrap_fd\":0,"
				"\"sources\":[{\"spec\":\"localfs:/b\",\"fd\":1},"
				"\"registry:h:5000/n\"],\"prefetch\":false}",
				2, &r, why, sizeof(why));
	CHECK(!ret && r.cmd == CTL_MOUNT && !strcmp(r.mountpoint, "/mnt/a") &&
	      !strcmp(r.bootstrap, "boot") && r.bootstrap_fd == 0 &&
	      r.specs.n == 2 && !strcmp(r.specs.v[1], "registry:h:5000/n") &&
	      r.spec_fds[0] == 1 && r.spec_fds[1] == -1 && !r.prefetch,
	      "mount with fds: %d %s", ret, ret ? why : "");
	ctl_request_free(&r);

	ret = ctl_request_parse("{\"cmd\":\"mount\",\"mountpoint\":\"/m\","
				"\"bootstrap\":\"/b\"}", 0, &r, why, sizeof(why));
	CHECK(!ret && r.bootstrap_fd == -1 && !r.specs.n && r.prefetch,
	      "mount: no sources, prefetch by default");
	ctl_request_free(&r);

	ret = ctl_request_parse("{\"cmd\":\"cache\",\"op\":\"gc\",\"limit\":0}",
				0, &r, why, sizeof(why));
	CHECK(!ret && r.gc && r.has_limit && !r.limit, "cache gc 0");
	ctl_request_free(&r);
	ret = ctl_request_parse("{\"cmd\":\"cache\"}", 0, &r, why, sizeof(why));
	CHECK(!ret && !r.gc, "cache usage");
	ctl_request_free(&r);

	ret = ctl_request_parse("{\"cmd\":\"early\",\"blob\":\"sha256:"
				"00112233445566778899aabbccddeeff"
				"00112233445566778899aabbccddeeff\","
				"\"length\":4096,\"sources\":[{\"spec\":"
				"\"registry:h:5000/n\",\"registry\":"
				"{\"scheme\":\"http\"}}]}", 0, &r, why,
				sizeof(why));
	CHECK(!ret && r.cmd == CTL_EARLY && r.length == 4096 &&
	      r.blob[0] == 0x00 && r.blob[1] == 0x11 && r.blob[31] == 0xff &&
	      r.specs.n == 1 && r.spec_settings[0],
	      "early: %d %s", ret, ret ? why : "");
	ctl_request_free(&r);

	ret = ctl_request_parse("{\"cmd\":\"trace\",\"mountpoint\":\"/mnt/a\"}",
				0, &r, why, sizeof(why));
	CHECK(!ret && r.cmd == CTL_TRACE && !strcmp(r.mountpoint, "/mnt/a") &&
	      !r.reset, "trace");
	ctl_request_free(&r);
	ret = ctl_request_parse("{\"cmd\":\"trace\",\"mountpoint\":\"/m\","
				"\"reset\":true}", 0, &r, why, sizeof(why));
	CHECK(!ret && r.cmd == CTL_TRACE && r.reset, "trace, reset");
	ctl_request_free(&r);
}

static const struct {
	const char *line;
	unsigned int nfds;
	const char *want;
} bad[] = {
	{ "", 0, "not a JSON object" },
	{ "[1]", 0, "not a JSON object: wrong type" },
	{ "{\"cmd\":\"ping\",\"cmd\":\"ping\"}", 0, "not a JSON object" },
	{ "{\"cmd\":\"reboot\"}", 0, "unknown command 'reboot'" },
	{ "{\"cmd\":7}", 0, "unknown command ''" },
	{ "{\"cmd\":\"mount\",\"mountpoint\":\"rel\",\"bootstrap\":\"/b\"}", 0,
	  "mount needs an absolute mountpoint" },
	{ "{\"cmd\":\"mount\",\"mountpoint\":\"/m\",\"bootstrap\":\"b\"}", 0,
	  "mount needs" },			/* relative, and no fd */
	{ "{\"cmd\":\"mount\",\"mountpoint\":\"/m\",\"bootstrap\":\"b\","
	  "\"bootstrap_fd\":1}", 1, "mount needs" },	/* fd 1 did not come */
	{ "{\"cmd\":\"mount\",\"mountpoint\":\"/m\",\"bootstrap\":\"/b\","
	  "\"bootstrap_fd\":-1}", 1, "mount needs" },
	{ "{\"cmd\":\"mount\",\"mountpoint\":\"/m\",\"bootstrap\":\"/b\","
	  "\"sources\":{}}", 0, "mount needs" },
	{ "{\"cmd\":\"mount\",\"mountpoint\":\"/m\",\"bootstrap\":\"/b\","
	  "\"prefetch\":\"yes\"}", 0, "mount needs" },
	{ "{\"cmd\":\"mount\",\"mountpoint\":\"/m\",\"bootstrap\":\"/b\","
	  "\"sources\":[\"/a\",{\"spec\":\"/b\",\"fd\":3}]}", 3,
	  "source 1: needs a spec" },
	{ "{\"cmd\":\"mount\",\"mountpoint\":\"/m\",\"bootstrap\":\"/b\","
	  "\"sources\":[7]}", 0, "source 0: needs a spec" },
	{ "{\"cmd\":\"umount\"}", 0, "umount needs a mountpoint" },
	{ "{\"cmd\":\"cache\",\"op\":\"burn\"}", 0, "unknown op 'burn'" },
	{ "{\"cmd\":\"cache\",\"op\":\"gc\",\"limit\":-1}", 0,
	  "limit must be a number" },
	{ "{\"cmd\":\"cache\",\"op\":\"gc\",\"limit\":\"1G\"}", 0,
	  "limit must be a number" },
	{ "{\"cmd\":\"early\",\"length\":5,\"sources\":[\"h:1/n\"]}", 0,
	  "early needs a blob digest sha256:HEX" },
	{ "{\"cmd\":\"early\",\"blob\":\"sha256:00\",\"length\":5,"
	  "\"sources\":[\"h:1/n\"]}", 0, "early needs a blob digest sha256:HEX" },
	{ "{\"cmd\":\"early\",\"blob\":\"sha256:" HEX64_BAD "\","
	  "\"length\":5,\"sources\":[\"h:1/n\"]}", 0,
	  "early needs a blob digest sha256:HEX" },
	{ "{\"cmd\":\"early\",\"blob\":\"sha256:" HEX64 "\","
	  "\"sources\":[\"h:1/n\"]}", 0, "early needs a length in bytes above 0" },
	{ "{\"cmd\":\"early\",\"blob\":\"sha256:" HEX64 "\",\"length\":0,"
	  "\"sources\":[\"h:1/n\"]}", 0, "early needs a length in bytes above 0" },
	{ "{\"cmd\":\"early\",\"blob\":\"sha256:" HEX64 "\",\"length\":\"5\","
	  "\"sources\":[\"h:1/n\"]}", 0, "early needs a length in bytes above 0" },
	{ "{\"cmd\":\"early\",\"blob\":\"sha256:" HEX64 "\",\"length\":5,"
	  "\"sources\":[]}", 0, "early needs an array of sources" },
	{ "{\"cmd\":\"early\",\"blob\":\"sha256:" HEX64 "\",\"length\":5}", 0,
	  "early needs an array of sources" },
	{ "{\"cmd\":\"trace\"}", 0, "trace needs an absolute mountpoint" },
	{ "{\"cmd\":\"trace\",\"mountpoint\":\"mnt\"}", 0,
	  "trace needs an absolute mountpoint" },
	{ "{\"cmd\":\"trace\",\"mountpoint\":[\"/m\"]}", 0,
	  "trace needs an absolute mountpoint" },
	{ "{\"cmd\":\"trace\",\"mountpoint\":\"/m\",\"reset\":1}", 0,
	  "reset must be true or false" },
};

static void test_bad(void)
{
	struct ctl_request r;
	char why[256];
	unsigned int i;
	int ret;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		ret = ctl_request_parse(bad[i].line, bad[i].nfds, &r, why,
					sizeof(why));
		CHECK(ret == -EINVAL && strstr(why, bad[i].want) && !r.json &&
		      !r.spec_fds, "'%s' refused with \"%s\" (got: %s)",
		      bad[i].line, bad[i].want, why);
	}
}

static void test_http(void)
{
	static const char get[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char other[] = "GET /metricsX HTTP/1.1\r\n\r\n";

	CHECK(ctl_http_is_metrics(get, sizeof(get) - 1), "GET /metrics");
	CHECK(!ctl_http_is_metrics(other, sizeof(other) - 1) &&
	      !ctl_http_is_metrics("GET /metrics", 12), "anything else");
}

int main(void)
{
	test_good();
	test_bad();
	test_http();
	return check_done();
}
