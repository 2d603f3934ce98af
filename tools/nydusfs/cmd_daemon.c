// SPDX-License-Identifier: GPL-2.0
/*
 * nydusfs mount / umount / status / metrics / cache: the commands that talk
 * to nydusfsd over its control socket (Documentation/nydusfsd.rst,
 * "Control protocol"), and mount.nydusfs, the helper mount(8) runs.
 *
 * `mount` registers the image with the daemon (starting the daemon if its
 * socket does not answer), handing over the bootstrap and any --blob-dir
 * as file descriptors, then calls mount(2) itself, in the caller's mount
 * namespace; if mount(2) fails the registration is dropped again.  An
 * image reference instead of a bootstrap file is resolved first
 * (mount_ref.c): its bootstrap fetched and stored, its blobs' source and
 * the registry settings that reached it added to the registration.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "cmds.h"
#include "mount_ref.h"
#include "nydusfs/log.h"

#define DEFAULT_CONFIG	"/etc/nydusfs/nydusfsd.conf"
#define MAX_SOURCES	32

void cli_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nydusfs %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static char *skip_blanks(char *s)
{
	return s + strspn(s, " \t");
}

static void trim_end(char *s)
{
	char *end = s + strlen(s);

	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
}

/* Is @s, a header line, [@section] or (with @arg) [@section "@arg"]? */
static bool is_section(char *s, const char *section, const char *arg)
{
	size_t n = strlen(section);
	char *end = strrchr(s, ']'), *a;

	if (*s != '[' || !end || *skip_blanks(end + 1))
		return false;
	*end = '\0';
	s = skip_blanks(s + 1);
	trim_end(s);
	if (strncmp(s, section, n))
		return false;
	a = s + n;
	if (!arg)
		return !*a;
	if (*a != ' ' && *a != '\t')
		return false;
	a = skip_blanks(a);
	end = a + strlen(a);
	if (*a == '"' && end > a + 1 && end[-1] == '"') {
		end[-1] = '\0';
		a++;
	}
	return !strcmp(a, arg);
}

char *config_setting(const char *path, const char *section, const char *arg,
		     const char *key)
{
	size_t klen = strlen(key);
	char line[1024], *s, *v, *end;
	bool in_section = false;
	char *found = NULL;
	FILE *f = fopen(path, "re");

	if (!f)
		return NULL;
	while (!found && fgets(line, sizeof(line), f)) {
		s = skip_blanks(line);
		s[strcspn(s, "\r\n")] = '\0';
		if (*s == '[') {
			in_section = is_section(s, section, arg);
			continue;
		}
		if (!in_section || strncmp(s, key, klen))
			continue;
		v = strchr(s, '=');
		if (!v || strspn(s + klen, " \t") != (size_t)(v - s - klen))
			continue;
		v = skip_blanks(v + 1);
		trim_end(v);
		end = v + strlen(v);
		if (*v == '"' && end > v + 1 && end[-1] == '"') {
			end[-1] = '\0';
			v++;
		}
		found = strdup(v);
	}
	fclose(f);
	return found;
}

const char *client_config_path(const struct client *c)
{
	const char *conf = c->config ? c->config : getenv("NYDUSFS_CONFIG");

	return conf ? conf : DEFAULT_CONFIG;
}

void client_setup(struct client *c)
{
	char *s;

	if (!c->socket)
		c->socket = getenv("NYDUSFS_SOCKET");
	if (!c->config)
		c->config = getenv("NYDUSFS_CONFIG");
	if (!c->socket) {
		s = config_setting(client_config_path(c), "daemon", NULL,
				   "socket");
		c->socket = s ? s : DEFAULT_SOCKET;
	}
	c->fd = -1;
}

int client_connect(struct client *c)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(c->socket) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, c->socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		close(fd);
		return -errno;
	}
	c->fd = fd;
	return 0;
}

/* The daemon, started in the background with its log on stderr of ours. */
static int start_daemon(struct client *c, const char *cmd)
{
	const char *conf = c->config;
	struct stat st;
	pid_t pid;
	int i, ret;

	if (!conf && stat(DEFAULT_CONFIG, &st) == 0)
		conf = DEFAULT_CONFIG;
	if (stat("/run/systemd/system", &st) == 0 && !c->config &&
	    system("systemctl start nydusfsd.service >/dev/null 2>&1") == 0)
		goto wait;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		setsid();
		if (fork() > 0)
			_exit(0);
		i = open("/dev/null", O_RDWR);
		dup2(i, STDIN_FILENO);
		dup2(i, STDOUT_FILENO);
		if (!getenv("NYDUSFS_DAEMON_LOG"))
			dup2(i, STDERR_FILENO);
		if (conf)
			execlp("nydusfsd", "nydusfsd", "--config", conf, NULL);
		else
			execlp("nydusfsd", "nydusfsd", NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
wait:
	for (i = 0; i < 100; i++) {
		ret = client_connect(c);
		if (!ret)
			return 0;
		usleep(100 * 1000);
	}
	cli_err(cmd, "nydusfsd did not come up on %s: %s", c->socket,
		strerror(-ret));
	return ret;
}

static int client_open(struct client *c, const char *cmd, bool start)
{
	int ret = client_connect(c);

	if (!ret)
		return 0;
	if (start && (ret == -ENOENT || ret == -ECONNREFUSED))
		return start_daemon(c, cmd);
	cli_err(cmd, "cannot reach nydusfsd at %s: %s", c->socket,
		strerror(-ret));
	return ret;
}

/* Send @req (with @fds) and return the answer, or NULL after a message. */
json_t *client_call(struct client *c, const char *cmd, json_t *req,
		    const int *fds, unsigned int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * MAX_SOURCES + sizeof(int))] = {};
	char *text = json_dumps(req, JSON_COMPACT), *line = NULL;
	struct msghdr mh = {};
	struct cmsghdr *cm;
	json_error_t jerr;
	struct iovec iov;
	size_t cap = 0, len = 0;
	json_t *ans;
	ssize_t n;

	if (!text)
		return NULL;
	len = strlen(text);
	text[len] = '\n';
	iov.iov_base = text;
	iov.iov_len = len + 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	free(text);
	if (n != (ssize_t)len + 1) {
		cli_err(cmd, "sending to nydusfsd: %s", strerror(errno));
		return NULL;
	}
	len = 0;
	for (;;) {
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 65536;
			line = realloc(line, cap);
			if (!line)
				return NULL;
		}
		n = read(c->fd, line + len, cap - len - 1);
		if (n <= 0)
			break;
		len += n;
		if (memchr(line + len - n, '\n', n))
			break;
	}
	if (!len) {
		cli_err(cmd, "nydusfsd closed the connection");
		free(line);
		return NULL;
	}
	line[len] = '\0';
	ans = json_loads(line, JSON_DISABLE_EOF_CHECK, &jerr);
	free(line);
	if (!ans)
		cli_err(cmd, "bad answer from nydusfsd: %s", jerr.text);
	return ans;
}

/* 0 if @ans says ok, else print its error and return 1 */
int answer_ok(const char *cmd, json_t *ans)
{
	if (!ans)
		return NYDUSFS_EXIT_FAILURE;
	if (json_is_true(json_object_get(ans, "ok")))
		return 0;
	cli_err(cmd, "%s", json_string_value(json_object_get(ans, "error")) ?:
		"failed");
	return NYDUSFS_EXIT_FAILURE;
}

/* A one-shot command: connect, send {"cmd": @name, ...}, answer or NULL */
static json_t *simple_call(struct client *c, const char *name, json_t *req)
{
	json_t *ans;

	client_setup(c);
	if (client_open(c, name, false)) {
		json_decref(req);
		return NULL;
	}
	json_object_set_new(req, "cmd", json_string(name));
	ans = client_call(c, name, req, NULL, 0);
	json_decref(req);
	close(c->fd);
	if (answer_ok(name, ans)) {
		json_decref(ans);
		return NULL;
	}
	return ans;
}

/* ---- mount ---- */

struct mount_args {
	struct client c;
	const char *image;		/* the argument: a bootstrap or a REF */
	const char *bootstrap, *mountpoint;
	char opts[4096];
	const char *specs[MAX_SOURCES];
	bool is_dir[MAX_SOURCES];
	json_t *settings[MAX_SOURCES];	/* a registry's, or NULL */
	unsigned int nspecs;
	bool no_prefetch, fake, dry_run;
	bool connected;			/* a.c is open */
	struct ref_opts ref;
	struct ref_image ri;
};

static void mount_usage(FILE *out)
{
	fprintf(out,
"usage: nydusfs mount [OPTIONS] BOOTSTRAP MOUNTPOINT\n"
"       nydusfs mount [OPTIONS] REF MOUNTPOINT\n"
"\n"
"Register the image with nydusfsd (starting it if it does not answer) and\n"
"mount it.  Chunks are fetched on first read from the sources, in order.\n"
"\n"
"BOOTSTRAP: a bootstrap file.  With no source given, $(dirname BOOTSTRAP)/\n"
"blobs if it exists, then the daemon's own [sources].\n"
"REF: an image made by nydusfs convert, docker://HOST[:PORT]/REPO[:TAG] (or\n"
"@sha256:HEX) or oci:DIR[:TAG].  Its bootstrap is fetched, checked against\n"
"the manifest and kept in STATE_DIR/bootstraps/sha256/ (state_dir of the\n"
"daemon's config, default " REF_DEFAULT_STATE_DIR "); it is mounted with\n"
"-o digest= and its blobs come from the same repository or layout.\n"
"\n"
"options:\n"
"  -b, --blob-dir DIR      blobs in a local directory (localfs)\n"
"  -r, --registry REF      blobs in a registry: HOST[:PORT]/NAME\n"
"  -s, --source SPEC       localfs:DIR or registry:HOST[:PORT]/NAME\n"
"  -o, --options OPTS      kernel mount options (verify, digest=, timeout=)\n"
"      --no-prefetch       do not prefetch the image's prefetch list\n"
"  -n, --dry-run           resolve, fetch and check, print what would be\n"
"                          mounted, and stop (no daemon, no mount)\n"
"      --socket PATH       the daemon's control socket\n"
"      --config FILE       the daemon's config (for its socket and state_dir,\n"
"                          and to start it)\n"
"  -v, --verbose           say more\n"
"  -h, --help              show this text\n"
"\n"
"options for REF:\n"
"      --platform OS/ARCH[/VARIANT]  from an image index (default linux/%s)\n"
"      --tls-verify[=BOOL] verify TLS (default true); false also allows plain\n"
"                          HTTP, e.g. a registry on 127.0.0.1\n"
"      --cert-dir DIR      trust DIR/*.crt (client: DIR/NAME.cert, .key)\n"
"      --ca-file FILE      trust the CAs in FILE\n"
"      --creds USER:PASS   credentials (default: from --authfile, or\n"
"                          $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/\n"
"                          auth.json, $DOCKER_CONFIG or ~/.docker/config.json)\n"
"      --authfile FILE     a docker-style config.json\n"
"The registry settings that worked (scheme, TLS, CA, credentials) go to\n"
"nydusfsd with the mount, for a host its config does not name.\n",
		cv_host_arch());
}

static int add_spec(struct mount_args *a, const char *spec, bool dir)
{
	if (a->nspecs == MAX_SOURCES) {
		cli_err("mount", "at most %d sources", MAX_SOURCES);
		return -1;
	}
	a->is_dir[a->nspecs] = dir;
	a->settings[a->nspecs] = NULL;
	a->specs[a->nspecs++] = spec;
	return 0;
}

static int add_opts(struct mount_args *a, const char *o)
{
	size_t len = strlen(a->opts);

	if (len + strlen(o) + 2 > sizeof(a->opts))
		return -1;
	if (len)
		a->opts[len++] = ',';
	strcpy(a->opts + len, o);
	return 0;
}

enum {
	OPT_NO_PREFETCH = 256, OPT_SOCKET, OPT_CONFIG, OPT_PLATFORM, OPT_TLS,
	OPT_CERT_DIR, OPT_CA_FILE, OPT_CREDS, OPT_AUTHFILE,
};

static const struct option mount_longopts[] = {
	{ "blob-dir", required_argument, NULL, 'b' },
	{ "registry", required_argument, NULL, 'r' },
	{ "source", required_argument, NULL, 's' },
	{ "options", required_argument, NULL, 'o' },
	{ "no-prefetch", no_argument, NULL, OPT_NO_PREFETCH },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	/* for a REF: the name is what ref_opt() takes */
	{ "platform", required_argument, NULL, OPT_PLATFORM },
	{ "tls-verify", optional_argument, NULL, OPT_TLS },
	{ "cert-dir", required_argument, NULL, OPT_CERT_DIR },
	{ "ca-file", required_argument, NULL, OPT_CA_FILE },
	{ "creds", required_argument, NULL, OPT_CREDS },
	{ "authfile", required_argument, NULL, OPT_AUTHFILE },
	{ NULL, 0, NULL, 0 },
};

static int mount_opt(struct mount_args *a, int opt)
{
	size_t i;

	switch (opt) {
	case 'b':
		return add_spec(a, optarg, true);
	case 'r':
	case 's':
		return add_spec(a, optarg, !strncmp(optarg, "localfs:", 8));
	case 'o':
		return add_opts(a, optarg);
	case OPT_NO_PREFETCH:
		a->no_prefetch = true;
		return 0;
	case 'n':
		a->dry_run = true;
		return 0;
	case OPT_SOCKET:
		a->c.socket = optarg;
		return 0;
	case OPT_CONFIG:
		a->c.config = optarg;
		return 0;
	case 'v':
		nydusfs_log_level++;
		return 0;
	}
	for (i = 0; mount_longopts[i].name; i++)
		if (mount_longopts[i].val == opt && opt >= OPT_PLATFORM)
			return ref_opt(&a->ref, mount_longopts[i].name, optarg) ?
			       -1 : 0;
	return -1;
}

static int parse_mount_args(int argc, char **argv, struct mount_args *a)
{
	int opt;

	while ((opt = getopt_long(argc, argv, "b:r:s:o:nvh", mount_longopts,
				  NULL)) != -1) {
		if (opt == 'h') {
			mount_usage(stdout);
			return NYDUSFS_EXIT_OK;
		}
		if (opt == '?' || mount_opt(a, opt)) {
			fprintf(stderr, "Try 'nydusfs mount --help'.\n");
			return NYDUSFS_EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		cli_err("mount", "expected BOOTSTRAP (or REF) and MOUNTPOINT");
		fprintf(stderr, "Try 'nydusfs mount --help'.\n");
		return NYDUSFS_EXIT_USAGE;
	}
	a->image = argv[optind];
	a->mountpoint = argv[optind + 1];
	return -1;
}

/*
 * The registration, sent again while nydusfsd answers EAGAIN: a blob
 * whose cache it must reset for this image is still busy with fetches
 * for another one, which end within their request timeout.
 */
#define REGISTER_WAIT_MS	(120 * 1000)

static json_t *register_call(struct client *c, json_t *req, const int *fds,
			     unsigned int nfds)
{
	unsigned int waited = 0, delay = 20;
	json_t *ans;

	for (;;) {
		ans = client_call(c, "mount", req, fds, nfds);
		if (json_integer_value(json_object_get(ans, "errno")) != EAGAIN ||
		    waited >= REGISTER_WAIT_MS)
			return ans;
		if (!waited)
			cli_err("mount", "%s; waiting", json_string_value(
				json_object_get(ans, "error")) ?: "busy");
		json_decref(ans);
		usleep(delay * 1000);
		waited += delay;
		delay = delay < 500 ? 2 * delay : 500;
	}
}

static int register_mount(struct mount_args *a, const char *bootstrap,
			  const char *mp)
{
	json_t *req = json_object(), *srcs = json_array(), *s, *ans;
	int fds[MAX_SOURCES + 1], nfds = 0, ret = NYDUSFS_EXIT_FAILURE;
	char path[PATH_MAX], dir[PATH_MAX + 16], *spec;
	unsigned int i;

	fds[nfds] = open(bootstrap, O_RDONLY | O_CLOEXEC);
	if (fds[nfds] < 0) {
		cli_err("mount", "%s: %s", bootstrap, strerror(errno));
		goto out;
	}
	json_object_set_new(req, "bootstrap_fd", json_integer(nfds++));
	for (i = 0; i < a->nspecs; i++) {
		s = json_object();
		if (a->is_dir[i]) {
			spec = (char *)a->specs[i];
			if (!strncmp(spec, "localfs:", 8))
				spec += 8;
			if (!realpath(spec, path)) {
				cli_err("mount", "%s: %s", spec, strerror(errno));
				json_decref(s);
				goto out;
			}
			fds[nfds] = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fds[nfds] < 0) {
				cli_err("mount", "%s: %s", path, strerror(errno));
				json_decref(s);
				goto out;
			}
			json_object_set_new(s, "fd", json_integer(nfds++));
			snprintf(dir, sizeof(dir), "localfs:%s", path);
			json_object_set_new(s, "spec", json_string(dir));
		} else {
			json_object_set_new(s, "spec", json_string(a->specs[i]));
		}
		if (a->settings[i])
			json_object_set(s, "registry", a->settings[i]);
		json_array_append_new(srcs, s);
	}
	json_object_set_new(req, "cmd", json_string("mount"));
	json_object_set_new(req, "mountpoint", json_string(mp));
	json_object_set_new(req, "bootstrap", json_string(bootstrap));
	json_object_set_new(req, "sources", srcs);
	srcs = NULL;
	json_object_set_new(req, "prefetch", json_boolean(!a->no_prefetch));
	ans = register_call(&a->c, req, fds, nfds);
	ret = answer_ok("mount", ans);
	json_decref(ans);
out:
	json_decref(srcs);
	json_decref(req);
	while (nfds--)
		close(fds[nfds]);
	return ret;
}

static void unregister_mount(struct client *c, const char *mp)
{
	json_t *req = json_pack("{s:s, s:s}", "cmd", "umount", "mountpoint", mp);
	json_t *ans = client_call(c, "mount", req, NULL, 0);

	json_decref(req);
	json_decref(ans);
}

/* -o digest= of the image's bootstrap, unless the same one is there. */
static int add_digest_opt(struct mount_args *a)
{
	char want[NYDUSFS_OCI_DIGEST_LEN + 8], *copy, *tok, *save;
	int ret = 0;

	snprintf(want, sizeof(want), "digest=%s", a->ri.digest);
	copy = strdup(a->opts);
	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok && !ret;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "digest=", 7)) {
			ret = strcmp(tok, want) ? -1 : 1;
			if (ret < 0)
				cli_err("mount", "-o %s: the bootstrap of %s is %s",
					tok, a->ri.label, a->ri.digest);
		}
	}
	free(copy);
	if (!ret && add_opts(a, want))
		ret = -1;
	return ret < 0 ? -1 : 0;
}

static int connect_daemon(struct mount_args *a)
{
	if (a->connected)
		return 0;
	client_setup(&a->c);
	if (client_open(&a->c, "mount", true))
		return -1;
	a->connected = true;
	return 0;
}

/*
 * Ask nydusfsd to fetch a blob's startup profile now, while the bootstrap
 * downloads (ref_opts.early); its answer says whether it did, and either
 * way the mount goes on.
 */
static void early_fetch(void *arg, const struct ref_image *ri,
			const char *blob, uint64_t bytes)
{
	struct mount_args *a = arg;
	json_t *req, *src, *ans;

	if (connect_daemon(a))
		return;
	src = json_pack("{s:s}", "spec", ri->source);
	if (src && ri->settings)
		json_object_set(src, "registry", ri->settings);
	req = json_pack("{s:s, s:s, s:I, s:[o]}", "cmd", "early", "blob", blob,
			"length", (json_int_t)bytes, "sources", src);
	ans = req ? client_call(&a->c, "mount", req, NULL, 0) : NULL;
	if (json_is_true(json_object_get(ans, "started")))
		nydusfs_info("%s: startup profile of blob %s: %llu bytes "
			     "fetched early", ri->label, blob,
			     (unsigned long long)bytes);
	json_decref(ans);
	json_decref(req);
}

/* A REF: its bootstrap stored, its blobs a source, its digest an option. */
static int resolve_ref(struct mount_args *a)
{
	const char *conf = client_config_path(&a->c);
	char *state_dir = config_setting(conf, "daemon", NULL, "state_dir");
	int err;

	a->ref.state_dir = state_dir;
	a->ref.config = conf;
	a->ref.kernel_checks_digest = !a->dry_run && !a->fake;
	if (!a->dry_run && !a->no_prefetch) {
		a->ref.early = early_fetch;
		a->ref.early_arg = a;
	}
	err = ref_image_get(a->image, &a->ref, &a->ri);
	a->ref.state_dir = NULL;
	a->ref.config = NULL;
	free(state_dir);
	if (err) {
		cli_err("mount", "%s: not mounted: %s", a->image,
			cv_strerror(err));
		return -1;
	}
	a->bootstrap = a->ri.bootstrap;
	if (add_spec(a, a->ri.source, a->ri.localfs))
		return -1;
	a->settings[a->nspecs - 1] = a->ri.settings;
	return add_digest_opt(a);
}

/* The argument: an existing file is a bootstrap, else a reference. */
static int resolve_image(struct mount_args *a)
{
	struct stat st;

	if (stat(a->image, &st) == 0 && S_ISDIR(st.st_mode)) {
		cli_err("mount", "%s is a directory: give a bootstrap file or an "
			"image reference (docker://... or oci:DIR:TAG)",
			a->image);
		return -1;
	}
	if (stat(a->image, &st) == 0) {
		if (a->ref.given) {
			cli_err("mount", "%s is a bootstrap file: --platform, "
				"--tls-verify, --cert-dir, --ca-file, --creds and "
				"--authfile are for an image reference", a->image);
			return -1;
		}
		a->bootstrap = a->image;
		return 0;
	}
	if (!ref_is_reference(a->image)) {
		/* HOST/REPO:TAG: a reference without its transport */
		bool bare = strchr(a->image, '/') && strchr(a->image, ':') &&
			    !strstr(a->image, "://");

		cli_err("mount", "%s: no such bootstrap file, and not an image "
			"reference (docker://HOST[:PORT]/REPO[:TAG|@sha256:HEX] "
			"or oci:DIR[:TAG])%s%s%s", a->image,
			bare ? "; did you mean docker://" : "",
			bare ? a->image : "", bare ? "?" : "");
		return -1;
	}
	return resolve_ref(a);
}

static void print_plan(const struct mount_args *a, const char *mp)
{
	unsigned int i;

	if (a->ri.label) {
		printf("image: %s\nmanifest: %s\n", a->ri.label, a->ri.manifest);
		printf("bootstrap: %s (%s)\ndigest: %s\n", a->bootstrap,
		       a->ri.fetched ? "fetched" : "already stored",
		       a->ri.digest);
	} else {
		printf("bootstrap: %s\n", a->bootstrap);
	}
	for (i = 0; i < a->nspecs; i++) {
		json_t *st = a->settings[i];

		printf("source: %s", a->specs[i]);
		if (st)
			printf(" (%s%s%s%s)",
			       json_string_value(json_object_get(st, "scheme")),
			       json_is_false(json_object_get(st, "tls_verify")) ?
			       ", TLS not verified" : "",
			       json_object_get(st, "ca_pem") ? ", CA" : "",
			       json_object_get(st, "username") ?
			       ", credentials" : "");
		printf("\n");
	}
	printf("mountpoint: %s\noptions: %s\n", mp, a->opts);
}

/*
 * The kernel hashed the bootstrap of a REF and it is not what the layer's
 * annotation says (the CLI leaves that check to the kernel on a real
 * mount): say so, and drop the stored copy so that it is not used again.
 */
static void bootstrap_refused(struct mount_args *a)
{
	cli_err("mount", "%s: not mounted: its bootstrap does not match the "
		"digest its layer's annotation gives (%s): the kernel refused "
		"it (see dmesg); the image was not made right, convert it "
		"again", a->ri.label, a->ri.digest);
	if (unlink(a->ri.bootstrap) && errno != ENOENT)
		cli_err("mount", "%s: %s", a->ri.bootstrap, strerror(errno));
}

static int do_mount(struct mount_args *a)
{
	static char dir[PATH_MAX + 8];
	char bootstrap[PATH_MAX], mp[PATH_MAX];
	struct stat st;
	bool is_ref;
	int ret;

	if (!realpath(a->mountpoint, mp)) {
		cli_err("mount", "%s: %s", a->mountpoint, strerror(errno));
		return NYDUSFS_EXIT_FAILURE;
	}
	if (resolve_image(a))
		return NYDUSFS_EXIT_FAILURE;
	is_ref = a->bootstrap != a->image;
	if (!realpath(a->bootstrap, bootstrap)) {
		cli_err("mount", "%s: %s", a->bootstrap, strerror(errno));
		return NYDUSFS_EXIT_FAILURE;
	}
	if (!a->nspecs && !is_ref) {
		snprintf(dir, sizeof(dir), "%s", bootstrap);
		strcat(dirname(dir), "/blobs");
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			add_spec(a, dir, true);
	}
	if (a->dry_run) {
		print_plan(a, mp);
		return NYDUSFS_EXIT_OK;
	}
	if (connect_daemon(a))
		return NYDUSFS_EXIT_FAILURE;
	ret = register_mount(a, bootstrap, mp);
	if (ret || a->fake) {
		close(a->c.fd);
		return ret;
	}
	if (mount(bootstrap, mp, "nydusfs", MS_RDONLY, a->opts)) {
		ret = errno;
		if (ret == EBADMSG && is_ref)
			bootstrap_refused(a);
		else
			cli_err("mount", "mount %s on %s: %s%s", a->image, mp,
				strerror(ret), ret == ENODEV ? " (is nydusfs.ko "
				"loaded?)" : "");
		unregister_mount(&a->c, mp);
		close(a->c.fd);
		return NYDUSFS_EXIT_FAILURE;
	}
	close(a->c.fd);
	return NYDUSFS_EXIT_OK;
}

static void mount_args_init(struct mount_args *a)
{
	memset(a, 0, sizeof(*a));
	ref_opts_init(&a->ref);
}

static void mount_args_free(struct mount_args *a)
{
	ref_image_free(&a->ri);
	ref_opts_free(&a->ref);
}

int cmd_mount(int argc, char **argv)
{
	struct mount_args a;
	int ret;

	mount_args_init(&a);
	ret = parse_mount_args(argc, argv, &a);
	if (ret < 0)
		ret = do_mount(&a);
	mount_args_free(&a);
	return ret;
}

/*
 * One -o option of mount.nydusfs: the daemon's and the reference's are
 * taken out (0), the rest goes to the kernel; -1 on a bad one.
 */
static int helper_opt(struct mount_args *a, char *tok)
{
	char *eq = strchr(tok, '=');
	int ret;

	if (!strncmp(tok, "blob_dir=", 9))
		return add_spec(a, tok + 9, true);
	if (!strncmp(tok, "source=", 7))
		return add_spec(a, tok + 7, !strncmp(tok + 7, "localfs:", 8));
	if (!strcmp(tok, "noprefetch")) {
		a->no_prefetch = true;
		return 0;
	}
	if (!strncmp(tok, "socket=", 7) || !strncmp(tok, "config=", 7)) {
		*(tok[0] == 's' ? &a->c.socket : &a->c.config) = tok + 7;
		return 0;
	}
	if (!strncmp(tok, "creds=", 6)) {
		cli_err("mount", "creds= is not taken as a mount option (it "
			"would show in process lists): use authfile=FILE");
		return -1;
	}
	if (eq)
		*eq = '\0';
	ret = ref_opt(&a->ref, tok, eq ? eq + 1 : NULL);
	if (eq && ret > 0)
		*eq = '=';
	if (ret <= 0)
		return ret;
	if (!strcmp(tok, "ro") || !strcmp(tok, "rw") ||
	    !strcmp(tok, "defaults"))
		return 0;
	return add_opts(a, tok);
}

/*
 * mount.nydusfs BOOTSTRAP|REF DIR [-sfnv] [-o OPTIONS]: what mount(8) runs
 * for "-t nydusfs".  Options for the daemon are taken out of OPTIONS:
 * blob_dir=DIR, source=SPEC, noprefetch, socket=PATH, config=FILE; and
 * for a REF: tls-verify=BOOL, platform=, cert-dir=, ca-file=, authfile=;
 * the rest goes to the kernel.
 */
int cmd_mount_helper(int argc, char **argv)
{
	static const char usage[] = "usage: mount.nydusfs BOOTSTRAP|REF DIR "
				    "[-sfnv] [-o OPTIONS]\n";
	struct mount_args a;
	char *opts = NULL, *tok, *save;
	int opt, ret = 32;	/* mount(8): mount failure */

	mount_args_init(&a);
	while ((opt = getopt(argc, argv, "sfnvo:t:N:")) != -1) {
		switch (opt) {
		case 'o':
			free(opts);
			opts = strdup(optarg);
			break;
		case 'f':
			a.fake = true;
			break;
		case 'v':
			nydusfs_log_level++;
			break;
		case 's': case 'n': case 't': case 'N':
			break;
		default:
			fputs(usage, stderr);
			goto out;
		}
	}
	if (argc - optind != 2) {
		fputs(usage, stderr);
		ret = 1;
		goto out;
	}
	for (tok = opts ? strtok_r(opts, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (helper_opt(&a, tok))
			goto out;
	}
	a.image = argv[optind];
	a.mountpoint = argv[optind + 1];
	ret = do_mount(&a) ? 32 : 0;
out:
	mount_args_free(&a);
	free(opts);	/* the specs point into it until now */
	return ret;
}

/* ---- umount ---- */

int cmd_umount(int argc, char **argv)
{
	struct client c = {};
	char mp[PATH_MAX];
	json_t *req, *ans;
	int opt, ret = 0;

	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "config", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'S': c.socket = optarg; break;
		case 'C': c.config = optarg; break;
		case 'h':
			printf("usage: nydusfs umount [--socket PATH] MOUNTPOINT\n\n"
			       "Unmount a nydusfs mount and drop its registration with nydusfsd.\n");
			return NYDUSFS_EXIT_OK;
		default:
			return NYDUSFS_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		cli_err("umount", "expected MOUNTPOINT");
		return NYDUSFS_EXIT_USAGE;
	}
	if (!realpath(argv[optind], mp)) {
		cli_err("umount", "%s: %s", argv[optind], strerror(errno));
		return NYDUSFS_EXIT_FAILURE;
	}
	if (umount2(mp, 0) && errno != EINVAL) {
		cli_err("umount", "%s: %s", mp, strerror(errno));
		ret = NYDUSFS_EXIT_FAILURE;
	}
	client_setup(&c);
	if (client_connect(&c))
		return ret;	/* no daemon: nothing registered to drop */
	req = json_pack("{s:s, s:s}", "cmd", "umount", "mountpoint", mp);
	ans = client_call(&c, "umount", req, NULL, 0);
	close(c.fd);
	json_decref(req);
	json_decref(ans);
	return ret;
}

/* ---- status, metrics, cache ---- */

static int parse_common(int argc, char **argv, struct client *c, bool *json,
			const char *usage)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 'S' },
		{ "config", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j': *json = true; break;
		case 'S': c->socket = optarg; break;
		case 'C': c->config = optarg; break;
		case 'h':
			fputs(usage, stdout);
			return NYDUSFS_EXIT_OK;
		default:
			fputs(usage, stderr);
			return NYDUSFS_EXIT_USAGE;
		}
	}
	return -1;
}

static void print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_INDENT(2));

	if (s)
		puts(s);
	free(s);
}

static unsigned long long jint(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static void print_status(json_t *st)
{
	json_t *m, *p, *s, *f = json_object_get(st, "fetch");
	json_t *ch = json_object_get(st, "cache");
	size_t i;

	printf("nydusfsd %s, pid %llu, up %.0f s, device %s, cache %s\n",
	       json_string_value(json_object_get(st, "version")),
	       jint(st, "pid"), json_real_value(json_object_get(st, "uptime")),
	       json_string_value(json_object_get(st, "device")),
	       json_string_value(json_object_get(st, "cache_dir")));
	printf("fetch: %llu in flight, %llu chunks fetched, %llu failed, %llu verification failures\n",
	       jint(f, "inflight"), jint(f, "chunks_fetched"),
	       jint(f, "chunks_failed"), jint(f, "verify_failures"));
	printf("cache: %llu hits, %llu misses, %llu blobs open\n",
	       jint(ch, "hits"), jint(ch, "misses"), jint(ch, "open_blobs"));
	json_array_foreach(json_object_get(st, "mounts"), i, m) {
		p = json_object_get(m, "prefetch");
		printf("mount %llu: %s (%s), %llu blobs, prefetch %llu/%llu%s%s",
		       jint(m, "id"),
		       json_string_value(json_object_get(m, "mountpoint")),
		       json_string_value(json_object_get(m, "bootstrap")),
		       jint(m, "blobs"), jint(p, "done"), jint(p, "total"),
		       jint(p, "failed") ? " (some failed)" : "",
		       json_is_true(json_object_get(p, "running")) ?
		       " running" : "");
		if (jint(p, "profile_total"))
			printf(", startup profile %llu/%llu",
			       jint(p, "profile_done"), jint(p, "profile_total"));
		putchar('\n');
	}
	json_array_foreach(json_object_get(st, "sources"), i, s)
		printf("source %s: %llu requests, %llu bytes, %llu chunks, %llu errors, %llu retries, %llu bad chunks\n",
		       json_string_value(json_object_get(s, "name")),
		       jint(s, "requests"), jint(s, "bytes"), jint(s, "chunks"),
		       jint(s, "errors"), jint(s, "retries"),
		       jint(s, "verify_failures"));
}

int cmd_status(int argc, char **argv)
{
	struct client c = {};
	bool json = false;
	json_t *ans;
	int ret = parse_common(argc, argv, &c, &json,
			       "usage: nydusfs status [--json] [--socket PATH]\n\n"
			       "Show what nydusfsd is doing: mounts, prefetch progress, sources.\n");

	if (ret >= 0)
		return ret;
	ans = simple_call(&c, "status", json_object());
	if (!ans)
		return NYDUSFS_EXIT_FAILURE;
	if (json)
		print_json(ans);
	else
		print_status(ans);
	json_decref(ans);
	return NYDUSFS_EXIT_OK;
}

int cmd_metrics(int argc, char **argv)
{
	struct client c = {};
	bool json = false;
	json_t *ans;
	int ret = parse_common(argc, argv, &c, &json,
			       "usage: nydusfs metrics [--socket PATH]\n\n"
			       "Print nydusfsd's metrics in the Prometheus text format.\n");

	if (ret >= 0)
		return ret;
	ans = simple_call(&c, "metrics", json_object());
	if (!ans)
		return NYDUSFS_EXIT_FAILURE;
	fputs(json_string_value(json_object_get(ans, "text")) ?: "", stdout);
	json_decref(ans);
	return NYDUSFS_EXIT_OK;
}

static int parse_size_arg(const char *s, unsigned long long *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return -1;
	switch (*end) {
	case 'K': case 'k': v <<= 10; end++; break;
	case 'M': case 'm': v <<= 20; end++; break;
	case 'G': case 'g': v <<= 30; end++; break;
	case 'T': case 't': v <<= 40; end++; break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static const char cache_usage_text[] =
"usage: nydusfs cache [OPTIONS] [usage|gc]\n"
"\n"
"usage (default): show the disk space of nydusfsd's cache.\n"
"gc: evict the least recently used blobs that no mount uses, down to the\n"
"    configured [cache] limit (or --limit); with no limit at all, every\n"
"    unused blob.\n"
"\n"
"options:\n"
"  -l, --limit SIZE   evict down to SIZE (K, M, G suffixes)\n"
"  -a, --all          evict every blob no mount uses\n"
"      --json         print the daemon's answer as JSON\n"
"      --socket PATH  the daemon's control socket\n";

int cmd_cache(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "limit", required_argument, NULL, 'l' },
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 'S' },
		{ "config", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long limit = 0;
	bool json = false, have_limit = false;
	struct client c = {};
	const char *op = "usage";
	json_t *req, *ans;
	int opt;

	while ((opt = getopt_long(argc, argv, "l:ajh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (parse_size_arg(optarg, &limit)) {
				cli_err("cache", "bad --limit '%s'", optarg);
				return NYDUSFS_EXIT_USAGE;
			}
			have_limit = true;
			break;
		case 'a': limit = 0; have_limit = true; break;
		case 'j': json = true; break;
		case 'S': c.socket = optarg; break;
		case 'C': c.config = optarg; break;
		case 'h': fputs(cache_usage_text, stdout); return NYDUSFS_EXIT_OK;
		default: fputs(cache_usage_text, stderr); return NYDUSFS_EXIT_USAGE;
		}
	}
	if (argc - optind > 1 || (optind < argc && strcmp(argv[optind], "usage") &&
				  strcmp(argv[optind], "gc"))) {
		fputs(cache_usage_text, stderr);
		return NYDUSFS_EXIT_USAGE;
	}
	if (optind < argc)
		op = argv[optind];
	req = json_pack("{s:s}", "op", op);
	if (!strcmp(op, "gc") && have_limit)
		json_object_set_new(req, "limit", json_integer(limit));
	ans = simple_call(&c, "cache", req);
	if (!ans)
		return NYDUSFS_EXIT_FAILURE;
	if (json) {
		print_json(ans);
	} else {
		printf("cache %s: %.1f MiB in %llu blobs (%llu in use)",
		       json_string_value(json_object_get(ans, "dir")),
		       jint(ans, "bytes") / 1048576.0, jint(ans, "blobs"),
		       jint(ans, "in_use"));
		if (jint(ans, "limit"))
			printf(", limit %.1f MiB", jint(ans, "limit") / 1048576.0);
		printf("\n");
		if (!strcmp(op, "gc"))
			printf("evicted %llu blobs, %.1f MiB\n",
			       jint(ans, "evicted"),
			       jint(ans, "evicted_bytes") / 1048576.0);
	}
	json_decref(ans);
	return NYDUSFS_EXIT_OK;
}
