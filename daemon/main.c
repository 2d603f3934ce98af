// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfsd: the cache daemon of nydusfs.  It serves /dev/nydusfs: blobs
 * are fetched from registries, mirrors or local directories, every chunk
 * is checked against its digest, then kept in a persistent cache.
 * Documentation/nydusfsd.rst is the administrator's guide.
 *
 *	nydusfsd [--config FILE] [--log-level LEVEL] [--check-config]
 *
 * It always runs in the foreground (systemd's Type=notify, or a test).
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "nydusfsd.h"

#define DEFAULT_CONFIG	"/etc/nydusfs/nydusfsd.conf"
#define NYDUSFSD_VERSION "0.1"

static struct {
	int sigfd;
	struct ev sig_ev;
	struct signalfd_siginfo si;
	struct timer gc_timer;
} daemon_state = { .sigfd = -1 };

static void usage(FILE *out)
{
	fprintf(out,
"usage: nydusfsd [OPTIONS]\n"
"\n"
"The nydusfs cache daemon: serves /dev/nydusfs in the foreground, fetching\n"
"chunks from registries, mirrors and local blob directories into a\n"
"verified persistent cache.\n"
"\n"
"options:\n"
"  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ";\n"
"                         built-in defaults if that one does not exist)\n"
"  -l, --log-level LEVEL  error, warning, info or debug (overrides the file)\n"
"  -t, --check-config     check the configuration, print it, and exit\n"
"  -V, --version          print the version\n"
"  -h, --help             show this text\n"
"\n"
"exit status: 0 after SIGTERM/SIGINT, 1 on an error, 2 on a bad command line\n"
"or a bad configuration file\n");
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. */
void daemon_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, path, strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		   (struct sockaddr *)&sun, len) < 0)
		warn("sd_notify: %s", strerror(errno));
	close(fd);
}

static void signal_cb(struct ev *ev, int res)
{
	ssize_t n;

	(void)ev;
	if (res < 0)
		return;
	n = read(daemon_state.sigfd, &daemon_state.si,
		 sizeof(daemon_state.si));
	if (n == sizeof(daemon_state.si)) {
		switch (daemon_state.si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			info("signal %u: stopping", daemon_state.si.ssi_signo);
			loop_stop();
			return;
		case SIGUSR1:
			info("cache: %u blobs open, %llu chunk jobs, %llu ranges in flight",
			     cache_blob_count(), (unsigned long long)fstats.jobs,
			     (unsigned long long)fstats.inflight_ranges);
			break;
		}
	}
	loop_poll(&daemon_state.sig_ev, daemon_state.sigfd, POLLIN);
}

static int signals_init(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	daemon_state.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (daemon_state.sigfd < 0)
		return -errno;
	daemon_state.sig_ev.cb = signal_cb;
	loop_poll(&daemon_state.sig_ev, daemon_state.sigfd, POLLIN);
	return 0;
}

static void gc_done(void *arg, const struct cache_usage *u, int err)
{
	(void)arg;
	if (err)
		warn("cache gc: %s", strerror(-err));
	else if (u->evicted)
		info("cache gc: evicted %llu blobs (%llu bytes), %llu bytes in use",
		     (unsigned long long)u->evicted,
		     (unsigned long long)u->evicted_bytes,
		     (unsigned long long)u->bytes);
}

static void gc_timer_fn(struct timer *t)
{
	cache_gc(cfg.cache_limit, gc_done, NULL);
	timer_arm(t, cfg.gc_interval * 1000ULL);
}

struct args {
	const char *config;
	const char *log_level;
	bool check;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "check-config", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "c:l:tVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			a->config = optarg;
			break;
		case 'l':
			if (nfd_log_level_by_name(optarg) < 0) {
				fprintf(stderr, "nydusfsd: bad --log-level '%s'\n",
					optarg);
				return 2;
			}
			a->log_level = optarg;
			break;
		case 't':
			a->check = true;
			break;
		case 'V':
			printf("nydusfsd %s (device protocol %u)\n",
			       NYDUSFSD_VERSION, NYDUSFS_DEV_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nydusfsd: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}

static int load_config(const struct args *a)
{
	struct stat st;

	config_defaults(&cfg);
	if (a->config || stat(DEFAULT_CONFIG, &st) == 0) {
		if (config_load(a->config ? a->config : DEFAULT_CONFIG, &cfg))
			return 2;
	}
	if (a->log_level)
		cfg.log_level = nfd_log_level_by_name(a->log_level);
	nfd_log_level = cfg.log_level;
	return 0;
}

static void print_config(void)
{
	const struct cfg_host *h;
	unsigned int i;

	printf("config %s: ok\n", cfg.path ? cfg.path : "(built-in defaults)");
	printf("device %s\nsocket %s\nstate_dir %s\ncache_dir %s\n",
	       cfg.device, cfg.socket, cfg.state_dir, cfg.cache_dir);
	printf("cache_limit %llu\nmax_inflight %u\nmerge_limit %llu\n",
	       (unsigned long long)cfg.cache_limit, cfg.max_inflight,
	       (unsigned long long)cfg.merge_limit);
	for (i = 0; i < cfg.localfs.n; i++)
		printf("source localfs:%s\n", cfg.localfs.v[i]);
	for (i = 0; i < cfg.registry.n; i++)
		printf("source registry:%s\n", cfg.registry.v[i]);
	for (h = cfg.hosts; h; h = h->next)
		printf("registry %s: %s, %u mirrors%s\n", h->host, h->scheme,
		       h->mirrors.n, h->username ? ", credentials" : "");
}

static int start(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int ret;

	ret = loop_init(256);
	if (ret) {
		err("io_uring: %s", strerror(-ret));
		return ret;
	}
	ret = signals_init();
	if (!ret)
		ret = work_init(cfg.workers ? cfg.workers :
				(ncpu > 0 ? (ncpu > 4 ? 4 : ncpu) : 1));
	if (!ret)
		ret = cache_init(cfg.cache_dir);
	if (!ret)
		ret = fetch_init();
	if (!ret)
		ret = registry_init();
	if (!ret)
		ret = sources_global_init();
	if (ret)
		return ret;
	ret = mounts_init(cfg.state_dir);
	if (!ret)
		ret = control_init(cfg.socket);
	if (!ret && cfg.metrics_listen)
		ret = metrics_http_init(cfg.metrics_listen);
	if (!ret)
		ret = dev_open(cfg.device);
	if (ret)
		return ret;
	/* with a limit, GC soon after start, then every gc_interval */
	daemon_state.gc_timer.fn = gc_timer_fn;
	if (cfg.cache_limit)
		timer_arm(&daemon_state.gc_timer, 1000);
	return 0;
}

static void stop(void)
{
	daemon_notify("STOPPING=1");
	cache_sync_all();
	dev_close();
	/* the workers first: an item they run may use what the rest frees
	 * (a mount table save wrote to a freed path) */
	work_exit();
	early_exit();
	fetch_exit();
	control_exit();
	metrics_http_exit();
	mounts_exit();
	registry_exit();
	cache_exit();
	loop_exit();
}

int main(int argc, char **argv)
{
	struct args a = {};
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret >= 0)
		return ret;
	if (load_config(&a))
		return 2;
	if (a.check) {
		print_config();
		return 0;
	}
	/* big buffers go back to the system when freed: RSS stays small */
	mallopt(M_MMAP_THRESHOLD, 256 << 10);
	mallopt(M_ARENA_MAX, 2);
	ret = start();
	if (!ret) {
		info("nydusfsd %s: serving %s, cache %s", NYDUSFSD_VERSION,
		     cfg.device, cfg.cache_dir);
		daemon_notify("READY=1\nSTATUS=serving");
		ret = loop_run();
	}
	stop();
	config_free(&cfg);
	return ret ? 1 : 0;
}
