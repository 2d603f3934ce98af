// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd config parser: a complete file parses to the right values;
 * each kind of mistake is refused with "FILE:LINE: reason" naming the
 * line at fault.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "nydusfsd.h"

static const char good[] =
"# a comment\n"
"; another\n"
"[daemon]\n"
"device = /dev/nydusfs\n"
"socket = \"/run/x y/nydusfsd.sock\"\n"
"state_dir = /var/lib/nydusfs\n"
"log_level = debug\n"
"workers = 3\n"
"metrics_listen = 127.0.0.1:9110\n"
"\n"
"[cache]\n"
"dir = /var/cache/nydusfs\n"
"limit = 20G\n"
"sync = no\n"
"gc_interval = 60\n"
"[fetch]\n"
"max_inflight = 16\n"
"merge_limit = 2M\n"
"readahead = 0\n"
"retries = 3\n"
"retry_base_ms = 100\n"
"retry_max_ms = 5000\n"
"connect_timeout = 5\n"
"stall_timeout = 20\n"
"request_timeout = 600\n"
"[prefetch]\n"
"enable = true\n"
"all = yes\n"
"bandwidth = 10M\n"
"max_inflight = 4\n"
"[sources]\n"
"localfs = /srv/blobs\n"
"localfs = /srv/more\n"
"registry = registry.example.com/library/app\n"
"[registry]\n"
"auth_file = /root/.docker/config.json\n"
"ca_file = /etc/ssl/ca.pem\n"
"[registry \"registry.example.com\"]\n"
"mirror = http://127.0.0.1:5001\n"
"mirror = http://127.0.0.1:5002/prefix\n"
"username = u\n"
"password = \"p#ss word\"\n"
"[registry \"127.0.0.1:5000\"]\n"
"scheme = http\n"
"tls_verify = false\n";

/* Parse @text with stderr captured; the message in @msg. */
static int parse(const char *text, struct config *c, char *msg, size_t size)
{
	char path[] = "/tmp/nydusfsd-config-test.XXXXXX";
	int fd = mkstemp(path), saved = dup(2), ret;
	ssize_t n;

	dup2(fd, 2);
	config_defaults(c);
	ret = config_parse("test.conf", text, c);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, msg, size - 1, 0);
	msg[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return ret;
}

static void test_good(void)
{
	const struct cfg_host *h;
	struct config c;
	char msg[1024];
	int ret = parse(good, &c, msg, sizeof(msg));

	CHECK(ret == 0, "a complete config parses (%s)", msg);
	CHECK(!strcmp(c.socket, "/run/x y/nydusfsd.sock"), "quoted value");
	CHECK(c.log_level == LOG_DBG_ && c.workers == 3, "log level, workers");
	CHECK(c.cache_limit == 20ULL << 30 && !c.cache_sync &&
	      c.gc_interval == 60, "cache section");
	CHECK(c.max_inflight == 16 && c.merge_limit == 2 << 20 &&
	      c.readahead == 0 && c.retries == 3 && c.retry_base_ms == 100 &&
	      c.retry_max_ms == 5000 && c.connect_timeout == 5 &&
	      c.stall_timeout == 20 && c.request_timeout == 600,
	      "fetch section");
	CHECK(c.prefetch && c.prefetch_all && c.prefetch_bandwidth == 10 << 20 &&
	      c.prefetch_inflight == 4, "prefetch section");
	CHECK(c.localfs.n == 2 && !strcmp(c.localfs.v[1], "/srv/more") &&
	      c.registry.n == 1, "repeatable source keys keep their order");
	h = config_host(&c, "registry.example.com");
	CHECK(h && h->mirrors.n == 2 &&
	      !strcmp(h->mirrors.v[0], "http://127.0.0.1:5001") &&
	      !strcmp(h->password, "p#ss word") && !strcmp(h->scheme, "https") &&
	      h->tls_verify, "registry host section, mirrors in order");
	h = config_host(&c, "127.0.0.1:5000");
	CHECK(h && !strcmp(h->scheme, "http") && !h->tls_verify,
	      "second registry host section");
	config_free(&c);

	ret = parse("", &c, msg, sizeof(msg));
	CHECK(ret == 0 && c.max_inflight == 8 && c.cache_sync &&
	      !strcmp(c.cache_dir, "/var/cache/nydusfs"),
	      "an empty file gives the defaults");
	config_free(&c);
}

static const struct {
	const char *text;
	const char *want;	/* in the message */
} bad[] = {
	{ "[daemon]\nfoo = 1\n", "test.conf:2: unknown key 'foo'" },
	{ "[nope]\n", "test.conf:1: unknown section [nope]" },
	{ "[cache]\nlimit = 12Q\n", "test.conf:2: limit: '12Q' is not a size" },
	{ "[fetch]\nmax_inflight = 0\n", "test.conf:2: max_inflight" },
	{ "[fetch]\nmax_inflight = 4\nmax_inflight = 5\n",
	  "test.conf:3: 'max_inflight' given twice" },
	{ "\n\n[daemon]\nlog_level = loud\n", "test.conf:4: log_level" },
	{ "[cache]\nsync = maybe\n", "test.conf:2: sync: 'maybe' is not true or false" },
	{ "[daemon]\njust words\n", "test.conf:2: expected 'key = value'" },
	{ "device = /x\n", "test.conf:1: 'device' outside any [section]" },
	{ "[daemon\n", "test.conf:1: bad section header" },
	{ "[daemon]\nsocket = \"open\n", "test.conf:2: unterminated quoted value" },
	{ "[registry \"h\"]\n[registry \"h\"]\n",
	  "test.conf:2: registry \"h\" configured twice" },
	{ "[registry \"h\"]\nusername = u\n", "username and password go together" },
	{ "[registry \"h\"]\nscheme = ftp\n", "scheme must be http or https" },
	{ "[registry \"h\"]\nmirror = 127.0.0.1:5001\n",
	  "test.conf:2: mirror: '127.0.0.1:5001' is not an http:// or https:// URL" },
	{ "[cache]\ndir = relative/path\n", "not an absolute path" },
	{ "[sources]\nlocalfs =\n", "test.conf:2: localfs: empty value" },
	{ "[prefetch]\nbandwidth = -1\n", "test.conf:2: bandwidth" },
};

static void test_bad(void)
{
	struct config c;
	char msg[1024];
	unsigned int i;
	int ret;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ret = parse(bad[i].text, &c, msg, sizeof(msg));
		CHECK(ret == -EINVAL && strstr(msg, bad[i].want),
		      "refused with \"%s\" (got: %.*s)", bad[i].want,
		      (int)strcspn(msg, "\n"), msg);
		config_free(&c);
	}
}

static void test_sizes(void)
{
	uint64_t v;

	CHECK(!parse_size("4096", &v) && v == 4096, "plain size");
	CHECK(!parse_size("512K", &v) && v == 512 << 10, "K");
	CHECK(!parse_size("4MiB", &v) && v == 4 << 20, "MiB");
	CHECK(!parse_size("2G", &v) && v == 2ULL << 30, "G");
	CHECK(parse_size("1X", &v) && parse_size("", &v) && parse_size("M", &v) &&
	      parse_size("99999999999T", &v), "bad sizes refused");
}

int main(void)
{
	test_good();
	test_bad();
	test_sizes();
	return check_done();
}
